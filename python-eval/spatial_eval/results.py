"""Scoring predictions and writing ``results.json`` (docs/benchmarks-eval.md, "results.json").

Levels: per benchmark (the scoring's own overall and its intermediate per-task scores), per category and per
question type (mean per-sample score), each with its sample counts and a 95% bootstrap confidence interval
(scipy.stats.bootstrap, percentile method, resampling samples), and the unweighted mean over the benchmarks as the
paper computes its average. The paper's published numbers sit beside each benchmark.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import Any

import numpy as np

from spatial_eval.registry import PAPER_BENCHMARKS, get, paper_reference, reference_for
from spatial_eval.types import Aggregate, Sample, Scored, ScoringName

RESULTS_FORMAT = "spatialclaw-results/1"


def prediction_text(answer: Any) -> str | None:
    """The text a scorer reads for an agent answer: strings as they are, numbers as Python prints them
    (``2`` -> ``"2"``, ``2.5`` -> ``"2.5"``), lists and dicts as JSON; None stays None."""
    if answer is None:
        return None
    if isinstance(answer, bool):
        return str(answer)
    if isinstance(answer, float) and answer.is_integer() and abs(answer) < 1e15:
        return str(int(answer))
    if isinstance(answer, (int, float, str)):
        return str(answer)
    import json

    return json.dumps(answer)


def score_samples(samples: Sequence[Sample], predictions: dict[str, str | None], scoring: ScoringName) -> list[Scored]:
    """Score each sample's prediction (by ``sample.id``) under ``scoring``; a sample without a prediction gets None as
    its prediction, which every scorer scores like a blank answer."""
    out: list[Scored] = []
    for s in samples:
        scorer = get(s.benchmark).scorings[scoring]
        pred = predictions.get(s.id)
        out.append(Scored(s, pred, scorer.score(s, pred)))
    return out


def bootstrap_ci(
    items: Sequence[Scored],
    statistic: Callable[[Sequence[Scored]], float | None],
    *,
    n_resamples: int = 1000,
    seed: int = 0,
    unit: Callable[[Sample], str] | None = None,
) -> list[float] | None:
    """A 95% percentile bootstrap interval of ``statistic`` over resampled samples (scipy.stats.bootstrap), or None
    with fewer than 2 samples (groups) or a statistic that is undefined on a resample. With ``unit``, whole groups of
    samples are resampled (a cluster bootstrap), so a grouped score sees complete groups."""
    from scipy.stats import bootstrap

    if unit is not None:
        groups: dict[str, list[Scored]] = {}
        for s in items:
            groups.setdefault(unit(s.sample), []).append(s)
        blocks = list(groups.values())
        if len(blocks) < 2 or n_resamples <= 0:
            return None

        def stat_groups(i: np.ndarray) -> float:
            v = statistic([s for k in i for s in blocks[int(k)]])
            return float("nan") if v is None else float(v)

        res = bootstrap(
            (np.arange(len(blocks)),),
            stat_groups,
            n_resamples=n_resamples,
            method="percentile",
            random_state=seed,
            vectorized=False,
        )
        lo, hi = float(res.confidence_interval.low), float(res.confidence_interval.high)
        return None if math.isnan(lo) or math.isnan(hi) else [lo, hi]
    if len(items) < 2 or n_resamples <= 0:
        return None
    values = [float(s.score) for s in items if s.score is not None]
    if len(values) == len(items) and statistic is _mean_score:
        data: tuple[Any, ...] = (np.asarray(values, dtype=np.float64),)
        if np.ptp(data[0]) == 0:
            return [float(data[0][0])] * 2
        res = bootstrap(
            data, np.mean, n_resamples=n_resamples, method="percentile", random_state=seed, vectorized=True, axis=-1
        )
    else:
        idx = np.arange(len(items))

        def stat(i: np.ndarray) -> float:
            v = statistic([items[int(k)] for k in i])
            return float("nan") if v is None else float(v)

        res = bootstrap((idx,), stat, n_resamples=n_resamples, method="percentile", random_state=seed, vectorized=False)
    lo, hi = float(res.confidence_interval.low), float(res.confidence_interval.high)
    if math.isnan(lo) or math.isnan(hi):
        return None
    return [lo, hi]


def _mean_score(items: Sequence[Scored]) -> float | None:
    vals = [s.score for s in items if s.score is not None]
    return sum(vals) / len(vals) if vals else None  # type: ignore[arg-type]


def _group(items: Sequence[Scored], key: Callable[[Scored], str | None], n_resamples: int) -> dict[str, Any]:
    groups: dict[str, list[Scored]] = {}
    for s in items:
        k = key(s)
        if k is not None:
            groups.setdefault(k, []).append(s)
    out: dict[str, Any] = {}
    for k in sorted(groups):
        g = groups[k]
        scored = [s for s in g if s.score is not None]
        out[k] = {
            "n": len(g),
            "scored": len(scored),
            "mean": _mean_score(g),
            "ci95": bootstrap_ci(scored, _mean_score, n_resamples=n_resamples),
        }
    return out


def benchmark_result(
    name: str, items: Sequence[Scored], scoring: ScoringName, *, n_resamples: int = 1000
) -> dict[str, Any]:
    """One benchmark's block of results.json under ``scoring``."""
    bench = get(name)
    scorer = bench.scorings[scoring]
    agg: Aggregate = scorer.aggregate(items)

    def overall(sub: Sequence[Scored]) -> float | None:
        return scorer.aggregate(sub).overall

    return {
        "title": bench.title,
        "hf_repo": bench.hf_repo,
        "scoring": scoring,
        "sources": [s.cite() for s in scorer.sources],
        "n": agg.n,
        "scored": agg.scored,
        "overall": agg.overall,
        "ci95": bootstrap_ci(items, overall, n_resamples=n_resamples, unit=bench.unit)
        if agg.overall is not None
        else None,
        "per_task": agg.per_task,
        "by_category": _group(items, lambda s: s.sample.category, n_resamples),
        "by_question_type": _group(items, lambda s: s.sample.question_type, n_resamples),
        "notes": agg.notes,
        "published_count": bench.published_count,
        "reference": reference_for(name),
    }


def build_results(
    scored: Sequence[Scored], scoring: ScoringName, *, n_resamples: int = 1000, run: dict[str, Any] | None = None
) -> dict[str, Any]:
    """results.json for ``scored`` (any mix of benchmarks) under ``scoring``."""
    by_bench: dict[str, list[Scored]] = {}
    for s in scored:
        by_bench.setdefault(s.sample.benchmark, []).append(s)
    blocks = {name: benchmark_result(name, items, scoring, n_resamples=n_resamples) for name, items in by_bench.items()}
    in_table = [n for n in PAPER_BENCHMARKS if n in blocks and blocks[n]["overall"] is not None]
    values = [blocks[n]["overall"] for n in in_table]
    ref = paper_reference()
    return {
        "format": RESULTS_FORMAT,
        "scoring": scoring,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **({"run": run} if run else {}),
        "benchmarks": blocks,
        "mean_over_benchmarks": {
            "value": (sum(values) / len(values)) if values else None,
            "benchmarks": in_table,
            "of": len(PAPER_BENCHMARKS),
            "complete": len(in_table) == len(PAPER_BENCHMARKS),
            "rule": "unweighted mean of each benchmark's overall, over the paper's 20 (VSI-Bench as VSI-Bench-U)",
            "reference": {m: round(v / 100, 6) for m, v in ref["averages"].items()},
        },
    }


def format_table(results: dict[str, Any]) -> str:
    """A readable table of results.json: benchmark, n, score with its 95% CI, and the paper's SpatialClaw number."""
    rows = [("benchmark", "n", "score %", "95% CI", "paper %", "notes")]
    for name, b in results["benchmarks"].items():
        ov = b["overall"]
        ci = b["ci95"]
        ref = b["reference"].get("spatialclaw")
        rows.append(
            (
                name,
                f"{b['scored']}/{b['n']}",
                "-" if ov is None else f"{100 * ov:.1f}",
                "-" if not ci else f"{100 * ci[0]:.1f}-{100 * ci[1]:.1f}",
                "-" if ref is None else f"{100 * ref:.1f}",
                "; ".join(b["notes"])[:60],
            )
        )
    m = results["mean_over_benchmarks"]
    if m["value"] is not None:
        rows.append(
            (
                f"mean of {len(m['benchmarks'])}/{m['of']}",
                "",
                f"{100 * m['value']:.1f}",
                "",
                f"{100 * m['reference']['spatialclaw']:.1f}",
                "" if m["complete"] else "not all 20 benchmarks: not comparable with the paper's average",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return f"scoring: {results['scoring']}\n" + "\n".join(lines)
