"""Prediction on image files with a checkpoint trained by train.py (the colour squares of tests/conftest.py)."""
import csv
import json
import os

import numpy as np
import pytest
from PIL import Image

from mindcv.data.constants import imagenet_class_names
from mindcv.serving.inference import Predictor
from mindcv.models import create_model
from mindcv.utils.checkpoint import save_checkpoint_atomic
from mindcv.utils.errors import ConfigError
from mindcv.predict import collect_images, main, write_results
from tests.helpers import COLOURS


def _noisy(rgb, size, seed):
    """A colour square with the noise of the training images (the model knows nothing else)."""
    noise = np.random.default_rng(seed).normal(0, 40, (size[1], size[0], 3))
    return Image.fromarray(np.clip(np.array(rgb) + noise, 0, 255).astype(np.uint8))


@pytest.fixture
def photos(tmp_path):
    """New noisy colour squares in a nested folder: folder/<colour>.png and folder/more/<colour>_2.jpg."""
    (tmp_path / "photos" / "more").mkdir(parents=True)
    for seed, (name, rgb) in enumerate(COLOURS.items()):
        _noisy(rgb, (48, 40), 100 + seed).save(tmp_path / "photos" / f"{name}.png")
        _noisy(rgb, (36, 36), 200 + seed).save(tmp_path / "photos" / "more" / f"{name}_2.jpg", quality=95)
    return tmp_path / "photos"


def test_checkpoint_predictions_are_sorted_probabilities_and_right(trained_run, photos, tmp_path, capsys):
    out = tmp_path / "predictions.json"
    assert main([str(photos), "--ckpt_path", str(trained_run / "best.ckpt"), "--topk", "3",
                 "--batch_size", "4", "--output", str(out)]) == 0
    results = json.loads(out.read_text())
    assert [r["file"] for r in results] == [str(p) for p in collect_images([str(photos)])]
    assert len(results) == 6
    for entry in results:
        probs = [p["probability"] for p in entry["predictions"]]
        assert probs == sorted(probs, reverse=True) and sum(probs) == pytest.approx(1.0, abs=1e-6)
        expected = entry["file"].rsplit("/", 1)[-1].split(".")[0].split("_")[0]
        assert entry["predictions"][0]["label"] == expected, entry
    printed = capsys.readouterr().out
    assert f"{photos / 'red.png'}: red" in printed


def test_predictor_uses_the_training_preprocessing(trained_run):
    predictor = Predictor.from_checkpoint(str(trained_run / "best.ckpt"))
    assert predictor.class_names == ["blue", "green", "red"]
    assert predictor.preprocessing.image_size == 71 and predictor.preprocessing.crop_pct == 1.0


def test_a_checkpoint_whose_saved_options_this_version_does_not_know_is_refused(tmp_path):
    """The saved options are read through the options table: a renamed key is an error naming it, not a silent
    fall-back to 299 px and ImageNet statistics."""
    model = create_model("xception", num_classes=3)
    path = save_checkpoint_atomic(model, tmp_path / "old.ckpt", {
        "model": "xception", "class_names": json.dumps(["a", "b", "c"]), "config": "image_size: 96\ncrop_pct: 1.0\n"})
    with pytest.raises(ConfigError, match=r"Unknown option 'image_size' in the options saved in .*old\.ckpt"):
        Predictor.from_checkpoint(str(path))
    save_checkpoint_atomic(model, path, {"model": "xception", "class_names": json.dumps(["a", "b", "c"]),
                                         "config": "image_resize: 96\ncrop_pct: 1.0\n"})
    assert Predictor.from_checkpoint(str(path)).preprocessing.image_size == 96


def test_unreadable_file_is_reported_and_others_predicted(trained_run, photos, tmp_path):
    (photos / "broken.png").write_bytes(b"not a png")
    out = tmp_path / "predictions.csv"
    assert main([str(photos), "--ckpt_path", str(trained_run / "best.ckpt"), "--topk", "2",
                 "--output", str(out)]) == 1
    rows = list(csv.DictReader(out.open()))
    broken = [r for r in rows if r["file"].endswith("broken.png")]
    assert len(broken) == 1 and broken[0]["error"].startswith("cannot read image")
    good = [r for r in rows if not r["error"]]
    assert len(good) == 6 * 2 and {r["rank"] for r in good} == {"1", "2"}


def test_non_utf8_file_names_are_written_readably(trained_run, photos, tmp_path):
    odd = os.fsencode(str(photos)) + b"/caf\xe9.png"
    Image.new("RGB", (20, 20), COLOURS["red"]).save(odd)
    out = tmp_path / "predictions.csv"
    assert main([str(photos), "--ckpt_path", str(trained_run / "best.ckpt"), "--output", str(out)]) == 0
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert any(row["file"].endswith("caf\\xe9.png") for row in rows) and len(rows) == 7 * 3


@pytest.mark.parametrize("suffix", [".csv", ".json"])
def test_class_names_that_are_not_utf8_are_written_readably(tmp_path, suffix):
    label = os.fsdecode(b"caf\xe9")  # a class folder's name, as Python holds undecodable bytes
    results = [{"file": os.fsdecode(b"/x/\xff.png"), "predictions": [{"index": 0, "label": label,
                                                                      "probability": 1.0}]}]
    write_results(results, tmp_path / f"out{suffix}")
    text = (tmp_path / f"out{suffix}").read_text(encoding="utf-8")
    assert "caf\\xe9" in text.replace("\\\\", "\\") and "\\xff.png" in text.replace("\\\\", "\\")


def test_pretrained_tag_with_a_checkpoint_of_another_classifier_is_refused(trained_run, photos, capsys):
    assert main([str(photos), "--pretrained", "mindcv_in1k", "--checkpoint", str(trained_run / "best.ckpt")]) == 2
    assert "classifier of shape (3, 2048)" in capsys.readouterr().err


@pytest.mark.parametrize("extra, message", [(["--topk", "0"], "topk must be between 1 and the number of classes"),
                                            (["--topk", "4"], "topk must be between 1 and the number of classes (3)"),
                                            (["--output", "/nonexistent/dir/p.csv"], "does not exist; create it")])
def test_bad_options_are_one_line(trained_run, photos, capsys, extra, message):
    assert main([str(photos), "--ckpt_path", str(trained_run / "best.ckpt"), *extra]) == 2
    assert message in capsys.readouterr().err


def test_missing_path_and_missing_weights_are_clear_errors(trained_run, tmp_path, capsys):
    assert main([str(tmp_path / "nope.jpg"), "--ckpt_path", str(trained_run / "best.ckpt")]) == 2
    assert "Image path not found" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([str(tmp_path)])
    assert "random weights are never used" in capsys.readouterr().err


def test_imagenet_class_names_ship_with_the_package():
    names = imagenet_class_names()
    assert len(names) == 1000 and names[0] == "tench" and names[-1] == "toilet tissue"
    assert len(set(names)) > 990 and all(name and name.strip() == name for name in names)


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_exported_backends_predict_what_mindspore_predicts(trained_run, photos, tmp_path, capsys, backend):
    checkpoint = tmp_path / "model.ckpt"
    checkpoint.write_bytes((trained_run / "best.ckpt").read_bytes())
    outputs = {}
    for name in ("mindspore", backend, backend):
        outputs[name] = tmp_path / f"{name}.json"
        assert main([str(photos), "--ckpt_path", str(checkpoint), "--batch_size", "4", "--backend", name,
                     "--precision", "fp32", "--output", str(outputs[name])]) == 0
    reference = json.loads(outputs["mindspore"].read_text())
    exported = json.loads(outputs[backend].read_text())
    assert [e["predictions"][0]["label"] for e in exported] == [e["predictions"][0]["label"] for e in reference]
    for ours, theirs in zip(exported, reference):
        assert ours["predictions"][0]["probability"] == pytest.approx(theirs["predictions"][0]["probability"],
                                                                      abs=1e-4)
    assert len(list(tmp_path.glob("*.onnx"))) == 1  # made beside the checkpoint once, then reused
    err = capsys.readouterr().err
    assert f"6 images, backend {backend} (fp32)" in err and "first batch vs MindSpore: max |logit diff|" in err


def test_int8_predicts_what_mindspore_predicts(trained_run, photos, colour_images, tmp_path, capsys):
    outputs = {precision: tmp_path / f"{precision}.json" for precision in ("fp32", "int8")}
    common = [str(photos), "--ckpt_path", str(trained_run / "best.ckpt"), "--batch_size", "4", "--export_dir",
              str(tmp_path)]
    assert main(common + ["--output", str(outputs["fp32"])]) == 0
    assert main(common + ["--backend", "openvino", "--precision", "int8", "--calibration_dir",
                          str(colour_images / "train"), "--output", str(outputs["int8"])]) == 0
    reference, quantized = (json.loads(outputs[p].read_text()) for p in ("fp32", "int8"))
    assert [e["predictions"][0]["label"] for e in quantized] == [e["predictions"][0]["label"] for e in reference]
    for ours, theirs in zip(quantized, reference):
        assert ours["predictions"][0]["probability"] == pytest.approx(theirs["predictions"][0]["probability"],
                                                                      abs=0.1)
    assert "6 images, backend openvino (int8)" in capsys.readouterr().err
    assert len(list(tmp_path.glob("*-int8-*.xml"))) == 1


@pytest.mark.parametrize("extra, message", [
    (["--backend", "openvino", "--precision", "int8"], "'precision' int8 and 'calibration_dir' go together"),
    (["--backend", "openvino", "--calibration_dir", "d"], "'precision' int8 and 'calibration_dir' go together"),
    (["--precision", "bf16"], "'precision' bf16 needs --backend openvino"),
])
def test_serving_options_are_checked_as_validate_checks_them(trained_run, photos, capsys, extra, message):
    with pytest.raises(SystemExit):
        main([str(photos), "--ckpt_path", str(trained_run / "best.ckpt"), *extra])
    assert message in capsys.readouterr().err
