"""DSI-Bench: the loader on the replica (test/python/replicas/dsibench.py) and both scorings.

Expected values come from reading the released code: SpatialVision/dsibench evaluate.py at af90adcd (first character
of the stripped final answer == GT, case-sensitive; Method 1/2/3) with qwen_inference_code.py's ``<answer>X</answer>``
extraction, and SpatialClaw spatial_agent/evals/dsibench.py at b062f829 (``_extract_letter``).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from bench_testing import assert_missing_names_download, by_id, load, replica_root, score_cli_json, scored
from replicas import dsibench as replica
from spatial_common.contract import validate
from spatial_eval.benchmarks.dsibench import BENCHMARKS, official_letter, paper_letter, split_options
from spatial_eval.types import LoadContext, Sample

BENCH = BENCHMARKS[0]
OFFICIAL = BENCH.scorings["official"]
PAPER = BENCH.scorings["paper"]


@pytest.fixture(scope="module")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return replica_root(tmp_path_factory, "dsibench")


@pytest.fixture(scope="module")
def samples(data_root: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Sample]:
    return load(BENCH, data_root, tmp_path_factory.mktemp("cache"))


# --- loader -----------------------------------------------------------------------------------------------------


def test_loader_reads_every_augmentation_in_the_original_order(samples: list[Sample]) -> None:
    # 3 base questions x 4 augmentations, augmentation by augmentation in SpatialClaw's VIDEO_AUGS order.
    assert len(samples) == 12
    assert [s.source_id for s in samples[:4]] == [
        "std__row_000000",
        "std__row_000001",
        "std__row_000002",
        "reverse__row_000000",
    ]
    assert [s.extra["aug"] for s in samples[::3]] == ["std", "reverse", "hflip", "reverse_hflip"]
    assert BENCH.published_count == 7076 and BENCH.settings == {}


def test_loader_fields(samples: list[Sample]) -> None:
    s = by_id(samples)
    std0, hflip0 = s["std__row_000000"], s["hflip__row_000000"]
    assert std0.id == "dsibench-std__row_000000"
    assert std0.question == "How does the camera move while filming the bedroom?"
    assert std0.choices == ["A: Pans to the left", "B: Pans to the right", "C: Moves forward", "D: Moves backward"]
    # each augmentation has its own ground truth (a mirrored pan is the other direction)
    assert (std0.answer, hflip0.answer) == ("B", "A")
    assert std0.question_type == "Cam:static scene" and std0.category is None
    assert s["std__row_000002"].question_type == "Obj:static cam"
    assert s["std__row_000001"].question_type == "Obj-Cam distance"
    assert std0.extra["base_id"] == hflip0.extra["base_id"] == "row_000000"
    assert std0.extra["cate"] == 2 and std0.extra["video_type"] == "0"
    assert std0.instruction


def test_inputs_are_absolute_existing_videos_of_their_augmentation(samples: list[Sample]) -> None:
    for s in samples:
        assert len(s.inputs) == 1 and s.inputs[0]["kind"] == "video"
        p = Path(s.inputs[0]["path"])
        assert p.is_absolute() and p.is_file()
        assert p.parts[-4:-2] == ("videos", s.extra["aug"])
        assert s.media == [p]
        validate("SampleSpec", s.spec())
    # two questions share the pan clip
    s = by_id(samples)
    assert s["std__row_000000"].inputs == s["std__row_000001"].inputs


def test_bad_row_is_a_row_problem(data_root: Path, tmp_path: Path) -> None:
    root = tmp_path / "dsibench"
    shutil.copytree(data_root / "dsibench", root)
    rows = replica.rows("reverse")
    rows[1]["GT"] = ""
    replica.write_csv(root / "metadatas" / "reverse.csv", rows)
    loaded = BENCH.load(root, LoadContext(cache_dir=tmp_path / "cache"))
    assert len(loaded.samples) == 11
    [p] = loaded.problems
    assert p.source_id == "reverse__row_000001" and "GT" in p.message and "reverse.csv" in p.where


def test_missing_annotations_raise_dataset_missing(tmp_path: Path) -> None:
    assert_missing_names_download(
        BENCH, tmp_path, "Viglong/DSI-Bench", r"metadatas/std\.csv", lambda f: (f / "videos").mkdir()
    )


def test_split_options() -> None:
    assert split_options("A: x; B: y; C: z") == ["A: x", "B: y", "C: z"]
    # a letter inside an option text does not start a new option (only at the start or after ';')
    assert split_options("A: Move to D. then stop; B: Stay") == ["A: Move to D. then stop", "B: Stay"]
    # not in A, B, C order: kept whole
    assert split_options("B: y; A: x") == ["B: y; A: x"]


# --- official ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prediction", "expected"),
    [
        ("B", 1.0),
        ("B. Pans to the right", 1.0),  # first character B
        ("B)", 1.0),
        (" B", 1.0),  # str(...).strip() before taking the first character
        ("(B)", 0.0),  # first character "("
        ("\\boxed{B}", 0.0),  # first character "\\"
        ("b", 0.0),  # gt == pred_letter is case-sensitive
        ("Pans to the right", 0.0),  # option text: first character "P"
        ("Because the camera turns", 1.0),  # quirk: the first character happens to be the right letter
        ("<answer>b</answer>", 1.0),  # the released inference's tag, upper-cased
        ("I would say <answer>B</answer>", 1.0),  # re.search finds the tag anywhere
        ("four", 0.0),
        ("1,200", 0.0),
        ("2.5m", 0.0),
        ("", 0.0),
        ("   ", 0.0),
        (None, 0.0),
    ],
)
def test_official_score(samples: list[Sample], prediction: str | None, expected: float) -> None:
    assert OFFICIAL.score(by_id(samples)["std__row_000000"], prediction) == expected  # GT "B"


def test_official_letter() -> None:
    assert official_letter("<answer> c </answer> because") == "C"
    assert official_letter("  Dog") == "D"
    assert official_letter(None) == ""


# --- paper ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prediction", "expected"),
    [
        ("B", 1.0),  # the tail pattern: a lone letter at the end
        ("(B)", 1.0),  # "(" before, ")" after
        ("B.", 1.0),
        ("B)", 1.0),
        (" B", 1.0),
        ("\\boxed{B}", 1.0),
        ("\\boxed{(b)}", 1.0),  # boxed allows "(", a lower-case letter and a closing "." or ")"
        ("b", 1.0),  # letters are upper-cased
        ("The answer is b", 1.0),  # marker "answer is"
        ("Answer: C. Actually the correct answer is B", 1.0),  # the LAST marker wins ("answer is B")
        ("**Final answer:** B", 1.0),  # marker "final answer", ":", then "** B"
        ("Because the camera pans right", 1.0),  # no marker, no lone letter: a leading A-D ("B")
        ("Pans to the right", 0.0),  # option text: no letter found
        ("A person pans", 0.0),  # leading "A" is taken (not B)
        ("four", 0.0),
        ("1,200", 0.0),
        ("2.5m", 0.0),
        ("", 0.0),
        (None, 0.0),
    ],
)
def test_paper_score(samples: list[Sample], prediction: str | None, expected: float) -> None:
    assert PAPER.score(by_id(samples)["std__row_000000"], prediction) == expected  # GT "B"


def test_paper_letter_tail_and_fallbacks() -> None:
    # the last lone letter in the final 400 characters, followed by "." / ")" / ":" / newline / "**" / end
    assert paper_letter("Between (A) and (C), I pick C.") == "C"
    assert paper_letter("x" * 500 + " D.") == "D"
    assert paper_letter("nothing here") == ""


@pytest.mark.parametrize(
    "text", [None, "", " ", "\x00", "{}", "🙂" * 50, "<answer></answer>", "\\boxed{}", "x" * 10000]
)
def test_scores_never_raise(samples: list[Sample], text: str | None) -> None:
    for s in samples:
        assert OFFICIAL.score(s, text) in (0.0, 1.0)
        assert PAPER.score(s, text) in (0.0, 1.0)


# --- aggregation --------------------------------------------------------------------------------------------------

# correctness per augmentation for base rows 0, 1, 2 (row 0 cate 2, row 1 cate 4, row 2 cate 0)
PATTERN = {"std": (1, 1, 0), "reverse": (1, 0, 0), "hflip": (1, 1, 1), "reverse_hflip": (0, 1, 0)}


def _predictions(samples: list[Sample]) -> dict[str, str]:
    out = {}
    for s in samples:
        right = PATTERN[s.extra["aug"]][int(s.extra["base_id"][-1])]
        out[s.source_id] = str(s.answer) if right else ("A" if s.answer != "A" else "B")
    return out


def test_official_aggregate(samples: list[Sample]) -> None:
    agg = OFFICIAL.aggregate(scored(OFFICIAL, samples, _predictions(samples)))
    assert (agg.n, agg.scored) == (12, 12)
    assert agg.overall == pytest.approx(7 / 12)  # Method 1: 2 + 1 + 3 + 1 right of 12
    assert agg.per_task == pytest.approx(
        {
            "Obj:static cam": 1 / 4,  # row 2: right only under hflip
            "Cam:static scene": 3 / 4,  # row 0: wrong only under reverse_hflip
            "Obj-Cam distance": 3 / 4,  # row 1: wrong only under reverse
            "aug/std": 2 / 3,
            "aug/reverse": 1 / 3,
            "aug/hflip": 1.0,
            "aug/reverse_hflip": 1 / 3,
            "group_wise_n3": 2 / 3,  # Method 2: rows 0 and 1 have 3 of 4 right, row 2 has 1
        }
    )
    assert list(agg.per_task)[:3] == ["Obj:static cam", "Cam:static scene", "Obj-Cam distance"]  # cate order
    assert agg.notes == []


def test_official_aggregate_with_a_cut_group(samples: list[Sample]) -> None:
    items = [x for x in scored(OFFICIAL, samples, _predictions(samples)) if x.sample.source_id != "hflip__row_000002"]
    agg = OFFICIAL.aggregate(items)
    assert agg.overall == pytest.approx(6 / 11)
    assert agg.per_task["group_wise_n3"] == 1.0  # only rows 0 and 1 are complete; both have >= 3 right
    assert agg.notes and "left out" in agg.notes[0]


def test_paper_aggregate(samples: list[Sample]) -> None:
    agg = PAPER.aggregate(scored(PAPER, samples, _predictions(samples)))
    assert agg.overall == pytest.approx(7 / 12)
    assert "group_wise_n3" not in agg.per_task  # SpatialClaw reports only per category and per augmentation
    assert agg.per_task["aug/hflip"] == 1.0 and agg.per_task["Obj:static cam"] == pytest.approx(1 / 4)


def test_scorings_differ_where_the_released_code_does(samples: list[Sample]) -> None:
    s = by_id(samples)["std__row_000000"]
    pred = "Answer: C. Actually the correct answer is B"
    assert (OFFICIAL.score(s, pred), PAPER.score(s, pred)) == (0.0, 1.0)


# --- CLI ----------------------------------------------------------------------------------------------------------


def test_cli_score(data_root: Path, samples: list[Sample]) -> None:
    preds = _predictions(samples)
    for scoring in ("official", "paper"):
        got = score_cli_json("dsibench", data_root, preds, scoring)
        assert got["n"] == 12
        assert got["overall"] == pytest.approx(7 / 12)
        assert got["per_task"]["aug/std"] == pytest.approx(2 / 3)
