"""Model registry: constructors register by name, pretrained configs by ``model.tag``."""
import fnmatch
import sys
from typing import Callable, Dict, List, Optional, Sequence, Union

from ..utils.errors import UnknownModelError
from ..utils.suggest import did_you_mean
from .pretrained import PretrainedCfg

__all__ = [
    "register_model",
    "list_models",
    "is_model",
    "model_entrypoint",
    "list_pretrained",
    "get_pretrained_cfg",
    "split_model_name_tag",
    "UnknownModelError",
]

_model_entrypoints: Dict[str, Callable] = {}
_model_pretrained_cfgs: Dict[str, Dict[str, PretrainedCfg]] = {}
_model_default_tag: Dict[str, str] = {}


def register_model(fn: Callable) -> Callable:
    """Register a model constructor under its function name.

    The constructor's module may define ``default_cfgs``: a dict mapping ``"name.tag"`` (or ``"name"``)
    to a :class:`PretrainedCfg`; the first tag listed for a name is its default.
    """
    name = fn.__name__
    if name in _model_entrypoints:
        raise ValueError(f"model '{name}' is registered twice")
    _model_entrypoints[name] = fn
    module = sys.modules[fn.__module__]
    tags: Dict[str, PretrainedCfg] = {}
    for full_name, cfg in getattr(module, "default_cfgs", {}).items():
        model_name, tag = split_model_name_tag(full_name)
        if model_name == name:
            tags[tag] = cfg
    _model_pretrained_cfgs[name] = tags
    if tags:
        _model_default_tag[name] = next(iter(tags))
    return fn


def split_model_name_tag(name: str) -> "tuple[str, str]":
    """``"xception.keras_in1k"`` -> ``("xception", "keras_in1k")``; no tag gives ``""``."""
    model_name, _, tag = name.partition(".")
    return model_name, tag


def _matches(name: str, patterns: Sequence[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


def list_models(filter: Union[str, Sequence[str]] = "", pretrained: bool = False,
                exclude_filters: Union[str, Sequence[str]] = "") -> List[str]:
    """Sorted registered model names, optionally filtered by wildcard pattern(s).

    With ``pretrained=True`` only names that have pretrained weights are listed, as ``name.tag``.
    """
    patterns = [filter] if isinstance(filter, str) else list(filter)
    patterns = [p for p in patterns if p]
    excludes = [exclude_filters] if isinstance(exclude_filters, str) else list(exclude_filters)
    excludes = [p for p in excludes if p]
    if pretrained:
        names = [f"{m}.{t}" for m, tags in _model_pretrained_cfgs.items() for t in tags if tags[t].has_source()]
        candidates = names
    else:
        candidates = list(_model_entrypoints)
    result = []
    for name in candidates:
        base = split_model_name_tag(name)[0]
        if patterns and not (_matches(name, patterns) or _matches(base, patterns)):
            continue
        if excludes and (_matches(name, excludes) or _matches(base, excludes)):
            continue
        result.append(name)
    return sorted(result)


def list_pretrained(filter: str = "") -> List[str]:
    """All ``model.tag`` names that carry a pretrained config with a source (url or file)."""
    return list_models(filter, pretrained=True)


def is_model(model_name: str) -> bool:
    """True when ``model_name`` (optionally with a ``.tag``) names a registered model."""
    return split_model_name_tag(model_name)[0] in _model_entrypoints


def _unknown(kind: str, name: str, choices: Sequence[str]) -> UnknownModelError:
    return UnknownModelError(f"Unknown {kind} '{name}'.{did_you_mean(name, choices)} "
                             f"Known: {', '.join(sorted(choices)) or 'none'}.")


def model_entrypoint(model_name: str) -> Callable:
    """The registered constructor for ``model_name``; unknown names raise with close suggestions."""
    name = split_model_name_tag(model_name)[0]
    if name not in _model_entrypoints:
        raise _unknown("model", model_name, list(_model_entrypoints))
    return _model_entrypoints[name]


def get_pretrained_cfg(model_name: str, tag: Optional[str] = None) -> PretrainedCfg:
    """The pretrained config of ``model_name`` for ``tag`` (default tag when empty)."""
    name, name_tag = split_model_name_tag(model_name)
    model_entrypoint(name)
    tag = tag or name_tag or _model_default_tag.get(name, "")
    tags = _model_pretrained_cfgs.get(name, {})
    if tag not in tags:
        raise _unknown(f"pretrained tag for '{name}'", tag, list(tags))
    return tags[tag]
