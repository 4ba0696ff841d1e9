"""The experiments behind the chapters ReLU vs tanh, LRN, overlapping pooling and dropout.

Tiny configurations only (the chapters run the real ones): each experiment must run, return
well-formed results and records, and the command line must write its JSON and plot.
"""

import json

import pytest
import torch

from alexnet_lib import AlexNet
from alexnet_lib.experiments import dropout, lrn, pooling, relu_tanh
from alexnet_lib.experiments.__main__ import main
from alexnet_lib.experiments.datasets import builtin_data
from alexnet_lib.experiments.loop import TrainConfig, epochs_to_reach, train
from alexnet_lib.experiments.nets import FourLayerNet
from alexnet_lib.experiments.records import STATUSES, Record, load_result, result_path, save_result


@pytest.fixture(scope="module")
def data32():
    return builtin_data(40, 20, 32)


@pytest.fixture(scope="module")
def data64():
    return builtin_data(40, 20, 64)


def test_training_is_deterministic_and_init_is_shared(data32):
    cfg = TrainConfig(epochs=2, batch_size=16, lr=0.01, seed=3)
    make = lambda: FourLayerNet(channels=(4, 4, 8))  # noqa: E731
    m1, h1 = train(make, data32, cfg)
    m2, h2 = train(make, data32, cfg)
    assert h1.train_error == h2.train_error and h1.train_loss == h2.train_loss
    assert all(torch.equal(a, b) for a, b in zip(m1.parameters(), m2.parameters(), strict=True))
    # Same seed, same parameter shapes: the ReLU and the tanh net start from the same weights.
    torch.manual_seed(0)
    relu = FourLayerNet(activation="relu", channels=(4, 4, 8))
    torch.manual_seed(0)
    tanh = FourLayerNet(activation="tanh", channels=(4, 4, 8))
    assert all(torch.equal(a, b) for a, b in zip(relu.parameters(), tanh.parameters(), strict=True))


def test_lr_drops_divide_the_rate_after_their_epoch(data32):
    make = lambda: FourLayerNet(channels=(4, 4, 8))  # noqa: E731
    base = dict(epochs=2, batch_size=16, lr=0.05, seed=1)
    _, constant = train(make, data32, TrainConfig(**base))
    _, late = train(make, data32, TrainConfig(**base, lr_drops=(5,)))  # after the last epoch
    _, dropped = train(make, data32, TrainConfig(**base, lr_drops=(1,)))
    assert late.train_loss == constant.train_loss
    assert dropped.train_loss[0] == constant.train_loss[0]  # epoch 1 at the full rate
    assert dropped.train_loss[1] != constant.train_loss[1]  # epoch 2 at a tenth of it


def test_augment_and_view_hooks(data32):
    """augment transforms each training batch with its own generator; view is what evaluation sees."""
    make = lambda: FourLayerNet(channels=(4, 4, 8))  # noqa: E731
    cfg = TrainConfig(epochs=1, batch_size=16, seed=2)
    _, plain = train(make, data32, cfg)
    _, same = train(make, data32, cfg, augment=lambda x, g: x, view=lambda x: x)
    assert same.train_loss == plain.train_loss and same.test_error == plain.test_error
    seen = []
    _, flipped = train(make, data32, cfg, augment=lambda x, g: seen.append(g) or x.flip(-1),
                       view=lambda x: x.flip(-1))
    assert len(seen) == 3 and all(g is seen[0] for g in seen)  # 40 images, batches of 16
    assert flipped.train_loss != plain.train_loss


def test_inputs_preprocessing(data32):
    unit, _ = data32.inputs("unit")
    paper, _ = data32.inputs("paper")
    std, _ = data32.inputs("standardize")
    torch.testing.assert_close(unit * 255, paper, rtol=1e-4, atol=1e-3)
    assert paper.mean(0).abs().max() < 1e-3  # the mean image is subtracted
    torch.testing.assert_close(std.std(dim=(0, 2, 3)), torch.ones(3), rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="preprocess"):
        data32.inputs("bogus")


def test_epochs_to_reach():
    assert epochs_to_reach([0.9, 0.6, 0.4, 0.2], 0.5) == 3
    assert epochs_to_reach([0.9, 0.6], 0.5) is None


def _check_records(recs, claim):
    assert recs and all(isinstance(r, Record) and r.claim == claim for r in recs)
    assert all(r.status in STATUSES and r.paper and r.ours and r.scale for r in recs)


def test_relu_tanh_tiny(data32):
    cfg = relu_tanh.ReluTanhConfig(epochs=2, lrs=[0.01, 0.03], channels=[4, 4, 8], batch_size=16)
    result = relu_tanh.run(cfg, data32)
    assert set(result.runs) == {"relu, lr=0.01", "tanh, lr=0.01", "relu, lr=0.03", "tanh, lr=0.03"}
    s = result.summary
    assert set(s["best_lr"]) == {"relu", "tanh"} and s["best_lr"]["relu"] in cfg.lrs
    assert len(s["same_lr"]) == len(cfg.lrs) * len(cfg.targets)
    assert s["tanh_time_ratio"] > 0
    assert 0 <= s["saturation_at_init"]["tanh_saturated"] <= 1
    _check_records(relu_tanh.records(result, "cmd", "abc"), claim=1)
    json.dumps(result.to_dict())  # JSON-ready


def test_relu_tanh_verdict():
    row = lambda t, r, h: {"target": t, "relu_epochs": r, "tanh_epochs": h}  # noqa: E731
    assert relu_tanh.verdict({"at_best_lr": [row(0.5, 3, 9), row(0.25, None, None)]}) == \
        ("reproduced", row(0.5, 3, 9))
    assert relu_tanh.verdict({"at_best_lr": [row(0.5, 3, 2), row(0.25, 9, 5)]})[0] == \
        "not reproduced at this scale"
    assert relu_tanh.verdict({"at_best_lr": [row(0.5, 4, None)]})[0] == "reproduced"
    assert relu_tanh.verdict({"at_best_lr": [row(0.5, None, None)]}) == \
        ("not reproduced at this scale", None)


def test_lrn_tiny_and_damping(data32):
    cfg = lrn.LRNExperimentConfig(epochs=1, channels=[4, 4, 8], batch_size=16)
    result = lrn.run(cfg, data32)
    assert set(result.runs) == {"none", "lrn", "batchnorm"}
    d = result.summary["damping"]
    assert 0 < d["mean_extra_factor"] <= 1 and d["constant"] == pytest.approx(2 ** -0.75)
    _check_records(lrn.records(result), claim=2)
    # The factor beyond k**-beta is (1 + alpha * S / k)**-beta: check it on a strong input.
    net = FourLayerNet(norm="lrn", channels=(4, 4, 8))
    big = lrn.lrn_damping(net, data32.inputs("paper")[0][:4] * 50)
    assert big["mean_extra_factor"] < 1 and big["top10_factor"] <= big["rest_factor"] + 1e-6


def test_pooling_tiny(data64):
    cfg = pooling.PoolingConfig(epochs=1, width=0.1, hidden=16, batch_size=16)
    result = pooling.run(cfg, data64)
    assert set(result.runs) == {"overlapping", "non-overlapping"}
    # For a 64 input both poolings give the same map sizes (like 27, 13, 6 at 224).
    assert result.summary["map_sizes"]["overlapping"] == {"pool1": 7, "pool2": 3, "pool5": 1}
    assert result.summary["map_sizes"]["non-overlapping"] == {"pool1": 7, "pool2": 3, "pool5": 1}
    recs = pooling.records(result)
    _check_records(recs, claim=3)
    assert len(recs) == 2


@pytest.mark.parametrize("p", [0.5, 0.3])
def test_paper_dropout_equals_inverted_dropout(p):
    torch.manual_seed(0)
    net = AlexNet(10, width=0.1, hidden=32, input_size=64, dropout=p, init="torch")
    x = torch.randn(6, 3, 64, 64)
    eq = dropout.check_equivalence(net, x)
    assert eq["eval"] <= 1e-5 * eq["scale"] and eq["train"] <= 1e-5 * eq["scale"]
    if p == 0.5:  # scaling by 2 and 0.5 is exact in floating point
        assert eq["eval"] == 0 and eq["train"] == 0
    paper = dropout.to_paper_dropout(net)
    assert isinstance(paper.classifier.drop6, dropout.PaperDropout)
    torch.testing.assert_close(paper.classifier.fc7.weight, net.classifier.fc7.weight / (1 - p))
    paper.eval()
    torch.testing.assert_close(paper.classifier.drop6(torch.ones(3)), torch.full((3,), 1 - p))
    # A wrong scaling is caught: without the weight change the test-time outputs differ.
    paper.classifier.fc7.weight.data.mul_(1 - p)
    net.eval()
    assert (paper(x) - net(x)).abs().max() > 1e-3 * net(x).abs().max()


def test_dropout_tiny(data64):
    cfg = dropout.DropoutConfig(epochs=2, width=0.1, hidden=16, batch_size=16)
    result = dropout.run(cfg, data64)
    s = result.summary
    assert set(s["epochs_to_target"]) == {"no dropout", "dropout 0.5"}
    assert s["equivalence"]["eval"] == 0 and 0 <= s["mc_average"]["agreement"] <= 1
    recs = dropout.records(result)
    _check_records(recs, claim=6)
    assert [r.status for r in recs][2] == "reproduced"


def test_records_round_trip(tmp_path):
    rec = Record(claim=1, claim_text="c", paper="p", ours="o", scale="s", status="reproduced",
                 experiment="x", values={"a": 1})
    path = save_result(result_path(tmp_path, "x"), "x", "builtin", {"k": 1}, {"r": 2}, [rec])
    assert path.name == "x.json" and result_path(tmp_path, "x", "cifar10").name == "x-cifar10.json"
    assert load_result(path)["records"] == [rec]
    with pytest.raises(ValueError, match="status"):
        Record(1, "c", "p", "o", "s", "sort of", "x")


def test_cli_writes_json_and_png(tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["pooling", "--dataset", "builtin", "--n-train", "30", "--n-test", "10",
               "--epochs", "1", "--width", "0.1", "--hidden", "8", "--out", str(out)])
    assert rc == 0
    payload = load_result(out / "pooling.json")
    assert payload["dataset"] == "builtin" and payload["config"]["epochs"] == 1
    assert payload["records"][0].command.startswith("python -m alexnet_lib.experiments pooling")
    assert (out / "pooling.png").stat().st_size > 1000
    assert "claim 3" in capsys.readouterr().out


def test_cli_errors(tmp_path, capsys):
    with pytest.raises(SystemExit) as err:
        main(["relu_tanh", "--epochs", "many"])
    assert err.value.code == 2 and "invalid int value" in capsys.readouterr().err
    with pytest.raises(SystemExit) as err:
        main(["no_such_experiment"])
    assert err.value.code == 2
    with pytest.raises(SystemExit) as err:
        main(["lrn", "--dataset", "cifar10", "--data", str(tmp_path / "nowhere")])
    assert err.value.code == 2 and "CIFAR-10 not found" in capsys.readouterr().err
    with pytest.raises(SystemExit) as err:
        main(["dropout", "--preprocess", "sideways"])
    assert err.value.code == 2 and "preprocess must be one of" in capsys.readouterr().err


def test_four_layer_inits_share_the_models_schemes_and_name_the_gaussian_one():
    from alexnet_lib.experiments.nets import INITS, initialise

    def weights(init):
        torch.manual_seed(0)
        return [t.clone() for t in FourLayerNet(init=init).state_dict().values()]

    assert INITS == ("gaussian", "he", "torch")
    # "paper", the first records' name, draws the same as "gaussian": N(0, 0.01), zero biases
    assert all(torch.equal(a, b) for a, b in zip(weights("paper"), weights("gaussian"), strict=True))
    net = FourLayerNet(init="gaussian")
    assert all(not m.bias.detach().any() for m in (net.features.conv1, net.classifier))
    assert 0.008 < float(net.features.conv3.weight.detach().std()) < 0.012
    # "he" is the model's scheme: Kaiming-normal for ReLUs, zero biases, as drawn layer by layer
    torch.manual_seed(0)
    he = FourLayerNet(init="torch")
    torch.manual_seed(1)
    initialise(he, "he")
    torch.manual_seed(1)
    expected = [torch.nn.init.kaiming_normal_(torch.empty_like(m.weight), nonlinearity="relu")
                for m in he.modules() if isinstance(m, torch.nn.Conv2d | torch.nn.Linear)]
    got = [m.weight for m in he.modules() if isinstance(m, torch.nn.Conv2d | torch.nn.Linear)]
    assert all(torch.equal(a, b) for a, b in zip(got, expected, strict=True))
    with pytest.raises(ValueError, match="gaussian"):
        FourLayerNet(init="caffe")


def test_the_one_evaluation_loop_counts_wrong_images_and_restores_the_mode(data32):
    from alexnet_lib.experiments.loop import evaluate, wrong_per_image

    torch.manual_seed(0)
    net = FourLayerNet(norm="batchnorm", init="torch").train()
    _, x = data32.inputs("standardize")
    y = data32.test_y
    wrong = wrong_per_image(net, x, y, batch_size=7)
    assert net.training and wrong.dtype == torch.bool and wrong.shape == (len(y),)
    net.eval()
    with torch.no_grad():
        expected = net(x).argmax(1) != y  # eval mode: BatchNorm's running statistics
    assert torch.equal(wrong, expected)
    assert evaluate(net, x, y) == int(expected.sum()) / len(y)
    flipped = wrong_per_image(net, x, y, predict=lambda m, xb: m(xb.flip(-1)))
    with torch.no_grad():
        assert torch.equal(flipped, net(x.flip(-1)).argmax(1) != y)
    assert wrong_per_image(net, x[:0], y[:0]).shape == (0,)
