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
from .static_explorer import Markup, StaticExplorer, static_explorer

__all__ = ["architecture_explorer", "architecture_static", "architecture_table",
           "augmentation_explorer", "augmentation_static", "augmentation_view",
           "communication_explorer", "communication_static",
           "communication_table", "scorecard_explorer", "scorecard_static", "scorecard_table"]


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


def augmentation_view(photo, eigenvalues, eigenvectors, top: int, left: int, flip: bool = False,
                      std: float = 0.1, magnitude: str = "eigenvalue", draw: int = 0,
                      crop: int = 224):
    """One training patch of ``photo``: the crop at (``top``, ``left``), mirrored or not, with the
    PCA lighting of draw ``draw`` at strength ``std``.

    Defined in "Data and PCA colour augmentation"; both its explorers show it. ``photo`` is a
    (3, 256, 256) tensor in [0, 1]; ``eigenvalues``/``eigenvectors`` an RGB PCA in [0, 1] units;
    ``magnitude`` ``"eigenvalue"`` (the paper's printed formula) or ``"stdev"`` (its code's).
    Returns ``(PIL image, text)``: exactly what :func:`alexnet_lib.augment.crop_flip` and
    :class:`alexnet_lib.augment.PCALighting` compute.
    """
    import torch

    from .augment import PCALighting, crop_flip, to_pil

    patch = crop_flip(photo[None], torch.tensor([top]), torch.tensor([left]), torch.tensor([flip]),
                      crop)
    scale = 255.0 if magnitude == "stdev" else 1.0  # the code works in 0..255 units
    lighting = PCALighting(torch.as_tensor(eigenvalues) * scale**2, eigenvectors, std, magnitude)
    g = torch.Generator().manual_seed(draw)
    shift = lighting.sample_shift(1, g)[0] / scale
    patch = patch + shift.to(patch.dtype)[None, :, None, None]
    grey = ", ".join(f"{255 * float(v):+.1f}" for v in shift)
    text = (f"RGB shift of this draw: ({grey}) grey levels; "
            f"patch at ({top}, {left}){', mirrored' if flip else ''}")
    return to_pil(patch[0]), text


def augmentation_explorer(photos: dict, eigenvalues, eigenvectors, crop: int = 224) -> W.Widget:
    """Move the crop, flip it, and turn the PCA lighting up or down on a real photograph.

    Defined in "Data and PCA colour augmentation". ``photos`` maps names to (3, 256, 256)
    tensors in [0, 1]; ``eigenvalues``/``eigenvectors`` are an RGB PCA in [0, 1] units. The image
    shown is :func:`augmentation_view` of the chosen position, flip, strength and draw of alpha.
    """
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
        image, text = augmentation_view(photos[name.value], eigenvalues, eigenvectors, top.value,
                                        left.value, flip.value, std.value, magnitude.value,
                                        draw.value, crop)
        picture.value = _png(image)
        info.value = text

    return _live(update, (name, top, left, flip, std, magnitude, draw),
                 [W.HBox([name, flip]), W.HBox([top, left]), W.HBox([std, draw]), magnitude, picture,
                  info])


# The static explorer's lighting positions: (label, magnitude, std, draw of alpha).
AUGMENTATION_LIGHTING = (
    ("off", "stdev", 0.0, 0),
    ("printed l, std 0.1", "eigenvalue", 0.1, 0),
    ("code's sqrt(l), std 0.1", "stdev", 0.1, 0),
    ("code's sqrt(l), std 1", "stdev", 1.0, 0),
)


def augmentation_static(photo, eigenvalues, eigenvectors, crop: int = 224) -> StaticExplorer:
    """The augmentation explorer for the static book, on one photograph (defined in "Data and
    PCA colour augmentation"): the centre crop and two opposite corners, mirrored or not, under
    the lighting of :data:`AUGMENTATION_LIGHTING`; each state is :func:`augmentation_view`. (Few
    positions: each is a photograph, about 15 kB.)"""
    margin = photo.shape[-1] - crop
    positions = {"centre": (margin // 2, margin // 2), "top left": (0, 0),
                 "bottom right": (margin, margin)}
    lighting = {label: rest for label, *rest in AUGMENTATION_LIGHTING}

    def render(position: str, mirror: bool, light: str) -> list:
        magnitude, std, draw = lighting[light]
        return list(augmentation_view(photo, eigenvalues, eigenvectors, *positions[position],
                                      mirror, std, magnitude, draw, crop))

    return static_explorer(render, {"position": list(positions), "mirror": (False, True),
                                    "light": list(lighting)},
                           fmt={"mirror": {False: "no", True: "yes"}.get},
                           names={"position": "crop", "light": "PCA lighting"},
                           max_bytes=500_000)


def _paper_net_traffic() -> tuple[int, int]:
    """Values crossing between the columns per image (forward) and parameters of the paper's net."""
    import torch

    from .towers import crossing_traffic

    with torch.device("meta"):  # shapes and counts only: no weights needed
        net = AlexNet()
        per_image_values = sum(c.values_forward for c in crossing_traffic(net))
        params = sum(p.numel() for p in net.parameters())
    return per_image_values, params


def communication_table(batch: int = 128, gpus: int = 2, bytes_per_number: int = 4,
                        traffic: tuple[int, int] | None = None) -> Markup:
    """MB per step of the two-GPU split (activations and their gradients across) against what
    each GPU sends in a ring all-reduce of the gradients, as an HTML table.

    Defined in "The two-GPU split"; both its explorers show it. ``traffic``: the values crossing
    per image and the parameter count (default: the paper's net's).
    """
    from .towers import allreduce_bytes

    per_image_values, params = traffic or _paper_net_traffic()
    model_parallel = 2 * per_image_values * bytes_per_number * batch
    per_device = allreduce_bytes(params, gpus, bytes_per_number)
    return Markup(
        "<table><tr><th></th><th>MB per step</th></tr>"
        f"<tr><td>two-GPU split (paper): activations + gradients across</td>"
        f"<td>{model_parallel / 1e6:,.1f}</td></tr>"
        f"<tr><td>data parallel, ring all-reduce, sent by each of {gpus} GPUs</td>"
        f"<td>{per_device / 1e6:,.1f}</td></tr></table>")


def communication_explorer() -> W.Widget:
    """Bytes per step of the paper's two-GPU split vs a data-parallel all-reduce.

    Defined in "The two-GPU split". Change the batch size, the number of GPUs for data
    parallelism and the bytes per number (4 for fp32, 2 for fp16).
    """
    traffic = _paper_net_traffic()
    batch = W.IntSlider(value=128, min=8, max=2048, step=8, description="batch")
    gpus = W.IntSlider(value=2, min=2, max=16, description="GPUs (data par.)")
    width = W.ToggleButtons(options=[("fp32", 4), ("fp16", 2)], description="numbers")
    out = W.HTML()

    def update(_change=None) -> None:
        out.value = communication_table(batch.value, gpus.value, width.value, traffic)

    return _live(update, (batch, gpus, width), [batch, gpus, width, out])


def communication_static() -> StaticExplorer:
    """The two-GPU communication explorer for the static book (defined in "The two-GPU split"):
    batch sizes from 32 to 2048, 2 to 16 GPUs, fp32 or fp16; each table is
    :func:`communication_table`."""
    traffic = _paper_net_traffic()
    return static_explorer(
        lambda batch, gpus, bytes_per_number: communication_table(batch, gpus, bytes_per_number,
                                                                  traffic),
        {"batch": (32, 64, 128, 256, 512, 1024, 2048), "gpus": (2, 4, 8, 16),
         "bytes_per_number": (4, 2)},
        initial={"batch": 128, "gpus": 2, "bytes_per_number": 4},
        fmt={"bytes_per_number": {4: "fp32", 2: "fp16"}.get},
        names={"gpus": "GPUs (data parallel)", "bytes_per_number": "numbers"})


def scorecard_table(rows, status: str = "all", claim: int = -1, verdicts=None) -> Markup:
    """The scorecard's rows of one status and one claim (``"all"``, ``-1``: every one) as an
    HTML table, each with its claim's verdict.

    Defined in "The claims scorecard"; both its explorers show it. ``rows`` come from
    :func:`alexnet_lib.scorecard.scorecard_rows`.
    """
    import html

    from .scorecard import claim_verdicts

    verdicts = verdicts or claim_verdicts(rows)
    shown = [r for r in rows if (status == "all" or r.status == status)
             and (claim == -1 or r.claim.number == claim)]
    lines = ["<table><tr><th>#</th><th>kind</th><th>claim</th><th>the paper</th>"
             "<th>ours</th><th>status</th><th>the claim's verdict</th></tr>"]
    for r in shown:
        rec = r.record
        cells = (str(r.claim.number), r.kind, rec.claim_text if rec else r.claim.topic,
                 rec.paper if rec else r.claim.text, rec.ours if rec else "—", r.status,
                 verdicts[r.claim.number])
        lines.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    return Markup("\n".join(lines) + f"</table><p>{len(shown)} of {len(rows)} rows</p>")


def scorecard_explorer(rows) -> W.Widget:
    """Filter the scorecard by status or by claim; each claim's verdict is shown with its rows.

    Defined in "The claims scorecard". ``rows`` come from :func:`alexnet_lib.scorecard.scorecard_rows`.
    """
    from .scorecard import ALL_STATUSES, claim_verdicts

    verdicts = claim_verdicts(rows)
    status = W.Dropdown(options=["all", *ALL_STATUSES], description="status")
    claims = sorted({r.claim.number for r in rows})
    claim = W.Dropdown(options=[("all", -1)] + [(str(c), c) for c in claims], description="claim")
    out = W.HTML()

    def update(_change=None) -> None:
        out.value = scorecard_table(rows, status.value, claim.value, verdicts)

    return _live(update, (status, claim), [W.HBox([status, claim]), out])


def scorecard_static(rows) -> StaticExplorer:
    """The scorecard explorer for the static book (defined in "The claims scorecard"): one
    slider picks a claim, the other a status; each position is :func:`scorecard_table`."""
    from .scorecard import ALL_STATUSES, claim_verdicts

    verdicts = claim_verdicts(rows)
    claims = [-1, *sorted({r.claim.number for r in rows})]
    return static_explorer(
        lambda claim, status: scorecard_table(rows, status, claim, verdicts),
        {"claim": claims, "status": ["all", *ALL_STATUSES]},
        fmt={"claim": lambda c: "all" if c == -1 else str(c)})


# --------------------------------------------------------------------------------------------
# The chapters "ReLU vs tanh", "Local Response Normalization", "Overlapping pooling", "Dropout".

__all__ += ["activation_explorer", "activation_static", "activation_view", "dropout_explorer",
            "dropout_static", "dropout_view", "lrn_explorer", "lrn_static", "lrn_view",
            "pooling_explorer", "pooling_static", "pooling_view"]


def _show_figure(out: W.Output, fig) -> None:
    """Draw a matplotlib figure into an Output widget (kept in the saved widget state)."""
    import matplotlib.pyplot as plt
    from IPython.display import display

    with out:
        display(fig)
    plt.close(fig)


def activation_view(sigma: float = 1.0, depth: int = 4):
    """The activation explorer's figure and text for inputs of std ``sigma`` and ``depth`` layers.

    Defined in "ReLU vs tanh"; both its explorers show it. Returns ``(figure, text)``.
    """
    import matplotlib.pyplot as plt
    import numpy as np

    x = np.random.default_rng(0).normal(0.0, sigma, 20_000)
    slope_tanh = 1 - np.tanh(x) ** 2
    slope_relu = (x > 0).astype(float)
    grid = np.linspace(-6, 6, 301)
    fig, ax = plt.subplots(figsize=(7.5, 3))
    ax.hist(np.clip(x, -6, 6), bins=120, range=(-6, 6), density=True, color="lightgrey",
            label=f"inputs ~ N(0, {sigma:.2g}^2)")
    ax2 = ax.twinx()
    ax2.plot(grid, (grid > 0).astype(float), label="ReLU slope")
    ax2.plot(grid, 1 - np.tanh(grid) ** 2, "--", label="tanh slope")
    ax2.set_ylim(-0.05, 1.1)
    ax.set_xlabel("x")
    ax.set_yticks([])
    ax2.legend(loc="upper left", fontsize=8)
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    text = (f"tanh units saturated (|x| > 2): {np.mean(np.abs(x) > 2):.1%}\n"
            f"mean slope: tanh {slope_tanh.mean():.3f}, ReLU {slope_relu.mean():.3f} "
            f"(ReLU's slope is exactly 1 for every active unit)\n"
            f"after {depth} layers: tanh {slope_tanh.mean() ** depth:.2e}, "
            f"ReLU {slope_relu.mean() ** depth:.2e} "
            f"(ReLU: the active units pass it on unchanged)")
    return fig, text


def _show_view(out: W.Output, view) -> None:
    """Show a ``(figure, text)`` view in an Output widget."""
    fig, text = view
    _show_figure(out, fig)
    with out:
        print(text)


def activation_explorer() -> W.Widget:
    """How spread-out inputs push tanh into saturation while ReLU keeps passing gradient.

    Defined in "ReLU vs tanh". A layer's inputs are drawn from N(0, sigma^2); the plot shows them
    over both curves' slopes, and the text gives the fraction of tanh units in saturation
    (slope < 0.071, |x| > 2), the mean slope of each, and what that mean becomes after
    ``depth`` such layers (the factor by which a gradient shrinks on its way back, ignoring the
    weights).
    """
    sigma = W.FloatLogSlider(value=1.0, base=10, min=-1, max=1.3, step=0.05,
                             description="input std")
    depth = W.IntSlider(value=4, min=1, max=8, description="layers")
    out = W.Output()

    def update(_change=None) -> None:
        out.clear_output(wait=True)
        _show_view(out, activation_view(sigma.value, depth.value))

    return _live(update, (sigma, depth), [W.HBox([sigma, depth]), out])


# The static explorer's input standard deviations (the live slider spans 0.1 to 20).
ACTIVATION_SIGMAS = (0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 10.0, 20.0)


def activation_static(depth: int = 4) -> StaticExplorer:
    """The activation explorer for the static book (defined in "ReLU vs tanh"): the input std at
    a few positions, ``depth`` layers; each state is :func:`activation_view`."""
    return static_explorer(lambda sigma: list(activation_view(sigma, depth)),
                           {"sigma": ACTIVATION_SIGMAS}, initial={"sigma": 1.0},
                           fmt={"sigma": "{:g}".format}, names={"sigma": "input std"})


def lrn_view(maps, k: float = 2.0, n: int = 5, alpha: float = 1e-4, beta: float = 0.75,
             channels=(0, 1, 2, 3, 4, 5)):
    """Some channels of ``maps`` before and after LRN with these constants, and how much LRN
    damps the units beyond the constant ``k**-beta``.

    Defined in "Local Response Normalization"; both its explorers show it. Returns
    ``(figure, text)``.
    """
    import torch

    from .lrn import local_response_norm
    from .viz import plot_feature_maps

    a = torch.as_tensor(maps, dtype=torch.float32)
    b = local_response_norm(a[None], n, alpha, beta, k)[0]
    extra = (b / (a * k ** -beta))[a > 0]
    fig = plot_feature_maps([a, b], ["before LRN", "after LRN"], channels,
                            suptitle=f"k={k:g}, n={n}, alpha={alpha:.1e}, "
                                     f"beta={beta:g} (paper: 2, 5, 1e-4, 0.75)")
    text = (f"constant part k^-beta = {k ** -beta:.3f}; beyond it, active units "
            f"are scaled by {float(extra.mean()):.3f} on average, "
            f"{float((extra < 0.95).float().mean()):.1%} of them by less than 0.95")
    return fig, text


def lrn_explorer(maps, channels=(0, 1, 2, 3, 4, 5)) -> W.Widget:
    """LRN's four hyper-parameters acting on real feature maps.

    Defined in "Local Response Normalization". ``maps`` is one image's ``(C, H, W)`` activity
    (e.g. conv1 after its ReLU). The sliders set k, n, alpha (in the paper's convention: it
    multiplies the plain sum) and beta; the plot shows some channels before and after
    :func:`alexnet_lib.lrn.local_response_norm`, and the text how much LRN damps the units
    beyond the constant ``k**-beta``.
    """
    k = W.FloatSlider(value=2.0, min=0.1, max=5.0, step=0.1, description="k")
    n = W.IntSlider(value=5, min=1, max=15, description="n")
    alpha = W.FloatLogSlider(value=1e-4, base=10, min=-7, max=-1, step=0.25, description="alpha")
    beta = W.FloatSlider(value=0.75, min=0.0, max=2.0, step=0.05, description="beta")
    out = W.Output()

    def update(_change=None) -> None:
        out.clear_output(wait=True)
        _show_view(out, lrn_view(maps, k.value, n.value, alpha.value, beta.value, channels))

    return _live(update, (k, n, alpha, beta), [W.HBox([k, n]), W.HBox([alpha, beta]), out])


def lrn_static(maps, channels=(0, 1, 2, 3, 4, 5)) -> StaticExplorer:
    """The LRN explorer for the static book (defined in "Local Response Normalization"): alpha
    and n at a few positions, k and beta the paper's; each state is :func:`lrn_view`."""
    return static_explorer(
        lambda alpha, n: list(lrn_view(maps, 2.0, n, alpha, 0.75, channels)),
        {"alpha": (1e-6, 1e-5, 1e-4, 1e-3, 1e-2), "n": (1, 5, 15)},
        initial={"alpha": 1e-4, "n": 5}, fmt={"alpha": "{:.0e}".format})


def pooling_view(size: int = 13, kernel: int = 3, stride: int = 2):
    """The pooling windows along one row of a ``size``-pixel map, and the arithmetic of its
    output side. Defined in "Overlapping pooling"; both its explorers show it. Returns
    ``(figure, text)``, or only the text when the window is larger than the input."""
    from .model import conv_output_size
    from .viz import plot_pooling_windows

    if kernel > size:
        return None, "the window is larger than the input"
    n_out = conv_output_size(size, kernel, stride)
    covered = min(size, (n_out - 1) * stride + kernel)
    text = (f"output side floor(({size} - {kernel}) / {stride}) + 1 = {n_out};"
            f" neighbouring windows overlap by {max(0, kernel - stride)} pixel(s); "
            f"{size - covered} pixel(s) at the end are never pooled")
    return plot_pooling_windows(size, kernel, stride), text


def pooling_explorer() -> W.Widget:
    """Pooling window z and stride s: overlap, output size, and pixels never pooled.

    Defined in "Overlapping pooling". The output side is
    :func:`alexnet_lib.model.conv_output_size` (floor, as PyTorch and Caffe), the same
    arithmetic as the network's pooling layers.
    """
    size = W.IntSlider(value=13, min=3, max=27, description="input side")
    kernel = W.IntSlider(value=3, min=1, max=6, description="window z")
    stride = W.IntSlider(value=2, min=1, max=6, description="stride s")
    out = W.Output()

    def update(_change=None) -> None:
        out.clear_output(wait=True)
        fig, text = pooling_view(size.value, kernel.value, stride.value)
        if fig is not None:
            _show_figure(out, fig)
        with out:
            print(text)

    return _live(update, (size, kernel, stride), [W.HBox([size, kernel, stride]), out])


def pooling_static() -> StaticExplorer:
    """The pooling explorer for the static book (defined in "Overlapping pooling"): the map
    sides of AlexNet's three pools, windows of 2 to 4 and strides of 1 to 3; each state is
    :func:`pooling_view`."""
    return static_explorer(
        lambda size, kernel, stride: list(pooling_view(size, kernel, stride)),
        {"size": (55, 27, 13), "kernel": (2, 3, 4), "stride": (1, 2, 3)},
        initial={"size": 13, "kernel": 3, "stride": 2},
        names={"size": "input side", "kernel": "window z", "stride": "stride s"})


def _default_units():
    import numpy as np

    return np.maximum(np.random.default_rng(0).normal(0.0, 1.0, (16, 16)), 0)


def dropout_view(activations, p: float = 0.5, seed: int = 0):
    """One layer's units under a dropout mask of rate ``p``, and the mean output over 1000
    masks under both conventions. Defined in "Dropout"; both its explorers show it. Returns
    ``(figure, text)``."""
    import numpy as np

    from .viz import plot_dropout_masks

    a = np.asarray(activations, dtype=float)
    masks = np.random.default_rng(seed).random((1000, *a.shape)) >= p
    keep = 1 - p
    text = (f"mean over 1000 masks: paper's training output {(masks * a).mean():.4f} vs its "
            f"test output (1-p)*a {(keep * a).mean():.4f}; inverted training output "
            f"{(masks * a / keep).mean():.4f} vs its test output a {a.mean():.4f}")
    return plot_dropout_masks(a, p, seed), text


def dropout_explorer(activations=None) -> W.Widget:
    """Dropout rate p: the masks, and the paper's test-time scaling against inverted dropout.

    Defined in "Dropout". ``activations``: a 2-D array of one layer's outputs (e.g. fc6 of a
    trained network for one image, reshaped to a square); default a random non-negative layer.
    The text compares the mean output of the layer in training (averaged over many masks) with
    its test-time output under both conventions.
    """
    a = activations if activations is not None else _default_units()
    p = W.FloatSlider(value=0.5, min=0.0, max=0.9, step=0.05, description="p (drop)")
    seed = W.IntSlider(value=0, min=0, max=9, description="mask seed")
    out = W.Output()

    def update(_change=None) -> None:
        out.clear_output(wait=True)
        _show_view(out, dropout_view(a, p.value, seed.value))

    return _live(update, (p, seed), [W.HBox([p, seed]), out])


def dropout_static(activations=None) -> StaticExplorer:
    """The dropout explorer for the static book (defined in "Dropout"): rates from 0 to 0.9 and
    three mask seeds; each state is :func:`dropout_view`."""
    a = activations if activations is not None else _default_units()
    return static_explorer(lambda p, seed: list(dropout_view(a, p, seed)),
                           {"p": (0.0, 0.1, 0.25, 0.5, 0.75, 0.9), "seed": (0, 1, 2)},
                           initial={"p": 0.5}, names={"p": "p (drop)", "seed": "mask seed"})
