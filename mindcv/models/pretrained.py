"""Pretrained configuration: where a set of weights comes from and what it needs to be used right."""
import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, Optional, Tuple

from ..data.constants import DEFAULT_CROP_PCT, IMAGENET_MEAN, IMAGENET_STD
from ..data.transforms_factory import Preprocessing
from ..utils.errors import ConfigError

__all__ = ["PretrainedCfg"]


@dataclass(frozen=True)
class PretrainedCfg(Mapping):
    """One pretrained tag of a model. It reads as a dict too (``cfg["url"]``, ``cfg.get("num_classes")``,
    ``dict(cfg)``), as MindCV's ``default_cfgs`` entries are dicts.

    ``mean``/``std`` are in 0-255 pixel units (MindSpore's ``Normalize`` convention).
    ``model_args`` are the constructor options these weights need (for example ``bn_eps``).
    ``file_hash`` is what the publisher gives for the file: an md5 (32 digits, Keras), a sha256, or a sha256
    prefix (timm's file names); it is checked after download and on every use of the cached file.
    ``converter`` is the :mod:`mindcv.convert` function that reads weights published in another framework's
    format (Keras, timm); such files are converted on load, ``.ckpt`` files are read as they are.
    ``architecture``, ``label_names`` and ``temperature`` come with weights exported for the Hub (:mod:`.hub`):
    the model they fit, their class names and their calibration temperature.
    """

    url: str = ""
    file: str = ""
    filename: str = ""
    file_hash: str = ""
    num_classes: int = 1000
    input_size: Tuple[int, int, int] = (3, 299, 299)
    crop_pct: float = DEFAULT_CROP_PCT
    interpolation: str = "bilinear"
    mean: Tuple[float, float, float] = IMAGENET_MEAN
    std: Tuple[float, float, float] = IMAGENET_STD
    first_conv: str = "conv1"
    classifier: str = "classifier"
    model_args: Dict[str, Any] = field(default_factory=dict)
    converter: Optional[Callable[[str], Dict[str, Any]]] = None
    source: str = ""
    top1: Optional[float] = None
    top5: Optional[float] = None
    architecture: str = ""
    label_names: Tuple[str, ...] = ()
    temperature: float = 1.0

    @classmethod
    def from_dict(cls, cfg: Mapping) -> "PretrainedCfg":
        """A config from MindCV's dict (keys it does not know are ignored)."""
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in cfg.items() if key in known})

    def __getitem__(self, key: str) -> Any:
        if key not in self._keys():
            raise KeyError(key)
        return getattr(self, key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys())

    def __len__(self) -> int:
        return len(self._keys())

    def _keys(self) -> Tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(self))

    @property
    def preprocessing(self) -> Preprocessing:
        """The evaluation preprocessing these weights expect."""
        return Preprocessing(self.input_size[-1], self.crop_pct, self.interpolation, tuple(self.mean), tuple(self.std))

    def has_source(self) -> bool:
        """True when these weights can be fetched or read from somewhere."""
        return bool(self.url or self.file)

    def cache_filename(self) -> str:
        """File name used in the download cache."""
        if self.filename:
            return self.filename
        return self.url.rstrip("/").rsplit("/", 1)[-1]

    def overlay(self, changes: Optional[Dict[str, Any]]) -> "PretrainedCfg":
        """A copy with ``changes`` applied (timm's ``pretrained_cfg_overlay``); unknown keys raise."""
        if not changes:
            return self
        valid = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - valid)
        if unknown:
            raise ConfigError(f"pretrained_cfg_overlay has unknown keys {unknown}; valid keys: {sorted(valid)}")
        return dataclasses.replace(self, **changes)
