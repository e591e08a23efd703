"""Settings of one perception server, and its configured backends as ``/health`` lists them.

:func:`load_backends` is also what ``python -m spatial_perception --list-backends`` prints, without a server.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import import_module
from typing import Any

from spatial_perception.backends import REGISTRY, load_backend
from spatial_perception.backends.base import Backend

log = logging.getLogger("spatial_perception")


@dataclass
class ServerConfig:
    """Settings of one server (the CLI flags of ``python -m spatial_perception``).

    Attributes:
        token: the bearer token every route but ``/health`` requires (non-empty).
        backends: names to load, from :data:`spatial_perception.backends.REGISTRY` or ``extra_registry``.
        artifact_dir: where artifacts are written, a folder only this user can enter (mode 0700); default a
            folder of its own for each server: ``<system temp>/perception-artifacts-<uid>/<host>-<port>``
            (:func:`spatial_perception.state.default_artifact_dir`), so that servers never serve or evict each
            other's artifacts.
        cache_mb: cache bound in MiB of array bytes; 0 turns cache hits off (the newest artifact is still kept).
        max_body_mb: request body cap in MiB.
        timeout_s: default per-request timeout in seconds (queue wait included); ``params.timeout_s`` overrides.
        max_frames: default ``params.max_frames`` of reconstruct.
        extra_registry: more ``name -> (module, class)`` entries (``--extra-backend NAME=module:Class``), e.g.
            the test suite's diagnostics backends; the module must be importable (``PYTHONPATH``).
        extra_backends: already-built backend instances (in-process tests), listed under their ``name``.
        decode_threads: threads that decode PNG/JPEG frames in parallel.
        max_image_mp: the most megapixels one image of a request may have (checked from its header before
            decoding; 413 ``too_large`` over it); 0 turns the check off.
        max_request_mp: the most megapixels a request's images may have together; 0 turns the check off.
        backend_options: constructor keyword arguments per backend name, e.g.
            ``{"sam3": {"checkpoint": "/models/sam3"}, "oracle": {"root": "/data/gt"}}``.
    """

    token: str
    backends: Sequence[str] = ("rgbd", "classical", "oracle")
    artifact_dir: str | os.PathLike[str] | None = None
    cache_mb: float = 2048
    max_body_mb: float = 512
    timeout_s: float = 600
    max_frames: int = 64
    extra_registry: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    extra_backends: Sequence[Backend] = ()
    decode_threads: int = min(8, os.cpu_count() or 1)
    max_image_mp: float = 50
    max_request_mp: float = 200
    backend_options: Mapping[str, Mapping[str, object]] = field(default_factory=dict)


@dataclass
class BackendSlot:
    """A configured backend as ``/health`` lists it; ``backend`` is None when it failed to load."""

    name: str
    backend: Backend | None
    available: bool
    reason: str | None
    capabilities: list[str]
    device: str
    version: str

    def to_json(self) -> dict[str, Any]:
        """``{"name", "capabilities", "device", "version", "available", "reason"}`` (docs/perception-api.md)."""
        return {
            "name": self.name,
            "capabilities": self.capabilities,
            "device": self.device,
            "version": self.version,
            "available": self.available,
            "reason": self.reason,
        }


def _slot(name: str, backend: Backend) -> BackendSlot:
    try:
        ok, reason = backend.available()
    except Exception as exc:  # a broken availability check must not take the server down
        ok, reason = False, f"its availability check failed: {type(exc).__name__}: {exc}"
    return BackendSlot(
        name=name,
        backend=backend,
        available=bool(ok),
        reason=None if ok else (reason or "the backend reports that it cannot run here"),
        capabilities=sorted(backend.capabilities),
        device=str(backend.device),
        version=str(backend.version),
    )


def _failed_slot(name: str, exc: Exception) -> BackendSlot:
    log.warning("backend %s failed to load: %s: %s", name, type(exc).__name__, exc)
    return BackendSlot(
        name=name,
        backend=None,
        available=False,
        reason=f"failed to load ({type(exc).__name__}: {exc}); install its dependencies "
        "(gpu-server/requirements-gpu.txt for da3/sam3) and restart the server",
        capabilities=[],
        device="unknown",
        version="unknown",
    )


def load_backends(
    names: Iterable[str],
    extra_registry: Mapping[str, tuple[str, str]] | None = None,
    backend_options: Mapping[str, Mapping[str, object]] | None = None,
    extra_backends: Sequence[Backend] = (),
) -> dict[str, BackendSlot]:
    """Build the slots of ``names`` (in order, duplicates once) and of ``extra_backends``.

    Args:
        names: backend names from :data:`~spatial_perception.backends.REGISTRY` or ``extra_registry``.
        extra_registry: ``name -> (module, class)`` of backends outside the registry (built without options).
        backend_options: constructor keyword arguments per registry backend.
        extra_backends: already-built instances, listed under their ``name``.

    A backend that fails to import or construct is kept with ``available: false`` and the error as reason.

    Raises:
        ValueError: a name that is in neither registry (a configuration error: the server does not start).
    """
    extra_registry = extra_registry or {}
    backend_options = backend_options or {}
    slots: dict[str, BackendSlot] = {}
    for name in dict.fromkeys(names):
        if name not in REGISTRY and name not in extra_registry:
            raise ValueError(f"unknown backend {name!r} in --backends; known backends: {', '.join(sorted(REGISTRY))}")
        try:
            if name in extra_registry:
                module, cls = extra_registry[name]
                backend = getattr(import_module(module), cls)()
            else:
                backend = load_backend(name, **dict(backend_options.get(name, {})))
        except Exception as exc:  # ImportError, missing weights, ...: report, do not crash
            slots[name] = _failed_slot(name, exc)
            continue
        slots[name] = _slot(name, backend)
    for backend in extra_backends:
        slots[backend.name] = _slot(backend.name, backend)
    for slot in slots.values():
        if slot.available:
            log.info("backend %s %s on %s: %s", slot.name, slot.version, slot.device, ", ".join(slot.capabilities))
        else:
            log.warning("backend %s is not available: %s", slot.name, slot.reason)
    return slots


def configured_backends(config: ServerConfig) -> dict[str, BackendSlot]:
    """The slots of a server's configuration (:func:`load_backends` of its fields)."""
    return load_backends(config.backends, config.extra_registry, config.backend_options, config.extra_backends)
