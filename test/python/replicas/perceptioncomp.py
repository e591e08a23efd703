"""PerceptionComp replica: ``perceptioncomp/questions.json`` and ``data/<video_id>.mp4`` (clips cut from the real
bedroom video).

Nine rows in the release's fields (hrinnnn/PerceptionComp ``benchmark/annotations/1-1114.json`` at bf4146fe, the same
fields as the Hugging Face ``questions.json``). Keys, video ids, answer ids, categories and difficulties are those of
published rows; the question, option and answer texts are ours, written in the published format (numbered
perception steps, five option texts, the answer as text). They cover all seven categories and three difficulty
levels, key 8 (whose ``answer`` text "6" differs from its option "6th", as the published key 8's does) and key 382
(the one row with a sixth option, ``answer_choice_5``).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from .media import write_video


def _row(key: str, video: str, question: str, choices: list[str], answer_id: int, answer: str, cat: str, diff: int):
    row: dict[str, Any] = {"key": key, "video_id": video, "question": question}
    row.update({f"answer_choice_{i}": c for i, c in enumerate(choices)})
    row.update({"answer_id": answer_id, "answer": answer, "category": cat, "difficulty": diff})
    return row


ROWS: list[dict[str, Any]] = [
    _row(
        "1",
        "Tokyo_6-8",
        "①The walker passes a blue vending machine.\n②He stops at the next pedestrian crossing.\nFacing the "
        "crossing, where is the vending machine?",
        ["Straight ahead", "On the right", "On the left", "Behind him", "Behind on the left"],
        1,
        "On the right",
        "outdoor tour",
        1,
    ),
    _row(
        "8",
        "Tokyo_8-10",
        "①Find the shop window with a row of paper lanterns.\n②Count the lanterns from the right.\nWhich lantern "
        "is the only one without writing on it?",
        ["1st", "2nd", "5th", "6th", "9th"],
        3,
        "6",
        "outdoor tour",
        1,
    ),
    _row(
        "174",
        "SquidGame_3m-10m",
        "①A contestant rings the bell at the end of a round.\n②The host walks onto the stage.\nSeen from the host, "
        "where is the bell?",
        [
            "Ahead and to the left",
            "Ahead and to the right",
            "Behind and to the left",
            "Behind and to the right",
            "Right in front",
        ],
        1,
        "Ahead and to the right",
        "variety show",
        1,
    ),
    _row(
        "242",
        "Parkour_0m35s-1m35s",
        "①The runner vaults over a low concrete wall.\n②He lands next to a parked bicycle.\nAs he lands, on which "
        "side of him is the bicycle?",
        ["In front of him", "Behind him", "On the left", "On the right", "Above him"],
        2,
        "On the left",
        "sport",
        2,
    ),
    _row(
        "311",
        "ht3",
        "Across the whole video, what colour is the round rug in the hallway?",
        ["Beige", "Navy", "Olive", "Grey", "Red"],
        2,
        "Olive",
        "home tour",
        3,
    ),
    _row(
        "374",
        "shopping1",
        "①Find the mug with a star print (mug A).\n②Find the teapot shaped like a cat (item B).\nWhere is mug A "
        "relative to item B?",
        [
            "Above and to the right",
            "Above and to the left",
            "Below and to the right",
            "Below and to the left",
            "Straight above",
        ],
        1,
        "Above and to the left",
        "shopping",
        2,
    ),
    _row(
        "382",
        "Basketball1",
        "①A player in white blocks a shot near the rim.\n②How many players in dark jerseys stand in the paint at "
        "that moment?",
        ["3", "5", "0", "2", "4", "1"],
        3,
        "2",
        "sport",
        2,
    ),
    _row(
        "1001",
        "movie1",
        "Two people sit at a table and a window is behind the woman. Where is the teacup relative to the woman?",
        [
            "Behind her on the right",
            "Behind her on the left",
            "To her right",
            "Straight behind her",
            "In front of her on the left",
        ],
        4,
        "In front of her on the left",
        "movie",
        2,
    ),
    _row(
        "1084",
        "2077-1",
        "①The character leaves the bar and faces the street; call that direction North.\n②In which direction does "
        "the taxi that stops there drive away?",
        ["North", "South", "East", "West", "Southwest"],
        1,
        "South",
        "game",
        1,
    ),
]


def write(data_root: Path) -> None:
    root = data_root / "perceptioncomp"
    root.mkdir(parents=True, exist_ok=True)
    (root / "questions.json").write_text(json.dumps(ROWS, indent=1, ensure_ascii=False), encoding="utf-8")
    cache = root / ".cuts"
    cuts = [write_video(cache / f"cut{i}.mp4", seconds=1.0, fps=5, start=50 * i) for i in range(3)]
    for i, video in enumerate(dict.fromkeys(r["video_id"] for r in ROWS)):
        dst = root / "data" / f"{video}.mp4"
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(cuts[i % len(cuts)], dst)
    shutil.rmtree(cache)
