import numpy as np
import pytest

from mindcv.data.sampler import ShardSampler


@pytest.mark.parametrize("equal", [True, False])
def test_shards_are_disjoint_and_cover(equal):
    shards = [ShardSampler(103, shuffle=True, seed=5, num_shards=4, shard_id=i, equal_shards=equal) for i in range(4)]
    parts = [set(s.epoch_indices(2)) for s in shards]
    assert sum(len(p) for p in parts) == len(set().union(*parts))
    covered = len(set().union(*parts))
    assert covered == (100 if equal else 103)
    assert [len(s) for s in shards] == [len(p) for p in parts]
    if equal:
        assert {len(p) for p in parts} == {25}


def test_seeded_order_changes_per_epoch_and_is_reproducible():
    a, b = ShardSampler(50, seed=1), ShardSampler(50, seed=1)
    first, second = list(a), list(a)
    assert [d % 50 for d in first] != [d % 50 for d in second] and sorted(d % 50 for d in first) == list(range(50))
    assert list(b) == first
    b.set_epoch(1)
    assert list(b) == second
    assert list(ShardSampler(50, seed=2)) != first


def test_draws_encode_epoch_and_sample():
    sampler = ShardSampler(10, seed=3, start_epoch=4)
    draws = np.array(list(sampler))
    assert (draws // 10 == 4).all() and sorted(draws % 10) == list(range(10))
    assert np.array_equal(sampler.epoch_indices(4), draws % 10)


def test_repeated_augmentation_sends_copies_to_different_ranks():
    """MindCV's RepeatAugSampler: each sample 3 times per epoch, dealt round-robin, ceil(N / ranks) per rank."""
    ranks = [ShardSampler(10, seed=0, num_shards=3, shard_id=r, num_repeats=3) for r in range(3)]
    draws = [r.epoch_draws(0) for r in ranks]
    assert [len(d) for d in draws] == [4, 4, 4] == [len(r) for r in ranks]
    first = [d[0] for d in draws]  # the three copies of the first sample, on three ranks
    assert len({d % 10 for d in first}) == 1 and len(set(first)) == 3  # same image, distinct augmentation keys


def test_num_samples_caps_and_no_shuffle_keeps_order():
    sampler = ShardSampler(50, shuffle=False, num_samples=7, equal_shards=False)
    assert list(sampler) == list(range(7)) and len(sampler) == 7


def test_bad_shard_id():
    with pytest.raises(ValueError, match="shard_id"):
        ShardSampler(10, num_shards=2, shard_id=2)
