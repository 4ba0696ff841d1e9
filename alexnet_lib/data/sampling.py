"""Which items of a dataset an epoch visits, in which order, on which rank.

Defined in the book's chapter "Training AlexNet at ImageNet scale" (the data section; resuming
in mid-epoch); used by both pipeline kinds.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sized

import numpy as np
from torch.utils.data import DistributedSampler

__all__ = ["evenly_spaced", "ResumableSampler", "SEED_STRIDE"]

SEED_STRIDE = 1_000_003
"""Epoch ``e`` of a run with seed ``s`` shuffles with ``s * SEED_STRIDE + e`` (see
:class:`ResumableSampler`)."""


def evenly_spaced(n: int, limit: int | None) -> list[int]:
    """``limit`` indices spread evenly over ``range(n)``, first and last included (all ``n`` if
    ``limit`` is None or not smaller). Evenly spaced items keep every class of a class-sorted
    folder (``ImageFolder`` sorts by class), which the first ``limit`` would not."""
    if limit is None or limit >= n:
        return list(range(n))
    return np.linspace(0, n - 1, num=limit).round().astype(int).tolist()


class ResumableSampler(DistributedSampler):
    """torch's ``DistributedSampler`` that can start an epoch after its first batches (a resume).

    Training (``shuffle=True``): ``DistributedSampler``'s order, one permutation of all items per
    epoch, the same on every rank, padded by wrapping around to a multiple of ``world_size``, rank
    ``r`` taking items ``r, r + world_size, ...``. Evaluation (``shuffle=False``): items in order,
    split the same way but not padded, so that every item is counted exactly once.
    ``set_epoch(epoch, skip_batches)`` then leaves out the epoch's first ``skip_batches`` batches
    of ``batch_size`` items on this rank.

    Args:
        dataset: anything with a length (only ``len(dataset)`` is used).
        shuffle: a new permutation every epoch (training) or the items in order (evaluation).
        seed: the run's seed; the same on every rank.
        rank, world_size: this process and the number of data-parallel processes.
        batch_size: items per batch on this rank, the unit of ``skip_batches``.
    """

    def __init__(self, dataset: Sized, shuffle: bool, seed: int = 0, rank: int = 0,
                 world_size: int = 1, batch_size: int = 1) -> None:
        # DistributedSampler seeds epoch e with seed + e, so seed s at epoch e + 1 would replay
        # seed s + 1 at epoch e; spreading the seeds keeps runs of nearby seeds apart (and gives
        # the orders of the sampler this one replaced, which seeded with the same number).
        super().__init__(dataset, num_replicas=world_size, rank=rank, shuffle=shuffle,
                         seed=seed * SEED_STRIDE, drop_last=False)
        self.batch_size, self.skip = batch_size, 0
        if not shuffle:  # no padding: DistributedSampler's __iter__ then pads with nothing
            self.total_size = len(dataset)
            self.num_samples = len(range(rank, self.total_size, world_size))

    def set_epoch(self, epoch: int, skip_batches: int = 0) -> None:
        """Choose the epoch's permutation and skip its first ``skip_batches`` batches."""
        super().set_epoch(epoch)
        self.skip = skip_batches * self.batch_size

    def __iter__(self) -> Iterator[int]:
        return itertools.islice(super().__iter__(), self.skip, None)

    def __len__(self) -> int:
        """Items left in the epoch on this rank (``num_samples``: the whole epoch's)."""
        return max(0, self.num_samples - self.skip)
