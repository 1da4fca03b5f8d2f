import mindspore.dataset as ds
import numpy as np
import pytest

from mindcv.data import create_transforms

MEAN, STD = (127.5,) * 3, (127.5,) * 3


def run(ops, image):
    for op in ops:
        image = op(image)
    return image


def coded_image(height=100, width=100):
    """Every pixel unique: R = row, G = column, B = 0."""
    rows, cols = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    return np.stack([rows, cols, np.zeros_like(rows)], axis=-1).astype(np.uint8)


def denorm(chw):
    return np.rint(chw.transpose(1, 2, 0) * 127.5 + 127.5).astype(int)


def test_train_output_shape_dtype_range():
    ops = create_transforms("imagenet", True, image_resize=71, auto_augment="autoaug", color_jitter=0.4,
                            re_prob=0.25, re_value="random")
    out = run(ops, coded_image())
    assert out.shape == (3, 71, 71) and out.dtype == np.float32
    assert out.min() >= -10 and out.max() <= 10


def test_crop_scale_is_respected():
    """scale 0.25 with ratio 1 on a 100x100 image is a 50x50 window; resizing to 50 keeps it exact."""
    ops = create_transforms(is_training=True, image_resize=50, scale=(0.25, 0.25), ratio=(1.0, 1.0), hflip=0.0,
                            interpolation="nearest", mean=MEAN, std=STD)
    for seed in range(3):
        ds.config.set_seed(seed)
        out = denorm(run(ops, coded_image()))
        top, left = out[0, 0, 0], out[0, 0, 1]
        assert np.array_equal(out, coded_image()[top:top + 50, left:left + 50].astype(int))


def test_horizontal_and_vertical_flips_really_flip():
    common = dict(is_training=True, image_resize=100, scale=(1.0, 1.0), ratio=(1.0, 1.0), interpolation="nearest",
                  mean=MEAN, std=STD)
    assert np.array_equal(denorm(run(create_transforms(hflip=1.0, **common), coded_image())),
                          coded_image()[:, ::-1].astype(int))
    assert np.array_equal(denorm(run(create_transforms(hflip=0.0, vflip=1.0, **common), coded_image())),
                          coded_image()[::-1].astype(int))
    assert np.array_equal(denorm(run(create_transforms(hflip=0.0, **common), coded_image())),
                          coded_image().astype(int))


def test_random_erasing_area_within_bounds():
    ops = create_transforms(is_training=True, image_resize=64, scale=(1.0, 1.0), ratio=(1.0, 1.0), hflip=0.0,
                            mean=MEAN, std=STD, re_prob=1.0, re_scale=(0.1, 0.2), re_ratio=(0.5, 2.0), re_value=0)
    image = np.full((64, 64, 3), 255, np.uint8)
    for seed in range(5):
        ds.config.set_seed(seed)
        erased = (run(ops, image) == 0).all(axis=0).mean()
        assert 0.1 - 1e-3 <= erased <= 0.2 + 0.02


def test_seeded_determinism():
    ops = create_transforms(is_training=True, image_resize=71, auto_augment="randaug-m9-n2", re_prob=0.5)
    outs = []
    for _ in range(2):
        ds.config.set_seed(123)
        outs.append(run(ops, coded_image()))
    assert np.array_equal(outs[0], outs[1])


def test_eval_resizes_shorter_side_then_center_crops():
    ops = create_transforms(is_training=False, image_resize=80, crop_pct=0.8, interpolation="nearest",
                            mean=MEAN, std=STD)
    image = coded_image(height=100, width=200)
    out = denorm(run(ops, image))
    assert out.shape == (80, 80, 3)
    assert np.array_equal(out, image[10:90, 60:140].astype(int))


def test_unknown_auto_augment_lists_forms():
    with pytest.raises(ValueError, match="Valid forms: autoaug; randaug-m{M}-n{N}-mstd{S}"):
        create_transforms(is_training=True, auto_augment="augmix-m5")
    with pytest.raises(ValueError, match="interpolation"):
        create_transforms(interpolation="hamming")
