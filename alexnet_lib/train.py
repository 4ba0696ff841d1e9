"""Train AlexNet on ImageNet with the paper's recipe: ``python -m alexnet_lib.train``.

Defined in the book's chapter "Training AlexNet at ImageNet scale".

One command, from a smoke run on the CPU to many GPUs on many machines::

    python -m alexnet_lib.train --dataset builtin --epochs 1 --out /tmp/r   # offline smoke run
    python -m alexnet_lib.train --data data/imagenet --out runs/alexnet     # one GPU
    python -m alexnet_lib.train --data data/imagenet --model-parallel      # the paper's 2 GPUs
    torchrun --standalone --nproc_per_node=8 -m alexnet_lib.train --data data/imagenet  # DDP

The recipe is the paper's (Section 5 and 4.1) unless a flag says otherwise: all its numbers are
in :data:`RECIPES`, next to torchvision's reference recipe for comparison. The run folder
(``--out``) holds everything needed to trust, continue and reproduce the run: ``config.json``
(every setting, resolved), ``env.json`` (versions, devices, git commit), ``metrics.csv`` and
``tensorboard/`` (one row / point per epoch), ``log.txt`` (the summary lines), ``stats.npz`` (the
mean image and RGB PCA the run used), ``last.pt`` (written atomically every epoch and every
``--checkpoint-minutes``), ``best.pt`` (lowest validation error), ``final.json`` (the centre and
10-crop errors of ``best.pt``) and ``throughput.json``. ``--resume`` continues from ``last.pt``.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import faulthandler
import io
import json
import math
import os
import platform
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from tqdm.auto import tqdm

from .augment import DatasetStatistics
from .checkpoint import (
    FORMAT,
    CheckpointError,
    atomic_save,
    load_checkpoint,
    remove_stale_temp_files,
    rng_state,
    set_rng_state,
)
from .data.errors import DatasetError
from .data.imagenet import validate_image_folder
from .data.paths import default_data_root, repo_root
from .data.pipeline import PIPELINE_KINDS, Pipeline, PipelineConfig, dataset_statistics, make_pipeline
from .evaluate import PAPER_RESULT, EvalResult, evaluate, format_results
from .model import AlexNet

__all__ = ["RECIPES", "BUILTIN_SMOKE", "build_parser", "resolve_config", "build_model",
           "LRSchedule", "Trainer", "evaluate_checkpoint", "main"]

# --------------------------------------------------------------------------- the recipes

RECIPES: dict[str, dict[str, Any]] = {
    # Krizhevsky, Sutskever & Hinton 2012, Section 5 "Details of learning" and Section 4.1.
    "paper": dict(
        epochs=90,               # epochs: "roughly 90 cycles through the training set"
        batch_size=128,          # images per SGD step, all GPUs together
        lr=0.01,                 # initial learning rate, "the same for all layers"
        momentum=0.9,
        weight_decay=5e-4,       # per step, on weights (the update rule is written for w)
        bias_decay=False,        # biases not decayed (the rule's w; cuda-convnet's wc=0 on biases)
        schedule="plateau",      # divide lr "when the validation error rate stopped improving"
        lr_factor=0.1,           # "divide the learning rate by 10"
        max_drops=3,             # "reduced three times prior to termination"
        patience=3,              # epochs without improvement before a drop (ours: the paper's was by eye)
        plateau_threshold=0.001,  # smallest fall in val top-1 error (a fraction) that counts as one
        lr_step=30,              # epochs between drops (schedule="step" only)
        init="paper",            # weights N(0, 0.01); bias 1 in conv2/4/5, fc6, fc7, else 0
        dropout=0.5,             # on the outputs of fc6 and fc7
        augment="paper",         # mean image subtracted, random 224 crops + flips, PCA lighting
        lighting_std=0.1,        # std of the PCA lighting's alpha
        input_scale=255.0,       # pixels in 0..255 units (the original code's); 1 = [0, 1] units
        ten_crop=True,           # final test: softmax averaged over 10 patches
    ),
    # torchvision's reference recipe for its AlexNet (references/classification, README):
    # 8 GPUs x 32 images, lr 0.01, x0.1 every 30 epochs, wd 1e-4, 90 epochs, centre-crop test.
    "torchvision": dict(
        epochs=90,
        batch_size=256,          # 8 GPUs x 32
        lr=0.01,
        momentum=0.9,
        weight_decay=1e-4,       # on every parameter, biases included
        bias_decay=True,
        schedule="step",
        lr_factor=0.1,
        max_drops=3,             # (step schedule: 90 / 30 gives drops at 30 and 60 anyway)
        patience=3,
        plateau_threshold=0.001,
        lr_step=30,              # epochs
        init="torch",            # PyTorch's default (Kaiming-uniform) initialisation
        dropout=0.5,
        augment="torchvision",   # RandomResizedCrop(224) + flip, per-channel normalisation
        lighting_std=0.0,        # no PCA lighting
        input_scale=1.0,         # normalised units
        ten_crop=False,          # centre crop only
    ),
}
"""Every number of each recipe, with its unit; a flag of the same name overrides any of them."""

BUILTIN_SMOKE: dict[str, Any] = dict(
    width=0.25,          # a quarter of the kernels of every conv layer: CPU-sized
    hidden=512,          # units in fc6 and fc7 (the paper: 4096)
    train_images=512,    # generated training images (4 steps of the batch of 128)
    val_images=50,       # generated validation images (5 per class)
)
"""How ``--dataset builtin`` is sized unless flags say otherwise: the real 256 -> 224 crop path and
the paper's recipe, on a network and a dataset small enough that one epoch takes well under a
minute on two CPU cores (it is a smoke test of the machinery, not an experiment)."""

DEFAULTS: dict[str, Any] = dict(
    data=None, dataset="imagenet", pipeline="cpu", workers=None, image_size=256, crop_size=224,
    train_images=None, val_images=None, stats=None, stats_images=10_000,
    arch="alexnet", width=1.0, hidden=4096, columns=2, lrn="paper", lrn_across_columns=False, remove=(),
    recipe="paper", seed=0,
    device=None, model_parallel=False, devices="cuda:0,cuda:1", amp="auto", channels_last=None,
    compile=None,
    out=None, checkpoint_minutes=30.0, log_every=20, progress=True, eval=True, limit_steps=None,
)
"""Defaults of the settings that are not part of a recipe (None = decided at run time)."""

RUNTIME_KEYS = frozenset({"epochs", "out", "data", "pipeline", "workers", "device", "amp",
                          "channels_last", "compile", "checkpoint_minutes", "log_every", "progress",
                          "eval", "limit_steps"})
"""Settings a resumed run may change (where and how it runs, not what it computes); all others
are kept from the checkpoint, so that the resumed run continues the same experiment."""

MACHINE_KEYS = frozenset({"device", "amp", "channels_last", "compile", "workers"})
"""Settings decided anew for the machine a resumed run continues on, unless given."""

INITS = ("paper", "paper-code", "caffe", "torch", "kaiming")
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
EXIT_SIGNAL = {signal.SIGINT: 130, signal.SIGTERM: 143}  # the shell's 128 + signal number

HOW_TO_GET_IMAGENET = """\
no ImageNet folder found: pass --data PATH, or put it at {default}.
  ImageNet cannot be downloaded automatically. data/README.md says how to get ILSVRC2012
  (train, val and devkit archives from image-net.org) and
      python -m alexnet_lib.data.prepare --help
  turns the official archives into the layout and image size this command expects.
  To try this command without ImageNet, train on the built-in generated dataset (offline):
      python -m alexnet_lib.train --dataset builtin --epochs 1 --out /tmp/r"""


# --------------------------------------------------------------------------- command line


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0 or not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def _non_negative_float(text: str) -> float:
    value = float(text)
    if not value >= 0 or not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def _fraction(text: str) -> float:
    value = float(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {text}")
    return value


def _recipe_default(key: str) -> str:
    p, t = RECIPES["paper"][key], RECIPES["torchvision"][key]
    return f"paper: {p}" if p == t else f"paper: {p}; torchvision: {t}"


def build_parser() -> argparse.ArgumentParser:
    """The command line. Every default that is ``None`` is filled in by :func:`resolve_config`,
    so it can tell a flag that was given from one that was not."""
    p = argparse.ArgumentParser(
        prog="python -m alexnet_lib.train",
        description="Train AlexNet (Krizhevsky, Sutskever & Hinton 2012) with the paper's recipe, "
                    "on one GPU, the paper's two-GPU split, or many GPUs with torchrun.",
        epilog="Examples:\n"
               "  python -m alexnet_lib.train --dataset builtin --epochs 1 --out /tmp/r\n"
               "  python -m alexnet_lib.train --data data/imagenet --out runs/alexnet\n"
               "  python -m alexnet_lib.train --out runs/alexnet --resume\n"
               "  torchrun --standalone --nproc_per_node=4 -m alexnet_lib.train --data data/imagenet\n"
               "  python -m alexnet_lib.train --evaluate runs/alexnet/best.pt\n"
               "See README.md, 'Reproducing AlexNet on ImageNet', for multi-node and SLURM.",
        formatter_class=argparse.RawDescriptionHelpFormatter)

    g = p.add_argument_group("data")
    g.add_argument("--data", metavar="PATH",
                   help="ImageNet-style folder with train/<class>/ and val/<class>/ (default: "
                        "data/imagenet; make it with python -m alexnet_lib.data.prepare)")
    g.add_argument("--dataset", choices=("imagenet", "builtin"),
                   help="imagenet (a folder, --data) or builtin: the library's generated shapes, "
                        "offline, sized for a smoke run (default: imagenet)")
    g.add_argument("--pipeline", choices=PIPELINE_KINDS,
                   help="where images are decoded and augmented (default: cpu)")
    g.add_argument("--workers", type=_non_negative_int,
                   help="decoding processes per GPU (default: the CPU cores shared among the "
                        "GPUs, at most 16)")
    g.add_argument("--image-size", type=_positive_int,
                   help="side of the stored square images, pixels (default: 256, the paper's)")
    g.add_argument("--crop-size", type=_positive_int,
                   help="side of the training crops and test patches, pixels (default: 224)")
    g.add_argument("--train-images", type=_positive_int,
                   help="use this many evenly spaced training images (default: all; builtin: "
                        f"{BUILTIN_SMOKE['train_images']} generated)")
    g.add_argument("--val-images", type=_positive_int,
                   help="use this many evenly spaced validation images (default: all; builtin: "
                        f"{BUILTIN_SMOKE['val_images']} generated)")
    g.add_argument("--stats", metavar="FILE",
                   help="mean image + RGB PCA file (.npz) to use (default: DATA/stats_<size>.npz "
                        "if present, else computed and saved as OUT/stats.npz)")
    g.add_argument("--stats-images", type=_positive_int,
                   help="training images used to compute the statistics (default: 10000)")

    g = p.add_argument_group("model")
    g.add_argument("--arch", choices=("alexnet", "torchvision"),
                   help="alexnet: the paper's network (alexnet_lib.AlexNet); torchvision: "
                        "torchvision.models.alexnet, for comparison (default: alexnet)")
    g.add_argument("--width", type=_positive_float,
                   help="multiplier on every conv layer's kernel count (default: 1; builtin: "
                        f"{BUILTIN_SMOKE['width']})")
    g.add_argument("--hidden", type=_positive_int,
                   help=f"units in fc6 and fc7 (default: 4096; builtin: {BUILTIN_SMOKE['hidden']})")
    g.add_argument("--columns", type=int, choices=(1, 2),
                   help="2: the paper's two columns (grouped conv2/4/5); 1: one column (default: 2)")
    g.add_argument("--lrn", choices=("paper", "caffe", "none"),
                   help="Local Response Normalization: the paper's printed alpha, the original "
                        "code's (5x weaker), or none (default: paper)")
    g.add_argument("--lrn-across-columns", action="store_true", default=None,
                   help="one LRN window over both columns' maps (Caffe's bvlc_alexnet) instead of "
                        "each column normalising its own maps, as on the paper's two GPUs")
    g.add_argument("--remove", choices=("conv3", "conv4"), action="append", default=None,
                   help="leave out a middle conv layer (repeat for both); Section 7's ablation, "
                        "'about 2%% worse top-1'")
    g.add_argument("--dropout", type=_fraction,
                   help=f"dropout probability on fc6 and fc7 ({_recipe_default('dropout')})")
    g.add_argument("--init", choices=INITS,
                   help="weight initialisation: the paper's N(0, 0.01) with biases 1; paper-code: "
                        "the original code's per-layer values (cuda-convnet2, std 0.03 in conv3-5); "
                        "caffe: bvlc_alexnet's (biases 0.1, fc6/fc7 std 0.005); PyTorch's default; "
                        "or kaiming (He et al. 2015; not the paper's, but it lets small nets learn "
                        f"in a few steps) ({_recipe_default('init')})")

    g = p.add_argument_group("recipe (every number of RECIPES in alexnet_lib/train.py)")
    g.add_argument("--recipe", choices=tuple(RECIPES),
                   help="the defaults of all flags of this group (default: paper)")
    g.add_argument("--epochs", type=_positive_int, help=f"epochs ({_recipe_default('epochs')})")
    g.add_argument("--batch-size", type=_positive_int,
                   help="images per SGD step, all GPUs together; each of N data-parallel "
                        f"processes takes 1/N ({_recipe_default('batch_size')})")
    g.add_argument("--lr", type=_positive_float,
                   help=f"initial learning rate ({_recipe_default('lr')})")
    g.add_argument("--momentum", type=_fraction, help=f"SGD momentum ({_recipe_default('momentum')})")
    g.add_argument("--weight-decay", type=_non_negative_float,
                   help=f"L2 weight decay per step ({_recipe_default('weight_decay')})")
    g.add_argument("--bias-decay", action=argparse.BooleanOptionalAction,
                   help=f"decay the biases too ({_recipe_default('bias_decay')})")
    g.add_argument("--schedule", choices=("plateau", "step"),
                   help="plateau: divide the lr when the validation error stops improving; step: "
                        f"every --lr-step epochs ({_recipe_default('schedule')})")
    g.add_argument("--lr-factor", type=_fraction,
                   help=f"multiply the lr by this at each drop ({_recipe_default('lr_factor')})")
    g.add_argument("--max-drops", type=_non_negative_int,
                   help=f"at most this many drops, plateau schedule ({_recipe_default('max_drops')})")
    g.add_argument("--patience", type=_positive_int,
                   help="epochs without improvement before a drop, plateau schedule "
                        f"({_recipe_default('patience')})")
    g.add_argument("--plateau-threshold", type=_non_negative_float,
                   help="a fall in validation top-1 error smaller than this (a fraction) is no "
                        f"improvement ({_recipe_default('plateau_threshold')})")
    g.add_argument("--lr-step", type=_positive_int,
                   help=f"epochs between drops, step schedule ({_recipe_default('lr_step')})")
    g.add_argument("--augment", choices=("paper", "torchvision"),
                   help="paper: mean image, random crops + flips, PCA lighting; torchvision: "
                        f"RandomResizedCrop + flip, normalised ({_recipe_default('augment')})")
    g.add_argument("--lighting-std", type=_non_negative_float,
                   help=f"std of the PCA lighting's alpha, 0 = off ({_recipe_default('lighting_std')})")
    g.add_argument("--input-scale", type=_positive_float,
                   help="multiply the network's input by this: 255 gives the original code's 0..255 "
                        f"pixel units ({_recipe_default('input_scale')})")
    g.add_argument("--ten-crop", action=argparse.BooleanOptionalAction,
                   help="final test of best.pt with the paper's 10 patches as well as the centre "
                        f"crop ({_recipe_default('ten_crop')})")
    g.add_argument("--seed", type=_non_negative_int,
                   help="seed of the initialisation, shuffling and augmentation (default: 0)")

    g = p.add_argument_group("devices and speed")
    g.add_argument("--device", help="cpu, cuda or cuda:N (default: cuda if available; under "
                                    "torchrun, cuda:LOCAL_RANK)")
    g.add_argument("--model-parallel", action="store_true", default=None,
                   help="the paper's split: each column of the network on its own device (--devices)")
    g.add_argument("--devices", help="the two devices of --model-parallel, comma-separated "
                                     "(default: cuda:0,cuda:1; cpu,cpu runs the split on the CPU)")
    g.add_argument("--amp", choices=("auto", "bf16", "fp16", "off"),
                   help="mixed precision: bf16 autocast, fp16 autocast with a gradient scaler, or "
                        "off (default: auto = bf16 on GPUs that have it, fp16 on older GPUs, off "
                        "on the CPU)")
    g.add_argument("--channels-last", action=argparse.BooleanOptionalAction,
                   help="channels_last memory format (default: on with CUDA, off on the CPU)")
    g.add_argument("--compile", action=argparse.BooleanOptionalAction,
                   help="torch.compile the model (default: on with CUDA, off on the CPU)")

    g = p.add_argument_group("run folder, progress, evaluation")
    g.add_argument("--out", metavar="DIR",
                   help="run folder (default: runs/<dataset>-<recipe>-<date>-<time>)")
    g.add_argument("--resume", action="store_true", default=None,
                   help="continue the run in --out from its last.pt (same model, optimizer, "
                        "schedule, epoch and RNG state)")
    g.add_argument("--checkpoint-minutes", type=_non_negative_float,
                   help="also write last.pt every this many minutes within an epoch; 0 = only at "
                        "the end of each epoch (default: 30)")
    g.add_argument("--log-every", type=_positive_int,
                   help="steps between progress updates and loss checks (default: 20)")
    g.add_argument("--no-progress", dest="progress", action="store_false", default=None,
                   help="no progress bar (summary lines only)")
    g.add_argument("--no-eval", dest="eval", action="store_false", default=None,
                   help="skip validation (for throughput measurements); the plateau schedule then "
                        "keeps the lr constant")
    g.add_argument("--limit-steps", type=_positive_int,
                   help="stop each epoch after this many steps (quick tests and benchmarks)")
    g.add_argument("--evaluate", metavar="CHECKPOINT",
                   help="do not train: print the top-1/top-5 error of CHECKPOINT on the validation "
                        "set, centre crop and 10 crops, and exit")
    return p


@dataclass
class DistInfo:
    """This process's place in a ``torchrun`` job (a single process: rank 0 of 1)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _dist_from_env() -> DistInfo:
    env = os.environ
    return DistInfo(int(env.get("RANK", 0)), int(env.get("WORLD_SIZE", 1)),
                    int(env.get("LOCAL_RANK", 0)), int(env.get("LOCAL_WORLD_SIZE", 1)))


def _auto_device(cfg_device: str | None, info: DistInfo) -> str:
    # Always an indexed CUDA device ("cuda:0", not "cuda"): torch.cuda.set_device and DDP need it.
    if cfg_device and cfg_device != "cuda":
        return cfg_device
    if cfg_device == "cuda" or torch.cuda.is_available():
        return f"cuda:{info.local_rank}"
    return "cpu"


def _world_size_mismatch(saved: int, now: int, out: str | Path) -> str:
    """Why a checkpoint of ``saved`` processes cannot be resumed by ``now``, and what to do."""
    def processes(n: int) -> str:
        return f"{n} process{'es' if n != 1 else ''}"

    how = ("without torchrun" if saved == 1 else
           f"torchrun with {saved} processes in all, e.g. --nproc_per_node={saved}")
    return (f"the run in {out} was saved by {processes(saved)}, and this resume has {processes(now)}: "
            "each process continues its own random-number stream, and a mid-epoch checkpoint "
            "counts the batches done per process, so the run cannot continue exactly. "
            f"Resume with {processes(saved)} ({how}), or start a new --out.")


def resolve_config(args: argparse.Namespace, parser: argparse.ArgumentParser,
                   info: DistInfo | None = None) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Turn the parsed flags into the run's complete settings, and load the checkpoint to resume.

    Order of precedence: flags given on the command line, then (``--resume``) the settings saved
    in the run's checkpoint, then the built-in dataset's sizing (:data:`BUILTIN_SMOKE`), then
    the recipe (:data:`RECIPES`), then :data:`DEFAULTS`. Impossible combinations end the program
    through ``parser.error`` (exit status 2, with the message).

    Returns:
        ``(config, checkpoint)``; ``checkpoint`` is None unless resuming.
    """
    info = info or _dist_from_env()
    given = {k: v for k, v in vars(args).items() if v is not None and k not in ("resume", "evaluate")}
    checkpoint = None
    if args.resume:
        if not given.get("out"):
            parser.error("--resume needs --out DIR, the run folder to continue")
        last = Path(given["out"]) / "last.pt"
        if not last.is_file():
            parser.error(f"nothing to resume: {last} does not exist. Start the run without --resume "
                         "(or point --out at the folder of the run to continue).")
        try:
            checkpoint = load_checkpoint(last)
        except CheckpointError as err:
            parser.error(str(err))
        saved_world = len(checkpoint["rng"])  # one RNG state per process that saved it
        if saved_world != info.world_size:
            parser.error(_world_size_mismatch(saved_world, info.world_size, given["out"]))
        saved = dict(checkpoint["config"])
        for key, value in given.items():
            if key not in RUNTIME_KEYS and key in saved and saved[key] != value:
                flag = "--" + key.replace("_", "-")
                parser.error(f"{flag} {value} differs from the run being resumed ({saved[key]}): a "
                             "resumed run keeps its recipe, model and data. Only --epochs and the "
                             "device/speed/logging flags may change; start a new --out to change it.")
        cfg = {k: v for k, v in saved.items() if k not in MACHINE_KEYS}
        cfg.update(given)
    else:
        recipe = given.get("recipe", DEFAULTS["recipe"])
        cfg = dict(DEFAULTS) | RECIPES[recipe]
        if given.get("dataset") == "builtin":
            cfg |= BUILTIN_SMOKE
        cfg |= given
    for key, value in DEFAULTS.items():  # runtime keys not given: the defaults of this machine
        cfg.setdefault(key, value)

    # ---- impossible combinations
    if cfg["dataset"] == "builtin" and cfg["data"]:
        parser.error("--data and --dataset builtin exclude each other: the built-in dataset is "
                     "generated, not read from a folder")
    if cfg["crop_size"] > cfg["image_size"]:
        parser.error(f"--crop-size {cfg['crop_size']} is larger than --image-size {cfg['image_size']}: "
                     "crops are taken from the stored images")
    if cfg["batch_size"] % info.world_size:
        parser.error(f"--batch-size {cfg['batch_size']} does not split evenly over {info.world_size} "
                     "processes: the batch size is for all processes together")
    if cfg["model_parallel"]:
        if info.enabled:
            parser.error("--model-parallel cannot be combined with torchrun (data parallelism) here: "
                         "use one or the other")
        if cfg["arch"] != "alexnet" or cfg["columns"] != 2 or cfg.get("remove"):
            parser.error("--model-parallel splits the paper's two columns: it needs --arch alexnet, "
                         "--columns 2 and all five conv layers (no --remove)")
        if cfg["compile"]:
            parser.error("--compile is not supported with --model-parallel (the columns run on two "
                         "devices); drop one of them")
        if len(cfg["devices"].split(",")) != 2:
            parser.error(f"--devices needs two devices for --model-parallel, got {cfg['devices']!r}")
    if cfg["arch"] == "torchvision":
        for key in ("width", "hidden", "columns", "lrn", "lrn_across_columns", "remove", "init"):
            if key in given:
                parser.error(f"--{key} is a switch of the paper's network; --arch torchvision "
                             "builds torchvision's fixed AlexNet")
    if not cfg["eval"] and given.get("ten_crop"):
        parser.error("--ten-crop is a test on the validation set, which --no-eval skips")
    if cfg["input_scale"] != 1.0 and cfg["augment"] == "torchvision" and "input_scale" not in given:
        cfg["input_scale"] = 1.0  # normalised inputs are already in unit scale

    # ---- values decided on this machine
    cfg["device"] = _auto_device(given.get("device"), info)
    on_cuda = cfg["device"].startswith("cuda") or (cfg["model_parallel"]
                                                   and cfg["devices"].startswith("cuda"))
    if cfg["device"].startswith("cuda") and not torch.cuda.is_available():
        parser.error(f"--device {cfg['device']}: CUDA is not available on this machine (use --device cpu)")
    if cfg["amp"] == "auto":
        cfg["amp"] = ("bf16" if torch.cuda.is_bf16_supported() else "fp16") if on_cuda else "off"
    if cfg["channels_last"] is None:
        cfg["channels_last"] = on_cuda
    if cfg["compile"] is None:
        cfg["compile"] = on_cuda and not cfg["model_parallel"]
    if cfg["workers"] is None:
        cfg["workers"] = max(1, min(16, (os.cpu_count() or 1) // info.local_world_size))
    if not cfg["out"]:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        cfg["out"] = str(Path("runs") / f"{cfg['dataset']}-{cfg['recipe']}-{stamp}")
    if cfg["data"]:
        cfg["data"] = str(cfg["data"])
    return cfg, checkpoint


# --------------------------------------------------------------------------- model and schedule


def build_model(cfg: dict[str, Any], num_classes: int) -> nn.Module:
    """The network of the run's settings, on the CPU (single device; see ``--model-parallel``)."""
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


class LRSchedule:
    """The learning rate per epoch: the paper's plateau rule or a fixed step.

    ``plateau``: after each epoch, if the validation top-1 error has not fallen by more than
    ``threshold`` below its best for ``patience`` epochs, multiply the lr by ``factor``, at most
    ``max_drops`` times (the paper: "divide the learning rate by 10 when the validation error rate
    stopped improving with the current learning rate ... reduced three times prior to
    termination"). ``step``: ``lr * factor ** (epoch // step_epochs)``.
    """

    def __init__(self, kind: str, lr: float, factor: float = 0.1, patience: int = 3,
                 threshold: float = 0.001, max_drops: int = 3, step_epochs: int = 30) -> None:
        if kind not in ("plateau", "step"):
            raise ValueError(f"schedule must be 'plateau' or 'step', got {kind!r}")
        self.kind, self.base_lr, self.factor = kind, lr, factor
        self.patience, self.threshold, self.max_drops, self.step_epochs = (patience, threshold,
                                                                           max_drops, step_epochs)
        self.lr, self.best, self.bad_epochs, self.drops = lr, math.inf, 0, 0

    def update(self, epochs_done: int, val_error: float | None) -> str | None:
        """Set the lr for the next epoch; returns a message when it changed."""
        old = self.lr
        if self.kind == "step":
            self.drops = epochs_done // self.step_epochs
            self.lr = self.base_lr * self.factor ** self.drops
        elif val_error is not None:
            if val_error < self.best - self.threshold:
                self.best, self.bad_epochs = val_error, 0
            else:
                self.bad_epochs += 1
                if self.bad_epochs >= self.patience and self.drops < self.max_drops:
                    self.lr *= self.factor
                    self.drops += 1
                    self.bad_epochs = 0
        if self.lr != old:
            why = (f"after {epochs_done} epochs" if self.kind == "step" else
                   f"validation error has not improved for {self.patience} epochs")
            return f"learning rate {old:g} -> {self.lr:g} (drop {self.drops}: {why})"
        return None

    def apply(self, optimizer: torch.optim.Optimizer) -> None:
        for group in optimizer.param_groups:
            group["lr"] = self.lr

    def state_dict(self) -> dict[str, Any]:
        return dict(lr=self.lr, best=self.best, bad_epochs=self.bad_epochs, drops=self.drops)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.lr, self.best = float(state["lr"]), float(state["best"])
        self.bad_epochs, self.drops = int(state["bad_epochs"]), int(state["drops"])


def _param_groups(model: nn.Module, weight_decay: float, bias_decay: bool) -> list[dict[str, Any]]:
    decay, no_decay = [], []
    for p in model.parameters():
        (decay if p.ndim > 1 or bias_decay else no_decay).append(p)
    groups = [{"params": decay, "weight_decay": weight_decay}]
    if no_decay:
        groups.append({"params": no_decay, "weight_decay": 0.0})
    return groups


# --------------------------------------------------------------------------- run-folder helpers


def _environment(argv: list[str], info: DistInfo) -> dict[str, Any]:
    """Where and with what the run ran: versions, devices, git commit, command line."""
    env: dict[str, Any] = {
        "command": " ".join(["python", "-m", "alexnet_lib.train", *argv]),
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "host": socket.gethostname(), "platform": platform.platform(),
        "python": platform.python_version(), "torch": torch.__version__,
        "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version(),
        "cpus": os.cpu_count(), "world_size": info.world_size,
        "gpus": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())],
    }
    try:
        import torchvision

        env["torchvision"] = torchvision.__version__
    except ImportError:  # pragma: no cover - torchvision is a dependency
        env["torchvision"] = None
    root = repo_root()
    env["git_commit"] = env["git_dirty"] = None
    if root is not None:
        try:
            env["git_commit"] = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, text=True,
                                               capture_output=True, check=True).stdout.strip()
            status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                                    cwd=root, text=True, capture_output=True, check=True).stdout
            env["git_dirty"] = bool(status.strip())
        except (OSError, subprocess.CalledProcessError) as err:  # no git binary, or not a checkout
            env["git_error"] = f"{type(err).__name__}: {err}"  # commit/dirty stay None, and say why
    return env


def _write_text_atomic(path: Path, text: str) -> None:
    tmp = path.parent / f".tmp-{path.name}.{os.getpid()}"
    tmp.write_text(text)
    os.replace(tmp, path)


METRIC_FIELDS = ("epoch", "lr", "train_loss", "train_top1_err", "val_loss", "val_top1_err",
                 "val_top5_err", "images_per_s", "epoch_seconds", "skipped_images", "hours")


def _stats_to_state(stats: DatasetStatistics) -> dict[str, Any]:
    return {"image": torch.from_numpy(np.asarray(stats.image, dtype=np.float32)),
            "channel_mean": torch.from_numpy(np.asarray(stats.channel_mean, dtype=np.float32)),
            "channel_std": torch.from_numpy(np.asarray(stats.channel_std, dtype=np.float32)),
            "count": int(stats.count),
            "rgb_eigenvalues": torch.from_numpy(np.asarray(stats.rgb_eigenvalues, dtype=np.float64)),
            "rgb_eigenvectors": torch.from_numpy(np.asarray(stats.rgb_eigenvectors, dtype=np.float64))}


def _stats_from_state(state: dict[str, Any]) -> DatasetStatistics:
    return DatasetStatistics(image=state["image"].numpy(), channel_mean=state["channel_mean"].numpy(),
                             channel_std=state["channel_std"].numpy(), count=int(state["count"]),
                             rgb_eigenvalues=state["rgb_eigenvalues"].numpy(),
                             rgb_eigenvectors=state["rgb_eigenvectors"].numpy())


class _Stop(Exception):
    """Raised inside an epoch to end the run: a signal or a non-finite loss."""

    def __init__(self, reason: str, signum: int | None = None) -> None:
        super().__init__(reason)
        self.reason, self.signum = reason, signum


# --------------------------------------------------------------------------- the trainer


class Trainer:
    """The state of one training run and the loop that advances it.

    Build it with the settings of :func:`resolve_config` (and the checkpoint to resume, if any);
    :meth:`fit` trains to ``cfg["epochs"]`` and returns the exit status. :meth:`state_dict` is
    exactly what ``last.pt`` holds.
    """

    def __init__(self, cfg: dict[str, Any], info: DistInfo | None = None,
                 checkpoint: dict[str, Any] | None = None, argv: list[str] | None = None) -> None:
        self.cfg, self.info = cfg, info or DistInfo()
        self.argv = list(sys.argv[1:] if argv is None else argv)  # for env.json
        self.out = Path(cfg["out"])
        self.device = torch.device(cfg["device"])
        if self.device.type == "cuda":
            if self.device.index is None:  # set_device and CUDA streams need an index ("cuda:0")
                self.device = torch.device("cuda", torch.cuda.current_device())
            torch.cuda.set_device(self.device)
        self.main = self.info.is_main
        self.epoch = 0  # epochs completed
        self.step = 0  # steps done in the current epoch
        self.best_err = math.inf
        self.history: list[dict[str, Any]] = []
        self.progress_sums = torch.zeros(3, dtype=torch.float64)  # loss sum, hits, images this epoch
        self.elapsed = 0.0  # training seconds of earlier sessions of this run
        self.stop_signal: int | None = None
        self._writer: Any = None
        self._skipped_seen: set[str] = set()
        self._epoch_skip_start = 0

        # Under torchrun, the group on which the ranks agree every step whether to stop: a CPU
        # (gloo) group, so that the check never waits for the GPU (NCCL would need a sync).
        self._control_group: Any = None
        if self.info.enabled and dist.get_backend() != "gloo":
            self._control_group = dist.new_group(backend="gloo")

        # Identical initial weights on every rank (DDP also broadcasts rank 0's).
        torch.manual_seed(cfg["seed"])
        np.random.seed(cfg["seed"])

        # ---- data
        if cfg["dataset"] == "imagenet":
            root = Path(cfg["data"]) if cfg["data"] else default_data_root() / "imagenet"
            validate_image_folder(root, ("train", "val") if cfg["eval"] else "train")
        else:
            root = None
        self.root = root
        stats = self._statistics(checkpoint)
        self.statistics = stats
        per_rank = cfg["batch_size"] // self.info.world_size
        self.pipe_cfg = PipelineConfig(
            dataset=cfg["dataset"], root=root, image_size=cfg["image_size"],
            crop_size=cfg["crop_size"], batch_size=per_rank, workers=cfg["workers"],
            augment=cfg["augment"], statistics=stats, lighting_std=cfg["lighting_std"],
            input_scale=cfg["input_scale"], train_images=cfg["train_images"],
            val_images=cfg["val_images"], seed=cfg["seed"], rank=self.info.rank,
            world_size=self.info.world_size, channels_last=cfg["channels_last"])
        self.input_device = (torch.device(cfg["devices"].split(",")[0]) if cfg["model_parallel"]
                             else self.device)
        self.train_data: Pipeline = make_pipeline(cfg["pipeline"], "train", self.pipe_cfg,
                                                  self.input_device)
        self.val_data: Pipeline | None = (make_pipeline(cfg["pipeline"], "val", self.pipe_cfg,
                                                        self.input_device) if cfg["eval"] else None)
        self.classes = list(getattr(self.train_data, "classes", ()))
        if not self.classes:
            raise DatasetError("the training pipeline reports no classes")
        if len(self.train_data) == 0:
            raise DatasetError("the training split has no images")

        # ---- model, optimizer, schedule, scaler
        model = build_model(cfg, len(self.classes))
        self.model_config = dict(getattr(model, "config", {"arch": cfg["arch"]}))
        if checkpoint is not None:
            model.load_state_dict(checkpoint["model"])
        self.model = self._place(model)
        # From here on the random numbers (dropout, augmentation, worker seeds) depend on the seed
        # and the rank only, not on how many the model's construction used (the two-column model
        # draws more), and differ between ranks.
        torch.manual_seed(cfg["seed"] + 1 + self.info.rank)
        self.optimizer = torch.optim.SGD(
            _param_groups(self.model, cfg["weight_decay"], cfg["bias_decay"]), lr=cfg["lr"],
            momentum=cfg["momentum"])
        self.schedule = LRSchedule(cfg["schedule"], cfg["lr"], cfg["lr_factor"], cfg["patience"],
                                   cfg["plateau_threshold"], cfg["max_drops"], cfg["lr_step"])
        amp_device = self.input_device.type
        self.autocast_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(cfg["amp"])
        self.scaler = torch.amp.GradScaler(amp_device, enabled=cfg["amp"] == "fp16")
        if checkpoint is not None:
            self._restore(checkpoint)
        self.schedule.apply(self.optimizer)

        # ---- wrappers for speed and scale (the unwrapped self.model is what is saved)
        self.step_model: nn.Module = self.model
        if self.info.enabled:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.step_model = nn.parallel.DistributedDataParallel(self.model, device_ids=ids)
        if cfg["compile"]:
            self.step_model = torch.compile(self.step_model)

    # ---- construction helpers

    def _statistics(self, checkpoint: dict[str, Any] | None) -> DatasetStatistics:
        """The mean image and RGB PCA: from the checkpoint, a file, or computed (rank 0) once."""
        if checkpoint is not None:
            return _stats_from_state(checkpoint["statistics"])
        cfg = self.cfg
        if cfg["stats"]:
            return DatasetStatistics.load(cfg["stats"])
        if self.root is not None:
            cached = self.root / f"stats_{cfg['image_size']}.npz"
            if cached.is_file():
                return DatasetStatistics.load(cached)
        target = self.out / "stats.npz"
        if self.main:
            limit = cfg["stats_images"]
            if cfg["train_images"] is not None:
                limit = min(limit, cfg["train_images"])
            config = PipelineConfig(dataset=cfg["dataset"], root=self.root,
                                    image_size=cfg["image_size"], workers=cfg["workers"],
                                    train_images=cfg["train_images"], seed=cfg["seed"])
            stats = dataset_statistics(config, max_images=limit, progress=cfg["progress"])
            self.out.mkdir(parents=True, exist_ok=True)
            stats.save(target)
            self.log(f"computed the training set's mean image and RGB PCA from {stats.count:,} images "
                     f"(once per run; saved to {target}, reusable with --stats)")
        self.barrier()
        return DatasetStatistics.load(target)

    def _place(self, model: nn.Module) -> nn.Module:
        cfg = self.cfg
        if cfg["model_parallel"]:
            from .towers import TwoColumnAlexNet

            assert isinstance(model, AlexNet)
            return TwoColumnAlexNet.from_grouped(model, cfg["devices"].split(","))
        model = model.to(self.device)
        if cfg["channels_last"]:
            model = model.to(memory_format=torch.channels_last)
        return model

    def _restore(self, ckpt: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.schedule.load_state_dict(ckpt["schedule"])
        if ckpt.get("scaler") and self.scaler.is_enabled():
            self.scaler.load_state_dict(ckpt["scaler"])
        self.epoch, self.step = int(ckpt["epoch"]), int(ckpt["step"])
        self.best_err = float(ckpt["best_err"])
        self.history = list(ckpt["history"])
        self.progress_sums = ckpt["progress_sums"].clone()
        self.elapsed = float(ckpt["elapsed"])
        states = ckpt["rng"]
        if len(states) != self.info.world_size:  # resolve_config refuses it; so does a direct use
            raise CheckpointError(_world_size_mismatch(len(states), self.info.world_size, self.out))
        set_rng_state(states[self.info.rank])

    # ---- small utilities

    def _agree(self, flag: bool) -> bool:
        """True if ``flag`` is true on any rank (so that all ranks take the same branch)."""
        if not self.info.enabled:
            return flag
        t = torch.tensor([float(flag)], device=self.device if self.device.type == "cuda" else "cpu")
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item() > 0)

    def _stop_requested(self) -> bool:
        """Whether a signal asked any rank to stop; called after every step, by every rank.

        Under torchrun one all_reduce of one number over a CPU (gloo) group: tens of microseconds
        to a millisecond a step (a full-size step takes tens of milliseconds or more), and no wait
        for the GPU, whose work stays queued. A stop is
        thus acted on at the next step on all ranks together, not at the next ``--log-every``
        step: torchrun (and SLURM) send SIGKILL a fixed time after SIGTERM (torchrun: 30 s unless
        ``--shutdown-timeout``), and the collective save of last.pt must fit in it."""
        if not self.info.enabled:
            return self.stop_signal is not None
        flag = torch.tensor([int(self.stop_signal is not None)], dtype=torch.int32)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX, group=self._control_group)
        return bool(flag.item())

    def _sum_over_ranks(self, value: int) -> int:
        if not self.info.enabled:
            return value
        t = torch.tensor([value], dtype=torch.int64,
                         device=self.device if self.device.type == "cuda" else "cpu")
        dist.all_reduce(t)
        return int(t.item())

    def barrier(self) -> None:
        if self.info.enabled:
            dist.barrier()

    def log(self, message: str, error: bool = False) -> None:
        """A line on stdout (stderr if ``error``) and in log.txt (rank 0 only)."""
        if not self.main:
            return
        stream = sys.stderr if error else sys.stdout
        tqdm.write(message, file=stream)
        stream.flush()
        self.out.mkdir(parents=True, exist_ok=True)
        with open(self.out / "log.txt", "a") as f:
            f.write(message + "\n")

    def _grouped_state(self) -> dict[str, torch.Tensor]:
        if self.cfg["model_parallel"]:
            return self.model.to_grouped().state_dict()  # type: ignore[operator]
        return self.model.state_dict()

    def state_dict(self) -> dict[str, Any]:
        """Everything ``last.pt`` holds (model weights in the single-device layout)."""
        if self.info.enabled:  # every rank's RNG, so that each continues its own stream
            states: list[Any] = [None] * self.info.world_size
            dist.all_gather_object(states, rng_state())
        else:
            states = [rng_state()]
        return {
            "format": FORMAT, "epoch": self.epoch, "step": self.step,
            "model": self._grouped_state(), "optimizer": self.optimizer.state_dict(),
            "schedule": self.schedule.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler.is_enabled() else None,
            "rng": states, "config": dict(self.cfg), "model_config": self.model_config,
            "classes": list(self.classes), "statistics": _stats_to_state(self.statistics),
            "best_err": self.best_err, "history": list(self.history),
            "progress_sums": self.progress_sums.clone(), "elapsed": self.elapsed + self._session(),
        }

    def _session(self) -> float:
        return time.perf_counter() - self._session_start if hasattr(self, "_session_start") else 0.0

    def _params_finite(self) -> bool:
        return all(bool(torch.isfinite(p).all()) for p in self.model.parameters())

    def save(self, best: bool = False) -> None:
        """Write last.pt (and best.pt) atomically; a collective call under torchrun."""
        state = self.state_dict()
        if self.main:
            atomic_save(state, self.out / "last.pt")
            if best:
                atomic_save(state, self.out / "best.pt")
        self.barrier()
        self._last_save = time.monotonic()

    # ---- the run

    def _write_run_files(self, resumed: bool) -> None:
        if not self.main:
            return
        self.out.mkdir(parents=True, exist_ok=True)
        remove_stale_temp_files(self.out)
        _write_text_atomic(self.out / "config.json", json.dumps(self.cfg, indent=2, sort_keys=True) + "\n")
        env = _environment(self.argv, self.info)
        env_path = self.out / "env.json"
        if resumed and env_path.is_file():  # keep where each session ran
            old = json.loads(env_path.read_text())
            sessions = old.get("sessions", [old])
            env = {**env, "sessions": [*sessions, env]}
        _write_text_atomic(env_path, json.dumps(env, indent=2, default=str) + "\n")
        self._write_metrics()

    def _write_metrics(self) -> None:
        if not self.main:
            return
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=METRIC_FIELDS)
        writer.writeheader()
        for row in self.history:
            writer.writerow({k: f"{v:.6g}" if isinstance(v, float) else v
                             for k, v in ((k, row.get(k)) for k in METRIC_FIELDS)})
        _write_text_atomic(self.out / "metrics.csv", buf.getvalue())

    def _tensorboard(self) -> Any:
        if self._writer is None and self.main:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:  # pragma: no cover - tensorboard is a dependency
                self.log("warning: tensorboard is not installed; metrics go to metrics.csv only")
                self._writer = False
                return None
            # purge_step drops points a killed session logged after the checkpoint we resume from.
            self._writer = SummaryWriter(str(self.out / "tensorboard"),
                                         purge_step=self._global_step() if self.epoch or self.step else None)
        return self._writer or None

    def _global_step(self) -> int:
        return self.epoch * len(self.train_data) + self.step

    def _handle_signal(self, signum: int, _frame: Any) -> None:
        if self.stop_signal is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C: stop now, without saving
        self.stop_signal = signum
        if self.main:
            name = signal.Signals(signum).name
            print(f"\n{name} received: saving last.pt at the end of this step, then stopping "
                  "(Ctrl-C again to quit without saving)", file=sys.stderr, flush=True)

    def fit(self) -> int:
        """Train from the current epoch to ``cfg["epochs"]``; returns the exit status."""
        cfg = self.cfg
        resumed = self.epoch > 0 or self.step > 0
        self._write_run_files(resumed)
        self._session_start = time.perf_counter()
        self._last_save = time.monotonic()
        old_handlers = {s: signal.signal(s, self._handle_signal) for s in EXIT_SIGNAL}
        try:
            if resumed:
                where = f"epoch {self.epoch + 1}, step {self.step}" if self.step else \
                        f"the end of epoch {self.epoch}"
                self.log(f"resumed from {self.out / 'last.pt'} at {where}")
            self.log(self._describe())
            while self.epoch < cfg["epochs"]:
                self._run_epoch()
            if self.epoch >= cfg["epochs"] and cfg["eval"]:
                self._final_evaluation()
            return EXIT_OK
        except _Stop as stop:
            if stop.signum is not None:
                self.log(f"stopped by {signal.Signals(stop.signum).name}: {stop.reason}. "
                         f"Continue with: python -m alexnet_lib.train --out {self.out} --resume",
                         error=True)
                return EXIT_SIGNAL[stop.signum]
            self.log(f"error: {stop.reason}", error=True)
            return EXIT_FAILED
        finally:
            for s, handler in old_handlers.items():
                signal.signal(s, handler)
            if self._writer:
                self._writer.close()

    def _describe(self) -> str:
        cfg = self.cfg
        n_params = sum(p.numel() for p in self.model.parameters())
        scale = ("model-parallel on " + cfg["devices"] if cfg["model_parallel"] else
                 f"{self.info.world_size} processes (DDP)" if self.info.enabled else "1 process")
        return (f"training {cfg['arch']} ({n_params:,} parameters, {len(self.classes)} classes) on "
                f"{cfg['dataset']}{' ' + str(self.root) if self.root else ''} with the {cfg['recipe']} "
                f"recipe: {cfg['epochs']} epochs, batch {cfg['batch_size']}, lr {cfg['lr']:g}, "
                f"{cfg['schedule']} schedule; {scale}, device {cfg['device']}, amp {cfg['amp']}, "
                f"channels_last {cfg['channels_last']}, compile {cfg['compile']}; run folder {self.out}")

    def _check(self, interval: torch.Tensor, images: int, save_due: bool) -> tuple[bool, bool, bool]:
        """One synchronisation point: add the interval's sums (loss and hits, kept on the device
        so that steps never wait for the GPU; images) over all ranks, and agree on whether the
        loss is finite, a stop was asked for and a timed checkpoint is due."""
        flags = torch.tensor([float(images), float(self.stop_signal is not None),
                              float(save_due and self.main)], dtype=torch.float64,
                             device=interval.device)
        packed = torch.cat([interval, flags])
        if self.info.enabled:
            dist.all_reduce(packed)
        packed = packed.cpu()
        finite = bool(torch.isfinite(packed[0]))
        self.progress_sums += packed[:3]
        return finite, bool(packed[3] > 0), bool(packed[4] > 0)

    def _run_epoch(self) -> None:
        cfg, epoch = self.cfg, self.epoch
        steps = len(self.train_data)
        if cfg["limit_steps"]:
            steps = min(steps, cfg["limit_steps"])
        if self.step == 0:
            self.progress_sums.zero_()
        self.train_data.set_epoch(epoch, skip_batches=self.step)
        skipped_before = self._epoch_skip_start = len(self.train_data.skipped)
        self.step_model.train()
        bar = tqdm(total=steps, initial=self.step, desc=f"epoch {epoch + 1}/{cfg['epochs']}",
                   unit="batch", disable=not (self.main and cfg["progress"]), leave=False,
                   dynamic_ncols=True, mininterval=1.0, file=sys.stderr)
        interval = torch.zeros(2, dtype=torch.float64, device=self.input_device)  # loss sum, hits
        pending = 0  # images since the last check
        start = time.perf_counter()
        t_last, images_last, steady = start, 0, [0.0, 0]  # steady: seconds, images after warm-up
        images_seen = 0
        save_every = cfg["checkpoint_minutes"] * 60
        autocast = (torch.autocast(self.input_device.type, dtype=self.autocast_dtype)
                    if self.autocast_dtype is not None else contextlib.nullcontext())
        try:
            for images, labels in (self.train_data if self.step < steps else ()):
                with autocast:
                    logits = self.step_model(images)
                    loss = nn.functional.cross_entropy(logits, labels.to(logits.device))
                self.optimizer.zero_grad(set_to_none=True)
                self.scaler.scale(loss).backward()
                self.scaler.step(self.optimizer)
                self.scaler.update()
                n = len(labels)
                hits = (logits.argmax(1) == labels.to(logits.device)).sum()
                interval += torch.stack([loss.detach().double() * n, hits.double()]).to(interval.device)
                pending += n
                self.step += 1
                images_seen += n
                bar.update(1)
                last = self.step >= steps
                stop_now = self._stop_requested()  # the same answer on every rank
                if self.step % cfg["log_every"] == 0 or last or stop_now:
                    save_due = (save_every > 0 and not last
                                and time.monotonic() - self._last_save >= save_every)
                    finite, stop, save = self._check(interval, pending, save_due)
                    if not finite or (save and not self._params_finite()):
                        raise _Stop(self._nonfinite_message(epoch))
                    interval.zero_()
                    pending = 0
                    now = time.perf_counter()
                    rate = (images_seen - images_last) * self.info.world_size / max(now - t_last, 1e-9)
                    if images_last > 0 or last:  # the first interval holds start-up and warm-up
                        steady[0] += now - t_last
                        steady[1] += (images_seen - images_last) * self.info.world_size
                    t_last, images_last = now, images_seen
                    loss_avg = float(self.progress_sums[0] / max(float(self.progress_sums[2]), 1))
                    bar.set_postfix_str(f"{rate:,.0f} img/s, loss {loss_avg:.4f}, lr {self.schedule.lr:g}")
                    if self.main and self._tensorboard():
                        self._writer.add_scalar("train/loss_running", loss_avg, self._global_step())
                    self._report_skipped(skipped_before)
                    skipped_before = len(self.train_data.skipped)
                    if stop:
                        self.save()
                        raise _Stop(f"saved last.pt at epoch {epoch + 1}, step {self.step}",
                                    self.stop_signal or signal.SIGTERM)
                    if save:
                        self.save()
                if last:
                    break
            if pending:  # the pipeline ended before `steps` (fewer batches than announced)
                finite, _, _ = self._check(interval, pending, False)
                if not finite:
                    raise _Stop(self._nonfinite_message(epoch))
        finally:
            bar.close()
        seconds = time.perf_counter() - start
        self._end_epoch(epoch, seconds, steady)

    def _nonfinite_message(self, epoch: int) -> str:
        last = self.out / "last.pt"
        kept = (f"the last good checkpoint, {last}, is kept (epoch {self.epoch_of(last)})"
                if last.is_file() else "no checkpoint had been written yet")
        return (f"the training loss became non-finite (NaN or inf) in epoch {epoch + 1} by step "
                f"{self.step}; stopping without saving: {kept}. Lower --lr, or check the input "
                "scale (--input-scale) and the data.")

    @staticmethod
    def epoch_of(path: Path) -> str:
        try:
            state = load_checkpoint(path)
            return f"{state['epoch']}, step {state['step']}"
        except CheckpointError:
            return "unknown"

    def _report_skipped(self, before: int) -> None:
        """Log each undecodable image once (it is skipped again every epoch) in skipped.txt."""
        for entry in self.train_data.skipped[before:]:
            path, reason = (entry, "") if isinstance(entry, str) else entry
            if path in self._skipped_seen:
                continue
            self._skipped_seen.add(path)
            self.log(f"warning: skipped an image that cannot be decoded: {path} ({reason})")
            if self.main:
                with open(self.out / "skipped.txt", "a") as f:
                    f.write(f"{path}\t{reason}\n")

    def _end_epoch(self, epoch: int, seconds: float, steady: list[float]) -> None:
        cfg = self.cfg
        loss_sum, hits, seen = self.progress_sums.tolist()
        val = self._validate() if self.val_data is not None else None
        lr_used = self.schedule.lr
        change = self.schedule.update(epoch + 1, val.top1_err if val else None)
        self.schedule.apply(self.optimizer)
        self.epoch, self.step = epoch + 1, 0
        rate = steady[1] / steady[0] if steady[0] > 0 else float("nan")
        skipped = self._sum_over_ranks(len(self.train_data.skipped) - self._epoch_skip_start)
        row = {"epoch": epoch + 1, "lr": lr_used, "train_loss": loss_sum / max(seen, 1),
               "train_top1_err": 1 - hits / max(seen, 1),
               "val_loss": val.loss if val else None, "val_top1_err": val.top1_err if val else None,
               "val_top5_err": val.top5_err if val else None, "images_per_s": rate,
               "epoch_seconds": seconds, "skipped_images": skipped,
               "hours": (self.elapsed + self._session()) / 3600}
        self.history.append(row)
        improved = val is not None and val.top1_err < self.best_err
        if improved:
            self.best_err = val.top1_err
        self.save(best=improved)
        self._write_metrics()
        if self.main:
            writer = self._tensorboard()
            if writer:
                for key in ("lr", "train_loss", "train_top1_err", "val_loss", "val_top1_err",
                            "val_top5_err", "images_per_s"):
                    if row[key] is not None:
                        writer.add_scalar(f"epoch/{key}", row[key], epoch + 1)
                writer.flush()
            _write_text_atomic(self.out / "throughput.json", json.dumps({
                "train_images_per_s": rate, "epoch": epoch + 1, "batch_size": cfg["batch_size"],
                "world_size": self.info.world_size, "device": cfg["device"], "amp": cfg["amp"],
                "channels_last": cfg["channels_last"], "compile": cfg["compile"],
                "pipeline": cfg["pipeline"]}, indent=2) + "\n")
        vtext = (f"val loss {val.loss:.4f}, top-1 err {100 * val.top1_err:.2f}%, "
                 f"top-5 err {100 * val.top5_err:.2f}%{' (best)' if improved else ''}" if val
                 else "no validation")
        self.log(f"epoch {epoch + 1}/{cfg['epochs']}: train loss {row['train_loss']:.4f}, "
                 f"top-1 err {100 * row['train_top1_err']:.2f}% | {vtext} | lr {lr_used:g} | "
                 f"{rate:,.0f} img/s, {seconds:.1f} s | skipped {skipped}")
        if change:
            self.log(change)
        if self._agree(self.stop_signal is not None):
            raise _Stop(f"saved last.pt at the end of epoch {epoch + 1}", self.stop_signal or signal.SIGTERM)

    def _validate(self, ten_crop: bool = False, model: nn.Module | None = None) -> EvalResult:
        assert self.val_data is not None
        self.val_data.set_epoch(0)
        return evaluate(model or self.model, self.val_data, self.cfg["crop_size"], ten_crop=ten_crop,
                        autocast_dtype=self.autocast_dtype, distributed=self.info.enabled)

    def _final_evaluation(self) -> None:
        """The centre-crop and (paper recipe) 10-crop errors of best.pt, into final.json."""
        best = self.out / "best.pt"
        self.barrier()
        if not best.is_file():
            return
        state = load_checkpoint(best)
        model = build_model(self.cfg, len(self.classes))
        model.load_state_dict(state["model"])
        model = self._place(model)
        results = [self._validate(False, model)]
        if self.cfg["ten_crop"]:
            results.append(self._validate(True, model))
        self.log(f"best.pt (epoch {state['epoch']}) on {results[0].images:,} validation images:\n"
                 + format_results(results))
        if self.cfg["dataset"] == "imagenet" and len(self.classes) == 1000:
            self.log(PAPER_RESULT)
        if self.main:
            _write_text_atomic(self.out / "final.json", json.dumps(
                {"checkpoint": str(best), "epoch": state["epoch"],
                 "results": [r.as_dict() for r in results]}, indent=2) + "\n")
        if self.info.enabled:
            self._check_ranks_agree()

    def _check_ranks_agree(self) -> None:
        """Data parallelism keeps one model: every rank must hold the same parameters."""
        worst = 0.0
        for p in self.model.parameters():
            hi, lo = p.detach().clone(), p.detach().clone()
            dist.all_reduce(hi, op=dist.ReduceOp.MAX)
            dist.all_reduce(lo, op=dist.ReduceOp.MIN)
            worst = max(worst, float((hi - lo).abs().max()))
        if worst != 0.0:
            raise _Stop(f"the {self.info.world_size} processes ended with different parameters "
                        f"(largest difference {worst:g})")
        self.log(f"parameters identical on all {self.info.world_size} processes")


# --------------------------------------------------------------------------- evaluation command


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
            augment=cfg["augment"], statistics=_stats_from_state(state["statistics"]),
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


# --------------------------------------------------------------------------- main


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
    info = _dist_from_env()
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


if __name__ == "__main__":
    sys.exit(main())
