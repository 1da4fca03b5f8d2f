"""The epoch loop: steps, periodic reading of the step statistics, stop requests and per-epoch hooks.

The loop never waits for the device after a step: losses and non-finite counts accumulate on the device
(in the train step) and are read every ``log_interval`` steps and at the end of each epoch; the step count
is kept on the host. SIGTERM and Ctrl-C are checked after every step (data-parallel ranks agree on it with one
all-reduce of a flag about every half second; see :mod:`.signals`), so a stop saves within a step (plus half a
second) and one checkpoint write.
"""
import logging
import math
import time
from dataclasses import dataclass
from typing import Callable, Dict, Iterable, List

from tqdm import tqdm

from ..utils.errors import MindcvError
from .signals import StopSignals

__all__ = ["train_epochs", "TrainingStopped", "TrainingInterrupted", "StepWindow", "LoopHooks", "LoopPlan",
           "LoopSettings"]

_logger = logging.getLogger(__name__)


class TrainingStopped(MindcvError):
    """Training cannot go on (for example, too many non-finite losses in a row)."""


class TrainingInterrupted(Exception):
    """SIGTERM / Ctrl-C stopped training after saving a resumable checkpoint (``signal_name`` says which)."""

    def __init__(self, message: str, signal_name: str):
        super().__init__(message)
        self.signal_name = signal_name


@dataclass
class StepWindow:
    """The step statistics accumulated on the device since the last reading."""
    loss_sum: float
    finite: float
    nonfinite: float
    nonfinite_run: float
    skipped: float

    @classmethod
    def read(cls, step) -> "StepWindow":
        """Read (one device synchronisation) and reset the train step's counters."""
        names = ("stat_loss_sum", "stat_finite", "stat_nonfinite", "stat_nonfinite_run", "stat_skipped")
        values = [float(getattr(step, name).asnumpy()) for name in names]
        for name in names[:3] + names[4:]:
            getattr(step, name).set_data(getattr(step, name) * 0)
        return cls(*values)


@dataclass
class LoopHooks:
    """What the loop calls: ``epoch_end(epoch, losses, seconds, global_step)`` and ``interrupt(epoch, steps_done,
    global_step)`` (saves and raises :class:`TrainingInterrupted`); ``lr(global_step)`` for the log;
    ``reading({"train/loss": ..., "train/lr": ..., "train/images_per_second": ...}, global_step)`` at each reading
    of the step statistics (the trackers)."""
    epoch_end: Callable
    interrupt: Callable
    lr: Callable[[int], float]
    reading: Callable[[Dict[str, float], int], None] = lambda values, global_step: None


@dataclass
class LoopPlan:
    """Which steps to run: ``epochs`` of ``steps_per_epoch`` steps, the first epoch resumed after
    ``resume_steps``, global steps counted from ``global_step``."""
    epochs: range
    steps_per_epoch: int
    resume_steps: int = 0
    global_step: int = 0


@dataclass
class LoopSettings:
    """How to run them: read the step statistics every ``log_interval`` steps, stop after ``max_nonfinite``
    non-finite losses in a row, count ``global_batch`` images per step for the rate, show a progress bar."""
    log_interval: int = 100
    max_nonfinite: int = 10
    global_batch: int = 1
    show_progress: bool = True


def train_epochs(step, batches: Callable[[int], Iterable], plan: LoopPlan, hooks: LoopHooks, stop: StopSignals,
                 settings: LoopSettings) -> int:
    """Run the steps of ``plan``; returns the global step. ``batches(epoch)`` yields that epoch's
    ``(images, labels)`` in the same order every time."""
    stop.arm()
    try:
        return _epochs(step, batches, plan, hooks, stop, settings)
    finally:
        stop.disarm()


def _epochs(step, batches, plan: LoopPlan, hooks: LoopHooks, stop: StopSignals, settings: LoopSettings) -> int:
    epochs, steps_per_epoch, resume_steps, global_step = (plan.epochs, plan.steps_per_epoch, plan.resume_steps,
                                                           plan.global_step)
    log_interval, max_nonfinite, global_batch = settings.log_interval, settings.max_nonfinite, settings.global_batch
    show_progress = settings.show_progress
    for epoch in epochs:
        skip = resume_steps if epoch == epochs.start else 0
        StepWindow.read(step)  # start the epoch's statistics from zero
        losses: List[StepWindow] = []
        start = time.perf_counter()
        bar = tqdm(total=steps_per_epoch, initial=skip, desc=f"epoch {epoch + 1}/{epochs.stop}", unit="step",
                   disable=not show_progress)
        for index, (images, labels) in enumerate(batches(epoch) if skip < steps_per_epoch else ()):
            if index < skip:  # resumed mid-epoch: replay the data order (and augmentation) of these steps
                continue
            step(images, labels)
            global_step += 1
            bar.update(1)
            done = index + 1
            reading = done % log_interval == 0 or done == steps_per_epoch
            if reading:
                losses.append(StepWindow.read(step))
                window = losses[-1]
                mean = window.loss_sum / window.finite if window.finite else math.nan
                rate = global_batch * (done - skip) / (time.perf_counter() - start)
                bar.set_postfix(loss=f"{mean:.4f}", lr=f"{hooks.lr(global_step - 1):.2e}", img_s=f"{rate:.1f}")
                _logger.info("epoch %d step %d/%d loss %.4f lr %.3e %.1f img/s%s", epoch + 1, done, steps_per_epoch,
                             mean, hooks.lr(global_step - 1), rate,
                             f" ({int(window.skipped)} updates skipped: overflow)" if window.skipped else "")
                hooks.reading({"train/loss": mean, "train/lr": hooks.lr(global_step - 1),
                               "train/images_per_second": rate}, global_step)
                if window.nonfinite_run >= max_nonfinite or (done == steps_per_epoch and window.nonfinite_run):
                    raise TrainingStopped(f"Loss was non-finite in {int(window.nonfinite_run)} consecutive step(s) "
                                          f"(epoch {epoch + 1}, step {done}); stopping before saving anything. Lower "
                                          "the lr or enable loss_scale_type dynamic; the last checkpoint is intact.")
            if index == skip:
                stop.arm()  # after the first compiled step, whose compilation took over SIGINT
            if stop.requested():
                bar.close()
                hooks.interrupt(epoch, done, global_step)
        bar.close()
        hooks.epoch_end(epoch, losses, time.perf_counter() - start, global_step)
    return global_step
