"""The run's data: the dataset folder, the training set's statistics and the two pipelines.

Defined in the book's chapter "Training AlexNet at ImageNet scale" (the data section); used by
:class:`alexnet_lib.train.Trainer`. The statistics (mean image and RGB PCA) come from the
checkpoint of a resumed run, a ``--stats`` file, ``DATA/stats_<size>.npz``, or are computed once
by rank 0 and saved as ``OUT/stats.npz``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from ..data.errors import DatasetError
from ..data.imagenet import validate_image_folder
from ..data.paths import default_data_root
from ..data.pipeline import Pipeline, PipelineConfig, dataset_statistics, make_pipeline
from ..data.stats import DatasetStatistics
from .dist import DistInfo, barrier

__all__ = ["dataset_root", "run_statistics", "make_pipelines"]


def dataset_root(cfg: dict[str, Any]) -> Path | None:
    """The ImageNet-style folder of the run, its layout checked (None for the built-in data)."""
    if cfg["dataset"] != "imagenet":
        return None
    root = Path(cfg["data"]) if cfg["data"] else default_data_root() / "imagenet"
    validate_image_folder(root, ("train", "val") if cfg["eval"] else "train")
    return root


def run_statistics(cfg: dict[str, Any], root: Path | None, out: Path, info: DistInfo,
                   checkpoint: dict[str, Any] | None, log: Callable[[str], None]) -> DatasetStatistics:
    """The mean image and RGB PCA: from the checkpoint, a file, or computed (rank 0) once."""
    if checkpoint is not None:
        return DatasetStatistics.from_state(checkpoint["statistics"])
    if cfg["stats"]:
        return DatasetStatistics.load(cfg["stats"])
    if root is not None:
        cached = root / f"stats_{cfg['image_size']}.npz"
        if cached.is_file():
            return DatasetStatistics.load(cached)
    target = out / "stats.npz"
    if info.is_main:
        limit = cfg["stats_images"]
        if cfg["train_images"] is not None:
            limit = min(limit, cfg["train_images"])
        config = PipelineConfig(dataset=cfg["dataset"], root=root, image_size=cfg["image_size"],
                                workers=cfg["workers"], train_images=cfg["train_images"],
                                seed=cfg["seed"])
        stats = dataset_statistics(config, max_images=limit, progress=cfg["progress"])
        out.mkdir(parents=True, exist_ok=True)
        stats.save(target)
        log(f"computed the training set's mean image and RGB PCA from {stats.count:,} images "
            f"(once per run; saved to {target}, reusable with --stats)")
    barrier(info)
    return DatasetStatistics.load(target)


def make_pipelines(cfg: dict[str, Any], info: DistInfo, root: Path | None, stats: DatasetStatistics,
                   device: torch.device) -> tuple[Pipeline, Pipeline | None]:
    """The training pipeline and (unless ``--no-eval``) the validation pipeline, this rank's
    share of every batch, on ``device``."""
    pipe_cfg = PipelineConfig(
        dataset=cfg["dataset"], root=root, image_size=cfg["image_size"],
        crop_size=cfg["crop_size"], batch_size=cfg["batch_size"] // info.world_size,
        workers=cfg["workers"], augment=cfg["augment"], statistics=stats,
        lighting_std=cfg["lighting_std"], input_scale=cfg["input_scale"],
        train_images=cfg["train_images"], val_images=cfg["val_images"], seed=cfg["seed"],
        rank=info.rank, world_size=info.world_size, channels_last=cfg["channels_last"])
    train = make_pipeline(cfg["pipeline"], "train", pipe_cfg, device)
    val = make_pipeline(cfg["pipeline"], "val", pipe_cfg, device) if cfg["eval"] else None
    if not list(getattr(train, "classes", ())):
        raise DatasetError("the training pipeline reports no classes")
    if len(train) == 0:
        raise DatasetError("the training split has no images")
    return train, val
