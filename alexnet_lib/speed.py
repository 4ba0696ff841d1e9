"""The book's Speed page (``book/speed.ipynb``), rendered from the records in ``book/results``.

Every number the page shows comes from a file, never from a measurement made while the page runs
(timings depend on the machine; the page must read the same everywhere):

* a benchmark record that ``python -m alexnet_lib.bench ... --json FILE`` saved: it names its
  command, date, machine and commit (``layers_cpu.json``, ``gpu/*.json``);
* a command's printed output kept as text (``gpu/*.txt``), with its date, machine and command in
  the notes' ``provenance``;
* a dated note in ``notes/speed.json``: numbers a command printed that were copied into the README
  by hand before records were kept, each with the date, machine, commit and command given then.

Each ``*_md`` function returns Markdown (tables and code blocks) for one part of the page.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from .experiments.records import RESULTS_DIR

__all__ = ["NOTES", "GOALS", "load", "notes", "speed_records", "index_md", "measured_md",
           "train_md", "layers_md", "lrn_gpu_md", "lrn_cpu_md", "registers_md", "book_time_md", "BOOK_TIME",
           "lent_versions_md"]

NOTES = "notes/speed.json"
"""The dated notes, relative to the results folder."""

IMAGENET_TRAIN_IMAGES = 1_281_167  # ILSVRC-2012's training set (as alexnet_lib.bench)
EPOCHS = 90

TRAIN_ROWS = {
    "p": "the GPU input pipeline alone (`--pipeline gpu`, no model)",
    "a": "pytorch/examples `imagenet/main.py --arch alexnet`, unmodified",
    "b": "`python -m alexnet_lib.train --pipeline gpu`",
    "a256": "pytorch/examples, on the folder prepared at 256x256",
    "b256": "`python -m alexnet_lib.train`, on the folder prepared at 256x256",
    "c": "the model alone, data already on the GPU (the ceiling)",
}
"""The rows of ``bench train``'s table, as the page words them."""

GOALS = {"b_over_a": 4.0, "b_over_c": 0.7}
"""The throughput goals the project set itself (``bench.RATIOS``): b/a >= 4 and b/c >= 0.7."""

NOT_RECORDED = "not recorded"


def load(name: str, results: str | Path = RESULTS_DIR) -> Any:
    """A file of the results folder: JSON parsed, anything else as text."""
    path = Path(results) / name
    return json.loads(path.read_text()) if path.suffix == ".json" else path.read_text()


def notes(results: str | Path = RESULTS_DIR) -> dict[str, Any]:
    """The dated notes (``notes/speed.json``)."""
    return load(NOTES, results)


def speed_records(results: str | Path = RESULTS_DIR) -> list[str]:
    """Every speed record of the results folder (relative names, sorted): the benchmark records at
    its top level (the experiments' result files have an ``experiment`` key instead, the training
    runs' records ``kind: train_runs``), every file under ``gpu/``, and the notes."""
    results = Path(results)
    payloads = {p.name: json.loads(p.read_text()) for p in sorted(results.glob("*.json"))}
    names = [n for n, d in payloads.items() if "experiment" not in d and d.get("kind") != "train_runs"]
    names += [str(p.relative_to(results)) for p in sorted((results / "gpu").glob("*")) if p.is_file()]
    return names + [NOTES]


def _date(record: dict[str, Any]) -> str:
    """The record's date, else the first date its ``notes`` text names (older records)."""
    if record.get("date"):
        return str(record["date"])
    found = re.search(r"\b\d{4}-\d{2}-\d{2}\b", str(record.get("notes", "")))
    return found.group(0) if found else NOT_RECORDED


def _machine(record: dict[str, Any]) -> str:
    machine = str(record.get("machine") or record.get("device") or NOT_RECORDED)
    cpus = record.get("cpus")
    return f"{machine}, {cpus} CPU cores" if cpus and f"{cpus} threads" not in machine else machine


def _what(name: str, record: Any) -> str:
    if isinstance(record, dict) and "layers" in record:
        return (f"time per layer, forward + backward, batch {record['batch_size']}, "
                f"{record['dtype']}")
    if isinstance(record, dict) and "images_per_s" in record and "b_over_a" in record:
        return f"training throughput, batch {record['batch_size']} (images/s)"
    if isinstance(record, dict) and "images_per_s" in record:
        return "the input pipeline's stages (images/s)"
    if isinstance(record, dict) and record.get("kind") == "book_time":
        return "seconds to execute each chapter notebook"
    if name == NOTES:
        return "dated notes: numbers printed before records were kept"
    return str(record.get("what", "")) if isinstance(record, dict) else ""


def _provenance(name: str, record: Any, results: str | Path) -> dict[str, Any]:
    """What is known of how a file was measured: its own fields, else the notes' provenance."""
    own = record if isinstance(record, dict) else {}
    extra = notes(results).get("provenance", {}).get(name, {})
    return {**extra, **{k: v for k, v in own.items() if v is not None}}


def index_md(results: str | Path = RESULTS_DIR) -> str:
    """One row per speed record: file, what it measures, machine and date."""
    lines = ["| file in `book/results/` | what | machine | date |", "|---|---|---|---|"]
    for name in speed_records(results):
        record = load(name, results)
        prov = _provenance(name, record, results)
        if name == NOTES:
            dates = sorted({r["date"] for r in _note_dates(record)})
            machine, date = "several (each note says)", f"{dates[0]} to {dates[-1]}"
        else:
            machine, date = _machine(prov), _date(prov)[:10]  # the day; the section has the time
        lines.append(f"| `{name}` | {_what(name, prov)} | {machine} | {date} |")
    return "\n".join(lines)


def _note_dates(notes_record: dict[str, Any]) -> list[dict[str, Any]]:
    """Every dict with a ``date`` in the notes (depth-first)."""
    found: list[dict[str, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "date" in node:
                found.append(node)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(notes_record)
    return found


def measured_md(record: dict[str, Any]) -> str:
    """Machine, date, commit and versions of a record, then its command as a code block."""
    facts = [f"on {_machine(record)}", _date(record)]
    if record.get("commit"):
        commit = str(record["commit"])
        facts.append(commit if " " in commit else f"commit `{commit}`")
    versions = [f"{k} {record[k]}" for k in ("torch", "torchvision", "triton") if record.get(k)]
    command = record.get("command", NOT_RECORDED)
    return (f"Measured {', '.join(facts + versions)}, with:\n\n"
            f"```bash\n{command}\n```")


def train_md(record: dict[str, Any]) -> str:
    """``bench train``'s table: images/s and hours for 90 ImageNet epochs per row, the ratios and
    what the ceiling allows."""
    rates = record["images_per_s"]
    lines = ["| | what | images/s | 90 ImageNet epochs |", "|---|---|---:|---:|"]
    for key, rate in rates.items():
        hours = IMAGENET_TRAIN_IMAGES * EPOCHS / rate / 3600
        lines.append(f"| ({key}) | {TRAIN_ROWS.get(key, key)} | {rate:,.0f} | {hours:.1f} h |")
    ratios = [f"{k.replace('_over_', '/')} = {record[k]:.2f} (goal: at least {goal:g})"
              for k, goal in GOALS.items() if k in record]
    text = "\n".join(lines) + "\n\n" + "; ".join(ratios) + "."
    if "a" in rates and "c" in rates and "b" in rates:
        ceiling = rates["c"] / rates["a"]
        text += (
            f"\n\n(b) trains the same network as (c) and also pays for its input, so b is at most"
            f" c and b/a at most c/a = {ceiling:.2f}: no input pipeline alone reaches b/a >= "
            f"{GOALS['b_over_a']:g}; the training step itself must become at least "
            f"{GOALS['b_over_a'] / ceiling:.1f} times faster than this ceiling.")
    if record.get("notes"):
        text += f"\n\nThe record's notes: {record['notes']}"
    return text + "\n\n" + measured_md(record)


def layers_md(record: dict[str, Any]) -> str:
    """``bench layers``' record summed by kind of layer: milliseconds and share of the layers'
    sum, and the whole step timed in one piece."""
    layers = record["layers"]
    step = sum(r["seconds"] for r in layers)
    kinds: dict[str, list[dict[str, Any]]] = {}
    for r in layers:
        kinds.setdefault(r["kind"], []).append(r)
    lines = ["| kind | layers | ms | share |", "|---|---|---:|---:|"]
    for kind, rows in sorted(kinds.items(), key=lambda kv: -sum(r["seconds"] for r in kv[1])):
        seconds = sum(r["seconds"] for r in rows)
        names = ", ".join(r["name"] for r in rows)
        lines.append(f"| {kind} | {names} | {seconds * 1e3:,.1f} | {seconds / step:.1%} |")
    text = "\n".join(lines) + (
        f"\n\nThe layers timed alone add up to {step * 1e3:,.0f} ms; the whole step timed in one"
        f" piece took {record['total_s'] * 1e3:,.0f} ms (batch {record['batch_size']},"
        f" {record['dtype']}, best of {record['repeats']}).")
    return text + "\n\n" + measured_md(record)


def lrn_gpu_md(name: str = "gpu/bench_lrn_h100.txt", results: str | Path = RESULTS_DIR) -> str:
    """A kept ``bench lrn`` output, verbatim, with its provenance from the notes."""
    prov = _provenance(name, None, results)
    text = f"`{name}`, {prov.get('what', 'bench lrn')}:\n\n```text\n{load(name, results).strip()}\n```"
    if prov.get("why"):
        text += f"\n\nWhere its date and command come from: {prov['why']}."
    return text + "\n\n" + measured_md(prov)


def lrn_cpu_md(results: str | Path = RESULTS_DIR) -> str:
    """The dated notes of ``bench lrn`` on the CPU: one row per series of runs."""
    note = notes(results)["lrn_cpu"]
    lines = ["| date | commit | conditions | torch's LRN, ours (ms) | speedup printed |",
             "|---|---|---|---|---|"]
    for r in note["runs"]:
        torch = f", torch {r['torch']}" if r["torch"] != "not noted" else ""
        runs = f"{r['runs']} run" + ("s" if r["runs"] != "1" else "")
        times = "not noted" if r["torch_ms"] == r["ours_ms"] == "not noted" else \
            f"{r['torch_ms']}, {r['ours_ms']}"
        lines.append(f"| {r['date']} | {r['commit']} | {r['conditions']}{torch} | {times} |"
                     f" {r['speedup']} ({runs}) |")
    return (f"{note['what']}, on {note['machine']}:\n\n" + "\n".join(lines)
            + f"\n\n{note['remark']} Command:\n\n```bash\n{note['command']}\n```")


def registers_md(results: str | Path = RESULTS_DIR) -> str:
    """The dated note of the fused LRN kernels' registers per thread."""
    note = notes(results)["triton_registers"]
    lines = ["| Triton | forward | backward | spills |", "|---|---:|---:|---:|"]
    for r in note["rows"]:
        lines.append(f"| {r['triton']} | {r['forward']} | {r['backward']} | {r['spills']} |")
    return f"{note['what']}:\n\n" + "\n".join(lines) + "\n\n" + measured_md(note)


BOOK_TIME = "book_time_cpu.json"
"""The record of ``python -m alexnet_lib.bench book --json book/results/book_time_cpu.json``."""


def book_time_md(results: str | Path = RESULTS_DIR) -> str:
    """Seconds per chapter from the record of ``bench book`` (:data:`BOOK_TIME`), then the dated
    note's earlier totals and nbval's run."""
    note = notes(results)["book_time"]
    path = Path(results) / BOOK_TIME
    record = json.loads(path.read_text()) if path.is_file() else None
    shown = record or note
    lines = ["| chapter | seconds |", "|---|---:|"]
    lines += [f"| {chapter} | {s:.1f} |" for chapter, s in shown["seconds"].items()]
    lines.append(f"| **all** | **{shown['total_s']:.0f}** |")
    earlier = "; ".join(f"{e['total']} at `{e['commit']}` ({e['date']})" for e in note["earlier"])
    if record is not None:
        earlier = f"{note['total_s']} s at `{note['commit']}` ({note['date']}); " + earlier
    nbval = note["nbval"]
    head = (f"{record['what']}, from `{BOOK_TIME}` (the book's budget: about 300 s for all "
            "chapters on a 2-core CPU)." if record is not None
            else f"{note['what']}. {note['remark']}")
    return (f"{head}\n\n" + "\n".join(lines)
            + f"\n\nEarlier totals (dated notes): {earlier}. `{nbval['command']}` (the chapters "
            f"and nbval's comparison) at `{nbval['commit']}` ({nbval['date']}): {nbval['result']}."
            f"\n\n" + measured_md(shown))


def lent_versions_md(results: str | Path = RESULTS_DIR) -> str:
    """The dated note of the checks run under the lent GPU machines' versions."""
    note = notes(results)["lent_versions"]
    checks = "\n".join(f"- `{c['command']}`: {c['result']}." for c in note["checks"])
    return (f"On {note['date']}, at commit `{note['commit']}`, on {note['machine']}:\n\n"
            f"```bash\n{note['setup']}\n```\n\n{checks}")
