"""MindIR and ONNX export, each reloaded and checked against the model."""
import numpy as np
import onnx
import pytest

from mindcv import export as export_module
from mindcv.export import ExportError, export_model, main
from mindcv.models import create_model


@pytest.mark.parametrize("file_format, fold", [("MINDIR", False), ("ONNX", False), ("ONNX", True)])
def test_export_round_trips_within_tolerance(trained_run, tmp_path, capsys, file_format, fold):
    output = tmp_path / f"model.{file_format.lower()}"
    argv = ["--ckpt_path", str(trained_run / "best.ckpt"), "--format", file_format, "--output", str(output),
            "--batch_size", "2"] + (["--fold_bn"] if fold else [])
    assert main(argv) == 0
    assert output.is_file()
    printed = capsys.readouterr().out
    assert "checked against the model" in printed and "[2, 3, 71, 71]" in printed
    if file_format == "ONNX":
        graph = onnx.load(str(output)).graph
        assert [d.dim_value for d in graph.input[0].type.tensor_type.shape.dim] == [2, 3, 71, 71]
        assert any(node.op_type == "BatchNormalization" for node in graph.node) is not fold


def test_a_file_that_disagrees_is_deleted_and_fails(tmp_path, monkeypatch):
    model = create_model("xception", num_classes=3, use_cpu_kernels=False)
    real = export_module._run_exported
    monkeypatch.setattr(export_module, "_run_exported",
                        lambda path, fmt, batch: real(path, fmt, batch) + np.float32(0.01))
    with pytest.raises(ExportError, match="does not reproduce the model"):
        export_model(model, str(tmp_path / "bad"), "MINDIR", image_size=71)
    assert not list(tmp_path.iterdir())


def test_model_on_custom_kernels_is_refused(tmp_path):
    model = create_model("xception", num_classes=3, use_cpu_kernels=True)
    with pytest.raises(ExportError, match="use_cpu_kernels=False"):
        export_model(model, str(tmp_path / "x"), "ONNX", image_size=71)
