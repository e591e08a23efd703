"""The paper profile's kernel tools: ``vlm.locate`` / ``vlm.ask_with_thinking`` (docs/paper-parity.md row 13), the
median ``get_centroid_3d`` and the other PerFrameMask semantics (row 15), ``tools.Geometry.normalized_to_pixel``,
and the profile-aware tool reference (``python -m spatial_runtime.apidoc --profile``).
"""

from __future__ import annotations

import base64
import io
import subprocess
import sys

import numpy as np
import pytest
from bridge_helpers import fake_bridge
from PIL import Image
from spatial_runtime import apidoc, context, vlm, vlm_paper
from spatial_runtime.tools import geometry
from spatial_runtime.tools.reconstruct import Reconstruction
from spatial_runtime.tools.sam3 import PerFrameMask
from spatial_runtime.tools.sam3.paper_masks import PaperPerFrameMask


def _answer(path, body):
    if body["question"].endswith("fail"):
        return 502, {"error": "the model call failed: HTTP 400 bad request"}
    return 200, {"text": f"{len(body['images'])} images"}


@pytest.fixture
def bridge():
    with fake_bridge(_answer) as server:
        vlm.configure(server.url, "tok")
        try:
            yield server
        finally:
            vlm.clear()


@pytest.fixture
def paper_profile():
    context.update(profile=context.KernelProfile.named("paper"))
    yield
    context.clear()


def _frames(n, size=(64, 48)):
    return [Image.new("RGB", size, (i, 0, 0)) for i in range(n)]


# --------------------------------------------------------------------------------------------------
# vlm (row 13)
# --------------------------------------------------------------------------------------------------


def test_locate_caps_at_8_images_and_asks_for_presence_first(bridge, capsys):
    r = vlm_paper.vlm.locate(_frames(10), "the bed")
    assert type(r) is str and r == "8 images"
    route, _, body = bridge.requests[-1]
    assert route == "/vlm/paper/locate" and len(body["images"]) == 8
    assert body["question"].endswith("Request: the bed") and "`Not visible`" in body["question"]
    out = capsys.readouterr().out
    assert "only the first 8 images were sent; the other 2 were dropped" in out
    assert f"[vlm.locate] question: {body['question']}" in out and "[vlm.locate] answer: 8 images" in out


def test_ask_with_thinking_caps_at_64_and_sends_the_question_as_is(bridge):
    assert vlm_paper.vlm.ask_with_thinking(_frames(70), "Is the door open?") == "64 images"
    route, _, body = bridge.requests[-1]
    assert route == "/vlm/paper/ask_with_thinking" and body["question"] == "Is the door open?"
    assert vlm_paper.vlm.ask_with_thinking(_frames(1)[0], "one") == "1 images"  # a single image


def test_errors_come_back_as_text(bridge):
    r = vlm_paper.vlm.locate(_frames(1), "fail")
    assert r == "[VLM Error] the model call failed: HTTP 400 bad request"
    vlm.clear()
    assert vlm_paper.vlm.ask_with_thinking(_frames(1), "q").startswith("[VLM Error] vlm is not available")


def test_bad_images_raise_before_any_call(bridge):
    with pytest.raises(TypeError, match="cannot send an object of type str"):
        vlm_paper.vlm.locate("frame.png", "x")
    with pytest.raises(TypeError, match="type ndarray.*uint8 array"):
        vlm_paper.vlm.ask_with_thinking([np.zeros((4, 4))], "x")
    with pytest.raises(TypeError, match="question must be a str"):
        vlm_paper.vlm.locate(_frames(1), 3)
    assert bridge.requests == []


def test_images_are_sent_with_a_long_edge_of_at_most_1024(bridge):
    vlm_paper.vlm.ask_with_thinking([Image.new("RGB", (2000, 999)), np.zeros((10, 20, 3), np.uint8)], "q")
    sizes = [Image.open(io.BytesIO(base64.b64decode(b))).size for b in bridge.requests[-1][2]["images"]]
    assert sizes == [(1024, 511), (20, 10)]  # int(999 * 1024 / 2000) = 511


# --------------------------------------------------------------------------------------------------
# PerFrameMask (row 15)
# --------------------------------------------------------------------------------------------------


def _recon(points, confidence):
    p = np.asarray(points, dtype=np.float32).reshape(1, 2, 2, 3)
    c = np.asarray(confidence, dtype=np.float32).reshape(1, 2, 2)
    return Reconstruction([7], p[..., 2], c, p, np.eye(4)[None], np.eye(3))


POINTS = [[0, 0, 0], [1, 0, 0], [2, 0, 0], [100, 0, 0]]


def test_the_paper_centroid_is_the_median_of_the_confident_points(paper_profile):
    seg = PerFrameMask(np.ones((1, 1, 2, 2), bool), [7], ["bed"])
    assert isinstance(seg, PaperPerFrameMask)
    assert seg.get_centroid_3d(_recon(POINTS, [0.9, 0.9, 0.9, 0.1]), 7).tolist() == [1.0, 0.0, 0.0]
    assert seg.get_centroid_3d(_recon(POINTS, [0.1] * 4), 7).tolist() == [1.5, 0.0, 0.0]  # none passes: all
    # strictly above the threshold
    assert seg.get_centroid_3d(_recon(POINTS, [0.9, 0.9, 0.9, 0.5]), 7, conf_threshold=0.5).tolist() == [1, 0, 0]
    nan_first = [[np.nan, 0, 0], [1, 0, 0], [2, 0, 0], [100, 0, 0]]
    assert seg.get_centroid_3d(_recon(nan_first, [0.9, 0.9, 0.9, 0.1]), 7, "bed").tolist() == [1.5, 0.0, 0.0]


def test_the_paper_centroid_of_an_empty_mask_is_nan(paper_profile, capsys):
    seg = PerFrameMask(np.zeros((1, 1, 2, 2), bool), [7], ["bed"])
    c = seg.get_centroid_3d(_recon(POINTS, [0.9] * 4), 7)
    assert c.shape == (3,) and np.isnan(c).all()
    assert "no 3-D point under the mask of 'bed' in frame 7" in capsys.readouterr().out


def test_the_default_centroid_is_unchanged():
    seg = PerFrameMask(np.ones((1, 1, 2, 2), bool), [7])
    assert type(seg) is PerFrameMask
    assert seg.get_centroid_3d(_recon(POINTS, [0.9, 0.9, 0.9, 0.1]), 7, 0).tolist() == [25.75, 0.0, 0.0]
    with pytest.raises(ValueError, match="no 3-D points"):
        PerFrameMask(np.zeros((1, 1, 2, 2), bool), [7]).get_centroid_3d(_recon(POINTS, [0.9] * 4), 7, 0)
    with pytest.raises(TypeError):
        seg.get_mask(7)  # object is required


def test_other_paper_mask_semantics(paper_profile):
    masks = np.zeros((2, 2, 2, 2), bool)
    masks[1, 1, 0, 0] = True
    seg = PerFrameMask(masks, [7, 9], ["bed", "lamp"])
    assert seg[9].shape == (2, 2, 2) and seg[9][1, 0, 0]
    assert seg.get_mask(9).sum() == 0 and seg.get_mask(9, "lamp").sum() == 1  # object defaults to 0
    assert seg.object_ids == [0, 1]
    with pytest.raises(TypeError, match="cannot be iterated"):
        list(seg)
    pts = seg.get_masked_points(_recon(POINTS, [0.0] * 4), 7)  # no confidence filter
    assert pts.shape == (0, 3)
    seg2 = PerFrameMask(np.ones((1, 1, 2, 2), bool), [7])
    assert len(seg2.get_masked_points(_recon(POINTS, [0.0] * 4), 7)) == 4


def test_normalized_to_pixel(capsys):
    assert geometry.normalized_to_pixel([500, 250], 640, 480) == [320.0, 120.0]
    assert geometry.normalized_to_pixel(np.array([0, 0, 1000, 1000]), 640, 480) == [0.0, 0.0, 640.0, 480.0]
    assert geometry.normalized_to_pixel([100, 200, 300], 1000, 500) == [100.0, 100.0, 300.0]
    assert capsys.readouterr().out == ""
    geometry.normalized_to_pixel([1200, 5], 640, 480)
    assert "over 1000" in capsys.readouterr().out


# --------------------------------------------------------------------------------------------------
# The tool reference
# --------------------------------------------------------------------------------------------------


def test_the_tool_reference_shows_each_profiles_api():
    default, paper = apidoc.render("default"), apidoc.render("paper")
    assert "`vlm.ask(images" in default and "ask_with_thinking" not in default
    assert "normalized_to_pixel" not in default and "conf_threshold" not in default
    assert "- `vlm.locate(images: Any, question: str) -> str`" in paper
    assert "- `vlm.ask_with_thinking(images: Any, question: str) -> str`" in paper
    assert "vlm.ask(" not in paper and "vlm.to_pixels" not in paper
    assert "- `tools.Geometry.normalized_to_pixel(coords" in paper
    assert "get_centroid_3d(self, recon: Any, frame: int, object: int | str = 0, conf_threshold: float = 0.3)" in paper
    assert "`seg[fi]`" in paper
    assert apidoc.render() == default  # outside a session: the default profile
    cli = [sys.executable, "-m", "spatial_runtime.apidoc", "--profile", "paper"]
    assert subprocess.run(cli, capture_output=True, text=True, check=True).stdout == paper
