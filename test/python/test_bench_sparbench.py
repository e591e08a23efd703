"""SPAR-Bench: the loader on the replica (two parquet shards, images embedded) and both scorings against the released
code (the SPAR authors' lmms-eval ``tasks/sparbench/utils.py``, LogosRoboticsGroup/SPAR at 1cc04758, for
``official``; SpatialClaw ``evals/sparbench.py`` at b062f829 for ``paper``)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from bench_testing import assert_missing_names_download, loaded_by_id, score_cli_json, write_replica
from replicas import flat_inputs
from replicas import sparbench as replica
from spatial_common.contract import validate
from spatial_eval.cli import default_cache_dir, load_benchmark, status
from spatial_eval.registry import get
from spatial_eval.results import score_samples
from spatial_eval.types import Sample, Scored

BENCH = get("sparbench")
OFFICIAL = BENCH.scorings["official"]
PAPER = BENCH.scorings["paper"]


@pytest.fixture()
def root(tmp_path: Path) -> Path:
    return write_replica("sparbench", tmp_path)


@pytest.fixture()
def samples(root: Path) -> dict[str, Sample]:
    return loaded_by_id(BENCH, root)


# ---- loading ----------------------------------------------------------------------------------------------------


def test_loads_both_shards_in_file_order(root: Path) -> None:
    loaded = load_benchmark(BENCH, root)
    assert [s.source_id for s in loaded.samples] == [str(i) for i in range(8)]
    assert [len(flat_inputs(s)) for s in loaded.samples] == [1, 3, 1, 3, 2, 2, 1, 1]
    cache = default_cache_dir(root).resolve() / "sparbench"
    for s in loaded.samples:
        validate("SampleSpec", s.spec())
        assert s.id == f"sparbench-{s.source_id}" and s.choices is None
        assert s.media == [Path(i["path"]) for i in flat_inputs(s)]
        for i in flat_inputs(s):
            p = Path(i["path"])
            assert i["kind"] == "images" and p.is_absolute() and p.is_file() and p.parent == cache


def test_fields_follow_the_published_rows(samples: dict[str, Sample]) -> None:
    rows = {str(r["id"]): r for r in replica.rows()}
    for sid, s in samples.items():
        r = rows[sid]
        assert s.question == r["question"] and s.answer == r["answer"] and s.question_type == r["task"]
        assert s.extra == {"img_type": r["img_type"], "format_type": r["format_type"], "source": "scannet"}
        # the embedded bytes are written as they are
        assert [Path(i["path"]).read_bytes() for i in flat_inputs(s)] == [c["bytes"] for c in r["image"]]
    assert samples["0"].category == "Low" and samples["4"].category == "Middle" and samples["5"].category == "Middle"
    assert samples["2"].category == "High"
    assert "letter" in (samples["2"].instruction or "") and "number" in (samples["0"].instruction or "")
    assert "action:value" in (samples["5"].instruction or "")
    assert BENCH.published_count == 7211 and BENCH.settings == {}


def test_replica_checks_as_partial_and_decodes(root: Path) -> None:
    st = status(BENCH, root, open_files=True)
    assert st["state"] == "partial" and st["samples"] == 8 and st["problem_count"] == 0
    assert st["media_files"] == 10  # frames 0..9 each once (repeated frames hash to the same file)


def _write(tmp_path: Path, rows: list[dict]) -> None:
    replica.write_shard(tmp_path / "sparbench" / "data" / "test-00000-of-00001.parquet", rows)


def test_bad_rows_are_problems_not_crashes(tmp_path: Path) -> None:
    rows = replica.rows()
    bad = [
        rows[0],
        {**rows[1], "task": "made_up"},
        {**rows[2], "answer": None},
        {**rows[3], "image": []},
        {**rows[4], "image": [{"bytes": None, "path": "x.jpg"}]},
        {**rows[5], "id": 0},  # duplicate
    ]
    _write(tmp_path, bad)
    loaded = load_benchmark(BENCH, tmp_path)
    assert [s.source_id for s in loaded.samples] == ["0"]
    msgs = [p.message for p in loaded.problems]
    assert any("unknown task 'made_up'" in m for m in msgs)
    assert any("'answer'" in m for m in msgs)
    assert any("'image'" in m for m in msgs)
    assert any("image 0 has no bytes" in m for m in msgs)
    assert any("duplicate id 0" in m for m in msgs)
    assert [p.where for p in loaded.problems][0] == "test-00000-of-00001.parquet row 1"


def test_a_missing_folder_or_data_names_the_download(tmp_path: Path) -> None:
    assert_missing_names_download(
        BENCH, tmp_path, "jasonzhango/SPAR-Bench", r"data/test-\*\.parquet", lambda f: (f / "data").mkdir()
    )


def test_a_broken_shard_is_reported(tmp_path: Path) -> None:
    p = tmp_path / "sparbench" / "data" / "test-00000-of-00001.parquet"
    p.parent.mkdir(parents=True)
    p.write_bytes(b"not parquet")
    st = status(BENCH, tmp_path)
    assert st["state"] == "broken" and "not a readable parquet file" in st["message"]


def test_image_column_may_hold_a_single_cell(tmp_path: Path) -> None:
    r = replica.rows()[0]
    schema = pa.schema([(f.name, f.type if f.name != "image" else replica.IMAGE) for f in replica.SCHEMA])
    p = tmp_path / "sparbench" / "data" / "test-00000-of-00001.parquet"
    p.parent.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist([{**r, "image": r["image"][0]}], schema=schema), p)
    s = load_benchmark(BENCH, tmp_path).samples[0]
    assert len(flat_inputs(s)) == 1 and Path(flat_inputs(s)[0]["path"]).read_bytes() == r["image"][0]["bytes"]


# ---- per-sample scoring: multiple choice ---------------------------------------------------------------------------

# sample "2": obj_spatial_relation_oo, gt "B"; option B is "below and to the right"
OFFICIAL_MC = {
    "B": 1.0,
    "b": 1.0,  # lowercased equality
    "B.": 1.0,  # 'b.' is not in 'b', but its first character is
    "B)": 1.0,
    "(B)": 0.0,  # first character '('
    " B": 0.0,  # nothing is stripped: first character ' '
    "\nB": 0.0,
    "\\boxed{B}": 0.0,
    "Because the pillow is lower": 1.0,  # first character 'b' == 'b'
    "below and to the right": 1.0,  # the option text starts with 'b' (by chance)
    "C. above and to the right": 0.0,
    "the answer is B": 0.0,
    "A": 0.0,
    "": 1.0,  # '' in 'b' is True
    None: 1.0,  # a missing prediction is read as blank
}
PAPER_MC = {
    "B": 1.0,
    "b": 1.0,
    "B.": 1.0,  # \(?X\)?[.:)]
    "B)": 1.0,
    "(B)": 1.0,
    " B": 1.0,  # stripped
    "\\boxed{B}": 1.0,
    "Because the pillow is lower": 1.0,  # no X before . : ); its A-D letters are 'B','c','a' (not one); leading 'B'
    "below and to the right": 1.0,  # same: leading 'b'
    "the bed.": 0.0,  # 'd.' matches \(?X\)?[.:)] first -> 'D'
    "answer: b": 0.0,  # no X followed by . : ) ; letters 'a','b' -> two; leading 'a' -> 'A'
    "the answer is B": 0.0,  # A-D letters 'a','B' (two); leading 't' -> the whole text, which is not 'b'
    "": 0.0,  # blank scores 0 here
    None: 0.0,
}


@pytest.mark.parametrize(("pred", "want"), list(OFFICIAL_MC.items()))
def test_official_multiple_choice(samples: dict[str, Sample], pred: str | None, want: float) -> None:
    assert OFFICIAL.score(samples["2"], pred) == want


@pytest.mark.parametrize(("pred", "want"), list(PAPER_MC.items()))
def test_paper_multiple_choice(samples: dict[str, Sample], pred: str | None, want: float) -> None:
    assert PAPER.score(samples["2"], pred) == want


# ---- numbers ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sid", "pred", "official", "paper"),
    [
        ("0", "1.5", 1.0, 1.0),  # depth_prediction_oc, gt 1.5
        ("0", "1.5 meters", 1.0, 1.0),
        ("0", "about 1.5m", 1.0, 1.0),
        ("0", "-1.5", 1.0, 1.0),  # no sign in the pattern
        ("0", "from 2 to 1.5", 0.4, 0.4),  # single view: the FIRST number, 2: 0.5/1.5 = 0.333 passes .50 .55 .60 .65
        ("0", "one point five", 0.0, 0.0),  # no digits: IndexError -> 0 (official), None -> 0 (paper)
        ("0", "1,5", 0.4, 0.4),  # the first number is 1: |1-1.5|/1.5 = 0.333 passes t = .50 .55 .60 .65
        ("0", "", 0.0, 0.0),
        ("0", None, 0.0, 0.0),
        ("1", "from 3 to 2.0", 1.0, 1.0),  # distance_prediction_oo_mv, gt 2.0: the LAST number
        ("1", "2.0, not 3", 0.1, 0.1),  # last is 3: 1/2 = 0.5 <= 1 - 0.5 only
        ("1", "", 0.0, 0.0),  # official: -1 -> |-1-2|/2 = 1.5 fails all; paper: no number -> 0
        ("7", "2.5", 0.7, 0.7),  # distance_prediction_oc, gt 3.0: 0.5/3 = 0.167 passes .50 ... .80
    ],
)
def test_numeric(samples: dict[str, Sample], sid: str, pred: str | None, official: float, paper: float) -> None:
    assert OFFICIAL.score(samples[sid], pred) == pytest.approx(official)
    assert PAPER.score(samples[sid], pred) == pytest.approx(paper)


def test_zero_and_non_numeric_ground_truth(samples: dict[str, Sample]) -> None:
    zero = dataclasses.replace(samples["0"], answer="0")
    # target 0: abs_dist_norm is the absolute error |0.22| -> 0.22 <= 1-t for t = .50 ... .75 (both codes)
    assert OFFICIAL.score(zero, "0.22") == pytest.approx(0.6)
    assert PAPER.score(zero, "0.22") == pytest.approx(0.6)
    assert OFFICIAL.score(zero, "0") == 1.0 and PAPER.score(zero, "0") == 1.0
    odd = dataclasses.replace(samples["0"], answer="n/a")
    # official: to_float('n/a') is None -> TypeError inside the try -> 0; paper: float() fails -> target 0.0,
    # so |0.12 - 0| = 0.12 passes t = .50 ... .85 (8 of 10)
    assert OFFICIAL.score(odd, "0.12") == 0.0
    assert PAPER.score(odd, "0.12") == pytest.approx(0.8)


# ---- view_change_infer ------------------------------------------------------------------------------------------

# sample "5": gt "move_right:0.5,move_forward:1.0,rotate_left:20"
VCI = [
    ("move_right:0.5,move_forward:1.0,rotate_left:20", 1.0, 1.0),
    # spaces after commas stay in official's keys: ' move_forward' and ' rotate_left' are unknown, so forward and
    # rotate read 0: forward |1-0| (absolute, the prediction 0 is the divisor) fails, rotate |-20-0| fails:
    # (1 + 1 + 0 + 0 + 1)/5; the paper removes spaces first
    ("move_right:0.5, move_forward:1.0, rotate_left:20", 0.6, 1.0),
    # official divides by the prediction: right |0.5-1|/1 = 0.5 passes t=.50 only (0.1); paper divides by the gt:
    # |1-0.5|/0.5 = 1 fails; the other axes are exact (paper: its turn_* axes are 0 on both sides)
    ("move_right:1.0,move_forward:1.0,rotate_left:20", (0.1 + 4) / 5, 0.8),
    # no rotation: official's rotate axis |-20 - 0| fails (0.8); the paper never reads rotate_* keys (1.0)
    ("move_right:0.5,move_forward:1.0", 0.8, 1.0),
    # a trailing comma makes an empty piece: official's parse raises -> 0; the paper skips it
    ("move_right:0.5,move_forward:1.0,rotate_left:20,", 0.0, 1.0),
    # the paper's own vocabulary: official does not know turn_* (rotate axis 0 vs -20 fails); the paper compares
    # turn right-left -20 against the gt's 0: |-20| absolute fails
    ("turn_left:20,move_right:0.5,move_forward:1.0", 0.8, 0.8),
    # garbage / blank: official's parse fails -> 0; the paper reads every axis as 0: right and forward fail, up and the
    # two turn axes are 0 vs 0 -> 3/5
    ("I don't know", 0.0, 0.6),
    ("", 0.0, 0.6),
    (None, 0.0, 0.6),
]


@pytest.mark.parametrize(("pred", "official", "paper"), VCI)
def test_view_change_infer(samples: dict[str, Sample], pred: str | None, official: float, paper: float) -> None:
    assert OFFICIAL.score(samples["5"], pred) == pytest.approx(official)
    assert PAPER.score(samples["5"], pred) == pytest.approx(paper)


# ---- aggregation ------------------------------------------------------------------------------------------------

PREDS: dict[str, str | None] = {
    "0": "1.5",  # depth_prediction_oc: 1 / 1
    "1": "",  # distance_prediction_oo_mv: 0 / 0
    "2": "",  # obj_spatial_relation_oo: official 1 (blank is in every target), paper 0
    "3": "A.",  # spatial_imagination_oc_mv, gt A: 1 / 1
    "4": "(C)",  # position_matching, gt C: official 0 (first char '('), paper 1
    "5": "move_right:1.0,move_forward:1.0,rotate_left:20",  # view_change_infer: 0.82 / 0.8
    "6": "D",  # distance_infer_center_oo: 1 / 1
    "7": "2.5",  # distance_prediction_oc, gt 3.0: 0.7 / 0.7
}
OFFICIAL_TASKS = {
    "depth_prediction_oc": 1.0,
    "distance_prediction_oo_mv": 0.0,
    "obj_spatial_relation_oo": 1.0,
    "spatial_imagination_oc_mv": 1.0,
    "position_matching": 0.0,
    "view_change_infer": 0.82,
    "distance_infer_center_oo": 1.0,
    "distance_prediction_oc": 0.7,
}


def _scored(samples: dict[str, Sample], scoring: str, preds: dict[str, str | None] = PREDS) -> list[Scored]:
    chosen = [samples[k] for k in preds]
    return score_samples(chosen, {samples[k].id: v for k, v in preds.items()}, scoring)  # type: ignore[arg-type]


def test_official_overall_and_levels(samples: dict[str, Sample]) -> None:
    agg = OFFICIAL.aggregate(_scored(samples, "official"))
    # overall = mean of the 8 task means = 5.52 / 8; Low = (1 + 0 + 0.7)/3; Middle = position_matching alone
    # (view_change_infer's key 'view_change_infer_vci_metric' splits to 'view_change_infer_vci', in no level);
    # High = (1 + 1 + 1)/3
    assert agg.overall == pytest.approx(5.52 / 8)
    assert agg.per_task == pytest.approx({**OFFICIAL_TASKS, "Low": 1.7 / 3, "Middle": 0.0, "High": 1.0})
    assert agg.n == 8 and agg.scored == 8
    assert any("1 blank multiple-choice predictions scored 1" in n for n in agg.notes)
    assert any("not in the Middle level" in n for n in agg.notes)
    assert any("8 of 20 tasks" in n for n in agg.notes)


def test_paper_overall_and_levels(samples: dict[str, Sample]) -> None:
    agg = PAPER.aggregate(_scored(samples, "paper"))
    tasks = {
        **OFFICIAL_TASKS,
        "obj_spatial_relation_oo": 0.0,
        "position_matching": 1.0,
        "view_change_infer": 0.8,
    }
    # overall = 5.5 / 8; Middle includes view_change_infer here: (1 + 0.8)/2; High (0 + 1 + 1)/3
    assert agg.overall == pytest.approx(5.5 / 8)
    assert agg.per_task == pytest.approx({**tasks, "Low": 1.7 / 3, "Middle": 0.9, "High": 2 / 3})


def test_overall_is_a_mean_of_task_means_not_of_samples(samples: dict[str, Sample]) -> None:
    s0 = samples["0"]
    extra = [dataclasses.replace(s0, source_id=f"x{i}") for i in range(3)]  # 4 depth questions, all right
    items = [Scored(s, "1.5", 1.0) for s in [s0, *extra]] + [Scored(samples["6"], "A", 0.0)]
    for scoring in (OFFICIAL, PAPER):
        agg = scoring.aggregate(items)
        assert agg.overall == pytest.approx(0.5)  # (1 + 0) / 2, where the sample mean would be 0.8
        assert agg.per_task["Low"] == 1.0 and agg.per_task["High"] == 0.0
    assert any("level Middle: no task present" in n for n in OFFICIAL.aggregate(items).notes)


def test_unscored_without_ground_truth(samples: dict[str, Sample]) -> None:
    s = dataclasses.replace(samples["0"], answer=None)
    assert OFFICIAL.score(s, "1") is None and PAPER.score(s, "1") is None
    assert OFFICIAL.aggregate([Scored(s, "1", None)]).overall is None
    assert PAPER.aggregate([Scored(s, "1", None)]).overall is None


def test_score_cli(root: Path) -> None:
    preds = {int(k): v for k, v in PREDS.items()}  # ids as published: integers
    for scoring, want in (("official", 5.52 / 8), ("paper", 5.5 / 8)):
        got = score_cli_json("sparbench", root, preds, scoring)
        assert got["n"] == 8
        assert got["overall"] == pytest.approx(want)
        assert got["per_task"]["view_change_infer"] == pytest.approx(0.82 if scoring == "official" else 0.8)
