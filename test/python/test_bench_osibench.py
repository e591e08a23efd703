"""OSI-Bench: the loader on the replica of ``HarmlessSR07/OSI-Bench`` and both scorings.

Expected values come from reading the released code: the authors' VLMEvalKit dataset (harmlessSR/OpenBench
``VLMEvalKit/vlmeval/dataset/OSIBench/{utils,osibench}.py`` at 2300b0f4) and SpatialClaw's
``spatial_agent/evals/osibench.py`` + ``scoring.py`` at b062f829. MRA grid: t in linspace(.5, .95, 10), a sample
passes t when rel <= 1 - t, so rel 0.17 passes t = .50...80 (7/10), rel 0.275 passes t = .50...70 (5/10), rel
1/3 passes t = .50...65 (4/10), rel 0.12 passes t = .50...85 (8/10).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from bench_testing import assert_missing_names_download, by_id, load, replica_root, score_cli_json
from replicas import osibench as replica
from spatial_common.contract import validate
from spatial_eval.benchmarks import osibench
from spatial_eval.registry import get
from spatial_eval.results import build_results, score_samples
from spatial_eval.types import LoadContext, Sample, Scored

BENCH = get("osibench")
OFF = BENCH.scorings["official"]
PAP = BENCH.scorings["paper"]


@pytest.fixture(scope="module")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return replica_root(tmp_path_factory, "osibench")


@pytest.fixture(scope="module")
def samples(data_root: Path) -> dict[str, Sample]:
    return by_id(load(BENCH, data_root.resolve(), data_root))


# ---------------------------------------------------------------------------------------------------------------
# loader


def test_loader_reads_the_replica(data_root: Path, samples: dict[str, Sample]) -> None:
    assert list(samples) == [str(i) for i in range(9)]  # published order, ids = the ``index`` field
    s = samples["1"]
    assert s.benchmark == "osibench" and s.id == "osibench-1"
    assert s.question_type == "relative_distance" and s.category == "relational"
    assert s.choices == ["A. object 1", "B. object 2", "C. object 3"]
    assert s.answer == "B"
    assert s.extra["answer_type"] == "mcq"
    assert "letter" in (s.instruction or "") and "tag" in (s.instruction or "")
    num = samples["3"]
    assert num.choices is None and num.answer == "0" and num.extra["answer_type"] == "numerical"
    assert num.category == "dynamic_metric" and "number" in (num.instruction or "")
    assert samples["0"].instruction and "tag" not in samples["0"].instruction  # trajectory_description: no tags
    assert samples["5"].category == "static_metric"
    for s in samples.values():
        assert len(s.inputs) == 1 and s.inputs[0]["kind"] == "video"
        path = Path(s.inputs[0]["path"])
        assert path.is_absolute() and path.is_file() and path.name == f"{s.extra['video']}.mp4"
        assert s.media == [path]
        validate("SampleSpec", s.spec())
    assert BENCH.published_count == 8766 and BENCH.settings == {}


def test_videos_under_a_videos_folder_are_found(tmp_path: Path) -> None:
    replica.write(tmp_path)
    root = tmp_path / "osibench"
    (root / "video").mkdir()
    (root / "0000.mp4").rename(root / "video" / "0000.mp4")
    loaded = BENCH.load(root, LoadContext(cache_dir=tmp_path / "c"))
    assert Path(loaded.samples[0].inputs[0]["path"]) == root / "video" / "0000.mp4"


def test_a_bad_row_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    replica.write(tmp_path)
    path = tmp_path / "osibench" / "data.parquet"
    rows = replica.rows()
    rows[2]["question"] = None  # missing question
    rows[4]["question_type"] = "open"  # neither mcq nor numerical
    rows[6]["index"] = 0  # duplicate id
    pq.write_table(pa.Table.from_pylist(rows, schema=replica.SCHEMA), path)
    loaded = BENCH.load(path.parent, LoadContext(cache_dir=tmp_path / "c"))
    assert [s.source_id for s in loaded.samples] == ["0", "1", "3", "5", "7", "8"]
    assert [p.where for p in loaded.problems] == ["data.parquet row 2", "data.parquet row 4", "data.parquet row 6"]
    assert "question" in loaded.problems[0].message and "open" in loaded.problems[1].message
    assert "duplicate" in loaded.problems[2].message


def test_missing_folder_names_the_download_command(tmp_path: Path) -> None:
    assert_missing_names_download(BENCH, tmp_path, "HarmlessSR07/OSI-Bench")


# ---------------------------------------------------------------------------------------------------------------
# official scorer


@pytest.mark.parametrize(
    ("pred", "expected"),
    [
        ("B", 1.0),
        ("(B)", 1.0),
        ("B.", 1.0),
        ("B)", 1.0),
        (" B", 1.0),
        ("The answer is B.", 1.0),  # first capital between separators: T/a/i are not, B is (" B.")
        ("Bridge", 1.0),  # no separated capital; the leading-capital rule takes the B of the word
        ("I think B", 0.0),  # " I " is a separated capital and comes first
        ("\\boxed{B}", 0.0),  # '{' is no separator and the text does not start with a capital
        ("b", 0.0),  # the two fallbacks are case-sensitive
        ("object 2", 0.0),  # option text is not matched
        ("(答案是B)", 1.0),  # the Chinese form needs a preceding ( [ or letter
        ("答案是B", 0.0),  # ... without one nothing matches (是 is no separator)
        ("", 0.0),
        (None, 0.0),
    ],
)
def test_official_multiple_choice(samples: dict[str, Sample], pred: str | None, expected: float) -> None:
    assert OFF.score(samples["1"], pred) == expected


@pytest.mark.parametrize(
    ("row", "pred", "expected"),
    [
        ("5", "4", 1.0),
        ("5", "4.0 m", 1.0),
        ("5", "between 2.9 and 4", 1.0),  # the LAST number
        ("5", "2.9", 0.5),  # rel 0.275
        ("5", "four", 0.0),  # no digits
        ("5", "", 0.0),
        ("5", None, 0.0),
        ("7", "4 cars", 1.0),
        ("6", "11.2", 0.8),  # rel 0.12
        ("4", "2.34", 0.7),  # rel 0.17 (gt 2.0 is not zero: no threshold)
        ("3", "0.2", 1.0),  # absolute_speed, gt 0: below 0.30 scores 1
        ("3", "-1", 1.0),  # ... negative numbers are below the threshold too
        ("3", "0.4", 0.4),  # ... else MRA against 0.30: rel 1/3
        ("3", "stationary", 0.0),
        ("8", "1.5", 1.0),  # trajectory_length, gt 0: threshold 2.0
        ("8", "2.34", 0.7),  # ... MRA against 2.0: rel 0.17
    ],
)
def test_official_numbers(samples: dict[str, Sample], row: str, pred: str | None, expected: float) -> None:
    assert OFF.score(samples[row], pred) == pytest.approx(expected)


def test_official_number_extraction_details(samples: dict[str, Sample]) -> None:
    big = replace(samples["5"], answer="1200")
    assert OFF.score(big, "1,200") == 1.0  # commas are removed before the search
    assert OFF.score(replace(samples["5"], answer="2.5"), "2.5m") == 1.0
    assert OFF.score(replace(samples["5"], answer="5"), ".5") == 1.0  # '.5' has no leading digit: the number is 5
    zero = replace(samples["5"], answer="0")  # absolute_distance has no threshold: exact 0 only
    assert OFF.score(zero, "0") == 1.0 and OFF.score(zero, "0.1") == 0.0
    # the official dispatch is the answer type: an unknown category is scored normally
    other = replace(samples["5"], question_type="relative_direction_angular", answer="30")
    assert OFF.score(other, "30") == 1.0


# ---------------------------------------------------------------------------------------------------------------
# paper scorer


@pytest.mark.parametrize(
    ("pred", "expected"),
    [
        ("B", 1.0),
        ("(B)", 1.0),
        ("B.", 1.0),
        ("B)", 0.0),  # no pattern; first token "B)" has two characters and is returned as it is
        (" B", 1.0),  # stripped first
        ("\\boxed{B}", 1.0),
        ("b", 1.0),  # one-letter first token, upper-cased
        ("object 2", 1.0),  # equals option B's text
        ("I think B", 0.0),  # first token "I" is returned
        ("a. no", 0.0),  # "a." matches X. case-insensitively -> A
        ("", 0.0),
        (None, 0.0),
    ],
)
def test_paper_multiple_choice(samples: dict[str, Sample], pred: str | None, expected: float) -> None:
    assert PAP.score(samples["1"], pred) == expected


def test_paper_numbers(samples: dict[str, Sample]) -> None:
    s = samples["5"]  # gt 4.0
    assert PAP.score(s, "between 2.9 and 4") == pytest.approx(0.5)  # the FIRST number (2.9): rel 0.275
    assert PAP.score(s, "\\boxed{4} (not 7)") == 1.0  # boxed number first
    assert PAP.score(s, "four") == 0.0  # float('four') fails
    assert PAP.score(s, "inf") == 0.0  # float('inf') works; rel is infinite
    assert PAP.score(s, None) == 0.0
    assert PAP.score(replace(s, answer="1200"), "1,200") == 0.0  # first number is 1: rel ~1
    assert PAP.score(replace(s, answer="2.5"), "2.5m") == 1.0
    assert PAP.score(samples["3"], "0.4") == pytest.approx(0.4)  # same zero thresholds as official
    assert PAP.score(samples["8"], "1.5") == 1.0
    # the paper dispatches on the category: one outside its two lists scores 0
    other = replace(s, question_type="relative_direction_angular", answer="30")
    assert PAP.score(other, "30") == 0.0


# ---------------------------------------------------------------------------------------------------------------
# aggregation

# row -> prediction; official / paper per-sample scores in the comments
PREDICTIONS = {
    "0": "A",  # 1 / 1
    "1": "I think B",  # 0 / 0
    "2": "c",  # 0 (lower case) / 1
    "3": "0.2",  # 1 / 1 (gt 0, below 0.30)
    "4": "2.34",  # 0.7 / 0.7
    "5": "between 2.9 and 4",  # 1 (last number) / 0.5 (first number)
    "6": "11.2",  # 0.8 / 0.8
    "7": "four",  # 0 / 0
    "8": "1.5",  # 1 / 1 (gt 0, below 2.0)
}
OFFICIAL_OVERALL = (1 + 0 + 0 + 1 + 0.7 + 1 + 0.8 + 0 + 1) / 9  # mean over samples = 5.5 / 9
PAPER_OVERALL = (1 + 0 + 1 + 1 + 0.7 + 0.5 + 0.8 + 0 + 1) / 9  # 6.0 / 9


def _scored(samples: dict[str, Sample], scoring: str) -> list[Scored]:
    return score_samples(list(samples.values()), {samples[k].id: v for k, v in PREDICTIONS.items()}, scoring)  # type: ignore[arg-type]


def test_official_aggregate(samples: dict[str, Sample]) -> None:
    agg = OFF.aggregate(_scored(samples, "official"))
    assert agg.n == 9 and agg.scored == 9
    assert agg.overall == pytest.approx(OFFICIAL_OVERALL)
    assert agg.per_task == pytest.approx(
        {
            "trajectory_description": 1.0,
            "relative_distance": 0.0,
            "relative_direction_categorical_ordinal": 0.0,
            "absolute_speed": 1.0,
            "absolute_displacement": 0.7,
            "absolute_distance": 1.0,
            "object_3d_localization": 0.8,
            "depth_aware_counting": 0.0,
            "trajectory_length": 1.0,
        }
    )


def test_overall_is_a_mean_over_samples_not_categories(samples: dict[str, Sample]) -> None:
    extra = replace(samples["5"], source_id="99")  # a second absolute_distance sample, scored 0
    items = [*_scored(samples, "official"), Scored(extra, "", 0.0)]
    agg = OFF.aggregate(items)
    assert agg.overall == pytest.approx(5.5 / 10)
    assert agg.per_task["absolute_distance"] == pytest.approx(0.5)


def test_paper_aggregate(samples: dict[str, Sample]) -> None:
    agg = PAP.aggregate(_scored(samples, "paper"))
    assert agg.overall == pytest.approx(PAPER_OVERALL)
    assert agg.per_task["relative_direction_categorical_ordinal"] == 1.0
    assert agg.per_task["absolute_distance"] == pytest.approx(0.5)


def test_results_block_and_empty_aggregate(samples: dict[str, Sample]) -> None:
    res = build_results(_scored(samples, "official"), "official", n_resamples=50)
    block = res["benchmarks"]["osibench"]
    assert block["overall"] == pytest.approx(OFFICIAL_OVERALL) and block["ci95"] is not None
    assert block["by_category"]["relational"]["n"] == 3
    assert OFF.aggregate([]).overall is None and PAP.aggregate([]).overall is None


def test_cli_score(data_root: Path) -> None:
    for scoring, overall in (("official", OFFICIAL_OVERALL), ("paper", PAPER_OVERALL)):
        got = score_cli_json("osibench", data_root, PREDICTIONS, scoring)
        assert got["n"] == 9
        assert got["overall"] == pytest.approx(overall)
        assert got["per_task"]["trajectory_description"] == 1.0


def test_module_helpers() -> None:
    assert osibench.official_option("C, because") == "C"
    assert osibench.official_number("x=-3.5 or +2") == 2.0
    assert osibench.paper_number(".5") == 5.0
    assert osibench.paper_options(["A) left", "right"]) == {"A": "left", "B": "right"}
