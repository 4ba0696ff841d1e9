"""ReLU vs tanh: how many epochs each needs to reach a training error (the paper's Figure 1).

Defined in the book's chapter "ReLU vs tanh" (paper Section 3.1, Figure 1; claim 1).

The paper: "a four-layer convolutional neural network with ReLUs reaches a 25% training error
rate on CIFAR-10 six times faster than an equivalent network with tanh neurons"; the learning
rate of each network was "chosen independently to make training as fast as possible", and no
regularisation was used.

Here both networks are :class:`~alexnet_lib.experiments.nets.FourLayerNet`, built under the same
seed, so they start from the same weights. Each is trained at every learning rate of a small
grid (the same grid for both), so the comparison can be read two ways: at the *same* learning
rate, and each at its *own best* learning rate (the paper's protocol). Training error is the
running error of the mini-batches (no dropout or BatchNorm here, so that is the training error as
the original code printed it). The wall-clock seconds of each epoch are recorded too: the
claimed benefit of ReLUs is fewer epochs, not cheaper ones.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any

import torch

from .common import ExperimentConfig, ExperimentResult, arg, describe_scale
from .loop import History, TensorData, epochs_to_reach, fixed_threads, train
from .nets import FourLayerNet
from .records import Record

__all__ = ["ReluTanhConfig", "run", "records", "conv1_saturation", "best_lr", "ACTIVATIONS"]

ACTIVATIONS = ("relu", "tanh")
NAME = "relu_tanh"


@dataclass
class ReluTanhConfig(ExperimentConfig):
    """The book's run: 500 built-in 32x32 images, a 16-16-32 four-layer net, 30 epochs."""

    n_train: int | None = arg(500, "training images (for cifar10 omit for all 50,000)")
    n_test: int | None = arg(500, "test images")
    epochs: int = arg(30, "passes over the training set")
    lrs: list[float] = arg([0.003, 0.01, 0.03], "learning rates, comma-separated: both "
                                                "networks are trained at each")
    channels: list[int] = arg([16, 16, 32], "kernels of conv1..conv3 (the paper-style CIFAR-10 "
                                            "net has 32,32,64)")
    init: str = arg("gaussian", "initial weights: 'gaussian' (N(0, 0.01), biases 0; older "
                               "records call it 'paper'), 'he' or 'torch'")
    targets: list[float] = arg([0.5, 0.25], "training errors to time, comma-separated "
                                            "(the paper's target is 0.25)")

    @classmethod
    def cifar10_overrides(cls) -> dict[str, Any]:
        return {"channels": [32, 32, 64], "epochs": 30}


def label(activation: str, lr: float) -> str:
    """The run name used in results: ``"relu, lr=0.01"``."""
    return f"{activation}, lr={lr:g}"


def best_lr(runs: dict[str, History], activation: str, lrs: list[float]) -> float:
    """The learning rate with which ``activation`` trained fastest: the lowest mean training error
    over all epochs (the area under its curve), one number that rewards reaching low error early."""
    return min(lrs, key=lambda lr: statistics.fmean(runs[label(activation, lr)].train_error))


@torch.no_grad()
def conv1_saturation(config: ReluTanhConfig, data: TensorData, images: int = 256) -> dict[str, float]:
    """How the initial network's conv1 units sit on each activation's curve, before training.

    Returns the fraction of conv1 pre-activations ``z`` (over ``images`` training images) with
    ``|z| > 2``, where tanh's slope is below 0.071 (saturated), the fraction with ``z < 0``, where
    a ReLU passes no gradient, and the standard deviation of ``z``.
    """
    with fixed_threads(config.threads):
        torch.manual_seed(config.seed)
        net = FourLayerNet(activation="tanh", channels=config.channels,
                           input_size=data.image_size, init=config.init)
        x, _ = data.inputs(config.preprocess)
        z = net.features.conv1(x[:images])
    return {"tanh_saturated": float((z.abs() > 2).float().mean()),
            "relu_zero_gradient": float((z < 0).float().mean()),
            "preactivation_std": float(z.std())}


def run(config: ReluTanhConfig | None = None, data: TensorData | None = None,
        progress: bool = False) -> ExperimentResult:
    """Train the ReLU and the tanh network at every learning rate of ``config.lrs``."""
    config = config or ReluTanhConfig()
    data = data if data is not None else config.load()
    runs: dict[str, History] = {}
    models = {}
    for lr in config.lrs:
        for act in ACTIVATIONS:
            name = label(act, lr)

            def make(act: str = act) -> FourLayerNet:
                return FourLayerNet(activation=act, channels=config.channels,
                                    input_size=data.image_size, init=config.init)

            models[name], runs[name] = train(make, data, config.train_config(lr=lr, eval_train=False),
                                             name, progress)
    summary = summarize(runs, config)
    summary["saturation_at_init"] = conv1_saturation(config, data)
    network = (f"four-layer CNN (conv {'-'.join(map(str, config.channels))}, 5x5, + fc), "
               f"init {config.init!r}, inputs {config.preprocess!r}")
    return ExperimentResult(NAME, config.to_dict(), describe_scale(data, network, config), runs,
                            summary, models)


def summarize(runs: dict[str, History], config: ReluTanhConfig) -> dict[str, Any]:
    """Epochs to each target per run, the speed-ups, the best learning rates and the timings."""
    targets = sorted(config.targets, reverse=True)
    epochs_to = {name: {f"{t:g}": epochs_to_reach(h.train_error, t) for t in targets}
                 for name, h in runs.items()}

    def ratio(relu: int | None, tanh: int | None) -> float | None:
        return tanh / relu if relu is not None and tanh is not None else None

    same_lr = [{"lr": lr, "target": t,
                "relu_epochs": epochs_to[label("relu", lr)][f"{t:g}"],
                "tanh_epochs": epochs_to[label("tanh", lr)][f"{t:g}"],
                "speedup": ratio(epochs_to[label("relu", lr)][f"{t:g}"],
                                 epochs_to[label("tanh", lr)][f"{t:g}"])}
               for lr in config.lrs for t in targets]
    best = {act: best_lr(runs, act, config.lrs) for act in ACTIVATIONS}
    best_runs = {act: runs[label(act, best[act])] for act in ACTIVATIONS}
    at_best = [{"target": t,
                "relu_epochs": epochs_to_reach(best_runs["relu"].train_error, t),
                "tanh_epochs": epochs_to_reach(best_runs["tanh"].train_error, t)}
               for t in targets]
    for row in at_best:
        row["speedup"] = ratio(row["relu_epochs"], row["tanh_epochs"])
    seconds = {act: statistics.median(h.seconds_per_epoch for name, h in runs.items()
                                      if name.startswith(act)) for act in ACTIVATIONS}
    return {
        "targets": targets,
        "epochs_to": epochs_to,
        "same_lr": same_lr,
        "best_lr": best,
        "at_best_lr": at_best,
        "final_train_error": {name: h.train_error[-1] for name, h in runs.items()},
        "final_test_error": {name: h.test_error[-1] for name, h in runs.items()},
        "seconds_per_epoch": seconds,
        "tanh_time_ratio": seconds["tanh"] / seconds["relu"],
    }


def verdict(summary: dict[str, Any]) -> tuple[str, dict[str, Any] | None]:
    """The claim's status and the row of ``at_best_lr`` it rests on.

    The row is the lowest target that at least one network reached at its best learning rate.
    "reproduced" means the ReLU network reached it in fewer epochs than the tanh network (or the
    tanh network never did).
    """
    reached = [r for r in summary["at_best_lr"]
               if r["relu_epochs"] is not None or r["tanh_epochs"] is not None]
    if not reached:
        return "not reproduced at this scale", None
    row = reached[-1]
    relu, tanh = row["relu_epochs"], row["tanh_epochs"]
    faster = relu is not None and (tanh is None or relu < tanh)
    return ("reproduced" if faster else "not reproduced at this scale"), row


def _epochs(n: int | None, epochs: int) -> str:
    return f"{n} epochs" if n is not None else f"not within {epochs} epochs"


def records(result: ExperimentResult, command: str = "", commit: str = "") -> list[Record]:
    """The claim-1 record: epochs to the target at each network's best learning rate."""
    s, epochs = result.summary, result.config["epochs"]
    status, row = verdict(s)
    if row is None:
        ours = f"neither network reached {s['targets'][0]:.0%} training error in {epochs} epochs"
    else:
        speed = f"; speed-up {row['speedup']:.2f}x" if row["speedup"] is not None else ""
        ours = (f"to {row['target']:.0%} training error at each one's best learning rate: ReLU "
                f"{_epochs(row['relu_epochs'], epochs)} (lr {s['best_lr']['relu']:g}), tanh "
                f"{_epochs(row['tanh_epochs'], epochs)} (lr {s['best_lr']['tanh']:g}){speed}")
    values = {"at_best_lr": s["at_best_lr"], "best_lr": s["best_lr"], "same_lr": s["same_lr"]}
    return [Record(
        claim=1,
        claim_text="ReLU: a four-layer CNN reaches 25% training error on CIFAR-10 six times "
                   "faster than the same net with tanh (Figure 1)",
        paper="6x fewer epochs to 25% training error (CIFAR-10)",
        ours=ours, scale=result.scale, status=status, experiment=NAME,
        notebook="book/relu.ipynb", command=command, commit=commit, values=values)]
