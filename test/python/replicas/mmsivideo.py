"""MMSI-Video-Bench replica: ``mmsivideo/mmsivideo.json`` in the published fields (the README's field list and the
fields evaluation.py / dataset.py / SpatialClaw read), with real frames from the bedroom video under ``frames/`` and
reference images under ``ref_images/``.

The question texts are ours (the annotation file is not vendored anywhere we can read); ids, task-type names (typo
``Memoery`` included), frame-name pattern ``{timestamp}_frame_{interval}_{n}.jpg`` and the multi-video
``frames_list`` / ``video_list`` structure follow the release. Rows:

* question_0001: one video (its own folder), bare-text options, answer B.
* question_0002: two videos (one folder each) and one reference image, answer C.
* question_0003: one video whose folder holds more frames than listed (the loader links the listed ones), two
  reference images, options already lettered ``A: ...``, answer A.
* question_0004: Planning, one video, answer D.
* question_0005: Prediction, three videos whose frames share one folder, answer E of six options.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .media import write_image

SYSTEM = "You are shown frames of one or more videos; each frame is stamped with its capture time."
FORMAT = " Reply with the option letter."


def _frames(folder: str, start_s: float, interval: float, n: int) -> list[str]:
    out = []
    for k in range(n):
        t = start_s + k * interval
        out.append(f"{folder}/{int(t // 60):02d}:{t % 60:05.2f}_frame_{interval:.2f}_{k}.jpg")
    return out


def rows() -> list[dict[str, Any]]:
    """The five replica questions in the published fields."""
    q1 = _frames("question_0001/video_1", 0.0, 1.5, 4)
    q2a = _frames("question_0002/video_1", 3.0, 1.0, 3)
    q2b = _frames("question_0002/video_2", 40.0, 1.0, 3)
    q3 = _frames("question_0003/video_1", 6.0, 1.5, 5)[::2]  # 3 of the 5 frames on disk are listed
    q4 = _frames("question_0004/video_1", 0.0, 2.0, 3)
    q5 = [_frames("question_0005/all", s, 0.5, 2) for s in (0.0, 10.0, 20.0)]
    base: dict[str, Any] = {"system_prompt": SYSTEM, "format_prompt": FORMAT, "hint": ""}
    return [
        {
            **base,
            "id": "question_0001",
            "type": "(Spatial Construction) Instance-Instance Spatial Relationship",
            "ori_question": "Is the lamp to the left or to the right of the bed when seen from the door?",
            "options": ["Left", "Right", "Directly behind", "Cannot be seen"],
            "ground_truth": "B",
            "frames_list": [q1],
            "video_list": [{"path": "question_0001/clip_1.mp4", "start": 0.0, "end": 4.5, "base_fps": 0.67}],
            "ref_images": [],
            "task_prompt": "Spatial relation between two objects.\n",
            "user_prompt": "<video>Is the lamp to the left or to the right of the bed? A. Left B. Right",
        },
        {
            **base,
            "id": "question_0002",
            "type": "(Cross-Video) Memoery Update",
            "ori_question": "After the second clip, where is the object shown in <image> now?",
            "options": ["On the bed", "On the floor", "On the shelf", "It was removed"],
            "ground_truth": "C",
            "frames_list": [q2a, q2b],
            "video_list": [
                {"path": "question_0002/clip_1.mp4", "start": 3.0, "end": 5.0, "base_fps": 1.0},
                {"path": "question_0002/clip_2.mp4", "start": 40.0, "end": 42.0, "base_fps": 1.0},
            ],
            "ref_images": ["question_0002/ref_0.jpg"],
            "task_prompt": "Update your memory across the clips.\n",
            "user_prompt": "<video><video>Where is the object in <image> now?",
        },
        {
            **base,
            "id": "question_0003",
            "type": "(Motion Understanding) Camera Motion",
            "ori_question": "The camera starts at <image> and ends at <image>. How did it turn?",
            "options": ["A: Left", "B: Right", "C: Up", "D: Down"],
            "ground_truth": "A",
            "frames_list": [q3],
            "video_list": [{"path": "question_0003/clip_1.mp4", "start": 6.0, "end": 12.0, "base_fps": 0.33}],
            "ref_images": ["question_0003/ref_0.jpg", "question_0003/ref_1.jpg"],
            "task_prompt": "Camera motion.\n",
            "user_prompt": "<video>The camera starts at <image> and ends at <image>.",
        },
        {
            **base,
            "id": "question_0004",
            "type": "Planning",
            "ori_question": "To reach the window from the door, which way should you go first?",
            "options": ["Straight", "Left", "Right", "Back"],
            "ground_truth": "D",
            "frames_list": [q4],
            "video_list": [{"path": "question_0004/clip_1.mp4", "start": 0.0, "end": 4.0, "base_fps": 0.5}],
            "ref_images": [],
            "task_prompt": "Plan a route.\n",
            "user_prompt": "<video>Which way first?",
        },
        {
            **base,
            "id": "question_0005",
            "type": "Prediction",
            "ori_question": "Given the three clips, what happens next?",
            "options": [
                "The door opens",
                "The light turns off",
                "Nothing",
                "The bed moves",
                "The camera stops",
                "Both A and B",
            ],
            "ground_truth": "E",
            "frames_list": q5,
            "video_list": [
                {"path": f"question_0005/clip_{k}.mp4", "start": s, "end": s + 0.5, "base_fps": 2.0}
                for k, s in enumerate((0.0, 10.0, 20.0), 1)
            ],
            "ref_images": [],
            "task_prompt": "Predict the next event.\n",
            "user_prompt": "<video><video><video>What happens next?",
        },
    ]


def write(data_root: Path) -> None:
    root = data_root / "mmsivideo"
    root.mkdir(parents=True, exist_ok=True)
    data = rows()
    i = 0
    for r in data:
        for group in r["frames_list"]:
            for name in group:
                write_image(root / "frames" / name, i, size=(160, 90))
                i += 1
        for name in r["ref_images"]:
            write_image(root / "ref_images" / name, i + 3, size=(160, 90))
            i += 1
    # question_0003's folder also holds the two frames its frames_list skips (sampled out at a coarser rate)
    for name in _frames("question_0003/video_1", 6.0, 1.5, 5)[1::2]:
        write_image(root / "frames" / name, 7, size=(160, 90))
    (root / ANNOTATION).write_text(json.dumps(data, indent=1, ensure_ascii=False), encoding="utf-8")


ANNOTATION = "mmsivideo.json"
