"""Kernel-side client of the host's VLM bridge (docs/kernel-protocol.md, "VLM bridge").

The kernel never holds an API key: ``session.prepare`` passes the bridge URL and a per-session token,
kept in memory only, in the session's state (:mod:`spatial_runtime.context`; never written to disk or to
``os.environ``). Calls are plain HTTP POSTs to ``127.0.0.1`` with the standard library (proxies from the
environment are ignored, :mod:`spatial_runtime._http`):

* ``POST /vlm/ask``    ``{"images": [base64 PNG, ...], "question": str}`` -> ``{"text": str}``
* ``POST /vlm/locate`` ``{"images": [base64 PNG, ...], "target": str}`` -> ``{"points": [[x, y], ...], "text": str}``

Points are normalised to 0-1000 over the width (x) and height (y) of the first image; :func:`to_pixels`
converts them to pixel coordinates. The agent sees the object :data:`vlm` with ``ask``, ``locate`` and
``to_pixels`` (the paper profile's ``vlm`` is :mod:`spatial_runtime.vlm_paper`'s, on other routes).
"""

from __future__ import annotations

import json
import math
import urllib.error
from collections.abc import Iterable
from typing import Any

import numpy as np
from PIL import Image

from spatial_runtime import _http, context, display
from spatial_runtime.context import Endpoint

DEFAULT_TIMEOUT_S = 120.0
NOT_CONFIGURED = "vlm is not available in this session: the host did not configure a model bridge"


class VLMError(RuntimeError):
    """A VLM bridge call failed. The message is the bridge's error text (or what went wrong reaching it).

    Attributes:
        status: the HTTP status of the bridge's answer, or None when no answer came (not configured,
            unreachable, timed out, malformed reply).
    """

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class Points(list):
    """The result of :func:`locate`: a ``list[tuple[float, float]]`` of (x, y) in 0-1000, plus the
    model's ``text`` (its explanation, e.g. why nothing was found)."""

    text: str = ""


def configure(url: str, token: str) -> None:
    """Point the client at the host's bridge. Held in memory only.

    Args:
        url: base URL, e.g. ``"http://127.0.0.1:43210"`` (a trailing slash is ignored).
        token: bearer token sent as ``Authorization: Bearer <token>``.

    Raises:
        ValueError: if ``url`` is not an http(s) URL or ``token`` is not a string.
    """
    context.update(bridge=Endpoint(*Endpoint.checked_parts(url, token, "bridge")))


def clear() -> None:
    """Forget the bridge configuration; later calls raise :class:`VLMError` (not available)."""
    context.update(bridge=None)


def is_configured() -> bool:
    """Whether a bridge is configured for this session."""
    return context.current().bridge is not None


def _encode_images(images: Any) -> list[str]:
    if images is None:
        return []
    return [display.encode_png(display.to_pil(item)) for item in display.flatten([images])]


def bridge_post(route: str, body: dict[str, Any], timeout: float) -> dict[str, Any]:
    """POST ``body`` as JSON to the bridge's ``route``; the reply's JSON object.

    Raises:
        VLMError: not configured, unreachable, timed out, an error answer (its text), or a reply that is not a
            JSON object.
    """
    config = context.current().bridge
    if config is None:
        raise VLMError(NOT_CONFIGURED)
    request = _http.bearer_request(config, route, json.dumps(body).encode("utf-8"), content_type="application/json")
    try:
        with _http.OPENER.open(request, timeout=timeout) as response:
            raw = response.read()
    except urllib.error.HTTPError as err:
        payload, message = _http.read_error(err)
        if isinstance(payload, dict) and "error" in payload:
            text = payload["error"]
            message = text if isinstance(text, str) else json.dumps(text)
        raise VLMError(message, status=err.code) from None
    except TimeoutError:
        raise VLMError(f"the model bridge did not answer {route} within {timeout:g} s") from None
    except urllib.error.URLError as err:
        if isinstance(err.reason, TimeoutError):
            raise VLMError(f"the model bridge did not answer {route} within {timeout:g} s") from None
        raise VLMError(f"cannot reach the model bridge at {config.url}: {err.reason}") from None
    try:
        reply = json.loads(raw)
    except ValueError:
        raise VLMError(f"the model bridge sent a reply to {route} that is not JSON") from None
    if not isinstance(reply, dict):
        raise VLMError(f"the model bridge sent a malformed reply to {route}")
    return reply


def _check_text(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{what} must be a non-empty string, got {value!r}")
    return value


def ask(images: Any, question: str, *, timeout: float = DEFAULT_TIMEOUT_S) -> str:
    """Ask the session's vision-language model a question about images.

    Args:
        images: one image or a list of images: PIL images / input frames, uint8 arrays (H, W), (H, W, 3),
            (H, W, 4), bool masks, float arrays in [0, 1], Figures (as for ``show``); ``None`` or ``[]``
            for a text-only question. Sent as full-resolution PNGs.
        question: the question, a non-empty string.
        timeout: seconds to wait for the answer.

    Returns:
        The model's answer text.

    Raises:
        VLMError: the bridge is not configured, unreachable, timed out, or answered with an error
            (the message is the bridge's error text).
        TypeError, ValueError: for images that cannot be converted, or an empty question.
    """
    _check_text(question, "question")
    reply = bridge_post("/vlm/ask", {"images": _encode_images(images), "question": question}, timeout)
    text = reply.get("text")
    if not isinstance(text, str):
        raise VLMError("the model bridge sent a reply to /vlm/ask without a 'text' string")
    return text


def locate(images: Any, target: str, *, timeout: float = DEFAULT_TIMEOUT_S) -> Points:
    """Ask the model where ``target`` is in the (first) image.

    Args:
        images: one image or a list of images (as for :func:`ask`); at least one.
        target: what to find, e.g. ``"the red chair"``.
        timeout: seconds to wait for the answer.

    Returns:
        A list of (x, y) float tuples normalised to 0-1000 over the first image's width (x) and height
        (y), possibly empty; its ``.text`` attribute holds the model's text. Convert with
        ``vlm.to_pixels(points, image)``.

    Raises:
        VLMError: as for :func:`ask`, or if the reply's points are not ``[[x, y], ...]`` numbers.
        TypeError, ValueError: for images that cannot be converted, no image, or an empty target.
    """
    _check_text(target, "target")
    encoded = _encode_images(images)
    if not encoded:
        raise ValueError("vlm.locate needs at least one image")
    reply = bridge_post("/vlm/locate", {"images": encoded, "target": target}, timeout)
    raw_points = reply.get("points")
    if not isinstance(raw_points, list):
        raise VLMError("the model bridge sent a reply to /vlm/locate without a 'points' list")
    points = Points()
    for p in raw_points:
        if (
            not isinstance(p, (list, tuple))
            or len(p) != 2
            or not all(isinstance(c, (int, float)) and not isinstance(c, bool) and math.isfinite(c) for c in p)
        ):
            raise VLMError(f"the model bridge sent a malformed point {p!r}; expected [x, y] numbers")
        points.append((float(p[0]), float(p[1])))
    text = reply.get("text", "")
    points.text = text if isinstance(text, str) else ""
    return points


def _size_of(image_or_size: Any) -> tuple[int, int]:
    if isinstance(image_or_size, np.ndarray):
        if image_or_size.ndim < 2:
            raise ValueError(f"expected an image array (H, W[, C]), got shape {image_or_size.shape}")
        return int(image_or_size.shape[1]), int(image_or_size.shape[0])
    if isinstance(image_or_size, Image.Image):
        return image_or_size.size
    if isinstance(image_or_size, (tuple, list)) and len(image_or_size) == 2:
        w, h = image_or_size
        return int(w), int(h)
    size = getattr(image_or_size, "size", None)
    if isinstance(size, tuple) and len(size) == 2:
        return int(size[0]), int(size[1])
    raise TypeError(
        f"to_pixels needs an image (PIL image/frame or array (H, W[, C])) or a (width, height) tuple, "
        f"got {type(image_or_size).__name__}"
    )


def to_pixels(points: Iterable[Any], image_or_size: Any) -> list[tuple[float, float]]:
    """Convert points normalised to 0-1000 into pixel coordinates of an image.

    The 0-1000 range spans the image from its left/top edge (0) to its right/bottom edge (1000). The
    result follows the project's pixel convention (docs/conventions.md): u along columns, v along rows,
    origin at the CENTRE of the top-left pixel, so ``u = x * W / 1000 - 0.5`` and
    ``v = y * H / 1000 - 0.5`` (0 maps to -0.5, the left edge; 1000 maps to W - 0.5, the right edge).
    Index an array with ``int(round(u))`` clipped to ``[0, W - 1]``.

    Args:
        points: (x, y) pairs in 0-1000 (e.g. the result of :func:`locate`), or one (x, y) pair.
        image_or_size: the image the points refer to (PIL image/frame, or an array (H, W[, C])), or its
            size as a ``(width, height)`` tuple (PIL order).

    Returns:
        A list of (u, v) float tuples in pixels.

    Raises:
        ValueError: if the points are not (N, 2) numbers.
        TypeError: if ``image_or_size`` is neither an image nor a (width, height) pair.
    """
    w, h = _size_of(image_or_size)
    arr = np.asarray(points, dtype=np.float64)
    if arr.shape == (2,):
        arr = arr[None, :]
    if arr.size == 0:
        return []
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError(f"points must be (x, y) pairs with shape (N, 2), got shape {arr.shape}")
    return [(float(x) * w / 1000.0 - 0.5, float(y) * h / 1000.0 - 0.5) for x, y in arr]


class _VLM:
    """The agent-facing ``vlm`` object: ``vlm.ask``, ``vlm.locate``, ``vlm.to_pixels`` (and ``vlm.VLMError``)."""

    VLMError = VLMError

    @staticmethod
    def ask(images: Any, question: str, *, timeout: float = DEFAULT_TIMEOUT_S) -> str:
        return ask(images, question, timeout=timeout)

    @staticmethod
    def locate(images: Any, target: str, *, timeout: float = DEFAULT_TIMEOUT_S) -> Points:
        return locate(images, target, timeout=timeout)

    @staticmethod
    def to_pixels(points: Iterable[Any], image_or_size: Any) -> list[tuple[float, float]]:
        return to_pixels(points, image_or_size)

    @property
    def available(self) -> bool:
        """Whether the host configured a model bridge for this session."""
        return is_configured()

    def __repr__(self) -> str:
        state = "available" if is_configured() else "not available in this session"
        return (
            f"<vlm ({state}): vlm.ask(images, question) -> str; "
            "vlm.locate(images, target) -> [(x, y), ...] in 0-1000; vlm.to_pixels(points, image) -> pixels>"
        )


_VLM.ask.__doc__ = ask.__doc__
_VLM.locate.__doc__ = locate.__doc__
_VLM.to_pixels.__doc__ = to_pixels.__doc__

vlm = _VLM()
