"""Pinhole-camera geometry: back-projection, projection and rigid transforms.

Follows the standard pinhole model (Hartley & Zisserman, *Multiple View Geometry*, ch. 6) with
OpenCV camera axes: x right, y down, z forward, and K = [[fx, s, cx], [0, fy, cy], [0, 0, 1]] in pixels
(s = K[0, 1], the skew, is 0 for almost every camera). Back-projection is the one implementation of
:func:`spatial_common.geometry.backproject`; TUM poses come from :mod:`spatial_common.poses`.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray
from spatial_common.geometry import backproject
from spatial_common.poses import pose_from_tum

__all__ = ["backproject_depth", "pose_from_tum", "project_points", "transform_points"]


def _as_K(K: ArrayLike) -> NDArray[np.float64]:
    K = np.asarray(K, dtype=np.float64)
    if K.shape != (3, 3):
        raise ValueError(f"intrinsics K must have shape (3, 3), got {K.shape}")
    if K[0, 0] <= 0 or K[1, 1] <= 0:
        raise ValueError(f"intrinsics K must have positive fx, fy; got fx={K[0, 0]}, fy={K[1, 1]}")
    return K


def backproject_depth(depth: ArrayLike, K: ArrayLike) -> NDArray[np.float32]:
    """Lift a depth map to a point map in the camera frame.

    Args:
        depth: (H, W) depth in metres along the camera z axis; 0, negative or NaN marks invalid pixels.
        K: (3, 3) pinhole intrinsics in pixels (skew ``K[0, 1]`` honoured).

    Returns:
        (H, W, 3) float32 point map in OpenCV camera axes (metres). Invalid pixels are NaN.
        Pixel (u, v) = (column, row) maps to ``(x, y, z)`` with ``y = (v - cy) * z / fy`` and
        ``x = (u - cx - s * (v - cy) / fy) * z / fx`` (``x = (u - cx) * z / fx`` without skew).

    Raises:
        ValueError: if ``depth`` is not 2-D or ``K`` is not a valid (3, 3) intrinsics matrix.
    """
    depth = np.asarray(depth, dtype=np.float32)
    if depth.ndim != 2:
        raise ValueError(f"depth must be a 2-D (H, W) array in metres, got shape {depth.shape}")
    return backproject(depth, _as_K(K))


def project_points(points: ArrayLike, K: ArrayLike) -> NDArray[np.float64]:
    """Project camera-frame points to pixels (the inverse of :func:`backproject_depth`).

    Args:
        points: (..., 3) points in OpenCV camera axes (metres); z must be positive to be visible.
        K: (3, 3) pinhole intrinsics in pixels (skew ``s = K[0, 1]`` honoured).

    Returns:
        (..., 2) pixel coordinates (u, v) as float64, ``u = fx * x / z + s * y / z + cx``,
        ``v = fy * y / z + cy``; points with z <= 0 give NaN.

    Raises:
        ValueError: if ``points`` is not (..., 3) or ``K`` is not a valid (3, 3) intrinsics matrix.
    """
    p = np.asarray(points, dtype=np.float64)
    if p.shape[-1] != 3:
        raise ValueError(f"points must have shape (..., 3), got {p.shape}")
    K = _as_K(K)
    z = np.where(p[..., 2] > 0, p[..., 2], np.nan)
    x, y = p[..., 0] / z, p[..., 1] / z
    u = K[0, 0] * x + K[0, 1] * y + K[0, 2]
    v = K[1, 1] * y + K[1, 2]
    return np.stack([u, v], axis=-1)


def transform_points(points: ArrayLike, T: ArrayLike) -> NDArray[np.float64]:
    """Apply a rigid 4x4 transform, e.g. camera-to-world, to points.

    Args:
        points: (..., 3) points in metres.
        T: (4, 4) homogeneous transform mapping the points' frame to the target frame.

    Returns:
        (..., 3) float64 transformed points ``R @ p + t``.

    Raises:
        ValueError: if ``T`` is not (4, 4) or ``points`` is not (..., 3).
    """
    p = np.asarray(points, dtype=np.float64)
    T = np.asarray(T, dtype=np.float64)
    if T.shape != (4, 4):
        raise ValueError(f"transform must have shape (4, 4), got {T.shape}")
    if p.shape[-1] != 3:
        raise ValueError(f"points must have shape (..., 3), got {p.shape}")
    return p @ T[:3, :3].T + T[:3, 3]
