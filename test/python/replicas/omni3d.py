"""Omni3D-Bench replica: ``omni3d/data/train-00000-of-00001.parquet`` as the Hub publishes it (columns ``image_index``,
``image``, ``q_index``, ``question``, ``answer``, ``answer_type``; images embedded as the Hugging Face Image struct),
and, with :func:`write_unzipped`, the content of ``omni3d-bench.zip`` that VADAR and SpatialClaw read
(``annotations.json`` + ``images/<image_filename>``). Six questions over four real frames: two float, one int, two
yes/no str and one other str, covering VADAR's four result classes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from .media import image_bytes, write_image

# (image_index, frame, q_index, question, answer_type, answer): answers typed as annotations.json types them.
ROWS: list[tuple[str, int, str, str, str, Any]] = [
    ("41069025_3000.jpg", 0, "0", "How many pillows are on the bed?", "int", 2),
    ("41069025_3000.jpg", 0, "1", "If the bed is 2 meters long, how wide is the bed in meters?", "float", 1.6),
    ("41069025_3120.jpg", 3, "2", "Is the lamp taller than the nightstand?", "str", "yes"),
    ("41069025_3120.jpg", 3, "3", "Is the window to the left of the bed?", "str", "no"),
    ("42445991_1260.jpg", 6, "4", "Which is closer to the camera, the chair or the wardrobe?", "str", "chair"),
    (
        "42446588_5560.jpg",
        9,
        "5",
        "What is the ratio of the height of the door to the height of the bed?",
        "float",
        3.5,
    ),
]


def rows() -> list[dict[str, Any]]:
    """The questions in annotations.json's fields (typed answers, ``image_filename``)."""
    return [
        {
            "image_index": image_index,
            "question_index": q_index,
            "image_filename": image_index,
            "question": question,
            "answer_type": answer_type,
            "answer": answer,
        }
        for image_index, _, q_index, question, answer_type, answer in ROWS
    ]


def write(data_root: Path) -> None:
    """``<data_root>/omni3d/data/train-00000-of-00001.parquet`` (answers stored as strings, images as JPEG bytes)."""
    out = data_root / "omni3d" / "data" / "train-00000-of-00001.parquet"
    out.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pylist(
        [
            {
                "image_index": image_index,
                "image": {"bytes": image_bytes(frame, "JPEG"), "path": image_index},
                "q_index": q_index,
                "question": question,
                "answer": str(answer),
                "answer_type": answer_type,
            }
            for image_index, frame, q_index, question, answer_type, answer in ROWS
        ]
    )
    pq.write_table(table, out)


def write_unzipped(data_root: Path) -> None:
    """``<data_root>/omni3d/annotations.json`` + ``images/``: omni3d-bench.zip unzipped in place."""
    root = data_root / "omni3d"
    root.mkdir(parents=True, exist_ok=True)
    (root / "annotations.json").write_text(json.dumps({"questions": rows()}, indent=1), encoding="utf-8")
    for image_index, frame, *_ in ROWS:
        if not (root / "images" / image_index).exists():
            write_image(root / "images" / image_index, frame)
