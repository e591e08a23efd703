"""Wire format of the perception server: msgpack bodies, ``.npy`` arrays, PNG/JPEG frames, request validation.

Everything here is synchronous and free of web-framework types, so it can run in worker threads and be
tested on its own. docs/perception-api.md ("Transport", "Routes") is the contract.

Parsing happens in two phases so that cache hits skip the expensive part:

1. ``parse_*`` checks the structure of the msgpack map (types, counts, frame indices, params, the
   prompt's fields) without decoding images or arrays, and returns a call object holding the raw bytes.
2. ``call.decode(pool)`` decodes the frames (``cv2.imdecode``, optionally on a thread pool) and the
   ``.npy`` inputs, checks everything that needs their contents (sizes, depth, intrinsics, poses, prompt
   inside the image) and returns the request dataclass of :mod:`spatial_perception.backends.base`.

All problems a client can fix raise :class:`~spatial_perception.errors.BadRequest` with a message that
names the argument and a ``fix``.
"""

from __future__ import annotations

import io
import json
import math
import struct
from collections.abc import Iterator, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

import cv2
import msgpack
import numpy as np
from numpy.typing import NDArray

from spatial_perception.backends.base import (
    BoxPrompt,
    MaskResult,
    PointsPrompt,
    Prompt,
    Reconstruction,
    ReconstructRequest,
    SegmentImageRequest,
    SegmentVideoRequest,
    TextPrompt,
)
from spatial_perception.errors import BadRequest, PerceptionError

MSGPACK_TYPES = ("application/msgpack", "application/x-msgpack", "application/octet-stream")
"""Content types accepted on compute routes (a missing Content-Type is accepted too)."""

SERVER_PARAMS = ("timeout_s", "max_frames")
"""Params the server consumes itself; backends never see them and they are not part of the cache key."""

ROTATION_TOL = 1e-3
"""Largest allowed ``max |R^T R - I|`` and ``|det R - 1|`` for a pose's rotation block."""


class BackendResultError(PerceptionError):
    """A backend returned arrays that break the contract (a server bug, answered with 500 ``backend_error``)."""

    code = "backend_error"
    status = 500


# --------------------------------------------------------------------------------------------------
# msgpack / npy
# --------------------------------------------------------------------------------------------------


def pack(obj: Any) -> bytes:
    """msgpack-encode ``obj`` (``bytes`` become msgpack bin, ``str`` msgpack str)."""
    return msgpack.packb(obj, use_bin_type=True)


def unpack_body(body: bytes | bytearray | memoryview, content_type: str | None = None) -> dict[str, Any]:
    """Decode a compute route's body into a dict.

    Args:
        body: the raw request body.
        content_type: the request's ``Content-Type`` header, or None.

    Raises:
        BadRequest: for another content type, undecodable msgpack, or a body that is not a map.
    """
    fix = "send Content-Type: application/msgpack and a body made with msgpack.packb({...}, use_bin_type=True)"
    if content_type:
        media = content_type.split(";", 1)[0].strip().lower()
        if media not in MSGPACK_TYPES:
            raise BadRequest(f"the body must be msgpack, got Content-Type {media!r}", fix=fix)
    if not body:
        raise BadRequest("the request body is empty; compute routes take a msgpack map", fix=fix)
    try:
        msg = msgpack.unpackb(body, raw=False, strict_map_key=True)
    except Exception as exc:  # msgpack raises several unrelated types (ExtraData, ValueError, FormatError, ...)
        raise BadRequest(f"the body is not valid msgpack ({type(exc).__name__}: {exc})", fix=fix) from exc
    if not isinstance(msg, dict):
        raise BadRequest(f"the body must be a msgpack map, got {type(msg).__name__}", fix=fix)
    return msg


Buffer = bytes | bytearray | memoryview
"""A bytes-like object (what msgpack bin values, ``.npy`` parts and response chunks are)."""


def encode_npy(arr: np.ndarray) -> bytes:
    """``.npy`` bytes of ``arr`` written with :func:`numpy.save` in C order (no pickles)."""
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(arr), allow_pickle=False)
    return buf.getvalue()


def npy_parts(arr: np.ndarray) -> tuple[bytes, Buffer]:
    """The ``.npy`` encoding of ``arr`` as (header, data) without copying the data.

    ``header + bytes(data)`` equals :func:`encode_npy` of a C-contiguous, non-object array: the header comes
    from :mod:`numpy.lib.format` (format 1.0) and ``data`` is a flat byte view of the array's memory, so
    large results are written to disk and to the socket without an intermediate copy.
    """
    arr = np.ascontiguousarray(arr)
    head = io.BytesIO()
    np.lib.format.write_array_header_1_0(head, np.lib.format.header_data_from_array_1_0(arr))
    data: Buffer = memoryview(arr.reshape(-1).view(np.uint8)) if arr.nbytes else b""
    return head.getvalue(), data


def bin_header(size: int) -> bytes:
    """msgpack bin 8/16/32 header for ``size`` bytes (msgpack-python has no public bin-header writer).

    Raises:
        ValueError: over 2**32 - 1 bytes, the msgpack limit.
    """
    if size < 1 << 8:
        return struct.pack(">BB", 0xC4, size)
    if size < 1 << 16:
        return struct.pack(">BH", 0xC5, size)
    if size < 1 << 32:
        return struct.pack(">BI", 0xC6, size)
    raise ValueError(f"a msgpack bin value holds at most 4 GiB, got {size} bytes")


def pack_with_arrays(
    fields: Mapping[str, Any], arrays: Mapping[str, list[Buffer]], key: str = "arrays"
) -> list[Buffer]:
    """msgpack-encode ``{**fields, key: {name: bin}}`` as a list of chunks, without joining the array data.

    Args:
        fields: the other keys of the map (packed with msgpack).
        arrays: ``{name: [parts]}``; each value becomes one msgpack bin made of its parts in order (e.g. the
            header and data of :func:`npy_parts`, or one ``bytes`` read from disk).
        key: the key under which ``arrays`` is stored.

    Returns:
        Chunks whose concatenation is the msgpack map (decodable with ``msgpack.unpackb``).
    """
    packer = msgpack.Packer(use_bin_type=True)
    chunks: list[Buffer] = [packer.pack_map_header(len(fields) + 1)]
    for k, v in fields.items():
        chunks += [packer.pack(k), packer.pack(v)]
    chunks += [packer.pack(key), packer.pack_map_header(len(arrays))]
    for name, parts in arrays.items():
        chunks += [packer.pack(name), bin_header(sum(len(p) for p in parts)), *parts]
    return chunks


def decode_npy(data: bytes | bytearray | memoryview, name: str) -> np.ndarray:
    """Decode ``.npy`` bytes (one copy, never unpickling).

    Args:
        data: bytes written by :func:`numpy.save`.
        name: the argument name, for the error message.

    Raises:
        BadRequest: for anything that is not a plain ``.npy`` array (object arrays, ``.npz`` archives, junk).
    """
    fix = f"send {name} as the bytes of numpy.save(io.BytesIO(), array) (a numeric array, not a list or an object)"
    if not isinstance(data, bytes | bytearray | memoryview):
        raise BadRequest(f"{name} must be .npy bytes (msgpack bin), got {type(data).__name__}", fix=fix)
    try:
        arr = np.load(io.BytesIO(data), allow_pickle=False)
    except Exception as exc:  # numpy raises ValueError/OSError/EOFError for broken or pickled data
        raise BadRequest(f"{name} is not a readable .npy array ({type(exc).__name__}: {exc})", fix=fix) from exc
    if not isinstance(arr, np.ndarray):
        raise BadRequest(f"{name} is a .npz archive, not a single .npy array", fix=fix)
    return arr


def decode_image(data: bytes | bytearray | memoryview, what: str) -> NDArray[np.uint8]:
    """Decode PNG/JPEG bytes to an (H, W, 3) uint8 RGB array with :func:`cv2.imdecode`.

    Grey images are expanded to 3 channels, alpha is dropped and 16-bit images are scaled to 8 bits.

    Args:
        data: the encoded image.
        what: how to name the image in errors, e.g. ``"frames[3] (frame index 40)"``.

    Raises:
        BadRequest: for bytes OpenCV cannot decode.
    """
    fix = "send each image as the PNG or JPEG file bytes (e.g. cv2.imencode('.png', bgr)[1].tobytes())"
    if not isinstance(data, bytes | bytearray | memoryview):
        raise BadRequest(f"{what} must be PNG/JPEG bytes (msgpack bin), got {type(data).__name__}", fix=fix)
    if len(data) == 0:
        raise BadRequest(f"{what} is empty (0 bytes)", fix=fix)
    buf = np.frombuffer(data, dtype=np.uint8)
    try:
        img = cv2.imdecode(buf, cv2.IMREAD_COLOR_RGB)
    except cv2.error as exc:
        raise BadRequest(f"{what} could not be decoded as PNG/JPEG ({exc})", fix=fix) from exc
    if img is None or img.ndim != 3 or img.shape[2] != 3 or img.size == 0:
        raise BadRequest(f"{what} could not be decoded as PNG/JPEG ({len(data)} bytes)", fix=fix)
    return img


def canonical_json(obj: Any, name: str = "params") -> str:
    """Canonical JSON (sorted keys, no spaces, no NaN) of a JSON-like value; used in cache keys and records.

    Raises:
        BadRequest: when ``obj`` holds binary data, NaN/inf or other non-JSON values.
    """
    try:
        return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise BadRequest(
            f"{name} must hold only JSON-like values (maps with str keys, lists, str, numbers, bools, nil): {exc}",
            fix=f"remove binary values and NaN/inf from {name}",
        ) from exc


def to_plain(obj: Any) -> Any:
    """Convert a backend's ``info`` to msgpack/JSON-safe builtins (numpy scalars and arrays become numbers/lists)."""
    if obj is None or isinstance(obj, bool | int | float | str):
        return obj
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Mapping):
        return {str(k): to_plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | set | frozenset):
        return [to_plain(v) for v in obj]
    return str(obj)


# --------------------------------------------------------------------------------------------------
# structural checks
# --------------------------------------------------------------------------------------------------


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _check_keys(msg: Mapping[str, Any], route: str, allowed: tuple[str, ...], required: tuple[str, ...]) -> None:
    allowed = (*allowed, "return")  # every compute route: which arrays to send back (checked by the app)
    unknown = sorted(set(msg) - set(allowed))
    if unknown:
        raise BadRequest(
            f"{route} got unknown field(s) {', '.join(map(repr, unknown))}; it accepts {', '.join(allowed)}",
            fix="check the spelling (docs/perception-api.md, Routes); backend options go in params",
        )
    for key in required:
        if msg.get(key) is None:
            raise BadRequest(f"{route} needs {key!r}", fix=f"add {key!r} to the request (docs/perception-api.md)")


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


def _frame_label(pos: int, frame_indices: list[int] | None) -> str:
    if frame_indices is not None and pos < len(frame_indices):
        return f"frame index {frame_indices[pos]} (frames[{pos}])"
    return f"frames[{pos}]"


def _frames(msg: Mapping[str, Any], route: str) -> list[bytes]:
    frames = msg.get("frames")
    if not isinstance(frames, list):
        raise BadRequest(
            f"{route}: 'frames' must be a list of PNG/JPEG bytes, got {type(frames).__name__}",
            fix="send frames as a msgpack array of bin values",
        )
    if not frames:
        raise BadRequest(f"{route}: 'frames' is empty; send at least one frame", fix="pass one or more frames")
    for i, f in enumerate(frames):
        if not isinstance(f, bytes | bytearray):
            raise BadRequest(
                f"{route}: frames[{i}] must be PNG/JPEG bytes (msgpack bin), got {type(f).__name__}",
                fix="pack the encoded image bytes with use_bin_type=True",
            )
    return frames


def _frame_indices(msg: Mapping[str, Any], route: str, n: int) -> list[int]:
    idx = msg.get("frame_indices")
    if not isinstance(idx, list) or not all(_is_int(i) for i in idx):
        raise BadRequest(
            f"{route}: 'frame_indices' must be a list of int (the absolute index of each frame in its video)",
            fix="send one int per frame, e.g. [0, 10, 20]",
        )
    if len(idx) != n:
        raise BadRequest(
            f"{route}: len(frame_indices) is {len(idx)} but len(frames) is {n}",
            fix="send exactly one absolute frame index per frame, in the same order as frames",
        )
    if any(i < 0 for i in idx):
        raise BadRequest(f"{route}: frame_indices must be >= 0, got {min(idx)}", fix="use absolute frame indices")
    if len(set(idx)) != len(idx):
        dup = sorted({i for i in idx if idx.count(i) > 1})
        raise BadRequest(
            f"{route}: frame_indices has duplicates {dup[:10]}",
            fix="send each frame once, with its own absolute index",
        )
    return [int(i) for i in idx]


def _params(msg: Mapping[str, Any], route: str) -> dict[str, Any]:
    params = msg.get("params")
    if params is None:
        return {}
    if not isinstance(params, dict):
        raise BadRequest(f"{route}: 'params' must be a map, got {type(params).__name__}", fix="send params as a map")
    canonical_json(params, "params")
    return dict(params)


def _timeout(params: dict[str, Any]) -> float | None:
    t = params.get("timeout_s")
    if t is None:
        return None
    if not _is_number(t) or t <= 0:
        raise BadRequest(f"params.timeout_s must be a number of seconds > 0, got {t!r}", fix="e.g. timeout_s=120")
    return float(t)


def _sized_bin(msg: Mapping[str, Any], key: str, route: str) -> bytes | None:
    v = msg.get(key)
    if v is None:
        return None
    if not isinstance(v, bytes | bytearray):
        raise BadRequest(
            f"{route}: {key!r} must be .npy bytes (numpy.save) or nil, got {type(v).__name__}",
            fix=f"send {key} as the bytes of numpy.save, never a JSON/msgpack list",
        )
    return bytes(v) if isinstance(v, bytearray) else v


def _decode_all(frames: list[bytes], frame_indices: list[int] | None, pool: Executor | None) -> list[np.ndarray]:
    def one(i: int) -> np.ndarray:
        return decode_image(frames[i], _frame_label(i, frame_indices))

    if pool is None or len(frames) < 2:
        return [one(i) for i in range(len(frames))]
    return list(pool.map(one, range(len(frames))))


def _check_same_size(images: list[np.ndarray], frame_indices: list[int] | None, route: str) -> tuple[int, int]:
    h, w = images[0].shape[:2]
    for i, img in enumerate(images[1:], start=1):
        if img.shape[:2] != (h, w):
            raise BadRequest(
                f"{route}: frames have mixed sizes: {_frame_label(0, frame_indices)} is {w}x{h} but "
                f"{_frame_label(i, frame_indices)} is {img.shape[1]}x{img.shape[0]} (width x height)",
                fix="resize all frames to one size before sending",
            )
    return h, w


# --------------------------------------------------------------------------------------------------
# prompts
# --------------------------------------------------------------------------------------------------


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
        route: ``"reconstruct"``, ``"segment_image"`` or ``"segment_video"`` (also the backend method and
            the capability it needs).
        backend: the requested backend name.
        params: what the backend receives (server-only keys removed, defaults filled in).
        timeout_s: ``params.timeout_s``, or None for the server default.
        prompt: the parsed prompt (segment routes) or None.
    """

    route: str
    backend: str
    params: dict[str, Any]
    timeout_s: float | None
    prompt: Prompt | None = None

    def inputs(self) -> Iterator[tuple[str, bytes | None]]:
        """(name, bytes or None) of every input, in a fixed order: the cache key hashes them."""
        raise NotImplementedError

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

    def release(self) -> None:
        self.frames, self.depth, self.intrinsics, self.poses = [], None, None, None

    def decode(self, pool: Executor | None = None) -> ReconstructRequest:
        idx = self.frame_indices
        images = _decode_all(self.frames, idx, pool)
        h, w = _check_same_size(images, idx, "reconstruct")
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

    def release(self) -> None:
        self.frames = []

    def decode(self, pool: Executor | None = None) -> SegmentVideoRequest:
        images = _decode_all(self.frames, self.frame_indices, pool)
        h, w = _check_same_size(images, self.frame_indices, "segment/video")
        check_prompt(self.prompt, w, h)
        return SegmentVideoRequest(
            frames=images,
            frame_indices=list(self.frame_indices),
            prompt_frame_index=self.prompt_frame_index,
            prompt=self.prompt,
            params=self.params,
        )


def parse_reconstruct(msg: Mapping[str, Any], default_max_frames: int) -> ReconstructCall:
    """Check a ``POST /v1/reconstruct`` map (structure only) and return the call.

    ``params.align_gravity`` defaults to True and must be a bool; ``params.max_frames`` (default
    ``default_max_frames``) caps len(frames); ``params.timeout_s`` overrides the server timeout.

    Raises:
        BadRequest: unknown fields, missing/empty frames, non-bin frames or arrays, len(frame_indices) !=
            len(frames), bad params, or more frames than max_frames.
    """
    route = "reconstruct"
    _check_keys(
        msg,
        route,
        ("backend", "frames", "frame_indices", "depth", "intrinsics", "poses", "params"),
        ("backend", "frames", "frame_indices"),
    )
    name = backend_name(msg)
    params = _params(msg, route)
    timeout = _timeout(params)
    max_frames = params.get("max_frames", default_max_frames)
    if not _is_int(max_frames) or max_frames < 1:
        raise BadRequest(f"params.max_frames must be an int >= 1, got {max_frames!r}", fix="e.g. max_frames=64")
    align = params.setdefault("align_gravity", True)
    if not isinstance(align, bool):
        raise BadRequest(f"params.align_gravity must be true or false, got {align!r}", fix="send a bool")
    conf = params.get("conf_threshold")
    if conf is not None and not _is_number(conf):
        raise BadRequest(f"params.conf_threshold must be a number, got {conf!r}", fix="e.g. conf_threshold=0.5")
    frames = _frames(msg, route)
    if len(frames) > max_frames:
        raise BadRequest(
            f"reconstruct got {len(frames)} frames but max_frames is {max_frames}",
            fix=f"send at most {max_frames} frames (subsample the video), or raise the limit with "
            f"params={{'max_frames': {len(frames)}}} (server default: --max-frames {default_max_frames})",
        )
    idx = _frame_indices(msg, route, len(frames))
    for key in SERVER_PARAMS:
        params.pop(key, None)
    return ReconstructCall(
        route=route,
        backend=name,
        params=params,
        timeout_s=timeout,
        frames=frames,
        frame_indices=idx,
        depth=_sized_bin(msg, "depth", route),
        intrinsics=_sized_bin(msg, "intrinsics", route),
        poses=_sized_bin(msg, "poses", route),
    )


def parse_segment_image(msg: Mapping[str, Any]) -> SegmentImageCall:
    """Check a ``POST /v1/segment/image`` map (structure only) and return the call.

    Raises:
        BadRequest: unknown fields, a missing/non-bin image, a malformed prompt, bad params.
    """
    route = "segment/image"
    _check_keys(msg, route, ("backend", "image", "prompt", "params", "frame_index"), ("backend", "image", "prompt"))
    name = backend_name(msg)
    frame_index = msg.get("frame_index", 0)
    if not _is_int(frame_index) or frame_index < 0:
        raise BadRequest(
            f"segment/image: 'frame_index' must be an int >= 0 (the image's absolute index in its video), "
            f"got {frame_index!r}",
            fix="send the absolute frame index, or leave it out (default 0)",
        )
    params = _params(msg, route)
    timeout = _timeout(params)
    image = msg.get("image")
    if not isinstance(image, bytes | bytearray):
        raise BadRequest(
            f"segment/image: 'image' must be PNG/JPEG bytes (msgpack bin), got {type(image).__name__}",
            fix="pack the encoded image bytes with use_bin_type=True",
        )
    prompt = parse_prompt(msg.get("prompt"))
    for key in SERVER_PARAMS:
        params.pop(key, None)
    return SegmentImageCall(
        route="segment_image",
        backend=name,
        params=params,
        timeout_s=timeout,
        prompt=prompt,
        image=bytes(image),
        frame_index=frame_index,
    )


def parse_segment_video(msg: Mapping[str, Any]) -> SegmentVideoCall:
    """Check a ``POST /v1/segment/video`` map (structure only) and return the call.

    Raises:
        BadRequest: unknown fields, empty/non-bin frames, len(frame_indices) != len(frames), a
            prompt_frame_index that is not one of frame_indices, a malformed prompt, bad params.
    """
    route = "segment/video"
    _check_keys(
        msg,
        route,
        ("backend", "frames", "frame_indices", "prompt_frame_index", "prompt", "params"),
        ("backend", "frames", "frame_indices", "prompt_frame_index", "prompt"),
    )
    name = backend_name(msg)
    params = _params(msg, route)
    timeout = _timeout(params)
    frames = _frames(msg, route)
    idx = _frame_indices(msg, route, len(frames))
    pfi = msg.get("prompt_frame_index")
    if not _is_int(pfi) or pfi not in idx:
        shown = idx if len(idx) <= 12 else [*idx[:6], "...", *idx[-6:]]
        raise BadRequest(
            f"segment/video: prompt_frame_index {pfi!r} is not one of frame_indices {shown}",
            fix="prompt_frame_index is the absolute index (as in frame_indices) of the frame the prompt refers to",
        )
    prompt = parse_prompt(msg.get("prompt"))
    for key in SERVER_PARAMS:
        params.pop(key, None)
    return SegmentVideoCall(
        route="segment_video",
        backend=name,
        params=params,
        timeout_s=timeout,
        prompt=prompt,
        frames=frames,
        frame_indices=idx,
        prompt_frame_index=int(pfi),
    )


# --------------------------------------------------------------------------------------------------
# array checks
# --------------------------------------------------------------------------------------------------


def check_depth(depth: np.ndarray, n: int, h: int, w: int, frame_indices: list[int]) -> NDArray[np.float32]:
    """Validate metric depth and return it as (N, H, W) float32.

    Raises:
        BadRequest: wrong shape, a non-float dtype, negative values, or a frame without any valid
            (finite, > 0) pixel (named by its frame index).
    """
    if depth.shape != (n, h, w):
        raise BadRequest(
            f"depth has shape {depth.shape} but the {n} frame(s) need ({n}, {h}, {w}) (N, H, W)",
            fix="send one (H, W) float32 depth map in metres per frame, stacked in frame order",
        )
    if depth.dtype.kind != "f":
        raise BadRequest(
            f"depth has dtype {depth.dtype}; it must be float metres",
            fix="convert, e.g. depth_mm.astype(np.float32) / 1000 for millimetre PNG depth",
        )
    depth = depth.astype(np.float32, copy=False)
    valid = np.isfinite(depth) & (depth > 0)
    empty = np.flatnonzero(~valid.any(axis=(1, 2)))
    if empty.size:
        raise BadRequest(
            f"depth for {_frame_label(int(empty[0]), frame_indices)} has no valid pixel (all 0 or NaN)",
            fix="drop that frame or send its real depth (metres; 0 or NaN marks invalid pixels)",
        )
    neg = np.flatnonzero((depth < 0).any(axis=(1, 2)))
    if neg.size:
        raise BadRequest(
            f"depth for {_frame_label(int(neg[0]), frame_indices)} has negative values",
            fix="depth is metres along the camera z axis (>= 0); mark invalid pixels with 0 or NaN",
        )
    return depth


def check_intrinsics(k: np.ndarray, n: int) -> NDArray[np.float64]:
    """Validate pinhole intrinsics (3, 3) or (N, 3, 3) and return them as (N, 3, 3) float64.

    Raises:
        BadRequest: wrong shape, non-numeric or non-finite values, fx/fy <= 0, or a last row that is not [0, 0, 1].
    """
    fix = "send K = [[fx, 0, cx], [0, fy, cy], [0, 0, 1]] in pixels, as (3, 3) for all frames or (N, 3, 3)"
    if k.shape not in ((3, 3), (n, 3, 3)):
        raise BadRequest(f"intrinsics has shape {k.shape}; expected (3, 3) or ({n}, 3, 3)", fix=fix)
    if k.dtype.kind not in "fiu":
        raise BadRequest(f"intrinsics has dtype {k.dtype}; it must be numeric (float64)", fix=fix)
    k = np.array(np.broadcast_to(k, (n, 3, 3)), dtype=np.float64)
    if not np.isfinite(k).all():
        raise BadRequest("intrinsics contains NaN or inf", fix=fix)
    if (k[:, 0, 0] <= 0).any() or (k[:, 1, 1] <= 0).any():
        raise BadRequest("intrinsics must have fx > 0 and fy > 0 (K[0, 0], K[1, 1])", fix=fix)
    if not np.allclose(k[:, 2, :], [0.0, 0.0, 1.0], atol=1e-6):
        raise BadRequest("the last row of intrinsics must be [0, 0, 1]", fix=fix)
    return k


def check_poses(poses: np.ndarray, n: int, frame_indices: list[int]) -> NDArray[np.float64]:
    """Validate camera-to-world poses and return them as (N, 4, 4) float64.

    A pose must be finite, with last row [0, 0, 0, 1] and a rotation block R with ``R^T R = I`` and
    ``det R = 1`` within :data:`ROTATION_TOL`.

    Raises:
        BadRequest: wrong shape or dtype, or the first pose that is not rigid (named by its frame index).
    """
    fix = "send (N, 4, 4) camera-to-world matrices [[R, t], [0, 0, 0, 1]] with R a rotation, t in metres"
    if poses.shape != (n, 4, 4):
        raise BadRequest(f"poses has shape {poses.shape}; expected ({n}, 4, 4) (one 4x4 per frame)", fix=fix)
    if poses.dtype.kind not in "fiu":
        raise BadRequest(f"poses has dtype {poses.dtype}; it must be numeric (float64)", fix=fix)
    poses = poses.astype(np.float64, copy=False)
    finite = np.isfinite(poses).all(axis=(1, 2))
    r = poses[:, :3, :3]
    ortho = np.abs(np.einsum("nji,njk->nik", r, r) - np.eye(3)).max(axis=(1, 2))
    det = np.linalg.det(np.where(finite[:, None, None], r, np.eye(3)))
    bottom = np.abs(poses[:, 3, :] - [0.0, 0.0, 0.0, 1.0]).max(axis=1)
    for i in range(n):
        what = f"poses[{i}] ({_frame_label(i, frame_indices)})"
        if not finite[i]:
            raise BadRequest(f"{what} contains NaN or inf", fix=fix)
        if bottom[i] > 1e-6:
            raise BadRequest(f"{what} has last row {poses[i, 3].tolist()}, expected [0, 0, 0, 1]", fix=fix)
        if ortho[i] > ROTATION_TOL or abs(det[i] - 1.0) > ROTATION_TOL:
            raise BadRequest(
                f"{what} is not a rigid transform: its rotation block has det {det[i]:.4g} and "
                f"max |R^T R - I| = {ortho[i]:.3g} (scale, shear or reflection)",
                fix=fix,
            )
    return poses


# --------------------------------------------------------------------------------------------------
# results
# --------------------------------------------------------------------------------------------------


def _expect(backend: str, name: str, arr: Any, shape: tuple[int | None, ...], dtype: type) -> np.ndarray:
    if not isinstance(arr, np.ndarray):
        raise BackendResultError(f"backend {backend!r} returned {name} as {type(arr).__name__}, not a numpy array")
    ok = arr.ndim == len(shape) and all(s is None or s == a for s, a in zip(shape, arr.shape, strict=False))
    if not ok:
        want = "(" + ", ".join("?" if s is None else str(s) for s in shape) + ")"
        raise BackendResultError(f"backend {backend!r} returned {name} of shape {arr.shape}, expected {want}")
    return np.ascontiguousarray(arr, dtype=dtype)


def check_reconstruction(backend: str, rec: Any, n: int) -> dict[str, np.ndarray]:
    """Check a backend's :class:`Reconstruction` for ``n`` frames; return its arrays in contract dtypes.

    Raises:
        BackendResultError: a wrong type or shape (a backend bug).
    """
    if not isinstance(rec, Reconstruction):
        raise BackendResultError(f"backend {backend!r} returned {type(rec).__name__}, not a Reconstruction")
    depth = _expect(backend, "depth", rec.depth, (n, None, None), np.float32)
    h, w = depth.shape[1:]
    return {
        "depth": depth,
        "confidence": _expect(backend, "confidence", rec.confidence, (n, h, w), np.float32),
        "points": _expect(backend, "points", rec.points, (n, h, w, 3), np.float32),
        "extrinsics": _expect(backend, "extrinsics", rec.extrinsics, (n, 4, 4), np.float64),
        "intrinsics": _expect(backend, "intrinsics", rec.intrinsics, (n, 3, 3), np.float64),
        "frame_indices": _expect(backend, "frame_indices", rec.frame_indices, (n,), np.int64),
        "colors": _expect(backend, "colors", rec.colors, (n, h, w, 3), np.uint8),
    }


def check_masks(backend: str, res: Any, frames: int | None) -> dict[str, np.ndarray]:
    """Check a backend's :class:`MaskResult` (``frames`` = T when known); return its arrays in contract dtypes.

    Raises:
        BackendResultError: a wrong type or shape, or len(labels) != K (a backend bug).
    """
    if not isinstance(res, MaskResult):
        raise BackendResultError(f"backend {backend!r} returned {type(res).__name__}, not a MaskResult")
    masks = _expect(backend, "masks", res.masks, (frames, None, None, None), np.bool_)
    t, k = masks.shape[:2]
    if len(res.labels) != k:
        raise BackendResultError(f"backend {backend!r} returned {k} masks per frame but {len(res.labels)} labels")
    return {
        "masks": masks,
        "scores": _expect(backend, "scores", res.scores, (t, k), np.float32),
        "frame_indices": _expect(backend, "frame_indices", res.frame_indices, (t,), np.int64),
    }


def npy_meta(arrays: Mapping[str, np.ndarray]) -> dict[str, dict[str, Any]]:
    """``{name: {"shape": [int], "dtype": str, "bytes": int}}`` (``bytes`` = array data bytes)."""
    return {name: {"shape": list(a.shape), "dtype": str(a.dtype), "bytes": int(a.nbytes)} for name, a in arrays.items()}
