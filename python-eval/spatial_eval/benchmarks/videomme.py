"""Video-MME (Fu et al. 2024), Hugging Face ``lmms-lab/Video-MME``: 2,700 four-option questions (3 per video) about
900 videos of 11 s to 1 h, in three durations (short, medium, long), 6 domains, 30 sub-categories and 12 task types.

Layout (``<data root>/videomme/``)::

    videomme/test-00000-of-00001.parquet   the 2,700 rows
    videos_chunked_01.zip ... _20.zip      the videos as published; unzipped they give data/<videoID>.mp4
    subtitle.zip                           unzipped: subtitle/<videoID>.srt (744 files; recorded, not used)

Row fields: ``video_id`` ("001"), ``duration`` (short | medium | long), ``domain``, ``sub_category``, ``url``,
``videoID`` (the YouTube id, the file name), ``question_id`` ("001-1", the id used here), ``task_type``, ``question``,
``options`` (``["A. ...", "B. ...", "C. ...", "D. ..."]``), ``answer`` (the letter).

Scoring:

* ``official`` follows the Video-MME authors' ``eval_your_results.py`` (thanku-all/parse_answer at afd52cfe, the
  script the BradyFU/Video-MME README points to): some answer phrases are deleted from the stripped response (two
  pairs of them are fused into one string by missing commas in the released list, so those are only deleted
  together), then the **first capital A-D anywhere** is the answer. A response without one is *not answered*: it
  leaves the denominator (score None here). Accuracy = correct/answered, overall and per task type, duration, domain
  and sub-category.
* ``paper`` follows SpatialClaw ``spatial_agent/evals/videomme.py`` (which uses ``BaseBenchmark.extract_answer`` in
  ``base.py``) at b062f829: ``\\boxed{X}``, else the first letter followed by ``.``, ``:`` or ``)`` (optionally in
  parentheses), else the only letter of the response, else the response itself; equal to the answer; accuracy =
  correct/total with per-duration, per-domain and per-task-type accuracy.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from spatial_eval.extract import base_answer, first_choice_char, remove_phrases
from spatial_eval.files import read_parquet
from spatial_eval.types import (
    Aggregate,
    Benchmark,
    LoadContext,
    Loaded,
    RowCollector,
    Sample,
    Scored,
    Scoring,
    Source,
    group_means,
    sample_mean,
)

OFFICIAL_SOURCES = (
    Source("thanku-all/parse_answer", "eval_your_results.py", "afd52cfe3dde5b3685e0d4f760c10c756860c758"),
    Source("BradyFU/Video-MME", "README.md", "8889f313a4b9e9480611d65daa505aab2ef63808", "points to the script"),
)
PAPER_SOURCES = (Source.spatialclaw("videomme.py"), Source.spatialclaw("base.py", "extract_answer"))

INSTRUCTION = "Reply with the letter (A, B, C or D) of the best option only."
SETTINGS: dict[str, Any] = {"video_max_fps": 1}
_FPS = 1

_NEEDED = ("videoID", "question_id", "question", "options", "answer")


def _video(data: Path, video_id: str) -> Path:
    """``data/<videoID>.mp4``; a ``.MP4`` or ``.mkv`` file of that name when only such a one exists (lmms-eval looks
    for those too)."""
    first = data / f"{video_id}.mp4"
    if first.exists():
        return first
    for suffix in (".MP4", ".mkv"):
        other = data / f"{video_id}{suffix}"
        if other.exists():
            return other
    return first


def _sample(root: Path, row: dict[str, Any]) -> Sample:
    """One parquet row -> a Sample. Raises ValueError naming the bad field."""
    for k in _NEEDED:
        v = row.get(k)
        if v is None or (isinstance(v, str) and not v.strip()):
            raise ValueError(f"field {k!r} is missing or empty")
    options = row["options"]
    if isinstance(options, str) or not hasattr(options, "__iter__"):
        raise ValueError("field 'options' is not a list")
    options = [str(o) for o in options]
    if not options:
        raise ValueError("field 'options' is empty")
    vid = str(row["videoID"]).strip()
    video = _video(root / "data", vid)
    srt = root / "subtitle" / f"{vid}.srt"
    return Sample(
        benchmark="videomme",
        source_id=str(row["question_id"]).strip(),
        question=str(row["question"]),
        inputs=[{"kind": "video", "path": str(video), "max_fps": _FPS}],
        answer=str(row["answer"]).strip(),
        choices=options,
        question_type=str(row.get("task_type") or "") or None,
        category=str(row.get("domain") or "") or None,
        instruction=INSTRUCTION,
        media=[video],
        extra={
            "video_id": str(row.get("video_id") or ""),
            "videoID": vid,
            "duration": str(row.get("duration") or ""),
            "domain": str(row.get("domain") or ""),
            "sub_category": str(row.get("sub_category") or ""),
            "task_type": str(row.get("task_type") or ""),
            "url": str(row.get("url") or ""),
            "subtitle_path": str(srt) if srt.exists() else None,
        },
    )


def load(root: Path, ctx: LoadContext) -> Loaded:
    """Read ``videomme/*.parquet`` (the published ``test-00000-of-00001.parquet``) in file order."""
    folder = root / "videomme"
    files = sorted(folder.glob("*.parquet")) if folder.is_dir() else []
    if not files:
        raise BENCHMARKS[0].missing(root, "videomme/test-00000-of-00001.parquet")
    rows = RowCollector("question_id")
    for f in files:
        for i, row in enumerate(read_parquet(f)):
            sid = str(row.get("question_id")) if row.get("question_id") else None
            rows.add(f"videomme/{f.name} row {i}", sid, _sample, root, row)
    return rows.loaded()


# ---------------------------------------------------------------------------------------------------------------
# official: eval_your_results.py

# The released list, as Python reads it: "The best option is" "The correct option is" and "Best answer:" "Best
# option:" have no comma between them, so each pair is one string and is deleted only where it occurs whole.
_OFFICIAL_PHRASES = (
    "The best answer is",
    "The correct answer is",
    "The answer is",
    "The answer",
    "The best option isThe correct option is",
    "Best answer:Best option:",
    "Answer:",
    "Option:",
    "The correct answer",
    "The correct option",
)
_ABCD = re.compile(r"[ABCD]")


def official_letter(prediction: str | None) -> str:
    """``extract_characters_regex``: strip, delete the answer phrases in order, then the first capital A-D anywhere
    (``""``: none, which the released script counts as not answered). None -> ``""``."""
    return first_choice_char(remove_phrases(prediction or "", _OFFICIAL_PHRASES), _ABCD) or ""


_DURATIONS = ("short", "medium", "long")
_BREAKDOWNS = (("", "task_type"), ("duration/", "duration"), ("domain/", "domain"), ("sub_category/", "sub_category"))


def _accuracy_table(items: Sequence[Scored], breakdowns: Sequence[tuple[str, str]] = _BREAKDOWNS) -> dict[str, float]:
    """Mean score of the scored samples per task type (plain key), ``duration/<d>`` (short, medium, long),
    ``domain/<d>`` and ``sub_category/<s>``."""
    per: dict[str, float] = {}
    for prefix, field in breakdowns:
        means = group_means(items, lambda s, field=field: str(s.sample.extra.get(field) or ""), order=_DURATIONS)
        per.update({prefix + k: v for k, v in means.items()})
    return per


class VideoMmeOfficial(Scoring):
    """``eval_your_results.py``: first capital A-D after deleting answer phrases; unanswered responses leave the
    denominator; accuracy per task type, duration, domain and sub-category."""

    name = "official"
    sources = OFFICIAL_SOURCES
    description = "first capital A-D; correct/answered (no letter: not answered, excluded)"

    def score(self, sample: Sample, prediction: str | None) -> float | None:
        if sample.answer is None:
            return None
        got = official_letter(prediction)
        if not got:
            return None  # not answered: the released script leaves it out of correct and answered
        return 1.0 if got == str(sample.answer) else 0.0

    def aggregate(self, items: Sequence[Scored]) -> Aggregate:
        scored = [s for s in items if s.score is not None]
        notes: list[str] = []
        if len(scored) < len(items):
            notes.append(
                f"{len(items) - len(scored)} responses without a capital A-D are not answered: left out of the "
                "denominator, as eval_your_results.py does"
            )
        return Aggregate(sample_mean(scored), _accuracy_table(scored), len(items), len(scored), notes)


# ---------------------------------------------------------------------------------------------------------------
# paper: SpatialClaw VideoMMEBench with BaseBenchmark.extract_answer (spatial_eval.extract.base_answer)


class VideoMmePaper(Scoring):
    """SpatialClaw's ``VideoMMEBench.evaluate``: correct/total, per duration, domain and task type."""

    name = "paper"
    sources = PAPER_SOURCES
    description = "SpatialClaw's base letter extraction; correct/total"

    def score(self, sample: Sample, prediction: str | None) -> float | None:
        if sample.answer is None:
            return None
        return 1.0 if base_answer(prediction) == str(sample.answer).strip().upper() else 0.0

    def aggregate(self, items: Sequence[Scored]) -> Aggregate:
        scored = [s for s in items if s.score is not None]
        return Aggregate(sample_mean(scored), _accuracy_table(scored, _BREAKDOWNS[:3]), len(items), len(scored))


BENCHMARKS = (
    Benchmark(
        name="videomme",
        title="Video-MME",
        hf_repo="lmms-lab/Video-MME",
        category="General video",
        layout="videomme/test-00000-of-00001.parquet (video_id, duration, domain, sub_category, url, videoID, "
        "question_id, task_type, question, options, answer); data/<videoID>.mp4 from videos_chunked_*.zip",
        load=load,
        scorings={"official": VideoMmeOfficial(), "paper": VideoMmePaper()},
        published_count=2700,
        settings=dict(SETTINGS),
    ),
)
