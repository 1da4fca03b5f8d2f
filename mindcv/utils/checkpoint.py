"""Reading and writing checkpoint files, with errors that name the file and the fix."""
import hashlib
import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

import mindspore as ms
import numpy as np

from .errors import CheckpointError
from .fileio import atomic_path

__all__ = ["CheckpointError", "read_checkpoint", "save_checkpoint_atomic", "checkpoint_metadata", "METADATA_PREFIX",
           "weights_digest"]

METADATA_PREFIX = "mindcv_meta."


def read_checkpoint(path: Union[str, os.PathLike]) -> Dict[str, ms.Parameter]:
    """Load every entry of a MindSpore checkpoint file; missing or corrupt files raise :class:`CheckpointError`."""
    path = Path(path).expanduser()
    if not path.exists():
        raise CheckpointError(f"Checkpoint file not found: {path}. Check the path (it is resolved from "
                              f"{os.getcwd()}).")
    if not path.is_file():
        raise CheckpointError(f"Checkpoint path {path} is not a file; pass the .ckpt file itself.")
    try:
        return ms.load_checkpoint(str(path))
    except (ValueError, RuntimeError, TypeError, OSError) as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else "no detail"
        raise CheckpointError(f"Checkpoint {path} could not be read ({type(exc).__name__}: {detail}). "
                              "The file is truncated, corrupt or not a MindSpore checkpoint; "
                              "download or copy it again.") from exc


def save_checkpoint_atomic(entries: List[Dict[str, Any]], path: Union[str, os.PathLike],
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


def weights_digest(model: ms.nn.Cell) -> str:
    """sha256 of the model's parameter names, shapes, dtypes and values: the identity of a set of weights (equal
    on all ranks when data parallelism is correct; names an export of these weights)."""
    digest = hashlib.sha256()
    for name, param in sorted(model.parameters_and_names(), key=lambda item: item[0]):
        value = param.asnumpy()
        digest.update(f"{name}{value.shape}{value.dtype}".encode())
        digest.update(np.ascontiguousarray(value).tobytes())
    return digest.hexdigest()
