"""SpatialTree-Bench replica: ``spatialtree/annotations_plain.parquet`` (10 rows, one per metricfunc and answer
type, over all four levels) in the published columns, with ``images/*.jpg`` and ``videos/*.mp4`` made from the real
bedroom video. The affordance row's answer is a base64 PNG mask thresholded from a real frame. Questions are ours.
"""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

from .media import frame, write_image, write_video

IDENTITY = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]
"""A pose [x, y, z, qx, qy, qz, qw] at the origin."""
ARM_ANSWER = json.dumps(
    {"step_1": {"actions": ["W"], "step_nums": [5]}, "step_2": {"actions": ["D"], "step_nums": [5]}}
)
"""The robotic-arm row's published-style answer: per step, actions and their step counts."""


def mask_b64() -> str:
    """A real binary mask (bright pixels of frame 3, 200x112) as base64 PNG."""
    gray = np.asarray(frame(3, (200, 112)).convert("L"))
    mask = Image.fromarray(np.where(gray > 128, 255, 0).astype(np.uint8))
    buf = io.BytesIO()
    mask.save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def _info(level: str, ability: str, leaf: str, metric: str) -> str:
    return json.dumps(
        {"spatree0": level, "spatree1": ability, "spatree2": leaf, "metricfunc": metric, "pe_style": "style_1"}
    )


def rows() -> list[dict[str, Any]]:
    """The 10 rows in published column order."""

    def row(
        sid: str,
        question: str,
        qtype: str,
        answer: str,
        info: str,
        *,
        option: list[str] | None = None,
        hint: str = "",
        image: list[str] | None = None,
        video: list[str] | None = None,
        frames: list[int] | None = None,
    ) -> dict[str, Any]:
        return {
            "session_id": sid,
            "question": question,
            "question_type": qtype,
            "option": option,
            "answer": answer,
            "hint": hint,
            "video": video or [],
            "video_info": [{"frame_index": frames or []}] if video else [],
            "image": image or [],
            "extra_info": info,
        }

    return [
        row(
            "L1_Geometry_Distance_0001",
            "How far is the lamp from the bed?",
            "multiple-choice",
            "B",
            _info("L1", "Geometry", "Distance", "multichoiceeval"),
            option=["A. 0.6 m", "B. 1.2 m", "C. 2.5 m", "D. 3.1 m"],
            image=["images/L1_Geometry_Distance_0001.jpg"],
        ),
        row(
            "L1_Geometry_Size_0002",
            "What is the length of the bed in meters?",
            "open",
            "2.0",
            _info("L1", "Geometry", "Size", "meanrelativeacc"),
            image=["images/L1_Geometry_Size_0002.jpg"],
        ),
        row(
            "L1_Orientation_Gravity_0003",
            "Estimate the camera roll, pitch and vertical field of view in degrees.",
            "open",
            json.dumps({"roll": 2.0, "pitch": -10.0, "vfov": 55.0}),
            _info("L1", "Orientation", "Gravity", "gravityeval"),
            hint=json.dumps({"roll_unc": 3.0, "pitch_unc": 4.0, "vfov_unc": 5.0}),
            image=["images/L1_Orientation_Gravity_0003.jpg"],
        ),
        row(
            "L2_Underst._RelationUnderstanding_0004",
            "Is the lamp closer to the camera than the wardrobe at the end of the video?",
            "judge",
            "yes",
            _info("L2", "Underst.", "RelationUnderstanding", "judge"),
            video=["videos/L2_relation_0004.mp4"],
            frames=[0, 4, 8, 12],
        ),
        row(
            "L2_Underst._MotionUnderstanding_0005",
            "Describe how the camera moves in this video.",
            "open",
            "The camera pans slowly to the left across the bed.",
            _info("L2", "Underst.", "MotionUnderstanding", "gpteval"),
            hint=json.dumps({"prompt": "Describe the camera motion."}),
            video=["videos/L2_motion_0005.mp4"],
            frames=[0, 6, 12],
        ),
        row(
            "L2_Memory_CognitiveMap_0006",
            "Draw a cognitive map of the room, then answer: which object is left of the bed in the second view?",
            "multiple-choice",
            "A",
            _info("L2", "Memory", "CognitiveMap", "cogmapeval"),
            option=["A. lamp", "B. wardrobe", "C. window"],
            hint=json.dumps(
                {"id_type": "among_group001_q0", "cogmap": {"objects": [{"name": "bed", "position": [5, 5]}]}}
            ),
            image=["images/L2_cogmap_0006_a.jpg", "images/L2_cogmap_0006_b.jpg"],
        ),
        row(
            "L2_Underst._Affordance_0007",
            "Point to where you would grasp to open the wardrobe.",
            "open",
            mask_b64(),
            _info("L2", "Underst.", "Affordance", "affmask"),
            image=["images/L2_Underst._Affordance_0007.jpg"],
        ),
        row(
            "L3_Caus.Reas._GeometryPuzzles_0008",
            "How many unit cubes are needed to complete the shape?",
            "open",
            "12",
            _info("L3", "Caus.Reas.", "GeometryPuzzles", "multichoiceeval"),
            image=["images/L3_puzzle_0008.jpg"],
        ),
        row(
            "L4_Goal-DrivenExecution_AgenticNavigation_0009",
            "Plan the next move towards the window: give actions and step_nums as JSON.",
            "open",
            json.dumps({"actions": ["W"], "step_nums": [10]}),
            _info("L4", "Goal-DrivenExecution", "AgenticNavigation", "agenticnaveval"),
            hint=json.dumps(
                {
                    "optimal_rel_pose": [IDENTITY, [0.0, 0.0, 0.1, 0.0, 0.0, 0.0, 1.0], [0.0, 0.0, 0.3, 0, 0, 0, 1]],
                    "0->1": {"translation_step_size": 0.02, "rotation_step_size": 0.0087},
                    "1->2": {"translation_step_size": 0.02, "rotation_step_size": 0.0087},
                }
            ),
            video=["videos/L4_nav_0009.mp4"],
            frames=[0, 10],
        ),
        row(
            "L4_Goal-DrivenExecution_RoboticArm_0010",
            "Give the camera actions for each step as JSON (keys step_1, step_2).",
            "open",
            ARM_ANSWER,
            _info("L4", "Goal-DrivenExecution", "RoboticArm", "manipulateeval"),
            hint=json.dumps(
                {
                    "optimal_rel_pose": [IDENTITY, [0.0, 0.0, 0.1, 0, 0, 0, 1], [0.1, 0.0, 0.1, 0, 0, 0, 1]],
                    "0->1": {"translation_step_size": 0.02, "rotation_step_size": 0.0087},
                    "1->2": {"translation_step_size": 0.02, "rotation_step_size": 0.0087},
                }
            ),
            video=["videos/L4_arm_0010.mp4"],
            frames=[0, 8, 16],
        ),
    ]


SCHEMA = pa.schema(
    [
        ("session_id", pa.string()),
        ("question", pa.string()),
        ("question_type", pa.string()),
        ("option", pa.list_(pa.string())),
        ("answer", pa.string()),
        ("hint", pa.string()),
        ("video", pa.list_(pa.string())),
        ("video_info", pa.list_(pa.struct([("frame_index", pa.list_(pa.int64()))]))),
        ("image", pa.list_(pa.string())),
        ("extra_info", pa.string()),
    ]
)


def write_parquet(path: Path, table_rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(table_rows, schema=SCHEMA), path)


def write(data_root: Path) -> None:
    """Write ``data_root/spatialtree/``: the parquet plus every image and video it names."""
    root = data_root / "spatialtree"
    table = rows()
    write_parquet(root / "annotations_plain.parquet", table)
    images = [p for r in table for p in r["image"]]
    videos = [p for r in table for p in r["video"]]
    for i, rel in enumerate(images):
        write_image(root / rel, i)
    for i, rel in enumerate(videos):
        write_video(root / rel, seconds=1.0, fps=10, start=15 * i)
