"""Video-MME-v2 replica: ``videommev2/test.parquet`` with the fields the released evaluation reads (video_id,
question_id, question, options as one ``"A. ...\\nB. ..."`` string with 8 options, answer, group_type,
group_structure, level, second_head, third_head), 4 groups of 4 consecutive rows, one of each kind: relevance and the
three logic structures ``[1,2,3,4]``, ``[1,[2,3],4]`` and ``[[1,2],3,4]``. As in the published file, ``level``,
``second_head`` and ``third_head`` are set on the last question of each group only. Videos ``videos/<video_id>.mp4``
(the published ones come in ``videos/001.zip`` ...) are cut from the real bedroom video. Question texts and the
second/third-head labels are written for the replica. The published dtype of ``level`` is not known; it is a string
here ("1".."3"), which SpatialClaw's ``int(str(level))`` needs (a float column would read "2.0" and fail there)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from .media import write_video

LETTERS = "ABCDEFGH"

# (video_id, group_type, group_structure, level, second_head, third_head, [(question, answer)] x 4)
GROUPS = (
    (
        "001",
        "relevance",
        "[1,2,3,4]",
        1,
        "Visual Aggregation",
        "Object Counting",
        [
            ("How many pillows are on the bed?", "B"),
            ("How many lamps are in the room?", "A"),
            ("How many windows can be seen?", "C"),
            ("How many picture frames hang on the wall?", "H"),
        ],
    ),
    (
        "002",
        "logic",
        "[1,2,3,4]",
        2,
        "Temporal Understanding",
        "Action Order",
        [
            ("What does the camera show first?", "A"),
            ("What does it show right after that?", "D"),
            ("Which object appears last?", "E"),
            ("So in which order does the camera tour the room?", "G"),
        ],
    ),
    (
        "003",
        "logic",
        "[1,[2,3],4]",
        3,
        "Complex Reasoning",
        "Causal Inference",
        [
            ("Is the room lived in?", "B"),
            ("Which detail shows the bed was used?", "C"),
            ("Which detail shows the lamp was used?", "F"),
            ("What did the occupant most likely do last night?", "A"),
        ],
    ),
    (
        "004",
        "logic",
        "[[1,2],3,4]",
        2,
        "Temporal Understanding",
        "State Change",
        [
            ("Is the curtain open at the start?", "A"),
            ("Is the curtain open at the end?", "B"),
            ("What changes between the start and the end?", "H"),
            ("What caused the change?", "D"),
        ],
    ),
)

SCHEMA = pa.schema(
    [
        ("video_id", pa.string()),
        ("question_id", pa.string()),
        ("question", pa.string()),
        ("options", pa.string()),
        ("answer", pa.string()),
        ("group_type", pa.string()),
        ("group_structure", pa.string()),
        ("level", pa.string()),
        ("second_head", pa.string()),
        ("third_head", pa.string()),
    ]
)


def options(q: int) -> str:
    """Eight options ``"A. Option A of question q."`` ... joined by newlines, as published."""
    return "\n".join(f"{c}. Choice {c.lower()}{q}." for c in LETTERS)


def official_rows() -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for vid, gtype, structure, level, second, third, qs in GROUPS:
        for j, (question, answer) in enumerate(qs):
            last = j == len(qs) - 1
            out.append(
                {
                    "video_id": vid,
                    "question_id": f"{vid}-{j + 1}",
                    "question": question,
                    "options": options(j + 1),
                    "answer": answer,
                    "group_type": gtype,
                    "group_structure": structure,
                    "level": str(level) if last else None,
                    "second_head": second if last else None,
                    "third_head": third if last else None,
                }
            )
    return out


def write(data_root: Path) -> None:
    root = data_root / "videommev2"
    root.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(official_rows(), schema=SCHEMA), root / "test.parquet")
    for i, group in enumerate(GROUPS):
        write_video(root / "videos" / f"{group[0]}.mp4", seconds=1.0, fps=5, start=45 * i)
