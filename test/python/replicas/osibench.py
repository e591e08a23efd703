"""OSI-Bench replica: ``osibench/data.parquet`` in the published fields (one row per category: 3 multiple-choice,
6 numeric, zero ground truths for the two threshold groups) and ``<video>.mp4`` files cut from the real bedroom video,
placed at the root as ``videos_part*.zip`` unzip them. The question texts are ours, in the benchmark's style."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from .media import write_video

SCHEMA = pa.schema(
    [
        ("index", pa.int64()),
        ("video_id", pa.string()),
        ("file_name", pa.string()),
        ("category", pa.string()),
        ("question_type", pa.string()),
        ("question", pa.string()),
        ("options", pa.list_(pa.string())),
        ("answer", pa.string()),
        ("video_length", pa.float64()),
    ]
)


def _row(index: int, video: str, category: str, qtype: str, question: str, options: list[str] | None, answer: str):
    return {
        "index": index,
        "video_id": video,
        "file_name": f"{video}.mp4",
        "category": category,
        "question_type": qtype,
        "question": question,
        "options": options,
        "answer": answer,
        "video_length": 1.5,
    }


def rows() -> list[dict[str, Any]]:
    """The 9 replica rows in published order (ids 0-8; videos 0000 and 0001)."""
    return [
        _row(
            0,
            "0000",
            "trajectory_description",
            "mcq",
            "Which description best matches the path the camera wearer walks during the video?",
            ["A. Walks straight ahead", "B. Turns left, then goes straight", "C. Turns right", "D. Stands still"],
            "A",
        ),
        _row(
            1,
            "0000",
            "relative_distance",
            "mcq",
            "At the end of the video, which object is closest to the camera: object 1, object 2 or object 3?",
            ["A. object 1", "B. object 2", "C. object 3"],
            "B",
        ),
        _row(
            2,
            "0001",
            "relative_direction_categorical_ordinal",
            "mcq",
            "Standing at object 2 and facing object 1, in which direction is object 3?",
            ["A. front-left", "B. front-right", "C. back-left", "D. back-right"],
            "C",
        ),
        _row(3, "0000", "absolute_speed", "numerical", "What is the average speed of object 4, in m/s?", None, "0"),
        _row(
            4,
            "0001",
            "absolute_displacement",
            "numerical",
            "How far (in meters) is object 2 from where it was at the start of the video?",
            None,
            "2.0",
        ),
        _row(
            5,
            "0000",
            "absolute_distance",
            "numerical",
            "What is the distance between object 1 and object 2, in meters?",
            None,
            "4.0",
        ),
        _row(
            6,
            "0001",
            "object_3d_localization",
            "numerical",
            "How far (in meters) is object 5 from the camera at the first frame?",
            None,
            "10.0",
        ),
        _row(
            7,
            "0001",
            "depth_aware_counting",
            "numerical",
            "How many cars are within 10 meters of the camera at the last frame?",
            None,
            "4",
        ),
        _row(
            8,
            "0000",
            "trajectory_length",
            "numerical",
            "How many meters does the camera travel in total during the video?",
            None,
            "0",
        ),
    ]


def write(data_root: Path) -> None:
    root = data_root / "osibench"
    root.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows(), schema=SCHEMA), root / "data.parquet")
    for i, video in enumerate(("0000", "0001")):
        write_video(root / f"{video}.mp4", seconds=1.5, fps=10, start=40 * i)
