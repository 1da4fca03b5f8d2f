"""The timm ``legacy_xception`` converter, on a generated file with timm's real names and shapes."""
from pathlib import Path

import mindspore as ms
import numpy as np
import pytest

from mindcv.convert import ConversionError, read_state_dict
from mindcv.convert.__main__ import main as convert_main
from mindcv.models import create_model
from mindcv.utils.checkpoint import read_checkpoint
from tests.helpers import fixture_state_dict
from tests.http_server import serving

FIXTURE = Path(__file__).parent.parent / "fixtures" / "timm_legacy_xception_state_dict.txt"

save_file = pytest.importorskip("safetensors.numpy", reason="the convert extra").save_file


@pytest.fixture(scope="module")
def timm_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("timm") / "legacy_xception.safetensors"
    state = fixture_state_dict(FIXTURE)
    save_file(state, str(path))
    return path, state


def test_names_follow_timm_module_tree(timm_file, tmp_path):
    path, state = timm_file
    dst = tmp_path / "timm.ckpt"
    assert convert_main(["timm", "--src", str(path), "--dst", str(dst)]) == 0
    ours = {k: v.asnumpy() for k, v in read_checkpoint(dst).items() if not k.startswith("mindcv_meta.")}
    assert len(ours) == 236 and len(state) == 276  # 40 BN num_batches_tracked counters are dropped
    expected_pairs = {
        "block1.rep.0.conv1.weight": "blocks.0.rep.0.conv1.weight",
        "block1.rep.1.weight": "blocks.0.rep.1.gamma",
        "block2.rep.2.bias": "blocks.1.rep.2.beta",
        "block12.skipbn.running_var": "blocks.11.skipbn.moving_variance",
        "block5.rep.7.pointwise.weight": "blocks.4.rep.7.pointwise.weight",
        "bn3.running_mean": "bn3.moving_mean",
        "conv4.conv1.weight": "conv4.conv1.weight",
        "fc.weight": "classifier.weight",
        "fc.bias": "classifier.bias",
    }
    for timm_name, our_name in expected_pairs.items():
        np.testing.assert_array_equal(ours[our_name], state[timm_name])


def test_tag_builds_the_timm_semantics(timm_file, tmp_path):
    path, state = timm_file
    model = create_model("xception", pretrained="timm_legacy_in1k", checkpoint_path=str(path))
    assert model.bn1.eps == pytest.approx(1e-5)
    assert model.blocks[1].rep[-1].pool.pad_mode.upper() == "PAD"
    np.testing.assert_array_equal(model.blocks[3].rep[2].moving_mean.asnumpy(), state["block4.rep.2.running_mean"])
    model.set_train(False)
    assert model(ms.Tensor(np.zeros((1, 3, 71, 71), np.float32))).shape == (1, 1000)


def test_missing_and_misshaped_entries_are_named_before_anything_is_written(timm_file, tmp_path, capsys):
    _, state = timm_file
    broken = dict(state)
    del broken["block3.rep.5.running_var"]
    broken["conv2.weight"] = broken["conv2.weight"][:60]
    broken["head.weight"] = np.zeros((3, 4), np.float32)
    save_file(broken, str(tmp_path / "broken.safetensors"))
    assert convert_main(["timm", "--src", str(tmp_path / "broken.safetensors"), "--dst", str(tmp_path / "x.ckpt")]) == 2
    message = capsys.readouterr().err
    assert "conv2.weight (60, 32, 3, 3) vs model (64, 32, 3, 3)" in message
    assert "blocks.2.rep.5.moving_variance" in message and "head.weight" in message
    assert not (tmp_path / "x.ckpt").exists()


def test_corrupt_safetensors_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x00" * 16)
    with pytest.raises(ConversionError, match="could not be read as safetensors"):
        read_state_dict(bad)


def test_pretrained_tag_downloads_and_converts(timm_file, tmp_path, monkeypatch):
    path, state = timm_file
    monkeypatch.setenv("MINDCV_CACHE_DIR", str(tmp_path / "cache"))
    with serving({"/legacy_xception.safetensors": path.read_bytes()}) as server:
        model = create_model("xception", pretrained="timm_legacy_in1k",
                             pretrained_cfg_overlay={"url": server.url("/legacy_xception.safetensors"),
                                                     "file_hash": ""})  # a mirror of another file
    np.testing.assert_array_equal(model.classifier.weight.asnumpy(), state["fc.weight"])
