"""``create_loss``: a loss by MindCV's name and options.

Cross-entropy and binary cross-entropy take class indices or (soft) probability targets, smooth them by
``label_smoothing`` (soft targets too: Mixup/CutMix targets are smoothed here, as in MindCV), weight the classes
by ``weight``, reduce by ``reduction`` and add ``aux_factor`` times the loss of auxiliary logits when the model
returns a tuple ``(logits, aux_logits, ...)``.
"""
from typing import Optional

from mindspore import Tensor, nn

from ..utils.errors import ConfigError
from .asymmetric import AsymmetricLossMultilabel, AsymmetricLossSingleLabel
from .binary_cross_entropy_smooth import BinaryCrossEntropySmooth
from .cross_entropy_smooth import CrossEntropySmooth
from .jsd import JSDCrossEntropy

__all__ = ["create_loss", "CrossEntropySmooth", "BinaryCrossEntropySmooth", "LOSSES"]

LOSSES = ("CE", "BCE", "asl_single_label", "asl_multi_label", "jsd")
REDUCTIONS = ("mean", "sum", "none")


def create_loss(name: str = "CE", weight: Optional[Tensor] = None, reduction: str = "mean",
                label_smoothing: float = 0.0, aux_factor: float = 0.0) -> nn.LossBase:
    """The loss ``name`` (MindCV's names, signature and defaults): ``CE`` (cross-entropy), ``BCE`` (binary
    cross-entropy), ``asl_single_label`` / ``asl_multi_label`` (asymmetric losses; the first takes
    ``label_smoothing``, the second none of the options, as in MindCV) or ``jsd`` (AugMix's consistency loss).

    ``weight``: per-class weights (shape [C]); ``reduction``: ``mean``, ``sum`` or ``none``;
    ``label_smoothing`` in [0, 1); ``aux_factor``: weight of auxiliary logits' losses.
    """
    if not 0.0 <= label_smoothing < 1.0:
        raise ConfigError(f"label_smoothing must be in [0, 1), got {label_smoothing}.")
    if reduction not in REDUCTIONS:
        raise ConfigError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}.")
    key = name.lower()
    if key == "ce":
        return CrossEntropySmooth(label_smoothing, aux_factor, reduction, weight)
    if key == "bce":
        return BinaryCrossEntropySmooth(label_smoothing, aux_factor, reduction, weight)
    if key == "asl_single_label":
        return AsymmetricLossSingleLabel(smoothing=label_smoothing)
    if key == "asl_multi_label":
        return AsymmetricLossMultilabel()
    if key == "jsd":
        return JSDCrossEntropy(smoothing=label_smoothing, aux_factor=aux_factor, reduction=reduction, weight=weight)
    raise ConfigError(f"Unknown loss '{name}'; valid: {', '.join(LOSSES)}.")

