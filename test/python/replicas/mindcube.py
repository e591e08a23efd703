"""MindCube replica: ``mindcube/data/raw/MindCube.jsonl`` (7 rows: among, around, rotation, translation and other)
and ``MindCube_tinybench.jsonl`` (3 rows), as ``data.zip`` unzips, with the views under
``data/other_all_image/<setting>/<group>/`` made from real frames of the bedroom video. The rows follow the published
fields (id, category, type, meta_info, question with inline options, images, gt_answer); the questions are our own.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .media import write_image


def _row(sid: str, kind: str, question: str, images: list[str], gt: str, tags: list[str]) -> dict[str, Any]:
    return {
        "id": sid,
        "category": tags,
        "type": kind,
        "meta_info": [["bed", "lamp", "wardrobe"], [None, "face", None]],
        "question": question,
        "images": images,
        "gt_answer": gt,
    }


ROWS: list[dict[str, Any]] = [
    _row(
        "among_group001_q0_1_1",
        "0_frame",
        "Based on these two views of the same room: in which direction did I move from the first view to the "
        "second? A. Directly left B. Diagonally forward and right C. Diagonally forward and left D. Directly right",
        ["other_all_image/among/bedroom_001/front_001.jpg", "other_all_image/among/bedroom_001/left_002.jpg"],
        "C",
        ["perpendicular", "P-P", "meanwhile", "self"],
    ),
    _row(
        "among_group001_q1_2_1",
        "1_frame",
        "Standing where the second view was taken, where is the lamp relative to the bed? "
        "A. Left B. Right C. Behind D. Front",
        ["other_all_image/among/bedroom_001/front_001.jpg", "other_all_image/among/bedroom_001/left_002.jpg"],
        "A",
        ["parallel", "P-O", "meanwhile", "object"],
    ),
    _row(
        "around_a81f0c_q0",
        "linear",
        "These three views were taken while walking around the bed. Which object is hidden behind the bed in the "
        "last view? A. The lamp B. The wardrobe C. The window",
        [
            "other_all_image/around/a81f0c/0_frame_00010.png",
            "other_all_image/around/a81f0c/1_frame_00040.png",
            "other_all_image/around/a81f0c/2_frame_00070.png",
        ],
        "B",
        ["around", "visibility"],
    ),
    _row(
        "rotation_bedroom2_q3",
        "three_view",
        "I turned in place between these views. After turning 90 degrees clockwise from the first view, what is "
        "in front of me? A. The door B. The bed C. The wardrobe D. The window",
        [
            "other_all_image/rotation/bedroom2/view_0.jpg",
            "other_all_image/rotation/bedroom2/view_1.jpg",
            "other_all_image/rotation/bedroom2/view_2.jpg",
            "other_all_image/rotation/bedroom2/view_3.jpg",
        ],
        "D",
        ["rotation"],
    ),
    _row(
        "translation_bedroom3_q1",
        "two_view",
        "I stepped sideways between the two views. Which way did I step? A. Left B. Right",
        ["other_all_image/translation/bedroom3/t0.jpg", "other_all_image/translation/bedroom3/t1.jpg"],
        "B",
        ["translation"],
    ),
    _row(
        "misc_bedroom4_q0",
        "two_view",
        "Is the wardrobe closer to the camera in the second view than in the first? "
        "A. Closer B. Farther C. The same distance",
        ["other_all_image/among/bedroom_004/a.jpg", "other_all_image/among/bedroom_004/b.jpg"],
        "A",
        ["distance"],
    ),
    _row(
        "around_c22e91_q5",
        "linear",
        "Walking around the bed from the first view to the second, which side of the bed did I pass? "
        "A. The left side B. The right side C. The foot of the bed D. The head of the bed E. I did not move",
        ["other_all_image/around/c22e91/0_frame_00005.png", "other_all_image/around/c22e91/1_frame_00055.png"],
        "E",
        ["around", "path"],
    ),
]
TINY: list[dict[str, Any]] = [ROWS[0], ROWS[2], ROWS[3]]


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def write(data_root: Path) -> None:
    """Write ``data_root/mindcube/`` as the unzipped ``data.zip`` lays it out."""
    data = data_root / "mindcube" / "data"
    write_jsonl(data / "raw" / "MindCube.jsonl", ROWS)
    write_jsonl(data / "raw" / "MindCube_tinybench.jsonl", TINY)
    images = sorted({p for r in ROWS for p in r["images"]})
    for i, rel in enumerate(images):
        write_image(data / rel, i)
