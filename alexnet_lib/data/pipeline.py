"""The training command's input pipelines: where the batches come from.

Defined in the book's chapter "Training AlexNet at ImageNet scale" (the data section).

A **pipeline** is what ``alexnet_lib.train`` iterates over. The training loop knows nothing
else about data, so a faster source of batches (``--pipeline gpu``, decoding JPEGs on the GPU)
plugs in by adding a kind to :func:`make_pipeline` that keeps this contract:

* ``iter(pipeline)`` yields ``(images, labels)``, both **already on the training device**:
  ``images`` float32 ``(N, 3, S, S)``, augmented, mean-subtracted (or normalised), multiplied by
  ``config.input_scale`` and in ``channels_last`` memory format if ``config.channels_last``;
  ``labels`` int64 ``(N,)``. For ``split="train"`` ``S`` is ``config.crop_size`` (random crops,
  flips, PCA lighting); for ``split="val"`` ``S`` is ``config.image_size``, the whole stored
  image, so that the evaluation can take the centre crop or the ten crops on the device.
* ``len(pipeline)`` is the number of batches in a full epoch on this rank.
* ``pipeline.classes`` holds the class names; a label is an index into it.
* ``pipeline.set_epoch(epoch, skip_batches=0)`` fixes the epoch's order, a function of
  ``config.seed`` and ``epoch`` only (the same on every rank, each rank taking its own share),
  and skips the first ``skip_batches`` batches, which is how a run resumes in mid-epoch.
* ``pipeline.skipped`` lists ``(path, reason)`` of every image skipped so far because it could
  not be decoded: a corrupt file costs one image, not the run. Batches keep their size (the
  next good image takes the place), so all data-parallel ranks do the same number of steps.

``"cpu"`` (:class:`CPUPipeline`) is the classic one: ``DataLoader`` worker processes decode each
JPEG with PIL and apply the per-image transforms of :mod:`alexnet_lib.augment`; batches are
collated in pinned memory and copied to the GPU asynchronously (``non_blocking=True``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NamedTuple

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Subset, default_collate
from torchvision import transforms

from ..augment import train_transform
from .builtin import CLASSES, BuiltinShapes
from .errors import CorruptImageError
from .imagenet import imagenet_folder, paper_transform
from .interface import PIPELINE_KINDS, Pipeline, PipelineConfig, worker_init
from .sampling import ResumableSampler, evenly_spaced
from .stats import compute_dataset_statistics

__all__ = ["PipelineConfig", "Pipeline", "CPUPipeline", "ResumableSampler", "SkipCorrupt", "Skipped",
           "PIPELINE_KINDS", "make_pipeline", "make_dataset", "image_transform",
           "dataset_statistics"]

# --------------------------------------------------------------------------- datasets


def make_dataset(config: PipelineConfig, split: str,
                 transform: Callable[[Any], Any] | None) -> tuple[Dataset, tuple[str, ...]]:
    """The split as a map-style dataset of ``(transform(PIL image), label)``, and the class names.

    ImageNet folders are read with :func:`~alexnet_lib.data.imagenet_folder` (files decoded by
    ``load_rgb``, so a bad file raises :class:`CorruptImageError`); the layout must have been
    checked with ``validate_image_folder`` before. The built-in dataset is generated on the fly.
    """
    limit = config.train_images if split == "train" else config.val_images
    if config.dataset == "builtin":
        n = limit if limit is not None else None
        ds: Dataset = BuiltinShapes(split, size=config.image_size, num_images=n, seed=config.seed,
                                    transform=transform)
        return ds, CLASSES
    if config.dataset != "imagenet":
        raise ValueError(f"dataset must be 'imagenet' or 'builtin', got {config.dataset!r}")
    if config.root is None:
        raise ValueError("dataset='imagenet' needs config.root")
    folder = imagenet_folder(config.root, split, transform=transform, validate=False)
    if limit is None or limit >= len(folder):
        return folder, tuple(folder.classes)
    return Subset(folder, evenly_spaced(len(folder), limit)), tuple(folder.classes)


def image_transform(config: PipelineConfig, train: bool) -> Callable[[Any], Tensor]:
    """The per-image transform (PIL image in, float tensor in [0, 1] units out) of a split.

    ``augment="paper"``: training takes :func:`alexnet_lib.augment.train_transform` (shorter side
    to ``image_size``, centre square, minus the mean image, random ``crop_size`` crop and flip,
    PCA lighting); evaluation the stored image minus the mean image (the crops are taken on the
    device). ``augment="torchvision"``: torchvision's reference recipe, ``RandomResizedCrop`` and
    flip for training, resize + centre square for evaluation, each normalised per channel.
    """
    stats = config.statistics
    if stats is None:
        raise ValueError("the pipeline needs the training set's statistics (config.statistics)")
    if config.augment == "paper":
        if train:
            lighting = stats.lighting(config.lighting_std) if config.lighting_std > 0 else None
            return train_transform(config.crop_size, resize=config.image_size, mean=stats,
                                   lighting=lighting)
        return paper_transform(stats, size=config.image_size)
    if config.augment == "torchvision":
        normalize = transforms.Normalize(stats.channel_mean.tolist(), stats.channel_std.tolist())
        if train:
            return transforms.Compose([transforms.RandomResizedCrop(config.crop_size),
                                       transforms.RandomHorizontalFlip(), transforms.ToTensor(),
                                       normalize])
        return transforms.Compose([transforms.Resize(config.image_size),
                                   transforms.CenterCrop(config.image_size), transforms.ToTensor(),
                                   normalize])
    raise ValueError(f"augment must be 'paper' or 'torchvision', got {config.augment!r}")


def dataset_statistics(config: PipelineConfig, max_images: int | None = 10_000,
                       progress: bool = False) -> Any:
    """Compute the training set's mean image, channel statistics and RGB PCA (in [0, 1] units).

    Uses ``max_images`` evenly spaced training images at ``config.image_size`` (shorter side
    resized, centre square: the paper's stored images); 10,000 ImageNet images pin the mean to
    well under one grey level. A corrupt image is replaced by its next good neighbour.
    """
    dataset, _ = make_dataset(config, "train", paper_transform(None, size=config.image_size))
    return compute_dataset_statistics(_NextIfCorrupt(dataset), num_workers=config.workers,
                                      max_images=max_images, progress=progress)


class _NextIfCorrupt(Dataset):
    """Item ``i``, or the first decodable item after it (for statistics, where one image more
    or less of 10,000 changes nothing but a missing one would break the batch)."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> Any:
        n = len(self)
        for k in range(n):
            try:
                return self.dataset[(index + k) % n]
            except CorruptImageError:
                continue
        raise CorruptImageError("<every image>", "no image of the training split can be decoded")


# --------------------------------------------------------------------------- corrupt images


class Skipped(NamedTuple):
    """Stands in for an image that could not be decoded (picklable, so it crosses workers)."""

    path: str
    reason: str


class SkipCorrupt(Dataset):
    """Item ``i`` as ``(image, label, skipped)``: an undecodable file is skipped, recorded in
    ``skipped`` (a list of :class:`Skipped`), and the next decodable item takes its place.

    Filling the place keeps every batch at its size, so that all data-parallel processes do the
    same number of steps (a process with one step fewer would wait for the others forever). One
    image of 1.28 million seen twice in an epoch changes nothing.
    """

    def __init__(self, dataset: Dataset, max_tries: int = 100) -> None:
        self.dataset, self.max_tries = dataset, max_tries

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> tuple[Any, Any, list[Skipped]]:
        skipped: list[Skipped] = []
        n = len(self)
        for k in range(min(n, self.max_tries)):
            try:
                image, label = self.dataset[(index + k) % n]
                return image, label, skipped
            except CorruptImageError as err:
                skipped.append(Skipped(str(err.path), err.reason))
        raise CorruptImageError(skipped[-1].path, f"{len(skipped)} files in a row cannot be decoded "
                                f"(from item {index} on); is the dataset damaged? {skipped[-1].reason}")


def _collate_skipping(batch: Sequence[Any]) -> tuple[Tensor, Tensor, list[Skipped]]:
    """Collate ``(image, label, skipped)`` items: the batch, and every skipped file separately."""
    images, labels = default_collate([(image, label) for image, label, _ in batch])
    return images, labels, [s for _, _, skipped in batch for s in skipped]


# --------------------------------------------------------------------------- the CPU pipeline


class CPUPipeline:
    """Batches decoded and augmented by ``DataLoader`` workers on the CPU, then moved to ``device``.

    Args:
        dataset: a map-style dataset of ``(image tensor, label)`` (see :func:`make_dataset`).
        config: the :class:`PipelineConfig` (batch size, workers, seed, rank, scale, layout).
        train: shuffle per epoch (training) or keep the order (evaluation).
        device: where the batches go.
        classes: the class names, kept for the caller.
    """

    def __init__(self, dataset: Dataset, config: PipelineConfig, train: bool,
                 device: torch.device, classes: Sequence[str] = ()) -> None:
        self.config, self.device, self.classes = config, device, tuple(classes)
        self.skipped: list[tuple[str, str]] = []
        self.sampler = ResumableSampler(dataset, shuffle=train, seed=config.seed,  # type: ignore[arg-type]
                                        rank=config.rank, world_size=config.world_size,
                                        batch_size=config.batch_size)
        workers = config.workers
        self.loader = DataLoader(
            SkipCorrupt(dataset), batch_size=config.batch_size, sampler=self.sampler,
            num_workers=workers, collate_fn=_collate_skipping,
            pin_memory=device.type == "cuda", worker_init_fn=worker_init if workers else None,
            # Workers stay alive between epochs: re-forking 8 processes costs seconds each epoch.
            persistent_workers=workers > 0, prefetch_factor=4 if workers else None)

    def set_epoch(self, epoch: int, skip_batches: int = 0) -> None:
        self.sampler.set_epoch(epoch, skip_batches)

    def __len__(self) -> int:
        return math.ceil(self.sampler.num_samples / self.config.batch_size)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        scale = self.config.input_scale
        for images, labels, skipped in self.loader:
            self.skipped += [(s.path, s.reason) for s in skipped]
            images = images.to(self.device, non_blocking=True)
            labels = labels.to(self.device, non_blocking=True)
            if scale != 1.0:
                images = images.mul_(scale)  # our own copy (or our own CPU batch): safe in place
            if self.config.channels_last:
                images = images.contiguous(memory_format=torch.channels_last)
            yield images, labels


def make_pipeline(kind: str, split: str, config: PipelineConfig,
                  device: torch.device | str) -> Pipeline:
    """Build the pipeline ``kind`` (one of :data:`PIPELINE_KINDS`) for ``split`` (train or val).

    To add a kind: write a class that keeps the contract of the module docstring, add its name
    to :data:`PIPELINE_KINDS` and a branch here; ``--pipeline`` then offers it.
    """
    device = torch.device(device)
    if split not in ("train", "val"):
        raise ValueError(f"split must be 'train' or 'val', got {split!r}")
    if kind == "cpu":
        train = split == "train"
        dataset, classes = make_dataset(config, split, image_transform(config, train))
        return CPUPipeline(dataset, config, train, device, classes)
    if kind == "gpu":  # JPEGs decoded (nvJPEG) and augmented on the device: gpu_pipeline.py
        from .gpu_pipeline import make_gpu_pipeline

        return make_gpu_pipeline(split, config, device)
    raise ValueError(f"unknown pipeline kind {kind!r}; choose from {', '.join(PIPELINE_KINDS)}")
