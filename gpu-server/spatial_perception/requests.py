"""Compute requests of the perception server: field lists, structural checks, prompts, and the call objects.

docs/perception-api.md ("Routes") is the contract. Parsing happens in two phases so that cache hits skip the
expensive part:

1. ``parse_*`` checks the structure of the msgpack map (types, counts, frame indices, params, the prompt's
   fields) without decoding images or arrays, and returns a :class:`Call` holding the raw bytes.
2. ``call.decode(pool)`` decodes the frames (``cv2.imdecode``, optionally on a thread pool) and the ``.npy``
   inputs, checks everything that needs their contents (sizes, depth, intrinsics, poses, prompt inside the
   image) and returns the request dataclass of :mod:`spatial_perception.backends.base`.

Each compute route's path, artifact kind and request fields (:data:`ROUTES`) and the arrays a ``return`` field
may list (:data:`RETURNABLE`) come from the generated contract ``spatial_common.contract`` (source:
``shared/contracts/perception-api.ts`` and ``arrays.ts``; docs/contracts.md).

All problems a client can fix raise :class:`~spatial_perception.errors.BadRequest` naming the argument and the fix.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from spatial_common.contract import ROUTES, returnable

from spatial_perception.backends.base import (
    BoxPrompt,
    PointsPrompt,
    Prompt,
    ReconstructRequest,
    SegmentImageRequest,
    SegmentVideoRequest,
    TextPrompt,
)
from spatial_perception.codec import canonical_json, decode_image, decode_npy
from spatial_perception.errors import BadRequest
from spatial_perception.validation import check_depth, check_intrinsics, check_poses, frame_label

RETURNABLE: dict[str, frozenset[str]] = {route: returnable(route) for route in ROUTES}
"""Compute route -> the array names its ``return`` field may list (every array of its artifact kind)."""

SERVER_PARAMS = ("timeout_s", "max_frames")
"""Params the server consumes itself; backends never see them and they are not part of the cache key."""


def _route_label(route: str) -> str:
    """How messages name a route: its path without ``/v1/`` (``segment/image``)."""
    return ROUTES[route]["path"].removeprefix("/v1/")


# --------------------------------------------------------------------------------------------------
# structural checks
# --------------------------------------------------------------------------------------------------


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _check_keys(msg: Mapping[str, Any], route: str) -> None:
    spec = ROUTES[route]
    unknown = sorted(set(msg) - set(spec["fields"]))
    if unknown:
        raise BadRequest(
            f"{_route_label(route)} got unknown field(s) {', '.join(map(repr, unknown))}; "
            f"it accepts {', '.join(spec['fields'])}",
            fix="check the spelling (docs/perception-api.md, Routes); backend options go in params",
        )
    for key in spec["required"]:
        if msg.get(key) is None:
            raise BadRequest(
                f"{_route_label(route)} needs {key!r}", fix=f"add {key!r} to the request (docs/perception-api.md)"
            )


def backend_name(msg: Mapping[str, Any]) -> str:
    """The ``backend`` field of a request.

    Raises:
        BadRequest: when it is missing or not a non-empty str.
    """
    name = msg.get("backend")
    if not isinstance(name, str) or not name:
        raise BadRequest(
            "'backend' must be the name of one of the server's backends (a non-empty str)",
            fix="add 'backend', e.g. 'rgbd'; GET /v1/backends lists them",
        )
    return name


def parse_return(value: Any, route: str) -> frozenset[str] | None:
    """The optional ``return`` field: which arrays to send back (all are stored in the artifact either way).

    Raises:
        BadRequest: not a list of array names of this route's artifact kind (:data:`RETURNABLE`).
    """
    if value is None:
        return None
    allowed = RETURNABLE[route]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BadRequest("'return' must be a list of array names", fix=f"use names from {sorted(allowed)}")
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise BadRequest(f"'return' names unknown arrays {unknown}", fix=f"use names from {sorted(allowed)}")
    return frozenset(value)


def _frames(msg: Mapping[str, Any], label: str) -> list[bytes]:
    frames = msg.get("frames")
    if not isinstance(frames, list):
        raise BadRequest(
            f"{label}: 'frames' must be a list of PNG/JPEG bytes, got {type(frames).__name__}",
            fix="send frames as a msgpack array of bin values",
        )
    if not frames:
        raise BadRequest(f"{label}: 'frames' is empty; send at least one frame", fix="pass one or more frames")
    for i, f in enumerate(frames):
        if not isinstance(f, bytes | bytearray):
            raise BadRequest(
                f"{label}: frames[{i}] must be PNG/JPEG bytes (msgpack bin), got {type(f).__name__}",
                fix="pack the encoded image bytes with use_bin_type=True",
            )
    return frames


def _frame_indices(msg: Mapping[str, Any], label: str, n: int) -> list[int]:
    idx = msg.get("frame_indices")
    if not isinstance(idx, list) or not all(_is_int(i) for i in idx):
        raise BadRequest(
            f"{label}: 'frame_indices' must be a list of int (the absolute index of each frame in its video)",
            fix="send one int per frame, e.g. [0, 10, 20]",
        )
    if len(idx) != n:
        raise BadRequest(
            f"{label}: len(frame_indices) is {len(idx)} but len(frames) is {n}",
            fix="send exactly one absolute frame index per frame, in the same order as frames",
        )
    if any(i < 0 for i in idx):
        raise BadRequest(f"{label}: frame_indices must be >= 0, got {min(idx)}", fix="use absolute frame indices")
    if len(set(idx)) != len(idx):
        dup = sorted({i for i in idx if idx.count(i) > 1})
        raise BadRequest(
            f"{label}: frame_indices has duplicates {dup[:10]}",
            fix="send each frame once, with its own absolute index",
        )
    return [int(i) for i in idx]


def _params(msg: Mapping[str, Any], label: str) -> dict[str, Any]:
    params = msg.get("params")
    if params is None:
        return {}
    if not isinstance(params, dict):
        raise BadRequest(f"{label}: 'params' must be a map, got {type(params).__name__}", fix="send params as a map")
    canonical_json(params, "params")
    return dict(params)


def _timeout(params: dict[str, Any]) -> float | None:
    t = params.get("timeout_s")
    if t is None:
        return None
    if not _is_number(t) or t <= 0:
        raise BadRequest(f"params.timeout_s must be a number of seconds > 0, got {t!r}", fix="e.g. timeout_s=120")
    return float(t)


def _sized_bin(msg: Mapping[str, Any], key: str, label: str) -> bytes | None:
    v = msg.get(key)
    if v is None:
        return None
    if not isinstance(v, bytes | bytearray):
        raise BadRequest(
            f"{label}: {key!r} must be .npy bytes (numpy.save) or nil, got {type(v).__name__}",
            fix=f"send {key} as the bytes of numpy.save, never a JSON/msgpack list",
        )
    return bytes(v) if isinstance(v, bytearray) else v


def _decode_all(frames: list[bytes], frame_indices: list[int] | None, pool: Executor | None) -> list[np.ndarray]:
    def one(i: int) -> np.ndarray:
        return decode_image(frames[i], frame_label(i, frame_indices))

    if pool is None or len(frames) < 2:
        return [one(i) for i in range(len(frames))]
    return list(pool.map(one, range(len(frames))))


def _check_same_size(images: list[np.ndarray], frame_indices: list[int] | None, label: str) -> tuple[int, int]:
    h, w = images[0].shape[:2]
    for i, img in enumerate(images[1:], start=1):
        if img.shape[:2] != (h, w):
            raise BadRequest(
                f"{label}: frames have mixed sizes: {frame_label(0, frame_indices)} is {w}x{h} but "
                f"{frame_label(i, frame_indices)} is {img.shape[1]}x{img.shape[0]} (width x height)",
                fix="resize all frames to one size before sending",
            )
    return h, w


# --------------------------------------------------------------------------------------------------
# prompts
# --------------------------------------------------------------------------------------------------


def _points_prompt(obj: Mapping[str, Any]) -> PointsPrompt:
    pts = obj.get("points")
    ok = isinstance(pts, list) and pts and all(isinstance(p, list) and len(p) == 2 for p in pts)
    if not ok or not all(_is_number(c) for p in pts for c in p):
        raise BadRequest(
            "prompt.points must be a non-empty list of [u, v] pixel pairs (finite numbers)",
            fix="e.g. {'type': 'points', 'points': [[320, 240]], 'labels': [1]}",
        )
    labels = obj.get("labels")
    if not isinstance(labels, list) or not all(_is_int(v) for v in labels):
        raise BadRequest(
            "prompt.labels must be a list of int, one per point (1 = foreground, 0 = background)",
            fix="e.g. 'labels': [1] for one foreground point",
        )
    if len(labels) != len(pts):
        raise BadRequest(
            f"prompt.points has {len(pts)} point(s) but prompt.labels has {len(labels)} label(s)",
            fix="send one label per point (1 = foreground, 0 = background)",
        )
    bad = [i for i, v in enumerate(labels) if v not in (0, 1)]
    if bad:
        raise BadRequest(
            f"prompt.labels[{bad[0]}] is {labels[bad[0]]}; labels must be 1 (foreground) or 0 (background)",
            fix="use only 0 and 1 in prompt.labels",
        )
    return PointsPrompt(points=np.asarray(pts, dtype=np.float64), labels=np.asarray(labels, dtype=np.int64))


def parse_prompt(obj: Any) -> Prompt:
    """Check a Prompt map's structure and build the dataclass (bounds are checked later, see check_prompt).

    Raises:
        BadRequest: for a missing or unknown ``type``, missing fields, wrong types, labels not 0/1,
            len(points) != len(labels), or a box with x2 <= x1 or y2 <= y1.
    """
    kinds = "{'type': 'text', 'text': 'chair'}, {'type': 'points', 'points': [[u, v]], 'labels': [1]} or " + (
        "{'type': 'box', 'box': [x1, y1, x2, y2]}"
    )
    if not isinstance(obj, dict):
        raise BadRequest(f"'prompt' must be a map, got {type(obj).__name__}", fix=f"send one of {kinds}")
    kind = obj.get("type")
    if kind == "text":
        text = obj.get("text")
        if not isinstance(text, str) or not text.strip():
            raise BadRequest("prompt.text must be a non-empty str", fix="e.g. {'type': 'text', 'text': 'chair'}")
        threshold = obj.get("threshold", 0.3)
        if threshold is None:
            threshold = 0.3
        if not _is_number(threshold) or not 0.0 <= threshold <= 1.0:
            raise BadRequest(f"prompt.threshold must be a number in [0, 1], got {threshold!r}", fix="e.g. 0.3")
        return TextPrompt(text=text.strip(), threshold=float(threshold))
    if kind == "points":
        return _points_prompt(obj)
    if kind == "box":
        box = obj.get("box")
        if not isinstance(box, list) or len(box) != 4 or not all(_is_number(c) for c in box):
            raise BadRequest(
                "prompt.box must be [x1, y1, x2, y2] in pixels (4 finite numbers)",
                fix="e.g. {'type': 'box', 'box': [10, 20, 200, 180]}",
            )
        x1, y1, x2, y2 = (float(c) for c in box)
        if x2 <= x1 or y2 <= y1:
            raise BadRequest(
                f"prompt.box {box} needs x2 > x1 and y2 > y1 (it is [x1, y1, x2, y2]: top-left then bottom-right)",
                fix="order the corners as [left, top, right, bottom]",
            )
        return BoxPrompt(box=np.asarray([x1, y1, x2, y2], dtype=np.float64))
    raise BadRequest(f"prompt.type must be 'text', 'points' or 'box', got {kind!r}", fix=f"send one of {kinds}")


def prompt_capability(prompt: Prompt) -> str:
    """The backend capability a prompt needs: ``"text"``, ``"points"`` or ``"box"``."""
    if isinstance(prompt, TextPrompt):
        return "text"
    if isinstance(prompt, PointsPrompt):
        return "points"
    return "box"


def describe_prompt(prompt: Prompt) -> str:
    """A short human description, e.g. ``text 'chair'``, ``2 points``, ``box [1, 2, 30, 40]``."""
    if isinstance(prompt, TextPrompt):
        return f"text {prompt.text!r}"
    if isinstance(prompt, PointsPrompt):
        n = len(prompt.points)
        return f"{n} point{'s' if n != 1 else ''}"
    return "box [" + ", ".join(f"{c:g}" for c in prompt.box) + "]"


def prompt_json(prompt: Prompt) -> str:
    """Canonical JSON of a parsed prompt (part of the cache key)."""
    if isinstance(prompt, TextPrompt):
        obj: dict[str, Any] = {"type": "text", "text": prompt.text, "threshold": prompt.threshold}
    elif isinstance(prompt, PointsPrompt):
        obj = {"type": "points", "points": prompt.points.tolist(), "labels": prompt.labels.tolist()}
    else:
        obj = {"type": "box", "box": prompt.box.tolist()}
    return canonical_json(obj, "prompt")


def check_prompt(prompt: Prompt, width: int, height: int) -> None:
    """Check that a points/box prompt lies inside a ``width`` x ``height`` image.

    Pixel (u, v): u = column, v = row, origin at the top-left pixel centre (docs/conventions.md), so the image
    spans u in [-0.5, W - 0.5] and v in [-0.5, H - 0.5]. Boxes may also use edge coordinates up to (W, H).

    Raises:
        BadRequest: naming the first point outside the image, or a box outside it.
    """
    eps = 1e-6
    if isinstance(prompt, PointsPrompt):
        for i, (u, v) in enumerate(prompt.points):
            if not (-0.5 - eps <= u <= width - 0.5 + eps and -0.5 - eps <= v <= height - 0.5 + eps):
                raise BadRequest(
                    f"prompt.points[{i}] = ({u:g}, {v:g}) is outside the {width}x{height} image "
                    f"(u must be in [-0.5, {width - 0.5:g}], v in [-0.5, {height - 0.5:g}])",
                    fix="send pixel coordinates (u = column, v = row); convert 0-1000 VLM points with "
                    "vlm.to_pixels, and scale points if you resized the image",
                )
    elif isinstance(prompt, BoxPrompt):
        x1, y1, x2, y2 = prompt.box
        if x1 < -0.5 - eps or y1 < -0.5 - eps or x2 > width + eps or y2 > height + eps:
            raise BadRequest(
                f"prompt.box [{x1:g}, {y1:g}, {x2:g}, {y2:g}] is outside the {width}x{height} image "
                f"(x must be in [-0.5, {width}], y in [-0.5, {height}])",
                fix="clip the box to the image, in pixels of the image you send",
            )


# --------------------------------------------------------------------------------------------------
# calls
# --------------------------------------------------------------------------------------------------


@dataclass
class Call:
    """A structurally valid compute request, before its images and arrays are decoded.

    Attributes:
        route: a key of :data:`ROUTES` (also the backend method and the capability it needs).
        backend: the requested backend name.
        params: what the backend receives: the request's params without :data:`SERVER_PARAMS` (removed when the
            call is made), defaults filled in.
        timeout_s: ``params.timeout_s``, or None for the server default.
        prompt: the parsed prompt (segment routes) or None.
    """

    route: str
    backend: str
    params: dict[str, Any]
    timeout_s: float | None
    prompt: Prompt | None = None

    def __post_init__(self) -> None:
        for key in SERVER_PARAMS:
            self.params.pop(key, None)

    def inputs(self) -> Iterator[tuple[str, bytes | None]]:
        """(name, bytes or None) of every input, in a fixed order: the cache key hashes them."""
        raise NotImplementedError

    def images(self) -> list[tuple[str, bytes]]:
        """(how errors name it, encoded bytes) of every image of the call, for the pixel limits (codec.check_pixels)."""
        return []

    def decode(self, pool: Executor | None = None) -> Any:
        """Decode and fully validate; returns the base.py request dataclass. Raises BadRequest."""
        raise NotImplementedError

    def release(self) -> None:
        """Drop the raw input bytes (after decoding) so they can be freed while the job runs."""


@dataclass
class ReconstructCall(Call):
    frames: list[bytes] = field(default_factory=list)
    frame_indices: list[int] = field(default_factory=list)
    depth: bytes | None = None
    intrinsics: bytes | None = None
    poses: bytes | None = None

    def inputs(self) -> Iterator[tuple[str, bytes | None]]:
        for f in self.frames:
            yield "frame", f
        yield "frame_indices", canonical_json(self.frame_indices).encode()
        yield "depth", self.depth
        yield "intrinsics", self.intrinsics
        yield "poses", self.poses

    def images(self) -> list[tuple[str, bytes]]:
        return [(frame_label(i, self.frame_indices), f) for i, f in enumerate(self.frames)]

    def release(self) -> None:
        self.frames, self.depth, self.intrinsics, self.poses = [], None, None, None

    def decode(self, pool: Executor | None = None) -> ReconstructRequest:
        idx = self.frame_indices
        images = _decode_all(self.frames, idx, pool)
        h, w = _check_same_size(images, idx, _route_label(self.route))
        n = len(images)
        depth = None if self.depth is None else check_depth(decode_npy(self.depth, "depth"), n, h, w, idx)
        intr = None if self.intrinsics is None else check_intrinsics(decode_npy(self.intrinsics, "intrinsics"), n)
        poses = None if self.poses is None else check_poses(decode_npy(self.poses, "poses"), n, idx)
        return ReconstructRequest(
            frames=images, frame_indices=list(idx), depth=depth, intrinsics=intr, poses=poses, params=self.params
        )


@dataclass
class SegmentImageCall(Call):
    image: bytes = b""
    frame_index: int = 0

    def inputs(self) -> Iterator[tuple[str, bytes | None]]:
        yield "image", self.image
        yield "frame_index", str(self.frame_index).encode()
        yield "prompt", prompt_json(self.prompt).encode()

    def images(self) -> list[tuple[str, bytes]]:
        return [("image", self.image)]

    def release(self) -> None:
        self.image = b""

    def decode(self, pool: Executor | None = None) -> SegmentImageRequest:
        img = decode_image(self.image, "image")
        check_prompt(self.prompt, img.shape[1], img.shape[0])
        return SegmentImageRequest(image=img, prompt=self.prompt, params=self.params, frame_index=self.frame_index)


@dataclass
class SegmentVideoCall(Call):
    frames: list[bytes] = field(default_factory=list)
    frame_indices: list[int] = field(default_factory=list)
    prompt_frame_index: int = 0

    def inputs(self) -> Iterator[tuple[str, bytes | None]]:
        for f in self.frames:
            yield "frame", f
        yield "frame_indices", canonical_json(self.frame_indices).encode()
        yield "prompt_frame_index", str(self.prompt_frame_index).encode()
        yield "prompt", prompt_json(self.prompt).encode()

    def images(self) -> list[tuple[str, bytes]]:
        return [(frame_label(i, self.frame_indices), f) for i, f in enumerate(self.frames)]

    def release(self) -> None:
        self.frames = []

    def decode(self, pool: Executor | None = None) -> SegmentVideoRequest:
        images = _decode_all(self.frames, self.frame_indices, pool)
        h, w = _check_same_size(images, self.frame_indices, _route_label(self.route))
        check_prompt(self.prompt, w, h)
        return SegmentVideoRequest(
            frames=images,
            frame_indices=list(self.frame_indices),
            prompt_frame_index=self.prompt_frame_index,
            prompt=self.prompt,
            params=self.params,
        )


def _common(msg: Mapping[str, Any], route: str) -> dict[str, Any]:
    """Check the fields every compute route has; returns the :class:`Call` keyword arguments they give."""
    _check_keys(msg, route)
    name = backend_name(msg)
    params = _params(msg, _route_label(route))
    return {"route": route, "backend": name, "params": params, "timeout_s": _timeout(params)}


def parse_reconstruct(msg: Mapping[str, Any], default_max_frames: int) -> ReconstructCall:
    """Check a ``POST /v1/reconstruct`` map (structure only) and return the call.

    ``params.align_gravity`` defaults to True and must be a bool; ``params.max_frames`` (default
    ``default_max_frames``) caps len(frames); ``params.timeout_s`` overrides the server timeout.

    Raises:
        BadRequest: unknown fields, missing/empty frames, non-bin frames or arrays, len(frame_indices) !=
            len(frames), bad params, or more frames than max_frames.
    """
    common = _common(msg, "reconstruct")
    label, params = _route_label("reconstruct"), common["params"]
    max_frames = params.get("max_frames", default_max_frames)
    if not _is_int(max_frames) or max_frames < 1:
        raise BadRequest(f"params.max_frames must be an int >= 1, got {max_frames!r}", fix="e.g. max_frames=64")
    align = params.setdefault("align_gravity", True)
    if not isinstance(align, bool):
        raise BadRequest(f"params.align_gravity must be true or false, got {align!r}", fix="send a bool")
    conf = params.get("conf_threshold")
    if conf is not None and not _is_number(conf):
        raise BadRequest(f"params.conf_threshold must be a number, got {conf!r}", fix="e.g. conf_threshold=0.5")
    frames = _frames(msg, label)
    if len(frames) > max_frames:
        raise BadRequest(
            f"reconstruct got {len(frames)} frames but max_frames is {max_frames}",
            fix=f"send at most {max_frames} frames (subsample the video), or raise the limit with "
            f"params={{'max_frames': {len(frames)}}} (server default: --max-frames {default_max_frames})",
        )
    return ReconstructCall(
        **common,
        frames=frames,
        frame_indices=_frame_indices(msg, label, len(frames)),
        depth=_sized_bin(msg, "depth", label),
        intrinsics=_sized_bin(msg, "intrinsics", label),
        poses=_sized_bin(msg, "poses", label),
    )


def parse_segment_image(msg: Mapping[str, Any]) -> SegmentImageCall:
    """Check a ``POST /v1/segment/image`` map (structure only) and return the call.

    Raises:
        BadRequest: unknown fields, a missing/non-bin image, a malformed prompt, bad params.
    """
    common = _common(msg, "segment_image")
    frame_index = msg.get("frame_index", 0)
    if not _is_int(frame_index) or frame_index < 0:
        raise BadRequest(
            f"segment/image: 'frame_index' must be an int >= 0 (the image's absolute index in its video), "
            f"got {frame_index!r}",
            fix="send the absolute frame index, or leave it out (default 0)",
        )
    image = msg.get("image")
    if not isinstance(image, bytes | bytearray):
        raise BadRequest(
            f"segment/image: 'image' must be PNG/JPEG bytes (msgpack bin), got {type(image).__name__}",
            fix="pack the encoded image bytes with use_bin_type=True",
        )
    prompt = parse_prompt(msg.get("prompt"))
    return SegmentImageCall(**common, prompt=prompt, image=bytes(image), frame_index=frame_index)


def parse_segment_video(msg: Mapping[str, Any]) -> SegmentVideoCall:
    """Check a ``POST /v1/segment/video`` map (structure only) and return the call.

    Raises:
        BadRequest: unknown fields, empty/non-bin frames, len(frame_indices) != len(frames), a
            prompt_frame_index that is not one of frame_indices, a malformed prompt, bad params.
    """
    common = _common(msg, "segment_video")
    label = _route_label("segment_video")
    frames = _frames(msg, label)
    idx = _frame_indices(msg, label, len(frames))
    pfi = msg.get("prompt_frame_index")
    if not _is_int(pfi) or pfi not in idx:
        shown = idx if len(idx) <= 12 else [*idx[:6], "...", *idx[-6:]]
        raise BadRequest(
            f"segment/video: prompt_frame_index {pfi!r} is not one of frame_indices {shown}",
            fix="prompt_frame_index is the absolute index (as in frame_indices) of the frame the prompt refers to",
        )
    prompt = parse_prompt(msg.get("prompt"))
    return SegmentVideoCall(**common, prompt=prompt, frames=frames, frame_indices=idx, prompt_frame_index=int(pfi))
