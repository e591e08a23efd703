"""Perception server core (spatial_perception): real uvicorn processes started with ``python -m spatial_perception``.

Scheduling is observed through the ``echo`` diagnostics backends (test/python/perception_testing/echo.py): their
``info`` reports which jobs started, which saw their cancel event and how many ran at once. Tests assert
orders and counts (from ``info`` and ``/health``), never durations.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import msgpack
import numpy as np
import pytest
from perception_helpers import (
    ECHO_ARGS,
    ServerHandle,
    jpeg_bytes,
    load_npy,
    npy_bytes,
    perception_server_factory,  # noqa: F401  (pytest fixture)
    png_bytes,
    raw_http,
    server_env,
    start_server,
)

H, W = 24, 32
MISSING = "missing=spatial_perception.backends._not_there:Nope"
RECORD_KEYS = {"id", "kind", "backend", "created", "frame_indices", "shapes", "summary", "params"}


@pytest.fixture(scope="module")
def server():
    handle = start_server(
        "echo,echo2,echo_unavailable,missing",
        ("--max-body-mb", "1", "--max-frames", "4"),
        env={"SPATIAL_PERCEPTION_EXTRA_BACKENDS": MISSING},  # the environment variable still maps backends in
    )
    yield handle
    handle.stop()


# --------------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------------


def new_tag() -> str:
    return uuid.uuid4().hex[:10]


def images(n: int, seed: int = 0, h: int = H, w: int = W) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for _ in range(n)]


def recon_body(n: int = 2, seed: int = 0, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "backend": "echo",
        "frames": [png_bytes(im) for im in images(n, seed)],
        "frame_indices": [10 * (i + 1) for i in range(n)],
        "params": {"tag": new_tag()},
    }
    body.update(fields)
    return body


def seg_body(backend: str = "echo", **params: Any) -> dict[str, Any]:
    return {
        "backend": backend,
        "image": png_bytes(images(1, seed=7)[0]),
        "prompt": {"type": "box", "box": [2, 2, 10, 10]},
        "params": {"tag": new_tag(), **params},
    }


def video_body(n: int = 3, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "backend": "echo",
        "frames": [png_bytes(im) for im in images(n, seed=3)],
        "frame_indices": [10 * (i + 1) for i in range(n)],
        "prompt_frame_index": 20,
        "prompt": {"type": "points", "points": [[5, 5], [20, 10]], "labels": [1, 0]},
        "params": {"tag": new_tag()},
    }
    body.update(fields)
    return body


def wait_for(pred: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def queue_len(server: ServerHandle, device: str = "cpu") -> int:
    return server.health()["queue"].get(device, 0)


def raw_post(server: ServerHandle, route: str, body: dict[str, Any]) -> bytes:
    data = msgpack.packb(body, use_bin_type=True)
    head = (
        f"POST {route} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {server.token}\r\n"
        f"Content-Type: application/msgpack\r\nContent-Length: {len(data)}\r\n\r\n"
    )
    return head.encode() + data


def open_and_send(server: ServerHandle, request: bytes) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    sock.sendall(request)
    return sock


def raw_get(server: ServerHandle, path: str) -> tuple[int, bytes]:
    req = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {server.token}\r\nConnection: close\r\n\r\n"
    return raw_http(server, req.encode())


def echo_info(server: ServerHandle) -> dict[str, Any]:
    """Run a quick echo job on the cpu queue and return its info (the backend's bookkeeping so far)."""
    status, reply = server.post("/v1/segment/image", seg_body())
    assert status == 200, reply
    return reply["info"]


# --------------------------------------------------------------------------------------------------
# start-up, health, auth, limits
# --------------------------------------------------------------------------------------------------


def test_ready_line_names_the_bound_port(server):
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", server.url)
    assert server.port > 0
    assert server.stdout_lines[0] == f"SPATIAL_PERCEPTION_READY {server.url}"
    assert httpx.get(server.url + "/health").status_code == 200


def test_health_shape(server):
    h = server.health()
    assert set(h) == {"status", "version", "backends", "device", "queue", "cache", "uptime_s"}
    assert h["status"] == "ok" and isinstance(h["version"], str) and h["uptime_s"] >= 0
    by_name = {b["name"]: b for b in h["backends"]}
    assert list(by_name) == ["echo", "echo2", "echo_unavailable", "missing"]
    for b in h["backends"]:
        assert set(b) == {"name", "capabilities", "device", "version", "available", "reason"}
    assert by_name["echo"]["available"] is True and by_name["echo"]["reason"] is None
    assert "reconstruct" in by_name["echo"]["capabilities"] and by_name["echo"]["device"] == "cpu"
    assert by_name["echo2"]["device"] == "test:1" and "text" not in by_name["echo2"]["capabilities"]
    assert by_name["echo_unavailable"]["available"] is False
    assert "never runs" in by_name["echo_unavailable"]["reason"]
    assert by_name["missing"]["available"] is False and "ModuleNotFoundError" in by_name["missing"]["reason"]
    assert set(h["queue"]) == {"cpu", "test:1"}
    assert set(h["cache"]) == {"entries", "bytes", "max_bytes", "hits", "misses", "evictions"}
    assert h["cache"]["max_bytes"] == 2048 * 1024 * 1024
    assert h["device"] == "test:1"


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong-token"}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer"}],
)
def test_every_route_but_health_needs_the_token(server, headers):
    for method, path in [
        ("GET", "/openapi.json"),
        ("GET", "/v1/backends"),
        ("GET", f"/v1/artifacts/{'0' * 32}"),
        ("GET", f"/v1/artifacts/{'0' * 32}/depth.npy"),
        ("POST", "/v1/reconstruct"),
        ("POST", "/v1/segment/image"),
        ("POST", "/v1/segment/video"),
    ]:
        r = httpx.request(method, server.url + path, headers=headers, content=b"\x80")
        assert r.status_code == 401, (method, path, r.text)
        body = r.json()
        assert body["code"] == "unauthorized" and "Authorization: Bearer" in body["fix"]
    assert httpx.get(server.url + "/health", headers=headers).status_code == 200


def test_backends_route_lists_what_health_lists(server):
    status, body = server.get_json("/v1/backends")
    assert status == 200 and body == server.health()["backends"]


def test_unknown_route_is_a_json_404(server):
    status, body = server.get_json("/v1/nothing-here")
    assert status == 404 and body["code"] == "not_found"


def test_content_length_over_the_cap_is_refused_before_reading(server):
    req = (
        f"POST /v1/reconstruct HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {server.token}\r\n"
        f"Content-Type: application/msgpack\r\nContent-Length: {5 * 1024 * 1024}\r\n\r\n"
    )
    status, body = raw_http(server, req.encode())  # the body is never sent: the answer must not wait for it
    err = json.loads(body)
    assert status == 413 and err["code"] == "too_large"
    assert "--max-body-mb 1" in err["error"] and "max-body-mb" in err["fix"]


def test_streamed_body_over_the_cap_is_refused(server):
    size = 1024 * 1024 + 1  # one byte over --max-body-mb 1; sent as a chunk without its end marker
    req = (
        f"POST /v1/reconstruct HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {server.token}\r\n"
        f"Content-Type: application/msgpack\r\nTransfer-Encoding: chunked\r\n\r\n{size:x}\r\n"
    ).encode() + b"\0" * size
    status, body = raw_http(server, req)
    assert status == 413 and json.loads(body)["code"] == "too_large"


def test_refuses_to_start_without_a_token():
    env = {k: v for k, v in server_env().items() if k != "SPATIAL_PERCEPTION_TOKEN"}
    r = subprocess.run(
        [sys.executable, "-m", "spatial_perception", "--port", "0", "--backends", "echo", *ECHO_ARGS],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2 and r.stdout == ""
    assert "token is required" in r.stderr and "SPATIAL_PERCEPTION_TOKEN" in r.stderr


def test_refuses_unknown_backend_names_at_start():
    r = subprocess.run(
        [sys.executable, "-m", "spatial_perception", "--port", "0", "--backends", "echo,nope", *ECHO_ARGS],
        env=server_env(SPATIAL_PERCEPTION_TOKEN="t"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2 and "READY" not in r.stdout
    assert "unknown backend 'nope'" in r.stderr and "rgbd" in r.stderr


# --------------------------------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------------------------------


def _frames_mixed() -> dict[str, Any]:
    body = recon_body(2)
    body["frames"][1] = png_bytes(images(1, h=20, w=30)[0])
    return body


def _with_depth(depth: np.ndarray) -> dict[str, Any]:
    return recon_body(2, depth=npy_bytes(depth))


def _depth_frame1(value: float) -> np.ndarray:
    d = np.ones((2, H, W), np.float32)
    d[1] = value
    return d


def _scaled_pose() -> np.ndarray:
    poses = np.tile(np.eye(4), (2, 1, 1))
    poses[1, :3, :3] *= 2.0
    return poses


def _points(points: list, labels: list) -> dict[str, Any]:
    return {**seg_body(), "prompt": {"type": "points", "points": points, "labels": labels}}


def _box(box: list) -> dict[str, Any]:
    return {**seg_body(), "prompt": {"type": "box", "box": box}}


VALIDATION_CASES = [
    ("empty frames", "/v1/reconstruct", lambda: recon_body(2, frames=[], frame_indices=[]), "'frames' is empty"),
    ("mixed sizes", "/v1/reconstruct", _frames_mixed, "frames have mixed sizes: frame index 10 (frames[0]) is 32x24"),
    (
        "frame_indices length",
        "/v1/reconstruct",
        lambda: recon_body(2, frame_indices=[1]),
        "len(frame_indices) is 1 but len(frames) is 2",
    ),
    (
        "undecodable frame",
        "/v1/reconstruct",
        lambda: recon_body(2, frames=[png_bytes(images(1)[0]), b"not an image"]),
        "frame index 20 (frames[1]) could not be decoded",
    ),
    (
        "depth shape",
        "/v1/reconstruct",
        lambda: _with_depth(np.ones((2, H, W + 1), np.float32)),
        "depth has shape (2, 24, 33) but the 2 frame(s) need (2, 24, 32)",
    ),
    (
        "depth zero-only",
        "/v1/reconstruct",
        lambda: _with_depth(_depth_frame1(0.0)),
        "depth for frame index 20 (frames[1]) has no valid pixel",
    ),
    (
        "depth NaN-only",
        "/v1/reconstruct",
        lambda: _with_depth(_depth_frame1(np.nan)),
        "depth for frame index 20 (frames[1]) has no valid pixel",
    ),
    (
        "depth integer",
        "/v1/reconstruct",
        lambda: _with_depth(np.ones((2, H, W), np.uint16)),
        "depth has dtype uint16; it must be float metres",
    ),
    (
        "depth not npy",
        "/v1/reconstruct",
        lambda: recon_body(2, depth=b"\x00\x01junk"),
        "depth is not a readable .npy array",
    ),
    (
        "intrinsics shape",
        "/v1/reconstruct",
        lambda: recon_body(2, intrinsics=npy_bytes(np.eye(4))),
        "intrinsics has shape (4, 4); expected (3, 3) or (2, 3, 3)",
    ),
    (
        "poses shape",
        "/v1/reconstruct",
        lambda: recon_body(2, poses=npy_bytes(np.eye(4))),
        "poses has shape (4, 4); expected (2, 4, 4)",
    ),
    (
        "poses not rigid",
        "/v1/reconstruct",
        lambda: recon_body(2, poses=npy_bytes(_scaled_pose())),
        "poses[1] (frame index 20 (frames[1])) is not a rigid transform",
    ),
    (
        "too many frames",
        "/v1/reconstruct",
        lambda: recon_body(5),
        "reconstruct got 5 frames but max_frames is 4",
    ),
    (
        "params not a map",
        "/v1/reconstruct",
        lambda: recon_body(2, params=[1, 2]),
        "'params' must be a map",
    ),
    ("unknown field", "/v1/reconstruct", lambda: recon_body(2, intrinsic=b""), "unknown field(s) 'intrinsic'"),
    (
        "point outside",
        "/v1/segment/image",
        lambda: _points([[3, 3], [100, 5]], [1, 1]),
        "prompt.points[1] = (100, 5) is outside the 32x24 image",
    ),
    (
        "points/labels length",
        "/v1/segment/image",
        lambda: _points([[3, 3], [4, 4]], [1]),
        "prompt.points has 2 point(s) but prompt.labels has 1 label(s)",
    ),
    ("labels not 0/1", "/v1/segment/image", lambda: _points([[3, 3]], [2]), "labels must be 1 (foreground) or 0"),
    ("box x2 <= x1", "/v1/segment/image", lambda: _box([10, 2, 10, 8]), "needs x2 > x1 and y2 > y1"),
    ("box y2 <= y1", "/v1/segment/image", lambda: _box([1, 9, 10, 3]), "needs x2 > x1 and y2 > y1"),
    ("box outside", "/v1/segment/image", lambda: _box([5, 5, 60, 20]), "is outside the 32x24 image"),
    (
        "prompt type",
        "/v1/segment/image",
        lambda: {**seg_body(), "prompt": {"type": "mask"}},
        "prompt.type must be 'text', 'points' or 'box'",
    ),
    (
        "prompt_frame_index",
        "/v1/segment/video",
        lambda: video_body(prompt_frame_index=5),
        "prompt_frame_index 5 is not one of frame_indices [10, 20, 30]",
    ),
    (
        "video point outside",
        "/v1/segment/video",
        lambda: video_body(prompt={"type": "points", "points": [[3, 30]], "labels": [1]}),
        "prompt.points[0] = (3, 30) is outside the 32x24 image",
    ),
]


@pytest.mark.parametrize(
    ("route", "make", "message"), [c[1:] for c in VALIDATION_CASES], ids=[c[0] for c in VALIDATION_CASES]
)
def test_validation_errors_name_the_argument_and_the_fix(server, route, make, message):
    status, body = server.post(route, make())
    assert status == 400, body
    assert body["code"] == "bad_request"
    assert message in body["error"]
    assert body["fix"]


def test_too_many_frames_says_how_to_raise_the_limit(server):
    status, body = server.post("/v1/reconstruct", recon_body(5))
    assert status == 400 and "'max_frames': 5" in body["fix"] and "--max-frames 4" in body["fix"]
    status, body = server.post("/v1/reconstruct", recon_body(5, params={"max_frames": 5, "tag": new_tag()}))
    assert status == 200, body
    assert "max_frames" not in body["artifact"]["params"]  # server-side keys never reach the backend


def test_body_that_is_not_msgpack(server):
    r = httpx.post(server.url + "/v1/reconstruct", headers=server.headers, content=b"\xc1garbage")
    assert r.status_code == 400 and "not valid msgpack" in r.json()["error"]
    r = httpx.post(
        server.url + "/v1/reconstruct",
        headers={**server.headers, "Content-Type": "application/json"},
        content=b'{"backend": "echo"}',
    )
    assert r.status_code == 400 and "application/json" in r.json()["error"] and "msgpack" in r.json()["fix"]


# --------------------------------------------------------------------------------------------------
# backend selection
# --------------------------------------------------------------------------------------------------


def test_unknown_backend_lists_the_servers_backends(server):
    status, body = server.post("/v1/reconstruct", recon_body(2, backend="nope"))
    assert status == 404 and body["code"] == "unknown_backend"
    assert "this server has: echo, echo2, echo_unavailable, missing" in body["error"]
    status, body = server.post("/v1/reconstruct", recon_body(2, backend="rgbd"))
    assert status == 404 and "--backends including rgbd" in body["fix"]


def test_unavailable_backends_answer_503_with_their_reason(server):
    status, body = server.post("/v1/reconstruct", recon_body(2, backend="echo_unavailable"))
    assert status == 503 and body["code"] == "unsupported" and "never runs" in body["error"]
    status, body = server.post("/v1/segment/image", seg_body("missing"))
    assert status == 503 and "failed to load (ModuleNotFoundError" in body["error"]


def test_missing_capability_names_the_backends_that_have_it(server):
    status, body = server.post("/v1/reconstruct", recon_body(2, backend="echo2"))
    assert status == 422 and body["code"] == "unsupported"
    assert "backend 'echo2' cannot reconstruct" in body["error"]
    assert "backends on this server that can: echo" in body["error"]


def test_text_prompt_to_a_backend_without_text(server):
    body = {**seg_body("echo2"), "prompt": {"type": "text", "text": "chair"}}
    status, reply = server.post("/v1/segment/image", body)
    assert status == 422 and reply["code"] == "unsupported"
    assert "does not support text prompts" in reply["error"]
    assert "backends with text support on this server: echo" in reply["error"]
    assert "sam3 and oracle support text" in reply["error"]


def test_backend_errors(server):
    status, body = server.post("/v1/segment/image", seg_body(fail="bad_request"))
    assert status == 400 and "echo was asked to reject" in body["error"]
    status, body = server.post("/v1/segment/image", seg_body(unknown_option=1))
    assert status == 400 and "echo does not know params ['unknown_option']" in body["error"]
    status, body = server.post("/v1/segment/image", seg_body(fail="value_error"))
    assert status == 500 and body["code"] == "backend_error"
    assert body["error"].startswith("ValueError: echo was asked to fail")
    assert "Traceback" not in json.dumps(body)
    wait_for(lambda: "Traceback" in server.stderr(), what="the traceback in the log")
    assert "ValueError: echo was asked to fail" in server.stderr()


# --------------------------------------------------------------------------------------------------
# results, cache, artifacts
# --------------------------------------------------------------------------------------------------


def test_reconstruct_response_follows_the_contract(server):
    frames = images(2, seed=5)
    depth = np.full((2, H, W), 1.5, np.float64)  # float64 is accepted and converted
    k = np.array([[30.0, 0, 15.5], [0, 30.0, 11.5], [0, 0, 1]])
    poses = np.tile(np.eye(4), (2, 1, 1))
    poses[1, :3, 3] = [0.5, 0.0, 0.0]
    body = recon_body(
        2,
        frames=[png_bytes(f) for f in frames],
        depth=npy_bytes(depth),
        intrinsics=npy_bytes(k),
        poses=npy_bytes(poses),
    )
    status, reply = server.post("/v1/reconstruct", body)
    assert status == 200, reply
    assert set(reply) == {"artifact", "arrays", "info", "cache", "compute_ms", "queue_ms", "server_ms"}
    assert reply["cache"] == "miss" and reply["compute_ms"] >= 0 and reply["queue_ms"] >= 0
    arrays = {name: load_npy(b) for name, b in reply["arrays"].items()}
    assert all(b.startswith(b"\x93NUMPY") for b in reply["arrays"].values())
    expected = {
        "depth": ((2, H, W), np.float32),
        "confidence": ((2, H, W), np.float32),
        "points": ((2, H, W, 3), np.float32),
        "extrinsics": ((2, 4, 4), np.float64),
        "intrinsics": ((2, 3, 3), np.float64),
        "frame_indices": ((2,), np.int64),
        "colors": ((2, H, W, 3), np.uint8),
        "valid": ((2, H, W), np.bool_),
    }
    assert {n: (a.shape, a.dtype) for n, a in arrays.items()} == expected
    np.testing.assert_array_equal(arrays["valid"], np.isfinite(arrays["points"]).all(axis=-1))
    assert arrays["frame_indices"].tolist() == [10, 20]
    np.testing.assert_array_equal(arrays["colors"], np.stack(frames))
    np.testing.assert_array_equal(arrays["intrinsics"][1], k)
    np.testing.assert_allclose(arrays["points"][1, 11, 15], [0.5 + (15 - 15.5) * 1.5 / 30, 0.0 - 0.5 * 1.5 / 30, 1.5])
    record = reply["artifact"]
    assert set(record) == RECORD_KEYS
    assert re.fullmatch(r"[0-9a-f]{32}", record["id"]) and record["kind"] == "reconstruction"
    assert record["backend"] == "echo" and record["frame_indices"] == [10, 20]
    assert record["shapes"]["points"] == [2, H, W, 3]
    assert record["summary"] == "reconstruction of 2 frames 32x24 (echo, aligned to gravity: identity)"
    assert record["params"] == {"tag": body["params"]["tag"], "align_gravity": True}
    assert reply["info"]["alignment"]["transform"] == np.eye(4).tolist()

    status, reply = server.post("/v1/reconstruct", recon_body(1, params={"align_gravity": False, "tag": new_tag()}))
    assert (
        status == 200
        and reply["artifact"]["summary"] == "reconstruction of 1 frame 32x24 (echo, not aligned to gravity)"
    )


def test_return_selects_the_arrays_sent_back(server):
    from spatial_runtime.tools.reconstruct import COMPACT_RETURN, lift_points

    body = recon_body(2, params={"tag": new_tag()})
    status, full = server.post("/v1/reconstruct", body)
    assert status == 200
    status, compact = server.post("/v1/reconstruct", {**body, "return": list(COMPACT_RETURN)})
    assert status == 200 and compact["cache"] == "hit"
    assert set(compact["arrays"]) == set(COMPACT_RETURN)
    a = {n: load_npy(b) for n, b in compact["arrays"].items()}
    f = {n: load_npy(b) for n, b in full["arrays"].items()}
    # The kernel's own lift reproduces the server's points exactly where they exist, NaN elsewhere.
    lifted = lift_points(a["depth"], a["intrinsics"], a["extrinsics"], a["valid"])
    np.testing.assert_allclose(lifted, f["points"], rtol=0, atol=1e-6, equal_nan=True)
    status, err = server.post("/v1/reconstruct", {**body, "return": ["depth", "nope"]})
    assert status == 400 and "unknown arrays ['nope']" in err["error"]


def test_segment_routes(server):
    img = images(1, seed=9)[0]
    body = {"backend": "echo", "image": jpeg_bytes(img), "prompt": {"type": "text", "text": "chair"}}
    status, reply = server.post("/v1/segment/image", body)
    assert status == 200, reply
    masks, scores = load_npy(reply["arrays"]["masks"]), load_npy(reply["arrays"]["scores"])
    assert masks.shape == (1, 1, H, W) and masks.dtype == np.bool_ and scores.dtype == np.float32
    assert reply["info"]["labels"] == ["chair"] and reply["artifact"]["kind"] == "masks"
    assert reply["artifact"]["labels"] == ["chair"] and set(reply["artifact"]) == RECORD_KEYS | {"labels"}
    assert reply["artifact"]["summary"] == "1 mask in 1 image 32x24 (echo, text 'chair'); chair"
    # GET /v1/artifacts/{id}: the record (labels included), the arrays and the info (labels again).
    status, manifest = server.get_json(f"/v1/artifacts/{reply['artifact']['id']}")
    assert status == 200 and set(manifest) == RECORD_KEYS | {"labels", "arrays", "info"}
    assert manifest["labels"] == ["chair"] and manifest["info"]["labels"] == ["chair"]
    assert manifest["info"] == reply["info"] and manifest["arrays"]["masks"]["shape"] == [1, 1, H, W]

    status, reply = server.post("/v1/segment/video", video_body(backend="echo2"))
    assert status == 200, reply
    masks = load_npy(reply["arrays"]["masks"])
    assert masks.shape == (3, 1, H, W) and masks[:, 0, 5, 5].all() and not masks[:, 0, 20, 5].any()
    assert load_npy(reply["arrays"]["frame_indices"]).tolist() == [10, 20, 30]
    assert reply["artifact"]["summary"] == "1 mask over 3 frames 32x24 (echo2, 2 points on frame 20); object 1"
    assert reply["artifact"]["labels"] == ["object 1"] == reply["info"]["labels"]


def test_identical_request_is_a_cache_hit(server):
    tag = new_tag()
    body = recon_body(2, seed=11, params={"tag": tag})
    before = server.health()["cache"]
    status, first = server.post("/v1/reconstruct", body)
    assert status == 200 and first["cache"] == "miss"
    # same inputs, params spelled differently (key order, the default written out): the same key
    status, second = server.post("/v1/reconstruct", {**body, "params": {"align_gravity": True, "tag": tag}})
    assert status == 200 and second["cache"] == "hit"
    after = server.health()["cache"]
    assert after["hits"] == before["hits"] + 1
    assert after["misses"] == before["misses"] + 1
    assert after["entries"] == before["entries"] + 1
    assert second["compute_ms"] == 0 and second["queue_ms"] == 0
    assert second["artifact"] == first["artifact"] and second["info"] == first["info"]
    assert second["arrays"] == first["arrays"]
    # any other input byte changes the key
    status, third = server.post("/v1/reconstruct", {**body, "frame_indices": [11, 20]})
    assert status == 200 and third["cache"] == "miss"
    assert server.health()["cache"]["misses"] == before["misses"] + 2


def test_artifact_routes_round_trip_the_response_arrays(server):
    status, reply = server.post("/v1/reconstruct", recon_body(2, seed=13))
    assert status == 200
    aid = reply["artifact"]["id"]
    status, manifest = server.get_json(f"/v1/artifacts/{aid}")
    assert status == 200
    assert set(manifest) == RECORD_KEYS | {"arrays", "info"}
    assert {k: manifest[k] for k in RECORD_KEYS} == reply["artifact"]
    assert manifest["info"] == reply["info"] and manifest["info"]["alignment"]["method"] == "identity"
    assert set(manifest["arrays"]) == set(reply["arrays"])
    with server.client() as client:
        for name, data in reply["arrays"].items():
            arr = load_npy(data)
            assert manifest["arrays"][name] == {"shape": list(arr.shape), "dtype": str(arr.dtype), "bytes": arr.nbytes}
            r = client.get(f"/v1/artifacts/{aid}/{name}.npy")
            assert r.status_code == 200 and r.headers["content-type"] == "application/octet-stream"
            assert r.content == data
            np.testing.assert_array_equal(load_npy(r.content), arr)
    on_disk = sorted(p.name for p in (server.artifact_dir / aid).iterdir())
    assert on_disk == sorted(["manifest.json", *(f"{n}.npy" for n in reply["arrays"])])


def test_artifact_paths_cannot_escape_the_store(server):
    status, reply = server.post("/v1/segment/image", seg_body())
    assert status == 200
    aid = reply["artifact"]["id"]
    secret = npy_bytes(np.arange(7919))
    (server.artifact_dir.parent / "secret.npy").write_bytes(secret)
    (server.artifact_dir / aid / "secret.npy").write_bytes(secret)  # on disk but not in the manifest
    attempts = [
        f"/v1/artifacts/{aid}/..%2F..%2Fsecret.npy",
        f"/v1/artifacts/{aid}/../../secret.npy",
        f"/v1/artifacts/{aid}/%2e%2e%2f%2e%2e%2fsecret.npy",
        "/v1/artifacts/..%2Fsecret",
        "/v1/artifacts/../secret.npy",
        "/v1/artifacts/%2e%2e/secret.npy",
        f"/v1/artifacts/{aid}/secret.npy",
        f"/v1/artifacts/{aid}/manifest.npy",
        f"/v1/artifacts/{aid}/%2e%2e.npy",
        f"/v1/artifacts/{'g' * 32}",
        f"/v1/artifacts/{'0' * 32}/masks.npy",
    ]
    for path in attempts:
        status, body = raw_get(server, path)
        assert status in (400, 404), (path, status)
        assert secret not in body and b"NUMPY" not in body, path
    status, body = raw_get(server, f"/v1/artifacts/{aid}/secret.npy")
    err = json.loads(body)
    assert err["code"] == "not_found" and "has no array 'secret'" in err["error"]
    status, body = raw_get(server, f"/v1/artifacts/{'g' * 32}")
    assert status == 400 and "is not an artifact id" in json.loads(body)["error"]
    status, body = raw_get(server, f"/v1/artifacts/{'0' * 32}")
    assert status == 404 and json.loads(body)["code"] == "not_found"


def test_eviction_deletes_files_and_a_restart_restores_the_cache(perception_server_factory, tmp_path):  # noqa: F811
    adir = tmp_path / "artifacts"
    # 20 KiB: less than one 2-frame echo reconstruction (about 36 KB); the newest one is always kept
    first = perception_server_factory("echo", ("--cache-mb", "0.02"), artifact_dir=adir)
    _, a = first.post("/v1/reconstruct", recon_body(2, seed=1))
    body_b = recon_body(2, seed=2)
    _, b = first.post("/v1/reconstruct", body_b)
    aid, bid = a["artifact"]["id"], b["artifact"]["id"]
    stats = first.health()["cache"]
    assert stats["entries"] == 1 and stats["evictions"] == 1 and stats["bytes"] > stats["max_bytes"]
    status, err = first.get_json(f"/v1/artifacts/{aid}")
    assert status == 404 and "evicted from the cache; run the tool again" in err["error"]
    assert not (adir / aid).exists() and (adir / bid / "manifest.json").is_file()
    assert first.get_json(f"/v1/artifacts/{bid}")[0] == 200
    assert first.stop() == 0
    partial = adir / ("ab" * 16)  # an interrupted write (no manifest): removed at start-up
    partial.mkdir()
    (partial / "depth.npy").write_bytes(b"x")
    (adir / "not-an-artifact").mkdir()  # anything not named like an artifact id is left alone

    second = perception_server_factory("echo", ("--cache-mb", "0.02"), artifact_dir=adir)
    assert not partial.exists() and (adir / "not-an-artifact").is_dir()
    status, manifest = second.get_json(f"/v1/artifacts/{bid}")
    assert status == 200 and manifest["id"] == bid and manifest["info"] == b["info"]
    status, again = second.post("/v1/reconstruct", body_b)
    assert status == 200 and again["cache"] == "hit" and again["artifact"]["id"] == bid
    assert again["arrays"] == b["arrays"]


def test_cache_mb_0_computes_every_time_and_keeps_the_newest_artifact(perception_server_factory):  # noqa: F811
    srv = perception_server_factory("echo", ("--cache-mb", "0"))
    body = recon_body(1, seed=4)
    replies = [srv.post("/v1/reconstruct", body)[1] for _ in range(2)]
    assert [r["cache"] for r in replies] == ["miss", "miss"]
    assert replies[1]["info"]["calls"] == 2  # the backend ran twice
    stats = srv.health()["cache"]
    assert stats["hits"] == 0 and stats["entries"] == 1 and stats["max_bytes"] == 0
    newest, older = replies[1]["artifact"]["id"], replies[0]["artifact"]["id"]
    assert srv.get_json(f"/v1/artifacts/{newest}")[0] == 200
    assert srv.get_json(f"/v1/artifacts/{older}")[0] == 404


# --------------------------------------------------------------------------------------------------
# job queue
# --------------------------------------------------------------------------------------------------


def test_one_job_at_a_time_per_device_in_arrival_order(server):
    tags = [new_tag() for _ in range(3)]
    sleeps = [1.0, 0.2, 0.2]
    with ThreadPoolExecutor(3) as pool:
        futures = []
        for i, (tag, sleep_s) in enumerate(zip(tags, sleeps, strict=True)):
            body = {**seg_body(), "params": {"tag": tag, "sleep_s": sleep_s}}
            futures.append(pool.submit(server.post, "/v1/segment/image", body))
            wait_for(lambda n=i + 1: queue_len(server) == n, what=f"{i + 1} jobs in the cpu queue")
        replies = [f.result(timeout=60) for f in futures]
    assert [s for s, _ in replies] == [200, 200, 200]
    infos = [r["info"] for _, r in replies]
    assert infos[-1]["started"][-3:] == tags  # first in, first out
    assert all(info["max_concurrent"] == 1 for info in infos)
    for earlier, later in zip(infos, infos[1:], strict=False):
        assert later["start_t"] >= earlier["end_t"]  # one after the other
    assert replies[2][1]["queue_ms"] > 0
    assert queue_len(server) == 0


def test_different_devices_run_side_by_side(server):
    with ThreadPoolExecutor(2) as pool:
        a = pool.submit(server.post, "/v1/segment/image", seg_body("echo", sleep_s=1.5))
        b = pool.submit(server.post, "/v1/segment/image", seg_body("echo2", sleep_s=1.5))
        wait_for(lambda: server.health()["queue"] == {"cpu": 1, "test:1": 1}, what="both devices busy")
        (sa, ra), (sb, rb) = a.result(timeout=60), b.result(timeout=60)
    assert sa == sb == 200
    assert max(ra["info"]["max_concurrent_all"], rb["info"]["max_concurrent_all"]) >= 2
    assert ra["info"]["max_concurrent"] == 1 and rb["info"]["max_concurrent"] == 1


def test_queued_job_of_a_disconnected_client_is_dropped(server):
    running, dropped = new_tag(), new_tag()
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(server.post, "/v1/segment/image", {**seg_body(), "params": {"tag": running, "sleep_s": 2}})
        wait_for(lambda: queue_len(server) == 1, what="the first job running")
        sock = open_and_send(server, raw_post(server, "/v1/segment/image", {**seg_body(), "params": {"tag": dropped}}))
        wait_for(lambda: queue_len(server) == 2, what="the second job queued")
        sock.close()
        wait_for(lambda: queue_len(server) == 1, what="the dropped job leaving the queue")
        assert not first.done()  # it left the queue at the disconnect, not when the first job ended
        status, _ = first.result(timeout=60)
    assert status == 200
    info = echo_info(server)
    assert running in info["started"] and dropped not in info["started"]
    assert "abandoned (dropped)" in server.stderr()


def test_running_job_of_a_disconnected_client_is_cancelled(server):
    tag = new_tag()
    sock = open_and_send(
        server, raw_post(server, "/v1/segment/image", {**seg_body(), "params": {"tag": tag, "sleep_s": 60}})
    )
    try:
        wait_for(lambda: queue_len(server) == 1, what="the job running")
    finally:
        sock.close()
    wait_for(lambda: queue_len(server) == 0, what="the cancelled job leaving the device")
    info = echo_info(server)
    assert tag in info["started"] and tag in info["cancelled"]


def test_timeout_of_a_running_job(server):
    tag = new_tag()
    status, body = server.post(
        "/v1/segment/image", {**seg_body(), "params": {"tag": tag, "sleep_s": 60, "timeout_s": 0.5}}
    )
    assert status == 504 and body["code"] == "timeout"
    assert "did not finish within 0.5 s" in body["error"] and "cancelled" in body["error"]
    assert "timeout_s" in body["fix"]
    wait_for(lambda: queue_len(server) == 0, what="the timed-out job leaving the device")
    assert tag in echo_info(server)["cancelled"]


def test_timeout_of_a_queued_job(server):
    running, waiting = new_tag(), new_tag()
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(server.post, "/v1/segment/image", {**seg_body(), "params": {"tag": running, "sleep_s": 2}})
        wait_for(lambda: queue_len(server) == 1, what="the first job running")
        status, body = server.post("/v1/segment/image", {**seg_body(), "params": {"tag": waiting, "timeout_s": 0.3}})
        assert status == 504 and "it was dropped" in body["error"]
        assert first.result(timeout=60)[0] == 200
    assert waiting not in echo_info(server)["started"]


# --------------------------------------------------------------------------------------------------
# shutdown
# --------------------------------------------------------------------------------------------------


@pytest.mark.skipif(os.name == "nt", reason="SIGTERM is POSIX")
def test_sigterm_cancels_jobs_and_exits_cleanly(perception_server_factory):  # noqa: F811
    srv = perception_server_factory("echo")
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(srv.post, "/v1/segment/image", seg_body(sleep_s=60))
        wait_for(lambda: queue_len(srv) == 1, what="the job running")
        srv.proc.terminate()
        assert srv.proc.wait(timeout=20) == 0
        status, body = pending.result(timeout=20)
    assert status == 503 and body["code"] == "cancelled" and "shutting down" in body["error"]
    assert srv.stdout_lines == [f"SPATIAL_PERCEPTION_READY {srv.url}"]  # nothing else ever reached stdout
    log = srv.stderr()
    assert "Application shutdown complete" in log and "Traceback" not in log


def test_segment_image_records_the_absolute_frame_index(server):
    # The kernel sends the frame's absolute index; the result and the stored artifact carry it (not position 0).
    status, reply = server.post("/v1/segment/image", {**seg_body(), "frame_index": 7})
    assert status == 200, reply
    assert load_npy(reply["arrays"]["frame_indices"]).tolist() == [7]
    # Same image, another frame index: a different result, not a cache hit of frame 7.
    status, other = server.post("/v1/segment/image", {**seg_body(), "frame_index": 3})
    assert status == 200
    assert load_npy(other["arrays"]["frame_indices"]).tolist() == [3]
    status, bad = server.post("/v1/segment/image", {**seg_body(), "frame_index": -1})
    assert status == 400
    assert "frame_index" in bad["error"]
