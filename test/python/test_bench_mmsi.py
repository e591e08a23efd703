"""MMSI-Bench: the loader reads the RunsenXu/MMSI-Bench layout (replica), and both scorings follow their released
code (MMSI-Bench's vlmeval/dataset/mmsi_bench.py; SpatialClaw's evals/mmsi.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from bench_testing import assert_missing_names_download, score_cli_json, write_replica
from replicas import flat_inputs
from replicas import mmsi as replica
from spatial_common.contract import validate
from spatial_eval.benchmarks.mmsi import BENCHMARKS, official_letter, paper_letter, subset
from spatial_eval.cli import load_benchmark
from spatial_eval.types import Sample, Scored

BENCH = BENCHMARKS[0]
OFFICIAL = BENCH.scorings["official"]
PAPER = BENCH.scorings["paper"]


@pytest.fixture()
def data_root(tmp_path: Path) -> Path:
    return write_replica("mmsi", tmp_path)


def _sample(answer: str = "B") -> Sample:
    return Sample(
        benchmark="mmsi", source_id="x", question="q", inputs=[{"kind": "images", "path": "/x.jpg"}], answer=answer
    )


# ---------------------------------------------------------------------------------------------------------- loader


def test_loader_reads_the_replica(data_root: Path) -> None:
    loaded = load_benchmark(BENCH, data_root)
    assert loaded.problems == []
    assert [s.source_id for s in loaded.samples] == ["0", "1", "2", "3", "4"]
    assert [s.answer for s in loaded.samples] == ["A", "B", "C", "D", "A"]
    assert [len(flat_inputs(s)) for s in loaded.samples] == [2, 2, 2, 3, 2]
    assert [s.category for s in loaded.samples] == [
        "Positional Relationship",
        "Motion",
        "Attribute",
        "MSR",
        "Positional Relationship",
    ]
    first = loaded.samples[0]
    assert first.id == "mmsi-0"
    assert first.question_type == "Positional Relationship (Cam.\u2013Obj.)"
    assert "Options: A: In front, B: Behind" in first.question and first.choices is None
    assert first.extra["difficulty"] == "easy"
    assert "thought" not in first.extra  # the annotated reasoning is not passed on
    for s in loaded.samples:
        validate("SampleSpec", s.spec())
        assert all(p.is_absolute() and p.exists() for p in s.media)
        assert [Path(i["path"]) for i in flat_inputs(s)] == s.media
        assert s.media[0].read_bytes()[:3] == b"\xff\xd8\xff"
    assert BENCH.published_count == 1000 and BENCH.settings == {}


def test_subset_from_question_type() -> None:
    assert subset("Positional Relationship (Reg.-Reg.)") == "Positional Relationship"
    assert subset("Motion (Obj.)") == "Motion"
    assert subset("Attribute (Appr.)") == "Attribute"
    assert subset("MSR") == "MSR"


def test_bad_rows_are_row_problems(tmp_path: Path) -> None:
    rows = replica.rows()
    rows[0] = {**rows[0], "images": []}
    rows[2] = {**rows[2], "answer": None}
    rows.append({**rows[1]})  # a duplicate id
    replica.write_rows(tmp_path, rows)
    loaded = load_benchmark(BENCH, tmp_path)
    assert [s.source_id for s in loaded.samples] == ["1", "3", "4"]
    messages = {p.where: p.message for p in loaded.problems}
    assert "no images" in messages["MMSI_Bench.parquet row 0"]
    assert "answer" in messages["MMSI_Bench.parquet row 2"]
    assert "duplicate" in messages["MMSI_Bench.parquet row 5"]


def test_missing_data_names_the_download(tmp_path: Path) -> None:
    assert_missing_names_download(BENCH, tmp_path, "RunsenXu/MMSI-Bench", r"MMSI_Bench\.parquet.*hf download")


# --------------------------------------------------------------------------------------------------------- scoring

# (prediction, official, paper) against the answer "B". Official (extract_single_choice_with_word_boundary): narrow to
# ``...``, then `...`, then the first upper-case A-D standing alone and not followed by " <letter>". Paper (SpatialClaw
# extract_answer): backticks, \boxed{}, "X." / "(X)" / "X:" (any case), the same lone letter, a bare letter.
CASES = [
    ("B", 1.0, 1.0),
    ("(B)", 1.0, 1.0),
    ("B.", 1.0, 1.0),
    ("B)", 1.0, 1.0),  # ")" is not " <letter>", so the lone-letter rule takes B
    (" B", 1.0, 1.0),
    ("`B`", 1.0, 1.0),
    ("``B``", 1.0, 1.0),
    ("\\boxed{B}", 1.0, 1.0),  # official: "{B}" has word boundaries on both sides
    ("The answer is B", 1.0, 1.0),
    ("A is wrong, the answer is B.", 1.0, 1.0),  # official: A is followed by " i" (skipped), B by "."
    ("b", 0.0, 1.0),  # official is case-sensitive; paper: a bare letter once punctuation is removed
    ("b.", 0.0, 1.0),  # paper's "X." pattern ignores case
    ("\\boxed{b}", 0.0, 1.0),  # paper's \boxed{} pattern ignores case
    ("B because the lamp is left", 0.0, 0.0),  # B is followed by " b": neither takes it
    ("I think C, not B", 0.0, 0.0),  # the first lone letter is C
    ("`the bed` so B", 0.0, 1.0),  # official narrows to "the bed" (no letter); paper falls through to the lone B
    ("The answer is (B). A. is wrong", 1.0, 0.0),  # official: first lone letter B; paper: "X." matches "A." first
    ("Behind", 0.0, 0.0),  # option text is never matched
    ("four", 0.0, 0.0),
    ("1,200", 0.0, 0.0),
    ("2.5m", 0.0, 0.0),
    ("", 0.0, 0.0),
    ("  ", 0.0, 0.0),
    (None, 0.0, 0.0),
]


@pytest.mark.parametrize(("prediction", "official", "paper"), CASES)
def test_scores(prediction: str | None, official: float, paper: float) -> None:
    assert OFFICIAL.score(_sample("B"), prediction) == official
    assert PAPER.score(_sample("B"), prediction) == paper


def test_extractors() -> None:
    assert official_letter("x ``C`` y") == "C"
    # The ``...`` pattern cannot span the inner tick, and the `...` pattern then matches the empty pair "``" at the
    # start: the text narrows to "" and nothing is extracted.
    assert official_letter("``see `C` here``") is None
    assert official_letter("no letter") is None
    assert paper_letter("``a b``") == ""  # the letter inside ticks must be upper-case A-D; nothing else matches
    assert paper_letter("x: D") == "D"


def test_official_compares_case_insensitively_with_the_answer() -> None:
    # answer.lower() == extracted.lower()[0]
    assert OFFICIAL.score(_sample(" b\n"), "B") == 1.0
    assert PAPER.score(_sample(" b\n"), "B") == 1.0  # paper upper-cases the stripped answer


def test_aggregate_is_mean_over_samples(data_root: Path) -> None:
    samples = load_benchmark(BENCH, data_root).samples  # answers A, B, C, D, A
    preds = ["A", "b", "`C`", "The answer is D because it is last", "B"]
    # official: 1, 0 (lower-case), 1, 0 (D followed by " b"), 0   paper: 1, 1, 1, 0, 0
    expected = {"official": (2 / 5, [1, 0, 1, 0, 0]), "paper": (3 / 5, [1, 1, 1, 0, 0])}
    for name, scoring in (("official", OFFICIAL), ("paper", PAPER)):
        items = [Scored(s, p, scoring.score(s, p)) for s, p in zip(samples, preds, strict=True)]
        assert [i.score for i in items] == expected[name][1]
        agg = scoring.aggregate(items)
        assert agg.overall == pytest.approx(expected[name][0])
        assert agg.n == 5 and agg.scored == 5
        assert agg.per_task == pytest.approx(
            {s.question_type: float(v) for s, v in zip(samples, expected[name][1], strict=True)}
        )
    assert OFFICIAL.aggregate([]).overall is None


def test_cli_score_json(data_root: Path) -> None:
    preds = {0: "A", 1: "b", 2: "C"}
    for scoring, overall in (("official", 2 / 3), ("paper", 1.0)):
        res = score_cli_json("mmsi", data_root, preds, scoring)
        assert res["n"] == 3
        assert res["overall"] == pytest.approx(overall)
