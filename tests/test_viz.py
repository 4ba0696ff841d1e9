"""The chapters' figures say what the issue of readers asked for: kernel sizes in the architecture
diagram, a colour bar on the dropout masks, an original column and an exaggerated row for PCA."""

from __future__ import annotations

import matplotlib
import numpy as np
import torch

matplotlib.use("Agg")

from alexnet_lib.augment import PCALighting  # noqa: E402
from alexnet_lib.model import AlexNet  # noqa: E402
from alexnet_lib.viz import plot_architecture, plot_dropout_masks, plot_pca_lighting  # noqa: E402


def _texts(fig) -> list[str]:
    return [t.get_text() for ax in fig.axes for t in ax.texts]


def test_the_architecture_diagram_names_kernels_strides_lrn_and_pooling() -> None:
    net = AlexNet(init="torch")
    texts = _texts(plot_architecture(net.layer_table(), model=net))
    assert "11x11 /4\n+ LRN" in texts and "5x5 /1\n+ LRN" in texts
    assert texts.count("3x3 /1") == 3 and texts.count("max 3/2") == 3
    assert texts.count("dropout\n0.5") == 2
    plain = AlexNet(init="torch", lrn=None, pooling="non-overlapping")
    texts = _texts(plot_architecture(plain.layer_table(), model=plain))
    assert "11x11 /4" in texts and texts.count("max 2/2") == 3
    assert not any("LRN" in t for t in _texts(plot_architecture(net.layer_table())))


def test_the_dropout_masks_have_a_colour_bar() -> None:
    fig = plot_dropout_masks(np.random.default_rng(0).random((8, 8)))
    assert len(fig.axes) == 6 + 1  # six panels and the colour bar


def test_the_pca_figure_shows_the_original_and_an_exaggerated_row() -> None:
    lighting = PCALighting(torch.tensor([0.2, 0.02, 0.005]), torch.eye(3))
    photo = torch.rand(3, 16, 16)
    std = lighting.std
    fig = plot_pca_lighting({"a": photo}, {"paper": lighting}, draws=4, exaggerate=10)
    axes = np.array(fig.axes).reshape(2, 3)
    assert axes[0, 0].get_title() == "original"
    original = axes[0, 0].get_images()[0].get_array()
    assert np.allclose(original, photo.permute(1, 2, 0).numpy())
    assert "alpha x10" in axes[1, 0].get_ylabel()
    assert lighting.std == std  # the caller's lighting is not changed
    small = np.abs(axes[0, 1].get_images()[0].get_array() - original).mean()
    large = np.abs(axes[1, 1].get_images()[0].get_array() - original).mean()
    assert large > 3 * small  # the same draw, ten times the spread
