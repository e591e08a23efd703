"""Fixtures and helpers shared by the kernel-tool tests (test_kernel_tools_*.py): tools.Reconstruct and tools.SAM3
(python-runtime) and their perception-server client.

Bind the fixtures into a test module as session_helpers.dict_session is bound (plain helpers are imported)::

    import kernel_tools_helpers
    from kernel_tools_helpers import bind, rgb

    _clean_state = kernel_tools_helpers._clean_state  # autouse: applies to every test of this module
    room = kernel_tools_helpers.room

``_clean_state`` is autouse: binding it into a module is what applies it to that module's tests (this file is not
a conftest, so it applies nowhere else). ``published`` depends on it, and ``fake`` relies on it to forget the
perception configuration it sets: bind it wherever they are used.
"""

from __future__ import annotations

import contextlib
import io
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import msgpack
import numpy as np
import pytest
from PIL import Image
from spatial_runtime import context, display, perception
from spatial_runtime.display import ARTIFACT_MIME
from spatial_runtime.inputs import load_inputs

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
ROOM = FIXTURES / "rgbd_room"


@pytest.fixture(autouse=True)
def _clean_state(monkeypatch):
    """No perception config or bound input leaks between tests; no real waiting between retries; display
    bundles captured."""
    context.clear()
    monkeypatch.setattr(perception, "RETRY_DELAYS_S", (0.01, 0.01))
    published: list[dict] = []
    monkeypatch.setattr(display, "_publish", published.append)
    yield published
    context.clear()


@pytest.fixture
def published(_clean_state):
    return _clean_state


def bind(loaded, name="InputImages"):
    """Record an input in the session's context as session.prepare does (``name``: InputImages or InputImages_k);
    ``_clean_state`` forgets it after the test."""
    metadata_name = "Metadata" + name[len("InputImages") :]
    context.bind_inputs([context.BoundInput(name, metadata_name, loaded["InputImages"], loaded["Metadata"])])


@pytest.fixture(scope="module")
def room():
    return load_inputs([{"kind": "rgbd_sample", "path": str(ROOM)}])


def artifacts(bundles):
    return [b[ARTIFACT_MIME] for b in bundles if ARTIFACT_MIME in b]


def rgb(h=4, w=5, value=0):
    return np.full((h, w, 3), value, np.uint8)


# --------------------------------------------------------------------------------------------------
# An in-process fake perception server (request encoding, reply decoding, errors, retries)
# --------------------------------------------------------------------------------------------------


def npy(a):
    buf = io.BytesIO()
    np.save(buf, a)
    return buf.getvalue()


def unnpy(b):
    return np.load(io.BytesIO(b), allow_pickle=False)


class FakeServer:
    """Answers /v1/* with what ``reply(route, body)`` returns: (status, dict) -> msgpack, or JSON for >= 400."""

    def __init__(self, reply, port=0):
        self.requests: list[tuple[str, dict, dict]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server API
                body = msgpack.unpackb(self.rfile.read(int(self.headers["Content-Length"])), raw=False)
                fake.requests.append((self.path, body, dict(self.headers)))
                status, payload = reply(self.path, body)
                data = msgpack.packb(payload, use_bin_type=True) if status < 400 else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/msgpack" if status < 400 else "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@contextlib.contextmanager
def serving(reply, backends=None):
    """A :class:`FakeServer` answering with ``reply``, configured as the session's perception server with the default
    ``backends`` (``{"segment": "sam3"}``, ...); closed on exit (``_clean_state`` forgets the configuration)."""
    server = FakeServer(reply)
    perception.configure(server.url, "tok", backends or {})
    try:
        yield server
    finally:
        server.close()


def fake_reconstruction(body):
    frames = [np.asarray(Image.open(io.BytesIO(b))) for b in body["frames"]]
    n, (h, w) = len(frames), frames[0].shape[:2]
    fi = np.asarray(body["frame_indices"], np.int64)
    depth = np.full((n, h, w), 2.0, np.float32)
    points = np.zeros((n, h, w, 3), np.float32)
    points[..., 1] = np.arange(h, dtype=np.float32)[None, :, None] / 100  # Y = row / 100
    points[..., 2] = -2.0
    E = np.repeat(np.eye(4)[None], n, 0)
    K = np.repeat(np.array([[500.0, 0, w / 2], [0, 500.0, h / 2], [0, 0, 1]])[None], n, 0)
    arrays = {
        "depth": depth,
        "confidence": np.ones((n, h, w), np.float32),
        "points": points,
        "extrinsics": E,
        "intrinsics": K,
        "frame_indices": fi,
        "colors": np.stack(frames),
    }
    artifact = {
        "id": "rec1",
        "kind": "reconstruction",
        "backend": body["backend"],
        "frame_indices": fi.tolist(),
        "shapes": {k: list(v.shape) for k, v in arrays.items()},
        "summary": f"{n} frames via {body['backend']}",
    }
    info = {"alignment": {"method": "camera_fallback", "floor_inliers": 0}}
    return {"artifact": artifact, "arrays": {k: npy(v) for k, v in arrays.items()}, "info": info, "cache": "miss"}


def fake_masks(body, route):
    frames = [body["image"]] if route.endswith("/image") else body["frames"]
    img = np.asarray(Image.open(io.BytesIO(frames[0])))
    h, w = img.shape[:2]
    t = len(frames)
    prompt = body["prompt"]
    if prompt["type"] == "text" and body["backend"] == "classical":
        return 422, {
            "error": f"the classical backend cannot segment from a text prompt ({prompt['text']!r})",
            "code": "unsupported",
            "fix": "use a box or points prompt, or select a text-capable backend: sam3, oracle",
        }
    k = 2 if prompt["type"] == "text" else 1
    masks = np.zeros((t, k, h, w), bool)
    masks[:, 0, 1:3, 1:4] = True
    scores = np.full((t, k), 0.75, np.float32)
    fi = np.asarray(body.get("frame_indices", [0]), np.int64)
    labels = [prompt.get("text", "object")] * k
    artifact = {
        "id": f"m{len(body['prompt'])}-{prompt.get('text', prompt['type'])}",
        "kind": "masks",
        "backend": body["backend"],
    }
    arrays = {"masks": npy(masks), "scores": npy(scores), "frame_indices": npy(fi)}
    return 200, {"artifact": artifact, "arrays": arrays, "info": {"labels": labels}, "cache": "miss"}


@pytest.fixture
def fake():
    def reply(route, body):
        if route == "/v1/reconstruct":
            return 200, fake_reconstruction(body)
        if route.startswith("/v1/segment/"):
            return fake_masks(body, route)
        return 404, {"error": "no route", "code": "not_found", "fix": None}

    server = FakeServer(reply)
    perception.configure(server.url + "/", "tok", {"segment": "classical"})
    yield server
    server.close()
