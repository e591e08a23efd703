"""Omni3D-Bench: the loader on the replica (Hub parquet and unzipped omni3d-bench.zip), and both scorings against
hand-derived expectations from VADAR ``engine/engine.py`` (official) and SpatialClaw ``evals/omni3d.py`` (paper)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from bench_testing import assert_missing_names_download, loaded_samples, replica_root, score_cli_json, scored
from replicas import omni3d as replica
from spatial_common.contract import validate
from spatial_eval.cli import load_benchmark
from spatial_eval.registry import get
from spatial_eval.types import Sample, Scored

BENCH = get("omni3d")
OFFICIAL = BENCH.scorings["official"]
PAPER = BENCH.scorings["paper"]


@pytest.fixture(scope="module")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return replica_root(tmp_path_factory, "omni3d")


@pytest.fixture(scope="module")
def samples(data_root: Path) -> list[Sample]:
    return loaded_samples(BENCH, data_root)


def make(answer_type: str, answer: object) -> Sample:
    """A hand-made sample of one answer type (as the loader builds it)."""
    from spatial_eval.benchmarks.omni3d import vadar_group

    return Sample(
        benchmark="omni3d",
        source_id="x",
        question="q?",
        inputs=[{"kind": "images", "path": "/x.jpg"}],
        answer=answer,  # type: ignore[arg-type]
        question_type=vadar_group(answer_type, answer),
        category=answer_type,
        extra={"answer_type": answer_type, "group": vadar_group(answer_type, answer)},
    )


# --------------------------------------------------------------------------------------------------------------
# Loading


def test_loads_parquet_replica(samples: list[Sample], data_root: Path) -> None:
    assert [s.source_id for s in samples] == ["0", "1", "2", "3", "4", "5"]
    assert [s.id for s in samples] == [f"omni3d-{i}" for i in range(6)]
    assert [s.question_type for s in samples] == [
        "numeric (count)",
        "numeric (other)",
        "yes/no",
        "yes/no",
        "multi-choice",
        "numeric (other)",
    ]
    assert [s.category for s in samples] == ["int", "float", "str", "str", "str", "float"]
    # The Hub parquet stores every answer as a string.
    assert [s.answer for s in samples] == ["2", "1.6", "yes", "no", "chair", "3.5"]
    for s in samples:
        assert s.choices is None
        assert s.instruction
        assert len(s.inputs) == 1 and s.inputs[0]["kind"] == "images"
        p = Path(s.inputs[0]["path"])
        assert p.is_absolute() and p.is_file()
        assert s.media == [p]
        # Embedded images go to the cache, not next to the parquet.
        assert ".spatialclaw-cache" in p.parts
        validate("SampleSpec", s.spec())
    # Two questions share one image: one cached file.
    assert samples[0].inputs == samples[1].inputs
    assert len({s.inputs[0]["path"] for s in samples}) == 4


def test_loads_unzipped_layout_and_prefers_it(tmp_path: Path) -> None:
    replica.write(tmp_path)
    replica.write_unzipped(tmp_path)
    loaded = load_benchmark(BENCH, tmp_path)
    assert loaded.problems == []
    assert [s.source_id for s in loaded.samples] == ["0", "1", "2", "3", "4", "5"]
    # annotations.json wins (it is what the original reads): typed answers, images/<image_filename>.
    assert [s.answer for s in loaded.samples] == [2, 1.6, "yes", "no", "chair", 3.5]
    first = loaded.samples[0]
    assert first.inputs == [
        {"kind": "images", "path": str((tmp_path / "omni3d" / "images" / "41069025_3000.jpg").resolve())}
    ]
    assert first.extra["image_filename"] == "41069025_3000.jpg"
    for s in loaded.samples:
        validate("SampleSpec", s.spec())


def test_bad_rows_are_problems(tmp_path: Path) -> None:
    replica.write_unzipped(tmp_path)
    ann = tmp_path / "omni3d" / "annotations.json"
    data = json.loads(ann.read_text())
    qs = data["questions"]
    qs[1]["answer"] = "about two"  # a float question whose answer is not a number
    del qs[2]["image_filename"]
    qs[3]["question_index"] = "0"  # duplicate id
    qs.append("not an object")
    ann.write_text(json.dumps(data))
    loaded = load_benchmark(BENCH, tmp_path)
    assert [s.source_id for s in loaded.samples] == ["0", "4", "5"]
    assert len(loaded.problems) == 4
    messages = " | ".join(p.message for p in loaded.problems)
    assert "answer_type 'float'" in messages
    assert "image_filename" in messages
    assert "duplicate question_index 0" in messages
    assert loaded.problems[0].source_id == "1"


def test_missing_folder_and_files(tmp_path: Path) -> None:
    assert_missing_names_download(
        BENCH,
        tmp_path,
        "dmarsili/Omni3D-Bench",
        "unzip it in place",
        lambda f: (f / "omni3d-bench.zip").write_bytes(b"PK"),
    )


# --------------------------------------------------------------------------------------------------------------
# Official (VADAR write_summarized_results): the prediction text is used whole


@pytest.mark.parametrize(
    ("pred", "expected"),
    [
        ("2", 1.0),
        (" 2 ", 1.0),  # Python int() strips whitespace
        ("+2", 1.0),
        ("2.0", 0.0),  # int("2.0") raises: the question counts, unanswered
        ("two", 0.0),
        ("2 pillows", 0.0),
        ("\\boxed{2}", 0.0),  # no extraction in VADAR
        ("1,200", 0.0),
        ("", 0.0),
        (None, 0.0),
    ],
)
def test_official_int(pred: str | None, expected: float) -> None:
    assert OFFICIAL.score(make("int", 2), pred) == expected


@pytest.mark.parametrize(
    ("pred", "expected"),
    [
        ("1.6", 1.0),
        # |1.6-1.7|/1.6 = 0.0625 (0.06249999999999992 in floats): below 0.50..0.10, not below 0.05 -> 9/10
        ("1.7", 0.9),
        (" 1.7 ", 0.9),  # float() strips whitespace
        ("2.5m", 0.0),  # float("2.5m") raises at every threshold
        ("1,200", 0.0),
        ("four", 0.0),
        ("\\boxed{1.6}", 0.0),
        ("nan", 0.0),  # nan < t is False
        ("", 0.0),
        (None, 0.0),
    ],
)
def test_official_float(pred: str | None, expected: float) -> None:
    assert OFFICIAL.score(make("float", 1.6), pred) == pytest.approx(expected)


def test_official_float_strict_thresholds() -> None:
    # gt 3.5, pred 4.2: (4.2-3.5)/3.5 is 0.20000000000000007 in floats, so the 0.2 threshold misses (strict <):
    # hits at 0.50, 0.45, 0.40, 0.35, 0.30, 0.25 -> 6/10.
    assert OFFICIAL.score(make("float", 3.5), "4.2") == pytest.approx(0.6)
    # The ground truth as the Hub parquet stores it (a string) scores the same.
    assert OFFICIAL.score(make("float", "3.5"), "4.2") == pytest.approx(0.6)


def test_official_float_zero_and_negative_ground_truth() -> None:
    # VADAR divides by gt (ZeroDivisionError at gt 0; no such row is published): exact match only here.
    assert OFFICIAL.score(make("float", 0.0), "0") == 1.0
    assert OFFICIAL.score(make("float", 0.0), "0.01") == 0.0
    # Signed division: a negative gt makes (gt - pred)/gt negative, below every threshold.
    assert OFFICIAL.score(make("float", -2.0), "5") == 1.0


@pytest.mark.parametrize(
    ("gt", "pred", "expected"),
    [
        ("yes", "yes", 1.0),
        ("yes", "Yes", 1.0),  # the prediction is lowercased
        ("yes", "YES", 1.0),
        ("yes", "yes.", 0.0),  # no stripping of punctuation
        ("yes", " yes", 0.0),  # nor of whitespace
        ("yes", "yes\n", 0.0),
        ("no", "No, it is not.", 0.0),
        ("chair", "Chair", 1.0),
        ("chair", "the chair", 0.0),
        ("Chair", "Chair", 0.0),  # the ground truth is not lowercased: an upper-case gt can never match
        ("chair", "B", 0.0),
        ("yes", None, 0.0),
        ("yes", "", 0.0),
    ],
)
def test_official_str(gt: str, pred: str | None, expected: float) -> None:
    assert OFFICIAL.score(make("str", gt), pred) == expected


def test_official_unknown_answer_type_is_unscored() -> None:
    # VADAR's if/elif chain has no branch for it: the row is in no class and in no total.
    s = make("bool", "yes")
    assert OFFICIAL.score(s, "yes") is None
    agg = OFFICIAL.aggregate([Scored(s, "yes", None), Scored(make("int", 2), "2", 1.0)])
    assert agg.overall == 1.0 and agg.scored == 1 and agg.n == 2
    assert any("does not score" in n for n in agg.notes)


PREDS = {"0": "2", "1": "1.7", "2": "yes", "3": "yes", "4": "chair", "5": "4.2"}


def test_official_aggregate(samples: list[Sample]) -> None:
    items = scored(OFFICIAL, samples, PREDS)
    assert [s.score for s in items] == pytest.approx([1.0, 0.9, 1.0, 0.0, 1.0, 0.6])
    agg = OFFICIAL.aggregate(items)
    # count: 1/1; other (MRA): (0.9 + 0.6)/2; yes/no: 1/2; multi-choice: 1/1
    assert agg.per_task == pytest.approx(
        {"multi-choice": 1.0, "numeric (count)": 1.0, "numeric (other)": 0.75, "yes/no": 0.5}
    )
    # weighted by class counts: (1*1 + 0.75*2 + 0.5*2 + 1*1) / 6 = 4.5/6
    assert agg.overall == pytest.approx(0.75)
    assert (agg.n, agg.scored) == (6, 6)


def test_official_aggregate_missing_class_is_left_out(samples: list[Sample]) -> None:
    items = scored(OFFICIAL, samples, PREDS)[:2]  # only count and other
    agg = OFFICIAL.aggregate(items)
    assert set(agg.per_task) == {"numeric (count)", "numeric (other)"}
    assert agg.overall == pytest.approx((1.0 + 0.9) / 2)
    assert any("absent" in n for n in agg.notes)
    assert OFFICIAL.aggregate([]).overall is None


# --------------------------------------------------------------------------------------------------------------
# Paper (SpatialClaw Omni3DBench)


@pytest.mark.parametrize(
    ("pred", "expected"),
    [
        ("2", 1.0),
        ("2.4", 1.0),  # int(round(2.4)) == 2
        ("2.5", 1.0),  # Python round: half to even -> 2
        ("3.5", 0.0),  # -> 4
        ("\\boxed{2}", 1.0),
        ("I count 2 pillows.", 1.0),  # the last number
        ("(B)", 0.0),
        ("two", 0.0),
        ("1,200", 0.0),  # the last number, 200
        ("", 0.0),
        (None, 0.0),
        ("inf", 0.0),  # round(inf) overflows in the original (uncaught there); 0 here
    ],
)
def test_paper_int(pred: str | None, expected: float) -> None:
    assert PAPER.score(make("int", 2), pred) == expected


@pytest.mark.parametrize(
    ("pred", "expected"),
    [
        ("1.6", 1.0),
        ("1.75", 1.0),  # rel 0.09375 < 0.1
        ("1.8", 0.0),  # rel 0.125
        ("1.6m", 1.0),  # the last number
        ("about 1.6 meters.", 1.0),
        ("\\boxed{1.6}", 1.0),
        ("1,600", 0.0),  # -> "600"
        ("1.6.", 1.0),  # "." stripped before float()
        ("one point six", 0.0),
        (" ", 0.0),
        (None, 0.0),
    ],
)
def test_paper_float(pred: str | None, expected: float) -> None:
    assert PAPER.score(make("float", 1.6), pred) == expected


def test_paper_float_zero_ground_truth() -> None:
    # gt 0: the relative error is |pred|
    assert PAPER.score(make("float", 0.0), "0.05") == 1.0
    assert PAPER.score(make("float", 0.0), "0.2") == 0.0


@pytest.mark.parametrize(
    ("gt", "pred", "expected"),
    [
        ("yes", "Yes", 1.0),
        ("yes", "  'yes' ", 1.0),  # quotes stripped
        ("yes", "\\boxed{yes}", 1.0),
        ("yes", "yes.", 0.0),  # only quotes are stripped
        ("chair", "CHAIR", 1.0),
        ("Chair", "chair", 1.0),  # both sides lowercased
        ("chair", "chair 2", 0.0),  # the last number, "2"
        ("no", None, 0.0),
    ],
)
def test_paper_str(gt: str, pred: str | None, expected: float) -> None:
    assert PAPER.score(make("str", gt), pred) == expected


def test_paper_aggregate(samples: list[Sample]) -> None:
    items = scored(PAPER, samples, PREDS)
    # per sample: float is rel < 0.1: 1.7 vs 1.6 (0.0625) -> 1, 4.2 vs 3.5 (0.2) -> 0
    assert [s.score for s in items] == [1.0, 1.0, 1.0, 0.0, 1.0, 0.0]
    agg = PAPER.aggregate(items)
    # float MRA over the errors 0.0625 and 0.20000000000000007: thresholds 0.50..0.25 (6) 2/2, 0.20..0.10 (3) 1/2,
    # 0.05 0/2 -> (6 + 1.5)/10 = 0.75
    assert agg.per_task == pytest.approx({"float": 0.75, "int": 1.0, "str": 2 / 3})
    # (0.75*2 + 1*1 + 2/3*3) / 6 = 4.5/6 (not the 4/6 mean of the per-sample scores)
    assert agg.overall == pytest.approx(0.75)
    assert (agg.n, agg.scored) == (6, 6)
    assert PAPER.aggregate([]).overall is None


# --------------------------------------------------------------------------------------------------------------
# CLI


@pytest.mark.parametrize(("scoring", "overall"), [("official", 0.75), ("paper", 0.75)])
def test_cli_score(data_root: Path, scoring: str, overall: float) -> None:
    res = score_cli_json("omni3d", data_root, PREDS, scoring)
    assert res["n"] == 6
    assert res["overall"] == pytest.approx(overall)
    assert set(res["per_task"]) == (
        {"numeric (count)", "numeric (other)", "yes/no", "multi-choice"}
        if scoring == "official"
        else {"float", "int", "str"}
    )
