"""GrabCut segmentation of the classical backend (see :mod:`spatial_perception.backends.classical`).

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
"""

from __future__ import annotations

import math
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from spatial_perception.backends.base import BoxPrompt, PointsPrompt, Prompt
from spatial_perception.backends.inputs import check_box, check_points
from spatial_perception.errors import BadRequest

SEED = 12345
"""Seed of OpenCV's RNG before every ``cv2.grabCut`` (its colour GMMs start from k-means)."""
SOFT = 0.1
"""Radius of the probable-foreground disc around foreground points, as a fraction of min(H, W)."""


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
    cv2.setRNGSeed(SEED)  # GrabCut seeds its colour GMMs with k-means: fix the (thread-local) RNG for repeatability
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
    r_soft = max(6, round(SOFT * min(h, w)))
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


def segment(image: NDArray[np.uint8], prompt: Prompt, p: dict[str, Any]) -> tuple[NDArray[np.bool_], float]:
    """Segment one object of an (H, W, 3) uint8 RGB image from a box or points prompt; (H, W) bool mask, score."""
    if isinstance(prompt, BoxPrompt):
        return segment_box(image, prompt, p)
    assert isinstance(prompt, PointsPrompt)
    return segment_points(image, prompt, p)


def refine(
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


def warp(mask: NDArray[np.bool_], flow: NDArray[np.float32]) -> NDArray[np.bool_]:
    """Warp ``mask`` (previous frame) to the new frame; ``flow`` (H, W, 2) maps new-frame pixels to the previous
    frame: new(x) ~ prev(x + flow(x))."""
    h, w = mask.shape
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    warped = cv2.remap(mask.astype(np.float32), gx + flow[..., 0], gy + flow[..., 1], cv2.INTER_LINEAR, borderValue=0.0)
    return warped >= 0.5
