"""Kernel-side client of the perception server (docs/perception-api.md, "Kernel side").

``tools.Reconstruct`` and ``tools.SAM3`` call the server through this module. The host passes the server's
URL, a bearer token and the default backends in ``session.prepare`` (``"perception": {"url", "token",
"backends": {"reconstruct", "segment"}}``); :func:`configure` checks them and keeps them in memory only, in the
session's state (:mod:`spatial_runtime.context`; never written to disk or ``os.environ``), and ``session.reset``
forgets them.

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

Frame collection and the artifact records the tools publish live in :mod:`spatial_runtime.tools._common`.
"""

from __future__ import annotations

import http.client
import io
import json
import time
import urllib.error
import urllib.request
from typing import Any

import numpy as np
from PIL import Image

from spatial_runtime import _http, context
from spatial_runtime.context import PerceptionConfig

__all__ = [
    "PerceptionConfig",
    "PerceptionError",
    "PerceptionUnavailable",
    "ToolError",
    "clear",
    "configure",
    "decode_npy",
    "default_backend",
    "encode_npy",
    "encode_png",
    "get_config",
    "health",
    "is_configured",
    "post",
    "require_config",
]

DEFAULT_TIMEOUT_S = 660.0
"""Seconds a compute request may take (the server's default job timeout is 600 s, plus queueing slack)."""
RETRY_DELAYS_S: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0, 4.0)
"""Waits before the 2nd, 3rd, ... attempt of a request that could not connect; tests may shorten them.

About 8 s in all: long enough for the host to restart a local server that died (it comes back on the same address
and token, docs/perception.md), so the tool call goes through instead of failing."""
START_HINT = "start one with `spatialclaw perception start` or check the URL"
BACKEND_KINDS = ("reconstruct", "segment")


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


def configure(url: str, token: str, backends: dict[str, str] | None = None) -> None:
    """Point the perception tools at a server. Held in memory only.

    Args:
        url: base URL, e.g. ``"http://127.0.0.1:8765"`` (a trailing slash is ignored).
        token: bearer token sent as ``Authorization: Bearer <token>``.
        backends: default backend names, ``{"reconstruct": str, "segment": str}`` (either key optional).

    Raises:
        ValueError: for a URL that is not http(s), a token that is not a string, or malformed backends.
    """
    url, token = PerceptionConfig.checked_parts(url, token, "perception")
    chosen: dict[str, str] = {}
    if backends is not None:
        if not isinstance(backends, dict):
            raise ValueError(f"perception backends must be a dict like {{'reconstruct': 'rgbd'}}, got {backends!r}")
        for key, name in backends.items():
            if key not in BACKEND_KINDS:
                raise ValueError(f"perception backends: unknown key {key!r}; use 'reconstruct' and/or 'segment'")
            if name is None:
                continue
            if not isinstance(name, str) or not name:
                raise ValueError(f"perception backends[{key!r}] must be a backend name (str), got {name!r}")
            chosen[key] = name
    context.update(perception=PerceptionConfig(url, token, chosen))


def clear() -> None:
    """Forget the server; later tool calls raise :class:`PerceptionUnavailable` (not configured)."""
    context.update(perception=None)


def get_config() -> PerceptionConfig | None:
    """The session's configuration, or None."""
    return context.current().perception


def is_configured() -> bool:
    """Whether a perception server is configured for this session."""
    return get_config() is not None


def default_backend(kind: str) -> str | None:
    """The configured default backend for ``kind`` (``"reconstruct"`` or ``"segment"``), or None."""
    config = get_config()
    return None if config is None else config.backends.get(kind)


def require_config(tool: str) -> PerceptionConfig:
    """The session's configuration; raises :class:`PerceptionUnavailable` (naming the fix) when there is none."""
    config = get_config()
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


def _error_from_http(err: urllib.error.HTTPError, url: str, route: str) -> PerceptionError:
    payload, raw_text = _http.read_error(err)
    message, code, fix = None, None, None
    if isinstance(payload, dict):
        message, code, fix = payload.get("error"), payload.get("code"), payload.get("fix")
    if not isinstance(message, str) or not message:
        message = raw_text[:500]
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
    """The answer body; retries requests that could not connect; never retries an HTTP error answer of the server.

    HTTP 502 counts as a failed connection: the perception server never sends it, while the host's model bridge (the
    sandboxed kernel's way to the server, electron/services/kernel/bridge.ts) answers 502 when it cannot reach the
    server, e.g. while a local server is being restarted. Sandboxed or not, the kernel retries alike.
    """
    attempts = len(RETRY_DELAYS_S) + 1
    for attempt in range(attempts):
        try:
            with _http.OPENER.open(request, timeout=timeout) as response:
                return response.read()
        except urllib.error.HTTPError as err:
            if err.code != 502:
                raise _error_from_http(err, url, route) from None
            payload, raw_text = _http.read_error(err)
            if attempt < attempts - 1:
                time.sleep(RETRY_DELAYS_S[attempt])
                continue
            said = payload.get("error") if isinstance(payload, dict) else None
            said = said if isinstance(said, str) and said else f"{url} answered HTTP 502: {raw_text[:500]}"
            raise PerceptionUnavailable(
                f"{said} ({attempts} attempts); {START_HINT}",
                status=502,
                code="unreachable",
                fix=START_HINT,
            ) from None
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
    request = _http.bearer_request(
        config,
        route,
        msgpack.packb(body, use_bin_type=True),
        content_type="application/msgpack",
        accept="application/msgpack",
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
    # /health needs no token; the host bridge of a sandboxed kernel, which forwards it, does.
    request = _http.bearer_request(config, "/health", method="GET")
    raw = _send(request, config.url, "/health", timeout)
    try:
        reply = json.loads(raw)
    except ValueError:
        raise PerceptionError(f"{config.url}/health did not answer JSON", code="bad_reply") from None
    if not isinstance(reply, dict):
        raise PerceptionError(f"{config.url}/health sent a malformed answer", code="bad_reply")
    return reply
