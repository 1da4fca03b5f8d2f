"""Asymmetric losses (Ridnik et al., "Asymmetric Loss For Multi-Label Classification", 2021), MindCV's classes:
focusing weights that are stronger for negatives than for positives."""
from mindspore import Tensor, nn, ops

__all__ = ["AsymmetricLossSingleLabel", "AsymmetricLossMultilabel"]


class AsymmetricLossSingleLabel(nn.LossBase):
    """One label per image: the log-softmax is weighted by ``(1 - p)^gamma_pos`` at the target class and by
    ``p^gamma_neg`` at the others, against targets smoothed by ``smoothing``. ``reduction`` ``mean`` averages
    over the batch, ``sum`` sums, ``none`` returns one loss per image. (``eps`` is accepted, unused, as in
    MindCV.)"""

    def __init__(self, gamma_pos: float = 1, gamma_neg: float = 4, eps: float = 0.1, reduction: str = "mean",
                 smoothing: float = 0.1):
        super().__init__()
        self.gamma_pos = gamma_pos
        self.gamma_neg = gamma_neg
        self.eps = eps
        self.reduction = reduction
        self.smoothing = smoothing

    def construct(self, logits: Tensor, labels: Tensor) -> Tensor:
        classes = logits.shape[-1]
        log_probs = ops.log_softmax(logits, -1)
        probs = ops.exp(log_probs)
        targets = ops.one_hot(labels, classes, Tensor(1.0, logits.dtype), Tensor(0.0, logits.dtype))
        others = 1 - targets
        focus = ops.pow(targets * (1 - probs) + others * probs, self.gamma_pos * targets + self.gamma_neg * others)
        smoothed = targets * (1 - self.smoothing) + self.smoothing / classes
        loss = -(smoothed * log_probs * focus).sum(-1)
        if self.reduction == "mean":
            return loss.mean()
        return loss.sum() if self.reduction == "sum" else loss


class AsymmetricLossMultilabel(nn.LossBase):
    """Several labels per image (``labels`` a binarised vector): sigmoid probabilities, the negatives' shifted
    up by ``clip`` (easy negatives vanish), logs clipped at ``eps``, and focusing weights ``(1 - p_t)^gamma``
    with ``gamma_pos`` for positives and ``gamma_neg`` for negatives; summed over the batch."""

    def __init__(self, gamma_neg: float = 4, gamma_pos: float = 1, clip: float = 0.05, eps: float = 1e-8):
        super().__init__()
        self.gamma_neg = gamma_neg
        self.gamma_pos = gamma_pos
        self.clip = clip
        self.eps = eps

    def construct(self, logits: Tensor, labels: Tensor) -> Tensor:
        positive = ops.sigmoid(logits)
        negative = 1 - positive
        if self.clip > 0:
            negative = ops.clamp(negative + self.clip, max=1.0)
        loss = labels * ops.log(ops.clamp(positive, min=self.eps)) \
            + (1 - labels) * ops.log(ops.clamp(negative, min=self.eps))
        if self.gamma_pos > 0 and self.gamma_neg > 0:
            p_target = positive * labels + negative * (1 - labels)
            loss = loss * ops.pow(1 - p_target, self.gamma_pos * labels + self.gamma_neg * (1 - labels))
        return -loss.sum()
