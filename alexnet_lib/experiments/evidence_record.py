"""Evidence records: one claim measured over several seeds, with what it takes to judge and re-make it.

Defined in the book's introduction ("What counts as evidence"); written by the multi-seed
experiments (``python -m alexnet_lib.experiments figure1 --seeds 0,1,2``), read by
``python -m alexnet_lib.scorecard --json`` and by the chapters that plot them.

A record is one JSON file in ``book/results/evidence/``. It holds one or more
:class:`Comparison` (exactly two arms each: the paper's choice and the one it is compared with;
a third arm gets a comparison of its own), every seed's curves, the command, the commit, the
machine (:func:`~alexnet_lib.provenance.float_settings`) and :func:`code_hash` of the modules that
produced it. The status is never stored as a verdict to trust: it is re-derived from the per-seed
numbers by :func:`~alexnet_lib.experiments.evidence.paired_verdict` whenever the record is read.

Long experiments run seed by seed: :class:`SeedStore` keeps each finished seed in its own file next
to the record, so an interrupted run resumes where it stopped (a seed made by other code, by its
hash, is run again).
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import importlib.util
import json
import os
import platform
import shlex
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..checkpoint import atomic_write
from ..provenance import describe, float_settings
from .evidence import Verdict, paired_verdict
from .records import RESULTS_DIR, git_commit

__all__ = ["EVIDENCE_DIR", "Comparison", "code_hash", "write_json", "SeedStore",
           "record_header", "save_record", "describe_compute", "describe_record", "parse_seeds",
           "evidence_parser", "parse_evidence_args", "load_evidence", "stale_records",
           "compute_used"]

EVIDENCE_DIR = RESULTS_DIR / "evidence"
"""Where the book's evidence records live (``book/results/evidence``)."""


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(body, list) and body and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]
    return tree


def code_hash(modules: Sequence[str]) -> str:
    """A hash of what ``modules`` (dotted names) compute: their syntax trees without docstrings.

    Comments, docstrings and formatting do not change it; any change to the code does. A record
    whose hash no longer matches its modules was made by other code than today's.
    """
    digest = hashlib.sha256()
    for name in sorted(modules):
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            raise ValueError(f"no module {name!r} to hash")
        tree = _strip_docstrings(ast.parse(Path(spec.origin).read_text(), filename=spec.origin))
        digest.update(name.encode() + b"\0" + ast.dump(tree, include_attributes=False).encode())
    return digest.hexdigest()[:16]


def write_json(path: str | Path, payload: Any) -> Path:
    """Write ``payload`` as JSON atomically (:func:`alexnet_lib.checkpoint.atomic_write`): a crash
    leaves the old file or the new one, never half of one."""
    return atomic_write(path, json.dumps(payload, indent=1) + "\n")


@dataclass
class Comparison:
    """Two arms of one claim, measured on the same seeds: one row of the scorecard.

    Args:
        claim: the claim's number (:data:`alexnet_lib.scorecard.CLAIMS`).
        title: the comparison in a few words ("ReLU vs tanh: epochs to 25% training error").
        metric: what ``arms`` hold, with its unit.
        lower_is_better: True for errors, epochs and losses.
        paper_better: the arm the paper says is better (a key of ``arms``).
        arms: arm name -> the metric on each seed, in the order of ``seeds`` (exactly two arms).
        seeds: the seeds, shared by both arms (paired).
        baseline_error: the reference arm's final error on the measured split, per seed.
        chance_error: the error of guessing (0.9 for 10 balanced classes).
        split: the split ``baseline_error`` is measured on ("training", "test").
        paper_value: the paper's own number for this comparison, as text.
    """

    claim: int
    title: str
    metric: str
    lower_is_better: bool
    paper_better: str
    arms: dict[str, list[float]]
    seeds: list[int]
    baseline_error: list[float]
    chance_error: float
    split: str = "test"
    paper_value: str = ""

    def __post_init__(self) -> None:
        if len(self.arms) != 2:
            raise ValueError(f"a comparison has exactly two arms, got {sorted(self.arms)}")
        if self.paper_better not in self.arms:
            raise ValueError(f"paper_better {self.paper_better!r} is not an arm: {sorted(self.arms)}")
        for name, values in self.arms.items():
            if len(values) != len(self.seeds):
                raise ValueError(f"arm {name!r} has {len(values)} values for {len(self.seeds)} seeds")
        if len(self.baseline_error) != len(self.seeds):
            raise ValueError("baseline_error needs one value per seed")

    @property
    def other(self) -> str:
        """The arm the paper's choice is compared with."""
        return next(a for a in self.arms if a != self.paper_better)

    def verdict(self) -> Verdict:
        """The status under the evidence standard, from the per-seed numbers."""
        return paired_verdict(self.arms[self.paper_better], self.arms[self.other],
                              lower_is_better=self.lower_is_better,
                              baseline_error=self.baseline_error, chance_error=self.chance_error)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, with the verdict the numbers give today (for readers of the file)."""
        v = self.verdict()
        return {**asdict(self), "status": v.status, "reason": v.reason,
                "differences": list(v.differences)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Comparison:
        """Read back :meth:`to_dict` (the stored status is ignored: it is re-derived)."""
        names = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in d.items() if k in names})


@dataclass
class SeedStore:
    """Finished seeds of a long experiment, one file each, so that a run resumes after a crash.

    Seed ``s`` lives in ``folder/seed<s>.json`` (a name such as ``"tuning"`` in
    ``folder/tuning.json``) with the code hash and protocol it was made with;
    :meth:`get` returns it only when both match today's, so a changed experiment re-runs its seeds.
    """

    folder: Path
    code: str
    protocol: dict[str, Any] = field(default_factory=dict)

    def path(self, seed: int | str) -> Path:
        return Path(self.folder) / (f"seed{seed}.json" if isinstance(seed, int) else f"{seed}.json")

    def get(self, seed: int | str) -> dict[str, Any] | None:
        """The saved result of ``seed``, or None if absent or made by other code or settings."""
        p = self.path(seed)
        if not p.exists():
            return None
        saved = json.loads(p.read_text())
        if saved.get("code_hash") != self.code or saved.get("protocol") != self.protocol:
            return None
        return saved["result"]

    def put(self, seed: int | str, result: dict[str, Any], **extra: Any) -> Path:
        """Save ``seed``'s result (atomically) with the code hash and protocol."""
        return write_json(self.path(seed), {"seed": seed, "code_hash": self.code,
                                            "protocol": self.protocol, **extra, "result": result})


def compute_used(parts: str | Path) -> dict[str, float]:
    """What a record's runs cost: ``runs`` (the training histories kept in the parts in
    ``parts``, tuning runs included, each with its epoch times) and ``seconds`` (the sum of those
    epochs' training times, each run on one core or device; evaluation between epochs excluded)."""
    def histories(node: Any) -> list[dict[str, Any]]:
        if isinstance(node, dict):
            if isinstance(node.get("epoch_seconds"), list):
                return [node]
            return [h for v in node.values() for h in histories(v)]
        if isinstance(node, list):
            return [h for v in node for h in histories(v)]
        return []

    found = [h for f in sorted(Path(parts).glob("*.json"))
             for h in histories(json.loads(f.read_text()).get("result"))]
    return {"runs": len(found), "seconds": float(sum(sum(h["epoch_seconds"]) for h in found))}


_STARTED_AT = git_commit()
# The commit of the code this process loaded: a long run's record names it, not the HEAD of the
# moment it finishes (later commits may have landed meanwhile).


def describe_compute(compute: dict[str, float] | None, device: str = "cpu") -> str:
    """:func:`compute_used`'s sums in words: CPU hours, or GPU minutes when ``device`` is cuda."""
    if not compute or not compute.get("runs"):
        return "compute not recorded"
    gpu = str(device).startswith("cuda")
    amount = (f"{compute['seconds'] / 60:.0f} GPU minutes" if gpu
              else f"{compute['seconds'] / 3600:.1f} CPU hours")
    n = compute["runs"]
    return f"{amount} in {n:g} training run{'' if n == 1 else 's'} (learning-rate tuning included)"


def describe_record(record: dict[str, Any], folder: str | Path = EVIDENCE_DIR) -> str:
    """A record's provenance for a chapter, one item a line: its command, its scale, the
    machine, the learning rates its arms trained at and the compute its runs took (from the
    parts in ``folder/<name>.parts``)."""
    hardware = record.get("hardware") or {}
    where = describe(hardware) + (f"; GPU: {hardware['gpu']}" if "gpu" in hardware else "")
    lines = [record["command"], record["scale"], where]
    rates = record.get("learning_rates") or (
        {"every arm": record["learning_rate"]} if "learning_rate" in record else {})
    if rates:
        seed = (record.get("protocol") or {}).get("tuning_seed")
        when = f" (chosen with tuning seed {seed}, before the verdict seeds)" if seed is not None \
            else ""
        lines.append(f"learning rates{when}: " + ", ".join(f"{a} {lr:g}" for a, lr in rates.items()))
    used = compute_used(Path(folder) / f"{record['name']}.parts")
    lines.append(f"compute: {describe_compute(used, record.get('device', 'cpu'))}")
    return "\n".join(lines)


def record_header(name: str, claim: int | list[int], scale: str, command: str,
                  code_modules: Sequence[str], code: str, protocol: dict[str, Any],
                  seeds: Sequence[int], device: str = "cpu") -> dict[str, Any]:
    """The fields every evidence record starts with: what it is (``claim``: its number, or the
    numbers of the claims its comparisons measure), at what scale, how to re-make it
    (command, commit, code hash), and where it ran (torch, Python, the CPU and thread count of
    ``protocol["threads"]``; on a GPU, its name too). ``scale`` gets the device appended."""
    hardware = float_settings(protocol.get("threads"))
    if torch.device(device).type == "cuda":
        hardware["gpu"] = torch.cuda.get_device_name(torch.device(device))
    scale = f"{scale}, {'GPU (' + hardware['gpu'] + ')' if 'gpu' in hardware else 'CPU'}"
    commit = _STARTED_AT
    if commit == "unknown":  # a copy of the tree without .git (a lent GPU): the caller says
        commit = os.environ.get("ALEXNET_COMMIT", commit)
    return {"kind": "evidence", "name": name, "claim": claim, "scale": scale,
            "command": command, "commit": commit, "torch": torch.__version__,
            "python": platform.python_version(),
            "hardware": hardware, "device": device,
            "code_modules": list(code_modules), "code_hash": code, "protocol": protocol,
            "seeds": list(seeds)}


def save_record(path: str | Path, record: dict[str, Any], rows: Sequence[Comparison],
                log: Callable[[str], None] = print) -> Path:
    """Write ``record`` (from :func:`record_header`, with its runs) and its comparison ``rows`` to
    ``path``; log each row's verdict under the evidence standard. Returns the path."""
    record["comparisons"] = [r.to_dict() for r in rows]
    path = write_json(path, record)
    for r in rows:
        v = r.verdict()
        log(f"claim {r.claim}, {r.title}: {v.status} ({v.reason})")
    log(f"wrote {path}")
    return path


def parse_seeds(text: str) -> list[int]:
    """``"0,1,2"`` -> ``[0, 1, 2]``; at least 3 distinct seeds (the evidence standard), else a
    ValueError that says so."""
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise ValueError(f"seeds are comma-separated integers (0,1,2), got {text!r}") from None
    if len(set(seeds)) < 3 or len(set(seeds)) != len(seeds):
        raise ValueError(f"the evidence standard needs at least 3 distinct seeds (--seeds 0,1,2), "
                         f"got {text!r}")
    return seeds


def evidence_parser(name: str, doc: str | None, prog: str | None, seeds: str, out: str,
                    device: bool = True) -> argparse.ArgumentParser:
    """The command line every evidence experiment shares: ``--seeds`` (default ``seeds``),
    ``--out`` (help: ``out``, what the folder receives) and, with ``device``, ``--device``.
    ``name`` is the experiment's (``python -m alexnet_lib.experiments NAME``); the description
    is the first paragraph of ``doc``. The caller adds its own flags, then
    :func:`parse_evidence_args`."""
    summary = " ".join((doc or name).strip().split("\n\n")[0].split())
    parser = argparse.ArgumentParser(prog=prog or f"python -m alexnet_lib.experiments {name}",
                                     description=summary)
    parser.add_argument("--seeds", default=seeds, help="verdict seeds, comma-separated (at "
                        f"least 3: the evidence standard; default {seeds})")
    parser.add_argument("--out", default=str(EVIDENCE_DIR),
                        help=f"folder for {out} (default: book/results/evidence)")
    if device:
        parser.add_argument("--device", default="cpu", help="where to train: cpu (default) or "
                            "cuda; the same protocol, other floats")
    return parser


def parse_evidence_args(parser: argparse.ArgumentParser,
                        argv: Sequence[str] | None) -> tuple[argparse.Namespace, list[int], str]:
    """Parse ``argv`` (default ``sys.argv[1:]``) with ``parser`` (:func:`evidence_parser`):
    ``(args, seeds, command)``. A bad ``--seeds`` is a usage error that says what to give; the
    command is the one to write in the record, as the user typed it."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)
    try:
        seeds = parse_seeds(args.seeds)
    except ValueError as e:
        parser.error(str(e))
    return args, seeds, " ".join([parser.prog, *map(shlex.quote, argv)])


def load_evidence(folder: str | Path = EVIDENCE_DIR) -> list[dict[str, Any]]:
    """Every evidence record in ``folder`` and its sub-folders (the GPU's records live in one
    named after it, e.g. ``h200/``), sorted by path, with ``comparisons`` read back as
    :class:`Comparison` and ``path`` added. Parts (``*.parts/``) are not records."""
    out = []
    for p in sorted(Path(folder).rglob("*.json")):
        if any(part.endswith(".parts") for part in p.relative_to(folder).parts[:-1]):
            continue
        record = json.loads(p.read_text())
        if record.get("kind") != "evidence":
            continue
        record["comparisons"] = [Comparison.from_dict(c) for c in record["comparisons"]]
        record["path"] = str(p)
        out.append(record)
    return out


def stale_records(folder: str | Path = EVIDENCE_DIR) -> list[str]:
    """The records whose code hash no longer matches their modules, and that do not say why the
    change leaves them valid (``valid_for``: a list of ``{"code_hash", "reason"}``), as messages."""
    problems = []
    for record in load_evidence(folder):
        now = code_hash(record["code_modules"])
        accepted = {record["code_hash"]} | {v["code_hash"] for v in record.get("valid_for", [])}
        if now not in accepted:
            problems.append(f"{record['path']}: made by code with hash {record['code_hash']}, "
                            f"today's {', '.join(record['code_modules'])} hash to {now}. Re-make "
                            f"it ({record['command']}) or add {{\"code_hash\": \"{now}\", "
                            "\"reason\": ...}} to its valid_for saying why the change leaves it "
                            "valid")
    return problems
