"""The command line and how its settings combine: flags, a resumed run's saved settings, the
built-in dataset's sizing, the recipe, the defaults.

Defined in the book's chapter "Training AlexNet at ImageNet scale" (the command and resuming);
:func:`build_parser` has help on every flag, :func:`resolve_config` the order of precedence.
"""

from __future__ import annotations

import argparse
import math
import os
from datetime import datetime
from pathlib import Path
from typing import Any

import torch

from ..checkpoint import CheckpointError, load_checkpoint
from ..data.pipeline import PIPELINE_KINDS
from ..evaluate import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from .dist import DistInfo, auto_device, dist_from_env, world_size_mismatch
from .recipes import BUILTIN_SMOKE, INITS, RECIPES

__all__ = ["DEFAULTS", "RUNTIME_KEYS", "MACHINE_KEYS", "EXIT_OK", "EXIT_FAILED", "EXIT_USAGE",
           "HOW_TO_GET_IMAGENET", "build_parser", "resolve_config"]

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
                        "or he (He et al. 2015, also called kaiming; not the paper's, but it lets "
                        f"small nets learn in a few steps) ({_recipe_default('init')})")

    g = p.add_argument_group("recipe (every number of RECIPES in alexnet_lib/train/recipes.py)")
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
    info = info or dist_from_env()
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
            parser.error(world_size_mismatch(saved_world, info.world_size, given["out"]))
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
    cfg["device"] = auto_device(given.get("device"), info)
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

