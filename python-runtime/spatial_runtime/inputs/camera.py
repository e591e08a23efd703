"""The camera JSON of ``rgbd`` inputs (intrinsics of resized frames: :meth:`.sizing.Sizing.intrinsics`).

Intrinsics are pinhole parameters in pixels, ``{"fx", "fy", "cx", "cy"}`` (K = [[fx, 0, cx], [0, fy, cy],
[0, 0, 1]]), with pixel (u, v) = (column, row) and the origin at the centre of the top-left pixel
(docs/conventions.md).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from spatial_runtime.inputs.common import InputError, is_number

__all__ = ["read_camera"]

_KEYS = ("fx", "fy", "cx", "cy")


def read_camera(path: Path) -> dict[str, Any]:
    """Parse a camera JSON ``{"fx", "fy", "cx", "cy"}`` (pixels), optional ``depth_scale``, ``width``, ``height``.

    The four intrinsics may also sit in an ``"intrinsics"`` object. ``depth_scale`` is raw depth units per
    metre (default 1000, millimetres).

    Returns:
        ``{"fx", "fy", "cx", "cy", "depth_scale"}`` as floats, ``"width"`` and ``"height"`` as int or None.

    Raises:
        InputError: not JSON, not an object, missing or non-numeric intrinsics, fx/fy <= 0, a bad depth_scale,
            width or height (the message names the file and the expected layout).
    """
    usage = (
        'the camera JSON needs {"fx": .., "fy": .., "cx": .., "cy": ..} in pixels (optional depth_scale, width, height)'
    )
    try:
        cam = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: not valid JSON ({e}); {usage}") from e
    if not isinstance(cam, dict):
        raise InputError(f"{path}: expected a JSON object, got {type(cam).__name__}; {usage}")
    intr = cam["intrinsics"] if "fx" not in cam and isinstance(cam.get("intrinsics"), dict) else cam
    missing = [k for k in _KEYS if k not in intr]
    if missing:
        raise InputError(f"{path}: missing {', '.join(missing)}; {usage}")
    bad = [k for k in _KEYS if not is_number(intr[k])]
    if bad:
        raise InputError(f"{path}: {', '.join(bad)} must be numbers (pixels); {usage}")
    if intr["fx"] <= 0 or intr["fy"] <= 0:
        raise InputError(f"{path}: fx and fy must be positive focal lengths in pixels, got {intr['fx']}, {intr['fy']}")
    scale = cam.get("depth_scale", 1000.0)
    if not is_number(scale) or scale <= 0:
        raise InputError(f"{path}: depth_scale must be a positive number (raw depth units per metre), got {scale!r}")
    out: dict[str, Any] = {k: float(intr[k]) for k in _KEYS}
    out["depth_scale"] = float(scale)
    for k in ("width", "height"):
        v = cam.get(k)
        if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v <= 0):
            raise InputError(f"{path}: {k} must be a positive integer (pixels), got {v!r}")
        out[k] = v
    return out
