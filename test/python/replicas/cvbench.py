"""CVBench replica: ``cvbench/data/test-00000-of-00001.parquet`` with seven rows in the release's fields and column
types (the Hugging Face parquet; Hokhim2/CVBench ``Video-R1/src/r1-v/Evaluation/CVBench.json`` at f8dc8f75 holds the
same fields) and their clips under ``videos/<n>/`` cut from the real bedroom video.

The question and option texts are ours, written in the published format; the ids (0, 1, 3, 4, 20, 223, 996), task
types, clip paths and the ``VideoID n`` option labels of event-retrieval rows follow the release, and so do the
shapes the tests rely on: Yes/No answered No (id 0)
and Yes (id 20); four-way letters over 2, 3 and 4 videos; ``["A. Yes.", "B. No."]`` (id 223, a letter question for
both scorers); one row whose four options sit in a single string (id 996).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from .media import write_video

ROWS: list[dict[str, Any]] = [
    {
        "id": 0,
        "task_type": "Cross-video Scene Recognition",
        "video_1": "0/0Hd95ulYOT8.mp4",
        "video_2": "0/XW-lrijc1oQ.mp4",
        "video_3": None,
        "video_4": None,
        "question": "Does the same side lead on the scoreboard when each of the two videos ends?",
        "options": ["Yes.", "No."],
        "answer": "No",
    },
    {
        "id": 1,
        "task_type": "Multi-video Attribute Recognition",
        "video_1": "0/0Hd95ulYOT8.mp4",
        "video_2": "0/XW-lrijc1oQ.mp4",
        "video_3": None,
        "video_4": None,
        "question": "Which colour is most common on the kits of the teams that win in the two videos?",
        "options": ["A. Yellow.", "B. Gold.", "C. Brown.", "D. Purple."],
        "answer": "A",
    },
    {
        "id": 3,
        "task_type": "Cross-video Event Retrieval",
        "video_1": "1/5DHFEzdgtxE.mp4",
        "video_2": "1/7J3X3cbpFAI.mp4",
        "video_3": "1/9aF1qmty6AU.mp4",
        "video_4": "1/N9PVw7G32F4.mp4",
        "question": "In which video do the players have national flags printed on their sleeves?",
        "options": ["A. VideoID 1", "B. VideoID 2", "C. VideoID 3", "D. VideoID 4"],
        "answer": "D",
    },
    {
        "id": 4,
        "task_type": "Joint-video Counting",
        "video_1": "10/6KPeYiObWHs.mp4",
        "video_2": "10/QvWk-HbwdSA.mp4",
        "video_3": "10/sleeMRoccOo.mp4",
        "video_4": None,
        "question": "Taken together, how many distinct phases of shipping a package do the three videos show?",
        "options": ["A. 2 phases.", "B. 3 phases.", "C. 4 phases.", "D. 5 phases."],
        "answer": "B",
    },
    {
        "id": 20,
        "task_type": "Cross-video Scene Recognition",
        "video_1": "106/-ZzbTFeVlBU.mp4",
        "video_2": "106/3U14QYMV-7M.mp4",
        "video_3": "106/by6NR9EkNNI.mp4",
        "video_4": "106/Fio7T6mjCbI.mp4",
        "question": "Do the four videos share one common subject?",
        "options": ["Yes.", "No."],
        "answer": "Yes",
    },
    {
        "id": 223,
        "task_type": "Cross-video Scene Recognition",
        "video_1": "197/6tV_-CK3Hx8_seg1.mp4",
        "video_2": "197/6tV_-CK3Hx8_seg2.mp4",
        "video_3": "197/6tV_-CK3Hx8_seg3.mp4",
        "video_4": "197/6tV_-CK3Hx8_seg4.mp4",
        "question": "Do the clips, taken together, show both a sandy beach and a frozen lake?",
        "options": ["A. Yes.", "B. No."],
        "answer": "B",
    },
    {
        "id": 996,
        "task_type": "Cross-video Procedural Transfer",
        "video_1": "98/1PVA2nPU60U.mp4",
        "video_2": "98/G7ec7qCHwzc.mp4",
        "video_3": None,
        "video_4": None,
        "question": "Drawing on Video 1 and Video 2, which change would most help a folded paper glider stay in the "
        "air longer?",
        "options": [
            "A. Fold it from thicker card, B. Add a clip to the tail, C. Crease the nose more tightly, "
            "D. Make the wings broader and flatter"
        ],
        "answer": "D",
    },
]


def write_parquet(path: Path, rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    schema = pa.schema(
        [
            ("id", pa.int64()),
            ("task_type", pa.string()),
            *[(f"video_{k}", pa.string()) for k in range(1, 5)],
            ("question", pa.string()),
            ("options", pa.list_(pa.string())),
            ("answer", pa.string()),
        ]
    )
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)


def write(data_root: Path) -> None:
    root = data_root / "cvbench"
    write_parquet(root / "data" / "test-00000-of-00001.parquet", ROWS)
    clips = sorted({r[k] for r in ROWS for k in ("video_1", "video_2", "video_3", "video_4") if r[k]})
    cache = root / ".cuts"
    cuts = [write_video(cache / f"cut{i}.mp4", seconds=1.0, fps=5, start=60 * i) for i in range(3)]
    for i, rel in enumerate(clips):
        dst = root / "videos" / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(cuts[i % len(cuts)], dst)
    shutil.rmtree(cache)
