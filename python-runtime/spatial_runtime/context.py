"""The session's state as data: what ``session.prepare`` bound and configured, read by the tools.

One immutable :class:`SessionContext` per kernel holds

* ``inputs``: the bound inputs, in order (:class:`BoundInput`: the names ``InputImages``/``Metadata`` or
  ``InputImages_k``/``Metadata_k`` and the two objects);
* ``perception``: where the perception server is (:class:`PerceptionConfig`: URL, bearer token, default
  backends), or None;
* ``bridge``: where the host's VLM bridge is (:class:`Endpoint`: URL, bearer token), or None.

``session.prepare`` fills it, ``session.reset`` clears it, ``tools.Reconstruct``, ``tools.SAM3`` and ``vlm``
read it. Tokens are kept in this process's memory only (never written to disk or ``os.environ``) and are left
out of every ``repr``. Updates replace the whole snapshot under a lock, so a reader always sees a consistent one.

This module is a leaf: it imports nothing from the rest of ``spatial_runtime``.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "BoundInput",
    "Endpoint",
    "PerceptionConfig",
    "SessionContext",
    "bind_inputs",
    "clear",
    "current",
    "update",
]


@dataclass(frozen=True)
class BoundInput:
    """One input as bound in the user namespace.

    Attributes:
        name: the frames' name, ``"InputImages"`` (one input) or ``"InputImages_k"`` (k = 1..N).
        metadata_name: the metadata's name, ``"Metadata"`` or ``"Metadata_k"``.
        images: the ``spatial_runtime.inputs.InputImages`` bound under ``name``.
        metadata: the ``spatial_runtime.inputs.Metadata`` bound under ``metadata_name``.
    """

    name: str
    metadata_name: str
    images: Any
    metadata: Any


@dataclass(frozen=True)
class Endpoint:
    """An HTTP service the kernel calls: ``url`` (http(s), no trailing slash) and a bearer ``token`` (not in
    the repr)."""

    url: str
    token: str = field(repr=False)

    @staticmethod
    def checked_parts(url: Any, token: Any, what: str) -> tuple[str, str]:
        """``(url without trailing slash, token)`` after checking both.

        Args:
            url: must be a str starting with ``http://`` or ``https://``.
            token: must be a str (it may be empty).
            what: how to name the service in errors (``"bridge"``, ``"perception"``).

        Raises:
            ValueError: ``"<what> url must be an http(s) URL, got ..."`` or ``"<what> token must be a string"``.
        """
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise ValueError(f"{what} url must be an http(s) URL, got {url!r}")
        if not isinstance(token, str):
            raise ValueError(f"{what} token must be a string")
        return url.rstrip("/"), token


@dataclass(frozen=True)
class PerceptionConfig(Endpoint):
    """Where the perception server is: ``url`` (no trailing slash), bearer ``token``, default ``backends``
    (``{"reconstruct": name, "segment": name}``, either may be missing)."""

    backends: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SessionContext:
    """A snapshot of the session's state (see the module docstring)."""

    inputs: tuple[BoundInput, ...] = ()
    perception: PerceptionConfig | None = None
    bridge: Endpoint | None = None

    def input_named(self, name: str) -> BoundInput | None:
        """The bound input whose frames are called ``name`` (e.g. ``"InputImages"``), or None."""
        return next((b for b in self.inputs if b.name == name), None)


_lock = threading.Lock()
_current = SessionContext()


def current() -> SessionContext:
    """The session's state now (an immutable snapshot)."""
    return _current


def update(**changes: Any) -> SessionContext:
    """Replace some fields (``inputs``, ``perception``, ``bridge``) of the state; returns the new snapshot.

    Raises:
        TypeError: an unknown field name.
    """
    global _current
    with _lock:
        _current = dataclasses.replace(_current, **changes)
        return _current


def bind_inputs(inputs: Iterable[BoundInput]) -> None:
    """Record the bound inputs (in order), replacing those of a previous session."""
    update(inputs=tuple(inputs))


def clear() -> None:
    """Forget everything: no inputs, no perception server, no bridge."""
    global _current
    with _lock:
        _current = SessionContext()
