"""The ``video`` input: frames sampled from a video file, demuxed and decoded with PyAV (FFmpeg) on access.

Frame indices are absolute indices in the video stream; timestamps are seconds from the first frame (from the
packet times when the container lists them, else ``index / fps``). :func:`sample_frame_indices` picks the frames
to bind, or :func:`every_frame_indices` with ``all_frames`` (profile ``paper``: every native frame, at most
``max_fps`` per second). :func:`video_input` reads only the container header and decodes the first frame once as
a probe (to check that the codec can decode the data, and to read the display rotation and the first timestamp);
the bound frames are decoded when first accessed (:class:`VideoSource`) and cached.

With the persistent frame cache on (``SPATIALCLAW_FRAME_CACHE``, :mod:`.frame_cache`), a video already bound with
the same frame selection and size (by any process) is bound from the cache's ``meta.json`` without opening the
video, and its frames are read from the cache's PNGs; frames decoded as above are written to the cache.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
from PIL import Image

from spatial_runtime.inputs import frame_cache
from spatial_runtime.inputs.common import RE_ENCODE_HINT, InputError, is_number, spec_path
from spatial_runtime.inputs.frames import Frame, InputImages, Metadata
from spatial_runtime.inputs.sizing import Sizing
from spatial_runtime.inputs.source import FrameSource, bind

__all__ = [
    "DEFAULT_NUM_FRAMES",
    "DENSE_CACHE_FRAMES",
    "VideoSource",
    "every_frame_indices",
    "sample_frame_indices",
    "video_input",
]

DEFAULT_NUM_FRAMES = 16
"""Frames sampled from a video when the spec gives neither ``num_frames`` nor ``max_fps``."""

DENSE_CACHE_FRAMES = 512
"""Decoded frames kept in memory for an ``all_frames`` input (least recently used out first; about 0.5 GB at
768x432): every frame is bound, so caching all of them could take many gigabytes."""


class VideoSource(FrameSource):
    """Sampled frames of a video, decoded with PyAV on access.

    A frame's absolute index is found from its presentation time: ``round((t - t0) * fps)`` (``t0`` = time of the
    first frame), or, when the frame times were listed by demuxing, its position among the sorted packet times.
    To reach a frame the decoder keeps going forward from the last decoded frame unless a keyframe lies between
    the two (found by demuxing a second handle, without decoding) or the target is behind it; then it seeks to the
    keyframe before the target (``container.seek(..., backward=True)``) and decodes forward. Every sampled frame
    passed on the way is cached too, so accessing the frames in order decodes the video at most once; with
    ``keep_passed`` False (every frame bound) only the frame asked for is converted and cached.

    With ``cache_entry`` (:class:`~spatial_runtime.inputs.frame_cache.CacheEntry`) a frame is first looked up in
    the persistent frame cache (no decoding when found), and every bound frame decoded here is written to it.
    """

    kind = "video"
    EOF_TOLERANCE = 2  # frames: the stream may end slightly before its header's frame count

    def __init__(
        self,
        path: Path,
        *,
        fps: float,
        t0: float,
        rotation: int,
        pts_list: list[int] | None,
        keep_passed: bool = True,
        cache_entry: frame_cache.CacheEntry | None = None,
        **kw: Any,
    ) -> None:
        super().__init__(**kw)
        self.keep_passed = keep_passed
        self.cache_entry = cache_entry
        self.frames_from_cache = 0  # bound frames read from the persistent frame cache instead of decoded
        self._on_disk: set[int] = set()  # absolute indices known to be in the frame cache
        self._rewrite: set[int] = set()  # absolute indices whose cached PNG was unusable
        self.path = path
        self.fps = fps
        self.t0 = t0
        self.rotation = rotation
        self._pts_list = pts_list
        self._pts_to_index = None if pts_list is None else {p: i for i, p in enumerate(pts_list)}
        self._bound = sorted(set(self.frame_indices))
        self._pos_of: dict[int, list[int]] = {}
        for pos, idx in enumerate(self.frame_indices):
            self._pos_of.setdefault(idx, []).append(pos)
        self.frames_decoded = 0  # video frames produced by the decoder while serving accesses
        self._container: Any = None
        self._stream: Any = None
        self._demuxer: Any = None  # a second container, only demuxed: finds the keyframe before a target
        self._iter: Iterator[Any] | None = None
        self._cursor: int | None = None  # absolute index of the last decoded frame

    # -- decoding -----------------------------------------------------------------------------------

    def _open(self) -> None:
        self._close()
        self._container = av.open(str(self.path))
        self._stream = self._container.streams.video[0]
        self._stream.thread_type = "AUTO"
        self._iter, self._cursor = None, None

    def _close(self) -> None:
        for c in (self._container, self._demuxer):
            if c is not None:
                c.close()
        self._container, self._stream, self._demuxer, self._iter, self._cursor = None, None, None, None, None

    def _index_of_pts(self, pts: int) -> int:
        if self._pts_to_index is not None:
            i = self._pts_to_index.get(pts)
            if i is not None:
                return i
            j = bisect.bisect_left(self._pts_list, pts)
            return min(j, len(self._pts_list) - 1)
        return int(round((float(pts * self._stream.time_base) - self.t0) * self.fps))

    def _index_of(self, vf: Any) -> int:
        if vf.pts is None:
            return 0 if self._cursor is None else self._cursor + 1
        return self._index_of_pts(vf.pts)

    def _keyframe_before(self, target: int) -> int | None:
        """Index of the keyframe the demuxer would seek to for ``target`` (demux only, no decoding), or None."""
        try:
            if self._demuxer is None:
                self._demuxer = av.open(str(self.path))
            stream = self._demuxer.streams.video[0]
            self._demuxer.seek(self._seek_pts(target), stream=stream, backward=True)
            for packet in self._demuxer.demux(stream):
                ts = packet.pts if packet.pts is not None else packet.dts
                if ts is not None:
                    return self._index_of_pts(ts)
        except (av.FFmpegError, OSError):
            return None
        return None

    def _seek_pts(self, target: int) -> int:
        if self._pts_list is not None:
            return self._pts_list[target]
        return int(math.floor((self.t0 + target / self.fps) / float(self._stream.time_base)))

    def _seek(self, target: int) -> None:
        self._container.seek(self._seek_pts(target), stream=self._stream, backward=True)
        it = self._container.decode(self._stream)
        first = next(it, None)
        if first is not None and self._index_of(first) <= target:
            self._iter = itertools.chain([first], it)
        else:  # the demuxer landed after the target (or at the end): decode from the start instead
            self.frames_decoded += first is not None
            self._open()
            self._iter = self._container.decode(self._stream)
        self._cursor = None

    def _to_image(self, vf: Any) -> Image.Image:
        img = vf.to_image()  # RGB24 via libswscale
        if self.rotation in (90, -270):
            img = img.transpose(Image.Transpose.ROTATE_90)
        elif self.rotation in (-90, 270):
            img = img.transpose(Image.Transpose.ROTATE_270)
        elif self.rotation in (180, -180):
            img = img.transpose(Image.Transpose.ROTATE_180)
        return img

    def _keep(self, vf: Any, lo: int, hi: int) -> None:
        """Cache ``vf`` for every uncached bound index in [lo, hi]."""
        img = None
        for idx in self._bound[bisect.bisect_left(self._bound, lo) : bisect.bisect_right(self._bound, hi)]:
            for pos in self._pos_of[idx]:
                if pos not in self._cache:
                    img = self._to_image(vf) if img is None else img
                    self._store(pos, img)

    def _decode_until(self, target: int) -> None:
        if self._container is None:
            self._open()
        cur = self._cursor
        if self._iter is None or cur is None or target <= cur:
            self._seek(target)
        else:  # ahead of the decoder: seek only if a keyframe lies between the decoder and the target
            key = self._keyframe_before(target)
            if key is None or key > cur:
                self._seek(target)
        assert self._iter is not None
        last = None
        for vf in self._iter:
            self.frames_decoded += 1
            idx = self._index_of(vf)
            lo = idx if self._cursor is None else self._cursor + 1
            self._keep(vf, lo if self.keep_passed else max(lo, target), idx)
            self._cursor, last = idx, vf
            if idx >= target:
                return
        self._iter = None  # end of stream
        if last is not None and 0 < target - self._cursor <= self.EOF_TOLERANCE:
            self._keep(last, self._cursor + 1, target)

    def _store(self, pos: int, img: Image.Image, *, bound: bool = False) -> None:
        super()._store(pos, img, bound=bound)
        entry, idx = self.cache_entry, self.frame_indices[pos]
        if entry is None or bound or idx in self._on_disk:
            return
        if idx in self._rewrite or not entry.frame_path(idx).exists():
            entry.write_frame(idx, self._cache[pos])
            self._rewrite.discard(idx)
        self._on_disk.add(idx)

    def _load_cached(self, pos: int) -> bool:
        """Cache bound frame ``pos`` from the persistent frame cache; False when it is not there (or unusable)."""
        assert self.cache_entry is not None
        idx = self.frame_indices[pos]
        img = self.cache_entry.read_frame(idx, self.sizes[pos])
        if img is None:
            self._on_disk.discard(idx)
            self._rewrite.add(idx)
            return False
        self._on_disk.add(idx)
        self.frames_from_cache += 1
        for p in self._pos_of[idx]:
            if p not in self._cache:
                self._store(p, img, bound=True)
        return True

    def _load(self, pos: int) -> None:
        target = self.frame_indices[pos]
        if self.cache_entry is not None and self._load_cached(pos):
            if len(self._cache) == len(self.frame_indices):
                self._close()
            return
        try:
            self._decode_until(target)
        except (av.FFmpegError, OSError) as e:
            self._close()
            raise InputError(
                f"{self.path}: decoding failed on the way to frame {target} ({e}); the video is corrupt or "
                f"truncated; {RE_ENCODE_HINT}"
            ) from e
        if pos not in self._cache:
            stop = "" if self._cursor is None else f" (decoding stopped at frame {self._cursor})"
            self._close()
            raise InputError(
                f"{self.path}: frame {target} could not be decoded{stop}; the header promises more frames than "
                f"the file holds, so the file is probably truncated; {RE_ENCODE_HINT}"
            )
        if len(self._cache) == len(self.frame_indices):
            self._close()  # everything bound is cached: release the file

    def decode_one(self, frame_index: int, max_long_edge: int | None) -> Frame:
        """Decode one frame of this video, bound or not, through a one-off source over that frame only.

        Args:
            frame_index: absolute index in the video, 0 <= frame_index < total frames.
            max_long_edge: long edge in pixels the frame is shrunk to (None: the source size).

        Raises:
            InputError: the frame cannot be decoded (the file is truncated or corrupt).
        """
        one = VideoSource(
            self.path,
            fps=self.fps,
            t0=self.t0,
            rotation=self.rotation,
            pts_list=self._pts_list,
            label=self.label,
            frame_indices=[frame_index],
            timestamps=None if self.timestamps is None else [frame_index / self.fps],
            original_sizes=[self.original_sizes[0]],
            sizing=Sizing(max_long_edge),
        )
        try:
            return one.frame(0)
        finally:
            one._close()


def sample_frame_indices(
    total_frames: int, num_frames: int | None = None, max_fps: float | None = None, fps: float | None = None
) -> list[int]:
    """Absolute indices of the video frames to bind.

    Rules (``T`` = ``total_frames``):

    * neither ``num_frames`` nor ``max_fps``: ``num_frames`` = :data:`DEFAULT_NUM_FRAMES` (16), uniform rule.
    * uniform rule (``num_frames`` = N only): if N >= T every frame ``0..T-1``; if N == 1 the middle frame
      ``(T - 1) // 2``; otherwise ``floor(i * (T - 1) / (N - 1) + 1/2)`` for ``i = 0..N-1`` (exact integer
      arithmetic), so the first (0) and last (T - 1) frames are always included and gaps differ by at most 1.
    * rate rule (``max_fps`` given): every k-th frame from 0, ``k = max(1, ceil(fps / max_fps))``, so the rate
      ``fps / k`` never exceeds ``max_fps``. If ``num_frames`` is also given and the rate rule yields more than
      ``num_frames`` frames, the uniform rule with ``num_frames`` is used instead (it spans the whole video and
      its gaps are then at least k frames, so the rate still stays at or under ``max_fps``).

    Args:
        total_frames: frames in the video (>= 1).
        num_frames: frames wanted (>= 1), or None.
        max_fps: the highest sampling rate in frames per second (> 0), or None.
        fps: the video's frame rate; required with ``max_fps``.

    Returns:
        Sorted, distinct absolute frame indices (list[int]).

    Raises:
        ValueError: an argument is out of range (``max_fps`` without ``fps``, ``num_frames`` < 1, ...).
    """
    if total_frames < 1:
        raise ValueError(f"total_frames must be >= 1, got {total_frames}")
    if num_frames is not None and num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}")
    if max_fps is not None:
        if not max_fps > 0:
            raise ValueError(f"max_fps must be > 0, got {max_fps}")
        if fps is None or not fps > 0:
            raise ValueError(f"max_fps needs the video's frame rate, got fps={fps}")
        step = max(1, math.ceil(fps / max_fps - 1e-9))
        indices = list(range(0, total_frames, step))
        if num_frames is None or len(indices) <= num_frames:
            return indices
    n = DEFAULT_NUM_FRAMES if num_frames is None else int(num_frames)
    if n >= total_frames:
        return list(range(total_frames))
    if n == 1:
        return [(total_frames - 1) // 2]
    return [(2 * i * (total_frames - 1) + (n - 1)) // (2 * (n - 1)) for i in range(n)]


def every_frame_indices(total_frames: int, fps: float | None = None, max_fps: float | None = None) -> list[int]:
    """Absolute indices of the frames an ``all_frames`` input binds: every frame ``0..T-1`` (``T`` = ``total_frames``),
    or, when ``max_fps`` is below the video's ``fps``, frame ``round(i * fps / max_fps)`` for ``i = 0, 1, ...``
    while it is below ``T`` (Python ``round``, half to even: the frames an ``fps=max_fps`` resampling keeps,
    as the paper's frame extraction does).

    Raises:
        ValueError: ``total_frames`` < 1, ``max_fps`` <= 0, or ``max_fps`` without a positive ``fps``.
    """
    if total_frames < 1:
        raise ValueError(f"total_frames must be >= 1, got {total_frames}")
    if max_fps is None:
        return list(range(total_frames))
    if not max_fps > 0:
        raise ValueError(f"max_fps must be > 0, got {max_fps}")
    if fps is None or not fps > 0:
        raise ValueError(f"max_fps needs the video's frame rate, got fps={fps}")
    if fps <= max_fps:
        return list(range(total_frames))
    step = fps / max_fps
    indices: list[int] = []
    index = 0
    while index < total_frames:
        indices.append(index)
        index = round(len(indices) * step)
    return indices


def _open_container(path: Path) -> Any:
    """``av.open(path)``; raises InputError (naming the file and the fix) when PyAV cannot open it."""
    try:
        return av.open(str(path))
    except (av.FFmpegError, OSError, UnicodeDecodeError) as e:
        raise InputError(
            f"{path}: PyAV could not open this file as a video ({e}); is it a complete, uncorrupted video "
            f"(MP4/MOV/MKV/WebM/AVI)? A download may have been cut short; {RE_ENCODE_HINT}"
        ) from e


@dataclass(frozen=True)
class _VideoHeader:
    """What binding a video needs from the file: read from its header and probe frame, or from the frame cache."""

    fps: float
    total: int
    duration: float
    t0: float
    rotation: int
    size: tuple[int, int]  # (W, H) after display rotation
    pts_list: list[int] | None
    indices: list[int]
    timestamps: list[float]

    def to_meta(self, sizing: Sizing) -> dict[str, Any]:
        """The frame cache's ``meta.json`` fields (docs/kernel-protocol.md, "Frame cache")."""
        width, height = sizing.bound_size(self.size)
        return {
            "native_fps": self.fps,
            "duration_s": self.duration,
            "frame_count": self.total,
            "indices": self.indices,
            "timestamps": self.timestamps,
            "width": width,
            "height": height,
            "original_width": self.size[0],
            "original_height": self.size[1],
            "rotation": self.rotation,
            "t0": self.t0,
            "pts_list": self.pts_list,
        }

    @classmethod
    def from_meta(cls, meta: Mapping[str, Any], sizing: Sizing, rule: Mapping[str, Any]) -> _VideoHeader | None:
        """The header recorded in a cache entry's ``meta.json``, or None when a field is missing or inconsistent
        (then the entry is rewritten). The indices must be the ones the selection rule gives today."""

        def num(x: Any) -> float:
            if not is_number(x) or not math.isfinite(x):
                raise ValueError(f"not a number: {x!r}")
            return float(x)

        def count(x: Any, lo: int | None = 0) -> int:
            if not isinstance(x, int) or isinstance(x, bool) or (lo is not None and x < lo):
                raise ValueError(f"not an integer >= {lo}: {x!r}")
            return x

        try:
            total, fps = count(meta["frame_count"], 1), num(meta["native_fps"])
            size = (count(meta["original_width"], 1), count(meta["original_height"], 1))
            pts = meta["pts_list"]
            header = cls(
                fps=fps,
                total=total,
                duration=num(meta["duration_s"]),
                t0=num(meta["t0"]),
                rotation=count(meta["rotation"], None),
                size=size,
                pts_list=None if pts is None else [count(p, None) for p in pts],
                indices=[count(i) for i in meta["indices"]],
                timestamps=[num(t) for t in meta["timestamps"]],
            )
            if not fps > 0 or len(header.timestamps) != len(header.indices):
                raise ValueError("inconsistent fps or timestamps")
            if header.pts_list is not None and len(header.pts_list) != total:
                raise ValueError("pts_list does not list every frame")
            if (meta["width"], meta["height"]) != sizing.bound_size(size):
                raise ValueError("bound size differs")
            if header.indices != _select(total, fps, rule["num_frames"], rule["max_fps"], rule["all_frames"]):
                raise ValueError("indices differ from the selection rule")
        except (KeyError, TypeError, ValueError, IndexError) as e:
            frame_cache.log.debug("frame cache: unusable meta.json (%s); rewriting the entry", e)
            return None
        return header


def _select(
    total: int, fps: float, num_frames: int | None, max_fps: float | None, all_frames: bool | None
) -> list[int]:
    if all_frames:
        return every_frame_indices(total, fps, max_fps)
    return sample_frame_indices(total, num_frames, max_fps, fps)


def _read_header(path: Path, num_frames: int | None, max_fps: float | None, all_frames: bool | None) -> _VideoHeader:
    """The header of the video at ``path`` and its bound frames, from the container and one probe frame."""
    # Header: stream, rate, frame count (demux-count when the container has none), duration.
    with _open_container(path) as container:
        if not container.streams.video:
            raise InputError(f"{path}: the file has no video stream; give a video, or use kind 'images' for pictures")
        stream = container.streams.video[0]
        tb = stream.time_base
        rate = stream.average_rate or stream.guessed_rate
        fps = float(rate) if rate else None
        total = int(stream.frames or 0)
        pts_list: list[int] | None = None
        if total <= 0:
            try:
                pts = [pk.pts for pk in container.demux(stream) if pk.size > 0]
            except (av.FFmpegError, OSError) as e:
                raise InputError(f"{path}: demuxing failed while counting frames ({e}); {RE_ENCODE_HINT}") from e
            total = len(pts)
            if pts and all(p is not None for p in pts):
                pts_list = sorted(pts)
        if total <= 0:
            raise InputError(f"{path}: the video stream holds no frames; {RE_ENCODE_HINT}")
        if stream.duration and tb:
            duration = float(stream.duration * tb)
        elif container.duration:
            duration = container.duration / av.time_base
        else:
            duration = None

    # Probe: decode the first frame once (codec works, display rotation, time of the first frame).
    with _open_container(path) as container:
        try:
            first = next(container.decode(container.streams.video[0]), None)
        except (av.FFmpegError, OSError) as e:
            raise InputError(
                f"{path}: no video frame could be decoded ({e}); the video data is missing or corrupt "
                f"(e.g. a truncated download); {RE_ENCODE_HINT}"
            ) from e
        if first is None:
            raise InputError(
                f"{path}: no video frame could be decoded (zero decodable frames: the data ends before the first "
                f"frame, e.g. a truncated download); {RE_ENCODE_HINT}"
            )
        t0 = float(first.time) if first.time is not None else 0.0
        rotation = int(round(getattr(first, "rotation", 0) or 0))
        size = (first.width, first.height) if rotation % 180 == 0 else (first.height, first.width)

    if fps is None and pts_list is not None and len(pts_list) > 1 and pts_list[-1] > pts_list[0]:
        fps = (len(pts_list) - 1) / float((pts_list[-1] - pts_list[0]) * tb)
    if fps is None or not fps > 0:
        raise InputError(f"{path}: the video's frame rate is unknown, so frames cannot be timed; {RE_ENCODE_HINT}")
    if duration is None:
        duration = total / fps

    indices = _select(total, fps, num_frames, max_fps, all_frames)
    if pts_list is not None:
        timestamps = [float((pts_list[i] - pts_list[0]) * tb) for i in indices]
    else:
        timestamps = [i / fps for i in indices]
    return _VideoHeader(
        fps=fps,
        total=total,
        duration=float(duration),
        t0=t0,
        rotation=rotation,
        size=size,
        pts_list=pts_list,
        indices=indices,
        timestamps=timestamps,
    )


def frames_note(
    num_frames: int | None, max_fps: float | None, all_frames: bool | None, total: int, bound: int
) -> str | None:
    """Why fewer frames were bound than ``num_frames`` asked for (:attr:`Metadata.notes`); None when as many were.

    ``total``: frames in the video; ``bound``: frames bound (the selection rules of :func:`sample_frame_indices`).
    The note has no ``;`` (prepare()'s summary joins the lines of a repr with ``"; "``; the host reads the notes back).
    """
    if all_frames or num_frames is None or bound >= num_frames:
        return None
    if bound >= total:
        return f"asked for {num_frames} frames, but the video has only {total}: all {total} are bound"
    rate = ""
    if max_fps is not None:
        rate = f" at most {max_fps:g} per second, but that rate gives {bound} of the video's {total}"
    return f"asked for {num_frames} frames{rate}: {bound} are bound"


_ACTIVE: Any = object()


def video_input(
    spec: Mapping[str, Any], sizing: Sizing, cache: frame_cache.FrameCache | None = _ACTIVE
) -> tuple[InputImages, Metadata]:
    """``(InputImages, Metadata)`` of a ``{"kind": "video", "path", "num_frames"?, "max_fps"?, "all_frames"?}`` spec.

    ``cache``: the persistent frame cache to use (default: :func:`frame_cache.active`, from the environment;
    None: none). With an entry for this video, selection and size, nothing of the video is opened here.
    """
    path = spec_path(spec, "path", "video", folder=False)
    num_frames, max_fps, all_frames = spec.get("num_frames"), spec.get("max_fps"), spec.get("all_frames")
    if all_frames is not None and not isinstance(all_frames, bool):
        raise InputError(f"{path}: all_frames must be true or false, got {all_frames!r}")
    if num_frames is not None and (not isinstance(num_frames, int) or isinstance(num_frames, bool) or num_frames < 1):
        raise InputError(f"{path}: num_frames must be a positive integer or null, got {num_frames!r}")
    if max_fps is not None and (not is_number(max_fps) or max_fps <= 0):
        raise InputError(f"{path}: max_fps must be a positive number or null, got {max_fps!r}")

    if cache is _ACTIVE:
        cache = frame_cache.active()
    rule = frame_cache.selection_rule(num_frames, max_fps, all_frames, default_num_frames=DEFAULT_NUM_FRAMES)
    entry = None if cache is None else cache.entry(path, rule, sizing)
    header = None
    if entry is not None:
        recorded = entry.read_meta()
        header = None if recorded is None else _VideoHeader.from_meta(recorded, sizing, rule)
    if header is None:
        header = _read_header(path, num_frames, max_fps, all_frames)
        if entry is not None:
            width, height = sizing.bound_size(header.size)
            entry.write_meta(header.to_meta(sizing), reserve=len(header.indices) * width * height)

    indices, size = header.indices, header.size
    source = VideoSource(
        path,
        fps=header.fps,
        t0=header.t0,
        rotation=header.rotation,
        pts_list=header.pts_list,
        label=f"video {path.name}",
        frame_indices=list(indices),
        timestamps=list(header.timestamps),
        original_sizes=[size] * len(indices),
        sizing=sizing,
        keep_passed=not all_frames,
        cache_limit=DENSE_CACHE_FRAMES if all_frames else None,
        cache_entry=entry,
    )
    meta = Metadata(
        kind="video",
        source=str(path),
        sources=[str(path)],
        is_video=True,
        fps=header.fps,
        total_frames=header.total,
        duration_sec=header.duration,
        num_images=len(indices),
        frame_indices=list(indices),
        timestamps=list(header.timestamps),
        image_size=sizing.bound_size(size),
        original_size=size,
        intrinsics=None,
        has_depth=False,
        crop=sizing.cropped(size),
        notes=[n for n in [frames_note(num_frames, max_fps, all_frames, header.total, len(indices))] if n],
    )
    return bind(source, meta)
