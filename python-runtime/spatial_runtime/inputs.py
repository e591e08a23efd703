"""Input frames for an agent kernel: videos, images and RGB-D sequences, bound as ``InputImages`` / ``Metadata``.

The host describes each input with an InputSpec (docs/kernel-protocol.md)::

    {"kind": "video",  "path": "/abs/video.mp4", "num_frames": 16, "max_fps": null}
    {"kind": "images", "path": "/abs/image.jpg or /abs/folder"}
    {"kind": "rgbd",   "path": "/abs/color_dir", "depth": "/abs/depth_dir", "camera": "/abs/camera.json",
                       "poses": "/abs/poses.txt" | null}
    {"kind": "rgbd_sample", "path": "/abs/sample_folder"}

and :func:`load_inputs` turns the specs into the names the model sees: ``InputImages`` (a lazy, list-like
collection of :class:`Frame` objects, which are PIL images that know their absolute frame index, timestamp,
metric depth and pose) and ``Metadata`` (a :class:`Metadata` record), or ``InputImages_1..N`` /
``Metadata_1..N`` for several inputs.

Libraries followed: videos are demuxed and decoded with PyAV (FFmpeg); colour images are read with Pillow
(``Image.open``, EXIF orientation applied for the ``images`` kind); 16-bit depth images are read with OpenCV
(``cv2.imread(..., IMREAD_UNCHANGED)``); RGB-D sample folders with :func:`spatial_runtime.rgbd.load_rgbd_sample`.

Conventions (docs/conventions.md): frame indices are absolute indices in the source video or sequence;
timestamps are seconds from the first frame; depth is (H, W) float32 metres along the camera z axis with
0 = invalid; intrinsics are pinhole pixels of the frames as bound (after any resize); poses are (4, 4)
camera-to-world matrices in OpenCV camera axes (x right, y down, z forward), metres.

Laziness: building the collections reads only container headers, image headers and small text files.
Pixels are decoded when a frame is first accessed and then cached (decoded frames are kept for the life of
the collection; a frame is stored once, at its bound size). For a video, :func:`load_inputs` decodes the
first frame once as a probe (to check that the codec can decode the data, and to read the display rotation
and the first timestamp) and discards it; the sampled frames are decoded on access.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import json
import math
import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, overload

import av
import cv2
import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageOps, UnidentifiedImageError

from spatial_runtime.geometry import pose_from_tum
from spatial_runtime.rgbd import SampleError, load_rgbd_sample

__all__ = ["Frame", "InputError", "InputImages", "Metadata", "load_inputs", "sample_frame_indices"]

DEFAULT_NUM_FRAMES = 16
"""Frames sampled from a video when the spec gives neither ``num_frames`` nor ``max_fps``."""

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pnm", ".gif"})
"""File name suffixes (lower case) taken as images when a folder is listed."""

KINDS = ("video", "images", "rgbd", "rgbd_sample")

_RESAMPLE = Image.Resampling.LANCZOS
_RE_ENCODE_HINT = "re-encode it, e.g. `ffmpeg -i in.mp4 -c:v libx264 -pix_fmt yuv420p out.mp4`"


class InputError(ValueError):
    """An input (video, image, folder, depth, camera JSON or poses file) cannot be used.

    The message names the offending file and says how to fix it, e.g.
    ``"/data/v.mp4: PyAV could not open this file as a video (...); is it a complete video file? ..."``.
    """


# --------------------------------------------------------------------------------------------------
# Frames
# --------------------------------------------------------------------------------------------------


class Frame(Image.Image):
    """One input frame: a PIL image (mode ``"RGB"``) that also knows where it came from.

    Everything a ``PIL.Image.Image`` does works (``.size`` is (W, H), ``.convert``, ``.resize``, ``.crop``,
    ``.save``, ``ImageDraw.Draw(frame)``, ``np.asarray(frame)`` gives an (H, W, 3) uint8 RGB array).
    Results of PIL operations that make a new image (``resize``, ``crop``, ``convert`` to another mode) are
    plain PIL images without the attributes below; ``frame.copy()`` keeps them.

    Frames handed out by :class:`InputImages` share their pixels with the collection's cache copy-on-write
    (PIL's ``readonly`` flag): drawing, ``paste`` and ``putpixel`` first copy the pixels, so the cached frame
    never changes. Writing through ``frame.load()`` pixel access needs ``frame = frame.copy()`` first.

    Attributes:
        frame_index: absolute index of the frame in its source video or sequence (int).
        timestamp: seconds from the first frame of the source video (float), or None for images and RGB-D.
        pose: (4, 4) float64 camera-to-world matrix (OpenCV camera axes, metres), or None.
    """

    frame_index: int
    timestamp: float | None
    pose: NDArray[np.float64] | None

    def __init__(self) -> None:
        super().__init__()
        self._set_extras(-1, None, None, None)

    def _set_extras(
        self,
        frame_index: int,
        timestamp: float | None,
        pose: NDArray[np.float64] | None,
        depth_loader: Callable[[], NDArray[np.float32]] | None,
    ) -> None:
        self.frame_index = int(frame_index)
        self.timestamp = None if timestamp is None else float(timestamp)
        self.pose = None if pose is None else np.array(pose, dtype=np.float64)
        self._depth_loader = depth_loader
        self._depth: NDArray[np.float32] | None = None

    @classmethod
    def _wrap(
        cls,
        img: Image.Image,
        *,
        frame_index: int,
        timestamp: float | None = None,
        pose: NDArray[np.float64] | None = None,
        depth_loader: Callable[[], NDArray[np.float32]] | None = None,
        readonly: bool = True,
    ) -> Frame:
        """A Frame over ``img``'s pixel core (no copy; ``readonly`` makes PIL copy before any write)."""
        img.load()
        frame = cls()
        frame.im = img.im
        frame._mode = img.mode
        frame._size = img.size
        frame.readonly = 1 if readonly else 0
        frame._set_extras(frame_index, timestamp, pose, depth_loader)
        return frame

    @property
    def depth(self) -> NDArray[np.float32] | None:
        """(H, W) float32 depth in metres along the camera z axis, aligned with this frame's pixels; 0 = invalid.

        None when the input has no depth (videos, images). Loaded on first access (OpenCV), then kept on this
        Frame object; each Frame object gets its own array, so editing it does not change other frames.
        """
        if self._depth is None and self._depth_loader is not None:
            self._depth = self._depth_loader()
        return self._depth

    def copy(self) -> Frame:
        """An independent, writable copy that keeps ``frame_index``, ``timestamp``, ``pose`` and ``depth``."""
        self.load()
        out = Frame._wrap(self._new(self.im.copy()), frame_index=self.frame_index, readonly=False)
        out.timestamp, out.pose = self.timestamp, None if self.pose is None else self.pose.copy()
        out._depth_loader = self._depth_loader
        out._depth = None if self._depth is None else self._depth.copy()
        return out

    __copy__ = copy

    def __getstate__(self) -> list[Any]:
        extras = {"frame_index": self.frame_index, "timestamp": self.timestamp, "pose": self.pose}
        extras["depth"] = self.depth  # materialised: the lazy loader cannot be pickled
        return [*super().__getstate__(), extras]

    def __setstate__(self, state: list[Any]) -> None:
        super().__setstate__(state[:5])
        extras = state[5] if len(state) > 5 else {}
        self._set_extras(extras.get("frame_index", -1), extras.get("timestamp"), extras.get("pose"), None)
        self._depth = extras.get("depth")

    def __repr__(self) -> str:
        t = "" if self.timestamp is None else f" t={self.timestamp:.3f}s"
        extras = " +depth" if self._depth_loader is not None or self._depth is not None else ""
        extras += " +pose" if self.pose is not None else ""
        return f"<Frame {self.frame_index}{t} {self.mode} {self.width}x{self.height}{extras}>"

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(repr(self))


# --------------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------------


def _natural_key(name: str) -> list[Any]:
    """Sort key so that ``2.png`` < ``10.png``: digit runs compare as numbers, the rest case-insensitively."""
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", name)]


def _list_images(folder: Path, what: str) -> list[Path]:
    files = [
        p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES
    ]
    if not files:
        raise InputError(
            f"{folder}: no {what + ' ' if what else ''}images in this folder "
            f"(looked for {', '.join(sorted(IMAGE_SUFFIXES))}); "
            "point the input at a folder of image files"
        )
    return sorted(files, key=lambda p: _natural_key(p.name))


def _fit_size(size: tuple[int, int], max_long_edge: int | None) -> tuple[int, int]:
    """Bound size (W, H): the long edge scaled down to ``max_long_edge`` keeping the aspect ratio; never enlarges."""
    w, h = size
    if max_long_edge is None or max(w, h) <= max_long_edge:
        return w, h
    if w >= h:
        return max_long_edge, max(1, int(h * max_long_edge / w + 0.5))
    return max(1, int(w * max_long_edge / h + 0.5)), max_long_edge


def _exif_size(img: Image.Image) -> tuple[int, int]:
    """Size (W, H) after the EXIF orientation is applied (orientations 5-8 swap width and height)."""
    w, h = img.size
    try:
        orientation = img.getexif().get(0x0112, 1)
    except Exception:  # a broken EXIF block: PIL's exif_transpose ignores it too
        orientation = 1
    return (h, w) if orientation in (5, 6, 7, 8) else (w, h)


def _fmt_seq(values: Sequence[Any], fmt: Callable[[Any], str] = str, limit: int = 10) -> str:
    if len(values) <= limit:
        return ", ".join(fmt(v) for v in values)
    head, tail = values[: limit - 3], values[-2:]
    return ", ".join(fmt(v) for v in head) + ", ..., " + ", ".join(fmt(v) for v in tail)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


# --------------------------------------------------------------------------------------------------
# Frame sources: what a collection reads from; each keeps a cache of decoded, resized frames
# --------------------------------------------------------------------------------------------------


class _FrameSource:
    """Bound frames of one input; decodes on demand and caches (PIL images at bound size, depth arrays)."""

    kind = ""

    def __init__(
        self,
        *,
        label: str,
        frame_indices: list[int],
        timestamps: list[float] | None,
        original_sizes: list[tuple[int, int]],
        max_long_edge: int | None,
        has_depth: bool = False,
        poses: NDArray[np.float64] | None = None,
    ) -> None:
        self.label = label
        self.frame_indices = frame_indices
        self.timestamps = timestamps
        self.original_sizes = original_sizes  # (W, H) per bound frame as stored in the source (after rotation)
        self.sizes = [_fit_size(s, max_long_edge) for s in original_sizes]  # (W, H) per bound frame as bound
        self.max_long_edge = max_long_edge
        self.has_depth = has_depth
        self.poses = poses
        self.frames_loaded = 0  # bound frames decoded into the cache (each at most once)
        self._cache: dict[int, Image.Image] = {}
        self._depth_cache: dict[int, NDArray[np.float32]] = {}
        self._lock = threading.RLock()

    def __len__(self) -> int:
        return len(self.frame_indices)

    def frame(self, pos: int) -> Frame:
        with self._lock:
            if pos not in self._cache:
                self._load(pos)
            img = self._cache[pos]
        loader = functools.partial(self.depth, pos) if self.has_depth else None
        pose = None if self.poses is None else self.poses[pos]
        ts = None if self.timestamps is None else self.timestamps[pos]
        return Frame._wrap(img, frame_index=self.frame_indices[pos], timestamp=ts, pose=pose, depth_loader=loader)

    def depth(self, pos: int) -> NDArray[np.float32]:
        """A fresh (H, W) float32 copy of the bound frame's depth in metres (cached after the first read)."""
        with self._lock:
            if pos not in self._depth_cache:
                self._depth_cache[pos] = self._load_depth(pos)
            return self._depth_cache[pos].copy()

    def _store(self, pos: int, img: Image.Image) -> None:
        if img.mode != "RGB":
            img = img.convert("RGB")
        target = _fit_size(img.size, self.max_long_edge)
        if img.size != target:
            img = img.resize(target, _RESAMPLE)
        img.load()
        self._cache[pos] = img
        self.sizes[pos] = img.size
        self.frames_loaded += 1

    def _resize_depth(self, depth: NDArray[np.float32], pos: int, path: Path | str) -> NDArray[np.float32]:
        ow, oh = self.original_sizes[pos]
        if depth.shape != (oh, ow):
            raise InputError(
                f"{path}: depth is {depth.shape[1]}x{depth.shape[0]} but its colour frame is {ow}x{oh} (W x H); "
                "depth and colour must be registered images of the same size"
            )
        bw, bh = _fit_size((ow, oh), self.max_long_edge)
        if (bw, bh) != (ow, oh):  # nearest neighbour: never blend depths across object boundaries
            depth = cv2.resize(depth, (bw, bh), interpolation=cv2.INTER_NEAREST_EXACT)
        return np.ascontiguousarray(depth, dtype=np.float32)

    def _load(self, pos: int) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _load_depth(self, pos: int) -> NDArray[np.float32]:  # pragma: no cover - abstract
        raise NotImplementedError


class _ImageFilesSource(_FrameSource):
    """Colour frames from image files, decoded with Pillow on access."""

    kind = "images"

    def __init__(self, files: list[Path], *, exif: bool, **kw: Any) -> None:
        super().__init__(**kw)
        self.files = files
        self.exif = exif

    def _load(self, pos: int) -> None:
        path = self.files[pos]
        try:
            with Image.open(path) as img:
                img.load()
                out = ImageOps.exif_transpose(img) if self.exif else img.copy()
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
            raise InputError(
                f"{path}: Pillow could not decode this image ({e}); the file is damaged or not an image; "
                "replace it or remove it from the input"
            ) from e
        self._store(pos, out)


class _RGBDFilesSource(_ImageFilesSource):
    """Colour image files plus registered 16-bit depth image files (OpenCV) and optional poses."""

    kind = "rgbd"

    def __init__(self, files: list[Path], depth_files: list[Path], depth_scale: float, **kw: Any) -> None:
        super().__init__(files, exif=False, has_depth=True, **kw)
        self.depth_files = depth_files
        self.depth_scale = depth_scale

    def _load_depth(self, pos: int) -> NDArray[np.float32]:
        path = self.depth_files[pos]
        raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if raw is None:
            raise InputError(f"{path}: OpenCV could not decode this depth image; replace it with a 16-bit PNG/PGM")
        if raw.ndim != 2 or raw.dtype not in (np.uint16, np.float32):
            raise InputError(
                f"{path}: depth must be a single-channel 16-bit (or float32) image, got {raw.dtype} with shape "
                f"{raw.shape}; save depth as 16-bit PNG/PGM in raw units (metres = raw / depth_scale)"
            )
        metres = raw.astype(np.float32) / np.float32(self.depth_scale)
        metres[~np.isfinite(metres) | (metres < 0)] = 0.0
        return self._resize_depth(metres, pos, path)


class _SampleSource(_FrameSource):
    """An RGB-D sample folder loaded eagerly by :func:`spatial_runtime.rgbd.load_rgbd_sample` (samples are small)."""

    kind = "rgbd_sample"

    def __init__(self, color: NDArray[np.uint8], depth: NDArray[np.float32], manifest: Path, **kw: Any) -> None:
        super().__init__(has_depth=True, **kw)
        self._color = color
        self._depth_arrays = depth
        self.manifest = manifest

    def _load(self, pos: int) -> None:
        self._store(pos, Image.fromarray(self._color[pos]))

    def _load_depth(self, pos: int) -> NDArray[np.float32]:
        return self._resize_depth(self._depth_arrays[pos].astype(np.float32), pos, self.manifest)


class _VideoSource(_FrameSource):
    """Sampled frames of a video, decoded with PyAV on access.

    A frame's absolute index is found from its presentation time: ``round((t - t0) * fps)`` (``t0`` = time of the
    first frame), or, when the frame times were listed by demuxing, its position among the sorted packet times.
    To reach a frame the decoder keeps going forward from the last decoded frame unless a keyframe lies between
    the two (found by demuxing a second handle, without decoding) or the target is behind it; then it seeks to the
    keyframe before the target (``container.seek(..., backward=True)``) and decodes forward. Every sampled frame
    passed on the way is cached too, so accessing the frames in order decodes the video at most once.
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
        **kw: Any,
    ) -> None:
        super().__init__(**kw)
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
            self._keep(vf, idx if self._cursor is None else self._cursor + 1, idx)
            self._cursor, last = idx, vf
            if idx >= target:
                return
        self._iter = None  # end of stream
        if last is not None and 0 < target - self._cursor <= self.EOF_TOLERANCE:
            self._keep(last, self._cursor + 1, target)

    def _load(self, pos: int) -> None:
        target = self.frame_indices[pos]
        try:
            self._decode_until(target)
        except (av.FFmpegError, OSError) as e:
            self._close()
            raise InputError(
                f"{self.path}: decoding failed on the way to frame {target} ({e}); the video is corrupt or "
                f"truncated; {_RE_ENCODE_HINT}"
            ) from e
        if pos not in self._cache:
            stop = "" if self._cursor is None else f" (decoding stopped at frame {self._cursor})"
            self._close()
            raise InputError(
                f"{self.path}: frame {target} could not be decoded{stop}; the header promises more frames than "
                f"the file holds, so the file is probably truncated; {_RE_ENCODE_HINT}"
            )
        if len(self._cache) == len(self.frame_indices):
            self._close()  # everything bound is cached: release the file


# --------------------------------------------------------------------------------------------------
# Public collection and metadata
# --------------------------------------------------------------------------------------------------


class InputImages(Sequence[Frame]):
    """The input frames: a read-only, list-like collection of :class:`Frame` (PIL images, RGB, uint8).

    ``len(images)``, ``images[i]`` (negative ``i`` counts from the end), iteration and ``images[a:b:c]`` work like
    a list. Slices (and lists/arrays of positions, or a boolean mask) give a new ``InputImages`` over the same
    frames that keeps their ABSOLUTE frame indices (``.frame_indices``) and timestamps, and shares the decoded
    frame cache. Positions (``images[3]``) count the bound frames; ``frame_index`` is the index in the source.

    Frames are decoded lazily, on first access (video: PyAV; images: Pillow), and cached; each access returns a
    new :class:`Frame` object over the cached pixels (copy-on-write, so editing one never changes the cache).
    """

    def __init__(self, source: _FrameSource, positions: Sequence[int] | None = None) -> None:
        self._source = source
        self._positions = list(range(len(source))) if positions is None else [int(p) for p in positions]

    def __len__(self) -> int:
        return len(self._positions)

    def _position(self, i: int) -> int:
        n = len(self._positions)
        j = i + n if i < 0 else i
        if not 0 <= j < n:
            raise IndexError(
                f"InputImages index {i} is out of range for {n} frames (valid positions {-n}..{n - 1}); "
                "positions count the bound frames; to find an absolute video/sequence index use "
                "InputImages.by_frame_index(i) or InputImages.frame_indices"
            )
        return self._positions[j]

    @overload
    def __getitem__(self, key: int) -> Frame: ...

    @overload
    def __getitem__(self, key: slice | Sequence[int] | NDArray[Any]) -> InputImages: ...

    def __getitem__(self, key: Any) -> Frame | InputImages:
        """``images[i]`` -> :class:`Frame`; ``images[a:b]``, ``images[[0, 2]]``, ``images[mask]`` -> InputImages.

        Raises:
            IndexError: a position is out of range. TypeError: the key is not an int, slice, list or array.
        """
        if isinstance(key, (int, np.integer)) and not isinstance(key, (bool, np.bool_)):
            return self._source.frame(self._position(int(key)))
        if isinstance(key, slice):
            return InputImages(self._source, self._positions[key])
        if isinstance(key, (list, tuple, np.ndarray)):
            arr = np.asarray(key)
            if arr.dtype == np.bool_:
                if arr.shape != (len(self),):
                    raise IndexError(f"boolean mask has shape {arr.shape}, expected ({len(self)},)")
                return InputImages(self._source, [p for p, keep in zip(self._positions, arr, strict=True) if keep])
            if arr.size == 0:
                return InputImages(self._source, [])
            if arr.ndim == 1 and np.issubdtype(arr.dtype, np.integer):
                return InputImages(self._source, [self._position(int(i)) for i in arr])
        raise TypeError(
            f"InputImages indices must be int, slice, a list of ints or a bool mask, not {type(key).__name__}"
        )

    def __iter__(self) -> Iterator[Frame]:
        for p in self._positions:
            yield self._source.frame(p)

    @property
    def frame_indices(self) -> list[int]:
        """Absolute frame index of each frame in its source video or sequence (list[int], ascending for inputs)."""
        return [self._source.frame_indices[p] for p in self._positions]

    @property
    def timestamps(self) -> list[float] | None:
        """Seconds from the first frame of the video, per frame (list[float]); None for images and RGB-D."""
        ts = self._source.timestamps
        return None if ts is None else [ts[p] for p in self._positions]

    @property
    def image_size(self) -> tuple[int, int] | None:
        """(W, H) in pixels shared by all frames as bound (after any resize), or None if sizes differ or empty."""
        sizes = {self._source.sizes[p] for p in self._positions}
        return next(iter(sizes)) if len(sizes) == 1 else None

    @property
    def has_depth(self) -> bool:
        """True when every frame has ``.depth`` (RGB-D inputs)."""
        return self._source.has_depth

    def by_frame_index(self, frame_index: int) -> Frame:
        """The frame whose ABSOLUTE index is ``frame_index``.

        Raises:
            KeyError: no frame with that index is in this collection (the message lists the bound indices).
        """
        for p in self._positions:
            if self._source.frame_indices[p] == frame_index:
                return self._source.frame(p)
        raise KeyError(
            f"frame index {frame_index} is not among the bound frames (frame_indices: {_fmt_seq(self.frame_indices)})"
        )

    def __repr__(self) -> str:
        n = len(self)
        parts = [f"{n} frame{'s' if n != 1 else ''}"]
        if n:
            idx = self.frame_indices
            parts.append(f"indices {idx[0]}..{idx[-1]}" if n > 1 else f"index {idx[0]}")
            size = self.image_size
            parts.append(f"{size[0]}x{size[1]}" if size else "mixed sizes")
        extras = [
            name for name, on in (("depth", self._source.has_depth), ("poses", self._source.poses is not None)) if on
        ]
        parts.append(self._source.label + (f" (+{', '.join(extras)})" if extras else ""))
        return f"InputImages({', '.join(parts)})"

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(repr(self))


@dataclass(frozen=True, eq=False, repr=False)
class Metadata:
    """What is known about one input, as bound in the kernel.

    Attributes:
        kind: ``"video"``, ``"images"``, ``"rgbd"`` or ``"rgbd_sample"``.
        source: the input path as given (video file, image file or folder, colour folder, sample folder).
        sources: the files the frames come from (list[str]): ``[video]``, the image files in natural-sort
            order, or the colour files of an RGB-D input.
        is_video: True for videos.
        fps: frames per second of the video stream (float), None for images and RGB-D.
        total_frames: frames in the whole source (video: from the stream header, or counted by demuxing).
        duration_sec: video duration in seconds (float), None for images and RGB-D.
        num_images: number of frames bound in ``InputImages``.
        frame_indices: absolute index of each bound frame (list[int]).
        timestamps: seconds from the first video frame for each bound frame (list[float]), None otherwise.
        image_size: (W, H) pixels of the bound frames (after resize), None if the frames differ in size.
        original_size: (W, H) pixels of the frames in the source (video after display rotation), or None.
        intrinsics: ``{"fx", "fy", "cx", "cy"}`` pinhole intrinsics in pixels OF THE BOUND FRAMES, or None.
        has_depth: True when every frame has ``.depth`` ((H, W) float32 metres, 0 = invalid).
        poses: (N, 4, 4) float64 camera-to-world matrices of the bound frames (OpenCV camera axes: x right,
            y down, z forward; metres), or None.
    """

    kind: str
    source: str
    sources: list[str]
    is_video: bool
    fps: float | None
    total_frames: int
    duration_sec: float | None
    num_images: int
    frame_indices: list[int]
    timestamps: list[float] | None
    image_size: tuple[int, int] | None
    original_size: tuple[int, int] | None
    intrinsics: dict[str, float] | None
    has_depth: bool
    poses: NDArray[np.float64] | None = field(default=None)

    @property
    def K(self) -> NDArray[np.float64] | None:  # noqa: N802 - the conventional name of the intrinsics matrix
        """(3, 3) float64 pinhole matrix ``[[fx, 0, cx], [0, fy, cy], [0, 0, 1]]`` of the bound frames, or None."""
        if self.intrinsics is None:
            return None
        i = self.intrinsics
        return np.array([[i["fx"], 0.0, i["cx"]], [0.0, i["fy"], i["cy"]], [0.0, 0.0, 1.0]])

    @property
    def resized(self) -> bool:
        """True when the bound frames are smaller than the source frames (full field of view kept, never cropped)."""
        return self.image_size is not None and self.original_size is not None and self.image_size != self.original_size

    def __repr__(self) -> str:
        def wh(size: tuple[int, int] | None) -> str:
            return "mixed sizes" if size is None else f"{size[0]}x{size[1]}"

        lines = [f"Metadata({self.kind} {self.source})"]
        if self.is_video:
            dur = "unknown duration" if self.duration_sec is None else f"{self.duration_sec:.2f} s"
            fps = "unknown fps" if self.fps is None else f"{self.fps:g} fps"
            lines.append(f"  video: {self.total_frames} frames, {fps}, {dur}, {wh(self.original_size)} (W x H)")
        else:
            what = ("image" if self.kind == "images" else "frame") + ("s" if self.total_frames != 1 else "")
            lines.append(f"  source: {self.total_frames} {what}, {wh(self.original_size)} (W x H)")
        size = wh(self.image_size)
        if self.resized:
            size += f" (resized from {wh(self.original_size)}, full field of view)"
        lines.append(f"  bound: {self.num_images} frame{'s' if self.num_images != 1 else ''}, {size}")
        lines.append(f"  frame_indices: {_fmt_seq(self.frame_indices)}")
        if self.timestamps is not None:
            lines.append(f"  timestamps (s): {_fmt_seq(self.timestamps, lambda t: f'{t:.3f}')}")
        if self.intrinsics is None:
            lines.append("  intrinsics: unknown")
        else:
            i = self.intrinsics
            lines.append(
                f"  intrinsics (pixels of bound frames): fx={i['fx']:.2f} fy={i['fy']:.2f} "
                f"cx={i['cx']:.2f} cy={i['cy']:.2f}"
            )
        lines.append(
            "  depth: " + ("yes, frame.depth is (H, W) float32 metres, 0 = invalid" if self.has_depth else "no")
        )
        if self.poses is None:
            lines.append("  poses: none")
        else:
            lines.append(f"  poses: {tuple(self.poses.shape)} camera-to-world, OpenCV axes, metres")
        return "\n".join(lines)

    __str__ = __repr__

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(repr(self))


# --------------------------------------------------------------------------------------------------
# Sampling
# --------------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------------


def _spec_path(spec: Mapping[str, Any], key: str, what: str, *, folder: bool | None) -> Path:
    value = spec.get(key)
    kind = spec.get("kind")
    if not isinstance(value, str) or not value:
        raise InputError(f"input spec {dict(spec)!r}: kind {kind!r} needs {key!r}, the path of the {what}")
    path = Path(value).expanduser().absolute()  # lazy decoding must survive a later os.chdir
    if not path.exists():
        raise InputError(f"{path}: {what} not found; check the {key!r} path of the {kind!r} input")
    if folder is True and not path.is_dir():
        raise InputError(f"{path}: expected a folder of {what} for the {kind!r} input, got a file")
    if folder is False and not path.is_file():
        raise InputError(f"{path}: expected a {what} file for the {kind!r} input, got a folder")
    return path


def _scaled_intrinsics(
    intr: Mapping[str, float], original: tuple[int, int], bound: tuple[int, int]
) -> dict[str, float]:
    # Pixel coordinates have their origin at the centre of the top-left pixel (docs/conventions.md), so a
    # resize by s maps u to (u + 0.5) * s - 0.5: the image edges (-0.5 and W - 0.5) stay on the edges.
    sx, sy = bound[0] / original[0], bound[1] / original[1]
    return {
        "fx": intr["fx"] * sx,
        "fy": intr["fy"] * sy,
        "cx": (intr["cx"] + 0.5) * sx - 0.5,
        "cy": (intr["cy"] + 0.5) * sy - 0.5,
    }


def _common(sizes: Sequence[tuple[int, int]]) -> tuple[int, int] | None:
    unique = set(sizes)
    return next(iter(unique)) if len(unique) == 1 else None


def _open_container(path: Path) -> Any:
    try:
        return av.open(str(path))
    except (av.FFmpegError, OSError, UnicodeDecodeError) as e:
        raise InputError(
            f"{path}: PyAV could not open this file as a video ({e}); is it a complete, uncorrupted video "
            f"(MP4/MOV/MKV/WebM/AVI)? A download may have been cut short; {_RE_ENCODE_HINT}"
        ) from e


def _load_video(spec: Mapping[str, Any], max_long_edge: int | None) -> tuple[InputImages, Metadata]:
    path = _spec_path(spec, "path", "video", folder=False)
    num_frames, max_fps = spec.get("num_frames"), spec.get("max_fps")
    if num_frames is not None and (not isinstance(num_frames, int) or isinstance(num_frames, bool) or num_frames < 1):
        raise InputError(f"{path}: num_frames must be a positive integer or null, got {num_frames!r}")
    if max_fps is not None and (not _number(max_fps) or max_fps <= 0):
        raise InputError(f"{path}: max_fps must be a positive number or null, got {max_fps!r}")

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
                raise InputError(f"{path}: demuxing failed while counting frames ({e}); {_RE_ENCODE_HINT}") from e
            total = len(pts)
            if pts and all(p is not None for p in pts):
                pts_list = sorted(pts)
        if total <= 0:
            raise InputError(f"{path}: the video stream holds no frames; {_RE_ENCODE_HINT}")
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
                f"(e.g. a truncated download); {_RE_ENCODE_HINT}"
            ) from e
        if first is None:
            raise InputError(
                f"{path}: no video frame could be decoded (zero decodable frames: the data ends before the first "
                f"frame, e.g. a truncated download); {_RE_ENCODE_HINT}"
            )
        t0 = float(first.time) if first.time is not None else 0.0
        rotation = int(round(getattr(first, "rotation", 0) or 0))
        size = (first.width, first.height) if rotation % 180 == 0 else (first.height, first.width)

    if fps is None and pts_list is not None and len(pts_list) > 1 and pts_list[-1] > pts_list[0]:
        fps = (len(pts_list) - 1) / float((pts_list[-1] - pts_list[0]) * tb)
    if fps is None or not fps > 0:
        raise InputError(f"{path}: the video's frame rate is unknown, so frames cannot be timed; {_RE_ENCODE_HINT}")
    if duration is None:
        duration = total / fps

    indices = sample_frame_indices(total, num_frames, max_fps, fps)
    if pts_list is not None:
        timestamps = [float((pts_list[i] - pts_list[0]) * tb) for i in indices]
    else:
        timestamps = [i / fps for i in indices]
    source = _VideoSource(
        path,
        fps=fps,
        t0=t0,
        rotation=rotation,
        pts_list=pts_list,
        label=f"video {path.name}",
        frame_indices=indices,
        timestamps=timestamps,
        original_sizes=[size] * len(indices),
        max_long_edge=max_long_edge,
    )
    meta = Metadata(
        kind="video",
        source=str(path),
        sources=[str(path)],
        is_video=True,
        fps=fps,
        total_frames=total,
        duration_sec=duration,
        num_images=len(indices),
        frame_indices=list(indices),
        timestamps=list(timestamps),
        image_size=_fit_size(size, max_long_edge),
        original_size=size,
        intrinsics=None,
        has_depth=False,
    )
    return InputImages(source), meta


def _image_sizes(files: Sequence[Path], what: str, *, exif: bool) -> list[tuple[int, int]]:
    sizes = []
    for f in files:
        try:
            with Image.open(f) as img:
                sizes.append(_exif_size(img) if exif else img.size)
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
            raise InputError(
                f"{f}: Pillow could not read this {what} image ({e}); replace it with a valid PNG/JPEG/PGM file "
                "or remove it from the folder"
            ) from e
    return sizes


def _load_images(spec: Mapping[str, Any], max_long_edge: int | None) -> tuple[InputImages, Metadata]:
    path = _spec_path(spec, "path", "image file or folder", folder=None)
    files = _list_images(path, "") if path.is_dir() else [path]
    sizes = _image_sizes(files, "input", exif=True)
    n = len(files)
    source = _ImageFilesSource(
        files,
        exif=True,
        label=f"images {path.name}" if path.is_dir() else f"image {path.name}",
        frame_indices=list(range(n)),
        timestamps=None,
        original_sizes=sizes,
        max_long_edge=max_long_edge,
    )
    meta = Metadata(
        kind="images",
        source=str(path),
        sources=[str(f) for f in files],
        is_video=False,
        fps=None,
        total_frames=n,
        duration_sec=None,
        num_images=n,
        frame_indices=list(range(n)),
        timestamps=None,
        image_size=_common(source.sizes),
        original_size=_common(sizes),
        intrinsics=None,
        has_depth=False,
    )
    return InputImages(source), meta


def _read_camera(path: Path) -> dict[str, Any]:
    """Parse a camera JSON ``{"fx", "fy", "cx", "cy"}`` (pixels), optional ``depth_scale``, ``width``, ``height``."""
    usage = (
        'the camera JSON needs {"fx": .., "fy": .., "cx": .., "cy": ..} in pixels (optional depth_scale, width, height)'
    )
    try:
        cam = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: not valid JSON ({e}); {usage}") from e
    if not isinstance(cam, dict):
        raise InputError(f"{path}: expected a JSON object, got {type(cam).__name__}; {usage}")
    intr = cam["intrinsics"] if "fx" not in cam and isinstance(cam.get("intrinsics"), dict) else cam
    missing = [k for k in ("fx", "fy", "cx", "cy") if k not in intr]
    if missing:
        raise InputError(f"{path}: missing {', '.join(missing)}; {usage}")
    bad = [k for k in ("fx", "fy", "cx", "cy") if not _number(intr[k])]
    if bad:
        raise InputError(f"{path}: {', '.join(bad)} must be numbers (pixels); {usage}")
    if intr["fx"] <= 0 or intr["fy"] <= 0:
        raise InputError(f"{path}: fx and fy must be positive focal lengths in pixels, got {intr['fx']}, {intr['fy']}")
    scale = cam.get("depth_scale", 1000.0)
    if not _number(scale) or scale <= 0:
        raise InputError(f"{path}: depth_scale must be a positive number (raw depth units per metre), got {scale!r}")
    out: dict[str, Any] = {k: float(intr[k]) for k in ("fx", "fy", "cx", "cy")}
    out["depth_scale"] = float(scale)
    for k in ("width", "height"):
        v = cam.get(k)
        if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v <= 0):
            raise InputError(f"{path}: {k} must be a positive integer (pixels), got {v!r}")
        out[k] = v
    return out


def _read_poses(path: Path, n: int) -> NDArray[np.float64]:
    """Parse a TUM-order poses file: one ``[timestamp] tx ty tz qx qy qz qw`` line per frame, camera-to-world."""
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: cannot read the poses file ({e})") from e
    rows = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) == 8:  # a leading timestamp column, ignored
            parts = parts[1:]
        if len(parts) != 7:
            raise InputError(
                f"{path}:{lineno}: expected 7 numbers 'tx ty tz qx qy qz qw' (camera-to-world, TUM order, optionally "
                f"after a timestamp), got {len(parts)}; fix this line"
            )
        try:
            values = [float(x) for x in parts]
        except ValueError as e:
            raise InputError(f"{path}:{lineno}: not a number ({e}); each line is 'tx ty tz qx qy qz qw'") from e
        if not all(math.isfinite(v) for v in values) or np.linalg.norm(values[3:]) < 1e-12:
            raise InputError(f"{path}:{lineno}: poses need finite numbers and a non-zero quaternion 'qx qy qz qw'")
        rows.append(pose_from_tum(*values))
    if len(rows) != n:
        raise InputError(
            f"{path}: {len(rows)} poses for {n} frames; the poses file needs exactly one line per frame, in the "
            "order of the sorted colour file names"
        )
    return np.stack(rows).astype(np.float64)


def _load_rgbd(spec: Mapping[str, Any], max_long_edge: int | None) -> tuple[InputImages, Metadata]:
    color_dir = _spec_path(spec, "path", "colour images", folder=True)
    depth_dir = _spec_path(spec, "depth", "depth images", folder=True)
    camera_path = _spec_path(spec, "camera", "camera JSON", folder=False)
    color_files = _list_images(color_dir, "colour")
    depth_files = _list_images(depth_dir, "depth")
    if len(color_files) != len(depth_files):
        raise InputError(
            f"{depth_dir}: {len(depth_files)} depth images for {len(color_files)} colour images in {color_dir}; "
            "each colour frame needs exactly one depth image (matched by sorted file name)"
        )
    cam = _read_camera(camera_path)
    color_sizes = _image_sizes(color_files, "colour", exif=False)
    depth_sizes = _image_sizes(depth_files, "depth", exif=False)
    for cf, df, cs, ds in zip(color_files, depth_files, color_sizes, depth_sizes, strict=True):
        if cs != ds:
            raise InputError(
                f"{df}: depth is {ds[0]}x{ds[1]} but colour {cf.name} is {cs[0]}x{cs[1]} (W x H); depth must be "
                "registered to the colour image at the same size"
            )
    size = _common(color_sizes)
    if size is None:
        raise InputError(
            f"{color_dir}: colour images differ in size ({sorted(set(color_sizes))}); one camera needs one size"
        )
    for k, actual in (("width", size[0]), ("height", size[1])):
        if cam[k] is not None and cam[k] != actual:
            raise InputError(
                f"{camera_path}: {k} is {cam[k]} but the colour images are {size[0]}x{size[1]}; the intrinsics must "
                f"describe these images (fix {k}, or rescale the intrinsics)"
            )
    n = len(color_files)
    poses_value = spec.get("poses")
    poses = None
    if poses_value:
        poses = _read_poses(_spec_path(spec, "poses", "poses file", folder=False), n)
    source = _RGBDFilesSource(
        color_files,
        depth_files,
        cam["depth_scale"],
        label=f"rgbd {color_dir.name}",
        frame_indices=list(range(n)),
        timestamps=None,
        original_sizes=color_sizes,
        max_long_edge=max_long_edge,
        poses=poses,
    )
    bound = source.sizes[0]
    meta = Metadata(
        kind="rgbd",
        source=str(color_dir),
        sources=[str(f) for f in color_files],
        is_video=False,
        fps=None,
        total_frames=n,
        duration_sec=None,
        num_images=n,
        frame_indices=list(range(n)),
        timestamps=None,
        image_size=bound,
        original_size=size,
        intrinsics=_scaled_intrinsics(cam, size, bound),
        has_depth=True,
        poses=poses,
    )
    return InputImages(source), meta


def _load_rgbd_sample(spec: Mapping[str, Any], max_long_edge: int | None) -> tuple[InputImages, Metadata]:
    folder = _spec_path(spec, "path", "RGB-D sample folder", folder=True)
    try:
        sample = load_rgbd_sample(folder)
        manifest = json.loads((folder / "sample.json").read_text())
    except (FileNotFoundError, SampleError) as e:
        msg = str(e)
        raise InputError(msg if str(folder) in msg else f"{folder}: {msg}") from e
    except ValueError as e:  # e.g. a zero quaternion in the poses file
        raise InputError(f"{folder}: invalid RGB-D sample ({e}); see docs/data-formats.md") from e
    n = sample.num_frames
    h, w = sample.color.shape[1:3]
    size = (int(w), int(h))
    indices = [int(i) for i in sample.frame_indices]
    source = _SampleSource(
        sample.color,
        sample.depth,
        folder / "sample.json",
        label=f"rgbd_sample {folder.name}",
        frame_indices=indices,
        timestamps=None,
        original_sizes=[size] * n,
        max_long_edge=max_long_edge,
        poses=sample.poses,
    )
    bound = source.sizes[0]
    K = sample.K
    intr = {"fx": float(K[0, 0]), "fy": float(K[1, 1]), "cx": float(K[0, 2]), "cy": float(K[1, 2])}
    meta = Metadata(
        kind="rgbd_sample",
        source=str(folder),
        sources=[str(folder / c) for c in manifest["color"]],
        is_video=False,
        fps=None,
        total_frames=n,
        duration_sec=None,
        num_images=n,
        frame_indices=indices,
        timestamps=None,
        image_size=bound,
        original_size=size,
        intrinsics=_scaled_intrinsics(intr, size, bound),
        has_depth=True,
        poses=sample.poses,
    )
    return InputImages(source), meta


_LOADERS: dict[str, Callable[[Mapping[str, Any], int | None], tuple[InputImages, Metadata]]] = {
    "video": _load_video,
    "images": _load_images,
    "rgbd": _load_rgbd,
    "rgbd_sample": _load_rgbd_sample,
}


def load_inputs(
    specs: Sequence[Mapping[str, Any]] | Mapping[str, Any], max_long_edge: int | None = None
) -> dict[str, object]:
    """Build the kernel's input names from InputSpecs (docs/kernel-protocol.md).

    Args:
        specs: a list of InputSpec dicts (a single dict is taken as a one-element list):
            ``{"kind": "video", "path", "num_frames"?, "max_fps"?}`` (sampling rule: :func:`sample_frame_indices`),
            ``{"kind": "images", "path"}`` (one image file, or a folder: images in natural file-name order),
            ``{"kind": "rgbd", "path", "depth", "camera", "poses"?}`` (colour folder, depth folder with 16-bit
            PNG/PGM, metres = raw / depth_scale (default 1000, or camera JSON ``depth_scale``), camera JSON
            ``{"fx", "fy", "cx", "cy"}`` pixels with optional ``depth_scale``, ``width``, ``height``; poses file with
            one ``[timestamp] tx ty tz qx qy qz qw`` camera-to-world line per frame; frames pair by sorted name),
            ``{"kind": "rgbd_sample", "path"}`` (a folder with ``sample.json``; loaded eagerly with
            :func:`spatial_runtime.rgbd.load_rgbd_sample`, since samples are small).
        max_long_edge: if set, frames whose long edge is larger are resized (Pillow, Lanczos) so the long edge equals
            it, keeping the aspect ratio and the whole field of view (never cropped); depth is resized with nearest
            neighbour (OpenCV ``INTER_NEAREST_EXACT``) and intrinsics are scaled to match: ``fx' = fx * sx``,
            ``cx' = (cx + 0.5) * sx - 0.5`` with ``sx = new_w / old_w`` (pixel centres at integer coordinates),
            likewise ``fy``, ``cy`` with ``sy = new_h / old_h``. Smaller frames are left as they are.

    Returns:
        ``{"InputImages": InputImages, "Metadata": Metadata}`` for one spec; ``{"InputImages_1": ...,
        "Metadata_1": ..., "InputImages_2": ..., ...}`` (1-based) for several; ``{}`` for none.

    Raises:
        InputError: any unusable input, with one message naming the file and the fix: a missing file or folder,
            a file that is not a video or has no decodable frames, an unreadable image, a folder without images,
            a depth/colour count or size mismatch, a malformed camera JSON, a malformed poses file or a poses count
            that differs from the frame count, or a malformed spec.
    """
    if isinstance(specs, Mapping):
        specs = [specs]
    if max_long_edge is not None and (
        not isinstance(max_long_edge, (int, np.integer)) or isinstance(max_long_edge, bool) or max_long_edge < 1
    ):
        raise InputError(f"max_long_edge must be a positive integer (pixels) or None, got {max_long_edge!r}")
    mle = None if max_long_edge is None else int(max_long_edge)
    loaded = []
    for spec in specs:
        if not isinstance(spec, Mapping):
            raise InputError(f"input spec must be an object like {{'kind': 'video', 'path': ...}}, got {spec!r}")
        kind = spec.get("kind")
        if kind not in _LOADERS:
            raise InputError(f"input spec {dict(spec)!r}: unknown kind {kind!r}; use one of {', '.join(KINDS)}")
        loaded.append(_LOADERS[kind](spec, mle))
    if len(loaded) == 1:
        return {"InputImages": loaded[0][0], "Metadata": loaded[0][1]}
    out: dict[str, object] = {}
    for i, (images, meta) in enumerate(loaded, start=1):
        out[f"InputImages_{i}"] = images
        out[f"Metadata_{i}"] = meta
    return out
