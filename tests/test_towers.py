"""The two-GPU split: the model-parallel towers equal the grouped single-device net."""

import pytest
import torch
from torch import nn

from alexnet_lib import AlexNet
from alexnet_lib.lrn import LocalResponseNorm
from alexnet_lib.towers import (
    TwoColumnAlexNet,
    allreduce_bytes,
    communication_summary,
    crossing_traffic,
    training_memory,
)

SMALL = dict(num_classes=7, width=0.25, hidden=48, input_size=64, init="torch")


def small_net(seed: int = 0, **kw) -> AlexNet:
    torch.manual_seed(seed)
    return AlexNet(**(SMALL | kw)).double()


def batch(n: int = 3, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(n, 3, 64, 64, generator=g, dtype=torch.float64),
            torch.randint(0, 7, (n,), generator=g))


@pytest.mark.parametrize("lrn_per_column", [True, False])
def test_same_outputs_as_the_grouped_net(lrn_per_column):
    net = small_net(lrn_per_column=lrn_per_column).eval()
    towers = TwoColumnAlexNet.from_grouped(net, devices=("cpu", torch.device("cpu"))).eval()
    x, _ = batch()
    assert torch.allclose(towers(x), net(x), rtol=1e-12, atol=1e-12)
    assert sum(p.numel() for p in towers.parameters()) == sum(p.numel() for p in net.parameters())


@pytest.mark.parametrize("lrn_per_column", [True, False])
def test_same_gradients_as_the_grouped_net(lrn_per_column):
    net = small_net(dropout=0.0, lrn_per_column=lrn_per_column).train()
    towers = TwoColumnAlexNet.from_grouped(net).train()
    x, y = batch(4)
    nn.functional.cross_entropy(net(x), y).backward()
    nn.functional.cross_entropy(towers(x), y).backward()
    back = towers.to_grouped(copy_grads=True)
    grads = dict(net.named_parameters())
    for name, p in back.named_parameters():
        assert p.grad is not None, name
        assert torch.allclose(p.grad.double(), grads[name].grad, rtol=1e-10, atol=1e-12), name


@pytest.mark.parametrize("lrn_per_column", [True, False])
def test_one_sgd_step_keeps_the_two_in_lockstep(lrn_per_column):
    net = small_net(dropout=0.0, lrn_per_column=lrn_per_column)
    towers = TwoColumnAlexNet.from_grouped(net)
    x, y = batch(5)
    for model in (net, towers):
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
        for _ in range(2):
            opt.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
    after = towers.to_grouped().state_dict()
    for name, value in net.state_dict().items():
        assert torch.allclose(after[name].double(), value, rtol=1e-9, atol=1e-11), name


@pytest.mark.parametrize("lrn_per_column", [True, False])
def test_round_trip_through_the_towers(lrn_per_column):
    net = small_net(lrn_per_column=lrn_per_column)
    back = TwoColumnAlexNet.from_grouped(net).to_grouped()
    for name, value in net.state_dict().items():
        assert torch.equal(back.state_dict()[name].double(), value), name
    assert back.config == net.config


class PerColumnLRN(nn.Module):
    """The paper's per-GPU normalisation written on one device: LRN on each half separately."""

    def __init__(self, norm: LocalResponseNorm) -> None:
        super().__init__()
        self.norm = norm

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = x.chunk(2, dim=1)
        return torch.cat([self.norm(a), self.norm(b)], 1)


def test_per_column_lrn_is_the_papers_and_differs_only_at_the_border():
    paper_grouped = small_net().eval()  # the default: each column's LRN on its own maps
    net = small_net(lrn_per_column=False).eval()  # one window over all maps (Caffe's)
    paper = TwoColumnAlexNet.from_grouped(net, cross_column_lrn=False).eval()
    x, _ = batch()
    reference = small_net(lrn_per_column=False).eval()
    reference.features.norm1 = PerColumnLRN(reference.features.norm1)
    reference.features.norm2 = PerColumnLRN(reference.features.norm2)
    assert torch.allclose(paper(x), reference(x), rtol=1e-12, atol=1e-12)
    assert torch.allclose(paper_grouped(x), reference(x), rtol=1e-12, atol=1e-12)
    assert not torch.allclose(paper(x), net(x), rtol=0, atol=1e-14)  # the border maps differ
    # conv1's maps: only the 2 + 2 maps at the border see the other column's maps
    a = torch.relu(net.features.conv1(x))
    diff = (net.features.norm1(a) - PerColumnLRN(net.features.norm1)(a)).abs().amax((0, 2, 3))
    half = a.shape[1] // 2
    assert set(torch.nonzero(diff).flatten().tolist()) <= {half - 2, half - 1, half, half + 1}
    # without LRN the two definitions agree
    plain = small_net(lrn=None).eval()
    assert torch.allclose(TwoColumnAlexNet.from_grouped(plain, cross_column_lrn=False)(x), plain(x),
                          rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("cross_column_lrn", [False, True])
def test_recorded_transfers_match_the_counted_traffic(cross_column_lrn):
    net = small_net().eval()
    towers = TwoColumnAlexNet.from_grouped(net, cross_column_lrn=cross_column_lrn).eval().float()
    towers.record = True
    n = 3
    towers(batch(n)[0].float())
    counted = crossing_traffic(net, cross_column_lrn=cross_column_lrn)
    assert towers.to_grouped().config["lrn_per_column"] is not cross_column_lrn
    by_layer: dict[str, int] = {}
    for t in towers.transfers:
        by_layer[t.into] = by_layer.get(t.into, 0) + t.values
        assert t.bytes == 4 * t.values
    assert by_layer == {c.into: n * c.values_forward for c in counted}
    expected = {"conv3", "fc6", "fc7", "fc8"} | ({"norm1", "norm2"} if cross_column_lrn else set())
    assert set(by_layer) == expected


def test_paper_traffic_and_allreduce_arithmetic():
    paper = AlexNet()
    rows = {c.into: c for c in crossing_traffic(paper)}
    assert rows["conv3"].values_forward == 2 * 13 * 13 * 128
    assert rows["fc6"].values_forward == 2 * 6 * 6 * 128
    assert rows["fc7"].values_forward == 4096 and rows["fc8"].values_forward == 2048
    assert rows["conv3"].bytes_per_image == 2 * 4 * 43_264  # forward + backward, fp32
    assert allreduce_bytes(60_965_224, 2) == 4 * 60_965_224
    assert allreduce_bytes(1000, 4) == 6000  # 2 * 3/4 * 1000 * 4 bytes
    summary = communication_summary(paper, batch_size=128)
    assert summary["model_parallel_bytes_per_image"] == 2 * 4 * (43_264 + 9216 + 4096 + 2048)
    assert summary["data_parallel_bytes_per_step"] == 2 * 4 * 60_965_224


def test_training_memory_counts():
    paper = AlexNet()
    mem = training_memory(paper, batch_size=2)
    assert mem.parameters == mem.gradients == mem.momentum == 4 * 60_965_224
    # at least conv1's 55x55x96 output and the input, per image
    assert mem.activations > 2 * 4 * (55 * 55 * 96 + 224 * 224 * 3)
    assert training_memory(paper, batch_size=4).activations == 2 * mem.activations


def test_needs_two_columns():
    with pytest.raises(ValueError):
        TwoColumnAlexNet(AlexNet(**SMALL, groups=1))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_runs_across_real_devices():
    net = small_net().float().eval()
    second = "cuda:1" if torch.cuda.device_count() > 1 else "cpu"
    towers = TwoColumnAlexNet.from_grouped(net, devices=("cuda:0", second)).eval()
    assert next(towers.columns[1].parameters()).device == torch.device(second)
    x, y = batch(4)
    out = towers(x.float())
    assert out.device == torch.device("cuda:0")
    assert torch.allclose(out.cpu(), net(x.float()), atol=1e-4)
    towers.train()
    nn.functional.cross_entropy(towers(x.float()), y.cuda()).backward()
    assert all(p.grad is not None for p in towers.parameters())


def test_towers_refuse_a_net_without_its_middle_layers():
    with pytest.raises(ValueError, match="five conv layers"):
        TwoColumnAlexNet(small_net(remove=("conv4",)))


@pytest.mark.parametrize("double", [True, False])
def test_to_grouped_builds_no_initialised_net_and_draws_no_random_numbers(double):
    """Every model-parallel checkpoint goes through to_grouped: it must not initialise a whole new
    net (seconds at the paper's size) nor advance torch's global RNG (the run's random numbers)."""
    net = small_net(init="paper") if double else AlexNet(**(SMALL | dict(lrn_per_column=False)))
    towers = TwoColumnAlexNet.from_grouped(net)
    before = torch.get_rng_state()
    state = towers.to_grouped().state_dict()
    assert torch.equal(torch.get_rng_state(), before)
    expected = net.state_dict()
    assert list(state) == list(expected)  # the same keys, in the same order
    for name, value in expected.items():
        assert state[name].dtype == value.dtype and torch.equal(state[name], value), name
