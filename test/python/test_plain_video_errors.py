"""Reconstructing a plain RGB video (test/fixtures/video_bedroom, no depth) on a REAL CPU perception server: every
backend's error names the real reason and the real options, and no error sends the user in a circle.

Before this, the answers pointed at each other: da3 (package missing) -> "install on the GPU machine", rgbd
(no depth) -> "use da3", classical (cannot reconstruct) -> "use rgbd". Now the options come from one place
(spatial_common.reconstruct_options): (a) da3 on a GPU machine, (b) da3 on this CPU (slow) with
``--da3-checkpoint``, (c) the ``mono`` backend with ``--mono-checkpoint``.

"No circle" is checked on the answers themselves: every plain recommendation "use backend 'X'" that an error
makes for these frames (one not qualified by "with depth") must name a backend that then reconstructs these very
frames. Without a usable RGB-only backend on the server there must be no such recommendation at all, only setup
steps; with a (tiny, randomly initialised) ``mono`` checkpoint, da3's and classical's errors must recommend mono,
and mono must succeed.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from spatial_common.reconstruct_options import DA3_CPU, DA3_GPU, MONO

perception_helpers = pytest.importorskip("perception_helpers", reason="the perception server package is missing")
from perception_helpers import png_bytes, start_server  # noqa: E402
from spatial_perception.backends.base import has_module  # noqa: E402

VIDEO = Path(__file__).resolve().parents[1] / "fixtures" / "video_bedroom" / "bedroom.mp4"
INDICES = [0, 1, 2]
RECOMMEND = re.compile(r"(?<!with depth )use backend '(\w+)'")
OPTION_MARKERS = {
    "da3 on a GPU": ("NVIDIA GPU", "spatialclaw perception start --backends da3 --da3-checkpoint DIR"),
    "da3 on CPU": ("CPU (slow", "--da3-checkpoint DIR", "ByteDance-Seed/Depth-Anything-3"),
    "mono": ("--mono-checkpoint DIR", "Depth Pro", "Depth-Anything-V2-Metric"),
}


@pytest.fixture(scope="module")
def frames() -> list[np.ndarray]:
    """The first three frames (960x540 RGB) of the bundled real video."""
    cap = cv2.VideoCapture(str(VIDEO))
    out = []
    try:
        for idx in INDICES:
            ok, bgr = cap.read()
            assert ok, f"could not decode frame {idx} of {VIDEO}"
            out.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    finally:
        cap.release()
    return out


def _env(tmp: Path) -> dict[str, str]:
    # no DA3 checkpoint from the user's Hugging Face cache or environment
    return {"HF_HUB_CACHE": str(tmp / "empty-hf-cache"), "SPATIAL_PERCEPTION_DA3_CHECKPOINT": ""}


@pytest.fixture(scope="module")
def bare_server(tmp_path_factory: pytest.TempPathFactory):
    """rgbd, classical, da3 and mono on CPU, as a machine without a GPU, the DA3 package or any checkpoint has."""
    handle = start_server("rgbd,classical,da3,mono", env=_env(tmp_path_factory.mktemp("bare")))
    yield handle
    handle.stop()


def answers(server, frames: list[np.ndarray], backends: list[str]) -> dict[str, tuple[int, dict[str, Any]]]:
    body = {"frames": [png_bytes(f) for f in frames], "frame_indices": INDICES}
    return {name: server.post("/v1/reconstruct", {**body, "backend": name}, timeout=300) for name in backends}


def text(reply: dict[str, Any]) -> str:
    return f"{reply.get('error')} Fix: {reply.get('fix')}"


def assert_options(t: str, which: tuple[str, ...] = tuple(OPTION_MARKERS)) -> None:
    for option in which:
        for marker in OPTION_MARKERS[option]:
            assert marker in t, f"option {option!r} lacks {marker!r}: {t}"


def assert_no_circle(replies: dict[str, tuple[int, dict[str, Any]]]) -> dict[str, set[str]]:
    """Every plain "use backend 'X'" recommendation names a backend that reconstructed these frames."""
    edges = {}
    for name, (status, reply) in replies.items():
        if status == 200:
            continue
        targets = set(RECOMMEND.findall(text(reply)))
        edges[name] = targets
        for target in targets:
            assert target != name, f"{name} recommends itself: {text(reply)}"
            assert target in replies, f"{name} recommends {target!r}, which is not on this server"
            assert replies[target][0] == 200, (
                f"{name} recommends {target!r} for these frames, but {target!r} fails on them too: "
                f"{text(replies[target][1])}"
            )
    return edges


def test_bare_cpu_server_gives_the_real_reasons_and_options(bare_server, frames):
    replies = answers(bare_server, frames, ["da3", "rgbd", "classical", "mono"])

    status, reply = replies["rgbd"]
    assert status == 400 and reply["code"] == "bad_request"
    assert "depth is missing" in reply["error"] and "cannot estimate depth" in reply["error"]
    assert "pass the frames' depth in metres" in reply["fix"]
    assert_options(reply["fix"])

    status, reply = replies["classical"]
    assert status == 422 and reply["code"] == "unsupported"
    assert "GrabCut segmentation only" in reply["error"]
    assert "rgbd (needs measured metric depth" in reply["error"]  # the one backend here that can, and its need
    assert reply["fix"].startswith("with depth use backend 'rgbd'")
    assert_options(reply["fix"])

    status, reply = replies["mono"]  # no checkpoint: its own reason names the flag and the checkpoints
    assert status == 503 and "--mono-checkpoint" in text(reply)

    if has_module("depth_anything_3"):  # not on this project's machines; then da3 fails on its checkpoint instead
        status, reply = replies["da3"]
        assert status == 503 and "--da3-checkpoint" in text(reply)
    else:
        status, reply = replies["da3"]
        assert status == 503 and reply["code"] == "unsupported"
        assert "depth_anything_3" in reply["error"] and "not installed" in reply["error"]
        assert_options(reply["error"])
        assert "rgbd" not in text(reply)  # rgbd cannot help frames without depth

    # no plain recommendation at all: nothing on this server can reconstruct these frames as configured
    assert assert_no_circle(replies) == {name: set() for name in replies}


def test_kernel_reconstruct_passes_the_options_on(bare_server, frames):
    from spatial_runtime import perception
    from spatial_runtime.perception import PerceptionError, ToolError
    from spatial_runtime.tools import Reconstruct

    perception.configure(bare_server.url, bare_server.token)
    try:
        with pytest.raises(ToolError) as exc:  # rgbd refused in the kernel: the frames carry no depth
            Reconstruct.Reconstruct(frames, frame_indices=INDICES, backend="rgbd")
        assert "cannot estimate depth" in str(exc.value)
        assert_options(str(exc.value))
        if not has_module("depth_anything_3"):
            with pytest.raises(PerceptionError) as exc:  # default for frames without depth: da3
                Reconstruct.Reconstruct(frames, frame_indices=INDICES)
            assert "backend 'da3' is not available" in str(exc.value)
            assert_options(str(exc.value))
    finally:
        perception.clear()


def test_the_option_texts_are_the_shared_ones(bare_server, frames):
    """The server's words are spatial_common.reconstruct_options' (one place, no drift)."""
    replies = answers(bare_server, frames, ["rgbd", "classical"])
    for _, reply in replies.values():
        for option in (DA3_GPU, DA3_CPU, MONO):
            assert option in reply["fix"]


def test_with_a_mono_checkpoint_the_errors_recommend_mono_and_it_works(tmp_path_factory, frames):
    mono_tests = pytest.importorskip("test_mono_backend", reason="the mono backend's tests (tiny checkpoint writer)")
    ckpt = tmp_path_factory.mktemp("mono-da-v2-metric")
    mono_tests.write_depth_anything(ckpt)
    handle = start_server(
        "rgbd,classical,da3,mono", ("--mono-checkpoint", str(ckpt)), env=_env(tmp_path_factory.mktemp("mono"))
    )
    from spatial_runtime import perception
    from spatial_runtime.tools import Reconstruct

    try:
        replies = answers(handle, frames, ["da3", "rgbd", "classical", "mono"])
        # The kernel's default for frames without depth: mono, since this server has it and not da3.
        perception.configure(handle.url, handle.token)
        try:
            rec = Reconstruct.Reconstruct(frames, frame_indices=INDICES)
        finally:
            perception.clear()
        assert rec.backend == "mono"  # da3 has no checkpoint here either way
    finally:
        handle.stop()
    assert replies["mono"][0] == 200, text(replies["mono"][1])
    edges = assert_no_circle(replies)
    assert edges["classical"] == {"mono"}
    assert "for frames without depth use backend 'mono'" in replies["classical"][1]["fix"]
    if not has_module("depth_anything_3"):
        assert edges["da3"] == {"mono"}
        assert "available on this server" in replies["da3"][1]["fix"]
