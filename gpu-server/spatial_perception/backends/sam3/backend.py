"""The sam3 backend's routes and inference paths (see :mod:`spatial_perception.backends.sam3`): text on an image
(``Sam3Model``), points/box on images and videos (``Sam3TrackerVideoModel``), text on a video (``Sam3VideoModel``).
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
from numpy.typing import NDArray

from spatial_perception.backends.base import (
    BoxPrompt,
    MaskResult,
    PointsPrompt,
    SegmentImageRequest,
    SegmentVideoRequest,
    TextPrompt,
)
from spatial_perception.backends.inputs import check_image
from spatial_perception.backends.sam3.inputs import (
    check_prompt,
    check_video,
    geometric_inputs,
    limit_objects,
    non_overlapping,
    parse_params,
)
from spatial_perception.backends.sam3.models import Sam3Models, cancelled, logit


class SAM3Backend(Sam3Models):
    """SAM 3 segmentation (:mod:`spatial_perception.backends.sam3`); constructor arguments: :class:`Sam3Models`."""

    name = "sam3"
    version = "1"
    capabilities = frozenset({"segment_image", "segment_video", "text", "points", "box"})

    # ----------------------------------------------------------------------------------------------------------
    # Routes

    def segment_image(self, req: SegmentImageRequest, cancel: threading.Event) -> MaskResult:
        """Segment one (H, W, 3) uint8 RGB image; returns masks (1, K, H, W) (module docstring).

        Raises:
            BadRequest, BackendUnavailable, Cancelled: see the module docstring.
        """
        image = check_image(req.image, "image")
        params = parse_params(req.params)
        prompt = check_prompt(req.prompt, image.shape[:2])
        self._require_available()
        if cancel.is_set():
            raise cancelled()
        if isinstance(prompt, TextPrompt):
            masks, scores, info = self._text_image(image, prompt, params)
            labels = [prompt.text] * masks.shape[0]
            masks, scores = masks[None], scores[None]
        else:
            masks, scores, info = self._geometric(
                [image], 0, prompt, params, cancel, "points/box on an image, Sam3TrackerVideoModel (one frame)"
            )
            labels = ["object 1"]
        masks, scores, labels = limit_objects(masks, scores, labels, params["max_objects"])
        return MaskResult(
            masks=masks,
            scores=scores,
            frame_indices=np.asarray([req.frame_index], np.int64),
            labels=labels,
            info=self._info(info, params),
        )

    def segment_video(self, req: SegmentVideoRequest, cancel: threading.Event) -> MaskResult:
        """Segment T frames of one video; returns masks (T, K, H, W) (module docstring).

        Raises:
            BadRequest, BackendUnavailable, Cancelled: see the module docstring.
        """
        frames, indices, position = check_video(req)
        params = parse_params(req.params)
        prompt = check_prompt(req.prompt, frames[0].shape[:2])
        self._require_available()
        if isinstance(prompt, TextPrompt):
            masks, scores, labels, info = self._text_video(frames, prompt, params, cancel)
        else:
            masks, scores, info = self._geometric(
                frames, position, prompt, params, cancel, "points/box on a video, Sam3TrackerVideoModel"
            )
            labels = ["object 1"]
        info["prompt_frame_position"] = position
        masks, scores, labels = limit_objects(masks, scores, labels, params["max_objects"])
        return MaskResult(
            masks=masks,
            scores=scores,
            frame_indices=np.asarray(indices, np.int64),
            labels=labels,
            info=self._info(info, params),
        )

    def _info(self, info: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
        out = {"backend": self.name, "device": str(self.device), "dtype": self.dtype, "params": dict(params)}
        out.update(info)
        return out

    # ----------------------------------------------------------------------------------------------------------
    # Text on an image: Sam3Model

    def _text_image(
        self, image: NDArray[np.uint8], prompt: TextPrompt, params: dict[str, Any]
    ) -> tuple[NDArray[np.bool_], NDArray[np.float32], dict[str, Any]]:
        import torch

        model = self._model("detector")
        size = int(model.config.vision_config.image_size)
        h, w = image.shape[:2]
        input_ids, attention_mask = self._tokenize(prompt.text)
        with torch.inference_mode():
            pixels = self._pixels([image], size)
            out = model(pixel_values=pixels, input_ids=input_ids, attention_mask=attention_mask)
            scores = out.pred_logits.float().sigmoid()[0]
            if out.presence_logits is not None:
                scores = scores * out.presence_logits.float().sigmoid()[0]
            keep = torch.nonzero(scores > prompt.threshold).flatten()
            keep = keep[torch.argsort(scores[keep], descending=True)]
            probs = self._upsample(out.pred_masks[0, keep].float().sigmoid(), (h, w))
            masks = (probs > params["mask_threshold"]).cpu().numpy()
            kept_scores = scores[keep].clamp(0, 1).cpu().numpy().astype(np.float32)
            boxes = (out.pred_boxes[0, keep].float() * torch.tensor([w, h, w, h], device=keep.device)).cpu()
        info = {
            "method": "sam3: text on an image, Sam3Model (detector)",
            "model": "Sam3Model",
            "image_size": size,
            "num_queries": int(scores.shape[0]),
            "boxes_xyxy": [[round(float(v), 2) for v in b] for b in boxes.tolist()],
            "notes": [
                "score = sigmoid(class logit) * sigmoid(presence logit); instances with score > threshold kept, "
                "sorted by score",
            ],
        }
        return masks.astype(bool), kept_scores, info

    # ----------------------------------------------------------------------------------------------------------
    # Points / box: Sam3TrackerVideoModel (one frame for images)

    def _geometric(
        self,
        frames: list[NDArray[np.uint8]],
        position: int,
        prompt: PointsPrompt | BoxPrompt,
        params: dict[str, Any],
        cancel: threading.Event,
        method: str,
    ) -> tuple[NDArray[np.bool_], NDArray[np.float32], dict[str, Any]]:
        import torch
        from transformers.models.sam3_tracker_video.modeling_sam3_tracker_video import (
            Sam3TrackerVideoInferenceSession,
        )

        model = self._model("tracker")
        size = int(model.config.image_size)
        h, w = frames[0].shape[:2]
        coords, labels = geometric_inputs(prompt, (h, w), size)
        mask_logit = logit(params["mask_threshold"])
        t = len(frames)
        masks = np.zeros((t, 1, h, w), bool)
        scores = np.zeros((t, 1), np.float32)
        done = np.zeros(t, bool)
        with torch.inference_mode():
            pixels = self._pixels(frames, size, cancel)
            session = self._session(Sam3TrackerVideoInferenceSession, pixels, (h, w))
            obj_idx = session.obj_id_to_idx(1)
            session.add_point_inputs(
                obj_idx,
                position,
                {
                    "point_coords": torch.as_tensor(coords, dtype=torch.float32)[None, None],
                    "point_labels": torch.as_tensor(labels, dtype=torch.int32)[None, None],
                },
            )
            session.obj_with_new_inputs = [1]
            directions = [False] + ([True] if position > 0 else [])
            for reverse in directions:
                for out in model.propagate_in_video_iterator(session, start_frame_idx=position, reverse=reverse):
                    if cancel.is_set():
                        raise cancelled()
                    i = int(out.frame_idx)
                    logits = out.pred_masks.reshape(-1, *out.pred_masks.shape[-2:])[:1]
                    masks[i, 0] = (self._upsample(logits, (h, w))[0] > mask_logit).cpu().numpy()
                    scores[i, 0] = float(out.object_score_logits.float().reshape(-1)[0].sigmoid())
                    done[i] = True
        if not done.all():  # the iterator visits every frame; guard against API changes
            raise RuntimeError(f"SAM 3 tracker skipped frame positions {np.flatnonzero(~done).tolist()}")
        info = {
            "method": f"sam3: {method}",
            "model": "Sam3TrackerVideoModel",
            "image_size": size,
            "prompt_points_model_px": np.round(coords, 4).tolist(),
            "prompt_labels_model": labels.tolist(),
            "directions": ["forward", "backward"] if len(directions) == 2 else ["forward"],
            "notes": ["score = sigmoid(object score logit) of the tracked object on each frame"],
        }
        return masks, scores, info

    # ----------------------------------------------------------------------------------------------------------
    # Text on a video: Sam3VideoModel

    def _text_video(
        self,
        frames: list[NDArray[np.uint8]],
        prompt: TextPrompt,
        params: dict[str, Any],
        cancel: threading.Event,
    ) -> tuple[NDArray[np.bool_], NDArray[np.float32], list[str], dict[str, Any]]:
        import torch
        from transformers.models.sam3_video.modeling_sam3_video import Sam3VideoInferenceSession

        model = self._model("video")
        size = int(model.config.image_size)
        h, w = frames[0].shape[:2]
        input_ids, attention_mask = self._tokenize(prompt.text)
        mask_logit = logit(params["mask_threshold"])
        t = len(frames)
        per_frame: list[dict[str, Any] | None] = [None] * t
        saved_threshold = model.score_threshold_detection
        try:
            model.score_threshold_detection = float(prompt.threshold)
            with torch.inference_mode():
                pixels = self._pixels(frames, size, cancel)
                session = self._session(Sam3VideoInferenceSession, pixels, (h, w))
                prompt_id = session.add_prompt(prompt.text)
                session.prompt_input_ids[prompt_id] = input_ids
                session.prompt_attention_masks[prompt_id] = attention_mask
                for out in model.propagate_in_video_iterator(session, start_frame_idx=0):
                    if cancel.is_set():
                        raise cancelled()
                    per_frame[int(out.frame_idx)] = self._video_frame(out, (h, w), mask_logit)
                removed = {int(k) for k in session.hotstart_removed_obj_ids}
        finally:
            model.score_threshold_detection = saved_threshold
        missing = [i for i, f in enumerate(per_frame) if f is None]
        if missing:
            raise RuntimeError(f"SAM 3 video model skipped frame positions {missing}")
        frames_out = [f for f in per_frame if f is not None]
        seen = sorted(
            {k for f in frames_out for r, k in enumerate(f["ids"]) if f["masks"][r].any() and k not in f["hidden"]}
            - removed
        )
        column = {k: j for j, k in enumerate(seen)}
        masks = np.zeros((t, len(seen), h, w), bool)
        scores = np.zeros((t, len(seen)), np.float32)
        for i, f in enumerate(frames_out):
            for r, k in enumerate(f["ids"]):
                if k in column and k not in f["hidden"] and f["masks"][r].any():
                    masks[i, column[k]] = f["masks"][r]
                    scores[i, column[k]] = min(max(f["scores"][r], 0.0), 1.0)
        order = np.argsort(-scores.max(axis=0), kind="stable") if seen else np.zeros(0, np.int64)
        masks, scores = masks[:, order], scores[:, order]
        info = {
            "method": "sam3: text on a video, Sam3VideoModel (detector + tracker), forward over the whole clip",
            "model": "Sam3VideoModel",
            "image_size": size,
            "object_ids": [int(seen[j]) for j in order],
            "hotstart_removed_object_ids": sorted(removed),
            "notes": [
                "the text prompt applies to every frame: the clip is processed forward from its first frame",
                "score = the object's detection score; 0 (and an empty mask) where the object is absent",
                "objects are sorted by their best score; overlaps go to the object with the higher tracker score",
            ],
        }
        return masks, scores, [prompt.text] * len(seen), info

    def _video_frame(self, out: Any, hw: tuple[int, int], mask_logit: float) -> dict[str, Any]:
        """One ``Sam3VideoSegmentationOutput`` -> object ids, (K, H, W) bool masks, detection scores, hidden ids."""
        import torch

        ids = sorted(int(k) for k in out.obj_id_to_mask)
        if ids:
            logits = torch.cat([out.obj_id_to_mask[k].reshape(1, *out.obj_id_to_mask[k].shape[-2:]) for k in ids])
        else:
            logits = torch.zeros((0, 1, 1), device=self.device)
        up = self._upsample(logits, hw) > mask_logit
        tracker_scores = out.obj_id_to_tracker_score or {}
        tracker = torch.tensor([float(tracker_scores.get(k, 0.0)) for k in ids], device=up.device)
        up = non_overlapping(up, tracker)
        return {
            "ids": ids,
            "masks": up.cpu().numpy(),
            "scores": [float((out.obj_id_to_score or {}).get(k, 0.0)) for k in ids],
            "hidden": {int(k) for k in (out.suppressed_obj_ids or ())},
        }
