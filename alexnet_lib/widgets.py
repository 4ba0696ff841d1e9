"""Interactive explorers for the book's chapters (ipywidgets).

Each function returns a widget to display in a notebook. They call the library and show what it
computes, so what the reader plays with is the code the experiments run.
"""

from __future__ import annotations

import ipywidgets as W

from .model import AlexNet, format_layer_table

__all__ = ["architecture_explorer", "augmentation_explorer", "communication_explorer",
           "scorecard_explorer"]


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


# --------------------------------------------------------------------------- data and PCA colour
# augmentation, the two-GPU split, the claims scorecard


def _png(image) -> bytes:
    import io

    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def augmentation_explorer(photos: dict, eigenvalues, eigenvectors, crop: int = 224) -> W.Widget:
    """Move the crop, flip it, and turn the PCA lighting up or down on a real photograph.

    Defined in "Data and PCA colour augmentation". ``photos`` maps names to (3, 256, 256)
    tensors in [0, 1]; ``eigenvalues``/``eigenvectors`` are an RGB PCA in [0, 1] units. The image
    shown is exactly what :func:`alexnet_lib.augment.crop_flip` and
    :class:`alexnet_lib.augment.PCALighting` compute for the chosen position, flip, strength and
    draw of alpha.
    """
    import torch

    from .augment import PCALighting, crop_flip, to_pil

    first = next(iter(photos.values()))
    margin = first.shape[-1] - crop
    name = W.Dropdown(options=list(photos), description="photo")
    top = W.IntSlider(value=margin // 2, min=0, max=margin, description="crop top")
    left = W.IntSlider(value=margin // 2, min=0, max=margin, description="crop left")
    flip = W.Checkbox(value=False, description="mirror")
    std = W.FloatSlider(value=0.1, min=0.0, max=2.0, step=0.05, description="PCA std",
                        readout_format=".2f")
    magnitude = W.ToggleButtons(options=[("l (printed)", "eigenvalue"), ("sqrt(l) (code)", "stdev")],
                                description="uses")
    draw = W.IntSlider(value=0, min=0, max=20, description="alpha draw")
    picture = W.Image(format="png", width=crop, height=crop)
    info = W.HTML()

    def update(_change=None) -> None:
        image = photos[name.value][None]
        patch = crop_flip(image, torch.tensor([top.value]), torch.tensor([left.value]),
                          torch.tensor([flip.value]), crop)
        scale = 255.0 if magnitude.value == "stdev" else 1.0  # the code works in 0..255 units
        lighting = PCALighting(torch.as_tensor(eigenvalues) * scale**2, eigenvectors, std.value,
                               magnitude.value)
        g = torch.Generator().manual_seed(draw.value)
        shift = lighting.sample_shift(1, g)[0] / scale
        patch = patch + shift.to(patch.dtype)[None, :, None, None]
        picture.value = _png(to_pil(patch[0]))
        grey = ", ".join(f"{255 * float(v):+.1f}" for v in shift)
        info.value = (f"RGB shift of this draw: ({grey}) grey levels; "
                      f"patch at ({top.value}, {left.value}){', mirrored' if flip.value else ''}")

    for w in (name, top, left, flip, std, magnitude, draw):
        w.observe(update, names="value")
    update()
    return W.VBox([W.HBox([name, flip]), W.HBox([top, left]), W.HBox([std, draw]), magnitude,
                   picture, info])


def communication_explorer() -> W.Widget:
    """Bytes per step of the paper's two-GPU split vs a data-parallel all-reduce.

    Defined in "The two-GPU split". Change the batch size, the number of GPUs for data
    parallelism and the bytes per number (4 for fp32, 2 for fp16).
    """
    from .model import AlexNet
    from .towers import allreduce_bytes, crossing_traffic

    net = AlexNet()
    per_image_values = sum(c.values_forward for c in crossing_traffic(net))
    params = sum(p.numel() for p in net.parameters())
    batch = W.IntSlider(value=128, min=8, max=2048, step=8, description="batch")
    gpus = W.IntSlider(value=2, min=2, max=16, description="GPUs (data par.)")
    width = W.ToggleButtons(options=[("fp32", 4), ("fp16", 2)], description="numbers")
    out = W.HTML()

    def update(_change=None) -> None:
        b = width.value
        model_parallel = 2 * per_image_values * b * batch.value
        per_device = allreduce_bytes(params, gpus.value, b)
        out.value = (
            "<table><tr><th></th><th>MB per step</th></tr>"
            f"<tr><td>two-GPU split (paper): activations + gradients across</td>"
            f"<td>{model_parallel / 1e6:,.1f}</td></tr>"
            f"<tr><td>data parallel, ring all-reduce, sent by each of {gpus.value} GPUs</td>"
            f"<td>{per_device / 1e6:,.1f}</td></tr></table>")

    for w in (batch, gpus, width):
        w.observe(update, names="value")
    update()
    return W.VBox([batch, gpus, width, out])


def scorecard_explorer(rows) -> W.Widget:
    """Filter the scorecard by status or by claim.

    Defined in "The claims scorecard". ``rows`` come from :func:`alexnet_lib.scorecard.scorecard_rows`.
    """
    import html

    from .scorecard import ALL_STATUSES

    status = W.Dropdown(options=["all", *ALL_STATUSES], description="status")
    claims = sorted({r.claim.number for r in rows})
    claim = W.Dropdown(options=[("all", -1)] + [(str(c), c) for c in claims], description="claim")
    out = W.HTML()

    def update(_change=None) -> None:
        shown = [r for r in rows if (status.value == "all" or r.status == status.value)
                 and (claim.value == -1 or r.claim.number == claim.value)]
        lines = ["<table><tr><th>#</th><th>claim</th><th>the paper</th><th>ours</th>"
                 "<th>status</th></tr>"]
        for r in shown:
            rec = r.record
            cells = (str(r.claim.number), rec.claim_text if rec else r.claim.topic,
                     rec.paper if rec else r.claim.text, rec.ours if rec else "—", r.status)
            lines.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
        out.value = "\n".join(lines) + f"</table><p>{len(shown)} of {len(rows)} rows</p>"

    for w in (status, claim):
        w.observe(update, names="value")
    update()
    return W.VBox([W.HBox([status, claim]), out])
