"""Softmax cross-entropy with label smoothing and auxiliary logits (MindCV's ``CrossEntropySmooth``)."""
from typing import Optional

from mindspore import Tensor, nn, ops

__all__ = ["CrossEntropySmooth"]


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
