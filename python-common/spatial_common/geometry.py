"""Pinhole back-projection: depth + intrinsics K [+ camera-to-world extrinsics] -> point map.

The one implementation used by the kernel runtime (``tools.Geometry``, ``tools.Reconstruct``) and by the
perception server's backends (rgbd, da3). Its TypeScript twin is ``shared/geometry.ts`` (the 3D inspector);
both follow the same formula, tested against each other on the same numbers.

Model (Hartley & Zisserman, *Multiple View Geometry*, 2nd ed., eq. 6.10, with OpenCV camera axes x right,
y down, z forward): a pixel (u, v) = (column, row), origin at the centre of the top-left pixel, with depth z
(metres along the camera z axis) is the camera-frame point

    y = (v - cy) / fy * z
    x = (u - cx - s * (v - cy) / fy) / fx * z

where K = [[fx, s, cx], [0, fy, cy], [0, 0, 1]] and s = K[0, 1] is the skew (0 for almost every camera).
Camera-to-world extrinsics T = [[R, t], [0, 0, 0, 1]] then give world points R @ p + t.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray


def _intrinsics(K: ArrayLike, n: int | None) -> NDArray[np.float64]:
    K = np.asarray(K, dtype=np.float64)
    if n is None:
        if K.shape != (3, 3):
            raise ValueError(f"intrinsics K must have shape (3, 3), got {K.shape}")
    elif K.shape not in ((3, 3), (n, 3, 3)):
        raise ValueError(f"intrinsics K must have shape (3, 3) or ({n}, 3, 3) for {n} depth maps, got {K.shape}")
    if not np.isfinite(K).all() or (K[..., 0, 0] <= 0).any() or (K[..., 1, 1] <= 0).any():
        raise ValueError(
            "intrinsics K must be finite with positive fx = K[0, 0] and fy = K[1, 1], got "
            f"fx={np.ravel(K[..., 0, 0])[:4].tolist()}, fy={np.ravel(K[..., 1, 1])[:4].tolist()}"
        )
    return K


def backproject(
    depth: ArrayLike,
    K: ArrayLike,
    cam_to_world: ArrayLike | None = None,
    valid: ArrayLike | None = None,
) -> NDArray[np.float32]:
    """Lift depth maps to point maps (camera frame, or world frame with ``cam_to_world``).

    Args:
        depth: (H, W) or (N, H, W) depth in metres along the camera z axis; 0, negative, NaN or inf mark
            pixels without a point.
        K: (3, 3) pinhole intrinsics in pixels (shared by all N maps) or (N, 3, 3), skew ``K[0, 1]`` honoured.
        cam_to_world: optional (4, 4) or (N, 4, 4) camera-to-world extrinsics (OpenCV camera axes, metres).
            Without it the points are in the camera frame.
        valid: optional bool mask of depth's shape; pixels where it is False get no point either.

    Returns:
        float32 point map of shape depth.shape + (3,), metres, NaN where there is no point. Computed in float64.

    Raises:
        ValueError: depth not 2-D/3-D, or K, cam_to_world or valid of the wrong shape or K not a valid pinhole
            matrix (fx, fy > 0, finite).
    """
    z = np.asarray(depth, dtype=np.float64)
    if z.ndim not in (2, 3):
        raise ValueError(f"depth must be (H, W) or (N, H, W) metres, got shape {z.shape}")
    batched = z.ndim == 3
    zs = z if batched else z[None]
    n, h, w = zs.shape
    Ks = _intrinsics(K, n if batched else None)
    Ks = np.broadcast_to(Ks, (n, 3, 3))
    keep = np.isfinite(zs) & (zs > 0)
    if valid is not None:
        mask = np.asarray(valid, dtype=bool)
        if mask.shape != z.shape:
            raise ValueError(f"valid must have depth's shape {z.shape}, got {mask.shape}")
        keep &= mask if batched else mask[None]
    T = None
    if cam_to_world is not None:
        T = np.asarray(cam_to_world, dtype=np.float64)
        if T.shape not in ((4, 4), (n, 4, 4)) or (not batched and T.shape != (4, 4)):
            raise ValueError(f"cam_to_world must have shape (4, 4) or ({n}, 4, 4), got {T.shape}")
        T = np.broadcast_to(T, (n, 4, 4))
    u = np.arange(w, dtype=np.float64)[None, :]
    v = np.arange(h, dtype=np.float64)[:, None]
    out = np.empty((n, h, w, 3), dtype=np.float32)
    for i in range(n):
        fx, s, cx = Ks[i, 0]
        fy, cy = Ks[i, 1, 1], Ks[i, 1, 2]
        zi = np.where(keep[i], zs[i], np.nan)
        y = (v - cy) / fy
        x = (u - cx - s * y) / fx
        cam = np.stack([np.broadcast_to(x, (h, w)) * zi, np.broadcast_to(y, (h, w)) * zi, zi], axis=-1)
        if T is not None:
            cam = cam @ T[i, :3, :3].T + T[i, :3, 3]
        out[i] = cam
    return out if batched else out[0]
