"""The perception server's FastAPI app (docs/perception-api.md is the contract).

:func:`create_app` loads the configured backends, re-indexes the artifacts already on disk and returns the
app. A compute request goes through these steps:

1. auth (``Authorization: Bearer``, :func:`hmac.compare_digest`), then the body, capped at ``max_body_mb``
   (Content-Length first, then while streaming) -> 401 / 413;
2. msgpack decoding and the backend checks: unknown name (404), unavailable (503), capability (422);
3. structural validation (:mod:`spatial_perception.transport`) and the cache lookup (a hit skips decoding);
4. decoding and full validation on worker threads, then the per-device job queue (:mod:`.jobs`);
5. result checks, ``.npy`` encoding, the artifact store and the cache, then the msgpack response.

Errors are JSON ``{"error", "code", "fix"}``; unexpected exceptions become 500 ``backend_error`` with the
exception's type and message (the traceback goes to the log on stderr, never into the body).
"""

from __future__ import annotations

import asyncio
import functools
import hmac
import logging
import os
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import import_module
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from spatial_perception import __version__, transport
from spatial_perception.artifacts import ArtifactStore, check_id, new_id
from spatial_perception.backends import REGISTRY, load_backend
from spatial_perception.backends.base import Backend
from spatial_perception.cache import ArtifactCache, CacheEntry, cache_key
from spatial_perception.errors import (
    BackendUnavailable,
    BadRequest,
    NotFound,
    PerceptionError,
    TooLarge,
    Unauthorized,
    UnknownBackend,
    Unsupported,
)
from spatial_perception.jobs import JobQueues

log = logging.getLogger("spatial_perception")

MB = 1024 * 1024
ROUTE_VERBS = {
    "reconstruct": "reconstruct (POST /v1/reconstruct)",
    "segment_image": "segment images (POST /v1/segment/image)",
    "segment_video": "segment videos (POST /v1/segment/video)",
}
TEXT_BACKENDS = ("sam3", "oracle")
"""Backends of this project that take text prompts (named in the error for a text prompt elsewhere)."""


@dataclass
class ServerConfig:
    """Settings of one server (the CLI flags of ``python -m spatial_perception``).

    Attributes:
        token: the bearer token every route but ``/health`` requires (non-empty).
        backends: names to load, from :data:`spatial_perception.backends.REGISTRY` or ``extra_registry``.
        artifact_dir: where artifacts are written; default ``<system temp>/perception-artifacts``.
        cache_mb: cache bound in MiB of array bytes; 0 turns cache hits off (the newest artifact is still kept).
        max_body_mb: request body cap in MiB.
        timeout_s: default per-request timeout in seconds (queue wait included); ``params.timeout_s`` overrides.
        max_frames: default ``params.max_frames`` of reconstruct.
        extra_registry: more ``name -> (module, class)`` entries, e.g. the ``echo`` diagnostics backend.
        extra_backends: already-built backend instances (in-process tests), listed under their ``name``.
        decode_threads: threads that decode PNG/JPEG frames in parallel.
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


def load_backends(config: ServerConfig) -> dict[str, BackendSlot]:
    """Build the slots of ``config.backends`` (in order) and ``config.extra_backends``.

    A backend that fails to import or construct is kept with ``available: false`` and the error as reason.

    Raises:
        ValueError: a name that is in neither registry (a configuration error: the server does not start).
    """
    slots: dict[str, BackendSlot] = {}
    known = sorted(REGISTRY)
    for name in dict.fromkeys(config.backends):
        if name not in REGISTRY and name not in config.extra_registry:
            raise ValueError(f"unknown backend {name!r} in --backends; known backends: {', '.join(known)}")
        try:
            if name in config.extra_registry:
                module, cls = config.extra_registry[name]
                backend = getattr(import_module(module), cls)()
            else:
                backend = load_backend(name, **dict(config.backend_options.get(name, {})))
        except Exception as exc:  # ImportError, missing weights, ...: report, do not crash
            log.warning("backend %s failed to load: %s: %s", name, type(exc).__name__, exc)
            slots[name] = BackendSlot(
                name=name,
                backend=None,
                available=False,
                reason=f"failed to load ({type(exc).__name__}: {exc}); install its dependencies "
                "(gpu-server/requirements-gpu.txt for da3/sam3) and restart the server",
                capabilities=[],
                device="unknown",
                version="unknown",
            )
            continue
        slots[name] = _slot(name, backend)
    for backend in config.extra_backends:
        slots[backend.name] = _slot(backend.name, backend)
    for slot in slots.values():
        if slot.available:
            log.info("backend %s %s on %s: %s", slot.name, slot.version, slot.device, ", ".join(slot.capabilities))
        else:
            log.warning("backend %s is not available: %s", slot.name, slot.reason)
    return slots


def error_response(exc: PerceptionError, headers: Mapping[str, str] | None = None) -> JSONResponse:
    """The JSON error ``{"error", "code", "fix"}`` of a PerceptionError, with its HTTP status."""
    return JSONResponse(exc.to_json(), status_code=exc.status, headers=dict(headers or {}))


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _info(raw: Any) -> dict[str, Any]:
    """A backend's ``info`` as a plain map (anything but a map is kept under ``"value"``)."""
    info = transport.to_plain(raw)
    if info is None:
        return {}
    return info if isinstance(info, dict) else {"value": info}


def _guard(handler: Callable[..., Awaitable[Response]]) -> Callable[..., Awaitable[Response]]:
    """Turn exceptions of a route into JSON errors (PerceptionError -> its status, others -> 500)."""

    @functools.wraps(handler)
    async def wrapper(*args: Any, **kwargs: Any) -> Response:
        try:
            return await handler(*args, **kwargs)
        except TooLarge as exc:
            return error_response(exc, {"Connection": "close"})
        except Unauthorized as exc:
            return error_response(exc, {"WWW-Authenticate": "Bearer"})
        except PerceptionError as exc:
            if exc.status >= 500:
                log.warning("%s: %s", exc.code, exc.message)
            return error_response(exc)
        except ClientDisconnect:
            return Response(status_code=499)
        except Exception as exc:
            log.exception("unexpected error in %s", handler.__name__)
            return JSONResponse(
                {"error": f"{type(exc).__name__}: {exc}", "code": "backend_error", "fix": None}, status_code=500
            )

    return wrapper


async def _client_gone(receive: Callable[[], Awaitable[dict[str, Any]]]) -> None:
    """Finish when the ASGI server reports ``http.disconnect`` (call only after the body was read)."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return


class ServerState:
    """Everything one app instance owns: backends, job queues, cache, artifact store, thread pool."""

    def __init__(self, config: ServerConfig) -> None:
        if not config.token:
            raise ValueError("a token is required (ServerConfig.token)")
        self.config = config
        self._token = config.token.encode()
        self.started = time.monotonic()
        self.max_body = int(config.max_body_mb * MB)
        self.slots = load_backends(config)
        devices = [s.device for s in self.slots.values() if s.available]
        self.jobs = JobQueues(list(dict.fromkeys(devices)))
        self.cache = ArtifactCache(int(config.cache_mb * MB))
        root = config.artifact_dir or Path(tempfile.gettempdir()) / "perception-artifacts"
        self.store = ArtifactStore(root)
        self.pool = ThreadPoolExecutor(max(1, config.decode_threads), thread_name_prefix="perception-decode")
        self._reindex()

    # ------------------------------------------------------------------ lifecycle

    def _reindex(self) -> None:
        """Put the artifacts already on disk back in the cache (oldest first), deleting what does not fit."""
        restored = 0
        for manifest in self.store.scan():
            record = manifest["record"]
            entry = CacheEntry(
                id=record["id"],
                key=manifest["cache_key"],
                nbytes=int(manifest["nbytes"]),
                record=record,
                arrays=manifest["arrays"],
                info=manifest.get("info") or {},
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
        self.jobs.close(join_timeout=2.0)
        self.pool.shutdown(wait=False, cancel_futures=True)

    # ------------------------------------------------------------------ checks

    def check_auth(self, request: Request) -> None:
        header = request.headers.get("authorization", "")
        scheme, _, given = header.partition(" ")
        fix = "send the header 'Authorization: Bearer <token>' with the token the server was started with"
        if scheme.lower() != "bearer" or not given:
            raise Unauthorized("missing 'Authorization: Bearer <token>' header", fix=fix)
        if not hmac.compare_digest(given.strip().encode(), self._token):
            raise Unauthorized("wrong token", fix=fix)

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
        declared = request.headers.get("content-length")
        if declared is not None:
            if not declared.strip().isdigit():
                raise BadRequest(f"invalid Content-Length {declared[:40]!r}", fix="send a byte count")
            if int(declared) > limit:
                raise TooLarge(
                    f"the request body is {int(declared)} bytes, over this server's limit of {limit} bytes "
                    f"(--max-body-mb {self.config.max_body_mb:g})",
                    fix=fix,
                )
        buf = bytearray()
        async for chunk in request.stream():
            if len(buf) + len(chunk) > limit:
                raise TooLarge(
                    f"the request body is over this server's limit of {limit} bytes "
                    f"(--max-body-mb {self.config.max_body_mb:g})",
                    fix=fix,
                )
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
            raise BackendUnavailable(
                f"backend {name!r} is not available on this server: {slot.reason}",
                fix=slot.reason or "pick another backend",
            )
        if capability not in slot.capabilities:
            able = self._able(capability)
            raise Unsupported(
                f"backend {name!r} cannot {ROUTE_VERBS.get(capability, capability)}; "
                f"backends on this server that can: {', '.join(able) or 'none'}",
                fix=f"use backend {able[0]!r}" if able else "start a server with a backend that can",
            )
        return slot.backend

    def check_prompt(self, name: str, prompt: transport.Prompt) -> None:
        """Raise Unsupported (422) when backend ``name`` lacks the capability the prompt kind needs."""
        cap = transport.prompt_capability(prompt)
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
        return [slot.to_json() for slot in self.slots.values()]

    def device(self) -> str:
        """``"cpu"`` when every available backend runs on the CPU, else the accelerators, comma-separated."""
        devices = dict.fromkeys(s.device for s in self.slots.values() if s.available)
        accel = [d for d in devices if d != "cpu"]
        return ",".join(accel) if accel else "cpu"

    def health(self) -> dict[str, Any]:
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

    # ------------------------------------------------------------------ compute

    async def compute(
        self, request: Request, route: str, parse: Callable[[Mapping[str, Any]], transport.Call]
    ) -> Response:
        """Run one compute route (``route`` = the capability/backend method) end to end (see the module docstring)."""
        self.check_auth(request)
        t0 = time.perf_counter()
        body = await self.read_body(request)
        msg = await asyncio.to_thread(transport.unpack_body, body, request.headers.get("content-type"))
        del body
        t_read = time.perf_counter()
        name = transport.backend_name(msg)
        backend = self.resolve(name, route)
        call = parse(msg)
        returns = _parse_return(msg.get("return"), call.route)
        if call.prompt is not None:
            self.check_prompt(name, call.prompt)
        params_json = transport.canonical_json(call.params)
        key = await asyncio.to_thread(cache_key, call.route, name, str(backend.version), params_json, call.inputs())
        entry = self.cache.get(key)
        if entry is not None:
            try:
                names = [n for n in entry.arrays if returns is None or n in returns]
                stored = await asyncio.to_thread(self.store.read_arrays, entry.id, names)
            except FileNotFoundError:
                log.warning("artifact %s vanished from %s; computing again", entry.id, self.store.root)
                self.cache.discard(entry.id)
            else:
                server_ms = (time.perf_counter() - t0) * 1000
                return self._respond(entry, {n: [b] for n, b in stored.items()}, "hit", 0.0, 0.0, server_ms)
        t_key = time.perf_counter()
        req = await asyncio.to_thread(call.decode, self.pool)
        call.release()
        del msg
        t_decode = time.perf_counter()
        label = f"{call.route} ({name})"
        timeout = call.timeout_s if call.timeout_s is not None else float(self.config.timeout_s)
        method = getattr(backend, call.route)
        outcome = await self.jobs.run(
            str(backend.device),
            functools.partial(method, req),
            timeout,
            _client_gone(request.receive),
            label,
        )
        t_job = time.perf_counter()
        entry, npy = await asyncio.to_thread(self._store_result, call, req, name, key, outcome.result)
        t_store = time.perf_counter()
        log.info(
            "%s: %s; ms: read %.0f, key %.0f, decode %.0f, queue %.0f, compute %.0f, job total %.0f, store %.0f",
            label,
            entry.record["summary"],
            (t_read - t0) * 1000,
            (t_key - t_read) * 1000,
            (t_decode - t_key) * 1000,
            outcome.queue_ms,
            outcome.compute_ms,
            (t_job - t_decode) * 1000,
            (t_store - t_job) * 1000,
        )
        if returns is not None:
            npy = {n: parts for n, parts in npy.items() if n in returns}
        server_ms = (time.perf_counter() - t0) * 1000
        return self._respond(entry, npy, "miss", outcome.compute_ms, outcome.queue_ms, server_ms)

    def _store_result(
        self, call: transport.Call, req: Any, name: str, key: str, result: Any
    ) -> tuple[CacheEntry, dict[str, list[transport.Buffer]]]:
        """Check a backend result, write it as an artifact, cache it; returns the entry and the ``.npy`` parts."""
        if call.route == "reconstruct":
            arrays = transport.check_reconstruction(name, result, len(req.frames))
            # Which pixels have a 3D point: lets clients lift points themselves (see "return").
            arrays["valid"] = np.isfinite(arrays["points"]).all(axis=-1)
            info = _info(result.info)
            kind, summary = "reconstruction", self._reconstruct_summary(name, call, arrays, info)
        else:
            frames = 1 if call.route == "segment_image" else None
            arrays = transport.check_masks(name, result, frames)
            info = _info(result.info)
            info["labels"] = [str(label) for label in result.labels]
            kind, summary = "masks", self._mask_summary(name, call, arrays, info["labels"])
        aid = new_id()
        record = {
            "id": aid,
            "kind": kind,
            "backend": name,
            "created": datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "frame_indices": [int(i) for i in arrays["frame_indices"]],
            "shapes": {n: list(a.shape) for n, a in arrays.items()},
            "summary": summary,
            "params": call.params,
        }
        npy = {n: list(transport.npy_parts(a)) for n, a in arrays.items()}
        meta = transport.npy_meta(arrays)
        nbytes = int(sum(a.nbytes for a in arrays.values()))
        manifest = {"record": record, "arrays": meta, "info": info, "cache_key": key, "nbytes": nbytes}
        self.store.write(aid, manifest, npy)
        entry = CacheEntry(id=aid, key=key, nbytes=nbytes, record=record, arrays=meta, info=info)
        for victim in self.cache.put(entry):
            self.store.delete(victim.id)
        return entry, npy

    @staticmethod
    def _reconstruct_summary(name: str, call: transport.Call, arrays: dict[str, np.ndarray], info: dict) -> str:
        n, h, w = arrays["depth"].shape
        method = info.get("alignment", {}).get("method") if isinstance(info.get("alignment"), dict) else None
        if not call.params.get("align_gravity", True):
            align = "not aligned to gravity"
        elif method:
            align = f"aligned to gravity: {method}"
        else:
            align = "gravity alignment not reported"
        return f"reconstruction of {_plural(n, 'frame')} {w}x{h} ({name}, {align})"

    @staticmethod
    def _mask_summary(name: str, call: transport.Call, arrays: dict[str, np.ndarray], labels: list[str]) -> str:
        t, k, h, w = arrays["masks"].shape
        prompt = transport.describe_prompt(call.prompt)
        if call.route == "segment_image":
            where = f"in 1 image {w}x{h}"
        else:
            where = f"over {_plural(t, 'frame')} {w}x{h}"
            prompt += f" on frame {call.prompt_frame_index}"
        text = f"{_plural(k, 'mask')} {where} ({name}, {prompt})"
        if labels:
            counts = Counter(labels)
            shown = [label if c == 1 else f"{label} x{c}" for label, c in counts.most_common(6)]
            text += "; " + ", ".join(shown) + (", ..." if len(counts) > 6 else "")
        return text

    @staticmethod
    def _respond(
        entry: CacheEntry,
        npy: dict[str, list[transport.Buffer]],
        cache: str,
        compute_ms: float,
        queue_ms: float,
        server_ms: float,
    ) -> Response:
        """The msgpack response of a compute route, streamed chunk by chunk (array data is never joined)."""
        fields = {
            "artifact": entry.record,
            "info": entry.info,
            "cache": cache,
            "compute_ms": float(compute_ms),
            "queue_ms": float(queue_ms),
            "server_ms": float(server_ms),
        }
        chunks = transport.pack_with_arrays(fields, npy)
        size = sum(len(c) for c in chunks)

        async def body() -> AsyncIterator[transport.Buffer]:
            for chunk in chunks:
                yield chunk

        return StreamingResponse(body(), media_type="application/msgpack", headers={"Content-Length": str(size)})


RETURNABLE = {
    "reconstruct": frozenset(
        {"depth", "confidence", "points", "extrinsics", "intrinsics", "frame_indices", "colors", "valid"}
    ),
    "segment_image": frozenset({"masks", "scores", "frame_indices"}),
    "segment_video": frozenset({"masks", "scores", "frame_indices"}),
}


def _parse_return(value: Any, route: str) -> frozenset[str] | None:
    """The optional ``return`` field: which arrays to send back (all are stored in the artifact either way).

    Raises:
        BadRequest: not a list of known array names for this route.
    """
    if value is None:
        return None
    allowed = RETURNABLE[route]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BadRequest("'return' must be a list of array names", fix=f"use names from {sorted(allowed)}")
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise BadRequest(f"'return' names unknown arrays {unknown}", fix=f"use names from {sorted(allowed)}")
    return frozenset(value)


def _file_chunks(f: Any, chunk: int = MB) -> Iterator[bytes]:
    with f:
        while data := f.read(chunk):
            yield data


def create_app(config: ServerConfig) -> FastAPI:
    """Build the app: load backends, open the artifact store, register the routes of docs/perception-api.md.

    The returned app's ``app.state.perception`` is its :class:`ServerState`.

    Raises:
        ValueError: an empty token or an unknown backend name in ``config.backends``.
    """
    state = ServerState(config)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> Any:
        try:
            yield
        finally:
            state.close()

    app = FastAPI(
        title="spatial_perception",
        version=__version__,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
    )
    app.state.perception = state

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {401: "unauthorized", 404: "not_found", 413: "too_large"}.get(exc.status_code, "bad_request")
        fix = "see docs/perception-api.md for the routes" if exc.status_code in (404, 405) else None
        return JSONResponse({"error": str(exc.detail), "code": code, "fix": fix}, status_code=exc.status_code)

    @app.get("/health")
    @_guard
    async def health() -> Response:
        return JSONResponse(state.health())

    @app.get("/v1/backends")
    @_guard
    async def backends(request: Request) -> Response:
        state.check_auth(request)
        return JSONResponse(state.backends_json())

    @app.post("/v1/reconstruct")
    @_guard
    async def reconstruct(request: Request) -> Response:
        return await state.compute(
            request, "reconstruct", lambda msg: transport.parse_reconstruct(msg, config.max_frames)
        )

    @app.post("/v1/segment/image")
    @_guard
    async def segment_image(request: Request) -> Response:
        return await state.compute(request, "segment_image", transport.parse_segment_image)

    @app.post("/v1/segment/video")
    @_guard
    async def segment_video(request: Request) -> Response:
        return await state.compute(request, "segment_video", transport.parse_segment_video)

    @app.get("/v1/artifacts/{artifact_id}")
    @_guard
    async def artifact(request: Request, artifact_id: str) -> Response:
        state.check_auth(request)
        entry = state.find(artifact_id)
        return JSONResponse({**entry.record, "arrays": entry.arrays})

    @app.get("/v1/artifacts/{artifact_id}/{name}.npy")
    @_guard
    async def artifact_array(request: Request, artifact_id: str, name: str) -> Response:
        state.check_auth(request)
        entry = state.find(artifact_id)
        f = state.store.open_array(entry.id, name, entry.arrays)
        size = os.fstat(f.fileno()).st_size
        return StreamingResponse(
            _file_chunks(f),
            media_type="application/octet-stream",
            headers={"Content-Length": str(size), "Content-Disposition": f'attachment; filename="{name}.npy"'},
        )

    return app
