"""Replacing a file atomically: a reader sees the old file or the new one, never half of one."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO


@contextlib.contextmanager
def replacing(path: Path, mode: int, durable: bool = True) -> Iterator[BinaryIO]:
    """A handle to write the new ``path`` to: a temporary file in the same folder (its name starts with a
    dot and ends in ``.tmp``, so neither a glob for the file nor node_exporter picks it up), given
    ``mode`` whatever the umask, fsynced, renamed over ``path``, and the folder fsynced. On an error the
    temporary file is removed and ``path`` is as it was. Not ``durable``: no fsync (a file that is only
    a copy of another, checked when read, may be lost in a power cut; it is never half written)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), mode)
            yield handle
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if not durable:
        return
    with contextlib.suppress(OSError):  # some file systems cannot fsync a folder; the rename is atomic anyway
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
