"""The built book in a real browser, with no network.

One session builds the book with the same strict command as `make book` (into a fresh temporary
folder, so a stale `_build/html` cannot hide a missing file and concurrent runs do not collide),
serves it on 127.0.0.1 and opens every page of `_toc.yml` in headless Chromium (Debian's
`/usr/bin/chromium`, driven by Playwright; `make test` installs it when missing). Every request to
a host other than 127.0.0.1 is recorded as a failure *and* aborted, so the pages are checked as they
render offline. For each page: no failed or non-local request, no uncaught page error, no console
error except the ones named in ALLOWED_CONSOLE_ERRORS, every <img> loaded, math typeset by MathJax
with no raw TeX left, no Markdown table left as raw "|---|" text, no code or output block wider
than the page at 1280 px (folded cells unfolded first), every widget rendered and not empty. A
full-page screenshot of each page is saved to `_build/screenshots/<page>.png`.

The chapters' static explorers (alexnet_lib/static_explorer.py) are driven as a reader would: every
slider is moved to every position (its value set and an 'input' event dispatched), and the state
shown must be the one those positions select, with its label; what is shown must change.

Set ALEXNET_BOOK_HTML=path/to/html to check an existing build instead of building one.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from playwright.sync_api import sync_playwright  # the `test` extra; never `playwright install`

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOTS = ROOT / "_build" / "screenshots"
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
# The flags measured to work here (../shared/reference/toolchain-notes.md); Playwright adds its own
# temporary --user-data-dir.
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
LOCAL_HOSTS = {"127.0.0.1"}

# Uncaught page errors that are tolerated: none. Two that the stock set-up produces are fixed at
# the source instead of being allowed here:
# - "Identifier 'THEBE_JS_URL' has already been declared" (sphinx-thebe injects its script twice):
#   sphinx_thebe is left out of the extensions in _config.yml (thebe needs the network anyway).
# - "Cannot read properties of undefined (reading 'Queue')" from every widget label (ipywidgets
#   calls the MathJax 2 API, the book loads MathJax 3): book/_vendor/widgets-offline.js shims it.
ALLOWED_PAGE_ERRORS: dict[str, str] = {}

# Console messages of type "error" that are tolerated, each a regex with the reason.
ALLOWED_CONSOLE_ERRORS = {
    r"^Got invalid theme mode: \. Resetting to auto\.$":
        "pydata-sphinx-theme logs this with console.error when the browser has no stored light/dark "
        "choice yet (always so in a fresh headless profile), then uses 'auto'; nothing fails.",
}
# Browsers probe /favicon.ico at the server's root by themselves; the book sets no favicon, so
# that request 404s. It is the browser's, not the page's (Playwright reports no request event
# for it), and only its console line is tolerated here.
FAVICON = "/favicon.ico"

WIDGET_VIEW = 'script[type="application/vnd.jupyter.widget-view+json"]'
# TeX left as text: \( \[ delimiters, or $...$ around a TeX command, outside code and MathJax.
RAW_TEX = re.compile(r"\\\(|\\\[|\$\$|\$[^$\n]*\\[A-Za-z]+[^$\n]*\$")
# A Markdown table's delimiter row left as text (a table that was not rendered), outside code.
RAW_TABLE = re.compile(r"\|\s*:?-{3,}:?\s*\|")
# Blocks that may not scroll sideways at 1280 px: code cells, their outputs, code in the prose.
WIDE_BLOCKS = """() => {
    document.querySelectorAll('details').forEach(d => { d.open = true; });  // folded cells too
    return Array.from(document.querySelectorAll('main pre'))
        .filter(p => p.scrollWidth > p.clientWidth + 1)
        .map(p => {
            const lines = p.textContent.split('\\n');
            const longest = lines.reduce((a, b) => (b.length > a.length ? b : a), '');
            return {where: p.closest('.cell_output') ? 'output' : 'code', width: p.scrollWidth,
                    visible: p.clientWidth, line: longest.slice(0, 120)};
        });
}"""


def toc_pages() -> list[str]:
    """Every page of _toc.yml (root, chapters, parts, sections), as Sphinx docnames."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    pages: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for key in ("root", "file"):
                if key in node:
                    pages.append(str(Path(node[key]).with_suffix("")))
            for key in ("parts", "chapters", "sections"):
                for child in node.get(key) or []:
                    walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    walk(toc)
    return pages


PAGES = toc_pages()


@pytest.fixture(scope="session")
def book_html(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if os.environ.get("ALEXNET_BOOK_HTML"):
        html = Path(os.environ["ALEXNET_BOOK_HTML"]).resolve()
        assert (html / "index.html").is_file(), f"ALEXNET_BOOK_HTML={html} holds no built book"
        return html
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    if not jupyter_book.exists():
        jupyter_book = Path(shutil.which("jupyter-book") or "jupyter-book")
    out = tmp_path_factory.mktemp("book")
    cmd = [str(jupyter_book), "build", str(ROOT), "--warningiserror", "--nitpick", "--keep-going",
           "--path-output", str(out)]
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, (
        f"`{' '.join(cmd)}` failed ({result.returncode}):\n{(result.stdout + result.stderr)[-4000:]}")
    return out / "_build" / "html"


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="session")
def server(book_html: Path) -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(book_html)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="session")
def browser():
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        pytest.fail(
            f"Chromium is missing ({CHROMIUM}). The browser test drives Debian's package: install it "
            "with `sudo apt-get install -y chromium` (`make test` does this itself when run as root), "
            "or point CHROMIUM=/path/to/chromium at another build.", pytrace=False)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


def _is_local(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("data", "blob", "about") or parts.hostname in LOCAL_HOSTS


@pytest.mark.parametrize("docname", PAGES)
def test_page_renders_offline(docname: str, browser, server: str, book_html: Path) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    # Offline for real: anything not served by the test server is aborted (and reported below).
    context.route(lambda url: not _is_local(url), lambda route: route.abort("internetdisconnected"))
    page = context.new_page()
    problems: list[str] = []
    page.on("request", lambda r: None if _is_local(r.url) else problems.append(f"non-local request {r.url}"))
    page.on("requestfailed", lambda r: problems.append(f"request failed {r.url}: {r.failure}"))
    page.on("response", lambda r: problems.append(f"HTTP {r.status} {r.url}") if r.status >= 400 else None)

    def on_page_error(error) -> None:
        if not any(re.search(pattern, error.message) for pattern in ALLOWED_PAGE_ERRORS):
            problems.append(f"uncaught page error: {error.message}")

    def on_console(message) -> None:
        if message.type != "error":
            return
        if urlsplit(message.location.get("url", "")).path == FAVICON:
            return
        if not any(re.search(pattern, message.text) for pattern in ALLOWED_CONSOLE_ERRORS):
            problems.append(f"console error: {message.text} (at {message.location.get('url')})")

    page.on("pageerror", on_page_error)
    page.on("console", on_console)
    try:
        page.goto(f"{server}/{docname}.html", wait_until="load")

        if page.locator(WIDGET_VIEW).count():
            # html-manager renders each view into a div.widget-subarea just before its <script>.
            try:
                page.wait_for_function(
                    """sel => Array.from(document.querySelectorAll(sel)).every(s => {
                           const area = s.previousElementSibling;  // a div.widget-subarea once rendered
                           return area && area.matches('.widget-subarea') && area.childElementCount > 0;
                       })""", arg=WIDGET_VIEW, timeout=15_000)
            except PlaywrightTimeoutError:
                problems.append("widgets not rendered within 15 s")
            # Every web font the page's CSS declares must exist, loaded yet or not: the widget CSS
            # is injected by whichever module loads first, so check the declarations, not luck.
            font_urls = page.evaluate("""() => {
                const urls = new Set();
                for (const sheet of document.styleSheets) {
                    let rules;
                    try { rules = sheet.cssRules; } catch (e) { continue; }
                    for (const rule of rules) {
                        if (!(rule instanceof CSSFontFaceRule)) continue;
                        const src = rule.style.getPropertyValue('src');
                        for (const m of src.matchAll(/url\\("?([^")]+\\.woff2)"?\\)/g)) {
                            urls.add(new URL(m[1], sheet.href || document.baseURI).href);
                        }
                    }
                }
                return Array.from(urls);
            }""")
            for url in font_urls:
                if not (book_html / urlsplit(url).path.lstrip("/")).is_file():
                    problems.append(f"declared font missing: {url}")
        has_math = page.locator(".math").count() > 0
        mathjax_ran = page.evaluate("""async () => {
            const mj = window.MathJax;
            if (!mj || !mj.startup || !mj.startup.promise) return false;
            await mj.startup.promise;
            return true;
        }""")
        # Images below the fold may be lazy: load all of them before looking.
        images = page.evaluate("""async () => {
            const imgs = Array.from(document.images);
            imgs.forEach(img => { img.loading = 'eager'; });
            await Promise.all(imgs.map(img => img.decode().catch(() => null)));
            return imgs.map(img => ({src: img.getAttribute('src'), width: img.naturalWidth}));
        }""")
        wide = page.evaluate(WIDE_BLOCKS)
        raw_tex = page.evaluate("""() => {
            const body = document.querySelector('main') || document.body;
            const copy = body.cloneNode(true);
            copy.querySelectorAll('pre, code, mjx-container, script, style').forEach(e => e.remove());
            return copy.textContent;
        }""")
        math_report = page.evaluate("""() => Array.from(document.querySelectorAll('.math')).map(e => ({
            typeset: e.querySelector('mjx-container') !== null, text: e.textContent.slice(0, 80)}))""")
        widgets = page.evaluate("""sel => Array.from(document.querySelectorAll(sel)).map(s => {
            const area = s.previousElementSibling;
            const box = area ? area.getBoundingClientRect() : {height: 0};
            return {widgets: area ? area.querySelectorAll('.jupyter-widgets').length : 0,
                    height: box.height, text: area ? area.innerText.trim() : ''};
        })""", WIDGET_VIEW)

        SCREENSHOTS.joinpath(docname).parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{docname}.png"), full_page=True)
    finally:
        context.close()

    for img in images:
        if img["width"] == 0:
            problems.append(f"image not loaded: {img['src']}")
    if has_math:
        if not mathjax_ran:
            problems.append("page has math but MathJax did not start")
        for item in math_report:
            if not item["typeset"]:
                problems.append(f"math not typeset: {item['text']!r}")
    leftover = RAW_TEX.findall(raw_tex)
    if leftover:
        problems.append(f"raw TeX in the page text: {leftover[:5]}")
    for match in RAW_TABLE.finditer(raw_tex):
        context = raw_tex[max(0, match.start() - 60):match.end() + 20].replace("\n", " ")
        problems.append(f"Markdown table shown as raw text: ...{context}...")
    for block in wide:
        problems.append(f"{block['where']} block {block['width']} px wide in a {block['visible']} px "
                        f"column: {block['line']!r}")
    for i, widget in enumerate(widgets):
        if widget["widgets"] == 0 or widget["height"] < 10 or not widget["text"]:
            problems.append(f"widget {i} is empty: {widget}")
        if "Error displaying widget" in widget["text"]:
            problems.append(f"widget {i} failed: {widget['text'][:200]}")
    assert not problems, f"{docname}:\n  " + "\n  ".join(problems)


STATIC_EXPLORER = "div.static-explorer"
# One explorer, in the page: the visible views, the one selected, and each slider's label.
EXPLORER_STATE = """root => ({
    visible: Array.from(root.querySelectorAll('.sx-state'))
        .filter(v => v.style.display !== 'none').map(v => v.innerHTML),
    shown: root.getAttribute('data-shown'),
    labels: Array.from(root.querySelectorAll('output')).map(o => o.textContent),
})"""
MOVE_SLIDER = """(root, [i, value]) => {
    const slider = root.querySelectorAll('input.sx-slider')[i];
    slider.value = String(value);
    slider.dispatchEvent(new Event('input', {bubbles: true}));
}"""


def explorer_pages(book_html: Path) -> list[str]:
    return [page for page in PAGES if 'class="static-explorer"' in
            (book_html / f"{page}.html").read_text()]


def test_static_explorers_respond_offline(browser, server: str, book_html: Path) -> None:
    """Every slider of every static explorer, at every position, shows the state it selects."""
    pages = explorer_pages(book_html)
    assert pages, "no page of the toc has a static explorer"
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.route(lambda url: not _is_local(url), lambda route: route.abort("internetdisconnected"))
    problems: list[str] = []
    try:
        for docname in pages:
            page = context.new_page()
            page.on("pageerror", lambda error, d=docname: problems.append(f"{d}: {error.message}"))
            page.goto(f"{server}/{docname}.html", wait_until="load")
            explorers = page.locator(STATIC_EXPLORER)
            assert explorers.count(), docname
            for e in range(explorers.count()):
                root = explorers.nth(e)
                where = f"{docname} explorer {e}"
                root.scroll_into_view_if_needed()
                sliders = [{"values": json.loads(s.get_attribute("data-values")),
                            "start": int(s.get_attribute("value"))}
                           for s in root.locator("input.sx-slider").all()]
                view_of = json.loads(root.get_attribute("data-map"))
                views = root.locator(".sx-state")
                positions = [s["start"] for s in sliders]
                first = root.evaluate(EXPLORER_STATE)
                if len(first["visible"]) != 1:
                    problems.append(f"{where}: {len(first['visible'])} states shown at first")
                changed = False
                for i, slider in enumerate(sliders):
                    for value in range(len(slider["values"])):
                        root.evaluate(MOVE_SLIDER, [i, value])
                        positions[i] = value
                        state = root.evaluate(EXPLORER_STATE)
                        index = 0
                        for s, p in zip(sliders, positions, strict=True):
                            index = index * len(s["values"]) + p
                        expected = views.nth(view_of[index]).inner_html()
                        if state["visible"] != [expected] or state["shown"] != str(index):
                            problems.append(f"{where}: slider {i} at {value} shows "
                                            f"{len(state['visible'])} state(s), not state {index}")
                        if state["labels"][i] != slider["values"][value]:
                            problems.append(f"{where}: slider {i} at {value} is labelled "
                                            f"{state['labels'][i]!r}")
                        changed |= state["visible"] != first["visible"]
                    root.evaluate(MOVE_SLIDER, [i, slider["start"]])
                    positions[i] = slider["start"]
                # Not every slider needs to change the first view (at 224 px both poolings give
                # the same map sizes); that each matters somewhere is tests/test_widgets.py's.
                if not changed:
                    problems.append(f"{where}: moving the sliders never changes what is shown")
                if root.evaluate(EXPLORER_STATE)["visible"] != first["visible"]:
                    problems.append(f"{where}: back at the start, the first state is not shown")
            page.close()
    finally:
        context.close()
    assert not problems, "\n  ".join(problems)


BIBLIOGRAPHY = "book/bibliography"
PAPER_TITLE = "ImageNet classification with deep convolutional neural networks"
CITATION_LINK = re.compile(r'<a class="reference internal" href="(?:[^"#]*/)?bibliography\.html#([^"]+)"')


def test_every_citation_resolves_to_a_bibliography_entry(book_html: Path) -> None:
    """Each {cite} link of every page points at an entry of the bibliography page."""
    entries = set(re.findall(r'<div class="citation" id="([^"]+)" role="doc-biblioentry"',
                             (book_html / f"{BIBLIOGRAPHY}.html").read_text()))
    assert entries, "the bibliography page lists no entries"
    cited = {page: CITATION_LINK.findall((book_html / f"{page}.html").read_text()) for page in PAGES}
    assert any(cited.values()), "no page of the toc cites anything"
    dangling = {page: sorted(set(ids) - entries) for page, ids in cited.items() if set(ids) - entries}
    assert not dangling, f"citation links to no entry: {dangling}"


def test_a_citation_leads_to_the_paper_in_the_bibliography(browser, server: str) -> None:
    """In the browser: the bibliography lists the paper, and following a chapter's citation of it
    lands on that entry."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.route(lambda url: not _is_local(url), lambda route: route.abort("internetdisconnected"))
    try:
        page = context.new_page()
        page.goto(f"{server}/{BIBLIOGRAPHY}.html", wait_until="load")
        entries = page.locator("div.citation").all_inner_texts()
        assert any(PAPER_TITLE in text and "Krizhevsky" in text for text in entries), entries[:3]
        page.goto(f"{server}/book/architecture.html", wait_until="load")
        link = page.locator(f'span.bibtex-citation a[title*="{PAPER_TITLE}"]').first
        assert link.count(), "the architecture chapter does not cite the paper"
        link.click()
        page.wait_for_url(re.compile(r"bibliography\.html#"))
        target = page.evaluate("() => document.getElementById(location.hash.slice(1))?.innerText")
        assert target and PAPER_TITLE in target, target
    finally:
        context.close()


def test_checks_are_exercised(book_html: Path) -> None:
    """The math, explorer and table checks above are only meaningful if some page has math, a static
    explorer and a table that a cell displayed as Markdown."""
    html = {page: (book_html / f"{page}.html").read_text() for page in PAGES}
    assert any('class="math' in text for text in html.values()), "no page of the toc has math"
    cell_table = re.compile(r'<div class="cell_output[^"]*">(?:(?!<div class="cell ).)*?<table', re.S)
    assert any(cell_table.search(text) for text in html.values()), \
        "no cell output of the toc renders a table"
    assert explorer_pages(book_html), "no page of the toc has a static explorer"


def test_no_remote_scripts_or_stylesheets(book_html: Path) -> None:
    """The issue's acceptance grep, over every built page (search, index pages included)."""
    remote_script = re.compile(r'<script[^>]+src="https?://[^"]*')
    remote_css = re.compile(r'<link(?=[^>]+rel="stylesheet")[^>]+href="https?://[^"]*')
    found = [(str(path.relative_to(book_html)), match)
             for path in sorted(book_html.rglob("*.html"))
             for match in remote_script.findall(path.read_text()) + remote_css.findall(path.read_text())]
    assert not found, f"pages load from the network: {found}"
