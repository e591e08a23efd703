"""PerceptionComp: the loader against the replica, and both scorings against hand-made replies.

Expected values come from reading hrinnnn/PerceptionComp ``evaluate/tools/runners/api_evaluate.py`` (bf4146fe) for
``official`` and SpatialClaw ``spatial_agent/evals/perceptioncomp.py`` (b062f829) for ``paper``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from bench_testing import assert_missing_names_download, loaded_by_id, replica_root, score_cli_json
from replicas import perceptioncomp as replica
from spatial_common.contract import validate
from spatial_eval.benchmarks import perceptioncomp as bench_mod
from spatial_eval.cli import load_benchmark
from spatial_eval.registry import get
from spatial_eval.types import Sample, Scored

BENCH = get("perceptioncomp")
OFFICIAL = BENCH.scorings["official"]
PAPER = BENCH.scorings["paper"]
KEYS = ["1", "8", "174", "242", "311", "374", "382", "1001", "1084"]


@pytest.fixture(scope="module")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return replica_root(tmp_path_factory, "perceptioncomp")


@pytest.fixture(scope="module")
def samples(data_root: Path) -> dict[str, Sample]:
    return loaded_by_id(BENCH, data_root)


def _sample(key: str) -> Sample:
    item = next(r for r in replica.ROWS if r["key"] == key)
    return bench_mod._sample(Path("/data/perceptioncomp"), item, {})


# -- loader ---------------------------------------------------------------------------------------------------------


def test_loads_every_row_in_published_order(data_root: Path) -> None:
    loaded = load_benchmark(BENCH, data_root)
    assert [s.source_id for s in loaded.samples] == KEYS
    assert loaded.samples[0].id == "perceptioncomp-1"
    assert BENCH.published_count == 1114
    assert BENCH.settings == {"video_max_fps": 1}


def test_fields(samples: dict[str, Sample]) -> None:
    s = samples["1"]
    assert s.answer == "B"  # answer_id 1
    assert s.choices == [
        "A. Straight ahead",
        "B. On the right",
        "C. On the left",
        "D. Behind him",
        "E. Behind on the left",
    ]
    assert s.question_type == "outdoor tour" and s.category is None
    assert s.extra["difficulty"] == 1 and s.extra["video_id"] == "Tokyo_6-8"
    assert s.instruction == bench_mod.INSTRUCTION
    assert samples["1001"].answer == "E"
    assert samples["311"].extra["difficulty"] == 3
    # key 382: the sixth option is not shown (both released evaluators stop at answer_choice_4)
    s382 = samples["382"]
    assert len(s382.choices or []) == 5 and s382.answer == "D"
    assert s382.extra["unshown_choices"] == {"answer_choice_5": "1"}
    # key 8: the published answer text disagrees with its option; the answer id decides
    assert samples["8"].answer == "D" and samples["8"].extra["answer_text"] == "6"
    assert {s.question_type for s in samples.values()} == set(bench_mod.CATEGORIES)


def test_inputs(samples: dict[str, Sample], data_root: Path) -> None:
    s = samples["1"]
    assert s.inputs == [
        {"kind": "video", "path": str((data_root / "perceptioncomp" / "data" / "Tokyo_6-8.mp4").resolve())}
    ]
    for s in samples.values():
        assert len(s.inputs) == 1
        p = Path(s.inputs[0]["path"])
        assert p.is_absolute() and p.is_file()
        assert s.media == [p]
        validate("SampleSpec", s.spec())


def test_video_in_a_sub_folder_is_found(tmp_path: Path) -> None:
    replica.write(tmp_path)
    data = tmp_path / "perceptioncomp" / "data"
    (data / "sport").mkdir()
    shutil.move(data / "Basketball1.mp4", data / "sport" / "Basketball1.mp4")
    s = next(s for s in load_benchmark(BENCH, tmp_path).samples if s.source_id == "382")
    assert Path(s.inputs[0]["path"]) == (data / "sport" / "Basketball1.mp4").resolve()


def test_missing_video_is_reported_at_its_expected_place(tmp_path: Path) -> None:
    replica.write(tmp_path)
    (tmp_path / "perceptioncomp" / "data" / "movie1.mp4").unlink()
    s = next(s for s in load_benchmark(BENCH, tmp_path).samples if s.source_id == "1001")
    assert s.media == [(tmp_path / "perceptioncomp" / "data" / "movie1.mp4").resolve()]
    assert not s.media[0].exists()


def test_bad_row_is_a_row_problem(tmp_path: Path) -> None:
    replica.write(tmp_path)
    path = tmp_path / "perceptioncomp" / "questions.json"
    rows = json.loads(path.read_text())
    rows[1]["answer_id"] = 7
    del rows[2]["video_id"]
    rows.append(dict(rows[0]))
    path.write_text(json.dumps(rows))
    loaded = load_benchmark(BENCH, tmp_path)
    assert [s.source_id for s in loaded.samples] == ["1", "242", "311", "374", "382", "1001", "1084"]
    assert [p.source_id for p in loaded.problems] == ["8", "174", "1"]
    assert "answer_id" in loaded.problems[0].message
    assert "video_id" in loaded.problems[1].message
    assert "duplicate" in loaded.problems[2].message


def test_missing_folder_or_annotations_names_the_download(tmp_path: Path) -> None:
    assert_missing_names_download(BENCH, tmp_path, "hrinnnn/PerceptionComp", "questions.json")


# -- official scoring -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("B", 1.0),
        ("B.", 1.0),
        ("(B)", 1.0),
        ("B)", 1.0),
        (" B", 1.0),
        ("b", 1.0),  # no capital found, so the whole reply is the choice; upper-cased it reads B
        ("\\boxed{B}", 1.0),  # a stand-alone capital B
        ("<answer>B</answer>", 1.0),
        ("<answer>b</answer>", 1.0),
        ("<answer>The answer is B</answer>", 1.0),  # the tag's text, upper-cased, last stand-alone letter
        ("Answer: B", 1.0),
        ("answer: b", 1.0),  # the Answer pattern ignores case
        ("The answer is B", 1.0),  # not "Answer X"; the last capital A-E is B
        ("B is wrong, the answer is C", 0.0),  # the last capital wins: C
        ("I think it is A or B", 1.0),  # ... B here
        ("B is the answer, not a", 1.0),  # lowercase "a" is not looked at while a capital exists
        ("On the right", 0.0),  # option text: no letter
        ("<answer></answer> B", 0.0),  # an empty tag is still the choice: nothing in it
        ("E", 0.0),
        ("", 0.0),
        ("   ", 0.0),
        (None, 0.0),
    ],
)
def test_official_extraction(reply: str | None, expected: float) -> None:
    assert OFFICIAL.score(_sample("1"), reply) == expected  # answer B


def test_official_pieces() -> None:
    assert bench_mod.official_extract("a cat is here") == "A"  # upper-cased fallback finds the word "a"
    assert bench_mod.official_extract("Answer: Both B and C") == "C"  # "Both" is not a letter; last capital
    assert bench_mod.official_extract("nothing") == "WRONG"


# -- paper scoring ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("B", 1.0),
        ("b", 1.0),
        ("B.", 1.0),
        ("(B)", 1.0),
        ("\\boxed{B}", 1.0),
        ("<answer>B</answer>", 1.0),
        ("Answer: B", 1.0),
        ("The answer is B", 1.0),  # last stand-alone letter
        ("<answer>The answer is B</answer>", 1.0),
        ("<answer></answer> B", 1.0),  # the tag pattern needs a letter inside; the last letter is B
        ("B is the answer, not a", 0.0),  # the last stand-alone letter, any case: "a"
        ("B is wrong, the answer is C", 0.0),
        ("On the right", 0.0),
        ("", 0.0),
        (None, 0.0),
        ("   ", 0.0),
    ],
)
def test_paper_extraction(reply: str | None, expected: float) -> None:
    assert PAPER.score(_sample("1"), reply) == expected  # answer B


def test_scores_none_without_ground_truth() -> None:
    s = _sample("1")
    s.answer = None
    assert OFFICIAL.score(s, "B") is None and PAPER.score(s, "B") is None


# -- aggregation ------------------------------------------------------------------------------------------------------


def _item(key: str, v: float | None) -> Scored:
    return Scored(_sample(key), None, v)


def test_aggregate_is_correct_over_total() -> None:
    # outdoor tour (keys 1, 8; difficulty 1): 1, 0; sport (242, difficulty 2): 1; game (1084, difficulty 1): 0
    items = [_item("1", 1.0), _item("8", 0.0), _item("242", 1.0), _item("1084", 0.0), _item("311", None)]
    off = OFFICIAL.aggregate(items)
    assert off.overall == pytest.approx(0.5)  # 2 of 4 scored; the unscored one is left out
    assert off.per_task == {"outdoor tour": 0.5, "sport": 1.0, "game": 0.0}
    assert list(off.per_task) == ["outdoor tour", "sport", "game"]
    assert (off.n, off.scored) == (5, 4)
    pap = PAPER.aggregate(items)
    assert pap.overall == pytest.approx(0.5)
    # difficulty 1: keys 1, 8, 1084 -> 1/3; difficulty 2: key 242 -> 1
    assert pap.per_task == {
        "outdoor tour": 0.5,
        "sport": 1.0,
        "game": 0.0,
        "difficulty 1": pytest.approx(1 / 3),
        "difficulty 2": 1.0,
    }
    assert OFFICIAL.aggregate([]).overall is None


def test_score_cli(data_root: Path) -> None:
    replies = {
        "1": "B",  # B: both 1
        "8": "D is the answer, not a",  # D: official reads the last capital D (1); paper the last letter "a" (0)
        "174": "<answer></answer> B",  # B: official reads the empty tag (0); paper 1
        "242": "On the left",  # C: option text, both 0
        "311": "answer: c",  # C: both 1
        "374": "",  # B: both 0
        "382": "D",  # D: both 1
        "1001": "E.",  # E: both 1
        "1084": "The answer is B",  # B: both 1
    }
    off, pap = (score_cli_json("perceptioncomp", data_root, replies, scoring) for scoring in ("official", "paper"))
    assert off["n"] == 9
    assert off["overall"] == pytest.approx(6 / 9)
    assert pap["overall"] == pytest.approx(6 / 9)
    assert off["per_task"]["outdoor tour"] == 1.0 and pap["per_task"]["outdoor tour"] == 0.5
    assert off["per_task"]["variety show"] == 0.0 and pap["per_task"]["variety show"] == 1.0
    assert pap["per_task"]["difficulty 3"] == 1.0 and "difficulty 3" not in off["per_task"]
