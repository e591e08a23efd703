"""``tools.SAM3``: promptable segmentation of images and videos on the perception server.

Prompts are a text phrase (open-vocabulary: every instance of the concept), foreground/background points,
or a box. Image calls segment one frame; video calls segment a prompt frame and propagate the objects to
the other frames. All return a :class:`PerFrameMask` whose masks are at the frames' resolution and keyed by
ABSOLUTE frame index, ready to be lifted to 3-D with a ``tools.Reconstruct`` reconstruction::

    m = tools.SAM3.segment_image_by_text(InputImages[0], "chair")
    m.labels, m.scores                       # one entry per instance found
    show(m.visualize(InputImages[0].frame_index))
    rec = tools.Reconstruct.Reconstruct(InputImages)
    m.get_centroid_3d(rec, InputImages[0].frame_index, 0)   # (3,) world metres

Backends (``backend=``): ``"sam3"`` (SAM 3, Segment Anything with concepts: text, points and boxes),
``"classical"`` (a CPU fallback from colour/depth cues: points and boxes only, no text) and ``"oracle"``
(ground-truth masks of benchmark samples). Default: the session's configured segment backend, else
``"sam3"``. A prompt type a backend does not support is answered with an ``unsupported`` :class:`ToolError`
that names the backends that do.

Pixel coordinates (docs/conventions.md): points are (u, v) = (column, row) with the origin at the centre of the
top-left pixel, so a point must lie in ``-0.5 <= u < W - 0.5``, ``-0.5 <= v < H - 0.5``; boxes are
``[x1, y1, x2, y2]`` pixel bounds with ``x2 > x1`` and ``y2 > y1`` (``tools.Mask.bbox`` gives such boxes).
``vlm.locate`` answers in 0-1000: convert with ``vlm.to_pixels(points, image)`` first.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from PIL import Image

from spatial_runtime import perception
from spatial_runtime.perception import PerceptionError, PerceptionUnavailable, ToolError
from spatial_runtime.tools import draw as _draw
from spatial_runtime.tools import geometry as _geometry
from spatial_runtime.tools.reconstruct import FrameIndexError, _position, _readonly

__all__ = [
    "FrameIndexError",
    "PerFrameMask",
    "PerceptionError",
    "PerceptionUnavailable",
    "ToolError",
    "segment_image_by_box",
    "segment_image_by_points",
    "segment_image_by_text",
    "segment_video_by_box",
    "segment_video_by_points",
    "segment_video_by_text",
]

DEFAULT_BACKEND = "sam3"
COLORS = ("red", "lime", "blue", "yellow", "magenta", "cyan", "orange", "white", "purple", "springgreen")
"""Instance colours of :meth:`PerFrameMask.visualize`, by object index (cycled)."""


def _fmt(indices: list[int]) -> str:
    return perception._fmt_indices(indices)


class PerFrameMask:
    """Instance masks of N objects over T frames (the result of the ``tools.SAM3`` calls).

    Attributes:
        masks: (T, N, H, W) bool, read-only; ``masks[t, k]`` is object k in the t-th frame of ``frame_indices``,
            at the frames' resolution.
        scores: (T, N) float32 confidence in [0, 1] (0 where the object is not visible in that frame).
        labels: N object labels (the text prompt, a ground-truth name, or ``"object 1"``, ...).
        frame_indices: T absolute frame indices.
        info: the server's info map (method, prompt, notes, ...); ``backend``: the backend that made the masks.
        artifact_id: the server artifact's id (``artifact_ids``: all of them, one per request; a call with
            several text prompts makes one request per prompt); ``url``: ``<server>/v1/artifacts/<id>``.

    Frames are addressed by ABSOLUTE frame index and objects by int index (0..N-1) or by label (str). A wrong
    frame raises :class:`FrameIndexError` (a KeyError and an IndexError) listing the valid frames.
    """

    def __init__(
        self,
        masks: ArrayLike,
        frame_indices: ArrayLike,
        labels: Sequence[str] | None = None,
        scores: ArrayLike | None = None,
        *,
        images: dict[int, Any] | None = None,
        info: dict[str, Any] | None = None,
        artifact_ids: Sequence[str] = (),
        url: str | None = None,
        backend: str | None = None,
    ) -> None:
        """Build a result from stacked arrays (the tools do this).

        Args:
            masks: (T, N, H, W) masks (nonzero = inside). frame_indices: T distinct absolute indices.
            labels: N labels (default ``"object 1"``, ...). scores: (T, N) (default 1 where the mask is non-empty).
            images: frame index -> the image the masks were computed on (for :meth:`visualize`).

        Raises:
            ValueError: for inconsistent shapes or repeated frame indices.
        """
        m = np.asarray(masks)
        if m.ndim != 4:
            raise ValueError(f"masks must have shape (T, N, H, W), got {m.shape}")
        t, n = m.shape[:2]
        fi = [int(i) for i in np.asarray(frame_indices).reshape(-1)]
        if len(fi) != t:
            raise ValueError(f"frame_indices has {len(fi)} entries for {t} frames of masks")
        if len(set(fi)) != t:
            raise ValueError(f"frame_indices must be distinct, got {fi}")
        labs = [f"object {k + 1}" for k in range(n)] if labels is None else [str(x) for x in labels]
        if len(labs) != n:
            raise ValueError(f"labels has {len(labs)} entries for {n} objects")
        mb = m if m.dtype == np.bool_ else m != 0
        s = mb.any(axis=(2, 3)).astype(np.float32) if scores is None else np.asarray(scores, dtype=np.float32)
        if s.shape != (t, n):
            raise ValueError(f"scores must have shape {(t, n)}, got {s.shape}")
        self.masks: NDArray[np.bool_] = _readonly(mb)
        self.scores: NDArray[np.float32] = _readonly(s)
        self.labels: list[str] = labs
        self.frame_indices: list[int] = fi
        self.info: dict[str, Any] = dict(info or {})
        self.artifact_ids: list[str] = [str(a) for a in artifact_ids]
        self.url = url
        self.backend = backend
        self._images = dict(images or {})
        self._lookup = {f: k for k, f in enumerate(fi)}

    # -- facts -------------------------------------------------------------------------------------

    @property
    def artifact_id(self) -> str | None:
        """The (first) server artifact id, or None."""
        return self.artifact_ids[0] if self.artifact_ids else None

    @property
    def num_objects(self) -> int:
        return int(self.masks.shape[1])

    @property
    def num_frames(self) -> int:
        return int(self.masks.shape[0])

    @property
    def image_size(self) -> tuple[int, int]:
        """(W, H) of the masks, pixels."""
        return int(self.masks.shape[3]), int(self.masks.shape[2])

    def frame_position(self, frame: int) -> int:
        """Position t of absolute frame index ``frame`` in ``frame_indices`` (raises FrameIndexError)."""
        return _position(self.frame_indices, self._lookup, frame, "mask result")

    def object_index(self, obj: int | str) -> int:
        """Index k of an object given as an int (negative counts from the end) or a label.

        Raises:
            IndexError: no objects, or an index out of range. KeyError: an unknown label, or a label shared by
                several objects (use their int index then).
        """
        n = self.num_objects
        if n == 0:
            raise IndexError(
                "no objects were found (0 masks): try another prompt, a lower threshold=, or another backend"
            )
        if isinstance(obj, str):
            hits = [k for k, lab in enumerate(self.labels) if lab == obj]
            if not hits:
                hits = [k for k, lab in enumerate(self.labels) if lab.lower() == obj.strip().lower()]
            if len(hits) == 1:
                return hits[0]
            if not hits:
                raise FrameIndexError(f"no object is labelled {obj!r}; labels: {self.labels}")
            raise FrameIndexError(
                f"{len(hits)} objects are labelled {obj!r} (indices {hits}): pass one int index, "
                f"e.g. {hits[0]} (scores: {[round(float(self.scores[:, k].max()), 3) for k in hits]})"
            )
        if isinstance(obj, (bool, np.bool_)) or not isinstance(obj, (int, np.integer)):
            raise TypeError(f"object must be an int index or a label str, got {type(obj).__name__} {obj!r}")
        k = int(obj)
        if not -n <= k < n:
            raise IndexError(f"object {k} is out of range: there are {n} objects (0..{n - 1}), labels {self.labels}")
        return k % n

    # -- masks -------------------------------------------------------------------------------------

    def get_mask(self, frame: int, object: int | str) -> NDArray[np.bool_]:  # noqa: A002 - API name
        """(H, W) bool mask (read-only) of ``object`` (int index or label) in ``frame`` (absolute index)."""
        return self.masks[self.frame_position(frame), self.object_index(object)]

    def get_score(self, frame: int, object: int | str) -> float:  # noqa: A002 - API name
        """The score in [0, 1] of ``object`` in ``frame``."""
        return float(self.scores[self.frame_position(frame), self.object_index(object)])

    def area(self, frame: int, object: int | str) -> int:  # noqa: A002 - API name
        """Pixels in the mask of ``object`` in ``frame``."""
        return int(self.get_mask(frame, object).sum())

    # -- 3-D ---------------------------------------------------------------------------------------

    def get_masked_points(
        self,
        recon: Any,
        frame: int,
        object: int | str,  # noqa: A002 - API name
        min_confidence: float | None = None,
    ) -> NDArray[np.float64]:
        """World points of ``object`` in ``frame``, from a reconstruction of the same frames.

        Args:
            recon: a ``tools.Reconstruct`` :class:`~spatial_runtime.tools.reconstruct.Reconstruction` that holds
                ``frame`` at the masks' resolution.
            frame: absolute frame index. object: int index or label.
            min_confidence: keep only pixels with reconstruction ``confidence >= min_confidence``.

        Returns:
            (M, 3) float64 world points in metres (the reconstruction's world frame); M may be 0.

        Raises:
            FrameIndexError: ``frame`` is not in the masks or not in the reconstruction.
            ValueError: the masks and the reconstruction have different resolutions.
        """
        mask = self.get_mask(frame, object)
        if not hasattr(recon, "points_in_mask"):
            raise TypeError(
                f"recon must be a reconstruction from tools.Reconstruct.Reconstruct(...), got {type(recon).__name__}"
            )
        return recon.points_in_mask(frame, mask, min_confidence)

    def _points_or_raise(self, recon: Any, frame: int, obj: int | str, min_confidence: float | None) -> NDArray:
        pts = self.get_masked_points(recon, frame, obj, min_confidence)
        if len(pts) == 0:
            k = self.object_index(obj)
            area = int(self.masks[self.frame_position(frame), k].sum())
            why = "the mask is empty" if area == 0 else f"none of its {area} pixels has valid depth"
            if area and min_confidence is not None:
                why += f" with confidence >= {min_confidence}"
            raise ValueError(
                f"object {k} ({self.labels[k]!r}) in frame {frame} has no 3-D points: {why}; "
                "try another frame where it is visible, or a lower min_confidence"
            )
        return pts

    def get_centroid_3d(
        self,
        recon: Any,
        frame: int,
        object: int | str,  # noqa: A002 - API name
        min_confidence: float | None = None,
    ) -> NDArray[np.float64]:
        """(3,) float64 mean of the object's world points in ``frame`` (metres; ``tools.Geometry.centroid``).

        The points are the visible surface only, so the centroid of a solid object lies toward the camera.

        Raises:
            ValueError: no valid 3-D point under the mask. FrameIndexError: as for :meth:`get_masked_points`.
        """
        return _geometry.centroid(self._points_or_raise(recon, frame, object, min_confidence))

    def get_bbox_3d(
        self,
        recon: Any,
        frame: int,
        object: int | str,  # noqa: A002 - API name
        min_confidence: float | None = None,
        percentile: float | None = None,
    ) -> _geometry.AABB:
        """Axis-aligned box of the object's world points in ``frame`` (``tools.Geometry.aabb``).

        Args:
            percentile: e.g. 2 uses the 2nd and 98th percentiles per axis, ignoring stray depth outliers.

        Returns:
            ``AABB(min, max, size)`` (each (3,) float64 world metres; ``.center`` too). In a gravity-aligned
            reconstruction ``size[1]`` is the height and ``max[1]`` the top's height above the floor.

        Raises:
            ValueError: no valid 3-D point under the mask. FrameIndexError: as for :meth:`get_masked_points`.
        """
        return _geometry.aabb(self._points_or_raise(recon, frame, object, min_confidence), percentile)

    # -- display -----------------------------------------------------------------------------------

    def visualize(
        self,
        frame: int | None = None,
        objects: Sequence[int | str] | None = None,
        image: Any = None,
        alpha: float = 0.5,
    ) -> Image.Image:
        """The frame with every object's mask tinted in its own colour and labelled, for ``show(...)``.

        Args:
            frame: absolute frame index (default: the first frame of the result).
            objects: which objects (int indices or labels; default all).
            image: the image to draw on (default: the frame the masks were computed on; black without one).
            alpha: tint opacity in [0, 1].

        Returns:
            A new RGB PIL image (``tools.Draw.overlay_mask`` and ``tools.Draw.draw_text``).
        """
        fi = self.frame_indices[0] if frame is None else frame
        t = self.frame_position(fi)
        w, h = self.image_size
        base = image if image is not None else self._images.get(self.frame_indices[t])
        img = _draw.to_image(base) if base is not None else Image.new("RGB", (w, h))
        if img.size != (w, h):
            raise ValueError(f"image is {img.size[0]}x{img.size[1]} but the masks are {w}x{h}")
        ks = range(self.num_objects) if objects is None else [self.object_index(o) for o in objects]
        for k in ks:
            m = self.masks[t, k]
            if m.any():
                img = _draw.overlay_mask(img, m, color=COLORS[k % len(COLORS)], alpha=alpha)
        size = max(12, h // 30)
        for k in ks:
            m = self.masks[t, k]
            if not m.any():
                continue
            rows, cols = np.nonzero(m)
            x, y = float(cols.min()), float(rows.min())
            text = f"{k}: {self.labels[k]} {float(self.scores[t, k]):.2f}"
            xy = (x + 2, max(0.0, y - size - 4))
            img = _draw.draw_text(img, text, xy=xy, color=COLORS[k % len(COLORS)], size=size)
        return _draw.draw_text(img, f"frame {self.frame_indices[t]}", xy=(5, h - size - 8), size=size)

    def __repr__(self) -> str:
        w, h = self.image_size
        fi = self.frame_indices
        best = self.scores.max(axis=0) if len(fi) else np.zeros(self.num_objects, dtype=np.float32)
        objs = ", ".join(f"{k}: {lab} ({float(best[k]):.2f})" for k, lab in enumerate(self.labels))
        if len(objs) > 400:
            objs = objs[:399] + "…"
        parts = [
            f"{self.num_objects} object{'s' if self.num_objects != 1 else ''} [{objs}]",
            f"{len(fi)} frame{'s' if len(fi) != 1 else ''} [{_fmt(fi)}]",
            f"{w}x{h}",
        ]
        if self.backend:
            parts.append(f"backend {self.backend}")
        if self.artifact_id:
            parts.append(f"artifact {self.artifact_id}")
        return "PerFrameMask(" + ", ".join(parts) + ")"

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(repr(self))


# --------------------------------------------------------------------------------------------------
# Prompts
# --------------------------------------------------------------------------------------------------


def _bad(message: str) -> ToolError:
    return ToolError(message, code="bad_argument")


def _text_prompts(prompts: Any) -> list[str]:
    items = [prompts] if isinstance(prompts, str) else list(prompts) if isinstance(prompts, (list, tuple)) else None
    if not items or not all(isinstance(p, str) and p.strip() for p in items):
        raise _bad(f"prompt must be a non-empty phrase (str) or a list of them, e.g. 'chair', got {prompts!r}")
    return [p.strip() for p in items]


def _threshold(threshold: Any) -> float:
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float, np.floating)) or not 0 <= threshold <= 1:
        raise _bad(f"threshold must be a number in [0, 1] (the minimum instance score), got {threshold!r}")
    return float(threshold)


def _points_prompt(points: Any, labels: Any, size: tuple[int, int]) -> dict[str, Any]:
    w, h = size
    try:
        p = np.asarray(points, dtype=np.float64)
    except (TypeError, ValueError):
        raise _bad(f"points must be (u, v) pixel pairs, shape (P, 2), got {points!r}") from None
    if p.shape == (2,):
        p = p[None]
    if p.ndim != 2 or p.shape[1] != 2 or len(p) == 0:
        raise _bad(f"points must be (u, v) pixel pairs with shape (P, 2), P >= 1, got shape {p.shape}")
    if not np.isfinite(p).all():
        raise _bad("points contain NaN/inf: pass finite (u, v) pixel coordinates")
    outside = ~((p[:, 0] >= -0.5) & (p[:, 0] < w - 0.5) & (p[:, 1] >= -0.5) & (p[:, 1] < h - 0.5))
    if outside.any():
        k = int(np.flatnonzero(outside)[0])
        hint = ""
        if (p >= 0).all() and (p <= 1000).all():
            hint = "; if these come from vlm.locate (0-1000), convert them with vlm.to_pixels(points, image)"
        raise _bad(
            f"points[{k}] = ({p[k, 0]:g}, {p[k, 1]:g}) is outside the {w}x{h} image: u (column) must be in "
            f"[-0.5, {w - 0.5:g}) and v (row) in [-0.5, {h - 0.5:g}){hint}"
        )
    if labels is None:
        lab = np.ones(len(p), dtype=np.int64)
    else:
        lab_arr = np.asarray(labels).reshape(-1)
        if lab_arr.shape != (len(p),):
            raise _bad(f"point_labels has {lab_arr.size} entries for {len(p)} points: one label (1 or 0) per point")
        if not np.isin(lab_arr, (0, 1)).all():
            raise _bad(f"point_labels must be 1 (foreground) or 0 (background), got {lab_arr.tolist()}")
        lab = lab_arr.astype(np.int64)
    if not (lab == 1).any():
        raise _bad("point_labels has no foreground point (1): at least one point must be on the object")
    return {"type": "points", "points": p.tolist(), "labels": [int(x) for x in lab]}


def _box_prompt(box: Any, size: tuple[int, int]) -> dict[str, Any]:
    w, h = size
    try:
        b = np.asarray(box, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise _bad(f"box_xyxy must be [x1, y1, x2, y2] in pixels, got {box!r}") from None
    if b.shape != (4,) or not np.isfinite(b).all():
        raise _bad(f"box_xyxy must be 4 finite numbers [x1, y1, x2, y2] in pixels, got {np.asarray(box).tolist()}")
    x1, y1, x2, y2 = (float(v) for v in b)
    order = "the order is [x1, y1, x2, y2] = (left, top, right, bottom) in pixels"
    if x2 <= x1:
        raise _bad(f"box_xyxy = {[x1, y1, x2, y2]} has x2 <= x1: {order}")
    if y2 <= y1:
        raise _bad(f"box_xyxy = {[x1, y1, x2, y2]} has y2 <= y1: {order}")
    cx1, cy1, cx2, cy2 = max(x1, 0.0), max(y1, 0.0), min(x2, float(w)), min(y2, float(h))
    if cx2 <= cx1 or cy2 <= cy1:
        raise _bad(f"box_xyxy = {[x1, y1, x2, y2]} does not overlap the {w}x{h} image (pixels, [x1, y1, x2, y2])")
    return {"type": "box", "box": [cx1, cy1, cx2, cy2]}


def _backend(backend: str | None) -> str:
    if backend is not None:
        if not isinstance(backend, str) or not backend:
            raise _bad(f"backend= must be a backend name such as 'sam3', 'classical' or 'oracle', got {backend!r}")
        return backend
    return perception.default_backend("segment") or DEFAULT_BACKEND


# --------------------------------------------------------------------------------------------------
# Requests
# --------------------------------------------------------------------------------------------------


def _image_batch(image: Any, frame_index: int | None) -> perception.FrameBatch:
    if isinstance(image, (list, tuple)) or perception._is_collection(image):
        raise _bad("image must be ONE image (an input frame, PIL image or array); for several use segment_video_by_*")
    if frame_index is None:
        index = perception._frame_index_of(image)
        frame_index = 0 if index is None else index
    return perception.collect_frames([image], [int(frame_index)], what="image")


def _video_batch(frames: Any, frame_indices: Any, tool: str) -> perception.FrameBatch:
    if frames is None:
        frames = perception.session_input_images(tool)
    return perception.collect_frames(frames, frame_indices, what="frames")


def _prompt_frame(batch: perception.FrameBatch, prompt_frame: Any) -> int:
    if prompt_frame is None:
        return batch.frame_indices[0]
    if isinstance(prompt_frame, (bool, np.bool_)) or not isinstance(prompt_frame, (int, np.integer)):
        raise _bad(f"prompt_frame must be an absolute frame index (int), got {prompt_frame!r}")
    if int(prompt_frame) not in batch.frame_indices:
        raise _bad(
            f"prompt_frame {int(prompt_frame)} is not among the frames [{_fmt(batch.frame_indices)}]: prompt_frame is "
            "an ABSOLUTE frame index (e.g. InputImages[k].frame_index), and that frame must be in frames"
        )
    return int(prompt_frame)


def _request(
    route: str,
    body: dict[str, Any],
    batch: perception.FrameBatch,
    timeout: float | None,
    default_label: str | None,
) -> tuple[np.ndarray, np.ndarray, list[str], dict[str, Any], dict[str, Any], str | None]:
    reply = perception.post(route, body, tool="tools.SAM3", timeout=timeout)
    arrays = reply["arrays"]
    if "masks" not in arrays:
        raise PerceptionError("the perception server's segmentation lacks 'masks'", code="bad_reply")
    masks = np.asarray(arrays["masks"])
    w, h = batch.size
    if masks.ndim != 4 or masks.shape[0] != len(batch) or masks.shape[2:] != (h, w):
        raise PerceptionError(
            f"the perception server sent masks of shape {masks.shape}, expected ({len(batch)}, K, {h}, {w})",
            code="bad_reply",
        )
    k = masks.shape[1]
    scores = arrays.get("scores")
    scores = masks.any(axis=(2, 3)).astype(np.float32) if scores is None else np.asarray(scores, dtype=np.float32)
    info = reply["info"]
    labels = info.get("labels")
    if not (isinstance(labels, list) and len(labels) == k):
        labels = [default_label or f"object {j + 1}" for j in range(k)]
    return masks.astype(bool, copy=False), scores, [str(x) for x in labels], info, reply["artifact"], reply.get("url")


def _segment(
    route: str,
    batch: perception.FrameBatch,
    prompts: list[dict[str, Any]],
    name: str,
    params: dict[str, Any] | None,
    timeout: float | None,
    prompt_frame: int | None,
) -> PerFrameMask:
    if params is not None and not isinstance(params, dict):
        raise _bad(f"params= must be a dict of backend parameters, got {type(params).__name__}")
    pngs = batch.png()
    parts = []
    for prompt in prompts:
        body: dict[str, Any] = {"backend": name, "prompt": prompt, "params": dict(params or {})}
        if route == "/v1/segment/image":
            body["image"] = pngs[0]
            body["frame_index"] = int(batch.frame_indices[0])
            if name == "oracle":
                # The oracle looks the image up among its annotated frames by absolute index.
                body["params"].setdefault("frame_index", int(batch.frame_indices[0]))
        else:
            body.update(frames=pngs, frame_indices=list(batch.frame_indices), prompt_frame_index=prompt_frame)
        default_label = prompt["text"] if prompt["type"] == "text" else None
        parts.append(_request(route, body, batch, timeout, default_label))
    masks = np.concatenate([p[0] for p in parts], axis=1)
    scores = np.concatenate([p[1] for p in parts], axis=1)
    labels = [lab for p in parts for lab in p[2]]
    info = dict(parts[0][3])
    if len(parts) > 1:
        info["requests"] = [p[3] for p in parts]
    ids = [p[4]["id"] for p in parts if isinstance(p[4].get("id"), str)]
    base_url = parts[0][5]
    backend = str(parts[0][4].get("backend") or name)
    result = PerFrameMask(
        masks,
        batch.frame_indices,
        labels,
        scores,
        images=dict(zip(batch.frame_indices, batch.items, strict=True)),
        info=info,
        artifact_ids=ids,
        url=perception.artifact_url(base_url, ids[0] if ids else None),
        backend=backend,
    )
    w, h = batch.size
    for j, (m, _scores, _labels, _info, artifact, _url) in enumerate(parts):
        aid = artifact.get("id") if isinstance(artifact.get("id"), str) else None
        summary = artifact.get("summary") if isinstance(artifact.get("summary"), str) else None
        if not summary:
            what = prompts[j]["text"] if prompts[j]["type"] == "text" else prompts[j]["type"]
            summary = f"{m.shape[1]} objects ({what}) in {m.shape[0]} frames {w}x{h}, backend {backend}"
        perception.publish_artifact(
            tool="SAM3",
            kind="masks",
            artifact_id=aid,
            url=perception.artifact_url(base_url, aid),
            summary=summary,
            frame_indices=batch.frame_indices,
            shapes={"masks": list(m.shape), "scores": [m.shape[0], m.shape[1]]},
        )
    return result


_COMMON_ARGS = """
        backend: ``"sam3"`` (SAM 3), ``"classical"``, ``"oracle"``, ...; default the session's configured segment
            backend, else ``"sam3"``.
        params: extra backend parameters (docs/perception-api.md).
        timeout: seconds the server may spend on each request (default: the server's limit, 600 s)."""

_COMMON_RAISES = """
    Raises:
        ToolError: (a ValueError) a bad argument (the message names it and the fix), or a 4xx answer of the server,
            e.g. ``unsupported`` for a prompt type the backend cannot take (the message names the backends that can).
        PerceptionUnavailable: no perception server in this session, or it is not reachable.
        PerceptionError: a server-side failure (5xx) or a timeout."""


def segment_image_by_text(
    image: Any,
    prompt: str | Sequence[str],
    threshold: float = 0.3,
    *,
    frame_index: int | None = None,
    backend: str | None = None,
    params: dict[str, Any] | None = None,
    timeout: float | None = None,
) -> PerFrameMask:
    """Segment every instance of a concept named in text in one image (SAM 3 open-vocabulary segmentation).

    Args:
        image: an input frame (``InputImages[k]``), a PIL image or an (H, W, 3) uint8 array.
        prompt: a short noun phrase, e.g. ``"chair"`` or ``"red mug"``; or a list of phrases (one request each,
            objects concatenated in order; ``labels`` tell them apart).
        threshold: minimum instance score in [0, 1].
        frame_index: the absolute frame index to key the result by (default ``image.frame_index``, else 0).{args}

    Returns:
        :class:`PerFrameMask` with masks (1, N, H, W): one object per instance found (N may be 0).
    {raises}
    """
    perception.require_config("tools.SAM3.segment_image_by_text")
    batch = _image_batch(image, frame_index)
    thr = _threshold(threshold)
    prompts = [{"type": "text", "text": t, "threshold": thr} for t in _text_prompts(prompt)]
    return _segment("/v1/segment/image", batch, prompts, _backend(backend), params, timeout, None)


def segment_image_by_points(
    image: Any,
    points: ArrayLike,
    point_labels: ArrayLike | None = None,
    *,
    frame_index: int | None = None,
    backend: str | None = None,
    params: dict[str, Any] | None = None,
    timeout: float | None = None,
) -> PerFrameMask:
    """Segment the one object marked by clicks in one image (SAM 3 interactive segmentation).

    Args:
        image: an input frame, a PIL image or an (H, W, 3) uint8 array.
        points: (P, 2) or (2,) pixel coordinates (u = column, v = row) inside the image.
        point_labels: P labels, 1 = on the object (foreground), 0 = not on it (background); default all 1.
        frame_index: the absolute frame index to key the result by (default ``image.frame_index``, else 0).{args}

    Returns:
        :class:`PerFrameMask` with masks (1, 1, H, W).
    {raises}
    """
    perception.require_config("tools.SAM3.segment_image_by_points")
    batch = _image_batch(image, frame_index)
    prompt = _points_prompt(points, point_labels, batch.size)
    return _segment("/v1/segment/image", batch, [prompt], _backend(backend), params, timeout, None)


def segment_image_by_box(
    image: Any,
    box_xyxy: ArrayLike,
    *,
    frame_index: int | None = None,
    backend: str | None = None,
    params: dict[str, Any] | None = None,
    timeout: float | None = None,
) -> PerFrameMask:
    """Segment the object inside a box in one image (SAM 3 box prompt).

    Args:
        image: an input frame, a PIL image or an (H, W, 3) uint8 array.
        box_xyxy: ``[x1, y1, x2, y2]`` pixels (left, top, right, bottom) with x2 > x1, y2 > y1; clipped to the
            image (it must overlap it). ``tools.Mask.bbox(mask)`` returns such a box.
        frame_index: the absolute frame index to key the result by (default ``image.frame_index``, else 0).{args}

    Returns:
        :class:`PerFrameMask` with masks (1, 1, H, W).
    {raises}
    """
    perception.require_config("tools.SAM3.segment_image_by_box")
    batch = _image_batch(image, frame_index)
    prompt = _box_prompt(box_xyxy, batch.size)
    return _segment("/v1/segment/image", batch, [prompt], _backend(backend), params, timeout, None)


def segment_video_by_text(
    prompts: str | Sequence[str],
    frames: Any = None,
    prompt_frame: int | None = None,
    threshold: float = 0.3,
    *,
    frame_indices: ArrayLike | None = None,
    backend: str | None = None,
    params: dict[str, Any] | None = None,
    timeout: float | None = None,
) -> PerFrameMask:
    """Find every instance of one or more concepts and track them through frames (SAM 3 video).

    Args:
        prompts: a noun phrase or a list of phrases (one request each; objects concatenated in order).
        frames: ``InputImages`` (default: the session's), a slice of it, or a list of frames of one size.
        prompt_frame: ABSOLUTE index of the frame where the concept is detected first (default the first frame).
        threshold: minimum instance score in [0, 1].
        frame_indices: absolute indices, only for frames that are not input frames.{args}

    Returns:
        :class:`PerFrameMask` with masks (T, N, H, W) over the T frames.
    {raises}
    """
    perception.require_config("tools.SAM3.segment_video_by_text")
    batch = _video_batch(frames, frame_indices, "tools.SAM3.segment_video_by_text")
    pf = _prompt_frame(batch, prompt_frame)
    thr = _threshold(threshold)
    items = [{"type": "text", "text": t, "threshold": thr} for t in _text_prompts(prompts)]
    return _segment("/v1/segment/video", batch, items, _backend(backend), params, timeout, pf)


def segment_video_by_points(
    frames: Any,
    prompt_frame: int,
    points: ArrayLike,
    point_labels: ArrayLike | None = None,
    *,
    frame_indices: ArrayLike | None = None,
    backend: str | None = None,
    params: dict[str, Any] | None = None,
    timeout: float | None = None,
) -> PerFrameMask:
    """Segment the object clicked in ``prompt_frame`` and track it through the frames (SAM 3 video).

    Args:
        frames: ``InputImages`` (None: the session's), a slice of it, or a list of frames of one size.
        prompt_frame: ABSOLUTE index of the frame the points refer to (must be in ``frames``).
        points: (P, 2) or (2,) pixel coordinates (u, v) in that frame.
        point_labels: P labels, 1 = foreground, 0 = background; default all 1.
        frame_indices: absolute indices, only for frames that are not input frames.{args}

    Returns:
        :class:`PerFrameMask` with masks (T, 1, H, W).
    {raises}
    """
    perception.require_config("tools.SAM3.segment_video_by_points")
    batch = _video_batch(frames, frame_indices, "tools.SAM3.segment_video_by_points")
    pf = _prompt_frame(batch, prompt_frame)
    prompt = _points_prompt(points, point_labels, batch.size)
    return _segment("/v1/segment/video", batch, [prompt], _backend(backend), params, timeout, pf)


def segment_video_by_box(
    frames: Any,
    prompt_frame: int,
    box_xyxy: ArrayLike,
    *,
    frame_indices: ArrayLike | None = None,
    backend: str | None = None,
    params: dict[str, Any] | None = None,
    timeout: float | None = None,
) -> PerFrameMask:
    """Segment the object in a box in ``prompt_frame`` and track it through the frames (SAM 3 video).

    Args:
        frames: ``InputImages`` (None: the session's), a slice of it, or a list of frames of one size.
        prompt_frame: ABSOLUTE index of the frame the box refers to (must be in ``frames``).
        box_xyxy: ``[x1, y1, x2, y2]`` pixels in that frame, x2 > x1, y2 > y1.
        frame_indices: absolute indices, only for frames that are not input frames.{args}

    Returns:
        :class:`PerFrameMask` with masks (T, 1, H, W).
    {raises}
    """
    perception.require_config("tools.SAM3.segment_video_by_box")
    batch = _video_batch(frames, frame_indices, "tools.SAM3.segment_video_by_box")
    pf = _prompt_frame(batch, prompt_frame)
    prompt = _box_prompt(box_xyxy, batch.size)
    return _segment("/v1/segment/video", batch, [prompt], _backend(backend), params, timeout, pf)


for _fn in (
    segment_image_by_text,
    segment_image_by_points,
    segment_image_by_box,
    segment_video_by_text,
    segment_video_by_points,
    segment_video_by_box,
):
    _doc = (_fn.__doc__ or "").replace("{args}", _COMMON_ARGS)
    _fn.__doc__ = _doc.replace("    {raises}", _COMMON_RAISES.rstrip("\n"))
del _fn, _doc
