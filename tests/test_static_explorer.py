"""alexnet_lib.static_explorer: precomputed states behind sliders, as one self-contained HTML block.

The JavaScript itself runs in tests/test_browser.py (a slider moved in the built book); here the
markup, the state order, deduplication, determinism and the size limit are checked.
"""

import json
import re
from html.parser import HTMLParser

import matplotlib
import pytest
from PIL import Image

from alexnet_lib.static_explorer import Markup, StaticExplorer, render_content, static_explorer

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the Agg backend)


class _Parse(HTMLParser):
    """Collects the sliders, the state views and the scripts of an explorer's HTML."""

    def __init__(self) -> None:
        super().__init__()
        self.root: dict[str, str] = {}
        self.sliders: list[dict[str, str]] = []
        self.views: list[dict[str, str]] = []
        self.scripts = 0
        self.remote: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = {k: v or "" for k, v in attrs}
        if "static-explorer" in a.get("class", "").split():
            self.root = a
        if tag == "input":
            self.sliders.append(a)
        if "sx-state" in a.get("class", "").split():
            self.views.append(a)
        if tag == "script":
            self.scripts += 1
        for key in ("src", "href"):
            if a.get(key, "").startswith(("http:", "https:", "//")):
                self.remote.append(a[key])


def parse(html: str) -> _Parse:
    parser = _Parse()
    parser.feed(html)
    return parser


def test_one_slider_shows_its_initial_state_and_hides_the_others():
    ex = StaticExplorer([("n", ["one", "two", "three"])], ["1", "2", "3"], initial=[1])
    page = parse(ex.html)
    assert len(page.sliders) == 1
    slider = page.sliders[0]
    assert (slider["type"], slider["min"], slider["max"], slider["value"]) == ("range", "0", "2", "1")
    assert json.loads(slider["data-values"]) == ["one", "two", "three"]
    assert [v.get("style", "") for v in page.views] == ["display:none", "", "display:none"]
    assert json.loads(page.root["data-map"]) == [0, 1, 2]
    assert page.scripts == 1 and not page.remote
    assert "<output>two</output>" in ex.html
    assert ex.labels == [("one",), ("two",), ("three",)]


def test_text_is_escaped_and_markup_is_not():
    ex = StaticExplorer([("x", ["a", "b"])], ["1 < 2 & <b>", Markup("<b>bold</b>")])
    assert "1 &lt; 2 &amp; &lt;b&gt;" in ex.html
    assert "<b>bold</b>" in ex.html
    assert ex.texts == ["1 < 2 & <b>", "<b>bold</b>"]  # the source, for checks


def test_several_sliders_follow_product_order_and_identical_states_are_stored_once():
    seen = []

    def render(a: int, b: str) -> str:
        seen.append((a, b))
        return "same" if a == 0 else f"{a}{b}"

    ex = static_explorer(render, {"a": [0, 1], "b": ["x", "y", "z"]}, initial={"a": 1, "b": "y"})
    assert seen == [(0, "x"), (0, "y"), (0, "z"), (1, "x"), (1, "y"), (1, "z")]
    assert ex.labels == [("0", "x"), ("0", "y"), ("0", "z"), ("1", "x"), ("1", "y"), ("1", "z")]
    assert ex.texts == ["same", "same", "same", "1x", "1y", "1z"]
    assert len(ex.views) == 4 and ex.state_view == [0, 0, 0, 1, 2, 3]
    assert ex.initial == [1, 1] and ex.initial_index() == 4
    page = parse(ex.html)
    shown = [i for i, v in enumerate(page.views) if "display:none" not in v.get("style", "")]
    assert shown == [ex.state_view[4]]


def test_names_and_labels_can_be_chosen():
    ex = static_explorer(lambda kernel_size: str(kernel_size), {"kernel_size": [1, 2]},
                         fmt={"kernel_size": lambda k: f"{k}x{k}"}, names={"kernel_size": "window"})
    assert ex.controls == [("window", ["1x1", "2x2"])]
    assert "window <input" in ex.html
    ex = static_explorer(lambda input_size: "", {"input_size": [1]})
    assert ex.controls[0][0] == "input size"


def test_the_html_is_the_same_on_every_run_and_differs_with_the_states():
    def make(offset: int) -> StaticExplorer:
        return static_explorer(lambda v: f"value {v + offset}", {"v": range(4)})

    assert make(0).html == make(0).html  # nbval compares the stored HTML
    assert make(0).html != make(1).html
    ids = {re.search(r'id="(sx-[0-9a-f]+)"', make(k).html).group(1) for k in (0, 1)}
    assert len(ids) == 2  # two explorers on one page do not share an id


def test_figures_become_inline_pngs_photos_jpegs_and_figures_are_closed():
    fig, ax = plt.subplots(figsize=(2, 1))
    ax.plot([0, 1], [1, 0])
    image = Image.new("RGB", (8, 8), (200, 10, 10))
    html = render_content([fig, "caption", None, image], dpi=40)
    assert html.count('src="data:image/png;base64,') == 1
    assert html.count('src="data:image/jpeg;base64,') == 1
    assert '<pre class="sx-text">caption</pre>' in html
    assert not plt.fignum_exists(fig.number)
    with pytest.raises(TypeError):
        render_content(3.5)


def test_wrong_shapes_and_oversized_explorers_are_refused():
    with pytest.raises(ValueError, match="2 combinations"):
        StaticExplorer([("x", ["a", "b"])], ["only one"])
    with pytest.raises(ValueError, match="initial"):
        StaticExplorer([("x", ["a", "b"])], ["1", "2"], initial=[2])
    with pytest.raises(ValueError, match="at least one slider"):
        StaticExplorer([], [])
    with pytest.raises(ValueError, match="max_bytes"):
        static_explorer(lambda v: "x" * 1000 + str(v), {"v": range(20)}, max_bytes=10_000)


def test_repr_summarises_the_sliders():
    ex = static_explorer(lambda v: "same", {"v": [1, 2]})
    assert repr(ex) == "StaticExplorer(2 states, 1 distinct; v: 1, 2)"
