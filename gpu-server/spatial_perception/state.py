"""Everything one perception server owns (backends, job queues, cache, artifact store, decode threads) and the
checks every route shares: the token, the body cap, backend resolution, and artifact lookup.

The app keeps one :class:`ServerState` in ``app.state.perception``; routes get it through a FastAPI dependency.
"""

from __future__ import annotations

import hmac
import logging
import os
import shutil
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from spatial_common.contract import ROUTES
from spatial_common.reconstruct_options import RGB_ONLY_BACKENDS, SEGMENT_ONLY, needs, no_depth_advice
from starlette.requests import Request

from spatial_perception import __version__
from spatial_perception.artifacts import ArtifactStore, check_id, make_private_dir
from spatial_perception.backends import REGISTRY
from spatial_perception.backends.base import Backend, Prompt
from spatial_perception.cache import ArtifactCache, CacheEntry
from spatial_perception.config import ServerConfig, configured_backends
from spatial_perception.errors import (
    BackendUnavailable,
    BadRequest,
    NotFound,
    TooLarge,
    Unauthorized,
    UnknownBackend,
    Unsupported,
)
from spatial_perception.jobs import JobQueues
from spatial_perception.requests import prompt_capability

log = logging.getLogger("spatial_perception")

MB = 1024 * 1024

ARTIFACT_PARENT = "perception-artifacts"
"""Default artifacts live in ``<system temp>/perception-artifacts-<uid>/server-<pid>-<hex>`` (one per server)."""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's (cannot be: the parent folder is ours and private)
        return True
    return True


def default_artifact_dir(tmp: str | os.PathLike[str] | None = None) -> Path:
    """A new artifact folder of this server's own: ``<tmp>/perception-artifacts-<uid>/server-<pid>-<hex>``, the
    parent and the folder private (mode 0700). Folders that servers no longer running left behind (killed before
    they could remove theirs) are removed first.

    Servers used to share ``<tmp>/perception-artifacts`` (world-readable): one served and evicted another's
    artifacts. Give ``--artifact-dir`` to keep a server's artifacts across restarts.
    """
    uid = os.getuid() if hasattr(os, "getuid") else 0
    parent = Path(tmp or tempfile.gettempdir()) / f"{ARTIFACT_PARENT}-{uid}"
    make_private_dir(parent)
    for old in parent.glob("server-*-*"):
        try:
            pid = int(old.name.split("-")[1])
        except (IndexError, ValueError):
            continue
        if pid != os.getpid() and not _pid_alive(pid):
            shutil.rmtree(old, ignore_errors=True)
    return parent / f"server-{os.getpid()}-{uuid.uuid4().hex[:12]}"


ROUTE_VERBS = {"reconstruct": "reconstruct", "segment_image": "segment images", "segment_video": "segment videos"}
"""What a compute route does, for "backend X cannot ..." messages."""
TOKEN_FIX = "send the header 'Authorization: Bearer <token>' with the token the server was started with"


class ServerState:
    """Everything one app instance owns: backends, job queues, cache, artifact store, thread pool.

    Raises:
        ValueError: an empty token or an unknown backend name in ``config.backends``.
    """

    def __init__(self, config: ServerConfig) -> None:
        if not config.token:
            raise ValueError("a token is required (ServerConfig.token)")
        self.config = config
        self._token = config.token.encode()
        self.started = time.monotonic()
        self.max_body = int(config.max_body_mb * MB)
        self.slots = configured_backends(config)
        devices = [s.device for s in self.slots.values() if s.available]
        self.jobs = JobQueues(list(dict.fromkeys(devices)))
        self.cache = ArtifactCache(int(config.cache_mb * MB))
        # A folder of this server's own unless one is given; the default one is removed when the server stops.
        self._owns_artifact_dir = not config.artifact_dir
        root = config.artifact_dir or default_artifact_dir()
        self.store = ArtifactStore(root)
        self.pool = ThreadPoolExecutor(max(1, config.decode_threads), thread_name_prefix="perception-decode")
        self._reindex()

    # ------------------------------------------------------------------ lifecycle

    def _reindex(self) -> None:
        """Put the artifacts already on disk back in the cache (oldest first), deleting what does not fit."""
        restored = 0
        for manifest in self.store.scan():
            record = manifest["record"]
            info = manifest.get("info") or {}
            if record.get("kind") == "masks" and "labels" not in record and isinstance(info.get("labels"), list):
                record["labels"] = info["labels"]  # written before records carried the labels
            entry = CacheEntry(
                id=record["id"],
                key=manifest["cache_key"],
                nbytes=int(manifest["nbytes"]),
                record=record,
                arrays=manifest["arrays"],
                info=info,
            )
            for victim in self.cache.put(entry):
                self.store.delete(victim.id)
            restored += 1
        if restored:
            stats = self.cache.stats()
            log.info("artifact cache: %d restored from %s, %d kept", restored, self.store.root, stats["entries"])

    def begin_shutdown(self) -> None:
        """Stop the job queues: queued jobs fail, running ones get their cancel event set."""
        self.jobs.close()

    def close(self) -> None:
        """Stop the job queues (waiting up to 2 s for their workers) and the decode threads; remove the artifact
        folder when it is the server's default one (:func:`default_artifact_dir`)."""
        self.jobs.close(join_timeout=2.0)
        self.pool.shutdown(wait=False, cancel_futures=True)
        if self._owns_artifact_dir:
            shutil.rmtree(self.store.root, ignore_errors=True)

    # ------------------------------------------------------------------ checks

    def check_token(self, given: str | None) -> None:
        """Compare a bearer token with the server's in constant time (:func:`hmac.compare_digest`).

        Args:
            given: the token of an ``Authorization: Bearer <token>`` header, or None when there was none.

        Raises:
            Unauthorized: no bearer token, or a wrong one (401 with ``WWW-Authenticate: Bearer``).
        """
        if not given:
            raise Unauthorized("missing 'Authorization: Bearer <token>' header", fix=TOKEN_FIX)
        if not hmac.compare_digest(given.strip().encode(), self._token):
            raise Unauthorized("wrong token", fix=TOKEN_FIX)

    async def read_body(self, request: Request) -> bytearray:
        """The request body, refusing more than ``max_body`` bytes (Content-Length first, then streamed).

        Raises:
            TooLarge: over the cap (413; the body is not read when Content-Length already says so).
            BadRequest: a malformed Content-Length.
        """
        limit = self.max_body
        fix = (
            "send fewer or smaller frames (JPEG rather than PNG, lower resolution), or restart the server with "
            "a larger --max-body-mb"
        )
        over = f"over this server's limit of {limit} bytes (--max-body-mb {self.config.max_body_mb:g})"
        declared = request.headers.get("content-length")
        if declared is not None:
            if not declared.strip().isdigit():
                raise BadRequest(f"invalid Content-Length {declared[:40]!r}", fix="send a byte count")
            if int(declared) > limit:
                raise TooLarge(f"the request body is {int(declared)} bytes, {over}", fix=fix)
        buf = bytearray()
        async for chunk in request.stream():
            if len(buf) + len(chunk) > limit:
                raise TooLarge(f"the request body is {over}", fix=fix)
            buf += chunk
        return buf

    def resolve(self, name: str, capability: str) -> Backend:
        """The loaded backend ``name`` that can do ``capability`` (a route: reconstruct/segment_image/...).

        Raises:
            UnknownBackend: not loaded on this server (404). BackendUnavailable: loaded but cannot run (503).
            Unsupported: it lacks the capability (422), naming the loaded backends that have it.
        """
        slot = self.slots.get(name)
        here = ", ".join(self.slots) or "none"
        if slot is None:
            if name in REGISTRY:
                fix = f"use one of: {here}; or restart the server with --backends including {name}"
            else:
                fix = f"use one of: {here} (GET /v1/backends lists them)"
            raise UnknownBackend(f"unknown backend {name!r}; this server has: {here}", fix=fix)
        if not slot.available or slot.backend is None:
            fix = slot.reason or "pick another backend"
            if capability == "reconstruct" and name in RGB_ONLY_BACKENDS:  # another RGB-only backend may be here
                here_rgb = [b for b in self._able(capability) if b in RGB_ONLY_BACKENDS]
                if here_rgb:
                    fix = f"{no_depth_advice(here_rgb)}, available on this server; or make {name!r} available: {fix}"
            raise BackendUnavailable(f"backend {name!r} is not available on this server: {slot.reason}", fix=fix)
        if capability not in slot.capabilities:
            able = self._able(capability)
            route = ROUTES.get(capability)
            verb = f"{ROUTE_VERBS[capability]} ({route['method']} {route['path']})" if route else capability
            if capability == "reconstruct":  # say what each one needs: rgbd alone is a dead end for RGB frames
                raise Unsupported(
                    f"backend {name!r} cannot {verb}"
                    + (f" (it does {SEGMENT_ONLY[name]} only)" if name in SEGMENT_ONLY else "")
                    + "; backends on this server that can: "
                    + ("; ".join(needs(b) for b in able) or "none"),
                    fix=("with depth use backend 'rgbd'; " if "rgbd" in able else "") + no_depth_advice(able),
                )
            raise Unsupported(
                f"backend {name!r} cannot {verb}; backends on this server that can: {', '.join(able) or 'none'}",
                fix=f"use backend {able[0]!r}" if able else "start a server with a backend that can",
            )
        return slot.backend

    def check_prompt(self, name: str, prompt: Prompt) -> None:
        """Raise Unsupported (422) when backend ``name`` lacks the capability the prompt kind needs."""
        cap = prompt_capability(prompt)
        if cap in self.slots[name].capabilities:
            return
        able = self._able(cap)
        listed = ", ".join(able) or "none"
        if cap == "text":
            raise Unsupported(
                f"backend {name!r} does not support text prompts; backends with text support on this server: "
                f"{listed} (sam3 and oracle support text)",
                fix="use a points or box prompt, or a backend with text support"
                + (f" ({able[0]!r})" if able else " (start the server with --backends ...,sam3 or oracle)"),
            )
        raise Unsupported(
            f"backend {name!r} does not support {cap} prompts; backends on this server that do: {listed}",
            fix=f"use another prompt type or backend {able[0]!r}" if able else "use another prompt type",
        )

    def _able(self, capability: str) -> list[str]:
        return [s.name for s in self.slots.values() if s.available and capability in s.capabilities]

    # ------------------------------------------------------------------ views

    def backends_json(self) -> list[dict[str, Any]]:
        """The configured backends as ``/health`` and ``GET /v1/backends`` list them."""
        return [slot.to_json() for slot in self.slots.values()]

    def device(self) -> str:
        """``"cpu"`` when every available backend runs on the CPU, else the accelerators, comma-separated."""
        devices = dict.fromkeys(s.device for s in self.slots.values() if s.available)
        accel = [d for d in devices if d != "cpu"]
        return ",".join(accel) if accel else "cpu"

    def health(self) -> dict[str, Any]:
        """The ``GET /health`` answer (docs/perception-api.md, "Routes")."""
        return {
            "status": "ok",
            "version": __version__,
            "backends": self.backends_json(),
            "device": self.device(),
            "queue": self.jobs.lengths(),
            "cache": self.cache.stats(),
            "uptime_s": round(time.monotonic() - self.started, 3),
        }

    def find(self, artifact_id: str) -> CacheEntry:
        """The cached artifact ``artifact_id`` (marked as used).

        Raises:
            BadRequest: a malformed id. NotFound: evicted or unknown.
        """
        aid = check_id(artifact_id)
        entry = self.cache.lookup(aid)
        if entry is not None:
            return entry
        if self.cache.was_evicted(aid):
            raise NotFound(f"artifact {aid} was evicted from the cache; run the tool again", fix="run the tool again")
        raise NotFound(f"no artifact {aid} on this server", fix="run the tool again (artifacts live on one server)")
