"""Keras ``applications.Xception`` weights (legacy HDF5 layout) -> our MindSpore parameter names.

Keras stores conv kernels as (H, W, in, out), depthwise kernels as (H, W, C, 1), pointwise kernels as
(1, 1, in, out) and dense kernels as (in, out); MindSpore wants (out, in, H, W) and (out, in).
The four shortcut convolutions and their BatchNorms carry automatic names (``conv2d_1``,
``batch_normalization``, ...) that depend on the session that built the model, so they are matched by
their unique widths (128, 256, 728, 1024) instead of by name.
"""
import logging
from pathlib import Path
from typing import Dict, List, Tuple, Union

import numpy as np

from ..utils.suggest import install_hint
from .common import ConversionError, require, source_file

__all__ = ["read_keras_h5", "convert_keras_xception", "KERAS_XCEPTION_LAYOUT"]

_logger = logging.getLogger(__name__)

KerasLayers = Dict[str, Dict[str, np.ndarray]]

_SHORTCUT_WIDTHS = {2: 128, 3: 256, 4: 728, 13: 1024}


def _layout() -> List[Tuple[str, str, str]]:
    """(Keras layer, our parameter prefix, kind) for every weighted layer, entry to exit flow."""
    layout = [("block1_conv1", "conv1", "conv"), ("block1_conv1_bn", "bn1", "bn"),
              ("block1_conv2", "conv2", "conv"), ("block1_conv2_bn", "bn2", "bn")]
    for keras_block in range(2, 14):  # entry flow 2-4, middle flow 5-12, exit block 13
        ours = keras_block - 2
        reps = 2 if keras_block in _SHORTCUT_WIDTHS else 3
        offset = 0 if keras_block == 2 else 1  # the first block has no leading ReLU in ``rep``
        for conv in range(1, reps + 1):
            index = offset + 3 * (conv - 1)
            layout += [(f"block{keras_block}_sepconv{conv}", f"blocks.{ours}.rep.{index}", "sepconv"),
                       (f"block{keras_block}_sepconv{conv}_bn", f"blocks.{ours}.rep.{index + 1}", "bn")]
        if keras_block in _SHORTCUT_WIDTHS:
            width = _SHORTCUT_WIDTHS[keras_block]
            layout += [(f"shortcut_conv_{width}", f"blocks.{ours}.skip", "conv"),
                       (f"shortcut_bn_{width}", f"blocks.{ours}.skipbn", "bn")]
    layout += [("block14_sepconv1", "conv3", "sepconv"), ("block14_sepconv1_bn", "bn3", "bn"),
               ("block14_sepconv2", "conv4", "sepconv"), ("block14_sepconv2_bn", "bn4", "bn"),
               ("predictions", "classifier", "dense")]
    return layout


KERAS_XCEPTION_LAYOUT = _layout()

_WEIGHTS = {
    "conv": {"kernel": ("weight", (3, 2, 0, 1))},
    "sepconv": {"depthwise_kernel": ("conv1.weight", (2, 3, 0, 1)),
                "pointwise_kernel": ("pointwise.weight", (3, 2, 0, 1))},
    "bn": {name: (name, None) for name in ("gamma", "beta", "moving_mean", "moving_variance")},
    "dense": {"kernel": ("weight", (1, 0)), "bias": ("bias", None)},
}


def read_keras_h5(path: Union[str, Path]) -> KerasLayers:
    """Weights of a Keras legacy HDF5 file (``save_weights`` or full-model ``save``), by layer name.

    Weight names are shortened to their last component without the ``:0`` suffix (``kernel``, ``gamma``).
    """
    h5py = require("h5py", install_hint("convert"), "Reading Keras .h5 weights")
    try:
        handle = h5py.File(str(path), "r")
    except OSError as exc:
        raise ConversionError(f"{path} is not a readable HDF5 file ({exc}); download the Keras weights again.") \
            from exc
    with handle:
        root = handle["model_weights"] if "model_weights" in handle else handle
        if "layer_names" not in root.attrs:
            raise ConversionError(f"{path} is not in Keras's legacy HDF5 weight layout (no 'layer_names'); "
                                  "save the model with model.save('name.h5') or use Keras's published file.")
        layers: KerasLayers = {}
        for raw_name in root.attrs["layer_names"]:
            name = raw_name.decode() if isinstance(raw_name, bytes) else str(raw_name)
            group = root[name]
            weights = {}
            for raw_weight in group.attrs.get("weight_names", []):
                weight = raw_weight.decode() if isinstance(raw_weight, bytes) else str(raw_weight)
                short = weight.rsplit("/", 1)[-1].split(":", 1)[0]
                weights[short] = np.asarray(group[weight])
            if weights:
                layers[name] = weights
    return layers


def _name_shortcuts(layers: KerasLayers, source: str) -> KerasLayers:
    """Rename the automatically named shortcut conv/BN layers to ``shortcut_{conv,bn}_{width}``."""
    renamed: KerasLayers = {}
    for name, weights in layers.items():
        if name.startswith("block") or name == "predictions":
            renamed[name] = weights
            continue
        if "kernel" in weights and weights["kernel"].shape[:2] == (1, 1):
            key = f"shortcut_conv_{weights['kernel'].shape[-1]}"
        elif "gamma" in weights:
            key = f"shortcut_bn_{weights['gamma'].shape[0]}"
        else:
            raise ConversionError(f"{source}: unexpected layer '{name}' with weights {sorted(weights)}; "
                                  "this is not a Keras Xception weight file.")
        if key in renamed:
            raise ConversionError(f"{source}: two layers look like the same shortcut ({key}); "
                                  "this is not a Keras Xception weight file.")
        renamed[key] = weights
    return renamed


def convert_keras_xception(layers: KerasLayers, source: str = "Keras weights") -> Dict[str, np.ndarray]:
    """Map Keras Xception layers to our parameter names and layouts.

    Every expected layer must be present with the expected weights; a file without ``predictions``
    (Keras's ``_notop`` weights) gives a state without classifier, for ``num_classes=0``. Missing, extra and
    incomplete layers are reported together in one :class:`ConversionError`; shapes are checked when the
    result is loaded (strictly) into a model.
    """
    layers = _name_shortcuts(layers, source)
    has_top = "predictions" in layers
    state: Dict[str, np.ndarray] = {}
    problems: List[str] = []
    for keras_name, prefix, kind in KERAS_XCEPTION_LAYOUT:
        if kind == "dense" and not has_top:
            continue
        weights = layers.pop(keras_name, None)
        if weights is None:
            problems.append(f"layer '{keras_name}' is missing")
            continue
        for weight_name, (our_suffix, axes) in _WEIGHTS[kind].items():
            if weight_name not in weights:
                problems.append(f"layer '{keras_name}' has no '{weight_name}'")
                continue
            value = weights[weight_name] if axes is None else np.transpose(weights[weight_name], axes)
            state[f"{prefix}.{our_suffix}"] = value.astype(np.float32)
    if layers:
        problems.append(f"unused layers {sorted(layers)}")
    if problems:
        raise ConversionError(f"{source} is not a Keras Xception weight file we can convert: " + "; ".join(problems))
    if not has_top:
        _logger.info("%s has no classifier ('predictions'); build the model with num_classes=0.", source)
    return state


def convert_keras_file(src: Union[str, Path]) -> Dict[str, np.ndarray]:
    """Chollet's Keras Xception weights (``.h5``) under our parameter names."""
    src = source_file(src)
    return convert_keras_xception(read_keras_h5(src), source=str(src))
