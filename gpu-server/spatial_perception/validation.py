"""Checks on the contents of arrays: request inputs (depth, intrinsics, poses) and backend results.

Request checks raise :class:`~spatial_perception.errors.BadRequest` naming the frame by its absolute index and
the fix; result checks raise :class:`~spatial_perception.errors.BackendResultError` (a backend bug, 500).

The arrays each artifact kind holds (name, dtype, axes, who makes it) are ``spatial_common.contract.ARRAY_SETS``,
generated from ``shared/contracts/arrays.ts`` (docs/contracts.md); result checks and :func:`add_server_arrays`
follow it in its order.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray
from spatial_common.contract import ARRAY_SETS

from spatial_perception.backends.base import MaskResult, Reconstruction
from spatial_perception.errors import BackendResultError, BadRequest

ROTATION_TOL = 1e-3
"""Largest allowed ``max |R^T R - I|`` and ``|det R - 1|`` for a pose's rotation block."""


def frame_label(pos: int, frame_indices: list[int] | None) -> str:
    """How errors name frame ``pos`` of a request: ``"frame index 40 (frames[3])"`` (or ``"frames[3]"``)."""
    if frame_indices is not None and pos < len(frame_indices):
        return f"frame index {frame_indices[pos]} (frames[{pos}])"
    return f"frames[{pos}]"


# --------------------------------------------------------------------------------------------------
# request arrays
# --------------------------------------------------------------------------------------------------


def check_depth(depth: np.ndarray, n: int, h: int, w: int, frame_indices: list[int]) -> NDArray[np.float32]:
    """Validate metric depth (metres along each camera z axis) and return it as (N, H, W) float32.

    Raises:
        BadRequest: wrong shape, a non-float dtype, negative values, or a frame without any valid
            (finite, > 0) pixel (named by its frame index).
    """
    if depth.shape != (n, h, w):
        raise BadRequest(
            f"depth has shape {depth.shape} but the {n} frame(s) need ({n}, {h}, {w}) (N, H, W)",
            fix="send one (H, W) float32 depth map in metres per frame, stacked in frame order",
        )
    if depth.dtype.kind != "f":
        raise BadRequest(
            f"depth has dtype {depth.dtype}; it must be float metres",
            fix="convert, e.g. depth_mm.astype(np.float32) / 1000 for millimetre PNG depth",
        )
    depth = depth.astype(np.float32, copy=False)
    valid = np.isfinite(depth) & (depth > 0)
    empty = np.flatnonzero(~valid.any(axis=(1, 2)))
    if empty.size:
        raise BadRequest(
            f"depth for {frame_label(int(empty[0]), frame_indices)} has no valid pixel (all 0 or NaN)",
            fix="drop that frame or send its real depth (metres; 0 or NaN marks invalid pixels)",
        )
    neg = np.flatnonzero((depth < 0).any(axis=(1, 2)))
    if neg.size:
        raise BadRequest(
            f"depth for {frame_label(int(neg[0]), frame_indices)} has negative values",
            fix="depth is metres along the camera z axis (>= 0); mark invalid pixels with 0 or NaN",
        )
    return depth


def check_intrinsics(k: np.ndarray, n: int) -> NDArray[np.float64]:
    """Validate pinhole intrinsics (3, 3) or (N, 3, 3) in pixels and return them as (N, 3, 3) float64.

    Raises:
        BadRequest: wrong shape, non-numeric or non-finite values, fx/fy <= 0, or a last row that is not [0, 0, 1].
    """
    fix = "send K = [[fx, 0, cx], [0, fy, cy], [0, 0, 1]] in pixels, as (3, 3) for all frames or (N, 3, 3)"
    if k.shape not in ((3, 3), (n, 3, 3)):
        raise BadRequest(f"intrinsics has shape {k.shape}; expected (3, 3) or ({n}, 3, 3)", fix=fix)
    if k.dtype.kind not in "fiu":
        raise BadRequest(f"intrinsics has dtype {k.dtype}; it must be numeric (float64)", fix=fix)
    k = np.array(np.broadcast_to(k, (n, 3, 3)), dtype=np.float64)
    if not np.isfinite(k).all():
        raise BadRequest("intrinsics contains NaN or inf", fix=fix)
    if (k[:, 0, 0] <= 0).any() or (k[:, 1, 1] <= 0).any():
        raise BadRequest("intrinsics must have fx > 0 and fy > 0 (K[0, 0], K[1, 1])", fix=fix)
    if not np.allclose(k[:, 2, :], [0.0, 0.0, 1.0], atol=1e-6):
        raise BadRequest("the last row of intrinsics must be [0, 0, 1]", fix=fix)
    return k


def check_poses(poses: np.ndarray, n: int, frame_indices: list[int]) -> NDArray[np.float64]:
    """Validate camera-to-world poses (OpenCV camera axes, metres) and return them as (N, 4, 4) float64.

    A pose must be finite, with last row [0, 0, 0, 1] and a rotation block R with ``R^T R = I`` and
    ``det R = 1`` within :data:`ROTATION_TOL`.

    Raises:
        BadRequest: wrong shape or dtype, or the first pose that is not rigid (named by its frame index).
    """
    fix = "send (N, 4, 4) camera-to-world matrices [[R, t], [0, 0, 0, 1]] with R a rotation, t in metres"
    if poses.shape != (n, 4, 4):
        raise BadRequest(f"poses has shape {poses.shape}; expected ({n}, 4, 4) (one 4x4 per frame)", fix=fix)
    if poses.dtype.kind not in "fiu":
        raise BadRequest(f"poses has dtype {poses.dtype}; it must be numeric (float64)", fix=fix)
    poses = poses.astype(np.float64, copy=False)
    finite = np.isfinite(poses).all(axis=(1, 2))
    r = poses[:, :3, :3]
    ortho = np.abs(np.einsum("nji,njk->nik", r, r) - np.eye(3)).max(axis=(1, 2))
    det = np.linalg.det(np.where(finite[:, None, None], r, np.eye(3)))
    bottom = np.abs(poses[:, 3, :] - [0.0, 0.0, 0.0, 1.0]).max(axis=1)
    for i in range(n):
        what = f"poses[{i}] ({frame_label(i, frame_indices)})"
        if not finite[i]:
            raise BadRequest(f"{what} contains NaN or inf", fix=fix)
        if bottom[i] > 1e-6:
            raise BadRequest(f"{what} has last row {poses[i, 3].tolist()}, expected [0, 0, 0, 1]", fix=fix)
        if ortho[i] > ROTATION_TOL or abs(det[i] - 1.0) > ROTATION_TOL:
            raise BadRequest(
                f"{what} is not a rigid transform: its rotation block has det {det[i]:.4g} and "
                f"max |R^T R - I| = {ortho[i]:.3g} (scale, shear or reflection)",
                fix=fix,
            )
    return poses


# --------------------------------------------------------------------------------------------------
# results
# --------------------------------------------------------------------------------------------------


def _check_arrays(backend: str, kind: str, arrays: Mapping[str, Any], sizes: dict[str, int]) -> dict[str, np.ndarray]:
    """Check the backend-made arrays of ``kind`` in :data:`ARRAY_SETS` order; return them in contract dtypes.

    ``sizes`` holds the axis sizes known in advance (e.g. ``{"N": 5}``); the other letters are bound by the
    first array that has them, so the arrays must agree with each other.
    """
    out: dict[str, np.ndarray] = {}
    for name, spec in ARRAY_SETS[kind].items():
        if spec["producedBy"] != "backend":
            continue
        arr = arrays.get(name)
        if not isinstance(arr, np.ndarray):
            raise BackendResultError(f"backend {backend!r} returned {name} as {type(arr).__name__}, not a numpy array")
        axes = spec["axes"]
        want = [int(a) if a.isdigit() else sizes.get(a) for a in axes]
        if arr.ndim != len(axes) or any(s is not None and s != a for s, a in zip(want, arr.shape, strict=True)):
            shown = "(" + ", ".join("?" if s is None else str(s) for s in want) + ")"
            raise BackendResultError(f"backend {backend!r} returned {name} of shape {arr.shape}, expected {shown}")
        sizes.update({a: n for a, n in zip(axes, arr.shape, strict=True) if not a.isdigit()})
        out[name] = np.ascontiguousarray(arr, dtype=np.dtype(spec["dtype"]))
    return out


def check_reconstruction(backend: str, rec: Any, n: int) -> dict[str, np.ndarray]:
    """Check a backend's :class:`Reconstruction` for ``n`` frames; return its arrays in contract dtypes.

    Raises:
        BackendResultError: a wrong type or shape (a backend bug).
    """
    if not isinstance(rec, Reconstruction):
        raise BackendResultError(f"backend {backend!r} returned {type(rec).__name__}, not a Reconstruction")
    return _check_arrays(backend, "reconstruction", rec.arrays(), {"N": n})


def check_masks(backend: str, res: Any, frames: int | None) -> dict[str, np.ndarray]:
    """Check a backend's :class:`MaskResult` (``frames`` = T when known); return its arrays in contract dtypes.

    Raises:
        BackendResultError: a wrong type or shape, or len(labels) != K (a backend bug).
    """
    if not isinstance(res, MaskResult):
        raise BackendResultError(f"backend {backend!r} returned {type(res).__name__}, not a MaskResult")
    sizes = {} if frames is None else {"T": frames}
    arrays = _check_arrays(backend, "masks", res.arrays(), sizes)
    if len(res.labels) != sizes["K"]:
        raise BackendResultError(
            f"backend {backend!r} returned {sizes['K']} masks per frame but {len(res.labels)} labels"
        )
    return arrays


def add_server_arrays(kind: str, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Add the arrays of ``kind`` that the server makes (``producedBy: server``) to checked backend arrays.

    ``valid`` (reconstruction): (N, H, W) bool, the pixels whose ``points`` are finite, so that clients can
    lift points themselves from depth, intrinsics and extrinsics.

    Returns:
        ``arrays`` in :data:`ARRAY_SETS` order.

    Raises:
        BackendResultError: :data:`ARRAY_SETS` names a server array this function cannot make.
    """
    for name, spec in ARRAY_SETS[kind].items():
        if spec["producedBy"] != "server":
            continue
        if (kind, name) != ("reconstruction", "valid"):
            raise BackendResultError(f"the server cannot make array {name!r} of kind {kind!r}")
        arrays[name] = np.isfinite(arrays["points"]).all(axis=-1)
    return {name: arrays[name] for name in ARRAY_SETS[kind]}


def npy_meta(arrays: Mapping[str, np.ndarray]) -> dict[str, dict[str, Any]]:
    """``{name: {"shape": [int], "dtype": str, "bytes": int}}`` (``bytes`` = array data bytes)."""
    return {name: {"shape": list(a.shape), "dtype": str(a.dtype), "bytes": int(a.nbytes)} for name, a in arrays.items()}
