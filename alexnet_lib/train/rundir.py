"""The run folder: log lines, ``config.json``, ``env.json``, ``metrics.csv``, TensorBoard,
``skipped.txt`` and the small JSON reports, all written by rank 0 only.

Defined in the book's chapter "Training AlexNet at ImageNet scale" (the run folder); used by
:class:`alexnet_lib.train.Trainer`. Every file but ``log.txt`` and ``skipped.txt`` (which grow a
line at a time) is replaced atomically, so a killed run never leaves half a file.
"""

from __future__ import annotations

import csv
import io
import json
import os
import platform
import socket
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from tqdm.auto import tqdm

from ..checkpoint import atomic_write, remove_stale_temp_files
from ..data.paths import repo_root
from ..provenance import git_state
from .dist import DistInfo, processes

__all__ = ["METRIC_FIELDS", "environment", "describe_run", "RunFolder"]

METRIC_FIELDS = ("epoch", "lr", "train_loss", "train_top1_err", "val_loss", "val_top1_err",
                 "val_top5_err", "images_per_s", "epoch_seconds", "skipped_images", "hours")
"""The columns of ``metrics.csv``, one row per epoch."""


def environment(argv: list[str], info: DistInfo) -> dict[str, Any]:
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
        git = git_state(root)
        env["git_commit"], env["git_dirty"] = git["commit"], git["dirty"]
        if git["error"]:
            env["git_error"] = git["error"]  # commit/dirty stay None, and say why
    return env


def describe_run(cfg: dict[str, Any], model: nn.Module, classes: int, root: Path | None,
                 info: DistInfo, out: Path) -> str:
    """The first line of the run's log: what is trained on what, how, and where."""
    n_params = sum(p.numel() for p in model.parameters())
    n = info.world_size
    backend = dist.get_backend() if dist.is_available() and dist.is_initialized() else "none"
    scale = ("model-parallel on " + cfg["devices"] if cfg["model_parallel"] else
             f"{processes(n)} (DDP, {backend} backend)" if info.enabled
             else "1 process")
    return (f"training {cfg['arch']} ({n_params:,} parameters, {classes} classes) on "
            f"{cfg['dataset']}{' ' + str(root) if root else ''} with the {cfg['recipe']} "
            f"recipe: {cfg['epochs']} epochs, batch {cfg['batch_size']}, lr {cfg['lr']:g}, "
            f"{cfg['schedule']} schedule; {scale}, device {cfg['device']}, amp {cfg['amp']}, "
            f"channels_last {cfg['channels_last']}, compile {cfg['compile']}; run folder {out}")


class RunFolder:
    """The files of one run folder, ``out``; on ranks other than 0 (``main=False``) every method
    does nothing, so that callers need not ask."""

    def __init__(self, out: Path, main: bool) -> None:
        self.out, self.main = out, main
        self._writer: Any = None
        self._skipped_seen: set[str] = set()

    def log(self, message: str, error: bool = False) -> None:
        """A line on stdout (stderr if ``error``) and in log.txt."""
        if not self.main:
            return
        stream = sys.stderr if error else sys.stdout
        tqdm.write(message, file=stream)
        stream.flush()
        self.out.mkdir(parents=True, exist_ok=True)
        with open(self.out / "log.txt", "a") as f:
            f.write(message + "\n")

    def start(self, cfg: dict[str, Any], argv: list[str], info: DistInfo, resumed: bool,
              history: list[dict[str, Any]]) -> None:
        """``config.json``, ``env.json`` (a resumed run adds its session) and ``metrics.csv``;
        temporary files of a killed earlier session are removed."""
        if not self.main:
            return
        self.out.mkdir(parents=True, exist_ok=True)
        remove_stale_temp_files(self.out)
        atomic_write(self.out / "config.json", json.dumps(cfg, indent=2, sort_keys=True) + "\n")
        env = environment(argv, info)
        env_path = self.out / "env.json"
        if resumed and env_path.is_file():  # keep where each session ran
            old = json.loads(env_path.read_text())
            sessions = old.get("sessions", [old])
            env = {**env, "sessions": [*sessions, env]}
        atomic_write(env_path, json.dumps(env, indent=2, default=str) + "\n")
        self.write_metrics(history)

    def write_metrics(self, history: list[dict[str, Any]]) -> None:
        """``metrics.csv``: one row per epoch of ``history``, the columns of :data:`METRIC_FIELDS`."""
        if not self.main:
            return
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=METRIC_FIELDS)
        writer.writeheader()
        for row in history:
            writer.writerow({k: f"{v:.6g}" if isinstance(v, float) else v
                             for k, v in ((k, row.get(k)) for k in METRIC_FIELDS)})
        atomic_write(self.out / "metrics.csv", buf.getvalue())

    def write_json(self, name: str, obj: dict[str, Any]) -> None:
        """A small report, e.g. ``throughput.json`` or ``final.json``."""
        if self.main:
            atomic_write(self.out / name, json.dumps(obj, indent=2) + "\n")

    def scalar(self, tag: str, value: float, step: int, purge_step: int | None = None) -> None:
        """A point of TensorBoard's curve ``tag``. ``purge_step`` (given on the first call of a
        resumed session) drops the points a killed session logged after its checkpoint."""
        writer = self._tensorboard(purge_step)
        if writer:
            writer.add_scalar(tag, value, step)

    def flush(self) -> None:
        if self._writer:
            self._writer.flush()

    def close(self) -> None:
        if self._writer:
            self._writer.close()

    def _tensorboard(self, purge_step: int | None) -> Any:
        if self._writer is None and self.main:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:  # pragma: no cover - tensorboard is a dependency
                self.log("warning: tensorboard is not installed; metrics go to metrics.csv only")
                self._writer = False
                return None
            self._writer = SummaryWriter(str(self.out / "tensorboard"), purge_step=purge_step)
        return self._writer or None

    def end_epoch(self, row: dict[str, Any], history: list[dict[str, Any]], cfg: dict[str, Any],
                  info: DistInfo, improved: bool) -> None:
        """Everything an epoch's ``row`` (of :data:`METRIC_FIELDS`) goes to: ``metrics.csv``,
        TensorBoard, ``throughput.json`` and the summary line."""
        epoch, rate = row["epoch"], row["images_per_s"]
        self.write_metrics(history)
        for key in ("lr", "train_loss", "train_top1_err", "val_loss", "val_top1_err",
                    "val_top5_err", "images_per_s"):
            if row[key] is not None:
                self.scalar(f"epoch/{key}", row[key], epoch)
        self.flush()
        self.write_json("throughput.json", {
            "train_images_per_s": rate, "epoch": epoch, "batch_size": cfg["batch_size"],
            "world_size": info.world_size, "device": cfg["device"], "amp": cfg["amp"],
            "channels_last": cfg["channels_last"], "compile": cfg["compile"],
            "pipeline": cfg["pipeline"]})
        vtext = (f"val loss {row['val_loss']:.4f}, top-1 err {100 * row['val_top1_err']:.2f}%, "
                 f"top-5 err {100 * row['val_top5_err']:.2f}%{' (best)' if improved else ''}"
                 if row["val_top1_err"] is not None else "no validation")
        self.log(f"epoch {epoch}/{cfg['epochs']}: train loss {row['train_loss']:.4f}, "
                 f"top-1 err {100 * row['train_top1_err']:.2f}% | {vtext} | lr {row['lr']:g} | "
                 f"{rate:,.0f} img/s, {row['epoch_seconds']:.1f} s | skipped {row['skipped_images']}")

    def note_skipped(self, entries: list[Any]) -> None:
        """Log each undecodable image once (it is skipped again every epoch) in skipped.txt."""
        for entry in entries:
            path, reason = (entry, "") if isinstance(entry, str) else entry
            if path in self._skipped_seen:
                continue
            self._skipped_seen.add(path)
            self.log(f"warning: skipped an image that cannot be decoded: {path} ({reason})")
            if self.main:
                with open(self.out / "skipped.txt", "a") as f:
                    f.write(f"{path}\t{reason}\n")
