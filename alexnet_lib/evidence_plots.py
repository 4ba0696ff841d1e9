"""Plots of evidence records: every seed's curves, and the paired per-seed comparison.

Defined in the book's introduction ("What counts as evidence") and used by each concept chapter
that plots a record of ``book/results/evidence`` (first: "ReLU vs tanh", Figure 1 over seeds).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from .experiments.evidence import Z
from .experiments.evidence_record import Comparison

__all__ = ["plot_seed_curves", "plot_train_test", "plot_paired", "plot_comparisons", "format_comparisons",
           "format_arms"]

_STYLES = ("-", "--", ":", "-.")


def plot_seed_curves(record: dict[str, Any], arms: Sequence[str], curve: str = "train_error",
                     target: float | None = None, ax: Any = None) -> Figure:
    """Each seed's ``curve`` (a History field, e.g. ``"train_error"``) for each arm.

    ``record["runs"]`` maps seed -> arm -> ``{"history": History dict, ...}``. One colour per arm,
    one line per seed (Figure 1's convention: the paper's arm solid, the other dashed); an
    optional ``target`` is drawn as a horizontal line.
    """
    fig, ax = (plt.subplots(figsize=(6.4, 3.8)) if ax is None else (ax.figure, ax))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, arm in enumerate(arms):
        for j, (_, parts) in enumerate(sorted(record["runs"].items(), key=lambda kv: int(kv[0]))):
            values = parts[arm]["history"][curve]
            ax.plot(range(1, len(values) + 1), [100 * v for v in values], _STYLES[i % 4],
                    color=colours[i], alpha=0.85, label=arm if j == 0 else None)
    if target is not None:
        ax.axhline(100 * target, color="grey", lw=0.8)
        ax.annotate(f"target {target:.0%}", (ax.get_xlim()[1], 100 * target), ha="right",
                    va="bottom", fontsize=8, color="grey")
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, steps=[1, 2, 5, 10]))  # whole epochs
    ax.set_ylabel(curve.replace("_", " ") + " (%)")
    ax.set_title(f"{len(record['runs'])} seeds, one line each")
    ax.legend(frameon=False)
    fig.tight_layout()
    return fig


def plot_train_test(record: dict[str, Any], arms: Sequence[str],
                    target: float | None = None) -> Figure:
    """:func:`plot_seed_curves` of the training error (left, with the optional ``target``) and of
    the test error (right), on a shared axis."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), sharey=True)
    plot_seed_curves(record, arms, curve="train_error", target=target, ax=axes[0])
    plot_seed_curves(record, arms, curve="test_error", ax=axes[1])
    fig.tight_layout()
    return fig


def plot_paired(comparison: Comparison, ax: Any = None) -> Figure:
    """The two arms' metric on every seed, joined seed by seed, with the verdict and its numbers.

    The title gives the status the evidence standard derives from these values, the mean paired
    difference (positive: the paper's arm better) and its standard error over seeds.
    """
    fig, ax = (plt.subplots(figsize=(4.2, 3.8)) if ax is None else (ax.figure, ax))
    names = [comparison.paper_better, comparison.other]
    ends: dict[float, list[str]] = {}  # seeds ending at the same value share one label
    for k, seed in enumerate(comparison.seeds):
        ys = [comparison.arms[n][k] for n in names]
        ax.plot([0, 1], ys, "o-", color="0.4", alpha=0.8)
        ends.setdefault(ys[1], []).append(str(seed))
    lo, hi = ax.get_ylim()
    gap = 0.045 * (hi - lo)  # labels closer than this (a line of text) are spread apart, in order
    placed: list[float] = []
    for y in sorted(ends):
        at = max(y, placed[-1] + gap) if placed else y
        placed.append(at)
        seeds = ends[y]
        ax.annotate(("seeds " if len(seeds) > 1 else "seed ") + ", ".join(seeds), (1.0, y),
                    xytext=(1.08, at), fontsize=8, va="center",
                    arrowprops=dict(arrowstyle="-", color="0.7", lw=0.5) if at != y else None)
    values = [v for n in names for v in comparison.arms[n]]
    if all(float(v).is_integer() for v in values):  # counts (epochs): whole-number ticks
        ax.yaxis.get_major_locator().set_params(integer=True)
    ax.set_xticks([0, 1], [f"{names[0]}\n(the paper's)", names[1]])
    ax.set_xlim(-0.3, 1.5)
    ax.set_ylabel(comparison.metric)
    v = comparison.verdict()
    ax.set_title(f"{v.status}: difference {v.mean:+.3g}\n"
                 f"({Z:g} standard errors = {Z * v.standard_error:.2g})", fontsize=10)
    fig.tight_layout()
    return fig


def plot_comparisons(comparisons: Sequence[Comparison]) -> Figure:
    """:func:`plot_paired` for each comparison of a record, side by side."""
    fig, axes = plt.subplots(1, len(comparisons), figsize=(4.2 * len(comparisons), 3.8),
                             squeeze=False)
    for comparison, ax in zip(comparisons, axes[0], strict=True):
        plot_paired(comparison, ax=ax)
    fig.tight_layout()
    return fig


def format_comparisons(comparisons: Sequence[Comparison], value: str = "{:.1%}") -> str:
    """Each comparison's title, its arms' values seed by seed (``value`` formats one) and its
    verdict with the reason, as lines of text."""
    lines = []
    for c in comparisons:
        v = c.verdict()
        lines.append(c.title)
        for k, seed in enumerate(c.seeds):
            values = ", ".join(f"{a} {value.format(c.arms[a][k])}" for a in c.arms)
            lines.append(f"  seed {seed}: {values}")
        lines.append(f"  verdict: {v.status} ({v.reason})")
    return "\n".join(lines)


def format_arms(record: dict[str, Any], arms: Sequence[str]) -> str:
    """A table of ``arms`` over the record's seeds: parameters (where the parts hold them), final
    training error and test error (range over seeds), and the learning rate."""
    seeds = sorted(record["runs"], key=int)
    lines = [f"{'arm':30} {'parameters':>10} {'training error':>15} {'test error':>13} "
             f"{'lr':>6}"]
    for arm in arms:
        parts = [record["runs"][s][arm] for s in seeds]

        def span(key: str, parts: list[dict[str, Any]] = parts) -> str:
            values = [100 * p[key] for p in parts]
            return f"{min(values):.1f}-{max(values):.1f}%"

        count = parts[0].get("parameters")
        lines.append(f"{arm:30} {f'{count:,}' if count else '':>10} {span('train_error'):>15} "
                     f"{span('test_error'):>13} {parts[0]['lr']:>6g}")
    return "\n".join(lines)
