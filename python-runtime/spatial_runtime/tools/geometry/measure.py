"""``tools.Geometry`` measurements: distances, angles, centroids and the closest pair of two point sets.

Units are metres and degrees (or radians where asked); points are (N, 3) arrays or (H, W, 3) point maps, NaN or
infinite rows ignored (docs/conventions.md). SciPy gives :func:`scipy.spatial.distance.cdist` and
:class:`scipy.spatial.cKDTree`.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.spatial import cKDTree
from scipy.spatial.distance import cdist

from spatial_runtime.tools.geometry._checks import as_vector, finite_points, scalar_or_array

__all__ = ["ClosestPair", "angle_at", "angle_between", "centroid", "closest_points", "distance", "pairwise_distances"]


def distance(p: ArrayLike, q: ArrayLike) -> float | NDArray[np.float64]:
    """Euclidean distance between points, in the points' unit (metres).

    Args:
        p, q: points of shape (3,) (or (2,)), or arrays (..., 3) that broadcast against each other.

    Returns:
        A float for two single points, else an array of the broadcast leading shape. NaN coordinates give NaN.

    Raises:
        ValueError: if the last dimensions differ or are not 2 or 3.
    """
    a, b = as_vector(p, "p"), as_vector(q, "q")
    if a.shape[-1] != b.shape[-1]:
        raise ValueError(f"p and q must have the same dimension, got {a.shape} and {b.shape}")
    return scalar_or_array(np.linalg.norm(a - b, axis=-1))


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
    a, b = as_vector(v1, "v1"), as_vector(v2, "v2")
    if a.shape[-1] != b.shape[-1]:
        raise ValueError(f"v1 and v2 must have the same dimension, got {a.shape} and {b.shape}")
    if (np.linalg.norm(a, axis=-1) == 0).any() or (np.linalg.norm(b, axis=-1) == 0).any():
        raise ValueError("angle_between: a vector has zero length, so its direction is undefined")
    if a.shape[-1] == 2:  # NumPy 2 deprecates 2-D cross products: lift to 3-D
        a = np.concatenate([a, np.zeros(a.shape[:-1] + (1,))], axis=-1)
        b = np.concatenate([b, np.zeros(b.shape[:-1] + (1,))], axis=-1)
    ang = np.arctan2(np.linalg.norm(np.cross(a, b), axis=-1), np.sum(a * b, axis=-1))
    return scalar_or_array(np.degrees(ang) if degrees else ang)


def angle_at(a: ArrayLike, b: ArrayLike, c: ArrayLike, degrees: bool = True) -> float | NDArray[np.float64]:
    """The angle ABC at vertex ``b`` between the rays b->a and b->c (degrees by default).

    Raises:
        ValueError: if ``a`` or ``c`` coincides with ``b``, or for bad shapes.
    """
    A, B, C = as_vector(a, "a"), as_vector(b, "b"), as_vector(c, "c")
    return angle_between(A - B, C - B, degrees=degrees)


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
    pts, keep = finite_points(P)
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
    A, keep_a = finite_points(a, "a")
    B, keep_b = finite_points(b, "b")
    dist, j = cKDTree(B).query(A, k=1)
    i = int(np.argmin(dist))
    rows_a, rows_b = np.flatnonzero(keep_a.reshape(-1)), np.flatnonzero(keep_b.reshape(-1))
    return ClosestPair(float(dist[i]), A[i], B[j[i]], int(rows_a[i]), int(rows_b[j[i]]))
