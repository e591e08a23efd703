"""``tools.Draw``: annotate images for ``show(...)``.

Every function takes an image as ``show()`` does (a PIL image such as an input frame, a uint8 array (H, W),
(H, W, 3) or (H, W, 4), a bool mask, or a float array in [0, 1]; see :func:`spatial_runtime.display.to_pil`)
and returns a **new** RGB ``PIL.Image.Image``; the input is never modified. So
``show(Draw.overlay_mask(frame, m))`` works, and calls chain: ``Draw.draw_boxes(Draw.overlay_mask(f, m), ...)``.

Pixel conventions (docs/conventions.md): (u, v) = (column, row) with the origin at the centre of the
top-left pixel; boxes are ``(x0, y0, x1, y1)`` half-open pixel bounds as returned by ``tools.Mask.bbox``
(the outline is drawn on the box's outermost pixels, columns ``x0`` and ``x1 - 1``). Colours are names or
hex strings understood by :func:`PIL.ImageColor.getrgb` (``"red"``, ``"#00ff00"``) or (r, g, b) tuples.

Libraries: Pillow (:mod:`PIL.ImageDraw`, :mod:`PIL.ImageFont` default font), OpenCV (:func:`cv2.findContours`
for mask outlines), Matplotlib colormaps for depth.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np
from numpy.typing import ArrayLike
from PIL import Image, ImageColor, ImageDraw, ImageFont

from spatial_runtime.display import to_pil

__all__ = [
    "colorize_depth",
    "draw_boxes",
    "draw_points",
    "draw_text",
    "overlay_mask",
    "side_by_side",
    "to_image",
]

Color = str | tuple[int, int, int]

_PALETTE = ("red", "lime", "blue", "yellow", "magenta", "cyan", "orange", "white")


def _rgb(color: Color) -> tuple[int, int, int]:
    try:
        c = ImageColor.getrgb(color) if isinstance(color, str) else tuple(int(x) for x in color)
    except (ValueError, TypeError) as e:
        raise ValueError(f"unknown colour {color!r}: use a name like 'red', '#ff0000' or an (r, g, b) tuple") from e
    if len(c) < 3 or not all(0 <= x <= 255 for x in c[:3]):
        raise ValueError(f"colour {color!r} must have three components in 0..255")
    return int(c[0]), int(c[1]), int(c[2])


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=size)


def to_image(image: Any) -> Image.Image:
    """A new RGB PIL image from anything ``show()`` accepts (see the module docstring)."""
    img = to_pil(image)
    return img.convert("RGB") if img.mode != "RGB" else img.copy()


def draw_points(
    image: Any,
    uv: ArrayLike,
    color: Color = "red",
    radius: int = 4,
    labels: Sequence[str] | None = None,
) -> Image.Image:
    """Draw filled dots at pixel positions.

    Args:
        image: the image to draw on (not modified).
        uv: (N, 2) or (2,) pixel coordinates (u = column, v = row); NaN rows are skipped.
        color: dot colour.
        radius: dot radius in pixels.
        labels: optional text per point, written next to it.

    Returns:
        A new RGB PIL image.
    """
    img = to_image(image)
    arr = np.asarray(uv, dtype=np.float64)
    if arr.size == 0:
        pts = np.zeros((0, 2))
    elif arr.ndim > 2 or arr.shape[-1] != 2:
        raise ValueError(f"uv must have shape (N, 2) or (2,) of (u, v) pixels, got {arr.shape}")
    else:
        pts = arr.reshape(-1, 2)
    if labels is not None and len(labels) != len(pts):
        raise ValueError(f"labels has {len(labels)} entries for {len(pts)} points")
    draw = ImageDraw.Draw(img)
    rgb, r = _rgb(color), max(int(radius), 1)
    font = _font(max(12, 3 * r))
    for i, (u, v) in enumerate(pts):
        if not (np.isfinite(u) and np.isfinite(v)):
            continue
        draw.ellipse([u - r, v - r, u + r, v + r], fill=rgb, outline=(0, 0, 0))
        if labels is not None:
            draw.text((u + r + 2, v - r), str(labels[i]), fill=rgb, font=font, stroke_width=2, stroke_fill=(0, 0, 0))
    return img


def draw_boxes(
    image: Any,
    boxes: ArrayLike,
    labels: Sequence[str] | None = None,
    color: Color | Sequence[Color] | None = None,
    width: int = 2,
) -> Image.Image:
    """Draw rectangle outlines, optionally labelled.

    Args:
        image: the image to draw on (not modified).
        boxes: (N, 4) or (4,) ``(x0, y0, x1, y1)`` half-open pixel bounds (floats are fine).
        labels: optional text per box, written above its top-left corner (inside if there is no room).
        color: one colour for all boxes, a colour per box, or None for a distinct colour per box.
        width: line width in pixels.

    Returns:
        A new RGB PIL image.
    """
    img = to_image(image)
    b = np.asarray(boxes, dtype=np.float64)
    if b.size == 0:
        return img
    b = b.reshape(-1, 4) if b.shape[-1:] == (4,) else b
    if b.ndim != 2 or b.shape[1] != 4:
        raise ValueError(f"boxes must have shape (N, 4) of (x0, y0, x1, y1), got {np.asarray(boxes).shape}")
    if labels is not None and len(labels) != len(b):
        raise ValueError(f"labels has {len(labels)} entries for {len(b)} boxes")
    if color is None:
        colors = [_PALETTE[i % len(_PALETTE)] for i in range(len(b))]
    elif isinstance(color, str) or (len(color) == 3 and all(isinstance(c, int | np.integer) for c in color)):
        colors = [color] * len(b)
    else:
        if len(color) != len(b):
            raise ValueError(f"got {len(color)} colours for {len(b)} boxes")
        colors = list(color)
    draw = ImageDraw.Draw(img)
    font = _font(max(12, img.height // 40))
    for i, (x0, y0, x1, y1) in enumerate(b):
        if x1 <= x0 or y1 <= y0:
            raise ValueError(f"box {i} {(x0, y0, x1, y1)} must have x1 > x0 and y1 > y0 (half-open bounds)")
        rgb = _rgb(colors[i])
        draw.rectangle([x0, y0, x1 - 1, y1 - 1], outline=rgb, width=max(int(width), 1))
        if labels is not None:
            text = str(labels[i])
            left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
            ty = y0 - (bottom - top) - 4 if y0 - (bottom - top) - 4 >= 0 else y0 + 2
            draw.rectangle([x0, ty, x0 + (right - left) + 4, ty + (bottom - top) + 4], fill=rgb)
            draw.text((x0 + 2, ty + 2 - top), text, fill=(0, 0, 0) if sum(rgb) > 380 else (255, 255, 255), font=font)
    return img


def overlay_mask(
    image: Any,
    mask: ArrayLike,
    color: Color = "red",
    alpha: float = 0.5,
    outline: bool = True,
) -> Image.Image:
    """Tint the mask's pixels with ``color`` and optionally outline the mask.

    Args:
        image: the image (not modified); must have the mask's (H, W) size.
        mask: (H, W) mask (nonzero = inside).
        color: tint colour.
        alpha: tint opacity in [0, 1] (0 = no tint, 1 = solid colour).
        outline: also draw the mask's boundary (:func:`cv2.findContours`) in the same colour, 2 px wide.

    Returns:
        A new RGB PIL image.
    """
    img = to_image(image)
    m = np.asarray(mask)
    if m.ndim != 2:
        raise ValueError(f"mask must be an (H, W) array, got shape {m.shape}")
    if m.shape != (img.height, img.width):
        raise ValueError(f"mask is {m.shape} (H, W) but the image is {(img.height, img.width)}")
    if not 0 <= alpha <= 1:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    m = m != 0
    rgb = np.array(_rgb(color), dtype=np.float64)
    arr = np.asarray(img, dtype=np.float64).copy()
    arr[m] = (1 - alpha) * arr[m] + alpha * rgb
    out = np.clip(np.round(arr), 0, 255).astype(np.uint8)
    if outline and m.any():
        contours, _ = cv2.findContours(m.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        out = np.ascontiguousarray(out)
        cv2.drawContours(out, contours, -1, tuple(int(c) for c in rgb), 2)
    return Image.fromarray(out)


def draw_text(
    image: Any,
    text: str,
    xy: tuple[float, float] = (5, 5),
    color: Color = "white",
    size: int | None = None,
    background: Color | None = "black",
) -> Image.Image:
    """Write text with its top-left corner at pixel ``xy`` = (u, v).

    Args:
        image: the image (not modified).
        text: the text; newlines start new lines.
        xy: top-left position in pixels.
        color: text colour.
        size: font size in pixels (default: 1/30 of the image height, at least 12).
        background: colour of a box behind the text for legibility, or None.

    Returns:
        A new RGB PIL image.
    """
    img = to_image(image)
    draw = ImageDraw.Draw(img)
    font = _font(int(size) if size else max(12, img.height // 30))
    x, y = float(xy[0]), float(xy[1])
    if background is not None:
        left, top, right, bottom = draw.multiline_textbbox((x, y), str(text), font=font)
        draw.rectangle([left - 2, top - 2, right + 2, bottom + 2], fill=_rgb(background))
    draw.multiline_text((x, y), str(text), fill=_rgb(color), font=font)
    return img


def side_by_side(
    images: Sequence[Any],
    labels: Sequence[str] | None = None,
    height: int | None = None,
    gap: int = 4,
) -> Image.Image:
    """Place images left to right at a common height (aspect ratios kept), for comparing frames.

    Args:
        images: one or more images (anything ``show()`` accepts).
        labels: optional caption per image, drawn in its top-left corner.
        height: common height in pixels (default: the smallest input height).
        gap: black gap between images in pixels.

    Returns:
        A new RGB PIL image.
    """
    if not images:
        raise ValueError("side_by_side needs at least one image")
    if labels is not None and len(labels) != len(images):
        raise ValueError(f"labels has {len(labels)} entries for {len(images)} images")
    pils = [to_image(im) for im in images]
    h = int(height) if height else min(p.height for p in pils)
    if h <= 0:
        raise ValueError(f"height must be positive, got {height}")
    resized = [
        p if p.height == h else p.resize((max(1, round(p.width * h / p.height)), h), Image.Resampling.LANCZOS)
        for p in pils
    ]
    total = sum(p.width for p in resized) + gap * (len(resized) - 1)
    canvas = Image.new("RGB", (total, h), (0, 0, 0))
    x = 0
    for i, p in enumerate(resized):
        if labels is not None:
            p = draw_text(p, str(labels[i]))
        canvas.paste(p, (x, 0))
        x += p.width + gap
    return canvas


def colorize_depth(
    depth: ArrayLike,
    vmin: float | None = None,
    vmax: float | None = None,
    cmap: str = "turbo",
) -> Image.Image:
    """Render a depth map (metres) with a Matplotlib colormap; invalid pixels (0, NaN, inf) are black.

    Args:
        depth: (H, W) depth in metres.
        vmin, vmax: the depth range mapped to the colormap's ends (default: 2nd and 98th percentile of the
            valid depths).
        cmap: Matplotlib colormap name (near = start of the map).

    Returns:
        A new RGB PIL image of size (W, H).
    """
    d = np.asarray(depth, dtype=np.float64)
    if d.ndim != 2:
        raise ValueError(f"depth must be an (H, W) array in metres, got shape {d.shape}")
    valid = np.isfinite(d) & (d > 0)
    if valid.any():
        lo, hi = np.percentile(d[valid], [2, 98])
    else:
        lo, hi = 0.0, 1.0
    lo = lo if vmin is None else float(vmin)
    hi = hi if vmax is None else float(vmax)
    if hi <= lo:
        hi = lo + 1e-6
    try:
        import matplotlib  # on first use: the deferred init loads it before a sample's first cell

        cm = matplotlib.colormaps[cmap]
    except KeyError as e:
        raise ValueError(f"unknown colormap {cmap!r}; e.g. 'turbo', 'viridis', 'magma'") from e
    t = np.clip((np.where(valid, d, lo) - lo) / (hi - lo), 0, 1)
    rgb = (cm(t)[..., :3] * 255).round().astype(np.uint8)
    rgb[~valid] = 0
    return Image.fromarray(rgb)
