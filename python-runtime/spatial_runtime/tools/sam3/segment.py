"""The six ``tools.SAM3`` calls: image and video segmentation by text, points or box.

The agent-facing description is :mod:`spatial_runtime.tools.sam3`'s docstring, and its ``__all__`` lists them.

Each checks its arguments in the kernel, sends one request per prompt (:mod:`.requests`) and returns a
:class:`~spatial_runtime.tools.sam3.masks.PerFrameMask` keyed by ABSOLUTE frame index.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from numpy.typing import ArrayLike

from spatial_runtime.tools.sam3.masks import PerFrameMask
from spatial_runtime.tools.sam3.prompts import box_prompt, points_prompt, text_prompts
from spatial_runtime.tools.sam3.requests import SegmentCall

_COMMON_ARGS = """
        backend: ``"sam3"`` (SAM 3), ``"classical"``, ``"oracle"``, ...; default the session's configured segment
            backend, else ``"sam3"``.
        params: extra backend parameters (docs/perception-api.md).
        timeout: seconds the server may spend on each request (default: the server's limit, 600 s)."""

_COMMON_RAISES = """
    Raises:
        ToolError: (a ValueError) a bad argument (the message names it and the fix), or a 4xx answer of the server,
            e.g. ``unsupported`` for a prompt type the backend cannot take (the message names the backends that can).
        PerceptionUnavailable: no perception server in this session, or it is not reachable.
        PerceptionError: a server-side failure (5xx) or a timeout."""


def segment_image_by_text(
    image: Any,
    prompt: str | Sequence[str],
    threshold: float = 0.3,
    *,
    frame_index: int | None = None,
    backend: str | None = None,
    params: dict[str, Any] | None = None,
    timeout: float | None = None,
) -> PerFrameMask:
    """Segment every instance of a concept named in text in one image (SAM 3 open-vocabulary segmentation).

    Args:
        image: an input frame (``InputImages[k]``), a PIL image or an (H, W, 3) uint8 array.
        prompt: a short noun phrase, e.g. ``"chair"`` or ``"red mug"``; or a list of phrases (one request each,
            objects concatenated in order; ``labels`` tell them apart).
        threshold: minimum instance score in [0, 1].
        frame_index: the absolute frame index to key the result by (default ``image.frame_index``, else 0).{args}

    Returns:
        :class:`PerFrameMask` with masks (1, N, H, W): one object per instance found (N may be 0).
    {raises}
    """
    call = SegmentCall("segment_image_by_text", backend, params, timeout)
    return call.image(image, frame_index, lambda _: text_prompts(prompt, threshold))


def segment_image_by_points(
    image: Any,
    points: ArrayLike,
    point_labels: ArrayLike | None = None,
    *,
    frame_index: int | None = None,
    backend: str | None = None,
    params: dict[str, Any] | None = None,
    timeout: float | None = None,
) -> PerFrameMask:
    """Segment the one object marked by clicks in one image (SAM 3 interactive segmentation).

    Args:
        image: an input frame, a PIL image or an (H, W, 3) uint8 array.
        points: (P, 2) or (2,) pixel coordinates (u = column, v = row) inside the image.
        point_labels: P labels, 1 = on the object (foreground), 0 = not on it (background); default all 1.
        frame_index: the absolute frame index to key the result by (default ``image.frame_index``, else 0).{args}

    Returns:
        :class:`PerFrameMask` with masks (1, 1, H, W).
    {raises}
    """
    call = SegmentCall("segment_image_by_points", backend, params, timeout)
    return call.image(image, frame_index, lambda batch: [points_prompt(points, point_labels, batch.size)])


def segment_image_by_box(
    image: Any,
    box_xyxy: ArrayLike,
    *,
    frame_index: int | None = None,
    backend: str | None = None,
    params: dict[str, Any] | None = None,
    timeout: float | None = None,
) -> PerFrameMask:
    """Segment the object inside a box in one image (SAM 3 box prompt).

    Args:
        image: an input frame, a PIL image or an (H, W, 3) uint8 array.
        box_xyxy: ``[x1, y1, x2, y2]`` pixels (left, top, right, bottom) with x2 > x1, y2 > y1; clipped to the
            image (it must overlap it). ``tools.Mask.bbox(mask)`` returns such a box.
        frame_index: the absolute frame index to key the result by (default ``image.frame_index``, else 0).{args}

    Returns:
        :class:`PerFrameMask` with masks (1, 1, H, W).
    {raises}
    """
    call = SegmentCall("segment_image_by_box", backend, params, timeout)
    return call.image(image, frame_index, lambda batch: [box_prompt(box_xyxy, batch.size)])


def segment_video_by_text(
    prompts: str | Sequence[str],
    frames: Any = None,
    prompt_frame: int | None = None,
    threshold: float = 0.3,
    *,
    frame_indices: ArrayLike | None = None,
    backend: str | None = None,
    params: dict[str, Any] | None = None,
    timeout: float | None = None,
) -> PerFrameMask:
    """Find every instance of one or more concepts and track them through frames (SAM 3 video).

    Args:
        prompts: a noun phrase or a list of phrases (one request each; objects concatenated in order).
        frames: ``InputImages`` (default: the session's), a slice of it, or a list of frames of one size.
        prompt_frame: ABSOLUTE index of the frame where the concept is detected first (default the first frame).
        threshold: minimum instance score in [0, 1].
        frame_indices: absolute indices, only for frames that are not input frames.{args}

    Returns:
        :class:`PerFrameMask` with masks (T, N, H, W) over the T frames.
    {raises}
    """
    call = SegmentCall("segment_video_by_text", backend, params, timeout)
    return call.video(frames, frame_indices, prompt_frame, lambda _: text_prompts(prompts, threshold))


def segment_video_by_points(
    frames: Any,
    prompt_frame: int,
    points: ArrayLike,
    point_labels: ArrayLike | None = None,
    *,
    frame_indices: ArrayLike | None = None,
    backend: str | None = None,
    params: dict[str, Any] | None = None,
    timeout: float | None = None,
) -> PerFrameMask:
    """Segment the object clicked in ``prompt_frame`` and track it through the frames (SAM 3 video).

    Args:
        frames: ``InputImages`` (None: the session's), a slice of it, or a list of frames of one size.
        prompt_frame: ABSOLUTE index of the frame the points refer to (must be in ``frames``).
        points: (P, 2) or (2,) pixel coordinates (u, v) in that frame.
        point_labels: P labels, 1 = foreground, 0 = background; default all 1.
        frame_indices: absolute indices, only for frames that are not input frames.{args}

    Returns:
        :class:`PerFrameMask` with masks (T, 1, H, W).
    {raises}
    """
    call = SegmentCall("segment_video_by_points", backend, params, timeout)
    return call.video(frames, frame_indices, prompt_frame, lambda b: [points_prompt(points, point_labels, b.size)])


def segment_video_by_box(
    frames: Any,
    prompt_frame: int,
    box_xyxy: ArrayLike,
    *,
    frame_indices: ArrayLike | None = None,
    backend: str | None = None,
    params: dict[str, Any] | None = None,
    timeout: float | None = None,
) -> PerFrameMask:
    """Segment the object in a box in ``prompt_frame`` and track it through the frames (SAM 3 video).

    Args:
        frames: ``InputImages`` (None: the session's), a slice of it, or a list of frames of one size.
        prompt_frame: ABSOLUTE index of the frame the box refers to (must be in ``frames``).
        box_xyxy: ``[x1, y1, x2, y2]`` pixels in that frame, x2 > x1, y2 > y1.
        frame_indices: absolute indices, only for frames that are not input frames.{args}

    Returns:
        :class:`PerFrameMask` with masks (T, 1, H, W).
    {raises}
    """
    call = SegmentCall("segment_video_by_box", backend, params, timeout)
    return call.video(frames, frame_indices, prompt_frame, lambda batch: [box_prompt(box_xyxy, batch.size)])


for _fn in (
    segment_image_by_text,
    segment_image_by_points,
    segment_image_by_box,
    segment_video_by_text,
    segment_video_by_points,
    segment_video_by_box,
):
    _doc = (_fn.__doc__ or "").replace("{args}", _COMMON_ARGS)
    _fn.__doc__ = _doc.replace("    {raises}", _COMMON_RAISES.rstrip("\n"))
del _fn, _doc
