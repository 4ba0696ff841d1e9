"""Figure 1 over several seeds: epochs to 25% training error with ReLU and with tanh (claim 1).

Defined in the book's chapter "ReLU vs tanh"; run with
``python -m alexnet_lib.experiments figure1 --seeds 0,1,2 --out book/results/evidence``.

The paper (Section 3.1, Figure 1): "A four-layer convolutional neural network with ReLUs (solid
line) reaches a 25% training error rate on CIFAR-10 six times faster than an equivalent network
with tanh neurons (dashed line). The learning rates for each network were chosen independently to
make training as fast as possible. No regularization of any kind was employed."

The protocol (:data:`PROTOCOL`) was fixed before any of its runs was made; the verdict is the
evidence standard's (:mod:`.evidence`), on the per-seed epochs to the target:

1. **Learning rates, chosen per activation, on a seed not used for the verdict.** Each activation
   is trained at every rate of ``lrs`` with ``tuning_seed``; the rate that reaches the target in
   the fewest epochs wins (ties: the lower final training error). If the winner is at an edge of
   the grid, the grid is extended by a factor ``lr_step`` on that side and the new rate is tried
   too, until the winner is inside (so the grid brackets each activation's optimum). A tuning run
   stops as soon as it can no longer beat the best so far.
2. **The verdict's seeds.** Both activations are trained at their chosen rate on each seed of
   ``--seeds`` (a seed sets the initial weights and the batch order; both arms share it), until
   the target or ``max_epochs``. A run that never reaches the target counts as ``max_epochs + 1``
   epochs (a lower bound, flagged in the record).

Training error is the running error of the epoch's mini-batches (what cuda-convnet printed);
inputs are standardised per channel and the weights start from PyTorch's default initialisation,
the same for both activations (the paper's N(0, 0.01) on 0..255 pixels saturates 69% of tanh's
conv1 units at the start: see the chapter). The data is the built-in generator's ``natural``
style at 32x32 px, not CIFAR-10: the speed-up it measures is this data's, not the paper's.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from .datasets import builtin_data
from .evidence_record import (
    EVIDENCE_DIR,
    Comparison,
    SeedStore,
    code_hash,
    evidence_parser,
    parse_evidence_args,
    record_header,
    write_json,
)
from .loop import History, TensorData, TrainConfig, epochs_to_reach, train
from .nets import FourLayerNet

__all__ = ["PROTOCOL", "CODE_MODULES", "tune_lr", "run_seed", "comparison", "evidence", "run"]

PROTOCOL: dict[str, Any] = {
    "data_style": "natural",  # the built-in generator's photo-like style
    "image_size": 32,         # px, CIFAR-10's size
    "n_train": 5000,          # training images
    "n_test": 1000,           # test images (reported, never used to choose anything)
    "data_seed": 0,           # which images the generator draws
    "channels": [32, 32, 64], # conv1..conv3 kernels: the cuda-convnet CIFAR-10 net's
    "init": "torch",          # PyTorch's default init for both activations
    "preprocess": "standardize",  # per-channel mean and std of the training set
    "batch_size": 64,         # images per SGD step
    "momentum": 0.9,
    "weight_decay": 0.0,      # "no regularization of any kind"
    "target": 0.25,           # training error to reach (the paper's)
    "max_epochs": 30,         # budget per run (epochs of 5,000 images)
    "lrs": [0.003, 0.01, 0.001, 0.03],  # the starting grid, per activation (tried in this order)
    "lr_step": 3.0,           # factor by which an edge winner extends the grid
    "tuning_seed": 100,       # weights and batch order of the tuning runs (not a verdict seed)
    "threads": 1,             # CPU threads per run
}
"""Figure 1's protocol, fixed before its runs (units in the comments)."""

CODE_MODULES = ("alexnet_lib.experiments.figure1", "alexnet_lib.experiments.loop",
                "alexnet_lib.experiments.nets", "alexnet_lib.experiments.datasets",
                "alexnet_lib.experiments.evidence", "alexnet_lib.data.builtin", "alexnet_lib.lrn")
"""The modules whose code the record's hash covers."""

ACTIVATIONS = ("relu", "tanh")
CHANCE = 0.9
MAX_EXTENSIONS = 3  # grid extensions per side, so that tuning always ends


def _data(p: dict[str, Any]) -> TensorData:
    return builtin_data(p["n_train"], p["n_test"], p["image_size"], p["data_seed"], p["data_style"])


def _train(activation: str, lr: float, seed: int, data: TensorData, p: dict[str, Any],
           max_epochs: int) -> History:
    """One run, stopped at the target or after ``max_epochs``."""
    config = TrainConfig(epochs=max_epochs, batch_size=p["batch_size"], lr=lr,
                         momentum=p["momentum"], weight_decay=p["weight_decay"], seed=seed,
                         threads=p["threads"], preprocess=p["preprocess"], eval_train=False)

    def make() -> FourLayerNet:
        return FourLayerNet(activation=activation, channels=tuple(p["channels"]),
                            input_size=p["image_size"], init=p["init"])

    _, hist = train(make, data, config, label=f"{activation}, lr={lr:g}, seed {seed}",
                    stop=lambda h: h.train_error[-1] <= p["target"])
    return hist


def _score(hist: History, p: dict[str, Any]) -> tuple[int, float]:
    """(epochs to the target, or max_epochs + 1; final training error): lower is better."""
    n = epochs_to_reach(hist.train_error, p["target"])
    return (n if n is not None else p["max_epochs"] + 1), hist.train_error[-1]


def tune_lr(activation: str, data: TensorData, p: dict[str, Any] = PROTOCOL,
            log: Callable[[str], None] = print) -> dict[str, Any]:
    """Step 1 of the protocol: the activation's learning rate, with every tuning run's curve."""
    tried: dict[float, History] = {}
    best: tuple[int, float] | None = None
    grid = list(p["lrs"])  # the order only saves time (runs that cannot win stop early)

    def attempt(lr: float) -> None:
        nonlocal best
        budget = p["max_epochs"] if best is None else min(p["max_epochs"], best[0])
        hist = _train(activation, lr, p["tuning_seed"], data, p, budget)
        tried[lr] = hist
        score = _score(hist, p)  # a run cut at the best's epochs scores max_epochs + 1: it lost
        log(f"  tuning {activation} lr={lr:g}: {score[0]} epochs, final {score[1]:.3f}")
        if best is None or score < best:
            best = score

    for lr in grid:
        attempt(lr)
    for _ in range(2 * MAX_EXTENSIONS):  # each side at most MAX_EXTENSIONS times
        chosen = min(tried, key=lambda lr: _score(tried[lr], p))
        lo, hi = min(tried), max(tried)
        if chosen == lo and lo > min(grid) / p["lr_step"] ** MAX_EXTENSIONS * 1.0001:
            attempt(lo / p["lr_step"])
        elif chosen == hi and hi < max(grid) * p["lr_step"] ** MAX_EXTENSIONS * 0.9999:
            attempt(hi * p["lr_step"])
        else:
            break
    chosen = min(tried, key=lambda lr: _score(tried[lr], p))
    return {"activation": activation, "chosen_lr": chosen,
            "tried": {f"{lr:g}": {"epochs_to_target": _score(h, p)[0], "history": h.to_dict()}
                      for lr, h in sorted(tried.items())}}


def run_seed(seed: int, activation: str, lr: float, data: TensorData,
             p: dict[str, Any] = PROTOCOL) -> dict[str, Any]:
    """Step 2 for one seed and one activation, at its chosen rate."""
    hist = _train(activation, lr, seed, data, p, p["max_epochs"])
    epochs, final = _score(hist, p)
    return {"lr": lr, "epochs_to_target": epochs, "final_train_error": final,
            "reached": epochs <= p["max_epochs"], "history": hist.to_dict()}


def comparison(seeds: list[int], per_seed: dict[int, dict[str, Any]]) -> Comparison:
    """The scorecard row: epochs to 25% training error, ReLU (the paper's) against tanh."""
    return Comparison(
        claim=1, title="ReLU vs tanh: epochs to 25% training error (four-layer net)",
        metric="epochs to 25% training error", lower_is_better=True, paper_better="relu",
        arms={act: [per_seed[s][act]["epochs_to_target"] for s in seeds] for act in ACTIVATIONS},
        seeds=seeds, baseline_error=[per_seed[s]["relu"]["final_train_error"] for s in seeds],
        chance_error=CHANCE, split="training", paper_value="six times faster with ReLU (CIFAR-10)")


def evidence(seeds: list[int], out: str | Path = EVIDENCE_DIR, command: str = "",
             p: dict[str, Any] = PROTOCOL, log: Callable[[str], None] = print,
             activations: tuple[str, ...] = ACTIVATIONS) -> Path | None:
    """Tune, run every seed (resuming the parts already saved), write ``out/figure1.json``.

    ``activations`` runs only those arms' parts (two processes can share the work, one per
    arm); the record is written once every part of both arms is saved (else None).
    """
    if len(seeds) < 3:
        raise ValueError("the evidence standard needs at least 3 seeds (--seeds 0,1,2)")
    out = Path(out)
    code = code_hash(CODE_MODULES)
    store = SeedStore(out / "figure1.parts", code, p)
    data = _data(p)
    for act in activations:
        tuning = store.get(f"tuning-{act}")
        if tuning is None:
            tuning = tune_lr(act, data, p, log)
            store.put(f"tuning-{act}", tuning)
        log(f"{act}: learning rate {tuning['chosen_lr']:g}")
        for seed in seeds:
            part = store.get(f"seed{seed}-{act}")
            if part is None:
                part = run_seed(seed, act, tuning["chosen_lr"], data, p)
                store.put(f"seed{seed}-{act}", part)
            log(f"seed {seed}, {act}: {part['epochs_to_target']} epochs to the target")
    tuning = {act: store.get(f"tuning-{act}") for act in ACTIVATIONS}
    per_seed = {s: {act: store.get(f"seed{s}-{act}") for act in ACTIVATIONS} for s in seeds}
    if any(v is None for v in tuning.values()) or any(
            v is None for parts in per_seed.values() for v in parts.values()):
        log("the other arm's parts are not all saved yet: no record written")
        return None
    lrs = {act: tuning[act]["chosen_lr"] for act in ACTIVATIONS}
    row = comparison(seeds, per_seed)
    record = record_header("figure1", 1, f"{data.description}; four-layer net {p['channels']}",
                           command, CODE_MODULES, code, p, seeds)
    record.update(learning_rates=lrs, tuning=tuning, runs={str(s): per_seed[s] for s in seeds},
                  comparisons=[row.to_dict()])
    path = write_json(out / "figure1.json", record)
    v = row.verdict()
    log(f"claim 1: {v.status} ({v.reason}); wrote {path}")
    return path


def run(argv: list[str] | None = None, prog: str | None = None) -> Path | None:
    """Command line: ``--seeds``, ``--activation`` and ``--out``; everything else is
    :data:`PROTOCOL`."""
    parser = evidence_parser("figure1", __doc__, prog, "0,1,2",
                             "figure1.json and its per-seed files, figure1.parts/", device=False)
    parser.add_argument("--activation", choices=ACTIVATIONS, action="append",
                        help="run only this arm's parts (repeat for both; default both): two "
                             "processes, one per arm, share the work; either writes the record "
                             "once both arms are done")
    args, seeds, command = parse_evidence_args(parser, argv)
    return evidence(seeds, args.out, command, log=lambda m: print(m, flush=True),
                    activations=tuple(args.activation or ACTIVATIONS))


if __name__ == "__main__":
    run()
