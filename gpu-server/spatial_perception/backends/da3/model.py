"""The Depth Anything 3 package call: the only code that depends on the package's API (module docstring of
:mod:`spatial_perception.backends.da3`, "Package API", verified against ByteDance-Seed/Depth-Anything-3 at
commit 2c21ea849ceec7b469a3e62ea0c0e270afc3281a).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from spatial_perception.errors import BadRequest

PROCESS_METHOD = "upper_bound_resize"
CAMERALESS_PREFIXES = ("da3metric", "da3mono")
"""Model names (the package's ``configs/*.yaml`` stems) of checkpoints without camera encoder/decoder: they take
no request cameras (the package's forward calls the missing ``cam_enc`` and fails) and predict none."""


def has_camera_heads(model_name: str | None) -> bool:
    """Whether a checkpoint named ``model_name`` (e.g. ``"da3-large"``, ``"da3nested-giant-large"``) has DA3's
    camera encoder and decoder (any-view and nested models do; ``da3metric-*`` and ``da3mono-*`` do not)."""
    return not (model_name or "").lower().startswith(CAMERALESS_PREFIXES)


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


def run_model(
    model: Any,
    images: list[NDArray[np.uint8]],
    *,
    intrinsics: NDArray[np.float64] | None = None,
    poses: NDArray[np.float64] | None = None,
    process_res: int = 504,
) -> RawPrediction:
    """Run ``model.inference`` on (H, W, 3) uint8 RGB images and convert its ``Prediction`` (module docstring).

    With both ``intrinsics`` (N, 3, 3) and ``poses`` (N, 4, 4 camera-to-world) and a checkpoint with camera heads
    (:func:`has_camera_heads`) the model runs pose-conditioned (DA3 takes world-to-camera, returns those as its
    extrinsics and divides its depth by the Umeyama scale between its own poses and the given ones); otherwise it
    estimates the cameras (camera-less checkpoints estimate none; the request's cameras are used afterwards).
    """
    kwargs: dict[str, Any] = {"process_res": int(process_res), "process_res_method": PROCESS_METHOD, "export_dir": None}
    if intrinsics is not None and poses is not None and has_camera_heads(getattr(model, "model_name", None)):
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
    """A :class:`RawPrediction` from DA3's ``Prediction`` (``depth_anything_3.specs.Prediction``: ``depth``
    (N, h, w) float32, ``conf`` (N, h, w) float32 or None, ``intrinsics`` (N, 3, 3) float32 or None,
    ``extrinsics`` (N, 3, 4) float32 world-to-camera or None, ``sky`` (N, h, w) bool or None, ``is_metric``: 1 for
    nested checkpoints, else an empty ``addict.Dict`` (falsy; the package reads it with ``getattr`` from an addict
    output); numpy arrays or tensors are accepted).

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
