"""Video-MME: the loader on the replica (test/python/replicas/videomme.py) and both scorings.

Expected values come from reading the released code: the Video-MME authors' eval_your_results.py
(thanku-all/parse_answer at afd52cfe; ``extract_characters_regex`` and the correct/answered tables) and SpatialClaw
spatial_agent/evals/videomme.py + base.py ``extract_answer`` at b062f829.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from bench_testing import assert_missing_names_download, by_id, load, replica_root, score_cli_json, scored
from replicas import videomme as replica
from spatial_common.contract import validate
from spatial_eval.benchmarks.videomme import BENCHMARKS, official_letter
from spatial_eval.extract import base_answer
from spatial_eval.types import LoadContext, Sample, Scored

BENCH = BENCHMARKS[0]
OFFICIAL = BENCH.scorings["official"]
PAPER = BENCH.scorings["paper"]


@pytest.fixture(scope="module")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return replica_root(tmp_path_factory, "videomme")


@pytest.fixture(scope="module")
def samples(data_root: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Sample]:
    return load(BENCH, data_root, tmp_path_factory.mktemp("cache"))


# --- loader -----------------------------------------------------------------------------------------------------


def test_loader_reads_the_parquet_in_order(samples: list[Sample]) -> None:
    assert [s.source_id for s in samples] == ["001-1", "001-2", "001-3", "002-1", "002-2", "002-3"]
    assert BENCH.published_count == 2700
    assert BENCH.settings == {"video_max_fps": 1}


def test_loader_fields(samples: list[Sample], data_root: Path) -> None:
    s = by_id(samples)["001-3"]
    assert s.id == "videomme-001-3"
    assert s.question == "Which object is on the bedside table?"
    assert s.choices == ["A. A lamp.", "B. A kettle.", "C. Candles.", "D. A laptop."]
    assert s.answer == "C"
    assert (s.question_type, s.category) == ("Object Recognition", "Life Record")
    assert s.extra["duration"] == "short" and s.extra["sub_category"] == "Daily Life"
    assert s.extra["videoID"] == "bdrm0000001"
    # the subtitle is recorded (not used, not media)
    assert s.extra["subtitle_path"] == str(data_root / "videomme" / "subtitle" / "bdrm0000001.srt")
    assert by_id(samples)["002-1"].extra["subtitle_path"] is None
    assert s.instruction


def test_inputs(samples: list[Sample], data_root: Path) -> None:
    for s in samples:
        [inp] = s.inputs
        assert inp["kind"] == "video" and inp["max_fps"] == 1
        p = Path(inp["path"])
        assert p.is_absolute() and p.is_file() and p.parent == data_root / "videomme" / "data"
        assert p.name == f"{s.extra['videoID']}.mp4"
        assert s.media == [p]
        validate("SampleSpec", s.spec())


def test_mkv_video_is_found(data_root: Path, tmp_path: Path) -> None:
    root = tmp_path / "videomme"
    shutil.copytree(data_root / "videomme", root)
    (root / "data" / "bdrm0000002.mp4").rename(root / "data" / "bdrm0000002.mkv")
    loaded = BENCH.load(root, LoadContext(cache_dir=tmp_path / "cache"))
    assert Path(by_id(loaded.samples)["002-1"].inputs[0]["path"]).name == "bdrm0000002.mkv"


def test_bad_row_is_a_row_problem(data_root: Path, tmp_path: Path) -> None:
    root = tmp_path / "videomme"
    shutil.copytree(data_root / "videomme", root)
    rows = replica.official_rows()
    rows[1]["answer"] = None
    rows[4]["options"] = []
    pq.write_table(pa.Table.from_pylist(rows, schema=replica.SCHEMA), root / "videomme" / "test-00000-of-00001.parquet")
    loaded = BENCH.load(root, LoadContext(cache_dir=tmp_path / "cache"))
    assert [s.source_id for s in loaded.samples] == ["001-1", "001-3", "002-1", "002-3"]
    assert [(p.source_id, "answer" in p.message or "options" in p.message) for p in loaded.problems] == [
        ("001-2", True),
        ("002-2", True),
    ]


def test_missing_annotations_raise_dataset_missing(tmp_path: Path) -> None:
    assert_missing_names_download(
        BENCH, tmp_path, "lmms-lab/Video-MME", r"videomme/test-00000-of-00001\.parquet", lambda f: (f / "data").mkdir()
    )


# --- official ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("qid", "prediction", "expected"),
    [
        ("001-1", "B", 1.0),
        ("001-1", "(B)", 1.0),  # the first capital A-D anywhere
        ("001-1", "B.", 1.0),
        ("001-1", "B)", 1.0),
        ("001-1", " B", 1.0),
        ("001-1", "\\boxed{B}", 1.0),  # "boxed" is lower case, so the first capital A-D is B
        ("001-1", "The answer is B", 1.0),  # "The answer is" deleted
        ("001-1", "Answer: B", 1.0),  # "Answer:" deleted
        ("001-1", "I think it is B", 1.0),  # "I" is not A-D
        ("001-1", "Definitely B", 0.0),  # quirk: the D of "Definitely" comes first
        ("001-1", "b", None),  # no capital A-D: not answered, left out of the denominator
        ("001-1", "four", None),
        ("001-1", "1,200", None),
        ("001-1", "2.5m", None),
        ("001-1", "", None),
        ("001-1", None, None),
        ("001-1", "it is not possible to tell from the video which one of these it would be", None),
        ("001-3", "Candles.", 1.0),  # quirk: the option text starts with the right capital letter C
        ("001-3", "A lamp.", 0.0),  # and this one with A
        # "Best answer:" "Best option:" are one fused string in the released list, so "Best option:" alone stays
        # and its B is taken: wrong for C
        ("001-3", "Best option: C", 0.0),
        ("001-3", "The correct option is C", 1.0),  # "The correct option" is in the list (added in afd52cfe)
    ],
)
def test_official_score(samples: list[Sample], qid: str, prediction: str | None, expected: float | None) -> None:
    assert OFFICIAL.score(by_id(samples)[qid], prediction) == expected


def test_official_letter_phrase_list() -> None:
    assert official_letter("The best option isThe correct option is D") == "D"  # the fused phrase, whole
    assert official_letter("Best answer:Best option: C") == "C"
    assert official_letter("Correct: C") == "C"


# --- paper ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("qid", "prediction", "expected"),
    [
        ("001-1", "B", 1.0),  # the only letter
        ("001-1", "(B)", 1.0),  # "(B" then ")"
        ("001-1", "B.", 1.0),
        ("001-1", "B)", 1.0),
        ("001-1", " B", 1.0),
        ("001-1", "\\boxed{B}", 1.0),
        ("001-1", "b", 1.0),  # upper-cased
        ("001-1", "The answer is B.", 1.0),  # the first letter followed by "." is B
        ("001-1", "Answer: B", 0.0),  # quirk: "r:" is the first letter followed by ":" -> "R"
        ("001-1", "I think it is B", 0.0),  # no ".:)", several letters: the whole text is compared
        ("001-1", "four", 0.0),
        ("001-1", "1,200", 0.0),
        ("001-1", "2.5m", 0.0),  # the only letter "m"
        ("001-1", "", 0.0),
        ("001-1", None, 0.0),
        ("001-3", "Candles.", 0.0),  # "s." -> "S"
    ],
)
def test_paper_score(samples: list[Sample], qid: str, prediction: str | None, expected: float) -> None:
    assert PAPER.score(by_id(samples)[qid], prediction) == expected


def test_paper_answer() -> None:
    assert base_answer("Option (c): lamp") == "C"
    assert base_answer("  maybe B or C  ") == "maybe B or C"
    assert base_answer("\\boxed{d}") == "D"


ODD = [None, "", " ", "\x00", "{}", "🙂" * 50, "\\boxed{}", "x" * 10000, "A" * 5000]


@pytest.mark.parametrize("text", ODD)
def test_scores_never_raise(samples: list[Sample], text: str | None) -> None:
    for s in samples:
        assert OFFICIAL.score(s, text) in (0.0, 1.0, None)
        assert PAPER.score(s, text) in (0.0, 1.0)


# --- aggregation --------------------------------------------------------------------------------------------------

PREDICTIONS = {
    "001-1": "B",  # right (both)
    "001-2": "b",  # official: not answered; paper: "B" != "A"
    "001-3": "Candles.",  # official: C, right; paper: "S", wrong
    "002-1": "A",  # wrong (D)
    "002-2": "B",  # right
    "002-3": "",  # official: not answered; paper: wrong
}


def test_official_aggregate(samples: list[Sample]) -> None:
    agg = OFFICIAL.aggregate(scored(OFFICIAL, samples, PREDICTIONS))
    assert (agg.n, agg.scored) == (6, 4)
    assert agg.overall == pytest.approx(3 / 4)  # 3 right of 4 answered
    assert agg.per_task == pytest.approx(
        {
            "Action Reasoning": 0.0,
            "Counting Problem": 1.0,
            "Object Recognition": 1.0,
            "Temporal Reasoning": 1.0,
            "duration/short": 1.0,  # 001-1 and 001-3 answered, both right
            "duration/medium": 0.5,  # 002-1 wrong, 002-2 right
            "domain/Knowledge": 0.5,
            "domain/Life Record": 1.0,
            "sub_category/Daily Life": 1.0,
            "sub_category/Technology": 0.5,
        }
    )
    assert "Spatial Perception" not in agg.per_task  # its only question was not answered
    assert agg.notes and agg.notes[0].startswith("2 responses")


def test_paper_aggregate(samples: list[Sample]) -> None:
    agg = PAPER.aggregate(scored(PAPER, samples, PREDICTIONS))
    assert (agg.n, agg.scored) == (6, 6)
    assert agg.overall == pytest.approx(2 / 6)  # 001-1 and 002-2
    assert agg.per_task == pytest.approx(
        {
            "Action Reasoning": 0.0,
            "Counting Problem": 1.0,
            "Object Recognition": 0.0,
            "Spatial Perception": 0.0,
            "Spatial Reasoning": 0.0,
            "Temporal Reasoning": 1.0,
            "duration/short": 1 / 3,
            "duration/medium": 1 / 3,
            "domain/Knowledge": 1 / 3,
            "domain/Life Record": 1 / 3,
        }
    )


def test_nothing_answered_is_none(samples: list[Sample]) -> None:
    agg = OFFICIAL.aggregate([Scored(s, "", OFFICIAL.score(s, "")) for s in samples])
    assert agg.overall is None and agg.scored == 0


# --- CLI ----------------------------------------------------------------------------------------------------------


def test_cli_score(data_root: Path) -> None:
    expect = {"official": 3 / 4, "paper": 2 / 6}
    for scoring, overall in expect.items():
        got = score_cli_json("videomme", data_root, PREDICTIONS, scoring)
        assert got["n"] == 6
        assert got["overall"] == pytest.approx(overall)
