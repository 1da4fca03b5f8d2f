import mindspore.dataset as ds
import numpy as np
import pytest

from mindcv.data import create_dataset, create_loader, create_transforms


def _batches(loader):
    return list(loader.create_tuple_iterator(num_epochs=1, output_numpy=True))


def test_eval_loader_counts_every_sample_once():
    dataset = create_dataset("fashion_mnist", split="val", shuffle=False, num_samples=107)
    loader = create_loader(dataset, batch_size=20, transform=create_transforms(is_training=False, image_resize=71),
                           num_classes=10)
    batches = _batches(loader)
    labels = np.concatenate([label for _, label in batches])
    assert [len(b[1]) for b in batches] == [20] * 5 + [7]
    assert np.array_equal(labels, dataset.source.labels[:107])
    assert batches[0][0].shape == (20, 3, 71, 71) and batches[0][1].dtype == np.int32


@pytest.mark.parametrize("mixup, cutmix", [(0.4, 0.0), (0.0, 1.0), (0.4, 1.0)])
def test_mixed_labels_are_soft_and_sum_to_one(mixup, cutmix):
    ds.config.set_seed(0)
    dataset = create_dataset("fashion_mnist", split="train", num_samples=16, seed=3)
    loader = create_loader(dataset, batch_size=8, drop_remainder=True, is_training=True, mixup=mixup,
                           cutmix=cutmix, num_classes=10, label_smoothing=0.1,
                           transform=create_transforms(is_training=True, image_resize=71))
    for _, label in _batches(loader):
        assert label.shape == (8, 10) and label.dtype == np.float32
        np.testing.assert_allclose(label.sum(axis=1), 1.0, rtol=1e-5)
        assert label.min() >= 0.01 - 1e-6


def test_label_smoothing_applied_once():
    dataset = create_dataset("fashion_mnist", split="train", num_samples=8, shuffle=False)
    loader = create_loader(dataset, batch_size=8, is_training=True, mixup=0.4, cutmix_prob=0.0, num_classes=10,
                           label_smoothing=0.1, transform=create_transforms(is_training=True, image_resize=71))
    (_, label), = _batches(loader)
    assert np.allclose(np.sort(label, axis=1)[:, -1], 0.91) and np.allclose(np.sort(label, axis=1)[:, 0], 0.01)


def test_cutmix_weights_equal_pasted_area():
    """Constant images (sample i filled with value i) make the pasted area countable."""
    images = np.stack([np.full((3, 16, 16), i, np.float32) for i in range(4)])
    source = ds.NumpySlicesDataset({"image": images, "label": np.arange(4, dtype=np.int32)}, shuffle=False)
    loader = create_loader(source, batch_size=4, is_training=True, cutmix=1.0, num_classes=4)
    (mixed, label), = _batches(loader)
    for i in range(4):
        area = [(mixed[i, 0] == k).mean() for k in range(4)]
        np.testing.assert_allclose(label[i], area, atol=1e-6)


def test_batch_larger_than_split_with_drop_remainder_errors():
    dataset = create_dataset("fashion_mnist", split="val", num_samples=5)
    with pytest.raises(ValueError, match="batch_size 8 is larger than the 5 samples"):
        create_loader(dataset, batch_size=8, drop_remainder=True)
