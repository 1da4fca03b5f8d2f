"""Seeded, sharded sample order: disjoint shards that cover the split, reproducible per epoch."""
from typing import Iterator, Optional

import mindspore.dataset as ds
import numpy as np

__all__ = ["ShardSampler"]


class ShardSampler(ds.Sampler):
    """Yields this shard's indices for one epoch; each new iteration is the next epoch.

    The split (capped to ``num_samples`` when given) is permuted with ``seed + epoch`` when ``shuffle``,
    then dealt round-robin to ``num_shards`` shards, so shards are disjoint and together cover it.
    With ``equal_shards`` (training) the last ``len % num_shards`` samples of the epoch's order are left
    out so every rank runs the same number of steps; without it (evaluation) every sample is used once.
    """

    def __init__(self, dataset_size: int, shuffle: bool = True, seed: int = 0, num_shards: int = 1, shard_id: int = 0,
                 num_samples: Optional[int] = None, equal_shards: bool = True, start_epoch: int = 0):
        if num_shards < 1 or not 0 <= shard_id < num_shards:
            raise ValueError(f"shard_id must be in [0, {num_shards}), got {shard_id} (num_shards={num_shards}).")
        self._size = dataset_size
        self._total = min(dataset_size, num_samples) if num_samples else dataset_size
        self._shuffle = shuffle
        self._seed = seed
        self._num_shards = num_shards
        self._shard_id = shard_id
        self._equal_shards = equal_shards
        self.epoch = start_epoch
        super().__init__()

    def epoch_indices(self, epoch: int) -> np.ndarray:
        """This shard's indices in epoch ``epoch``."""
        if self._shuffle:
            order = np.random.default_rng([self._seed, epoch]).permutation(self._size)[: self._total]
        else:
            order = np.arange(self._total)
        if self._equal_shards:
            order = order[: len(order) - len(order) % self._num_shards]
        return order[self._shard_id:: self._num_shards]

    def set_epoch(self, epoch: int) -> None:
        """Make the next iteration produce epoch ``epoch`` (used when resuming and per epoch)."""
        self.epoch = epoch

    def __len__(self) -> int:
        used = self._total - self._total % self._num_shards if self._equal_shards else self._total
        return max(0, -(-(used - self._shard_id) // self._num_shards))

    def __iter__(self) -> Iterator[int]:
        indices = self.epoch_indices(self.epoch)
        self.epoch += 1
        return iter(indices.tolist())
