"""Plots for the book's chapters. Each function returns a matplotlib Figure.

The chapters call these so that notebooks stay short; nothing in the training path imports this
module (matplotlib is a dependency of the ``book`` extra only).
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle

from .model import LayerRow

__all__ = ["plot_architecture", "plot_layer_costs", "plot_crops_and_flips", "plot_colour_pca",
           "plot_pca_lighting", "plot_augmentation_curves", "plot_column_filters",
           "plot_communication", "plot_scorecard", "plot_dataset_samples"]


def _layer_notes(model: torch.nn.Module) -> dict[str, str]:
    """Per table row name, what the block does: kernel/stride of convs and pools, and the LRN
    and dropout layers folded into the row above (they keep the shape)."""
    notes: dict[str, str] = {}
    last = ""
    for name, m in model.named_modules():
        short = name.rsplit(".", 1)[-1]
        if isinstance(m, torch.nn.Conv2d):
            k, st = m.kernel_size, m.stride
            last = short
            notes[last] = f"{k[0]}x{k[1]} /{st[0]}"
        elif isinstance(m, torch.nn.MaxPool2d):
            last = short
            notes[last] = f"max {m.kernel_size}/{m.stride}"
        elif isinstance(m, torch.nn.Linear):
            last = short
            notes[last] = ""
        elif type(m).__name__ == "LocalResponseNorm" and last:
            notes[last] += "\n+ LRN"
        elif isinstance(m, torch.nn.Dropout) and last:
            notes[last] += f"dropout\n{m.p:g}"
    return notes


def plot_architecture(rows: Sequence[LayerRow], groups: int = 2,
                      model: torch.nn.Module | None = None) -> Figure:
    """Feature maps as blocks, left to right (defined in "The architecture").

    A block's height is the map's side in pixels and its width grows with the number of
    channels; with ``groups=2`` each conv block is drawn as the paper's two columns (towers),
    and the layers that take input from both columns (conv3, fc6, fc7, fc8) are marked. With
    ``model`` (the network ``rows`` come from), each block also says what makes it: kernel size
    and stride of the convolutions and poolings, and the LRN and dropout layers.
    """
    notes = _layer_notes(model) if model is not None else {}
    fig, ax = plt.subplots(figsize=(11, 3.9 if notes else 3.6))
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
        below = -height / 2 - 3
        if notes.get(row.name):
            ax.text(x + width / 2, below, notes[row.name], ha="center", va="top", fontsize=7)
            below -= 4 + 5 * notes[row.name].count("\n")
        if groups == 2 and row.name in crossing:
            ax.text(x + width / 2, below, "both\ncolumns", ha="center", va="top",
                    fontsize=7, color="crimson")
        x += width + 1.2
    ax.set_xlim(-0.5, x)
    ax.set_ylim(-55 if notes else -45, 45)
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
    fig, ax = plt.subplots(figsize=(10.5, 3.4))
    pos = range(len(layers))
    ax.bar([p - 0.2 for p in pos], [r.params for r in layers], width=0.4, label="parameters")
    ax.bar([p + 0.2 for p in pos], [r.macs for r in layers], width=0.4,
           label="multiply-accumulates per image")
    ax.set_yscale("log")
    ax.set_xticks(list(pos), names)
    ax.set_ylabel("count (log scale)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)  # off the bars
    ax.set_title("Where AlexNet's parameters and compute are")
    fig.tight_layout()
    return fig


_KIND_COLOURS = {"conv": "tab:blue", "fc": "tab:orange", "lrn": "tab:red", "pool": "tab:green",
                 "relu": "tab:purple", "dropout": "tab:gray", "flatten": "tab:gray"}


def plot_layer_times(result: dict, rows: Sequence[LayerRow] = ()) -> Figure:
    """Each layer's share of a training step's time (a ``bench layers`` record), coloured by kind,
    beside its share of the multiply-accumulates from ``rows`` (defined in "Training AlexNet at
    ImageNet scale")."""
    layers = [r for r in result["layers"] if r["kind"] != "flatten"]
    total = sum(r["seconds"] for r in result["layers"])
    macs = {r.name: r.macs for r in rows}
    all_macs = sum(macs.values()) or 1
    fig, ax = plt.subplots(figsize=(9, 3.6))
    pos = np.arange(len(layers))
    ax.bar(pos - 0.2, [100 * r["seconds"] / total for r in layers], width=0.4,
           color=[_KIND_COLOURS.get(r["kind"], "black") for r in layers])
    if macs:
        ax.bar(pos + 0.2, [100 * macs.get(r["name"], 0) / all_macs for r in layers], width=0.4,
               color="none", edgecolor="black", hatch="//")
    ax.set_xticks(pos, [r["name"] for r in layers], rotation=60)
    ax.set_ylabel("% of the step")
    handles = [Rectangle((0, 0), 1, 1, color=c) for c in _KIND_COLOURS.values()][:5]
    first = ax.legend(handles, list(_KIND_COLOURS)[:5], loc="upper right", title="kind", ncol=5,
                      fontsize=8)
    ax.add_artist(first)
    if macs:
        shares = [Rectangle((0, 0), 1, 1, color="lightgray"),
                  Rectangle((0, 0), 1, 1, facecolor="none", edgecolor="black", hatch="//")]
        ax.legend(shares, ["share of the time (colour: kind)", "share of the multiply-accumulates"],
                  loc="upper center", bbox_to_anchor=(0.5, 0.83), fontsize=8)
    ax.set_title(f"Where a training step's time goes: batch {result['batch_size']}, "
                 f"{result['dtype']}, {result['device']}")
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- data and PCA colour
# augmentation ("Data and PCA colour augmentation") and the two-GPU split ("The two-GPU split")


def _show(ax, image: torch.Tensor, title: str = "") -> None:
    ax.imshow(image.detach().cpu().clamp(0, 1).permute(1, 2, 0).numpy())
    ax.set_title(title, fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])


def plot_crops_and_flips(image: torch.Tensor, crop: int, n_random: int = 4, seed: int = 0) -> Figure:
    """A photograph with the ten test patches outlined, and random training patches and flips.

    Defined in "Data and PCA colour augmentation". ``image`` is (3, H, W) in [0, 1].
    """
    from .augment import random_crop_flip

    h, w = image.shape[-2:]
    fig, axes = plt.subplots(1, n_random + 1, figsize=(2.3 * (n_random + 1), 2.6))
    _show(axes[0], image, f"{w}x{h}: the 5 test patch positions")
    top, left = round((h - crop) / 2), round((w - crop) / 2)
    for (y, x), colour in zip(((0, 0), (0, w - crop), (h - crop, 0), (h - crop, w - crop), (top, left)),
                              ("#4C72B0", "#DD8452", "#55A868", "#C44E52", "white"), strict=True):
        axes[0].add_patch(Rectangle((x - 0.5, y - 0.5), crop, crop, fill=False, edgecolor=colour, lw=1.5))
    g = torch.Generator().manual_seed(seed)
    patches = random_crop_flip(image[None].expand(n_random, -1, -1, -1), crop, g)
    for k in range(n_random):
        _show(axes[k + 1], patches[k], f"random {crop}x{crop} patch #{k + 1}")
    fig.suptitle("Training sees a random patch, mirrored half the time; testing averages 10 patches "
                 "(these 5 and their mirror images)", fontsize=9)
    fig.tight_layout()
    return fig


def plot_colour_pca(pixels: torch.Tensor, eigenvalues: torch.Tensor, eigenvectors: torch.Tensor,
                    title: str, max_points: int = 4000, seed: int = 0) -> Figure:
    """The RGB pixel cloud seen along its principal components, and the components as colours.

    Defined in "Data and PCA colour augmentation". ``pixels`` is (M, 3) in [0, 1]. Left: a sample
    of pixels projected on the first two components, each drawn in its own colour. Right: the
    mean colour moved by -2, -1, 0, +1, +2 standard deviations (sqrt of the eigenvalue) along
    each component: what "lighting along p_i" looks like.
    """
    g = torch.Generator().manual_seed(seed)
    pick = torch.randperm(len(pixels), generator=g)[:max_points]
    sample = pixels[pick].double()
    mean = pixels.double().mean(0)
    vecs = eigenvectors.double()
    proj = (sample - mean) @ vecs
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 3.6), gridspec_kw={"width_ratios": [1.1, 1]})
    ax.scatter(proj[:, 0].numpy(), proj[:, 1].numpy(), c=sample.clamp(0, 1).numpy(), s=4)
    ax.set_xlabel("component 1")
    ax.set_ylabel("component 2")
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_title(title, fontsize=9)
    steps = torch.tensor([-2.0, -1.0, 0.0, 1.0, 2.0], dtype=torch.float64)
    sd = eigenvalues.double().clamp_min(0).sqrt()
    swatches = mean + steps[None, :, None] * (sd[:, None, None] * vecs.T[:, None, :])  # (3, 5, 3)
    ax2.imshow(swatches.clamp(0, 1).numpy())
    ax2.set_xticks(range(5), ["-2 sd", "-1 sd", "mean", "+1 sd", "+2 sd"])
    share = eigenvalues / eigenvalues.sum()
    ax2.set_yticks(range(3), [f"p{i + 1}: {100 * float(share[i]):.1f}% of variance\n"
                              f"({', '.join(f'{v:+.2f}' for v in vecs[:, i].tolist())})"
                              for i in range(3)], fontsize=8)
    ax2.set_title("the mean colour moved along each component", fontsize=9)
    fig.tight_layout()
    return fig


def plot_pca_lighting(photos: dict[str, torch.Tensor], lightings: dict[str, object],
                      draws: int = 4, seed: int = 0, exaggerate: float = 10.0) -> Figure:
    """Each photograph as it is, then under a few random PCA colour shifts, per variant of the formula.

    Defined in "Data and PCA colour augmentation". ``lightings`` maps a row label to a
    :class:`~alexnet_lib.augment.PCALighting` for images in [0, 1]; every row uses the same
    random ``alpha`` draws (the same generator seed), so rows differ only in the formula. The
    paper's shifts are small; a last row repeats the first variant with ``alpha``'s spread times
    ``exaggerate`` (0: no such row), so that the direction of the shifts can be seen.
    """
    import copy

    names = list(photos)
    rows = dict(lightings)
    if exaggerate:
        label, first = next(iter(lightings.items()))
        louder = copy.copy(first)
        louder.std = first.std * exaggerate
        rows[f"{label},\nalpha x{exaggerate:g}"] = louder
    per = draws // 2
    cols = len(names) * (per + 1)
    fig, axes = plt.subplots(len(rows), cols, figsize=(1.45 * cols, 1.65 * len(rows)),
                             squeeze=False)
    for r, (label, lighting) in enumerate(rows.items()):
        for i, name in enumerate(names):
            g = torch.Generator().manual_seed(seed + i)
            batch = photos[name][None].expand(per, -1, -1, -1).double()
            shifted = lighting(batch, g)
            _show(axes[r, i * (per + 1)], photos[name].float(), "original" if r == 0 else "")
            for k in range(per):
                _show(axes[r, i * (per + 1) + 1 + k], shifted[k].float(),
                      f"shift {k + 1}" if r == 0 else "")
        axes[r, 0].set_ylabel(label, fontsize=8, rotation=0, ha="right", va="center")
    fig.suptitle("PCA colour augmentation: each image shifted by one random RGB vector", fontsize=9)
    fig.tight_layout()
    return fig


def plot_augmentation_curves(result: dict) -> Figure:
    """Training and test error per epoch for each arm of the augmentation experiment.

    Defined in "Data and PCA colour augmentation" (``result`` from
    :func:`alexnet_lib.experiments.augmentation.augmentation_experiment`).
    """
    fig, ax = plt.subplots(figsize=(8, 3.6))
    colours = ("#4C72B0", "#DD8452", "#55A868", "#C44E52")
    for (name, arm), colour in zip(result["arms"].items(), colours, strict=False):
        hist = arm["history"]
        epochs = range(1, len(hist["train_error"]) + 1)
        ax.plot(epochs, hist["train_error"], "--", color=colour, label=f"{name}: training")
        ax.plot(epochs, hist["test_error"], "-", color=colour, label=f"{name}: test")
    ax.set_xlabel("epoch")
    ax.set_ylabel("top-1 error (centre patch)")
    ax.legend(fontsize=8, ncol=2)
    ax.set_title("Augmentation on the built-in dataset (small AlexNet, CPU)", fontsize=10)
    fig.tight_layout()
    return fig


def plot_column_filters(weight: torch.Tensor, title: str = "") -> Figure:
    """conv1's filters as colour tiles, one panel per column (the paper's Figure 3 layout).

    Defined in "The two-GPU split". Each filter is scaled to fill [0, 1] on its own; the
    panels' titles give each column's mean :func:`colourfulness`.
    """
    import math

    from .experiments.columns import colourfulness

    halves = weight.detach().cpu().chunk(2, 0)
    per_row = max(1, math.ceil(math.sqrt(halves[0].shape[0] * 2)))
    fig, axes = plt.subplots(1, 2, figsize=(9, 2.6))
    for ax, half, label in zip(axes, halves, ("column 1", "column 2"), strict=True):
        n, _, k, _ = half.shape
        rows = math.ceil(n / per_row)
        canvas = torch.ones(3, rows * (k + 1) + 1, per_row * (k + 1) + 1)
        for i in range(n):
            f = half[i]
            f = (f - f.min()) / (f.max() - f.min()).clamp_min(1e-12)
            r, c = divmod(i, per_row)
            canvas[:, 1 + r * (k + 1):1 + r * (k + 1) + k, 1 + c * (k + 1):1 + c * (k + 1) + k] = f
        _show(ax, canvas, f"{label}: mean colourfulness {float(colourfulness(half).mean()):.2f}")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def plot_communication(rows: list[dict]) -> Figure:
    """Bytes per training step: the two-GPU split's crossings vs a data-parallel all-reduce.

    Defined in "The two-GPU split". ``rows`` are dicts with ``batch_size``,
    ``model_parallel_bytes_per_step`` and ``data_parallel_bytes_per_step``.
    """
    fig, ax = plt.subplots(figsize=(7, 3.4))
    b = [r["batch_size"] for r in rows]
    ax.plot(b, [r["model_parallel_bytes_per_step"] / 1e6 for r in rows], "o-",
            label="model parallel (the paper's split): activations + their gradients")
    ax.plot(b, [r["data_parallel_bytes_per_step"] / 1e6 for r in rows], "s-",
            label="data parallel: ring all-reduce of all gradients")
    ax.axvline(128, color="grey", lw=0.8, ls=":")
    ax.text(128, ax.get_ylim()[1] * 0.7, " batch 128 (the paper)", fontsize=8)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("images per step (both GPUs together)")
    ax.set_ylabel("MB over the link per step")
    ax.legend(fontsize=8)
    ax.set_title("What two GPUs must exchange per step (fp32)", fontsize=10)
    fig.tight_layout()
    return fig


def plot_scorecard(counts_by_topic: dict[str, dict[str, int]],
                   verdicts: dict[str, str] | None = None) -> Figure:
    """How many records of each claim have each status, as horizontal stacked bars, with the
    claim's verdict (judged on all of them) at the end of its bar.

    Defined in "The claims scorecard". ``counts_by_topic`` maps a claim's label to the number of
    its claim rows with each status (facts and the book's own checks are not claims and are left
    out); ``verdicts`` maps the same labels to the claims' verdicts. Statuses that tested the claim
    are filled bars; those that tested nothing ("needs ImageNet", "cannot be tested here", "not
    yet measured") are hatched outlines, so that they do not read as failures.
    """
    topics = list(counts_by_topic)
    statuses = list(next(iter(counts_by_topic.values())))
    filled = {"reproduced": "#55A868", "not reproduced at this scale": "#C44E52"}
    outlined = {"needs ImageNet": ("#8172B2", "//"), "cannot be tested here": ("#4C72B0", ".."),
                "not yet measured": ("#888888", "\\\\")}
    fig, ax = plt.subplots(figsize=(8.4, 0.35 * len(topics) + 1.6))
    left = [0] * len(topics)
    handles = []
    for status in statuses:
        widths = [counts_by_topic[t][status] for t in topics]
        if status in outlined:
            colour, hatch = outlined[status]
            style = dict(facecolor="white", edgecolor=colour, hatch=hatch, linewidth=1.0)
            label = f"{status} (not tested)"
        else:
            style, label = dict(color=filled.get(status, "#999999")), status
        shown = [i for i, w in enumerate(widths) if w]  # no zero-width outlines
        ax.barh(shown, [widths[i] for i in shown], left=[left[i] for i in shown], **style)
        handles.append(Patch(label=label, **style))
        left = [a + b for a, b in zip(left, widths, strict=True)]
    if verdicts:
        for y, (topic, end) in enumerate(zip(topics, left, strict=True)):
            ax.text(end + 0.08, y, verdicts[topic], va="center", fontsize=7.5)
    ax.set_xlim(0, max(left) + 2.6)
    ax.set_yticks(range(len(topics)), topics)
    ax.invert_yaxis()
    ax.set_xlabel("records of the claim (a claim with none: one, as its default status); "
                  "at the end, the claim's verdict", fontsize=8)
    ax.legend(handles=handles, fontsize=7, loc="upper center", ncol=3, frameon=False,
              bbox_to_anchor=(0.45, -0.1 - 0.6 / len(topics)))
    ax.set_title("The paper's claims at this project's scale", fontsize=10)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------------
# The chapters "ReLU vs tanh", "Local Response Normalization", "Overlapping pooling", "Dropout".

__all__ += ["plot_activations", "plot_relu_tanh", "plot_error_curves", "plot_lrn_response",
            "plot_feature_maps", "plot_pooling_windows", "plot_dropout_masks", "plot_experiment"]

_RUN_COLOURS = ("#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860")


def plot_activations(span: float = 4.0) -> Figure:
    """ReLU and tanh and their derivatives (defined in "ReLU vs tanh").

    The shaded band is where tanh is *saturated*: ``|x| > 2``, where its slope
    ``1 - tanh(x)**2`` is below 0.071, so almost no gradient flows back through the unit.
    """
    x = np.linspace(-span, span, 401)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.3))
    tanh = np.tanh(x)
    for ax, (title, relu_y, tanh_y) in zip(axes, (
            ("f(x)", np.maximum(x, 0), tanh),
            ("f'(x): the gradient a unit passes back", (x > 0).astype(float), 1 - tanh**2)),
            strict=True):
        for side in (-1, 1):
            ax.axvspan(*sorted((side * 2, side * span)), color="grey", alpha=0.12, lw=0)
        ax.plot(x, relu_y, label="ReLU  max(0, x)", lw=2)
        ax.plot(x, tanh_y, "--", label="tanh(x)", lw=2)
        ax.axhline(0, color="black", lw=0.5)
        ax.set_title(title)
        ax.set_xlabel("x (the unit's input)")
    axes[0].set_ylim(-1.5, span)
    axes[1].set_ylim(-0.1, 1.2)
    axes[1].text(span - 0.1, 0.6, "tanh saturated\n(|x| > 2)", ha="right", fontsize=8,
                 color="dimgrey")
    axes[0].legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    return fig


def plot_relu_tanh(result) -> Figure:
    """Training error per epoch of every ReLU and tanh run, and against seconds at each one's
    best learning rate (defined in "ReLU vs tanh"; ``result`` from
    :func:`alexnet_lib.experiments.relu_tanh.run`)."""
    s, lrs = result.summary, result.config["lrs"]
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 3.8))
    for i, lr in enumerate(lrs):
        for act, style in (("relu", "-"), ("tanh", "--")):
            h = result.runs[f"{act}, lr={lr:g}"]
            ax.plot(h.epochs, h.train_error, style, color=_RUN_COLOURS[i % 6],
                    label=f"{'ReLU' if act == 'relu' else 'tanh'}, lr {lr:g}")
    for act, style in (("relu", "-"), ("tanh", "--")):
        h = result.runs[f"{act}, lr={s['best_lr'][act]:g}"]
        ax2.plot(np.cumsum(h.epoch_seconds), h.train_error, style, color="black",
                 label=f"{'ReLU' if act == 'relu' else 'tanh'} (best lr {s['best_lr'][act]:g})")
    for a in (ax, ax2):
        for t in s["targets"]:
            a.axhline(t, color="crimson", lw=0.8, ls=":")
        a.set_ylim(0, 1)
        a.set_ylabel("training error")
        a.legend(fontsize=7, ncol=2 if a is ax else 1)
    ax.set_xlabel("epoch")
    ax2.set_xlabel("wall-clock seconds of training (this machine, this run)")
    ax.set_title("Training error per epoch (solid ReLU, dashed tanh; dotted: targets)", fontsize=9)
    ax2.set_title("Each at its best learning rate, against time", fontsize=9)
    fig.tight_layout()
    return fig


def plot_error_curves(runs: dict, title: str = "", targets: Sequence[float] = ()) -> Figure:
    """Training (dashed) and test (solid) error per epoch of several runs (``History`` objects);
    used by the LRN, pooling and dropout chapters."""
    fig, ax = plt.subplots(figsize=(8, 3.8))
    for i, (name, h) in enumerate(runs.items()):
        colour = _RUN_COLOURS[i % 6]
        ax.plot(h.epochs, h.test_error, "-", color=colour, label=f"{name}: test")
        ax.plot(h.epochs, h.train_error, "--", color=colour, label=f"{name}: training")
    for t in targets:
        ax.axhline(t, color="crimson", lw=0.8, ls=":")
    ax.set_ylim(0, 1)
    ax.set_xlabel("epoch")
    ax.set_ylabel("error")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    return fig


def plot_lrn_response(k: float = 2.0, alpha: float = 1e-4, beta: float = 0.75, n: int = 5) -> Figure:
    """What LRN does to one unit (defined in "Local Response Normalization").

    Left: the output ``b = a / (k + alpha * (a**2 + S))**beta`` against the unit's activity ``a``,
    for several amounts ``S`` of squared activity in its ``n - 1`` neighbours: strong neighbours
    push a unit down. Right: the same unit with silent neighbours under the readings of alpha
    and k: the paper's printed formula, cuda-convnet2's ImageNet configs (alpha divided by n,
    k=2), Caffe's bvlc_alexnet (alpha divided by n, k=1) and PyTorch's ``alpha=1e-4, k=2``
    taken literally (the :data:`~alexnet_lib.lrn.LRN_PRESETS`).
    """
    a = np.linspace(0, 400, 401)
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 3.6))
    for i, s_neigh in enumerate((0.0, 1e4, 1e5, 1e6)):
        ax.plot(a, a / (k + alpha * (a**2 + s_neigh)) ** beta, color=_RUN_COLOURS[i],
                label=f"neighbours' sum of squares S = {s_neigh:g}")
    ax.plot(a, a / k**beta, ":", color="grey", label="no normalisation beyond k (a / k^beta)")
    ax.set_xlabel("activity a of the unit")
    ax.set_ylabel("output b")
    ax.set_title(f"LRN as printed: k={k:g}, n={n}, alpha={alpha:g}, beta={beta:g}", fontsize=9)
    ax.legend(fontsize=7)
    readings = (("paper as printed (alpha = 1e-4, k = 2)", alpha, k),
                ("cuda-convnet2 ImageNet cfg (alpha / n = 2e-5, k = 2)", alpha / n, k),
                ("Caffe bvlc_alexnet (alpha / n = 2e-5, k = 1)", alpha / n, 1.0),
                ("torch alpha=1e-4, k=2 (= 2e-5 here)", 1e-4 / n, k))
    for i, (name, a_eff, k_i) in enumerate(readings):
        ax2.plot(a, (1 + a_eff * a**2 / k_i) ** -beta, ls=("-", "--", "-.", ":")[i],
                 color=_RUN_COLOURS[i], lw=2 if i < 3 else 1.2, label=name)
    ax2.set_xlabel("activity a of the unit (neighbours silent)")
    ax2.set_ylabel("extra factor beyond k^-beta")
    ax2.set_ylim(0, 1.05)
    ax2.set_title("The alpha convention (a factor of n = 5) and k", fontsize=9)
    ax2.legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_feature_maps(maps, titles: Sequence[str] = (), channels: Sequence[int] = (0, 1, 2, 3, 4, 5),
                      suptitle: str = "") -> Figure:
    """Rows of feature maps (each a ``(C, H, W)`` tensor), ``channels`` of each, on one colour
    scale per row (defined in "Local Response Normalization")."""
    fig, axes = plt.subplots(len(maps), len(channels), figsize=(1.6 * len(channels), 1.7 * len(maps)),
                             squeeze=False)
    for r, m in enumerate(maps):
        m = np.asarray(m, dtype=float)
        vmax = float(m[list(channels)].max()) or 1.0
        for c, ch in enumerate(channels):
            ax = axes[r][c]
            ax.imshow(m[ch], cmap="viridis", vmin=0, vmax=vmax)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(f"channel {ch}", fontsize=8)
        if r < len(titles):
            axes[r][0].set_ylabel(titles[r], fontsize=8)
    if suptitle:
        fig.suptitle(suptitle, fontsize=9)
    fig.tight_layout()
    return fig


def plot_pooling_windows(size: int = 13, kernel: int = 3, stride: int = 2) -> Figure:
    """Pooling windows along one row of a map (defined in "Overlapping pooling").

    Each bar is one window of ``kernel`` pixels, placed every ``stride`` pixels; the count under
    each pixel says how many windows see it (2 = overlap, 0 = never pooled).
    """
    from .model import conv_output_size

    out = conv_output_size(size, kernel, stride) if size >= kernel else 0
    cover = np.zeros(size, dtype=int)
    fig, ax = plt.subplots(figsize=(min(12, 2 + 0.55 * size), 1.2 + 0.28 * max(out, 1)))
    for i in range(out):
        start = i * stride
        cover[start:start + kernel] += 1
        ax.add_patch(Rectangle((start, 1.5 + i), kernel, 0.8, facecolor=_RUN_COLOURS[i % 2],
                               alpha=0.7, edgecolor="black"))
        ax.text(start + kernel / 2, 1.9 + i, f"out {i}", ha="center", va="center", fontsize=7)
    for p in range(size):
        colour = "#f4cccc" if cover[p] == 0 else ("#fff2cc" if cover[p] > 1 else "white")
        ax.add_patch(Rectangle((p, 0), 1, 1, facecolor=colour, edgecolor="black"))
        ax.text(p + 0.5, 0.5, str(cover[p]), ha="center", va="center", fontsize=8)
    ax.set_xlim(-0.5, size + 0.5)
    ax.set_ylim(-0.2, 2.5 + out)
    ax.axis("off")
    ax.set_title(f"{size} pixels, window z={kernel}, stride s={stride}: {out} outputs "
                 f"(yellow: seen twice or more, red: never pooled)", fontsize=9)
    fig.tight_layout()
    return fig


def plot_dropout_masks(activations, p: float = 0.5, seed: int = 0) -> Figure:
    """One layer's units under dropout, both conventions (defined in "Dropout").

    ``activations``: a 2-D array of unit outputs (e.g. fc6 of a trained net, reshaped). Panels:
    the units; a random mask; training output, the paper's (``m * a``) and inverted
    (``m * a / (1 - p)``); test output, the paper's (``(1 - p) * a``) and inverted (``a``).
    """
    a = np.asarray(activations, dtype=float)
    rng = np.random.default_rng(seed)
    mask = (rng.random(a.shape) >= p).astype(float)
    panels = [("units a", a), (f"mask (p={p:g})", mask), ("train, paper: m*a", mask * a),
              ("train, inverted: m*a/(1-p)", mask * a / (1 - p)), ("test, paper: (1-p)*a", (1 - p) * a),
              ("test, inverted: a", a)]
    vmax = float(max(a.max() / (1 - p), 1e-9))
    fig, axes = plt.subplots(1, len(panels), figsize=(2.0 * len(panels) + 0.8, 2.6))
    shown = None
    for ax, (title, img) in zip(axes, panels, strict=True):
        im = ax.imshow(img, cmap="magma", vmin=0, vmax=1 if title.startswith("mask") else vmax)
        if not title.startswith("mask"):
            shown = im  # every panel but the mask shares this colour scale
        ax.set_title(f"{title}\nmean {img.mean():.3f}", fontsize=7)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    fig.colorbar(shown, ax=list(axes), shrink=0.8, pad=0.01, label="unit output (mask: 0 or 1)")
    return fig


def plot_experiment(result) -> Figure:
    """The chapter's main plot for any experiment result (what the command line saves)."""
    if result.name == "relu_tanh":
        return plot_relu_tanh(result)
    titles = {"lrn": "Four-layer CNN: no normalisation, LRN, BatchNorm",
              "pooling": "Small AlexNet: overlapping (z=3, s=2) vs non-overlapping (z=2, s=2) pooling",
              "dropout": "Small AlexNet, few training images: without and with dropout"}
    if result.name not in titles:
        raise ValueError(f"no plot for experiment {result.name!r}")
    targets = [result.summary["target"]] if result.name == "dropout" else []
    return plot_error_curves(result.runs, f"{titles[result.name]} ({result.scale.split(';')[0]})",
                             targets)


def plot_dataset_samples(style: str = "natural", size: int = 32, per_class: int = 4,
                         seed: int = 0) -> Figure:
    """The built-in dataset's first ``per_class`` training images of each class, one row per class.

    Defined in "ReLU vs tanh", where the multi-seed experiments' data is shown before it is used.
    The images are the generator's (the same bytes on any machine), drawn at ``size`` px.
    """
    from .data.builtin import CLASSES, NUM_CLASSES, generate_batch

    images, labels = generate_batch(NUM_CLASSES * per_class, size=size, seed=seed, style=style)
    fig, axes = plt.subplots(per_class, NUM_CLASSES, figsize=(NUM_CLASSES * 0.9, per_class * 0.95))
    for c in range(NUM_CLASSES):
        mine = [i for i in range(len(labels)) if int(labels[i]) == c][:per_class]
        for r, i in enumerate(mine):
            ax = axes[r, c]
            ax.imshow(np.asarray(images[i]))
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(CLASSES[c], fontsize=8)
    fig.suptitle(f"the built-in dataset, style {style!r}, {size}x{size} px", fontsize=9)
    fig.tight_layout()
    return fig
