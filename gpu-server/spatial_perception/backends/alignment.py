"""Gravity alignment of reconstructions, shared by all backends (docs/perception-api.md, "Reconstruction semantics").

The new world frame has +Y up, the floor at Y = 0, and camera 0 looking toward -Z (its viewing direction
projected onto the floor plane is -Z); its origin is the point of the floor directly below camera 0, so
camera 0 sits at (0, height, 0). Extrinsics stay camera-to-world in OpenCV camera axes.

The floor is found by RANSAC plane fitting (Fischler & Bolles 1981, "Random sample consensus", CACM 24(6))
over a random subsample of the valid world points: candidate planes through 3 random points, with their
normal oriented toward camera 0, are kept only when that normal is within ``max_tilt_deg`` (default 30) of
camera 0's up direction (its -y axis; handheld and robot cameras are roughly upright) and every camera centre
lies at least 10 cm above them (this excludes ceilings and walls); the floor is the candidate with the most
inliers, refined by a least-squares (SVD) plane fit to its inliers. A first camera pitched or rolled by more
than ``max_tilt_deg`` finds no floor and gets the fallback. When no candidate has enough
inliers, the fallback takes camera 0's -y axis as up and puts Y = 0 at the 2nd percentile of the point
heights ("camera_fallback").
"""

from __future__ import annotations

import dataclasses
import math
import threading
from typing import Any

import numpy as np
from numpy.typing import NDArray

from spatial_perception.backends.base import Reconstruction
from spatial_perception.errors import Cancelled


def _unit(v: NDArray[np.float64]) -> NDArray[np.float64]:
    return v / np.linalg.norm(v)


def fit_floor_plane(
    points: NDArray[np.floating],
    camera_centres: NDArray[np.float64],
    up_hint: NDArray[np.float64],
    *,
    iterations: int = 1000,
    inlier_threshold_m: float = 0.03,
    max_tilt_deg: float = 30.0,
    min_camera_height_m: float = 0.1,
    min_inliers: int = 200,
    seed: int = 0,
) -> tuple[NDArray[np.float64], float, int] | None:
    """Find the floor plane ``n . x + d = 0`` by RANSAC (Fischler & Bolles 1981).

    Args:
        points: (P, 3) finite world points in metres (a subsample is fine).
        camera_centres: (N, 3) camera centres in the same world frame; normals are oriented toward the first.
        up_hint: (3,) approximate up direction (camera 0's -y axis).
        iterations: number of 3-point hypotheses.
        inlier_threshold_m: point-to-plane distance of an inlier, metres.
        max_tilt_deg: largest angle between a candidate normal and ``up_hint``.
        min_camera_height_m: every camera centre must be at least this far above the plane.
        min_inliers: fewest inliers (among ``points``) for a plane to count as the floor.
        seed: seed of the random generator (results are deterministic).

    Returns:
        ``(n, d, inliers)`` with the unit normal ``n`` (3,) pointing up toward the cameras, the offset ``d``
        (metres) and the inlier count among ``points``; or None when no plane qualifies.
    """
    pts = np.asarray(points, dtype=np.float64)
    if len(pts) < 3:
        return None
    up_hint = _unit(np.asarray(up_hint, dtype=np.float64))
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(pts), size=(iterations, 3))
    a, b, c = pts[idx[:, 0]], pts[idx[:, 1]], pts[idx[:, 2]]
    n = np.cross(b - a, c - a)
    norm = np.linalg.norm(n, axis=1)
    ok = norm > 1e-9
    n, a = n[ok] / norm[ok, None], a[ok]
    # Orient each normal toward the first camera, then require every camera to be above the plane.
    n *= np.where(n @ camera_centres[0] - np.sum(n * a, axis=1) < 0, -1.0, 1.0)[:, None]
    d = -np.sum(n * a, axis=1)
    cos_tilt = math.cos(math.radians(max_tilt_deg))
    below = (camera_centres @ n.T + d[None, :]).min(axis=0) >= min_camera_height_m
    keep = (n @ up_hint >= cos_tilt) & below
    n, d = n[keep], d[keep]
    if not len(n):
        return None
    counts = np.zeros(len(n), np.int64)
    pts32 = pts.astype(np.float32)
    for s in range(0, len(n), 128):
        dist = np.abs(pts32 @ n[s : s + 128].T.astype(np.float32) + d[s : s + 128].astype(np.float32))
        counts[s : s + 128] = (dist < inlier_threshold_m).sum(axis=0)
    best = int(np.argmax(counts))
    if counts[best] < min_inliers:
        return None
    nb, db = n[best], d[best]
    # Least-squares refinement: the plane through the inliers' centroid along their least principal axis.
    for _ in range(3):
        inl = pts[np.abs(pts @ nb + db) < inlier_threshold_m]
        if len(inl) < 3:
            break
        centroid = inl.mean(axis=0)
        nr = np.linalg.svd(inl - centroid, full_matrices=False)[2][2]
        nr = nr if nr @ (camera_centres[0] - centroid) >= 0 else -nr
        if nr @ up_hint < cos_tilt or (camera_centres @ nr - nr @ centroid).min() < min_camera_height_m:
            break
        nb, db = nr, -float(nr @ centroid)
    count = int((np.abs(pts @ nb + db) < inlier_threshold_m).sum())
    return nb, float(db), count


def align_to_gravity(
    recon: Reconstruction,
    *,
    max_samples: int = 50000,
    iterations: int = 1000,
    inlier_threshold_m: float = 0.03,
    max_tilt_deg: float = 30.0,
    min_inlier_fraction: float = 0.02,
    seed: int = 0,
) -> tuple[Reconstruction, dict[str, Any]]:
    """Move a reconstruction into the gravity-aligned world frame (module docstring).

    Args:
        recon: reconstruction with camera-to-world ``extrinsics`` (N, 4, 4) and world ``points`` (N, H, W, 3)
            (NaN invalid); points with ``confidence`` 0 are ignored for the floor search.
        max_samples: valid points sampled (uniformly, seeded) for RANSAC.
        iterations: RANSAC hypotheses.
        inlier_threshold_m: floor inlier distance, metres.
        max_tilt_deg: largest angle between the floor normal and camera 0's up (-y) axis; with the default 30,
            a first camera pitched down (or rolled) by more than ~30 degrees finds no floor and falls back.
        min_inlier_fraction: a floor needs at least this fraction of the samples (and at least 100) as inliers.
        seed: random seed; the result is deterministic.

    Returns:
        A new :class:`Reconstruction` (same arrays except ``extrinsics`` and ``points``, transformed; ``info``
        copied), and the alignment info ``{"method": "floor_ransac" | "camera_fallback", "floor_inliers": int
        (valid points of the whole reconstruction within ``inlier_threshold_m`` of the floor; 0 for the
        fallback), "up_in_input_world": [3] unit vector, "transform": 4x4 list new_world_from_input_world}``.
    """
    E = np.asarray(recon.extrinsics, dtype=np.float64)
    R0, C0 = E[0, :3, :3], E[0, :3, 3]
    cam_up = -R0[:, 1]
    centres = E[:, :3, 3]

    pts = recon.points.reshape(-1, 3)
    valid = np.isfinite(pts).all(axis=1) & (recon.confidence.reshape(-1) > 0)
    valid_idx = np.flatnonzero(valid)
    rng = np.random.default_rng(seed)
    if len(valid_idx) > max_samples:
        sample_idx = np.sort(rng.choice(valid_idx, size=max_samples, replace=False))
    else:
        sample_idx = valid_idx
    sample = pts[sample_idx].astype(np.float64)

    plane = fit_floor_plane(
        sample,
        centres,
        cam_up,
        iterations=iterations,
        inlier_threshold_m=inlier_threshold_m,
        max_tilt_deg=max_tilt_deg,
        min_inliers=max(100, int(min_inlier_fraction * len(sample))),
        seed=seed,
    )
    if plane is not None:
        up, d, _ = plane
        method = "floor_ransac"
        floor_height = -d  # up . x of the floor
        heights = pts[valid_idx] @ up.astype(np.float32) + np.float32(d)
        floor_inliers = int((np.abs(heights) < inlier_threshold_m).sum())
    else:
        up = _unit(cam_up)
        method = "camera_fallback"
        floor_height = float(np.percentile(sample @ up, 2.0)) if len(sample) else float(C0 @ up) - 1.5
        floor_inliers = 0

    forward = R0[:, 2] - (R0[:, 2] @ up) * up
    if np.linalg.norm(forward) < 1e-3:  # camera 0 looks straight up or down: use the image's up direction
        forward = cam_up - (cam_up @ up) * up
    z_axis = -_unit(forward)
    x_axis = np.cross(up, z_axis)
    Rw = np.stack([x_axis, up, z_axis])  # rows: new axes expressed in the input world
    origin = C0 - (C0 @ up - floor_height) * up  # floor point below camera 0
    M = np.eye(4)
    M[:3, :3] = Rw
    M[:3, 3] = -Rw @ origin

    new_E = M @ E
    new_points = (pts @ Rw.T.astype(np.float32) + M[:3, 3].astype(np.float32)).reshape(recon.points.shape)
    new_points = new_points.astype(np.float32, copy=False)
    aligned = dataclasses.replace(recon, extrinsics=new_E, points=new_points, info=dict(recon.info))
    info = {
        "method": method,
        "floor_inliers": floor_inliers,
        "up_in_input_world": [float(v) for v in up],
        "transform": M.tolist(),
    }
    return aligned, info


def align_if_asked(recon: Reconstruction, align: bool, cancel: threading.Event | None = None) -> Reconstruction:
    """With ``align`` (``params.align_gravity``): :func:`align_to_gravity`, its report in ``info["alignment"]``.

    Raises:
        Cancelled: ``cancel`` was set before the alignment started.
    """
    if not align:
        return recon
    if cancel is not None and cancel.is_set():
        raise Cancelled("reconstruction cancelled by the server (client gone or timeout)")
    aligned, report = align_to_gravity(recon)
    aligned.info["alignment"] = report
    return aligned
