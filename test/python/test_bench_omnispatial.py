"""OmniSpatial: the loader on the replica (OmniSpatial-test.zip unzipped), and both scorings against hand-derived
expectations from qizekun/OmniSpatial ``api_eval.py`` (official, ``--eval_type re``) and SpatialClaw
``evals/omnispatial.py`` + ``evals/base.py`` (paper)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from bench_testing import assert_missing_names_download, loaded_samples, replica_root, score_cli_json, scored
from replicas import omnispatial as replica
from spatial_common.contract import validate
from spatial_eval.cli import load_benchmark
from spatial_eval.registry import get
from spatial_eval.types import Sample

BENCH = get("omnispatial")
OFFICIAL = BENCH.scorings["official"]
PAPER = BENCH.scorings["paper"]
IDS = [
    "Dynamic_Reasoning_Motion_Analysis_0_0",
    "Dynamic_Reasoning_Motion_Analysis_0_1",
    "Dynamic_Reasoning_Manipulation_3_0",
    "Complex_Logic_Geometric_Reasoning_0_0",
    "Spatial_Interaction_Localization_7_0",
    "Perspective_Taking_Egocentric_12_0",
    "Perspective_Taking_Allocentric_13_0",
]


@pytest.fixture(scope="module")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return replica_root(tmp_path_factory, "omnispatial")


@pytest.fixture(scope="module")
def samples(data_root: Path) -> list[Sample]:
    return loaded_samples(BENCH, data_root)


def make(answer: str, choices: int = 4) -> Sample:
    return Sample(
        benchmark="omnispatial",
        source_id="T_S_0_0",
        question="q?",
        inputs=[{"kind": "images", "path": "/x.png"}],
        answer=answer,
        choices=[f"{chr(65 + i)}. option {i}" for i in range(choices)],
        question_type="S",
        category="T",
        extra={"task_type": "T", "sub_task_type": "S"},
    )


# --------------------------------------------------------------------------------------------------------------
# Loading


def test_loads_replica(samples: list[Sample], data_root: Path) -> None:
    assert [s.source_id for s in samples] == IDS
    assert [s.id for s in samples] == [f"omnispatial-{i}" for i in IDS]
    assert [s.answer for s in samples] == ["A", "C", "B", "D", "B", "C", "A"]
    assert samples[0].choices == ["A. 3.1s", "B. 12.4s", "C. 20.6s", "D. 5.2s"]
    assert samples[0].question.startswith("If the nearest moving car")
    assert [s.category for s in samples][:3] == ["Dynamic_Reasoning"] * 3
    assert [s.question_type for s in samples][:3] == ["Motion_Analysis", "Motion_Analysis", "Manipulation"]
    folder = data_root / "omnispatial" / "OmniSpatial-test"
    # <task_type>/<id before "_">.png: 0_0 and 0_1 share Dynamic_Reasoning/0.png; Complex_Logic's 0_0 has its own.
    assert samples[0].inputs == [{"kind": "images", "path": str((folder / "Dynamic_Reasoning" / "0.png").resolve())}]
    assert samples[1].inputs == samples[0].inputs
    assert samples[3].inputs == [{"kind": "images", "path": str((folder / "Complex_Logic" / "0.png").resolve())}]
    for s in samples:
        p = Path(s.inputs[0]["path"])
        assert p.is_absolute() and p.is_file() and s.media == [p]
        assert s.instruction and "Answer: X" in s.instruction
        assert s.extra["id"] in s.source_id
        validate("SampleSpec", s.spec())


def test_loads_readme_layout(tmp_path: Path) -> None:
    # The official README's layout: data.json and <task_type>/ directly in the dataset folder.
    replica.write(tmp_path)
    folder = tmp_path / "omnispatial"
    for p in (folder / "OmniSpatial-test").iterdir():
        shutil.move(str(p), folder / p.name)
    (folder / "OmniSpatial-test").rmdir()
    loaded = load_benchmark(BENCH, tmp_path)
    assert [s.source_id for s in loaded.samples] == IDS
    assert all(Path(s.inputs[0]["path"]).is_file() for s in loaded.samples)


def test_bad_rows_are_problems(tmp_path: Path) -> None:
    replica.write(tmp_path)
    path = tmp_path / "omnispatial" / "OmniSpatial-test" / "data.json"
    rows = json.loads(path.read_text())
    rows[1]["answer"] = 4  # out of range
    del rows[2]["task_type"]
    rows[4]["options"] = "A"  # not a list
    rows.append(dict(rows[0]))  # duplicate of the first
    rows.append(7)
    path.write_text(json.dumps(rows))
    loaded = load_benchmark(BENCH, tmp_path)
    assert [s.source_id for s in loaded.samples] == [IDS[0], IDS[3], IDS[5], IDS[6]]
    assert len(loaded.problems) == 5
    text = " | ".join(p.message for p in loaded.problems)
    assert "option index 0..3" in text and "task_type" in text and "options" in text and "duplicate id" in text
    assert loaded.problems[0].source_id == "0_1"


def test_missing_folder(tmp_path: Path) -> None:
    assert_missing_names_download(
        BENCH,
        tmp_path,
        "qizekun/OmniSpatial",
        "OmniSpatial-test/data.json.*unzip it in place",
        lambda f: (f / "OmniSpatial-test.zip").write_bytes(b"PK"),
    )


# --------------------------------------------------------------------------------------------------------------
# Official (api_eval.py, eval_type re): last "Answer: X", case as matched, fallback "A"


@pytest.mark.parametrize(
    ("pred", "expected"),
    [
        ("Answer: B", 1.0),
        ("Reasoning...\nAnswer:B", 1.0),
        ("Answer : B", 1.0),
        ("ANSWER: B", 1.0),  # the pattern ignores case...
        ("answer: b", 0.0),  # ...but the letter is compared as matched: "b" != "B"
        ("Answer: A\nActually, Answer: B", 1.0),  # the last match
        ("Answer: B\nAnswer: C", 0.0),
        ("Answer: (B)", 0.0),  # no match -> "A"
        ("Answer: Bob", 0.0),  # \b after the letter fails -> "A"
        ("B", 0.0),  # no "Answer:" -> "A"
        ("(B)", 0.0),
        ("B.", 0.0),
        ("B)", 0.0),
        (" B", 0.0),
        ("\\boxed{B}", 0.0),
        ("b", 0.0),
        ("12.4s", 0.0),  # option text
        ("", 0.0),
        (None, 0.0),
    ],
)
def test_official_letter_gt_b(pred: str | None, expected: float) -> None:
    assert OFFICIAL.score(make("B"), pred) == expected


@pytest.mark.parametrize("pred", ["", None, "B", "(B)", "\\boxed{B}", "no idea", "Answer: E"])
def test_official_fallback_is_a(pred: str | None) -> None:
    # Anything without a readable "Answer: X" (a blank reply too) reads as "A": right when the answer is A.
    assert OFFICIAL.score(make("A"), pred) == 1.0
    assert OFFICIAL.score(make("B"), pred) == 0.0


# --------------------------------------------------------------------------------------------------------------
# Paper (SpatialClaw): Answer: X, base heuristics, first character, fallback "A"


@pytest.mark.parametrize(
    ("pred", "expected"),
    [
        ("Answer: B", 1.0),
        ("answer: b", 1.0),  # upper-cased here
        ("(B)", 1.0),  # base: letter followed by ")"
        ("B.", 1.0),
        ("B)", 1.0),
        ("B:", 1.0),
        (" B", 1.0),  # base: the only letter
        ("b", 1.0),
        ("\\boxed{B}", 1.0),
        ("The answer is B.", 1.0),  # base: the first letter followed by "." is B
        ("I think so. B", 0.0),  # base gives "O" (from "so."), the first character "I" is not A-D -> "A"
        ("Car moves away, so B", 0.0),  # no letter before [.:)], many letters; the first character "C" is A-D
        ("12.4s", 0.0),  # option text: no letter mark, "s" alone -> "S"; first char "1" -> "A"
        ("", 0.0),  # "A"
        (None, 0.0),
    ],
)
def test_paper_letter_gt_b(pred: str | None, expected: float) -> None:
    assert PAPER.score(make("B"), pred) == expected


def test_paper_quirks() -> None:
    from spatial_eval.benchmarks.omnispatial import paper_letter

    assert paper_letter("") == "A" and paper_letter(None) == "A"
    # Whitespace only: not empty, so no "A" fallback; the first character of "" is "", and "" in "ABCD" is true.
    assert paper_letter("   ") == ""
    assert PAPER.score(make("A"), "   ") == 0.0
    assert PAPER.score(make("A"), "") == 1.0
    assert paper_letter("Car moves away, so B") == "C"
    assert paper_letter("It moves left.") == "A"  # base gives "T" (from "left."), first character "I"


PREDS = {
    IDS[0]: "",  # gold A: both read "A"
    IDS[1]: "Answer: C",  # gold C: both right
    IDS[2]: "answer: b",  # gold B: official compares "b" -> wrong; paper upper-cases -> right
    IDS[3]: "D",  # gold D: official "A" -> wrong; paper "D" -> right
    IDS[4]: "Answer: A",  # gold B: both wrong
    IDS[5]: "(C)",  # gold C: official "A" -> wrong; paper right
    IDS[6]: "Answer: A",  # gold A: both right
}


def test_official_aggregate(samples: list[Sample]) -> None:
    items = scored(OFFICIAL, samples, PREDS)
    assert [s.score for s in items] == [1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0]
    agg = OFFICIAL.aggregate(items)
    eps = 1e-6
    assert agg.overall == 3 / (7 + eps)  # the report divides by len + 1e-6
    assert agg.overall < 3 / 7
    assert agg.per_task == {
        "Complex_Logic": 0.0,
        "Complex_Logic/Geometric_Reasoning": 0.0,
        "Dynamic_Reasoning": 2 / (3 + eps),
        "Dynamic_Reasoning/Manipulation": 0.0,
        "Dynamic_Reasoning/Motion_Analysis": 2 / (2 + eps),
        "Perspective_Taking": 1 / (2 + eps),
        "Perspective_Taking/Allocentric": 1 / (1 + eps),
        "Perspective_Taking/Egocentric": 0.0,
        "Spatial_Interaction": 0.0,
        "Spatial_Interaction/Localization": 0.0,
    }
    assert (agg.n, agg.scored) == (7, 7)
    assert OFFICIAL.aggregate([]).overall is None


def test_paper_aggregate(samples: list[Sample]) -> None:
    items = scored(PAPER, samples, PREDS)
    assert [s.score for s in items] == [1.0, 1.0, 1.0, 1.0, 0.0, 1.0, 1.0]
    agg = PAPER.aggregate(items)
    assert agg.overall == pytest.approx(6 / 7)
    assert agg.per_task["Dynamic_Reasoning"] == 1.0
    assert agg.per_task["Spatial_Interaction"] == 0.0
    assert agg.per_task["Perspective_Taking/Egocentric"] == 1.0
    assert len(agg.per_task) == 10


@pytest.mark.parametrize(("scoring", "overall"), [("official", 3 / (7 + 1e-6)), ("paper", 6 / 7)])
def test_cli_score(data_root: Path, scoring: str, overall: float) -> None:
    res = score_cli_json("omnispatial", data_root, PREDS, scoring)
    assert res["n"] == 7
    assert res["overall"] == pytest.approx(overall, abs=1e-12)
    assert "Dynamic_Reasoning/Motion_Analysis" in res["per_task"]
