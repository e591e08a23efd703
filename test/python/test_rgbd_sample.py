import json
import shutil

import numpy as np
import pytest
from scipy.spatial import cKDTree
from spatial_runtime import backproject_depth, load_rgbd_sample, transform_points
from spatial_runtime.rgbd import SampleError


def test_loads_the_real_room_sample(room_dir):
    s = load_rgbd_sample(room_dir)
    assert s.color.shape == (5, 480, 640, 3) and s.color.dtype == np.uint8
    assert s.depth.shape == (5, 480, 640) and s.depth.dtype == np.float32
    assert s.poses is not None and s.poses.shape == (5, 4, 4)
    assert s.frame_indices.tolist() == [0, 1, 2, 3, 4]
    valid = s.depth > 0
    # Kinect v1 indoors: most pixels valid, metric depth of a few metres.
    assert valid.mean() > 0.6
    assert 1.0 < float(np.median(s.depth[valid])) < 5.0
    # Rotation blocks are orthonormal.
    for T in s.poses:
        np.testing.assert_allclose(T[:3, :3] @ T[:3, :3].T, np.eye(3), atol=1e-5)


def _cloud(s, i, stride=4):
    pm = backproject_depth(s.depth[i], s.K)[::stride, ::stride].reshape(-1, 3)
    return pm[np.isfinite(pm).all(axis=1)]


def test_poses_register_consecutive_frames(room_dir):
    """With the camera-to-world poses, frames overlap far better than assuming no motion, and better
    than reading the same poses as world-to-camera (which would put the cameras in the wrong places)."""
    s = load_rgbd_sample(room_dir)
    inverse = np.linalg.inv(s.poses)
    for i in range(s.num_frames - 1):
        a, b = _cloud(s, i), _cloud(s, i + 1)
        tree = cKDTree(transform_points(a, s.poses[i]))
        with_poses = (tree.query(transform_points(b, s.poses[i + 1]))[0] < 0.05).mean()
        no_motion = (tree.query(transform_points(b, s.poses[i]))[0] < 0.05).mean()
        inv_tree = cKDTree(transform_points(a, inverse[i]))
        inverted = (inv_tree.query(transform_points(b, inverse[i + 1]))[0] < 0.05).mean()
        # Measured 2026-11-21 (stride 4): 27/65/60/76 % with poses vs 4/9/5/15 % without motion.
        assert with_poses > 0.2, f"frames {i}-{i + 1}: only {with_poses:.0%} overlap with poses"
        assert with_poses > 3 * no_motion, f"frames {i}-{i + 1}: poses {with_poses:.0%} vs none {no_motion:.0%}"
        assert with_poses > inverted + 0.1, f"frames {i}-{i + 1}: poses {with_poses:.0%} vs inverted {inverted:.0%}"


@pytest.fixture
def broken_copy(room_dir, tmp_path):
    dst = tmp_path / "room"
    shutil.copytree(room_dir, dst)
    return dst


def test_missing_frame_names_the_file(broken_copy):
    (broken_copy / "depth" / "3.pgm").unlink()
    with pytest.raises(FileNotFoundError, match=r"3\.pgm.*missing"):
        load_rgbd_sample(broken_copy)


def test_corrupt_image_is_reported(broken_copy):
    (broken_copy / "color" / "2.png").write_bytes(b"not a png")
    with pytest.raises(SampleError, match=r"2\.png: OpenCV could not decode"):
        load_rgbd_sample(broken_copy)


def test_pose_count_mismatch_is_reported(broken_copy):
    lines = (broken_copy / "pose.txt").read_text().splitlines()
    (broken_copy / "pose.txt").write_text("\n".join(lines[:3]))
    with pytest.raises(SampleError, match=r"3 poses for 5 frames"):
        load_rgbd_sample(broken_copy)


def test_bad_manifest_is_reported(broken_copy):
    m = json.loads((broken_copy / "sample.json").read_text())
    del m["intrinsics"]["fx"]
    (broken_copy / "sample.json").write_text(json.dumps(m))
    with pytest.raises(SampleError, match=r"intrinsics.*fx"):
        load_rgbd_sample(broken_copy)
    (broken_copy / "sample.json").unlink()
    with pytest.raises(FileNotFoundError, match=r"sample\.json"):
        load_rgbd_sample(broken_copy)
