"""``tools.Time``: frame indices, timestamps and the order of events in a video.

Frame indices are **absolute** indices in the source video (docs/conventions.md), as in
``frame.frame_index`` and ``Metadata.frame_indices``, never positions in the sampled ``InputImages``. Times
are seconds from the first frame of the video, with a constant frame rate ``fps`` (``Metadata.fps``):
frame ``i`` starts at ``i / fps`` seconds and is shown until ``(i + 1) / fps``. For variable-frame-rate
videos prefer the decoded ``frame.timestamp`` values (``Metadata.timestamps``).

(The module is named ``timeline`` so that it cannot be confused with the standard library's ``time``; the
agent reaches it as ``tools.Time``.)
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "duration",
    "format_timestamp",
    "frame_to_time",
    "frames_between",
    "nearest_frame",
    "order_events",
    "parse_timestamp",
    "segments",
    "time_to_frame",
]

# Tolerance for float round-off when a time lands exactly on a frame boundary (0.29 * 100 = 28.999999999999996).
_EPS = 1e-9


def _fps(fps: float) -> float:
    f = float(fps) if fps is not None else float("nan")
    if not math.isfinite(f) or f <= 0:
        raise ValueError(f"fps must be a positive number of frames per second (Metadata.fps), got {fps}")
    return f


def _indices(frame_indices: ArrayLike, name: str = "frame_indices") -> NDArray[np.int64]:
    a = np.asarray(frame_indices)
    if a.ndim == 0:
        a = a.reshape(1)
    if a.ndim != 1 or a.size == 0:
        raise ValueError(f"{name} must be a non-empty list of frame indices, got shape {a.shape}")
    if not np.issubdtype(a.dtype, np.integer):
        if not np.all(np.isfinite(a)) or not np.all(a == np.round(a)):
            raise ValueError(f"{name} must hold whole frame numbers, got {a.tolist()[:10]}")
        a = a.astype(np.int64)
    if (a < 0).any():
        raise ValueError(f"{name} must be >= 0 (absolute frame indices), got {a.min()}")
    return a.astype(np.int64)


def frame_to_time(frame_index: ArrayLike, fps: float) -> float | NDArray[np.float64]:
    """Start time in seconds of absolute frame(s) ``frame_index``: ``frame_index / fps``.

    Args:
        frame_index: an int or an array of ints (absolute indices, >= 0).
        fps: frames per second (``Metadata.fps``).

    Returns:
        A float for one index, else a float64 array.
    """
    f = _fps(fps)
    idx = np.asarray(frame_index, dtype=np.float64)
    if (idx < 0).any():
        raise ValueError(f"frame_index must be >= 0, got {frame_index}")
    t = idx / f
    return float(t) if t.ndim == 0 else t


def time_to_frame(seconds: ArrayLike, fps: float) -> int | NDArray[np.int64]:
    """The absolute frame shown at time ``seconds``: ``floor(seconds * fps)``.

    Times exactly on a frame boundary (up to float round-off) give the frame that starts there.

    Raises:
        ValueError: for negative or non-finite times, or a bad fps.
    """
    f = _fps(fps)
    t = np.asarray(seconds, dtype=np.float64)
    if not np.isfinite(t).all() or (t < 0).any():
        raise ValueError(f"seconds must be finite and >= 0, got {seconds}")
    frames = np.floor(t * f * (1 + _EPS) + _EPS).astype(np.int64)
    return int(frames) if frames.ndim == 0 else frames


def nearest_frame(frame_indices: ArrayLike, seconds: float, fps: float) -> int:
    """The frame among ``frame_indices`` (e.g. ``Metadata.frame_indices``) whose start time is nearest to
    ``seconds``; ties go to the earlier frame.

    Returns:
        The absolute frame index (an element of ``frame_indices``), not its position in the list; use
        ``Metadata.frame_indices.index(i)`` for the position.
    """
    f = _fps(fps)
    idx = np.unique(_indices(frame_indices))  # sorted, so argmin picks the earlier frame on ties
    t = float(seconds)
    if not math.isfinite(t):
        raise ValueError(f"seconds must be finite, got {seconds}")
    return int(idx[np.argmin(np.abs(idx / f - t))])


def frames_between(frame_indices: ArrayLike, start: float, end: float, fps: float) -> list[int]:
    """The frames among ``frame_indices`` that start within ``[start, end]`` seconds (inclusive), sorted."""
    f = _fps(fps)
    if end < start:
        raise ValueError(f"end ({end} s) must not be before start ({start} s)")
    idx = np.unique(_indices(frame_indices))
    t = idx / f
    keep = (t >= start - _EPS) & (t <= end + _EPS)
    return [int(i) for i in idx[keep]]


def duration(first_frame: int, last_frame: int, fps: float) -> float:
    """Seconds from the start of ``first_frame`` to the start of ``last_frame``: ``(last - first) / fps``.

    Negative when ``last_frame`` comes first. For "how long is X visible", add one frame
    (``duration(a, b + 1, fps)``) to count the last frame's own display time.
    """
    return (int(last_frame) - int(first_frame)) / _fps(fps)


def format_timestamp(seconds: float, decimals: int = 1) -> str:
    """Format seconds as ``"mm:ss.s"`` (``"h:mm:ss.s"`` from one hour on), e.g. 75.25 -> ``"01:15.2"``.

    Rounding happens before splitting, so 59.96 s gives ``"01:00.0"``, never ``"00:60.0"``.

    Raises:
        ValueError: for negative or non-finite values, or negative ``decimals``.
    """
    s = float(seconds)
    if not math.isfinite(s) or s < 0:
        raise ValueError(f"seconds must be finite and >= 0, got {seconds}")
    if decimals < 0:
        raise ValueError(f"decimals must be >= 0, got {decimals}")
    scale = 10**decimals
    total = round(s * scale)  # integer units of 10**-decimals seconds
    whole, frac = divmod(total, scale)
    h, rest = divmod(whole, 3600)
    m, sec = divmod(rest, 60)
    sec_text = f"{sec:02d}" + (f".{frac:0{decimals}d}" if decimals else "")
    return f"{h}:{m:02d}:{sec_text}" if h else f"{m:02d}:{sec_text}"


_TIMESTAMP = re.compile(r"^\s*(?:(?:(\d+):)?(\d+):)?(\d+(?:\.\d*)?)\s*$")


def parse_timestamp(text: str) -> float:
    """Parse ``"ss(.s)"``, ``"mm:ss(.s)"`` or ``"h:mm:ss(.s)"`` into seconds (inverse of :func:`format_timestamp`).

    Raises:
        ValueError: if the text is not such a timestamp, or minutes/seconds fields are >= 60.
    """
    m = _TIMESTAMP.match(str(text))
    if not m:
        raise ValueError(f"not a timestamp: {text!r}; expected 'ss', 'mm:ss' or 'h:mm:ss' (with optional .fraction)")
    h, mins, secs = m.groups()
    if (mins is not None and float(secs) >= 60) or (h is not None and int(mins) >= 60):
        raise ValueError(f"minutes and seconds must be < 60 in {text!r}")
    return int(h or 0) * 3600 + int(mins or 0) * 60 + float(secs)


def _first(frames: Any, name: str) -> int:
    idx = _indices(frames, f"frames of {name!r}")
    return int(idx.min())


def order_events(events: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> list[tuple[str, int]]:
    """Order events (or objects) by their first frame.

    Args:
        events: a mapping ``name -> frame index or list of frame indices`` (e.g. the frames where each
            object was detected), or an iterable of ``(name, frames)`` pairs.

    Returns:
        ``[(name, first_frame), ...]`` sorted by first frame; ties keep the input order.

    Raises:
        ValueError: if an event has no frame or a negative one.
    """
    items = events.items() if isinstance(events, Mapping) else events
    firsts = []
    for pair in items:
        if not isinstance(pair, tuple | list) or len(pair) != 2:
            raise ValueError(f"events must be a mapping or (name, frames) pairs, got {pair!r}")
        name, frames = pair
        firsts.append((name, _first(frames, str(name))))
    return sorted(firsts, key=lambda x: x[1])


def segments(frame_indices: ArrayLike, max_gap: int = 1) -> list[tuple[int, int]]:
    """Group frame indices into runs: consecutive sorted indices at most ``max_gap`` apart join one run.

    With frames sampled every k-th source frame, pass ``max_gap=k`` so that one sampling step does not
    break a run. Example: ``segments([3, 4, 5, 9, 10])`` -> ``[(3, 5), (9, 10)]``.

    Returns:
        Inclusive ``(first, last)`` pairs, in time order.
    """
    if int(max_gap) < 1:
        raise ValueError(f"max_gap must be >= 1, got {max_gap}")
    idx = np.unique(_indices(frame_indices))
    breaks = np.flatnonzero(np.diff(idx) > max_gap)
    starts = np.concatenate([[0], breaks + 1])
    ends = np.concatenate([breaks, [len(idx) - 1]])
    return [(int(idx[s]), int(idx[e])) for s, e in zip(starts, ends, strict=True)]
