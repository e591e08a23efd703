"""The result of ``tools.Reconstruct.Reconstruct``: :class:`Reconstruction`, and its per-frame views.

Everything is keyed by the ABSOLUTE frame index; arrays are read-only. World points are metres; extrinsics are
(4, 4) camera-to-world matrices in OpenCV camera axes (x right, y down, z forward); intrinsics are pixels of the
frames as sent (docs/conventions.md).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from spatial_runtime.tools._common import fmt_indices, position_of, readonly
from spatial_runtime.tools.geometry import points_from_mask

__all__ = ["PerFrame", "Reconstruction"]


class PerFrame(Mapping[int, Any]):
    """A per-frame view of one stacked array: ``view[frame_index]`` gives that frame's entry.

    Keys are ABSOLUTE frame indices (``list(view)`` == ``frame_indices``); values are read-only numpy views
    (``.copy()`` them to edit). ``view.array`` is the whole (N, ...) stack, in ``frame_indices`` order.

    Raises (on lookup):
        FrameIndexError: (a KeyError and an IndexError) for a frame index that is not in the result.
    """

    def __init__(self, name: str, array: NDArray[Any], frame_indices: list[int], owner: str = "reconstruction"):
        self.name = name
        self.array = readonly(array)
        self._frame_indices = list(frame_indices)
        self._lookup = {fi: k for k, fi in enumerate(self._frame_indices)}
        self._owner = owner

    def __getitem__(self, frame: int) -> Any:
        return self.array[position_of(self._frame_indices, self._lookup, frame, f"{self._owner}'s {self.name}")]

    def __iter__(self) -> Iterator[int]:
        return iter(self._frame_indices)

    def __len__(self) -> int:
        return len(self._frame_indices)

    def __contains__(self, frame: object) -> bool:
        return isinstance(frame, (int, np.integer)) and not isinstance(frame, bool) and int(frame) in self._lookup

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of one frame's entry."""
        return tuple(self.array.shape[1:])

    def __repr__(self) -> str:
        return (
            f"<{self.name}: {len(self)} frames [{fmt_indices(self._frame_indices)}] of {self.shape} "
            f"{self.array.dtype}; index by absolute frame index>"
        )


class _IntrinsicsView(PerFrame):
    """``view[frame_index]`` -> ``{"fx", "fy", "cx", "cy"}`` floats in pixels."""

    def __getitem__(self, frame: int) -> dict[str, float]:
        K = super().__getitem__(frame)
        return {"fx": float(K[0, 0]), "fy": float(K[1, 1]), "cx": float(K[0, 2]), "cy": float(K[1, 2])}


class Reconstruction:
    """A metric 3-D reconstruction of N frames (the result of :func:`Reconstruct`).

    Per-frame accessors are indexed by the ABSOLUTE frame index (``rec.depth[12]``), iterate over
    ``frame_indices``, and give read-only numpy arrays (``.array`` is the whole (N, ...) stack):

    * ``depth[fi]``: (H, W) float32 metres along the camera z axis, 0 or NaN = invalid;
    * ``confidence[fi]``: (H, W) float32 in [0, 1], higher = more reliable (0 where invalid);
    * ``points[fi]``: (H, W, 3) float32 WORLD points in metres, NaN where invalid;
    * ``colors[fi]``: (H, W, 3) uint8 RGB of the frame;
    * ``extrinsics[fi]``: (4, 4) float64 camera-to-world, OpenCV camera axes (x right, y down, z forward);
    * ``intrinsics[fi]``: ``{"fx", "fy", "cx", "cy"}`` pixels at the frames' resolution (``K(fi)``: (3, 3)).

    Other attributes: ``frame_indices`` (list[int], absolute), ``image_size`` (W, H), ``info`` (the server's
    info map: method, notes, ...), ``warnings`` (``info["warnings"]``, e.g. frames the odometry could not
    register), ``alignment`` (``info["alignment"]``: ``{"method": "floor_ransac" | "camera_fallback",
    "floor_inliers", "up_in_input_world", "transform"}``, or None without gravity alignment), ``artifact_id``,
    ``url`` (``<server>/v1/artifacts/<id>``, for the 3-D viewer), ``backend``.

    World frame when gravity-aligned (the default): +Y up, floor at Y ~ 0, the first camera looking toward -Z.
    A wrong frame index raises :class:`FrameIndexError` (a KeyError and an IndexError) listing the valid ones.
    """

    def __init__(
        self,
        frame_indices: ArrayLike,
        depth: ArrayLike,
        confidence: ArrayLike,
        points: ArrayLike,
        extrinsics: ArrayLike,
        intrinsics: ArrayLike,
        colors: ArrayLike | None = None,
        *,
        info: dict[str, Any] | None = None,
        artifact_id: str | None = None,
        url: str | None = None,
        backend: str | None = None,
    ) -> None:
        """Build a reconstruction from stacked arrays (N frames of H x W pixels); :func:`Reconstruct` does this.

        Args:
            frame_indices: (N,) absolute frame indices, distinct.
            depth: (N, H, W) metres. confidence: (N, H, W). points: (N, H, W, 3) world metres.
            extrinsics: (N, 4, 4) camera-to-world. intrinsics: (N, 3, 3) or one (3, 3) for all frames, pixels.
            colors: (N, H, W, 3) uint8 RGB, or None.

        Raises:
            ValueError: for inconsistent shapes or repeated frame indices.
        """
        fi = [int(i) for i in np.asarray(frame_indices).reshape(-1)]
        n = len(fi)
        if len(set(fi)) != n:
            raise ValueError(f"frame_indices must be distinct, got {fi}")
        d = np.asarray(depth, dtype=np.float32)
        if d.ndim != 3 or d.shape[0] != n:
            raise ValueError(f"depth must have shape (N={n}, H, W), got {d.shape}")
        hw = d.shape[1:]
        c = np.asarray(confidence, dtype=np.float32)
        p = np.asarray(points, dtype=np.float32)
        E = np.asarray(extrinsics, dtype=np.float64)
        K = np.asarray(intrinsics, dtype=np.float64)
        if K.shape == (3, 3):
            K = np.broadcast_to(K, (n, 3, 3))
        checks = (
            ("confidence", c, (n, *hw)),
            ("points", p, (n, *hw, 3)),
            ("extrinsics", E, (n, 4, 4)),
            ("intrinsics", K, (n, 3, 3)),
        )
        for name, arr, shape in checks:
            if arr.shape != shape:
                raise ValueError(f"{name} must have shape {shape}, got {arr.shape}")
        if colors is None:
            col = np.zeros((n, *hw, 3), dtype=np.uint8)
        else:
            col = np.asarray(colors)
            if col.shape != (n, *hw, 3):
                raise ValueError(f"colors must have shape {(n, *hw, 3)}, got {col.shape}")
            col = col.astype(np.uint8, copy=False)
        self.frame_indices: list[int] = fi
        self.depth = PerFrame("depth", d, fi)
        self.confidence = PerFrame("confidence", c, fi)
        self.points = PerFrame("points", p, fi)
        self.colors = PerFrame("colors", col, fi)
        self.extrinsics = PerFrame("extrinsics", E, fi)
        self.intrinsics: PerFrame = _IntrinsicsView("intrinsics", K, fi)
        self.info: dict[str, Any] = dict(info or {})
        self.artifact_id = artifact_id
        self.url = url
        self.backend = backend
        self._lookup = {f: k for k, f in enumerate(fi)}

    # -- basic facts ----------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.frame_indices)

    @property
    def image_size(self) -> tuple[int, int]:
        """(W, H) of every frame, pixels."""
        h, w = self.depth.array.shape[1:3]
        return int(w), int(h)

    @property
    def alignment(self) -> dict[str, Any] | None:
        """How the world frame was gravity-aligned (``info["alignment"]``), or None if it was not."""
        al = self.info.get("alignment")
        return al if isinstance(al, dict) else None

    @property
    def warnings(self) -> list[str]:
        """The server's warnings about this reconstruction (e.g. frames the odometry could not register)."""
        w = self.info.get("warnings")
        return [str(x) for x in w] if isinstance(w, list) else []

    def _pos(self, frame: Any) -> int:
        return position_of(self.frame_indices, self._lookup, frame, "reconstruction")

    def K(self, frame: int) -> NDArray[np.float64]:  # noqa: N802 - the conventional name of the intrinsics matrix
        """(3, 3) float64 pinhole matrix ``[[fx, 0, cx], [0, fy, cy], [0, 0, 1]]`` of ``frame`` (absolute index)."""
        return self.intrinsics.array[self._pos(frame)].copy()

    def camera_position(self, frame: int) -> NDArray[np.float64]:
        """(3,) float64 world position of ``frame``'s camera, metres (the translation of ``extrinsics[frame]``)."""
        return self.extrinsics.array[self._pos(frame), :3, 3].copy()

    # -- points -----------------------------------------------------------------------------------

    def points_in_mask(self, frame: int, mask: ArrayLike, min_confidence: float | None = None) -> NDArray[np.float64]:
        """World points of the pixels under a mask in one frame.

        Args:
            frame: absolute frame index.
            mask: (H, W) bool (nonzero = inside) at this reconstruction's resolution (``image_size``), e.g.
                ``masks.get_mask(frame, 0)`` from ``tools.SAM3``.
            min_confidence: keep only pixels with ``confidence >= min_confidence`` (e.g. 0.5).

        Returns:
            (M, 3) float64 world points in metres, row-major pixel order; invalid (NaN) pixels are skipped.

        Raises:
            FrameIndexError: ``frame`` is not reconstructed. ValueError: the mask's shape differs.
        """
        pos = self._pos(frame)
        m = np.asarray(mask)
        if m.shape != self.depth.array.shape[1:]:
            w, h = self.image_size
            raise ValueError(
                f"mask has shape {m.shape} but frame {frame} of this reconstruction is (H, W) = ({h}, {w}); "
                "segment the same frames at the same resolution as the reconstruction"
            )
        conf = self.confidence.array[pos]
        return points_from_mask(self.points.array[pos], m, conf, min_confidence)

    def point_at(self, frame: int, u: float, v: float) -> NDArray[np.float64]:
        """(3,) float64 world point (metres) of pixel (u, v) = (column, row), rounded to the nearest pixel.

        NaN where the pixel has no valid depth. Raises ValueError for a pixel outside the image.
        """
        pos = self._pos(frame)
        w, h = self.image_size
        col, row = int(math.floor(float(u) + 0.5)), int(math.floor(float(v) + 0.5))
        if not (0 <= col < w and 0 <= row < h):
            raise ValueError(f"pixel (u={u}, v={v}) is outside the {w}x{h} image (u = column, v = row)")
        return self.points.array[pos, row, col].astype(np.float64)

    def all_points(
        self, min_confidence: float | None = None, stride: int = 1, frames: list[int] | None = None
    ) -> NDArray[np.float64]:
        """The valid world points of all (or the given) frames, stacked: (M, 3) float64 metres.

        Args:
            min_confidence: keep only pixels with ``confidence >= min_confidence``.
            stride: keep every ``stride``-th pixel in both directions (fewer points, faster).
            frames: absolute frame indices to use (default all).
        """
        if stride < 1:
            raise ValueError(f"stride must be >= 1, got {stride}")
        positions = [self._pos(f) for f in (self.frame_indices if frames is None else frames)]
        out = []
        for pos in positions:
            p = self.points.array[pos, ::stride, ::stride].reshape(-1, 3)
            keep = np.isfinite(p).all(axis=1)
            if min_confidence is not None:
                keep &= self.confidence.array[pos, ::stride, ::stride].reshape(-1) >= min_confidence
            out.append(p[keep])
        return np.concatenate(out).astype(np.float64) if out else np.zeros((0, 3))

    # -- display ----------------------------------------------------------------------------------

    def __repr__(self) -> str:
        w, h = self.image_size
        fi = self.frame_indices
        frames = f"{len(fi)} frame{'s' if len(fi) != 1 else ''} [{fmt_indices(fi)}]"
        al = self.alignment
        world = f"gravity-aligned world (+Y up, floor Y~0; {al.get('method', '?')})" if al else "world = input frame"
        parts = [frames, f"{w}x{h}", f"backend {self.backend}" if self.backend else None, world]
        if self.artifact_id:
            parts.append(f"artifact {self.artifact_id}")
        if self.warnings:
            parts.append(f"{len(self.warnings)} warning(s), see .warnings")
        return "Reconstruction(" + ", ".join(p for p in parts if p) + ")"

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(repr(self))
