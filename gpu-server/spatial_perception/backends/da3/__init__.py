"""The ``da3`` backend: multi-view reconstruction with Depth Anything 3 through its official Python package.

Depth Anything 3 ("Depth Anything 3: Recovering the Visual Space from Any Views", Lin et al., ByteDance Seed,
2025) predicts, from one or more RGB images, a depth map, a depth confidence, the camera intrinsics and the
camera extrinsics of every view (any-view models, e.g. ``DA3-LARGE``, ``DA3-GIANT``; ``DA3NESTED-GIANT-LARGE``
adds metric scale). This module adapts its output to the perception API (docs/perception-api.md,
"Reconstruction semantics").

The official package (import name ``depth_anything_3``) is not on PyPI nor on this project's package index;
install it from its repository (``pip install -e .`` in a checkout of ByteDance-Seed/Depth-Anything-3). It runs on
a CUDA GPU (fast) or on the CPU (slow; see :mod:`.backend`, "Device"). It is imported lazily;
:meth:`DA3Backend.available` reports its absence, with the other ways to reconstruct frames without depth
(:mod:`spatial_common.reconstruct_options`).

Package API, verified against ByteDance-Seed/Depth-Anything-3 at commit
2c21ea849ceec7b469a3e62ea0c0e270afc3281a (2025-12-12) by running this adapter end to end on CPU with randomly
initialised ``da3-small``, a nested (``NestedDepthAnything3Net``) and a metric (``da3metric``-type) model on
frames of test/fixtures/video_bedroom (test/python/test_da3_real_package.py); the calls are kept in
:func:`.model.run_model` and :func:`raw_from_prediction`:
    ``from depth_anything_3.api import DepthAnything3`` (an ``nn.Module`` and ``huggingface_hub``
    ``PyTorchModelHubMixin``); ``DepthAnything3.from_pretrained(local_dir, local_files_only=True)`` reads
    ``config.json`` (``{"model_name": "da3-large"}``: the stem of one of the package's ``configs/*.yaml``, which
    fixes the architecture) and ``model.safetensors``; ``model.to(device)``; ``model.model_name``.
    ``model.inference(image, extrinsics=None, intrinsics=None, ..., process_res=504,
    process_res_method="upper_bound_resize", export_dir=None, ...)`` with ``image`` a list of (H, W, 3) uint8 RGB
    arrays. ``"upper_bound_resize"`` scales the image so that its long side is ``process_res`` (OpenCV
    ``INTER_AREA`` down, ``INTER_CUBIC`` up), then resizes each side to the nearest multiple of 14 (no crop), so
    each input pixel maps to the processing image (h, w) by a per-axis scale. ``extrinsics`` (N, 4, 4)
    world-to-camera and ``intrinsics`` (N, 3, 3) in input pixels make the run pose-conditioned; the package needs
    both (it reads the intrinsics whenever extrinsics are given) and only checkpoints with camera heads accept
    them (``da3metric-*``/``da3mono-*`` fail with ``TypeError``). It returns ``depth_anything_3.specs.Prediction``:
    ``depth`` (N, h, w) float32 (any-view: relative units; nested: metres), ``conf`` (N, h, w) float32 (larger =
    more reliable, unbounded; None for metric/mono checkpoints), ``intrinsics`` (N, 3, 3) float32 in processing
    pixels (predicted principal point (w/2, h/2); DA3 unprojects pixel (u, v) at integer coordinates, so the
    pixel-centre convention applies) or None, ``extrinsics`` (N, 3, 4) float32 world-to-camera in OpenCV axes
    (x right, y down, z forward) or None, ``is_metric`` (int 1 for nested checkpoints, else an empty
    ``addict.Dict``, which is falsy), ``sky`` (N, h, w) bool for metric/mono checkpoints (nested ones fill sky
    with a far depth instead and return None), ``scale_factor`` (nested) and ``processed_images``. The view
    order of the output is the input order (the reference-view reordering is undone inside the model).
    Pose-conditioned runs return the given world-to-camera matrices as ``extrinsics`` (3x4), the given
    intrinsics scaled by plain multiplication to (h, w) as ``intrinsics``, and depth divided by the Umeyama
    scale between the predicted and the given poses (so depth is in the given poses' units).
    ``DA3METRIC-*`` outputs need ``metric = focal * output / 300`` (focal in pixels at the processing resolution,
    the mean of fx and fy; the package's ``apply_metric_scaling`` and README); they predict no cameras, so they
    need request intrinsics and, for more than one frame, poses.

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

from spatial_perception.backends.da3.backend import ENV_CHECKPOINT, ENV_DEVICE, DA3Backend, find_cached_checkpoint
from spatial_perception.backends.da3.model import RawPrediction, has_camera_heads, raw_from_prediction
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
    "ENV_DEVICE",
    "DA3Backend",
    "RawPrediction",
    "depth_scale",
    "find_cached_checkpoint",
    "has_camera_heads",
    "parse_params",
    "postprocess",
    "rank_confidence",
    "raw_from_prediction",
    "resize_depth",
    "scale_intrinsics",
    "world_to_camera_to_pose",
]
