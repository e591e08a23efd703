"""The ``rgbd`` backend: reconstruction from RGB frames with metric depth (e.g. Kinect, RealSense, iPhone LiDAR).

The depth is trusted as given (no learned model): every valid depth pixel is lifted with the pinhole
intrinsics and moved into the world with the camera-to-world pose of its frame. When the request has no
poses, the camera path is estimated by frame-to-frame RGB-D odometry (see :func:`register_pair`).

Request (``spatial_perception.backends.base.ReconstructRequest``):
    frames: N images (H, W, 3) uint8 RGB, all the same size.
    frame_indices: N absolute frame indices.
    depth: (N, H, W) float metres, required; 0, negative or NaN = invalid.
    intrinsics: (3, 3) or (N, 3, 3) pinhole matrices in pixels, required.
    poses: (N, 4, 4) camera-to-world (OpenCV camera axes, metres), optional.

Params (all optional; the server-owned keys ``align_gravity``, ``max_frames``, ``timeout_s`` and
``conf_threshold`` are accepted, and two of them are applied here: ``align_gravity`` (bool, default true: see
:mod:`spatial_perception.backends.alignment`) and ``conf_threshold`` (number, optional: points whose confidence
is below it become NaN, before the alignment; ``confidence`` and ``depth`` are kept). Anything else is a
``bad_request``):
    ``odometry`` (str, default ``"auto"``): how poses are estimated when none are given:
        ``"auto"``: sparse features (``features``) lifted with depth and solved with PnP inside RANSAC,
        refined by point-to-plane ICP; frames whose features fail are tried with ICP alone.
        ``"features"``: the feature/PnP estimate only.
        ``"icp"``: point-to-plane ICP only, started from the previous frame-to-frame motion and from
        identity (for small baselines, e.g. consecutive video frames).
        ``"opencv"``: OpenCV's dense RGB-D odometry (``cv2.Odometry``, ``OdometryType_RGB_DEPTH``). It
        assumes small motion and silently fails on baselines of decimetres (see the tests).
        Ignored when ``poses`` are given.
    ``features`` (str, default ``"sift"``): ``"sift"`` (Lowe 2004) or ``"orb"`` (Rublee et al. 2011).
    ``max_depth`` (float metres, default 10.0, in (0, 1000]): depth beyond it is treated as invalid
        (confidence 0, point NaN; the returned ``depth`` keeps the value).
    ``min_inliers`` (int >= 6, default 15): PnP RANSAC inliers needed to accept a feature estimate.
    ``icp_iterations`` (int in [1, 200], default 30): maximum point-to-plane ICP iterations per frame.

Result: see :class:`spatial_perception.backends.base.Reconstruction` and docs/perception-api.md,
"Reconstruction semantics". Confidence (float32, [0, 1]):
    0 where the depth is invalid or beyond ``max_depth``; otherwise the product of
    a range factor ``min(1, (4 m / z)^2)`` (the Kinect v1 random depth error grows quadratically with
    range, Khoshelham & Elberink 2012, so the weight falls as z^-2 beyond 4 m: 0.25 at 8 m) and
    an edge factor 0.3 where the depth jumps by more than 5 % of z within the 3x3 neighbourhood
    (depth discontinuities, where "flying pixels" between foreground and background occur), else 1.

Failure policy of the odometry: every candidate pose must pass a depth-consistency check
(:func:`projective_check`: the frame's points, moved into the reference camera, must land on valid
reference depth and agree with it). A frame for which no candidate passes keeps the pose of its
reference frame (zero motion, the best estimate we have), is marked ``"registered": false`` in
``info["odometry"]["frames"]``, gets a line in ``info["warnings"]``, and the next frames are registered
against the last registered frame. When no frame after the first can be registered, the request fails
with ``bad_request`` (pass poses, or use frames that overlap more).
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

from spatial_perception.backends.alignment import align_to_gravity
from spatial_perception.backends.base import Backend, Reconstruction, ReconstructRequest
from spatial_perception.errors import BadRequest, Cancelled

#: Keys the server core owns (docs/perception-api.md, "Params"); accepted without complaint.
SERVER_PARAMS = frozenset({"align_gravity", "max_frames", "timeout_s", "conf_threshold"})
#: Backend parameters with their defaults (see the module docstring).
DEFAULT_PARAMS: dict[str, Any] = {
    "odometry": "auto",
    "features": "sift",
    "max_depth": 10.0,
    "min_inliers": 15,
    "icp_iterations": 30,
}
ODOMETRY_MODES = ("auto", "features", "icp", "opencv")
FEATURE_TYPES = ("sift", "orb")

# Confidence model (module docstring).
FAR_DEPTH_M = 4.0
EDGE_REL_JUMP = 0.05
EDGE_CONFIDENCE = 0.3

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


class RGBDBackend(Backend):
    """Reconstruction from metric depth; poses given or estimated by feature + ICP odometry (module docstring)."""

    name = "rgbd"
    version = "1"
    capabilities = frozenset({"reconstruct"})
    device = "cpu"

    def reconstruct(self, req: ReconstructRequest, cancel: threading.Event) -> Reconstruction:
        """Lift the depth into a world point map, estimating the camera path when no poses are given.

        Raises:
            BadRequest: missing/malformed depth, intrinsics, poses or frames, an all-invalid depth frame,
                an unknown or invalid param, or odometry that registered no frame.
            Cancelled: ``cancel`` was set (checked between frames).
        """
        params = parse_params(req.params)
        frames, indices, depth, K, poses = _validate(req)
        n, h, w = depth.shape
        max_depth = params["max_depth"]
        notes: list[str] = []
        warnings: list[str] = []

        valid = np.isfinite(depth) & (depth > 0)
        for i in range(n):
            if not valid[i].any():
                raise BadRequest(
                    f"depth of frame {indices[i]} (position {i}) has no valid pixel (all zero, negative or NaN)",
                    fix="drop that frame or pass its real depth map in metres",
                )
        depth_out = np.where(valid, depth, 0.0).astype(np.float32)
        used = valid & (depth_out <= max_depth)
        for i in range(n):
            if not used[i].any():
                raise BadRequest(
                    f"depth of frame {indices[i]} (position {i}) has no pixel within max_depth={max_depth} m",
                    fix="raise params.max_depth or check the depth units (metres expected)",
                )

        odo_info: dict[str, Any] | None = None
        if poses is not None:
            extrinsics = poses.copy()
            method = "rgbd: depth lifted with the given camera-to-world poses"
        else:
            extrinsics, odo_info = estimate_poses(frames, np.where(used, depth_out, 0.0), K, indices, params, cancel)
            warnings.extend(odo_info.pop("warnings"))
            method = f"rgbd: depth lifted with poses from {odo_info['description']}"
            notes.append(
                "no poses given: the world frame is camera 0's frame before gravity alignment; "
                "poses are chained frame-to-frame estimates and drift accumulates over long paths"
            )

        confidence = np.zeros((n, h, w), np.float32)
        points = np.empty((n, h, w, 3), np.float32)
        for i in range(n):
            if cancel.is_set():
                raise Cancelled("reconstruction cancelled by the server (client gone or timeout)")
            d = np.where(used[i], depth_out[i], 0.0).astype(np.float32)
            confidence[i] = depth_confidence(d)
            cam = backproject(d, K[i])
            R, t = extrinsics[i, :3, :3], extrinsics[i, :3, 3]
            points[i] = (cam.reshape(-1, 3) @ R.T.astype(np.float32) + t.astype(np.float32)).reshape(h, w, 3)
        notes.append(
            "confidence: 0 for invalid depth or depth beyond max_depth, else min(1, (4 m / z)^2) "
            "times 0.3 at depth discontinuities (3x3 jump > 5% of z)"
        )
        if params["conf_threshold"] is not None:
            points[confidence < params["conf_threshold"]] = np.nan
            notes.append(f"conf_threshold {params['conf_threshold']}: points with lower confidence are NaN")

        info: dict[str, Any] = {
            "backend": self.name,
            "method": method,
            "pose_source": "given" if poses is not None else "odometry",
            "params": {k: params[k] for k in (*DEFAULT_PARAMS, "align_gravity", "conf_threshold")},
            "valid_depth_fraction": [round(float(used[i].mean()), 4) for i in range(n)],
            "notes": notes,
            "warnings": warnings,
        }
        if odo_info is not None:
            info["odometry"] = odo_info
        recon = Reconstruction(
            frame_indices=indices,
            depth=depth_out,
            confidence=confidence,
            points=points,
            extrinsics=extrinsics,
            intrinsics=K,
            colors=np.stack(frames).astype(np.uint8, copy=False),
            info=info,
        )
        if params["align_gravity"]:
            if cancel.is_set():
                raise Cancelled("reconstruction cancelled by the server (client gone or timeout)")
            recon, align_info = align_to_gravity(recon)
            recon.info["alignment"] = align_info
        return recon


# --------------------------------------------------------------------------------------------------------------
# Validation


def parse_params(params: dict[str, Any] | None) -> dict[str, Any]:
    """Check the request params and fill in defaults.

    Returns:
        The backend params of :data:`DEFAULT_PARAMS` plus ``align_gravity`` (bool) and ``conf_threshold``
        (float or None).

    Raises:
        BadRequest: unknown key (the message lists the accepted ones) or a value of the wrong type/range.
    """
    params = dict(params or {})
    accepted = sorted(set(DEFAULT_PARAMS) | SERVER_PARAMS)
    unknown = sorted(k for k in params if k not in DEFAULT_PARAMS and k not in SERVER_PARAMS)
    if unknown:
        raise BadRequest(
            f"unknown param(s) {', '.join(map(repr, unknown))} for the rgbd backend",
            fix=f"use only: {', '.join(accepted)}",
        )
    out = dict(DEFAULT_PARAMS)
    out.update({k: v for k, v in params.items() if k in DEFAULT_PARAMS})

    align = params.get("align_gravity", True)
    if not isinstance(align, bool):
        raise BadRequest(f"params.align_gravity must be true or false, got {align!r}", fix="send a bool")
    out["align_gravity"] = align
    thr = params.get("conf_threshold")
    if thr is not None and (isinstance(thr, bool) or not isinstance(thr, int | float) or not math.isfinite(thr)):
        raise BadRequest(
            f"params.conf_threshold must be a number (confidence is in [0, 1]), got {thr!r}", fix="e.g. 0.5"
        )
    out["conf_threshold"] = None if thr is None else float(thr)
    if out["odometry"] not in ODOMETRY_MODES:
        raise BadRequest(
            f"params.odometry must be one of {', '.join(ODOMETRY_MODES)}, got {out['odometry']!r}",
            fix='use "auto" unless you know the frames are close together ("icp") or want OpenCV\'s ("opencv")',
        )
    if out["features"] not in FEATURE_TYPES:
        raise BadRequest(
            f"params.features must be one of {', '.join(FEATURE_TYPES)}, got {out['features']!r}",
            fix='use "sift" (default) or "orb"',
        )
    md = out["max_depth"]
    if isinstance(md, bool) or not isinstance(md, int | float) or not math.isfinite(md) or not 0 < md <= 1000:
        raise BadRequest(
            f"params.max_depth must be a number of metres in (0, 1000], got {md!r}", fix="e.g. 10.0 for a Kinect"
        )
    out["max_depth"] = float(md)
    for key, lo, hi in (("min_inliers", 6, 100000), ("icp_iterations", 1, 200)):
        v = out[key]
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            raise BadRequest(
                f"params.{key} must be an integer in [{lo}, {hi}], got {v!r}", fix=f"default: {DEFAULT_PARAMS[key]}"
            )
    return out


def _validate(
    req: ReconstructRequest,
) -> tuple[list[NDArray[np.uint8]], NDArray[np.int64], NDArray[np.float32], NDArray[np.float64], NDArray | None]:
    """Check shapes and dtypes; return frames, (N,) int64 indices, (N,H,W) float32 depth, (N,3,3) K, poses."""
    frames = list(req.frames or [])
    n = len(frames)
    if n == 0:
        raise BadRequest("frames is empty; the rgbd backend needs at least one RGB frame", fix="send 1 or more frames")
    for i, f in enumerate(frames):
        f = np.asarray(f)
        if f.ndim != 3 or f.shape[2] != 3 or f.dtype != np.uint8:
            raise BadRequest(
                f"frames[{i}] must be an (H, W, 3) uint8 RGB image, got {f.dtype} {f.shape}",
                fix="convert grayscale/RGBA frames to RGB",
            )
        frames[i] = f
    h, w = frames[0].shape[:2]
    if any(f.shape[:2] != (h, w) for f in frames):
        sizes = sorted({f"{f.shape[1]}x{f.shape[0]}" for f in frames})
        raise BadRequest(
            f"all frames must have the same size (W x H); got {', '.join(sizes)}", fix="resize the frames to one size"
        )
    indices = np.asarray(req.frame_indices, dtype=np.int64).reshape(-1)
    if indices.shape != (n,):
        raise BadRequest(
            f"frame_indices has {indices.size} entries for {n} frames",
            fix="give one absolute frame index per frame",
        )

    if req.depth is None:
        raise BadRequest(
            "depth is missing: the rgbd backend needs metric depth (N, H, W) float32 in metres",
            fix='pass depth, or use the "da3" backend for RGB-only input',
        )
    depth = np.asarray(req.depth)
    if depth.shape != (n, h, w) or not np.issubdtype(depth.dtype, np.floating):
        raise BadRequest(
            f"depth must be (N, H, W) = ({n}, {h}, {w}) float32 metres, got {depth.dtype} {depth.shape}",
            fix="convert raw sensor depth to metres first (e.g. uint16 millimetres / 1000)",
        )
    depth = depth.astype(np.float32, copy=False)

    if req.intrinsics is None:
        raise BadRequest(
            "intrinsics are missing: the rgbd backend needs the (3, 3) or (N, 3, 3) pinhole matrix in pixels",
            fix="pass intrinsics [[fx, 0, cx], [0, fy, cy], [0, 0, 1]]",
        )
    K = np.asarray(req.intrinsics, dtype=np.float64)
    if K.shape == (3, 3):
        K = np.repeat(K[None], n, axis=0)
    if K.shape != (n, 3, 3):
        raise BadRequest(
            f"intrinsics must have shape (3, 3) or (N, 3, 3) with N={n}, got {K.shape}",
            fix="pass one [[fx, 0, cx], [0, fy, cy], [0, 0, 1]] matrix, or one per frame",
        )
    if not np.isfinite(K).all() or (K[:, 0, 0] <= 0).any() or (K[:, 1, 1] <= 0).any():
        raise BadRequest(
            "intrinsics must be finite with positive fx = K[0, 0] and fy = K[1, 1]",
            fix="pass [[fx, 0, cx], [0, fy, cy], [0, 0, 1]] in pixels",
        )

    poses = None
    if req.poses is not None:
        poses = np.asarray(req.poses, dtype=np.float64)
        if poses.shape != (n, 4, 4):
            raise BadRequest(
                f"poses must be (N, 4, 4) = ({n}, 4, 4) camera-to-world, got {poses.shape}",
                fix="pass one pose per frame, or no poses to estimate them",
            )
        if not np.isfinite(poses).all():
            raise BadRequest("poses contain NaN or infinity", fix="pass finite poses, or none to estimate them")
        R = poses[:, :3, :3]
        orth = np.abs(R @ R.transpose(0, 2, 1) - np.eye(3)).max(axis=(1, 2))
        bad = np.flatnonzero(
            (orth > 1e-3) | (np.linalg.det(R) < 0) | (np.abs(poses[:, 3] - [0, 0, 0, 1]).max(1) > 1e-6)
        )
        if bad.size:
            raise BadRequest(
                f"poses[{int(bad[0])}] is not a rigid camera-to-world transform (rotation must be orthonormal with "
                "det +1 and the last row [0, 0, 0, 1])",
                fix="pass camera-to-world rigid transforms in metres (no scale), or no poses to estimate them",
            )
    return frames, indices, depth, K, poses


# --------------------------------------------------------------------------------------------------------------
# Geometry helpers


def backproject(depth: NDArray[np.floating], K: NDArray[np.float64]) -> NDArray[np.float32]:
    """Lift an (H, W) depth map (metres along z, <= 0 or NaN invalid) to an (H, W, 3) float32 camera-frame
    point map (OpenCV axes), NaN where invalid; pixel (u, v) -> ((u - cx) z / fx, (v - cy) z / fy, z)."""
    h, w = depth.shape
    z = np.where(np.isfinite(depth) & (depth > 0), depth, np.nan).astype(np.float32)
    u = np.arange(w, dtype=np.float32)[None, :]
    v = np.arange(h, dtype=np.float32)[:, None]
    x = (u - np.float32(K[0, 2])) * z / np.float32(K[0, 0])
    y = (v - np.float32(K[1, 2])) * z / np.float32(K[1, 1])
    return np.stack([x, y, z], axis=-1)


def depth_confidence(depth: NDArray[np.float32]) -> NDArray[np.float32]:
    """Per-pixel confidence (H, W) float32 in [0, 1] of a depth map (metres, 0 = invalid); model in the module
    docstring: 0 invalid, ``min(1, (4 / z)^2)`` by range, times 0.3 at depth discontinuities."""
    valid = depth > 0
    z = np.where(valid, depth, 1.0).astype(np.float32)
    conf = np.minimum(1.0, (FAR_DEPTH_M / z) ** 2).astype(np.float32)
    kernel = np.ones((3, 3), np.uint8)
    dmax = cv2.dilate(np.where(valid, depth, 0.0).astype(np.float32), kernel)
    dmin = cv2.erode(np.where(valid, depth, np.float32(np.inf)).astype(np.float32), kernel)
    edge = (dmax - dmin) > EDGE_REL_JUMP * z
    conf[edge] *= EDGE_CONFIDENCE
    conf[~valid] = 0.0
    return conf


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


# --------------------------------------------------------------------------------------------------------------
# Odometry


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
