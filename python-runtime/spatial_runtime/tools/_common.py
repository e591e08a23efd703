"""What the perception tools (``tools.Reconstruct``, ``tools.SAM3``) share: frames in, per-frame results out.

* Frames in: :func:`collect_frames` normalises what a tool was given (``InputImages``, a slice, input frames,
  PIL images or arrays) into a :class:`FrameBatch` of (H, W, 3) uint8 RGB images with their ABSOLUTE frame
  indices and the input they came from (whose ``Metadata`` gives the intrinsics);
  :func:`session_input_images` is the session's ``InputImages`` (the default frames of video tools).
* Results out: :func:`position_of` looks an absolute frame index up in a result (raising
  :class:`FrameIndexError` with the valid indices), :func:`readonly` freezes result arrays.
* Artifacts: :func:`publish_artifact` sends one artifact record per server request to the host
  (``display_data`` under ``application/vnd.spatialclaw.artifact+json``)::

      {"id", "tool", "kind", "url", "summary", "frame_indices", "shapes", "cache"}

  (``cache``: the server's ``"hit"`` or ``"miss"`` for that request, :func:`cache_status`), and
  :func:`artifact_url` is the record's ``<server>/v1/artifacts/<id>``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from spatial_common.contract import validate

from spatial_runtime import context, display, namespace
from spatial_runtime.perception import ToolError, encode_png

__all__ = [
    "FrameBatch",
    "FrameIndexError",
    "artifact_url",
    "bad_argument",
    "cache_status",
    "collect_frames",
    "fmt_indices",
    "frame_index_of",
    "is_collection",
    "metadata_of",
    "position_of",
    "publish_artifact",
    "readonly",
    "session_input_images",
    "text_field",
]


class FrameIndexError(KeyError, IndexError):
    """A frame index that is not in a result. Both a ``KeyError`` and an ``IndexError``; the message lists the
    valid ABSOLUTE frame indices."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def bad_argument(message: str) -> ToolError:
    """A :class:`~spatial_runtime.perception.ToolError` (code ``bad_argument``) for a tool argument checked in
    the kernel; ``message`` names the argument and the fix."""
    return ToolError(message, code="bad_argument")


def fmt_indices(indices: Sequence[int], limit: int = 12) -> str:
    """``"0, 1, 2"``; with more than ``limit`` indices the first ``limit - 3``, ``...`` and the last two."""
    if len(indices) <= limit:
        return ", ".join(str(i) for i in indices)
    return ", ".join(str(i) for i in indices[: limit - 3]) + ", ..., " + ", ".join(str(i) for i in indices[-2:])


def position_of(frame_indices: list[int], lookup: dict[int, int], frame: Any, what: str) -> int:
    """The position of absolute frame index ``frame`` in a result.

    Args:
        frame_indices: the result's absolute frame indices, in order.
        lookup: frame index -> position (the inverse of ``frame_indices``).
        frame: the index asked for.
        what: the result's name for messages (``"reconstruction"``, ``"mask result"``).

    Raises:
        TypeError: ``frame`` is not an int. FrameIndexError: it is not among ``frame_indices`` (the message
            lists them, and hints at ``frame_indices[k]`` when ``frame`` looks like a position).
    """
    if isinstance(frame, (bool, np.bool_)) or not isinstance(frame, (int, np.integer)):
        raise TypeError(
            f"{what} is indexed by an absolute frame index (int), got {type(frame).__name__} {frame!r}; "
            f"valid frame indices: {fmt_indices(frame_indices)}"
        )
    pos = lookup.get(int(frame))
    if pos is None:
        hint = ""
        if 0 <= int(frame) < len(frame_indices) and frame_indices[int(frame)] != int(frame):
            hint = f"; for the frame at position {int(frame)} use frame_indices[{int(frame)}]"
        raise FrameIndexError(
            f"frame {int(frame)} is not in this {what}: frames are keyed by ABSOLUTE frame index, valid "
            f"indices: {fmt_indices(frame_indices)}{hint}"
        )
    return pos


def readonly(array: NDArray[Any]) -> NDArray[Any]:
    """A C-contiguous, read-only view (or copy) of ``array``; the caller's array stays writable."""
    out = np.ascontiguousarray(array)
    if out is array:
        out = out.view()
    out.setflags(write=False)
    return out


# --------------------------------------------------------------------------------------------------
# Frames in
# --------------------------------------------------------------------------------------------------


@dataclass
class FrameBatch:
    """Frames ready to send: ``images`` (each (H, W, 3) uint8 RGB, one size), their absolute ``frame_indices``,
    the ``items`` they came from (input :class:`~spatial_runtime.inputs.Frame` objects keep ``.depth`` and
    ``.pose``), ``size`` (W, H) and the frame source they were bound from (for ``Metadata``), if known."""

    images: list[np.ndarray]
    frame_indices: list[int]
    items: list[Any]
    size: tuple[int, int]
    source: Any = None

    def __len__(self) -> int:
        return len(self.images)

    def png(self) -> list[bytes]:
        """The images as PNG bytes, in order."""
        return [encode_png(img) for img in self.images]


def is_collection(obj: Any) -> bool:
    """Whether ``obj`` is a frame collection (``InputImages`` or a slice of it): iterable, with ``frame_indices``."""
    return display.is_frame_collection(obj)


def frame_index_of(item: Any) -> int | None:
    """The absolute ``frame_index`` of an input frame, or None for anything else."""
    index = getattr(item, "frame_index", None)
    if isinstance(index, (int, np.integer)) and not isinstance(index, bool) and int(index) >= 0:
        return int(index)
    return None


def _source_of(item: Any) -> Any:
    """The frame source an input ``Frame`` or ``InputImages`` was bound from (None for anything else)."""
    return getattr(item, "_source", None)


def metadata_of(source: Any) -> Any:
    """The ``Metadata`` of the input whose frame source is ``source`` (a :attr:`FrameBatch.source`), or None."""
    return getattr(source, "metadata", None)


def _as_rgb(item: Any, what: str) -> np.ndarray:
    if isinstance(item, np.ndarray) and item.dtype == np.uint8 and item.ndim == 3 and item.shape[2] == 3:
        if item.shape[0] == 0 or item.shape[1] == 0:
            raise bad_argument(f"{what} is an empty image of shape {item.shape}")
        return np.ascontiguousarray(item)
    try:
        img = display.to_pil(item)
    except (TypeError, ValueError) as err:
        raise bad_argument(f"{what}: {err}") from None
    if img.mode != "RGB":
        img = img.convert("RGB")
    return np.asarray(img, dtype=np.uint8)


def _items_of(frames: Any) -> tuple[list[Any], Any]:
    if is_collection(frames):
        return list(frames), _source_of(frames)
    if (isinstance(frames, np.ndarray) and frames.ndim == 4) or isinstance(frames, (list, tuple)):
        return list(frames), None
    return [frames], None


def _indices_of(items: list[Any], frame_indices: Any, what: str) -> list[int]:
    if frame_indices is None:
        found = [frame_index_of(item) for item in items]
        missing = [k for k, i in enumerate(found) if i is None]
        if missing:
            raise bad_argument(
                f"{what}[{missing[0]}] is not an input frame, so its frame index is unknown: pass "
                "frame_indices=[...] (absolute indices, one per frame), or pass input frames (InputImages[...])"
            )
        return [int(i) for i in found if i is not None]
    arr = np.asarray(frame_indices).reshape(-1)
    if arr.size and not (np.issubdtype(arr.dtype, np.integer) and arr.dtype != np.bool_):
        raise bad_argument(
            f"frame_indices must be integers (absolute frame indices), got {np.asarray(frame_indices).tolist()}"
        )
    indices = [int(i) for i in arr]
    if len(indices) != len(items) or any(i < 0 for i in indices):
        raise bad_argument(
            f"frame_indices has {len(indices)} entries for {len(items)} {what}: pass one non-negative absolute "
            "frame index per frame"
        )
    return indices


def collect_frames(frames: Any, frame_indices: Any = None, *, what: str = "frames") -> FrameBatch:
    """Normalise the frames a tool was given.

    Args:
        frames: an ``InputImages`` (or a slice of it), one frame, or a list/tuple of frames; a frame is an input
            ``Frame`` (its ``.frame_index`` is used), a PIL image, or an image array as ``show()`` accepts
            ((H, W, 3) uint8 RGB, (H, W) grey, ...). An (N, H, W, 3) uint8 array is N frames.
        frame_indices: absolute frame indices, one per frame; required when the frames are not input frames.
        what: the argument's name for messages.

    Returns:
        A :class:`FrameBatch`; its ``source`` is the frame source of the input the frames come from when they
        all come from one input, else None.

    Raises:
        ToolError: empty frames, frames of different sizes, missing/duplicate/mismatched frame indices, or an
            object that is not an image.
    """
    items, source = _items_of(frames)
    if not items:
        raise bad_argument(
            f"{what} is empty: pass InputImages, a slice of it (e.g. InputImages[::4]) or a non-empty list of frames"
        )
    indices = _indices_of(items, frame_indices, what)
    if len(set(indices)) != len(indices):
        dup = sorted({i for i in indices if indices.count(i) > 1})
        raise bad_argument(f"{what} repeat frame indices {dup}: pass each frame once (frame indices are absolute)")
    images = [_as_rgb(item, f"{what}[{k}]") for k, item in enumerate(items)]
    sizes: dict[tuple[int, int], list[int]] = {}
    for index, img in zip(indices, images, strict=True):
        sizes.setdefault((img.shape[1], img.shape[0]), []).append(index)
    if len(sizes) > 1:
        parts = "; ".join(f"{w}x{h} (frames {fmt_indices(idx)})" for (w, h), idx in sizes.items())
        raise bad_argument(
            f"{what} have different sizes: {parts}; all frames must have one size (W x H): resize them to one "
            "size or call the tool once per size"
        )
    if source is None and all(isinstance(getattr(item, "frame_index", None), int) for item in items):
        sources = {id(s): s for s in (_source_of(item) for item in items)}
        if len(sources) == 1:
            source = next(iter(sources.values()))
    return FrameBatch(images, indices, items, next(iter(sizes)), source)


def session_input_images(tool: str) -> Any:
    """The session's ``InputImages`` (the default frames of video tools), from :mod:`spatial_runtime.context`.

    Raises:
        ToolError: no input is bound, or several are (``InputImages_1..N``): pass ``frames=`` then.
    """
    bound = context.current()
    single = bound.input_named(namespace.INPUTS[0].name)
    if single is not None:
        return single.images
    several = [b.name for b in bound.inputs]
    if several:
        raise bad_argument(
            f"{tool}: this session has several inputs ({', '.join(several)}); pass frames=, e.g. frames={several[0]}"
        )
    raise bad_argument(f"{tool}: no InputImages are bound in this session; pass frames=[...]")


# --------------------------------------------------------------------------------------------------
# Artifacts
# --------------------------------------------------------------------------------------------------


def text_field(mapping: dict[str, Any], key: str) -> str | None:
    """``mapping[key]`` when it is a string, else None (for the server's ``artifact`` and ``info`` maps)."""
    value = mapping.get(key)
    return value if isinstance(value, str) else None


def artifact_url(base_url: str | None, artifact_id: str | None) -> str | None:
    """``<server>/v1/artifacts/<id>``, or None without a server URL or id."""
    if not base_url or not artifact_id:
        return None
    return f"{base_url.rstrip('/')}/v1/artifacts/{artifact_id}"


def cache_status(reply: dict[str, Any]) -> str | None:
    """The server's ``cache`` answer (``"hit"`` or ``"miss"``) of a compute reply, or None when it sent neither."""
    value = reply.get("cache")
    return value if value in ("hit", "miss") else None


def publish_artifact(
    *,
    tool: str,
    kind: str,
    artifact_id: str | None,
    url: str | None,
    summary: str,
    frame_indices: list[int],
    shapes: dict[str, list[int]],
    labels: list[str] | None = None,
    cache: str | None = None,
) -> dict[str, Any]:
    """Publish one artifact record as ``display_data`` (through :func:`spatial_runtime.display.publish`).

    The record is the ``PublishedArtifact`` contract (shared/contracts/artifact.ts) and is validated against it.

    Args:
        tool: ``"Reconstruct"`` or ``"SAM3"``.
        kind: ``"reconstruction"`` or ``"masks"``.
        artifact_id: the server's artifact id.
        url: ``<server>/v1/artifacts/<id>``.
        summary: one line (whitespace runs are collapsed).
        frame_indices: absolute frame indices covered.
        shapes: array name -> shape.
        labels: masks only: the K object labels, in mask order.
        cache: the server's ``cache`` answer for the request (``"hit"`` or ``"miss"``, :func:`cache_status`), or
            None to leave it out; the host counts hits per run from it.

    Returns:
        The record as published.

    Raises:
        ContractError: the record breaks the contract (a bug in the calling tool, not the user's input).
    """
    summary = " ".join(str(summary).split())
    record = {
        "id": artifact_id,
        "tool": tool,
        "kind": kind,
        "url": url,
        "summary": summary,
        "frame_indices": [int(i) for i in frame_indices],
        "shapes": {str(k): [int(n) for n in v] for k, v in shapes.items()},
    }
    if labels is not None:
        record["labels"] = [str(label) for label in labels]
    if cache is not None:
        record["cache"] = cache
    validate("PublishedArtifact", record)
    display.publish({display.ARTIFACT_MIME: record, "text/plain": f"{tool} artifact {artifact_id}: {summary}"})
    return record
