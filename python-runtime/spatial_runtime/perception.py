"""Kernel-side client of the perception server (docs/perception-api.md, "Kernel side").

``tools.Reconstruct`` and ``tools.SAM3`` call the server through this module. The host passes the server's
URL, a bearer token and the default backends in ``session.prepare`` (``"perception": {"url", "token",
"backends": {"reconstruct", "segment"}}``); they are kept in this module's memory only (never written to disk
or ``os.environ``) and forgotten by ``session.reset``.

Transport (standard library ``urllib``, proxies from the environment ignored):

* compute routes (``POST /v1/...``): a msgpack map; images travel as PNG bytes, arrays as ``.npy`` bytes
  (``numpy.save``); the answer is a msgpack map ``{"artifact", "arrays": {name: npy bytes}, "info", "cache",
  "compute_ms", "queue_ms"}`` whose arrays are decoded here with ``numpy.load(allow_pickle=False)``;
* ``GET /health`` (JSON).

Failures: a request that cannot reach the server (connection refused or reset) is retried with backoff
(:data:`RETRY_DELAYS_S`); an HTTP error answer is never retried. Errors are :class:`PerceptionError`
subclasses whose message names the problem and the fix: :class:`PerceptionUnavailable` (not configured in
this session, or the server is not reachable) and :class:`ToolError` (a bad argument, or the server answered
4xx, e.g. 422 ``unsupported`` for a text prompt sent to a backend without text support).

Every tool call publishes one ``display_data`` bundle (:func:`publish_artifact`)::

    {"application/vnd.spatialclaw.artifact+json":
        {"id", "tool", "kind", "url", "summary", "frame_indices", "shapes"},
     "text/plain": "<tool> artifact <id>: <summary>"}
"""

from __future__ import annotations

import http.client
import io
import json
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image

from spatial_runtime import display

__all__ = [
    "ARTIFACT_MIME",
    "PerceptionConfig",
    "PerceptionError",
    "PerceptionUnavailable",
    "ToolError",
    "clear",
    "configure",
    "get_config",
    "health",
    "is_configured",
    "post",
    "publish_artifact",
]

ARTIFACT_MIME = "application/vnd.spatialclaw.artifact+json"
DEFAULT_TIMEOUT_S = 660.0
"""Seconds a compute request may take (the server's default job timeout is 600 s, plus queueing slack)."""
RETRY_DELAYS_S: tuple[float, ...] = (0.25, 0.5, 1.0)
"""Waits before the 2nd, 3rd, ... attempt of a request that could not connect; tests may shorten them."""
START_HINT = "start one with `spatialclaw perception start` or check the URL"


class PerceptionError(RuntimeError):
    """A perception tool call failed. The message says what went wrong and how to fix it.

    Attributes:
        status: the HTTP status of the server's answer, or None when no answer came.
        code: the server's error code (``bad_request``, ``unsupported``, ``unknown_backend``, ``not_found``,
            ``too_large``, ``timeout``, ``cancelled``, ``backend_error``, ``unauthorized``), a client-side code
            (``not_configured``, ``unreachable``, ``bad_argument``, ``bad_reply``), or None.
        fix: what to do about it (also part of the message), or None.
    """

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None, fix: str | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.fix = fix


class PerceptionUnavailable(PerceptionError):
    """No perception server is configured in this session, or the configured one cannot be reached."""


class ToolError(PerceptionError, ValueError):
    """A bad argument to a perception tool (checked in the kernel), or a 4xx answer of the server.

    It is also a ``ValueError``, so ``except ValueError`` catches argument errors.
    """


@dataclass(frozen=True)
class PerceptionConfig:
    """Where the perception server is: ``url`` (no trailing slash), bearer ``token``, default ``backends``
    (``{"reconstruct": name, "segment": name}``, either may be missing)."""

    url: str
    token: str = field(repr=False)
    backends: dict[str, str] = field(default_factory=dict)


_lock = threading.Lock()
_config: PerceptionConfig | None = None


def configure(url: str, token: str, backends: dict[str, str] | None = None) -> None:
    """Point the perception tools at a server. Held in memory only.

    Args:
        url: base URL, e.g. ``"http://127.0.0.1:8765"`` (a trailing slash is ignored).
        token: bearer token sent as ``Authorization: Bearer <token>``.
        backends: default backend names, ``{"reconstruct": str, "segment": str}`` (either key optional).

    Raises:
        ValueError: for a URL that is not http(s), a token that is not a string, or malformed backends.
    """
    global _config
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise ValueError(f"perception url must be an http(s) URL, got {url!r}")
    if not isinstance(token, str):
        raise ValueError("perception token must be a string")
    chosen: dict[str, str] = {}
    if backends is not None:
        if not isinstance(backends, dict):
            raise ValueError(f"perception backends must be a dict like {{'reconstruct': 'rgbd'}}, got {backends!r}")
        for key, name in backends.items():
            if key not in ("reconstruct", "segment"):
                raise ValueError(f"perception backends: unknown key {key!r}; use 'reconstruct' and/or 'segment'")
            if name is None:
                continue
            if not isinstance(name, str) or not name:
                raise ValueError(f"perception backends[{key!r}] must be a backend name (str), got {name!r}")
            chosen[key] = name
    with _lock:
        _config = PerceptionConfig(url.rstrip("/"), token, chosen)


def clear() -> None:
    """Forget the server; later tool calls raise :class:`PerceptionUnavailable` (not configured)."""
    global _config
    with _lock:
        _config = None


def is_configured() -> bool:
    """Whether a perception server is configured for this session."""
    return _config is not None


def get_config() -> PerceptionConfig | None:
    """The session's configuration, or None."""
    return _config


def default_backend(kind: str) -> str | None:
    """The configured default backend for ``kind`` (``"reconstruct"`` or ``"segment"``), or None."""
    config = _config
    return None if config is None else config.backends.get(kind)


def require_config(tool: str) -> PerceptionConfig:
    """The session's configuration; raises :class:`PerceptionUnavailable` (naming the fix) when there is none."""
    config = _config
    if config is None:
        fix = (
            "start a perception server with `spatialclaw perception start` (or set its URL in the settings) and "
            "start a new session, so that the host passes it to this kernel"
        )
        raise PerceptionUnavailable(
            f"{tool} is not available in this session: no perception server is configured; {fix}",
            code="not_configured",
            fix=fix,
        )
    return config


# --------------------------------------------------------------------------------------------------
# Encoding
# --------------------------------------------------------------------------------------------------


def encode_png(image: Image.Image | np.ndarray) -> bytes:
    """PNG bytes of an RGB image (a PIL image or an (H, W, 3) uint8 array)."""
    img = Image.fromarray(np.ascontiguousarray(image)) if isinstance(image, np.ndarray) else image
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def encode_npy(array: np.ndarray) -> bytes:
    """``.npy`` bytes of a C-ordered copy of ``array`` (``numpy.save``, no pickles)."""
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(array), allow_pickle=False)
    return buf.getvalue()


def decode_npy(data: bytes, name: str = "array") -> np.ndarray:
    """The array stored in ``.npy`` bytes (no pickles).

    Raises:
        PerceptionError: (``bad_reply``) if the bytes are not a valid ``.npy`` file.
    """
    try:
        return np.load(io.BytesIO(data), allow_pickle=False)
    except (ValueError, OSError, TypeError, EOFError) as err:
        raise PerceptionError(
            f"the perception server sent an unreadable array {name!r}: {err}", code="bad_reply"
        ) from None


# --------------------------------------------------------------------------------------------------
# HTTP
# --------------------------------------------------------------------------------------------------

# Proxies from the environment must not intercept calls to the (usually local) perception server.
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _error_from_http(err: urllib.error.HTTPError, url: str, route: str) -> PerceptionError:
    raw = err.read()
    message, code, fix = None, None, None
    try:
        payload = json.loads(raw)
        if isinstance(payload, dict):
            message, code, fix = payload.get("error"), payload.get("code"), payload.get("fix")
    except ValueError:
        pass
    if not isinstance(message, str) or not message:
        message = raw.decode("utf-8", "replace").strip()[:500] or f"HTTP {err.code} {err.reason}"
    code = code if isinstance(code, str) else None
    fix = fix if isinstance(fix, str) and fix else None
    if err.code == 401:
        fix = fix or "start a new session so that the host passes the server's current token"
        text = f"the perception server at {url} rejected this session's token (401 unauthorized): {message}"
    else:
        text = f"perception server ({route}, HTTP {err.code}{', ' + code if code else ''}): {message}"
    if fix and fix not in text:
        text += f" Fix: {fix}"
    cls = ToolError if 400 <= err.code < 500 else PerceptionError
    return cls(text, status=err.code, code=code, fix=fix)


def _timeout_error(url: str, route: str, timeout: float) -> PerceptionError:
    return PerceptionError(
        f"the perception server at {url} did not answer {route} within {timeout:g} s; "
        "send fewer or smaller frames, or pass a longer timeout=",
        code="timeout",
    )


def _send(request: urllib.request.Request, url: str, route: str, timeout: float) -> bytes:
    """The answer body; retries requests that could not connect; never retries an HTTP error answer."""
    attempts = len(RETRY_DELAYS_S) + 1
    for attempt in range(attempts):
        try:
            with _opener.open(request, timeout=timeout) as response:
                return response.read()
        except urllib.error.HTTPError as err:
            raise _error_from_http(err, url, route) from None
        except (urllib.error.URLError, ConnectionError) as err:
            reason = err.reason if isinstance(err, urllib.error.URLError) else err
            if isinstance(reason, ConnectionError) and attempt < attempts - 1:
                time.sleep(RETRY_DELAYS_S[attempt])
                continue
            if isinstance(reason, TimeoutError):
                raise _timeout_error(url, route, timeout) from None
            if isinstance(reason, ConnectionError) and not isinstance(reason, ConnectionRefusedError):
                fix = "check the server's log; if the request is very large, send fewer frames (--max-body-mb)"
                raise PerceptionUnavailable(
                    f"the perception server at {url} closed the connection during {route} ({attempts} attempts): "
                    f"{reason}; {fix}",
                    code="unreachable",
                    fix=fix,
                ) from None
            tries = f" ({attempts} attempts)" if isinstance(reason, ConnectionError) else ""
            raise PerceptionUnavailable(
                f"the perception server at {url} is not reachable{tries}: {reason}; {START_HINT}",
                code="unreachable",
                fix=START_HINT,
            ) from None
        except TimeoutError:
            raise _timeout_error(url, route, timeout) from None
        except http.client.HTTPException as err:
            raise PerceptionError(
                f"the perception server at {url} sent a broken HTTP answer to {route} ({type(err).__name__}); "
                "is it a spatial_perception server? check its log",
                code="bad_reply",
            ) from None
    raise AssertionError("unreachable")  # pragma: no cover


def post(route: str, body: dict[str, Any], *, tool: str, timeout: float | None = None) -> dict[str, Any]:
    """POST a msgpack body to a compute route and decode the answer.

    Args:
        route: e.g. ``"/v1/reconstruct"``.
        body: the request map (bytes values travel as msgpack bin).
        tool: the tool's name for messages (``"tools.Reconstruct"``).
        timeout: seconds the server may spend on the job (sent as ``params.timeout_s`` unless the body's params
            set it; the client waits 30 s longer); default: the server's job timeout, and the client waits
            :data:`DEFAULT_TIMEOUT_S`.

    Returns:
        The answer map with ``"arrays"`` decoded to numpy arrays, plus ``"url"`` (the server's base URL).

    Raises:
        PerceptionUnavailable: not configured, or not reachable after the retries.
        ToolError: the server answered 4xx (its message and fix are in the message).
        PerceptionError: a 5xx answer, a timeout, or a malformed answer.
    """
    import msgpack

    config = require_config(tool)
    if timeout is None:
        wait = DEFAULT_TIMEOUT_S
    else:
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
            raise ToolError(f"timeout must be a number of seconds > 0, got {timeout!r}", code="bad_argument")
        wait = float(timeout) + 30.0
        params = body.get("params")
        if isinstance(params, dict) and "timeout_s" not in params:
            body = {**body, "params": {**params, "timeout_s": float(timeout)}}
    request = urllib.request.Request(
        config.url + route,
        data=msgpack.packb(body, use_bin_type=True),
        headers={
            "Content-Type": "application/msgpack",
            "Accept": "application/msgpack",
            "Authorization": f"Bearer {config.token}",
        },
        method="POST",
    )
    raw = _send(request, config.url, route, wait)
    try:
        reply = msgpack.unpackb(raw, raw=False)
    except Exception as err:  # msgpack raises several unrelated exception types
        raise PerceptionError(
            f"the perception server sent a reply to {route} that is not msgpack ({type(err).__name__}); "
            f"is {config.url} a spatial_perception server?",
            code="bad_reply",
        ) from None
    if not isinstance(reply, dict) or not isinstance(reply.get("arrays"), dict):
        raise PerceptionError(f"the perception server sent a malformed reply to {route}", code="bad_reply")
    reply["arrays"] = {name: decode_npy(data, name) for name, data in reply["arrays"].items()}
    if not isinstance(reply.get("artifact"), dict):
        reply["artifact"] = {}
    if not isinstance(reply.get("info"), dict):
        reply["info"] = {}
    reply["url"] = config.url
    return reply


def health(timeout: float = 10.0) -> dict[str, Any]:
    """The server's ``GET /health`` answer (status, backends with capabilities and availability, cache, queue).

    Raises:
        PerceptionUnavailable: not configured or not reachable.
        PerceptionError: a malformed answer.
    """
    config = require_config("the perception server")
    request = urllib.request.Request(config.url + "/health", method="GET")
    raw = _send(request, config.url, "/health", timeout)
    try:
        reply = json.loads(raw)
    except ValueError:
        raise PerceptionError(f"{config.url}/health did not answer JSON", code="bad_reply") from None
    if not isinstance(reply, dict):
        raise PerceptionError(f"{config.url}/health sent a malformed answer", code="bad_reply")
    return reply


# --------------------------------------------------------------------------------------------------
# Frames
# --------------------------------------------------------------------------------------------------


@dataclass
class FrameBatch:
    """Frames ready to send: ``images`` (each (H, W, 3) uint8 RGB, one size), their absolute ``frame_indices``,
    the ``items`` they came from (input :class:`~spatial_runtime.inputs.Frame` objects keep ``.depth`` and
    ``.pose``), ``size`` (W, H) and the frame source they were bound from (for ``Metadata``), if known."""

    images: list[np.ndarray]
    frame_indices: list[int]
    items: list[Any]
    size: tuple[int, int]
    source: Any = None

    def __len__(self) -> int:
        return len(self.images)

    def png(self) -> list[bytes]:
        return [encode_png(img) for img in self.images]


def _is_collection(obj: Any) -> bool:
    return (
        not isinstance(obj, (Image.Image, np.ndarray, str, bytes))
        and hasattr(obj, "frame_indices")
        and hasattr(obj, "__iter__")
    )


def _source_of(item: Any) -> Any:
    """The frame source an input Frame or InputImages was bound from (None for anything else)."""
    source = getattr(item, "_source", None)
    if source is not None:
        return source
    loader = getattr(item, "_depth_loader", None)
    func = getattr(loader, "func", None)
    return getattr(func, "__self__", None)


def _as_rgb(item: Any, what: str) -> np.ndarray:
    if isinstance(item, np.ndarray) and item.dtype == np.uint8 and item.ndim == 3 and item.shape[2] == 3:
        if item.shape[0] == 0 or item.shape[1] == 0:
            raise ToolError(f"{what} is an empty image of shape {item.shape}", code="bad_argument")
        return np.ascontiguousarray(item)
    try:
        img = display.to_pil(item)
    except (TypeError, ValueError) as err:
        raise ToolError(f"{what}: {err}", code="bad_argument") from None
    if img.mode != "RGB":
        img = img.convert("RGB")
    return np.asarray(img, dtype=np.uint8)


def _frame_index_of(item: Any) -> int | None:
    index = getattr(item, "frame_index", None)
    if isinstance(index, (int, np.integer)) and not isinstance(index, bool) and int(index) >= 0:
        return int(index)
    return None


def _fmt_indices(indices: list[int], limit: int = 12) -> str:
    if len(indices) <= limit:
        return ", ".join(str(i) for i in indices)
    return ", ".join(str(i) for i in indices[: limit - 3]) + ", ..., " + ", ".join(str(i) for i in indices[-2:])


def collect_frames(frames: Any, frame_indices: Any = None, *, what: str = "frames") -> FrameBatch:
    """Normalise the frames a tool was given.

    Args:
        frames: an ``InputImages`` (or a slice of it), one frame, or a list/tuple of frames; a frame is an input
            ``Frame`` (its ``.frame_index`` is used), a PIL image, or an image array as ``show()`` accepts
            ((H, W, 3) uint8 RGB, (H, W) grey, ...). An (N, H, W, 3) uint8 array is N frames.
        frame_indices: absolute frame indices, one per frame; required when the frames are not input frames.
        what: the argument's name for messages.

    Raises:
        ToolError: empty frames, frames of different sizes, missing/duplicate/mismatched frame indices, or an
            object that is not an image.
    """
    source = None
    if _is_collection(frames):
        source = _source_of(frames)
        items = list(frames)
    elif isinstance(frames, np.ndarray) and frames.ndim == 4:
        items = list(frames)
    elif isinstance(frames, (list, tuple)):
        items = list(frames)
    else:
        items = [frames]
    if not items:
        raise ToolError(
            f"{what} is empty: pass InputImages, a slice of it (e.g. InputImages[::4]) or a non-empty list of frames",
            code="bad_argument",
        )
    if frame_indices is not None:
        arr = np.asarray(frame_indices).reshape(-1)
        if arr.size and not (np.issubdtype(arr.dtype, np.integer) and arr.dtype != np.bool_):
            raise ToolError(
                f"frame_indices must be integers (absolute frame indices), got {np.asarray(frame_indices).tolist()}",
                code="bad_argument",
            )
        indices = [int(i) for i in arr]
        if len(indices) != len(items) or any(i < 0 for i in indices):
            raise ToolError(
                f"frame_indices has {len(indices)} entries for {len(items)} {what}: pass one non-negative absolute "
                "frame index per frame",
                code="bad_argument",
            )
    else:
        found = [_frame_index_of(item) for item in items]
        missing = [k for k, i in enumerate(found) if i is None]
        if missing:
            raise ToolError(
                f"{what}[{missing[0]}] is not an input frame, so its frame index is unknown: pass "
                "frame_indices=[...] (absolute indices, one per frame), or pass input frames (InputImages[...])",
                code="bad_argument",
            )
        indices = [int(i) for i in found if i is not None]
    if len(set(indices)) != len(indices):
        dup = sorted({i for i in indices if indices.count(i) > 1})
        raise ToolError(
            f"{what} repeat frame indices {dup}: pass each frame once (frame indices are absolute)",
            code="bad_argument",
        )
    images = [_as_rgb(item, f"{what}[{k}]") for k, item in enumerate(items)]
    sizes: dict[tuple[int, int], list[int]] = {}
    for index, img in zip(indices, images, strict=True):
        sizes.setdefault((img.shape[1], img.shape[0]), []).append(index)
    if len(sizes) > 1:
        parts = "; ".join(f"{w}x{h} (frames {_fmt_indices(idx)})" for (w, h), idx in sizes.items())
        raise ToolError(
            f"{what} have different sizes: {parts}; all frames must have one size (W x H): resize them to one "
            "size or call the tool once per size",
            code="bad_argument",
        )
    if source is None and all(isinstance(getattr(item, "frame_index", None), int) for item in items):
        sources = {id(s): s for s in (_source_of(item) for item in items)}
        if len(sources) == 1:
            source = next(iter(sources.values()))
    return FrameBatch(images, indices, items, next(iter(sizes)), source)


def session_input_images(tool: str) -> Any:
    """The session's ``InputImages`` (the default frames of video tools).

    Raises:
        ToolError: no input is bound, or several are (``InputImages_1..N``): pass ``frames=`` then.
    """
    ns = _user_namespace()
    if ns is not None and _is_collection(ns.get("InputImages")):
        return ns["InputImages"]
    several = sorted(k for k in (ns or {}) if k.startswith("InputImages_"))
    if several:
        raise ToolError(
            f"{tool}: this session has several inputs ({', '.join(several)}); pass frames=, e.g. frames={several[0]}",
            code="bad_argument",
        )
    raise ToolError(f"{tool}: no InputImages are bound in this session; pass frames=[...]", code="bad_argument")


def _user_namespace() -> Any:
    try:
        from spatial_runtime import session

        return session._namespace()
    except Exception:
        return None


def find_metadata(source: Any) -> Any:
    """The ``Metadata`` bound next to the ``InputImages`` whose frames come from ``source``, or None."""
    if source is None:
        return None
    ns = _user_namespace()
    if ns is None:
        return None
    from spatial_runtime.inputs import InputImages, Metadata

    for name, value in list(ns.items()):
        if isinstance(value, InputImages) and name.startswith("InputImages") and value._source is source:
            meta = ns.get("Metadata" + name[len("InputImages") :])
            if isinstance(meta, Metadata):
                return meta
    return None


# --------------------------------------------------------------------------------------------------
# Artifacts
# --------------------------------------------------------------------------------------------------


def artifact_url(base_url: str | None, artifact_id: str | None) -> str | None:
    """``<server>/v1/artifacts/<id>``, or None without a server URL or id."""
    if not base_url or not artifact_id:
        return None
    return f"{base_url.rstrip('/')}/v1/artifacts/{artifact_id}"


def publish_artifact(
    *,
    tool: str,
    kind: str,
    artifact_id: str | None,
    url: str | None,
    summary: str,
    frame_indices: list[int],
    shapes: dict[str, list[int]],
) -> dict[str, Any]:
    """Publish one artifact record as ``display_data`` (through ``display._publish``) and return it.

    Args:
        tool: ``"Reconstruct"`` or ``"SAM3"``.
        kind: ``"reconstruction"`` or ``"masks"``.
        artifact_id: the server's artifact id.
        url: ``<server>/v1/artifacts/<id>``.
        summary: one line.
        frame_indices: absolute frame indices covered.
        shapes: array name -> shape.
    """
    summary = " ".join(str(summary).split())
    record = {
        "id": artifact_id,
        "tool": tool,
        "kind": kind,
        "url": url,
        "summary": summary,
        "frame_indices": [int(i) for i in frame_indices],
        "shapes": {str(k): [int(n) for n in v] for k, v in shapes.items()},
    }
    display._publish({ARTIFACT_MIME: record, "text/plain": f"{tool} artifact {artifact_id}: {summary}"})
    return record
