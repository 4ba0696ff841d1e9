"""The contract of the training command's input pipelines, and the settings they share.

Defined in the book's chapter "Training AlexNet at ImageNet scale" (the data section). The
pipeline kinds (:mod:`alexnet_lib.data.pipeline`'s CPU one, :mod:`alexnet_lib.data.gpu_pipeline`)
import this module; it imports neither.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from torch import Tensor

__all__ = ["PIPELINE_KINDS", "PipelineConfig", "Pipeline", "worker_init"]

PIPELINE_KINDS: tuple[str, ...] = ("cpu", "gpu")
"""The kinds :func:`make_pipeline` knows (``--pipeline`` choices)."""


@dataclass
class PipelineConfig:
    """Everything a pipeline needs to know, whatever its kind.

    Attributes:
        dataset: ``"imagenet"`` (an ImageNet-style folder at ``root``) or ``"builtin"`` (the
            library's generated shapes, made on the fly at ``image_size``).
        root: the folder with ``train/<class>/`` and ``val/<class>/`` (``dataset="imagenet"``).
        image_size: side of the stored (or resized and centre-cropped) square image: 256.
        crop_size: side of the training crops and test patches: 224.
        batch_size: images per batch **on this rank**.
        workers: decoding processes (0 decodes in the training process).
        augment: ``"paper"`` (mean image subtracted, random crop + flip, PCA lighting) or
            ``"torchvision"`` (RandomResizedCrop + flip, per-channel normalisation).
        statistics: the training set's :class:`~alexnet_lib.data.DatasetStatistics`
            (mean image, channel mean/std and RGB PCA) in [0, 1] units.
        lighting_std: standard deviation of the PCA lighting's ``alpha`` (0.1; 0 disables).
        input_scale: the pipeline's output is multiplied by this: 255 gives the paper's
            0..255 pixel units, 1 keeps [0, 1] units.
        train_images, val_images: use only this many images of a split (evenly spaced, so all
            classes stay), or for the built-in dataset, generate this many; None for all.
        seed: the shuffling seed (and the built-in dataset's seed).
        rank, world_size: this process's share of every epoch under data parallelism.
        channels_last: return images in ``torch.channels_last`` memory format.
    """

    dataset: str = "imagenet"
    root: Path | None = None
    image_size: int = 256
    crop_size: int = 224
    batch_size: int = 128
    workers: int = 4
    augment: str = "paper"
    statistics: Any = None
    lighting_std: float = 0.1
    input_scale: float = 1.0
    train_images: int | None = None
    val_images: int | None = None
    seed: int = 0
    rank: int = 0
    world_size: int = 1
    channels_last: bool = False
    extra: dict[str, Any] = field(default_factory=dict)  # options of other pipeline kinds


class Pipeline(Protocol):
    """The contract of every pipeline kind (see the module docstring)."""

    skipped: list[tuple[str, str]]

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]: ...

    def __len__(self) -> int: ...

    def set_epoch(self, epoch: int, skip_batches: int = 0) -> None: ...


def worker_init(_worker_id: int) -> None:
    """A ``DataLoader`` worker leaves SIGINT and SIGTERM to the training process."""
    # Ctrl-C and SIGTERM are for the training process, which saves a checkpoint and then shuts
    # the workers down; a worker dying first would make that last fetch fail instead.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
