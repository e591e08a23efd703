"""What the agent shows and answers: ``show``, ``plt.show`` capture and ``ReturnAnswer``.

Everything reaches the host as ``display_data`` messages (docs/kernel-protocol.md, "Outputs the host
recognises"); nothing is signalled through stdout.

* ``show(...)`` and ``plt.show()`` publish one bundle per image::

    {"image/png": "<base64 PNG>",
     "application/vnd.spatialclaw.image+json":
         {"label": str | None, "index": int, "width": int, "height": int, "source": "show" | "plt"}}

  ``index`` counts the images of the session from 0 (:func:`reset_counter`, called by
  ``session.prepare`` and ``session.reset``). ``width`` and ``height`` are those of the PNG that is sent:
  images whose long edge exceeds :func:`get_max_long_edge` (default 1024 px) are downscaled for
  transport, keeping the aspect ratio. The arrays in the kernel are never changed.

  Under the ``paper`` profile (docs/paper-parity.md row 18.5) every such image first gets a white band on top
  reading "Visualization of <label>" (:mod:`spatial_runtime.show_labels`), and ``width``/``height`` are those of
  the banded image; an unlabelled ``show`` call is labelled with the source text of its first argument, a
  ``plt.show()`` figure with its title, and figures are rendered at 100 dpi.
* ``ReturnAnswer(answer)`` publishes::

    {"application/vnd.spatialclaw.answer+json": {"answer": str | int | float, "type": "str" | "int" | "float"},
     "text/plain": "Answer submitted: ..."}

  It may be called more than once; the host keeps the last answer.
* ``tools.Reconstruct`` and ``tools.SAM3`` publish one artifact record per server request
  (:func:`spatial_runtime.tools._common.publish_artifact`) under :data:`ARTIFACT_MIME`.

The three MIME types are defined here, once, and imported wherever they are needed.
"""

from __future__ import annotations

import base64
import io
import math
import numbers
import sys
import threading
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
from PIL import Image
from spatial_common.contract import MIME_ANSWER, MIME_ARTIFACT, MIME_IMAGE

from spatial_runtime import context, show_labels

# The display bundle MIME types are a cross-language contract (shared/contracts/kernel.ts, docs/contracts.md).
IMAGE_MIME = MIME_IMAGE
ANSWER_MIME = MIME_ANSWER
ARTIFACT_MIME = MIME_ARTIFACT
DEFAULT_MAX_LONG_EDGE = 1024
PAPER_FIGURE_DPI = 100
GENERIC_LABEL = "image"
"""The paper profile's label of an unlabelled show() image whose call's source cannot be read (not an input frame)."""

_ACCEPTED = (
    "a PIL image (or an input frame), a uint8 array of shape (H, W), (H, W, 3) or (H, W, 4), "
    "a bool mask (H, W), a float array with values in [0, 1], a matplotlib Figure, or a list of these"
)

_lock = threading.Lock()
_counter = 0
_max_long_edge = DEFAULT_MAX_LONG_EDGE


def _ipython_publish(data: dict[str, Any]) -> None:
    from IPython.display import publish_display_data

    publish_display_data(data)


# Every bundle goes through this name; tests replace it to capture bundles without a kernel.
_publish: Callable[[dict[str, Any]], None] = _ipython_publish


def publish(bundle: dict[str, Any]) -> None:
    """Send one ``display_data`` bundle (MIME type -> payload) to the host, through ``_publish``."""
    _publish(bundle)


def reset_counter() -> None:
    """Restart the per-session image ``index`` at 0."""
    global _counter
    with _lock:
        _counter = 0


def _next_index() -> int:
    global _counter
    with _lock:
        index = _counter
        _counter += 1
    return index


def set_max_long_edge(pixels: int | None) -> None:
    """Set the longest edge, in pixels, of images sent to the host (``None`` = never downscale).

    Raises:
        ValueError: if ``pixels`` is not a positive int or None.
    """
    global _max_long_edge
    if pixels is not None and (isinstance(pixels, bool) or not isinstance(pixels, int) or pixels < 1):
        raise ValueError(f"max long edge must be a positive int (pixels) or None, got {pixels!r}")
    _max_long_edge = pixels


def get_max_long_edge() -> int | None:
    """The longest edge, in pixels, of images sent to the host; ``None`` means no downscaling."""
    return _max_long_edge


# --------------------------------------------------------------------------------------------------
# Conversion to PIL
# --------------------------------------------------------------------------------------------------


def _is_figure(obj: Any) -> bool:
    try:
        from matplotlib.figure import Figure
    except ImportError:  # pragma: no cover - matplotlib is a pinned dependency
        return False
    return isinstance(obj, Figure)


def _array_to_pil(arr: np.ndarray) -> Image.Image:
    shape = arr.shape
    if arr.ndim == 3 and shape[2] == 1:
        arr = arr[:, :, 0]
    if not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] in (3, 4))):
        raise ValueError(
            f"cannot show an array of shape {shape}: expected (H, W), (H, W, 3) or (H, W, 4). "
            "For a stack of frames pass a list, e.g. show(list(frames)) or show(frames[0])."
        )
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"cannot show an empty array of shape {shape}")
    if arr.dtype == np.uint8:
        out = arr
    elif arr.dtype == np.bool_:
        out = arr.astype(np.uint8) * 255
    elif np.issubdtype(arr.dtype, np.floating):
        finite = np.isfinite(arr)
        if finite.any():
            lo, hi = float(arr[finite].min()), float(arr[finite].max())
            if lo < 0.0 or hi > 1.0:
                raise ValueError(
                    f"cannot show a {arr.dtype} array of shape {shape} with values in [{lo:.4g}, {hi:.4g}]: "
                    "float images must be in [0, 1]. Normalise first, e.g. show(depth / np.nanmax(depth)), "
                    "or plot it with plt.imshow(depth); plt.colorbar(); plt.show()."
                )
        out = np.round(np.where(finite, arr, 0.0) * 255.0).astype(np.uint8)
    else:
        raise TypeError(
            f"cannot show an array of dtype {arr.dtype} (shape {shape}): expected uint8, bool, or float in [0, 1]. "
            "Convert first, e.g. show(np.clip(a, 0, 255).astype(np.uint8)) or show(a / a.max())."
        )
    return Image.fromarray(np.ascontiguousarray(out))


def _normalise_pil(img: Image.Image) -> Image.Image:
    mode = img.mode
    if mode in ("RGB", "RGBA", "L", "LA"):
        return img
    if mode == "1":
        return img.convert("L")
    if mode == "P":
        return img.convert("RGBA" if "transparency" in img.info else "RGB")
    if mode in ("RGBa", "PA"):
        return img.convert("RGBA")
    if mode == "La":
        return img.convert("LA")
    if mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        return _array_to_pil(np.asarray(img))
    return img.convert("RGB")


def to_pil(obj: Any, dpi: float | None = None) -> Image.Image:
    """Convert one showable object to an 8-bit PIL image (modes L, LA, RGB or RGBA).

    Args:
        obj: a PIL image (input frames are PIL images); a numpy array of shape (H, W), (H, W, 1),
            (H, W, 3) or (H, W, 4) with dtype uint8, bool (mask: False = 0, True = 255) or float with
            values in [0, 1] (NaN/inf are drawn black); a matplotlib Figure (rendered at ``dpi``, default its
            savefig dpi, with a tight bounding box); or any object exposing ``__array__`` with one of those layouts.
        dpi: the resolution of a Figure; ignored for other objects.

    Returns:
        A PIL image at the object's full resolution (no downscaling here).

    Raises:
        TypeError: for other types or array dtypes.
        ValueError: for other array shapes, empty arrays, or float values outside [0, 1].
    """
    if isinstance(obj, Image.Image):
        return _normalise_pil(obj)
    if isinstance(obj, np.ndarray):
        return _array_to_pil(obj)
    if _is_figure(obj):
        buf = io.BytesIO()
        obj.savefig(buf, format="png", bbox_inches="tight", dpi=dpi)
        buf.seek(0)
        img = Image.open(buf)
        img.load()
        return _normalise_pil(img)
    if hasattr(obj, "__array__") and not isinstance(obj, (str, bytes, list, tuple, dict)):
        return _array_to_pil(np.asarray(obj))
    raise TypeError(f"cannot show an object of type {type(obj).__name__}: expected {_ACCEPTED}")


def flatten(items: Iterable[Any]) -> list[Any]:
    """The images in ``items``, in order: (nested) lists/tuples and frame collections are opened up."""
    out: list[Any] = []
    for item in items:
        if isinstance(item, (list, tuple)):
            out.extend(flatten(item))
        elif is_frame_collection(item):
            out.extend(flatten(list(item)))
        else:
            out.append(item)
    return out


def is_frame_collection(obj: Any) -> bool:
    """Frame collections (objects with ``frame_indices`` that iterate over frames) are shown frame by frame."""
    if isinstance(obj, (Image.Image, np.ndarray, str, bytes)) or _is_figure(obj):
        return False
    return hasattr(obj, "frame_indices") and hasattr(obj, "__iter__")


def downscale(img: Image.Image, max_long_edge: int | None) -> Image.Image:
    """Shrink ``img`` so that its longer side is at most ``max_long_edge`` pixels, keeping the aspect ratio.

    Returns ``img`` itself when it is already small enough or ``max_long_edge`` is None. Uses Lanczos
    resampling; each side is rounded to the nearest pixel (at least 1).
    """
    w, h = img.size
    if max_long_edge is None or max(w, h) <= max_long_edge:
        return img
    scale = max_long_edge / max(w, h)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return img.resize(size, Image.Resampling.LANCZOS)


def encode_png(img: Image.Image) -> str:
    """Encode a PIL image as base64 PNG text (ASCII)."""
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=3)
    return base64.b64encode(buf.getvalue()).decode("ascii")


# --------------------------------------------------------------------------------------------------
# show and plt.show
# --------------------------------------------------------------------------------------------------


def _close_figure(fig: Any) -> None:
    import sys

    plt = sys.modules.get("matplotlib.pyplot")
    if plt is not None:
        plt.close(fig)


def image_bundle(img: Image.Image, label: str | None, index: int, source: str = "show") -> dict[str, Any]:
    """The ``display_data`` bundle of one image: ``{"image/png": base64 PNG, IMAGE_MIME: {"label", "index",
    "width", "height", "source"}}`` (width and height in pixels of the PNG; ``source`` ``"show"`` or ``"plt"``)."""
    meta = {"label": label, "index": index, "width": img.size[0], "height": img.size[1], "source": source}
    return {"image/png": encode_png(img), IMAGE_MIME: meta}


def _paper_labels() -> bool:
    """Whether the session's profile draws label bands and derives labels the paper's way (row 18.5)."""
    return getattr(context.current().profile, "name", "default") == "paper"


def _publish_image(img: Image.Image, label: str | None, source: str, band: bool = False) -> None:
    if band:
        img = show_labels.add_band(img, show_labels.band_text(label or GENERIC_LABEL))
    img = downscale(img, _max_long_edge)
    publish(image_bundle(img, label, _next_index(), source))


def _default_label(obj: Any) -> str | None:
    index = getattr(obj, "frame_index", None)
    if isinstance(index, numbers.Integral) and not isinstance(index, bool):
        return f"frame {int(index)}"
    return None


def show(*images: Any, label: str | None = None) -> None:
    """Show images to the model and the user.

    Args:
        *images: PIL images (input frames included), numpy arrays (uint8 (H, W), (H, W, 3) RGB or
            (H, W, 4) RGBA; bool (H, W) masks; float arrays with values in [0, 1]), matplotlib Figures,
            frame collections such as ``InputImages``, or (nested) lists/tuples of these. Figures passed
            here are closed in pyplot afterwards, so a later ``plt.show()`` does not show them again.
        label: caption for the images. With several images each gets ``"<label> (k/n)"``; without a
            label, an input frame is captioned ``"frame <absolute index>"``. Under the paper profile an empty
            label counts as none, the caption defaults to the source text of the first argument (e.g.
            ``"InputImages[3]"``; ``"(k/n)"`` added for several images), and each image gets a white band
            on top reading ``"Visualization of <caption>"``.

    Every image is validated before any is published, and each is sent as one ``display_data`` bundle
    (see the module docstring) downscaled to the session's max long edge (default 1024 px).

    Raises:
        TypeError: for an unsupported type or array dtype (the message says what is accepted).
        ValueError: for an unsupported array shape, an empty array, float values outside [0, 1], or no images.
    """
    if label is not None and not isinstance(label, str):
        label = str(label)
    items = flatten(images)
    if not items:
        raise ValueError(f"show() needs at least one image: {_ACCEPTED}")
    paper = _paper_labels()
    converted = [to_pil(item, PAPER_FIGURE_DPI if paper else None) for item in items]
    if paper:
        caller = sys._getframe(1)
        ordinal = show_labels.count_show_call(caller)
        label = label or show_labels.call_label(caller, ordinal)
    n = len(items)
    for k, (item, img) in enumerate(zip(items, converted, strict=True)):
        if label is not None:
            caption = label if n == 1 else f"{label} ({k + 1}/{n})"
        elif paper:
            base = _default_label(item) or GENERIC_LABEL
            caption = base if n == 1 else f"{base} ({k + 1}/{n})"
        else:
            caption = _default_label(item)
        _publish_image(img, caption, "show", band=paper)
        if _is_figure(item):
            _close_figure(item)


def _plt_show(*args: Any, **kwargs: Any) -> None:
    """Replacement for ``matplotlib.pyplot.show``: publish every open figure (source "plt"), then close them.

    The arguments of ``pyplot.show`` (``block``) are accepted and ignored. A figure's label is its ``label``
    property; under the paper profile it is its first axes title, else its suptitle, else "matplotlib figure",
    and the figure is rendered at 100 dpi and banded.
    """
    import matplotlib.pyplot as plt

    paper = _paper_labels()
    try:
        for num in plt.get_fignums():
            fig = plt.figure(num)
            if paper:
                label = show_labels.figure_label(fig)
                _publish_image(to_pil(fig, PAPER_FIGURE_DPI), label, "plt", band=True)
            else:
                _publish_image(to_pil(fig), fig.get_label() or None, "plt")
    finally:
        plt.close("all")


def install_plt_hook() -> None:
    """Select matplotlib's Agg backend and make ``plt.show()`` publish figures through :func:`show`.

    Idempotent. Agg is selected before pyplot is imported (or switched to if pyplot is already loaded), so
    ipykernel's inline backend never loads and never sends its own copy of the figures.
    """
    import matplotlib

    matplotlib.use("Agg")  # a no-op when Agg is already selected
    import matplotlib.pyplot as plt

    plt.show = _plt_show


# --------------------------------------------------------------------------------------------------
# ReturnAnswer
# --------------------------------------------------------------------------------------------------


class AnswerError(TypeError, ValueError):
    """Raised by :func:`ReturnAnswer` for an answer of the wrong type or an empty/non-finite value.

    It is both a ``TypeError`` and a ``ValueError``, so either ``except`` clause catches it.
    """


_ANSWER_EXPECTS = "ReturnAnswer expects a non-empty str, an int or a float; got {got}."
_ANSWER_HELP = _ANSWER_EXPECTS + " For multiple choice, return the option letter, e.g. ReturnAnswer('B')."


def _check_answer(answer: Any) -> str | int | float:
    if isinstance(answer, np.ndarray) and answer.ndim == 0:
        answer = answer[()]
    if isinstance(answer, (bool, np.bool_)):
        raise AnswerError(
            _ANSWER_EXPECTS.format(got=f"bool ({answer})") + " For a yes/no question, return the word, e.g. 'yes'."
        )
    if isinstance(answer, str):
        text = str(answer).strip()
        if not text:
            raise AnswerError(_ANSWER_HELP.format(got="an empty string"))
        return text
    if isinstance(answer, (int, np.integer)):
        return int(answer)
    if isinstance(answer, (float, np.floating)):
        value = float(answer)
        if not math.isfinite(value):
            raise AnswerError(_ANSWER_EXPECTS.format(got=f"float {value}") + " The answer must be a finite number.")
        return value
    if answer is None:
        raise AnswerError(_ANSWER_HELP.format(got="None"))
    if isinstance(answer, np.ndarray):
        got = f"ndarray of shape {answer.shape}"
    else:
        got = type(answer).__name__
    raise AnswerError(_ANSWER_HELP.format(got=got))


def ReturnAnswer(answer: Any) -> None:  # noqa: N802 - the agent-facing name is fixed by the protocol
    """Submit the final answer of the sample.

    Args:
        answer: a non-empty ``str`` (leading/trailing whitespace is stripped), an ``int`` or a finite
            ``float``. NumPy integer and floating scalars (and 0-d arrays) are converted to int/float.
            ``bool`` is not accepted (return ``'yes'``/``'no'`` or the option letter instead).

    Publishes ``{"application/vnd.spatialclaw.answer+json": {"answer": ..., "type": "str"|"int"|"float"},
    "text/plain": "Answer submitted: ..."}``. May be called more than once: the host uses the last answer.

    Raises:
        AnswerError: (a TypeError and ValueError) for None, empty strings, NaN/inf, bool or any other type.
    """
    value = _check_answer(answer)
    kind = type(value).__name__
    shown = repr(value) if len(repr(value)) <= 200 else repr(value)[:199] + "…"
    publish({ANSWER_MIME: {"answer": value, "type": kind}, "text/plain": f"Answer submitted: {shown}"})
