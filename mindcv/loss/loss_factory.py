"""``create_loss``: cross-entropy (hard or soft targets) and binary cross-entropy, with label smoothing."""
from mindspore import Tensor, nn, ops

__all__ = ["create_loss", "CrossEntropySmooth", "BinaryCrossEntropySmooth"]


class CrossEntropySmooth(nn.LossBase):
    """Cross-entropy for class indices (with label smoothing) or soft targets (mixup / cutmix labels).

    Soft targets are used as given: smoothing for them is applied once, by the data loader.
    """

    def __init__(self, smoothing: float = 0.0):
        super().__init__()
        self.smoothing = smoothing

    def construct(self, logits: Tensor, labels: Tensor) -> Tensor:
        if labels.ndim == 1:
            return ops.cross_entropy(logits, labels, reduction="mean", label_smoothing=self.smoothing)
        return ops.mean(ops.sum(-labels * ops.log_softmax(logits, axis=-1), dim=-1))


class BinaryCrossEntropySmooth(nn.LossBase):
    """Per-class sigmoid binary cross-entropy on one-hot (smoothed) or soft targets."""

    def __init__(self, smoothing: float = 0.0):
        super().__init__()
        self.smoothing = smoothing

    def construct(self, logits: Tensor, labels: Tensor) -> Tensor:
        num_classes = logits.shape[-1]
        if labels.ndim == 1:
            off = self.smoothing / num_classes
            labels = ops.one_hot(labels, num_classes, Tensor(1.0 - self.smoothing + off, logits.dtype),
                                 Tensor(off, logits.dtype))
        labels = labels.astype(logits.dtype)
        weight = ops.ones_like(logits)
        return ops.binary_cross_entropy_with_logits(logits, labels, weight, weight, reduction="mean")


def create_loss(name: str = "CE", label_smoothing: float = 0.0) -> nn.LossBase:
    """``CE`` (cross-entropy) or ``BCE`` (binary cross-entropy), both accepting hard or soft labels."""
    if not 0.0 <= label_smoothing < 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}.")
    key = name.lower()
    if key == "ce":
        return CrossEntropySmooth(label_smoothing)
    if key == "bce":
        return BinaryCrossEntropySmooth(label_smoothing)
    raise ValueError(f"Unknown loss '{name}'; valid: CE, BCE.")
