"""Evaluation: top-1 / top-5 / loss and calibration over a loader, every image counted exactly once (across ranks
too)."""
import time
from contextlib import contextmanager, nullcontext
from typing import Callable, Dict, Iterator, Optional, Union

import mindspore as ms
import numpy as np
from mindspore import nn
from tqdm import tqdm

from ..utils.errors import DataError
from .calibration import ECE_BINS, calibration_metrics, calibration_sums, fit_temperature
from .distributed import all_reduce_sum

__all__ = ["evaluate", "eval_mode", "pad_batch"]


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
             total: Optional[int] = None, calibrate: bool = False, temperature: Optional[float] = None) -> Dict:
    """Top-1/top-5 accuracy (%), mean cross-entropy (``loss``, also ``nll``), expected calibration error (``ece``,
    %, with its ``reliability`` table), image count and images/s of ``network`` on ``loader``.

    ``network`` is a MindSpore cell, or a function from a uint8 batch to logits (an exported backend, see
    :func:`~mindcv.serving.backends.checked_on_first_batch`). For a cell the last, smaller batch is padded to
    ``batch_size`` (one compiled shape); the padding and unreadable images (label -1) are excluded from every
    metric. With ``distributed`` the sums are all-reduced across ranks. ``total`` is the number of batches (for
    the progress bar). With ``calibrate`` the logits are kept (on each rank its shard's) and a temperature is
    fitted to them (:mod:`.calibration`): ``temperature`` and the metrics at it (``calibrated``) are added. A
    given ``temperature`` (one stored by an earlier calibration) adds the metrics at it (``at_temperature``). No
    image at all is an error (an accuracy over nothing would be meaningless).
    """
    is_cell = isinstance(network, nn.Cell)
    sums = np.zeros(3 + 2 * (1 + 3 * ECE_BINS))  # correct top-1, correct top-5, images; calibration_sums at 1, at T
    kept_logits, kept_labels = [], []
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
            sums[:3] += [np.sum(top5[:, 0] == labels), np.sum((top5 == labels[:, None]).any(axis=1)), count]
            sums[3:] += np.concatenate([calibration_sums(logits, labels, t) for t in (1.0, temperature or 1.0)])
            if calibrate:
                kept_logits.append(logits.astype(np.float32))
                kept_labels.append(labels)
            bar.update(1)
    elapsed = time.perf_counter() - start
    reduce = all_reduce_sum if distributed else (lambda values: values)
    sums = reduce(sums)
    images = sums[2]
    if images == 0:
        raise DataError("Validation saw no images: the split is empty or none of its images could be read.")
    raw, at_temperature = np.split(sums[3:], 2)
    calibration = calibration_metrics(raw)
    metrics = {"top1": 100.0 * sums[0] / images, "top5": 100.0 * sums[1] / images, "loss": calibration["nll"],
               **calibration, "num_images": int(images),
               "images_per_second": images / elapsed if elapsed > 0 else 0.0}
    if temperature is not None:
        metrics["at_temperature"] = calibration_metrics(at_temperature)
    if calibrate:
        logits = np.concatenate(kept_logits) if kept_logits else np.zeros((0, 1), np.float32)
        labels = np.concatenate(kept_labels) if kept_labels else np.zeros(0, np.int64)
        temperature = fit_temperature(lambda t: float(reduce(calibration_sums(logits, labels, t)[:1])[0]))
        metrics.update(temperature=temperature,
                       calibrated=calibration_metrics(reduce(calibration_sums(logits, labels, temperature))))
    return metrics
