"""alexnet_lib.data.sampling: which items an epoch visits, in which order, on which rank."""

from __future__ import annotations

import math

import pytest
import torch

from alexnet_lib.data.sampling import ResumableSampler


def old_epoch_sampler(n: int, shuffle: bool, seed: int, rank: int, world_size: int, batch_size: int,
                      epoch: int, skip_batches: int) -> list[int]:
    """The indices of the hand-written ``EpochSampler`` that ResumableSampler replaced, verbatim
    (its ``_indices`` and ``__iter__``): runs before the change resume on the same order."""
    if not shuffle:
        order = list(range(rank, n, world_size))
    else:
        g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
        order = torch.randperm(n, generator=g).tolist()
        total = math.ceil(n / world_size) * world_size
        order += order[: total - n]
        order = order[rank::world_size]
    return order[skip_batches * batch_size:]


SETTINGS = [  # n, seed, world size, batch size, epoch, skipped batches
    (23, 1, 2, 4, 3, 0), (23, 1, 2, 4, 3, 2), (100, 0, 1, 10, 0, 0), (100, 7, 4, 8, 5, 3),
    (37, 12345, 3, 5, 11, 1), (64, 2, 8, 2, 1, 4), (10, 3, 3, 4, 2, 5),  # the last skips it all
]


@pytest.mark.parametrize("shuffle", [True, False])
@pytest.mark.parametrize(("n", "seed", "world_size", "batch_size", "epoch", "skip"), SETTINGS)
def test_the_indices_are_the_old_samplers(n, seed, world_size, batch_size, epoch, skip, shuffle):
    for rank in range(world_size):
        sampler = ResumableSampler(range(n), shuffle=shuffle, seed=seed, rank=rank,
                                   world_size=world_size, batch_size=batch_size)
        sampler.set_epoch(epoch, skip_batches=skip)
        expected = old_epoch_sampler(n, shuffle, seed, rank, world_size, batch_size, epoch, skip)
        assert list(sampler) == expected, (rank, shuffle)
        assert len(sampler) == len(expected)


def test_ranks_partition_shuffle_and_skip():
    ranks = [ResumableSampler(range(23), shuffle=True, seed=1, rank=r, world_size=2, batch_size=4)
             for r in (0, 1)]
    for s in ranks:
        s.set_epoch(3)
    a, b = (list(s) for s in ranks)
    assert len(a) == len(b) == 12 and set(a) | set(b) == set(range(23))  # padded by wrapping
    ranks[0].set_epoch(4)
    assert list(ranks[0]) != a  # a new order each epoch
    ranks[0].set_epoch(3, skip_batches=2)
    assert list(ranks[0]) == a[8:] and len(ranks[0]) == 4  # resuming mid-epoch skips what was done
    ranks[0].set_epoch(3)
    assert list(ranks[0]) == a  # and the next epoch starts at its beginning again
    val = [ResumableSampler(range(23), shuffle=False, rank=r, world_size=2) for r in (0, 1)]
    assert [len(v) for v in val] == [12, 11]  # evaluation: not padded,
    assert sorted(list(val[0]) + list(val[1])) == list(range(23))  # each image once


def test_more_ranks_than_items_still_gives_every_rank_the_same_number():
    # The old sampler padded with at most n items (fewer than its own length said); torch's
    # DistributedSampler repeats the permutation as often as needed.
    ranks = [ResumableSampler(range(3), shuffle=True, seed=0, rank=r, world_size=8) for r in range(8)]
    assert all(len(list(s)) == len(s) == 1 for s in ranks)


def test_seeds_do_not_replay_each_other_one_epoch_later():
    def order(seed: int, epoch: int) -> list[int]:
        s = ResumableSampler(range(50), shuffle=True, seed=seed)
        s.set_epoch(epoch)
        return list(s)

    assert order(0, 1) != order(1, 0)  # DistributedSampler's seed + epoch alone would make these equal


def test_a_rank_outside_the_world_is_refused():
    with pytest.raises(ValueError, match="rank"):
        ResumableSampler(range(10), shuffle=True, rank=2, world_size=2)
