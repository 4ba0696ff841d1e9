"""Checkpoints: atomic writes (even under SIGKILL), weights_only loading, RNG round trips."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from alexnet_lib.checkpoint import (
    FORMAT,
    TEMP_PREFIX,
    CheckpointError,
    atomic_open,
    atomic_save,
    atomic_write,
    load_checkpoint,
    remove_stale_temp_files,
    rng_state,
    set_rng_state,
)


def _draws() -> tuple[torch.Tensor, np.ndarray, list[float]]:
    return torch.rand(5), np.random.rand(5), [random.random() for _ in range(5)]


def test_rng_state_round_trip_through_a_weights_only_file(tmp_path):
    torch.manual_seed(1)
    np.random.seed(2)
    random.seed(3)
    np.random.randn()  # leaves a cached Gaussian in NumPy's state, which must survive too
    random.gauss(0, 1)
    atomic_save({"format": FORMAT, "rng": rng_state()}, tmp_path / "c.pt")
    first = _draws()
    state = load_checkpoint(tmp_path / "c.pt")  # weights_only=True inside
    set_rng_state(state["rng"])
    again = _draws()
    assert torch.equal(first[0], again[0])
    assert np.array_equal(first[1], again[1])
    assert first[2] == again[2]


def test_failed_write_keeps_the_old_checkpoint_and_leaves_no_temp_file(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    atomic_save({"format": FORMAT, "epoch": 1}, path)

    def broken_save(obj, f, *args, **kwargs):
        f.write(b"half a checkpoint")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="No space left"):
        atomic_save({"format": FORMAT, "epoch": 2}, path)
    monkeypatch.undo()
    assert load_checkpoint(path)["epoch"] == 1
    assert list(tmp_path.iterdir()) == [path]


def test_load_errors_name_the_file(tmp_path):
    with pytest.raises(CheckpointError, match="checkpoint not found: .*missing.pt"):
        load_checkpoint(tmp_path / "missing.pt")
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"\x00not a checkpoint")
    with pytest.raises(CheckpointError, match="cannot load checkpoint .*garbage.pt"):
        load_checkpoint(garbage)
    torch.save({"state_dict": {}}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not an alexnet_lib training checkpoint"):
        load_checkpoint(tmp_path / "other.pt")


def test_weights_only_refuses_arbitrary_objects(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    torch.save({"format": FORMAT, "x": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match="cannot load"):
        load_checkpoint(tmp_path / "evil.pt")


def test_stale_temp_files_are_removed(tmp_path):
    (tmp_path / f"{TEMP_PREFIX}last.pt.123").write_bytes(b"partial")
    (tmp_path / "last.pt").write_bytes(b"keep")
    removed = remove_stale_temp_files(tmp_path)
    assert [p.name for p in removed] == [f"{TEMP_PREFIX}last.pt.123"]
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]


_WRITER = """
import sys, torch
from alexnet_lib.checkpoint import FORMAT, atomic_save
path = sys.argv[1]
big = torch.zeros(4_000_000)  # 16 MB: each write takes a while, so kills land mid-write
i = 0
while True:
    i += 1
    big[0] = i
    atomic_save({"format": FORMAT, "i": i, "w": big}, path)
    print(i, flush=True)
"""


def test_sigkill_during_writes_never_leaves_a_half_written_checkpoint(tmp_path):
    path = tmp_path / "last.pt"
    script = tmp_path / "writer.py"
    script.write_text(_WRITER)
    rng = random.Random(0)
    seen = []
    for _ in range(3):
        proc = subprocess.Popen([sys.executable, str(script), str(path)], stdout=subprocess.PIPE,
                                text=True)
        assert proc.stdout is not None
        proc.stdout.readline()  # at least one complete checkpoint exists
        time.sleep(rng.uniform(0.05, 0.4))  # then kill it at some moment of a later write
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        state = load_checkpoint(path)  # must always be a whole checkpoint
        assert state["w"][0] == state["i"]
        seen.append(state["i"])
    assert all(i >= 1 for i in seen)
    # Killed writers may leave their hidden temp file, never a damaged last.pt.
    others = {p.name for p in tmp_path.iterdir()} - {"last.pt", "writer.py"}
    assert all(name.startswith(TEMP_PREFIX) for name in others), others


def test_atomic_write_replaces_whole_files_or_nothing(tmp_path, monkeypatch):
    target = tmp_path / "sub" / "config.json"
    atomic_write(target, "old\n")
    assert target.read_text() == "old\n"
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd)))
    atomic_write(target, b"new\n")  # bytes too (prepared JPEGs)
    assert target.read_bytes() == b"new\n" and len(synced) >= 2  # the file, then its folder
    with pytest.raises(RuntimeError), atomic_open(target, "w") as f:
        f.write("half")
        raise RuntimeError("killed mid-write")
    assert target.read_text() == "new\n"
    assert [p.name for p in target.parent.iterdir()] == ["config.json"]  # no temporary file left
