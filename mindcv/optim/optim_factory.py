"""``create_optimizer``: optimizers by name with MindCV's parameter groups, weight-decay filters and defaults."""
import logging
import re
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Union

import mindspore as ms
from mindspore import Parameter, nn

from ..utils.checkpoint import read_checkpoint
from ..utils.errors import ConfigError
from ..utils.suggest import did_you_mean
from .adamw import AdamW
from .adan import Adan
from .lion import Lion
from .nadam import NAdam

__all__ = ["create_optimizer", "param_groups", "layer_ids", "OPTIMIZERS", "WEIGHT_DECAY_FILTERS"]

_logger = logging.getLogger(__name__)

OPTIMIZERS = ("sgd", "nesterov", "momentum", "adam", "adamw", "lion", "rmsprop", "adagrad", "lamb", "nadam", "adan")
WEIGHT_DECAY_FILTERS = ("disable", "auto", "norm_and_bias")


def _no_decay_by_name(param: Parameter, no_weight_decay: set) -> bool:
    return any(part in param.name for part in ("beta", "gamma", "bias")) or param.name in no_weight_decay


def layer_ids(model: nn.Cell) -> Dict[str, int]:
    """Depth index of every trainable parameter for layer-wise lr decay, from the model's ``group_matcher()``
    (timm's convention): 0 for the ``stem``, K + 1 for the block the ``blocks`` pattern's group says, then what
    comes after the blocks, and the classifier (``get_classifier()``) deepest. A model without a group matcher
    is one layer, its classifier the next."""
    matcher = model.group_matcher() if hasattr(model, "group_matcher") else {}
    stem, blocks = (re.compile(matcher[key]) if key in matcher else None for key in ("stem", "blocks"))
    head = {id(p) for p in model.get_classifier().get_parameters()} if hasattr(model, "get_classifier") else set()
    ids: Dict[str, int] = {}
    deepest_block = 0
    for name, param in model.parameters_and_names():
        if not param.requires_grad or id(param) in head:
            continue
        block = blocks.match(name) if blocks else None
        if block:
            ids[name] = int(block.group(1)) + 1
            deepest_block = max(deepest_block, ids[name])
        else:
            ids[name] = 0 if stem is None or stem.match(name) else -1  # -1: after the blocks
    after = deepest_block + 1
    ids = {name: after if layer < 0 else layer for name, layer in ids.items()}
    classifier = max(ids.values(), default=0) + 1
    ids.update({name: classifier for name, param in model.parameters_and_names() if id(param) in head})
    return ids


def _layer_decay_groups(model: nn.Cell, lr, weight_decay: float, layer_decay: float,
                        no_weight_decay: set) -> List[Dict]:
    ids = layer_ids(model)
    deepest = max(ids.values())
    groups: Dict[tuple, Dict] = {}
    params = model.trainable_params()
    for param in params:
        decays = not (param.ndim == 1 or param.name in no_weight_decay)
        layer = ids[param.name]
        scale = layer_decay ** (deepest - layer)
        group = groups.setdefault((layer, decays), {
            "params": [], "weight_decay": weight_decay if decays else 0.0,
            "lr": [v * scale for v in lr] if isinstance(lr, (list, tuple)) else lr * scale})
        group["params"].append(param)
    return list(groups.values()) + [{"order_params": params}]


def param_groups(model_or_params: Union[nn.Cell, Sequence[Parameter]], lr, weight_decay: float,
                 weight_decay_filter: str, layer_decay: Optional[float]):
    """The parameters (or groups) and the optimizer-level weight decay, as MindCV builds them.

    ``disable``: one group decaying everything. ``auto``: no groups; MindSpore's own filter exempts parameters
    whose name holds ``beta`` or ``gamma``. ``norm_and_bias``: also ``bias`` names (and a model's
    ``no_weight_decay()``) exempt. ``layer_decay`` (a model must be passed): the learning rate of depth ``d``
    scaled by ``layer_decay ** (deepest - d)``, 1-D parameters without decay.
    """
    if weight_decay_filter not in WEIGHT_DECAY_FILTERS:
        raise ConfigError(f"weight_decay_filter must be one of {WEIGHT_DECAY_FILTERS}, got '{weight_decay_filter}'.")
    is_model = isinstance(model_or_params, nn.Cell)
    params = list(model_or_params.trainable_params() if is_model else model_or_params)
    no_weight_decay = set(model_or_params.no_weight_decay()) if hasattr(model_or_params, "no_weight_decay") else set()
    if weight_decay_filter == "auto":
        if layer_decay is not None:
            _logger.warning("layer_decay has no effect with weight_decay_filter auto (as in MindCV).")
        return params, weight_decay
    if layer_decay is not None:
        if not is_model:
            raise ConfigError("layer_decay needs the model (pass the Cell, not its parameters) to know the depths.")
        return _layer_decay_groups(model_or_params, lr, weight_decay, layer_decay, no_weight_decay), 0.0
    if weight_decay_filter == "disable":
        return [{"params": params, "weight_decay": weight_decay}, {"order_params": params}], 0.0
    decay = [p for p in params if not _no_decay_by_name(p, no_weight_decay)]
    no_decay = [p for p in params if _no_decay_by_name(p, no_weight_decay)]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0},
            {"order_params": params}], 0.0


def create_optimizer(model_or_params: Union[nn.Cell, Sequence[Parameter]], opt: str = "adam",
                     lr: Union[float, Sequence[float]] = 1e-3, weight_decay: float = 0, momentum: float = 0.9,
                     nesterov: bool = False, weight_decay_filter: str = "disable", layer_decay: Optional[float] = None,
                     loss_scale: float = 1.0, schedule_decay: float = 4e-3, checkpoint_path: str = "",
                     eps: float = 1e-10, **kwargs) -> nn.Optimizer:
    """An optimizer by name, with MindCV's signature, defaults and arguments (see the README's differences).

    ``sgd`` (``momentum``, ``nesterov``), ``momentum``/``nesterov``, ``adam`` (MindSpore's Adam, its own betas and
    eps), ``adamw``/``lion``/``nadam``/``adan`` (MindCV's update rules), ``rmsprop`` (``momentum``, ``eps``),
    ``adagrad`` and ``lamb`` (Ascend/GPU: MindSpore has no CPU kernel for it). ``lr`` is a number or a
    per-step list (``create_scheduler``). ``loss_scale`` is the fixed scale the gradients carry, which the
    optimizer divides out (``nadam`` does not, as in MindCV). ``checkpoint_path``: optimizer state
    to load (a missing file is an error). Other keyword arguments go to the optimizer's constructor.
    """
    key = opt.lower()
    if key not in OPTIMIZERS:
        raise ConfigError(f"Unknown optimizer '{opt}'.{did_you_mean(key, OPTIMIZERS)} Valid: {', '.join(OPTIMIZERS)}.")
    learning_rate = list(lr) if isinstance(lr, (list, tuple)) else lr
    params, decay = param_groups(model_or_params, learning_rate, weight_decay, weight_decay_filter, layer_decay)
    if key == "sgd":
        optimizer = nn.SGD(params, learning_rate=learning_rate, momentum=momentum, weight_decay=decay,
                           nesterov=nesterov, loss_scale=loss_scale, **kwargs)
    elif key in ("momentum", "nesterov"):
        optimizer = nn.Momentum(params, learning_rate=learning_rate, momentum=momentum, weight_decay=decay,
                                use_nesterov=nesterov, loss_scale=loss_scale, **kwargs)
    elif key == "adam":
        optimizer = nn.Adam(params, learning_rate=learning_rate, weight_decay=decay, loss_scale=loss_scale,
                            use_nesterov=nesterov, **kwargs)
    elif key == "adamw":
        optimizer = AdamW(params, learning_rate=learning_rate, weight_decay=decay, loss_scale=loss_scale, **kwargs)
    elif key == "lion":
        optimizer = Lion(params, learning_rate=learning_rate, weight_decay=decay, loss_scale=loss_scale, **kwargs)
    elif key == "nadam":
        optimizer = NAdam(params, learning_rate=learning_rate, weight_decay=decay, loss_scale=loss_scale,
                          schedule_decay=schedule_decay, **kwargs)
    elif key == "adan":
        optimizer = Adan(params, learning_rate=learning_rate, weight_decay=decay, loss_scale=loss_scale, **kwargs)
    elif key == "rmsprop":
        optimizer = nn.RMSProp(params, learning_rate=learning_rate, momentum=momentum, weight_decay=decay,
                               loss_scale=loss_scale, epsilon=eps, **kwargs)
    elif key == "adagrad":
        optimizer = nn.Adagrad(params, learning_rate=learning_rate, weight_decay=decay, loss_scale=loss_scale,
                               **kwargs)
    else:
        if loss_scale != 1.0:
            raise ConfigError("lamb cannot take a fixed loss scale in the optimizer (as in MindCV); use "
                              "loss_scale_type dynamic or drop_overflow_update True, which unscale before it.")
        if ms.get_context("device_target") == "CPU":
            raise ConfigError("lamb needs Ascend or GPU: MindSpore has no CPU kernel for its Lamb operator.")
        optimizer = nn.Lamb(params, learning_rate=learning_rate, weight_decay=decay, **kwargs)
    if checkpoint_path:
        if not Path(checkpoint_path).is_file():
            raise ConfigError(f"Optimizer checkpoint not found: {checkpoint_path}.")
        ms.load_param_into_net(optimizer, read_checkpoint(checkpoint_path))
    return optimizer
