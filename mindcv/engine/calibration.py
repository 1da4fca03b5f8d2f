"""How well a classifier's probabilities match its accuracy, and the temperature that makes them match.

The expected calibration error (ECE) bins the images by their top-1 probability (``ECE_BINS`` equal bins of
[0, 1]) and averages, weighted by the bins' sizes, the gap between each bin's mean probability and its accuracy:
0 for a classifier whose "80% sure" is right 80% of the time. Temperature scaling (Guo et al., "On Calibration of
Modern Neural Networks", ICML 2017) divides the logits by one number T fitted to minimise the negative
log-likelihood (NLL) of a labelled set: the ranking of the classes, hence top-1/top-5, is unchanged.

Callers: :func:`~mindcv.engine.evaluate.evaluate` adds each batch's :func:`calibration_sums` (summed over ranks,
so every image counts once) and fits the temperature with :func:`fit_temperature`; ``validate.py`` reports both,
stores the temperature in the checkpoint and draws :func:`plot_reliability`; ``predict`` divides by it.
"""
import math
from pathlib import Path
from typing import Callable, Dict

import numpy as np

from ..utils.fileio import atomic_path
from ..utils.scores import log_softmax
from ..utils.suggest import install_hint
from ..utils.training_curves import PlotError

__all__ = ["ECE_BINS", "calibration_sums", "calibration_metrics", "fit_temperature",
           "plot_reliability", "TEMPERATURE_RANGE", "at_range_edge"]

ECE_BINS = 15
TEMPERATURE_RANGE = (0.05, 20.0)  # the fitted temperature lies in here (a wider one means broken logits)
FIT_STEPS = 48  # golden-section steps on log T: the bracket ends 0.618**48 (~1e-10) of its width wide


def calibration_sums(logits: np.ndarray, labels: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """The sums a set's NLL and ECE are made of, for ``logits / temperature``: the NLL sum, then per bin the image
    count, the sum of top-1 probabilities and the number right (``1 + 3 * ECE_BINS`` values; sums of batches, or
    of ranks, are the sums of the whole set)."""
    log_probs = log_softmax(np.asarray(logits, np.float64) / temperature)
    nll = 0.0 - log_probs[np.arange(len(labels)), labels].sum()  # (0.0 - : never -0.0)
    confidence = np.exp(log_probs.max(axis=1))
    correct = (log_probs.argmax(axis=1) == labels).astype(np.float64)
    bins = np.minimum((confidence * ECE_BINS).astype(np.int64), ECE_BINS - 1)  # bin b: [b/15, (b+1)/15)
    per_bin = [np.bincount(bins, weights=w, minlength=ECE_BINS) for w in (None, confidence, correct)]
    return np.concatenate([[nll], *per_bin])


def calibration_metrics(sums: np.ndarray) -> Dict:
    """NLL (mean), ECE (%) and the reliability table (per bin: images, mean probability, accuracy) of the sums."""
    count, confidence, correct = sums[1:].reshape(3, ECE_BINS)
    total = count.sum()
    shown = count > 0
    return {"nll": float(sums[0] / total), "ece": float(100.0 * np.abs(confidence - correct).sum() / total),
            "reliability": {"images": count.astype(int).tolist(),
                            "confidence": np.where(shown, confidence / np.maximum(count, 1), np.nan).tolist(),
                            "accuracy": np.where(shown, correct / np.maximum(count, 1), np.nan).tolist()}}


def fit_temperature(nll_sum_at: Callable[[float], float]) -> float:
    """The temperature in ``TEMPERATURE_RANGE`` minimising ``nll_sum_at(T)`` (convex in 1/T), by golden-section
    search on log T: a fixed sequence of evaluations, so data-parallel ranks that all-reduce each one agree."""
    low, high = (math.log(t) for t in TEMPERATURE_RANGE)
    ratio = (math.sqrt(5.0) - 1.0) / 2.0
    a, b = high - ratio * (high - low), low + ratio * (high - low)
    value_a, value_b = nll_sum_at(math.exp(a)), nll_sum_at(math.exp(b))
    for _ in range(FIT_STEPS):
        if value_a <= value_b:
            high, b, value_b = b, a, value_a
            a = high - ratio * (high - low)
            value_a = nll_sum_at(math.exp(a))
        else:
            low, a, value_a = a, b, value_b
            b = low + ratio * (high - low)
            value_b = nll_sum_at(math.exp(b))
    return math.exp((low + high) / 2.0)


def at_range_edge(temperature: float) -> bool:
    """Whether a fitted temperature stopped at an end of ``TEMPERATURE_RANGE`` (the set cannot pin it down: all
    images right, say, where sharper is always better)."""
    return any(abs(math.log(temperature / edge)) < 0.01 for edge in TEMPERATURE_RANGE)


def plot_reliability(before: Dict, after: Dict, output: Path, title: str = "") -> Path:
    """A reliability diagram (accuracy against mean probability per bin, before and after temperature scaling,
    with each bin's share of the images) written atomically to ``output``."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise PlotError(f"The reliability diagram needs matplotlib: {install_hint('plot')}.") from exc
    centres = (np.arange(ECE_BINS) + 0.5) / ECE_BINS
    fig, (ax_curve, ax_share) = plt.subplots(1, 2, figsize=(10.0, 4.0), dpi=100)
    ax_curve.plot([0, 1], [0, 1], color="grey", linestyle="--", label="calibrated")
    for metrics, label in ((before, "as trained"), (after, f"T = {after['temperature']:.3f}")):
        table = metrics["reliability"]
        ax_curve.plot(table["confidence"], table["accuracy"], marker="o",
                      label=f"{label}: ECE {metrics['ece']:.2f}%, NLL {metrics['nll']:.3f}")
    ax_curve.set(xlabel="mean top-1 probability in the bin", ylabel="accuracy in the bin", xlim=(0, 1),
                 ylim=(0, 1), title="reliability")
    ax_curve.legend(loc="upper left", fontsize=8)
    width = 0.45 / ECE_BINS
    for offset, (metrics, label) in zip((-width / 2, width / 2), ((before, "as trained"), (after, "calibrated"))):
        images = np.asarray(metrics["reliability"]["images"], np.float64)
        ax_share.bar(centres + offset, images / images.sum(), width=width, label=label)
    ax_share.set(xlabel="top-1 probability", ylabel="share of the images", xlim=(0, 1), title="confidence")
    ax_share.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    with atomic_path(output, suffix=".png") as partial:
        fig.savefig(partial)
    plt.close(fig)
    return output
