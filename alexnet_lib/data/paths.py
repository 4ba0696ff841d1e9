"""Where datasets live on disk.

Defined in the book's chapter 'training at ImageNet scale' (the data section). By default
every dataset sits under ``data/`` at the repository root (``data/imagenet``,
``data/cifar10``); set the environment variable ``ALEXNET_DATA`` to put them elsewhere.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "ALEXNET_DATA"


def repo_root() -> Path | None:
    """The repository root that holds this package, or None for an installed copy.

    The package lives at ``<repo>/alexnet_lib/data/``; we only trust that guess when the
    directory also holds ``pyproject.toml``, because a non-editable install puts the package
    in ``site-packages`` where a sibling ``data/`` folder would be meaningless.
    """
    candidate = Path(__file__).resolve().parents[2]
    return candidate if (candidate / "pyproject.toml").is_file() else None


def default_data_root() -> Path:
    """The folder that holds all datasets.

    Order: the ``ALEXNET_DATA`` environment variable if set and non-empty; else ``data/``
    at the repository root; else (an installed package) ``./data`` under the current
    working directory. The folder need not exist yet.
    """
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        return Path(env).expanduser()
    root = repo_root()
    return (root if root is not None else Path.cwd()) / "data"
