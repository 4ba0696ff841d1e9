"""`make lab`: JupyterLab serves the chapters, with the widgets' extension and the project's kernel.

Starts JupyterLab as `make lab` does, but on 127.0.0.1, on a free port, with a token and no
browser, in a throw-away Jupyter config and runtime folder. Checks that it serves a chapter through
its contents API, that /lab answers 200 with the ipywidgets manager among its extensions (so the
chapters' widgets work), that the kernel the chapters name is there, and that nothing is served
without the token; then stops it. `make test` installs JupyterLab (the `lab` extra of
pyproject.toml); the test is skipped only where it is not installed.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

try:
    import jupyterlab  # noqa: F401
except ImportError:
    pytest.skip("jupyterlab is not installed: `make lab` or `make test` installs it "
                "(pip install -e '.[lab]')", allow_module_level=True)

ROOT = Path(__file__).resolve().parents[1]
CHAPTER = "book/relu.ipynb"
WIDGETS_EXTENSION = "@jupyter-widgets/jupyterlab-manager"
START_TIMEOUT_S = 120  # a cold start on a busy 2-core machine


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, token: str | None = None, timeout: float = 30) -> tuple[int, bytes]:
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"token {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    port, token = _free_port(), secrets.token_hex(16)
    home = tmp_path_factory.mktemp("jupyter")
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(home / "config"),
           "JUPYTER_RUNTIME_DIR": str(home / "runtime"), "JUPYTERLAB_WORKSPACES_DIR": str(home / "ws")}
    log = (home / "lab.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
         f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={ROOT}",
         "--ServerApp.allow_root=True"],  # CI runs as root
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"

    def log_tail() -> str:
        return (home / "lab.log").read_text(errors="replace")[-3000:]

    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"jupyter lab exited ({proc.returncode}):\n{log_tail()}")
            try:
                if _get(f"{url}/api/status", token, timeout=5)[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"jupyter lab did not answer within {START_TIMEOUT_S} s:\n{log_tail()}")
            time.sleep(0.5)
        yield url, token
    finally:
        proc.terminate()  # SIGTERM: the server shuts down without asking
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()


def test_serves_a_chapter(lab: tuple[str, str]) -> None:
    url, token = lab
    status, body = _get(f"{url}/api/contents/{CHAPTER}?content=1", token)
    assert status == 200, body[:500]
    model = json.loads(body)
    assert model["type"] == "notebook" and model["path"] == CHAPTER
    committed = json.loads((ROOT / CHAPTER).read_text())
    assert len(model["content"]["cells"]) == len(committed["cells"])
    assert model["content"]["metadata"]["kernelspec"]["name"] == "python3"


def test_lab_page_has_the_widgets_extension(lab: tuple[str, str]) -> None:
    url, token = lab
    status, body = _get(f"{url}/lab/tree/{CHAPTER}", token)
    assert status == 200, body[:500]
    page = body.decode()
    assert 'id="jupyter-config-data"' in page
    assert WIDGETS_EXTENSION in page, "the ipywidgets JupyterLab extension is not loaded"


def test_the_chapters_kernel_is_this_environment(lab: tuple[str, str]) -> None:
    url, token = lab
    status, body = _get(f"{url}/api/kernelspecs", token)
    assert status == 200, body[:500]
    assert "python3" in json.loads(body)["kernelspecs"]


def test_nothing_is_served_without_the_token(lab: tuple[str, str]) -> None:
    url, _ = lab
    assert _get(f"{url}/api/contents/{CHAPTER}")[0] == 403
