"""What a trained network learned: conv1's kernels and nearest neighbours in fc7's space.

Defined in the book's chapter "What the network learned" (the paper's Section 6.1, Figures 3
and 4). ``python -m alexnet_lib.inspect_net --out book/results/trained_net.json`` trains the
chapter's network and writes its record.

The network is the book's small two-column AlexNet (:func:`.experiments.augmentation.small_alexnet`:
a quarter of the paper's kernels, fully connected layers of 256, He-initialised, standardised
inputs), trained here on the built-in dataset in its ``"natural"`` style (class palettes,
photographic backgrounds, colour casts) with random crops and flips
(:func:`.experiments.augmentation.train_augmented`). No downloaded weights.

What is looked at, as in the paper:

* **conv1's kernels** of each column and their mean :func:`.experiments.columns.colourfulness`
  (Figure 3: one column "largely color-agnostic", the other "largely color-specific");
* **nearest neighbours in fc7's space**: for a test image, the training images whose fc7
  activations (the last hidden layer, after its ReLU, on the centre patch) are closest in
  Euclidean distance (Figure 4); beside them, as the baseline the paper argues against, the
  nearest training images in raw pixel space (the same centre patch, pixels in [0, 1]).

The record stores image *indices*, not images: the built-in generator redraws any item from
its index byte for byte (:func:`alexnet_lib.data.builtin.generate_image`), so the chapter
redraws the neighbours it shows.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from .augment import center_crop
from .data.builtin import CLASSES, STYLES, generate_image
from .experiments.augmentation import PREPROCESS, small_alexnet, train_augmented, training_setup
from .experiments.columns import colourfulness
from .experiments.datasets import builtin_data
from .experiments.loop import History, TensorData, TrainConfig, fixed_threads
from .experiments.records import RESULTS_DIR, git_commit
from .provenance import float_settings

__all__ = ["COMMAND", "DEFAULTS", "conv1_kernels", "column_colourfulness", "fc7_features",
           "pixel_features", "squared_distances", "pair_distances",
           "nearest_neighbours", "distance_percentile", "class_agreement", "train_network",
           "inspect_experiment", "save_record", "load_record", "redraw", "plot_classes", "plot_kernels",
           "plot_neighbours", "plot_history", "run"]

COMMAND = "python -m alexnet_lib.inspect_net"
RECORD = RESULTS_DIR / "trained_net.json"
CODE = ("alexnet_lib/inspect_net.py", "alexnet_lib/augment.py", "alexnet_lib/experiments",
        "alexnet_lib/model.py", "alexnet_lib/lrn.py", "alexnet_lib/data")
"""The code a record's numbers depend on: its commit is marked ``+dirty`` if any of it is not
committed."""
DEFAULTS: dict[str, Any] = dict(n_train=10_000, n_test=1000, image_size=72, crop=64, epochs=40,
                                batch_size=64, lr=0.01, lr_drops=(30, 36), weight_decay=5e-4,
                                seed=0, style="natural", k=5, n_queries=6, n_agreement=200,
                                threads=1)
"""The chapter's run: what ``python -m alexnet_lib.inspect_net`` trains with no flags."""


def conv1_kernels(model: nn.Module) -> Tensor:
    """conv1's weights, (out, 3, k, k), detached (both columns: the first half is column 1)."""
    return model.features.conv1.weight.detach().clone()


def column_colourfulness(weight: Tensor, groups: int = 2) -> list[float]:
    """Mean :func:`~.experiments.columns.colourfulness` of each column's conv1 kernels
    (``weight``'s output kernels split into ``groups`` equal blocks, in order)."""
    return [float(colourfulness(w).mean()) for w in weight.chunk(groups, 0)]


@torch.no_grad()
def fc7_features(model: nn.Module, x: Tensor, crop: int, batch_size: int = 250) -> Tensor:
    """(N, hidden) activations of fc7 after its ReLU, for the centre ``crop`` patch of ``x``.

    ``x`` holds the network's float inputs (as it was trained on them); the model runs in eval
    mode, so dropout is off and the features are a deterministic function of the image."""
    was_training = model.training
    model.eval()
    head = []
    for name, layer in model.classifier.named_children():
        head.append(layer)
        if name == "act7":  # stop before drop7 and fc8: the last hidden layer
            break
    head = nn.Sequential(*head)
    out = []
    for i in range(0, len(x), batch_size):
        f = model.features(center_crop(x[i:i + batch_size], crop))
        out.append(head(torch.flatten(f, 1)))
    model.train(was_training)
    return torch.cat(out) if out else torch.empty(0, 0)


def pixel_features(images: Tensor, crop: int) -> Tensor:
    """(N, 3 * crop * crop) raw pixels in [0, 1] of the centre patch of uint8 ``images``: the
    space whose Euclidean distance the paper contrasts with fc7's."""
    return center_crop(images, crop).float().div(255.0).flatten(1)


def squared_distances(queries: Tensor, keys: Tensor, chunk: int = 2048) -> Tensor:
    """(Q, N) squared Euclidean distances in float64, as |q|^2 + |x|^2 - 2 q.x, with ``keys``
    taken ``chunk`` rows at a time to bound memory (fit for ranking; see
    :func:`nearest_neighbours` for exact distances)."""
    q = queries.double()
    qq = (q * q).sum(1, keepdim=True)
    d2 = []
    for i in range(0, len(keys), chunk):
        x = keys[i:i + chunk].double()
        d2.append(qq + (x * x).sum(1)[None, :] - 2.0 * q @ x.T)
    return torch.cat(d2, 1)


def pair_distances(queries: Tensor, keys: Tensor, index: Tensor) -> Tensor:
    """(Q, k) Euclidean distances from each query to the keys ``index`` names (Q, k), computed
    from the differences in float64."""
    near = keys[index.flatten()].double().view(*index.shape, -1)
    return (near - queries.double()[:, None, :]).pow(2).sum(2).sqrt()


def nearest_neighbours(queries: Tensor, keys: Tensor, k: int,
                       chunk: int = 2048) -> tuple[Tensor, Tensor]:
    """The ``k`` rows of ``keys`` nearest to each row of ``queries`` in Euclidean distance.

    Returns ``(indices, distances)``, both (Q, k), nearest first; ties go to the lower index.
    The ranking uses :func:`squared_distances`; the distances returned are recomputed from the
    differences (:func:`pair_distances`), so they are exact to float64 rounding."""
    if not 1 <= k <= len(keys):
        raise ValueError(f"k must be in 1..{len(keys)} (the number of keys), got {k}")
    order = squared_distances(queries, keys, chunk).argsort(dim=1, stable=True)[:, :k]
    return order, pair_distances(queries, keys, order)


def distance_percentile(d2: Tensor, index: Tensor) -> Tensor:
    """(Q, k): for each key ``index`` names, the share of all keys closer to its query than it
    (``d2``: the (Q, N) :func:`squared_distances`); 0 for the nearest key, about 0.5 for a key
    drawn at random."""
    picked = d2.gather(1, index)
    return (d2[:, None, :] < picked[:, :, None]).double().mean(2)


def class_agreement(neighbours: Tensor, key_labels: Tensor, query_labels: Tensor) -> float:
    """Share of (query, neighbour) pairs whose neighbour has the query's class (10 balanced
    classes: 0.1 by chance)."""
    return float((key_labels[neighbours] == query_labels[:, None]).double().mean())


def train_network(data: TensorData, crop: int, epochs: int, batch_size: int, lr: float,
                  lr_drops: tuple[int, ...], weight_decay: float, seed: int,
                  threads: int | None = 1,
                  progress: bool = False) -> tuple[nn.Module, History, TrainConfig, dict]:
    """Train the small two-column AlexNet on ``data`` with random crops and flips.

    Returns the trained model, its per-epoch history, the :class:`TrainConfig` and its JSON
    description. ``threads`` CPU threads (the run's floats depend on it)."""
    config, described = training_setup(data, data.image_size, crop, epochs, batch_size, lr,
                                       lr_drops, weight_decay, seed, augment="crops+flips",
                                       threads=threads)
    config = dataclasses.replace(config, threads=threads)
    model, hist = train_augmented(lambda: small_alexnet(crop), data, crop, config,
                                  crops_flips=True, label="two columns", progress=progress)
    return model, hist, config, described


def _neighbour_rows(queries: list[int], idx: Tensor, dist: Tensor,
                    pixel_dist: Tensor) -> list[dict[str, Any]]:
    def rounded(values: Tensor) -> list[float]:
        return [round(float(d), 4) for d in values]

    return [{"query": q, "neighbours": i.tolist(), "distances": rounded(ds),
             "pixel_distances": rounded(ps)}
            for q, i, ds, ps in zip(queries, idx, dist, pixel_dist, strict=True)]


def inspect_experiment(n_train: int = DEFAULTS["n_train"], n_test: int = DEFAULTS["n_test"],
                       image_size: int = DEFAULTS["image_size"], crop: int = DEFAULTS["crop"],
                       epochs: int = DEFAULTS["epochs"], batch_size: int = DEFAULTS["batch_size"],
                       lr: float = DEFAULTS["lr"],
                       lr_drops: tuple[int, ...] = DEFAULTS["lr_drops"],
                       weight_decay: float = DEFAULTS["weight_decay"], seed: int = DEFAULTS["seed"],
                       style: str = DEFAULTS["style"], k: int = DEFAULTS["k"],
                       n_queries: int = DEFAULTS["n_queries"],
                       n_agreement: int = DEFAULTS["n_agreement"],
                       threads: int | None = DEFAULTS["threads"],
                       data: TensorData | None = None, progress: bool = False) -> dict[str, Any]:
    """Train the network, then measure what the chapter shows; returns a JSON-ready dict.

    ``n_queries`` test images drawn at random (seeded) get their ``k`` nearest training images
    in fc7 space and in pixel space; the first ``n_agreement`` test images (balanced over the
    classes) give the class-agreement rates of the two kinds of neighbours."""
    data = data or builtin_data(n_train, n_test, image_size, seed, style)
    if n_agreement > len(data.test_x):
        raise ValueError(f"n_agreement {n_agreement} exceeds the {len(data.test_x)} test images")
    torch.manual_seed(seed)  # the same initial weights train_network starts from
    initial = conv1_kernels(small_alexnet(crop))
    model, hist, config, described = train_network(data, crop, epochs, batch_size, lr,
                                                    lr_drops, weight_decay, seed, threads,
                                                    progress)
    described |= dict(style=style, k=k, n_queries=n_queries, n_agreement=n_agreement,
                      model=dict(model.config))
    pick = torch.Generator().manual_seed(seed + 3)
    queries = sorted(torch.randperm(len(data.test_x), generator=pick)[:n_queries].tolist())
    agree = list(range(n_agreement))
    with fixed_threads(config.threads):
        train_x, test_x = data.inputs(PREPROCESS)
        f_train = fc7_features(model, train_x, crop)
        f_test = fc7_features(model, test_x, crop)
        p_train = pixel_features(data.train_x, crop)
        p_test = pixel_features(data.test_x, crop)
        shown = {name: nearest_neighbours(f[queries], keys, k)
                 for name, f, keys in (("fc7", f_test, f_train), ("pixels", p_test, p_train))}
        rows = {name: _neighbour_rows(queries, idx, dist,
                                      pair_distances(p_test[queries], p_train, idx))
                for name, (idx, dist) in shown.items()}
        agreement: dict[str, Any] = {}
        d2_pixels = squared_distances(p_test[agree], p_train)
        for name, f, keys in (("fc7", f_test, f_train), ("pixels", p_test, p_train)):
            idx, _ = nearest_neighbours(f[agree], keys, k)
            agreement[name] = {
                "k": class_agreement(idx, data.train_y, data.test_y[agree]),
                "first": class_agreement(idx[:, :1], data.train_y, data.test_y[agree]),
                # How close in pixels these neighbours are, among all training images.
                "pixel_percentile_median": float(distance_percentile(d2_pixels, idx).median()),
                "neighbours": idx.tolist(),  # so the rates can be recomputed from the indices
            }
    w = conv1_kernels(model)
    return {
        "config": described,
        "data": data.description,
        "parameters": hist.parameters,
        "fc7_units": int(f_train.shape[1]),
        "history": hist.to_dict(),
        "test_error": hist.test_error[-1],
        "train_error": hist.train_error[-1],
        "conv1": np.round(w.double().numpy(), 4).tolist(),
        "conv1_colourfulness_per_column": column_colourfulness(w),
        "conv1_colourfulness_per_kernel": [round(float(c), 4) for c in colourfulness(w)],
        "conv1_initial_colourfulness_per_column": column_colourfulness(initial),
        "queries": {"test_indices": queries,
                    "fc7": rows["fc7"], "pixels": rows["pixels"]},
        "agreement": {"queries": f"the first {n_agreement} test images",
                      "n": n_agreement, "chance": 1 / len(CLASSES), **agreement},
    }


def save_record(result: dict[str, Any], path: str | Path = RECORD, command: str = COMMAND,
                threads: int | None = DEFAULTS["threads"]) -> Path:
    """Write ``result`` (of :func:`inspect_experiment`) as the chapter's JSON record, with the
    command, the code's commit and the settings its floats depend on."""
    payload = {"experiment": "trained_net", "dataset": "builtin", "command": command,
               "commit": git_commit(paths=CODE),
               "hardware": float_settings(threads), "config": result["config"],
               "records": [], "result": result}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=1) + "\n")
    return path


def load_record(path: str | Path = RECORD) -> dict[str, Any]:
    """Read a record written by :func:`save_record`."""
    return json.loads(Path(path).read_text())


def redraw(index: int, config: dict[str, Any], split: str = "train") -> np.ndarray:
    """Item ``index`` of ``split`` as the record's run saw it: (H, W, 3) uint8, the centre
    ``crop`` patch of the generated image (``config``: a record's ``config``)."""
    image, _ = generate_image(index, split, config["image_size"], config["seed"], config["style"])
    top = (config["image_size"] - config["crop"]) // 2
    return image[top:top + config["crop"], top:top + config["crop"]]


def plot_classes(config: dict[str, Any], per_class: int = 1):
    """The first ``per_class`` training images of each class, as the record's run saw them
    (centre patches, :func:`redraw`), titled with the class."""
    import matplotlib.pyplot as plt

    n = len(CLASSES)
    fig, axes = plt.subplots(per_class, n, figsize=(1.1 * n, 1.25 * per_class + 0.1),
                             squeeze=False)
    for r in range(per_class):
        for c, name in enumerate(CLASSES):
            ax = axes[r, c]
            ax.imshow(redraw(r * n + c, config))  # item i has label i % 10
            ax.set_title(name, fontsize=8, pad=2)
            ax.set_xticks([])
            ax.set_yticks([])
    fig.tight_layout(pad=0.3)
    return fig


def plot_kernels(result: dict[str, Any]):
    """The paper's Figure 3 for the record's net: conv1's kernels, one panel per column
    (:func:`alexnet_lib.viz.plot_column_filters`)."""
    from .viz import plot_column_filters

    cfg = result["config"]
    return plot_column_filters(torch.tensor(result["conv1"]),
                               f"conv1 after {cfg['epochs']} epochs on {cfg['crop']}x"
                               f"{cfg['crop']} patches of {cfg['n_train']:,} generated images "
                               "(CPU)")


def plot_neighbours(result: dict[str, Any]):
    """The paper's Figure 4 for the record's net: per row a test image, its nearest training
    images in fc7 space and, to the right, in pixel space, redrawn from their indices; each
    image titled with its class and (neighbours) its distance to the query."""
    import matplotlib.pyplot as plt

    cfg, q = result["config"], result["queries"]
    k = cfg["k"]
    rows = len(q["test_indices"])
    cols = 2 * k + 2  # query, k fc7 neighbours, a gap, k pixel neighbours
    fig, axes = plt.subplots(rows, cols, figsize=(1.0 * cols, 1.12 * rows + 0.4),
                             gridspec_kw={"width_ratios": [1] * (k + 1) + [0.25] + [1] * k})
    axes = np.atleast_2d(axes)
    for r, (fc7, pix) in enumerate(zip(q["fc7"], q["pixels"], strict=True)):
        query_class = fc7["query"] % len(CLASSES)
        cells = [(0, fc7["query"], "val", CLASSES[query_class], None)]
        cells += [(1 + j, i, "train", CLASSES[i % len(CLASSES)], d)
                  for j, (i, d) in enumerate(zip(fc7["neighbours"], fc7["distances"],
                                                  strict=True))]
        cells += [(k + 2 + j, i, "train", CLASSES[i % len(CLASSES)], d)
                  for j, (i, d) in enumerate(zip(pix["neighbours"], pix["distances"],
                                                  strict=True))]
        for c, index, split, name, dist in cells:
            ax = axes[r, c]
            ax.imshow(redraw(index, cfg, split))
            same = index % len(CLASSES) == query_class
            label = name if dist is None else f"{name}\n{dist:.1f}"
            ax.set_title(label, fontsize=6.5, color="black" if same or dist is None else "crimson",
                         pad=2)
            ax.set_xticks([])
            ax.set_yticks([])
            if dist is None:
                for side in ax.spines.values():
                    side.set_linewidth(2)
        axes[r, k + 1].axis("off")
    axes[0, 0].text(0.5, 1.55, "test image", transform=axes[0, 0].transAxes, ha="center",
                    fontsize=8, weight="bold")
    axes[0, 1 + k // 2].text(0.5, 1.55, "nearest in fc7 space", ha="center", fontsize=8,
                             weight="bold", transform=axes[0, 1 + k // 2].transAxes)
    axes[0, k + 2 + k // 2].text(0.5, 1.55, "nearest in pixel space", ha="center", fontsize=8,
                                 weight="bold", transform=axes[0, k + 2 + k // 2].transAxes)
    fig.subplots_adjust(left=0.01, right=0.99, top=1 - 0.55 / (1.12 * rows + 0.4), bottom=0.01,
                        wspace=0.08, hspace=0.45)
    return fig


def plot_history(result: dict[str, Any]):
    """Training and test error per epoch of the record's run (centre patches)."""
    import matplotlib.pyplot as plt

    h = result["history"]
    epochs = range(1, len(h["test_error"]) + 1)
    fig, ax = plt.subplots(figsize=(6.5, 2.8))
    ax.plot(epochs, h["train_error"], "--", color="#4C72B0", label="training images")
    ax.plot(epochs, h["test_error"], color="#4C72B0", label="test images")
    ax.axhline(0.9, color="grey", lw=0.8, ls=":")
    ax.text(1, 0.86, "chance (10 classes)", fontsize=8, color="grey", va="top")
    ax.set_ylim(0, 1)
    ax.set_xlabel("epoch")
    ax.set_ylabel("top-1 error (centre patch)")
    ax.legend(fontsize=8, loc="center right")
    fig.tight_layout()
    return fig


def _drops(text: str) -> tuple[int, ...]:
    return tuple(int(v) for v in text.split(",") if v.strip())


def run(argv: list[str] | None = None) -> Path:
    """Command line: train the chapter's network and write its record (``--out``)."""
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog=COMMAND, description=__doc__.split("\n")[0])
    for name in ("n_train", "n_test", "image_size", "crop", "epochs", "batch_size", "seed", "k",
                 "n_queries", "n_agreement", "threads"):
        parser.add_argument("--" + name.replace("_", "-"), type=int, default=DEFAULTS[name],
                            help=f"default {DEFAULTS[name]}")
    parser.add_argument("--style", choices=STYLES, default=DEFAULTS["style"],
                        help="the built-in dataset's style (default natural)")
    parser.add_argument("--lr-drops", type=_drops, default=DEFAULTS["lr_drops"], metavar="E1,E2",
                        help="epochs after which the learning rate is divided by 10")
    parser.add_argument("--out", default=str(RECORD), help="the JSON record to write")
    parser.add_argument("--no-progress", dest="progress", action="store_false")
    args = parser.parse_args(argv)
    options = {k: v for k, v in vars(args).items() if k not in ("out", "progress")}
    result = inspect_experiment(**options, progress=args.progress)
    path = save_record(result, args.out, " ".join([COMMAND, *argv]), threads=args.threads)
    a = result["agreement"]
    print(f"test error {result['test_error']:.1%}; colourfulness per column "
          f"{[round(c, 3) for c in result['conv1_colourfulness_per_column']]}; class agreement "
          f"of {result['config']['k']} neighbours: fc7 {a['fc7']['k']:.1%}, "
          f"pixels {a['pixels']['k']:.1%}")
    print(f"wrote {path}")
    return path


if __name__ == "__main__":
    run()
