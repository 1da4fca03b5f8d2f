"""Evaluation: top-1 / top-5 / loss over a loader, every image counted exactly once (across ranks too)."""
import time
from contextlib import contextmanager, nullcontext
from typing import Callable, Dict, Iterator, Optional, Union

import mindspore as ms
import numpy as np
from mindspore import nn
from tqdm import tqdm

from ..utils.errors import DataError
from .distributed import all_reduce_sum

__all__ = ["evaluate", "eval_mode", "pad_batch"]


def _softmax_cross_entropy(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return -log_probs[np.arange(len(labels)), labels]


def pad_batch(images: np.ndarray, batch: int) -> np.ndarray:
    """``images`` with zero rows appended up to ``batch`` (a static batch: one compiled shape, one export)."""
    if len(images) >= batch:
        return images
    return np.concatenate([images, np.zeros((batch - len(images),) + images.shape[1:], images.dtype)])


@contextmanager
def eval_mode(network: nn.Cell) -> Iterator[None]:
    """``network`` in evaluation mode, each of its cells set back to its own mode afterwards: the model a training
    step shares with its evaluation network keeps training (in PyNative mode the flag is read at every call)."""
    modes = [(cell, cell.training, cell.phase) for _, cell in network.cells_and_names()]
    network.set_train(False)
    try:
        yield
    finally:
        for cell, training, phase in modes:
            cell.add_flags(training=training)
            cell.phase = phase


def evaluate(network: Union[nn.Cell, Callable[[np.ndarray], np.ndarray]], loader, batch_size: int,
             distributed: bool = False, progress: bool = True, desc: str = "validate",
             total: Optional[int] = None) -> Dict[str, float]:
    """Top-1/top-5 accuracy (%), mean cross-entropy, image count and images/s of ``network`` on ``loader``.

    ``network`` is a MindSpore cell, or a function from a uint8 batch to logits (an exported backend, see
    :func:`~mindcv.engine.serving.checked_on_first_batch`). For a cell the last, smaller batch is padded to
    ``batch_size`` (one compiled shape); the padding and unreadable images (label -1) are excluded from every
    metric. With ``distributed`` the sums are
    all-reduced across ranks. ``total`` is the number of batches (for the progress bar). No image at all is an
    error (an accuracy over nothing would be meaningless).
    """
    is_cell = isinstance(network, nn.Cell)
    sums = np.zeros(4)  # correct top-1, correct top-5, loss sum, images
    start = time.perf_counter()
    with eval_mode(network) if is_cell else nullcontext(), \
            tqdm(total=total, desc=desc, unit="batch", disable=not progress, leave=False) as bar:
        for images, labels in loader.create_tuple_iterator(num_epochs=1, output_numpy=True):
            count = len(labels)
            if is_cell:
                logits = network(ms.Tensor(pad_batch(images, batch_size))).asnumpy()[:count].astype(np.float64)
            else:
                logits = np.asarray(network(images), np.float64)
            readable = labels >= 0
            logits, labels, count = logits[readable], labels[readable], int(readable.sum())
            top5 = np.argsort(-logits, axis=1)[:, :5]
            sums += [np.sum(top5[:, 0] == labels), np.sum((top5 == labels[:, None]).any(axis=1)),
                     _softmax_cross_entropy(logits, labels).sum(), count]
            bar.update(1)
    elapsed = time.perf_counter() - start
    if distributed:
        sums = all_reduce_sum(sums)
    if sums[3] == 0:
        raise DataError("Validation saw no images: the split is empty or none of its images could be read.")
    return {"top1": 100.0 * sums[0] / sums[3], "top5": 100.0 * sums[1] / sums[3], "loss": sums[2] / sums[3],
            "num_images": int(sums[3]), "images_per_second": sums[3] / elapsed if elapsed > 0 else 0.0}
