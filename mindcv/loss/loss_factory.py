"""``create_loss``: cross-entropy and binary cross-entropy with MindCV's options.

Both take class indices or (soft) probability targets, smooth them by ``label_smoothing`` (soft targets too:
Mixup/CutMix targets are smoothed here, as in MindCV), weight the classes by ``weight``, reduce by
``reduction`` and add ``aux_factor`` times the loss of auxiliary logits when the model returns a tuple
``(logits, aux_logits, ...)``.
"""
from typing import Optional

from mindspore import Tensor, nn, ops

from ..utils.errors import ConfigError

__all__ = ["create_loss", "CrossEntropySmooth", "BinaryCrossEntropySmooth", "LOSSES"]

LOSSES = ("CE", "BCE")
REDUCTIONS = ("mean", "sum", "none")


class CrossEntropySmooth(nn.LossBase):
    """Softmax cross-entropy with label smoothing, for index or probability targets."""

    def __init__(self, smoothing: float = 0.0, aux_factor: float = 0.0, reduction: str = "mean",
                 weight: Optional[Tensor] = None):
        super().__init__()
        self.smoothing = smoothing
        self.aux_factor = aux_factor
        self.reduction = reduction
        self.weight = weight

    def _single(self, logits: Tensor, labels: Tensor) -> Tensor:
        return ops.cross_entropy(logits, labels, weight=self.weight, reduction=self.reduction,
                                 label_smoothing=self.smoothing)

    def construct(self, logits, labels: Tensor) -> Tensor:
        if isinstance(logits, tuple):
            loss = self._single(logits[0], labels)
            if self.aux_factor > 0:
                for aux in logits[1:]:
                    loss = loss + self.aux_factor * self._single(aux, labels)
            return loss
        return self._single(logits, labels)


class BinaryCrossEntropySmooth(nn.LossBase):
    """Per-class sigmoid binary cross-entropy; index targets become one-hot, then all targets are smoothed to
    ``target * (1 - smoothing) + smoothing / classes``."""

    def __init__(self, smoothing: float = 0.0, aux_factor: float = 0.0, reduction: str = "mean",
                 weight: Optional[Tensor] = None, pos_weight: Optional[Tensor] = None):
        super().__init__()
        self.smoothing = smoothing
        self.aux_factor = aux_factor
        self.reduction = reduction
        self.weight = weight
        self.pos_weight = pos_weight

    def _targets(self, logits: Tensor, labels: Tensor) -> Tensor:
        num_classes = logits.shape[-1]
        if labels.ndim == 1:
            labels = ops.one_hot(labels, num_classes, Tensor(1.0, logits.dtype), Tensor(0.0, logits.dtype))
        labels = labels.astype(logits.dtype)
        if self.smoothing > 0:
            labels = labels * (1 - self.smoothing) + self.smoothing / num_classes
        return labels

    def _single(self, logits: Tensor, targets: Tensor) -> Tensor:
        ones = ops.ones_like(logits)
        weight = ones if self.weight is None else self.weight
        pos_weight = ones if self.pos_weight is None else self.pos_weight
        return ops.binary_cross_entropy_with_logits(logits, targets, weight, pos_weight, reduction=self.reduction)

    def construct(self, logits, labels: Tensor) -> Tensor:
        main = logits[0] if isinstance(logits, tuple) else logits
        targets = self._targets(main, labels)
        loss = self._single(main, targets)
        if isinstance(logits, tuple) and self.aux_factor > 0:
            for aux in logits[1:]:
                loss = loss + self.aux_factor * self._single(aux, targets)
        return loss


def create_loss(name: str = "CE", weight: Optional[Tensor] = None, reduction: str = "mean",
                label_smoothing: float = 0.0, aux_factor: float = 0.0) -> nn.LossBase:
    """``CE`` (cross-entropy) or ``BCE`` (binary cross-entropy), MindCV's signature and defaults.

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
    raise ConfigError(f"Unknown loss '{name}'; valid: CE, BCE.")
