"""The rgbd backend (see :mod:`spatial_perception.backends.rgbd`): params, input checks, confidence, and the
reconstruction itself (depth lifted with :func:`spatial_common.geometry.backproject` into the world frame).
"""

from __future__ import annotations

import math
import threading
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray
from spatial_common.geometry import backproject
from spatial_common.reconstruct_options import no_depth_advice

from spatial_perception.backends.alignment import align_if_asked
from spatial_perception.backends.base import (
    Backend,
    Reconstruction,
    ReconstructRequest,
    align_gravity_param,
    backend_params,
)
from spatial_perception.backends.rgbd.odometry import estimate_poses
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
            points[i] = backproject(d, K[i], extrinsics[i])
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
        return align_if_asked(recon, params["align_gravity"], cancel)


def parse_params(
    params: dict[str, Any] | None, backend: str = "rgbd", extra_keys: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """Check the request params and fill in defaults.

    Args:
        params: the request's params (None = none).
        backend: the backend named in error messages (``"mono"`` reuses these params).
        extra_keys: more keys the calling backend owns and checks itself (accepted here, not in the result).

    Returns:
        The backend params of :data:`DEFAULT_PARAMS` plus ``align_gravity`` (bool) and ``conf_threshold``
        (float or None).

    Raises:
        BadRequest: unknown key (the message lists the accepted ones) or a value of the wrong type/range.
    """
    params = dict(params or {})
    out = backend_params(backend, params, DEFAULT_PARAMS, SERVER_PARAMS | extra_keys)
    out["align_gravity"] = align_gravity_param(params)
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
            "depth is missing: the rgbd backend lifts measured metric depth (N, H, W) float32 in metres (an RGB-D "
            "input) and cannot estimate depth from colour",
            fix=f"pass the frames' depth in metres; or, {no_depth_advice()}",
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
