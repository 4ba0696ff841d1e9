"""Datasets and loaders: the built-in synthetic shapes, ImageNet folders and CIFAR-10.

Defined in the book's chapter 'training at ImageNet scale' (the data section); every
experiment chapter gets its images from here.

* :mod:`.builtin`: the offline, deterministic, synthetic 10-class dataset
  (:class:`BuiltinShapes`, :func:`make_tensors`, :func:`write_image_folder`).
* :mod:`.imagenet`: ImageNet-style folders with the paper's preprocessing
  (:func:`imagenet_folder`, :func:`validate_image_folder`, :func:`paper_transform`,
  :func:`load_rgb`).
* :mod:`.stats`: the mean image and RGB PCA in one pass (:func:`compute_dataset_statistics`,
  :class:`DatasetStatistics`, :func:`compute_mean_image`).
* :mod:`.cifar10`: CIFAR-10 from the python-pickle layout (:class:`CIFAR10`).
* :func:`default_data_root`: ``data/`` at the repository root, or ``$ALEXNET_DATA``.
"""

from .builtin import (
    CLASSES,
    NUM_CLASSES,
    BuiltinShapes,
    generate_batch,
    generate_image,
    item_rng,
    make_tensors,
    write_image_folder,
)
from .cifar10 import (
    CIFAR10,
    CIFAR10_CLASSES,
    cifar10_classes,
    cifar10_dir,
    load_cifar10_arrays,
)
from .errors import CorruptImageError, DatasetError, DatasetNotFoundError
from .imagenet import (
    IMG_EXTENSIONS,
    PAPER_SIZE,
    FolderSummary,
    SubtractMean,
    find_corrupt_images,
    imagenet_folder,
    is_image_file,
    load_rgb,
    paper_transform,
    validate_image_folder,
)
from .paths import default_data_root
from .stats import (
    DatasetStatistics,
    MeanImage,
    compute_dataset_statistics,
    compute_mean_image,
    load_mean,
)

__all__ = [
    "CIFAR10",
    "CIFAR10_CLASSES",
    "CLASSES",
    "IMG_EXTENSIONS",
    "NUM_CLASSES",
    "PAPER_SIZE",
    "BuiltinShapes",
    "DatasetStatistics",
    "CorruptImageError",
    "DatasetError",
    "DatasetNotFoundError",
    "FolderSummary",
    "MeanImage",
    "SubtractMean",
    "cifar10_classes",
    "cifar10_dir",
    "compute_dataset_statistics",
    "compute_mean_image",
    "default_data_root",
    "find_corrupt_images",
    "generate_batch",
    "generate_image",
    "imagenet_folder",
    "is_image_file",
    "item_rng",
    "load_cifar10_arrays",
    "load_mean",
    "load_rgb",
    "make_tensors",
    "paper_transform",
    "validate_image_folder",
    "write_image_folder",
]
