"""Metric monocular depth models of the mono backend (see :mod:`spatial_perception.backends.mono`): the checkpoint
checks, loading through transformers, and the per-frame prediction in metres.

Nothing is downloaded: ``HF_HUB_OFFLINE=1`` and ``TRANSFORMERS_OFFLINE=1`` are set when this module is imported and
every load passes ``local_files_only=True``.

Source: transformers 5.18.0, ``transformers/models/depth_pro/{modeling,image_processing}_depth_pro.py`` and
``transformers/models/depth_anything/modeling_depth_anything.py`` with ``transformers/models/dpt/
image_processing{,_pil}_dpt.py`` (``DPTImageProcessor`` / ``DPTImageProcessorPil``).
"""

from __future__ import annotations

import json
import math
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from spatial_perception.errors import BackendUnavailable, BadRequest, Cancelled

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

ENV_CHECKPOINT = "SPATIAL_PERCEPTION_MONO_CHECKPOINT"
INSTALL_FIX = "pip install -r gpu-server/requirements-cpu-test.txt (CPU) or gpu-server/requirements-gpu.txt (GPU)"
CHECKPOINT_FIX = (
    f"pass --mono-checkpoint DIR or set {ENV_CHECKPOINT}=DIR: a local copy (config.json, model.safetensors, "
    "preprocessor_config.json) of the Hugging Face repository apple/DepthPro-hf, or of a metric Depth Anything V2 "
    "repository such as depth-anything/Depth-Anything-V2-Metric-Indoor-Large-hf (indoor) or "
    "depth-anything/Depth-Anything-V2-Metric-Outdoor-Large-hf (outdoor); weights are never downloaded"
)
#: Depth Pro's post-processing clamps the inverse depth to [1e-4, 1e4] (depth in [1e-4 m, 1e4 m]).
DEPTH_PRO_INV_CLAMP = (1e-4, 1e4)
#: PIL resample codes of ``preprocessor_config.json`` -> ``torch.nn.functional.interpolate`` modes.
_RESAMPLE_MODES = {0: "nearest", 2: "bilinear", 3: "bicubic"}


def cancelled() -> Cancelled:
    """The error the backend raises when the server set its cancel event."""
    return Cancelled("reconstruction cancelled by the server (client gone or timeout)")


def focal_from_fov(fov_deg: float | NDArray[np.float64], width: int) -> NDArray[np.float64]:
    """Focal length in pixels of a pinhole camera ``width`` pixels wide with horizontal field of view ``fov_deg``
    (degrees): ``f = 0.5 W / tan(fov / 2)`` (the formula of ``DepthProImageProcessor.post_process_depth_estimation``).
    """
    return 0.5 * width / np.tan(0.5 * np.radians(np.asarray(fov_deg, np.float64)))


def fov_from_focal(focal_px: float | NDArray[np.float64], width: int) -> NDArray[np.float64]:
    """Inverse of :func:`focal_from_fov`: the horizontal field of view in degrees, ``2 atan(W / (2 f))``."""
    return np.degrees(2.0 * np.arctan(0.5 * width / np.asarray(focal_px, np.float64)))


@dataclass
class MonoDepth:
    """What a depth predictor returns for N frames of one size (H, W).

    Attributes:
        depth: (N, H, W) float32 metric depth in metres along the camera z axis; 0, negative or non-finite = invalid.
        focal_px: (N,) float64 focal length (fx = fy, pixels of the input frames) the depth belongs to: the one the
            predictor was given, or the one it predicted; None when the model neither uses nor predicts one
            (Depth Anything V2 metric), so the caller supplies the camera.
        fov_deg: the model's own per-frame horizontal field of view predictions (degrees), or None.
        model: a description for the answer's info (class and checkpoint).
        notes: lines for the answer's ``info.notes``.
    """

    depth: NDArray[np.float32]
    focal_px: NDArray[np.float64] | None = None
    fov_deg: list[float] | None = None
    model: str = ""
    notes: list[str] = field(default_factory=list)


class DepthPredictor(Protocol):
    """The depth-prediction seam of :class:`~spatial_perception.backends.mono.MonoBackend` (tests inject one).

    ``predicts_focal``: whether, without a given focal length, the predictor estimates one (Depth Pro's FoV head).
    ``__call__(frames, focal_px, cancel)``: ``frames`` N (H, W, 3) uint8 RGB of one size; ``focal_px`` (N,) float64
    focal lengths in pixels to scale the depth with (the request's fx, or an assumed one), or None to let the model
    use its own estimate; returns a :class:`MonoDepth`.
    """

    predicts_focal: bool

    def __call__(
        self, frames: list[NDArray[np.uint8]], focal_px: NDArray[np.float64] | None, cancel: threading.Event
    ) -> MonoDepth: ...


# ----------------------------------------------------------------------------------------------------------------
# Checkpoint


def read_config(root: Path) -> dict[str, Any]:
    """``config.json`` of a checkpoint directory as a dict.

    Raises:
        BackendUnavailable: missing or unreadable.
    """
    path = root / "config.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise BackendUnavailable(f"{path}: unreadable ({exc})", fix=CHECKPOINT_FIX) from exc


def checkpoint_problem(root: Path) -> str | None:
    """Why ``root`` is not a usable metric depth checkpoint (a sentence naming the fix), or None when it is.

    Checks the files and ``config.json`` only (no weights are loaded): ``model_type`` ``"depth_pro"``, or
    ``"depth_anything"`` with ``depth_estimation_type == "metric"``. A relative-depth Depth Anything checkpoint
    is refused: its output has no metric scale (and is inverse depth), so poses and points would not be in metres.
    """
    if not root.is_dir():
        return f"mono checkpoint directory {root} does not exist: {CHECKPOINT_FIX}"
    if not (root / "config.json").is_file():
        return f"{root} has no config.json, so it is not a transformers checkpoint: {CHECKPOINT_FIX}"
    if not any(root.glob("*.safetensors")) and not any(root.glob("pytorch_model*.bin")):
        return f"{root} has config.json but no weights (*.safetensors): {CHECKPOINT_FIX}"
    if not (root / "preprocessor_config.json").is_file():
        return f"{root} has no preprocessor_config.json (the image processor settings): {CHECKPOINT_FIX}"
    try:
        cfg = read_config(root)
    except BackendUnavailable as exc:
        return exc.message
    model_type = cfg.get("model_type")
    if model_type == "depth_pro":
        return None
    if model_type == "depth_anything":
        kind = cfg.get("depth_estimation_type", "relative")
        if kind == "metric":
            return None
        return (
            f"{root} is a Depth Anything checkpoint with depth_estimation_type {kind!r} (config.json): it predicts "
            "relative (affine-invariant inverse) depth without a metric scale, so the mono backend cannot give "
            "depth, poses and points in metres. Use a metric checkpoint instead: "
            "depth-anything/Depth-Anything-V2-Metric-Indoor-Large-hf (indoor), "
            "depth-anything/Depth-Anything-V2-Metric-Outdoor-Large-hf (outdoor) or apple/DepthPro-hf, "
            "passed with --mono-checkpoint DIR"
        )
    return (
        f"{root} holds a {model_type!r} model (config.json model_type); the mono backend runs 'depth_pro' "
        f"(DepthProForDepthEstimation) or metric 'depth_anything' (DepthAnythingForDepthEstimation): {CHECKPOINT_FIX}"
    )


def _load_model(cls: Any, root: Path, device: str) -> Any:
    """``cls.from_pretrained(root)`` on ``device`` in eval mode; a load that leaves weights uninitialised is refused
    (a wrong or partial checkpoint would give random depth)."""
    try:
        model, info = cls.from_pretrained(str(root), local_files_only=True, output_loading_info=True)
    except Exception as exc:
        raise BackendUnavailable(
            f"could not load {cls.__name__} from {root}: {type(exc).__name__}: {exc}", fix=CHECKPOINT_FIX
        ) from exc
    missing = sorted(info.get("missing_keys") or [])
    if missing:
        raise BackendUnavailable(
            f"{root} lacks {len(missing)} weights of {cls.__name__} (e.g. {', '.join(missing[:3])}); it is not a "
            "complete checkpoint of that model",
            fix=CHECKPOINT_FIX,
        )
    return model.to(device).eval()


# ----------------------------------------------------------------------------------------------------------------
# Depth Pro


class _DepthProTorchProcessing:
    """Depth Pro's pre- and post-processing in plain torch, used when ``DepthProImageProcessor`` cannot be built
    (it is a torchvision-backend processor; the CPU test environment has no working torchvision).

    Follows transformers 5.18 ``DepthProImageProcessor`` step by step: pixel values are rescaled
    (``rescale_factor``, default 1/255) and normalised (``image_mean`` / ``image_std``, default 0.5) FIRST, then
    resized to ``size`` (default 1536 x 1536, aspect ratio not kept) with ``resample`` (default bilinear,
    ``antialias=False``, ``align_corners=False``). ``post_process_depth_estimation`` with a field of view: inverse
    depth ``x = predicted_depth * W / f`` with ``f = 0.5 W / tan(fov / 2)``, resized to (H, W) with the same mode,
    depth ``= 1 / clamp(x, 1e-4, 1e4)``.
    """

    def __init__(self, config: dict[str, Any]) -> None:
        size = config.get("size") or {"height": 1536, "width": 1536}
        self.size = (int(size["height"]), int(size["width"]))
        self.do_resize = config.get("do_resize", True) is not False
        self.rescale = float(config.get("rescale_factor", 1 / 255)) if config.get("do_rescale", True) else 1.0
        normalize = config.get("do_normalize", True) is not False
        self.mean = list(config.get("image_mean") or [0.5] * 3) if normalize else [0.0] * 3
        self.std = list(config.get("image_std") or [0.5] * 3) if normalize else [1.0] * 3
        resample = int(config.get("resample", 2))
        if resample not in _RESAMPLE_MODES:
            raise BackendUnavailable(
                f"preprocessor_config.json resample={resample} is not one of {sorted(_RESAMPLE_MODES)} "
                "(nearest, bilinear, bicubic)",
                fix="use the preprocessor_config.json of apple/DepthPro-hf (resample 2, bilinear)",
            )
        self.mode = _RESAMPLE_MODES[resample]

    def pixels(self, frame: NDArray[np.uint8], device: str) -> Any:
        import torch
        import torch.nn.functional as F

        x = torch.from_numpy(np.ascontiguousarray(frame)).to(device).permute(2, 0, 1)[None].float()
        mean = torch.tensor(self.mean, dtype=torch.float32, device=device).view(1, 3, 1, 1)
        std = torch.tensor(self.std, dtype=torch.float32, device=device).view(1, 3, 1, 1)
        x = (x * self.rescale - mean) / std
        if self.do_resize:
            kw = {} if self.mode == "nearest" else {"align_corners": False, "antialias": False}
            x = F.interpolate(x, size=self.size, mode=self.mode, **kw)
        return x

    def depth(self, canonical_inverse: Any, focal_px: float, hw: tuple[int, int]) -> Any:
        import torch.nn.functional as F

        inv = canonical_inverse * (hw[1] / focal_px)
        kw = {} if self.mode == "nearest" else {"align_corners": False}
        inv = F.interpolate(inv[None, None], size=hw, mode=self.mode, **kw)[0, 0]
        return 1.0 / inv.clamp(*DEPTH_PRO_INV_CLAMP)


class DepthProPredictor:
    """Depth Pro (Bochkovskii et al., "Depth Pro: Sharp Monocular Metric Depth in Less Than a Second", ICLR 2025;
    transformers ``DepthProForDepthEstimation``, checkpoint ``apple/DepthPro-hf``).

    The model predicts a canonical inverse depth and, with its FoV head (``config.use_fov_model``), the horizontal
    field of view in degrees. Metric depth needs the focal length f (pixels): depth = f / (W * canonical inverse
    depth). With a given f (request intrinsics or an assumed FoV) that f is used; otherwise f comes from the FoV
    head: the per-frame estimates ``f_i = 0.5 W / tan(fov_i / 2)`` and their median, used for every frame (one
    camera per request, so the depth of all frames shares one scale). The post-processing is transformers'
    ``DepthProImageProcessor.post_process_depth_estimation`` with ``target_sizes`` = the input size and the field
    of view set to the one of f; where that processor cannot be built (no working torchvision) the equivalent
    torch code of :class:`_DepthProTorchProcessing` runs instead (``info.notes`` says which).
    """

    def __init__(self, root: Path, device: str) -> None:
        from transformers import DepthProForDepthEstimation

        self.root = root
        self.device = device
        self.model = _load_model(DepthProForDepthEstimation, root, device)
        self.predicts_focal = bool(self.model.use_fov_model)
        self.processor: Any = None
        self.processing_note = ""
        try:
            from transformers import DepthProImageProcessor

            self.processor = DepthProImageProcessor.from_pretrained(str(root), local_files_only=True)
            self.processing_note = "pre/post-processing: transformers DepthProImageProcessor"
        except Exception as exc:  # torchvision missing or broken: the processor class does not build
            self.processing_note = (
                "pre/post-processing: torch re-implementation of DepthProImageProcessor "
                f"({type(exc).__name__} building the transformers class)"
            )
        cfg = json.loads((root / "preprocessor_config.json").read_text(encoding="utf-8"))
        self.torch_processing = _DepthProTorchProcessing(cfg)

    def __call__(
        self, frames: list[NDArray[np.uint8]], focal_px: NDArray[np.float64] | None, cancel: threading.Event
    ) -> MonoDepth:
        import torch

        h, w = frames[0].shape[:2]
        canonical: list[Any] = []
        fovs: list[float] = []
        with torch.inference_mode():
            for frame in frames:
                if cancel.is_set():
                    raise cancelled()
                if self.processor is not None:
                    pixels = self.processor(images=frame, return_tensors="pt")["pixel_values"].to(self.device)
                else:
                    pixels = self.torch_processing.pixels(frame, self.device)
                out = self.model(pixel_values=pixels)
                canonical.append(out.predicted_depth[0].float())
                if out.field_of_view is not None:
                    fovs.append(float(out.field_of_view.reshape(-1)[0]))
            notes = [self.processing_note]
            if focal_px is None:
                if not fovs:
                    raise RuntimeError("Depth Pro without a FoV head needs a focal length (the backend passes one)")
                fov_median = float(np.median(fovs))
                if not 1.0 < fov_median < 179.0:
                    raise BadRequest(
                        f"Depth Pro's field-of-view head predicted {fov_median:.3g} deg (median over the frames), "
                        "which is not a valid camera angle, so the depth has no usable metric scale",
                        fix="pass the intrinsics, or params.fov_deg (the horizontal field of view in degrees)",
                    )
                f_each = focal_from_fov(np.asarray(fovs), w)
                focal_px = np.full(len(frames), float(np.median(f_each)))
                notes.append(
                    f"focal length from Depth Pro's FoV head: median over the frames, {focal_px[0]:.2f} px "
                    f"(horizontal FoV {float(fov_from_focal(focal_px[0], w)):.2f} deg)"
                )
            depth = np.empty((len(frames), h, w), np.float32)
            for i, inv in enumerate(canonical):
                if cancel.is_set():
                    raise cancelled()
                depth[i] = self._postprocess(inv, float(focal_px[i]), (h, w))
        return MonoDepth(
            depth=depth,
            focal_px=np.asarray(focal_px, np.float64),
            fov_deg=[round(v, 4) for v in fovs] or None,
            model=f"DepthProForDepthEstimation ({self.root.name})",
            notes=notes,
        )

    def _postprocess(self, canonical_inverse: Any, focal_px: float, hw: tuple[int, int]) -> NDArray[np.float32]:
        import torch

        if self.processor is None:
            d = self.torch_processing.depth(canonical_inverse, focal_px, hw)
        else:
            from transformers.models.depth_pro.modeling_depth_pro import DepthProDepthEstimatorOutput

            fov = torch.tensor([float(fov_from_focal(focal_px, hw[1]))], dtype=torch.float32)
            outputs = DepthProDepthEstimatorOutput(predicted_depth=canonical_inverse[None], field_of_view=fov)
            d = self.processor.post_process_depth_estimation(outputs, target_sizes=[hw])[0]["predicted_depth"]
        return d.float().cpu().numpy().astype(np.float32)


# ----------------------------------------------------------------------------------------------------------------
# Depth Anything V2 (metric)


class DepthAnythingMetricPredictor:
    """Metric Depth Anything V2 (Yang et al., "Depth Anything V2", NeurIPS 2024; transformers
    ``DepthAnythingForDepthEstimation`` with ``config.depth_estimation_type == "metric"``, e.g.
    ``depth-anything/Depth-Anything-V2-Metric-Indoor-Large-hf``, fine-tuned on Hypersim with ``max_depth`` 20 m;
    ``...-Outdoor-...`` on Virtual KITTI 2 with 80 m).

    The head ends in ``sigmoid * config.max_depth``: depth in metres, independent of the camera, so the predictor
    neither uses nor predicts a focal length (``focal_px`` is None in the result and the backend supplies the
    camera). Pre-processing is the checkpoint's image processor (``AutoImageProcessor``: ``DPTImageProcessor``, or
    its PIL twin ``DPTImageProcessorPil`` where torchvision is missing; keep-aspect resize to a multiple of 14) and
    post-processing its ``post_process_depth_estimation`` with ``target_sizes`` = the input size (bicubic).
    """

    predicts_focal = False

    def __init__(self, root: Path, device: str) -> None:
        from transformers import AutoImageProcessor, DepthAnythingForDepthEstimation

        self.root = root
        self.device = device
        self.model = _load_model(DepthAnythingForDepthEstimation, root, device)
        try:
            self.processor = AutoImageProcessor.from_pretrained(str(root), local_files_only=True)
        except Exception as exc:
            raise BackendUnavailable(
                f"could not load the image processor of {root}: {type(exc).__name__}: {exc}", fix=CHECKPOINT_FIX
            ) from exc

    def __call__(
        self, frames: list[NDArray[np.uint8]], focal_px: NDArray[np.float64] | None, cancel: threading.Event
    ) -> MonoDepth:
        import torch

        h, w = frames[0].shape[:2]
        depth = np.empty((len(frames), h, w), np.float32)
        with torch.inference_mode():
            for i, frame in enumerate(frames):
                if cancel.is_set():
                    raise cancelled()
                pixels = self.processor(images=frame, return_tensors="pt")["pixel_values"].to(self.device)
                out = self.model(pixel_values=pixels)
                d = self.processor.post_process_depth_estimation(out, target_sizes=[(h, w)])[0]["predicted_depth"]
                depth[i] = d.float().cpu().numpy()
        return MonoDepth(
            depth=depth,
            model=f"DepthAnythingForDepthEstimation metric, max_depth {self.model.config.max_depth} m "
            f"({self.root.name})",
            notes=[
                f"pre/post-processing: transformers {type(self.processor).__name__} (bicubic resize of the depth)",
                "Depth Anything V2 metric depth does not depend on the camera: the intrinsics only place the points",
            ],
        )


def load_predictor(root: Path, device: str) -> Callable[..., MonoDepth]:
    """The predictor for the checkpoint in ``root`` (checked with :func:`checkpoint_problem` first).

    Raises:
        BackendUnavailable: not a supported metric checkpoint, or it does not load completely.
    """
    problem = checkpoint_problem(root)
    if problem is not None:
        raise BackendUnavailable(problem, fix=CHECKPOINT_FIX)
    if read_config(root)["model_type"] == "depth_pro":
        return DepthProPredictor(root, device)
    return DepthAnythingMetricPredictor(root, device)


def check_fov(value: Any) -> float:
    """A horizontal field of view in degrees, finite and in (1, 179); raises ValueError otherwise."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"must be a number of degrees, got {value!r}")
    if not 1.0 < float(value) < 179.0:
        raise ValueError(f"must be in (1, 179) degrees, got {value!r}")
    return float(value)
