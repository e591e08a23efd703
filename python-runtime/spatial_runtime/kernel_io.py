"""A kernel's standard streams (docs/kernel-protocol.md, "Output and stdin"): capped output, no stdin.

**Output.** A cell that prints megabytes used to lose everything: jupyter_server drops a kernel's stream messages
over its IOPub data rate (1 MB/s by default) and the cell came back empty with status ``ok``; the lines after it
were lost too. :func:`install` wraps ``sys.stdout`` and ``sys.stderr`` in a :class:`CappedStream`: per cell, the
first :data:`HEAD_CHARS` characters of each stream go out as they are written, the last :data:`TAIL_CHARS` are held
back and sent when the cell ends, after a marker line ``… [2,981,004 characters dropped] …`` that says how many
characters in between were dropped. Nothing is dropped when a cell prints no more than ``HEAD_CHARS + TAIL_CHARS``
characters (those after the head arrive at the end of the cell instead of as they are written). The cap applies
before the data leaves the kernel, so a remote Jupyter server's rate limit is never reached by a cell's text.
Output written straight to file descriptor 1 or 2 by C code is not capped.

**Stdin.** The host cannot answer input requests: ``input()`` (and interactive ``help()``, ``getpass``) used to wait
for an answer until the cell timeout (600 s). :func:`install` makes them raise :class:`NoStdinError` at once, makes
``sys.stdin`` a stream whose reads raise it, and points file descriptor 0 at ``/dev/null`` (child processes and
``os.read(0, n)`` see end of file).
"""

from __future__ import annotations

import collections
import io
import os
import sys
import threading
from typing import Any

HEAD_CHARS = 50_000
"""Characters of a cell's stdout (and, separately, of its stderr) sent as they are written."""

TAIL_CHARS = 50_000
"""The last characters of a cell's stdout (and stderr) kept and sent when the cell ends."""

NO_STDIN_MESSAGE = (
    "this kernel has no stdin: input(), getpass(), interactive help() and sys.stdin reads cannot be answered. "
    "Put the values in the code instead; for documentation, use help(obj) or print(obj.__doc__)."
)

try:  # IPython's class, so that code catching StdinNotImplementedError (as ipykernel raises it) still does
    from IPython.core.error import StdinNotImplementedError as _Base
except ImportError:  # pragma: no cover - the kernels always have IPython
    _Base = NotImplementedError  # type: ignore[misc, assignment]


class NoStdinError(_Base):  # type: ignore[misc, valid-type]
    """Raised by ``input()``, ``getpass()`` and ``sys.stdin`` reads in a kernel: nothing can answer them."""

    def __init__(self, message: str = NO_STDIN_MESSAGE) -> None:
        super().__init__(message)


def drop_marker(dropped: int) -> str:
    """The line put in place of ``dropped`` characters: ``\\n… [2,981,004 characters dropped] …\\n``."""
    return f"\n… [{dropped:,} characters dropped] …\n"


class CappedStream:
    """A text stream that passes the first ``head`` characters of a cell to ``inner`` and keeps its last ``tail``
    characters until :meth:`end_cell` (see the module docstring). Other attributes are those of ``inner``.
    """

    def __init__(self, inner: Any, head: int = HEAD_CHARS, tail: int = TAIL_CHARS) -> None:
        if head < 0 or tail < 0:
            raise ValueError(f"head and tail must be >= 0 characters, got head={head} tail={tail}")
        self._inner = inner
        self._head = head
        self._tail = tail
        self._lock = threading.RLock()
        self._sent = 0
        self._held: collections.deque[str] = collections.deque()
        self._held_len = 0
        self._dropped = 0

    @property
    def inner(self) -> Any:
        """The wrapped stream (ipykernel's ``OutStream``)."""
        return self._inner

    def write(self, text: str) -> int:
        n = len(text)
        with self._lock:
            room = self._head - self._sent
            if room > 0:
                part = text[:room]
                self._inner.write(part)
                self._sent += len(part)
                text = text[len(part) :]
            if text:
                self._hold(text)
        return n

    def _hold(self, text: str) -> None:
        if len(text) >= self._tail:
            self._dropped += self._held_len + len(text) - self._tail
            self._held.clear()
            self._held_len = 0
            text = text[len(text) - self._tail :] if self._tail else ""
            if not text:
                return
        self._held.append(text)
        self._held_len += len(text)
        while self._held_len > self._tail:
            first = self._held[0]
            excess = self._held_len - self._tail
            if len(first) <= excess:
                self._held.popleft()
                self._held_len -= len(first)
                self._dropped += len(first)
            else:
                self._held[0] = first[excess:]
                self._held_len -= excess
                self._dropped += excess

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def end_cell(self) -> int:
        """Send the held tail (after the drop marker when characters were dropped) and start counting again.

        Returns:
            How many characters were dropped in this cell.
        """
        with self._lock:
            dropped = self._dropped
            if dropped:
                self._inner.write(drop_marker(dropped))
            if self._held:
                self._inner.write("".join(self._held))
            self._held.clear()
            self._held_len = 0
            self._dropped = 0
            self._sent = 0
        try:
            self._inner.flush()
        except Exception:  # a closed stream: nothing left to send
            pass
        return dropped

    def flush(self) -> None:
        self._inner.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class NoStdin(io.TextIOBase):
    """``sys.stdin`` of a kernel: every read raises :class:`NoStdinError`."""

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> str:
        raise NoStdinError()

    def readline(self, size: int | None = -1) -> str:  # type: ignore[override]
        raise NoStdinError()

    def readlines(self, hint: int = -1) -> list[str]:
        raise NoStdinError()

    def isatty(self) -> bool:
        return False

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "utf-8"


def _no_input(prompt: str = "", *args: Any, **kwargs: Any) -> str:
    raise NoStdinError()


_installed = False


def end_cell(*_args: Any) -> None:
    """End the cell for the capped streams (IPython's ``post_run_cell`` event)."""
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, CappedStream):
            stream.end_cell()


def install(shell: Any = None) -> bool:
    """Cap ``sys.stdout`` / ``sys.stderr`` per cell and take stdin away (see the module docstring). Idempotent.

    Args:
        shell: the IPython shell whose ``post_run_cell`` event ends a cell; default ``get_ipython()``. Without a
            shell (a plain interpreter, tests) nothing is installed.

    Returns:
        Whether the streams are installed now.
    """
    global _installed
    if shell is None:
        try:
            from IPython import get_ipython

            shell = get_ipython()
        except ImportError:  # pragma: no cover
            shell = None
    if shell is None:
        return False
    if _installed:
        return True
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is not None and not isinstance(stream, CappedStream):
            setattr(sys, name, CappedStream(stream))
    shell.events.register("post_run_cell", end_cell)
    sys.stdin = NoStdin()
    try:
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.close(devnull)
    except OSError:  # no fd 0 to replace: nothing reads it then either
        pass
    kernel = getattr(shell, "kernel", None)
    if kernel is not None:
        # ipykernel binds builtins.input / getpass.getpass to these for every execute request.
        kernel.raw_input = _no_input
        kernel.getpass = _no_input
    import builtins
    import getpass

    builtins.input = _no_input
    getpass.getpass = _no_input
    _installed = True
    return True
