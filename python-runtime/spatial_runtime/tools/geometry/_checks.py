"""Argument checks shared by the ``tools.Geometry`` functions (not part of the agent-facing API)."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["as_pose", "as_vector", "finite_points", "scalar_or_array"]


def as_vector(v: ArrayLike, name: str) -> NDArray[np.float64]:
    a = np.asarray(v, dtype=np.float64)
    if a.ndim == 0 or a.shape[-1] not in (2, 3):
        raise ValueError(f"{name} must have shape (..., 3) or (..., 2), got {a.shape}")
    return a


def finite_points(points: ArrayLike, name: str = "points", min_count: int = 1) -> tuple[NDArray[np.float64], NDArray]:
    """``(N, 3)`` float64 finite points and the boolean row mask they were taken with (input layout)."""
    p = np.asarray(points, dtype=np.float64)
    if p.ndim == 1 and p.shape == (3,):
        p = p[None]
    if p.ndim < 2 or p.shape[-1] != 3:
        raise ValueError(f"{name} must have shape (N, 3) or (H, W, 3) in metres, got {p.shape}")
    keep = np.isfinite(p).all(axis=-1)
    out = p[keep]
    if len(out) < min_count:
        raise ValueError(f"{name} has {len(out)} finite points, at least {min_count} needed (NaN/inf rows are ignored)")
    return out, keep


def as_pose(T: ArrayLike, name: str = "cam_to_world") -> NDArray[np.float64]:
    T = np.asarray(T, dtype=np.float64)
    if T.shape[-2:] != (4, 4):
        raise ValueError(f"{name} must be a (4, 4) camera-to-world matrix (or (N, 4, 4)), got shape {T.shape}")
    return T


def scalar_or_array(x: NDArray[np.float64]) -> float | NDArray[np.float64]:
    return float(x) if np.ndim(x) == 0 else x
