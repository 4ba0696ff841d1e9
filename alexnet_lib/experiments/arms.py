"""Arms trained for a fixed number of epochs over several seeds, each at a learning rate chosen on
a validation split: the shared runner of the fixed-budget evidence experiments.

Defined in the book's introduction ("What counts as evidence"); used by :mod:`.lrn_evidence`
(claim 2) and the later multi-seed experiments. (Figure 1, which times runs to a target instead,
has its own runner in :mod:`.figure1`.)

The protocol every user of this runner follows, fixed before its runs:

1. **Validation, never test, chooses.** The training split's first ``n_train`` images train; its
   next ``n_val`` images are the validation split; the test split is the generator's other split
   and is only reported. Each arm is trained at every rate of ``lrs`` with ``tuning_seed``; the
   rate with the lowest final validation error wins (ties: the smaller rate). A winner at an edge
   of the grid extends it by ``lr_step`` on that side (at most :data:`MAX_EXTENSIONS` times).
2. **Seeds.** Every arm is trained at its rate on each verdict seed (a seed sets the initial
   weights and the batch order; all arms share it) and measured on the test split.

Every tuning run and every (seed, arm) run is saved as it finishes (:class:`.SeedStore`), so a
run that is stopped resumes where it was. ``device="cuda"`` trains on a GPU with the same protocol
(the protocol does not name the device; the record's hardware does).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from ..data.builtin import make_tensors
from .evidence_record import SeedStore
from .loop import History, TensorData, TrainConfig, train

__all__ = ["MAX_EXTENSIONS", "split_data", "train_arm", "tune_arm", "run_arms"]

MAX_EXTENSIONS = 3


def split_data(p: dict[str, Any], workers: int = 1) -> tuple[TensorData, TensorData]:
    """(train vs validation, train vs test) from the built-in generator's ``p["data_style"]``
    (drawn by ``workers`` processes: the same bytes)."""
    n, n_val, size, seed, style = (p["n_train"], p["n_val"], p["image_size"], p["data_seed"],
                                   p["data_style"])
    x, y = make_tensors("train", n + n_val, size, seed, style, workers)
    test_x, test_y = make_tensors("val", p["n_test"], size, seed, style, workers)
    what = f"built-in {style} style (10 classes) at {size}x{size} px"
    val = TensorData(x[:n], y[:n], x[n:], y[n:], name="builtin",
                     description=f"{what}: {n:,} training, {n_val:,} validation images")
    test = TensorData(x[:n], y[:n], test_x, test_y, name="builtin",
                      description=f"{what}: {n:,} training, {n_val:,} validation (held out) "
                                  f"and {p['n_test']:,} test images")
    return val, test


def _config(p: dict[str, Any], lr: float, seed: int, device: str) -> TrainConfig:
    return TrainConfig(epochs=p["epochs"], batch_size=p["batch_size"], lr=lr,
                       momentum=p["momentum"], weight_decay=p["weight_decay"], seed=seed,
                       threads=p["threads"], preprocess=p["preprocess"],
                       eval_train=p.get("eval_train", True), lr_drops=tuple(p["lr_drops"]),
                       device=device)


def train_arm(make: Callable[[], nn.Module], lr: float, seed: int, data: TensorData,
              p: dict[str, Any], label: str = "", device: str = "cpu") -> tuple[nn.Module, History]:
    """One run of ``p["epochs"]`` epochs (learning rate /10 after each of ``p["lr_drops"]``); the
    model comes back on the CPU."""
    model, hist = train(make, data, _config(p, lr, seed, device), label=label)
    return model.cpu(), hist


def tune_arm(arm: str, make: Callable[[], nn.Module], val: TensorData, p: dict[str, Any],
             store: SeedStore, log: Callable[[str], None] = print, device: str = "cpu") -> float:
    """Step 1 for one arm: its learning rate (every tuning run saved in ``store``)."""
    tried: dict[float, float] = {}

    def attempt(lr: float) -> None:
        key = f"tuning-{arm}-lr{lr:g}"
        part = store.get(key)
        if part is None:
            _, hist = train_arm(make, lr, p["tuning_seed"], val, p, f"{arm}, lr={lr:g} (tuning)",
                                device)
            part = {"lr": lr, "val_error": hist.test_error[-1], "history": hist.to_dict()}
            store.put(key, part)
        tried[lr] = part["val_error"]
        log(f"  tuning {arm} lr={lr:g}: validation error {part['val_error']:.3f}")

    grid: Sequence[float] = p["lrs"]
    for lr in grid:
        attempt(lr)
    for _ in range(2 * MAX_EXTENSIONS):
        chosen = min(tried, key=lambda lr: (tried[lr], lr))
        if chosen == min(tried) and chosen > min(grid) / p["lr_step"] ** MAX_EXTENSIONS * 1.0001:
            attempt(chosen / p["lr_step"])
        elif chosen == max(tried) and chosen < max(grid) * p["lr_step"] ** MAX_EXTENSIONS * 0.9999:
            attempt(chosen * p["lr_step"])
        else:
            break
    return min(tried, key=lambda lr: (tried[lr], lr))


def run_arms(makers: dict[str, Callable[[], nn.Module]], seeds: Sequence[int], p: dict[str, Any],
             store: SeedStore, only: Sequence[str] | None = None,
             measure: Callable[[nn.Module, TensorData], dict[str, Any]] | None = None,
             log: Callable[[str], None] = print, device: str = "cpu",
             shared_lr: dict[str, str] | None = None,
             data: tuple[TensorData, TensorData] | None = None) -> dict[str, Any] | None:
    """Steps 1 and 2 for the arms in ``only`` (default: all); with every part of every arm saved,
    returns ``{"learning_rates": ..., "runs": {seed: {arm: part}}}``, else None.

    A part is the run's ``History`` dict, its final ``test_error`` and ``train_error``, the
    ``lr``, and whatever ``measure(model, data)`` adds (e.g. what LRN does inside the net).
    ``shared_lr`` maps an arm to the arm whose tuned rate it takes (tuned first if need be)
    instead of tuning its own. ``data`` is ``(validation, test)`` if already made (default
    :func:`split_data`).
    """
    shared = shared_lr or {}
    val, test = data or split_data(p)
    for arm in only or list(makers):
        tuned = shared.get(arm, arm)
        lr = tune_arm(tuned, makers[tuned], val, p, store, log, device)
        store.put(f"lr-{tuned}", {"lr": lr})
        log(f"{arm}: learning rate {lr:g}" + (f" (tuned on {tuned})" if tuned != arm else ""))
        for seed in seeds:
            key = f"seed{seed}-{arm}"
            part = store.get(key)
            if part is None:
                model, hist = train_arm(makers[arm], lr, seed, test, p, f"{arm}, seed {seed}",
                                        device)
                part = {"lr": lr, "test_error": hist.test_error[-1],
                        "train_error": hist.train_error[-1], "history": hist.to_dict()}
                if measure is not None:
                    with torch.no_grad():
                        part.update(measure(model, test))
                store.put(key, part)
            log(f"seed {seed}, {arm}: test error {part['test_error']:.3f}")
    lrs = {arm: store.get(f"lr-{shared.get(arm, arm)}") for arm in makers}
    runs = {str(s): {arm: store.get(f"seed{s}-{arm}") for arm in makers} for s in seeds}
    if any(v is None for v in lrs.values()) or any(
            v is None for parts in runs.values() for v in parts.values()):
        log("some arms' parts are not saved yet: no record written")
        return None
    return {"learning_rates": {a: v["lr"] for a, v in lrs.items()}, "runs": runs,
            "scale": test.description}
