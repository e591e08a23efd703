"""The perception server's FastAPI app (docs/perception-api.md is the contract).

:func:`create_app` loads the configured backends, re-indexes the artifacts already on disk
(:class:`~spatial_perception.state.ServerState`) and returns the app with the routers of
:mod:`spatial_perception.routes` (the compute pipeline is :mod:`spatial_perception.pipeline`).

Errors are JSON ``{"error", "code", "fix"}``:

- a :class:`~spatial_perception.errors.PerceptionError` is answered with its status and headers (413 closes the
  connection, 401 carries ``WWW-Authenticate: Bearer``);
- a client that disconnects while its body is read gets 499 (nobody reads it);
- HTTP errors of the framework (unknown route 404, wrong method 405) keep the same JSON form;
- any other exception becomes 500 ``backend_error`` with the exception's type and message; the traceback goes
  to the log on stderr, never into the body. This last rule is an ASGI middleware rather than an
  ``Exception`` handler, because Starlette re-raises after such a handler, which would log the error twice and
  close the keep-alive connection.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from spatial_perception import __version__, routes
from spatial_perception.config import ServerConfig
from spatial_perception.errors import PerceptionError
from spatial_perception.state import ServerState

__all__ = ["ServerConfig", "create_app", "error_response"]

log = logging.getLogger("spatial_perception")

HTTP_CODES = {401: "unauthorized", 404: "not_found", 413: "too_large"}
"""Error code of a framework HTTP error by status (others are ``bad_request``)."""


def error_response(exc: PerceptionError) -> JSONResponse:
    """The JSON error ``{"error", "code", "fix"}`` of a PerceptionError, with its HTTP status and headers."""
    return JSONResponse(exc.to_json(), status_code=exc.status, headers=dict(exc.headers))


async def _perception_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, PerceptionError)
    if exc.status >= 500:
        log.warning("%s: %s", exc.code, exc.message)
    return error_response(exc)


async def _client_disconnect(_: Request, __: Exception) -> Response:
    return Response(status_code=499)


async def _http_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    code = HTTP_CODES.get(exc.status_code, "bad_request")
    fix = "see docs/perception-api.md for the routes" if exc.status_code in (404, 405) else None
    return JSONResponse({"error": str(exc.detail), "code": code, "fix": fix}, status_code=exc.status_code)


class UnexpectedErrors:
    """ASGI middleware: an exception that no handler took becomes 500 ``backend_error`` (type and message).

    The traceback is logged. When the response had already started, the exception is re-raised (the server
    then closes the connection: the client sees a truncated answer).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception as exc:
            log.exception("unexpected error in %s %s", scope.get("method"), scope.get("path"))
            if started:
                raise
            body = {"error": f"{type(exc).__name__}: {exc}", "code": "backend_error", "fix": None}
            await JSONResponse(body, status_code=500)(scope, receive, send)


def create_app(config: ServerConfig) -> FastAPI:
    """Build the app: load backends, open the artifact store, register the routes of docs/perception-api.md.

    The returned app's ``app.state.perception`` is its :class:`~spatial_perception.state.ServerState`.

    Raises:
        ValueError: an empty token or an unknown backend name in ``config.backends``.
    """
    state = ServerState(config)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            state.close()

    app = FastAPI(
        title="spatial_perception",
        version=__version__,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,  # served by routes.openapi, behind the token
        lifespan=lifespan,
    )
    app.state.perception = state
    app.add_exception_handler(PerceptionError, _perception_error)
    app.add_exception_handler(ClientDisconnect, _client_disconnect)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_middleware(UnexpectedErrors)
    app.include_router(routes.public)
    app.include_router(routes.api)
    return app
