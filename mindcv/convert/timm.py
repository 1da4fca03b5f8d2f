"""timm ``legacy_xception`` weights (a PyTorch port of the Keras weights) -> our MindSpore parameter names.

timm's module tree is the one ours follows (``blockN`` is our ``blocks.{N-1}``), and PyTorch already uses
(out, in, H, W) kernels, so only names change: BatchNorm ``weight/bias/running_mean/running_var`` become
``gamma/beta/moving_mean/moving_variance`` and ``fc`` becomes ``classifier``. The model that runs them
needs ``pool_padding="symmetric"`` and ``bn_eps=1e-5`` (the ``xception.timm_legacy_in1k`` tag sets both).
"""
import re
from pathlib import Path
from typing import Dict, Union

import numpy as np

from ..utils.suggest import install_hint
from .common import ConversionError, require, source_file

__all__ = ["read_state_dict", "convert_timm_xception", "convert_timm_aligned", "timm_to_ours"]

_BN_RENAMES = {"weight": "gamma", "bias": "beta", "running_mean": "moving_mean", "running_var": "moving_variance"}
_BLOCK = re.compile(r"^block(\d+)\.")


def read_state_dict(path: Union[str, Path]) -> Dict[str, np.ndarray]:
    """A PyTorch state dict as numpy arrays, from ``.safetensors`` or (with torch installed) ``.pth``."""
    path = Path(path)
    if path.suffix == ".safetensors":
        safetensors_numpy = require("safetensors.numpy", install_hint("convert"),
                                    "Reading .safetensors weights")
        try:
            return dict(safetensors_numpy.load_file(str(path)))
        except Exception as exc:  # safetensors raises its own error types for corrupt headers
            raise ConversionError(f"{path} could not be read as safetensors ({exc}); download it again.") from exc
    torch = require("torch", "pip install torch (CPU build is enough), or convert a .safetensors file instead",
                    "Reading PyTorch .pth weights")
    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises pickle, zip and runtime errors for bad files
        raise ConversionError(f"{path} could not be read by torch.load ({exc}); download it again.") from exc
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    return {k: v.detach().cpu().numpy() for k, v in state.items() if hasattr(v, "detach")}


def timm_to_ours(name: str, ndim: int, legacy: bool = True) -> str:
    """Our parameter name for a timm name ("" for entries we do not keep).

    ``legacy``: ``legacy_xception`` (``blockN`` -> ``blocks.{N-1}``, ``fc`` -> ``classifier``); otherwise the
    aligned Xception family (``head.fc`` -> ``classifier``).
    """
    if name.endswith("num_batches_tracked"):
        return ""
    if legacy:
        name = _BLOCK.sub(lambda m: f"blocks.{int(m.group(1)) - 1}.", name)
    head = "fc." if legacy else "head.fc."
    if name.startswith(head):
        return "classifier." + name[len(head):]
    module, _, leaf = name.rpartition(".")
    is_batch_norm = leaf in ("running_mean", "running_var") or (leaf in ("weight", "bias") and ndim == 1)
    return f"{module}.{_BN_RENAMES[leaf]}" if is_batch_norm else name


def _rename(state: Dict[str, np.ndarray], legacy: bool, source: str) -> Dict[str, np.ndarray]:
    converted = {}
    for name, value in state.items():
        ours = timm_to_ours(name, np.ndim(value), legacy=legacy)
        if ours:
            converted[ours] = np.asarray(value, dtype=np.float32)
    if not converted:
        raise ConversionError(f"{source} holds no tensors to convert.")
    return converted


def convert_timm_xception(state: Dict[str, np.ndarray], source: str = "timm weights") -> Dict[str, np.ndarray]:
    """Rename a ``legacy_xception`` state dict to ours (loading it checks every name and shape)."""
    return _rename(state, True, source)


def convert_timm_aligned(state: Dict[str, np.ndarray], source: str = "timm weights") -> Dict[str, np.ndarray]:
    """Rename a timm ``xception41/65/71`` state dict to ours (loading it checks every name and shape)."""
    return _rename(state, False, source)


def convert_timm_file(src: Union[str, Path]) -> Dict[str, np.ndarray]:
    """timm's ``legacy_xception`` weights (``.safetensors``, or ``.pth`` with torch) under our parameter names."""
    src = source_file(src)
    return convert_timm_xception(read_state_dict(src), source=str(src))


def convert_timm_aligned_file(src: Union[str, Path]) -> Dict[str, np.ndarray]:
    """timm's ``xception41/65/71`` weights under our parameter names."""
    src = source_file(src)
    return convert_timm_aligned(read_state_dict(src), source=str(src))
