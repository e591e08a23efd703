"""The tool API documentation the agent's system prompt shows, generated from the runtime's docstrings.

``python -m spatial_runtime.apidoc`` prints it. It opens with the pre-loaded names of the kernel namespace
contract (:mod:`spatial_runtime.namespace`); each later entry is the call signature and the first paragraph
of the docstring, so the prompt always matches the code the kernel runs.
"""

from __future__ import annotations

import inspect
from types import ModuleType
from typing import Any


def _first_paragraph(obj: Any) -> str:
    doc = inspect.getdoc(obj) or ""
    para = doc.strip().split("\n\n", 1)[0]
    return " ".join(line.strip() for line in para.splitlines())


def _signature(name: str, obj: Any) -> str:
    try:
        sig = str(inspect.signature(obj))
    except (TypeError, ValueError):
        sig = "(...)"
    return f"{name}{sig}".replace("NoneType", "None").replace("'", "")


def _module_functions(prefix: str, module: ModuleType) -> list[str]:
    """The functions of a namespace module: those in its ``__all__`` (wherever they are defined), else the public
    functions it defines itself."""
    out = []
    listed = getattr(module, "__all__", None)
    names = listed or [n for n in vars(module) if not n.startswith("_")]
    for n in names:
        obj = getattr(module, n, None)
        if inspect.isfunction(obj) and (listed or obj.__module__ == module.__name__):
            out.append(f"- `{_signature(f'{prefix}.{n}', obj)}`: {_first_paragraph(obj)}")
    return out


def _class_members(prefix: str, cls: type, members: list[str]) -> list[str]:
    out = [f"- `{prefix}`: {_first_paragraph(cls)}"]
    for m in members:
        obj = getattr(cls, m, None)
        if obj is None:
            continue
        target = obj.fget if isinstance(obj, property) else obj
        if isinstance(obj, property):
            out.append(f"  - `.{m}`: {_first_paragraph(target)}")
        else:
            out.append(f"  - `{_signature('.' + m, target)}`: {_first_paragraph(target)}")
    return out


def _preloaded_names() -> list[str]:
    """The "Pre-loaded names" section: every name of :mod:`spatial_runtime.namespace`, its type and its line."""
    from spatial_runtime import namespace

    lines = ["## Pre-loaded names", ""]
    for entry in (*namespace.PRELOADED, *namespace.INPUTS):
        lines.append(f"- `{entry.name}` ({entry.type}): {entry.text}")
    return [*lines, ""]


def render() -> str:
    """The markdown tool reference (names bound in the kernel, their signatures and summaries)."""
    from spatial_runtime import display, inputs, tools, vlm
    from spatial_runtime.tools import reconstruct, sam3

    lines = _preloaded_names()
    lines += ["## Names in the kernel", ""]
    lines += _class_members("InputImages", inputs.InputImages, ["frame_indices", "timestamps", "image_size"])
    lines += _class_members("Frame (InputImages[i])", inputs.Frame, ["frame_index", "timestamp", "depth", "pose"])
    lines.append(f"- `Metadata`: {_first_paragraph(inputs.Metadata)}")
    lines.append(f"- `{_signature('show', display.show)}`: {_first_paragraph(display.show)}")
    lines.append(f"- `{_signature('ReturnAnswer', display.ReturnAnswer)}`: {_first_paragraph(display.ReturnAnswer)}")
    for fn in ("ask", "locate", "to_pixels"):
        f = getattr(vlm, fn)
        lines.append(f"- `{_signature('vlm.' + fn, f)}`: {_first_paragraph(f)}")
    lines += ["", "## tools.Reconstruct and tools.SAM3 (perception server)", ""]
    lines.append(
        f"- `{_signature('tools.Reconstruct.Reconstruct', reconstruct.Reconstruct)}`: "
        f"{_first_paragraph(reconstruct.Reconstruct)}"
    )
    lines += _class_members(
        "Reconstruction",
        reconstruct.Reconstruction,
        ["depth", "confidence", "points", "extrinsics", "intrinsics", "K", "points_in_mask"],
    )
    lines.append(
        "  - per-frame accessors keyed by ABSOLUTE frame index fi: `.depth[fi]` (H,W) float32 m, `.confidence[fi]`, "
        "`.points[fi]` (H,W,3) world m (NaN = invalid), `.colors[fi]`, `.extrinsics[fi]` 4x4 camera-to-world, "
        "`.intrinsics[fi]` {fx, fy, cx, cy}; `.frame_indices`"
    )
    lines += _module_functions("tools.SAM3", sam3)
    lines += _class_members(
        "PerFrameMask",
        sam3.PerFrameMask,
        ["get_mask", "get_masked_points", "get_centroid_3d", "get_bbox_3d", "visualize"],
    )
    for ns in ("Geometry", "Mask", "Time", "Graph", "Draw"):
        lines += ["", f"## tools.{ns}", ""]
        lines += _module_functions(f"tools.{ns}", getattr(tools, ns))
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render(), end="")
