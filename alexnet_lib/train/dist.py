"""Distributed set-up: this process's place in a ``torchrun`` job, its device, and the few
collectives the training loop needs (all no-ops in a single process).

Defined in the book's chapter "Training AlexNet at ImageNet scale" (many GPUs); used by
:mod:`alexnet_lib.train.config` and :mod:`alexnet_lib.train.trainer`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from ..model import AlexNet
from ..towers import TwoColumnAlexNet

__all__ = ["DistInfo", "dist_from_env", "auto_device", "processes", "world_size_mismatch", "any_rank",
           "sum_over_ranks", "barrier", "largest_parameter_difference", "place", "step_model"]


@dataclass
class DistInfo:
    """This process's place in a ``torchrun`` job (a single process: rank 0 of 1)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1
    launched: bool = False  # started by torchrun, even as a job of one process

    @property
    def enabled(self) -> bool:
        """Distributed: a process group, DDP and the collectives. Under torchrun at world size 1
        too, so that one GPU can check the NCCL path."""
        return self.world_size > 1 or self.launched

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def dist_from_env() -> DistInfo:
    """The :class:`DistInfo` that torchrun's environment variables describe."""
    env = os.environ
    launched = all(k in env for k in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"))
    return DistInfo(int(env.get("RANK", 0)), int(env.get("WORLD_SIZE", 1)),
                    int(env.get("LOCAL_RANK", 0)), int(env.get("LOCAL_WORLD_SIZE", 1)), launched)


def auto_device(cfg_device: str | None, info: DistInfo) -> str:
    """The device of this process: ``cfg_device`` if given, else ``cuda:LOCAL_RANK`` or ``cpu``."""
    # Always an indexed CUDA device ("cuda:0", not "cuda"): torch.cuda.set_device and DDP need it.
    if cfg_device and cfg_device != "cuda":
        return cfg_device
    if cfg_device == "cuda" or torch.cuda.is_available():
        return f"cuda:{info.local_rank}"
    return "cpu"


def processes(n: int) -> str:
    """``n`` processes in words: "1 process", "4 processes"."""
    return f"{n} process{'es' if n != 1 else ''}"


def world_size_mismatch(saved: int, now: int, out: str | Path) -> str:
    """Why a checkpoint of ``saved`` processes cannot be resumed by ``now``, and what to do."""
    how = ("without torchrun" if saved == 1 else
           f"torchrun with {saved} processes in all, e.g. --nproc_per_node={saved}")
    return (f"the run in {out} was saved by {processes(saved)}, and this resume has {processes(now)}: "
            "each process continues its own random-number stream, and a mid-epoch checkpoint "
            "counts the batches done per process, so the run cannot continue exactly. "
            f"Resume with {processes(saved)} ({how}), or start a new --out.")


def _device_for(device: torch.device) -> torch.device | str:
    # NCCL reduces CUDA tensors only; gloo (CPU runs) CPU tensors.
    return device if device.type == "cuda" else "cpu"


def any_rank(flag: bool, info: DistInfo, device: torch.device, group: Any = None) -> bool:
    """True if ``flag`` is true on any rank (so that all ranks take the same branch).

    ``group``: a process group to reduce over, e.g. a CPU (gloo) group, whose tensors stay on
    the CPU so that the call never waits for the GPU's queued work.
    """
    if not info.enabled:
        return flag
    where = "cpu" if group is not None else _device_for(device)
    t = torch.tensor([int(flag)], dtype=torch.int32, device=where)
    dist.all_reduce(t, op=dist.ReduceOp.MAX, group=group)
    return bool(t.item())


def sum_over_ranks(value: int, info: DistInfo, device: torch.device) -> int:
    """``value`` summed over all ranks."""
    if not info.enabled:
        return value
    t = torch.tensor([value], dtype=torch.int64, device=_device_for(device))
    dist.all_reduce(t)
    return int(t.item())


def barrier(info: DistInfo) -> None:
    """Wait for every rank (nothing to wait for in a single process)."""
    if info.enabled:
        dist.barrier()


def largest_parameter_difference(model: nn.Module) -> float:
    """The largest difference of any parameter between ranks (0 if data parallelism kept one
    model, as it must); a collective call."""
    worst = 0.0
    for p in model.parameters():
        hi, lo = p.detach().clone(), p.detach().clone()
        dist.all_reduce(hi, op=dist.ReduceOp.MAX)
        dist.all_reduce(lo, op=dist.ReduceOp.MIN)
        worst = max(worst, float((hi - lo).abs().max()))
    return worst


def place(model: nn.Module, cfg: dict[str, Any], device: torch.device) -> nn.Module:
    """The network on its device(s): the paper's two columns on ``cfg["devices"]`` with
    ``--model-parallel``, else all on ``device`` (channels_last if asked)."""
    if cfg["model_parallel"]:
        assert isinstance(model, AlexNet)
        return TwoColumnAlexNet.from_grouped(model, cfg["devices"].split(","))
    model = model.to(device)
    if cfg["channels_last"]:
        model = model.to(memory_format=torch.channels_last)
    return model


def step_model(model: nn.Module, cfg: dict[str, Any], info: DistInfo, device: torch.device) -> nn.Module:
    """What a training step calls: ``model`` wrapped in DDP under torchrun and compiled with
    ``--compile`` (the unwrapped ``model`` is what is saved)."""
    wrapped: nn.Module = model
    if info.enabled:
        ids = [device.index] if device.type == "cuda" else None
        wrapped = nn.parallel.DistributedDataParallel(model, device_ids=ids)
    if cfg["compile"]:
        wrapped = torch.compile(wrapped)  # type: ignore[assignment]
    return wrapped
