"""Top-1 and top-5 error on the validation set: the centre crop and the paper's ten patches.

Defined in the book's chapter "Training AlexNet at ImageNet scale" (evaluating a checkpoint).

The paper reports error rates, not accuracies: "top-1 and top-5 error rates ... the top-5 error
rate is the fraction of test images for which the correct label is not among the five labels
considered most probable by the model" (Section 1). Its test-time procedure averages the
softmax of ten 224x224 patches, the four corners and the centre of the 256x256 image and their
mirror images (Section 4.1); a single centre crop is the usual cheaper figure (torchvision's).
Both are computed here from the same validation batches, which arrive as whole 256x256 images
(see :mod:`alexnet_lib.data.pipeline`) and are cropped on the device.

Use it from the command line on any checkpoint of the training command::

    python -m alexnet_lib.evaluate runs/alexnet/best.pt      # = python -m alexnet_lib.train --evaluate
    python -m alexnet_lib.evaluate runs/alexnet/best.pt --data /other/imagenet --device cuda
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn

from .augment import predict_patches
from .checkpoint import CheckpointError, load_checkpoint
from .data.errors import DatasetError
from .data.imagenet import validate_image_folder
from .data.paths import default_data_root
from .data.pipeline import PipelineConfig, make_pipeline
from .data.stats import DatasetStatistics
from .model import AlexNet, init_scheme

__all__ = ["EvalResult", "topk_correct", "evaluate", "format_results", "build_model", "evaluate_checkpoint",
           "main",
           "EXIT_OK", "EXIT_FAILED", "EXIT_USAGE"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
"""The exit statuses of the library's commands (2: a usage error, as argparse's)."""

PAPER_RESULT = "paper, ILSVRC-2012 validation, one CNN: top-1 error 40.7%, top-5 error 18.2%"


@dataclass
class EvalResult:
    """Errors (fractions in [0, 1]) and mean cross-entropy over ``images`` validation images."""

    loss: float
    top1_err: float
    top5_err: float
    images: int
    crops: str  # "centre" or "10-crop"

    def as_dict(self) -> dict[str, float | int | str]:
        return asdict(self)


def topk_correct(scores: Tensor, labels: Tensor, ks: Iterable[int] = (1, 5)) -> list[Tensor]:
    """How many rows of ``scores`` (N, classes) have their label among the top ``k``, per k.

    ``k`` is capped at the number of classes (top-5 of a 3-class problem is top-3). The counts
    stay on the device (no synchronisation).
    """
    kmax = min(max(ks), scores.shape[1])
    top = scores.topk(kmax, dim=1).indices
    hits = top == labels[:, None]
    return [hits[:, :min(k, kmax)].any(dim=1).sum() for k in ks]


@torch.no_grad()
def evaluate(model: nn.Module, batches: Iterable[tuple[Tensor, Tensor]], crop_size: int,
             ten_crop: bool = False, autocast_dtype: torch.dtype | None = None,
             distributed: bool = False) -> EvalResult:
    """Top-1/top-5 error and loss of ``model`` on ``batches`` of whole (un-cropped) images.

    Args:
        model: any classifier; put in eval mode for the pass and restored afterwards.
        batches: ``(images, labels)`` on the model's input device, images larger than
            ``crop_size`` (the validation pipeline yields the stored 256x256 images).
        crop_size: the patch side (224).
        ten_crop: average the softmax of the ten patches (the paper's test) instead of taking
            the centre crop's.
        autocast_dtype: run the forward pass under ``torch.autocast`` with this dtype (bf16).
        distributed: every rank saw its own share of the images; sum the counts over ranks.

    The loss of the ten-crop test is the cross-entropy of the averaged probabilities.
    """
    was_training = model.training
    model.eval()
    device = None
    totals = None  # loss sum, top-1 hits, top-5 hits, images: summed on the device
    try:
        for images, labels in batches:
            device = images.device
            autocast = (torch.autocast(device.type, dtype=autocast_dtype) if autocast_dtype
                        else contextlib.nullcontext())
            with autocast:
                # probabilities averaged over the ten patches, or the centre patch's logits
                scores = predict_patches(model, images, crop_size, ten=ten_crop).float()
                loss = (nn.functional.nll_loss(scores.clamp_min(1e-12).log(), labels,
                                               reduction="sum") if ten_crop
                        else nn.functional.cross_entropy(scores, labels, reduction="sum"))
            top1, top5 = topk_correct(scores, labels)
            count = torch.full((), float(len(labels)), dtype=torch.float64, device=labels.device)
            row = torch.stack([loss.double(), top1.double(), top5.double(), count])
            totals = row if totals is None else totals + row
    finally:
        model.train(was_training)
    if totals is None:
        totals = torch.zeros(4, dtype=torch.float64, device=device)
    if distributed and dist.is_available() and dist.is_initialized():
        if totals.device.type == "cpu" and dist.get_backend() == "nccl":
            totals = totals.cuda()
        dist.all_reduce(totals)
    loss_sum, top1, top5, n = totals.tolist()
    if n == 0:
        raise ValueError("no validation images were evaluated")
    return EvalResult(loss=loss_sum / n, top1_err=1 - top1 / n, top5_err=1 - top5 / n,
                      images=int(n), crops="10-crop" if ten_crop else "centre")


def format_results(results: Iterable[EvalResult]) -> str:
    """A small table: one row per crop scheme, errors in percent."""
    lines = [f"{'':<12} {'top-1 error':>12} {'top-5 error':>12} {'loss':>8} {'images':>8}"]
    for r in results:
        name = "centre crop" if r.crops == "centre" else "10 crops"
        lines.append(f"{name:<12} {100 * r.top1_err:>11.2f}% {100 * r.top5_err:>11.2f}% "
                     f"{r.loss:>8.4f} {r.images:>8,}")
    return "\n".join(lines)


def build_model(cfg: dict[str, Any], num_classes: int) -> nn.Module:
    """The network a run's settings (a checkpoint's ``config``) describe, on the CPU.

    Defined for the training command (``alexnet_lib.train``), which builds it, and the evaluation
    command, which rebuilds it from a checkpoint; ``--model-parallel`` splits it afterwards.
    """
    if cfg["arch"] == "torchvision":
        from torchvision.models import alexnet

        return alexnet(num_classes=num_classes, dropout=cfg["dropout"])
    he = init_scheme(cfg["init"]) == "he"  # or its alias "kaiming"
    model = AlexNet(num_classes, lrn=None if cfg["lrn"] == "none" else cfg["lrn"],
                    lrn_per_column=not cfg.get("lrn_across_columns", False),
                    remove=tuple(cfg.get("remove") or ()),
                    dropout=cfg["dropout"], groups=cfg["columns"], width=cfg["width"],
                    hidden=cfg["hidden"], input_size=cfg["crop_size"],
                    init="torch" if he else cfg["init"])
    if he:
        # PyTorch's default init shrinks the signal layer by layer, and the paper's N(0, 0.01)
        # relies on 60M parameters' fan-in; in a CPU-sized AlexNet both leave the loss stuck at
        # ln(classes) for many epochs. He et al.'s fan-in normal init keeps the scale. Drawn
        # after the "torch" init, as always, so that a seed gives the weights it always gave;
        # model.config then says the name the run gave ("he" or "kaiming"), which AlexNet accepts.
        model.reset_parameters(cfg["init"])
    return model


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
            augment=cfg["augment"], statistics=DatasetStatistics.from_state(state["statistics"]),
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


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m alexnet_lib.evaluate``."""
    p = argparse.ArgumentParser(
        prog="python -m alexnet_lib.evaluate",
        description="Top-1/top-5 error of a training checkpoint on the validation set, for the "
                    "centre crop and the paper's 10-crop test.")
    p.add_argument("checkpoint", help="a checkpoint written by alexnet_lib.train (last.pt or best.pt)")
    p.add_argument("--data", default=None,
                   help="ImageNet-style folder to evaluate on (default: the one the run trained on)")
    p.add_argument("--val-images", type=int, default=None,
                   help="evaluate on this many evenly spaced validation images (default: all, or "
                        "the run's own limit)")
    p.add_argument("--batch-size", type=int, default=None,
                   help="images per forward pass (default: the run's batch size)")
    p.add_argument("--workers", type=int, default=None,
                   help="decoding processes (default: one per CPU core, at most 16)")
    p.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: cuda if available)")
    p.add_argument("--no-ten-crop", dest="ten_crop", action="store_false",
                   help="only the centre crop (the 10-crop test runs the network 10 times)")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run ``python -m alexnet_lib.evaluate``; returns the exit status."""
    args = build_parser().parse_args(argv)
    return evaluate_checkpoint(args.checkpoint, data=args.data, val_images=args.val_images,
                               batch_size=args.batch_size, workers=args.workers,
                               device=args.device, ten_crop=args.ten_crop)


if __name__ == "__main__":
    sys.exit(main())
