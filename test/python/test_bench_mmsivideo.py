"""MMSI-Video-Bench: the loader against the replica, and both scorings against hand-made replies.

Expected values come from reading InternRobotics/MMSI-Video-Bench ``evaluation.py`` (b8da92ce) for ``official`` and
SpatialClaw ``evals/mmsivideo.py`` + ``evals/base.py`` (b062f829) for ``paper``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from bench_testing import assert_missing_names_download, loaded_by_id, replica_root, score_cli_json
from replicas import mmsivideo as replica
from spatial_common.contract import validate
from spatial_eval.benchmarks import mmsivideo as bench_mod
from spatial_eval.cli import load_benchmark
from spatial_eval.registry import get
from spatial_eval.types import Sample, Scored

BENCH = get("mmsivideo")
OFFICIAL = BENCH.scorings["official"]
PAPER = BENCH.scorings["paper"]
IDS = ["question_0001", "question_0002", "question_0003", "question_0004", "question_0005"]


@pytest.fixture(scope="module")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return replica_root(tmp_path_factory, "mmsivideo")


@pytest.fixture(scope="module")
def samples(data_root: Path) -> dict[str, Sample]:
    return loaded_by_id(BENCH, data_root)


def _mc(answer: str = "B", qtype: str = "Planning") -> Sample:
    return Sample(
        "mmsivideo",
        "q",
        "Which?",
        [{"kind": "images", "path": "/x"}],
        answer,
        ["A. a", "B. b", "C. c", "D. d"],
        qtype,
    )


# -- loader ---------------------------------------------------------------------------------------------------------


def test_loads_every_row_in_published_order(data_root: Path) -> None:
    loaded = load_benchmark(BENCH, data_root)
    assert [s.source_id for s in loaded.samples] == IDS
    assert [s.id for s in loaded.samples] == [f"mmsivideo-{i}" for i in IDS]
    assert BENCH.published_count == 1106
    assert BENCH.settings == {"num_key_frames": 64}


def test_fields(samples: dict[str, Sample]) -> None:
    s = samples["question_0001"]
    assert s.answer == "B"
    assert s.question_type == "(Spatial Construction) Instance-Instance Spatial Relationship"
    assert s.category == "Spatial Construction"
    # bare-text options get their letter, as the original prompt gives them
    assert s.choices == ["A. Left", "B. Right", "C. Directly behind", "D. Cannot be seen"]
    assert "letter" in (s.instruction or "")
    # already-lettered options stay as published
    assert samples["question_0003"].choices == ["A: Left", "B: Right", "C: Up", "D: Down"]
    assert samples["question_0002"].category == "Cross-Video"
    assert samples["question_0004"].category == "Planning"
    assert samples["question_0005"].question_type == "Prediction"
    assert samples["question_0005"].answer == "E"
    assert samples["question_0005"].extra["prompts"]["system_prompt"] == replica.SYSTEM


def test_inputs_videos_then_reference_images(samples: dict[str, Sample]) -> None:
    s = samples["question_0002"]
    assert [i["kind"] for i in s.inputs] == ["images", "images", "images"]
    assert s.extra["num_videos"] == 2
    assert s.extra["video_inputs"] == [0, 1]
    assert s.extra["reference_inputs"] == [2]
    assert s.inputs[2]["path"].endswith("ref_images/question_0002/ref_0.jpg")
    # the single <image> tag names the reference image
    assert s.question == "After the second clip, where is the object shown in [reference image 1] now?"
    assert "Input 3 is reference image 1" in (s.instruction or "")
    s3 = samples["question_0003"]
    assert s3.extra["reference_inputs"] == [1, 2]
    assert s3.question == "The camera starts at [reference image 1] and ends at [reference image 2]. How did it turn?"


def test_input_paths_are_absolute_and_exist(samples: dict[str, Sample]) -> None:
    for s in samples.values():
        assert s.inputs
        for spec in s.inputs:
            p = Path(spec["path"])
            assert p.is_absolute() and p.exists(), spec
        for m in s.media:
            assert m.is_absolute() and m.is_file(), m
        validate("SampleSpec", s.spec())


def test_frames_folder_bound_when_it_holds_exactly_the_frames(samples: dict[str, Sample], data_root: Path) -> None:
    s = samples["question_0001"]
    assert Path(s.inputs[0]["path"]) == (data_root / "mmsivideo" / "frames" / "question_0001" / "video_1").resolve()
    assert len(s.media) == 4


def test_frames_linked_in_order_when_the_folder_holds_more(samples: dict[str, Sample]) -> None:
    s = samples["question_0003"]
    folder = Path(s.inputs[0]["path"])
    assert ".spatialclaw-cache" in folder.parts
    linked = sorted(folder.iterdir(), key=lambda p: bench_mod.natural_key(p.name))
    assert [p.resolve() for p in linked] == s.media[:3]
    # three videos sharing one folder: one link folder per video, two frames each
    s5 = samples["question_0005"]
    assert len(s5.inputs) == 3
    assert [len(list(Path(i["path"]).iterdir())) for i in s5.inputs] == [2, 2, 2]
    assert len({i["path"] for i in s5.inputs}) == 3


def test_bad_row_is_a_row_problem(tmp_path: Path) -> None:
    replica.write(tmp_path)
    path = tmp_path / "mmsivideo" / "mmsivideo.json"
    data = json.loads(path.read_text())
    data[1]["frames_list"] = "not a list"
    data[3]["ground_truth"] = ""
    data.append(dict(data[0]))  # a duplicate id
    path.write_text(json.dumps(data))
    loaded = load_benchmark(BENCH, tmp_path)
    assert [s.source_id for s in loaded.samples] == ["question_0001", "question_0003", "question_0005"]
    assert [p.source_id for p in loaded.problems] == ["question_0002", "question_0004", "question_0001"]
    assert "frames_list" in loaded.problems[0].message
    assert "ground_truth" in loaded.problems[1].message
    assert "duplicate" in loaded.problems[2].message


def test_missing_folder_or_annotations_names_the_download(tmp_path: Path) -> None:
    assert_missing_names_download(BENCH, tmp_path, "rbler/MMSI-Video-Bench", "mmsivideo.json")


# -- official scoring -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("B", 1.0),
        ("B.", 1.0),  # text before the first '.' is "B"
        (" B", 1.0),  # clear_words drops the space
        ("B\n", 1.0),  # ... and the newline
        ("<answer>B</answer>", 1.0),  # tags removed first
        ("\\boxed{B}", 1.0),
        ("boxed{ B }", 1.0),  # spaces inside the braces are cleared
        ("The answer is B.", 1.0),  # 'answer is' -> " B." -> up to '.' -> "B"
        ("Answer: B", 1.0),  # 'Answer:' -> " B"
        ('{"answer": "B"}', 0.0),  # '"answer":' -> ' "B"}' -> quotes and spaces cleared -> "B}", not A-F
        ("(B)", 0.0),  # parentheses are not cleared: "(B)" is not A-F
        ("B)", 0.0),
        ("b", 0.0),  # case-sensitive
        ("B: the lamp", 0.0),  # up to the first '.' is the whole reply -> "Bthelamp"
        ("B, because the lamp is left", 0.0),  # "B,becausethelampisleft"
        ("Right", 0.0),  # option text is never matched
        ("I have no answer, maybe B", 0.0),  # 'no answer' anywhere -> "O"
        ("Answer: B. Actually the answer is C", 0.0),  # 'answer is' is tried before 'Answer:' -> "C"
        ("", 0.0),
        ("   ", 0.0),
        (None, 0.0),
        ("garbage \\boxed{", 0.0),
    ],
)
def test_official_extraction(reply: str | None, expected: float) -> None:
    assert OFFICIAL.score(_mc("B"), reply) == expected


def test_official_compares_with_ground_truth_as_published() -> None:
    # the released loop compares pred == gt with no strip: a padded ground truth can never match
    assert OFFICIAL.score(_mc(" B"), "B") == 0.0
    assert OFFICIAL.score(_mc("F"), "F") == 1.0  # F is a valid letter for the released extractor
    assert OFFICIAL.score(_mc("B"), "G") == 0.0


def test_official_extract_pieces() -> None:
    assert bench_mod.official_extract("no answer") == "O"
    assert bench_mod.official_extract("The answer is C, since") == "C"
    assert bench_mod.official_extract('"Answer": "D"') == "D"
    assert bench_mod.official_extract(None) is None


# -- paper scoring ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("B", 1.0),  # the only letter
        ("b", 1.0),  # upper-cased
        (" B", 1.0),
        ("B.", 1.0),  # letter followed by '.'
        ("(B)", 1.0),  # \(?X\)?[.:)] matches "(B)"
        ("B)", 1.0),
        ("\\boxed{B}", 1.0),
        ("\\boxed{b}", 1.0),
        ("The answer is B.", 1.0),  # the first letter+punctuation is "B."
        ("Answer: B", 0.0),  # "r:" matches first -> "R"
        ("I choose B", 0.0),  # no punctuation, several letters -> the reply itself
        ("Right", 0.0),  # option text is not matched by the shared extractor
        ("", 0.0),
        (None, 0.0),
        ("   ", 0.0),
        ("12", 0.0),
    ],
)
def test_paper_extraction(reply: str | None, expected: float) -> None:
    assert PAPER.score(_mc("B"), reply) == expected


def test_paper_strips_and_uppercases_ground_truth() -> None:
    assert PAPER.score(_mc(" b "), "B") == 1.0


def test_scores_none_without_ground_truth() -> None:
    s = _mc("B")
    s.answer = None
    assert OFFICIAL.score(s, "B") is None
    assert PAPER.score(s, "B") is None


# -- aggregation ------------------------------------------------------------------------------------------------------


def _items(pairs: list[tuple[str, float]]) -> list[Scored]:
    return [Scored(_mc("A", t), None, v) for t, v in pairs]


def test_official_and_paper_aggregate_over_questions() -> None:
    items = _items([("Planning", 1.0), ("Planning", 0.0), ("Prediction", 1.0), ("(Cross-Video) Memoery Update", 1.0)])
    for scoring in (OFFICIAL, PAPER):
        agg = scoring.aggregate(items)
        # a micro mean: 3 / 4, not the mean of the three type means (0.5 + 1 + 1) / 3
        assert agg.overall == pytest.approx(0.75)
        assert agg.per_task == {"(Cross-Video) Memoery Update": 1.0, "Planning": 0.5, "Prediction": 1.0}
        assert (agg.n, agg.scored) == (4, 4)
    assert list(OFFICIAL.aggregate(items).per_task) == ["(Cross-Video) Memoery Update", "Planning", "Prediction"]
    assert any("absent" in n for n in OFFICIAL.aggregate(items).notes)


def test_aggregate_leaves_out_unscored() -> None:
    items = _items([("Planning", 1.0)]) + [Scored(_mc("A", "Planning"), None, None)]
    agg = OFFICIAL.aggregate(items)
    assert (agg.overall, agg.n, agg.scored) == (1.0, 2, 1)
    assert OFFICIAL.aggregate([]).overall is None


def test_score_cli(data_root: Path) -> None:
    replies = {
        "question_0001": "B",  # right under both
        "question_0002": "(C)",  # official 0 (parentheses kept), paper 1
        "question_0003": "Answer: A",  # official 1, paper 0 ("r:" -> R)
        "question_0004": "b",  # official 0, paper 0 (gt D)
        "question_0005": "E.",  # right under both
    }
    off, pap = (score_cli_json("mmsivideo", data_root, replies, scoring) for scoring in ("official", "paper"))
    assert off["n"] == 5
    assert off["overall"] == pytest.approx(3 / 5)
    assert pap["overall"] == pytest.approx(3 / 5)
    assert off["per_task"]["(Cross-Video) Memoery Update"] == 0.0
    assert pap["per_task"]["(Cross-Video) Memoery Update"] == 1.0
    assert off["per_task"]["(Motion Understanding) Camera Motion"] == 1.0
    assert pap["per_task"]["(Motion Understanding) Camera Motion"] == 0.0
