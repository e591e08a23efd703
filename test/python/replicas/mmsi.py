"""MMSI-Bench replica: ``mmsi/MMSI_Bench.parquet`` in RunsenXu/MMSI-Bench's fields (id, images as a list of raw
JPEG bytes, question_type, question with ``Options: A: ..., B: ...`` in the text, answer, thought,
mean_normed_duration_seconds, difficulty). 5 rows in the benchmark's style (our own wording), one per subset plus a
second positional type; images are real JPEG frames (:mod:`.media`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from .media import image_bytes

SCHEMA = pa.schema(
    [
        ("id", pa.int64()),
        ("images", pa.list_(pa.binary())),
        ("question_type", pa.string()),
        ("question", pa.string()),
        ("answer", pa.string()),
        ("thought", pa.string()),
        ("mean_normed_duration_seconds", pa.float64()),
        ("difficulty", pa.string()),
    ]
)


def rows() -> list[dict[str, Any]]:
    """The replica's rows, in file order."""

    def imgs(*frames: int) -> list[bytes]:
        return [image_bytes(f, "JPEG") for f in frames]

    return [
        {
            "id": 0,
            "images": imgs(0, 2),
            "question_type": "Positional Relationship (Cam.\u2013Obj.)",
            "question": "When the second picture was taken, where was the pillow relative to the camera?\n"
            "Options: A: In front, B: Behind, C: To the left, D: To the right",
            "answer": "A",
            "thought": "The pillow is visible ahead in both pictures.",
            "mean_normed_duration_seconds": 41.5,
            "difficulty": "easy",
        },
        {
            "id": 1,
            "images": imgs(1, 3),
            "question_type": "Motion (Cam.)",
            "question": "How did the camera move from the first picture to the second?\n"
            "Options: A: Turned left, B: Turned right, C: Moved up, D: Did not move",
            "answer": "B",
            "thought": "The bed shifts left in the frame, so the camera turned right.",
            "mean_normed_duration_seconds": 63.0,
            "difficulty": "medium",
        },
        {
            "id": 2,
            "images": imgs(4, 5),
            "question_type": "Attribute (Meas.)",
            "question": "About how wide is the bed?\nOptions: A: 0.5 m, B: 1.0 m, C: 1.6 m, D: 3.0 m",
            "answer": "C",
            "thought": "The bed spans about one and a half metres.",
            "mean_normed_duration_seconds": 88.2,
            "difficulty": "hard",
        },
        {
            "id": 3,
            "images": imgs(6, 7, 8),
            "question_type": "MSR",
            "question": "Walking from where the first picture was taken to the window, what do you pass last?\n"
            "Options: A: The lamp, B: The bed, C: The door, D: The curtain",
            "answer": "D",
            "thought": "The curtain hangs beside the window.",
            "mean_normed_duration_seconds": 120.4,
            "difficulty": "hard",
        },
        {
            "id": 4,
            "images": imgs(2, 9),
            "question_type": "Positional Relationship (Obj.\u2013Obj.)",
            "question": "Is the lamp to the left or the right of the bed?\n"
            "Options: A: Left, B: Right, C: Above, D: Below",
            "answer": "A",
            "thought": "The lamp stands on the left side of the bed.",
            "mean_normed_duration_seconds": 35.9,
            "difficulty": "easy",
        },
    ]


def write_rows(data_root: Path, table_rows: list[dict[str, Any]]) -> Path:
    """Write ``table_rows`` as ``mmsi/MMSI_Bench.parquet``."""
    path = data_root / "mmsi" / "MMSI_Bench.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(table_rows, schema=SCHEMA), path)
    return path


def write(data_root: Path) -> None:
    write_rows(data_root, rows())
