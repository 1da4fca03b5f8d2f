"""Reading and writing checkpoint files, with errors that name the file and the fix."""
import hashlib
import logging
import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

import mindspore as ms
import numpy as np

from .errors import CheckpointError
from .fileio import atomic_path

__all__ = ["CheckpointError", "read_checkpoint", "save_checkpoint_atomic", "checkpoint_metadata", "METADATA_PREFIX",
           "EMA_PREFIX", "TRAINING_STATE", "weights_digest", "is_training_extra", "CheckpointManager",
           "store_temperature"]

METADATA_PREFIX = "mindcv_meta."
EMA_PREFIX = "ema."  # the moving average of weight <name> is saved as "ema.<name>" (MindCV's TrainStep)
TRAINING_STATE = "training_state"  # ``mindcv_meta.kind`` of resumable checkpoints (``weights`` for best.ckpt)
_logger = logging.getLogger(__name__)

# Entries a training checkpoint carries besides the weights: optimizer slots, step counters, loss scale.
_TRAINING_SLOT_PREFIXES = (
    "moments.", "moment1.", "moment2.", "moment3.", "adam_m.", "adam_v.", "exp_avg.", "exp_avg_sq.", "accum.",
    "stat.", "mean_square.", "mean_grad.", "moment.", "lion_m.", "nadam_m.", "nadam_v.", "prev_gradient.",
    "grad_accum.", "accu_grads.", "accum_grads.", EMA_PREFIX, "stat_", "rank_state.",
)
_TRAINING_SCALARS = frozenset({
    "global_step", "learning_rate", "momentum", "beta1_power", "beta2_power", "mu_schedule", "weight_decay",
    "scale_sense", "loss_scale", "current_iterator_step", "last_overflow_iterator_step",
    "epoch_num", "step_num", "ema_num_updates", "accum_count", "rng_step",
})


def is_training_extra(name: str) -> bool:
    """True for checkpoint entries that are training state rather than model weights."""
    return (name in _TRAINING_SCALARS or name.startswith(_TRAINING_SLOT_PREFIXES)
            or name.startswith(METADATA_PREFIX))


def read_checkpoint(path: Union[str, os.PathLike]) -> Dict[str, ms.Parameter]:
    """Load every entry of a MindSpore checkpoint file (``.safetensors``: MindSpore's safetensors reader); missing
    or corrupt files raise :class:`CheckpointError`."""
    path = Path(path).expanduser()
    if not path.exists():
        raise CheckpointError(f"Checkpoint file not found: {path}. Check the path (it is resolved from "
                              f"{os.getcwd()}).")
    if not path.is_file():
        raise CheckpointError(f"Checkpoint path {path} is not a file; pass the .ckpt file itself.")
    try:
        return ms.load_checkpoint(str(path), format="safetensors" if path.suffix == ".safetensors" else "ckpt")
    except (ValueError, RuntimeError, TypeError, OSError) as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else "no detail"
        raise CheckpointError(f"Checkpoint {path} could not be read ({type(exc).__name__}: {detail}). "
                              "The file is truncated, corrupt or not a MindSpore checkpoint; "
                              "download or copy it again.") from exc


def save_checkpoint_atomic(entries: Union[List[Dict[str, Any]], ms.nn.Cell], path: Union[str, os.PathLike],
                           metadata: Optional[Dict[str, Any]] = None) -> Path:
    """Write a checkpoint through a temporary file that is flushed and renamed into place.

    ``metadata`` values (int, float, str) are stored as ``mindcv_meta.<key>`` entries. A crash or a full
    disk during the write leaves any previous file at ``path`` intact and no temporary file behind.
    """
    append = {f"{METADATA_PREFIX}{k}": v for k, v in (metadata or {}).items()}
    with atomic_path(path, suffix=".ckpt") as tmp:  # MindSpore appends .ckpt to other names
        ms.save_checkpoint(entries, str(tmp), append_dict=append or None)
    return Path(path)


def checkpoint_metadata(state: Dict[str, Any]) -> Dict[str, Any]:
    """The ``mindcv_meta.*`` entries of a loaded checkpoint, as plain Python values."""
    meta = {}
    for key, value in state.items():
        if key.startswith(METADATA_PREFIX):
            meta[key[len(METADATA_PREFIX):]] = value if isinstance(value, str) else value.asnumpy().item()
    return meta


def store_temperature(path: Union[str, os.PathLike], temperature: float, fitted_on: str) -> None:
    """Rewrite checkpoint ``path`` (atomically) with its calibration temperature (``mindcv_meta.temperature``) and
    what it was fitted to; every other entry is kept as it was."""
    state = read_checkpoint(path)
    meta = checkpoint_metadata(state)
    entries = [{"name": name, "data": value} for name, value in state.items() if not name.startswith(METADATA_PREFIX)]
    save_checkpoint_atomic(entries, path, dict(meta, temperature=float(temperature), temperature_fitted_on=fitted_on))


def weights_digest(model: ms.nn.Cell) -> str:
    """sha256 of the model's parameter names, shapes, dtypes and values: the identity of a set of weights (equal
    on all ranks when data parallelism is correct; names an export of these weights)."""
    digest = hashlib.sha256()
    for name, param in sorted(model.parameters_and_names(), key=lambda item: item[0]):
        value = param.asnumpy()
        digest.update(f"{name}{value.shape}{value.dtype}".encode())
        digest.update(np.ascontiguousarray(value).tobytes())
    return digest.hexdigest()


class CheckpointManager:
    """MindCV's checkpoint keeper for a training loop of one's own: :meth:`save_ckpoint` writes a network's
    checkpoint (atomically) and keeps, by ``ckpt_save_policy``, every file (None), the ``num_ckpt`` with the
    highest ``metric`` (``"top_k"``, listed best first as ``(path, metric)``) or the ``num_ckpt`` newest
    (``"latest_k"``); files that fall out are deleted."""

    POLICIES = (None, "top_k", "latest_k")

    def __init__(self, ckpt_save_policy: Optional[str] = None):
        if ckpt_save_policy not in self.POLICIES:
            raise ValueError(f"ckpt_save_policy must be None, 'top_k' or 'latest_k', got {ckpt_save_policy!r}.")
        self.ckpt_save_policy = ckpt_save_policy
        self._ckpoint_filelist: List[Union[str, Tuple[str, float]]] = []

    @property
    def ckpoint_filelist(self) -> List[Union[str, Tuple[str, float]]]:
        return self._ckpoint_filelist

    @property
    def ckpoint_num(self) -> int:
        return len(self._ckpoint_filelist)

    def update_ckpoint_filelist(self, directory: str, prefix: str) -> None:
        """List the ``<prefix>-<numbers>.ckpt`` files already in ``directory`` as kept files."""
        self._ckpoint_filelist = [os.path.join(directory, name) for name in sorted(os.listdir(directory))
                                  if name.startswith(prefix + "-") and name.endswith(".ckpt")
                                  and not any(char.isalpha() for char in name[len(prefix):-5])]

    @staticmethod
    def remove_ckpoint_file(file_name: str) -> None:
        try:
            os.remove(file_name)
        except OSError as exc:
            _logger.warning("Could not remove the older checkpoint %s: %s", file_name, exc.strerror or exc)

    def remove_oldest_ckpoint_file(self) -> None:
        self.remove_ckpoint_file(self._ckpoint_filelist.pop(0))

    def top_K_checkpoint(self, network: ms.nn.Cell, K: int = 10, metric=None, save_path: str = "") -> None:
        metric = float(metric.asnumpy() if isinstance(metric, ms.Tensor) else metric)
        if self.ckpoint_num >= K and (K < 1 or metric <= self._ckpoint_filelist[-1][1]):
            return
        save_checkpoint_atomic(network, save_path)
        ranked = sorted(self._ckpoint_filelist + [(save_path, metric)], key=lambda item: item[1], reverse=True)
        for path, _ in ranked[K:]:
            self.remove_ckpoint_file(path)
        self._ckpoint_filelist = ranked[:K]

    def latest_K_checkpoint(self, network: ms.nn.Cell, K: int = 10, save_path: str = "") -> None:
        if K and 0 < K <= self.ckpoint_num:
            self.remove_oldest_ckpoint_file()
        save_checkpoint_atomic(network, save_path)
        self._ckpoint_filelist.append(save_path)

    def save_ckpoint(self, network: ms.nn.Cell, num_ckpt: int = 10, metric=None, save_path: str = ""):
        """Save ``network`` to ``save_path`` under the policy; returns the kept files (None for no policy)."""
        if self.ckpt_save_policy is None:
            save_checkpoint_atomic(network, save_path)
            return None
        if self.ckpt_save_policy == "top_k":
            if metric is None:
                raise ValueError("ckpt_save_policy top_k ranks checkpoints by metric; pass metric=.")
            self.top_K_checkpoint(network, K=num_ckpt, metric=metric, save_path=save_path)
        else:
            self.latest_K_checkpoint(network, K=num_ckpt, save_path=save_path)
        return self._ckpoint_filelist
