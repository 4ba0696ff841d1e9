"""Claims 4 and 5's multi-seed experiment: what each arm does to a batch, and its record."""

from __future__ import annotations

import json

import pytest
import torch

from alexnet_lib.augment import PCALighting, center_crop
from alexnet_lib.experiments import augment_evidence as ae
from alexnet_lib.experiments.evidence_record import parse_seeds


class _Probe(torch.nn.Module):
    """Records what the net behind the augmentation was given."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[torch.Tensor] = []
        self.weight = torch.nn.Parameter(torch.randn(3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append(x.clone())
        return x.mean(dim=(2, 3)) * self.weight


def _arm(crops_flips: bool, lighting: PCALighting | None, seed: int = 0) -> ae.AugmentedNet:
    torch.manual_seed(seed)
    return ae.AugmentedNet(_Probe(), 8, crops_flips, lighting)


def test_each_arm_does_only_its_own_augmentation_and_evaluates_on_the_centre() -> None:
    x = torch.randn(16, 3, 12, 12)
    light = PCALighting(torch.tensor([0.5, 0.2, 0.1]), torch.eye(3), std=0.1)
    none, flips, pca = _arm(False, None), _arm(True, None), _arm(True, light)
    assert torch.equal(none.net.weight, pca.net.weight)  # one seed, one initialisation
    for net in (none, flips, pca):
        net.train()
        net(x)
        net.eval()
        net(x)
    centre = center_crop(x, 8)
    assert torch.equal(none.net.seen[0], centre)            # no augmentation: the centre patch
    assert not torch.equal(flips.net.seen[0], centre)       # random patches and flips
    shift = pca.net.seen[0] - flips.net.seen[0]             # the same patches, plus a colour shift
    assert shift.abs().max() > 0
    assert torch.allclose(shift, shift[:, :, :1, :1].expand_as(shift), atol=1e-6)
    for net in (none, flips, pca):                          # eval mode: the centre patch, always
        assert torch.equal(net.net.seen[1], centre)


def test_another_seed_draws_other_patches() -> None:
    x = torch.randn(16, 3, 12, 12)
    a, b = _arm(True, None, seed=0), _arm(True, None, seed=1)
    a(x)
    b(x)
    assert not torch.equal(a.net.seen[0], b.net.seen[0])


def test_comparisons_pair_the_right_arms_with_the_right_reference() -> None:
    runs = {str(s): {"none": {"test_error": 0.40 + s / 100},
                     "crops+flips": {"test_error": 0.30 + s / 100},
                     "crops+flips+pca": {"test_error": 0.29 + s / 100},
                     "crops+flips+pca-sqrt": {"test_error": 0.28 + s / 100}} for s in range(3)}
    claim4, claim5, claim5_sqrt = ae.comparisons([0, 1, 2], runs)
    assert (claim4.claim, claim4.paper_better, claim4.other) == (4, "crops+flips", "none")
    assert claim4.baseline_error == pytest.approx([0.40, 0.41, 0.42])
    assert claim4.verdict().status == "reproduced"
    assert (claim5.claim, claim5.paper_better, claim5.other) == (5, "crops+flips+pca", "crops+flips")
    assert claim5.baseline_error == pytest.approx([0.30, 0.31, 0.32])
    assert (claim5_sqrt.claim, claim5_sqrt.other) == (5, "crops+flips")


def test_the_command_refuses_fewer_than_three_seeds(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        ae.run(["--seeds", "0,1"])
    assert "at least 3" in capsys.readouterr().err
    with pytest.raises(ValueError, match="distinct"):
        parse_seeds("0,0,1")


def test_a_tiny_run_writes_a_record_with_both_rows(tmp_path) -> None:
    p = dict(ae.PROTOCOL, n_train=60, n_val=20, n_test=30, epochs=1, lr_drops=[], lrs=[0.01],
             channels=[4, 4, 8], image_size=36)
    path = ae.evidence([0, 1, 2], tmp_path, "test", p=p, log=lambda m: None)
    record = json.loads(path.read_text())
    assert [c["claim"] for c in record["comparisons"]] == [4, 5, 5]
    lrs = record["learning_rates"]
    assert lrs["crops+flips+pca"] == lrs["crops+flips+pca-sqrt"] == lrs["crops+flips"]
    for parts in record["runs"].values():
        assert set(parts) == set(ae.ARMS)
        assert all(0 <= part["test_error_ten_patch"] <= 1 for part in parts.values())


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without a GPU")
def test_asking_for_a_gpu_without_one_says_so() -> None:
    from alexnet_lib.experiments.loop import TrainConfig

    with pytest.raises(ValueError, match="no CUDA GPU"):
        TrainConfig(device="cuda")
