"""Plots for the book's chapters. Each function returns a matplotlib Figure.

The chapters call these so that notebooks stay short; nothing in the training path imports this
module (matplotlib is a dependency of the ``book`` extra only).
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from .model import LayerRow

__all__ = ["plot_architecture", "plot_layer_costs"]


def plot_architecture(rows: Sequence[LayerRow], groups: int = 2) -> Figure:
    """Feature maps as blocks, left to right (defined in "The architecture").

    A block's height is the map's side in pixels and its width grows with the number of
    channels; with ``groups=2`` each conv block is drawn as the paper's two columns (towers),
    and the layers that take input from both columns (conv3, fc6, fc7, fc8) are marked.
    """
    fig, ax = plt.subplots(figsize=(11, 3.6))
    x = 0.0
    crossing = {"conv3", "fc6", "fc7", "fc8"}
    for row in rows:
        if len(row.output_shape) == 3:
            channels, side, _ = row.output_shape
            width = 0.4 + channels / 96
            height = side
        else:
            channels, side = row.output_shape[0], 1
            width, height = 0.6, 4 + row.output_shape[0] / 120
        bottom = -height / 2
        if groups == 2 and row.kind in ("Conv2d", "MaxPool2d"):
            for tower, colour in ((0, "#4C72B0"), (1, "#DD8452")):
                ax.add_patch(Rectangle((x, bottom + tower * height / 2), width, height / 2,
                                       facecolor=colour, edgecolor="black", alpha=0.75))
        else:
            ax.add_patch(Rectangle((x, bottom), width, height, facecolor="#55A868",
                                   edgecolor="black", alpha=0.75))
        shape = "x".join(str(s) for s in (row.output_shape[1:] + row.output_shape[:1]))
        ax.text(x + width / 2, height / 2 + 2, f"{row.name}\n{shape}", ha="center", va="bottom",
                fontsize=8)
        if groups == 2 and row.name in crossing:
            ax.text(x + width / 2, -height / 2 - 3, "both\ncolumns", ha="center", va="top",
                    fontsize=7, color="crimson")
        x += width + 1.2
    ax.set_xlim(-0.5, x)
    ax.set_ylim(-45, 45)
    ax.set_yticks([])
    ax.set_xticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_title("Feature maps of AlexNet (block height = map side in pixels; "
                 "blue/orange = the two columns)")
    fig.tight_layout()
    return fig


def plot_layer_costs(rows: Sequence[LayerRow]) -> Figure:
    """Parameters vs multiply-accumulates per layer, on a log scale (defined in "The architecture").

    Shows the paper's split: convolutions hold ~6% of the parameters but ~92% of the compute;
    fc6 alone holds ~62% of the parameters.
    """
    layers = [r for r in rows if r.params > 0]
    names = [r.name for r in layers]
    fig, ax = plt.subplots(figsize=(9, 3.4))
    pos = range(len(layers))
    ax.bar([p - 0.2 for p in pos], [r.params for r in layers], width=0.4, label="parameters")
    ax.bar([p + 0.2 for p in pos], [r.macs for r in layers], width=0.4,
           label="multiply-accumulates per image")
    ax.set_yscale("log")
    ax.set_xticks(list(pos), names)
    ax.set_ylabel("count (log scale)")
    ax.legend(loc="upper left")
    ax.set_title("Where AlexNet's parameters and compute are")
    fig.tight_layout()
    return fig
