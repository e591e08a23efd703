"""The classical backend: params, text-prompt refusal, image segmentation and video propagation.

Video segmentation (``segment_video``), masks (T, 1, H, W) bool, scores (T, 1) float32, frame_indices (T,):
    * frames must have strictly increasing absolute ``frame_indices``; the prompt applies to the frame whose
      absolute index is ``prompt_frame_index`` and is segmented as above.
    * propagation runs forward (to later frames) and backward (to earlier frames) from the prompt frame, one
      given frame to the next: DIS flow from the new frame to the previous one warps the previous mask
      (``cv2.remap``, bilinear, threshold 0.5); the warped mask initialises GrabCut on a crop around it: the mask
      eroded by ``max(2, 0.25 * r)`` px (r = equivalent radius) is ``GC_FGD``, the rest of the mask ``GC_PR_FGD``,
      a ring dilated by ``max(4, 0.3 * r)`` px ``GC_PR_BGD``, the rest of the crop ``GC_BGD``. The refined
      component overlapping the warped mask most is kept.
    * the refinement is rejected (the warped mask is used, frame listed in ``info.refine_rejected``) when its
      area differs from the warped mask's by more than a factor of 2 or its IoU with it is below 0.5.
    * collapse: when the warped mask's area drops below ``min_area_ratio`` (default 0.1) of the prompt frame's
      mask area, propagation in that direction stops; that frame and those beyond it get empty masks and
      score 0 and are listed in ``info.lost``.
    * per-frame score: the prompt frame's image score; elsewhere IoU(refined, warped) (agreement of appearance
      and motion), halved when the refinement was rejected; 0 when lost.
    * ``cancel`` is checked between frames (raises :class:`~spatial_perception.errors.Cancelled`).
"""

from __future__ import annotations

import threading
from typing import Any

import cv2
import numpy as np

from spatial_perception.backends.base import (
    Backend,
    BoxPrompt,
    MaskResult,
    PointsPrompt,
    Prompt,
    SegmentImageRequest,
    SegmentVideoRequest,
    TextPrompt,
)
from spatial_perception.backends.classical.grabcut import refine, segment, warp
from spatial_perception.backends.inputs import check_frames, check_image, prompt_position
from spatial_perception.errors import BadRequest, Cancelled, Unsupported

TEXT_BACKENDS = "sam3 (GPU) and oracle (ground-truth labels)"
DEFAULTS: dict[str, Any] = {
    "iterations": 5,
    "max_pixels": 60_000,
    "fill_holes": 0.1,
    "min_area_ratio": 0.1,
}
"""The backend's params with their defaults (``min_area_ratio``: videos only)."""
SERVER_PARAMS = frozenset({"timeout_s", "max_frames"})


def _params(params: dict[str, Any], video: bool) -> dict[str, Any]:
    known = set(DEFAULTS) if video else set(DEFAULTS) - {"min_area_ratio"}
    unknown = sorted(set(params) - known - SERVER_PARAMS)
    if unknown:
        raise BadRequest(
            f"unknown params for the classical backend: {', '.join(unknown)}",
            fix=f"use only {', '.join(sorted(known))}",
        )
    out = {k: params.get(k, v) for k, v in DEFAULTS.items()}
    it = out["iterations"]
    if isinstance(it, bool) or not isinstance(it, int) or not 1 <= it <= 20:
        raise BadRequest(f"params.iterations must be an integer 1..20, got {it!r}", fix="omit it (default 5)")
    mp = out["max_pixels"]
    if isinstance(mp, bool) or not isinstance(mp, int) or mp < 10000:
        raise BadRequest(f"params.max_pixels must be an integer >= 10000, got {mp!r}", fix="omit it (default 307200)")
    for key in ("fill_holes", "min_area_ratio"):
        val = out[key]
        if isinstance(val, bool) or not isinstance(val, (int, float)) or not 0.0 <= float(val) <= 1.0:
            raise BadRequest(f"params.{key} must be a number in [0, 1], got {val!r}", fix=f"omit it ({DEFAULTS[key]})")
        out[key] = float(val)
    return out


def _reject_text(prompt: Prompt) -> None:
    if isinstance(prompt, TextPrompt):
        raise Unsupported(
            f"the classical backend cannot segment from a text prompt ({prompt.text!r}); text prompts are supported "
            f"by {TEXT_BACKENDS}",
            fix=f"use a box or points prompt with the classical backend, or select a text-capable backend: "
            f"{TEXT_BACKENDS}",
        )
    if not isinstance(prompt, (BoxPrompt, PointsPrompt)):
        raise BadRequest(
            f"prompt must be a box, points or text prompt, got {type(prompt).__name__}",
            fix='pass {"type": "box", "box": [x1, y1, x2, y2]} or {"type": "points", ...}',
        )


class ClassicalBackend(Backend):
    """GrabCut + DIS optical flow segmentation on the CPU (:mod:`spatial_perception.backends.classical`).

    Constructor options are accepted and ignored (the server may pass generic options to every backend).
    """

    name = "classical"
    version = "1"
    capabilities = frozenset({"segment_image", "segment_video", "points", "box"})
    device = "cpu"

    def __init__(self, **options: object) -> None:
        self.options = dict(options)

    def available(self) -> tuple[bool, str | None]:
        return True, None

    def segment_image(self, req: SegmentImageRequest, cancel: threading.Event) -> MaskResult:
        """Segment one object in ``req.image`` ((H, W, 3) uint8) from a box or points prompt.

        Returns:
            MaskResult: masks (1, 1, H, W) bool, scores (1, 1) float32, frame_indices [0], labels ["object 1"].

        Raises:
            Unsupported: text prompt. BadRequest: bad image, prompt or params. Cancelled: cancel was set.
        """
        _reject_text(req.prompt)
        p = _params(req.params, video=False)
        image = check_image(req.image, "image")
        if cancel.is_set():
            raise Cancelled("segmentation cancelled before it started")
        mask, score = segment(image, req.prompt, p)
        return MaskResult(
            masks=mask[None, None],
            scores=np.array([[score]], np.float32),
            frame_indices=np.asarray([req.frame_index], np.int64),
            labels=["object 1"],
            info=self._info(p, "grabcut", mask_empty=not mask.any()),
        )

    def segment_video(self, req: SegmentVideoRequest, cancel: threading.Event) -> MaskResult:
        """Segment one object in the prompt frame and propagate it forward and backward through ``req.frames``.

        Returns:
            MaskResult: masks (T, 1, H, W) bool, scores (T, 1) float32, frame_indices (T,) int64 absolute,
            labels ["object 1"]; info has ``propagation`` counts, ``refine_rejected`` and ``lost`` frame indices.

        Raises:
            Unsupported: text prompt. BadRequest: frames/indices/prompt/params invalid. Cancelled: cancel was set.
        """
        _reject_text(req.prompt)
        p = _params(req.params, video=True)
        frames, indices = check_frames(req.frames, req.frame_indices, "segment_video")
        if any(b <= a for a, b in zip(indices, indices[1:], strict=False)):
            raise BadRequest(
                f"frame_indices must be strictly increasing, got {indices}",
                fix="send the frames in temporal order, each once",
            )
        h, w = frames[0].shape[:2]
        for i, f in enumerate(frames):
            if f.shape[:2] != (h, w):
                raise BadRequest(
                    f"frames[{i}] is {f.shape[1]}x{f.shape[0]} but frames[0] is {w}x{h}",
                    fix="send frames of one video, all the same size",
                )
        start = prompt_position(indices, req.prompt_frame_index)
        t = len(frames)
        masks = np.zeros((t, 1, h, w), bool)
        scores = np.zeros((t, 1), np.float32)
        if cancel.is_set():
            raise Cancelled("segmentation cancelled before it started")
        mask0, score0 = segment(frames[start], req.prompt, p)
        masks[start, 0], scores[start, 0] = mask0, score0
        area0 = np.count_nonzero(mask0)
        gray = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames]
        dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        rejected: list[int] = []
        lost: list[int] = []
        counts = {"forward": 0, "backward": 0}
        for direction, order in (("forward", range(start + 1, t)), ("backward", range(start - 1, -1, -1))):
            prev = mask0
            step = 1 if direction == "forward" else -1
            for k in order:
                if cancel.is_set():
                    raise Cancelled(f"segmentation cancelled at frame {indices[k]}")
                if area0 == 0:
                    lost.append(indices[k])
                    continue
                flow = dis.calc(gray[k], gray[k - step], None)
                warped = warp(prev, flow)
                if np.count_nonzero(warped) < p["min_area_ratio"] * area0:
                    lost.extend(indices[j] for j in order if (j - k) * step >= 0)
                    break
                mask, score, ok = refine(frames[k], warped, p)
                if not ok:
                    rejected.append(indices[k])
                masks[k, 0], scores[k, 0] = mask, score
                counts[direction] += 1
                prev = mask
        info = self._info(p, "grabcut+dis_flow", mask_empty=area0 == 0)
        info.update(
            {
                "prompt_frame_index": int(req.prompt_frame_index),
                "propagation": counts,
                "refine_rejected": sorted(rejected),
                "lost": sorted(set(lost)),
            }
        )
        if lost:
            info["notes"].append(
                f"the mask collapsed (or was empty) and propagation stopped; frames {sorted(set(lost))} have empty "
                "masks; prompt on a frame nearer to them"
            )
        return MaskResult(
            masks=masks,
            scores=scores,
            frame_indices=np.asarray(indices, np.int64),
            labels=["object 1"],
            info=info,
        )

    @staticmethod
    def _info(p: dict[str, Any], method: str, mask_empty: bool) -> dict[str, Any]:
        notes: list[str] = []
        if mask_empty:
            notes.append("GrabCut found no foreground; try a tighter box or more foreground points")
        refs = ["Rother, Kolmogorov, Blake: GrabCut, SIGGRAPH 2004"]
        if "dis" in method:
            refs.append("Kroeger, Timofte, Dai, Van Gool: Fast optical flow using dense inverse search, ECCV 2016")
        return {"method": method, "iterations": p["iterations"], "references": refs, "notes": notes}
