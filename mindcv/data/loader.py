"""``create_loader``: transforms, label encoding, batching and batch mixing (Mixup / CutMix), as in MindCV.

Random transforms of this package (auto-augment policies, random erasing, batch mixing) draw from a
generator seeded per sample (see :mod:`mindcv.data.keyed`): the loader asks a :class:`SplitDataset` for its
``key`` column, maps those transforms over ``(image, key)`` and drops the column at the end, so the batches
have MindCV's two columns and the same seed gives the same batches.

Those transforms are Python. The ones at the end of the transform list are applied per batch, after batching,
together with batch mixing (:class:`BatchAugment`): one Python call per batch instead of one per image, and with
``python_multiprocessing`` in MindSpore's worker processes, where they do not compete for the GIL with the
Python reader of the image files. Each image still gets its own generators, so the batches are the same either
way. A transform list that ends in ``Normalize`` (and ``HWC2CHW``), as MindCV's do, is normalised in that same
per-batch map with numpy (:class:`BatchNormalize`): bitwise MindSpore's values, at a third of the CPU time.

MindSpore's worker processes pass samples through System V shared memory, but their locks are POSIX semaphores,
which live in ``/dev/shm``: where that is full (or tiny, as in some containers) the first iteration fails deep in
``multiprocessing``. :func:`create_loader` tries the locks its workers will need first and refuses in one line.
"""
import logging
import multiprocessing
import shutil
from typing import Callable, List, Optional, Sequence, Tuple, Union

import mindspore as ms
import mindspore.dataset as ds
import numpy as np
from mindspore.dataset import transforms, vision

from ..utils.errors import ConfigError
from .dataset_factory import SplitDataset, worker_count
from .keyed import KeyedTransform
from .mixup import BatchMixer
from .transforms_factory import create_transforms

__all__ = ["create_loader"]

_logger = logging.getLogger(__name__)
Transform = Union[List[Callable], Tuple[List[Callable], List[Callable], List[Callable]]]


def _apply_keyed(ops: Sequence[KeyedTransform], image: np.ndarray, key, salt: int) -> np.ndarray:
    """Keyed transforms applied in order, each with its generator seeded by (key, salt)."""
    for op in ops:
        image = op.apply(image, np.random.default_rng([int(key), salt]))
    return image


def _keyed_with_salt(ops: Sequence[KeyedTransform], salt: int) -> Callable:
    """The per-image map function of :func:`_apply_keyed` over (image, key)."""
    def apply(image, key):
        return _apply_keyed(ops, image, key, salt), key
    return apply


class BatchNormalize:
    """MindSpore's ``Normalize`` of HWC images, and with ``to_chw`` the ``HWC2CHW`` after it, applied to a whole
    batch with numpy: the same float32 values ``(x - mean) / std``, at about a third of the per-image cost."""

    def __init__(self, mean: Sequence[float], std: Sequence[float], to_chw: bool):
        self.mean = np.asarray(mean, np.float32)
        self.std = np.asarray(std, np.float32)
        self.to_chw = to_chw

    def __call__(self, images: np.ndarray) -> np.ndarray:
        if images.ndim != 4 or images.shape[-1] != self.mean.size:
            raise ValueError(f"Normalize with {self.mean.size} channel means got images of shape "
                             f"{images.shape[1:]}; give one mean and std per channel of HWC images.")
        mean, std = self.mean, self.std
        if self.to_chw:
            images = np.ascontiguousarray(images.transpose(0, 3, 1, 2))
            mean, std = mean[:, None, None], std[:, None, None]
        normalized = np.subtract(images, mean, dtype=np.float32)
        return np.divide(normalized, std, out=normalized)


def _batch_normalization(ops: Sequence[Callable]) -> Tuple[List[Callable], Optional[BatchNormalize]]:
    """``ops`` without a trailing ``Normalize`` (HWC) [+ ``HWC2CHW``] or ``HWC2CHW`` + ``Normalize`` (CHW), and
    the :class:`BatchNormalize` that computes the same after batching (None when they do not end that way)."""
    ops = list(ops)
    tail = [type(op) for op in ops[-2:]]
    if tail == [vision.Normalize, vision.HWC2CHW] and ops[-2].is_hwc:
        return ops[:-2], BatchNormalize(ops[-2].mean, ops[-2].std, to_chw=True)
    if tail == [vision.HWC2CHW, vision.Normalize] and not ops[-1].is_hwc:
        return ops[:-2], BatchNormalize(ops[-1].mean, ops[-1].std, to_chw=True)
    if ops and type(ops[-1]) is vision.Normalize and ops[-1].is_hwc:
        return ops[:-1], BatchNormalize(ops[-1].mean, ops[-1].std, to_chw=False)
    return ops, None


class BatchAugment:
    """The per-batch map: the batch normalised by ``normalize`` if given, keyed transforms ``ops`` applied to each
    image in order, each with the generator of (sample key, 0), then the batch mixed by ``mixer`` if given.

    Called with the batch's ``images``, ``labels`` and ``keys`` (if the pipeline has them); returns the same
    columns.
    """

    def __init__(self, ops: Sequence[KeyedTransform], mixer: Optional[BatchMixer] = None,
                 normalize: Optional[BatchNormalize] = None):
        self.ops = list(ops)
        self.mixer = mixer
        self.normalize = normalize

    def __call__(self, images: np.ndarray, labels: np.ndarray, keys: Optional[np.ndarray] = None):
        if self.normalize is not None:
            images = self.normalize(images)
        if self.ops:
            images = np.stack([_apply_keyed(self.ops, image, key, 0) for image, key in zip(images, keys)])
        if self.mixer is not None:
            return self.mixer(images, labels, keys) if keys is not None else self.mixer(images, labels)
        return (images, labels) if keys is None else (images, labels, keys)


SEMAPHORES_PER_WORKER = 4  # measured: 17 for two maps of two workers and their two watcher processes


def check_shared_memory(worker_processes: int) -> None:
    """Refuse in one line when ``/dev/shm`` cannot hold the semaphores of ``worker_processes`` processes."""
    try:
        context = multiprocessing.get_context("fork")
        locks = [context.Semaphore() for _ in range(SEMAPHORES_PER_WORKER * worker_processes)]
    except OSError as exc:
        try:
            free = f"{shutil.disk_usage('/dev/shm').free // 1024} KiB free"
        except OSError:
            free = "missing"
        raise ConfigError(f"python_multiprocessing runs the Python augmentation in {worker_processes} worker "
                          f"processes, whose locks live in /dev/shm ({free}; {exc.strerror}): give the machine or "
                          "container a larger /dev/shm (docker run --shm-size=256m) or set python_multiprocessing "
                          "False (the same batches, computed in threads).") from None
    del locks


def worker_processes(dataset: ds.Dataset) -> int:
    """The processes MindSpore starts for a pipeline: each map with ``python_multiprocessing`` that holds a Python
    callable (not only MindSpore's C++ transforms) runs its workers and one watcher."""
    count, nodes = 0, [dataset]
    while nodes:
        node = nodes.pop()
        if isinstance(node, ds.MapDataset) and node.python_multiprocessing and \
                any(not isinstance(op, transforms.transforms.TensorOperation) for op in node.operations):
            count += (node.num_parallel_workers or ds.config.get_num_parallel_workers()) + 1
        nodes.extend(node.children)
    return count


def _map_transforms(dataset: ds.Dataset, ops: Sequence[Callable], column: str, keyed: bool, workers: Optional[int],
                    multiprocessing: bool, salt: int = 0) -> ds.Dataset:
    """Map ``ops`` over ``column``: runs of plain operations in one map, runs of keyed transforms in one map over
    (column, key) on one worker (they are Python under the GIL: a second thread only contends for the lock)."""
    groups: List[Tuple[bool, List[Callable]]] = []
    for op in ops:
        is_keyed = keyed and isinstance(op, KeyedTransform)
        if groups and groups[-1][0] == is_keyed:
            groups[-1][1].append(op)
        else:
            groups.append((is_keyed, [op]))
    for is_keyed, run in groups:
        if is_keyed:
            dataset = dataset.map(operations=_keyed_with_salt(run, salt), input_columns=[column, "key"],
                                  output_columns=[column, "key"], num_parallel_workers=1)
        else:
            dataset = dataset.map(operations=run, input_columns=column, num_parallel_workers=workers,
                                  python_multiprocessing=multiprocessing)
    return dataset


def _concat_splits(image_clean, image_aug1, image_aug2, label):
    return np.concatenate((image_clean, image_aug1, image_aug2)), np.concatenate((label, label, label))


def _concat_splits_keyed(image_clean, image_aug1, image_aug2, label, key):
    return _concat_splits(image_clean, image_aug1, image_aug2, label) + (np.concatenate((key, key + 1, key + 2)),)


def _checked_transform(dataset: ds.Dataset, batch_size: int, drop_remainder: bool,
                       transform: Optional[Transform], splits: bool) -> Transform:
    """``transform`` (the ImageNet evaluation transforms when None) after checking the loader's arguments."""
    if batch_size < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size}.")
    size = dataset.get_dataset_size()
    if drop_remainder and size < batch_size:
        raise ConfigError(f"batch_size {batch_size} is larger than the {size} samples of this split (shard) and "
                          "drop_remainder is set, so no batch would be produced; lower batch_size or set "
                          "drop_remainder False.")
    if transform is None:
        _logger.warning("create_loader without transform uses the ImageNet evaluation transforms; pass "
                        "create_transforms(...) explicitly.")
        transform = create_transforms("imagenet", is_training=False)
    if splits and not (isinstance(transform, tuple) and len(transform) == 3):
        raise ConfigError("separate=True needs the (primary, secondary, final) tuple of "
                          "create_transforms(..., separate=True).")
    return transform


def _augmentation_splits(dataset: ds.Dataset, transform: Transform, keyed: bool, workers: Optional[int],
                         multiprocessing: bool) -> ds.Dataset:
    """Columns ``image_clean``, ``image_aug1``, ``image_aug2``: the primary transforms, then the auto-augmentation
    on the two copies (each with its own random draws), then the final transforms on all three."""
    primary, secondary, final = transform
    dataset = _map_transforms(dataset, primary, "image", keyed, workers, multiprocessing)
    dataset = dataset.map(operations=lambda image: (image, image.copy(), image.copy()), input_columns="image",
                          output_columns=["image_clean", "image_aug1", "image_aug2"])
    for salt, column in enumerate(("image_aug1", "image_aug2"), 1):
        dataset = _map_transforms(dataset, secondary, column, keyed, workers, multiprocessing, salt)
    for column in ("image_clean", "image_aug1", "image_aug2"):
        dataset = _map_transforms(dataset, final, column, keyed, workers, multiprocessing)
    return dataset


def _per_image_then_batch_ops(dataset: ds.Dataset, ops: Sequence[Callable], keyed: bool, workers: Optional[int],
                              multiprocessing: bool) -> Tuple[ds.Dataset, List[KeyedTransform],
                                                              Optional[BatchNormalize]]:
    """Map the per-image part of ``ops``; return the keyed transforms that end the list (they run per batch) and
    the normalisation that ends the per-image part (it runs per batch too)."""
    split = len(ops)
    while keyed and split > 0 and isinstance(ops[split - 1], KeyedTransform):
        split -= 1
    head, normalize = _batch_normalization(ops[:split])
    return _map_transforms(dataset, head, "image", keyed, workers, multiprocessing), list(ops[split:]), normalize


def _map_batches(dataset: ds.Dataset, augment: "BatchAugment", keyed: bool, workers: Optional[int],
                 multiprocessing: bool) -> ds.Dataset:
    """Run the per-batch augmentation over the batched columns. Threads share the GIL: a second one only helps
    the mixing alone, whose numpy work releases it (with the normalising, one thread measured 10-20% faster:
    901-921 against 764-800 images/s, 2 cores), so callers pass one worker unless only mixing runs."""
    columns = ["image", "label"] + (["key"] if keyed else [])
    return dataset.map(operations=augment, input_columns=columns, output_columns=columns,
                       num_parallel_workers=workers, python_multiprocessing=multiprocessing)


def create_loader(dataset: ds.Dataset, batch_size: int, drop_remainder: bool = False, is_training: bool = False,
                  mixup: float = 0.0, cutmix: float = 0.0, cutmix_prob: float = 0.0, num_classes: int = 1000,
                  transform: Optional[Transform] = None, target_transform: Optional[List[Callable]] = None,
                  num_parallel_workers: Optional[int] = None, python_multiprocessing: bool = False,
                  separate: bool = False) -> ds.Dataset:
    """Batches of ``(image, label)`` from a dataset made by ``create_dataset`` (MindCV's signature and defaults).

    Labels are int32 class indices (``target_transform`` replaces that), except with Mixup/CutMix in training
    (``mixup``/``cutmix`` are the Beta alphas, ``cutmix_prob`` the probability that a batch is mixed: note
    MindCV's default of 0 here mixes nothing), where they are float32 soft one-hot vectors; label smoothing is
    the loss's job. ``transform`` defaults to the evaluation transforms. ``separate`` takes the
    ``(primary, auto-augment, final)`` tuple of ``create_transforms(..., separate=True)`` and returns each
    batch as its clean images followed by two auto-augmented copies (labels repeated), for augmentation
    splits. For evaluation keep ``drop_remainder=False``: every sample then appears exactly once.
    ``python_multiprocessing`` runs the Python transforms (the caller's and this package's per-batch
    augmentation) in MindSpore's worker processes rather than threads; the batches are the same.
    """
    transform = _checked_transform(dataset, batch_size, drop_remainder, transform, is_training and separate)
    ops = [op for part in (transform if separate and is_training else (transform,)) for op in part]
    mixing = is_training and mixup + cutmix > 0 and batch_size > 1
    keyed = (is_training and hasattr(dataset, "with_keys")
             and (mixing or any(isinstance(op, KeyedTransform) for op in ops)))
    if keyed:
        dataset = dataset.with_keys()
    workers = worker_count(num_parallel_workers) if num_parallel_workers is not None else None
    if target_transform or not isinstance(dataset, SplitDataset):  # a SplitDataset's labels are int32 already
        dataset = dataset.map(operations=target_transform or transforms.TypeCast(ms.int32), input_columns="label",
                              num_parallel_workers=workers)
    per_image = dict(keyed=keyed, workers=workers, multiprocessing=python_multiprocessing)
    if separate and is_training:
        dataset = _augmentation_splits(dataset, transform, **per_image)
        dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
        columns = ["image_clean", "image_aug1", "image_aug2", "label"] + (["key"] if keyed else [])
        dataset = dataset.map(operations=_concat_splits_keyed if keyed else _concat_splits, input_columns=columns,
                              output_columns=["image", "label"] + (["key"] if keyed else []))
        tail, normalize = [], None
    else:
        dataset, tail, normalize = _per_image_then_batch_ops(dataset, ops, **per_image)
        dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
    mixer = None
    if mixing:
        channels_last = not any(isinstance(op, vision.HWC2CHW) for op in ops)
        mixer = BatchMixer(mixup_alpha=mixup, cutmix_alpha=cutmix, prob=cutmix_prob, switch_prob=0.5,
                           num_classes=num_classes, channels_last=channels_last)
    if tail or mixer is not None or normalize is not None:
        dataset = _map_batches(dataset, BatchAugment(tail, mixer, normalize), keyed,
                               workers if python_multiprocessing or not (tail or normalize) else 1,
                               python_multiprocessing)
    if keyed:
        dataset = dataset.project(["image", "label"])
    processes = worker_processes(dataset)
    if processes:
        check_shared_memory(processes)
    return dataset
