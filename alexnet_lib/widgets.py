"""Interactive explorers for the book's chapters (ipywidgets).

Each function returns a widget to display in a notebook. They call the library and show what it
computes, so what the reader plays with is the code the experiments run.
"""

from __future__ import annotations

import ipywidgets as W

from .model import AlexNet, format_layer_table

__all__ = ["architecture_explorer"]


def architecture_explorer() -> W.Widget:
    """Change input size, conv1 padding, pooling, columns and width; see the layer table.

    Defined in "The architecture". The table comes from building the network and running one
    image through it, so impossible settings show the error the library raises.
    """
    input_size = W.IntSlider(value=224, min=195, max=259, description="input size")
    padding = W.IntSlider(value=2, min=0, max=5, description="conv1 padding")
    pooling = W.ToggleButtons(options=["overlapping", "non-overlapping"], description="pooling")
    groups = W.ToggleButtons(options=[("two columns", 2), ("one column", 1)], description="columns")
    width = W.FloatSlider(value=1.0, min=0.25, max=2.0, step=0.25, description="width x")
    out = W.Output()

    def update(_change=None) -> None:
        out.clear_output(wait=True)
        with out:
            try:
                net = AlexNet(input_size=input_size.value, conv1_padding=padding.value,
                              pooling=pooling.value, groups=groups.value, width=width.value,
                              init="torch")
            except ValueError as err:
                print(f"Not a valid network: {err}")
                return
            print(format_layer_table(net.layer_table()))

    for w in (input_size, padding, pooling, groups, width):
        w.observe(update, names="value")
    update()
    return W.VBox([W.HBox([input_size, padding]), W.HBox([pooling, groups]), width, out])
