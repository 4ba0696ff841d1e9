"""The claims scorecard: every quantitative claim of the paper beside our measurement of it.

Defined in the book's chapter "The claims scorecard".

The list of claims (:data:`CLAIMS`) is the project's list of the paper's quantitative claims: the
architecture's numbers (claim 0) and claims 1-11 (ReLU, LRN, overlapping pooling, augmentation,
PCA lighting, dropout, two GPUs, depth, training, results, preprocessing). Its texts are the
*paper's* side. Our side comes only from records (:class:`~alexnet_lib.experiments.records.Record`)
that experiments and chapters save as JSON in ``book/results/``, plus the architecture records
that :func:`architecture_records` computes from the library when the scorecard is built.

A row of the scorecard is one of three kinds (:data:`KINDS`):

* ``"claim"``: a record of a claim of the paper (or of a part of one). Its status is the record's
  (:data:`~alexnet_lib.experiments.records.STATUSES`), except for the records listed in
  :data:`CANNOT_TEST`, which measure something that cannot show the claim on this hardware and
  are shown as ``"cannot be tested here"`` rather than as a failure;
* ``"fact"``: arithmetic on the paper's own text (:func:`architecture_facts`: the 224 input gives
  54.25, not 55, without padding; the 253,440 neurons of conv1 are a typo). Nothing is claimed, so
  nothing is reproduced or not: its status is ``"fact"``;
* ``"check"``: a record of one of the book's own choices, not of a claim of the paper
  (:data:`BOOK_CHECKS`: the inverted dropout that replaces the paper's x0.5). Its status says
  whether the check holds.

A claim is judged on *all* its claim rows (:func:`claim_verdicts`; facts and checks do not count):

1. no record: the claim's default (``"not yet measured"`` for claims a small run could test,
   ``"needs ImageNet"`` for claims about ImageNet numbers);
2. every record has the same status: that status;
3. no record tested anything (``"needs ImageNet"`` and ``"cannot be tested here"`` only):
   ``"cannot be tested here"``;
4. otherwise the records disagree (some reproduced and others not, or some parts tested and
   others not testable here): ``"mixed"``.

So one good record does not make a claim reproduced: a claim is reproduced only when every record
of it is.

``python -m alexnet_lib.scorecard --json`` prints the scorecard of *evidence* records only
(:func:`evidence_rows`: multi-seed comparisons in ``book/results/evidence``, judged by the evidence
standard, never the chapters' miniatures): one row per two-arm comparison, and one row with the
claim's default status for a claim that has none.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .experiments.evidence_record import EVIDENCE_DIR, compute_used, describe_compute, load_evidence
from .experiments.records import RESULTS_DIR, STATUSES, Record, load_records

__all__ = [
    "Claim",
    "CLAIMS",
    "Fact",
    "KINDS",
    "NOT_MEASURED",
    "CANNOT_BE_TESTED",
    "MIXED",
    "FACT",
    "CHECK_HOLDS",
    "CHECK_FAILS",
    "CLAIM_STATUSES",
    "VERDICTS",
    "ALL_STATUSES",
    "TESTED",
    "BOOK_CHECKS",
    "CANNOT_TEST",
    "ScoreRow",
    "architecture_records",
    "architecture_facts",
    "scorecard_rows",
    "claim_verdicts",
    "status_counts",
    "render_markdown",
    "render_verdicts",
    "evidence_rows",
    "render_evidence",
    "main",
]

NOT_MEASURED = "not yet measured"
CANNOT_BE_TESTED = "cannot be tested here"
MIXED = "mixed"
FACT = "fact"
CHECK_HOLDS = "the book's check: holds"
CHECK_FAILS = "the book's check: fails"
KINDS = ("claim", "fact", "check")

TESTED: tuple[str, ...] = ("reproduced", "not reproduced at this scale")
"""The statuses of a record that tested the claim; the others test nothing."""
CLAIM_STATUSES: tuple[str, ...] = (*STATUSES, CANNOT_BE_TESTED, NOT_MEASURED)
"""The statuses a claim row can have."""
VERDICTS: tuple[str, ...] = ("reproduced", MIXED, "not reproduced at this scale",
                             "needs ImageNet", CANNOT_BE_TESTED, NOT_MEASURED)
"""The verdicts a claim can have (:func:`claim_verdicts`)."""
ALL_STATUSES: tuple[str, ...] = (*CLAIM_STATUSES, FACT, CHECK_HOLDS, CHECK_FAILS)
"""Every status a row can have, of any kind."""

BOOK_CHECKS: dict[tuple[str, str], str] = {
    ("dropout", "At test time, multiplying the outputs by 0.5 (the paper) is equivalent to "
     "inverted dropout (scaling by 2 while training)"):
        "the library's inverted dropout in place of the paper's x0.5 (differences, row 4)",
}
"""Records, by (experiment, claim_text), that check one of the book's choices, with what they
check: the paper claims nothing there, so they are shown as the book's checks, not as claims."""

CANNOT_TEST: dict[tuple[str, str], str] = {
    ("columns", "the two-GPU net trains slightly faster than the one-GPU net"):
        "one CPU runs the two columns one after the other, never in parallel",
}
"""Records, by (experiment, claim_text), whose measurement cannot show the claim on this
hardware, with why: shown as "cannot be tested here", not as a failure."""


@dataclass(frozen=True)
class Claim:
    """One claim of the paper, as the project's list of claims states it."""

    number: int  # 0 = the architecture's numbers, then 1..11
    topic: str
    text: str  # what the paper says, with its numbers
    section: str  # where in the paper
    without_record: str  # the status when no record covers it


@dataclass(frozen=True)
class Fact:
    """Arithmetic on the paper's text, beside a claim: shown, never judged.

    The fields are a :class:`~alexnet_lib.experiments.records.Record`'s, without a status.
    """

    claim: int
    claim_text: str
    paper: str
    ours: str
    scale: str
    experiment: str
    notebook: str = ""
    command: str = ""
    values: dict[str, Any] = field(default_factory=dict)


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
          "one CNN, 40.7%/18.2%; ILSVRC-2012 test top-5, seven CNNs (two of them pre-trained on "
          "the Fall 2011 release), 15.3% (Table 2)", "6", "needs ImageNet"),
    Claim(11, "preprocessing", "rescale the shorter side to 256, centre-crop 256x256, subtract "
          "the per-pixel mean image of the training set", "2", NOT_MEASURED),
)
"""The claims, in the order of the project's list (paper-facts)."""


def _key(record: Record | Fact) -> tuple[str, str]:
    return (record.experiment, record.claim_text)


@dataclass(frozen=True)
class ScoreRow:
    """One line of the scorecard: a claim and one record or fact of it (or none)."""

    claim: Claim
    record: Record | Fact | None

    @property
    def kind(self) -> str:
        """``"claim"``, ``"fact"`` or ``"check"`` (see the module's docstring)."""
        if isinstance(self.record, Fact):
            return "fact"
        if self.record is not None and _key(self.record) in BOOK_CHECKS:
            return "check"
        return "claim"

    @property
    def status(self) -> str:
        r = self.record
        if r is None:
            return self.claim.without_record
        if isinstance(r, Fact):
            return FACT
        if _key(r) in BOOK_CHECKS:
            return CHECK_HOLDS if r.status == "reproduced" else CHECK_FAILS
        if _key(r) in CANNOT_TEST:
            return CANNOT_BE_TESTED
        return r.status

    @property
    def note(self) -> str:
        """Why a row is shown as it is, when that is not the record's own status."""
        if self.record is None or isinstance(self.record, Fact):
            return ""
        return BOOK_CHECKS.get(_key(self.record)) or CANNOT_TEST.get(_key(self.record), "")

    @property
    def source(self) -> str:
        """The notebook and command that produced the record."""
        if self.record is None:
            return ""
        parts = [p for p in (self.record.notebook, self.record.command) if p]
        return "; ".join(dict.fromkeys(parts))


def _architecture() -> tuple[list, dict[str, Any]]:
    from .model import AlexNet

    rows = AlexNet().layer_table()
    common = dict(scale="arithmetic on the paper's network (alexnet_lib.AlexNet(), no training)",
                  experiment="architecture", notebook="book/architecture.ipynb")
    return rows, common


def architecture_records() -> list[Record]:
    """Claim 0, computed from the library now: parameter count, map sizes, neuron counts.

    The paper's numbers are compared with ``AlexNet().layer_table()`` (one 224x224 image through
    the paper's network). The two places where the paper's own numbers do not add up are facts,
    not claims: :func:`architecture_facts`.
    """
    rows, common = _architecture()
    common["command"] = "alexnet_lib.scorecard.architecture_records()"
    params = sum(r.params for r in rows)
    shapes = {r.name: r.output_shape for r in rows}
    paper_maps = {"conv1": (96, 55, 55), "conv2": (256, 27, 27), "conv3": (384, 13, 13),
                  "conv4": (384, 13, 13), "conv5": (256, 13, 13), "pool5": (256, 6, 6)}
    maps_match = all(shapes[k] == v for k, v in paper_maps.items())
    paper_neurons = [186_624, 64_896, 64_896, 43_264, 4096, 4096, 1000]
    ours = [r.neurons for r in rows if r.kind in ("Conv2d", "Linear")][1:]

    def status(ok: bool) -> str:
        return "reproduced" if ok else "not reproduced at this scale"

    return [
        Record(0, "the network has 60 million parameters", "60 million",
               f"{params:,} parameters", status=status(round(params / 1e6) in (60, 61)),
               values={"parameters": params}, **common),
        Record(0, "feature maps of Figure 2, 6x6x256 = 9216 inputs to fc6",
               "55x55x96 ... 6x6x256", "all six map sizes equal" if maps_match else
               "map sizes differ", status=status(maps_match),
               values={k: list(v) for k, v in shapes.items()}, **common),
        Record(0, "neurons of conv2 ... fc8: 186,624-64,896-64,896-43,264-4096-4096-1000",
               "186,624-64,896-64,896-43,264-4096-4096-1000",
               "-".join(f"{n:,}" for n in ours), status=status(ours == paper_neurons),
               values={"ours": ours}, **common),
    ]


def architecture_facts() -> list[Fact]:
    """Arithmetic on the paper's text for claim 0, computed from the library now: the 224 input
    that gives 54.25 without padding, and the 253,440 neurons of conv1 (a typo: 55x55x96 =
    290,400). They are shown beside the claims, not judged."""
    from .model import conv_output_size

    rows, common = _architecture()
    common["command"] = "alexnet_lib.scorecard.architecture_facts()"
    conv1 = next(r.neurons for r in rows if r.name == "conv1")
    unpadded = (224 - 11) / 4 + 1
    return [
        Fact(0, "neurons of conv1: 253,440", "253,440",
             f"{conv1:,} = 55x55x96; no layout of a 55x55 layer gives the paper's number (a "
             "typo in the paper; the later layers and the parameter count agree with 55x55x96)",
             values={"ours": conv1, "paper": 253_440}, **common),
        Fact(0, "224x224 input, 11x11 stride-4 conv1 gives 55x55", "224 -> 55",
             f"(224 - 11) / 4 + 1 = {unpadded} without padding (the paper gives none); "
             f"{conv_output_size(224, 11, 4, padding=2)} with padding 2 (our default) or a 227 "
             f"input ({conv_output_size(227, 11, 4)})", values={"unpadded": unpadded}, **common),
    ]


def scorecard_rows(records: Iterable[Record | Fact] | None = None,
                   results: str | Path = RESULTS_DIR,
                   include_architecture: bool = True) -> list[ScoreRow]:
    """Every claim of :data:`CLAIMS` with every record of it; one row with no record if none.

    ``records`` default: every record saved under ``results`` (``book/results``), plus
    :func:`architecture_records` and :func:`architecture_facts`. Within a claim, its claim rows
    come first, then the book's checks, then the facts. Records whose claim number is not in the
    list are kept too, at the end, so nothing measured is dropped silently.
    """
    if records is None:
        found = load_records(results) if Path(results).is_dir() else []
        arch = [*architecture_records(), *architecture_facts()] if include_architecture else []
        records = arch + found
    by_claim: dict[int, list[Record | Fact]] = {}
    for r in records:
        by_claim.setdefault(r.claim, []).append(r)
    order = {"claim": 0, "check": 1, "fact": 2}

    def rows_of(claim: Claim, recs: list[Record | Fact]) -> list[ScoreRow]:
        rows = [ScoreRow(claim, r) for r in recs]
        return sorted(rows, key=lambda row: order[row.kind])  # stable within a kind

    rows: list[ScoreRow] = []
    known = {c.number for c in CLAIMS}
    for claim in CLAIMS:
        rows += rows_of(claim, by_claim.get(claim.number, [])) or [ScoreRow(claim, None)]
    for number in sorted(set(by_claim) - known):
        extra = Claim(number, f"claim {number}", "(not in the project's list)", "", NOT_MEASURED)
        rows += rows_of(extra, by_claim[number])
    return rows


def _verdict(statuses: Sequence[str]) -> str:
    """The rule of the module's docstring, for the statuses of one claim's claim rows."""
    if len(set(statuses)) == 1:
        return statuses[0]
    if not any(s in TESTED for s in statuses):
        return CANNOT_BE_TESTED
    return MIXED


def claim_verdicts(rows: Sequence[ScoreRow]) -> dict[int, str]:
    """Each claim's verdict, judged on all its claim rows (facts and the book's checks do not
    count), by the rule of the module's docstring. A claim with only facts or checks has its
    default status."""
    statuses: dict[int, list[str]] = {}
    defaults: dict[int, str] = {}
    for r in rows:
        defaults.setdefault(r.claim.number, r.claim.without_record)
        if r.kind == "claim":
            statuses.setdefault(r.claim.number, []).append(r.status)
    return {n: _verdict(statuses[n]) if n in statuses else default
            for n, default in defaults.items()}


def status_counts(rows: Sequence[ScoreRow], per: str = "claim") -> dict[str, int]:
    """How many claims (``per="claim"``: each claim's verdict, :func:`claim_verdicts`) have each
    of :data:`VERDICTS`, or how many rows (``per="row"``) have each of :data:`ALL_STATUSES`."""
    if per == "row":
        counts = Counter(r.status for r in rows)
        return {s: counts.get(s, 0) for s in ALL_STATUSES}
    counts = Counter(claim_verdicts(rows).values())
    return {s: counts.get(s, 0) for s in VERDICTS}


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render_markdown(rows: Sequence[ScoreRow]) -> str:
    """The scorecard as a Markdown table: claim, the paper's number, ours, scale, source, status.

    A fact's status is set in italics, not bold: it is not a verdict. A row shown otherwise than
    its record's status says why after the status."""
    lines = ["| # | claim | the paper | ours | scale | produced by | status |",
             "|---|---|---|---|---|---|---|"]
    for row in rows:
        r = row.record
        paper = r.paper if r is not None else row.claim.text
        what = r.claim_text if r is not None else row.claim.topic
        ours = r.ours if r is not None else "—"
        scale = r.scale if r is not None else "—"
        source = f"`{row.source}`" if row.source else "—"
        status = f"*{row.status}*" if row.kind == "fact" else f"**{row.status}**"
        if row.note:
            status += f" ({row.note})"
        lines.append(f"| {row.claim.number} | {_cell(what)} | {_cell(paper)} | {_cell(ours)} | "
                     f"{_cell(scale)} | {_cell(source)} | {_cell(status)} |")
    return "\n".join(lines)


def render_verdicts(rows: Sequence[ScoreRow]) -> str:
    """One line per claim: how many of its rows have each status, and the claim's verdict."""
    verdicts = claim_verdicts(rows)
    lines = ["| # | claim | its rows | verdict |", "|---|---|---|---|"]
    topics: dict[int, str] = {}
    per_claim: dict[int, Counter] = {}
    for r in rows:
        topics.setdefault(r.claim.number, r.claim.topic)
        per_claim.setdefault(r.claim.number, Counter())[r.status] += 1
    recorded = {r.claim.number for r in rows if r.record is not None}
    for number, topic in topics.items():
        counts = per_claim[number]
        what = (", ".join(f"{counts[s]} {s}" for s in ALL_STATUSES if counts[s])
                if number in recorded else "no record")
        lines.append(f"| {number} | {_cell(topic)} | {_cell(what)} | **{verdicts[number]}** |")
    return "\n".join(lines)


def evidence_rows(folder: str | Path = EVIDENCE_DIR) -> list[dict[str, Any]]:
    """The evidence scorecard as JSON-ready rows, claims 1-11 in order.

    Each comparison of each evidence record is a row with ``claim``, ``status`` (re-derived from
    its per-seed numbers: reproduced / contradicted / inconclusive), ``scale``, ``command``,
    ``commit``, ``seeds``, ``arms`` (the paper's choice and the other: per-seed values in the
    order of ``seeds``), ``metric``, ``lower_is_better``, ``paper_better``, ``baseline_error``,
    ``chance_error``, ``record`` (its path under ``folder``), ``device`` and ``compute`` (what its
    runs took, :func:`~.experiments.evidence_record.compute_used`). A claim with no comparison gets
    one row with its default status ("not yet measured", or "needs ImageNet" for claims about
    ImageNet's own numbers).
    """
    by_claim: dict[int, list[dict[str, Any]]] = {}
    for record in load_evidence(folder) if Path(folder).is_dir() else []:
        compute = compute_used(Path(record["path"]).with_suffix(".parts"))  # once per record
        for c in record["comparisons"]:
            v = c.verdict()
            by_claim.setdefault(c.claim, []).append({
                "claim": c.claim, "title": c.title, "status": v.status, "reason": v.reason,
                "scale": record["scale"], "command": record["command"],
                "commit": record["commit"], "seeds": c.seeds, "arms": c.arms,
                "metric": c.metric, "lower_is_better": c.lower_is_better,
                "paper_better": c.paper_better, "baseline_error": c.baseline_error,
                "chance_error": c.chance_error, "split": c.split, "paper": c.paper_value,
                "record": Path(record["path"]).relative_to(folder).as_posix(),
                "device": record.get("device", "cpu"),
                "compute": compute})
    rows: list[dict[str, Any]] = []
    for claim in CLAIMS:
        if claim.number == 0:  # the architecture's arithmetic: exact, checked by the tests
            continue
        rows += by_claim.pop(claim.number, None) or [{
            "claim": claim.number, "title": claim.topic, "status": claim.without_record,
            "scale": "", "command": "", "commit": ""}]
    for number in sorted(by_claim):  # a claim outside the list: kept, never dropped
        rows += by_claim[number]
    return rows


def _compute(row: dict[str, Any]) -> str:
    return describe_compute(row.get("compute"), row.get("device", "cpu"))


def render_evidence(rows: Sequence[dict[str, Any]]) -> str:
    """The evidence scorecard (:func:`evidence_rows`) as a Markdown table: per comparison, the
    arms' per-seed values, the reference arm's error beside chance, the status with the first
    clause of its reason and the record; then each record's scale, one line per record."""
    # The status comes second, where a reader sees it without scrolling sideways; the scales are
    # long and shared by a record's rows, so they follow the table instead of widening it.
    lines = ["| # | comparison | status | seeds | the paper's arm | the other | reference error "
             "(chance) | record |", "|---|---|---|---|---|---|---|---|"]
    scales: dict[str, str] = {}

    def values(xs: Sequence[float]) -> str:
        return ", ".join(f"{x:g}" if float(x).is_integer() else f"{x:.3f}" for x in xs)

    for r in rows:
        if "arms" not in r:
            lines.append(f"| {r['claim']} | {_cell(r['title'])} | **{r['status']}** | — | — | — | "
                         "— | — |")
            continue
        other = next(a for a in r["arms"] if a != r["paper_better"])
        reason = r.get("reason", "").split(":")[0]  # its first clause: the rule that decided
        why = f": {_cell(reason)}" if reason else ""
        scales[r["record"]] = f"{r['scale']}; {_compute(r)}"
        # The reference is usually one of the two arms on the same metric: name it, not its values.
        same = [a for a in (other, r["paper_better"]) if r["arms"][a] == r["baseline_error"]]
        reference = f"{same[0]}'s" if same else values(r["baseline_error"])
        lines.append(
            f"| {r['claim']} | {_cell(r['title'])} | **{r['status']}**{why} | "
            f"{values(r['seeds'])} | {r['paper_better']}: {values(r['arms'][r['paper_better']])} | "
            f"{other}: {values(r['arms'][other])} | {reference} "
            f"({r['chance_error']:g}) | `{r['record']}` |")
    if scales:
        lines += ["", "Each record's scale and the compute its runs took:", ""]
        lines += [f"- `{name}`: {scale}" for name, scale in scales.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command line: the evidence scorecard as JSON (``--json``) or as a short table."""
    parser = argparse.ArgumentParser(prog="python -m alexnet_lib.scorecard",
                                     description="The claims scorecard from the evidence records "
                                                 "(book/results/evidence).")
    parser.add_argument("--json", action="store_true", help="print the rows as a JSON list")
    parser.add_argument("--evidence", default=str(EVIDENCE_DIR),
                        help="folder of evidence records (default: book/results/evidence)")
    args = parser.parse_args(argv)
    rows = evidence_rows(args.evidence)
    if args.json:
        print(json.dumps(rows, indent=1))
    else:
        for r in rows:
            print(f"claim {r['claim']:>2} {r['title']}: {r['status']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
