"""Variable summaries without values: the paper profile's (``variable_values`` false; docs/paper-parity.md row 9).

A variable is described by a few recorded facts, never by its value:

* ``type``: the class name;
* ``shape`` (as ``str(value.shape)``) and ``dtype`` (``str``) when the value has those attributes;
* ``frame_indices`` when it has them (frame collections, per-frame results);
* ``len`` of a list, tuple or dict; the first 10 ``keys`` of a dict;
* ``size_mb`` = ``round(value.nbytes / 1e6, 2)`` (decimal MB) when it has ``nbytes``.

One line per variable: ``name: type`` then, comma-separated in this order, ``shape=...``, ``dtype=...``,
``len=...``, ``frames=...`` (the list with up to 6 entries, else ``[first..last] (N frames)``), ``size=X.XMB``
(only from 1.0), ``keys=...`` (the list with up to 5 keys, else the first 5 followed by ``...``). A variable
counts as changed only when its facts change: a new value of the same type, or an array edited in place, is
not reported. Modules are listed; functions and other callables only when they are dataclasses. Variables over
:data:`LARGE_MB` are reported by :func:`large`, for a warning.
"""

from __future__ import annotations

import dataclasses
import numbers
from typing import Any

__all__ = ["LARGE_MB", "LINE_LIMIT", "facts", "large", "line", "summarize", "tracked"]

LARGE_MB = 500.0
"""Decimal MB above which a variable is reported by :func:`large`."""
LINE_LIMIT = 500
"""Longest line (characters); longer lines (huge keys) are cut with "…"."""


def tracked(value: Any) -> bool:
    """Whether a (public, not pre-loaded) name holding ``value`` is listed: callables only if they are dataclasses."""
    try:
        return not callable(value) or dataclasses.is_dataclass(value)
    except Exception:
        return False


def facts(value: Any) -> dict[str, Any]:
    """The recorded facts of ``value`` (see the module docstring). Never raises: facts that cannot be read are
    left out, from the first one that fails."""
    out: dict[str, Any] = {"type": type(value).__name__}
    try:
        if hasattr(value, "shape"):
            shape = value.shape
            out["shape"] = str(shape)
            if isinstance(shape, tuple) and all(isinstance(s, numbers.Integral) for s in shape):
                out["dims"] = [int(s) for s in shape]  # the same fact, for the VariableSummary's list
        if hasattr(value, "dtype"):
            out["dtype"] = str(value.dtype)
        if hasattr(value, "frame_indices"):
            out["frame_indices"] = [int(i) for i in value.frame_indices]
        if isinstance(value, (list, tuple, dict)):
            out["len"] = len(value)
        if isinstance(value, dict):
            out["keys"] = list(value.keys())[:10]
        if hasattr(value, "nbytes"):
            out["size_mb"] = round(float(value.nbytes) / 1e6, 2)
    except Exception:
        pass
    return out


def line(name: str, f: dict[str, Any]) -> str:
    """The summary line of ``name`` with facts ``f``."""
    parts = [f"{name}: {f.get('type', '?')}"]
    for key in ("shape", "dtype", "len"):
        if key in f:
            parts.append(f"{key}={f[key]}")
    if "frame_indices" in f:
        fi = f["frame_indices"]
        parts.append(f"frames=[{fi[0]}..{fi[-1]}] ({len(fi)} frames)" if len(fi) > 6 else f"frames={fi}")
    if f.get("size_mb", 0) >= 1.0:
        parts.append(f"size={f['size_mb']:.1f}MB")
    if "keys" in f:
        keys = f["keys"]
        parts.append(f"keys={keys[:5]}..." if len(keys) > 5 else f"keys={keys}")
    text = ", ".join(parts)
    text = " ".join(text.split()) if ("\n" in text or "\r" in text) else text
    return text if len(text) <= LINE_LIMIT else text[: LINE_LIMIT - 1] + "…"


def summarize(name: str, f: dict[str, Any]) -> dict[str, Any]:
    """The ``VariableSummary`` dict (docs/kernel-protocol.md) of ``name`` with facts ``f``: ``shape`` as a list
    when it is a tuple of ints, ``frames`` as [first, last], ``size_mb`` in decimal MB."""
    fi = f.get("frame_indices")
    return {
        "name": name,
        "type": f.get("type", "?"),
        "shape": f.get("dims"),
        "dtype": f.get("dtype"),
        "len": f.get("len"),
        "frames": [fi[0], fi[-1]] if fi else None,
        "size_mb": f.get("size_mb"),
        "line": line(name, f),
    }


def large(all_facts: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """``[{"name", "size_mb"}]`` of the variables whose ``size_mb`` exceeds :data:`LARGE_MB`, in order."""
    return [{"name": name, "size_mb": f["size_mb"]} for name, f in all_facts.items() if f.get("size_mb", 0) > LARGE_MB]
