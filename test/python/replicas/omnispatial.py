"""OmniSpatial replica: ``omnispatial/OmniSpatial-test/data.json`` and ``OmniSpatial-test/<task_type>/<n>.png``, as
``OmniSpatial-test.zip`` unzips. Seven questions in the four task types, two sharing an image, and one whose ``id``
repeats in another task type (the published ids are only unique per type). The question and option texts are ours,
written in the published format (four option texts, the answer as an index)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .media import write_image

ROWS: list[dict[str, Any]] = [
    {
        "id": "0_0",
        "question": "If the nearest moving car keeps driving towards the camera at 8 m/s, about how many seconds "
        "will it need to get there?",
        "options": ["3.1s", "12.4s", "20.6s", "5.2s"],
        "answer": 0,
        "task_type": "Dynamic_Reasoning",
        "sub_task_type": "Motion_Analysis",
    },
    {
        "id": "0_1",
        "question": "Which direction is the car closest to the camera moving, as seen from the camera?",
        "options": ["Away from the camera", "To the left", "Towards the camera", "To the right"],
        "answer": 2,
        "task_type": "Dynamic_Reasoning",
        "sub_task_type": "Motion_Analysis",
    },
    {
        "id": "3_0",
        "question": "To open the wardrobe door, which way should the handle be pulled?",
        "options": ["Up", "Towards the viewer", "Down", "Away from the viewer"],
        "answer": 1,
        "task_type": "Dynamic_Reasoning",
        "sub_task_type": "Manipulation",
    },
    {
        "id": "0_0",
        "question": "If the bed were rotated 90 degrees clockwise seen from above, where would its head end point?",
        "options": ["Towards the window", "Towards the door", "Towards the camera", "Towards the wardrobe"],
        "answer": 3,
        "task_type": "Complex_Logic",
        "sub_task_type": "Geometric_Reasoning",
    },
    {
        "id": "7_0",
        "question": "Can a person walk between the bed and the wardrobe without moving anything?",
        "options": ["No", "Yes", "Only sideways", "Only after moving the chair"],
        "answer": 1,
        "task_type": "Spatial_Interaction",
        "sub_task_type": "Localization",
    },
    {
        "id": "12_0",
        "question": "From the camera's viewpoint, is the lamp to the left or to the right of the bed?",
        "options": ["Left", "Behind", "Right", "In front"],
        "answer": 2,
        "task_type": "Perspective_Taking",
        "sub_task_type": "Egocentric",
    },
    {
        "id": "13_0",
        "question": "For a person lying on the bed facing the ceiling, on which side is the window?",
        "options": ["Left", "Right", "Above the head", "Below the feet"],
        "answer": 0,
        "task_type": "Perspective_Taking",
        "sub_task_type": "Allocentric",
    },
]


def write(data_root: Path) -> None:
    root = data_root / "omnispatial" / "OmniSpatial-test"
    root.mkdir(parents=True, exist_ok=True)
    (root / "data.json").write_text(json.dumps(ROWS, indent=4), encoding="utf-8")
    for i, row in enumerate(ROWS):
        image = root / row["task_type"] / f"{row['id'].split('_')[0]}.png"
        if not image.exists():
            write_image(image, i)
