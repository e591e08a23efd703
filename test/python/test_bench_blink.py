"""BLINK: the loader reads the BLINK-Benchmark/BLINK layout (replica, val split), and both scorings follow their
released code (BLINK's eval/test_benchmark.py + eval/evaluate.py, with lmms-eval's blink/utils.py letter rule where
BLINK would ask GPT-3.5; SpatialClaw's evals/blink.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from bench_testing import assert_missing_names_download, score_cli_json, write_replica
from replicas import blink as replica
from replicas import flat_inputs
from spatial_common.contract import validate
from spatial_eval.benchmarks.blink import (
    BENCHMARKS,
    NEEDS_JUDGE,
    lmms_eval_letter,
    official_choice,
    paper_choice,
    uses_fallback,
)
from spatial_eval.cli import load_benchmark
from spatial_eval.types import Sample, Scored

BENCH = BENCHMARKS[0]
OFFICIAL = BENCH.scorings["official"]
PAPER = BENCH.scorings["paper"]

IDS = [
    "val_Counting_1",
    "val_Counting_2",
    "val_Jigsaw_1",
    "val_Multi-view_Reasoning_1",
    "val_Relative_Depth_1",
    "val_Relative_Depth_2",
    "val_Relative_Depth_3",
]


@pytest.fixture()
def data_root(tmp_path: Path) -> Path:
    return write_replica("blink", tmp_path)


def _sample(answer: str = "(B)", n_choices: int = 2) -> Sample:
    opts = ["A is closer", "B is closer", "both", "neither"][:n_choices]
    return Sample(
        benchmark="blink",
        source_id="x",
        question="q",
        inputs=[{"kind": "images", "path": "/x.jpg"}],
        answer=answer,
        choices=[f"({chr(65 + i)}) {o}" for i, o in enumerate(opts)],
        question_type="Relative_Depth",
        extra={"n_choices": n_choices},
    )


# ---------------------------------------------------------------------------------------------------------- loader


def test_loader_reads_the_val_split_in_subtask_order(data_root: Path) -> None:
    loaded = load_benchmark(BENCH, data_root)
    assert loaded.problems == []
    # Subtasks in SpatialClaw's order (Art_Style, Counting, ..., Jigsaw, Multi-view_Reasoning, ..., Relative_Depth);
    # the test-*.parquet files are not read.
    assert [s.source_id for s in loaded.samples] == IDS
    assert [s.question_type for s in loaded.samples] == [
        "Counting",
        "Counting",
        "Jigsaw",
        "Multi-view_Reasoning",
        "Relative_Depth",
        "Relative_Depth",
        "Relative_Depth",
    ]
    assert [len(flat_inputs(s)) for s in loaded.samples] == [1, 1, 3, 2, 1, 1, 1]
    first = loaded.samples[0]
    assert first.id == "blink-val_Counting_1"
    assert first.answer == "(C)"
    assert first.choices == ["(A) 0", "(B) 1", "(C) 2", "(D) 3"]
    assert first.extra["options"] == ["0", "1", "2", "3"] and first.extra["n_choices"] == 4
    assert first.question == "How many pillows are on the bed?"
    assert first.instruction and "(A)" in first.instruction
    for s in loaded.samples:
        validate("SampleSpec", s.spec())
        assert all(p.is_absolute() and p.exists() for p in s.media)
        assert [Path(i["path"]) for i in flat_inputs(s)] == s.media
    assert BENCH.published_count == 1901 and BENCH.settings == {}


def test_bad_rows_are_row_problems(tmp_path: Path) -> None:
    replica.write(tmp_path)
    rows = replica.val_rows()["Relative_Depth"]
    rows[0] = {**rows[0], "image_1": None}
    rows[1] = {**rows[1], "choices": []}
    replica.write_parquet(tmp_path / "blink" / "Relative_Depth" / "val-00000-of-00001.parquet", rows)
    loaded = load_benchmark(BENCH, tmp_path)
    assert [s.source_id for s in loaded.samples] == IDS[:4] + ["val_Relative_Depth_3"]
    messages = {p.where: p.message for p in loaded.problems}
    assert "no images" in messages["Relative_Depth/val-00000-of-00001.parquet row 0"]
    assert "choices" in messages["Relative_Depth/val-00000-of-00001.parquet row 1"]


def test_missing_data_names_the_download(tmp_path: Path) -> None:
    # the second case: a subtask folder without its val parquet
    assert_missing_names_download(
        BENCH, tmp_path, "BLINK-Benchmark/BLINK", r"subtask folders.*hf download", lambda f: (f / "Counting").mkdir()
    )


# --------------------------------------------------------------------------------------------------------- scoring

# (prediction, official, paper) against the answer "(B)" with 2 options.
# Official analyze_answer: "A".."E" exactly -> "(X)"; "(A)".."(E)" exactly -> as is; else the single valid "(X)"
# whitespace token (whole text, or the last paragraph when that has exactly one); else it defers to GPT-3.5, and here
# lmms-eval's rule decides ("fallback" below): the stripped text's first letter after any "(" / spaces, any case,
# upper-cased, must equal "B" ("(B)" without its parentheses); a text that starts otherwise yields "" -> wrong.
# Paper extract_answer: letter/(X) in any case, last \boxed{X}, single (X) token, last (X) anywhere, "answer/choice/
# option (is) X", a leading letter not followed by a letter, else (Z).
CASES = [
    ("(B)", 1.0, 1.0),  # analyze_answer: a whole-response "(X)"
    ("B", 1.0, 1.0),  # analyze_answer: a whole-response letter
    ("(B) B is closer", 1.0, 1.0),  # analyze_answer: one valid token "(B)"
    ("b", 1.0, 1.0),  # analyze_answer compares with "A".."E" exactly and defers; fallback: "b" -> "B"
    ("(b)", 1.0, 1.0),  # fallback: "(" skipped, "b" -> "B"
    ("B.", 1.0, 1.0),  # fallback: leading "B"; paper: leading B followed by "." (not a letter)
    ("B)", 1.0, 1.0),  # fallback: leading "B"
    (" B", 1.0, 1.0),  # analyze_answer does not strip (" B" is not "B") and defers; fallback strips
    ("(B).", 1.0, 1.0),  # the token is "(B).", not "(B)"; fallback: "(" skipped -> "B"; paper finds (B) by regex
    ("\\boxed{B}", 0.0, 1.0),  # fallback: starts with a backslash, not a letter -> "" -> wrong; paper reads \boxed
    ("The answer is b", 0.0, 1.0),  # fallback: the first letter "T"; paper: "answer is X" ignores case
    ("Answer: B", 0.0, 0.0),  # fallback: "A" (of "Answer"); paper: ":" breaks the phrase rule, "An" is a letter pair
    ("B is closer", 1.0, 1.0),  # option text: fallback and paper take the leading "B"
    ("A is closer", 0.0, 0.0),  # option text of the wrong option: leading "A"
    ("Both points look equally far", 1.0, 0.0),  # fallback quirk: "B" of "Both"; paper: "B" then "o" is no answer
    ("Because it is A", 1.0, 0.0),  # fallback quirk: "B" of "Because" although the text says A; paper: (Z)
    ("(A) or (B)", 0.0, 1.0),  # two tokens: analyze_answer defers; fallback: the first "A"; paper: the last (X)
    ("First (A) looked right.\n\nFinal: (B)", 1.0, 1.0),  # analyze_answer: the last paragraph has one token
    ("(C)", 0.0, 0.0),  # a whole-response "(C)" is kept by analyze_answer even with 2 options, and is wrong
    ("E", 0.0, 0.0),  # analyze_answer: a whole-response letter beyond the options, wrong
    ("four", 0.0, 0.0),  # fallback: "F"
    ("1,200", 0.0, 0.0),  # fallback: starts with a digit -> ""
    ("2.5m", 0.0, 0.0),  # fallback: starts with a digit -> ""
    ("", 0.0, 0.0),  # blank: the matcher is told to answer (Z) when no option is selected; lmms-eval finds no letter
    ("   ", 0.0, 0.0),  # blank as well; SpatialClaw's extractor raises IndexError here; scored as a miss
    (None, 0.0, 0.0),  # official: None.split raises inside analyze_answer's try -> no prediction -> wrong
]


@pytest.mark.parametrize(("prediction", "official", "paper"), CASES)
def test_scores(prediction: str | None, official: float | None, paper: float) -> None:
    assert OFFICIAL.score(_sample(), prediction) == official
    assert PAPER.score(_sample(), prediction) == paper


def test_valid_tokens_follow_the_number_of_options() -> None:
    # With 2 options only (A) and (B) count as tokens: "(C) ... (B)" has one valid token.
    assert official_choice("maybe (C) but (B)", 2) == "(B)"
    assert official_choice("maybe (C) but (B)", 3) is NEEDS_JUDGE
    # With 3 options analyze_answer defers; the fallback reads "M" (of "maybe"), which is wrong for (C).
    assert OFFICIAL.score(_sample("(C)", 3), "maybe (C) but (B)") == 0.0
    assert not uses_fallback("maybe (C) but (B)", 2) and uses_fallback("maybe (C) but (B)", 3)
    assert paper_choice("maybe (C) but (B)") == "(B)"  # two tokens -> the last "(X)" anywhere


def test_lmms_eval_letter() -> None:
    # lmms-eval's _extract_answer_letter: strip, then a match at the start of [(\s]*([A-Z])[).\s]*, any case.
    assert lmms_eval_letter("  (c) the third") == "C"
    assert lmms_eval_letter("( d") == "D"  # "(" and spaces are both skipped
    assert lmms_eval_letter("Because") == "B"  # the first letter of a word
    assert lmms_eval_letter("[B]") == ""  # "[" is not skipped
    assert lmms_eval_letter("**B**") == ""
    assert lmms_eval_letter("") == "" and lmms_eval_letter("  ") == ""
    # The fallback is used only where analyze_answer defers, never for blank or missing responses.
    assert uses_fallback("b", 2) and uses_fallback("(A) or (B)", 2)
    assert not uses_fallback("B", 2) and not uses_fallback("(B)", 2) and not uses_fallback("", 2)
    assert not uses_fallback("  ", 2) and not uses_fallback(None, 2)


def test_every_sample_with_an_answer_is_scored() -> None:
    for prediction, _, _ in CASES:
        assert OFFICIAL.score(_sample(), prediction) in (0.0, 1.0)
    assert OFFICIAL.score(_sample(answer=None), "B") is None  # type: ignore[arg-type]
    # The fallback compares with the answer without its parentheses: a bare-letter answer matches too.
    assert OFFICIAL.score(_sample("B"), "b") == 1.0


def test_sources_name_the_lmms_eval_fallback() -> None:
    cites = [src.cite() for src in OFFICIAL.sources]
    assert any(
        "EvolvingLMMs-Lab/lmms-eval@205d72d28286:lmms_eval/tasks/blink/utils.py" in c and "defers to the GPT-3.5" in c
        for c in cites
    )
    assert any("eval/multiple_choice.py" in c and "not run; lmms-eval's rule used instead" in c for c in cites)


def test_paper_ground_truth_normalisation() -> None:
    assert PAPER.score(_sample("B"), "(B)") == 1.0  # a bare letter answer is wrapped as "(B)"
    # analyze_answer decides "(B)" and eval_prediction compares the strings as published: "(B)" != "B"
    assert OFFICIAL.score(_sample("B"), "(B)") == 0.0


def test_aggregate_is_macro_over_subtasks(data_root: Path) -> None:
    samples = load_benchmark(BENCH, data_root).samples
    # answers: (C) (B) (A) (B) (A) (B) (A)
    preds = ["(C)", "A", "(A) the second image", "right", "(A)", "(A)", "B."]
    official = [OFFICIAL.score(s, p) for s, p in zip(samples, preds, strict=True)]
    paper = [PAPER.score(s, p) for s, p in zip(samples, preds, strict=True)]
    # "right" defers -> fallback "R", wrong for (B); "B." defers -> fallback "B", wrong for (A)
    assert official == [1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 0.0]
    assert paper == [1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 0.0]  # "right" -> (Z); "B." -> (B), answer (A)

    agg = OFFICIAL.aggregate([Scored(s, p, v) for s, p, v in zip(samples, preds, official, strict=True)])
    # Counting 1/2, Jigsaw 1/1, Multi-view_Reasoning 0/1, Relative_Depth 1/3: every sample is scored
    assert agg.per_task == pytest.approx(
        {"Counting": 0.5, "Jigsaw": 1.0, "Multi-view_Reasoning": 0.0, "Relative_Depth": 1 / 3}
    )
    assert agg.overall == pytest.approx((0.5 + 1.0 + 0.0 + 1 / 3) / 4)
    assert agg.n == 7 and agg.scored == 7
    assert any(n.startswith("2 responses scored by lmms-eval's leading-letter rule") for n in agg.notes)
    assert any("4 of 14 subtasks" in n for n in agg.notes)

    # The fallback can also be right: "b" for (B) and "(a) ..." for (A) defer and then match.
    preds = ["(C)", "b", "(A) the second image", "(a) left", "(A)", "(A)", "B."]
    official = [OFFICIAL.score(s, p) for s, p in zip(samples, preds, strict=True)]
    assert official == [1.0, 1.0, 1.0, 0.0, 1.0, 0.0, 0.0]  # "(a) left" -> "A", but Multi-view_Reasoning wants (B)
    agg = OFFICIAL.aggregate([Scored(s, p, v) for s, p, v in zip(samples, preds, official, strict=True)])
    assert agg.per_task == pytest.approx(
        {"Counting": 1.0, "Jigsaw": 1.0, "Multi-view_Reasoning": 0.0, "Relative_Depth": 1 / 3}
    )
    assert any(n.startswith("3 responses scored by lmms-eval") for n in agg.notes)

    # No deferred response: no fallback note; blanks and missing responses are not counted as fallback.
    preds = ["(C)", "", "(A) the second image", None, "(A)", "   ", "A"]
    official = [OFFICIAL.score(s, p) for s, p in zip(samples, preds, strict=True)]
    assert official == [1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0]
    agg = OFFICIAL.aggregate([Scored(s, p, v) for s, p, v in zip(samples, preds, official, strict=True)])
    assert agg.scored == 7 and not any("lmms-eval" in n for n in agg.notes)

    agg = PAPER.aggregate([Scored(s, p, v) for s, p, v in zip(samples, preds, paper, strict=True)])
    assert agg.per_task == pytest.approx(
        {"Counting": 0.5, "Jigsaw": 1.0, "Multi-view_Reasoning": 0.0, "Relative_Depth": 1 / 3}
    )
    assert agg.overall == pytest.approx((0.5 + 1.0 + 0.0 + 1 / 3) / 4)
    assert agg.n == 7 and agg.scored == 7
    assert OFFICIAL.aggregate([]).overall is None


def test_cli_score_json(data_root: Path) -> None:
    preds = {
        "val_Counting_1": "(C)",
        "val_Counting_2": "(B)",
        "val_Relative_Depth_1": "(B)",
        "val_Relative_Depth_2": "b",
    }
    # Relative_Depth answers (A), (B): "(B)" is wrong; "b" defers to the fallback and is right. Both scorings:
    # Counting 2/2, Relative_Depth 1/2 -> (1 + 0.5) / 2 = 0.75
    for scoring, overall in (("official", 0.75), ("paper", 0.75)):
        res = score_cli_json("blink", data_root, preds, scoring)
        assert res["n"] == 4
        assert res["overall"] == pytest.approx(overall)
