"""``tools.Geometry``: distances, angles, boxes and planes of 3-D points, and projection into images.

Units are metres and degrees (or radians where asked). Points are ``(N, 3)`` arrays (a single point is a
``(3,)`` array); an ``(H, W, 3)`` point map is accepted wherever a set of points is, and rows with a NaN or
infinite coordinate (invalid pixels) are ignored there. Poses are (4, 4) camera-to-world matrices and
camera frames use OpenCV axes (x right, y down, z forward), as in docs/conventions.md.

Libraries: NumPy linear algebra (SVD for principal axes and least-squares planes), SciPy
(:func:`scipy.spatial.distance.cdist`, :class:`scipy.spatial.cKDTree`), OpenCV (:func:`cv2.minAreaRect`
for upright boxes) and the pinhole model of :mod:`spatial_runtime.geometry`. The plane fit uses RANSAC
(Fischler & Bolles, CACM 1981) followed by a least-squares refit on the inliers.
"""

from __future__ import annotations

from typing import NamedTuple

import cv2
import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.spatial import cKDTree
from scipy.spatial.distance import cdist

from spatial_runtime.geometry import backproject_depth, project_points, transform_points

__all__ = [
    "AABB",
    "ClosestPair",
    "OrientedBox",
    "Plane",
    "Projection",
    "aabb",
    "angle_at",
    "angle_between",
    "camera_center",
    "camera_to_world",
    "centroid",
    "closest_points",
    "distance",
    "fit_plane",
    "invert_pose",
    "oriented_bbox",
    "pairwise_distances",
    "point_to_plane_distance",
    "points_from_depth",
    "points_from_mask",
    "project_to_image",
    "viewing_direction",
    "world_to_camera",
]


# --------------------------------------------------------------------------------------------------
# Input checks
# --------------------------------------------------------------------------------------------------


def _vector(v: ArrayLike, name: str) -> NDArray[np.float64]:
    a = np.asarray(v, dtype=np.float64)
    if a.ndim == 0 or a.shape[-1] not in (2, 3):
        raise ValueError(f"{name} must have shape (..., 3) or (..., 2), got {a.shape}")
    return a


def _points(points: ArrayLike, name: str = "points", min_count: int = 1) -> tuple[NDArray[np.float64], NDArray]:
    """``(N, 3)`` float64 finite points and the boolean row mask they were taken with (input layout)."""
    p = np.asarray(points, dtype=np.float64)
    if p.ndim == 1 and p.shape == (3,):
        p = p[None]
    if p.ndim < 2 or p.shape[-1] != 3:
        raise ValueError(f"{name} must have shape (N, 3) or (H, W, 3) in metres, got {p.shape}")
    keep = np.isfinite(p).all(axis=-1)
    out = p[keep]
    if len(out) < min_count:
        raise ValueError(f"{name} has {len(out)} finite points, at least {min_count} needed (NaN/inf rows are ignored)")
    return out, keep


def _pose(T: ArrayLike, name: str = "cam_to_world") -> NDArray[np.float64]:
    T = np.asarray(T, dtype=np.float64)
    if T.shape[-2:] != (4, 4):
        raise ValueError(f"{name} must be a (4, 4) camera-to-world matrix (or (N, 4, 4)), got shape {T.shape}")
    return T


def _scalar_or_array(x: NDArray[np.float64]) -> float | NDArray[np.float64]:
    return float(x) if np.ndim(x) == 0 else x


# --------------------------------------------------------------------------------------------------
# Distances and angles
# --------------------------------------------------------------------------------------------------


def distance(p: ArrayLike, q: ArrayLike) -> float | NDArray[np.float64]:
    """Euclidean distance between points, in the points' unit (metres).

    Args:
        p, q: points of shape (3,) (or (2,)), or arrays (..., 3) that broadcast against each other.

    Returns:
        A float for two single points, else an array of the broadcast leading shape. NaN coordinates give NaN.

    Raises:
        ValueError: if the last dimensions differ or are not 2 or 3.
    """
    a, b = _vector(p, "p"), _vector(q, "q")
    if a.shape[-1] != b.shape[-1]:
        raise ValueError(f"p and q must have the same dimension, got {a.shape} and {b.shape}")
    return _scalar_or_array(np.linalg.norm(a - b, axis=-1))


def pairwise_distances(a: ArrayLike, b: ArrayLike | None = None) -> NDArray[np.float64]:
    """All distances between two point sets (:func:`scipy.spatial.distance.cdist`, Euclidean).

    Args:
        a: (N, 3) points in metres.
        b: (M, 3) points in metres; ``a`` itself when None.

    Returns:
        (N, M) float64 matrix, ``out[i, j] = |a[i] - b[j]|``.

    Raises:
        ValueError: if the inputs are not (N, D) arrays of the same D.
    """
    A = np.atleast_2d(np.asarray(a, dtype=np.float64))
    B = A if b is None else np.atleast_2d(np.asarray(b, dtype=np.float64))
    if A.ndim != 2 or B.ndim != 2 or A.shape[1] != B.shape[1]:
        raise ValueError(f"a and b must be (N, D) and (M, D) arrays, got {A.shape} and {B.shape}")
    return cdist(A, B)


def angle_between(v1: ArrayLike, v2: ArrayLike, degrees: bool = True) -> float | NDArray[np.float64]:
    """Unsigned angle between two vectors, in [0, 180] degrees (or [0, pi] radians).

    Computed as ``atan2(|v1 x v2|, v1 . v2)``, which stays accurate for nearly parallel vectors
    (unlike ``arccos`` of the normalised dot product).

    Args:
        v1, v2: vectors of shape (3,) or (2,), or broadcasting arrays (..., 3) / (..., 2).
        degrees: return degrees (default) instead of radians.

    Raises:
        ValueError: for mismatched dimensions or a zero-length vector.
    """
    a, b = _vector(v1, "v1"), _vector(v2, "v2")
    if a.shape[-1] != b.shape[-1]:
        raise ValueError(f"v1 and v2 must have the same dimension, got {a.shape} and {b.shape}")
    if (np.linalg.norm(a, axis=-1) == 0).any() or (np.linalg.norm(b, axis=-1) == 0).any():
        raise ValueError("angle_between: a vector has zero length, so its direction is undefined")
    if a.shape[-1] == 2:  # NumPy 2 deprecates 2-D cross products: lift to 3-D
        a = np.concatenate([a, np.zeros(a.shape[:-1] + (1,))], axis=-1)
        b = np.concatenate([b, np.zeros(b.shape[:-1] + (1,))], axis=-1)
    ang = np.arctan2(np.linalg.norm(np.cross(a, b), axis=-1), np.sum(a * b, axis=-1))
    return _scalar_or_array(np.degrees(ang) if degrees else ang)


def angle_at(a: ArrayLike, b: ArrayLike, c: ArrayLike, degrees: bool = True) -> float | NDArray[np.float64]:
    """The angle ABC at vertex ``b`` between the rays b->a and b->c (degrees by default).

    Raises:
        ValueError: if ``a`` or ``c`` coincides with ``b``, or for bad shapes.
    """
    A, B, C = _vector(a, "a"), _vector(b, "b"), _vector(c, "c")
    return angle_between(A - B, C - B, degrees=degrees)


# --------------------------------------------------------------------------------------------------
# Centroids and boxes
# --------------------------------------------------------------------------------------------------


def centroid(points: ArrayLike, weights: ArrayLike | None = None) -> NDArray[np.float64]:
    """Mean of the finite points (NaN/inf rows ignored), optionally weighted.

    Args:
        points: (N, 3) points or an (H, W, 3) point map, metres.
        weights: optional non-negative weights of shape (N,) or (H, W) (e.g. confidence).

    Returns:
        (3,) float64 centroid in the points' frame.

    Raises:
        ValueError: if no finite point is left, the weights' shape differs, or they sum to zero.
    """
    P = np.asarray(points, dtype=np.float64)
    pts, keep = _points(P)
    if weights is None:
        return pts.mean(axis=0)
    w = np.asarray(weights, dtype=np.float64)
    if P.ndim < 2 or w.shape != P.shape[:-1]:
        raise ValueError(f"weights must have shape {P.shape[:-1]} (one per point), got {w.shape}")
    w = w[keep]
    ok = np.isfinite(w)
    if not ok.any() or w[ok].sum() <= 0:
        raise ValueError("centroid: the weights of the finite points sum to zero")
    return np.average(pts[ok], axis=0, weights=w[ok])


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
    pts, _ = _points(points)
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
    pts, _ = _points(points, min_count=3)
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


# --------------------------------------------------------------------------------------------------
# Planes
# --------------------------------------------------------------------------------------------------


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
    pts, keep = _points(P, min_count=3)
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
    return _scalar_or_array(out if signed else np.abs(out))


# --------------------------------------------------------------------------------------------------
# Nearest points
# --------------------------------------------------------------------------------------------------


class ClosestPair(NamedTuple):
    """The closest pair between two point sets: ``distance`` (metres), the two points and their row
    indices in the inputs (for a point map, indices into its flattened (H * W) rows)."""

    distance: float
    point_a: NDArray[np.float64]
    point_b: NDArray[np.float64]
    index_a: int
    index_b: int


def closest_points(a: ArrayLike, b: ArrayLike) -> ClosestPair:
    """The closest pair of points between two sets (e.g. the gap between two objects), with a k-d tree.

    Args:
        a: (N, 3) points or an (H, W, 3) point map (NaN rows ignored), metres.
        b: (M, 3) points or point map.

    Returns:
        :class:`ClosestPair`. The distance is between sampled surface points, so it is an upper bound on the
        true gap between the surfaces (tight for dense samples).

    Raises:
        ValueError: if either set has no finite point.
    """
    A, keep_a = _points(a, "a")
    B, keep_b = _points(b, "b")
    dist, j = cKDTree(B).query(A, k=1)
    i = int(np.argmin(dist))
    rows_a, rows_b = np.flatnonzero(keep_a.reshape(-1)), np.flatnonzero(keep_b.reshape(-1))
    return ClosestPair(float(dist[i]), A[i], B[j[i]], int(rows_a[i]), int(rows_b[j[i]]))


# --------------------------------------------------------------------------------------------------
# Cameras and frames
# --------------------------------------------------------------------------------------------------


def invert_pose(T: ArrayLike) -> NDArray[np.float64]:
    """Inverse of a rigid (4, 4) transform (or a stack (N, 4, 4)): ``[R^T, -R^T t]``.

    Turns camera-to-world into world-to-camera and back. Assumes an orthonormal rotation block.
    """
    T = _pose(T, "T")
    R, t = T[..., :3, :3], T[..., :3, 3]
    out = np.zeros_like(T)
    Rt = np.swapaxes(R, -1, -2)
    out[..., :3, :3] = Rt
    out[..., :3, 3] = -(Rt @ t[..., None])[..., 0]
    out[..., 3, 3] = 1.0
    return out


def world_to_camera(points_world: ArrayLike, cam_to_world: ArrayLike) -> NDArray[np.float64]:
    """Express world points in a camera's frame (OpenCV axes: x right, y down, z forward; metres).

    Args:
        points_world: (..., 3) world points.
        cam_to_world: (4, 4) camera-to-world pose of that camera.

    Returns:
        (..., 3) float64 camera-frame points; z is the depth in front of the camera.
    """
    T = _pose(cam_to_world)
    if T.shape != (4, 4):
        raise ValueError(f"cam_to_world must be one (4, 4) pose here, got {T.shape}")
    return transform_points(points_world, invert_pose(T))


def camera_to_world(points_camera: ArrayLike, cam_to_world: ArrayLike) -> NDArray[np.float64]:
    """Express camera-frame points (OpenCV axes) in world coordinates: ``R @ p + t`` (metres)."""
    T = _pose(cam_to_world)
    if T.shape != (4, 4):
        raise ValueError(f"cam_to_world must be one (4, 4) pose here, got {T.shape}")
    return transform_points(points_camera, T)


def camera_center(cam_to_world: ArrayLike) -> NDArray[np.float64]:
    """Camera position(s) in world coordinates: the translation of the camera-to-world pose.

    Args:
        cam_to_world: (4, 4) pose or (N, 4, 4) stack (e.g. ``Metadata.poses``).

    Returns:
        (3,) or (N, 3) float64 positions in metres.
    """
    return _pose(cam_to_world)[..., :3, 3].copy()


def viewing_direction(cam_to_world: ArrayLike) -> NDArray[np.float64]:
    """Unit world direction(s) the camera looks along (its +z axis): (3,) or (N, 3)."""
    d = _pose(cam_to_world)[..., :3, 2]
    return d / np.linalg.norm(d, axis=-1, keepdims=True)


class Projection(NamedTuple):
    """Pixels ``uv`` (N, 2) float64 (u = column, v = row, origin at the top-left pixel centre), camera
    ``depth`` (N,) in metres along z, and ``visible`` (N,) bool: in front of the camera and, when the
    image size is known, inside the image."""

    uv: NDArray[np.float64]
    depth: NDArray[np.float64]
    visible: NDArray[np.bool_]


def project_to_image(
    points_world: ArrayLike,
    K: ArrayLike,
    cam_to_world: ArrayLike | None = None,
    image_size: tuple[int, int] | None = None,
) -> Projection:
    """Project world points into a camera image (pinhole, no distortion).

    Args:
        points_world: (N, 3) or (3,) points in metres (camera-frame points if ``cam_to_world`` is None).
        K: (3, 3) intrinsics in pixels of that image.
        cam_to_world: (4, 4) camera-to-world pose, or None when the points are already in the camera frame.
        image_size: (W, H) in pixels, as PIL's ``image.size``; if given, ``visible`` also requires
            ``-0.5 <= u < W - 0.5`` and ``-0.5 <= v < H - 0.5`` (inside the pixel grid).

    Returns:
        :class:`Projection`; points behind the camera (z <= 0) get NaN pixels and ``visible`` False.
    """
    p = np.asarray(points_world, dtype=np.float64)
    if p.shape[-1:] != (3,):
        raise ValueError(f"points_world must have shape (N, 3) or (3,), got {p.shape}")
    cam = p if cam_to_world is None else world_to_camera(p, cam_to_world)
    uv = project_points(cam, K)
    z = cam[..., 2]
    visible = np.isfinite(uv).all(axis=-1) & (z > 0)
    if image_size is not None:
        if len(image_size) != 2:
            raise ValueError(f"image_size must be (W, H) in pixels, got {image_size}")
        w, h = image_size
        with np.errstate(invalid="ignore"):
            visible &= (uv[..., 0] >= -0.5) & (uv[..., 0] < w - 0.5) & (uv[..., 1] >= -0.5) & (uv[..., 1] < h - 0.5)
    return Projection(uv, z, visible)


# --------------------------------------------------------------------------------------------------
# Points from masks and depth
# --------------------------------------------------------------------------------------------------


def points_from_mask(
    point_map: ArrayLike,
    mask: ArrayLike,
    confidence: ArrayLike | None = None,
    min_conf: float | None = None,
) -> NDArray[np.float64]:
    """The 3-D points of an object: the finite point-map entries under a mask.

    Args:
        point_map: (H, W, 3) points in metres, in whatever frame the map is in (camera or world).
        mask: (H, W) bool (nonzero = object).
        confidence: optional (H, W) per-pixel confidence (higher = more reliable).
        min_conf: keep only pixels with ``confidence >= min_conf`` (needs ``confidence``).

    Returns:
        (N, 3) float64 points, in row-major pixel order.

    Raises:
        ValueError: if the shapes disagree, or ``min_conf`` is given without ``confidence``.
    """
    pm = np.asarray(point_map, dtype=np.float64)
    m = np.asarray(mask)
    if pm.ndim != 3 or pm.shape[2] != 3:
        raise ValueError(f"point_map must have shape (H, W, 3), got {pm.shape}")
    if m.shape != pm.shape[:2]:
        raise ValueError(f"mask must have shape {pm.shape[:2]} (the point map's H, W), got {m.shape}")
    keep = m.astype(bool) & np.isfinite(pm).all(axis=2)
    if min_conf is not None:
        if confidence is None:
            raise ValueError("min_conf needs the confidence map (confidence=...)")
        c = np.asarray(confidence, dtype=np.float64)
        if c.shape != pm.shape[:2]:
            raise ValueError(f"confidence must have shape {pm.shape[:2]}, got {c.shape}")
        keep &= c >= min_conf
    elif confidence is not None and np.shape(confidence) != pm.shape[:2]:
        raise ValueError(f"confidence must have shape {pm.shape[:2]}, got {np.shape(confidence)}")
    return pm[keep]


def points_from_depth(
    depth: ArrayLike,
    K: ArrayLike,
    cam_to_world: ArrayLike | None = None,
    mask: ArrayLike | None = None,
    stride: int = 1,
) -> NDArray[np.float64]:
    """Back-project the valid depth pixels (optionally under a mask) to 3-D points.

    Args:
        depth: (H, W) depth in metres along the camera z axis (0/NaN = invalid), e.g. ``frame.depth``.
        K: (3, 3) intrinsics of that depth map, e.g. ``Metadata.K``.
        cam_to_world: optional (4, 4) pose (e.g. ``frame.pose``): points come out in world coordinates;
            without it they are in the camera frame (OpenCV axes).
        mask: optional (H, W) bool mask of the pixels to keep.
        stride: keep every ``stride``-th pixel in both directions (speeds up large maps).

    Returns:
        (N, 3) float64 points in metres.
    """
    pm = backproject_depth(depth, K)
    if mask is not None:
        m = np.asarray(mask)
        if m.shape != pm.shape[:2]:
            raise ValueError(f"mask must have shape {pm.shape[:2]} (the depth map's H, W), got {m.shape}")
    else:
        m = np.ones(pm.shape[:2], dtype=bool)
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    pts = points_from_mask(pm[::stride, ::stride], m[::stride, ::stride])
    return pts if cam_to_world is None else camera_to_world(pts, cam_to_world)
