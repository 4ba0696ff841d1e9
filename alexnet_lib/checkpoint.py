"""Checkpoints that survive crashes: atomic writes, safe loading, and every RNG state.

Defined in the book's chapter "Training AlexNet at ImageNet scale" (the run folder and resuming).

A training run of AlexNet on ImageNet takes hours to days; the paper's took 5-6. Losing it to
a power cut, a pre-empted cluster job or a full disk is worse than losing a few minutes, so
the rules here are:

* **Atomic.** :func:`atomic_save` (and :func:`atomic_write`, for any file) writes to a
  temporary file in the same folder, flushes and ``fsync``-s it, then renames it over the
  target (``os.replace`` is atomic on POSIX file systems). A reader sees the old checkpoint or
  the new one, never half of one, even if the process is killed with SIGKILL mid-write.
* **Safe to load.** A checkpoint holds only tensors and plain Python values (dicts, lists,
  tuples, str, int, float, bool, None), so it loads with ``torch.load(weights_only=True)``,
  which cannot run code from the file. NumPy's and Python's RNG states are converted to
  tensors and lists for that reason (:func:`rng_state`).
* **Complete.** With the model, optimizer, learning-rate schedule, epoch, step, gradient scaler
  and all four RNG states (torch CPU, CUDA, NumPy, Python's ``random``), a resumed run continues
  where the saved one stopped; with its ``config`` and the training set's statistics, a
  checkpoint rebuilds its own network and test pipeline
  (:func:`alexnet_lib.evaluate.evaluate_checkpoint`).

This module imports nothing else of the library, so that every layer can use its writer.
"""

from __future__ import annotations

import contextlib
import os
import random
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

import numpy as np
import torch

__all__ = ["FORMAT", "CheckpointError", "atomic_save", "load_checkpoint", "rng_state",
           "set_rng_state", "remove_stale_temp_files", "TEMP_PREFIX", "atomic_open", "atomic_write"]

FORMAT = "alexnet_lib.checkpoint/1"
"""The value of the ``"format"`` key; bumped if the layout ever changes incompatibly."""

TEMP_PREFIX = ".tmp-"
"""Temporary files are ``<folder>/.tmp-<name>.<pid>``: hidden, and never matched by ``*.pt``."""


class CheckpointError(RuntimeError):
    """A checkpoint is missing, unreadable, or not one written by this library."""


def _fsync_dir(folder: Path) -> None:
    # The rename is only durable once the directory entry is on disk too (POSIX; a no-op
    # elsewhere, where directories cannot be opened).
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "wb") -> Iterator[IO[Any]]:
    """Open ``path`` for writing so that it is replaced in one step when the block ends.

    Defined in the book's chapter "Training AlexNet at ImageNet scale" (the run folder): the one
    atomic writer of the library (checkpoints, the run folder's files, prepared images). The
    block writes to a temporary file in the same folder; on leaving it the file is flushed and
    ``fsync``-ed, renamed over ``path`` (``os.replace``, atomic on POSIX file systems) and the
    folder is ``fsync``-ed, so the rename itself survives a power cut. If the block raises, the
    temporary file is removed and ``path`` keeps its previous content; if the process is killed,
    only a hidden ``.tmp-*`` file is left behind, which :func:`remove_stale_temp_files` clears.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f"{TEMP_PREFIX}{path.name}.{os.getpid()}"
    try:
        with open(tmp, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_dir(path.parent)


def atomic_save(obj: Any, path: str | Path) -> Path:
    """``torch.save(obj)`` to ``path`` atomically (:func:`atomic_open`: temp file + fsync + rename)."""
    with atomic_open(path) as f:
        torch.save(obj, f)
    return Path(path)


def atomic_write(path: str | Path, data: str | bytes) -> Path:
    """Write ``data`` (text or bytes) to ``path`` atomically (:func:`atomic_open`)."""
    with atomic_open(path, "w" if isinstance(data, str) else "wb") as f:
        f.write(data)
    return Path(path)


def remove_stale_temp_files(folder: str | Path) -> list[Path]:
    """Delete temporary files left in ``folder`` by a process killed during :func:`atomic_save`."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    stale = sorted(folder.glob(f"{TEMP_PREFIX}*"))
    for p in stale:
        with contextlib.suppress(OSError):
            p.unlink()
    return stale


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by the training command, with ``weights_only=True``.

    Raises:
        CheckpointError: the file does not exist, cannot be unpickled safely, or is not one
            of this library's checkpoints. The message names the file and what to do.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # truncated file, wrong format, unsafe pickle
        raise CheckpointError(f"cannot load checkpoint {path}: {type(err).__name__}: {err}. "
                              "It may be damaged; use the run's other checkpoint (last.pt or "
                              "best.pt) or start again.") from err
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        found = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise CheckpointError(f"{path} is not an alexnet_lib training checkpoint "
                              f"(format {found!r}, expected {FORMAT!r})")
    return state


# --------------------------------------------------------------------------- RNG states


def rng_state() -> dict[str, Any]:
    """All the random number generators' states, as tensors and plain values.

    ``np.random.get_state()`` and ``random.getstate()`` return tuples holding a NumPy array and
    a 625-tuple of ints; they are stored as int64 tensors so that the checkpoint still loads
    with ``weights_only=True``. CUDA states are included only when CUDA has been initialised
    (querying them would otherwise create a CUDA context on every GPU).
    """
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    py_version, py_state, py_gauss = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {"name": str(np_name), "keys": torch.from_numpy(np_keys.astype(np.int64)),
                  "pos": int(np_pos), "has_gauss": int(np_has_gauss), "gauss": float(np_gauss)},
        "python": {"version": int(py_version), "state": torch.tensor(py_state, dtype=torch.int64),
                   "gauss": py_gauss},
        "cuda": None,
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Mapping[str, Any]) -> None:
    """Restore the states saved by :func:`rng_state` (CUDA only where there is CUDA)."""
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state((n["name"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"],
                         n["gauss"]))
    p = state["python"]
    random.setstate((p["version"], tuple(int(v) for v in p["state"].tolist()), p["gauss"]))
    if state.get("cuda") is not None and torch.cuda.is_available():
        cuda_states = state["cuda"][: torch.cuda.device_count()]
        torch.cuda.set_rng_state_all(cuda_states)
