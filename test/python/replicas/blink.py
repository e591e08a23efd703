"""BLINK replica: ``blink/<Subtask>/val-00000-of-00001.parquet`` (and a ``test-`` file, which loaders skip) in
BLINK-Benchmark/BLINK's fields (idx, question, sub_task, image_1..image_4 as ``{"bytes", "path"}`` structs or null,
choices, answer ``"(A)"``, prompt, explanation). 4 of the 14 subtasks, 7 val rows with 1-3 images and 2-4 options,
written in the benchmark's style (our own wording); images are real JPEG frames (:mod:`.media`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from .media import image_bytes

_IMAGE = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
SCHEMA = pa.schema(
    [
        ("idx", pa.string()),
        ("question", pa.string()),
        ("sub_task", pa.string()),
        ("image_1", _IMAGE),
        ("image_2", _IMAGE),
        ("image_3", _IMAGE),
        ("image_4", _IMAGE),
        ("choices", pa.list_(pa.string())),
        ("answer", pa.string()),
        ("prompt", pa.string()),
        ("explanation", pa.string()),
    ]
)


def _row(idx: str, sub_task: str, question: str, frames: list[int], choices: list[str], answer: str) -> dict[str, Any]:
    row: dict[str, Any] = {"idx": idx, "question": question, "sub_task": sub_task}
    for k in range(4):
        row[f"image_{k + 1}"] = (
            {"bytes": image_bytes(frames[k], "JPEG"), "path": f"{idx}_{k + 1}.jpg"} if k < len(frames) else None
        )
    options = "\n".join(f"({chr(65 + i)}) {c}" for i, c in enumerate(choices))
    row.update(
        choices=choices,
        answer=answer,
        prompt=f"{question}\nSelect from the following choices.\n{options}",
        explanation="",
    )
    return row


def val_rows() -> dict[str, list[dict[str, Any]]]:
    """Subtask folder -> its val rows, in file order."""
    return {
        "Counting": [
            _row("val_Counting_1", "Counting", "How many pillows are on the bed?", [0], ["0", "1", "2", "3"], "(C)"),
            _row("val_Counting_2", "Counting", "How many lamps are in the room?", [1], ["2", "1", "0", "3"], "(B)"),
        ],
        "Jigsaw": [
            _row(
                "val_Jigsaw_1",
                "Jigsaw",
                "Which piece completes the missing part of the first image?",
                [2, 3, 4],
                ["the second image", "the third image"],
                "(A)",
            ),
        ],
        "Multi-view_Reasoning": [
            _row(
                "val_Multi-view_Reasoning_1",
                "Multi-view Reasoning",
                "The two images are taken by the same camera. Did the camera move left or right?",
                [5, 6],
                ["left", "right"],
                "(B)",
            ),
        ],
        "Relative_Depth": [
            _row(
                "val_Relative_Depth_1",
                "Relative Depth",
                "Two points are circled on the image, labeled by A and B. Which point is closer to the camera?",
                [7],
                ["A is closer", "B is closer"],
                "(A)",
            ),
            _row(
                "val_Relative_Depth_2",
                "Relative Depth",
                "Two points are circled on the image, labeled by A and B. Which point is closer to the camera?",
                [8],
                ["A is closer", "B is closer"],
                "(B)",
            ),
            _row(
                "val_Relative_Depth_3",
                "Relative Depth",
                "Two points are circled on the image, labeled by A and B. Which point is closer to the camera?",
                [9],
                ["A is closer", "B is closer"],
                "(A)",
            ),
        ],
    }


def write_parquet(path: Path, table_rows: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(table_rows, schema=SCHEMA), path)
    return path


def write(data_root: Path) -> None:
    root = data_root / "blink"
    for subtask, table_rows in val_rows().items():
        write_parquet(root / subtask / "val-00000-of-00001.parquet", table_rows)
        # The published folders also hold the test split (answers hidden); loaders read only val.
        hidden = [{**r, "idx": r["idx"].replace("val_", "test_"), "answer": "hidden"} for r in table_rows[:1]]
        write_parquet(root / subtask / "test-00000-of-00001.parquet", hidden)
