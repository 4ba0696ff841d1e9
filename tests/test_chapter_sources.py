"""The chapters' source, checked without running them: what the browser test would find later."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

BOOK = Path(__file__).parents[1] / "book"
CHAPTERS = sorted(BOOK.glob("*.ipynb"))
MAX_CODE_LINE = 82  # characters: wider code overflows the built page's column (tests/test_browser)


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_code_lines_fit_the_page(chapter: Path) -> None:
    cells = json.loads(chapter.read_text())["cells"]
    wide = [line for c in cells if c["cell_type"] == "code"
            for line in "".join(c["source"]).splitlines() if len(line) > MAX_CODE_LINE]
    assert not wide, f"{chapter.name}: code lines over {MAX_CODE_LINE} characters: {wide}"
