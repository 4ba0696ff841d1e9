"""The built-in dataset's "natural" style: photographs behind the shapes, class palettes, casts."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch

from alexnet_lib.augment import rgb_covariance_eig
from alexnet_lib.data.builtin import BuiltinShapes, generate_batch, generate_image, make_tensors


def sha256(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def test_golden_bytes_pin_cross_machine_determinism() -> None:
    # Lossless PNG backdrops, integer indexing and exactly rounded arithmetic only: these bytes
    # must hold on every machine (and with another scikit-image only if its sample files stay).
    images, _ = generate_batch([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 123, 4567], 48, "train", 0,
                               style="natural")
    assert sha256(images) == "9bf38e25b2d63a24bc0f3a4c71baf2750b73e557295a4197b78c49d91e44fa0d"


def test_every_access_path_gives_the_same_bytes_and_the_shapes_style_is_untouched() -> None:
    batch, labels = generate_batch(12, 64, "val", 3, style="natural")
    one, label = generate_image(7, "val", 64, 3, style="natural")
    assert np.array_equal(batch[7], one) and labels[7] == label
    tensors, _ = make_tensors("val", 12, 64, 3, style="natural")
    assert torch.equal(tensors, torch.from_numpy(batch).permute(0, 3, 1, 2))
    item, _ = BuiltinShapes("val", 64, 12, 3, style="natural")[5]
    assert torch.equal(item, tensors[5].float().div(255))
    shapes, _ = generate_batch(12, 64, "val", 3)
    assert not np.array_equal(shapes, batch)
    with pytest.raises(ValueError, match="style must be one of"):
        generate_batch(2, 32, style="photo")


def _colour_accuracy(style: str) -> float:
    """A nearest-centroid classifier on the chromaticity of each image's centre pixels."""
    images, labels = generate_batch(1000, size=32, seed=0, style=style)
    colour = images[:, 13:19, 13:19].reshape(len(images), -1, 3).astype(np.float64).mean(1)
    colour /= colour.sum(1, keepdims=True)
    train, test = slice(0, 800), slice(800, 1000)
    centroids = np.stack([colour[train][labels[train] == c].mean(0) for c in range(10)])
    distance = ((colour[test, None, :] - centroids[None]) ** 2).sum(-1)
    return float((distance.argmin(1) == labels[test]).mean())


def test_colour_now_carries_some_information_about_the_class() -> None:
    # With class palettes the object's colour says something (the shapes style: chance, 10%),
    # but far from all, since neighbouring palettes overlap and casts shift them (seen: 22%).
    natural, shapes = _colour_accuracy("natural"), _colour_accuracy("shapes")
    assert shapes < 0.15 and 0.15 < natural < 0.5 and natural > 2 * shapes, (natural, shapes)


def test_pixel_covariance_is_dominated_by_brightness_like_photographs() -> None:
    # Natural images' first RGB principal component (brightness) holds most of the variance;
    # the shapes style's random colours spread it over all three.
    natural, _ = make_tensors("train", 200, 32, 0, style="natural")
    shapes, _ = make_tensors("train", 200, 32, 0)
    for x, low, high in ((natural, 0.7, 1.0), (shapes, 0.2, 0.5)):
        values, vectors = rgb_covariance_eig(x.float().div(255))
        share = float(values[0] / values.sum())
        assert low < share < high, share
    _, vectors = rgb_covariance_eig(natural.float().div(255))
    assert float(vectors[:, 0].abs().min()) > 0.4  # p1 mixes R, G and B alike: brightness


def test_the_samples_figure_shows_each_class_in_its_column() -> None:
    import matplotlib

    matplotlib.use("Agg")
    from alexnet_lib.data.builtin import CLASSES, generate_image
    from alexnet_lib.viz import plot_dataset_samples

    fig = plot_dataset_samples(per_class=2, size=32)
    axes = fig.axes
    assert len(axes) == 2 * len(CLASSES)
    assert [ax.get_title() for ax in axes[:len(CLASSES)]] == list(CLASSES)
    # the first image of the first column is the first training image of class 0
    first = next(i for i in range(100) if generate_image(i, size=32, style="natural")[1] == 0)
    shown = axes[0].get_images()[0].get_array()
    assert (shown == generate_image(first, size=32, style="natural")[0]).all()
