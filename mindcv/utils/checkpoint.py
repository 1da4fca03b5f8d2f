"""Reading checkpoint files with errors that name the file and the fix."""
import os
from pathlib import Path
from typing import Dict, Union

import mindspore as ms

__all__ = ["CheckpointError", "read_checkpoint"]


class CheckpointError(RuntimeError):
    """A checkpoint file is missing, unreadable or does not fit the model."""


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
        raise CheckpointError(f"Checkpoint {path} could not be read ({type(exc).__name__}: "
                              f"{str(exc).strip().splitlines()[0] if str(exc).strip() else 'no detail'}). "
                              "The file is truncated, corrupt or not a MindSpore checkpoint; "
                              "download or copy it again.") from exc
