"""Data augmentation as in the paper's Section 4.1: random crops and flips, 10-patch testing and
PCA colour augmentation ("fancy PCA").

Defined in the book's chapter "Data and PCA colour augmentation"; used by the training command
(``alexnet_lib.train``).

The paper's two forms of augmentation:

1. **Translations and reflections.** Train on random 224x224 patches of the 256x256 images, and
   their horizontal reflections: 32 x 32 positions x 2 = 2048 variants of every image ("by a
   factor of 2048"). At test time, average the softmax of ten patches: the four corners and the
   centre, and their reflections. Batched, device-agnostic versions: :func:`random_crop_flip`,
   :func:`center_crop`, :func:`ten_crop`, :func:`predict_ten_crop`.
2. **Altering RGB intensities.** Perform PCA on the set of RGB pixel values of the training set
   (:func:`rgb_covariance_eig`), then add to every pixel of an image
   ``[p1 p2 p3] [a1 l1, a2 l2, a3 l3]^T``, with ``p_i, l_i`` the eigenvectors and eigenvalues of
   the 3x3 RGB covariance and ``a_i ~ N(0, 0.1)`` drawn once per image each time it is used
   (:class:`PCALighting`).

Units matter for 2. The eigenvalues ``l_i`` are *variances*, so the shift ``a_i l_i`` scales with
the square of the pixel units while the pixels scale linearly: the printed formula gives a
different augmentation for pixels in 0..255 than for pixels in [0, 1]. With ImageNet-like
statistics the first eigenvalue is about 0.2 in [0, 1] units (a shift of ~0.02, i.e. ~5 grey
levels: the convention of fb.resnet.torch and most re-implementations) but about 14,000 in 0..255
units (a shift of ~1,400 grey levels, which would wash every image out). The later public code of
the paper's first author (cuda-convnet2's ``convdata.py``) instead multiplies ``a_i`` by the
*standard deviations* ``sqrt(l_i)`` of pixels in 0..255 (~12 grey levels).
:class:`PCALighting` implements both (``magnitude="eigenvalue"``, the printed formula, default;
``magnitude="stdev"``, the code); this library keeps its images in [0, 1], so the printed formula
with [0, 1]-unit eigenvalues is the default everywhere. The chapter shows all three side by side.

Per-image pipelines for ``DataLoader`` workers (PIL images in, tensors out) are
:func:`train_transform` and :func:`eval_transform`; they call the very same batch functions on
one image, so the CPU and GPU paths cannot drift apart. The colour statistics are computed once,
with the mean image, by :func:`alexnet_lib.data.compute_dataset_statistics` (data, not
augmentation: :mod:`alexnet_lib.data.stats` imports this module, never the reverse).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any, Literal

import numpy as np
import torch
from PIL import Image
from torch import Tensor, nn
from torchvision import transforms
from torchvision.transforms.v2 import functional as TF

PAPER_SIZE = 256  # the paper's stored images (alexnet_lib.data.PAPER_SIZE): 224 crops of 256

__all__ = [
    "RGBMoments",
    "rgb_moments",
    "eig_descending",
    "rgb_covariance_eig",
    "PCALighting",
    "random_crop_flip",
    "crop_flip",
    "center_crop",
    "ten_crop",
    "TEN_CROP_NAMES",
    "predict_ten_crop",
    "predict_patches",
    "RandomCropFlip",
    "CenterCrop",
    "TenCrop",
    "train_transform",
    "eval_transform",
    "SubtractMean",
    "translations",
    "to_pil",
    "shift_in_grey_levels",
]

Magnitude = Literal["eigenvalue", "stdev"]

# --------------------------------------------------------------------------- colour statistics


def _batches(images: Tensor | Iterable[Any]) -> Iterable[Tensor]:
    """Yield (N, 3, H, W) tensors from a tensor, or from an iterable of tensors or
    ``(tensor, label)`` pairs (a ``DataLoader``)."""
    if isinstance(images, Tensor):
        yield images if images.dim() == 4 else images[None]
        return
    for batch in images:
        x = batch[0] if isinstance(batch, (list, tuple)) else batch
        x = torch.as_tensor(x)
        yield x if x.dim() == 4 else x[None]


class RGBMoments:
    """Streaming sums of the RGB values of all pixels: their sum, cross products and count.

    Defined in the book's chapter "Data and PCA colour augmentation"; the one accumulator of
    :func:`rgb_moments` and of the training set's statistics
    (:func:`alexnet_lib.data.compute_dataset_statistics`). Float64 throughout (the sum of squares
    of 10^11 pixel values in 0..255 is exact to ~1e-5 relative).
    """

    def __init__(self) -> None:
        self.total = torch.zeros(3, dtype=torch.float64)
        self.cross = torch.zeros(3, 3, dtype=torch.float64)
        self.count = 0

    def add(self, x: Tensor) -> None:
        """Add the pixels of an (N, 3, H, W) batch (any device; the sums stay on the CPU)."""
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"expected (N, 3, H, W) RGB images, got shape {tuple(x.shape)}")
        pixels = x.detach().to(torch.float64).permute(1, 0, 2, 3).reshape(3, -1)
        self.total += pixels.sum(1).cpu()
        self.cross += (pixels @ pixels.T).cpu()
        self.count += pixels.shape[1]

    def mean_and_covariance(self) -> tuple[Tensor, Tensor]:
        """The mean (3,) and the population covariance (3, 3), exactly symmetric."""
        if self.count == 0:
            raise ValueError("no pixels: the images are empty")
        mean = self.total / self.count
        cov = self.cross / self.count - torch.outer(mean, mean)
        return mean, (cov + cov.T) / 2


def rgb_moments(images: Tensor | Iterable[Any]) -> tuple[Tensor, Tensor, int]:
    """Mean (3,), covariance (3, 3) and number of pixels of the RGB values of all pixels.

    Defined in the book's chapter "Data and PCA colour augmentation". ``images`` is an
    (N, 3, H, W) tensor or an iterable of such batches (or of ``(batch, labels)`` pairs), so a
    dataset of any size streams through (:class:`RGBMoments`). Values are in the units of the
    input. The covariance is the population covariance (divided by the pixel count).
    """
    moments = RGBMoments()
    for x in _batches(images):
        moments.add(x)
    mean, cov = moments.mean_and_covariance()
    return mean, cov, moments.count


def eig_descending(cov: Tensor) -> tuple[Tensor, Tensor]:
    """Eigen-decomposition of a symmetric 3x3 matrix, eigenvalues descending, each eigenvector
    signed so that its largest-magnitude component is positive (a deterministic choice)."""
    values, vectors = torch.linalg.eigh(cov)
    order = torch.argsort(values, descending=True)
    values, vectors = values[order], vectors[:, order]
    pivot = vectors.abs().argmax(0)
    signs = torch.sign(vectors[pivot, torch.arange(vectors.shape[1])])
    return values.clamp_min(0.0), vectors * torch.where(signs == 0, 1.0, signs).to(vectors.dtype)


def rgb_covariance_eig(images: Tensor | Iterable[Any]) -> tuple[Tensor, Tensor]:
    """Eigenvalues (3,), descending, and eigenvectors (3, 3), as columns, of the RGB covariance.

    Defined in the book's chapter "Data and PCA colour augmentation". The paper: "we perform PCA
    on the set of RGB pixel values throughout the ImageNet training set". ``images`` is an
    (N, 3, H, W) uint8 or float tensor, or an iterable of such batches (streaming, float64
    accumulation; see :func:`rgb_moments`). Values are in the units of the input: uint8 images
    give eigenvalues in (0..255)^2, images in [0, 1] give 255^2 times smaller ones. Returned as
    float64; ``V @ diag(l) @ V.T`` reproduces the covariance.
    """
    _, cov, _ = rgb_moments(images)
    return eig_descending(cov)


class PCALighting(nn.Module):
    """The paper's PCA colour augmentation: add ``V (alpha * l)`` to every pixel of an image.

    Defined in the book's chapter "Data and PCA colour augmentation".

    Args:
        eigenvalues: (3,) eigenvalues ``l`` of the training set's RGB covariance, in the units
            of the images this will be applied to (see the module docstring on units).
        eigenvectors: (3, 3) eigenvectors ``V`` as columns.
        std: standard deviation of ``alpha ~ N(0, std)`` (the paper: 0.1); 0 disables.
        magnitude: ``"eigenvalue"``: shift ``V (alpha * l)``, the paper's printed formula;
            ``"stdev"``: shift ``V (alpha * sqrt(l))``, cuda-convnet2's code.

    ``forward(x, generator=None)`` takes a float (3, H, W) image or (N, 3, H, W) batch on any
    device and returns ``x`` plus one RGB shift per image (the same for every pixel of the image),
    drawn independently for each image and each call. ``alpha`` is drawn on ``generator``'s
    device (the CPU by default) and moved to ``x``'s, so a CPU generator makes GPU runs
    reproducible too. The module has no parameters; it applies in eval mode as well (it is meant
    to sit in a training pipeline only).
    """

    def __init__(self, eigenvalues: Tensor | np.ndarray, eigenvectors: Tensor | np.ndarray,
                 std: float = 0.1, magnitude: Magnitude = "eigenvalue") -> None:
        super().__init__()
        values = torch.as_tensor(np.asarray(eigenvalues), dtype=torch.float64).reshape(-1)
        vectors = torch.as_tensor(np.asarray(eigenvectors), dtype=torch.float64)
        if values.shape != (3,) or vectors.shape != (3, 3):
            raise ValueError(f"need 3 eigenvalues and a 3x3 eigenvector matrix, got "
                             f"{tuple(values.shape)} and {tuple(vectors.shape)}")
        if (values < 0).any():
            raise ValueError(f"eigenvalues of a covariance are >= 0, got {values.tolist()}")
        if std < 0:
            raise ValueError(f"std must be >= 0, got {std}")
        if magnitude not in ("eigenvalue", "stdev"):
            raise ValueError(f"magnitude must be 'eigenvalue' or 'stdev', got {magnitude!r}")
        self.std = float(std)
        self.magnitude = magnitude
        self.register_buffer("eigenvalues", values)
        self.register_buffer("eigenvectors", vectors)

    @property
    def scales(self) -> Tensor:
        """The per-component factor multiplied by ``alpha``: ``l`` or ``sqrt(l)`` (float64)."""
        return self.eigenvalues if self.magnitude == "eigenvalue" else self.eigenvalues.sqrt()

    def shift_covariance(self) -> Tensor:
        """The covariance of the RGB shift: ``std^2 V diag(scales^2) V^T`` (float64)."""
        v = self.eigenvectors
        return self.std**2 * v @ torch.diag(self.scales**2) @ v.T

    def sample_shift(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """Draw ``n`` RGB shifts, (n, 3) float64 on the generator's device (the CPU by default)."""
        device = generator.device if generator is not None else torch.device("cpu")
        alpha = torch.randn(n, 3, generator=generator, device=device, dtype=torch.float64)
        alpha *= self.std
        return (alpha * self.scales.to(device)) @ self.eigenvectors.to(device).T

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        if not x.is_floating_point():
            raise TypeError(f"PCALighting needs float images (convert uint8 first), got {x.dtype}")
        if x.dim() not in (3, 4) or x.shape[-3] != 3:
            raise ValueError(f"expected (3, H, W) or (N, 3, H, W), got {tuple(x.shape)}")
        batch = x if x.dim() == 4 else x[None]
        shift = self.sample_shift(batch.shape[0], generator).to(device=x.device, dtype=x.dtype)
        out = batch + shift[:, :, None, None]
        return out if x.dim() == 4 else out[0]

    def extra_repr(self) -> str:
        values = ", ".join(f"{v:.4g}" for v in self.eigenvalues.tolist())
        return f"eigenvalues=({values}), std={self.std}, magnitude={self.magnitude!r}"


# --------------------------------------------------------------------------- crops and flips


def _check_batch(x: Tensor, size: int) -> None:
    if x.dim() != 4:
        raise ValueError(f"expected an (N, C, H, W) batch, got shape {tuple(x.shape)}")
    if not 1 <= size <= min(x.shape[-2:]):
        raise ValueError(f"crop size {size} does not fit images of {tuple(x.shape[-2:])}")


def crop_flip(x: Tensor, top: Tensor, left: Tensor, flip: Tensor, size: int) -> Tensor:
    """Crop ``size`` x ``size`` at per-image offsets and mirror the images where ``flip``.

    Defined in the book's chapter "Data and PCA colour augmentation". ``x`` is (N, C, H, W);
    ``top``, ``left`` (int) and ``flip`` (bool) have N entries each. One gather, no loop over
    images, on ``x``'s device.
    """
    _check_batch(x, size)
    n, _, h, w = x.shape
    if top.shape != (n,) or left.shape != (n,) or flip.shape != (n,):
        raise ValueError("top, left and flip need one entry per image")
    # Checked where the offsets were drawn (the CPU in the pipelines), before they move to the
    # images' device: checking on a GPU would wait for everything queued on it.
    if (top < 0).any() or (left < 0).any() or (top > h - size).any() or (left > w - size).any():
        raise ValueError(f"crop offsets out of range for {size}x{size} crops of {h}x{w} images")
    top, left = top.to(x.device, torch.long), left.to(x.device, torch.long)
    flip = flip.to(x.device, torch.bool)
    c = x.shape[1]
    step = torch.arange(size, device=x.device)
    rows = top[:, None] + step  # (N, size)
    cols = left[:, None] + torch.where(flip[:, None], size - 1 - step, step)  # mirrored columns
    # One gather over the flattened pixels: index (N, C, size*size) into (N, C, H*W).
    index = (rows[:, :, None] * w + cols[:, None, :]).reshape(n, 1, size * size)
    flat = x.reshape(n, c, h * w)
    return torch.gather(flat, 2, index.expand(n, c, size * size)).reshape(n, c, size, size)


def random_crop_flip(x: Tensor, size: int, generator: torch.Generator | None = None,
                     flip: bool = True) -> Tensor:
    """Random ``size`` x ``size`` crops and horizontal flips (probability 1/2), per image.

    Defined in the book's chapter "Data and PCA colour augmentation". ``x`` is an (N, C, H, W)
    batch on any device; each image gets its own uniformly drawn position (any of the
    ``(H - size + 1) * (W - size + 1)`` positions) and its own coin. The random numbers come
    from ``generator`` (drawn on its device, the CPU by default), so a seeded generator gives the
    same crops on any device. ``flip=False`` crops only.
    """
    _check_batch(x, size)
    n, _, h, w = x.shape
    device = generator.device if generator is not None else torch.device("cpu")
    top = torch.randint(0, h - size + 1, (n,), generator=generator, device=device)
    left = torch.randint(0, w - size + 1, (n,), generator=generator, device=device)
    coin = (torch.rand(n, generator=generator, device=device) < 0.5) if flip else \
        torch.zeros(n, dtype=torch.bool, device=device)
    return crop_flip(x, top, left, coin, size)


def center_crop(x: Tensor, size: int) -> Tensor:
    """The central ``size`` x ``size`` patch of every image of an (N, C, H, W) batch (a view).

    Defined in the book's chapter "Data and PCA colour augmentation": torchvision's
    ``center_crop`` (offsets ``round((length - size) / 2)``, as ``transforms.CenterCrop``), with
    a clear error where the patch does not fit (torchvision would pad).
    """
    _check_batch(x, size)
    return TF.center_crop(x, [size])


TEN_CROP_NAMES: tuple[str, ...] = (
    "top-left", "top-right", "bottom-left", "bottom-right", "centre",
    "top-left flipped", "top-right flipped", "bottom-left flipped", "bottom-right flipped",
    "centre flipped",
)
"""The order of :func:`ten_crop`'s patches."""


def ten_crop(x: Tensor, size: int) -> Tensor:
    """The paper's ten test patches of every image: (10, N, C, size, size).

    Defined in the book's chapter "Data and PCA colour augmentation". "The network makes a
    prediction by extracting five 224x224 patches (the four corner patches and the center patch)
    as well as their horizontal reflections". Order: :data:`TEN_CROP_NAMES`. torchvision's
    ``five_crop`` gives the five; each is then mirrored. (torchvision's ``ten_crop`` instead
    crops the mirrored image: the same ten patches in another order, except that its mirrored
    centre is one pixel off when ``width - size`` is odd.)
    """
    _check_batch(x, size)
    views = list(TF.five_crop(x, [size]))
    views += [v.flip(-1) for v in views]
    return torch.stack(views)


@torch.no_grad()
def predict_ten_crop(model: nn.Module, x: Tensor, size: int) -> Tensor:
    """Class probabilities (N, classes): the softmax of the ten patches of :func:`ten_crop`,
    averaged ("averaging the predictions made by the network's softmax layer on the ten patches").

    Defined in the book's chapter "Data and PCA colour augmentation". Runs the model once per
    patch position (ten batches of N), without gradients and in whatever mode the model is in:
    call ``model.eval()`` first.
    """
    total = None
    for view in ten_crop(x, size):
        p = torch.softmax(model(view.contiguous()), dim=1)
        total = p if total is None else total + p
    assert total is not None
    return total / 10


@torch.no_grad()
def predict_patches(model: nn.Module, x: Tensor, size: int, ten: bool = False) -> Tensor:
    """The test-time scores of whole images: the centre patch's logits, or (``ten``) the ten
    patches' averaged softmax (:func:`predict_ten_crop`). The one prediction step of every
    evaluation (the experiments' :func:`~alexnet_lib.experiments.loop.wrong_per_image` and the
    training command's :func:`~alexnet_lib.evaluate.evaluate`); the model's mode is left as is.
    """
    if ten:
        return predict_ten_crop(model, x, size)
    patch = center_crop(x, size)
    if x.is_contiguous(memory_format=torch.channels_last):
        patch = patch.contiguous(memory_format=torch.channels_last)
    return model(patch)


def translations(image_size: int, crop: int, flips: bool = True) -> int:
    """How many distinct training patches one image yields: positions^2 x 2 for flips.

    The paper's "factor of 2048" is ``32 * 32 * 2`` (it counts 256 - 224 = 32 positions per
    axis; there are in fact 33 with both ends included, which gives 2178).
    """
    positions = image_size - crop + 1
    return positions * positions * (2 if flips else 1)


# --------------------------------------------------------------------------- per-image modules


class RandomCropFlip(nn.Module):
    """Per-image wrapper of :func:`random_crop_flip` for (C, H, W) tensors (transform pipelines)."""

    def __init__(self, size: int, flip: bool = True) -> None:
        super().__init__()
        self.size, self.flip = size, flip

    def forward(self, x: Tensor) -> Tensor:
        return random_crop_flip(x[None], self.size, flip=self.flip)[0]


class CenterCrop(nn.Module):
    """Per-image wrapper of :func:`center_crop` for (C, H, W) tensors."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def forward(self, x: Tensor) -> Tensor:
        return center_crop(x[None], self.size)[0].contiguous()


class TenCrop(nn.Module):
    """Per-image wrapper of :func:`ten_crop`: (C, H, W) -> (10, C, size, size)."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def forward(self, x: Tensor) -> Tensor:
        return ten_crop(x[None], self.size)[:, 0].contiguous()


class SubtractMean(nn.Module):
    """Subtract the training-set mean from a (3, H, W) or (N, 3, H, W) tensor.

    Args:
        mean: a :class:`~alexnet_lib.data.MeanImage`, or a (3, H, W) or (3,) array or tensor.
        per_channel: subtract the per-channel mean (3 numbers) instead of the per-pixel
            mean image. The paper subtracts the per-pixel image; per-channel works at any
            size, e.g. after cropping.

    The per-pixel mean must match the input's size: subtract it before cropping to 224,
    as the paper did (it stored 256 x 256 images with the mean already subtracted).
    """

    def __init__(self, mean: Any, per_channel: bool = False):
        super().__init__()
        if hasattr(mean, "image"):  # a MeanImage (alexnet_lib.data), or its subclass
            values = mean.channel_mean if per_channel else mean.image
        else:
            values = mean
        values = torch.as_tensor(np.asarray(values), dtype=torch.float32)
        if values.dim() == 1:
            values = values[:, None, None]
        if values.dim() != 3 or values.shape[0] != 3:
            raise ValueError(f"mean must be (3,) or (3, H, W), got {tuple(values.shape)}")
        self.register_buffer("mean", values)

    def forward(self, x: Tensor) -> Tensor:
        if self.mean.shape[1:] != (1, 1) and x.shape[-2:] != self.mean.shape[1:]:
            raise ValueError(
                f"the mean image is {tuple(self.mean.shape)} but the input is "
                f"{tuple(x.shape)}: subtract the per-pixel mean before cropping, or use "
                "SubtractMean(mean, per_channel=True)"
            )
        return x - self.mean.to(x.dtype)


def _preprocess(resize: int, mean: Any) -> list[Callable]:
    # ToTensor (exactly uint8 / 255, in torch's default dtype), not v2's ToImage + ToDtype(scale=True),
    # which multiplies by 1/255: one ulp off for about half the grey levels.
    steps: list[Callable] = [transforms.Resize(resize), transforms.CenterCrop(resize),
                             transforms.ToTensor()]
    if mean is not None:
        steps.append(SubtractMean(mean))
    return steps


def train_transform(size: int = 224, resize: int = PAPER_SIZE,
                    mean: Any = None,
                    lighting: PCALighting | None = None, flip: bool = True) -> transforms.Compose:
    """The paper's training pipeline for one PIL image (for ``DataLoader`` workers, on the CPU).

    Defined in the book's chapter "Data and PCA colour augmentation". Shorter side to ``resize``,
    central ``resize`` x ``resize`` (the paper's stored 256x256 images), to [0, 1], minus the
    mean image if given (before cropping, as the paper did), a random ``size`` crop and flip
    (:class:`RandomCropFlip`), then the PCA colour shift if ``lighting`` is given (a per-image
    constant, so its place among these steps does not matter). Random numbers come from torch's
    global generator, which ``DataLoader`` seeds per worker.
    """
    steps = _preprocess(resize, mean) + [RandomCropFlip(size, flip=flip)]
    if lighting is not None:
        steps.append(lighting)
    return transforms.Compose(steps)


def eval_transform(size: int = 224, resize: int = PAPER_SIZE,
                   mean: Any = None,
                   ten_crops: bool = False) -> transforms.Compose:
    """The paper's test pipeline for one PIL image: the centre patch, or the ten patches.

    Defined in the book's chapter "Data and PCA colour augmentation". Returns (3, size, size),
    or (10, 3, size, size) with ``ten_crops=True`` (a ``DataLoader`` then yields
    (N, 10, 3, size, size): average the softmax over dim 1, as :func:`predict_ten_crop` does).
    """
    last = TenCrop(size) if ten_crops else CenterCrop(size)
    return transforms.Compose(_preprocess(resize, mean) + [last])


# --------------------------------------------------------------------------- saved statistics


def to_pil(x: Tensor) -> Image.Image:
    """A (3, H, W) tensor in [0, 1] (clipped) as a PIL image, for showing augmented photographs."""
    array = (x.detach().cpu().clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    return Image.fromarray(array)


def shift_in_grey_levels(lighting: PCALighting, pixel_scale: float = 1.0) -> float:
    """The root-mean-square length of the RGB shift, in 0..255 grey levels per channel.

    ``pixel_scale`` is the value of white in the units ``lighting`` works in (1 for [0, 1]
    images, 255 for 0..255 images).
    """
    return math.sqrt(float(torch.trace(lighting.shift_covariance())) / 3) * 255 / pixel_scale
