"""Aligned Xception-41/65/71: published parameter counts, both resolutions, features, timm weights."""
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from mindcv.models import create_model, list_pretrained
from tests.helpers import fixture_state_dict, images
from tests.http_server import serving

PUBLISHED_PARAMS = {"xception41": 26_969_560, "xception65": 39_916_312, "xception71": 42_338_736}
FIXTURE = Path(__file__).parent.parent / "fixtures" / "timm_xception41_state_dict.txt"


@pytest.mark.parametrize("name", sorted(PUBLISHED_PARAMS))
@pytest.mark.slow
def test_builds_runs_at_299_and_224_and_matches_parameter_count(name):
    model = create_model(name, num_classes=7)
    model.set_train(False)
    trainable_1000 = PUBLISHED_PARAMS[name] - (2048 * 1000 + 1000) + (2048 * 7 + 7)
    assert sum(p.size for p in model.trainable_params()) == trainable_1000
    for size in (299, 224):
        out = model(images(batch=1, size=size)).asnumpy()
        assert out.shape == (1, 7) and np.isfinite(out).all()


def test_thousand_class_count_is_the_published_one():
    model = create_model("xception41")
    assert sum(p.size for p in model.trainable_params()) == PUBLISHED_PARAMS["xception41"]


@pytest.mark.slow
def test_features_only_strides_and_channels():
    model = create_model("xception41", features_only=True)
    assert model.feature_info.channels() == [64, 128, 256, 728, 2048]
    assert model.feature_info.reduction() == [2, 4, 8, 16, 32]
    maps = model(images(batch=1, size=224))
    assert [m.shape[1:] for m in maps] == [(64, 112, 112), (128, 56, 56), (256, 28, 28), (728, 14, 14),
                                           (2048, 7, 7)]
    picked = create_model("xception71", features_only=True, out_indices=(1, 3))
    assert picked.feature_info.channels() == [256, 728]


def test_pretrained_tags_are_registered():
    assert {"xception41.tf_in1k", "xception65.ra3_in1k", "xception71.tf_in1k"} <= set(list_pretrained())


@pytest.mark.slow
def test_timm_weights_convert_and_load_through_the_tag(tmp_path, monkeypatch):
    state = fixture_state_dict(FIXTURE)
    path = tmp_path / "xception41.safetensors"
    save_file(state, str(path))
    monkeypatch.setenv("MINDCV_CACHE_DIR", str(tmp_path / "cache"))
    with serving({"/xception41.safetensors": path.read_bytes()}) as server:
        model = create_model("xception41", pretrained=True,
                             pretrained_cfg_overlay={"url": server.url("/xception41.safetensors")})
    params = {p.name: p.asnumpy() for p in model.get_parameters()}
    np.testing.assert_array_equal(params["stem.0.conv.weight"], state["stem.0.conv.weight"])
    np.testing.assert_array_equal(params["blocks.3.stack.conv2.bn_dw.gamma"],
                                  state["blocks.3.stack.conv2.bn_dw.weight"])
    np.testing.assert_array_equal(params["blocks.11.shortcut.bn.moving_variance"],
                                  state["blocks.11.shortcut.bn.running_var"])
    np.testing.assert_array_equal(params["classifier.weight"], state["head.fc.weight"])
    assert model.stem[0].bn.eps == pytest.approx(1e-3)
