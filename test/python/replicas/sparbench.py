"""SPAR-Bench replica: ``sparbench/data/test-0000N-of-00002.parquet``, two shards of 4 rows in the published fields
(``id, img_type, format_type, task, source, image, question, answer``), the images embedded as Hugging Face ``Image``
cells (``{"bytes", "path"}``) made from real frames of the bundled bedroom video. The 8 rows cover every answer kind:
single- and multi-view numbers (the ``_mv`` tasks take the last number), letters for single- and multi-view choices,
and a ``view_change_infer`` motion string; and the three cognitive levels."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from .media import image_bytes

IMAGE = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
SCHEMA = pa.schema(
    [
        ("id", pa.int64()),
        ("img_type", pa.string()),
        ("format_type", pa.string()),
        ("task", pa.string()),
        ("source", pa.string()),
        ("image", pa.list_(IMAGE)),
        ("question", pa.string()),
        ("answer", pa.string()),
    ]
)

VCI_ANSWER = "move_right:0.5,move_forward:1.0,rotate_left:20"


def _images(frames: list[int]) -> list[dict[str, Any]]:
    return [{"bytes": image_bytes(i, fmt="JPEG"), "path": f"{i}.jpg"} for i in frames]


def _row(i: int, img_type: str, fmt: str, task: str, frames: list[int], question: str, answer: str) -> dict[str, Any]:
    return {
        "id": i,
        "img_type": img_type,
        "format_type": fmt,
        "task": task,
        "source": "scannet",
        "image": _images(frames),
        "question": question,
        "answer": answer,
    }


def rows() -> list[dict[str, Any]]:
    """The 8 replica rows in published order."""
    return [
        _row(
            0,
            "single_view",
            "fill",
            "depth_prediction_oc",
            [0],
            "The camera coordinates show the bed (red point) at 2.1 meters depth. What is the depth of the lamp "
            "(blue point)? Calculate or judge based on the 3D center points of these objects. The unit is meter.",
            "1.5",
        ),
        _row(
            1,
            "multi_view",
            "fill",
            "distance_prediction_oo_mv",
            [1, 2, 3],
            "Across these views, how far apart are the bed (red point in Image-1) and the wardrobe (blue point in "
            "Image-3)? Calculate or judge based on the 3D center points of these objects. The unit is meter.",
            "2.0",
        ),
        _row(
            2,
            "single_view",
            "select",
            "obj_spatial_relation_oo",
            [4],
            "From the camera's viewpoint, where is the pillow (red point) relative to the lamp (blue point)?\n"
            "A. above and to the left\nB. below and to the right\nC. above and to the right\nD. below and to the left",
            "B",
        ),
        _row(
            3,
            "multi_view",
            "select",
            "spatial_imagination_oc_mv",
            [5, 6, 7],
            "Imagine standing at the camera position of Image-3 and turning to face the bed (red point in Image-1). "
            "Where would the door be?\nA. left\nB. right\nC. behind\nD. in front",
            "A",
        ),
        _row(
            4,
            "multi_view",
            "select",
            "position_matching",
            [8, 9],
            "The lamp is at [412, 300, 520, 480] in Image-1. Which box marks the same lamp in Image-2?\n"
            "A. [10, 20, 110, 200]\nB. [600, 100, 700, 300]\nC. [380, 280, 500, 460]\nD. [200, 500, 300, 700]",
            "C",
        ),
        _row(
            5,
            "multi_view",
            "fill",
            "view_change_infer",
            [0, 5],
            "How did the camera move from Image-1 to Image-2? Answer with the movements as action:value pairs "
            "(move_right, move_left, move_forward, move_backward, move_up, move_down in meters; rotate_right, "
            "rotate_left, rotate_up, rotate_down in degrees), separated by commas.",
            VCI_ANSWER,
        ),
        _row(
            6,
            "single_view",
            "select",
            "distance_infer_center_oo",
            [3],
            "Which object is closer to the bed (red point): the lamp (blue point) or the chair (green point)?\n"
            "A. the lamp\nB. the chair\nC. about the same\nD. cannot tell",
            "D",
        ),
        _row(
            7,
            "single_view",
            "fill",
            "distance_prediction_oc",
            [7],
            "How far is the wardrobe (red point) from the camera? Calculate or judge based on the 3D center point. "
            "The unit is meter.",
            "3.0",
        ),
    ]


def write_shard(path: Path, shard_rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(shard_rows, schema=SCHEMA), path)


def write(data_root: Path) -> None:
    data = data_root / "sparbench" / "data"
    all_rows = rows()
    write_shard(data / "test-00000-of-00002.parquet", all_rows[:4])
    write_shard(data / "test-00001-of-00002.parquet", all_rows[4:])
