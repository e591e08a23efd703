"""ERQA replica: ``erqa/data/test-00000-of-00001.parquet`` in FlagEval/ERQA's fields (question_id, question,
question_type, answer, visual_indices, images as ``{"bytes", "path"}`` structs) with 5 rows written in the
benchmark's style (our own wording): single-image rows, a multi-image row with every image before the text, and a
multi-image row whose images are interleaved in the text. Images are real JPEG frames (:mod:`.media`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from .media import image_bytes

SUFFIX = " Please answer directly with only the letter of the correct option and nothing else."

SCHEMA = pa.schema(
    [
        ("question_id", pa.string()),
        ("question", pa.string()),
        ("question_type", pa.string()),
        ("answer", pa.string()),
        ("visual_indices", pa.list_(pa.int64())),
        ("images", pa.list_(pa.struct([("bytes", pa.binary()), ("path", pa.string())]))),
    ]
)


def _images(*frames: int) -> list[dict[str, Any]]:
    return [{"bytes": image_bytes(f, "JPEG"), "path": f"frame_{f}.jpg"} for f in frames]


def rows() -> list[dict[str, Any]]:
    """The replica's rows, in file order."""
    interleaved = (
        "The first image shows the starting state: Then the robot acts and we see: "
        "Which action did the robot take? Choices: A. Closed the drawer. B. Picked up the pillow. "
        "C. Opened the curtain. D. Nothing changed." + SUFFIX
    )
    first_at = interleaved.index(":") + 1
    second_at = interleaved.index("see:") + 4
    return [
        {
            "question_id": "ERQA_1",
            "question": "If the camera moves forward along the bed, which object comes closer first? "
            "Choices: A. The lamp. B. The pillow. C. The window. D. The door." + SUFFIX,
            "question_type": "Trajectory Reasoning",
            "answer": "B",
            "visual_indices": [0],
            "images": _images(0),
        },
        {
            "question_id": "ERQA_2",
            "question": "Are the two images taken from the same side of the room? "
            "Choices: A. Yes. B. No, from opposite sides. C. No, one is from above. D. Cannot tell." + SUFFIX,
            "question_type": "Multi-view Reasoning",
            "answer": "A",
            "visual_indices": [0, 0],
            "images": _images(1, 4),
        },
        {
            "question_id": "ERQA_3",
            "question": interleaved,
            "question_type": "Action Reasoning",
            "answer": "C",
            "visual_indices": [first_at, second_at],
            "images": _images(2, 6),
        },
        {
            "question_id": "ERQA_4",
            "question": "Where is the bed relative to the window? "
            "Choices: A. Above it. B. Behind it. C. To its left. D. Below it." + SUFFIX,
            "question_type": "Spatial Reasoning",
            "answer": "D",
            "visual_indices": [0],
            "images": _images(3),
        },
        {
            "question_id": "ERQA_5",
            "question": "Is the curtain open or closed? "
            "Choices: A. Open. B. Closed. C. Half open. D. There is no curtain." + SUFFIX,
            "question_type": "State Estimation",
            "answer": "A",
            "visual_indices": [0],
            "images": _images(5),
        },
    ]


def write_rows(data_root: Path, table_rows: list[dict[str, Any]]) -> Path:
    """Write ``table_rows`` as ``erqa/data/test-00000-of-00001.parquet`` (FlagEval/ERQA's schema)."""
    path = data_root / "erqa" / "data" / "test-00000-of-00001.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(table_rows, schema=SCHEMA), path)
    return path


def write(data_root: Path) -> None:
    write_rows(data_root, rows())
