"""Explorers that respond in the static HTML book: precomputed states behind plain sliders.

Defined for every chapter's "Play with it" section (first used in "The architecture"). The
ipywidgets explorers of :mod:`alexnet_lib.widgets` need a running kernel; in the built book there
is none, so a slider there moves nothing. A :class:`StaticExplorer` instead computes what the
library shows at a small set of slider positions when the notebook is executed, and emits one
self-contained HTML block: ``<input type="range">`` controls, every state (text, markup, a
figure as an inline PNG or a photograph as an inline JPEG) and a few lines of inline JavaScript
that show the state the sliders select. Nothing is fetched, so it works offline and in any browser.

With several sliders, the states are every combination of their positions (the last slider
varies fastest). Identical states are stored once.
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import itertools
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

__all__ = ["Markup", "StaticExplorer", "static_explorer", "render_content"]

# A page should stay light: the whole book is read offline, and each state is stored in the
# committed notebook too. Larger explorers must say so with ``max_bytes``.
DEFAULT_MAX_BYTES = 400_000


class Markup(str):
    """HTML to insert as it is (a table the library formats), not as escaped text."""


def _figure_png(fig: Any, dpi: int) -> bytes:
    """A matplotlib figure as a PNG of at most 256 colours (a third of the bytes of matplotlib's
    own PNG for the book's plots, with no visible loss); the figure is closed."""
    import matplotlib.pyplot as plt
    from PIL import Image

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    plt.close(fig)
    image = Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")
    return _image_png(image.quantize(colors=256, method=Image.Quantize.FASTOCTREE))


def _image_png(image: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def _photo_jpeg(image: Any) -> bytes:
    """A PIL image (a photograph) as a JPEG: far fewer bytes than a PNG of one."""
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


def render_content(content: Any, dpi: int = 72) -> str:
    """One state's HTML: a ``str`` as preformatted text, :class:`Markup` as it is, a matplotlib
    figure as an inline PNG, a PIL image (a photograph) as an inline JPEG, a list or tuple as its
    parts in order, ``None`` as nothing."""
    if content is None:
        return ""
    if isinstance(content, Markup):
        return str(content)
    if isinstance(content, str):
        return f'<pre class="sx-text">{html.escape(content)}</pre>'
    if isinstance(content, list | tuple):
        return "".join(render_content(part, dpi) for part in content)
    if hasattr(content, "savefig"):
        kind, data = "png", _figure_png(content, dpi)
    elif hasattr(content, "save") and hasattr(content, "mode"):
        kind, data = "jpeg", _photo_jpeg(content)
    else:
        raise TypeError(f"a state is text, Markup, a figure, an image or a list of them, "
                        f"not {type(content).__name__}")
    encoded = base64.b64encode(data).decode("ascii")
    return (f'<img class="sx-figure" src="data:image/{kind};base64,{encoded}" alt="" '
            f'style="max-width:100%;height:auto">')


# Show the state that the sliders select; the root element is the script's parent. Every other
# state is hidden in the markup already, so without JavaScript the first view is still right.
_SCRIPT = """(function () {
  var root = document.currentScript ? document.currentScript.parentNode
                                    : document.getElementById("%(id)s");
  var inputs = Array.prototype.slice.call(root.querySelectorAll("input.sx-slider"));
  var views = root.querySelectorAll(".sx-state");
  var map = JSON.parse(root.getAttribute("data-map"));
  function show() {
    var index = 0;
    inputs.forEach(function (input) {
      var values = JSON.parse(input.getAttribute("data-values"));
      index = index * values.length + Number(input.value);
      input.parentNode.querySelector("output").textContent = values[Number(input.value)];
    });
    for (var i = 0; i < views.length; i++) {
      views[i].style.display = i === map[index] ? "" : "none";
    }
    root.setAttribute("data-shown", String(index));
  }
  inputs.forEach(function (input) { input.addEventListener("input", show); });
  show();
})();"""


class StaticExplorer:
    """Sliders over precomputed states, displayed as one self-contained HTML block.

    ``controls`` names each slider and its positions' labels; ``states`` holds one content per
    combination of positions, in :func:`itertools.product` order (see :func:`render_content` for
    what a content may be). ``initial`` is each slider's starting position (index); ``texts``
    each state's text when ``states`` are already rendered (:func:`static_explorer` does so).
    """

    def __init__(self, controls: Sequence[tuple[str, Sequence[str]]], states: Sequence[Any],
                 initial: Sequence[int] | None = None, *, dpi: int = 72,
                 max_bytes: int = DEFAULT_MAX_BYTES, texts: Sequence[str] | None = None) -> None:
        self.controls = [(str(name), [str(v) for v in values]) for name, values in controls]
        if not self.controls or any(not values for _, values in self.controls):
            raise ValueError("an explorer needs at least one slider, each with a position")
        combinations = 1
        for _, values in self.controls:
            combinations *= len(values)
        if len(states) != combinations:
            raise ValueError(f"{combinations} combinations of slider positions but "
                             f"{len(states)} states")
        self.initial = list(initial) if initial is not None else [0] * len(self.controls)
        if len(self.initial) != len(self.controls) or not all(
                0 <= i < len(values) for i, (_, values) in zip(self.initial, self.controls, strict=True)):
            raise ValueError(f"initial positions {self.initial} do not fit the sliders")
        rendered = [render_content(s, dpi) for s in states]
        # The text and markup parts of each state, for checks (given when states come rendered).
        self.texts = list(texts) if texts is not None else [_text_of(s) for s in states]
        self.views: list[str] = []  # each distinct state once
        self.state_view: list[int] = []  # state (combination) index -> index into views
        seen: dict[str, int] = {}
        for view in rendered:
            if view not in seen:
                seen[view] = len(self.views)
                self.views.append(view)
            self.state_view.append(seen[view])
        self.html = self._html()
        if len(self.html.encode()) > max_bytes:
            raise ValueError(f"the explorer is {len(self.html.encode()):,} bytes, over max_bytes="
                             f"{max_bytes:,}: fewer positions, a lower dpi or smaller figures")

    @property
    def labels(self) -> list[tuple[str, ...]]:
        """Each state's slider labels, in the order of ``states``."""
        return list(itertools.product(*(values for _, values in self.controls)))

    def initial_index(self) -> int:
        """Index of the state shown first."""
        index = 0
        for position, (_, values) in zip(self.initial, self.controls, strict=True):
            index = index * len(values) + position
        return index

    def _html(self) -> str:
        body = json.dumps([self.controls, self.views, self.initial], sort_keys=True)
        ident = "sx-" + hashlib.sha1(body.encode()).hexdigest()[:12]  # stable: nbval compares it
        shown = self.state_view[self.initial_index()]
        sliders = []
        for (name, values), position in zip(self.controls, self.initial, strict=True):
            sliders.append(
                '<label class="sx-control" style="margin-right:1.5em;white-space:nowrap">'
                f'{html.escape(name)} '
                f'<input class="sx-slider" type="range" min="0" max="{len(values) - 1}" step="1" '
                f'value="{position}" aria-label="{html.escape(name)}" '
                f"data-values='{html.escape(json.dumps(values), quote=True)}' "
                'style="vertical-align:middle"> '
                f"<output>{html.escape(values[position])}</output></label>")
        hidden = ' style="display:none"'
        views = [f'<div class="sx-state" data-view="{i}"{"" if i == shown else hidden}>{view}</div>'
                 for i, view in enumerate(self.views)]
        return (f'<div class="static-explorer" id="{ident}" data-map="{json.dumps(self.state_view)}">'
                f'<div class="sx-controls">{"".join(sliders)}</div>\n' + "\n".join(views)
                + f"\n<script>{_SCRIPT % {'id': ident}}</script></div>")

    def _repr_html_(self) -> str:
        return self.html

    def __repr__(self) -> str:
        sliders = "; ".join(f"{name}: {', '.join(values)}" for name, values in self.controls)
        return (f"StaticExplorer({len(self.state_view)} states, {len(self.views)} distinct; "
                f"{sliders})")


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list | tuple):
        return "\n".join(t for t in (_text_of(part) for part in content) if t)
    return ""


def static_explorer(render: Callable[..., Any], sliders: Mapping[str, Sequence[Any]],
                    initial: Mapping[str, Any] | None = None,
                    fmt: Mapping[str, Callable[[Any], str]] | None = None,
                    names: Mapping[str, str] | None = None, *, dpi: int = 72,
                    max_bytes: int = DEFAULT_MAX_BYTES) -> StaticExplorer:
    """Call ``render(**values)`` at every combination of the sliders' values.

    ``sliders`` maps each keyword of ``render`` to the values its slider offers, ``initial`` a
    slider to the value it starts at (default: its first), ``fmt`` a slider to how its value is
    labelled (default ``str``), ``names`` a slider to the name shown beside it (default: the
    keyword with spaces for underscores).
    """
    keywords = list(sliders)
    fmt = dict(fmt or {})
    initial = dict(initial or {})
    shown = dict(names or {})
    controls = [(shown.get(name, name.replace("_", " ")), [fmt.get(name, str)(v) for v in sliders[name]])
                for name in keywords]
    states, texts = [], []
    for combo in itertools.product(*(sliders[name] for name in keywords)):
        state = render(**dict(zip(keywords, combo, strict=True)))
        texts.append(_text_of(state))
        states.append(Markup(render_content(state, dpi)))  # closes its figures now
    start = [list(sliders[name]).index(initial[name]) if name in initial else 0 for name in keywords]
    return StaticExplorer(controls, states, start, dpi=dpi, max_bytes=max_bytes, texts=texts)
