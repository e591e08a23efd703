"""The da3 backend against the REAL Depth Anything 3 package (``depth_anything_3``), on CPU, when it is importable.

The package is not on this project's package index, so CI skips this module; test/python/test_da3_backend.py
checks the adapter against a stand-in that mimics what this module observes. It was run against
ByteDance-Seed/Depth-Anything-3 at commit 2c21ea849ceec7b469a3e62ea0c0e270afc3281a (see docs/perception.md,
"Plain videos without a GPU", for how to install it).

No weights can be downloaded: the models are randomly initialised from the package's own configs and saved with
``save_pretrained`` to a tmp dir, the form ``DA3Backend`` loads (``from_pretrained(dir, local_files_only=True)``):
    ``da3-small`` (the smallest any-view preset: DINOv2 ViT-S, DualDPT head, camera encoder/decoder; 34 M
        parameters, the preset's dims cannot be shrunk: the backbone size is fixed by its name);
    ``da3metric-tinytest``: the ``da3metric-large`` structure (no camera heads, DPT head with sky) on ViT-S with
        narrow heads, written to a tmp yaml and registered in ``depth_anything_3.registry.MODEL_REGISTRY``;
    ``da3nested-tinytest``: ``NestedDepthAnything3Net`` of ``da3-small`` and that metric model.
Random weights give meaningless depth and cameras, so the checks are on the adapter's contract: shapes, dtypes,
conventions (rigid camera-to-world, points = back-projected depth), the package's own outputs mapped as
documented, the pose-conditioned path and camera-less checkpoints. Frames: 3 of test/fixtures/video_bedroom.
"""

from __future__ import annotations

import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip(
    "depth_anything_3.api",
    reason="the Depth Anything 3 package (depth_anything_3) is not installed: it is not on PyPI or this project's "
    "index; install it from a checkout of ByteDance-Seed/Depth-Anything-3 to run these tests",
)
import depth_anything_3.registry as da3_registry  # noqa: E402
import torch  # noqa: E402
from depth_anything_3.api import DepthAnything3  # noqa: E402
from spatial_common.geometry import backproject  # noqa: E402
from spatial_perception.backends.base import ReconstructRequest  # noqa: E402
from spatial_perception.backends.da3 import DA3Backend, scale_intrinsics  # noqa: E402

VIDEO = Path(__file__).resolve().parents[1] / "fixtures" / "video_bedroom" / "bedroom.mp4"
INDICES = [0, 66, 133]
RES = 140  # params.process_res: 960x540 -> long side 140, short side 78.75 -> nearest multiples of 14: 140x84
PROC_HW = (84, 140)
NEVER = threading.Event()

METRIC_YAML = """
__object__: {path: depth_anything_3.model.da3, name: DepthAnything3Net, args: as_params}
net:
  __object__: {path: depth_anything_3.model.dinov2.dinov2, name: DinoV2, args: as_params}
  name: vits
  out_layers: [2, 5, 8, 11]
  alt_start: -1
  qknorm_start: -1
  rope_start: -1
  cat_token: False
head:
  __object__: {path: depth_anything_3.model.dpt, name: DPT, args: as_params}
  dim_in: 384
  output_dim: 1
  features: 32
  out_channels: [24, 48, 96, 192]
"""
NESTED_YAML = """
__object__: {path: depth_anything_3.model.da3, name: NestedDepthAnything3Net, args: as_params}
anyview:
  __inherit__: depth_anything_3.configs.da3-small
metric:
  __inherit__: METRIC_PATH
"""


@pytest.fixture(scope="module")
def frames() -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(VIDEO))
    out = []
    for idx in INDICES:
        cap.set(cv2.CAP_PROP_POS_FRAMES, idx)
        ok, bgr = cap.read()
        assert ok
        out.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    cap.release()
    return out


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    cfg = tmp_path_factory.mktemp("da3-configs")
    (cfg / "da3metric-tinytest.yaml").write_text(METRIC_YAML)
    (cfg / "da3nested-tinytest.yaml").write_text(
        NESTED_YAML.replace("METRIC_PATH", str(cfg / "da3metric-tinytest.yaml"))
    )
    added = {name: str(cfg / f"{name}.yaml") for name in ("da3metric-tinytest", "da3nested-tinytest")}
    da3_registry.MODEL_REGISTRY.update(added)  # the dict the package's api module reads
    out = {}
    torch.manual_seed(0)
    for name in ("da3-small", *added):
        out[name] = tmp_path_factory.mktemp(name)
        DepthAnything3(model_name=name).save_pretrained(out[name])
    yield out
    for name in added:
        da3_registry.MODEL_REGISTRY.pop(name, None)


def check_contract(rec, frames: list[np.ndarray], min_valid: float = 0.5) -> None:
    n, (H, W) = len(frames), frames[0].shape[:2]
    assert rec.depth.shape == (n, H, W) and rec.depth.dtype == np.float32
    assert rec.confidence.shape == (n, H, W) and 0 <= rec.confidence.min() and rec.confidence.max() <= 1
    assert rec.points.shape == (n, H, W, 3) and rec.extrinsics.shape == (n, 4, 4) and rec.intrinsics.shape == (n, 3, 3)
    R = rec.extrinsics[:, :3, :3]
    np.testing.assert_allclose(R @ np.swapaxes(R, 1, 2), np.tile(np.eye(3), (n, 1, 1)), atol=1e-4)
    np.testing.assert_array_equal(rec.extrinsics[:, 3], np.tile([0, 0, 0, 1.0], (n, 1)))
    assert (rec.depth > 0).mean() >= min_valid
    np.testing.assert_array_equal(rec.colors, np.stack(frames))


def test_any_view_checkpoint_end_to_end(checkpoints, frames):
    root = checkpoints["da3-small"]
    model = DepthAnything3.from_pretrained(str(root), local_files_only=True).eval()
    pred = model.inference(frames, process_res=RES, process_res_method="upper_bound_resize", export_dir=None)
    # the fields, dtypes and shapes the stand-in of test_da3_backend.py mimics
    n, (h, w) = len(frames), PROC_HW
    assert pred.depth.shape == (n, h, w) and pred.depth.dtype == np.float32
    assert pred.conf.shape == (n, h, w) and pred.conf.dtype == np.float32
    assert pred.extrinsics.shape == (n, 3, 4) and pred.extrinsics.dtype == np.float32
    assert pred.intrinsics.shape == (n, 3, 3) and pred.intrinsics.dtype == np.float32
    np.testing.assert_allclose(pred.intrinsics[:, :2, 2], np.tile([w / 2, h / 2], (n, 1)))
    assert pred.sky is None and not pred.is_metric and not isinstance(pred.is_metric, int)

    backend = DA3Backend(checkpoint=str(root), device="cpu")
    assert backend.available() == (True, None)
    req = ReconstructRequest(frames, INDICES, params={"process_res": RES, "align_gravity": False})
    rec = backend.reconstruct(req, NEVER)
    check_contract(rec, frames)
    assert rec.info["processing_size"] == list(PROC_HW) and rec.info["model"] == "da3-small"
    assert rec.info["pose_source"] == "model" and rec.info["is_metric"] is False
    assert any("slow" in note for note in rec.info["notes"])
    # the same weights, the same input: the adapter's cameras are the package's, mapped as documented
    H, W = frames[0].shape[:2]
    for i in range(n):
        np.testing.assert_allclose(rec.intrinsics[i], scale_intrinsics(pred.intrinsics[i], W / w, H / h), rtol=1e-4)
        w2c = np.vstack([pred.extrinsics[i].astype(np.float64), [0, 0, 0, 1]])
        np.testing.assert_allclose(rec.extrinsics[i], np.linalg.inv(w2c), atol=1e-3)
        valid = rec.depth[i] > 0
        expect = backproject(rec.depth[i], rec.intrinsics[i], rec.extrinsics[i], valid=valid)
        np.testing.assert_allclose(rec.points[i][valid], expect[valid], rtol=1e-4, atol=1e-4)

    # pose-conditioned: the given poses and intrinsics come back as given
    K = np.array([[700.0, 0, (W - 1) / 2], [0, 700.0, (H - 1) / 2], [0, 0, 1]])
    poses = np.tile(np.eye(4), (n, 1, 1))
    poses[:, 0, 3] = [0.0, 0.3, 0.6]
    rec = backend.reconstruct(
        ReconstructRequest(frames, INDICES, intrinsics=K, poses=poses, params={"process_res": RES}), NEVER
    )
    check_contract(rec, frames)
    assert rec.info["pose_source"] == "given"


def test_nested_checkpoint_is_metric(checkpoints, frames):
    rec = DA3Backend(checkpoint=str(checkpoints["da3nested-tinytest"]), device="cpu").reconstruct(
        ReconstructRequest(frames, INDICES, params={"process_res": RES, "align_gravity": False}), NEVER
    )
    check_contract(rec, frames)
    assert rec.info["is_metric"] is True and rec.info["model"] == "da3nested-tinytest"


def test_cameraless_metric_checkpoint(checkpoints, frames):
    root = checkpoints["da3metric-tinytest"]
    model = DepthAnything3.from_pretrained(str(root), local_files_only=True).eval()
    pred = model.inference(frames, process_res=RES)
    assert pred.extrinsics is None and pred.intrinsics is None and pred.conf is None
    assert pred.sky.shape == (len(frames), *PROC_HW) and pred.sky.dtype == bool
    H, W = frames[0].shape[:2]
    K = np.array([[700.0, 0, (W - 1) / 2], [0, 700.0, (H - 1) / 2], [0, 0, 1]])
    with pytest.raises(TypeError):  # the package cannot take cameras without a camera encoder
        eye = np.tile(np.eye(4, dtype=np.float32), (3, 1, 1))
        model.inference(frames, extrinsics=eye, intrinsics=np.tile(K, (3, 1, 1)).astype(np.float32), process_res=RES)

    backend = DA3Backend(checkpoint=str(root), device="cpu")
    poses = np.tile(np.eye(4), (len(frames), 1, 1))
    poses[:, 0, 3] = [0.0, 0.3, 0.6]
    params = {"process_res": RES, "align_gravity": False}
    rec = backend.reconstruct(ReconstructRequest(frames, INDICES, intrinsics=K, poses=poses, params=params), NEVER)
    check_contract(rec, frames, min_valid=0.0)  # random sky masks may cover much of the image
    np.testing.assert_array_equal(rec.extrinsics, poses)
    assert rec.info["is_metric"] is True  # metric = focal * output / 300
