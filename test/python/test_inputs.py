"""Tests for spatial_runtime.inputs on the bundled real data (video, Kinect RGB-D, TUM frame); no mocks.

Damaged inputs are derived from the real files in tmp_path (truncated copies, random bytes, edited JSON/poses,
PyAV remuxes and re-encodes of the real video).
"""

import copy
import json
import pickle
import re
import shutil
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageOps
from spatial_runtime.geometry import pose_from_tum
from spatial_runtime.inputs import (
    DEFAULT_NUM_FRAMES,
    Frame,
    InputError,
    InputImages,
    Metadata,
    load_inputs,
    sample_frame_indices,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
VIDEO = FIXTURES / "video_bedroom" / "bedroom.mp4"
ROOM = FIXTURES / "rgbd_room"
TUM_COLOR = FIXTURES / "tum_rgbd_frame" / "TUM_color.png"

# Uniform rule for 16 of 200 frames: floor(i * 199 / 15 + 1/2), i = 0..15.
UNIFORM_16_OF_200 = [0, 13, 27, 40, 53, 66, 80, 93, 106, 119, 133, 146, 159, 172, 186, 199]


def _video(path=VIDEO, max_long_edge=None, **spec):
    out = load_inputs([{"kind": "video", "path": str(path), **spec}], max_long_edge=max_long_edge)
    return out["InputImages"], out["Metadata"]


def _rgbd_spec(root=ROOM, camera="camera.json", poses="pose.txt"):
    spec = {"kind": "rgbd", "path": str(root / "color"), "depth": str(root / "depth"), "camera": str(root / camera)}
    spec["poses"] = None if poses is None else str(root / poses)
    return spec


def _decode_all(path):
    """Reference: every frame of the video, decoded in one sequential PyAV pass (index = decode order)."""
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


@pytest.fixture(scope="module")
def reference_frames():
    return _decode_all(VIDEO)


def _remux(src, dst, rotation=None, faststart=False):
    """Copy the video packets into a new container (no re-encoding)."""
    with av.open(str(src)) as inp:
        options = {"movflags": "+faststart"} if faststart else {}
        with av.open(str(dst), "w", options=options) as out:
            stream = out.add_stream_from_template(inp.streams.video[0])
            if rotation is not None:
                stream.set_display_rotation(rotation)
            for packet in inp.demux(inp.streams.video[0]):
                if packet.dts is None:
                    continue
                packet.stream = stream
                out.mux(packet)
    return dst


@pytest.fixture(scope="module")
def short_gop_video(tmp_path_factory):
    """The real video re-encoded at 320x180 with a keyframe every 12 frames and B-frames (exercises seeking)."""
    dst = tmp_path_factory.mktemp("gop") / "bedroom_gop12.mp4"
    with av.open(str(VIDEO)) as inp, av.open(str(dst), "w") as out:
        stream = out.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 320, 180, "yuv420p"
        stream.codec_context.gop_size = 12
        stream.codec_context.max_b_frames = 2
        stream.codec_context.options = {"keyint_min": "12", "sc_threshold": "0"}
        for frame in inp.decode(video=0):
            img = frame.to_image().resize((320, 180), Image.Resampling.BILINEAR)
            for packet in stream.encode(av.VideoFrame.from_image(img)):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return dst


# --------------------------------------------------------------------------------------------------
# Video
# --------------------------------------------------------------------------------------------------


def test_video_metadata_from_the_stream():
    images, meta = _video()
    assert isinstance(images, InputImages) and isinstance(meta, Metadata)
    assert meta.kind == "video" and meta.is_video
    assert meta.fps == pytest.approx(30.0)
    assert meta.total_frames == 200
    assert meta.duration_sec == pytest.approx(200 / 30, abs=0.01)
    assert meta.num_images == DEFAULT_NUM_FRAMES == len(images)
    assert meta.source == str(VIDEO) and meta.sources == [str(VIDEO)]
    assert meta.image_size == meta.original_size == (960, 540)
    assert meta.intrinsics is None and meta.K is None and not meta.has_depth and meta.poses is None
    assert not meta.resized


def test_uniform_sampling_keeps_absolute_indices_and_timestamps():
    images, meta = _video(num_frames=16, max_fps=None)
    assert images.frame_indices == meta.frame_indices == UNIFORM_16_OF_200
    assert all(isinstance(i, int) for i in images.frame_indices)
    np.testing.assert_allclose(meta.timestamps, np.array(UNIFORM_16_OF_200) / 30.0, atol=1e-3)
    np.testing.assert_allclose(images.timestamps, meta.timestamps)
    frame = images[4]
    assert frame.frame_index == 53 and frame.timestamp == pytest.approx(53 / 30, abs=1e-3)


def test_sampling_rules():
    assert sample_frame_indices(200, 16) == UNIFORM_16_OF_200
    assert sample_frame_indices(200) == UNIFORM_16_OF_200  # default: 16 frames
    assert sample_frame_indices(10, 16) == list(range(10))  # fewer frames than asked: all of them
    assert sample_frame_indices(200, 1) == [99]  # one frame: the middle one
    assert sample_frame_indices(5, 3) == [0, 2, 4]
    assert sample_frame_indices(7, 2) == [0, 6]
    # Rate rule: every k-th frame, k = ceil(fps / max_fps).
    assert sample_frame_indices(200, None, max_fps=2, fps=30) == list(range(0, 200, 15))
    assert sample_frame_indices(200, None, max_fps=7, fps=30) == list(range(0, 200, 5))  # 6 fps <= 7
    assert sample_frame_indices(100, None, max_fps=1, fps=29.97) == [0, 30, 60, 90]
    assert sample_frame_indices(200, None, max_fps=60, fps=30) == list(range(200))
    # Both: the rate rule while it gives at most num_frames, else the uniform rule with num_frames.
    assert sample_frame_indices(200, 20, max_fps=2, fps=30) == list(range(0, 200, 15))
    capped = sample_frame_indices(200, 8, max_fps=2, fps=30)
    assert capped == [0, 28, 57, 85, 114, 142, 171, 199]
    assert min(np.diff(capped)) >= 15  # still at most 2 fps
    for bad in [dict(total_frames=0), dict(total_frames=5, num_frames=0), dict(total_frames=5, max_fps=2)]:
        with pytest.raises(ValueError):
            sample_frame_indices(**bad)


def test_max_fps_spec():
    images, meta = _video(max_fps=2)
    assert images.frame_indices == list(range(0, 200, 15))
    np.testing.assert_allclose(np.diff(meta.timestamps), 0.5, atol=1e-3)
    images, _ = _video(max_fps=2, num_frames=8)
    assert images.frame_indices == [0, 28, 57, 85, 114, 142, 171, 199]
    images, _ = _video(max_fps=2, num_frames=None)
    assert len(images) == 14


def test_frames_decode_lazily_and_are_cached():
    images, _ = _video(num_frames=16)
    source = images._source
    assert (source.frames_decoded, source.frames_loaded) == (0, 0)  # construction decodes nothing
    repr(images), len(images), images.frame_indices, images[2:5]
    assert (source.frames_decoded, source.frames_loaded) == (0, 0)
    images[0]
    assert (source.frames_decoded, source.frames_loaded) == (1, 1)
    images[0], images[0:1][0]
    assert (source.frames_decoded, source.frames_loaded) == (1, 1)  # cached, shared with slices
    images[1]  # forward: the decoder continues from frame 0 up to frame 13
    assert (source.frames_decoded, source.frames_loaded) == (14, 2)
    images[3]  # frame 40, passing the sampled frame 27 on the way (cached too)
    assert (source.frames_decoded, source.frames_loaded) == (41, 4)
    images[2]
    assert source.frames_decoded == 41
    list(images)
    assert source.frames_loaded == 16 and source.frames_decoded == 200  # in order: one pass over the video


def test_frames_are_pil_images_with_the_right_pixels(reference_frames, tmp_path):
    images, _ = _video()
    frame = images[5]
    assert isinstance(frame, Frame) and isinstance(frame, Image.Image)
    assert frame.size == (960, 540) and frame.mode == "RGB"
    arr = np.asarray(frame)
    assert arr.shape == (540, 960, 3) and arr.dtype == np.uint8
    np.testing.assert_array_equal(arr, reference_frames[66])
    assert frame.convert("L").size == (960, 540)
    assert frame.resize((96, 54)).size == (96, 54)
    assert frame.crop((10, 20, 110, 70)).size == (100, 50)
    frame.save(tmp_path / "f.png")
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "f.png")), arr)
    assert frame.depth is None and frame.pose is None
    assert "Frame 66" in repr(frame) and "t=2.200s" in repr(frame)


def test_random_access_matches_a_sequential_decode(short_gop_video):
    """Backward and forward jumps (seeks to keyframes, B-frame reordering) give exactly the frames of a full pass."""
    reference = _decode_all(short_gop_video)
    images, meta = _video(short_gop_video, num_frames=25)
    assert meta.total_frames == len(reference) == 200
    order = [24, 3, 17, 0, 9, 10, 23, 1, 12]
    for pos in order + list(range(25)):
        frame = images[pos]
        np.testing.assert_array_equal(np.asarray(frame), reference[frame.frame_index], err_msg=f"frame {pos}")
    assert images._source.frames_loaded == 25


def test_in_order_access_decodes_the_video_once(short_gop_video):
    images, _ = _video(short_gop_video, max_fps=30)
    assert len(images) == 200
    for frame in images:
        assert frame.size == (320, 180)
    assert images._source.frames_decoded == 200


def test_slicing_keeps_absolute_indices():
    images, _ = _video()
    part = images[2:5]
    assert isinstance(part, InputImages) and part.frame_indices == [27, 40, 53]
    assert part[1].frame_index == 40 and part[-1].frame_index == 53
    assert part.timestamps == pytest.approx([27 / 30, 40 / 30, 53 / 30], abs=1e-3)
    assert images[::5].frame_indices == [0, 66, 133, 199]
    assert images[::-1].frame_indices == UNIFORM_16_OF_200[::-1]
    assert images[::5][1:].frame_indices == [66, 133, 199]
    assert images[-1].frame_index == 199 and images[-16].frame_index == 0
    assert images[[0, 3, -1]].frame_indices == [0, 40, 199]
    assert images[np.array([1, 2])].frame_indices == [13, 27]
    mask = np.array(UNIFORM_16_OF_200) > 150
    assert images[mask].frame_indices == [159, 172, 186, 199]
    assert [f.frame_index for f in images[13:]] == [172, 186, 199]
    assert images.by_frame_index(93).frame_index == 93
    with pytest.raises(KeyError, match="frame index 94"):
        images.by_frame_index(94)
    with pytest.raises(IndexError, match="out of range for 16 frames"):
        images[16]
    with pytest.raises(IndexError):
        images[-17]
    with pytest.raises(TypeError):
        images["0"]
    assert len(images[20:]) == 0 and repr(images[20:]).startswith("InputImages(0 frames")


def test_reprs_are_informative():
    images, meta = _video()
    assert repr(images) == "InputImages(16 frames, indices 0..199, 960x540, video bedroom.mp4)"
    assert repr(images[3:5]) == "InputImages(2 frames, indices 40..53, 960x540, video bedroom.mp4)"
    text = str(meta)
    for expected in ["video", str(VIDEO), "200 frames", "30 fps", "6.67 s", "960x540", "16 frames", "0, 13, 27"]:
        assert expected in text, (expected, text)
    assert all(len(line) <= 160 for line in text.splitlines())


def test_resize_keeps_the_whole_field_of_view(reference_frames):
    images, meta = _video(max_long_edge=480)
    assert meta.image_size == (480, 270) and meta.original_size == (960, 540) and meta.resized
    assert "resized from 960x540" in str(meta)
    frame = images[7]
    assert frame.size == (480, 270)
    # Downscaled, not cropped: it matches the full reference frame scaled down.
    full = Image.fromarray(reference_frames[frame.frame_index]).resize((480, 270), Image.Resampling.LANCZOS)
    assert np.abs(np.asarray(frame).astype(int) - np.asarray(full).astype(int)).mean() < 1.0
    _, big = _video(max_long_edge=4096)  # never enlarged
    assert big.image_size == (960, 540)


def test_frames_are_copy_on_write():
    images, _ = _video()
    frame = images[0]
    before = np.asarray(frame).copy()
    ImageDraw.Draw(frame).rectangle([0, 0, 200, 200], fill=(255, 0, 0))
    frame.paste((0, 255, 0), (300, 300, 400, 400))
    assert (np.asarray(frame)[:200, :200] == [255, 0, 0]).all()
    np.testing.assert_array_equal(np.asarray(images[0]), before)  # the cache is untouched


def test_frame_copy_and_pickle_keep_the_attributes():
    images, _ = _video()
    frame = images[2]
    for clone in (frame.copy(), copy.copy(frame), copy.deepcopy(frame), pickle.loads(pickle.dumps(frame))):
        assert isinstance(clone, Frame) and clone.frame_index == 27
        assert clone.timestamp == pytest.approx(0.9)
        assert clone == frame


def test_inputs_know_their_metadata_and_frames_their_input():
    """InputImages.metadata is its input's Metadata (slices too); frames and their copies keep their input."""
    out = load_inputs(
        [{"kind": "video", "path": str(VIDEO), "num_frames": 4}, {"kind": "rgbd_sample", "path": str(ROOM)}]
    )
    for k in (1, 2):
        images, meta = out[f"InputImages_{k}"], out[f"Metadata_{k}"]
        assert images.metadata is meta and images[1:3].metadata is meta and images[[0]].metadata is meta
    frames = out["InputImages_2"]
    frame = frames[1]
    assert frame._source is frames._source and frame.copy()._source is frames._source
    assert frame._source.metadata is out["Metadata_2"]
    assert pickle.loads(pickle.dumps(frame))._source is None  # a pickled frame is a plain copy, without its input


def test_video_without_a_frame_count_is_counted_by_demuxing(tmp_path, reference_frames):
    mkv = _remux(VIDEO, tmp_path / "bedroom.mkv")
    with av.open(str(mkv)) as c:
        assert c.streams.video[0].frames == 0  # Matroska stores no frame count
    images, meta = _video(mkv)
    assert meta.total_frames == 200 and meta.fps == pytest.approx(30.0)
    assert images.frame_indices == UNIFORM_16_OF_200
    np.testing.assert_allclose(meta.timestamps, np.array(UNIFORM_16_OF_200) / 30.0, atol=1e-3)
    for pos in (15, 4, 9):
        frame = images[pos]
        np.testing.assert_array_equal(np.asarray(frame), reference_frames[frame.frame_index])


def test_display_rotation_is_applied(tmp_path, reference_frames):
    rotated = _remux(VIDEO, tmp_path / "rotated.mp4", rotation=90)
    images, meta = _video(rotated, max_long_edge=480)
    assert meta.original_size == (540, 960) and meta.image_size == (270, 480)
    images_full, _ = _video(rotated)
    frame = images_full[1]
    assert frame.size == (540, 960)
    expected = Image.fromarray(reference_frames[13]).transpose(Image.Transpose.ROTATE_90)  # 90 deg counter-clockwise
    np.testing.assert_array_equal(np.asarray(frame), np.asarray(expected))
    assert images[1].size == (270, 480)


# --------------------------------------------------------------------------------------------------
# Images
# --------------------------------------------------------------------------------------------------


def test_single_image():
    out = load_inputs([{"kind": "images", "path": str(TUM_COLOR)}])
    images, meta = out["InputImages"], out["Metadata"]
    assert set(out) == {"InputImages", "Metadata"}
    assert len(images) == 1 and images.frame_indices == [0] and images.timestamps is None
    assert not meta.is_video and meta.fps is None and meta.duration_sec is None and meta.timestamps is None
    assert meta.total_frames == meta.num_images == 1
    assert meta.sources == [str(TUM_COLOR)]
    assert images._source.frames_loaded == 0
    frame = images[0]
    with Image.open(TUM_COLOR) as ref:
        assert meta.image_size == frame.size == ref.size
        np.testing.assert_array_equal(np.asarray(frame), np.asarray(ref.convert("RGB")))
    assert frame.frame_index == 0 and frame.timestamp is None and frame.depth is None


def test_image_folder_is_naturally_sorted_and_lazy(tmp_path):
    with Image.open(TUM_COLOR) as tum:
        tum = tum.convert("RGB")
    crops = {name: tum.crop((x, 0, x + 200, 150)) for name, x in (("10.png", 0), ("2.png", 100), ("1.png", 200))}
    for name, img in crops.items():
        img.save(tmp_path / name)
    (tmp_path / "notes.txt").write_text("not an image")
    out = load_inputs({"kind": "images", "path": str(tmp_path)}, max_long_edge=100)
    images, meta = out["InputImages"], out["Metadata"]
    assert [Path(s).name for s in meta.sources] == ["1.png", "2.png", "10.png"]
    assert images.frame_indices == [0, 1, 2] and meta.total_frames == 3
    assert meta.original_size == (200, 150) and meta.image_size == (100, 75)
    assert images._source.frames_loaded == 0
    frame = images[2]
    assert images._source.frames_loaded == 1
    expected = crops["10.png"].resize((100, 75), Image.Resampling.LANCZOS)
    np.testing.assert_array_equal(np.asarray(frame), np.asarray(expected))


def test_relative_paths_survive_a_later_chdir(tmp_path, monkeypatch):
    """Frames decode lazily, so the paths are made absolute at load time (the kernel may chdir afterwards)."""
    monkeypatch.chdir(VIDEO.parent)
    images, meta = _video("bedroom.mp4")
    assert meta.source == str(VIDEO)
    monkeypatch.chdir(tmp_path)
    assert images[1].frame_index == 13


def test_exif_orientation_is_applied(tmp_path):
    with Image.open(TUM_COLOR) as tum:
        exif = Image.Exif()
        exif[0x0112] = 6  # rotate 90 degrees clockwise to display
        tum.convert("RGB").save(tmp_path / "phone.jpg", exif=exif, quality=95)
    out = load_inputs({"kind": "images", "path": str(tmp_path / "phone.jpg")})
    assert out["Metadata"].image_size == (480, 640)
    with Image.open(tmp_path / "phone.jpg") as ref:
        np.testing.assert_array_equal(np.asarray(out["InputImages"][0]), np.asarray(ImageOps.exif_transpose(ref)))


# --------------------------------------------------------------------------------------------------
# RGB-D
# --------------------------------------------------------------------------------------------------


def test_rgbd_folders_with_camera_and_poses():
    out = load_inputs([_rgbd_spec()])
    images, meta = out["InputImages"], out["Metadata"]
    assert meta.kind == "rgbd" and meta.has_depth and images.has_depth
    assert meta.intrinsics == {"fx": 518.0, "fy": 519.0, "cx": 325.5, "cy": 253.5}
    np.testing.assert_array_equal(meta.K, [[518.0, 0, 325.5], [0, 519.0, 253.5], [0, 0, 1]])
    assert meta.image_size == (640, 480) and images.frame_indices == [0, 1, 2, 3, 4]
    assert [Path(s).name for s in meta.sources] == [f"{i}.png" for i in range(1, 6)]
    assert images._source.frames_loaded == 0
    frame = images[2]
    depth = frame.depth
    assert depth.shape == (480, 640) and depth.dtype == np.float32
    raw = cv2.imread(str(ROOM / "depth" / "3.pgm"), cv2.IMREAD_UNCHANGED)
    np.testing.assert_allclose(depth, raw.astype(np.float32) / 1000.0)
    valid = depth > 0
    assert valid.mean() > 0.6 and 1.0 < float(np.median(depth[valid])) < 5.0
    # Poses: camera-to-world, one per frame, from the TUM lines.
    lines = [line.split() for line in (ROOM / "pose.txt").read_text().splitlines() if line.strip()]
    assert meta.poses.shape == (5, 4, 4) and meta.poses.dtype == np.float64
    for T, line in zip(meta.poses, lines, strict=True):
        np.testing.assert_allclose(T, pose_from_tum(*map(float, line)))
    np.testing.assert_allclose(frame.pose, meta.poses[2])
    # Each Frame object owns its depth array.
    frame.depth[:] = 0
    assert images[2].depth.max() > 0


def test_rgbd_resize_scales_intrinsics_and_depth():
    out = load_inputs([_rgbd_spec()], max_long_edge=320)
    images, meta = out["InputImages"], out["Metadata"]
    assert meta.image_size == (320, 240) and meta.original_size == (640, 480)
    # Pixel-centre convention: cx' = (cx + 0.5) * s - 0.5.
    assert meta.intrinsics == {"fx": 518.0 * 0.5, "fy": 519.0 * 0.5, "cx": 326.0 * 0.5 - 0.5, "cy": 254.0 * 0.5 - 0.5}
    frame = images[0]
    assert frame.size == (320, 240) and frame.depth.shape == (240, 320)
    full = cv2.imread(str(ROOM / "depth" / "1.pgm"), cv2.IMREAD_UNCHANGED).astype(np.float32) / 1000.0
    # Nearest neighbour: every resized depth is one of the original depths (no blending across edges).
    assert np.isin(frame.depth, full).all()
    np.testing.assert_allclose(np.median(frame.depth[frame.depth > 0]), np.median(full[full > 0]), rtol=0.02)


def test_depth_scale_comes_from_the_camera_json(tmp_path):
    root = tmp_path / "room"
    shutil.copytree(ROOM, root)
    cam = json.loads((root / "camera.json").read_text())
    cam["depth_scale"] = 5000.0
    (root / "camera.json").write_text(json.dumps(cam))
    a = load_inputs([_rgbd_spec()])["InputImages"][0].depth
    b = load_inputs([_rgbd_spec(root, poses=None)])["InputImages"][0].depth
    np.testing.assert_allclose(b, a / 5.0, rtol=1e-6)


def test_rgbd_sample_folder_matches_the_rgbd_kind():
    both = load_inputs([_rgbd_spec(), {"kind": "rgbd_sample", "path": str(ROOM)}], max_long_edge=320)
    assert set(both) == {"InputImages_1", "Metadata_1", "InputImages_2", "Metadata_2"}
    m1, m2 = both["Metadata_1"], both["Metadata_2"]
    assert m2.kind == "rgbd_sample" and m2.intrinsics == m1.intrinsics and m2.image_size == (320, 240)
    np.testing.assert_allclose(m2.poses, m1.poses)
    assert both["InputImages_2"].frame_indices == [0, 1, 2, 3, 4]
    for pos in (0, 4):
        f1, f2 = both["InputImages_1"][pos], both["InputImages_2"][pos]
        np.testing.assert_array_equal(np.asarray(f1), np.asarray(f2))
        np.testing.assert_array_equal(f1.depth, f2.depth)


def test_multiple_and_empty_spec_lists():
    out = load_inputs([{"kind": "images", "path": str(TUM_COLOR)}, {"kind": "video", "path": str(VIDEO)}])
    assert list(out) == ["InputImages_1", "Metadata_1", "InputImages_2", "Metadata_2"]
    assert not out["Metadata_1"].is_video and out["Metadata_2"].is_video
    assert load_inputs([]) == {}


# --------------------------------------------------------------------------------------------------
# Bad inputs: one InputError naming the file
# --------------------------------------------------------------------------------------------------


def _raises_naming(path, spec, match=None, max_long_edge=None):
    with pytest.raises(InputError) as info:
        load_inputs([spec], max_long_edge=max_long_edge)
    assert str(path) in str(info.value), str(info.value)
    if match:
        assert re.search(match, str(info.value)), str(info.value)
    return info.value


def test_missing_video(tmp_path):
    _raises_naming(tmp_path / "nope.mp4", {"kind": "video", "path": str(tmp_path / "nope.mp4")}, "not found")


def test_random_bytes_are_not_a_video(tmp_path):
    bad = tmp_path / "noise.mp4"
    bad.write_bytes(np.random.default_rng(0).integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    _raises_naming(bad, {"kind": "video", "path": str(bad)}, "could not open this file as a video")


def test_truncated_video(tmp_path):
    bad = tmp_path / "cut.mp4"
    bad.write_bytes(VIDEO.read_bytes()[: VIDEO.stat().st_size * 6 // 10])  # the index (moov) is at the end
    _raises_naming(bad, {"kind": "video", "path": str(bad)}, "could not open")


def test_video_with_zero_decodable_frames(tmp_path):
    """A fast-start MP4 cut right after its header: the index promises 200 frames, the data is gone."""
    whole = _remux(VIDEO, tmp_path / "faststart.mp4", faststart=True).read_bytes()
    bad = tmp_path / "header_only.mp4"
    bad.write_bytes(whole[: whole.index(b"mdat") + 4])
    _raises_naming(bad, {"kind": "video", "path": str(bad)}, "no video frame could be decoded")


def test_video_truncated_mid_stream_fails_on_access(tmp_path):
    whole = _remux(VIDEO, tmp_path / "faststart.mp4", faststart=True).read_bytes()
    bad = tmp_path / "half.mp4"
    bad.write_bytes(whole[: len(whole) // 2])
    images, meta = _video(bad)
    assert meta.total_frames == 200  # the header still says so
    assert images[0].frame_index == 0
    with pytest.raises(InputError, match=re.escape(str(bad))):
        images[-1]


def test_missing_image_and_folder_without_images(tmp_path):
    _raises_naming(tmp_path / "none.png", {"kind": "images", "path": str(tmp_path / "none.png")}, "not found")
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("no pictures here")
    _raises_naming(empty, {"kind": "images", "path": str(empty)}, "no images in this folder")


def test_unreadable_image_in_a_folder(tmp_path):
    shutil.copy(TUM_COLOR, tmp_path / "a.png")
    (tmp_path / "b.png").write_bytes(b"\x89PNG but not really a picture")
    _raises_naming(tmp_path / "b.png", {"kind": "images", "path": str(tmp_path)}, "Pillow could not read")


def test_truncated_image_fails_on_access(tmp_path):
    bad = tmp_path / "cut.png"
    bad.write_bytes(TUM_COLOR.read_bytes()[:20_000])  # header intact, pixel data cut
    images = load_inputs([{"kind": "images", "path": str(bad)}])["InputImages"]
    with pytest.raises(InputError, match=re.escape(str(bad)) + ".*could not decode"):
        images[0]


@pytest.fixture
def room_copy(tmp_path):
    dst = tmp_path / "room"
    shutil.copytree(ROOM, dst)
    return dst


def test_depth_colour_count_mismatch(room_copy):
    (room_copy / "depth" / "5.pgm").unlink()
    _raises_naming(room_copy / "depth", _rgbd_spec(room_copy), "4 depth images for 5 colour images")


def test_depth_colour_size_mismatch(room_copy):
    path = room_copy / "depth" / "2.pgm"
    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    cv2.imwrite(str(path), cv2.resize(raw, (320, 240), interpolation=cv2.INTER_NEAREST))
    _raises_naming(path, _rgbd_spec(room_copy), "depth is 320x240 but colour 2.png is 640x480")


def test_camera_json_missing_fx(room_copy):
    cam = json.loads((room_copy / "camera.json").read_text())
    del cam["fx"]
    (room_copy / "camera.json").write_text(json.dumps(cam))
    _raises_naming(room_copy / "camera.json", _rgbd_spec(room_copy), "missing fx")


def test_camera_json_malformed(room_copy):
    (room_copy / "camera.json").write_text('{"fx": 518, "fy": 519,')
    _raises_naming(room_copy / "camera.json", _rgbd_spec(room_copy), "not valid JSON")
    (room_copy / "camera.json").write_text('{"fx": "518", "fy": 519, "cx": 325.5, "cy": 253.5}')
    _raises_naming(room_copy / "camera.json", _rgbd_spec(room_copy), "fx must be numbers")
    (room_copy / "camera.json").write_text('{"fx": 518, "fy": 519, "cx": 325.5, "cy": 253.5, "width": 320}')
    _raises_naming(room_copy / "camera.json", _rgbd_spec(room_copy), "width is 320 but the colour images are 640x480")


def test_poses_with_six_numbers(room_copy):
    lines = (room_copy / "pose.txt").read_text().splitlines()
    lines[2] = " ".join(lines[2].split()[:6])
    (room_copy / "pose.txt").write_text("\n".join(lines) + "\n")
    _raises_naming(room_copy / "pose.txt", _rgbd_spec(room_copy), r"pose\.txt:3: expected 7 numbers .* got 6")


def test_poses_count_mismatch(room_copy):
    lines = (room_copy / "pose.txt").read_text().splitlines()
    (room_copy / "pose.txt").write_text("\n".join(lines[:4]) + "\n")
    _raises_naming(room_copy / "pose.txt", _rgbd_spec(room_copy), "4 poses for 5 frames")


def test_poses_with_timestamps_are_accepted(room_copy):
    lines = [line for line in (room_copy / "pose.txt").read_text().splitlines() if line.strip()]
    (room_copy / "pose.txt").write_text(
        "# t tx ty tz qx qy qz qw\n" + "\n".join(f"{i}.5 {s}" for i, s in enumerate(lines))
    )
    with_t = load_inputs([_rgbd_spec(room_copy)])["Metadata"].poses
    np.testing.assert_allclose(with_t, load_inputs([_rgbd_spec()])["Metadata"].poses)


def test_broken_rgbd_sample(room_copy):
    (room_copy / "color" / "2.png").write_bytes(b"not a png")
    _raises_naming(room_copy / "color" / "2.png", {"kind": "rgbd_sample", "path": str(room_copy)}, "could not decode")
    _raises_naming(room_copy / "color", {"kind": "rgbd_sample", "path": str(room_copy / "color")}, "sample.json")


def test_malformed_specs(tmp_path):
    for spec, match in [
        ({"kind": "pointcloud", "path": str(VIDEO)}, "unknown kind 'pointcloud'"),
        ({"kind": "video"}, "needs 'path'"),
        ({"kind": "video", "path": str(VIDEO), "num_frames": 0}, "num_frames must be a positive integer"),
        ({"kind": "video", "path": str(VIDEO), "max_fps": -1}, "max_fps must be a positive number"),
        ({"kind": "rgbd", "path": str(ROOM / "color"), "camera": str(ROOM / "camera.json")}, "needs 'depth'"),
    ]:
        with pytest.raises(InputError, match=match):
            load_inputs([spec])
    with pytest.raises(InputError, match="max_long_edge"):
        load_inputs([{"kind": "video", "path": str(VIDEO)}], max_long_edge=0)


def test_more_frames_than_the_video_has_are_noted():
    # 10,000 frames asked of a 200-frame video: all 200 are bound, and the metadata (so prepare()'s summary) says so.
    images, meta = _video(num_frames=10_000)
    assert len(images) == meta.num_images == 200
    assert meta.notes == ["asked for 10000 frames, but the video has only 200: all 200 are bound"]
    assert "\n  note: asked for 10000 frames, but the video has only 200: all 200 are bound\n" in repr(meta)
    # A rate that gives fewer frames than asked is noted too; as many as asked, nothing.
    _, rate = _video(num_frames=100, max_fps=2)
    assert rate.num_images == 14
    assert rate.notes == [
        "asked for 100 frames at most 2 per second, but that rate gives 14 of the video's 200: 14 are bound"
    ]
    for spec in [dict(num_frames=16), dict(num_frames=200), dict(), dict(max_fps=2)]:
        _, meta = _video(**spec)
        assert meta.notes == [] and "note:" not in repr(meta), spec
