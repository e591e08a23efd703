"""Atomic JSON writes: readers see the old file or the new one, never a half-written one, even after a crash.

The file is written to a temporary name in the same folder, flushed and fsynced, renamed over the target
(:func:`os.replace`, atomic on POSIX and Windows), and the folder is fsynced so that the rename itself survives
a power loss (skipped where the platform cannot open folders). The TypeScript twin is
``electron/services/fs/atomic.ts``.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any


def fsync_dir(folder: str | os.PathLike[str]) -> None:
    """fsync a folder (makes a rename in it durable); a no-op where folders cannot be opened (Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


def write_json_atomic(
    path: str | os.PathLike[str], value: Any, *, indent: int | None = None, mode: int = 0o644
) -> None:
    """Write ``value`` as JSON (UTF-8) to ``path`` atomically and durably.

    Args:
        path: the target file; its folder must exist.
        value: anything :func:`json.dumps` accepts.
        indent: passed to :func:`json.dumps`.
        mode: permission bits of a newly created file (e.g. 0o600 for files only the user may read).

    Raises:
        TypeError: ``value`` is not JSON-serialisable (nothing is written).
        OSError: the folder is missing or not writable (no temporary file is left behind).
    """
    target = Path(path)
    data = json.dumps(value, indent=indent).encode("utf-8")
    tmp = target.with_name(f"{target.name}.tmp-{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(target.parent)
