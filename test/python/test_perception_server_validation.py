"""Perception server core (spatial_perception), real uvicorn processes started with ``python -m spatial_perception``:
requests it refuses. Validation errors (400, naming the argument and the fix) and backend selection (unknown,
unavailable or incapable backends; errors raised by a backend).

Shared fixtures and helpers: perception_server_helpers.py.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import numpy as np
import perception_server_helpers
import pytest
from perception_helpers import npy_bytes, png_bytes
from perception_server_helpers import H, W, images, new_tag, recon_body, seg_body, video_body, wait_for

server = perception_server_helpers.server  # the module-scoped echo server (perception_server_helpers.py)


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
