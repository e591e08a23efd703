"""Pinhole-camera geometry: back-projection, projection and rigid transforms.

Follows the standard pinhole model (Hartley & Zisserman, *Multiple View Geometry*, ch. 6) with
OpenCV camera axes: x right, y down, z forward. Rotations use :mod:`scipy.spatial.transform`.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.spatial.transform import Rotation


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
        K: (3, 3) pinhole intrinsics in pixels.

    Returns:
        (H, W, 3) float32 point map in OpenCV camera axes (metres). Invalid pixels are NaN.
        Pixel (u, v) = (column, row) maps to ``((u - cx) * z / fx, (v - cy) * z / fy, z)``.

    Raises:
        ValueError: if ``depth`` is not 2-D or ``K`` is not a valid (3, 3) intrinsics matrix.
    """
    depth = np.asarray(depth, dtype=np.float32)
    if depth.ndim != 2:
        raise ValueError(f"depth must be a 2-D (H, W) array in metres, got shape {depth.shape}")
    K = _as_K(K)
    h, w = depth.shape
    u, v = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    z = np.where(np.isfinite(depth) & (depth > 0), depth, np.nan).astype(np.float32)
    x = (u - np.float32(K[0, 2])) * z / np.float32(K[0, 0])
    y = (v - np.float32(K[1, 2])) * z / np.float32(K[1, 1])
    return np.stack([x, y, z], axis=-1)


def project_points(points: ArrayLike, K: ArrayLike) -> NDArray[np.float64]:
    """Project camera-frame points to pixels.

    Args:
        points: (..., 3) points in OpenCV camera axes (metres); z must be positive to be visible.
        K: (3, 3) pinhole intrinsics.

    Returns:
        (..., 2) pixel coordinates (u, v) as float64; points with z <= 0 give NaN.
    """
    p = np.asarray(points, dtype=np.float64)
    if p.shape[-1] != 3:
        raise ValueError(f"points must have shape (..., 3), got {p.shape}")
    K = _as_K(K)
    z = np.where(p[..., 2] > 0, p[..., 2], np.nan)
    u = K[0, 0] * p[..., 0] / z + K[0, 2]
    v = K[1, 1] * p[..., 1] / z + K[1, 2]
    return np.stack([u, v], axis=-1)


def transform_points(points: ArrayLike, T: ArrayLike) -> NDArray[np.float64]:
    """Apply a rigid 4x4 transform, e.g. camera-to-world, to points.

    Args:
        points: (..., 3) points in metres.
        T: (4, 4) homogeneous transform mapping the points' frame to the target frame.

    Returns:
        (..., 3) float64 transformed points ``R @ p + t``.
    """
    p = np.asarray(points, dtype=np.float64)
    T = np.asarray(T, dtype=np.float64)
    if T.shape != (4, 4):
        raise ValueError(f"transform must have shape (4, 4), got {T.shape}")
    if p.shape[-1] != 3:
        raise ValueError(f"points must have shape (..., 3), got {p.shape}")
    return p @ T[:3, :3].T + T[:3, 3]


def pose_from_tum(tx: float, ty: float, tz: float, qx: float, qy: float, qz: float, qw: float) -> NDArray[np.float64]:
    """Build a (4, 4) camera-to-world matrix from a TUM-format pose line ``tx ty tz qx qy qz qw``.

    The quaternion is scalar-last (Hamilton convention), as in the TUM RGB-D benchmark
    (Sturm et al., IROS 2012) and :meth:`scipy.spatial.transform.Rotation.from_quat`.
    """
    T = np.eye(4)
    T[:3, :3] = Rotation.from_quat([qx, qy, qz, qw]).as_matrix()
    T[:3, 3] = [tx, ty, tz]
    return T
