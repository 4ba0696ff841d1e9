"""``python -m alexnet_lib.train``: parse the flags, set up the processes, train (or evaluate).

Defined in the book's chapter "Training AlexNet at ImageNet scale" (the command).
"""

from __future__ import annotations

import faulthandler
import io
import os
import signal
import sys
from pathlib import Path

import torch
import torch.distributed as dist

from ..checkpoint import CheckpointError, load_checkpoint
from ..data.errors import DatasetError
from ..data.imagenet import validate_image_folder
from ..data.paths import default_data_root
from ..data.pipeline import PipelineConfig, make_pipeline
from ..evaluate import PAPER_RESULT, evaluate, format_results
from .config import EXIT_OK, EXIT_USAGE, HOW_TO_GET_IMAGENET, build_parser, resolve_config
from .dist import dist_from_env
from .inputs import stats_from_state
from .recipes import build_model
from .trainer import Trainer

__all__ = ["main", "evaluate_checkpoint"]


def evaluate_checkpoint(path: str | Path, data: str | None = None, val_images: int | None = None,
                        batch_size: int | None = None, workers: int | None = None,
                        device: str | None = None, ten_crop: bool = True) -> int:
    """Print the centre-crop and 10-crop top-1/top-5 error of a checkpoint; returns the exit status."""
    try:
        state = load_checkpoint(path)
    except CheckpointError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE
    cfg = dict(state["config"])
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    root = Path(data) if data else (Path(cfg["data"]) if cfg.get("data") else
                                    default_data_root() / "imagenet")
    if data and cfg["dataset"] == "builtin":
        cfg["dataset"] = "imagenet"
    try:
        if cfg["dataset"] == "imagenet":
            validate_image_folder(root, "val")
        pipe_cfg = PipelineConfig(
            dataset=cfg["dataset"], root=root if cfg["dataset"] == "imagenet" else None,
            image_size=cfg["image_size"], crop_size=cfg["crop_size"],
            batch_size=batch_size or cfg["batch_size"],
            workers=workers if workers is not None else max(1, min(16, os.cpu_count() or 1)),
            augment=cfg["augment"], statistics=stats_from_state(state["statistics"]),
            input_scale=cfg["input_scale"], val_images=val_images or cfg.get("val_images"),
            seed=cfg["seed"])
        batches = make_pipeline("cpu", "val", pipe_cfg, dev)
    except DatasetError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE
    classes = list(getattr(batches, "classes", ()))
    if classes != list(state["classes"]):
        print(f"error: the validation classes of {root} ({len(classes)}) are not the classes the "
              f"checkpoint was trained on ({len(state['classes'])})", file=sys.stderr)
        return EXIT_USAGE
    model = build_model(cfg, len(classes))
    model.load_state_dict(state["model"])
    model.to(dev)
    results = [evaluate(model, batches, cfg["crop_size"])]
    if ten_crop:
        results.append(evaluate(model, batches, cfg["crop_size"], ten_crop=True))
    where = root if cfg["dataset"] == "imagenet" else "the built-in dataset"
    print(f"{path}: epoch {state['epoch']}, {cfg['arch']}, {len(classes)} classes; "
          f"validation set of {where}")
    print(format_results(results))
    if cfg["dataset"] == "imagenet" and len(classes) == 1000:
        print(PAPER_RESULT)
    skipped = getattr(batches, "skipped", [])
    if skipped:
        print(f"skipped {len(skipped)} images that cannot be decoded, e.g. {skipped[0][0]}")
    return EXIT_OK



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

