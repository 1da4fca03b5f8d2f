"""``create_loader``: transforms, label encoding, batching and batch mixing (mixup / cutmix)."""
import os
from typing import Callable, List, Optional

import mindspore as ms
import mindspore.dataset as ds
from mindspore.dataset import transforms, vision

__all__ = ["create_loader"]


def _mixing(mixup: float, cutmix: float, cutmix_prob: float) -> Optional[Callable]:
    """MindSpore batch mixing: MixUpBatch, CutMixBatch, or a random choice of the two per batch."""
    ops = []
    if mixup > 0:
        ops.append(vision.MixUpBatch(alpha=mixup))
    if cutmix > 0:
        ops.append(vision.CutMixBatch(vision.ImageBatchFormat.NCHW, alpha=cutmix, prob=1.0))
    if not ops:
        return None
    mix = ops[0] if len(ops) == 1 else transforms.RandomChoice(ops)
    return mix if cutmix_prob >= 1.0 else transforms.RandomApply([mix], prob=cutmix_prob)


def create_loader(dataset: ds.Dataset, batch_size: int, drop_remainder: bool = False, is_training: bool = False,
                  mixup: float = 0.0, cutmix: float = 0.0, cutmix_prob: float = 1.0, num_classes: int = 1000,
                  label_smoothing: float = 0.0, transform: Optional[List[Callable]] = None,
                  num_parallel_workers: Optional[int] = None) -> ds.Dataset:
    """Batches of ``(image float32 NCHW, label)`` from a dataset made by ``create_dataset``.

    Labels are int32 class indices, except with mixup/cutmix in training, where they are float32 soft
    one-hot vectors that already include ``label_smoothing`` (so the loss must not smooth again).
    ``mixup``/``cutmix`` are the Beta-distribution alphas; ``cutmix_prob`` is the probability that a batch
    is mixed at all (when both are on, each mixed batch uses one of the two at random).
    For evaluation keep ``drop_remainder=False``: every sample then appears exactly once.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
    size = dataset.get_dataset_size()
    if drop_remainder and size < batch_size:
        raise ValueError(f"batch_size {batch_size} is larger than the {size} samples of this split (shard) and "
                         "drop_remainder is set, so no batch would be produced; lower batch_size or set "
                         "drop_remainder False.")
    workers = num_parallel_workers or min(4, os.cpu_count() or 1)
    class_names = getattr(dataset, "class_names", None)
    if transform:
        dataset = dataset.map(operations=transform, input_columns="image", num_parallel_workers=workers)
    mixing = _mixing(mixup, cutmix, cutmix_prob) if is_training else None
    if mixing is not None:
        label_ops = [transforms.OneHot(num_classes, smoothing_rate=label_smoothing), transforms.TypeCast(ms.float32)]
    else:
        label_ops = [transforms.TypeCast(ms.int32)]
    dataset = dataset.map(operations=label_ops, input_columns="label", num_parallel_workers=workers)
    dataset = dataset.batch(batch_size, drop_remainder=drop_remainder, num_parallel_workers=workers)
    if mixing is not None:
        dataset = dataset.map(operations=mixing, input_columns=["image", "label"], num_parallel_workers=workers)
    dataset.class_names = class_names
    return dataset
