"""The paper's small CIFAR-10 network, for the experiments the paper ran on it.

Defined in the book's chapter "ReLU vs tanh" (Figure 1) and used again in "Local Response
Normalization" (the CIFAR-10 result of Section 3.3).

The paper measured two ideas on "a four-layer convolutional neural network" on CIFAR-10 rather
than on AlexNet: ReLU vs tanh (Figure 1) and LRN (13% vs 11% test error). It does not print that
network. :class:`FourLayerNet` is our reconstruction in the style of the CIFAR-10 examples that
shipped with the original code (cuda-convnet): three 5x5 convolutional layers of 32, 32 and 64
kernels, each followed by 3x3 stride-2 max pooling, then one fully-connected layer to the 10
classes: four layers with weights. Activation and normalisation are switches, so the same
network (and, under the same seed, the same initial weights) serves every comparison.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Literal

import torch
from torch import Tensor, nn

from ..lrn import LocalResponseNorm, LRNConfig
from ..model import INIT_SCHEMES

__all__ = ["FourLayerNet", "initialise", "INITS", "INIT_ALIASES"]

Norm = Literal["none", "lrn", "batchnorm"]


class FourLayerNet(nn.Module):
    """Three conv layers + one fully-connected layer, with switchable activation and normalisation.

    Args:
        num_classes: outputs of the last layer.
        activation: ``"relu"`` or ``"tanh"``.
        norm: ``"none"``; ``"lrn"``: the paper's Local Response Normalization after the
            activation of conv1 and conv2, before pooling (AlexNet's order); or ``"batchnorm"``:
            ``nn.BatchNorm2d`` after every conv, before the activation (the usual place since
            Ioffe and Szegedy, 2015), the layer that later replaced LRN.
        lrn: LRN hyper-parameters in the paper's convention (default: the paper's k=2, n=5,
            alpha=1e-4, beta=0.75).
        channels: kernels of conv1..conv3.
        input_size: side of the square input (32 for CIFAR-10).
        init: the initial weights, one of :data:`INITS` (see :func:`initialise`).

    Pooling rounds up (``ceil_mode``), as the original code's pooling layers did, so a 32x32
    input gives 16x16, 8x8 and 4x4 maps.
    """

    def __init__(
        self,
        num_classes: int = 10,
        *,
        activation: Literal["relu", "tanh"] = "relu",
        norm: Norm = "none",
        lrn: LRNConfig | str = "paper",
        channels: Sequence[int] = (32, 32, 64),
        input_size: int = 32,
        init: Literal["gaussian", "paper", "torch", "he"] = "gaussian",
    ) -> None:
        super().__init__()
        if activation not in ("relu", "tanh"):
            raise ValueError(f"activation must be 'relu' or 'tanh', got {activation!r}")
        if norm not in ("none", "lrn", "batchnorm"):
            raise ValueError(f"norm must be 'none', 'lrn' or 'batchnorm', got {norm!r}")
        if len(channels) != 3:
            raise ValueError(f"channels must give 3 conv layers' kernel counts, got {channels}")
        self.config = dict(num_classes=num_classes, activation=activation, norm=norm,
                           channels=tuple(channels), input_size=input_size)
        layers: list[tuple[str, nn.Module]] = []
        in_c = 3
        for i, out_c in enumerate(channels, start=1):
            layers.append((f"conv{i}", nn.Conv2d(in_c, out_c, kernel_size=5, padding=2)))
            if norm == "batchnorm":
                layers.append((f"bn{i}", nn.BatchNorm2d(out_c)))
            layers.append((f"act{i}", nn.ReLU() if activation == "relu" else nn.Tanh()))
            if norm == "lrn" and i < 3:
                layers.append((f"norm{i}", LocalResponseNorm.from_config(lrn)))
            layers.append((f"pool{i}", nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True)))
            in_c = out_c
        self.features = nn.Sequential(OrderedDict(layers))
        with torch.no_grad():
            n_features = self.features(torch.zeros(1, 3, input_size, input_size))[0].numel()
        self.classifier = nn.Linear(n_features, num_classes)
        initialise(self, init)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(torch.flatten(self.features(x), 1))


INITS: tuple[str, ...] = ("gaussian", "he", "torch")
"""The initialisations of :func:`initialise`. ``"he"`` and ``"torch"`` are
:data:`alexnet_lib.model.INIT_SCHEMES`' own; ``"gaussian"`` is the paper's N(0, 0.01) with zero
biases. It is not AlexNet's ``"paper"`` scheme, whose biases are 1 in the layers the paper names
(conv2, conv4, conv5, fc6, fc7): the four-layer nets have none of those layers."""

INIT_ALIASES: dict[str, str] = {"paper": "gaussian"}
"""Older names: the first chapter records (``book/results/relu_tanh.json``, ``lrn.json``) call
the Gaussian scheme ``"paper"``, and replay under that name."""


def initialise(model: nn.Module, scheme: str = "gaussian", std: float = 0.01) -> nn.Module:
    """Re-initialise every conv and linear layer of ``model`` in place; returns ``model``.

    ``"gaussian"`` (or its older name ``"paper"``): weights N(0, ``std``) (the paper's 0.01) and
    zero biases; ``"he"``: Kaiming-normal weights for ReLUs (He et al., 2015) and zero biases;
    ``"torch"``: PyTorch's default. BatchNorm layers keep their default (weight 1, bias 0).
    """
    name = INIT_ALIASES.get(scheme, scheme)
    if name not in INITS:
        raise ValueError(f"init must be one of {[*INITS, *INIT_ALIASES]}, got {scheme!r}")
    def gaussian(_: str, layer: nn.Module) -> None:
        nn.init.normal_(layer.weight, 0.0, std)
        nn.init.zeros_(layer.bias)

    draw = gaussian if name == "gaussian" else INIT_SCHEMES[name]
    for m in model.modules():
        if isinstance(m, nn.Conv2d | nn.Linear):
            draw("", m)  # "he" and "torch" draw the same for any layer name
    return model
