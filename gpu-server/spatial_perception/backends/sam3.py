"""The ``sam3`` backend: promptable image and video segmentation with SAM 3 through Hugging Face transformers.

SAM 3 ("SAM 3: Segment Anything with Concepts", Meta, 2025) segments every instance of a short noun phrase
("chair", "red mug") in images and videos, and keeps SAM 2's interactive segmentation from points and boxes.
This backend runs the transformers port of SAM 3 (``transformers>=5``; model classes ``Sam3Model``,
``Sam3TrackerVideoModel`` and ``Sam3VideoModel``) from a local checkpoint directory. Nothing is ever
downloaded: ``HF_HUB_OFFLINE=1`` is set when this module is imported and every load passes
``local_files_only=True``.

Checkpoint (``checkpoint=`` / ``--sam3-checkpoint DIR`` / env ``SPATIAL_PERCEPTION_SAM3_CHECKPOINT``): a local
copy of the ``facebook/sam3`` repository as transformers lays it out: ``config.json`` (model type
``sam3_video``, holding the detector and tracker configs), ``model.safetensors`` (or shards with an index),
the CLIP tokenizer (``tokenizer.json`` or ``vocab.json`` + ``merges.txt``, with ``tokenizer_config.json``) and
optionally ``preprocessor_config.json``. The three model classes load from the same directory (transformers
maps the ``detector_model.*`` / ``tracker_model.*`` weights); a load that leaves any weight uninitialised is
refused, so a wrong or partial checkpoint fails loudly instead of producing random masks. Models are loaded
lazily, each on first use: text on images loads ``Sam3Model``; points/boxes (images and videos) load
``Sam3TrackerVideoModel``; text on videos loads ``Sam3VideoModel``.

Which model answers which prompt:
    text, image: ``Sam3Model`` (detector): instance masks with scores ``sigmoid(pred_logits) *
        sigmoid(presence_logit)``; instances scoring above ``prompt.threshold`` are kept, sorted by score.
    points / box, image: ``Sam3TrackerVideoModel`` on a one-frame session (the SAM 2-style interactive head of
        SAM 3). ``Sam3TrackerModel`` is not used: in transformers 5.18 it does not map the ``tracker_model.*``
        weights of the ``sam3_video`` checkpoint, so its mask decoder would stay randomly initialised.
        One prompt gives one object (K = 1); a single click uses SAM's multi-mask output and keeps the mask
        with the best predicted IoU. Score: ``sigmoid(object_score_logit)``.
    points / box, video: ``Sam3TrackerVideoModel``: the prompt is put on the prompt frame, then the object is
        propagated forward to the last frame and backward to the first (the session keeps its memory).
    text, video: ``Sam3VideoModel`` (detector on every frame + tracker, with SAM 3's association and
        "hotstart" heuristics): the text is not tied to a frame, so the whole clip is processed forward from
        its first frame; ``prompt_frame_index`` is only checked to be one of ``frame_indices``. The prompt
        threshold replaces the model's detection threshold (``score_threshold_detection``) for the request;
        new tracks still need the model's ``new_det_thresh``. K counts every object tracked in the clip
        (objects dropped by the hotstart heuristics are left out); an object's mask is empty and its score 0
        on frames where it is absent. Overlaps are resolved per pixel for the object with the highest tracker
        score, as the transformers post-processing does. Score: the object's detection score.

Pre- and post-processing are done here with torch, following transformers' ``Sam3ImageProcessor``,
``Sam3TrackerVideoProcessor`` and ``Sam3VideoProcessor`` (their image processor needs torchvision, whose
wheels here are CUDA builds that do not load with the CPU torch of the test environment; this path needs
neither torchvision nor those classes): frames are resized to the model's square input (bilinear with
antialiasing), scaled by ``rescale_factor`` and normalised with ``image_mean`` / ``image_std`` from
``preprocessor_config.json`` (defaults 1/255, 0.5, 0.5: SAM 3's values); masks are upsampled bilinearly
(``align_corners=False``) from the model's mask resolution to the input resolution and thresholded at
``mask_threshold`` (a probability; on the tracker's logits this is ``logit(mask_threshold)``). Point and box
coordinates follow docs/conventions.md (pixel (u, v), origin at the top-left pixel centre) and map to the model
input exactly: ``u' = (u + 0.5) * S / W - 0.5`` (the prompt encoder adds the 0.5 back); transformers'
processor uses ``u * S / W``, which differs by at most half a model pixel. Text is tokenised to 32 tokens
(longer prompts are truncated).

Params (all optional; ``timeout_s`` belongs to the server and is accepted; anything else is ``bad_request``):
    ``mask_threshold`` (float in (0, 1), default 0.5): probability above which a mask pixel is on.
    ``max_objects`` (int >= 1, default none): keep at most this many objects (highest scores first).

Results (:class:`~spatial_perception.backends.base.MaskResult`): ``masks`` (T, K, H, W) bool at the input
resolution, ``scores`` (T, K) float32 in [0, 1], ``frame_indices`` (T,) int64 (``[0]`` for an image),
``labels`` (the text prompt repeated, or ``"object 1"``), ``info`` (method, model, device, notes).

Errors: :class:`~spatial_perception.errors.BackendUnavailable` when torch/transformers or the checkpoint are
missing or the checkpoint does not load; :class:`~spatial_perception.errors.BadRequest` for malformed images,
prompts (points or boxes outside the image, empty text, labels not 0/1) or params;
:class:`~spatial_perception.errors.Cancelled` when the server cancels (checked between frames).
"""

from __future__ import annotations

import json
import math
import os
import threading
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from spatial_perception.backends.base import (
    Backend,
    BoxPrompt,
    MaskResult,
    PointsPrompt,
    Prompt,
    SegmentImageRequest,
    SegmentVideoRequest,
    TextPrompt,
    default_torch_device,
    has_module,
    reject_unknown_params,
)
from spatial_perception.errors import BackendUnavailable, BadRequest, Cancelled

# Never reach the Hugging Face Hub from the perception server (also keeps transformers' optional hub kernels off).
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

ENV_CHECKPOINT = "SPATIAL_PERCEPTION_SAM3_CHECKPOINT"
INSTALL_FIX = "pip install -r gpu-server/requirements-gpu.txt"
CHECKPOINT_FIX = (
    f"pass --sam3-checkpoint DIR or set {ENV_CHECKPOINT}=DIR: a local copy of the Hugging Face 'facebook/sam3' "
    "repository (config.json, model.safetensors, tokenizer.json or vocab.json+merges.txt, tokenizer_config.json, "
    "preprocessor_config.json); weights are never downloaded by the server"
)
SERVER_PARAMS = frozenset({"timeout_s"})
DEFAULT_PARAMS: dict[str, Any] = {"mask_threshold": 0.5, "max_objects": None}
TEXT_MAX_TOKENS = 32  # SAM 3's text encoder context (the transformers processor pads to 32)
DTYPES = ("float32", "bfloat16", "float16")
EDGE_TOL_PX = 1e-6

_MODEL_CLASSES = {"detector": "Sam3Model", "tracker": "Sam3TrackerVideoModel", "video": "Sam3VideoModel"}


def _cancelled() -> Cancelled:
    return Cancelled("segmentation cancelled by the server (client gone or timeout)")


def _logit(p: float) -> float:
    return math.log(p / (1.0 - p))


class SAM3Backend(Backend):
    """SAM 3 segmentation (module docstring).

    Args:
        checkpoint: local checkpoint directory; default: env ``SPATIAL_PERCEPTION_SAM3_CHECKPOINT``.
        device: torch device string; default ``"cuda"`` when torch sees a GPU, else ``"cpu"``.
        dtype: ``"float32"`` (default), ``"bfloat16"`` or ``"float16"`` for the weights and activations.

    Raises:
        ValueError: an unknown ``dtype``.
    """

    name = "sam3"
    version = "1"
    capabilities = frozenset({"segment_image", "segment_video", "text", "points", "box"})

    def __init__(self, checkpoint: str | None = None, device: str | None = None, dtype: str | None = None) -> None:
        self.checkpoint = checkpoint or os.environ.get(ENV_CHECKPOINT) or None
        if dtype is not None and dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
        self.dtype = dtype or "float32"
        self.device = device or default_torch_device()
        self._lock = threading.Lock()
        self._models: dict[str, Any] = {}
        self._tokenizer: Any = None
        self._preprocess_cfg: dict[str, Any] | None = None
        self._load_error: str | None = None

    # ----------------------------------------------------------------------------------------------------------
    # Availability and loading

    def available(self) -> tuple[bool, str | None]:
        """Check the dependencies and the checkpoint directory without loading anything (cheap; no network)."""
        if not (has_module("torch") and has_module("transformers")):
            return False, f"sam3 needs torch and transformers (with SAM 3): {INSTALL_FIX}"
        if not has_module("transformers.models.sam3_video"):
            return False, f"the installed transformers has no SAM 3 models (transformers >= 5 needed): {INSTALL_FIX}"
        if self._load_error is not None:
            return False, self._load_error
        if not self.checkpoint:
            return False, f"no SAM 3 checkpoint configured: {CHECKPOINT_FIX}"
        root = Path(self.checkpoint)
        if not root.is_dir():
            return False, f"SAM 3 checkpoint directory {root} does not exist: {CHECKPOINT_FIX}"
        if not (root / "config.json").is_file():
            return False, f"{root} has no config.json, so it is not a transformers SAM 3 checkpoint: {CHECKPOINT_FIX}"
        weights = list(root.glob("*.safetensors")) + list(root.glob("pytorch_model*.bin"))
        if not weights:
            return False, f"{root} has config.json but no weights (*.safetensors): {CHECKPOINT_FIX}"
        return True, None

    def _require_available(self) -> None:
        ok, reason = self.available()
        if not ok:
            raise BackendUnavailable(reason or "sam3 is unavailable", fix=CHECKPOINT_FIX)

    def _torch_dtype(self) -> Any:
        import torch

        return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[self.dtype]

    def _model(self, kind: str) -> Any:
        """The model for ``kind`` ("detector" | "tracker" | "video"), loaded on first use.

        Raises:
            BackendUnavailable: dependencies or checkpoint missing, or the checkpoint does not load completely.
        """
        with self._lock:
            if kind in self._models:
                return self._models[kind]
            self._require_available()
            import transformers

            cls_name = _MODEL_CLASSES[kind]
            cls = getattr(transformers, cls_name)
            try:
                model, info = cls.from_pretrained(
                    self.checkpoint, local_files_only=True, dtype=self._torch_dtype(), output_loading_info=True
                )
            except Exception as exc:
                raise BackendUnavailable(
                    f"could not load {cls_name} from {self.checkpoint}: {type(exc).__name__}: {exc}",
                    fix=CHECKPOINT_FIX,
                ) from exc
            missing = sorted(info.get("missing_keys") or [])
            if missing:
                self._load_error = (
                    f"{self.checkpoint} lacks {len(missing)} weights of {cls_name} (e.g. {', '.join(missing[:3])}); "
                    "it is not a complete transformers SAM 3 checkpoint"
                )
                raise BackendUnavailable(self._load_error, fix=CHECKPOINT_FIX)
            model.to(self.device).eval()
            self._models[kind] = model
            return model

    def _tokenize(self, text: str) -> tuple[Any, Any]:
        """Token ids and attention mask, both (1, 32) int64 on the device (the text truncated to 32 tokens)."""
        with self._lock:
            if self._tokenizer is None:
                from transformers import AutoTokenizer

                try:
                    self._tokenizer = AutoTokenizer.from_pretrained(self.checkpoint, local_files_only=True)
                except Exception as exc:
                    raise BackendUnavailable(
                        f"could not load the SAM 3 tokenizer from {self.checkpoint}: {type(exc).__name__}: {exc}",
                        fix=CHECKPOINT_FIX,
                    ) from exc
            tok = self._tokenizer
        enc = tok([text], padding="max_length", max_length=TEXT_MAX_TOKENS, truncation=True, return_tensors="pt")
        return enc["input_ids"].to(self.device), enc["attention_mask"].to(self.device)

    def _preprocessing(self) -> dict[str, Any]:
        """``rescale_factor``, ``image_mean``, ``image_std`` from ``preprocessor_config.json`` (SAM 3 defaults)."""
        if self._preprocess_cfg is None:
            cfg: dict[str, Any] = {"rescale_factor": 1.0 / 255.0, "image_mean": [0.5] * 3, "image_std": [0.5] * 3}
            root = Path(self.checkpoint or ".")
            for fname, sub in (("preprocessor_config.json", None), ("processor_config.json", "image_processor")):
                path = root / fname
                if not path.is_file():
                    continue
                try:
                    data = json.loads(path.read_text())
                except (OSError, json.JSONDecodeError) as exc:
                    raise BackendUnavailable(f"{path}: unreadable ({exc})", fix=CHECKPOINT_FIX) from exc
                if sub is not None:
                    data = data.get(sub) or {}
                for key in cfg:
                    if key in data and data[key] is not None:
                        cfg[key] = data[key]
                if data.get("do_rescale") is False:
                    cfg["rescale_factor"] = 1.0
                if data.get("do_normalize") is False:
                    cfg["image_mean"], cfg["image_std"] = [0.0] * 3, [1.0] * 3
                break
            self._preprocess_cfg = cfg
        return self._preprocess_cfg

    # ----------------------------------------------------------------------------------------------------------
    # Pre- and post-processing

    def _pixels(self, frames: list[NDArray[np.uint8]], size: int, cancel: threading.Event | None = None) -> Any:
        """Model input (T, 3, S, S) in the model dtype on the device: resize, rescale, normalise (module docstring)."""
        import torch
        import torch.nn.functional as F

        cfg = self._preprocessing()
        mean = torch.tensor(cfg["image_mean"], dtype=torch.float32, device=self.device).view(3, 1, 1)
        std = torch.tensor(cfg["image_std"], dtype=torch.float32, device=self.device).view(3, 1, 1)
        out = torch.empty((len(frames), 3, size, size), dtype=self._torch_dtype(), device=self.device)
        for i, frame in enumerate(frames):
            if cancel is not None and cancel.is_set():
                raise _cancelled()
            x = torch.from_numpy(np.ascontiguousarray(frame)).to(self.device).permute(2, 0, 1)[None].float()
            x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)[0]
            out[i] = ((x * float(cfg["rescale_factor"]) - mean) / std).to(out.dtype)
        return out

    @staticmethod
    def _upsample(logits: Any, hw: tuple[int, int]) -> Any:
        """(K, h, w) mask logits or probabilities -> (K, H, W) float32, bilinear, ``align_corners=False``."""
        import torch.nn.functional as F

        if logits.shape[0] == 0:
            return logits.float().new_zeros((0, *hw))
        return F.interpolate(logits[:, None].float(), size=hw, mode="bilinear", align_corners=False)[:, 0]

    # ----------------------------------------------------------------------------------------------------------
    # Routes

    def segment_image(self, req: SegmentImageRequest, cancel: threading.Event) -> MaskResult:
        """Segment one (H, W, 3) uint8 RGB image; returns masks (1, K, H, W) (module docstring).

        Raises:
            BadRequest, BackendUnavailable, Cancelled: see the module docstring.
        """
        image = _check_image(req.image, "image")
        params = parse_params(req.params)
        prompt = _check_prompt(req.prompt, image.shape[:2])
        self._require_available()
        if cancel.is_set():
            raise _cancelled()
        if isinstance(prompt, TextPrompt):
            masks, scores, info = self._text_image(image, prompt, params)
            labels = [prompt.text] * masks.shape[0]
            masks, scores = masks[None], scores[None]
        else:
            masks, scores, info = self._geometric(
                [image], 0, prompt, params, cancel, "points/box on an image, Sam3TrackerVideoModel (one frame)"
            )
            labels = ["object 1"]
        masks, scores, labels = _limit(masks, scores, labels, params["max_objects"])
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
        frames, indices, position = _check_video(req)
        params = parse_params(req.params)
        prompt = _check_prompt(req.prompt, frames[0].shape[:2])
        self._require_available()
        if isinstance(prompt, TextPrompt):
            masks, scores, labels, info = self._text_video(frames, prompt, params, cancel)
        else:
            masks, scores, info = self._geometric(
                frames, position, prompt, params, cancel, "points/box on a video, Sam3TrackerVideoModel"
            )
            labels = ["object 1"]
        info["prompt_frame_position"] = position
        masks, scores, labels = _limit(masks, scores, labels, params["max_objects"])
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
        coords, labels = _geometric_inputs(prompt, (h, w), size)
        mask_logit = _logit(params["mask_threshold"])
        t = len(frames)
        masks = np.zeros((t, 1, h, w), bool)
        scores = np.zeros((t, 1), np.float32)
        done = np.zeros(t, bool)
        with torch.inference_mode():
            pixels = self._pixels(frames, size, cancel)
            session = Sam3TrackerVideoInferenceSession(
                video=pixels,
                video_height=h,
                video_width=w,
                inference_device=self.device,
                inference_state_device=self.device,
                video_storage_device=self.device,
                dtype=self._torch_dtype(),
            )
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
                        raise _cancelled()
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
        mask_logit = _logit(params["mask_threshold"])
        t = len(frames)
        per_frame: list[dict[str, Any] | None] = [None] * t
        saved_threshold = model.score_threshold_detection
        try:
            model.score_threshold_detection = float(prompt.threshold)
            with torch.inference_mode():
                pixels = self._pixels(frames, size, cancel)
                session = Sam3VideoInferenceSession(
                    video=pixels,
                    video_height=h,
                    video_width=w,
                    inference_device=self.device,
                    inference_state_device=self.device,
                    video_storage_device=self.device,
                    dtype=self._torch_dtype(),
                )
                prompt_id = session.add_prompt(prompt.text)
                session.prompt_input_ids[prompt_id] = input_ids
                session.prompt_attention_masks[prompt_id] = attention_mask
                for out in model.propagate_in_video_iterator(session, start_frame_idx=0):
                    if cancel.is_set():
                        raise _cancelled()
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
        up = _non_overlapping(up, tracker)
        return {
            "ids": ids,
            "masks": up.cpu().numpy(),
            "scores": [float((out.obj_id_to_score or {}).get(k, 0.0)) for k in ids],
            "hidden": {int(k) for k in (out.suppressed_obj_ids or ())},
        }


# --------------------------------------------------------------------------------------------------------------
# Validation and helpers


def parse_params(params: dict[str, Any] | None) -> dict[str, Any]:
    """Check the segmentation params and fill in defaults (``mask_threshold``, ``max_objects``).

    Raises:
        BadRequest: unknown key (the message lists the accepted ones) or a value of the wrong type/range.
    """
    params = dict(params or {})
    reject_unknown_params("sam3", params, DEFAULT_PARAMS, SERVER_PARAMS)
    out = dict(DEFAULT_PARAMS)
    out.update({k: v for k, v in params.items() if k in DEFAULT_PARAMS})
    mt = out["mask_threshold"]
    if isinstance(mt, bool) or not isinstance(mt, int | float) or not 0.0 < float(mt) < 1.0:
        raise BadRequest(f"params.mask_threshold must be a probability in (0, 1), got {mt!r}", fix="e.g. 0.5")
    out["mask_threshold"] = float(mt)
    mo = out["max_objects"]
    if mo is not None and (isinstance(mo, bool) or not isinstance(mo, int) or mo < 1):
        raise BadRequest(f"params.max_objects must be a positive integer or null, got {mo!r}")
    return out


def _check_image(image: Any, what: str) -> NDArray[np.uint8]:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        desc = f"{image.dtype} {image.shape}" if isinstance(image, np.ndarray) else type(image).__name__
        raise BadRequest(f"{what} must be an (H, W, 3) uint8 RGB image, got {desc}", fix="send PNG or JPEG bytes")
    if image.shape[0] < 2 or image.shape[1] < 2:
        raise BadRequest(f"{what} is too small ({image.shape[1]}x{image.shape[0]} pixels)")
    return image


def _check_video(req: SegmentVideoRequest) -> tuple[list[NDArray[np.uint8]], list[int], int]:
    """Frames, absolute indices and the position of ``prompt_frame_index``.

    Raises:
        BadRequest: no frames, frames of different sizes, index list of the wrong length, or a prompt frame
            index that is not one of ``frame_indices``.
    """
    frames = list(req.frames or [])
    if not frames:
        raise BadRequest("segment_video needs at least one frame", fix="send the frames of the clip")
    for i, f in enumerate(frames):
        _check_image(f, f"frame at position {i}")
        if f.shape != frames[0].shape:
            raise BadRequest(
                f"frames must all have the same size; frame at position {i} is {f.shape[1]}x{f.shape[0]}, "
                f"frame 0 is {frames[0].shape[1]}x{frames[0].shape[0]}",
                fix="resize the frames to one size (frames of one video)",
            )
    indices = [int(v) for v in req.frame_indices]
    if len(indices) != len(frames):
        raise BadRequest(f"frame_indices has {len(indices)} entries for {len(frames)} frames", fix="one per frame")
    if req.prompt_frame_index not in indices:
        shown = ", ".join(map(str, indices[:8])) + (", ..." if len(indices) > 8 else "")
        raise BadRequest(
            f"prompt_frame_index {req.prompt_frame_index} is not one of frame_indices [{shown}]",
            fix="give the absolute index of the frame the prompt refers to (one of the frames sent)",
        )
    return frames, indices, indices.index(int(req.prompt_frame_index))


def _check_prompt(prompt: Prompt, hw: tuple[int, int]) -> Prompt:
    """Validate a prompt against an image of size ``hw`` = (H, W).

    Raises:
        BadRequest: empty text, threshold outside [0, 1], points/boxes malformed or outside the image
            (pixel centres: u in [-0.5, W - 0.5], v in [-0.5, H - 0.5]), labels other than 0/1, no foreground point.
    """
    h, w = hw
    if isinstance(prompt, TextPrompt):
        if not isinstance(prompt.text, str) or not prompt.text.strip():
            raise BadRequest("prompt.text is empty", fix='give a short noun phrase, e.g. "chair"')
        th = prompt.threshold
        if isinstance(th, bool) or not isinstance(th, int | float) or not 0.0 <= float(th) <= 1.0:
            raise BadRequest(f"prompt.threshold must be in [0, 1], got {th!r}", fix="e.g. 0.3 (the default)")
        return prompt

    def outside(u: NDArray[np.float64], v: NDArray[np.float64]) -> NDArray[np.bool_]:
        lo = -0.5 - EDGE_TOL_PX
        return (u < lo) | (u > w - 0.5 + EDGE_TOL_PX) | (v < lo) | (v > h - 0.5 + EDGE_TOL_PX)

    if isinstance(prompt, PointsPrompt):
        pts = np.asarray(prompt.points, dtype=np.float64)
        labels = np.asarray(prompt.labels)
        if pts.ndim != 2 or pts.shape[1] != 2 or len(pts) == 0 or not np.isfinite(pts).all():
            raise BadRequest(f"prompt.points must be a non-empty list of [x, y] pixels, got shape {pts.shape}")
        if labels.shape != (len(pts),) or not np.isin(labels, (0, 1)).all():
            raise BadRequest(
                f"prompt.labels must have one 1 (foreground) or 0 (background) per point; got {labels.tolist()}"
            )
        if not (labels == 1).any():
            raise BadRequest("prompt.labels has no foreground point (1)", fix="add at least one point on the object")
        bad = outside(pts[:, 0], pts[:, 1])
        if bad.any():
            raise BadRequest(
                f"prompt.points {pts[bad].tolist()} lie outside the {w}x{h} image "
                f"(x must be in [-0.5, {w - 0.5}], y in [-0.5, {h - 0.5}], pixels)",
                fix="give pixel coordinates of this image (convert 0-1000 VLM points with vlm.to_pixels)",
            )
        return PointsPrompt(points=pts, labels=labels.astype(np.int64))
    if isinstance(prompt, BoxPrompt):
        box = np.asarray(prompt.box, dtype=np.float64).reshape(-1)
        if box.shape != (4,) or not np.isfinite(box).all():
            raise BadRequest(f"prompt.box must be [x1, y1, x2, y2] pixels, got {np.asarray(prompt.box).tolist()}")
        if not (box[2] > box[0] and box[3] > box[1]):
            raise BadRequest(f"prompt.box {box.tolist()} needs x2 > x1 and y2 > y1")
        if outside(box[[0, 2]], box[[1, 3]]).any():
            raise BadRequest(
                f"prompt.box {box.tolist()} extends outside the {w}x{h} image "
                f"(x in [-0.5, {w - 0.5}], y in [-0.5, {h - 0.5}])",
                fix="clip the box to the image",
            )
        return BoxPrompt(box=box)
    raise BadRequest(f"unknown prompt type {type(prompt).__name__}", fix="use a text, points or box prompt")


def _geometric_inputs(
    prompt: PointsPrompt | BoxPrompt, hw: tuple[int, int], size: int
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Prompt coordinates in model-input pixels (N, 2) and SAM labels (N,): 1/0 for points, 2/3 for box corners.

    ``u' = (u + 0.5) * S / W - 0.5``, ``v' = (v + 0.5) * S / H - 0.5`` (pixel-centre convention both sides).
    """
    h, w = hw
    if isinstance(prompt, BoxPrompt):
        pts = np.asarray(prompt.box, np.float64).reshape(2, 2)
        labels = np.array([2, 3], np.int64)
    else:
        pts = np.asarray(prompt.points, np.float64)
        labels = np.asarray(prompt.labels, np.int64)
    scale = np.array([size / w, size / h])
    return (pts + 0.5) * scale - 0.5, labels


def _non_overlapping(masks: Any, tracker_scores: Any) -> Any:
    """(K, H, W) bool masks -> the same with each pixel kept only for the highest-scoring object claiming it."""
    import torch

    if masks.shape[0] <= 1:
        return masks
    weight = torch.where(masks, tracker_scores.float()[:, None, None] + 1.0, torch.zeros((), device=masks.device))
    winner = weight.argmax(dim=0, keepdim=True)
    ks = torch.arange(masks.shape[0], device=masks.device)[:, None, None]
    return masks & (winner == ks)


def _limit(
    masks: NDArray[np.bool_], scores: NDArray[np.float32], labels: list[str], max_objects: int | None
) -> tuple[NDArray[np.bool_], NDArray[np.float32], list[str]]:
    """Keep the ``max_objects`` objects with the highest best-frame score (order kept)."""
    if max_objects is None or masks.shape[1] <= max_objects:
        return masks, scores.astype(np.float32, copy=False), labels
    best = scores.max(axis=0)
    keep = np.sort(np.argsort(-best, kind="stable")[:max_objects])
    return masks[:, keep], scores[:, keep].astype(np.float32, copy=False), [labels[k] for k in keep]


__all__ = ["SAM3Backend", "parse_params"]
