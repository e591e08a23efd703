"""``load_inputs``: InputSpecs (docs/kernel-protocol.md) in, the kernel's input names out.

Each spec's ``kind`` picks its loader (:data:`LOADERS`); the loaded inputs are named by
:func:`spatial_runtime.namespace.input_names` (``InputImages``/``Metadata``, or numbered for several).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from spatial_runtime.inputs.common import InputError
from spatial_runtime.inputs.frames import InputImages, Metadata
from spatial_runtime.inputs.images import images_input
from spatial_runtime.inputs.rgbd import rgbd_input, rgbd_sample_input
from spatial_runtime.inputs.sizing import Sizing
from spatial_runtime.inputs.video import video_input
from spatial_runtime.namespace import input_names

__all__ = ["KINDS", "LOADERS", "load_inputs", "load_named_inputs"]

LOADERS: dict[str, Callable[[Mapping[str, Any], Sizing], tuple[InputImages, Metadata]]] = {
    "video": video_input,
    "images": images_input,
    "rgbd": rgbd_input,
    "rgbd_sample": rgbd_sample_input,
}
"""InputSpec kind -> its loader: ``(spec, sizing) -> (InputImages, Metadata)``."""

KINDS = tuple(LOADERS)


def load_inputs(
    specs: Sequence[Mapping[str, Any]] | Mapping[str, Any], max_long_edge: int | None = None, resize: str = "long_edge"
) -> dict[str, object]:
    """Build the kernel's input names from InputSpecs (docs/kernel-protocol.md).

    Args:
        specs: a list of InputSpec dicts (a single dict is taken as a one-element list):
            ``{"kind": "video", "path", "num_frames"?, "max_fps"?, "all_frames"?}`` (sampling rule:
            :func:`sample_frame_indices`; with ``all_frames`` true every frame, at most ``max_fps`` per second:
            :func:`~spatial_runtime.inputs.video.every_frame_indices`),
            ``{"kind": "images", "path"}`` (one image file, or a folder: images in natural file-name order),
            ``{"kind": "rgbd", "path", "depth", "camera", "poses"?}`` (colour folder, depth folder with 16-bit
            PNG/PGM, metres = raw / depth_scale (default 1000, or camera JSON ``depth_scale``), camera JSON
            ``{"fx", "fy", "cx", "cy"}`` pixels with optional ``depth_scale``, ``width``, ``height``; poses file with
            one ``[timestamp] tx ty tz qx qy qz qw`` camera-to-world line per frame; frames pair by sorted name),
            ``{"kind": "rgbd_sample", "path"}`` (a folder with ``sample.json``; loaded eagerly with
            :func:`spatial_runtime.rgbd.load_rgbd_sample`, since samples are small).
        max_long_edge: if set, frames whose long edge is larger are resized (Pillow, Lanczos) so the long edge equals
            it, keeping the aspect ratio and the whole field of view (never cropped); depth is resized with nearest
            neighbour (OpenCV ``INTER_NEAREST_EXACT``) and intrinsics are scaled to match: ``fx' = fx * sx``,
            ``cx' = (cx + 0.5) * sx - 0.5`` with ``sx = new_w / old_w`` (pixel centres at integer coordinates),
            likewise ``fy``, ``cy`` with ``sy = new_h / old_h``. Smaller frames are left as they are.
        resize: ``"long_edge"`` (the rule above) or ``"paper_grid"`` (every frame centre-cropped to the nearest of six
            aspect grids, then resized to the grid with long edge <= ``max_long_edge``, small frames enlarged; the
            crop shifts ``cx``, ``cy``; :mod:`spatial_runtime.inputs.sizing`). Frames are resized when first accessed.

    Returns:
        ``{"InputImages": InputImages, "Metadata": Metadata}`` for one spec; ``{"InputImages_1": ...,
        "Metadata_1": ..., "InputImages_2": ..., ...}`` (1-based) for several; ``{}`` for none.

    Raises:
        InputError: any unusable input, with one message naming the file and the fix: a missing file or folder,
            a file that is not a video or has no decodable frames, an unreadable image, a folder without images,
            a depth/colour count or size mismatch, a malformed camera JSON, a malformed poses file or a poses count
            that differs from the frame count, a malformed spec, or ``paper_grid`` without ``max_long_edge``.
    """
    out: dict[str, object] = {}
    for images_name, metadata_name, images, meta in load_named_inputs(specs, max_long_edge, resize):
        out[images_name] = images
        out[metadata_name] = meta
    return out


def load_named_inputs(
    specs: Sequence[Mapping[str, Any]] | Mapping[str, Any], max_long_edge: int | None = None, resize: str = "long_edge"
) -> list[tuple[str, str, InputImages, Metadata]]:
    """The inputs of ``specs`` in order, as ``(frames name, metadata name, InputImages, Metadata)``.

    Arguments, names and errors as for :func:`load_inputs` (which returns the same, as a dict).
    """
    if isinstance(specs, Mapping):
        specs = [specs]
    if max_long_edge is not None and (
        not isinstance(max_long_edge, (int, np.integer)) or isinstance(max_long_edge, bool) or max_long_edge < 1
    ):
        raise InputError(f"max_long_edge must be a positive integer (pixels) or None, got {max_long_edge!r}")
    sizing = Sizing(None if max_long_edge is None else int(max_long_edge), resize)
    loaded = []
    for spec in specs:
        if not isinstance(spec, Mapping):
            raise InputError(f"input spec must be an object like {{'kind': 'video', 'path': ...}}, got {spec!r}")
        kind = spec.get("kind")
        if kind not in LOADERS:
            raise InputError(f"input spec {dict(spec)!r}: unknown kind {kind!r}; use one of {', '.join(KINDS)}")
        loaded.append(LOADERS[kind](spec, sizing))
    return [(*names, *pair) for names, pair in zip(input_names(len(loaded)), loaded, strict=True)]
