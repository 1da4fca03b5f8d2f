"""Probabilities from logits, in numpy: the softmax of prediction, of the backends' agreement check and of
``decode_predictions``, and the log-softmax calibration is measured with."""
import numpy as np

__all__ = ["softmax", "log_softmax"]


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise log-softmax of a (batch, classes) array, without overflow."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of a (batch, classes) array."""
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)
