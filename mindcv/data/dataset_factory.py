"""``create_dataset``: image folders (ImageNet layout) and Fashion-MNIST on MindSpore's dataset engine."""
import logging
import os
from pathlib import Path
from typing import Optional, Tuple

import mindspore.dataset as ds
import numpy as np

from .sampler import ShardSampler
from .sources import (FASHION_MNIST_CLASSES, ArraySource, DataError, ImageFolderSource, read_idx,
                      scan_class_names)

__all__ = ["create_dataset", "SUPPORTED_DATASETS", "EMBEDDED_FASHION_MNIST", "DEBIAN_FASHION_MNIST"]

_logger = logging.getLogger(__name__)

SUPPORTED_DATASETS = ("imagenet", "imagefolder", "fashion_mnist")
EMBEDDED_FASHION_MNIST = Path(__file__).resolve().parent / "embedded" / "fashion_mnist_subset.npz"
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
_FASHION_FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
                  "val": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
_SPLIT_ALIASES = {"validation": "val", "test": "val"}


def _fashion_file(root: Path, stem: str) -> Optional[Path]:
    for candidate in (root / f"{stem}.gz", root / stem):
        if candidate.is_file():
            return candidate
    return None


def _fashion_mnist_arrays(root: Optional[str], split: str) -> Tuple[np.ndarray, np.ndarray, str]:
    """Images, labels and a description: full files in ``root`` (or Debian's folder), else the embedded subset."""
    split = _SPLIT_ALIASES.get(split, split)
    if split not in _FASHION_FILES:
        raise DataError(f"Fashion-MNIST has splits 'train' and 'val' (alias 'test'), not '{split}'.")
    folder = Path(root).expanduser() if root else DEBIAN_FASHION_MNIST
    images_file, labels_file = (_fashion_file(folder, stem) for stem in _FASHION_FILES[split])
    if images_file and labels_file:
        images, labels = read_idx(images_file, 3), read_idx(labels_file, 1)
        return images, labels, f"Fashion-MNIST {split} from {folder} ({len(labels)} images)"
    if root:
        raise DataError(f"Fashion-MNIST files not found in {folder}: expected {_FASHION_FILES[split][0]}[.gz] and "
                        f"{_FASHION_FILES[split][1]}[.gz] (Debian's dataset-fashion-mnist installs them in "
                        f"{DEBIAN_FASHION_MNIST}). Leave data_dir empty to use the embedded subset.")
    with np.load(EMBEDDED_FASHION_MNIST) as data:
        images, labels = data[f"{split}_images"], data[f"{split}_labels"]
    return images, labels, f"embedded Fashion-MNIST subset, {split} ({len(labels)} images)"


def _image_folder_source(root: Optional[str], split: str, class_split: str) -> ImageFolderSource:
    if not root:
        raise DataError("data_dir is empty; pass the folder that holds <split>/<class>/<image> (e.g. --data_dir "
                        "/path/to/imagenet).")
    root_dir = Path(root).expanduser()
    if not root_dir.is_dir():
        raise DataError(f"Data folder not found: {root_dir}. Check data_dir.")
    if not (root_dir / split).is_dir():
        found = sorted(p.name for p in root_dir.iterdir() if p.is_dir())
        raise DataError(f"Split folder {root_dir / split} not found; {root_dir} has {found}. "
                        "Set train_split/val_split to the right folder names.")
    class_names = scan_class_names(root_dir / class_split)
    return ImageFolderSource(root_dir / split, class_names)


def create_dataset(name: str = "imagefolder", root: Optional[str] = None, split: str = "train", shuffle: bool = True,
                   num_samples: Optional[int] = None, num_shards: Optional[int] = None,
                   shard_id: Optional[int] = None, num_parallel_workers: Optional[int] = None, seed: int = 0,
                   class_split: str = "train", equal_shards: Optional[bool] = None,
                   start_epoch: int = 0) -> ds.Dataset:
    """A dataset with columns ``image`` (RGB uint8 HWC) and ``label`` (int32).

    Args:
        name: ``imagenet`` / ``imagefolder`` (``root/<split>/<class>/<image>``) or ``fashion_mnist``
            (all 70,000 images from ``root`` or Debian's ``dataset-fashion-mnist`` folder when present,
            otherwise the subset embedded in the package).
        split: sub-folder (image folders) or ``train``/``val`` (Fashion-MNIST).
        shuffle: seeded shuffling, a new order each epoch.
        num_samples: cap on the number of samples of the split (before sharding).
        num_shards, shard_id: data-parallel sharding; shards are disjoint and cover the split.
        class_split: the split whose sorted class folders define the class indices of every split.
        equal_shards: drop the few samples that would make shards unequal (default: when shuffling).
        start_epoch: the epoch whose order the first iteration produces (for exact resume).

    The returned dataset has attributes ``class_names``, ``source`` and ``shard_sampler``.
    """
    key = name.lower()
    if key in ("imagenet", "imagefolder"):
        source = _image_folder_source(root, split, class_split)
        _logger.info("%s %s: %d images in %d classes from %s", key, split, len(source), len(source.class_names),
                     source.split_dir)
    elif key == "fashion_mnist":
        images, labels, description = _fashion_mnist_arrays(root, split)
        source = ArraySource(images, labels, FASHION_MNIST_CLASSES)
        _logger.info("Using %s", description)
    else:
        raise DataError(f"Unknown dataset '{name}'; supported: {', '.join(SUPPORTED_DATASETS)}.")
    if num_samples is not None and num_samples <= 0:
        raise DataError(f"num_samples must be positive, got {num_samples}.")
    sampler = ShardSampler(len(source), shuffle=shuffle, seed=seed, num_shards=num_shards or 1,
                           shard_id=shard_id or 0, num_samples=num_samples,
                           equal_shards=shuffle if equal_shards is None else equal_shards, start_epoch=start_epoch)
    workers = num_parallel_workers or min(4, os.cpu_count() or 1)
    dataset = ds.GeneratorDataset(source, column_names=["image", "label"], sampler=sampler,
                                  num_parallel_workers=workers, python_multiprocessing=False)
    if isinstance(source, ImageFolderSource):
        dataset = dataset.filter(predicate=lambda label: label >= 0, input_columns=["label"])
    dataset.class_names = source.class_names
    dataset.source = source
    dataset.shard_sampler = sampler
    return dataset

