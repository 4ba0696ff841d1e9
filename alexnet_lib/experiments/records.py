"""Result records: what an experiment measured, beside the paper's claim, saved as JSON.

Defined in the book's chapter "ReLU vs tanh"; written by ``python -m alexnet_lib.experiments``
and read by the claims scorecard.

One JSON file per experiment and dataset, ``<results>/<experiment>.json`` for the built-in
dataset (the book's runs, committed in ``book/results/``) and ``<experiment>-<dataset>.json``
otherwise. Each file holds the experiment's configuration, its full result (per-epoch curves)
and a list of :class:`Record`, one per claim (or part of a claim) the experiment measures.
``claim`` is the claim's number in the project's list of the paper's claims (1 = ReLU,
2 = LRN, 3 = overlapping pooling, 6 = dropout, ...).

``status`` is one of :data:`STATUSES`:

* ``"reproduced"``: the effect the paper reports shows at our scale, in the same direction
  (the *size* of the effect is in ``ours``, and is not expected to match ImageNet's);
* ``"not reproduced at this scale"``: our measurement does not show it;
* ``"needs ImageNet"``: the claim is about ImageNet numbers that a small run cannot test.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..provenance import float_settings, git_state

__all__ = ["Record", "STATUSES", "RESULTS_DIR", "git_commit", "result_path", "save_result",
           "load_result", "load_records", "result_files"]

STATUSES = ("reproduced", "not reproduced at this scale", "needs ImageNet")
_REPO = Path(__file__).resolve().parents[2]
RESULTS_DIR = _REPO / "book" / "results"
"""Where the book's committed result files live (``book/results`` in the repository)."""


@dataclass
class Record:
    """One claim of the paper beside our measurement of it.

    Args:
        claim: the claim's number in the list of the paper's claims (paper-facts).
        claim_text: the claim in a sentence.
        paper: the paper's value, as text ("6x faster to 25% training error").
        ours: our value, as text, with units.
        scale: what ours was measured on (data, images, resolution, network, epochs).
        status: one of :data:`STATUSES`.
        experiment: the experiment's name (``relu_tanh``, ``lrn``, ``pooling``, ``dropout``).
        notebook: the chapter that runs the same experiment.
        command: the command that produced this record.
        commit: the git commit of the code that produced it (``+dirty`` if the library had
            uncommitted changes).
        values: the measured numbers behind ``ours``, machine-readable.
    """

    claim: int
    claim_text: str
    paper: str
    ours: str
    scale: str
    status: str
    experiment: str
    notebook: str = ""
    command: str = ""
    commit: str = ""
    values: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {self.status!r}")


_EXPERIMENT_CODE = ("alexnet_lib/experiments", "alexnet_lib/model.py", "alexnet_lib/lrn.py",
                    "alexnet_lib/data")


def git_commit(repo: Path = _REPO, paths: tuple[str, ...] = _EXPERIMENT_CODE) -> str:
    """The short commit hash of ``repo``'s HEAD, ``+dirty`` if the code the experiments run
    (``paths``: the experiments, the model, LRN and the data code) has uncommitted changes to
    tracked files; ``"unknown"`` outside a git checkout."""
    state = git_state(repo, paths, short=True)
    if state["commit"] is None:
        return "unknown"
    return state["commit"] + ("+dirty" if state["dirty"] else "")


def result_path(folder: str | Path, experiment: str, dataset: str = "builtin") -> Path:
    """``folder/<experiment>.json`` for the built-in dataset, else ``<experiment>-<dataset>.json``."""
    stem = experiment if dataset == "builtin" else f"{experiment}-{dataset}"
    return Path(folder) / f"{stem}.json"


def save_result(path: str | Path, experiment: str, dataset: str, config: dict[str, Any],
                result: dict[str, Any], records: list[Record], threads: int | None = None) -> Path:
    """Write one experiment's configuration, result and records as JSON (creates folders).

    The file also says what the run's floats depend on (``"hardware"``: CPU model, kernels,
    ``threads``, the thread count the run used, and torch), so that a replay knows whether it can
    be exact (:mod:`.replay`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"experiment": experiment, "dataset": dataset, "config": config,
               "hardware": float_settings(threads),
               "records": [asdict(r) for r in records], "result": result}
    path.write_text(json.dumps(payload, indent=1, sort_keys=False) + "\n")
    return path


def load_result(path: str | Path) -> dict[str, Any]:
    """Read a file written by :func:`save_result`; its ``records`` become :class:`Record` objects."""
    payload = json.loads(Path(path).read_text())
    payload["records"] = [Record(**r) for r in payload.get("records", [])]
    return payload


def result_files(folder: str | Path = RESULTS_DIR) -> list[str]:
    """The names of the files in ``folder`` that hold scorecard records (the other JSON files
    there are benchmark and run records, which the scorecard does not read)."""
    return [p.name for p in sorted(Path(folder).glob("*.json"))
            if json.loads(p.read_text()).get("records")]


def load_records(folder: str | Path = RESULTS_DIR) -> list[Record]:
    """Every record in every result file of ``folder``, sorted by claim number then experiment."""
    records = [r for p in sorted(Path(folder).glob("*.json")) for r in load_result(p)["records"]]
    return sorted(records, key=lambda r: (r.claim, r.experiment))
