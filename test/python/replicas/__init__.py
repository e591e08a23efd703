"""Tiny replicas of the 20 benchmarks' published snapshots (3-10 rows each), in the exact on-disk layout.

Each module ``test/python/replicas/<name>.py`` has ``write(data_root: Path) -> None``, which writes
``<data_root>/<folder>/`` as the benchmark's users download it (parquet, JSON, JSONL, mp4), with media made from the
real frames in ``test/fixtures/`` (:mod:`.media`). ``python -m test.python.replicas DIR [NAME...]`` writes them all.
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path


def names() -> list[str]:
    """The benchmarks with a replica module."""
    return sorted(
        m.name for m in pkgutil.iter_modules(__path__) if m.name not in ("media",) and not m.name.startswith("_")
    )


def write_all(data_root: Path, only: list[str] | None = None) -> list[str]:
    """Write the replicas of ``only`` (default: every one) under ``data_root``; returns the names written."""
    done = []
    for name in only or names():
        importlib.import_module(f"{__name__}.{name}").write(Path(data_root))
        done.append(name)
    return done


def flat_inputs(sample: object) -> list[dict[str, object]]:
    """A sample's inputs with a multi-image input (``files``) spread into one ``{"kind", "path"}`` per image, so tests
    can check every image file in order."""
    out: list[dict[str, object]] = []
    for i in sample.inputs:  # type: ignore[attr-defined]
        files = i.get("files")
        out.extend({"kind": i["kind"], "path": f} for f in files) if files else out.append(i)
    return out
