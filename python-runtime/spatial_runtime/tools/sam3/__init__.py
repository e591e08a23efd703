"""``tools.SAM3``: promptable segmentation of images and videos on the perception server.

Prompts are a text phrase (open-vocabulary: every instance of the concept), foreground/background points,
or a box. Image calls segment one frame; video calls segment a prompt frame and propagate the objects to
the other frames. All return a :class:`PerFrameMask` whose masks are at the frames' resolution and keyed by
ABSOLUTE frame index, ready to be lifted to 3-D with a ``tools.Reconstruct`` reconstruction::

    m = tools.SAM3.segment_image_by_text(InputImages[0], "chair")
    m.labels, m.scores                       # one entry per instance found
    show(m.visualize(InputImages[0].frame_index))
    rec = tools.Reconstruct.Reconstruct(InputImages)
    m.get_centroid_3d(rec, InputImages[0].frame_index, 0)   # (3,) world metres

Backends (``backend=``): ``"sam3"`` (SAM 3, Segment Anything with concepts: text, points and boxes),
``"classical"`` (a CPU fallback from colour/depth cues: points and boxes only, no text) and ``"oracle"``
(ground-truth masks of benchmark samples). Default: the session's configured segment backend, else
``"sam3"``. A prompt type a backend does not support is answered with an ``unsupported`` :class:`ToolError`
that names the backends that do.

Pixel coordinates (docs/conventions.md): points are (u, v) = (column, row) with the origin at the centre of the
top-left pixel, so a point must lie in ``-0.5 <= u < W - 0.5``, ``-0.5 <= v < H - 0.5``; boxes are
``[x1, y1, x2, y2]`` pixel bounds with ``x2 > x1`` and ``y2 > y1`` (``tools.Mask.bbox`` gives such boxes).
``vlm.locate`` answers in 0-1000: convert with ``vlm.to_pixels(points, image)`` first.

The calls live in :mod:`.segment` (requests in :mod:`.requests`, prompt checks in :mod:`.prompts`), the result
type in :mod:`.masks` (the paper profile's in :mod:`.paper_masks`).
"""

from spatial_runtime.perception import PerceptionError, PerceptionUnavailable, ToolError
from spatial_runtime.tools._common import FrameIndexError
from spatial_runtime.tools.sam3.masks import COLORS as COLORS
from spatial_runtime.tools.sam3.masks import PerFrameMask
from spatial_runtime.tools.sam3.paper_masks import PaperPerFrameMask as PaperPerFrameMask
from spatial_runtime.tools.sam3.prompts import DEFAULT_BACKEND as DEFAULT_BACKEND
from spatial_runtime.tools.sam3.segment import (
    segment_image_by_box,
    segment_image_by_points,
    segment_image_by_text,
    segment_video_by_box,
    segment_video_by_points,
    segment_video_by_text,
)

__all__ = [
    "FrameIndexError",
    "PerFrameMask",
    "PerceptionError",
    "PerceptionUnavailable",
    "ToolError",
    "segment_image_by_box",
    "segment_image_by_points",
    "segment_image_by_text",
    "segment_video_by_box",
    "segment_video_by_points",
    "segment_video_by_text",
]
