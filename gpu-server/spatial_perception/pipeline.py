"""The compute pipeline of ``POST /v1/reconstruct``, ``/v1/segment/image`` and ``/v1/segment/video``.

One request goes through these steps (the token was already checked by the route's dependency):

1. the body, capped at ``max_body_mb`` (Content-Length first, then while streaming) -> 413;
2. msgpack decoding and the backend checks: unknown name (404), unavailable (503), capability (422);
3. structural validation (:mod:`spatial_perception.requests`) and the cache lookup (a hit skips decoding);
   an identical request already computing (same cache key) is joined instead (single-flight, below);
4. decoding and full validation on worker threads, then the per-device job queue (:mod:`spatial_perception.jobs`);
5. result checks (:mod:`spatial_perception.validation`), ``.npy`` encoding, the artifact store and the cache,
   then the msgpack answer, streamed without joining the array data.

Single-flight: the first request with a cache key registers a flight (:class:`~spatial_perception.cache.Flights`)
before its first ``await`` after the miss; identical requests that arrive while it computes wait for that flight
instead of queueing the same job. A waiter answers with the computing request's artifact and arrays as
``"cache": "hit"`` (``compute_ms`` 0, ``queue_ms`` the time it waited) and counts as a cache hit. It keeps its own
timeout (``params.timeout_s`` or ``--timeout-s``, from the moment it starts waiting) and its own client: running
out of time gives it 504 ``timeout``, a disconnect 499, and neither touches the computation. When the computation
fails:

- because of that request (its time ran out, its client disconnected, or its handler was cancelled): the job
  says nothing about the inputs, so each waiter looks again: it joins a newer flight or computes itself, within
  what is left of its own timeout;
- any other way (a bad input found while decoding, the backend's error, a result that breaks the contract, the
  server shutting down): every waiter answers with the same error, as computing the same inputs again would.

With ``--cache-mb 0`` (no cache hits) there is no single-flight either: every request computes.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

from fastapi import Request
from fastapi.responses import Response, StreamingResponse
from spatial_common.contract import ROUTES, ContractError, validate

from spatial_perception import codec
from spatial_perception.artifacts import new_id
from spatial_perception.cache import CacheEntry, cache_key
from spatial_perception.errors import BackendResultError, Cancelled, Timeout
from spatial_perception.jobs import Outcome
from spatial_perception.records import info_map, make_record, mask_summary, reconstruct_summary
from spatial_perception.requests import Call, backend_name, parse_return
from spatial_perception.state import ServerState
from spatial_perception.validation import add_server_arrays, check_masks, check_reconstruction, npy_meta

log = logging.getLogger("spatial_perception")

Parts = dict[str, list[codec.Buffer]]
"""``{array name: [.npy parts]}`` (header and data, or the bytes of a stored file)."""


async def _client_gone(receive: Callable[[], Awaitable[dict[str, Any]]]) -> None:
    """Finish when the ASGI server reports ``http.disconnect`` (call only after the body was read)."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return


async def compute(
    state: ServerState, request: Request, route: str, parse: Callable[[Mapping[str, Any]], Call]
) -> Response:
    """Run one compute route (``route``: a key of :data:`~spatial_perception.requests.ROUTES`) end to end.

    Raises:
        PerceptionError: any problem of the request or the backend (the app answers it as JSON).
    """
    t0 = time.perf_counter()
    body = await state.read_body(request)
    msg = await asyncio.to_thread(codec.unpack_body, body, request.headers.get("content-type"))
    del body
    t_read = time.perf_counter()
    name = backend_name(msg)
    backend = state.resolve(name, route)
    call = parse(msg)
    returns = parse_return(msg.get("return"), call.route)
    del msg  # the call holds the inputs until they are decoded
    if call.prompt is not None:
        state.check_prompt(name, call.prompt)
    params_json = codec.canonical_json(call.params)
    key = await asyncio.to_thread(cache_key, call.route, name, str(backend.version), params_json, call.inputs())
    label = f"{call.route} ({name})"
    timeout = call.timeout_s if call.timeout_s is not None else float(state.config.timeout_s)
    deadline = time.monotonic() + timeout  # a request that waits for an identical one keeps its own timeout
    flights = state.cache.flights if state.cache.max_bytes > 0 else None
    waited = False
    look_up = True
    while True:
        flight = flights.get(key) if flights is not None else None
        if flight is not None:
            waited = True
            t_wait = time.perf_counter()
            joined = await _join(flight, request, label, deadline, timeout)
            if joined is None:
                continue  # that computation was given up for its own request's sake: look again
            entry, npy = joined
            state.cache.joined(entry.id)
            t_end = time.perf_counter()
            log.info("%s: joined an identical request's computation; waited %.0f ms", label, (t_end - t_wait) * 1000)
            return respond(entry, _pick(npy, returns), "hit", 0.0, (t_end - t_wait) * 1000, (t_end - t0) * 1000)
        entry = state.cache.get(key) if look_up else None
        if entry is None:
            break
        try:
            names = [n for n in entry.arrays if returns is None or n in returns]
            stored = await asyncio.to_thread(state.store.read_arrays, entry.id, names)
        except FileNotFoundError:
            log.warning("artifact %s vanished from %s; computing again", entry.id, state.store.root)
            state.cache.discard(entry.id)
            look_up = False  # counted as a hit already; an identical request may have started computing meanwhile
        else:
            server_ms = (time.perf_counter() - t0) * 1000
            return respond(entry, {n: [b] for n, b in stored.items()}, "hit", 0.0, 0.0, server_ms)
    if waited:  # computing after a given-up computation: only what is left of this request's time
        left = deadline - time.monotonic()
        if left <= 0:
            raise _wait_timeout(label, timeout)
        timeout = left
    # No await between the miss above and the registration: identical requests from here on join this flight.
    flight = flights.begin(key) if flights is not None else None
    try:
        entry, npy, outcome = await _compute(state, request, call, backend, name, key, label, timeout, (t0, t_read))
    except BaseException as exc:
        if flights is not None and flight is not None:
            flights.finish(key, flight, error=_for_waiters(exc, label))
        raise
    if flights is not None and flight is not None:
        flights.finish(key, flight, (entry, npy))
    server_ms = (time.perf_counter() - t0) * 1000
    return respond(entry, _pick(npy, returns), "miss", outcome.compute_ms, outcome.queue_ms, server_ms)


async def _compute(
    state: ServerState,
    request: Request,
    call: Call,
    backend: Any,
    name: str,
    key: str,
    label: str,
    timeout: float,
    started: tuple[float, float],
) -> tuple[CacheEntry, Parts, Outcome[Any]]:
    """Decode the call, run the backend on its device queue, store and cache the result (steps 4 and 5);
    ``started``: the :func:`time.perf_counter` times the request arrived and its body was read (for the log).

    Returns:
        The cache entry, every array's ``.npy`` parts, and the job's outcome (queue and compute times).
    """
    t0, t_read = started
    t_key = time.perf_counter()
    # Pixel limits from the image headers, before any pixel is decoded (a 249 KB PNG can hold 256 megapixels).
    codec.check_pixels(call.images(), state.config.max_image_mp, state.config.max_request_mp)
    req = await asyncio.to_thread(call.decode, state.pool)
    call.release()
    t_decode = time.perf_counter()
    method = getattr(backend, call.route)
    outcome = await state.jobs.run(
        str(backend.device), functools.partial(method, req), timeout, _client_gone(request.receive), label
    )
    t_job = time.perf_counter()
    entry, npy = await asyncio.to_thread(store_result, state, call, req, name, key, outcome.result)
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
    return entry, npy, outcome


def _pick(npy: Parts, returns: frozenset[str] | None) -> Parts:
    """The arrays a request asked for (``"return"``), or all of them."""
    return npy if returns is None else {n: parts for n, parts in npy.items() if n in returns}


def _wait_timeout(label: str, timeout: float) -> Timeout:
    return Timeout(
        f"{label} did not finish within {timeout:g} s: it waited for an identical request that was computing the "
        "same result, and that was not done in time",
        fix="raise params.timeout_s (or the server's --timeout-s), or send fewer or smaller frames",
    )


def _for_waiters(exc: BaseException, label: str) -> BaseException:
    """What the requests waiting on a failed computation get (module docstring): its own Timeout or Cancelled
    (they look again), Cancelled for a cancelled handler, anything else as it is (they answer with it)."""
    if isinstance(exc, Exception):
        return exc
    return Cancelled(f"the request computing {label} was stopped ({type(exc).__name__})", fix=None)


async def _join(
    flight: asyncio.Future[Any], request: Request, label: str, deadline: float, timeout: float
) -> tuple[CacheEntry, Parts] | None:
    """Wait for an identical request's computation (single-flight), within this request's own time and while its
    client is connected.

    Returns:
        The computation's cache entry and ``.npy`` parts, or None when it was given up for its own request's
        sake (:class:`Timeout` or :class:`Cancelled`): the caller looks again.

    Raises:
        Timeout: this request's time ran out first. Cancelled: this request's client disconnected.
        Exception: the computation's error (the same inputs would fail the same way).
    """
    left = deadline - time.monotonic()
    if left <= 0:
        raise _wait_timeout(label, timeout)
    watcher = asyncio.ensure_future(_client_gone(request.receive))
    try:
        # asyncio.wait never cancels the flight: other requests may be waiting for it too.
        done, _ = await asyncio.wait({flight, watcher}, timeout=left, return_when=asyncio.FIRST_COMPLETED)
    finally:
        if not watcher.done():
            watcher.cancel()
    if flight in done:
        error = flight.exception()
        if error is None:
            return flight.result()
        if isinstance(error, Timeout | Cancelled):
            return None
        raise error
    if watcher in done:
        raise Cancelled(f"the client disconnected while {label} waited for an identical request's computation")
    raise _wait_timeout(label, timeout)


def store_result(
    state: ServerState, call: Call, req: Any, name: str, key: str, result: Any
) -> tuple[CacheEntry, Parts]:
    """Check a backend result, write it as an artifact and cache it; returns the entry and the ``.npy`` parts.

    A masks artifact carries its K labels both in the record (``labels``) and in ``info["labels"]``.

    Raises:
        BackendResultError: the result breaks the contract (500).
    """
    kind = ROUTES[call.route]["artifact"]
    aid = new_id()
    if kind == "reconstruction":
        arrays = add_server_arrays(kind, check_reconstruction(name, result, len(req.frames)))
        info = info_map(result.info)
        record = make_record(aid, kind, name, call, arrays, reconstruct_summary(name, call, arrays, info))
    else:
        arrays = add_server_arrays(kind, check_masks(name, result, 1 if call.route == "segment_image" else None))
        info = info_map(result.info)
        labels = info["labels"] = [str(label) for label in result.labels]
        summary = mask_summary(name, call, arrays, labels)
        record = make_record(aid, kind, name, call, arrays, summary, labels)
    npy = {n: list(codec.npy_parts(a)) for n, a in arrays.items()}
    meta = npy_meta(arrays)
    nbytes = int(sum(a.nbytes for a in arrays.values()))
    manifest = {"record": record, "arrays": meta, "info": info, "cache_key": key, "nbytes": nbytes}
    try:
        validate("StoredManifest", manifest)  # the contract every reader of the artifact relies on
    except ContractError as err:
        raise BackendResultError(f"backend {name!r} made an artifact that breaks the contract: {err}") from None
    state.store.write(aid, manifest, npy)
    entry = CacheEntry(id=aid, key=key, nbytes=nbytes, record=record, arrays=meta, info=info)
    for victim in state.cache.put(entry):
        state.store.delete(victim.id)
    return entry, npy


def respond(
    entry: CacheEntry, npy: Parts, cache: str, compute_ms: float, queue_ms: float, server_ms: float
) -> Response:
    """The msgpack answer of a compute route, streamed chunk by chunk (array data is never joined)::

    {"artifact": record, "info": map, "cache": "hit" | "miss", "compute_ms", "queue_ms", "server_ms",
     "arrays": {name: .npy bytes}}
    """
    fields = {
        "artifact": entry.record,
        "info": entry.info,
        "cache": cache,
        "compute_ms": float(compute_ms),
        "queue_ms": float(queue_ms),
        "server_ms": float(server_ms),
    }
    chunks = codec.pack_with_arrays(fields, npy)
    size = sum(len(c) for c in chunks)

    async def body() -> AsyncIterator[codec.Buffer]:
        for chunk in chunks:
            yield chunk

    return StreamingResponse(body(), media_type="application/msgpack", headers={"Content-Length": str(size)})
