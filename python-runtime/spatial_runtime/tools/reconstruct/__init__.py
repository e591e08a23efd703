"""``tools.Reconstruct``: metric 3-D reconstruction of input frames on the perception server.

``tools.Reconstruct.Reconstruct(frames)`` sends the frames (PNG), and for RGB-D inputs their depth,
intrinsics and poses, to the session's perception server (docs/perception-api.md, ``POST /v1/reconstruct``)
and returns a :class:`Reconstruction`: per-frame depth, confidence, world point maps, colours and cameras,
all keyed by the ABSOLUTE frame index::

    rec = tools.Reconstruct.Reconstruct(InputImages[::4])
    rec.frame_indices                   # [0, 4, 8, ...]
    rec.points[4]                       # (H, W, 3) float32 world points of frame 4, metres, NaN = invalid
    rec.extrinsics[4]                   # (4, 4) camera-to-world, OpenCV camera axes
    rec.points_in_mask(4, mask)         # (M, 3) world points under an (H, W) bool mask

Backends (``backend=``): ``"rgbd"`` (RGB-D odometry: the given metric depth, lifted with the intrinsics, and
the given poses or poses estimated by frame-to-frame RGB-D odometry) and ``"da3"`` (Depth Anything 3:
monocular/multi-view metric depth and cameras estimated from colour alone). Default: the session's configured
reconstruct backend, else ``"rgbd"`` when the frames carry depth and ``"da3"`` otherwise.

World frame (``align_gravity=True``, the default): gravity-aligned, +Y up, the floor at Y = 0 (from a RANSAC
floor plane; fallback: camera 0's down vector), the first camera looking toward -Z; metres. ``rec.alignment``
says how it was found. With ``align_gravity=False`` the world frame is the input poses' frame (or camera 0's).
Camera axes are OpenCV (x right, y down, z forward); intrinsics are pixels of the frames as sent (the
``InputImages`` resolution); pixels (u, v) = (column, row) from the top-left pixel centre (docs/conventions.md).

The result types live in :mod:`.result`, the call and its request in :mod:`.request`. The paper profile's extras
(``render_bev``, ``metric_scale``, gravity from a segmented floor; docs/paper-parity.md row 16) are in
:mod:`.paper`, :mod:`.bev` and :mod:`.gravity`.
"""

from spatial_runtime.perception import PerceptionError, PerceptionUnavailable, ToolError
from spatial_runtime.tools._common import FrameIndexError
from spatial_runtime.tools.reconstruct.request import COMPACT_RETURN as COMPACT_RETURN
from spatial_runtime.tools.reconstruct.request import MAX_FRAMES, Reconstruct
from spatial_runtime.tools.reconstruct.request import lift_points as lift_points
from spatial_runtime.tools.reconstruct.result import PerFrame, Reconstruction

__all__ = [
    "MAX_FRAMES",
    "FrameIndexError",
    "PerFrame",
    "PerceptionError",
    "PerceptionUnavailable",
    "Reconstruct",
    "Reconstruction",
    "ToolError",
]
