"""The data the experiments train on: the built-in synthetic dataset, or CIFAR-10 when present.

Defined in the book's chapter "ReLU vs tanh"; used by every experiment chapter and by
``python -m alexnet_lib.experiments``.

Both loaders return a :class:`~alexnet_lib.experiments.loop.TensorData` (uint8 images in
memory) whose ``description`` states the scale, so every number measured on it can say where it
comes from.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch.nn import functional as F

from ..data.builtin import make_tensors
from ..data.cifar10 import load_cifar10_arrays
from .loop import TensorData

__all__ = ["builtin_data", "cifar10_data", "load_data"]


def builtin_data(n_train: int, n_test: int, size: int, seed: int = 0,
                 style: str = "shapes") -> TensorData:
    """The first ``n_train`` / ``n_test`` images of the built-in dataset's train / val splits.

    Generated offline and deterministically (the same bytes on any machine); 10 balanced
    classes of synthetic shapes, not photographs. ``style="natural"`` puts them on patches of
    photographs, with class palettes and colour casts (:data:`alexnet_lib.data.builtin.STYLES`).
    """
    train_x, train_y = make_tensors("train", n_train, size, seed, style)
    test_x, test_y = make_tensors("val", n_test, size, seed, style)
    kind = "synthetic shapes" if style == "shapes" else "synthetic shapes on photographs"
    desc = (f"built-in {kind} (10 classes), {n_train:,} training and {n_test:,} test "
            f"images at {size}x{size} px")
    return TensorData(train_x, train_y, test_x, test_y, name="builtin", description=desc)


def _resize(x: torch.Tensor, size: int) -> torch.Tensor:
    if x.shape[-1] == size:
        return x
    out = F.interpolate(x.float(), size=(size, size), mode="bilinear", align_corners=False,
                        antialias=size < x.shape[-1])
    return out.round_().clamp_(0, 255).to(torch.uint8)


def cifar10_data(path: str | Path | None = None, n_train: int | None = None,
                 n_test: int | None = None, size: int = 32) -> TensorData:
    """CIFAR-10 (50,000 train / 10,000 test images, 32x32), read by
    :func:`alexnet_lib.data.cifar10.load_cifar10_arrays`.

    Args:
        path: the folder that holds ``cifar-10-batches-py`` (or that folder); default
            ``data/cifar10``. A missing folder raises ``DatasetNotFoundError`` (a
            ``FileNotFoundError``) that says how to get the data.
        n_train, n_test: keep only the first images of each split (None: all).
        size: resize to ``size`` x ``size`` (bilinear) when not 32, e.g. 64 for the small
            AlexNets of the pooling and dropout chapters.
    """
    train_x, train_y = load_cifar10_arrays(path, "train")
    test_x, test_y = load_cifar10_arrays(path, "test")
    tx = _resize(torch.from_numpy(train_x[:n_train]).permute(0, 3, 1, 2).contiguous(), size)
    vx = _resize(torch.from_numpy(test_x[:n_test]).permute(0, 3, 1, 2).contiguous(), size)
    desc = f"CIFAR-10, {len(tx):,} training and {len(vx):,} test images at {size}x{size} px"
    return TensorData(tx, torch.from_numpy(train_y[:n_train]), vx,
                      torch.from_numpy(test_y[:n_test]), name="cifar10", description=desc)


def load_data(dataset: str, n_train: int | None, n_test: int | None, size: int,
              path: str | Path | None = None, seed: int = 0, style: str = "shapes") -> TensorData:
    """``builtin_data`` (in ``style``) or ``cifar10_data`` by name (the CLI's ``--dataset``)."""
    if dataset == "builtin":
        if n_train is None or n_test is None:
            raise ValueError("the built-in dataset needs explicit train and test sizes")
        return builtin_data(n_train, n_test, size, seed, style)
    if dataset == "cifar10":
        return cifar10_data(path, n_train, n_test, size)
    raise ValueError(f"dataset must be 'builtin' or 'cifar10', got {dataset!r}")
