"""The ``mono`` backend: reconstruction of plain RGB video (no depth sensor) on CPU or GPU, from metric monocular
depth predicted by a transformers model and the rgbd backend's RGB-D odometry run on that depth.

Models (transformers 5.18.0, loaded from a local directory; nothing is downloaded: ``HF_HUB_OFFLINE=1`` is set
when this package is imported and every load passes ``local_files_only=True``):
    ``DepthProForDepthEstimation`` (Depth Pro, Bochkovskii et al., ICLR 2025; ``apple/DepthPro-hf``): metric
        depth at any focal length, and the horizontal field of view from its FoV head (``use_fov_model``).
        Its depth needs the focal length f: depth = f / (W * canonical inverse depth)
        (``DepthProImageProcessor.post_process_depth_estimation`` with ``target_sizes``).
    ``DepthAnythingForDepthEstimation`` with ``config.depth_estimation_type == "metric"`` (Depth Anything V2
        metric, Yang et al., NeurIPS 2024; ``depth-anything/Depth-Anything-V2-Metric-{Indoor,Outdoor}-
        {Small,Base,Large}-hf``): metric depth (``sigmoid * max_depth``, 20 m indoor / 80 m outdoor) that does not
        depend on the camera, and no camera estimate.
    A relative-depth Depth Anything checkpoint (``depth_estimation_type`` ``"relative"``, the default of
    ``depth-anything/Depth-Anything-V2-*-hf``) or any other model type is refused (``available: false`` with the
    reason, and 503 ``unsupported`` on reconstruct) naming the metric checkpoints to use instead.

Checkpoint (``checkpoint=`` / ``--mono-checkpoint DIR`` / env ``SPATIAL_PERCEPTION_MONO_CHECKPOINT``): a local copy
of one of those repositories with ``config.json``, ``model.safetensors`` and ``preprocessor_config.json``.
Device: ``"cuda"`` when torch sees a GPU, else ``"cpu"`` (the default on machines without one).

Camera (intrinsics K, the first that applies; ``info.intrinsics_source`` names it):
    ``"request"``: the request's intrinsics ((3, 3) or (N, 3, 3), pixels); Depth Pro's depth is scaled with their
        fx.
    ``"params.fov_deg"``: fx = fy = 0.5 W / tan(fov_deg / 2), principal point ((W - 1) / 2, (H - 1) / 2).
    ``"model"`` (Depth Pro with its FoV head): the same formula with the model's per-frame FoV estimates, their
        median used for every frame (one camera per request); the per-frame values are in
        ``info.predicted_fov_deg``.
    ``"assumed"``: a horizontal FoV of :data:`~spatial_perception.backends.mono.backend.DEFAULT_FOV_DEG` (60 deg)
        is assumed, and ``info.warnings`` says so (pass intrinsics or ``params.fov_deg`` to avoid it).
    ``info.fov_deg`` is the horizontal FoV of the K used (median fx).

Reconstruction: the predicted depth (N, H, W) float32 metres and K are handed, with the request's poses if any,
to :class:`spatial_perception.backends.rgbd.RGBDBackend` (the same code, not a copy): without poses it estimates
camera-to-world poses by frame-to-frame RGB-D odometry (SIFT + PnP RANSAC refined by point-to-plane ICP, every
estimate checked for depth consistency; frame 0 is the world before gravity alignment), lifts the depth into
world point maps and applies gravity alignment (``align_gravity``, default true). So the answer has exactly the
rgbd backend's arrays and conventions (docs/perception-api.md, "Reconstruction semantics"): ``depth`` (N, H, W)
float32 metres (0 invalid), ``confidence`` (N, H, W) float32 in [0, 1] (the rgbd geometric model: range and depth
edges; the models give no per-pixel uncertainty), ``points`` (N, H, W, 3) float32 world metres (NaN invalid),
``extrinsics`` (N, 4, 4) float64 camera-to-world in OpenCV axes (x right, y down, z forward), ``intrinsics``
(N, 3, 3) float64 pixels, ``colors``, ``frame_indices``. The scale of poses and points is the predicted depth's:
a model whose depth is 10 % too large gives a path 10 % too long.

Params (optional; the server-owned ``align_gravity``, ``max_frames``, ``timeout_s``, ``conf_threshold`` are
accepted): the rgbd backend's ``odometry``, ``features``, ``max_depth`` (default 10 m; raise it outdoors),
``min_inliers``, ``icp_iterations`` (:mod:`spatial_perception.backends.rgbd`), and
    ``fov_deg`` (float degrees in (1, 179), default none): the camera's horizontal field of view, used when the
        request has no intrinsics (it takes precedence over the model's own estimate).
Request ``depth`` is refused (``bad_request``: use the rgbd backend for RGB-D input).

Errors: :class:`~spatial_perception.errors.BackendUnavailable` (torch/transformers or checkpoint missing, a
relative-depth or unsupported checkpoint, incomplete weights); :class:`~spatial_perception.errors.BadRequest`
(frames, intrinsics, poses, params, request depth, a frame with no predicted depth within ``max_depth``, odometry
that registered no frame); :class:`~spatial_perception.errors.Cancelled` (checked between frames).

Modules: :mod:`.model` (checkpoint checks, loading, the two predictors) and :mod:`.backend` (the camera decision
and the reconstruction). The depth-prediction seam is ``MonoBackend(predictor=...)``
(:class:`~spatial_perception.backends.mono.model.DepthPredictor`).
"""

from spatial_perception.backends.mono.backend import DEFAULT_FOV_DEG, MonoBackend
from spatial_perception.backends.mono.model import (
    ENV_CHECKPOINT,
    DepthAnythingMetricPredictor,
    DepthPredictor,
    DepthProPredictor,
    MonoDepth,
    checkpoint_problem,
    focal_from_fov,
    fov_from_focal,
    load_predictor,
)

__all__ = [
    "DEFAULT_FOV_DEG",
    "ENV_CHECKPOINT",
    "DepthAnythingMetricPredictor",
    "DepthPredictor",
    "DepthProPredictor",
    "MonoBackend",
    "MonoDepth",
    "checkpoint_problem",
    "focal_from_fov",
    "fov_from_focal",
    "load_predictor",
]
