"""The paper profile's tools.SAM3 (python-runtime/spatial_runtime/tools/sam3/paper.py and window.py;
docs/paper-parity.md row 14): the window of native source-video frames, the prompt frame relative to it, one object
per prompt (truncation and padding), rows for the asked frames, masks resized to the bound frames, and the calls
end to end against an in-process fake perception server on the bundled 200-frame video.
"""

from __future__ import annotations

import io

import kernel_tools_helpers
import numpy as np
import pytest
from kernel_tools_helpers import bind, npy, serving
from PIL import Image
from spatial_runtime import apidoc, context, tools
from spatial_runtime.inputs import load_inputs
from spatial_runtime.perception import ToolError
from spatial_runtime.tools import sam3 as default_sam3
from spatial_runtime.tools.sam3 import paper, window

_clean_state = kernel_tools_helpers._clean_state  # autouse: no state leaks between tests, display bundles captured
published = kernel_tools_helpers.published

VIDEO = kernel_tools_helpers.FIXTURES / "video_bedroom" / "bedroom.mp4"
PAPER = context.KernelProfile.named("paper")


@pytest.fixture(scope="module")
def bedroom():
    """The 200-frame 960x540 video, 16 frames bound at 768x432 (as the paper binds them: smaller than native)."""
    return load_inputs([{"kind": "video", "path": str(VIDEO), "num_frames": 16}], 768)


# --------------------------------------------------------------------------------------------------
# The window
# --------------------------------------------------------------------------------------------------


def test_window_both_bounds_and_the_1000_frame_limit():
    assert window.window(20, 80, 200) == (20, 80)
    assert window.window(100, 1100, 5000) == (100, 1100)  # exactly 1000
    with pytest.raises(ValueError, match="1000"):
        window.window(0, 1300, 5000)
    with pytest.raises(ToolError, match="greater than start_frame"):
        window.window(50, 50, 200)


def test_window_defaults_count_from_the_video_length():
    assert window.window(None, None, 200) == (0, 200)
    assert window.window(150, None, 200) == (150, 200)
    assert window.window(None, 30, 200) == (0, 30)
    with pytest.raises(ToolError, match="start_frame and end_frame"):
        window.window(None, None, 1500)
    with pytest.raises(ToolError, match="start_frame and end_frame"):
        window.window(100, None, 1500)


def test_window_past_the_end_is_cut_and_bad_bounds_are_refused():
    assert window.window(190, 260, 200) == (190, 200)
    with pytest.raises(ToolError, match="past the end"):
        window.window(200, 210, 200)
    with pytest.raises(ToolError, match=">= 0"):
        window.window(-5, 10, 200)
    with pytest.raises(ToolError, match="int"):
        window.window(1.5, 10, 200)


def test_decode_window_gives_every_native_frame_of_the_window(bedroom):
    bind(bedroom)
    video = window.source_video(1, "test")
    assert (video.total_frames, video.fps, video.bound_size) == (200, 30.0, (768, 432))
    jpegs, indices, size = window.decode_window(video, 20, 80)
    assert indices == list(range(20, 80)) and size == (960, 540) and len(jpegs) == 60
    assert jpegs[0][:2] == b"\xff\xd8"  # JPEG
    # Frame 20 of the window is the video's frame 20: the same picture as the inputs package decodes.
    native = load_inputs([{"kind": "video", "path": str(VIDEO), "num_frames": 200}])["InputImages"]
    ours = np.asarray(Image.open(io.BytesIO(jpegs[0])), np.float32)
    theirs = np.asarray(native.by_frame_index(20), np.float32)
    assert np.abs(ours - theirs).mean() < 2.0
    assert np.abs(ours - np.asarray(native.by_frame_index(21), np.float32)).mean() > np.abs(ours - theirs).mean()
    # A window at the end of the file stops at the last frame.
    assert window.decode_window(video, 195, 200)[1] == [195, 196, 197, 198, 199]


def test_decode_window_restarts_from_the_top_when_the_seek_lands_late(bedroom, monkeypatch):
    class LandsLate:
        """A container whose seek lands on frame 8 whatever was asked."""

        def __init__(self, container):
            self.container, self.seeked = container, False

        def __getattr__(self, name):
            return getattr(self.container, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.container.close()

        def seek(self, *args, **kwargs):
            self.seeked = True
            self.container.seek(0, stream=self.container.streams.video[0])

        def decode(self, stream):
            return (f for f in self.container.decode(stream) if not self.seeked or f.time >= 8 / 30 - 1e-6)

    real_open = window.av.open
    monkeypatch.setattr(window.av, "open", lambda path: LandsLate(real_open(path)))
    bind(bedroom)
    assert window.decode_window(window.source_video(1, "test"), 5, 15)[1] == list(range(5, 15))


def test_video_index_picks_one_of_several_videos(bedroom):
    images, meta = bedroom["InputImages"], bedroom["Metadata"]
    other = load_inputs([{"kind": "video", "path": str(VIDEO), "num_frames": 4}])
    context.bind_inputs(
        [
            context.BoundInput("InputImages_1", "Metadata_1", images, meta),
            context.BoundInput("InputImages_2", "Metadata_2", other["InputImages"], other["Metadata"]),
        ]
    )
    assert window.source_video(2, "t").name == "InputImages_2" and window.source_video(2, "t").bound_size == (960, 540)
    assert window.source_video(1, "t").bound_size == (768, 432)
    with pytest.raises(ToolError, match=r"\[1, 2\]"):
        window.source_video(3, "t")


# --------------------------------------------------------------------------------------------------
# Masks: one object per prompt, rows, resize
# --------------------------------------------------------------------------------------------------


def _objects(visible_on_prompt_frame, k, t=3, h=4, w=5, prompt=1):
    """(masks (t, k, h, w), scores (t, k)): object j fills row j of every frame except the prompt frame, where only
    the objects in ``visible_on_prompt_frame`` (object -> score) are present."""
    m = np.zeros((t, k, h, w), bool)
    s = np.full((t, k), 0.5, np.float32)
    for j in range(k):
        m[:, j, j % h] = True
        m[prompt, j] = False
        s[prompt, j] = 0.0
    for j, score in visible_on_prompt_frame.items():
        m[prompt, j, j % h] = True
        s[prompt, j] = score
    return m, s


def test_one_object_per_prompt_truncates_and_pads_by_position():
    three = _objects({1: 0.6, 2: 0.9}, 3)  # objects 1 and 2 are on the prompt frame; 2 scores higher there
    none = _objects({}, 0)
    absent = _objects({}, 2)  # neither is on the prompt frame: the first one is kept
    masks, scores = window.one_per_prompt([three, none, absent], prompt_position=1)
    assert masks.shape == (3, 3, 4, 5) and scores.shape == (3, 3)
    np.testing.assert_array_equal(masks[:, 0], three[0][:, 2])  # truncated to one: the best on the prompt frame
    np.testing.assert_array_equal(scores[:, 0], three[1][:, 2])
    assert not masks[:, 1].any() and not scores[:, 1].any()  # padded: an empty mask, score 0
    np.testing.assert_array_equal(masks[:, 2], absent[0][:, 0])
    assert window.first_object(*none, 0) is None


def test_rows_for_the_asked_frames_empty_outside_the_window():
    masks = np.zeros((3, 1, 2, 2), bool)
    masks[:, 0, 0, 0] = True
    scores = np.ones((3, 1), np.float32)
    m, s, fi = window.rows_for(masks, scores, [10, 11, 12], [12, 10, 99])
    assert fi == [12, 10, 99] and m[:2, 0, 0, 0].all() and not m[2].any() and s[:, 0].tolist() == [1, 1, 0]
    assert window.rows_for(masks, scores, [10, 11, 12], None)[2] == [10, 11, 12]
    with pytest.raises(ToolError, match="distinct"):
        window.wanted_frames([3, 3])
    with pytest.raises(ToolError, match="non-empty"):
        window.wanted_frames([])


def test_resize_nearest_is_a_plain_rescale():
    m = np.zeros((1, 1, 540, 960), bool)
    m[0, 0, 100:200, 300:600] = True
    r = window.resize_nearest(m, (768, 432))
    assert r.shape == (1, 1, 432, 768)
    rows, cols = np.nonzero(r[0, 0])
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (80, 159, 240, 479)  # x 0.8 exactly
    up = window.resize_nearest(np.eye(2, dtype=bool)[None, None], (4, 4))[0, 0]
    np.testing.assert_array_equal(up, np.kron(np.eye(2, dtype=int), np.ones((2, 2), int)).astype(bool))
    assert window.resize_nearest(m, (960, 540)) is m


# --------------------------------------------------------------------------------------------------
# The calls, against a fake server
# --------------------------------------------------------------------------------------------------

OBJECTS = {"bed": 2, "pillow": 0, "lamp": 1}
"""Objects the fake server finds per text prompt (2: truncated to one; 0: padded)."""


def _video_reply(route, body):
    frames = body.get("frames") or [body["image"]]
    h, w = np.asarray(Image.open(io.BytesIO(frames[0]))).shape[:2]
    prompt = body["prompt"]
    k = OBJECTS.get(prompt.get("text"), 1)
    t = len(frames)
    masks = np.zeros((t, k, h, w), bool)
    for j in range(k):
        masks[:, j, 10 * j : 10 * j + 50, 100:300] = True  # object j: rows 10j..10j+49
    scores = np.tile(np.linspace(0.9, 0.6, k, dtype=np.float32), (t, 1))
    fi = np.asarray(body.get("frame_indices", [body.get("frame_index", 0)]), np.int64)
    labels = [prompt.get("text", "object")] * k
    artifact = {
        "id": f"v{len(body.get('frames', []))}-{prompt.get('text', prompt['type'])}",
        "backend": body["backend"],
    }
    arrays = {"masks": npy(masks), "scores": npy(scores), "frame_indices": npy(fi)}
    return 200, {"artifact": artifact, "arrays": arrays, "info": {"labels": labels}, "cache": "miss"}


@pytest.fixture
def server():
    with serving(_video_reply, {"segment": "sam3"}) as s:
        yield s


def test_tools_sam3_is_the_paper_module_only_under_the_paper_profile():
    assert tools.SAM3 is default_sam3
    context.update(profile=PAPER)
    assert tools.SAM3 is paper
    context.update(profile=context.KernelProfile())
    assert tools.SAM3 is default_sam3


def test_segment_video_by_text_sends_the_window_and_keeps_one_object_per_prompt(bedroom, server, published):
    bind(bedroom)
    context.update(profile=PAPER)
    s = tools.SAM3.segment_video_by_text(["bed", "pillow"], start_frame=20, end_frame=80, prompt_frame_idx=10)
    assert [r[0] for r in server.requests] == ["/v1/segment/video"] * 2
    body = server.requests[0][1]
    assert body["frame_indices"] == list(range(20, 80)) and body["prompt_frame_index"] == 30
    assert len(body["frames"]) == 60 and Image.open(io.BytesIO(body["frames"][0])).size == (960, 540)
    assert body["prompt"] == {"type": "text", "text": "bed", "threshold": 0.5} and body["backend"] == "sam3"
    assert body["params"] == {"max_objects": 4}  # the best 4 objects come back; one is kept
    assert s.masks.shape == (60, 2, 432, 768)
    assert s.frame_indices == list(range(20, 80)) and s.labels == ["bed", "pillow"]
    # "bed": two objects found, the first kept (rows 0..49 of 540 -> 0..39 of 432); "pillow": none, padded.
    rows = np.nonzero(s.masks[0, 0].any(axis=1))[0]
    assert (rows.min(), rows.max()) == (0, 39) and not s.masks[:, 1].any()
    assert s.scores[0].tolist() == pytest.approx([0.9, 0.0])
    assert s.info["source_window"]["prompt_frame"] == 30
    # Frames that are bound are there for visualize(); the others draw on black.
    assert s.visualize(bedroom["InputImages"].frame_indices[3]).size == (768, 432)
    assert len(kernel_tools_helpers.artifacts(published)) == 2


def test_segment_video_by_text_labels_frame_indices_and_defaults(bedroom, server):
    bind(bedroom)
    s = paper.segment_video_by_text(["lamp"], labels=["the lamp"], frame_indices=[150, 40, 151], start_frame=140)
    body = server.requests[0][1]
    assert body["frame_indices"] == list(range(140, 200)) and body["prompt_frame_index"] == 140
    assert s.frame_indices == [150, 40, 151] and s.labels == ["the lamp"]
    assert s.masks[0, 0].any() and not s.masks[1].any()  # frame 40 is outside the window: empty


def test_segment_video_by_text_refuses_bad_windows_and_arguments(bedroom, server):
    bind(bedroom)
    with pytest.raises(ValueError, match="1000"):
        paper.segment_video_by_text(["bed"], start_frame=0, end_frame=1300)
    with pytest.raises(ToolError, match="0..59"):
        paper.segment_video_by_text(["bed"], start_frame=20, end_frame=80, prompt_frame_idx=60)
    with pytest.raises(ToolError, match="non-empty list"):
        paper.segment_video_by_text("bed")
    with pytest.raises(ToolError, match="same length"):
        paper.segment_video_by_text(["bed", "lamp"], labels=["x"])
    assert server.requests == []


def test_video_calls_need_a_video_input(room_dir, server):
    loaded = load_inputs([{"kind": "rgbd_sample", "path": str(room_dir)}])
    bind(loaded)
    with pytest.raises(ToolError, match="segment_image_by_text"):
        paper.segment_video_by_text(["table"])


def test_segment_video_by_box_tracks_the_box_centre_at_native_scale(bedroom, server):
    bind(bedroom)
    s = paper.segment_video_by_box([100, 100, 300, 200], ["bed"], start_frame=0, end_frame=10, prompt_frame_idx=2)
    body = server.requests[0][1]
    # Centre (200, 150) of the 768x432 frame -> (250.125, 187.625) of the 960x540 one (pixel centres).
    assert body["prompt"] == {"type": "points", "points": [[250.125, 187.625]], "labels": [1]}
    assert body["params"] == {}
    assert body["prompt_frame_index"] == 2 and s.masks.shape == (10, 1, 432, 768) and s.labels == ["bed"]


def test_segment_video_by_points_uses_the_first_foreground_point_of_each_object(bedroom, server):
    bind(bedroom)
    s = paper.segment_video_by_points(
        [[[10, 10], [100, 100]], [[50, 60]]], [[0, 1], [1]], ["a", "b"], start_frame=0, end_frame=5
    )
    assert [r[1]["prompt"]["points"] for r in server.requests] == [[[125.125, 125.125]], [[62.625, 75.125]]]
    assert s.masks.shape == (5, 2, 432, 768) and s.labels == ["a", "b"]
    with pytest.raises(ToolError, match="no foreground point"):
        paper.segment_video_by_points([[[10, 10]]], [[0]], ["a"], start_frame=0, end_frame=5)


def test_image_calls_label_instances_and_raise_when_nothing_is_found(bedroom, server):
    frame = bedroom["InputImages"][2]
    two = paper.segment_image_by_text(frame, "bed")
    assert two.labels == ["bed_0", "bed_1"] and two.frame_indices == [frame.frame_index]
    one = paper.segment_image_by_text(frame, "lamp", label="light")
    assert one.labels == ["light"] and one.masks.shape == (1, 1, 432, 768)
    with pytest.raises(paper.NoMaskError, match="no usable mask"):
        paper.segment_image_by_text(frame, "pillow")
    box = paper.segment_image_by_points(frame, [384, 216], [1], label="thing")
    assert server.requests[-1][1]["prompt"] == {"type": "box", "box": pytest.approx([345.6, 194.4, 422.4, 237.6])}
    assert box.labels == ["thing"] and box.masks.shape == (1, 1, 432, 768)
    exists = paper.is_object_exist([frame, bedroom["InputImages"][5]], "pillow")
    assert exists["exists"] == [False, False] and exists["counts"] == [0, 0]
    assert paper.is_object_exist(frame, "bed")["counts"] == [2]
    with pytest.raises(RuntimeError, match="disabled"):
        paper.segment_video(["bed"])


def test_apidoc_shows_the_paper_signatures_only_for_the_paper_profile():
    default = apidoc.render("default")
    assert "tools.SAM3.segment_video_by_text(prompts: str | Sequence[str], frames: Any = None" in default
    assert "prompt_frame_idx" not in default and "render_bev" not in default and "metric_scale" not in default
    text = apidoc.render("paper")
    assert (
        "tools.SAM3.segment_video_by_text(prompts: list[str], labels: list[str] | None = None, prompt_frame_idx: "
        "int = 0, frame_indices: list[int] | None = None, start_frame: int | None = None, end_frame: int | None = "
        "None, video_index: int = 1)"
    ) in text
    assert "tools.SAM3.is_object_exist(" in text and ".render_bev(" in text and "`.metric_scale`" in text
    assert apidoc.render() == default  # outside a session: the default profile
