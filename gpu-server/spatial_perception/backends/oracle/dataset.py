"""Oracle datasets (format ``spatialclaw-oracle/1``, see :mod:`spatial_perception.backends.oracle`): parsing
``oracle.json``, keeping every path inside the annotation root, and reading depth and instance maps.

Errors in a dataset raise :class:`~spatial_perception.errors.BadRequest` naming the dataset's ``oracle.json``
and what to fix there.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray
from spatial_common.poses import PoseFileError, read_tum_poses

from spatial_perception.errors import BadRequest

FORMAT = "spatialclaw-oracle/1"
ENV_ROOT = "SPATIAL_PERCEPTION_ORACLE_ROOT"
_TOP_KEYS = {"format", "name", "source", "intrinsics", "depth_scale", "frames", "poses", "labels"}


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

    def require(self, kind: str, indices: list[int], fix: str) -> None:
        """Check that every frame of ``indices`` has a ``kind`` (``"depth"`` or ``"instances"``) annotation.

        Raises:
            BadRequest: naming the frames without one and the annotated frame indices.
        """
        annotated = self.indices_with(kind)
        missing = [i for i in indices if i not in annotated]
        if missing:
            what = "depth" if kind == "depth" else "instance"
            raise BadRequest(
                f"frames {missing} have no {what} annotation in oracle dataset {self.name!r}; annotated frame "
                f"indices: {annotated}",
                fix=fix,
            )


def _bad_dataset(msg: str, folder: Path) -> BadRequest:
    return BadRequest(
        f"oracle dataset {folder}: {msg}",
        fix=f"fix {folder / 'oracle.json'} (format {FORMAT}, described in the docstring of "
        "spatial_perception.backends.oracle)",
    )


def safe_relative(rel: Any, what: str) -> PurePosixPath:
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


def inside(path: Path, folder: Path, what: str) -> Path:
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
        safe = safe_relative(rel, what)
    except BadRequest as exc:
        raise _bad_dataset(exc.message, folder) from None
    path = inside(folder / safe, folder, what)
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
    """The (4, 4) camera-to-world pose of each listed frame: one TUM line per frame, in ascending index order."""
    try:
        poses = read_tum_poses(path)
    except PoseFileError as exc:
        raise _bad_dataset(str(exc), folder) from None
    if len(poses) != len(indices):
        raise _bad_dataset(
            f"{path.name} has {len(poses)} poses but 'frames' lists {len(indices)} frames (one pose per frame, in "
            "ascending frame-index order)",
            folder,
        )
    return dict(zip(indices, poses, strict=True))


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
