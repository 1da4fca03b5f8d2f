"""Seeded, sharded sample order: disjoint shards that cover the split, reproducible per epoch."""
from typing import Iterator, Optional

import mindspore.dataset as ds
import numpy as np

from ..utils.errors import ConfigError

__all__ = ["ShardSampler"]


class ShardSampler(ds.Sampler):
    """Yields this shard's draws for one epoch; each new iteration is the next epoch.

    The split (capped to ``num_samples`` when given) is permuted with ``(seed, epoch)`` when ``shuffle``, each
    sample repeated ``num_repeats`` times in a row (repeated augmentation: the copies go to different ranks),
    then dealt round-robin to ``num_shards`` shards, so shards are disjoint and together cover it.
    With ``equal_shards`` (training) every shard gets the same number of draws: without repeats the last
    ``len % num_shards`` samples of the epoch's order are left out; with repeats each shard takes the first
    ``ceil(len / num_shards)`` of its share, as MindCV's ``RepeatAugSampler``. Without it (evaluation) every
    sample is used exactly once.

    A draw is ``(epoch * num_repeats + copy) * dataset_size + sample``: the source reads sample
    ``draw % dataset_size`` and seeds that draw's random augmentation with the whole number.
    """

    def __init__(self, dataset_size: int, shuffle: bool = True, seed: int = 0, num_shards: int = 1, shard_id: int = 0,
                 num_samples: Optional[int] = None, equal_shards: bool = True, start_epoch: int = 0,
                 num_repeats: int = 1):
        if num_shards < 1 or not 0 <= shard_id < num_shards:
            raise ConfigError(f"shard_id must be in [0, {num_shards}), got {shard_id} (num_shards={num_shards}).")
        if num_samples is not None and num_samples < 1:
            raise ConfigError(f"num_samples must be positive, got {num_samples}.")
        self._size = dataset_size
        self._total = min(dataset_size, num_samples) if num_samples else dataset_size
        self._shuffle = shuffle
        self._seed = seed
        self._num_shards = num_shards
        self._shard_id = shard_id
        self._equal_shards = equal_shards
        self._repeats = max(1, int(num_repeats))
        self.epoch = start_epoch
        super().__init__()

    def epoch_indices(self, epoch: int) -> np.ndarray:
        """This shard's sample indices in epoch ``epoch``."""
        return self.epoch_draws(epoch) % self._size

    def epoch_draws(self, epoch: int) -> np.ndarray:
        """This shard's draws in epoch ``epoch`` (see the class docstring)."""
        if self._shuffle:
            order = np.random.default_rng([self._seed, epoch]).permutation(self._size)[: self._total]
        else:
            order = np.arange(self._total)
        copies = np.tile(np.arange(self._repeats), len(order))
        order = np.repeat(order, self._repeats)
        draws = (epoch * self._repeats + copies) * self._size + order
        if self._repeats > 1:
            padded = -(-len(draws) // self._num_shards) * self._num_shards
            draws = np.concatenate([draws, draws[: padded - len(draws)]])
            return draws[self._shard_id:: self._num_shards][: len(self)]
        if self._equal_shards:
            draws = draws[: len(draws) - len(draws) % self._num_shards]
        return draws[self._shard_id:: self._num_shards]

    def set_epoch(self, epoch: int) -> None:
        """Make the next iteration produce epoch ``epoch`` (used when resuming and per epoch)."""
        self.epoch = epoch

    def __len__(self) -> int:
        if self._repeats > 1:
            return -(-self._total // self._num_shards)
        used = self._total - self._total % self._num_shards if self._equal_shards else self._total
        return max(0, -(-(used - self._shard_id) // self._num_shards))

    def __iter__(self) -> Iterator[int]:
        draws = self.epoch_draws(self.epoch)
        self.epoch += 1
        return iter(draws.tolist())
