"""The small HTTP pieces shared by the kernel's two clients: the VLM bridge (:mod:`spatial_runtime.vlm`) and
the perception server (:mod:`spatial_runtime.perception`).

Standard library ``urllib`` only. Proxies from the environment are ignored: both services are reached
directly (usually on 127.0.0.1), and a proxy must never see their bearer tokens.

A sandboxed kernel has no network (docs/security.md): it reaches the host's bridge at
``http+unix://<socket path, %-quoted>/<route>`` (the scheme of requests-unixsocket and Docker's clients), e.g.
``http+unix://%2Fhost%2Fbridge-1a2b.sock/vlm/ask``; the bridge forwards ``/perception/...`` to the perception
server with the server's own token, which the kernel never holds.
"""

from __future__ import annotations

import http.client
import json
import socket
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from spatial_runtime.context import Endpoint

UNIX_SCHEME = "http+unix"


class _UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP/1.1 over the Unix socket named by the URL's host (%-quoted path)."""

    def __init__(self, host: str, timeout: float | None = None, **_: Any) -> None:
        super().__init__("localhost", timeout=timeout)
        self._socket_path = urllib.parse.unquote(host)

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        if self.timeout is not None and self.timeout is not socket._GLOBAL_DEFAULT_TIMEOUT:  # type: ignore[attr-defined]
            sock.settimeout(self.timeout)
        try:
            sock.connect(self._socket_path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


class UnixHTTPHandler(urllib.request.AbstractHTTPHandler):
    """urllib handler for ``http+unix://`` URLs."""

    def unix_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_UnixHTTPConnection, req)  # type: ignore[arg-type]

    def unix_response(self, request: urllib.request.Request, response: Any) -> Any:
        """As urllib's HTTPErrorProcessor does for http: a non-2xx answer raises ``urllib.error.HTTPError``."""
        if not 200 <= response.code < 300:
            response = self.parent.error("http", request, response, response.code, response.msg, response.info())
        return response


# urllib looks handlers up by "<scheme>_open" / "_request" / "_response"; the scheme has a "+".
setattr(UnixHTTPHandler, f"{UNIX_SCHEME}_open", UnixHTTPHandler.unix_open)
setattr(UnixHTTPHandler, f"{UNIX_SCHEME}_request", urllib.request.AbstractHTTPHandler.do_request_)
setattr(UnixHTTPHandler, f"{UNIX_SCHEME}_response", UnixHTTPHandler.unix_response)

# Proxies from the environment must not intercept calls to the local bridge or the perception server.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), UnixHTTPHandler())


def bearer_request(
    endpoint: Endpoint,
    route: str,
    data: bytes | None = None,
    *,
    content_type: str | None = None,
    accept: str | None = None,
    method: str = "POST",
) -> urllib.request.Request:
    """A request for ``endpoint.url + route`` carrying ``Authorization: Bearer <endpoint.token>``.

    Args:
        endpoint: the service (URL without trailing slash, token).
        route: the path, e.g. ``"/vlm/ask"``.
        data: the body, or None (GET).
        content_type: the body's ``Content-Type``; accept: the ``Accept`` header; both optional.
        method: the HTTP method.
    """
    headers = {"Authorization": f"Bearer {endpoint.token}"}
    if content_type:
        headers["Content-Type"] = content_type
    if accept:
        headers["Accept"] = accept
    return urllib.request.Request(endpoint.url + route, data=data, headers=headers, method=method)


def read_error(err: urllib.error.HTTPError) -> tuple[Any, str]:
    """``(JSON value of the error answer's body or None, the body as text)`` of an HTTP error answer.

    The text falls back to ``"HTTP <code> <reason>"`` when the body is empty.
    """
    raw = err.read()
    try:
        payload = json.loads(raw)
    except ValueError:
        payload = None
    text = raw.decode("utf-8", "replace").strip() or f"HTTP {err.code} {err.reason}"
    return payload, text
