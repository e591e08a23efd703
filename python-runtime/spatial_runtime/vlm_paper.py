"""The paper profile's ``vlm`` (PrepareConfig ``profile.vlm`` = ``"paper"``; docs/paper-parity.md row 13).

Two isolated calls through the host's VLM bridge (:mod:`spatial_runtime.vlm` holds the connection): the model
sees only a system prompt of the call's own (chosen by the host), the images and the question; no conversation,
no memory between calls.

* ``vlm.locate(images, question) -> str``: grounding, at most :data:`LOCATE_MAX_IMAGES` images. The question is
  sent after :data:`PRESENCE_CHECK`, so the model first decides whether the target is clearly visible and may
  answer ``Not visible``. Bridge route ``POST /vlm/paper/locate`` (model role ``locate``).
* ``vlm.ask_with_thinking(images, question) -> str``: visual reasoning, at most :data:`THINKING_MAX_IMAGES`
  images. Route ``POST /vlm/paper/ask_with_thinking`` (model role ``vlm``).

Both send ``{"images": [base64 PNG, ...], "question": str}`` and read ``{"text": str}``. Images beyond the cap are
dropped with a printed note; images whose long edge exceeds :data:`SEND_MAX_LONG_EDGE` are shrunk (Lanczos, each
side ``int(side * 1024 / long edge)``). Each call prints the question as sent and the answer on stdout. A call
that fails (no bridge, unreachable, the model's error) returns ``"[VLM Error] <message>"`` instead of raising;
images of a type that cannot be sent raise ``TypeError`` before any call.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
from PIL import Image

from spatial_runtime import display
from spatial_runtime.vlm import VLMError, bridge_post, is_configured

__all__ = [
    "LOCATE_MAX_IMAGES",
    "PRESENCE_CHECK",
    "SEND_MAX_LONG_EDGE",
    "THINKING_MAX_IMAGES",
    "PaperVLM",
    "ask_with_thinking",
    "locate",
    "vlm",
]

LOCATE_MAX_IMAGES = 8
THINKING_MAX_IMAGES = 64
SEND_MAX_LONG_EDGE = 1024
TIMEOUT_S = 600.0
"""Seconds a call may take (a cell timeout interrupts it earlier)."""
LOCATE_ROUTE = "/vlm/paper/locate"
THINKING_ROUTE = "/vlm/paper/ask_with_thinking"

PRESENCE_CHECK = (
    "Check first that the thing this request is about can be seen clearly in the image(s). If it cannot be "
    "seen, or several things could be meant, answer with a line that says exactly `Not visible` (one more short "
    "line may say what is there instead) and give no coordinates. Answer the request only when its target is "
    "clearly there.\n\nRequest: "
)
"""Put before every ``vlm.locate`` question (the presence check)."""

_ACCEPTED = "a PIL image or input frame, a uint8 array, an object with a PIL .image, or a list of these"


def _to_pil(obj: Any) -> Image.Image:
    if isinstance(obj, Image.Image):
        return obj
    if isinstance(obj, np.ndarray) and obj.dtype == np.uint8:
        return display.to_pil(obj)
    inner = getattr(obj, "image", None)
    if isinstance(inner, Image.Image):  # a rendered view object that carries its picture
        return inner
    raise TypeError(f"vlm cannot send an object of type {type(obj).__name__}: expected {_ACCEPTED}")


def _images(visual_input: Any) -> list[Image.Image]:
    """The images of ``visual_input``: one image, or a list / iterable of them (InputImages, a slice, ...)."""
    if isinstance(visual_input, (Image.Image, np.ndarray, str, bytes)) or not isinstance(visual_input, Iterable):
        return [_to_pil(visual_input)]
    return [_to_pil(item) for item in visual_input]


def _for_sending(img: Image.Image) -> str:
    w, h = img.size
    longest = max(w, h)
    if longest > SEND_MAX_LONG_EDGE:
        size = (max(1, int(w * SEND_MAX_LONG_EDGE / longest)), max(1, int(h * SEND_MAX_LONG_EDGE / longest)))
        img = img.resize(size, Image.Resampling.LANCZOS)
    return display.encode_png(img)


def _query(name: str, route: str, visual_input: Any, question: str, cap: int, prefix: str) -> str:
    if not isinstance(question, str):
        raise TypeError(f"vlm.{name}: the question must be a str, got {type(question).__name__}")
    images = _images(visual_input)
    dropped = max(0, len(images) - cap)
    sent = prefix + question
    try:
        reply = bridge_post(route, {"images": [_for_sending(img) for img in images[:cap]], "question": sent}, TIMEOUT_S)
        text = reply.get("text")
        if not isinstance(text, str):
            raise VLMError(f"the model bridge sent a reply to {route} without a 'text' string")
    except VLMError as err:
        text = f"[VLM Error] {err}"
    if dropped:
        print(f"[vlm.{name}] only the first {cap} images were sent; the other {dropped} were dropped.")
    print(f"[vlm.{name}] question: {sent}")
    print(f"[vlm.{name}] answer: {text}")
    return text


def locate(images: Any, question: str) -> str:
    """Ask the grounding model about a target in the images; the answer is text (``Not visible`` when it is absent).

    Args:
        images: one image or a list of them (input frames, PIL images, uint8 arrays); the first 8 are sent.
        question: a self-contained request, e.g. ``"Give the centre of the red chair as x y on a 0-1000 scale.
            Reply with only the numbers."``; convert 0-1000 answers with
            ``tools.Geometry.normalized_to_pixel(coords, W, H)``.

    Returns:
        The model's answer; ``"Not visible"`` (maybe with one line about what is there) when the target is absent
        or ambiguous; ``"[VLM Error] ..."`` when the call failed.

    Raises:
        TypeError: images of another type, or a question that is not a str (before any call).
    """
    return _query("locate", LOCATE_ROUTE, images, question, LOCATE_MAX_IMAGES, PRESENCE_CHECK)


def ask_with_thinking(images: Any, question: str) -> str:
    """Ask the reasoning model a question about the images in a fresh, independent call; the answer is text.

    Args:
        images: one image or a list of them (input frames, PIL images, uint8 arrays); the first 64 are sent.
        question: a self-contained question; the call knows nothing else, so do not put conclusions in it.

    Returns:
        The model's answer, or ``"[VLM Error] ..."`` when the call failed.

    Raises:
        TypeError: images of another type, or a question that is not a str (before any call).
    """
    return _query("ask_with_thinking", THINKING_ROUTE, images, question, THINKING_MAX_IMAGES, "")


class PaperVLM:
    """The agent-facing ``vlm`` of the paper profile: ``vlm.locate`` and ``vlm.ask_with_thinking``."""

    @staticmethod
    def locate(images: Any, question: str) -> str:
        return locate(images, question)

    @staticmethod
    def ask_with_thinking(images: Any, question: str) -> str:
        return ask_with_thinking(images, question)

    @property
    def available(self) -> bool:
        """Whether the host configured a model bridge for this session."""
        return is_configured()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        raise AttributeError(f"vlm has no {name!r} in this session; use vlm.locate(...) or vlm.ask_with_thinking(...)")

    def __repr__(self) -> str:
        state = "available" if is_configured() else "not available in this session"
        return (
            f"<vlm ({state}): vlm.locate(images, question) -> str (<= {LOCATE_MAX_IMAGES} images); "
            f"vlm.ask_with_thinking(images, question) -> str (<= {THINKING_MAX_IMAGES} images)>"
        )


PaperVLM.locate.__doc__ = locate.__doc__
PaperVLM.ask_with_thinking.__doc__ = ask_with_thinking.__doc__

vlm = PaperVLM()
