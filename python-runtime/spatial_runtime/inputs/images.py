"""The ``images`` input: one image file, a folder of images, or a list of files, decoded with Pillow on access.

EXIF orientation is applied (``ImageOps.exif_transpose``); the frames of a folder are its image files in
natural file-name order (``2.png`` before ``10.png``), with frame indices 0..N-1.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from PIL import Image, ImageOps, UnidentifiedImageError

from spatial_runtime.inputs.common import InputError, common_size, exif_size, list_images, spec_path
from spatial_runtime.inputs.frames import InputImages, Metadata
from spatial_runtime.inputs.sizing import Sizing
from spatial_runtime.inputs.source import FrameSource, bind, still_metadata

__all__ = ["PILLOW_ERRORS", "ImageFilesSource", "image_sizes", "images_input"]

PILLOW_ERRORS = (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError)
"""What Pillow raises for a file it cannot read as an image."""


class ImageFilesSource(FrameSource):
    """Colour frames from image files, decoded with Pillow on access."""

    kind = "images"

    def __init__(self, files: list[Path], *, exif: bool, **kw: Any) -> None:
        super().__init__(**kw)
        self.files = files
        self.exif = exif

    def _load(self, pos: int) -> None:
        path = self.files[pos]
        try:
            with Image.open(path) as img:
                img.load()
                out = ImageOps.exif_transpose(img) if self.exif else img.copy()
        except PILLOW_ERRORS as e:
            raise InputError(
                f"{path}: Pillow could not decode this image ({e}); the file is damaged or not an image; "
                "replace it or remove it from the input"
            ) from e
        self._store(pos, out)


def image_sizes(files: Sequence[Path], what: str, *, exif: bool) -> list[tuple[int, int]]:
    """(W, H) of each file from its header (after EXIF orientation when ``exif``), without decoding pixels.

    Raises:
        InputError: a file Pillow cannot read (``what`` names its role, e.g. "colour").
    """
    sizes = []
    for f in files:
        try:
            with Image.open(f) as img:
                sizes.append(exif_size(img) if exif else img.size)
        except PILLOW_ERRORS as e:
            raise InputError(
                f"{f}: Pillow could not read this {what} image ({e}); replace it with a valid PNG/JPEG/PGM file "
                "or remove it from the folder"
            ) from e
    return sizes


def images_input(spec: Mapping[str, Any], sizing: Sizing) -> tuple[InputImages, Metadata]:
    """``(InputImages, Metadata)`` of an ``{"kind": "images", "path", "files"?}`` spec (see ``load_inputs``).

    With ``files`` (a multi-image sample: several image files in a given order), those files are the frames, in
    that order, and ``path`` names the first; otherwise ``path`` is one image file or a folder of images.

    Raises:
        InputError: a missing file or folder, ``files`` that is not a list of paths, an unreadable image.
    """
    listed = spec.get("files")
    if listed is not None:
        if not isinstance(listed, list) or not listed or not all(isinstance(f, str) and f for f in listed):
            raise InputError(
                f"input spec {dict(spec)!r}: 'files' must be a non-empty list of image file paths, in order"
            )
        files = [Path(f).expanduser().absolute() for f in listed]  # absolute: lazy decoding survives os.chdir
        for f in files:
            if not f.exists():
                raise InputError(f"{f}: image not found; check the 'files' list of the 'images' input")
            if not f.is_file():
                raise InputError(f"{f}: expected an image file in the 'files' list of the 'images' input, got a folder")
        path = files[0]
    else:
        path = spec_path(spec, "path", "image file or folder", folder=None)
        files = list_images(path, "") if path.is_dir() else [path]
    sizes = image_sizes(files, "input", exif=True)
    source = ImageFilesSource(
        files,
        exif=True,
        label=f"images {path.name}"
        if path.is_dir()
        else f"{len(files)} images"
        if len(files) > 1
        else f"image {path.name}",
        frame_indices=list(range(len(files))),
        timestamps=None,
        original_sizes=sizes,
        sizing=sizing,
    )
    return bind(source, still_metadata("images", source, path, [str(f) for f in files], common_size(sizes)))
