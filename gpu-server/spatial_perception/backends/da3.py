"""The ``da3`` backend: multi-view reconstruction with Depth Anything 3 through its official Python package.

Depth Anything 3 ("Depth Anything 3: Recovering the Visual Space from Any Views", Lin et al., ByteDance Seed,
2025) predicts, from one or more RGB images, a depth map, a depth confidence, the camera intrinsics and the
camera extrinsics of every view (any-view models, e.g. ``DA3-LARGE``, ``DA3-GIANT``; ``DA3NESTED-GIANT-LARGE``
adds metric scale). This module adapts its output to the perception API (docs/perception-api.md,
"Reconstruction semantics").

The official package (import name ``depth_anything_3``) is not on the package index of this project's machines;
install it on the GPU box from its repository (``pip install -e .`` in a checkout of ByteDance-Seed's
Depth-Anything-3, plus ``xformers`` there if wanted). It is imported lazily; :meth:`DA3Backend.available`
reports its absence.

Assumed package API (from the project's public README and ``api.py``; kept in :func:`_run_model` and
:func:`raw_from_prediction` so that it is fixed in one place on a GPU box):
    ``from depth_anything_3.api import DepthAnything3``;
    ``DepthAnything3.from_pretrained(local_dir, local_files_only=True)`` (a ``huggingface_hub``
    ``PyTorchModelHubMixin``: the directory holds ``config.json`` and ``model.safetensors``);
    ``model.to(device)``; ``model.model_name`` (e.g. ``"da3nested-giant-large"``);
    ``model.inference(images, extrinsics=None, intrinsics=None, process_res=504,
    process_res_method="upper_bound_resize", export_dir=None)`` with ``images`` a list of (H, W, 3) uint8 RGB
    arrays, ``extrinsics`` (N, 4, 4) world-to-camera and ``intrinsics`` (N, 3, 3) at the input resolution
    (pose-conditioned mode; the package needs both), returning a ``Prediction`` with
    ``depth`` (N, h, w) float32, ``conf`` (N, h, w) float32 (larger = more reliable, unbounded) or None,
    ``intrinsics`` (N, 3, 3) at the processing resolution (h, w) or None, ``extrinsics`` (N, 3, 4) (or 4x4)
    world-to-camera in OpenCV axes or None, ``is_metric`` (0/1) and optionally ``sky`` (N, h, w).
    ``"upper_bound_resize"`` scales the whole image so that its long side is ``process_res`` and then rounds each
    side to a multiple of 14 (no crop), so each input pixel maps to the processing image by a per-axis scale.
    ``DA3METRIC-*`` (monocular metric) outputs need ``metric = focal * output / 300`` (focal in pixels at the
    processing resolution, the mean of fx and fy); they predict no cameras, so they need request intrinsics
    and, for more than one frame, poses.

Checkpoint (``checkpoint=`` / ``--da3-checkpoint DIR`` / env ``SPATIAL_PERCEPTION_DA3_CHECKPOINT``; otherwise the
first snapshot of a ``depth-anything/*`` repository in the local Hugging Face cache, ``HF_HUB_CACHE`` or
``$HF_HOME/hub`` or ``~/.cache/huggingface/hub``): a directory with ``config.json`` and ``*.safetensors``.
Nothing is downloaded: ``HF_HUB_OFFLINE=1`` is set when this module is imported.

Post-processing (:func:`postprocess`, fully implemented and tested here):
    depth: from the processing resolution (h, w) back to each input frame (H, W). ``"bilinear"`` (default) is
        validity-normalised bilinear interpolation (OpenCV ``INTER_LINEAR``, pixel-centre aligned): the
        interpolated depth divided by the interpolated validity, kept where at least half of the interpolation
        weight is valid (invalid = non-finite, <= 0 or sky); ``"nearest"`` copies the nearest processing pixel
        (no mixing across depth edges). Invalid output pixels are 0.
    confidence: raw DA3 confidence is resized bilinearly, then mapped to [0, 1] by its rank among the valid
        pixels of the request (0 = least, 1 = most confident; equal values get equal ranks), so that e.g.
        ``conf_threshold=0.4`` drops the 40 % least confident pixels (DA3's own point-cloud export drops the
        lowest 40 % by default). 0 where depth is invalid; without a raw confidence, 1 where depth is valid.
    intrinsics: scaled to the input resolution with the pixel-centre convention (docs/conventions.md):
        ``fx' = fx * sx``, ``cx' = (cx + 0.5) * sx - 0.5`` (likewise y), ``sx = W / w``, ``sy = H / h``.
        Intrinsics given in the request are returned as given.
    extrinsics: DA3's world-to-camera (3x4 or 4x4) made 4x4 and inverted to camera-to-world. Poses given in the
        request are returned as given (their scale is the request's; no depth alignment then).
    metric scale (``align_depth``, when the request has ``depth`` in metres, sparse or dense): one global factor
        ``s`` over all frames from the pixels valid in both maps: ``"median"`` (default) ``s = median(d_metric /
        d_pred)`` (robust to outliers), ``"least_squares"`` ``s = sum(d_metric * d_pred) / sum(d_pred^2)``
        (minimises ``sum (d_metric - s d_pred)^2``), ``"none"``. Depth and camera translations are multiplied
        by ``s`` (the reconstruction is scaled about the world origin).
    points: depth pixels lifted with the output intrinsics and moved by the output extrinsics; NaN where the
        depth is invalid or the confidence is below ``conf_threshold``.
    gravity: :func:`spatial_perception.backends.alignment.align_to_gravity` when ``align_gravity`` (default).

Params (optional; server-owned ``align_gravity``, ``max_frames``, ``timeout_s``, ``conf_threshold`` accepted):
    ``process_res`` (int, multiple of 14 in [140, 2016], default 504): DA3's processing long side.
    ``align_depth`` (``"median"`` | ``"least_squares"`` | ``"none"``, default ``"median"``): see above; ignored
        without request depth or with request poses.
    ``depth_interpolation`` (``"bilinear"`` | ``"nearest"``, default ``"bilinear"``).
    ``conf_threshold`` (float in [0, 1], default 0): points below it are NaN (depth and confidence kept).
"""

from __future__ import annotations

import math
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from spatial_perception.backends.base import (
    Backend,
    Reconstruction,
    ReconstructRequest,
    default_torch_device,
    has_module,
    reject_unknown_params,
)
from spatial_perception.errors import BackendUnavailable, BadRequest, Cancelled

os.environ["HF_HUB_OFFLINE"] = "1"

PACKAGE = "depth_anything_3"
ENV_CHECKPOINT = "SPATIAL_PERCEPTION_DA3_CHECKPOINT"
PACKAGE_FIX = (
    "install Depth Anything 3's official package on the GPU machine (import name depth_anything_3; it is not "
    "on PyPI: `pip install -e .` in a checkout of ByteDance-Seed/Depth-Anything-3, with torch from "
    "`pip install -r gpu-server/requirements-gpu.txt`)"
)
CHECKPOINT_FIX = (
    f"pass --da3-checkpoint DIR or set {ENV_CHECKPOINT}=DIR: a local copy of a Hugging Face depth-anything/DA3* "
    "repository (config.json + model.safetensors), e.g. DA3NESTED-GIANT-LARGE-1.1; weights are never downloaded"
)
SERVER_PARAMS = frozenset({"align_gravity", "max_frames", "timeout_s", "conf_threshold"})
DEFAULT_PARAMS: dict[str, Any] = {"process_res": 504, "align_depth": "median", "depth_interpolation": "bilinear"}
ALIGN_METHODS = ("median", "least_squares", "none")
INTERPOLATIONS = ("bilinear", "nearest")
MIN_ALIGN_PIXELS = 10
CONF_QUANTILES = 1001
CONF_SAMPLE = 2_000_000
PROCESS_METHOD = "upper_bound_resize"
HF_CACHE_PREFERENCE = (  # most capable first; any other depth-anything repository after these
    "DA3NESTED-GIANT-LARGE-1.1",
    "DA3NESTED-GIANT-LARGE",
    "DA3-GIANT-1.1",
    "DA3-GIANT",
    "DA3-LARGE-1.1",
    "DA3-LARGE",
    "DA3-BASE",
    "DA3-SMALL",
)


@dataclass
class RawPrediction:
    """DA3's output at its processing resolution (h, w), before :func:`postprocess`.

    Attributes:
        depth: (N, h, w) float32, model units (metres for metric models); <= 0 or non-finite = invalid.
        confidence: (N, h, w) float32 raw confidence (higher = more reliable, any positive scale), or None.
        intrinsics: (N, 3, 3) or (3, 3) float pinhole matrices in processing pixels, or None (then the request
            must give intrinsics).
        extrinsics: (N, 3, 4) or (N, 4, 4) world-to-camera, OpenCV axes, model units, or None (then the request
            must give poses, unless N == 1).
        is_metric: whether depth and translations are in metres.
        sky: (N, h, w) sky mask (bool, or probability > 0.5 = sky), treated as invalid depth, or None.
        model_name: the checkpoint's model name, for the info.
    """

    depth: NDArray[np.float32]
    confidence: NDArray[np.float32] | None = None
    intrinsics: NDArray[np.float64] | None = None
    extrinsics: NDArray[np.float64] | None = None
    is_metric: bool = False
    sky: NDArray[Any] | None = None
    model_name: str | None = None


def _cancelled() -> Cancelled:
    return Cancelled("reconstruction cancelled by the server (client gone or timeout)")


def hf_cache_dir() -> Path:
    """The local Hugging Face hub cache: ``HF_HUB_CACHE``, else ``$HF_HOME/hub``, else ``~/.cache/huggingface/hub``."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]) / "hub"
    return Path.home() / ".cache" / "huggingface" / "hub"


def find_cached_checkpoint(cache: Path | None = None) -> Path | None:
    """The snapshot directory of a cached ``depth-anything/*`` model with a ``config.json`` (preference order in
    :data:`HF_CACHE_PREFERENCE`, then alphabetical), or None."""
    cache = cache or hf_cache_dir()
    if not cache.is_dir():
        return None
    repos = {p.name[len("models--depth-anything--") :].upper(): p for p in cache.glob("models--depth-anything--*")}
    order = [n for n in HF_CACHE_PREFERENCE if n in repos] + sorted(n for n in repos if n not in HF_CACHE_PREFERENCE)
    for name in order:
        snapshots = sorted((repos[name] / "snapshots").glob("*"), key=lambda p: p.stat().st_mtime, reverse=True)
        for snap in snapshots:
            if (snap / "config.json").is_file():
                return snap
    return None


class DA3Backend(Backend):
    """Depth Anything 3 reconstruction (module docstring).

    Args:
        checkpoint: local checkpoint directory; default: env ``SPATIAL_PERCEPTION_DA3_CHECKPOINT``, else the local
            Hugging Face cache.
        device: torch device string; default ``"cuda"`` when torch sees a GPU, else ``"cpu"``.
    """

    name = "da3"
    version = "1"
    capabilities = frozenset({"reconstruct"})

    def __init__(self, checkpoint: str | None = None, device: str | None = None) -> None:
        self.checkpoint = checkpoint or os.environ.get(ENV_CHECKPOINT) or None
        self.device = device or default_torch_device()
        self._lock = threading.Lock()
        self._model: Any = None
        self._load_error: str | None = None

    def checkpoint_dir(self) -> Path | None:
        """The configured checkpoint directory, else a cached one, else None."""
        if self.checkpoint:
            return Path(self.checkpoint)
        return find_cached_checkpoint()

    def available(self) -> tuple[bool, str | None]:
        """Check the package, torch and the checkpoint files without importing or loading the model."""
        if not has_module(PACKAGE):
            return False, f"the Depth Anything 3 package ({PACKAGE}) is not installed: {PACKAGE_FIX}"
        if not has_module("torch"):
            return False, "torch is not installed: pip install -r gpu-server/requirements-gpu.txt"
        if self._load_error is not None:
            return False, self._load_error
        root = self.checkpoint_dir()
        if root is None:
            return False, f"no DA3 checkpoint configured and none in the Hugging Face cache {hf_cache_dir()}: " + (
                CHECKPOINT_FIX
            )
        if not root.is_dir():
            return False, f"DA3 checkpoint directory {root} does not exist: {CHECKPOINT_FIX}"
        if not (root / "config.json").is_file():
            return False, f"{root} has no config.json: {CHECKPOINT_FIX}"
        if not any(root.glob("*.safetensors")) and not any(root.glob("*.bin")):
            return False, f"{root} has no weights (*.safetensors): {CHECKPOINT_FIX}"
        return True, None

    def _load(self) -> Any:
        with self._lock:
            if self._model is not None:
                return self._model
            ok, reason = self.available()
            if not ok:
                raise BackendUnavailable(reason or "da3 is unavailable", fix=f"{PACKAGE_FIX}; {CHECKPOINT_FIX}")
            root = self.checkpoint_dir()
            try:
                from depth_anything_3.api import DepthAnything3

                model = DepthAnything3.from_pretrained(str(root), local_files_only=True)
                model = model.to(self.device)
                model.eval()
            except Exception as exc:
                self._load_error = f"could not load Depth Anything 3 from {root}: {type(exc).__name__}: {exc}"
                raise BackendUnavailable(self._load_error, fix=CHECKPOINT_FIX) from exc
            self._model = model
            return model

    def reconstruct(self, req: ReconstructRequest, cancel: threading.Event) -> Reconstruction:
        """Reconstruct the request's frames with DA3 (module docstring).

        Raises:
            BackendUnavailable: package, torch or checkpoint missing, or the checkpoint does not load.
            BadRequest: malformed frames/depth/intrinsics/poses or params; a monocular checkpoint without the
                cameras it needs.
            Cancelled: ``cancel`` was set (checked before and after the model and between frames).
        """
        params = parse_params(req.params)
        frames, indices, depth, K, poses = _validate(req)
        self._require_available()
        if cancel.is_set():
            raise _cancelled()
        model = self._load()
        raw = _run_model(model, frames, intrinsics=K, poses=poses, process_res=params["process_res"])
        if cancel.is_set():
            raise _cancelled()
        recon = postprocess(
            raw,
            [f.shape[:2] for f in frames],
            frames,
            indices,
            params,
            metric_depth=depth,
            intrinsics=K,
            poses=poses,
            cancel=cancel,
        )
        recon.info["device"] = str(self.device)
        recon.info["checkpoint"] = str(self.checkpoint_dir())
        return recon

    def _require_available(self) -> None:
        ok, reason = self.available()
        if not ok:
            raise BackendUnavailable(reason or "da3 is unavailable", fix=f"{PACKAGE_FIX}; {CHECKPOINT_FIX}")


# --------------------------------------------------------------------------------------------------------------
# The package call (the only code that depends on the assumed DA3 API)


def _run_model(
    model: Any,
    images: list[NDArray[np.uint8]],
    *,
    intrinsics: NDArray[np.float64] | None = None,
    poses: NDArray[np.float64] | None = None,
    process_res: int = 504,
) -> RawPrediction:
    """Run ``model.inference`` on (H, W, 3) uint8 RGB images and convert its ``Prediction`` (module docstring).

    With both ``intrinsics`` (N, 3, 3) and ``poses`` (N, 4, 4 camera-to-world) the model runs pose-conditioned
    (DA3 takes world-to-camera and scales its depth to the poses); otherwise it estimates the cameras.
    """
    kwargs: dict[str, Any] = {"process_res": int(process_res), "process_res_method": PROCESS_METHOD, "export_dir": None}
    if intrinsics is not None and poses is not None:
        kwargs["intrinsics"] = np.asarray(intrinsics, np.float32)
        kwargs["extrinsics"] = np.linalg.inv(np.asarray(poses, np.float64)).astype(np.float32)
    pred = model.inference(list(images), **kwargs)
    raw = raw_from_prediction(pred, getattr(model, "model_name", None))
    name = (raw.model_name or "").lower()
    if "metric" in name and "nested" not in name:  # DA3METRIC-*: metric = focal * output / 300 (DA3 README)
        if intrinsics is None and raw.intrinsics is None:
            raise BadRequest(
                f"the DA3 checkpoint {raw.model_name} is monocular metric and needs the camera intrinsics",
                fix="pass intrinsics, or use an any-view checkpoint (e.g. DA3NESTED-GIANT-LARGE-1.1)",
            )
        n, h, w = raw.depth.shape
        if raw.intrinsics is not None:
            Kp = np.broadcast_to(np.asarray(raw.intrinsics, np.float64), (n, 3, 3))
            focal = 0.5 * (Kp[:, 0, 0] + Kp[:, 1, 1])
        else:
            assert intrinsics is not None
            H, W = images[0].shape[:2]
            Kin = np.broadcast_to(np.asarray(intrinsics, np.float64), (n, 3, 3))
            focal = 0.5 * (Kin[:, 0, 0] * w / W + Kin[:, 1, 1] * h / H)
        raw.depth = (raw.depth * (focal[:, None, None] / 300.0)).astype(np.float32)
        raw.is_metric = True
    return raw


def raw_from_prediction(pred: Any, model_name: str | None = None) -> RawPrediction:
    """A :class:`RawPrediction` from DA3's ``Prediction`` (attributes ``depth``, ``conf``, ``intrinsics``,
    ``extrinsics``, ``is_metric``, ``sky``; numpy arrays or tensors).

    Raises:
        RuntimeError: the prediction has no (N, h, w) depth.
    """

    def arr(name: str, dtype: type) -> Any:
        v = getattr(pred, name, None)
        if v is None:
            return None
        if hasattr(v, "detach"):
            v = v.detach().float().cpu().numpy()
        return np.asarray(v, dtype=dtype)

    depth = arr("depth", np.float32)
    if depth is None or depth.ndim != 3:
        shape = None if depth is None else depth.shape
        raise RuntimeError(f"Depth Anything 3 returned no (N, h, w) depth (got {shape}); check the package version")
    return RawPrediction(
        depth=depth,
        confidence=arr("conf", np.float32),
        intrinsics=arr("intrinsics", np.float64),
        extrinsics=arr("extrinsics", np.float64),
        is_metric=bool(getattr(pred, "is_metric", False)),
        sky=arr("sky", np.float32),
        model_name=model_name,
    )


# --------------------------------------------------------------------------------------------------------------
# Post-processing


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
            raise _cancelled()
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
            raise _cancelled()
        points[i] = lift(depth[i], K_out[i], E_out[i], keep[i])

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
    if p["align_gravity"]:
        if cancel is not None and cancel.is_set():
            raise _cancelled()
        from spatial_perception.backends.alignment import align_to_gravity

        recon, align_info = align_to_gravity(recon)
        recon.info["alignment"] = align_info
    return recon


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


def lift(
    depth: NDArray[np.float32], K: NDArray[np.float64], c2w: NDArray[np.float64], keep: NDArray[np.bool_]
) -> NDArray[np.float32]:
    """(H, W) depth -> (H, W, 3) float32 world points (NaN where not ``keep``), pixel (u, v) at pixel centres."""
    H, W = depth.shape
    u, v = np.meshgrid(np.arange(W, dtype=np.float64), np.arange(H, dtype=np.float64))
    z = depth.astype(np.float64)
    x = (u - K[0, 2] - K[0, 1] * (v - K[1, 2]) / K[1, 1]) / K[0, 0] * z
    y = (v - K[1, 2]) / K[1, 1] * z
    cam = np.stack([x, y, z], axis=-1)
    world = cam @ c2w[:3, :3].T + c2w[:3, 3]
    out = world.astype(np.float32)
    out[~keep] = np.nan
    return out


# --------------------------------------------------------------------------------------------------------------
# Validation


def parse_params(params: dict[str, Any] | None) -> dict[str, Any]:
    """Check the reconstruct params and fill in defaults.

    Returns:
        :data:`DEFAULT_PARAMS` keys plus ``align_gravity`` (bool) and ``conf_threshold`` (float or None).

    Raises:
        BadRequest: unknown key (the message lists the accepted ones) or a value of the wrong type/range.
    """
    params = dict(params or {})
    reject_unknown_params("da3", params, DEFAULT_PARAMS, SERVER_PARAMS)
    out = dict(DEFAULT_PARAMS)
    out.update({k: v for k, v in params.items() if k in DEFAULT_PARAMS})
    align = params.get("align_gravity", True)
    if not isinstance(align, bool):
        raise BadRequest(f"params.align_gravity must be true or false, got {align!r}")
    out["align_gravity"] = align
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


def _validate(
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


__all__ = [
    "DA3Backend",
    "RawPrediction",
    "depth_scale",
    "find_cached_checkpoint",
    "parse_params",
    "postprocess",
    "rank_confidence",
    "raw_from_prediction",
    "resize_depth",
    "scale_intrinsics",
    "world_to_camera_to_pose",
]
