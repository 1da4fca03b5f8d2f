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
    "list_modules",
    "is_model",
    "is_model_in_modules",
    "is_model_pretrained",
    "model_entrypoint",
    "list_pretrained",
    "get_pretrained_cfg",
    "get_pretrained_cfg_value",
    "has_pretrained_cfg_key",
    "split_model_name_tag",
    "UnknownModelError",
]

_model_entrypoints: Dict[str, Callable] = {}
_model_modules: Dict[str, str] = {}  # model name -> the last part of its module's name (MindCV's "module")
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
    _model_modules[name] = fn.__module__.rsplit(".", 1)[-1]
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


def list_models(filter: Union[str, Sequence[str]] = "", module: str = "", pretrained: bool = False,
                exclude_filters: Union[str, Sequence[str]] = "") -> List[str]:
    """Sorted registered model names, optionally filtered by wildcard pattern(s) and by ``module`` (the model
    file's name, e.g. ``"xception_aligned"``); MindCV's signature.

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
        if module and _model_modules[base] != module:
            continue
        if patterns and not (_matches(name, patterns) or _matches(base, patterns)):
            continue
        if excludes and (_matches(name, excludes) or _matches(base, excludes)):
            continue
        result.append(name)
    return sorted(result)


def list_pretrained(filter: str = "") -> List[str]:
    """All ``model.tag`` names that carry a pretrained config with a source (url or file)."""
    return list_models(filter, pretrained=True)


def list_modules() -> List[str]:
    """Sorted names of the modules that register models (``list_models(module=...)`` takes them)."""
    return sorted(set(_model_modules.values()))


def is_model_in_modules(model_name: str, module_names: Sequence[str]) -> bool:
    """True when ``model_name`` is registered by one of ``module_names``."""
    if not isinstance(module_names, (tuple, list, set)):
        raise TypeError(f"module_names must be a tuple, list or set, got {type(module_names).__name__}.")
    return _model_modules.get(split_model_name_tag(model_name)[0]) in module_names


def is_model_pretrained(model_name: str) -> bool:
    """True when ``model_name`` (or its ``.tag``) has pretrained weights to download or read."""
    name, tag = split_model_name_tag(model_name)
    tags = _model_pretrained_cfgs.get(name, {})
    return any(cfg.has_source() for key, cfg in tags.items() if not tag or key == tag)


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
    """The pretrained config of ``model_name`` for ``tag`` (default tag when empty). It also reads as MindCV's
    dict (``cfg["url"]``, ``cfg.get("input_size")``). An unknown name or tag raises (MindCV returns {})."""
    name, name_tag = split_model_name_tag(model_name)
    model_entrypoint(name)
    tag = tag or name_tag or _model_default_tag.get(name, "")
    tags = _model_pretrained_cfgs.get(name, {})
    if tag not in tags:
        raise _unknown(f"pretrained tag for '{name}'", tag, list(tags))
    return tags[tag]


def get_pretrained_cfg_value(model_name: str, cfg_key: str):
    """One value of the default pretrained config of ``model_name``; None when it has no such key or no config."""
    name, tag = split_model_name_tag(model_name)
    if tag not in _model_pretrained_cfgs.get(name, {}) and not _model_default_tag.get(name):
        return None
    return get_pretrained_cfg(model_name).get(cfg_key)


def has_pretrained_cfg_key(model_name: str, cfg_key: str) -> bool:
    """True when the default pretrained config of ``model_name`` has the key ``cfg_key``."""
    return get_pretrained_cfg_value(model_name, cfg_key) is not None
