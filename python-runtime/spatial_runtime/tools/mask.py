"""``tools.Mask``: measurements and edits of per-object image masks.

A mask is an (H, W) array marking one object instance's pixels (docs/conventions.md); bool is the
canonical dtype, and any numeric array is accepted with nonzero = inside. Functions that return masks
return new (H, W) bool arrays and never modify their inputs.

Pixel conventions: (u, v) = (column, row), origin at the centre of the top-left pixel. Boxes are
``(x0, y0, x1, y1)`` integer pixel bounds, **half-open** like Python slices: the box covers columns
``x0 .. x1 - 1`` and rows ``y0 .. y1 - 1``, so ``mask[y0:y1, x0:x1]`` crops it and ``x1 - x0`` is its width.

Libraries: NumPy; OpenCV for morphology (:func:`cv2.erode`, :func:`cv2.dilate` with an elliptical
structuring element), connected components (:func:`cv2.connectedComponentsWithStats`), contours
(:func:`cv2.findContours`, :func:`cv2.approxPolyDP`) and polygon filling (:func:`cv2.fillPoly`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import cv2
import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "DepthStats",
    "area",
    "bbox",
    "centroid",
    "components",
    "dilate",
    "erode",
    "from_box",
    "from_polygon",
    "intersection",
    "iou",
    "largest_component",
    "masked_depth_stats",
    "to_polygon",
    "union",
]


def _mask(mask: ArrayLike, name: str = "mask") -> NDArray[np.bool_]:
    m = np.asarray(mask)
    if m.ndim == 3 and m.shape[0] == 1:  # (1, H, W), as some segmenters return
        m = m[0]
    if m.ndim != 2:
        raise ValueError(f"{name} must be an (H, W) array (bool, nonzero = inside), got shape {m.shape}")
    if m.dtype != np.bool_:
        if not np.issubdtype(m.dtype, np.number):
            raise ValueError(f"{name} must be a bool or numeric array, got dtype {m.dtype}")
        m = m != 0
    return m


def _same_shape(masks: Sequence[NDArray[np.bool_]]) -> None:
    shapes = {m.shape for m in masks}
    if len(shapes) != 1:
        raise ValueError(f"masks must all have the same (H, W) shape, got {sorted(shapes)}")


def _u8(m: NDArray[np.bool_]) -> NDArray[np.uint8]:
    return m.astype(np.uint8)


def area(mask: ArrayLike) -> int:
    """Number of pixels in the mask (0 for an empty mask)."""
    return int(np.count_nonzero(_mask(mask)))


def bbox(mask: ArrayLike) -> tuple[int, int, int, int]:
    """Tight box ``(x0, y0, x1, y1)`` of the mask, half-open (``mask[y0:y1, x0:x1]`` holds every pixel).

    Raises:
        ValueError: for an empty mask (it has no box).
    """
    m = _mask(mask)
    rows, cols = np.any(m, axis=1), np.any(m, axis=0)
    if not rows.any():
        raise ValueError("bbox: the mask is empty (no pixel set), so it has no box")
    y0, y1 = np.flatnonzero(rows)[[0, -1]]
    x0, x1 = np.flatnonzero(cols)[[0, -1]]
    return int(x0), int(y0), int(x1) + 1, int(y1) + 1


def centroid(mask: ArrayLike) -> tuple[float, float]:
    """Mean pixel position ``(u, v)`` = (column, row) of the mask, origin at the top-left pixel centre.

    Raises:
        ValueError: for an empty mask.
    """
    m = _mask(mask)
    v, u = np.nonzero(m)
    if len(u) == 0:
        raise ValueError("centroid: the mask is empty (no pixel set)")
    return float(u.mean()), float(v.mean())


def iou(a: ArrayLike, b: ArrayLike) -> float:
    """Intersection over union of two masks of the same shape, in [0, 1]; 0.0 when both are empty."""
    ma, mb = _mask(a, "a"), _mask(b, "b")
    _same_shape([ma, mb])
    union_count = np.count_nonzero(ma | mb)
    return 0.0 if union_count == 0 else float(np.count_nonzero(ma & mb) / union_count)


def union(*masks: ArrayLike) -> NDArray[np.bool_]:
    """Pixel-wise OR of one or more masks of the same shape."""
    return _combine(masks, np.logical_or, "union")


def intersection(*masks: ArrayLike) -> NDArray[np.bool_]:
    """Pixel-wise AND of one or more masks of the same shape."""
    return _combine(masks, np.logical_and, "intersection")


def _combine(masks: tuple[ArrayLike, ...], op: np.ufunc, name: str) -> NDArray[np.bool_]:
    if not masks:
        raise ValueError(f"{name} needs at least one mask")
    ms = [_mask(m, f"mask {i}") for i, m in enumerate(masks)]
    _same_shape(ms)
    return op.reduce(ms)


def _kernel(pixels: int) -> NDArray[np.uint8]:
    if int(pixels) != pixels or pixels < 0:
        raise ValueError(f"pixels must be a non-negative integer radius, got {pixels}")
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * int(pixels) + 1, 2 * int(pixels) + 1))


def erode(mask: ArrayLike, pixels: int = 1) -> NDArray[np.bool_]:
    """Shrink the mask by a disc of radius ``pixels`` (:func:`cv2.erode`, elliptical kernel).

    Pixels outside the image count as inside (OpenCV's default border), so a mask touching the image edge
    is not eaten away from that edge. Eroding removes thin boundary pixels whose depth often mixes
    foreground and background.
    """
    m = _mask(mask)
    if pixels == 0:
        return m.copy()
    return cv2.erode(_u8(m), _kernel(pixels)).astype(bool)


def dilate(mask: ArrayLike, pixels: int = 1) -> NDArray[np.bool_]:
    """Grow the mask by a disc of radius ``pixels`` (:func:`cv2.dilate`, elliptical kernel)."""
    m = _mask(mask)
    if pixels == 0:
        return m.copy()
    return cv2.dilate(_u8(m), _kernel(pixels)).astype(bool)


def components(mask: ArrayLike, connectivity: int = 8, min_area: int = 1) -> list[NDArray[np.bool_]]:
    """Split a mask into its connected components (:func:`cv2.connectedComponentsWithStats`).

    Args:
        mask: (H, W) mask.
        connectivity: 8 (diagonal neighbours connect) or 4.
        min_area: drop components smaller than this many pixels.

    Returns:
        One (H, W) bool mask per component, largest first (ties: top-most, then left-most first).
    """
    if connectivity not in (4, 8):
        raise ValueError(f"connectivity must be 4 or 8, got {connectivity}")
    m = _mask(mask)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(_u8(m), connectivity=connectivity)
    areas = stats[1:, cv2.CC_STAT_AREA]
    order = sorted(range(1, n), key=lambda i: (-areas[i - 1], stats[i, cv2.CC_STAT_TOP], stats[i, cv2.CC_STAT_LEFT]))
    return [labels == i for i in order if areas[i - 1] >= min_area]


def largest_component(mask: ArrayLike, connectivity: int = 8) -> NDArray[np.bool_]:
    """The largest connected component of the mask (an all-False mask if the mask is empty).

    Useful to drop stray fragments of a segmentation before measuring an object.
    """
    parts = components(mask, connectivity=connectivity)
    return parts[0] if parts else np.zeros(_mask(mask).shape, dtype=bool)


def to_polygon(mask: ArrayLike, epsilon: float = 0.0) -> NDArray[np.int32]:
    """Outer boundary of the mask's largest component as a polygon (:func:`cv2.findContours`).

    Args:
        mask: (H, W) mask.
        epsilon: if > 0, simplify the polygon with :func:`cv2.approxPolyDP` to within ``epsilon`` pixels.

    Returns:
        (N, 2) int32 vertices ``(u, v)`` (column, row) of boundary pixels, in contour order.

    Raises:
        ValueError: for an empty mask.
    """
    m = _mask(mask)
    contours, _ = cv2.findContours(_u8(m), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        raise ValueError("to_polygon: the mask is empty (no pixel set)")
    c = max(contours, key=lambda k: (cv2.contourArea(k), len(k)))
    if epsilon > 0:
        c = cv2.approxPolyDP(c, float(epsilon), True)
    return c.reshape(-1, 2).astype(np.int32)


def _shape(shape: Sequence[int]) -> tuple[int, int]:
    shp = tuple(int(s) for s in shape)[:2]
    if len(shp) != 2 or min(shp) <= 0:
        raise ValueError(f"shape must be (H, W) with positive sizes (e.g. depth.shape), got {tuple(shape)}")
    return shp


def from_box(shape: Sequence[int], box: Sequence[float]) -> NDArray[np.bool_]:
    """A mask of the given (H, W) ``shape`` set inside ``box = (x0, y0, x1, y1)`` (half-open, clipped).

    Float coordinates (e.g. from a detector) are rounded to the nearest pixel bound.
    """
    h, w = _shape(shape)
    if len(box) != 4:
        raise ValueError(f"box must be (x0, y0, x1, y1), got {box}")
    x0, y0, x1, y1 = (round(float(c)) for c in box)
    out = np.zeros((h, w), dtype=bool)
    out[max(y0, 0) : max(min(y1, h), 0), max(x0, 0) : max(min(x1, w), 0)] = True
    return out


def from_polygon(shape: Sequence[int], polygon: ArrayLike) -> NDArray[np.bool_]:
    """A mask of the given (H, W) ``shape`` filled inside a polygon of (N, 2) ``(u, v)`` vertices
    (:func:`cv2.fillPoly`; vertices are rounded to pixels, the boundary pixels are included)."""
    h, w = _shape(shape)
    poly = np.asarray(polygon, dtype=np.float64)
    if poly.ndim != 2 or poly.shape[1] != 2 or len(poly) < 3:
        raise ValueError(f"polygon must be an (N, 2) array of (u, v) vertices with N >= 3, got {poly.shape}")
    out = np.zeros((h, w), dtype=np.uint8)
    cv2.fillPoly(out, [np.round(poly).astype(np.int32)], 1)
    return out.astype(bool)


class DepthStats(NamedTuple):
    """Statistics of the valid depths under a mask, in metres (NaN when ``count`` is 0)."""

    count: int
    median: float
    mean: float
    std: float
    min: float
    max: float
    p10: float
    p90: float


def masked_depth_stats(depth: ArrayLike, mask: ArrayLike) -> DepthStats:
    """Robust depth of an object: statistics of the valid depth values under its mask.

    Args:
        depth: (H, W) depth in metres; 0, negative, NaN and inf are invalid and ignored.
        mask: (H, W) mask of the object.

    Returns:
        :class:`DepthStats` (count of valid pixels; median, mean, std, min, max, 10th and 90th percentile in
        metres). The median is the usual "distance of the object from the camera plane". All values are
        NaN when no valid pixel is under the mask.

    Raises:
        ValueError: if the shapes differ.
    """
    d = np.asarray(depth, dtype=np.float64)
    m = _mask(mask)
    if d.shape != m.shape:
        raise ValueError(f"depth {d.shape} and mask {m.shape} must have the same (H, W) shape")
    vals = d[m & np.isfinite(d) & (d > 0)]
    if vals.size == 0:
        nan = float("nan")
        return DepthStats(0, nan, nan, nan, nan, nan, nan, nan)
    p10, med, p90 = np.percentile(vals, [10, 50, 90])
    return DepthStats(
        int(vals.size),
        float(med),
        float(vals.mean()),
        float(vals.std()),
        float(vals.min()),
        float(vals.max()),
        float(p10),
        float(p90),
    )
