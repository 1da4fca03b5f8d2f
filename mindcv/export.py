"""Export a model to MindIR or ONNX and prove the file computes what the model computes.

    python -m mindcv.export --ckpt_path runs/x/best.ckpt --format MINDIR --output xception.mindir
    python -m mindcv.export --pretrained keras_in1k --checkpoint xception_keras_in1k.ckpt --format ONNX \\
        --output xception.onnx --fold_bn

The graph has one static input of shape (batch_size, in_channels, image_size, image_size), float32, already
normalised as the model's preprocessing does, and returns the logits. MindSpore's own ``mindspore.export``
writes the file; the tool then loads it back (MindIR through ``mindspore.load`` and ``nn.GraphCell``, ONNX
through onnxruntime) and runs a seeded random batch through both the file and the original model. Above
``atol + rtol * max|logits|`` (default 1e-4 + 1e-4 relative) the file is deleted and the command fails.
``--fold_bn`` folds every BatchNorm into the convolution before it (fewer ops; same logits up to rounding).
"""
import argparse
import logging
import sys
from pathlib import Path
from typing import Dict, List, Optional

import mindspore as ms
import numpy as np

from .data.sources import DataError
from .predict import add_weight_arguments, predictor_from_arguments
from .utils.checkpoint import CheckpointError
from .utils.download import DownloadError

__all__ = ["export_model", "ExportError", "FORMATS"]

_logger = logging.getLogger(__name__)
FORMATS = {"MINDIR": ".mindir", "ONNX": ".onnx"}


class ExportError(RuntimeError):
    """The exported file could not be written, loaded, or does not reproduce the model's outputs."""


def _run_exported(path: Path, file_format: str, batch: np.ndarray) -> np.ndarray:
    if file_format == "MINDIR":
        graph = ms.load(str(path))
        return ms.nn.GraphCell(graph)(ms.Tensor(batch)).asnumpy()
    try:
        import onnxruntime
    except ImportError as exc:
        raise ExportError("Checking an ONNX export needs onnxruntime: pip install 'mindcv-xception[export]'.") \
            from exc
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: batch})[0]


def export_model(model: ms.nn.Cell, output: str, file_format: str = "MINDIR", batch_size: int = 1,
                 image_size: int = 299, in_channels: int = 3, fold_bn: bool = False, atol: float = 1e-4,
                 rtol: float = 1e-4, seed: int = 0) -> Dict:
    """Export ``model`` (built with ``use_cpu_kernels=False``) and verify the file; returns the measured error."""
    file_format = file_format.upper()
    if file_format not in FORMATS:
        raise ExportError(f"Unknown format {file_format!r}; choose one of {sorted(FORMATS)}.")
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
    stem = target.with_suffix("") if target.suffix.lower() == suffix else target
    stem.parent.mkdir(parents=True, exist_ok=True)
    ms.export(model, ms.Tensor(np.zeros(shape, np.float32)), file_name=str(stem), file_format=file_format)
    path = stem.with_name(stem.name + suffix)
    if not path.is_file():
        raise ExportError(f"mindspore.export did not write {path}.")
    exported = _run_exported(path, file_format, batch)
    max_abs = float(np.abs(exported - reference).max())
    scale = float(np.abs(reference).max())
    same_top1 = bool((exported.argmax(axis=1) == reference.argmax(axis=1)).all())
    report = dict(file=str(path), format=file_format, input_shape=list(shape), max_abs_diff=max_abs,
                  relative_diff=max_abs / max(scale, 1e-12), tolerance=atol + rtol * scale, same_top1=same_top1,
                  bn_folded=fold_bn)
    if exported.shape != reference.shape or max_abs > atol + rtol * scale or not same_top1:
        path.unlink()
        raise ExportError(f"The exported {file_format} file does not reproduce the model: max |diff| {max_abs:.3e} "
                          f"> tolerance {atol + rtol * scale:.3e} (or top-1 differs: {not same_top1}); "
                          f"{path} was deleted. Report this with the MindSpore version ({ms.__version__}).")
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
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    ms.set_device("CPU")
    try:
        predictor = predictor_from_arguments(parser, args, use_cpu_kernels=False)
        model = predictor.model
        report = export_model(model, args.output, args.format, args.batch_size,
                              args.image_size or predictor.preprocessing.image_size, model.in_channels,
                              args.fold_bn, args.atol, args.rtol)
    except (ExportError, CheckpointError, DownloadError, DataError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"Wrote {report['file']} (input {report['input_shape']} float32, BN folded: {report['bn_folded']}); "
          f"checked against the model: max |diff| {report['max_abs_diff']:.2e} (relative "
          f"{report['relative_diff']:.2e}, tolerance {report['tolerance']:.2e}), same top-1.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
