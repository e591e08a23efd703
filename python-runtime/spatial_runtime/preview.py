"""Input previews for the workbench: what an input holds, and single frames as JPEG.

Run as a long-lived helper by the host (``python -m spatial_runtime.preview``; electron/services/workbench/
preview.ts). It reuses :mod:`spatial_runtime.inputs` (lazy PyAV decoding, the kernel's index sampling), so the
frame indices it reports are exactly the ABSOLUTE frame indices a sample binds in its kernel.

Protocol (one request at a time, in order):

* request: one JSON line on stdin, ``{"id": int, "op": "preview", "inputs": [InputSpec, ...]}`` or
  ``{"id": int, "op": "frame", "input": InputSpec, "frame_index": int, "max_edge": int}``;
* response: one JSON header line on stdout, ``{"id", "ok": true, "result": {...}, "bytes": 0}`` for
  ``preview``, ``{"id", "ok": true, "bytes": n}`` followed by exactly ``n`` raw JPEG bytes for ``frame``, or
  ``{"id", "ok": false, "error": "what went wrong and how to fix it", "bytes": 0}``.

Loaded inputs are cached (LRU, keyed by the spec, the file's modification time and ``max_edge``), so repeated
requests for the frames of one input decode each frame at most once.
"""

from __future__ import annotations

import io
import json
import os
import sys
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any, BinaryIO

from PIL import Image

from spatial_runtime.inputs import InputError, InputImages, Metadata, load_inputs
from spatial_runtime.inputs.video import VideoSource

__all__ = ["PreviewCache", "frame_jpeg", "main", "preview_inputs"]

JPEG_QUALITY = 85
CACHE_ENTRIES = 8


def _mtime(spec: Mapping[str, Any]) -> float | None:
    try:
        return os.stat(str(spec.get("path", ""))).st_mtime
    except OSError:
        return None


def _size(meta: Metadata, images: InputImages) -> tuple[int, int]:
    if meta.original_size is not None:
        return meta.original_size
    sizes = images._source.original_sizes  # mixed sizes: report the first frame's
    return sizes[0] if sizes else (1, 1)


class PreviewCache:
    """Loaded inputs, least recently used first out. Keys: the canonical spec JSON, mtime, ``max_edge``."""

    def __init__(self, entries: int = CACHE_ENTRIES) -> None:
        self.entries = entries
        self._items: OrderedDict[str, tuple[InputImages, Metadata]] = OrderedDict()
        self.loads = 0

    def load(self, spec: Mapping[str, Any], max_edge: int | None) -> tuple[InputImages, Metadata]:
        """The bound frames and metadata of one input (see :func:`spatial_runtime.inputs.load_inputs`).

        Raises:
            InputError: the input cannot be used (the message names the file and the fix).
        """
        key = json.dumps([dict(spec), _mtime(spec), max_edge], sort_keys=True)
        hit = self._items.get(key)
        if hit is not None:
            self._items.move_to_end(key)
            return hit
        loaded = load_inputs([spec], max_long_edge=max_edge)
        value = (loaded["InputImages"], loaded["Metadata"])
        assert isinstance(value[0], InputImages) and isinstance(value[1], Metadata)
        self.loads += 1
        self._items[key] = value  # type: ignore[assignment]
        while len(self._items) > self.entries:
            self._items.popitem(last=False)
        return value  # type: ignore[return-value]


def preview_inputs(specs: Sequence[Mapping[str, Any]], cache: PreviewCache | None = None) -> dict[str, Any]:
    """What each input holds.

    Returns:
        ``{"inputs": [{"kind", "path", "total_frames", "width", "height", "fps", "frame_indices", "has_depth",
        "has_poses"}]}``: frames in the source, the source frame size in pixels (W, H; video after display
        rotation), the video's frame rate (None otherwise), the ABSOLUTE frame indices the sample binds, and
        whether depth (metres) and camera-to-world poses come with the frames.

    Raises:
        InputError: an input cannot be used.
    """
    cache = cache or PreviewCache()
    out = []
    for spec in specs:
        images, meta = cache.load(spec, None)
        w, h = _size(meta, images)
        out.append(
            {
                "kind": meta.kind,
                "path": meta.source,
                "total_frames": int(meta.total_frames),
                "width": int(w),
                "height": int(h),
                "fps": None if meta.fps is None else float(meta.fps),
                "frame_indices": [int(i) for i in meta.frame_indices],
                "has_depth": bool(meta.has_depth),
                "has_poses": meta.poses is not None,
            }
        )
    return {"inputs": out}


def frame_jpeg(spec: Mapping[str, Any], frame_index: int, max_edge: int, cache: PreviewCache | None = None) -> bytes:
    """One frame of an input as JPEG bytes, long edge at most ``max_edge`` pixels (aspect ratio kept).

    Args:
        spec: an InputSpec.
        frame_index: ABSOLUTE index of the frame in the source (video frame number; for image folders and
            RGB-D sequences the position in sorted file order; for RGB-D samples one of ``frame_indices``).
            Any frame of a video can be shown, bound or not.
        max_edge: long edge in pixels (>= 1).

    Raises:
        InputError: the input cannot be used, or it has no frame ``frame_index`` (the message gives the range).
    """
    if not isinstance(max_edge, int) or max_edge < 1:
        raise InputError(f"max_edge must be a positive integer (pixels), got {max_edge!r}")
    cache = cache or PreviewCache()
    images, meta = cache.load(spec, max_edge)
    if frame_index in meta.frame_indices:
        img: Image.Image = images.by_frame_index(frame_index)
    elif meta.kind == "video" and 0 <= frame_index < meta.total_frames:
        source = images._source
        assert isinstance(source, VideoSource)
        img = source.decode_one(frame_index, max_edge)  # a frame the sample does not bind
    else:
        valid = (
            f"0..{meta.total_frames - 1}"
            if meta.kind == "video"
            else ", ".join(str(i) for i in meta.frame_indices[:20]) + (" ..." if len(meta.frame_indices) > 20 else "")
        )
        raise InputError(f"{meta.source}: no frame {frame_index}; frame indices of this input: {valid}")
    if img.mode != "RGB":
        img = img.convert("RGB")
    if max(img.size) > max_edge:  # frames are bound at <= max_edge already; a guard for odd sources
        img = img.copy()
        img.thumbnail((max_edge, max_edge), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=JPEG_QUALITY)
    return buf.getvalue()


def _respond(out: BinaryIO, header: dict[str, Any], payload: bytes = b"") -> None:
    header["bytes"] = len(payload)
    out.write(json.dumps(header).encode("utf-8") + b"\n")
    if payload:
        out.write(payload)
    out.flush()


def serve(stdin: Any = None, stdout: BinaryIO | None = None) -> None:
    """Answer requests from ``stdin`` until it closes (see the module docstring for the protocol)."""
    stdin = stdin or sys.stdin
    out = stdout or sys.stdout.buffer
    cache = PreviewCache()
    for line in stdin:
        if not line.strip():
            continue
        rid: Any = None
        try:
            req = json.loads(line)
            rid = req.get("id")
            op = req.get("op")
            if op == "preview":
                _respond(out, {"id": rid, "ok": True, "result": preview_inputs(req["inputs"], cache)})
            elif op == "frame":
                data = frame_jpeg(req["input"], int(req["frame_index"]), int(req.get("max_edge", 320)), cache)
                _respond(out, {"id": rid, "ok": True}, data)
            elif op == "ping":
                _respond(out, {"id": rid, "ok": True, "result": {"pong": True}})
            else:
                _respond(out, {"id": rid, "ok": False, "error": f"unknown op {op!r}; use preview or frame"})
        except InputError as e:
            _respond(out, {"id": rid, "ok": False, "error": str(e)})
        except Exception as e:  # noqa: BLE001 - every failure goes back to the host as an answer
            _respond(out, {"id": rid, "ok": False, "error": f"{type(e).__name__}: {e}"})


def main() -> None:
    serve()


if __name__ == "__main__":
    main()
