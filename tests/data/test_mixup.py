"""Batch mixing equals MindCV's Mixup draw for draw, and soft targets describe the mixed images."""
import numpy as np
import pytest

from mindcv.data.mixup import BatchMixer, Mixup
from tests import golden_cases as cases

GOLDEN = cases.load_fixture()["mixing"]


@pytest.mark.parametrize("row", GOLDEN, ids=[str(r["case"]) for r in GOLDEN])
def test_same_batches_as_mindcv_for_the_same_random_stream(row):
    case = row["case"]
    mixer = BatchMixer(case["mixup"], case["cutmix"], case["cutmix_prob"], 0.5, num_classes=5)
    images, labels = cases.mix_batch()
    rng = np.random.RandomState(cases.MIX_SEED)
    for expected in row["result"]:
        mixed, target = mixer.mix(images, labels, rng)
        np.testing.assert_allclose(target.ravel(), expected["target"], rtol=1e-6, atol=1e-7)
        got = cases.summarise(mixed)
        assert got["sum"] == pytest.approx(expected["images"]["sum"], rel=1e-5)
        assert got["head"] == pytest.approx(expected["images"]["head"], rel=1e-5)


def test_cutmix_targets_equal_pasted_area_channels_last():
    """Constant images (sample i filled with value i) make the pasted area countable."""
    images = np.stack([np.full((16, 16, 3), i, np.uint8) for i in range(4)])
    mixer = BatchMixer(0.0, 1.0, 1.0, num_classes=4, channels_last=True)
    mixed, target = mixer.mix(images, np.arange(4), np.random.RandomState(3))
    assert mixed.dtype == np.float32
    for i in range(4):
        area = [(mixed[i, :, :, 0] == k).mean() for k in range(4)]
        np.testing.assert_allclose(target[i], area, atol=1e-6)


def test_keys_seed_the_batch():
    images, labels = cases.mix_batch()
    mixer = BatchMixer(0.8, 1.0, 1.0, num_classes=5)
    keys = np.array([11, 12, 13, 14], np.int64)
    first, again = mixer(images, labels, keys), mixer(images, labels, keys)
    np.testing.assert_array_equal(first[0], again[0])
    assert not np.array_equal(first[1], mixer(images, labels, keys + 100)[1])


@pytest.mark.parametrize("row", GOLDEN[:2], ids=[str(r["case"]) for r in GOLDEN[:2]])
def test_mindcv_mixup_class_draws_from_numpys_global_generator(row):
    """MindCV's call, as the recorder made it: np.random seeded, then mixer(images, labels)."""
    case = row["case"]
    mixer = Mixup(mixup_alpha=case["mixup"], cutmix_alpha=case["cutmix"], prob=case["cutmix_prob"],
                  label_smoothing=0.0, num_classes=5)
    images, labels = cases.mix_batch()
    state = np.random.get_state()
    np.random.seed(cases.MIX_SEED)
    try:
        mixed, target = mixer(images.copy(), labels.copy())
    finally:
        np.random.set_state(state)
    np.testing.assert_allclose(target.ravel(), row["result"][0]["target"], rtol=1e-6, atol=1e-7)
    assert cases.summarise(mixed)["sum"] == pytest.approx(row["result"][0]["images"]["sum"], rel=1e-5)
    smoothed = Mixup(case["mixup"], case["cutmix"], prob=case["cutmix_prob"], label_smoothing=0.1, num_classes=5)
    np.random.seed(cases.MIX_SEED)
    try:
        _, soft = smoothed(images.copy(), labels.copy())
    finally:
        np.random.set_state(state)
    np.testing.assert_allclose(soft, target * 0.9 + 0.1 / 5, rtol=1e-6)
    with pytest.raises(ValueError, match="mode='batch'"):
        Mixup(mode="elem")
