"""The journals of finished samples in a run folder (docs/run-format.md; the Python form of
``electron/services/runs/layout.ts`` ``sampleJournals``).

A run folder's finished samples are the lines of ``samples.jsonl``; a sharded run (``spatialclaw eval --slurm``,
``shared/cluster.ts``) adds one journal per shard, ``shards/<kkk>/samples.jsonl`` (k zero-padded to 3 digits), and
its finished samples are the union, read in this order: the top-level journal, then the shards' by index.
"""

from __future__ import annotations

from pathlib import Path


def sample_journals(run_dir: str | Path) -> list[Path]:
    """The existing journals of ``run_dir`` in reading order (possibly empty)."""
    root = Path(run_dir)
    out: list[Path] = []
    top = root / "samples.jsonl"
    if top.is_file():
        out.append(top)
    shards = root / "shards"
    if shards.is_dir():
        for d in sorted((p for p in shards.iterdir() if p.is_dir() and p.name.isdigit()), key=lambda p: int(p.name)):
            j = d / "samples.jsonl"
            if j.is_file():
                out.append(j)
    return out
