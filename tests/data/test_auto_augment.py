import mindspore.dataset as ds
import numpy as np
import pytest
from mindspore.dataset import vision

from mindcv.data.auto_augment import RandAugmentMagnitudeNoise, auto_augment_transform

INTER = vision.Inter.BILINEAR


@pytest.mark.parametrize("policy, kind", [
    ("autoaug", vision.AutoAugment), ("trivialaugwide", vision.TrivialAugmentWide),
    ("randaug-m9-n2", vision.RandAugment), ("randaug", vision.RandAugment),
    ("randaug-m7-n3-mstd0.5", RandAugmentMagnitudeNoise)])
def test_policy_strings(policy, kind):
    assert isinstance(auto_augment_transform(policy, INTER, (124, 116, 104)), kind)


def test_randaug_parts_are_parsed():
    op = auto_augment_transform("randaug-n3-mstd0.5-m7", INTER, (0, 0, 0))
    assert (op.magnitude, op.std, len(op.ops)) == (7.0, 0.5, 11)


@pytest.mark.parametrize("policy", ["randaug-m11", "randaug-x2", "auto"])
def test_bad_policies(policy):
    with pytest.raises(ValueError):
        auto_augment_transform(policy, INTER, (0, 0, 0))


def test_augmentations_change_the_image():
    image = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    ds.config.set_seed(0)
    op = auto_augment_transform("randaug-m10-n3-mstd0.5", INTER, (0, 0, 0))
    changed = [not np.array_equal(op(image), image) for _ in range(10)]
    assert sum(changed) >= 8
