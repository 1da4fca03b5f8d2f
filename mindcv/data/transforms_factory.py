"""``create_transforms``: the training and evaluation image transforms, as MindSpore vision operations.

Images arrive decoded (RGB uint8 HWC, see ``mindcv.data.sources``) and leave as normalised float32 CHW.
"""
from typing import Callable, List, Optional, Sequence, Tuple, Union

from mindspore.dataset import vision

from ..models.pretrained import IMAGENET_MEAN, IMAGENET_STD
from .auto_augment import auto_augment_transform

__all__ = ["create_transforms", "INTERPOLATIONS", "interpolation_mode"]

INTERPOLATIONS = {
    "nearest": vision.Inter.NEAREST,
    "bilinear": vision.Inter.BILINEAR,
    "bicubic": vision.Inter.BICUBIC,
    "area": vision.Inter.AREA,
}


def interpolation_mode(name: str) -> vision.Inter:
    """MindSpore interpolation for a name; unknown names raise listing the valid ones."""
    try:
        return INTERPOLATIONS[name.lower()]
    except KeyError:
        raise ValueError(f"Unknown interpolation '{name}'; valid: {', '.join(INTERPOLATIONS)}.") from None


def _color_jitter(value: Union[float, Sequence[float]]) -> Optional[Callable]:
    values = [float(value)] * 3 if isinstance(value, (int, float)) else [float(v) for v in value]
    if len(values) not in (3, 4):
        raise ValueError(f"color_jitter is a float or [brightness, contrast, saturation(, hue)], got {value}.")
    if not any(values):
        return None
    brightness, contrast, saturation = ((max(0.0, 1 - v), 1 + v) for v in values[:3])
    hue = (-values[3], values[3]) if len(values) == 4 else (0.0, 0.0)
    return vision.RandomColorAdjust(brightness=brightness, contrast=contrast, saturation=saturation, hue=hue)


def create_transforms(dataset_name: str = "imagenet", is_training: bool = False, image_resize: int = 224,
                      scale: Tuple[float, float] = (0.08, 1.0), ratio: Tuple[float, float] = (0.75, 1.333),
                      hflip: float = 0.5, vflip: float = 0.0, color_jitter: Union[None, float, Sequence[float]] = None,
                      interpolation: str = "bilinear", auto_augment: Optional[str] = None,
                      mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD,
                      re_prob: float = 0.0, re_scale: Tuple[float, float] = (0.02, 0.33),
                      re_ratio: Tuple[float, float] = (0.3, 3.3), re_value: Union[str, float] = 0.0,
                      crop_pct: float = 0.875) -> List[Callable]:
    """The list of image transforms for training or evaluation.

    Training: RandomResizedCrop(scale, ratio, interpolation), flips, color jitter, auto-augment
    (``autoaug``, ``randaug-m{M}-n{N}-mstd{S}``, ``trivialaugwide``), normalize, HWC->CHW, random erasing
    (probability ``re_prob``, area ``re_scale``, aspect ``re_ratio``, value ``"random"`` (standard normal
    noise) or an integer 0-255 written into the normalised image, 0 being the mean).
    Evaluation: resize the shorter side to ``int(image_resize / crop_pct)``, center crop, normalize, HWC->CHW.
    ``mean``/``std`` are in 0-255 pixel units. ``dataset_name`` is kept for MindCV compatibility: every
    supported data set uses these transforms.
    """
    del dataset_name
    inter = interpolation_mode(interpolation)
    if not 0 < crop_pct <= 1:
        raise ValueError(f"crop_pct must be in (0, 1], got {crop_pct}.")
    normalize = [vision.Normalize(mean=list(mean), std=list(std)), vision.HWC2CHW()]
    if not is_training:
        return [vision.Resize(int(image_resize / crop_pct), interpolation=inter), vision.CenterCrop(image_resize),
                *normalize]
    ops: List[Callable] = [vision.RandomResizedCrop(image_resize, scale=tuple(scale), ratio=tuple(ratio),
                                                    interpolation=inter)]
    if hflip > 0:
        ops.append(vision.RandomHorizontalFlip(prob=hflip))
    if vflip > 0:
        ops.append(vision.RandomVerticalFlip(prob=vflip))
    if color_jitter:
        jitter = _color_jitter(color_jitter)
        if jitter is not None:
            ops.append(jitter)
    if auto_augment:
        ops.append(auto_augment_transform(auto_augment, inter, mean))
    ops += normalize
    if re_prob > 0:
        if re_value != "random" and (isinstance(re_value, str) or float(re_value) != int(re_value)):
            raise ValueError("re_value must be 'random' or an integer 0-255 (written into the normalised image; "
                             f"0 is the mean), got {re_value!r}.")
        ops.append(vision.RandomErasing(prob=re_prob, scale=tuple(re_scale), ratio=tuple(re_ratio),
                                        value=re_value if re_value == "random" else int(re_value)))
    return ops
