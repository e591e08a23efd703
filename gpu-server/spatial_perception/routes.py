"""The routes of the perception server (docs/perception-api.md, "Routes").

Two routers: :data:`public` (``GET /health``, no token) and :data:`api` (every other route, behind the
:func:`require_token` dependency: ``Authorization: Bearer <token>``, compared with :func:`hmac.compare_digest`).
The OpenAPI description is served to authenticated clients only, at ``GET /openapi.json``; there are no
``/docs`` or ``/redoc`` pages. Errors are raised as :class:`~spatial_perception.errors.PerceptionError` and
answered by the app's exception handlers (:mod:`spatial_perception.app`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Annotated, Any, BinaryIO

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel

from spatial_perception.pipeline import compute
from spatial_perception.requests import parse_reconstruct, parse_segment_image, parse_segment_video
from spatial_perception.state import MB, ServerState

bearer = HTTPBearer(auto_error=False, description="the token the server was started with")


class ErrorBody(BaseModel):
    """Every error answer: what went wrong (naming the argument), a code, and what to do about it."""

    error: str
    code: str
    fix: str | None


def server_state(request: Request) -> ServerState:
    """The :class:`ServerState` of the app serving ``request``."""
    return request.app.state.perception


State = Annotated[ServerState, Depends(server_state)]
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


async def require_token(state: State, credentials: Credentials) -> None:
    """Dependency of every route but ``/health``.

    Raises:
        Unauthorized: no ``Authorization: Bearer <token>`` header, or a wrong token (401).
    """
    state.check_token(None if credentials is None else credentials.credentials)


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {s: {"model": ErrorBody, "description": "JSON error {error, code, fix}"} for s in statuses}


public = APIRouter()
api = APIRouter(dependencies=[Depends(require_token)], responses=_errors(401))

COMPUTE: dict[str, Any] = {
    "openapi_extra": {
        "requestBody": {"required": True, "content": {"application/msgpack": {"schema": {"type": "object"}}}}
    },
    "responses": {
        200: {
            "description": 'msgpack {"artifact", "arrays": {name: .npy bytes}, "info", "cache", "compute_ms", '
            '"queue_ms", "server_ms"}',
            "content": {"application/msgpack": {}},
        },
        **_errors(400, 404, 413, 422, 499, 500, 503, 504),
    },
}
"""OpenAPI details shared by the compute routes (msgpack bodies are not described by a JSON schema here)."""


@public.get("/health")
async def health(state: State) -> JSONResponse:
    """Server status, backends, queue lengths and cache statistics (no token needed)."""
    return JSONResponse(state.health())


@api.get("/openapi.json", include_in_schema=False)
async def openapi(request: Request) -> JSONResponse:
    """The OpenAPI description of these routes (authenticated clients only)."""
    return JSONResponse(request.app.openapi())


@api.get("/v1/backends")
async def backends(state: State) -> JSONResponse:
    """The configured backends, as ``/health`` lists them."""
    return JSONResponse(state.backends_json())


@api.post("/v1/reconstruct", **COMPUTE)
async def reconstruct(request: Request, state: State) -> Response:
    """Depth, confidence, world points and cameras of N frames (a ``reconstruction`` artifact)."""
    max_frames = state.config.max_frames
    return await compute(state, request, "reconstruct", lambda msg: parse_reconstruct(msg, max_frames))


@api.post("/v1/segment/image", **COMPUTE)
async def segment_image(request: Request, state: State) -> Response:
    """Masks of the prompted object(s) in one image (a ``masks`` artifact)."""
    return await compute(state, request, "segment_image", parse_segment_image)


@api.post("/v1/segment/video", **COMPUTE)
async def segment_video(request: Request, state: State) -> Response:
    """Masks of the prompted object(s) over the frames of one video (a ``masks`` artifact)."""
    return await compute(state, request, "segment_video", parse_segment_video)


@api.get("/v1/artifacts/{artifact_id}", responses=_errors(400, 404))
async def artifact(artifact_id: str, state: State) -> JSONResponse:
    """The artifact's record plus ``"arrays": {name: {"shape", "dtype", "bytes"}}`` and the backend's ``"info"``."""
    entry = state.find(artifact_id)
    return JSONResponse({**entry.record, "arrays": entry.arrays, "info": entry.info})


def _file_chunks(f: BinaryIO, chunk: int = MB) -> Iterator[bytes]:
    with f:
        while data := f.read(chunk):
            yield data


@api.get(
    "/v1/artifacts/{artifact_id}/{name}.npy",
    responses={200: {"content": {"application/octet-stream": {}}}, **_errors(400, 404)},
)
async def artifact_array(artifact_id: str, name: str, state: State) -> Response:
    """One array of the artifact as raw ``.npy`` bytes (streamed from disk)."""
    entry = state.find(artifact_id)
    f = state.store.open_array(entry.id, name, entry.arrays)
    size = os.fstat(f.fileno()).st_size
    return StreamingResponse(
        _file_chunks(f),
        media_type="application/octet-stream",
        headers={"Content-Length": str(size), "Content-Disposition": f'attachment; filename="{name}.npy"'},
    )
