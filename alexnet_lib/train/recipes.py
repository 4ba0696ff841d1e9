"""The recipes: every number of the paper's training (and torchvision's, to compare), with units.

Defined in the book's chapter "Training AlexNet at ImageNet scale" (the recipe table); used by
:mod:`alexnet_lib.train.config`, where a flag of the same name overrides any of them.
"""

from __future__ import annotations

from typing import Any

from ..model import INIT_NAMES

__all__ = ["RECIPES", "BUILTIN_SMOKE", "INITS"]

RECIPES: dict[str, dict[str, Any]] = {
    # Krizhevsky, Sutskever & Hinton 2012, Section 5 "Details of learning" and Section 4.1.
    "paper": dict(
        epochs=90,               # epochs: "roughly 90 cycles through the training set"
        batch_size=128,          # images per SGD step, all GPUs together
        lr=0.01,                 # initial learning rate, "the same for all layers"
        momentum=0.9,
        weight_decay=5e-4,       # per step, on weights (the update rule is written for w)
        bias_decay=False,        # biases not decayed (the rule's w; cuda-convnet's wc=0 on biases)
        schedule="plateau",      # divide lr "when the validation error rate stopped improving"
        lr_factor=0.1,           # "divide the learning rate by 10"
        max_drops=3,             # "reduced three times prior to termination"
        patience=3,              # epochs without improvement before a drop (ours: the paper's was by eye)
        plateau_threshold=0.001,  # smallest fall in val top-1 error (a fraction) that counts as one
        lr_step=30,              # epochs between drops (schedule="step" only)
        init="paper",            # weights N(0, 0.01); bias 1 in conv2/4/5, fc6, fc7, else 0
        dropout=0.5,             # on the outputs of fc6 and fc7
        augment="paper",         # mean image subtracted, random 224 crops + flips, PCA lighting
        lighting_std=0.1,        # std of the PCA lighting's alpha
        input_scale=255.0,       # pixels in 0..255 units (the original code's); 1 = [0, 1] units
        ten_crop=True,           # final test: softmax averaged over 10 patches
    ),
    # torchvision's reference recipe for its AlexNet (references/classification, README):
    # 8 GPUs x 32 images, lr 0.01, x0.1 every 30 epochs, wd 1e-4, 90 epochs, centre-crop test.
    "torchvision": dict(
        epochs=90,
        batch_size=256,          # 8 GPUs x 32
        lr=0.01,
        momentum=0.9,
        weight_decay=1e-4,       # on every parameter, biases included
        bias_decay=True,
        schedule="step",
        lr_factor=0.1,
        max_drops=3,             # (step schedule: 90 / 30 gives drops at 30 and 60 anyway)
        patience=3,
        plateau_threshold=0.001,
        lr_step=30,              # epochs
        init="torch",            # PyTorch's default (Kaiming-uniform) initialisation
        dropout=0.5,
        augment="torchvision",   # RandomResizedCrop(224) + flip, per-channel normalisation
        lighting_std=0.0,        # no PCA lighting
        input_scale=1.0,         # normalised units
        ten_crop=False,          # centre crop only
    ),
}
"""Every number of each recipe, with its unit; a flag of the same name overrides any of them."""

BUILTIN_SMOKE: dict[str, Any] = dict(
    width=0.25,          # a quarter of the kernels of every conv layer: CPU-sized
    hidden=512,          # units in fc6 and fc7 (the paper: 4096)
    train_images=512,    # generated training images (4 steps of the batch of 128)
    val_images=50,       # generated validation images (5 per class)
)
"""How ``--dataset builtin`` is sized unless flags say otherwise: the real 256 -> 224 crop path and
the paper's recipe, on a network and a dataset small enough that one epoch takes well under a
minute on two CPU cores (it is a smoke test of the machinery, not an experiment)."""

INITS: tuple[str, ...] = INIT_NAMES
"""The ``--init`` choices: the model's (see :data:`alexnet_lib.model.INIT_SCHEMES` for what each
draws; ``kaiming`` is another name of ``he``, :data:`alexnet_lib.model.INIT_ALIASES`)."""
