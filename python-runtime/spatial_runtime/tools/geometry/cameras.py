"""``tools.Geometry`` cameras: poses, changes of frame, projection into images, and points from masks and depth.

Poses are (4, 4) camera-to-world matrices (or (N, 4, 4) stacks), camera frames use OpenCV axes (x right, y down,
z forward), intrinsics ``K`` are (3, 3) pixels and pixels (u, v) = (column, row) from the top-left pixel centre
(docs/conventions.md). Projection and back-projection are those of :mod:`spatial_runtime.geometry`.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from spatial_runtime.geometry import backproject_depth, project_points, transform_points
from spatial_runtime.tools.geometry._checks import as_pose

__all__ = [
    "Projection",
    "camera_center",
    "camera_to_world",
    "invert_pose",
    "points_from_depth",
    "points_from_mask",
    "project_to_image",
    "viewing_direction",
    "world_to_camera",
]


def invert_pose(T: ArrayLike) -> NDArray[np.float64]:
    """Inverse of a rigid (4, 4) transform (or a stack (N, 4, 4)): ``[R^T, -R^T t]``.

    Turns camera-to-world into world-to-camera and back. Assumes an orthonormal rotation block.
    """
    T = as_pose(T, "T")
    R, t = T[..., :3, :3], T[..., :3, 3]
    out = np.zeros_like(T)
    Rt = np.swapaxes(R, -1, -2)
    out[..., :3, :3] = Rt
    out[..., :3, 3] = -(Rt @ t[..., None])[..., 0]
    out[..., 3, 3] = 1.0
    return out


def world_to_camera(points_world: ArrayLike, cam_to_world: ArrayLike) -> NDArray[np.float64]:
    """Express world points in a camera's frame (OpenCV axes: x right, y down, z forward; metres).

    Args:
        points_world: (..., 3) world points.
        cam_to_world: (4, 4) camera-to-world pose of that camera.

    Returns:
        (..., 3) float64 camera-frame points; z is the depth in front of the camera.
    """
    T = as_pose(cam_to_world)
    if T.shape != (4, 4):
        raise ValueError(f"cam_to_world must be one (4, 4) pose here, got {T.shape}")
    return transform_points(points_world, invert_pose(T))


def camera_to_world(points_camera: ArrayLike, cam_to_world: ArrayLike) -> NDArray[np.float64]:
    """Express camera-frame points (OpenCV axes) in world coordinates: ``R @ p + t`` (metres)."""
    T = as_pose(cam_to_world)
    if T.shape != (4, 4):
        raise ValueError(f"cam_to_world must be one (4, 4) pose here, got {T.shape}")
    return transform_points(points_camera, T)


def camera_center(cam_to_world: ArrayLike) -> NDArray[np.float64]:
    """Camera position(s) in world coordinates: the translation of the camera-to-world pose.

    Args:
        cam_to_world: (4, 4) pose or (N, 4, 4) stack (e.g. ``Metadata.poses``).

    Returns:
        (3,) or (N, 3) float64 positions in metres.
    """
    return as_pose(cam_to_world)[..., :3, 3].copy()


def viewing_direction(cam_to_world: ArrayLike) -> NDArray[np.float64]:
    """Unit world direction(s) the camera looks along (its +z axis): (3,) or (N, 3)."""
    d = as_pose(cam_to_world)[..., :3, 2]
    return d / np.linalg.norm(d, axis=-1, keepdims=True)


class Projection(NamedTuple):
    """Pixels ``uv`` (N, 2) float64 (u = column, v = row, origin at the top-left pixel centre), camera
    ``depth`` (N,) in metres along z, and ``visible`` (N,) bool: in front of the camera and, when the
    image size is known, inside the image."""

    uv: NDArray[np.float64]
    depth: NDArray[np.float64]
    visible: NDArray[np.bool_]


def project_to_image(
    points_world: ArrayLike,
    K: ArrayLike,
    cam_to_world: ArrayLike | None = None,
    image_size: tuple[int, int] | None = None,
) -> Projection:
    """Project world points into a camera image (pinhole, no distortion).

    Args:
        points_world: (N, 3) or (3,) points in metres (camera-frame points if ``cam_to_world`` is None).
        K: (3, 3) intrinsics in pixels of that image.
        cam_to_world: (4, 4) camera-to-world pose, or None when the points are already in the camera frame.
        image_size: (W, H) in pixels, as PIL's ``image.size``; if given, ``visible`` also requires
            ``-0.5 <= u < W - 0.5`` and ``-0.5 <= v < H - 0.5`` (inside the pixel grid).

    Returns:
        :class:`Projection`; points behind the camera (z <= 0) get NaN pixels and ``visible`` False.
    """
    p = np.asarray(points_world, dtype=np.float64)
    if p.shape[-1:] != (3,):
        raise ValueError(f"points_world must have shape (N, 3) or (3,), got {p.shape}")
    cam = p if cam_to_world is None else world_to_camera(p, cam_to_world)
    uv = project_points(cam, K)
    z = cam[..., 2]
    visible = np.isfinite(uv).all(axis=-1) & (z > 0)
    if image_size is not None:
        if len(image_size) != 2:
            raise ValueError(f"image_size must be (W, H) in pixels, got {image_size}")
        w, h = image_size
        with np.errstate(invalid="ignore"):
            visible &= (uv[..., 0] >= -0.5) & (uv[..., 0] < w - 0.5) & (uv[..., 1] >= -0.5) & (uv[..., 1] < h - 0.5)
    return Projection(uv, z, visible)


def points_from_mask(
    point_map: ArrayLike,
    mask: ArrayLike,
    confidence: ArrayLike | None = None,
    min_conf: float | None = None,
) -> NDArray[np.float64]:
    """The 3-D points of an object: the finite point-map entries under a mask.

    Args:
        point_map: (H, W, 3) points in metres, in whatever frame the map is in (camera or world).
        mask: (H, W) bool (nonzero = object).
        confidence: optional (H, W) per-pixel confidence (higher = more reliable).
        min_conf: keep only pixels with ``confidence >= min_conf`` (needs ``confidence``).

    Returns:
        (N, 3) float64 points, in row-major pixel order.

    Raises:
        ValueError: if the shapes disagree, or ``min_conf`` is given without ``confidence``.
    """
    pm = np.asarray(point_map, dtype=np.float64)
    m = np.asarray(mask)
    if pm.ndim != 3 or pm.shape[2] != 3:
        raise ValueError(f"point_map must have shape (H, W, 3), got {pm.shape}")
    if m.shape != pm.shape[:2]:
        raise ValueError(f"mask must have shape {pm.shape[:2]} (the point map's H, W), got {m.shape}")
    keep = m.astype(bool) & np.isfinite(pm).all(axis=2)
    if min_conf is not None:
        if confidence is None:
            raise ValueError("min_conf needs the confidence map (confidence=...)")
        c = np.asarray(confidence, dtype=np.float64)
        if c.shape != pm.shape[:2]:
            raise ValueError(f"confidence must have shape {pm.shape[:2]}, got {c.shape}")
        keep &= c >= min_conf
    elif confidence is not None and np.shape(confidence) != pm.shape[:2]:
        raise ValueError(f"confidence must have shape {pm.shape[:2]}, got {np.shape(confidence)}")
    return pm[keep]


def points_from_depth(
    depth: ArrayLike,
    K: ArrayLike,
    cam_to_world: ArrayLike | None = None,
    mask: ArrayLike | None = None,
    stride: int = 1,
) -> NDArray[np.float64]:
    """Back-project the valid depth pixels (optionally under a mask) to 3-D points.

    Args:
        depth: (H, W) depth in metres along the camera z axis (0/NaN = invalid), e.g. ``frame.depth``.
        K: (3, 3) intrinsics of that depth map, e.g. ``Metadata.K``.
        cam_to_world: optional (4, 4) pose (e.g. ``frame.pose``): points come out in world coordinates;
            without it they are in the camera frame (OpenCV axes).
        mask: optional (H, W) bool mask of the pixels to keep.
        stride: keep every ``stride``-th pixel in both directions (speeds up large maps).

    Returns:
        (N, 3) float64 points in metres.
    """
    pm = backproject_depth(depth, K)
    if mask is not None:
        m = np.asarray(mask)
        if m.shape != pm.shape[:2]:
            raise ValueError(f"mask must have shape {pm.shape[:2]} (the depth map's H, W), got {m.shape}")
    else:
        m = np.ones(pm.shape[:2], dtype=bool)
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    pts = points_from_mask(pm[::stride, ::stride], m[::stride, ::stride])
    return pts if cam_to_world is None else camera_to_world(pts, cam_to_world)


def normalized_to_pixel(coords: ArrayLike, width: float, height: float) -> list[float]:
    """Convert 0-1000 normalised coordinates (e.g. a ``vlm.locate`` answer) to pixels of a ``width`` x ``height``
    image.

    Args:
        coords: a flat sequence ``x, y`` (a point), ``x1, y1, x2, y2`` (a box) or longer: x values scale with
            ``width``, y values with ``height`` (``v / 1000 * size``; an odd last value scales with ``width``).
        width, height: the image size in pixels.

    Returns:
        The pixel values, in the same order (list[float]). 0 and 1000 map to the image's edges 0 and ``width``
        (no half-pixel shift); a value over 1000, which may already be a pixel, prints a warning.
    """
    values = [float(v) for v in np.asarray(coords, dtype=np.float64).reshape(-1)]
    if any(v > 1000 for v in values):
        print(
            f"[warning] normalized_to_pixel: {values} has values over 1000; 0-1000 coordinates were expected "
            "(if these are pixels already, use them as they are)"
        )
    return [v / 1000.0 * (width if i % 2 == 0 else height) for i, v in enumerate(values)]
