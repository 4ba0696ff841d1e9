"""Other AlexNets, for comparison with the paper's: torchvision's ``alexnet``.

Defined in the book's chapter "The architecture".

torchvision's model is the single-column variant from Krizhevsky's "One weird trick for
parallelizing convolutional neural networks" (2014): 64-192-384-256-256 kernels, no LRN, no
groups, dropout before fc6/fc7 and an adaptive average pool so any input size reaches fc6.
"""

from __future__ import annotations

import torch
import torchvision

from .model import AlexNet, LayerRow, layer_table

__all__ = ["torchvision_alexnet", "side_by_side"]


def torchvision_alexnet(num_classes: int = 1000) -> torch.nn.Module:
    """torchvision's ``alexnet`` with random weights (nothing is downloaded)."""
    return torchvision.models.alexnet(weights=None, num_classes=num_classes)


def _shape(row: LayerRow) -> str:
    return "x".join(str(s) for s in (row.output_shape[1:] + row.output_shape[:1]))


def side_by_side(ours: AlexNet | None = None, input_size: int = 224) -> str:
    """A text table: the paper's layers (ours) beside torchvision's, with parameter counts.

    Rows are matched by position among the conv and fc layers (the pools differ in number:
    torchvision has an extra adaptive average pool).
    """
    ours = ours if ours is not None else AlexNet()
    theirs = torchvision_alexnet()
    kinds = ("Conv2d", "Linear")
    a = [r for r in layer_table(ours, input_size) if r.kind in kinds]
    b = [r for r in layer_table(theirs, input_size) if r.kind in kinds]
    header = f"{'layer':<6} {'paper (alexnet_lib)':>20} {'params':>12} | {'torchvision':>12} {'params':>12}"
    lines = [header, "-" * len(header)]
    for ra, rb in zip(a, b, strict=True):
        lines.append(f"{ra.name:<6} {_shape(ra):>20} {ra.params:>12,} | {_shape(rb):>12} {rb.params:>12,}")
    lines.append("-" * len(header))
    lines.append(f"{'total':<6} {'':>20} {sum(r.params for r in a):>12,} | {'':>12} "
                 f"{sum(r.params for r in b):>12,}")
    return "\n".join(lines)
