import gzip

import mindspore.dataset as ds
import numpy as np
import pytest

from mindcv.data import DataError, create_dataset, create_loader, create_transforms
from mindcv.data.constants import FASHION_MNIST_CLASSES
from mindcv.data.sources import ImageFileReader


def _labels(dataset):
    return [int(row["label"]) for row in dataset.create_dict_iterator(num_epochs=1, output_numpy=True)]


def test_class_mapping_shared_across_splits(image_folder):
    train = create_dataset("imagefolder", str(image_folder), "train", shuffle=False)
    val = create_dataset("imagefolder", str(image_folder), "val", shuffle=False)
    assert train.class_names == val.class_names == ["cat", "dog", "emu"] and train.num_classes() == 3
    assert sorted(_labels(val)) == [0, 0, 0, 1, 1, 1]
    assert sorted(_labels(train)) == [0] * 5 + [1] * 5 + [2] * 5


def test_images_are_encoded_files_like_mindcv(image_folder):
    row = next(create_dataset("imagenet", str(image_folder), "val", shuffle=False)
               .create_dict_iterator(num_epochs=1, output_numpy=True))
    assert row["image"].dtype == np.uint8 and row["image"].ndim == 1
    assert bytes(row["image"][:3]) == b"\xff\xd8\xff"  # the JPEG file itself, decoded by the transforms


def test_sizes_come_from_the_file_list_without_reading_images(image_folder, monkeypatch):
    (image_folder / "train" / "cat" / "broken.jpg").write_bytes(b"garbage")
    reads = []
    original = ImageFileReader.read
    monkeypatch.setattr(ImageFileReader, "read", lambda self, path: reads.append(path) or original(self, path))
    dataset = create_dataset("imagenet", str(image_folder), "train", shuffle=True)
    loader = create_loader(dataset, 4, drop_remainder=True, is_training=True,
                           transform=create_transforms("imagenet", 71, True), num_classes=3)
    assert loader.get_dataset_size() == 4 and reads == []
    batches = list(loader.create_tuple_iterator(num_epochs=1, output_numpy=True))
    assert len(batches) == 4 and all(len(labels) == 4 for _, labels in batches)  # full despite the bad file


def test_missing_root_and_split_name_the_path(tmp_path, image_folder):
    with pytest.raises(DataError, match=f"Data folder not found: {tmp_path / 'nowhere'}"):
        create_dataset("imagenet", str(tmp_path / "nowhere"))
    with pytest.raises(DataError, match=r"Split folder 'validation' not found in .* \(it has \['train', 'val'\]"):
        create_dataset("imagenet", str(image_folder), "validation")
    with pytest.raises(DataError, match="Unknown dataset 'cifar'"):
        create_dataset("cifar", str(image_folder))
    with pytest.raises(DataError, match="Image folders cannot be downloaded"):
        create_dataset("imagenet", str(image_folder), download=True)


def test_shards_disjoint_and_covering(image_folder):
    seen = []
    for shard in range(2):
        dataset = create_dataset("imagefolder", str(image_folder), "train", shuffle=False, num_shards=2,
                                 shard_id=shard)
        seen.append([dataset.source.samples[i][0].name + str(i) for i in dataset.shard_sampler.epoch_indices(0)])
        assert len(_labels(dataset)) == len(seen[-1])
    assert not set(seen[0]) & set(seen[1]) and len(seen[0]) + len(seen[1]) == 15


def test_embedded_fashion_mnist_is_balanced_and_real():
    train = create_dataset("fashion_mnist", split="train", shuffle=False)
    val = create_dataset("fashion_mnist", split="val", shuffle=False)
    assert train.class_names == list(FASHION_MNIST_CLASSES)
    assert np.bincount(train.source.labels).tolist() == [500] * 10
    assert np.bincount(val.source.labels).tolist() == [100] * 10
    image = train.source[0][0]
    assert image.shape == (28, 28, 3) and image.std() > 10


def test_fashion_mnist_full_files_from_data_dir(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (12, 28, 28), dtype=np.uint8)
    labels = np.arange(12, dtype=np.uint8) % 10
    for name, array in (("t10k-images-idx3-ubyte", images), ("t10k-labels-idx1-ubyte", labels)):
        header = bytes([0, 0, 8, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
        (tmp_path / f"{name}.gz").write_bytes(gzip.compress(header + array.tobytes()))
    val = create_dataset("fashion_mnist", str(tmp_path), "val", shuffle=False)
    assert _labels(val) == labels.tolist()
    with pytest.raises(DataError, match="train-images-idx3-ubyte"):
        create_dataset("fashion_mnist", str(tmp_path), "train")


def test_num_samples_cap(image_folder):
    assert len(_labels(create_dataset("imagefolder", str(image_folder), "train", num_samples=4))) == 4


def test_files_are_read_by_one_thread_whatever_the_worker_count(image_folder):
    # The reader is Python: a second reader thread only contends for the GIL with the first (README, Data
    # pipeline throughput); the workers asked for go to create_loader's decoding and augmentation.
    for name, root in (("imagenet", str(image_folder)), ("fashion_mnist", None)):
        dataset = create_dataset(name, root, "train", num_parallel_workers=2)
        assert dataset.num_parallel_workers == 1
        assert dataset.with_keys().num_parallel_workers == 1


def _cifar10_folder(root):
    from tests.data.test_dataset_download import cifar10_files

    folder = root / "cifar-10-batches-bin"
    folder.mkdir(parents=True)
    for name, body in cifar10_files().items():
        (folder / name).write_bytes(body)
    return folder


def test_cifar10_is_mindspores_reader_as_in_mindcv(tmp_path):
    from tests.data.test_dataset_download import RECORDS, cifar10_files

    folder = _cifar10_folder(tmp_path)
    for root in (tmp_path, folder):  # the folder the archive unpacks to, or the files' own folder
        dataset = create_dataset("CIFAR10", str(root), "train", shuffle=False, num_parallel_workers=1)
        assert type(dataset) is ds.Cifar10Dataset and dataset.num_classes() == 10
        assert dataset.get_dataset_size() == 5 * RECORDS
    first = next(dataset.create_dict_iterator(output_numpy=True))
    record = np.frombuffer(cifar10_files()["data_batch_1.bin"], np.uint8)[:3073]
    assert int(first["label"]) == record[0]
    np.testing.assert_array_equal(first["image"], record[1:].reshape(3, 32, 32).transpose(1, 2, 0))
    test = create_dataset("cifar10", str(tmp_path), "val", shuffle=True, num_samples=5)
    assert test.get_dataset_size() == 5 and isinstance(test.sampler, ds.RandomSampler)


def test_reader_datasets_without_files_say_what_to_place_or_download(tmp_path):
    with pytest.raises(DataError, match=r"CIFAR-10 files not found in .*: expected data_batch_1.bin.*download=True"):
        create_dataset("cifar10", str(tmp_path), "train")
    with pytest.raises(DataError, match="only MindSpore's MNIST/CIFAR readers take"):
        create_dataset("imagenet", str(tmp_path), decode=True)
