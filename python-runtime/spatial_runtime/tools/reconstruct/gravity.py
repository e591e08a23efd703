"""Gravity from a segmented floor, the paper's rule (profile ``paper``, ``reconstruct_extras``; docs/paper-parity.md
row 16), computed in the kernel on a reconstruction the server did not align.

1. The floor: the perception server segments "ground floor surface" in the first frame (the session's segment
   backend, else ``sam3``; text threshold 0.05) and the first (best) mask is kept.
2. Up: a RANSAC plane (Fischler & Bolles 1981) through the first frame's points under that mask with confidence
   > 0.3 (at least 100 points; 1000 three-point hypotheses drawn with seed 42; inliers within 0.05 m; at least 50
   inliers; refitted to the inliers by SVD); its normal, turned to agree with camera 0's up (its -y axis), is
   rotated onto +Y by the smallest rotation. Without a mask or a plane: camera 0's down axis (+y) is rotated
   onto -Y instead.
3. The floor height: the median height of the masked points with confidence > 0.3 when there are more than 50,
   else the 5th percentile of the heights of every frame's points with confidence > 0.3 (when there are at least
   100); it is moved to Y = 0.
4. A turn about Y so that camera 0 looks toward -Z.

Non-finite points (invalid pixels) are left out everywhere. The result is one 4x4 transform (new world from the
server's world) applied to the extrinsics and the points.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from spatial_runtime import perception
from spatial_runtime.perception import PerceptionError

__all__ = ["FLOOR_PROMPT", "fit_plane_ransac", "floor_mask", "gravity_transform", "rotation_between"]

FLOOR_PROMPT = "ground floor surface"
FLOOR_THRESHOLD = 0.05
CONFIDENT = 0.3


def floor_mask(image: NDArray[np.uint8], frame_index: int) -> tuple[NDArray[np.bool_] | None, str]:
    """The first floor mask the perception server finds in ``image`` (H, W, 3), and what happened.

    Returns:
        ``(mask (H, W) bool, "")``, or ``(None, reason)`` when the request failed or found no floor (a failure
        only means the camera fallback; it is never raised).
    """
    backend = perception.default_backend("segment") or "sam3"
    prompt = {"type": "text", "text": FLOOR_PROMPT, "threshold": FLOOR_THRESHOLD}
    params = {"frame_index": int(frame_index)} if backend == "oracle" else {}
    body = {
        "backend": backend,
        "image": perception.encode_png(image),
        "frame_index": int(frame_index),
        "prompt": prompt,
        "params": params,
    }
    try:
        reply = perception.post("/v1/segment/image", body, tool="tools.Reconstruct")
    except PerceptionError as err:
        return None, f"floor segmentation failed ({backend}): {err}"
    masks = reply["arrays"].get("masks")
    if masks is None or masks.ndim != 4 or masks.shape[1] == 0 or masks.shape[2:] != image.shape[:2]:
        return None, f"no floor found by {backend}"
    mask = np.asarray(masks[0, 0], dtype=bool)
    return (mask, "") if mask.any() else (None, f"the floor mask of {backend} is empty")


def fit_plane_ransac(
    points: NDArray[np.floating],
    *,
    iterations: int = 1000,
    inlier_m: float = 0.05,
    min_points: int = 100,
    min_inliers: int = 50,
    seed: int = 42,
) -> tuple[NDArray[np.float64], int] | None:
    """A plane through (M, 3) points by RANSAC, refitted by SVD.

    Returns:
        ``(unit normal (3,) with an arbitrary sign, inlier count of the best hypothesis)``, or None with fewer than
        ``min_points`` points or fewer than ``min_inliers`` inliers.
    """
    pts = np.asarray(points, dtype=np.float64)
    if len(pts) < min_points:
        return None
    rng = np.random.default_rng(seed)
    normals, offsets = [], []
    for _ in range(iterations):
        a, b, c = pts[rng.choice(len(pts), size=3, replace=False)]
        n = np.cross(b - a, c - a)
        length = float(np.linalg.norm(n))
        if length < 1e-8:
            continue
        normals.append(n / length)
        offsets.append(-float(n @ a) / length)
    if not normals:
        return None
    N, d = np.asarray(normals, np.float32), np.asarray(offsets, np.float32)
    p32 = pts.astype(np.float32)
    counts = np.concatenate(
        [(np.abs(p32 @ N[s : s + 32].T + d[s : s + 32]) < inlier_m).sum(axis=0) for s in range(0, len(N), 32)]
    )
    best = int(np.argmax(counts))  # the first hypothesis with the most inliers
    if counts[best] < min_inliers:
        return None
    inliers = pts[np.abs(pts @ N[best].astype(np.float64) + float(d[best])) < inlier_m]
    centred = inliers - inliers.mean(axis=0)
    normal = np.linalg.svd(centred, full_matrices=False)[2][-1]
    return normal / np.linalg.norm(normal), int(counts[best])


def rotation_between(a: NDArray[np.floating], b: NDArray[np.floating]) -> NDArray[np.float64]:
    """The smallest rotation (3, 3) taking the direction of ``a`` to that of ``b`` (a half turn about an axis
    perpendicular to ``a`` when they are opposite)."""
    u = np.asarray(a, np.float64) / np.linalg.norm(a)
    v = np.asarray(b, np.float64) / np.linalg.norm(b)
    axis = np.cross(u, v)
    s, c = float(np.linalg.norm(axis)), float(u @ v)
    if s < 1e-8:
        if c > 0:
            return np.eye(3)
        other = np.array([1.0, 0.0, 0.0]) if abs(u[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
        k = np.cross(u, other)
        k /= np.linalg.norm(k)
        return 2.0 * np.outer(k, k) - np.eye(3)
    k = axis / s
    K = np.array([[0.0, -k[2], k[1]], [k[2], 0.0, -k[0]], [-k[1], k[0], 0.0]])
    return np.eye(3) + s * K + (1.0 - c) * (K @ K)


def _yaw_to_minus_z(forward: NDArray[np.float64]) -> NDArray[np.float64]:
    """The rotation about Y that turns ``forward``'s horizontal part toward -Z (identity when it has none)."""
    fx, fz = float(forward[0]), float(forward[2])
    length = float(np.hypot(fx, fz))
    if length < 1e-6:
        return np.eye(3)
    c, s = -fz / length, fx / length
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def _heights(points: NDArray[np.floating], confidence: NDArray[np.floating], up: NDArray[np.float64]) -> NDArray:
    """Heights along ``up`` of one frame's finite points with confidence > 0.3."""
    keep = (confidence > CONFIDENT) & np.isfinite(points).all(axis=-1)
    return points[keep].astype(np.float64) @ up


def gravity_transform(
    points: NDArray[np.floating],
    confidence: NDArray[np.floating],
    extrinsics: NDArray[np.floating],
    mask: NDArray[np.bool_] | None,
) -> tuple[NDArray[np.float64], dict[str, Any]]:
    """The paper's gravity alignment (module docstring) of a reconstruction.

    Args:
        points: (N, H, W, 3) world points (NaN = invalid). confidence: (N, H, W).
        extrinsics: (N, 4, 4) camera-to-world, OpenCV camera axes.
        mask: the floor in frame 0, (H, W) bool, or None.

    Returns:
        ``(M, report)``: the 4x4 transform new-world-from-world, and ``{"method": "sam3_floor" |
        "camera_fallback", "floor_points", "floor_inliers", "floor_height_from": "floor_mask" | "percentile_5" |
        "none", "up_in_input_world", "transform"}``.
    """
    E0 = np.asarray(extrinsics[0], np.float64)
    down = E0[:3, 1]
    p0 = np.asarray(points[0], np.float64)
    finite0 = np.isfinite(p0).all(axis=-1)
    floor_sel = None if mask is None else mask & (confidence[0] > CONFIDENT) & finite0
    plane = None if floor_sel is None else fit_plane_ransac(p0[floor_sel])
    if plane is not None:
        normal = plane[0] if plane[0] @ -down >= 0 else -plane[0]
        R = rotation_between(normal, [0.0, 1.0, 0.0])
        method = "sam3_floor"
    else:
        R = rotation_between(down, [0.0, -1.0, 0.0])
        method = "camera_fallback"
    floor_y, source = 0.0, "none"
    if floor_sel is not None and int(floor_sel.sum()) > 50:
        floor_y, source = float(np.median(p0[floor_sel] @ R[1])), "floor_mask"
    else:
        heights = np.concatenate([_heights(p, c, R[1]) for p, c in zip(points, confidence, strict=True)])
        if len(heights) >= 100:
            floor_y, source = float(np.percentile(heights, 5)), "percentile_5"
    Y = _yaw_to_minus_z(R @ E0[:3, 2])
    M = np.eye(4)
    M[:3, :3] = Y @ R
    M[:3, 3] = Y @ np.array([0.0, -floor_y, 0.0])
    report = {
        "method": method,
        "floor_points": 0 if floor_sel is None else int(floor_sel.sum()),
        "floor_inliers": 0 if plane is None else plane[1],
        "floor_height_from": source,
        "up_in_input_world": [float(v) for v in R.T @ np.array([0.0, 1.0, 0.0])],
        "transform": M.tolist(),
    }
    return M, report
