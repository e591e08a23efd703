"""Leak guard for kernels reused between samples (docs/kernel-protocol.md, "Release (pool)").

A pooled kernel is reset in place (:func:`spatial_runtime.session.reset`) instead of restarted. Clearing the user
namespace undoes what a sample bound to names; it cannot undo what a sample did to the *interpreter*: a module
attribute rebound (``np.linalg.norm = f``, ``math.pi = 3``), an environment variable set, a module imported that
registers itself elsewhere (a third-party package adding colormaps to matplotlib on import). This module takes a
:class:`Fingerprint` of the interpreter when the kernel is warm (:func:`take`, at the end of the first ``init()``)
and compares the interpreter against it after each reset (:func:`compare`). Any difference makes the kernel
*tainted*: the host shuts it down and starts a fresh one instead of reusing it.

The rule:

* **modules**: every module in ``sys.modules`` after the reset must have been there at warm-up, except those under
  :data:`ALLOWED_NEW_PREFIXES` (the kernel's own lazy imports: codecs, IPython's completer and inspector, the Cython
  runtime; the safety policy denies model cells these imports). Removing a new module from ``sys.modules`` is not a
  reset (other modules and registries keep references to it), so any other new module taints the kernel. To keep
  common imports from costing a restart, warm-up pre-imports :data:`WARM_IMPORTS` (small standard-library modules
  models use, and the runtime's own lazy imports), which are then part of the fingerprint.
* **module attributes**: for every module of the fingerprint except :data:`UNWATCHED` ones (the kernel machinery,
  whose public globals change as it runs), every public attribute (no leading ``_``) must still be bound to the
  *same object* (``is``), none may be deleted, and none added, except a submodule bound to its parent package (a
  lazy ``import scipy.stats`` does that).
* **process state**: the working directory (after the reset's ``chdir`` back) and ``os.environ`` must be as at
  warm-up.

State that can be put back exactly is restored instead of tainting (:func:`restore`): warning filters, NumPy's
floating-point error handling and print options, and the global random generators (re-seeded from the OS, as in a
fresh process). Public module attributes rebound, deleted or added by a sample are put back too
(:func:`restore_attributes`: the fingerprint holds the original objects), so ``np.pi = 3.0`` costs no restart and the
next sample sees ``np.pi`` as it was; :func:`compare` then reports only what could not be put back. Contents of
mutable objects (a dict inside a module) are not compared, nor private (``_``) attributes: the identity check is a
guard against rebinding, the common way to monkeypatch.

Memory is not part of the verdict: :func:`resident_mib` reports the process's resident memory after the reset (once
:func:`release_free_memory` has handed freed heap pages back to the OS), and the host compares it with its bound
(setting ``kernel_idle_max_mb``).
"""

from __future__ import annotations

import importlib
import os
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

if sys.platform.startswith("linux"):
    import ctypes
else:  # pragma: no cover - the kernels run on Linux; elsewhere the resident size comes from psutil or getrusage
    try:
        import psutil  # type: ignore[import-untyped]
    except ImportError:
        psutil = None
    try:
        import resource
    except ImportError:  # Windows
        resource = None  # type: ignore[assignment]

WARM_IMPORTS: tuple[str, ...] = (
    # standard-library modules models import, cheap and without global state a reset could not restore
    "bisect",
    "cmath",
    "colorsys",
    "copy",
    "dataclasses",
    "enum",
    "fractions",
    "heapq",
    "json",
    "numbers",
    "operator",
    "pydoc",  # help(obj)
    "random",
    "re",
    "statistics",
    "string",
    "textwrap",
    "typing",
    # the runtime's own lazy imports (prepare's input loaders, the Agg backend a first figure loads)
    "spatial_runtime.inputs",
    "PIL.ImageOps",
    "av.subtitles.stream",
    "matplotlib.style.core",
    "matplotlib.backends.backend_agg",
)
"""Imported at warm-up so that importing them in a sample does not taint the kernel."""

ALLOWED_NEW_PREFIXES: tuple[str, ...] = (
    "encodings.",
    "IPython.",
    "ipykernel.",
    "zmq.",
    "jupyter_client.",
    "_cython_",
    # SciPy's submodules load lazily on first use (``scipy.signal.find_peaks``); loading one registers nothing
    # outside SciPy, so a sample that uses one leaves the next sample nothing but the module already loaded.
    "scipy.",
)
"""Modules that may appear during a sample without tainting the kernel (the kernel's own lazy imports, and SciPy's
lazily loaded submodules)."""

UNWATCHED: tuple[str, ...] = (
    "__main__",
    "sys",
    "IPython",
    "ipykernel",
    "ipython_genutils",
    "jupyter_client",
    "jupyter_core",
    "traitlets",
    "zmq",
    "tornado",
    "asyncio",
    "comm",
    "debugpy",
    "logging",
    "threading",
    "_pydev",
    "pydevd",
    "spatial_runtime.session",
    "spatial_runtime.reset_guard",
    "tools",
)
"""Modules (and their submodules) whose attributes are not compared: the kernel machinery, and the session module
itself. ``tools`` is the alias of ``spatial_runtime.tools``, which is compared under its own name."""

IGNORED_ATTRIBUTES: frozenset[str] = frozenset({"builtins.input", "getpass.getpass"})
"""Attributes ipykernel rebinds for every execute request (its stdin forwarding)."""


@dataclass
class Fingerprint:
    """The interpreter state a reset must return to."""

    modules: frozenset[str]
    attributes: dict[str, dict[str, Any]] = field(repr=False)
    cwd: str = ""
    environ: dict[str, str] = field(default_factory=dict, repr=False)


@dataclass
class _Restorable:
    warning_filters: list[Any]
    numpy_err: dict[str, str] | None
    numpy_print: dict[str, Any] | None


_restorable: _Restorable | None = None


def _watched(name: str) -> bool:
    return not any(name == u or name.startswith(u + ".") for u in UNWATCHED)


def _public(module: ModuleType) -> dict[str, Any] | None:
    try:
        items = list(vars(module).items())
    except TypeError:
        return None
    return {k: v for k, v in items if not k.startswith("_")}


def warm_imports() -> list[str]:
    """Import :data:`WARM_IMPORTS` (and register Pillow's file-format plugins); @returns those that failed."""
    failed = []
    for name in WARM_IMPORTS:
        try:
            with warnings.catch_warnings():  # matplotlib.style.core is deprecated (3.11); rcdefaults imports it
                warnings.simplefilter("ignore")
                importlib.import_module(name)
        except Exception:
            failed.append(name)
    pyplot = sys.modules.get("matplotlib.pyplot")
    get_backend_mod = getattr(pyplot, "_get_backend_mod", None)
    if get_backend_mod is not None:
        try:
            get_backend_mod()  # resolve the backend now; the first figure would (binding matplotlib.backends.backend)
        except Exception:
            failed.append("matplotlib backend")
    image = sys.modules.get("PIL.Image")
    if image is not None:
        try:
            image.init()  # what the first Image.open/save does: import every format plugin
        except Exception:
            failed.append("PIL.Image.init")
    return failed


def take() -> Fingerprint:
    """The fingerprint of the interpreter now (also remembers the restorable state for :func:`restore`)."""
    global _restorable
    attributes: dict[str, dict[str, Any]] = {}
    for name, module in list(sys.modules.items()):
        if module is None or not _watched(name):
            continue
        public = _public(module)
        if public is not None:
            attributes[name] = public
    np = sys.modules.get("numpy")
    _restorable = _Restorable(
        warning_filters=list(warnings.filters),
        numpy_err=dict(np.geterr()) if np is not None else None,
        numpy_print=dict(np.get_printoptions()) if np is not None else None,
    )
    return Fingerprint(frozenset(sys.modules), attributes, os.getcwd(), dict(os.environ))


def restore() -> None:
    """Put back the state a reset can restore exactly (warning filters, NumPy error and print options) and re-seed
    the global random generators from the OS, as a fresh process does."""
    if _restorable is not None:
        warnings.filters[:] = _restorable.warning_filters
        warnings._filters_mutated()  # type: ignore[attr-defined]  # invalidate the per-module caches
        np = sys.modules.get("numpy")
        if np is not None:
            if _restorable.numpy_err is not None:
                np.seterr(**_restorable.numpy_err)
            if _restorable.numpy_print is not None:
                try:
                    np.set_printoptions(**_restorable.numpy_print)
                except (TypeError, ValueError):
                    pass
    np = sys.modules.get("numpy")
    if np is not None:
        np.random.seed()
    rnd = sys.modules.get("random")
    if rnd is not None:
        rnd.seed()


def restore_attributes(fp: Fingerprint, max_reasons: int = 20) -> list[str]:
    """Put the public attributes of the fingerprint's modules back as they were at warm-up: rebind the rebound and
    deleted ones to their original objects and delete the added ones (except a submodule bound to its package, as
    a lazy import does). A sample's ``np.pi = 3.0`` or ``math.helper = f`` is then undone exactly, and the kernel
    stays reusable (:func:`compare` no longer sees it). Modules whose attributes cannot be set are left for
    :func:`compare` to report.

    Returns:
        What was put back, one short note each (at most ``max_reasons``), e.g. ``numpy.pi restored``.
    """
    notes: list[str] = []
    for name, attr, change, value in _attribute_changes(fp):
        module = sys.modules[name]
        try:
            if change == "added":
                delattr(module, attr)
            else:
                setattr(module, attr, value)
        except (AttributeError, TypeError):
            continue
        notes.append(f"{name}.{attr} {'removed' if change == 'added' else 'restored'}")
    return notes[:max_reasons]


def _attribute_changes(fp: Fingerprint) -> Iterator[tuple[str, str, str, Any]]:
    """Each public attribute of the fingerprint's modules (still imported and readable) that differs from warm-up:
    ``(module name, attribute, "deleted" | "rebound" | "added", the warm-up value or None)``. A submodule bound to its
    package (a lazy import) is not a change; nor is an attribute in ``IGNORED_ATTRIBUTES``."""
    for name, before in fp.attributes.items():
        module = sys.modules.get(name)
        now = _public(module) if module is not None else None
        if now is None:
            continue
        for attr, value in before.items():
            if f"{name}.{attr}" in IGNORED_ATTRIBUTES:
                continue
            if attr not in now:
                yield name, attr, "deleted", value
            elif now[attr] is not value:
                yield name, attr, "rebound", value
        for attr in now.keys() - before.keys():
            value = now[attr]
            if isinstance(value, ModuleType) and value.__name__ == f"{name}.{attr}":
                continue  # a submodule imported lazily binds itself to its package
            yield name, attr, "added", None


def _allowed_new(name: str) -> bool:
    return name.startswith(ALLOWED_NEW_PREFIXES)


def compare(fp: Fingerprint, max_reasons: int = 20) -> list[str]:
    """What differs from ``fp``, one short reason each (at most ``max_reasons``); empty when the kernel is clean."""
    reasons: list[str] = []
    new = sorted(m for m in set(sys.modules) - fp.modules if not _allowed_new(m))
    if new:
        shown = ", ".join(new[:5]) + (f" (+{len(new) - 5} more)" if len(new) > 5 else "")
        reasons.append(f"modules imported since warm-up: {shown}")
    reasons.extend(f"module {name} was removed from sys.modules" for name in fp.attributes if name not in sys.modules)
    for name, attr, change, _ in _attribute_changes(fp):
        if len(reasons) >= max_reasons:
            break
        reasons.append(f"{name}.{attr} was {change}")
    if os.getcwd() != fp.cwd:
        reasons.append(f"working directory is {os.getcwd()}, not {fp.cwd}")
    env = dict(os.environ)
    if env != fp.environ:
        changed = sorted(k for k in env.keys() | fp.environ.keys() if env.get(k) != fp.environ.get(k))
        reasons.append(f"environment variables changed: {', '.join(changed[:5])}")
    return reasons[:max_reasons]


def adopt(fp: Fingerprint) -> Fingerprint:
    """``fp`` extended with the allowed modules imported since (after a clean reset), so that later changes to them
    are caught too."""
    added = set(sys.modules) - fp.modules
    attributes = dict(fp.attributes)
    for name in added:
        module = sys.modules.get(name)
        if module is not None and _watched(name):
            public = _public(module)
            if public is not None:
                attributes[name] = public
    return Fingerprint(fp.modules | added, attributes, fp.cwd, fp.environ)


def _load_malloc_trim() -> Any:
    """glibc's ``malloc_trim`` (looked up among the symbols the interpreter already loaded), or None (musl, another
    OS)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


_malloc_trim = _load_malloc_trim()


def release_free_memory() -> bool:
    """Hand the C heap's free pages back to the OS (glibc ``malloc_trim(0)``).

    Freed Python and NumPy memory below glibc's mmap threshold stays in the heap, resident, until trimmed: a sample
    that built a million small objects would otherwise leave a few hundred MiB counted against the kernel after the
    reset although nothing holds them. Returns whether a trim ran (False where there is no glibc).
    """
    if _malloc_trim is None:
        return False
    _malloc_trim(0)
    return True


def resident_mib() -> float | None:
    """The resident memory of this process now, MiB (one decimal), or None when it cannot be read.

    Linux: ``VmRSS`` of ``/proc/self/status``. Elsewhere: psutil's ``rss`` when psutil is installed, else the peak
    resident size from ``getrusage`` (an upper bound of the current one: it never shrinks).
    """
    if sys.platform.startswith("linux"):
        try:
            with open("/proc/self/status", encoding="ascii", errors="replace") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return round(int(line.split()[1]) / 1024, 1)  # kB
        except (OSError, ValueError, IndexError):
            return None
        return None
    if psutil is not None:  # pragma: no cover - non-Linux
        return round(psutil.Process().memory_info().rss / 2**20, 1)
    if resource is not None:  # pragma: no cover - non-Linux
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return round(peak / 2**20 if sys.platform == "darwin" else peak / 1024, 1)  # bytes on macOS, kB elsewhere
    return None  # pragma: no cover
