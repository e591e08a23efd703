"""spatial_runtime: the Python runtime loaded into every SpatialClaw agent kernel.

Conventions used throughout (see docs/conventions.md):

* intrinsics ``K``: (3, 3) float64 pinhole matrix ``[[fx, 0, cx], [0, fy, cy], [0, 0, 1]]`` in pixels;
* extrinsics: camera-to-world (4, 4) float64 matrices in OpenCV camera axes
  (x right, y down, z forward), translations in metres;
* depth: (H, W) float32 metric depth in metres along the camera z axis, 0 or NaN = invalid;
* point map: (H, W, 3) float32 points, one per pixel, in metres;
* frame index: the absolute index of a frame in its source video or sequence.

Submodules load on first use (PEP 562), so ``python -m spatial_runtime.safety`` starts without
importing OpenCV or SciPy.
"""

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "backproject_depth": "spatial_runtime.geometry",
    "pose_from_tum": "spatial_runtime.geometry",
    "project_points": "spatial_runtime.geometry",
    "transform_points": "spatial_runtime.geometry",
    "RGBDSample": "spatial_runtime.rgbd",
    "load_rgbd_sample": "spatial_runtime.rgbd",
    "InputImages": "spatial_runtime.inputs",
    "Metadata": "spatial_runtime.inputs",
    "InputError": "spatial_runtime.inputs",
    "load_inputs": "spatial_runtime.inputs",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'spatial_runtime' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
