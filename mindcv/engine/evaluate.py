"""Evaluation: top-1 / top-5 / loss over a loader, every image counted exactly once (across ranks too)."""
import time
from typing import Dict

import mindspore as ms
import numpy as np
from mindspore import nn, ops
from tqdm import tqdm

__all__ = ["evaluate", "all_reduce_sum"]


class _AllReduceSum(nn.Cell):
    def __init__(self):
        super().__init__()
        self.reduce = ops.AllReduce()

    def construct(self, x):
        return self.reduce(x)


def all_reduce_sum(values: np.ndarray) -> np.ndarray:
    """Sum a float vector over all ranks (float32: the CPU backend reduces nothing else)."""
    return _AllReduceSum()(ms.Tensor(values.astype(np.float32))).asnumpy().astype(np.float64)


def _softmax_cross_entropy(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return -log_probs[np.arange(len(labels)), labels]


def evaluate(model: nn.Cell, loader, batch_size: int, distributed: bool = False, progress: bool = True,
             desc: str = "validate") -> Dict[str, float]:
    """Top-1/top-5 accuracy (%), mean cross-entropy, image count and images/s of ``model`` on ``loader``.

    The last, smaller batch is padded to ``batch_size`` for the forward pass (one compiled shape) and the
    padding is excluded from every metric. With ``distributed`` the sums are all-reduced across ranks.
    """
    model.set_train(False)
    sums = np.zeros(4)  # correct top-1, correct top-5, loss sum, images
    start = time.perf_counter()
    total = loader.get_dataset_size()
    with tqdm(total=total, desc=desc, unit="batch", disable=not progress, leave=False) as bar:
        for images, labels in loader.create_tuple_iterator(num_epochs=1, output_numpy=True):
            count = len(labels)
            if count < batch_size:
                images = np.concatenate([images, np.zeros((batch_size - count,) + images.shape[1:], images.dtype)])
            logits = model(ms.Tensor(images)).asnumpy()[:count].astype(np.float64)
            top5 = np.argsort(-logits, axis=1)[:, :5]
            sums += [np.sum(top5[:, 0] == labels), np.sum((top5 == labels[:, None]).any(axis=1)),
                     _softmax_cross_entropy(logits, labels).sum(), count]
            bar.update(1)
    elapsed = time.perf_counter() - start
    if distributed:
        sums = all_reduce_sum(sums)
    images_seen = max(sums[3], 1)
    return {"top1": 100.0 * sums[0] / images_seen, "top5": 100.0 * sums[1] / images_seen,
            "loss": sums[2] / images_seen, "num_images": int(sums[3]),
            "images_per_second": sums[3] / elapsed if elapsed > 0 else 0.0}
