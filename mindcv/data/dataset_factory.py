"""``create_dataset``: image folders (ImageNet layout) and Fashion-MNIST as a :class:`SplitDataset` (checked
reading, keyed augmentation, exact resume); MNIST and CIFAR-10/100 through MindSpore's own readers, as MindCV."""
import logging
import os
from pathlib import Path
from typing import Any, Optional, Tuple

import mindspore.dataset as ds
import numpy as np

from ..utils.errors import DataError
from .constants import FASHION_MNIST_CLASSES
from .dataset_download import Cifar10Download, Cifar100Download, MnistDownload, get_dataset_download_root
from .sampler import ShardSampler
from .sources import ArraySource, ImageFolderSource, list_image_files, read_idx, scan_class_names

__all__ = ["create_dataset", "SplitDataset", "worker_count", "check_split_folder", "SUPPORTED_DATASETS",
           "SPLIT_DATASETS",
           "READER_DATASETS", "EMBEDDED_FASHION_MNIST",
           "DEBIAN_FASHION_MNIST"]

_logger = logging.getLogger(__name__)

SPLIT_DATASETS = ("imagenet", "", "imagefolder", "fashion_mnist")
# name -> (MindSpore's reader, its download, number of classes)
READER_DATASETS = {"mnist": (ds.MnistDataset, MnistDownload, 10), "cifar10": (ds.Cifar10Dataset, Cifar10Download, 10),
                   "cifar100": (ds.Cifar100Dataset, Cifar100Download, 100)}
SUPPORTED_DATASETS = SPLIT_DATASETS + tuple(READER_DATASETS)
EMBEDDED_FASHION_MNIST = Path(__file__).resolve().parent / "embedded" / "fashion_mnist_subset.npz"
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
_FASHION_FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
                  "val": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
_SPLIT_ALIASES = {"validation": "val", "test": "val"}
_DEFAULT_ROOTS = (None, "", "./")


def worker_count(requested: Optional[int]) -> int:
    """``requested`` data workers, at most one per CPU core (MindSpore refuses more; recipes ask for 8)."""
    cores = os.cpu_count() or 1
    if requested is None:
        return min(4, cores)
    if requested > cores:
        _logger.info("num_parallel_workers %d is more than the %d CPU cores; using %d.", requested, cores, cores)
    return max(1, min(requested, cores))


class SplitDataset(ds.GeneratorDataset):
    """One split as a MindSpore dataset, with what the rest of the pipeline needs to know about it.

    Columns: ``image`` (encoded file bytes for image folders, RGB HWC uint8 for Fashion-MNIST) and ``label``
    (int32; -1 for an unreadable file of an evaluation split, whose image is a 1x1 placeholder), plus ``key``
    (int64, each draw's augmentation seed) for :meth:`with_keys`. ``class_names``,
    ``source`` (its ``skipped`` lists unreadable files) and ``sampler`` describe the split; ``num_classes()``
    answers as MindSpore's ``ImageFolderDataset`` does.
    """

    def __init__(self, source, sampler: ShardSampler):
        columns = ["image", "label"] + (["key"] if source.emit_key else [])
        # One reader thread: the source is Python, and a second thread only contends for the GIL with it
        # (measured, 2 cores: 534-580 images/s with two reader threads against 785-790 with one, two map workers).
        super().__init__(source, column_names=columns, sampler=sampler, num_parallel_workers=1,
                         python_multiprocessing=False)
        self.source = source
        self.shard_sampler = sampler

    @property
    def class_names(self):
        return self.source.class_names

    def num_classes(self) -> int:
        return len(self.source.class_names)

    def with_keys(self) -> "SplitDataset":
        """The same split yielding a third column, ``key``: each draw's augmentation seed."""
        if self.source.emit_key:
            return self
        return SplitDataset(self.source.with_keys(), self.shard_sampler)


def _fashion_file(root: Path, stem: str) -> Optional[Path]:
    for candidate in (root / f"{stem}.gz", root / stem):
        if candidate.is_file():
            return candidate
    return None


def _fashion_mnist_arrays(root: Optional[str], split: str) -> Tuple[np.ndarray, np.ndarray, str]:
    """Images, labels and a description: full files in ``root`` (or Debian's folder), else the embedded subset.

    A ``root`` other than the default ("./") must hold the files.
    """
    split = _SPLIT_ALIASES.get(split, split)
    if split not in _FASHION_FILES:
        raise DataError(f"Fashion-MNIST has splits 'train' and 'val' (alias 'test'), not '{split}'.")
    explicit = root not in _DEFAULT_ROOTS
    folders = [Path(root).expanduser()] if explicit else [Path("."), DEBIAN_FASHION_MNIST]
    for folder in folders:
        images_file, labels_file = (_fashion_file(folder, stem) for stem in _FASHION_FILES[split])
        if images_file and labels_file:
            images, labels = read_idx(images_file, 3), read_idx(labels_file, 1)
            return images, labels, f"Fashion-MNIST {split} from {folder} ({len(labels)} images)"
    if explicit:
        raise DataError(f"Fashion-MNIST files not found in {folders[0]}: expected {_FASHION_FILES[split][0]}[.gz] "
                        f"and {_FASHION_FILES[split][1]}[.gz] (Debian's dataset-fashion-mnist installs them in "
                        f"{DEBIAN_FASHION_MNIST}). Leave data_dir at its default to use the embedded subset.")
    with np.load(EMBEDDED_FASHION_MNIST) as data:
        images, labels = data[f"{split}_images"], data[f"{split}_labels"]
    return images, labels, f"embedded Fashion-MNIST subset, {split} ({len(labels)} images)"


def check_split_folder(root: Optional[str], split: str) -> Path:
    """``root / split`` as a folder, or a :class:`DataError` naming data_dir and what it holds."""
    if root in (None, ""):
        raise DataError("data_dir is empty; pass the folder that holds <split>/<class>/<image> (e.g. --data_dir "
                        "/path/to/imagenet).")
    root_dir = Path(root).expanduser()
    if not root_dir.is_dir():
        raise DataError(f"Data folder not found: {root_dir}. Check data_dir.")
    if not (root_dir / split).is_dir():
        found = sorted(p.name for p in root_dir.iterdir() if p.is_dir())
        raise DataError(f"Split folder '{split}' not found in data_dir {root_dir} (it has {found}). Pass --data_dir "
                        "<the folder holding the split folders>, or set train_split/val_split to their names.")
    return root_dir


def _image_folder_source(root: Optional[str], split: str, class_split: str, seed: int,
                         replace_bad: bool) -> ImageFolderSource:
    root_dir = check_split_folder(root, split)
    class_names = scan_class_names(root_dir / class_split)
    samples = list_image_files(root_dir / split, class_names, require_every_class=split == class_split)
    return ImageFolderSource(samples, class_names, seed=seed, replace_bad=replace_bad)


def _reader_folder(key: str, root: Optional[str], shard_id: Optional[int], download: bool) -> str:
    """The folder MindSpore's reader for ``key`` reads: ``root`` (default ``<download root>/datasets/<key>``) or,
    as the download unpacks it, its sub-folder; downloaded first with ``download``."""
    _, download_class, _ = READER_DATASETS[key]
    root = root if root not in (None, "") else os.path.join(get_dataset_download_root(), key)
    if download:
        downloader = download_class(os.path.join(root, f"dataset_{shard_id}") if shard_id is not None else root)
        downloader.download()
        return downloader.path
    downloader = download_class(root)
    for folder in (root, downloader.path):  # the files themselves, or the folder their archive unpacks to
        if not downloader.missing(folder):
            return folder
    raise DataError(f"{download_class.name} files not found in {root}: expected {', '.join(download_class.resources)}. "
                    "Place them there (or in its sub-folder " + (download_class.base_dir or "-") + "), or pass "
                    "download=True (dataset_download: True) to fetch them.")


def _reader_dataset(key: str, root: Optional[str], split: str, shuffle: bool, num_samples: Optional[int],
                    num_shards: Optional[int], shard_id: Optional[int], num_parallel_workers: Optional[int],
                    download: bool, num_aug_repeats: int, kwargs: Any) -> ds.Dataset:
    """MindSpore's reader of ``key`` with MindCV's sampling rules, and ``num_classes()``."""
    reader, _, classes = READER_DATASETS[key]
    if num_aug_repeats > 1:
        raise DataError(f"num_aug_repeats is supported for image folders here, not for {key}.")
    folder = _reader_folder(key, root, shard_id, download)
    workers = worker_count(num_parallel_workers)
    if num_samples:
        if num_shards is not None and num_shards > 1:
            sampler = ds.DistributedSampler(num_shards, shard_id, shuffle=shuffle, num_samples=num_samples)
        else:
            sampler = ds.RandomSampler(num_samples=num_samples) if shuffle else ds.SequentialSampler(
                num_samples=num_samples)
        options = dict(sampler=sampler)
    else:
        options = dict(shuffle=shuffle, num_shards=num_shards, shard_id=shard_id)
    usage = {"val": "test", "validation": "test"}.get(split, split)
    dataset = reader(dataset_dir=folder, usage=usage, num_parallel_workers=workers, **options, **kwargs)
    dataset.num_classes = lambda: classes
    return dataset


def create_dataset(name: str = "", root: Optional[str] = None, split: str = "train", shuffle: bool = True,
                   num_samples: Optional[int] = None, num_shards: Optional[int] = None,
                   shard_id: Optional[int] = None, num_parallel_workers: Optional[int] = None, download: bool = False,
                   num_aug_repeats: int = 0, *, seed: int = 0, class_split: str = "train",
                   equal_shards: Optional[bool] = None, start_epoch: int = 0, **kwargs: Any) -> ds.Dataset:
    """A data split on MindSpore's dataset engine (MindCV's signature; the keywords after ``*`` are added here).

    Args:
        name: ``imagenet``, ``""`` or ``imagefolder``: ``root/<split>/<class>/<image>`` (class indices from the
            sorted class folders of ``class_split``); ``fashion_mnist``: all 70,000 images from ``root`` or
            Debian's ``dataset-fashion-mnist`` folder when present, otherwise the subset embedded here;
            ``mnist``, ``cifar10``, ``cifar100``: MindSpore's own readers of the standard files in ``root``
            (default ``<download root>/datasets/<name>``), as MindCV returns them.
        split: sub-folder (image folders), ``train``/``val`` (Fashion-MNIST), ``train``/``test`` (``val`` is taken
            as ``test``) or ``all`` (MNIST, CIFAR).
        shuffle: seeded shuffling, a new order each epoch (from ``seed`` and the epoch; MindSpore's own shuffling
            for the reader data sets).
        num_samples: cap on the number of samples of the split (before sharding).
        num_parallel_workers: reader threads of the MindSpore readers. Image folders and Fashion-MNIST are read
            (and checked) by one Python thread, which keeps up with ~2,800 images/s; ``create_loader``'s
            ``num_parallel_workers`` sets the decoding and augmentation threads.
        num_shards: data-parallel sharding into this many disjoint shards that cover the split.
        shard_id: this rank's shard.
        download: fetch MNIST/CIFAR (checked against their md5) when their files are missing; image folders
            cannot be downloaded (True raises).
        num_aug_repeats: repeated augmentation (> 1, image folders): every sample that many times per epoch, on
            different ranks.
        seed: the data order and augmentation seed.
        start_epoch: the epoch the first iteration produces.
        equal_shards: equal step counts on every rank (default: when shuffling, i.e. for training).
        kwargs: passed to MindSpore's reader (MNIST, CIFAR); an error for the other data sets.

    Returns a :class:`SplitDataset` with columns ``image`` and ``label`` for image folders and Fashion-MNIST
    (nothing decoded here: the number of samples comes from the file list, and unreadable files are replaced
    while reading, see :mod:`mindcv.data.sources`), MindSpore's ``MnistDataset``/``Cifar10Dataset``/
    ``Cifar100Dataset`` for the others. Every result answers ``num_classes()``.
    """
    key = name.lower()
    if key in READER_DATASETS:
        return _reader_dataset(key, root, split, shuffle, num_samples, num_shards, shard_id, num_parallel_workers,
                               download, num_aug_repeats, kwargs)
    if key not in SPLIT_DATASETS:
        raise DataError(f"Unknown dataset '{name}'; supported: imagenet, imagefolder (or ''), fashion_mnist, mnist, "
                        "cifar10, cifar100.")
    if kwargs:
        raise DataError(f"create_dataset got options {sorted(kwargs)} that only MindSpore's MNIST/CIFAR readers take.")
    if download:
        raise DataError("Image folders cannot be downloaded (dataset_download is for mnist and cifar10/100): download "
                        "the data yourself and pass its folder as data_dir.")
    equal = shuffle if equal_shards is None else equal_shards
    if key == "fashion_mnist":
        images, labels, description = _fashion_mnist_arrays(root, split)
        source = ArraySource(images, labels, FASHION_MNIST_CLASSES, seed=seed)
        _logger.info("Using %s", description)
    else:
        source = _image_folder_source(root, split, class_split, seed, replace_bad=equal)
        _logger.info("%s %s: %d images in %d classes from %s", key or "imagefolder", split, len(source),
                     len(source.class_names), Path(root).expanduser() / split)
    if num_aug_repeats not in (0, 1) and not shuffle:
        raise DataError("num_aug_repeats needs shuffle (repeated augmentation is for training).")
    sampler = ShardSampler(len(source), shuffle=shuffle, seed=seed, num_shards=num_shards or 1,
                           shard_id=shard_id or 0, num_samples=num_samples,
                           equal_shards=equal, start_epoch=start_epoch,
                           num_repeats=num_aug_repeats)
    return SplitDataset(source, sampler)
