"""Tiny helper to write a chapter notebook from a list of (kind, source) cells, then execute it.

Chapters are authored as notebooks; this helper only saves typing JSON by hand:

    python tools/nbbuild.py SPEC.py book/chapter.ipynb
    python tools/nbbuild.py --execute book/chapter.ipynb   # re-run a committed chapter in place

where SPEC.py defines CELLS = [("md", "..."), ("code", "..."), ...]. The notebook is executed
in place with nbclient (outputs and widget state stored), so it can be committed and checked by
`pytest --nbval`.
"""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import nbformat

from alexnet_lib.bench import execute_notebook


def build(spec: str, target: str, timeout: int = 600) -> None:
    cells = runpy.run_path(spec)["CELLS"]
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    for kind, source in cells:
        source = source.strip("\n")
        if kind == "md":
            nb.cells.append(nbformat.v4.new_markdown_cell(source))
        else:
            nb.cells.append(nbformat.v4.new_code_cell(source))
    for i, cell in enumerate(nb.cells):  # stable ids keep diffs small
        cell["id"] = f"cell-{i:02d}"
    path = Path(target)
    execute_notebook(nb, path.parent, timeout)
    nbformat.write(nb, path)
    print(f"wrote {path} ({len(nb.cells)} cells)")


def execute(target: str, timeout: int = 600) -> None:
    """Re-execute an existing notebook in place (after editing its cells or the library)."""
    path = Path(target)
    nb = nbformat.read(path, as_version=4)
    execute_notebook(nb, path.parent, timeout)
    nbformat.write(nb, path)
    print(f"executed {path} ({len(nb.cells)} cells)")


if __name__ == "__main__":
    if sys.argv[1] == "--execute":
        for notebook in sys.argv[2:]:
            execute(notebook)
    else:
        build(sys.argv[1], sys.argv[2])
