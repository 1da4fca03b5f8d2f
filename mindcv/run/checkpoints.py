"""The run directory and its checkpoints: who owns the directory, what is saved, what is kept, how to resume.

A run directory belongs to one run: ``train.py`` locks it (``.lock``, released on exit and by the holder's
death). A directory that already holds a run (its config, metrics, log or checkpoints), or that another live
process holds, is never written into silently: a fresh run goes to the first free ``<dir>-2``, ``<dir>-3``,
... beside it (and says so), unless ``overwrite`` is set; resuming writes into the checkpoint's own run.
"""
import json
import logging
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional

import mindspore as ms

from ..engine.tracking import MLFLOW_RUN_FILE, TENSORBOARD_DIR
from ..models.helpers import load_weights
from ..utils.checkpoint import TRAINING_STATE, checkpoint_metadata, read_checkpoint, save_checkpoint_atomic
from ..utils.errors import CheckpointError, ConfigError
from ..utils.fileio import RunLock, describe_os_error

__all__ = ["RunDirectory", "RunCheckpoints", "ResumeState", "RUN_FILES", "RANK_STATE_PREFIX"]

_logger = logging.getLogger(__name__)

RANK_STATE_PREFIX = "rank_state."  # + "<rank>.<name>": a rank's own BN statistics in a mid-epoch checkpoint
RUN_FILES = ("config.yaml", "metrics.jsonl", "train.log", "latest.ckpt", "best.ckpt", "plot.png", TENSORBOARD_DIR,
             MLFLOW_RUN_FILE)


def _run_of(checkpoint: Optional[str]) -> Optional[Path]:
    """The run directory a checkpoint was written in (its folder holds a run's log or configuration), if any."""
    if not checkpoint:
        return None
    folder = Path(checkpoint).expanduser().resolve().parent
    return folder if any((folder / name).exists() for name in ("config.yaml", "metrics.jsonl")) else None


def _holds_run(directory: Path) -> bool:
    if not directory.is_dir():
        return False
    return any((directory / name).exists() for name in RUN_FILES) or any(directory.glob("*.ckpt")) \
        or RunLock(directory).holder() is not None


class RunDirectory:
    """The directory this run writes into, locked for its lifetime (on the main rank)."""

    def __init__(self, path: Path, lock: Optional[RunLock], created: bool = False):
        self.path = path
        self._lock = lock
        self.created = created  # this process made the directory (nothing of another run can be in it)

    @classmethod
    def open(cls, requested: str, resuming: bool, overwrite: bool, is_main: bool,
             agree=lambda suffix: suffix, checkpoint: Optional[str] = None) -> "RunDirectory":
        """Choose and lock the run directory. ``agree`` makes every rank take the same choice (the maximum).

        A new run never writes into a directory that holds another run (it takes ``<dir>-2``, ...), unless
        ``overwrite``. A resumed run writes into the run its ``checkpoint`` came from when ``requested`` is that
        run's directory or holds another run, and into ``requested`` when it is free (a fresh directory)."""
        base = Path(requested).expanduser()
        if base.name in ("", ".", ".."):  # '.', '..', '~': name the folder itself, so '<dir>-2' is its sibling
            base = base.resolve()
        if base.exists() and not base.is_dir():
            raise ConfigError(f"ckpt_save_dir {base} is a file; choose a folder for the run.")
        origin = _run_of(checkpoint) if resuming else None
        if origin is not None and base.resolve() != origin and _holds_run(base) and not overwrite:
            _logger.warning("ckpt_save_dir %s holds another run; the resumed run continues in %s, where its "
                            "checkpoint was written.", base, origin)
            base = origin
        suffix = 0
        # A new run, or one resumed from a checkpoint from outside any run, never continues another run's directory.
        if not overwrite and (not resuming or (checkpoint and origin is None)) and _holds_run(base):
            suffix = 2
            while _holds_run(base.with_name(f"{base.name}-{suffix}")):
                suffix += 1
        suffix = agree(suffix)
        path = base if suffix == 0 else base.with_name(f"{base.name}-{suffix}")
        if suffix:
            _logger.warning("ckpt_save_dir %s holds another run; this run writes to %s (pass --overwrite True to "
                            "replace it, or --ckpt_path <its latest.ckpt> --resume_opt True to continue it).",
                            base, path)
        lock, created = None, False
        if is_main:
            created = not path.exists()
            try:
                path.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise describe_os_error(exc, path, "create the run directory") from exc
            lock = RunLock(path)
            if not lock.acquire():
                holder = lock.holder() or {}
                raise ConfigError(f"Run directory {path} is in use by another training process (pid "
                                  f"{holder.get('pid', '?')} on {holder.get('host', '?')}); wait for it, or choose "
                                  "another ckpt_save_dir.")
            _remove_stale_temporary_files(path)
            if overwrite and not resuming:
                _clear_run_files(path)
        return cls(path, lock, created)

    def close(self, failed: bool = False) -> None:
        """Unlock; after a failure before anything was saved, remove the directory this process created."""
        if self._lock is not None:
            self._lock.release()
            self._lock = None
            if failed and self.created and all(p.name in _RUN_START_FILES or
                                               (p.name.startswith("train") and p.suffix == ".log")
                                               for p in self.path.iterdir()):
                shutil.rmtree(self.path)


# written before the first step (with the logs and the trackers' records)
_RUN_START_FILES = (".lock", "config.yaml", TENSORBOARD_DIR, MLFLOW_RUN_FILE)


def _remove_stale_temporary_files(path: Path) -> None:
    """Temporary files of writes a killed process never finished (we hold the lock: nobody else writes here)."""
    for stale in path.glob(".*.tmp*"):
        stale.unlink(missing_ok=True)
        _logger.info("Removed %s, the unfinished write of an earlier, interrupted process.", stale)


def _clear_run_files(path: Path) -> None:
    removed = [p for p in path.iterdir() if p.name in RUN_FILES or p.suffix == ".ckpt"]
    for item in removed:
        shutil.rmtree(item) if item.is_dir() else item.unlink()
    if removed:
        _logger.warning("overwrite: removed %d files of the previous run in %s.", len(removed), path)


@dataclass
class ResumeState:
    epoch: int
    step_in_epoch: int
    best_top1: float
    global_step: int


def _epoch_files(run_dir: Path, model_name: str) -> List[Dict]:
    """The epoch checkpoints earlier processes of this run left (a resumed run keeps counting them for the keep
    policy), each with the validation top-1 ``metrics.jsonl`` recorded for its epoch (-1 where none)."""
    top1 = {}
    try:
        lines = (run_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    except OSError:
        lines = []
    for line in lines:
        try:
            row = json.loads(line)
        except ValueError:  # the last line of a killed run may be cut short
            continue
        if "val_top1" in row:
            top1[row["epoch"]] = row["val_top1"]
    name = re.compile(rf"{re.escape(model_name)}-(\d+)_\d+\.ckpt")
    records = []
    for path in run_dir.glob(f"{model_name}-*.ckpt") if run_dir.is_dir() else ():
        match = name.fullmatch(path.name)
        if match:
            epoch = int(match.group(1))
            records.append({"path": path, "epoch": epoch, "top1": top1.get(epoch, -1.0)})
    return sorted(records, key=lambda r: r["epoch"])


class RunCheckpoints:
    """Saves epoch checkpoints (``<model>-<epoch>_<steps>.ckpt``, ``latest.ckpt``), keeps ``keep_max`` of them by
    ``policy`` (``latest_k`` or ``top_k`` by validation top-1), saves ``best.ckpt`` and interrupted states, and
    resumes. Only the main rank writes; every write is atomic (a full disk leaves the last good file)."""

    def __init__(self, run_dir: Path, model_name: str, keep_max: int, policy: str, is_main: bool):
        self.run_dir = run_dir
        self.model_name = model_name
        self.keep_max = keep_max
        self.policy = policy
        self.is_main = is_main
        self.saved: List[Dict] = _epoch_files(run_dir, model_name) if is_main else []

    def save_epoch(self, entries: List[Dict], metadata: Dict, epoch: int, steps_per_epoch: int,
                   top1: Optional[float]) -> Optional[Path]:
        """The resumable state after ``epoch`` epochs, as an epoch file and ``latest.ckpt``; then the keep policy."""
        if not self.is_main:
            return None
        path = self.run_dir / f"{self.model_name}-{epoch}_{steps_per_epoch}.ckpt"
        save_checkpoint_atomic(entries, path, dict(metadata, kind=TRAINING_STATE))
        link = self.run_dir / f".latest.tmp{os.getpid()}.ckpt"  # latest.ckpt: the same file, not a second write
        try:
            link.unlink(missing_ok=True)
            os.link(path, link)
            os.replace(link, self.run_dir / "latest.ckpt")
        except OSError:
            link.unlink(missing_ok=True)
            shutil.copyfile(path, link)
            os.replace(link, self.run_dir / "latest.ckpt")
        self.saved = [r for r in self.saved if r["path"] != path]
        self.saved.append({"path": path, "epoch": epoch, "top1": top1 if top1 is not None else -1.0})
        key = (lambda r: r["top1"]) if self.policy == "top_k" else (lambda r: r["epoch"])
        keep = sorted(self.saved, key=key, reverse=True)[: self.keep_max]
        for record in self.saved:
            if record not in keep:
                record["path"].unlink(missing_ok=True)
        self.saved = [r for r in self.saved if r in keep]
        return path

    def save_best(self, entries: List[Dict], metadata: Dict) -> None:
        """``best.ckpt``: the weights validation scored (model weights only; not resumable)."""
        if self.is_main:
            save_checkpoint_atomic(entries, self.run_dir / "best.ckpt", dict(metadata, kind="weights"))

    def save_interrupted(self, entries: List[Dict], metadata: Dict, step_in_epoch: int) -> Path:
        """``latest.ckpt`` in the middle of an epoch, with the position in it."""
        path = self.run_dir / "latest.ckpt"
        if self.is_main:
            save_checkpoint_atomic(entries, path, dict(metadata, kind=TRAINING_STATE, step_in_epoch=step_in_epoch))
        return path

    @staticmethod
    def resumable_beside(bad: Path) -> str:
        """A sentence naming the newest readable resumable checkpoint beside ``bad`` (or saying there is none)."""
        candidates = sorted((p for p in bad.parent.glob("*.ckpt")
                             if p.resolve() != bad.resolve() and not p.name.startswith(".")),
                            key=lambda p: p.stat().st_mtime, reverse=True)
        for candidate in candidates:
            try:
                if checkpoint_metadata(read_checkpoint(candidate)).get("kind") == TRAINING_STATE:
                    return f"The newest good resumable checkpoint there is {candidate}."
            except CheckpointError:
                continue
        return f"No other readable resumable checkpoint is in {bad.parent}."

    def resume(self, path: str, step: ms.nn.Cell, model: ms.nn.Cell, rank: int = 0) -> ResumeState:
        """Restore weights and the whole training state (optimizer, step counters, loss scale, EMA, dropout and
        data position) from a checkpoint written by :meth:`save_epoch` or :meth:`save_interrupted`; ``rank``
        takes its own BN statistics from a data-parallel mid-epoch checkpoint."""
        try:
            state = read_checkpoint(path)
        except CheckpointError as exc:
            raise CheckpointError(f"{exc} {self.resumable_beside(Path(path))}") from None
        meta = checkpoint_metadata(state)
        if meta.get("kind") != TRAINING_STATE:
            raise CheckpointError(f"{path} holds model weights only, not a training state, so it cannot be resumed "
                                  f"(best.ckpt is such a file). {self.resumable_beside(Path(path))} To fine-tune "
                                  "from these weights, pass --ckpt_path without --resume_opt.")
        params = {p.name: p for p in step.get_parameters()}
        missing = sorted(set(params) - set(state))
        if missing:
            raise CheckpointError(f"{path} lacks {len(missing)} training-state entries (e.g. {missing[:5]}); resume "
                                  "with the same optimizer, ema and gradient_accumulation_steps settings.")
        load_weights(model, dict(state), f"checkpoint {path}")
        # The schedule itself comes from the current config (epochs may have been extended); the global step
        # restored here positions it.
        restored = {k: v for k, v in state.items() if k in params and k != "learning_rate"}
        not_loaded, _ = ms.load_param_into_net(step, restored)
        not_loaded = [k for k in not_loaded if k != "learning_rate"]
        if not_loaded:
            raise CheckpointError(f"{path}: could not restore {not_loaded[:5]}")
        _restore_rank_state(state, step, rank, path)
        resumed = ResumeState(epoch=int(meta["epoch"]), step_in_epoch=int(meta.get("step_in_epoch", 0)),
                              best_top1=float(meta.get("best_top1", -1.0)), global_step=int(meta["global_step"]))
        _logger.info("Resumed from %s: %d epochs and %d steps done, global step %d.", path, resumed.epoch,
                     resumed.step_in_epoch, resumed.global_step)
        return resumed


def _restore_rank_state(state: Dict, step: ms.nn.Cell, rank: int, path: str) -> None:
    own = f"{RANK_STATE_PREFIX}{rank}."
    entries = {k[len(own):]: v for k, v in state.items() if k.startswith(own)}
    if entries:
        ms.load_param_into_net(step, entries, strict_load=True)
    elif any(k.startswith(RANK_STATE_PREFIX) for k in state):
        _logger.warning("%s was saved mid-epoch by fewer ranks than this run has: rank %d starts from the average "
                        "BN statistics, so the resumed run is not bitwise the uninterrupted one.", path, rank)


def epoch_metadata(epoch: int, global_step: int, class_names: List[str], best_top1: float, model: str,
                   config_yaml: str) -> Dict:
    """The ``mindcv_meta.*`` entries every checkpoint of a run carries."""
    return {"epoch": epoch, "global_step": global_step, "class_names": json.dumps(class_names),
            "best_top1": float(best_top1), "model": model, "config": config_yaml}
