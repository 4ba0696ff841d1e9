"""Evidence records: comparisons re-judged on read, code hashes, resumable seeds, the JSON
scorecard, and every committed record made by today's code."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from alexnet_lib.experiments import figure1
from alexnet_lib.experiments.evidence_record import (
    EVIDENCE_DIR,
    Comparison,
    SeedStore,
    code_hash,
    load_evidence,
    stale_records,
    write_json,
)
from alexnet_lib.scorecard import CLAIMS, evidence_rows

TINY = dict(figure1.PROTOCOL, n_train=120, n_test=40, max_epochs=1, target=0.85,
            lrs=[0.01, 0.03], channels=[4, 4, 8])


def _comparison(relu, tanh, baseline=(0.2, 0.2, 0.2)) -> Comparison:
    return Comparison(claim=1, title="t", metric="epochs", lower_is_better=True,
                      paper_better="relu", arms={"relu": list(relu), "tanh": list(tanh)},
                      seeds=[0, 1, 2], baseline_error=list(baseline), chance_error=0.9)


def test_a_comparison_is_judged_from_its_numbers_not_from_a_stored_status() -> None:
    stored = _comparison([3, 4, 3], [9, 10, 12]).to_dict()
    assert stored["status"] == "reproduced"
    stored["status"] = "contradicted"  # a hand edit of the file does not change the verdict
    assert Comparison.from_dict(stored).verdict().status == "reproduced"
    assert _comparison([9, 10, 12], [3, 4, 3]).verdict().status == "contradicted"
    assert _comparison([3, 11, 3], [9, 10, 12]).verdict().status == "inconclusive"
    # the reference arm near chance: nothing shown, whatever the arms say
    assert _comparison([3, 4, 3], [9, 10, 12], (0.2, 0.5, 0.2)).verdict().status == "inconclusive"


def test_a_comparison_has_two_arms_paired_by_seed() -> None:
    with pytest.raises(ValueError, match="exactly two arms"):
        Comparison(1, "t", "m", True, "a", {"a": [1, 2, 3]}, [0, 1, 2], [0.1] * 3, 0.9)
    with pytest.raises(ValueError, match="values for 3 seeds"):
        _comparison([1, 2], [1, 2, 3])
    with pytest.raises(ValueError, match="not an arm"):
        Comparison(1, "t", "m", True, "c", {"a": [1] * 3, "b": [2] * 3}, [0, 1, 2], [0.1] * 3, 0.9)


def test_code_hash_ignores_docstrings_and_comments_but_not_code(tmp_path, monkeypatch) -> None:
    pkg = tmp_path / "hashpkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    mod = pkg / "m.py"
    monkeypatch.syspath_prepend(str(tmp_path))
    mod.write_text('"""Doc."""\ndef f(x):\n    """Doc."""\n    return x + 1\n')
    first = code_hash(["hashpkg.m"])
    mod.write_text('"""Other doc."""\n# a comment\ndef f(x):\n    return x + 1  # why\n')
    assert code_hash(["hashpkg.m"]) == first
    mod.write_text('def f(x):\n    return x + 2\n')
    assert code_hash(["hashpkg.m"]) != first
    with pytest.raises(ValueError, match="no module"):
        code_hash(["hashpkg.missing"])


def test_seed_store_returns_a_part_only_for_the_same_code_and_protocol(tmp_path) -> None:
    store = SeedStore(tmp_path, "abc", {"n": 1})
    store.put(0, {"x": 1})
    store.put("tuning", {"y": 2})
    assert store.get(0) == {"x": 1} and store.get("tuning") == {"y": 2}
    assert store.get(1) is None
    assert SeedStore(tmp_path, "other", {"n": 1}).get(0) is None
    assert SeedStore(tmp_path, "abc", {"n": 2}).get(0) is None
    # atomic writes leave no temporary file behind
    assert sorted(p.name for p in tmp_path.iterdir()) == ["seed0.json", "tuning.json"]


def test_figure1_makes_a_record_resumes_it_and_the_scorecard_reads_it(tmp_path) -> None:
    lines: list[str] = []
    assert figure1.evidence([0, 1, 2], tmp_path, "cmd", TINY, lines.append,
                            activations=("relu",)) is None  # tanh's parts are missing
    path = figure1.evidence([0, 1, 2], tmp_path, "cmd", TINY, lines.append,
                            activations=("tanh",))
    record = json.loads(path.read_text())
    assert record["kind"] == "evidence" and record["code_hash"] == code_hash(record["code_modules"])
    assert record["hardware"]["threads"] == 1 and record["protocol"] == TINY
    row = record["comparisons"][0]
    assert sorted(row["arms"]) == ["relu", "tanh"] and row["seeds"] == [0, 1, 2]
    for seed in ("0", "1", "2"):  # the arms hold what the runs measured
        for act in ("relu", "tanh"):
            run = record["runs"][seed][act]
            assert row["arms"][act][int(seed)] == run["epochs_to_target"]
            errors = run["history"]["train_error"]
            assert run["final_train_error"] == errors[-1]
            assert run["epochs_to_target"] == (len(errors) if errors[-1] <= TINY["target"]
                                               else TINY["max_epochs"] + 1)
    # a second call trains nothing: every part is read back
    lines.clear()
    again = figure1.evidence([0, 1, 2], tmp_path, "cmd", TINY, lines.append)
    assert json.loads(again.read_text())["runs"] == record["runs"]
    assert not any("tuning" in line for line in lines)

    rows = evidence_rows(tmp_path)
    assert [r["claim"] for r in rows] == [c.number for c in CLAIMS if c.number]
    one = rows[0]
    assert one["status"] == Comparison.from_dict(row).verdict().status
    for key in ("claim", "status", "scale", "command", "commit", "seeds", "arms", "metric",
                "lower_is_better", "paper_better", "baseline_error", "chance_error"):
        assert key in one
    assert {r["status"] for r in rows[1:8]} == {"not yet measured"}
    assert {r["status"] for r in rows if r["claim"] in (9, 10)} == {"needs ImageNet"}


def test_a_record_made_by_other_code_is_stale_unless_it_says_why_it_is_valid(tmp_path) -> None:
    modules = ["alexnet_lib.experiments.evidence"]
    record = {"kind": "evidence", "command": "c", "code_modules": modules, "code_hash": "0" * 16,
              "comparisons": [_comparison([3, 4, 3], [9, 10, 12]).to_dict()]}
    write_json(tmp_path / "r.json", record)
    (problem,) = stale_records(tmp_path)
    assert "Re-make it (c)" in problem and "valid_for" in problem
    record["valid_for"] = [{"code_hash": code_hash(modules), "reason": "a rename only"}]
    write_json(tmp_path / "r.json", record)
    assert stale_records(tmp_path) == []
    assert len(load_evidence(tmp_path)) == 1
    write_json(tmp_path / "h200" / "r.json", record)  # a GPU's records: a folder of their own
    write_json(tmp_path / "h200" / "r.parts" / "s.json", record)  # parts are not records
    assert [r["path"] for r in load_evidence(tmp_path)] == [
        str(tmp_path / "h200" / "r.json"), str(tmp_path / "r.json")]


def test_every_committed_evidence_record_matches_its_code() -> None:
    """Fails when the code behind a committed record changed: re-make the record (its command)
    or add to its valid_for why the change leaves it valid."""
    assert stale_records(EVIDENCE_DIR) == []
    for record in load_evidence(EVIDENCE_DIR):
        assert len(record["seeds"]) >= 3, record["path"]


def test_the_command_line_prints_the_json_scorecard() -> None:
    out = subprocess.run([sys.executable, "-m", "alexnet_lib.scorecard", "--json"],
                         capture_output=True, text=True, check=True).stdout
    rows = json.loads(out)
    assert {r["claim"] for r in rows} >= set(range(1, 12))


def test_the_plots_draw_every_seed_of_every_arm() -> None:
    import matplotlib

    matplotlib.use("Agg")
    from alexnet_lib.evidence_plots import (
        format_comparisons,
        plot_comparisons,
        plot_paired,
        plot_seed_curves,
        plot_train_test,
    )

    runs = {str(s): {a: {"history": {"train_error": [0.9, 0.5, 0.2 + 0.01 * s]}}
                     for a in ("relu", "tanh")} for s in range(3)}
    fig = plot_seed_curves({"runs": runs}, ("relu", "tanh"), target=0.25)
    assert len(fig.axes[0].lines) == 2 * 3 + 1  # one per seed and arm, plus the target
    assert fig.axes[0].lines[0].get_ydata()[-1] == pytest.approx(20.0)
    for run in runs.values():
        for arm in run.values():
            arm["history"]["test_error"] = [0.9, 0.6, 0.3]
    fig = plot_train_test({"runs": runs}, ("relu", "tanh"), target=0.25)
    train, test = fig.axes
    assert len(train.lines) == 2 * 3 + 1 and len(test.lines) == 2 * 3  # the target on the left
    assert test.get_ylabel() == "test error (%)" and train.get_shared_y_axes().joined(train, test)
    fig = plot_paired(_comparison([3, 4, 3], [9, 10, 12]))
    assert len(fig.axes[0].lines) == 3
    assert fig.axes[0].get_title().startswith("reproduced")
    fig = plot_comparisons([_comparison([3, 4, 3], [9, 10, 12])] * 2)
    assert len(fig.axes) == 2 and all(len(ax.lines) == 3 for ax in fig.axes)
    text = format_comparisons([_comparison([3, 4, 3], [9, 10, 12])], "{:g}").splitlines()
    assert text[1:] == ["  seed 0: relu 3, tanh 9", "  seed 1: relu 4, tanh 10",
                        "  seed 2: relu 3, tanh 12", "  verdict: reproduced (every seed in the "
                        "paper's direction, mean +7 > 2 x 1)"]


def test_the_arms_table_gives_each_arms_range_over_seeds() -> None:
    from alexnet_lib.evidence_plots import format_arms

    runs = {str(s): {"a": {"train_error": 0.1 + 0.01 * s, "test_error": 0.2, "lr": 0.01,
                           "parameters": 1234},
                     "b": {"train_error": 0.3, "test_error": 0.4 - 0.02 * s, "lr": 0.03}}
            for s in range(3)}
    lines = format_arms({"runs": runs}, ("a", "b")).splitlines()
    assert lines[1].split() == ["a", "1,234", "10.0-12.0%", "20.0-20.0%", "0.01"]
    assert lines[2].split() == ["b", "30.0-30.0%", "36.0-40.0%", "0.03"]  # no count: blank


def test_lrn_evidence_tunes_on_validation_and_writes_two_rows(tmp_path) -> None:
    from alexnet_lib.experiments import lrn_evidence

    p = dict(lrn_evidence.PROTOCOL, n_train=100, n_val=30, n_test=30, epochs=1, lr_drops=[],
             lrs=[0.001, 0.003], channels=[4, 4, 8])
    assert lrn_evidence.evidence([0, 1, 2], tmp_path, "cmd", p, only=("none",),
                                 log=lambda m: None) is None
    path = lrn_evidence.evidence([0, 1, 2], tmp_path, "cmd", p, log=lambda m: None)
    record = json.loads(path.read_text())
    rows = [Comparison.from_dict(c) for c in record["comparisons"]]
    assert [sorted(r.arms) for r in rows] == [["lrn", "none"], ["batchnorm", "lrn"]]
    assert rows[0].baseline_error == rows[0].arms["none"]
    tuning = sorted((tmp_path / "lrn.parts").glob("tuning-*.json"))
    assert len(tuning) >= 3 * 2  # every arm tried every rate of the grid
    for arm in ("none", "lrn", "batchnorm"):  # the chosen rate has the lowest validation error
        tried = {json.loads(f.read_text())["result"]["lr"]: json.loads(f.read_text())["result"]
                 ["val_error"] for f in tuning if f.name.startswith(f"tuning-{arm}-")}
        best = min(tried, key=lambda lr: (tried[lr], lr))
        assert record["learning_rates"][arm] == best
    assert "lrn_damping" in record["runs"]["0"]["lrn"]
    assert "lrn_damping" not in record["runs"]["0"]["none"]


def test_the_evidence_table_shows_each_seed_and_the_derived_status(tmp_path) -> None:
    from alexnet_lib.scorecard import render_evidence

    write_json(tmp_path / "r.json", {
        "kind": "evidence", "command": "c", "commit": "x", "scale": "tiny", "code_modules": [],
        "code_hash": "", "comparisons": [_comparison([3, 4, 3], [9, 10, 12]).to_dict()]})
    table = render_evidence(evidence_rows(tmp_path)).splitlines()
    assert table[2] == ("| 1 | t | **reproduced**: every seed in the paper's direction, mean +7 > "
                        "2 x 1 | 0, 1, 2 | relu: 3, 4, 3 | tanh: 9, 10, 12 | 0.200, 0.200, "
                        "0.200 (0.9) | `r.json` |")
    same = _comparison([0.3, 0.4, 0.3], [0.5, 0.6, 0.5]).to_dict()
    same["baseline_error"] = [0.5, 0.6, 0.5]
    write_json(tmp_path / "r.json", {
        "kind": "evidence", "command": "c", "commit": "x", "scale": "tiny", "code_modules": [],
        "code_hash": "", "comparisons": [same]})
    row = render_evidence(evidence_rows(tmp_path)).splitlines()[2]
    assert "| tanh's (0.9) |" in row  # the reference is the other arm: named, not repeated
    assert "| **not yet measured** |" in table[3]
    assert table[-1] == "- `r.json`: tiny; compute not recorded"  # once per record, below


def test_the_shared_command_line_records_what_was_typed_and_refuses_too_few_seeds(capsys) -> None:
    from alexnet_lib.experiments.evidence_record import evidence_parser, parse_evidence_args

    parser = evidence_parser("demo", "Demo experiment.\n\nMore.", None, "0,1,2", "demo.json")
    parser.add_argument("--arm", action="append")
    args, seeds, command = parse_evidence_args(parser, ["--arm", "a b", "--seeds", "3,4,5"])
    assert seeds == [3, 4, 5] and args.arm == ["a b"] and args.device == "cpu"
    assert command == "python -m alexnet_lib.experiments demo --arm 'a b' --seeds 3,4,5"
    assert parse_evidence_args(parser, [])[2] == "python -m alexnet_lib.experiments demo"
    with pytest.raises(SystemExit):
        parse_evidence_args(parser, ["--seeds", "0,1"])
    assert "at least 3 distinct seeds" in capsys.readouterr().err
    assert "--device" not in evidence_parser("f", None, "prog", "0,1,2", "x", device=False).format_help()


def test_compute_used_sums_every_kept_training_history_tuning_included(tmp_path) -> None:
    from alexnet_lib.experiments.evidence_record import compute_used

    parts = tmp_path / "x.parts"
    write_json(parts / "seed0-a.json", {"result": {"history": {"epoch_seconds": [1.0, 2.0]}}})
    write_json(parts / "tuning-a.json",  # a tuning part keeps one history per learning rate
               {"result": {"tried": {"0.1": {"history": {"epoch_seconds": [3.0]}},
                                     "0.3": {"history": {"epoch_seconds": [4.0, 5.0]}}}}})
    write_json(parts / "lr-a.json", {"result": {"lr": 0.1}})  # a choice: no training
    assert compute_used(parts) == {"runs": 3, "seconds": 15.0}
    assert compute_used(tmp_path / "absent.parts") == {"runs": 0, "seconds": 0.0}


def test_describe_record_names_command_scale_machine_rates_and_compute(tmp_path) -> None:
    from alexnet_lib.experiments.evidence_record import describe_compute, describe_record
    from alexnet_lib.provenance import float_settings

    write_json(tmp_path / "r.parts" / "seed0-a.json",
               {"result": {"history": {"epoch_seconds": [1800.0, 1800.0, 3600.0]}}})
    record = {"name": "r", "command": "python -m x --seeds 0,1,2", "scale": "tiny, CPU",
              "hardware": float_settings(1), "device": "cpu", "protocol": {"tuning_seed": 7},
              "learning_rates": {"a": 0.01, "b": 0.003}}
    lines = describe_record(record, tmp_path).splitlines()
    assert lines[:2] == ["python -m x --seeds 0,1,2", "tiny, CPU"]
    assert "1 thread," in lines[2]
    assert lines[3] == ("learning rates (chosen with tuning seed 7, before the verdict seeds): "
                        "a 0.01, b 0.003")
    assert lines[4] == "compute: 2.0 CPU hours in 1 training run (learning-rate tuning included)"
    gpu = describe_compute({"runs": 2, "seconds": 600.0}, "cuda")
    assert gpu.startswith("10 GPU minutes in 2 training runs")
    assert describe_compute({"runs": 0, "seconds": 0.0}) == "compute not recorded"
    one_rate = dict(record, learning_rates=None, learning_rate=0.03)
    assert "every arm 0.03" in describe_record(one_rate, tmp_path)
