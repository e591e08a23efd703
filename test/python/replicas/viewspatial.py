"""ViewSpatial-Bench replica: ``viewspatial/ViewSpatial-Bench.json`` with seven entries in the published fields and
format, modelled on positions 0, 1, 1773, 2769, 3765, 3776 and 4634 of ZJU-REAL/ViewSpatial-Bench
``eval/ViewSpatial-Bench.json`` at 2e85a5e4 (their question types, image paths and option counts: all five question
types, a two-option question, a two-frame Scene Simulation question, and two questions on one COCO image). The
question, option and answer texts are ours, written in the published format (options as one ``"A. ...\nB. ..."``
string, answers as ``"A. right"``). The images sit at ``scannetv2_val/...`` and ``val2017/...`` as the two zips unzip
(real frames of the bundled video standing in for ScanNet and COCO)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .media import write_image

ROWS: list[dict[str, Any]] = [
    {
        "question_type": "Camera perspective - Relative Direction",
        "image_path": ["ViewSpatial-Bench/scannetv2_val/scene0011_00/original_images/280.jpg"],
        "question": "Seen from the camera, which side of the bed is the lamp on?",
        "answer": "A. left",
        "choices": "A. left\nB. back-right\nC. front-up\nD. back",
    },
    {
        "question_type": "Camera perspective - Relative Direction",
        "image_path": ["ViewSpatial-Bench/scannetv2_val/scene0011_00/original_images/760.jpg"],
        "question": "Where does the wardrobe stand relative to the chair in this picture?",
        "answer": "D. front-left",
        "choices": "A. right\nB. back\nC. below-left\nD. front-left",
    },
    {
        "question_type": "Camera perspective - Object View Orientation",
        "image_path": ["ViewSpatial-Bench/val2017/000000000285.jpg"],
        "question": "If the camera looks at the front, in which direction is the dog in the picture facing?",
        "answer": "A. front-right",
        "choices": "A. front-right\nB. back\nC. left\nD. back-left",
    },
    {
        "question_type": "Person perspective - Object View Orientation",
        "image_path": ["ViewSpatial-Bench/val2017/000000000285.jpg"],
        "question": "Pretend you are the dog in the picture. Which way are you facing?",
        "answer": "C. back-right",
        "choices": "A. front\nB. right\nC. back-right\nD. left",
    },
    {
        "question_type": "Person perspective - Relative Direction",
        "image_path": ["ViewSpatial-Bench/val2017/000000000872.jpg"],
        "question": "Looking out from the woman in the red coat, where is the child holding the kite?",
        "answer": "D. left",
        "choices": "A. back\nB. front-right\nC. right\nD. left",
    },
    {
        "question_type": "Person perspective - Relative Direction",
        "image_path": ["ViewSpatial-Bench/val2017/000000006771.jpg"],
        "question": "On which of his shoulders is the man carrying the bag?",
        "answer": "B. left",
        "choices": "A. right\nB. left",
    },
    {
        "question_type": "Person perspective - Scene Simulation Relative Direction",
        "image_path": [
            "ViewSpatial-Bench/scannetv2_val/scene0046_00/original_images/0.jpg",
            "ViewSpatial-Bench/scannetv2_val/scene0046_00/original_images/60.jpg",
        ],
        "question": "Suppose you stand by the desk and face the window. In which direction is the door?",
        "answer": "A. front-right",
        "choices": "A. front-right\nB. back\nC. left\nD. back-left",
    },
]


def image_files() -> list[str]:
    """Every image path of the replica, relative to the dataset folder, in first-use order."""
    out: list[str] = []
    for row in ROWS:
        for p in row["image_path"]:
            rel = p.removeprefix("ViewSpatial-Bench/")
            if rel not in out:
                out.append(rel)
    return out


def write(data_root: Path) -> None:
    root = data_root / "viewspatial"
    root.mkdir(parents=True, exist_ok=True)
    (root / "ViewSpatial-Bench.json").write_text(json.dumps(ROWS, indent=2), encoding="utf-8")
    for i, rel in enumerate(image_files()):
        write_image(root / rel, i)
