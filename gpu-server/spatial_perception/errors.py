"""Errors that the perception server turns into JSON responses (docs/perception-api.md, "Auth, limits, errors").

Every error a client can act on is a :class:`PerceptionError`; the app's exception handler answers it with
``{"error": message, "code": code, "fix": fix}``, the HTTP ``status`` and the class's extra ``headers``. A
subclass names its code, status and headers in its class statement::

    class TooLarge(PerceptionError, code="too_large", status=413, headers={"Connection": "close"}): ...
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar


class PerceptionError(Exception):
    """A problem the client can act on (a backend bug when ``status`` is 500).

    Attributes:
        code: one of ``bad_request``, ``unsupported``, ``unknown_backend``, ``not_found``, ``too_large``,
            ``timeout``, ``cancelled``, ``backend_error``, ``unauthorized``.
        status: the HTTP status to answer with.
        headers: extra response headers (e.g. ``WWW-Authenticate`` for 401).
        message: what went wrong, naming the argument.
        fix: what the caller should do about it, or None.
    """

    code: ClassVar[str] = "backend_error"
    status: ClassVar[int] = 500
    headers: ClassVar[Mapping[str, str]] = {}

    def __init_subclass__(
        cls,
        *,
        code: str | None = None,
        status: int | None = None,
        headers: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init_subclass__(**kwargs)
        if code is not None:
            cls.code = code
        if status is not None:
            cls.status = status
        if headers is not None:
            cls.headers = dict(headers)

    def __init__(self, message: str, fix: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix

    def to_json(self) -> dict[str, str | None]:
        """The response body ``{"error", "code", "fix"}``."""
        return {"error": self.message, "code": self.code, "fix": self.fix}


class BadRequest(PerceptionError, code="bad_request", status=400):
    """The request is malformed: wrong shapes, empty frame lists, boxes with x2 < x1, ..."""


class Unsupported(PerceptionError, code="unsupported", status=422):
    """The backend cannot do this (e.g. a text prompt for a backend without text support)."""


class BackendUnavailable(PerceptionError, code="unsupported", status=503):
    """The backend's dependencies or weights are missing on this server."""


class UnknownBackend(PerceptionError, code="unknown_backend", status=404):
    """No backend of that name is loaded on this server."""


class TooLarge(PerceptionError, code="too_large", status=413, headers={"Connection": "close"}):
    """The request body is over the server's ``--max-body-mb`` (the connection is closed: the body is unread)."""


class PixelLimit(PerceptionError, code="too_large", status=413):
    """An image, or a request's images together, over the server's pixel limits (``--max-image-mp``,
    ``--max-request-mp``), found from the image headers before anything is decoded."""


class Unauthorized(PerceptionError, code="unauthorized", status=401, headers={"WWW-Authenticate": "Bearer"}):
    """A missing or wrong ``Authorization: Bearer <token>`` header."""


class NotFound(PerceptionError, code="not_found", status=404):
    """An artifact or array that is not (or no longer) on this server."""


class Cancelled(PerceptionError, code="cancelled", status=499):
    """The job was cancelled: its client disconnected (or the server stopped it)."""


class Timeout(PerceptionError, code="timeout", status=504):
    """The job did not finish within its timeout (queue wait included)."""


class BackendResultError(PerceptionError, code="backend_error", status=500):
    """A backend returned arrays that break the contract (a server bug, answered with 500 ``backend_error``)."""
