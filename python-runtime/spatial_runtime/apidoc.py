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


def _preloaded_names(vlm: str = "default") -> list[str]:
    """The "Pre-loaded names" section: every name of :mod:`spatial_runtime.namespace` (with the ``vlm`` of the
    profile's ``vlm`` option), its type and its line."""
    from spatial_runtime import namespace

    lines = ["## Pre-loaded names", ""]
    for entry in (*namespace.preloaded(vlm), *namespace.INPUTS):
        lines.append(f"- `{entry.name}` ({entry.type}): {entry.text}")
    return [*lines, ""]


def _kernel_profile(profile: Any) -> Any:
    """The kernel profile to document: a :class:`~spatial_runtime.context.KernelProfile`, a profile name, or None
    (the session's profile; the default one outside a session)."""
    from spatial_runtime import context

    if profile is None:
        return context.current().profile
    if isinstance(profile, str):
        return context.KernelProfile.named(profile)
    return profile


def _perception_section(profile: Any) -> list[str]:
    """The ``tools.Reconstruct`` and ``tools.SAM3`` section: the paper's Reconstruction extras when the profile has
    ``reconstruct_extras``, and the paper's ``tools.SAM3`` when its ``sam3_video`` is ``"source"``."""
    from spatial_runtime.tools import reconstruct, sam3
    from spatial_runtime.tools.reconstruct import paper as reconstruct_paper
    from spatial_runtime.tools.sam3 import paper as sam3_paper

    extras = bool(getattr(profile, "reconstruct_extras", False))
    lines = ["", "## tools.Reconstruct and tools.SAM3 (perception server)", ""]
    lines.append(
        f"- `{_signature('tools.Reconstruct.Reconstruct', reconstruct.Reconstruct)}`: "
        f"{_first_paragraph(reconstruct.Reconstruct)}"
    )
    members = ["depth", "confidence", "points", "extrinsics", "intrinsics", "K", "points_in_mask"]
    if extras:
        members += ["render_bev", "gravity_direction", "num_frames"]
    cls = reconstruct_paper.PaperReconstruction if extras else reconstruct.Reconstruction
    lines += _class_members("Reconstruction", cls, members)
    lines.append(
        "  - per-frame accessors keyed by ABSOLUTE frame index fi: `.depth[fi]` (H,W) float32 m, `.confidence[fi]`, "
        "`.points[fi]` (H,W,3) world m (NaN = invalid), `.colors[fi]`, `.extrinsics[fi]` 4x4 camera-to-world, "
        "`.intrinsics[fi]` {fx, fy, cx, cy}; `.frame_indices`"
    )
    if extras:
        lines.append(
            "  - `.metric_scale`: float, the backend's scale factor (1.0 when it reports none); informational, "
            "nothing is scaled by it. `.points.points` (N,H,W,3) and `.points.confidence` (N,H,W): every frame's "
            "stack; `.extrinsics.camera_poses` (N,4,4)"
        )
        lines.append(
            "  - world frame: +Y up from the floor plane (SAM3 'ground floor surface' in the first frame + RANSAC; "
            "else camera 0's down axis), floor at Y = 0, camera 0 looking toward -Z; `.alignment['method']` "
            "is 'sam3_floor' or 'camera_fallback'"
        )
    source = getattr(profile, "sam3_video", "sampled") == "source"
    lines += _module_functions("tools.SAM3", sam3_paper if source else sam3)
    lines += _mask_members(profile)
    return lines


def _mask_members(profile: Any) -> list[str]:
    """``PerFrameMask``: the paper's (median centroid, ``object=0``, ``seg[fi]``) when the profile's ``centroid_3d``
    is ``"median_confident"``."""
    from spatial_runtime.tools import sam3
    from spatial_runtime.tools.sam3.paper_masks import PaperPerFrameMask

    members = ["get_mask", "get_masked_points", "get_centroid_3d", "get_bbox_3d", "visualize"]
    if getattr(profile, "centroid_3d", "mean") != "median_confident":
        return _class_members("PerFrameMask", sam3.PerFrameMask, members)
    lines = _class_members("PerFrameMask", PaperPerFrameMask, [*members, "object_ids"])
    lines.append(
        "  - `seg[fi]`: (N, H, W) bool masks of every object in absolute frame fi; `.labels`, `.frame_indices`"
    )
    return lines


def _vlm_members(vlm_option: str) -> list[str]:
    """The ``vlm`` calls of the profile's ``vlm`` option."""
    from spatial_runtime import vlm, vlm_paper

    module, names = (
        (vlm_paper, ("locate", "ask_with_thinking")) if vlm_option == "paper" else (vlm, ("ask", "locate", "to_pixels"))
    )
    return [
        f"- `{_signature('vlm.' + fn, getattr(module, fn))}`: {_first_paragraph(getattr(module, fn))}" for fn in names
    ]


def render(profile: Any = None) -> str:
    """The markdown tool reference (names bound in the kernel, their signatures and summaries) for ``profile``
    (a ``KernelProfile`` or a profile name; default: the session's, outside a session the default profile)."""
    from spatial_runtime import display, inputs, tools
    from spatial_runtime.tools.geometry import normalized_to_pixel

    kernel_profile = _kernel_profile(profile)
    vlm_option = getattr(kernel_profile, "vlm", "default")
    lines = _preloaded_names(vlm_option)
    lines += ["## Names in the kernel", ""]
    lines += _class_members("InputImages", inputs.InputImages, ["frame_indices", "timestamps", "image_size"])
    lines += _class_members("Frame (InputImages[i])", inputs.Frame, ["frame_index", "timestamp", "depth", "pose"])
    lines.append(f"- `Metadata`: {_first_paragraph(inputs.Metadata)}")
    lines.append(f"- `{_signature('show', display.show)}`: {_first_paragraph(display.show)}")
    lines.append(f"- `{_signature('ReturnAnswer', display.ReturnAnswer)}`: {_first_paragraph(display.ReturnAnswer)}")
    lines += _vlm_members(vlm_option)
    lines += _perception_section(kernel_profile)
    for ns in ("Geometry", "Mask", "Time", "Graph", "Draw"):
        lines += ["", f"## tools.{ns}", ""]
        lines += _module_functions(f"tools.{ns}", getattr(tools, ns))
        if ns == "Geometry" and vlm_option == "paper":  # converts vlm.locate's 0-1000 answers
            f = normalized_to_pixel
            lines.append(f"- `{_signature('tools.Geometry.normalized_to_pixel', f)}`: {_first_paragraph(f)}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(prog="python -m spatial_runtime.apidoc", description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", choices=("default", "paper"), default="default", help="the agent profile")
    print(render(parser.parse_args().profile), end="")
