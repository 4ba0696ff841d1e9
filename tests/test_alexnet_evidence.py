"""The AlexNet ablations' multi-seed experiment (claims 3, 6, 7, 8): its arms and its record."""

from __future__ import annotations

import json

import pytest
import torch

from alexnet_lib.data.builtin import make_tensors
from alexnet_lib.experiments import alexnet_evidence as ax

TINY = dict(ax.PROTOCOL, image_size=72, crop=64, n_train=40, n_val=20, n_test=20, width=0.125,
            hidden=32, epochs=1, lr_drops=[], lrs=[0.01], batch_size=20)


def _net(arm: str, p: dict = TINY) -> torch.nn.Module:
    torch.manual_seed(0)
    return ax.make_net(arm, p)()


def test_each_arm_changes_one_thing_in_the_paper_net() -> None:
    paper = _net("paper").net.config
    for arm, switches in ax.ARMS.items():
        config = _net(arm).net.config
        changed = {k for k in paper if paper[k] != config[k]}
        expected = set(switches) - ({"groups"} if arm.startswith("one column") else set())
        assert changed - {"groups", "channels"} == expected - {"groups", "channels"}, arm
        assert config["lrn"] == "paper" and config["input_size"] == 64
    assert _net("no dropout").net.config["dropout"] == 0.0
    assert _net("paper").net.config["groups"] == 2


def test_the_one_column_net_of_equal_parameters_has_about_the_two_column_count() -> None:
    p = dict(ax.PROTOCOL)  # the real sizes
    count = {arm: sum(q.numel() for q in _net(arm, p).parameters())
             for arm in ("paper", "one column, same parameters", "one column, half kernels")}
    assert abs(count["one column, same parameters"] / count["paper"] - 1) < 0.02
    assert count["one column, half kernels"] < 0.9 * count["paper"]


def test_parallel_generation_gives_the_same_bytes() -> None:
    args = ("train", 9, TINY["image_size"], TINY["data_seed"], TINY["data_style"])
    one, labels_one = make_tensors(*args, workers=1)
    two, labels = make_tensors(*args, workers=2)
    assert torch.equal(one, two) and torch.equal(labels, labels_one)
    assert labels.tolist() == [i % 10 for i in range(9)]


def test_a_tiny_run_writes_one_record_for_the_claims_asked(tmp_path) -> None:
    path = ax.evidence([0, 1, 2], [6], tmp_path, "test", p=TINY, log=lambda m: None)
    record = json.loads(path.read_text())
    assert path.name == "alexnet-claims-6.json"
    assert [c["claim"] for c in record["comparisons"]] == [6, 6]
    epochs = record["comparisons"][1]
    assert epochs["paper_better"] == "no dropout"
    assert all(1 <= e <= TINY["epochs"] + 1 for e in epochs["arms"]["paper"])


def test_the_command_needs_a_claim(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        ax.run(["--seeds", "0,1,2"])
    assert "--claim" in capsys.readouterr().err


def _conv_sides(net: torch.nn.Module, side: int) -> dict[str, int]:
    x, sides = torch.zeros(1, 3, side, side), {}
    for name, layer in net.features.named_children():
        x = layer(x)
        if name.startswith(("conv", "pool5")):
            sides[name] = x.shape[-1]
    return sides


def test_the_cpu_protocol_keeps_maps_with_spatial_extent_in_every_claim_7_8_arm() -> None:
    p = ax.PROTOCOL_CPU
    for arm in ("paper", *ax.CLAIM_ARMS[7], *ax.CLAIM_ARMS[8]):
        net = _net(arm, p).net
        sides = _conv_sides(net, p["crop"])
        assert sides["conv1"] == 26 and sides["conv2"] == 12, arm
        assert all(sides[c] == 5 for c in ("conv3", "conv4", "conv5") if c in sides), arm
        assert sides["pool5"] == 2 and net.feature_shape[1:] == (2, 2), arm
        assert net.config["conv1_kernel"] == 7 and net.config["conv1_stride"] == 1
    half = _net("one column, half kernels", p).net.config["channels"]
    assert half == (24, 64, 96, 96, 128)  # width 0.5: conv1 keeps 24 kernels, conv5 not halved
    count = {arm: sum(q.numel() for q in _net(arm, p).parameters())
             for arm in ("paper", "one column, same parameters")}
    assert abs(count["one column, same parameters"] / count["paper"] - 1) < 0.02


def test_arms_split_over_processes_write_the_record_once_all_parts_exist(tmp_path) -> None:
    tiny = dict(ax.PROTOCOL_CPU, n_train=40, n_val=20, n_test=20, width=0.125, hidden=32,
                epochs=1, lr_drops=[], lrs=[0.01], batch_size=20)
    quiet = {"log": lambda m: None, "name": "alexnet-cpu"}
    assert ax.evidence([0, 1, 2], [8], tmp_path, "t", tiny, only=("paper",), **quiet) is None
    path = ax.evidence([0, 1, 2], [8], tmp_path, "t", tiny,
                       only=("without conv3", "without conv4"), **quiet)
    record = json.loads(path.read_text())
    assert path.name == "alexnet-cpu-claims-8.json"
    assert (tmp_path / "alexnet-cpu-claims-8.parts" / "lr-paper.json").exists()
    assert [c["arms"].keys() - {"paper"} for c in record["comparisons"]] == [
        {"without conv3"}, {"without conv4"}]
    assert "conv1 7x7/1" in record["scale"] and "32 px" in record["comparisons"][0]["title"]
    with pytest.raises(ValueError, match="not an arm"):
        ax.evidence([0, 1, 2], [8], tmp_path, "t", tiny, only=("no dropout",), **quiet)


@pytest.mark.parametrize("argv, message", [
    (["--claim", "8", "--arm", "no dropout"], "not an arm"),
    (["--claim", "3", "--protocol", "cpu"], "claims 7 and 8"),
])
def test_the_command_rejects_arms_and_claims_it_cannot_run(
        argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        ax.run(["--seeds", "0,1,2", *argv])
    assert message in capsys.readouterr().err
