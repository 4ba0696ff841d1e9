"""The chapters' explorers: each builds, shows something, and redraws when a control moves."""

import ipywidgets as W
import matplotlib
import pytest
import torch

from alexnet_lib import widgets
from alexnet_lib.augment import rgb_covariance_eig
from alexnet_lib.photos import photographs
from alexnet_lib.scorecard import scorecard_rows

matplotlib.use("Agg")


def controls(box: W.Widget) -> list[W.ValueWidget]:
    """Every control with a value inside ``box`` (depth first)."""
    found = []
    for child in getattr(box, "children", ()):
        if isinstance(child, W.ValueWidget) and not isinstance(child, W.HTML | W.Image):
            found.append(child)
        found += controls(child)
    return found


def shown(box: W.Widget) -> str:
    """What the explorer currently shows, as comparable text: its outputs, HTML and images."""
    parts = []
    for child in getattr(box, "children", ()):
        if isinstance(child, W.Output):
            parts.append(repr(child.outputs))
        elif isinstance(child, W.HTML):
            parts.append(child.value)
        elif isinstance(child, W.Image):
            parts.append(str(hash(bytes(child.value))))
        parts.append(shown(child))
    return "".join(parts)


def nudge(control: W.ValueWidget) -> None:
    """Move a control to another of its values."""
    if isinstance(control, W.Dropdown | W.ToggleButtons | W.RadioButtons):
        control.index = (control.index + 1) % len(control.options)
    elif isinstance(control, W.Checkbox | W.ToggleButton):
        control.value = not control.value
    else:
        control.value = control.max if control.value != control.max else control.min


def explorers():
    photos = photographs(64)
    values, vectors = rgb_covariance_eig(torch.stack(list(photos.values())))
    maps = (torch.randn(8, 12, 12, generator=torch.Generator().manual_seed(0)) * 50).relu()
    return {
        "architecture": widgets.architecture_explorer,
        "augmentation": lambda: widgets.augmentation_explorer(photos, values, vectors, crop=48),
        "communication": widgets.communication_explorer,
        "scorecard": lambda: widgets.scorecard_explorer(scorecard_rows()),
        "activation": widgets.activation_explorer,
        "lrn": lambda: widgets.lrn_explorer(maps, channels=(0, 1, 2)),
        "pooling": widgets.pooling_explorer,
        "dropout": widgets.dropout_explorer,
    }


@pytest.mark.parametrize("name", list(explorers()))
def test_explorer_redraws_when_a_control_moves(name, capsys):
    # Outside a kernel an Output widget's contents go to stdout, so read both.
    box = explorers()[name]()
    assert isinstance(box, W.VBox)
    before = shown(box) + capsys.readouterr().out
    assert before.strip("()"), f"{name} shows nothing"
    first = controls(box)[0]
    nudge(first)
    after = shown(box) + capsys.readouterr().out
    assert after.strip("()") and after != before, \
        f"{name}: moving {first.description!r} changed nothing"
