"""tools.Reconstruct and tools.SAM3 (python-runtime) without a perception server.

* Unit tests of Reconstruction / PerFrameMask with hand-built arrays (exact values).
* Argument checks (they fail before any request), and the errors for a server that is not configured or not
  listening.

Shared fixtures and helpers: kernel_tools_helpers.py.
"""

from __future__ import annotations

import socket

import kernel_tools_helpers
import numpy as np
import pytest
from kernel_tools_helpers import bind, rgb
from PIL import Image
from spatial_runtime import perception
from spatial_runtime.perception import PerceptionUnavailable, ToolError
from spatial_runtime.tools import SAM3, Reconstruct
from spatial_runtime.tools.reconstruct import FrameIndexError, Reconstruction
from spatial_runtime.tools.sam3 import PerFrameMask

_clean_state = kernel_tools_helpers._clean_state  # autouse: no state leaks between tests, display bundles captured
room = kernel_tools_helpers.room


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
