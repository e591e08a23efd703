"""Post-processing of DA3's output (module docstring of :mod:`spatial_perception.backends.da3`,
"Post-processing"): depth, confidence and cameras at the input resolution, metric scale from request depth,
world points (:func:`spatial_common.geometry.backproject`) and gravity alignment.
"""

from __future__ import annotations

import threading
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray
from spatial_common.geometry import backproject

from spatial_perception.backends.alignment import align_if_asked
from spatial_perception.backends.base import Reconstruction
from spatial_perception.backends.da3.model import RawPrediction
from spatial_perception.backends.da3.params import DEFAULT_PARAMS, parse_params
from spatial_perception.errors import BadRequest, Cancelled

MIN_ALIGN_PIXELS = 10
CONF_QUANTILES = 1001
CONF_SAMPLE = 2_000_000


def cancelled() -> Cancelled:
    """The error raised when the server set the request's cancel event."""
    return Cancelled("reconstruction cancelled by the server (client gone or timeout)")


def postprocess(
    raw: RawPrediction,
    input_sizes: list[tuple[int, int]],
    frames: list[NDArray[np.uint8]],
    frame_indices: list[int] | NDArray[np.int64],
    params: dict[str, Any] | None,
    *,
    metric_depth: NDArray[np.float32] | None = None,
    intrinsics: NDArray[np.float64] | None = None,
    poses: NDArray[np.float64] | None = None,
    cancel: threading.Event | None = None,
) -> Reconstruction:
    """Bring DA3's output to the input resolution and the API's conventions (module docstring).

    Args:
        raw: the model output at the processing resolution (h, w).
        input_sizes: N input sizes (H, W); all equal (a reconstruction has one image size).
        frames: N (H, W, 3) uint8 RGB input frames (returned as ``colors``).
        frame_indices: N absolute frame indices.
        params: request params (:func:`parse_params`).
        metric_depth: (N, H, W) float metres (0/NaN invalid; may be sparse) for ``align_depth``, or None.
        intrinsics: (3, 3) or (N, 3, 3) known intrinsics at the input resolution, returned instead of DA3's.
        poses: (N, 4, 4) known camera-to-world poses, returned instead of DA3's.
        cancel: checked between frames.

    Returns:
        The :class:`Reconstruction` (gravity-aligned unless ``align_gravity`` is false), with ``info`` holding
        the method, processing size, scale alignment, raw confidence statistics and notes.

    Raises:
        ValueError: ``raw`` is inconsistent with the inputs (an adapter or package problem).
        BadRequest: the model gave no cameras and the request none either; too few pixels for ``align_depth``.
        Cancelled: ``cancel`` was set.
    """
    p = parse_params(params)
    n = len(frames)
    depth_raw = np.asarray(raw.depth, np.float32)
    if depth_raw.ndim != 3 or depth_raw.shape[0] != n or len(input_sizes) != n or len(frame_indices) != n:
        raise ValueError(
            f"DA3 depth {depth_raw.shape} does not match {n} frames / {len(input_sizes)} sizes / "
            f"{len(frame_indices)} indices"
        )
    sizes = {tuple(int(v) for v in s) for s in input_sizes}
    if len(sizes) != 1:
        raise ValueError(f"all input frames must have one size, got {sorted(sizes)}")
    H, W = sizes.pop()
    h, w = depth_raw.shape[1:]
    sx, sy = W / w, H / h
    notes: list[str] = []

    # Validity at the processing resolution.
    valid_raw = np.isfinite(depth_raw) & (depth_raw > 0)
    if raw.sky is not None:
        sky = np.asarray(raw.sky)
        if sky.shape != depth_raw.shape:
            raise ValueError(f"DA3 sky mask {sky.shape} does not match depth {depth_raw.shape}")
        valid_raw &= ~(sky > 0.5)
        notes.append("sky pixels (DA3 sky mask) are invalid")

    # Depth and raw confidence at the input resolution.
    depth = np.zeros((n, H, W), np.float32)
    conf_raw = np.zeros((n, H, W), np.float32) if raw.confidence is not None else None
    if raw.confidence is not None and np.shape(raw.confidence) != depth_raw.shape:
        raise ValueError(f"DA3 confidence {np.shape(raw.confidence)} does not match depth {depth_raw.shape}")
    for i in range(n):
        if cancel is not None and cancel.is_set():
            raise cancelled()
        depth[i] = resize_depth(depth_raw[i], valid_raw[i], (H, W), p["depth_interpolation"])
        if conf_raw is not None:
            c = np.where(np.isfinite(raw.confidence[i]), raw.confidence[i], 0).astype(np.float32)
            conf_raw[i] = cv2.resize(c, (W, H), interpolation=cv2.INTER_LINEAR)
    valid = depth > 0

    # Cameras.
    if intrinsics is not None:
        K_out = np.broadcast_to(np.asarray(intrinsics, np.float64), (n, 3, 3)).copy()
        notes.append("intrinsics: as given in the request")
    elif raw.intrinsics is not None:
        K_out = np.stack([scale_intrinsics(k, sx, sy) for k in np.broadcast_to(raw.intrinsics, (n, 3, 3))])
    else:
        raise BadRequest("this DA3 checkpoint predicts no intrinsics", fix="pass intrinsics (3x3 pixels)")
    if poses is not None:
        E_out = np.asarray(poses, np.float64).copy()
        notes.append("extrinsics: the poses given in the request")
    elif raw.extrinsics is not None:
        E_out = world_to_camera_to_pose(np.asarray(raw.extrinsics, np.float64))
        if E_out.shape[0] != n:
            raise ValueError(f"DA3 extrinsics {np.shape(raw.extrinsics)} do not match {n} frames")
    elif n == 1:
        E_out = np.eye(4)[None]
        notes.append("extrinsics: identity (one frame, no camera predicted)")
    else:
        raise BadRequest(
            "this DA3 checkpoint predicts no camera poses for several frames",
            fix="pass poses, or use an any-view checkpoint (e.g. DA3NESTED-GIANT-LARGE-1.1)",
        )

    # Metric scale from the request's depth.
    scale_info: dict[str, Any] | None = None
    if metric_depth is not None and poses is None and p["align_depth"] != "none":
        scale, scale_info = depth_scale(depth, np.asarray(metric_depth, np.float32), p["align_depth"])
        depth = (depth * np.float32(scale)).astype(np.float32)
        E_out[:, :3, 3] *= scale
    elif metric_depth is not None and poses is not None:
        notes.append("align_depth skipped: the request's poses fix the scale")

    # Confidence in [0, 1].
    if conf_raw is not None:
        confidence, conf_stats = rank_confidence(conf_raw, valid)
    else:
        confidence, conf_stats = valid.astype(np.float32), None
        notes.append("no DA3 confidence: 1 where depth is valid")
    threshold = p.get("conf_threshold")
    keep = valid & (confidence >= threshold) if threshold is not None else valid

    # World points.
    points = np.full((n, H, W, 3), np.nan, np.float32)
    for i in range(n):
        if cancel is not None and cancel.is_set():
            raise cancelled()
        points[i] = backproject(depth[i], K_out[i], E_out[i], valid=keep[i])

    info: dict[str, Any] = {
        "backend": "da3",
        "method": "da3: Depth Anything 3 depth, confidence and cameras, resized to the input resolution",
        "model": raw.model_name,
        "is_metric": bool(raw.is_metric or scale_info is not None or poses is not None),
        "processing_size": [int(h), int(w)],
        "input_size": [int(H), int(W)],
        "pose_source": "given" if poses is not None else ("model" if raw.extrinsics is not None else "identity"),
        "params": {k: p[k] for k in DEFAULT_PARAMS} | {"conf_threshold": threshold},
        "valid_depth_fraction": [round(float(valid[i].mean()), 4) for i in range(n)],
        "notes": notes
        + [
            f"depth resized {w}x{h} -> {W}x{H} ({p['depth_interpolation']}, validity-normalised)",
            "confidence = rank of DA3's raw confidence among the valid pixels of the request, in [0, 1]",
        ],
    }
    if scale_info is not None:
        info["scale_alignment"] = scale_info
    if conf_stats is not None:
        info["raw_confidence"] = conf_stats
    recon = Reconstruction(
        frame_indices=np.asarray(frame_indices, np.int64),
        depth=depth,
        confidence=confidence,
        points=points,
        extrinsics=E_out,
        intrinsics=K_out,
        colors=np.stack(frames).astype(np.uint8, copy=False),
        info=info,
    )
    return align_if_asked(recon, p["align_gravity"], cancel)


def resize_depth(
    depth: NDArray[np.float32], valid: NDArray[np.bool_], hw: tuple[int, int], method: str = "bilinear"
) -> NDArray[np.float32]:
    """(h, w) depth -> (H, W) float32, 0 where invalid (module docstring, "depth").

    Raises:
        ValueError: an unknown ``method``.
    """
    H, W = hw
    if method == "nearest":
        d = np.where(valid, depth, 0).astype(np.float32)
        return cv2.resize(d, (W, H), interpolation=cv2.INTER_NEAREST)
    if method != "bilinear":
        raise ValueError(f"unknown depth interpolation {method!r}")
    v = valid.astype(np.float32)
    num = cv2.resize(np.where(valid, depth, 0).astype(np.float32), (W, H), interpolation=cv2.INTER_LINEAR)
    den = cv2.resize(v, (W, H), interpolation=cv2.INTER_LINEAR)
    out = np.zeros((H, W), np.float32)
    ok = den >= 0.5
    out[ok] = num[ok] / den[ok]
    return out


def scale_intrinsics(K: NDArray[np.float64], sx: float, sy: float) -> NDArray[np.float64]:
    """Intrinsics of an image resized by (sx, sy), pixel-centre convention: ``cx' = (cx + 0.5) * sx - 0.5``."""
    K = np.asarray(K, np.float64)
    out = K.copy()
    out[0, 0], out[0, 1] = K[0, 0] * sx, K[0, 1] * sx
    out[1, 1] = K[1, 1] * sy
    out[0, 2] = (K[0, 2] + 0.5) * sx - 0.5
    out[1, 2] = (K[1, 2] + 0.5) * sy - 0.5
    return out


def world_to_camera_to_pose(w2c: NDArray[np.float64]) -> NDArray[np.float64]:
    """(N, 3, 4) or (N, 4, 4) world-to-camera -> (N, 4, 4) camera-to-world (rigid inverse).

    Raises:
        ValueError: wrong shape, non-finite values or a rotation part that is not a rotation.
    """
    w2c = np.asarray(w2c, np.float64)
    if w2c.ndim != 3 or w2c.shape[1:] not in ((3, 4), (4, 4)) or not np.isfinite(w2c).all():
        raise ValueError(f"DA3 extrinsics must be finite (N, 3, 4) or (N, 4, 4), got {w2c.shape}")
    R, t = w2c[:, :3, :3], w2c[:, :3, 3]
    err = np.abs(R @ np.swapaxes(R, 1, 2) - np.eye(3)).max()
    if err > 1e-3:
        raise ValueError(f"DA3 extrinsics have a non-orthonormal rotation (|R R^T - I| = {err:.2g})")
    out = np.tile(np.eye(4), (len(w2c), 1, 1))
    Rt = np.swapaxes(R, 1, 2)
    out[:, :3, :3] = Rt
    out[:, :3, 3] = -np.einsum("nij,nj->ni", Rt, t)
    return out


def depth_scale(pred: NDArray[np.float32], metric: NDArray[np.float32], method: str) -> tuple[float, dict[str, Any]]:
    """Global factor s with metric ~ s * pred over the pixels valid in both (module docstring, "metric scale").

    Raises:
        BadRequest: shapes differ, or fewer than :data:`MIN_ALIGN_PIXELS` pixels are valid in both.
    """
    if metric.shape != pred.shape:
        raise BadRequest(f"depth {metric.shape} must match the frames {pred.shape} (N, H, W) for align_depth")
    both = np.isfinite(metric) & (metric > 0) & (pred > 0)
    count = int(both.sum())
    if count < MIN_ALIGN_PIXELS:
        raise BadRequest(
            f"only {count} pixels have both request depth and DA3 depth; align_depth needs {MIN_ALIGN_PIXELS}",
            fix='send more depth samples (metres), or params.align_depth="none"',
        )
    m, d = metric[both].astype(np.float64), pred[both].astype(np.float64)
    if method == "least_squares":
        s = float((m * d).sum() / (d * d).sum())
    else:
        s = float(np.median(m / d))
    rel = np.abs(s * d - m) / m
    return s, {
        "method": method,
        "scale": s,
        "pixels": count,
        "median_rel_error": round(float(np.median(rel)), 5),
        "p90_rel_error": round(float(np.percentile(rel, 90)), 5),
    }


def rank_confidence(
    conf: NDArray[np.float32], valid: NDArray[np.bool_], seed: int = 0
) -> tuple[NDArray[np.float32], dict[str, float] | None]:
    """Raw confidence -> its rank in [0, 1] among the valid pixels (0 where invalid), and raw statistics.

    The ranks are read from :data:`CONF_QUANTILES` quantiles (of at most :data:`CONF_SAMPLE` seeded samples),
    interpolated linearly; pixels with the same raw value get the same rank.
    """
    out = np.zeros(conf.shape, np.float32)
    vals = conf[valid]
    if vals.size == 0:
        return out, None
    sample = vals
    if vals.size > CONF_SAMPLE:
        sample = np.random.default_rng(seed).choice(vals, CONF_SAMPLE, replace=False)
    levels = np.linspace(0.0, 1.0, CONF_QUANTILES)
    q = np.quantile(sample.astype(np.float64), levels)
    stats = {"min": float(q[0]), "median": float(q[CONF_QUANTILES // 2]), "max": float(q[-1])}
    if q[-1] - q[0] <= 1e-12 * max(1.0, abs(q[-1])):
        out[valid] = 1.0
        return out, stats
    # average the ranks of tied quantiles so equal raw values map to one rank
    uq, inverse = np.unique(q, return_inverse=True)
    mean_level = np.bincount(inverse, weights=levels) / np.bincount(inverse)
    out[valid] = np.interp(vals.astype(np.float64), uq, mean_level).astype(np.float32)
    return out, stats
