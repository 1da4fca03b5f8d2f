"""Inference backends: MindSpore itself, or the model's ONNX export run by ONNX Runtime or OpenVINO.

An exported backend runs an ONNX file that :func:`~mindcv.serving.exporting.export_model` makes once per set of
weights, batch size and image size, cached in a folder (next to the checkpoint by default). The file name holds
the sha256 of the weights, so a changed checkpoint gets a new export and an unchanged one reuses it. Before an
exported backend answers, its logits on the first batch are compared with MindSpore's on the same batch; above
the tolerance of the backend's precision it is refused with an error, so a wrong number is never printed.
"""
import logging
import os
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

import mindspore as ms
import numpy as np
from mindspore import nn

from ..config import BACKENDS, PRECISIONS
from ..data.transforms_factory import Preprocessing
from ..engine.evaluate import pad_batch
from ..engine.networks import NormalizeInput
from ..utils.checkpoint import weights_digest
from ..utils.download import get_cache_dir
from ..utils.errors import ConfigError, MindcvError
from ..utils.fileio import describe_os_error, file_lock
from ..utils.scores import softmax
from ..utils.suggest import install_hint
from .exporting import compare_logits, export_model
from .quantization import Calibration, calibration_digest, quantize_export, quantized_path, require_quantizer
from .signal_stack import keeping_signal_stack

__all__ = ["BACKENDS", "PRECISIONS", "BackendError", "Runner", "create_runner", "check_against"]

_logger = logging.getLogger(__name__)

_EXTRAS = {"onnxruntime": "export", "openvino": "openvino"}
# First-batch agreement with MindSpore: max |logit difference| <= atol + rtol * max |logit| and the same top-1
# (fp32); bf16 keeps ~3 significant digits, so its probabilities are compared instead.
FP32_TOLERANCE = (1e-3, 1e-3)
MAX_PROBABILITY_DIFF = {"bf16": 0.02, "int8": 0.1}


class BackendError(MindcvError):
    """A backend is not installed, or it does not reproduce MindSpore's predictions."""


class Runner:
    """``runner(images)``: logits (float64) for a batch of uint8 HWC images; ``name`` and ``precision`` say what
    computes them."""

    def __init__(self, name: str, precision: str, run: Callable[[np.ndarray], np.ndarray]):
        self.name = name
        self.precision = precision
        self._run = run

    def __call__(self, images: np.ndarray) -> np.ndarray:
        return np.asarray(self._run(images), dtype=np.float64)


def _normalised_nchw(normalise: nn.Cell, images: np.ndarray, batch: int) -> np.ndarray:
    """uint8 (n, H, W, C) -> float32 (batch, C, H, W), normalised as the MindSpore network does it, zero-padded
    up to the static batch."""
    return pad_batch(normalise(ms.Tensor(images)).asnumpy(), batch)


def _onnxruntime_session(path: Path, precision: str):
    try:
        import onnxruntime
    except ImportError as exc:
        raise BackendError(_missing("onnxruntime")) from exc
    if precision not in ("auto", "fp32"):
        raise ConfigError(f"onnxruntime runs fp32 only; got precision {precision}.")
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return "fp32", lambda batch: session.run(None, {name: batch})[0]


def _openvino():
    try:
        import openvino
    except ImportError as exc:
        raise BackendError(_missing("openvino")) from exc
    return openvino


def _compile_openvino(path: Path, config: Dict[str, str]):
    with keeping_signal_stack():
        return _openvino().Core().compile_model(str(path), "CPU", config)


def _openvino_model(path: Path, precision: str):
    hints = {"fp32": {"INFERENCE_PRECISION_HINT": "f32"}, "bf16": {"INFERENCE_PRECISION_HINT": "bf16"}, "auto": {}}
    if precision not in hints:
        raise ConfigError(f"openvino precision must be auto, fp32, bf16 or int8; got {precision}.")
    compiled = _compile_openvino(path, hints[precision])
    used = str(compiled.get_property("INFERENCE_PRECISION_HINT")).lower()
    request = compiled.create_infer_request()
    return ("bf16" if "bf" in used else "fp32"), lambda batch: request.infer([batch])[0]


def _compile_int8(target: Path):
    # layers NNCF leaves in floating point run fp32: the int8 model is compared with the fp32 export
    return _compile_openvino(target, {"INFERENCE_PRECISION_HINT": "f32"})


def _openvino_int8(export: Path, make_export: Callable[[], None], files: List[Path], preprocessing: Preprocessing,
                   batch: int, normalise: Callable[[np.ndarray], np.ndarray]):
    """OpenVINO running the int8 model of ``export`` calibrated on the images ``files``, quantized once and cached;
    the export is only read (or made) when the int8 model has to be made."""
    target = quantized_path(export, calibration_digest(files, preprocessing))

    def quantize() -> None:
        converted = _open_cached(export, lambda path: _openvino().convert_model(str(path)), make_export, "export")
        quantize_export(converted, export.name, target, files, preprocessing, batch, normalise)

    request = _open_cached(target, _compile_int8, quantize, "int8 model").create_infer_request()
    return "int8", lambda inputs: request.infer([inputs])[0]


_SESSIONS = {"onnxruntime": _onnxruntime_session, "openvino": _openvino_model}


def _missing(backend: str) -> str:
    return f"--backend {backend} needs the {backend} package: {install_hint(_EXTRAS[backend])}."


def _export_path(model: nn.Cell, cache_dir: Path, batch: int, image_size: int) -> Path:
    name = type(model).__name__.lower()
    return cache_dir / f"{name}-{weights_digest(model)[:16]}-{batch}x{image_size}.onnx"


def _default_cache_dir(weights_file: Optional[str]) -> Path:
    if weights_file:
        folder = Path(weights_file).expanduser().resolve().parent
        if os.access(folder, os.W_OK):
            return folder
    return get_cache_dir() / "exports"


def _open_cached(path: Path, open_file: Callable[[Path], Any], make: Callable[[], None], what: str) -> Any:
    """``open_file(path)`` on the cached file ``path``: made by ``make()`` when missing, and made again when
    ``open_file`` cannot read it (each library has its own error types for a file it cannot parse; ours pass)."""
    if path.is_file():
        try:
            opened = open_file(path)
            _logger.info("Using the cached %s %s.", what, path)
            return opened
        except MindcvError:
            raise
        except Exception as exc:
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            _logger.warning("The cached %s %s cannot be read (%s); making it again.", what, path, reason[:200])
            path.unlink()
    make()
    return open_file(path)


def _exporter(model: nn.Cell, path: Path, batch: int, image_size: int) -> Callable[[], None]:
    """A function that writes ``model``'s ONNX export to ``path``."""
    def export() -> None:
        report = export_model(model, str(path), "ONNX", batch, image_size, model.in_channels, verify=False)
        _logger.info("Exported the model to %s.", report["file"])
    return export


def create_runner(backend: str, network: nn.Cell, model: nn.Cell, mean: Sequence[float], std: Sequence[float],
                  batch: int, image_size: int, weights_file: Optional[str] = None, cache_dir: Optional[str] = None,
                  precision: str = "auto", calibration: Optional[Calibration] = None,
                  preprocessing: Optional[Preprocessing] = None) -> Runner:
    """The runner of ``backend`` for ``model`` (``network``: the model behind its input normalisation).

    Exported backends reuse or make ``<cache_dir>/<model>-<weights sha256>-<batch>x<size>.onnx`` (default cache:
    the folder of ``weights_file`` when writable, else the mindcv cache's ``exports/``). ``precision="int8"``
    (openvino) quantizes that export on ``calibration``'s images, read with ``preprocessing`` (see
    :mod:`.quantization`)."""
    if backend not in BACKENDS:
        raise ConfigError(f"Unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}.")
    if backend == "mindspore":
        if precision not in ("auto", "fp32"):
            raise ConfigError(f"the mindspore backend runs fp32 here; got precision {precision}.")
        return Runner("mindspore", "fp32", lambda images: network(ms.Tensor(images)).asnumpy())
    if precision == "int8" and (backend != "openvino" or calibration is None or preprocessing is None):
        raise ConfigError("precision int8 needs --backend openvino and --calibration_dir (a folder of images).")
    calibration_files = []
    if precision == "int8":  # a missing package or folder: before any export is written
        require_quantizer()
        calibration_files = calibration.files()
    folder = Path(cache_dir).expanduser() if cache_dir else _default_cache_dir(weights_file)
    path = _export_path(model, folder, batch, image_size)
    normalise = NormalizeInput(nn.Identity(), mean, std)

    def inputs(images: np.ndarray) -> np.ndarray:
        return _normalised_nchw(normalise, images, batch)

    try:
        with file_lock(path.with_name(f".{path.name}.lock")):
            make_export = _exporter(model, path, batch, image_size)
            if precision == "int8":
                used, run = _openvino_int8(path, make_export, calibration_files, preprocessing, batch, inputs)
            else:
                used, run = _open_cached(path, lambda file: _SESSIONS[backend](file, precision), make_export,
                                         f"export ({backend})")
    except OSError as exc:
        raise describe_os_error(exc, folder, "keep exports in") from None
    return Runner(backend, used, lambda images: run(inputs(images))[: len(images)])


def checked_on_first_batch(runner: Runner, network: nn.Cell, batch: int) -> Callable[[np.ndarray], np.ndarray]:
    """``runner`` as a function of uint8 batches whose first call is compared with MindSpore's ``network`` (padded to
    ``batch``, as evaluation runs it) by :func:`check_against`, which raises on a disagreement."""
    checked = []

    def run(images: np.ndarray) -> np.ndarray:
        if not checked:
            reference = network(ms.Tensor(pad_batch(images, batch))).asnumpy()[: len(images)]
            checked.append(check_against(runner, reference, images))
            _logger.info("%s (%s) reproduces MindSpore on the first batch: max |logit diff| %.2e, same top-1 %s.",
                         runner.name, runner.precision, checked[0]["max_abs_logit_diff"], checked[0]["same_top1"])
        return runner(images)

    return run


def check_against(runner: Runner, reference: np.ndarray, images: np.ndarray) -> Dict:
    """Compare ``runner``'s logits on ``images`` with MindSpore's ``reference``; raise when they disagree beyond
    the tolerance of the runner's precision. Returns the measured differences."""
    logits = runner(images)
    report = compare_logits(logits, reference, *FP32_TOLERANCE)
    max_abs, same_top1 = report["max_abs_diff"], report["same_top1"]
    max_prob = float(np.abs(softmax(logits) - softmax(reference)).max())
    if runner.precision in MAX_PROBABILITY_DIFF:
        bound = MAX_PROBABILITY_DIFF[runner.precision]
        agrees, tolerance = max_prob <= bound, f"probabilities within {bound}"
    else:
        agrees, tolerance = report["agrees"], f"logits within {report['tolerance']:.2e} and the same top-1"
    if not agrees:
        raise BackendError(f"{runner.name} ({runner.precision}) does not reproduce MindSpore on the first batch: max "
                           f"|logit diff| {max_abs:.3e}, max |probability diff| {max_prob:.3e}, same top-1 "
                           f"{same_top1} (needed: {tolerance}). Use --backend mindspore"
                           + (" or --precision fp32." if runner.precision != "fp32" else "."))
    return dict(max_abs_logit_diff=max_abs, max_probability_diff=max_prob, same_top1=same_top1)
