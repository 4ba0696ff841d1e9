"""Overlapping pooling over several seeds: the four-layer net with 3x3, stride-2 pooling against
2x2, stride-2 pooling (claim 3), on the CPU.

Defined in the book's chapter "Overlapping pooling"; run with
``python -m alexnet_lib.experiments pooling_evidence --seeds 0,1,2,3,4 --out book/results/evidence``
(``--arm overlapping`` or ``--arm non-overlapping`` runs one arm's parts, so that processes can
share the work).

The paper (Section 3.4): pooling windows of z=3 with stride s=2 instead of z=s=2, "which produces
output of equivalent dimensions", "reduces the top-1 and top-5 error rates by 0.4% and 0.3%", and
such models "find it slightly more difficult to overfit".

The net is the four-layer CIFAR-10 net (:class:`.FourLayerNet`), whose three pooling layers are
the paper's z=3, s=2 (cuda-convnet's CIFAR-10 nets pool so too); the other arm swaps each for
z=s=2. Both round up (``ceil_mode``), so both give 16x16, 8x8 and 4x4 maps from a 32-px patch:
equivalent dimensions, as in the paper, and every pooling layer works on a map with spatial extent
(the 64-px AlexNet of the chapter's miniature pools 3x3 maps, where 2x2 windows drop a third of
the map; the 128-px AlexNet of :mod:`.alexnet_evidence` measures the same claim on a GPU). The
data and the recipe are :mod:`.augment_evidence`'s crops+flips arm (the paper's augmentation):
the ``natural`` style, 32-px random patches of 36-px images and their mirror images.

The protocol (:data:`PROTOCOL`, fixed before its runs) is :mod:`.arms`': each arm's learning rate
chosen on the validation split, every arm on every seed (a seed sets the weights, the batch
order, the patches and flips), measured on the test split's centre patches. Five seeds: the
paper's effect is small. One scorecard row, test error; the reference arm is non-overlapping
pooling.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from torch import nn

from .arms import run_arms, split_data
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
from .nets import FourLayerNet

__all__ = ["PROTOCOL", "CODE_MODULES", "ARMS", "four_layer_net", "comparisons", "evidence", "run"]

PROTOCOL: dict[str, Any] = {
    "data_style": "natural",  # the generator's photo-like style
    "image_size": 36,         # px, the stored images
    "crop": 32,               # px, the random patch (the paper: 224 of 256)
    "n_train": 5000,          # training images
    "n_val": 1000,            # validation images (the train split's next ones): choose the lr
    "n_test": 2000,           # test images: the verdict, never a choice
    "data_seed": 0,
    "channels": [32, 32, 64], # conv1..conv3 kernels of the four-layer net
    "init": "torch",          # PyTorch's default init, the same for both arms
    "preprocess": "standardize",  # mean image subtracted, each channel / its std
    "batch_size": 64,
    "momentum": 0.9,
    "weight_decay": 5e-4,     # the paper's
    "epochs": 20,
    "lr_drops": [15],         # learning rate /10 after epoch 15
    "lrs": [0.003, 0.01, 0.03],  # the starting grid, per arm
    "lr_step": 3.0,
    "tuning_seed": 100,
    "threads": 1,
}
"""Claim 3's CPU protocol, fixed before its runs."""

CODE_MODULES = ("alexnet_lib.experiments.pooling_evidence", "alexnet_lib.experiments.arms",
                "alexnet_lib.experiments.augment_evidence", "alexnet_lib.experiments.loop",
                "alexnet_lib.experiments.nets", "alexnet_lib.experiments.evidence",
                "alexnet_lib.augment", "alexnet_lib.data.builtin")
ARMS: dict[str, int] = {"overlapping": 3, "non-overlapping": 2}  # name: pooling window z (s=2)
CHANCE = 0.9


def four_layer_net(window: int, p: dict[str, Any]) -> FourLayerNet:
    """The four-layer net of ``p`` with every pooling layer ``window`` x ``window``, stride 2,
    rounding up (the net's own pooling is 3x3)."""
    net = FourLayerNet(channels=tuple(p["channels"]), input_size=p["crop"], init=p["init"])
    for i in (1, 2, 3):
        setattr(net.features, f"pool{i}", nn.MaxPool2d(window, stride=2, ceil_mode=True))
    return net


def _makers(p: dict[str, Any]) -> dict[str, Callable[[], nn.Module]]:
    def maker(window: int) -> Callable[[], nn.Module]:
        return lambda: AugmentedNet(four_layer_net(window, p), p["crop"], True)
    return {name: maker(window) for name, window in ARMS.items()}


def comparisons(seeds: list[int], runs: dict[str, dict[str, Any]]) -> list[Comparison]:
    """The scorecard row: overlapping vs non-overlapping pooling, test error."""
    def test(arm: str) -> list[float]:
        return [runs[str(s)][arm]["test_error"] for s in seeds]

    return [Comparison(claim=3, title="overlapping (3x3, stride 2) vs non-overlapping (2x2) "
                                      "pooling (four-layer net)",
                       metric="test error, centre patch (fraction)", lower_is_better=True,
                       paper_better="overlapping",
                       arms={"overlapping": test("overlapping"),
                             "non-overlapping": test("non-overlapping")},
                       seeds=seeds, baseline_error=test("non-overlapping"), chance_error=CHANCE,
                       split="test", paper_value="top-1 error lower by 0.4% (ImageNet)")]


def evidence(seeds: list[int], out: str | Path = EVIDENCE_DIR, command: str = "",
             p: dict[str, Any] = PROTOCOL, only: tuple[str, ...] | None = None,
             log: Callable[[str], None] = print, device: str = "cpu") -> Path | None:
    """Run (or resume) the arms in ``only`` (default both) on ``device``; write
    ``out/pooling.json`` once every part of both arms is saved (else None)."""
    if len(seeds) < 3:
        raise ValueError("the evidence standard needs at least 3 seeds (--seeds 0,1,2,3,4)")
    out = Path(out)
    code = code_hash(CODE_MODULES)
    store = SeedStore(out / "pooling.parts", code, p)
    val, test = split_data(p)
    done = run_arms(_makers(p), seeds, p, store, only, log=log, device=device, data=(val, test))
    if done is None:
        return None
    rows = comparisons(seeds, done["runs"])
    record = record_header("pooling", 3, f"{test.description}; {p['crop']}-px patches; four-layer "
                           f"net {p['channels']}", command, CODE_MODULES, code, p, seeds, device)
    record.update(learning_rates=done["learning_rates"], runs=done["runs"])
    return save_record(out / "pooling.json", record, rows, log)


def run(argv: list[str] | None = None, prog: str | None = None) -> Path | None:
    """Command line: ``--seeds``, ``--arm``, ``--device`` and ``--out``; everything else is
    :data:`PROTOCOL`."""
    parser = evidence_parser("pooling_evidence", __doc__, prog, "0,1,2,3,4",
                             "pooling.json and its parts, pooling.parts/")
    parser.add_argument("--arm", choices=tuple(ARMS), action="append",
                        help="run only this arm's parts (repeatable; default both)")
    args, seeds, command = parse_evidence_args(parser, argv)
    return evidence(seeds, args.out, command, only=tuple(args.arm) if args.arm else None,
                    log=lambda m: print(m, flush=True), device=args.device)


if __name__ == "__main__":
    run()
