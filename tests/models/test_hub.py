"""Weights for the Hugging Face Hub: ``python -m mindcv.export --format safetensors`` writes the folder,
``create_model(..., pretrained="hf-hub:ORG/NAME")`` loads it back from a Hub on 127.0.0.1 (``HF_ENDPOINT``)
bitwise, offline once cached, and refuses a file whose hash is not the recorded one."""
import argparse
import hashlib
import json
import sys

import mindspore as ms
import numpy as np
import pytest
import yaml

from mindcv import create_model
from mindcv.cli import predictor_from_arguments
from mindcv.serving import exporting
from mindcv.serving.inference import Predictor
from mindcv.export import main as export_main
from mindcv.models.hub import CARD_FILE, CONFIG_FILE, WEIGHTS_FILE
from mindcv.utils.checkpoint import checkpoint_metadata, read_checkpoint
from mindcv.utils.errors import CheckpointError, ConfigError

from ..http_server import HubServer

pytest.importorskip("huggingface_hub")


@pytest.fixture(scope="module")
def exported(trained_run, tmp_path_factory):
    """The trained run's best.ckpt exported for the Hub."""
    folder = tmp_path_factory.mktemp("hub") / "colours"
    assert export_main(["--ckpt_path", str(trained_run / "best.ckpt"), "--format", "safetensors", "--output",
                        str(folder)]) == 0
    return folder


@pytest.fixture
def hub(exported, tmp_path, monkeypatch):
    server = HubServer({"org/colours": exported})
    monkeypatch.setenv("HF_ENDPOINT", server.endpoint)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    yield server
    server.stop()


def _logits(model, seed=0):
    model.set_train(False)
    batch = np.random.default_rng(seed).normal(size=(2, 3, 71, 71)).astype(np.float32)
    return model(ms.Tensor(batch)).asnumpy()


def test_the_folder_holds_the_weights_config_and_a_card_of_the_run(exported, trained_run):
    assert sorted(p.name for p in exported.iterdir()) == [CARD_FILE, CONFIG_FILE, WEIGHTS_FILE]
    config = json.loads((exported / CONFIG_FILE).read_text())
    state = read_checkpoint(trained_run / "best.ckpt")
    meta = checkpoint_metadata(state)
    recipe = yaml.safe_load(meta["config"])
    assert (config["architecture"], config["num_classes"], config["label_names"]) == ("xception", 3,
                                                                                      ["blue", "green", "red"])
    assert config["preprocessing"] == {"input_size": [3, 71, 71], "crop_pct": recipe["crop_pct"],
                                       "interpolation": recipe["interpolation"], "mean": recipe["mean"],
                                       "std": recipe["std"]}
    weights = (exported / WEIGHTS_FILE).read_bytes()
    assert config["weights_sha256"] == hashlib.sha256(weights).hexdigest()
    from safetensors.numpy import load_file  # any safetensors reader sees the checkpoint's names and values

    arrays = load_file(str(exported / WEIGHTS_FILE))
    parameters = {p.name for p in create_model("xception", num_classes=3).get_parameters()}
    model_names = {name for name in state if not name.startswith(("mindcv_meta.", "ema.", "moments", "accum"))
                   and name in parameters}
    assert set(arrays) == model_names
    for name in ("conv1.weight", "classifier.weight", "bn1.moving_mean"):
        np.testing.assert_array_equal(arrays[name], state[name].asnumpy())
    card = (exported / CARD_FILE).read_text()
    rows = [json.loads(line) for line in (trained_run / "metrics.jsonl").read_text().splitlines()]
    best = next(row for row in rows if row["epoch"] == meta["epoch"])
    assert card.startswith("---\nlibrary_name: mindcv\nlicense: apache-2.0\n")
    assert f"| validation top-1 (%) | {best['val_top1']:.2f} |" in card
    assert config["top1"] == best["val_top1"]
    assert f"lr: {recipe['lr']}" in card and "chollet2017xception" in card


def test_hf_hub_loads_bitwise_and_offline_once_cached(exported, trained_run, hub):
    reference = Predictor.from_checkpoint(str(trained_run / "best.ckpt"))
    model = create_model("xception", pretrained="hf-hub:org/colours")
    assert model.num_classes == 3 and hub.hits > 0
    np.testing.assert_array_equal(_logits(model), _logits(reference.model))
    args = argparse.Namespace(model="", ckpt_path="", pretrained="hf-hub:org/colours", checkpoint="")
    predictor = predictor_from_arguments(args)  # what predict/validate/export build from --pretrained
    assert predictor.class_names == reference.class_names
    listed = [{k: list(v) if isinstance(v, (list, tuple)) else v for k, v in vars(p.preprocessing).items()}
              for p in (predictor, reference)]
    assert listed[0] == listed[1]
    hub.stop()  # offline: the cached files load, still checked
    np.testing.assert_array_equal(_logits(create_model("hf-hub:org/colours", pretrained=True)),
                                  _logits(reference.model))


def test_a_tampered_download_is_refused(exported, hub):
    weights = bytearray((exported / WEIGHTS_FILE).read_bytes())
    weights[-1] ^= 0x01  # one bit of the last parameter
    hub.tampered[("org/colours", WEIGHTS_FILE)] = bytes(weights)
    with pytest.raises(CheckpointError, match="but the Hub served it as .*nothing was loaded"):
        create_model("xception", pretrained="hf-hub:org/colours")


def test_a_changed_local_folder_is_refused(exported, tmp_path):
    folder = tmp_path / "copy"
    folder.mkdir()
    for path in exported.iterdir():
        (folder / path.name).write_bytes(path.read_bytes())
    weights = bytearray((folder / WEIGHTS_FILE).read_bytes())
    weights[-1] ^= 0x01
    (folder / WEIGHTS_FILE).write_bytes(bytes(weights))
    with pytest.raises(CheckpointError, match="but config.json records"):
        create_model("xception", pretrained=str(folder))


def test_bad_sources_are_one_clear_error(exported, hub, monkeypatch):
    with pytest.raises(ConfigError, match="write hf-hub:ORG/NAME"):
        create_model("xception", pretrained="hf-hub:colours")
    with pytest.raises(CheckpointError, match="config.json of hf-hub:org/missing"):
        create_model("xception", pretrained="hf-hub:org/missing")
    with pytest.raises(ConfigError, match=r"holds xception weights, not xception41: create_model\('xception'"):
        create_model("xception41", pretrained=str(exported))
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)
    with pytest.raises(ConfigError, match="needs huggingface_hub: pip install huggingface_hub"):
        create_model("xception", pretrained="hf-hub:org/colours")


def test_a_pretrained_folder_exports_again_with_its_published_scores(exported, tmp_path):
    again = tmp_path / "again"
    assert export_main(["--pretrained", str(exported), "--format", "safetensors", "--output", str(again)]) == 0
    first, second = (json.loads((f / CONFIG_FILE).read_text()) for f in (exported, again))
    assert second == first  # same weights bytes, classes, preprocessing and scores
    assert f"from the pretrained weights {exported}" in (again / CARD_FILE).read_text()


def test_an_export_that_would_not_reproduce_the_model_leaves_nothing(exported, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(exporting, "_round_trip_mismatch", lambda *args: "logits differ")
    target = tmp_path / "out"
    assert export_main(["--pretrained", str(exported), "--format", "safetensors", "--output", str(target)]) != 0
    assert "does not reproduce the model (logits differ); nothing was kept" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
    target.mkdir()
    assert export_main(["--pretrained", str(exported), "--format", "safetensors", "--output", str(target)]) == 2
    assert "exists; the export writes a new folder" in capsys.readouterr().err
    assert list(target.iterdir()) == []
