"""Interactive explorers for the book's chapters.

Each ``*_explorer`` function returns an ipywidgets widget to display in a notebook (it needs a
running kernel). Each ``*_static`` function returns the same explorer for the static HTML book, a
:class:`~alexnet_lib.static_explorer.StaticExplorer` whose states are computed when the notebook
runs. Both call the library and show what it computes, so what the reader plays with is the code
the experiments run.
"""

from __future__ import annotations

import ipywidgets as W

from .model import AlexNet, format_layer_table
from .static_explorer import StaticExplorer, static_explorer

__all__ = ["architecture_explorer", "architecture_static", "architecture_table",
           "augmentation_explorer", "communication_explorer", "scorecard_explorer"]


def _live(update, controls, children) -> W.VBox:
    """Call ``update`` now and whenever one of ``controls`` changes; lay out ``children``."""
    for control in controls:
        control.observe(update, names="value")
    update()
    return W.VBox(children)


def architecture_table(input_size: int = 224, conv1_padding: int = 2, pooling: str = "overlapping",
                       groups: int = 2, width: float = 1.0) -> str:
    """The layer table of the network these settings build, or the error the library raises.

    Defined in "The architecture"; both its explorers show this text. The network is built on
    PyTorch's ``meta`` device: shapes, parameter counts and MACs are those of the real network,
    but no weights are allocated, so one table takes milliseconds instead of a second.
    """
    import torch

    try:
        with torch.device("meta"):
            net = AlexNet(input_size=input_size, conv1_padding=conv1_padding, pooling=pooling,
                          groups=groups, width=width, init="torch")
            return format_layer_table(net.layer_table())
    except ValueError as err:
        return f"Not a valid network: {err}"


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
            print(architecture_table(input_size.value, padding.value, pooling.value, groups.value,
                                     width.value))

    return _live(update, (input_size, padding, pooling, groups, width),
                 [W.HBox([input_size, padding]), W.HBox([pooling, groups]), width, out])


# The static explorer's positions: input sizes on both sides of the 6x6 boundary of pool5.
ARCHITECTURE_INPUT_SIZES = (203, 219, 223, 224, 227, 243, 255, 259)


def architecture_static() -> StaticExplorer:
    """The architecture explorer for the static book: input size, conv1 padding, pooling, columns
    and width, each at a few positions.

    Defined in "The architecture". Each position's table is :func:`architecture_table`, computed
    when the notebook runs.
    """
    return static_explorer(
        architecture_table,
        {"input_size": ARCHITECTURE_INPUT_SIZES, "conv1_padding": (0, 1, 2, 3),
         "pooling": ("overlapping", "non-overlapping"), "groups": (2, 1), "width": (0.5, 1.0, 2.0)},
        initial={"input_size": 224, "conv1_padding": 2, "pooling": "overlapping", "groups": 2,
                 "width": 1.0},
        fmt={"groups": {2: "two", 1: "one"}.get},
        names={"groups": "columns", "width": "width x"})


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

    return _live(update, (name, top, left, flip, std, magnitude, draw),
                 [W.HBox([name, flip]), W.HBox([top, left]), W.HBox([std, draw]), magnitude, picture,
                  info])


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

    return _live(update, (batch, gpus, width), [batch, gpus, width, out])


def scorecard_explorer(rows) -> W.Widget:
    """Filter the scorecard by status or by claim; each claim's verdict is shown with its rows.

    Defined in "The claims scorecard". ``rows`` come from :func:`alexnet_lib.scorecard.scorecard_rows`.
    """
    import html

    from .scorecard import ALL_STATUSES, claim_verdicts

    verdicts = claim_verdicts(rows)
    status = W.Dropdown(options=["all", *ALL_STATUSES], description="status")
    claims = sorted({r.claim.number for r in rows})
    claim = W.Dropdown(options=[("all", -1)] + [(str(c), c) for c in claims], description="claim")
    out = W.HTML()

    def update(_change=None) -> None:
        shown = [r for r in rows if (status.value == "all" or r.status == status.value)
                 and (claim.value == -1 or r.claim.number == claim.value)]
        lines = ["<table><tr><th>#</th><th>kind</th><th>claim</th><th>the paper</th>"
                 "<th>ours</th><th>status</th><th>the claim's verdict</th></tr>"]
        for r in shown:
            rec = r.record
            cells = (str(r.claim.number), r.kind, rec.claim_text if rec else r.claim.topic,
                     rec.paper if rec else r.claim.text, rec.ours if rec else "—", r.status,
                     verdicts[r.claim.number])
            lines.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
        out.value = "\n".join(lines) + f"</table><p>{len(shown)} of {len(rows)} rows</p>"

    return _live(update, (status, claim), [W.HBox([status, claim]), out])


# --------------------------------------------------------------------------------------------
# The chapters "ReLU vs tanh", "Local Response Normalization", "Overlapping pooling", "Dropout".

__all__ += ["activation_explorer", "lrn_explorer", "pooling_explorer", "dropout_explorer"]


def _show_figure(out: W.Output, fig) -> None:
    """Draw a matplotlib figure into an Output widget (kept in the saved widget state)."""
    import matplotlib.pyplot as plt
    from IPython.display import display

    with out:
        display(fig)
    plt.close(fig)


def activation_explorer() -> W.Widget:
    """How spread-out inputs push tanh into saturation while ReLU keeps passing gradient.

    Defined in "ReLU vs tanh". A layer's inputs are drawn from N(0, sigma^2); the plot shows them
    over both curves' slopes, and the text gives the fraction of tanh units in saturation
    (slope < 0.071, |x| > 2), the mean slope of each, and what that mean becomes after
    ``depth`` such layers (the factor by which a gradient shrinks on its way back, ignoring the
    weights).
    """
    import matplotlib.pyplot as plt
    import numpy as np

    sigma = W.FloatLogSlider(value=1.0, base=10, min=-1, max=1.3, step=0.05,
                             description="input std")
    depth = W.IntSlider(value=4, min=1, max=8, description="layers")
    out = W.Output()

    def update(_change=None) -> None:
        out.clear_output(wait=True)
        x = np.random.default_rng(0).normal(0.0, sigma.value, 20_000)
        slope_tanh = 1 - np.tanh(x) ** 2
        slope_relu = (x > 0).astype(float)
        grid = np.linspace(-6, 6, 301)
        fig, ax = plt.subplots(figsize=(7.5, 3))
        ax.hist(np.clip(x, -6, 6), bins=120, range=(-6, 6), density=True, color="lightgrey",
                label=f"inputs ~ N(0, {sigma.value:.2g}^2)")
        ax2 = ax.twinx()
        ax2.plot(grid, (grid > 0).astype(float), label="ReLU slope")
        ax2.plot(grid, 1 - np.tanh(grid) ** 2, "--", label="tanh slope")
        ax2.set_ylim(-0.05, 1.1)
        ax.set_xlabel("x")
        ax.set_yticks([])
        ax2.legend(loc="upper left", fontsize=8)
        ax.legend(loc="upper right", fontsize=8)
        fig.tight_layout()
        _show_figure(out, fig)
        with out:
            print(f"tanh units saturated (|x| > 2): {np.mean(np.abs(x) > 2):.1%}")
            print(f"mean slope: tanh {slope_tanh.mean():.3f}, ReLU {slope_relu.mean():.3f} "
                  f"(ReLU's slope is exactly 1 for every active unit)")
            print(f"after {depth.value} layers: tanh {slope_tanh.mean() ** depth.value:.2e}, "
                  f"ReLU {slope_relu.mean() ** depth.value:.2e} "
                  f"(ReLU: the active units pass it on unchanged)")

    return _live(update, (sigma, depth), [W.HBox([sigma, depth]), out])


def lrn_explorer(maps, channels=(0, 1, 2, 3, 4, 5)) -> W.Widget:
    """LRN's four hyper-parameters acting on real feature maps.

    Defined in "Local Response Normalization". ``maps`` is one image's ``(C, H, W)`` activity
    (e.g. conv1 after its ReLU). The sliders set k, n, alpha (in the paper's convention: it
    multiplies the plain sum) and beta; the plot shows some channels before and after
    :func:`alexnet_lib.lrn.local_response_norm`, and the text how much LRN damps the units
    beyond the constant ``k**-beta``.
    """
    import torch

    from .lrn import local_response_norm
    from .viz import plot_feature_maps

    a = torch.as_tensor(maps, dtype=torch.float32)
    k = W.FloatSlider(value=2.0, min=0.1, max=5.0, step=0.1, description="k")
    n = W.IntSlider(value=5, min=1, max=15, description="n")
    alpha = W.FloatLogSlider(value=1e-4, base=10, min=-7, max=-1, step=0.25, description="alpha")
    beta = W.FloatSlider(value=0.75, min=0.0, max=2.0, step=0.05, description="beta")
    out = W.Output()

    def update(_change=None) -> None:
        out.clear_output(wait=True)
        b = local_response_norm(a[None], n.value, alpha.value, beta.value, k.value)[0]
        extra = (b / (a * k.value ** -beta.value))[a > 0]
        fig = plot_feature_maps([a, b], ["before LRN", "after LRN"], channels,
                                suptitle=f"k={k.value:g}, n={n.value}, alpha={alpha.value:.1e}, "
                                         f"beta={beta.value:g} (paper: 2, 5, 1e-4, 0.75)")
        _show_figure(out, fig)
        with out:
            print(f"constant part k^-beta = {k.value ** -beta.value:.3f}; beyond it, active units "
                  f"are scaled by {float(extra.mean()):.3f} on average, "
                  f"{float((extra < 0.95).float().mean()):.1%} of them by less than 0.95")

    return _live(update, (k, n, alpha, beta), [W.HBox([k, n]), W.HBox([alpha, beta]), out])


def pooling_explorer() -> W.Widget:
    """Pooling window z and stride s: overlap, output size, and pixels never pooled.

    Defined in "Overlapping pooling". The output side is
    :func:`alexnet_lib.model.conv_output_size` (floor, as PyTorch and Caffe), the same
    arithmetic as the network's pooling layers.
    """
    from .model import conv_output_size
    from .viz import plot_pooling_windows

    size = W.IntSlider(value=13, min=3, max=27, description="input side")
    kernel = W.IntSlider(value=3, min=1, max=6, description="window z")
    stride = W.IntSlider(value=2, min=1, max=6, description="stride s")
    out = W.Output()

    def update(_change=None) -> None:
        out.clear_output(wait=True)
        if kernel.value > size.value:
            with out:
                print("the window is larger than the input")
            return
        _show_figure(out, plot_pooling_windows(size.value, kernel.value, stride.value))
        n_out = conv_output_size(size.value, kernel.value, stride.value)
        covered = min(size.value, (n_out - 1) * stride.value + kernel.value)
        with out:
            print(f"output side floor(({size.value} - {kernel.value}) / {stride.value}) + 1 = {n_out};"
                  f" neighbouring windows overlap by {max(0, kernel.value - stride.value)} pixel(s); "
                  f"{size.value - covered} pixel(s) at the end are never pooled")

    return _live(update, (size, kernel, stride), [W.HBox([size, kernel, stride]), out])


def dropout_explorer(activations=None) -> W.Widget:
    """Dropout rate p: the masks, and the paper's test-time scaling against inverted dropout.

    Defined in "Dropout". ``activations``: a 2-D array of one layer's outputs (e.g. fc6 of a
    trained network for one image, reshaped to a square); default a random non-negative layer.
    The text compares the mean output of the layer in training (averaged over many masks) with
    its test-time output under both conventions.
    """
    import numpy as np

    from .viz import plot_dropout_masks

    a = (np.asarray(activations, dtype=float) if activations is not None
         else np.maximum(np.random.default_rng(0).normal(0.0, 1.0, (16, 16)), 0))
    p = W.FloatSlider(value=0.5, min=0.0, max=0.9, step=0.05, description="p (drop)")
    seed = W.IntSlider(value=0, min=0, max=9, description="mask seed")
    out = W.Output()

    def update(_change=None) -> None:
        out.clear_output(wait=True)
        _show_figure(out, plot_dropout_masks(a, p.value, seed.value))
        masks = np.random.default_rng(seed.value).random((1000, *a.shape)) >= p.value
        keep = 1 - p.value
        with out:
            print(f"mean over 1000 masks: paper's training output {(masks * a).mean():.4f} vs its "
                  f"test output (1-p)*a {(keep * a).mean():.4f}; inverted training output "
                  f"{(masks * a / keep).mean():.4f} vs its test output a {a.mean():.4f}")

    return _live(update, (p, seed), [W.HBox([p, seed]), out])
