"""The RGB-D inputs: ``rgbd`` (folders of colour and registered 16-bit depth images, a camera JSON, optional TUM
poses) and ``rgbd_sample`` (a sample folder with ``sample.json``, docs/data-formats.md).

Depth is read with OpenCV (``cv2.imread(..., IMREAD_UNCHANGED)``) and converted to float32 metres
(raw / depth_scale, 0 = invalid); colour and depth frames pair by sorted file name, with frame indices 0..N-1.
Poses are (4, 4) camera-to-world matrices (OpenCV camera axes, metres), one TUM line per frame
(:func:`spatial_common.poses.read_tum_poses`). Sample folders are loaded eagerly with
:func:`spatial_runtime.rgbd.load_rgbd_sample` (samples are small).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray
from PIL import Image
from spatial_common.poses import PoseFileError, read_tum_poses

from spatial_runtime.inputs.camera import read_camera
from spatial_runtime.inputs.common import InputError, common_size, list_images, spec_path
from spatial_runtime.inputs.frames import InputImages, Metadata
from spatial_runtime.inputs.images import ImageFilesSource, image_sizes
from spatial_runtime.inputs.sizing import Sizing
from spatial_runtime.inputs.source import FrameSource, bind, still_metadata
from spatial_runtime.rgbd import MANIFEST, SampleError, load_rgbd_sample

__all__ = ["RGBDFilesSource", "SampleSource", "read_poses", "rgbd_input", "rgbd_sample_input"]


class RGBDFilesSource(ImageFilesSource):
    """Colour image files plus registered 16-bit depth image files (OpenCV) and optional poses."""

    kind = "rgbd"

    def __init__(self, files: list[Path], depth_files: list[Path], depth_scale: float, **kw: Any) -> None:
        super().__init__(files, exif=False, has_depth=True, **kw)
        self.depth_files = depth_files
        self.depth_scale = depth_scale

    def _load_depth(self, pos: int) -> NDArray[np.float32]:
        path = self.depth_files[pos]
        raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if raw is None:
            raise InputError(f"{path}: OpenCV could not decode this depth image; replace it with a 16-bit PNG/PGM")
        if raw.ndim != 2 or raw.dtype not in (np.uint16, np.float32):
            raise InputError(
                f"{path}: depth must be a single-channel 16-bit (or float32) image, got {raw.dtype} with shape "
                f"{raw.shape}; save depth as 16-bit PNG/PGM in raw units (metres = raw / depth_scale)"
            )
        metres = raw.astype(np.float32) / np.float32(self.depth_scale)
        metres[~np.isfinite(metres) | (metres < 0)] = 0.0
        return self._resize_depth(metres, pos, path)


class SampleSource(FrameSource):
    """An RGB-D sample folder loaded eagerly by :func:`spatial_runtime.rgbd.load_rgbd_sample` (samples are small)."""

    kind = "rgbd_sample"

    def __init__(self, color: NDArray[np.uint8], depth: NDArray[np.float32], manifest: Path, **kw: Any) -> None:
        super().__init__(has_depth=True, **kw)
        self._color = color
        self._depth_arrays = depth
        self.manifest = manifest

    def _load(self, pos: int) -> None:
        self._store(pos, Image.fromarray(self._color[pos]))

    def _load_depth(self, pos: int) -> NDArray[np.float32]:
        return self._resize_depth(self._depth_arrays[pos].astype(np.float32), pos, self.manifest)


def read_poses(path: Path, n: int) -> NDArray[np.float64]:
    """Read a TUM-order poses file: one ``[timestamp] tx ty tz qx qy qz qw`` camera-to-world line per frame.

    Returns:
        (n, 4, 4) float64 camera-to-world matrices, in frame order.

    Raises:
        InputError: an unreadable file, a malformed line (the message names the line), or not ``n`` poses.
    """
    try:
        poses = read_tum_poses(path)
    except PoseFileError as e:
        raise InputError(str(e)) from e
    if len(poses) != n:
        raise InputError(
            f"{path}: {len(poses)} poses for {n} frames; the poses file needs exactly one line per frame, in the "
            "order of the sorted colour file names"
        )
    return poses


def rgbd_input(spec: Mapping[str, Any], sizing: Sizing) -> tuple[InputImages, Metadata]:
    """``(InputImages, Metadata)`` of an ``{"kind": "rgbd", "path", "depth", "camera", "poses"?}`` spec."""
    color_dir = spec_path(spec, "path", "colour images", folder=True)
    depth_dir = spec_path(spec, "depth", "depth images", folder=True)
    camera_path = spec_path(spec, "camera", "camera JSON", folder=False)
    color_files = list_images(color_dir, "colour")
    depth_files = list_images(depth_dir, "depth")
    if len(color_files) != len(depth_files):
        raise InputError(
            f"{depth_dir}: {len(depth_files)} depth images for {len(color_files)} colour images in {color_dir}; "
            "each colour frame needs exactly one depth image (matched by sorted file name)"
        )
    cam = read_camera(camera_path)
    color_sizes = image_sizes(color_files, "colour", exif=False)
    depth_sizes = image_sizes(depth_files, "depth", exif=False)
    for cf, df, cs, ds in zip(color_files, depth_files, color_sizes, depth_sizes, strict=True):
        if cs != ds:
            raise InputError(
                f"{df}: depth is {ds[0]}x{ds[1]} but colour {cf.name} is {cs[0]}x{cs[1]} (W x H); depth must be "
                "registered to the colour image at the same size"
            )
    size = common_size(color_sizes)
    if size is None:
        raise InputError(
            f"{color_dir}: colour images differ in size ({sorted(set(color_sizes))}); one camera needs one size"
        )
    for k, actual in (("width", size[0]), ("height", size[1])):
        if cam[k] is not None and cam[k] != actual:
            raise InputError(
                f"{camera_path}: {k} is {cam[k]} but the colour images are {size[0]}x{size[1]}; the intrinsics must "
                f"describe these images (fix {k}, or rescale the intrinsics)"
            )
    n = len(color_files)
    poses_value = spec.get("poses")
    poses = None
    if poses_value:
        poses = read_poses(spec_path(spec, "poses", "poses file", folder=False), n)
    source = RGBDFilesSource(
        color_files,
        depth_files,
        cam["depth_scale"],
        label=f"rgbd {color_dir.name}",
        frame_indices=list(range(n)),
        timestamps=None,
        original_sizes=color_sizes,
        sizing=sizing,
        poses=poses,
    )
    intrinsics = sizing.intrinsics(cam, size)
    sources = [str(f) for f in color_files]
    return bind(source, still_metadata("rgbd", source, color_dir, sources, size, intrinsics=intrinsics))


def rgbd_sample_input(spec: Mapping[str, Any], sizing: Sizing) -> tuple[InputImages, Metadata]:
    """``(InputImages, Metadata)`` of an ``{"kind": "rgbd_sample", "path"}`` spec (a folder with sample.json)."""
    folder = spec_path(spec, "path", "RGB-D sample folder", folder=True)
    try:
        sample = load_rgbd_sample(folder)
        manifest = json.loads((folder / MANIFEST).read_text())
    except (FileNotFoundError, SampleError) as e:
        msg = str(e)
        raise InputError(msg if str(folder) in msg else f"{folder}: {msg}") from e
    except ValueError as e:  # e.g. a zero quaternion in the poses file
        raise InputError(f"{folder}: invalid RGB-D sample ({e}); see docs/data-formats.md") from e
    n = sample.num_frames
    h, w = sample.color.shape[1:3]
    size = (int(w), int(h))
    indices = [int(i) for i in sample.frame_indices]
    source = SampleSource(
        sample.color,
        sample.depth,
        folder / MANIFEST,
        label=f"rgbd_sample {folder.name}",
        frame_indices=indices,
        timestamps=None,
        original_sizes=[size] * n,
        sizing=sizing,
        poses=sample.poses,
    )
    K = sample.K
    intr = {"fx": float(K[0, 0]), "fy": float(K[1, 1]), "cx": float(K[0, 2]), "cy": float(K[1, 2])}
    intrinsics = sizing.intrinsics(intr, size)
    sources = [str(folder / c) for c in manifest["color"]]
    return bind(source, still_metadata("rgbd_sample", source, folder, sources, size, intrinsics=intrinsics))
