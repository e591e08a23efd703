"""SpatialTree-Bench: the loader on the replica parquet, both scorings (lmms-eval's spatialtreebench task and
SpatialClaw's) on hand-made predictions with expectations derived from the released code, and the weighted tree."""

from __future__ import annotations

import base64
import io
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from bench_testing import assert_missing_names_download, loaded_by_id, replica_root, score_cli_json
from PIL import Image
from replicas import flat_inputs
from replicas import spatialtree as replica
from spatial_common.contract import validate
from spatial_eval.benchmarks.spatialtree import (
    leaf_of,
    official_mc_choice,
    official_number,
    official_yes_no,
    paper_mc_letter,
    paper_number,
    tree_leaves,
)
from spatial_eval.cli import load_benchmark
from spatial_eval.registry import get
from spatial_eval.types import Sample, Scored

BENCH = get("spatialtree")
OFFICIAL = BENCH.scorings["official"]
PAPER = BENCH.scorings["paper"]
IDS = [r["session_id"] for r in replica.rows()]


@pytest.fixture(scope="module")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return replica_root(tmp_path_factory, "spatialtree")


@pytest.fixture(scope="module")
def samples(data_root: Path) -> dict[str, Sample]:
    return loaded_by_id(BENCH, data_root)


# --- loader ------------------------------------------------------------------------------------------------------


def test_loader_order_fields_and_spec(data_root: Path, samples: dict[str, Sample]) -> None:
    loaded = load_benchmark(BENCH, data_root)
    assert [s.source_id for s in loaded.samples] == IDS
    root = data_root / "spatialtree"
    mc = samples["L1_Geometry_Distance_0001"]
    assert mc.choices == ["A. 0.6 m", "B. 1.2 m", "C. 2.5 m", "D. 3.1 m"]
    assert mc.answer == "B"
    assert mc.question_type == "L1/Geometry/Distance" and mc.category == "L1"
    assert mc.extra["leaf"] == "Distance" and mc.extra["format"] == "multiple-choice"
    assert mc.inputs == [{"kind": "images", "path": str(root / "images/L1_Geometry_Distance_0001.jpg")}]
    video = samples["L2_Underst._RelationUnderstanding_0004"]
    assert video.inputs == [{"kind": "video", "path": str(root / "videos/L2_relation_0004.mp4")}]
    assert video.extra["frame_index"] == [0, 4, 8, 12]
    two = samples["L2_Memory_CognitiveMap_0006"]
    assert [i["kind"] for i in flat_inputs(two)] == ["images", "images"]
    for s in samples.values():
        for inp in flat_inputs(s):
            assert Path(inp["path"]).is_absolute() and Path(inp["path"]).is_file()
        validate("SampleSpec", s.spec())
        assert s.instruction


def test_long_answer_kept_for_scoring(samples: dict[str, Sample]) -> None:
    s = samples["L2_Underst._Affordance_0007"]
    assert s.extra["answer_full"] == replica.mask_b64()
    assert isinstance(s.answer, str) and len(s.answer) < 100  # the spec carries a short placeholder


def test_instructions_follow_the_metric(samples: dict[str, Sample]) -> None:
    assert "letter" in samples["L1_Geometry_Distance_0001"].instruction
    assert "number" in samples["L1_Geometry_Size_0002"].instruction
    assert "Yes or No" in samples["L2_Underst._RelationUnderstanding_0004"].instruction
    assert "roll" in samples["L1_Orientation_Gravity_0003"].instruction
    assert "JSON" in samples["L4_Goal-DrivenExecution_RoboticArm_0010"].instruction
    assert "number" in samples["L3_Caus.Reas._GeometryPuzzles_0008"].instruction  # open row, scored by MRA


def test_bad_rows_are_problems(tmp_path: Path) -> None:
    replica.write(tmp_path)
    path = tmp_path / "spatialtree/annotations_plain.parquet"
    rows = replica.rows()
    rows.insert(1, dict(rows[0], session_id="bad_info", extra_info="{not json"))
    rows.append(dict(rows[0], session_id="no_media", image=[], video=[]))
    rows.append(dict(rows[0], session_id="", question="q"))
    replica.write_parquet(path, rows)
    loaded = load_benchmark(BENCH, tmp_path)
    assert [s.source_id for s in loaded.samples] == IDS
    assert [p.where for p in loaded.problems] == [
        "annotations_plain.parquet row 1",
        "annotations_plain.parquet row 11",
        "annotations_plain.parquet row 12",
    ]
    assert "extra_info" in loaded.problems[0].message and loaded.problems[0].source_id == "bad_info"
    assert "neither a video nor an image" in loaded.problems[1].message


def test_published_columns(data_root: Path) -> None:
    names = pq.read_schema(data_root / "spatialtree/annotations_plain.parquet").names
    assert names == [
        "session_id",
        "question",
        "question_type",
        "option",
        "answer",
        "hint",
        "video",
        "video_info",
        "image",
        "extra_info",
    ]


def test_missing_folder(tmp_path: Path) -> None:
    assert_missing_names_download(BENCH, tmp_path, "LongfeiLi/SpatialTree-Bench", "annotations_plain.parquet")


def test_leaf_of() -> None:
    assert leaf_of({"spatree0": "L1", "spatree1": "Geometry", "spatree2": "Size"}) == "Size"
    assert leaf_of({"spatree0": "L1", "spatree10": "Deep", "spatree2": "Size"}) == "Deep"  # numeric, not text, max
    assert leaf_of({"metricfunc": "judge"}) is None
    assert len(tree_leaves()) == 27


# --- official: lmms-eval spatialtreebench ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prediction", "expected"),
    [
        ("B", 1.0),  # padded to " B ": the candidate "B " is found
        ("(B)", 1.0),  # bracketed candidate
        ("B.", 1.0),  # the trailing "." is stripped first, then "B "
        (" B", 1.0),
        ("The answer is B", 1.0),  # phrase pattern (case-sensitive "The")
        ("A chair is closer, so B", 1.0),  # candidates "A " and "B ": the later " B " wins
        ("A chair", 0.0),  # "A " is read as option A
        ("Answer: C", 0.0),
        ("B)", 0.25),  # no candidate ("B) " has neither "(B)", "B " nor "B."): random pick, expected 1/4
        ("\\boxed{B}", 0.25),  # likewise
        ("b", 0.25),  # lowercase is never a candidate
        ("1.2 m", 0.25),  # option text is only tried for responses of more than five words
        ("", 0.25),  # blank: random pick too
        (None, 0.25),
    ],
)
def test_official_multiple_choice(samples: dict[str, Sample], prediction: str | None, expected: float) -> None:
    s = samples["L1_Geometry_Distance_0001"]  # gt "B", four options
    assert OFFICIAL.score(s, prediction) == pytest.approx(expected)


def test_official_mc_text_fallback() -> None:
    options = ["A. 0.6 m", "B. 1.2 m"]
    # more than five words, no letter candidate: an option whose full text occurs wins
    assert official_mc_choice("i would say it is b. 1.2 m away", options) == "B"
    assert official_mc_choice("i would say it is 1.2 m away", options) is None  # the "B. " prefix is part of it
    assert official_mc_choice("Answer: the Big one", options) == "B"  # the only letter after the last "Answer:"


@pytest.mark.parametrize(
    ("answer", "prediction", "expected"),
    [
        ("2.0", "2.0", 1.0),
        ("2.0", "2.24", 0.8),  # |2.24-2|/2 = 0.12 <= 1-t for t = .50 ... .85: 8 of 10 thresholds
        ("4.0", "2.5m", 0.3),  # 2.5 read; 0.375 <= 1-t for t = .50, .55, .60: 3 of 10
        ("1200", "1,200", 1.0),  # commas are removed before the number is read
        ("4", "four", 0.0),  # number words are not read
        ("-3", "-3", 1.0),  # signed numbers are read; 0 / -3 = -0.0 <= every threshold
        ("-3", "100", 1.0),  # a negative ground truth makes abs(p-g)/g negative: always 1
        ("0", "0", 0.0),  # abs(p-g)/g with g = 0 raises ZeroDivisionError -> 0
        ("2.0", "", 0.0),  # float("") raises -> 0
        ("2.0", None, 0.0),
        ("abc", "2", 0.0),  # float(answer) raises -> 0
    ],
)
def test_official_numeric(samples: dict[str, Sample], answer: str, prediction: str | None, expected: float) -> None:
    s = replace(samples["L1_Geometry_Size_0002"], answer=answer)
    assert OFFICIAL.score(s, prediction) == pytest.approx(expected)


def test_official_open_multichoice_is_mra(samples: dict[str, Sample]) -> None:
    s = samples["L3_Caus.Reas._GeometryPuzzles_0008"]  # open row tagged multichoiceeval, gt 12
    assert OFFICIAL.score(s, "12 cubes") == 1.0
    assert OFFICIAL.score(s, "twelve") == 0.0
    assert official_number("x = 3.5.2, y") == "3.5"


@pytest.mark.parametrize(
    ("prediction", "expected"),
    [
        ("Yes", 1.0),
        ("Yes it is.", 1.0),
        ("I don't know", 0.0),  # "know" contains "no", the last of yes/no
        ("yes, not the wardrobe", 0.0),  # "not" after "yes"
        ("", 0.0),  # "other"
        (None, 0.0),
    ],
)
def test_official_judge(samples: dict[str, Sample], prediction: str | None, expected: float) -> None:
    s = samples["L2_Underst._RelationUnderstanding_0004"]  # gt "yes"
    assert OFFICIAL.score(s, prediction) == expected
    assert official_yes_no("No") == "no"


def test_official_gravity(samples: dict[str, Sample]) -> None:
    s = samples["L1_Orientation_Gravity_0003"]  # gt roll 2, pitch -10, vfov 55; uncertainties 3, 4, 5
    assert OFFICIAL.score(s, '{"roll": 2, "pitch": -10, "vfov": 55}') == pytest.approx(1.0)
    # pitch off by 4 with uncertainty 4: exp(-16 / 32) for pitch, 1 for the others, averaged
    expected = (1 + math.exp(-0.5) + 1) / 3
    assert OFFICIAL.score(s, 'I think ```json\n{"roll": 2, "pitch": -6, "vfov": 55}\n```') == pytest.approx(expected)
    assert OFFICIAL.score(s, "roll = 2, pitch: -10, vfov=55") == pytest.approx(1.0)  # rebuilt from key = value
    assert OFFICIAL.score(s, '{"roll": 2, "pitch": -10}') == 0.0  # vfov missing
    assert OFFICIAL.score(s, "level camera") == 0.0
    assert OFFICIAL.score(s, None) == 0.0


def test_official_affordance(samples: dict[str, Sample]) -> None:
    s = samples["L2_Underst._Affordance_0007"]
    mask = np.asarray(Image.open(io.BytesIO(base64.b64decode(replica.mask_b64()))).convert("L"))
    assert OFFICIAL.score(s, "[0.0, 0.0]") == mask[0, 0] / 255  # normalized (x, y) in [0, 1]
    assert OFFICIAL.score(s, "the handle is at (70, 1)") == mask[1, 70] / 255  # pixels: column 70, row 1
    # the match ending last wins: "[0.0, 0.0]" ends after "(70, 1)"
    assert OFFICIAL.score(s, "(70, 1) or rather [0.0, 0.0]") == mask[0, 0] / 255
    assert OFFICIAL.score(s, "(500, 500)") == mask[111, 199] / 255  # clamped to the last row and column
    assert OFFICIAL.score(s, "no point") == 0.0
    assert mask[1, 70] == 0 and mask[0, 0] == 255  # the checks above see both values


def test_official_navigation(samples: dict[str, Sample]) -> None:
    s = samples["L4_Goal-DrivenExecution_AgenticNavigation_0009"]
    # start = optimal[-2] (z = 0.1); "W" x10 at 0.02 m moves to z = 0.3 = the target optimal[:7][-1]
    assert OFFICIAL.score(s, '```json\n{"actions": ["W"], "step_nums": [10]}\n```') == pytest.approx(1.0)
    # backwards to z = -0.1: direction cos = -1 -> 0; position error 0.4 m -> exp(-13.863 * 0.4); rotation exact
    expected = 0.35 * math.exp(-13.863 * 0.4) + 0.25
    assert OFFICIAL.score(s, "{'actions': ['S'], 'step_nums': [10]}") == pytest.approx(expected)
    assert OFFICIAL.score(s, "go forward") == 0.0


def test_official_robotic_arm(samples: dict[str, Sample]) -> None:
    s = samples["L4_Goal-DrivenExecution_RoboticArm_0010"]
    full = '{"step_1": {"actions": ["W"], "step_nums": [5]}, "step_2": {"actions": ["D"], "step_nums": [5]}}'
    assert OFFICIAL.score(s, full) == pytest.approx(1.0)
    # one step only: compared with the optimal pose after one segment (z = 0.1), which it reaches exactly
    assert OFFICIAL.score(s, '{"step_1": {"actions": ["W"], "step_nums": [5]}}') == pytest.approx(1.0)
    assert OFFICIAL.score(s, "[1, 2]") == 0.0  # not a JSON object


def test_official_unscored_metrics(samples: dict[str, Sample]) -> None:
    assert OFFICIAL.score(samples["L2_Underst._MotionUnderstanding_0005"], "pans left") is None  # gpteval
    assert OFFICIAL.score(samples["L2_Memory_CognitiveMap_0006"], "A") is None  # cogmapeval
    unknown = replace(samples["L1_Geometry_Size_0002"], extra={**samples["L1_Geometry_Size_0002"].extra})
    unknown.extra["metricfunc"] = "somethingelse"
    assert OFFICIAL.score(unknown, "2.0") == 0.0  # "No metric function found": 0


# --- paper: SpatialClaw spatial_agent/evals/spatialtree.py -----------------------------------------------------


@pytest.mark.parametrize(
    ("prediction", "expected"),
    [
        ("B", 1.0),  # one-letter first token
        ("b", 1.0),  # uppercased
        ("(B)", 1.0),
        ("B.", 1.0),
        (" B", 1.0),
        ("\\boxed{B}", 1.0),
        ("B)", 0.0),  # first token "B)" is not a letter: the whole text is compared
        ("1.2 m", 0.0),  # option text is not mapped back
        ("e.g. B", 0.0),  # "e." matches X. (any case) first: E
        ("", 0.0),
        (None, 0.0),
    ],
)
def test_paper_multiple_choice(samples: dict[str, Sample], prediction: str | None, expected: float) -> None:
    s = samples["L1_Geometry_Distance_0001"]
    assert PAPER.score(s, prediction) == expected


@pytest.mark.parametrize(
    ("answer", "prediction", "expected"),
    [
        ("2.0", "2.24", 0.8),
        ("4", "four", 1.0),  # number words are read
        ("1200", "1,200", 0.0),  # the first number is "1"
        ("-3", "-3", 0.0),  # unsigned: 3 against -3, |6| / |-3| = 2
        ("-3", "100", 0.0),  # |gt| in the denominator
        ("0", "0", 0.0),  # zero ground truth scores 0
        ("4.0", "2.5m", 0.3),
        ("2.0", "", 0.0),
        ("2.0", None, 0.0),
    ],
)
def test_paper_numeric(samples: dict[str, Sample], answer: str, prediction: str | None, expected: float) -> None:
    s = replace(samples["L1_Geometry_Size_0002"], answer=answer)
    assert PAPER.score(s, prediction) == pytest.approx(expected)


def test_paper_number_word_order() -> None:
    # words are tried in the order one, two, ..., ten, zero: "two" is found before "one" although it comes later
    assert paper_number("one or two") == "1"
    assert paper_number("ten or two") == "2"
    assert paper_mc_letter("C: behind") == "C"


def test_paper_judge_and_fallback(samples: dict[str, Sample]) -> None:
    judge = samples["L2_Underst._RelationUnderstanding_0004"]
    assert PAPER.score(judge, "Yes") == 1.0
    assert PAPER.score(judge, "I don't know") == 0.0
    assert PAPER.score(judge, "") == 0.0  # neither word: the text itself ("") is compared with "yes"
    puzzle = samples["L3_Caus.Reas._GeometryPuzzles_0008"]  # open + multichoiceeval: numeric, else exact text
    assert PAPER.score(puzzle, "12 cubes") == 1.0
    zero = replace(puzzle, answer="0")
    assert PAPER.score(zero, "0") == 1.0  # zero ground truth: exact text match in the fallback
    assert PAPER.score(zero, "zero") == 0.0  # "zero" -> "0" parses, but the fallback text "zero" != "0"


def test_paper_unscored(samples: dict[str, Sample]) -> None:
    for sid in (
        "L1_Orientation_Gravity_0003",
        "L2_Underst._MotionUnderstanding_0005",
        "L2_Memory_CognitiveMap_0006",
        "L2_Underst._Affordance_0007",
        "L4_Goal-DrivenExecution_AgenticNavigation_0009",
        "L4_Goal-DrivenExecution_RoboticArm_0010",
    ):
        assert PAPER.score(samples[sid], "A") is None


# --- aggregation -------------------------------------------------------------------------------------------------


def _scored(leaf: str, score: float | None, level: str = "L1", ability: str = "X") -> Scored:
    s = Sample(
        "spatialtree",
        f"{leaf}-{score}",
        "q",
        [{"kind": "images", "path": "/x.jpg"}],
        "A",
        extra={"leaf": leaf, "metricfunc": "m", "spatree": {"spatree0": level, "spatree1": ability, "spatree2": leaf}},
    )
    return Scored(s, "", score)


def test_official_tree_aggregate() -> None:
    items = [
        _scored("Distance", 1.0),
        _scored("Distance", 0.0),
        _scored("Size", 1.0),
        _scored("Gravity", 0.5),
        _scored("CognitiveMap", None, "L2"),  # all its rows unscored: left out of Memory
        _scored("MemoryRetrieval", 1.0, "L2"),
    ]
    agg = OFFICIAL.aggregate(items)
    # Geometry = (.65 * .5 + .1 * 0 + .25 * 1) / 1 = .575; Orientation = (.4 * .5 + .6 * 0) / 1 = .2
    # L1 = .5 * .575 + .2 * 0 + .05 * 0 + .1 * .2 + .15 * 0 = .3075
    # Memory = .3 * 1 / .3 = 1 (Cognitive Map left out); Underst. = 0 (no rows); L2 = (1 + 0) / 2 = .5
    # overall = .25 * (.3075 + .5 + 0 + 0) = .201875
    assert agg.per_task["L1/Geometry"] == pytest.approx(0.575)
    assert agg.per_task["L1/Orientation"] == pytest.approx(0.2)
    assert agg.per_task["L1"] == pytest.approx(0.3075)
    assert agg.per_task["L2/Memory"] == pytest.approx(1.0)
    assert agg.per_task["L2"] == pytest.approx(0.5)
    assert agg.per_task["L3"] == 0.0
    assert "L2/Memory/Cognitive Map" not in agg.per_task
    assert agg.overall == pytest.approx(0.201875)
    assert agg.n == 6 and agg.scored == 5
    assert any("Cognitive Map" in n for n in agg.notes)
    assert any("count 0" in n for n in agg.notes)


def test_official_tree_all_unscored() -> None:
    agg = OFFICIAL.aggregate([_scored("MotionUnderstanding", None, "L2")])
    assert agg.overall is None and agg.scored == 0


def test_paper_aggregate() -> None:
    items = [
        _scored("Distance", 1.0, "L1", "Geometry"),
        _scored("Size", 0.5, "L1", "Geometry"),
        _scored("Route", 0.0, "L3", "Seq.Plan."),
        _scored("Gravity", None, "L1", "Orientation"),
    ]
    agg = PAPER.aggregate(items)
    assert agg.overall == pytest.approx(1.5 / 3)  # mean over the scored rows
    assert agg.per_task == {"L1": 0.75, "L1/Geometry": 0.75, "L3": 0.0, "L3/Seq.Plan.": 0.0}
    assert agg.scored == 3 and agg.n == 4


def test_cli_score(data_root: Path) -> None:
    preds = {
        "L1_Geometry_Distance_0001": "B",
        "L1_Geometry_Size_0002": 2.0,
        "L2_Underst._MotionUnderstanding_0005": "pans",
    }
    for scoring in ("official", "paper"):
        result = score_cli_json("spatialtree", data_root, preds, scoring)
        assert result["n"] == 3
        assert result["scored"] == 2
        if scoring == "official":
            # Geometry = .65 * 1 + .25 * 1 = .9 (Shape counts 0); L1 = .5 * .9 = .45; overall = .25 * .45
            assert result["per_task"]["L1/Geometry"] == pytest.approx(0.9)
            assert result["overall"] == pytest.approx(0.1125)
        else:
            assert result["per_task"] == {"L1": 1.0, "L1/Geometry": 1.0}
            assert result["overall"] == pytest.approx(1.0)
