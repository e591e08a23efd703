"""Wire encodings of the perception server: msgpack bodies, ``.npy`` arrays, PNG/JPEG frames, canonical JSON.

Everything here is synchronous and free of web-framework types, so it runs in worker threads and is tested
on its own. docs/perception-api.md ("Transport") is the contract. Problems a client can fix raise
:class:`~spatial_perception.errors.BadRequest` naming the argument and the fix.
"""

from __future__ import annotations

import io
import json
import struct
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import cv2
import msgpack
import numpy as np
from numpy.typing import NDArray
from PIL import Image

from spatial_perception.errors import BadRequest, PixelLimit

MSGPACK_TYPES = ("application/msgpack", "application/x-msgpack", "application/octet-stream")
"""Content types accepted on compute routes (a missing Content-Type is accepted too)."""

Buffer = bytes | bytearray | memoryview
"""A bytes-like object (what msgpack bin values, ``.npy`` parts and response chunks are)."""


# --------------------------------------------------------------------------------------------------
# msgpack
# --------------------------------------------------------------------------------------------------


def pack(obj: Any) -> bytes:
    """msgpack-encode ``obj`` (``bytes`` become msgpack bin, ``str`` msgpack str)."""
    return msgpack.packb(obj, use_bin_type=True)


def unpack_body(body: Buffer, content_type: str | None = None) -> dict[str, Any]:
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


# --------------------------------------------------------------------------------------------------
# .npy
# --------------------------------------------------------------------------------------------------


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


def decode_npy(data: Buffer, name: str) -> np.ndarray:
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


# --------------------------------------------------------------------------------------------------
# images
# --------------------------------------------------------------------------------------------------


def decode_image(data: Buffer, what: str) -> NDArray[np.uint8]:
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


MP = 1_000_000
"""Pixels in a megapixel (the unit of ``--max-image-mp`` and ``--max-request-mp``)."""


def _header_size(data: Buffer) -> tuple[int, int] | None:
    """(width, height) from the header, with Pillow's format plugin for the bytes but without the decompression-bomb
    check of :func:`PIL.Image.open` (which refuses to report sizes over ~179 MP, the very ones to name)."""
    Image.init()
    prefix = bytes(data[:16])
    for fmt in Image.ID:
        factory, accept = Image.OPEN[fmt]
        if accept is not None and not accept(prefix):
            continue
        try:
            im = factory(io.BytesIO(data), "")
        except Exception:  # not this format
            continue
        try:
            return int(im.size[0]), int(im.size[1])
        finally:
            im.close()
    return None


def image_size(data: Buffer, what: str) -> tuple[int, int] | None:
    """(width, height) of PNG/JPEG bytes from their header, without decoding the pixels (Pillow reads the size
    lazily); None when Pillow cannot read the header (:func:`decode_image` then names the problem).
    """
    if not isinstance(data, bytes | bytearray | memoryview) or len(data) == 0:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as im:
                return int(im.size[0]), int(im.size[1])
    except Image.DecompressionBombError:
        return _header_size(data)
    except Exception:  # not an image Pillow knows: left to decode_image
        return None


def check_pixels(images: Sequence[tuple[str, Buffer]], max_image_mp: float, max_request_mp: float) -> int:
    """Check the pixel counts of a request's images from their headers, before any is decoded: a 249 KB PNG can
    hold 16000 × 16000 pixels (768 MB decoded).

    Args:
        images: (how errors name it, encoded bytes) of every image of the request.
        max_image_mp: the most megapixels one image may have; 0 or less: no limit.
        max_request_mp: the most megapixels all images together may have; 0 or less: no limit.

    Returns:
        The request's total pixel count (images whose header cannot be read count 0; decoding rejects them).

    Raises:
        PixelLimit: naming the image (or the total), its size, the limit and the flag that raises it.
    """
    total = 0
    for what, data in images:
        size = image_size(data, what)
        if size is None:
            continue
        w, h = size
        px = w * h
        if max_image_mp > 0 and px > max_image_mp * MP:
            raise PixelLimit(
                f"{what} is {w}×{h} = {px / MP:,.1f} megapixels, over the server's limit of {max_image_mp:g} "
                "megapixels per image (checked from the image header before decoding)",
                fix="downscale the image before sending it, or start the perception server with a higher "
                f"--max-image-mp (ServerConfig.max_image_mp; now {max_image_mp:g})",
            )
        total += px
        if max_request_mp > 0 and total > max_request_mp * MP:
            raise PixelLimit(
                f"the request's images hold more than {max_request_mp:g} megapixels together (over "
                f"{total / MP:,.1f} by {what}), the server's limit per request (checked from the image headers "
                "before decoding)",
                fix="send fewer or smaller frames (e.g. params.max_frames or a lower resolution), or start the "
                "perception server with a higher --max-request-mp "
                f"(ServerConfig.max_request_mp; now {max_request_mp:g})",
            )
    return total


# --------------------------------------------------------------------------------------------------
# JSON
# --------------------------------------------------------------------------------------------------


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
