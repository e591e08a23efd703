"""CVBench (cross-video): the loader against the replica, and both scorings against hand-made replies.

Expected values come from reading Hokhim2/CVBench ``lmms-eval/lmms_eval/tasks/mvr/utils.py`` (f8dc8f75) for
``official`` and SpatialClaw ``spatial_agent/evals/cvbench.py`` (b062f829) for ``paper``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from bench_testing import assert_missing_names_download, loaded_by_id, replica_root, score_cli_json
from replicas import cvbench as replica
from spatial_common.contract import validate
from spatial_eval.benchmarks import cvbench as bench_mod
from spatial_eval.cli import load_benchmark
from spatial_eval.registry import get
from spatial_eval.types import Sample, Scored

BENCH = get("cvbench")
OFFICIAL = BENCH.scorings["official"]
PAPER = BENCH.scorings["paper"]
IDS = ["0", "1", "3", "4", "20", "223", "996"]


@pytest.fixture(scope="module")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return replica_root(tmp_path_factory, "cvbench")


@pytest.fixture(scope="module")
def samples(data_root: Path) -> dict[str, Sample]:
    return loaded_by_id(BENCH, data_root)


def _row(rid: int) -> dict:
    return next(r for r in replica.ROWS if r["id"] == rid)


def _sample(rid: int) -> Sample:
    return bench_mod._sample(_row(rid), Path("/data/cvbench/videos"))


# -- loader ---------------------------------------------------------------------------------------------------------


def test_loads_every_row_in_published_order(data_root: Path) -> None:
    loaded = load_benchmark(BENCH, data_root)
    assert [s.source_id for s in loaded.samples] == IDS
    assert loaded.samples[0].id == "cvbench-0"
    assert BENCH.published_count == 1000
    assert BENCH.settings == {"num_key_frames": 32, "video_max_fps": 1}


def test_fields(samples: dict[str, Sample]) -> None:
    s = samples["1"]
    assert s.question.startswith("Which colour is most common")
    assert s.choices == ["A. Yellow.", "B. Gold.", "C. Brown.", "D. Purple."]
    assert s.answer == "A"
    assert s.question_type == "Multi-video Attribute Recognition"
    assert s.category == "Object Association"
    assert s.extra["letter_choices"] == {"A": "Yellow.", "B": "Gold.", "C": "Brown.", "D": "Purple."}
    assert s.instruction == bench_mod.INSTRUCTION_MC
    yn = samples["0"]
    assert yn.extra["is_yesno"] and yn.answer == "No" and yn.choices == ["Yes.", "No."]
    assert yn.instruction == bench_mod.INSTRUCTION_YESNO
    assert samples["20"].answer == "Yes"
    # "A. Yes." / "B. No." is a letter question (SpatialClaw's yes/no test fails on the "A. " prefix)
    assert not samples["223"].extra["is_yesno"]
    assert samples["223"].extra["letter_choices"] == {"A": "Yes.", "B": "No."}
    assert samples["996"].choices and len(samples["996"].choices) == 1
    assert samples["3"].category == "Event Association"
    assert samples["996"].category == "Complex Reasoning"


def test_one_video_input_per_clip(samples: dict[str, Sample], data_root: Path) -> None:
    assert [len(samples[i].inputs) for i in IDS] == [2, 2, 4, 3, 4, 4, 2]
    s = samples["3"]
    assert [i["kind"] for i in s.inputs] == ["video"] * 4
    videos = (data_root / "cvbench" / "videos").resolve()
    names = ("5DHFEzdgtxE.mp4", "7J3X3cbpFAI.mp4", "9aF1qmty6AU.mp4", "N9PVw7G32F4.mp4")
    assert [Path(i["path"]) for i in s.inputs] == [videos / "1" / n for n in names]
    for s in samples.values():
        for spec in s.inputs:
            p = Path(spec["path"])
            assert p.is_absolute() and p.is_file()
        assert s.media == [Path(i["path"]) for i in s.inputs]
        validate("SampleSpec", s.spec())


def test_videos_under_a_cvbench_folder(tmp_path: Path) -> None:
    replica.write(tmp_path)
    root = tmp_path / "cvbench"
    shutil.move(root / "videos", root / "CVBench")
    s = load_benchmark(BENCH, tmp_path).samples[0]
    assert Path(s.inputs[0]["path"]) == (root / "CVBench" / "0" / "0Hd95ulYOT8.mp4").resolve()
    assert Path(s.inputs[0]["path"]).is_file()


def test_bad_row_is_a_row_problem(tmp_path: Path) -> None:
    replica.write(tmp_path)
    path = tmp_path / "cvbench" / "data" / "test-00000-of-00001.parquet"
    rows = pq.read_table(path).to_pylist()
    rows[1]["answer"] = None
    for k in ("video_1", "video_2"):
        rows[2][k] = None
    rows[2]["video_3"] = rows[2]["video_4"] = None
    rows.append(dict(rows[0]))
    replica.write_parquet(path, rows)
    loaded = load_benchmark(BENCH, tmp_path)
    assert [s.source_id for s in loaded.samples] == ["0", "4", "20", "223", "996"]
    assert [p.source_id for p in loaded.problems] == ["1", "3", "0"]
    assert "answer" in loaded.problems[0].message
    assert "video" in loaded.problems[1].message
    assert "duplicate" in loaded.problems[2].message


def test_missing_folder_or_parquet_names_the_download(tmp_path: Path) -> None:
    assert_missing_names_download(BENCH, tmp_path, "Dongyh35/CVBench", "test-00000-of-00001.parquet")


# -- official scoring (mvr) -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("B", 1.0),
        ("B.", 1.0),
        ("(B)", 1.0),  # the first A-D anywhere
        ("B)", 1.0),
        (" B", 1.0),
        ("b", 1.0),  # (?i) and upper-cased
        ("The answer is B", 1.0),  # the phrase is deleted first
        ("The best answer is B.", 1.0),
        ("\\boxed{B}", 1.0),  # reads the "b" of "boxed": right here by luck
        ("Answer: B", 0.0),  # reads the "A" of "Answer"
        ("Gold.", 0.0),  # a colour word: the "d" of "Gold" reads D
        ("", 0.0),
        ("   ", 0.0),
        (None, 0.0),
        ("no idea", 0.0),  # "NO" comes first (the "d" of "idea" comes later)
    ],
)
def test_official_letter_question(reply: str | None, expected: float) -> None:
    assert OFFICIAL.score(_sample(4), reply) == expected  # answer B


def test_official_quirks() -> None:
    s = _sample(996)  # answer D
    assert OFFICIAL.score(s, "\\boxed{D}") == 0.0  # "b" of "boxed" is found before the D
    assert OFFICIAL.score(s, "D") == 1.0
    # a short lowercase reply is searched case-insensitively: the "d" of "third" reads D
    assert OFFICIAL.score(s, "the third one") == 1.0
    # more than 10 words and none of the capitals A B C D Y E S N O: blank, before any search
    assert OFFICIAL.score(s, "it is the third one for sure in my humble view here ok") == 0.0
    assert bench_mod.official_extract("Answer: C") == "A"
    assert bench_mod.official_extract("Yes, it is C") == "YES"


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("No", 1.0),
        ("No.", 1.0),
        ("no", 1.0),
        ("NO", 1.0),
        ("Nope", 1.0),  # "No" inside the word
        ("Not sure", 1.0),  # ... likewise
        ("Yes", 0.0),
        ("Definitely no", 0.0),  # the "D" of "Definitely" comes first
        ("I don't know", 0.0),  # the "d" of "don't"
        ("B", 0.0),
        ("", 0.0),
        (None, 0.0),
    ],
)
def test_official_yes_no(reply: str | None, expected: float) -> None:
    assert OFFICIAL.score(_sample(0), reply) == expected  # answer No


def test_official_yes_and_lettered_yes_no() -> None:
    assert OFFICIAL.score(_sample(20), "yes, all of them") == 1.0
    assert OFFICIAL.score(_sample(20), "Absolutely yes") == 0.0  # "A" first
    # id 223 ("A. Yes." / "B. No.", answer B): replying the word reads "NO", not the letter
    assert OFFICIAL.score(_sample(223), "No") == 0.0
    assert OFFICIAL.score(_sample(223), "B") == 1.0


# -- paper scoring ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("B", 1.0),  # a leading letter
        ("B.", 1.0),
        ("(B)", 1.0),
        ("B)", 1.0),  # a leading letter (\b before ")")
        (" B", 1.0),
        ("b", 1.0),
        ("\\boxed{B}", 1.0),
        ("<answer>B</answer>", 1.0),
        ("The answer is B.", 1.0),  # "B." anywhere
        ("The answer is B", 0.0),  # no pattern; the a-d letters are "a" and "B": two, so no single letter
        ("Answer: B", 0.0),  # the a-d letters are "A" and "B"
        ("3 phases", 0.0),  # option text of B, but its only a-d letter "a" reads A before the text match
        ("", 0.0),
        (None, 0.0),
        ("   ", 0.0),
    ],
)
def test_paper_letter_question(reply: str | None, expected: float) -> None:
    assert PAPER.score(_sample(4), reply) == expected  # answer B, options "A. 2 phases." ...


def test_paper_option_text() -> None:
    s = _sample(1)  # answer A, "A. Yellow."
    assert PAPER.score(s, "Yellow") == 1.0  # no a-d letter, then the option text (dots ignored)
    assert PAPER.score(s, "yellow.") == 1.0
    assert bench_mod.paper_letter("Gold", s.extra["letter_choices"]) == "D"  # option B; its only a-d letter is "d"
    assert bench_mod.paper_letter("Brown", s.extra["letter_choices"]) == "B"  # option C


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("No", 1.0),
        ("no.", 1.0),
        ("Definitely no", 1.0),  # a whole word anywhere
        ("<answer>No</answer> yes", 1.0),  # the tagged block wins
        ("Nope", 0.0),  # not a whole word
        ("Not sure", 0.0),
        ("Yes", 0.0),
        ("B", 0.0),
        ("", 0.0),
        (None, 0.0),
    ],
)
def test_paper_yes_no(reply: str | None, expected: float) -> None:
    assert PAPER.score(_sample(0), reply) == expected  # answer No


def test_paper_lettered_yes_no_and_one_string_options() -> None:
    assert PAPER.score(_sample(223), "No") == 1.0  # option text "No." of letter B
    assert PAPER.score(_sample(996), "\\boxed{D}") == 1.0
    assert PAPER.score(_sample(996), "Make the wings broader and flatter") == 0.0  # not an option's whole text


def test_scores_none_without_ground_truth() -> None:
    s = _sample(1)
    s.answer = None
    assert OFFICIAL.score(s, "A") is None and PAPER.score(s, "A") is None


# -- aggregation ------------------------------------------------------------------------------------------------------


def _item(qtype: str, v: float | None) -> Scored:
    s = _sample(1)
    s.question_type = qtype
    return Scored(s, None, v)


def test_aggregate_is_correct_over_total() -> None:
    items = [
        _item("Joint-video Counting", 0.0),
        _item("Cross-video Scene Recognition", 1.0),
        _item("Cross-video Scene Recognition", 0.0),
        _item("Multi-video Attribute Recognition", 1.0),
        _item("Multi-video Attribute Recognition", None),
    ]
    for scoring in (OFFICIAL, PAPER):
        agg = scoring.aggregate(items)
        assert agg.overall == pytest.approx(2 / 4)  # the unscored one is left out, not counted as 0
        assert agg.per_task == {
            "Cross-video Scene Recognition": 0.5,
            "Multi-video Attribute Recognition": 1.0,
            "Joint-video Counting": 0.0,
        }
        assert list(agg.per_task) == [  # the released order of the 15 task types
            "Cross-video Scene Recognition",
            "Multi-video Attribute Recognition",
            "Joint-video Counting",
        ]
        assert (agg.n, agg.scored) == (5, 4)
        assert any("absent" in n for n in agg.notes)
    assert OFFICIAL.aggregate([]).overall is None


def test_score_cli(data_root: Path) -> None:
    replies = {
        "0": "Not sure",  # answer No: official reads NO (1); paper finds no whole yes/no word (0)
        "1": "Yellow",  # answer A: official finds no A-D/YES/NO (0); paper matches the option text (1)
        "3": "D",  # both 1
        "4": "Answer: B",  # official reads A (0); paper sees two a-d letters (0)
        "20": "yes",  # both 1
        "223": "No",  # answer B: official NO != B (0); paper option text "No." -> B (1)
        "996": "\\boxed{D}",  # official reads the "b" of boxed (0); paper 1
    }
    off, pap = (score_cli_json("cvbench", data_root, replies, scoring) for scoring in ("official", "paper"))
    assert off["n"] == 7
    assert off["overall"] == pytest.approx(3 / 7)
    assert pap["overall"] == pytest.approx(5 / 7)
    assert off["per_task"]["Cross-video Scene Recognition"] == pytest.approx(2 / 3)  # ids 0, 20, 223: 1, 1, 0
    assert pap["per_task"]["Cross-video Scene Recognition"] == pytest.approx(2 / 3)  # 0, 1, 1
    assert off["per_task"]["Cross-video Procedural Transfer"] == 0.0
    assert pap["per_task"]["Cross-video Procedural Transfer"] == 1.0
