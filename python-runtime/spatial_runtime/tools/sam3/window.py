"""The source video of the paper's ``tools.SAM3`` video calls (profile ``paper``, ``sam3_video: 'source'``;
docs/paper-parity.md row 14): which video, which window of its native frames, their decoding, and the masks'
post-processing (one object per prompt, rows for the asked frames, resize to the bound frames).

The frames are read from the video file the input was bound from (its frame source knows the path), decoded with
PyAV at native resolution and sent as JPEG (quality 95), so a window of up to :data:`MAX_VIDEO_FRAMES` frames
never sits in memory as pixels. A frame's absolute index is ``round((t - t0) * fps)`` from its presentation time,
as the inputs package numbers video frames.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np
from numpy.typing import NDArray
from PIL import Image

from spatial_runtime import context
from spatial_runtime.tools._common import bad_argument

__all__ = [
    "MAX_VIDEO_FRAMES",
    "BoundFrames",
    "SourceVideo",
    "decode_window",
    "first_object",
    "one_per_prompt",
    "resize_nearest",
    "rows_for",
    "source_video",
    "wanted_frames",
    "window",
]

MAX_VIDEO_FRAMES = 1000
"""Most native frames one video call may process (the original's ``sam3_max_video_frames``)."""

JPEG_QUALITY = 95

_ROTATIONS = {
    90: Image.Transpose.ROTATE_90,
    -270: Image.Transpose.ROTATE_90,
    -90: Image.Transpose.ROTATE_270,
    270: Image.Transpose.ROTATE_270,
    180: Image.Transpose.ROTATE_180,
    -180: Image.Transpose.ROTATE_180,
}


@dataclass(frozen=True)
class SourceVideo:
    """One bound video input: its bound frames (``images``, named ``name``), the file and its timing.

    Attributes:
        images: the bound ``InputImages`` of the video (the masks are resized to their size).
        name: ``"InputImages"`` or ``"InputImages_k"``.
        path: the video file. fps: frames per second. t0: time of the first frame, seconds.
        rotation: display rotation in degrees. total_frames: frames in the whole video (``Metadata``).
    """

    images: Any
    name: str
    path: Path
    fps: float
    t0: float
    rotation: int
    total_frames: int

    @property
    def bound_size(self) -> tuple[int, int]:
        """(W, H) of the bound frames."""
        size = self.images.image_size or self.images.metadata.image_size
        return int(size[0]), int(size[1])


def source_video(video_index: Any, tool: str) -> SourceVideo:
    """The video a call works on: the only input, or ``InputImages_<video_index>`` (1-based) of several.

    Raises:
        ToolError: no input is bound, ``video_index`` is out of range, or the input is not a video (images and
            RGB-D inputs have no source video: the message points to the image calls).
    """
    inputs = context.current().inputs
    if not inputs:
        raise bad_argument(f"{tool}: no input is bound in this session, so there is no video to segment")
    if len(inputs) == 1:
        bound = inputs[0]
    else:
        n = len(inputs)
        if isinstance(video_index, bool) or not isinstance(video_index, (int, np.integer)) or not 1 <= video_index <= n:
            raise bad_argument(
                f"video_index={video_index!r} is out of range for a sample with {n} videos: pass an integer in "
                f"[1, {n}] (1-based; video_index=1 -> InputImages_1)"
            )
        bound = inputs[int(video_index) - 1]
    source = getattr(bound.images, "_source", None)
    meta = bound.metadata
    if getattr(source, "kind", None) != "video" or not getattr(meta, "is_video", False):
        raise bad_argument(
            f"{tool} needs a video input, but {bound.name} holds {getattr(meta, 'kind', 'unknown')} frames without a "
            f"source video: segment single frames instead, e.g. tools.SAM3.segment_image_by_text({bound.name}[i], "
            "'object_name')"
        )
    return SourceVideo(
        images=bound.images,
        name=bound.name,
        path=Path(source.path),
        fps=float(source.fps),
        t0=float(source.t0),
        rotation=int(source.rotation),
        total_frames=int(meta.total_frames),
    )


def _optional_int(value: Any, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise bad_argument(f"{name} must be an absolute frame index (int) or None, got {value!r}")
    return int(value)


def window(start_frame: Any, end_frame: Any, total_frames: int) -> tuple[int, int]:
    """The window ``[start, end)`` of absolute video frames a call processes.

    Both given: ``end - start`` must be in ``1..MAX_VIDEO_FRAMES``. One or both omitted: ``start`` defaults to 0 and
    ``end`` to ``total_frames``, and the count must not exceed :data:`MAX_VIDEO_FRAMES` (the message asks for a
    window). ``end`` past the video's end is cut to ``total_frames``, as a decoder stops at the end of the file.

    Raises:
        ToolError: (a ValueError) a non-int bound, a negative start, an empty window, a start past the end of the
            video, or more than :data:`MAX_VIDEO_FRAMES` frames.
    """
    start, end = _optional_int(start_frame, "start_frame"), _optional_int(end_frame, "end_frame")
    limit = MAX_VIDEO_FRAMES
    if start is not None and end is not None:
        count = end - start
        if count <= 0:
            raise bad_argument(f"end_frame ({end}) must be greater than start_frame ({start})")
        if count > limit:
            raise bad_argument(
                f"the window {start}-{end} is {count} frames, more than the maximum of {limit}: "
                "pass a narrower start_frame/end_frame window"
            )
    s = 0 if start is None else start
    e = total_frames if end is None else end
    if (start is None or end is None) and e - s > limit:
        raise bad_argument(
            f"the video has {e - s} frames in {s}-{e}, more than the maximum of {limit}: you must pass start_frame "
            f"and end_frame to select a window of at most {limit} frames, e.g. start_frame=0, end_frame={limit}"
        )
    if s < 0:
        raise bad_argument(f"start_frame must be >= 0, got {s}")
    if s >= total_frames:
        raise bad_argument(f"start_frame {s} is past the end of the video (frames 0..{total_frames - 1})")
    if e <= s:
        raise bad_argument(f"the window {s}-{e} holds no frame: end_frame must be greater than start_frame")
    return s, min(e, total_frames)


def _frames(video: SourceVideo, start: int, end: int) -> Iterator[tuple[int, Any]]:
    """``(absolute index, av.VideoFrame)`` for the frames of ``[start, end)``, in order."""
    container = av.open(str(video.path))
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        seeked = start > 0
        if seeked:
            container.seek(int((video.t0 + start / video.fps) / float(stream.time_base)), stream=stream, backward=True)
        count = 0
        for vf in container.decode(stream):
            index = count if vf.time is None else int(round((float(vf.time) - video.t0) * video.fps))
            count += 1
            if seeked and count == 1 and index > start:  # the demuxer landed after the start: decode from the top
                yield from _frames_from_top(video, start, end)
                return
            if index >= end:
                return
            if index >= start:
                yield index, vf
    finally:
        container.close()


def _frames_from_top(video: SourceVideo, start: int, end: int) -> Iterator[tuple[int, Any]]:
    with av.open(str(video.path)) as container:
        for position, vf in enumerate(container.decode(container.streams.video[0])):
            index = position if vf.time is None else int(round((float(vf.time) - video.t0) * video.fps))
            if index >= end:
                return
            if index >= start:
                yield index, vf


def decode_window(video: SourceVideo, start: int, end: int) -> tuple[list[bytes], list[int], tuple[int, int]]:
    """Decode ``[start, end)`` of the source video at native resolution.

    Returns:
        ``(JPEG bytes per frame, their absolute indices, (W, H))``; frames missing from the file (a stream that
        ends early) are simply absent.

    Raises:
        ToolError: no frame of the window could be decoded.
    """
    jpegs: list[bytes] = []
    indices: list[int] = []
    size = (0, 0)
    try:
        for index, vf in _frames(video, start, end):
            if indices and index <= indices[-1]:
                continue  # a repeated timestamp
            img = vf.to_image()
            if video.rotation in _ROTATIONS:
                img = img.transpose(_ROTATIONS[video.rotation])
            buf = io.BytesIO()
            img.save(buf, format="JPEG", quality=JPEG_QUALITY)
            jpegs.append(buf.getvalue())
            indices.append(index)
            size = img.size
    except (av.FFmpegError, OSError) as err:
        raise bad_argument(f"{video.path}: decoding frames {start}-{end} failed ({err})") from None
    if not indices:
        raise bad_argument(f"{video.path}: no frame of the window {start}-{end} could be decoded")
    return jpegs, indices, size


def first_object(masks: NDArray[np.bool_], scores: NDArray[np.float32], prompt_position: int) -> int | None:
    """The object a prompt keeps: of the objects visible on the prompt frame, the one with the highest score
    there (ties: the first); if none is visible there, the first object; None when there is no object.

    The original keeps the lowest object ids, i.e. the objects found on the prompt frame first.
    """
    if masks.shape[1] == 0:
        return None
    visible = np.flatnonzero(masks[prompt_position].any(axis=(1, 2)))
    if len(visible) == 0:
        return 0
    return int(visible[np.argmax(scores[prompt_position, visible])])


def one_per_prompt(
    parts: Sequence[tuple[NDArray[np.bool_], NDArray[np.float32]]], prompt_position: int
) -> tuple[NDArray[np.bool_], NDArray[np.float32]]:
    """One object per prompt: from each prompt's ``(masks (T, K, H, W), scores (T, K))`` the object of
    :func:`first_object` (truncation), or an empty mask with score 0 when it found none (padding).

    Returns:
        ``(masks (T, P, H, W), scores (T, P))`` for the P prompts, in prompt order.
    """
    t, _, h, w = parts[0][0].shape
    masks = np.zeros((t, len(parts), h, w), bool)
    scores = np.zeros((t, len(parts)), np.float32)
    for p, (m, s) in enumerate(parts):
        k = first_object(m, s, prompt_position)
        if k is not None:
            masks[:, p], scores[:, p] = m[:, k], s[:, k]
    return masks, scores


def wanted_frames(frame_indices: Any) -> list[int] | None:
    """The absolute frame indices a call asks masks for (None: every decoded frame), checked.

    Raises:
        ToolError: ``frame_indices`` is not a non-empty list of distinct ints.
    """
    if frame_indices is None:
        return None
    arr = np.asarray(frame_indices).reshape(-1)
    if arr.size == 0 or not np.issubdtype(arr.dtype, np.integer) or arr.dtype == np.bool_:
        raise bad_argument(f"frame_indices must be a non-empty list of absolute frame indices, got {frame_indices!r}")
    wanted = [int(i) for i in arr]
    if len(set(wanted)) != len(wanted):
        raise bad_argument(f"frame_indices must be distinct, got {wanted}")
    return wanted


def rows_for(
    masks: NDArray[np.bool_], scores: NDArray[np.float32], decoded: list[int], wanted: list[int] | None
) -> tuple[NDArray[np.bool_], NDArray[np.float32], list[int]]:
    """The rows of the ``wanted`` absolute frame indices (None: every decoded frame, as they are); a frame
    outside the decoded window gets empty masks and score 0, as in the original."""
    if wanted is None:
        return masks, scores, list(decoded)
    row = {f: k for k, f in enumerate(decoded)}
    out_m = np.zeros((len(wanted), *masks.shape[1:]), bool)
    out_s = np.zeros((len(wanted), masks.shape[1]), np.float32)
    for k, f in enumerate(wanted):
        if f in row:
            out_m[k], out_s[k] = masks[row[f]], scores[row[f]]
    return out_m, out_s, list(wanted)


def resize_nearest(masks: NDArray[np.bool_], size: tuple[int, int]) -> NDArray[np.bool_]:
    """(T, K, H, W) masks resized to ``size`` = (W', H') by nearest neighbour on pixel centres (a plain rescale:
    output pixel (i, j) takes input pixel (floor((i + 1/2) H / H'), floor((j + 1/2) W / W')))."""
    w2, h2 = size
    h, w = masks.shape[2:]
    if (h, w) == (h2, w2):
        return masks
    rows = np.minimum(((np.arange(h2) + 0.5) * h / h2).astype(np.int64), h - 1)
    cols = np.minimum(((np.arange(w2) + 0.5) * w / w2).astype(np.int64), w - 1)
    return masks[:, :, rows][:, :, :, cols]


class BoundFrames(Mapping[int, Any]):
    """Absolute frame index -> bound frame of ``images``, for the indices in ``wanted`` that are bound; frames
    are fetched (decoded) only when looked up (``PerFrameMask.visualize``)."""

    def __init__(self, images: Any, wanted: Sequence[int]) -> None:
        position = {f: p for p, f in enumerate(images.frame_indices)}
        self._images = images
        self._position = {f: position[f] for f in wanted if f in position}

    def __getitem__(self, frame: int) -> Any:
        return self._images[self._position[frame]]

    def __iter__(self) -> Iterator[int]:
        return iter(self._position)

    def __len__(self) -> int:
        return len(self._position)
