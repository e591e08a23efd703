"""SPBench replica: ``spbench/SPBench-SI.parquet`` (5 single-image rows) and ``SPBench-MV.parquet`` (4 rows of 8
views) in the published fields, the two image archives as published (``SPBench-{SI,MV}-images.zip`` with
``SPBench-XX-images/<scene>/<frame>.jpg`` members), and the SI archive also unpacked (as ``unzip`` leaves it), so
the loader reads SI frames from the folder and MV frames out of the zip. Frames are real frames of the bundled
bedroom video; the questions follow SPBench's (VSI-Bench's) templates."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from .media import image_bytes

SI_SCENE = "scene0011_00"
MV_SCENE = "scene0025_00"
MV_FRAMES = [f"{n}.jpg" for n in (0, 150, 300, 450, 600, 750, 900, 1050)]

SCHEMA = pa.schema(
    [
        ("id", pa.int64()),
        ("dataset", pa.string()),
        ("scene_name", pa.string()),
        ("question_type", pa.string()),
        ("question", pa.string()),
        ("ground_truth", pa.string()),
        ("options", pa.list_(pa.string())),
        ("images", pa.list_(pa.string())),
    ]
)


def _row(
    i: int, scene: str, qtype: str, question: str, gt: str, options: list[str] | None, images: list[str]
) -> dict[str, Any]:
    return {
        "id": i,
        "dataset": "scannet",
        "scene_name": scene,
        "question_type": qtype,
        "question": question,
        "ground_truth": gt,
        "options": options,
        "images": images,
    }


def si_rows() -> list[dict[str, Any]]:
    """5 single-image questions: 2 direction, 1 relative distance (multiple choice), 1 distance, 1 size (numeric)."""
    return [
        _row(
            1,
            SI_SCENE,
            "object_rel_direction",
            "If I am standing by the bed and facing the window, is the lamp to my left, right, or back?",
            "A",
            ["A. left", "B. right", "C. back"],
            ["200.jpg"],
        ),
        _row(
            2,
            SI_SCENE,
            "object_rel_distance",
            "Measuring from the closest point of each object, which of these objects (chair, pillow, lamp) is the "
            "closest to the bed?",
            "B",
            ["A. chair", "B. pillow", "C. lamp"],
            ["200.jpg"],
        ),
        _row(
            3,
            SI_SCENE,
            "object_abs_distance",
            "Measuring from the closest point of each object, what is the direct distance between the bed and the "
            "door (in meters)?",
            "2.5",
            None,
            ["400.jpg"],
        ),
        _row(
            4,
            SI_SCENE,
            "object_size_estimation",
            "What is the length of the longest dimension (length, width, or height) of the bed, measured in "
            "centimeters?",
            "200",
            None,
            ["400.jpg"],
        ),
        _row(
            5,
            SI_SCENE,
            "object_rel_direction",
            "If I am standing by the door and facing the bed, is the window to my front-left, front-right, back-left, "
            "or back-right?",
            "B",
            ["A. front-left", "B. front-right", "C. back-left", "D. back-right"],
            ["600.jpg"],
        ),
    ]


def mv_rows() -> list[dict[str, Any]]:
    """4 eight-view questions: counting, distance (numeric), relative distance and direction (multiple choice)."""
    return [
        _row(1, MV_SCENE, "object_counting", "How many pillow(s) are in this room?", "4", None, MV_FRAMES),
        _row(
            2,
            MV_SCENE,
            "object_abs_distance",
            "Measuring from the closest point of each object, what is the direct distance between the bed and the "
            "wardrobe (in meters)?",
            "1.2",
            None,
            MV_FRAMES,
        ),
        _row(
            3,
            MV_SCENE,
            "object_rel_distance",
            "Measuring from the closest point of each object, which of these objects (lamp, door, window) is the "
            "closest to the bed?",
            "C",
            ["A. lamp", "B. door", "C. window"],
            MV_FRAMES,
        ),
        _row(
            4,
            MV_SCENE,
            "object_rel_direction",
            "If I am standing by the wardrobe and facing the bed, is the door to my left, right, or back?",
            "C",
            ["A. left", "B. right", "C. back"],
            MV_FRAMES,
        ),
    ]


def write_parquet(path: Path, rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=SCHEMA), path)


def _zip(path: Path, prefix: str, scene: str, frames: list[str], start: int) -> None:
    with zipfile.ZipFile(path, "w") as z:
        for k, name in enumerate(frames):
            z.writestr(f"{prefix}/{scene}/{name}", image_bytes(start + k, fmt="JPEG"))


def write(data_root: Path) -> None:
    root = data_root / "spbench"
    write_parquet(root / "SPBench-SI.parquet", si_rows())
    write_parquet(root / "SPBench-MV.parquet", mv_rows())
    si_frames = sorted({f for r in si_rows() for f in r["images"]})
    _zip(root / "SPBench-SI-images.zip", "SPBench-SI-images", SI_SCENE, si_frames, 0)
    _zip(root / "SPBench-MV-images.zip", "SPBench-MV-images", MV_SCENE, MV_FRAMES, 2)
    for k, name in enumerate(si_frames):  # the SI archive unpacked, as `unzip SPBench-SI-images.zip` leaves it
        out = root / "SPBench-SI-images" / SI_SCENE / name
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(image_bytes(k, fmt="JPEG"))
