"""The kernel namespace contract: every name the model finds pre-loaded, its type and what it is told about it.

``session.init`` binds :data:`PRELOADED` (each from its ``source``); ``session.prepare`` binds the input names
of :func:`input_names` (``InputImages`` and ``Metadata``, or ``InputImages_k`` and ``Metadata_k`` for k = 1..N
with several inputs) and, for a profile whose ``vlm`` option is ``"paper"``, rebinds ``vlm`` to :data:`PAPER_VLM`
(:func:`preloaded` gives the table of a profile); ``spatial_runtime.apidoc`` renders the table as the
"Pre-loaded names" section of the tool reference in the system prompt; the variable tracker never reports
these names.

This module is a leaf: plain data, no imports from the rest of ``spatial_runtime``.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "INPUTS",
    "PAPER_VLM",
    "PRELOADED",
    "PRELOADED_NAMES",
    "PreloadedName",
    "input_names",
    "preloaded",
]


@dataclass(frozen=True)
class PreloadedName:
    """One pre-loaded name.

    Attributes:
        name: the name in the user namespace.
        type: the type of the bound value as the model is told it (``"module numpy"``, ``"function"``, ...).
        text: the one line the model is told about it.
        source: where :func:`spatial_runtime.session.init` takes the value from: a module (``"numpy"``) or
            ``"module:attribute"`` (``"spatial_runtime.display:show"``); None for the input names, which
            ``session.prepare`` binds from the loaded inputs.
        optional: True when the kernel may lack it (``tools``, if ``spatial_runtime.tools`` cannot be imported).
    """

    name: str
    type: str
    text: str
    source: str | None = None
    optional: bool = False


PRELOADED: tuple[PreloadedName, ...] = (
    PreloadedName("np", "module numpy", "NumPy.", "numpy"),
    PreloadedName(
        "scipy",
        "module scipy",
        "SciPy, with scipy.spatial, scipy.ndimage, scipy.optimize and scipy.signal already imported.",
        "scipy",
    ),
    PreloadedName("math", "module math", "The standard library's math functions.", "math"),
    PreloadedName("collections", "module collections", "Counter, defaultdict, deque, ...", "collections"),
    PreloadedName("itertools", "module itertools", "Combinations, permutations, product, ...", "itertools"),
    PreloadedName("functools", "module functools", "reduce, partial, lru_cache, ...", "functools"),
    PreloadedName(
        "plt",
        "module matplotlib.pyplot",
        "Matplotlib (Agg backend); plt.show() shows the open figures to the model, like show().",
        "matplotlib.pyplot",
    ),
    PreloadedName(
        "show",
        "function",
        "show(*images, label=None): show images to the model and the user.",
        "spatial_runtime.display:show",
    ),
    PreloadedName(
        "ReturnAnswer",
        "function",
        "ReturnAnswer(answer): submit the final answer (a str, an int or a float).",
        "spatial_runtime.display:ReturnAnswer",
    ),
    PreloadedName(
        "vlm",
        "VLM client",
        "The session's vision-language model: vlm.ask(images, question), vlm.locate(images, target), "
        "vlm.to_pixels(points, image).",
        "spatial_runtime.vlm:vlm",
    ),
    PreloadedName(
        "tools",
        "package spatial_runtime.tools",
        "tools.Geometry, tools.Mask, tools.Time, tools.Graph, tools.Draw, tools.Reconstruct and tools.SAM3 "
        "(also `import tools`).",
        "spatial_runtime.tools",
        optional=True,
    ),
)
"""The names :func:`spatial_runtime.session.init` binds, in order."""

PRELOADED_NAMES: tuple[str, ...] = tuple(p.name for p in PRELOADED)

PAPER_VLM = PreloadedName(
    "vlm",
    "VLM client",
    "The session's vision-language model in isolated calls that answer with text (a failed call answers "
    "'[VLM Error] ...'): vlm.locate(images, question) for grounding (at most 8 images; answers 'Not visible' "
    "when the target is absent or ambiguous) and vlm.ask_with_thinking(images, question) for visual reasoning "
    "(at most 64 images).",
    "spatial_runtime.vlm_paper:vlm",
)
"""``vlm`` for a profile whose ``vlm`` option is ``"paper"`` (docs/paper-parity.md row 13)."""


def preloaded(vlm: str = "default") -> tuple[PreloadedName, ...]:
    """The pre-loaded names as the model of a profile is told them: :data:`PRELOADED`, with :data:`PAPER_VLM` as
    ``vlm`` when the profile's ``vlm`` option is ``"paper"``."""
    if vlm != "paper":
        return PRELOADED
    return tuple(PAPER_VLM if p.name == "vlm" else p for p in PRELOADED)


INPUTS: tuple[PreloadedName, PreloadedName] = (
    PreloadedName(
        "InputImages",
        "InputImages, a sequence of Frame",
        "The input frames, a list-like collection of PIL images with absolute frame indices "
        "(InputImages_1..N with several inputs).",
    ),
    PreloadedName(
        "Metadata",
        "Metadata record",
        "What is known about the input: kind, fps, frame indices, sizes, intrinsics, depth, poses "
        "(Metadata_1..N with several inputs).",
    ),
)
"""The input names :func:`spatial_runtime.session.prepare` binds (numbered with several inputs)."""


def input_names(count: int) -> list[tuple[str, str]]:
    """``(frames name, metadata name)`` of each of ``count`` inputs.

    Returns:
        ``[("InputImages", "Metadata")]`` for one input, ``[("InputImages_1", "Metadata_1"), ...]`` (1-based)
        for several, ``[]`` for none.

    Raises:
        ValueError: a negative ``count``.
    """
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    images, metadata = INPUTS[0].name, INPUTS[1].name
    if count == 1:
        return [(images, metadata)]
    return [(f"{images}_{k}", f"{metadata}_{k}") for k in range(1, count + 1)]
