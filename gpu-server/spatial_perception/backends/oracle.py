"""The ``oracle`` backend: serves the ground truth a dataset supplies, for perception-vs-reasoning ablations.

It answers the same routes as the perception backends (reconstruct, segment image/video, with text, box and point
prompts), but instead of estimating anything it reads annotations: ground-truth depth, camera poses, intrinsics and
instance masks with label names. Swapping a real backend for the oracle isolates the agent's reasoning errors from
its perception errors.

Annotation root
    The backend is built with ``root`` (the server's ``--oracle-root DIR``), or reads the environment variable
    ``SPATIAL_PERCEPTION_ORACLE_ROOT`` when ``root`` is None. Without a root, :meth:`OracleBackend.available`
    returns False with a reason naming ``--oracle-root``. Every request names a dataset folder *relative* to the
    root in ``params["dataset"]`` (absolute paths and ``..`` are rejected, and so is any path that resolves outside
    the root, e.g. through a symlink). When ``dataset`` is omitted, the root itself is used if it holds an
    ``oracle.json``, else the only dataset folder directly under it, if there is exactly one.

Annotation format ``spatialclaw-oracle/1``
    A dataset is a folder with ``oracle.json``::

        {
          "format": "spatialclaw-oracle/1",
          "name": "optional display name",
          "source": "optional provenance text",
          "intrinsics": {"fx": 518.0, "fy": 519.0, "cx": 325.5, "cy": 253.5},
          "depth_scale": 1000,
          "frames": {
            "0": {"depth": "depth/0.png", "instances": "instances/0.png"},
            "7": {"depth": "depth/7.png", "instances": null}
          },
          "poses": "pose.txt",
          "labels": {"1": "dining table", "2": "armchair"}
        }

    * ``intrinsics``: pinhole parameters in pixels (docs/conventions.md), shared by all frames; no distortion.
    * ``frames``: keyed by the **absolute** frame index (decimal string) of the source video/sequence. ``depth``
      and ``instances`` are paths relative to the dataset folder (no ``..``, not absolute), or null.
    * depth file: a single-channel 16-bit (or 8-bit) PNG/PGM whose value divided by ``depth_scale`` is the depth
      in metres along the camera z axis (0 = invalid); or a ``.npy`` float array already in metres (``depth_scale``
      is not applied; NaN or <= 0 = invalid).
    * instance file: a single-channel 8- or 16-bit PNG (or an integer ``.npy``) of the frame's size, each pixel
      holding an instance id, 0 = no instance. Ids are consistent across frames (they are the track ids).
    * ``poses``: a text file with one line per entry of ``frames``, in ascending frame-index order:
      ``tx ty tz qx qy qz qw`` (TUM order, scalar-last quaternion) or with a leading timestamp
      (``t tx ty tz qx qy qz qw``), giving the **camera-to-world** pose (OpenCV camera axes, metres); blank lines and
      lines starting with ``#`` are skipped. null when the dataset has no poses (then reconstruct needs the request's
      ``poses``, or a single frame, which gets the identity).
    * ``labels``: instance id (decimal string) -> object name. An id without a name is called ``"instance <id>"``.

Reconstruct (``params``: ``dataset``, ``align_gravity`` (bool, default true), ``conf_threshold`` (number, optional),
``max_frames``/``timeout_s`` (server keys, accepted)):
    For each requested absolute frame index the annotated depth is loaded (a frame without a depth annotation is a
    ``bad_request`` listing the annotated indices); the request's frames only provide ``colors`` and must have the
    annotation's size. Depth, confidence (1 where the depth is valid, else 0), intrinsics (the annotation's, per
    frame) and extrinsics (the annotated poses) are returned; points are the depth pixels lifted with the
    intrinsics and moved by the pose (NaN where invalid, and where confidence < ``conf_threshold``). The request's
    ``depth``, ``intrinsics`` and ``poses`` are ignored (noted in ``info.notes``), except ``poses`` when the dataset
    has none. With ``align_gravity`` the result goes through
    :func:`spatial_perception.backends.alignment.align_to_gravity`; ``info.alignment`` records it. Relative poses
    ``inv(E0) @ Ei`` are then unchanged (the alignment is one rigid transform of the world).

Segmentation (``params``: ``dataset``, and for ``segment_image`` ``frame_index`` = the absolute index of the image,
required unless exactly one frame has instances):
    * text prompt: case-insensitive match of the prompt against the label names: the same text, or a word match
      (every word of the prompt is a word of the label, or every word of the label is a word of the prompt; words
      are lower-case alphanumeric runs, "a"/"an"/"the" are dropped, a plural "s" is ignored), so "table" and
      "the tables" match "dining table". Every matching instance is one object (K objects, ascending id); no match is
      a ``bad_request`` listing the labels. ``threshold`` is ignored.
    * box prompt: the instance whose bounding box in that frame has the highest IoU with the box (ties: lower id);
      none overlapping is a ``bad_request`` listing the instances' boxes.
    * points prompt: the instances under the foreground points, minus those under background points.
    * ``segment_video``: the prompt is resolved on the frame ``prompt_frame_index`` (text prompts on the labels), and
      every requested frame must have an instance annotation; the track ids are the instance ids
      (``info.track_ids``).
    * masks are ``instance_map == id`` (bool); scores 1.0 where the mask is non-empty, 0.0 where the object is not
      visible in that frame; labels are the GT names.
"""

from __future__ import annotations

import json
import math
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray
from scipy.spatial.transform import Rotation

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
)
from spatial_perception.backends.classical import check_box, check_image, check_points
from spatial_perception.errors import BackendUnavailable, BadRequest, Cancelled

FORMAT = "spatialclaw-oracle/1"
ENV_ROOT = "SPATIAL_PERCEPTION_ORACLE_ROOT"
_TOP_KEYS = {"format", "name", "source", "intrinsics", "depth_scale", "frames", "poses", "labels"}
_SERVER_KEYS = {"max_frames", "timeout_s"}
_RECON_KEYS = {"dataset", "align_gravity", "conf_threshold"} | _SERVER_KEYS
_IMAGE_KEYS = {"dataset", "frame_index"} | _SERVER_KEYS
_VIDEO_KEYS = {"dataset"} | _SERVER_KEYS
_STOPWORDS = {"a", "an", "the"}


@dataclass(frozen=True)
class FrameAnnotation:
    depth: Path | None
    instances: Path | None


@dataclass(frozen=True)
class OracleDataset:
    """A parsed ``oracle.json``.

    Attributes:
        name: the dataset path relative to the root (as requested), or its display name.
        folder: absolute dataset folder.
        K: (3, 3) float64 intrinsics, pixels.
        depth_scale: raw depth units per metre (integer depth images).
        frames: absolute frame index -> files.
        poses: absolute frame index -> (4, 4) float64 camera-to-world, or None.
        labels: instance id -> name.
    """

    name: str
    folder: Path
    K: NDArray[np.float64]
    depth_scale: float
    frames: dict[int, FrameAnnotation]
    poses: dict[int, NDArray[np.float64]] | None
    labels: dict[int, str]

    def label(self, inst: int) -> str:
        return self.labels.get(inst, f"instance {inst}")

    def indices_with(self, kind: str) -> list[int]:
        return sorted(i for i, f in self.frames.items() if getattr(f, kind) is not None)


def _bad_dataset(msg: str, folder: Path) -> BadRequest:
    return BadRequest(
        f"oracle dataset {folder}: {msg}",
        fix=f"fix {folder / 'oracle.json'} (format {FORMAT}, see spatial_perception/backends/oracle.py)",
    )


def _safe_relative(rel: Any, what: str) -> PurePosixPath:
    """Check that ``rel`` is a non-empty relative path without ``..`` (path traversal) and return it."""
    if not isinstance(rel, str) or not rel.strip():
        raise BadRequest(f"{what} must be a non-empty relative path, got {rel!r}", fix="name a folder/file by path")
    posix, win = PurePosixPath(rel), PureWindowsPath(rel)
    if posix.is_absolute() or win.is_absolute() or win.drive or rel.startswith(("/", "\\")):
        raise BadRequest(
            f"{what} {rel!r} is an absolute path; only paths relative to the oracle root are allowed",
            fix="pass the dataset folder relative to --oracle-root, e.g. 'oracle_room'",
        )
    if ".." in posix.parts or ".." in win.parts:
        raise BadRequest(
            f"{what} {rel!r} contains '..' (path traversal is not allowed)",
            fix="pass a folder inside the oracle root, without '..'",
        )
    return PurePosixPath(*[p for p in win.parts if p not in ("", ".")] or ["."])


def _inside(path: Path, folder: Path, what: str) -> Path:
    resolved = path.resolve()
    if not resolved.is_relative_to(folder.resolve()):
        raise BadRequest(
            f"{what} resolves to {resolved}, outside {folder.resolve()} (path traversal is not allowed)",
            fix="keep datasets and their files inside the oracle root (no symlinks leading out)",
        )
    return resolved


def _file_ref(folder: Path, rel: Any, what: str) -> Path | None:
    if rel is None:
        return None
    try:
        safe = _safe_relative(rel, what)
    except BadRequest as exc:
        raise _bad_dataset(exc.message, folder) from None
    path = _inside(folder / safe, folder, what)
    if not path.is_file():
        raise _bad_dataset(f"{what} {rel!r} does not exist", folder)
    return path


def _number(value: Any, what: str, folder: Path, positive: bool = True) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _bad_dataset(f"{what} must be a finite number, got {value!r}", folder)
    if positive and value <= 0:
        raise _bad_dataset(f"{what} must be > 0, got {value!r}", folder)
    return float(value)


def _parse_poses(path: Path, indices: list[int], folder: Path) -> dict[int, NDArray[np.float64]]:
    rows = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            vals = [float(v) for v in line.split()]
        except ValueError:
            raise _bad_dataset(f"{path.name} line {n}: not numbers: {line!r}", folder) from None
        if len(vals) not in (7, 8):
            raise _bad_dataset(
                f"{path.name} line {n}: expected 7 values (tx ty tz qx qy qz qw), got {len(vals)}", folder
            )
        rows.append(vals[-7:])
    if len(rows) != len(indices):
        raise _bad_dataset(
            f"{path.name} has {len(rows)} poses but 'frames' lists {len(indices)} frames (one pose per frame, in "
            "ascending frame-index order)",
            folder,
        )
    poses = {}
    for idx, (tx, ty, tz, qx, qy, qz, qw) in zip(indices, rows, strict=True):
        q = np.array([qx, qy, qz, qw])
        if not np.all(np.isfinite(q)) or np.linalg.norm(q) < 1e-6:
            raise _bad_dataset(f"{path.name}: the quaternion of frame {idx} is zero or not finite", folder)
        T = np.eye(4)
        T[:3, :3] = Rotation.from_quat(q / np.linalg.norm(q)).as_matrix()
        T[:3, 3] = (tx, ty, tz)
        poses[idx] = T
    return poses


def load_dataset(folder: Path, name: str) -> OracleDataset:
    """Parse and check ``folder/oracle.json`` (format ``spatialclaw-oracle/1``, module docstring).

    Raises:
        BadRequest: missing or malformed ``oracle.json``, paths leaving the folder, missing files, bad poses.
    """
    meta_path = folder / "oracle.json"
    if not meta_path.is_file():
        raise BadRequest(f"oracle dataset {name!r} has no oracle.json ({meta_path})", fix=f"write one ({FORMAT})")
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _bad_dataset(f"oracle.json is not valid JSON: {exc}", folder) from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        got = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
        raise _bad_dataset(f"'format' must be {FORMAT!r}, got {got!r}", folder)
    unknown = sorted(set(meta) - _TOP_KEYS)
    if unknown:
        raise _bad_dataset(f"unknown keys {unknown}; known: {sorted(_TOP_KEYS)}", folder)
    intr = meta.get("intrinsics")
    if not isinstance(intr, dict) or set(intr) != {"fx", "fy", "cx", "cy"}:
        raise _bad_dataset("'intrinsics' must be {fx, fy, cx, cy} (pixels)", folder)
    fx, fy = _number(intr["fx"], "intrinsics.fx", folder), _number(intr["fy"], "intrinsics.fy", folder)
    cx = _number(intr["cx"], "intrinsics.cx", folder, positive=False)
    cy = _number(intr["cy"], "intrinsics.cy", folder, positive=False)
    K = np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])
    depth_scale = _number(meta.get("depth_scale", 1000), "depth_scale", folder)
    raw_frames = meta.get("frames")
    if not isinstance(raw_frames, dict) or not raw_frames:
        raise _bad_dataset("'frames' must be a non-empty map {absolute frame index: {depth, instances}}", folder)
    frames: dict[int, FrameAnnotation] = {}
    for key, entry in raw_frames.items():
        if not re.fullmatch(r"\d+", str(key)):
            raise _bad_dataset(f"frame key {key!r} is not an absolute frame index (a non-negative integer)", folder)
        if not isinstance(entry, dict) or not set(entry) <= {"depth", "instances"}:
            raise _bad_dataset(f"frames[{key!r}] must be {{'depth': path | null, 'instances': path | null}}", folder)
        frames[int(key)] = FrameAnnotation(
            depth=_file_ref(folder, entry.get("depth"), f"frames[{key!r}].depth"),
            instances=_file_ref(folder, entry.get("instances"), f"frames[{key!r}].instances"),
        )
    poses_ref = _file_ref(folder, meta.get("poses"), "poses")
    poses = _parse_poses(poses_ref, sorted(frames), folder) if poses_ref is not None else None
    raw_labels = meta.get("labels") or {}
    if not isinstance(raw_labels, dict):
        raise _bad_dataset("'labels' must be a map {instance id: name}", folder)
    labels = {}
    for key, val in raw_labels.items():
        if not re.fullmatch(r"\d+", str(key)) or int(key) == 0 or not isinstance(val, str) or not val.strip():
            raise _bad_dataset(f"labels[{key!r}] must map a positive instance id to a non-empty name", folder)
        labels[int(key)] = val.strip()
    return OracleDataset(
        name=name, folder=folder, K=K, depth_scale=depth_scale, frames=frames, poses=poses, labels=labels
    )


def _read_array(path: Path) -> np.ndarray:
    if path.suffix.lower() == ".npy":
        return np.load(path, allow_pickle=False)
    arr = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if arr is None:
        raise BadRequest(f"cannot read {path}", fix="store depth/instances as PNG/PGM or .npy")
    return arr


def read_depth(ds: OracleDataset, path: Path) -> NDArray[np.float32]:
    """(H, W) float32 metres, 0 = invalid."""
    raw = _read_array(path)
    if raw.ndim != 2:
        raise _bad_dataset(f"depth file {path.name} must be single-channel, got shape {raw.shape}", ds.folder)
    if np.issubdtype(raw.dtype, np.integer):
        depth = raw.astype(np.float32) / np.float32(ds.depth_scale)
    else:
        depth = raw.astype(np.float32)
    depth[~np.isfinite(depth) | (depth <= 0)] = 0.0
    return depth


def read_instances(ds: OracleDataset, path: Path) -> NDArray[np.int64]:
    """(H, W) int64 instance ids, 0 = none."""
    raw = _read_array(path)
    if raw.ndim != 2 or not np.issubdtype(raw.dtype, np.integer):
        raise _bad_dataset(
            f"instance file {path.name} must be a single-channel integer image, got {raw.shape} {raw.dtype}",
            ds.folder,
        )
    return raw.astype(np.int64)


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
        safe = _safe_relative(rel, "params.dataset")
        folder = _inside(root / safe, root, "params.dataset")
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
        align = params.get("align_gravity", True)
        if not isinstance(align, bool):
            raise BadRequest(f"params.align_gravity must be true or false, got {align!r}", fix="send a bool")
        conf_thr = params.get("conf_threshold")
        if conf_thr is not None and (isinstance(conf_thr, bool) or not isinstance(conf_thr, (int, float))):
            raise BadRequest(f"params.conf_threshold must be a number, got {conf_thr!r}", fix="e.g. 0.5")
        ds = self.dataset(params)
        frames = [check_image(f, f"frames[{i}]") for i, f in enumerate(req.frames)]
        indices = [int(i) for i in req.frame_indices]
        if not frames or len(indices) != len(frames):
            raise BadRequest(
                f"reconstruct needs one absolute frame index per frame, got {len(frames)} frames and {len(indices)} "
                "indices",
                fix="send frames with their frame_indices",
            )
        annotated = ds.indices_with("depth")
        missing = [i for i in indices if i not in annotated]
        if missing:
            raise BadRequest(
                f"frames {missing} have no depth annotation in oracle dataset {ds.name!r}; annotated frame indices: "
                f"{annotated}",
                fix="request only annotated frames (absolute indices), or use a reconstruction backend (rgbd, da3)",
            )
        notes = [f"ground truth from oracle dataset {ds.name!r} ({FORMAT})"]
        ignored = [k for k in ("depth", "intrinsics") if getattr(req, k) is not None]
        poses = ds.poses
        if poses is None:
            if req.poses is not None:
                given = np.asarray(req.poses, dtype=np.float64)
                if given.shape != (len(indices), 4, 4):
                    raise BadRequest(
                        f"poses must be (N, 4, 4) = ({len(indices)}, 4, 4), got {given.shape}",
                        fix="send one camera-to-world pose per frame",
                    )
                poses = dict(zip(indices, given, strict=True))
                notes.append("the dataset has no poses: the request's poses are used")
            elif len(indices) == 1:
                poses = {indices[0]: np.eye(4)}
                notes.append("the dataset has no poses: the single frame gets the identity pose")
            else:
                raise BadRequest(
                    f"oracle dataset {ds.name!r} has no poses, so several frames cannot be placed in one world",
                    fix="send poses (camera-to-world) with the request, or reconstruct one frame at a time",
                )
        elif req.poses is not None:
            ignored.append("poses")
        if ignored:
            notes.append(f"the request's {', '.join(ignored)} were ignored: the oracle serves ground truth")
        n = len(indices)
        h, w = frames[0].shape[:2]
        depth = np.zeros((n, h, w), np.float32)
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
        K = ds.K
        E = np.stack([poses[i] for i in indices]).astype(np.float64)
        valid = depth > 0
        conf = valid.astype(np.float32)
        v, u = np.mgrid[0:h, 0:w].astype(np.float64)
        points = np.full((n, h, w, 3), np.nan, np.float32)
        keep = valid if conf_thr is None else valid & (conf >= float(conf_thr))
        for k in range(n):
            z = depth[k].astype(np.float64)
            cam = np.stack([(u - K[0, 2]) * z / K[0, 0], (v - K[1, 2]) * z / K[1, 1], z], axis=-1)
            world = cam @ E[k, :3, :3].T + E[k, :3, 3]
            points[k][keep[k]] = world[keep[k]].astype(np.float32)
        recon = Reconstruction(
            frame_indices=np.asarray(indices, np.int64),
            depth=depth,
            confidence=conf,
            points=points,
            extrinsics=E,
            intrinsics=np.repeat(K[None], n, axis=0),
            colors=np.stack(frames).astype(np.uint8),
            info={"method": "oracle", "dataset": ds.name, "notes": notes},
        )
        if align:
            from spatial_perception.backends.alignment import align_to_gravity  # lazy: shared module

            recon, alignment = align_to_gravity(recon)
            recon.info["alignment"] = alignment
        return recon

    # -- segmentation ----------------------------------------------------------------------------------------

    def _instances(self, ds: OracleDataset, idx: int, shape: tuple[int, int], what: str) -> NDArray[np.int64]:
        annotated = ds.indices_with("instances")
        if idx not in annotated:
            raise BadRequest(
                f"frame {idx} has no instance annotation in oracle dataset {ds.name!r}; annotated frame indices: "
                f"{annotated}",
                fix="use annotated frames (absolute indices), or a segmentation backend (classical, sam3)",
            )
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
        frames = [check_image(f, f"frames[{i}]") for i, f in enumerate(req.frames)]
        indices = [int(i) for i in req.frame_indices]
        if not frames or len(indices) != len(frames):
            raise BadRequest(
                f"segment_video needs one absolute frame index per frame, got {len(frames)} frames and "
                f"{len(indices)} indices",
                fix="send frames with their frame_indices",
            )
        if int(req.prompt_frame_index) not in indices:
            raise BadRequest(
                f"prompt_frame_index {req.prompt_frame_index} is not among frame_indices {indices}",
                fix="pass the absolute index of the frame the prompt was drawn on, and include that frame",
            )
        annotated = ds.indices_with("instances")
        missing = [i for i in indices if i not in annotated]
        if missing:
            raise BadRequest(
                f"frames {missing} have no instance annotation in oracle dataset {ds.name!r}; annotated frame "
                f"indices: {annotated}",
                fix="request only annotated frames (absolute indices)",
            )
        maps = []
        for k, (idx, frame) in enumerate(zip(indices, frames, strict=True)):
            if cancel.is_set():
                raise Cancelled(f"segmentation cancelled at frame {idx}")
            maps.append(self._instances(ds, idx, frame.shape[:2], f"frames[{k}]"))
        p = indices.index(int(req.prompt_frame_index))
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
