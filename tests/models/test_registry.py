import pytest

from mindcv.models import (UnknownModelError, create_model, get_pretrained_cfg, is_model, list_models,
                           list_pretrained, model_entrypoint, register_model)
from mindcv.models.xception import xception


def test_list_models_filters_with_wildcards():
    assert "xception" in list_models()
    assert list_models("xcep*") == ["xception", "xception41", "xception65", "xception71"]
    assert list_models("*ception") == ["xception"]
    assert list_models("resnet*") == []
    assert list_models("xception", exclude_filters="xcep*") == []


def test_list_models_pretrained_lists_tags():
    tags = list_models(pretrained=True)
    assert "xception.mindcv_in1k" in tags
    assert list_pretrained("xception.*") == [t for t in tags if t.startswith("xception.")]


def test_is_model_and_entrypoint():
    assert is_model("xception")
    assert is_model("xception.mindcv_in1k")
    assert not is_model("xceptoin")
    assert model_entrypoint("xception") is xception


def test_unknown_name_suggests_closest():
    with pytest.raises(UnknownModelError, match="Did you mean: xception"):
        create_model("xceptoin")
    with pytest.raises(UnknownModelError, match="Did you mean: xception"):
        model_entrypoint("Xception")


def test_unknown_pretrained_tag_suggests_known_tags():
    with pytest.raises(UnknownModelError, match="mindcv_in1k"):
        get_pretrained_cfg("xception", "mindcv_in1")


def test_default_tag_points_at_upstream_checkpoint():
    cfg = get_pretrained_cfg("xception")
    assert cfg.url.endswith("/xception/xception-174_5004_v2.ckpt")
    assert cfg.num_classes == 1000 and cfg.input_size == (3, 299, 299)
    assert cfg.first_conv == "conv1" and cfg.classifier == "classifier"


def test_registering_a_name_twice_fails():
    with pytest.raises(ValueError, match="registered twice"):
        register_model(xception)
