"""VSTI-Bench replica: ``vstibench/test.json`` in the published fields (one row per question type: 7 multiple
choice, 2 numeric; one numeric ground truth as a JSON number, one as a string) and
``ScanNet/videos/val/<scene>.mp4`` cut from the real bedroom video. The question texts follow the benchmark's
templates (VLM-3R ``question_templates.py``) with our own objects."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .media import write_video

SCENES = ("scene0011_00", "scene0015_00")


def _row(
    i: int, scene: str, qtype: str, question: str, options: list[str] | None, gt: Any, mc: str | None, frames: list[int]
) -> dict[str, Any]:
    return {
        "dataset": "scannet",
        "scene_name": scene,
        "video_path": f"ScanNet/videos/val/{scene}.mp4",
        "frame_indices": frames,
        "question_type": qtype,
        "question": question,
        "options": options,
        "ground_truth": gt,
        "mc_answer": mc,
        "id": i,
    }


def rows() -> list[dict[str, Any]]:
    """The 9 replica rows in published order (ids 0-8)."""
    a, b = SCENES
    return [
        _row(
            0,
            a,
            "camera_obj_abs_dist",
            "What is the approximate distance (in meters) between the camera (or the person filming) and the nearest "
            "point of the bed in frame 12 of 32?",
            None,
            2.0,
            None,
            [330],
        ),
        _row(
            1,
            a,
            "camera_displacement",
            "Approximately how far (in meters) did the camera move between frame 3 and frame 20 of 32?",
            None,
            "1.5",
            None,
            [80, 540],
        ),
        _row(
            2,
            a,
            "camera_movement_direction",
            "During the sequence between frame 5 and frame 9 of 32, what was the primary consistent direction of the "
            "camera's movement relative to its orientation at the start? The options are Forward, Backward, Left, "
            "and Right.",
            ["A. Forward", "B. Backward", "C. Left", "D. Right"],
            "Left",
            "C",
            [130, 240],
        ),
        _row(
            3,
            a,
            "obj_obj_relative_pos_lr",
            "In frame 7 of 32, relative to the lamp, is the pillow to the [Left/Right]?",
            ["A. Left", "B. Right"],
            "Left",
            "A",
            [190],
        ),
        _row(
            4,
            b,
            "obj_obj_relative_pos_ud",
            "In frame 16 of 32, relative to the desk, is the lamp to the [Up/Down]?",
            ["A. Up", "B. Down"],
            "Up",
            "A",
            [430],
        ),
        _row(
            5,
            b,
            "obj_obj_relative_pos_nf",
            "In frame 2 of 32, relative to the camera, is the chair [Near/Far] compared to the door?",
            ["A. Near", "B. Far"],
            "Far",
            "B",
            [50],
        ),
        _row(
            6,
            b,
            "camera_obj_rel_dist_v1",
            "Measuring from the closest point of each object, which of these objects (bed, lamp, chair, door) is the "
            "closest to the camera in frame 30 of 32?",
            ["A. bed", "B. lamp", "C. chair", "D. door"],
            "lamp",
            "B",
            [810],
        ),
        _row(
            7,
            b,
            "camera_obj_rel_dist_v2",
            "Measuring from the closest point of each object, which of these objects (bed, lamp, chair) is the "
            "closest to the camera in frame 25 of 32?",
            ["A. bed", "B. lamp", "C. chair"],
            "chair",
            "C",
            [680],
        ),
        _row(
            8,
            a,
            "camera_obj_rel_dist_v3",
            "Measuring from the closest point of each object, which of these objects (bed, desk) is the closest to "
            "the camera in frame 1 of 32?",
            ["A. bed", "B. desk"],
            "desk",
            "B",
            [0],
        ),
    ]


def write(data_root: Path) -> None:
    root = data_root / "vstibench"
    root.mkdir(parents=True, exist_ok=True)
    (root / "test.json").write_text(json.dumps(rows(), indent=1), encoding="utf-8")
    for i, scene in enumerate(SCENES):
        write_video(root / "ScanNet" / "videos" / "val" / f"{scene}.mp4", seconds=1.5, fps=10, start=60 * i)
