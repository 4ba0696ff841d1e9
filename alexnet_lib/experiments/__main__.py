"""Command line: run one of the chapters' experiments, bigger or on real data.

Defined in the book's chapter "ReLU vs tanh"; each experiment chapter's "paper vs here" table
gives the command that produced its numbers.

    python -m alexnet_lib.experiments relu_tanh --dataset builtin --out book/results
    python -m alexnet_lib.experiments lrn --dataset cifar10 --data data/cifar10 --epochs 60
    python -m alexnet_lib.experiments NAME --help     # every flag of one experiment
    python -m alexnet_lib.experiments augmentation --out runs/aug   # the chapters' other two


With no flags an experiment runs exactly the chapter's configuration (its *book preset*), so the
numbers it writes are the chapter's numbers; ``--dataset cifar10`` switches to a bigger preset
(all of CIFAR-10, more epochs), and any flag overrides one setting. It writes
``OUT/NAME.json`` (``NAME-cifar10.json`` for CIFAR-10: configuration, per-epoch curves, summary
and the claim records the scorecard reads) and ``OUT/NAME.png`` (the chapter's plot).
"""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import sys
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import (
    alexnet_evidence,
    augment_evidence,
    augmentation,
    columns,
    depth,
    dropout,
    dropout_evidence,
    figure1,
    lrn,
    lrn_evidence,
    pooling,
    pooling_evidence,
    relu_tanh,
)
from .common import ExperimentConfig
from .records import git_commit, result_path, save_result

__all__ = ["EXPERIMENTS", "build_parser", "config_from_args", "main"]

EXPERIMENTS: dict[str, tuple[types.ModuleType, type[ExperimentConfig]]] = {
    "relu_tanh": (relu_tanh, relu_tanh.ReluTanhConfig),
    "lrn": (lrn, lrn.LRNExperimentConfig),
    "pooling": (pooling, pooling.PoolingConfig),
    "dropout": (dropout, dropout.DropoutConfig),
}
"""Experiment name -> (module with ``run`` and ``records``, configuration class)."""

DELEGATED: dict[str, types.ModuleType] = {"alexnet_evidence": alexnet_evidence,
                                          "augmentation": augmentation,
                                          "augment_evidence": augment_evidence, "columns": columns,
                                          "dropout_evidence": dropout_evidence,
                                          "figure1": figure1, "lrn_evidence": lrn_evidence,
                                          "pooling_evidence": pooling_evidence, "depth": depth}
"""Experiments with a command line of their own (built-in data only), run from here too."""

SKIP = {"relu_tanh": {"lr"}}  # fields an experiment does not use (relu_tanh has a grid, lrs)
DATASETS = ("builtin", "cifar10")


def _converter(hint: Any) -> tuple[Callable[[str], Any], str]:
    """An argparse ``type`` for a field's type hint, and a metavar."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    optional = len(args) < len(typing.get_args(hint))
    if typing.get_origin(hint) in (typing.Union, types.UnionType) and len(args) == 1:
        hint = args[0]
    if typing.get_origin(hint) is list:
        (item,) = typing.get_args(hint)

        def as_list(text: str) -> list[Any]:
            return [item(v) for v in text.split(",") if v.strip()]

        as_list.__name__ = f"comma-separated {item.__name__}"  # argparse's error message
        return as_list, f"{item.__name__.upper()},..."

    def convert(text: str) -> Any:
        if optional and text.lower() == "none":
            return None
        return hint(text)

    convert.__name__ = hint.__name__
    return convert, hint.__name__.upper()


def build_parser() -> argparse.ArgumentParser:
    """The parser: one sub-command per experiment, one flag per configuration field."""
    parser = argparse.ArgumentParser(
        prog="python -m alexnet_lib.experiments",
        description="Run one of the book's experiments and write its JSON result and plot. "
                    "Without flags each runs the chapter's own configuration.")
    sub = parser.add_subparsers(dest="experiment", required=True, metavar="EXPERIMENT")
    for name, (module, cls) in EXPERIMENTS.items():
        doc = (module.__doc__ or "").strip().splitlines()[0]
        p = sub.add_parser(name, help=doc, description=doc)
        hints = typing.get_type_hints(cls)
        book = cls()
        for f in dataclasses.fields(cls):
            if f.name in SKIP.get(name, ()):
                continue
            convert, metavar = _converter(hints[f.name])
            flag = "--" + f.name.replace("_", "-")
            if f.name == "dataset":
                p.add_argument(flag, choices=DATASETS, default=None,
                               help=f.metadata["help"] + " (default: builtin)")
                continue
            default = getattr(book, f.name)
            shown = ",".join(map(str, default)) if isinstance(default, list) else default
            p.add_argument(flag, type=convert, default=None, metavar=metavar,
                           help=f"{f.metadata['help']} (book preset: {shown})")
        p.add_argument("--out", default="runs/experiments",
                       help="folder for NAME.json and NAME.png (default: runs/experiments; the "
                            "book's records live in book/results)")
        p.add_argument("--progress", action="store_true", help="show a progress bar per run")
        p.add_argument("--no-plot", action="store_true", help="write the JSON only")
    for name, module in DELEGATED.items():
        doc = " ".join((module.__doc__ or "").strip().split("\n\n")[0].split())  # first paragraph
        sub.add_parser(name, help=f"{doc} (built-in data; `{name} --help` for its flags)",
                       add_help=False)
    return parser


def config_from_args(args: argparse.Namespace) -> ExperimentConfig:
    """The experiment's preset for ``--dataset``, with every flag given on the command line."""
    _, cls = EXPERIMENTS[args.experiment]
    config = cls.preset(args.dataset or "builtin")
    changes = {f.name: getattr(args, f.name) for f in dataclasses.fields(cls)
               if getattr(args, f.name, None) is not None}
    return config.replace(**changes)


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (2 for bad flags or missing data)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in DELEGATED:
        rest = argv[1:]
        if not any(a == "--out" or a.startswith("--out=") for a in rest):
            rest += ["--out", "runs/experiments"]  # as for the others: the book's records stay
        DELEGATED[argv[0]].run(rest, prog=f"python -m alexnet_lib.experiments {argv[0]}")
        return 0
    parser = build_parser()
    args = parser.parse_args(argv)
    module, _ = EXPERIMENTS[args.experiment]
    try:
        config = config_from_args(args)
        data = config.load()
    except (FileNotFoundError, ValueError) as err:
        parser.exit(2, f"error: {err}\n")
    try:
        result = module.run(config, data, progress=args.progress)
    except ValueError as err:
        parser.exit(2, f"error: {err}\n")
    command = "python -m alexnet_lib.experiments " + " ".join(shlex.quote(a) for a in argv)
    recs = module.records(result, command=command, commit=git_commit())
    path = save_result(result_path(args.out, args.experiment, config.dataset), args.experiment,
                       config.dataset, config.to_dict(), result.to_dict(), recs,
                       threads=config.threads)
    print(f"{args.experiment}: {result.scale}")
    for r in recs:
        print(f"  claim {r.claim} [{r.status}] {r.ours}")
    print(f"wrote {path}")
    if not args.no_plot:
        import matplotlib

        matplotlib.use("Agg")
        from ..viz import plot_experiment

        png = Path(path).with_suffix(".png")
        plot_experiment(result).savefig(png, dpi=100, bbox_inches="tight")
        print(f"wrote {png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
