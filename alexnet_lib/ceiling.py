"""The model's ceiling: images/s of AlexNet's training step on data already on the device.

Defined in the book's appendix "Running the training command" (the GPU throughput section); run
by ``python -m alexnet_lib.bench ceiling`` and, on a lent GPU, by ``tools/gpu_checks.sh``.

A training step with no input cost is the most that ``python -m alexnet_lib.train`` can reach: the
row (c) of ``bench train``. This module times it under the levers that change it, one variant at
a time: the batch size, ``torch.compile`` and its mode (``max-autotune`` adds Triton's GEMM and
convolution autotuning and CUDA graphs, ``max-autotune-no-cudagraphs`` the autotuning alone), the
``channels_last`` layout and ``cudnn.benchmark``. Then ``torch.profiler`` runs a few steps of the
fastest variant and lists the kernels that take the most device time: what the next change has
to make faster.

Compute floor, for scale: the paper's net is 0.724 GMAC forward, about 4.3 GFLOP per training
image (forward and backward, 3 x 2 x 0.724); an H200's ~989 dense bf16 TFLOP/s would do about
227,000 images/s if nothing else cost anything.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

__all__ = ["Variant", "VARIANTS", "bench_model_ceiling", "profile_step", "sweep",
           "format_sweep", "synchronize"]


@dataclass(frozen=True)
class Variant:
    """One setting of the levers (see the module's docstring)."""

    batch_size: int = 256
    compile_mode: str | None = "default"  # None: eager; else torch.compile's mode
    channels_last: bool = True
    cudnn_benchmark: bool = True

    @property
    def name(self) -> str:
        return (f"batch {self.batch_size}, {self.compile_mode or 'eager'}, "
                f"{'channels_last' if self.channels_last else 'NCHW'}"
                f"{'' if self.cudnn_benchmark else ', no cudnn.benchmark'}")


VARIANTS: tuple[Variant, ...] = (
    Variant(256, None),                     # eager: what torch.compile adds
    Variant(256, "default"),                # the training command's default
    Variant(256, "default", channels_last=False),
    Variant(256, "default", cudnn_benchmark=False),
    Variant(512, "default"),
    Variant(1024, "default"),
    Variant(256, "max-autotune-no-cudagraphs"),
    Variant(256, "max-autotune"),
    Variant(1024, "max-autotune"),
)
"""The sweep's variants, in order: one lever changed at a time from the training default (batch
256, ``torch.compile``, channels_last, cudnn.benchmark), then the autotuning modes. The slow
compilations come last, so a sweep cut short by its time budget keeps the cheap rows."""


def _step_fn(variant: Variant, device: str, bf16: bool,
             num_classes: int = 1000) -> Callable[[], None]:
    from .model import AlexNet

    dev = torch.device(device)
    torch.backends.cudnn.benchmark = variant.cudnn_benchmark
    torch.manual_seed(0)
    model = AlexNet(num_classes=num_classes).to(dev)
    if variant.channels_last:
        model = model.to(memory_format=torch.channels_last)
    step_model = (torch.compile(model, mode=variant.compile_mode) if variant.compile_mode
                  else model)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    x = torch.randn(variant.batch_size, 3, 224, 224, device=dev)
    if variant.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, num_classes, (variant.batch_size,), device=dev)

    def step() -> None:
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=bf16):
            loss = torch.nn.functional.cross_entropy(step_model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return step


def synchronize(device: str | torch.device) -> None:
    """Wait until ``device`` has run the work queued on it (CUDA runs kernels asynchronously, so a
    timer must wait); nothing to wait for on the CPU."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def bench_model_ceiling(batch_size: int, device: str, steps: int = 30, bf16: bool = True,
                        channels_last: bool = True, compile_model: bool = True,
                        compile_mode: str | None = None, cudnn_benchmark: bool = True,
                        warmup: int = 5) -> float:
    """Images/s of AlexNet's training step on random data already on the device (no input cost):
    ``warmup`` steps (compilation, autotuning), then ``steps`` timed ones."""
    variant = Variant(batch_size, (compile_mode or "default") if compile_model else None,
                      channels_last, cudnn_benchmark)
    step = _step_fn(variant, device, bf16)
    for _ in range(warmup):
        step()
    synchronize(device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    synchronize(device)
    return batch_size * steps / (time.perf_counter() - start)


def profile_step(variant: Variant, device: str, bf16: bool = True, steps: int = 3,
                 top: int = 12) -> list[dict[str, Any]]:
    """The ``top`` operations by self time on the device (the CPU, off a GPU) over ``steps``
    profiled training steps of ``variant``, after two warm-up steps: name, calls, seconds per
    step and share of the profiled time."""
    from torch.profiler import ProfilerActivity, profile

    step = _step_fn(variant, device, bf16)
    for _ in range(2):
        step()
    synchronize(device)
    cuda = torch.device(device).type == "cuda"
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    with profile(activities=activities) as prof:
        for _ in range(steps):
            step()
        synchronize(device)

    def self_us(event: Any) -> float:
        if not cuda:
            return float(event.self_cpu_time_total)
        return float(getattr(event, "self_device_time_total", None)
                     or getattr(event, "self_cuda_time_total", 0.0))

    events = [e for e in prof.key_averages() if self_us(e) > 0]
    total = sum(self_us(e) for e in events) or 1.0
    events.sort(key=self_us, reverse=True)
    return [{"name": e.key, "calls": int(e.count) // steps, "seconds_per_step": self_us(e) / 1e6 / steps,
             "share": self_us(e) / total} for e in events[:top]]


def sweep(device: str, variants: Sequence[Variant] = VARIANTS, steps: int = 30,
          budget_s: float = 240.0, json_path: str | Path | None = None,
          header: dict[str, Any] | None = None, profile: bool = True, profile_after: int = 2,
          log: Callable[[str], None] = print) -> dict[str, Any]:
    """Time every variant (bf16 on a GPU, float32 on a CPU); a variant that fails is recorded
    with its error and the others still run; no new variant starts after ``budget_s`` seconds.

    The fastest variant so far is profiled after the first ``profile_after`` rows (eager and the
    training default: a profile exists even if the slow autotuning rows are cut off), and again at
    the end if a faster one turned up. The record (``header``, the rows, the profile) is rewritten
    to ``json_path`` after every row, so a run cut short keeps what it measured."""
    bf16 = torch.device(device).type == "cuda"
    record: dict[str, Any] = dict(header or {}, device=device, bf16=bf16, steps=steps, rows=[])
    start = time.perf_counter()

    def save() -> None:
        if json_path:
            Path(json_path).write_text(json.dumps(record, indent=2) + "\n")

    def profile_best() -> None:
        timed = [r for r in record["rows"] if "images_per_s" in r]
        if not timed:
            return
        best = max(timed, key=lambda r: r["images_per_s"])
        record["best"] = best["name"]
        if not profile or record.get("profile", {}).get("variant") == best["name"]:
            return
        fields = ("batch_size", "compile_mode", "channels_last", "cudnn_benchmark")
        try:
            record["profile"] = {"variant": best["name"], "top": profile_step(
                Variant(**{k: best[k] for k in fields}), device, bf16)}
        except (RuntimeError, ValueError) as err:
            log(f"profile of {best['name']} FAILED: {err}")
            record.setdefault("profile", {"variant": best["name"],
                                          "error": f"{type(err).__name__}: {err}"})

    for i, variant in enumerate(variants):
        if time.perf_counter() - start > budget_s:
            record.setdefault("not_run", []).append(variant.name)
            continue
        row: dict[str, Any] = asdict(variant) | {"name": variant.name}
        t0 = time.perf_counter()
        try:
            row["images_per_s"] = bench_model_ceiling(
                variant.batch_size, device, steps, bf16, variant.channels_last,
                variant.compile_mode is not None, variant.compile_mode, variant.cudnn_benchmark)
            log(f"{variant.name}: {row['images_per_s']:,.0f} images/s")
        except (RuntimeError, ValueError, torch.OutOfMemoryError) as err:
            row["error"] = f"{type(err).__name__}: {err}"[-1000:]
            log(f"{variant.name} FAILED: {row['error']}")
        row["seconds"] = time.perf_counter() - t0  # compilation and warm-up included
        record["rows"].append(row)
        if i + 1 == profile_after:
            profile_best()
        save()
    profile_best()
    save()
    return record


def format_sweep(record: dict[str, Any]) -> str:
    """The sweep's table and the profile's top operations, as text."""
    lines = [f"{'variant':<58} {'images/s':>10} {'s (with compile)':>17}"]
    for r in record["rows"]:
        rate = f"{r['images_per_s']:10,.0f}" if "images_per_s" in r else f"{'failed':>10}"
        lines.append(f"{r['name']:<58} {rate} {r['seconds']:17.1f}")
    for name in record.get("not_run", []):
        lines.append(f"{name:<58} {'not run (time budget)':>28}")
    prof = record.get("profile", {})
    if "top" in prof:
        lines.append(f"\ntop operations by self time, {prof['variant']}:")
        for e in prof["top"]:
            lines.append(f"  {e['share']:6.1%} {e['seconds_per_step'] * 1e3:8.2f} ms/step "
                         f"x{e['calls']:<4} {e['name'][:80]}")
    return "\n".join(lines)
