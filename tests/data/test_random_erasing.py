"""Random erasing: MindSpore's algorithm, exact in normalised CHW images, the equivalent pixels in HWC ones."""
import numpy as np
import pytest

from mindcv.data.random_erasing import RandomErasing
from mindcv.utils.errors import ConfigError

MEAN, STD = (100.0, 120.0, 140.0), (50.0, 60.0, 70.0)


def test_normalised_chw_box_gets_the_value_and_respects_area_and_ratio():
    eraser = RandomErasing(prob=1.0, scale=(0.1, 0.2), ratio=(0.5, 2.0), value=0.5)
    for seed in range(20):
        out = eraser.apply(np.full((3, 50, 60), -9.0, np.float32), np.random.default_rng(seed))
        erased = out[0] == 0.5
        rows, cols = np.where(erased)
        height, width = rows.max() - rows.min() + 1, cols.max() - cols.min() + 1
        assert erased.sum() == height * width  # one rectangle
        assert 0.1 * 3000 * 0.8 <= erased.sum() <= 0.2 * 3000 * 1.25
        assert (out[:, erased] == 0.5).all()


def test_hwc_pixels_equal_the_normalised_value():
    eraser = RandomErasing(prob=1.0, value=1.0, pixel_mean=MEAN, pixel_std=STD)
    out = eraser.apply(np.zeros((40, 40, 3), np.uint8), np.random.default_rng(0))
    erased = out.any(axis=2)
    assert erased.any() and (out[erased] == [150, 180, 210]).all()
    noise = RandomErasing(prob=1.0, value="random", pixel_mean=MEAN, pixel_std=STD)
    pixels = noise.apply(np.zeros((40, 40, 3), np.uint8), np.random.default_rng(0))
    normalised = (pixels[pixels.any(axis=2)] - np.array(MEAN)) / np.array(STD)
    assert abs(normalised.mean()) < 0.2 and 0.8 < normalised.std() < 1.2


def test_probability_and_reproducibility():
    eraser = RandomErasing(prob=0.25)
    image = np.ones((3, 20, 20), np.float32)
    erased = sum(not np.array_equal(eraser.apply(image, np.random.default_rng(s)), image) for s in range(400))
    assert 70 <= erased <= 130
    np.testing.assert_array_equal(eraser.apply(image, np.random.default_rng(9)),
                                  eraser.apply(image, np.random.default_rng(9)))


def test_bad_value_is_refused():
    with pytest.raises(ConfigError, match="re_value must be"):
        RandomErasing(value=[1, 2])
