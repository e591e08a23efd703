"""The benchmark registry as a whole: all 21 benchmarks load, every scoring names its sources at a commit, every
benchmark has its page in docs/benchmarks-eval/, the paper's 20 and its average, and the original's --subsample."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest
from spatial_eval.cli import select
from spatial_eval.registry import PAPER_BENCHMARKS, benchmarks, paper_reference, resolve_names, unavailable
from spatial_eval.results import build_results, format_table
from spatial_eval.types import Sample, Scored

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "benchmarks-eval.md").read_text(encoding="utf-8")
EXPECTED = set(PAPER_BENCHMARKS) | {"vsibench"}


def test_every_benchmark_module_imports() -> None:
    assert unavailable() == {}
    assert set(benchmarks()) == EXPECTED and len(EXPECTED) == 21


def test_the_paper_table_is_the_20_in_order() -> None:
    keys = [b["key"] for b in paper_reference()["benchmarks"]]
    assert keys == list(PAPER_BENCHMARKS)
    assert resolve_names("all") == list(PAPER_BENCHMARKS)
    with pytest.raises(KeyError, match="unknown benchmark 'nope'"):
        resolve_names("vsibench,nope")


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_scorings_name_their_sources_at_a_commit(name: str) -> None:
    b = benchmarks()[name]
    assert set(b.scorings) == {"official", "paper"}, name
    for kind, scoring in b.scorings.items():
        assert scoring.sources, f"{name} {kind}: no source"
        for s in scoring.sources:
            assert re.fullmatch(r"[0-9a-f]{40}", s.commit), f"{name} {kind}: {s}"
        if kind == "paper":
            assert any(s.repo == "NVlabs/SpatialClaw" for s in scoring.sources), name
    assert b.published_count is None or b.published_count > 0
    assert b.hf_repo in DOC and f"benchmarks-eval/{b.folder if name.startswith('vsibench') else name}.md" in DOC


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_benchmark_has_its_page_naming_the_commits(name: str) -> None:
    b = benchmarks()[name]
    page = ROOT / "docs" / "benchmarks-eval" / f"{'vsibench' if name.startswith('vsibench') else name}.md"
    text = page.read_text(encoding="utf-8")
    for scoring in b.scorings.values():
        for s in scoring.sources:
            assert s.commit in text or s.commit[:12] in text, f"{page.name} does not name {s.cite()}"


def test_subsample_is_the_originals_seed_42_shuffle() -> None:
    items = [Sample("x", str(i), "q", [{"kind": "images", "path": "/a.png"}], "A") for i in range(100)]
    got = [s.source_id for s in select(items, None, 10, 42)]
    ref = list(range(100))
    random.seed(42)
    random.shuffle(ref)
    assert got == [str(i) for i in ref[:10]]
    assert [s.source_id for s in select(items, 3, None, 42)] == ["0", "1", "2"]


def test_average_is_the_unweighted_mean_over_the_benchmarks_present() -> None:
    def sample(bench: str, i: int) -> Sample:
        return Sample(bench, str(i), "q", [{"kind": "images", "path": "/a.png"}], "A", question_type="t")

    scored = [Scored(sample("blink", i), "A", 1.0) for i in range(3)]
    scored += [Scored(sample("erqa", i), "B", 0.0) for i in range(9)] + [Scored(sample("erqa", 9), "A", 1.0)]
    res = build_results(scored, "official", n_resamples=50)
    m = res["mean_over_benchmarks"]
    assert m["benchmarks"] == ["erqa", "blink"] and m["complete"] is False and m["of"] == 20
    e, bl = res["benchmarks"]["erqa"]["overall"], res["benchmarks"]["blink"]["overall"]
    assert m["value"] == pytest.approx((e + bl) / 2)  # not the pooled 4/13
    assert m["reference"]["spatialclaw"] == pytest.approx(0.599)
    table = format_table(res)
    assert "mean of 2/20" in table and "not comparable with the paper's average" in table


def test_categories_are_the_papers() -> None:
    cats = {b["key"]: b["category"] for b in paper_reference()["benchmarks"]}
    for name, b in benchmarks().items():
        assert b.category == cats.get(name, cats["vsibench_debiased"]), name


def test_grouped_benchmarks_select_and_resample_whole_groups(tmp_path: Path) -> None:
    from replicas import videommev2 as replica
    from spatial_eval.cli import load_benchmark
    from spatial_eval.registry import get
    from spatial_eval.results import build_results, score_samples

    replica.write(tmp_path)
    bench = get("videommev2")
    samples = load_benchmark(bench, tmp_path).samples
    assert bench.unit is not None
    groups = {bench.unit(s) for s in samples}
    assert len(groups) >= 2
    size = len(samples) // len(groups)
    for n in (1, size + 1):
        for chosen in (select(samples, None, n, 42, bench.unit), select(samples, n, None, 42, bench.unit)):
            picked = {bench.unit(s) for s in chosen}
            assert len(chosen) == size * len(picked) >= n  # whole groups only, N rounded up
    preds = {s.id: str(s.answer) if i % 3 else "Z" for i, s in enumerate(samples)}
    res = build_results(score_samples(samples, preds, "official"), "official", n_resamples=200)
    block = res["benchmarks"]["videommev2"]
    assert block["overall"] is not None and block["ci95"] is not None  # every resample holds complete groups
