"""tools.Reconstruct and tools.SAM3 (python-runtime), and their perception-server client.

* Unit tests of Reconstruction / PerFrameMask with hand-built arrays (exact values).
* Argument checks (no server needed: they fail before any request).
* The client against a small in-process fake server (request encoding, reply decoding, errors, retries,
  artifact display_data), and through a real IPython kernel (prepare -> tool call -> display_data).
* Integration against a REAL ``python -m spatial_perception`` process (rgbd + classical backends) when the
  server package is available (test/python/perception_helpers.py starts it).
"""

from __future__ import annotations

import io
import json
import os
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import msgpack
import numpy as np
import pytest
import session_helpers
from PIL import Image
from spatial_runtime import context, display, perception, session
from spatial_runtime.display import ARTIFACT_MIME
from spatial_runtime.inputs import load_inputs
from spatial_runtime.perception import PerceptionError, PerceptionUnavailable, ToolError
from spatial_runtime.tools import SAM3, Reconstruct
from spatial_runtime.tools.reconstruct import FrameIndexError, Reconstruction
from spatial_runtime.tools.sam3 import PerFrameMask

dict_session = session_helpers.dict_session  # the fixture, shared with the other session tests

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


# --------------------------------------------------------------------------------------------------
# Hand-built results
# --------------------------------------------------------------------------------------------------


def small_recon():
    """Two frames (absolute indices 3 and 7) of 2 x 3 pixels; world point = (col, row, 10 * frame + 1)."""
    fi = [3, 7]
    h, w = 2, 3
    depth = np.zeros((2, h, w), np.float32)
    points = np.zeros((2, h, w, 3), np.float32)
    for k, f in enumerate(fi):
        for r in range(h):
            for c in range(w):
                points[k, r, c] = (c, r, 10 * f + 1)
                depth[k, r, c] = 1.0 + r + c
    points[1, 1, 2] = np.nan  # an invalid pixel
    depth[1, 1, 2] = 0.0
    conf = np.full((2, h, w), 0.9, np.float32)
    conf[0, 0, 0] = 0.1
    E = np.repeat(np.eye(4)[None], 2, axis=0)
    E[1, :3, 3] = (1.0, 2.0, 3.0)
    K = np.array([[100.0, 0, 1.0], [0, 110.0, 0.5], [0, 0, 1]])
    colors = np.full((2, h, w, 3), 50, np.uint8)
    info = {"alignment": {"method": "floor_ransac", "floor_inliers": 4}}
    return Reconstruction(
        fi,
        depth,
        conf,
        points,
        E,
        K,
        colors,
        info=info,
        artifact_id="abc",
        url="http://x/v1/artifacts/abc",
        backend="rgbd",
    )


def test_reconstruction_per_frame_access_by_absolute_index():
    rec = small_recon()
    assert rec.frame_indices == [3, 7] and len(rec) == 2 and rec.image_size == (3, 2)
    assert list(rec.depth) == [3, 7] and 7 in rec.points and 0 not in rec.points
    np.testing.assert_array_equal(rec.depth[3], [[1, 2, 3], [2, 3, 4]])
    assert rec.depth[3].dtype == np.float32 and rec.points[7].shape == (2, 3, 3)
    np.testing.assert_array_equal(rec.points[7][0, 2], [2, 0, 71])
    assert rec.intrinsics[7] == {"fx": 100.0, "fy": 110.0, "cx": 1.0, "cy": 0.5}
    np.testing.assert_array_equal(rec.K(3), [[100, 0, 1], [0, 110, 0.5], [0, 0, 1]])
    np.testing.assert_array_equal(rec.extrinsics[7][:3, 3], [1, 2, 3])
    np.testing.assert_array_equal(rec.camera_position(7), [1, 2, 3])
    assert rec.colors[3].dtype == np.uint8 and rec.colors[3][0, 0].tolist() == [50, 50, 50]
    assert rec.confidence.array.shape == (2, 2, 3)
    assert rec.alignment == {"method": "floor_ransac", "floor_inliers": 4}
    assert rec.artifact_id == "abc" and rec.url.endswith("/v1/artifacts/abc")
    # Read-only views.
    with pytest.raises(ValueError):
        rec.depth[3][0, 0] = 5.0
    text = repr(rec)
    assert text.startswith("Reconstruction(2 frames [3, 7], 3x2, backend rgbd") and "floor_ransac" in text
    assert "artifact abc" in text and "\n" not in text


def test_reconstruction_wrong_frame_index_lists_the_valid_ones():
    rec = small_recon()
    for lookup in (lambda: rec.depth[0], lambda: rec.points[5], lambda: rec.K(4), lambda: rec.intrinsics[1]):
        with pytest.raises(KeyError) as err:
            lookup()
        assert isinstance(err.value, IndexError) and isinstance(err.value, FrameIndexError)
        assert "valid indices: 3, 7" in str(err.value) and "ABSOLUTE" in str(err.value)
    with pytest.raises(IndexError, match=r"frame_indices\[1\]"):
        rec.depth[1]  # position 1 is frame 7: the message says how to get it
    with pytest.raises(TypeError, match="absolute frame index"):
        rec.depth["3"]


def test_reconstruction_points_in_mask_exact():
    rec = small_recon()
    mask = np.array([[1, 0, 1], [0, 0, 1]], bool)
    np.testing.assert_array_equal(rec.points_in_mask(3, mask), [[0, 0, 31], [2, 0, 31], [2, 1, 31]])
    # The NaN pixel (frame 7, row 1, col 2) is skipped.
    np.testing.assert_array_equal(rec.points_in_mask(7, mask), [[0, 0, 71], [2, 0, 71]])
    # min_confidence drops pixel (0, 0) of frame 3 (confidence 0.1).
    np.testing.assert_array_equal(rec.points_in_mask(3, mask, min_confidence=0.5), [[2, 0, 31], [2, 1, 31]])
    assert rec.points_in_mask(3, np.zeros((2, 3), bool)).shape == (0, 3)
    with pytest.raises(ValueError, match=r"mask has shape \(4, 4\).*\(H, W\) = \(2, 3\)"):
        rec.points_in_mask(3, np.ones((4, 4), bool))
    np.testing.assert_array_equal(rec.point_at(3, 1.4, 0.6), [1, 1, 31])
    assert np.isnan(rec.point_at(7, 2, 1)).all()
    with pytest.raises(ValueError, match="outside the 3x2 image"):
        rec.point_at(3, 3, 0)
    assert rec.all_points().shape == (11, 3)
    assert rec.all_points(min_confidence=0.5, frames=[3]).shape == (5, 3)


def test_reconstruction_rejects_inconsistent_arrays():
    with pytest.raises(ValueError, match="points must have shape"):
        Reconstruction(
            [0], np.zeros((1, 2, 2)), np.zeros((1, 2, 2)), np.zeros((1, 2, 3, 3)), np.eye(4)[None], np.eye(3)
        )
    with pytest.raises(ValueError, match="distinct"):
        Reconstruction(
            [0, 0],
            np.zeros((2, 1, 1)),
            np.zeros((2, 1, 1)),
            np.zeros((2, 1, 1, 3)),
            np.eye(4)[None].repeat(2, 0),
            np.eye(3),
        )


def small_masks():
    """Frames 3 and 7, 2 x 3 pixels; object 0 'table' and object 1 'chair'."""
    m = np.zeros((2, 2, 2, 3), bool)
    m[0, 0] = [[1, 0, 1], [0, 0, 1]]
    m[1, 0] = [[0, 0, 0], [0, 1, 1]]  # includes the NaN pixel of frame 7
    m[0, 1] = [[0, 1, 0], [0, 0, 0]]
    scores = np.array([[0.9, 0.5], [0.8, 0.0]], np.float32)
    return PerFrameMask(m, [3, 7], ["table", "chair"], scores, artifact_ids=["m1"], backend="classical")


def test_per_frame_mask_access():
    pm = small_masks()
    assert pm.masks.shape == (2, 2, 2, 3) and pm.masks.dtype == np.bool_
    assert pm.num_objects == 2 and pm.num_frames == 2 and pm.image_size == (3, 2)
    assert pm.frame_indices == [3, 7] and pm.labels == ["table", "chair"] and pm.artifact_id == "m1"
    np.testing.assert_array_equal(pm.get_mask(3, 0), [[1, 0, 1], [0, 0, 1]])
    np.testing.assert_array_equal(pm.get_mask(3, "chair"), pm.get_mask(3, 1))
    np.testing.assert_array_equal(pm.get_mask(7, "Table"), pm.get_mask(7, 0))  # case-insensitive fallback
    np.testing.assert_array_equal(pm.get_mask(7, -1), pm.get_mask(7, 1))
    assert pm.get_score(7, "table") == pytest.approx(0.8) and pm.area(3, 0) == 3
    with pytest.raises(ValueError):
        pm.get_mask(3, 0)[0, 0] = False
    with pytest.raises(KeyError, match="valid indices: 3, 7"):
        pm.get_mask(4, 0)
    with pytest.raises(IndexError, match="out of range: there are 2 objects"):
        pm.get_mask(3, 2)
    with pytest.raises(KeyError, match="no object is labelled 'sofa'"):
        pm.get_mask(3, "sofa")
    text = repr(pm)
    assert text == (
        "PerFrameMask(2 objects [0: table (0.90), 1: chair (0.50)], 2 frames [3, 7], 3x2, "
        "backend classical, artifact m1)"
    )


def test_per_frame_mask_labels_shared_and_defaults():
    m = np.ones((1, 2, 2, 2), bool)
    m[0, 1, 0, 0] = False
    pm = PerFrameMask(m, [0], ["chair", "chair"])
    with pytest.raises(KeyError, match=r"2 objects are labelled 'chair' \(indices \[0, 1\]\)"):
        pm.get_mask(0, "chair")
    np.testing.assert_array_equal(pm.scores, [[1.0, 1.0]])
    default = PerFrameMask(np.zeros((1, 2, 2, 2), np.uint8), [5])
    assert default.labels == ["object 1", "object 2"] and default.scores.tolist() == [[0.0, 0.0]]
    empty = PerFrameMask(np.zeros((1, 0, 4, 4), bool), [0], [])
    with pytest.raises(IndexError, match="no objects were found"):
        empty.get_mask(0, 0)
    with pytest.raises(ValueError, match="labels has 1 entries for 2 objects"):
        PerFrameMask(m, [0], ["x"])


def test_per_frame_mask_in_3d_exact():
    rec, pm = small_recon(), small_masks()
    np.testing.assert_array_equal(pm.get_masked_points(rec, 3, "table"), [[0, 0, 31], [2, 0, 31], [2, 1, 31]])
    np.testing.assert_allclose(pm.get_centroid_3d(rec, 3, "table"), [4 / 3, 1 / 3, 31])
    box = pm.get_bbox_3d(rec, 3, 0)
    np.testing.assert_array_equal(box.min, [0, 0, 31])
    np.testing.assert_array_equal(box.max, [2, 1, 31])
    np.testing.assert_array_equal(box.size, [2, 1, 0])
    np.testing.assert_array_equal(box.center, [1, 0.5, 31])
    # Frame 7: the NaN pixel is dropped.
    np.testing.assert_array_equal(pm.get_masked_points(rec, 7, 0), [[1, 1, 71]])
    np.testing.assert_array_equal(pm.get_centroid_3d(rec, 7, 0), [1, 1, 71])
    with pytest.raises(ValueError, match=r"object 1 \('chair'\) in frame 7 has no 3-D points: the mask is empty"):
        pm.get_centroid_3d(rec, 7, "chair")
    with pytest.raises(ValueError, match="confidence >= 0.95"):
        pm.get_bbox_3d(rec, 3, "chair", min_confidence=0.95)
    other = Reconstruction(
        [3], np.ones((1, 2, 3)), np.ones((1, 2, 3)), np.zeros((1, 2, 3, 3)), np.eye(4)[None], np.eye(3)
    )
    with pytest.raises(KeyError, match="valid indices: 3"):
        pm.get_masked_points(other, 7, 0)
    with pytest.raises(TypeError, match="tools.Reconstruct.Reconstruct"):
        pm.get_masked_points(np.zeros((2, 3, 3)), 3, 0)


def test_per_frame_mask_visualize():
    pm = small_masks()
    img = pm.visualize(3)  # no image stored: drawn on black
    assert isinstance(img, Image.Image) and img.size == (3, 2) and img.mode == "RGB"
    big = np.zeros((60, 80, 3), np.uint8)
    masks = np.zeros((1, 2, 60, 80), bool)
    masks[0, 0, 10:30, 10:40] = True
    masks[0, 1, 40:55, 50:70] = True
    pm2 = PerFrameMask(masks, [12], ["table", "chair"], images={12: big})
    out = np.asarray(pm2.visualize(12, alpha=1.0))
    assert out.shape == (60, 80, 3)
    assert tuple(out[20, 25]) == (255, 0, 0)  # object 0 is red
    assert tuple(out[48, 60]) == (0, 255, 0)  # object 1 is lime
    only = np.asarray(pm2.visualize(12, objects=["chair"], alpha=1.0))
    assert tuple(only[20, 25]) == (0, 0, 0)
    with pytest.raises(ValueError, match="image is 10x10 but the masks are 80x60"):
        pm2.visualize(12, image=np.zeros((10, 10, 3), np.uint8))


# --------------------------------------------------------------------------------------------------
# Argument checks (they fail before any request, so no server is needed)
# --------------------------------------------------------------------------------------------------


def rgb(h=4, w=5, value=0):
    return np.full((h, w, 3), value, np.uint8)


def test_reconstruct_argument_errors(room):
    perception.configure("http://127.0.0.1:9", "t")  # never contacted: every call fails its checks first
    images = room["InputImages"]
    with pytest.raises(ToolError, match=r"frames is empty.*InputImages\[::4\]"):
        Reconstruct.Reconstruct([])
    with pytest.raises(ToolError, match=r"frames is empty"):
        Reconstruct.Reconstruct(images[5:])
    with pytest.raises(ValueError, match=r"different sizes: 5x4 \(frames 0\); 6x4 \(frames 1\)"):
        Reconstruct.Reconstruct([rgb(), rgb(w=6)], frame_indices=[0, 1])
    with pytest.raises(ToolError, match=r"frames\[0\] is not an input frame.*frame_indices="):
        Reconstruct.Reconstruct([rgb(), rgb()])
    with pytest.raises(ToolError, match=r"frame_indices has 1 entries for 2 frames"):
        Reconstruct.Reconstruct([rgb(), rgb()], frame_indices=[0])
    with pytest.raises(ToolError, match=r"repeat frame indices \[2\]"):
        Reconstruct.Reconstruct([rgb(), rgb()], frame_indices=[2, 2])
    # Mixing frames with and without depth.
    plain = images[1].copy()
    plain._depth_loader, plain._depth = None, None
    with pytest.raises(ToolError, match=r"depth is missing for frames \[1\] but present for \[0, 2\].*depth=False"):
        Reconstruct.Reconstruct([images[0], plain, images[2]])
    with pytest.raises(ToolError, match=r"all 0/NaN"):
        Reconstruct.Reconstruct([rgb(), rgb()], frame_indices=[0, 1], depth=[np.ones((4, 5)), np.full((4, 5), np.nan)])
    with pytest.raises(ToolError, match=r"inf"):
        Reconstruct.Reconstruct([rgb()], frame_indices=[0], depth=np.full((4, 5), np.inf))
    with pytest.raises(ToolError, match=r"negative"):
        Reconstruct.Reconstruct([rgb()], frame_indices=[0], depth=-np.ones((4, 5)))
    with pytest.raises(ToolError, match=r"depth= must have shape \(N, H, W\) = \(1, 4, 5\)"):
        Reconstruct.Reconstruct([rgb()], frame_indices=[0], depth=np.ones((3, 3)))
    with pytest.raises(ToolError, match=r"needs the camera intrinsics.*intrinsics=Metadata.K"):
        Reconstruct.Reconstruct([rgb()], frame_indices=[0], depth=np.ones((4, 5)))
    with pytest.raises(ToolError, match=r"backend 'rgbd' needs metric depth.*backend='da3'"):
        Reconstruct.Reconstruct([rgb()], frame_indices=[0], backend="rgbd")
    with pytest.raises(ToolError, match=r"intrinsics= must be"):
        Reconstruct.Reconstruct([rgb()], frame_indices=[0], intrinsics=np.eye(2))
    with pytest.raises(ToolError, match=r"poses= must be \(1, 4, 4\)"):
        Reconstruct.Reconstruct([rgb()], frame_indices=[0], poses=np.eye(3))
    many = [rgb() for _ in range(70)]
    with pytest.raises(ToolError, match=r"got 70 frames but at most 64.*InputImages\[::2\]\) \(35 frames\)"):
        Reconstruct.Reconstruct(many, frame_indices=list(range(70)))
    with pytest.raises(ToolError, match=r"at most 2 are allowed.*InputImages\[::3\]"):
        Reconstruct.Reconstruct(images, max_frames=2)


def test_sam3_argument_errors(room):
    perception.configure("http://127.0.0.1:9", "t")
    frame = room["InputImages"][0]  # 640 x 480
    with pytest.raises(ToolError, match=r"points\[1\] = \(700, 20\) is outside the 640x480 image"):
        SAM3.segment_image_by_points(frame, [[10, 10], [700, 20]], [1, 1])
    with pytest.raises(ToolError, match="vlm.to_pixels"):
        SAM3.segment_image_by_points(frame, [[900, 900]])
    with pytest.raises(ToolError, match="point_labels has 1 entries for 2 points"):
        SAM3.segment_image_by_points(frame, [[10, 10], [20, 20]], [1])
    with pytest.raises(ToolError, match="no foreground point"):
        SAM3.segment_image_by_points(frame, [[10, 10]], [0])
    with pytest.raises(ToolError, match=r"point_labels must be 1 \(foreground\) or 0"):
        SAM3.segment_image_by_points(frame, [[10, 10]], [2])
    with pytest.raises(ToolError, match=r"has x2 <= x1: the order is \[x1, y1, x2, y2\]"):
        SAM3.segment_image_by_box(frame, [300, 10, 200, 100])
    with pytest.raises(ToolError, match="has y2 <= y1"):
        SAM3.segment_image_by_box(frame, [10, 100, 200, 100])
    with pytest.raises(ToolError, match="does not overlap the 640x480 image"):
        SAM3.segment_image_by_box(frame, [700, 10, 800, 100])
    with pytest.raises(ToolError, match="4 finite numbers"):
        SAM3.segment_image_by_box(frame, [1, 2, 3])
    with pytest.raises(ToolError, match="non-empty phrase"):
        SAM3.segment_image_by_text(frame, "  ")
    with pytest.raises(ToolError, match=r"threshold must be a number in \[0, 1\]"):
        SAM3.segment_image_by_text(frame, "chair", threshold=2)
    with pytest.raises(ToolError, match="ONE image"):
        SAM3.segment_image_by_text(room["InputImages"], "chair")
    with pytest.raises(ToolError, match=r"prompt_frame 9 is not among the frames \[0, 1, 2, 3, 4\].*ABSOLUTE"):
        SAM3.segment_video_by_box(room["InputImages"], 9, [1, 1, 50, 50])
    with pytest.raises(ToolError, match="frames is empty"):
        SAM3.segment_video_by_points([], 0, [[1, 1]])
    # frames=None uses the session's InputImages; none are bound here.
    with pytest.raises(ToolError, match="no InputImages are bound"):
        SAM3.segment_video_by_text("chair")
    bind(room, "InputImages_1")
    with pytest.raises(ToolError, match="several inputs.*frames=InputImages_1"):
        SAM3.segment_video_by_text("chair")


def test_not_configured_names_the_fix(room):
    for call in (
        lambda: Reconstruct.Reconstruct(room["InputImages"]),
        lambda: SAM3.segment_image_by_box(room["InputImages"][0], [10, 10, 100, 100]),
    ):
        with pytest.raises(
            PerceptionUnavailable, match="no perception server is configured.*spatialclaw perception start"
        ):
            call()


def test_server_down_is_a_clear_error(room, monkeypatch):
    with socket.socket() as s:  # a port with nothing listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sleeps = []
    monkeypatch.setattr(perception.time, "sleep", sleeps.append)
    perception.configure(f"http://127.0.0.1:{port}", "t")
    with pytest.raises(PerceptionUnavailable) as err:
        SAM3.segment_image_by_box(room["InputImages"][0], [10, 10, 100, 100], backend="classical")
    msg = str(err.value)
    assert f"the perception server at http://127.0.0.1:{port} is not reachable (3 attempts)" in msg
    assert "start one with `spatialclaw perception start` or check the URL" in msg
    assert sleeps == [0.01, 0.01] and err.value.code == "unreachable"


# --------------------------------------------------------------------------------------------------
# Client against an in-process fake server
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


# --------------------------------------------------------------------------------------------------
# prepare / reset
# --------------------------------------------------------------------------------------------------


def test_prepare_configures_perception_and_reset_forgets_it(dict_session, tmp_path):
    base = {"scratch_dir": str(tmp_path / "s"), "inputs": [], "bridge": None}
    session.prepare(json.dumps({**base, "perception": {"url": "http://127.0.0.1:5/", "token": "tok-secret-1"}}))
    cfg = perception.get_config()
    assert cfg.url == "http://127.0.0.1:5" and cfg.token == "tok-secret-1" and cfg.backends == {}
    assert "tok-secret-1" not in repr(cfg)  # the token is not shown
    assert "tok-secret-1" not in json.dumps(dict(os.environ))  # memory only
    session.prepare(
        {
            **base,
            "perception": {"url": "http://h:1", "token": "t", "backends": {"reconstruct": "rgbd", "segment": "sam3"}},
        }
    )
    assert perception.get_config().backends == {"reconstruct": "rgbd", "segment": "sam3"}
    assert perception.default_backend("segment") == "sam3"
    session.prepare(base)  # no "perception" key: not configured
    assert not perception.is_configured()
    session.prepare({**base, "perception": {"url": "http://h:1", "token": "t"}})
    assert dict_session["tools"].Reconstruct is Reconstruct and dict_session["tools"].SAM3 is SAM3
    session.reset()
    assert not perception.is_configured()
    for bad in (
        {"url": "h:1", "token": "t"},
        {"url": "http://h:1"},
        {"url": "http://h:1", "token": "t", "backends": {"depth": "x"}},
        {"url": "http://h:1", "token": "t", "backends": {"segment": 3}},
        "http://h:1",
    ):
        with pytest.raises(ValueError, match="'perception' must be null or"):
            session.prepare({**base, "perception": bad})


def test_tools_namespaces_are_documented():
    import spatial_runtime.tools as tools

    assert tools.Reconstruct is Reconstruct and tools.SAM3 is SAM3
    for ns in (Reconstruct, SAM3):
        assert ns.__doc__ and ns.__all__
        for name in ns.__all__:
            obj = getattr(ns, name)
            assert obj.__doc__ and len(obj.__doc__.strip()) > 20, f"{ns.__name__}.{name} needs a docstring"
    for fn in (Reconstruct.Reconstruct, *(getattr(SAM3, n) for n in SAM3.__all__ if n.startswith("segment_"))):
        doc = fn.__doc__
        assert "Args:" in doc and "Returns:" in doc and "Raises:" in doc and "{" not in doc.replace('{"', "")


# --------------------------------------------------------------------------------------------------
# Through a real IPython kernel: prepare -> tool call -> display_data
# --------------------------------------------------------------------------------------------------


def test_tools_in_a_real_kernel(fake, tmp_path):
    from jupyter_client.manager import start_new_kernel

    km, kc = start_new_kernel(kernel_name="python3", startup_timeout=60, cwd=str(tmp_path))
    try:

        def run(code):
            messages = []
            reply = kc.execute_interactive(code, output_hook=messages.append, timeout=60)
            displays = [m["content"]["data"] for m in messages if m["msg_type"] == "display_data"]
            return reply["content"], displays

        reply, _ = run("import spatial_runtime.session as _s; _s.init()")
        assert reply["status"] == "ok"
        config = {
            "scratch_dir": str(tmp_path / "scratch"),
            "inputs": [{"kind": "rgbd_sample", "path": str(ROOM)}],
            "bridge": None,
            "perception": {"url": fake.url, "token": "tok", "backends": {"segment": "classical"}},
        }
        reply, _ = run(f"_s.prepare({json.dumps(json.dumps(config))})")
        assert reply["status"] == "ok"
        reply, displays = run(
            "rec = tools.Reconstruct.Reconstruct(InputImages[:2])\n"
            "m = tools.SAM3.segment_image_by_box(InputImages[1], [10, 10, 100, 100])\n"
            "assert rec.frame_indices == [0, 1] and m.get_masked_points(rec, 1, 0).shape == (6, 3)"
        )
        assert reply["status"] == "ok", reply
        records = [d[ARTIFACT_MIME] for d in displays if ARTIFACT_MIME in d]
        assert [(r["tool"], r["kind"]) for r in records] == [("Reconstruct", "reconstruction"), ("SAM3", "masks")]
        assert records[0]["id"] == "rec1" and records[0]["url"] == fake.url + "/v1/artifacts/rec1"
        assert records[1]["frame_indices"] == [1] and all("text/plain" in d for d in displays)
        assert fake.requests[0][1]["backend"] == "rgbd" and fake.requests[1][1]["backend"] == "classical"
        assert unnpy(fake.requests[0][1]["intrinsics"])[0, 0, 0] == 518.0  # Metadata of the bound input
        run("_s.reset()")
        reply, _ = run("tools.SAM3.segment_image_by_box(np.zeros((4, 4, 3), np.uint8), [0, 0, 2, 2])")
        assert reply["status"] == "error" and reply["ename"] == "PerceptionUnavailable"
        assert "no perception server is configured" in reply["evalue"]
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


# --------------------------------------------------------------------------------------------------
# Integration: a REAL perception server process (rgbd + classical backends, CPU)
# --------------------------------------------------------------------------------------------------

try:
    import perception_helpers
except Exception as err:  # the server package or its test helpers are missing: skip these tests
    perception_helpers = None
    _HELPERS_ERROR = f"{type(err).__name__}: {err}"
else:
    _HELPERS_ERROR = ""

needs_server = pytest.mark.skipif(
    perception_helpers is None, reason=f"perception server helpers unavailable ({_HELPERS_ERROR})"
)

TABLE_BOX = [500, 262, 636, 430]
"""A box on the dining-table top in frame 0 of the rgbd_room fixture (no chair inside)."""


@pytest.fixture(scope="module")
def real_server():
    handle = perception_helpers.start_server("rgbd,classical")
    try:
        yield handle
    finally:
        handle.stop()


@pytest.fixture
def real(real_server, room):
    """The real server configured as prepare() would, and the room sample bound as InputImages / Metadata."""
    perception.configure(real_server.url, real_server.token)
    bind(room)
    return real_server


@pytest.fixture(scope="module")
def real_recon(real_server, room):
    """The room reconstructed once for the module (its artifact bundle is dropped)."""
    saved = display._publish
    display._publish = lambda bundle: None  # module fixtures run outside the per-test capture
    perception.configure(real_server.url, real_server.token)
    try:
        rec = Reconstruct.Reconstruct(room["InputImages"], metadata=room["Metadata"])
    finally:
        perception.clear()
        display._publish = saved
    return rec


def floor_height(rec):
    """Median Y of the lowest 2 % of all valid world points (the floor in a gravity-aligned reconstruction)."""
    y = np.sort(rec.all_points(stride=2)[:, 1])
    return float(np.median(y[: max(1, len(y) // 50)]))


@needs_server
def test_real_reconstruct_rgbd_room(real, room, published):
    images, meta = room["InputImages"], room["Metadata"]
    rec = Reconstruct.Reconstruct(images)  # backend rgbd (frames carry depth); Metadata found in the session
    assert rec.backend == "rgbd" and rec.frame_indices == [0, 1, 2, 3, 4] and rec.image_size == (640, 480)
    for fi in rec.frame_indices:
        assert rec.depth[fi].shape == (480, 640) and rec.depth[fi].dtype == np.float32
        assert rec.confidence[fi].shape == (480, 640) and rec.points[fi].shape == (480, 640, 3)
        assert rec.colors[fi].dtype == np.uint8 and rec.extrinsics[fi].shape == (4, 4)
        assert rec.intrinsics[fi] == meta.intrinsics
        np.testing.assert_array_equal(rec.colors[fi], np.asarray(images.by_frame_index(fi)))
    with pytest.raises(KeyError, match="valid indices: 0, 1, 2, 3, 4"):
        rec.points[5]
    # The rgbd backend keeps the measured depth.
    d0 = images[0].depth
    valid = d0 > 0
    np.testing.assert_allclose(rec.depth[0][valid], d0[valid], rtol=1e-6)
    assert 0.5 < np.isfinite(rec.points[0]).all(axis=2).mean() <= valid.mean() + 1e-9
    # extrinsics are camera-to-world: lifting pixel (u, v) with K and depth, then applying extrinsics, gives points.
    for fi in (0, 3):
        K, T = rec.K(fi), rec.extrinsics[fi]
        for u, v in ((320, 240), (100, 400), (600, 300)):
            z = float(rec.depth[fi][v, u])
            if not np.isfinite(rec.points[fi][v, u]).all():
                continue
            cam = np.array([(u - K[0, 2]) * z / K[0, 0], (v - K[1, 2]) * z / K[1, 1], z])
            np.testing.assert_allclose(T[:3, :3] @ cam + T[:3, 3], rec.points[fi][v, u], atol=2e-3)
    # Gravity-aligned world: floor at Y ~ 0, +Y up, the first camera looking toward -Z.
    assert rec.alignment["method"] == "floor_ransac"
    assert abs(floor_height(rec)) < 0.1
    assert 1.0 < rec.camera_position(0)[1] < 2.0  # a hand-held Kinect, above the floor
    view = rec.extrinsics[0][:3, 2]
    assert view[2] < -0.5 and abs(view[0]) < 1e-6
    assert rec.extrinsics[0][1, 1] < -0.8  # camera y (down) points roughly along world -Y
    # The artifact record: one bundle, with a working URL.
    [record] = artifacts(published)
    assert record["tool"] == "Reconstruct" and record["kind"] == "reconstruction"
    assert record["id"] == rec.artifact_id and record["url"] == f"{real.url}/v1/artifacts/{rec.artifact_id}"
    assert record["frame_indices"] == [0, 1, 2, 3, 4] and record["shapes"]["points"] == [5, 480, 640, 3]
    status, listing = real.get_json(f"/v1/artifacts/{rec.artifact_id}")
    assert status == 200 and listing["id"] == rec.artifact_id and "points" in listing["arrays"]


@needs_server
def test_real_segment_table_and_lift_to_3d(real, room, real_recon, published):
    frame = room["InputImages"][0]
    m = SAM3.segment_image_by_box(frame, TABLE_BOX, backend="classical")
    assert m.masks.shape == (1, 1, 480, 640) and m.masks.dtype == np.bool_ and m.frame_indices == [0]
    assert m.backend == "classical" and m.area(0, 0) > 5000
    pts = m.get_masked_points(real_recon, 0, 0)
    assert pts.ndim == 2 and pts.shape[1] == 3 and len(pts) > 5000 and np.isfinite(pts).all()
    floor = floor_height(real_recon)
    top = m.get_centroid_3d(real_recon, 0, 0)
    assert 0.6 < top[1] - floor < 1.0  # a dining table top, metres above the floor
    box = m.get_bbox_3d(real_recon, 0, 0, percentile=2)
    assert box.size[1] < 0.1 and 0.2 < box.size[0] < 1.5 and 0.2 < box.size[2] < 1.5  # flat, table-sized
    assert np.linalg.norm(top - real_recon.camera_position(0)) < 3.0
    assert isinstance(m.visualize(0), Image.Image)
    [record] = artifacts(published)[-1:]
    assert record["tool"] == "SAM3" and record["kind"] == "masks" and record["id"] == m.artifact_id
    assert record["url"] == f"{real.url}/v1/artifacts/{m.artifact_id}" and record["frame_indices"] == [0]
    # Video: the box in frame 0 is tracked through frames 0..2 (absolute indices).
    v = SAM3.segment_video_by_box(room["InputImages"][:3], 0, TABLE_BOX, backend="classical")
    assert v.masks.shape == (3, 1, 480, 640) and v.frame_indices == [0, 1, 2]
    assert abs(v.area(0, 0) - m.area(0, 0)) < 0.05 * m.area(0, 0)


@needs_server
def test_real_text_prompt_to_classical_is_unsupported(real, room):
    with pytest.raises(ToolError) as err:
        SAM3.segment_image_by_text(room["InputImages"][0], "table", backend="classical")
    assert err.value.status == 422 and err.value.code == "unsupported"
    msg = str(err.value)
    assert "text" in msg and "sam3" in msg and "oracle" in msg and "box" in msg


@needs_server
def test_real_server_rejects_bad_depth_with_its_message(real, room):
    # Bypass the kernel-side checks to see the server's own: a frame whose depth is all zero.
    body = {
        "backend": "rgbd",
        "frames": [perception.encode_png(np.zeros((4, 5, 3), np.uint8))] * 2,
        "frame_indices": [0, 1],
        "depth": perception.encode_npy(np.stack([np.ones((4, 5)), np.zeros((4, 5))]).astype(np.float32)),
        "intrinsics": perception.encode_npy(np.array([[5.0, 0, 2], [0, 5, 1.5], [0, 0, 1]])),
        "poses": None,
        "params": {},
    }
    with pytest.raises(ToolError) as err:
        perception.post("/v1/reconstruct", body, tool="test")
    assert err.value.status == 400 and "depth" in str(err.value)


@needs_server
def test_real_server_down_is_a_clear_error(room):
    handle = perception_helpers.start_server("classical")
    url = handle.url
    perception.configure(url, handle.token)
    assert perception.health()["status"] == "ok"
    handle.stop()
    with pytest.raises(PerceptionUnavailable) as err:
        SAM3.segment_image_by_box(room["InputImages"][0], TABLE_BOX, backend="classical")
    assert f"the perception server at {url} is not reachable" in str(err.value)
    assert "start one with `spatialclaw perception start` or check the URL" in str(err.value)
