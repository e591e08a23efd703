"""CVBench (cross-video reasoning; Hokhim2/CVBench, arXiv 2508.19542), Hugging Face ``Dongyh35/CVBench``: 1000
questions over 2-4 videos each (1315 clips), 15 task types, four-way multiple choice or Yes/No. Not
``nyu-visionx/CV-Bench``.

Layout (``<data root>/cvbench/``, after unzipping ``CVBench.zip``)::

    data/test-00000-of-00001.parquet      the 1000 rows, ids 0..999 in order
    videos/<n>/<clip>.mp4 | CVBench/<n>/<clip>.mp4 | <n>/<clip>.mp4
                                          the clips; ``video_k`` is relative to whichever of these folders holds
                                          the numbered sub-folders (SpatialClaw's search order)

Row fields: ``id`` (int), ``task_type`` (15 names), ``video_1`` .. ``video_4`` (relative mp4 paths, null when
unused), ``question``, ``options`` (``["A. White.", ...]`` or ``["Yes.", "No."]``), ``answer`` (``A``-``D`` or
``Yes`` / ``No``). Inputs: one ``video`` entry per clip, in ``video_1`` .. ``video_4`` order.

Scoring:

* ``official`` follows the benchmark's lmms-eval task ``mvr`` (Hokhim2/CVBench
  ``lmms-eval/lmms_eval/tasks/mvr/utils.py`` at f8dc8f75, the harness its README runs with ``--tasks mvr``): the
  reply is stripped, the phrases ``The best answer is``, ``The correct answer is``, ``The answer is``, ``The
  answer``, ``The best option is``, ``The correct option is``, ``Best answer:``, ``Best option:`` are deleted; a
  reply of more than 10 words without any of the capitals ``ABCDYESNO`` is blank; else the first match of
  ``(?i)([ABCD]|YES|NO)`` anywhere (inside words too: ``Answer: C`` reads ``A``), upper-cased, must equal the
  upper-cased answer. Overall = correct / answered over all questions; per_task = accuracy per task type.
* ``paper`` follows SpatialClaw ``spatial_agent/evals/cvbench.py`` at b062f829: the last ``<answer>..</answer>``
  block if any, else the reply. Yes/No rows (every option is yes/no once stripped of dots): the first whole word
  ``yes``/``no``, compared case-insensitively. Other rows: ``\\boxed{X}``, ``X.``, ``(X)``, ``X:``, a leading ``X``
  (A-D, any case), else the only a-d letter of the text (``Red`` reads ``D``), else the option text; correct when it
  equals the answer letter. Overall = correct / total; per_task = accuracy per task type.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from spatial_eval.extract import (
    answer_block,
    boxed_letter,
    first_choice_char,
    marked_letter,
    only_letter,
    option_text_letter,
    options_by_letter,
    pattern_letter,
    remove_phrases,
)
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
    mean_over_samples,
)

NAME = "cvbench"
PARQUET = "data/test-00000-of-00001.parquet"
VIDEO_FIELDS = ("video_1", "video_2", "video_3", "video_4")

TASK_CATEGORIES: tuple[str, ...] = (
    "Cross-video Anomaly Detection",
    "Cross-video Scene Recognition",
    "Multi-video Key-Action Recognition",
    "Cross-video Event Retrieval",
    "Cross-video Object Recognition",
    "Multi-video Attribute Recognition",
    "Joint-video Counting",
    "Cross-video Entity Matching",
    "Multi-view Scene Understanding",
    "Multi-video Temporal Reasoning",
    "Joint-video Spatial Navigating",
    "Video Difference Caption",
    "Cross-video Counterfactual Reasoning",
    "Joint-video Summarization",
    "Cross-video Procedural Transfer",
)
"""The 15 task types in the order the released code reports them."""

GROUP = {
    "Cross-video Object Recognition": "Object Association",
    "Multi-video Attribute Recognition": "Object Association",
    "Joint-video Counting": "Object Association",
    "Cross-video Entity Matching": "Object Association",
    "Cross-video Anomaly Detection": "Event Association",
    "Cross-video Scene Recognition": "Event Association",
    "Multi-video Key-Action Recognition": "Event Association",
    "Cross-video Event Retrieval": "Event Association",
    "Multi-view Scene Understanding": "Complex Reasoning",
    "Multi-video Temporal Reasoning": "Complex Reasoning",
    "Joint-video Spatial Navigating": "Complex Reasoning",
    "Video Difference Caption": "Complex Reasoning",
    "Cross-video Counterfactual Reasoning": "Complex Reasoning",
    "Joint-video Summarization": "Complex Reasoning",
    "Cross-video Procedural Transfer": "Complex Reasoning",
}
"""The README's three task groups (object association, event association, complex reasoning)."""

OFFICIAL_SOURCES = (
    Source(
        "Hokhim2/CVBench",
        "lmms-eval/lmms_eval/tasks/mvr/utils.py",
        "f8dc8f752fb8e7a3a05ac90e9ff9b3a9e90d79ed",
        "extract_characters_regex, mvr_process_results, mvr_aggregate_results",
    ),
)
PAPER_SOURCES = (Source.spatialclaw("cvbench.py"),)

INSTRUCTION_MC = (
    "The videos are the inputs in order (video 1 is input 1). Reply with the letter of the correct option only."
)
INSTRUCTION_YESNO = "The videos are the inputs in order (video 1 is input 1). Reply with Yes or No only."


def is_yesno(options: Sequence[str]) -> bool:
    """SpatialClaw's rule: options given, and each is ``yes`` or ``no`` once stripped of spaces and trailing dots."""
    return bool(options) and all(str(o).strip().rstrip(".").strip().lower() in ("yes", "no") for o in options)


def parse_options(options: Sequence[str]) -> dict[str, str]:
    """SpatialClaw's ``_parse_mc_options``: ``["A. foo.", ...]`` -> ``{"A": "foo.", ...}``; an option without a
    leading ``X.``/``X)`` (spaces before it allowed) gets the next letter."""
    return options_by_letter(list(options), indented=True)


def videos_root(root: Path) -> Path:
    """SpatialClaw's ``_resolve_videos_root``: the first of ``videos/``, ``CVBench/``, ``.`` that holds a numbered
    sub-folder; ``root`` when none does (the clips are then reported missing)."""
    for candidate in ("videos", "CVBench", "."):
        d = (root / candidate).resolve()
        if d.is_dir():
            try:
                if any(e.name.isdigit() for e in d.iterdir()):
                    return d
            except OSError:
                continue
    return root


def _blank(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or (isinstance(v, str) and not v.strip())


def _sample(row: dict[str, Any], vroot: Path) -> Sample:
    """One parquet row -> a Sample. Raises ValueError naming the bad field."""
    for k in ("id", "task_type", "question", "answer"):
        if _blank(row.get(k)):
            raise ValueError(f"field {k!r} is missing or empty")
    try:
        sid = str(int(row["id"]))
    except (TypeError, ValueError) as e:
        raise ValueError(f"field 'id' is not an integer: {row['id']!r}") from e
    videos = [str(row[k]) for k in VIDEO_FIELDS if not _blank(row.get(k))]
    if not videos:
        raise ValueError("no video_1..video_4 given")
    raw = row.get("options")
    if raw is not None and (isinstance(raw, (str, bytes)) or not hasattr(raw, "__iter__")):
        raise ValueError("field 'options' must be a list")
    options = [str(o) for o in list(raw)] if raw is not None else []
    yesno = is_yesno(options)
    paths = [vroot / v for v in videos]
    qtype = str(row["task_type"])
    return Sample(
        benchmark=NAME,
        source_id=sid,
        question=str(row["question"]).strip(),
        inputs=[{"kind": "video", "path": str(p)} for p in paths],
        answer=str(row["answer"]).strip(),
        choices=options or None,
        question_type=qtype,
        category=GROUP.get(qtype),
        instruction=INSTRUCTION_YESNO if yesno else INSTRUCTION_MC,
        media=paths,
        extra={
            "videos": videos,
            "is_yesno": yesno,
            "letter_choices": {} if yesno else parse_options(options),
        },
    )


def load(root: Path, ctx: LoadContext) -> Loaded:
    """Read ``data/test-00000-of-00001.parquet`` (or the ``data/test-*.parquet`` shards) in row order."""
    path = root / PARQUET
    files = [path] if path.is_file() else sorted((root / "data").glob("test-*.parquet"))
    if not files:
        raise BENCHMARKS[0].missing(root, PARQUET)
    vroot = videos_root(root)
    rows = RowCollector()
    n = 0
    for f in files:
        for row in read_parquet(f):
            rows.add(f"{f.name} row {n}", None if _blank(row.get("id")) else str(row.get("id")), _sample, row, vroot)
            n += 1
    return rows.loaded()


# ---------------------------------------------------------------------------------------------------------------

_MVR_CHECK = re.compile("[ABCDYESNO]")
_MVR_CHOICE = re.compile(r"(?i)([ABCD]|YES|NO)")


def official_extract(reply: str | None) -> str:
    """``extract_characters_regex`` of the ``mvr`` task: ``""`` when nothing is found (None reads as ``""``)."""
    found = first_choice_char(remove_phrases(reply or ""), _MVR_CHOICE, _MVR_CHECK)
    return "" if found is None else found.upper()


def _by_task(items: Sequence[Scored], *, official: bool) -> Aggregate:
    agg = mean_over_samples(items, order=TASK_CATEGORIES)
    others = [t for t in agg.per_task if t not in TASK_CATEGORIES]
    if official and others:
        agg.notes.append(f"task types outside the 15 ({', '.join(others)}) count in overall only (released code)")
        for t in others:
            del agg.per_task[t]
    absent = [t for t in TASK_CATEGORIES if t not in agg.per_task]
    if agg.scored and absent:
        agg.notes.append(
            f"{len(absent)} of the 15 task types absent; the released code lists them with "
            + ("0/0 answered" if official else "accuracy 0")
            + ", left out here"
        )
    return agg


class CvbenchOfficial(Scoring):
    """CVBench's lmms-eval ``mvr`` task: first A-D / YES / NO in the reply, correct / answered."""

    name = "official"
    sources = OFFICIAL_SOURCES
    description = "mvr extract_characters_regex; overall = correct / answered"

    def score(self, sample: Sample, prediction: str | None) -> float | None:
        if sample.answer is None:
            return None
        return 1.0 if official_extract(prediction).strip().upper() == str(sample.answer).strip().upper() else 0.0

    def aggregate(self, items: Sequence[Scored]) -> Aggregate:
        return _by_task(items, official=True)


_LEADING = re.compile(r"^\s*([A-D])\b", re.IGNORECASE)
_YESNO = re.compile(r"\b(yes|no)\b", re.IGNORECASE)


def paper_yesno(prediction: str | None) -> str:
    """SpatialClaw ``CVBench._extract_yesno``: ``Yes``, ``No`` or ``""``."""
    if not prediction:
        return ""
    text = answer_block(prediction) or prediction
    m = _YESNO.search(text)
    return m.group(1).capitalize() if m else ""


def paper_letter(prediction: str | None, choices: dict[str, str] | None = None) -> str:
    """SpatialClaw ``CVBench._extract_mc_letter``: an A-D letter or ``""``. In order: ``\\boxed{X}``,
    ``X.``/``(X)``/``X:``, a leading X (any case), the only a-d letter, the option text (trailing dots ignored)."""
    if not prediction:
        return ""
    text = (answer_block(prediction) or prediction).strip()
    return (
        boxed_letter(text, "A-Da-d")
        or marked_letter(text)
        or pattern_letter(text, (_LEADING,))
        or only_letter(text, "A-Da-d", "ABCD")
        or option_text_letter(text, choices or {}, trailing_dots=True).upper()
    )


class CvbenchPaper(Scoring):
    """SpatialClaw ``CVBench.evaluate_single`` / ``evaluate``: yes/no or letter extraction, correct / total."""

    name = "paper"
    sources = PAPER_SOURCES
    description = "SpatialClaw CVBench extraction; overall = correct / total"

    def score(self, sample: Sample, prediction: str | None) -> float | None:
        if sample.answer is None:
            return None
        gt = str(sample.answer).strip()
        if sample.extra.get("is_yesno"):
            pred = paper_yesno(prediction)
            return 1.0 if pred and pred.lower() == gt.lower() else 0.0
        pred = paper_letter(prediction, sample.extra.get("letter_choices") or {})
        return 1.0 if pred and pred.upper() == gt.upper() else 0.0

    def aggregate(self, items: Sequence[Scored]) -> Aggregate:
        return _by_task(items, official=False)


BENCHMARKS = (
    Benchmark(
        name=NAME,
        title="CVBench",
        hf_repo="Dongyh35/CVBench",
        category="General video",
        layout=(
            "data/test-00000-of-00001.parquet (id, task_type, video_1..video_4, question, options, answer); "
            "clips from CVBench.zip under videos/, CVBench/ or the folder itself"
        ),
        load=load,
        scorings={"official": CvbenchOfficial(), "paper": CvbenchPaper()},
        published_count=1000,
        settings={"num_key_frames": 32, "video_max_fps": 1},
    ),
)
