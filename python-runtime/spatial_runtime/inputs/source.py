"""Frame sources: what an :class:`~spatial_runtime.inputs.frames.InputImages` reads its frames from.

A source holds the bound frames of one input (their absolute frame indices, timestamps, sizes, poses), decodes a
frame on first access, brings it to its bound size (:class:`~spatial_runtime.inputs.sizing.Sizing`: shrunk to a
long edge, or cropped and resized to the paper's grid) and caches it (PIL images at bound size; depth arrays in
metres). A source may cap its cache (``cache_limit``: the least recently used frames are dropped and decoded again
when needed). Subclasses: image files (:mod:`.images`), RGB-D folders and samples (:mod:`.rgbd`), videos
(:mod:`.video`). :func:`bind` attaches the input's :class:`~spatial_runtime.inputs.frames.Metadata` to its
source and returns the pair the loaders return.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from spatial_runtime.inputs.common import InputError, common_size
from spatial_runtime.inputs.frames import Frame, InputImages, Metadata
from spatial_runtime.inputs.sizing import Sizing

__all__ = ["FrameSource", "bind", "still_metadata"]


class FrameSource:
    """Bound frames of one input; decodes on demand and caches (PIL images at bound size, depth arrays)."""

    kind = ""

    def __init__(
        self,
        *,
        label: str,
        frame_indices: list[int],
        timestamps: list[float] | None,
        original_sizes: list[tuple[int, int]],
        sizing: Sizing,
        has_depth: bool = False,
        poses: NDArray[np.float64] | None = None,
        cache_limit: int | None = None,
    ) -> None:
        self.label = label
        self.frame_indices = frame_indices
        self.timestamps = timestamps
        self.original_sizes = original_sizes  # (W, H) per bound frame as stored in the source (after rotation)
        self.sizing = sizing
        self.sizes = [sizing.bound_size(s) for s in original_sizes]  # (W, H) per bound frame as bound
        self.has_depth = has_depth
        self.poses = poses
        self.metadata: Metadata | None = None  # the input's Metadata, set by bind()
        self.frames_loaded = (
            0  # bound frames decoded (or read from the frame cache) into the cache, once unless evicted
        )
        self.cache_limit = cache_limit  # most frames kept in the cache (None: all), least recently used out first
        self._cache: dict[int, Image.Image] = {}
        self._depth_cache: dict[int, NDArray[np.float32]] = {}
        self._lock = threading.RLock()

    @property
    def max_long_edge(self) -> int | None:
        """The long edge frames are bound at (None: native size)."""
        return self.sizing.max_long_edge

    def __len__(self) -> int:
        return len(self.frame_indices)

    def frame(self, pos: int) -> Frame:
        with self._lock:
            if pos not in self._cache:
                self._load(pos)
            img = self._cache[pos]
            if self.cache_limit is not None:  # most recently used last
                self._cache[pos] = self._cache.pop(pos)
        loader = functools.partial(self.depth, pos) if self.has_depth else None
        pose = None if self.poses is None else self.poses[pos]
        ts = None if self.timestamps is None else self.timestamps[pos]
        return Frame._wrap(
            img, frame_index=self.frame_indices[pos], timestamp=ts, pose=pose, depth_loader=loader, source=self
        )

    def depth(self, pos: int) -> NDArray[np.float32]:
        """A fresh (H, W) float32 copy of the bound frame's depth in metres (cached after the first read)."""
        with self._lock:
            if pos not in self._depth_cache:
                self._depth_cache[pos] = self._load_depth(pos)
            return self._depth_cache[pos].copy()

    def _store(self, pos: int, img: Image.Image, *, bound: bool = False) -> None:
        """Cache ``img`` as bound frame ``pos``: converted to RGB and brought to its bound size, unless ``bound``
        (``img`` is already the RGB frame at its bound size, e.g. read from the video frame cache)."""
        if not bound:
            if img.mode != "RGB":
                img = img.convert("RGB")
            img = self.sizing.apply(img)
        img.load()
        self._cache[pos] = img
        self.sizes[pos] = img.size
        self.frames_loaded += 1
        if self.cache_limit is not None:
            while len(self._cache) > max(1, self.cache_limit):
                self._cache.pop(next(iter(self._cache)))

    def _resize_depth(self, depth: NDArray[np.float32], pos: int, path: Path | str) -> NDArray[np.float32]:
        ow, oh = self.original_sizes[pos]
        if depth.shape != (oh, ow):
            raise InputError(
                f"{path}: depth is {depth.shape[1]}x{depth.shape[0]} but its colour frame is {ow}x{oh} (W x H); "
                "depth and colour must be registered images of the same size"
            )
        return self.sizing.apply_depth(depth)

    def _load(self, pos: int) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _load_depth(self, pos: int) -> NDArray[np.float32]:  # pragma: no cover - abstract
        raise NotImplementedError


def bind(source: FrameSource, metadata: Metadata) -> tuple[InputImages, Metadata]:
    """``(InputImages over all of source's frames, metadata)``, after recording ``metadata`` on the source."""
    source.metadata = metadata
    return InputImages(source), metadata


def still_metadata(
    kind: str,
    source: FrameSource,
    path: Path,
    sources: Sequence[str],
    original_size: tuple[int, int] | None,
    *,
    intrinsics: dict[str, float] | None = None,
) -> Metadata:
    """The :class:`Metadata` of an input without time (images, RGB-D): no fps, duration or timestamps; every
    frame of the source is bound, at the source's bound sizes.

    Args:
        kind: ``"images"``, ``"rgbd"`` or ``"rgbd_sample"``.
        source: the input's frame source (frame indices, bound sizes, depth, poses).
        path: the input path as given; sources: the files the frames come from.
        original_size: (W, H) of the frames in the source, or None when they differ.
        intrinsics: ``{"fx", "fy", "cx", "cy"}`` pixels of the BOUND frames, or None.
    """
    n = len(source)
    return Metadata(
        kind=kind,
        source=str(path),
        sources=list(sources),
        is_video=False,
        fps=None,
        total_frames=n,
        duration_sec=None,
        num_images=n,
        frame_indices=list(source.frame_indices),
        timestamps=None,
        image_size=common_size(source.sizes),
        original_size=original_size,
        intrinsics=intrinsics,
        has_depth=source.has_depth,
        poses=source.poses,
        crop=None if original_size is None else source.sizing.cropped(original_size),
    )
