"""Model construction shared by every architecture: pretrained configs, strict weight loading, features.

The public functions keep MindCV's names and signatures (``load_pretrained``, ``load_model_checkpoint``,
``build_model_with_cfg``, ``make_divisible``); loading is strict here: a missing file, a missing or mis-shaped
weight is an error, never a silently random layer.
"""
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Sequence, Union

import mindspore as ms
import numpy as np
from mindspore import nn

from ..utils.checkpoint import EMA_PREFIX, METADATA_PREFIX, TRAINING_STATE, is_training_extra, read_checkpoint
from ..utils.download import cached_download, get_default_download_root
from ..utils.errors import CheckpointError, ConfigError
from ..utils.environment import warn_if_slow_cpu_build
from .features import FeatureExtractor, FeatureExtractWrapper
from .hub import hub_pretrained_cfg, is_hub_source
from .pretrained import PretrainedCfg

__all__ = ["build_model_with_cfg", "build_registered_model", "load_pretrained", "load_model_checkpoint",
           "load_weights", "adapt_input_conv", "make_divisible", "ConfigDict",
           "get_checkpoint_download_root"]

_logger = logging.getLogger(__name__)

def adapt_input_conv(weight: np.ndarray, in_channels: int) -> np.ndarray:
    """Adapt a first-conv kernel (O, C, kh, kw) trained on C channels to ``in_channels``.

    One channel sums the kernel over its input channels (so a grey image replicated to C channels
    gives the same output); other counts tile the kernel and rescale it by ``C / in_channels``.
    """
    source_channels = weight.shape[1]
    if in_channels == source_channels:
        return weight
    if in_channels == 1:
        return weight.sum(axis=1, keepdims=True)
    repeats = -(-in_channels // source_channels)
    tiled = np.tile(weight, (1, repeats, 1, 1))[:, :in_channels]
    return tiled * (source_channels / in_channels)


def _summarise(names: Sequence[str], limit: int = 12) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names) - limit} more)" if len(names) > limit else "")


def _is_training_state(state: Dict[str, Any]) -> bool:
    kind = state.get(f"{METADATA_PREFIX}kind")
    return isinstance(kind, str) and kind == TRAINING_STATE


def _select_weights(state: Dict[str, ms.Parameter], ema: bool, source: str,
                    model_params: Dict[str, ms.Parameter]) -> Dict[str, ms.Parameter]:
    """Model weights out of a checkpoint: the EMA copy when ``ema``, training extras dropped."""
    training_state = _is_training_state(state)
    if ema:
        ema_state = {k[len(EMA_PREFIX):]: v for k, v in state.items() if k.startswith(EMA_PREFIX)}
        if not ema_state:
            raise CheckpointError(f"ema=True but {source} holds no EMA weights ('ema.*' entries); "
                                  "load it with ema=False, or use a checkpoint saved with EMA enabled.")
        filled = [k for k, p in model_params.items() if k not in ema_state and not p.requires_grad and k in state]
        for name in filled:
            ema_state[name] = state[name]
        if filled:
            _logger.info("EMA weights of %s lack %d non-trainable entries (BN statistics); "
                         "took them from the raw weights.", source, len(filled))
        state = ema_state
    if training_state:  # a train.py checkpoint: everything besides the model's weights is training state
        return {k: v for k, v in state.items() if k in model_params}
    return {k: v for k, v in state.items() if not is_training_extra(k)}


def load_weights(model: nn.Cell, state: Dict[str, ms.Parameter], source: str, *, first_conv: str = "conv1",
                 classifier: str = "classifier", ema: bool = False, adapt_head: bool = False) -> None:
    """Load ``state`` into ``model`` strictly: every parameter filled, every weight used.

    Adaptations (each logged): a classifier of another size is dropped and left freshly initialised
    (only with ``adapt_head``: fine-tuning); a first conv trained on other input channels is adapted with
    :func:`adapt_input_conv`. Any missing, unexpected or mis-shaped name raises one
    :class:`CheckpointError` listing them all; a classifier that does not fit without ``adapt_head`` says
    so with both shapes.
    """
    model_params = {p.name: p for p in model.get_parameters()}
    state = _select_weights(state, ema, source, model_params)
    skipped = set()

    first_key = f"{first_conv}.weight"
    if first_key in state and first_key in model_params:
        src, dst = state[first_key].shape, model_params[first_key].shape
        if len(src) == 4 and src[1] != dst[1] and src[0] == dst[0]:
            adapted = adapt_input_conv(state[first_key].asnumpy(), dst[1])
            state[first_key] = ms.Parameter(ms.Tensor(adapted.astype(np.float32)), name=first_key)
            _logger.info("Adapted %s from %d to %d input channels.", first_key, src[1], dst[1])

    head_keys = [k for k in state if k == classifier or k.startswith(classifier + ".")]
    head_changed = any(k not in model_params or tuple(state[k].shape) != tuple(model_params[k].shape)
                       for k in head_keys)
    if adapt_head and head_keys and head_changed:
        old = state[f"{classifier}.weight"].shape[0] if f"{classifier}.weight" in state else "?"
        for k in head_keys:
            del state[k]
        skipped = {k for k in model_params if k == classifier or k.startswith(classifier + ".")}
        _logger.info("%s has a %s-class classifier; the model has %s classes, so its classifier keeps "
                     "its fresh initialisation.", source, old, getattr(model, "num_classes", "?"))

    if head_changed and not adapt_head and f"{classifier}.weight" in state:
        theirs = tuple(state[f"{classifier}.weight"].shape)
        ours = tuple(model_params[f"{classifier}.weight"].shape) if f"{classifier}.weight" in model_params else "none"
        raise CheckpointError(f"{source} has a classifier of shape {theirs} ({theirs[0]} classes) but the model's is "
                              f"{ours}; build the model with num_classes={theirs[0]} to use these weights. (train.py "
                              "fine-tunes from them with a fresh classifier when --num_classes differs.)")
    missing = sorted(k for k in model_params if k not in state and k not in skipped)
    unexpected = sorted(k for k in state if k not in model_params)
    mismatched = sorted(f"{k} {tuple(state[k].shape)} vs model {tuple(model_params[k].shape)}"
                        for k in state if k in model_params
                        and tuple(state[k].shape) != tuple(model_params[k].shape))
    if missing or unexpected or mismatched:
        parts = []
        if missing:
            parts.append(f"{len(missing)} model parameters missing from the checkpoint: {_summarise(missing)}")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected checkpoint entries: {_summarise(unexpected)}")
        if mismatched:
            parts.append(f"{len(mismatched)} shape mismatches: {_summarise(mismatched)}")
        raise CheckpointError(f"{source} does not fit {type(model).__name__}: " + "; ".join(parts)
                              + ". Check the model name and its options (num_classes, in_channels) "
                                "against the checkpoint.")
    tensors = {k: ms.Parameter(v.astype(model_params[k].dtype) if v.dtype != model_params[k].dtype else v, name=k)
               for k, v in state.items()}
    not_loaded, _ = ms.load_param_into_net(model, tensors, strict_load=True)
    not_loaded = [k for k in not_loaded if k not in skipped]
    if not_loaded:
        raise CheckpointError(f"MindSpore did not load {len(not_loaded)} parameters from {source}: "
                              f"{_summarise(sorted(not_loaded))}")
    _logger.info("Loaded %d parameters from %s.", len(tensors), source)


def load_model_checkpoint(model: nn.Cell, checkpoint_path: str = "", ema: bool = False, auto_mapping: bool = False,
                          *, first_conv: str = "conv1", classifier: str = "classifier",
                          adapt_head: bool = False) -> None:
    """Load a local checkpoint file into ``model`` strictly (see :func:`load_weights`); MindCV's signature.

    ``ema`` loads the ``ema.*`` weights. ``auto_mapping`` is accepted and logged: names are matched exactly and
    every mismatch is reported, so nothing is guessed. A missing file raises (MindCV silently loads nothing).
    """
    if auto_mapping:
        _logger.info("auto_mapping has no effect: parameter names are matched exactly and mismatches are errors.")
    state = read_checkpoint(checkpoint_path)
    load_weights(model, state, f"checkpoint {checkpoint_path}", first_conv=first_conv, classifier=classifier,
                 ema=ema, adapt_head=adapt_head)


def _as_pretrained_cfg(default_cfg: Union[PretrainedCfg, Mapping]) -> PretrainedCfg:
    if isinstance(default_cfg, PretrainedCfg):
        return default_cfg
    return PretrainedCfg.from_dict(default_cfg)


def load_pretrained(model: nn.Cell, default_cfg: Union[PretrainedCfg, Mapping], num_classes: Optional[int] = None,
                    in_channels: Optional[int] = None, filter_fn: Optional[Callable[[Dict], Dict]] = None, *,
                    checkpoint_path: str = "", ema: bool = False) -> str:
    """Load the weights of a pretrained config (a :class:`PretrainedCfg` or MindCV's dict with ``url``,
    ``num_classes``, ``first_conv``, ``classifier``) into ``model``; returns the file used. MindCV's signature.

    The file is ``checkpoint_path`` when given, else ``cfg.file``, else ``cfg.url`` downloaded into the cache.
    A file in another framework's format (``cfg.converter``) is converted in memory. When the model is built
    for another number of classes than the weights were published with (``num_classes``, by default the
    model's own), the classifier stays fresh (transfer learning, logged); a first convolution for other input
    channels is adapted (logged). ``filter_fn`` may edit the name -> Parameter dict before loading. A config
    without a source raises (MindCV logs a warning and leaves the weights random).
    """
    cfg = _as_pretrained_cfg(default_cfg)
    if num_classes is None:
        num_classes = getattr(model, "num_classes", cfg.num_classes)
    if in_channels is not None and in_channels != getattr(model, "in_channels", in_channels):
        raise ConfigError(f"in_channels={in_channels} but the model was built for {model.in_channels}.")
    adapt_head = num_classes != cfg.num_classes
    if checkpoint_path:
        path = checkpoint_path
    elif cfg.file:
        path = cfg.file
    elif cfg.url:
        path = str(cached_download(cfg.url, cfg.cache_filename(), file_hash=cfg.file_hash,
                                   cache_dir=Path(get_checkpoint_download_root())))
    else:
        raise CheckpointError(f"Pretrained weights '{cfg.cache_filename() or 'this tag'}' have no download URL; "
                              "pass checkpoint_path=<local .ckpt file> (the README explains how to obtain it).")
    if cfg.converter is not None and Path(path).suffix != ".ckpt":
        arrays = cfg.converter(path)
        state = {name: ms.Parameter(ms.Tensor(value), name=name) for name, value in arrays.items()}
        source = f"converted weights {path}"
    else:
        state = read_checkpoint(path)
        source = f"checkpoint {path}"
    if filter_fn is not None:
        state = filter_fn(state)
    load_weights(model, state, source, first_conv=cfg.first_conv, classifier=cfg.classifier, ema=ema,
                 adapt_head=adapt_head)
    return path


def _resolve_pretrained_cfg(name: str, tag: str,
                            pretrained_cfg_overlay: Optional[Dict[str, Any]]) -> Optional[PretrainedCfg]:
    """The config of ``tag`` (a Hub repository or exported folder, see :mod:`.hub`), else the model's default tag;
    None for a model without pretrained configs."""
    from .registry import get_pretrained_cfg, list_pretrained

    if is_hub_source(tag):
        cfg = hub_pretrained_cfg(tag)
        if cfg.architecture != name:
            raise ConfigError(f"{tag} holds {cfg.architecture} weights, not {name}: create_model('{cfg.architecture}', "
                              f"pretrained='{tag}').")
        return cfg.overlay(pretrained_cfg_overlay)
    if not tag and not list_pretrained(name):
        return None
    return get_pretrained_cfg(name, tag or None).overlay(pretrained_cfg_overlay)


def build_registered_model(model_cls: Callable[..., nn.Cell], variant: str, pretrained: Union[bool, str] = False, *,
                           pretrained_tag: str = "", num_classes: Optional[int] = 1000, in_channels: int = 3,
                           checkpoint_path: str = "", ema: bool = False, features_only: bool = False,
                           out_indices: Optional[Sequence[int]] = None,
                           pretrained_cfg_overlay: Optional[Dict[str, Any]] = None, **kwargs: Any) -> nn.Cell:
    """Build ``model_cls`` for the registered name ``variant`` and load weights (what the registered constructors
    call; timm's ``build_model_with_cfg``).

    ``pretrained`` is False, True (``pretrained_tag`` or the default tag), a tag name, ``hf-hub:ORG/NAME`` or an
    exported folder; a named source also applies the model options its weights need (``PretrainedCfg.model_args``).
    ``num_classes`` None means the classes of those weights (1000 without). ``checkpoint_path`` is a
    local file: with ``pretrained`` it replaces the download, otherwise it is loaded strictly as the model's own
    weights (a classifier of another size is an error). Nothing ever falls back to random weights.
    """
    warn_if_slow_cpu_build()
    if isinstance(pretrained, str) and pretrained:
        pretrained_tag = pretrained
    cfg = _resolve_pretrained_cfg(variant, pretrained_tag, pretrained_cfg_overlay)
    model_args = dict(cfg.model_args) if cfg and (pretrained or pretrained_tag) else {}
    for key, value in kwargs.items():
        if key in model_args and model_args[key] != value:
            _logger.warning("%s=%r overrides %r, the value the pretrained weights were trained with.",
                            key, value, model_args[key])
    model_args.update(kwargs)
    if num_classes is None:
        num_classes = cfg.num_classes if cfg is not None and (pretrained or pretrained_tag) else 1000
    model = model_cls(num_classes=num_classes, in_channels=in_channels, **model_args)
    model.pretrained_cfg = cfg
    model.architecture = variant  # the registered name (what an export for the Hub records)
    if pretrained:
        load_pretrained(model, cfg, checkpoint_path=checkpoint_path, ema=ema)
    elif checkpoint_path:
        load_model_checkpoint(model, checkpoint_path, ema=ema)
    elif ema:
        raise ConfigError("ema=True selects the EMA weights of a checkpoint; pass checkpoint_path or pretrained.")
    if features_only:
        model = FeatureExtractor(model, out_indices)
        model.pretrained_cfg = cfg
    elif out_indices is not None:
        raise ConfigError("out_indices only applies with features_only=True.")
    return model


def build_model_with_cfg(model_cls: Callable[..., nn.Cell], pretrained: bool,
                         default_cfg: Union[PretrainedCfg, Mapping], features_only: bool = False,
                         out_indices: Sequence[int] = (0, 1, 2, 3, 4),
                         **kwargs: Any) -> nn.Cell:
    """MindCV's builder for a model class of one's own: ``model_cls(**kwargs)``, the weights of ``default_cfg``
    when ``pretrained`` (strictly, see :func:`load_pretrained`), and with ``features_only`` the feature maps of
    ``out_indices`` through :class:`FeatureExtractWrapper` (which reads the model's ``feature_info``)."""
    model = model_cls(**kwargs)
    if pretrained:
        load_pretrained(model, default_cfg, kwargs.get("num_classes", 1000), kwargs.get("in_channels", 3))
    if features_only:
        if not hasattr(model, "feature_info"):
            raise ConfigError(f"features_only is not available for {model_cls.__name__}: it has no feature_info.")
        model = FeatureExtractWrapper(model, out_indices=list(out_indices))
    return model


def make_divisible(v: float, divisor: int, min_value: Optional[int] = None) -> int:
    """``v`` rounded to the nearest multiple of ``divisor`` (at least ``min_value``, default ``divisor``), one
    multiple more when rounding lost over 10% (MindCV's channel rounding)."""
    min_value = min_value or divisor
    rounded = max(min_value, int(v + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * v else rounded


class ConfigDict(dict):
    """A dict whose keys also read and write as attributes (``cfg.url``); a missing key reads as None."""

    __getattr__ = dict.get
    __setattr__ = dict.__setitem__
    __delattr__ = dict.__delitem__


def get_checkpoint_download_root() -> str:
    """Where downloaded pretrained checkpoints are cached (MindCV: ``<download root>/models``)."""
    return os.path.join(get_default_download_root(), "models")
