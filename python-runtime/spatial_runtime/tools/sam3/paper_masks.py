"""The paper profile's :class:`PerFrameMask` (``profile.centroid_3d`` = ``"median_confident"``; docs/paper-parity.md
row 15).

When the session's profile asks for it, every ``PerFrameMask(...)`` the tools build is a :class:`PaperPerFrameMask`
(``PerFrameMask.__new__`` picks it), so results behave as the paper describes them:

* ``get_centroid_3d(recon, frame, object=0, conf_threshold=0.3)``: the per-axis MEDIAN of the object's world points
  in ``frame`` whose reconstruction confidence is above ``conf_threshold`` (all its points when none is), after
  dropping invalid (non-finite) points; ``[nan, nan, nan]`` with a printed warning when no point is left;
* ``object`` defaults to 0 in ``get_mask``, ``get_masked_points``, ``get_centroid_3d`` and ``get_bbox_3d``;
  ``get_masked_points`` has no confidence filter;
* ``seg[frame]`` gives the (N, H, W) masks of an absolute frame; ``object_ids`` lists the objects' ids;
  iterating over the result raises (iterate over ``frame_indices``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
from numpy.typing import NDArray

from spatial_runtime.tools import geometry as _geometry
from spatial_runtime.tools.sam3.masks import PROFILE_CLASSES, PerFrameMask

__all__ = ["PaperPerFrameMask"]


class PaperPerFrameMask(PerFrameMask):
    """Instance masks of N objects over T frames keyed by ABSOLUTE frame index (the result of the ``tools.SAM3``
    calls); ``object`` is an int index or a label and defaults to 0; iterating raises (use ``frame_indices``).

    See the module docstring for how it differs from the default profile's. Attributes are those of
    :class:`~spatial_runtime.tools.sam3.masks.PerFrameMask` (``masks`` (T, N, H, W) bool, ``labels``,
    ``frame_indices``, ``scores``, ...) plus ``object_ids``.
    """

    @property
    def object_ids(self) -> list[int]:
        """One id per object: the server's (``info["object_ids"]``) when it sent N of them, else 0..N-1."""
        ids = self.info.get("object_ids")
        if isinstance(ids, list) and len(ids) == self.num_objects:
            return [int(i) for i in ids]
        return list(range(self.num_objects))

    def __getitem__(self, frame: int) -> NDArray[np.bool_]:
        """(N, H, W) bool masks (read-only) of every object in ``frame`` (absolute index)."""
        return self.masks[self.frame_position(frame)]

    def __iter__(self) -> Iterator[Any]:
        raise TypeError("a PerFrameMask cannot be iterated; use: for fi in seg.frame_indices: masks = seg[fi]")

    def get_mask(self, frame: int, object: int | str = 0) -> NDArray[np.bool_]:  # noqa: A002 - API name
        """(H, W) bool mask (read-only) of ``object`` (int index or label, default 0) in ``frame`` (absolute index)."""
        return super().get_mask(frame, object)

    def get_masked_points(self, recon: Any, frame: int, object: int | str = 0) -> NDArray[np.float64]:  # noqa: A002
        """(M, 3) world points (metres) under the mask of ``object`` (default 0) in ``frame``, from a
        ``tools.Reconstruct`` reconstruction of the same frames; no confidence filter; invalid pixels skipped."""
        return super().get_masked_points(recon, frame, object, None)

    def get_centroid_3d(
        self,
        recon: Any,
        frame: int,
        object: int | str = 0,  # noqa: A002 - API name
        conf_threshold: float = 0.3,
    ) -> NDArray[np.float64]:
        """(3,) median world position (metres) of the object's points in ``frame`` with confidence above
        ``conf_threshold`` (all its points when none passes); ``[nan, nan, nan]`` when it has no valid point.

        Args:
            recon: a ``tools.Reconstruct`` reconstruction that holds ``frame`` at the masks' resolution.
            frame: absolute frame index. object: int index or label (default 0).
            conf_threshold: keep points whose reconstruction confidence is above this (default 0.3).

        Returns:
            (3,) float64; NaN in every axis (check with ``np.isnan``) when the mask holds no valid point, with a
            warning printed.

        Raises:
            FrameIndexError: ``frame`` is not in the masks or the reconstruction. ValueError: the masks and the
                reconstruction have different resolutions.
        """
        mask = self.get_mask(frame, object)
        points = np.asarray(recon.points[frame], dtype=np.float64)
        if points.shape[:2] != mask.shape:
            raise ValueError(
                f"the masks are {mask.shape[1]}x{mask.shape[0]} but frame {frame} of the reconstruction is "
                f"{points.shape[1]}x{points.shape[0]}; segment the same frames at the reconstruction's resolution"
            )
        confidence = np.asarray(recon.confidence[frame], dtype=np.float64)[mask]
        pts = points[mask]
        finite = np.isfinite(pts).all(axis=1)
        pts, confidence = pts[finite], confidence[finite]
        if len(pts) == 0:
            label = self.labels[self.object_index(object)]
            print(f"[warning] get_centroid_3d: no 3-D point under the mask of {label!r} in frame {frame}; NaN returned")
            return np.full(3, np.nan)
        confident = confidence > conf_threshold
        if confident.any():
            pts = pts[confident]
        return np.median(pts, axis=0)

    def get_bbox_3d(
        self,
        recon: Any,
        frame: int,
        object: int | str = 0,  # noqa: A002 - API name
        min_confidence: float | None = None,
        percentile: float | None = None,
    ) -> _geometry.AABB:
        """Axis-aligned box ``AABB(min, max, size)`` of the object's (default 0) world points in ``frame`` (metres;
        ``tools.Geometry.aabb``; ``percentile`` e.g. 2 ignores stray points)."""
        return super().get_bbox_3d(recon, frame, object, min_confidence, percentile)


PROFILE_CLASSES["median_confident"] = PaperPerFrameMask
