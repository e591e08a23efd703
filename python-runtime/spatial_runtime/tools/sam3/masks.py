"""The result of the ``tools.SAM3`` calls: :class:`PerFrameMask`, instance masks keyed by ABSOLUTE frame index.

Masks are (T, N, H, W) bool at the frames' resolution; 3-D questions go through a ``tools.Reconstruct``
reconstruction of the same frames (world points in metres). In a session whose profile has ``centroid_3d`` =
``"median_confident"`` (the paper's), ``PerFrameMask(...)`` builds a
:class:`~spatial_runtime.tools.sam3.paper_masks.PaperPerFrameMask` (median centroid of the confident points, NaN on
an empty mask, ``object`` defaulting to 0, ``seg[frame]``, ``object_ids``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from PIL import Image

from spatial_runtime import context
from spatial_runtime.tools import draw as _draw
from spatial_runtime.tools import geometry as _geometry
from spatial_runtime.tools._common import FrameIndexError, fmt_indices, position_of, readonly

__all__ = ["COLORS", "PROFILE_CLASSES", "PerFrameMask"]

COLORS = ("red", "lime", "blue", "yellow", "magenta", "cyan", "orange", "white", "purple", "springgreen")
"""Instance colours of :meth:`PerFrameMask.visualize`, by object index (cycled)."""


PROFILE_CLASSES: dict[str, type[PerFrameMask]] = {}
"""The profile option ``centroid_3d`` -> the subclass ``PerFrameMask(...)`` builds in sessions with that option
(filled by :mod:`.paper_masks`, which ``spatial_runtime.tools.sam3`` imports)."""


class PerFrameMask:
    """Instance masks of N objects over T frames (the result of the ``tools.SAM3`` calls).

    Attributes:
        masks: (T, N, H, W) bool, read-only; ``masks[t, k]`` is object k in the t-th frame of ``frame_indices``,
            at the frames' resolution.
        scores: (T, N) float32 confidence in [0, 1] (0 where the object is not visible in that frame).
        labels: N object labels (the text prompt, a ground-truth name, or ``"object 1"``, ...).
        frame_indices: T absolute frame indices.
        info: the server's info map (method, prompt, notes, ...); ``backend``: the backend that made the masks.
        artifact_id: the server artifact's id (``artifact_ids``: all of them, one per request; a call with
            several text prompts makes one request per prompt); ``url``: ``<server>/v1/artifacts/<id>``.

    Frames are addressed by ABSOLUTE frame index and objects by int index (0..N-1) or by label (str). A wrong
    frame raises :class:`FrameIndexError` (a KeyError and an IndexError) listing the valid frames.
    """

    def __new__(cls, *args: Any, **kwargs: Any) -> PerFrameMask:
        if cls is PerFrameMask:  # the class of the session profile's centroid_3d option, if one is registered
            cls = PROFILE_CLASSES.get(context.current().profile.centroid_3d, PerFrameMask)
        return super().__new__(cls)

    def __init__(
        self,
        masks: ArrayLike,
        frame_indices: ArrayLike,
        labels: Sequence[str] | None = None,
        scores: ArrayLike | None = None,
        *,
        images: Mapping[int, Any] | None = None,
        info: dict[str, Any] | None = None,
        artifact_ids: Sequence[str] = (),
        url: str | None = None,
        backend: str | None = None,
    ) -> None:
        """Build a result from stacked arrays (the tools do this).

        Args:
            masks: (T, N, H, W) masks (nonzero = inside). frame_indices: T distinct absolute indices.
            labels: N labels (default ``"object 1"``, ...). scores: (T, N) (default 1 where the mask is non-empty).
            images: frame index -> the image the masks were computed on (for :meth:`visualize`): a dict (copied), or
                another mapping (kept, e.g. one that decodes frames when looked up).

        Raises:
            ValueError: for inconsistent shapes or repeated frame indices.
        """
        m = np.asarray(masks)
        if m.ndim != 4:
            raise ValueError(f"masks must have shape (T, N, H, W), got {m.shape}")
        t, n = m.shape[:2]
        fi = [int(i) for i in np.asarray(frame_indices).reshape(-1)]
        if len(fi) != t:
            raise ValueError(f"frame_indices has {len(fi)} entries for {t} frames of masks")
        if len(set(fi)) != t:
            raise ValueError(f"frame_indices must be distinct, got {fi}")
        labs = [f"object {k + 1}" for k in range(n)] if labels is None else [str(x) for x in labels]
        if len(labs) != n:
            raise ValueError(f"labels has {len(labs)} entries for {n} objects")
        mb = m if m.dtype == np.bool_ else m != 0
        s = mb.any(axis=(2, 3)).astype(np.float32) if scores is None else np.asarray(scores, dtype=np.float32)
        if s.shape != (t, n):
            raise ValueError(f"scores must have shape {(t, n)}, got {s.shape}")
        self.masks: NDArray[np.bool_] = readonly(mb)
        self.scores: NDArray[np.float32] = readonly(s)
        self.labels: list[str] = labs
        self.frame_indices: list[int] = fi
        self.info: dict[str, Any] = dict(info or {})
        self.artifact_ids: list[str] = [str(a) for a in artifact_ids]
        self.url = url
        self.backend = backend
        self._images: Mapping[int, Any] = dict(images) if isinstance(images, dict) else (images or {})
        self._lookup = {f: k for k, f in enumerate(fi)}

    # -- facts -------------------------------------------------------------------------------------

    @property
    def artifact_id(self) -> str | None:
        """The (first) server artifact id, or None."""
        return self.artifact_ids[0] if self.artifact_ids else None

    @property
    def num_objects(self) -> int:
        return int(self.masks.shape[1])

    @property
    def num_frames(self) -> int:
        return int(self.masks.shape[0])

    @property
    def image_size(self) -> tuple[int, int]:
        """(W, H) of the masks, pixels."""
        return int(self.masks.shape[3]), int(self.masks.shape[2])

    def frame_position(self, frame: int) -> int:
        """Position t of absolute frame index ``frame`` in ``frame_indices`` (raises FrameIndexError)."""
        return position_of(self.frame_indices, self._lookup, frame, "mask result")

    def object_index(self, obj: int | str) -> int:
        """Index k of an object given as an int (negative counts from the end) or a label.

        Raises:
            IndexError: no objects, or an index out of range. KeyError: an unknown label, or a label shared by
                several objects (use their int index then).
        """
        n = self.num_objects
        if n == 0:
            raise IndexError(
                "no objects were found (0 masks): try another prompt, a lower threshold=, or another backend"
            )
        if isinstance(obj, str):
            hits = [k for k, lab in enumerate(self.labels) if lab == obj]
            if not hits:
                hits = [k for k, lab in enumerate(self.labels) if lab.lower() == obj.strip().lower()]
            if len(hits) == 1:
                return hits[0]
            if not hits:
                raise FrameIndexError(f"no object is labelled {obj!r}; labels: {self.labels}")
            raise FrameIndexError(
                f"{len(hits)} objects are labelled {obj!r} (indices {hits}): pass one int index, "
                f"e.g. {hits[0]} (scores: {[round(float(self.scores[:, k].max()), 3) for k in hits]})"
            )
        if isinstance(obj, (bool, np.bool_)) or not isinstance(obj, (int, np.integer)):
            raise TypeError(f"object must be an int index or a label str, got {type(obj).__name__} {obj!r}")
        k = int(obj)
        if not -n <= k < n:
            raise IndexError(f"object {k} is out of range: there are {n} objects (0..{n - 1}), labels {self.labels}")
        return k % n

    # -- masks -------------------------------------------------------------------------------------

    def get_mask(self, frame: int, object: int | str) -> NDArray[np.bool_]:  # noqa: A002 - API name
        """(H, W) bool mask (read-only) of ``object`` (int index or label) in ``frame`` (absolute index)."""
        return self.masks[self.frame_position(frame), self.object_index(object)]

    def get_score(self, frame: int, object: int | str) -> float:  # noqa: A002 - API name
        """The score in [0, 1] of ``object`` in ``frame``."""
        return float(self.scores[self.frame_position(frame), self.object_index(object)])

    def area(self, frame: int, object: int | str) -> int:  # noqa: A002 - API name
        """Pixels in the mask of ``object`` in ``frame``."""
        return int(self.get_mask(frame, object).sum())

    # -- 3-D ---------------------------------------------------------------------------------------

    def get_masked_points(
        self,
        recon: Any,
        frame: int,
        object: int | str,  # noqa: A002 - API name
        min_confidence: float | None = None,
    ) -> NDArray[np.float64]:
        """World points of ``object`` in ``frame``, from a reconstruction of the same frames.

        Args:
            recon: a ``tools.Reconstruct`` :class:`~spatial_runtime.tools.reconstruct.Reconstruction` that holds
                ``frame`` at the masks' resolution.
            frame: absolute frame index. object: int index or label.
            min_confidence: keep only pixels with reconstruction ``confidence >= min_confidence``.

        Returns:
            (M, 3) float64 world points in metres (the reconstruction's world frame); M may be 0.

        Raises:
            FrameIndexError: ``frame`` is not in the masks or not in the reconstruction.
            ValueError: the masks and the reconstruction have different resolutions.
        """
        mask = self.get_mask(frame, object)
        if not hasattr(recon, "points_in_mask"):
            raise TypeError(
                f"recon must be a reconstruction from tools.Reconstruct.Reconstruct(...), got {type(recon).__name__}"
            )
        return recon.points_in_mask(frame, mask, min_confidence)

    def _points_or_raise(self, recon: Any, frame: int, obj: int | str, min_confidence: float | None) -> NDArray:
        pts = self.get_masked_points(recon, frame, obj, min_confidence)
        if len(pts) == 0:
            k = self.object_index(obj)
            area = int(self.masks[self.frame_position(frame), k].sum())
            why = "the mask is empty" if area == 0 else f"none of its {area} pixels has valid depth"
            if area and min_confidence is not None:
                why += f" with confidence >= {min_confidence}"
            raise ValueError(
                f"object {k} ({self.labels[k]!r}) in frame {frame} has no 3-D points: {why}; "
                "try another frame where it is visible, or a lower min_confidence"
            )
        return pts

    def get_centroid_3d(
        self,
        recon: Any,
        frame: int,
        object: int | str,  # noqa: A002 - API name
        min_confidence: float | None = None,
    ) -> NDArray[np.float64]:
        """(3,) float64 mean of the object's world points in ``frame`` (metres; ``tools.Geometry.centroid``).

        The points are the visible surface only, so the centroid of a solid object lies toward the camera.

        Raises:
            ValueError: no valid 3-D point under the mask. FrameIndexError: as for :meth:`get_masked_points`.
        """
        return _geometry.centroid(self._points_or_raise(recon, frame, object, min_confidence))

    def get_bbox_3d(
        self,
        recon: Any,
        frame: int,
        object: int | str,  # noqa: A002 - API name
        min_confidence: float | None = None,
        percentile: float | None = None,
    ) -> _geometry.AABB:
        """Axis-aligned box of the object's world points in ``frame`` (``tools.Geometry.aabb``).

        Args:
            percentile: e.g. 2 uses the 2nd and 98th percentiles per axis, ignoring stray depth outliers.

        Returns:
            ``AABB(min, max, size)`` (each (3,) float64 world metres; ``.center`` too). In a gravity-aligned
            reconstruction ``size[1]`` is the height and ``max[1]`` the top's height above the floor.

        Raises:
            ValueError: no valid 3-D point under the mask. FrameIndexError: as for :meth:`get_masked_points`.
        """
        return _geometry.aabb(self._points_or_raise(recon, frame, object, min_confidence), percentile)

    # -- display -----------------------------------------------------------------------------------

    def visualize(
        self,
        frame: int | None = None,
        objects: Sequence[int | str] | None = None,
        image: Any = None,
        alpha: float = 0.5,
    ) -> Image.Image:
        """The frame with every object's mask tinted in its own colour and labelled, for ``show(...)``.

        Args:
            frame: absolute frame index (default: the first frame of the result).
            objects: which objects (int indices or labels; default all).
            image: the image to draw on (default: the frame the masks were computed on; black without one).
            alpha: tint opacity in [0, 1].

        Returns:
            A new RGB PIL image (``tools.Draw.overlay_mask`` and ``tools.Draw.draw_text``).
        """
        fi = self.frame_indices[0] if frame is None else frame
        t = self.frame_position(fi)
        w, h = self.image_size
        base = image if image is not None else self._images.get(self.frame_indices[t])
        img = _draw.to_image(base) if base is not None else Image.new("RGB", (w, h))
        if img.size != (w, h):
            raise ValueError(f"image is {img.size[0]}x{img.size[1]} but the masks are {w}x{h}")
        ks = range(self.num_objects) if objects is None else [self.object_index(o) for o in objects]
        for k in ks:
            m = self.masks[t, k]
            if m.any():
                img = _draw.overlay_mask(img, m, color=COLORS[k % len(COLORS)], alpha=alpha)
        size = max(12, h // 30)
        for k in ks:
            m = self.masks[t, k]
            if not m.any():
                continue
            rows, cols = np.nonzero(m)
            x, y = float(cols.min()), float(rows.min())
            text = f"{k}: {self.labels[k]} {float(self.scores[t, k]):.2f}"
            xy = (x + 2, max(0.0, y - size - 4))
            img = _draw.draw_text(img, text, xy=xy, color=COLORS[k % len(COLORS)], size=size)
        return _draw.draw_text(img, f"frame {self.frame_indices[t]}", xy=(5, h - size - 8), size=size)

    def __repr__(self) -> str:
        w, h = self.image_size
        fi = self.frame_indices
        best = self.scores.max(axis=0) if len(fi) else np.zeros(self.num_objects, dtype=np.float32)
        objs = ", ".join(f"{k}: {lab} ({float(best[k]):.2f})" for k, lab in enumerate(self.labels))
        if len(objs) > 400:
            objs = objs[:399] + "…"
        parts = [
            f"{self.num_objects} object{'s' if self.num_objects != 1 else ''} [{objs}]",
            f"{len(fi)} frame{'s' if len(fi) != 1 else ''} [{fmt_indices(fi)}]",
            f"{w}x{h}",
        ]
        if self.backend:
            parts.append(f"backend {self.backend}")
        if self.artifact_id:
            parts.append(f"artifact {self.artifact_id}")
        return "PerFrameMask(" + ", ".join(parts) + ")"

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(repr(self))
