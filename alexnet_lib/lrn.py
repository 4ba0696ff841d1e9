"""Local Response Normalization, as printed in Section 3.3 of the paper.

Defined in the book's chapter "Local Response Normalization" (and used by the architecture).

The paper's formula, for the activity ``a`` of channel ``i`` at one pixel, with ``N`` channels:

    b[i] = a[i] / (k + alpha * sum_{j=max(0, i-n/2)}^{min(N-1, i+n/2)} a[j]**2) ** beta

with k=2, n=5, alpha=1e-4, beta=0.75. Note the plain ``alpha``: the sum is *not* divided by n.

Conventions differ, and the difference is a factor of n (=5) in alpha:

* the paper (this module, ``alpha_convention="paper"``): ``k + alpha * sum``;
* ``torch.nn.LocalResponseNorm``, Caffe and cuda-convnet: ``k + alpha / n * sum``.

So the paper's printed alpha=1e-4 is ``torch.nn.LocalResponseNorm(5, alpha=5e-4, beta=0.75,
k=2)``, while the code's configured ``scale=0.0001`` (cuda-convnet2's ImageNet
``layer-params-*.cfg``; Caffe's bvlc_alexnet ``alpha: 0.0001``) means a printed-formula alpha of
2e-5.

The constant k differs between the sources too:

* the paper prints k=2;
* cuda-convnet (the 2012 public code) hard-codes 1 in its normalisation kernels;
* cuda-convnet2 has a ``minDiv`` parameter, 1 by default, and its ImageNet layer-params files
  (``layer-params-imagenet-1gpu.cfg``, ``-2gpu-data``, ``-2gpu-model``) set ``minDiv=2``;
* Caffe's ``LRNParameter`` has ``k`` 1 by default and bvlc_alexnet sets only ``local_size``,
  ``alpha`` and ``beta``, so its LRN has k=1 (decaf, Caffe's predecessor, hard-codes k=1 when it
  translates cuda-convnet models, as "the actual cuda convnet code" has it).

:data:`LRN_PRESETS` names the three: ``"paper"``, ``"cuda-convnet2"`` and ``"caffe"``.

The implementation is a custom autograd function: the window sum over channels is a handful of
shifted slice additions (n is small), and the backward pass is written out by hand, which is
several times faster than ``torch.nn.LocalResponseNorm`` on a CPU (``python -m alexnet_lib.bench
lrn`` measures it) and uses less memory. On a GPU, where LRN is limited by memory traffic, CUDA
tensors in eager mode go to fused Triton kernels instead (:mod:`alexnet_lib.lrn_triton`: one
pass forward, one backward); under ``torch.compile`` the tensor-op version is traced, and the
compiler fuses each pass into one kernel of its own (``tests/test_lrn.py`` checks it).
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor, nn

__all__ = ["LRNConfig", "LRN_PRESETS", "LocalResponseNorm", "local_response_norm",
           "local_response_norm_reference", "triton_available"]


@dataclass(frozen=True)
class LRNConfig:
    """Hyper-parameters of LRN in the paper's convention (``alpha`` multiplies the plain sum)."""

    size: int = 5  # n: channels in the window, centred on the channel normalised
    alpha: float = 1e-4  # multiplies the sum of squares (paper convention, NOT divided by n)
    beta: float = 0.75
    k: float = 2.0

    @property
    def torch_alpha(self) -> float:
        """The ``alpha`` to give ``torch.nn.LocalResponseNorm`` for the same function."""
        return self.alpha * self.size


LRN_PRESETS: dict[str, LRNConfig] = {
    # Section 3.3 as printed: alpha multiplies the sum, k=2.
    "paper": LRNConfig(size=5, alpha=1e-4, beta=0.75, k=2.0),
    # cuda-convnet2's ImageNet configs: scale=0.0001 (divided by n=5 in the code), minDiv=2.
    "cuda-convnet2": LRNConfig(size=5, alpha=1e-4 / 5, beta=0.75, k=2.0),
    # Caffe's bvlc_alexnet: alpha=0.0001 (divided by n=5 in the code), k left at its default 1.
    "caffe": LRNConfig(size=5, alpha=1e-4 / 5, beta=0.75, k=1.0),
}
"""LRN hyper-parameters of the paper and of the two codes, in the paper's convention (the
module's docstring gives the sources)."""


def _window_sum(x: Tensor, size: int) -> Tensor:
    """Sum of ``x`` over a window of ``size`` channels centred on each channel (zero padded).

    For even ``size`` the window is ``i - size//2 .. i + (size-1)//2``, like PyTorch's.
    """
    channels = x.shape[1]
    before, after = size // 2, (size - 1) // 2
    out = x.clone()
    # One shifted add per neighbour: for n=5 that is four adds, each a contiguous slice.
    for shift in range(1, before + 1):  # neighbours below: channel i gets x[i - shift]
        if shift < channels:
            out[:, shift:] += x[:, : channels - shift]
    for shift in range(1, after + 1):  # neighbours above: channel i gets x[i + shift]
        if shift < channels:
            out[:, : channels - shift] += x[:, shift:]
    return out


def _window_sum_transposed(x: Tensor, size: int) -> Tensor:
    """Adjoint of :func:`_window_sum` (the window mirrored), needed by the backward pass."""
    channels = x.shape[1]
    before, after = size // 2, (size - 1) // 2
    out = x.clone()
    for shift in range(1, before + 1):
        if shift < channels:
            out[:, : channels - shift] += x[:, shift:]
    for shift in range(1, after + 1):
        if shift < channels:
            out[:, shift:] += x[:, : channels - shift]
    return out


def _compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """float32 for bf16/fp16 (as the fused CUDA kernels compute), else the dtype itself: in bf16
    the squares, window sums and power put the factor off by up to 1e-2. For float32 and float64
    ``.to`` of this dtype is a no-op, so their arithmetic is unchanged, bit for bit."""
    return torch.promote_types(dtype, torch.float32)


class _LRNFunction(torch.autograd.Function):
    """b = a * d**-beta with d = k + alpha * window_sum(a**2), computed in float32 or wider."""

    @staticmethod
    def forward(ctx, a: Tensor, size: int, alpha: float, beta: float, k: float) -> Tensor:
        # Three new tensors, the rest in place: on a CPU, a fresh conv1-sized tensor costs more
        # (the memory is mapped anew) than the arithmetic that fills it.
        wide = a.to(_compute_dtype(a.dtype))  # float32 for a bf16/fp16 input; else `a` itself
        squares = wide * wide
        d = _window_sum(squares, size).mul_(alpha).add_(k)
        scale = torch.pow(d, -beta, out=squares)  # the squares are no longer needed
        b = (wide * scale).to(a.dtype)  # rounded to the input's dtype once, at the end
        # Keep d**(-beta-1) rather than d: the backward needs only that and the scale.
        ctx.save_for_backward(a, scale, torch.div(scale, d, out=d))
        ctx.hparams = (size, alpha, beta)
        return b

    @staticmethod
    def backward(ctx, grad_b: Tensor):
        a, scale, scale_over_d = ctx.saved_tensors
        size, alpha, beta = ctx.hparams
        wide = _compute_dtype(a.dtype)  # as in forward: float32 for bf16/fp16
        a_w, grad_w = a.to(wide), grad_b.to(wide)
        # db_i/da_j = delta_ij d_i^-beta - 2 alpha beta a_i a_j d_i^(-beta-1) [j in window(i)]
        # => grad_a_j = g_j d_j^-beta - 2 alpha beta a_j sum_{i: j in window(i)} g_i a_i d_i^(-beta-1)
        # In-place ops below: each pass over a conv1-sized tensor costs ~10 ms on a CPU.
        t = grad_w.mul(a_w).mul_(scale_over_d)
        grad_a = _window_sum_transposed(t, size).mul_(a_w).mul_(-2.0 * alpha * beta)
        grad_a.addcmul_(grad_w, scale)
        return grad_a.to(a.dtype), None, None, None, None


Impl = Literal["auto", "slices", "triton"]


@functools.cache
def triton_available() -> bool:
    """Whether the fused kernels of :mod:`alexnet_lib.lrn_triton` can be used (Triton imports)."""
    try:
        from . import lrn_triton  # noqa: F401
    except ImportError:
        return False
    return True


def local_response_norm(x: Tensor, size: int = 5, alpha: float = 1e-4, beta: float = 0.75,
                        k: float = 2.0, groups: int = 1, impl: Impl = "auto") -> Tensor:
    """LRN across channels of an ``(N, C, ...)`` tensor in the paper's convention.

    ``alpha`` multiplies the plain sum of squares (not divided by ``size``); see the module
    docstring for the relation to ``torch.nn.functional.local_response_norm``. With ``groups``
    > 1 the channels are split into that many equal groups and each is normalised on its own
    (no window reaches into another group): the paper's two GPUs each normalised only their own
    kernel maps.

    ``impl`` picks the computation (all give the same values to float rounding): ``"slices"``,
    tensor operations (any device, traceable by ``torch.compile``); ``"triton"``, the fused
    kernels of :mod:`alexnet_lib.lrn_triton` (CUDA); ``"auto"``, Triton for CUDA tensors in eager
    mode when Triton is installed, slices otherwise. The environment variable
    ``ALEXNET_LRN_IMPL=slices`` makes ``"auto"`` always choose slices (a way out, should the fused
    kernels fail on some GPU or Triton version, without changing code).
    """
    if x.dim() < 3:
        raise ValueError(f"LRN expects an (N, C, ...) tensor with >= 3 dims, got shape {tuple(x.shape)}")
    if size < 1:
        raise ValueError(f"LRN window size must be >= 1, got {size}")
    if groups < 1 or x.shape[1] % groups:
        raise ValueError(f"LRN groups must divide the {x.shape[1]} channels, got {groups}")
    if impl not in ("auto", "slices", "triton"):
        raise ValueError(f"LRN impl must be 'auto', 'slices' or 'triton', got {impl!r}")
    if impl == "auto":
        choice = os.environ.get("ALEXNET_LRN_IMPL", "auto")
        if choice not in ("auto", "slices"):
            raise ValueError(f"ALEXNET_LRN_IMPL must be 'auto' or 'slices', got {choice!r}")
        fused = (choice == "auto" and x.is_cuda and not torch.compiler.is_compiling()
                 and triton_available())
        impl = "triton" if fused else "slices"
    if impl == "triton":
        if not triton_available():
            raise RuntimeError("impl='triton' needs the triton package (pip install triton)")
        from .lrn_triton import lrn_triton

        return lrn_triton(x, size, alpha, beta, k, groups)
    if groups == 1:
        return _LRNFunction.apply(x, size, alpha, beta, k)
    n, c = x.shape[:2]
    # (N, C, ...) -> (N * groups, C / groups, ...): each group becomes its own "image".
    out = _LRNFunction.apply(x.reshape(n * groups, c // groups, *x.shape[2:]), size, alpha, beta, k)
    return out.reshape(x.shape)


def local_response_norm_reference(x: Tensor, size: int = 5, alpha: float = 1e-4,
                                  beta: float = 0.75, k: float = 2.0) -> Tensor:
    """A direct, slow loop over the printed formula (channel by channel); for tests and teaching."""
    channels = x.shape[1]
    out = torch.empty_like(x)
    for i in range(channels):
        lo, hi = max(0, i - size // 2), min(channels - 1, i + (size - 1) // 2)
        denom = (k + alpha * (x[:, lo : hi + 1] ** 2).sum(dim=1)) ** beta
        out[:, i] = x[:, i] / denom
    return out


class LocalResponseNorm(nn.Module):
    """Local Response Normalization across channels (paper Section 3.3).

    Args:
        size: ``n``, the number of adjacent channels summed over (5 in the paper).
        alpha: the scale in the **paper's** convention (multiplies the plain sum; 1e-4 in the
            paper). Use :meth:`from_torch` to build from PyTorch's/Caffe's convention.
        beta: the exponent (0.75).
        k: the additive constant (2).
        groups: normalise each of this many equal channel groups on its own (2 in AlexNet's
            two columns: each GPU's LRN saw only its own maps); 1 = one window over all channels.
    """

    def __init__(self, size: int = 5, alpha: float = 1e-4, beta: float = 0.75, k: float = 2.0,
                 groups: int = 1):
        super().__init__()
        self.size, self.alpha, self.beta, self.k, self.groups = size, alpha, beta, k, groups

    @classmethod
    def from_config(cls, config: LRNConfig | str, groups: int = 1) -> LocalResponseNorm:
        """Build from an :class:`LRNConfig` or a preset name in :data:`LRN_PRESETS`."""
        if isinstance(config, str):
            if config not in LRN_PRESETS:
                raise ValueError(f"unknown LRN preset {config!r}; choose from {sorted(LRN_PRESETS)}")
            config = LRN_PRESETS[config]
        return cls(config.size, config.alpha, config.beta, config.k, groups)

    @classmethod
    def from_torch(cls, size: int, alpha: float = 1e-4, beta: float = 0.75,
                   k: float = 1.0) -> LocalResponseNorm:
        """The same function as ``torch.nn.LocalResponseNorm(size, alpha, beta, k)``."""
        return cls(size, alpha / size, beta, k)

    def forward(self, x: Tensor) -> Tensor:
        return local_response_norm(x, self.size, self.alpha, self.beta, self.k, self.groups)

    def extra_repr(self) -> str:
        per_group = f", groups={self.groups} (each normalised on its own)" if self.groups > 1 else ""
        return (f"size={self.size}, alpha={self.alpha:g} (paper convention), beta={self.beta}, "
                f"k={self.k}{per_group}")
