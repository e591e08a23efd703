"""MindCube: the loader on the replica of the unzipped data.zip, and both scorings (MindCube's released evaluation
and SpatialClaw's) on hand-made predictions, with the expectations derived from the released code."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from bench_testing import assert_missing_names_download, loaded_by_id, replica_root, score_cli_json
from replicas import flat_inputs
from replicas import mindcube as replica
from spatial_common.contract import validate
from spatial_eval.benchmarks.mindcube import official_letter, paper_letter, setting_of
from spatial_eval.cli import load_benchmark
from spatial_eval.registry import get
from spatial_eval.types import Sample, Scored

BENCH = get("mindcube")
OFFICIAL = BENCH.scorings["official"]
PAPER = BENCH.scorings["paper"]


@pytest.fixture(scope="module")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return replica_root(tmp_path_factory, "mindcube")


@pytest.fixture(scope="module")
def samples(data_root: Path) -> dict[str, Sample]:
    return loaded_by_id(BENCH, data_root)


# --- loader ------------------------------------------------------------------------------------------------------


def test_loader_reads_full_file_in_published_order(data_root: Path) -> None:
    loaded = load_benchmark(BENCH, data_root)
    # MindCube.jsonl (7 rows) is preferred over MindCube_tinybench.jsonl (3 rows) in the same folder
    assert [s.source_id for s in loaded.samples] == [r["id"] for r in replica.ROWS]
    assert [s.question_type for s in loaded.samples] == [
        "among",
        "among",
        "around",
        "rotation",
        "translation",
        "other",  # "misc_..." has none of the four setting words
        "around",
    ]


def test_sample_fields_inputs_and_spec(samples: dict[str, Sample], data_root: Path) -> None:
    s = samples["rotation_bedroom2_q3"]
    assert s.answer == "D"
    assert s.choices is None  # the options are inline in the question text
    assert "D. The window" in s.question
    assert s.instruction and "letter" in s.instruction
    assert s.extra["type"] == "three_view"
    assert len(flat_inputs(s)) == 4 and all(i["kind"] == "images" for i in flat_inputs(s))
    base = data_root / "mindcube" / "data"
    assert flat_inputs(s)[0]["path"] == str(base / "other_all_image/rotation/bedroom2/view_0.jpg")
    for sample in samples.values():
        for inp in flat_inputs(sample):
            assert Path(inp["path"]).is_absolute() and Path(inp["path"]).is_file()
        assert sample.media == [Path(i["path"]) for i in flat_inputs(sample)]
        validate("SampleSpec", sample.spec())
        assert sample.id == f"mindcube-{sample.source_id}"


def test_tinybench_used_when_full_file_absent(tmp_path: Path) -> None:
    replica.write(tmp_path)
    (tmp_path / "mindcube/data/raw/MindCube.jsonl").unlink()
    loaded = load_benchmark(BENCH, tmp_path)
    assert [s.source_id for s in loaded.samples] == [r["id"] for r in replica.TINY]


def test_search_order_prefers_top_folder(tmp_path: Path) -> None:
    # SpatialClaw searches ".", "raw", "data/raw" in that order, each for MindCube.jsonl then the tinybench file
    replica.write(tmp_path)
    replica.write_jsonl(tmp_path / "mindcube" / "MindCube_tinybench.jsonl", replica.ROWS[:2])
    loaded = load_benchmark(BENCH, tmp_path)
    assert len(loaded.samples) == 2


def test_bad_rows_are_problems(tmp_path: Path) -> None:
    replica.write(tmp_path)
    path = tmp_path / "mindcube/data/raw/MindCube.jsonl"
    no_images = dict(replica.ROWS[0], id="among_bad_q9", images=[])
    lines = path.read_text().splitlines()
    lines.insert(1, "{not json")
    lines.append(json.dumps(no_images))
    lines.append(json.dumps(replica.ROWS[0]))  # a duplicate id
    path.write_text("\n".join(lines) + "\n")
    loaded = load_benchmark(BENCH, tmp_path)
    assert len(loaded.samples) == 7
    assert len(loaded.problems) == 3
    assert loaded.problems[0].where == "MindCube.jsonl:2"
    assert "images" in loaded.problems[1].message and loaded.problems[1].source_id == "among_bad_q9"
    assert "duplicate" in loaded.problems[2].message


def test_missing_folder_and_zipped_snapshot(tmp_path: Path) -> None:
    assert_missing_names_download(
        BENCH,
        tmp_path,
        "MLL-Lab/MindCube",
        "unzip the downloaded data.zip",
        lambda f: (f / "data.zip").write_bytes(b"PK"),
    )


def test_missing_gt_answer_is_unscored(tmp_path: Path) -> None:
    replica.write(tmp_path)
    row = dict(replica.ROWS[0], id="among_nogt_q0")
    del row["gt_answer"]
    replica.write_jsonl(tmp_path / "mindcube/data/raw/MindCube.jsonl", [row])
    (s,) = load_benchmark(BENCH, tmp_path).samples
    assert s.answer is None
    # the released evaluation skips rows without gt_answer
    assert OFFICIAL.score(s, "A") is None and PAPER.score(s, "A") is None


def test_setting_of() -> None:
    assert setting_of("among_group002_q0_1_1") == "among"
    assert setting_of("Around_X_among") == "around"  # lowercased; around is tested first
    assert setting_of("misc") == "other"
    assert setting_of(None) == "other"


# --- official scoring (mll-lab-nu/MindCube extractors.py + evaluator.py) -----------------------------------------


@pytest.mark.parametrize(
    ("prediction", "expected"),
    [
        ("C", 1.0),  # line-start pattern (?:^|\n)(?:Answer: )?([A-E])(?:\.|$|\s)
        ("C.", 1.0),  # first rule: last "X."
        ("(C)", 1.0),  # last resort: first standalone A-E of the last line
        ("C)", 1.0),  # same last resort
        (" C", 1.0),  # same last resort
        ("\\boxed{C}", 1.0),  # "C" between braces is a standalone letter
        ("c", 0.0),  # lowercase letters are never read
        ("C. Diagonally forward and left", 1.0),
        ("Diagonally forward and left", 0.0),  # option text alone: no standalone capital A-E
        ("<Answer>C</Answer>", 1.0),  # tag section "C" -> \b([A-E])\b
        ("The answer is B. No wait, C", 0.0),  # the last "X." (B.) wins over the later bare C
        ("I choose C. NONE.", 0.0),  # "NONE." ends in "E." (no word boundary needed): read as E
        ("my answer is C", 1.0),  # phrasing pattern
        ("", 0.0),
        ("   ", 0.0),
        (None, 0.0),
        ("???", 0.0),
    ],
)
def test_official_score(samples: dict[str, Sample], prediction: str | None, expected: float) -> None:
    s = samples["among_group001_q0_1_1"]  # gt_answer "C"
    assert OFFICIAL.score(s, prediction) == expected


def test_official_letter_priority() -> None:
    assert official_letter("A. Above\nB. Under") == "B"  # last "X." overall
    assert official_letter("Answer: D is my pick") == "D"  # \bAnswer:?\s*([A-E])\b
    assert official_letter("first line B\nsecond line A and C") == "A"  # first standalone of the last line
    assert official_letter("nothing here") is None


def test_official_translation_scored_but_not_in_overall(samples: dict[str, Sample]) -> None:
    s = samples["translation_bedroom3_q1"]  # gt "B"
    assert OFFICIAL.score(s, "B. Right") == 1.0


# --- paper scoring (SpatialClaw spatial_agent/evals/mindcube.py) -----------------------------------------------


@pytest.mark.parametrize(
    ("prediction", "expected"),
    [
        ("C", 1.0),  # last standalone letter
        ("C.", 1.0),
        ("(C)", 1.0),
        ("C)", 1.0),
        (" C", 1.0),  # the prediction is stripped first
        ("\\boxed{c}", 1.0),  # boxed is case-insensitive and uppercased (official reads nothing here)
        ("c", 0.0),  # a bare lowercase letter is not read
        ("I choose C. NONE.", 1.0),  # "E." in NONE has no word boundary before E: only "C." counts
        ("<answer>The final is C</answer>", 1.0),  # lowercase tag accepted, \b([A-E])\b inside
        ("The answer is B. No wait, C", 0.0),  # last "X." at a word boundary: B
        ("Diagonally forward and left", 0.0),
        ("", 0.0),
        (None, 0.0),
    ],
)
def test_paper_score(samples: dict[str, Sample], prediction: str | None, expected: float) -> None:
    s = samples["among_group001_q0_1_1"]
    assert PAPER.score(s, prediction) == expected


def test_paper_skips_translation(samples: dict[str, Sample]) -> None:
    assert PAPER.score(samples["translation_bedroom3_q1"], "B") is None
    assert paper_letter("the answer is: D. behind") == "D"


def test_paper_gt_is_stripped_and_uppercased(samples: dict[str, Sample]) -> None:
    s = replace(samples["among_group001_q0_1_1"], answer=" c ")
    assert PAPER.score(s, "C") == 1.0
    assert OFFICIAL.score(s, "C") == 0.0  # official compares with gt_answer exactly as published


# --- aggregation -------------------------------------------------------------------------------------------------


def _items(samples: dict[str, Sample], scoring) -> list[Scored]:  # noqa: ANN001
    preds = {
        "among_group001_q0_1_1": "C.",  # correct
        "among_group001_q1_2_1": "B.",  # wrong (gt A)
        "around_a81f0c_q0": "B.",  # correct
        "rotation_bedroom2_q3": "A.",  # wrong (gt D)
        "translation_bedroom3_q1": "B.",  # correct
        "misc_bedroom4_q0": "A.",  # correct (other)
        "around_c22e91_q5": "E.",  # correct
    }
    return [Scored(samples[k], p, scoring.score(samples[k], p)) for k, p in preds.items()]


def test_official_aggregate(samples: dict[str, Sample]) -> None:
    agg = OFFICIAL.aggregate(_items(samples, OFFICIAL))
    # among 1/2, around 2/2, rotation 0/1, translation 1/1 (reported), other 1/1
    assert agg.per_task == {"around": 1.0, "rotation": 0.0, "translation": 1.0, "among": 0.5, "other": 1.0}
    # overall leaves translation out: (1 + 0 + 1 + 0 + 1 + 1) correct / 6 rows
    assert agg.overall == pytest.approx(4 / 6)
    assert agg.n == 7 and agg.scored == 7
    assert any("translation" in n for n in agg.notes)


def test_paper_aggregate(samples: dict[str, Sample]) -> None:
    agg = PAPER.aggregate(_items(samples, PAPER))
    assert agg.per_task == {"around": 1.0, "rotation": 0.0, "among": 0.5, "other": 1.0}
    assert agg.overall == pytest.approx(4 / 6)
    assert agg.scored == 6  # translation unscored
    assert PAPER.aggregate([]).overall is None


def test_cli_score(data_root: Path) -> None:
    preds = {
        "among_group001_q0_1_1": "C. Diagonally forward and left",
        "around_a81f0c_q0": "A",
        "translation_bedroom3_q1": "B",
    }
    result = score_cli_json("mindcube", data_root, preds)  # no --scoring: official
    assert result["n"] == 3
    assert result["per_task"] == {"around": 0.0, "translation": 1.0, "among": 1.0}
    assert result["overall"] == pytest.approx(0.5)  # (1 + 0) / 2, translation excluded
