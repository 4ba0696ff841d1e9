"""What a CPU measurement was made on: the processor, the kernels torch picked, the threads.

Defined in the book's introduction ("How the book is tested"); every result record of
``python -m alexnet_lib.experiments`` carries :func:`float_settings` under ``"hardware"``, and
:mod:`alexnet_lib.experiments.replay` compares it with the reader's machine.

CPU training gives different floating-point results with the instruction set of the kernels
(ATen's AVX2 vs AVX-512 vectorisation, oneDNN's convolutions) and with the number of threads a sum
is split over. A few hundred SGD steps turn last-digit differences into different error rates, so
a record can be replayed bit for bit only where these settings are the same. Two environment
variables change them on one machine, which is how the tests simulate another CPU:
``ATEN_CPU_CAPABILITY`` (``default``, ``avx2``, ``avx512``) and ``ONEDNN_MAX_CPU_ISA`` (e.g.
``SSE41``, ``AVX2``).
"""

from __future__ import annotations

import contextlib
import os
import platform
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

__all__ = ["cpu_model", "float_settings", "FLOAT_KEYS", "same_float_settings", "describe", "git_state"]

FLOAT_KEYS = ("cpu_model", "cpu_capability", "onednn_max_cpu_isa", "threads", "torch")
"""The settings that must all be equal for a CPU run to give the same floats."""


def git_state(repo: str | Path, paths: Sequence[str] = (), short: bool = False) -> dict[str, Any]:
    """The code a run or record was made with: ``{"commit", "dirty", "error"}`` of ``repo``.

    Defined for the training command's ``env.json`` and the experiments' records (the one copy of
    this question). ``commit``: HEAD's hash (12 characters if ``short``); ``dirty``: whether
    tracked files (only those under ``paths``, if given) have uncommitted changes; both None,
    and ``error`` saying why, where git is missing or ``repo`` is not a checkout.
    """
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=repo, text=True, capture_output=True,
                              check=True).stdout.strip()

    try:
        commit = git("rev-parse", "--short=12" if short else "--verify", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no", "--", *paths))
    except (OSError, subprocess.CalledProcessError) as err:  # no git binary, or not a checkout
        return {"commit": None, "dirty": None, "error": f"{type(err).__name__}: {err}"}
    return {"commit": commit, "dirty": dirty, "error": None}


def cpu_model() -> str:
    """The processor's name as ``/proc/cpuinfo`` gives it (``platform.processor()`` elsewhere)."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def float_settings(threads: int | None = None) -> dict[str, Any]:
    """The settings that decide a CPU run's floats, as a JSON-ready dict.

    ``threads``: the thread count the run used (default: torch's current one).
    """
    return {
        "cpu_model": cpu_model(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        # oneDNN has no query for the ISA it dispatches to; only its cap can be read.
        "onednn_max_cpu_isa": os.environ.get("ONEDNN_MAX_CPU_ISA"),
        "threads": threads if threads is not None else torch.get_num_threads(),
        "torch": torch.__version__,
        "machine": platform.machine(),
    }


def same_float_settings(recorded: dict[str, Any] | None, here: dict[str, Any]) -> list[str]:
    """The settings in which ``here`` differs from ``recorded`` (empty: a bit-exact replay can
    hold). A record without settings differs in everything."""
    if not recorded:
        return list(FLOAT_KEYS)
    return [k for k in FLOAT_KEYS if recorded.get(k) != here.get(k)]


def describe(settings: dict[str, Any] | None) -> str:
    """One line for a reader: where a record's run was made (its :func:`float_settings`)."""
    if not settings:
        return "a machine the record does not name (it predates records stating their settings)"
    isa = f", oneDNN capped at {settings['onednn_max_cpu_isa']}" if settings.get("onednn_max_cpu_isa") else ""
    n = settings["threads"]
    return (f"{settings['cpu_model']}, {settings['cpu_capability']} kernels{isa}, "
            f"{n} thread{'' if n == 1 else 's'}, torch {settings['torch']}")
