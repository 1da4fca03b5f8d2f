"""What the converters share: the error type, optional-dependency imports, the source file and writing the
result. Each converter (``convert_*_file``) reads a published file and returns our parameter names; a model's
pretrained config names the one its weights need (``PretrainedCfg.converter``)."""
import importlib
from pathlib import Path
from typing import Any, Dict, Union

import mindspore as ms
import numpy as np

from ..utils.checkpoint import save_checkpoint_atomic
from ..utils.errors import CheckpointError

__all__ = ["ConversionError", "require", "write_converted", "source_file"]


class ConversionError(CheckpointError):
    """A source weight file cannot be converted: unreadable, or layers missing or mis-shaped."""


def require(module: str, install: str, purpose: str) -> Any:
    """Import an optional dependency, or say how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ConversionError(f"{purpose} needs the '{module}' package: {install}.") from exc


def write_converted(state: Dict[str, np.ndarray], dst: Union[str, Path], metadata: Dict[str, Any]) -> Path:
    """Write converted float32 weights as a MindSpore checkpoint, atomically, with ``metadata``."""
    entries = [{"name": name, "data": ms.Tensor(np.ascontiguousarray(value, dtype=np.float32))}
               for name, value in state.items()]
    return save_checkpoint_atomic(entries, dst, metadata=metadata)


def source_file(src: Union[str, Path]) -> Path:
    """The source weight file, which must exist."""
    src = Path(src).expanduser()
    if not src.is_file():
        raise ConversionError(f"Source weight file not found: {src}. Pass the downloaded file with --src.")
    return src
