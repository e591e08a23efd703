"""``tools.SAM3`` of the ``paper`` profile (``sam3_video: 'source'``): the published SpatialClaw calls, with their
signatures and semantics (docs/paper-parity.md row 14).

Video calls track objects through the SOURCE video, not through ``InputImages``: every native frame of the window
``[start_frame, end_frame)`` (absolute frame indices; at most 1000 frames) is decoded from the video file and
segmented, ``prompt_frame_idx`` counts from the window's first frame (0 = ``start_frame``), the objects are
propagated both ways from there, each prompt (or object) keeps ONE object, in order (an empty mask when it found
none), and the masks are resized to the size of the bound frames. ``video_index`` (1-based) picks the video of a
sample with several (``InputImages_1..N``)::

    seg = tools.SAM3.segment_video_by_text(["bed", "pillow"], start_frame=20, end_frame=80, prompt_frame_idx=10)
    seg.frame_indices        # [20, 21, ..., 79]: absolute video frames
    seg.masks.shape          # (60, 2, H, W): one object per prompt, at the InputImages resolution

Image calls segment one bound frame (pixel coordinates of that frame) and raise when they find nothing.

The default profile's ``tools.SAM3`` (:mod:`spatial_runtime.tools.sam3`) works on the bound frames instead; the
kernel binds this module as ``tools.SAM3`` when the session's profile asks for it (``spatial_runtime.tools``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from spatial_runtime import context, perception
from spatial_runtime.perception import PerceptionError, PerceptionUnavailable, ToolError
from spatial_runtime.tools._common import FrameIndexError, bad_argument, frame_index_of, is_collection
from spatial_runtime.tools.sam3 import window as _window
from spatial_runtime.tools.sam3.masks import PerFrameMask
from spatial_runtime.tools.sam3.prompts import box_prompt, choose_backend, points_prompt
from spatial_runtime.tools.sam3.requests import VIDEO_ROUTE, SegmentCall, decode_reply, merge_replies, publish_reply

# The result and error types of the default tools.SAM3, then this profile's calls.
__all__ = ["FrameIndexError", "NoMaskError", "PerFrameMask", "PerceptionError", "PerceptionUnavailable", "ToolError"]
__all__ += ["is_object_exist", "segment_image_by_box", "segment_image_by_points", "segment_image_by_text"]
__all__ += ["segment_video_by_box", "segment_video_by_points", "segment_video_by_text"]

MAX_VIDEO_FRAMES = _window.MAX_VIDEO_FRAMES
VIDEO_TEXT_THRESHOLD = 0.5
"""Detection threshold of text prompts on videos: SAM 3's own default (``score_threshold_detection``)."""
VIDEO_MAX_OBJECTS = 4
"""Objects the sam3 backend sends back per text prompt on a video (its best-scoring ones, ``params.max_objects``):
one is kept, and every object costs T x H x W bytes of masks on the wire (0.5 GB for 1000 frames of 960x540)."""
DETECT_THRESHOLD = 0.05
"""Detection threshold of the original's single-image detector (``is_object_exist`` counts what passes it)."""
POINT_BOX_HALF = 0.05
"""``segment_image_by_points``: the box around a foreground point reaches this fraction of the image each way."""


class NoMaskError(RuntimeError):
    """An image call found no object (or only empty masks); the message suggests what to try instead."""


def profile_active() -> bool:
    """Whether the session's profile binds this module as ``tools.SAM3`` (``sam3_video == "source"``)."""
    return getattr(context.current().profile, "sam3_video", "sampled") == "source"


# --------------------------------------------------------------------------------------------------
# Argument shapes (the original's auto-wrapping of flat inputs)
# --------------------------------------------------------------------------------------------------


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))


def _is_pair(v: Any) -> bool:
    return isinstance(v, (list, tuple, np.ndarray)) and len(v) == 2 and all(_is_number(x) for x in v)


def _points_per_object(points: Any) -> list[Any]:
    """``[[[x, y], ...], ...]`` from that form, ``[[x, y], ...]`` (one object) or ``[x, y]`` (one point)."""
    if _is_pair(points):
        print(f"[SAM3] wrapped the flat point [x, y] as one object with one point: {[[list(points)]]}")
        return [[list(points)]]
    if isinstance(points, (list, tuple)) and points and all(_is_pair(p) for p in points):
        print("[SAM3] wrapped the list of [x, y] points as the points of one object")
        return [list(points)]
    if not isinstance(points, (list, tuple)) or not points:
        raise bad_argument(f"points_per_object must be a non-empty list like [[[x, y], ...], ...], got {points!r}")
    return list(points)


def _boxes(boxes: Any) -> list[Any]:
    """``[[x1, y1, x2, y2], ...]`` from that form or one flat ``[x1, y1, x2, y2]``."""
    if isinstance(boxes, (list, tuple, np.ndarray)) and len(boxes) == 4 and all(_is_number(v) for v in boxes):
        print(f"[SAM3] wrapped the flat box as one box: {[list(boxes)]}")
        return [list(boxes)]
    if not isinstance(boxes, (list, tuple)) or not boxes:
        raise bad_argument(f"boxes must be a non-empty list of [x1, y1, x2, y2] pixel boxes, got {boxes!r}")
    return list(boxes)


def _labels(labels: Any, count: int, what: str) -> list[str]:
    if not isinstance(labels, (list, tuple)) or len(labels) != count:
        got = len(labels) if isinstance(labels, (list, tuple)) else repr(labels)
        raise bad_argument(f"labels ({got}) and {what} ({count}) must have the same length: one label per object")
    return [str(x) for x in labels]


def _to_native(point: tuple[float, float], bound: tuple[int, int], native: tuple[int, int]) -> list[float]:
    """A pixel of a bound frame -> the same place in the native frame (a plain rescale on pixel centres)."""
    (bw, bh), (nw, nh) = bound, native
    return [(point[0] + 0.5) * nw / bw - 0.5, (point[1] + 0.5) * nh / bh - 0.5]


# --------------------------------------------------------------------------------------------------
# Video calls
# --------------------------------------------------------------------------------------------------

NativePrompts = Callable[[tuple[int, int]], list[dict[str, Any]]]
"""Builds the request prompts (one per object) for the native frame size (W, H)."""


def _prompt_position(prompt_frame_idx: Any, count: int, start: int) -> int:
    if isinstance(prompt_frame_idx, (bool, np.bool_)) or not isinstance(prompt_frame_idx, (int, np.integer)):
        raise bad_argument(f"prompt_frame_idx must be an int (0 = start_frame), got {prompt_frame_idx!r}")
    if not 0 <= int(prompt_frame_idx) < count:
        raise bad_argument(
            f"prompt_frame_idx {int(prompt_frame_idx)} is outside the window of {count} frames: it counts from "
            f"start_frame ({start}), so it must be in 0..{count - 1} (video frame start_frame + prompt_frame_idx)"
        )
    return int(prompt_frame_idx)


@dataclass(frozen=True)
class _Window:
    """Where a video call works: its ``prompt_frame_idx``, ``frame_indices``, ``start_frame``, ``end_frame`` and
    ``video_index`` arguments."""

    prompt_frame_idx: Any
    frame_indices: Any
    start_frame: Any
    end_frame: Any
    video_index: Any

    def video(self, tool: str) -> _window.SourceVideo:
        """The source video (after checking that the session has a perception server)."""
        perception.require_config(f"tools.SAM3.{tool}")
        return _window.source_video(self.video_index, f"tools.SAM3.{tool}")


def _track(
    tool: str, prompts: NativePrompts, labels: list[str], where: _Window, video: _window.SourceVideo
) -> PerFrameMask:
    """Decode the window, send one video request per object, keep one object each (module docstring)."""
    start, end = _window.window(where.start_frame, where.end_frame, video.total_frames)
    position = _prompt_position(where.prompt_frame_idx, end - start, start)
    wanted = _window.wanted_frames(where.frame_indices)
    jpegs, decoded, native = _window.decode_window(video, start, end)
    if position >= len(decoded):
        raise bad_argument(
            f"prompt_frame_idx {position} is past the last frame decoded from {video.path.name} "
            f"({decoded[-1]}): the file ends before end_frame"
        )
    backend = choose_backend(None)
    parts, columns = [], []
    for prompt in prompts(native):
        params = {"max_objects": VIDEO_MAX_OBJECTS} if backend == "sam3" and prompt["type"] == "text" else {}
        body = {
            "backend": backend,
            "frames": jpegs,
            "frame_indices": decoded,
            "prompt_frame_index": decoded[position],
            "prompt": prompt,
            "params": params,
        }
        reply = perception.post(VIDEO_ROUTE, body, tool="tools.SAM3")
        part = decode_reply(reply, len(decoded), native, prompt.get("text"))
        publish_reply(part, prompt.get("text") or prompt["type"], decoded, backend)
        m, sc = _window.one_per_prompt([(part.masks, part.scores)], position)
        columns.append((_window.resize_nearest(m, video.bound_size), sc))
        parts.append(part._replace(masks=m[:0], scores=sc[:0]))  # the other objects' masks are not kept
    masks = np.concatenate([m for m, _ in columns], axis=1)
    scores = np.concatenate([sc for _, sc in columns], axis=1)
    masks, scores, fi = _window.rows_for(masks, scores, decoded, wanted)
    result = merge_replies(
        parts, fi, backend, images=_window.BoundFrames(video.images, fi), columns=(masks, scores, labels)
    )
    result.info["source_window"] = {
        "video": str(video.path),
        "start_frame": decoded[0],
        "end_frame": decoded[-1] + 1,
        "prompt_frame": decoded[position],
        "native_size": list(native),
    }
    return result


def segment_video_by_text(
    prompts: list[str],
    labels: list[str] | None = None,
    prompt_frame_idx: int = 0,
    frame_indices: list[int] | None = None,
    start_frame: int | None = None,
    end_frame: int | None = None,
    video_index: int = 1,
) -> PerFrameMask:
    """Track objects named in text through the source video: ONE object per prompt, masks (T, len(prompts), H, W).

    Every native frame of ``[start_frame, end_frame)`` (absolute video frames; None = 0 / the end; at most 1000) is
    segmented; each prompt is detected on the window's frame ``prompt_frame_idx`` (0 = ``start_frame``) and
    followed both ways. A prompt that finds nothing gets an empty mask.

    Args:
        prompts: a list of short noun phrases, e.g. ``["red car", "person"]``.
        labels: one label per prompt (default: the prompts).
        prompt_frame_idx: the prompt frame, counted from ``start_frame``.
        frame_indices: absolute frames to return masks for (default every frame of the window).
        start_frame: first video frame (inclusive). end_frame: last video frame (exclusive).
        video_index: which video of a sample with several (1-based, ``InputImages_<k>``).

    Returns:
        :class:`PerFrameMask` keyed by absolute video frame, masks at the ``InputImages`` resolution.

    Raises:
        ToolError: (a ValueError) bad prompts or labels, a window over 1000 frames, a prompt frame outside it, or
            an input that is not a video.
    """
    if not isinstance(prompts, (list, tuple)) or not prompts:
        raise bad_argument(f"prompts must be a non-empty list of strings, e.g. ['red car'], got {prompts!r}")
    for i, p in enumerate(prompts):
        if not isinstance(p, str) or not p.strip():
            raise bad_argument(f"prompts[{i}] must be a non-empty string, got {p!r}")
    labs = list(prompts) if labels is None else _labels(labels, len(prompts), "prompts")
    where = _Window(prompt_frame_idx, frame_indices, start_frame, end_frame, video_index)
    video = where.video("segment_video_by_text")
    texts = [{"type": "text", "text": p.strip(), "threshold": VIDEO_TEXT_THRESHOLD} for p in prompts]
    return _track("segment_video_by_text", lambda _: texts, [str(x) for x in labs], where, video)


def _point_track(tool: str, points: list[tuple[float, float]], labels: list[str], where: _Window) -> PerFrameMask:
    video = where.video(tool)
    bound = video.bound_size
    for k, point in enumerate(points):
        try:
            points_prompt([point], [1], bound)
        except ToolError as err:
            raise bad_argument(f"object {k}: {err}") from None

    def prompts(native: tuple[int, int]) -> list[dict[str, Any]]:
        return [{"type": "points", "points": [_to_native(p, bound, native)], "labels": [1]} for p in points]

    return _track(tool, prompts, labels, where, video)


def segment_video_by_points(
    points_per_object: list[list[list[float]]],
    point_labels_per_object: list[list[int]],
    labels: list[str],
    prompt_frame_idx: int = 0,
    frame_indices: list[int] | None = None,
    start_frame: int | None = None,
    end_frame: int | None = None,
    video_index: int = 1,
) -> PerFrameMask:
    """Track objects clicked on the prompt frame through the source video: masks (T, N_objects, H, W).

    Only the FIRST foreground point (label 1) of each object is used. Points are (x, y) pixels of the bound frames
    (``InputImages``); the window, ``prompt_frame_idx`` and ``video_index`` work as in :func:`segment_video_by_text`.

    Raises:
        ToolError: mismatched lengths, an object without a foreground point, a point outside the frame, or as
            :func:`segment_video_by_text`.
    """
    objects = _points_per_object(points_per_object)
    if not isinstance(point_labels_per_object, (list, tuple)) or len(point_labels_per_object) != len(objects):
        raise bad_argument("points_per_object and point_labels_per_object must have the same length (one per object)")
    labs = _labels(labels, len(objects), "points_per_object")
    firsts = []
    for k, (pts, lab) in enumerate(zip(objects, point_labels_per_object, strict=True)):
        fg = [p for p, x in zip(pts, lab, strict=False) if x == 1] if isinstance(lab, (list, tuple)) else []
        if not fg or not _is_pair(fg[0]):
            raise bad_argument(f"object {k} has no foreground point (label 1) of the form [x, y]: {pts!r}, {lab!r}")
        firsts.append((float(fg[0][0]), float(fg[0][1])))
    where = _Window(prompt_frame_idx, frame_indices, start_frame, end_frame, video_index)
    return _point_track("segment_video_by_points", firsts, labs, where)


def segment_video_by_box(
    boxes: list[list[float]],
    labels: list[str],
    prompt_frame_idx: int = 0,
    frame_indices: list[int] | None = None,
    start_frame: int | None = None,
    end_frame: int | None = None,
    video_index: int = 1,
) -> PerFrameMask:
    """Track objects boxed on the prompt frame through the source video: masks (T, N_boxes, H, W).

    Each box ``[x1, y1, x2, y2]`` (pixels of the bound frames) is reduced to its CENTRE point and tracked like a
    click; the window, ``prompt_frame_idx`` and ``video_index`` work as in :func:`segment_video_by_text`.

    Raises:
        ToolError: a malformed box, mismatched lengths, or as :func:`segment_video_by_text`.
    """
    items = _boxes(boxes)
    labs = _labels(labels, len(items), "boxes")
    centres = []
    for k, box in enumerate(items):
        try:
            x1, y1, x2, y2 = (float(v) for v in np.asarray(box, dtype=np.float64).reshape(4))
        except (TypeError, ValueError):
            raise bad_argument(f"boxes[{k}] must be [x1, y1, x2, y2] in pixels, got {box!r}") from None
        if x2 <= x1 or y2 <= y1:
            raise bad_argument(
                f"boxes[{k}] = {[x1, y1, x2, y2]} must have x2 > x1 and y2 > y1 (left, top, right, bottom)"
            )
        centres.append(((x1 + x2) / 2, (y1 + y2) / 2))
    where = _Window(prompt_frame_idx, frame_indices, start_frame, end_frame, video_index)
    return _point_track("segment_video_by_box", centres, labs, where)


# --------------------------------------------------------------------------------------------------
# Image calls
# --------------------------------------------------------------------------------------------------


def _one_image(image: Any, tool: str) -> Any:
    if not isinstance(image, Image.Image):
        raise bad_argument(
            f"{tool}: image must be ONE PIL image or input frame (e.g. InputImages[i]), got {type(image).__name__}"
        )
    return image


def _keep(m: PerFrameMask, image: Any, keep: list[int], labels: list[str]) -> PerFrameMask:
    """``m`` restricted to the objects ``keep``, relabelled."""
    return PerFrameMask(
        m.masks[:, keep],
        m.frame_indices,
        labels,
        m.scores[:, keep],
        images={m.frame_indices[0]: image},
        info=m.info,
        artifact_ids=m.artifact_ids,
        url=m.url,
        backend=m.backend,
    )


def _first_mask(m: PerFrameMask, image: Any, label: str, tool: str, what: str) -> PerFrameMask:
    if m.num_objects == 0 or not m.masks[0, 0].any():
        raise NoMaskError(
            f"SAM3.{tool} produced no mask for {what} on this image (frame_index {m.frame_indices[0]}): try another "
            "frame of the video, a prompt better centred on the object, or segment_image_by_text(image, "
            "'<description>') and pick the mask that overlaps the place"
        )
    return _keep(m, image, [0], [label])


def segment_image_by_text(
    image: Any, prompt: str, label: str | None = None, confidence_threshold: float = 0.3
) -> PerFrameMask:
    """Segment ALL instances of a text description in one image: masks (1, N, H, W) with score >= the threshold.

    Labels are ``label`` (default the prompt) for one instance, else ``label_0``, ``label_1``, ...

    Raises:
        NoMaskError: nothing scores above ``confidence_threshold``, or every mask is empty.
    """
    _one_image(image, "segment_image_by_text")
    if not isinstance(prompt, str) or not prompt.strip():
        raise bad_argument(f"prompt must be a non-empty string, got {prompt!r}")
    thr = confidence_threshold
    if isinstance(thr, bool) or not _is_number(thr) or not 0 <= thr <= 1:
        raise bad_argument(f"confidence_threshold must be a number in [0, 1], got {thr!r}")
    text = {"type": "text", "text": prompt.strip(), "threshold": float(thr)}
    m = SegmentCall("segment_image_by_text", None, None, None).image(image, None, lambda _: [text])
    keep = [k for k in range(m.num_objects) if m.scores[0, k] >= thr]
    if not keep or not any(m.masks[0, k].any() for k in keep):
        raise NoMaskError(
            f"SAM3.segment_image_by_text(prompt={prompt!r}) produced no usable mask on this image (frame_index "
            f"{m.frame_indices[0]}, confidence_threshold={thr}): try another frame, a more specific prompt, a lower "
            "confidence_threshold, or segment_image_by_box(image, [x1, y1, x2, y2])"
        )
    name = prompt if label is None else str(label)
    labels = [name] if len(keep) == 1 else [f"{name}_{i}" for i in range(len(keep))]
    return _keep(m, image, keep, labels)


def segment_image_by_points(
    image: Any, points: list[list[float]], point_labels: list[int], label: str = "object"
) -> PerFrameMask:
    """Segment the one object at clicked points in one image: masks (1, 1, H, W).

    The first foreground point (label 1) becomes a box reaching 5% of the image each way, given to the
    segmenter; without a foreground point the text "object" is used. Points are (x, y) pixels.

    Raises:
        NoMaskError: the first mask is empty or there is none.
    """
    _one_image(image, "segment_image_by_points")
    if _is_pair(points):
        print(f"[SAM3] wrapped the flat point [x, y] as [[x, y]]: {[list(points)]}")
        points = [list(points)]
    if not isinstance(points, (list, tuple)) or not points:
        raise bad_argument("points must be a non-empty list of [x, y] pixel coordinates")
    if not isinstance(point_labels, (list, tuple)) or len(point_labels) != len(points):
        raise bad_argument(
            f"points ({len(points)}) and point_labels must have the same length: points=[[x1, y1], [x2, y2], ...] "
            "with one label (1 or 0) each"
        )
    w, h = image.size
    points_prompt(points, None, (w, h))  # every point must lie in the image
    fg = [p for p, x in zip(points, point_labels, strict=True) if x == 1]

    def prompts(_: Any) -> list[dict[str, Any]]:
        if not fg:
            return [{"type": "text", "text": "object", "threshold": DETECT_THRESHOLD}]
        u, v = float(fg[0][0]) / w, float(fg[0][1]) / h
        x1, y1 = max(0.0, u - POINT_BOX_HALF), max(0.0, v - POINT_BOX_HALF)
        x2, y2 = x1 + min(2 * POINT_BOX_HALF, 1.0 - x1), y1 + min(2 * POINT_BOX_HALF, 1.0 - y1)
        return [box_prompt([x1 * w, y1 * h, x2 * w, y2 * h], (w, h))]

    m = SegmentCall("segment_image_by_points", None, None, None).image(image, None, prompts)
    return _first_mask(m, image, str(label), "segment_image_by_points", f"points={points}")


def segment_image_by_box(image: Any, box: list[float], label: str = "object") -> PerFrameMask:
    """Segment the object in a box ``[x1, y1, x2, y2]`` (pixels) in one image: masks (1, 1, H, W).

    Raises:
        NoMaskError: the first mask is empty or there is none.
    """
    _one_image(image, "segment_image_by_box")
    if not isinstance(box, (list, tuple, np.ndarray)) or len(box) != 4:
        raise bad_argument(f"box must be [x1, y1, x2, y2] in pixel coordinates, got {box!r}")
    m = SegmentCall("segment_image_by_box", None, None, None).image(image, None, lambda b: [box_prompt(box, b.size)])
    return _first_mask(m, image, str(label), "segment_image_by_box", f"box={list(box)}")


def is_object_exist(images: Any, object_name: str) -> dict[str, Any]:
    """Whether an object is in each image: ``{"exists": [bool], "counts": [int], "summary": str}``.

    Each image is searched for every instance of ``object_name`` (low detection threshold, 0.05); a failed
    request counts as not found.
    """
    items = list(images) if isinstance(images, (list, tuple)) or is_collection(images) else [images]
    if not items:
        raise bad_argument("is_object_exist needs at least one image")
    if not isinstance(object_name, str) or not object_name.strip():
        raise bad_argument(f"object_name must be a non-empty string, got {object_name!r}")
    text = {"type": "text", "text": object_name.strip(), "threshold": DETECT_THRESHOLD}
    counts = []
    for img in items:
        try:
            m = SegmentCall("is_object_exist", None, None, None).image(img, frame_index_of(img), lambda _: [text])
            counts.append(int(m.masks[0].any(axis=(1, 2)).sum()))
        except PerceptionUnavailable:
            raise
        except (PerceptionError, ValueError):
            counts.append(0)
    found = [c for c in counts if c > 0]
    mean = sum(found) / len(found) if found else 0.0
    summary = f"'{object_name}' found in {len(found)}/{len(items)} images; {mean:.1f} instances on average where found."
    return {"exists": [c > 0 for c in counts], "counts": counts, "summary": summary}


def segment_image(*args: Any, **kwargs: Any) -> PerFrameMask:
    """Disabled, as in the original: use segment_image_by_text, segment_image_by_points or segment_image_by_box."""
    raise RuntimeError(
        "SAM3.segment_image() is disabled. Use tools.SAM3.segment_image_by_text(image, 'red car'), "
        "segment_image_by_points(image, [[x, y]], [1], 'label') or segment_image_by_box(image, [x1, y1, x2, y2], "
        "'label')"
    )


def segment_video(*args: Any, **kwargs: Any) -> PerFrameMask:
    """Disabled, as in the original: use segment_video_by_text, segment_video_by_points or segment_video_by_box."""
    raise RuntimeError(
        "SAM3.segment_video() is disabled. Use tools.SAM3.segment_video_by_text(['red car', 'person']), "
        "segment_video_by_points([[[x, y]]], [[1]], ['label']) or segment_video_by_box([[x1, y1, x2, y2]], ['label'])"
    )
