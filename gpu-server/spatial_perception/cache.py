"""Content-addressed LRU cache of artifacts, bounded by the bytes of their arrays.

The cache holds artifact metadata only; the arrays live on disk in the
:class:`~spatial_perception.artifacts.ArtifactStore`, and evicting an entry tells the caller to delete them.
Entries are ordered by last use (a cache hit or a ``GET /v1/artifacts/...``). The newest entry is always
kept, even when it alone is over the bound, so that a fresh result can be fetched at least once. A bound of 0
(``--cache-mb 0``) turns cache hits off: every request computes, and only the newest artifact is kept.

The key (:func:`cache_key`) is a sha256 over the route, the backend name and version, the canonical JSON of
the params and every input's bytes in order (docs/perception-api.md, "Cache").

:class:`Flights` holds the computations in progress by key (single-flight): an identical request that arrives
while one computes waits for that result instead of queueing the same job again (the pipeline decides what a
waiter does when the computation fails; :mod:`spatial_perception.pipeline`).
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

EVICTED_MEMORY = 100_000
"""How many evicted ids are remembered (to answer "evicted" rather than "unknown")."""


def cache_key(
    route: str, backend: str, version: str, params_json: str, inputs: Iterable[tuple[str, bytes | None]]
) -> str:
    """sha256 hex digest identifying a compute request.

    Args:
        route: ``"reconstruct"``, ``"segment_image"`` or ``"segment_video"``.
        backend: backend name.
        version: backend version (a new version never reuses old results).
        params_json: canonical JSON of the params the backend receives.
        inputs: ``(name, bytes or None)`` of every input in a fixed order; each part is length-prefixed so
            that no two different requests hash the same byte stream.
    """
    h = hashlib.sha256()

    def part(tag: str, data: bytes | None) -> None:
        h.update(tag.encode())
        if data is None:
            h.update(b"\x00")
        else:
            h.update(b"\x01" + len(data).to_bytes(8, "little"))
            h.update(data)

    part("route", route.encode())
    part("backend", backend.encode())
    part("version", version.encode())
    part("params", params_json.encode())
    for name, data in inputs:
        part(name, data)
    return h.hexdigest()


@dataclass
class CacheEntry:
    """One cached artifact.

    Attributes:
        id: artifact id (32 hex digits).
        key: the :func:`cache_key` that produced it.
        nbytes: total bytes of its arrays (what the bound counts).
        record: the ArtifactRecord map.
        arrays: ``{name: {"shape", "dtype", "bytes"}}``.
        info: the backend's ``info`` map, returned again on hits.
    """

    id: str
    key: str
    nbytes: int
    record: dict[str, Any]
    arrays: dict[str, dict[str, Any]]
    info: dict[str, Any] = field(default_factory=dict)


class Flights:
    """Computations in progress, by cache key: the first request with a key computes, identical requests that
    arrive meanwhile await its flight (an :class:`asyncio.Future`).

    A flight resolves to what its computing request passes to :meth:`finish` (the pipeline passes the cache entry
    and its ``.npy`` parts) or to the exception it failed with. Used from the event loop only, so no lock: the
    check (:meth:`get`) and the registration (:meth:`begin`) happen without an ``await`` between them.
    """

    def __init__(self) -> None:
        self._running: dict[str, asyncio.Future[Any]] = {}

    def __len__(self) -> int:
        """Computations in progress."""
        return len(self._running)

    def get(self, key: str) -> asyncio.Future[Any] | None:
        """The flight computing ``key``, or None."""
        return self._running.get(key)

    def begin(self, key: str) -> asyncio.Future[Any]:
        """Register a computation of ``key`` and return its flight.

        Raises:
            RuntimeError: ``key`` is already being computed (check :meth:`get` first).
        """
        if key in self._running:
            raise RuntimeError(f"a computation of cache key {key[:12]}... is already in progress")
        flight: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._running[key] = flight
        return flight

    def finish(
        self, key: str, flight: asyncio.Future[Any], result: Any = None, error: BaseException | None = None
    ) -> None:
        """End ``flight``: its waiters get ``result``, or ``error`` raised. An error is marked as retrieved, so a
        flight nobody waited for logs no "exception was never retrieved"."""
        if self._running.get(key) is flight:
            del self._running[key]
        if flight.done():
            return
        if error is None:
            flight.set_result(result)
        else:
            flight.set_exception(error)
            flight.exception()


class ArtifactCache:
    """Thread-safe LRU of :class:`CacheEntry`, bounded by ``max_bytes`` of array data.

    Attributes:
        flights: the computations in progress (:class:`Flights`; event loop only). With ``max_bytes`` 0 the
            pipeline does not use them: every request computes.
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = int(max_bytes)
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, CacheEntry] = OrderedDict()  # id -> entry, least recently used first
        self._by_key: dict[str, str] = {}  # cache key -> id of the newest entry with that key
        self._evicted: OrderedDict[str, None] = OrderedDict()
        self._bytes = 0
        self.hits = 0
        self.misses = 0
        self.evictions = 0
        self.flights = Flights()

    def get(self, key: str) -> CacheEntry | None:
        """The entry for ``key`` (counted as a hit and marked as used), or None (counted as a miss).

        Always None when ``max_bytes`` is 0 (hits are turned off).
        """
        with self._lock:
            aid = self._by_key.get(key) if self.max_bytes > 0 else None
            if aid is None:
                self.misses += 1
                return None
            self.hits += 1
            self._entries.move_to_end(aid)
            return self._entries[aid]

    def joined(self, artifact_id: str) -> None:
        """Count a request answered by an identical request's computation (single-flight) as a hit, and mark the
        entry as used."""
        with self._lock:
            self.hits += 1
            if artifact_id in self._entries:
                self._entries.move_to_end(artifact_id)

    def lookup(self, artifact_id: str) -> CacheEntry | None:
        """The entry with this id (marked as used), or None; does not touch hit/miss counts."""
        with self._lock:
            entry = self._entries.get(artifact_id)
            if entry is not None:
                self._entries.move_to_end(artifact_id)
            return entry

    def was_evicted(self, artifact_id: str) -> bool:
        with self._lock:
            return artifact_id in self._evicted

    def put(self, entry: CacheEntry) -> list[CacheEntry]:
        """Add ``entry`` as the most recently used and evict least recently used ones over the bound.

        Returns:
            The evicted entries (their artifacts should be deleted by the caller).
        """
        with self._lock:
            old = self._entries.pop(entry.id, None)
            if old is not None:
                self._bytes -= old.nbytes
            self._entries[entry.id] = entry
            self._by_key[entry.key] = entry.id
            self._bytes += entry.nbytes
            evicted: list[CacheEntry] = []
            while self._bytes > self.max_bytes and len(self._entries) > 1:
                _, victim = self._entries.popitem(last=False)
                self._forget(victim)
                evicted.append(victim)
                self.evictions += 1
            return evicted

    def discard(self, artifact_id: str) -> CacheEntry | None:
        """Remove an entry without counting an eviction (e.g. its files went missing)."""
        with self._lock:
            entry = self._entries.pop(artifact_id, None)
            if entry is not None:
                self._forget(entry)
            return entry

    def _forget(self, entry: CacheEntry) -> None:
        self._bytes -= entry.nbytes
        if self._by_key.get(entry.key) == entry.id:
            del self._by_key[entry.key]
        self._evicted[entry.id] = None
        while len(self._evicted) > EVICTED_MEMORY:
            self._evicted.popitem(last=False)

    def ids(self) -> list[str]:
        """Artifact ids, least recently used first."""
        with self._lock:
            return list(self._entries)

    def stats(self) -> dict[str, int]:
        """``{"entries", "bytes", "max_bytes", "hits", "misses", "evictions"}`` as in ``/health``."""
        with self._lock:
            return {
                "entries": len(self._entries),
                "bytes": self._bytes,
                "max_bytes": self.max_bytes,
                "hits": self.hits,
                "misses": self.misses,
                "evictions": self.evictions,
            }
