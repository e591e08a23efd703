"""The oracle backend on the bundled annotation dataset test/fixtures/oracle_room (spatialclaw-oracle/1).

The fixture holds real Kinect depth and SLAM poses of rgbd_room frames 0, 3, 4 plus instance masks derived there
(see its SOURCE.txt); the RGB frames come from test/fixtures/rgbd_room.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest
from scipy.spatial.transform import Rotation
from spatial_perception.backends.base import (
    BoxPrompt,
    PointsPrompt,
    ReconstructRequest,
    SegmentImageRequest,
    SegmentVideoRequest,
    TextPrompt,
)
from spatial_perception.backends.oracle import ENV_ROOT, OracleBackend, match_labels
from spatial_perception.errors import BackendUnavailable, BadRequest, Cancelled

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
ROOM = FIXTURES / "rgbd_room"
ORACLE = FIXTURES / "oracle_room"
INDICES = [0, 3, 4]  # absolute frame indices annotated in oracle_room = rgbd_room color/1.png, 4.png, 5.png
STEMS = {0: "1", 3: "4", 4: "5"}
DS = {"dataset": "oracle_room"}


def _never() -> threading.Event:
    return threading.Event()


@pytest.fixture(scope="module")
def frames() -> list[np.ndarray]:
    return [cv2.cvtColor(cv2.imread(str(ROOM / "color" / f"{STEMS[i]}.png")), cv2.COLOR_BGR2RGB) for i in INDICES]


@pytest.fixture(scope="module")
def oracle() -> OracleBackend:
    return OracleBackend(root=str(FIXTURES))


def _gt_depth(i: int) -> np.ndarray:
    """rgbd_room's original 16-bit PGM depth (mm) in metres."""
    return cv2.imread(str(ROOM / "depth" / f"{STEMS[i]}.pgm"), cv2.IMREAD_UNCHANGED).astype(np.float32) / 1000.0


def _gt_pose(i: int) -> np.ndarray:
    """rgbd_room pose.txt line i (tx ty tz qx qy qz qw, camera-to-world) as a 4x4 matrix."""
    vals = [float(v) for v in (ROOM / "pose.txt").read_text().splitlines()[i].split()]
    T = np.eye(4)
    T[:3, :3] = Rotation.from_quat(vals[3:]).as_matrix()
    T[:3, 3] = vals[:3]
    return T


def _gt_instances(i: int) -> np.ndarray:
    return cv2.imread(str(ORACLE / "instances" / f"{i}.png"), cv2.IMREAD_UNCHANGED)


def test_available_only_with_a_root(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(ENV_ROOT, raising=False)
    backend = OracleBackend()
    ok, reason = backend.available()
    assert not ok and "--oracle-root" in reason and ENV_ROOT in reason
    with pytest.raises(BackendUnavailable, match="--oracle-root"):
        backend.segment_image(SegmentImageRequest(np.zeros((4, 4, 3), np.uint8), TextPrompt("x"), DS), _never())
    monkeypatch.setenv(ENV_ROOT, str(FIXTURES))
    assert OracleBackend().available() == (True, None)
    missing = OracleBackend(root=str(tmp_path / "nope"))
    assert not missing.available()[0] and "--oracle-root" in missing.available()[1]
    assert OracleBackend(root=str(FIXTURES)).capabilities == frozenset(
        {"reconstruct", "segment_image", "segment_video", "text", "points", "box"}
    )


def test_reconstruct_returns_the_ground_truth(oracle: OracleBackend, frames: list[np.ndarray]) -> None:
    req = ReconstructRequest(frames, INDICES, params={**DS, "align_gravity": False})
    rec = oracle.reconstruct(req, _never())
    assert rec.frame_indices.tolist() == INDICES
    assert rec.depth.shape == (3, 480, 640) and rec.depth.dtype == np.float32
    K = np.array([[518.0, 0, 325.5], [0, 519.0, 253.5], [0, 0, 1]])
    for k, i in enumerate(INDICES):
        gt = _gt_depth(i)
        assert np.array_equal(rec.depth[k], gt)  # the fixture's 16-bit PNG is the source PGM, losslessly
        assert np.array_equal(rec.confidence[k], (gt > 0).astype(np.float32))
        np.testing.assert_allclose(rec.extrinsics[k], _gt_pose(i), atol=1e-12)
        np.testing.assert_array_equal(rec.intrinsics[k], K)
        assert np.array_equal(rec.colors[k], frames[k])
        assert np.isnan(rec.points[k][gt == 0]).all() and np.isfinite(rec.points[k][gt > 0]).all()
        # One pixel lifted by hand: (u, v) = (400, 300).
        z = float(gt[300, 400])
        cam = np.array([(400 - 325.5) * z / 518.0, (300 - 253.5) * z / 519.0, z])
        world = _gt_pose(i)[:3, :3] @ cam + _gt_pose(i)[:3, 3]
        np.testing.assert_allclose(rec.points[k, 300, 400], world, atol=1e-5)
    assert rec.info["method"] == "oracle" and "alignment" not in rec.info


def test_reconstruct_gravity_aligned_keeps_the_relative_poses(oracle: OracleBackend, frames: list[np.ndarray]) -> None:
    rec = oracle.reconstruct(ReconstructRequest(frames, INDICES, params=dict(DS)), _never())
    E = rec.extrinsics
    G = np.stack([_gt_pose(i) for i in INDICES])
    for k in range(3):
        np.testing.assert_allclose(np.linalg.inv(E[0]) @ E[k], np.linalg.inv(G[0]) @ G[k], atol=1e-6)
        assert np.array_equal(rec.depth[k], _gt_depth(INDICES[k]))
    align = rec.info["alignment"]
    assert align["method"] == "floor_ransac"
    M = np.array(align["transform"])
    np.testing.assert_allclose(M @ G[0], E[0], atol=1e-9)
    # Y up, floor at 0: camera 0 is ~1.4 m above the floor (measured 1.38 m).
    assert 1.2 < E[0, 1, 3] < 1.6, E[0, 1, 3]
    # The GT table instance lifted with the GT geometry lies at table height above the floor (measured: median
    # 0.68 m, 10-90 % 0.64-0.69 m; a dining table is ~0.7-0.75 m high).
    table = _gt_instances(0) == 1
    heights = rec.points[0][table & (rec.depth[0] > 0)][:, 1]
    assert 0.6 < float(np.median(heights)) < 0.8, np.median(heights)


def test_reconstruct_rejects_unannotated_frames_and_bad_sizes(oracle: OracleBackend, frames) -> None:
    with pytest.raises(BadRequest) as err:
        oracle.reconstruct(ReconstructRequest(frames[:2], [0, 1], params=dict(DS)), _never())
    assert "[1]" in err.value.message and "[0, 3, 4]" in err.value.message
    with pytest.raises(BadRequest, match="640x480"):
        oracle.reconstruct(ReconstructRequest([frames[0][:240, :320]], [0], params=dict(DS)), _never())
    with pytest.raises(BadRequest, match="unknown params"):
        oracle.reconstruct(ReconstructRequest(frames[:1], [0], params={**DS, "odometry": "icp"}), _never())
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        oracle.reconstruct(ReconstructRequest(frames[:1], [0], params=dict(DS)), cancel)


def test_text_prompt_returns_the_table_instance(oracle: OracleBackend, frames) -> None:
    res = oracle.segment_image(SegmentImageRequest(frames[0], TextPrompt("table"), {**DS, "frame_index": 0}), _never())
    assert res.labels == ["dining table"] and res.masks.shape == (1, 1, 480, 640)
    assert np.array_equal(res.masks[0, 0], _gt_instances(0) == 1) and res.masks[0, 0].sum() > 30000
    assert res.scores.tolist() == [[1.0]] and res.frame_indices.tolist() == [0]
    assert res.info["track_ids"] == [1]
    # Case-insensitive, plural and article tolerant; an armchair is not a "chair".
    for text, labels in (
        ("The Tables", ["dining table"]),
        ("ARMCHAIR", ["armchair"]),
        ("dining table", ["dining table"]),
    ):
        got = oracle.segment_image(SegmentImageRequest(frames[0], TextPrompt(text), {**DS, "frame_index": 0}), _never())
        assert got.labels == labels, text
    assert match_labels("chair", {1: "dining table", 2: "armchair"}) == []
    assert match_labels("wooden dining table", {1: "dining table", 2: "armchair"}) == [1]


def test_unknown_label_lists_the_labels(oracle: OracleBackend, frames) -> None:
    with pytest.raises(BadRequest) as err:
        oracle.segment_image(SegmentImageRequest(frames[0], TextPrompt("sofa"), {**DS, "frame_index": 0}), _never())
    assert "'armchair'" in err.value.message and "'dining table'" in err.value.message
    assert "armchair" in (err.value.fix or "")


def test_box_and_point_prompts_pick_the_gt_instance(oracle: OracleBackend, frames) -> None:
    params = {**DS, "frame_index": 0}
    res = oracle.segment_image(
        SegmentImageRequest(frames[0], BoxPrompt(np.array([110.0, 140, 215, 295])), params), _never()
    )
    assert res.labels == ["armchair"] and np.array_equal(res.masks[0, 0], _gt_instances(0) == 2)
    pts = PointsPrompt(np.array([[560.0, 330.0]]), np.array([1]))  # on the table top (near the runner)
    assert oracle.segment_image(SegmentImageRequest(frames[0], pts, params), _never()).labels == ["dining table"]
    both = PointsPrompt(np.array([[560.0, 330.0], [160.0, 200.0]]), np.array([1, 1]))
    assert oracle.segment_image(SegmentImageRequest(frames[0], both, params), _never()).labels == [
        "dining table",
        "armchair",
    ]
    with pytest.raises(BadRequest, match="no foreground point"):
        nowhere = PointsPrompt(np.array([[20.0, 20.0]]), np.array([1]))
        oracle.segment_image(SegmentImageRequest(frames[0], nowhere, params), _never())
    with pytest.raises(BadRequest, match="overlaps no annotated instance"):
        oracle.segment_image(SegmentImageRequest(frames[0], BoxPrompt(np.array([0.0, 0, 40, 40])), params), _never())
    with pytest.raises(BadRequest, match="prompt.points\\[0\\]"):
        outside = PointsPrompt(np.array([[700.0, 20.0]]), np.array([1]))
        oracle.segment_image(SegmentImageRequest(frames[0], outside, params), _never())
    with pytest.raises(BadRequest, match="frame_index"):
        oracle.segment_image(SegmentImageRequest(frames[0], TextPrompt("table"), dict(DS)), _never())
    with pytest.raises(BadRequest, match="annotated frame indices: \\[0, 3, 4\\]"):
        oracle.segment_image(SegmentImageRequest(frames[0], TextPrompt("table"), {**DS, "frame_index": 2}), _never())


def test_segment_video_tracks_gt_instances(oracle: OracleBackend, frames) -> None:
    res = oracle.segment_video(SegmentVideoRequest(frames, INDICES, 0, TextPrompt("armchair"), dict(DS)), _never())
    assert res.masks.shape == (3, 1, 480, 640) and res.labels == ["armchair"] and res.info["track_ids"] == [2]
    for k, i in enumerate(INDICES):
        assert np.array_equal(res.masks[k, 0], _gt_instances(i) == 2)
    assert res.scores.ravel().tolist() == [1.0, 1.0, 1.0]
    # The table is only in frame 0: empty masks with score 0 elsewhere, and a note.
    table = oracle.segment_video(SegmentVideoRequest(frames, INDICES, 0, TextPrompt("table"), dict(DS)), _never())
    assert table.scores.ravel().tolist() == [1.0, 0.0, 0.0] and not table.masks[1:].any()
    assert any("not visible in frames [3, 4]" in n for n in table.info["notes"])
    # A box on a later frame resolves there (the armchair in frame 4) and is tracked by id in every frame.
    boxed = oracle.segment_video(
        SegmentVideoRequest(frames, INDICES, 4, BoxPrompt(np.array([298.0, 92, 498, 352])), dict(DS)), _never()
    )
    assert boxed.labels == ["armchair"] and np.array_equal(boxed.masks, res.masks)
    with pytest.raises(BadRequest, match="prompt_frame_index 1 is not among"):
        oracle.segment_video(SegmentVideoRequest(frames, INDICES, 1, TextPrompt("table"), dict(DS)), _never())
    with pytest.raises(BadRequest, match="annotated frame indices"):
        oracle.segment_video(SegmentVideoRequest(frames, [0, 1, 2], 0, TextPrompt("table"), dict(DS)), _never())


@pytest.mark.parametrize("dataset", ["../rgbd_room", "oracle_room/../../fixtures", "/etc", "C:\\data", "..\\x"])
def test_path_traversal_is_rejected(oracle: OracleBackend, frames, dataset: str) -> None:
    with pytest.raises(BadRequest) as err:
        oracle.segment_image(
            SegmentImageRequest(frames[0], TextPrompt("table"), {"dataset": dataset, "frame_index": 0}), _never()
        )
    assert "traversal" in err.value.message or "absolute" in err.value.message


def test_symlink_out_of_the_root_is_rejected(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    os.symlink(ORACLE, root / "escape")
    backend = OracleBackend(root=str(root))
    with pytest.raises(BadRequest, match="outside"):
        backend.dataset({"dataset": "escape"})


def test_dataset_lookup_and_format_errors(tmp_path: Path, frames) -> None:
    root = tmp_path / "root"
    shutil.copytree(ORACLE, root / "room")
    backend = OracleBackend(root=str(root))
    assert backend.dataset({}).name == "room"  # the only dataset is the default
    with pytest.raises(BadRequest, match="not a dataset") as err:
        backend.dataset({"dataset": "kitchen"})
    assert "room" in (err.value.fix or "")
    meta_path = root / "room" / "oracle.json"
    meta = json.loads(meta_path.read_text())
    for change, needle in (
        ({"format": "other/1"}, "'format' must be"),
        ({"poses": "../../../etc/passwd"}, "'..'"),
        ({"frames": {"0": {"depth": "depth/missing.png", "instances": None}}}, "does not exist"),
        ({"frames": {**meta["frames"], "7": {"depth": "depth/0.png", "instances": None}}}, "has 3 poses but"),
        ({"colour": 1}, "unknown keys"),
    ):
        meta_path.write_text(json.dumps({**meta, **change}))
        os.utime(meta_path, (1, 1 + len(needle)))  # a new mtime: the cached parse is not reused
        with pytest.raises(BadRequest, match=needle.replace("(", "\\(")):
            backend.dataset({"dataset": "room"})
    # A dataset without poses: one frame gets the identity; several need the request's poses.
    meta_path.write_text(json.dumps({**meta, "poses": None}))
    os.utime(meta_path, (2, 2))
    one = backend.reconstruct(ReconstructRequest(frames[:1], [0], params={"align_gravity": False}), _never())
    np.testing.assert_array_equal(one.extrinsics[0], np.eye(4))
    with pytest.raises(BadRequest, match="no poses"):
        backend.reconstruct(ReconstructRequest(frames[:2], [0, 3], params={"align_gravity": False}), _never())
    given = np.stack([np.eye(4), np.eye(4)])
    given[1, 0, 3] = 1.0
    two = backend.reconstruct(
        ReconstructRequest(frames[:2], [0, 3], poses=given, params={"align_gravity": False}), _never()
    )
    np.testing.assert_array_equal(two.extrinsics, given)
