"""Artifact records: the map every compute answer carries as ``artifact`` and ``GET /v1/artifacts/{id}`` serves.

A record (docs/perception-api.md, "ArtifactRecord") is::

    {"id": str (32 hex digits), "kind": "reconstruction" | "masks", "backend": str, "created": ISO 8601 UTC,
     "frame_indices": [int] (absolute), "shapes": {name: [int]}, "summary": str, "params": map,
     "labels": [str] (masks only: the K object labels, in mask order)}
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone
from typing import Any

import numpy as np

from spatial_perception.codec import to_plain
from spatial_perception.requests import Call, describe_prompt


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def info_map(raw: Any) -> dict[str, Any]:
    """A backend's ``info`` as a plain JSON/msgpack map (anything but a map is kept under ``"value"``)."""
    info = to_plain(raw)
    if info is None:
        return {}
    return info if isinstance(info, dict) else {"value": info}


def reconstruct_summary(name: str, call: Call, arrays: dict[str, np.ndarray], info: dict[str, Any]) -> str:
    """E.g. ``"reconstruction of 5 frames 640x480 (rgbd, aligned to gravity: floor_ransac)"``."""
    n, h, w = arrays["depth"].shape
    method = info.get("alignment", {}).get("method") if isinstance(info.get("alignment"), dict) else None
    if not call.params.get("align_gravity", True):
        align = "not aligned to gravity"
    elif method:
        align = f"aligned to gravity: {method}"
    else:
        align = "gravity alignment not reported"
    return f"reconstruction of {_plural(n, 'frame')} {w}x{h} ({name}, {align})"


def mask_summary(name: str, call: Call, arrays: dict[str, np.ndarray], labels: list[str]) -> str:
    """E.g. ``"2 masks over 3 frames 32x24 (sam3, text 'chair' on frame 20); chair x2"``."""
    t, k, h, w = arrays["masks"].shape
    prompt = describe_prompt(call.prompt)
    if call.route == "segment_image":
        where = f"in 1 image {w}x{h}"
    else:
        where = f"over {_plural(t, 'frame')} {w}x{h}"
        prompt += f" on frame {call.prompt_frame_index}"
    text = f"{_plural(k, 'mask')} {where} ({name}, {prompt})"
    if labels:
        counts = Counter(labels)
        shown = [label if c == 1 else f"{label} x{c}" for label, c in counts.most_common(6)]
        text += "; " + ", ".join(shown) + (", ..." if len(counts) > 6 else "")
    return text


def make_record(
    artifact_id: str,
    kind: str,
    name: str,
    call: Call,
    arrays: dict[str, np.ndarray],
    summary: str,
    labels: list[str] | None = None,
) -> dict[str, Any]:
    """The record of a new artifact (module docstring); ``labels`` is given for kind ``masks`` only."""
    record: dict[str, Any] = {
        "id": artifact_id,
        "kind": kind,
        "backend": name,
        "created": datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "frame_indices": [int(i) for i in arrays["frame_indices"]],
        "shapes": {n: list(a.shape) for n, a in arrays.items()},
        "summary": summary,
        "params": call.params,
    }
    if labels is not None:
        record["labels"] = list(labels)
    return record
