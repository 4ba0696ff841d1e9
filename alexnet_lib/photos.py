"""Four real photographs for showing what the augmentations do, from scikit-image's sample data.

Defined in the book's chapter "Data and PCA colour augmentation". scikit-image ships these files
in its wheel (nothing is downloaded); it is a dependency of the book only (the ``book`` extra).

Licences, as scikit-image documents them:

* ``astronaut``: Eileen Collins, NASA; public domain.
* ``coffee``: a cup of coffee, by Rachel Michetti, courtesy of Pikolo Espresso Bar; CC0.
* ``chelsea``: Chelsea the cat, by Stefan van der Walt; CC0.
* ``rocket``: the launch of DSCOVR on a Falcon 9, by SpaceX; public domain.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image
from torchvision.transforms import functional as TF

from .data.imagenet import PAPER_SIZE

__all__ = ["PHOTOS", "LICENCES", "photograph", "photographs"]

PHOTOS: tuple[str, ...] = ("astronaut", "coffee", "chelsea", "rocket")
LICENCES: dict[str, str] = {
    "astronaut": "Eileen Collins, NASA, public domain",
    "coffee": "Rachel Michetti (Pikolo Espresso Bar), CC0",
    "chelsea": "Stefan van der Walt, CC0",
    "rocket": "SpaceX, public domain",
}


def photograph(name: str, size: int = PAPER_SIZE) -> torch.Tensor:
    """One photograph, preprocessed as the paper's images were: the shorter side rescaled to
    ``size``, the central ``size`` x ``size`` patch, as a (3, size, size) float tensor in [0, 1]."""
    if name not in PHOTOS:
        raise ValueError(f"photograph must be one of {PHOTOS}, got {name!r}")
    from skimage import data  # the book's dependency; imported here so the library does not need it

    image = Image.fromarray(np.ascontiguousarray(getattr(data, name)()))
    image = TF.center_crop(TF.resize(image, size), size)
    return TF.to_tensor(image)


def photographs(size: int = PAPER_SIZE) -> dict[str, torch.Tensor]:
    """All four photographs, by name (see :func:`photograph`)."""
    return {name: photograph(name, size) for name in PHOTOS}
