"""Key frames: the input frames the host puts into the model's first message (``session.key_frames``).

Two selections (docs/paper-parity.md row 2):

* ``"default"``: ``count`` frames shared out across the inputs (``count // inputs`` each, at least 1; one frame
  per input: its middle frame), evenly spaced, labelled ``frame <absolute index>`` (``input k frame ...`` with
  several inputs).
* ``"paper"``: ``k = min(count, n)`` frames at positions ``round(i * (n - 1) / (k - 1))`` (Python ``round``, half
  to even; ``i = 0..k-1``; all frames when ``k >= n``; position 0 when ``k == 1``), over the whole input list (all
  inputs in order) or, with ``per_input``, ``count`` from each input (the paper's multi-video samples). Each
  image is labelled ``<variable>[<position>] frame <absolute index>`` (``InputImages[6] frame 6``,
  ``InputImages_2[13] frame 26``) and its bundle's metadata carries the same as ``frame``:
  ``{"input", "position", "frame_index"}``, for the host's key-frame mapping.

Images are published like ``show()``'s (``display_data`` bundles, PNG, downscaled to ``max_long_edge``) without
touching the ``show()`` counter.
"""

from __future__ import annotations

from typing import Any

from spatial_runtime import context, display

__all__ = ["SELECTIONS", "even_positions", "paper_positions", "publish_key_frames"]

SELECTIONS = ("default", "paper")


def even_positions(n: int, per: int) -> list[int]:
    """The default selection's positions of ``per`` frames among ``n`` (``round`` as Python rounds; one frame:
    the middle one)."""
    if per <= 1:
        return [n // 2]
    return sorted({round(i * (n - 1) / max(1, per - 1)) for i in range(min(per, n))})


def paper_positions(n: int, count: int) -> list[int]:
    """The paper's positions of ``k = min(count, n)`` frames among ``n``: ``round(i * (n - 1) / (k - 1))``.

    Examples: ``paper_positions(10, 5) == [0, 2, 4, 7, 9]`` (4.5 rounds to 4, half to even).
    """
    k = min(count, n)
    if k <= 0:
        return []
    if k >= n:
        return list(range(n))
    if k == 1:
        return [0]
    return [round(i * (n - 1) / (k - 1)) for i in range(k)]


def _publish(frame: Any, label: str, index: int, max_long_edge: int, where: dict[str, Any] | None) -> None:
    img = display.downscale(display.to_pil(frame), max_long_edge)
    bundle = display.image_bundle(img, label, index)
    if where is not None:
        bundle[display.IMAGE_MIME]["frame"] = where
    display.publish(bundle)


def _paper(count: int, max_long_edge: int, per_input: bool) -> int:
    inputs = context.current().inputs
    lists = [[(b, p) for p in range(len(b.images))] for b in inputs]
    groups = lists if per_input else [[entry for group in lists for entry in group]]
    published = 0
    for group in groups:
        for pick in paper_positions(len(group), count):
            bound, position = group[pick]
            frame = bound.images[position]
            index = int(getattr(frame, "frame_index", position))
            where = {"input": bound.name, "position": position, "frame_index": index}
            _publish(frame, f"{bound.name}[{position}] frame {index}", published, max_long_edge, where)
            published += 1
    return published


def publish_key_frames(count: int, max_long_edge: int, selection: str = "default", per_input: bool = False) -> int:
    """Publish the key frames of the bound inputs; see the module docstring for the two selections.

    Args:
        count: frames in total (default selection), or at most per list (paper selection), >= 1.
        max_long_edge: long edge in pixels the frames are downscaled to (aspect ratio kept).
        selection: ``"default"`` or ``"paper"``.
        per_input: paper selection only: ``count`` frames from each input instead of from all inputs together.

    Returns:
        The number of images published.

    Raises:
        ValueError: an unknown selection.
    """
    if selection not in SELECTIONS:
        raise ValueError(f"selection must be one of {', '.join(SELECTIONS)}, got {selection!r}")
    if selection == "paper":
        return _paper(count, max_long_edge, per_input)
    inputs = context.current().inputs
    if not inputs:
        return 0
    per = max(1, count // len(inputs))
    published = 0
    for k, bound in enumerate(inputs, start=1):
        frames = bound.images
        n = len(frames)
        if n == 0:
            continue
        for p in even_positions(n, per):
            frame = frames[p]
            prefix = f"input {k} " if len(inputs) > 1 else ""
            _publish(frame, f"{prefix}frame {getattr(frame, 'frame_index', p)}", published, max_long_edge, None)
            published += 1
    return published
