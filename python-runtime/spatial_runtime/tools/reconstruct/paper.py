"""The paper's reconstruction extras (profile ``paper``, ``reconstruct_extras: true``; docs/paper-parity.md row 16).

With the extras on, ``tools.Reconstruct.Reconstruct`` returns a :class:`PaperReconstruction`: the same data as a
:class:`~spatial_runtime.tools.reconstruct.result.Reconstruction`, gravity-aligned by the paper's rule (a segmented
floor, :mod:`.gravity`) instead of the server's, plus ``render_bev`` (:mod:`.bev`), ``metric_scale``,
``gravity_direction``, ``num_frames``, ``points.points`` / ``points.confidence`` and ``extrinsics.camera_poses``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from spatial_runtime import context
from spatial_runtime.tools._common import FrameBatch, bad_argument, metadata_of
from spatial_runtime.tools.reconstruct.gravity import floor_mask, gravity_transform
from spatial_runtime.tools.reconstruct.result import PerFrame, Reconstruction

__all__ = ["PaperReconstruction", "extras_active", "finish"]


def extras_active() -> bool:
    """Whether the session's profile asks for the paper's reconstruction extras (``reconstruct_extras``)."""
    return bool(getattr(context.current().profile, "reconstruct_extras", False))


class _PointMap(PerFrame):
    """``recon.points``: ``points[fi]`` as usual, plus the whole stacks ``.points`` (N, H, W, 3) and ``.confidence``
    (N, H, W)."""

    def __init__(self, points: NDArray[np.float32], confidence: NDArray[np.float32], frame_indices: list[int]):
        super().__init__("points", points, frame_indices)
        self.confidence = confidence

    @property
    def points(self) -> NDArray[np.float32]:
        """(N, H, W, 3) float32 world points of every frame, metres (NaN = invalid)."""
        return self.array


class _Poses(PerFrame):
    """``recon.extrinsics``: ``extrinsics[fi]`` as usual, plus ``.camera_poses`` (N, 4, 4)."""

    @property
    def camera_poses(self) -> NDArray[np.float64]:
        """(N, 4, 4) camera-to-world matrices of every frame."""
        return self.array


class PaperReconstruction(Reconstruction):
    """A metric 3-D reconstruction of N frames, gravity-aligned from the floor, with a top-down view (``render_bev``)
    and the backend's ``metric_scale`` (the result of ``tools.Reconstruct.Reconstruct``).

    The data and accessors are those of :class:`Reconstruction`; the extras (module docstring):

    Attributes:
        metric_scale: the backend's scale factor (1.0 when it reports none); informational, applied to nothing.
        gravity_direction: (3,) the world's up direction, [0, 1, 0].
        is_video: the frames come from a video (``render_bev`` draws a camera path) or from separate images.
    """

    metric_scale: float
    is_video: bool

    @classmethod
    def of(cls, rec: Reconstruction, transform: NDArray[np.float64] | None, *, is_video: bool) -> PaperReconstruction:
        """``rec`` moved by the 4x4 ``transform`` (new world from old; None: as it is), with the extras."""
        E = rec.extrinsics.array
        P = rec.points.array
        if transform is not None:
            E = transform @ E
            P = (P @ transform[:3, :3].T.astype(np.float32) + transform[:3, 3].astype(np.float32)).astype(np.float32)
        out = cls(
            rec.frame_indices,
            rec.depth.array,
            rec.confidence.array,
            P,
            E,
            rec.intrinsics.array,
            rec.colors.array,
            info=rec.info,
            artifact_id=rec.artifact_id,
            url=rec.url,
            backend=rec.backend,
        )
        out.points = _PointMap(out.points.array, out.confidence.array, out.frame_indices)
        out.extrinsics = _Poses("extrinsics", out.extrinsics.array, out.frame_indices)
        out.metric_scale = _metric_scale(rec.info)
        out.is_video = is_video
        return out

    @property
    def gravity_direction(self) -> NDArray[np.float64]:
        """(3,) float64 up direction of the world: [0, 1, 0]."""
        return np.array([0.0, 1.0, 0.0])

    @property
    def num_frames(self) -> int:
        """Number of reconstructed frames."""
        return len(self.frame_indices)

    def render_bev(
        self,
        masks: Any = None,
        labels: list[str] | None = None,
        prompts: list[str] | None = None,
        conf_threshold: float = 0.1,
        ref_frame: int = 0,
        ego_trajectory: bool = True,
    ) -> Image.Image:
        """An 800x800 top-down view: objects from ``masks`` as boxes (or paths when they move), the cameras.

        The reference camera (``ref_frame``: an absolute frame index of this reconstruction, else a position) is at
        the bottom looking up, its image-right to the right. ``masks``: a ``PerFrameMask`` (matched by frame
        index) or a (T, K, H, W) bool array (row t = the t-th reconstructed frame), with ``labels``. Points count
        with confidence > ``conf_threshold``. ``ego_trajectory`` draws the camera path (video) or every camera
        (images). ``prompts=`` is not supported, as in the original: segment first and pass ``masks=``.

        Returns:
            A PIL image (RGB, 800x800), ready for ``show(...)``.
        """
        if prompts is not None:
            raise bad_argument(
                "render_bev(prompts=...) is not supported: segment the objects first, e.g. "
                "seg = tools.SAM3.segment_video_by_text(['chair'], start_frame=..., end_frame=...), "
                "then call recon.render_bev(masks=seg)"
            )
        if isinstance(conf_threshold, bool) or not isinstance(conf_threshold, (int, float)):
            raise bad_argument(f"conf_threshold must be a number, got {conf_threshold!r}")
        if isinstance(ref_frame, bool) or not isinstance(ref_frame, (int, np.integer)):
            raise bad_argument(f"ref_frame must be an int frame index, got {ref_frame!r}")
        from spatial_runtime.tools.reconstruct import bev

        view = bev.draw(self, masks, labels, float(conf_threshold), int(ref_frame), bool(ego_trajectory), self.is_video)
        return view.image()


def _metric_scale(info: dict[str, Any]) -> float:
    """The backend's scale: ``info["metric_scale"]``, else the factor of its depth alignment
    (``info["scale_alignment"]["scale"]``), else 1.0."""
    candidates = [info.get("metric_scale")]
    alignment = info.get("scale_alignment")
    if isinstance(alignment, dict):
        candidates.append(alignment.get("scale"))
    for value in candidates:
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            return float(value)
    return 1.0


def finish(rec: Reconstruction, batch: FrameBatch, align_gravity: bool) -> PaperReconstruction:
    """The extras of a reconstruction the server made WITHOUT gravity alignment: the paper's gravity rule (when
    ``align_gravity``; its report in ``info["alignment"]``) and the :class:`PaperReconstruction` type."""
    meta = metadata_of(batch.source)
    is_video = bool(getattr(meta, "is_video", True)) if meta is not None else True
    if not align_gravity:
        return PaperReconstruction.of(rec, None, is_video=is_video)
    mask, reason = floor_mask(batch.images[0], batch.frame_indices[0])
    if mask is not None and mask.shape != rec.depth.array.shape[1:]:
        mask, reason = None, f"the floor mask is {mask.shape}, the reconstruction {rec.depth.array.shape[1:]}"
    transform, report = gravity_transform(rec.points.array, rec.confidence.array, rec.extrinsics.array, mask)
    if reason:
        report["floor_segmentation"] = reason
    rec.info["alignment"] = report
    return PaperReconstruction.of(rec, transform, is_video=is_video)
