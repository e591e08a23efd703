"""PerceptionComp (arXiv 2603.26653; hrinnnn/PerceptionComp), Hugging Face ``hrinnnn/PerceptionComp``: 1114
five-choice questions on 273 videos, each a chain of perception steps, in 7 categories and 3 difficulty levels.

Layout (``<data root>/perceptioncomp/``)::

    questions.json          a JSON list of the 1114 questions, keys "1".."1114" in order
    data/<video_id>.mp4     the videos (a video found elsewhere under data/ or videos/ by its name is used too)

Row fields: ``key`` (the id, a string), ``video_id``, ``question``, ``answer_choice_0`` .. ``answer_choice_4``
(one row, key 382, also has ``answer_choice_5``, which neither released evaluator shows), ``answer_id`` (0-4),
``answer`` (the right option's text; ten rows disagree with ``answer_choice_<answer_id>``, the id is what both
scorers use), ``category`` (outdoor tour, shopping, sport, variety show, home tour, game, movie), ``difficulty``
(1-3). Choices are ``A. <answer_choice_0>`` .. ``E. <answer_choice_4>``; the answer is the letter of ``answer_id``.

Scoring:

* ``official`` follows hrinnnn/PerceptionComp ``evaluate/tools/runners/api_evaluate.py`` at bf4146fe (the runner
  ``evaluate/evaluate.py`` uses for every non-Gemini model): the text of the last ``<answer>..</answer>`` block;
  else the letter after ``Answer`` (``(?:Answer[:\\s]*)([A-E])\\b``, any case); else the last stand-alone capital
  A-E of the reply; else the whole reply. That choice is upper-cased and its last stand-alone ``A``-``E`` is the
  prediction (none: wrong). Overall = correct / total; per_task = accuracy per category.
* ``paper`` follows SpatialClaw ``spatial_agent/evals/perceptioncomp.py`` at b062f829: ``<answer>X</answer>``,
  ``\\boxed{X}``, ``answer`` + spaces/colons + X, the last stand-alone a-e / A-E letter, the only letter; correct
  when it equals the answer letter. Overall = correct / total; per_task = accuracy per category and per difficulty
  (``difficulty 1`` .. ``difficulty 3``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from spatial_eval.extract import answer_block, boxed_letter, only_letter, pattern_letter
from spatial_eval.files import letter, read_json
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
    mean_over_samples,
)

NAME = "perceptioncomp"
ANNOTATIONS = "questions.json"
N_SHOWN = 5
"""Options shown: ``answer_choice_0`` .. ``answer_choice_4`` (both released evaluators stop at five)."""

CATEGORIES: tuple[str, ...] = ("outdoor tour", "shopping", "sport", "variety show", "home tour", "game", "movie")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")

OFFICIAL_SOURCES = (
    Source(
        "hrinnnn/PerceptionComp",
        "evaluate/tools/runners/api_evaluate.py",
        "bf4146fe7db3b490b310fd1cacb5720680abbfaa",
        "answer parsing and accuracy of evaluate()",
    ),
)
PAPER_SOURCES = (Source.spatialclaw("perceptioncomp.py"),)

INSTRUCTION = "Reply with the letter (A, B, C, D or E) of the correct option only."


def _video_index(root: Path) -> dict[str, Path]:
    """Video stem -> path for every video under ``data/`` and ``videos/`` (for snapshots not flat in ``data/``)."""
    out: dict[str, Path] = {}
    for sub in ("data", "videos"):
        d = root / sub
        if d.is_dir():
            for p in sorted(d.rglob("*")):
                if p.suffix.lower() in VIDEO_SUFFIXES and p.is_file():
                    out.setdefault(p.stem, p)
    return out


def _sample(root: Path, item: Any, index: dict[str, Path]) -> Sample:
    """One question -> a Sample. Raises ValueError naming the bad field."""
    if not isinstance(item, dict):
        raise ValueError("the row is not a JSON object")
    for k in ("key", "video_id", "question", "category"):
        if item.get(k) is None or not str(item[k]).strip():
            raise ValueError(f"field {k!r} is missing or empty")
    shown = [(i, item[f"answer_choice_{i}"]) for i in range(N_SHOWN) if f"answer_choice_{i}" in item]
    if not shown:
        raise ValueError("no answer_choice_0..answer_choice_4")
    answer_id = item.get("answer_id")
    if not isinstance(answer_id, int) or isinstance(answer_id, bool) or not 0 <= answer_id < N_SHOWN:
        raise ValueError(f"field 'answer_id' must be an integer 0-4, got {answer_id!r}")
    video_id = str(item["video_id"])
    video = root / "data" / f"{video_id}.mp4"
    if not video.exists() and video_id in index:
        video = index[video_id]
    difficulty = item.get("difficulty")
    unshown = {k: item[k] for k in item if re.fullmatch(r"answer_choice_\d+", k) and int(k[14:]) >= N_SHOWN}
    return Sample(
        benchmark=NAME,
        source_id=str(item["key"]),
        question=str(item["question"]),
        inputs=[{"kind": "video", "path": str(video)}],
        answer=letter(answer_id),
        choices=[f"{letter(i)}. {text}" for i, text in shown],
        question_type=str(item["category"]),
        category=None,
        instruction=INSTRUCTION,
        media=[video],
        extra={
            "video_id": video_id,
            "answer_id": answer_id,
            "answer_text": item.get("answer"),
            "difficulty": difficulty,
            "unshown_choices": unshown,
        },
    )


def load(root: Path, ctx: LoadContext) -> Loaded:
    """Read ``questions.json`` in its published order. Raises DatasetMissing when it is absent."""
    path = BENCHMARKS[0].require(root, ANNOTATIONS)
    data = read_json(path)
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a JSON list of questions, got {type(data).__name__}")
    index = _video_index(root)
    rows = RowCollector("key", errors=(ValueError, TypeError, KeyError))
    for i, item in enumerate(data):
        sid = str(item.get("key")) if isinstance(item, dict) and item.get("key") is not None else None
        rows.add(f"{ANNOTATIONS}[{i}]", sid, _sample, root, item, index)
    return rows.loaded()


# ---------------------------------------------------------------------------------------------------------------

_AFTER_ANSWER = re.compile(r"(?:Answer[:\s]*)([A-E])\b", re.IGNORECASE)
_CAPITAL = re.compile(r"\b([A-E])\b")


def official_extract(reply: str | None) -> str:
    """``api_evaluate.py``'s parsing: a letter ``A``-``E``, or ``WRONG`` (a None reply reads as ``""``)."""
    raw = reply or ""
    choice = answer_block(raw)
    if choice is None:
        choice = pattern_letter(raw, (_AFTER_ANSWER,)) or pattern_letter(raw, (_CAPITAL,), last=True) or raw
    return pattern_letter(choice.strip().upper(), (_CAPITAL,), last=True) or "WRONG"


_P_TAG = re.compile(r"<answer>\s*([A-Ea-e])\s*</answer>")
_P_ANSWER = re.compile(r"[Aa]nswer[\s:]*([A-Ea-e])\b")
_P_LETTER = re.compile(r"\b([A-Ea-e])\b")


def paper_extract(prediction: str | None) -> str:
    """SpatialClaw ``PerceptionCompBench.extract_answer``: a letter ``A``-``E``, else the stripped reply."""
    if not prediction:
        return ""
    return (
        pattern_letter(prediction, (_P_TAG,))
        or boxed_letter(prediction, "A-Ea-e", style="tight")
        or pattern_letter(prediction, (_P_ANSWER,))
        or pattern_letter(prediction, (_P_LETTER,), last=True)
        or only_letter(prediction, "A-Za-z", "ABCDE")
        or prediction.strip()
    )


def _accuracy(items: Sequence[Scored], *, with_difficulty: bool) -> Aggregate:
    """Overall = correct / total; per_task = accuracy per category (in :data:`CATEGORIES` order), and per difficulty
    (``difficulty 1`` ...) with ``with_difficulty``."""
    agg = mean_over_samples(items, order=CATEGORIES)
    if with_difficulty:
        agg.per_task.update(group_means(items, lambda s: f"difficulty {s.sample.extra.get('difficulty')}"))
    return agg


class PerceptionCompOfficial(Scoring):
    """hrinnnn/PerceptionComp ``api_evaluate.py``: tagged / ``Answer`` / last capital letter, correct / total."""

    name = "official"
    sources = OFFICIAL_SOURCES
    description = "api_evaluate.py answer parsing; overall = correct / total"

    def score(self, sample: Sample, prediction: str | None) -> float | None:
        if sample.answer is None:
            return None
        return 1.0 if official_extract(prediction) == sample.answer else 0.0

    def aggregate(self, items: Sequence[Scored]) -> Aggregate:
        return _accuracy(items, with_difficulty=False)


class PerceptionCompPaper(Scoring):
    """SpatialClaw ``PerceptionCompBench.evaluate``: its letter extraction, correct / total."""

    name = "paper"
    sources = PAPER_SOURCES
    description = "SpatialClaw PerceptionCompBench.extract_answer; overall = correct / total"

    def score(self, sample: Sample, prediction: str | None) -> float | None:
        if sample.answer is None:
            return None
        return 1.0 if paper_extract(prediction) == str(sample.answer).strip().upper() else 0.0

    def aggregate(self, items: Sequence[Scored]) -> Aggregate:
        return _accuracy(items, with_difficulty=True)


BENCHMARKS = (
    Benchmark(
        name=NAME,
        title="PerceptionComp",
        hf_repo="hrinnnn/PerceptionComp",
        category="General video",
        layout=(
            "questions.json (key, video_id, question, answer_choice_0..4, answer_id, answer, category, difficulty); "
            "data/<video_id>.mp4"
        ),
        load=load,
        scorings={"official": PerceptionCompOfficial(), "paper": PerceptionCompPaper()},
        published_count=1114,
        settings={"video_max_fps": 1},
    ),
)
