"""The da3 backend's post-processing on real RGB-D data, and its plumbing against a stand-in package.

Depth Anything 3's package and weights are not available here. The tests take the bundled real Kinect frames
(test/fixtures/rgbd_room: 640x480, depth in mm, camera-to-world poses, fx=518 fy=519 cx=325.5 cy=253.5) and
synthesise what DA3 would return at its processing resolution 504x378: the depth downsampled and divided by an
unknown global scale, the intrinsics scaled down with the pixel-centre convention, the poses as world-to-camera
3x4 in the same scaled units, and a raw confidence. ``postprocess`` must give back the ground truth.
"""

from __future__ import annotations

import sys
import textwrap
import threading
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from scipy.spatial import cKDTree
from spatial_perception.backends.base import ReconstructRequest
from spatial_perception.backends.da3 import (
    ENV_CHECKPOINT,
    ENV_DEVICE,
    DA3Backend,
    RawPrediction,
    find_cached_checkpoint,
    parse_params,
    postprocess,
    rank_confidence,
    raw_from_prediction,
    resize_depth,
    scale_intrinsics,
    world_to_camera_to_pose,
)
from spatial_perception.errors import BackendUnavailable, BadRequest, Cancelled
from spatial_runtime.rgbd import load_rgbd_sample

PROC_W, PROC_H = 504, 378  # DA3's upper_bound_resize of 640x480 at process_res 504 (both multiples of 14)
UNKNOWN_SCALE = 2.5  # DA3 units = metres / 2.5
NEVER = threading.Event()


@pytest.fixture(scope="module")
def room(room_dir: Path):
    return load_rgbd_sample(room_dir)


def synth_raw(room, scale: float = UNKNOWN_SCALE, as_4x4: bool = False) -> RawPrediction:
    """What DA3 would output for the room frames, up to its errors."""
    n = room.num_frames
    sx, sy = PROC_W / 640, PROC_H / 480
    depth = np.stack([cv2.resize(d, (PROC_W, PROC_H), interpolation=cv2.INTER_NEAREST) for d in room.depth]) / scale
    K = room.K.copy()
    K[0, 0], K[1, 1] = K[0, 0] * sx, K[1, 1] * sy
    K[0, 2], K[1, 2] = (K[0, 2] + 0.5) * sx - 0.5, (K[1, 2] + 0.5) * sy - 0.5
    c2w = room.poses.copy()
    c2w[:, :3, 3] /= scale
    w2c = np.linalg.inv(c2w)
    conf = np.where(depth > 0, 1.0 + 9.0 * np.exp(-depth * scale / 3.0), 1.0).astype(np.float32)
    return RawPrediction(
        depth=depth.astype(np.float32),
        confidence=conf,
        intrinsics=np.broadcast_to(K, (n, 3, 3)).copy(),
        extrinsics=w2c if as_4x4 else w2c[:, :3, :],
        is_metric=False,
        model_name="da3-large",
    )


def run(room, raw: RawPrediction, params: dict | None = None, **kw):
    frames = list(room.color)
    return postprocess(raw, [f.shape[:2] for f in frames], frames, room.frame_indices, params or {}, **kw)


def gt_points(room) -> np.ndarray:
    """Ground-truth world points (N, H, W, 3), NaN where the depth is invalid."""
    n, h, w = room.depth.shape
    u, v = np.meshgrid(np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64))
    K = room.K
    out = np.full((n, h, w, 3), np.nan)
    for i in range(n):
        z = room.depth[i].astype(np.float64)
        cam = np.stack([(u - K[0, 2]) / K[0, 0] * z, (v - K[1, 2]) / K[1, 1] * z, z], -1)
        world = cam @ room.poses[i, :3, :3].T + room.poses[i, :3, 3]
        world[z <= 0] = np.nan
        out[i] = world
    return out


def edge_free(depth: np.ndarray) -> np.ndarray:
    """Valid pixels whose 5x5 neighbourhood has no depth jump above 5 % (depth edges and holes excluded)."""
    valid = depth > 0
    big = np.where(valid, depth, 1e6).astype(np.float32)
    kernel = np.ones((5, 5), np.uint8)
    lo = cv2.erode(big, kernel)
    hi = cv2.dilate(np.where(valid, depth, 0).astype(np.float32), kernel)
    return valid & (hi - lo < 0.05 * depth) & (cv2.erode(valid.astype(np.uint8), kernel) > 0)


# ----------------------------------------------------------------------------------------------------------------
# Post-processing on real data


def test_depth_intrinsics_and_extrinsics_round_trip(room) -> None:
    rec = run(room, synth_raw(room), {"align_gravity": False})
    n = room.num_frames
    assert rec.depth.shape == (n, 480, 640) and rec.depth.dtype == np.float32
    assert rec.confidence.shape == (n, 480, 640) and rec.confidence.dtype == np.float32
    assert rec.points.shape == (n, 480, 640, 3) and rec.points.dtype == np.float32
    assert rec.extrinsics.shape == (n, 4, 4) and rec.extrinsics.dtype == np.float64
    assert rec.intrinsics.shape == (n, 3, 3) and rec.colors.shape == (n, 480, 640, 3) and rec.colors.dtype == np.uint8
    assert rec.frame_indices.tolist() == room.frame_indices.tolist()
    assert rec.info["processing_size"] == [PROC_H, PROC_W] and rec.info["input_size"] == [480, 640]

    # intrinsics: the pixel-centre convention round-trips to the ground truth
    np.testing.assert_allclose(rec.intrinsics, np.broadcast_to(room.K, (n, 3, 3)), atol=1e-6, rtol=0)

    # depth back at 640x480 (in DA3 units): matches the ground truth away from depth edges
    for i in range(n):
        good = edge_free(room.depth[i]) & (rec.depth[i] > 0)
        assert good.mean() > 0.5
        rel = np.abs(rec.depth[i][good] * UNKNOWN_SCALE - room.depth[i][good]) / room.depth[i][good]
        assert np.median(rel) < 0.005 and np.percentile(rel, 95) < 0.03, (i, np.median(rel))
        coverage = (rec.depth[i] > 0)[room.depth[i] > 0].mean()
        assert coverage > 0.97

    # extrinsics: camera-to-world, the ground truth up to the unknown scale
    for i in range(n):
        np.testing.assert_allclose(rec.extrinsics[i, :3, :3], room.poses[i, :3, :3], atol=1e-9)
        np.testing.assert_allclose(rec.extrinsics[i, :3, 3] * UNKNOWN_SCALE, room.poses[i, :3, 3], atol=1e-9)
        rel_gt = np.linalg.inv(room.poses[0]) @ room.poses[i]
        rel = np.linalg.inv(rec.extrinsics[0]) @ rec.extrinsics[i]
        np.testing.assert_allclose(rel[:3, :3], rel_gt[:3, :3], atol=1e-9)
        np.testing.assert_allclose(rel[:3, 3] * UNKNOWN_SCALE, rel_gt[:3, 3], atol=1e-9)
    assert rec.info["pose_source"] == "model" and "scale_alignment" not in rec.info


def test_4x4_world_to_camera_is_accepted(room) -> None:
    a = run(room, synth_raw(room), {"align_gravity": False})
    b = run(room, synth_raw(room, as_4x4=True), {"align_gravity": False})
    np.testing.assert_allclose(a.extrinsics, b.extrinsics, atol=1e-12)


@pytest.mark.parametrize("method", ["median", "least_squares"])
@pytest.mark.parametrize("sparse", [False, True])
def test_scale_alignment_recovers_metres(room, method: str, sparse: bool) -> None:
    metric = room.depth.copy()
    if sparse:  # ~0.5 % of the pixels, as from a sparse sensor or SfM points
        keep = np.random.default_rng(0).random(metric.shape) < 0.005
        metric = np.where(keep, metric, 0).astype(np.float32)
    rec = run(room, synth_raw(room), {"align_gravity": False, "align_depth": method}, metric_depth=metric)
    info = rec.info["scale_alignment"]
    assert info["method"] == method and abs(info["scale"] / UNKNOWN_SCALE - 1) < 0.01, info
    assert rec.info["is_metric"]
    np.testing.assert_allclose(rec.extrinsics[:, :3, 3], room.poses[:, :3, 3], atol=0.02)
    # world points now agree with the ground truth point by point
    gt = gt_points(room)
    for i in range(room.num_frames):
        good = edge_free(room.depth[i]) & np.isfinite(rec.points[i]).all(-1)
        err = np.linalg.norm(rec.points[i][good] - gt[i][good], axis=-1)
        assert np.median(err) < 0.02, (i, np.median(err))


def test_points_of_different_frames_overlap_like_the_ground_truth(room) -> None:
    rec = run(room, synth_raw(room), {"align_gravity": False}, metric_depth=room.depth)
    gt = gt_points(room)
    rng = np.random.default_rng(1)

    def overlap(points: np.ndarray, a: int, b: int) -> tuple[float, float]:
        pa = points[a].reshape(-1, 3)
        pa = pa[np.isfinite(pa).all(1)][::7]
        pb = points[b].reshape(-1, 3)
        pb = pb[np.isfinite(pb).all(1)]
        pb = pb[rng.choice(len(pb), 5000, replace=False)]
        dist, _ = cKDTree(pa).query(pb)
        return float(np.median(dist)), float((dist < 0.05).mean())

    for a, b in [(0, 1), (1, 2), (2, 3), (3, 4)]:
        med_gt, frac_gt = overlap(gt, a, b)
        med, frac = overlap(rec.points, a, b)
        assert frac_gt > 0.25, "consecutive frames of the fixture overlap"
        assert abs(frac - frac_gt) < 0.05 and abs(med - med_gt) < 0.01, (a, b, med, med_gt, frac, frac_gt)


def test_confidence_ranks_and_threshold(room) -> None:
    raw = synth_raw(room)
    rec = run(room, raw, {"align_gravity": False})
    valid = rec.depth > 0
    assert (rec.confidence[~valid] == 0).all()
    c = rec.confidence[valid]
    assert c.min() >= 0 and c.max() <= 1 and 0.4 < np.median(c) < 0.6
    # ranks follow the raw confidence (which falls with depth here): nearer pixels rank higher
    z = rec.depth[valid]
    near, far = c[z < np.percentile(z, 20)].mean(), c[z > np.percentile(z, 80)].mean()
    assert near > far + 0.3
    cut = run(room, raw, {"align_gravity": False, "conf_threshold": 0.4})
    finite = np.isfinite(cut.points).all(-1)
    assert not finite[cut.confidence < 0.4].any() and finite[(cut.confidence >= 0.4) & valid].all()
    assert 0.5 < finite.sum() / valid.sum() < 0.7
    np.testing.assert_array_equal(cut.depth, rec.depth)  # depth is kept, only the points are dropped
    assert rec.info["raw_confidence"]["max"] <= 10.0


def test_gravity_alignment_is_applied_by_default(room) -> None:
    plain = run(room, synth_raw(room), {"align_gravity": False}, metric_depth=room.depth)
    rec = run(room, synth_raw(room), {}, metric_depth=room.depth)
    align = rec.info["alignment"]
    assert align["method"] in ("floor_ransac", "camera_fallback")
    M = np.asarray(align["transform"])
    np.testing.assert_allclose(M[:3, :3] @ M[:3, :3].T, np.eye(3), atol=1e-9)
    np.testing.assert_allclose(rec.extrinsics, M @ plain.extrinsics, atol=1e-9)
    # camera 0 stands above the floor origin: (0, height, 0), looking toward -Z
    c0 = rec.extrinsics[0, :3, 3]
    assert abs(c0[0]) < 1e-6 and abs(c0[2]) < 1e-6 and 0.3 < c0[1] < 3.0
    assert rec.extrinsics[0, 2, 2] < 0
    ys = rec.points[..., 1][np.isfinite(rec.points[..., 1])]
    assert abs(np.percentile(ys, 2)) < 0.15
    np.testing.assert_array_equal(rec.depth, plain.depth)


def test_nearest_interpolation_keeps_depth_values(room) -> None:
    raw = synth_raw(room)
    rec = run(room, raw, {"align_gravity": False, "depth_interpolation": "nearest"})
    for i in range(room.num_frames):
        vals = np.unique(rec.depth[i][rec.depth[i] > 0])
        assert np.isin(vals, np.unique(raw.depth[i])).all()


def test_given_cameras_are_returned_as_given(room) -> None:
    raw = synth_raw(room, scale=1.0)
    raw.intrinsics = raw.intrinsics * 1.1  # a worse estimate than the request's
    rec = run(room, raw, {"align_gravity": False}, intrinsics=room.K, poses=room.poses, metric_depth=room.depth)
    np.testing.assert_array_equal(rec.intrinsics, np.broadcast_to(room.K, rec.intrinsics.shape))
    np.testing.assert_array_equal(rec.extrinsics, room.poses)
    assert rec.info["pose_source"] == "given" and "scale_alignment" not in rec.info


def test_sky_and_cameras_missing(room) -> None:
    raw = synth_raw(room)
    raw.sky = np.zeros_like(raw.depth)
    raw.sky[:, :50] = 1.0
    rec = run(room, raw, {"align_gravity": False})
    assert (rec.depth[:, :55] == 0).all() and (rec.depth[:, 70:] > 0).any()
    no_cams = synth_raw(room)
    no_cams.extrinsics = None
    with pytest.raises(BadRequest, match="no camera poses"):
        run(room, no_cams, {"align_gravity": False})
    no_k = synth_raw(room)
    no_k.intrinsics = None
    with pytest.raises(BadRequest, match="no intrinsics"):
        run(room, no_k, {"align_gravity": False})
    with pytest.raises(ValueError, match="does not match"):
        postprocess(synth_raw(room), [(480, 640)] * 4, list(room.color[:4]), [0, 1, 2, 3], {})


def test_cancel_between_frames(room) -> None:
    ev = threading.Event()
    ev.set()
    with pytest.raises(Cancelled):
        run(room, synth_raw(room), {}, cancel=ev)


# ----------------------------------------------------------------------------------------------------------------
# Helpers


def test_helpers() -> None:
    K = np.array([[500.0, 0, 319.5], [0, 500.0, 239.5], [0, 0, 1]])
    half = scale_intrinsics(K, 0.5, 0.5)
    np.testing.assert_allclose(half[:2, 2], [159.5, 119.5])  # image centre stays the image centre
    np.testing.assert_allclose(scale_intrinsics(half, 2.0, 2.0), K)
    R = cv2.Rodrigues(np.array([0.1, -0.2, 0.3]))[0]
    w2c = np.eye(4)
    w2c[:3, :3], w2c[:3, 3] = R, [1.0, 2.0, 3.0]
    np.testing.assert_allclose(world_to_camera_to_pose(w2c[None, :3]) @ w2c, np.eye(4)[None], atol=1e-12)
    with pytest.raises(ValueError, match="non-orthonormal"):
        world_to_camera_to_pose(np.concatenate([2 * np.eye(3), np.zeros((3, 1))], 1)[None])
    d = np.full((4, 4), 2.0, np.float32)
    v = np.ones((4, 4), bool)
    v[:, :2] = False
    up = resize_depth(d, v, (8, 8))
    assert (up[:, 5:] == 2.0).all() and (up[:, :3] == 0).all()  # no mixing with invalid zeros
    conf, stats = rank_confidence(np.array([[1.0, 2.0], [2.0, 3.0]], np.float32), np.ones((2, 2), bool))
    assert conf[0, 0] == 0 and conf[1, 1] == 1 and conf[0, 1] == conf[1, 0] and stats["median"] == 2.0
    flat, _ = rank_confidence(np.ones((2, 2), np.float32), np.array([[True, False], [True, True]]))
    assert flat.tolist() == [[1.0, 0.0], [1.0, 1.0]]
    pred = SimpleNamespace(depth=np.ones((2, 3, 4)), conf=None, intrinsics=None, extrinsics=None, is_metric=1)
    raw = raw_from_prediction(pred, "x")
    assert raw.depth.dtype == np.float32 and raw.is_metric and raw.confidence is None
    with pytest.raises(RuntimeError, match="no \\(N, h, w\\) depth"):
        raw_from_prediction(SimpleNamespace(depth=np.ones((3, 4))))


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"process_res": 500}, "multiple of 14"),
        ({"align_depth": "mean"}, "align_depth"),
        ({"depth_interpolation": "cubic"}, "depth_interpolation"),
        ({"conf_threshold": 2}, "conf_threshold"),
        ({"align_gravity": "yes"}, "align_gravity"),
        ({"colour": 1}, "unknown param"),
    ],
)
def test_bad_params(params, match) -> None:
    with pytest.raises(BadRequest, match=match):
        parse_params(params)
    assert parse_params({"max_frames": 8, "timeout_s": 5})["process_res"] == 504


def test_scale_alignment_needs_pixels(room) -> None:
    with pytest.raises(BadRequest, match="align_depth needs"):
        run(room, synth_raw(room), {}, metric_depth=np.zeros_like(room.depth))


# ----------------------------------------------------------------------------------------------------------------
# Backend: availability and the package call, against a stand-in ``depth_anything_3`` that mimics the real API
# as verified by test/python/test_da3_real_package.py (ByteDance-Seed/Depth-Anything-3 at commit
# 2c21ea849ceec7b469a3e62ea0c0e270afc3281a): the inference signature (unknown keywords fail), the Prediction
# dataclass fields with the observed dtypes/shapes ((N, 3, 4) float32 world-to-camera extrinsics, float32
# intrinsics, bool sky), ``is_metric`` an empty addict.Dict (falsy) unless nested, the pose-conditioned answer
# (the given extrinsics, the given intrinsics scaled by plain multiplication, depth divided by the pose scale) and
# the TypeError of camera-less checkpoints given cameras.

FAKE_API = """
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

CALLS = []
PREDICTION = None  # a template set by the test: depth, conf, intrinsics, extrinsics, sky, is_metric
POSE_SCALE = 1.0  # the Umeyama scale between predicted and given poses in a pose-conditioned run


class AddictDict(dict):
    pass


@dataclass
class Prediction:
    depth: np.ndarray
    is_metric: Any
    sky: Any = None
    conf: Any = None
    extrinsics: Any = None
    intrinsics: Any = None
    processed_images: Any = None
    gaussians: Any = None
    aux: Any = None
    scale_factor: Any = None


class DepthAnything3:
    model_name = "da3-large"

    def __init__(self, root):
        self.root = root

    @classmethod
    def from_pretrained(cls, root, **kwargs):
        assert kwargs.get("local_files_only") is True, "never download"
        assert (Path(root) / "config.json").is_file()
        return cls(root)

    def to(self, device):
        self.device = device
        return self

    def eval(self):
        return self

    def inference(
        self,
        image,
        extrinsics=None,
        intrinsics=None,
        align_to_input_ext_scale=True,
        infer_gs=False,
        use_ray_pose=False,
        ref_view_strategy="saddle_balanced",
        render_exts=None,
        render_ixts=None,
        render_hw=None,
        process_res=504,
        process_res_method="upper_bound_resize",
        export_dir=None,
        export_format="mini_npz",
        export_feat_layers=None,
        conf_thresh_percentile=40.0,
        num_max_points=1_000_000,
        show_cameras=True,
        feat_vis_fps=15,
        export_kwargs={},
    ):
        CALLS.append(
            {"n": len(image), "shape": image[0].shape, "extrinsics": extrinsics, "intrinsics": intrinsics,
             "process_res": process_res, "process_res_method": process_res_method, "export_dir": export_dir}
        )
        methods = ("upper_bound_resize", "upper_bound_crop", "lower_bound_resize", "lower_bound_crop")
        assert process_res_method in methods
        assert all(im.dtype == np.uint8 and im.ndim == 3 and im.shape[2] == 3 for im in image)
        t = PREDICTION
        cameraless = self.model_name.startswith(("da3metric", "da3mono"))
        if extrinsics is not None and cameraless:
            raise TypeError("'NoneType' object is not callable")  # the package calls the missing cam_enc
        f32 = lambda v: None if v is None else np.asarray(v, np.float32)
        nested = self.model_name.startswith("da3nested")
        pred = Prediction(
            depth=f32(t.depth),
            is_metric=1 if nested else AddictDict(),
            sky=None if getattr(t, "sky", None) is None else np.asarray(t.sky) >= 0.5,
            conf=f32(t.conf),
            extrinsics=None if t.extrinsics is None else f32(t.extrinsics)[:, :3, :],
            intrinsics=f32(t.intrinsics),
        )
        if extrinsics is not None:
            h, w = pred.depth.shape[1:]
            H, W = image[0].shape[:2]
            K = np.asarray(intrinsics, np.float32).copy()  # the package reads the intrinsics with the extrinsics
            K[:, :1] *= w / W
            K[:, 1:2] *= h / H
            pred.intrinsics = K
            pred.extrinsics = np.asarray(extrinsics, np.float32)[:, :3, :]
            pred.depth = pred.depth / POSE_SCALE
        return pred
"""


@pytest.fixture
def fake_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    pkg = tmp_path / "pkgs" / "depth_anything_3"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "api.py").write_text(textwrap.dedent(FAKE_API))
    monkeypatch.syspath_prepend(str(tmp_path / "pkgs"))
    for name in [m for m in sys.modules if m.startswith("depth_anything_3")]:
        monkeypatch.delitem(sys.modules, name)
    ckpt = tmp_path / "DA3-LARGE"
    ckpt.mkdir()
    (ckpt / "config.json").write_text('{"model_name": "da3-large"}')
    (ckpt / "model.safetensors").write_bytes(b"")
    yield ckpt
    for name in [m for m in sys.modules if m.startswith("depth_anything_3")]:
        sys.modules.pop(name, None)


def test_unavailable_without_the_package(monkeypatch: pytest.MonkeyPatch, room) -> None:
    monkeypatch.setitem(sys.modules, "depth_anything_3", None)  # find_spec then raises: not importable
    b = DA3Backend(checkpoint="/nonexistent", device="cpu")
    ok, reason = b.available()
    assert not ok and "depth_anything_3" in reason and "Depth-Anything-3" in reason
    with pytest.raises(BackendUnavailable) as exc:
        b.reconstruct(ReconstructRequest(list(room.color[:1]), [0]), NEVER)
    assert exc.value.status == 503 and "depth_anything_3" in exc.value.message
    # the real options for frames without depth, and none of them is rgbd (which needs depth)
    for option in ("NVIDIA GPU", "CPU (slow", "--da3-checkpoint DIR", "--mono-checkpoint DIR"):
        assert option in reason
    assert "rgbd" not in reason and "rgbd" not in (exc.value.fix or "")


def test_device_choice(fake_package: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    monkeypatch.delenv(ENV_DEVICE, raising=False)
    default = "cuda" if torch.cuda.is_available() else "cpu"
    assert DA3Backend(checkpoint=str(fake_package)).device == default  # CUDA when present, else the CPU
    monkeypatch.setenv(ENV_DEVICE, "cpu")
    assert DA3Backend(checkpoint=str(fake_package)).device == "cpu"
    if not torch.cuda.is_available():
        monkeypatch.setenv(ENV_DEVICE, "cuda")
        b = DA3Backend(checkpoint=str(fake_package))
        ok, reason = b.available()
        assert not ok and "torch sees no CUDA GPU" in reason and ENV_DEVICE in reason
        with pytest.raises(BackendUnavailable) as exc:
            b.reconstruct(ReconstructRequest([np.zeros((28, 28, 3), np.uint8)], [0]), NEVER)
        assert ENV_DEVICE in exc.value.fix


def test_checkpoint_reasons(fake_package: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_CHECKPOINT, raising=False)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty_cache"))
    ok, reason = DA3Backend(device="cpu").available()
    assert not ok and "--da3-checkpoint" in reason and ENV_CHECKPOINT in reason
    ok, reason = DA3Backend(checkpoint=str(tmp_path / "nope"), device="cpu").available()
    assert not ok and "does not exist" in reason
    assert DA3Backend(checkpoint=str(fake_package), device="cpu").available() == (True, None)
    monkeypatch.setenv(ENV_CHECKPOINT, str(fake_package))
    assert DA3Backend(device="cpu").checkpoint_dir() == fake_package


def test_checkpoint_from_the_hf_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "hub"
    for repo in ("DA3-SMALL", "DA3NESTED-GIANT-LARGE-1.1"):
        snap = cache / f"models--depth-anything--{repo}" / "snapshots" / "abc123"
        snap.mkdir(parents=True)
        (snap / "config.json").write_text("{}")
    (cache / "models--depth-anything--DA3-BASE" / "snapshots" / "x").mkdir(parents=True)  # no config: skipped
    assert find_cached_checkpoint(cache).parent.parent.name == "models--depth-anything--DA3NESTED-GIANT-LARGE-1.1"
    monkeypatch.delenv(ENV_CHECKPOINT, raising=False)
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    assert DA3Backend(device="cpu").checkpoint_dir() == find_cached_checkpoint(cache)


def test_reconstruct_through_the_package_api(fake_package: Path, room) -> None:
    import depth_anything_3.api as api

    raw = synth_raw(room)
    api.PREDICTION = SimpleNamespace(
        depth=raw.depth, conf=raw.confidence, intrinsics=raw.intrinsics, extrinsics=raw.extrinsics, is_metric=0
    )
    b = DA3Backend(checkpoint=str(fake_package), device="cpu")
    req = ReconstructRequest(
        frames=list(room.color),
        frame_indices=[10, 11, 12, 13, 14],
        depth=room.depth,
        params={"align_gravity": False, "process_res": 504, "max_frames": 64},
    )
    rec = b.reconstruct(req, NEVER)
    call = api.CALLS[-1]
    assert call["n"] == 5 and call["shape"] == (480, 640, 3)
    assert call["process_res"] == 504 and call["process_res_method"] == "upper_bound_resize"
    assert call["export_dir"] is None and call["extrinsics"] is None and call["intrinsics"] is None
    assert rec.frame_indices.tolist() == [10, 11, 12, 13, 14]
    assert abs(rec.info["scale_alignment"]["scale"] / UNKNOWN_SCALE - 1) < 0.01
    np.testing.assert_allclose(rec.intrinsics[0], room.K, atol=1e-4)  # float32 from the package
    assert rec.info["model"] == "da3-large" and rec.info["device"] == "cpu"
    assert rec.info["is_metric"] is True  # metres from the request depth; the package's is_metric is a falsy Dict
    assert any("slow" in note for note in rec.info["notes"])  # ran on the CPU

    # with intrinsics and poses the model runs pose-conditioned on world-to-camera matrices; the package then
    # returns those extrinsics (3x4) and depth divided by the scale between its poses and the given ones
    api.POSE_SCALE = 1.0 / UNKNOWN_SCALE
    rec = b.reconstruct(
        ReconstructRequest(
            list(room.color), [0, 1, 2, 3, 4], intrinsics=room.K, poses=room.poses, params={"align_gravity": False}
        ),
        NEVER,
    )
    call = api.CALLS[-1]
    np.testing.assert_allclose(call["extrinsics"] @ room.poses, np.tile(np.eye(4), (5, 1, 1)), atol=1e-5)
    assert call["intrinsics"].shape == (5, 3, 3)
    np.testing.assert_array_equal(rec.extrinsics, room.poses)
    np.testing.assert_allclose(rec.intrinsics, np.broadcast_to(room.K, (5, 3, 3)))
    good = edge_free(room.depth[0]) & (rec.depth[0] > 0)
    rel = np.abs(rec.depth[0][good] - room.depth[0][good]) / room.depth[0][good]
    assert np.median(rel) < 0.005 and rec.info["pose_source"] == "given"

    with pytest.raises(BadRequest, match="depth must be"):
        b.reconstruct(ReconstructRequest(list(room.color), [0, 1, 2, 3, 4], depth=room.depth[:2]), NEVER)
    ev = threading.Event()
    ev.set()
    with pytest.raises(Cancelled):
        b.reconstruct(ReconstructRequest(list(room.color), [0, 1, 2, 3, 4]), ev)


def test_monocular_metric_checkpoint_uses_the_focal_length(fake_package: Path, room) -> None:
    import depth_anything_3.api as api

    api.DepthAnything3.model_name = "da3metric-large"
    try:
        raw = synth_raw(room, scale=1.0)
        fx_proc = room.K[0, 0] * PROC_W / 640
        fy_proc = room.K[1, 1] * PROC_H / 480
        out = raw.depth[:1] * 300.0 / (0.5 * (fx_proc + fy_proc))  # what the network outputs
        api.PREDICTION = SimpleNamespace(depth=out, conf=None, intrinsics=None, extrinsics=None, is_metric=0)
        b = DA3Backend(checkpoint=str(fake_package), device="cpu")
        rec = b.reconstruct(
            ReconstructRequest(list(room.color[:1]), [0], intrinsics=room.K, params={"align_gravity": False}), NEVER
        )
        good = edge_free(room.depth[0]) & (rec.depth[0] > 0)
        rel = np.abs(rec.depth[0][good] - room.depth[0][good]) / room.depth[0][good]
        assert np.median(rel) < 0.005 and rec.info["is_metric"]
        np.testing.assert_array_equal(rec.extrinsics[0], np.eye(4))
        with pytest.raises(BadRequest, match="needs the camera intrinsics"):
            b.reconstruct(ReconstructRequest(list(room.color[:1]), [0]), NEVER)

        # several frames with their poses: a camera-less checkpoint is not given cameras (the package would fail)
        out5 = synth_raw(room, scale=1.0).depth * 300.0 / (0.5 * (fx_proc + fy_proc))
        api.PREDICTION = SimpleNamespace(depth=out5, conf=None, intrinsics=None, extrinsics=None, is_metric=0)
        rec = b.reconstruct(
            ReconstructRequest(
                list(room.color), [0, 1, 2, 3, 4], intrinsics=room.K, poses=room.poses, params={"align_gravity": False}
            ),
            NEVER,
        )
        assert api.CALLS[-1]["extrinsics"] is None
        np.testing.assert_array_equal(rec.extrinsics, room.poses)
        good = edge_free(room.depth[3]) & (rec.depth[3] > 0)
        assert np.median(np.abs(rec.depth[3][good] - room.depth[3][good]) / room.depth[3][good]) < 0.005
        with pytest.raises(BadRequest, match="no camera poses for several frames"):
            b.reconstruct(ReconstructRequest(list(room.color), [0, 1, 2, 3, 4], intrinsics=room.K), NEVER)
    finally:
        api.DepthAnything3.model_name = "da3-large"
