"""Random erasing (Zhong et al., 2017) with MindSpore's ``RandomErasing`` semantics, reproducible per sample."""
import math
from typing import Sequence, Union

import numpy as np

from ..utils.errors import ConfigError
from .keyed import KeyedTransform

__all__ = ["RandomErasing"]

EraseValue = Union[float, str, Sequence[float]]


class RandomErasing(KeyedTransform):
    """Erase one random rectangle with probability ``prob`` (MindSpore's ``vision.RandomErasing`` algorithm).

    ``area`` is drawn from ``scale`` (fraction of the image) and the aspect from ``ratio``, at most
    ``max_attempts`` times until the box fits. ``value`` is written in normalised units: a number, an RGB
    triple, or ``"random"`` (standard normal noise). On normalised CHW float images (MindCV's pipeline) that is
    exact. On HWC uint8 images (``pixel_mean``/``pixel_std`` given: the pipeline that normalises on the
    device) the value becomes ``mean + value * std`` rounded to a pixel: value 0 erases to the mean colour
    (within half a grey level), and noise beyond the pixel range is clipped to it.
    """

    def __init__(self, prob: float = 0.5, scale=(0.02, 0.33), ratio=(0.3, 3.3), value: EraseValue = 0,
                 max_attempts: int = 10, pixel_mean: Sequence[float] = (), pixel_std: Sequence[float] = ()):
        super().__init__()
        if not (value == "random" or isinstance(value, (int, float))
                or (isinstance(value, (list, tuple)) and len(value) == 3)):
            raise ConfigError(f"re_value must be a number, three numbers (R, G, B) or 'random', got {value!r}.")
        self.prob = prob
        self.scale = tuple(scale)
        self.ratio = tuple(ratio)
        self.value = value
        self.max_attempts = max_attempts
        self.pixel_mean = np.asarray(pixel_mean, np.float32)
        self.pixel_std = np.asarray(pixel_std, np.float32)

    def _box(self, height: int, width: int, rng: np.random.Generator):
        for _ in range(self.max_attempts):
            area = rng.uniform(self.scale[0], self.scale[1]) * height * width
            aspect = rng.uniform(self.ratio[0], self.ratio[1])
            box_w = int(round(math.sqrt(area * aspect)))
            box_h = int(round(box_w / aspect))
            if box_h < height and box_w < width:
                return int(rng.integers(0, height - box_h + 1)), int(rng.integers(0, width - box_w + 1)), box_h, box_w
        return None

    def apply(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if rng.random() >= self.prob:
            return image
        hwc = self.pixel_mean.size > 0
        height, width = image.shape[:2] if hwc else image.shape[1:]
        box = self._box(height, width, rng)
        if box is None:
            return image
        top, left, box_h, box_w = box
        channels = image.shape[2] if hwc else image.shape[0]
        if self.value == "random":
            value = rng.standard_normal((box_h, box_w, channels) if hwc else (channels, box_h, box_w))
        else:
            value = np.broadcast_to(np.asarray(self.value, np.float64), (channels,)).copy()
            value = value if hwc else value[:, None, None]
        image = image.copy()
        if hwc:
            pixels = self.pixel_mean + np.asarray(value, np.float32) * self.pixel_std
            image[top:top + box_h, left:left + box_w] = np.clip(np.round(pixels), 0, 255).astype(image.dtype)
        else:
            image[:, top:top + box_h, left:left + box_w] = value
        return image
