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
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from spatial_eval.files import iter_jsonl

#: A score at or above this counts as correct.
CORRECT_AT = 0.5


def read_scores(run: str | Path) -> dict[str, dict[str, Any]]:
    """``{sample id: {"score", "task", "answer", "ground_truth"}}`` of a run folder's finished samples.

    Raises:
        FileNotFoundError: naming the folder when it has no ``samples.jsonl`` (not a run folder).
        ValueError: naming the file and line of a line that is not JSON.
    """
    path = Path(run) / "samples.jsonl"
    if not path.is_file():
        raise FileNotFoundError(
            f"{run} is not a run folder: it has no samples.jsonl (pass the folder `spatialclaw run` or `eval` wrote)"
        )
    out: dict[str, dict[str, Any]] = {}
    for i, row in iter_jsonl(path):
        if isinstance(row, ValueError):
            raise ValueError(f"{path}:{i}: not valid JSON") from row
        qt = row.get("question_type") or "(none)"
        task = f"{row['benchmark']}/{qt}" if row.get("benchmark") else qt
        out[str(row["id"])] = {
            "score": row.get("score"),
            "task": task,
            "answer": row.get("answer"),
            "ground_truth": row.get("ground_truth"),
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


def compare_runs(run_a: str | Path, run_b: str | Path, *, n_resamples: int = 9999, seed: int = 0) -> dict[str, Any]:
    """Compare two run folders (B against A). Returns the overall statistics, ``per_task``, the samples only one run
    scored, and ``flips``: ``{"right_to_wrong": [ids], "wrong_to_right": [ids]}`` (A → B).

    Raises:
        FileNotFoundError, ValueError: from :func:`read_scores`.
    """
    a = read_scores(run_a)
    b = read_scores(run_b)
    common = [k for k in a if k in b and a[k]["score"] is not None and b[k]["score"] is not None]
    out: dict[str, Any] = {"a": str(run_a), "b": str(run_b), "correct_at": CORRECT_AT}
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
