"""What each reconstruct backend needs, and the ways to reconstruct a plain RGB video (frames without depth).

The one source of these texts: the perception server's errors (the da3, rgbd and mono backends, the capability
check of ``POST /v1/reconstruct``) and ``tools.Reconstruct``'s errors in the kernel all build their advice here,
so that no error sends the user to a backend that fails on the same input (docs/perception.md, "Plain videos
without a GPU"). The renderer's mask viewer (renderer/src/inspector/load.ts, ``reconstructAdvice``) words the
same options (test/unit/inspector-reconstruct-advice.test.ts checks it against this module).

What each backend really needs to reconstruct:
    ``rgbd``: measured metric depth (N, H, W) in metres and the intrinsics (an RGB-D input); it estimates poses
        but never depth.
    ``da3``: RGB frames only (Depth Anything 3 estimates depth, intrinsics and poses); the ``depth_anything_3``
        package and a local DA3 checkpoint; a GPU makes it fast, a CPU works but is slow.
    ``mono``: RGB frames only (a monocular metric depth model per frame, then the rgbd backend's odometry);
        a local transformers Depth Pro or Depth-Anything-V2-Metric checkpoint; runs on CPU.
    ``oracle``: frames of a dataset with ground-truth annotations under ``--oracle-root``.
    ``classical`` and ``sam3`` segment only: they cannot reconstruct.
"""

from __future__ import annotations

from collections.abc import Iterable

DA3_PACKAGE = (
    "the depth_anything_3 package (not on PyPI: `pip install -e .` in a checkout of ByteDance-Seed/Depth-Anything-3)"
)
DA3_CHECKPOINT = (
    "a local DA3 checkpoint directory (config.json + model.safetensors, e.g. DA3-SMALL or DA3NESTED-GIANT-LARGE)"
)

DA3_GPU = (
    "da3 on a machine with an NVIDIA GPU: install the depth_anything_3 package there and run `spatialclaw "
    "perception start --backends da3 --da3-checkpoint DIR` (or with --slurm on a cluster), then connect the "
    "workbench to it (`spatialclaw perception add NAME URL`)"
)
DA3_CPU = (
    "da3 on this machine's CPU (slow: minutes per batch of frames with the large checkpoints; DA3-SMALL and "
    "params.process_res=280 are faster): install " + DA3_PACKAGE + " and restart the perception server with "
    "--backends ...,da3 --da3-checkpoint DIR (local config.json + model.safetensors)"
)
MONO = (
    "mono (monocular metric depth per frame plus RGB-D odometry; runs on CPU): restart the perception server with "
    "--backends ...,mono --mono-checkpoint DIR, a local transformers Depth Pro (apple/DepthPro-hf) or "
    "Depth-Anything-V2-Metric (depth-anything/Depth-Anything-V2-Metric-*-hf) checkpoint"
)
RGB_ONLY_OPTIONS: dict[str, str] = {"da3-gpu": DA3_GPU, "da3-cpu": DA3_CPU, "mono": MONO}
"""The ways to reconstruct frames without depth, keyed for :func:`rgb_video_options`."""

NEEDS: dict[str, str] = {
    "rgbd": "measured metric depth (N, H, W) in metres and the intrinsics (an RGB-D input); it never estimates depth",
    "da3": "RGB frames only (it estimates depth, intrinsics and poses); " + DA3_PACKAGE + " and " + DA3_CHECKPOINT,
    "mono": "RGB frames only (it estimates metric depth per frame); a local Depth Pro or Depth-Anything-V2-Metric "
    "checkpoint (--mono-checkpoint DIR)",
    "oracle": "frames of a dataset with ground-truth annotations (--oracle-root DIR)",
}
"""What each backend that can reconstruct needs, in words."""

RGB_ONLY_BACKENDS = ("da3", "mono")
"""Backends that reconstruct from colour alone (no depth in the request)."""

SEGMENT_ONLY = {"classical": "GrabCut segmentation", "sam3": "SAM 3 segmentation"}
"""Backends that cannot reconstruct at all, with what they do instead."""


def rgb_video_options(exclude: Iterable[str] = ()) -> str:
    """The ways to reconstruct a video without depth as one sentence: ``"(a) ...; (b) ...; (c) ..."``.

    Args:
        exclude: keys of :data:`RGB_ONLY_OPTIONS` to leave out (e.g. ``"mono"`` in the mono backend's own error).
    """
    skip = set(exclude)
    items = [text for key, text in RGB_ONLY_OPTIONS.items() if key not in skip]
    return "; ".join(f"({chr(ord('a') + i)}) {text}" for i, text in enumerate(items))


def needs(backend: str) -> str:
    """``"rgbd (needs ...)"``: a backend's name with what it needs to reconstruct (:data:`NEEDS`)."""
    if backend in NEEDS:
        return f"{backend} (needs {NEEDS[backend]})"
    if backend in SEGMENT_ONLY:
        return f"{backend} ({SEGMENT_ONLY[backend]} only; it cannot reconstruct)"
    return backend


def no_depth_advice(able: Iterable[str] | None = None) -> str:
    """Advice for frames without depth: the backends of ``able`` that take RGB only (they are on the server and
    available), else every way of :func:`rgb_video_options`.

    Args:
        able: available backends that can reconstruct on the server in question, or None when unknown.
    """
    rgb = [b for b in (able or ()) if b in RGB_ONLY_BACKENDS]
    if rgb:
        return "for frames without depth use backend " + " or ".join(repr(b) for b in rgb) + " (RGB only)"
    return "to reconstruct frames without depth: " + rgb_video_options()
