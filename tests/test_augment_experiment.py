"""The augmentation and two-column experiments, on a few images (the book runs them at full size)."""

import math

import torch

from alexnet_lib.experiments.augmentation import (
    augmentation_experiment,
    augmentation_records,
    paired_difference,
)
from alexnet_lib.experiments.columns import (
    colourfulness,
    columns_experiment,
    columns_records,
    half_kernel_alexnet,
)


def test_paired_difference():
    a = torch.tensor([1, 1, 0, 0, 1, 0], dtype=torch.bool)
    b = torch.tensor([0, 1, 1, 1, 0, 0], dtype=torch.bool)
    diff, se = paired_difference(a, b)
    assert diff == (2 - 2) / 6 and se == math.sqrt(4) / 6
    assert paired_difference(a, a) == (0.0, 0.0)


def test_tiny_augmentation_experiment_is_deterministic_and_recorded():
    kw = dict(n_train=40, n_test=20, epochs=1, batch_size=20)
    r1, r2 = augmentation_experiment(**kw), augmentation_experiment(**kw, arms=("crops+flips+PCA",))
    assert set(r1["arms"]) == {"none", "crops+flips", "crops+flips+PCA"}
    assert r1["arms"]["crops+flips+PCA"] == r2["arms"]["crops+flips+PCA"] | {
        "history": r1["arms"]["crops+flips+PCA"]["history"]}  # all but the timings
    assert len(r1["arms"]["none"]["wrong_ten_crop"]) == 20
    # same start, different augmentation: the arms' first losses differ
    losses = {n: a["history"]["train_loss"][0] for n, a in r1["arms"].items()}
    assert len(set(losses.values())) == 3
    records = augmentation_records(r1)
    assert [r.claim for r in records] == [4, 4, 5]
    for rec, key in zip(records, ("crops_flips_vs_none", "ten_vs_centre", "pca_vs_crops_flips"),
                        strict=True):
        c = r1["comparisons"][key]
        expected = "reproduced" if -c["difference"] > 2 * c["standard_error"] else \
            "not reproduced at this scale"
        assert rec.status == expected


def test_half_kernel_net_is_the_papers_one_gpu_net():
    net = half_kernel_alexnet(width=1.0, hidden=4096, num_classes=1000, crop=224)
    convs = [net.features.get_submodule(f"conv{i}") for i in range(1, 6)]
    assert [c.out_channels for c in convs] == [48, 128, 192, 192, 256]
    assert all(c.groups == 1 for c in convs)


def test_colourfulness():
    grey = torch.ones(2, 3, 5, 5)
    assert torch.allclose(colourfulness(grey), torch.zeros(2, dtype=torch.float64))
    opponent = torch.zeros(1, 3, 5, 5)
    opponent[0, 0], opponent[0, 1] = 1.0, -1.0
    assert torch.allclose(colourfulness(opponent), torch.ones(1, dtype=torch.float64))
    random = torch.randn(4000, 3, 5, 5, generator=torch.Generator().manual_seed(0))
    assert abs(float(colourfulness(random).mean()) - 2 / 3) < 0.01


def test_tiny_columns_experiment():
    r = columns_experiment(n_train=30, n_test=20, epochs=1, batch_size=15)
    two, one = r["nets"]["two columns"], r["nets"]["one column, half kernels"]
    assert two["parameters"] > one["parameters"]
    assert len(two["conv1_colourfulness_per_column"]) == 2
    recs = columns_records(r)
    assert [x.claim for x in recs] == [7, 7]
    assert recs[1].status == "not reproduced at this scale"  # speed: not testable on one CPU


def test_experiment_command_line_flags():
    import pytest

    from alexnet_lib.experiments.augmentation import experiment_parser

    args = experiment_parser("x").parse_args(["--epochs", "3", "--lr-drops", "1,2", "--no-progress"])
    assert (args.epochs, args.lr_drops, args.progress) == (3, (1, 2), False)
    assert experiment_parser("x").parse_args(["--lr-drops", ""]).lr_drops == ()
    with pytest.raises(SystemExit):
        experiment_parser("x").parse_args(["--lr-drops", "sixty"])


def test_pca_lighting_leaves_the_crops_and_flips_as_they_were():
    """The colour shifts have their own generator: a zero shift gives exactly the crops+flips run."""
    from alexnet_lib.augment import PCALighting
    from alexnet_lib.experiments.augmentation import small_alexnet, train_augmented
    from alexnet_lib.experiments.datasets import builtin_data
    from alexnet_lib.experiments.loop import TrainConfig

    data = builtin_data(24, 8, 72, 0)
    cfg = TrainConfig(epochs=1, batch_size=12, preprocess="standardize")
    zero = PCALighting(torch.ones(3), torch.eye(3), std=0.0)
    _, plain = train_augmented(lambda: small_alexnet(64, hidden=16), data, 64, cfg)
    _, shifted0 = train_augmented(lambda: small_alexnet(64, hidden=16), data, 64, cfg, lighting=zero)
    _, shifted = train_augmented(lambda: small_alexnet(64, hidden=16), data, 64, cfg,
                                 lighting=PCALighting(torch.ones(3), torch.eye(3), std=0.5))
    assert shifted0.train_loss == plain.train_loss and shifted0.test_error == plain.test_error
    assert shifted.train_loss != plain.train_loss


def test_umbrella_command_runs_the_augmentation_experiment(tmp_path, capsys):
    """`python -m alexnet_lib.experiments augmentation ...` runs it, writing under --out."""
    import json

    import pytest

    from alexnet_lib.experiments.__main__ import main

    out = tmp_path / "res"
    assert main(["augmentation", "--epochs", "1", "--n-train", "20", "--n-test", "10",
                 "--out", str(out), "--no-progress"]) == 0
    saved = json.loads((out / "augmentation.json").read_text())
    assert saved["config"]["epochs"] == 1 and len(saved["records"]) == 3
    assert "wrote" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_info:
        main(["columns", "--epochs", "0"])
    assert exit_info.value.code == 2


def test_tiny_depth_experiment_and_records():
    from alexnet_lib.experiments.depth import ARMS, depth_experiment, depth_records

    r = depth_experiment(n_train=24, n_test=10, epochs=1, batch_size=12)
    assert list(r["nets"]) == list(ARMS)
    params = [net["parameters"] for net in r["nets"].values()]
    assert params[0] > params[1] and params[0] > params[2]  # a layer fewer, fewer weights
    records = depth_records(r)
    assert [rec.claim for rec in records] == [8, 8]
    for rec, cmp in zip(records, r["comparisons"].values(), strict=True):
        worse = cmp["difference"] > 2 * cmp["standard_error"]
        assert rec.status == ("reproduced" if worse else "not reproduced at this scale")
