"""Automatic augmentation policies chosen by MindCV's ``auto_augment`` strings, on MindSpore's vision operations.

The policies, operations and magnitude scales are those of MindCV (which follows timm): ``autoaug`` (the
ImageNet AutoAugment policy with the original posterize), ``autoaugr`` (posterize increasing with magnitude),
``3a`` (solarize / desaturate / blur), ``randaug`` (RandAugment), ``trivialaugwide`` (TrivialAugment Wide) and
``augmix`` (AugMix). Options follow the policy name, separated by dashes:

- ``m{M}`` magnitude (randaug: 0-10, default 10; trivialaugwide: the maximum, default 31; augmix: default 3)
- ``n{N}`` operations per image (randaug, default 2), ``w{W}`` weighted operation choice (randaug, ``w0``)
- ``mstd{S}`` standard deviation of the per-operation magnitude noise (default 0.5; above 100: uniform)
- ``mmax{X}`` upper clip of the magnitude (default 10), ``inc{0|1}`` severity increasing with magnitude
- augmix: ``w{W}`` chain width (3), ``d{D}`` chain depth (-1: 1-3 at random), ``a{A}`` Dirichlet/Beta alpha (1)

Every random draw comes from the generator the loader passes (see :mod:`mindcv.data.keyed`), so the
augmentation of a sample depends only on the seed, the epoch and the sample.
"""
import re
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
from mindspore.dataset import vision

from ..utils.errors import ConfigError
from .keyed import KeyedTransform

__all__ = ["policy_transform", "auto_augment_transform", "rand_augment_transform", "trivial_augment_wide_transform",
           "augment_and_mix_transform", "AutoAugment", "RandAugment", "TrivialAugmentWide", "AugMix", "AugmentOp",
           "AUTO_AUGMENT_POLICIES"]

AUTO_AUGMENT_POLICIES = ("autoaug", "autoaugr", "3a", "randaug", "trivialaugwide", "augmix")
_LEVEL_MAX = 10.0
_OPTION = re.compile(r"^([a-z]+)(\d.*)$")


class _Hparams:
    """What the level functions need: the magnitude scale (10, or 31 for TrivialAugment) and its flavour."""

    def __init__(self, level_max: float = _LEVEL_MAX, trivial: bool = False, translate_pct: float = 0.45):
        self.level_max = level_max
        self.trivial = trivial
        self.translate_pct = translate_pct


def _signed(value: float, rng: np.random.Generator) -> float:
    return -value if rng.random() > 0.5 else value


# Level -> operation arguments ------------------------------------------------------------------------------
def _rotate_arg(level, hp, rng):
    return (_signed(level / hp.level_max * (135.0 if hp.trivial else 30.0), rng),)


def _enhance_arg(level, hp, rng):
    return ((level / hp.level_max) * 1.99 + 0.01,) if hp.trivial else ((level / _LEVEL_MAX) * 1.8 + 0.1,)


def _enhance_increasing_arg(level, hp, rng):
    return (max(0.1, 1.0 + _signed(level / _LEVEL_MAX * 0.9, rng)),)


def _shear_arg(level, hp, rng):
    return (_signed(level / hp.level_max * (0.99 if hp.trivial else 0.3), rng),)


def _translate_arg(level, hp, rng):
    if hp.trivial:
        return (level / hp.level_max * 0.15,)  # TrivialAugment translates in one direction, as MindCV does
    return (_signed(level / _LEVEL_MAX * hp.translate_pct, rng),)


def _posterize_arg(level, hp, rng):
    return _posterize_original_arg(level, hp, rng) if hp.trivial else (int(level / _LEVEL_MAX * 4),)


def _posterize_increasing_arg(level, hp, rng):
    return (4 - _posterize_arg(level, hp, rng)[0],)


def _posterize_original_arg(level, hp, rng):
    return (int(level / hp.level_max * 6) + 2,) if hp.trivial else (int(level / _LEVEL_MAX * 4) + 4,)


def _solarize_arg(level, hp, rng):
    return (int(level / hp.level_max * 255),)


def _solarize_increasing_arg(level, hp, rng):
    return (255 - _solarize_arg(level, hp, rng)[0],)


def _desaturate_arg(level, hp, rng):
    return (min(1.0, max(0.5, 0.5 + 0.5 * level / _LEVEL_MAX)),)


def _blur_arg(level, hp, rng):
    return (min(1.0, max(0.0, level / _LEVEL_MAX)),)


# Operations on HWC uint8 images -----------------------------------------------------------------------------
def _affine(image, fill, interpolation, **kwargs):
    return vision.RandomAffine(degrees=0, resample=interpolation, fill_value=fill, **kwargs)(image)


_OPS: Dict[str, Tuple[Callable, Optional[Callable]]] = {
    "AutoContrast": (lambda img, rng, fill, inter: vision.AutoContrast()(img), None),
    "Equalize": (lambda img, rng, fill, inter: vision.Equalize()(img), None),
    "Invert": (lambda img, rng, fill, inter: vision.Invert()(img), None),
    "Rotate": (lambda img, rng, fill, inter, deg: vision.RandomRotation(degrees=(deg, deg), resample=inter,
                                                                          fill_value=fill)(img), _rotate_arg),
    "Posterize": (None, _posterize_arg),
    "PosterizeIncreasing": (None, _posterize_increasing_arg),
    "PosterizeOriginal": (None, _posterize_original_arg),
    "Solarize": (lambda img, rng, fill, inter, t: vision.RandomSolarize(threshold=(t, t))(img), _solarize_arg),
    "SolarizeIncreasing": (lambda img, rng, fill, inter, t: vision.RandomSolarize(threshold=(t, t))(img),
                           _solarize_increasing_arg),
    "Color": (lambda img, rng, fill, inter, f: vision.RandomColor(degrees=(f, f))(img), _enhance_arg),
    "ColorIncreasing": (lambda img, rng, fill, inter, f: vision.RandomColor(degrees=(f, f))(img),
                        _enhance_increasing_arg),
    "Contrast": (lambda img, rng, fill, inter, f: vision.RandomColorAdjust(contrast=(f, f))(img), _enhance_arg),
    "ContrastIncreasing": (lambda img, rng, fill, inter, f: vision.RandomColorAdjust(contrast=(f, f))(img),
                           _enhance_increasing_arg),
    "Brightness": (lambda img, rng, fill, inter, f: vision.RandomColorAdjust(brightness=(f, f))(img),
                   _enhance_arg),
    "BrightnessIncreasing": (lambda img, rng, fill, inter, f: vision.RandomColorAdjust(brightness=(f, f))(img),
                             _enhance_increasing_arg),
    "Sharpness": (lambda img, rng, fill, inter, f: vision.RandomSharpness(degrees=(f, f))(img), _enhance_arg),
    "SharpnessIncreasing": (lambda img, rng, fill, inter, f: vision.RandomSharpness(degrees=(f, f))(img),
                            _enhance_increasing_arg),
    "ShearX": (lambda img, rng, fill, inter, s: _affine(img, fill, inter, shear=(-s, -s)), _shear_arg),
    "ShearY": (lambda img, rng, fill, inter, s: _affine(img, fill, inter, shear=(0, 0, s, s)), _shear_arg),
    "TranslateX": (lambda img, rng, fill, inter, t: _affine(img, fill, inter, translate=(t, t)), _translate_arg),
    "TranslateY": (lambda img, rng, fill, inter, t: _affine(img, fill, inter, translate=(0, 0, t, t)),
                   _translate_arg),
    "Desaturate": (lambda img, rng, fill, inter, f: vision.RandomColor(degrees=(1.0 - f, 1.0 - f))(img),
                   _desaturate_arg),
    "GaussianBlurRand": (lambda img, rng, fill, inter, f: vision.GaussianBlur(
        kernel_size=3, sigma=float(rng.uniform(0.1, 2.0 * f)))(img), _blur_arg),
}


def _posterize(img, rng, fill, inter, bits_to_keep):
    bits = max(8 - bits_to_keep, 1)
    return vision.RandomPosterize(bits=(bits, bits))(img)


class AugmentOp:
    """One operation applied with probability ``prob`` at ``magnitude`` (plus Gaussian noise ``magnitude_std``;
    an infinite std draws the magnitude uniformly in [0, magnitude]), clipped to [0, ``magnitude_max``]."""

    def __init__(self, name: str, prob: float, magnitude: float, hparams: _Hparams, magnitude_std: float,
                 magnitude_max: float, fill: Tuple[int, int, int], interpolation: vision.Inter):
        operation, self.level_to_args = _OPS[name]
        self.operation = operation or _posterize
        self.name = name
        self.prob = prob
        self.magnitude = magnitude
        self.hparams = hparams
        self.magnitude_std = magnitude_std
        self.magnitude_max = magnitude_max
        self.fill = fill
        self.interpolation = interpolation

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        del state["operation"]  # a lambda of the table: found again by name when unpickled
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.operation = _OPS[self.name][0] or _posterize

    def __call__(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if self.prob < 1.0 and rng.random() > self.prob:
            return image
        magnitude = self.magnitude
        if self.magnitude_std == float("inf"):
            magnitude = rng.uniform(0, magnitude)
        elif self.magnitude_std > 0:
            magnitude = rng.normal(magnitude, self.magnitude_std)
        magnitude = max(0.0, min(magnitude, self.magnitude_max))
        args = self.level_to_args(magnitude, self.hparams, rng) if self.level_to_args else ()
        return self.operation(image, rng, self.fill, self.interpolation, *args)


_AUTOAUG_POLICY = [
    [("Posterize*", 0.4, 8), ("Rotate", 0.6, 9)], [("Solarize", 0.6, 5), ("AutoContrast", 0.6, 5)],
    [("Equalize", 0.8, 8), ("Equalize", 0.6, 3)], [("Posterize*", 0.6, 7), ("Posterize*", 0.6, 6)],
    [("Equalize", 0.4, 7), ("Solarize", 0.2, 4)], [("Equalize", 0.4, 4), ("Rotate", 0.8, 8)],
    [("Solarize", 0.6, 3), ("Equalize", 0.6, 7)], [("Posterize*", 0.8, 5), ("Equalize", 1.0, 2)],
    [("Rotate", 0.2, 3), ("Solarize", 0.6, 8)], [("Equalize", 0.6, 8), ("Posterize*", 0.4, 6)],
    [("Rotate", 0.8, 8), ("Color", 0.4, 0)], [("Rotate", 0.4, 9), ("Equalize", 0.6, 2)],
    [("Equalize", 0.0, 7), ("Equalize", 0.8, 8)], [("Invert", 0.6, 4), ("Equalize", 1.0, 8)],
    [("Color", 0.6, 4), ("Contrast", 1.0, 8)], [("Rotate", 0.8, 8), ("Color", 1.0, 2)],
    [("Color", 0.8, 8), ("Solarize", 0.8, 7)], [("Sharpness", 0.4, 7), ("Invert", 0.6, 8)],
    [("ShearX", 0.6, 5), ("Equalize", 1.0, 9)], [("Color", 0.4, 0), ("Equalize", 0.6, 3)],
    [("Equalize", 0.4, 7), ("Solarize", 0.2, 4)], [("Solarize", 0.6, 5), ("AutoContrast", 0.6, 5)],
    [("Invert", 0.6, 4), ("Equalize", 1.0, 8)], [("Color", 0.6, 4), ("Contrast", 1.0, 8)],
    [("Equalize", 0.8, 8), ("Equalize", 0.6, 3)],
]
_THREE_AUGMENT_POLICY = [[("Solarize", 1.0, 5)], [("Desaturate", 1.0, 10)], [("GaussianBlurRand", 1.0, 10)]]
_RAND_OPS = ("AutoContrast", "Equalize", "Invert", "Rotate", "Posterize", "Solarize", "Color", "Contrast",
             "Brightness", "Sharpness", "ShearX", "ShearY", "TranslateX", "TranslateY")
_RAND_INCREASING_OPS = ("AutoContrast", "Equalize", "Invert", "Rotate", "PosterizeIncreasing", "SolarizeIncreasing",
                        "ColorIncreasing", "ContrastIncreasing", "BrightnessIncreasing", "SharpnessIncreasing",
                        "ShearX", "ShearY", "TranslateX", "TranslateY")
_RAND_WEIGHTS = {"Rotate": 0.3, "ShearX": 0.2, "ShearY": 0.2, "TranslateX": 0.1, "TranslateY": 0.1, "Color": 0.025,
                 "Sharpness": 0.025, "AutoContrast": 0.025, "Solarize": 0.005, "Contrast": 0.005,
                 "Brightness": 0.005, "Equalize": 0.005, "Posterize": 0.005, "Invert": 0.0}
_AUGMIX_OPS = ("AutoContrast", "ColorIncreasing", "ContrastIncreasing", "BrightnessIncreasing",
               "SharpnessIncreasing", "Equalize", "Rotate", "PosterizeIncreasing", "SolarizeIncreasing", "ShearX",
               "ShearY", "TranslateX", "TranslateY")


class AutoAugment(KeyedTransform):
    """One sub-policy chosen at random, its operations applied in order."""

    def __init__(self, policy: List[List[AugmentOp]]):
        super().__init__()
        self.policy = policy

    def apply(self, image, rng):
        for op in self.policy[int(rng.integers(len(self.policy)))]:
            image = op(image, rng)
        return image


class RandAugment(KeyedTransform):
    """``num_layers`` operations chosen at random (with ``weights``: weighted, without replacement)."""

    def __init__(self, ops: List[AugmentOp], num_layers: int, weights: Optional[np.ndarray] = None):
        super().__init__()
        self.ops = ops
        self.num_layers = num_layers
        self.weights = weights

    def apply(self, image, rng):
        chosen = rng.choice(len(self.ops), self.num_layers, replace=self.weights is None, p=self.weights)
        for index in chosen:
            image = self.ops[int(index)](image, rng)
        return image


class TrivialAugmentWide(KeyedTransform):
    """One operation chosen at random, at a magnitude drawn uniformly."""

    def __init__(self, ops: List[AugmentOp]):
        super().__init__()
        self.ops = ops

    def apply(self, image, rng):
        return self.ops[int(rng.integers(len(self.ops)))](image, rng)


class AugMix(KeyedTransform):
    """AugMix: ``width`` chains of 1-3 (or ``depth``) operations mixed with Dirichlet weights, then blended with
    the original by a Beta-distributed factor. Returns float32 (as MindCV), which the later steps accept."""

    def __init__(self, ops: List[AugmentOp], alpha: float, width: int, depth: int):
        super().__init__()
        self.ops = ops
        self.alpha = alpha
        self.width = width
        self.depth = depth

    def apply(self, image, rng):
        weights = rng.dirichlet([self.alpha] * self.width).astype(np.float32)
        blend = np.float32(rng.beta(self.alpha, self.alpha))
        mixed = np.zeros(image.shape, np.float32)
        for weight in weights:
            chain = image
            for index in rng.choice(len(self.ops), self.depth if self.depth > 0 else int(rng.integers(1, 4))):
                chain = self.ops[int(index)](chain, rng)
            mixed += weight * chain.astype(np.float32)
        mixed = np.clip(mixed, 0, 255).astype(np.uint8)
        return (image * (1 - blend) + mixed * blend).astype(np.float32)


def _options(policy: str, allowed: Sequence[str]) -> Tuple[str, Dict[str, str]]:
    name, *parts = policy.split("-")
    options = {}
    for part in parts:
        match = _OPTION.match(part)
        if not match or match.group(1) not in allowed:
            raise ConfigError(f"auto_augment '{policy}': unknown option '{part}' for {name}; it takes "
                              f"{', '.join(o + '<number>' for o in allowed) or 'no options'} (see --help).")
        options[match.group(1)] = match.group(2)
    return name, options


def _std(value: str) -> float:
    std = float(value)
    return float("inf") if std > 100 else std


def policy_transform(policy: str, interpolation: vision.Inter, mean: Sequence[float]) -> KeyedTransform:
    """The transform for a MindCV ``auto_augment`` string (see the module docstring); unknown strings raise.

    ``mean`` (0-255) fills the area that geometric operations uncover (translations are relative to the image
    size, as in MindCV).
    """
    text = policy.strip().lower()
    fill = tuple(min(255, int(round(v))) for v in mean)
    base = text.split("-", 1)[0]
    if base in ("autoaug", "autoaugr", "3a"):
        _, options = _options(text, ("mstd",))
        std = _std(options.get("mstd", "0.5"))
        hp = _Hparams()
        posterize = "PosterizeIncreasing" if base == "autoaugr" else "PosterizeOriginal"
        table = _THREE_AUGMENT_POLICY if base == "3a" else _AUTOAUG_POLICY
        policy_ops = [[AugmentOp(name.replace("Posterize*", posterize), prob, magnitude, hp, std, _LEVEL_MAX, fill,
                                 interpolation) for name, prob, magnitude in sub] for sub in table]
        return AutoAugment(policy_ops)
    if base == "randaug":
        _, options = _options(text, ("m", "n", "w", "mstd", "mmax", "inc"))
        names = _RAND_INCREASING_OPS if int(options.get("inc", "0")) else _RAND_OPS
        magnitude, std = float(options.get("m", _LEVEL_MAX)), _std(options.get("mstd", "0.5"))
        magnitude_max = float(options.get("mmax", _LEVEL_MAX))
        ops = [AugmentOp(name, 0.5, magnitude, _Hparams(), std, magnitude_max, fill, interpolation) for name in names]
        weights = None
        if "w" in options:
            if int(options["w"]) != 0:
                raise ConfigError(f"auto_augment '{policy}': only the weight set w0 exists.")
            raw = np.array([_RAND_WEIGHTS[name] for name in _RAND_OPS])
            weights = raw / raw.sum()
        return RandAugment(ops, int(options.get("n", 2)), weights)
    if base == "trivialaugwide":
        _, options = _options(text, ("m",))
        magnitude = float(options.get("m", 31))
        hp = _Hparams(level_max=magnitude, trivial=True)
        return TrivialAugmentWide([AugmentOp(name, 1.0, magnitude, hp, float("inf"), magnitude, fill, interpolation)
                                   for name in _RAND_OPS])
    if base == "augmix":
        _, options = _options(text, ("m", "w", "d", "a"))
        magnitude = float(options.get("m", 3))
        hp = _Hparams(translate_pct=0.3)
        ops = [AugmentOp(name, 1.0, magnitude, hp, float("inf"), _LEVEL_MAX, fill, interpolation)
               for name in _AUGMIX_OPS]
        return AugMix(ops, float(options.get("a", 1.0)), int(options.get("w", 3)), int(options.get("d", -1)))
    raise ConfigError(f"Unknown auto_augment '{policy}'. Policies: {', '.join(AUTO_AUGMENT_POLICIES)}, with options "
                      "such as 'randaug-m9-mstd0.5-inc1' or 'autoaug-mstd0.5' (see --help).")


_PIL_FILTERS = {0: vision.Inter.NEAREST, 1: vision.Inter.ANTIALIAS, 2: vision.Inter.BILINEAR, 3: vision.Inter.BICUBIC}


def _from_hparams(configs: str, family: Sequence[str], hparams: Optional[Dict]) -> KeyedTransform:
    """MindCV's builders: ``configs`` an ``auto_augment`` string of ``family``; ``hparams`` may give
    ``img_mean`` (the fill colour, 0-255) and ``interpolation`` (a name, a ``vision.Inter`` or a PIL filter
    number); other keys of MindCV's (``translate_const``, ``magnitude_std``...) are decided by the string here."""
    if configs.strip().lower().split("-", 1)[0] not in family:
        raise ConfigError(f"'{configs}' is not a {' / '.join(family)} policy string.")
    hparams = hparams or {}
    interpolation = hparams.get("interpolation", vision.Inter.BILINEAR)
    if isinstance(interpolation, str):
        interpolation = vision.Inter[interpolation.upper()]
    elif not isinstance(interpolation, vision.Inter):
        interpolation = _PIL_FILTERS[int(interpolation)]
    return policy_transform(configs, interpolation, hparams.get("img_mean", (124, 116, 104)))


def auto_augment_transform(configs: str, hparams: Optional[Dict] = None) -> KeyedTransform:
    """AutoAugment from a string such as ``"autoaug-mstd0.5"`` (also ``autoaugr``, ``3a``); MindCV's signature."""
    return _from_hparams(configs, ("autoaug", "autoaugr", "3a"), hparams)


def rand_augment_transform(configs: str, hparams: Optional[Dict] = None) -> KeyedTransform:
    """RandAugment from a string such as ``"randaug-m9-mstd0.5-inc1"``; MindCV's signature."""
    return _from_hparams(configs, ("randaug",), hparams)


def trivial_augment_wide_transform(configs: str, hparams: Optional[Dict] = None) -> KeyedTransform:
    """TrivialAugment Wide from a string such as ``"trivialaugwide-m20"``; MindCV's signature."""
    return _from_hparams(configs, ("trivialaugwide",), hparams)


def augment_and_mix_transform(configs: str, hparams: Optional[Dict] = None) -> KeyedTransform:
    """AugMix from a string such as ``"augmix-m5-w4-d2"``; MindCV's signature."""
    return _from_hparams(configs, ("augmix",), hparams)
