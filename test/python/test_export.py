"""The export writer (python-eval/spatial_eval/export.py, ``python -m spatial_eval export``): rows checked against the
columns, written as JSON Lines, Parquet and CSV, and read back with pandas."""

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from spatial_eval.export import COLUMNS, LIST_COLUMNS, SCHEMA, read_rows, write_export


def _row(i: int, **over):
    r = {
        "id": f"q{i}",
        "benchmark": "vsibench",
        "source_id": str(100 + i),
        "question_type": "object_counting",
        "category": None,
        "question": f'How many chairs, "really", in room {i}?\nCount them.',
        "choices": ["A. 1", "B. 2"],
        "answer": 4,
        "ground_truth": 4.0,
        "score": 1.0,
        "correct": True,
        "scoring": "official",
        "answer_source": "return_answer",
        "termination": "answered",
        "error": None,
        "error_class": None,
        "steps": 2,
        "model_calls": 2,
        "parse_failures": 0,
        "prompt_tokens": 200,
        "completion_tokens": 20,
        "reasoning_tokens": None,
        "duration_s": 12.5,
        "tool_failures": 0,
        "fallback_used": False,
        "tags": ["reasoning.wrong_plan"],
        "step_tags": ["3:geometry.wrong_frame_axis_units", "1:perception.pose_error"],
        "notes": ["alice (step 3): frames; mixed up", "bob: fine"],
        "started_at": "2026-12-05T10:00:00.000Z",
        "finished_at": "2026-12-05T10:01:00.000Z",
    }
    r.update(over)
    return r


ROWS = [
    _row(0),
    _row(
        1,
        answer="B",
        ground_truth="A",
        score=0.0,
        correct=False,
        error_class="NameError",
        tool_failures=1,
        tags=[],
        notes=[],
    ),
    _row(
        2,
        benchmark=None,
        question_type=None,
        choices=[],
        answer=None,
        ground_truth=None,
        score=None,
        correct=None,
        termination="error",
        error="kernel could not be prepared",
        error_class="HostError",
        reasoning_tokens=5,
        step_tags=[],
    ),
]


def test_the_columns_match_the_typescript_contract():
    # shared/export.ts ExportRowSchema, in the same order (the integration test checks files written from TS too).
    assert COLUMNS[:3] == ["id", "benchmark", "source_id"]
    assert COLUMNS[-2:] == ["started_at", "finished_at"]
    assert len(COLUMNS) == 30
    assert LIST_COLUMNS == ["choices", "tags", "step_tags", "notes"]


def test_rows_missing_or_adding_columns_are_refused_with_their_names():
    bad = dict(_row(0))
    del bad["tags"]
    bad["colour"] = "red"
    with pytest.raises(
        ValueError, match=r"export row 2 \(q0\): missing columns \['tags'\]; unknown columns \['colour'\]"
    ):
        read_rows([json.dumps(_row(1)), json.dumps(bad)])
    with pytest.raises(ValueError, match="export row 1: not valid JSON"):
        read_rows(["{nope"])
    assert read_rows(["", json.dumps(_row(0)), "  "]) == [_row(0)]


def test_parquet_keeps_lists_and_types(tmp_path):
    out = write_export(ROWS, "parquet", tmp_path / "e.parquet")
    assert out == (tmp_path / "e.parquet").resolve()
    assert pq.read_schema(out).equals(SCHEMA)
    df = pd.read_parquet(out)
    assert list(df.columns) == COLUMNS
    assert list(df["step_tags"][0]) == ["3:geometry.wrong_frame_axis_units", "1:perception.pose_error"]
    assert list(df["tags"][1]) == []
    assert list(df["choices"][2]) == []
    # answer and ground truth: one text column ("4", not "4.0").
    assert df["answer"].tolist()[:2] == ["4", "B"] and df["ground_truth"][0] == "4"
    assert pd.isna(df["answer"][2]) and pd.isna(df["score"][2])
    assert df["score"].tolist()[:2] == [1.0, 0.0]
    assert df["correct"].tolist()[:2] == [True, False]
    assert pq.read_table(out).column("reasoning_tokens").to_pylist() == [None, None, 5]
    assert df["error_class"].tolist()[1:] == ["NameError", "HostError"]


def test_csv_joins_lists_and_reads_back_with_pandas(tmp_path):
    out = write_export(ROWS, "csv", tmp_path / "e.csv")
    df = pd.read_csv(out)
    assert list(df.columns) == COLUMNS
    assert df["step_tags"][0] == "3:geometry.wrong_frame_axis_units; 1:perception.pose_error"
    assert df["notes"][0] == "alice (step 3): frames; mixed up; bob: fine"
    assert df["question"][0] == 'How many chairs, "really", in room 0?\nCount them.'
    assert df["score"].tolist()[:2] == [1.0, 0.0] and pd.isna(df["score"][2])
    assert df["tool_failures"].tolist() == [0, 1, 0]
    assert df["reasoning_tokens"].isna().tolist() == [True, True, False]
    assert df["reasoning_tokens"][2] == 5
    assert df["correct"].tolist()[:2] == [True, False]
    assert pd.isna(df["tags"][1])  # an empty list is an empty cell


def test_jsonl_keeps_the_rows_as_given(tmp_path):
    out = write_export(ROWS, "jsonl", tmp_path / "e.jsonl")
    back = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert back == ROWS
    assert list(back[0]) == COLUMNS
    df = pd.read_json(out, lines=True)
    assert df["tags"][0] == ["reasoning.wrong_plan"]


def test_bad_format_missing_folder_and_a_value_of_the_wrong_type(tmp_path):
    with pytest.raises(ValueError, match="unknown export format 'xlsx'"):
        write_export(ROWS, "xlsx", tmp_path / "e.xlsx")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        write_export(ROWS, "csv", tmp_path / "nope" / "e.csv")
    with pytest.raises(ValueError, match="export column steps"):
        write_export([_row(0, steps="two")], "parquet", tmp_path / "e.parquet")
    # Nothing half-written is left behind.
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_an_empty_run_writes_the_header_only(tmp_path):
    assert pq.read_table(write_export([], "parquet", tmp_path / "e.parquet")).schema.equals(SCHEMA)
    assert pd.read_csv(write_export([], "csv", tmp_path / "e.csv")).columns.tolist() == COLUMNS
    assert write_export([], "jsonl", tmp_path / "e.jsonl").read_text() == ""


def test_the_command_reads_rows_on_stdin(tmp_path):
    out = tmp_path / "e.parquet"
    stdin = "".join(json.dumps(r) + "\n" for r in ROWS)
    r = subprocess.run(
        [sys.executable, "-m", "spatial_eval", "export", "--format", "parquet", "--out", str(out)],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"path": str(out.resolve()), "rows": 3}
    assert pq.read_table(out).num_rows == 3
    bad = subprocess.run(
        [sys.executable, "-m", "spatial_eval", "export", "--format", "csv", "--out", str(out)],
        input='{"id": "x"}\n',
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 2
    assert bad.stderr.startswith("error: export row 1 (x): missing columns")


def test_the_pandas_recipe_of_the_docs_runs_on_an_export(tmp_path):
    # docs/export.md's first python block, with RUN/ pointing at this folder.
    doc = (Path(__file__).resolve().parents[2] / "docs" / "export.md").read_text(encoding="utf-8")
    code = doc.split("```python\n", 1)[1].split("```", 1)[0].replace("RUN/", f"{tmp_path}/")
    write_export(ROWS, "parquet", tmp_path / "export.parquet")
    write_export(ROWS, "csv", tmp_path / "export.csv")
    ns: dict = {}
    exec(compile(code, "docs/export.md", "exec"), ns)
    assert ns["steps"][["step", "tag"]].values.tolist() == [
        ["3", "geometry.wrong_frame_axis_units"],
        ["1", "perception.pose_error"],
        ["3", "geometry.wrong_frame_axis_units"],
        ["1", "perception.pose_error"],
    ]
    assert ns["csv"]["tags"].tolist() == [["reasoning.wrong_plan"], [], ["reasoning.wrong_plan"]]
