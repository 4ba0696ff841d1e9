"""The training set's statistics: the mean image (Section 2) and the RGB PCA (Section 4.1),
computed in one streaming pass and saved in one small ``.npz`` file.

Defined in the book's chapters "Training AlexNet at ImageNet scale" (the mean image) and "Data and
PCA colour augmentation" (the RGB PCA). All values are in the units of
``torchvision.transforms.ToTensor``, i.e. [0, 1]; the paper's 0..255 units are 255 times larger.
:func:`compute_dataset_statistics` is the one pass; :func:`compute_mean_image` keeps only its
mean image. The RGB sums come from :class:`alexnet_lib.augment.RGBMoments`, the same ones
:func:`alexnet_lib.augment.rgb_moments` uses.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ..augment import Magnitude, PCALighting, RGBMoments, eig_descending
from .errors import DatasetError, DatasetNotFoundError
from .sampling import evenly_spaced

__all__ = ["MeanImage", "DatasetStatistics", "load_mean", "compute_mean_image",
           "compute_dataset_statistics"]


@dataclass
class MeanImage:
    """The training set's mean image and per-channel statistics, in [0, 1] units.

    Attributes:
        image: (3, H, W) float32, the per-pixel mean (the paper's "mean activity").
        channel_mean: (3,) float32, the mean of each channel over all pixels.
        channel_std: (3,) float32, the standard deviation of each channel over all pixels.
        count: how many images went into it.
        meta: free-form strings saved with it, e.g. ``{"root": ..., "transform": ...}``.
    """

    image: np.ndarray
    channel_mean: np.ndarray
    channel_std: np.ndarray
    count: int
    meta: dict[str, str] = field(default_factory=dict)

    def _arrays(self) -> dict[str, np.ndarray]:
        """What :meth:`save` writes (subclasses add their own arrays)."""
        return dict(
            image=self.image.astype(np.float32),
            channel_mean=self.channel_mean.astype(np.float32),
            channel_std=self.channel_std.astype(np.float32),
            count=np.int64(self.count),
            meta_keys=np.array(list(self.meta), dtype=str),
            meta_values=np.array(list(self.meta.values()), dtype=str),
        )

    def save(self, path: str | Path) -> Path:
        """Write a compressed ``.npz`` (about 0.7 MB for 3 x 256 x 256)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as f:  # a file object stops NumPy from appending '.npz'
            np.savez_compressed(f, **self._arrays())
        return path

    @classmethod
    def load(cls, path: str | Path) -> MeanImage:
        """Read a file written by :meth:`save`."""
        path = Path(path)
        if not path.is_file():
            raise DatasetNotFoundError(
                f"mean-image file not found: {path}. Compute it once with "
                "alexnet_lib.data.compute_mean_image(dataset).save(path)."
            )
        with np.load(path, allow_pickle=False) as z:
            return cls(
                image=z["image"],
                channel_mean=z["channel_mean"],
                channel_std=z["channel_std"],
                count=int(z["count"]),
                meta=dict(zip(z["meta_keys"].tolist(), z["meta_values"].tolist(), strict=True)),
            )


def load_mean(path: str | Path) -> MeanImage:
    """Read a mean image saved with :meth:`MeanImage.save`."""
    return MeanImage.load(path)


@dataclass
class DatasetStatistics(MeanImage):
    """The training set's statistics: a :class:`~alexnet_lib.data.MeanImage` plus the RGB PCA.

    Defined in the book's chapter "Data and PCA colour augmentation". All in [0, 1] units, like
    ``MeanImage``. Saved to one ``.npz`` with :meth:`save` (a file that
    ``MeanImage.load`` also reads, ignoring the extra arrays), so "computed once and saved with
    the dataset statistics" holds.

    Attributes (beyond ``MeanImage``'s):
        rgb_eigenvalues: (3,) float64, descending, eigenvalues of the 3x3 RGB covariance.
        rgb_eigenvectors: (3, 3) float64, the eigenvectors as columns.
    """

    rgb_eigenvalues: np.ndarray | None = None
    rgb_eigenvectors: np.ndarray | None = None

    def lighting(self, std: float = 0.1, magnitude: Magnitude = "eigenvalue") -> PCALighting:
        """A :class:`PCALighting` for images in [0, 1] (the units of these statistics)."""
        if self.rgb_eigenvalues is None or self.rgb_eigenvectors is None:
            raise ValueError("these statistics have no RGB PCA; use compute_dataset_statistics")
        return PCALighting(self.rgb_eigenvalues, self.rgb_eigenvectors, std, magnitude)

    def _arrays(self) -> dict[str, np.ndarray]:
        """The mean image's arrays plus the RGB PCA (when known): one ``.npz`` with both."""
        arrays = super()._arrays()
        if self.rgb_eigenvalues is not None and self.rgb_eigenvectors is not None:
            arrays.update(rgb_eigenvalues=np.asarray(self.rgb_eigenvalues, dtype=np.float64),
                          rgb_eigenvectors=np.asarray(self.rgb_eigenvectors, dtype=np.float64))
        return arrays

    @classmethod
    def load(cls, path: str | Path) -> DatasetStatistics:
        """Read a file written by :meth:`save` (or a plain ``MeanImage`` file: no PCA then)."""
        path = Path(path)
        if not path.is_file():
            raise DatasetNotFoundError(
                f"statistics file not found: {path}. Compute it once with "
                "alexnet_lib.data.compute_dataset_statistics(dataset).save(path).")
        base = MeanImage.load(path)
        with np.load(path, allow_pickle=False) as z:
            values = z["rgb_eigenvalues"] if "rgb_eigenvalues" in z.files else None
            vectors = z["rgb_eigenvectors"] if "rgb_eigenvectors" in z.files else None
        return cls(base.image, base.channel_mean, base.channel_std, base.count, base.meta,
                   values, vectors)

    def to_state(self) -> dict[str, Tensor | int]:
        """As tensors and plain values (for a checkpoint that loads with ``weights_only=True``)."""
        return {"image": torch.from_numpy(np.asarray(self.image, dtype=np.float32)),
                "channel_mean": torch.from_numpy(np.asarray(self.channel_mean, dtype=np.float32)),
                "channel_std": torch.from_numpy(np.asarray(self.channel_std, dtype=np.float32)),
                "count": int(self.count),
                "rgb_eigenvalues": torch.from_numpy(np.asarray(self.rgb_eigenvalues, dtype=np.float64)),
                "rgb_eigenvectors": torch.from_numpy(np.asarray(self.rgb_eigenvectors,
                                                                dtype=np.float64))}

    @classmethod
    def from_state(cls, state: dict) -> DatasetStatistics:
        """The inverse of :meth:`to_state`."""
        return cls(image=state["image"].numpy(), channel_mean=state["channel_mean"].numpy(),
                   channel_std=state["channel_std"].numpy(), count=int(state["count"]),
                   rgb_eigenvalues=state["rgb_eigenvalues"].numpy(),
                   rgb_eigenvectors=state["rgb_eigenvectors"].numpy())


def _batches(dataset: torch.utils.data.Dataset | Tensor, batch_size: int, num_workers: int,
             max_images: int | None) -> Iterable[Tensor]:
    """(N, 3, H, W) float64 batches in [0, 1] of ``max_images`` evenly spaced items."""
    if isinstance(dataset, Tensor):
        scale = 255.0 if dataset.dtype == torch.uint8 else 1.0
        idx = evenly_spaced(len(dataset), max_images)
        return (dataset[idx[i:i + batch_size]].to(torch.float64) / scale
                for i in range(0, len(idx), batch_size))
    n = len(dataset)  # type: ignore[arg-type]
    if max_images is not None and max_images < n:
        dataset = torch.utils.data.Subset(dataset, evenly_spaced(n, max_images))
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, num_workers=num_workers)
    return ((b[0] if isinstance(b, (list, tuple)) else b) for b in loader)


def _one_pass(batches: Iterable[Tensor], caller: str, progress: bool) -> tuple[Tensor, RGBMoments, int]:
    """The per-pixel sum (float64), the RGB moments and the image count of ``batches``."""
    if progress:
        from tqdm.auto import tqdm

        batches = tqdm(batches, desc="dataset statistics", unit="batch")
    total = None
    moments = RGBMoments()
    count = 0
    for x in batches:
        if not isinstance(x, Tensor) or x.dim() != 4 or x.shape[1] != 3:
            raise DatasetError(f"{caller} needs (3, H, W) tensors; give the dataset a transform "
                               "that ends in ToTensor() (e.g. paper_transform())")
        x = x.to(torch.float64)
        if total is None:
            total = torch.zeros(x.shape[1:], dtype=torch.float64)
        elif x.shape[1:] != total.shape:
            raise DatasetError(f"images differ in size: {tuple(x.shape[1:])} vs {tuple(total.shape)}")
        total += x.sum(0)
        moments.add(x)
        count += x.shape[0]
    if total is None:
        raise DatasetError("cannot compute statistics of an empty dataset")
    return total, moments, count


def compute_dataset_statistics(
    dataset: torch.utils.data.Dataset | Tensor,
    batch_size: int = 64,
    num_workers: int = 0,
    max_images: int | None = None,
    progress: bool = False,
) -> DatasetStatistics:
    """One pass over the training set: the mean image, channel statistics and the RGB PCA.

    Defined in the book's chapter "Data and PCA colour augmentation". ``dataset`` yields
    equally sized (3, H, W) tensors in [0, 1] (e.g. ``imagenet_folder(root, "train")``, whose
    default transform is the paper's 256x256 preprocessing), or is an (N, 3, H, W) tensor
    (uint8 tensors are scaled to [0, 1]). ``max_images`` takes that many evenly spaced images.
    Sums are float64.
    """
    return _statistics(_batches(dataset, batch_size, num_workers, max_images),
                       "compute_dataset_statistics", progress)


def _statistics(batches: Iterable[Tensor], caller: str, progress: bool) -> DatasetStatistics:
    total, moments, count = _one_pass(batches, caller, progress)
    channel_mean, cov = moments.mean_and_covariance()
    values, vectors = eig_descending(cov)
    return DatasetStatistics(
        image=(total / count).float().numpy(),
        channel_mean=channel_mean.float().numpy(),
        channel_std=torch.diagonal(cov).clamp_min(0).sqrt().float().numpy(),
        count=count,
        rgb_eigenvalues=values.numpy(),
        rgb_eigenvectors=vectors.numpy(),
    )


def compute_mean_image(
    dataset: torch.utils.data.Dataset,
    batch_size: int = 64,
    num_workers: int = 0,
    max_images: int | None = None,
    progress: bool = False,
) -> MeanImage:
    """Average a dataset of equally sized (3, H, W) tensors: the paper's mean image.

    Use the training split with the paper's transform without mean subtraction, e.g.
    ``compute_mean_image(imagenet_folder(root, "train"))``. Sums are kept in float64, so
    the result does not depend on the batch size beyond float32 rounding of the output. The
    pass of :func:`compute_dataset_statistics`, without its RGB PCA.

    Args:
        dataset: yields ``(tensor, label)`` (or bare tensors) of one shape, in [0, 1].
        batch_size, num_workers: passed to the ``DataLoader``.
        max_images: use this many images, evenly spaced over the dataset (a quick estimate:
            10,000 ImageNet images give the mean to well under 1/255).
        progress: show a tqdm progress bar.
    """
    if len(dataset) == 0:  # type: ignore[arg-type]
        raise DatasetError("cannot compute a mean over an empty dataset")
    stats = _statistics(_batches(dataset, batch_size, num_workers, max_images),
                        "compute_mean_image", progress)
    return MeanImage(stats.image, stats.channel_mean, stats.channel_std, stats.count)
