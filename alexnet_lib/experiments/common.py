"""What every experiment shares: its configuration, its result, and building its data.

Defined in the book's chapter "ReLU vs tanh"; used by the four experiment chapters (ReLU vs tanh,
Local Response Normalization, overlapping pooling, dropout) and by the command line
``python -m alexnet_lib.experiments``.

An experiment is a function ``run(config, data=None, progress=False) -> ExperimentResult`` and a
function ``records(result, command) -> list[Record]``. Its configuration is a dataclass derived
from :class:`ExperimentConfig`; the class's field defaults are the run the book's chapter makes
(the *book preset*), and ``preset("cifar10")`` gives a bigger run for real data. Every field is
also a command-line flag, with the field's ``help`` as its help text.
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass, field
from typing import Any

from torch import nn

from ..data.builtin import STYLES
from .datasets import load_data
from .loop import PREPROCESS, History, TensorData, TrainConfig

__all__ = ["ExperimentConfig", "ExperimentResult", "arg", "describe_scale", "INITS"]

INITS = ("paper", "gaussian", "he", "torch", "caffe")
"""Initialisations an experiment can ask for: AlexNet's (:data:`alexnet_lib.model.INIT_SCHEMES`)
and the four-layer nets' (:data:`.nets.INITS`); 'gaussian' only for the four-layer nets, 'caffe'
only for AlexNet, and 'paper' is AlexNet's per-layer table or the four-layer nets' older name of
'gaussian'."""


def arg(default: Any, help: str) -> Any:  # noqa: A002 - mirrors argparse's name
    """A dataclass field with a help text (the command-line flag's help)."""
    if isinstance(default, list | dict):
        return field(default_factory=lambda: type(default)(default), metadata={"help": help})
    return field(default=default, metadata={"help": help})


@dataclass
class ExperimentConfig:
    """Settings every experiment has: the data, the optimiser and the seeds.

    Subclasses override the defaults (their book preset) and add their own fields.
    """

    dataset: str = arg("builtin", "'builtin' (the library's synthetic dataset, offline) or "
                                  "'cifar10' (CIFAR-10's python version on disk)")
    data: str | None = arg(None, "for --dataset cifar10: the folder that holds "
                                 "cifar-10-batches-py (default: data/cifar10)")
    n_train: int | None = arg(1000, "training images (the first ones of the split; "
                                    "for cifar10 omit for all 50,000)")
    n_test: int | None = arg(500, "test images (the built-in 'val' split or CIFAR-10's "
                                  "test batch)")
    image_size: int = arg(32, "side of the input images in pixels")
    data_seed: int = arg(0, "seed of the built-in dataset")
    data_style: str = arg("shapes", "style of the built-in dataset: 'shapes' (random colours on "
                                    "noise) or 'natural' (class palettes and colour casts on "
                                    "photographs)")
    epochs: int = arg(20, "passes over the training set")
    batch_size: int = arg(64, "images per SGD step")
    lr: float = arg(0.01, "learning rate (constant)")
    momentum: float = arg(0.9, "SGD momentum (the paper's 0.9)")
    weight_decay: float = arg(0.0, "weight decay on the weights (the paper's 5e-4; 0 = none)")
    seed: int = arg(0, "seed of the initial weights, the batch order and dropout")
    threads: int = arg(2, "CPU threads (results reproduce exactly only for the same count)")
    preprocess: str = arg("paper", "inputs: 'paper' (pixels 0..255 minus the mean image), 'unit' "
                                   "(pixels in [0, 1] minus the mean image) or 'standardize' "
                                   "(also divided by the per-channel std)")

    def __post_init__(self) -> None:
        if self.dataset not in ("builtin", "cifar10"):
            raise ValueError(f"dataset must be 'builtin' or 'cifar10', got {self.dataset!r}")
        if self.data_style not in STYLES:
            raise ValueError(f"data_style must be one of {STYLES}, got {self.data_style!r}")
        if self.preprocess not in PREPROCESS:
            raise ValueError(f"preprocess must be one of {PREPROCESS}, got {self.preprocess!r}")
        for name in ("n_train", "n_test"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be at least 1, got {value}")
        if getattr(self, "init", "paper") not in INITS:
            raise ValueError(f"init must be one of {INITS}, got {self.init!r}")
        self.train_config()  # checks epochs, batch size and learning rate

    def train_config(self, **overrides: Any) -> TrainConfig:
        """The :class:`TrainConfig` of one run, with ``overrides`` (e.g. another ``lr``)."""
        base = dict(epochs=self.epochs, batch_size=self.batch_size, lr=self.lr,
                    momentum=self.momentum, weight_decay=self.weight_decay, seed=self.seed,
                    threads=self.threads, preprocess=self.preprocess)
        base.update(overrides)
        return TrainConfig(**base)

    def load(self) -> TensorData:
        """The data this configuration names."""
        return load_data(self.dataset, self.n_train, self.n_test, self.image_size, self.data,
                         self.data_seed, self.data_style)

    @classmethod
    def preset(cls, dataset: str = "builtin") -> ExperimentConfig:
        """The book's run for ``"builtin"``; subclasses give a bigger run for ``"cifar10"``."""
        if dataset == "builtin":
            return cls()
        return cls(dataset=dataset, n_train=None, n_test=None, **cls.cifar10_overrides())

    @classmethod
    def cifar10_overrides(cls) -> dict[str, Any]:
        """Fields that differ from the book preset in the CIFAR-10 preset."""
        return {}

    def replace(self, **changes: Any) -> ExperimentConfig:
        """A copy with ``changes`` applied."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ExperimentResult:
    """What an experiment measured: its runs' per-epoch histories and the summary numbers.

    ``models`` keeps the trained networks for the chapter to look inside (not saved to JSON).
    """

    name: str
    config: dict[str, Any]
    scale: str
    runs: dict[str, History]
    summary: dict[str, Any]
    models: dict[str, nn.Module] = field(default_factory=dict, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """Everything but the models, as JSON-ready values."""
        return {"name": self.name, "config": self.config, "scale": self.scale,
                "runs": {k: h.to_dict() for k, h in self.runs.items()}, "summary": self.summary}

    @classmethod
    def from_dict(cls, saved: dict[str, Any]) -> ExperimentResult:
        """The result :meth:`to_dict` saved (a record's ``"result"``), without its models: what a
        chapter plots and judges, the same on every machine."""
        runs = {k: History(**h) for k, h in saved["runs"].items()}
        return cls(saved["name"], saved["config"], saved["scale"], runs, saved["summary"])


def describe_scale(data: TensorData, network: str, config: ExperimentConfig) -> str:
    """One line saying what a number was measured on: data, network, epochs, seed, device."""
    return (f"{data.description}; {network}; {config.epochs} epochs, batch {config.batch_size}, "
            f"seed {config.seed}; CPU")
