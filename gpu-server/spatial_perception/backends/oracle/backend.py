"""The oracle backend's routes: ground-truth reconstruction and prompt resolution on instance maps
(see :mod:`spatial_perception.backends.oracle` for the format and the semantics).
"""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from spatial_common.geometry import backproject

from spatial_perception.backends.alignment import align_if_asked
from spatial_perception.backends.base import (
    Backend,
    BoxPrompt,
    MaskResult,
    PointsPrompt,
    Prompt,
    Reconstruction,
    ReconstructRequest,
    SegmentImageRequest,
    SegmentVideoRequest,
    TextPrompt,
    align_gravity_param,
)
from spatial_perception.backends.inputs import check_box, check_frames, check_image, check_points, prompt_position
from spatial_perception.backends.oracle.dataset import (
    ENV_ROOT,
    FORMAT,
    OracleDataset,
    inside,
    load_dataset,
    read_depth,
    read_instances,
    safe_relative,
)
from spatial_perception.errors import BackendUnavailable, BadRequest, Cancelled

_SERVER_KEYS = {"max_frames", "timeout_s"}
_RECON_KEYS = {"dataset", "align_gravity", "conf_threshold"} | _SERVER_KEYS
_IMAGE_KEYS = {"dataset", "frame_index"} | _SERVER_KEYS
_VIDEO_KEYS = {"dataset"} | _SERVER_KEYS
_STOPWORDS = {"a", "an", "the"}


def _tokens(text: str) -> set[str]:
    words = [w for w in re.findall(r"[a-z0-9]+", text.lower()) if w not in _STOPWORDS]
    return {w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w for w in words}


def match_labels(text: str, labels: dict[int, str]) -> list[int]:
    """Instance ids whose label matches ``text`` (module docstring: same text, or word match), ascending."""
    query = text.strip().lower()
    q = _tokens(text)
    out = []
    for inst, name in sorted(labels.items()):
        lab = _tokens(name)
        if name.lower() == query or (q and (q <= lab or (lab and lab <= q))):
            out.append(inst)
    return out


def _bbox(mask: NDArray[np.bool_]) -> tuple[int, int, int, int] | None:
    rows = np.flatnonzero(mask.any(axis=1))
    if not len(rows):
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]), int(rows[-1])


def _box_iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    iw = min(a[2], b[2]) - max(a[0], b[0]) + 1
    ih = min(a[3], b[3]) - max(a[1], b[1]) + 1
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    area = (a[2] - a[0] + 1) * (a[3] - a[1] + 1) + (b[2] - b[0] + 1) * (b[3] - b[1] + 1) - inter
    return inter / float(area)


class OracleBackend(Backend):
    """Ground-truth "perception" from annotated datasets (format ``spatialclaw-oracle/1``, module docstring).

    Args:
        root: the annotation root folder (``--oracle-root``); None reads ``SPATIAL_PERCEPTION_ORACLE_ROOT``.
        options: other constructor options are accepted and ignored.
    """

    name = "oracle"
    version = "1"
    capabilities = frozenset({"reconstruct", "segment_image", "segment_video", "text", "points", "box"})
    device = "cpu"

    def __init__(self, root: str | os.PathLike[str] | None = None, **options: object) -> None:
        env = os.environ.get(ENV_ROOT)
        chosen = root if root is not None else (env or None)
        self.root: Path | None = Path(chosen).expanduser() if chosen is not None else None
        self.options = dict(options)
        self._lock = threading.Lock()
        self._cache: dict[Path, tuple[float, OracleDataset]] = {}

    # -- availability and datasets ---------------------------------------------------------------------------

    def available(self) -> tuple[bool, str | None]:
        if self.root is None:
            return False, (
                f"no annotation root configured; start the server with --oracle-root DIR (or set {ENV_ROOT}) "
                "pointing at a folder of spatialclaw-oracle/1 datasets"
            )
        if not self.root.is_dir():
            return False, f"the oracle root {self.root} is not a folder; pass an existing folder with --oracle-root"
        return True, None

    def _root(self) -> Path:
        ok, reason = self.available()
        if not ok:
            raise BackendUnavailable(f"the oracle backend is not available: {reason}", fix=reason)
        assert self.root is not None
        return self.root.resolve()

    def datasets(self) -> list[str]:
        """Dataset folders (relative to the root) directly under it, and ``"."`` if the root is one itself."""
        root = self._root()
        found = ["."] if (root / "oracle.json").is_file() else []
        found += sorted(p.name for p in root.iterdir() if p.is_dir() and (p / "oracle.json").is_file())
        return found

    def dataset(self, params: dict[str, Any]) -> OracleDataset:
        """Resolve and load ``params["dataset"]`` (module docstring: relative to the root, no traversal).

        Raises:
            BackendUnavailable: no root. BadRequest: bad/absolute/``..`` path, outside the root, no such dataset.
        """
        root = self._root()
        rel = params.get("dataset")
        if rel is None:
            available = self.datasets()
            if len(available) != 1:
                raise BadRequest(
                    f"params.dataset is required: the oracle root has {len(available)} datasets",
                    fix=f"pass params.dataset, one of {available}" if available else f"add a dataset ({FORMAT})",
                )
            rel = available[0]
        safe = safe_relative(rel, "params.dataset")
        folder = inside(root / safe, root, "params.dataset")
        if not (folder / "oracle.json").is_file():
            raise BadRequest(
                f"params.dataset {rel!r} is not a dataset under the oracle root (no oracle.json)",
                fix=f"pass one of {self.datasets()}",
            )
        mtime = (folder / "oracle.json").stat().st_mtime
        with self._lock:
            hit = self._cache.get(folder)
            if hit is not None and hit[0] == mtime:
                return hit[1]
        ds = load_dataset(folder, str(rel))
        with self._lock:
            self._cache[folder] = (mtime, ds)
        return ds

    @staticmethod
    def _check_params(params: dict[str, Any], known: set[str], route: str) -> None:
        unknown = sorted(set(params) - known)
        if unknown:
            raise BadRequest(
                f"unknown params for the oracle backend ({route}): {', '.join(unknown)}",
                fix=f"use only {', '.join(sorted(known - _SERVER_KEYS))}",
            )

    # -- reconstruct -----------------------------------------------------------------------------------------

    def reconstruct(self, req: ReconstructRequest, cancel: threading.Event) -> Reconstruction:
        """Ground-truth depth, poses and intrinsics for the requested frames (module docstring).

        Returns:
            Reconstruction: depth (N, H, W) float32 m, confidence (N, H, W) float32 (1 valid, 0 invalid), points
            (N, H, W, 3) float32 world m (NaN invalid), extrinsics (N, 4, 4) float64 camera-to-world, intrinsics
            (N, 3, 3) float64, colors (N, H, W, 3) uint8 from the request's frames.

        Raises:
            BadRequest: unknown params, unannotated frames, size mismatch, no poses for several frames.
            BackendUnavailable: no annotation root. Cancelled: ``cancel`` was set.
        """
        params = dict(req.params)
        self._check_params(params, _RECON_KEYS, "reconstruct")
        align = align_gravity_param(params)
        conf_thr = params.get("conf_threshold")
        if conf_thr is not None and (isinstance(conf_thr, bool) or not isinstance(conf_thr, (int, float))):
            raise BadRequest(f"params.conf_threshold must be a number, got {conf_thr!r}", fix="e.g. 0.5")
        ds = self.dataset(params)
        frames, indices = check_frames(req.frames, req.frame_indices, "reconstruct")
        ds.require(
            "depth",
            indices,
            fix="request only annotated frames (absolute indices), or use a reconstruction backend (rgbd, da3)",
        )
        notes = [f"ground truth from oracle dataset {ds.name!r} ({FORMAT})"]
        ignored = [k for k in ("depth", "intrinsics") if getattr(req, k) is not None]
        if ds.poses is not None and req.poses is not None:
            ignored.append("poses")
        E = self._poses(ds, req.poses, indices, notes)
        if ignored:
            notes.append(f"the request's {', '.join(ignored)} were ignored: the oracle serves ground truth")
        depth = self._depth(ds, frames, indices, cancel)
        n = len(indices)
        valid = depth > 0
        conf = valid.astype(np.float32)
        keep = valid if conf_thr is None else valid & (conf >= float(conf_thr))
        points = np.stack([backproject(depth[k], ds.K, E[k], valid=keep[k]) for k in range(n)])
        recon = Reconstruction(
            frame_indices=np.asarray(indices, np.int64),
            depth=depth,
            confidence=conf,
            points=points,
            extrinsics=E,
            intrinsics=np.repeat(ds.K[None], n, axis=0),
            colors=np.stack(frames).astype(np.uint8),
            info={"method": "oracle", "dataset": ds.name, "notes": notes},
        )
        return align_if_asked(recon, align, cancel)

    @staticmethod
    def _poses(ds: OracleDataset, given: Any, indices: list[int], notes: list[str]) -> NDArray[np.float64]:
        """(N, 4, 4) camera-to-world poses of ``indices``: the dataset's, else the request's, else identity for
        a single frame (noted in ``notes``).

        Raises:
            BadRequest: request poses of the wrong shape, or several frames and no poses anywhere.
        """
        n = len(indices)
        if ds.poses is not None:
            return np.stack([ds.poses[i] for i in indices]).astype(np.float64)
        if given is not None:
            poses = np.asarray(given, dtype=np.float64)
            if poses.shape != (n, 4, 4):
                raise BadRequest(
                    f"poses must be (N, 4, 4) = ({n}, 4, 4), got {poses.shape}",
                    fix="send one camera-to-world pose per frame",
                )
            notes.append("the dataset has no poses: the request's poses are used")
            return poses.copy()
        if n == 1:
            notes.append("the dataset has no poses: the single frame gets the identity pose")
            return np.eye(4)[None]
        raise BadRequest(
            f"oracle dataset {ds.name!r} has no poses, so several frames cannot be placed in one world",
            fix="send poses (camera-to-world) with the request, or reconstruct one frame at a time",
        )

    @staticmethod
    def _depth(
        ds: OracleDataset, frames: list[NDArray[np.uint8]], indices: list[int], cancel: threading.Event
    ) -> NDArray[np.float32]:
        """(N, H, W) float32 annotated depth in metres (0 = invalid) of ``indices``, the frames' size.

        Raises:
            BadRequest: a frame whose size differs from its depth annotation or from frames[0].
            Cancelled: ``cancel`` was set (checked between frames).
        """
        h, w = frames[0].shape[:2]
        depth = np.zeros((len(indices), h, w), np.float32)
        for k, (idx, frame) in enumerate(zip(indices, frames, strict=True)):
            if cancel.is_set():
                raise Cancelled(f"reconstruct cancelled at frame {idx}")
            path = ds.frames[idx].depth
            assert path is not None
            d = read_depth(ds, path)
            if d.shape != frame.shape[:2] or d.shape != (h, w):
                raise BadRequest(
                    f"frames[{k}] (frame {idx}) is {frame.shape[1]}x{frame.shape[0]} but its depth annotation is "
                    f"{d.shape[1]}x{d.shape[0]}",
                    fix="send the dataset's frames at their original size",
                )
            depth[k] = d
        return depth

    # -- segmentation ----------------------------------------------------------------------------------------

    def _instances(self, ds: OracleDataset, idx: int, shape: tuple[int, int], what: str) -> NDArray[np.int64]:
        fix = "use annotated frames (absolute indices), or a segmentation backend (classical, sam3)"
        ds.require("instances", [idx], fix=fix)
        path = ds.frames[idx].instances
        assert path is not None
        inst = read_instances(ds, path)
        if inst.shape != shape:
            raise BadRequest(
                f"{what} is {shape[1]}x{shape[0]} but the instance annotation of frame {idx} is "
                f"{inst.shape[1]}x{inst.shape[0]}",
                fix="send the dataset's frames at their original size",
            )
        return inst

    def _describe(self, ds: OracleDataset, inst: NDArray[np.int64]) -> str:
        parts = []
        for i in sorted(set(np.unique(inst).tolist()) - {0}):
            box = _bbox(inst == i)
            parts.append(f"{i} {ds.label(i)!r} box {list(box) if box else None}")
        return "; ".join(parts) or "none"

    def _resolve(self, ds: OracleDataset, prompt: Prompt, inst: NDArray[np.int64], idx: int) -> list[int]:
        """Instance ids the prompt refers to on frame ``idx`` (module docstring)."""
        h, w = inst.shape
        if isinstance(prompt, TextPrompt):
            ids = match_labels(prompt.text, ds.labels)
            if not ids:
                names = sorted(set(ds.labels.values()))
                raise BadRequest(
                    f"no label of oracle dataset {ds.name!r} matches the text prompt {prompt.text!r}; labels: {names}",
                    fix=f"prompt with one of the labels: {', '.join(names)}",
                )
            return ids
        if isinstance(prompt, BoxPrompt):
            c0, r0, c1, r1 = check_box(prompt, h, w)
            best, best_iou = 0, 0.0
            for i in sorted(set(np.unique(inst).tolist()) - {0}):
                box = _bbox(inst == i)
                iou = _box_iou((c0, r0, c1, r1), box) if box else 0.0
                if iou > best_iou:
                    best, best_iou = i, iou
            if best == 0:
                raise BadRequest(
                    f"prompt.box {np.asarray(prompt.box).tolist()} overlaps no annotated instance of frame {idx}; "
                    f"instances: {self._describe(ds, inst)}",
                    fix="draw the box around an annotated object, or use a text prompt with its label",
                )
            return [best]
        if isinstance(prompt, PointsPrompt):
            pix, labels = check_points(prompt, h, w)
            fg = {int(inst[r, c]) for (c, r), lab in zip(pix.tolist(), labels.tolist(), strict=True) if lab == 1}
            bg = {int(inst[r, c]) for (c, r), lab in zip(pix.tolist(), labels.tolist(), strict=True) if lab == 0}
            ids = sorted(fg - bg - {0})
            if not ids:
                raise BadRequest(
                    f"no foreground point of the prompt lies on an annotated instance of frame {idx} (or they are "
                    f"cancelled by background points); instances: {self._describe(ds, inst)}",
                    fix="put a foreground point on an annotated object, or use a text prompt with its label",
                )
            return ids
        raise BadRequest(f"unknown prompt type {type(prompt).__name__}", fix="use a text, box or points prompt")

    def segment_image(self, req: SegmentImageRequest, cancel: threading.Event) -> MaskResult:
        """Ground-truth masks of the prompted object(s) on frame ``params.frame_index``.

        Returns:
            MaskResult: masks (1, K, H, W) bool, scores (1, K) float32, frame_indices [frame_index], labels (K).

        Raises:
            BadRequest: unknown params, missing/unannotated frame_index, size mismatch, prompt matching nothing.
            BackendUnavailable: no annotation root.
        """
        params = dict(req.params)
        self._check_params(params, _IMAGE_KEYS, "segment_image")
        ds = self.dataset(params)
        image = check_image(req.image, "image")
        idx = params.get("frame_index")
        if idx is None:
            annotated = ds.indices_with("instances")
            if len(annotated) != 1:
                raise BadRequest(
                    "params.frame_index is required by the oracle backend (which annotated frame the image is)",
                    fix=f"pass params.frame_index, the image's absolute frame index, one of {annotated}",
                )
            idx = annotated[0]
        if isinstance(idx, bool) or not isinstance(idx, int):
            raise BadRequest(f"params.frame_index must be an integer, got {idx!r}", fix="pass the absolute index")
        if cancel.is_set():
            raise Cancelled("segmentation cancelled before it started")
        inst = self._instances(ds, idx, image.shape[:2], "image")
        ids = self._resolve(ds, req.prompt, inst, idx)
        masks = np.stack([inst == i for i in ids])[None]
        return MaskResult(
            masks=masks,
            scores=masks.any(axis=(2, 3)).astype(np.float32),
            frame_indices=np.asarray([idx], np.int64),
            labels=[ds.label(i) for i in ids],
            info=self._seg_info(ds, ids, masks, [idx]),
        )

    def segment_video(self, req: SegmentVideoRequest, cancel: threading.Event) -> MaskResult:
        """Ground-truth masks of the prompted object(s) on every requested frame (track ids = instance ids).

        Returns:
            MaskResult: masks (T, K, H, W) bool, scores (T, K) float32, frame_indices (T,), labels (K).

        Raises:
            BadRequest: unknown params, prompt_frame_index not among frame_indices, unannotated frames, size
            mismatch, prompt matching nothing. BackendUnavailable: no annotation root. Cancelled: cancel was set.
        """
        params = dict(req.params)
        self._check_params(params, _VIDEO_KEYS, "segment_video")
        ds = self.dataset(params)
        frames, indices = check_frames(req.frames, req.frame_indices, "segment_video")
        p = prompt_position(indices, req.prompt_frame_index)
        ds.require("instances", indices, fix="request only annotated frames (absolute indices)")
        maps = []
        for k, (idx, frame) in enumerate(zip(indices, frames, strict=True)):
            if cancel.is_set():
                raise Cancelled(f"segmentation cancelled at frame {idx}")
            maps.append(self._instances(ds, idx, frame.shape[:2], f"frames[{k}]"))
        ids = self._resolve(ds, req.prompt, maps[p], indices[p])
        masks = np.stack([np.stack([m == i for i in ids]) for m in maps])
        return MaskResult(
            masks=masks,
            scores=masks.any(axis=(2, 3)).astype(np.float32),
            frame_indices=np.asarray(indices, np.int64),
            labels=[ds.label(i) for i in ids],
            info=self._seg_info(ds, ids, masks, indices),
        )

    @staticmethod
    def _seg_info(ds: OracleDataset, ids: list[int], masks: NDArray[np.bool_], indices: list[int]) -> dict[str, Any]:
        absent = {
            ds.label(i): [indices[t] for t in range(masks.shape[0]) if not masks[t, k].any()] for k, i in enumerate(ids)
        }
        notes = [f"ground truth from oracle dataset {ds.name!r} ({FORMAT})"]
        for name, where in absent.items():
            if where:
                notes.append(f"{name!r} is not visible in frames {where} (empty mask, score 0)")
        return {"method": "oracle", "dataset": ds.name, "track_ids": ids, "instance_ids": ids, "notes": notes}
