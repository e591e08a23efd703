"""ERQA: the loader reads the FlagEval/ERQA layout (replica), and both scorings follow their released code."""

from __future__ import annotations

from pathlib import Path

import pytest
from bench_testing import assert_missing_names_download, score_cli_json, write_replica
from replicas import erqa as replica
from replicas import flat_inputs
from spatial_common.contract import validate
from spatial_eval.benchmarks.erqa import BENCHMARKS, interleave
from spatial_eval.cli import load_benchmark
from spatial_eval.types import Sample, Scored

BENCH = BENCHMARKS[0]
OFFICIAL = BENCH.scorings["official"]
PAPER = BENCH.scorings["paper"]


@pytest.fixture()
def data_root(tmp_path: Path) -> Path:
    return write_replica("erqa", tmp_path)


def _load(root: Path):
    return load_benchmark(BENCH, root)


def _sample(answer: str = "B", n_images: int = 1, qtype: str = "Pointing") -> Sample:
    return Sample(
        benchmark="erqa",
        source_id="x",
        question="q",
        inputs=[{"kind": "images", "path": "/x.jpg"}] * n_images,
        answer=answer,
        question_type=qtype,
        extra={"num_images": n_images},
    )


# ---------------------------------------------------------------------------------------------------------- loader


def test_loader_reads_the_replica(data_root: Path) -> None:
    loaded = _load(data_root)
    assert loaded.problems == []
    assert [s.source_id for s in loaded.samples] == ["ERQA_1", "ERQA_2", "ERQA_3", "ERQA_4", "ERQA_5"]
    assert [s.answer for s in loaded.samples] == ["B", "A", "C", "D", "A"]
    assert [len(flat_inputs(s)) for s in loaded.samples] == [1, 2, 2, 1, 1]
    first = loaded.samples[0]
    assert first.id == "erqa-ERQA_1"
    assert first.question_type == "Trajectory Reasoning"
    assert first.category is None and first.choices is None  # the options live in the question text
    assert "Choices: A. The lamp." in first.question
    assert first.instruction and "letter" in first.instruction
    for s in loaded.samples:
        validate("SampleSpec", s.spec())
        assert s.media and all(p.is_absolute() and p.exists() for p in s.media)
        assert all(i["kind"] == "images" and Path(i["path"]).is_absolute() for i in flat_inputs(s))
        assert [Path(i["path"]) for i in flat_inputs(s)] == s.media
        assert s.media[0].read_bytes()[:3] == b"\xff\xd8\xff"  # the embedded JPEG bytes, unchanged
    # Images before the text (visual_indices all 0): the published question is kept as it is.
    assert loaded.samples[1].question == loaded.samples[1].extra["published_question"]
    # Interleaved images: a marker for each input where visual_indices put it.
    q3 = loaded.samples[2].question
    assert q3.startswith("The first image shows the starting state:<image 1> Then the robot acts and we see:<image 2>")
    assert loaded.samples[2].extra["num_images"] == 2
    assert BENCH.published_count == 400 and BENCH.settings == {}


def test_interleave_rules() -> None:
    assert interleave("abc", [], 1) == "abc"
    assert interleave("abc", [0, 0], 2) == "abc"
    assert interleave("abcdef", [3, 0], 2) == "<image 2>abc<image 1>def"
    assert interleave("abc", [99], 1) == "abc<image 1>"  # past the end: clamped to the end
    assert interleave("abcdef", [2, 4, 5], 2) == "ab<image 1>cd<image 2>ef"  # extra indices are ignored


def test_bad_rows_are_row_problems(tmp_path: Path) -> None:
    rows = replica.rows()
    rows[1] = {**rows[1], "answer": None}
    rows[2] = {**rows[2], "images": []}
    rows.append({**rows[0]})  # a duplicate question_id
    replica.write_rows(tmp_path, rows)
    loaded = _load(tmp_path)
    assert [s.source_id for s in loaded.samples] == ["ERQA_1", "ERQA_4", "ERQA_5"]
    messages = {p.where: p.message for p in loaded.problems}
    assert "answer" in messages["data/test-00000-of-00001.parquet row 1"]
    assert "no images" in messages["data/test-00000-of-00001.parquet row 2"]
    assert "duplicate" in messages["data/test-00000-of-00001.parquet row 5"]


def test_missing_data_names_the_download(tmp_path: Path) -> None:
    assert_missing_names_download(
        BENCH, tmp_path, "FlagEval/ERQA", r"test-00000-of-00001\.parquet.*hf download", lambda f: (f / "data").mkdir()
    )


# --------------------------------------------------------------------------------------------------------- scoring

# Official: response.replace(".", "").strip().lower() == answer.strip().lower(); nothing else is extracted.
OFFICIAL_CASES = [
    ("B", 1.0),
    ("B.", 1.0),  # every "." is removed
    ("b", 1.0),  # lower-cased
    (" B \n", 1.0),  # stripped
    ("...B..", 1.0),
    ("(B)", 0.0),  # "(b)" != "b"
    ("B)", 0.0),
    ("\\boxed{B}", 0.0),
    ("B. The pillow.", 0.0),  # "b the pillow"
    ("The pillow", 0.0),  # option text is not matched
    ("Answer: B", 0.0),
    ("four", 0.0),
    ("1,200", 0.0),
    ("2.5m", 0.0),
    ("", 0.0),
    ("   ", 0.0),
    (None, 0.0),  # a missing answer is a blank response
]


@pytest.mark.parametrize(("prediction", "expected"), OFFICIAL_CASES)
def test_official_exact_match(prediction: str | None, expected: float) -> None:
    assert OFFICIAL.score(_sample("B"), prediction) == expected


@pytest.mark.parametrize(("prediction", "expected"), OFFICIAL_CASES)
def test_paper_matches_official_on_real_answers(prediction: str | None, expected: float) -> None:
    # SpatialClaw's erqa.py applies the same normalisation (it quotes the harness line).
    assert PAPER.score(_sample("B"), prediction) == expected


def test_blank_ground_truth_quirk() -> None:
    # The harness compares strings only: a blank response equals a blank answer. SpatialClaw requires a non-empty
    # prediction. (No published row has a blank answer; the loader rejects one.)
    assert OFFICIAL.score(_sample(" "), "") == 1.0
    assert PAPER.score(_sample(" "), "") == 0.0


def test_aggregate_is_mean_over_samples_with_breakdowns(data_root: Path) -> None:
    samples = _load(data_root).samples
    preds = ["B", "(A)", "c.", "A", "a"]  # scores 1, 0, 1, 0, 1
    for scoring in (OFFICIAL, PAPER):
        items = [Scored(s, p, scoring.score(s, p)) for s, p in zip(samples, preds, strict=True)]
        agg = scoring.aggregate(items)
        assert agg.overall == pytest.approx(3 / 5)
        assert agg.n == 5 and agg.scored == 5
        assert agg.per_task == pytest.approx(
            {
                "Action Reasoning": 1.0,
                "Multi-view Reasoning": 0.0,
                "Spatial Reasoning": 0.0,
                "State Estimation": 1.0,
                "Trajectory Reasoning": 1.0,
                "single-image": 2 / 3,  # ERQA_1, ERQA_4, ERQA_5: 1, 0, 1
                "multi-image": 1 / 2,  # ERQA_2, ERQA_3: 0, 1
            }
        )
    assert OFFICIAL.aggregate([]).overall is None


def test_single_image_rule_differs_only_for_zero_images() -> None:
    # The harness: single-image means exactly one image; SpatialClaw: at most one.
    items = [Scored(_sample(n_images=0), "B", 1.0)]
    assert "multi-image" in OFFICIAL.aggregate(items).per_task
    assert "single-image" in PAPER.aggregate(items).per_task


def test_cli_score_json(data_root: Path) -> None:
    preds = {"ERQA_1": "B", "ERQA_2": "B", "ERQA_3": "C."}
    for scoring, overall in (("official", 2 / 3), ("paper", 2 / 3)):
        res = score_cli_json("erqa", data_root, preds, scoring)
        assert res["n"] == 3
        assert res["overall"] == pytest.approx(overall)
        assert res["per_task"]["multi-image"] == pytest.approx(0.5)
