"""The host's entry points into an agent kernel (docs/kernel-protocol.md, "Life of a kernel").

* :func:`init` (pool warm-up): pre-import the agent's names into the user namespace and hook ``plt.show``;
* :func:`prepare` (session start): bind the inputs, ``chdir`` to the scratch folder, configure the VLM
  bridge and the perception server, restart the image counter and take the variable tracker's baseline;
* :func:`after_cell` (every cell, through ``user_expressions``): the new or changed variables;
* :func:`reset` (back to the pool): clear the user namespace and all session state, then :func:`init`.

All of them work on IPython's user namespace (``get_ipython().user_ns``); tests may pass a plain dict
to :func:`init`, which is then used by the other calls until :func:`reset` or the next :func:`init`.
The names bound are those of :mod:`spatial_runtime.namespace`; what ``prepare`` binds and configures is
also recorded, as data, in :mod:`spatial_runtime.context` (where the tools read it).
"""

from __future__ import annotations

import gc
import importlib
import json
import os
import re
import sys
from collections.abc import MutableMapping
from typing import Any

from spatial_common.contract import ContractError, compile_validators, validate

from spatial_runtime import context, display, summary
from spatial_runtime import perception as _perception_module
from spatial_runtime import vlm as _vlm_module
from spatial_runtime.namespace import PRELOADED, PRELOADED_NAMES, PreloadedName

PREIMPORTED = PRELOADED_NAMES
"""Names :func:`init` binds (``tools`` only once ``spatial_runtime.tools`` can be imported)."""

_SCIPY_SUBMODULES = ("scipy.spatial", "scipy.ndimage", "scipy.optimize", "scipy.signal")

_KEEP_ALWAYS = frozenset({"__builtin__", "__builtins__", "__name__", "__doc__", "__package__", "__loader__"})

_namespace_override: MutableMapping[str, Any] | None = None
_initialized_for: int | None = None
_tracker = summary.VariableTracker()
_start_dir = os.getcwd()


class PrepareSummary(str):
    """The text :func:`prepare` returns; shown as plain lines (not a quoted string) when a cell ends with it."""

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(str(self))


class CellVariables:
    """What :func:`after_cell` returns: ``_repr_json_()`` gives ``{"variables": [VariableSummary, ...]}``."""

    def __init__(self, variables: list[dict[str, Any]]) -> None:
        self.variables = variables

    def _repr_json_(self) -> dict[str, Any]:
        return {"variables": self.variables}

    def __repr__(self) -> str:
        if not self.variables:
            return "no new or changed variables"
        return "\n".join(v["line"] for v in self.variables)


def _shell() -> Any:
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with ipykernel
        return None
    return get_ipython()


def _namespace() -> MutableMapping[str, Any]:
    if _namespace_override is not None:
        return _namespace_override
    shell = _shell()
    if shell is None:
        raise RuntimeError(
            "spatial_runtime.session needs a running IPython kernel, or a namespace dict passed to init()"
        )
    return shell.user_ns


def _ipython_names(ns: MutableMapping[str, Any]) -> set[str]:
    shell = _shell()
    if shell is not None and ns is shell.user_ns:
        return set(shell.user_ns_hidden)
    return set()


def _import_tools(module: str) -> Any:
    """``spatial_runtime.tools`` if it can be imported, else None (with a warning on stderr if it is broken)."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as err:
        if err.name in (module, "spatial_runtime"):
            return None
        print(f"spatialclaw: tools are unavailable in this kernel: {err}", file=sys.stderr)
        return None
    except Exception as err:  # a broken tools package must not break the kernel's warm-up
        print(f"spatialclaw: tools are unavailable in this kernel: {type(err).__name__}: {err}", file=sys.stderr)
        return None


def _load(entry: PreloadedName) -> Any:
    """The value of a pre-loaded name, from its ``source`` (``"module"`` or ``"module:attribute"``); None for an
    optional name that cannot be loaded."""
    assert entry.source is not None, f"{entry.name} has no source"
    module, _, attribute = entry.source.partition(":")
    if entry.optional:
        value = _import_tools(module)
    else:
        value = importlib.import_module(module)
    return getattr(value, attribute) if attribute and value is not None else value


def init(namespace: MutableMapping[str, Any] | None = None) -> None:
    """Pre-import the agent's names into the user namespace. Idempotent.

    Binds ``np``, ``scipy`` (with ``scipy.spatial``, ``ndimage``, ``optimize``, ``signal`` imported),
    ``math``, ``collections``, ``itertools``, ``functools``, ``plt`` (matplotlib.pyplot on the Agg
    backend, ``plt.show`` publishing figures), ``show``, ``ReturnAnswer``, ``vlm`` and, once
    ``spatial_runtime.tools`` exists, ``tools`` (also registered as ``sys.modules["tools"]`` so that
    ``import tools`` and ``from tools import X`` work). These names are never reported by :func:`after_cell`.

    Args:
        namespace: the dict to populate; default IPython's user namespace. When given, later calls to
            :func:`prepare`, :func:`after_cell` and :func:`reset` use it too (for tests).

    Raises:
        RuntimeError: without a namespace outside an IPython kernel.
    """
    global _namespace_override, _initialized_for
    if namespace is not None:
        _namespace_override = namespace
    ns = _namespace()

    display.install_plt_hook()  # selects Agg before pyplot is imported
    for module in _SCIPY_SUBMODULES:
        importlib.import_module(module)
    names: dict[str, Any] = {}
    for entry in PRELOADED:
        value = _load(entry)
        if value is not None:
            names[entry.name] = value
    if "tools" in names:
        sys.modules["tools"] = names["tools"]
    ns.update(names)
    _tracker.ignore.update(PREIMPORTED)
    compile_validators("PrepareConfig", "PublishedArtifact")  # during warm-up, not in the first prepare()
    _tracker.ignore.update(_ipython_names(ns))
    _initialized_for = id(ns)


def _ensure_init(ns: MutableMapping[str, Any]) -> None:
    if _initialized_for != id(ns):
        init(ns if _namespace_override is ns else None)


_CONFIG_HINTS = {
    "scratch_dir": "'scratch_dir' must be a non-empty path string",
    "inputs": "'inputs' must be a list of InputSpec objects",
    "max_long_edge": "'max_long_edge' must be a positive int or null",
    "bridge": '\'bridge\' must be null or {"url": str, "token": str}',
    "perception": '\'perception\' must be null or {"url": "http(s)://...", "token": str, '
    '"backends": {"reconstruct": str, "segment": str}} (backends optional)',
}


def _config_field(message: str) -> str | None:
    """The top-level field a ContractError names (``data.<field>...`` or ``data must contain ['<field>']``)."""
    m = re.search(r"data\.(\w+)", message) or re.search(r"must contain \['(\w+)'", message)
    return m.group(1) if m else None


def _parse_config(config_json: str | dict[str, Any]) -> tuple[dict[str, Any], ContractError | None]:
    """The session config as a dict checked against the ``PrepareConfig`` contract (shared/contracts/kernel.ts).

    Missing optional keys get their null/empty defaults. A problem inside ``inputs`` is returned rather than
    raised: :func:`spatial_runtime.inputs.load_inputs` names a bad input more precisely, and the contract error
    is raised only if it does not.

    Raises:
        ValueError: not JSON, not an object, or a field that breaks the contract (named, with its expected form).
    """
    if isinstance(config_json, (str, bytes)):
        try:
            cfg = json.loads(config_json)
        except ValueError as err:
            raise ValueError(f"prepare(): the session config is not valid JSON: {err}") from None
    else:
        cfg = dict(config_json)
    if not isinstance(cfg, dict):
        raise ValueError("prepare(): the session config must be a JSON object")
    cfg = {"inputs": [], "max_long_edge": None, "bridge": None, "perception": None, **cfg}
    if cfg["inputs"] is None:
        cfg["inputs"] = []
    try:
        validate("PrepareConfig", cfg)
    except ContractError as err:
        field = _config_field(str(err))
        if field == "inputs" and isinstance(cfg["inputs"], list) and all(isinstance(s, dict) for s in cfg["inputs"]):
            return cfg, err
        hint = _CONFIG_HINTS.get(field or "", "the session config breaks the PrepareConfig contract")
        raise ValueError(f"prepare(): {hint} ({err})") from None
    return cfg, None


def _describe_input(name: str, value: Any) -> str:
    """One line for :func:`prepare`'s summary: ``name = repr(value)``, a multi-line repr joined with "; "."""
    try:
        text = repr(value)
    except Exception:
        text = "<unrepresentable>"
    text = "; ".join(" ".join(line.split()) for line in text.splitlines() if line.strip())
    if len(text) > 1000:
        text = text[:999] + "…"
    return f"{name} = {text}"


def prepare(config_json: str) -> PrepareSummary:
    """Start a session in this (initialised) kernel.

    Args:
        config_json: ``{"scratch_dir": "/abs/dir", "inputs": [InputSpec, ...], "max_long_edge": int | null,
            "bridge": {"url": str, "token": str} | null, "perception": {"url": str, "token": str,
            "backends": {"reconstruct": str, "segment": str}} | null}`` as a JSON string (a dict is accepted
            too). ``perception`` (optional, as are its ``backends`` and their keys) is the perception server
            that ``tools.Reconstruct`` and ``tools.SAM3`` call, with their default backends.

    Loads the inputs with ``spatial_runtime.inputs.load_named_inputs(inputs, max_long_edge)`` and binds the
    names it returns (``InputImages`` and ``Metadata``, or ``InputImages_1..N`` and ``Metadata_1..N``),
    replacing those of a previous ``prepare``, and records them in :mod:`spatial_runtime.context`; creates
    ``scratch_dir`` if needed and makes it the working directory; configures ``vlm`` from ``bridge`` (or makes
    it unavailable) and the perception tools from ``perception`` (or makes them unavailable), both kept in
    memory only (in the context); restarts the ``show`` image index at 0; and takes the tracker's baseline so
    that the inputs (and anything already defined) are not reported by the next :func:`after_cell`.

    Returns:
        One line per bound name (a ``str``).

    Raises:
        spatial_runtime.inputs.InputError: an input cannot be loaded (the message names the file and the fix).
        ValueError: the config is not valid JSON or misses/mistypes a field.
    """
    cfg, inputs_problem = _parse_config(config_json)
    ns = _namespace()
    _ensure_init(ns)

    inputs: list[context.BoundInput] = []
    if cfg["inputs"]:
        from spatial_runtime.inputs import load_named_inputs

        inputs = [context.BoundInput(*named) for named in load_named_inputs(cfg["inputs"], cfg["max_long_edge"])]
    if inputs_problem is not None:  # load_inputs accepted what the contract refuses
        raise ValueError(f"prepare(): {_CONFIG_HINTS['inputs']} ({inputs_problem})")
    bound = {name: value for b in inputs for name, value in ((b.name, b.images), (b.metadata_name, b.metadata))}

    os.makedirs(cfg["scratch_dir"], exist_ok=True)
    os.chdir(cfg["scratch_dir"])
    for old in context.current().inputs:
        for name in (old.name, old.metadata_name):
            ns.pop(name, None)
            _tracker.ignore.discard(name)
    ns.update(bound)
    context.bind_inputs(inputs)
    _tracker.ignore.update(bound)

    bridge = cfg["bridge"]
    if bridge is None:
        _vlm_module.clear()
    else:
        _vlm_module.configure(bridge["url"], bridge["token"])
    perception = cfg["perception"]
    if perception is None:
        _perception_module.clear()
    else:
        _perception_module.configure(perception["url"], perception["token"], perception.get("backends"))
    display.reset_counter()
    _tracker.baseline(ns)
    return PrepareSummary("\n".join(_describe_input(name, value) for name, value in bound.items()))


def after_cell() -> CellVariables:
    """The variables that are new or changed since the previous call (or :func:`prepare`); updates the snapshot.

    Returns:
        A :class:`CellVariables`, whose ``_repr_json_()`` is ``{"variables": [VariableSummary, ...]}``.
        Never raises: if the namespace cannot be read the list is empty.
    """
    try:
        return CellVariables(_tracker.changes(_namespace()))
    except Exception:
        return CellVariables([])


def _clear_namespace(ns: MutableMapping[str, Any]) -> None:
    shell = _shell()
    if shell is not None and ns is shell.user_ns:
        hidden = shell.user_ns_hidden
        # Drop the output cache (Out, _, __, ___, _N), which holds references to user objects.
        try:
            shell.displayhook.flush()
        except Exception:
            pass
        for name in list(ns):
            if name in _KEEP_ALWAYS:
                continue
            if name in hidden:
                if not name.startswith("_") and ns[name] is not hidden[name]:
                    ns[name] = hidden[name]  # restore an IPython name the user rebound (In, exit, ...)
                continue
            del ns[name]
        # Blank the previous session's code in the input history, keeping In[n] aligned with cell numbers.
        manager = getattr(shell, "history_manager", None)
        for history in (getattr(manager, "input_hist_parsed", None), getattr(manager, "input_hist_raw", None)):
            if isinstance(history, list):
                history[:] = [""] * len(history)
        for name in list(ns):
            if name in ("_i", "_ii", "_iii") or (name.startswith("_i") and name[2:].isdigit()):
                ns[name] = ""
                if name in hidden:
                    hidden[name] = ""
    else:
        for name in list(ns):
            if name not in _KEEP_ALWAYS:
                del ns[name]


def reset() -> None:
    """Return the kernel to its just-initialised state for the next session (same process, no restart).

    Clears every user name from the namespace (IPython's own entries such as ``In``, ``Out``, ``_ih``,
    ``get_ipython``, ``exit``, ``__builtins__`` stay; the output cache is flushed and the input history
    blanked), closes all matplotlib figures and restores matplotlib's default rcParams, forgets the
    VLM bridge, the perception server and the inputs, restarts the image index and the tracker, goes back to
    the directory the kernel started in, and calls :func:`init` again.
    """
    global _initialized_for
    ns = _namespace()
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is not None:
        plt.close("all")
        import matplotlib

        matplotlib.rcdefaults()
    context.clear()  # the inputs, the VLM bridge and the perception server
    _clear_namespace(ns)
    _tracker.ignore.clear()
    _tracker.forget()
    display.reset_counter()
    if os.path.isdir(_start_dir):
        os.chdir(_start_dir)
    _initialized_for = None
    init(ns if _namespace_override is ns else None)
    gc.collect()


def key_frames(count: int = 8, max_long_edge: int = 1024) -> int:
    """Publish ``count`` evenly spaced input frames as images for the host (the model's first message).

    With several inputs (``InputImages_1..N``) the frames are shared out across them. Each image is a
    ``display_data`` bundle like ``show()``'s, labelled ``"frame <absolute index>"`` (prefixed with the
    input number when there are several); the ``show()`` counter is left untouched.

    Args:
        count: how many frames in total (≥ 1).
        max_long_edge: long edge in pixels the frames are downscaled to (aspect ratio kept).

    Returns:
        The number of images published.
    """
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
        picks = sorted({round(i * (n - 1) / max(1, per - 1)) for i in range(min(per, n))}) if per > 1 else [n // 2]
        for p in picks:
            frame = frames[p]
            img = display.downscale(display.to_pil(frame), max_long_edge)
            prefix = f"input {k} " if len(inputs) > 1 else ""
            display.publish(display.image_bundle(img, f"{prefix}frame {getattr(frame, 'frame_index', p)}", published))
            published += 1
    return published
