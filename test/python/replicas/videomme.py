"""Video-MME replica: ``videomme/videomme/test-00000-of-00001.parquet`` in the published columns (video_id, duration,
domain, sub_category, url, videoID, question_id, task_type, question, options, answer), 2 videos x 3 questions,
``data/<videoID>.mp4`` cut from the real bedroom video (the published videos come as ``videos_chunked_*.zip``, which
unzip to ``data/``) and one ``subtitle/<videoID>.srt``. Questions are written for the bedroom clips; the labels are
values of the published vocabularies (eval_your_results.py's lists)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from .media import write_video

VIDEOS = (
    ("001", "short", "Life Record", "Daily Life", "bdrm0000001"),
    ("002", "medium", "Knowledge", "Technology", "bdrm0000002"),
)

QUESTIONS = {
    "001": (
        ("Counting Problem", "How many pillows are on the bed?", ["A. 1.", "B. 2.", "C. 3.", "D. 4."], "B"),
        (
            "Spatial Perception",
            "Where is the lamp relative to the bed?",
            ["A. On the left.", "B. On the right.", "C. Above it.", "D. Under it."],
            "A",
        ),
        (
            "Object Recognition",
            "Which object is on the bedside table?",
            ["A. A lamp.", "B. A kettle.", "C. Candles.", "D. A laptop."],
            "C",
        ),
    ),
    "002": (
        (
            "Action Reasoning",
            "Why does the camera move along the wall?",
            ["A. To show the window.", "B. To follow a person.", "C. To zoom on a poster.", "D. To tour the room."],
            "D",
        ),
        (
            "Temporal Reasoning",
            "What appears after the bed?",
            ["A. A door.", "B. A desk.", "C. A window.", "D. A wardrobe."],
            "B",
        ),
        (
            "Spatial Reasoning",
            "Which side of the room is the window on?",
            ["A. Left.", "B. Right.", "C. Front.", "D. Back."],
            "A",
        ),
    ),
}

SCHEMA = pa.schema(
    [
        ("video_id", pa.string()),
        ("duration", pa.string()),
        ("domain", pa.string()),
        ("sub_category", pa.string()),
        ("url", pa.string()),
        ("videoID", pa.string()),
        ("question_id", pa.string()),
        ("task_type", pa.string()),
        ("question", pa.string()),
        ("options", pa.list_(pa.string())),
        ("answer", pa.string()),
    ]
)


def official_rows() -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for vid, duration, domain, sub, yt in VIDEOS:
        for j, (task, q, opts, ans) in enumerate(QUESTIONS[vid], 1):
            out.append(
                {
                    "video_id": vid,
                    "duration": duration,
                    "domain": domain,
                    "sub_category": sub,
                    "url": f"https://www.youtube.com/watch?v={yt}",
                    "videoID": yt,
                    "question_id": f"{vid}-{j}",
                    "task_type": task,
                    "question": q,
                    "options": opts,
                    "answer": ans,
                }
            )
    return out


def write(data_root: Path) -> None:
    root = data_root / "videomme"
    (root / "videomme").mkdir(parents=True, exist_ok=True)
    pq.write_table(
        pa.Table.from_pylist(official_rows(), schema=SCHEMA), root / "videomme" / "test-00000-of-00001.parquet"
    )
    for i, (_, _, _, _, yt) in enumerate(VIDEOS):
        write_video(root / "data" / f"{yt}.mp4", seconds=1.5, fps=5, start=90 * i)
    srt = root / "subtitle" / f"{VIDEOS[0][4]}.srt"
    srt.parent.mkdir(parents=True, exist_ok=True)
    srt.write_text("1\n00:00:00,000 --> 00:00:01,000\nThis is my bedroom.\n", encoding="utf-8")
