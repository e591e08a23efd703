"""Per-device FIFO job queues: one model job at a time per device, each device served by its own worker thread.

The event loop never blocks on a job: :meth:`JobQueues.run` enqueues the job and awaits an asyncio future
that the worker thread resolves with ``loop.call_soon_threadsafe``. While waiting it also watches the
client's disconnect and the request's timeout:

- a job still **queued** when its client disconnects or its time runs out is removed from the queue and
  never runs;
- a **running** job gets its ``cancel`` event set (backends check it between frames and raise
  :class:`~spatial_perception.errors.Cancelled`) and its result is discarded; the device stays busy until
  the backend returns, so the next job never overlaps it.

docs/perception-api.md, "Server internals", is the contract.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from spatial_perception.errors import Cancelled, PerceptionError, Timeout

T = TypeVar("T")
log = logging.getLogger("spatial_perception.jobs")


class ShuttingDown(PerceptionError, code="cancelled", status=503):
    """The server stopped while the job was queued or running (503, code ``cancelled``)."""

    def __init__(self) -> None:
        super().__init__("the server is shutting down; the job was cancelled", fix="retry when the server is back")


@dataclass(frozen=True)
class Outcome(Generic[T]):
    """A finished job: its result, the time it waited in the queue and the time it ran, in milliseconds."""

    result: T
    queue_ms: float
    compute_ms: float


class Job:
    """One unit of work for a device. ``fn(cancel)`` runs on the device's worker thread.

    ``state`` goes ``queued`` -> ``running`` -> ``done``, or ``queued`` -> ``dropped``; it only changes under
    the owning queue's lock. Times are :func:`time.monotonic` seconds.
    """

    def __init__(self, fn: Callable[[threading.Event], Any], loop: asyncio.AbstractEventLoop, label: str) -> None:
        self.fn = fn
        self.label = label
        self.loop = loop
        self.cancel = threading.Event()
        self.future: asyncio.Future[Any] = loop.create_future()
        self.state = "queued"
        self.enqueued = time.monotonic()
        self.started: float | None = None
        self.finished: float | None = None

    def resolve(self, result: Any = None, exc: BaseException | None = None) -> None:
        """Hand the outcome to the event loop (safe from any thread; a no-op once the loop is closed)."""

        def settle() -> None:
            if self.future.done():
                return
            if exc is not None:
                self.future.set_exception(exc)
            else:
                self.future.set_result(result)

        try:
            self.loop.call_soon_threadsafe(settle)
        except RuntimeError:  # the loop is closed: nobody is waiting any more
            pass


class DeviceQueue:
    """The FIFO queue and worker thread of one device (``"cpu"``, ``"cuda:0"``, ...)."""

    def __init__(self, device: str) -> None:
        self.device = device
        self._cond = threading.Condition()
        self._jobs: deque[Job] = deque()
        self._running: Job | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._work, name=f"perception-{device}", daemon=True)
        self._thread.start()

    def __len__(self) -> int:
        """Jobs waiting plus the one running."""
        with self._cond:
            return len(self._jobs) + (self._running is not None)

    def submit(self, job: Job) -> None:
        """Append ``job``. Raises ShuttingDown once the queue is closed."""
        with self._cond:
            if self._closed:
                raise ShuttingDown()
            self._jobs.append(job)
            self._cond.notify()

    def abandon(self, job: Job) -> str:
        """Give up on ``job``: drop it if queued, set its cancel event if running.

        Returns:
            ``"dropped"``, ``"cancelled"`` or ``"done"`` (it had already finished).
        """
        with self._cond:
            if job.state == "queued":
                self._jobs.remove(job)
                job.state = "dropped"
                return "dropped"
            if job.state == "running":
                job.cancel.set()
                return "cancelled"
            return "done"

    def close(self) -> None:
        """Stop taking jobs: queued ones fail with Cancelled, the running one gets its cancel event set."""
        with self._cond:
            self._closed = True
            while self._jobs:
                job = self._jobs.popleft()
                job.state = "dropped"
                job.resolve(exc=ShuttingDown())
            if self._running is not None:
                self._running.cancel.set()
            self._cond.notify_all()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._jobs and not self._closed:
                    self._cond.wait()
                if not self._jobs:
                    return
                job = self._jobs.popleft()
                job.state = "running"
                job.started = time.monotonic()
                self._running = job
            result: Any = None
            error: BaseException | None = None
            try:
                result = job.fn(job.cancel)
            except BaseException as exc:  # noqa: BLE001 - every failure goes back to the request, the thread lives on
                error = exc
            with self._cond:
                job.finished = time.monotonic()
                job.state = "done"
                self._running = None
            job.resolve(result, error)


class JobQueues:
    """All device queues of a server, created on first use."""

    def __init__(self, devices: tuple[str, ...] | list[str] = ()) -> None:
        self._lock = threading.Lock()
        self._queues: dict[str, DeviceQueue] = {}
        self._closed = False
        for device in devices:
            self.queue(device)

    def queue(self, device: str) -> DeviceQueue:
        with self._lock:
            q = self._queues.get(device)
            if q is None:
                if self._closed:
                    raise ShuttingDown()
                q = self._queues[device] = DeviceQueue(device)
            return q

    def lengths(self) -> dict[str, int]:
        """``{device: jobs waiting or running}``."""
        with self._lock:
            queues = list(self._queues.values())
        return {q.device: len(q) for q in queues}

    async def run(
        self,
        device: str,
        fn: Callable[[threading.Event], T],
        timeout_s: float,
        disconnected: Awaitable[Any] | None = None,
        label: str = "job",
    ) -> Outcome[T]:
        """Run ``fn(cancel)`` on ``device``'s worker thread, after the jobs queued before it.

        Args:
            device: the device queue.
            fn: the work; it receives a :class:`threading.Event` that is set when its result is no longer wanted.
            timeout_s: seconds from now (queue wait included) before giving up.
            disconnected: an awaitable that finishes when the client goes away, or None.
            label: what to call the job in messages (e.g. ``"reconstruct (rgbd)"``).

        Raises:
            Timeout: the time ran out (504); the job was dropped or cancelled.
            Cancelled: the client disconnected or the server is shutting down.
            Exception: whatever ``fn`` raised.
        """
        loop = asyncio.get_running_loop()
        job = Job(fn, loop, label)
        q = self.queue(device)
        q.submit(job)
        watcher = asyncio.ensure_future(disconnected) if disconnected is not None else None
        waiters: set[asyncio.Future[Any]] = {job.future} if watcher is None else {job.future, watcher}
        settled = False
        try:
            done, _ = await asyncio.wait(waiters, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
            if job.future in done:
                settled = True
                exc = job.future.exception()
                if isinstance(exc, Cancelled) and self._closed:
                    raise ShuttingDown() from exc
                if exc is not None:
                    raise exc
                result = job.future.result()
                assert job.started is not None and job.finished is not None
                return Outcome(
                    result=result,
                    queue_ms=(job.started - job.enqueued) * 1000.0,
                    compute_ms=(job.finished - job.started) * 1000.0,
                )
        finally:
            if not settled:
                what = q.abandon(job)
                job.future.cancel()
                log.info("%s on %s abandoned (%s)", label, device, what)
            if watcher is not None and not watcher.done():
                watcher.cancel()
        waited = (job.started or time.monotonic()) - job.enqueued
        if watcher is not None and watcher in done:
            raise Cancelled(f"the client disconnected; {label} was {what}", fix=None)
        ran = f" and ran {time.monotonic() - job.started:.1f} s" if job.started is not None else ""
        raise Timeout(
            f"{label} did not finish within {timeout_s:g} s (it waited {waited:.1f} s in the {device} queue{ran}); "
            f"it was {what}",
            fix="raise params.timeout_s (or the server's --timeout-s), or send fewer or smaller frames",
        )

    def close(self, join_timeout: float = 0.0) -> None:
        """Close every queue (see :meth:`DeviceQueue.close`); optionally wait for the workers to exit."""
        with self._lock:
            self._closed = True
            queues = list(self._queues.values())
        for q in queues:
            q.close()
        deadline = time.monotonic() + join_timeout
        for q in queues:
            q.join(max(0.0, deadline - time.monotonic()))
