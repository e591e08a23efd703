"""The ``sam3`` backend: promptable image and video segmentation with SAM 3 through Hugging Face transformers.

SAM 3 ("SAM 3: Segment Anything with Concepts", Meta, 2025) segments every instance of a short noun phrase
("chair", "red mug") in images and videos, and keeps SAM 2's interactive segmentation from points and boxes.
This backend runs the transformers port of SAM 3 from a local checkpoint directory. Written and checked against
transformers 5.18.0 (the version pinned in gpu-server/requirements*.txt; the video API is called as that version's
``Sam3TrackerVideoProcessor`` / ``Sam3VideoProcessor`` call it, see test/python/test_sam3_backend.py): model classes
``Sam3Model`` (``transformers.models.sam3``), ``Sam3TrackerVideoModel`` with ``Sam3TrackerVideoInferenceSession``
(``transformers.models.sam3_tracker_video``: ``add_point_inputs``, ``obj_with_new_inputs``,
``propagate_in_video_iterator(session, start_frame_idx, reverse)`` yielding ``Sam3TrackerVideoSegmentationOutput``)
and ``Sam3VideoModel`` with ``Sam3VideoInferenceSession`` (``transformers.models.sam3_video``: ``add_prompt``,
``prompt_input_ids`` / ``prompt_attention_masks``, ``propagate_in_video_iterator`` yielding
``Sam3VideoSegmentationOutput``, ``hotstart_removed_obj_ids``). Sessions are built with an explicit torch dtype:
their signature's default ``dtype="float32"`` (a string) fails in ``Tensor.to`` in 5.18. Nothing is ever
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

Modules: :mod:`.models` (availability, loading, tokenizer, pre- and post-processing), :mod:`.backend` (the routes
and the three inference paths) and :mod:`.inputs` (params, prompt checks, prompt and output conversion).
"""

from spatial_perception.backends.sam3.backend import SAM3Backend
from spatial_perception.backends.sam3.inputs import parse_params
from spatial_perception.backends.sam3.models import ENV_CHECKPOINT

__all__ = ["ENV_CHECKPOINT", "SAM3Backend", "parse_params"]
