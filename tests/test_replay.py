"""Replay checks (alexnet_lib.experiments.replay) and the floating-point settings they compare."""

from __future__ import annotations

import json

import pytest
import torch

from alexnet_lib.experiments import replay
from alexnet_lib.experiments.common import ExperimentResult
from alexnet_lib.experiments.loop import History
from alexnet_lib.experiments.records import RESULTS_DIR, Record, load_result, save_result
from alexnet_lib.provenance import FLOAT_KEYS, describe, float_settings, same_float_settings

SAVED = {"a: epoch 1 train_error": 0.88, "a: epoch 1 train_loss": 2.3}


def test_float_settings_name_what_changes_the_floats() -> None:
    here = float_settings()
    assert set(FLOAT_KEYS) <= set(here)
    assert here["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert here["threads"] == torch.get_num_threads() and float_settings(3)["threads"] == 3
    assert same_float_settings(here, float_settings()) == []
    assert same_float_settings({**here, "threads": here["threads"] + 1}, here) == ["threads"]
    assert same_float_settings(None, here) == list(FLOAT_KEYS)  # an old record: never exact
    assert "thread" in describe(here) and "does not name" in describe(None)
    assert "1 thread," in describe(float_settings(1)) and "2 threads," in describe(float_settings(2))


def test_exact_mode_demands_every_bit() -> None:
    settings = float_settings()
    assert replay.check(SAVED, dict(SAVED), settings).mode == "exact"
    off_by_an_ulp = {**SAVED, "a: epoch 1 train_loss": 2.3000000000000003}
    with pytest.raises(replay.ReplayMismatch, match="bit for bit"):
        replay.check(SAVED, off_by_an_ulp, settings)


def test_tolerance_mode_on_other_settings() -> None:
    other = {**float_settings(), "cpu_capability": "SOMETHING ELSE"}
    tol = replay.TOLERANCE
    near = {"a: epoch 1 train_error": 0.88 + 0.9 * tol["error"],
            "a: epoch 1 train_loss": 2.3 * (1 + 0.9 * tol["loss"])}
    result = replay.check(SAVED, near, other)
    assert result.mode == "tolerance" and result.differing == ["cpu_capability"]
    assert result.largest_deviation["error"] == pytest.approx(0.9 * tol["error"])
    assert "within tolerance" in str(result)
    for key, value in (("a: epoch 1 train_error", 0.88 - 1.1 * tol["error"]),
                       ("a: epoch 1 train_loss", 2.3 * (1 + 1.1 * tol["loss"]))):
        with pytest.raises(replay.ReplayMismatch, match=key):
            replay.check(SAVED, {**SAVED, key: value}, other)
    with pytest.raises(ValueError, match="different things"):
        replay.check(SAVED, {"a: epoch 1 train_error": 0.88}, other)


def test_first_epoch_reads_histories_and_saved_dicts() -> None:
    h = History("a", train_error=[0.9, 0.5], test_error=[0.8, 0.6], train_loss=[2.0, 1.0])
    flat = replay.first_epoch({"a": h})
    assert flat == replay.first_epoch({"a": h.to_dict()}) == {
        "a: epoch 1 train_error": 0.9, "a: epoch 1 test_error": 0.8, "a: epoch 1 train_loss": 2.0}


def test_records_state_their_settings_and_results_round_trip(tmp_path) -> None:
    h = History("a", train_error=[0.9], test_error=[0.8], train_loss=[2.0], epoch_seconds=[1.0])
    result = ExperimentResult("x", {"threads": 2}, "scale", {"a": h}, {"k": 1})
    record = Record(1, "claim", "paper", "ours", "scale", "reproduced", "x")
    path = save_result(tmp_path / "x.json", "x", "builtin", result.config, result.to_dict(), [record],
                       threads=2)
    saved = load_result(path)
    assert saved["hardware"] == float_settings(2)
    back = ExperimentResult.from_dict(saved["result"])
    assert back.runs["a"] == h and back.summary == {"k": 1} and back.models == {}


@pytest.mark.parametrize("name", ["relu_tanh", "lrn", "pooling", "dropout"])
def test_committed_records_rebuild_as_results(name: str) -> None:
    """What the chapters do with the committed records: every run has a first epoch to replay."""
    saved = json.loads((RESULTS_DIR / f"{name}.json").read_text())
    result = ExperimentResult.from_dict(saved["result"])
    assert result.runs and all(len(h.train_loss) == saved["config"]["epochs"] for h in result.runs.values())
    assert len(replay.first_epoch(result.runs)) == 3 * len(result.runs)


REPLAY_TINY = """
import sys
from alexnet_lib.experiments import relu_tanh, replay
from alexnet_lib.experiments.common import ExperimentResult
from alexnet_lib.experiments.records import load_result
saved = load_result(sys.argv[1])
config = relu_tanh.ReluTanhConfig(**saved["config"])
live = relu_tanh.run(config.replace(epochs=1, threads=None), config.load())
print(replay.check_first_epoch(ExperimentResult.from_dict(saved["result"]).runs, live.runs,
                               saved["hardware"]).mode)
"""


def test_a_fresh_record_replays_bit_for_bit_here_and_within_tolerance_elsewhere(tmp_path) -> None:
    """The contract end to end: the command writes a record with its settings; the chapters'
    replay is exact on the same settings, and within tolerance on another (simulated) CPU."""
    import os
    import subprocess
    import sys

    from test_portability import SIMULATED

    env = {k: v for k, v in os.environ.items() if k not in SIMULATED}
    threads = str(torch.get_num_threads())
    make = [sys.executable, "-m", "alexnet_lib.experiments", "relu_tanh", "--n-train", "64",
            "--n-test", "32", "--epochs", "2", "--lrs", "0.01", "--threads", threads,
            "--out", str(tmp_path), "--no-plot"]
    out = subprocess.run(make, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    record = tmp_path / "relu_tanh.json"
    assert json.loads(record.read_text())["hardware"]["threads"] == int(threads)
    for extra, mode in (({}, "exact"), (SIMULATED, "tolerance")):
        out = subprocess.run([sys.executable, "-c", REPLAY_TINY, str(record)], env={**env, **extra},
                             capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr[-2000:]
        assert out.stdout.strip().splitlines()[-1] == mode
