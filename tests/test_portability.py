"""The chapters' checks hold on another CPU, simulated on this one.

CPU training gives other floats with other kernels and thread counts (alexnet_lib.provenance). Two
environment variables change the kernels torch uses on one machine, and OMP_NUM_THREADS the thread
count: under them every notebook must still pass `pytest --nbval`. That is what a clean clone meets
on an Intel machine when the notebooks were executed on an AMD one, or on a machine with more cores.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from alexnet_lib.experiments.replay import TOLERANCE

ROOT = Path(__file__).resolve().parents[1]
# Another CPU: ATen's scalar kernels instead of AVX2/AVX-512, oneDNN capped at SSE4.1, one thread.
SIMULATED = {"ATEN_CPU_CAPABILITY": "default", "ONEDNN_MAX_CPU_ISA": "SSE41", "OMP_NUM_THREADS": "1"}

TRAIN_A_LITTLE = """
import torch
from alexnet_lib.experiments.datasets import builtin_data
from alexnet_lib.experiments.loop import TrainConfig, train
from alexnet_lib.experiments.pooling import small_alexnet
data = builtin_data(64, 16, 64, 0)
_, h = train(lambda: small_alexnet(64, 0.25, 64, "he"), data,
             TrainConfig(epochs=1, batch_size=16, preprocess="standardize", threads=None))
print(torch.backends.cpu.get_cpu_capability(), torch.get_num_threads(), repr(h.train_loss[0]))
"""


def _environment(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SIMULATED}
    return {**env, **extra}


def _run(code: str, extra: dict[str, str]) -> str:
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=_environment(extra),
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout.strip()


def test_the_simulation_changes_the_floats() -> None:
    """Otherwise the test below would check nothing: a few SGD steps give another loss."""
    here = _run(TRAIN_A_LITTLE, {})
    other = _run(TRAIN_A_LITTLE, SIMULATED)
    assert other.startswith("DEFAULT 1 "), other
    assert here.split()[-1] != other.split()[-1], (here, other)


def test_every_chapter_passes_on_another_cpu() -> None:
    """`pytest --nbval book` with the simulated CPU's kernels and one thread."""
    cmd = [sys.executable, "-m", "pytest", "--nbval", "book", "-q", "-p", "no:cacheprovider"]
    out = subprocess.run(cmd, cwd=ROOT, env=_environment(SIMULATED), capture_output=True, text=True,
                         timeout=1200)
    assert out.returncode == 0, (out.stdout + out.stderr)[-6000:]
    assert re.search(r"\d+ passed", out.stdout), out.stdout[-2000:]


def test_the_book_states_the_tolerance() -> None:
    """The introduction's "How the book is tested" quotes replay.TOLERANCE: keep them in step."""
    intro = (ROOT / "book" / "intro.md").read_text()
    stated = f"{TOLERANCE['error'] * 100:g} points of error, {TOLERANCE['loss'] * 100:g}%\nof loss"
    assert " ".join(stated.split()) in " ".join(intro.split()), stated
