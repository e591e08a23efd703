"""Compare two runs sample by sample (``spatialclaw compare RUN_A RUN_B``): which samples flipped, whether the
difference is more than chance, and by how much the score moved.

A sample counts when both runs recorded it with a score (``samples.jsonl``, matched by sample id); it is *correct*
when its score is at least ``threshold`` (0.5: an exact-match sample's 1 or 0, an MRA sample's mean accuracy over
thresholds). Statistics, all on the paired samples:

- McNemar's exact test on correct/wrong: the two-sided binomial test of the discordant pairs (A right and B wrong
  against A wrong and B right) at p = 0.5 (``scipy.stats.binomtest``); 1.0 with no discordant pair.
- ``delta``: the mean of B's score minus A's over the common samples (B better: positive).
- ``delta_ci95``: a 95% percentile bootstrap interval of that mean over resampled samples, each resample keeping a
  sample's two scores together (``scipy.stats.bootstrap`` on the per-sample differences); None with fewer than 2
  samples, [delta, delta] when every difference is the same.

``per_task`` repeats them per question type (``question_type``; for benchmark runs ``<benchmark>/<question_type>``).

:func:`compare_many` is the workbench's form (``compareRuns``, shared/compare.ts ``RunComparison``): two to six runs,
the first the baseline, each other run compared with it by the same :func:`compare_scores` as ``compare_runs``, plus a
per-sample table with every run's answer and each pair's flip. It refuses runs of different benchmarks and pairs
without a scored sample in common (:class:`CompareError`, with the fix).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from spatial_common.run_journals import sample_journals

from spatial_eval.files import iter_jsonl

#: A score at or above this counts as correct.
CORRECT_AT = 0.5


def read_scores(run: str | Path) -> dict[str, dict[str, Any]]:
    """``{sample id: {"score", "task", "answer", "ground_truth", "question", "benchmark", "question_type"}}`` of a run
    folder's finished samples (``samples.jsonl``, in file order; a sample recorded twice keeps its last line).
    ``benchmark``, ``question_type`` and ``question`` are None when the line has none.

    Raises:
        FileNotFoundError: naming the folder when it has no ``samples.jsonl`` (not a run folder).
        ValueError: naming the file and line of a line that is not JSON.
    """
    paths = sample_journals(run)
    if not paths:
        raise FileNotFoundError(
            f"{run} is not a run folder: it has no samples.jsonl (pass the folder `spatialclaw run` or `eval` wrote)"
        )
    out: dict[str, dict[str, Any]] = {}
    for path, i, row in ((p, i, row) for p in paths for i, row in iter_jsonl(p)):
        if isinstance(row, ValueError):
            raise ValueError(f"{path}:{i}: not valid JSON") from row
        qt = row.get("question_type") or "(none)"
        task = f"{row['benchmark']}/{qt}" if row.get("benchmark") else qt
        out[str(row["id"])] = {
            "score": row.get("score"),
            "task": task,
            "answer": row.get("answer"),
            "ground_truth": row.get("ground_truth"),
            "question": row.get("question"),
            "benchmark": row.get("benchmark") or None,
            "question_type": row.get("question_type"),
        }
    return out


def _delta_ci(diffs: np.ndarray, n_resamples: int, seed: int) -> list[float] | None:
    from scipy.stats import bootstrap

    if diffs.size < 2 or n_resamples <= 0:
        return None
    if np.all(diffs == diffs[0]):
        return [float(diffs[0]), float(diffs[0])]
    res = bootstrap((diffs,), np.mean, n_resamples=n_resamples, method="percentile", random_state=seed)
    return [float(res.confidence_interval.low), float(res.confidence_interval.high)]


def paired_stats(a: list[float], b: list[float], *, n_resamples: int = 9999, seed: int = 0) -> dict[str, Any]:
    """The paired statistics of two score lists (same samples, same order); see the module docstring."""
    from scipy.stats import binomtest

    sa = np.asarray(a, dtype=float)
    sb = np.asarray(b, dtype=float)
    ca = sa >= CORRECT_AT
    cb = sb >= CORRECT_AT
    a_only = int(np.sum(ca & ~cb))
    b_only = int(np.sum(cb & ~ca))
    discordant = a_only + b_only
    p = float(binomtest(min(a_only, b_only), discordant, 0.5).pvalue) if discordant else 1.0
    diffs = sb - sa
    return {
        "n_common": int(sa.size),
        "a_correct": int(ca.sum()),
        "b_correct": int(cb.sum()),
        "a_only_correct": a_only,
        "b_only_correct": b_only,
        "n_discordant": discordant,
        "mcnemar_p": p,
        "mean_a": float(sa.mean()) if sa.size else None,
        "mean_b": float(sb.mean()) if sb.size else None,
        "delta": float(diffs.mean()) if diffs.size else None,
        "delta_ci95": _delta_ci(diffs, n_resamples, seed),
    }


def compare_scores(
    a: dict[str, dict[str, Any]], b: dict[str, dict[str, Any]], *, n_resamples: int = 9999, seed: int = 0
) -> dict[str, Any]:
    """Compare two runs' :func:`read_scores` tables (B against A): ``correct_at``, the overall :func:`paired_stats`,
    ``a_only_samples`` / ``b_only_samples`` (recorded by one run only), ``per_task`` and ``flips``
    (``{"right_to_wrong": [ids], "wrong_to_right": [ids]}``, A → B, in A's order)."""
    common = [k for k in a if k in b and a[k]["score"] is not None and b[k]["score"] is not None]
    out: dict[str, Any] = {"correct_at": CORRECT_AT}
    scores_a = [a[k]["score"] for k in common]
    scores_b = [b[k]["score"] for k in common]
    out.update(paired_stats(scores_a, scores_b, n_resamples=n_resamples, seed=seed))
    out["a_only_samples"] = sum(1 for k in a if k not in b)
    out["b_only_samples"] = sum(1 for k in b if k not in a)
    tasks: dict[str, list[str]] = {}
    for k in common:
        tasks.setdefault(a[k]["task"], []).append(k)
    out["per_task"] = {
        t: paired_stats([a[k]["score"] for k in ks], [b[k]["score"] for k in ks], n_resamples=n_resamples, seed=seed)
        for t, ks in sorted(tasks.items())
    }
    right = [k for k in common if a[k]["score"] >= CORRECT_AT and b[k]["score"] < CORRECT_AT]
    wrong = [k for k in common if a[k]["score"] < CORRECT_AT and b[k]["score"] >= CORRECT_AT]
    out["flips"] = {"right_to_wrong": right, "wrong_to_right": wrong}
    return out


def compare_runs(run_a: str | Path, run_b: str | Path, *, n_resamples: int = 9999, seed: int = 0) -> dict[str, Any]:
    """Compare two run folders (B against A): ``a`` and ``b`` (the folders as given) and :func:`compare_scores`.

    Raises:
        FileNotFoundError, ValueError: from :func:`read_scores`.
    """
    stats = compare_scores(read_scores(run_a), read_scores(run_b), n_resamples=n_resamples, seed=seed)
    return {"a": str(run_a), "b": str(run_b), **stats}


#: The most runs :func:`compare_many` takes (shared/compare.ts ``COMPARE_MAX_RUNS``).
MAX_RUNS = 6


class CompareError(ValueError):
    """Runs that cannot be compared, with what to do instead (``fix``)."""

    def __init__(self, message: str, fix: str) -> None:
        super().__init__(message)
        self.fix = fix


def _benchmarks_of(table: dict[str, dict[str, Any]]) -> list[str]:
    return sorted({r["benchmark"] for r in table.values() if r["benchmark"]})


def _flip(a: dict[str, Any] | None, b: dict[str, Any] | None) -> str | None:
    if a is None or b is None or a["correct"] is None or b["correct"] is None:
        return None
    if a["correct"] and not b["correct"]:
        return "right_to_wrong"
    if b["correct"] and not a["correct"]:
        return "wrong_to_right"
    return "same"


def compare_many(runs: Sequence[str | Path], *, n_resamples: int = 9999, seed: int = 0) -> dict[str, Any]:
    """Compare 2..:data:`MAX_RUNS` run folders: the first is the baseline, each other run is compared with it.

    Returns shared/compare.ts ``RunComparison``: ``baseline`` (its id), ``correct_at``, ``resamples``, ``runs``
    (``{"id", "benchmarks", "samples", "scored"}`` per run; the id is the folder's name, which is the run id under a
    runs root), ``pairs`` (per other run: ``{"a": baseline id, "b": run id, **compare_scores}``, the numbers
    ``spatialclaw compare BASELINE RUN --json`` prints) and ``samples``: one row per sample any run recorded (the
    baseline's order, then the others'), ``{"id", "benchmark", "question_type", "task", "question",
    "ground_truth", "runs": [{"answer", "score", "correct"} | None per run], "flips": [kind | None per pair]}``
    with kind ``right_to_wrong``, ``wrong_to_right`` or ``same`` (None: a run of the pair has no score for it).

    Raises:
        CompareError: fewer than 2 or more than :data:`MAX_RUNS` runs, a run given twice, a run without
            ``samples.jsonl``, a run of other benchmarks than the baseline's (no benchmark in common, or benchmark
            samples against non-benchmark ones), or a pair with no scored sample in common.
        ValueError: from :func:`read_scores` (a line that is not JSON).
    """
    paths = [Path(r) for r in runs]
    ids = [p.name for p in paths]
    if not 2 <= len(paths) <= MAX_RUNS:
        raise CompareError(f"compare takes 2 to {MAX_RUNS} runs, not {len(paths)}", f"pick 2 to {MAX_RUNS} runs")
    twice = sorted({i for i in ids if ids.count(i) > 1})
    if twice:
        raise CompareError(f"run {', '.join(twice)} is listed twice", "pick each run once")
    tables = []
    for p, rid in zip(paths, ids, strict=True):
        if not sample_journals(p):
            raise CompareError(
                f"run {rid} has no finished samples yet ({p} has no samples.jsonl)",
                "wait until it has finished samples, or pick another run",
            )
        tables.append(read_scores(p))
    info = [
        {
            "id": rid,
            "benchmarks": _benchmarks_of(t),
            "samples": len(t),
            "scored": sum(1 for r in t.values() if r["score"] is not None),
        }
        for rid, t in zip(ids, tables, strict=True)
    ]
    base, base_info = tables[0], info[0]

    def what(i: dict[str, Any]) -> str:
        return ", ".join(i["benchmarks"]) or "no benchmark"

    for t, i in zip(tables[1:], info[1:], strict=True):
        if (base_info["benchmarks"] or i["benchmarks"]) and not set(base_info["benchmarks"]) & set(i["benchmarks"]):
            raise CompareError(
                f"runs {base_info['id']} and {i['id']} are of different benchmarks "
                f"({base_info['id']}: {what(base_info)}; {i['id']}: {what(i)})",
                "compare runs of the same benchmark (`spatialclaw eval --benchmark NAME` runs with the same NAME, "
                "or `spatialclaw run` runs of the same dataset): samples are matched by id, and other benchmarks' "
                "samples never match",
            )
        if not any(k in t and r["score"] is not None and t[k]["score"] is not None for k, r in base.items()):
            raise CompareError(
                f"runs {base_info['id']} and {i['id']} have no scored sample in common "
                f"({base_info['id']}: {base_info['samples']} samples, {base_info['scored']} scored; "
                f"{i['id']}: {i['samples']} samples, {i['scored']} scored)",
                "pick runs that answered the same samples (the same benchmark or dataset, and the same --limit, "
                "--subsample and --seed); samples are matched by id and need a score (a ground truth) in both runs",
            )
    pairs = [
        {"a": ids[0], "b": i["id"], **compare_scores(base, t, n_resamples=n_resamples, seed=seed)}
        for t, i in zip(tables[1:], info[1:], strict=True)
    ]
    samples = []
    for k in dict.fromkeys(k for t in tables for k in t):
        first = next(t[k] for t in tables if k in t)
        cells = [
            None
            if k not in t
            else {
                "answer": t[k]["answer"],
                "score": t[k]["score"],
                "correct": None if t[k]["score"] is None else bool(t[k]["score"] >= CORRECT_AT),
            }
            for t in tables
        ]
        samples.append(
            {
                "id": k,
                "benchmark": first["benchmark"],
                "question_type": first["question_type"],
                "task": first["task"],
                "question": first["question"],
                "ground_truth": first["ground_truth"],
                "runs": cells,
                "flips": [_flip(cells[0], c) for c in cells[1:]],
            }
        )
    return {
        "baseline": ids[0],
        "correct_at": CORRECT_AT,
        "resamples": n_resamples,
        "runs": info,
        "pairs": pairs,
        "samples": samples,
    }


def format_comparison(c: dict[str, Any]) -> str:
    """The comparison as a table for people."""

    def pct(x: float | None) -> str:
        return "-" if x is None else f"{100 * x:.1f}"

    def ci(x: list[float] | None) -> str:
        return "-" if x is None else f"[{100 * x[0]:+.1f}, {100 * x[1]:+.1f}]"

    def row(name: str, s: dict[str, Any]) -> str:
        d = "-" if s["delta"] is None else f"{100 * s['delta']:+.1f}"
        return (
            f"| {name} | {s['n_common']} | {pct(s['mean_a'])} | {pct(s['mean_b'])} | {d} | {ci(s['delta_ci95'])} | "
            f"{s['a_only_correct']} | {s['b_only_correct']} | {s['mcnemar_p']:.3g} |"
        )

    lines = [
        f"A: {c['a']}",
        f"B: {c['b']}",
        f"samples scored in both: {c['n_common']} "
        f"(only in A: {c['a_only_samples']}, only in B: {c['b_only_samples']}); correct = score >= {c['correct_at']}",
        "",
        "| task | n | A % | B % | B - A (points) | 95% CI (paired bootstrap) "
        "| A right, B wrong | B right, A wrong | McNemar p |",
        "|---|---|---|---|---|---|---|---|---|",
        row("**all**", c),
        *(row(t, s) for t, s in c["per_task"].items()),
    ]
    return "\n".join(lines)
