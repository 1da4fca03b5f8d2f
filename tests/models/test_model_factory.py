"""create_model: MindCV's signature and argument order."""
import inspect

import pytest

from mindcv.models import create_model
from tests import golden_cases as cases

GOLDEN = cases.load_fixture()["models"]


def test_positional_arguments_follow_mindcv():
    assert list(inspect.signature(create_model).parameters)[:7] == [
        "model_name", "num_classes", "pretrained", "in_channels", "checkpoint_path", "ema", "auto_mapping"]
    model = create_model("xception", 10)
    assert list(model.classifier.weight.shape) == GOLDEN["create_model('xception', 10)"]["classifier.weight"]
    assert create_model("xception", 10, False, 1).conv1.weight.shape == (32, 1, 3, 3)


def test_none_options_fall_back_to_model_defaults():
    model = create_model("xception", num_classes=3, drop_rate=None, bn_momentum=None)
    assert model.drop_rate == 0.5 and model.bn1.momentum == pytest.approx(1 - 0.9)  # MindSpore stores 1 - momentum


def test_features_only_and_out_indices_are_keywords():
    model = create_model("xception", features_only=True, out_indices=[0, 1, 2, 3, 4])
    assert model.feature_info.channels() == [64, 128, 256, 728, 2048]
