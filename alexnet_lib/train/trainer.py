"""The training loop: the state of one run, one epoch after another, and last.pt.

Defined in the book's chapter "Training AlexNet at ImageNet scale"; ``python -m
alexnet_lib.train`` builds a :class:`Trainer` from the settings of
:func:`alexnet_lib.train.config.resolve_config` and calls :meth:`Trainer.fit`.
"""

from __future__ import annotations

import contextlib
import math
import signal
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from tqdm.auto import tqdm

from ..checkpoint import FORMAT, CheckpointError, atomic_save, load_checkpoint, rng_state, set_rng_state
from ..evaluate import PAPER_RESULT, EvalResult, build_model, evaluate, format_results
from .config import EXIT_FAILED, EXIT_OK
from .dist import (
    DistInfo,
    any_rank,
    barrier,
    largest_parameter_difference,
    place,
    processes,
    step_model,
    sum_over_ranks,
    world_size_mismatch,
)
from .inputs import dataset_root, make_pipelines, run_statistics
from .rundir import RunFolder, describe_run
from .schedule import LRSchedule, param_groups
from .stopping import EXIT_SIGNAL, SignalWatch, Stop, nonfinite_message

__all__ = ["Trainer"]


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
        self.signals = SignalWatch(announce=self.main)
        self.run = RunFolder(self.out, self.main)
        self.log = self.run.log
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
        self.root = dataset_root(cfg)
        self.statistics = run_statistics(cfg, self.root, self.out, self.info, checkpoint, self.log)
        self.input_device = (torch.device(cfg["devices"].split(",")[0]) if cfg["model_parallel"]
                             else self.device)
        self.train_data, self.val_data = make_pipelines(cfg, self.info, self.root, self.statistics,
                                                        self.input_device)
        self.classes = list(self.train_data.classes)  # type: ignore[attr-defined]

        # ---- model, optimizer, schedule, scaler
        model = build_model(cfg, len(self.classes))
        self.model_config = dict(getattr(model, "config", {"arch": cfg["arch"]}))
        if checkpoint is not None:
            model.load_state_dict(checkpoint["model"])
        self.model = place(model, cfg, self.device)
        # From here on the random numbers (dropout, augmentation, worker seeds) depend on the seed
        # and the rank only, not on how many the model's construction used (the two-column model
        # draws more), and differ between ranks.
        torch.manual_seed(cfg["seed"] + 1 + self.info.rank)
        self.optimizer = torch.optim.SGD(
            param_groups(self.model, cfg["weight_decay"], cfg["bias_decay"]), lr=cfg["lr"],
            momentum=cfg["momentum"])
        self.schedule = LRSchedule(cfg["schedule"], cfg["lr"], cfg["lr_factor"], cfg["patience"],
                                   cfg["plateau_threshold"], cfg["max_drops"], cfg["lr_step"])
        amp_device = self.input_device.type
        self.autocast_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(cfg["amp"])
        self.scaler = torch.amp.GradScaler(amp_device, enabled=cfg["amp"] == "fp16")
        if checkpoint is not None:
            self._restore(checkpoint)
        self.schedule.apply(self.optimizer)

        self.step_model = step_model(self.model, cfg, self.info, self.device)

    # ---- construction helpers

    def _restore(self, ckpt: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.schedule.load_state_dict(ckpt["schedule"], epochs_done=int(ckpt["epoch"]))
        if ckpt.get("scaler") and self.scaler.is_enabled():
            self.scaler.load_state_dict(ckpt["scaler"])
        self.epoch, self.step = int(ckpt["epoch"]), int(ckpt["step"])
        self.best_err = float(ckpt["best_err"])
        self.history = list(ckpt["history"])
        self.progress_sums = ckpt["progress_sums"].clone()
        self.elapsed = float(ckpt["elapsed"])
        states = ckpt["rng"]
        if len(states) != self.info.world_size:  # resolve_config refuses it; so does a direct use
            raise CheckpointError(world_size_mismatch(len(states), self.info.world_size, self.out))
        set_rng_state(states[self.info.rank])

    # ---- small utilities

    def _stop_requested(self) -> bool:
        """Whether a signal asked any rank to stop; called after every step, by every rank.

        Under torchrun one all_reduce of one number over a CPU (gloo) group: tens of microseconds
        to a millisecond a step (a full-size step takes tens of milliseconds or more), and no wait
        for the GPU, whose work stays queued. A stop is
        thus acted on at the next step on all ranks together, not at the next ``--log-every``
        step: torchrun (and SLURM) send SIGKILL a fixed time after SIGTERM (torchrun: 30 s unless
        ``--shutdown-timeout``), and the collective save of last.pt must fit in it."""
        return any_rank(self.signals.signum is not None, self.info, self.device, self._control_group)

    def barrier(self) -> None:
        barrier(self.info)

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
            "classes": list(self.classes), "statistics": self.statistics.to_state(),
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

    def _purge_step(self) -> int | None:
        # The first TensorBoard point of a resumed session drops what a killed one logged later.
        return self._global_step() if self.epoch or self.step else None

    def _global_step(self) -> int:
        return self.epoch * len(self.train_data) + self.step

    def fit(self) -> int:
        """Train from the current epoch to ``cfg["epochs"]``; returns the exit status."""
        cfg = self.cfg
        resumed = self.epoch > 0 or self.step > 0
        self.run.start(self.cfg, self.argv, self.info, resumed, self.history)
        self._session_start = time.perf_counter()
        self._last_save = time.monotonic()
        with self.signals:  # Ctrl-C and SIGTERM: save last.pt at the next step, then stop
            try:
                if resumed:
                    where = f"epoch {self.epoch + 1}, step {self.step}" if self.step else \
                            f"the end of epoch {self.epoch}"
                    self.log(f"resumed from {self.out / 'last.pt'} at {where}")
                self.log(describe_run(cfg, self.model, len(self.classes), self.root, self.info, self.out))
                while self.epoch < cfg["epochs"]:
                    self._run_epoch()
                if self.epoch >= cfg["epochs"] and cfg["eval"]:
                    self._final_evaluation()
                return EXIT_OK
            except Stop as stop:
                if stop.signum is not None:
                    self.log(f"stopped by {signal.Signals(stop.signum).name}: {stop.reason}. "
                             f"Continue with: python -m alexnet_lib.train --out {self.out} --resume",
                             error=True)
                    return EXIT_SIGNAL[stop.signum]
                self.log(f"error: {stop.reason}", error=True)
                return EXIT_FAILED
            finally:
                self.run.close()

    def _check(self, interval: torch.Tensor, images: int, save_due: bool) -> tuple[bool, bool, bool]:
        """One synchronisation point: add the interval's sums (loss and hits, kept on the device
        so that steps never wait for the GPU; images) over all ranks, and agree on whether the
        loss is finite, a stop was asked for and a timed checkpoint is due."""
        flags = torch.tensor([float(images), float(self.signals.signum is not None),
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
                        raise Stop(nonfinite_message(self.out, epoch, self.step))
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
                    self.run.scalar("train/loss_running", loss_avg, self._global_step(),
                                    self._purge_step())
                    self.run.note_skipped(self.train_data.skipped[skipped_before:])
                    skipped_before = len(self.train_data.skipped)
                    if stop:
                        self.save()
                        raise Stop(f"saved last.pt at epoch {epoch + 1}, step {self.step}",
                                    self.signals.signum or signal.SIGTERM)
                    if save:
                        self.save()
                if last:
                    break
            if pending:  # the pipeline ended before `steps` (fewer batches than announced)
                finite, _, _ = self._check(interval, pending, False)
                if not finite:
                    raise Stop(nonfinite_message(self.out, epoch, self.step))
        finally:
            bar.close()
        seconds = time.perf_counter() - start
        self._end_epoch(epoch, seconds, steady)

    def _end_epoch(self, epoch: int, seconds: float, steady: list[float]) -> None:
        loss_sum, hits, seen = self.progress_sums.tolist()
        val = self._validate() if self.val_data is not None else None
        lr_used = self.schedule.lr
        change = self.schedule.update(epoch + 1, val.top1_err if val else None)
        self.schedule.apply(self.optimizer)
        self.epoch, self.step = epoch + 1, 0
        rate = steady[1] / steady[0] if steady[0] > 0 else float("nan")
        skipped = sum_over_ranks(len(self.train_data.skipped) - self._epoch_skip_start, self.info,
                                 self.device)
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
        self.run.end_epoch(row, self.history, self.cfg, self.info, improved)
        if change:
            self.log(change)
        if any_rank(self.signals.signum is not None, self.info, self.device):
            raise Stop(f"saved last.pt at the end of epoch {epoch + 1}",
                       self.signals.signum or signal.SIGTERM)

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
        model = place(model, self.cfg, self.device)
        results = [self._validate(False, model)]
        if self.cfg["ten_crop"]:
            results.append(self._validate(True, model))
        self.log(f"best.pt (epoch {state['epoch']}) on {results[0].images:,} validation images:\n"
                 + format_results(results))
        if self.cfg["dataset"] == "imagenet" and len(self.classes) == 1000:
            self.log(PAPER_RESULT)
        self.run.write_json("final.json", {"checkpoint": str(best), "epoch": state["epoch"],
                                           "results": [r.as_dict() for r in results]})
        if self.info.enabled:
            self._check_ranks_agree()

    def _check_ranks_agree(self) -> None:
        """Data parallelism keeps one model: every rank must hold the same parameters."""
        worst = largest_parameter_difference(self.model)
        if worst != 0.0:
            raise Stop(f"the {self.info.world_size} processes ended with different parameters "
                        f"(largest difference {worst:g})")
        self.log(f"parameters identical on all {processes(self.info.world_size)}")
