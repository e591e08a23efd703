"""The backend interface of the perception server, and the request/result types it exchanges.

Shapes, dtypes, units and frames follow docs/conventions.md and docs/perception-api.md:
images are (H, W, 3) uint8 RGB; depth is (H, W) float32 metres; intrinsics are (3, 3) float64 pixels;
poses/extrinsics are (4, 4) float64 camera-to-world in OpenCV camera axes (x right, y down, z forward);
frame indices are absolute in the source video.
"""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np
from numpy.typing import NDArray

from spatial_perception.errors import BadRequest

Capability = Literal["reconstruct", "segment_image", "segment_video", "text", "points", "box"]


@dataclass(frozen=True)
class TextPrompt:
    text: str
    threshold: float = 0.3


@dataclass(frozen=True)
class PointsPrompt:
    """Points in pixels (u, v), with labels 1 = foreground, 0 = background."""

    points: NDArray[np.float64]  # (P, 2)
    labels: NDArray[np.int64]  # (P,)


@dataclass(frozen=True)
class BoxPrompt:
    """Box [x1, y1, x2, y2] in pixels, x2 > x1 and y2 > y1."""

    box: NDArray[np.float64]  # (4,)


Prompt = TextPrompt | PointsPrompt | BoxPrompt


@dataclass
class ReconstructRequest:
    """Frames to reconstruct.

    Attributes:
        frames: N images, each (H, W, 3) uint8 RGB, all the same size.
        frame_indices: N absolute frame indices.
        depth: (N, H, W) float32 metric depth in metres (0 = invalid), or None (backends that need it reject).
        intrinsics: (N, 3, 3) float64 pixels, or None.
        poses: (N, 4, 4) float64 camera-to-world, or None (the backend estimates them).
        params: backend parameters (docs/perception-api.md, "Params").
    """

    frames: list[NDArray[np.uint8]]
    frame_indices: list[int]
    depth: NDArray[np.float32] | None = None
    intrinsics: NDArray[np.float64] | None = None
    poses: NDArray[np.float64] | None = None
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class Reconstruction:
    """A reconstruction, before or after gravity alignment.

    Attributes:
        frame_indices: (N,) int64 absolute frame indices.
        depth: (N, H, W) float32 metres, 0 = invalid.
        confidence: (N, H, W) float32 in [0, 1].
        points: (N, H, W, 3) float32 world coordinates in metres, NaN where invalid.
        extrinsics: (N, 4, 4) float64 camera-to-world, OpenCV camera axes.
        intrinsics: (N, 3, 3) float64 pixels.
        colors: (N, H, W, 3) uint8 RGB.
        info: method, notes, alignment, per-frame odometry diagnostics, ...
    """

    frame_indices: NDArray[np.int64]
    depth: NDArray[np.float32]
    confidence: NDArray[np.float32]
    points: NDArray[np.float32]
    extrinsics: NDArray[np.float64]
    intrinsics: NDArray[np.float64]
    colors: NDArray[np.uint8]
    info: dict[str, Any] = field(default_factory=dict)

    def arrays(self) -> dict[str, np.ndarray]:
        return {
            "frame_indices": self.frame_indices,
            "depth": self.depth,
            "confidence": self.confidence,
            "points": self.points,
            "extrinsics": self.extrinsics,
            "intrinsics": self.intrinsics,
            "colors": self.colors,
        }


@dataclass
class SegmentImageRequest:
    image: NDArray[np.uint8]  # (H, W, 3) RGB
    prompt: Prompt
    params: dict[str, Any] = field(default_factory=dict)
    #: Absolute index of the image in its video (recorded in the result's ``frame_indices``); 0 when not given.
    frame_index: int = 0


@dataclass
class SegmentVideoRequest:
    """Frames of one video (same size), the absolute index of the frame the prompt refers to, and the prompt."""

    frames: list[NDArray[np.uint8]]
    frame_indices: list[int]
    prompt_frame_index: int
    prompt: Prompt
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class MaskResult:
    """Masks for T frames and K objects.

    Attributes:
        masks: (T, K, H, W) bool.
        scores: (T, K) float32 in [0, 1].
        frame_indices: (T,) int64 absolute.
        labels: K object labels (the text prompt, GT label names, or "object 1", ...).
        info: method, notes, ...
    """

    masks: NDArray[np.bool_]
    scores: NDArray[np.float32]
    frame_indices: NDArray[np.int64]
    labels: list[str]
    info: dict[str, Any] = field(default_factory=dict)

    def arrays(self) -> dict[str, np.ndarray]:
        return {"masks": self.masks, "scores": self.scores, "frame_indices": self.frame_indices}


def has_module(name: str) -> bool:
    """Whether ``name`` can be imported, without importing it."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def default_torch_device() -> str:
    """``"cuda"`` when torch is installed and sees a GPU, else ``"cpu"`` (also for a broken torch install,
    which the backend's ``available()`` then reports)."""
    if not has_module("torch"):
        return "cpu"
    try:
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    except Exception:
        return "cpu"


def reject_unknown_params(
    backend: str, params: Mapping[str, Any], accepted: Iterable[str], server_keys: Iterable[str] = ()
) -> None:
    """Raise :class:`~spatial_perception.errors.BadRequest` for keys a backend does not know.

    Args:
        backend: the backend's name, for the message.
        params: the request's params.
        accepted: the backend's own parameter names.
        server_keys: keys the server core or other layers own (accepted silently).

    Raises:
        BadRequest: naming the unknown keys; the fix lists the accepted ones.
    """
    known = set(accepted) | set(server_keys)
    unknown = sorted(k for k in params if k not in known)
    if unknown:
        raise BadRequest(
            f"unknown param(s) {', '.join(map(repr, unknown))} for the {backend} backend",
            fix=f"use: {', '.join(sorted(known))}",
        )


def backend_params(
    backend: str, params: Mapping[str, Any] | None, defaults: Mapping[str, Any], server_keys: Iterable[str] = ()
) -> dict[str, Any]:
    """A backend's params: ``defaults`` overridden by the request's values for those keys.

    Args:
        backend: the backend's name, for the message.
        params: the request's params (None = none).
        defaults: the backend's own parameters with their default values.
        server_keys: keys the server core or other layers own (accepted; not in the result).

    Raises:
        BadRequest: a key that is neither a backend parameter nor a server key (see :func:`reject_unknown_params`).
    """
    params = dict(params or {})
    reject_unknown_params(backend, params, defaults, server_keys)
    return {k: params.get(k, v) for k, v in defaults.items()}


def align_gravity_param(params: Mapping[str, Any]) -> bool:
    """``params.align_gravity`` (default True).

    Raises:
        BadRequest: not a bool.
    """
    align = params.get("align_gravity", True)
    if not isinstance(align, bool):
        raise BadRequest(f"params.align_gravity must be true or false, got {align!r}", fix="send a bool")
    return align


class Backend:
    """Base class of all backends. Subclasses set the class attributes and override what they support.

    ``cancel`` is set by the server when the client went away or the request timed out; long loops
    should check ``cancel.is_set()`` between frames and raise :class:`spatial_perception.errors.Cancelled`.
    Methods raise :class:`spatial_perception.errors.PerceptionError` subclasses for problems the
    client can fix (they become 4xx JSON errors naming the argument and the fix).
    """

    name: ClassVar[str] = "base"
    version: ClassVar[str] = "0"
    capabilities: ClassVar[frozenset[str]] = frozenset()
    device: str = "cpu"

    def available(self) -> tuple[bool, str | None]:
        """Whether the backend can run here; when not, a reason that names the fix."""
        return True, None

    def reconstruct(self, req: ReconstructRequest, cancel: threading.Event) -> Reconstruction:
        raise NotImplementedError

    def segment_image(self, req: SegmentImageRequest, cancel: threading.Event) -> MaskResult:
        raise NotImplementedError

    def segment_video(self, req: SegmentVideoRequest, cancel: threading.Event) -> MaskResult:
        raise NotImplementedError
