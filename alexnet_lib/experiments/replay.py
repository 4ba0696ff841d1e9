"""Replaying the start of a committed record on the reader's machine: exact where it can be.

Defined in the book's introduction ("How the book is tested"); every experiment chapter ends its
record section with a replay check.

A chapter's numbers come from a record in ``book/results`` (made by
``python -m alexnet_lib.experiments``), read as they were saved, so they are the same on every
machine. To show that today's code still produces that record, the chapter re-runs the record's
first epoch live and compares:

* **exactly** when this machine's floating-point settings (:func:`~alexnet_lib.provenance.float_settings`:
  CPU model, ATen's CPU capability, oneDNN's ISA cap, threads, torch version) are the record's;
* **within a tolerance** otherwise: CPU training gives other last digits with other kernels or
  thread counts, and one epoch of SGD amplifies them (see :data:`TOLERANCE` for the bounds and
  how they were chosen).

:func:`check` raises :class:`ReplayMismatch` (an ``AssertionError``, so ``pytest --nbval`` fails
the cell) naming every quantity that is off, and otherwise returns a :class:`Replay` whose text
says which kind of check ran.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ..provenance import FLOAT_KEYS, float_settings, same_float_settings
from .loop import History

__all__ = ["TOLERANCE", "Replay", "ReplayMismatch", "check", "first_epoch", "check_first_epoch"]

TOLERANCE = {"error": 0.08, "loss": 0.005}
"""Bounds of a replay on other floating-point settings, after one epoch.

``error``: absolute, on error rates (fractions): 0.08 is 8 points. ``loss``: relative, on the mean
training loss of the epoch: 0.005 is 0.5%. Measured on 2026-12-01 for the seven committed records
(made on another machine) on a 2-core AMD EPYC (AVX2), and again under the settings
tests/test_portability.py simulates (ATen's ``default`` kernels, oneDNN capped at SSE4.1, one
thread): first-epoch errors moved by at most 2.3 points, losses by at most 0.10%. After one epoch
the nets are still near chance, where a nudge flips many arg-maxes: were the predictions drawn
afresh, the error of 500 test images at 90% would move by up to about 4 standard deviations of
the difference, 8 points. The loss, an average over every step of the epoch, is the tighter check.
"""


class ReplayMismatch(AssertionError):
    """A replay that does not match its record (exactly, or within :data:`TOLERANCE`)."""


@dataclass
class Replay:
    """The outcome of one replay: which kind of check ran, and every quantity compared."""

    mode: str  # "exact" or "tolerance"
    differing: list[str]
    rows: list[tuple[str, float, float]] = field(default_factory=list)  # (quantity, saved, here)

    @property
    def largest_deviation(self) -> dict[str, float]:
        """The largest deviation seen, per kind ('error' absolute, 'loss' relative)."""
        out = {"error": 0.0, "loss": 0.0}
        for name, saved, here in self.rows:
            kind = _kind(name)
            out[kind] = max(out[kind], _deviation(kind, saved, here))
        return out

    def __str__(self) -> str:
        if self.mode == "exact":
            head = ("same floating-point settings as the record: "
                    f"{len(self.rows)} numbers replayed bit for bit")
        else:
            dev = self.largest_deviation
            why = ("the record does not state its floating-point settings"
                   if self.differing == list(FLOAT_KEYS) else
                   f"other floating-point settings than the record's ({', '.join(self.differing)})")
            head = (f"{why}: {len(self.rows)} numbers within tolerance (errors within "
                    f"{TOLERANCE['error'] * 100:g} points, largest {dev['error'] * 100:.1f}; losses "
                    f"within {TOLERANCE['loss']:.1%}, largest {dev['loss']:.2%})")
        width = max(len(r[0]) for r in self.rows) if self.rows else 0
        lines = [head] + [f"  {name:{width}}  saved {saved:.6f}  here {here:.6f}"
                          for name, saved, here in self.rows]
        return "\n".join(lines)


def _kind(name: str) -> str:
    return "loss" if name.endswith("loss") else "error"


def _deviation(kind: str, saved: float, here: float) -> float:
    if kind == "loss":
        return abs(here - saved) / max(abs(saved), 1e-12)
    return abs(here - saved)


def check(saved: dict[str, float], here: dict[str, float],
          recorded_settings: dict[str, Any] | None, threads: int | None = None) -> Replay:
    """Compare a replay's numbers ``here`` with the record's ``saved`` (same keys).

    Exact when this machine's :func:`~alexnet_lib.provenance.float_settings` (with ``threads``,
    the thread count the replay ran with) equal ``recorded_settings``; within :data:`TOLERANCE`
    otherwise. A key ending in ``loss`` is a loss, any other an error rate.
    """
    if set(saved) != set(here):
        raise ValueError(f"replay and record measure different things: {sorted(set(saved) ^ set(here))}")
    differing = same_float_settings(recorded_settings, float_settings(threads))
    replay = Replay("exact" if not differing else "tolerance", differing,
                    [(k, float(saved[k]), float(here[k])) for k in saved])
    bad = []
    for name, s, h in replay.rows:
        if replay.mode == "exact":
            if s != h and not (math.isnan(s) and math.isnan(h)):
                bad.append(f"{name}: saved {s!r}, here {h!r}")
        else:
            kind = _kind(name)
            if not _deviation(kind, s, h) <= TOLERANCE[kind]:
                bad.append(f"{name}: saved {s:.6f}, here {h:.6f} (beyond {TOLERANCE[kind]:g} "
                           f"{'relative' if kind == 'loss' else 'absolute'})")
    if bad:
        how = ("bit for bit (this machine has the record's floating-point settings)"
               if replay.mode == "exact" else
               f"within tolerance (this machine differs from the record in {', '.join(differing)})")
        raise ReplayMismatch(
            "the code no longer reproduces the record's first epoch " + how + ":\n  "
            + "\n  ".join(bad) + "\nIf the change is meant, re-make the record with the command it "
            "names, then re-execute the chapter (python tools/nbbuild.py --execute CHAPTER).")
    return replay


def first_epoch(runs: dict[str, History | dict[str, Any]],
                keys: tuple[str, ...] = ("train_error", "test_error", "train_loss")) -> dict[str, float]:
    """Epoch 1 of every run's ``keys``, flat: ``{"<run>: epoch 1 <key>": value}``."""
    out = {}
    for name, h in runs.items():
        for key in keys:
            values = h[key] if isinstance(h, dict) else getattr(h, key)
            out[f"{name}: epoch 1 {key}"] = values[0]
    return out


def check_first_epoch(saved_runs: dict[str, Any], live_runs: dict[str, History | dict[str, Any]],
                      recorded_settings: dict[str, Any] | None, threads: int | None = None) -> Replay:
    """:func:`check` on the first epoch of the runs both sides have in common with ``live_runs``."""
    saved = first_epoch({k: saved_runs[k] for k in live_runs})
    return check(saved, first_epoch(live_runs), recorded_settings, threads)
