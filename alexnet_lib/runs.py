"""Records of runs of the training command, and their curves (used in "Training AlexNet at
ImageNet scale").

A run folder of ``python -m alexnet_lib.train`` (``config.json``, ``env.json``, ``metrics.csv``,
``final.json``) holds everything about a run but depends on the machine's paths and is not
committed. :func:`record_from_run` turns it into one JSON-ready record for ``book/results/``: the
command, commit, date, machine (CPU model, torch, threads), seed, a description of the data,
the recipe, and per epoch the learning rate, training loss and error, validation error and
seconds. :func:`plot_runs` draws the curves of one or more records; the chapter reads the
committed record, so its figure is the same on every machine::

    from alexnet_lib.runs import load_record, plot_runs
    runs = load_record("results/train_fullsize_cpu.json")["runs"]
    plot_runs(runs);

``python -m alexnet_lib.runs RUN_DIR [RUN_DIR ...] --out FILE --data TEXT`` writes the record.
matplotlib is imported only by :func:`plot_runs` (it is a dependency of the ``book`` extra).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .provenance import float_settings

__all__ = ["RECIPE_KEYS", "EPOCH_KEYS", "record_from_run", "write_record", "load_record",
           "summarize_runs", "plot_runs", "main"]

RECIPE_KEYS = ("recipe", "init", "epochs", "batch_size", "lr", "momentum", "weight_decay",
               "bias_decay", "schedule", "lr_factor", "max_drops", "patience", "plateau_threshold",
               "dropout", "augment", "lighting_std", "input_scale", "lrn", "columns", "width",
               "hidden", "image_size", "crop_size", "arch")
"""The settings of a run that a record keeps (what was computed, not where the files were)."""

EPOCH_KEYS = ("epoch", "lr", "train_loss", "train_top1_err", "val_loss", "val_top1_err",
              "val_top5_err", "epoch_seconds", "images_per_s", "hours")
"""The per-epoch numbers a record keeps, from the run's metrics.csv (``epoch_seconds``: the
training steps of the epoch; ``hours``: the run's time so far, validation included)."""


def _number(key: str, text: str | None) -> float | int | None:
    if text is None or text == "":
        return None
    return int(text) if key == "epoch" else float(text)


def record_from_run(run_dir: str | Path, data: str, *, threads: int | None = None,
                    note: str | None = None) -> dict[str, Any]:
    """One run folder as a record (a JSON-ready dict).

    Args:
        run_dir: the ``--out`` folder of a finished (or stopped) run.
        data: what the data was, in words (e.g. "10 classes of generated shapes, 256x256 JPEGs,
            120 training and 40 validation images a class").
        threads: torch's thread count during the run (default: this process's, which is the
            run's when it was started the same way on the same machine).
        note: anything a reader must know (e.g. why the run was stopped early).
    """
    run = Path(run_dir)
    cfg = json.loads((run / "config.json").read_text())
    env = json.loads((run / "env.json").read_text())
    sessions = env.get("sessions", [env])
    with open(run / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    epochs = [{k: _number(k, r.get(k)) for k in EPOCH_KEYS} for r in rows]
    final_path = run / "final.json"
    final = json.loads(final_path.read_text())["results"] if final_path.is_file() else None
    hardware = float_settings(threads)
    train_images = None
    if cfg.get("data") and Path(cfg["data"], "train").is_dir():
        train_images = sum(1 for f in Path(cfg["data"], "train").glob("*/*") if f.is_file())
    if cfg.get("train_images"):
        train_images = min(train_images or cfg["train_images"], cfg["train_images"])
    record: dict[str, Any] = {
        "command": [s["command"] for s in sessions] if len(sessions) > 1 else env["command"],
        "commit": env.get("git_commit"),
        "dirty": env.get("git_dirty"),
        "date": sessions[0]["started"],
        "hardware": hardware,
        "torch": env["torch"],
        "threads": hardware["threads"],
        "device": cfg["device"],
        "seed": cfg["seed"],
        "data": data,
        "train_images": train_images,
        "config": {k: cfg.get(k) for k in RECIPE_KEYS},
        "epochs": epochs,
        "wall_seconds": round(3600 * epochs[-1]["hours"], 1) if epochs and epochs[-1]["hours"]
        else None,  # from the start of training to the end of the last epoch
        "final": final,
    }
    if note:
        record["note"] = note
    return record


def write_record(path: str | Path, runs: Sequence[dict[str, Any]], **extra: Any) -> Path:
    """Write ``{"kind": "train_runs", **extra, "runs": runs}`` as indented JSON."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {"kind": "train_runs", **extra, "runs": list(runs)}
    path.write_text(json.dumps(body, indent=1, sort_keys=False) + "\n")
    return path


def load_record(path: str | Path) -> dict[str, Any]:
    """A record file written by :func:`write_record`."""
    body = json.loads(Path(path).read_text())
    if body.get("kind") != "train_runs" or not isinstance(body.get("runs"), list):
        raise ValueError(f"{path} is not a record of training runs (kind 'train_runs')")
    return body


def summarize_runs(runs: dict[str, Any] | Sequence[dict[str, Any]]) -> str:
    """One line per run: its label, data, epochs, first and last training loss, best validation
    top-1 error, learning rates used and seconds per epoch (all from the record)."""
    runs = [runs] if isinstance(runs, dict) else list(runs)
    lines = []
    for run in runs:
        rows = run["epochs"]
        val = [r["val_top1_err"] for r in rows if r["val_top1_err"] is not None]
        lrs = sorted({r["lr"] for r in rows}, reverse=True)
        seconds = sum(r["epoch_seconds"] for r in rows) / len(rows)
        lines.append(f"{_label(run)}: {len(rows)} epochs of {run.get('train_images') or '?'} images; "
                     f"training loss {rows[0]['train_loss']:.3f} -> {rows[-1]['train_loss']:.3f}; "
                     f"best validation top-1 error "
                     f"{(100 * min(val)) if val else float('nan'):.1f}%; "
                     f"lr {', '.join(f'{lr:g}' for lr in lrs)}; {seconds:.0f} s an epoch")
    return "\n".join(lines)


def _label(run: dict[str, Any]) -> str:
    return run.get("label") or f"--init {run['config'].get('init')}"


def plot_runs(runs: dict[str, Any] | Sequence[dict[str, Any]], classes: int | None = None):
    """Training loss, and training and validation top-1 error, per epoch, of one or more runs.

    One colour per run (its ``label``, else its ``--init``); the learning rate's drops are
    marked with a tick on the error panel; a dotted line marks chance (``ln(classes)`` for the
    loss, ``1 - 1/classes`` for the error; ``classes`` from the record's data when not given).
    Returns the matplotlib Figure.
    """
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator, NullFormatter, ScalarFormatter

    runs = [runs] if isinstance(runs, dict) else list(runs)
    if not runs:
        raise ValueError("no runs to plot")
    fig, (ax_loss, ax_err) = plt.subplots(1, 2, figsize=(10, 3.6))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, run in enumerate(runs):
        colour = colours[i % len(colours)]
        rows = run["epochs"]
        x = [r["epoch"] for r in rows]
        ax_loss.plot(x, [r["train_loss"] for r in rows], "-o", ms=3, color=colour,
                     label=_label(run))
        ax_err.plot(x, [100 * r["train_top1_err"] for r in rows], "--", color=colour,
                    label=f"{_label(run)}, training")
        val = [(r["epoch"], 100 * r["val_top1_err"]) for r in rows if r["val_top1_err"] is not None]
        if val:
            ax_err.plot([e for e, _ in val], [v for _, v in val], "-o", ms=3, color=colour,
                        label=f"{_label(run)}, validation")
        for before, after in zip(rows[:-1], rows[1:], strict=True):
            if after["lr"] < before["lr"]:
                ax_err.axvline(after["epoch"] - 0.5, color=colour, lw=0.8, alpha=0.5)
    if classes is None:
        classes = runs[0].get("classes")
    if classes:
        ax_loss.axhline(math.log(classes), ls=":", color="grey", label=f"chance, ln {classes}")
        ax_err.axhline(100 * (1 - 1 / classes), ls=":", color="grey", label="chance")
    losses = [r["train_loss"] for run in runs for r in run["epochs"]]
    errors = [100 * r[k] for run in runs for r in run["epochs"]
              for k in ("train_top1_err", "val_top1_err") if r[k] is not None]
    ax_loss.set(xlabel="epoch", ylabel="training loss (cross-entropy)", yscale="log",
                title="training loss")
    ax_loss.set_yticks([t for t in (0.1, 0.2, 0.5, 1, 1.5, 2, 2.5, 3, 5, 10, 20, 50, 100)
                        if min(losses) / 1.2 <= t <= max(losses) * 1.2])
    ax_err.set(xlabel="epoch", ylabel="top-1 error (%)",
               ylim=(max(0, 10 * (min(errors) // 10) - 10), 100),
               title="error (vertical lines: lr / 10)")
    ax_loss.yaxis.set_major_formatter(ScalarFormatter())
    ax_loss.yaxis.set_minor_formatter(NullFormatter())
    for ax in (ax_loss, ax_err):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax_loss.legend(fontsize=8)
    ax_err.legend(fontsize=7, ncol=1)
    fig.tight_layout()
    return fig


def main(argv: list[str] | None = None) -> int:
    """``python -m alexnet_lib.runs RUN_DIR ... --out FILE --data TEXT``: write a record."""
    p = argparse.ArgumentParser(prog="python -m alexnet_lib.runs", description=main.__doc__)
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="--out folders of the runs")
    p.add_argument("--out", required=True, help="the record file to write (JSON)")
    p.add_argument("--data", required=True, help="what the data was, in words")
    p.add_argument("--classes", type=int, help="number of classes (for the chance lines)")
    p.add_argument("--label", action="append", help="a label per run (default: its --init)")
    p.add_argument("--note", action="append", help="a note per run (in order; '' for none)")
    p.add_argument("--threads", type=int, help="torch threads of the runs (default: this process's)")
    p.add_argument("--probes", metavar="JSONL", help="JSON lines to keep under 'probes' (e.g. the "
                                                     "output of tools/init_probe.py)")
    p.add_argument("--probe-command", action="append", help="the command(s) that wrote --probes")
    p.add_argument("--question", help="what the runs were for, in words")
    p.add_argument("--finding", help="what they showed, in words")
    args = p.parse_args(argv)
    runs = []
    for i, run_dir in enumerate(args.run_dirs):
        note = args.note[i] if args.note and i < len(args.note) else None
        record = record_from_run(run_dir, args.data, threads=args.threads, note=note or None)
        if args.label and i < len(args.label):
            record["label"] = args.label[i]
        if args.classes:
            record["classes"] = args.classes
        runs.append(record)
    extra: dict[str, Any] = {k: v for k, v in (("question", args.question),
                                                ("finding", args.finding)) if v}
    if args.probes:
        lines = Path(args.probes).read_text().splitlines()
        extra["probes"] = {"commands": args.probe_command or [],
                           "results": [json.loads(line) for line in lines if line.strip()]}
    print(write_record(args.out, runs, **extra))
    return 0


if __name__ == "__main__":
    sys.exit(main())
