"""The requests of the ``tools.SAM3`` calls: frames in, one ``POST /v1/segment/image`` or ``/v1/segment/video`` per
prompt, one :class:`~spatial_runtime.tools.sam3.masks.PerFrameMask` out (docs/perception-api.md).

Each request publishes one artifact record for the host; several prompts (a list of text phrases) make several
requests whose objects are concatenated in prompt order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from spatial_runtime import perception
from spatial_runtime.perception import PerceptionError
from spatial_runtime.tools._common import (
    FrameBatch,
    artifact_url,
    bad_argument,
    cache_status,
    collect_frames,
    fmt_indices,
    frame_index_of,
    is_collection,
    publish_artifact,
    session_input_images,
    text_field,
)
from spatial_runtime.tools.sam3.masks import PerFrameMask
from spatial_runtime.tools.sam3.prompts import choose_backend

__all__ = [
    "IMAGE_ROUTE",
    "VIDEO_ROUTE",
    "MaskReply",
    "Prompts",
    "SegmentCall",
    "decode_reply",
    "merge_replies",
    "publish_reply",
]

IMAGE_ROUTE = "/v1/segment/image"
VIDEO_ROUTE = "/v1/segment/video"

Prompts = Callable[[FrameBatch], list[dict[str, Any]]]
"""Builds the prompts of a call once its frames are known (points and boxes are checked against their size)."""


class MaskReply(NamedTuple):
    """One request's decoded answer: masks (T, K, H, W) bool, scores (T, K) float32, K labels, the server's
    info and artifact maps, its base URL and its ``cache`` answer (``"hit"``, ``"miss"`` or None)."""

    masks: np.ndarray
    scores: np.ndarray
    labels: list[str]
    info: dict[str, Any]
    artifact: dict[str, Any]
    url: str | None
    cache: str | None = None


@dataclass(frozen=True)
class SegmentCall:
    """One public ``tools.SAM3`` call: its name (for messages) and its request options.

    Attributes:
        tool: the public function's name, e.g. ``"segment_image_by_text"``.
        backend: the backend name, or None for the session's default (:func:`.prompts.choose_backend`).
        params: extra backend parameters (a dict), or None.
        timeout: seconds the server may spend on each request, or None for its limit.
    """

    tool: str
    backend: str | None
    params: dict[str, Any] | None
    timeout: float | None

    def image(self, image: Any, frame_index: int | None, prompts: Prompts) -> PerFrameMask:
        """Segment one image: check the server is configured, collect the image (keyed by ``frame_index``,
        default its ``frame_index``, else 0), build the prompts, send one request per prompt."""
        perception.require_config(f"tools.SAM3.{self.tool}")
        batch = _image_batch(image, frame_index)
        return self._segment(IMAGE_ROUTE, batch, prompts(batch), None)

    def video(self, frames: Any, frame_indices: Any, prompt_frame: Any, prompts: Prompts) -> PerFrameMask:
        """Segment and track through ``frames`` (None: the session's ``InputImages``), the prompts given on
        ``prompt_frame`` (an absolute frame index among the frames; None: the first one)."""
        name = f"tools.SAM3.{self.tool}"
        perception.require_config(name)
        batch = _video_batch(frames, frame_indices, name)
        pf = _prompt_frame(batch, prompt_frame)
        return self._segment(VIDEO_ROUTE, batch, prompts(batch), pf)

    def _segment(self, route: str, batch: FrameBatch, prompts: list[dict[str, Any]], pf: int | None) -> PerFrameMask:
        return _segment(route, batch, prompts, choose_backend(self.backend), self.params, self.timeout, pf)


def _image_batch(image: Any, frame_index: int | None) -> FrameBatch:
    if isinstance(image, (list, tuple)) or is_collection(image):
        raise bad_argument(
            "image must be ONE image (an input frame, PIL image or array); for several use segment_video_by_*"
        )
    if frame_index is None:
        index = frame_index_of(image)
        frame_index = 0 if index is None else index
    return collect_frames([image], [int(frame_index)], what="image")


def _video_batch(frames: Any, frame_indices: Any, tool: str) -> FrameBatch:
    if frames is None:
        frames = session_input_images(tool)
    return collect_frames(frames, frame_indices, what="frames")


def _prompt_frame(batch: FrameBatch, prompt_frame: Any) -> int:
    if prompt_frame is None:
        return batch.frame_indices[0]
    if isinstance(prompt_frame, (bool, np.bool_)) or not isinstance(prompt_frame, (int, np.integer)):
        raise bad_argument(f"prompt_frame must be an absolute frame index (int), got {prompt_frame!r}")
    if int(prompt_frame) not in batch.frame_indices:
        raise bad_argument(
            f"prompt_frame {int(prompt_frame)} is not among the frames [{fmt_indices(batch.frame_indices)}]: "
            "prompt_frame is an ABSOLUTE frame index (e.g. InputImages[k].frame_index), "
            "and that frame must be in frames"
        )
    return int(prompt_frame)


def _request(
    route: str, body: dict[str, Any], batch: FrameBatch, timeout: float | None, default_label: str | None
) -> MaskReply:
    reply = perception.post(route, body, tool="tools.SAM3", timeout=timeout)
    return decode_reply(reply, len(batch), batch.size, default_label)


def decode_reply(reply: dict[str, Any], frames: int, size: tuple[int, int], default_label: str | None) -> MaskReply:
    """One segmentation answer (:func:`spatial_runtime.perception.post`) as a :class:`MaskReply`.

    Args:
        reply: the decoded answer. frames: T, the frames sent. size: (W, H) of the frames sent.
        default_label: the label of every object when the server sends none (else ``"object k"``).

    Raises:
        PerceptionError: (``bad_reply``) no masks, or masks that are not (T, K, H, W).
    """
    arrays = reply["arrays"]
    if "masks" not in arrays:
        raise PerceptionError("the perception server's segmentation lacks 'masks'", code="bad_reply")
    masks = np.asarray(arrays["masks"])
    w, h = size
    if masks.ndim != 4 or masks.shape[0] != frames or masks.shape[2:] != (h, w):
        raise PerceptionError(
            f"the perception server sent masks of shape {masks.shape}, expected ({frames}, K, {h}, {w})",
            code="bad_reply",
        )
    k = masks.shape[1]
    scores = arrays.get("scores")
    scores = masks.any(axis=(2, 3)).astype(np.float32) if scores is None else np.asarray(scores, dtype=np.float32)
    info = reply["info"]
    labels = info.get("labels")
    if not (isinstance(labels, list) and len(labels) == k):
        labels = [default_label or f"object {j + 1}" for j in range(k)]
    return MaskReply(
        masks.astype(bool, copy=False),
        scores,
        [str(x) for x in labels],
        info,
        reply["artifact"],
        reply.get("url"),
        cache_status(reply),
    )


def publish_reply(part: MaskReply, what: str, frame_indices: list[int], backend: str) -> None:
    """Publish the artifact record of one segmentation request (``what`` names its prompt in the fallback
    summary: the text, or ``"points"`` / ``"box"``)."""
    m = part.masks
    summary = text_field(part.artifact, "summary")
    if not summary:
        summary = f"{m.shape[1]} objects ({what}) in {m.shape[0]} frames {m.shape[3]}x{m.shape[2]}, backend {backend}"
    aid = text_field(part.artifact, "id")
    publish_artifact(
        tool="SAM3",
        kind="masks",
        artifact_id=aid,
        url=artifact_url(part.url, aid),
        summary=summary,
        frame_indices=frame_indices,
        shapes={"masks": list(m.shape), "scores": [m.shape[0], m.shape[1]]},
        labels=part.labels,
        cache=part.cache,
    )


def _body(
    route: str, batch: FrameBatch, pngs: list[bytes], prompt: dict[str, Any], name: str, params: Any, pf: int | None
) -> dict[str, Any]:
    body: dict[str, Any] = {"backend": name, "prompt": prompt, "params": dict(params or {})}
    if route == IMAGE_ROUTE:
        body["image"] = pngs[0]
        body["frame_index"] = int(batch.frame_indices[0])
        if name == "oracle":
            # The oracle looks the image up among its annotated frames by absolute index.
            body["params"].setdefault("frame_index", int(batch.frame_indices[0]))
    else:
        body.update(frames=pngs, frame_indices=list(batch.frame_indices), prompt_frame_index=pf)
    return body


def _segment(
    route: str,
    batch: FrameBatch,
    prompts: list[dict[str, Any]],
    name: str,
    params: dict[str, Any] | None,
    timeout: float | None,
    prompt_frame: int | None,
) -> PerFrameMask:
    if params is not None and not isinstance(params, dict):
        raise bad_argument(f"params= must be a dict of backend parameters, got {type(params).__name__}")
    pngs = batch.png()
    parts = [
        _request(
            route,
            _body(route, batch, pngs, prompt, name, params, prompt_frame),
            batch,
            timeout,
            prompt["text"] if prompt["type"] == "text" else None,
        )
        for prompt in prompts
    ]
    result = merge_replies(
        parts, batch.frame_indices, name, images=dict(zip(batch.frame_indices, batch.items, strict=True))
    )
    for prompt, part in zip(prompts, parts, strict=True):
        what = prompt["text"] if prompt["type"] == "text" else prompt["type"]
        publish_reply(part, what, batch.frame_indices, result.backend or name)
    return result


def merge_replies(
    parts: list[MaskReply],
    frame_indices: list[int],
    name: str,
    *,
    images: Any = None,
    columns: tuple[np.ndarray, np.ndarray, list[str]] | None = None,
) -> PerFrameMask:
    """One :class:`PerFrameMask` from the answers of one call's requests (one per prompt).

    Args:
        parts: the answers, in prompt order (at least one).
        frame_indices: the result's T absolute frame indices.
        name: the backend asked for (the result's ``backend`` when the server does not name it).
        images: frame index -> image, for :meth:`PerFrameMask.visualize`.
        columns: ``(masks (T, N, H, W), scores (T, N), N labels)`` to use instead of the answers' objects
            concatenated in prompt order.

    Returns:
        The result, with the first answer's info (and every answer's under ``"requests"`` when there are
        several), all artifact ids, and the first artifact's URL.
    """
    info = dict(parts[0].info)
    if len(parts) > 1:
        info["requests"] = [p.info for p in parts]
    ids = [p.artifact["id"] for p in parts if isinstance(p.artifact.get("id"), str)]
    if columns is None:
        masks = np.concatenate([p.masks for p in parts], axis=1)
        scores = np.concatenate([p.scores for p in parts], axis=1)
        labels = [lab for p in parts for lab in p.labels]
    else:
        masks, scores, labels = columns
    return PerFrameMask(
        masks,
        frame_indices,
        labels,
        scores,
        images=images,
        info=info,
        artifact_ids=ids,
        url=artifact_url(parts[0].url, ids[0] if ids else None),
        backend=str(parts[0].artifact.get("backend") or name),
    )
