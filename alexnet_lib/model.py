"""AlexNet as described in the paper (Section 3.5, Figure 2), with a switch for every ablation.

Defined in the book's chapter "The architecture"; the switches are exercised by the chapters on
ReLU, LRN, overlapping pooling, dropout and the two-GPU split.

``AlexNet()`` with no arguments is the paper's network: 60,965,224 parameters, feature maps
55x55x96 -> 27x27x96 -> 27x27x256 -> 13x13x256 -> 13x13x384 -> 13x13x384 -> 13x13x256 -> 6x6x256,
then 4096 -> 4096 -> 1000.

224 vs 227. The paper feeds 224x224 crops to an 11x11 stride-4 convolution and gets 55x55, which
only works out with padding: (224 - 11) / 4 + 1 = 54.25. The original cuda-convnet code rounds up
(out = 1 + ceil((2p + in - f) / s)), Caffe crops 227x227 instead. We keep the paper's 224 crops and
pad conv1 by 2 pixels (as torchvision does): (224 + 2*2 - 11) // 4 + 1 = 55. Use
``conv1_padding=0`` with ``input_size=227`` for Caffe's arithmetic; both give 55x55x96.

The two-column ("two-GPU") network is expressed with grouped convolutions: ``groups=2`` makes
conv2, conv4 and conv5 see only their own column's half of the input maps, while conv3, fc6, fc7
and fc8 see both, exactly the connectivity of Figure 2. ``alexnet_lib.towers`` puts the columns
on two devices.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor, nn

from .lrn import LRN_PRESETS, LocalResponseNorm

__all__ = ["AlexNet", "LayerRow", "layer_table", "format_layer_table", "conv_output_size",
           "PAPER_CHANNELS", "INIT_TABLES", "INIT_SCHEMES", "INIT_ALIASES", "INIT_NAMES", "init_scheme"]

PAPER_CHANNELS: tuple[int, int, int, int, int] = (96, 256, 384, 384, 256)  # conv1..conv5 kernels
PAPER_HIDDEN = 4096  # units in fc6 and fc7

Activation = Literal["relu", "tanh"]
Pooling = Literal["overlapping", "non-overlapping"]
Init = Literal["paper", "paper-code", "caffe", "torch", "he", "kaiming"]

# Layers whose bias the paper initialises to 1 ("accelerates the early stages of learning by
# providing the ReLUs with positive inputs"); Caffe's bvlc_alexnet uses 0.1 there instead.
_POSITIVE_BIAS_LAYERS = ("conv2", "conv4", "conv5", "fc6", "fc7")

INIT_TABLES: dict[str, dict[str, tuple[float, float]]] = {
    # Section 5: "We initialized the weights in each layer from a zero-mean Gaussian distribution
    # with standard deviation 0.01. We initialized the neuron biases in the second, fourth, and
    # fifth convolutional layers, as well as in the fully-connected hidden layers, with the
    # constant 1. We initialized the neuron biases in the remaining layers with the constant 0."
    "paper": {name: (0.01, 1.0 if name in _POSITIVE_BIAS_LAYERS else 0.0)
              for name in ("conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8")},
    # The original code's per-layer settings for this network: cuda-convnet2,
    # layers/layers-imagenet-2gpu-model.cfg (the paper's two-column net, 48+48, 128+128,
    # 192+192, 192+192, 128+128 kernels, 2048+2048 units), initW / initB of each layer: the
    # paper's biases, but conv3, conv4 and conv5 drawn with std 0.03 instead of 0.01.
    "paper-code": {"conv1": (0.01, 0.0), "conv2": (0.01, 1.0), "conv3": (0.03, 0.0),
                   "conv4": (0.03, 1.0), "conv5": (0.03, 1.0), "fc6": (0.01, 1.0),
                   "fc7": (0.01, 1.0), "fc8": (0.01, 0.0)},
    # Caffe's models/bvlc_alexnet/train_val.prototxt (weight_filler std, bias_filler value):
    # bias 0.1 where the paper has 1 (its readme: bias 1 "gave flat loss"), fc6/fc7 std 0.005.
    "caffe": {"conv1": (0.01, 0.0), "conv2": (0.01, 0.1), "conv3": (0.01, 0.0),
              "conv4": (0.01, 0.1), "conv5": (0.01, 0.1), "fc6": (0.005, 0.1),
              "fc7": (0.005, 0.1), "fc8": (0.01, 0.0)},
}
"""(weight std, bias) of every layer for the initialisations drawn from a Gaussian, by source."""


def _gaussian(table: dict[str, tuple[float, float]]) -> Callable[[str, nn.Module], None]:
    def draw(name: str, layer: nn.Module) -> None:
        std, bias = table[name]
        nn.init.normal_(layer.weight, 0.0, std)
        nn.init.constant_(layer.bias, bias)
    return draw


def _torch(name: str, layer: nn.Module) -> None:
    layer.reset_parameters()  # type: ignore[operator]


def _he(name: str, layer: nn.Module) -> None:
    nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
    nn.init.zeros_(layer.bias)


INIT_SCHEMES: dict[str, Callable[[str, nn.Module], None]] = {
    **{source: _gaussian(table) for source, table in INIT_TABLES.items()},
    "torch": _torch,  # PyTorch's default (Kaiming-uniform weights, uniform biases)
    "he": _he,  # He et al. 2015: fan-in normal for ReLUs, biases 0
}
"""Every initialisation of :class:`AlexNet`, by name: ``draw(layer_name, layer)`` initialises one
conv or linear layer (``layer_name`` is ``"conv1"`` .. ``"fc8"``), layer by layer in order."""

INIT_ALIASES: dict[str, str] = {"kaiming": "he"}
"""Other names of a scheme. The training command called He et al.'s scheme ``kaiming`` (saved
checkpoints' ``model_config`` and the training chapter's ``--init kaiming`` say so); the
experiments call it ``he``. Both are accepted and draw the same weights."""

INIT_NAMES: tuple[str, ...] = (*INIT_SCHEMES, *INIT_ALIASES)
"""Every name :class:`AlexNet`'s ``init`` accepts."""


def init_scheme(name: str) -> str:
    """The scheme of :data:`INIT_SCHEMES` that ``name`` names (an alias resolved); ValueError
    for a name that is none of :data:`INIT_NAMES`."""
    scheme = INIT_ALIASES.get(name, name)
    if scheme not in INIT_SCHEMES:
        raise ValueError(f"init must be one of {list(INIT_NAMES)}, got {name!r}")
    return scheme
_GROUPED_LAYERS = ("conv2", "conv4", "conv5")  # see only their own column (Figure 2)


def conv_output_size(size: int, kernel: int, stride: int = 1, padding: int = 0,
                     ceil: bool = False) -> int:
    """Output side of a convolution or pooling window: floor (PyTorch, Caffe) or ceil (cuda-convnet).

    ``conv_output_size(224, 11, 4)`` is 54, ``conv_output_size(224, 11, 4, padding=2)`` and
    ``conv_output_size(227, 11, 4)`` are 55, and cuda-convnet's rounding up gives
    ``conv_output_size(224, 11, 4, ceil=True) == 55``.
    """
    span = size + 2 * padding - kernel
    return (-(-span // stride) if ceil else span // stride) + 1


def _activation(name: Activation) -> nn.Module:
    if name == "relu":
        return nn.ReLU(inplace=True)
    if name == "tanh":
        return nn.Tanh()
    raise ValueError(f"activation must be 'relu' or 'tanh', got {name!r}")


def _pool(kind: Pooling) -> nn.Module:
    if kind == "overlapping":  # z=3, s=2 (Section 3.4)
        return nn.MaxPool2d(kernel_size=3, stride=2)
    if kind == "non-overlapping":  # z=2, s=2, the traditional pooling the paper compares with
        return nn.MaxPool2d(kernel_size=2, stride=2)
    raise ValueError(f"pooling must be 'overlapping' or 'non-overlapping', got {kind!r}")


def _scaled(channels: int, width: float, groups: int) -> int:
    """Channels times ``width``, rounded to a positive multiple of ``groups``."""
    return max(groups, int(round(channels * width / groups)) * groups)


class AlexNet(nn.Module):
    """The network of Krizhevsky, Sutskever and Hinton (2012), with every studied choice a switch.

    Args:
        num_classes: outputs of fc8 (1000 for ImageNet).
        activation: ``"relu"`` (paper) or ``"tanh"`` (the saturating baseline of Figure 1).
        lrn: ``"paper"`` (Section 3.3 as printed: k=2, n=5, alpha=1e-4, beta=0.75 with alpha on the
            plain sum), ``"caffe"`` (the original code's alpha, 5x smaller in the paper's
            convention), or ``None`` for no normalisation. Applied after the ReLU of conv1 and
            conv2, before pooling.
        lrn_per_column: with ``groups=2``, normalise each column's maps on their own, as the
            paper's GPUs did (each held only its column's maps; they "communicate only in certain
            layers"). False: one window over all maps of the layer, so the maps at the border
            of the columns see the other column's (Caffe's bvlc_alexnet).
        pooling: ``"overlapping"`` (z=3, s=2, paper) or ``"non-overlapping"`` (z=2, s=2). For a
            224 input both give the same map sizes (27, 13, 6).
        dropout: probability of zeroing an fc6/fc7 output during training (0.5 in the paper;
            0 disables). PyTorch's inverted dropout scales by 1/(1-p) at train time, which is the
            paper's "multiply by 0.5 at test time" up to a constant factor.
        groups: 2 = the paper's two columns (conv2/4/5 grouped), 1 = a single column.
        width: multiplier on every conv layer's kernel count (0.5 = "half the kernels"; small
            values give CPU-sized nets).
        channels: kernel counts of conv1..conv5 before ``width``; default the paper's
            (96, 256, 384, 384, 256). Counts are rounded to a multiple of ``groups``.
        hidden: units in fc6 and fc7 (4096 in the paper).
        input_size: side of the square input, used to size fc6 (224 in the paper).
        conv1_padding: padding of conv1 (2 makes 224 -> 55; use 0 with 227 inputs like Caffe).
        conv1_kernel, conv1_stride: conv1's 11x11 window and stride 4, the paper's; smaller
            ones let a CPU-sized input (32 px) keep maps with spatial extent up to pool5.
        remove: middle conv layers to leave out, ``"conv3"`` and/or ``"conv4"`` (Section 7:
            "removing any of the middle layers results in a loss of about 2% for the top-1
            performance"). The next conv layer then reads the maps the removed one would have;
            without conv3 the columns never meet before fc6.
        init: ``"paper"`` (weights N(0, 0.01); bias 1 in conv2/4/5, fc6, fc7, else 0),
            ``"paper-code"`` (the original code's per-layer values, cuda-convnet2's
            layers-imagenet-2gpu-model.cfg: the paper's, but std 0.03 in conv3/4/5),
            ``"caffe"`` (bvlc_alexnet: bias 0.1 where the paper has 1, fc6/fc7 weights
            N(0, 0.005)), each layer's values in :data:`INIT_TABLES`; ``"torch"`` (PyTorch's
            default Kaiming-uniform, for small experiments where N(0, 0.01) is too small to
            train a deep net quickly) or
            ``"he"`` (He et al. 2015's fan-in normal for ReLUs, biases 0; ``"kaiming"`` is
            another name of it, the training command's ``--init kaiming``). All are in
            :data:`INIT_SCHEMES`.
    """

    def __init__(
        self,
        num_classes: int = 1000,
        *,
        activation: Activation = "relu",
        lrn: str | None = "paper",
        lrn_per_column: bool = True,
        pooling: Pooling = "overlapping",
        dropout: float = 0.5,
        groups: int = 2,
        width: float = 1.0,
        channels: Sequence[int] | None = None,
        hidden: int = PAPER_HIDDEN,
        input_size: int = 224,
        conv1_padding: int = 2,
        conv1_kernel: int = 11,
        conv1_stride: int = 4,
        remove: Sequence[str] = (),
        init: Init = "paper",
    ) -> None:
        super().__init__()
        if groups not in (1, 2):
            raise ValueError(f"groups must be 1 (one column) or 2 (the paper's two), got {groups}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        if width <= 0:
            raise ValueError(f"width must be positive, got {width}")
        if lrn is not None and lrn not in LRN_PRESETS:
            raise ValueError(f"lrn must be one of {sorted(LRN_PRESETS)} or None, got {lrn!r}")
        remove = tuple(remove)
        if not set(remove) <= {"conv3", "conv4"}:
            raise ValueError(f"remove may name the middle layers 'conv3' and 'conv4', got {remove}")
        base = tuple(channels) if channels is not None else PAPER_CHANNELS
        if len(base) != 5:
            raise ValueError(f"channels must give 5 conv layers' kernel counts, got {base}")
        c1, c2, c3, c4, c5 = (_scaled(c, width, groups) for c in base)
        self.config = dict(num_classes=num_classes, activation=activation, lrn=lrn,
                           lrn_per_column=lrn_per_column, pooling=pooling, dropout=dropout, groups=groups,
                           channels=(c1, c2, c3, c4, c5), hidden=hidden, input_size=input_size,
                           conv1_padding=conv1_padding, conv1_kernel=conv1_kernel,
                           conv1_stride=conv1_stride, remove=remove, init=init)

        def norm() -> nn.Module:
            if lrn is None:
                return nn.Identity()
            return LocalResponseNorm.from_config(lrn, groups=groups if lrn_per_column else 1)

        layers = [
            ("conv1", nn.Conv2d(3, c1, conv1_kernel, conv1_stride, conv1_padding)),
            ("act1", _activation(activation)),
            ("norm1", norm()),
            ("pool1", _pool(pooling)),
            ("conv2", nn.Conv2d(c1, c2, kernel_size=5, padding=2, groups=groups)),
            ("act2", _activation(activation)),
            ("norm2", norm()),
            ("pool2", _pool(pooling)),
        ]
        maps = c2  # channels reaching the next conv layer
        if "conv3" not in remove:
            layers += [("conv3", nn.Conv2d(maps, c3, kernel_size=3, padding=1)),  # both columns
                       ("act3", _activation(activation))]
            maps = c3
        if "conv4" not in remove:
            layers += [("conv4", nn.Conv2d(maps, c4, kernel_size=3, padding=1, groups=groups)),
                       ("act4", _activation(activation))]
            maps = c4
        layers += [("conv5", nn.Conv2d(maps, c5, kernel_size=3, padding=1, groups=groups)),
                   ("act5", _activation(activation)),
                   ("pool5", _pool(pooling))]
        self.features = nn.Sequential(OrderedDict(layers))
        try:  # size fc6 from the input size instead of an adaptive pool
            with torch.no_grad():
                feat = self.features(torch.zeros(1, 3, input_size, input_size))
        except RuntimeError as err:
            raise ValueError(f"input_size={input_size} is too small for this network "
                             f"(the feature maps shrink to nothing before fc6): {err}") from err
        self.feature_shape: tuple[int, int, int] = tuple(feat.shape[1:])  # (256, 6, 6) by default
        # Dropout follows the ReLU of fc6 and fc7, as in the original code (Caffe's drop6/drop7).
        self.classifier = nn.Sequential(OrderedDict([
            ("fc6", nn.Linear(feat[0].numel(), hidden)),
            ("act6", _activation(activation)),
            ("drop6", nn.Dropout(dropout)),
            ("fc7", nn.Linear(hidden, hidden)),
            ("act7", _activation(activation)),
            ("drop7", nn.Dropout(dropout)),
            ("fc8", nn.Linear(hidden, num_classes)),
        ]))
        self.reset_parameters(init)

    def reset_parameters(self, init: Init = "paper") -> None:
        """(Re-)initialise the weights with a scheme of :data:`INIT_SCHEMES` (or an alias)."""
        draw = INIT_SCHEMES[init_scheme(init)]
        for full_name, layer in self.named_modules():
            if isinstance(layer, nn.Conv2d | nn.Linear):
                draw(full_name.split(".")[-1], layer)
        self.config["init"] = init  # the name given: a checkpoint's model_config rebuilds with it

    def forward(self, x: Tensor) -> Tensor:
        x = self.features(x)
        return self.classifier(torch.flatten(x, 1))

    def layer_table(self, input_size: int | None = None) -> list[LayerRow]:
        """Per-layer output shape, neurons and parameters (see :func:`layer_table`)."""
        return layer_table(self, input_size or self.config["input_size"])

    def summary(self, input_size: int | None = None) -> str:
        """The layer table as text, as printed in the architecture chapter."""
        return format_layer_table(self.layer_table(input_size))


@dataclass(frozen=True)
class LayerRow:
    """One row of the architecture table."""

    name: str
    kind: str
    output_shape: tuple[int, ...]  # (C, H, W) or (features,)
    neurons: int  # output units = product of output_shape
    params: int  # weights + biases of this layer
    macs: int  # multiply-accumulates for one image (the compute the layer costs)


def layer_table(model: nn.Module, input_size: int = 224) -> list[LayerRow]:
    """Run one image through ``model`` and record every layer's output and parameter count.

    Rows are the convolutional, pooling and fully-connected layers (activations, LRN and dropout
    keep the shape and have no parameters, so they are folded into the row above). Works for any
    network built from such layers, e.g. torchvision's ``alexnet`` for comparison.
    """
    rows: list[LayerRow] = []
    hooks = []
    table_types = (nn.Conv2d, nn.Linear, nn.MaxPool2d, nn.AdaptiveAvgPool2d)

    def record(name: str, module: nn.Module):
        def hook(_module: nn.Module, _inputs, output: Tensor) -> None:
            shape = tuple(output.shape[1:])
            neurons = int(output[0].numel())
            params = sum(p.numel() for p in module.parameters())
            # Every output unit of a conv/linear layer costs one MAC per weight it sees.
            macs = neurons * module.weight[0].numel() if hasattr(module, "weight") else 0
            rows.append(LayerRow(name, type(module).__name__, shape, neurons, params, macs))
        return hook

    for full_name, module in model.named_modules():
        if isinstance(module, table_types):
            short = full_name.split(".")[-1]
            hooks.append(module.register_forward_hook(
                record(full_name if short.isdigit() else short, module)))
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros(1, 3, input_size, input_size,
                              device=next(model.parameters()).device))
    finally:
        model.train(was_training)
        for h in hooks:
            h.remove()
    return rows


def format_layer_table(rows: Sequence[LayerRow]) -> str:
    """Format :func:`layer_table` rows as a fixed-width text table with a total line."""
    header = (f"{'layer':<7} {'type':<10} {'output (HxWxC)':>14} {'neurons':>10} {'parameters':>12}"
              f" {'MACs':>13}")
    lines = [header, "-" * len(header)]
    for r in rows:
        shape = "x".join(str(s) for s in (r.output_shape[1:] + r.output_shape[:1]))
        lines.append(f"{r.name:<7} {r.kind:<10} {shape:>14} {r.neurons:>10,} {r.params:>12,}"
                     f" {r.macs:>13,}")
    lines.append("-" * len(header))
    lines.append(f"{'total':<7} {'':<10} {'':>14} {'':>10} {sum(r.params for r in rows):>12,}"
                 f" {sum(r.macs for r in rows):>13,}")
    return "\n".join(lines)
