"""CIFAR-10 from a local folder in the standard "python version" layout.

Defined in the book's chapter 'training at ImageNet scale' (the data section); used by the
chapters 'ReLU vs tanh' (the paper's Figure 1 is a CIFAR-10 run) and 'Local Response
Normalization' (the paper's 13% vs 11% CIFAR-10 test error).

Expected layout, as ``cifar-10-python.tar.gz`` unpacks::

    root/cifar-10-batches-py/data_batch_1 ... data_batch_5   (50,000 training images)
    root/cifar-10-batches-py/test_batch                      (10,000 test images)
    root/cifar-10-batches-py/batches.meta                    (class names; optional here)

Each batch file is a pickled dict with ``b"data"`` (N x 3072 uint8: 1024 red, then 1024
green, then 1024 blue values, row-major) and ``b"labels"`` (N ints in 0..9).

We read these files ourselves instead of using ``torchvision.datasets.CIFAR10``, for two
reasons: torchvision checks every file's MD5, so it cannot read a small fake copy made for
tests; and we unpickle with an allow-list (NumPy's array reconstruction only), so a
tampered file cannot run code. ``download=True`` still uses torchvision's downloader
(which verifies the archive's MD5); nothing is downloaded unless you ask for it.
"""

from __future__ import annotations

import io
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from .errors import DatasetError, DatasetNotFoundError
from .paths import default_data_root

CIFAR10_CLASSES: tuple[str, ...] = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
BATCHES_DIR = "cifar-10-batches-py"
SPLIT_FILES: dict[str, tuple[str, ...]] = {
    "train": tuple(f"data_batch_{i}" for i in range(1, 6)),
    "test": ("test_batch",),
}
_SOURCE = "https://www.cs.toronto.edu/~kriz/cifar.html"


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles dicts, lists, bytes, numbers and NumPy arrays; refuses anything else."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy._core.numeric", "_frombuffer"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),  # how Python 3 pickles bytes at protocol 2
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a CIFAR file")
        if module.startswith("numpy.core") and hasattr(np, "_core"):
            module = "numpy._core" + module[len("numpy.core") :]  # NumPy 2 renamed it
        return super().find_class(module, name)


def _unpickle(path: Path) -> dict[Any, Any]:
    try:
        with open(path, "rb") as f:
            obj = _ArrayUnpickler(io.BytesIO(f.read()), encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as err:
        raise DatasetError(
            f"cannot read CIFAR-10 file {path}: {type(err).__name__}: {err}. The file is "
            "truncated or not in the python-pickle format; re-download it (data/README.md)."
        ) from err
    if not isinstance(obj, dict):
        raise DatasetError(f"{path} does not hold a dict, so it is not a CIFAR-10 batch file")
    # Files pickled by Python 2 have bytes keys; copies re-pickled by Python 3 have str keys.
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in obj.items()}


def cifar10_dir(root: str | Path | None = None) -> Path:
    """The folder holding the batch files: ``root/cifar-10-batches-py`` or ``root`` itself.

    ``root`` defaults to ``default_data_root() / "cifar10"``.
    """
    root = Path(root) if root is not None else default_data_root() / "cifar10"
    if not (root / BATCHES_DIR).is_dir() and (root / "test_batch").is_file():
        return root  # the user pointed at cifar-10-batches-py directly
    return root / BATCHES_DIR


def _not_found(root: Path, folder: Path, missing: list[str]) -> DatasetNotFoundError:
    what = f"folder {folder}" if not folder.is_dir() else f"{', '.join(missing)} in {folder}"
    return DatasetNotFoundError(
        f"CIFAR-10 not found: no {what}. Expected the python version of CIFAR-10 "
        f"({', '.join(SPLIT_FILES['train'] + SPLIT_FILES['test'])}, batches.meta) in "
        f"{root}/{BATCHES_DIR}/. Get it with alexnet_lib.data.CIFAR10(root, download=True) "
        f"(downloads 163 MB from {_SOURCE}), or download cifar-10-python.tar.gz yourself and "
        f"unpack it in {root}; see data/README.md. To work offline without it, use the "
        "built-in synthetic dataset alexnet_lib.data.BuiltinShapes."
    )


def load_cifar10_arrays(
    root: str | Path | None = None, split: str = "train"
) -> tuple[np.ndarray, np.ndarray]:
    """Read a CIFAR-10 split into memory.

    Args:
        root: the folder that contains ``cifar-10-batches-py`` (or that folder itself);
            default ``default_data_root() / "cifar10"``.
        split: ``"train"`` (data_batch_1..5) or ``"test"`` (test_batch).

    Returns:
        ``(images, labels)``: (N, 32, 32, 3) uint8 and (N,) int64 arrays.

    Raises:
        DatasetNotFoundError: the folder or one of its batch files is missing.
        DatasetError: a file is unreadable or has the wrong shapes or labels.
    """
    if split not in SPLIT_FILES:
        raise ValueError(f"CIFAR-10 split must be 'train' or 'test', got {split!r}")
    root = Path(root) if root is not None else default_data_root() / "cifar10"
    folder = cifar10_dir(root)
    missing = [name for name in SPLIT_FILES[split] if not (folder / name).is_file()]
    if missing:
        raise _not_found(root, folder, missing)
    images, labels = [], []
    for name in SPLIT_FILES[split]:
        path = folder / name
        batch = _unpickle(path)
        if "data" not in batch or "labels" not in batch:
            raise DatasetError(f"{path} has no 'data' or 'labels' entry: keys {sorted(batch)}")
        data = np.asarray(batch["data"])
        target = np.asarray(batch["labels"], dtype=np.int64).reshape(-1)
        if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
            raise DatasetError(f"{path}: 'data' must be N x 3072 uint8, got {data.shape} {data.dtype}")
        if len(target) != len(data):
            raise DatasetError(f"{path}: {len(data)} images but {len(target)} labels")
        if len(target) and (target.min() < 0 or target.max() > 9):
            raise DatasetError(f"{path}: labels must be in 0..9, found {target.min()}..{target.max()}")
        images.append(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))  # planes -> HWC
        labels.append(target)
    return np.ascontiguousarray(np.concatenate(images)), np.concatenate(labels)


def cifar10_classes(root: str | Path | None = None) -> tuple[str, ...]:
    """Class names from ``batches.meta`` if present, else the standard ten."""
    meta = cifar10_dir(root) / "batches.meta"
    if meta.is_file():
        names = _unpickle(meta).get("label_names")
        if names and len(names) == 10:
            return tuple(n.decode() if isinstance(n, bytes) else str(n) for n in names)
    return CIFAR10_CLASSES


class CIFAR10(torch.utils.data.Dataset):
    """CIFAR-10 from a local folder (see the module docstring for the layout).

    Args:
        root: the folder that contains ``cifar-10-batches-py``; default
            ``default_data_root() / "cifar10"``, i.e. ``data/cifar10``.
        split: ``"train"`` (50,000 images) or ``"test"`` (10,000).
        transform: if given, it receives a PIL image; if None, items are (3, 32, 32)
            float32 tensors in [0, 1].
        download: fetch and unpack the archive into ``root`` first, with torchvision's
            downloader, if it is not there yet. Off by default: nothing touches the
            network unless you ask.

    Attributes: ``data`` ((N, 32, 32, 3) uint8), ``targets`` (list of int), ``classes``.
    """

    def __init__(
        self,
        root: str | Path | None = None,
        split: str = "train",
        transform: Callable[[Image.Image], Any] | None = None,
        download: bool = False,
    ) -> None:
        self.root = Path(root) if root is not None else default_data_root() / "cifar10"
        self.split = split
        if download and not all(
            (cifar10_dir(self.root) / f).is_file() for fs in SPLIT_FILES.values() for f in fs
        ):
            from torchvision.datasets import CIFAR10 as _TorchvisionCIFAR10

            self.root.mkdir(parents=True, exist_ok=True)
            _TorchvisionCIFAR10(str(self.root), train=True, download=True)
        self.data, labels = load_cifar10_arrays(self.root, split)
        self.targets: list[int] = labels.tolist()
        self.classes = cifar10_classes(self.root)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int) -> tuple[Any, int]:
        image, label = self.data[index], self.targets[index]
        if self.transform is not None:
            return self.transform(Image.fromarray(image)), label
        return torch.from_numpy(image).permute(2, 0, 1).float().div_(255.0), label

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The whole split as ``(uint8 (N, 3, 32, 32), int64 (N,))`` tensors."""
        images = torch.from_numpy(self.data).permute(0, 3, 1, 2).contiguous()
        return images, torch.tensor(self.targets, dtype=torch.int64)

    def __repr__(self) -> str:
        return f"CIFAR10(root={str(self.root)!r}, split={self.split!r}, n={len(self)})"
