"""``tools.Geometry`` shapes fitted to points: axis-aligned and oriented boxes, and planes.

Boxes: min/max (or percentiles) per axis; oriented boxes by PCA (SVD) or upright around an ``up`` vector with
OpenCV's :func:`cv2.minAreaRect`. Planes: least squares, or RANSAC (Fischler & Bolles, CACM 1981) followed by a
least-squares refit on the inliers. Metres throughout; points are (N, 3) or (H, W, 3), NaN rows ignored.
"""

from __future__ import annotations

from typing import NamedTuple

import cv2
import numpy as np
from numpy.typing import ArrayLike, NDArray

from spatial_runtime.tools.geometry._checks import finite_points, scalar_or_array

__all__ = ["AABB", "OrientedBox", "Plane", "aabb", "fit_plane", "oriented_bbox", "point_to_plane_distance"]


class AABB(NamedTuple):
    """Axis-aligned bounding box in the points' frame: ``min`` and ``max`` corners and ``size = max - min``."""

    min: NDArray[np.float64]
    max: NDArray[np.float64]
    size: NDArray[np.float64]

    @property
    def center(self) -> NDArray[np.float64]:
        return (self.min + self.max) / 2


def aabb(points: ArrayLike, percentile: float | None = None) -> AABB:
    """Axis-aligned bounding box of the finite points.

    Args:
        points: (N, 3) points or an (H, W, 3) point map, metres.
        percentile: if given (e.g. 2), use the ``percentile`` and ``100 - percentile`` percentiles per axis
            instead of min and max, which ignores stray depth outliers.

    Returns:
        :class:`AABB` with (3,) float64 ``min``, ``max``, ``size`` (metres) and a ``center`` property.
    """
    pts, _ = finite_points(points)
    if percentile is None:
        lo, hi = pts.min(axis=0), pts.max(axis=0)
    else:
        if not 0 <= percentile < 50:
            raise ValueError(f"percentile must be in [0, 50), got {percentile}")
        lo, hi = np.percentile(pts, [percentile, 100 - percentile], axis=0)
    return AABB(lo, hi, hi - lo)


class OrientedBox(NamedTuple):
    """An oriented box: ``center`` (3,), ``axes`` (3, 3) with one unit axis per ROW (right-handed),
    ``extents`` (3,) full side lengths along those axes (metres), ``corners`` (8, 3)."""

    center: NDArray[np.float64]
    axes: NDArray[np.float64]
    extents: NDArray[np.float64]
    corners: NDArray[np.float64]

    @property
    def volume(self) -> float:
        return float(np.prod(self.extents))


def _box_from_axes(pts: NDArray[np.float64], axes: NDArray[np.float64]) -> OrientedBox:
    local = pts @ axes.T
    lo, hi = local.min(axis=0), local.max(axis=0)
    center = ((lo + hi) / 2) @ axes
    signs = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)], dtype=np.float64)
    corners = center + (signs * (hi - lo) / 2) @ axes
    return OrientedBox(center, axes, hi - lo, corners)


def oriented_bbox(points: ArrayLike, up: ArrayLike | None = None) -> OrientedBox:
    """Oriented bounding box of the finite points.

    Without ``up``: the axes are the principal axes of the points (PCA by SVD), ordered by decreasing
    spread, so ``extents[0]`` is along the longest direction. A PCA box is tight for elongated shapes but
    not the minimum-volume box in general.

    With ``up`` (a world "up" direction, e.g. ``[0, -1, 0]`` for a level OpenCV camera, or the normal of
    the floor plane): an upright box, the usual one for furniture sizes. ``axes[2]`` is ``up``; the
    other two are those of the minimum-area rectangle of the points projected onto the floor plane
    (:func:`cv2.minAreaRect`), longer first.

    Args:
        points: (N, 3) points or an (H, W, 3) point map, metres; at least 3 finite points.
        up: optional (3,) up vector (any length).

    Returns:
        :class:`OrientedBox` (``center``, ``axes`` rows, ``extents``, ``corners``; ``volume`` property).

    Raises:
        ValueError: for fewer than 3 finite points or a zero ``up`` vector.
    """
    pts, _ = finite_points(points, min_count=3)
    mean = pts.mean(axis=0)
    centred = pts - mean
    if up is None:
        _, _, vt = np.linalg.svd(centred, full_matrices=False)
        axes = vt.copy()
    else:
        u = np.asarray(up, dtype=np.float64).reshape(-1)
        if u.shape != (3,) or np.linalg.norm(u) == 0:
            raise ValueError(f"up must be a non-zero (3,) vector, got {np.asarray(up).tolist()}")
        u = u / np.linalg.norm(u)
        # An orthonormal basis (e1, e2) of the plane orthogonal to up.
        helper = np.eye(3)[np.argmin(np.abs(u))]
        e1 = np.cross(u, helper)
        e1 /= np.linalg.norm(e1)
        e2 = np.cross(u, e1)
        flat = np.stack([centred @ e1, centred @ e2], axis=1).astype(np.float32)
        rect = cv2.boxPoints(cv2.minAreaRect(flat)).astype(np.float64)  # 4 consecutive corners
        edges = [rect[1] - rect[0], rect[2] - rect[1]]
        lengths = [np.linalg.norm(e) for e in edges]
        if max(lengths) == 0:  # all points on one vertical line
            edges, lengths = [np.array([1.0, 0.0]), np.array([0.0, 1.0])], [1.0, 1.0]
        order = np.argsort(lengths)[::-1]
        d1 = edges[order[0]] / (lengths[order[0]] or 1.0)
        a1 = d1[0] * e1 + d1[1] * e2
        a2 = np.cross(u, a1)
        axes = np.stack([a1, a2, u])
    if np.linalg.det(axes) < 0:
        axes[1] = -axes[1]
    box = _box_from_axes(centred, axes)
    return OrientedBox(box.center + mean, box.axes, box.extents, box.corners + mean)


class Plane(NamedTuple):
    """A plane ``normal . x + d = 0`` with a unit ``normal`` (3,), offset ``d`` (metres), the ``inliers``
    used for the final fit (bool, one per input point, in the input's layout) and their ``rmse`` (metres)."""

    normal: NDArray[np.float64]
    d: float
    inliers: NDArray[np.bool_]
    rmse: float


def _lsq_plane(pts: NDArray[np.float64]) -> tuple[NDArray[np.float64], float]:
    mean = pts.mean(axis=0)
    _, _, vt = np.linalg.svd(pts - mean, full_matrices=False)
    n = vt[-1]
    return n, float(-n @ mean)


def fit_plane(
    points: ArrayLike,
    threshold: float | None = None,
    iterations: int = 200,
    seed: int = 0,
    toward: ArrayLike | None = None,
) -> Plane:
    """Fit a plane to 3-D points: least squares, or RANSAC when a ``threshold`` is given.

    Least squares (``threshold=None``): the normal is the direction of least spread of all finite points
    (smallest right singular vector of the centred points). Use it for points already known to be on one
    plane.

    RANSAC (``threshold`` in metres, e.g. 0.02): ``iterations`` random 3-point hypotheses are scored by
    how many points lie within ``threshold`` (on at most 50 000 randomly chosen points); the best one's
    inliers are refit by least squares, and the inliers are recomputed once from the refit plane. Use it
    for floors, walls and table tops in cluttered point clouds.

    Sign: the normal is oriented towards ``toward`` (default: the origin of the points' frame, i.e. the
    camera for camera-frame points), so ``toward`` has a positive signed distance. For a floor seen from
    above the normal then points up.

    Args:
        points: (N, 3) points or an (H, W, 3) point map, metres; at least 3 finite points.
        threshold: RANSAC inlier distance in metres, or None for a plain least-squares fit.
        iterations: RANSAC hypotheses.
        seed: random seed (the result is deterministic for a given seed).
        toward: (3,) point on the positive side of the plane (default the origin).

    Returns:
        :class:`Plane` (``normal``, ``d``, ``inliers`` shaped like the input's leading dimensions, ``rmse``).

    Raises:
        ValueError: for fewer than 3 finite points, collinear points, or a non-positive threshold.
    """
    P = np.asarray(points, dtype=np.float64)
    pts, keep = finite_points(P, min_count=3)
    if threshold is None:
        normal, d = _lsq_plane(pts)
        inlier_rows = np.ones(len(pts), dtype=bool)
    else:
        if not threshold > 0:
            raise ValueError(f"threshold must be a positive distance in metres, got {threshold}")
        rng = np.random.default_rng(seed)
        score_pts = pts if len(pts) <= 50_000 else pts[rng.choice(len(pts), 50_000, replace=False)]
        samples = pts[rng.integers(0, len(pts), size=(max(int(iterations), 1), 3))]
        normals = np.cross(samples[:, 1] - samples[:, 0], samples[:, 2] - samples[:, 0])
        norms = np.linalg.norm(normals, axis=1)
        good = norms > 1e-12
        if not good.any():
            raise ValueError("fit_plane: the points are collinear (or identical); no plane is defined")
        normals = normals[good] / norms[good, None]
        ds = -np.einsum("ij,ij->i", normals, samples[good, 0])
        best, best_count = 0, -1
        for start in range(0, len(normals), 32):  # chunks bound the memory to 32 x 50 000 distances
            dist = np.abs(score_pts @ normals[start : start + 32].T + ds[start : start + 32])
            counts = (dist < threshold).sum(axis=0)
            i = int(np.argmax(counts))
            if counts[i] > best_count:
                best, best_count = start + i, int(counts[i])
        inlier_rows = np.abs(pts @ normals[best] + ds[best]) < threshold
        normal, d = _lsq_plane(pts[inlier_rows]) if inlier_rows.sum() >= 3 else (normals[best], float(ds[best]))
        refit = np.abs(pts @ normal + d) < threshold
        if refit.sum() >= 3:
            inlier_rows = refit
    if not np.isfinite(normal).all() or np.linalg.norm(normal) < 0.5:
        raise ValueError("fit_plane: the points are collinear (or identical); no plane is defined")
    t = np.zeros(3) if toward is None else np.asarray(toward, dtype=np.float64).reshape(3)
    if normal @ t + d < 0:
        normal, d = -normal, -d
    residual = pts[inlier_rows] @ normal + d
    inliers = np.zeros(keep.shape, dtype=bool)
    inliers[keep] = inlier_rows
    return Plane(normal, float(d), inliers, float(np.sqrt(np.mean(residual**2))))


def point_to_plane_distance(
    points: ArrayLike, plane: Plane | tuple | ArrayLike, signed: bool = True
) -> float | NDArray[np.float64]:
    """Distance of points to a plane ``n . x + d = 0`` (metres).

    Args:
        points: (3,) or (..., 3) points.
        plane: a :class:`Plane`, a ``(normal, d)`` pair, or a (4,) array ``[a, b, c, d]`` (the normal
            need not be unit length; it is normalised here).
        signed: positive on the side the normal points to (default); absolute distance if False.

    Returns:
        A float for one point, else an array of the points' leading shape.
    """
    if isinstance(plane, Plane):
        n, d = np.asarray(plane.normal, dtype=np.float64), float(plane.d)
    elif isinstance(plane, tuple) and len(plane) == 2:
        n, d = np.asarray(plane[0], dtype=np.float64), float(plane[1])
    else:
        arr = np.asarray(plane, dtype=np.float64).reshape(-1)
        if arr.shape != (4,):
            raise ValueError(f"plane must be a Plane, (normal, d) or [a, b, c, d], got shape {arr.shape}")
        n, d = arr[:3], float(arr[3])
    if n.shape != (3,) or np.linalg.norm(n) == 0:
        raise ValueError(f"the plane normal must be a non-zero (3,) vector, got {n.tolist()}")
    scale = np.linalg.norm(n)
    p = np.asarray(points, dtype=np.float64)
    if p.shape[-1:] != (3,):
        raise ValueError(f"points must have shape (..., 3), got {p.shape}")
    out = (p @ n + d) / scale
    return scalar_or_array(out if signed else np.abs(out))
