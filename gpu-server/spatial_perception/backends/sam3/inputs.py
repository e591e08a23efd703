"""Request checks and conversions of the sam3 backend: params, prompts against the image size, video frames,
prompt coordinates in model pixels, and per-pixel overlap resolution and object limits of the outputs.

Prompts follow docs/conventions.md: pixel (u, v) = (column, row), origin at the top-left pixel centre.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from spatial_perception.backends.base import (
    BoxPrompt,
    PointsPrompt,
    Prompt,
    SegmentVideoRequest,
    TextPrompt,
    backend_params,
)
from spatial_perception.backends.inputs import check_frames
from spatial_perception.errors import BadRequest

SERVER_PARAMS = frozenset({"timeout_s"})
DEFAULT_PARAMS: dict[str, Any] = {"mask_threshold": 0.5, "max_objects": None}
EDGE_TOL_PX = 1e-6
"""Tolerance of the image-edge check of point and box prompts, pixels."""


def parse_params(params: dict[str, Any] | None) -> dict[str, Any]:
    """Check the segmentation params and fill in defaults (``mask_threshold``, ``max_objects``).

    Raises:
        BadRequest: unknown key (the message lists the accepted ones) or a value of the wrong type/range.
    """
    out = backend_params("sam3", params, DEFAULT_PARAMS, SERVER_PARAMS)
    mt = out["mask_threshold"]
    if isinstance(mt, bool) or not isinstance(mt, int | float) or not 0.0 < float(mt) < 1.0:
        raise BadRequest(f"params.mask_threshold must be a probability in (0, 1), got {mt!r}", fix="e.g. 0.5")
    out["mask_threshold"] = float(mt)
    mo = out["max_objects"]
    if mo is not None and (isinstance(mo, bool) or not isinstance(mo, int) or mo < 1):
        raise BadRequest(f"params.max_objects must be a positive integer or null, got {mo!r}")
    return out


def check_video(req: SegmentVideoRequest) -> tuple[list[NDArray[np.uint8]], list[int], int]:
    """Frames, absolute indices and the position of ``prompt_frame_index``.

    Raises:
        BadRequest: no frames, frames of different sizes, index list of the wrong length, or a prompt frame
            index that is not one of ``frame_indices``.
    """
    frames, indices = check_frames(req.frames, req.frame_indices, "segment_video")
    for i, f in enumerate(frames):
        if f.shape != frames[0].shape:
            raise BadRequest(
                f"frames must all have the same size; frames[{i}] is {f.shape[1]}x{f.shape[0]}, "
                f"frames[0] is {frames[0].shape[1]}x{frames[0].shape[0]}",
                fix="resize the frames to one size (frames of one video)",
            )
    if req.prompt_frame_index not in indices:
        shown = ", ".join(map(str, indices[:8])) + (", ..." if len(indices) > 8 else "")
        raise BadRequest(
            f"prompt_frame_index {req.prompt_frame_index} is not one of frame_indices [{shown}]",
            fix="give the absolute index of the frame the prompt refers to (one of the frames sent)",
        )
    return frames, indices, indices.index(int(req.prompt_frame_index))


def check_prompt(prompt: Prompt, hw: tuple[int, int]) -> Prompt:
    """Validate a prompt against an image of size ``hw`` = (H, W).

    Raises:
        BadRequest: empty text, threshold outside [0, 1], points/boxes malformed or outside the image
            (pixel centres: u in [-0.5, W - 0.5], v in [-0.5, H - 0.5]), labels other than 0/1, no foreground point.
    """
    h, w = hw
    if isinstance(prompt, TextPrompt):
        if not isinstance(prompt.text, str) or not prompt.text.strip():
            raise BadRequest("prompt.text is empty", fix='give a short noun phrase, e.g. "chair"')
        th = prompt.threshold
        if isinstance(th, bool) or not isinstance(th, int | float) or not 0.0 <= float(th) <= 1.0:
            raise BadRequest(f"prompt.threshold must be in [0, 1], got {th!r}", fix="e.g. 0.3 (the default)")
        return prompt

    def outside(u: NDArray[np.float64], v: NDArray[np.float64]) -> NDArray[np.bool_]:
        lo = -0.5 - EDGE_TOL_PX
        return (u < lo) | (u > w - 0.5 + EDGE_TOL_PX) | (v < lo) | (v > h - 0.5 + EDGE_TOL_PX)

    if isinstance(prompt, PointsPrompt):
        pts = np.asarray(prompt.points, dtype=np.float64)
        labels = np.asarray(prompt.labels)
        if pts.ndim != 2 or pts.shape[1] != 2 or len(pts) == 0 or not np.isfinite(pts).all():
            raise BadRequest(f"prompt.points must be a non-empty list of [x, y] pixels, got shape {pts.shape}")
        if labels.shape != (len(pts),) or not np.isin(labels, (0, 1)).all():
            raise BadRequest(
                f"prompt.labels must have one 1 (foreground) or 0 (background) per point; got {labels.tolist()}"
            )
        if not (labels == 1).any():
            raise BadRequest("prompt.labels has no foreground point (1)", fix="add at least one point on the object")
        bad = outside(pts[:, 0], pts[:, 1])
        if bad.any():
            raise BadRequest(
                f"prompt.points {pts[bad].tolist()} lie outside the {w}x{h} image "
                f"(x must be in [-0.5, {w - 0.5}], y in [-0.5, {h - 0.5}], pixels)",
                fix="give pixel coordinates of this image (convert 0-1000 VLM points with vlm.to_pixels)",
            )
        return PointsPrompt(points=pts, labels=labels.astype(np.int64))
    if isinstance(prompt, BoxPrompt):
        box = np.asarray(prompt.box, dtype=np.float64).reshape(-1)
        if box.shape != (4,) or not np.isfinite(box).all():
            raise BadRequest(f"prompt.box must be [x1, y1, x2, y2] pixels, got {np.asarray(prompt.box).tolist()}")
        if not (box[2] > box[0] and box[3] > box[1]):
            raise BadRequest(f"prompt.box {box.tolist()} needs x2 > x1 and y2 > y1")
        if outside(box[[0, 2]], box[[1, 3]]).any():
            raise BadRequest(
                f"prompt.box {box.tolist()} extends outside the {w}x{h} image "
                f"(x in [-0.5, {w - 0.5}], y in [-0.5, {h - 0.5}])",
                fix="clip the box to the image",
            )
        return BoxPrompt(box=box)
    raise BadRequest(f"unknown prompt type {type(prompt).__name__}", fix="use a text, points or box prompt")


def geometric_inputs(
    prompt: PointsPrompt | BoxPrompt, hw: tuple[int, int], size: int
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Prompt coordinates in model-input pixels (N, 2) and SAM labels (N,): 1/0 for points, 2/3 for box corners.

    ``u' = (u + 0.5) * S / W - 0.5``, ``v' = (v + 0.5) * S / H - 0.5`` (pixel-centre convention both sides).
    """
    h, w = hw
    if isinstance(prompt, BoxPrompt):
        pts = np.asarray(prompt.box, np.float64).reshape(2, 2)
        labels = np.array([2, 3], np.int64)
    else:
        pts = np.asarray(prompt.points, np.float64)
        labels = np.asarray(prompt.labels, np.int64)
    scale = np.array([size / w, size / h])
    return (pts + 0.5) * scale - 0.5, labels


def non_overlapping(masks: Any, tracker_scores: Any) -> Any:
    """(K, H, W) bool masks -> the same with each pixel kept only for the highest-scoring object claiming it."""
    import torch

    if masks.shape[0] <= 1:
        return masks
    weight = torch.where(masks, tracker_scores.float()[:, None, None] + 1.0, torch.zeros((), device=masks.device))
    winner = weight.argmax(dim=0, keepdim=True)
    ks = torch.arange(masks.shape[0], device=masks.device)[:, None, None]
    return masks & (winner == ks)


def limit_objects(
    masks: NDArray[np.bool_], scores: NDArray[np.float32], labels: list[str], max_objects: int | None
) -> tuple[NDArray[np.bool_], NDArray[np.float32], list[str]]:
    """Keep the ``max_objects`` objects with the highest best-frame score (order kept)."""
    if max_objects is None or masks.shape[1] <= max_objects:
        return masks, scores.astype(np.float32, copy=False), labels
    best = scores.max(axis=0)
    keep = np.sort(np.argsort(-best, kind="stable")[:max_objects])
    return masks[:, keep], scores[:, keep].astype(np.float32, copy=False), [labels[k] for k in keep]
