"""Input checks shared by the backends: RGB frames with their absolute indices, and box/points prompts.

The server already checks requests structurally (:mod:`spatial_perception.requests`); backends check again
what they rely on, since they are also called directly (tests, benchmarks). Pixels follow docs/conventions.md:
(u, v) = (column, row), origin at the centre of the top-left pixel. Every problem raises
:class:`~spatial_perception.errors.BadRequest` naming the argument and the fix.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from spatial_perception.backends.base import BoxPrompt, PointsPrompt
from spatial_perception.errors import BadRequest


def check_image(image: Any, name: str) -> NDArray[np.uint8]:
    """Return ``image`` as a C-contiguous (H, W, 3) uint8 RGB array (H, W >= 2), or raise BadRequest naming ``name``."""
    arr = np.asarray(image)
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3 or arr.shape[0] < 2 or arr.shape[1] < 2:
        raise BadRequest(
            f"{name} must be an RGB image (H, W, 3) uint8 of at least 2x2 pixels, got shape {arr.shape} "
            f"dtype {arr.dtype}",
            fix="send 8-bit RGB PNG or JPEG bytes",
        )
    return np.ascontiguousarray(arr)


def check_frames(
    frames: Sequence[Any], frame_indices: Sequence[int], route: str
) -> tuple[list[NDArray[np.uint8]], list[int]]:
    """The frames of a request as (H, W, 3) uint8 RGB arrays, and their absolute frame indices as ints.

    Raises:
        BadRequest: no frames, a frame that is not an RGB image, or not one index per frame.
    """
    images = [check_image(f, f"frames[{i}]") for i, f in enumerate(frames or [])]
    if not images:
        raise BadRequest(f"{route} needs at least one frame", fix="send the frames, with their frame_indices")
    indices = [int(i) for i in frame_indices]
    if len(indices) != len(images):
        raise BadRequest(
            f"frame_indices has {len(indices)} entries for {len(images)} frames",
            fix="send one absolute frame index per frame",
        )
    return images, indices


def prompt_position(indices: list[int], prompt_frame_index: int) -> int:
    """The position in ``indices`` of the frame a video prompt refers to (``prompt_frame_index``, absolute).

    Raises:
        BadRequest: ``prompt_frame_index`` is not one of ``indices``.
    """
    if int(prompt_frame_index) not in indices:
        raise BadRequest(
            f"prompt_frame_index {prompt_frame_index} is not among frame_indices {indices}",
            fix="pass the absolute index of the frame the prompt was drawn on, and include that frame",
        )
    return indices.index(int(prompt_frame_index))


def check_box(prompt: BoxPrompt, height: int, width: int, name: str = "prompt.box") -> tuple[int, int, int, int]:
    """Validate a box prompt against an image of ``height`` x ``width`` pixels.

    Returns:
        (c0, r0, c1, r1): inclusive integer pixel bounds of the pixels whose centres lie inside the box,
        clipped to the image.

    Raises:
        BadRequest: box not 4 finite numbers, x2 <= x1 or y2 <= y1, outside the image, or thinner than 2 px.
    """
    box = np.asarray(prompt.box, dtype=np.float64).reshape(-1)
    if box.shape != (4,) or not np.all(np.isfinite(box)):
        raise BadRequest(
            f"{name} must be 4 finite numbers [x1, y1, x2, y2], got {np.asarray(prompt.box).tolist()}",
            fix="pass the box as [x1, y1, x2, y2] in pixels (top-left and bottom-right corners)",
        )
    x1, y1, x2, y2 = box.tolist()
    if x2 <= x1 or y2 <= y1:
        raise BadRequest(
            f"{name} {box.tolist()} has x2 <= x1 or y2 <= y1",
            fix="pass [x1, y1, x2, y2] with x2 > x1 and y2 > y1 (top-left corner first, pixels)",
        )
    c0, r0 = max(0, math.ceil(x1)), max(0, math.ceil(y1))
    c1, r1 = min(width - 1, math.floor(x2)), min(height - 1, math.floor(y2))
    if c1 < c0 or r1 < r0:
        raise BadRequest(
            f"{name} {box.tolist()} lies outside the {width}x{height} image",
            fix=f"pass a box inside the image: u in [0, {width - 1}], v in [0, {height - 1}] (pixels)",
        )
    if c1 - c0 < 1 or r1 - r0 < 1:
        raise BadRequest(
            f"{name} {box.tolist()} covers less than 2 pixels in width or height inside the image",
            fix="draw a box around the whole object",
        )
    return c0, r0, c1, r1


def check_points(
    prompt: PointsPrompt, height: int, width: int, name: str = "prompt.points"
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Validate a points prompt against an image of ``height`` x ``width`` pixels.

    A point (u, v) belongs to pixel (round(u), round(v)) and must satisfy -0.5 <= u < W - 0.5 and
    -0.5 <= v < H - 0.5.

    Returns:
        pixels (P, 2) int64 [[column, row], ...] and labels (P,) int64 (1 = foreground, 0 = background).

    Raises:
        BadRequest: shapes, non-finite values, labels other than 0/1, no foreground point, points outside.
    """
    pts = np.asarray(prompt.points, dtype=np.float64)
    labels = np.asarray(prompt.labels)
    if pts.ndim != 2 or pts.shape[1] != 2 or pts.shape[0] == 0 or not np.all(np.isfinite(pts)):
        raise BadRequest(
            f"{name} must be a non-empty list of finite [x, y] pixel pairs, got shape {pts.shape}",
            fix="pass points as [[x, y], ...] in pixels",
        )
    if labels.shape != (pts.shape[0],):
        raise BadRequest(
            f"prompt.labels must have one entry per point ({pts.shape[0]}), got shape {labels.shape}",
            fix="pass one label per point: 1 = foreground, 0 = background",
        )
    if not np.all(np.isin(labels, (0, 1))):
        raise BadRequest(
            f"prompt.labels must be 1 (foreground) or 0 (background), got {labels.tolist()}",
            fix="pass one label per point: 1 = foreground, 0 = background",
        )
    labels = labels.astype(np.int64)
    if not np.any(labels == 1):
        raise BadRequest(
            "prompt.labels has no foreground point (label 1)", fix="add at least one point on the object, label 1"
        )
    for i, (u, v) in enumerate(pts.tolist()):
        if not (-0.5 <= u < width - 0.5 and -0.5 <= v < height - 0.5):
            raise BadRequest(
                f"{name}[{i}] = ({u:g}, {v:g}) lies outside the {width}x{height} image",
                fix=f"pass pixel coordinates with x in [0, {width - 1}] and y in [0, {height - 1}]",
            )
    pix = np.clip(np.floor(pts + 0.5), 0, [width - 1, height - 1]).astype(np.int64)
    return pix, labels
