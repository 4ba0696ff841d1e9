"""Fused GPU kernels for Local Response Normalization (Triton): one pass forward, one backward.

Defined in the book's chapter "Local Response Normalization" (section "Making it cheap"); used by
:func:`alexnet_lib.lrn.local_response_norm` on CUDA tensors in eager mode, and measured by
``python -m alexnet_lib.bench lrn --device cuda``.

Why: on a GPU, LRN is memory-bound. The tensor-op version in :mod:`alexnet_lib.lrn` reads and
writes the whole activation about twenty times per forward + backward (squares, shifted adds,
powers, products: one kernel each); these kernels read the input once and write the output
once in the forward pass, and read the input and the incoming gradient once and write the
gradient once in the backward pass. The backward recomputes the denominators from the input
(a few extra loads that hit the cache) instead of saving them, which also saves memory.

Both kernels work on a flat, dense tensor in either memory format: NCHW (channel stride
H*W) or channels_last (channel stride 1). ``groups`` > 1 keeps every window inside its own
group of channels (the paper's two GPUs), with no reshape or copy.

Without a GPU, the same kernels run on CPU tensors in Triton's interpreter
(``TRITON_INTERPRET=1`` set before this module is imported): that is how the tests check them.
"""

from __future__ import annotations

import contextlib

import torch
import triton
import triton.language as tl
from torch import Tensor

__all__ = ["lrn_triton", "channel_stride"]

# Elements per program. ptxas -v for sm_90 (tests/test_lrn_triton.py checks it): the forward
# uses 47 registers per thread at 1024, the backward (more loads in flight) 63 at 256 but 189 at
# 1024, which would leave too few warps per multiprocessor to hide memory latency.
FORWARD_BLOCK = 1024
BACKWARD_BLOCK = 256


@triton.jit
def _lrn_forward_kernel(a_ptr, b_ptr, numel, channels, stride_c, alpha, beta, k,
                        BEFORE: tl.constexpr, AFTER: tl.constexpr, BLOCK: tl.constexpr):
    # b = a * (k + alpha * sum_{window} a^2) ** -beta, the window clipped to the channel group.
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    inside = offs < numel
    c = (offs // stride_c) % channels  # the channel within its group
    total = tl.zeros([BLOCK], dtype=tl.float32)
    for s in tl.static_range(-BEFORE, AFTER + 1):
        ok = inside & (c + s >= 0) & (c + s < channels)
        v = tl.load(a_ptr + offs + s * stride_c, mask=ok, other=0.0).to(tl.float32)
        total += v * v
    a = tl.load(a_ptr + offs, mask=inside, other=0.0).to(tl.float32)
    d = k + alpha * total
    b = a * tl.exp2(-beta * tl.log2(d))
    tl.store(b_ptr + offs, b.to(b_ptr.dtype.element_ty), mask=inside)


@triton.jit
def _lrn_backward_kernel(a_ptr, g_ptr, out_ptr, numel, channels, stride_c, alpha, beta, k,
                         BEFORE: tl.constexpr, AFTER: tl.constexpr, BLOCK: tl.constexpr):
    # grad_a[j] = g[j] d[j]^-beta - 2 alpha beta a[j] sum_{i: j in window(i)} g[i] a[i] d[i]^(-beta-1)
    # where j in window(i) <=> i - BEFORE <= j <= i + AFTER <=> i = j + t, t in [-AFTER, BEFORE].
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    inside = offs < numel
    c = (offs // stride_c) % channels
    acc = tl.zeros([BLOCK], dtype=tl.float32)
    own_scale = tl.zeros([BLOCK], dtype=tl.float32)
    for t in tl.static_range(-AFTER, BEFORE + 1):
        ci = c + t
        ok_i = inside & (ci >= 0) & (ci < channels)
        offs_i = offs + t * stride_c
        total = tl.zeros([BLOCK], dtype=tl.float32)  # d[i] recomputed: its window around i
        for u in tl.static_range(-BEFORE, AFTER + 1):
            ok_u = ok_i & (ci + u >= 0) & (ci + u < channels)
            v = tl.load(a_ptr + offs_i + u * stride_c, mask=ok_u, other=0.0).to(tl.float32)
            total += v * v
        log_d = tl.log2(k + alpha * total)
        a_i = tl.load(a_ptr + offs_i, mask=ok_i, other=0.0).to(tl.float32)
        g_i = tl.load(g_ptr + offs_i, mask=ok_i, other=0.0).to(tl.float32)
        acc += g_i * a_i * tl.exp2((-beta - 1.0) * log_d)
        if t == 0:
            own_scale = tl.exp2(-beta * log_d)
    a = tl.load(a_ptr + offs, mask=inside, other=0.0).to(tl.float32)
    g = tl.load(g_ptr + offs, mask=inside, other=0.0).to(tl.float32)
    grad = g * own_scale - 2.0 * alpha * beta * a * acc
    tl.store(out_ptr + offs, grad.to(out_ptr.dtype.element_ty), mask=inside)


def channel_stride(x: Tensor) -> int | None:
    """The distance between neighbouring channels in ``x``'s memory if ``x`` is dense in NCHW
    (or (N, C, ...)) order or in channels_last order; ``None`` for any other layout."""
    spatial = 1
    for size in x.shape[2:]:
        spatial *= size
    if x.is_contiguous():
        return spatial
    if x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last):
        return 1
    return None


def _launch(kernel, block: int, out: Tensor, tensors: tuple[Tensor, ...], size: int, alpha: float,
            beta: float, k: float, groups: int) -> Tensor:
    x = tensors[0]
    numel = x.numel()
    if numel >= 2**31:
        raise ValueError(f"lrn_triton indexes with 32-bit offsets; {numel} elements is too many")
    # The kernels index all tensors with one flat offset: they must share one dense layout.
    every = (*tensors, out)
    if all(t.is_contiguous() for t in every):
        stride_c = channel_stride(x.contiguous())  # H*W (size-1 dims may carry any stride)
    elif all(t.dim() == 4 and t.is_contiguous(memory_format=torch.channels_last) for t in every):
        stride_c = 1
    else:
        raise ValueError("lrn_triton needs dense NCHW or channels_last tensors of one layout")
    grid = (triton.cdiv(numel, block),)
    # Triton launches on the current device: make it the tensors' (the two-GPU towers keep a
    # column on cuda:1 while cuda:0 is current).
    with torch.cuda.device(x.device) if x.is_cuda else contextlib.nullcontext():
        kernel[grid](*tensors, out, numel, x.shape[1] // groups, stride_c, float(alpha), float(beta),
                     float(k), BEFORE=size // 2, AFTER=(size - 1) // 2, BLOCK=block)
    return out


class _LRNTriton(torch.autograd.Function):
    @staticmethod
    def forward(ctx, a: Tensor, size: int, alpha: float, beta: float, k: float, groups: int) -> Tensor:
        ctx.save_for_backward(a)  # the backward recomputes the denominators from a alone
        ctx.hparams = (size, alpha, beta, k, groups)
        return _launch(_lrn_forward_kernel, FORWARD_BLOCK, torch.empty_like(a), (a,), size, alpha, beta,
                       k, groups)

    @staticmethod
    def backward(ctx, grad_b: Tensor):
        (a,) = ctx.saved_tensors
        # The incoming gradient may arrive in another layout (or expanded): match a's.
        channels_last = channel_stride(a) == 1 and not a.is_contiguous()
        grad_b = grad_b.contiguous(memory_format=torch.channels_last if channels_last
                                   else torch.contiguous_format)
        grad_a = _launch(_lrn_backward_kernel, BACKWARD_BLOCK, torch.empty_like(a), (a, grad_b), *ctx.hparams)
        return grad_a, None, None, None, None, None


def lrn_triton(x: Tensor, size: int = 5, alpha: float = 1e-4, beta: float = 0.75, k: float = 2.0,
               groups: int = 1) -> Tensor:
    """LRN in the paper's convention (as :func:`alexnet_lib.lrn.local_response_norm`), computed
    by the fused kernels; differentiable. ``x`` must be dense (NCHW or channels_last); math in
    float32 whatever ``x``'s dtype, the result in ``x``'s dtype."""
    if x.shape[1] % groups:
        raise ValueError(f"LRN groups must divide the {x.shape[1]} channels, got {groups}")
    if channel_stride(x) is None:
        x = x.contiguous()
    return _LRNTriton.apply(x, size, alpha, beta, k, groups)
