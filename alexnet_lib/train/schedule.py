"""The learning-rate schedule and the optimizer's parameter groups.

Defined in the book's chapter "Training AlexNet at ImageNet scale" (the schedule); used by
:class:`alexnet_lib.train.Trainer`.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

__all__ = ["LRSchedule", "param_groups"]


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


def param_groups(model: nn.Module, weight_decay: float, bias_decay: bool) -> list[dict[str, Any]]:
    """SGD's parameter groups: weight decay on the weights, and on the biases if ``bias_decay``."""
    decay, no_decay = [], []
    for p in model.parameters():
        (decay if p.ndim > 1 or bias_decay else no_decay).append(p)
    groups = [{"params": decay, "weight_decay": weight_decay}]
    if no_decay:
        groups.append({"params": no_decay, "weight_decay": 0.0})
    return groups

