"""SPBench: the loader on the replica (SPBench-SI frames unpacked, SPBench-MV frames read out of the zip) and both
scorings against the released code (SpatialLadder ``eval_spld/data_utils/vsi_utils.py`` + ``vsibench.py`` at
87320bea for ``official``; SpatialClaw ``evals/spbench.py`` at b062f829 for ``paper``)."""

from __future__ import annotations

import dataclasses
import shutil
import zipfile
from pathlib import Path

import pytest
from bench_testing import assert_missing_names_download, loaded_by_id, score_cli_json, write_replica
from replicas import flat_inputs
from replicas import spbench as replica
from spatial_common.contract import validate
from spatial_eval.cli import default_cache_dir, load_benchmark, status
from spatial_eval.registry import get
from spatial_eval.results import score_samples
from spatial_eval.types import Sample, Scored

BENCH = get("spbench")
OFFICIAL = BENCH.scorings["official"]
PAPER = BENCH.scorings["paper"]


@pytest.fixture()
def root(tmp_path: Path) -> Path:
    return write_replica("spbench", tmp_path)


@pytest.fixture()
def samples(root: Path) -> dict[str, Sample]:
    return loaded_by_id(BENCH, root)


# ---- loading ----------------------------------------------------------------------------------------------------


def test_loads_si_then_mv_in_published_order(root: Path) -> None:
    loaded = load_benchmark(BENCH, root)
    assert [s.source_id for s in loaded.samples] == [
        "SI_1",
        "SI_2",
        "SI_3",
        "SI_4",
        "SI_5",
        "MV_1",
        "MV_2",
        "MV_3",
        "MV_4",
    ]
    assert [s.id for s in loaded.samples][:2] == ["spbench-SI_1", "spbench-SI_2"]
    for s in loaded.samples:
        validate("SampleSpec", s.spec())
        assert s.benchmark == "spbench"
        assert s.category == ("SPBench-SI" if s.source_id.startswith("SI") else "SPBench-MV")
        assert len(flat_inputs(s)) == (1 if s.source_id.startswith("SI") else 8)
        assert s.media == [Path(i["path"]) for i in flat_inputs(s)]
        for i in flat_inputs(s):
            assert i["kind"] == "images" and Path(i["path"]).is_absolute() and Path(i["path"]).is_file()


def test_fields_follow_the_published_rows(samples: dict[str, Sample]) -> None:
    si1 = samples["SI_1"]
    assert si1.question.startswith("If I am standing by the bed")
    assert si1.choices == ["A. left", "B. right", "C. back"] and si1.answer == "A"
    assert si1.question_type == "object_rel_direction" and si1.instruction and "letter" in si1.instruction
    assert si1.extra == {"subset": "SI", "scene_name": "scene0011_00", "dataset": "scannet"}
    si3 = samples["SI_3"]
    assert si3.choices is None and si3.answer == "2.5" and si3.instruction and "number" in si3.instruction
    assert samples["MV_1"].question_type == "object_counting" and samples["MV_1"].answer == "4"
    assert BENCH.published_count == 1009 + 319 and BENCH.settings == {}


def test_si_frames_come_from_the_unpacked_folder_mv_frames_from_the_zip(root: Path, samples: dict[str, Sample]) -> None:
    si = Path(samples["SI_1"].inputs[0]["path"])
    assert si == (root / "spbench" / "SPBench-SI-images" / "scene0011_00" / "200.jpg").resolve()
    cache = default_cache_dir(root) / "spbench" / "SPBench-MV-images" / "scene0025_00"
    mv = [Path(i["path"]) for i in flat_inputs(samples["MV_1"])]
    assert mv[0] == (cache / "0.jpg").resolve() and mv[-1].name == "1050.jpg"
    with zipfile.ZipFile(root / "spbench" / "SPBench-MV-images.zip") as z:
        assert mv[3].read_bytes() == z.read("SPBench-MV-images/scene0025_00/450.jpg")
    # a second load finds the extracted frames in the cache
    again = load_benchmark(BENCH, root).samples
    assert [i["path"] for i in flat_inputs(again[5])] == [str(p) for p in mv]


def test_spatialclaw_flat_layout_is_read_too(root: Path) -> None:
    d = root / "spbench"
    shutil.move(str(d / "SPBench-SI-images" / "scene0011_00"), str(d / "scene0011_00"))
    (d / "SPBench-SI-images.zip").unlink()
    s = load_benchmark(BENCH, root).samples[0]
    assert Path(s.inputs[0]["path"]) == (d / "scene0011_00" / "200.jpg").resolve()


def test_replica_checks_as_partial_and_decodes(root: Path) -> None:
    st = status(BENCH, root, open_files=True)
    assert st["state"] == "partial" and st["samples"] == 9 and st["problem_count"] == 0
    assert st["media_files"] == 3 + 8


def test_missing_frames_are_reported_with_the_download_command(root: Path) -> None:
    d = root / "spbench"
    shutil.rmtree(d / "SPBench-SI-images")
    (d / "SPBench-SI-images.zip").unlink()
    st = status(BENCH, root)
    assert st["state"] == "incomplete" and st["missing_media_count"] == 3
    assert st["missing_media"][0].endswith("SPBench-SI-images/scene0011_00/200.jpg")
    assert "hf download hongxingli/SPBench --repo-type dataset" in st["download"]


def test_bad_rows_are_problems_not_crashes(tmp_path: Path) -> None:
    rows = replica.si_rows()
    bad = [
        rows[0],
        {**rows[1], "question_type": "made_up"},
        {**rows[2], "ground_truth": None},
        {**rows[3], "images": []},
        {**rows[4], "options": None},  # a multiple-choice row without options
        {**rows[0]},  # duplicate id 1
    ]
    replica.write_parquet(tmp_path / "spbench" / "SPBench-SI.parquet", bad)
    loaded = load_benchmark(BENCH, tmp_path)
    assert [s.source_id for s in loaded.samples] == ["SI_1"]
    msgs = [p.message for p in loaded.problems]
    assert any("unknown question_type 'made_up'" in m for m in msgs)
    assert any("ground_truth" in m for m in msgs)
    assert any("images" in m for m in msgs)
    assert any("needs options" in m for m in msgs)
    assert any("duplicate id SI_1" in m for m in msgs)
    assert any("SPBench-MV.parquet is missing" in m for m in msgs)
    assert {p.source_id for p in loaded.problems if p.source_id} >= {"SI_2", "SI_3", "SI_4", "SI_5", "SI_1"}


def test_a_missing_folder_or_both_parquets_name_the_download(tmp_path: Path) -> None:
    assert_missing_names_download(BENCH, tmp_path, "hongxingli/SPBench", "SPBench-SI.parquet")


# ---- per-sample scoring -----------------------------------------------------------------------------------------

# SI_5: gt "B", options A. front-left / B. front-right / C. back-left / D. back-right
OFFICIAL_MC = {
    "B": 1.0,
    "b": 1.0,  # '^[A-D]\.?$' is case-sensitive, so the whole text 'b' is compared; 'b'.lower() == 'b'
    "B.": 1.0,  # the regex allows one '.', then rstrip('.')
    "B. front-right": 1.0,  # first ' ' token 'B.'
    "B is right": 1.0,
    "(B)": 0.0,  # the token does not match; '(b)' != 'b'
    "B)": 0.0,
    "B:": 0.0,
    " B": 1.0,  # first token is '' (no match), then the whole text stripped is 'B'
    "\\boxed{B}": 0.0,
    "front-right": 0.0,  # no option-text matching
    "Answer: B": 1.0,  # 'Answer:' removed -> ' B' -> as above
    "Answer: B.": 0.0,  # -> ' B.' -> first token '' -> whole text 'B.' != 'b'
    "B\nbecause": 0.0,  # only ' ' splits; 'B\nbecause' is neither a letter token nor 'b'
    "<think>left?</think><answer> B. </answer>": 1.0,  # thinking mode: the inside, stripped, is 'B.'
    "<answer>B": 0.0,  # unclosed tag -> 'None'
    "": 0.0,
    None: 0.0,
}
PAPER_MC = {
    "B": 1.0,
    "b": 1.0,  # a one-letter first token of any case
    "B.": 1.0,
    "(B)": 1.0,  # the (X) pattern
    "B:": 1.0,  # the X: pattern
    "B)": 0.0,  # no pattern, first token 'B)' is two characters, not an option text
    " B": 1.0,  # stripped first
    "\\boxed{B}": 1.0,
    "\\boxed{ b }": 1.0,
    "front-right": 1.0,  # option text
    "FRONT-RIGHT": 1.0,
    "Answer: B": 0.0,  # no pattern ('r:' is not [A-D]:), first token 'Answer:', not an option
    "I choose b.": 1.0,  # \b([A-D])\. with re.I finds 'b.'
    "It is c.": 0.0,  # ... and 'c.' here
    "<answer>B</answer>": 0.0,  # no tag handling: no pattern, first token '<answer>B</answer>'
    "": 0.0,
    None: 0.0,
}


@pytest.mark.parametrize(("pred", "want"), list(OFFICIAL_MC.items()))
def test_official_multiple_choice(samples: dict[str, Sample], pred: str | None, want: float) -> None:
    assert OFFICIAL.score(samples["SI_5"], pred) == want


@pytest.mark.parametrize(("pred", "want"), list(PAPER_MC.items()))
def test_paper_multiple_choice(samples: dict[str, Sample], pred: str | None, want: float) -> None:
    assert PAPER.score(samples["SI_5"], pred) == want


def _numeric(answer: str, qtype: str = "object_size_estimation") -> Sample:
    return Sample("spbench", "SI_99", "q", [{"kind": "images", "path": "/x.jpg"}], answer, None, qtype, "SPBench-SI")


@pytest.mark.parametrize(
    ("gt", "pred", "official", "paper"),
    [
        ("2.5", "2.5", 1.0, 1.0),
        ("2.5", "2.5m", 1.0, 1.0),  # the first \d+(\.\d+)? is found inside '2.5m'
        ("2.5", "about 2.5 m", 1.0, 1.0),  # 'about' is not the word 'a'
        ("2.5", "a 2.5 m gap", 0.0, 1.0),  # official reads the word 'a' as 1: |1-2.5|/2.5 = 0.6 fails every t
        # 'two' -> 2: |2-2.5|/2.5 = 0.2 and linspace's 0.8 is 0.8 + 1 ulp, so 1-t < 0.2 there: t = .50 ... .75 pass
        ("2.5", "two point five", 0.6, 0.6),
        ("4", "four", 1.0, 1.0),
        ("4", "4 pillows", 1.0, 1.0),
        ("4", "there are a few, 4", 0.0, 1.0),  # official: 'a' -> 1 (rel. error 0.75); paper has no 'a'
        ("11", "eleven", 1.0, 0.0),  # the paper's words stop at 'ten' and there is no digit
        ("4", "none", 0.0, 0.0),  # 'one' is not a whole word inside 'none'
        ("1200", "1,200", 0.0, 0.0),  # the first number is '1'
        ("1200", "1200", 1.0, 1.0),
        ("3", "-3", 1.0, 1.0),  # no sign in the pattern
        ("200", "155", 0.6, 0.6),  # 45/200 = 0.225 <= 1-t for t = .50 ... .75
        ("2.5", "<answer>2.5</answer>", 1.0, 1.0),  # official cuts the tag; paper's first number is 2.5 too
        ("2.5", "", 0.0, 0.0),
        ("2.5", None, 0.0, 0.0),
        # ground truth 0: the released official code raises ZeroDivisionError (no SPBench row has one); we score 1 for
        # exactly 0 (metrics.vsi_mra); the paper's code scores 0 whenever the ground truth is 0
        ("0", "0", 1.0, 0.0),
        ("0", "1", 0.0, 0.0),
    ],
)
def test_numeric(gt: str, pred: str | None, official: float, paper: float) -> None:
    s = _numeric(gt, "object_counting" if gt in ("4", "11", "3") else "object_size_estimation")
    assert OFFICIAL.score(s, pred) == pytest.approx(official)
    assert PAPER.score(s, pred) == pytest.approx(paper)


def test_unscored_without_ground_truth() -> None:
    s = _numeric("1")
    s.answer = None
    assert OFFICIAL.score(s, "1") is None and PAPER.score(s, "1") is None
    assert OFFICIAL.aggregate([Scored(s, "1", None)]).overall is None


# ---- aggregation ------------------------------------------------------------------------------------------------

PREDS = {
    "SI_1": "A",  # 1 / 1
    "SI_2": "(B)",  # official 0, paper 1
    "SI_3": "2.5m",  # 1 / 1
    "SI_4": "155",  # 0.6 / 0.6
    "SI_5": "b",  # 1 / 1
    "MV_1": "four",  # 1 / 1
    "MV_2": "a distance of 1.2 meters",  # official 'a' -> 1: 0.2/1.2 = 0.167 passes t = .50 ... .80: 0.7; paper 1
    "MV_3": " C",  # 1 / 1
    "MV_4": None,  # 0 / 0
}


def _scored(samples: dict[str, Sample], scoring: str, preds: dict[str, str | None] = PREDS) -> list[Scored]:
    chosen = [samples[k] for k in preds]
    return score_samples(chosen, {samples[k].id: v for k, v in preds.items()}, scoring)  # type: ignore[arg-type]


def test_official_averages_the_two_subset_overalls(samples: dict[str, Sample]) -> None:
    agg = OFFICIAL.aggregate(_scored(samples, "official"))
    # SI: direction (1+1)/2 = 1, rel. distance 0, abs. distance 1, size 0.6 -> (1+0+1+0.6)/4 = 0.65
    # MV: counting 1, abs. distance 0.7, rel. distance 1, direction 0 -> 2.7/4 = 0.675
    assert agg.per_task == pytest.approx(
        {
            "SPBench-SI/object_rel_direction": 1.0,
            "SPBench-SI/object_rel_distance": 0.0,
            "SPBench-SI/object_abs_distance": 1.0,
            "SPBench-SI/object_size_estimation": 0.6,
            "SPBench-SI": 0.65,
            "SPBench-MV/object_counting": 1.0,
            "SPBench-MV/object_abs_distance": 0.7,
            "SPBench-MV/object_rel_distance": 1.0,
            "SPBench-MV/object_rel_direction": 0.0,
            "SPBench-MV": 0.675,
        }
    )
    assert agg.overall == pytest.approx((0.65 + 0.675) / 2)
    assert agg.n == 9 and agg.scored == 9
    assert any("unweighted mean" in n for n in agg.notes)


def test_official_adds_a_missing_direction_task_as_zero(samples: dict[str, Sample]) -> None:
    preds = {"MV_1": "4", "MV_2": "1.2", "MV_3": "C"}  # all right, but MV has no direction question here
    agg = OFFICIAL.aggregate(_scored(samples, "official", preds))
    # the released except-branch sets object_rel_direction_accuracy = 0: (1 + 1 + 1 + 0) / 4
    assert agg.per_task["SPBench-MV/object_rel_direction"] == 0.0
    assert agg.overall == pytest.approx(0.75)
    assert any("counted as a task scoring 0" in n for n in agg.notes)
    assert any("only SPBench-MV present" in n for n in agg.notes)


def test_paper_pools_question_types_across_subsets(samples: dict[str, Sample]) -> None:
    agg = PAPER.aggregate(_scored(samples, "paper"))
    # direction: SI_1 1, SI_5 1, MV_4 0 -> 2/3; rel. distance (1+1)/2; abs. distance (1+1)/2; size 0.6; counting 1
    want_tasks = {
        "object_rel_direction": 2 / 3,
        "object_rel_distance": 1.0,
        "object_abs_distance": 1.0,
        "object_size_estimation": 0.6,
        "object_counting": 1.0,
    }
    assert agg.overall == pytest.approx((2 / 3 + 1 + 1 + 0.6 + 1) / 5)
    # subset sample means: SI (1+1+1+0.6+1)/5, MV (1+1+1+0)/4
    assert agg.per_task == pytest.approx({**want_tasks, "SPBench-SI": 0.92, "SPBench-MV": 0.75})


def test_score_cli(root: Path, samples: dict[str, Sample]) -> None:
    for scoring, want in (("official", (0.65 + 0.675) / 2), ("paper", (2 / 3 + 1 + 1 + 0.6 + 1) / 5)):
        got = score_cli_json("spbench", root, PREDS, scoring)
        assert got["n"] == 9
        assert got["overall"] == pytest.approx(want)


def test_ids_of_the_two_subsets_do_not_collide(samples: dict[str, Sample]) -> None:
    assert samples["SI_1"].answer == "A" and samples["MV_1"].answer == "4"
    copy = dataclasses.replace(samples["SI_1"], source_id="SI_1")
    assert copy.id == "spbench-SI_1"
