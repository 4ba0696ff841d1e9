"""The fused Triton LRN kernels (alexnet_lib/lrn_triton.py) against torch.nn.LocalResponseNorm.

Without a GPU the kernels run in Triton's interpreter, which must be switched on before Triton
is first imported: ``test_kernels_in_triton_interpreter`` runs this file again in a fresh
process with ``TRITON_INTERPRET=1``, where the other tests run on CPU tensors. The CUDA tests at
the end run the compiled kernels, only where a GPU is.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

pytest.importorskip("triton")

from alexnet_lib.lrn import local_response_norm  # noqa: E402

INTERPRET = os.environ.get("TRITON_INTERPRET") == "1"
in_interpreter = pytest.mark.skipif(not INTERPRET, reason="run in a fresh process with "
                                    "TRITON_INTERPRET=1 by test_kernels_in_triton_interpreter")


@pytest.mark.skipif(INTERPRET, reason="this is the run in the interpreter")
def test_kernels_in_triton_interpreter():
    """Every interpreter test of this file, in a fresh process (Triton reads the switch once)."""
    # -o addopts=: the project's options name nbval, which a bare GPU image may lack.
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-o", "addopts=", "-p", "no:cacheprovider",
                           __file__],
                          env={**os.environ, "TRITON_INTERPRET": "1"}, capture_output=True, text=True,
                          timeout=600, cwd=Path(__file__).parents[1])
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    passed = re.search(r"(\d+) passed", proc.stdout)
    assert passed and int(passed[1]) >= 10, proc.stdout[-3000:]  # the interpreter tests did run


@pytest.fixture
def interpreted():
    """alexnet_lib.lrn_triton, its kernels defined in interpreter mode (they run on CPU)."""
    from alexnet_lib import lrn_triton

    return lrn_triton


def _activity(shape, channels_last=False, dtype=torch.float32):
    torch.manual_seed(0)
    # Post-ReLU activity with a large range, so the denominators vary (not ~k**beta everywhere).
    x = (torch.randn(shape) * 30).relu().to(dtype)
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


def _forward_backward(fn, x, grad):
    a = x.detach().clone().requires_grad_(True)
    out = fn(a)
    out.backward(grad)
    return out, a.grad


@in_interpreter
@pytest.mark.parametrize("size", [3, 4, 5])
@pytest.mark.parametrize("channels_last", [False, True])
def test_matches_torch_forward_and_backward(interpreted, size, channels_last):
    alpha, beta, k = 1e-3, 0.75, 2.0
    x = _activity((2, 11, 5, 6), channels_last)
    grad = torch.randn(x.shape)
    theirs = torch.nn.LocalResponseNorm(size, alpha=alpha * size, beta=beta, k=k)
    fused = lambda a: interpreted.lrn_triton(a, size, alpha, beta, k)  # noqa: E731
    ours_out, ours_grad = _forward_backward(fused, x, grad)
    ref_out, ref_grad = _forward_backward(theirs, x.double(), grad.double())
    torch.testing.assert_close(ours_out.double(), ref_out, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(ours_grad.double(), ref_grad, rtol=1e-5, atol=1e-6)
    assert (ours_out - x).abs().max() > 0.1  # the normalisation did something
    assert ours_out.is_contiguous(memory_format=torch.channels_last) == channels_last
    assert ours_grad.is_contiguous(memory_format=torch.channels_last) == channels_last


@in_interpreter
@pytest.mark.parametrize("channels_last", [False, True])
def test_groups_match_the_tensor_op_version(interpreted, channels_last):
    """groups=2: each column's maps normalised on their own, as in the paper's two GPUs."""
    x = _activity((2, 12, 4, 5), channels_last)
    grad = torch.randn(x.shape)
    fused = _forward_backward(lambda a: interpreted.lrn_triton(a, 5, 1e-3, 0.75, 2.0, groups=2), x, grad)
    slices = _forward_backward(lambda a: local_response_norm(a, 5, 1e-3, 0.75, 2.0, groups=2,
                                                             impl="slices"), x, grad)
    one_window = local_response_norm(x, 5, 1e-3, 0.75, 2.0, groups=1)
    for got, want in zip(fused, slices, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(fused[0], one_window, rtol=1e-5, atol=1e-6)  # groups matter here


@in_interpreter
def test_bfloat16_within_one_rounding(interpreted):
    x = _activity((2, 16, 6, 7), dtype=torch.bfloat16)
    out = interpreted.lrn_triton(x, 5, 1e-3, 0.75, 2.0)
    ref = local_response_norm(x.float(), 5, 1e-3, 0.75, 2.0)
    assert out.dtype == torch.bfloat16
    # float32 inside the kernel: at most one bfloat16 step (2**-7 relative) from the float32 result
    torch.testing.assert_close(out.float(), ref, rtol=2**-7, atol=0)
    assert (out.float() - x.float()).abs().max() > 0.1  # and normalised


@in_interpreter
def test_other_layouts_are_made_dense(interpreted):
    x = _activity((2, 10, 6, 6))[:, :, ::2]  # a strided view: neither layout
    assert interpreted.channel_stride(x) is None
    torch.testing.assert_close(interpreted.lrn_triton(x, 5, 1e-3), local_response_norm(x, 5, 1e-3),
                               rtol=1e-5, atol=1e-6)


@in_interpreter
def test_layouts_that_are_dense_either_way(interpreted):
    """A batch of one whose batch stride is arbitrary, and 1x1 maps in channels_last (dense in
    both layouts at once): still one flat layout for the kernels."""
    odd = torch.as_strided(_activity((3, 8, 5, 5)), (1, 8, 5, 5), (999, 25, 5, 1))
    one_by_one = _activity((2, 8, 1, 1)).contiguous(memory_format=torch.channels_last)
    for x in (odd, one_by_one):
        grad = torch.randn(x.shape)
        fused = _forward_backward(lambda a: interpreted.lrn_triton(a, 5, 1e-3), x, grad)
        slices = _forward_backward(lambda a: local_response_norm(a, 5, 1e-3, impl="slices"), x, grad)
        for got, want in zip(fused, slices, strict=True):
            torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)


@in_interpreter
def test_dispatch(interpreted):
    x = _activity((1, 6, 3, 3))
    with pytest.raises(ValueError, match="impl"):
        local_response_norm(x, impl="cuda")
    slices = local_response_norm(x, 5, 1e-3, impl="slices")
    fused = local_response_norm(x, 5, 1e-3, impl="triton")  # the kernels, here interpreted
    torch.testing.assert_close(fused, slices, rtol=1e-5, atol=1e-6)
    assert not torch.equal(fused, slices)  # another computation (rounding differs), same values
    assert torch.equal(local_response_norm(x, 5, 1e-3), slices)  # "auto" keeps CPU on slices


def test_environment_switch_is_checked(monkeypatch):
    monkeypatch.setenv("ALEXNET_LRN_IMPL", "slices")
    x = _activity((1, 6, 3, 3))
    assert torch.equal(local_response_norm(x, 5, 1e-3), local_response_norm(x, 5, 1e-3, impl="slices"))
    monkeypatch.setenv("ALEXNET_LRN_IMPL", "fast")
    with pytest.raises(ValueError, match="ALEXNET_LRN_IMPL"):
        local_response_norm(x)


@pytest.mark.skipif(INTERPRET, reason="compiles the real kernels")
@pytest.mark.parametrize("arch", [80, 90])  # A100, H100/H200
def test_kernels_compile_for_gpus_without_spills(arch, tmp_path):
    """Without a GPU, Triton still compiles the kernels to machine code with its own ptxas: this
    catches what the interpreter does not check (types, constexpr branches), and ptxas -v tells
    the registers per thread (few enough to keep warps in flight) and any spills to memory."""
    from triton.backends.compiler import GPUTarget
    from triton.backends.nvidia.compiler import get_ptxas
    from triton.compiler import ASTSource, compile

    from alexnet_lib import lrn_triton as lt

    for kernel, block, pointers in [(lt._lrn_forward_kernel, lt.FORWARD_BLOCK, ["a_ptr", "b_ptr"]),
                                    (lt._lrn_backward_kernel, lt.BACKWARD_BLOCK,
                                     ["a_ptr", "g_ptr", "out_ptr"])]:
        for dtype in ("fp32", "bf16"):
            signature = {p: f"*{dtype}" for p in pointers} | {
                "numel": "i32", "channels": "i32", "stride_c": "i32", "alpha": "fp32", "beta": "fp32",
                "k": "fp32", "BEFORE": "constexpr", "AFTER": "constexpr", "BLOCK": "constexpr"}
            source = ASTSource(fn=kernel, signature=signature,
                               constexprs={"BEFORE": 2, "AFTER": 2, "BLOCK": block})
            compiled = compile(source, target=GPUTarget("cuda", arch, 32))
            assert len(compiled.asm["cubin"]) > 0
            ptx = tmp_path / f"{kernel.__name__}_{dtype}.ptx"
            ptx.write_text(compiled.asm["ptx"])
            target = re.search(r"\.target\s+(sm_\w+)", compiled.asm["ptx"])[1]  # sm_90a on Hopper
            report = subprocess.run([get_ptxas(arch).path, f"-arch={target}", "-v", str(ptx), "-o",
                                     str(ptx.with_suffix(".cubin"))], capture_output=True, text=True,
                                    check=True).stderr
            registers = int(re.search(r"Used (\d+) registers", report)[1])
            assert " 0 bytes spill stores" in report, report
            assert registers <= 96, f"{kernel.__name__} {dtype}: {registers} registers per thread"


cuda = pytest.mark.skipif(INTERPRET or not torch.cuda.is_available(), reason="needs a CUDA GPU")


@cuda
@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_cuda_kernels_match_torch(channels_last, dtype):
    """On a GPU: conv1-sized activity, the compiled kernels against torch's LRN in float64."""
    x = _activity((8, 96, 55, 55), channels_last, dtype).cuda()
    grad = torch.randn(x.shape, device="cuda", dtype=dtype)
    ours_out, ours_grad = _forward_backward(lambda a: local_response_norm(a, 5, 1e-4, groups=2), x, grad)
    ref = lambda a: local_response_norm(a, 5, 1e-4, groups=2, impl="slices")  # noqa: E731
    ref_out, ref_grad = _forward_backward(ref, x.double(), grad.double())
    tol = {"rtol": 1e-5, "atol": 1e-6} if dtype == torch.float32 else {"rtol": 1e-2, "atol": 1e-2}
    torch.testing.assert_close(ours_out.double(), ref_out, **tol)
    torch.testing.assert_close(ours_grad.double(), ref_grad, **tol)


@cuda
def test_cuda_uses_the_kernels_unless_switched_off(monkeypatch):
    from alexnet_lib import lrn_triton

    calls = []
    original = lrn_triton.lrn_triton
    monkeypatch.setattr(lrn_triton, "lrn_triton", lambda *a: calls.append(1) or original(*a))
    x = _activity((2, 8, 5, 5)).cuda()
    local_response_norm(x)
    assert calls == [1]
    monkeypatch.setenv("ALEXNET_LRN_IMPL", "slices")
    local_response_norm(x)
    assert calls == [1]


@pytest.mark.skipif(INTERPRET or torch.cuda.device_count() < 2, reason="needs two CUDA GPUs")
def test_cuda_kernels_run_on_the_tensors_gpu():
    """The two-GPU towers run LRN on cuda:1 while cuda:0 is the current device."""
    x = _activity((2, 96, 13, 13)).to("cuda:1")
    grad = torch.randn(x.shape, device="cuda:1")
    with torch.cuda.device(0):
        fused = _forward_backward(lambda a: local_response_norm(a, 5, 1e-4, groups=2), x, grad)
        slices = _forward_backward(lambda a: local_response_norm(a, 5, 1e-4, groups=2, impl="slices"),
                                   x, grad)
    for got, want in zip(fused, slices, strict=True):
        assert got.device == torch.device("cuda:1")
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
