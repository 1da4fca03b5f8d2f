"""Export a model to MindIR or ONNX and prove the file computes what the model computes.

    python -m mindcv.export --ckpt_path runs/x/best.ckpt --format MINDIR --output xception.mindir
    python -m mindcv.export --pretrained keras_in1k --checkpoint xception_keras_in1k.ckpt --format ONNX \\
        --output xception.onnx --fold_bn

The graph has one static input of shape (batch_size, in_channels, image_size, image_size), float32, already
normalised as the model's preprocessing does, and returns the logits. MindSpore's own ``mindspore.export``
writes the file; the tool then loads it back (MindIR through ``mindspore.load`` and ``nn.GraphCell``, ONNX
through onnxruntime) and runs a seeded random batch through both the file and the original model. Above
``atol + rtol * max|logits|`` (default 1e-4 + 1e-4 relative) nothing is written and the command fails; files
are written atomically. An ONNX check needs onnxruntime: without it the command refuses unless ``--no_verify``.
``--fold_bn`` folds every BatchNorm into the convolution before it (fewer ops; same logits up to rounding).
"""
import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Dict, List, Optional

import mindspore as ms
import numpy as np

from .cli import add_weight_arguments, check_weight_arguments, predictor_from_arguments, run_cli
from .utils.errors import MindcvError
from .utils.fileio import atomic_path, describe_os_error

__all__ = ["export_model", "ExportError", "FORMATS"]

_logger = logging.getLogger(__name__)
FORMATS = {"MINDIR": ".mindir", "ONNX": ".onnx"}


class ExportError(MindcvError):
    """The exported file could not be written, loaded, or does not reproduce the model's outputs."""


def _onnxruntime():
    try:
        import onnxruntime
    except ImportError as exc:
        raise ExportError("Checking an ONNX export needs onnxruntime: pip install 'mindcv-xception[export]' "
                          "(or pass --no_verify to write the file unchecked).") from exc
    return onnxruntime


def _run_exported(path: Path, file_format: str, batch: np.ndarray) -> np.ndarray:
    if file_format == "MINDIR":
        graph = ms.load(str(path))
        return ms.nn.GraphCell(graph)(ms.Tensor(batch)).asnumpy()
    session = _onnxruntime().InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: batch})[0]


def _compare(exported: np.ndarray, reference: np.ndarray, atol: float, rtol: float, file_format: str) -> Dict:
    max_abs = float(np.abs(exported - reference).max())
    scale = float(np.abs(reference).max())
    same_top1 = bool((exported.argmax(axis=1) == reference.argmax(axis=1)).all())
    if exported.shape != reference.shape or max_abs > atol + rtol * scale or not same_top1:
        raise ExportError(f"The exported {file_format} file does not reproduce the model: max |diff| {max_abs:.3e} "
                          f"> tolerance {atol + rtol * scale:.3e} (or top-1 differs: {not same_top1}); nothing was "
                          f"written. Report this with the MindSpore version ({ms.__version__}).")
    return dict(max_abs_diff=max_abs, relative_diff=max_abs / max(scale, 1e-12), tolerance=atol + rtol * scale,
                same_top1=same_top1)


def export_model(model: ms.nn.Cell, output: str, file_format: str = "MINDIR", batch_size: int = 1,
                 image_size: int = 299, in_channels: int = 3, fold_bn: bool = False, atol: float = 1e-4,
                 rtol: float = 1e-4, seed: int = 0, verify: bool = True) -> Dict:
    """Export ``model`` (built with ``use_cpu_kernels=False``) and verify the file; returns the measured error.

    Without ``verify`` the file is written unchecked (the report says so)."""
    file_format = file_format.upper()
    if file_format not in FORMATS:
        raise ExportError(f"Unknown format {file_format!r}; choose one of {sorted(FORMATS)}.")
    if verify and file_format == "ONNX":
        _onnxruntime()  # refuse before writing anything
    if getattr(model, "use_cpu_kernels", False):
        raise ExportError("This model runs mindcv's CPU custom kernels, which MindIR/ONNX cannot hold; build it "
                          "with use_cpu_kernels=False for export.")
    model.set_train(False)
    shape = (batch_size, in_channels, image_size, image_size)
    batch = np.random.default_rng(seed).normal(0.0, 1.0, shape).astype(np.float32)
    reference = model(ms.Tensor(batch)).asnumpy()
    if fold_bn:
        model.fold_batchnorm()
    suffix = FORMATS[file_format]
    target = Path(output)
    path = target if target.suffix.lower() == suffix else target.with_name(target.name + suffix)
    report = dict(file=str(path), format=file_format, input_shape=list(shape), bn_folded=fold_bn, verified=verify)
    with atomic_path(path, suffix=suffix) as tmp:
        try:
            ms.export(model, ms.Tensor(np.zeros(shape, np.float32)), file_name=str(tmp)[: -len(suffix)],
                      file_format=file_format)
        except RuntimeError as exc:
            if not os.access(path.parent, os.W_OK):
                raise describe_os_error(PermissionError(13, "Permission denied"), path) from exc
            raise
        if not tmp.is_file():
            raise ExportError(f"mindspore.export did not write {path}.")
        if verify:
            report.update(_compare(_run_exported(tmp, file_format, batch), reference, atol, rtol, file_format))
    return report


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mindcv.export", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_weight_arguments(parser)
    parser.add_argument("--format", default="MINDIR", choices=sorted(FORMATS), type=str.upper)
    parser.add_argument("--output", required=True, help="file to write (the format's suffix is added if missing)")
    parser.add_argument("--batch_size", type=int, default=1, help="static batch dimension of the graph")
    parser.add_argument("--image_size", type=int, default=0, help="static height/width (default: the model's)")
    parser.add_argument("--fold_bn", action="store_true", help="fold BatchNorm into the preceding convolutions")
    parser.add_argument("--atol", type=float, default=1e-4)
    parser.add_argument("--rtol", type=float, default=1e-4)
    parser.add_argument("--no_verify", action="store_true",
                        help="write the file without loading it back and checking it (for ONNX without onnxruntime)")
    args = parser.parse_args(argv)
    check_weight_arguments(parser, args)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")

    def export() -> int:
        ms.set_device("CPU")
        predictor = predictor_from_arguments(args, use_cpu_kernels=False)
        model = predictor.model
        report = export_model(model, args.output, args.format, args.batch_size,
                              args.image_size or predictor.preprocessing.image_size, model.in_channels,
                              args.fold_bn, args.atol, args.rtol, verify=not args.no_verify)
        checked = (f"checked against the model: max |diff| {report['max_abs_diff']:.2e} (relative "
                   f"{report['relative_diff']:.2e}, tolerance {report['tolerance']:.2e}), same top-1"
                   if report["verified"] else "NOT checked (--no_verify)")
        print(f"Wrote {report['file']} (input {report['input_shape']} float32, BN folded: {report['bn_folded']}); "
              f"{checked}.")
        return 0

    return run_cli(export)


if __name__ == "__main__":
    sys.exit(main())
