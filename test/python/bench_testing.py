"""Helpers the benchmark tests (``test_bench_<name>.py``) share: a replica written into a temporary data root, its
samples loaded, the "missing snapshot names the download" check and a ``python -m spatial_eval score ... --json`` run.
"""

from __future__ import annotations

import importlib
import json
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest
from spatial_eval.cli import load_benchmark
from spatial_eval.types import Benchmark, DatasetMissing, LoadContext, Sample, Scored, Scoring

REPO = Path(__file__).resolve().parents[2]
SCORE_KEYS = {"benchmark", "scoring", "n", "per_task", "overall"}
"""The keys every ``score --json`` result has."""


def write_replica(name: str, root: Path) -> Path:
    """``root`` with the replica of benchmark ``name`` (test/python/replicas/<name>.py) written into it."""
    importlib.import_module(f"replicas.{name}").write(root)
    return root


def replica_root(factory: pytest.TempPathFactory, name: str) -> Path:
    """A fresh temporary data root holding the replica of ``name`` (for module-scoped fixtures)."""
    return write_replica(name, factory.mktemp(name))


def by_id(samples: Iterable[Sample]) -> dict[str, Sample]:
    """Source id -> sample."""
    return {s.source_id: s for s in samples}


def load(bench: Benchmark, root: Path, tmp: Path) -> list[Sample]:
    """``bench.load`` of ``<root>/<folder>`` with its cache under ``tmp``; asserts that no row had a problem."""
    loaded = bench.load(root / bench.folder, LoadContext(cache_dir=tmp / "cache"))
    assert loaded.problems == []
    return loaded.samples


def loaded_samples(bench: Benchmark, data_root: Path) -> list[Sample]:
    """The samples :func:`spatial_eval.cli.load_benchmark` reads from ``data_root``; asserts that no row had a
    problem."""
    loaded = load_benchmark(bench, data_root)
    assert loaded.problems == []
    return loaded.samples


def loaded_by_id(bench: Benchmark, data_root: Path) -> dict[str, Sample]:
    """:func:`loaded_samples` by source id."""
    return by_id(loaded_samples(bench, data_root))


def scored(scoring: Scoring, samples: Iterable[Sample], predictions: Mapping[str, str | None]) -> list[Scored]:
    """Each sample with its prediction (``predictions`` by source id) and that prediction's score under ``scoring``."""
    return [Scored(s, predictions[s.source_id], scoring.score(s, predictions[s.source_id])) for s in samples]


def assert_missing_names_download(
    bench: Benchmark,
    tmp_path: Path,
    hf_repo: str,
    missing: str | None = None,
    prepare: Callable[[Path], None] | None = None,
) -> None:
    """Without its folder, and with the folder present but its files not (after ``prepare(folder)``), loading raises
    DatasetMissing whose message has the download command ``hf download <hf_repo> --repo-type dataset`` and, in the
    second case, matches ``missing`` (a regular expression)."""
    download = f"hf download {hf_repo} --repo-type dataset"
    with pytest.raises(DatasetMissing, match=re.escape(download)):
        load_benchmark(bench, tmp_path)
    folder = tmp_path / bench.folder
    folder.mkdir(parents=True, exist_ok=True)
    if prepare is not None:
        prepare(folder)
    with pytest.raises(DatasetMissing, match=missing) as e:
        bench.load(folder, LoadContext(cache_dir=tmp_path / "cache"))
    assert download in str(e.value)


def write_predictions(path: Path, predictions: Mapping[Any, Any] | Iterable[Mapping[str, Any]]) -> Path:
    """A predictions file at ``path``: JSON Lines ``{"id": ..., "prediction": ...}`` from an id -> prediction mapping,
    or the given objects as they are."""
    rows = (
        [{"id": k, "prediction": v} for k, v in predictions.items()]
        if isinstance(predictions, Mapping)
        else list(predictions)
    )
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def score_cli_json(
    name: str, data_root: Path, predictions: Mapping[Any, Any], scoring: str | None = None
) -> dict[str, Any]:
    """``python -m spatial_eval score --benchmark <name> ... --json`` (``--scoring`` when given) on ``predictions`` (id
    -> prediction, written to a temporary JSON Lines file) as parsed JSON; asserts that it succeeded, has
    :data:`SCORE_KEYS` and names the benchmark and scoring."""
    with tempfile.TemporaryDirectory() as tmp:
        path = write_predictions(Path(tmp) / "predictions.jsonl", predictions)
        cmd = [sys.executable, "-m", "spatial_eval", "score", "--benchmark", name, "--data-root", str(data_root)]
        cmd += ["--predictions", str(path)] + (["--scoring", scoring] if scoring else []) + ["--json"]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=REPO)
    res = json.loads(out.stdout)
    assert SCORE_KEYS <= res.keys()
    assert (res["benchmark"], res["scoring"]) == (name, scoring or "official")
    return res
