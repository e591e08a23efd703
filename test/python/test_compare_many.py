"""The workbench's comparison (``python -m spatial_eval compare-many``, python-eval/spatial_eval/compare.py
``compare_many``): each pair's numbers are ``compare_runs``'s, the per-sample table, the refusals, and the output
against the generated JSON Schema of the zod contract (shared/compare.ts ``RunComparison``)."""

import json
import subprocess
import sys

import pytest
from spatial_common.contract import validate
from spatial_eval.compare import CompareError, compare_many, compare_runs


def _run(tmp_path, name, rows):
    d = tmp_path / name
    d.mkdir()
    (d / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return d


def _row(i, score, answer, qt="Counting", bench="blink"):
    r = {"id": f"{bench or 'q'}-val_{i}", "question": f"question {i}?", "score": score, "question_type": qt}
    r.update(answer=answer, ground_truth="(A)")
    if bench:
        r["benchmark"] = bench
    return r


def _three(tmp_path):
    # base: right on 0, 1, 2; b: right on 1, 2, 3 (0 flips right->wrong, 3 wrong->right); c: misses sample 4 and
    # has an unscored sample 2, and a sample 9 nobody else has.
    base = _run(tmp_path, "base", [_row(i, s, "A" if s else "B") for i, s in enumerate([1, 1, 1, 0, 0])])
    b = _run(
        tmp_path,
        "b",
        [_row(i, s, "A" if s else "C", "Depth" if i > 2 else "Counting") for i, s in enumerate([0, 1, 1, 1, 0])],
    )
    c = _run(
        tmp_path, "c", [_row(0, 0.6, "A"), _row(1, 0.2, "B"), _row(2, None, None), _row(3, 0, "B"), _row(9, 1, "A")]
    )
    return base, b, c


def test_each_pair_is_compare_runs_and_the_output_meets_the_contract(tmp_path):
    base, b, c = _three(tmp_path)
    out = compare_many([base, b, c], n_resamples=500)
    validate("RunComparison", out)
    assert out["baseline"] == "base" and out["resamples"] == 500 and out["correct_at"] == 0.5
    assert [r["id"] for r in out["runs"]] == ["base", "b", "c"]
    assert out["runs"][2] == {"id": "c", "benchmarks": ["blink"], "samples": 5, "scored": 4}
    for pair, other in zip(out["pairs"], [b, c], strict=True):
        cli = compare_runs(base, other, n_resamples=500)
        assert pair == {**cli, "a": "base", "b": other.name}
    assert out["pairs"][0]["flips"] == {"right_to_wrong": ["blink-val_0"], "wrong_to_right": ["blink-val_3"]}
    assert out["pairs"][1]["n_common"] == 3  # 0, 1, 3 (2 is unscored in c, 4 is missing)


def test_the_per_sample_table_has_every_runs_answer_and_each_pairs_flip(tmp_path):
    base, b, c = _three(tmp_path)
    rows = {r["id"]: r for r in compare_many([base, b, c], n_resamples=0)["samples"]}
    assert list(rows) == [f"blink-val_{i}" for i in (0, 1, 2, 3, 4, 9)]  # the baseline's order, then c's extra one
    r0 = rows["blink-val_0"]
    assert r0["question"] == "question 0?" and r0["ground_truth"] == "(A)" and r0["task"] == "blink/Counting"
    assert r0["runs"] == [
        {"answer": "A", "score": 1, "correct": True},
        {"answer": "C", "score": 0, "correct": False},
        {"answer": "A", "score": 0.6, "correct": True},
    ]
    assert r0["flips"] == ["right_to_wrong", "same"]
    assert rows["blink-val_1"]["flips"] == ["same", "right_to_wrong"]  # 0.2 < 0.5
    assert rows["blink-val_2"]["flips"] == ["same", None]  # unscored in c
    assert rows["blink-val_2"]["runs"][2] == {"answer": None, "score": None, "correct": None}
    assert rows["blink-val_3"]["flips"] == ["wrong_to_right", "same"]
    assert rows["blink-val_4"]["runs"][2] is None and rows["blink-val_4"]["flips"] == ["same", None]
    assert rows["blink-val_9"]["runs"][:2] == [None, None] and rows["blink-val_9"]["flips"] == [None, None]


def test_refuses_other_benchmarks_no_common_samples_repeats_and_folders_without_samples(tmp_path):
    base, b, _ = _three(tmp_path)
    vsi = _run(tmp_path, "vsi", [_row(0, 1, "A", "abs_distance", "vsibench")])
    plain = _run(tmp_path, "plain", [_row(0, 1, "A", "count", None)])
    disjoint = _run(tmp_path, "disjoint", [_row(7, 1, "A")])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(
        CompareError, match=r"runs base and vsi are of different benchmarks \(base: blink; vsi: vsibench\)"
    ):
        compare_many([base, vsi])
    with pytest.raises(CompareError, match=r"\(base: blink; plain: no benchmark\)") as e:
        compare_many([base, b, plain])
    assert "same benchmark" in e.value.fix
    with pytest.raises(
        CompareError, match=r"runs base and disjoint have no scored sample in common \(base: 5 samples, 5 scored"
    ):
        compare_many([base, disjoint])
    with pytest.raises(CompareError, match="listed twice"):
        compare_many([base, b, base])
    with pytest.raises(CompareError, match="2 to 6 runs"):
        compare_many([base])
    with pytest.raises(CompareError, match="run empty has no finished samples yet"):
        compare_many([base, empty])


def test_cli_prints_the_json_and_a_refusal_with_its_fix(tmp_path):
    base, b, c = _three(tmp_path)
    r = subprocess.run(
        [sys.executable, "-m", "spatial_eval", "compare-many", str(base), str(b), str(c), "--resamples", "200"],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["pairs"][0]["delta"] == pytest.approx(0.0) and len(out["samples"]) == 6
    vsi = _run(tmp_path, "vsi", [_row(0, 1, "A", "abs_distance", "vsibench")])
    bad = subprocess.run(
        [sys.executable, "-m", "spatial_eval", "compare-many", str(base), str(vsi)], capture_output=True, text=True
    )
    assert bad.returncode == 2 and bad.stdout == ""
    assert "error: runs base and vsi are of different benchmarks" in bad.stderr
    assert "\nfix: compare runs of the same benchmark" in bad.stderr
