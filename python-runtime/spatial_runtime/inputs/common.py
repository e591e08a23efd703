"""What the input loaders share: the error type, folder listing, sizes, spec paths and short formatting.

Conventions (docs/conventions.md): sizes are (W, H) pixels; by default a bound size is the source size with its
long edge scaled down to ``max_long_edge`` (never enlarged, aspect ratio kept, never cropped; :func:`fit_size`);
the paper profile's rule is in :mod:`.sizing`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from PIL import Image

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pnm", ".gif"})
"""File name suffixes (lower case) taken as images when a folder is listed."""

RESAMPLE = Image.Resampling.LANCZOS
"""Pillow filter used to shrink colour frames to their bound size."""
RE_ENCODE_HINT = "re-encode it, e.g. `ffmpeg -i in.mp4 -c:v libx264 -pix_fmt yuv420p out.mp4`"


class InputError(ValueError):
    """An input (video, image, folder, depth, camera JSON or poses file) cannot be used.

    The message names the offending file and says how to fix it, e.g.
    ``"/data/v.mp4: PyAV could not open this file as a video (...); is it a complete video file? ..."``.
    """


def natural_key(name: str) -> list[Any]:
    """Sort key so that ``2.png`` < ``10.png``: digit runs compare as numbers, the rest case-insensitively."""
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", name)]


def list_images(folder: Path, what: str) -> list[Path]:
    """The image files of ``folder`` (by suffix, hidden files skipped) in natural file-name order.

    Raises:
        InputError: the folder holds no image (``what`` names the kind of image in the message, e.g. "depth").
    """
    files = [
        p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES
    ]
    if not files:
        raise InputError(
            f"{folder}: no {what + ' ' if what else ''}images in this folder "
            f"(looked for {', '.join(sorted(IMAGE_SUFFIXES))}); "
            "point the input at a folder of image files"
        )
    return sorted(files, key=lambda p: natural_key(p.name))


def fit_size(size: tuple[int, int], max_long_edge: int | None) -> tuple[int, int]:
    """Bound size (W, H): the long edge scaled down to ``max_long_edge`` keeping the aspect ratio; never enlarges."""
    w, h = size
    if max_long_edge is None or max(w, h) <= max_long_edge:
        return w, h
    if w >= h:
        return max_long_edge, max(1, int(h * max_long_edge / w + 0.5))
    return max(1, int(w * max_long_edge / h + 0.5)), max_long_edge


def exif_size(img: Image.Image) -> tuple[int, int]:
    """Size (W, H) after the EXIF orientation is applied (orientations 5-8 swap width and height)."""
    w, h = img.size
    try:
        orientation = img.getexif().get(0x0112, 1)
    except Exception:  # a broken EXIF block: PIL's exif_transpose ignores it too
        orientation = 1
    return (h, w) if orientation in (5, 6, 7, 8) else (w, h)


def fmt_seq(values: Sequence[Any], fmt: Callable[[Any], str] = str, limit: int = 10) -> str:
    """``"a, b, c"``; with more than ``limit`` values the first ``limit - 3``, ``...`` and the last two."""
    if len(values) <= limit:
        return ", ".join(fmt(v) for v in values)
    head, tail = values[: limit - 3], values[-2:]
    return ", ".join(fmt(v) for v in head) + ", ..., " + ", ".join(fmt(v) for v in tail)


def is_number(value: Any) -> bool:
    """A finite int or float (bool is not a number here)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def spec_path(spec: Mapping[str, Any], key: str, what: str, *, folder: bool | None) -> Path:
    """The absolute path in ``spec[key]``, checked to exist (a folder when ``folder`` is True, a file when False).

    Raises:
        InputError: the key is missing or not a path string, or the path does not exist or has the wrong type.
    """
    value = spec.get(key)
    kind = spec.get("kind")
    if not isinstance(value, str) or not value:
        raise InputError(f"input spec {dict(spec)!r}: kind {kind!r} needs {key!r}, the path of the {what}")
    path = Path(value).expanduser().absolute()  # lazy decoding must survive a later os.chdir
    if not path.exists():
        raise InputError(f"{path}: {what} not found; check the {key!r} path of the {kind!r} input")
    if folder is True and not path.is_dir():
        raise InputError(f"{path}: expected a folder of {what} for the {kind!r} input, got a file")
    if folder is False and not path.is_file():
        raise InputError(f"{path}: expected a {what} file for the {kind!r} input, got a folder")
    return path


def common_size(sizes: Sequence[tuple[int, int]]) -> tuple[int, int] | None:
    """The one size all ``sizes`` share, or None when they differ (or there are none)."""
    unique = set(sizes)
    return next(iter(unique)) if len(unique) == 1 else None
