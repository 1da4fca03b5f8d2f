"""create_loader: batches, soft targets, augmentation splits, and augmentation that depends only on the seed."""
import hashlib

import mindspore.dataset as ds
import numpy as np
import pytest

from mindcv.data import create_dataset, create_loader, create_transforms
from mindcv.data.loader import BatchNormalize
from mindcv.data.sources import sample_key
from tests.helpers import make_colour_folder


def _batches(loader):
    return list(loader.create_tuple_iterator(num_epochs=1, output_numpy=True))


def test_eval_loader_counts_every_sample_once():
    dataset = create_dataset("fashion_mnist", split="val", shuffle=False, num_samples=107)
    loader = create_loader(dataset, batch_size=20, transform=create_transforms("fashion_mnist", 71), num_classes=10)
    batches = _batches(loader)
    labels = np.concatenate([label for _, label in batches])
    assert [len(b[1]) for b in batches] == [20] * 5 + [7]
    assert np.array_equal(labels, dataset.source.labels[:107])
    assert batches[0][0].shape == (20, 3, 71, 71) and batches[0][1].dtype == np.int32


@pytest.mark.parametrize("mixup, cutmix", [(0.4, 0.0), (0.0, 1.0), (0.4, 1.0)])
def test_mixed_labels_are_soft_and_sum_to_one(mixup, cutmix):
    dataset = create_dataset("fashion_mnist", split="train", num_samples=16, seed=3)
    loader = create_loader(dataset, batch_size=8, drop_remainder=True, is_training=True, mixup=mixup,
                           cutmix=cutmix, cutmix_prob=1.0, num_classes=10,
                           transform=create_transforms("fashion_mnist", 71, True))
    for images, label in _batches(loader):
        assert label.shape == (8, 10) and label.dtype == np.float32 and images.shape == (8, 3, 71, 71)
        np.testing.assert_allclose(label.sum(axis=1), 1.0, rtol=1e-5)
        assert (label < 1).any()  # mixed (label smoothing is the loss's job)


def test_mindcv_default_cutmix_prob_mixes_nothing():
    dataset = create_dataset("fashion_mnist", split="train", num_samples=8, shuffle=False)
    loader = create_loader(dataset, batch_size=8, is_training=True, mixup=0.4, num_classes=10,
                           transform=create_transforms("fashion_mnist", 71, True))
    (_, label), = _batches(loader)
    assert set(np.unique(label)) == {0.0, 1.0}


def test_augmentation_splits_concatenate_clean_and_two_augmented_copies():
    dataset = create_dataset("fashion_mnist", split="train", num_samples=8, seed=1)
    transform = create_transforms("fashion_mnist", 71, True, auto_augment="randaug-m9-mstd0.5", separate=True)
    loader = create_loader(dataset, 4, is_training=True, transform=transform, num_classes=10, separate=True)
    images, labels = _batches(loader)[0]
    assert images.shape == (12, 3, 71, 71)
    np.testing.assert_array_equal(labels, np.tile(labels[:4], 3))
    assert not np.array_equal(images[4:8], images[8:12])  # the two augmented copies differ


def _digest(loader):
    digest = hashlib.sha256()
    for images, labels in loader.create_tuple_iterator(num_epochs=1, output_numpy=True):
        digest.update(images.tobytes())
        digest.update(labels.tobytes())
    return digest.hexdigest()


def _recipe_loader(root, workers, epoch, multiprocessing=False, **crop):
    dataset = create_dataset("imagenet", str(root), "train", seed=7, num_parallel_workers=workers)
    dataset.shard_sampler.set_epoch(epoch)
    ds.config.set_seed(7 + epoch)
    transform = create_transforms("imagenet", 71, True, auto_augment="autoaug", re_prob=0.5, re_value="random",
                                  normalize=False, **crop)
    return create_loader(dataset, 6, drop_remainder=True, is_training=True, mixup=0.4, cutmix=1.0, cutmix_prob=0.8,
                         num_classes=3, transform=transform, num_parallel_workers=workers,
                         python_multiprocessing=multiprocessing)


def test_augmentation_depends_only_on_seed_and_epoch(tmp_path):
    """The recipe's augmentation repeats for the same seed, epoch and worker count, and changes per epoch."""
    root = make_colour_folder(tmp_path, 6, 0)
    first = _digest(_recipe_loader(root, 2, 0))
    assert _digest(_recipe_loader(root, 2, 0)) == first
    assert _digest(_recipe_loader(root, 2, 1)) != first


def test_python_side_augmentation_is_keyed_per_sample(tmp_path):
    """AutoAugment, erasing and mixing draw from per-sample keys: the same batches whatever the number of worker
    threads (the crop is fixed here; MindSpore's own random operations give each worker its own stream)."""
    root = make_colour_folder(tmp_path, 6, 0)
    fixed_crop = dict(scale=(1.0, 1.0), ratio=(1.0, 1.0), hflip=0.0)
    assert _digest(_recipe_loader(root, 1, 0, **fixed_crop)) == _digest(_recipe_loader(root, 2, 0, **fixed_crop))


def _maps(dataset):
    """``(operation type names, workers, processes?)`` of every map stage, from the output back to the source,
    with ``"batch"`` where the batching is."""
    found = []
    while dataset.children:
        if isinstance(dataset, ds.MapDataset):
            found.append(([type(op).__name__ for op in dataset.operations], dataset.num_parallel_workers,
                          dataset.python_multiprocessing))
        elif isinstance(dataset, ds.BatchDataset):
            found.append("batch")
        dataset = dataset.children[0]
    return found


@pytest.mark.parametrize("multiprocessing", [False, True])
def test_keyed_python_augmentation_runs_per_batch(tmp_path, multiprocessing):
    """AutoAugment, erasing and mixing run after batching, in one map: on one thread (they are Python under the
    GIL) or in the workers' processes; MindSpore's C++ decoding and cropping run per image on the workers."""
    maps = _maps(_recipe_loader(make_colour_folder(tmp_path, 6, 0), 2, 0, multiprocessing))
    assert maps[0] == (["BatchAugment"], 2 if multiprocessing else 1, multiprocessing)
    assert maps[1] == "batch"
    assert (["RandomCropDecodeResize", "RandomHorizontalFlip"], 2, multiprocessing) in maps[2:]


def test_keyed_transforms_before_mindspore_operations_stay_per_image():
    """Normalised in the pipeline, AutoAugment comes before Normalize and HWC2CHW: it stays a per-image map (one
    thread); the normalising and the erasing at the end run per batch."""
    dataset = create_dataset("fashion_mnist", split="train", num_samples=8, seed=1)
    transform = create_transforms("fashion_mnist", 71, True, auto_augment="autoaug", re_prob=0.5)
    maps = _maps(create_loader(dataset, 4, is_training=True, num_classes=10, transform=transform,
                               num_parallel_workers=2))
    assert maps[:2] == [(["BatchAugment"], 1, False), "batch"]
    assert [names for names, _, _ in maps[2:]] == [["function"], ["RandomResizedCrop", "RandomHorizontalFlip"]]
    assert maps[2][1] == 1


_MEAN, _STD = [0.485 * 255, 0.456 * 255, 0.406 * 255], [0.229 * 255, 0.224 * 255, 0.225 * 255]


@pytest.mark.parametrize("ending", ["normalize+hwc2chw", "hwc2chw+normalize", "normalize"])
@pytest.mark.parametrize("before", ["uint8", "float32"])
def test_normalising_at_the_end_runs_per_batch_with_mindspores_values(ending, before):
    """A transform list ending in Normalize [+ HWC2CHW] (MindCV's) is normalised per batch, on the loader's workers,
    and gives bitwise the batches of MindSpore's per-image operations."""
    ops = [ds.vision.Resize((37, 29))] + ([ds.vision.Rescale(1.7, -3.0)] if before == "float32" else [])
    ops += {"normalize+hwc2chw": [ds.vision.Normalize(_MEAN, _STD), ds.vision.HWC2CHW()],
            "hwc2chw+normalize": [ds.vision.HWC2CHW(), ds.vision.Normalize(_MEAN, _STD, is_hwc=False)],
            "normalize": [ds.vision.Normalize(_MEAN, _STD)]}[ending]
    dataset = create_dataset("fashion_mnist", split="val", shuffle=False, num_samples=10)
    loader = create_loader(dataset, 4, transform=ops, num_classes=10, num_parallel_workers=2)
    assert _maps(loader)[:2] == [(["BatchAugment"], 1, False), "batch"]
    reference = create_dataset("fashion_mnist", split="val", shuffle=False, num_samples=10)
    reference = reference.map(ops, input_columns="image").batch(4)
    for (images, labels), (expected, expected_labels) in zip(_batches(loader), _batches(reference), strict=True):
        assert images.dtype == expected.dtype == np.float32 and images.shape == expected.shape
        assert np.array_equal(images, expected) and np.array_equal(labels, expected_labels)


def test_batch_normalising_refuses_a_channel_count_other_than_its_means():
    grey = np.zeros((2, 5, 5, 1), np.uint8)
    with pytest.raises(ValueError, match="3 channel means got images of shape"):
        BatchNormalize(_MEAN, _STD, to_chw=True)(grey)


@pytest.mark.slow
def test_augmentation_in_worker_processes_gives_the_same_batches(tmp_path):
    root = make_colour_folder(tmp_path, 6, 0)
    fixed_crop = dict(scale=(1.0, 1.0), ratio=(1.0, 1.0), hflip=0.0)
    assert _digest(_recipe_loader(root, 2, 0, True, **fixed_crop)) == _digest(_recipe_loader(root, 2, 0, **fixed_crop))


def test_keyed_transforms_in_one_map_each_draw_from_their_own_keyed_generator():
    """AutoAugment then random erasing, mapped together per batch: each applied in order with the generator of
    (sample key, 0), exactly as applying them one by one to the cropped images."""
    def loader(**augment):
        dataset = create_dataset("fashion_mnist", split="train", shuffle=False, num_samples=4, seed=3)
        transform = create_transforms("fashion_mnist", 71, True, scale=(1.0, 1.0), ratio=(1.0, 1.0), hflip=0.0,
                                      normalize=False, **augment)
        return create_loader(dataset, 1, is_training=True, num_classes=10, transform=transform), transform

    augmented, transform = loader(auto_augment="autoaug", re_prob=1.0)
    cropped, _ = loader()
    auto_augment, erasing = transform[-2:]
    for draw, (got, plain) in enumerate(zip(_batches(augmented), _batches(cropped))):
        expected = plain[0][0]
        for op in (auto_augment, erasing):
            expected = op.apply(expected, np.random.default_rng([sample_key(3, draw), 0]))
        np.testing.assert_array_equal(got[0][0], expected)
        assert not np.array_equal(got[0][0], auto_augment.apply(plain[0][0], np.random.default_rng(
            [sample_key(3, draw), 0])))  # the erasing was applied too


def test_batch_larger_than_split_with_drop_remainder_errors():
    dataset = create_dataset("fashion_mnist", split="val", num_samples=5)
    with pytest.raises(ValueError, match="batch_size 8 is larger than the 5 samples"):
        create_loader(dataset, batch_size=8, drop_remainder=True)
