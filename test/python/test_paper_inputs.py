"""The paper profile's input frames (docs/paper-parity.md row 1): every native frame of a video (``all_frames``, at
most ``max_fps`` per second), and the ``paper_grid`` resize (centre crop to the nearest of six aspect grids, then
Lanczos to the grid), lazily, with intrinsics and Metadata to match. The default rules are covered by test_inputs.py.
"""

import json
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from spatial_runtime.inputs import InputError, Sizing, every_frame_indices, load_inputs
from spatial_runtime.inputs import video as video_module
from spatial_runtime.inputs.sizing import paper_crop, paper_grid_size

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
VIDEO = FIXTURES / "video_bedroom" / "bedroom.mp4"  # 960x540, 30 fps, 200 frames
ROOM = FIXTURES / "rgbd_room"  # an RGB-D sample of 640x480 frames
GRID = Sizing(768, "paper_grid")


def _noise(w, h, seed=0):
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8))


def _dense(**spec):
    out = load_inputs([{"kind": "video", "path": str(VIDEO), "all_frames": True, **spec}], 768, "paper_grid")
    return out["InputImages"], out["Metadata"]


# --------------------------------------------------------------------------------------------------
# The grid rule
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "crop", "bound"),
    [
        ((1296, 968), (2, 0, 1291, 968), (768, 576)),  # 4:3 grid, 5 columns cropped
        ((480, 640), (26, 0, 427, 640), (512, 768)),  # 2:3 grid, columns 26..452 kept
        ((640, 480), (0, 0, 640, 480), (768, 576)),  # exactly 4:3: no crop, enlarged
        ((960, 540), (0, 0, 960, 540), (768, 432)),  # exactly 16:9: no crop
        ((1000, 600), (0, 19, 1000, 562), (768, 432)),  # rows cropped, 16:9
        ((720, 1280), (0, 100, 720, 1080), (512, 768)),  # portrait, rows cropped, 2:3
        ((500, 500), (0, 0, 500, 500), (768, 768)),  # 1:1, enlarged
        ((1800, 1000), (0, 0, 1800, 1000), (765, 425)),  # 9:5: s = 768 // 9 = 85
    ],
)
def test_the_paper_grid_of_the_spec(size, crop, bound):
    assert paper_crop(size) == crop
    assert paper_grid_size(size, 768) == bound
    assert GRID.bound_size(size) == bound
    assert GRID.cropped(size) == (None if crop == (0, 0, *size) else crop)


def test_the_resize_is_pillow_lanczos_of_the_centre_crop():
    img = _noise(1296, 968)
    out = GRID.apply(img)
    assert out.size == (768, 576)
    expected = img.crop((2, 0, 1293, 968)).resize((768, 576), Image.Resampling.LANCZOS)
    assert np.array_equal(np.asarray(out), np.asarray(expected))
    # The paper's pipeline resizes with Pillow; OpenCV's Lanczos (8x8 kernel) gives other pixels.
    cv = cv2.resize(np.asarray(img)[:, 2:1293], (768, 576), interpolation=cv2.INTER_LANCZOS4)
    assert not np.array_equal(np.asarray(out), cv)

    portrait = _noise(480, 640, seed=1)
    kept = portrait.crop((26, 0, 453, 640)).resize((512, 768), Image.Resampling.LANCZOS)
    assert np.array_equal(np.asarray(GRID.apply(portrait)), np.asarray(kept))
    small = _noise(640, 480, seed=2)
    assert np.array_equal(np.asarray(GRID.apply(small)), np.asarray(small.resize((768, 576), Image.Resampling.LANCZOS)))


def test_intrinsics_follow_the_crop_and_the_scale():
    intr = {"fx": 500.0, "fy": 510.0, "cx": 350.0, "cy": 240.0}
    # 700x480 is nearest to 3:2: rows 6..472 kept (467 = round(700 / 1.5)), then 768x512.
    assert paper_crop((700, 480)) == (0, 6, 700, 467)
    k = GRID.intrinsics(intr, (700, 480))
    sx, sy = 768 / 700, 512 / 467
    assert k == pytest.approx(
        {"fx": 500 * sx, "fy": 510 * sy, "cx": (350 + 0.5) * sx - 0.5, "cy": (240 - 6 + 0.5) * sy - 0.5}
    )
    # A pixel of the source lands where the new intrinsics project its ray.
    u, v = 123.0, 400.0
    ray = np.array([(u - intr["cx"]) / intr["fx"], (v - intr["cy"]) / intr["fy"]])
    assert ray[0] * k["fx"] + k["cx"] == pytest.approx((u + 0.5) * sx - 0.5)
    assert ray[1] * k["fy"] + k["cy"] == pytest.approx((v - 6 + 0.5) * sy - 0.5)
    # The default rule only scales.
    assert Sizing(350).intrinsics(intr, (700, 480)) == pytest.approx(
        {"fx": 250.0, "fy": 255.0, "cx": 350.5 * 0.5 - 0.5, "cy": 240.5 * 0.5 - 0.5}
    )


def test_paper_grid_needs_a_long_edge_and_modes_are_checked():
    with pytest.raises(InputError, match="paper_grid.*max_long_edge"):
        load_inputs([{"kind": "video", "path": str(VIDEO)}], None, "paper_grid")
    with pytest.raises(InputError, match="resize must be one of"):
        Sizing(768, "square")
    with pytest.raises(InputError, match="all_frames must be true or false"):
        load_inputs([{"kind": "video", "path": str(VIDEO), "all_frames": "yes"}], 768)


# --------------------------------------------------------------------------------------------------
# Every frame of a video
# --------------------------------------------------------------------------------------------------


def test_every_frame_indices():
    assert every_frame_indices(200) == list(range(200))
    assert every_frame_indices(200, 30.0, 60.0) == list(range(200))  # not faster than max_fps: every frame
    assert every_frame_indices(200, 30.0, 1.0) == [0, 30, 60, 90, 120, 150, 180]
    # round(i * 2.5) rounds half to even, as Python's round does (floor(x + 0.5) would give 3, 8, 13).
    assert every_frame_indices(15, 25.0, 10.0) == [0, 2, 5, 8, 10, 12]
    with pytest.raises(ValueError, match="frame rate"):
        every_frame_indices(10, None, 1.0)


def test_a_video_binds_every_frame_on_the_grid_lazily():
    t0 = time.perf_counter()
    images, meta = _dense()
    elapsed = time.perf_counter() - t0
    assert elapsed < 2.0, f"binding 200 frames took {elapsed:.2f} s"
    source = images._source
    assert source.frames_loaded == 0  # nothing decoded or resized yet
    assert len(images) == 200 and images.frame_indices[:3] == [0, 1, 2] and images.frame_indices[-1] == 199
    assert (meta.num_images, meta.total_frames, meta.fps) == (200, 200, 30.0)
    assert (meta.image_size, meta.original_size, meta.crop) == ((768, 432), (960, 540), None)
    assert images.timestamps[30] == pytest.approx(1.0)

    frame = images[150]
    assert (frame.size, frame.frame_index) == ((768, 432), 150)
    assert source.frames_loaded == 1  # frames passed on the way to 150 are not kept

    # The bound frame is the native frame through the same crop and Lanczos resize.
    native = load_inputs([{"kind": "video", "path": str(VIDEO), "num_frames": 200}])["InputImages"]
    assert np.array_equal(np.asarray(frame), np.asarray(GRID.apply(native[150])))

    rate = _dense(max_fps=1)[0]
    assert rate.frame_indices == [0, 30, 60, 90, 120, 150, 180]


def test_the_cache_of_an_every_frame_video_is_capped(monkeypatch):
    monkeypatch.setattr(video_module, "DENSE_CACHE_FRAMES", 3)
    images, _ = _dense()
    first = np.asarray(images[0]).copy()
    for i in range(10):
        assert images[i].frame_index == i
    source = images._source
    assert len(source._cache) == 3 and sorted(source._cache) == [7, 8, 9]
    assert np.array_equal(np.asarray(images[0]), first)  # decoded again after eviction
    assert source.frames_loaded == 11


def test_image_inputs_are_cropped_to_the_grid(tmp_path):
    _noise(1296, 968).save(tmp_path / "a.png")
    one = load_inputs([{"kind": "images", "path": str(tmp_path / "a.png")}], 768, "paper_grid")
    meta = one["Metadata"]
    assert one["InputImages"][0].size == (768, 576)
    assert (meta.image_size, meta.original_size, meta.crop) == ((768, 576), (1296, 968), (2, 0, 1291, 968))
    assert "centre 1291x968 at x=2, y=0 of 1296x968" in repr(meta)
    _noise(480, 640).save(tmp_path / "b.png")
    both = load_inputs([{"kind": "images", "path": str(tmp_path)}], 768, "paper_grid")
    assert [f.size for f in both["InputImages"]] == [(768, 576), (512, 768)]
    assert both["Metadata"].image_size is None and both["Metadata"].crop is None


def test_rgbd_depth_and_intrinsics_follow_the_grid(tmp_path):
    (tmp_path / "color").mkdir()
    (tmp_path / "depth").mkdir()
    depth = np.tile(np.arange(480, dtype=np.uint16)[:, None], (1, 700)) + 1000  # row r: 1000 + r millimetres
    for i in range(2):
        _noise(700, 480, seed=i).save(tmp_path / "color" / f"{i}.png")
        cv2.imwrite(str(tmp_path / "depth" / f"{i}.png"), depth)
    cam = {"fx": 500.0, "fy": 510.0, "cx": 350.0, "cy": 240.0}
    (tmp_path / "camera.json").write_text(json.dumps(cam))
    spec = {"kind": "rgbd", "path": str(tmp_path / "color"), "depth": str(tmp_path / "depth")}
    out = load_inputs([{**spec, "camera": str(tmp_path / "camera.json")}], 768, "paper_grid")
    images, meta = out["InputImages"], out["Metadata"]
    assert images[0].size == (768, 512) and meta.crop == (0, 6, 700, 467)
    assert meta.intrinsics == pytest.approx(GRID.intrinsics(cam, (700, 480)))
    d = images[1].depth
    assert d.shape == (512, 768)
    # Nearest neighbour over the kept rows 6..472: the first bound row is source row 6, the last row 472.
    assert d[0, 0] == pytest.approx(1.006) and d[-1, 0] == pytest.approx(1.472)

    sample = load_inputs([{"kind": "rgbd_sample", "path": str(ROOM)}], 768, "paper_grid")
    assert sample["InputImages"][0].size == (768, 576)  # 640x480 is 4:3: enlarged, not cropped
    assert sample["InputImages"][0].depth.shape == (576, 768)
    native = load_inputs([{"kind": "rgbd_sample", "path": str(ROOM)}])["Metadata"].intrinsics
    assert sample["Metadata"].intrinsics["fx"] == pytest.approx(native["fx"] * 1.2)
    assert sample["Metadata"].intrinsics["cx"] == pytest.approx((native["cx"] + 0.5) * 1.2 - 0.5)
