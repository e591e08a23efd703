"""Diagnostics backends for tests of the perception server core (queue, cache, artifacts); test-only.

The server loads them as extra backends (``--extra-backend NAME=module:Class``, or
``ServerConfig.extra_registry`` in process), with ``test/python`` on ``PYTHONPATH``::

    PYTHONPATH=test/python python -m spatial_perception --backends echo \\
        --extra-backend echo=perception_testing.echo:EchoBackend ...

(``test/python/perception_helpers.py`` maps in ``echo``, ``echo2`` and ``echo_unavailable``.)

- ``echo`` (device ``cpu``): every capability. Reconstruct returns the input depth (or 2 m everywhere), the
  given or default intrinsics (fx = fy = W, principal point at the centre), the given poses (or identity)
  and points lifted from that; segment returns one mask per request (the box, a disc of radius 5 px around
  each foreground point, or the whole image for text).
- ``echo2`` (device ``test:1``): segmentation with points and boxes only (no text, no reconstruct), on a
  second device queue.
- ``echo_unavailable``: ``available()`` is False.

Params (all optional): ``sleep_s`` (seconds to run, checking ``cancel`` every 5 ms), ``tag`` (str recorded
in ``info.started``), ``fail`` (``"value_error"`` raises ValueError, ``"bad_request"`` raises BadRequest),
``align_gravity`` and ``conf_threshold`` (accepted, ignored). Any other key is rejected with BadRequest,
as the contract asks of every backend.

``info`` of every result: ``tag``, ``calls`` (how many jobs this instance started), ``started`` and
``cancelled`` (tags, in order, over the instance's life), ``max_concurrent`` (most jobs this instance ran
at once), ``max_concurrent_all`` (same over all echo instances of the process), ``start_t``/``end_t``
(:func:`time.monotonic` of the server process) and ``pid``.
"""

from __future__ import annotations

import os
import threading
import time
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from spatial_common.geometry import backproject
from spatial_perception.backends.base import Backend, BoxPrompt, MaskResult, PointsPrompt, Reconstruction
from spatial_perception.errors import BadRequest, Cancelled

if TYPE_CHECKING:
    from spatial_perception.backends.base import Prompt, ReconstructRequest, SegmentImageRequest, SegmentVideoRequest

KNOWN_PARAMS = frozenset({"sleep_s", "tag", "fail", "align_gravity", "conf_threshold"})

_global_lock = threading.Lock()
_global_running = 0
_global_max = 0


class EchoBackend(Backend):
    """Deterministic stand-in backend that records how the server schedules it (see the module docstring)."""

    name: ClassVar[str] = "echo"
    version: ClassVar[str] = "1"
    capabilities: ClassVar[frozenset[str]] = frozenset(
        {"reconstruct", "segment_image", "segment_video", "text", "points", "box"}
    )
    device = "cpu"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running = 0
        self.max_concurrent = 0
        self.calls = 0
        self.started: list[str] = []
        self.cancelled: list[str] = []

    # ------------------------------------------------------------------ bookkeeping

    def _run(self, params: dict[str, Any], cancel: threading.Event) -> dict[str, Any]:
        """Check params, count the job as running, sleep (cancellable), fail if asked; returns the info map."""
        global _global_running, _global_max
        unknown = sorted(set(params) - KNOWN_PARAMS)
        if unknown:
            raise BadRequest(
                f"echo does not know params {unknown}; it accepts {sorted(KNOWN_PARAMS)}",
                fix="remove the unknown params",
            )
        tag = str(params.get("tag", ""))
        sleep_s = float(params.get("sleep_s", 0.0))
        start = time.monotonic()
        with self._lock:
            self._running += 1
            self.calls += 1
            self.max_concurrent = max(self.max_concurrent, self._running)
            self.started.append(tag)
        with _global_lock:
            _global_running += 1
            _global_max = max(_global_max, _global_running)
        try:
            while time.monotonic() - start < sleep_s:
                if cancel.wait(0.005):
                    with self._lock:
                        self.cancelled.append(tag)
                    raise Cancelled(f"echo job {tag!r} was cancelled")
            fail = params.get("fail")
            if fail == "value_error":
                raise ValueError(f"echo was asked to fail (tag {tag!r})")
            if fail == "bad_request":
                raise BadRequest(f"echo was asked to reject the request (tag {tag!r})", fix="do not pass fail")
        finally:
            with self._lock:
                self._running -= 1
            with _global_lock:
                _global_running -= 1
        with self._lock:
            return {
                "method": "echo",
                "tag": tag,
                "calls": self.calls,
                "started": list(self.started),
                "cancelled": list(self.cancelled),
                "max_concurrent": self.max_concurrent,
                "max_concurrent_all": _global_max,
                "start_t": start,
                "end_t": time.monotonic(),
                "pid": os.getpid(),
            }

    # ------------------------------------------------------------------ operations

    def reconstruct(self, req: ReconstructRequest, cancel: threading.Event) -> Reconstruction:
        info = self._run(req.params, cancel)
        n = len(req.frames)
        h, w = req.frames[0].shape[:2]
        depth = req.depth if req.depth is not None else np.full((n, h, w), 2.0, np.float32)
        if req.intrinsics is not None:
            k = req.intrinsics
        else:
            k = np.tile(np.array([[w, 0, (w - 1) / 2], [0, w, (h - 1) / 2], [0, 0, 1]], np.float64), (n, 1, 1))
        poses = req.poses if req.poses is not None else np.tile(np.eye(4), (n, 1, 1))
        points = backproject(depth, k, poses)  # (N, H, W, 3) world metres, NaN where the depth is invalid
        valid = np.isfinite(depth) & (depth > 0)
        if req.params.get("align_gravity", True):
            info["alignment"] = {
                "method": "identity",
                "floor_inliers": 0,
                "up_in_input_world": [0.0, -1.0, 0.0],
                "transform": np.eye(4),
            }
        return Reconstruction(
            frame_indices=np.asarray(req.frame_indices, np.int64),
            depth=depth.astype(np.float32),
            confidence=valid.astype(np.float32),
            points=points,
            extrinsics=poses.astype(np.float64),
            intrinsics=k.astype(np.float64),
            colors=np.stack(req.frames),
            info=info,
        )

    @staticmethod
    def _mask(prompt: Prompt, h: int, w: int) -> tuple[np.ndarray, str]:
        if isinstance(prompt, BoxPrompt):
            x1, y1, x2, y2 = prompt.box
            u, v = np.arange(w), np.arange(h)
            m = ((v >= y1) & (v <= y2))[:, None] & ((u >= x1) & (u <= x2))[None, :]
            return m, "object 1"
        if isinstance(prompt, PointsPrompt):
            vv, uu = np.mgrid[0:h, 0:w]
            m = np.zeros((h, w), bool)
            for (pu, pv), label in zip(prompt.points, prompt.labels, strict=True):
                if label == 1:
                    m |= (uu - pu) ** 2 + (vv - pv) ** 2 <= 25.0
            return m, "object 1"
        return np.ones((h, w), bool), prompt.text

    def segment_image(self, req: SegmentImageRequest, cancel: threading.Event) -> MaskResult:
        info = self._run(req.params, cancel)
        h, w = req.image.shape[:2]
        mask, label = self._mask(req.prompt, h, w)
        return MaskResult(
            masks=mask[None, None],
            scores=np.ones((1, 1), np.float32),
            frame_indices=np.asarray([req.frame_index], np.int64),
            labels=[label],
            info=info,
        )

    def segment_video(self, req: SegmentVideoRequest, cancel: threading.Event) -> MaskResult:
        info = self._run(req.params, cancel)
        t = len(req.frames)
        h, w = req.frames[0].shape[:2]
        mask, label = self._mask(req.prompt, h, w)
        return MaskResult(
            masks=np.broadcast_to(mask, (t, 1, h, w)).copy(),
            scores=np.ones((t, 1), np.float32),
            frame_indices=np.asarray(req.frame_indices, np.int64),
            labels=[label],
            info=info,
        )


class EchoSegmentBackend(EchoBackend):
    """``echo2``: points/box segmentation only, on the ``test:1`` device queue."""

    name: ClassVar[str] = "echo2"
    capabilities: ClassVar[frozenset[str]] = frozenset({"segment_image", "segment_video", "points", "box"})
    device = "test:1"


class UnavailableEchoBackend(EchoBackend):
    """``echo_unavailable``: always reports that it cannot run."""

    name: ClassVar[str] = "echo_unavailable"

    def available(self) -> tuple[bool, str | None]:
        return False, "echo_unavailable is a diagnostics backend that never runs; use echo"
