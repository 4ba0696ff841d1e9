"""Claims 3 and 6's multi-seed CPU experiments: the arms' nets, their rows, their records."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from alexnet_lib.experiments import dropout_evidence as de
from alexnet_lib.experiments import pooling_evidence as pe
from alexnet_lib.experiments.evidence_record import evidence_parser


def _pools(net: nn.Module) -> list[nn.MaxPool2d]:
    return [m for m in net.modules() if isinstance(m, nn.MaxPool2d)]


def test_the_pooling_arms_differ_only_in_the_window_and_keep_the_map_sizes() -> None:
    torch.manual_seed(0)
    over = pe.four_layer_net(3, pe.PROTOCOL)
    torch.manual_seed(0)
    non = pe.four_layer_net(2, pe.PROTOCOL)
    assert [(m.kernel_size, m.stride) for m in _pools(over)] == [(3, 2)] * 3
    assert [(m.kernel_size, m.stride) for m in _pools(non)] == [(2, 2)] * 3
    for a, b in zip(over.parameters(), non.parameters(), strict=True):  # one seed, one start
        assert torch.equal(a, b)
    x = torch.randn(2, 3, 32, 32)
    sizes = {}
    for name, net in (("over", over), ("non", non)):
        shapes, h = [], x
        for layer in net.features:
            h = layer(h)
            if isinstance(layer, nn.MaxPool2d):
                shapes.append(tuple(h.shape[2:]))
        sizes[name] = shapes
    assert sizes["over"] == sizes["non"] == [(16, 16), (8, 8), (4, 4)]  # equivalent dimensions


def test_the_dropout_arms_share_weights_and_differ_only_in_training_mode() -> None:
    makers = de._makers(de.PROTOCOL)
    torch.manual_seed(0)
    with_dropout = makers["dropout"]()
    torch.manual_seed(0)
    without = makers["no dropout"]()
    for a, b in zip(with_dropout.parameters(), without.parameters(), strict=True):
        assert torch.equal(a, b)
    drops = [m.p for m in with_dropout.modules() if isinstance(m, nn.Dropout)]
    assert drops == [0.5, 0.5]  # after fc6 and fc7
    x = torch.randn(4, 3, 36, 36)
    with_dropout.eval()
    without.eval()
    assert torch.equal(with_dropout(x), without(x))  # dropout off at test time: the same net
    head = with_dropout.net.classifier
    assert [n for n, _ in head.named_children()] == ["fc6", "act6", "drop6", "fc7", "act7",
                                                     "drop7", "fc8"]
    assert head.fc6.out_features == de.PROTOCOL["hidden"]


def test_dropout_rows_pair_the_arms_and_count_epochs_to_the_target() -> None:
    def part(test: float, train: list[float]) -> dict:
        return {"test_error": test, "history": {"train_error": train}}

    runs = {str(s): {"dropout": part(0.30 + s / 100, [0.8, 0.5, 0.3, 0.2]),
                     "no dropout": part(0.40 + s / 100, [0.6, 0.2, 0.1, 0.0])} for s in range(3)}
    p = dict(de.PROTOCOL, epochs=4, converge_target=0.25)
    test, epochs = de.comparisons([0, 1, 2], runs, p)
    assert (test.claim, test.paper_better, test.other) == (6, "dropout", "no dropout")
    assert test.baseline_error == pytest.approx([0.40, 0.41, 0.42])
    assert test.verdict().status == "reproduced"
    assert epochs.arms == {"no dropout": [2.0] * 3, "dropout": [4.0] * 3}
    assert epochs.paper_better == "no dropout" and epochs.verdict().status == "reproduced"
    runs["0"]["dropout"]["history"]["train_error"] = [0.9] * 4  # never reached: budget + 1
    assert de.comparisons([0, 1, 2], runs, p)[1].arms["dropout"][0] == 5.0


def test_the_pooling_row_is_judged_against_non_overlapping() -> None:
    runs = {str(s): {"overlapping": {"test_error": 0.31}, "non-overlapping": {"test_error": 0.30}}
            for s in range(3)}
    (row,) = pe.comparisons([0, 1, 2], runs)
    assert (row.claim, row.paper_better, row.other) == (3, "overlapping", "non-overlapping")
    assert row.verdict().status == "contradicted"  # every seed the other way


@pytest.mark.parametrize("module,name", [(de, "dropout"), (pe, "pooling")])
def test_a_tiny_run_writes_a_record(module, name: str, tmp_path) -> None:
    p = dict(module.PROTOCOL, n_train=60, n_val=20, n_test=30, epochs=1, lr_drops=[],
             lrs=[0.01], channels=[4, 4, 8])
    if "hidden" in p:
        p["hidden"] = 16
    path = module.evidence([0, 1, 2], tmp_path, "test", p=p, log=lambda m: None)
    assert path == tmp_path / f"{name}.json"
    record = json.loads(path.read_text())
    assert record["claim"] in (3, 6) and record["seeds"] == [0, 1, 2]
    assert {c["claim"] for c in record["comparisons"]} == {record["claim"]}
    for parts in record["runs"].values():
        assert set(parts) == set(module.ARMS)
        assert all(0 <= part["test_error"] <= 1 for part in parts.values())


def test_one_arm_alone_writes_no_record(tmp_path) -> None:
    p = dict(pe.PROTOCOL, n_train=40, n_val=20, n_test=20, epochs=1, lr_drops=[], lrs=[0.01],
             channels=[4, 4, 8])
    assert pe.evidence([0, 1, 2], tmp_path, "test", p=p, only=("overlapping",),
                       log=lambda m: None) is None
    assert not (tmp_path / "pooling.json").exists()


def test_the_commands_describe_themselves_with_a_whole_sentence() -> None:
    parser = evidence_parser("dropout_evidence", de.__doc__, None, "0,1,2", "x")
    assert parser.description.endswith("on the CPU.")
    with pytest.raises(SystemExit):
        pe.run(["--seeds", "0,1"])


@pytest.mark.parametrize("name", ["dropout_evidence", "pooling_evidence"])
def test_the_shared_command_line_runs_them(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    from alexnet_lib.experiments.__main__ import main

    with pytest.raises(SystemExit) as exit_:
        main([name, "--help"])
    assert exit_.value.code == 0
    assert f"python -m alexnet_lib.experiments {name}" in capsys.readouterr().out


def test_the_second_dropout_protocol_only_turns_the_patches_and_flips_off(tmp_path) -> None:
    second = de.PROTOCOLS["no-augmentation"][1]
    assert {k: v for k, v in second.items() if k != "crops_flips"} == de.PROTOCOL
    assert second["crops_flips"] is False and "crops_flips" not in de.PROTOCOL
    torch.manual_seed(0)
    net = de._makers(second)["no dropout"]()
    assert net.crops_flips is False
    p = dict(second, n_train=40, n_val=20, n_test=20, epochs=1, lr_drops=[], lrs=[0.01],
             channels=[4, 4, 8], hidden=16)
    path = de.evidence([0, 1, 2], tmp_path, "test", p=p, log=lambda m: None,
                       name="dropout-no-augmentation")
    record = json.loads(path.read_text())
    assert path.name == "dropout-no-augmentation.json" and "centre patches" in record["scale"]
    assert (tmp_path / "dropout-no-augmentation.parts").is_dir()
