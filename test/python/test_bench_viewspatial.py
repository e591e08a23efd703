"""ViewSpatial-Bench: the loader on the replica (seven entries in the published format, our texts), and both scorings
against hand-derived expectations from ZJU-REAL/ViewSpatial-Bench ``evaluate.py`` (official) and SpatialClaw
``evals/viewspatial.py`` (paper)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from bench_testing import assert_missing_names_download, loaded_samples, replica_root, score_cli_json, scored
from replicas import flat_inputs
from replicas import viewspatial as replica
from spatial_common.contract import validate
from spatial_eval.cli import load_benchmark, status
from spatial_eval.registry import get
from spatial_eval.types import Sample

BENCH = get("viewspatial")
OFFICIAL = BENCH.scorings["official"]
PAPER = BENCH.scorings["paper"]


@pytest.fixture(scope="module")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return replica_root(tmp_path_factory, "viewspatial")


@pytest.fixture(scope="module")
def samples(data_root: Path) -> list[Sample]:
    return loaded_samples(BENCH, data_root)


def make(answer: str = "B. right") -> Sample:
    return Sample(
        benchmark="viewspatial",
        source_id="0",
        question="q?",
        inputs=[{"kind": "images", "path": "/x.jpg"}],
        answer=answer,
        choices=["A. left", "B. right", "C. front", "D. back"],
        question_type="Camera perspective - Relative Direction",
        category="Camera perspective",
    )


# --------------------------------------------------------------------------------------------------------------
# Loading


def test_loads_replica(samples: list[Sample], data_root: Path) -> None:
    root = (data_root / "viewspatial").resolve()
    assert [s.source_id for s in samples] == [str(i) for i in range(7)]
    assert [s.id for s in samples] == [f"viewspatial-{i}" for i in range(7)]
    assert [s.answer for s in samples] == [
        "A. left",
        "D. front-left",
        "A. front-right",
        "C. back-right",
        "D. left",
        "B. left",
        "A. front-right",
    ]
    assert [s.extra["answer_letter"] for s in samples] == ["A", "D", "A", "C", "D", "B", "A"]
    assert samples[0].choices == ["A. left", "B. back-right", "C. front-up", "D. back"]
    assert samples[5].choices == ["A. right", "B. left"]  # a two-option question
    assert samples[0].question == "Seen from the camera, which side of the bed is the lamp on?"
    assert [s.category for s in samples] == ["Camera perspective"] * 3 + ["Person perspective"] * 4
    assert len({s.question_type for s in samples}) == 5
    # The "ViewSpatial-Bench/" prefix is dropped and the rest resolved against the folder.
    assert samples[0].inputs == [
        {"kind": "images", "path": str(root / "scannetv2_val/scene0011_00/original_images/280.jpg")}
    ]
    assert (
        samples[2].inputs == samples[3].inputs == [{"kind": "images", "path": str(root / "val2017/000000000285.jpg")}]
    )
    # Multi-image: one images input holding every frame, in the published order.
    frames = [str(root / f"scannetv2_val/scene0046_00/original_images/{n}.jpg") for n in (0, 60)]
    assert samples[6].inputs == [{"kind": "images", "path": frames[0], "files": frames}]
    assert flat_inputs(samples[6]) == [{"kind": "images", "path": f} for f in frames]
    for s in samples:
        assert [Path(i["path"]) for i in flat_inputs(s)] == s.media
        assert all(p.is_absolute() and p.is_file() for p in s.media)
        assert s.instruction
        validate("SampleSpec", s.spec())


def test_bad_rows_are_problems_and_missing_images_are_checked(tmp_path: Path) -> None:
    replica.write(tmp_path)
    path = tmp_path / "viewspatial" / "ViewSpatial-Bench.json"
    rows = json.loads(path.read_text())
    rows[1]["answer"] = "back"  # no option letter
    rows[2]["image_path"] = []
    del rows[3]["question"]
    rows.append(None)
    path.write_text(json.dumps(rows))
    loaded = load_benchmark(BENCH, tmp_path)
    assert [s.source_id for s in loaded.samples] == ["0", "4", "5", "6"]
    assert [p.source_id for p in loaded.problems] == ["1", "2", "3", "7"]
    assert "option letter" in loaded.problems[0].message
    # A missing image keeps its row; `check` reports the file.
    (tmp_path / "viewspatial" / "val2017" / "000000000872.jpg").unlink()
    assert [s.source_id for s in load_benchmark(BENCH, tmp_path).samples] == ["0", "4", "5", "6"]
    st = status(BENCH, tmp_path)
    assert st["state"] == "incomplete" and st["missing_media_count"] == 1


def test_missing_folder(tmp_path: Path) -> None:
    assert_missing_names_download(BENCH, tmp_path, "lidingm/ViewSpatial-Bench", "ViewSpatial-Bench.json not found")


# --------------------------------------------------------------------------------------------------------------
# Official (evaluate.py): extract_option of the last line


@pytest.mark.parametrize(
    ("pred", "expected"),
    [
        ("B", 1.0),
        ("(B)", 1.0),
        ("B.", 1.0),
        ("B)", 1.0),
        (" B", 1.0),
        ("b", 1.0),  # IGNORECASE
        ("\\boxed{B}", 1.0),  # "boxed" has no standalone letter; "{B}" does
        ("The answer is B", 1.0),
        ("Reasoning: the lamp is behind.\nB", 1.0),  # only the last line counts
        ("B\nbecause the lamp is behind", 0.0),  # the last line has no standalone A-D
        ("B\n", 0.0),  # the last line is empty
        ("It is a chair, so B", 0.0),  # the word "a" is read as A
        ("D or B", 0.0),  # the first one
        ("right", 0.0),  # option text: no letter
        ("Answer: C", 0.0),
        ("", 0.0),
        (None, 0.0),
    ],
)
def test_official(pred: str | None, expected: float) -> None:
    assert OFFICIAL.score(make(), pred) == expected


# --------------------------------------------------------------------------------------------------------------
# Paper (SpatialClaw extract_answer)


@pytest.mark.parametrize(
    ("pred", "expected"),
    [
        ("B", 1.0),
        ("(B)", 1.0),
        ("B.", 1.0),
        ("B)", 1.0),  # no (X)/X./X: pattern; the only A-D letter once the rest is removed
        (" B", 1.0),
        ("b", 1.0),
        ("\\boxed{B}", 1.0),
        ("\\boxed{(b).}", 1.0),
        ("<answer> B </answer>", 1.0),
        ("final answer: **B**", 1.0),
        ("The answer is B", 1.0),  # marker "answer is"
        ("Answer: C. Hmm, no: the answer is B", 1.0),  # the last marker wins
        ("Answer: a chair is on the right", 0.0),  # marker "answer" + the word "a" -> A
        ("It is a chair, so B", 1.0),  # several a-d letters; the last standalone capital A-D -> B
        ("I'd pick b.", 1.0),  # "b." pattern
        ("B\n", 1.0),  # stripped
        ("right", 0.0),  # option text: no letter at all -> ""
        ("Answer: C", 0.0),
        ("", 0.0),
        (None, 0.0),
    ],
)
def test_paper(pred: str | None, expected: float) -> None:
    assert PAPER.score(make(), pred) == expected


def test_paper_ground_truth_letter() -> None:
    from spatial_eval.benchmarks.viewspatial import gt_letter

    assert gt_letter("A. right") == "A" and gt_letter(" (c) front") == "C" and gt_letter("right") == ""


PREDS: dict[str, str | None] = {
    "0": "A",  # gold A: both right
    "1": "D\n",  # gold D: official reads an empty last line -> wrong; paper strips -> right
    "2": "The dog faces right.\nA",  # gold A: both right
    "3": "Facing a camera, so C",  # gold C: official reads the word "a" -> wrong; paper: last capital C -> right
    "4": "Answer: D",  # gold D: both right
    "5": "left",  # gold B: both wrong (option text)
    "6": None,  # gold A: no prediction, both wrong
}


def test_official_aggregate(samples: list[Sample]) -> None:
    items = scored(OFFICIAL, samples, PREDS)
    assert [s.score for s in items] == [1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 0.0]
    agg = OFFICIAL.aggregate(items)
    assert agg.overall == pytest.approx(3 / 7)  # correct / total over all samples
    assert agg.per_task == pytest.approx(
        {
            "Camera perspective - Object View Orientation": 1.0,
            "Camera perspective - Relative Direction": 0.5,
            "Person perspective - Object View Orientation": 0.0,
            "Person perspective - Relative Direction": 0.5,
            "Person perspective - Scene Simulation Relative Direction": 0.0,
        }
    )
    assert (agg.n, agg.scored) == (7, 7)


def test_paper_aggregate(samples: list[Sample]) -> None:
    items = scored(PAPER, samples, PREDS)
    assert [s.score for s in items] == [1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0]
    agg = PAPER.aggregate(items)
    assert agg.overall == pytest.approx(5 / 7)
    assert agg.per_task["Camera perspective - Relative Direction"] == 1.0
    assert agg.per_task["Person perspective - Relative Direction"] == 0.5
    assert PAPER.aggregate([]).overall is None


@pytest.mark.parametrize(("scoring", "overall"), [("official", 3 / 7), ("paper", 5 / 7)])
def test_cli_score(data_root: Path, scoring: str, overall: float) -> None:
    res = score_cli_json("viewspatial", data_root, PREDS, scoring)
    assert res["n"] == 7
    assert res["overall"] == pytest.approx(overall)
    assert len(res["per_task"]) == 5
