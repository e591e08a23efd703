"""The mono backend (see :mod:`spatial_perception.backends.mono`): availability, the local checkpoint, the camera
(intrinsics) decision, and the reconstruction: predicted metric depth handed to the rgbd backend.
"""

from __future__ import annotations

import math
import os
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from spatial_perception.backends.base import (
    Backend,
    Reconstruction,
    ReconstructRequest,
    default_torch_device,
    has_module,
)
from spatial_perception.backends.inputs import check_frames
from spatial_perception.backends.mono.model import (
    CHECKPOINT_FIX,
    ENV_CHECKPOINT,
    INSTALL_FIX,
    DepthPredictor,
    cancelled,
    check_fov,
    checkpoint_problem,
    focal_from_fov,
    fov_from_focal,
    load_predictor,
)
from spatial_perception.backends.rgbd import RGBDBackend
from spatial_perception.backends.rgbd import parse_params as rgbd_parse_params
from spatial_perception.errors import BackendUnavailable, BadRequest

#: The horizontal field of view assumed when neither the request, ``params.fov_deg`` nor the model gives the
#: camera: 60 degrees, between a Kinect v1 (63 deg: fx 518 px at 640 px) and typical phone and webcam video
#: (about 60-70 deg). Answers that use it say so in ``info.warnings``.
DEFAULT_FOV_DEG = 60.0
#: The mono backend's own params; the others are the rgbd backend's
#: (:data:`spatial_perception.backends.rgbd.DEFAULT_PARAMS`).
MONO_PARAMS = frozenset({"fov_deg"})


class MonoBackend(Backend):
    """Reconstruction of plain RGB video: metric monocular depth, then the rgbd backend (module docstring).

    Args:
        checkpoint: local checkpoint directory; default: env ``SPATIAL_PERCEPTION_MONO_CHECKPOINT``.
        device: torch device string; default ``"cuda"`` when torch sees a GPU, else ``"cpu"``.
        predictor: a :class:`~spatial_perception.backends.mono.model.DepthPredictor` to use instead of loading the
            checkpoint (the seam tests use to feed ground-truth depth); the checkpoint is then not needed.
    """

    name = "mono"
    version = "1"
    capabilities = frozenset({"reconstruct"})

    def __init__(
        self, checkpoint: str | None = None, device: str | None = None, predictor: DepthPredictor | None = None
    ) -> None:
        self.checkpoint = checkpoint or os.environ.get(ENV_CHECKPOINT) or None
        self.device = device or default_torch_device()
        self._predictor: Any = predictor
        self._lock = threading.Lock()
        self._load_error: str | None = None

    def available(self) -> tuple[bool, str | None]:
        """Check torch, transformers and the checkpoint (files and config.json only; nothing is loaded)."""
        if self._predictor is not None:
            return True, None
        if not (has_module("torch") and has_module("transformers")):
            return False, f"the mono backend needs torch and transformers: {INSTALL_FIX}"
        if self._load_error is not None:
            return False, self._load_error
        if not self.checkpoint:
            return False, f"no mono checkpoint configured: {CHECKPOINT_FIX}"
        problem = checkpoint_problem(Path(self.checkpoint))
        return (False, problem) if problem else (True, None)

    def _load(self) -> DepthPredictor:
        """The predictor, loaded on first use (once). Raises BackendUnavailable (and remembers a load failure)."""
        with self._lock:
            if self._predictor is not None:
                return self._predictor
            ok, reason = self.available()
            if not ok:
                raise BackendUnavailable(reason or "mono is unavailable", fix=CHECKPOINT_FIX)
            assert self.checkpoint is not None
            try:
                self._predictor = load_predictor(Path(self.checkpoint), self.device)
            except BackendUnavailable as exc:
                self._load_error = exc.message
                raise
            return self._predictor

    def reconstruct(self, req: ReconstructRequest, cancel: threading.Event) -> Reconstruction:
        """Predict metric depth for every frame, choose the camera, and reconstruct with the rgbd backend.

        Raises:
            BackendUnavailable: torch/transformers or the checkpoint missing, a relative-depth or unsupported
                checkpoint, or one that does not load completely.
            BadRequest: malformed frames, intrinsics, poses or params; request depth (use the rgbd backend);
                a frame whose predicted depth has no pixel within ``max_depth``; odometry that registered no frame.
            Cancelled: ``cancel`` was set (checked between frames).
        """
        params = dict(req.params or {})
        rgbd_params = rgbd_parse_params(params, backend="mono", extra_keys=MONO_PARAMS)
        fov_param = _fov_param(params)
        frames, indices = check_frames(req.frames, req.frame_indices, "the mono backend")
        h, w = frames[0].shape[:2]
        if any(f.shape[:2] != (h, w) for f in frames):
            sizes = sorted({f"{f.shape[1]}x{f.shape[0]}" for f in frames})
            raise BadRequest(
                f"all frames must have the same size (W x H); got {', '.join(sizes)}",
                fix="resize the frames to one size",
            )
        n = len(frames)
        if req.depth is not None:
            raise BadRequest(
                "the mono backend predicts depth from colour and takes no depth",
                fix='send the frames without depth, or send them with their depth to the "rgbd" backend',
            )
        K_req = _request_intrinsics(req.intrinsics, n)
        predictor = self._load()
        if cancel.is_set():
            raise cancelled()

        warnings: list[str] = []
        if K_req is not None:
            focal: NDArray[np.float64] | None = K_req[:, 0, 0].copy()
            source = "request"
        elif fov_param is not None:
            focal = np.full(n, float(focal_from_fov(fov_param, w)))
            source = "params.fov_deg"
        elif predictor.predicts_focal:
            focal, source = None, "model"
        else:
            focal = np.full(n, float(focal_from_fov(DEFAULT_FOV_DEG, w)))
            source = "assumed"
        t0 = time.perf_counter()
        pred = predictor(frames, focal, cancel)
        predict_s = time.perf_counter() - t0
        depth = np.asarray(pred.depth, np.float32)
        if depth.shape != (n, h, w):
            raise RuntimeError(f"the depth predictor returned {depth.shape}, expected {(n, h, w)}")
        focal_used = pred.focal_px if pred.focal_px is not None else focal
        assert focal_used is not None
        K = K_req if K_req is not None else _pinhole(np.asarray(focal_used, np.float64), h, w)
        fov_used = round(float(fov_from_focal(float(np.median(K[:, 0, 0])), w)), 3)
        if source == "assumed":
            warnings.append(
                f"no intrinsics given and the model predicts no camera: a horizontal field of view of "
                f"{DEFAULT_FOV_DEG:g} deg was ASSUMED (fx = fy = {K[0, 0, 0]:.1f} px, principal point at the image "
                "centre); point positions, and Depth Pro's depth scale, are only as right as that assumption: "
                "pass intrinsics or params.fov_deg"
            )

        valid = np.isfinite(depth) & (depth > 0)
        for i in range(n):
            if not (valid[i] & (np.where(valid[i], depth[i], np.inf) <= rgbd_params["max_depth"])).any():
                far = float(np.nanmin(np.where(valid[i], depth[i], np.nan))) if valid[i].any() else math.nan
                raise BadRequest(
                    f"the predicted depth of frame {int(indices[i])} (position {i}) has no pixel within "
                    f"max_depth={rgbd_params['max_depth']} m (nearest predicted: {far:.3g} m)",
                    fix="raise params.max_depth (e.g. 80 for outdoor scenes), or check that the frame shows a scene",
                )

        rgbd_req = ReconstructRequest(
            frames=frames,
            frame_indices=indices,
            depth=np.where(valid, depth, 0.0).astype(np.float32),
            intrinsics=K,
            poses=req.poses,
            params={k: v for k, v in params.items() if k not in MONO_PARAMS},
        )
        try:
            recon = RGBDBackend().reconstruct(rgbd_req, cancel)
        except BadRequest as exc:
            raise BadRequest(f"mono (rgbd reconstruction of the predicted depth): {exc.message}", fix=exc.fix) from exc

        info = recon.info
        rgbd_method = str(info.get("method", ""))
        info["backend"] = self.name
        info["method"] = f"mono: metric depth predicted by {pred.model}; " + rgbd_method.removeprefix("rgbd: ")
        info["depth_model"] = pred.model
        info["device"] = str(self.device)
        if self.checkpoint:
            info["checkpoint"] = str(self.checkpoint)
        info["intrinsics_source"] = source
        info["fov_deg"] = fov_used
        if pred.fov_deg is not None:
            info["predicted_fov_deg"] = pred.fov_deg
        info["depth_predict_s"] = round(predict_s, 3)
        info["params"] = {**info.get("params", {}), "fov_deg": fov_param}
        info["notes"] = [
            *pred.notes,
            f"intrinsics: {_SOURCE_TEXT[source]}",
            "confidence is the rgbd backend's geometric model applied to the predicted depth; the depth models give "
            "no per-pixel uncertainty",
            *info.get("notes", []),
        ]
        info["warnings"] = [*warnings, *info.get("warnings", [])]
        return recon


_SOURCE_TEXT = {
    "request": "the request's",
    "params.fov_deg": "fx = fy from params.fov_deg (horizontal), principal point at the image centre",
    "model": "fx = fy from the model's field-of-view estimate (median over the frames), principal point at the "
    "image centre",
    "assumed": f"ASSUMED horizontal field of view {DEFAULT_FOV_DEG:g} deg, principal point at the image centre",
}


def _fov_param(params: dict[str, Any]) -> float | None:
    """``params.fov_deg`` (None when absent). Raises BadRequest when it is not a number of degrees in (1, 179)."""
    value = params.get("fov_deg")
    if value is None:
        return None
    try:
        return check_fov(value)
    except ValueError as exc:
        raise BadRequest(
            f"params.fov_deg (the camera's horizontal field of view) {exc}",
            fix="e.g. 60 for typical phone or webcam video; or pass the intrinsics instead",
        ) from exc


def _request_intrinsics(intrinsics: Any, n: int) -> NDArray[np.float64] | None:
    """The request's intrinsics as (N, 3, 3) float64, or None.

    Raises:
        BadRequest: not (3, 3) or (N, 3, 3), non-finite, or fx / fy not positive.
    """
    if intrinsics is None:
        return None
    K = np.asarray(intrinsics, dtype=np.float64)
    if K.shape == (3, 3):
        K = np.repeat(K[None], n, axis=0)
    if K.shape != (n, 3, 3):
        raise BadRequest(
            f"intrinsics must have shape (3, 3) or (N, 3, 3) with N={n}, got {K.shape}",
            fix="pass one [[fx, 0, cx], [0, fy, cy], [0, 0, 1]] matrix in pixels, or one per frame, or none",
        )
    if not np.isfinite(K).all() or (K[:, 0, 0] <= 0).any() or (K[:, 1, 1] <= 0).any():
        raise BadRequest(
            "intrinsics must be finite with positive fx = K[0, 0] and fy = K[1, 1]",
            fix="pass [[fx, 0, cx], [0, fy, cy], [0, 0, 1]] in pixels, or no intrinsics",
        )
    return K


def _pinhole(focal_px: NDArray[np.float64], h: int, w: int) -> NDArray[np.float64]:
    """(N, 3, 3) intrinsics with fx = fy = ``focal_px[i]`` and the principal point at the image centre,
    ((W - 1) / 2, (H - 1) / 2) in the pixel-centre convention of docs/conventions.md."""
    K = np.zeros((len(focal_px), 3, 3))
    K[:, 0, 0] = K[:, 1, 1] = focal_px
    K[:, 0, 2], K[:, 1, 2], K[:, 2, 2] = (w - 1) / 2.0, (h - 1) / 2.0, 1.0
    return K
