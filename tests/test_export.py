"""MindIR and ONNX export, each reloaded and checked against the model before anything is written."""
import sys

import mindspore as ms
import pytest

from mindcv.export import main
from mindcv.models import create_model

onnx = pytest.importorskip("onnx", reason="the export extra")

pytestmark = pytest.mark.slow  # exports and reloads whole models


@pytest.mark.parametrize("file_format, fold", [("MINDIR", False), ("ONNX", False), ("ONNX", True)])
def test_export_round_trips_within_tolerance(trained_run, tmp_path, capsys, file_format, fold):
    output = tmp_path / f"model.{file_format.lower()}"
    argv = ["--ckpt_path", str(trained_run / "best.ckpt"), "--format", file_format, "--output", str(output),
            "--batch_size", "2"] + (["--fold_bn"] if fold else [])
    assert main(argv) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [output.name]
    printed = capsys.readouterr().out
    assert "checked against the model" in printed and "[2, 3, 71, 71]" in printed
    if file_format == "ONNX":
        graph = onnx.load(str(output)).graph
        assert [d.dim_value for d in graph.input[0].type.tensor_type.shape.dim] == [2, 3, 71, 71]
        assert any(node.op_type == "BatchNormalization" for node in graph.node) is not fold


def test_aligned_xception_exports_with_folded_batchnorm(tmp_path, capsys):
    path = tmp_path / "x41.ckpt"
    ms.save_checkpoint(create_model("xception41", num_classes=3), str(path))
    output = tmp_path / "x41.onnx"
    assert main(["--ckpt_path", str(path), "--model", "xception41", "--format", "ONNX", "--fold_bn", "--output",
                 str(output), "--image_size", "96"]) == 0
    assert not any(node.op_type == "BatchNormalization" for node in onnx.load(str(output)).graph.node)


def test_onnx_without_onnxruntime_refuses_before_writing_unless_unchecked(trained_run, tmp_path, monkeypatch,
                                                                           capsys):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    output = tmp_path / "model.onnx"
    args = ["--ckpt_path", str(trained_run / "best.ckpt"), "--format", "ONNX", "--output", str(output)]
    assert main(args) == 2
    assert "needs onnxruntime" in capsys.readouterr().err and not list(tmp_path.iterdir())
    assert main(args + ["--no_verify"]) == 0
    assert output.is_file() and "NOT checked (--no_verify)" in capsys.readouterr().out
