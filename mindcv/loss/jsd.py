"""Jensen-Shannon divergence consistency loss of AugMix (Hendrycks et al., 2020), MindCV's class."""
from typing import Optional

from mindspore import Tensor, nn, ops

from .cross_entropy_smooth import CrossEntropySmooth

__all__ = ["JSDCrossEntropy"]


class JSDCrossEntropy(nn.LossBase):
    """For batches of ``num_splits`` equal parts (the clean images, then their augmented copies; ``aug_splits``
    3): the cross-entropy (:class:`CrossEntropySmooth`) of the clean part plus ``alpha`` times the mean KL divergence
    of each part's softmax from their mixture. In evaluation it is the cross-entropy of the whole batch."""

    def __init__(self, num_splits: int = 3, alpha: float = 12, smoothing: float = 0.1, weight: Optional[Tensor] = None,
                 reduction: str = "mean", aux_factor: float = 0.0):
        super().__init__()
        self.num_splits = num_splits
        self.alpha = alpha
        self.smoothing = smoothing
        self.weight = weight
        self.reduction = reduction
        self.cross_entropy = CrossEntropySmooth(smoothing, aux_factor, reduction, weight)

    def construct(self, logits: Tensor, labels: Tensor) -> Tensor:
        if not self.training:
            return self.cross_entropy(logits, labels)
        split = logits.shape[0] // self.num_splits
        parts = ops.split(logits, split, 0)
        loss = self.cross_entropy(parts[0], labels[:split])
        probs = [ops.softmax(part, 1) for part in parts]
        log_mixture = ops.log(ops.clamp(ops.stack(probs).mean(0), 1e-7, 1.0))
        for prob in probs:  # KL(p || mixture), averaged over the batch ("batchmean")
            loss = loss + self.alpha * (ops.xlogy(prob, prob) - prob * log_mixture).sum() / split / self.num_splits
        return loss
