"""``create_trainer``: MindCV's way to train with ``mindspore.Model`` (for scripts written against MindCV).

Without EMA, clipping, accumulation or a cast list the trainer is MindSpore's own ``Model`` with MindCV's loss-scale
manager, exactly as MindCV builds it; otherwise it wraps this package's :class:`TrainStep`, which computes MindCV's
customised step. ``train.py`` does not use it (it runs its own loop around the same step).
"""
import logging
from typing import Dict, Optional, Union

from mindspore import nn
from mindspore.train import DynamicLossScaleManager, FixedLossScaleManager, Model

from ..utils.errors import ConfigError
from .amp import LossNetwork, auto_mixed_precision
from .train_step import TrainStep, create_loss_scale, require_customized_train_step

__all__ = ["create_trainer", "get_metrics", "require_customized_train_step"]

_logger = logging.getLogger(__name__)


def get_metrics(num_classes: int) -> Dict[str, nn.Metric]:
    """Top-1 accuracy, and top-5 from five classes on (MindCV's metric names)."""
    metrics = {"Top_1_Accuracy": nn.Top1CategoricalAccuracy()}
    if num_classes >= 5:
        metrics["Top_5_Accuracy"] = nn.Top5CategoricalAccuracy()
    return metrics


def _loss_scale_manager(loss_scale_type: str, loss_scale: float, drop_overflow_update: bool):
    kind = loss_scale_type.lower()
    if kind == "fixed":
        return FixedLossScaleManager(loss_scale=loss_scale, drop_overflow_update=drop_overflow_update)
    if kind == "dynamic":
        return DynamicLossScaleManager(init_loss_scale=loss_scale, scale_factor=2, scale_window=2000)
    if kind == "auto":
        _logger.warning("loss_scale_type auto: mindspore.Model chooses the loss scale for amp_level itself.")
        return None
    raise ConfigError(f"loss_scale_type must be fixed, dynamic or auto, got {loss_scale_type!r}.")


def create_trainer(network: nn.Cell, loss: nn.Cell, optimizer: nn.Optimizer, metrics: Union[dict, set],
                   amp_level: str, amp_cast_list: Optional[str], loss_scale_type: str, loss_scale: float = 1.0,
                   drop_overflow_update: bool = False, ema: bool = False, ema_decay: float = 0.9999,
                   clip_grad: bool = False, clip_value: float = 15.0,
                   gradient_accumulation_steps: int = 1) -> Model:
    """A ``mindspore.Model`` that trains ``network`` with ``loss`` and ``optimizer`` (MindCV's signature).

    A fixed ``loss_scale`` without ``drop_overflow_update`` is divided out by the optimizer when it was created
    with the same ``loss_scale`` (as MindCV's ``train.py`` does), by the step otherwise; ``dynamic`` needs
    ``drop_overflow_update``. The customised step (EMA, clipping, accumulation, cast list) evaluates through
    ``eval_network`` with ``eval_indexes`` [0, 1, 2], as MindCV's.
    """
    if loss_scale < 1.0:
        raise ConfigError(f"loss_scale must be >= 1, got {loss_scale}.")
    if loss_scale_type.lower() == "dynamic" and not drop_overflow_update:
        raise ConfigError("A dynamic loss scale always drops overflowing updates: set drop_overflow_update True.")
    if gradient_accumulation_steps < 1:
        raise ConfigError(f"gradient_accumulation_steps must be >= 1, got {gradient_accumulation_steps}.")
    if not require_customized_train_step(ema, clip_grad, gradient_accumulation_steps, amp_cast_list):
        manager = _loss_scale_manager(loss_scale_type, loss_scale, drop_overflow_update)
        extra = {} if manager is None else {"loss_scale_manager": manager}
        return Model(network, loss_fn=loss, optimizer=optimizer, metrics=metrics, amp_level=amp_level, **extra)
    eval_network = nn.WithEvalCell(network, loss, amp_level in ("O2", "O3", "auto"))
    train_network = LossNetwork(auto_mixed_precision(network, amp_level, amp_cast_list), loss)
    scale = create_loss_scale(loss_scale_type, loss_scale, drop_overflow_update, amp_level, custom_step=True)
    step = TrainStep(train_network, optimizer, scale, ema=ema, ema_decay=ema_decay, clip_grad=clip_grad,
                     clip_value=clip_value, gradient_accumulation_steps=gradient_accumulation_steps)
    step.set_train()
    return Model(step, eval_network=eval_network, metrics=metrics, eval_indexes=[0, 1, 2])
