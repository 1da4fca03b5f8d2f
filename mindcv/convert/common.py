"""What the converters share: the error type, optional-dependency imports and writing the result."""
import importlib
from pathlib import Path
from typing import Any, Dict, Union

import mindspore as ms
import numpy as np

from ..utils.checkpoint import CheckpointError, save_checkpoint_atomic

__all__ = ["ConversionError", "require", "write_converted", "convert_file"]


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


def convert_file(framework: str, src: Union[str, Path]) -> Dict[str, np.ndarray]:
    """Read ``src`` (a Keras ``.h5`` or a timm ``.safetensors``/``.pth`` file) into our parameter names.

    ``framework``: ``keras`` or ``timm`` (Xception), ``timm_aligned`` (Xception-41/65/71).
    """
    from .keras import convert_keras_xception, read_keras_h5
    from .timm import convert_timm_aligned, convert_timm_xception, read_state_dict

    src = Path(src).expanduser()
    if not src.is_file():
        raise ConversionError(f"Source weight file not found: {src}. Pass the downloaded file with --src.")
    if framework == "keras":
        return convert_keras_xception(read_keras_h5(src), source=str(src))
    if framework == "timm":
        return convert_timm_xception(read_state_dict(src), source=str(src))
    if framework == "timm_aligned":
        return convert_timm_aligned(read_state_dict(src), source=str(src))
    raise ConversionError(f"Unknown source framework {framework!r}; choose 'keras', 'timm' or 'timm_aligned'.")
