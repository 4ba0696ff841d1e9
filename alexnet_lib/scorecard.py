"""The claims scorecard: every quantitative claim of the paper beside our measurement of it.

Defined in the book's chapter "The claims scorecard".

The list of claims (:data:`CLAIMS`) is the project's list of the paper's quantitative claims: the
architecture's numbers (claim 0) and claims 1-11 (ReLU, LRN, overlapping pooling, augmentation,
PCA lighting, dropout, two GPUs, depth, training, results, preprocessing). Its texts are the
*paper's* side. Our side comes only from records (:class:`~alexnet_lib.experiments.records.Record`)
that experiments and chapters save as JSON in ``book/results/``, plus the architecture records
that :func:`architecture_records` computes from the library when the scorecard is built. A claim
no record covers is still listed, with the status it has without one: ``"not yet measured"``
for claims a small run could test, ``"needs ImageNet"`` for claims about ImageNet numbers.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .experiments.records import RESULTS_DIR, STATUSES, Record, load_records

__all__ = [
    "Claim",
    "CLAIMS",
    "NOT_MEASURED",
    "ALL_STATUSES",
    "ScoreRow",
    "architecture_records",
    "scorecard_rows",
    "status_counts",
    "render_markdown",
]

NOT_MEASURED = "not yet measured"
ALL_STATUSES: tuple[str, ...] = (*STATUSES, NOT_MEASURED)


@dataclass(frozen=True)
class Claim:
    """One claim of the paper, as the project's list of claims states it."""

    number: int  # 0 = the architecture's numbers, then 1..11
    topic: str
    text: str  # what the paper says, with its numbers
    section: str  # where in the paper
    without_record: str  # the status when no record covers it


CLAIMS: tuple[Claim, ...] = (
    Claim(0, "architecture", "60 million parameters; feature maps 55x55x96, 27x27x256, 13x13x384, "
          "13x13x384, 13x13x256, 6x6x256 = 9216 inputs to fc6; neurons 253,440-186,624-64,896-"
          "64,896-43,264-4096-4096-1000; 224x224 input", "3.5, Figure 2", NOT_MEASURED),
    Claim(1, "ReLU", "a 4-layer CNN with ReLUs reaches 25% training error on CIFAR-10 six times "
          "faster than the same net with tanh", "3.1, Figure 1", NOT_MEASURED),
    Claim(2, "LRN", "response normalization lowers top-1/top-5 error by 1.4%/1.2% on ImageNet; "
          "on CIFAR-10 a 4-layer CNN: 13% test error without, 11% with", "3.3", NOT_MEASURED),
    Claim(3, "overlapping pooling", "pooling with z=3, s=2 instead of z=2, s=2 lowers top-1/top-5 "
          "by 0.4%/0.3%; slightly harder to overfit", "3.4", NOT_MEASURED),
    Claim(4, "crops and flips", "random 224x224 patches of 256x256 images and their reflections "
          "(x2048); without them substantial overfitting; test on 10 patches, softmax averaged",
          "4.1", NOT_MEASURED),
    Claim(5, "PCA colour augmentation", "adding [p1 p2 p3][a1 l1, a2 l2, a3 l3]^T with "
          "a ~ N(0, 0.1) per image lowers top-1 error by over 1%", "4.1", NOT_MEASURED),
    Claim(6, "dropout", "dropout 0.5 in fc6 and fc7: without it substantial overfitting; it "
          "roughly doubles the iterations needed to converge", "4.2", NOT_MEASURED),
    Claim(7, "two GPUs", "the two-GPU net has 1.7%/1.2% lower top-1/top-5 error than a one-GPU "
          "net with half the kernels in each conv layer, and trains slightly faster", "3.2",
          NOT_MEASURED),
    Claim(8, "depth", "removing any middle conv layer costs about 2% top-1", "6",
          NOT_MEASURED),
    Claim(9, "training", "SGD, batch 128, momentum 0.9, weight decay 0.0005, weights N(0, 0.01), "
          "biases 1/0, lr 0.01 divided by 10 three times, ~90 epochs, 5-6 days on two GTX 580",
          "5", "needs ImageNet"),
    Claim(10, "results", "ILSVRC-2010 test top-1/top-5 error 37.5%/17.0%; ILSVRC-2012 validation, "
          "one CNN, 40.7%/18.2%", "6", "needs ImageNet"),
    Claim(11, "preprocessing", "rescale the shorter side to 256, centre-crop 256x256, subtract "
          "the per-pixel mean image of the training set", "2", NOT_MEASURED),
)
"""The claims, in the order of the project's list (paper-facts)."""


@dataclass(frozen=True)
class ScoreRow:
    """One line of the scorecard: a claim and one record of it (or none)."""

    claim: Claim
    record: Record | None

    @property
    def status(self) -> str:
        return self.record.status if self.record is not None else self.claim.without_record

    @property
    def source(self) -> str:
        """The notebook and command that produced the record."""
        if self.record is None:
            return ""
        parts = [p for p in (self.record.notebook, self.record.command) if p]
        return "; ".join(dict.fromkeys(parts))


def architecture_records() -> list[Record]:
    """Claim 0, computed from the library now: parameter count, map sizes, neuron counts.

    The paper's numbers are compared with ``AlexNet().layer_table()`` (one 224x224 image through
    the paper's network) and the convolution arithmetic of the 224 input.
    """
    from .model import AlexNet, conv_output_size

    rows = AlexNet().layer_table()
    params = sum(r.params for r in rows)
    shapes = {r.name: r.output_shape for r in rows}
    paper_maps = {"conv1": (96, 55, 55), "conv2": (256, 27, 27), "conv3": (384, 13, 13),
                  "conv4": (384, 13, 13), "conv5": (256, 13, 13), "pool5": (256, 6, 6)}
    maps_match = all(shapes[k] == v for k, v in paper_maps.items())
    paper_neurons = [253_440, 186_624, 64_896, 64_896, 43_264, 4096, 4096, 1000]
    ours = [r.neurons for r in rows if r.kind in ("Conv2d", "Linear")]
    differ = [i for i, (p, o) in enumerate(zip(paper_neurons, ours, strict=True)) if p != o]
    common = dict(scale="arithmetic on the paper's network (alexnet_lib.AlexNet(), no training)",
                  experiment="architecture", notebook="book/architecture.ipynb",
                  command="alexnet_lib.scorecard.architecture_records()")
    return [
        Record(0, "the network has 60 million parameters", "60 million",
               f"{params:,} parameters", status="reproduced" if round(params / 1e6) in (60, 61)
               else "not reproduced at this scale", values={"parameters": params}, **common),
        Record(0, "feature maps of Figure 2, 6x6x256 = 9216 inputs to fc6",
               "55x55x96 ... 6x6x256", "all six map sizes equal" if maps_match else
               "map sizes differ", status="reproduced" if maps_match else
               "not reproduced at this scale", values={k: list(v) for k, v in shapes.items()},
               **common),
        Record(0, "neurons of conv2 ... fc8: 186,624-64,896-64,896-43,264-4096-4096-1000",
               "186,624-64,896-64,896-43,264-4096-4096-1000",
               "-".join(f"{n:,}" for n in ours[1:]),
               status="reproduced" if not [i for i in differ if i > 0] else
               "not reproduced at this scale", values={"ours": ours[1:]}, **common),
        Record(0, "neurons of conv1: 253,440", "253,440",
               f"{ours[0]:,} = 55x55x96; no layout of a 55x55 layer gives the paper's number "
               "(a known inconsistency)",
               status="reproduced" if 0 not in differ else "not reproduced at this scale",
               values={"ours": ours[0], "paper": paper_neurons[0]}, **common),
        Record(0, "224x224 input, 11x11 stride-4 conv1 gives 55x55",
               "224 -> 55", f"(224 - 11) / 4 + 1 = {(224 - 11) / 4 + 1} without padding; "
               f"{conv_output_size(224, 11, 4, padding=2)} with padding 2 (our default) or a 227 "
               f"input ({conv_output_size(227, 11, 4)})",
               status="reproduced" if conv_output_size(224, 11, 4, padding=2) == 55 else
               "not reproduced at this scale", values={"unpadded": (224 - 11) / 4 + 1}, **common),
    ]


def scorecard_rows(records: Iterable[Record] | None = None,
                   results: str | Path = RESULTS_DIR,
                   include_architecture: bool = True) -> list[ScoreRow]:
    """Every claim of :data:`CLAIMS` with every record of it; one row with no record if none.

    ``records`` default: every record saved under ``results`` (``book/results``), plus
    :func:`architecture_records`. Records whose claim number is not in the list are kept too,
    at the end, so nothing measured is dropped silently.
    """
    if records is None:
        found = load_records(results) if Path(results).is_dir() else []
        records = (architecture_records() if include_architecture else []) + found
    by_claim: dict[int, list[Record]] = {}
    for r in records:
        by_claim.setdefault(r.claim, []).append(r)
    rows: list[ScoreRow] = []
    known = {c.number for c in CLAIMS}
    for claim in CLAIMS:
        rows += [ScoreRow(claim, r) for r in by_claim.get(claim.number, [])] or [ScoreRow(claim, None)]
    for number in sorted(set(by_claim) - known):
        extra = Claim(number, f"claim {number}", "(not in the project's list)", "", NOT_MEASURED)
        rows += [ScoreRow(extra, r) for r in by_claim[number]]
    return rows


def status_counts(rows: Sequence[ScoreRow], per: str = "claim") -> dict[str, int]:
    """How many claims (``per="claim"``: the claim's best status) or rows have each status.

    A claim's status is its best record's: reproduced, then not reproduced at this scale, then
    needs ImageNet, then not yet measured.
    """
    if per == "row":
        counts = Counter(r.status for r in rows)
    else:
        best: dict[int, str] = {}
        for r in rows:
            prev = best.get(r.claim.number)
            if prev is None or ALL_STATUSES.index(r.status) < ALL_STATUSES.index(prev):
                best[r.claim.number] = r.status
        counts = Counter(best.values())
    return {s: counts.get(s, 0) for s in ALL_STATUSES}


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render_markdown(rows: Sequence[ScoreRow]) -> str:
    """The scorecard as a Markdown table: claim, the paper's number, ours, scale, source, status."""
    lines = ["| # | claim | the paper | ours | scale | produced by | status |",
             "|---|---|---|---|---|---|---|"]
    for row in rows:
        r = row.record
        paper = r.paper if r is not None else row.claim.text
        what = r.claim_text if r is not None else row.claim.topic
        ours = r.ours if r is not None else "—"
        scale = r.scale if r is not None else "—"
        source = f"`{row.source}`" if row.source else "—"
        lines.append(f"| {row.claim.number} | {_cell(what)} | {_cell(paper)} | {_cell(ours)} | "
                     f"{_cell(scale)} | {_cell(source)} | **{row.status}** |")
    return "\n".join(lines)
