"""Probe an initialisation of the full-size AlexNet on a CPU in minutes, where a training run takes
hours: a few SGD steps on one fixed batch (does the loss fall, or overshoot?), and which ReLUs of a
checkpoint are still alive (does any image make a unit positive?).

    python tools/init_probe.py steps --data runs/fullsize/data --stats STATS.npz \
        paper@0.01 caffe@0.01 paper-code@0.01 --steps 20
    python tools/init_probe.py alive --data runs/fullsize/data runs/fullsize/paper/last.pt

``steps``: each ``INIT@LR`` (``INIT@LR@CLASSES`` for another fc8 size) builds the network with
seed 0 and trains it on the same batch (``--batch`` training images drawn with seed 0, centre
224 crops of the 256 images, the mean image subtracted, pixels in 0..255 like the paper's recipe,
dropout on) with the recipe's SGD (momentum 0.9, weight decay 5e-4 on weights); it prints the
loss of every step as a JSON line. ``alive``: for each ReLU of the checkpoint's network, the
fraction of units positive for at least one of ``--batch`` training images, and the spread of
the logits over the images (0: the network answers the same for every image). Used for the
record book/results/train_fullsize_cpu.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from alexnet_lib import AlexNet  # noqa: E402
from alexnet_lib.checkpoint import load_checkpoint  # noqa: E402
from alexnet_lib.data import DatasetStatistics  # noqa: E402


def fixed_batch(data: Path, mean: np.ndarray, n: int, crop: int = 224,
                scale: float = 255.0) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` training images (drawn with seed 0) as centre crops minus the mean image, 0..255."""
    files = sorted((data / "train").glob("*/*"))
    classes = sorted({f.parent.name for f in files})
    pick = np.random.default_rng(0).choice(len(files), min(n, len(files)), replace=False)
    images = np.stack([np.asarray(Image.open(files[i]).convert("RGB"), dtype=np.float32)
                       .transpose(2, 0, 1) / 255.0 for i in pick])
    images = (images - mean) * scale
    side = images.shape[-1]
    top = (side - crop) // 2
    x = torch.from_numpy(np.ascontiguousarray(images[:, :, top:top + crop, top:top + crop]))
    y = torch.tensor([classes.index(files[i].parent.name) for i in pick])
    return x, y


def probe_steps(x: torch.Tensor, y: torch.Tensor, spec: str, steps: int, **net) -> list[float]:
    """The loss at each of ``steps`` SGD steps on (x, y) of the network ``INIT@LR[@CLASSES]``."""
    init, lr, *rest = spec.split("@")
    classes = int(rest[0]) if rest else int(y.max()) + 1
    torch.manual_seed(0)
    model = AlexNet(classes, init=init, input_size=x.shape[-1], **net).train()
    decay = [p for p in model.parameters() if p.ndim > 1]
    other = [p for p in model.parameters() if p.ndim == 1]
    opt = torch.optim.SGD([{"params": decay, "weight_decay": 5e-4},
                           {"params": other, "weight_decay": 0.0}], lr=float(lr), momentum=0.9)
    losses = []
    for _ in range(steps):
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(round(loss.item(), 4))
    return losses


def alive(model: AlexNet, x: torch.Tensor) -> dict[str, float]:
    """Per ReLU, the fraction of units positive for some image of x; and the logits' spread."""
    out: dict[str, float] = {}
    model.eval()
    with torch.no_grad():
        h = x
        for name, layer in model.features.named_children():
            h = layer(h)
            if name.startswith("act"):
                out[name] = round(float((h.flatten(1) > 0).any(0).float().mean()), 4)
        h = torch.flatten(h, 1)
        for name, layer in model.classifier.named_children():
            h = layer(h)
            if name.startswith("act"):
                out[name] = round(float((h > 0).any(0).float().mean()), 4)
    out["logit_std_over_images"] = round(float(h.std(0).mean()), 6)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("steps", help="SGD steps on one fixed batch, per INIT@LR")
    s.add_argument("specs", nargs="+", metavar="INIT@LR[@CLASSES]")
    s.add_argument("--steps", type=int, default=20)
    a = sub.add_parser("alive", help="the live ReLUs of a checkpoint")
    a.add_argument("checkpoint")
    for q in (s, a):
        q.add_argument("--data", required=True, help="ImageNet-style folder (train/<class>/)")
        q.add_argument("--batch", type=int, default=64, help="images in the batch")
        q.add_argument("--threads", type=int, default=2)
    s.add_argument("--stats", required=True, help="the run's stats.npz (mean image)")
    s.add_argument("--width", type=float, default=1.0, help="(tests) kernel multiplier")
    s.add_argument("--hidden", type=int, default=4096, help="(tests) fc6/fc7 units")
    s.add_argument("--crop", type=int, default=224)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    data = Path(args.data)
    if args.command == "steps":
        mean = np.asarray(DatasetStatistics.load(args.stats).image, dtype=np.float32)
        x, y = fixed_batch(data, mean, args.batch, args.crop)
        for spec in args.specs:
            losses = probe_steps(x, y, spec, args.steps, width=args.width, hidden=args.hidden)
            print(json.dumps({"spec": spec, "batch": len(y), "loss_per_step": losses}), flush=True)
    else:
        state = load_checkpoint(args.checkpoint)
        model = AlexNet(**state["model_config"])
        model.load_state_dict(state["model"])
        stats = state["statistics"]
        mean = stats["image"].numpy().astype(np.float32)
        x, _ = fixed_batch(data, mean, args.batch, state["config"]["crop_size"],
                           state["config"]["input_scale"])
        print(json.dumps({"checkpoint": args.checkpoint, "epoch": state["epoch"],
                          "step": state["step"], "images": len(x), **alive(model, x)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
