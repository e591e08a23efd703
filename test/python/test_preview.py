"""spatial_runtime.preview against the bundled real video and RGB-D sample, in process and as a subprocess."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image
from spatial_runtime.inputs import InputError, load_inputs
from spatial_runtime.preview import PreviewCache, frame_jpeg, preview_inputs

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
VIDEO = FIXTURES / "video_bedroom" / "bedroom.mp4"
ROOM = FIXTURES / "rgbd_room"


def _jpeg(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    assert img.format == "JPEG"
    img.load()
    return img


def test_preview_reports_the_indices_the_kernel_binds() -> None:
    spec = {"kind": "video", "path": str(VIDEO), "num_frames": 8}
    p = preview_inputs([spec])["inputs"][0]
    meta = load_inputs([spec])["Metadata"]
    assert p["frame_indices"] == meta.frame_indices
    assert p["frame_indices"][0] == 0 and p["frame_indices"][-1] == p["total_frames"] - 1
    assert p["total_frames"] == meta.total_frames and p["fps"] == pytest.approx(meta.fps)
    assert (p["width"], p["height"]) == meta.original_size
    assert p["has_depth"] is False and p["has_poses"] is False


def test_preview_of_an_rgbd_sample() -> None:
    p = preview_inputs([{"kind": "rgbd_sample", "path": str(ROOM)}])["inputs"][0]
    assert p == {
        "kind": "rgbd_sample",
        "path": str(ROOM),
        "total_frames": 5,
        "width": 640,
        "height": 480,
        "fps": None,
        "frame_indices": [0, 1, 2, 3, 4],
        "has_depth": True,
        "has_poses": True,
    }


def test_frame_jpeg_bound_and_unbound_video_frames() -> None:
    cache = PreviewCache()
    spec = {"kind": "video", "path": str(VIDEO), "num_frames": 4}
    bound = _jpeg(frame_jpeg(spec, 0, 200, cache))
    assert max(bound.size) == 200 and bound.size[0] > bound.size[1]  # 960x540 source, aspect kept
    # A frame the sample does not bind (indices 0, 66, 133, 199) is decoded on its own.
    other = _jpeg(frame_jpeg(spec, 10, 200, cache))
    assert other.size == bound.size
    # The same input and size is loaded once.
    frame_jpeg(spec, 199, 200, cache)
    assert cache.loads == 1


def test_frame_jpeg_matches_the_kernels_pixels() -> None:
    spec = {"kind": "rgbd_sample", "path": str(ROOM)}
    img = _jpeg(frame_jpeg(spec, 3, 640))
    ref = load_inputs([spec])["InputImages"].by_frame_index(3)
    assert img.size == ref.size
    a = list(img.convert("L").resize((16, 12)).tobytes())
    b = list(ref.convert("L").resize((16, 12)).tobytes())
    assert sum(abs(x - y) for x, y in zip(a, b, strict=True)) / len(a) < 6  # JPEG loss only


def test_errors_name_the_problem() -> None:
    with pytest.raises(InputError, match="no frame 7; frame indices of this input: 0, 1, 2, 3, 4"):
        frame_jpeg({"kind": "rgbd_sample", "path": str(ROOM)}, 7, 100)
    with pytest.raises(InputError, match=r"no frame 500; frame indices of this input: 0\.\.199"):
        frame_jpeg({"kind": "video", "path": str(VIDEO)}, 500, 100)
    with pytest.raises(InputError, match="not found"):
        preview_inputs([{"kind": "video", "path": "/nonexistent/video.mp4"}])


def test_protocol_over_a_subprocess(tmp_path: Path) -> None:
    reqs = [
        {"id": 1, "op": "preview", "inputs": [{"kind": "rgbd_sample", "path": str(ROOM)}]},
        {"id": 2, "op": "frame", "input": {"kind": "rgbd_sample", "path": str(ROOM)}, "frame_index": 2, "max_edge": 64},
        {"id": 3, "op": "frame", "input": {"kind": "video", "path": str(tmp_path / "missing.mp4")}, "frame_index": 0},
        {"id": 4, "op": "nope"},
    ]
    stdin = "".join(json.dumps(r) + "\n" for r in reqs)
    proc = subprocess.run(
        [sys.executable, "-m", "spatial_runtime.preview"], input=stdin.encode(), capture_output=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr.decode()
    buf = io.BytesIO(proc.stdout)
    answers = []
    for _ in reqs:
        header = json.loads(buf.readline())
        payload = buf.read(header["bytes"])
        answers.append((header, payload))
    assert buf.read() == b""
    assert answers[0][0]["ok"] and answers[0][0]["result"]["inputs"][0]["total_frames"] == 5
    assert answers[1][0]["ok"] and max(_jpeg(answers[1][1]).size) == 64
    assert not answers[2][0]["ok"] and "missing.mp4" in answers[2][0]["error"]
    assert not answers[3][0]["ok"] and "unknown op" in answers[3][0]["error"]
