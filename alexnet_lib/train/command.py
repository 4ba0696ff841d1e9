"""``python -m alexnet_lib.train``: parse the flags, set up the processes, train (or evaluate).

Defined in the book's chapter "Training AlexNet at ImageNet scale" (the command).
"""

from __future__ import annotations

import faulthandler
import io
import signal
import sys
from pathlib import Path

import torch
import torch.distributed as dist

from ..checkpoint import CheckpointError
from ..data.errors import DatasetError
from ..data.paths import default_data_root
from ..evaluate import evaluate_checkpoint
from .config import EXIT_USAGE, HOW_TO_GET_IMAGENET, build_parser, resolve_config
from .dist import dist_from_env
from .trainer import Trainer

__all__ = ["main"]


def _stacks_on_sigusr1() -> None:
    """``kill -USR1 PID`` prints every thread's stack to stderr: to see where a run hangs.
    Skipped where stderr is not a real file (e.g. captured by a test harness)."""
    if not hasattr(signal, "SIGUSR1"):
        return
    try:
        faulthandler.register(signal.SIGUSR1, file=sys.stderr, all_threads=True)
    except (AttributeError, ValueError, OSError, io.UnsupportedOperation):
        pass  # no file descriptor behind sys.stderr: nothing to print the stacks to


def main(argv: list[str] | None = None) -> int:
    """Run ``python -m alexnet_lib.train``; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.evaluate:
        if args.resume:
            parser.error("--evaluate and --resume exclude each other")
        return evaluate_checkpoint(args.evaluate, data=args.data, val_images=args.val_images,
                                   batch_size=args.batch_size, workers=args.workers,
                                   device=args.device, ten_crop=args.ten_crop is not False)
    _stacks_on_sigusr1()
    info = dist_from_env()
    cfg, checkpoint = resolve_config(args, parser, info)
    if cfg["dataset"] == "imagenet" and not cfg["data"]:
        default = default_data_root() / "imagenet"
        if not default.is_dir():
            print("error: " + HOW_TO_GET_IMAGENET.format(default=default), file=sys.stderr)
            return EXIT_USAGE
    out = Path(cfg["out"])
    if checkpoint is None and (out / "last.pt").is_file():
        parser.error(f"{out} already holds a run (last.pt): continue it with --resume, or choose "
                     "another --out (nothing was overwritten)")
    if info.enabled:
        on_cuda = cfg["device"].startswith("cuda")
        if on_cuda:  # before the process group, so that NCCL binds each process to its own GPU
            torch.cuda.set_device(torch.device(cfg["device"]))
        dist.init_process_group("nccl" if on_cuda else "gloo")
    try:
        trainer = Trainer(cfg, info, checkpoint, argv)
        del checkpoint
        return trainer.fit()
    except (DatasetError, CheckpointError) as err:
        hint = ""
        if isinstance(err, DatasetError) and cfg["dataset"] == "imagenet":
            hint = ("\n  To make that folder from the official ILSVRC2012 archives: "
                    "python -m alexnet_lib.data.prepare --help. To try the command without "
                    "ImageNet: python -m alexnet_lib.train --dataset builtin --epochs 1 --out /tmp/r")
        print(f"error: {err}{hint}", file=sys.stderr)
        return EXIT_USAGE
    except ValueError as err:  # e.g. a crop too small for the network
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        if info.enabled and dist.is_initialized():
            dist.destroy_process_group()

