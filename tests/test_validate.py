"""validate.py: scores a train.py checkpoint like training did (also through an exported backend), and never scores
the wrong classifier."""
import re

import numpy as np
import pytest

import validate
from mindcv.models import create_model, layers
from tests.helpers import OPTION_READERS, record_option_readers
from tests.helpers import TRAIN_ARGS as COMMON
from tests.test_train import TINY, _metrics, process_state


def _colour_args(colour_images, *extra):
    return COMMON + ["--dataset", "imagefolder", "--data_dir", str(colour_images), "--mode", "0",
                     "--batch_size", "4", *[str(e) for e in extra]]


def test_validate_reproduces_final_top1(trained_run, colour_images, capsys, monkeypatch):
    final = _metrics(trained_run)[-1]
    before = process_state()
    readers = record_option_readers(monkeypatch)
    assert validate.main(_colour_args(colour_images, "--ckpt_path", trained_run / "latest.ckpt")) == 0
    assert process_state() == before  # graph mode, logging and seeds were the command's only
    assert "mindcv.run.builder" in readers and readers <= OPTION_READERS
    out = capsys.readouterr().out
    assert f"top-1 {final['val_top1']:.2f}%" in out and "18 images" in out


def test_without_or_with_missing_checkpoint_fails_clearly(tmp_path, capsys):
    assert validate.main(TINY + ["--ckpt_path", str(tmp_path / "missing.ckpt")]) == 2
    assert "Checkpoint file not found" in capsys.readouterr().err
    assert validate.main(TINY) == 2
    assert "never evaluates random weights" in capsys.readouterr().err


def test_a_checkpoint_of_another_classifier_is_refused(colour_images, tmp_path, capsys):
    import mindspore as ms

    path = tmp_path / "ten.ckpt"
    ms.save_checkpoint(create_model("xception", num_classes=10), str(path))
    assert validate.main(_colour_args(colour_images, "--ckpt_path", path, "--num_classes", "3")) == 2
    err = capsys.readouterr().err
    assert "classifier of shape (10, 2048)" in err and "(3, 2048)" in err


def test_a_split_without_readable_images_is_an_error(tmp_path, trained_run, capsys):
    for name in ("blue", "green", "red"):
        (tmp_path / "train" / name).mkdir(parents=True)
        (tmp_path / "train" / name / "0.png").write_bytes(b"broken")
        (tmp_path / "val" / name).mkdir(parents=True)
        (tmp_path / "val" / name / "0.png").write_bytes(b"broken")
    assert validate.main(_colour_args(tmp_path, "--ckpt_path", trained_run / "best.ckpt")) == 2
    assert "Validation saw no images" in capsys.readouterr().err


@pytest.mark.parametrize("flag", ["--print_config"])
def test_print_config(flag, capsys):
    assert validate.main(TINY + [flag]) == 0
    assert "dataset: fashion_mnist" in capsys.readouterr().out


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_an_exported_backend_scores_what_mindspore_scores(trained_run, colour_images, tmp_path, capsys, backend):
    """fp32: the same predictions, so the same top-1 and top-5 (the loss within float rounding)."""
    args = _colour_args(colour_images, "--ckpt_path", trained_run / "latest.ckpt")
    assert validate.main(args) == 0
    reference = capsys.readouterr().out
    assert validate.main(args + ["--backend", backend, "--precision", "fp32", "--export_dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert f"({backend}, fp32)" in out and len(list(tmp_path.glob("*.onnx"))) == 1
    assert re.search(r"top-1 \S+  top-5 \S+", out).group(0) == re.search(r"top-1 \S+  top-5 \S+", reference).group(0)
    loss = [float(re.search(r"loss (\S+)", text).group(1)) for text in (out, reference)]
    assert abs(loss[0] - loss[1]) < 1e-3


def test_int8_reports_its_top1_beside_the_fp32_export(trained_run, colour_images, tmp_path, capsys):
    args = _colour_args(colour_images, "--ckpt_path", trained_run / "latest.ckpt", "--backend", "openvino",
                        "--export_dir", tmp_path)
    assert validate.main(args + ["--precision", "fp32"]) == 0
    fp32 = float(re.search(r"top-1 (\S+)%", capsys.readouterr().out).group(1))
    assert validate.main(args + ["--precision", "int8", "--calibration_dir", str(colour_images / "train"),
                                 "--calibration_size", "12"]) == 0
    out = capsys.readouterr().out
    int8 = float(re.search(r"top-1 (\S+)%.*\(openvino, int8\)", out).group(1))
    reference = re.search(r"reference \(openvino, fp32\): top-1 (\S+)%.*top-1 difference (\S+) points", out)
    assert float(reference.group(1)) == fp32 and float(reference.group(2)) == pytest.approx(int8 - fp32, abs=0.01)
    assert abs(int8 - fp32) <= 100 / 18 + 1e-6  # the 18 easy images: at most one changes its class
    assert len(list(tmp_path.glob("*-int8-*.xml"))) == 1 and "warning" not in capsys.readouterr().err
    # calibrated on one blue square, the other colours fall outside the quantizers' ranges: loud, not silent
    assert validate.main(args + ["--precision", "int8", "--calibration_dir", str(colour_images / "train"),
                                 "--calibration_size", "1"]) == 0
    out, err = capsys.readouterr()
    lost = fp32 - float(re.search(r"top-1 (\S+)%.*\(openvino, int8\)", out).group(1))
    assert lost > 1 and f"warning: int8 loses {lost:.2f} points of top-1" in err


def test_a_backend_that_disagrees_with_mindspore_is_an_error(trained_run, colour_images, tmp_path, capsys,
                                                            monkeypatch):
    from mindcv.serving import backends as serving

    real = serving._onnxruntime_session

    def off_by_one(path, precision):  # a backend whose logits are wrong
        used, run = real(path, precision)
        return used, lambda batch: run(batch) + np.arange(3, dtype=np.float32)

    monkeypatch.setitem(serving._SESSIONS, "onnxruntime", off_by_one)
    args = _colour_args(colour_images, "--ckpt_path", trained_run / "latest.ckpt", "--backend", "onnxruntime",
                        "--export_dir", tmp_path)
    assert validate.main(args) == 2
    err = capsys.readouterr()
    assert "does not reproduce MindSpore on the first batch" in err.err and "top-1" not in err.out


def test_bf16_needs_openvino(capsys):
    assert validate.main(TINY + ["--precision", "bf16", "--ckpt_path", "x.ckpt"]) == 2
    assert "'precision' bf16 needs --backend openvino" in capsys.readouterr().err


def test_medium_matmul_precision_scores_as_float32_within_bf16_rounding(trained_run, colour_images, capsys,
                                                                         monkeypatch):
    monkeypatch.setattr(layers, "cpu_has_bf16", lambda: True)  # any CPU: the kernel has a float32 path for bf16
    monkeypatch.setattr(layers, "cpu_has_amx", lambda: False)
    args = _colour_args(colour_images, "--ckpt_path", trained_run / "latest.ckpt")
    assert validate.main(args) == 0
    reference = capsys.readouterr().out
    assert validate.main(args + ["--float32_matmul_precision", "medium"]) == 0
    out, err = capsys.readouterr()
    assert "bf16 inputs" in err
    assert re.search(r"top-1 \S+  top-5 \S+", out).group(0) == re.search(r"top-1 \S+  top-5 \S+", reference).group(0)
    loss = [float(re.search(r"loss (\S+)", text).group(1)) for text in (out, reference)]
    assert abs(loss[0] - loss[1]) < 2e-2 * loss[1]


def test_medium_matmul_precision_is_for_mindspore_runs(capsys):
    assert validate.main(TINY + ["--float32_matmul_precision", "medium", "--backend", "onnxruntime",
                                 "--ckpt_path", "x.ckpt"]) == 2
    assert "'float32_matmul_precision' medium is for MindSpore's own run" in capsys.readouterr().err


def test_calibrate_stores_a_temperature_that_predict_applies(trained_run, colour_images, tmp_path, capsys):
    """--calibrate fits the temperature minimising the NLL of the validated images, reports NLL and ECE before and
    after, stores it in the checkpoint (every other entry unchanged) and draws reliability.png beside it;
    predict's probabilities become softmax(logits / T): the same ranking, other confidences."""
    import shutil

    from mindcv.engine.calibration import at_range_edge
    from mindcv.serving.inference import Predictor
    from mindcv.utils.checkpoint import checkpoint_metadata, read_checkpoint

    checkpoint = tmp_path / "latest.ckpt"
    shutil.copyfile(trained_run / "latest.ckpt", checkpoint)
    assert validate.main(_colour_args(colour_images, "--ckpt_path", checkpoint, "--calibrate", "True")) == 0
    captured = capsys.readouterr()
    found = re.search(r"temperature ([\d.]+)  NLL ([\d.]+) -> ([\d.]+)  ECE ([\d.]+)% -> ([\d.]+)%", captured.out)
    temperature, nll_before, nll_after = (float(found.group(i)) for i in (1, 2, 3))
    assert nll_after <= nll_before and temperature != 1.0
    # a set all classified right cannot pin the temperature down (sharper is always better): said, not hidden
    assert ("stopped at the end of its range" in captured.err) == at_range_edge(temperature)
    state, original = read_checkpoint(checkpoint), read_checkpoint(trained_run / "latest.ckpt")
    meta = checkpoint_metadata(state)
    assert round(meta["temperature"], 4) == temperature and meta["temperature_fitted_on"].endswith(":val")
    assert {k: v for k, v in meta.items() if not k.startswith("temperature")} == checkpoint_metadata(original)
    weights = [k for k in original if not k.startswith("mindcv_meta.")]
    assert weights == [k for k in state if not k.startswith("mindcv_meta.")]
    assert all(np.array_equal(state[k].asnumpy(), original[k].asnumpy()) for k in weights)
    assert (tmp_path / "reliability.png").read_bytes()[:4] == b"\x89PNG"
    assert validate.main(_colour_args(colour_images, "--ckpt_path", checkpoint)) == 0  # judged with the stored T
    judged = re.search(r"with the checkpoint's temperature ([\d.]+) .*: NLL ([\d.]+)", capsys.readouterr().out)
    assert float(judged.group(1)) == temperature and float(judged.group(2)) == nll_after  # the same images
    image = sorted(colour_images.glob("val/red/*.png"))[:2]
    plain = Predictor.from_checkpoint(str(trained_run / "latest.ckpt")).predict(image, topk=3, progress=False)
    calibrated = Predictor.from_checkpoint(str(checkpoint))
    assert calibrated.temperature == meta["temperature"]
    for a, b in zip(plain, calibrated.predict(image, topk=3, progress=False)):
        log_p = np.log([p["probability"] for p in sorted(a["predictions"], key=lambda p: p["index"])])
        expected = np.exp(log_p / meta["temperature"]) / np.exp(log_p / meta["temperature"]).sum()
        got = [p["probability"] for p in sorted(b["predictions"], key=lambda p: p["index"])]
        assert np.allclose(got, expected, rtol=1e-5, atol=1e-7)
        assert [p["index"] for p in a["predictions"]] == [p["index"] for p in b["predictions"]]
