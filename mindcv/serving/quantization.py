"""Post-training int8 quantization of the cached ONNX export, for OpenVINO (``--precision int8``).

Callers: :mod:`.backends` (``create_runner(..., precision="int8", calibration=...)``), which ``validate.py`` and
``predict`` use.

NNCF quantizes the export with statistics of a calibration subset: ``size`` images spread over the sorted files of a
folder, read with the evaluation preprocessing of the run and normalised as the model's input. The quantized
model (an OpenVINO IR, ``.xml`` + ``.bin``) is cached beside the export, named by the export (the weights' digest,
batch and size) and by the sha256 of the calibration images and preprocessing: changed weights or calibration
data quantize again, the same ones reuse the file.
"""
import gc
import hashlib
import importlib.util
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, List

import mindspore.dataset as ds
import numpy as np

from ..data.sources import ImageFolderSource, collect_images
from ..data.transforms_factory import Preprocessing
from ..utils.errors import ConfigError, DataError
from ..utils.fileio import atomic_path, fsync_directory
from ..utils.suggest import install_hint
from .signal_stack import keeping_signal_stack

__all__ = ["Calibration", "require_quantizer", "calibration_digest", "quantized_path", "quantize_export"]

_logger = logging.getLogger(__name__)

# What quantize_export does; a new recipe gets new cache entries.
RECIPE = "nncf.quantize defaults on openvino.convert_model of the export"


@dataclass(frozen=True)
class Calibration:
    """The calibration subset: ``size`` images of ``folder`` (found recursively, sorted), spread evenly over the list
    so that every class folder of an image folder is in it (the first ``size`` would often be one class)."""
    folder: str
    size: int = 300  # NNCF's default subset size

    def files(self) -> List[Path]:
        if self.size < 1:
            raise ConfigError(f"calibration_size must be >= 1, got {self.size}.")
        if not Path(self.folder).expanduser().is_dir():
            raise DataError(f"Calibration folder not found: {self.folder}; --calibration_dir names a folder of "
                            "images like those the model will see (a few hundred from the training split).")
        found = collect_images([self.folder])
        return [found[i * len(found) // self.size] for i in range(self.size)] if self.size < len(found) else found


def require_quantizer() -> None:
    """Refuse int8 before anything is written when NNCF or OpenVINO is missing."""
    missing = [name for name in ("nncf", "openvino") if importlib.util.find_spec(name) is None]
    if missing:
        raise ConfigError(f"--precision int8 needs {' and '.join(missing)}: {install_hint('int8')}.")


def calibration_digest(files: List[Path], preprocessing: Preprocessing) -> str:
    """sha256 of the calibration images (names relative to their folder, and contents), of the preprocessing that
    turns them into the model's input and of the quantization recipe."""
    digest = hashlib.sha256(f"{RECIPE}\n{preprocessing!r}".encode())
    root = os.path.commonpath([str(path.parent) for path in files])
    for path in files:
        digest.update(os.path.relpath(path, root).encode("utf-8", "surrogateescape") + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def quantized_path(export: Path, digest: str) -> Path:
    """Where the int8 model of ``export`` calibrated on the data of ``digest`` is cached."""
    return export.with_name(f"{export.stem}-int8-{digest[:16]}.xml")


def _calibration_batches(files: List[Path], preprocessing: Preprocessing, batch: int,
                         normalise: Callable[[np.ndarray], np.ndarray]) -> List[np.ndarray]:
    """The images as full batches of the export's static size (the last one filled up from the first images)."""
    source = ImageFolderSource([(path, index) for index, path in enumerate(files)], ["image"], replace_bad=False)
    dataset = ds.GeneratorDataset(source, ["image", "index"], shuffle=False, num_parallel_workers=1,
                                  python_multiprocessing=False)
    dataset = dataset.map(preprocessing.transforms(normalize=False), input_columns="image")
    images = [image for image, index in dataset.create_tuple_iterator(num_epochs=1, output_numpy=True) if index >= 0]
    if source.skipped:
        _logger.warning("Calibration skips %d unreadable images: %s", len(source.skipped), source.skipped[:5])
    if not images:
        raise DataError(f"None of the {len(files)} calibration images can be read.")
    count = -(-len(images) // batch) * batch
    stacked = np.stack([images[i % len(images)] for i in range(count)])
    return [normalise(stacked[i:i + batch]) for i in range(0, count, batch)]


def quantize_export(model, name: str, target: Path, files: List[Path], preprocessing: Preprocessing, batch: int,
                    normalise: Callable[[np.ndarray], np.ndarray]) -> None:
    """Quantize ``model`` (the export ``name`` as ``openvino.convert_model`` reads it) with NNCF on the images
    ``files`` (:meth:`Calibration.files`) and write the OpenVINO IR ``target`` (``.xml``; its ``.bin`` beside it,
    written first, so a present ``.xml`` has its weights).

    ``convert_model`` (not ``Core().read_model``) folds the BatchNorms into the convolutions and the depthwise
    weights' reshape into constants: NNCF then quantizes every convolution per output channel and OpenVINO runs the
    depthwise ones in int8 too (the file as read left them in fp32 behind a quantizer per kernel column: 28 against
    39 images/s at 299 px, batch 8, on AVX512-VNNI)."""
    import nncf
    import openvino

    batches = _calibration_batches(files, preprocessing, batch, normalise)
    _logger.info("Quantizing %s to int8 with %d calibration images (%d batches of %d).", name, len(files),
                 len(batches), batch)
    with keeping_signal_stack():  # NNCF compiles the model with OpenVINO to collect its statistics
        quantized = nncf.quantize(model, nncf.Dataset(batches), subset_size=len(batches))
        gc.collect()  # and frees those compiled models here, while the block still puts the stack back
    weights = target.with_suffix(".bin")
    with atomic_path(target, suffix=".xml") as tmp_xml:
        openvino.save_model(quantized, str(tmp_xml), compress_to_fp16=False)
        tmp_bin = tmp_xml.with_suffix(".bin")
        with open(tmp_bin, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp_bin, weights)
        fsync_directory(weights.parent)
    _logger.info("Saved the int8 model %s.", target)
