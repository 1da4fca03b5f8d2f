"""Keyed transforms: pickled for MindSpore's worker processes, they augment as the originals do."""
import pickle

import numpy as np
from mindspore.dataset import vision

from mindcv.data.auto_augment import policy_transform
from mindcv.data.constants import IMAGENET_MEAN, IMAGENET_STD
from mindcv.data.random_erasing import RandomErasing


def test_a_pickled_transform_augments_as_the_original():
    image = np.random.default_rng(0).integers(0, 255, (40, 48, 3), dtype=np.uint8)
    for transform in (policy_transform("randaug-m9-n3", vision.Inter.BILINEAR, IMAGENET_MEAN),
                      RandomErasing(prob=1.0, pixel_mean=IMAGENET_MEAN, pixel_std=IMAGENET_STD)):
        copy = pickle.loads(pickle.dumps(transform))
        for key in range(5):
            expected = transform.apply(image, np.random.default_rng(key))
            np.testing.assert_array_equal(copy.apply(image, np.random.default_rng(key)), expected)
        assert copy(image).shape == image.shape  # its own generator and lock work after unpickling
