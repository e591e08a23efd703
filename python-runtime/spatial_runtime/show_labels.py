"""Image labels of the ``paper`` profile (docs/paper-parity.md row 18.5).

* :func:`call_label`: what an unlabelled ``show(...)`` call is called, the source text of its first argument. The
  call is found from the calling frame's current instruction position (``co_positions``) in the cell's source, which
  IPython registers in :mod:`linecache`; only when the interpreter keeps no positions, the k-th ``show`` call run in a
  cell is paired with the k-th ``show(`` call with arguments in the cell's syntax tree (``ast.walk`` order).
* :func:`figure_label`: a figure's first non-empty axes title, else its suptitle, else :data:`FIGURE_LABEL`.
* :func:`add_band`: the image with a white band on top (at least :data:`MIN_BAND` px) carrying a centred,
  word-wrapped caption in DejaVu Sans 16 px.

This module imports nothing from the rest of ``spatial_runtime``.
"""

from __future__ import annotations

import ast
import functools
import itertools
import linecache
import sys
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from PIL import Image, ImageDraw, ImageFont

__all__ = ["FIGURE_LABEL", "MIN_BAND", "add_band", "band_text", "call_label", "count_show_call", "figure_label"]

FONT_PATH = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
FONT_SIZE = 16
MIN_BAND = 32
"""The band's least height in pixels; it grows with the number of wrapped lines."""
FIGURE_LABEL = "matplotlib figure"
"""The label of a figure without any title."""

_SIDE_MARGIN = 8  # px kept free left and right of the wrapped text
_LINE_GAP = 4  # px added to the font's height per line
_BAND_PAD = 8  # px added to the text block's height (half above, half below)

Span = tuple[int, int, int, int]


# --------------------------------------------------------------------------------------------------
# Labels from the cell's source
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Calls:
    """The calls of one source text: every call by its exact span, and the ``show`` calls with arguments."""

    by_span: dict[Span, ast.Call]
    shows: tuple[ast.Call, ...]


def _is_show(node: ast.Call) -> bool:
    func = node.func
    named = (isinstance(func, ast.Name) and func.id == "show") or (
        isinstance(func, ast.Attribute) and func.attr == "show" and isinstance(func.value, ast.Name)
    )
    return named and bool(node.args)


@functools.lru_cache(maxsize=16)
def _calls_of(source: str) -> _Calls | None:
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return None
    calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call)]
    by_span = {(c.lineno, c.end_lineno, c.col_offset, c.end_col_offset): c for c in calls}
    return _Calls(by_span=by_span, shows=tuple(c for c in calls if _is_show(c)))  # type: ignore[arg-type]


def _instruction_span(frame: FrameType) -> Span | None:
    """``(line, end line, column, end column)`` of the instruction ``frame`` is running, or None when the
    interpreter keeps no positions (before Python 3.11, or with ``-X no_debug_ranges``)."""
    positions = getattr(frame.f_code, "co_positions", None)
    if positions is None or frame.f_lasti < 0:
        return None
    span = next(itertools.islice(positions(), frame.f_lasti // 2, None), None)
    if span is None or any(v is None for v in span):
        return None
    return span


def _source_of(frame: FrameType) -> str:
    return "".join(linecache.getlines(frame.f_code.co_filename, frame.f_globals))


def _cell_key(frame: FrameType) -> tuple[str, Any]:
    """The cell a frame runs in: its file name and, in IPython, the execution count (identical cells share a name)."""
    count = None
    if "IPython" in sys.modules:
        from IPython import get_ipython

        shell = get_ipython()
        count = getattr(shell, "execution_count", None)
    return frame.f_code.co_filename, count


_pairing: list[Any] = [None, 0]  # [cell key, show calls counted in that cell]


def count_show_call(frame: FrameType) -> int:
    """Count one ``show`` call made from ``frame``; returns how many came before it in the same cell (0, 1, ...)."""
    key = _cell_key(frame)
    if _pairing[0] != key:
        _pairing[:] = [key, 0]
    ordinal = _pairing[1]
    _pairing[1] += 1
    return ordinal


def call_label(frame: FrameType, ordinal: int) -> str | None:
    """The source text of the first argument of the ``show(...)`` call running in ``frame`` (its whitespace runs
    collapsed to single spaces), or None when it cannot be found.

    Args:
        frame: the caller of ``show``.
        ordinal: the call's number in its cell (:func:`count_show_call`), used only without instruction positions.
    """
    try:
        source = _source_of(frame)
        calls = _calls_of(source) if source else None
        if calls is None:
            return None
        span = _instruction_span(frame)
        if span is not None:
            node = calls.by_span.get(span)
        else:
            node = calls.shows[ordinal] if ordinal < len(calls.shows) else None
        if node is None or not node.args:
            return None
        segment = ast.get_source_segment(source, node.args[0])
    except Exception:  # a label is never worth an error in the agent's cell
        return None
    text = " ".join(segment.split()) if segment else ""
    return text or None


def figure_label(fig: Any) -> str:
    """A figure's first non-empty axes title, else its suptitle, else :data:`FIGURE_LABEL`."""
    for ax in fig.get_axes():
        title = ax.get_title()
        if title:
            return title
    suptitle = fig.get_suptitle() if hasattr(fig, "get_suptitle") else ""
    return suptitle or FIGURE_LABEL


# --------------------------------------------------------------------------------------------------
# The band
# --------------------------------------------------------------------------------------------------


def band_text(label: str) -> str:
    """The caption written in an image's band."""
    return f"Visualization of {label}"


def _bundled_font() -> Path | None:
    try:
        import matplotlib
    except ImportError:  # pragma: no cover - matplotlib is a pinned dependency
        return None
    return Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"


@functools.cache
def _font() -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """DejaVu Sans at 16 px: the system's copy, else matplotlib's; PIL's default font (with a note on stderr) when
    neither can be read."""
    for path in (FONT_PATH, _bundled_font()):
        if path is None:
            continue
        try:
            return ImageFont.truetype(str(path), FONT_SIZE)
        except OSError:
            continue
    print(
        f"spatialclaw: {FONT_PATH} not found; image labels are drawn in PIL's default font", file=sys.stderr, flush=True
    )
    return ImageFont.load_default(size=FONT_SIZE)


def _text_width(font: Any, text: str) -> int:
    left, _, right, _ = font.getbbox(text)
    return int(right - left)


def _wrap(text: str, font: Any, width: int) -> list[str]:
    """Greedy word wrap: each line as many words as fit in ``width`` px (a longer word keeps a line of its own)."""
    lines: list[str] = []
    for word in text.split():
        joined = f"{lines[-1]} {word}" if lines else word
        if lines and _text_width(font, joined) <= width:
            lines[-1] = joined
        else:
            lines.append(word)
    return lines or [text]


def add_band(img: Image.Image, text: str) -> Image.Image:
    """A new image: a white band over ``img`` with ``text`` in black, centred and word-wrapped to the image width.

    The band is ``max(MIN_BAND, lines * line height + 8)`` px high (line height: the font's height of ``"Ag"`` + 4);
    ``img``'s pixels are copied unchanged below it, in its mode (L, LA, RGB or RGBA).
    """
    font = _font()
    width, height = img.size
    lines = _wrap(text, font, width - 2 * _SIDE_MARGIN)
    line_height = int(font.getbbox("Ag")[3]) + _LINE_GAP
    block = line_height * len(lines)
    band = max(MIN_BAND, block + _BAND_PAD)
    out = Image.new(img.mode, (width, height + band), "white")
    out.paste(img, (0, band))
    draw = ImageDraw.Draw(out)
    y = (band - block) // 2
    for line in lines:
        draw.text(((width - _text_width(font, line)) // 2, y), line, font=font, fill="black")
        y += line_height
    return out
