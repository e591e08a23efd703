"""DSI-Bench replica: ``dsibench/metadatas/{std,reverse,hflip,reverse_hflip}.csv`` (+ ``metadata_4aug.csv``) in the
published columns (cate, relative_path, video_type, question, options, GT, others), 3 row-aligned base questions, and
``videos/<aug>/<relative_path>`` made from real bedroom frames: ``std`` is an ffmpeg cut, ``hflip`` / ``reverse`` /
``reverse_hflip`` are that cut mirrored, time-reversed, or both (as the published augmentations are). Two of the three
questions share a clip, as in the published set. The questions are written for these clips (not published rows)."""

from __future__ import annotations

import csv
import subprocess
from pathlib import Path

from .media import write_video

AUGS = ("std", "reverse", "hflip", "reverse_hflip")
COLUMNS = ("cate", "relative_path", "video_type", "question", "options", "GT", "others")
FILTERS = {"hflip": "hflip", "reverse": "reverse", "reverse_hflip": "reverse,hflip"}

# (cate, relative_path, video_type, question, options, {aug: GT})
BASE = (
    (
        2,
        "CameraBench/bedroom_pan.mp4",
        0,
        "How does the camera move while filming the bedroom?",
        "A: Pans to the left; B: Pans to the right; C: Moves forward; D: Moves backward",
        {"std": "B", "reverse": "A", "hflip": "A", "reverse_hflip": "B"},
    ),
    (
        4,
        "CameraBench/bedroom_pan.mp4",
        0,
        "Over the clip, does the bed get closer to the camera or farther from it?",
        "A: Closer; B: Farther; C: It stays at the same distance; D: The bed is not visible",
        {"std": "A", "reverse": "B", "hflip": "A", "reverse_hflip": "B"},
    ),
    (
        0,
        "k700/bedroom_lamp.mp4",
        1,
        "Seen from the camera, which way does the lamp move across the frame?",
        "A: From left to right; B: From right to left; C: Upward; D: Downward",
        {"std": "A", "reverse": "B", "hflip": "B", "reverse_hflip": "A"},
    ),
)


def rows(aug: str) -> list[dict[str, object]]:
    """The replica's rows of ``metadatas/<aug>.csv``."""
    return [
        {"cate": c, "relative_path": p, "video_type": t, "question": q, "options": o, "GT": gt[aug], "others": ""}
        for c, p, t, q, o, gt in BASE
    ]


def write_csv(path: Path, table: list[dict[str, object]], columns: tuple[str, ...] = COLUMNS) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(columns))
        w.writeheader()
        w.writerows(table)


def _transform(src: Path, dst: Path, vf: str) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            "ffmpeg",
            "-loglevel",
            "error",
            "-y",
            "-i",
            str(src),
            "-vf",
            vf,
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
            "-an",
            str(dst),
        ],
        check=True,
    )


def write(data_root: Path) -> None:
    root = data_root / "dsibench"
    for aug in AUGS:
        write_csv(root / "metadatas" / f"{aug}.csv", rows(aug))
    write_csv(
        root / "metadatas" / "metadata_4aug.csv",
        [{**r, "aug": aug} for aug in AUGS for r in rows(aug)],
        (*COLUMNS, "aug"),
    )
    for i, rel in enumerate(sorted({p for _, p, *_ in BASE})):
        std = write_video(root / "videos" / "std" / rel, seconds=1.0, fps=5, start=60 * i)
        for aug, vf in FILTERS.items():
            _transform(std, root / "videos" / aug / rel, vf)
