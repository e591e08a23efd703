"""PAI-Bench: the loader on the replica of ``shi-labs/physical-ai-bench-understanding`` and both scorings.

Expected values come from reading the released code: the PAI-Bench authors' lmms-eval task ``pai_reason``
(Leymore/lmms-eval, branch pai-bench, ``lmms_eval/tasks/pai-reason/utils.py`` at d56ac95b) and SpatialClaw's
``spatial_agent/evals/paibench.py`` at b062f829.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from bench_testing import assert_missing_names_download, by_id, load, replica_root, score_cli_json
from replicas import paibench as replica
from spatial_common.contract import validate
from spatial_eval.benchmarks import paibench
from spatial_eval.registry import get
from spatial_eval.results import build_results, score_samples
from spatial_eval.types import LoadContext, Sample, Scored

BENCH = get("paibench")
OFF = BENCH.scorings["official"]
PAP = BENCH.scorings["paper"]


@pytest.fixture(scope="module")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return replica_root(tmp_path_factory, "paibench")


@pytest.fixture(scope="module")
def samples(data_root: Path) -> dict[str, Sample]:
    return by_id(load(BENCH, data_root.resolve(), data_root))


# ---------------------------------------------------------------------------------------------------------------
# loader


def test_loader_reads_the_replica(data_root: Path, samples: dict[str, Sample]) -> None:
    assert list(samples) == ["0", "1", "2", "3", "4"]  # the row number is the id
    s = samples["0"]
    assert s.id == "paibench-0" and s.answer == "A"
    assert s.choices == ["A. Pick up the pillow", "B. Open the door", "C. Turn off the lamp", "D. Nothing"]
    assert s.question_type == "Robot: next action" and s.category == "Embodied Reasoning"
    assert s.instruction == paibench.INSTRUCTION
    assert samples["1"].choices == ["A. Yes", "B. No"]  # null options dropped
    for s in samples.values():
        assert len(s.inputs) == 1 and s.inputs[0]["kind"] == "video"
        path = Path(s.inputs[0]["path"])
        assert path.is_absolute() and path.is_file() and path.parent.parent.name == "videos"
        assert s.media == [path]
        validate("SampleSpec", s.spec())
    assert BENCH.published_count == 1214 and BENCH.settings == {}


def test_a_bad_row_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    replica.write(tmp_path)
    path = tmp_path / "paibench" / "data" / "test-00000-of-00001.parquet"
    rows = replica.rows()
    rows[1]["video_path"] = None
    rows[3]["index2ans"] = {"A": None, "B": None, "C": None, "D": None}
    pq.write_table(pa.Table.from_pylist(rows, schema=replica.SCHEMA), path)
    loaded = BENCH.load(tmp_path / "paibench", LoadContext(cache_dir=tmp_path / "c"))
    assert [s.source_id for s in loaded.samples] == ["0", "2", "4"]  # ids stay the row numbers
    assert [(p.where, p.source_id) for p in loaded.problems] == [
        ("data/test-00000-of-00001.parquet row 1", "1"),
        ("data/test-00000-of-00001.parquet row 3", "3"),
    ]
    assert "video_path" in loaded.problems[0].message and "no options" in loaded.problems[1].message


def test_missing_folder_names_the_download_command(tmp_path: Path) -> None:
    assert_missing_names_download(
        BENCH, tmp_path, "shi-labs/physical-ai-bench-understanding", prepare=lambda f: (f / "videos").mkdir()
    )


# ---------------------------------------------------------------------------------------------------------------
# scorers (row 2: answer C, options Left/Right/Forward/Backward)


@pytest.mark.parametrize(
    ("pred", "official", "paper"),
    [
        ("C", 1.0, 1.0),
        ("(C)", 1.0, 1.0),
        ("C.", 1.0, 1.0),
        ("C)", 1.0, 1.0),  # paper: a lone C not followed by a word
        (" C", 1.0, 1.0),
        ("\\boxed{C}", 1.0, 1.0),
        ("c", 0.0, 1.0),  # official: only upper-case A-E; paper: one letter after removing punctuation
        ("Forward", 0.0, 0.0),  # option text is not matched by either
        ("I think C", 1.0, 1.0),  # I is not in A-E / not in A-D
        ("The answer is C", 1.0, 1.0),  # official removes the phrase first
        ("Answer: C", 0.0, 1.0),  # official: the A of "Answer" is the first upper-case A-E
        ("Camera moves forward", 1.0, 0.0),  # official: the C of "Camera"; paper: no lone letter
        ("`C`", 1.0, 1.0),
        ("``B`` or maybe C", 0.0, 0.0),  # both take B
        ("the camera goes to the left side of the room very slowly here", 0.0, 0.0),  # >10 words, no A-E: Unknown
        ("", 0.0, 0.0),
        (None, 0.0, 0.0),
    ],
)
def test_scorers(samples: dict[str, Sample], pred: str | None, official: float, paper: float) -> None:
    assert OFF.score(samples["2"], pred) == official
    assert PAP.score(samples["2"], pred) == paper


def test_official_compares_the_answer_as_published(samples: dict[str, Sample]) -> None:
    padded = dataclasses.replace(samples["2"], answer=" C")
    assert OFF.score(padded, "C") == 0.0  # the released code compares with doc["answer"] unchanged
    assert PAP.score(padded, "C") == 1.0  # SpatialClaw strips and upper-cases it
    assert PAP.score(dataclasses.replace(samples["2"], answer="c"), "C") == 1.0


def test_extractors() -> None:
    assert paibench.official_letter("Driving slowly, so C") == "D"
    assert paibench.official_letter("b") == "Unknown"
    assert paibench.paper_letter("A car turns left") == ""  # the A is followed by a word
    assert paibench.paper_letter("It is d.") == "D"


# ---------------------------------------------------------------------------------------------------------------
# aggregation

PREDICTIONS = {
    "0": "A",  # gt A, Robot: next action -> official 1, paper 1
    "1": "b",  # gt B, Robot: spatial      -> 0 / 1
    "2": "Answer: C",  # gt C, Space       -> 0 / 1
    "3": "A car moves forward",  # gt A, Time -> 1 / 0
    "4": "(D)",  # gt D, Physics           -> 1 / 1
}


def _scored(samples: dict[str, Sample], scoring: str) -> list[Scored]:
    return score_samples(list(samples.values()), {samples[k].id: v for k, v in PREDICTIONS.items()}, scoring)  # type: ignore[arg-type]


def test_official_aggregate(samples: dict[str, Sample]) -> None:
    agg = OFF.aggregate(_scored(samples, "official"))
    assert agg.n == 5 and agg.scored == 5
    assert agg.overall == pytest.approx(3 / 5)  # correct / total
    # subcategories are cut at ':' -> both Robot subcategories pool into "Robot": (1 + 0) / 2
    assert agg.per_task == pytest.approx({"Robot": 0.5, "Space": 0.0, "Time": 1.0, "Physics": 1.0})


def test_paper_aggregate(samples: dict[str, Sample]) -> None:
    agg = PAP.aggregate(_scored(samples, "paper"))
    assert agg.overall == pytest.approx(4 / 5)
    assert agg.per_task == pytest.approx(
        {"Robot: next action": 1.0, "Robot: spatial": 1.0, "Space": 1.0, "Time": 0.0, "Physics": 1.0}
    )


def test_results_block_and_empty_aggregate(samples: dict[str, Sample]) -> None:
    res = build_results(_scored(samples, "official"), "official", n_resamples=50)
    block = res["benchmarks"]["paibench"]
    assert block["overall"] == pytest.approx(0.6)
    assert block["by_category"]["Common Sense"]["mean"] == pytest.approx(2 / 3)
    assert OFF.aggregate([]).overall is None and PAP.aggregate([]).overall is None


def test_cli_score(data_root: Path) -> None:
    for scoring, overall in (("official", 0.6), ("paper", 0.8)):
        got = score_cli_json("paibench", data_root, PREDICTIONS, scoring)
        assert got["n"] == 5
        assert got["overall"] == pytest.approx(overall)
        assert got["per_task"]["Time"] == (1.0 if scoring == "official" else 0.0)
