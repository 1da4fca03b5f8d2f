"""Auto-augmentation: every policy string MindCV parses, its operations and levels, reproducible per sample."""
import numpy as np
import pytest
from mindspore.dataset import vision

from mindcv.data.auto_augment import AugmentOp, _Hparams, policy_transform
from mindcv.utils.errors import ConfigError
from tests import golden_cases as cases

RECIPE_POLICIES = sorted({r["case"]["kwargs"]["auto_augment"] for r in cases.load_fixture()["transforms"]
                          if r["case"]["kwargs"].get("auto_augment")})
FILL = (124, 116, 104)


def _image(seed=0, size=48):
    return np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)


def _op(name, magnitude, **kwargs):
    return AugmentOp(name, 1.0, magnitude, _Hparams(**kwargs), 0.0, 10.0, FILL, vision.Inter.BILINEAR)


@pytest.mark.parametrize("policy", RECIPE_POLICIES)
def test_every_mindcv_policy_string_is_accepted_and_changes_images(policy):
    transform = policy_transform(policy, vision.Inter.BILINEAR, (123.675, 116.28, 103.53))
    image = _image()
    outputs = [transform.apply(image, np.random.default_rng(seed)) for seed in range(6)]
    assert all(out.shape == image.shape for out in outputs)
    assert any(not np.array_equal(out, image) for out in outputs)
    np.testing.assert_array_equal(transform.apply(image, np.random.default_rng(3)), outputs[3])  # same key, same


def test_options_are_parsed():
    randaug = policy_transform("randaug-m7-n3-mstd0.8-mmax12-inc1", vision.Inter.BILINEAR, FILL)
    assert randaug.num_layers == 3 and {op.magnitude for op in randaug.ops} == {7.0}
    assert {op.magnitude_std for op in randaug.ops} == {0.8} and {op.magnitude_max for op in randaug.ops} == {12.0}
    assert "PosterizeIncreasing" in [op.name for op in randaug.ops]
    weighted = policy_transform("randaug-w0", vision.Inter.BILINEAR, FILL)
    assert weighted.weights[[op.name for op in weighted.ops].index("Rotate")] == pytest.approx(0.3)
    assert policy_transform("randaug-mstd101", vision.Inter.BILINEAR, FILL).ops[0].magnitude_std == np.inf
    trivial = policy_transform("trivialaugwide-m20", vision.Inter.BILINEAR, FILL)
    assert {op.magnitude_max for op in trivial.ops} == {20.0}
    augmix = policy_transform("augmix-m5-w4-d2-a0.5", vision.Inter.BILINEAR, FILL)
    assert (augmix.width, augmix.depth, augmix.alpha, augmix.ops[0].magnitude) == (4, 2, 0.5, 5.0)
    autoaug = policy_transform("autoaugr-mstd0.3", vision.Inter.BILINEAR, FILL)
    assert len(autoaug.policy) == 25 and autoaug.policy[0][0].name == "PosterizeIncreasing"
    assert autoaug.policy[0][0].magnitude_std == 0.3


@pytest.mark.parametrize("policy, message", [("randaug-x3", "unknown option 'x3'"), ("autoaug-m9", "unknown option"),
                                             ("randaug-w1", "only the weight set w0"),
                                             ("cutout", "Unknown auto_augment 'cutout'")])
def test_bad_policies_are_clear_errors(policy, message):
    with pytest.raises(ConfigError, match=message):
        policy_transform(policy, vision.Inter.BILINEAR, FILL)


def test_operations_compute_what_their_names_say():
    image = _image(1)
    rng = np.random.default_rng(0)
    np.testing.assert_array_equal(_op("Invert", 5)(image, rng), 255 - image)
    solarized = _op("Solarize", 5)(image, rng)  # threshold int(5 / 10 * 255) = 127
    np.testing.assert_array_equal(solarized, np.where(image >= 127, 255 - image, image))
    # MindCV's posterize passes max(8 - bits_to_keep, 1) as the bits to keep: level 8 -> keep 7 -> 1 bit.
    np.testing.assert_array_equal(_op("PosterizeOriginal", 8)(image, rng), image & 0b10000000)
    np.testing.assert_array_equal(_op("Rotate", 0)(image, rng), image)
    grey = _op("Desaturate", 10)(image, rng)  # desaturate to factor 0: grey
    assert np.abs(grey[..., 0].astype(int) - grey[..., 1]).max() <= 1
    shifted = _op("TranslateX", 10, translate_pct=0.45)(np.full((40, 40, 3), 200, np.uint8), rng)
    assert ((shifted == FILL).all(axis=2)).mean() == pytest.approx(0.45, abs=0.05)  # uncovered area filled


def test_levels_follow_mindcv():
    assert _op("Rotate", 5).level_to_args(5, _Hparams(), np.random.default_rng(0))[0] in (15.0, -15.0)
    assert _op("Color", 5).level_to_args(5, _Hparams(), None) == (1.0,)
    assert _op("Posterize", 5).level_to_args(5, _Hparams(), None) == (2,)
    trivial = _Hparams(level_max=31, trivial=True)
    assert _op("Solarize", 31).level_to_args(31, trivial, None) == (255,)
    assert _op("PosterizeOriginal", 31).level_to_args(31, trivial, None) == (8,)


def test_mindcv_builders_take_a_policy_string_and_hparams():
    from PIL import Image

    from mindcv.data import (augment_and_mix_transform, auto_augment_transform, rand_augment_transform,
                             trivial_augment_wide_transform)

    hparams = {"img_mean": (10, 20, 30), "interpolation": 3, "translate_const": 100}  # 3: PIL's BICUBIC
    rand = rand_augment_transform("randaug-m9-mstd0.5", hparams)
    assert type(rand).__name__ == "RandAugment" and rand.ops[0].fill == (10, 20, 30)
    assert rand.ops[0].interpolation == vision.Inter.BICUBIC
    assert type(auto_augment_transform("autoaug-mstd0.5", {})).__name__ == "AutoAugment"
    assert type(trivial_augment_wide_transform("trivialaugwide", None)).__name__ == "TrivialAugmentWide"
    assert type(augment_and_mix_transform("augmix-m5-w4-d2", {"interpolation": "bilinear"})).__name__ == "AugMix"
    with pytest.raises(ConfigError, match="not a randaug policy"):
        rand_augment_transform("autoaug", hparams)
    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8))
    out = auto_augment_transform("3a", {})(image)  # MindCV hands PIL images to its augmentations
    assert out.shape == (32, 32, 3) and not np.array_equal(out, np.asarray(image))
