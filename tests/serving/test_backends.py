"""Inference backends: the cached ONNX export (made once per weights) in ONNX Runtime and OpenVINO, checked
against MindSpore before use."""
import subprocess
import sys

import mindspore as ms
import numpy as np
import pytest

from mindcv.serving.inference import Predictor
from mindcv.serving.backends import BackendError, Runner, check_against, create_runner
from mindcv.utils.checkpoint import weights_digest
from mindcv.utils.errors import FileWriteError


@pytest.fixture(scope="module")
def predictor(trained_run):
    return Predictor.from_checkpoint(str(trained_run / "best.ckpt"))


def _images(count: int = 4) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (count, 71, 71, 3), dtype=np.uint8)


def _runner(predictor, backend, cache_dir, precision="auto"):
    p = predictor.preprocessing
    return create_runner(backend, predictor.network, predictor.model, p.mean, p.std, 4, p.image_size,
                         cache_dir=str(cache_dir), precision=precision)


def test_the_export_is_made_once_per_set_of_weights(predictor, tmp_path):
    _runner(predictor, "onnxruntime", tmp_path)
    (export,) = tmp_path.glob("*.onnx")
    assert weights_digest(predictor.model)[:16] in export.name and export.name.endswith("-4x71.onnx")
    made = export.stat().st_mtime_ns
    _runner(predictor, "openvino", tmp_path)  # both backends read the same file
    assert [p.stat().st_mtime_ns for p in tmp_path.glob("*.onnx")] == [made]
    bias = predictor.model.classifier.bias
    original = bias.asnumpy()
    images = _images()
    try:
        bias.set_data(ms.Tensor(original + np.arange(3, dtype=np.float32)))
        changed = _runner(predictor, "onnxruntime", tmp_path)
        assert np.allclose(changed(images), predictor.network(ms.Tensor(images)).asnumpy(), atol=1e-4)
    finally:
        bias.set_data(ms.Tensor(original))
    assert len(list(tmp_path.glob("*.onnx"))) == 2


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_exported_backends_reproduce_mindspore(predictor, tmp_path, backend):
    runner = _runner(predictor, backend, tmp_path, precision="fp32")
    images = _images()
    reference = predictor.network(ms.Tensor(images)).asnumpy()
    report = check_against(runner, reference, images)
    assert runner.precision == "fp32" and report["same_top1"] and report["max_abs_logit_diff"] < 1e-4
    assert np.allclose(runner(images[:3]), reference[:3], atol=1e-4)  # a short last batch is padded


def test_openvino_auto_precision_is_reported_and_checked_at_its_tolerance(predictor, tmp_path):
    openvino = pytest.importorskip("openvino")
    native_bf16 = "BF16" in openvino.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    runner = _runner(predictor, "openvino", tmp_path)
    assert runner.precision == ("bf16" if native_bf16 else "fp32")
    images = _images()
    reference = predictor.network(ms.Tensor(images)).asnumpy()
    report = check_against(runner, reference, images)
    assert report["max_probability_diff"] <= 0.02
    if native_bf16:  # bf16 keeps ~3 significant digits: not fp32's agreement
        assert report["max_abs_logit_diff"] > 1e-5


def test_a_backend_that_disagrees_is_refused(predictor):
    images = _images()
    reference = predictor.network(ms.Tensor(images)).asnumpy()
    shifted = Runner("onnxruntime", "fp32", lambda x: reference + np.float32(0.05) * np.abs(reference).max())
    with pytest.raises(BackendError, match="onnxruntime \\(fp32\\) does not reproduce MindSpore"):
        check_against(shifted, reference, images)
    flipped = Runner("openvino", "bf16", lambda x: -reference)
    with pytest.raises(BackendError, match="--precision fp32"):
        check_against(flipped, reference, images)


def test_a_missing_backend_package_names_the_extra(predictor, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(BackendError, match=r"pip install 'mindcv-xception\[export\]'"):
        _runner(predictor, "onnxruntime", tmp_path)


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_an_unreadable_cached_export_is_made_again(predictor, tmp_path, backend):
    _runner(predictor, "onnxruntime", tmp_path)
    (export,) = tmp_path.glob("*.onnx")
    whole = export.read_bytes()
    export.write_bytes(whole[: len(whole) // 2])
    runner = _runner(predictor, backend, tmp_path, precision="fp32")
    images = _images()
    assert abs(export.stat().st_size - len(whole)) < 100  # whole again (names inside differ by an export counter)
    assert check_against(runner, predictor.network(ms.Tensor(images)).asnumpy(), images)["same_top1"]


@pytest.mark.parametrize("where, message", [("file", "a file is in the way of a folder"),
                                            ("file/sub", "a part of the path is a file, not a folder")])
def test_an_export_folder_that_cannot_be_one_is_one_error(predictor, tmp_path, where, message):
    (tmp_path / "file").write_text("")
    with pytest.raises(FileWriteError, match=f"Cannot keep exports in {tmp_path / where}: {message}"):
        _runner(predictor, "onnxruntime", tmp_path / where)


_MODELS_FREED_OUT_OF_ORDER = """
import faulthandler, gc, os, signal, sys
from pathlib import Path
faulthandler.enable()  # the main thread gets an alternate signal stack, as under pytest or python -X faulthandler
import numpy as np, openvino, openvino.opset13 as ops
from mindcv.serving.backends import _openvino_model
images = ops.parameter([1, 4], np.float32)
path = Path(sys.argv[1]) / "relu.xml"
openvino.save_model(openvino.Model([ops.relu(images)], [images]), str(path))
first, second = _openvino_model(path, "fp32"), _openvino_model(path, "fp32")
assert first[1](np.array([[-1, 2, -3, 4]], np.float32)).tolist() == [[0, 2, 0, 4]]
del first
gc.collect()
del second  # freed after the model compiled before it
gc.collect()
signal.signal(signal.SIGTERM, lambda signum, frame: print("SIGTERM handled"))
os.kill(os.getpid(), signal.SIGTERM)
"""


@pytest.mark.slow
def test_openvino_models_freed_in_any_order_leave_signals_working(tmp_path):
    """OpenVINO's CPU plugin swaps the compiling thread's alternate signal stack per compiled model; freed out of
    order, the thread was left on an unmapped stack and the next Python signal handler killed the process with
    SIGSEGV (the test suite's SIGTERM tests did, after an int8 validation). Run in a child: it dies if broken."""
    pytest.importorskip("openvino")
    child = subprocess.run([sys.executable, "-c", _MODELS_FREED_OUT_OF_ORDER, str(tmp_path)], capture_output=True,
                           text=True, timeout=300)
    assert child.returncode == 0 and "SIGTERM handled" in child.stdout, (child.returncode, child.stderr[-2000:])
