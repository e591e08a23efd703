"""Classical segmentation backend: GrabCut for single images, DIS optical flow + GrabCut for videos.

No learned weights and no GPU: it runs wherever OpenCV runs, so the workbench can segment objects (and the
tests can exercise the segmentation routes on real data) without SAM3. It supports box and point prompts;
text prompts need an open-vocabulary model and raise :class:`~spatial_perception.errors.Unsupported`.

Methods (OpenCV implementations):
    * GrabCut, Rother, Kolmogorov & Blake, "GrabCut: interactive foreground extraction using iterated graph
      cuts", SIGGRAPH 2004 (``cv2.grabCut``): colour GMMs for foreground/background plus a graph cut.
    * DIS optical flow, Kroeger, Timofte, Dai & Van Gool, "Fast optical flow using dense inverse search",
      ECCV 2016 (``cv2.DISOpticalFlow``, preset MEDIUM).

Image segmentation (``segment_image``), returning ``MaskResult`` with masks (1, 1, H, W) bool, scores (1, 1)
float32 and labels ``["object 1"]``:
    * box prompt ``[x1, y1, x2, y2]`` (pixels, docs/conventions.md: u = column, v = row, origin at the top-left
      pixel centre; pixel (u, v) is inside when x1 <= u <= x2 and y1 <= v <= y2): GrabCut initialised with the
      rectangle (``GC_INIT_WITH_RECT``: outside = sure background, inside = probable foreground) on a crop of the
      box plus a margin of ``max(20 px, 0.05 * longest box side)`` (the background colour model comes from the
      object's immediate surroundings); the largest connected component of the foreground is kept.
    * points prompt: GrabCut initialised with a label mask (``GC_INIT_WITH_MASK``) on the whole image:
      every pixel starts as ``GC_PR_BGD``; a disc of radius ``max(6, 0.1 * min(H, W))`` px around each
      foreground point is ``GC_PR_FGD`` (gives the foreground colour model its first samples); a disc of radius
      ``max(2, 0.01 * min(H, W))`` px around each foreground point is ``GC_FGD`` and around each background point
      ``GC_BGD`` (hard constraints). The connected components that contain foreground points are kept.
    * clean-up: morphological opening then closing with an elliptical kernel of about 2 % of the object's
      equivalent diameter (at least 3 px), enclosed holes smaller than ``fill_holes`` (fraction of the mask area,
      default 0.1) are filled, then the component selection above is applied again.
    * work size: crops larger than ``max_pixels`` (default 60000, about 245 x 245) are downscaled for GrabCut
      (its graph cut slows down faster than linearly with the pixel count) and the foreground is upsampled back
      (bilinear on the 0/1 mask, threshold 0.5).
    * determinism: GrabCut initialises its colour GMMs with k-means on OpenCV's (thread-local) RNG; it is seeded
      before every call, so equal inputs give equal masks (the server caches results by input).
    * score, in [0, 1], a quality estimate (GrabCut has no calibrated confidence), 0 for an empty mask:
      ``clean = IoU(final mask, raw GrabCut foreground)`` (1 when GrabCut produced one clean blob, lower when the
      clean-up had to drop fragments), times, for boxes, the tightness ``area(bounding box of the mask) /
      area(prompt box)`` (a box drawn around an object should be touched by it on all sides; GrabCut keeping
      only part of the object gives a low value) and the fill penalty ``clip((1 - fill) / 0.1, 0, 1)`` with
      ``fill`` = mask area / box area (a mask filling more than 90 % of its box usually means GrabCut could not
      separate the object and returned the box); for points, times ``1 - (hard seed pixels / mask area)`` (a mask
      that is little more than the seed discs gets a low score).

Video segmentation (``segment_video``), masks (T, 1, H, W) bool, scores (T, 1) float32, frame_indices (T,):
    * frames must have strictly increasing absolute ``frame_indices``; the prompt applies to the frame whose
      absolute index is ``prompt_frame_index`` and is segmented as above.
    * propagation runs forward (to later frames) and backward (to earlier frames) from the prompt frame, one
      given frame to the next: DIS flow from the new frame to the previous one warps the previous mask
      (``cv2.remap``, bilinear, threshold 0.5); the warped mask initialises GrabCut on a crop around it: the mask
      eroded by ``max(2, 0.25 * r)`` px (r = equivalent radius) is ``GC_FGD``, the rest of the mask ``GC_PR_FGD``,
      a ring dilated by ``max(4, 0.3 * r)`` px ``GC_PR_BGD``, the rest of the crop ``GC_BGD``. The refined
      component overlapping the warped mask most is kept.
    * the refinement is rejected (the warped mask is used, frame listed in ``info.refine_rejected``) when its
      area differs from the warped mask's by more than a factor of 2 or its IoU with it is below 0.5.
    * collapse: when the warped mask's area drops below ``min_area_ratio`` (default 0.1) of the prompt frame's
      mask area, propagation in that direction stops; that frame and those beyond it get empty masks and
      score 0 and are listed in ``info.lost``.
    * per-frame score: the prompt frame's image score; elsewhere IoU(refined, warped) (agreement of appearance
      and motion), halved when the refinement was rejected; 0 when lost.
    * ``cancel`` is checked between frames (raises :class:`~spatial_perception.errors.Cancelled`).

Params (all optional): ``iterations`` (int 1..20, default 5, GrabCut iterations), ``max_pixels`` (int >= 10000,
default 60000), ``fill_holes`` (float 0..1, default 0.1; 0 disables), ``min_area_ratio`` (float 0..1,
default 0.1, video only), ``timeout_s``/``max_frames`` (handled by the server, ignored here). Other keys raise
:class:`~spatial_perception.errors.BadRequest`.

Limitations (measured on the bundled real data, see test/python/test_classical_backend.py): GrabCut separates
objects by colour only. Objects that share their surroundings' colours (a cream armchair against cream walls, a
wooden table among wooden chairs) give partial or empty masks, or include the look-alike neighbours; a box that
is drawn slightly differently can flip the result. Check ``scores`` and prefer sam3 where available.
"""

from __future__ import annotations

import math
import threading
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from spatial_perception.backends.base import (
    Backend,
    BoxPrompt,
    MaskResult,
    PointsPrompt,
    Prompt,
    SegmentImageRequest,
    SegmentVideoRequest,
    TextPrompt,
)
from spatial_perception.errors import BadRequest, Cancelled, Unsupported

TEXT_BACKENDS = "sam3 (GPU) and oracle (ground-truth labels)"
_DEFAULTS: dict[str, Any] = {
    "iterations": 5,
    "max_pixels": 60_000,
    "fill_holes": 0.1,
    "min_area_ratio": 0.1,
}
_SERVER_PARAMS = {"timeout_s", "max_frames"}
_SEED = 12345
_SOFT = 0.1  # radius of the probable-foreground disc around foreground points, fraction of min(H, W)


# ----------------------------------------------------------------------------------------------------------
# Input validation (also used by the oracle backend).
# ----------------------------------------------------------------------------------------------------------


def check_image(image: Any, name: str) -> NDArray[np.uint8]:
    """Return ``image`` as a C-contiguous (H, W, 3) uint8 array, or raise BadRequest naming ``name``."""
    arr = np.asarray(image)
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3 or arr.shape[0] < 2 or arr.shape[1] < 2:
        raise BadRequest(
            f"{name} must be an RGB image (H, W, 3) uint8, got shape {arr.shape} dtype {arr.dtype}",
            fix="send 8-bit RGB PNG or JPEG bytes",
        )
    return np.ascontiguousarray(arr)


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


def _params(params: dict[str, Any], video: bool) -> dict[str, Any]:
    known = set(_DEFAULTS) if video else set(_DEFAULTS) - {"min_area_ratio"}
    unknown = sorted(set(params) - known - _SERVER_PARAMS)
    if unknown:
        raise BadRequest(
            f"unknown params for the classical backend: {', '.join(unknown)}",
            fix=f"use only {', '.join(sorted(known))}",
        )
    out = {k: params.get(k, v) for k, v in _DEFAULTS.items()}
    it = out["iterations"]
    if isinstance(it, bool) or not isinstance(it, int) or not 1 <= it <= 20:
        raise BadRequest(f"params.iterations must be an integer 1..20, got {it!r}", fix="omit it (default 5)")
    mp = out["max_pixels"]
    if isinstance(mp, bool) or not isinstance(mp, int) or mp < 10000:
        raise BadRequest(f"params.max_pixels must be an integer >= 10000, got {mp!r}", fix="omit it (default 307200)")
    for key in ("fill_holes", "min_area_ratio"):
        val = out[key]
        if isinstance(val, bool) or not isinstance(val, (int, float)) or not 0.0 <= float(val) <= 1.0:
            raise BadRequest(f"params.{key} must be a number in [0, 1], got {val!r}", fix=f"omit it ({_DEFAULTS[key]})")
        out[key] = float(val)
    return out


def _reject_text(prompt: Prompt) -> None:
    if isinstance(prompt, TextPrompt):
        raise Unsupported(
            f"the classical backend cannot segment from a text prompt ({prompt.text!r}); text prompts are supported "
            f"by {TEXT_BACKENDS}",
            fix=f"use a box or points prompt with the classical backend, or select a text-capable backend: "
            f"{TEXT_BACKENDS}",
        )
    if not isinstance(prompt, (BoxPrompt, PointsPrompt)):
        raise BadRequest(
            f"prompt must be a box, points or text prompt, got {type(prompt).__name__}",
            fix='pass {"type": "box", "box": [x1, y1, x2, y2]} or {"type": "points", ...}',
        )


# ----------------------------------------------------------------------------------------------------------
# Mask helpers.
# ----------------------------------------------------------------------------------------------------------


def _ellipse(radius: int) -> NDArray[np.uint8]:
    r = max(1, int(radius))
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))


def _iou(a: NDArray[np.bool_], b: NDArray[np.bool_]) -> float:
    union = np.count_nonzero(a | b)
    return float(np.count_nonzero(a & b)) / union if union else 0.0


def _components(mask: NDArray[np.bool_]) -> tuple[int, NDArray[np.int32], NDArray[np.int32]]:
    n, lab, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    return n, lab, stats[:, cv2.CC_STAT_AREA]


def _select(
    mask: NDArray[np.bool_], seeds: NDArray[np.int64] | None = None, guide: NDArray[np.bool_] | None = None
) -> NDArray[np.bool_]:
    """Keep the components containing ``seeds`` ((P, 2) [col, row]), else the one overlapping ``guide`` most,
    else the largest."""
    n, lab, areas = _components(mask)
    if n <= 1:
        return np.zeros_like(mask)
    if seeds is not None:
        ids = {int(lab[r, c]) for c, r in seeds.tolist()} - {0}
        if ids:
            return np.isin(lab, sorted(ids))
    if guide is not None:
        overlap = np.bincount(lab[guide].ravel(), minlength=n)
        overlap[0] = 0
        if overlap.max() > 0:
            return lab == int(np.argmax(overlap))
    return lab == int(np.argmax(areas[1:]) + 1)


def _fill_small_holes(mask: NDArray[np.bool_], max_fraction: float) -> NDArray[np.bool_]:
    """Fill background regions enclosed by ``mask`` (not touching the image border) smaller than
    ``max_fraction`` of the mask area."""
    if max_fraction <= 0 or not mask.any():
        return mask
    n, lab, areas = _components(~mask)
    h, w = mask.shape
    border = set(np.unique(np.concatenate([lab[0], lab[h - 1], lab[:, 0], lab[:, w - 1]])).tolist())
    limit = max_fraction * np.count_nonzero(mask)
    small = [i for i in range(1, n) if i not in border and areas[i] <= limit]
    return mask | np.isin(lab, small) if small else mask


def _cleanup(
    raw: NDArray[np.bool_],
    fill: float,
    seeds: NDArray[np.int64] | None = None,
    guide: NDArray[np.bool_] | None = None,
) -> NDArray[np.bool_]:
    """Select components, open + close with a kernel of ~2 % of the object's diameter, fill holes, reselect."""
    mask = _select(raw, seeds, guide)
    area = np.count_nonzero(mask)
    if area == 0:
        return mask
    k = _ellipse(max(1, round(0.01 * 2 * math.sqrt(area / math.pi))))
    m8 = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_OPEN, k)
    m8 = cv2.morphologyEx(m8, cv2.MORPH_CLOSE, k)
    out = _fill_small_holes(m8.astype(bool), fill)
    if seeds is not None:  # hard foreground points stay foreground even if the opening removed them
        out[seeds[:, 1], seeds[:, 0]] = True
    out = _select(out, seeds, guide if guide is not None else mask)
    return out


def _grabcut(
    image: NDArray[np.uint8],
    crop: tuple[int, int, int, int],
    iterations: int,
    max_pixels: int,
    rect: tuple[int, int, int, int] | None = None,
    init: NDArray[np.uint8] | None = None,
) -> NDArray[np.bool_]:
    """Run ``cv2.grabCut`` on ``image[r0:r1+1, c0:c1+1]`` (crop = (c0, r0, c1, r1) inclusive).

    Either ``rect`` (c0, r0, c1, r1 inclusive, full-image pixels) for GC_INIT_WITH_RECT, or ``init`` (H, W) uint8
    GrabCut labels (full image) for GC_INIT_WITH_MASK. Returns the (H, W) bool foreground (FGD or PR_FGD), False
    outside the crop.
    """
    h, w = image.shape[:2]
    c0, r0, c1, r1 = crop
    sub = image[r0 : r1 + 1, c0 : c1 + 1]
    ch, cw = sub.shape[:2]
    scale = min(1.0, math.sqrt(max_pixels / float(ch * cw)))
    sw, sh = max(2, round(cw * scale)), max(2, round(ch * scale))
    work = np.ascontiguousarray(cv2.resize(sub, (sw, sh), interpolation=cv2.INTER_AREA) if scale < 1 else sub)
    bgd = np.zeros((1, 65), np.float64)
    fgd = np.zeros((1, 65), np.float64)
    cv2.setRNGSeed(_SEED)  # GrabCut seeds its colour GMMs with k-means: fix the (thread-local) RNG for repeatability
    if rect is not None:
        x0 = int(math.floor((rect[0] - c0) * sw / cw))
        y0 = int(math.floor((rect[1] - r0) * sh / ch))
        x1 = int(math.ceil((rect[2] - c0 + 1) * sw / cw))
        y1 = int(math.ceil((rect[3] - r0 + 1) * sh / ch))
        gc = np.zeros((sh, sw), np.uint8)
        cv2.grabCut(work, gc, (x0, y0, max(1, x1 - x0), max(1, y1 - y0)), bgd, fgd, iterations, cv2.GC_INIT_WITH_RECT)
    else:
        assert init is not None
        gc = init[r0 : r1 + 1, c0 : c1 + 1]
        gc = np.ascontiguousarray(cv2.resize(gc, (sw, sh), interpolation=cv2.INTER_NEAREST) if scale < 1 else gc)
        cv2.grabCut(work, gc, None, bgd, fgd, iterations, cv2.GC_INIT_WITH_MASK)
    fg = ((gc == cv2.GC_FGD) | (gc == cv2.GC_PR_FGD)).astype(np.float32)
    if scale < 1:
        fg = cv2.resize(fg, (cw, ch), interpolation=cv2.INTER_LINEAR)
    out = np.zeros((h, w), bool)
    out[r0 : r1 + 1, c0 : c1 + 1] = fg >= 0.5
    return out


def _expand(c0: int, r0: int, c1: int, r1: int, margin: int, h: int, w: int) -> tuple[int, int, int, int]:
    return max(0, c0 - margin), max(0, r0 - margin), min(w - 1, c1 + margin), min(h - 1, r1 + margin)


def segment_box(image: NDArray[np.uint8], prompt: BoxPrompt, p: dict[str, Any]) -> tuple[NDArray[np.bool_], float]:
    """GrabCut from a box. Returns the (H, W) bool mask and its score (see the module docstring)."""
    h, w = image.shape[:2]
    c0, r0, c1, r1 = check_box(prompt, h, w)
    bw, bh = c1 - c0 + 1, r1 - r0 + 1
    crop = _expand(c0, r0, c1, r1, max(20, round(0.05 * max(bw, bh))), h, w)
    crop_area = (crop[2] - crop[0] + 1) * (crop[3] - crop[1] + 1)
    if crop_area - bw * bh < 64:
        raise BadRequest(
            f"prompt.box {np.asarray(prompt.box).tolist()} covers (almost) the whole image; GrabCut needs background "
            "pixels outside the box",
            fix="draw a tighter box around the object, or use a points prompt",
        )
    raw = _grabcut(image, crop, p["iterations"], p["max_pixels"], rect=(c0, r0, c1, r1))
    mask = _cleanup(raw, p["fill_holes"])
    mask[:, :c0] = False
    mask[:, c1 + 1 :] = False
    mask[:r0] = False
    mask[r1 + 1 :] = False
    area = np.count_nonzero(mask)
    if area == 0:
        return mask, 0.0
    fill = area / float(bw * bh)
    rows, cols = np.nonzero(mask)
    mask_box = (bw * bh, (cols.max() - cols.min() + 1) * (rows.max() - rows.min() + 1))
    tight = mask_box[1] / float(mask_box[0])  # the mask's bounding box lies inside the prompt box
    return mask, _iou(mask, raw) * tight * float(np.clip((1.0 - fill) / 0.1, 0.0, 1.0))


def segment_points(
    image: NDArray[np.uint8], prompt: PointsPrompt, p: dict[str, Any]
) -> tuple[NDArray[np.bool_], float]:
    """GrabCut from foreground/background points. Returns the (H, W) bool mask and its score."""
    h, w = image.shape[:2]
    pix, labels = check_points(prompt, h, w)
    init = np.full((h, w), cv2.GC_PR_BGD, np.uint8)
    r_hard = max(2, round(0.01 * min(h, w)))
    r_soft = max(6, round(_SOFT * min(h, w)))
    fg = pix[labels == 1]
    for c, r in fg.tolist():
        cv2.circle(init, (c, r), r_soft, cv2.GC_PR_FGD, -1)
    for (c, r), lab in zip(pix.tolist(), labels.tolist(), strict=True):
        cv2.circle(init, (c, r), r_hard, cv2.GC_FGD if lab == 1 else cv2.GC_BGD, -1)
    raw = _grabcut(image, (0, 0, w - 1, h - 1), p["iterations"], p["max_pixels"], init=init)
    raw[fg[:, 1], fg[:, 0]] = True
    raw &= init != cv2.GC_BGD
    mask = _cleanup(raw, p["fill_holes"], seeds=fg)
    mask &= init != cv2.GC_BGD
    area = np.count_nonzero(mask)
    if area == 0:
        return mask, 0.0
    hard = np.count_nonzero(mask & (init == cv2.GC_FGD))
    return mask, _iou(mask, raw) * (1.0 - hard / float(area))


def _segment(image: NDArray[np.uint8], prompt: Prompt, p: dict[str, Any]) -> tuple[NDArray[np.bool_], float]:
    if isinstance(prompt, BoxPrompt):
        return segment_box(image, prompt, p)
    assert isinstance(prompt, PointsPrompt)
    return segment_points(image, prompt, p)


def _refine(
    image: NDArray[np.uint8], warped: NDArray[np.bool_], p: dict[str, Any]
) -> tuple[NDArray[np.bool_], float, bool]:
    """GrabCut seeded by a flow-warped mask. Returns (mask, score, accepted)."""
    h, w = warped.shape
    area = np.count_nonzero(warped)
    r_eq = math.sqrt(area / math.pi)
    w8 = warped.astype(np.uint8)
    sure = cv2.erode(w8, _ellipse(max(2, round(0.25 * r_eq)))).astype(bool)
    ring = cv2.dilate(w8, _ellipse(max(4, round(0.3 * r_eq)))).astype(bool)
    init = np.full((h, w), cv2.GC_BGD, np.uint8)
    init[ring] = cv2.GC_PR_BGD
    init[warped] = cv2.GC_PR_FGD
    init[sure] = cv2.GC_FGD
    rows, cols = np.nonzero(ring)
    c0, r0, c1, r1 = int(cols.min()), int(rows.min()), int(cols.max()), int(rows.max())
    crop = _expand(c0, r0, c1, r1, max(16, round(0.3 * max(c1 - c0 + 1, r1 - r0 + 1))), h, w)
    try:
        raw = _grabcut(image, crop, p["iterations"], p["max_pixels"], init=init)
    except cv2.error:  # e.g. the crop has no background sample left (object fills the frame)
        return _cleanup(warped, p["fill_holes"]), 0.0, False
    mask = _cleanup(raw, p["fill_holes"], guide=warped)
    iou = _iou(mask, warped)
    ratio = np.count_nonzero(mask) / float(area)
    if iou < 0.5 or not 0.5 <= ratio <= 2.0:
        return _cleanup(warped, p["fill_holes"], guide=warped), 0.5 * iou, False
    return mask, iou, True


def _warp(mask: NDArray[np.bool_], flow: NDArray[np.float32]) -> NDArray[np.bool_]:
    """Warp ``mask`` (previous frame) to the new frame; ``flow`` (H, W, 2) maps new-frame pixels to the previous
    frame: new(x) ~ prev(x + flow(x))."""
    h, w = mask.shape
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    warped = cv2.remap(mask.astype(np.float32), gx + flow[..., 0], gy + flow[..., 1], cv2.INTER_LINEAR, borderValue=0.0)
    return warped >= 0.5


class ClassicalBackend(Backend):
    """GrabCut + DIS optical flow segmentation on the CPU (see the module docstring for the method and params).

    Constructor options are accepted and ignored (the server may pass generic options to every backend).
    """

    name = "classical"
    version = "1"
    capabilities = frozenset({"segment_image", "segment_video", "points", "box"})
    device = "cpu"

    def __init__(self, **options: object) -> None:
        self.options = dict(options)

    def available(self) -> tuple[bool, str | None]:
        return True, None

    def segment_image(self, req: SegmentImageRequest, cancel: threading.Event) -> MaskResult:
        """Segment one object in ``req.image`` ((H, W, 3) uint8) from a box or points prompt.

        Returns:
            MaskResult: masks (1, 1, H, W) bool, scores (1, 1) float32, frame_indices [0], labels ["object 1"].

        Raises:
            Unsupported: text prompt. BadRequest: bad image, prompt or params. Cancelled: cancel was set.
        """
        _reject_text(req.prompt)
        p = _params(req.params, video=False)
        image = check_image(req.image, "image")
        if cancel.is_set():
            raise Cancelled("segmentation cancelled before it started")
        mask, score = _segment(image, req.prompt, p)
        return MaskResult(
            masks=mask[None, None],
            scores=np.array([[score]], np.float32),
            frame_indices=np.asarray([req.frame_index], np.int64),
            labels=["object 1"],
            info=self._info(p, "grabcut", mask_empty=not mask.any()),
        )

    def segment_video(self, req: SegmentVideoRequest, cancel: threading.Event) -> MaskResult:
        """Segment one object in the prompt frame and propagate it forward and backward through ``req.frames``.

        Returns:
            MaskResult: masks (T, 1, H, W) bool, scores (T, 1) float32, frame_indices (T,) int64 absolute,
            labels ["object 1"]; info has ``propagation`` counts, ``refine_rejected`` and ``lost`` frame indices.

        Raises:
            Unsupported: text prompt. BadRequest: frames/indices/prompt/params invalid. Cancelled: cancel was set.
        """
        _reject_text(req.prompt)
        p = _params(req.params, video=True)
        frames = [check_image(f, f"frames[{i}]") for i, f in enumerate(req.frames)]
        if not frames:
            raise BadRequest("frames is empty", fix="send at least one frame")
        indices = [int(i) for i in req.frame_indices]
        if len(indices) != len(frames):
            raise BadRequest(
                f"frame_indices has {len(indices)} entries for {len(frames)} frames",
                fix="send one absolute frame index per frame",
            )
        if any(b <= a for a, b in zip(indices, indices[1:], strict=False)):
            raise BadRequest(
                f"frame_indices must be strictly increasing, got {indices}",
                fix="send the frames in temporal order, each once",
            )
        h, w = frames[0].shape[:2]
        for i, f in enumerate(frames):
            if f.shape[:2] != (h, w):
                raise BadRequest(
                    f"frames[{i}] is {f.shape[1]}x{f.shape[0]} but frames[0] is {w}x{h}",
                    fix="send frames of one video, all the same size",
                )
        if int(req.prompt_frame_index) not in indices:
            raise BadRequest(
                f"prompt_frame_index {req.prompt_frame_index} is not among frame_indices {indices}",
                fix="pass the absolute index of the frame the prompt was drawn on, and include that frame",
            )
        start = indices.index(int(req.prompt_frame_index))
        t = len(frames)
        masks = np.zeros((t, 1, h, w), bool)
        scores = np.zeros((t, 1), np.float32)
        if cancel.is_set():
            raise Cancelled("segmentation cancelled before it started")
        mask0, score0 = _segment(frames[start], req.prompt, p)
        masks[start, 0], scores[start, 0] = mask0, score0
        area0 = np.count_nonzero(mask0)
        gray = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames]
        dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        rejected: list[int] = []
        lost: list[int] = []
        counts = {"forward": 0, "backward": 0}
        for direction, order in (("forward", range(start + 1, t)), ("backward", range(start - 1, -1, -1))):
            prev = mask0
            step = 1 if direction == "forward" else -1
            for k in order:
                if cancel.is_set():
                    raise Cancelled(f"segmentation cancelled at frame {indices[k]}")
                if area0 == 0:
                    lost.append(indices[k])
                    continue
                flow = dis.calc(gray[k], gray[k - step], None)
                warped = _warp(prev, flow)
                if np.count_nonzero(warped) < p["min_area_ratio"] * area0:
                    lost.extend(indices[j] for j in order if (j - k) * step >= 0)
                    break
                mask, score, ok = _refine(frames[k], warped, p)
                if not ok:
                    rejected.append(indices[k])
                masks[k, 0], scores[k, 0] = mask, score
                counts[direction] += 1
                prev = mask
        info = self._info(p, "grabcut+dis_flow", mask_empty=area0 == 0)
        info.update(
            {
                "prompt_frame_index": int(req.prompt_frame_index),
                "propagation": counts,
                "refine_rejected": sorted(rejected),
                "lost": sorted(set(lost)),
            }
        )
        if lost:
            info["notes"].append(
                f"the mask collapsed (or was empty) and propagation stopped; frames {sorted(set(lost))} have empty "
                "masks; prompt on a frame nearer to them"
            )
        return MaskResult(
            masks=masks,
            scores=scores,
            frame_indices=np.asarray(indices, np.int64),
            labels=["object 1"],
            info=info,
        )

    @staticmethod
    def _info(p: dict[str, Any], method: str, mask_empty: bool) -> dict[str, Any]:
        notes: list[str] = []
        if mask_empty:
            notes.append("GrabCut found no foreground; try a tighter box or more foreground points")
        refs = ["Rother, Kolmogorov, Blake: GrabCut, SIGGRAPH 2004"]
        if "dis" in method:
            refs.append("Kroeger, Timofte, Dai, Van Gool: Fast optical flow using dense inverse search, ECCV 2016")
        return {"method": method, "iterations": p["iterations"], "references": refs, "notes": notes}
