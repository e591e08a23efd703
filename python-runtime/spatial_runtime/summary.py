"""Track the agent's variables between cells and summarise the new or changed ones.

:class:`VariableTracker` keeps a cheap fingerprint of every tracked name in a namespace dict and, on
:meth:`VariableTracker.changes`, returns a ``VariableSummary`` dict (docs/kernel-protocol.md) for each
name that is new or whose fingerprint changed::

    {"name": "depth", "type": "ndarray", "shape": [480, 640], "dtype": "float32", "len": None,
     "frames": None, "size_mb": 1.17, "line": "depth: ndarray float32 (480, 640) 1.2 MB"}

``size_mb`` is in MiB (2**20 bytes), rounded to 2 decimals, and the ``line`` prints it with one
decimal as "MB". ``line`` is at most :data:`MAX_LINE` characters.

Fingerprints are cheap and bounded, so tracking costs micro-seconds per name even for huge arrays:

* immutable scalars and strings (``int``, ``float``, ``str``, NumPy scalars, ...): their value (hash);
* ``ndarray``: identity, shape, dtype, strides and a CRC of at most 64 KiB of its data, sampled at
  evenly spaced elements. An in-place edit that touches none of the sampled elements can be missed;
* ``list``/``tuple``/``set``/``dict``: identity, length, and the identities of a bounded sample of items
  (up to 64; dict keys by hash, values by identity), so ``append``, item assignment and ``d[k] = v`` are seen;
* frame collections: identity, length and frame indices; PIL images: identity, size and mode;
* other objects: identity and the identities of up to 64 attribute values.

Left out: names starting with ``_``, modules, functions and classes not defined in the session
(imported ones), IPython's own names and the names in ``ignore`` (the runtime's pre-imported names and
the given inputs).

With ``values`` False (the paper profile's ``variable_values``) the tracker works on
:mod:`spatial_runtime.summary_facts` instead: no values in the lines, changes detected on the recorded facts
(type, shape, dtype, len, frames, size, keys), modules listed, callables left out unless they are dataclasses,
and :attr:`VariableTracker.large` lists the variables over 500 MB after every look.
"""

from __future__ import annotations

import collections
import functools
import inspect
import numbers
import reprlib
import types
import zlib
from collections.abc import Iterable, Mapping
from itertools import islice
from typing import Any

import numpy as np
from PIL import Image

from spatial_runtime import summary_facts

MAX_LINE = 160
SAMPLE_BYTES = 64 * 1024
SAMPLE_ITEMS = 64
SIZE_ITEMS = 256
IPYTHON_NAMES = frozenset({"In", "Out", "exit", "quit", "get_ipython", "open"})

_SCALARS = (int, float, complex, bool, str, bytes, type(None), np.generic)

_repr = reprlib.Repr()
_repr.maxstring = 60
_repr.maxother = 60
_repr.maxlist = 8
_repr.maxtuple = 8
_repr.maxdict = 6
_repr.maxset = 8
_repr.maxlevel = 2


# --------------------------------------------------------------------------------------------------
# Fingerprints
# --------------------------------------------------------------------------------------------------


def _array_sample_crc(a: np.ndarray) -> int:
    if a.size == 0 or a.dtype.hasobject:
        return 0 if a.size == 0 else hash(tuple(id(x) for x in a.flat[:SAMPLE_ITEMS]))
    itemsize = max(1, a.itemsize)
    k = max(1, SAMPLE_BYTES // itemsize)
    if a.size <= k:
        data = a.tobytes() if a.flags.c_contiguous else np.ascontiguousarray(a).tobytes()
        return zlib.crc32(data)
    step = a.size // k
    if a.flags.c_contiguous:
        sample = a.reshape(-1)[::step][:k]
    else:
        sample = a.flat[np.arange(0, step * k, step, dtype=np.intp)]
    crc = zlib.crc32(np.ascontiguousarray(sample).tobytes())
    # Also the last element, so that appending-like edits at the very end are seen.
    return zlib.crc32(a.flat[a.size - 1 : a.size].tobytes(), crc)


def fingerprint(value: Any) -> Any:
    """A cheap, hashable-or-comparable fingerprint of ``value``; equal fingerprints mean "unchanged".

    Never raises: a value that cannot be fingerprinted gets ``("id", id(value))``.
    """
    try:
        if isinstance(value, np.generic):
            return (type(value), value.tobytes())
        if isinstance(value, _SCALARS):
            if isinstance(value, (float, complex)) and value != value:
                return (type(value), "nan")
            return (type(value), value if not isinstance(value, (str, bytes)) or len(value) <= 256 else hash(value))
        if isinstance(value, np.ndarray):
            return ("nd", id(value), value.shape, value.dtype.str, value.strides, _array_sample_crc(value))
        if isinstance(value, (list, tuple)):
            n = len(value)
            head = value[: SAMPLE_ITEMS // 2]
            tail = value[max(SAMPLE_ITEMS // 2, n - SAMPLE_ITEMS // 2) :]
            return ("seq", id(value), n, tuple(id(x) for x in head), tuple(id(x) for x in tail))
        if isinstance(value, dict):
            n = len(value)
            half = SAMPLE_ITEMS // 2
            items = list(islice(value.items(), half))
            if n > half:
                items += list(islice(reversed(value.items()), min(half, n - half)))
            return ("map", id(value), n, tuple((hash(k), id(v)) for k, v in items))
        if isinstance(value, (set, frozenset)):
            return ("set", id(value), len(value), hash(frozenset(id(x) for x in islice(value, SAMPLE_ITEMS))))
        if isinstance(value, Image.Image):
            return ("pil", id(value), value.size, value.mode)
        indices = getattr(value, "frame_indices", None)
        if indices is not None:
            return ("frames", id(value), _safe_len(value), _frames_of(value))
        attrs = getattr(value, "__dict__", None)
        if isinstance(attrs, dict) and not isinstance(value, type):
            keys = list(islice(attrs, SAMPLE_ITEMS))
            return ("obj", id(value), type(value), tuple((k, id(attrs[k])) for k in keys))
        return ("id", id(value), type(value))
    except Exception:
        return ("id", id(value))


# --------------------------------------------------------------------------------------------------
# Summaries
# --------------------------------------------------------------------------------------------------


def _safe_len(value: Any) -> int | None:
    try:
        n = len(value)
    except Exception:
        return None
    return int(n) if isinstance(n, numbers.Integral) else None


def _frames_of(value: Any) -> list[int] | None:
    try:
        indices = getattr(value, "frame_indices", None)
        if indices is not None:
            seq = list(np.asarray(indices).reshape(-1)) if not isinstance(indices, (list, tuple)) else list(indices)
            if seq:
                return [int(seq[0]), int(seq[-1])]
            return None
        index = getattr(value, "frame_index", None)
        if isinstance(index, numbers.Integral) and not isinstance(index, bool):
            return [int(index), int(index)]
    except Exception:
        return None
    return None


def _pil_bytes(img: Image.Image) -> int:
    w, h = img.size
    return int(w) * int(h) * len(img.getbands())


def _item_bytes(x: Any) -> int | None:
    if isinstance(x, np.ndarray):
        return int(x.nbytes)
    if isinstance(x, Image.Image):
        return _pil_bytes(x)
    return None


def _container_bytes(items: Iterable[Any], n: int) -> int | None:
    """Bytes of the arrays/images among the first :data:`SIZE_ITEMS` items, scaled up to ``n`` items."""
    total, seen, counted = 0, 0, 0
    for x in items:
        if seen >= SIZE_ITEMS:
            break
        seen += 1
        b = _item_bytes(x)
        if b is not None:
            total += b
            counted += 1
    if counted == 0:
        return None
    return total if seen >= n else int(total * n / seen)


def _collection_bytes(value: Any, n: int | None) -> int | None:
    """Decoded RGB size of a frame collection from its declared frame size, without touching any frame
    (collections decode lazily): ``len * W * H * 3`` when it exposes ``image_size`` or ``size`` = (W, H), or
    ``width``/``height``."""
    if not n:
        return None
    size = getattr(value, "image_size", None)
    if size is None:
        size = getattr(value, "size", None)
    if isinstance(size, tuple) and len(size) == 2 and all(isinstance(s, numbers.Integral) for s in size):
        w, h = size
    else:
        w, h = getattr(value, "width", None), getattr(value, "height", None)
        if not (isinstance(w, numbers.Integral) and isinstance(h, numbers.Integral)):
            return None
    return int(n) * int(w) * int(h) * 3


def _nbytes(value: Any, n: int | None) -> int | None:
    try:
        b = _item_bytes(value)
        if b is not None:
            return b
        if getattr(value, "frame_indices", None) is not None:
            return _collection_bytes(value, n)
        if isinstance(value, (list, tuple)) and n:
            return _container_bytes(value[:SIZE_ITEMS], n)
        if isinstance(value, dict) and n:
            return _container_bytes(islice(value.values(), SIZE_ITEMS), n)
    except Exception:
        return None
    return None


def _human_bytes(b: int) -> str:
    if b < 1024:
        return f"{b} B"
    if b < 1024**2:
        return f"{b / 1024:.1f} KB"
    if b < 1024**3:
        return f"{b / 1024**2:.1f} MB"
    return f"{b / 1024**3:.1f} GB"


def _bounded(text: str, limit: int = MAX_LINE) -> str:
    text = " ".join(text.split()) if ("\n" in text or "\r" in text) else text
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _short_repr(value: Any, limit: int = 80) -> str:
    """A one-line repr of at most ``limit`` characters; built-in containers are cut by :mod:`reprlib`
    before they are rendered, and a failing ``__repr__`` gives ``<unrepresentable>``."""
    try:
        if isinstance(value, (list, tuple, set, frozenset, dict, collections.deque)):
            text = _repr.repr(value)
        else:
            text = repr(value)
    except Exception:
        return "<unrepresentable>"
    if not isinstance(text, str):
        return "<unrepresentable>"
    return _bounded(text, limit)


def _scalar_text(value: Any) -> str:
    if isinstance(value, (float, np.floating)):
        text = repr(float(value))
        return text if len(text) <= 10 else f"{float(value):.6g}"
    if isinstance(value, str):
        if len(value) <= 40:
            return repr(value)
        r = repr(value[:40])
        return r[:-1] + "…" + r[-1]
    if isinstance(value, np.generic):
        return _bounded(str(value), 60)
    return _short_repr(value, 60)


_SIMPLE = (int, float, str, bool, type(None), np.generic)


def _is_simple(x: Any, depth: int = 0) -> bool:
    if isinstance(x, _SIMPLE):
        return not isinstance(x, str) or len(x) <= 40
    if depth == 0 and isinstance(x, (list, tuple)) and len(x) <= 4:
        return all(_is_simple(y, 1) for y in x)
    return False


def _describe(name: str, value: Any) -> dict[str, Any]:
    tname = type(value).__name__
    shape: list[int] | None = None
    dtype: str | None = None
    length: int | None = None
    frames = _frames_of(value)
    detail = ""

    if isinstance(value, np.ndarray):
        shape = [int(s) for s in value.shape]
        dtype = str(value.dtype)
        detail = f"{dtype} {tuple(shape)}"
        if value.size <= 8 and value.ndim <= 2 and not value.dtype.hasobject:
            detail += " " + _bounded(np.array2string(value, precision=4, separator=", "), 80)
    elif isinstance(value, (bool, np.bool_)):
        detail = f"= {value}"
    elif isinstance(value, (numbers.Number, np.generic)) and not isinstance(value, (str, bytes)):
        detail = f"= {_scalar_text(value)}"
    elif value is None:
        detail = "= None"
    elif isinstance(value, str):
        length = len(value)
        detail = f"len={length} {_scalar_text(value)}"
    elif isinstance(value, Image.Image):
        w, h = value.size
        bands = len(value.getbands())
        shape = [h, w] if bands == 1 else [h, w, bands]
        detail = f"{value.mode} {w}x{h}"
        if frames:
            detail += f" frame {frames[0]}"
    elif getattr(value, "frame_indices", None) is not None:
        length = _safe_len(value)
        detail = f"len={length}" if length is not None else ""
        if frames:
            detail += f" frames {frames[0]}..{frames[1]}"
    elif isinstance(value, (types.FunctionType, types.BuiltinFunctionType, types.MethodType)):
        try:
            detail = f"{value.__name__}{inspect.signature(value)}"
        except (TypeError, ValueError):
            detail = f"{getattr(value, '__name__', name)}(...)"
    elif isinstance(value, type):
        tname = "class"
        detail = value.__name__
    elif isinstance(value, (list, tuple, set, frozenset, dict)):
        length = len(value)
        detail = f"len={length}"
        items = value.values() if isinstance(value, dict) else value
        if isinstance(value, dict):
            keys = list(islice(value, 6))
            if all(_is_simple(k) for k in keys):
                detail += f" keys {_short_repr(keys, 60)}"
        elif 0 < length <= 20 and all(_is_simple(x) for x in value):
            detail += f" {_short_repr(value, 100)}"
        else:
            first = [type(x).__name__ for x in islice(items, SAMPLE_ITEMS)]
            if first and len(set(first)) == 1:
                detail += f" of {first[0]}"
    else:
        shape_attr = getattr(value, "shape", None)
        if isinstance(shape_attr, tuple) and all(isinstance(s, numbers.Integral) for s in shape_attr):
            shape = [int(s) for s in shape_attr]
            dt = getattr(value, "dtype", None)
            dtype = str(dt) if dt is not None else None
            detail = f"{dtype or ''} {tuple(shape)}".strip()
        else:
            length = _safe_len(value) if hasattr(value, "__len__") else None
            detail = _short_repr(value, 120)

    nbytes = _nbytes(value, length)
    size_mb = round(nbytes / 2**20, 2) if nbytes is not None else None
    if nbytes is not None and not isinstance(value, (str, bytes)):
        detail += f" {_human_bytes(nbytes)}"
    line = _bounded(f"{name}: {tname} {detail}".rstrip())
    return {
        "name": name,
        "type": tname,
        "shape": shape,
        "dtype": dtype,
        "len": length,
        "frames": frames,
        "size_mb": size_mb,
        "line": line,
    }


def summarize(name: str, value: Any) -> dict[str, Any]:
    """The ``VariableSummary`` dict of one variable (docs/kernel-protocol.md). Never raises.

    Args:
        name: the variable's name.
        value: its value.

    Returns:
        ``{"name", "type", "shape", "dtype", "len", "frames", "size_mb", "line"}`` with JSON-ready values:
        ``shape`` a list of ints or None, ``frames`` ``[first, last]`` absolute frame indices or None,
        ``size_mb`` MiB or None, ``line`` at most :data:`MAX_LINE` characters.
    """
    try:
        return _describe(name, value)
    except Exception:
        try:
            tname = type(value).__name__
        except Exception:
            tname = "object"
        return {
            "name": name,
            "type": tname,
            "shape": None,
            "dtype": None,
            "len": None,
            "frames": None,
            "size_mb": None,
            "line": _bounded(f"{name}: {tname} <unrepresentable>"),
        }


# --------------------------------------------------------------------------------------------------
# Tracker
# --------------------------------------------------------------------------------------------------


# Functions, classes and other code objects are reported only when defined in the session (``__main__``).
_CODE_TYPES = (
    type,
    types.FunctionType,
    types.BuiltinFunctionType,
    types.MethodType,
    types.BuiltinMethodType,
    functools.partial,
    np.ufunc,
)


def _user_defined(value: Any) -> bool:
    try:
        return getattr(value, "__module__", None) == "__main__"
    except Exception:
        return False


class VariableTracker:
    """Report the variables of a namespace that are new or changed since the last look.

    Args:
        ignore: names never reported (pre-imported runtime names, given inputs). Kept in the mutable set
            :attr:`ignore`; IPython's own names (``In``, ``Out``, ``exit``, ``quit``, ``get_ipython``,
            ``open``) are always left out.
        values: summaries with small values and fingerprint-based changes (True), or the paper's facts only
            (False; :mod:`spatial_runtime.summary_facts`). Settable; takes effect at the next :meth:`baseline`.
    """

    def __init__(self, ignore: Iterable[str] = (), values: bool = True) -> None:
        self.ignore: set[str] = set(ignore)
        self.values = values
        self.large: list[dict[str, Any]] = []
        """With ``values`` False: ``[{"name", "size_mb"}]`` of the variables over 500 MB at the last look."""
        self._snapshot: dict[str, Any] = {}
        self._before_new_only: dict[str, Any] | None = None  # the snapshot a ``new_only`` look replaced
        self._new_only_cell: int | None = None  # the cell that ``new_only`` look was about

    def tracked(self, name: str, value: Any) -> bool:
        """Whether ``name`` = ``value`` is a user variable worth reporting."""
        if name.startswith("_") or name in self.ignore or name in IPYTHON_NAMES:
            return False
        if not self.values:
            return summary_facts.tracked(value)
        if isinstance(value, types.ModuleType):
            return False
        if isinstance(value, _CODE_TYPES):
            return _user_defined(value)
        return True

    def _key(self, value: Any) -> Any:
        return fingerprint(value) if self.values else summary_facts.facts(value)

    def baseline(self, namespace: Mapping[str, Any]) -> None:
        """Take ``namespace`` as it is now as the reference: nothing in it is reported until it changes."""
        self._snapshot = {
            name: self._key(value) for name, value in list(namespace.items()) if self.tracked(name, value)
        }
        self._before_new_only = None
        self.large = []

    def roll_back(self, namespace: dict[str, Any], cell: int | None = None) -> list[str]:
        """Delete from ``namespace`` the tracked names that are new since the last full look (:meth:`baseline` or
        :meth:`changes` without ``new_only``; a ``new_only`` look about the same ``cell`` is undone, one about an
        earlier cell stands), and keep that look's snapshot, so variables changed since are reported by the next
        :meth:`changes`.

        Returns:
            The deleted names, in namespace order.
        """
        if self._before_new_only is not None and cell == self._new_only_cell:
            self._snapshot = self._before_new_only
        self._before_new_only = None
        names = [
            name
            for name, value in list(namespace.items())
            if isinstance(name, str) and name not in self._snapshot and self.tracked(name, value)
        ]
        for name in names:
            namespace.pop(name, None)
        return names

    def forget(self) -> None:
        """Drop the snapshot: the next :meth:`changes` reports every tracked variable."""
        self._snapshot = {}
        self._before_new_only = None
        self.large = []

    def changes(
        self, namespace: Mapping[str, Any], new_only: bool = False, cell: int | None = None
    ) -> list[dict[str, Any]]:
        """Summaries of the variables that are new or changed since the previous call (or baseline).

        Updates the snapshot (and, with ``values`` False, :attr:`large`). Deleted names are dropped from the
        snapshot silently. The order is the namespace's insertion order. With ``new_only``, changed variables are
        not reported (their change is still taken into the snapshot), and :meth:`roll_back` about the same ``cell``
        (the kernel's execution count) can undo the look.
        """
        new_snapshot: dict[str, Any] = {}
        out: list[dict[str, Any]] = []
        for name, value in list(namespace.items()):
            if not isinstance(name, str) or not self.tracked(name, value):
                continue
            fp = self._key(value)
            new_snapshot[name] = fp
            old = self._snapshot.get(name, _MISSING)
            try:
                same = old is not _MISSING and old == fp
            except Exception:
                same = False
            if not same and not (new_only and old is not _MISSING):
                out.append(summarize(name, value) if self.values else summary_facts.summarize(name, fp))
        if new_only:
            if self._before_new_only is None or cell != self._new_only_cell:
                self._before_new_only = self._snapshot
            self._new_only_cell = cell
        else:
            self._before_new_only = None
        self._snapshot = new_snapshot
        self.large = [] if self.values else summary_facts.large(new_snapshot)
        return out


_MISSING = object()
