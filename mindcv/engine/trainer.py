"""The training loop behind ``train.py``: build everything from the config, train, validate, checkpoint."""
import hashlib
import json
import logging
import math
import os
import signal
import time
from argparse import Namespace
from pathlib import Path
from typing import Dict, List, Optional

import mindspore as ms
import mindspore.dataset as ds
import numpy as np
import yaml
from mindspore import nn
from tqdm import tqdm

from ..data import create_dataset, create_loader, create_transforms
from ..loss import create_loss
from ..models import create_model
from ..models.builder import load_weights
from ..models.xception import MIN_INPUT_SIZE
from ..optim import create_optimizer
from ..scheduler import create_scheduler
from ..utils.checkpoint import CheckpointError, checkpoint_metadata, read_checkpoint, save_checkpoint_atomic
from ..utils.config import save_config
from .evaluate import all_reduce_sum, evaluate
from .runtime import Runtime
from .train_step import TrainStep, create_loss_scale

__all__ = ["Trainer", "TrainingStopped", "TrainingInterrupted"]

_logger = logging.getLogger(__name__)


class TrainingStopped(RuntimeError):
    """Training cannot go on (for example, too many non-finite losses in a row)."""


class TrainingInterrupted(RuntimeError):
    """SIGTERM / Ctrl-C stopped training after saving a resumable checkpoint."""


def _transforms(config: Namespace, is_training: bool) -> list:
    return create_transforms(config.dataset, is_training, image_resize=config.image_resize, scale=config.scale,
                             ratio=config.ratio, hflip=config.hflip, vflip=config.vflip,
                             color_jitter=config.color_jitter, interpolation=config.interpolation,
                             auto_augment=config.auto_augment, mean=config.mean, std=config.std,
                             re_prob=config.re_prob, re_value=config.re_value, crop_pct=config.crop_pct)


def build_val_loader(config: Namespace, runtime: Runtime):
    """Validation loader: every image once, this rank's disjoint shard."""
    dataset = create_dataset(config.dataset, config.data_dir, config.val_split, shuffle=False,
                             num_samples=config.val_num_samples, num_shards=runtime.group_size,
                             shard_id=runtime.rank, num_parallel_workers=config.num_parallel_workers,
                             equal_shards=False)
    loader = create_loader(dataset, config.batch_size, drop_remainder=False, is_training=False,
                           num_classes=config.num_classes, transform=_transforms(config, False),
                           num_parallel_workers=config.num_parallel_workers)
    return loader, dataset.class_names


def _newest_good_checkpoint(bad: Path) -> str:
    """A sentence naming the newest readable checkpoint beside ``bad`` (or saying there is none)."""
    candidates = sorted((p for p in bad.parent.glob("*.ckpt") if p.resolve() != bad.resolve()),
                        key=lambda p: p.stat().st_mtime, reverse=True)
    for candidate in candidates:
        try:
            if "mindcv_meta.epoch" in read_checkpoint(candidate):
                return f"The newest good checkpoint there is {candidate}."
        except CheckpointError:
            continue
    return f"No other readable training checkpoint is in {bad.parent}."


class Trainer:
    """Owns the model, optimizer, train step, loaders and run directory of one training run."""

    def __init__(self, config: Namespace, runtime: Runtime):
        if config.image_resize < MIN_INPUT_SIZE:
            raise ValueError(f"image_resize {config.image_resize} is below Xception's minimum input of "
                             f"{MIN_INPUT_SIZE} pixels.")
        self.config = config
        self.runtime = runtime
        self.run_dir = Path(config.ckpt_save_dir)
        self.mixing = config.mixup > 0 or config.cutmix > 0
        self.accumulate = max(1, config.gradient_accumulation_steps)
        self.start_epoch = 0
        self.resume_steps = 0
        self.stop_signal: Optional[str] = None
        self.best_top1 = -1.0
        self.saved: List[Dict] = []
        self._build_data()
        self._build_model()
        self._build_step()

    # construction ---------------------------------------------------------------------------------
    def _build_data(self) -> None:
        c, rt = self.config, self.runtime
        self.train_dataset = create_dataset(c.dataset, c.data_dir, c.train_split, shuffle=c.shuffle,
                                            num_samples=c.num_samples, num_shards=rt.group_size, shard_id=rt.rank,
                                            num_parallel_workers=c.num_parallel_workers, seed=c.seed)
        self.class_names = self.train_dataset.class_names
        if len(self.class_names) != c.num_classes:
            raise ValueError(f"The data set has {len(self.class_names)} classes but num_classes is {c.num_classes}; "
                             f"set --num_classes {len(self.class_names)}.")
        self.train_loader = create_loader(self.train_dataset, c.batch_size, drop_remainder=c.drop_remainder,
                                          is_training=True, mixup=c.mixup, cutmix=c.cutmix,
                                          cutmix_prob=c.cutmix_prob, num_classes=c.num_classes,
                                          label_smoothing=c.label_smoothing, transform=_transforms(c, True),
                                          num_parallel_workers=c.num_parallel_workers)
        self.steps_per_epoch = self.train_loader.get_dataset_size()
        if self.steps_per_epoch < self.accumulate:
            raise ValueError(f"{self.steps_per_epoch} steps per epoch is fewer than gradient_accumulation_steps "
                             f"{self.accumulate}.")
        self.val_loader = None
        if c.val_while_train:
            self.val_loader, val_classes = build_val_loader(c, rt)
            if val_classes != self.class_names:
                raise ValueError("Validation classes differ from training classes.")

    def _build_model(self) -> None:
        c = self.config
        pretrained_ckpt = "" if c.resume_opt else c.ckpt_path
        self.model = create_model(c.model, pretrained=c.pretrained, num_classes=c.num_classes,
                                  in_channels=c.in_channels, checkpoint_path=pretrained_ckpt, drop_rate=c.drop_rate,
                                  bn_momentum=c.bn_momentum)
        if self.runtime.distributed:
            self._average_over_ranks(list(self.model.get_parameters()))
        if c.amp_level != "O0":
            ms.amp.auto_mixed_precision(self.model, c.amp_level)

    def _average_over_ranks(self, params: List[ms.Parameter]) -> None:
        """Replace ``params`` by their mean over the ranks: identical start weights whatever the seeds, and
        identical BN statistics (each rank collects its own) before validation and checkpoints."""
        flat = np.concatenate([p.asnumpy().astype(np.float32).ravel() for p in params])
        mean = all_reduce_sum(flat) / self.runtime.group_size
        offset = 0
        for param in params:
            size = int(np.prod(param.shape))
            param.set_data(ms.Tensor(mean[offset: offset + size].reshape(param.shape).astype(np.float32)))
            offset += size

    def _sync_bn_statistics(self) -> None:
        """Average BN moving statistics (raw and EMA) over the ranks in data-parallel runs."""
        if not self.runtime.distributed:
            return
        frozen = [p for p in self.model.get_parameters() if not p.requires_grad]
        if self.config.ema:
            names = {f"ema.{p.name}" for p in frozen}
            frozen += [p for p in self.step.ema_params if p.name in names]
        self._average_over_ranks(frozen)

    def _build_step(self) -> None:
        c = self.config
        updates_per_epoch = self.steps_per_epoch // self.accumulate
        self.lr_schedule = create_scheduler(updates_per_epoch, c.scheduler, lr=c.lr, min_lr=c.min_lr,
                                            warmup_epochs=c.warmup_epochs, warmup_factor=c.warmup_factor,
                                            decay_epochs=c.decay_epochs, decay_rate=c.decay_rate,
                                            milestones=[int(m) for m in c.milestones], num_epochs=c.epoch_size,
                                            lr_epoch_stair=c.lr_epoch_stair)
        self.optimizer = create_optimizer(self.model.trainable_params(), c.opt, self.lr_schedule,
                                          weight_decay=c.weight_decay, momentum=c.momentum,
                                          nesterov=c.use_nesterov, weight_decay_filter=c.weight_decay_filter,
                                          eps=c.eps)
        loss = create_loss(c.loss, 0.0 if self.mixing else c.label_smoothing)
        scale = create_loss_scale(c.loss_scale_type, c.loss_scale, c.drop_overflow_update, c.amp_level)
        self.step = TrainStep(nn.WithLossCell(self.model, loss), self.optimizer, scale, model=self.model,
                              clip_grad=c.clip_grad, clip_value=c.clip_value, accumulate_steps=self.accumulate,
                              ema=c.ema, ema_decay=c.ema_decay)
        self.step.set_train(True)

    # checkpoints ----------------------------------------------------------------------------------
    def _global_step(self) -> int:
        return int(self.optimizer.global_step.asnumpy().item())

    def _metadata(self, epoch: int) -> Dict:
        return {"epoch": epoch, "global_step": self._global_step(),
                "class_names": json.dumps(self.class_names), "best_top1": float(self.best_top1),
                "model": self.config.model, "config": yaml.safe_dump(vars(self.config), sort_keys=False)}

    def _entries(self) -> List[Dict]:
        return [{"name": p.name, "data": p} for p in self.step.get_parameters()]

    def save(self, epoch: int, top1: Optional[float]) -> Optional[Path]:
        """Save the resumable state after ``epoch`` epochs, then apply the keep policy (rank 0 only)."""
        if not self.runtime.is_main:
            return None
        c = self.config
        path = self.run_dir / f"{c.model}-{epoch}_{self.steps_per_epoch}.ckpt"
        save_checkpoint_atomic(self._entries(), path, self._metadata(epoch))
        # latest.ckpt is the same file: a hard link renamed into place, not a second serialisation.
        link = self.run_dir / f".latest.tmp{os.getpid()}.ckpt"
        link.unlink(missing_ok=True)
        os.link(path, link)
        os.replace(link, self.run_dir / "latest.ckpt")
        self.saved.append({"path": path, "epoch": epoch, "top1": top1 if top1 is not None else -1.0})
        key = (lambda r: r["top1"]) if c.ckpt_save_policy == "top_k" else (lambda r: r["epoch"])
        keep = sorted(self.saved, key=key, reverse=True)[: c.keep_checkpoint_max]
        for record in self.saved:
            if record not in keep:
                record["path"].unlink(missing_ok=True)
        self.saved = [r for r in self.saved if r in keep]
        return path

    def _save_best(self, epoch: int) -> None:
        """``best.ckpt`` holds the weights validation scored (the EMA weights when EMA is on)."""
        if not self.runtime.is_main:
            return
        if self.config.ema:
            entries = [{"name": p.name[len("ema."):], "data": p} for p in self.step.ema_params]
        else:
            entries = [{"name": p.name, "data": p} for p in self.model.get_parameters()]
        save_checkpoint_atomic(entries, self.run_dir / "best.ckpt", self._metadata(epoch))

    def resume(self, path: str) -> None:
        """Restore weights, optimizer state, step, epoch, loss scale and EMA from a checkpoint of ``save``."""
        try:
            state = read_checkpoint(path)
        except CheckpointError as exc:
            raise CheckpointError(f"{exc} {_newest_good_checkpoint(Path(path))}") from None
        meta = checkpoint_metadata(state)
        if "epoch" not in meta:
            raise CheckpointError(f"{path} has no training metadata (mindcv_meta.epoch); it is not a resumable "
                                  "checkpoint of train.py. Use --ckpt_path without --resume_opt to fine-tune.")
        params = {p.name: p for p in self.step.get_parameters()}
        missing = sorted(set(params) - set(state))
        if missing:
            raise CheckpointError(f"{path} lacks {len(missing)} training-state entries (e.g. {missing[:5]}); "
                                  "resume with the same optimizer, ema and accumulation settings.")
        load_weights(self.model, dict(state), f"checkpoint {path}", adapt_head=False)
        # The schedule itself comes from the current config (epochs may have been extended); the restored
        # global step positions it.
        restored = {k: v for k, v in state.items() if k in params and k != "learning_rate"}
        not_loaded, _ = ms.load_param_into_net(self.step, restored)
        not_loaded = [k for k in not_loaded if k != "learning_rate"]
        if not_loaded:
            raise CheckpointError(f"{path}: could not restore {not_loaded[:5]}")
        self.start_epoch = int(meta["epoch"])
        self.resume_steps = int(meta.get("step_in_epoch", 0))
        self.best_top1 = float(meta.get("best_top1", -1.0))
        _logger.info("Resumed from %s: %d epochs and %d steps done, global step %d.", path, self.start_epoch,
                     self.resume_steps, self._global_step())

    # loop -----------------------------------------------------------------------------------------
    def _validate(self) -> Dict[str, float]:
        if not self.config.ema:
            return evaluate(self.model, self.val_loader, self.config.batch_size, self.runtime.distributed)
        raw = {p.name: p.asnumpy().copy() for p in self.model.get_parameters()}
        ema = {p.name[len("ema."):]: p.asnumpy() for p in self.step.ema_params}
        for param in self.model.get_parameters():
            param.set_data(ms.Tensor(ema[param.name]))
        try:
            return evaluate(self.model, self.val_loader, self.config.batch_size, self.runtime.distributed)
        finally:
            for param in self.model.get_parameters():
                param.set_data(ms.Tensor(raw[param.name]))

    def _write_metrics(self, row: Dict) -> None:
        if self.runtime.is_main:
            with open(self.run_dir / "metrics.jsonl", "a") as handle:
                handle.write(json.dumps(row) + "\n")

    def _install_signal_handlers(self) -> None:
        def request_stop(signum, _frame):
            self.stop_signal = signal.Signals(signum).name
            _logger.warning("%s received: saving a resumable checkpoint after the current step.",
                            self.stop_signal)

        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, request_stop)

    def _stop_requested(self) -> bool:
        wanted = self.stop_signal is not None
        if self.runtime.distributed:
            wanted = bool(all_reduce_sum(np.array([float(wanted)]))[0] > 0)
        return wanted

    def _interrupt(self, epoch: int, steps_done: int) -> None:
        """Save ``latest.ckpt`` mid-epoch and raise :class:`TrainingInterrupted`."""
        path = self.run_dir / "latest.ckpt"
        self._sync_bn_statistics()
        if self.runtime.is_main:
            meta = self._metadata(epoch)
            meta["step_in_epoch"] = steps_done
            save_checkpoint_atomic(self._entries(), path, meta)
        raise TrainingInterrupted(f"Stopped by {self.stop_signal or 'a signal on another rank'} in epoch {epoch + 1} "
                                  f"after step {steps_done}; resume with --ckpt_path {path} --resume_opt True.")

    def train(self) -> Dict[str, float]:
        """Run the remaining epochs; returns the last validation metrics (empty without validation).

        Each epoch gets a fresh iterator whose data order and augmentation seed depend only on
        (seed, epoch), so a run resumed at an epoch boundary sees the same data as an uninterrupted run.
        SIGTERM / Ctrl-C save a resumable checkpoint at the next step boundary.
        """
        c = self.config
        if self.runtime.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            save_config(c, self.run_dir / "config.yaml")
        if self.start_epoch >= c.epoch_size:
            _logger.info("Nothing to train: the checkpoint already finished epoch %d of %d.", self.start_epoch,
                         c.epoch_size)
            return {}
        self._install_signal_handlers()
        batch = c.batch_size * self.runtime.group_size
        metrics: Dict[str, float] = {}
        nonfinite = 0
        for epoch in range(self.start_epoch, c.epoch_size):
            skip = self.resume_steps if epoch == self.start_epoch else 0
            self.train_dataset.shard_sampler.set_epoch(epoch)
            ds.config.set_seed(c.seed + epoch)
            iterator = self.train_loader.create_tuple_iterator(num_epochs=1)
            self.model.set_train(True)
            self.step.set_train(True)
            start, losses = time.perf_counter(), []
            bar = tqdm(total=self.steps_per_epoch, initial=skip, desc=f"epoch {epoch + 1}/{c.epoch_size}",
                       unit="step", disable=not self.runtime.is_main)
            for index, (images, labels) in enumerate(iterator):
                if index < skip:  # resumed mid-epoch: replay the data order (and augmentation) of these steps
                    continue
                loss, overflow, _ = self.step(images, labels)
                loss_value = float(loss.asnumpy())
                if not math.isfinite(loss_value):
                    nonfinite += 1
                    if nonfinite >= c.max_nonfinite_steps:
                        raise TrainingStopped(f"Loss was non-finite for {nonfinite} consecutive steps (epoch "
                                              f"{epoch + 1}, step {index + 1}); stopping. Lower the lr or enable "
                                              "loss_scale_type dynamic; the last checkpoint is intact.")
                else:
                    nonfinite = 0
                    losses.append(loss_value)
                step_no = self._global_step()
                lr = self.lr_schedule[min(step_no, len(self.lr_schedule) - 1)]
                rate = batch * (index + 1 - skip) / (time.perf_counter() - start)
                bar.set_postfix(loss=f"{loss_value:.4f}", lr=f"{lr:.2e}", img_s=f"{rate:.1f}")
                bar.update(1)
                if (index + 1) % c.log_interval == 0:
                    _logger.info("epoch %d step %d/%d loss %.4f lr %.3e %.1f img/s%s", epoch + 1, index + 1,
                                 self.steps_per_epoch, loss_value, lr, rate, " overflow" if bool(overflow) else "")
                if self._stop_requested():
                    bar.close()
                    self._interrupt(epoch, index + 1)
            bar.close()
            epoch_time = time.perf_counter() - start
            self._sync_bn_statistics()
            row = {"epoch": epoch + 1, "step": self._global_step(), "lr": lr,
                   "train_loss": float(np.mean(losses)) if losses else float("nan"), "epoch_time": epoch_time,
                   "images_per_second": batch * (self.steps_per_epoch - skip) / epoch_time}
            top1 = None
            if self.val_loader is not None and ((epoch + 1) % c.val_interval == 0 or epoch + 1 == c.epoch_size):
                metrics = self._validate()
                top1 = metrics["top1"]
                row.update(val_top1=metrics["top1"], val_top5=metrics["top5"], val_loss=metrics["loss"])
                _logger.info("epoch %d: train loss %.4f, val top-1 %.2f%%, top-5 %.2f%%, val loss %.4f (%d images), "
                             "%.0f s", epoch + 1, row["train_loss"], metrics["top1"], metrics["top5"],
                             metrics["loss"], metrics["num_images"], epoch_time)
                if top1 > self.best_top1:
                    self.best_top1 = top1
                    self._save_best(epoch + 1)
            else:
                _logger.info("epoch %d: train loss %.4f, %.0f s", epoch + 1, row["train_loss"], epoch_time)
            self._write_metrics(row)
            if (epoch + 1) % c.ckpt_save_interval == 0 or epoch + 1 == c.epoch_size:
                self.save(epoch + 1, top1)
        _logger.info("rank %d final weights sha256 %s", self.runtime.rank, self.weights_digest())
        if self.runtime.is_main:
            self._plot()
        return metrics

    def _plot(self) -> None:
        from ..plot import PlotError, plot_run

        try:
            _logger.info("Training curves: %s", plot_run(self.run_dir))
        except PlotError as exc:
            _logger.info("No training plot: %s", exc)

    def weights_digest(self) -> str:
        """sha256 of every model parameter's bytes: equal on all ranks when data parallelism is correct."""
        digest = hashlib.sha256()
        for param in self.model.get_parameters():
            digest.update(param.name.encode())
            digest.update(np.ascontiguousarray(param.asnumpy()).tobytes())
        return digest.hexdigest()
