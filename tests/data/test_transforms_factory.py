"""create_transforms: MindCV's pipelines (golden op lists and values), and what each training op does."""
import mindspore.dataset as ds
import numpy as np
import pytest
from mindspore.dataset import vision

from mindcv.data import create_transforms
from mindcv.data.keyed import KeyedTransform
from mindcv.data.transforms_factory import Preprocessing
from mindcv.utils.errors import ConfigError
from tests import golden_cases as cases

MEAN, STD = (127.5,) * 3, (127.5,) * 3
GOLDEN = cases.load_fixture()["transforms"]
# MindCV runs these as Python callables of its own; here they are KeyedTransform subclasses of the same names.
_OURS_FOR_MINDCV = {"AugMixAugment": "AugMix"}


def run(ops, image):
    for op in ops:
        image = op(image)
    return image


def coded_image(height=100, width=100):
    """Every pixel unique: R = row, G = column, B = 0."""
    rows, cols = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    return np.stack([rows, cols, np.zeros_like(rows)], axis=-1).astype(np.uint8)


def encoded(image: np.ndarray) -> np.ndarray:
    return vision.encode_png(image) if image.ndim == 3 else image


def denorm(chw):
    return np.rint(chw.transpose(1, 2, 0) * 127.5 + 127.5).astype(int)


@pytest.mark.parametrize("row", GOLDEN, ids=[str(r["case"]) for r in GOLDEN])
def test_pipelines_match_mindcv(row):
    ops = create_transforms(*row["case"]["args"], **row["case"]["kwargs"])
    expected = row["result"]
    assert [_OURS_FOR_MINDCV.get(n, n) for n in expected["ops"]] == [type(op).__name__ for op in ops]
    ds.config.set_seed(0)
    out = run(ops, cases.transform_input(row["case"]))
    assert list(out.shape) == expected["shape"] and str(out.dtype) == expected["dtype"]
    if "values" in expected:  # evaluation is deterministic: the same pixels as MindCV
        got = cases.summarise(out)
        assert got["sum"] == pytest.approx(expected["values"]["sum"], rel=1e-5)
        assert got["head"] == pytest.approx(expected["values"]["head"], rel=1e-5, abs=1e-6)


def test_without_normalize_the_pipeline_ends_at_hwc_pixels():
    ops = create_transforms("imagenet", 96, True, auto_augment="randaug-m9-mstd0.5-inc1", re_prob=1.0,
                            normalize=False)
    assert not any(isinstance(op, (vision.Normalize, vision.HWC2CHW)) for op in ops)
    out = run(ops, encoded(coded_image()))
    assert out.shape == (96, 96, 3) and out.dtype == np.uint8
    evaluation = create_transforms("imagenet", 96, False, normalize=False)
    assert [type(op).__name__ for op in evaluation] == ["Decode", "Resize", "CenterCrop"]


def test_decoded_data_sets_get_the_same_augmentation_without_decoding():
    ops = create_transforms("fashion_mnist", 71, True, color_jitter=0.4)
    assert type(ops[0]).__name__ == "RandomResizedCrop"
    assert run(ops, coded_image()).shape == (3, 71, 71)
    assert [type(op).__name__ for op in create_transforms("fashion_mnist", 71)] == \
        ["Resize", "CenterCrop", "Normalize", "HWC2CHW"]


def test_crop_scale_is_respected():
    """scale (1, 1) and ratio (1, 1) on a square image: the crop is the whole image, resized."""
    ops = create_transforms("fashion_mnist", 50, True, scale=(1.0, 1.0), ratio=(1.0, 1.0), hflip=0.0, mean=MEAN,
                            std=STD)
    out = denorm(run(ops, coded_image()))
    assert out.shape == (50, 50, 3)
    assert abs(out[0, 0, 0] - 0) <= 2 and abs(out[-1, -1, 0] - 99) <= 2 and abs(out[-1, -1, 1] - 99) <= 2


def test_horizontal_and_vertical_flips_really_flip():
    base = dict(scale=(1.0, 1.0), ratio=(1.0, 1.0), mean=MEAN, std=STD)
    image = coded_image(64, 64)
    plain = denorm(run(create_transforms("fashion_mnist", 64, True, hflip=0.0, **base), image))
    flipped = denorm(run(create_transforms("fashion_mnist", 64, True, hflip=1.0, **base), image))
    assert np.array_equal(flipped, plain[:, ::-1])
    vflipped = denorm(run(create_transforms("fashion_mnist", 64, True, hflip=0.0, vflip=1.0, **base), image))
    assert np.array_equal(vflipped, plain[::-1])


def test_color_jitter_only_without_auto_augment():
    with_jitter = create_transforms("imagenet", 96, True, color_jitter=0.4)
    assert any(isinstance(op, vision.RandomColorAdjust) for op in with_jitter)
    with_policy = create_transforms("imagenet", 96, True, color_jitter=0.4, auto_augment="autoaug")
    assert not any(isinstance(op, vision.RandomColorAdjust) for op in with_policy)


def test_random_erasing_is_keyed_and_erases_in_normalised_units():
    ops = create_transforms("fashion_mnist", 64, True, hflip=0.0, re_prob=1.0, re_value=0, mean=MEAN, std=STD,
                            scale=(1.0, 1.0), ratio=(1.0, 1.0))
    erasing = ops[-1]
    assert isinstance(erasing, KeyedTransform)
    image = run(ops[:-1], np.full((64, 64, 3), 255, np.uint8))
    out = erasing.apply(image, np.random.default_rng(1))
    erased = (out == 0).all(axis=0)
    assert 0.02 * 64 * 64 <= erased.sum() <= 0.33 * 64 * 64
    assert np.array_equal(out, erasing.apply(image, np.random.default_rng(1)))


def test_eval_resizes_shorter_side_then_center_crops():
    image = coded_image(100, 200)
    ops = create_transforms("fashion_mnist", 50, False, crop_pct=0.5, mean=MEAN, std=STD)
    out = denorm(run(ops, image))
    assert out.shape == (50, 50, 3)
    # 100x200 -> 100x200 (shorter side 50 / 0.5 = 100) -> central 50x50: rows 25..74, columns 75..124
    assert abs(out[0, 0, 0] - 25) <= 1 and abs(out[0, 0, 1] - 75) <= 1


def test_a_preprocessing_record_decodes_resizes_crops_and_normalises_as_it_says():
    image = coded_image(120, 240)
    record = Preprocessing(image_size=60, crop_pct=0.5, interpolation="bicubic", mean=MEAN, std=STD)
    out = run(record.transforms(), encoded(image))
    # 120x240 -> shorter side 60 / 0.5 = 120 (unchanged) -> central 60x60: rows 30..89, columns 90..149
    assert out.shape == (3, 60, 60) and out.dtype == np.float32
    assert abs(denorm(out)[0, 0, 0] - 30) <= 1 and abs(denorm(out)[0, 0, 1] - 90) <= 1
    pixels = run(record.transforms(normalize=False), encoded(image))
    assert pixels.shape == (60, 60, 3) and pixels.dtype == np.uint8
    assert np.allclose((pixels.transpose(2, 0, 1) - 127.5) / 127.5, out, atol=1e-6)
    default = Preprocessing()
    assert (default.image_size, default.crop_pct, default.interpolation) == (299, 0.875, "bilinear")
    assert run(default.transforms(), encoded(image)).shape == (3, 299, 299)


@pytest.mark.parametrize("name, message", [("nearestx", "Unknown interpolation 'nearestx'; valid: "),
                                           ("svhn", "No transforms for data set 'svhn'")])
def test_unknown_names_are_errors(name, message):
    kwargs = {"interpolation": name} if name.startswith("near") else {}
    with pytest.raises(ConfigError, match=message):
        create_transforms("svhn" if name == "svhn" else "imagenet", 96, True, **kwargs)
