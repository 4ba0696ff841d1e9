"""alexnet_lib.speed: the Speed page's tables come from the records, and every number on the page has
its command, date and machine."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat
import pytest

from alexnet_lib import speed
from alexnet_lib.experiments.records import RESULTS_DIR

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "book" / "speed.ipynb"


@pytest.fixture
def results(tmp_path: Path) -> Path:
    """A results folder with the real notes and GPU files, plus made-up records."""
    shutil.copytree(RESULTS_DIR / "notes", tmp_path / "notes")
    shutil.copytree(RESULTS_DIR / "gpu", tmp_path / "gpu")
    (tmp_path / "relu_tanh.json").write_text(json.dumps({"experiment": "relu_tanh", "records": []}))
    (tmp_path / "layers_x.json").write_text(json.dumps(LAYERS))
    return tmp_path


LAYERS = {
    "device": "Some CPU (4 threads)", "cpus": 4, "batch_size": 8, "dtype": "float32", "repeats": 3,
    "total_s": 0.9, "torch": "9.9", "command": "python -m alexnet_lib.bench layers --json x.json",
    "date": "2030-01-02 03:04 UTC", "commit": "abc123",
    "layers": [{"name": "conv1", "kind": "conv", "seconds": 0.6},
               {"name": "norm1", "kind": "lrn", "seconds": 0.3},
               {"name": "conv2", "kind": "conv", "seconds": 0.1}],
}

TRAIN = {
    "device": "GPU X", "torch": "9.9", "batch_size": 256, "command": "python -m alexnet_lib.bench train",
    "images_per_s": {"a": 1000.0, "b": 500.0, "c": 2000.0}, "b_over_a": 0.5, "b_over_c": 0.25,
    "notes": "Measured 2030-05-06 on a borrowed machine.",
}


def test_speed_records_are_the_benchmark_files_not_the_experiments(results: Path) -> None:
    names = speed.speed_records(results)
    assert names[0] == "layers_x.json"
    assert "relu_tanh.json" not in names  # an experiment's result file
    assert {n for n in names if n.startswith("gpu/")} == {
        f"gpu/{p.name}" for p in (RESULTS_DIR / "gpu").iterdir()}
    assert names[-1] == speed.NOTES


def test_index_has_a_row_with_machine_and_date_for_every_record(results: Path) -> None:
    table = speed.index_md(results).splitlines()
    assert len(table) == 2 + len(speed.speed_records(results))
    assert ("| `layers_x.json` | time per layer, forward + backward, batch 8, float32 |"
            " Some CPU (4 threads) | 2030-01-02 |") in table
    for row in table[2:]:
        assert speed.NOT_RECORDED not in row, row


def test_train_table_is_computed_from_the_record() -> None:
    text = speed.train_md(TRAIN)
    assert "| (c) | the model alone, data already on the GPU (the ceiling) | 2,000 |" in text
    hours = speed.IMAGENET_TRAIN_IMAGES * 90 / 500 / 3600
    assert f"| {500:,} | {hours:.1f} h |" in text
    assert "b/a = 0.50 (goal: at least 4); b/c = 0.25 (goal: at least 0.7)." in text
    assert "c/a = 2.00" in text and "at least 2.0 times faster" in text
    assert "Measured on GPU X, 2030-05-06, torch 9.9" in text  # the date from the record's notes
    assert "```bash\npython -m alexnet_lib.bench train\n```" in text


def test_layers_table_sums_by_kind_with_shares() -> None:
    text = speed.layers_md(LAYERS)
    assert "| conv | conv1, conv2 | 700.0 | 70.0% |" in text
    assert "| lrn | norm1 | 300.0 | 30.0% |" in text
    assert "add up to 1,000 ms; the whole step timed in one piece took 900 ms" in text
    assert "commit `abc123`" in text and "Some CPU (4 threads), 2030-01-02" in text


def test_every_note_says_when_where_and_how() -> None:
    """A number without a record is kept only as a dated note with its command and machine."""
    notes = speed.notes()
    for key in ("lrn_cpu", "triton_registers", "book_time"):
        note = notes[key]
        assert note["command"] and note["machine"], key
        assert note.get("date") or all(r["date"] for r in note["runs"]), key
    assert notes["lent_versions"]["date"] and all(c["command"] for c in notes["lent_versions"]["checks"])
    for name, prov in notes["provenance"].items():
        assert (RESULTS_DIR / name).is_file(), name
        assert prov["date"] and prov["command"] and prov["machine"], name


def test_every_speed_record_has_a_command() -> None:
    for name in speed.speed_records():
        record = speed.load(name)
        if name == speed.NOTES:
            continue
        prov = record if isinstance(record, dict) else speed.notes()["provenance"].get(name, {})
        assert prov.get("command"), f"{name}: no command (add it to the notes' provenance)"


def test_the_page_reads_records_only_and_fits_the_page() -> None:
    """Code cells call alexnet_lib.speed (which only reads files) and nothing that measures; every
    code line fits the book's column (82 characters); the page's first table lists every record."""
    nb = nbformat.read(PAGE, as_version=4)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert code
    for cell in code:
        for line in cell.source.splitlines():
            assert len(line) <= 82, line
            assert "bench" not in line.replace('"gpu/bench_', ""), line  # never runs a benchmark
        assert all("text/markdown" in out.get("data", {}) for out in cell.outputs), cell.source
    index = code[0].outputs[0]["data"]["text/markdown"]
    assert index == speed.index_md(), \
        "book/speed.ipynb is stale: run python tools/nbbuild.py --execute book/speed.ipynb"


def test_page_is_in_the_toc() -> None:
    assert "file: book/speed" in (ROOT / "_toc.yml").read_text()


def test_book_time_comes_from_the_record_when_there_is_one(tmp_path) -> None:
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "speed.json").write_text((RESULTS_DIR / speed.NOTES).read_text())
    before = speed.book_time_md(tmp_path)
    assert "192" in before and "Measured while the chapters" in before  # the dated note alone
    record = {"kind": "book_time", "what": "Seconds to execute each chapter notebook",
              "seconds": {"relu": 12.5, "lrn": 30.0}, "total_s": 42.5, "device": "Some CPU",
              "date": "2030-01-02 03:04 UTC", "commit": "abc123",
              "command": "python -m alexnet_lib.bench book --json x.json"}
    (tmp_path / speed.BOOK_TIME).write_text(json.dumps(record))
    text = speed.book_time_md(tmp_path)
    assert "| relu | 12.5 |" in text and "| **all** | **42** |" in text
    assert "192 s at `5318299` (2026-11-29)" in text  # the note's total is now an earlier one
    assert "commit `abc123`" in text and "bench book --json x.json" in text
    assert speed._what(speed.BOOK_TIME, record) == "seconds to execute each chapter notebook"
