"""A whole training run behind ``train.py``: run directory, built parts, resume, the loop, validation, saving."""
import json
import logging
import math
import os
from argparse import Namespace
from contextlib import contextmanager
from pathlib import Path
from typing import Dict, List

import mindspore as ms
import mindspore.dataset as ds
import numpy as np

from ..engine.distributed import all_reduce_sum, average_parameters, gather_parameters
from ..engine.evaluate import evaluate
from ..engine.tracking import Trackers, open_trackers, run_artifacts
from ..utils.checkpoint import EMA_PREFIX, weights_digest
from ..utils.errors import FileWriteError
from ..utils.fileio import describe_os_error, write_text_atomic
from ..utils.logger import log_file
from ..utils.training_curves import PlotError, plot_run
from .builder import (RunSettings, TrainingParts, build_training, check_training_data, pipeline_settings,
                      run_settings)
from .checkpoints import RANK_STATE_PREFIX, RunCheckpoints, RunDirectory, epoch_metadata
from .loop import LoopHooks, LoopPlan, LoopSettings, StepWindow, TrainingInterrupted, train_epochs
from .runtime import Runtime
from .signals import StopSignals

__all__ = ["run_training"]

_logger = logging.getLogger(__name__)


def lr_at(schedule: List[float], step: int) -> float:
    """The learning rate of (0-based) ``step``: the schedule's last one after its end."""
    return schedule[min(step, len(schedule) - 1)]


@contextmanager
def _ema_weights(parts: TrainingParts, enabled: bool):
    """Put the EMA weights into the model for the block (validation scores them), then restore the raw ones."""
    if not enabled:
        yield
        return
    raw = {p.name: p.asnumpy().copy() for p in parts.model.get_parameters()}
    ema = {p.name[len(EMA_PREFIX):]: p.asnumpy() for p in parts.step.ema_params}
    for param in parts.model.get_parameters():
        param.set_data(ms.Tensor(ema[param.name]))
    try:
        yield
    finally:
        for param in parts.model.get_parameters():
            param.set_data(ms.Tensor(raw[param.name]))


class _TrainingState:
    """What a checkpoint of the run holds, and the BN statistics the ranks keep for themselves."""

    def __init__(self, parts: TrainingParts, runtime: Runtime, ema: bool):
        self.parts, self.runtime, self.ema = parts, runtime, ema

    def entries(self) -> List[Dict]:
        """The whole training state: the step's parameters (weights, optimizer, loss scale, EMA, counters)."""
        return [{"name": p.name, "data": p} for p in self.parts.step.get_parameters()]

    def validated_weights(self) -> List[Dict]:
        """The weights validation scores, under the model's names: the EMA weights when EMA is on."""
        if self.ema:
            return [{"name": p.name[len(EMA_PREFIX):], "data": p} for p in self.parts.step.ema_params]
        return [{"name": p.name, "data": p} for p in self.parts.model.get_parameters()]

    def rank_statistics(self) -> List:
        """The parameters each rank keeps for itself: BN moving statistics (raw and EMA)."""
        frozen = [p for p in self.parts.model.get_parameters() if not p.requires_grad]
        if self.ema:
            names = {EMA_PREFIX + p.name for p in frozen}
            frozen += [p for p in self.parts.step.ema_params if p.name in names]
        return frozen

    def sync_bn_statistics(self) -> None:
        """Average BN moving statistics (raw and EMA) over the ranks in data-parallel runs."""
        if self.runtime.distributed:
            average_parameters(self.rank_statistics(), self.runtime.group_size)

    def interrupted(self) -> List[Dict]:
        """The training state mid-epoch. Data-parallel runs average BN statistics only at the end of an epoch, so
        the checkpoint holds their average (for evaluation) and every rank's own as ``rank_state.<rank>.<name>``
        (for an exact resume); the ranks keep theirs untouched."""
        entries = self.entries()
        if not self.runtime.distributed:
            return entries
        own = self.rank_statistics()
        per_rank = gather_parameters(own, self.runtime.rank, self.runtime.group_size)
        mean = {p.name: ms.Tensor(np.stack([values[i] for values in per_rank]).mean(axis=0))
                for i, p in enumerate(own)}
        entries = [dict(e, data=mean.get(e["name"], e["data"])) for e in entries]
        return entries + [{"name": f"{RANK_STATE_PREFIX}{rank}.{p.name}", "data": ms.Tensor(values[i])}
                          for rank, values in enumerate(per_rank) for i, p in enumerate(own)]


class _MetricsLog:
    """Where an epoch's metrics row goes: ``metrics.jsonl`` in the run directory (rank 0) and the trackers."""

    def __init__(self, run_dir: Path, is_main: bool):
        self.path, self.is_main = run_dir / "metrics.jsonl", is_main
        self.trackers = Trackers()  # TensorBoard and MLflow (rank 0), opened once the resumed step is known

    def write(self, row: Dict, global_step: int) -> None:
        if self.is_main:
            try:
                with open(self.path, "a", encoding="utf-8") as handle:
                    handle.write(json.dumps(row) + "\n")
            except OSError as exc:
                raise describe_os_error(exc, self.path) from exc
        self.trackers.metrics({f"epoch/{key}": value for key, value in row.items() if key != "step"}, global_step)


class _Run:
    """The hooks the loop calls: the batches of an epoch, what happens at its end (validation, metrics,
    checkpoints) and on a stop request; and the best top-1 so far."""

    def __init__(self, settings: RunSettings, runtime: Runtime, parts: TrainingParts, run_dir: Path):
        self.settings, self.runtime, self.parts = settings, runtime, parts
        self.checkpoints = RunCheckpoints(run_dir, settings.model, settings.keep_checkpoint_max,
                                          settings.save_policy, runtime.is_main)
        self.state = _TrainingState(parts, runtime, settings.ema)
        self.log = _MetricsLog(run_dir, runtime.is_main)
        self.stop = StopSignals(runtime.distributed, runtime.is_main)
        self.best_top1 = -1.0
        self.metrics: Dict[str, float] = {}

    def metadata(self, epoch: int, global_step: int) -> Dict:
        return epoch_metadata(epoch, global_step, self.parts.class_names, self.best_top1, self.settings.model,
                              self.settings.options_yaml)

    def validate(self) -> Dict[str, float]:
        with _ema_weights(self.parts, self.settings.ema):
            return evaluate(self.parts.eval_network, self.parts.val_loader, self.settings.batch_size,
                            self.runtime.distributed, progress=self.runtime.is_main, total=self.parts.val_batches)

    def epoch_end(self, epoch: int, windows: List[StepWindow], seconds: float, global_step: int) -> None:
        s, done = self.settings, epoch + 1
        self.state.sync_bn_statistics()
        finite = sum(w.finite for w in windows)
        steps = sum(w.finite + w.nonfinite for w in windows)
        row = {"epoch": done, "step": global_step, "lr": lr_at(self.parts.schedule, global_step - 1),
               "train_loss": sum(w.loss_sum for w in windows) / finite if finite else math.nan,
               "epoch_time": seconds, "images_per_second": s.batch_size * self.runtime.group_size * steps / seconds}
        top1 = None
        if self.parts.val_loader is not None and (done % s.val_interval == 0 or done == s.epochs):
            self.metrics = self.validate()
            top1 = self.metrics["top1"]
            row.update(val_top1=top1, val_top5=self.metrics["top5"], val_loss=self.metrics["loss"])
            _logger.info("epoch %d: train loss %.4f, val top-1 %.2f%%, top-5 %.2f%%, val loss %.4f (%d images), %.0f s",
                         done, row["train_loss"], top1, self.metrics["top5"], self.metrics["loss"],
                         self.metrics["num_images"], seconds)
            if top1 > self.best_top1:
                self.best_top1 = top1
                self.checkpoints.save_best(self.state.validated_weights(), self.metadata(done, global_step))
        else:
            _logger.info("epoch %d: train loss %.4f, %.0f s", done, row["train_loss"], seconds)
        self.log.write(row, global_step)
        if done % s.save_interval == 0 or done == s.epochs:
            self.checkpoints.save_epoch(self.state.entries(), self.metadata(done, global_step), done,
                                        self.parts.steps_per_epoch, top1)

    def interrupt(self, epoch: int, steps_done: int, global_step: int) -> None:
        """Save ``latest.ckpt`` mid-epoch and raise :class:`TrainingInterrupted`."""
        path = self.checkpoints.save_interrupted(self.state.interrupted(), self.metadata(epoch, global_step),
                                                 steps_done)
        name = self.stop.received or "a signal on another rank"
        raise TrainingInterrupted(f"Stopped by {name} in epoch {epoch + 1} after step {steps_done}; resume with "
                                  f"--ckpt_path {path} --resume_opt True.", self.stop.received or "SIGTERM")

    def batches(self, epoch: int):
        """Epoch ``epoch``'s batches: data order and augmentation depend only on (seed, epoch)."""
        self.parts.train_data.shard_sampler.set_epoch(epoch)
        ds.config.set_seed(self.settings.seed + epoch)
        return self.parts.train_loader.create_tuple_iterator(num_epochs=1)


def _rank0_choice(runtime: Runtime):
    """Every rank takes rank 0's value (an all-reduce of rank 0's value and zeros)."""
    if not runtime.distributed:
        return lambda value: value
    return lambda value: int(all_reduce_sum(np.array([float(value if runtime.is_main else 0)]))[0])


def run_training(c: Namespace, runtime: Runtime) -> Dict[str, float]:
    """Train as the options say; returns the last validation metrics (empty without validation).

    For the run, the ``mindcv`` loggers also write to the run directory's ``train.log``, and the data pipelines
    run with :func:`pipeline_settings`; both are put back when it ends."""
    settings = run_settings(c)
    check_training_data(c)
    run_dir = RunDirectory.open(settings.save_dir, settings.resume, settings.overwrite, runtime.is_main,
                                _rank0_choice(runtime), checkpoint=settings.checkpoint)
    log_name = "train.log" if runtime.is_main else f"train_rank{runtime.rank}.log"
    failed = True
    try:
        with log_file(run_dir.path / log_name), pipeline_settings():
            metrics = _train(settings, build_training(c, runtime), runtime, run_dir.path)
        failed = False
        return metrics
    except TrainingInterrupted:
        failed = False
        raise
    finally:
        run_dir.close(failed)


def _train(s: RunSettings, parts: TrainingParts, runtime: Runtime, run_dir: Path) -> Dict[str, float]:
    run = _Run(s, runtime, parts, run_dir)
    start_epoch, resume_steps, global_step = 0, 0, 0
    if s.resume:
        state = run.checkpoints.resume(s.checkpoint, parts.step, parts.model, runtime.rank)
        start_epoch, resume_steps, global_step = state.epoch, state.step_in_epoch, state.global_step
        run.best_top1 = state.best_top1
    if runtime.is_main:
        write_text_atomic(run_dir / "config.yaml", s.options_yaml)
    _logger.info("Training %s on %s: %d steps per epoch, epochs %d-%d, batch %d x %d device(s); rank %d, pid %d; "
                 "run directory %s.", s.model, runtime.device_target, parts.steps_per_epoch, start_epoch + 1,
                 s.epochs, s.batch_size, runtime.group_size, runtime.rank, os.getpid(), run_dir)
    if start_epoch >= s.epochs:
        _logger.info("Nothing to train: the checkpoint already finished epoch %d of %d.", start_epoch, s.epochs)
        return {}
    trackers = open_trackers(run_dir, global_step, s.options, **s.tracking) if runtime.is_main else Trackers()
    run.log.trackers = trackers
    hooks = LoopHooks(epoch_end=run.epoch_end, interrupt=run.interrupt,
                      lr=lambda step: lr_at(parts.schedule, step), reading=trackers.metrics)
    plan = LoopPlan(range(start_epoch, s.epochs), parts.steps_per_epoch, resume_steps, global_step)
    settings = LoopSettings(s.log_interval, s.max_nonfinite_steps, s.batch_size * runtime.group_size,
                            runtime.is_main)
    status = "FAILED"
    try:
        train_epochs(parts.step, run.batches, plan, hooks, run.stop, settings)
        _logger.info("rank %d final weights sha256 %s", runtime.rank, weights_digest(parts.model))
        if runtime.is_main:
            _plot(run_dir)
            trackers.artifacts(run_artifacts(run_dir))
        status = "FINISHED"
    except TrainingInterrupted:
        status = "KILLED"
        raise
    finally:
        trackers.close(status)
    return run.metrics


def _plot(run_dir: Path) -> None:
    try:
        _logger.info("Training curves: %s", plot_run(run_dir))
    except (PlotError, FileWriteError) as exc:
        _logger.info("No training plot: %s", exc)
