"""``create_optimizer``: MindSpore optimizers by name, with weight-decay filtering and loss-scale awareness."""
from typing import Dict, List, Sequence, Union

from mindspore import Parameter, Tensor, nn

from ..utils.suggest import did_you_mean
from .lion import Lion

__all__ = ["create_optimizer", "split_weight_decay", "OPTIMIZERS"]

OPTIMIZERS = ("sgd", "momentum", "adam", "adamw", "rmsprop", "lion")
_FILTERS = ("disable", "auto", "norm_and_bias")


def _excluded(param: Parameter, weight_decay_filter: str) -> bool:
    if weight_decay_filter == "auto":
        return len(param.shape) <= 1
    leaf = param.name.rsplit(".", 1)[-1]
    return leaf in ("gamma", "beta", "bias")


def split_weight_decay(params: Sequence[Parameter], weight_decay: float,
                       weight_decay_filter: str = "disable") -> Union[List[Parameter], List[Dict]]:
    """Parameter groups: ``auto`` exempts every 1-D parameter, ``norm_and_bias`` exempts BN gamma/beta and
    biases by name; ``disable`` decays everything (returns the plain list)."""
    if weight_decay_filter not in _FILTERS:
        raise ValueError(f"weight_decay_filter must be one of {_FILTERS}, got '{weight_decay_filter}'.")
    params = list(params)
    if weight_decay_filter == "disable" or weight_decay == 0:
        return params
    decay = [p for p in params if not _excluded(p, weight_decay_filter)]
    no_decay = [p for p in params if _excluded(p, weight_decay_filter)]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0},
            {"order_params": params}]


def create_optimizer(params: Sequence[Parameter], opt: str = "momentum", lr: Union[float, Sequence[float]] = 0.01,
                     weight_decay: float = 0.0, momentum: float = 0.9, nesterov: bool = False,
                     weight_decay_filter: str = "disable", loss_scale: float = 1.0, eps: float = 1e-8) -> nn.Optimizer:
    """A MindSpore optimizer. ``lr`` may be a per-step list (from ``create_scheduler``).

    ``loss_scale`` is the fixed scale the gradients carry (the optimizer divides it out); pass 1.0 when a
    loss-scale cell already unscales them.
    """
    key = opt.lower()
    if key not in OPTIMIZERS:
        raise ValueError(f"Unknown optimizer '{opt}'.{did_you_mean(key, OPTIMIZERS)} Valid: {', '.join(OPTIMIZERS)}.")
    learning_rate = Tensor(list(lr)) if isinstance(lr, (list, tuple)) else lr
    groups = split_weight_decay(params, weight_decay, weight_decay_filter)
    decay = weight_decay if weight_decay_filter == "disable" else 0.0
    if key == "sgd":
        return nn.SGD(groups, learning_rate=learning_rate, momentum=0.0, weight_decay=decay, loss_scale=loss_scale)
    if key == "momentum":
        return nn.Momentum(groups, learning_rate=learning_rate, momentum=momentum, weight_decay=decay,
                           use_nesterov=nesterov, loss_scale=loss_scale)
    if key == "adam":
        return nn.Adam(groups, learning_rate=learning_rate, beta1=momentum, eps=eps, weight_decay=decay,
                       use_nesterov=nesterov, loss_scale=loss_scale)
    if key == "adamw":
        if loss_scale != 1.0:
            raise ValueError("adamw does not divide out a fixed loss scale; use loss_scale_type dynamic/auto or "
                             "drop_overflow_update True, which unscale gradients before the optimizer.")
        return nn.AdamWeightDecay(groups, learning_rate=learning_rate, beta1=momentum, eps=eps, weight_decay=decay)
    if key == "rmsprop":
        return nn.RMSProp(groups, learning_rate=learning_rate, decay=0.9, momentum=momentum, epsilon=eps,
                          weight_decay=decay, loss_scale=loss_scale)
    return Lion(groups if weight_decay_filter != "disable" else params, learning_rate=learning_rate,
                beta1=momentum, weight_decay=weight_decay, loss_scale=loss_scale)
