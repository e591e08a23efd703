"""The perception-server client of tools.Reconstruct and tools.SAM3 (python-runtime) against a small in-process
fake server: request encoding, reply decoding, errors, retries, artifact display_data.

Shared fixtures, helpers and the fake server: kernel_tools_helpers.py.
"""

from __future__ import annotations

import io
import socket

import kernel_tools_helpers
import numpy as np
import pytest
from kernel_tools_helpers import FakeServer, artifacts, bind, fake_masks, fake_reconstruction, rgb, serving, unnpy
from PIL import Image
from spatial_runtime import perception
from spatial_runtime.display import ARTIFACT_MIME
from spatial_runtime.perception import PerceptionError, PerceptionUnavailable, ToolError
from spatial_runtime.tools import SAM3, Reconstruct

_clean_state = kernel_tools_helpers._clean_state  # autouse: no state leaks between tests, display bundles captured
published = kernel_tools_helpers.published
room = kernel_tools_helpers.room
fake = kernel_tools_helpers.fake


def test_reconstruct_sends_rgbd_inputs_and_decodes_the_reply(fake, room, published):
    images, meta = room["InputImages"], room["Metadata"]
    bind(room)  # as prepare binds them: the tool finds Metadata's intrinsics
    rec = Reconstruct.Reconstruct(images[1:4], params={"conf_threshold": 0.2})
    route, body, headers = fake.requests[-1]
    assert route == "/v1/reconstruct" and headers["Authorization"] == "Bearer tok"
    assert headers["Content-Type"] == "application/msgpack"
    assert body["backend"] == "rgbd" and body["frame_indices"] == [1, 2, 3]
    assert body["params"] == {"align_gravity": True, "conf_threshold": 0.2}
    sent = [np.asarray(Image.open(io.BytesIO(b))) for b in body["frames"]]
    np.testing.assert_array_equal(sent[0], np.asarray(images[1]))
    depth = unnpy(body["depth"])
    assert depth.shape == (3, 480, 640) and depth.dtype == np.float32
    np.testing.assert_array_equal(depth[2], images[3].depth)
    K = unnpy(body["intrinsics"])
    assert K.shape == (3, 3, 3)
    np.testing.assert_array_equal(K[0], meta.K)
    np.testing.assert_array_equal(unnpy(body["poses"]), meta.poses[1:4])
    # The reply, keyed by absolute index.
    assert rec.frame_indices == [1, 2, 3] and rec.backend == "rgbd" and rec.artifact_id == "rec1"
    assert rec.url == fake.url + "/v1/artifacts/rec1"
    assert rec.depth[2].shape == (480, 640) and rec.points[3][479, 0, 1] == pytest.approx(4.79)
    assert rec.alignment["method"] == "camera_fallback"
    with pytest.raises(KeyError, match="valid indices: 1, 2, 3"):
        rec.depth[0]
    # One artifact bundle, with the server's summary.
    [bundle] = published
    assert bundle[ARTIFACT_MIME] == {
        "id": "rec1",
        "tool": "Reconstruct",
        "kind": "reconstruction",
        "url": fake.url + "/v1/artifacts/rec1",
        "summary": "3 frames via rgbd",
        "frame_indices": [1, 2, 3],
        "shapes": {
            "depth": [3, 480, 640],
            "confidence": [3, 480, 640],
            "points": [3, 480, 640, 3],
            "extrinsics": [3, 4, 4],
            "intrinsics": [3, 3, 3],
            "frame_indices": [3],
            "colors": [3, 480, 640, 3],
        },
        "cache": "miss",
    }
    assert bundle["text/plain"] == "Reconstruct artifact rec1: 3 frames via rgbd"


def test_reconstruct_frames_list_plain_images_and_options(fake, room):
    images = room["InputImages"]
    bind(room)
    # A list of input frames still finds the Metadata (through the frames' source).
    Reconstruct.Reconstruct([images[4], images[0]], timeout=5)
    body = fake.requests[-1][1]
    assert body["frame_indices"] == [4, 0] and unnpy(body["intrinsics"]).shape == (2, 3, 3)
    assert body["params"]["timeout_s"] == 5.0
    # Colour only: no depth, no poses -> da3 by default; explicit options pass through.
    rec = Reconstruct.Reconstruct(images, depth=False, poses=False, align_gravity=False, max_frames=10)
    body = fake.requests[-1][1]
    assert body["backend"] == "da3" and body["depth"] is None and body["poses"] is None
    assert body["params"] == {"align_gravity": False, "max_frames": 10}
    assert rec.backend == "da3"
    # Plain arrays with explicit indices and intrinsics as a dict.
    Reconstruct.Reconstruct(
        [rgb(), rgb(value=9)],
        frame_indices=[10, 20],
        depth=np.ones((2, 4, 5)),
        intrinsics={"fx": 5.0, "fy": 6.0, "cx": 2.0, "cy": 1.5},
        backend="rgbd",
    )
    body = fake.requests[-1][1]
    assert body["frame_indices"] == [10, 20] and body["backend"] == "rgbd" and body["poses"] is None
    np.testing.assert_array_equal(unnpy(body["intrinsics"])[1], [[5, 0, 2], [0, 6, 1.5], [0, 0, 1]])
    # The session's configured reconstruct backend is the default.
    perception.configure(fake.url, "tok", {"reconstruct": "da3"})
    Reconstruct.Reconstruct(images[:1])
    assert fake.requests[-1][1]["backend"] == "da3"


def test_reconstruct_finds_the_metadata_through_the_frames(fake, room):
    """Nothing bound in the session: the intrinsics come from the frames' own input (InputImages.metadata)."""
    images, meta = room["InputImages"], room["Metadata"]
    assert images.metadata is meta and images[1:3].metadata is meta
    Reconstruct.Reconstruct(images[1:3])
    np.testing.assert_array_equal(unnpy(fake.requests[-1][1]["intrinsics"]), np.stack([meta.K, meta.K]))
    Reconstruct.Reconstruct([images[2].copy(), images[0]])  # a copied frame keeps its input
    np.testing.assert_array_equal(unnpy(fake.requests[-1][1]["intrinsics"])[0], meta.K)
    # Frames of another size than the input's Metadata describes: its intrinsics do not apply.
    small = [np.asarray(images[0])[:240, :320], np.asarray(images[1])[:240, :320]]
    with pytest.raises(ToolError, match="needs the camera intrinsics"):
        Reconstruct.Reconstruct(small, frame_indices=[0, 1], depth=np.ones((2, 240, 320)), backend="rgbd")


def test_sam3_requests_and_results(fake, room, published):
    frame = room["InputImages"][2]
    m = SAM3.segment_image_by_box(frame, [-3, 5, 700, 90.5])
    route, body, _ = fake.requests[-1]
    assert route == "/v1/segment/image" and body["backend"] == "classical"  # the configured default
    assert body["prompt"] == {"type": "box", "box": [0.0, 5.0, 640.0, 90.5]}  # clipped to the image
    assert m.masks.shape == (1, 1, 480, 640) and m.frame_indices == [2]  # keyed by the frame's absolute index
    assert m.get_mask(2, 0).sum() == 6 and m.labels == ["object"] and m.scores.tolist() == [[0.75]]
    assert m.url == fake.url + "/v1/artifacts/" + m.artifact_id
    assert isinstance(m.visualize(2), Image.Image)
    [bundle] = published
    rec = bundle[ARTIFACT_MIME]
    assert rec["tool"] == "SAM3" and rec["kind"] == "masks" and rec["id"] == m.artifact_id
    assert rec["frame_indices"] == [2] and rec["shapes"] == {"masks": [1, 1, 480, 640], "scores": [1, 1]}
    assert rec["cache"] == "miss"

    SAM3.segment_image_by_points(frame, [[320, 240], [10.2, 400]], [1, 0], backend="sam3", params={"x": 1})
    body = fake.requests[-1][1]
    assert body["backend"] == "sam3" and body["params"] == {"x": 1}
    assert body["prompt"] == {"type": "points", "points": [[320.0, 240.0], [10.2, 400.0]], "labels": [1, 0]}

    # Plain image: frame_index= keys the result.
    m = SAM3.segment_image_by_points(rgb(8, 8), [3, 3], frame_index=42)
    assert m.frame_indices == [42] and fake.requests[-1][1]["prompt"]["labels"] == [1]

    # Video, several text prompts: one request each, objects concatenated; default frames = InputImages.
    bind(room)
    published.clear()
    m = SAM3.segment_video_by_text(["chair", "table"], prompt_frame=3, threshold=0.4, backend="sam3")
    bodies = [b for _, b, _ in fake.requests[-2:]]
    assert [b["prompt"] for b in bodies] == [
        {"type": "text", "text": "chair", "threshold": 0.4},
        {"type": "text", "text": "table", "threshold": 0.4},
    ]
    assert all(b["prompt_frame_index"] == 3 and b["frame_indices"] == [0, 1, 2, 3, 4] for b in bodies)
    assert m.masks.shape == (5, 4, 480, 640) and m.labels == ["chair", "chair", "table", "table"]
    assert len(artifacts(published)) == 2 and len(m.artifact_ids) == 2
    with pytest.raises(KeyError, match="2 objects are labelled 'table'"):
        m.get_mask(0, "table")

    m = SAM3.segment_video_by_box(room["InputImages"][::2], 4, [10, 10, 100, 100])
    assert fake.requests[-1][1]["frame_indices"] == [0, 2, 4] and m.frame_indices == [0, 2, 4]
    m = SAM3.segment_video_by_points(None, 1, [[5, 5]])
    assert fake.requests[-1][1]["prompt_frame_index"] == 1 and m.masks.shape[:2] == (5, 1)


def test_artifact_records_carry_the_servers_cache_answer(room, published):
    """Each published record copies its request's ``cache`` (the host counts a run's hits from it); an answer
    without a valid one leaves the field out."""
    answers: list[str | None] = []

    def reply(route, body):
        status, payload = (200, fake_reconstruction(body)) if route == "/v1/reconstruct" else fake_masks(body, route)
        payload.pop("cache")
        cache = answers.pop(0)
        if cache is not None:
            payload["cache"] = cache
        return status, payload

    frames = room["InputImages"]
    with serving(reply, {"segment": "sam3", "reconstruct": "rgbd"}):
        bind(room)
        for cache in ("miss", "hit", None, "maybe"):
            answers.append(cache)
            Reconstruct.Reconstruct(frames[:2])
        answers.extend(["hit", "miss"])
        SAM3.segment_video_by_text(["chair", "table"])  # one request, and one record, per prompt
    assert answers == []
    records = artifacts(published)
    assert [r.get("cache") for r in records] == ["miss", "hit", None, None, "hit", "miss"]
    assert [r["tool"] for r in records] == ["Reconstruct"] * 4 + ["SAM3"] * 2
    assert "cache" not in records[2] and "cache" not in records[3]


def test_server_errors_are_surfaced_without_retry(fake, room):
    frame = room["InputImages"][0]
    n = len(fake.requests)
    with pytest.raises(ToolError) as err:
        SAM3.segment_image_by_text(frame, "chair")  # the configured default is classical: no text
    assert len(fake.requests) == n + 1  # 4xx: never retried
    msg = str(err.value)
    assert err.value.status == 422 and err.value.code == "unsupported"
    assert "cannot segment from a text prompt ('chair')" in msg and "sam3, oracle" in msg and "Fix:" in msg
    assert isinstance(err.value, ValueError) and isinstance(err.value, PerceptionError)


def test_http_error_kinds(room):
    calls = []

    def reply(route, body):
        calls.append(route)
        status = {0: 401, 1: 500, 2: 400}[len(calls) - 1]
        return status, {"error": f"boom {status}", "code": "x", "fix": None}

    server = FakeServer(reply)
    try:
        perception.configure(server.url, "wrong")
        frame = room["InputImages"][0]
        with pytest.raises(ToolError, match="rejected this session's token.*start a new session"):
            SAM3.segment_image_by_box(frame, [1, 1, 50, 50])
        with pytest.raises(PerceptionError, match=r"HTTP 500, x\): boom 500") as err:
            SAM3.segment_image_by_box(frame, [1, 1, 50, 50])
        assert not isinstance(err.value, ToolError)
        with pytest.raises(ToolError, match="boom 400"):
            SAM3.segment_image_by_box(frame, [1, 1, 50, 50])
        assert len(calls) == 3
    finally:
        server.close()


def test_retries_a_refused_connection_until_the_server_is_up(room, monkeypatch):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    holder = {}

    def start_server(delay):
        # Runs instead of the wait before the 2nd attempt: the server comes up on that port meanwhile.
        holder.setdefault("server", FakeServer(lambda route, body: fake_masks(body, route), port=port))
        holder.setdefault("delays", []).append(delay)

    monkeypatch.setattr(perception.time, "sleep", start_server)
    perception.configure(f"http://127.0.0.1:{port}", "t")
    try:
        m = SAM3.segment_image_by_box(room["InputImages"][0], [1, 1, 50, 50])
        assert m.masks.shape == (1, 1, 480, 640) and holder["delays"] == [0.01]
        assert len(holder["server"].requests) == 1
    finally:
        holder["server"].close()


def test_retries_a_gateway_that_cannot_reach_the_server(room, monkeypatch):
    """HTTP 502 is what the host's model bridge answers a sandboxed kernel when the server cannot be reached (e.g.
    while it is restarted): retried like a refused connection, then PerceptionUnavailable with the bridge's words."""
    monkeypatch.setattr(perception.time, "sleep", lambda s: None)
    gateway = {"error": "the perception server at http://127.0.0.1:9 is not reachable from the host: ECONNREFUSED"}
    calls = []

    def flaky(route, body):
        calls.append(route)
        return (502, gateway) if len(calls) <= 2 else fake_masks(body, route)

    frame = room["InputImages"][0]
    with serving(flaky):
        m = SAM3.segment_image_by_box(frame, [1, 1, 50, 50])
    assert m.masks.shape == (1, 1, 480, 640) and len(calls) == 3

    calls.clear()
    with serving(lambda route, body: (calls.append(route), (502, gateway))[1]):
        with pytest.raises(PerceptionUnavailable) as err:
            SAM3.segment_image_by_box(frame, [1, 1, 50, 50])
    attempts = len(perception.RETRY_DELAYS_S) + 1
    assert len(calls) == attempts
    assert err.value.code == "unreachable" and err.value.status == 502
    assert str(err.value).startswith(gateway["error"] + f" ({attempts} attempts); start one with")
