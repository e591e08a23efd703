"""VSI-Bench replica: ``vsibench/test.jsonl`` and ``test_debiased.parquet`` in the official fields, with
``<dataset>/<scene_name>.mp4`` videos cut from the real bedroom video. Rows are real questions from
test/fixtures/vsibench_questions (Video-R1 format, rewritten to the official fields; problem_id as id)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from .media import write_video

QUESTIONS = Path(__file__).resolve().parents[2] / "fixtures" / "vsibench_questions" / "eval_vsibench.json"


def official_rows() -> list[dict[str, Any]]:
    """All 5130 vendored questions in VSI-Bench's official fields."""
    out = []
    for r in json.loads(QUESTIONS.read_text(encoding="utf-8")):
        m = re.fullmatch(r"\./([a-z]+)/(.+)\.mp4", r["path"])
        assert m, r["path"]
        gt = re.fullmatch(r"<answer>(.*)</answer>", r["solution"], re.S)
        assert gt, r["solution"]
        out.append(
            {
                "id": int(r["problem_id"]),
                "dataset": m.group(1),
                "scene_name": m.group(2),
                "question_type": r["original_question_type"],
                "question": r["problem"],
                "options": r["options"],
                "ground_truth": gt.group(1).strip(),
            }
        )
    return out


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def write_parquet(path: Path, rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), path)


def pick(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row of each of the 10 question types (the first in file order)."""
    seen: dict[str, dict[str, Any]] = {}
    for r in rows:
        seen.setdefault(r["question_type"], r)
    return list(seen.values())


def write(data_root: Path) -> None:
    rows = pick(official_rows())
    root = data_root / "vsibench"
    write_jsonl(root / "test.jsonl", rows)
    write_parquet(root / "test_debiased.parquet", rows[:6])
    for i, (dataset, scene) in enumerate(sorted({(r["dataset"], r["scene_name"]) for r in rows})):
        write_video(root / dataset / f"{scene}.mp4", seconds=1.5, fps=10, start=20 * i)
