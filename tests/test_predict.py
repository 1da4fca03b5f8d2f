"""Prediction on image files with a checkpoint trained by train.py (the colour squares of tests/conftest.py)."""
import csv
import json

import pytest
from PIL import Image

from mindcv.predict import Predictor, collect_images, imagenet_class_names, main
from tests.helpers import COLOURS


@pytest.fixture
def photos(tmp_path):
    """Clean colour squares in a nested folder: folder/<colour>.png and folder/more/<colour>_2.jpg."""
    (tmp_path / "photos" / "more").mkdir(parents=True)
    for name, rgb in COLOURS.items():
        Image.new("RGB", (48, 40), rgb).save(tmp_path / "photos" / f"{name}.png")
        Image.new("RGB", (30, 30), rgb).save(tmp_path / "photos" / "more" / f"{name}_2.jpg")
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
