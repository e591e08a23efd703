"""How input frames are brought to their bound size: :class:`Sizing` (PrepareConfig ``max_long_edge`` + ``resize``).

Two rules (docs/paper-parity.md, row 1):

* ``long_edge`` (default): frames whose long edge exceeds ``max_long_edge`` are shrunk to it, keeping the
  aspect ratio and the whole field of view; smaller frames are left as they are; nothing is cropped.
* ``paper_grid`` (profile ``paper``): each frame is first centre-cropped to the nearest of six aspect grids,
  then resized to that grid with the long edge at most ``max_long_edge``, small frames enlarged:

  1. the grid is the (W, H) of :data:`PAPER_SHAPES` whose W/H is closest to the frame's w/h (ties: the larger
     area), reduced by its gcd to (k, m): 1:1, 4:3, 3:2, 9:5, 2:3 or 16:9;
  2. the crop keeps the centre: a wider frame keeps ``round(h * W / H)`` columns from ``(w - new_w) // 2``, a
     taller one ``round(w * H / W)`` rows from ``(h - new_h) // 2`` (Python ``round``, half to even; at least 1;
     no crop when ``|w/h - W/H| < 1e-6``);
  3. the bound size is ``(k * s, m * s)`` with ``s = max(1, max_long_edge // max(k, m))``.

  E.g. with 768: 960x540 -> 768x432 (no crop); 1296x968 -> 1291x968 from x = 2 -> 768x576; 480x640 -> 427x640
  from x = 26 -> 512x768; 640x480 -> 768x576 (enlarged).

Colour frames are resized with Pillow's Lanczos filter (as the paper's pipeline does), depth with nearest
neighbour (OpenCV ``INTER_NEAREST_EXACT``). Intrinsics follow the pixel-centre convention of
docs/conventions.md: a crop from (x0, y0) shifts ``cx -= x0``, ``cy -= y0``; a resize by ``sx = W'/w``
(likewise ``sy``) maps ``fx' = fx * sx``, ``cx' = (cx + 0.5) * sx - 0.5``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray
from PIL import Image

from spatial_runtime.inputs.common import RESAMPLE, InputError, fit_size

__all__ = ["MODES", "PAPER_SHAPES", "Sizing", "paper_crop", "paper_grid_size"]

MODES = ("long_edge", "paper_grid")
"""The resize rules (PrepareConfig ``resize``)."""

PAPER_SHAPES: tuple[tuple[int, int], ...] = (
    (504, 504),
    (504, 378),
    (504, 336),
    (504, 280),
    (336, 504),
    (896, 504),
    (756, 504),
    (672, 504),
)
"""(W, H) shapes whose aspect ratios are the paper's grids (the depth model's input shapes)."""

Box = tuple[int, int, int, int]
"""A crop as (x0, y0, width, height) in source pixels."""


def _nearest_shape(w: int, h: int) -> tuple[int, int]:
    aspect = w / h
    return min(PAPER_SHAPES, key=lambda s: (abs(s[0] / s[1] - aspect), -s[0] * s[1]))


def paper_crop(size: tuple[int, int]) -> Box:
    """The centre crop (x0, y0, width, height) of a (w, h) frame under ``paper_grid`` (the whole frame if none)."""
    w, h = size
    sw, sh = _nearest_shape(w, h)
    target = sw / sh
    if abs(w / h - target) < 1e-6:
        return 0, 0, w, h
    if w / h > target:
        new_w = max(1, round(h * target))
        return (w - new_w) // 2, 0, new_w, h
    new_h = max(1, round(w / target))
    return 0, (h - new_h) // 2, w, new_h


def paper_grid_size(size: tuple[int, int], max_long_edge: int) -> tuple[int, int]:
    """The bound (W, H) of a (w, h) frame under ``paper_grid`` with ``max_long_edge``."""
    sw, sh = _nearest_shape(*size)
    g = math.gcd(sw, sh)
    k, m = sw // g, sh // g
    s = max(1, max_long_edge // max(k, m))
    return k * s, m * s


@dataclass(frozen=True)
class Sizing:
    """The resize rule of a session: ``max_long_edge`` (None: native size) and ``mode`` (:data:`MODES`).

    Raises:
        InputError: an unknown mode, or ``paper_grid`` without ``max_long_edge``.
    """

    max_long_edge: int | None = None
    mode: str = "long_edge"

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise InputError(f"resize must be one of {', '.join(MODES)}, got {self.mode!r}")
        if self.mode == "paper_grid" and self.max_long_edge is None:
            raise InputError("resize 'paper_grid' needs max_long_edge (e.g. 768), the long edge of the grid sizes")

    @property
    def grid(self) -> bool:
        """Whether frames are cropped to the paper's aspect grids."""
        return self.mode == "paper_grid"

    def crop(self, size: tuple[int, int]) -> Box:
        """The part (x0, y0, width, height) of a (w, h) source frame that is kept (the whole frame unless grid)."""
        return paper_crop(size) if self.grid else (0, 0, size[0], size[1])

    def cropped(self, size: tuple[int, int]) -> Box | None:
        """The crop of a (w, h) source frame, or None when the whole frame is kept."""
        box = self.crop(size)
        return None if box == (0, 0, size[0], size[1]) else box

    def bound_size(self, size: tuple[int, int]) -> tuple[int, int]:
        """(W, H) of a (w, h) source frame as bound."""
        if self.grid:
            assert self.max_long_edge is not None
            return paper_grid_size(size, self.max_long_edge)
        return fit_size(size, self.max_long_edge)

    def apply(self, img: Image.Image) -> Image.Image:
        """``img`` cropped and resized (Lanczos) to its bound size; ``img`` itself when nothing changes."""
        x0, y0, cw, ch = self.crop(img.size)
        target = self.bound_size(img.size)
        if (cw, ch) != img.size:
            img = img.crop((x0, y0, x0 + cw, y0 + ch))
        return img if img.size == target else img.resize(target, RESAMPLE)

    def apply_depth(self, depth: NDArray[np.float32]) -> NDArray[np.float32]:
        """An (h, w) depth map cropped like its colour frame and resized with nearest neighbour."""
        h, w = depth.shape[:2]
        x0, y0, cw, ch = self.crop((w, h))
        depth = depth[y0 : y0 + ch, x0 : x0 + cw]
        bw, bh = self.bound_size((w, h))
        if (bw, bh) != (cw, ch):  # nearest neighbour: never blend depths across object boundaries
            depth = cv2.resize(depth, (bw, bh), interpolation=cv2.INTER_NEAREST_EXACT)
        return np.ascontiguousarray(depth, dtype=np.float32)

    def intrinsics(self, intr: Mapping[str, float], size: tuple[int, int]) -> dict[str, float]:
        """``{"fx", "fy", "cx", "cy"}`` of frames bound from (w, h) source frames with intrinsics ``intr``."""
        # Pixel coordinates have their origin at the centre of the top-left pixel (docs/conventions.md), so a
        # resize by s maps u to (u + 0.5) * s - 0.5: the image edges (-0.5 and W - 0.5) stay on the edges.
        x0, y0, cw, ch = self.crop(size)
        bw, bh = self.bound_size(size)
        sx, sy = bw / cw, bh / ch
        return {
            "fx": intr["fx"] * sx,
            "fy": intr["fy"] * sy,
            "cx": (intr["cx"] - x0 + 0.5) * sx - 0.5,
            "cy": (intr["cy"] - y0 + 0.5) * sy - 0.5,
        }
