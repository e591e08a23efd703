"""spatial_runtime: the Python runtime loaded into every SpatialClaw agent kernel.

Conventions used throughout (see docs/conventions.md):

* intrinsics ``K``: (3, 3) float64 pinhole matrix ``[[fx, 0, cx], [0, fy, cy], [0, 0, 1]]`` in pixels;
* extrinsics: camera-to-world (4, 4) float64 matrices in OpenCV camera axes
  (x right, y down, z forward), translations in metres;
* depth: (H, W) float32 metric depth in metres along the camera z axis, 0 or NaN = invalid;
* point map: (H, W, 3) float32 points, one per pixel, in metres;
* frame index: the absolute index of a frame in its source video or sequence.
"""

from spatial_runtime.geometry import backproject_depth, pose_from_tum, project_points, transform_points
from spatial_runtime.rgbd import RGBDSample, load_rgbd_sample

__version__ = "0.1.0"

__all__ = [
    "RGBDSample",
    "backproject_depth",
    "load_rgbd_sample",
    "pose_from_tum",
    "project_points",
    "transform_points",
]
