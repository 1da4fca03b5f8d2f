"""Exporting a model to MindIR or ONNX, or as a folder for the Hugging Face Hub, and proving that what was
written computes what the model computes.

MindSpore's own ``mindspore.export`` writes the file (one static input of shape (batch, channels, size, size),
float32, already normalised; the logits as output); :func:`export_model` then loads it back (MindIR through
``mindspore.load`` and ``nn.GraphCell``, ONNX through onnxruntime) and runs a seeded random batch through both
the file and the model. Above ``atol + rtol * max|logits|`` nothing is written. Files are written atomically.
:func:`export_for_hub` writes the folder of :mod:`mindcv.models.hub` with a model card from what the
checkpoint's run recorded, loads it back as ``create_model`` would, and keeps it only when the logits are
bitwise the model's.
"""
import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Dict, Iterator, Optional, Tuple

import mindspore as ms
import numpy as np
from mindspore import nn

from ..config import read_saved_run
from ..models import create_model
from ..models.hub import save_hub_folder
from ..utils.checkpoint import checkpoint_metadata, read_checkpoint
from ..utils.errors import MindcvError
from ..utils.fileio import atomic_path, describe_os_error
from ..utils.suggest import install_hint
from ..utils.training_curves import PlotError, read_metrics

__all__ = ["export_model", "export_for_hub", "compare_logits", "ExportError", "FORMATS", "mindspore_operators"]

FORMATS = {"MINDIR": ".mindir", "ONNX": ".onnx"}  # graphs (export_model); safetensors folders: export_for_hub


@contextmanager
def mindspore_operators(model: nn.Cell) -> Iterator[nn.Cell]:
    """Within the block ``model`` runs MindSpore's own operators instead of mindcv's CPU kernels, which an
    exported graph cannot hold; the kernels are restored afterwards."""
    previous = model.set_cpu_kernels(False)
    try:
        yield model
    finally:
        model.set_cpu_kernels(previous)


class ExportError(MindcvError):
    """The exported file could not be written, loaded, or does not reproduce the model's outputs."""


def _onnxruntime():
    try:
        import onnxruntime
    except ImportError as exc:
        raise ExportError(f"Checking an ONNX export needs onnxruntime: {install_hint('export')} "
                          "(or pass --no_verify to write the file unchecked).") from exc
    return onnxruntime


def _run_exported(path: Path, file_format: str, batch: np.ndarray) -> np.ndarray:
    if file_format == "MINDIR":
        graph = ms.load(str(path))
        return ms.nn.GraphCell(graph)(ms.Tensor(batch)).asnumpy()
    session = _onnxruntime().InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: batch})[0]


def compare_logits(logits: np.ndarray, reference: np.ndarray, atol: float, rtol: float) -> Dict:
    """How ``logits`` differ from ``reference``: they agree when the shapes match, the largest difference is
    within ``atol + rtol * max|reference|`` and every row has the same top-1 (the check of exports and of
    the serving backends)."""
    same_shape = logits.shape == reference.shape
    max_abs = float(np.abs(logits - reference).max()) if same_shape else float("inf")
    scale = float(np.abs(reference).max())
    same_top1 = same_shape and bool((logits.argmax(axis=1) == reference.argmax(axis=1)).all())
    tolerance = atol + rtol * scale
    return dict(agrees=same_shape and max_abs <= tolerance and same_top1, max_abs_diff=max_abs,
                relative_diff=max_abs / max(scale, 1e-12), tolerance=tolerance, same_top1=same_top1)


def _compare(exported: np.ndarray, reference: np.ndarray, atol: float, rtol: float, file_format: str) -> Dict:
    report = compare_logits(exported, reference, atol, rtol)
    if not report.pop("agrees"):
        raise ExportError(f"The exported {file_format} file does not reproduce the model: max |diff| "
                          f"{report['max_abs_diff']:.3e} > tolerance {report['tolerance']:.3e} (or top-1 differs: "
                          f"{not report['same_top1']}); nothing was written. Report this with the MindSpore version "
                          f"({ms.__version__}).")
    return report


def export_model(model: nn.Cell, output: str, file_format: str = "MINDIR", batch_size: int = 1,
                 image_size: int = 299, in_channels: int = 3, fold_bn: bool = False, atol: float = 1e-4,
                 rtol: float = 1e-4, seed: int = 0, verify: bool = True) -> Dict:
    """Export ``model`` and verify the file; returns the measured error. The graph uses MindSpore's operators
    (see :func:`mindspore_operators`); ``fold_bn`` folds the model's BatchNorms first (in place).

    Without ``verify`` the file is written unchecked (the report says so)."""
    file_format = file_format.upper()
    if file_format not in FORMATS:
        raise ExportError(f"Unknown format {file_format!r}; choose one of {sorted(FORMATS)}.")
    if verify and file_format == "ONNX":
        _onnxruntime()  # refuse before writing anything
    model.set_train(False)
    shape = (batch_size, in_channels, image_size, image_size)
    batch = np.random.default_rng(seed).normal(0.0, 1.0, shape).astype(np.float32)
    reference = model(ms.Tensor(batch)).asnumpy()
    if fold_bn:
        model.fold_batchnorm()
    with mindspore_operators(model):
        return _write_and_check(model, Path(output), file_format, shape, batch, reference, fold_bn, atol, rtol,
                                verify)


def _write_and_check(model: nn.Cell, target: Path, file_format: str, shape, batch: np.ndarray,
                     reference: np.ndarray, fold_bn: bool, atol: float, rtol: float, verify: bool) -> Dict:
    suffix = FORMATS[file_format]
    path = target if target.suffix.lower() == suffix else target.with_name(target.name + suffix)
    report = dict(file=str(path), format=file_format, input_shape=list(shape), bn_folded=fold_bn, verified=verify)
    # MindSpore 2.7 reuses the graph a previous export of this cell compiled (and altered while writing it), so
    # a second ONNX export of one model fails; forget those graphs so every export compiles afresh.
    for phase in [phase for phase in model.compile_cache if phase.startswith("export")]:
        model.compile_cache.discard(phase)
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


def _run_facts(checkpoint: Optional[str], cfg) -> Dict:
    """What the model card says about weights: where they come from, their scores and recipe."""
    if not checkpoint:
        tag = cfg.source or "a pretrained tag"
        metrics = [(f"ImageNet-1K top-{k} (as published)", value)
                   for k, value in ((1, cfg.top1), (5, cfg.top5)) if value is not None]
        return {"source": f"the pretrained weights {tag}", "metrics": metrics,
                "scores": {"top1": cfg.top1, "top5": cfg.top5}}
    meta = checkpoint_metadata(read_checkpoint(checkpoint))
    path = Path(checkpoint)
    facts = {"name": f"{meta.get('model', 'model')} ({path.parent.name})", "recipe": meta.get("config", ""),
             "source": f"checkpoint `{path.name}`" + (f" (epoch {meta['epoch']})" if "epoch" in meta else "")}
    try:
        rows = read_metrics(path.parent)  # a resumed run's re-logged epoch: its last row
    except (PlotError, OSError):  # a checkpoint from outside a run, or a run that logged nothing
        rows = []
    row = next((r for r in rows if r.get("epoch") == meta.get("epoch") and "val_top1" in r), None)
    if row is not None:
        facts["metrics"] = [("validation top-1 (%)", f"{row['val_top1']:.2f}"),
                            ("validation top-5 (%)", f"{row['val_top5']:.2f}"),
                            ("validation loss", f"{row['val_loss']:.4f}"), ("epoch", row["epoch"])]
        facts["scores"] = {"top1": row["val_top1"], "top5": row["val_top5"]}
    if facts["recipe"]:
        saved = read_saved_run(facts["recipe"], f"the options saved in {path}")
        facts["data"] = (f"Data set `{saved.dataset}`, splits `{saved.train_split}` (training) and "
                         f"`{saved.val_split}` (validation).")
    return facts


def export_for_hub(predictor, output: str, checkpoint: Optional[str] = None, seed: int = 0) -> Dict:
    """Write ``predictor``'s model as a Hub folder at ``output`` and prove it: loaded back as ``create_model``
    loads it, a seeded batch gives bitwise the same logits and the preprocessing, class names and temperature
    are the same; otherwise the folder is removed and :class:`ExportError` raised."""
    model, prep = predictor.model, predictor.preprocessing
    cfg = model.pretrained_cfg
    size, channels = prep.image_size, model.in_channels
    preprocessing = {"input_size": [channels, size, size], "crop_pct": prep.crop_pct,
                     "interpolation": prep.interpolation, "mean": list(prep.mean), "std": list(prep.std)}
    architecture = _architecture(model)
    folder = save_hub_folder(model, output, architecture=architecture, label_names=predictor.class_names,
                             preprocessing=preprocessing, facts=_run_facts(checkpoint, cfg),
                             temperature=predictor.temperature, model_args=cfg.model_args if cfg else {})
    try:
        loaded = create_model(architecture, pretrained=str(folder))
        mismatch = _round_trip_mismatch(model, loaded, predictor, (2, channels, size, size), seed)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    if mismatch:
        shutil.rmtree(folder, ignore_errors=True)
        raise ExportError(f"The exported folder does not reproduce the model ({mismatch}); nothing was kept. Report "
                          f"this with the MindSpore version ({ms.__version__}).")
    return {"folder": str(folder), "architecture": architecture, "num_classes": len(predictor.class_names),
            "input_shape": [channels, size, size]}


def _architecture(model: nn.Cell) -> str:
    name = getattr(model, "architecture", "")
    if not name:
        raise ExportError(f"{type(model).__name__} was not built by create_model; only registered models are "
                          "exported for the Hub.")
    return name


def _round_trip_mismatch(model: nn.Cell, loaded: nn.Cell, predictor, shape: Tuple[int, ...], seed: int) -> str:
    batch = ms.Tensor(np.random.default_rng(seed).normal(0.0, 1.0, shape).astype(np.float32))
    model.set_train(False)
    loaded.set_train(False)
    if not np.array_equal(model(batch).asnumpy(), loaded(batch).asnumpy()):
        return "logits differ"
    cfg, prep = loaded.pretrained_cfg, predictor.preprocessing
    if (cfg.input_size[-1], cfg.crop_pct, cfg.interpolation, list(cfg.mean), list(cfg.std)) != \
            (prep.image_size, prep.crop_pct, prep.interpolation, list(prep.mean), list(prep.std)):
        return "preprocessing differs"
    if list(cfg.label_names) != list(predictor.class_names) or cfg.temperature != predictor.temperature:
        return "class names or temperature differ"
    return ""
