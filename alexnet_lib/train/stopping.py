"""How a run stops before its last epoch: a signal (Ctrl-C, SIGTERM from torchrun or SLURM),
after which last.pt is saved, or a non-finite loss, after which nothing is saved.

Defined in the book's chapter "Training AlexNet at ImageNet scale" (resuming); used by
:class:`alexnet_lib.train.Trainer`.
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from types import FrameType

from ..checkpoint import CheckpointError, load_checkpoint

__all__ = ["EXIT_SIGNAL", "Stop", "SignalWatch", "nonfinite_message"]

EXIT_SIGNAL = {signal.SIGINT: 130, signal.SIGTERM: 143}  # the shell's 128 + signal number


class Stop(Exception):
    """Raised inside an epoch to end the run: a signal (``signum``) or a non-finite loss."""

    def __init__(self, reason: str, signum: int | None = None) -> None:
        super().__init__(reason)
        self.reason, self.signum = reason, signum


class SignalWatch:
    """While entered, SIGINT and SIGTERM set :attr:`signum` instead of ending the process (the
    loop then saves last.pt and stops); a second Ctrl-C stops at once, without saving.
    ``announce``: say so on stderr (rank 0)."""

    def __init__(self, announce: bool) -> None:
        self.announce = announce
        self.signum: int | None = None
        self._old: dict[int, object] = {}

    def __enter__(self) -> SignalWatch:
        self._old = {s: signal.signal(s, self._handle) for s in EXIT_SIGNAL}
        return self

    def __exit__(self, *_exc: object) -> None:
        for s, handler in self._old.items():
            signal.signal(s, handler)  # type: ignore[arg-type]

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        if self.signum is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C: stop now, without saving
        self.signum = signum
        if self.announce:
            name = signal.Signals(signum).name
            print(f"\n{name} received: saving last.pt at the end of this step, then stopping "
                  "(Ctrl-C again to quit without saving)", file=sys.stderr, flush=True)


def _position(path: Path) -> str:
    try:
        state = load_checkpoint(path)
        return f"{state['epoch']}, step {state['step']}"
    except CheckpointError:
        return "unknown"


def nonfinite_message(out: Path, epoch: int, step: int) -> str:
    """Why the run stopped in ``epoch`` (0-based) at ``step``, what was kept, what to try."""
    last = out / "last.pt"
    kept = (f"the last good checkpoint, {last}, is kept (epoch {_position(last)})"
            if last.is_file() else "no checkpoint had been written yet")
    return (f"the training loss became non-finite (NaN or inf) in epoch {epoch + 1} by step "
            f"{step}; stopping without saving: {kept}. Lower --lr, or check the input "
            "scale (--input-scale) and the data.")
