"""The input types the model sees: :class:`Frame`, :class:`InputImages` and :class:`Metadata`.

Conventions (docs/conventions.md): frame indices are ABSOLUTE indices in the source video or sequence;
timestamps are seconds from the first frame; depth is (H, W) float32 metres along the camera z axis with
0 = invalid; intrinsics are pinhole pixels of the frames as bound (after any resize); poses are (4, 4)
camera-to-world matrices in OpenCV camera axes (x right, y down, z forward), metres.

The pixels come from a frame source (:class:`spatial_runtime.inputs.source.FrameSource` and its subclasses),
which decodes lazily and caches; every :class:`Frame` and :class:`InputImages` knows its source, and the source
knows the input's :class:`Metadata` (set when the input is loaded).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, overload

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from spatial_runtime.inputs.common import fmt_seq

if TYPE_CHECKING:
    from spatial_runtime.inputs.source import FrameSource

__all__ = ["Frame", "InputImages", "Metadata"]


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
        source: FrameSource | None = None,
    ) -> None:
        self.frame_index = int(frame_index)
        self.timestamp = None if timestamp is None else float(timestamp)
        self.pose = None if pose is None else np.array(pose, dtype=np.float64)
        self._depth_loader = depth_loader
        self._depth: NDArray[np.float32] | None = None
        self._source = source  # the frame source of the input this frame was bound from (None once pickled)

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
        source: FrameSource | None = None,
    ) -> Frame:
        """A Frame over ``img``'s pixel core (no copy; ``readonly`` makes PIL copy before any write)."""
        img.load()
        frame = cls()
        frame.im = img.im
        frame._mode = img.mode
        frame._size = img.size
        frame.readonly = 1 if readonly else 0
        frame._set_extras(frame_index, timestamp, pose, depth_loader, source)
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
        out = Frame._wrap(self._new(self.im.copy()), frame_index=self.frame_index, readonly=False, source=self._source)
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


class InputImages(Sequence[Frame]):
    """The input frames: a read-only, list-like collection of :class:`Frame` (PIL images, RGB, uint8).

    ``len(images)``, ``images[i]`` (negative ``i`` counts from the end), iteration and ``images[a:b:c]`` work like
    a list. Slices (and lists/arrays of positions, or a boolean mask) give a new ``InputImages`` over the same
    frames that keeps their ABSOLUTE frame indices (``.frame_indices``) and timestamps, and shares the decoded
    frame cache. Positions (``images[3]``) count the bound frames; ``frame_index`` is the index in the source.

    Frames are decoded lazily, on first access (video: PyAV; images: Pillow), and cached; each access returns a
    new :class:`Frame` object over the cached pixels (copy-on-write, so editing one never changes the cache).
    """

    def __init__(self, source: FrameSource, positions: Sequence[int] | None = None) -> None:
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

    @property
    def metadata(self) -> Metadata | None:
        """The :class:`Metadata` of the input these frames come from (also for a slice), or None if unknown."""
        return self._source.metadata

    def by_frame_index(self, frame_index: int) -> Frame:
        """The frame whose ABSOLUTE index is ``frame_index``.

        Raises:
            KeyError: no frame with that index is in this collection (the message lists the bound indices).
        """
        for p in self._positions:
            if self._source.frame_indices[p] == frame_index:
                return self._source.frame(p)
        raise KeyError(
            f"frame index {frame_index} is not among the bound frames (frame_indices: {fmt_seq(self.frame_indices)})"
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
        crop: (x0, y0, width, height) of the part of each source frame that was kept before resizing, in source
            pixels, or None when the frames were not cropped (the default resize never crops; the paper profile's
            resize crops to the nearest of six aspect ratios, docs/paper-parity.md row 1).
        intrinsics: ``{"fx", "fy", "cx", "cy"}`` pinhole intrinsics in pixels OF THE BOUND FRAMES, or None.
        has_depth: True when every frame has ``.depth`` ((H, W) float32 metres, 0 = invalid).
        poses: (N, 4, 4) float64 camera-to-world matrices of the bound frames (OpenCV camera axes: x right,
            y down, z forward; metres), or None.
        notes: where what was bound differs from what the input spec asked for (list[str], no ``;`` in a note;
            e.g. ``"asked for 10000 frames, but the video has only 200: all 200 are bound"``), shown as ``note:``
            lines in the repr (and so in prepare()'s summary, which the model and the host see).
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
    crop: tuple[int, int, int, int] | None = field(default=None)
    notes: list[str] = field(default_factory=list)

    @property
    def K(self) -> NDArray[np.float64] | None:  # noqa: N802 - the conventional name of the intrinsics matrix
        """(3, 3) float64 pinhole matrix ``[[fx, 0, cx], [0, fy, cy], [0, 0, 1]]`` of the bound frames, or None."""
        if self.intrinsics is None:
            return None
        i = self.intrinsics
        return np.array([[i["fx"], 0.0, i["cx"]], [0.0, i["fy"], i["cy"]], [0.0, 0.0, 1.0]])

    @property
    def resized(self) -> bool:
        """True when the bound frames differ in size from the source frames (see ``crop`` for a cropped view)."""
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
        if self.crop is not None:
            x0, y0, cw, ch = self.crop
            size += f" (centre {cw}x{ch} at x={x0}, y={y0} of {wh(self.original_size)}, resized)"
        elif self.resized:
            size += f" (resized from {wh(self.original_size)}, full field of view)"
        lines.append(f"  bound: {self.num_images} frame{'s' if self.num_images != 1 else ''}, {size}")
        lines.extend(f"  note: {note}" for note in self.notes)
        lines.append(f"  frame_indices: {fmt_seq(self.frame_indices)}")
        if self.timestamps is not None:
            lines.append(f"  timestamps (s): {fmt_seq(self.timestamps, lambda t: f'{t:.3f}')}")
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
