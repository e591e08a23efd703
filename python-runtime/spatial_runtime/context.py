"""The session's state as data: what ``session.prepare`` bound and configured, read by the tools.

One immutable :class:`SessionContext` per kernel holds

* ``inputs``: the bound inputs, in order (:class:`BoundInput`: the names ``InputImages``/``Metadata`` or
  ``InputImages_k``/``Metadata_k`` and the two objects);
* ``perception``: where the perception server is (:class:`PerceptionConfig`: URL, bearer token, default
  backends), or None;
* ``bridge``: where the host's VLM bridge is (:class:`Endpoint`: URL, bearer token), or None;
* ``profile``: the kernel half of the agent profile (:class:`KernelProfile`, PrepareConfig.profile), the
  ``default`` profile unless the session asked for another.

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
    "KernelProfile",
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
            url: must be a str starting with ``http://`` or ``https://``, or ``http+unix://<%-quoted socket path>``
                (a sandboxed kernel reaches the host's bridge over a Unix socket; docs/security.md).
            token: must be a str (it may be empty).
            what: how to name the service in errors (``"bridge"``, ``"perception"``).

        Raises:
            ValueError: ``"<what> url must be an http(s) URL, got ..."`` or ``"<what> token must be a string"``.
        """
        if not isinstance(url, str) or not url.startswith(("http://", "https://", "http+unix://")):
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
class KernelProfile:
    """The options of the agent profile the kernel applies (PrepareConfig.profile, ``KernelProfile`` in
    shared/profiles.ts; docs/paper-parity.md). The defaults are the ``default`` profile's.

    Attributes:
        name: ``"default"`` or ``"paper"``.
        variable_values: variable summaries show the values of small variables.
        centroid_3d: ``"mean"`` or ``"median_confident"`` (``PerFrameMask.get_centroid_3d``).
        vlm: ``"default"`` or ``"paper"`` (the ``vlm`` calls).
        sam3_video: ``"sampled"`` (``tools.SAM3`` video calls on the bound frames) or ``"source"`` (the paper's
            ``tools.SAM3``: video calls on the source video).
        reconstruct_extras: ``tools.Reconstruct`` adds the paper's extras (``render_bev``, ``metric_scale``,
            ``.points.points``, gravity from a segmented floor).
        timeout_reset: the host clears the namespace after a cell timeout (``session.reset_namespace``).
    """

    name: str = "default"
    variable_values: bool = True
    centroid_3d: str = "mean"
    vlm: str = "default"
    sam3_video: str = "sampled"
    reconstruct_extras: bool = False
    timeout_reset: bool = False

    @classmethod
    def from_config(cls, profile: Any) -> KernelProfile:
        """The profile of a PrepareConfig's ``profile`` map (None: the default profile; missing keys: defaults)."""
        if profile is None:
            return cls()
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in dict(profile).items() if k in known})

    @classmethod
    def named(cls, name: str) -> KernelProfile:
        """The kernel options of a named profile (shared/profiles.ts ``PROFILES[name].kernel``, generated into
        ``spatial_common.contract.KERNEL_PROFILES``), for callers without a PrepareConfig
        (``python -m spatial_runtime.apidoc --profile``).

        Raises:
            ValueError: an unknown name.
        """
        from spatial_common.contract import KERNEL_PROFILES

        if name not in KERNEL_PROFILES:
            raise ValueError(f"unknown profile {name!r}; use one of {', '.join(map(repr, KERNEL_PROFILES))}")
        return cls.from_config(KERNEL_PROFILES[name])


@dataclass(frozen=True)
class SessionContext:
    """A snapshot of the session's state (see the module docstring)."""

    inputs: tuple[BoundInput, ...] = ()
    perception: PerceptionConfig | None = None
    bridge: Endpoint | None = None
    profile: KernelProfile = KernelProfile()

    def input_named(self, name: str) -> BoundInput | None:
        """The bound input whose frames are called ``name`` (e.g. ``"InputImages"``), or None."""
        return next((b for b in self.inputs if b.name == name), None)


_lock = threading.Lock()
_current = SessionContext()


def current() -> SessionContext:
    """The session's state now (an immutable snapshot)."""
    return _current


def update(**changes: Any) -> SessionContext:
    """Replace some fields (``inputs``, ``perception``, ``bridge``, ``profile``) of the state; returns the new snapshot.

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
    """Forget everything: no inputs, no perception server, no bridge, the default profile."""
    global _current
    with _lock:
        _current = SessionContext()
