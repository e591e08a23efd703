"""The prompts of the ``tools.SAM3`` calls, checked in the kernel before anything is sent.

Pixel coordinates (docs/conventions.md): points are (u, v) = (column, row) with the origin at the centre of the
top-left pixel, inside ``-0.5 <= u < W - 0.5``, ``-0.5 <= v < H - 0.5``; boxes are ``[x1, y1, x2, y2]`` pixel
bounds. Every check raises a :class:`~spatial_runtime.perception.ToolError` (code ``bad_argument``) that names
the argument and the fix.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from spatial_runtime import perception
from spatial_runtime.tools._common import bad_argument

__all__ = ["DEFAULT_BACKEND", "box_prompt", "choose_backend", "points_prompt", "text_prompts"]

DEFAULT_BACKEND = "sam3"


def _phrases(prompts: Any) -> list[str]:
    """The stripped, non-empty phrases of a phrase or a list of phrases."""
    items = [prompts] if isinstance(prompts, str) else list(prompts) if isinstance(prompts, (list, tuple)) else None
    if not items or not all(isinstance(p, str) and p.strip() for p in items):
        raise bad_argument(f"prompt must be a non-empty phrase (str) or a list of them, e.g. 'chair', got {prompts!r}")
    return [p.strip() for p in items]


def _threshold(threshold: Any) -> float:
    """A minimum instance score in [0, 1], as a float."""
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float, np.floating)) or not 0 <= threshold <= 1:
        raise bad_argument(f"threshold must be a number in [0, 1] (the minimum instance score), got {threshold!r}")
    return float(threshold)


def points_prompt(points: Any, labels: Any, size: tuple[int, int]) -> dict[str, Any]:
    """``{"type": "points", "points": [[u, v], ...], "labels": [1|0, ...]}`` for (P, 2) or (2,) pixel points in an
    image of ``size`` (W, H); ``labels`` None means all foreground (1)."""
    w, h = size
    try:
        p = np.asarray(points, dtype=np.float64)
    except (TypeError, ValueError):
        raise bad_argument(f"points must be (u, v) pixel pairs, shape (P, 2), got {points!r}") from None
    if p.shape == (2,):
        p = p[None]
    if p.ndim != 2 or p.shape[1] != 2 or len(p) == 0:
        raise bad_argument(f"points must be (u, v) pixel pairs with shape (P, 2), P >= 1, got shape {p.shape}")
    if not np.isfinite(p).all():
        raise bad_argument("points contain NaN/inf: pass finite (u, v) pixel coordinates")
    outside = ~((p[:, 0] >= -0.5) & (p[:, 0] < w - 0.5) & (p[:, 1] >= -0.5) & (p[:, 1] < h - 0.5))
    if outside.any():
        k = int(np.flatnonzero(outside)[0])
        hint = ""
        if (p >= 0).all() and (p <= 1000).all():
            hint = "; if these come from vlm.locate (0-1000), convert them with vlm.to_pixels(points, image)"
        raise bad_argument(
            f"points[{k}] = ({p[k, 0]:g}, {p[k, 1]:g}) is outside the {w}x{h} image: u (column) must be in "
            f"[-0.5, {w - 0.5:g}) and v (row) in [-0.5, {h - 0.5:g}){hint}"
        )
    if labels is None:
        lab = np.ones(len(p), dtype=np.int64)
    else:
        lab_arr = np.asarray(labels).reshape(-1)
        if lab_arr.shape != (len(p),):
            raise bad_argument(
                f"point_labels has {lab_arr.size} entries for {len(p)} points: one label (1 or 0) per point"
            )
        if not np.isin(lab_arr, (0, 1)).all():
            raise bad_argument(f"point_labels must be 1 (foreground) or 0 (background), got {lab_arr.tolist()}")
        lab = lab_arr.astype(np.int64)
    if not (lab == 1).any():
        raise bad_argument("point_labels has no foreground point (1): at least one point must be on the object")
    return {"type": "points", "points": p.tolist(), "labels": [int(x) for x in lab]}


def box_prompt(box: Any, size: tuple[int, int]) -> dict[str, Any]:
    """``{"type": "box", "box": [x1, y1, x2, y2]}`` for a pixel box, clipped to an image of ``size`` (W, H)."""
    w, h = size
    try:
        b = np.asarray(box, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise bad_argument(f"box_xyxy must be [x1, y1, x2, y2] in pixels, got {box!r}") from None
    if b.shape != (4,) or not np.isfinite(b).all():
        raise bad_argument(
            f"box_xyxy must be 4 finite numbers [x1, y1, x2, y2] in pixels, got {np.asarray(box).tolist()}"
        )
    x1, y1, x2, y2 = (float(v) for v in b)
    order = "the order is [x1, y1, x2, y2] = (left, top, right, bottom) in pixels"
    if x2 <= x1:
        raise bad_argument(f"box_xyxy = {[x1, y1, x2, y2]} has x2 <= x1: {order}")
    if y2 <= y1:
        raise bad_argument(f"box_xyxy = {[x1, y1, x2, y2]} has y2 <= y1: {order}")
    cx1, cy1, cx2, cy2 = max(x1, 0.0), max(y1, 0.0), min(x2, float(w)), min(y2, float(h))
    if cx2 <= cx1 or cy2 <= cy1:
        raise bad_argument(
            f"box_xyxy = {[x1, y1, x2, y2]} does not overlap the {w}x{h} image (pixels, [x1, y1, x2, y2])"
        )
    return {"type": "box", "box": [cx1, cy1, cx2, cy2]}


def choose_backend(backend: str | None) -> str:
    """``backend`` if given, else the session's configured segment backend, else :data:`DEFAULT_BACKEND`."""
    if backend is not None:
        if not isinstance(backend, str) or not backend:
            raise bad_argument(
                f"backend= must be a backend name such as 'sam3', 'classical' or 'oracle', got {backend!r}"
            )
        return backend
    return perception.default_backend("segment") or DEFAULT_BACKEND


def text_prompts(prompts: Any, threshold: Any) -> list[dict[str, Any]]:
    """One ``{"type": "text", "text", "threshold"}`` prompt per phrase (``prompts``: a phrase or a list of them)."""
    thr = _threshold(threshold)
    return [{"type": "text", "text": t, "threshold": thr} for t in _phrases(prompts)]
