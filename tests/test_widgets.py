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


def test_architecture_table_on_the_meta_device_is_the_real_networks():
    from alexnet_lib.model import AlexNet

    real = AlexNet(input_size=227, conv1_padding=0, width=0.5, init="torch")
    assert widgets.architecture_table(227, 0, "overlapping", 2, 0.5) == real.summary()
    # The meta device raises the same error as the CPU for maps that shrink to nothing.
    with pytest.raises(ValueError) as cpu_error:
        AlexNet(input_size=60)
    assert widgets.architecture_table(60) == f"Not a valid network: {cpu_error.value}"


def test_architecture_static_has_a_table_per_position(monkeypatch):
    monkeypatch.setattr(widgets, "ARCHITECTURE_INPUT_SIZES", (219, 224))
    explorer = widgets.architecture_static()
    assert [name for name, _ in explorer.controls] == [
        "input size", "conv1 padding", "pooling", "columns", "width x"]
    assert len(explorer.texts) == 2 * 4 * 2 * 2 * 3
    start = dict(zip([n for n, _ in explorer.controls], explorer.labels[explorer.initial_index()],
                     strict=True))
    assert start == {"input size": "224", "conv1 padding": "2", "pooling": "overlapping",
                     "columns": "two", "width x": "1.0"}
    # Each state is the table of its own settings: 219 px with padding 2 gives 54x54 maps.
    index = explorer.labels.index(("219", "2", "overlapping", "two", "1.0"))
    assert "54x54x96" in explorer.texts[index]
    assert explorer.texts[index] == widgets.architecture_table(219, 2, "overlapping", 2, 1.0)


def statics():
    maps = (torch.randn(8, 12, 12, generator=torch.Generator().manual_seed(0)) * 50).relu()
    photos = photographs(64)
    values, vectors = rgb_covariance_eig(torch.stack(list(photos.values())))
    return {
        "augmentation": lambda: widgets.augmentation_static(photos["coffee"], values, vectors, crop=48),
        "communication": widgets.communication_static,
        "scorecard": lambda: widgets.scorecard_static(scorecard_rows()),
        "activation": widgets.activation_static,
        "lrn": lambda: widgets.lrn_static(maps, channels=(0, 1, 2)),
        "pooling": widgets.pooling_static,
        "dropout": widgets.dropout_static,
    }


@pytest.mark.parametrize("name", list(statics()))
def test_static_explorer_has_a_state_per_position_and_every_slider_matters(name):
    explorer = statics()[name]()
    sizes = [len(values) for _, values in explorer.controls]
    assert len(explorer.state_view) == len(explorer.labels) == int(torch.tensor(sizes).prod())
    assert explorer.texts[explorer.initial_index()].strip(), f"{name} starts on an empty state"
    # Each slider changes what is shown for some setting of the others.
    for i, (slider, _) in enumerate(explorer.controls):
        groups: dict[tuple, set[int]] = {}
        for labels, view in zip(explorer.labels, explorer.state_view, strict=True):
            groups.setdefault(labels[:i] + labels[i + 1:], set()).add(view)
        assert any(len(views) > 1 for views in groups.values()), f"{name}: {slider!r} changes nothing"


def test_static_states_are_the_live_explorers_views():
    explorer = widgets.activation_static(depth=3)
    index = explorer.labels.index(("2",))
    assert explorer.texts[index] == widgets.activation_view(2.0, 3)[1]
    assert "after 3 layers" in explorer.texts[index]
    explorer = widgets.pooling_static()
    assert explorer.texts[explorer.labels.index(("13", "2", "2"))] == widgets.pooling_view(13, 2, 2)[1]
    assert "1 pixel(s) at the end are never pooled" in widgets.pooling_view(13, 2, 2)[1]


def test_communication_table_counts_the_paper_net_built_on_the_cpu():
    from alexnet_lib.model import AlexNet
    from alexnet_lib.towers import crossing_traffic

    net = AlexNet()
    cpu = (sum(c.values_forward for c in crossing_traffic(net)), sum(p.numel() for p in net.parameters()))
    assert widgets.communication_table(256, 4, 2) == widgets.communication_table(256, 4, 2, cpu)
    assert cpu[1] == 60_965_224
