"""Video-MME-v2: the loader on the replica (test/python/replicas/videommev2.py), both scorings and the grouped
non-linear aggregation.

Expected values come from reading the released code: MME-Benchmarks/Video-MME-v2 evaluation/test_video_mme_v2.py at
b24176a1 (``extract_characters_regex_v2``, ``cal_relevance``, ``cal_logic``, ``get_final_rating``, ``evaluate`` with
its TSV round trip) and SpatialClaw spatial_agent/evals/videommev2.py at b062f829.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from bench_testing import assert_missing_names_download, by_id, load, replica_root, score_cli_json
from replicas import videommev2 as replica
from spatial_common.contract import validate
from spatial_eval.benchmarks.videommev2 import BENCHMARKS, logic_score, official_letter, paper_letter, relevance_score
from spatial_eval.types import LoadContext, Sample, Scored

BENCH = BENCHMARKS[0]
OFFICIAL = BENCH.scorings["official"]
PAPER = BENCH.scorings["paper"]


@pytest.fixture(scope="module")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return replica_root(tmp_path_factory, "videommev2")


@pytest.fixture(scope="module")
def samples(data_root: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Sample]:
    return load(BENCH, data_root, tmp_path_factory.mktemp("cache"))


# --- loader -----------------------------------------------------------------------------------------------------


def test_loader_reads_groups_of_four(samples: list[Sample]) -> None:
    assert len(samples) == 16
    assert [s.source_id for s in samples[:5]] == ["001-1", "001-2", "001-3", "001-4", "002-1"]
    assert [(s.extra["group"], s.extra["position"]) for s in samples[3:6]] == [(0, 3), (1, 0), (1, 1)]
    assert BENCH.published_count == 3200 and BENCH.settings == {"video_max_fps": 1}


def test_group_metadata_comes_from_the_last_row(samples: list[Sample]) -> None:
    # level / second_head / third_head are only on question 4 of a group; every member carries them
    first, last = by_id(samples)["003-1"], by_id(samples)["003-4"]
    for s in (first, last):
        assert s.extra["group_type"] == "logic"
        assert s.extra["group_structure"] == "[1,[2,3],4]"
        assert s.extra["level"] == "3"
        assert (s.category, s.question_type) == ("Complex Reasoning", "Causal Inference")


def test_loader_fields(samples: list[Sample], data_root: Path) -> None:
    s = by_id(samples)["001-1"]
    assert s.id == "videommev2-001-1"
    assert s.question == "How many pillows are on the bed?"
    assert s.answer == "B"
    assert s.choices is not None and len(s.choices) == 8 and s.choices[0] == "A. Choice a1." and s.choices[7][0] == "H"
    assert s.instruction
    for x in samples:
        [inp] = x.inputs
        assert inp["kind"] == "video" and inp["max_fps"] == 1
        p = Path(inp["path"])
        assert (
            p.is_absolute() and p.is_file() and p == data_root / "videommev2" / "videos" / f"{x.extra['video_id']}.mp4"
        )
        assert x.media == [p]
        validate("SampleSpec", x.spec())


def test_video_in_a_subfolder_is_found(data_root: Path, tmp_path: Path) -> None:
    root = tmp_path / "videommev2"
    shutil.copytree(data_root / "videommev2", root)
    (root / "videos" / "031").mkdir()
    (root / "videos" / "004.mp4").rename(root / "videos" / "031" / "004.mp4")
    loaded = BENCH.load(root, LoadContext(cache_dir=tmp_path / "cache"))
    assert by_id(loaded.samples)["004-2"].inputs[0]["path"] == str(root / "videos" / "031" / "004.mp4")


def test_bad_rows_are_row_problems(data_root: Path, tmp_path: Path) -> None:
    root = tmp_path / "videommev2"
    shutil.copytree(data_root / "videommev2", root)
    rows = replica.official_rows()
    rows[5]["group_type"] = "other"
    rows[13]["group_structure"] = "[1,2]"  # a logic group with a structure cal_logic does not know
    rows[2]["answer"] = None
    pq.write_table(pa.Table.from_pylist(rows, schema=replica.SCHEMA), root / "test.parquet")
    loaded = BENCH.load(root, LoadContext(cache_dir=tmp_path / "cache"))
    assert len(loaded.samples) == 13
    assert [p.source_id for p in loaded.problems] == ["001-3", "002-2", "004-2"]
    assert "answer" in loaded.problems[0].message
    assert "group_type" in loaded.problems[1].message
    assert "group_structure" in loaded.problems[2].message


def test_numeric_level_column(data_root: Path, tmp_path: Path) -> None:
    # the published dtype of level is not known: an int or float column reads the same as "1".."3"
    root = tmp_path / "videommev2"
    shutil.copytree(data_root / "videommev2", root)
    rows = replica.official_rows()
    for r in rows:
        r["level"] = float(r["level"]) if r["level"] is not None else None
    schema = replica.SCHEMA.set(replica.SCHEMA.get_field_index("level"), pa.field("level", pa.float64()))
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), root / "test.parquet")
    loaded = BENCH.load(root, LoadContext(cache_dir=tmp_path / "cache"))
    assert [s.extra["level"] for s in loaded.samples[::4]] == ["1", "2", "3", "2"]


def test_missing_annotations_raise_dataset_missing(tmp_path: Path) -> None:
    assert_missing_names_download(
        BENCH, tmp_path, "MME-Benchmarks/Video-MME-v2", r"test\.parquet", lambda f: (f / "videos").mkdir()
    )


# --- group scores ---------------------------------------------------------------------------------------------------


def test_relevance_score() -> None:
    assert relevance_score([1, 1, 1, 1]) == (100.0, 100.0)
    assert relevance_score([1, 1, 1, 0]) == (56.25, 75.0)  # 100 * 9/16
    assert relevance_score([0, 1, 0, 0]) == (6.25, 25.0)  # 100 / 16
    assert relevance_score([1, 1, -1, 1]) == (25.0, 50.0)  # the -1 is summed: c = 2
    assert relevance_score([-1, -1, 0, 0]) == (0.0, -50.0)  # a sum outside 0..4 -> .get(..., 0.0)


def test_logic_score() -> None:
    assert logic_score([1, 1, 0, 1], "[1,2,3,4]") == 25.0  # a run of 2 from question 1
    assert logic_score([-1, 1, 1, 1], "[1, 2, 3, 4]") == 100.0  # -1 is truthy: the run is 4
    assert logic_score([0, 1, 1, 1], "[1,2,3,4]") == 0.0
    assert logic_score([1, 0, 1, 0], "[1,[2,3],4]") == pytest.approx(400 / 12)  # run 1, question 3 right -> 2
    assert logic_score([1, 0, 1, 1], "[1,[2,3],4]") == pytest.approx(400 / 12)  # the run stops at question 2
    assert logic_score([1, 1, 1, 0], "[1,[2,3],4]") == pytest.approx(700 / 12)
    assert logic_score([0, 1, 1, 1], "[1,[2,3],4]") == 0.0
    assert logic_score([0, 1, 0, 0], "[[1,2],3,4]") == 10.0  # run 0, question 2 right -> 1
    assert logic_score([0, 1, 1, 1], "[[1,2],3,4]") == 10.0  # still 1: the run itself is 0
    assert logic_score([1, 1, 1, 0], "[[1,2],3,4]") == 50.0
    assert logic_score([1, 1, 1, 1], "[[1,2],3,4]") == 100.0
    assert logic_score([1, 1, 1, 1], "[1,2]") is None
    assert logic_score([1, 1, 1, 1], "not a list") is None


# --- per-sample scores ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("qid", "prediction", "official", "paper"),
    [
        ("001-1", "B", 1.0, 1.0),
        ("001-1", "(B)", 1.0, 1.0),
        ("001-1", "B.", 1.0, 1.0),
        ("001-1", "B)", 1.0, 1.0),
        ("001-1", " B", 1.0, 1.0),
        ("001-1", "\\boxed{B}", 1.0, 1.0),
        ("001-1", "Final Answer: B", 1.0, 1.0),  # "Final Answer:" deleted
        ("001-1", "Best option: B", 1.0, 1.0),  # here "Best option:" is its own phrase (unlike Video-MME v1)
        ("001-1", "b", 0.0, 0.0),  # no capital A-H: -1 (0 per sample)
        ("001-1", "Choice b1.", 0.0, 0.0),  # option text: "C" of "Choice"
        ("001-1", "Each option fails except \\boxed{B}", 0.0, 1.0),  # official: "E"; paper: boxed first
        ("001-2", "NA", 0.0, 1.0),  # official: the TSV round trip reads "NA" as NaN -> "nan" -> no letter
        ("001-2", "N/A", 0.0, 1.0),  # same; the paper takes the A
        ("001-2", "NA ", 1.0, 1.0),  # not exactly a pandas NA spelling: A
        ("001-1", "four", 0.0, 0.0),
        ("001-1", "1,200", 0.0, 0.0),
        ("001-1", "2.5m", 0.0, 0.0),
        ("001-1", "", 0.0, 0.0),
        ("001-1", None, 0.0, 0.0),
    ],
)
def test_scores(samples: list[Sample], qid: str, prediction: str | None, official: float, paper: float) -> None:
    s = by_id(samples)[qid]
    assert OFFICIAL.score(s, prediction) == official
    assert PAPER.score(s, prediction) == paper


def test_letters() -> None:
    assert official_letter("He picked G") == "H"  # the first capital A-H, wherever it is
    assert paper_letter("He picked G") == "H"
    assert official_letter(None) == "" and paper_letter(None) == ""
    long_text = "the video does not show enough to decide between any of the listed options at all"
    assert official_letter(long_text) == "" and paper_letter(long_text) == ""


ODD = [None, "", " ", "\x00", "{}", "🙂" * 50, "\\boxed{}", "x" * 10000, "nan", "<NA>"]


@pytest.mark.parametrize("text", ODD)
def test_scores_never_raise(samples: list[Sample], text: str | None) -> None:
    for s in samples:
        assert OFFICIAL.score(s, text) in (0.0, 1.0)
        assert PAPER.score(s, text) in (0.0, 1.0)
    OFFICIAL.aggregate([Scored(s, text, OFFICIAL.score(s, text)) for s in samples])
    PAPER.aggregate([Scored(s, text, PAPER.score(s, text)) for s in samples])


# --- aggregation --------------------------------------------------------------------------------------------------

PREDICTIONS = {
    # relevance (B A C H): raw official [1, 1, -1, 1] -> c = 2 -> 25 (linear 50); paper [1, 1, 0, 1] -> 56.25 (75)
    "001-1": "B",
    "001-2": "A",
    "001-3": "b",
    "001-4": "H",
    # logic [1,2,3,4] (A D E G): official [1, -1, 1, 1] -> the -1 continues the run -> 4 -> 100; paper run 1 -> 6.25
    "002-1": "A",
    "002-2": "",
    "002-3": "E",
    "002-4": "G",
    # logic [1,[2,3],4] (B C F A): [1, 0, 1, 1] -> run 1, question 3 right -> 2 -> 400/12, both
    "003-1": "B",
    "003-2": "D",
    "003-3": "F",
    "003-4": "A",
    # logic [[1,2],3,4] (A B H D): [0, 1, 1, 0] -> run 0, question 2 right -> 1 -> 10, both
    "004-1": "C",
    "004-2": "B",
    "004-3": "H",
    "004-4": "A",
}


def _scored(scoring, samples: list[Sample]) -> list[Scored]:
    return [Scored(s, PREDICTIONS[s.source_id], scoring.score(s, PREDICTIONS[s.source_id])) for s in samples]


def test_official_aggregate(samples: list[Sample]) -> None:
    agg = OFFICIAL.aggregate(_scored(OFFICIAL, samples))
    assert (agg.n, agg.scored) == (16, 16)
    assert agg.overall == pytest.approx((25 + 100 + 400 / 12 + 10) / 4 / 100)
    assert agg.per_task == pytest.approx(
        {
            "relevance_score": 0.25,
            "relevance_linear_score": 0.5,
            "logic_score": (100 + 400 / 12 + 10) / 3 / 100,
            "level_1": 0.25,
            "level_2": (100 + 10) / 2 / 100,  # groups 002 and 004
            "level_3": 400 / 12 / 100,
            "second_head/Complex Reasoning": 400 / 12 / 100,
            "second_head/Temporal Understanding": 0.55,
            "second_head/Visual Aggregation": 0.25,
            "third_head/Action Order": 1.0,
            "third_head/Causal Inference": 400 / 12 / 100,
            "third_head/Object Counting": 0.25,
            "third_head/State Change": 0.1,
            "simple_accuracy": 11 / 14,  # the two -1 left out; 11 right of the 14 others
        }
    )
    assert any("kept as -1" in n for n in agg.notes)


def test_paper_aggregate(samples: list[Sample]) -> None:
    agg = PAPER.aggregate(_scored(PAPER, samples))
    assert agg.overall == pytest.approx((56.25 + 6.25 + 400 / 12 + 10) / 4 / 100)
    assert agg.per_task["relevance_score"] == pytest.approx(0.5625)
    assert agg.per_task["relevance_linear_score"] == pytest.approx(0.75)
    assert agg.per_task["logic_score"] == pytest.approx((6.25 + 400 / 12 + 10) / 3 / 100)
    assert agg.per_task["level_2"] == pytest.approx((6.25 + 10) / 2 / 100)
    assert agg.per_task["simple_accuracy"] == pytest.approx(11 / 14)
    assert any("counted as 0" in n for n in agg.notes)


def test_incomplete_group_is_left_out(samples: list[Sample]) -> None:
    items = [x for x in _scored(OFFICIAL, samples) if x.sample.source_id != "004-3"]
    agg = OFFICIAL.aggregate(items)
    assert agg.overall == pytest.approx((25 + 100 + 400 / 12) / 3 / 100)
    assert (agg.n, agg.scored) == (15, 12)
    assert any("1 groups without all 4" in n for n in agg.notes)
    only_one = OFFICIAL.aggregate(items[:3])  # no complete group at all
    assert only_one.overall is None and only_one.scored == 0


# --- CLI ----------------------------------------------------------------------------------------------------------


def test_cli_score(data_root: Path) -> None:
    expect = {
        "official": (25 + 100 + 400 / 12 + 10) / 400,
        "paper": (56.25 + 6.25 + 400 / 12 + 10) / 400,
    }
    for scoring, overall in expect.items():
        got = score_cli_json("videommev2", data_root, PREDICTIONS, scoring)
        assert got["n"] == 16
        assert got["overall"] == pytest.approx(overall)
        assert got["per_task"]["simple_accuracy"] == pytest.approx(11 / 14)
