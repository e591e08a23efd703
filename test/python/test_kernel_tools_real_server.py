"""tools.Reconstruct and tools.SAM3 (python-runtime) against a REAL ``python -m spatial_perception`` process (rgbd +
classical backends, CPU), when the server package is available (test/python/perception_helpers.py starts it).

Shared fixtures and helpers: kernel_tools_helpers.py.
"""

from __future__ import annotations

import kernel_tools_helpers
import numpy as np
import pytest
from kernel_tools_helpers import artifacts, bind
from PIL import Image
from spatial_runtime import display, perception
from spatial_runtime.perception import PerceptionUnavailable, ToolError
from spatial_runtime.tools import SAM3, Reconstruct

_clean_state = kernel_tools_helpers._clean_state  # autouse: no state leaks between tests, display bundles captured
published = kernel_tools_helpers.published
room = kernel_tools_helpers.room


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
    # The same request again: the server's stored result, and the record says so.
    again = Reconstruct.Reconstruct(images)
    [record, repeat] = artifacts(published)
    assert record["cache"] in ("hit", "miss") and repeat["cache"] == "hit" and again.artifact_id == rec.artifact_id


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
