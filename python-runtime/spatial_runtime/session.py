"""The host's entry points into an agent kernel (docs/kernel-protocol.md, "Life of a kernel").

* :func:`init` (pool warm-up): pre-import the agent's names into the user namespace and hook ``plt.show``;
* :func:`prepare` (session start): bind the inputs, ``chdir`` to the scratch folder, configure the VLM
  bridge and the perception server, restart the image counter and take the variable tracker's baseline;
* :func:`after_cell` (every cell, through ``user_expressions``): the new or changed variables;
* after a cell that failed (``user_expressions`` are not evaluated then), for the paper profile's
  condensation (docs/paper-parity.md row 10): :func:`rollback_new_variables` deletes the variables the cell
  created, :func:`new_variables` reports them (and keeps them);
* :func:`reset_namespace` (the paper profile, after a cell timeout): clear every user variable, keep the session;
* :func:`key_frames` (the model's first message): publish key frames (:mod:`spatial_runtime.keyframes`);
* :func:`reset` (back to the pool): clear the user namespace and all session state, then :func:`init`.

All of them work on IPython's user namespace (``get_ipython().user_ns``); tests may pass a plain dict
to :func:`init`, which is then used by the other calls until :func:`reset` or the next :func:`init`.
The names bound are those of :mod:`spatial_runtime.namespace`; what ``prepare`` binds and configures is
also recorded, as data, in :mod:`spatial_runtime.context` (where the tools read it).
"""

from __future__ import annotations

import dataclasses
import gc
import importlib
import json
import os
import re
import sys
from collections.abc import MutableMapping
from typing import Any

from spatial_common.contract import ContractError, compile_validators, validate

from spatial_runtime import context, display, kernel_io, keyframes, reset_guard, summary
from spatial_runtime import perception as _perception_module
from spatial_runtime import vlm as _vlm_module
from spatial_runtime.namespace import PRELOADED, PRELOADED_NAMES, PreloadedName, preloaded

PREIMPORTED = PRELOADED_NAMES
"""Names :func:`init` binds (``tools`` only once ``spatial_runtime.tools`` can be imported)."""

#: Imported at warm-up (they also load top-level extension modules, ``_ni_label``, ``_moduleTNC``). ``scipy.signal``,
#: ``stats``, ``interpolate``, ... load on first use (SciPy's lazy submodule access: ``scipy.signal.find_peaks`` works
#: without an import), which a reused kernel allows (reset_guard.ALLOWED_NEW_PREFIXES); ``scipy.signal`` alone cost
#: every kernel 0.37 s of CPU at start-up.
_SCIPY_SUBMODULES = ("scipy.spatial", "scipy.ndimage", "scipy.optimize")

_KEEP_ALWAYS = frozenset({"__builtin__", "__builtins__", "__name__", "__doc__", "__package__", "__loader__"})

_namespace_override: MutableMapping[str, Any] | None = None
_initialized_for: int | None = None
_tracker = summary.VariableTracker()
_start_dir = os.getcwd()
_fingerprint: reset_guard.Fingerprint | None = None


class PrepareSummary(str):
    """The text :func:`prepare` returns; shown as plain lines (not a quoted string) when a cell ends with it."""

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(str(self))


class CellVariables:
    """What :func:`after_cell` returns: ``_repr_json_()`` gives ``{"variables": [VariableSummary, ...]}``, plus
    ``"large": [{"name", "size_mb"}, ...]`` when the profile's summaries have no values (the paper's)."""

    def __init__(self, variables: list[dict[str, Any]], large: list[dict[str, Any]] | None = None) -> None:
        self.variables = variables
        self.large = large

    def _repr_json_(self) -> dict[str, Any]:
        if self.large is None:
            return {"variables": self.variables}
        return {"variables": self.variables, "large": self.large}

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


#: What the tools import on first use (tools.Graph, tools.Draw), imported before a sample's first cell so that using
#: them does not taint a reused kernel (reset_guard): not needed for prepare.
_TOOL_LAZY_IMPORTS = ("networkx",)

#: Pre-loaded names a deferred :func:`init` leaves to :func:`init_rest` (pyplot and its backend hook: ~0.3 s).
_DEFERRED_NAMES = frozenset({"plt"})
#: True between ``init(deferred=True)`` and :func:`init_rest` (or a full :func:`init`).
_warm_pending = False


def init(namespace: MutableMapping[str, Any] | None = None, deferred: bool = False) -> None:
    """Pre-import the agent's names into the user namespace. Idempotent.

    Binds ``np``, ``scipy`` (with ``scipy.spatial``, ``ndimage``, ``optimize``, ``signal`` imported),
    ``math``, ``collections``, ``itertools``, ``functools``, ``plt`` (matplotlib.pyplot on the Agg
    backend, ``plt.show`` publishing figures), ``show``, ``ReturnAnswer``, ``vlm`` and, once
    ``spatial_runtime.tools`` exists, ``tools`` (also registered as ``sys.modules["tools"]`` so that
    ``import tools`` and ``from tools import X`` work). These names are never reported by :func:`after_cell`.

    With ``deferred``, a kernel is ready for :func:`prepare` sooner (~0.45 s instead of ~1.3 s on the 2-core CI
    machine): pyplot (``plt``), the SciPy submodules and the reset guard's warm imports and fingerprint are left
    to :func:`init_rest`, which the host runs while the sample's first model call is in flight (before its first
    cell). Everything :func:`prepare` and ``key_frames`` need is loaded either way.

    Args:
        namespace: the dict to populate; default IPython's user namespace. When given, later calls to
            :func:`prepare`, :func:`after_cell` and :func:`reset` use it too (for tests).
        deferred: leave the heavy imports to :func:`init_rest` (ignored once a full init has run).

    Raises:
        RuntimeError: without a namespace outside an IPython kernel.
    """
    global _namespace_override, _initialized_for, _warm_pending
    if namespace is not None:
        _namespace_override = namespace
    ns = _namespace()
    kernel_io.install()  # per-cell output cap, no stdin (a no-op outside a kernel)

    full = not deferred or _fingerprint is not None
    if full:
        _import_heavy()
    names: dict[str, Any] = {}
    for entry in PRELOADED:
        if not full and entry.name in _DEFERRED_NAMES:
            continue
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
    if full:
        _take_fingerprint()
    _warm_pending = not full


def _import_heavy() -> None:
    display.install_plt_hook()  # selects Agg before pyplot is imported
    for module in (*_SCIPY_SUBMODULES, *_TOOL_LAZY_IMPORTS):
        importlib.import_module(module)


def _take_fingerprint() -> None:
    """The warm state a reset must return to (reset_guard), taken once; its directory is the start directory."""
    global _fingerprint, _warm_pending
    if _fingerprint is None:
        reset_guard.warm_imports()
        _fingerprint = dataclasses.replace(reset_guard.take(), cwd=_start_dir)
    _warm_pending = False


def init_rest() -> None:
    """Finish an ``init(deferred=True)``: import pyplot (Agg, ``plt.show`` publishing figures) and the SciPy
    submodules, bind ``plt``, and take the reset guard's fingerprint. A no-op after a full :func:`init`.

    Called by the host after :func:`prepare`, while the first model call is in flight; the host waits for it
    before the sample's first cell. A :func:`reset` or :func:`reset_namespace` before it completes the init too.
    """
    if not _warm_pending:
        return
    ns = _namespace()
    _import_heavy()
    for entry in PRELOADED:
        if entry.name in _DEFERRED_NAMES:
            value = _load(entry)
            if value is not None:
                ns[entry.name] = value
    _take_fingerprint()


def _ensure_init(ns: MutableMapping[str, Any]) -> None:
    if _initialized_for != id(ns):
        init(ns if _namespace_override is ns else None)


_CONFIG_HINTS = {
    "scratch_dir": "'scratch_dir' must be a non-empty path string",
    "inputs": "'inputs' must be a list of InputSpec objects",
    "max_long_edge": "'max_long_edge' must be a positive int or null",
    "resize": "'resize' must be 'long_edge' or 'paper_grid'",
    "profile": "'profile' must be a KernelProfile object (shared/profiles.ts)",
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
            "resize": "long_edge" | "paper_grid", "bridge": {"url": str, "token": str} | null, "perception":
            {"url": str, "token": str, "backends": {"reconstruct": str, "segment": str}} | null, "profile":
            KernelProfile}`` as a JSON string (a dict is accepted too). ``perception`` (optional, as are its
            ``backends`` and their keys) is the perception server that ``tools.Reconstruct`` and ``tools.SAM3``
            call, with their default backends. ``resize`` (optional, default ``long_edge``) is the resize rule
            (:mod:`spatial_runtime.inputs.sizing`); ``profile`` (optional, default: the default profile) the kernel
            options of the agent profile.

    Loads the inputs with ``spatial_runtime.inputs.load_named_inputs(inputs, max_long_edge, resize)`` and binds
    the names it returns (``InputImages`` and ``Metadata``, or ``InputImages_1..N`` and ``Metadata_1..N``),
    replacing those of a previous ``prepare``, and records them and the profile in
    :mod:`spatial_runtime.context`; creates ``scratch_dir`` if needed and makes it the working directory;
    configures ``vlm`` from ``bridge`` (or makes it unavailable) and binds the profile's ``vlm`` object, and
    the perception tools from ``perception`` (or makes them unavailable), both kept in memory only (in the
    context); sets the variable summaries' kind (with or without values) from the profile; restarts the
    ``show`` image index at 0; and takes the tracker's baseline so that the inputs (and anything already
    defined) are not reported by the next :func:`after_cell`.

    Returns:
        One line per bound name (a ``str``).

    Raises:
        spatial_runtime.inputs.InputError: an input cannot be loaded (the message names the file and the fix).
        ValueError: the config is not valid JSON or misses/mistypes a field.
    """
    cfg, inputs_problem = _parse_config(config_json)
    ns = _namespace()
    _ensure_init(ns)

    profile = context.KernelProfile.from_config(cfg.get("profile"))
    inputs: list[context.BoundInput] = []
    if cfg["inputs"]:
        from spatial_runtime.inputs import load_named_inputs

        named = load_named_inputs(cfg["inputs"], cfg["max_long_edge"], cfg.get("resize") or "long_edge")
        inputs = [context.BoundInput(*n) for n in named]
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
    context.update(inputs=tuple(inputs), profile=profile)
    _tracker.ignore.update(bound)
    _bind_profile(ns, profile)

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


def _bind_profile(ns: MutableMapping[str, Any], profile: context.KernelProfile) -> None:
    """Bind what depends on the profile: its ``vlm`` object, and the kind of variable summaries."""
    vlm_entry = next(p for p in preloaded(profile.vlm) if p.name == "vlm")
    ns["vlm"] = _load(vlm_entry)
    _tracker.values = profile.variable_values


def _cell_number() -> int | None:
    """The kernel's execution count (the last recorded cell), or None outside IPython."""
    shell = _shell()
    count = getattr(shell, "execution_count", None)
    return count if isinstance(count, int) else None


def _variables(new_only: bool) -> CellVariables:
    try:
        changes = _tracker.changes(_namespace(), new_only=new_only, cell=_cell_number())
    except Exception:
        return CellVariables([])
    return CellVariables(changes, None if _tracker.values else list(_tracker.large))


def after_cell() -> CellVariables:
    """The variables that are new or changed since the previous call (or :func:`prepare`); updates the snapshot.

    Returns:
        A :class:`CellVariables`, whose ``_repr_json_()`` is ``{"variables": [VariableSummary, ...]}`` (and, for
        summaries without values, ``"large"``). Never raises: if the namespace cannot be read the list is empty.
    """
    return _variables(new_only=False)


def new_variables() -> CellVariables:
    """After a failed cell: the variables it created (changed ones are not reported), as :func:`after_cell` returns
    them; the snapshot takes the namespace as it is, so they are kept (docs/paper-parity.md row 10, "survivors"),
    unless :func:`rollback_new_variables` follows. Never raises."""
    return _variables(new_only=True)


def rollback_new_variables() -> list[str]:
    """After a failed cell: delete the variables it created, i.e. the tracked names that are not in the snapshot of
    the last :func:`after_cell` (which is not evaluated after a failed cell) or :func:`prepare`, also when
    :func:`new_variables` reported them since. That snapshot is kept: variables the cell changed keep their new
    values and are reported by the next :func:`after_cell` (docs/paper-parity.md row 10, "full rollback").

    Returns:
        The deleted names, in namespace order.
    """
    return _tracker.roll_back(_namespace(), cell=_cell_number())


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


def reset() -> dict[str, Any]:
    """Return the kernel to its just-initialised state for the next session (same process, no restart).

    Clears every user name from the namespace (IPython's own entries such as ``In``, ``Out``, ``_ih``,
    ``get_ipython``, ``exit``, ``__builtins__`` stay; the output cache is flushed and the input history
    blanked), closes all matplotlib figures and restores matplotlib's default rcParams, forgets the
    VLM bridge, the perception server, the inputs and the profile, restarts the image index and the tracker
    (summaries with values again), restores the warning filters and NumPy's error and print options, re-seeds the
    random generators, goes back to the directory the kernel started in, and calls :func:`init` again.

    Then puts back the public module attributes a sample rebound, added or deleted (``np.pi = 3.0``) from the
    warm-up fingerprint (:func:`spatial_runtime.reset_guard.restore_attributes`), and checks what a reset cannot undo
    against it (:mod:`spatial_runtime.reset_guard`): modules imported since warm-up, module attributes that could
    not be put back, the working directory and the environment. The host reuses the kernel only when the verdict is
    clean. Last, it collects garbage, hands the C heap's free pages back to the OS (glibc ``malloc_trim``) and
    measures the resident memory, which the host compares with its bound (``kernel_idle_max_mb``).

    Returns:
        ``{"tainted": bool, "reasons": [str, ...], "rss_mib": float | None}``: tainted kernels must be restarted,
        not reused; ``rss_mib`` is the resident memory after the reset (None where it cannot be read).
    """
    global _initialized_for, _fingerprint
    ns = _namespace()
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is not None:
        plt.close("all")
        import matplotlib

        matplotlib.rcdefaults()
    context.clear()  # the inputs, the VLM bridge, the perception server and the profile
    _clear_namespace(ns)
    _tracker.ignore.clear()
    _tracker.forget()
    _tracker.values = True
    display.reset_counter()
    reset_guard.restore()
    if os.path.isdir(_start_dir):
        os.chdir(_start_dir)
    _initialized_for = None
    init(ns if _namespace_override is ns else None)
    gc.collect()
    if _fingerprint is not None:
        reset_guard.restore_attributes(_fingerprint)  # np.pi = 3.0 and the like: put back, no restart needed
    reasons = reset_guard.compare(_fingerprint) if _fingerprint is not None else []  # init() always takes it
    if _fingerprint is not None and not reasons:
        _fingerprint = reset_guard.adopt(_fingerprint)
    reset_guard.release_free_memory()
    return {"tainted": bool(reasons), "reasons": reasons, "rss_mib": reset_guard.resident_mib()}


def reset_namespace() -> None:
    """Clear every user variable but keep the session: the inputs, ``vlm``, the perception server, the profile
    and the ``show`` image index stay; the pre-loaded names and the inputs are bound again, figures are closed and
    the tracker's baseline is taken. The paper profile's reaction to a cell timeout (docs/paper-parity.md 18.7).
    """
    ns = _namespace()
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is not None:
        plt.close("all")
    _clear_namespace(ns)
    init(ns if _namespace_override is ns else None)
    ctx = context.current()
    ns.update({name: value for b in ctx.inputs for name, value in ((b.name, b.images), (b.metadata_name, b.metadata))})
    _bind_profile(ns, ctx.profile)
    _tracker.baseline(ns)


def key_frames(count: int = 8, max_long_edge: int = 1024, selection: str = "default", per_input: bool = False) -> int:
    """Publish key frames of the inputs as images for the host (the model's first message).

    ``selection="default"``: ``count`` evenly spaced frames in total, shared out across the inputs
    (``InputImages_1..N``), labelled ``"frame <absolute index>"`` (prefixed with the input number when there are
    several). ``selection="paper"``: the paper's ``min(count, n)`` frames at ``round(i (n - 1) / (k - 1))`` over
    all inputs together, or ``count`` from each input with ``per_input``, labelled
    ``"<variable>[<position>] frame <absolute index>"`` with the same in the bundle's ``frame`` metadata
    (:mod:`spatial_runtime.keyframes`). Each image is a ``display_data`` bundle like ``show()``'s; the ``show()``
    counter is left untouched.

    Args:
        count: how many frames (≥ 1): in total, or per list for the paper selection.
        max_long_edge: long edge in pixels the frames are downscaled to (aspect ratio kept).
        selection: ``"default"`` or ``"paper"``.
        per_input: paper selection: ``count`` frames from each input.

    Returns:
        The number of images published.
    """
    return keyframes.publish_key_frames(count, max_long_edge, selection, per_input)
