"""The paper's architecture (Section 3.5) and each of its switches."""

import pytest
import torch
from torch import nn

from alexnet_lib import AlexNet, LocalResponseNorm
from alexnet_lib.model import PAPER_CHANNELS

PAPER_SHAPES = [  # (layer, H x W x C) from Section 3.5 / Figure 2
    ("conv1", (96, 55, 55)), ("pool1", (96, 27, 27)), ("conv2", (256, 27, 27)),
    ("pool2", (256, 13, 13)), ("conv3", (384, 13, 13)), ("conv4", (384, 13, 13)),
    ("conv5", (256, 13, 13)), ("pool5", (256, 6, 6)), ("fc6", (4096,)), ("fc7", (4096,)),
    ("fc8", (1000,)),
]


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.fixture(scope="module")
def paper_net() -> AlexNet:
    torch.manual_seed(0)
    return AlexNet()


def test_paper_parameter_count(paper_net):
    assert n_params(paper_net) == 60_965_224


def test_paper_feature_map_sizes(paper_net):
    rows = paper_net.layer_table()
    assert [(r.name, r.output_shape) for r in rows] == PAPER_SHAPES
    assert sum(r.params for r in rows) == 60_965_224
    # The paper's neuron counts after conv1 (its first number, 253,440, is a known typo).
    assert [r.neurons for r in rows if r.name.startswith(("conv2", "conv3", "conv4", "conv5"))] \
        == [186_624, 64_896, 64_896, 43_264]


def test_summary_text(paper_net):
    text = paper_net.summary()
    assert "55x55x96" in text and "6x6x256" in text and "60,965,224" in text


def test_forward_shape_and_finite(paper_net):
    paper_net.eval()
    out = paper_net(torch.randn(2, 3, 224, 224))
    assert out.shape == (2, 1000) and torch.isfinite(out).all()


def test_paper_initialisation(paper_net):
    layers = dict(paper_net.features.named_children()) | dict(paper_net.classifier.named_children())
    for name in ("conv1", "conv3", "fc8"):
        assert torch.all(layers[name].bias == 0), name
    for name in ("conv2", "conv4", "conv5", "fc6", "fc7"):
        assert torch.all(layers[name].bias == 1), name
    w = layers["fc6"].weight
    assert abs(w.mean().item()) < 1e-4 and w.std().item() == pytest.approx(0.01, rel=0.01)


def test_paper_code_initialisation_is_the_original_configs_per_layer_values():
    """cuda-convnet2's layers-imagenet-2gpu-model.cfg: initW 0.01 in conv1, conv2 and the fc
    layers, 0.03 in conv3-5; initB 1 in conv2, conv4, conv5, fc6, fc7 (the paper's biases)."""
    torch.manual_seed(0)
    net = AlexNet(num_classes=10, width=0.5, hidden=1024, init="paper-code")
    layers = dict(net.features.named_children()) | dict(net.classifier.named_children())
    for name, (std, bias) in {"conv1": (0.01, 0), "conv2": (0.01, 1), "conv3": (0.03, 0),
                              "conv4": (0.03, 1), "conv5": (0.03, 1), "fc6": (0.01, 1),
                              "fc7": (0.01, 1), "fc8": (0.01, 0)}.items():
        assert torch.all(layers[name].bias == bias), name
        assert layers[name].weight.std().item() == pytest.approx(std, rel=0.05), name
    assert net.config["init"] == "paper-code"
    AlexNet(**net.config).load_state_dict(net.state_dict())  # a config that rebuilds


def test_the_init_tables_draw_as_the_code_they_replaced():
    """A seed gives the weights it gave before the tables (so the committed records replay):
    the same draws in the same order as the per-scheme code of before."""
    from torch import nn

    def old_reset(model, init):  # the code before INIT_TABLES, verbatim
        for full_name, layer in model.named_modules():
            if not isinstance(layer, nn.Conv2d | nn.Linear):
                continue
            name = full_name.split(".")[-1]
            positive = name in ("conv2", "conv4", "conv5", "fc6", "fc7")
            if init == "paper":
                nn.init.normal_(layer.weight, 0.0, 0.01)
                nn.init.constant_(layer.bias, 1.0 if positive else 0.0)
            else:
                nn.init.normal_(layer.weight, 0.0, 0.005 if name in ("fc6", "fc7") else 0.01)
                nn.init.constant_(layer.bias, 0.1 if positive else 0.0)

    for init in ("paper", "caffe"):
        new, old = (AlexNet(num_classes=10, width=0.25, hidden=64) for _ in range(2))
        torch.manual_seed(3)
        new.reset_parameters(init)
        torch.manual_seed(3)
        old_reset(old, init)
        for (name, p), q in zip(new.state_dict().items(), old.state_dict().values(), strict=True):
            assert torch.equal(p, q), (init, name)


def test_he_and_its_old_name_kaiming_draw_as_the_code_they_replaced():
    """One registry of schemes: "he" (the experiments' name) and "kaiming" (the training
    command's, in saved checkpoints) are the same scheme, drawing what the per-scheme code drew."""
    from torch import nn

    from alexnet_lib.model import INIT_NAMES, INIT_SCHEMES, init_scheme

    def old_kaiming(model):  # the code before INIT_SCHEMES, verbatim
        for _, layer in model.named_modules():
            if isinstance(layer, nn.Conv2d | nn.Linear):
                nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
                nn.init.zeros_(layer.bias)

    nets = {}
    for init in ("he", "kaiming", "old"):
        nets[init] = AlexNet(num_classes=10, width=0.25, hidden=64, init="torch")
        torch.manual_seed(5)
        if init == "old":
            old_kaiming(nets[init])
        else:
            nets[init].reset_parameters(init)
            assert nets[init].config["init"] == init  # the name given, which rebuilds
            AlexNet(**nets[init].config).load_state_dict(nets[init].state_dict())
    for name, p in nets["old"].state_dict().items():
        assert torch.equal(nets["he"].state_dict()[name], p), name
        assert torch.equal(nets["kaiming"].state_dict()[name], p), name
    assert init_scheme("kaiming") == init_scheme("he") == "he"
    assert set(INIT_NAMES) == {*INIT_SCHEMES, "kaiming"}
    with pytest.raises(ValueError, match="'he'.*'kaiming'.*got 'xavier'"):
        AlexNet(num_classes=10, width=0.25, hidden=64, init="xavier")


def test_caffe_and_torch_initialisation():
    caffe = AlexNet(num_classes=10, width=0.25, hidden=256, init="caffe")
    assert torch.all(caffe.features.conv2.bias == 0.1)
    assert caffe.classifier.fc6.weight.std().item() == pytest.approx(0.005, rel=0.05)
    torch_init = AlexNet(num_classes=10, width=0.25, hidden=256, init="torch")
    assert not torch.all(torch_init.features.conv2.bias == 1)
    assert torch_init.config["init"] == "torch"


def test_lrn_switch():
    paper = AlexNet(num_classes=10, width=0.25, hidden=64)
    assert isinstance(paper.features.norm1, LocalResponseNorm)
    assert paper.features.norm1.alpha == pytest.approx(1e-4)
    assert AlexNet(num_classes=10, width=0.25, hidden=64, lrn="caffe").features.norm2.alpha \
        == pytest.approx(2e-5)
    off = AlexNet(num_classes=10, width=0.25, hidden=64, lrn=None)
    assert isinstance(off.features.norm1, nn.Identity)
    assert n_params(off) == n_params(paper)  # LRN has no parameters


def test_lrn_per_column_switch():
    """By default each column's LRN sees only its own maps, as on the paper's two GPUs."""
    torch.manual_seed(0)
    per_column = AlexNet(num_classes=10, width=0.25, hidden=64).eval()
    one_window = AlexNet(num_classes=10, width=0.25, hidden=64, lrn_per_column=False).eval()
    one_window.load_state_dict(per_column.state_dict())
    assert per_column.features.norm1.groups == 2 and one_window.features.norm1.groups == 1
    assert AlexNet(num_classes=10, width=0.25, hidden=64, groups=1).features.norm1.groups == 1
    a = torch.relu(per_column.features.conv1(torch.randn(2, 3, 224, 224))) * 50
    half = a.shape[1] // 2
    diff = (per_column.features.norm1(a) - one_window.features.norm1(a)).abs().amax((0, 2, 3))
    assert set(diff.nonzero().flatten().tolist()) == {half - 2, half - 1, half, half + 1}
    assert per_column.config["lrn_per_column"] and not one_window.config["lrn_per_column"]


def test_remove_a_middle_layer():
    """Section 3.5's ablation: without conv3 or conv4 the next layer reads the earlier maps."""
    full = AlexNet()
    no4 = AlexNet(remove=("conv4",))
    assert "conv4" not in dict(no4.features.named_children())
    assert no4.features.conv5.in_channels == 384 and no4.features.conv5.groups == 2
    assert n_params(full) - n_params(no4) == 384 * 192 * 3 * 3 + 384  # conv4's weights and biases
    no3 = AlexNet(remove=("conv3",))
    assert no3.features.conv4.in_channels == 256 and no3.features.conv4.groups == 2
    both = AlexNet(remove=("conv3", "conv4"), num_classes=10, width=0.25, hidden=64)
    assert both(torch.zeros(2, 3, 224, 224)).shape == (2, 10)
    assert [r.output_shape for r in no4.layer_table() if r.name == "pool5"] == [(256, 6, 6)]
    with pytest.raises(ValueError, match="middle layers"):
        AlexNet(remove=("conv2",))


def test_activation_switch():
    net = AlexNet(activation="tanh", num_classes=10, width=0.25, hidden=64)
    acts = [m for m in net.modules() if isinstance(m, nn.Tanh | nn.ReLU)]
    assert len(acts) == 7 and all(isinstance(m, nn.Tanh) for m in acts)


def test_non_overlapping_pooling_same_map_sizes():
    net = AlexNet(pooling="non-overlapping")
    assert net.features.pool1.kernel_size == 2 and net.features.pool1.stride == 2
    assert [(r.name, r.output_shape) for r in net.layer_table()] == PAPER_SHAPES
    assert n_params(net) == 60_965_224


def test_dropout_switch():
    assert AlexNet(num_classes=10, width=0.25, hidden=64).classifier.drop6.p == 0.5
    net = AlexNet(num_classes=10, width=0.25, hidden=64, dropout=0.0)
    net.train()
    x = torch.randn(4, 3, 224, 224)
    torch.testing.assert_close(net(x), net(x))  # no randomness without dropout
    with pytest.raises(ValueError, match="dropout"):
        AlexNet(dropout=1.0)


def test_groups_switch():
    one_column = AlexNet(groups=1)
    # conv2/4/5 see all input maps: their weights double, nothing else changes.
    extra = 256 * 48 * 25 + 384 * 192 * 9 + 256 * 192 * 9
    assert n_params(one_column) == 60_965_224 + extra
    assert one_column.features.conv2.groups == 1 and AlexNet().features.conv2.groups == 2
    assert AlexNet().features.conv3.groups == 1  # conv3 sees both columns in the paper
    with pytest.raises(ValueError, match="groups"):
        AlexNet(groups=3)


def test_grouped_conv_keeps_columns_separate():
    """With groups=2, conv2's first half of outputs does not depend on conv1's second half."""
    torch.manual_seed(0)
    conv2 = AlexNet().features.conv2
    x = torch.randn(1, 96, 27, 27, requires_grad=True)
    conv2(x)[:, :128].sum().backward()
    assert x.grad[:, 48:].abs().max() == 0 and x.grad[:, :48].abs().max() > 0


def test_width_multiplier_and_half_kernel_net():
    half = AlexNet(width=0.5)
    assert half.config["channels"] == tuple(c // 2 for c in PAPER_CHANNELS)
    # The paper's one-GPU net: half the kernels except conv5, one column.
    one_gpu = AlexNet(channels=(48, 128, 192, 192, 256), groups=1)
    assert one_gpu.feature_shape == (256, 6, 6)
    assert [r.output_shape[0] for r in one_gpu.layer_table()[:7:2]] == [48, 128, 192, 256]


def test_small_inputs_and_classes():
    net = AlexNet(num_classes=10, width=0.25, hidden=128, input_size=64)
    assert net(torch.randn(3, 3, 64, 64)).shape == (3, 10)
    with pytest.raises(ValueError, match="too small"):
        AlexNet(input_size=16)


def test_227_caffe_arithmetic():
    net = AlexNet(input_size=227, conv1_padding=0)
    assert net.layer_table()[0].output_shape == (96, 55, 55)
    assert n_params(net) == 60_965_224


@pytest.mark.parametrize("kwargs,match", [
    (dict(activation="sigmoid"), "activation"),
    (dict(pooling="average"), "pooling"),
    (dict(lrn="fast"), "lrn"),
    (dict(init="xavier"), "init"),
    (dict(width=0), "width"),
    (dict(channels=(1, 2, 3)), "channels"),
])
def test_bad_switches(kwargs, match):
    with pytest.raises(ValueError, match=match):
        AlexNet(num_classes=10, hidden=64, **kwargs)


def test_compiles_to_one_graph():
    """torch.compile (on by default for training on GPUs) traces the whole net, LRN included, as
    one graph: a graph break would cut the fusion around it and cost a round trip to Python."""
    net = AlexNet(width=0.25, num_classes=10, input_size=64)  # two columns, LRN per column
    explanation = torch._dynamo.explain(net)(torch.randn(2, 3, 64, 64))
    assert explanation.graph_break_count == 0 and explanation.graph_count == 1, explanation.break_reasons


def test_compiled_training_step_matches_eager():
    """torch.compile (inductor; on by default for training on GPUs) gives the eager outputs and
    gradients, LRN's hand-written backward included. About 40 s on a 2-core CPU."""
    torch.manual_seed(0)
    net = AlexNet(width=0.25, num_classes=10, input_size=64, dropout=0.0)
    x = torch.randn(4, 3, 64, 64)

    def step(model):
        net.zero_grad(set_to_none=True)
        out = model(x)
        out.square().sum().backward()
        return out.detach(), [p.grad.clone() for p in net.parameters()]

    eager_out, eager_grads = step(net)
    compiled_out, compiled_grads = step(torch.compile(net))
    torch.testing.assert_close(compiled_out, eager_out, rtol=1e-5, atol=1e-5)
    for got, want in zip(compiled_grads, eager_grads, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)


def test_conv1_window_and_stride_are_switches_that_rebuild() -> None:
    net = AlexNet(num_classes=10, width=0.25, hidden=64, input_size=32, conv1_kernel=7,
                  conv1_stride=1, conv1_padding=0, init="torch")
    conv1 = net.features.conv1
    assert conv1.kernel_size == (7, 7) and conv1.stride == (1, 1) and conv1.padding == (0, 0)
    assert net.feature_shape[1:] == (2, 2)  # 32 -> 26 -> 12 -> 5 -> 2
    AlexNet(**net.config).load_state_dict(net.state_dict())
    assert AlexNet().features.conv1.kernel_size == (11, 11)  # the paper's by default
