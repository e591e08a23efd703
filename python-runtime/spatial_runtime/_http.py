"""The small HTTP pieces shared by the kernel's two clients: the VLM bridge (:mod:`spatial_runtime.vlm`) and
the perception server (:mod:`spatial_runtime.perception`).

Standard library ``urllib`` only. Proxies from the environment are ignored: both services are reached
directly (usually on 127.0.0.1), and a proxy must never see their bearer tokens.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from spatial_runtime.context import Endpoint

# Proxies from the environment must not intercept calls to the local bridge or the perception server.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


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
