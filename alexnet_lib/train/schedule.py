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
    """The learning rate per epoch: the paper's plateau rule or a fixed step, computed by torch's
    own schedulers (``ReduceLROnPlateau``, ``StepLR``).

    ``plateau``: after each epoch, if the validation top-1 error has not fallen by more than
    ``threshold`` below its best for ``patience`` epochs, multiply the lr by ``factor``, at most
    ``max_drops`` times (the paper: "divide the learning rate by 10 when the validation error rate
    stopped improving with the current learning rate ... reduced three times prior to
    termination"). ``ReduceLROnPlateau`` counts the same bad epochs but drops after *more* than
    its ``patience``, hence ``patience - 1``; its ``min_lr``, the lr after ``max_drops`` drops,
    stops a fourth. ``step``: ``lr * factor ** (epoch // step_epochs)`` (``StepLR``).

    The schedulers drive an optimizer of one dummy parameter of their own, so that the schedule
    works without a network (the chapter feeds it a made-up validation curve); :meth:`apply`
    copies the lr into the training optimizer.
    """

    def __init__(self, kind: str, lr: float, factor: float = 0.1, patience: int = 3,
                 threshold: float = 0.001, max_drops: int = 3, step_epochs: int = 30) -> None:
        if kind not in ("plateau", "step"):
            raise ValueError(f"schedule must be 'plateau' or 'step', got {kind!r}")
        self.kind, self.base_lr, self.factor = kind, lr, factor
        self.patience, self.threshold, self.max_drops, self.step_epochs = (patience, threshold,
                                                                           max_drops, step_epochs)
        self.drops = 0
        self._optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr)
        self.scheduler: Any
        if kind == "step":
            self.scheduler = torch.optim.lr_scheduler.StepLR(self._optimizer, step_epochs, factor)
        else:
            floor = lr
            for _ in range(max_drops):  # the same products as the drops: an exact floor
                floor *= factor
            self.scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
                self._optimizer, mode="min", factor=factor, patience=patience - 1,
                threshold=threshold, threshold_mode="abs", min_lr=floor, eps=0.0)
        self._optimizer.step()  # a no-op (no gradient), so that the scheduler knows it has run

    @property
    def lr(self) -> float:
        """The learning rate of the next epoch."""
        return float(self._optimizer.param_groups[0]["lr"])

    @property
    def best(self) -> float:
        """The lowest validation error so far (plateau schedule)."""
        return float(getattr(self.scheduler, "best", math.inf))

    @property
    def bad_epochs(self) -> int:
        """Epochs since the last improvement or drop (plateau schedule)."""
        return int(getattr(self.scheduler, "num_bad_epochs", 0))

    def update(self, epochs_done: int, val_error: float | None) -> str | None:
        """Set the lr for the next epoch; returns a message when it changed."""
        old = self.lr
        if self.kind == "step":
            self.scheduler.step()
        elif val_error is not None:  # no validation (--no-eval): the lr stays
            self.scheduler.step(val_error)
        if self.lr != old:
            self.drops += 1
            why = (f"after {epochs_done} epochs" if self.kind == "step" else
                   f"validation error has not improved for {self.patience} epochs")
            return f"learning rate {old:g} -> {self.lr:g} (drop {self.drops}: {why})"
        return None

    def apply(self, optimizer: torch.optim.Optimizer) -> None:
        for group in optimizer.param_groups:
            group["lr"] = self.lr

    def state_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "lr": self.lr, "drops": self.drops,
                "scheduler": self.scheduler.state_dict()}

    def load_state_dict(self, state: dict[str, Any], epochs_done: int | None = None) -> None:
        """Restore :meth:`state_dict`, or the state a checkpoint saved before the schedule used
        torch's schedulers (``lr``, ``best``, ``bad_epochs``, ``drops``); a step schedule of that
        kind also needs ``epochs_done``, the checkpoint's epoch."""
        self.drops = int(state["drops"])
        if "scheduler" in state:
            self.scheduler.load_state_dict(state["scheduler"])
        elif self.kind == "plateau":  # the old rule's state is ReduceLROnPlateau's
            self.scheduler.best = float(state["best"])
            self.scheduler.num_bad_epochs = int(state["bad_epochs"])
        elif epochs_done is None:
            raise ValueError("this step schedule was saved by an older version, without its epoch "
                             "count: pass epochs_done (the checkpoint's 'epoch')")
        else:
            self.scheduler.last_epoch = epochs_done
        self._optimizer.param_groups[0]["lr"] = float(state["lr"])
        self.scheduler._last_lr = [float(state["lr"])]  # what get_last_lr() reports


def param_groups(model: nn.Module, weight_decay: float, bias_decay: bool) -> list[dict[str, Any]]:
    """SGD's parameter groups: weight decay on the weights, and on the biases if ``bias_decay``."""
    decay, no_decay = [], []
    for p in model.parameters():
        (decay if p.ndim > 1 or bias_decay else no_decay).append(p)
    groups = [{"params": decay, "weight_decay": weight_decay}]
    if no_decay:
        groups.append({"params": no_decay, "weight_decay": 0.0})
    return groups

