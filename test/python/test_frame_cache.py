"""The persistent video frame cache (spatial_runtime.inputs.frame_cache) on the bundled real video, in tmp_path.

A second bind of the same video, selection and size must decode nothing (PyAV's ``av.open`` is made to fail) and
give the same pixels, absolute indices, fps, duration and timestamps as a fresh decode.
"""

import hashlib
import json
import multiprocessing
import os
import shutil
from pathlib import Path

import av
import numpy as np
import pytest
from spatial_runtime.inputs import Sizing, frame_cache, load_inputs
from spatial_runtime.inputs.frame_cache import FrameCache
from spatial_runtime.inputs.video import video_input

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
VIDEO = FIXTURES / "video_bedroom" / "bedroom.mp4"  # 960x540, 30 fps, 200 frames


@pytest.fixture
def cache(tmp_path):
    """A frame cache in tmp_path, active for the test (the environment's setting is restored after)."""
    fc = FrameCache(tmp_path / "frame-cache")
    previous = frame_cache.set_active(fc)
    yield fc
    frame_cache.set_active(previous)


@pytest.fixture
def no_pyav(monkeypatch):
    """Opening any file with PyAV fails: what is bound and read must come from the cache."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"PyAV opened {args[:1]} although the frame cache holds the video")

    monkeypatch.setattr(av, "open", refuse)


def _bind(path=VIDEO, max_long_edge=None, resize="long_edge", **spec):
    out = load_inputs([{"kind": "video", "path": str(path), **spec}], max_long_edge, resize)
    return out["InputImages"], out["Metadata"]


def _pixels(images):
    return [np.asarray(frame) for frame in images]


def _facts(images, meta):
    return (images.frame_indices, images.timestamps, meta.fps, meta.duration_sec, meta.total_frames, repr(meta))


@pytest.mark.parametrize(
    ("max_long_edge", "resize", "spec"),
    [
        (None, "long_edge", {"num_frames": 16}),
        (480, "long_edge", {"max_fps": 2}),
        (768, "paper_grid", {"all_frames": True, "max_fps": 2}),
    ],
)
def test_a_second_bind_decodes_nothing_and_matches_a_fresh_decode(cache, monkeypatch, max_long_edge, resize, spec):
    frame_cache.set_active(None)
    fresh_images, fresh_meta = _bind(max_long_edge=max_long_edge, resize=resize, **spec)
    fresh = _pixels(fresh_images)
    frame_cache.set_active(cache)

    first_images, first_meta = _bind(max_long_edge=max_long_edge, resize=resize, **spec)
    first = _pixels(first_images)
    source = first_images._source
    assert source.frames_decoded > 0 and source.frames_from_cache == 0
    assert source.cache_entry.frames_written == len(first_images)
    entry = source.cache_entry.dir
    assert sorted(p.name for p in entry.glob("*.png")) == [f"{i:06d}.png" for i in first_images.frame_indices]

    def refuse(*args, **kwargs):
        raise AssertionError("PyAV was used although the frame cache holds the video")

    monkeypatch.setattr(av, "open", refuse)
    images, meta = _bind(max_long_edge=max_long_edge, resize=resize, **spec)
    assert images._source.cache_entry.dir == entry
    warm = _pixels(images)
    assert images._source.frames_decoded == 0
    assert images._source.frames_from_cache == len(images) == len(fresh)
    assert _facts(images, meta) == _facts(first_images, first_meta) == _facts(fresh_images, fresh_meta)
    assert meta.image_size == fresh_meta.image_size and meta.crop == fresh_meta.crop
    for a, b, c in zip(fresh, first, warm, strict=True):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)
    recorded = json.loads((entry / "meta.json").read_text())
    assert recorded["indices"] == meta.frame_indices and recorded["native_fps"] == meta.fps == 30.0
    assert recorded["duration_s"] == meta.duration_sec and recorded["frame_count"] == 200
    assert (recorded["width"], recorded["height"]) == meta.image_size
    assert recorded["video"] == str(VIDEO.resolve()) and recorded["size_bytes"] == VIDEO.stat().st_size


def test_a_partly_filled_entry_is_completed_by_the_next_kernel(cache, monkeypatch):
    images, _ = _bind(max_long_edge=320, num_frames=16)
    images[3]  # decodes frames 0..40, keeping the bound frames passed on the way: positions 0..3
    assert images._source.cache_entry.frames_written == 4

    images, _ = _bind(max_long_edge=320, num_frames=16)
    order = [2, 0, 15, 5, 9, 14, 1]  # cached and missing frames, forwards and backwards
    pixels = {pos: np.asarray(images[pos]) for pos in order + list(range(16))}
    source = images._source
    assert source.frames_from_cache == 2 and source.frames_decoded > 0
    assert source.cache_entry.frames_written == 12  # only the missing ones

    frame_cache.set_active(None)
    fresh, _ = _bind(max_long_edge=320, num_frames=16)
    for pos, arr in pixels.items():
        np.testing.assert_array_equal(arr, np.asarray(fresh[pos]), err_msg=f"position {pos}")

    frame_cache.set_active(cache)
    monkeypatch.setattr(av, "open", lambda *a, **k: pytest.fail("PyAV used"))
    images, _ = _bind(max_long_edge=320, num_frames=16)
    _pixels(images)
    assert images._source.frames_from_cache == 16


def test_selection_and_size_key_the_entries(cache):
    dirs = set()
    for max_long_edge, resize, spec in [
        (320, "long_edge", {"num_frames": 4}),
        (320, "long_edge", {"num_frames": 5}),
        (256, "long_edge", {"num_frames": 4}),
        (None, "long_edge", {"num_frames": 4}),
        (320, "paper_grid", {"num_frames": 4}),
        (320, "long_edge", {"max_fps": 2}),
        (320, "long_edge", {"max_fps": 2, "all_frames": True}),
    ]:
        images, _ = _bind(max_long_edge=max_long_edge, resize=resize, **spec)
        images[0]
        dirs.add(images._source.cache_entry.dir)
    assert len(dirs) == 7 == len([p for p in cache.root.iterdir() if (p / "meta.json").is_file()])

    # The same rule written differently is the same entry: the default 16 frames, num_frames ignored by all_frames.
    default, _ = _bind(max_long_edge=320)
    explicit, _ = _bind(max_long_edge=320, num_frames=16)
    assert default._source.cache_entry.key == explicit._source.cache_entry.key
    every, _ = _bind(max_long_edge=320, max_fps=2, all_frames=True, num_frames=3)
    assert every._source.cache_entry.dir in dirs


def test_changing_the_video_invalidates_its_entry(cache, tmp_path):
    video = tmp_path / "v.mp4"
    shutil.copyfile(VIDEO, video)
    images, _ = _bind(video, max_long_edge=320, num_frames=4)
    _pixels(images)
    old_key = images._source.cache_entry.key

    again, _ = _bind(video, max_long_edge=320, num_frames=4)
    _pixels(again)
    assert again._source.cache_entry.key == old_key and again._source.frames_decoded == 0

    st = video.stat()
    os.utime(video, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))  # "touched"
    touched, _ = _bind(video, max_long_edge=320, num_frames=4)
    _pixels(touched)
    assert touched._source.cache_entry.key != old_key
    assert touched._source.frames_decoded > 0 and touched._source.frames_from_cache == 0


def test_truncated_frames_and_a_corrupt_meta_json_are_rewritten(cache, monkeypatch):
    images, _ = _bind(max_long_edge=320, num_frames=6)
    reference = _pixels(images)
    entry = images._source.cache_entry
    idx = images.frame_indices
    good = entry.frame_path(idx[1]).read_bytes()
    entry.frame_path(idx[1]).write_bytes(good[: len(good) // 2])  # truncated
    entry.frame_path(idx[3]).write_bytes(b"not a png")
    entry.frame_path(idx[4]).unlink()

    images, _ = _bind(max_long_edge=320, num_frames=6)
    for a, b in zip(_pixels(images), reference, strict=True):
        np.testing.assert_array_equal(a, b)
    assert images._source.frames_from_cache == 3 and images._source.cache_entry.frames_written == 3
    assert entry.frame_path(idx[1]).read_bytes() == good  # rewritten: the same bytes as the first write

    for bad in [b'{"key": ', b"[1, 2]", None]:
        recorded = json.loads(entry.meta_path.read_text())
        if bad is None:  # parses, but a field is unusable
            recorded["indices"] = recorded["indices"][:-1]
            bad = json.dumps(recorded).encode()
        entry.meta_path.write_bytes(bad)
        images, meta = _bind(max_long_edge=320, num_frames=6)
        assert meta.frame_indices == idx
        for a, b in zip(_pixels(images), reference, strict=True):
            np.testing.assert_array_equal(a, b)
        assert images._source.frames_from_cache == 6  # the PNGs were still good
        assert json.loads(entry.meta_path.read_text())["indices"] == idx  # meta.json rewritten

    monkeypatch.setattr(av, "open", lambda *a, **k: pytest.fail("PyAV used"))
    images, _ = _bind(max_long_edge=320, num_frames=6)
    _pixels(images)


def test_cache_errors_never_reach_the_kernel(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("the cache root cannot be created under a file")
    previous = frame_cache.set_active(FrameCache(blocker / "cache"))
    try:
        images, meta = _bind(max_long_edge=320, num_frames=3)
        assert len(_pixels(images)) == 3 and meta.fps == 30.0
        assert images._source.cache_entry.writable is False
    finally:
        frame_cache.set_active(previous)


def _fill(root, barrier, queue):
    """Child process: bind the video through the cache at ``root`` and report a digest of its pixels."""
    frame_cache.set_active(FrameCache(root))
    barrier.wait(timeout=60)
    images, meta = video_input({"kind": "video", "path": str(VIDEO), "num_frames": 12}, Sizing(320))
    digest = hashlib.sha256(b"".join(np.asarray(f).tobytes() for f in images)).hexdigest()
    queue.put((digest, meta.frame_indices, images._source.frames_decoded))


def test_two_processes_fill_the_same_entry_at_once(cache, monkeypatch):
    ctx = multiprocessing.get_context("spawn")
    barrier, queue = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_fill, args=(str(cache.root), barrier, queue)) for _ in range(2)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert results[0][:2] == results[1][:2]

    entries = [p for p in cache.root.iterdir() if not p.name.startswith(".")]
    assert len(entries) == 1 and not [p for p in entries[0].iterdir() if p.name.endswith(".tmp")]
    monkeypatch.setattr(av, "open", lambda *a, **k: pytest.fail("PyAV used"))
    images, meta = video_input({"kind": "video", "path": str(VIDEO), "num_frames": 12}, Sizing(320))
    digest = hashlib.sha256(b"".join(np.asarray(f).tobytes() for f in images)).hexdigest()
    assert (digest, meta.frame_indices) == results[0][:2]
    assert images._source.frames_from_cache == 12


def test_the_size_bound_evicts_the_least_recently_used_entries(cache):
    (cache.root / "notes").mkdir(parents=True)  # not an entry: never removed
    (cache.root / "notes" / "keep.txt").write_text("x" * 100_000)

    def fill(num_frames):
        images, _ = _bind(max_long_edge=160, num_frames=num_frames)
        _pixels(images)
        return images._source.cache_entry

    a, b = fill(2), fill(3)
    sizes = {key: size for _, key, size in cache.entries()}
    assert set(sizes) == {a.key, b.key}
    os.utime(a.meta_path, ns=(1, 1_000_000_000))  # A used long ago, B more recently ...
    os.utime(b.meta_path, ns=(1, 2_000_000_000))
    fill(2)  # ... then A again: a hit touches its meta.json
    assert [key for _, key, _ in cache.entries()] == [b.key, a.key]

    reserve = 4 * 160 * 90  # the new entry's estimate: 1 byte per bound pixel
    bounded = FrameCache(cache.root, max_mb=(sizes[a.key] + sizes[b.key] + reserve - 1) / 2**20)
    frame_cache.set_active(bounded)
    c = fill(4)
    assert not b.dir.exists() and a.dir.exists() and c.dir.exists()  # B, the least recently used, went
    assert (cache.root / "notes" / "keep.txt").exists()
    assert [key for _, key, _ in bounded.entries()] == [a.key, c.key]
    assert not [p for p in cache.root.iterdir() if p.name.startswith(".")]

    # A kernel that had bound an evicted entry decodes and writes its frames again.
    images, _ = _bind(max_long_edge=160, num_frames=2)
    os.utime(images._source.cache_entry.meta_path, ns=(1, 1))
    shutil.rmtree(cache.root / a.key)
    assert len(_pixels(images)) == 2 and images._source.frames_decoded > 0
    assert a.frame_path(images.frame_indices[0]).exists()


def test_the_environment_configures_the_cache(tmp_path):
    assert frame_cache.from_env({}) is None
    assert frame_cache.from_env({"SPATIALCLAW_FRAME_CACHE": "  "}) is None
    fc = frame_cache.from_env({"SPATIALCLAW_FRAME_CACHE": str(tmp_path / "c")})
    assert fc.root == (tmp_path / "c").resolve() and fc.max_bytes == 4096 * 2**20
    fc = frame_cache.from_env({"SPATIALCLAW_FRAME_CACHE": str(tmp_path), "SPATIALCLAW_FRAME_CACHE_MAX_MB": "1.5"})
    assert fc.max_bytes == int(1.5 * 2**20)


def _remux(dst, rotation=None):
    """The real video's packets in a new container (no re-encoding), optionally with a display rotation."""
    with av.open(str(VIDEO)) as inp, av.open(str(dst), "w") as out:
        stream = out.add_stream_from_template(inp.streams.video[0])
        if rotation is not None:
            stream.set_display_rotation(rotation)
        for packet in inp.demux(inp.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                out.mux(packet)
    return dst


@pytest.mark.parametrize(("name", "rotation"), [("rotated.mp4", 90), ("counted.mkv", None)])
def test_rotation_and_demux_counted_frames_come_back_from_the_cache(cache, tmp_path, monkeypatch, name, rotation):
    """The display rotation, and the packet times of a container without a frame count, are kept in meta.json."""
    video = _remux(tmp_path / name, rotation)
    frame_cache.set_active(None)
    fresh_images, fresh_meta = _bind(video, max_long_edge=320, num_frames=5)
    fresh = _pixels(fresh_images)
    frame_cache.set_active(cache)
    _pixels(_bind(video, max_long_edge=320, num_frames=5)[0])

    monkeypatch.setattr(av, "open", lambda *a, **k: pytest.fail("PyAV used"))
    images, meta = _bind(video, max_long_edge=320, num_frames=5)
    for a, b in zip(_pixels(images), fresh, strict=True):
        np.testing.assert_array_equal(a, b)
    assert _facts(images, meta) == _facts(fresh_images, fresh_meta)
    recorded = json.loads(images._source.cache_entry.meta_path.read_text())
    if rotation is not None:
        assert meta.original_size == (540, 960) and recorded["rotation"] != 0
    else:
        assert recorded["pts_list"] is not None and len(recorded["pts_list"]) == 200
