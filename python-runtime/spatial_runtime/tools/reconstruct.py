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
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from spatial_runtime import perception
from spatial_runtime.perception import PerceptionError, PerceptionUnavailable, ToolError
from spatial_runtime.tools import geometry as _geometry

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

MAX_FRAMES = 64
"""Most frames one ``Reconstruct`` call sends (``max_frames=`` overrides it per call)."""

_AXES_NOTE = "camera-to-world, OpenCV camera axes (x right, y down, z forward), metres"


class FrameIndexError(KeyError, IndexError):
    """A frame index that is not in a result. Both a ``KeyError`` and an ``IndexError``; the message lists the
    valid ABSOLUTE frame indices."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def _fmt(indices: list[int]) -> str:
    return perception._fmt_indices(indices)


def _position(frame_indices: list[int], lookup: dict[int, int], frame: Any, what: str) -> int:
    if isinstance(frame, (bool, np.bool_)) or not isinstance(frame, (int, np.integer)):
        raise TypeError(
            f"{what} is indexed by an absolute frame index (int), got {type(frame).__name__} {frame!r}; "
            f"valid frame indices: {_fmt(frame_indices)}"
        )
    pos = lookup.get(int(frame))
    if pos is None:
        hint = ""
        if 0 <= int(frame) < len(frame_indices) and frame_indices[int(frame)] != int(frame):
            hint = f"; for the frame at position {int(frame)} use frame_indices[{int(frame)}]"
        raise FrameIndexError(
            f"frame {int(frame)} is not in this {what}: frames are keyed by ABSOLUTE frame index, valid "
            f"indices: {_fmt(frame_indices)}{hint}"
        )
    return pos


def _readonly(array: NDArray[Any]) -> NDArray[Any]:
    out = np.ascontiguousarray(array)
    if out is array:
        out = out.view()
    out.setflags(write=False)
    return out


class PerFrame(Mapping[int, Any]):
    """A per-frame view of one stacked array: ``view[frame_index]`` gives that frame's entry.

    Keys are ABSOLUTE frame indices (``list(view)`` == ``frame_indices``); values are read-only numpy views
    (``.copy()`` them to edit). ``view.array`` is the whole (N, ...) stack, in ``frame_indices`` order.

    Raises (on lookup):
        FrameIndexError: (a KeyError and an IndexError) for a frame index that is not in the result.
    """

    def __init__(self, name: str, array: NDArray[Any], frame_indices: list[int], owner: str = "reconstruction"):
        self.name = name
        self.array = _readonly(array)
        self._frame_indices = list(frame_indices)
        self._lookup = {fi: k for k, fi in enumerate(self._frame_indices)}
        self._owner = owner

    def __getitem__(self, frame: int) -> Any:
        return self.array[_position(self._frame_indices, self._lookup, frame, f"{self._owner}'s {self.name}")]

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
            f"<{self.name}: {len(self)} frames [{_fmt(self._frame_indices)}] of {self.shape} {self.array.dtype}; "
            "index by absolute frame index>"
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
        return _position(self.frame_indices, self._lookup, frame, "reconstruction")

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
        return _geometry.points_from_mask(self.points.array[pos], m, conf, min_confidence)

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
        frames = f"{len(fi)} frame{'s' if len(fi) != 1 else ''} [{_fmt(fi)}]"
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


# --------------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------------


def _bad(message: str) -> ToolError:
    return ToolError(message, code="bad_argument")


def _gather_depth(batch: perception.FrameBatch, depth: Any) -> NDArray[np.float32] | None:
    n, (w, h) = len(batch), batch.size
    if depth is False:
        return None
    if depth is not None:
        if isinstance(depth, (list, tuple)):
            if len(depth) != n:
                raise _bad(f"depth= has {len(depth)} maps for {n} frames: pass one (H, W) depth map per frame")
            depth = np.stack([np.asarray(d, dtype=np.float32) for d in depth]) if n else np.zeros((0, h, w))
        d = np.asarray(depth, dtype=np.float32)
        if d.ndim == 2 and n == 1:
            d = d[None]
        if d.shape != (n, h, w):
            raise _bad(f"depth= must have shape (N, H, W) = ({n}, {h}, {w}) in metres, got {d.shape}")
    else:
        per = [getattr(item, "depth", None) for item in batch.items]
        with_depth = [fi for fi, x in zip(batch.frame_indices, per, strict=True) if x is not None]
        if not with_depth:
            return None
        if len(with_depth) != n:
            without = [fi for fi, x in zip(batch.frame_indices, per, strict=True) if x is None]
            raise _bad(
                f"depth is missing for frames [{_fmt(without)}] but present for [{_fmt(with_depth)}]: pass frames "
                "of one RGB-D input, depth= for every frame, or depth=False to reconstruct from colour only"
            )
        maps = []
        for fi, x in zip(batch.frame_indices, per, strict=True):
            arr = np.asarray(x, dtype=np.float32)
            if arr.shape != (h, w):
                raise _bad(f"the depth of frame {fi} is {arr.shape} (H, W) but the frame is ({h}, {w})")
            maps.append(arr)
        d = np.stack(maps)
    d = np.array(d, dtype=np.float32, copy=True)
    if np.isinf(d).any():
        raise _bad("depth contains inf values: depth must be finite metres (0 or NaN marks invalid pixels)")
    d[np.isnan(d)] = 0.0
    if (d < 0).any():
        fi = batch.frame_indices[int(np.argwhere(d < 0)[0][0])]
        raise _bad(f"depth of frame {fi} has negative values: depth is metres along the camera z axis, >= 0")
    empty = [fi for fi, plane in zip(batch.frame_indices, d, strict=True) if not (plane > 0).any()]
    if empty:
        raise _bad(
            f"depth of frames [{_fmt(empty)}] is all 0/NaN (no valid pixel): drop those frames, or pass "
            "depth=False to estimate depth from colour (backend='da3')"
        )
    return d


def _intrinsics_matrix(value: Any, n: int) -> NDArray[np.float64]:
    if isinstance(value, Mapping):
        try:
            K = np.array(
                [[value["fx"], 0.0, value["cx"]], [0.0, value["fy"], value["cy"]], [0.0, 0.0, 1.0]], dtype=np.float64
            )
        except KeyError as err:
            raise _bad(f"intrinsics= dict needs fx, fy, cx, cy (pixels); missing {err}") from None
    else:
        K = np.asarray(value, dtype=np.float64)
    if K.shape == (3, 3):
        K = np.broadcast_to(K, (n, 3, 3))
    if K.shape != (n, 3, 3):
        raise _bad(f"intrinsics= must be a (3, 3) K, an ({n}, 3, 3) stack or {{fx, fy, cx, cy}}, got {K.shape}")
    if not np.isfinite(K).all() or (K[:, 0, 0] <= 0).any() or (K[:, 1, 1] <= 0).any():
        raise _bad("intrinsics= must be finite with fx > 0 and fy > 0 (pixels)")
    return np.array(K, dtype=np.float64)


def _gather_intrinsics(batch: perception.FrameBatch, intrinsics: Any, metadata: Any) -> NDArray[np.float64] | None:
    if intrinsics is not None:
        return _intrinsics_matrix(intrinsics, len(batch))
    meta = metadata if metadata is not None else perception.find_metadata(batch.source)
    if meta is None or getattr(meta, "intrinsics", None) is None:
        return None
    size = getattr(meta, "image_size", None)
    if size is not None and tuple(size) != tuple(batch.size):
        if metadata is not None:
            raise _bad(
                f"metadata= describes {size[0]}x{size[1]} frames but the frames are {batch.size[0]}x{batch.size[1]}: "
                "pass intrinsics= scaled to the frames"
            )
        return None
    return _intrinsics_matrix(meta.intrinsics, len(batch))


def _gather_poses(batch: perception.FrameBatch, poses: Any) -> NDArray[np.float64] | None:
    n = len(batch)
    if poses is False:
        return None
    if poses is not None:
        P = np.asarray(poses, dtype=np.float64)
        if P.shape == (4, 4) and n == 1:
            P = P[None]
        if P.shape != (n, 4, 4):
            raise _bad(f"poses= must be ({n}, 4, 4) camera-to-world matrices, got {P.shape}")
    else:
        per = [getattr(item, "pose", None) for item in batch.items]
        have = [fi for fi, x in zip(batch.frame_indices, per, strict=True) if x is not None]
        if not have:
            return None
        if len(have) != n:
            without = [fi for fi, x in zip(batch.frame_indices, per, strict=True) if x is None]
            raise _bad(
                f"poses are missing for frames [{_fmt(without)}] but present for [{_fmt(have)}]: pass frames of "
                "one input, poses= for every frame, or poses=False to estimate the cameras"
            )
        P = np.stack([np.asarray(x, dtype=np.float64) for x in per])
    if not np.isfinite(P).all():
        raise _bad("poses contain NaN/inf: pass finite (4, 4) camera-to-world matrices, or poses=False")
    return np.array(P, dtype=np.float64)


def _choose_backend(backend: str | None, has_depth: bool) -> str:
    if backend is not None:
        if not isinstance(backend, str) or not backend:
            raise _bad(f"backend= must be a backend name such as 'rgbd' or 'da3', got {backend!r}")
        return backend
    configured = perception.default_backend("reconstruct")
    if configured and configured != "auto":
        return configured
    return "rgbd" if has_depth else "da3"


def _summary(rec: Reconstruction) -> str:
    w, h = rec.image_size
    fi = rec.frame_indices
    al = rec.alignment
    world = f"gravity-aligned ({al.get('method', '?')})" if al else "not gravity-aligned"
    span = f"{fi[0]}..{fi[-1]}" if len(fi) > 1 else str(fi[0])
    return f"{len(fi)} frames [{span}] {w}x{h}, backend {rec.backend}, {world}"


def Reconstruct(  # noqa: N802 - the agent-facing name is fixed by the API
    frames: Any,
    frame_indices: ArrayLike | None = None,
    *,
    backend: str | None = None,
    depth: Any = None,
    intrinsics: Any = None,
    poses: Any = None,
    metadata: Any = None,
    align_gravity: bool = True,
    max_frames: int | None = None,
    params: dict[str, Any] | None = None,
    timeout: float | None = None,
) -> Reconstruction:
    """Reconstruct frames in 3-D (metric depth, world point maps and cameras) on the perception server.

    Sources: RGB-D odometry over the given metric depth (backend ``"rgbd"``), or Depth Anything 3 from colour
    alone (``"da3"``). One call publishes one artifact record (``display_data``) for the host's 3-D viewer.

    Args:
        frames: ``InputImages`` or a slice of it (e.g. ``InputImages[::4]``), a list of input frames (their
            ``.frame_index`` is used), or PIL images / (H, W, 3) uint8 arrays together with ``frame_indices``.
            All frames must have one size; at most ``max_frames``.
        frame_indices: absolute frame indices, one per frame; only needed for images that are not input frames.
        backend: ``"rgbd"``, ``"da3"``, ...; default: the session's configured reconstruct backend, else
            ``"rgbd"`` when the frames carry depth and ``"da3"`` otherwise.
        depth: None: the frames' ``.depth`` (RGB-D inputs); an (N, H, W) float32 array (or list of (H, W)) in
            metres (0/NaN = invalid); False: send no depth.
        intrinsics: None: the frames' ``Metadata`` intrinsics when known; else a (3, 3) K, an (N, 3, 3) stack or
            ``{"fx", "fy", "cx", "cy"}``, pixels of the frames as given.
        poses: None: the frames' ``.pose`` (camera-to-world); an (N, 4, 4) array; False: let the backend
            estimate the cameras.
        metadata: the ``Metadata`` of the frames' input, if the frames are not an ``InputImages`` bound in
            this session (only its intrinsics are used).
        align_gravity: gravity-align the world frame (+Y up, floor at Y = 0, first camera looking toward -Z).
        max_frames: most frames allowed in this call (default :data:`MAX_FRAMES`, 64); also sent to the server.
        params: extra backend parameters, e.g. ``{"conf_threshold": 0.2}`` (docs/perception-api.md, "Params").
        timeout: seconds the server may spend on this job (default: the server's limit, 600 s by default).

    Returns:
        :class:`Reconstruction` keyed by the absolute frame indices.

    Raises:
        ToolError: (a ValueError) empty frames, frames of different sizes, too many frames, depth for only some
            frames, depth that is inf/negative or all 0/NaN in a frame, missing intrinsics for metric depth,
            malformed intrinsics/poses, or a 4xx answer from the server (its message and fix included).
        PerceptionUnavailable: no perception server in this session, or it is not reachable.
        PerceptionError: a server-side failure (5xx) or a timeout.
    """
    perception.require_config("tools.Reconstruct")
    limit = MAX_FRAMES if max_frames is None else int(max_frames)
    if limit < 1:
        raise _bad(f"max_frames must be >= 1, got {max_frames}")
    # Count first, so that too many video frames are refused before they are decoded.
    countable = isinstance(frames, (list, tuple)) or perception._is_collection(frames)
    n = len(frames) if countable else 1
    if n <= limit:
        batch = perception.collect_frames(frames, frame_indices, what="frames")
        n = len(batch)
    if n > limit:
        step = math.ceil(n / limit)
        raise _bad(
            f"Reconstruct got {n} frames but at most {limit} are allowed per call: subsample them, e.g. "
            f"tools.Reconstruct.Reconstruct(InputImages[::{step}]) ({math.ceil(n / step)} frames), or pass "
            "max_frames= (slower; the server's --max-frames must allow it)"
        )
    d = _gather_depth(batch, depth)
    K = _gather_intrinsics(batch, intrinsics, metadata)
    P = _gather_poses(batch, poses)
    name = _choose_backend(backend, d is not None)
    if name == "rgbd" and d is None:
        raise _bad(
            "backend 'rgbd' needs metric depth, but these frames have none: pass frames of an RGB-D input, "
            "depth=, or use backend='da3' (depth estimated from colour)"
        )
    if d is not None and K is None and name == "rgbd":
        raise _bad(
            "backend 'rgbd' needs the camera intrinsics to lift depth to 3-D, and none are known for these frames: "
            "pass intrinsics=Metadata.K (or {'fx', 'fy', 'cx', 'cy'} in pixels of these frames) or metadata=Metadata"
        )
    req_params: dict[str, Any] = {"align_gravity": bool(align_gravity)}
    if max_frames is not None:
        req_params["max_frames"] = limit
    if params:
        if not isinstance(params, Mapping):
            raise _bad(f"params= must be a dict of backend parameters, got {type(params).__name__}")
        req_params.update(params)
    body = {
        "backend": name,
        "frames": batch.png(),
        "frame_indices": list(batch.frame_indices),
        "depth": None if d is None else perception.encode_npy(d),
        "intrinsics": None if K is None else perception.encode_npy(K),
        "poses": None if P is None else perception.encode_npy(P),
        "params": req_params,
        # Points and colours stay in the artifact (for the 3D viewer): the kernel lifts points from depth,
        # intrinsics and extrinsics itself and already has the frames, which halves the bytes on the wire.
        "return": list(COMPACT_RETURN),
    }
    reply = perception.post("/v1/reconstruct", body, tool="tools.Reconstruct", timeout=timeout)
    rec = _from_reply(reply, batch, name)
    artifact = reply["artifact"]
    summary = artifact.get("summary") if isinstance(artifact.get("summary"), str) else None
    perception.publish_artifact(
        tool="Reconstruct",
        kind="reconstruction",
        artifact_id=rec.artifact_id,
        url=rec.url,
        summary=summary or _summary(rec),
        frame_indices=rec.frame_indices,
        shapes=_shapes(artifact, reply["arrays"]),
    )
    return rec


def _shapes(artifact: dict[str, Any], arrays: dict[str, np.ndarray]) -> dict[str, list[int]]:
    shapes = artifact.get("shapes")
    if isinstance(shapes, dict) and shapes:
        return {str(k): [int(x) for x in v] for k, v in shapes.items()}
    return {k: list(v.shape) for k, v in arrays.items()}


COMPACT_RETURN = ("depth", "confidence", "valid", "extrinsics", "intrinsics", "frame_indices")


def lift_points(
    depth: np.ndarray, intrinsics: np.ndarray, extrinsics: np.ndarray, valid: np.ndarray
) -> NDArray[np.float32]:
    """World points from depth, as the server defines them (docs/perception-api.md).

    Args:
        depth: (N, H, W) depth in metres along each camera's z axis.
        intrinsics: (N, 3, 3) pinhole K in pixels.
        extrinsics: (N, 4, 4) camera-to-world, OpenCV camera axes.
        valid: (N, H, W) bool, the pixels that have a point (the server's ``valid`` array).

    Returns:
        (N, H, W, 3) float32 world points in metres; NaN where ``valid`` is false.
    """
    n, h, w = depth.shape
    u, v = np.meshgrid(np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64))
    out = np.full((n, h, w, 3), np.nan, dtype=np.float32)
    for i in range(n):
        K, T, z = intrinsics[i], extrinsics[i], depth[i].astype(np.float64)
        cam = np.stack([(u - K[0, 2]) * z / K[0, 0], (v - K[1, 2]) * z / K[1, 1], z], axis=-1)
        world = cam @ T[:3, :3].T + T[:3, 3]
        out[i][valid[i]] = world[valid[i]]
    return out


def _from_reply(reply: dict[str, Any], batch: perception.FrameBatch, backend: str) -> Reconstruction:
    arrays = dict(reply["arrays"])
    if "points" not in arrays and {"valid", "depth", "intrinsics", "extrinsics"} <= arrays.keys():
        arrays["points"] = lift_points(arrays["depth"], arrays["intrinsics"], arrays["extrinsics"], arrays["valid"])
    missing = [k for k in ("depth", "confidence", "points", "extrinsics", "intrinsics") if k not in arrays]
    if missing:
        raise PerceptionError(
            f"the perception server's reconstruction lacks {', '.join(missing)}; is the server up to date?",
            code="bad_reply",
        )
    indices = arrays.get("frame_indices")
    fi = batch.frame_indices if indices is None else [int(i) for i in np.asarray(indices).reshape(-1)]
    colors = arrays.get("colors")
    if colors is None and len(fi) == len(batch) and list(fi) == list(batch.frame_indices):
        colors = np.stack(batch.images)
    artifact = reply["artifact"]
    artifact_id = artifact.get("id") if isinstance(artifact.get("id"), str) else None
    try:
        return Reconstruction(
            fi,
            arrays["depth"],
            arrays["confidence"],
            arrays["points"],
            arrays["extrinsics"],
            arrays["intrinsics"],
            colors,
            info=reply.get("info") or {},
            artifact_id=artifact_id,
            url=perception.artifact_url(reply.get("url"), artifact_id),
            backend=str(artifact.get("backend") or backend),
        )
    except ValueError as err:
        raise PerceptionError(
            f"the perception server sent an inconsistent reconstruction: {err}", code="bad_reply"
        ) from None
