"""A persistent, cross-process cache of bound video frames: each video is decoded once per (video, frames, size).

Benchmarks ask many questions about the same video, each in a fresh kernel; without this cache every kernel
decodes the video again. With it, the first kernel writes each bound frame (at its bound size) as a lossless PNG
while it decodes, and later kernels read the PNGs: no PyAV at all, not even the container header or the probe
frame. Pixels, absolute frame indices, native fps, duration and timestamps are the same either way.

**Enabling.** ``SPATIALCLAW_FRAME_CACHE`` = a directory (created on first write; give an absolute path); unset or
empty = no cache (the default). ``SPATIALCLAW_FRAME_CACHE_MAX_MB`` = the size bound in MiB (default 4096). Both
are read once per process, on the first video bind (:func:`active`); the kernels inherit them from the host's
environment. :func:`set_active` overrides them in a process (tests, benchmarks).

**Key.** ``sha256`` (first :data:`KEY_CHARS` hex digits) of the JSON of:

* the video's identity: resolved path, size in bytes and ``st_mtime_ns``;
* the frame selection as the rule that produced the absolute indices (:func:`selection_rule`):
  ``num_frames`` / ``max_fps`` / ``all_frames``, normalised (the default 16 frames is written out, ``num_frames``
  is dropped with ``all_frames``); the indices follow from the rule and the video, and are recorded in the entry;
* the bound size: :class:`~spatial_runtime.inputs.sizing.Sizing` ``max_long_edge`` and ``mode``;
* :data:`FORMAT_VERSION` and the PyAV and Pillow versions (a new FFmpeg or Lanczos filter could change pixels).

**Layout.** ``<root>/<key>/meta.json`` ::

    {"format": 1, "key": "...", "video": "/abs/v.mp4", "size_bytes": 2380401, "mtime_ns": ...,
     "selection": {"num_frames": 16, "max_fps": null, "all_frames": false},
     "resize": {"mode": "long_edge", "max_long_edge": 768}, "av": "18.1.0", "pillow": "12.3.0",
     "native_fps": 30.0, "duration_s": 6.666..., "frame_count": 200, "indices": [0, 13, ...],
     "timestamps": [0.0, 0.433..., ...], "width": 768, "height": 432, "original_width": 960,
     "original_height": 540, "rotation": 0, "t0": 0.0, "pts_list": null, "created": "2026-12-05T10:00:00Z"}

and ``<root>/<key>/000123.png``: the bound frame of absolute index 123 (RGB, PNG ``compress_level`` 1). An entry
may hold only some of its frames (a kernel looked at only some); missing ones are decoded and added.

**Invalidation.** Editing or replacing the video changes its size or mtime, hence the key: the old entry is no
longer found and ages out. A ``meta.json`` that does not parse or does not match (format, key, identity, field
types, sizes) is ignored and rewritten; a PNG that is truncated, unreadable or of the wrong size or mode is
ignored, the frame decoded and the PNG rewritten. Cache errors (unwritable root, full disk) never reach the
kernel: reads fall back to decoding and writes are skipped.

**Concurrency.** Every file is written to a uniquely named temporary file in the same folder and moved into place
with ``os.replace`` (atomic on POSIX), so readers never see a partial file, and several kernels may fill the same
entry at once: writers of the same frame write the same bytes (deterministic decode, resize and PNG encoding),
and the last rename wins.

**Size bound (LRU).** A hit touches ``meta.json``'s mtime. When a kernel creates a new entry, the least recently
used entries (oldest ``meta.json`` mtime) are removed until the entries' total size plus an estimate of the new
entry (1 byte per bound pixel, about a level-1 PNG of video frames) fits the bound. An entry is removed by renaming
it to a hidden folder first (it disappears at once) and then deleting it; a kernel that had bound it decodes the
frames it still needs and writes them again. Only folders named like keys are ever removed. The bound is checked
when entries are created, so it can be passed while entries fill.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import re
import shutil
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import av
import PIL
from PIL import Image

from spatial_runtime.inputs.sizing import Sizing

__all__ = [
    "DEFAULT_MAX_MB",
    "ENV_MAX_MB",
    "ENV_ROOT",
    "FORMAT_VERSION",
    "CacheEntry",
    "FrameCache",
    "active",
    "from_env",
    "selection_rule",
    "set_active",
]

ENV_ROOT = "SPATIALCLAW_FRAME_CACHE"
"""Environment variable: the cache directory (unset or empty: no cache)."""
ENV_MAX_MB = "SPATIALCLAW_FRAME_CACHE_MAX_MB"
"""Environment variable: the size bound in MiB (default :data:`DEFAULT_MAX_MB`)."""
DEFAULT_MAX_MB = 4096.0
FORMAT_VERSION = 1
"""Bumped when the layout, the sampling rules or the decoding change, so old entries are no longer found."""
KEY_CHARS = 32
"""Hex digits of the sha256 kept in the key (128 bits)."""
PNG_LEVEL = 1
"""zlib level of the frame PNGs: ~24 ms to encode and ~10 ms to read a 960x540 frame, ~0.44 MB (level 6: 93 ms)."""
META = "meta.json"
_KEY_RE = re.compile(rf"[0-9a-f]{{{KEY_CHARS}}}")
_EVICTED_PREFIX = ".evicted-"
_PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"  # the IEND chunk every complete PNG ends with

log = logging.getLogger(__name__)


def selection_rule(
    num_frames: int | None, max_fps: float | None, all_frames: bool | None, *, default_num_frames: int
) -> dict[str, Any]:
    """The normalised frame-selection rule of a video spec (equal rules select the same frames of a video);
    ``default_num_frames`` is what neither ``num_frames`` nor ``max_fps`` means."""
    fps = None if max_fps is None else float(max_fps)
    if all_frames:
        return {"num_frames": None, "max_fps": fps, "all_frames": True}
    if num_frames is None and fps is None:
        num_frames = default_num_frames
    return {"num_frames": None if num_frames is None else int(num_frames), "max_fps": fps, "all_frames": False}


def _atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a unique temporary file in the same folder and ``os.replace``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def _tree_bytes(folder: str) -> int:
    total = 0
    with contextlib.suppress(OSError), os.scandir(folder) as it:
        for e in it:
            with contextlib.suppress(OSError):
                total += e.stat(follow_symlinks=False).st_size
    return total


class FrameCache:
    """The cache under ``root``, bounded to ``max_mb`` MiB (least recently used entries removed first)."""

    def __init__(self, root: str | os.PathLike[str], max_mb: float = DEFAULT_MAX_MB) -> None:
        self.root = Path(root).expanduser().resolve()
        self.max_bytes = int(max_mb * 1024 * 1024)

    def __repr__(self) -> str:
        return f"FrameCache({str(self.root)!r}, max_mb={self.max_bytes / 1024 / 1024:g})"

    def entry(self, video: Path, selection: Mapping[str, Any], sizing: Sizing) -> CacheEntry | None:
        """The entry of ``video`` (stat'ed now) bound with ``selection`` (:func:`selection_rule`) and ``sizing``,
        or None when the video cannot be stat'ed."""
        try:
            resolved = video.resolve()
            st = resolved.stat()
        except OSError:
            return None
        identity = {"video": str(resolved), "size_bytes": st.st_size, "mtime_ns": st.st_mtime_ns}
        resize = {"mode": sizing.mode, "max_long_edge": sizing.max_long_edge}
        keyed = {
            "format": FORMAT_VERSION,
            **identity,
            "selection": dict(selection),
            "resize": resize,
            "av": av.__version__,
            "pillow": PIL.__version__,
        }
        digest = hashlib.sha256(json.dumps(keyed, sort_keys=True).encode()).hexdigest()[:KEY_CHARS]
        return CacheEntry(self, digest, keyed)

    def entries(self) -> list[tuple[int, str, int]]:
        """``(last use in ns, key, bytes)`` of every entry folder, oldest first."""
        out = []
        with contextlib.suppress(OSError), os.scandir(self.root) as it:
            for e in it:
                if not _KEY_RE.fullmatch(e.name) or not e.is_dir(follow_symlinks=False):
                    continue
                stamp = 0
                try:
                    stamp = os.stat(os.path.join(e.path, META)).st_mtime_ns
                except OSError:  # no meta.json (being created, or frames written after an eviction)
                    with contextlib.suppress(OSError):
                        stamp = e.stat(follow_symlinks=False).st_mtime_ns
                out.append((stamp, e.name, _tree_bytes(e.path)))
        return sorted(out)

    def total_bytes(self) -> int:
        """Bytes held by the entries."""
        return sum(size for _, _, size in self.entries())

    def evict(self, keep: str | None = None, reserve: int = 0) -> list[str]:
        """Remove the least recently used entries (never ``keep``) until they take at most ``max_bytes - reserve``.

        Returns:
            The keys removed.
        """
        with contextlib.suppress(OSError), os.scandir(self.root) as it:  # leftovers of interrupted removals
            for e in it:
                if e.name.startswith(_EVICTED_PREFIX):
                    shutil.rmtree(e.path, ignore_errors=True)
        entries = self.entries()
        total = sum(size for _, _, size in entries)
        removed = []
        for _, key, size in entries:
            if total + reserve <= self.max_bytes:
                break
            if key == keep:
                continue
            gone = self.root / f"{_EVICTED_PREFIX}{key}.{uuid.uuid4().hex[:8]}"
            try:
                os.rename(self.root / key, gone)  # the entry disappears at once for every reader
            except OSError:
                continue  # removed by another kernel meanwhile
            shutil.rmtree(gone, ignore_errors=True)
            total -= size
            removed.append(key)
        if removed:
            log.debug("frame cache: evicted %d entries (%s)", len(removed), ", ".join(removed))
        return removed


class CacheEntry:
    """One ``<root>/<key>/`` folder: ``meta.json`` and a PNG per bound frame. Methods never raise on I/O errors."""

    def __init__(self, cache: FrameCache, key: str, keyed: Mapping[str, Any]) -> None:
        self.cache = cache
        self.key = key
        self.keyed = dict(keyed)  # what the key hashes (identity, selection, resize, versions)
        self.dir = cache.root / key
        self.writable = True  # set False after a failed write: later writes are skipped
        self.frames_read = 0
        self.frames_written = 0

    def __repr__(self) -> str:
        return f"CacheEntry({str(self.dir)!r})"

    @property
    def meta_path(self) -> Path:
        return self.dir / META

    def frame_path(self, frame_index: int) -> Path:
        """The PNG of the bound frame with absolute index ``frame_index``."""
        return self.dir / f"{frame_index:06d}.png"

    def read_meta(self) -> dict[str, Any] | None:
        """The entry's ``meta.json`` if present and matching this key (then its mtime is touched), else None.

        Only the fields the key covers are checked here; the caller validates the rest (and rewrites the entry
        when they are unusable).
        """
        try:
            meta = json.loads(self.meta_path.read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as e:
            log.debug("frame cache: unreadable %s (%s)", self.meta_path, e)
            return None
        if not isinstance(meta, dict) or meta.get("key") != self.key:
            return None
        if any(meta.get(k) != v for k, v in self.keyed.items()):
            return None
        with contextlib.suppress(OSError):
            os.utime(self.meta_path)  # last use, for the LRU bound
        return meta

    def write_meta(self, fields: Mapping[str, Any], reserve: int = 0) -> None:
        """Write ``meta.json`` (the key's fields, ``fields`` and ``created``), after evicting least recently used
        entries so that this one's ``reserve`` bytes fit the bound."""
        if not self.writable:
            return
        meta = {
            "key": self.key,
            **self.keyed,
            **fields,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        try:
            self.cache.evict(keep=self.key, reserve=reserve)
            _atomic_write(self.meta_path, json.dumps(meta).encode())
        except (OSError, ValueError, TypeError) as e:
            self.writable = False
            log.debug("frame cache: cannot write %s (%s)", self.meta_path, e)

    def read_frame(self, frame_index: int, size: tuple[int, int]) -> Image.Image | None:
        """The cached bound frame (RGB, ``size`` (W, H)), or None when absent, truncated or unusable."""
        path = self.frame_path(frame_index)
        try:
            data = path.read_bytes()
        except OSError:
            return None
        try:
            if not data.endswith(_PNG_END):
                raise ValueError("truncated (no IEND chunk)")
            img = Image.open(io.BytesIO(data), formats=["PNG"])
            if img.mode != "RGB" or img.size != tuple(size):
                raise ValueError(f"{img.mode} {img.size[0]}x{img.size[1]}, expected RGB {size[0]}x{size[1]}")
            img.load()
        except Exception as e:  # any unusable file is a miss, never an error in the kernel
            log.debug("frame cache: ignoring %s (%s)", path, e)
            return None
        self.frames_read += 1
        return img._new(img.im)  # a plain image over the pixels, without the PNG bytes

    def write_frame(self, frame_index: int, img: Image.Image) -> bool:
        """Store a bound frame (RGB) as ``<index>.png``; False when the write failed (writes then stop)."""
        if not self.writable:
            return False
        try:
            buf = io.BytesIO()
            img.save(buf, "PNG", compress_level=PNG_LEVEL)
            _atomic_write(self.frame_path(frame_index), buf.getvalue())
        except (OSError, ValueError) as e:
            self.writable = False
            log.debug("frame cache: cannot write frame %d to %s (%s)", frame_index, self.dir, e)
            return False
        self.frames_written += 1
        return True


_UNSET: Any = object()
_active: Any = _UNSET


def from_env(environ: Mapping[str, str] | None = None) -> FrameCache | None:
    """The cache configured by :data:`ENV_ROOT` and :data:`ENV_MAX_MB` in ``environ`` (default ``os.environ``)."""
    env = os.environ if environ is None else environ
    root = env.get(ENV_ROOT, "").strip()
    if not root:
        return None
    max_mb = DEFAULT_MAX_MB
    raw = env.get(ENV_MAX_MB, "").strip()
    if raw:
        try:
            max_mb = float(raw)
        except ValueError:
            log.warning("frame cache: %s=%r is not a number; using %g MiB", ENV_MAX_MB, raw, DEFAULT_MAX_MB)
    return FrameCache(root, max_mb)


def active() -> FrameCache | None:
    """The process's frame cache: from the environment on the first call (:func:`from_env`), or as set."""
    global _active
    if _active is _UNSET:
        _active = from_env()
    return _active


def set_active(cache: FrameCache | None) -> FrameCache | None:
    """Use ``cache`` (None: no cache) for the videos bound from now on; returns the previous one."""
    global _active
    previous = active()
    _active = cache
    return previous
