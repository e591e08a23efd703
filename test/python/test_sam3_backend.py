"""The sam3 backend end to end on CPU with a randomly initialised tiny SAM 3 (no weights can be downloaded here).

The tiny checkpoint (``sam3_tiny.py``) uses the same transformers classes as the real ``facebook/sam3`` and the
backend loads it from its directory through its real loading path. Outputs of random weights are meaningless, so
the tests check shapes, dtypes, ranges, determinism, the threshold behaviour, error messages and that the saved
weights are what gets loaded.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
if not hasattr(transformers, "Sam3VideoModel"):
    pytest.skip("transformers without SAM 3 (needs transformers >= 5)", allow_module_level=True)

from perception_helpers import video_frames  # noqa: E402
from sam3_tiny import IMAGE_SIZE, NUM_QUERIES, write_checkpoint  # noqa: E402
from spatial_perception.backends.base import (  # noqa: E402
    BoxPrompt,
    PointsPrompt,
    SegmentImageRequest,
    SegmentVideoRequest,
    TextPrompt,
)
from spatial_perception.backends.sam3 import ENV_CHECKPOINT, SAM3Backend  # noqa: E402
from spatial_perception.errors import BackendUnavailable, BadRequest, Cancelled  # noqa: E402

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
NEVER = threading.Event()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, transformers.Sam3VideoModel]:
    root = tmp_path_factory.mktemp("sam3_tiny")
    return root, write_checkpoint(root)


@pytest.fixture(scope="module")
def backend(tiny: tuple[Path, object]) -> SAM3Backend:
    return SAM3Backend(checkpoint=str(tiny[0]), device="cpu")


@pytest.fixture(scope="module")
def room_image() -> np.ndarray:
    bgr = cv2.imread(str(FIXTURES / "rgbd_room" / "color" / "1.png"), cv2.IMREAD_COLOR)
    return np.ascontiguousarray(bgr[:, :, ::-1])


@pytest.fixture(scope="module")
def bedroom_frames() -> list[np.ndarray]:
    """The first 4 frames (960x540 RGB) of the bundled real video."""
    return video_frames(FIXTURES / "video_bedroom" / "bedroom.mp4", 4)


def check_result(res, t: int, hw: tuple[int, int]) -> int:
    """Common checks of a MaskResult; returns K."""
    assert res.masks.dtype == np.bool_ and res.masks.ndim == 4
    k = res.masks.shape[1]
    assert res.masks.shape == (t, k, *hw)
    assert res.scores.dtype == np.float32 and res.scores.shape == (t, k)
    assert np.isfinite(res.scores).all() and (res.scores >= 0).all() and (res.scores <= 1).all()
    assert res.frame_indices.dtype == np.int64 and res.frame_indices.shape == (t,)
    assert len(res.labels) == k
    json.dumps(res.info)  # the info must be JSON-serialisable for the artifact manifest
    return k


# ----------------------------------------------------------------------------------------------------------------
# Availability and loading


def test_available_reasons(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny) -> None:
    monkeypatch.delenv(ENV_CHECKPOINT, raising=False)
    ok, reason = SAM3Backend(device="cpu").available()
    assert not ok and "--sam3-checkpoint" in reason and ENV_CHECKPOINT in reason and "config.json" in reason
    ok, reason = SAM3Backend(checkpoint=str(tmp_path / "nope"), device="cpu").available()
    assert not ok and "does not exist" in reason and str(tmp_path / "nope") in reason
    ok, reason = SAM3Backend(checkpoint=str(tmp_path), device="cpu").available()
    assert not ok and "no config.json" in reason
    monkeypatch.setenv(ENV_CHECKPOINT, str(tiny[0]))
    b = SAM3Backend()
    assert b.available() == (True, None) and b.checkpoint == str(tiny[0])
    assert b.device in ("cpu", "cuda") and b.name == "sam3"
    assert b.capabilities == {"segment_image", "segment_video", "text", "points", "box"}


def test_missing_checkpoint_raises_unavailable(monkeypatch: pytest.MonkeyPatch, room_image) -> None:
    monkeypatch.delenv(ENV_CHECKPOINT, raising=False)
    with pytest.raises(BackendUnavailable) as exc:
        SAM3Backend(device="cpu").segment_image(SegmentImageRequest(room_image, TextPrompt("chair")), NEVER)
    assert exc.value.status == 503 and exc.value.code == "unsupported"
    assert "--sam3-checkpoint" in exc.value.message and exc.value.fix


def test_incomplete_checkpoint_is_refused(tmp_path: Path, tiny, room_image) -> None:
    from safetensors.torch import save_file

    (tmp_path / "config.json").write_text((tiny[0] / "config.json").read_text())
    save_file({"unrelated": torch.zeros(1)}, str(tmp_path / "model.safetensors"))
    b = SAM3Backend(checkpoint=str(tmp_path), device="cpu")
    assert b.available() == (True, None)  # the cheap check only looks at the files
    with pytest.raises(BackendUnavailable, match="lacks .* weights of Sam3TrackerVideoModel"):
        b.segment_image(SegmentImageRequest(room_image, PointsPrompt(np.array([[5.0, 5.0]]), np.array([1]))), NEVER)
    ok, reason = b.available()
    assert not ok and "not a complete transformers SAM 3 checkpoint" in reason


def test_loaded_weights_are_the_saved_ones(backend: SAM3Backend, tiny) -> None:
    _, original = tiny
    pairs = [
        (
            backend._model("detector"),
            original.detector_model,
            "text_encoder.text_model.embeddings.token_embedding.weight",
        ),
        (backend._model("tracker"), original.tracker_model, "mask_decoder.iou_token.weight"),
        (backend._model("video"), original, "tracker_neck.fpn_layers.0.proj1.weight"),
    ]
    for loaded, ref, key in pairs:
        assert torch.equal(loaded.state_dict()[key], ref.state_dict()[key]), key
    tracker_backbone = backend._model("tracker").state_dict()["vision_encoder.backbone.embeddings.position_embeddings"]
    ref_backbone = original.detector_model.state_dict()["vision_encoder.backbone.embeddings.position_embeddings"]
    assert torch.equal(tracker_backbone, ref_backbone)


def test_preprocessing_follows_the_processor_config(backend: SAM3Backend) -> None:
    white = np.full((30, 50, 3), 255, np.uint8)
    black = np.zeros((30, 50, 3), np.uint8)
    px = backend._pixels([white, black], IMAGE_SIZE)
    assert tuple(px.shape) == (2, 3, IMAGE_SIZE, IMAGE_SIZE) and px.dtype == torch.float32
    assert torch.allclose(px[0], torch.ones(()), atol=1e-5) and torch.allclose(px[1], -torch.ones(()), atol=1e-5)


# ----------------------------------------------------------------------------------------------------------------
# Images


def test_text_image_shapes_threshold_and_order(backend: SAM3Backend, room_image: np.ndarray) -> None:
    everything = backend.segment_image(SegmentImageRequest(room_image, TextPrompt("chair", threshold=0.0)), NEVER)
    assert check_result(everything, 1, (480, 640)) == NUM_QUERIES  # sigmoid scores are all > 0
    scores = everything.scores[0]
    assert (np.diff(scores) <= 0).all(), "instances are sorted by score"
    assert everything.labels == ["chair"] * NUM_QUERIES and everything.frame_indices.tolist() == [0]
    assert everything.info["model"] == "Sam3Model" and len(everything.info["boxes_xyxy"]) == NUM_QUERIES

    cut = float(np.median(scores))
    some = backend.segment_image(SegmentImageRequest(room_image, TextPrompt("chair", threshold=cut)), NEVER)
    k = check_result(some, 1, (480, 640))
    assert k == int((scores > cut).sum()) and (some.scores > cut).all()
    np.testing.assert_array_equal(some.masks[0], everything.masks[0, :k])

    none = backend.segment_image(SegmentImageRequest(room_image, TextPrompt("chair", threshold=1.0)), NEVER)
    assert check_result(none, 1, (480, 640)) == 0 and none.labels == []

    capped = backend.segment_image(
        SegmentImageRequest(room_image, TextPrompt("chair", threshold=0.0), {"max_objects": 3}), NEVER
    )
    assert check_result(capped, 1, (480, 640)) == 3
    np.testing.assert_array_equal(capped.scores[0], scores[:3])


def test_text_image_is_deterministic_and_mask_threshold_monotone(backend: SAM3Backend, room_image) -> None:
    req = SegmentImageRequest(room_image, TextPrompt("red chair 2", threshold=0.0))
    a, b = backend.segment_image(req, NEVER), backend.segment_image(req, NEVER)
    np.testing.assert_array_equal(a.masks, b.masks)
    np.testing.assert_array_equal(a.scores, b.scores)
    loose = backend.segment_image(
        SegmentImageRequest(room_image, TextPrompt("red chair 2", threshold=0.0), {"mask_threshold": 0.2}), NEVER
    )
    assert (loose.masks | ~a.masks).all(), "a lower mask threshold only adds pixels"
    other = backend.segment_image(SegmentImageRequest(room_image, TextPrompt("lamp", threshold=0.0)), NEVER)
    assert not np.array_equal(other.scores, a.scores), "the text reaches the model"


def test_points_and_box_on_an_image(backend: SAM3Backend, bedroom_frames) -> None:
    frame = bedroom_frames[0]
    pts = PointsPrompt(np.array([[480.0, 270.0], [100.0, 50.0]]), np.array([1, 0]))
    res = backend.segment_image(SegmentImageRequest(frame, pts), NEVER)
    assert check_result(res, 1, (540, 960)) == 1 and res.labels == ["object 1"]
    assert res.info["model"] == "Sam3TrackerVideoModel"
    # pixel-centre mapping: u' = (u + 0.5) * 56 / 960 - 0.5
    expected = [480.5 * IMAGE_SIZE / 960 - 0.5, 270.5 * IMAGE_SIZE / 540 - 0.5]
    np.testing.assert_allclose(res.info["prompt_points_model_px"][0], expected, atol=1e-4)
    again = backend.segment_image(SegmentImageRequest(frame, pts), NEVER)
    np.testing.assert_array_equal(res.masks, again.masks)

    box = backend.segment_image(SegmentImageRequest(frame, BoxPrompt(np.array([100.0, 80.0, 700.0, 500.0]))), NEVER)
    assert check_result(box, 1, (540, 960)) == 1
    assert box.info["prompt_labels_model"] == [2, 3]
    edge = backend.segment_image(SegmentImageRequest(frame, BoxPrompt(np.array([-0.5, -0.5, 959.5, 539.5]))), NEVER)
    assert check_result(edge, 1, (540, 960)) == 1


@pytest.mark.parametrize(
    ("prompt", "params", "match"),
    [
        (PointsPrompt(np.array([[960.0, 10.0]]), np.array([1])), {}, "outside the 960x540 image"),
        (PointsPrompt(np.array([[10.0, -1.0]]), np.array([1])), {}, "outside"),
        (PointsPrompt(np.array([[10.0, 10.0]]), np.array([2])), {}, "labels"),
        (PointsPrompt(np.array([[10.0, 10.0]]), np.array([0])), {}, "no foreground"),
        (PointsPrompt(np.zeros((0, 2)), np.zeros(0, np.int64)), {}, "non-empty"),
        (BoxPrompt(np.array([10.0, 10.0, 5.0, 20.0])), {}, "x2 > x1"),
        (BoxPrompt(np.array([10.0, 10.0, 970.0, 20.0])), {}, "outside"),
        (TextPrompt("  "), {}, "empty"),
        (TextPrompt("chair", threshold=1.5), {}, "threshold"),
        (TextPrompt("chair"), {"colour": "red"}, "unknown param"),
        (TextPrompt("chair"), {"mask_threshold": 1.0}, "mask_threshold"),
        (TextPrompt("chair"), {"max_objects": 0}, "max_objects"),
    ],
)
def test_bad_requests(backend: SAM3Backend, bedroom_frames, prompt, params, match) -> None:
    with pytest.raises(BadRequest, match=match) as exc:
        backend.segment_image(SegmentImageRequest(bedroom_frames[0], prompt, params), NEVER)
    assert exc.value.status == 400


def test_bad_images(backend: SAM3Backend) -> None:
    with pytest.raises(BadRequest, match=r"\(H, W, 3\) uint8"):
        backend.segment_image(SegmentImageRequest(np.zeros((20, 20), np.uint8), TextPrompt("x")), NEVER)
    with pytest.raises(BadRequest, match="uint8"):
        backend.segment_image(SegmentImageRequest(np.zeros((20, 20, 3), np.float32), TextPrompt("x")), NEVER)


# ----------------------------------------------------------------------------------------------------------------
# Videos


def test_points_on_a_video_propagate_both_ways(backend: SAM3Backend, bedroom_frames) -> None:
    req = SegmentVideoRequest(
        frames=bedroom_frames,
        frame_indices=[10, 11, 12, 13],
        prompt_frame_index=12,
        prompt=PointsPrompt(np.array([[300.0, 200.0]]), np.array([1])),
    )
    res = backend.segment_video(req, NEVER)
    assert check_result(res, 4, (540, 960)) == 1
    assert res.frame_indices.tolist() == [10, 11, 12, 13] and res.labels == ["object 1"]
    assert res.info["prompt_frame_position"] == 2 and res.info["directions"] == ["forward", "backward"]
    again = backend.segment_video(req, NEVER)
    np.testing.assert_array_equal(res.masks, again.masks)
    np.testing.assert_array_equal(res.scores, again.scores)
    # the prompt frame alone, as an image, gives the same first-frame prediction
    single = backend.segment_image(SegmentImageRequest(bedroom_frames[2], req.prompt), NEVER)
    np.testing.assert_array_equal(single.masks[0], res.masks[2])


def test_box_on_a_video_from_the_first_frame(backend: SAM3Backend, bedroom_frames) -> None:
    req = SegmentVideoRequest(
        frames=bedroom_frames[:3],
        frame_indices=[0, 5, 9],
        prompt_frame_index=0,
        prompt=BoxPrompt(np.array([200.0, 100.0, 600.0, 400.0])),
    )
    res = backend.segment_video(req, NEVER)
    assert check_result(res, 3, (540, 960)) == 1 and res.info["directions"] == ["forward"]


def test_text_on_a_video(backend: SAM3Backend, bedroom_frames) -> None:
    req = SegmentVideoRequest(
        frames=bedroom_frames[:3],
        frame_indices=[100, 101, 102],
        prompt_frame_index=101,
        prompt=TextPrompt("bed", threshold=0.0),
    )
    res = backend.segment_video(req, NEVER)
    k = check_result(res, 3, (540, 960))
    assert k >= 1 and res.labels == ["bed"] * k and res.info["model"] == "Sam3VideoModel"
    assert res.frame_indices.tolist() == [100, 101, 102]
    assert (res.masks.sum(axis=1) <= 1).all(), "objects do not overlap"
    present = res.masks.any(axis=(2, 3))
    assert present.any(axis=0).all(), "every object has a mask on some frame"
    assert (res.scores[~present] == 0).all() and (res.scores[present] > 0).all()
    assert (np.diff(res.scores.max(axis=0)) <= 0).all()
    again = backend.segment_video(req, NEVER)
    np.testing.assert_array_equal(res.masks, again.masks)

    none = backend.segment_video(
        SegmentVideoRequest(bedroom_frames[:2], [0, 1], 0, TextPrompt("bed", threshold=1.0)), NEVER
    )
    assert check_result(none, 2, (540, 960)) == 0
    assert backend._model("video").score_threshold_detection == 0.5, "the per-request threshold is restored"


def test_video_request_errors(backend: SAM3Backend, bedroom_frames) -> None:
    pts = PointsPrompt(np.array([[10.0, 10.0]]), np.array([1]))
    with pytest.raises(BadRequest, match="prompt_frame_index 7 is not one of frame_indices"):
        backend.segment_video(SegmentVideoRequest(bedroom_frames[:2], [0, 1], 7, pts), NEVER)
    with pytest.raises(BadRequest, match="same size"):
        backend.segment_video(SegmentVideoRequest([bedroom_frames[0], bedroom_frames[1][:100]], [0, 1], 0, pts), NEVER)
    with pytest.raises(BadRequest, match="2 entries for 1 frames"):
        backend.segment_video(SegmentVideoRequest(bedroom_frames[:1], [0, 1], 0, pts), NEVER)
    with pytest.raises(BadRequest, match="at least one frame"):
        backend.segment_video(SegmentVideoRequest([], [], 0, pts), NEVER)


def test_tracker_matches_the_documented_transformers_video_flow(backend: SAM3Backend, bedroom_frames) -> None:
    """The backend's points-on-a-video path against transformers 5.18's own video API, called the way its
    ``Sam3TrackerVideoProcessor`` does (``add_inputs_to_inference_session``: point_coords (1, 1, P, 2) float,
    point_labels (1, 1, P) int32, ``obj_with_new_inputs`` = object ids), then ``model(inference_session,
    frame_idx)`` on the prompt frame and ``propagate_in_video_iterator`` forward and in reverse, on 3 real frames."""
    from spatial_perception.backends.sam3.inputs import geometric_inputs
    from transformers.models.sam3_tracker_video.modeling_sam3_tracker_video import (
        Sam3TrackerVideoInferenceSession,
        Sam3TrackerVideoSegmentationOutput,
    )

    frames, position, (h, w) = bedroom_frames[:3], 1, bedroom_frames[0].shape[:2]
    prompt = PointsPrompt(np.array([[300.0, 200.0], [700.0, 400.0]]), np.array([1, 0]))
    res = backend.segment_video(SegmentVideoRequest(frames, [0, 1, 2], 1, prompt), NEVER)

    model = backend._model("tracker")
    assert isinstance(model, transformers.Sam3TrackerVideoModel)
    coords, labels = geometric_inputs(prompt, (h, w), int(model.config.image_size))
    # dtype must be a torch.dtype: the signature's default "float32" (a str) fails in tensor.to() in 5.18, which is
    # why the backend and transformers' processors always pass it.
    session = Sam3TrackerVideoInferenceSession(
        video=backend._pixels(frames, int(model.config.image_size)), video_height=h, video_width=w, dtype=torch.float32
    )
    obj_idx = session.obj_id_to_idx(7)
    session.add_point_inputs(
        obj_idx,
        position,
        {
            "point_coords": torch.tensor(coords, dtype=torch.float32)[None, None],
            "point_labels": torch.tensor(labels, dtype=torch.int32)[None, None],
        },
    )
    session.obj_with_new_inputs = [7]
    masks = {}
    with torch.inference_mode():
        first = model(inference_session=session, frame_idx=position)
        assert isinstance(first, Sam3TrackerVideoSegmentationOutput) and first.object_ids == [7]
        for reverse in (False, True):
            for out in model.propagate_in_video_iterator(session, start_frame_idx=position, reverse=reverse):
                assert out.pred_masks.shape[:2] == (1, 1) and out.object_score_logits.numel() == 1
                up = backend._upsample(out.pred_masks.reshape(1, *out.pred_masks.shape[-2:]), (h, w))[0]
                masks.setdefault(int(out.frame_idx), (up > 0).numpy())  # mask_threshold 0.5 = logit 0
    assert sorted(masks) == [0, 1, 2]
    for i in range(3):
        np.testing.assert_array_equal(res.masks[i, 0], masks[i])


def test_text_video_outputs_have_the_fields_the_backend_reads(backend: SAM3Backend, bedroom_frames) -> None:
    """``Sam3VideoModel`` driven as transformers' ``Sam3VideoProcessor`` does (``add_text_prompt``: the prompt's
    token ids padded to 32 in ``prompt_input_ids`` / ``prompt_attention_masks``) on 3 real frames: every frame is
    yielded once, in order, with the ``Sam3VideoSegmentationOutput`` fields the backend reads, and the backend's
    objects are among the tracked ones."""
    from transformers.models.sam3_video.modeling_sam3_video import (
        Sam3VideoInferenceSession,
        Sam3VideoSegmentationOutput,
    )

    frames, (h, w) = bedroom_frames[:3], bedroom_frames[0].shape[:2]
    model = backend._model("video")
    assert isinstance(model, transformers.Sam3VideoModel)
    pixels = backend._pixels(frames, int(model.config.image_size))
    session = Sam3VideoInferenceSession(video=pixels, video_height=h, video_width=w, dtype=torch.float32)
    prompt_id = session.add_prompt("bed")
    session.prompt_input_ids[prompt_id], session.prompt_attention_masks[prompt_id] = backend._tokenize("bed")
    seen: set[int] = set()
    order = []
    saved = model.score_threshold_detection
    try:
        model.score_threshold_detection = 0.0
        with torch.inference_mode():
            for out in model.propagate_in_video_iterator(session, start_frame_idx=0):
                assert isinstance(out, Sam3VideoSegmentationOutput)
                order.append(int(out.frame_idx))
                for k, mask in out.obj_id_to_mask.items():
                    assert mask.ndim == 3 and mask.shape[0] == 1
                    assert k in out.obj_id_to_score and k in (out.obj_id_to_tracker_score or {k: 0})
                    seen.add(int(k))
                assert isinstance(out.suppressed_obj_ids, set)
    finally:
        model.score_threshold_detection = saved
    assert order == [0, 1, 2] and isinstance(session.hotstart_removed_obj_ids, set)
    res = backend.segment_video(SegmentVideoRequest(frames, [0, 1, 2], 0, TextPrompt("bed", threshold=0.0)), NEVER)
    assert seen and set(res.info["object_ids"]) <= seen


class TripAfter(threading.Event):
    """An event that reads as set from its ``n``-th check on (to cancel in the middle of a run)."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n = n

    def is_set(self) -> bool:
        self.n -= 1
        return self.n < 0


@pytest.mark.parametrize("prompt", [PointsPrompt(np.array([[10.0, 10.0]]), np.array([1])), TextPrompt("bed")])
def test_cancel_between_frames(backend: SAM3Backend, bedroom_frames, prompt) -> None:
    req = SegmentVideoRequest(bedroom_frames, [0, 1, 2, 3], 0, prompt)
    for n in (0, 6):
        with pytest.raises(Cancelled):
            backend.segment_video(req, TripAfter(n))
