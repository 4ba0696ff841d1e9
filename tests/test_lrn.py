"""LRN (paper Section 3.3) against torch.nn.LocalResponseNorm and a loop over the printed formula."""

import pytest
import torch

from alexnet_lib import LRN_PRESETS, LocalResponseNorm, local_response_norm
from alexnet_lib.lrn import local_response_norm_reference


@pytest.fixture
def x() -> torch.Tensor:
    torch.manual_seed(0)
    # Post-ReLU-like activity with a large range, so the denominator is not ~k**beta everywhere.
    return (torch.randn(3, 11, 5, 4, dtype=torch.float64) * 30).relu()


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7])
def test_matches_printed_formula(x, size):
    ours = local_response_norm(x, size, alpha=1e-3, beta=0.75, k=2.0)
    ref = local_response_norm_reference(x, size, alpha=1e-3, beta=0.75, k=2.0)
    torch.testing.assert_close(ours, ref, rtol=1e-12, atol=0)
    assert not torch.allclose(ours, x)  # normalisation did something


@pytest.mark.parametrize("size", [2, 5, 6])
def test_matches_torch_with_alpha_times_n(x, size):
    """torch divides alpha by n: the paper's alpha corresponds to torch's alpha * n."""
    alpha, beta, k = 1e-3, 0.75, 2.0
    torch_lrn = torch.nn.LocalResponseNorm(size, alpha=alpha * size, beta=beta, k=k)
    x1 = x.clone().requires_grad_(True)
    x2 = x.clone().requires_grad_(True)
    ours = LocalResponseNorm(size, alpha, beta, k)(x1)
    theirs = torch_lrn(x2)
    torch.testing.assert_close(ours, theirs, rtol=1e-10, atol=1e-12)
    g = torch.randn_like(ours)
    ours.backward(g)
    theirs.backward(g)
    torch.testing.assert_close(x1.grad, x2.grad, rtol=1e-10, atol=1e-12)


def test_without_rescaling_alpha_differs_from_torch(x):
    """The convention matters: the same number as torch's alpha gives a different function."""
    ours = LocalResponseNorm(5, alpha=1e-3, beta=0.75, k=2.0)(x)
    theirs = torch.nn.LocalResponseNorm(5, alpha=1e-3, beta=0.75, k=2.0)(x)
    assert (ours - theirs).abs().max() > 1e-3


def test_from_torch_round_trip(x):
    ours = LocalResponseNorm.from_torch(5, alpha=1e-4, beta=0.75, k=2.0)(x)
    theirs = torch.nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0)(x)
    torch.testing.assert_close(ours, theirs, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("size", [3, 4, 5])
def test_gradcheck_float64(size):
    torch.manual_seed(1)
    # Small k and large alpha make the non-linear part of the gradient matter.
    a = (torch.randn(2, 7, 3, 3, dtype=torch.float64)).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda t: local_response_norm(t, size, 0.3, 0.75, 0.5), (a,))


def test_gradient_matches_reference_autograd(x):
    a1 = x.clone().requires_grad_(True)
    a2 = x.clone().requires_grad_(True)
    local_response_norm(a1, 5, 1e-3, 0.75, 2.0).sum().backward()
    local_response_norm_reference(a2, 5, 1e-3, 0.75, 2.0).sum().backward()
    torch.testing.assert_close(a1.grad, a2.grad, rtol=1e-10, atol=1e-14)


def test_presets_differ_by_factor_n_and_in_k():
    paper, ccn2, caffe = (LRN_PRESETS[n] for n in ("paper", "cuda-convnet2", "caffe"))
    assert paper.alpha == pytest.approx(1e-4) and paper.torch_alpha == pytest.approx(5e-4)
    for code in (ccn2, caffe):  # cuda-convnet2's scale=0.0001 and Caffe's alpha: 0.0001
        assert code.torch_alpha == pytest.approx(1e-4)
        assert (code.size, code.beta) == (5, 0.75)
    assert (paper.size, paper.beta, paper.k) == (5, 0.75, 2.0)
    assert ccn2.k == 2.0  # minDiv=2 in cuda-convnet2's ImageNet layer-params
    assert caffe.k == 1.0  # LRNParameter's default; bvlc_alexnet does not set k


def test_caffe_preset_is_torch_default_k():
    """Caffe's LRN with bvlc_alexnet's settings is torch's LocalResponseNorm(5, 1e-4, 0.75, 1)."""
    x = torch.rand(2, 16, 5, 5, dtype=torch.float64) * 20
    ours = LocalResponseNorm.from_config("caffe")(x)
    torch.testing.assert_close(ours, torch.nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=1.0)(x))


def test_damps_units_with_strong_neighbours():
    """A unit whose neighbouring channels are active is scaled down more than an isolated one."""
    a = torch.zeros(1, 9, 1, 1)
    a[0, 1] = 10.0  # isolated
    a[0, 6] = 10.0
    a[0, 5] = a[0, 7] = 100.0  # strong neighbours of channel 6
    b = local_response_norm(a, 5, 1e-3, 0.75, 2.0)
    assert b[0, 6] / a[0, 6] < 0.5 * b[0, 1] / a[0, 1]


def test_channels_last_and_float32():
    torch.manual_seed(0)
    a = torch.randn(2, 8, 6, 6).relu().to(memory_format=torch.channels_last)
    torch.testing.assert_close(
        local_response_norm(a, 5, 1e-4, 0.75, 2.0),
        torch.nn.functional.local_response_norm(a.contiguous(), 5, 5e-4, 0.75, 2.0),
        rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("channels_last", [False, True])
def test_groups_normalise_each_group_on_its_own(x, channels_last):
    """groups=2 (the paper's two GPUs): each half of the channels is an LRN of its own."""
    x = x[:, :10].contiguous()  # 10 channels: two groups of 5
    if channels_last:
        x = x.to(memory_format=torch.channels_last)
    grouped = local_response_norm(x, 5, 1e-3, 0.75, 2.0, groups=2)
    halves = torch.cat([local_response_norm_reference(h, 5, 1e-3, 0.75, 2.0) for h in x.chunk(2, 1)], 1)
    torch.testing.assert_close(grouped, halves, rtol=1e-12, atol=1e-12)
    whole = local_response_norm(x, 5, 1e-3, 0.75, 2.0)
    changed = (grouped - whole).abs().amax((0, 2, 3)).nonzero().flatten().tolist()
    assert changed == [3, 4, 5, 6]  # only maps whose window crosses the border
    xg = x.detach().clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda t: local_response_norm(t, 5, 1e-3, 0.75, 2.0, groups=2),
                                    (xg[:2, :, :2, :2].detach().clone().requires_grad_(True),))
    assert "groups=2" in repr(LocalResponseNorm(groups=2))


def test_bad_arguments():
    with pytest.raises(ValueError, match="groups must divide"):
        local_response_norm(torch.zeros(1, 3, 2, 2), groups=2)
    with pytest.raises(ValueError, match="N, C"):
        local_response_norm(torch.zeros(4, 3))
    with pytest.raises(ValueError, match="window size"):
        local_response_norm(torch.zeros(1, 3, 2, 2), size=0)
    with pytest.raises(ValueError, match="unknown LRN preset"):
        LocalResponseNorm.from_config("nope")


def test_torch_compile_fuses_each_pass_into_one_kernel():
    """Under torch.compile (the training default on GPUs) the tensor-op LRN is traced, and the
    compiler turns its forward pass into one fused kernel and its backward pass into another
    (here inductor's C++ kernels on the CPU; on a GPU the same graph becomes Triton kernels)."""
    import re

    from torch._inductor.utils import run_and_get_code

    lrn = torch.compile(LocalResponseNorm(5, 1e-4, 0.75, 2.0, groups=2))
    x = (torch.randn(4, 96, 13, 13) * 30).relu_().requires_grad_(True)

    def forward_backward():
        y = lrn(x)
        y.backward(torch.ones_like(y))
        return y

    _, codes = run_and_get_code(forward_backward)
    assert len(codes) == 2  # the forward graph and the backward graph
    assert [len(set(re.findall(r"\bcpp_fused_\w+", code))) for code in codes] == [1, 1]


def test_bf16_input_is_normalised_in_float32_eager_and_compiled():
    """A bf16 input (autocast's conv outputs) is normalised in float32 and the result rounded to
    bf16 once, as the fused CUDA kernels do: the output is within bf16 rounding (half an ulp,
    2**-8 relative) of the float64 formula, eager and under torch.compile. Computing the squares,
    window sums and power in bf16 was off by up to three times that. The compiled check runs with
    inductor's emulate_precision_casts, which keeps the program's own dtypes (on the CPU inductor
    would otherwise widen bf16 arithmetic by itself; GPU code generation need not)."""
    torch.manual_seed(0)
    x = (torch.randn(8, 96, 13, 13) * 30).relu_().add_(0.5).bfloat16()
    g = torch.randn(x.shape).bfloat16()
    a = x.double().requires_grad_(True)
    exact = local_response_norm(a, 5, 1e-4, 0.75, 2.0, groups=2)
    exact.backward(g.double())
    lrn = LocalResponseNorm(5, 1e-4, 0.75, 2.0, groups=2)

    def errors(f) -> tuple[float, float]:
        xx = x.clone().requires_grad_(True)
        y = f(xx)
        y.backward(g)
        assert y.dtype == xx.grad.dtype == torch.bfloat16
        forward = ((y.double() - exact.detach()) / exact.detach()).abs().max()
        backward = (xx.grad.double() - a.grad).abs().max() / a.grad.abs().max()
        return float(forward), float(backward)

    eager = errors(lrn)
    with torch._inductor.config.patch(emulate_precision_casts=True):
        compiled = errors(torch.compile(lrn))
    for forward, backward in (eager, compiled):
        assert forward <= 2**-8 * 1.001, (eager, compiled)
        assert backward <= 2**-8, (eager, compiled)
