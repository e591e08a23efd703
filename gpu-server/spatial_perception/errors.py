"""Errors that the perception server turns into JSON responses (docs/perception-api.md, "Auth, limits, errors")."""

from __future__ import annotations


class PerceptionError(Exception):
    """A problem the client can act on.

    Attributes:
        code: one of ``bad_request``, ``unsupported``, ``unknown_backend``, ``not_found``, ``too_large``,
            ``timeout``, ``cancelled``, ``backend_error``, ``unauthorized``.
        status: the HTTP status to answer with.
        fix: what the caller should do about it, or None.
    """

    code = "backend_error"
    status = 500

    def __init__(self, message: str, fix: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix

    def to_json(self) -> dict[str, str | None]:
        return {"error": self.message, "code": self.code, "fix": self.fix}


class BadRequest(PerceptionError):
    """The request is malformed: wrong shapes, empty frame lists, boxes with x2 < x1, ..."""

    code = "bad_request"
    status = 400


class Unsupported(PerceptionError):
    """The backend cannot do this (e.g. a text prompt for a backend without text support) or is unavailable."""

    code = "unsupported"
    status = 422


class BackendUnavailable(PerceptionError):
    """The backend's dependencies or weights are missing on this server."""

    code = "unsupported"
    status = 503


class UnknownBackend(PerceptionError):
    code = "unknown_backend"
    status = 404


class TooLarge(PerceptionError):
    """The request body is over the server's ``--max-body-mb``."""

    code = "too_large"
    status = 413


class Unauthorized(PerceptionError):
    """A missing or wrong ``Authorization: Bearer <token>`` header."""

    code = "unauthorized"
    status = 401


class NotFound(PerceptionError):
    code = "not_found"
    status = 404


class Cancelled(PerceptionError):
    code = "cancelled"
    status = 499


class Timeout(PerceptionError):
    code = "timeout"
    status = 504
