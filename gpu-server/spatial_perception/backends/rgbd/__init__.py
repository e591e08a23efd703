"""The ``rgbd`` backend: reconstruction from RGB frames with metric depth (e.g. Kinect, RealSense, iPhone LiDAR).

The depth is trusted as given (no learned model): every valid depth pixel is lifted with the pinhole
intrinsics and moved into the world with the camera-to-world pose of its frame. When the request has no
poses, the camera path is estimated by frame-to-frame RGB-D odometry (see :func:`register_pair`).

Request (``spatial_perception.backends.base.ReconstructRequest``):
    frames: N images (H, W, 3) uint8 RGB, all the same size.
    frame_indices: N absolute frame indices.
    depth: (N, H, W) float metres, required; 0, negative or NaN = invalid.
    intrinsics: (3, 3) or (N, 3, 3) pinhole matrices in pixels, required.
    poses: (N, 4, 4) camera-to-world (OpenCV camera axes, metres), optional.

Params (all optional; the server-owned keys ``align_gravity``, ``max_frames``, ``timeout_s`` and
``conf_threshold`` are accepted, and two of them are applied here: ``align_gravity`` (bool, default true: see
:mod:`spatial_perception.backends.alignment`) and ``conf_threshold`` (number, optional: points whose confidence
is below it become NaN, before the alignment; ``confidence`` and ``depth`` are kept). Anything else is a
``bad_request``):
    ``odometry`` (str, default ``"auto"``): how poses are estimated when none are given:
        ``"auto"``: sparse features (``features``) lifted with depth and solved with PnP inside RANSAC,
        refined by point-to-plane ICP; frames whose features fail are tried with ICP alone.
        ``"features"``: the feature/PnP estimate only.
        ``"icp"``: point-to-plane ICP only, started from the previous frame-to-frame motion and from
        identity (for small baselines, e.g. consecutive video frames).
        ``"opencv"``: OpenCV's dense RGB-D odometry (``cv2.Odometry``, ``OdometryType_RGB_DEPTH``). It
        assumes small motion and silently fails on baselines of decimetres (see the tests).
        Ignored when ``poses`` are given.
    ``features`` (str, default ``"sift"``): ``"sift"`` (Lowe 2004) or ``"orb"`` (Rublee et al. 2011).
    ``max_depth`` (float metres, default 10.0, in (0, 1000]): depth beyond it is treated as invalid
        (confidence 0, point NaN; the returned ``depth`` keeps the value).
    ``min_inliers`` (int >= 6, default 15): PnP RANSAC inliers needed to accept a feature estimate.
    ``icp_iterations`` (int in [1, 200], default 30): maximum point-to-plane ICP iterations per frame.

Result: see :class:`spatial_perception.backends.base.Reconstruction` and docs/perception-api.md,
"Reconstruction semantics". Confidence (float32, [0, 1]):
    0 where the depth is invalid or beyond ``max_depth``; otherwise the product of
    a range factor ``min(1, (4 m / z)^2)`` (the Kinect v1 random depth error grows quadratically with
    range, Khoshelham & Elberink 2012, so the weight falls as z^-2 beyond 4 m: 0.25 at 8 m) and
    an edge factor 0.3 where the depth jumps by more than 5 % of z within the 3x3 neighbourhood
    (depth discontinuities, where "flying pixels" between foreground and background occur), else 1.

Failure policy of the odometry: every candidate pose must pass a depth-consistency check
(:func:`projective_check`: the frame's points, moved into the reference camera, must land on valid
reference depth and agree with it). A frame for which no candidate passes keeps the pose of its
reference frame (zero motion, the best estimate we have), is marked ``"registered": false`` in
``info["odometry"]["frames"]``, gets a line in ``info["warnings"]``, and the next frames are registered
against the last registered frame. When no frame after the first can be registered, the request fails
with ``bad_request`` (pass poses, or use frames that overlap more).

Modules: :mod:`.backend` (params, input checks, lifting, confidence) and :mod:`.odometry` (pose estimation when
the request has no poses).
"""

from spatial_perception.backends.rgbd.backend import DEFAULT_PARAMS, RGBDBackend, depth_confidence, parse_params
from spatial_perception.backends.rgbd.odometry import estimate_poses, register_pair

__all__ = ["DEFAULT_PARAMS", "RGBDBackend", "depth_confidence", "estimate_poses", "parse_params", "register_pair"]
