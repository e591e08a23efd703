"""Utilities for the agent, bound in the kernel as ``tools`` (docs/kernel-protocol.md, "Life of a kernel").

Namespaces (each a module, reached as ``tools.<Name>.function(...)`` or ``from tools import <Name>``):

* ``tools.Geometry``: distances, angles, boxes and planes of 3-D points, projection into images
  (:mod:`spatial_runtime.tools.geometry`).
* ``tools.Mask``: area, box, centroid, IoU, morphology and depth statistics of (H, W) bool masks
  (:mod:`spatial_runtime.tools.mask`).
* ``tools.Time``: frame indices, timestamps and event order in videos (:mod:`spatial_runtime.tools.timeline`).
* ``tools.Graph``: scene graphs of objects with viewpoint relations and route planning
  (:mod:`spatial_runtime.tools.graph`).
* ``tools.Draw``: points, boxes, masks, text and side-by-side panels drawn onto images, returned as PIL
  images ready for ``show(...)`` (:mod:`spatial_runtime.tools.draw`).
* ``tools.Reconstruct``: ``Reconstruct(frames)`` -> metric depth, world point maps and cameras per frame, from
  the perception server (RGB-D odometry or Depth Anything 3) (:mod:`spatial_runtime.tools.reconstruct`).
* ``tools.SAM3``: ``segment_image_by_text/points/box`` and ``segment_video_by_text/points/box`` -> per-frame
  instance masks from the perception server (SAM 3), liftable to 3-D (:mod:`spatial_runtime.tools.sam3`). When
  the session's profile asks for the paper's SAM3 calls (``sam3_video: 'source'``), ``tools.SAM3`` is
  :mod:`spatial_runtime.tools.sam3.paper` instead (video calls on the source video; docs/paper-parity.md row 14).

Conventions are those of docs/conventions.md: metres, (3, 3) pixel intrinsics ``K``, (4, 4)
camera-to-world poses in OpenCV camera axes (x right, y down, z forward), pixels (u, v) = (column, row)
with the origin at the centre of the top-left pixel, (H, W) bool masks, absolute frame indices.

The host registers this package as ``sys.modules["tools"]``, so ``import tools`` works in the kernel.
What the perception tools share (frame collection, result lookup by frame index, artifact records) is in
:mod:`spatial_runtime.tools._common`; no tool imports another tool's private names.
"""

from typing import Any

# The namespaces are capitalised in the agent-facing API (tools.Geometry, ...). Reconstruct and SAM3 call the
# session's perception server (docs/perception-api.md, "Kernel side").
from spatial_runtime.tools import draw as Draw
from spatial_runtime.tools import geometry as Geometry
from spatial_runtime.tools import graph as Graph
from spatial_runtime.tools import mask as Mask
from spatial_runtime.tools import reconstruct as Reconstruct
from spatial_runtime.tools import sam3 as _sam3
from spatial_runtime.tools import timeline as Time

__all__ = ["Draw", "Geometry", "Graph", "Mask", "Reconstruct", "SAM3", "Time"]


def __getattr__(name: str) -> Any:
    """``tools.SAM3``, looked up on every access: the paper's SAM3 namespace when the session's profile asks for
    it (:func:`spatial_runtime.tools.sam3.paper.profile_active`), else the default one."""
    if name == "SAM3":
        from spatial_runtime.tools.sam3 import paper

        return paper if paper.profile_active() else _sam3
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), "SAM3"})
