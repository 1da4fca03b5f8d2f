"""export_model: a file that disagrees with the model is never written; CPU kernels never reach the graph."""
import numpy as np
import pytest

from mindcv.serving import exporting
from mindcv.serving.exporting import ExportError, export_model
from mindcv.models import create_model

onnx = pytest.importorskip("onnx", reason="the export extra")

pytestmark = pytest.mark.slow  # exports and reloads whole models


def test_a_file_that_disagrees_is_never_written(tmp_path, monkeypatch):
    model = create_model("xception", num_classes=3, use_cpu_kernels=False)
    real = exporting._run_exported
    monkeypatch.setattr(exporting, "_run_exported", lambda path, fmt, batch: real(path, fmt, batch) + np.float32(0.01))
    with pytest.raises(ExportError, match="does not reproduce the model.*nothing was written"):
        export_model(model, str(tmp_path / "bad"), "MINDIR", image_size=71)
    assert not list(tmp_path.iterdir())


def test_a_model_on_cpu_kernels_exports_mindspore_operators_and_keeps_its_kernels(tmp_path):
    model = create_model("xception", num_classes=3, use_cpu_kernels=True)
    kernels = [name for name, cell in model.cells_and_names() if getattr(cell, "fast_op", None) is not None]
    assert kernels
    report = export_model(model, str(tmp_path / "x"), "ONNX", image_size=71)
    assert report["max_abs_diff"] <= report["tolerance"]
    assert not [node.op_type for node in onnx.load(report["file"]).graph.node if "Custom" in node.op_type]
    assert [name for name, cell in model.cells_and_names() if getattr(cell, "fast_op", None) is not None] == kernels
    assert model.use_cpu_kernels
