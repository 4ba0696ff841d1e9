"""The built-in dataset: ten classes of synthetic shapes, generated offline.

Defined in the book's chapter 'training at ImageNet scale' (the data section) and used by
every experiment chapter that must run without downloading anything.

**This dataset is synthetic.** It is not ImageNet and says nothing about ImageNet accuracy;
it exists so that every chapter, test and benchmark runs offline, on any machine, in
seconds. Each image shows one object whose *kind* is the label (:data:`CLASSES`): checker,
crescent, cross, disc, ellipse, ring, square, star, stripes, triangle. Everything else
is a nuisance drawn at random for each image: the object's colour (independent of the
class, so colour alone says nothing), position, scale, rotation, edge softness and shading;
a second colour for the striped and checked objects, whose outline is randomly a disc or a
square (so for those two classes only the texture tells them apart); a coloured, blotchy
background; up to three small clutter blobs behind the object; a lighting gradient; and
pixel grain. Objects may be cut off a little at the border.

Determinism: item ``i`` of a split is drawn from its own generator,
``PCG64(SeedSequence(seed, spawn_key=(split_code, i)))``, so any item can be made on its
own, in any order, on any machine, and the train and val splits never share a generator.
The drawing uses only float32 arithmetic that IEEE 754 defines exactly (+, -, *, /, sqrt,
floor, min, max): no sin/cos/exp, no matrix products, no reductions, because those may
round differently between CPUs, BLAS libraries and NumPy versions. Rotations come from
the rational parametrisation cos = (1 - t^2) / (1 + t^2), sin = 2t / (1 + t^2). The same
seed therefore gives the same bytes everywhere. The label of item ``i`` is ``i % 10``, so
every split is exactly balanced. The scene of an item (everything except the pixel grain)
does not depend on the resolution: item 7 at 32 px and at 256 px shows the same picture.

Two access paths:

* :class:`BuiltinShapes`, a ``torch.utils.data.Dataset`` for ``DataLoader`` pipelines.
* :func:`generate_batch` / :func:`make_tensors`, which make a whole split at once as uint8
  arrays (uint8 because 50,000 images at 64 px take 614 MB as uint8 and 2.5 GB as float32;
  convert a batch at a time with ``x.float().div_(255)``).

:func:`write_image_folder` writes the dataset as an ImageNet-style folder of JPEG files,
so the real ImageNet loaders in :mod:`alexnet_lib.data.imagenet` can be exercised on it.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

CLASSES: tuple[str, ...] = (
    "checker",
    "crescent",
    "cross",
    "disc",
    "ellipse",
    "ring",
    "square",
    "star",
    "stripes",
    "triangle",
)
"""Class names; the label of an image is its index in this tuple.

Alphabetical on purpose: ``torchvision.datasets.ImageFolder`` numbers class folders in
sorted order, so a folder written by :func:`write_image_folder` has the same labels.
"""

NUM_CLASSES = len(CLASSES)
SPLIT_CODES: dict[str, int] = {"train": 0, "val": 1}
"""Each split's code in the per-item seed; different codes keep the splits disjoint."""

MIN_SIZE, MAX_SIZE = 32, 1024  # per side; the book uses 32..256 and ImageNet-like 500x375
DEFAULT_NUM_IMAGES: dict[str, int] = {"train": 10_000, "val": 2_000}

Size = int | tuple[int, int]
"""An image size: ``n`` for n x n, or ``(width, height)``."""

STYLES = ("shapes", "natural")
"""``"shapes"``: every colour random and independent of the class, a blotchy noise background (the
default). ``"natural"``, a proxy for photographs' statistics: each class has its own palette
(overlapping its neighbours', so colour helps but does not decide), the background is a patch of
one of scikit-image's sample photographs (:data:`BACKDROPS`), and every image gets a colour cast
along natural images' RGB principal axes (:data:`CAST_EIGVAL`, :data:`CAST_EIGVEC`), the kind of
variation the paper's PCA lighting imitates. Same geometry as ``"shapes"`` for the same item."""

BACKDROPS = ("astronaut.png", "chelsea.png", "coffee.png", "motorcycle_left.png",
             "motorcycle_right.png", "ihc.png", "brick.png", "grass.png", "gravel.png")
"""scikit-image's lossless sample photographs used as backgrounds by the ``"natural"`` style
(PNG, so they decode to the same bytes everywhere; in the ``book`` extra's scikit-image)."""

# The RGB principal axes most re-implementations copy for ImageNet (fb.resnet.torch), [0, 1] units.
CAST_EIGVAL = (0.2175, 0.0188, 0.0045)
CAST_EIGVEC = ((-0.5675, 0.7192, 0.4009), (-0.5808, -0.0045, -0.8140), (-0.5836, -0.6948, 0.4203))
CAST_STD = 0.3  # std of each axis' coefficient: three times the paper's PCA lighting (0.1)

# Each class's palette centre (RGB in [0, 1]); a colour is the centre +- 0.25 per channel.
_PALETTE = ((0.75, 0.30, 0.30), (0.30, 0.75, 0.30), (0.30, 0.30, 0.75), (0.75, 0.75, 0.30),
            (0.75, 0.30, 0.75), (0.30, 0.75, 0.75), (0.60, 0.45, 0.25), (0.25, 0.45, 0.60),
            (0.45, 0.60, 0.25), (0.55, 0.55, 0.55))
_SQRT3 = 1.7320508075688772  # a uniform on [-sqrt(3), sqrt(3)] has std 1 (no libm call)

_COARSE, _FINE = 5, 11  # control points per side of the two background-noise octaves
_SQRT3_2 = 0.8660254037844386  # sqrt(3) / 2, written out so no libm call is involved
# iq's five-point star: the unit vectors at -36 and 216 degrees, as literals.
_K1X, _K1Y = 0.809016994375, -0.587785252292


# --------------------------------------------------------------------------- helpers


def _check_size(size: Size) -> tuple[int, int]:
    """Normalise ``size`` to (width, height) and check the supported range."""
    if isinstance(size, (int, np.integer)):
        width = height = int(size)
    elif isinstance(size, (str, bytes)):
        raise ValueError(f"size must be an int or (width, height), got {size!r}")
    else:
        try:
            width, height = (int(s) for s in size)
        except (TypeError, ValueError):
            raise ValueError(f"size must be an int or (width, height), got {size!r}") from None
    for name, value in (("width", width), ("height", height)):
        if not MIN_SIZE <= value <= MAX_SIZE:
            raise ValueError(f"image {name} {value} is outside the supported range {MIN_SIZE}..{MAX_SIZE} px")
    return width, height


def _check_style(style: str) -> str:
    if style not in STYLES:
        raise ValueError(f"style must be one of {STYLES}, got {style!r}")
    return style


def _check_split(split: str) -> int:
    if split not in SPLIT_CODES:
        raise ValueError(f"split must be one of {sorted(SPLIT_CODES)}, got {split!r}")
    return SPLIT_CODES[split]


def item_rng(index: int, split: str = "train", seed: int = 0) -> np.random.Generator:
    """The random generator of one item, derived from (seed, split, index).

    ``SeedSequence`` hashes the three numbers into independent streams, so neighbouring
    indices and seeds give unrelated images.
    """
    code = _check_split(split)
    if int(seed) < 0 or int(index) < 0:
        raise ValueError(f"seed and index must be non-negative, got seed={seed}, index={index}")
    sequence = np.random.SeedSequence(entropy=int(seed), spawn_key=(code, int(index)))
    return np.random.Generator(np.random.PCG64(sequence))


@dataclass(frozen=True)
class _Grid:
    """Pixel-centre coordinates of one resolution, built once and cached."""

    x: np.ndarray  # (1, W) float32, in units of half the shorter side
    y: np.ndarray  # (H, 1) float32
    extent_x: float  # half-width in the same units (1.0 for square images)
    extent_y: float
    px: float  # the size of one pixel in those units
    # Per background-noise octave: (x index0, x index1, x weight (W,), y index0, y index1,
    # y weight (H, W)) for separable smoothstep interpolation of the control points.
    noise: tuple[tuple[np.ndarray, ...], ...]


def _interp_table(n_pixels: int, n_points: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    pos = (np.arange(n_pixels, dtype=np.float64) + 0.5) * ((n_points - 1) / n_pixels)
    i0 = np.floor(pos).astype(np.intp)
    i1 = np.minimum(i0 + 1, n_points - 1)
    t = pos - i0
    weight = (t * t * (3.0 - 2.0 * t)).astype(np.float32)  # smoothstep: no visible grid
    return i0, i1, weight


@functools.lru_cache(maxsize=32)
def _grid(width: int, height: int) -> _Grid:
    short = min(width, height)
    px = 2.0 / short
    x = ((np.arange(width, dtype=np.float64) + 0.5) * px - width / short).astype(np.float32)
    y = ((np.arange(height, dtype=np.float64) + 0.5) * px - height / short).astype(np.float32)
    noise = []
    for points in (_COARSE, _FINE):
        x0, x1, wx = _interp_table(width, points)
        y0, y1, wy = _interp_table(height, points)
        # A contiguous (H, W) weight: broadcasting a column is several times slower.
        wy = np.ascontiguousarray(np.broadcast_to(wy[:, None], (height, width)))
        noise.append((x0, x1, wx, y0, y1, wy))
    return _Grid(x[None, :], y[:, None], width / short, height / short, px, tuple(noise))


def _value_noise(grid: _Grid, octave: int, points: np.ndarray) -> np.ndarray:
    """Upsample (3, P, P) control values to (3, H, W), separably.

    ``np.take`` rather than fancy indexing: the same gather, ten times faster here.
    """
    x0, x1, wx, y0, y1, wy = grid.noise[octave]
    left = np.take(points, x0, axis=2)
    rows = np.take(points, x1, axis=2)
    rows -= left
    rows *= wx
    rows += left  # (3, P, W)
    top = np.take(rows, y0, axis=1)
    out = np.take(rows, y1, axis=1)
    out -= top
    out *= wy
    out += top
    return out  # (3, H, W)


def _rotation(t: float, flip: float) -> tuple[float, float]:
    """(cos, sin) of an angle from t in [-1, 1] and a coin, using only + - * /."""
    t = 2.0 * t - 1.0
    cos, sin = (1.0 - t * t) / (1.0 + t * t), 2.0 * t / (1.0 + t * t)
    return (-cos, -sin) if flip < 0.5 else (cos, sin)


def _contrasting(rng: np.random.Generator, other: np.ndarray) -> np.ndarray:
    """A random colour that differs from ``other`` by >= 0.3 in at least one channel."""
    for _ in range(16):
        colour = rng.random(3)
        if np.max(np.abs(colour - other)) >= 0.3:
            return colour.astype(np.float32)
    return np.where(other > 0.5, other - 0.5, other + 0.5).astype(np.float32)


def _box(u: np.ndarray, v: np.ndarray, bx: float, by: float) -> np.ndarray:
    """Signed distance to an axis-aligned box with half-sides bx, by."""
    qx, qy = np.abs(u) - bx, np.abs(v) - by
    outside = np.sqrt(np.maximum(qx, 0.0) ** 2 + np.maximum(qy, 0.0) ** 2)
    return outside + np.minimum(np.maximum(qx, qy), 0.0)


def _triangle(u: np.ndarray, v: np.ndarray, inradius: float) -> np.ndarray:
    """Equilateral triangle as the intersection of three half-planes (exact on edges)."""
    a = _SQRT3_2 * u
    return np.maximum(np.maximum(-v, a + 0.5 * v), -a + 0.5 * v) - inradius


def _star(u: np.ndarray, v: np.ndarray, radius: float, inner: float) -> np.ndarray:
    """Five-point star (Inigo Quilez's sdStar5): fold the plane into one arm's wedge."""
    u = np.abs(u)
    d = np.maximum(_K1X * u + _K1Y * v, 0.0) * 2.0
    u, v = u - d * _K1X, v - d * _K1Y
    d = np.maximum(-_K1X * u + _K1Y * v, 0.0) * 2.0
    u, v = np.abs(u + d * _K1X), v - d * _K1Y - radius
    bax, bay = -inner * _K1Y, inner * _K1X - 1.0
    h = np.clip((u * bax + v * bay) * (1.0 / (bax * bax + bay * bay)), 0.0, radius)
    dist = np.sqrt((u - bax * h) ** 2 + (v - bay * h) ** 2)
    return np.where(v * bax - u * bay < 0.0, -dist, dist)


def _stripe_edge(w: np.ndarray, period: float) -> np.ndarray:
    """Signed distance (unit coords) to the edges of stripes of the given period."""
    f = w * (1.0 / period)
    return (np.abs(f - np.floor(f) - 0.5) - 0.25) * period


# --------------------------------------------------------------------------- drawing


@functools.cache
def _backdrops() -> tuple[np.ndarray, ...]:
    """The :data:`BACKDROPS` photographs as (3, H, W) float32 arrays in [0, 1] (loaded once)."""
    try:
        import skimage
    except ImportError:
        raise ImportError("the 'natural' style of the built-in dataset draws its backgrounds from "
                          "scikit-image's sample photographs: pip install scikit-image (it is in "
                          "this project's 'book' extra)") from None
    folder = Path(skimage.__file__).parent / "data"
    out = []
    for name in BACKDROPS:
        rgb = np.asarray(Image.open(folder / name).convert("RGB"), dtype=np.float32)
        out.append(np.ascontiguousarray(rgb.transpose(2, 0, 1)) * np.float32(1.0 / 255.0))
    return tuple(out)


def _backdrop_patch(q: list[float], width: int, height: int) -> np.ndarray:
    """A (3, H, W) patch of one backdrop photograph, chosen and placed by ``q`` (5 uniforms):
    a window of 30-80% of the photo's shorter side, sampled at the nearest pixel (integer
    indexing, so the same bytes everywhere), flipped left-right half of the time."""
    photos = _backdrops()
    photo = photos[min(int(q[0] * len(photos)), len(photos) - 1)]
    _, ph, pw = photo.shape
    side = (0.3 + 0.5 * q[1]) * min(ph, pw)
    win_w, win_h = side * width / max(width, height), side * height / max(width, height)
    x0, y0 = q[2] * (pw - win_w), q[3] * (ph - win_h)
    cols = np.minimum((x0 + (np.arange(width) + 0.5) * (win_w / width)).astype(np.int64), pw - 1)
    rows = np.minimum((y0 + (np.arange(height) + 0.5) * (win_h / height)).astype(np.int64), ph - 1)
    if q[4] < 0.5:
        cols = cols[::-1]
    return photo[:, rows[:, None], cols[None, :]]


def _palette_colour(label: int, q: list[float]) -> np.ndarray:
    """A colour from class ``label``'s palette: its centre +- 0.25 per channel (3 uniforms)."""
    centre = _PALETTE[label]
    return np.asarray([min(1.0, max(0.0, c + 0.5 * (x - 0.5))) for c, x in zip(centre, q, strict=True)],
                      dtype=np.float32)


def _cast(q: list[float]) -> np.ndarray:
    """A colour cast in 0..255 units along natural images' RGB principal axes (3 uniforms), with
    coefficients of std :data:`CAST_STD`; Python float arithmetic, written out in a fixed order."""
    alpha = [(2.0 * x - 1.0) * _SQRT3 * CAST_STD for x in q]
    scale = [a * lam ** 0.5 for a, lam in zip(alpha, CAST_EIGVAL, strict=True)]
    return np.asarray([255.0 * (row[0] * scale[0] + row[1] * scale[1] + row[2] * scale[2])
                       for row in CAST_EIGVEC], dtype=np.float32)


def _draw(label: int, rng: np.random.Generator, width: int, height: int,
          style: str = "shapes") -> np.ndarray:
    """Draw one image of class ``label`` in ``style`` (:data:`STYLES`); returns (H, W, 3) uint8.

    Works channel-first, (3, H, W), so that (H, W) masks broadcast over a contiguous
    inner axis, and in place where it can: both are worth about 2x in speed.
    """
    g = _grid(width, height)
    background = rng.random(3).astype(np.float32)
    colour = _contrasting(rng, background)
    colour2 = _contrasting(rng, colour)
    p = rng.random(20).tolist()  # Python floats: NumPy treats them as weak scalars
    coarse = rng.random((3, _COARSE, _COARSE), dtype=np.float32)
    fine = rng.random((3, _FINE, _FINE), dtype=np.float32)
    clutter = rng.random((3, 8)).tolist()
    if style == "natural":  # drawn after the shapes' own numbers: the same geometry in both styles
        extra = rng.random(12).tolist()
        colour = _palette_colour(label, extra[0:3])
        colour2 = np.where(colour > 0.5, colour - 0.45, colour + 0.45).astype(np.float32)

    # Geometry: radius in units of half the shorter side; centre keeps most of the object in.
    r = 0.3 + 0.3 * p[0]
    cx = (2.0 * p[1] - 1.0) * (g.extent_x - 0.85 * r)
    cy = (2.0 * p[2] - 1.0) * (g.extent_y - 0.85 * r)
    cos, sin = _rotation(p[3], p[4])
    a, b, c = p[5], p[6], p[7]
    soft = 0.8 + 1.2 * p[8]  # edge width in pixels: from crisp to slightly blurred

    if style == "natural":  # a patch of a photograph, dimmed or brightened a little
        img = _backdrop_patch(extra[3:8], width, height) * np.float32(0.7 + 0.5 * extra[8])
    else:  # base colour + two octaves of coloured value noise, centred on the colour
        img = _value_noise(g, 0, coarse)
        img *= 0.1 + 0.4 * p[11]
        fine_noise = _value_noise(g, 1, fine)
        fine_noise *= 0.2 * p[12]
        img += fine_noise
        img += (background - (0.05 + 0.2 * p[11] + 0.1 * p[12]))[:, None, None]

    # Clutter: up to three small discs or squares behind the object.
    for i in range(int(p[18] * 4.0)):
        q = clutter[i]
        qx = (2.0 * q[0] - 1.0) * g.extent_x
        qy = (2.0 * q[1] - 1.0) * g.extent_y
        qr = 0.04 + 0.07 * q[2]
        du, dv = g.x - qx, g.y - qy
        d = np.sqrt(du * du + dv * dv) - qr if q[3] < 0.5 else _box(du, dv, qr, qr)
        cover = np.clip(0.5 - d * (1.0 / g.px), 0.0, 1.0)
        cover *= 0.5 + 0.5 * q[4]
        img += cover * (np.asarray(q[5:8], dtype=np.float32)[:, None, None] - img)

    # The object, in its own unit coordinates (u, v): the shape's "radius" is 1.
    dx, dy = g.x - cx, g.y - cy
    u = dx * (cos / r) + dy * (sin / r)
    v = dy * (cos / r) - dx * (sin / r)
    pattern = None
    name = CLASSES[label]
    if name == "disc":
        d = np.sqrt(u * u + v * v) - 1.0
    elif name == "square":
        d = _box(u, v, 0.82, 0.82)
    elif name == "triangle":
        d = _triangle(u, v, 0.55 + 0.1 * a)
    elif name == "ring":
        d = np.abs(np.sqrt(u * u + v * v) - 0.78) - (0.12 + 0.12 * a)
    elif name == "cross":
        arm = 0.2 + 0.14 * a
        d = np.minimum(_box(u, v, 1.0, arm), _box(u, v, arm, 1.0))
    elif name == "star":
        d = _star(u, v, 1.05, 0.38 + 0.14 * a)
    elif name in ("stripes", "checker"):
        # The outline is a disc or a square at random, so only the texture names the class.
        d = np.sqrt(u * u + v * v) - 0.95 if c < 0.5 else _box(u, v, 0.82, 0.82)
        period = 0.3 + 0.25 * b
        e = _stripe_edge(u, period)
        if name == "checker":
            e2 = _stripe_edge(v, period)
            e = np.copysign(np.minimum(np.abs(e), np.abs(e2)), e * e2)  # stays float32
        pattern = np.clip(0.5 + e * (r / (g.px * soft)), 0.0, 1.0)
    elif name == "ellipse":
        minor = 0.4 + 0.25 * a
        d = (np.sqrt(u * u + (v * (1.0 / minor)) ** 2) - 1.0) * minor
    elif name == "crescent":
        offset, inner = 0.35 + 0.25 * a, 0.8 + 0.15 * b
        bite = np.sqrt((u - offset) ** 2 + v * v) - inner
        d = np.maximum(np.sqrt(u * u + v * v) - 1.0, -bite)
    else:  # pragma: no cover - CLASSES and this chain are edited together
        raise AssertionError(name)

    cover = np.clip(0.5 - d * (r / (g.px * soft)), 0.0, 1.0)
    scos, ssin = _rotation(p[10], 0.0)
    shade = u * scos + v * ssin
    shade *= 0.3 * p[9]
    shade += 1.0  # light falling across the object: +-15% at most
    if pattern is None:
        paint = shade * colour[:, None, None]
    else:
        paint = pattern * (colour2 - colour)[:, None, None]
        paint += colour[:, None, None]
        paint *= shade
    paint -= img
    paint *= cover
    img += paint

    # Scene lighting: overall brightness times a linear gradient in a random direction.
    lcos, lsin = _rotation(p[15], p[16])
    light = g.x * lcos + g.y * lsin
    light *= 0.4 * p[14] / max(g.extent_x, g.extent_y)
    light += 1.0
    light *= (0.6 + 0.55 * p[13]) * 255.0
    img *= light
    if style == "natural":  # the scene's colour cast along the principal axes
        img += _cast(extra[9:12])[:, None, None]

    # Pixel grain, drawn last so that the scene above does not depend on the resolution.
    grain = rng.random((3, height, width), dtype=np.float32)
    grain -= 0.5
    grain *= 0.12 * 255.0 * p[17]
    img += grain
    img += 0.5  # round to nearest in the truncating cast below
    np.clip(img, 0.0, 255.0, out=img)
    return img.transpose(1, 2, 0).astype(np.uint8)


# --------------------------------------------------------------------------- public API


def generate_image(
    index: int, split: str = "train", size: Size = 64, seed: int = 0, style: str = "shapes"
) -> tuple[np.ndarray, int]:
    """Make item ``index`` of a split.

    Args:
        index: the item number (non-negative); its label is ``index % 10``.
        split: ``"train"`` or ``"val"``.
        size: ``n`` for an n x n image, or ``(width, height)``; each side 32..1024 px.
        seed: the dataset seed (non-negative).
        style: ``"shapes"`` or ``"natural"`` (:data:`STYLES`).

    Returns:
        ``(image, label)``: a (H, W, 3) uint8 array and an int.
    """
    width, height = _check_size(size)
    label = int(index) % NUM_CLASSES
    return _draw(label, item_rng(index, split, seed), width, height, _check_style(style)), label


def _as_indices(indices: int | Sequence[int] | np.ndarray) -> np.ndarray:
    if isinstance(indices, (int, np.integer)):
        if indices < 0:
            raise ValueError(f"the number of images must be non-negative, got {indices}")
        return np.arange(int(indices))
    return np.asarray(indices, dtype=np.int64).reshape(-1)


def generate_batch(
    indices: int | Sequence[int] | np.ndarray,
    size: Size = 64,
    split: str = "train",
    seed: int = 0,
    style: str = "shapes",
) -> tuple[np.ndarray, np.ndarray]:
    """Make many items at once, e.g. a whole training set for a notebook.

    Args:
        indices: the item numbers, or an int ``n`` for items ``0..n-1``.
        size: ``n`` for n x n images, or ``(width, height)``; each side 32..1024 px.
        split: ``"train"`` or ``"val"``.
        seed: the dataset seed.
        style: ``"shapes"`` or ``"natural"`` (:data:`STYLES`).

    Returns:
        ``(images, labels)``: (N, H, W, 3) uint8 and (N,) int64 NumPy arrays. Item ``k`` is
        byte-identical to ``generate_image(indices[k], split, size, seed, style)``.
    """
    width, height = _check_size(size)
    _check_split(split)
    _check_style(style)
    idx = _as_indices(indices)
    images = np.empty((len(idx), height, width, 3), dtype=np.uint8)
    labels = idx % NUM_CLASSES
    for k, i in enumerate(idx.tolist()):
        images[k] = _draw(i % NUM_CLASSES, item_rng(i, split, seed), width, height, style)
    return images, labels.astype(np.int64)


def _generate_chunk(args: tuple[np.ndarray, Size, str, int, str]) -> np.ndarray:
    return generate_batch(*args)[0]


def make_tensors(
    split: str = "train", n: int | None = None, size: Size = 64, seed: int = 0,
    style: str = "shapes", workers: int = 1,
) -> tuple[torch.Tensor, torch.Tensor]:
    """A whole split as torch tensors: ``(images uint8 (N, 3, H, W), labels int64 (N,))``.

    Images stay uint8 to save memory (a quarter of float32); convert per batch with
    ``images.float().div_(255)``. Items are ``0..n-1`` of the split (default ``n``: 10,000
    for train, 2,000 for val), the same as ``BuiltinShapes(split, size, n, seed, style=style)``.
    ``workers > 1`` draws them in that many processes: the same bytes (every item has its own
    seed), sooner (large natural-style images take about 10 ms each).
    """
    _check_split(split)
    n = DEFAULT_NUM_IMAGES[split] if n is None else n
    if workers > 1:
        from concurrent.futures import ProcessPoolExecutor

        jobs = [(chunk, size, split, seed, style)
                for chunk in np.array_split(np.arange(n), workers * 4) if len(chunk)]
        with ProcessPoolExecutor(workers) as pool:
            images = np.concatenate(list(pool.map(_generate_chunk, jobs)))
        labels = np.arange(n, dtype=np.int64) % NUM_CLASSES
    else:
        images, labels = generate_batch(n, size=size, split=split, seed=seed, style=style)
    return torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(), torch.from_numpy(labels)


class BuiltinShapes(torch.utils.data.Dataset):
    """The built-in synthetic dataset as a ``torch.utils.data.Dataset``.

    Args:
        split: ``"train"`` or ``"val"`` (disjoint: different per-item seeds).
        size: ``n`` for n x n images, or ``(width, height)``; each side 32..1024 px.
        num_images: number of items; default 10,000 for train and 2,000 for val.
        seed: the dataset seed; the same seed gives the same bytes on any machine.
        transform: if given, it receives a PIL image (like torchvision datasets) and its
            result is returned; if None, items are (3, H, W) float32 tensors in [0, 1].
        style: ``"shapes"`` or ``"natural"`` (:data:`STYLES`).

    Item ``i`` is ``(image, label)`` with ``label == i % 10`` (an index into
    :data:`CLASSES`).
    """

    classes: tuple[str, ...] = CLASSES

    def __init__(
        self,
        split: str = "train",
        size: Size = 64,
        num_images: int | None = None,
        seed: int = 0,
        transform: Callable[[Image.Image], Any] | None = None,
        style: str = "shapes",
    ) -> None:
        _check_split(split)
        self.style = _check_style(style)
        self.split = split
        self.width, self.height = _check_size(size)
        self.num_images = DEFAULT_NUM_IMAGES[split] if num_images is None else int(num_images)
        if self.num_images < 0:
            raise ValueError(f"num_images must be non-negative, got {num_images}")
        if int(seed) < 0:
            raise ValueError(f"seed must be non-negative, got {seed}")
        self.seed = int(seed)
        self.transform = transform
        self.targets = [i % NUM_CLASSES for i in range(self.num_images)]

    def __len__(self) -> int:
        return self.num_images

    def __getitem__(self, index: int) -> tuple[Any, int]:
        index = operator.index(index)  # accepts NumPy and 0-d torch integers, not floats
        if index < 0:
            index += self.num_images
        if not 0 <= index < self.num_images:
            raise IndexError(f"index {index} out of range for {self.num_images} images")
        label = index % NUM_CLASSES
        image = _draw(label, item_rng(index, self.split, self.seed), self.width, self.height,
                      self.style)
        if self.transform is not None:
            return self.transform(Image.fromarray(image)), label
        return torch.from_numpy(image).permute(2, 0, 1).float().div_(255.0), label

    def __repr__(self) -> str:
        return (
            f"BuiltinShapes(split={self.split!r}, size=({self.width}, {self.height}), "
            f"num_images={self.num_images}, seed={self.seed}, style={self.style!r})"
            "  # synthetic, 10 classes"
        )


def write_image_folder(
    root: str | Path,
    size: Size = 256,
    train_per_class: int = 50,
    val_per_class: int = 10,
    seed: int = 0,
    quality: int = 90,
    progress: bool = False,
    style: str = "shapes",
) -> Path:
    """Write the built-in dataset as an ImageNet-style folder of JPEG files.

    Layout: ``root/train/<class>/<class>_<index>.JPEG`` and the same under ``root/val``,
    with the class names of :data:`CLASSES` in place of ImageNet's WordNet ids, so
    :func:`alexnet_lib.data.imagenet_folder` reads it like ImageNet. ``<index>`` is the item
    number in the split, so ``generate_image(index, split, size, seed)`` gives the pixels
    the JPEG was encoded from. Existing files of the same name are overwritten.

    Args:
        root: the folder to write (created if needed).
        size: ``n`` for n x n, or ``(width, height)`` such as ``(500, 375)``, ImageNet's
            most common size (each side up to 1024 px).
        train_per_class, val_per_class: images per class in each split.
        seed: the dataset seed.
        quality: JPEG quality (1..95).
        progress: show a tqdm progress bar.
        style: ``"shapes"`` or ``"natural"`` (:data:`STYLES`).

    Returns:
        ``root`` as a Path.
    """
    width, height = _check_size(size)
    _check_style(style)
    if not 1 <= quality <= 95:
        raise ValueError(f"JPEG quality must be in 1..95, got {quality}")
    root = Path(root)
    jobs = []
    for split, per_class in (("train", train_per_class), ("val", val_per_class)):
        if per_class < 0:
            raise ValueError(f"{split}_per_class must be non-negative, got {per_class}")
        for name in CLASSES:
            (root / split / name).mkdir(parents=True, exist_ok=True)
        # Item k * 10 + c has label c, so these are the first per_class items of each class.
        jobs += [(split, i) for i in range(per_class * NUM_CLASSES)]
    if progress:
        from tqdm.auto import tqdm

        jobs = tqdm(jobs, desc=f"writing {root}", unit="img")
    for split, i in jobs:
        label = i % NUM_CLASSES
        image = _draw(label, item_rng(i, split, seed), width, height, style)
        path = root / split / CLASSES[label] / f"{CLASSES[label]}_{i:06d}.JPEG"
        Image.fromarray(image).save(path, format="JPEG", quality=quality)
    return root
