"""The two-GPU split (the paper's Section 3.2): AlexNet's two columns on two devices.

Defined in the book's chapter "The two-GPU split".

The paper spread the net across two GTX 580 GPUs with 3 GB each: "we put half of the kernels
(or neurons) on each GPU, with one additional trick: the GPUs communicate only in certain layers.
This means that, for example, the kernels of layer 3 take input from all kernel maps in layer 2.
However, kernels in layer 4 take input only from those kernel maps in layer 3 which reside on the
same GPU." :class:`TwoColumnAlexNet` is that model parallelism: each column (tower) lives on its
own device, and activations cross between the devices only where the paper's do: into conv3,
fc6, fc7 and fc8 (fc8 is one layer, kept on the first device).

On one device the library writes the same network with grouped convolutions
(``AlexNet(groups=2)``). :meth:`TwoColumnAlexNet.from_grouped` copies a grouped net's weights into
the towers and :meth:`TwoColumnAlexNet.to_grouped` copies them back (with the gradients, if
wanted), so the two can be compared number for number.

One subtlety, Local Response Normalization. Its window runs over 5 adjacent kernel maps. On two
GPUs each GPU normalises only its own maps, since the GPUs "communicate only in certain layers";
``AlexNet(groups=2)`` does the same by default (``lrn_per_column=True``), and so do the towers.
A grouped net built with ``lrn_per_column=False`` (one window over all maps, as Caffe's
bvlc_alexnet) lets the window of the maps at the border between the columns (maps 46-49 of
conv1's 96) reach into the other column; its towers (``cross_column_lrn=True``) reproduce it
exactly by sending those 2 border maps to the other device before each normalisation, an extra,
tiny crossing the paper did not have.

:func:`crossing_traffic` counts the bytes that cross between the devices per image (activations
forward, their gradients backward) and :func:`allreduce_bytes` what a data-parallel gradient
all-reduce would move instead; :func:`training_memory` is the memory arithmetic behind the split.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .lrn import LocalResponseNorm
from .model import AlexNet

__all__ = [
    "TwoColumnAlexNet",
    "Transfer",
    "Crossing",
    "crossing_traffic",
    "allreduce_bytes",
    "communication_summary",
    "MemoryEstimate",
    "training_memory",
    "column_parameters",
    "measure_training_peak",
]

DeviceLike = torch.device | str


@dataclass(frozen=True)
class Transfer:
    """One tensor sent from one column's device to the other's during a forward pass."""

    into: str  # the layer that needed it, e.g. "conv3"
    source: str  # "column 0" / "column 1"
    values: int  # numbers sent, for the whole batch
    bytes: int


def _halves(t: Tensor, dim: int = 0) -> tuple[Tensor, Tensor]:
    half = t.shape[dim] // 2
    return t.narrow(dim, 0, half), t.narrow(dim, half, half)


class _Column(nn.Module):
    """One tower: half of every layer's kernels (or neurons), on one device."""

    def __init__(self, grouped: AlexNet, column: int) -> None:
        super().__init__()
        f, c = grouped.features, grouped.classifier

        def half_conv(conv: nn.Conv2d, in_channels: int) -> nn.Conv2d:
            return nn.Conv2d(in_channels, conv.out_channels // 2, conv.kernel_size, conv.stride,
                             conv.padding)

        c1, c2, c3, c4, c5 = (f.get_submodule(n).out_channels for n in
                              ("conv1", "conv2", "conv3", "conv4", "conv5"))
        self.conv1 = half_conv(f.conv1, 3)  # sees the whole image
        self.conv2 = half_conv(f.conv2, c1 // 2)  # own column only
        self.conv3 = half_conv(f.conv3, c2)  # both columns
        self.conv4 = half_conv(f.conv4, c3 // 2)
        self.conv5 = half_conv(f.conv5, c4 // 2)
        self.act = copy.deepcopy(f.act1)
        self.norm1, self.norm2 = copy.deepcopy(f.norm1), copy.deepcopy(f.norm2)
        for norm in (self.norm1, self.norm2):
            if isinstance(norm, LocalResponseNorm):
                norm.groups = 1  # a column holds one group of maps
        self.pool1, self.pool2, self.pool5 = (copy.deepcopy(f.get_submodule(n))
                                              for n in ("pool1", "pool2", "pool5"))
        hidden = c.fc6.out_features
        self.fc6 = nn.Linear(c.fc6.in_features, hidden // 2)  # both columns
        self.fc7 = nn.Linear(hidden, hidden // 2)  # both columns
        self.drop6, self.drop7 = copy.deepcopy(c.drop6), copy.deepcopy(c.drop7)
        self.column = column
        self.channels = (c1, c2, c3, c4, c5)

    @torch.no_grad()
    def load_from(self, grouped: AlexNet) -> None:
        t = self.column
        for name in ("conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7"):
            src = grouped.get_submodule(("features." if name.startswith("conv") else "classifier.")
                                        + name)
            dst = getattr(self, name)
            dst.weight.copy_(_halves(src.weight)[t])
            dst.bias.copy_(_halves(src.bias)[t])


class TwoColumnAlexNet(nn.Module):
    """AlexNet with each column on its own device, crossing only where the paper does.

    Defined in the book's chapter "The two-GPU split". Build it from a grouped net with
    :meth:`from_grouped`; ``forward`` takes a batch on any device and returns the logits on
    ``devices[0]`` (where fc8 lives). Every crossing is an explicit ``.to(device)`` (a no-op copy
    when both "devices" are the same, as in the CPU tests) and, while ``record`` is True, is
    logged in :attr:`transfers` with its size.

    Args:
        grouped: a two-column ``AlexNet`` (``groups=2``) whose architecture (and, with
            :meth:`from_grouped`, weights) to take.
        devices: the two columns' devices, e.g. ``("cuda:0", "cuda:1")``.
        cross_column_lrn: see the module docstring. ``None`` (the default) follows ``grouped``
            (``not grouped.config["lrn_per_column"]``), so the towers reproduce it exactly;
            False is the paper's per-GPU normalisation, True sends the border maps across.
    """

    def __init__(self, grouped: AlexNet, devices: Sequence[DeviceLike] = ("cpu", "cpu"),
                 cross_column_lrn: bool | None = None) -> None:
        super().__init__()
        if grouped.config["groups"] != 2:
            raise ValueError("TwoColumnAlexNet needs a two-column net: AlexNet(groups=2)")
        if grouped.config.get("remove"):
            raise ValueError("TwoColumnAlexNet splits the paper's five conv layers; this net was "
                             f"built with remove={grouped.config['remove']}")
        if grouped.config["hidden"] % 2:
            raise ValueError(f"hidden units must split evenly, got {grouped.config['hidden']}")
        if len(devices) != 2:
            raise ValueError(f"need two devices, got {devices}")
        self.devices = tuple(torch.device(d) for d in devices)
        if cross_column_lrn is None:
            cross_column_lrn = not grouped.config.get("lrn_per_column", True)
        self.config = dict(grouped.config, lrn_per_column=not cross_column_lrn)
        self.cross_column_lrn = cross_column_lrn
        dtype = next(grouped.parameters()).dtype
        self.columns = nn.ModuleList([_Column(grouped, t).to(self.devices[t], dtype)
                                      for t in (0, 1)])
        self.fc8 = copy.deepcopy(grouped.classifier.fc8).to(self.devices[0], dtype)  # one layer
        self.record = False
        self.transfers: list[Transfer] = []

    @classmethod
    def from_grouped(cls, model: AlexNet, devices: Sequence[DeviceLike] = ("cpu", "cpu"),
                     cross_column_lrn: bool | None = None) -> TwoColumnAlexNet:
        """The same network as the grouped ``model``, its weights copied into two columns
        (``cross_column_lrn`` as in the class; the default reproduces ``model`` exactly)."""
        net = cls(model, devices, cross_column_lrn)
        for col in net.columns:
            col.load_from(model)
        with torch.no_grad():
            net.fc8.load_state_dict(model.classifier.fc8.state_dict())
        net.train(model.training)
        return net

    @torch.no_grad()
    def to_grouped(self, copy_grads: bool = False, device: DeviceLike = "cpu") -> AlexNet:
        """A grouped single-device ``AlexNet`` with this net's weights (and gradients, if asked);
        its ``lrn_per_column`` is ``not self.cross_column_lrn``, so it computes the same function."""
        cfg = {k: v for k, v in self.config.items() if k not in ("channels", "init")}
        dtype = self.fc8.weight.dtype
        # Built on the meta device, then given uninitialised memory: initialising a whole net took
        # 1.5 s at the paper's size on every checkpoint and advanced torch's global RNG. Every
        # parameter (AlexNet has no buffers) is overwritten below.
        with torch.device("meta"):
            net = AlexNet(**cfg, channels=self.config["channels"], init="torch")
        net = net.to(dtype).to_empty(device=device)
        for name in ("conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7"):
            dst = net.get_submodule(("features." if name.startswith("conv") else "classifier.")
                                    + name)
            for attr in ("weight", "bias"):
                parts = [getattr(getattr(col, name), attr) for col in self.columns]
                getattr(dst, attr).copy_(torch.cat([p.to(device) for p in parts]))
                if copy_grads:
                    grads = [p.grad for p in parts]
                    getattr(dst, attr).grad = (None if any(g is None for g in grads)
                                               else torch.cat([g.to(device) for g in grads]))
        net.classifier.fc8.load_state_dict(self.fc8.state_dict())
        if copy_grads:
            for attr in ("weight", "bias"):
                g = getattr(self.fc8, attr).grad
                getattr(net.classifier.fc8, attr).grad = None if g is None else g.to(device)
        net.train(self.training)
        return net

    def _send(self, x: Tensor, column: int, into: str) -> Tensor:
        """Move column ``column``'s tensor to the other column's device (an explicit copy)."""
        target = self.devices[1 - column] if into != "fc8" else self.devices[0]
        if self.record:
            per = x.element_size()
            self.transfers.append(Transfer(into, f"column {column}", x.numel(), x.numel() * per))
        return x.to(target, non_blocking=True)

    def _norm(self, name: str, a: Sequence[Tensor]) -> list[Tensor]:
        norms = [getattr(col, name) for col in self.columns]
        if not self.cross_column_lrn or not isinstance(norms[0], LocalResponseNorm):
            return [norms[t](a[t]) for t in (0, 1)]
        size = norms[0].size
        before, after = size // 2, (size - 1) // 2  # window: i - size//2 .. i + (size-1)//2
        out = []
        # column 0 needs the first `after` maps of column 1; column 1 the last `before` of column 0
        halo0 = self._send(a[1][:, :after], 1, name) if after else None
        halo1 = self._send(a[0][:, a[0].shape[1] - before:], 0, name) if before else None
        x0 = torch.cat([a[0], halo0], 1) if halo0 is not None else a[0]
        out.append(norms[0](x0)[:, :a[0].shape[1]])
        x1 = torch.cat([halo1, a[1]], 1) if halo1 is not None else a[1]
        out.append(norms[1](x1)[:, x1.shape[1] - a[1].shape[1]:])
        return out

    def forward(self, x: Tensor) -> Tensor:
        cols = self.columns
        a = [x.to(self.devices[t]) for t in (0, 1)]  # every column sees the whole image
        a = [cols[t].act(cols[t].conv1(a[t])) for t in (0, 1)]
        a = [cols[t].pool1(n) for t, n in enumerate(self._norm("norm1", a))]
        a = [cols[t].act(cols[t].conv2(a[t])) for t in (0, 1)]  # own column only
        a = [cols[t].pool2(n) for t, n in enumerate(self._norm("norm2", a))]
        a = self._exchange(a, "conv3", dim=1)  # conv3 reads both columns
        a = [cols[t].act(cols[t].conv3(a[t])) for t in (0, 1)]
        a = [cols[t].act(cols[t].conv4(a[t])) for t in (0, 1)]
        a = [cols[t].pool5(cols[t].act(cols[t].conv5(a[t]))) for t in (0, 1)]
        a = [torch.flatten(v, 1) for v in self._exchange(a, "fc6", dim=1)]
        a = [cols[t].drop6(cols[t].act(cols[t].fc6(a[t]))) for t in (0, 1)]
        a = self._exchange(a, "fc7", dim=1)
        a = [cols[t].drop7(cols[t].act(cols[t].fc7(a[t]))) for t in (0, 1)]
        x8 = torch.cat([a[0], self._send(a[1], 1, "fc8")], 1)  # fc8: one layer, on device 0
        return self.fc8(x8)

    def _exchange(self, a: Sequence[Tensor], into: str, dim: int) -> list[Tensor]:
        """Each column gets both columns' tensors, concatenated in column order (for pool5 maps,
        concatenating channels and then flattening gives the grouped net's fc6 input order)."""
        recv = [self._send(a[1], 1, into), self._send(a[0], 0, into)]  # recv[t]: for column t
        return [torch.cat([a[0], recv[0]], dim), torch.cat([recv[1], a[1]], dim)]


def column_parameters(model: nn.Module) -> int:
    """Number of parameters of a model (for the tables)."""
    return sum(p.numel() for p in model.parameters())


# --------------------------------------------------------------------------- communication


@dataclass(frozen=True)
class Crossing:
    """Traffic into one layer that reads both columns, per image, both directions together."""

    into: str
    what: str  # what crosses, e.g. "pool2 maps, 13x13x128 per column"
    values_forward: int  # activations sent forward, per image (both columns' sends together)
    bytes_per_image: int  # forward activations + backward gradients, at bytes_per_value each


def _output_shapes(model: AlexNet, names: Sequence[str]) -> dict[str, tuple[int, ...]]:
    """Per-image output shapes of some of ``model.features``' layers (one zero image through)."""
    shapes: dict[str, tuple[int, ...]] = {}
    hooks = [model.features.get_submodule(n).register_forward_hook(
        lambda _m, _i, out, n=n: shapes.__setitem__(n, tuple(out.shape[1:]))) for n in names]
    p = next(model.parameters())
    size = model.config["input_size"]
    try:
        with torch.no_grad():
            model.features(torch.zeros(1, 3, size, size, dtype=p.dtype, device=p.device))
    finally:
        for h in hooks:
            h.remove()
    return shapes


def crossing_traffic(model: AlexNet, bytes_per_value: int = 4,
                     cross_column_lrn: bool = False) -> list[Crossing]:
    """The values that cross between the two devices per image, layer by layer.

    Defined in the book's chapter "The two-GPU split". Forward, each column sends its pool2 maps
    (into conv3) and its pool5 maps (into fc6) and its fc6 outputs (into fc7) to the other column,
    and column 1 sends its fc7 outputs to fc8 on column 0; backward, the gradients with respect to
    exactly those tensors come back, the same number of values. ``cross_column_lrn=True`` adds the
    border maps of the grouped net's LRN (not in the paper). ``bytes_per_value=4``: fp32.
    """
    shapes = _output_shapes(model, ("conv1", "conv2", "pool2", "pool5"))
    c2, h2, w2 = shapes["pool2"]
    c5, h5, w5 = shapes["pool5"]
    hidden = model.classifier.fc6.out_features
    out = []
    if cross_column_lrn and model.config["lrn"] is not None:
        size = model.features.norm1.size
        halo = size // 2 + (size - 1) // 2
        for name, conv in (("norm1", "conv1"), ("norm2", "conv2")):
            _, h, w = shapes[conv]
            out.append(Crossing(name, f"{halo} border maps of {conv} ({h}x{w})", halo * h * w, 0))
    out += [
        Crossing("conv3", f"pool2 maps, {h2}x{w2}x{c2 // 2} per column", c2 * h2 * w2, 0),
        Crossing("fc6", f"pool5 maps, {h5}x{w5}x{c5 // 2} per column", c5 * h5 * w5, 0),
        Crossing("fc7", f"fc6 outputs, {hidden // 2} per column", hidden, 0),
        Crossing("fc8", f"second column's fc7 outputs, {hidden // 2}", hidden // 2, 0),
    ]
    return [Crossing(c.into, c.what, c.values_forward, 2 * c.values_forward * bytes_per_value)
            for c in out]


def allreduce_bytes(parameters: int, devices: int = 2, bytes_per_value: int = 4) -> int:
    """Bytes each device sends in a ring all-reduce of the gradients: 2 (k-1)/k x parameter bytes.

    Defined in the book's chapter "The two-GPU split". Data parallelism (every device holds the
    whole net and a share of the batch) must sum the gradients of all parameters every step.
    """
    if devices < 1:
        raise ValueError(f"need at least one device, got {devices}")
    return round(2 * (devices - 1) / devices * parameters * bytes_per_value)


def communication_summary(model: AlexNet, batch_size: int = 128,
                          bytes_per_value: int = 4) -> dict[str, float]:
    """Model-parallel crossing traffic vs a data-parallel all-reduce, per training step.

    Defined in the book's chapter "The two-GPU split". Returns bytes per image and per step for
    the paper's split (both directions, forward and backward), and the bytes each of two devices
    sends in a ring all-reduce of the gradients (the same total over both devices' links as the
    split's both-direction count), for one step of ``batch_size`` images.
    """
    per_image = sum(c.bytes_per_image for c in crossing_traffic(model, bytes_per_value))
    params = column_parameters(model)
    per_device = allreduce_bytes(params, 2, bytes_per_value)
    return {
        "model_parallel_bytes_per_image": per_image,
        "model_parallel_bytes_per_step": per_image * batch_size,
        "data_parallel_bytes_per_step_per_device": per_device,
        "data_parallel_bytes_per_step": 2 * per_device,
        "parameters": params,
        "batch_size": batch_size,
        "break_even_batch": 2 * per_device / per_image,
    }


# --------------------------------------------------------------------------- memory


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes needed to train a network with SGD + momentum (see :func:`training_memory`)."""

    parameters: int
    gradients: int
    momentum: int
    activations: int  # every layer output kept for the backward pass, whole batch
    batch_size: int

    @property
    def total(self) -> int:
        return self.parameters + self.gradients + self.momentum + self.activations


def training_memory(model: nn.Module, batch_size: int = 128, input_size: int | None = None,
                    bytes_per_value: int = 4) -> MemoryEstimate:
    """A lower bound on training memory: weights, their gradients and momentum, and activations.

    Defined in the book's chapter "The two-GPU split". Activations are counted as the output of
    every layer that is not computed in place (the input, conv, LRN, pooling, fully-connected,
    dropout outputs; in-place ReLUs share their input's memory), for ``batch_size`` images, which
    is what autograd keeps for the backward pass. Workspace, the gradients of activations during
    backward and allocator slack come on top, so a real run needs more.
    """
    params = column_parameters(model)
    size = input_size or getattr(model, "config", {}).get("input_size", 224)
    total = 3 * size * size
    hooks = []

    def count(module: nn.Module, _inputs, output: Tensor) -> None:
        nonlocal total
        if not getattr(module, "inplace", False):
            total += output[0].numel()

    for module in model.modules():
        if not list(module.children()):
            hooks.append(module.register_forward_hook(count))
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            p = next(model.parameters())
            model(torch.zeros(1, 3, size, size, device=p.device, dtype=p.dtype))
    finally:
        model.train(was_training)
        for h in hooks:
            h.remove()
    b = bytes_per_value
    return MemoryEstimate(params * b, params * b, params * b, total * batch_size * b, batch_size)


def measure_training_peak(model: nn.Module, batch_size: int = 128, device: DeviceLike = "cuda",
                          steps: int = 3) -> int:
    """Peak bytes allocated on a CUDA device during an SGD step (momentum, weight decay, fp32).

    Defined in "The two-GPU split". Runs ``steps`` steps on random data and returns
    ``torch.cuda.max_memory_allocated`` over the last one (weights, gradients, momentum,
    activations, cuDNN workspace; not the CUDA context).
    """
    device = torch.device(device)
    model = model.to(device)
    size = getattr(model, "config", {}).get("input_size", 224)
    classes = getattr(model, "config", {}).get("num_classes", 1000)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    x = torch.randn(batch_size, 3, size, size, device=device)
    y = torch.randint(0, classes, (batch_size,), device=device)
    for step in range(steps):
        if step == steps - 1:
            torch.cuda.synchronize(device)
            torch.cuda.reset_peak_memory_stats(device)
        opt.zero_grad(set_to_none=False)
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    torch.cuda.synchronize(device)
    return int(torch.cuda.max_memory_allocated(device))


def _memory_command(argv: Sequence[str] | None = None) -> None:
    """``python -m alexnet_lib.towers [--out FILE]``: measure the paper's net on a CUDA GPU."""
    import argparse
    import json
    from pathlib import Path

    parser = argparse.ArgumentParser(description="Measure the training memory of AlexNet on a GPU.")
    parser.add_argument("--out", default="book/results/two_gpus_memory.json")
    parser.add_argument("--batch-size", type=int, default=128)
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        raise SystemExit("needs a CUDA GPU")
    rows = {}
    for groups in (2, 1):
        torch.manual_seed(0)
        net = AlexNet(groups=groups)
        estimate = training_memory(net, args.batch_size)
        rows[f"groups={groups}"] = {"peak_bytes": measure_training_peak(net, args.batch_size),
                                    "lower_bound_bytes": estimate.total}
        del net
        torch.cuda.empty_cache()
    payload = {"experiment": "two_gpus_memory", "dataset": "random tensors",
               "config": {"batch_size": args.batch_size, "dtype": "float32"},
               "records": [],
               "result": {"nets": rows, "device": torch.cuda.get_device_name(0),
                          "torch": torch.__version__,
                          "command": "python -m alexnet_lib.towers" + (
                              f" --batch-size {args.batch_size}" if args.batch_size != 128 else "")}}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(payload, indent=1) + "\n")
    print(json.dumps(payload["result"], indent=1))


if __name__ == "__main__":
    import sys

    _memory_command(sys.argv[1:])
