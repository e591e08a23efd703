"""Perception server core (spatial_perception), real uvicorn processes started with ``python -m spatial_perception``:
the compute routes. /v1/reconstruct and /v1/segment/{image,video} replies follow the contract (arrays, artifact
record, info), ``return`` selects the arrays sent back, segment results carry absolute frame indices.

Shared fixtures and helpers: perception_server_helpers.py.
"""

from __future__ import annotations

import re

import numpy as np
import perception_server_helpers
from perception_helpers import jpeg_bytes, load_npy, npy_bytes, png_bytes
from perception_server_helpers import RECORD_KEYS, H, W, images, new_tag, recon_body, seg_body, video_body

server = perception_server_helpers.server  # the module-scoped echo server (perception_server_helpers.py)


# --------------------------------------------------------------------------------------------------
# results
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
