"""``create_transforms``: the training and evaluation image transforms, as in MindCV.

Image-folder data sets yield encoded files: training starts with MindSpore's ``RandomCropDecodeResize`` (the
decoder only decodes the part of the image the random crop needs), evaluation with ``Decode``. Fashion-MNIST
yields decoded arrays, and gets the same pipelines with ``RandomResizedCrop`` / no decoding.

With ``normalize=False`` (used by ``train.py`` and ``validate.py``) the pipeline stops at HWC uint8 images;
the engine normalises and transposes them on the device (:class:`mindcv.engine.networks.NormalizeInput`),
which halves the CPU work per image of the data pipeline.
"""
from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence, Tuple, Union

from mindspore.dataset import vision

from ..utils.errors import ConfigError
from .auto_augment import policy_transform
from .constants import DEFAULT_CROP_PCT, IMAGENET_MEAN, IMAGENET_STD
from .random_erasing import RandomErasing

__all__ = ["create_transforms", "Preprocessing", "interpolation_mode", "transforms_cifar", "transforms_mnist",
           "ENCODED_DATASETS", "DECODED_DATASETS", "PRESET_DATASETS"]

ENCODED_DATASETS = ("imagenet", "", "imagefolder")
DECODED_DATASETS = ("fashion_mnist",)
PRESET_DATASETS = ("cifar10", "cifar100", "mnist")  # MindCV's fixed pipelines for MindSpore's readers
CIFAR_MEAN, CIFAR_STD = (0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081


def transforms_cifar(resize: int = 224, is_training: bool = True) -> List[Callable]:
    """MindCV's CIFAR pipeline: in training a 32x32 crop of the image padded by 4 and a flip; then resize, scale
    to [0, 1], normalise with CIFAR-10's statistics, HWC->CHW."""
    crop_flip = [vision.RandomCrop((32, 32), (4, 4, 4, 4)), vision.RandomHorizontalFlip(prob=0.5)]
    return (crop_flip if is_training else []) + [vision.Resize(resize), vision.Rescale(1.0 / 255.0, 0.0),
                                                 vision.Normalize(list(CIFAR_MEAN), list(CIFAR_STD)),
                                                 vision.HWC2CHW()]


def transforms_mnist(resize: int = 224) -> List[Callable]:
    """MindCV's MNIST pipeline: bilinear resize, scale to [0, 1], normalise with MNIST's statistics, HWC->CHW."""
    return [vision.Resize(size=resize, interpolation=vision.Inter.LINEAR), vision.Rescale(1.0 / 255.0, 0.0),
            vision.Rescale(1 / MNIST_STD, -MNIST_MEAN / MNIST_STD), vision.HWC2CHW()]


def interpolation_mode(name: str) -> vision.Inter:
    """MindSpore interpolation for a name (``bilinear``, ``bicubic``, ...); unknown names raise listing the
    valid ones (MindCV silently falls back to bilinear)."""
    try:
        return vision.Inter[name.upper()]
    except KeyError:
        valid = ", ".join(m.lower() for m in vision.Inter.__members__)
        raise ConfigError(f"Unknown interpolation '{name}'; valid: {valid}.") from None


def _color_jitter(value: Union[float, Sequence[float]]) -> Optional[Callable]:
    values = [float(value)] * 3 if isinstance(value, (int, float)) else [float(v) for v in value]
    if len(values) not in (3, 4):
        raise ConfigError(f"color_jitter is a number or [brightness, contrast, saturation(, hue)], got {value}.")
    if not any(values):
        return None  # RandomColorAdjust(0, 0, 0) changes nothing
    return vision.RandomColorAdjust(*values)


def _final(normalize: bool, mean: Sequence[float], std: Sequence[float]) -> List[Callable]:
    return [vision.Normalize(mean=list(mean), std=list(std)), vision.HWC2CHW()] if normalize else []


def _train(decoded: bool, image_resize, scale, ratio, hflip, vflip, color_jitter, auto_augment, interpolation,
           mean, std, re_prob, re_scale, re_ratio, re_value, re_max_attempts, normalize):
    inter = interpolation_mode(interpolation)
    crop = vision.RandomResizedCrop if decoded else vision.RandomCropDecodeResize
    primary: List[Callable] = [crop(image_resize, scale=tuple(scale), ratio=tuple(ratio), interpolation=inter)]
    if hflip > 0:
        primary.append(vision.RandomHorizontalFlip(prob=hflip))
    if vflip > 0:
        primary.append(vision.RandomVerticalFlip(prob=vflip))
    secondary: List[Callable] = []
    if auto_augment:
        secondary.append(policy_transform(auto_augment, inter, mean))
    elif color_jitter is not None:
        jitter = _color_jitter(color_jitter)
        secondary += [jitter] if jitter is not None else []
    final = _final(normalize, mean, std)
    if re_prob > 0:
        pixels = {} if normalize else dict(pixel_mean=mean, pixel_std=std)
        final.append(RandomErasing(prob=re_prob, scale=re_scale, ratio=re_ratio, value=re_value,
                                   max_attempts=re_max_attempts, **pixels))
    return primary, secondary, final


def _eval(decoded: bool, image_resize, crop_pct, interpolation, mean, std, normalize) -> List[Callable]:
    if crop_pct <= 0:
        raise ConfigError(f"crop_pct must be positive, got {crop_pct}.")
    if isinstance(image_resize, (list, tuple)):
        scale_size = (int(image_resize[0] / crop_pct) if image_resize[0] == image_resize[1]
                      else tuple(int(x / crop_pct) for x in image_resize))
    else:
        scale_size = int(image_resize / crop_pct)
    ops: List[Callable] = [] if decoded else [vision.Decode()]
    ops += [vision.Resize(scale_size, interpolation=interpolation_mode(interpolation)),
            vision.CenterCrop(image_resize)]
    return ops + _final(normalize, mean, std)


def create_transforms(dataset_name: str = "", image_resize: int = 224, is_training: bool = False,
                      auto_augment: Optional[str] = None, separate: bool = False, *,
                      scale: Tuple[float, float] = (0.08, 1.0), ratio: Tuple[float, float] = (0.75, 1.333),
                      hflip: float = 0.5, vflip: float = 0.0, color_jitter: Union[None, float, Sequence[float]] = None,
                      interpolation: str = "bilinear", mean: Sequence[float] = IMAGENET_MEAN,
                      std: Sequence[float] = IMAGENET_STD, re_prob: float = 0.0,
                      re_scale: Tuple[float, float] = (0.02, 0.33), re_ratio: Tuple[float, float] = (0.3, 3.3),
                      re_value: Union[str, float, Sequence[float]] = 0, re_max_attempts: int = 10,
                      crop_pct: float = DEFAULT_CROP_PCT, normalize: bool = True):
    """The list of image transforms for training or evaluation (MindCV's signature, order and defaults).

    Training: random crop (decoding it, for image folders), flips, then ``auto_augment`` (see
    :mod:`mindcv.data.auto_augment`) or, without it, color jitter; normalize and HWC->CHW; random erasing
    (probability ``re_prob``, value in normalised units: a number, RGB triple or ``"random"``). With
    ``separate`` (augmentation splits) the three parts are returned as a tuple (crop/flip, auto-augment, rest).
    Evaluation: decode, resize the shorter side to ``floor(image_resize / crop_pct)``, center crop, normalize.
    ``mean``/``std`` are in 0-255 pixel units. ``normalize`` (added here): False stops at HWC images for
    normalisation on the device (random erasing then writes the equivalent pixel values).
    ``cifar10``, ``cifar100`` and ``mnist`` get MindCV's fixed pipelines (:func:`transforms_cifar`,
    :func:`transforms_mnist`), which take only ``image_resize`` and ``is_training``, as in MindCV.
    """
    name = dataset_name.lower()
    if name in PRESET_DATASETS:
        return transforms_mnist(image_resize) if name == "mnist" else transforms_cifar(image_resize, is_training)
    if name not in ENCODED_DATASETS + DECODED_DATASETS:
        raise ConfigError(f"No transforms for data set '{dataset_name}'; supported: imagenet, imagefolder (or ''), "
                          "fashion_mnist, cifar10, cifar100, mnist.")
    decoded = name in DECODED_DATASETS
    if not is_training:
        return _eval(decoded, image_resize, crop_pct, interpolation, mean, std, normalize)
    primary, secondary, final = _train(decoded, image_resize, scale, ratio, hflip, vflip, color_jitter, auto_augment,
                                       interpolation, mean, std, re_prob, re_scale, re_ratio, re_value,
                                       re_max_attempts, normalize)
    if separate:
        return primary, secondary, final
    return primary + secondary + final


@dataclass(frozen=True)
class Preprocessing:
    """How a model's evaluation inputs are made: the shorter side resized to ``image_size / crop_pct`` with
    ``interpolation``, centre-cropped to ``image_size``, normalised with ``mean`` / ``std`` (0-255 pixel units).

    The one record of it: a pretrained tag's (``PretrainedCfg.preprocessing``), a training run's
    (:func:`mindcv.config.evaluation_preprocessing` of its saved options), a predictor's and ``preprocess_input``'s.
    The defaults are Xception's ImageNet preprocessing."""
    image_size: int = 299
    crop_pct: float = DEFAULT_CROP_PCT
    interpolation: str = "bilinear"
    mean: Tuple[float, ...] = IMAGENET_MEAN
    std: Tuple[float, ...] = IMAGENET_STD

    def transforms(self, normalize: bool = True) -> List[Callable]:
        """Its transforms of encoded image files (the first one decodes); ``normalize=False`` stops at HWC uint8
        images, for normalisation on the device."""
        return create_transforms("imagenet", self.image_size, False, crop_pct=self.crop_pct,
                                 interpolation=self.interpolation, mean=self.mean, std=self.std, normalize=normalize)
