import pytest

from mindcv.models import (UnknownModelError, create_model, get_pretrained_cfg, get_pretrained_cfg_value,
                           has_pretrained_cfg_key, is_model, is_model_in_modules, is_model_pretrained, list_models,
                           list_modules, list_pretrained, model_entrypoint, register_model)
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


def test_mindcv_registry_helpers():
    assert list_models("xcep*", "xception_aligned") == ["xception41", "xception65", "xception71"]
    assert list_models(module="xception") == ["xception"] and list_models(module="resnet") == []
    assert list_modules() == ["xception", "xception_aligned"]
    assert is_model_in_modules("xception65", ["xception_aligned"]) and not is_model_in_modules("xception", {"x"})
    with pytest.raises(TypeError, match="module_names must be"):
        is_model_in_modules("xception", "xception")
    assert is_model_pretrained("xception") and is_model_pretrained("xception.keras_in1k")
    assert not is_model_pretrained("xception.nothing") and not is_model_pretrained("resnet50")


def test_pretrained_config_reads_as_mindcv_dict():
    cfg = get_pretrained_cfg("xception")
    assert cfg["url"].endswith("xception-174_5004_v2.ckpt") and cfg["num_classes"] == 1000
    assert dict(cfg)["first_conv"] == "conv1" and "classifier" in cfg and cfg.get("nothing") is None
    with pytest.raises(KeyError):
        cfg["nothing"]
    assert get_pretrained_cfg_value("xception", "input_size") == (3, 299, 299)
    assert get_pretrained_cfg_value("xception", "nothing") is None
    assert has_pretrained_cfg_key("xception", "crop_pct") and not has_pretrained_cfg_key("xception", "nothing")


def test_unknown_model_is_caught_as_mindcv_code_expects():
    for call in (lambda: create_model("resnet50"), lambda: model_entrypoint("resnet50")):
        with pytest.raises(RuntimeError) as caught:  # MindCV's create_model raises RuntimeError
            call()
        assert isinstance(caught.value, KeyError)  # its model_entrypoint KeyError
        assert str(caught.value).startswith("Unknown model 'resnet50'")  # the message, not KeyError's repr


def test_the_model_function_is_exported_as_in_mindcv():
    import mindcv.models

    assert mindcv.models.xception is xception and callable(mindcv.models.xception)
    assert mindcv.models.xception(num_classes=10).classifier.weight.shape == (10, 2048)
