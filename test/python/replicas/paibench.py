"""PAI-Bench replica: ``paibench/data/test-00000-of-00001.parquet`` in the published fields (``index2ans`` as a struct
with null options, two categories, one subcategory written with a ``:`` suffix) and ``videos/<subset>/*.mp4`` cut
from the real bedroom video. The question texts are ours, in the benchmark's style."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from .media import write_video

SCHEMA = pa.schema(
    [
        ("question", pa.string()),
        ("index2ans", pa.struct([(k, pa.string()) for k in "ABCD"])),
        ("answer", pa.string()),
        ("video_path", pa.string()),
        ("category", pa.string()),
        ("subcategory", pa.string()),
    ]
)

VIDEOS = ("videos/robot/clip_0001.mp4", "videos/av/clip_0002.mp4", "videos/ego/clip_0003.mp4")


def rows() -> list[dict[str, Any]]:
    """The 5 replica rows in published order (ids 0-4)."""
    return [
        {
            "question": "What will the robot arm most likely do next?",
            "index2ans": {"A": "Pick up the pillow", "B": "Open the door", "C": "Turn off the lamp", "D": "Nothing"},
            "answer": "A",
            "video_path": VIDEOS[0],
            "category": "Embodied Reasoning",
            "subcategory": "Robot: next action",
        },
        {
            "question": "Is the object on the left closer to the camera than the object on the right?",
            "index2ans": {"A": "Yes", "B": "No", "C": None, "D": None},
            "answer": "B",
            "video_path": VIDEOS[1],
            "category": "Embodied Reasoning",
            "subcategory": "Robot: spatial",
        },
        {
            "question": "Which way does the camera move during the clip?",
            "index2ans": {"A": "Left", "B": "Right", "C": "Forward", "D": "Backward"},
            "answer": "C",
            "video_path": VIDEOS[2],
            "category": "Common Sense",
            "subcategory": "Space",
        },
        {
            "question": "Is the video played forward or in reverse?",
            "index2ans": {"A": "Forward", "B": "Reverse", "C": None, "D": None},
            "answer": "A",
            "video_path": VIDEOS[2],
            "category": "Common Sense",
            "subcategory": "Time",
        },
        {
            "question": "What is most likely to happen to the blanket if the bed is tilted?",
            "index2ans": {"A": "It floats", "B": "It stays", "C": "It slides down", "D": "It burns"},
            "answer": "D",
            "video_path": VIDEOS[0],
            "category": "Common Sense",
            "subcategory": "Physics",
        },
    ]


def write(data_root: Path) -> None:
    root = data_root / "paibench"
    (root / "data").mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows(), schema=SCHEMA), root / "data" / "test-00000-of-00001.parquet")
    for i, rel in enumerate(VIDEOS):
        write_video(root / rel, seconds=1.0, fps=10, start=50 * i)
