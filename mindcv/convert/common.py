"""What the converters share: the error type, optional-dependency imports and writing the result."""
import importlib
from pathlib import Path
from typing import Any, Dict, Union

import mindspore as ms
import numpy as np

from ..utils.checkpoint import save_checkpoint_atomic
from ..utils.errors import CheckpointError

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


def convert_file(converter: str, src: Union[str, Path]) -> Dict[str, np.ndarray]:
    """Read ``src`` with the reader and name mapping registered for ``converter`` (a pretrained tag's field).

    ``keras`` (Xception, ``.h5``), ``timm`` (Xception, ``.safetensors``/``.pth``), ``timm_aligned``
    (Xception-41/65/71). The result has our parameter names; loading it strictly checks every shape.
    """
    from .keras import convert_keras_xception, read_keras_h5
    from .timm import convert_timm_aligned, convert_timm_xception, read_state_dict

    converters = {"keras": (read_keras_h5, convert_keras_xception),
                  "timm": (read_state_dict, convert_timm_xception),
                  "timm_aligned": (read_state_dict, convert_timm_aligned)}
    if converter not in converters:
        raise ConversionError(f"Unknown converter {converter!r}; choose one of {sorted(converters)}.")
    src = Path(src).expanduser()
    if not src.is_file():
        raise ConversionError(f"Source weight file not found: {src}. Pass the downloaded file with --src.")
    read, rename = converters[converter]
    return rename(read(src), source=str(src))
