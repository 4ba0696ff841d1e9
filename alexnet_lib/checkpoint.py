"""Checkpoints that survive crashes: atomic writes, safe loading, and every RNG state.

Defined in the book's chapter "Training AlexNet at ImageNet scale" (the run folder and resuming).

A training run of AlexNet on ImageNet takes hours to days; the paper's took 5-6. Losing it to
a power cut, a pre-empted cluster job or a full disk is worse than losing a few minutes, so
the rules here are:

* **Atomic.** :func:`atomic_save` writes to a temporary file in the same folder, flushes and
  ``fsync``-s it, then renames it over the target (``os.replace`` is atomic on POSIX file
  systems). A reader sees the old checkpoint or the new one, never half of one, even if the
  process is killed with SIGKILL in the middle of the write.
* **Safe to load.** A checkpoint holds only tensors and plain Python values (dicts, lists,
  tuples, str, int, float, bool, None), so it loads with ``torch.load(weights_only=True)``,
  which cannot run code from the file. NumPy's and Python's RNG states are converted to
  tensors and lists for that reason (:func:`rng_state`).
* **Complete.** With the model, optimizer, learning-rate schedule, epoch, step, gradient scaler
  and all four RNG states (torch CPU, CUDA, NumPy, Python's ``random``), a resumed run continues
  where the saved one stopped; with its ``config`` and the training set's statistics
  (:func:`statistics_to_state`), a checkpoint rebuilds its own network (:func:`build_model`) and
  test pipeline, which is how ``python -m alexnet_lib.evaluate`` tests it.
"""

from __future__ import annotations

import contextlib
import os
import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .data.stats import DatasetStatistics
from .model import AlexNet

__all__ = ["FORMAT", "CheckpointError", "atomic_save", "load_checkpoint", "rng_state",
           "set_rng_state", "remove_stale_temp_files", "TEMP_PREFIX", "build_model",
           "statistics_to_state", "statistics_from_state"]

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


def atomic_save(obj: Any, path: str | Path) -> Path:
    """``torch.save(obj)`` to ``path`` atomically: temp file + fsync + rename.

    If anything fails (an exception, a full disk), the temporary file is removed and ``path``
    still holds its previous content. If the process is killed mid-write, only a hidden
    ``.tmp-*`` file is left behind; :func:`remove_stale_temp_files` clears those.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f"{TEMP_PREFIX}{path.name}.{os.getpid()}"
    try:
        with open(tmp, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_dir(path.parent)
    return path


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


# --------------------------------------------------------------------------- what rebuilds a run


def build_model(cfg: dict[str, Any], num_classes: int) -> nn.Module:
    """The network a run's settings (a checkpoint's ``config``) describe, on the CPU.

    Defined for the training command (``alexnet_lib.train``), which builds it, and the evaluation
    command, which rebuilds it from a checkpoint; ``--model-parallel`` splits it afterwards.
    """
    if cfg["arch"] == "torchvision":
        from torchvision.models import alexnet

        return alexnet(num_classes=num_classes, dropout=cfg["dropout"])
    kaiming = cfg["init"] == "kaiming"
    model = AlexNet(num_classes, lrn=None if cfg["lrn"] == "none" else cfg["lrn"],
                    lrn_per_column=not cfg.get("lrn_across_columns", False),
                    remove=tuple(cfg.get("remove") or ()),
                    dropout=cfg["dropout"], groups=cfg["columns"], width=cfg["width"],
                    hidden=cfg["hidden"], input_size=cfg["crop_size"],
                    init="torch" if kaiming else cfg["init"])
    if kaiming:
        # PyTorch's default init shrinks the signal layer by layer, and the paper's N(0, 0.01)
        # relies on 60M parameters' fan-in; in a CPU-sized AlexNet both leave the loss stuck at
        # ln(classes) for many epochs. He et al.'s fan-in normal init keeps the scale. Drawn
        # after the "torch" init, as always, so that a seed gives the weights it always gave;
        # model.config then says init="kaiming", which AlexNet accepts (a checkpoint rebuilds).
        model.reset_parameters("kaiming")
    return model


def statistics_to_state(stats: DatasetStatistics) -> dict[str, Any]:
    """The training set's statistics as tensors and plain values (``weights_only`` loading)."""
    return stats.to_state()


def statistics_from_state(state: dict[str, Any]) -> DatasetStatistics:
    """The inverse of :func:`statistics_to_state`."""
    return DatasetStatistics.from_state(state)
