"""RGB-D sample folders: colour frames, metric depth, intrinsics and optional camera-to-world poses.

A sample folder holds a ``sample.json`` manifest (format ``spatialclaw-rgbd/1``, see docs/data-formats.md)::

    {
      "format": "spatialclaw-rgbd/1",
      "color": ["color/1.png", ...],            # 8-bit RGB/BGR images, any format OpenCV reads
      "depth": ["depth/1.pgm", ...],            # 16-bit depth images, same size as colour
      "depth_scale": 1000.0,                    # raw depth units per metre (1000 = millimetres)
      "intrinsics": {"fx": ..., "fy": ..., "cx": ..., "cy": ...},
      "poses": {"file": "pose.txt", "format": "tum", "convention": "camera_to_world"},   # optional
      "frame_indices": [0, 1, ...]              # optional; absolute indices in the source sequence
    }

Images are decoded with OpenCV (``cv2.imread`` with ``IMREAD_UNCHANGED`` for depth); the TUM pose file with
:func:`spatial_common.poses.read_tum_poses`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray
from spatial_common.poses import PoseFileError, read_tum_poses

MANIFEST = "sample.json"
FORMAT = "spatialclaw-rgbd/1"


@dataclass(frozen=True)
class RGBDSample:
    """A loaded RGB-D sample.

    Attributes:
        root: the sample folder.
        color: (N, H, W, 3) uint8 RGB frames.
        depth: (N, H, W) float32 depth in metres, 0 = invalid.
        K: (3, 3) float64 pinhole intrinsics in pixels.
        poses: (N, 4, 4) float64 camera-to-world extrinsics in OpenCV axes (metres), or None.
        frame_indices: (N,) int64 absolute frame indices in the source sequence.
    """

    root: Path
    color: NDArray[np.uint8]
    depth: NDArray[np.float32]
    K: NDArray[np.float64]
    poses: NDArray[np.float64] | None
    frame_indices: NDArray[np.int64]

    @property
    def num_frames(self) -> int:
        return int(self.color.shape[0])


class SampleError(ValueError):
    """A sample folder or its manifest is malformed; the message names the file and the fix."""


def _read_image(path: Path, flags: int) -> np.ndarray:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: listed in {MANIFEST} but missing; fix the path or restore the file")
    img = cv2.imread(str(path), flags)
    if img is None:
        raise SampleError(f"{path}: OpenCV could not decode this image; is it a valid PNG/JPEG/PGM file?")
    return img


def _load_tum_poses(path: Path, n: int) -> NDArray[np.float64]:
    """(n, 4, 4) float64 camera-to-world poses from a TUM file, one ``[timestamp] tx ty tz qx qy qz qw`` line per
    frame; raises FileNotFoundError (missing file) or SampleError (unreadable, malformed line, not n poses)."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: pose file named in {MANIFEST} is missing")
    try:
        poses = read_tum_poses(path)
    except PoseFileError as e:
        raise SampleError(str(e)) from e
    if len(poses) != n:
        raise SampleError(f"{path}: {len(poses)} poses for {n} frames; the pose file needs one line per frame")
    return poses


def load_rgbd_sample(folder: str | Path) -> RGBDSample:
    """Load an RGB-D sample folder described by its ``sample.json`` manifest.

    Args:
        folder: path to the sample folder.

    Returns:
        The :class:`RGBDSample`, fully decoded in memory.

    Raises:
        FileNotFoundError: the folder, its manifest or a listed file does not exist.
        SampleError: the manifest is invalid, an image cannot be decoded, or shapes disagree.
    """
    root = Path(folder)
    manifest_path = root / MANIFEST
    if not manifest_path.is_file():
        raise FileNotFoundError(
            f"{manifest_path}: no {MANIFEST}; an RGB-D sample folder needs one (docs/data-formats.md)"
        )
    try:
        m = json.loads(manifest_path.read_text())
    except json.JSONDecodeError as e:
        raise SampleError(f"{manifest_path}: not valid JSON ({e})") from e
    if m.get("format") != FORMAT:
        raise SampleError(f"{manifest_path}: format must be {FORMAT!r}, got {m.get('format')!r}")
    color_files, depth_files = m.get("color") or [], m.get("depth") or []
    if not color_files or len(color_files) != len(depth_files):
        raise SampleError(
            f"{manifest_path}: 'color' and 'depth' must be non-empty lists of equal length "
            f"(got {len(color_files)} and {len(depth_files)})"
        )
    try:
        intr = m["intrinsics"]
        K = np.array([[intr["fx"], 0, intr["cx"]], [0, intr["fy"], intr["cy"]], [0, 0, 1]], dtype=np.float64)
    except (KeyError, TypeError) as e:
        raise SampleError(f"{manifest_path}: 'intrinsics' needs fx, fy, cx, cy in pixels (missing {e})") from e
    scale = float(m.get("depth_scale", 1000.0))
    if scale <= 0:
        raise SampleError(f"{manifest_path}: depth_scale must be positive (raw units per metre), got {scale}")

    colors, depths = [], []
    for cf, df in zip(color_files, depth_files, strict=True):
        bgr = _read_image(root / cf, cv2.IMREAD_COLOR)
        raw = _read_image(root / df, cv2.IMREAD_UNCHANGED)
        if raw.ndim != 2 or raw.dtype not in (np.uint16, np.float32):
            raise SampleError(
                f"{root / df}: depth must be a single-channel 16-bit or float image, got {raw.dtype} {raw.shape}"
            )
        if raw.shape != bgr.shape[:2]:
            raise SampleError(f"{root / df}: depth is {raw.shape[::-1]} but colour {cf} is {bgr.shape[1::-1]} (W, H)")
        colors.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
        depths.append(raw.astype(np.float32) / np.float32(scale))
    shapes = {c.shape for c in colors}
    if len(shapes) != 1:
        raise SampleError(f"{manifest_path}: all frames must have the same size, got {sorted(shapes)}")

    n = len(colors)
    poses = None
    if m.get("poses"):
        spec = m["poses"]
        if spec.get("format") != "tum" or spec.get("convention") != "camera_to_world":
            raise SampleError(f"{manifest_path}: poses must be format 'tum' with convention 'camera_to_world'")
        poses = _load_tum_poses(root / spec["file"], n)
    idx = np.asarray(m.get("frame_indices", list(range(n))), dtype=np.int64)
    if idx.shape != (n,):
        raise SampleError(f"{manifest_path}: frame_indices has {idx.size} entries for {n} frames")
    return RGBDSample(root=root, color=np.stack(colors), depth=np.stack(depths), K=K, poses=poses, frame_indices=idx)
