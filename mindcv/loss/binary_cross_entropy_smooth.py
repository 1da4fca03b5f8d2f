"""Per-class sigmoid binary cross-entropy with label smoothing (MindCV's ``BinaryCrossEntropySmooth``)."""
from typing import Optional

from mindspore import Tensor, nn, ops

__all__ = ["BinaryCrossEntropySmooth"]


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
