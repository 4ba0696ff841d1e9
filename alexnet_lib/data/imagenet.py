"""ImageNet (or any ImageNet-style folder) with the paper's preprocessing.

Defined in the book's chapter 'training at ImageNet scale' (the data section).

Layout expected (the one the ILSVRC2012 training archive unpacks to, once the validation
images are sorted into class folders; see ``data/README.md``)::

    root/train/<wnid>/*.JPEG
    root/val/<wnid>/*.JPEG

The paper (Section 2): "we down-sampled the images to a fixed resolution of 256 x 256.
Given a rectangular image, we first rescaled the image such that the shorter side was of
length 256, and then cropped out the central 256 x 256 patch from the resulting image. We
did not pre-process the images in any other way, except for subtracting the mean activity
over the training set from each pixel." :func:`paper_transform` does exactly that; the
mean image is computed once with :func:`compute_mean_image` and kept in a small ``.npz``
file (:meth:`MeanImage.save`, :func:`load_mean`). All values here are in the units of
``torchvision.transforms.ToTensor``, i.e. [0, 1]; the paper's 0..255 units are 255 times
larger.

Every structural problem (missing root, missing split, no class folders, an empty class
folder, val classes that differ from train classes) raises a :class:`DatasetError` that
names the path; an undecodable file raises :class:`CorruptImageError` naming the file.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from PIL import Image
from torchvision import transforms
from torchvision.datasets import ImageFolder

from ..augment import SubtractMean
from .errors import CorruptImageError, DatasetError, DatasetNotFoundError
from .paths import default_data_root
from .stats import MeanImage, compute_mean_image, load_mean  # noqa: F401 - their old home

IMG_EXTENSIONS: tuple[str, ...] = (
    ".jpg",
    ".jpeg",
    ".png",
    ".ppm",
    ".bmp",
    ".pgm",
    ".tif",
    ".tiff",
    ".webp",
)
"""File suffixes counted as images (case-insensitive): the same list as torchvision's."""

PAPER_SIZE = 256
"""The paper's stored image size: shorter side rescaled to 256, central 256 x 256 crop."""

_HOW_TO_GET = (
    "ImageNet cannot be downloaded automatically: register at https://image-net.org/, "
    "download the ILSVRC2012 training and validation archives and unpack them as described "
    "in data/README.md. To work offline without it, use the built-in synthetic dataset "
    "(alexnet_lib.data.BuiltinShapes), or write it as a folder in this very layout with "
    "alexnet_lib.data.write_image_folder(root)."
)


def _list(items: Sequence[str], limit: int = 5) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f", ... ({len(items)} in all)" if len(items) > limit else "")


# --------------------------------------------------------------------------- decoding


def load_rgb(path: str | Path) -> Image.Image:
    """Decode an image file to an RGB PIL image, whatever its stored mode.

    Handles the ILSVRC2012 quirks: CMYK JPEGs, grayscale JPEGs and the PNG saved with a
    ``.JPEG`` name (Pillow detects the format from the bytes, not the suffix). The image is
    decoded here, not lazily, so that a truncated file fails now, with its name.

    Raises:
        DatasetNotFoundError: the file does not exist.
        CorruptImageError: the file cannot be decoded (truncated, empty, not an image).
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetNotFoundError(f"image file not found: {path}")
    try:
        with Image.open(path) as image:
            image.load()
            if image.mode == "P" and "transparency" in image.info:
                image = image.convert("RGBA")  # avoids Pillow's palette-transparency warning
            return image.convert("RGB")
    except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError) as err:
        raise CorruptImageError(path, f"{type(err).__name__}: {err}") from err


def is_image_file(name: str) -> bool:
    """Whether a file name has one of :data:`IMG_EXTENSIONS` (case-insensitive)."""
    return name.lower().endswith(IMG_EXTENSIONS)


def _image_files(class_dir: Path) -> list[Path]:
    """Image files under a class folder, recursively, as ``ImageFolder`` finds them."""
    found = []
    for dirpath, _, filenames in sorted(os.walk(class_dir, followlinks=True)):
        found += [Path(dirpath) / f for f in sorted(filenames) if is_image_file(f)]
    return found


def _has_image(class_dir: Path) -> bool:
    for _, _, filenames in os.walk(class_dir, followlinks=True):
        if any(is_image_file(f) for f in filenames):
            return True
    return False


def find_corrupt_images(root: str | Path, split: str) -> list[Path]:
    """Decode every image of ``root/split`` and return the files that fail (slow: ImageNet's
    1.28M training images take about an hour on one core)."""
    split_dir = Path(root) / split
    bad = []
    for class_dir in sorted(p for p in split_dir.iterdir() if p.is_dir()):
        for path in _image_files(class_dir):
            try:
                load_rgb(path)
            except CorruptImageError:
                bad.append(path)
    return bad


# --------------------------------------------------------------------------- validation


@dataclass(frozen=True)
class FolderSummary:
    """What :func:`validate_image_folder` found: the root, the splits checked, the classes."""

    root: Path
    splits: tuple[str, ...]
    classes: tuple[str, ...]


def _class_dirs(split_dir: Path) -> list[str]:
    # The same rule as ImageFolder.find_classes (every sub-directory, hidden ones too), so
    # a stray '.ipynb_checkpoints' is reported here rather than becoming a class silently.
    return sorted(entry.name for entry in os.scandir(split_dir) if entry.is_dir())


def validate_image_folder(
    root: str | Path | None = None,
    split: str | Sequence[str] = ("train", "val"),
    check_images: bool = False,
) -> FolderSummary:
    """Check that ``root`` holds an ImageNet-style folder and explain what is wrong if not.

    Args:
        root: the dataset folder; default ``default_data_root() / "imagenet"``.
        split: one split name or several; default both ``"train"`` and ``"val"``.
        check_images: also decode every image (slow) and fail on the first bad one.

    Checks, in order: the root exists; each split folder exists; it has class folders; no
    class folder is empty (of image files); if both ``train`` and ``val`` exist, they have
    the same classes (ImageFolder numbers classes by sorted name, so a missing class would
    shift every later label silently). The last check runs whenever both folders exist on
    disk, whichever split was asked for.

    Returns:
        A :class:`FolderSummary`.

    Raises:
        DatasetNotFoundError: the root or a split folder does not exist.
        DatasetError: no class folders, an empty class folder, or mismatched classes.
        CorruptImageError: with ``check_images=True``, an image that cannot be decoded.
    """
    root = Path(root) if root is not None else default_data_root() / "imagenet"
    splits = (split,) if isinstance(split, str) else tuple(split)
    if not splits:
        raise ValueError("validate_image_folder needs at least one split name")
    if not root.is_dir():
        raise DatasetNotFoundError(
            f"dataset folder not found: {root}. Expected images laid out as "
            f"{root}/train/<class>/*.JPEG and {root}/val/<class>/*.JPEG. {_HOW_TO_GET}"
        )
    classes: dict[str, list[str]] = {}
    for name in splits:
        split_dir = root / name
        if not split_dir.is_dir():
            present = sorted(p.name for p in root.iterdir() if p.is_dir())
            raise DatasetNotFoundError(
                f"split folder not found: {split_dir}. Expected {split_dir}/<class>/*.JPEG "
                f"(folders present in {root}: {_list(present) or 'none'}). See data/README.md."
            )
        found = _class_dirs(split_dir)
        if not found:
            loose = [f for f in os.listdir(split_dir) if is_image_file(f)]
            hint = (
                f" It holds {len(loose)} image files directly: the ILSVRC2012 validation "
                "archive unpacks flat, and its images must be moved into one folder per "
                "class (see data/README.md)."
                if loose
                else ""
            )
            raise DatasetError(
                f"no class folders in {split_dir}: expected one sub-folder of images per "
                f"class, e.g. {split_dir}/n01440764/*.JPEG.{hint}"
            )
        empty = [c for c in found if not _has_image(split_dir / c)]
        if empty:
            raise DatasetError(
                f"empty class folder {split_dir / empty[0]}: no image files "
                f"({', '.join(IMG_EXTENSIONS)}) in it. Empty class folders in {split_dir}: "
                f"{_list(empty)}. Remove them or add their images."
            )
        classes[name] = found
    # Compare val with train whenever both exist on disk, even if only one was requested.
    if "train" in classes or "val" in classes:
        for name in ("train", "val"):
            if name not in classes and (root / name).is_dir():
                classes[name] = _class_dirs(root / name)
        if "train" in classes and "val" in classes and classes["train"] != classes["val"]:
            only_train = sorted(set(classes["train"]) - set(classes["val"]))
            only_val = sorted(set(classes["val"]) - set(classes["train"]))
            raise DatasetError(
                f"val classes do not match train classes in {root}: "
                f"{len(classes['train'])} in train, {len(classes['val'])} in val; "
                f"only in train: {_list(only_train) or 'none'}; "
                f"only in val: {_list(only_val) or 'none'}. Labels are numbered by sorted "
                "class name, so both splits must have the same class folders."
            )
    if check_images:
        for name in splits:
            bad = find_corrupt_images(root, name)
            if bad:
                others = f" ({len(bad) - 1} more bad files in {root / name})" if len(bad) > 1 else ""
                try:
                    load_rgb(bad[0])
                except CorruptImageError as err:
                    raise CorruptImageError(bad[0], f"{err.reason}{others}") from err
    reference = splits[0]
    return FolderSummary(root, splits, tuple(classes[reference]))


# --------------------------------------------------------------------------- transforms


def paper_transform(
    mean: MeanImage | np.ndarray | torch.Tensor | None = None, size: int = PAPER_SIZE
) -> transforms.Compose:
    """The paper's preprocessing: shorter side to ``size``, centre crop ``size`` x ``size``,
    to a float tensor in [0, 1], and (if ``mean`` is given) subtract the mean image.

    This is also the evaluation transform of a single centre view; the random 224 crops
    and flips of training belong to the augmentation chapter (``alexnet_lib.augment``).
    """
    steps: list[Callable[[Any], Any]] = [
        transforms.Resize(size),  # an int: the shorter side becomes `size`, aspect kept
        transforms.CenterCrop(size),
        # ToTensor, not v2's ToImage + ToDtype(float32, scale=True): that multiplies by 1/255
        # instead of dividing (one ulp off for about half the grey levels) and ignores torch's
        # default dtype, which float64 runs (tests) rely on; ToTensor gives exactly uint8 / 255.
        transforms.ToTensor(),
    ]
    if mean is not None:
        steps.append(SubtractMean(mean))
    return transforms.Compose(steps)


# --------------------------------------------------------------------------- dataset


def imagenet_folder(
    root: str | Path | None = None,
    split: str = "train",
    transform: Callable[[Image.Image], Any] | Literal["paper"] | None = "paper",
    validate: bool = True,
) -> ImageFolder:
    """An ImageNet-style folder as a ``torchvision.datasets.ImageFolder``.

    Args:
        root: the dataset folder; default ``default_data_root() / "imagenet"``.
        split: ``"train"`` or ``"val"`` (any sub-folder name works).
        transform: ``"paper"`` (default) for :func:`paper_transform` without mean
            subtraction, giving (3, 256, 256) tensors in [0, 1]; ``None`` for RGB PIL images;
            or any callable taking a PIL image.
        validate: run :func:`validate_image_folder` first (cheap: it does not decode).

    Images are decoded with :func:`load_rgb`, so a corrupt file raises
    :class:`CorruptImageError` naming it when its item is read. Labels are class indices
    in sorted folder-name order (``dataset.classes``, ``dataset.class_to_idx``).
    """
    root = Path(root) if root is not None else default_data_root() / "imagenet"
    if validate:
        validate_image_folder(root, split)
    if isinstance(transform, str):
        if transform != "paper":
            raise ValueError(f"transform must be 'paper', None or a callable, got {transform!r}")
        transform = paper_transform()
    return ImageFolder(str(root / split), transform=transform, loader=load_rgb)
