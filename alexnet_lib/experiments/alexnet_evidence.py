"""The paper's AlexNet ablations over several seeds, at 128 px: overlapping pooling (claim 3),
dropout (claim 6), two columns (claim 7) and depth (claim 8).

Defined in the book's introduction ("What counts as evidence") for the chapters on pooling,
dropout, the two-GPU split and the architecture; sized for a GPU:
``python -m alexnet_lib.experiments alexnet_evidence --claim 3 --device cuda`` (one claim's arms
and record; ``--claim all`` runs every arm). On a 2-core CPU one run takes about three hours
(28 images/s for training at this width on one core).

Every arm is the book's AlexNet at half width (``width=0.5``: conv1 has 48 kernels, a column
24), fc6 and fc7 of 1024 units, trained with the paper's recipe at this scale: random 128-px
patches of 146-px images and their mirror images (the paper's 224 of 256), SGD with momentum 0.9
and weight decay 5e-4, the learning rate divided by 10 twice. It is He-initialised on
standardised inputs (from N(0, 0.01) the narrow deep net does not start learning in the budget;
see "Differences from the paper"). At 128 px, pool5 is 3x3 and conv3-5 work on 7x7 maps, so
pooling and depth act on maps with spatial extent. The arms (:data:`ARMS`) each change one thing
in the paper's net:

* claim 3, ``non-overlapping``: 2x2 pooling with stride 2 instead of 3x3 with stride 2;
* claim 6, ``no dropout``: dropout off in fc6 and fc7 (compared on test error, and on the epochs
  to :data:`PROTOCOL`'s ``converge_target`` training error, the "iterations to converge");
* claim 7, ``one column, half kernels``: the paper's one-GPU net (half the kernels of conv1-4,
  conv5 kept; Section 3.2's footnote), and ``one column, same parameters``: one column with every
  layer's kernels scaled so that its parameter count is the nearest to the two-column net's;
* claim 8, ``without conv3`` and ``without conv4``: a middle conv layer removed.

Protocol (:data:`PROTOCOL`, fixed before its runs): the learning rate is chosen once, for the
paper's net, on the validation split (the training split's next ``n_val`` images; grid extended
at an edge as in :mod:`.arms`), and every arm uses it: each arm changes one thing in the paper's
recipe, as the paper's ablations did. Each arm then trains on every seed (a seed sets the
weights, the batch order, the patches and flips, and the dropout masks) and is measured on the
test split's centre patches. Each comparison pairs the paper's net with one arm; the reference
arm (which must learn: at most half of chance) is the arm it is compared with.

A second protocol sized for a 2-core CPU, ``--protocol cpu`` (:data:`PROTOCOL_CPU`, record
``alexnet-cpu-claims-7-8.json``), measures claims 7 and 8, which need AlexNet itself (claims 3
and 6 have CPU experiments of their own, :mod:`.pooling_evidence` and :mod:`.dropout_evidence`):
the same net, arms and protocol on :mod:`.pooling_evidence`'s data and recipe (32-px random
patches of 36-px images and their mirror images, 5,000 training images, 20 epochs), with conv1's
window and stride changed from 11x11/4 to 7x7/1 so that a 32-px patch keeps maps with spatial
extent (26, 12, then 5x5 for conv3-5 and 2x2 after pool5). About 7 minutes per run of the paper's
net on one core; ``--arm`` runs some arms' parts, so that processes can share the work.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from ..model import PAPER_CHANNELS, AlexNet
from .arms import split_data, train_arm, tune_arm
from .augment_evidence import AugmentedNet
from .evidence_record import (
    EVIDENCE_DIR,
    Comparison,
    SeedStore,
    code_hash,
    evidence_parser,
    parse_evidence_args,
    record_header,
    save_record,
)
from .loop import epochs_to_reach
from .nets import initialise

__all__ = ["PROTOCOL", "PROTOCOL_CPU", "PROTOCOLS", "CODE_MODULES", "ARMS", "CLAIM_ARMS",
           "make_net", "equal_parameter_channels", "comparisons", "evidence", "run"]

PROTOCOL: dict[str, Any] = {
    "data_style": "natural",  # the generator's photo-like style
    "image_size": 146,        # px, the stored images
    "crop": 128,              # px, the random patch (the paper: 224 of 256)
    "n_train": 10000,         # training images
    "n_val": 2000,            # validation images (the train split's next ones): choose the lr
    "n_test": 2000,           # test images: the verdict, never a choice
    "data_seed": 0,
    "width": 0.5,             # AlexNet's kernels x 0.5 (conv1: 48)
    "hidden": 1024,           # units in fc6 and fc7 (the paper: 4096)
    "lrn": "paper",           # k=2, n=5, alpha=1e-4, beta=0.75, per column
    "dropout": 0.5,           # fc6 and fc7, the paper's
    "init": "he",             # He-normal weights, zero biases (see the module docstring)
    "preprocess": "standardize",
    "batch_size": 128,        # the paper's
    "momentum": 0.9,
    "weight_decay": 5e-4,
    "epochs": 30,
    "lr_drops": [20, 26],     # learning rate /10 after these epochs
    "lrs": [0.003, 0.01, 0.03],  # the starting grid, for the paper's net
    "lr_step": 3.0,
    "tuning_seed": 100,
    "converge_target": 0.25,  # training error that counts as converged (claim 6's iterations)
    "threads": 1,
}
"""The protocol, fixed before its runs."""

PROTOCOL_CPU: dict[str, Any] = PROTOCOL | {
    "image_size": 36,         # px, the stored images (pooling_evidence's data)
    "crop": 32,               # px, the random patch
    "n_train": 5000,
    "n_val": 1000,
    "n_test": 2000,
    "conv1_kernel": 7,        # px, conv1's window (the paper: 11) ...
    "conv1_stride": 1,        # ... and stride (the paper: 4): maps 26, 12, 5, 5, 5; pool5 2x2
    "conv1_padding": 0,
    "batch_size": 64,
    "epochs": 20,
    "lr_drops": [15],
}
"""The CPU protocol for claims 7 and 8, fixed before its runs: :data:`PROTOCOL` on
:mod:`.pooling_evidence`'s data and recipe, conv1 changed so that 32-px patches keep spatial
extent (a deviation listed in "Differences from the paper")."""
PROTOCOLS = {"128px": ("alexnet", PROTOCOL), "cpu": ("alexnet-cpu", PROTOCOL_CPU)}
"""``--protocol`` -> (the start of its records' names, the protocol)."""

CODE_MODULES = ("alexnet_lib.experiments.alexnet_evidence", "alexnet_lib.experiments.arms",
                "alexnet_lib.experiments.augment_evidence", "alexnet_lib.experiments.loop",
                "alexnet_lib.experiments.nets", "alexnet_lib.experiments.evidence",
                "alexnet_lib.model", "alexnet_lib.lrn", "alexnet_lib.augment",
                "alexnet_lib.data.builtin")
HALF_KERNELS = (48, 128, 192, 192, 256)  # the paper's one-GPU net (conv5 not halved)
ARMS: dict[str, dict[str, Any]] = {  # name: AlexNet's arguments that differ from the paper's net
    "paper": {},
    "non-overlapping": {"pooling": "non-overlapping"},
    "no dropout": {"dropout": 0.0},
    "one column, half kernels": {"groups": 1, "channels": HALF_KERNELS},
    "one column, same parameters": {"groups": 1, "channels": "equal parameters"},
    "without conv3": {"remove": ("conv3",)},
    "without conv4": {"remove": ("conv4",)},
}
CLAIM_ARMS: dict[int, tuple[str, ...]] = {
    3: ("non-overlapping",), 6: ("no dropout",),
    7: ("one column, half kernels", "one column, same parameters"),
    8: ("without conv3", "without conv4"),
}
CHANCE = 0.9


def _alexnet(p: dict[str, Any], **switches: Any) -> AlexNet:
    kwargs = dict(num_classes=10, width=p["width"], hidden=p["hidden"], input_size=p["crop"],
                  lrn=p["lrn"], dropout=p["dropout"], conv1_kernel=p.get("conv1_kernel", 11),
                  conv1_stride=p.get("conv1_stride", 4),
                  conv1_padding=p.get("conv1_padding", 2)) | switches
    return AlexNet(**kwargs, init="torch")


def _parameters(net: nn.Module) -> int:
    return sum(q.numel() for q in net.parameters())


def equal_parameter_channels(p: dict[str, Any]) -> tuple[int, ...]:
    """One column's conv kernels (before ``width``): the paper's times the factor in 0.50..1.00
    (steps of 0.01) whose net has the parameter count nearest to the two-column net's."""
    target = _parameters(_alexnet(p))
    best = min((abs(_parameters(_alexnet(p, groups=1, channels=chans)) - target), chans)
               for f in np.arange(50, 101) / 100
               for chans in [tuple(int(round(c * f)) for c in PAPER_CHANNELS)])
    return best[1]


def make_net(arm: str, p: dict[str, Any]) -> Callable[[], nn.Module]:
    """A factory for ``arm``'s network behind the random patches and flips (:class:`.AugmentedNet`)."""
    switches = dict(ARMS[arm])
    if switches.get("channels") == "equal parameters":
        switches["channels"] = equal_parameter_channels(p)
    return lambda: AugmentedNet(initialise(_alexnet(p, **switches), p["init"]), p["crop"], True)


def comparisons(seeds: list[int], runs: dict[str, dict[str, Any]], claims: list[int],
                target: float, crop: int = 128) -> list[Comparison]:
    """One row per (paper's net, arm) of the ``claims``; claim 6 also gets the epochs row."""
    def values(arm: str, key: str = "test_error") -> list[float]:
        return [runs[str(s)][arm][key] for s in seeds]

    rows = []
    for claim in claims:
        for arm in CLAIM_ARMS[claim]:
            rows.append(Comparison(
                claim=claim, title=f"the paper's net vs {arm} (AlexNet at half width, {crop} px)",
                metric="test error, centre patch (fraction)", lower_is_better=True,
                paper_better="paper", arms={"paper": values("paper"), arm: values(arm)},
                seeds=seeds, baseline_error=values(arm), chance_error=CHANCE, split="test"))
        if claim == 6:
            rows.append(Comparison(
                claim=6, title=f"epochs to {target:.0%} training error: the paper says dropout "
                               "roughly doubles them", metric=f"epochs to {target:.0%} training "
                "error (budget + 1 if never)", lower_is_better=True, paper_better="no dropout",
                arms={"no dropout": values("no dropout", "epochs_to_target"),
                      "paper": values("paper", "epochs_to_target")},
                seeds=seeds, baseline_error=values("no dropout"), chance_error=CHANCE,
                split="test", paper_value="dropout 'roughly doubles the number of iterations "
                                          "required to converge'"))
    return rows


def _key(seed: int, arm: str) -> str:
    return f"seed{seed}-{arm.replace(' ', '_').replace(',', '')}"


def evidence(seeds: list[int], claims: list[int], out: str | Path = EVIDENCE_DIR,
             command: str = "", p: dict[str, Any] = PROTOCOL, device: str = "cpu",
             workers: int = 1, log: Callable[[str], None] = print, name: str = "alexnet",
             only: tuple[str, ...] | None = None) -> Path | None:
    """Run (or resume) the paper's net and the arms of ``claims`` (those in ``only``, default
    all); write ``out/<name>-claims-<claims>.json`` once every part is saved in its folder
    ``<name>-claims-<claims>.parts`` (else None)."""
    if len(seeds) < 3:
        raise ValueError("the evidence standard needs at least 3 seeds (--seeds 0,1,2)")
    arms = ["paper"] + [a for c in claims for a in CLAIM_ARMS[c]]
    if only is not None and set(only) - set(arms):
        raise ValueError(f"--arm {sorted(set(only) - set(arms))} is not an arm of claims "
                         f"{claims}: choose from {arms}")
    out = Path(out)
    name = f"{name}-claims-" + "-".join(map(str, claims))
    code = code_hash(CODE_MODULES)
    store = SeedStore(out / f"{name}.parts", code, p)
    val, test = split_data(p, workers)
    lr = tune_arm("paper", make_net("paper", p), val, p, store, log, device)
    store.put("lr-paper", {"lr": lr})
    for arm in [a for a in arms if only is None or a in only]:
        make = make_net(arm, p)
        for seed in seeds:
            part = store.get(_key(seed, arm))
            if part is None:
                model, hist = train_arm(make, lr, seed, test, p, f"{arm}, seed {seed}", device)
                reached = epochs_to_reach(hist.train_error, p["converge_target"])
                part = {"lr": lr, "test_error": hist.test_error[-1],
                        "train_error": hist.train_error[-1],
                        "epochs_to_target": reached or p["epochs"] + 1,
                        "parameters": _parameters(model.net), "history": hist.to_dict()}
                store.put(_key(seed, arm), part)
            log(f"seed {seed}, {arm}: test error {part['test_error']:.3f}, training error "
                f"{part['train_error']:.3f}")
    runs = {str(s): {a: store.get(_key(s, a)) for a in arms} for s in seeds}
    if any(part is None for parts in runs.values() for part in parts.values()):
        log("some arms' parts are not saved yet: no record written")
        return None
    rows = comparisons(seeds, runs, claims, p["converge_target"], p["crop"])
    conv1 = f"conv1 {p['conv1_kernel']}x{p['conv1_kernel']}/{p['conv1_stride']}, " \
        if "conv1_kernel" in p else ""
    record = record_header(name, claims, f"{test.description}; {p['crop']}-px patches; AlexNet "
                           f"at width {p['width']}, {conv1}fc {p['hidden']}", command,
                           CODE_MODULES, code, p, seeds, device)
    record.update(learning_rate=lr, runs=runs)
    return save_record(out / f"{name}.json", record, rows, log)


def run(argv: list[str] | None = None, prog: str | None = None) -> Path | None:
    """Command line: ``--claim``, ``--seeds``, ``--device``, ``--workers``, ``--out``."""
    parser = evidence_parser("alexnet_evidence", __doc__, prog, "0,1,2,3,4",
                             "the records and their parts, alexnet.parts/")
    parser.add_argument("--claim", choices=[*map(str, CLAIM_ARMS), "all"], action="append",
                        required=True, help="which claim's arms to run (repeatable, or 'all')")
    parser.add_argument("--arm", choices=tuple(ARMS), action="append",
                        help="run only this arm's parts (repeatable; default every arm of the "
                             "claims; the paper's net's learning rate is tuned first)")
    parser.add_argument("--protocol", choices=tuple(PROTOCOLS), default="128px",
                        help="128px (PROTOCOL, for a GPU) or cpu (PROTOCOL_CPU, 32-px patches "
                             "and conv1 7x7/1)")
    parser.add_argument("--workers", type=int, default=1,
                        help="processes that generate the images (default 1)")
    args, seeds, command = parse_evidence_args(parser, argv)
    claims = sorted(CLAIM_ARMS) if "all" in args.claim else sorted({int(c) for c in args.claim})
    name, protocol = PROTOCOLS[args.protocol]
    if args.protocol == "cpu" and set(claims) - {7, 8}:
        parser.error("--protocol cpu measures claims 7 and 8 (--claim 7 --claim 8); claims 3 "
                     "and 6 have CPU experiments of their own: pooling_evidence, dropout_evidence")
    wrong = set(args.arm or ()) - {"paper", *(a for c in claims for a in CLAIM_ARMS[c])}
    if wrong:
        parser.error(f"--arm {sorted(wrong)} is not an arm of --claim {claims}")
    return evidence(seeds, claims, args.out, command, p=protocol, device=args.device,
                    workers=args.workers, log=lambda m: print(m, flush=True), name=name,
                    only=tuple(args.arm) if args.arm else None)


if __name__ == "__main__":
    run()
