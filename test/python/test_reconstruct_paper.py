"""The paper profile's reconstruction extras (python-runtime/spatial_runtime/tools/reconstruct/paper.py, gravity.py,
bev.py; docs/paper-parity.md row 16): gravity from a segmented floor (RANSAC plane, camera fallback) on synthetic
scenes, metric_scale, the point-map aliases, render_bev's image and where a known point lands in it, and
tools.Reconstruct end to end against an in-process fake perception server.
"""

from __future__ import annotations

import io

import kernel_tools_helpers
import numpy as np
import pytest
from kernel_tools_helpers import npy, rgb, serving
from PIL import Image
from spatial_runtime import context
from spatial_runtime.perception import ToolError
from spatial_runtime.tools import Reconstruct
from spatial_runtime.tools.reconstruct import bev, gravity
from spatial_runtime.tools.reconstruct.paper import PaperReconstruction, _metric_scale
from spatial_runtime.tools.reconstruct.result import Reconstruction
from spatial_runtime.tools.sam3 import PerFrameMask

_clean_state = kernel_tools_helpers._clean_state  # autouse: no state leaks between tests, display bundles captured
published = kernel_tools_helpers.published

PAPER = context.KernelProfile.named("paper")
H, W = 40, 60


def _camera(position, forward, up=(0.0, 1.0, 0.0)):
    """A (4, 4) camera-to-world matrix (OpenCV axes: x right, y down, z forward)."""
    z = np.asarray(forward, float) / np.linalg.norm(forward)
    x = np.cross(z, up)
    x /= np.linalg.norm(x)
    E = np.eye(4)
    E[:3, :3] = np.stack([x, np.cross(z, x), z], axis=1)
    E[:3, 3] = position
    return E


def _rotation(axis, degrees):
    a = np.asarray(axis, float) / np.linalg.norm(axis)
    K = np.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])
    t = np.radians(degrees)
    return np.eye(3) + np.sin(t) * K + (1 - np.cos(t)) * K @ K


def _scene(seed=0):
    """One frame of a room with +Y up and the floor at Y = 0: the bottom half of the image sees the floor, the top
    half a wall at Z = -4; camera 0 at 1.5 m looking toward -Z, pitched 25 degrees down. Then the whole scene is moved
    by a rotation of 40 degrees and a shift (the server's unaligned world). Returns points (1, H, W, 3), confidence,
    extrinsics (1, 4, 4), the floor mask and the move G (4, 4)."""
    rng = np.random.default_rng(seed)
    pts = np.zeros((H, W, 3))
    floor = np.zeros((H, W), bool)
    floor[H // 2 :] = True
    n_floor = int(floor.sum())
    pts[floor] = np.column_stack(
        [rng.uniform(-2, 2, n_floor), rng.normal(0, 0.002, n_floor), rng.uniform(-4, -1, n_floor)]
    )
    n_wall = H * W - n_floor
    pts[~floor] = np.column_stack([rng.uniform(-2, 2, n_wall), rng.uniform(0.2, 2.5, n_wall), np.full(n_wall, -4.0)])
    E = _camera([0.3, 1.5, 0.2], [0.0, -np.sin(np.radians(25)), -np.cos(np.radians(25))])
    G = np.eye(4)
    G[:3, :3] = _rotation([1.0, 0.4, -0.7], 40)
    G[:3, 3] = [0.5, -2.0, 3.0]
    moved = pts @ G[:3, :3].T + G[:3, 3]
    return moved[None].astype(np.float32), np.ones((1, H, W), np.float32), (G @ E)[None], floor, G


def _apply(M, points):
    return points @ M[:3, :3].T + M[:3, 3]


# --------------------------------------------------------------------------------------------------
# Gravity
# --------------------------------------------------------------------------------------------------


def test_floor_plane_gravity_puts_the_floor_at_y0_and_camera_0_toward_minus_z():
    points, conf, E, floor, _ = _scene()
    points[0, H // 2, :10] += np.float32(0.7)  # some off-plane points under the mask: RANSAC ignores them
    M, report = gravity.gravity_transform(points, conf, E, floor)
    assert report["method"] == "sam3_floor" and report["floor_height_from"] == "floor_mask"
    assert report["floor_points"] == int(floor.sum()) and report["floor_inliers"] >= int(floor.sum()) - 20
    aligned = _apply(M, points[0].astype(np.float64))
    assert np.abs(aligned[floor][10:, 1]).max() < 0.01  # the floor is at Y = 0
    cam = M @ E[0]
    assert cam[1, 3] == pytest.approx(1.5, abs=0.01)  # camera 0 is 1.5 m above it
    forward = cam[:3, 2]
    assert forward[0] == pytest.approx(0, abs=1e-6) and forward[2] < 0  # ... looking toward -Z
    assert forward[1] == pytest.approx(-np.sin(np.radians(25)), abs=0.01)  # ... pitched down 25 degrees
    assert np.allclose(np.asarray(report["transform"]), M)


def test_gravity_falls_back_to_camera_0_without_a_floor():
    points, conf, E, floor, _ = _scene()
    M, report = gravity.gravity_transform(points, conf, E, None)
    assert report["method"] == "camera_fallback" and report["floor_height_from"] == "percentile_5"
    np.testing.assert_allclose(M[:3, :3] @ E[0][:3, 1], [0, -1, 0], atol=1e-9)  # camera 0's down is -Y
    # A mask too small for a plane (< 100 points) but with more than 50 gives the floor height only.
    small = np.zeros_like(floor)
    small[-2:, :30] = True
    M2, report2 = gravity.gravity_transform(points, conf, E, small)
    assert report2["method"] == "camera_fallback" and report2["floor_height_from"] == "floor_mask"
    assert np.median(_apply(M2, points[0][small].astype(np.float64))[:, 1]) == pytest.approx(0, abs=1e-6)


def test_ransac_plane_and_rotations():
    rng = np.random.default_rng(1)
    xy = rng.uniform(-1, 1, (400, 2))
    plane = np.column_stack([xy, 0.1 * xy[:, 0] + 2 + rng.normal(0, 0.003, 400)])
    outliers = rng.uniform(-1, 3, (100, 3))
    normal, inliers = gravity.fit_plane_ransac(np.concatenate([plane, outliers]))
    expected = np.array([-0.1, 0.0, 1.0]) / np.linalg.norm([-0.1, 0.0, 1.0])
    assert abs(float(normal @ expected)) > 0.9999 and inliers >= 390
    assert gravity.fit_plane_ransac(plane[:99]) is None
    for a, b in (([0, 0, 1], [0, 1, 0]), ([0, -1, 0], [0, 1, 0]), ([1, 2, 3], [1, 2, 3])):
        R = gravity.rotation_between(a, b)
        np.testing.assert_allclose(
            R @ (np.asarray(a) / np.linalg.norm(a)), np.asarray(b) / np.linalg.norm(b), atol=1e-12
        )
        np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-12)


def test_metric_scale_is_the_backends_scale():
    assert _metric_scale({"metric_scale": 2.5}) == 2.5
    assert _metric_scale({"scale_alignment": {"scale": 0.8, "method": "median"}}) == 0.8
    assert _metric_scale({}) == 1.0 and _metric_scale({"metric_scale": float("nan")}) == 1.0


# --------------------------------------------------------------------------------------------------
# tools.Reconstruct with the extras, against a fake server
# --------------------------------------------------------------------------------------------------

FLOOR_Y = 1.2  # the floor, in the server's world (camera 0 at the origin, OpenCV axes: +y is down)


def _server_reply(route, body):
    if route == "/v1/segment/image":
        img = np.asarray(Image.open(io.BytesIO(body["image"])))
        masks = np.zeros((1, 1, *img.shape[:2]), bool)
        masks[0, 0, H // 2 :] = True
        arrays = {"masks": npy(masks), "scores": npy(np.full((1, 1), 0.7, np.float32)), "frame_indices": npy([0])}
        return 200, {"artifact": {"id": "floor"}, "arrays": arrays, "info": {"labels": ["floor"]}}
    n = len(body["frames"])
    u, v = np.meshgrid(np.linspace(-1, 1, W), np.arange(H))
    points = np.zeros((n, H, W, 3), np.float32)
    below = v >= H // 2
    points[..., 0] = u
    points[..., 1] = np.where(below, FLOOR_Y, 1.2 - 0.05 * (H // 2 - v))
    points[..., 2] = np.where(below, 1 + 0.2 * (v - H // 2), 4.0)
    E = np.repeat(np.eye(4)[None], n, 0)
    K = np.repeat(np.array([[50.0, 0, W / 2], [0, 50.0, H / 2], [0, 0, 1]])[None], n, 0)
    arrays = {
        "depth": points[..., 2].copy(),
        "confidence": np.ones((n, H, W), np.float32),
        "points": points,
        "extrinsics": E,
        "intrinsics": K,
        "frame_indices": np.asarray(body["frame_indices"], np.int64),
    }
    reply = {"artifact": {"id": "rec", "backend": body["backend"]}, "arrays": {k: npy(a) for k, a in arrays.items()}}
    return 200, {**reply, "info": {"scale_alignment": {"scale": 1.7}}}


@pytest.fixture
def server():
    with serving(_server_reply, {"segment": "sam3"}) as s:
        yield s


def test_reconstruct_with_extras_aligns_on_the_segmented_floor(server, published):
    context.update(profile=PAPER)
    rec = Reconstruct.Reconstruct([rgb(H, W, 10 * i) for i in range(3)], frame_indices=[4, 8, 12], backend="da3")
    (r1, recon_body, _), (r2, floor_body, _) = server.requests
    assert r1 == "/v1/reconstruct" and recon_body["params"]["align_gravity"] is False
    assert r2 == "/v1/segment/image" and floor_body["backend"] == "sam3" and floor_body["frame_index"] == 4
    assert floor_body["prompt"] == {"type": "text", "text": "ground floor surface", "threshold": 0.05}
    assert isinstance(rec, PaperReconstruction) and rec.alignment["method"] == "sam3_floor"
    floor = rec.points[4][H // 2 :]
    assert np.abs(floor[..., 1]).max() < 1e-4  # the floor at Y = 0 ...
    assert rec.camera_position(4)[1] == pytest.approx(FLOOR_Y, abs=1e-4)  # ... 1.2 m below camera 0
    np.testing.assert_allclose(rec.extrinsics[4][:3, 2], [0, 0, -1], atol=1e-9)  # ... which looks toward -Z
    assert rec.metric_scale == 1.7 and isinstance(rec.metric_scale, float)
    assert rec.points.points.shape == (3, H, W, 3) and rec.points.confidence.shape == (3, H, W)
    assert rec.extrinsics.camera_poses.shape == (3, 4, 4) and rec.num_frames == 3
    assert rec.gravity_direction.tolist() == [0, 1, 0]
    [record] = kernel_tools_helpers.artifacts(published)  # the floor request publishes nothing
    assert record["summary"].endswith("aligned to gravity in the kernel: sam3_floor")
    # align_gravity=False: no floor request, the server's frame.
    server.requests.clear()
    raw = Reconstruct.Reconstruct([rgb(H, W)], frame_indices=[0], backend="da3", align_gravity=False)
    assert [r[0] for r in server.requests] == ["/v1/reconstruct"] and raw.alignment is None
    assert isinstance(raw, PaperReconstruction)


def test_reconstruct_falls_back_to_camera_0_when_the_floor_cannot_be_segmented():
    def reply(route, body):
        if route == "/v1/segment/image":
            return 422, {"error": "the classical backend cannot segment from text", "code": "unsupported", "fix": None}
        return _server_reply(route, body)

    with serving(reply, {"segment": "classical"}) as server:
        context.update(profile=PAPER)
        rec = Reconstruct.Reconstruct([rgb(H, W)], frame_indices=[0], backend="da3")
        assert server.requests[1][1]["backend"] == "classical"
        al = rec.alignment
        assert al["method"] == "camera_fallback" and "cannot segment from text" in al["floor_segmentation"]
        assert al["floor_height_from"] == "percentile_5"
        np.testing.assert_allclose(rec.extrinsics[0][:3, 1], [0, -1, 0], atol=1e-9)  # camera 0's down is -Y
        assert rec.camera_position(0)[1] == pytest.approx(FLOOR_Y, abs=1e-4)
        mask, reason = gravity.floor_mask(rgb(H, W), 0)
        assert mask is None and reason.startswith("floor segmentation failed (classical)")


def test_default_profile_keeps_the_servers_gravity(server):
    rec = Reconstruct.Reconstruct([rgb(H, W)], frame_indices=[0], backend="da3")
    assert type(rec) is Reconstruction and not hasattr(rec, "render_bev")
    assert [r[0] for r in server.requests] == ["/v1/reconstruct"]
    assert server.requests[0][1]["params"]["align_gravity"] is True


# --------------------------------------------------------------------------------------------------
# render_bev
# --------------------------------------------------------------------------------------------------


def _bev_scene(moving=False, n=3):
    """n frames of a gravity-aligned world: camera 0 at 1.5 m looking along +X (its image-right is +Z), moving
    forward 0.1 m a frame; a 0.4 m cluster 2 m in front of it (moving 0.6 m a frame toward +Z if ``moving``)."""
    h, w = 20, 30
    points = np.full((n, h, w, 3), np.nan, np.float32)
    conf = np.zeros((n, h, w), np.float32)
    masks = np.zeros((n, 1, h, w), bool)
    rows, cols = np.mgrid[5:15, 10:20]
    for t in range(n):
        xs = 1.8 + 0.4 * (rows - 5) / 9
        zs = -0.2 + 0.4 * (cols - 10) / 9 + (0.6 * t if moving else 0.0)
        points[t, 5:15, 10:20] = np.stack([xs, np.full(rows.shape, 0.5), zs], axis=-1)
        conf[t, 5:15, 10:20] = 0.9
        masks[t, 0, 5:15, 10:20] = True
    E = np.stack([_camera([0.1 * t, 1.5, 0.0], [1.0, 0.0, 0.0]) for t in range(n)])
    depth = np.ones((n, h, w), np.float32)
    K = np.array([[20.0, 0, w / 2], [0, 20.0, h / 2], [0, 0, 1]])
    rec = Reconstruction(list(range(10, 10 + n)), depth, conf, points, E, K)
    return PaperReconstruction.of(rec, None, is_video=True), masks


def test_render_bev_is_800_square_and_puts_the_object_ahead_of_the_camera():
    rec, masks = _bev_scene()
    seg = PerFrameMask(masks, rec.frame_indices, ["box"])
    img = rec.render_bev(masks=seg)
    assert isinstance(img, Image.Image) and img.size == (800, 800) and img.mode == "RGB"
    view = bev.draw(rec, seg)
    (bx, by), (cx, cy) = view.pixel([2.0, 0.5, 0.0]), view.pixel([0.0, 1.5, 0.0])
    assert by < cy - 100 and abs(bx - cx) < 2  # 2 m straight ahead: above the camera in the image
    assert view.pixel([2.0, 0.5, 1.0])[0] > bx + 50  # +Z is the camera's right: to the right
    pixels = np.asarray(view.image()).astype(int)

    def near(x, y, color, tol=40, r=70):
        patch = pixels[int(y) - r : int(y) + r, int(x) - r : int(x) + r]
        return int((np.abs(patch - np.asarray(color)).sum(axis=-1) < tol).sum())

    assert near(bx, by, (31, 119, 180)) > 50  # the object's box outline (tab10 colour 0) around it
    assert near(bx, by, (31, 119, 180), r=400) - near(bx, by, (31, 119, 180)) < 20  # ... and nowhere else
    assert near(cx, cy, (207, 50, 50), tol=60, r=40) > 30  # the red wedge of the reference camera at the camera


def test_render_bev_options_raw_masks_moving_objects_images_and_prompts():
    rec, masks = _bev_scene(moving=True, n=5)
    img = rec.render_bev(masks=masks, labels=["walker"], ref_frame=12, conf_threshold=0.5)
    assert img.size == (800, 800)
    rec.is_video = False
    assert rec.render_bev(ego_trajectory=True, ref_frame=1).size == (800, 800)  # a position: clamped/local
    with pytest.raises(ToolError, match="masks="):
        rec.render_bev(prompts=["chair"])
    with pytest.raises(ValueError, match="T, K, H, W"):
        rec.render_bev(masks=np.zeros((3, 20, 30), bool))
