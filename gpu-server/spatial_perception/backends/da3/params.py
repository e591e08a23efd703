"""Request checks of the da3 backend: params with their defaults, and the frames, depth, intrinsics and poses
of a reconstruct request.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

from spatial_perception.backends.base import ReconstructRequest, align_gravity_param, backend_params
from spatial_perception.errors import BadRequest

SERVER_PARAMS = frozenset({"align_gravity", "max_frames", "timeout_s", "conf_threshold"})
DEFAULT_PARAMS: dict[str, Any] = {"process_res": 504, "align_depth": "median", "depth_interpolation": "bilinear"}
ALIGN_METHODS = ("median", "least_squares", "none")
INTERPOLATIONS = ("bilinear", "nearest")


def parse_params(params: dict[str, Any] | None) -> dict[str, Any]:
    """Check the reconstruct params and fill in defaults.

    Returns:
        :data:`DEFAULT_PARAMS` keys plus ``align_gravity`` (bool) and ``conf_threshold`` (float or None).

    Raises:
        BadRequest: unknown key (the message lists the accepted ones) or a value of the wrong type/range.
    """
    params = dict(params or {})
    out = backend_params("da3", params, DEFAULT_PARAMS, SERVER_PARAMS)
    out["align_gravity"] = align_gravity_param(params)
    res = out["process_res"]
    if isinstance(res, bool) or not isinstance(res, int) or res % 14 or not 140 <= res <= 2016:
        raise BadRequest(
            f"params.process_res must be a multiple of 14 in [140, 2016], got {res!r}", fix="504 (DA3's default)"
        )
    if out["align_depth"] not in ALIGN_METHODS:
        raise BadRequest(f"params.align_depth must be one of {', '.join(ALIGN_METHODS)}, got {out['align_depth']!r}")
    if out["depth_interpolation"] not in INTERPOLATIONS:
        raise BadRequest(
            f"params.depth_interpolation must be one of {', '.join(INTERPOLATIONS)}, got {out['depth_interpolation']!r}"
        )
    conf = params.get("conf_threshold")
    if conf is not None and (
        isinstance(conf, bool) or not isinstance(conf, int | float) or not math.isfinite(conf) or not 0 <= conf <= 1
    ):
        raise BadRequest(f"params.conf_threshold must be in [0, 1] for da3 (a confidence rank), got {conf!r}")
    out["conf_threshold"] = None if conf is None else float(conf)
    return out


def validate_request(
    req: ReconstructRequest,
) -> tuple[
    list[NDArray[np.uint8]],
    NDArray[np.int64],
    NDArray[np.float32] | None,
    NDArray[np.float64] | None,
    NDArray[np.float64] | None,
]:
    """Frames, indices, optional depth (N, H, W), intrinsics (N, 3, 3) and poses (N, 4, 4) of a request.

    Raises:
        BadRequest: no frames, frames of different sizes or not (H, W, 3) uint8, or depth/intrinsics/poses of
            the wrong shape or non-finite.
    """
    frames = list(req.frames or [])
    if not frames:
        raise BadRequest("reconstruct needs at least one frame", fix="send the frames to reconstruct")
    for i, f in enumerate(frames):
        if not isinstance(f, np.ndarray) or f.dtype != np.uint8 or f.ndim != 3 or f.shape[2] != 3:
            raise BadRequest(f"frame at position {i} must be an (H, W, 3) uint8 RGB image")
        if f.shape != frames[0].shape:
            raise BadRequest(
                f"frames must all have one size; position {i} is {f.shape[:2]}, 0 is {frames[0].shape[:2]}"
            )
    n = len(frames)
    H, W = frames[0].shape[:2]
    indices = np.asarray(req.frame_indices, np.int64).reshape(-1)
    if len(indices) != n:
        raise BadRequest(f"frame_indices has {len(indices)} entries for {n} frames", fix="one per frame")
    depth = None
    if req.depth is not None:
        depth = np.asarray(req.depth, np.float32)
        if depth.shape != (n, H, W):
            raise BadRequest(f"depth must be (N, H, W) = {(n, H, W)} metres, got {depth.shape}")
    K = None
    if req.intrinsics is not None:
        K = np.asarray(req.intrinsics, np.float64)
        if K.shape == (3, 3):
            K = np.broadcast_to(K, (n, 3, 3)).copy()
        if K.shape != (n, 3, 3) or not np.isfinite(K).all() or (K[:, 0, 0] <= 0).any() or (K[:, 1, 1] <= 0).any():
            raise BadRequest(f"intrinsics must be (3, 3) or (N, 3, 3) with fx, fy > 0, got {np.shape(req.intrinsics)}")
    poses = None
    if req.poses is not None:
        poses = np.asarray(req.poses, np.float64)
        if poses.shape != (n, 4, 4) or not np.isfinite(poses).all():
            raise BadRequest(f"poses must be (N, 4, 4) camera-to-world, got {poses.shape}")
    return frames, indices, depth, K, poses
