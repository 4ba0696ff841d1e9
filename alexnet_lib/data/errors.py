"""Errors raised by the dataset code.

Defined in the book's chapter 'training at ImageNet scale' (the data section). Every
error names the path it is about and says what was expected, so that a reader who
points the library at the wrong folder learns how to fix it from the message alone.
"""

from __future__ import annotations

from pathlib import Path


class DatasetError(ValueError):
    """A dataset on disk is missing, incomplete or laid out in an unexpected way."""


class DatasetNotFoundError(DatasetError, FileNotFoundError):
    """A dataset root, split folder or data file does not exist.

    Subclasses both :class:`DatasetError` and :class:`FileNotFoundError`, so
    ``except FileNotFoundError`` in user code still catches it.
    """


class CorruptImageError(DatasetError):
    """An image file could not be decoded.

    Attributes:
        path: the file that failed.
        reason: the decoder's own message.
    """

    def __init__(self, path: str | Path, reason: str = "") -> None:
        self.path = Path(path)
        self.reason = reason
        detail = f": {reason}" if reason else ""
        super().__init__(
            f"cannot decode image file {self.path}{detail}. The file is truncated, empty or "
            "not an image. Re-download or delete it; the training loop can also skip and "
            "count such files."
        )
