"""RGB-D odometry of the rgbd backend: camera-to-world poses of frames with metric depth, when a reconstruct
request has none (failure policy: :mod:`spatial_perception.backends.rgbd`).

Frame to frame, with frame 0 as the world: sparse features lifted with depth and solved with PnP inside
RANSAC, refined by point-to-plane ICP (:func:`register_pair`); every candidate must pass a depth-consistency
check (:func:`projective_check`). Camera frames are OpenCV axes (x right, y down, z forward), metres.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray
from scipy.spatial import cKDTree
from scipy.spatial.transform import Rotation
from spatial_common.geometry import backproject

from spatial_perception.errors import BadRequest, Cancelled

# Odometry constants.
RATIO_TEST = 0.8  # Lowe's ratio test on the two nearest descriptors
PNP_REPROJ_PX = 3.0  # RANSAC inlier threshold on the reprojection error, pixels
ICP_SRC_STRIDE = 4  # source (moving frame) pixels used by ICP: every 4th row and column
ICP_DST_STRIDE = 2  # target (reference frame) pixels in the k-d tree
ICP_MAX_DIST = (0.20, 0.04)  # correspondence gate, metres: shrinks linearly over the first half of the iterations
ICP_NORMAL_COS = math.cos(math.radians(45.0))  # reject pairs whose normals differ more than this
ICP_HUBER_M = 0.02  # Huber threshold on the point-to-plane residual, metres
FITNESS_DIST_M = 0.05  # ICP fitness: source points with a target point within this distance
AGREE_ABS_M, AGREE_REL = 0.05, 0.05  # projective check: depths agree within max(5 cm, 5 % of z)
MIN_OVERLAP = 0.05  # projective check: least fraction of points landing on valid reference depth
MIN_AGREEMENT = 0.5  # projective check: least fraction of those whose depth agrees
MAX_ICP_SHIFT = (0.25, 10.0)  # metres, degrees: ICP moving the feature estimate further is rejected


@dataclass
class _Frame:
    """Per-frame data prepared once for the odometry (camera frame, metres)."""

    gray: NDArray[np.uint8]  # (H, W)
    depth: NDArray[np.float32]  # (H, W), 0 = invalid or beyond max_depth
    points: NDArray[np.float32]  # (H, W, 3) camera frame, NaN invalid
    normals: NDArray[np.float32] | None = None  # (H, W, 3) camera frame, NaN invalid
    keypoints: NDArray[np.float64] | None = None  # (M, 2) pixels (u, v)
    descriptors: np.ndarray | None = None  # (M, D)
    _tree: tuple[cKDTree, NDArray[np.float64], NDArray[np.float64]] | None = field(default=None, repr=False)

    def target(self) -> tuple[cKDTree, NDArray[np.float64], NDArray[np.float64]]:
        """k-d tree over the subsampled valid points with normals, and those (P, 3) points and normals."""
        if self._tree is None:
            p = self.points[::ICP_DST_STRIDE, ::ICP_DST_STRIDE].reshape(-1, 3).astype(np.float64)
            n = self.normals[::ICP_DST_STRIDE, ::ICP_DST_STRIDE].reshape(-1, 3).astype(np.float64)
            ok = np.isfinite(p).all(1) & np.isfinite(n).all(1)
            self._tree = (cKDTree(p[ok]), p[ok], n[ok])
        return self._tree

    def source(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """(S, 3) subsampled valid points and normals used as the moving set of ICP."""
        p = self.points[::ICP_SRC_STRIDE, ::ICP_SRC_STRIDE].reshape(-1, 3).astype(np.float64)
        n = self.normals[::ICP_SRC_STRIDE, ::ICP_SRC_STRIDE].reshape(-1, 3).astype(np.float64)
        ok = np.isfinite(p).all(1) & np.isfinite(n).all(1)
        return p[ok], n[ok]


def _normals(points: NDArray[np.float32], K: NDArray[np.float64]) -> NDArray[np.float32]:
    """(H, W, 3) unit normals of an organised camera-frame point map (NaN invalid), by OpenCV's FALS method
    (Badino et al. 2011, "Fast and accurate computation of surface normals from range images")."""
    h, w = points.shape[:2]
    comp = cv2.RgbdNormals_create(
        h, w, cv2.CV_32F, K.astype(np.float32), 5, 50.0, cv2.RgbdNormals_RGBD_NORMALS_METHOD_FALS
    )
    p4 = np.concatenate([points, np.zeros((h, w, 1), np.float32)], axis=-1)
    n = np.asarray(comp.apply(p4))[..., :3].astype(np.float32)
    n[~np.isfinite(points).all(-1)] = np.nan
    return n


def _rotation_deg(R: NDArray[np.float64]) -> float:
    return float(np.degrees(np.arccos(np.clip((np.trace(R) - 1.0) / 2.0, -1.0, 1.0))))


def _se3_delta(A: NDArray[np.float64], B: NDArray[np.float64]) -> tuple[float, float]:
    """Translation (m) and rotation (deg) of inv(A) @ B."""
    D = np.linalg.inv(A) @ B
    return float(np.linalg.norm(D[:3, 3])), _rotation_deg(D[:3, :3])


def _prepare(rgb: NDArray[np.uint8], depth: NDArray[np.float32], K: NDArray[np.float64], params: dict) -> _Frame:
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    pts = backproject(depth, K)
    fr = _Frame(gray=gray, depth=depth.astype(np.float32), points=pts)
    mode = params["odometry"]
    if mode in ("auto", "icp"):
        fr.normals = _normals(pts, K)
    if mode in ("auto", "features"):
        if params["features"] == "sift":
            det = cv2.SIFT_create(nfeatures=3000)
        else:
            det = cv2.ORB_create(nfeatures=3000)
        mask = (depth > 0).astype(np.uint8) * 255
        kps, desc = det.detectAndCompute(gray, mask)
        fr.keypoints = np.array([k.pt for k in kps], np.float64).reshape(-1, 2)
        fr.descriptors = desc
    return fr


def _lift(uv: NDArray[np.float64], fr: _Frame) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """3D camera-frame points (M, 3) of sub-pixel keypoints (depth at the nearest pixel) and their validity."""
    h, w = fr.depth.shape
    ui = np.clip(np.round(uv).astype(np.int64), 0, [w - 1, h - 1])
    X = fr.points[ui[:, 1], ui[:, 0]].astype(np.float64)
    return X, np.isfinite(X).all(1)


def feature_pnp(
    ref: _Frame, cur: _Frame, K_ref: NDArray[np.float64], K_cur: NDArray[np.float64], feature: str
) -> tuple[NDArray[np.float64] | None, dict[str, Any]]:
    """Relative pose from sparse features: descriptors matched with Lowe's ratio test (Lowe 2004), reference
    keypoints lifted to 3D with the reference depth, and ``cv2.solvePnPRansac`` (SQPnP minimal solver, Terzakis &
    Lourakis 2020, inside RANSAC, Fischler & Bolles 1981) against the current keypoints.

    Returns:
        ``T_ref_from_cur`` (4, 4) float64 mapping current-camera points into the reference camera, or None when
        PnP fails; and stats ``{"feature_matches", "pnp_inliers"}``.
    """
    stats: dict[str, Any] = {"feature_matches": 0, "pnp_inliers": 0}
    if ref.descriptors is None or cur.descriptors is None or len(ref.descriptors) < 2 or len(cur.descriptors) < 2:
        return None, stats
    norm = cv2.NORM_L2 if feature == "sift" else cv2.NORM_HAMMING
    knn = cv2.BFMatcher(norm).knnMatch(cur.descriptors, ref.descriptors, k=2)
    good = [m[0] for m in knn if len(m) == 2 and m[0].distance < RATIO_TEST * m[1].distance]
    stats["feature_matches"] = len(good)
    if len(good) < 6:
        return None, stats
    uv_ref = ref.keypoints[[g.trainIdx for g in good]]
    uv_cur = cur.keypoints[[g.queryIdx for g in good]]
    X_ref, ok = _lift(uv_ref, ref)
    if ok.sum() < 6:
        return None, stats
    try:
        found, rvec, tvec, inliers = cv2.solvePnPRansac(
            X_ref[ok],
            uv_cur[ok],
            K_cur,
            None,
            iterationsCount=2000,
            reprojectionError=PNP_REPROJ_PX,
            confidence=0.999,
            flags=cv2.SOLVEPNP_SQPNP,
        )
    except cv2.error:  # degenerate input (e.g. all matches on one point)
        return None, stats
    stats["pnp_inliers"] = 0 if inliers is None else len(inliers)
    if not found or inliers is None:
        return None, stats
    T_cur_ref = np.eye(4)
    T_cur_ref[:3, :3] = cv2.Rodrigues(rvec)[0]
    T_cur_ref[:3, 3] = tvec.ravel()
    return np.linalg.inv(T_cur_ref), stats


def icp_point_to_plane(
    src: NDArray[np.float64],
    src_normals: NDArray[np.float64],
    target: tuple[cKDTree, NDArray[np.float64], NDArray[np.float64]],
    init: NDArray[np.float64],
    iterations: int = 30,
) -> tuple[NDArray[np.float64], dict[str, Any]]:
    """Point-to-plane ICP (Chen & Medioni 1991) with the small-angle linearisation of Low (2004).

    Each iteration pairs every transformed source point with its nearest target point (k-d tree), keeps pairs
    closer than a gate that shrinks from 0.20 m to 0.04 m and whose normals agree within 45 degrees, and
    solves the 6x6 normal equations of ``sum w (n . (R p + t - q))^2`` with Huber weights (2 cm).

    Args:
        src: (S, 3) source points (metres) in the source frame; src_normals: (S, 3) their unit normals.
        target: (k-d tree, (P, 3) points, (P, 3) unit normals) in the target frame.
        init: (4, 4) initial target-from-source transform.
        iterations: maximum iterations (stops earlier when the update is below 1e-5 m / rad).

    Returns:
        The refined (4, 4) target-from-source transform, and stats ``{"icp_fitness", "icp_rmse_m",
        "icp_iterations"}``: fitness = fraction of source points within 5 cm of a target point, RMSE over those.
    """
    tree, dst, dst_n = target
    T = init.copy()
    k_done = 0
    for k in range(iterations):
        frac = k / max(iterations - 1, 1)
        gate = ICP_MAX_DIST[0] + (ICP_MAX_DIST[1] - ICP_MAX_DIST[0]) * min(1.0, 2.0 * frac)
        p = src @ T[:3, :3].T + T[:3, 3]
        dist, idx = tree.query(p, distance_upper_bound=gate)
        m = np.isfinite(dist)
        if m.sum() < 50:
            break
        q, nq = dst[idx[m]], dst_n[idx[m]]
        ns = src_normals[m] @ T[:3, :3].T
        agree = np.abs(np.sum(ns * nq, axis=1)) > ICP_NORMAL_COS
        pm, q, nq = p[m][agree], q[agree], nq[agree]
        if len(pm) < 50:
            break
        r = np.sum((pm - q) * nq, axis=1)
        a = np.abs(r)
        w = np.where(a <= ICP_HUBER_M, 1.0, ICP_HUBER_M / np.maximum(a, 1e-12))
        A = np.hstack([np.cross(pm, nq), nq])
        H = A.T @ (A * w[:, None])
        g = A.T @ (w * r)
        x = -np.linalg.lstsq(H, g, rcond=None)[0]
        dT = np.eye(4)
        dT[:3, :3] = Rotation.from_rotvec(x[:3]).as_matrix()
        dT[:3, 3] = x[3:]
        T = dT @ T
        k_done = k + 1
        if np.abs(x).max() < 1e-5:
            break
    p = src @ T[:3, :3].T + T[:3, 3]
    dist, _ = tree.query(p, distance_upper_bound=FITNESS_DIST_M)
    close = np.isfinite(dist)
    fitness = float(close.mean()) if len(p) else 0.0
    rmse = float(np.sqrt(np.mean(dist[close] ** 2))) if close.any() else float("nan")
    return T, {"icp_fitness": round(fitness, 4), "icp_rmse_m": round(rmse, 4), "icp_iterations": k_done}


def projective_check(ref: _Frame, cur: _Frame, K_ref: NDArray[np.float64], T: NDArray[np.float64]) -> dict[str, float]:
    """Depth consistency of a candidate ``T_ref_from_cur`` (the test that accepts or rejects a registration).

    The current frame's subsampled points are moved into the reference camera and projected with ``K_ref``;
    ``overlap`` is the fraction of them landing on a reference pixel with valid depth, ``agreement`` the fraction
    of those whose depth matches the reference depth within max(5 cm, 5 % of z). A wrong pose puts many points
    in front of or behind the reference surface (free-space violations); on the test room, correct poses give
    agreement 0.70-0.96 and identity 0.09-0.40.
    """
    p = cur.points[::ICP_SRC_STRIDE, ::ICP_SRC_STRIDE].reshape(-1, 3).astype(np.float64)
    p = p[np.isfinite(p).all(1)]
    if not len(p):
        return {"overlap": 0.0, "agreement": 0.0}
    q = p @ T[:3, :3].T + T[:3, 3]
    z = q[:, 2]
    front = z > 1e-3
    zs = np.where(front, z, 1.0)
    u = np.round(K_ref[0, 0] * q[:, 0] / zs + K_ref[0, 2])
    v = np.round(K_ref[1, 1] * q[:, 1] / zs + K_ref[1, 2])
    h, w = ref.depth.shape
    inside = front & (u >= 0) & (u < w) & (v >= 0) & (v < h)
    zr = np.zeros_like(z)
    zr[inside] = ref.depth[v[inside].astype(np.int64), u[inside].astype(np.int64)]
    vis = inside & (zr > 0)
    agree = vis & (np.abs(z - zr) < np.maximum(AGREE_ABS_M, AGREE_REL * zr))
    nvis = int(vis.sum())
    return {
        "overlap": round(nvis / len(p), 4),
        "agreement": round(int(agree.sum()) / nvis, 4) if nvis else 0.0,
    }


def _opencv_odometry(ref: _Frame, cur: _Frame, K: NDArray[np.float64]) -> NDArray[np.float64] | None:
    """OpenCV dense RGB-D odometry (photometric + geometric, ``cv2.Odometry``); returns ``T_ref_from_cur``.

    ``Odometry.compute(srcDepth, srcRGB, dstDepth, dstRGB)`` returns ``Rt`` with ``Rt * src = dst``, i.e. the
    transform from source-camera to destination-camera coordinates (checked on a synthetic warp), so the current
    frame is passed as the source.
    """
    settings = cv2.OdometrySettings()
    settings.setCameraMatrix(K.astype(np.float32))
    odo = cv2.Odometry(cv2.OdometryType_RGB_DEPTH, settings, cv2.OdometryAlgoType_COMMON)
    ok, Rt = odo.compute(cur.depth, cur.gray, ref.depth, ref.gray)
    if not ok or Rt is None or not np.isfinite(Rt).all():
        return None
    return np.asarray(Rt, np.float64)


def register_pair(
    ref: _Frame,
    cur: _Frame,
    K_ref: NDArray[np.float64],
    K_cur: NDArray[np.float64],
    params: dict[str, Any],
    motion_guess: NDArray[np.float64],
) -> tuple[NDArray[np.float64] | None, dict[str, Any]]:
    """Estimate ``T_ref_from_cur`` (4, 4) for one frame pair with the mode in ``params["odometry"]``.

    Candidates are tried in order and the first that passes :func:`projective_check` (overlap >= 0.05 and
    depth agreement >= 0.5) is accepted:

    - ``auto``: the feature/PnP estimate (:func:`feature_pnp`) refined by :func:`icp_point_to_plane` (an ICP
      step that moves it by more than 0.25 m or 10 degrees is dropped: ICP slid along a degenerate surface),
      then the unrefined feature estimate, then ICP alone started from ``motion_guess`` (the previous
      relative motion) or from identity, whichever agrees better.
    - ``features``: the feature/PnP estimate. ``icp``: ICP alone as above. ``opencv``: ``cv2.Odometry``.

    Returns:
        The transform, or None when no candidate passed; and the per-frame stats (``method`` names the accepted
        candidate, or lists the rejected ones).
    """
    mode = params["odometry"]
    feat = params["features"]
    stats: dict[str, Any] = {}
    rejected: list[str] = []

    def accept(label: str, T: NDArray[np.float64]) -> bool:
        check = projective_check(ref, cur, K_ref, T)
        if check["overlap"] >= MIN_OVERLAP and check["agreement"] >= MIN_AGREEMENT:
            stats.update(check)
            stats["method"] = label
            return True
        rejected.append(f"{label} (overlap {check['overlap']}, agreement {check['agreement']})")
        return False

    def icp_only() -> NDArray[np.float64] | None:
        src, src_n = cur.source()
        target = ref.target()
        best: tuple[NDArray[np.float64], dict[str, Any], float] | None = None
        for init in (motion_guess, np.eye(4)):
            T, istats = icp_point_to_plane(src, src_n, target, init, params["icp_iterations"])
            score = projective_check(ref, cur, K_ref, T)["agreement"]
            if best is None or score > best[2]:
                best = (T, istats, score)
        assert best is not None
        stats.update(best[1])
        return best[0] if accept("icp", best[0]) else None

    if mode == "opencv":
        T = _opencv_odometry(ref, cur, K_cur)
        if T is None:
            rejected.append("opencv_rgbd_odometry (cv2.Odometry.compute returned false)")
        elif accept("opencv_rgbd_odometry", T):
            return T, stats
    elif mode == "icp":
        T = icp_only()
        if T is not None:
            return T, stats
    else:
        T_feat, fstats = feature_pnp(ref, cur, K_ref, K_cur, feat)
        stats.update(fstats)
        if T_feat is None or fstats["pnp_inliers"] < params["min_inliers"]:
            rejected.append(
                f"{feat}+pnp_ransac ({fstats['pnp_inliers']} inliers < min_inliers {params['min_inliers']})"
            )
            T_feat = None
        if T_feat is not None and mode == "auto":
            src, src_n = cur.source()
            T_icp, istats = icp_point_to_plane(src, src_n, ref.target(), T_feat, params["icp_iterations"])
            stats.update(istats)
            shift_m, shift_deg = _se3_delta(T_feat, T_icp)
            stats["icp_shift_m"], stats["icp_shift_deg"] = round(shift_m, 4), round(shift_deg, 3)
            if shift_m > MAX_ICP_SHIFT[0] or shift_deg > MAX_ICP_SHIFT[1]:
                rejected.append(f"{feat}+pnp_ransac+icp (ICP moved the feature estimate too far)")
            elif accept(f"{feat}+pnp_ransac+icp", T_icp):
                return T_icp, stats
        if T_feat is not None and accept(f"{feat}+pnp_ransac", T_feat):
            return T_feat, stats
        if mode == "auto":
            T = icp_only()
            if T is not None:
                return T, stats
    stats["method"] = "failed: " + "; ".join(rejected)
    return None, stats


def estimate_poses(
    frames: list[NDArray[np.uint8]],
    depth: NDArray[np.float32],
    K: NDArray[np.float64],
    indices: NDArray[np.int64],
    params: dict[str, Any],
    cancel: threading.Event,
) -> tuple[NDArray[np.float64], dict[str, Any]]:
    """Chain frame-to-frame registrations into camera-to-world poses with frame 0 as the world.

    Args:
        frames: N (H, W, 3) uint8 RGB; depth: (N, H, W) float32 metres, 0 = invalid (already cut at max_depth);
        K: (N, 3, 3) intrinsics; indices: (N,) absolute frame indices; params: parsed params.

    Returns:
        (N, 4, 4) float64 camera-to-world poses, and info ``{"description", "mode", "frames": [per-frame stats],
        "warnings": [str]}`` (the failure policy is in the module docstring).

    Raises:
        Cancelled: when ``cancel`` is set between frames.
        BadRequest: when N >= 2 and no frame after the first could be registered.
    """
    n = len(frames)
    mode = params["odometry"]
    desc = {
        "auto": f"{params['features'].upper()} + PnP RANSAC odometry refined by point-to-plane ICP",
        "features": f"{params['features'].upper()} + PnP RANSAC odometry",
        "icp": "point-to-plane ICP odometry",
        "opencv": "OpenCV RGB-D odometry (cv2.Odometry)",
    }[mode]
    poses = np.repeat(np.eye(4)[None], n, axis=0)
    per_frame: list[dict[str, Any]] = [{"frame_index": int(indices[0]), "method": "reference", "registered": True}]
    warnings: list[str] = []
    ref_pos = 0
    ref = _prepare(frames[0], depth[0], K[0], params)
    motion = np.eye(4)
    registered = 0
    for i in range(1, n):
        if cancel.is_set():
            raise Cancelled("reconstruction cancelled by the server (client gone or timeout)")
        cur = _prepare(frames[i], depth[i], K[i], params)
        T, stats = register_pair(ref, cur, K[ref_pos], K[i], params, motion)
        entry: dict[str, Any] = {"frame_index": int(indices[i]), "reference_frame_index": int(indices[ref_pos])}
        entry.update(stats)
        if T is None:
            poses[i] = poses[ref_pos]
            entry["registered"] = False
            warnings.append(
                f"frame {int(indices[i])}: could not be registered to frame {int(indices[ref_pos])} "
                f"({stats.get('method', mode)}); it keeps that frame's pose, so its points are misplaced"
            )
        else:
            poses[i] = poses[ref_pos] @ T
            motion = T
            entry["registered"] = True
            t_m, r_deg = float(np.linalg.norm(T[:3, 3])), _rotation_deg(T[:3, :3])
            entry["translation_m"], entry["rotation_deg"] = round(t_m, 4), round(r_deg, 3)
            registered += 1
            ref_pos, ref = i, cur
        per_frame.append(entry)
    if n >= 2 and registered == 0:
        raise BadRequest(
            f"the rgbd backend could not estimate the camera motion of any frame ({desc}): "
            + "; ".join(f"frame {f['frame_index']}: {f.get('method', '?')}" for f in per_frame[1:6])
            + ("; ..." if n > 6 else ""),
            fix="pass poses (camera-to-world), use frames that overlap more (closer in time), or try another "
            "params.odometry",
        )
    return poses, {"description": desc, "mode": mode, "frames": per_frame, "warnings": warnings}
