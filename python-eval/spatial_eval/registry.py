"""Every benchmark, by name, in the order of the paper's table.

Each module in :mod:`spatial_eval.benchmarks` exports ``BENCHMARKS``: a tuple of :class:`~spatial_eval.types.Benchmark`.
A module that fails to import is reported by name (``datasets list`` shows it) instead of hiding the others.
"""

from __future__ import annotations

import importlib
import json
from functools import cache
from pathlib import Path
from typing import Any

from spatial_eval.types import Benchmark

# The paper's table order (reference/paper_results.json), then the extra VSI-Bench split.
MODULES: tuple[str, ...] = (
    "erqa",
    "omni3d",
    "omnispatial",
    "spbench",
    "mindcube",
    "mmsi",
    "sparbench",
    "mmsivideo",
    "osibench",
    "paibench",
    "vsibench",
    "vstibench",
    "dsibench",
    "blink",
    "spatialtree",
    "viewspatial",
    "cvbench",
    "perceptioncomp",
    "videomme",
    "videommev2",
)

PAPER_BENCHMARKS: tuple[str, ...] = tuple("vsibench_debiased" if m == "vsibench" else m for m in MODULES)
"""The 20 benchmarks of the paper's table, whose unweighted mean is the paper's average (VSI-Bench as VSI-Bench-U)."""


@cache
def _load() -> tuple[dict[str, Benchmark], dict[str, str]]:
    found: dict[str, Benchmark] = {}
    broken: dict[str, str] = {}
    for mod in MODULES:
        try:
            m = importlib.import_module(f"spatial_eval.benchmarks.{mod}")
        except ModuleNotFoundError as e:
            if e.name == f"spatial_eval.benchmarks.{mod}":
                broken[mod] = "not implemented yet"
                continue
            broken[mod] = f"import failed: {e}"
            continue
        except Exception as e:  # a broken module must not hide the others
            broken[mod] = f"import failed: {type(e).__name__}: {e}"
            continue
        for b in m.BENCHMARKS:
            found[b.name] = b
    return found, broken


def benchmarks() -> dict[str, Benchmark]:
    """Name -> benchmark, every one whose module imports."""
    return _load()[0]


def unavailable() -> dict[str, str]:
    """Module name -> why it is not available (not implemented, import error)."""
    return _load()[1]


def get(name: str) -> Benchmark:
    """The benchmark called ``name``. Raises KeyError listing the known names."""
    known = benchmarks()
    if name not in known:
        why = unavailable().get(name)
        raise KeyError(
            f"unknown benchmark {name!r}" + (f" ({why})" if why else "") + f"; known: {', '.join(sorted(known))}"
        )
    return known[name]


def resolve_names(spec: str) -> list[str]:
    """``"all"`` -> the paper's 20 (those available); ``"a,b"`` -> [a, b] checked. Raises KeyError for unknown names."""
    if spec.strip() == "all":
        return [n for n in PAPER_BENCHMARKS if n in benchmarks()]
    names = [s.strip() for s in spec.split(",") if s.strip()]
    for n in names:
        get(n)
    return names


@cache
def paper_reference() -> dict[str, Any]:
    """The paper's published numbers (reference/paper_results.json): per benchmark and method, percent."""
    return json.loads((Path(__file__).parent / "reference" / "paper_results.json").read_text(encoding="utf-8"))


def reference_for(name: str) -> dict[str, float]:
    """The paper's per-method accuracies for ``name`` as fractions 0..1; empty for a benchmark outside its table (the
    paper reports VSI-Bench-U, ``vsibench_debiased``, not the full ``vsibench``)."""
    ref = paper_reference()
    for row in ref["benchmarks"]:
        if row["key"] == name:
            return {m: round(row[m] / 100, 6) for m in ref["methods"] if isinstance(row.get(m), (int, float))}
    return {}
