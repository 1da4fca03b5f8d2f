"""Auto-augmentation policies chosen by a string, built on MindSpore's vision operations."""
import re
from typing import Callable, Sequence

import numpy as np
from mindspore.dataset import vision

__all__ = ["auto_augment_transform", "AUTO_AUGMENT_FORMS", "RandAugmentMagnitudeNoise"]

AUTO_AUGMENT_FORMS = ("autoaug", "randaug-m{M}-n{N}-mstd{S} (each part optional; M in 0..10)", "trivialaugwide")
_MAX_MAGNITUDE = 10
_RANDAUG = re.compile(r"^randaug((?:-(?:m\d+(?:\.\d+)?|n\d+|mstd\d+(?:\.\d+)?))*)$")


def _unknown(policy: str) -> ValueError:
    return ValueError(f"Unknown auto_augment '{policy}'. Valid forms: {'; '.join(AUTO_AUGMENT_FORMS)} "
                      "(for example 'randaug-m9-n2-mstd0.5'), or leave it empty for none.")


class RandAugmentMagnitudeNoise:
    """RandAugment whose magnitude is drawn per image from N(magnitude, std), clipped to [0, 10].

    Holds one MindSpore ``RandAugment`` per integer magnitude and applies the one drawn.
    """

    def __init__(self, num_ops: int, magnitude: float, std: float, interpolation: vision.Inter,
                 fill_value: Sequence[int]):
        self.magnitude = magnitude
        self.std = std
        self.ops = [vision.RandAugment(num_ops=num_ops, magnitude=m, num_magnitude_bins=_MAX_MAGNITUDE + 1,
                                       interpolation=interpolation, fill_value=tuple(fill_value))
                    for m in range(_MAX_MAGNITUDE + 1)]

    def __call__(self, image: np.ndarray) -> np.ndarray:
        level = np.clip(np.random.normal(self.magnitude, self.std), 0, _MAX_MAGNITUDE)
        return self.ops[int(round(level))](image)


def auto_augment_transform(policy: str, interpolation: vision.Inter, fill_value: Sequence[int]) -> Callable:
    """The transform for ``policy``: ``autoaug`` (ImageNet AutoAugment), ``randaug-m{M}-n{N}-mstd{S}``
    (RandAugment; defaults M=9, N=2, S=0) or ``trivialaugwide``. Unknown strings raise listing the forms."""
    name = policy.strip().lower()
    fill = tuple(int(round(v)) for v in fill_value)
    if name in ("autoaug", "autoaugment"):
        return vision.AutoAugment(policy=vision.AutoAugmentPolicy.IMAGENET, interpolation=interpolation,
                                  fill_value=fill)
    if name in ("trivialaugwide", "trivialaugmentwide"):
        return vision.TrivialAugmentWide(interpolation=interpolation, fill_value=fill)
    match = _RANDAUG.match(name)
    if not match:
        raise _unknown(policy)
    magnitude, num_ops, std = 9.0, 2, 0.0
    for part in filter(None, match.group(1).split("-")):
        if part.startswith("mstd"):
            std = float(part[4:])
        elif part.startswith("m"):
            magnitude = float(part[1:])
        else:
            num_ops = int(part[1:])
    if magnitude > _MAX_MAGNITUDE:
        raise ValueError(f"auto_augment '{policy}': magnitude M must be in 0..{_MAX_MAGNITUDE}, got {magnitude:g}.")
    if std > 0:
        return RandAugmentMagnitudeNoise(num_ops, magnitude, std, interpolation, fill)
    return vision.RandAugment(num_ops=num_ops, magnitude=int(round(magnitude)), num_magnitude_bins=_MAX_MAGNITUDE + 1,
                              interpolation=interpolation, fill_value=fill)
