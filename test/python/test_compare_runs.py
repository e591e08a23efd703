"""``spatialclaw compare`` (python-eval/spatial_eval/compare.py): flips, McNemar's exact test and the paired
bootstrap on two run folders, checked against values computed by hand."""

import json
import subprocess
import sys

import numpy as np
import pytest
from spatial_eval.compare import compare_runs, paired_stats


def _run(tmp_path, name, rows):
    d = tmp_path / name
    d.mkdir()
    (d / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return d


def _row(i, score, qt="count", bench=None):
    r = {"id": f"s{i}", "score": score, "question_type": qt, "answer": "x", "ground_truth": "y"}
    if bench:
        r["benchmark"] = bench
    return r


def test_mcnemar_and_flips_match_the_hand_count(tmp_path):
    # 10 common samples: A right & B wrong on 1 (s0), A wrong & B right on 5 (s1..s5), both right on 3, both wrong on 1.
    a_scores = [1, 0, 0, 0, 0, 0, 1, 1, 1, 0]
    b_scores = [0, 1, 1, 1, 1, 1, 1, 1, 1, 0]
    a = _run(tmp_path, "a", [_row(i, s) for i, s in enumerate(a_scores)] + [_row(99, 1)])  # s99 only in A
    b = _run(tmp_path, "b", [_row(i, s) for i, s in enumerate(b_scores)])
    c = compare_runs(a, b, n_resamples=2000)
    assert c["n_common"] == 10 and c["a_only_samples"] == 1 and c["b_only_samples"] == 0
    assert (c["a_only_correct"], c["b_only_correct"], c["n_discordant"]) == (1, 5, 6)
    # Exact two-sided binomial: P(X <= 1) * 2 with X ~ Bin(6, 0.5) = 2 * 7/64.
    assert c["mcnemar_p"] == pytest.approx(14 / 64)
    assert c["delta"] == pytest.approx(0.4)
    lo, hi = c["delta_ci95"]
    assert lo < 0.4 < hi and -1 <= lo and hi <= 1
    assert c["flips"] == {"right_to_wrong": ["s0"], "wrong_to_right": ["s1", "s2", "s3", "s4", "s5"]}


def test_mra_scores_count_as_correct_from_one_half_and_tasks_split_by_benchmark(tmp_path):
    a = _run(tmp_path, "a", [_row(0, 0.4, "abs_distance", "vsibench"), _row(1, 0.9, "rel_dir", "vsibench")])
    b = _run(tmp_path, "b", [_row(0, 0.5, "abs_distance", "vsibench"), _row(1, 0.9, "rel_dir", "vsibench")])
    c = compare_runs(a, b, n_resamples=500)
    assert (c["a_only_correct"], c["b_only_correct"]) == (0, 1)
    assert set(c["per_task"]) == {"vsibench/abs_distance", "vsibench/rel_dir"}
    assert c["per_task"]["vsibench/abs_distance"]["delta"] == pytest.approx(0.1)
    assert c["per_task"]["vsibench/rel_dir"]["delta_ci95"] is None  # one sample: no interval
    assert c["per_task"]["vsibench/rel_dir"]["mcnemar_p"] == 1.0


def test_unscored_samples_are_left_out_and_identical_differences_give_a_point_interval():
    s = paired_stats([1.0, 0.0, 1.0], [1.0, 0.0, 1.0])
    assert s["delta"] == 0.0 and s["delta_ci95"] == [0.0, 0.0] and s["mcnemar_p"] == 1.0
    rng = np.random.default_rng(0)
    a = rng.random(200)
    s2 = paired_stats(list(a), list(a + 0.1), n_resamples=999)
    assert s2["delta"] == pytest.approx(0.1) and s2["delta_ci95"] == pytest.approx([0.1, 0.1])


def test_cli_json_and_a_clear_error_for_a_folder_that_is_not_a_run(tmp_path):
    a = _run(tmp_path, "a", [_row(0, 1), _row(1, 0)])
    b = _run(tmp_path, "b", [_row(0, 0), _row(1, 0), {"id": "s2", "score": None}])
    r = subprocess.run(
        [sys.executable, "-m", "spatial_eval", "compare", str(a), str(b), "--json"], capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert {"n_common", "a_only_correct", "b_only_correct", "mcnemar_p", "delta", "delta_ci95", "per_task"} <= set(out)
    assert out["n_common"] == 2 and out["a_only_correct"] == 1
    table = subprocess.run(
        [sys.executable, "-m", "spatial_eval", "compare", str(a), str(b)], capture_output=True, text=True
    )
    assert "| **all** | 2 | 50.0 | 0.0 | -50.0 |" in table.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "spatial_eval", "compare", str(tmp_path), str(b)], capture_output=True, text=True
    )
    assert bad.returncode == 2
    assert "is not a run folder: it has no samples.jsonl" in bad.stderr
