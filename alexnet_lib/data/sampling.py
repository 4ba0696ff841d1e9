"""Which items of a dataset an epoch visits, in which order, on which rank.

Defined in the book's chapter "Training AlexNet at ImageNet scale" (the data section; resuming
in mid-epoch); used by both pipeline kinds.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import Sampler

__all__ = ["evenly_spaced", "EpochSampler"]


def evenly_spaced(n: int, limit: int | None) -> list[int]:
    """``limit`` indices spread evenly over ``range(n)``, first and last included (all ``n`` if
    ``limit`` is None or not smaller). Evenly spaced items keep every class of a class-sorted
    folder (``ImageFolder`` sorts by class), which the first ``limit`` would not."""
    if limit is None or limit >= n:
        return list(range(n))
    return np.linspace(0, n - 1, num=limit).round().astype(int).tolist()


class EpochSampler(Sampler[int]):
    """Indices of one epoch for one rank; shuffled by ``(seed, epoch)``; resumable mid-epoch.

    Training (``shuffle=True``): one permutation of all items per epoch, the same on every
    rank, padded by wrapping around to a multiple of ``world_size`` so that all ranks do the
    same number of steps (as ``DistributedSampler`` does); rank ``r`` takes items
    ``r, r + world_size, ...``. Evaluation (``shuffle=False``): items in order, split the same
    way but without padding, so that every item is counted exactly once.
    """

    def __init__(self, n: int, shuffle: bool, seed: int = 0, rank: int = 0, world_size: int = 1,
                 batch_size: int = 1) -> None:
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} out of range for world size {world_size}")
        self.n, self.shuffle, self.seed = n, shuffle, seed
        self.rank, self.world_size, self.batch_size = rank, world_size, batch_size
        self.epoch, self.skip = 0, 0

    def set_epoch(self, epoch: int, skip_batches: int = 0) -> None:
        """Choose the epoch's permutation and skip its first ``skip_batches`` batches."""
        self.epoch, self.skip = epoch, skip_batches * self.batch_size

    def _indices(self) -> list[int]:
        if not self.shuffle:
            return list(range(self.rank, self.n, self.world_size))
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        order = torch.randperm(self.n, generator=g).tolist()
        total = math.ceil(self.n / self.world_size) * self.world_size
        order += order[: total - self.n]
        return order[self.rank::self.world_size]

    def full_length(self) -> int:
        """Items in a whole epoch on this rank (before skipping)."""
        if self.shuffle:
            return math.ceil(self.n / self.world_size)
        return len(range(self.rank, self.n, self.world_size))

    def __iter__(self) -> Iterator[int]:
        return iter(self._indices()[self.skip:])

    def __len__(self) -> int:
        return max(0, self.full_length() - self.skip)
