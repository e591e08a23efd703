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

Assumed package API (from the project's public README and ``api.py``; kept in :func:`.model.run_model` and
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

Modules: :mod:`.backend` (availability, checkpoint, the backend), :mod:`.model` (the package call),
:mod:`.postprocess` (to the input resolution and the API's conventions) and :mod:`.params` (request checks).
"""

from spatial_perception.backends.da3.backend import ENV_CHECKPOINT, DA3Backend, find_cached_checkpoint
from spatial_perception.backends.da3.model import RawPrediction, raw_from_prediction
from spatial_perception.backends.da3.params import parse_params
from spatial_perception.backends.da3.postprocess import (
    depth_scale,
    postprocess,
    rank_confidence,
    resize_depth,
    scale_intrinsics,
    world_to_camera_to_pose,
)

__all__ = [
    "ENV_CHECKPOINT",
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
