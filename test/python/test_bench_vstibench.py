"""VSTI-Bench: the loader on the replica of ``Journey9ni/vstibench`` and both scorings.

Expected values come from reading the released code: VLM-3R's lmms-eval task (VITA-Group/VLM-3R
``thinking-in-space/lmms_eval/tasks/vstibench/utils.py`` at 6dd1264c) and SpatialClaw's
``spatial_agent/evals/vstibench.py`` at b062f829. Both read the text before the first ' ' with trailing dots removed.
MRA grid: t in linspace(.5, .95, 10), a sample passes t when |p-g|/g <= 1 - t, so rel 0.23 passes t = .50...75
(6/10) and rel 1/3 passes t = .50...65 (4/10).
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from bench_testing import assert_missing_names_download, by_id, load, replica_root, score_cli_json
from replicas import vstibench as replica
from spatial_common.contract import validate
from spatial_eval.registry import get
from spatial_eval.results import build_results, score_samples
from spatial_eval.types import LoadContext, Sample, Scored

BENCH = get("vstibench")
OFF = BENCH.scorings["official"]
PAP = BENCH.scorings["paper"]


@pytest.fixture(scope="module")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return replica_root(tmp_path_factory, "vstibench")


@pytest.fixture(scope="module")
def samples(data_root: Path) -> dict[str, Sample]:
    return by_id(load(BENCH, data_root.resolve(), data_root))


# ---------------------------------------------------------------------------------------------------------------
# loader


def test_loader_reads_the_replica(data_root: Path, samples: dict[str, Sample]) -> None:
    assert list(samples) == [str(i) for i in range(9)]
    mc = samples["2"]
    assert mc.id == "vstibench-2" and mc.question_type == "camera_movement_direction"
    assert mc.category == "camera_movement"
    assert mc.choices == ["A. Forward", "B. Backward", "C. Left", "D. Right"]  # as published, letters kept
    assert mc.answer == "C" and mc.extra["ground_truth"] == "Left"
    na = samples["0"]
    assert na.choices is None and na.answer == 2.0  # the ground truth as published (a JSON number here)
    assert samples["1"].answer == "1.5"  # ... or a string
    for s in samples.values():
        assert "frame X of N" in (s.instruction or "") and "frame_index" in (s.instruction or "")
        assert ("letter" in s.instruction) == (s.choices is not None)  # type: ignore[operator]
        assert len(s.inputs) == 1 and s.inputs[0]["kind"] == "video"
        path = Path(s.inputs[0]["path"])
        assert (
            path.is_absolute()
            and path.is_file()
            and path.parent == data_root.resolve() / "vstibench" / "ScanNet" / "videos" / "val"
        )
        assert s.media == [path]
        validate("SampleSpec", s.spec())
    assert {s.question_type for s in samples.values()} == {
        "camera_obj_abs_dist", "camera_displacement", "camera_movement_direction", "obj_obj_relative_pos_lr",
        "obj_obj_relative_pos_ud", "obj_obj_relative_pos_nf", "camera_obj_rel_dist_v1", "camera_obj_rel_dist_v2",
        "camera_obj_rel_dist_v3",
    }  # fmt: skip
    assert BENCH.published_count == 6042 and BENCH.settings == {}


def test_a_bad_row_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    replica.write(tmp_path)
    path = tmp_path / "vstibench" / "test.json"
    rows = replica.rows()
    rows[1]["ground_truth"] = None  # numeric row without a ground truth
    rows[3]["mc_answer"] = None  # multiple choice without its letter
    rows[5]["question_type"] = "object_counting"  # not a VSTI-Bench type
    rows[7] = "not an object"  # type: ignore[call-overload]
    path.write_text(json.dumps(rows))
    loaded = BENCH.load(path.parent, LoadContext(cache_dir=tmp_path / "c"))
    assert [s.source_id for s in loaded.samples] == ["0", "2", "4", "6", "8"]
    assert [(p.where, p.source_id) for p in loaded.problems] == [
        ("test.json item 1", "1"),
        ("test.json item 3", "3"),
        ("test.json item 5", "5"),
        ("test.json item 7", None),
    ]
    assert "object_counting" in loaded.problems[2].message


def test_missing_folder_names_the_download_command(tmp_path: Path) -> None:
    assert_missing_names_download(BENCH, tmp_path, "Journey9ni/vstibench")


# ---------------------------------------------------------------------------------------------------------------
# scorers


@pytest.mark.parametrize(
    ("pred", "expected"),
    [
        ("C", 1.0),
        ("c", 1.0),  # case-insensitive
        ("C.", 1.0),  # trailing dot removed
        ("C. Left", 1.0),  # text before the first space
        ("(C)", 0.0),
        ("C)", 0.0),
        (" C", 0.0),  # a leading space makes the first token empty
        ("\\boxed{C}", 0.0),
        ("Left", 0.0),  # option text is not matched
        ("", 0.0),
        (None, 0.0),
    ],
)
def test_multiple_choice_both_scorings(samples: dict[str, Sample], pred: str | None, expected: float) -> None:
    assert OFF.score(samples["2"], pred) == expected
    assert PAP.score(samples["2"], pred) == expected


@pytest.mark.parametrize(
    ("row", "pred", "expected"),
    [
        ("0", "2", 1.0),
        ("0", "2.0 meters", 1.0),  # first token "2.0"
        ("0", "2.46", 0.6),  # rel 0.23
        ("0", "2.5m", 0.0),  # float('2.5m') fails
        ("0", "1,200", 0.0),
        ("0", "four", 0.0),
        ("0", " 2", 0.0),  # first token empty
        ("0", None, 0.0),
        ("1", "1.0", 0.4),  # gt "1.5" (a string): rel 1/3
        ("1", "1.5", 1.0),
    ],
)
def test_numbers_both_scorings(samples: dict[str, Sample], row: str, pred: str | None, expected: float) -> None:
    assert OFF.score(samples[row], pred) == pytest.approx(expected)
    assert PAP.score(samples[row], pred) == pytest.approx(expected)


def test_where_the_scorings_differ(samples: dict[str, Sample]) -> None:
    na = samples["0"]
    zero = replace(na, answer=0.0, extra={**na.extra, "ground_truth": 0.0})
    # released code: ZeroDivisionError (VSTI-Bench has no zero ground truth); we score an exact 0 as 1
    assert OFF.score(zero, "0") == 1.0
    assert PAP.score(zero, "0") == 0.0  # SpatialClaw: g == 0 scores 0
    # a numeric-type row that carries options: SpatialClaw treats it as multiple choice (by the options)
    with_options = replace(na, extra={**na.extra, "paper_mc": True, "mc_answer": "B"})
    assert PAP.score(with_options, "B") == 1.0
    assert OFF.score(with_options, "B") == 0.0  # official: the type decides; float('B') fails
    # negative ground truth (the released camera_obj_dist_change type): /g keeps the sign, so everything passes
    neg = replace(na, question_type="camera_obj_dist_change", answer=-1.0, extra={**na.extra, "ground_truth": -1.0})
    assert OFF.score(neg, "5") == 1.0 and PAP.score(neg, "5") == 1.0


# ---------------------------------------------------------------------------------------------------------------
# aggregation

PREDICTIONS = {
    "0": "2.46",  # camera_obj_abs_dist 0.6
    "1": "1.5 meters",  # camera_displacement 1
    "2": "c",  # 1
    "3": "(A)",  # 0
    "4": "A.",  # 1
    "5": "B",  # 1
    "6": "",  # 0
    "7": "C",  # 1
    "8": "B",  # 1
}
OVERALL = (0.6 + 1 + 1 + 0 + 1 + 1 + 0 + 1 + 1) / 9  # one sample per type: mean of 9 type means


def _scored(samples: dict[str, Sample], scoring: str) -> list[Scored]:
    return score_samples(list(samples.values()), {samples[k].id: v for k, v in PREDICTIONS.items()}, scoring)  # type: ignore[arg-type]


@pytest.mark.parametrize("scoring", ["official", "paper"])
def test_aggregate(samples: dict[str, Sample], scoring: str) -> None:
    agg = BENCH.scorings[scoring].aggregate(_scored(samples, scoring))
    assert agg.n == 9 and agg.scored == 9 and agg.notes == []
    assert agg.overall == pytest.approx(OVERALL)
    assert agg.per_task["camera_obj_abs_dist"] == pytest.approx(0.6)
    assert agg.per_task["obj_obj_relative_pos_lr"] == 0.0


def test_overall_is_the_mean_of_type_means(samples: dict[str, Sample]) -> None:
    # two camera_displacement samples (1 and 0) and one camera_movement_direction sample (1):
    # mean of type means = (0.5 + 1) / 2 = 0.75, not the sample mean 2/3
    d2 = replace(samples["1"], source_id="100")
    items = [Scored(samples["1"], "1.5", 1.0), Scored(d2, "9", 0.0), Scored(samples["2"], "C", 1.0)]
    for scoring in ("official", "paper"):
        agg = BENCH.scorings[scoring].aggregate(items)
        assert agg.overall == pytest.approx(0.75)
        assert agg.per_task == pytest.approx({"camera_displacement": 0.5, "camera_movement_direction": 1.0})
        assert agg.notes and "2 of 9" in agg.notes[0]


def test_results_block_and_empty_aggregate(samples: dict[str, Sample]) -> None:
    res = build_results(_scored(samples, "official"), "official", n_resamples=50)
    block = res["benchmarks"]["vstibench"]
    assert block["overall"] == pytest.approx(OVERALL)
    assert block["by_category"]["object_object_relative_position"]["n"] == 3
    assert OFF.aggregate([]).overall is None and PAP.aggregate([]).overall is None


def test_cli_score(data_root: Path) -> None:
    for scoring in ("official", "paper"):
        got = score_cli_json("vstibench", data_root, PREDICTIONS, scoring)
        assert got["n"] == 9
        assert got["overall"] == pytest.approx(OVERALL)
        assert len(got["per_task"]) == 9 and got["per_task"]["camera_obj_abs_dist"] == pytest.approx(0.6)
