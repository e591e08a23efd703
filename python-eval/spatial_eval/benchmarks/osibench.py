"""OSI-Bench (Wu et al. 2025, "From Indoor to Open World: Revealing the Spatial Reasoning Gap in MLLMs"), Hugging Face
``HarmlessSR07/OSI-Bench``: 8766 questions about 997 outdoor pedestrian-view videos, multiple choice and numeric.

Layout (``<data root>/osibench/``)::

    data.parquet                       the 8766 rows
    videos_part1.zip ... videos_part4.zip   the published video archives (flat ``<video>.mp4`` members)
    <video>.mp4                        the videos once the archives are unzipped here (also accepted under
                                       ``video/`` or ``videos/``)

Row fields: ``index`` (the official id), ``category`` (the 9 task names below), ``question_type`` (``mcq`` or
``numerical``: the field the official scorer dispatches on), ``question``, ``options`` (``["A. ...", ...]`` for
``mcq``, empty or null for ``numerical``), ``answer`` (the letter, or the number as text), ``file_name``
(``<video>.mp4``), ``video_id``/``video`` (the video's id, e.g. ``0000``) and ``video_length`` (seconds). The video is
bound whole.

Scoring:

* ``official`` follows the authors' VLMEvalKit dataset (harmlessSR/OpenBench, ``VLMEvalKit/vlmeval/dataset/OSIBench``
  at 2300b0f4): ``numerical`` rows take the **last** number of the prediction (commas removed) and score MRA over
  ``np.linspace(.5, .95, 10)`` with ``|p-g|/|g| <= 1-t``; a ground truth of 0 scores 1 only for a prediction of
  exactly 0, except in ``absolute_speed``/``absolute_displacement`` (threshold 0.30) and ``trajectory_length``
  (threshold 2.0), where a prediction below the threshold scores 1 and any other is scored against the threshold as
  ground truth. ``mcq`` rows take a letter by three regular expressions (a Chinese "答案" form, an upper-case letter
  between brackets/spaces/commas/dots, a leading upper-case letter) and compare it with the answer as published.
  Overall = the mean over samples; per_task = the mean per category.
* ``paper`` follows SpatialClaw ``spatial_agent/evals/osibench.py`` at b062f829: dispatch on the category (an
  unknown category scores 0); multiple choice tries ``\\boxed{X}``, ``X.``/``(X)``/``X:`` anywhere (A-D, any case),
  a one-letter first token, the option text, else the first token; numbers take a boxed number, else the **first**
  number (commas not removed), else ``float`` of the first token; MRA and the zero thresholds as official.
  Overall = the mean over samples.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from spatial_eval.extract import (
    boxed_letter,
    marked_letter,
    one_letter,
    option_text_letter,
    options_by_letter,
    vsi_first_token,
)
from spatial_eval.files import read_parquet
from spatial_eval.metrics import abs_mra, to_float
from spatial_eval.types import Benchmark, LoadContext, Loaded, RowCollector, Sample, Scoring, Source

#: SpatialClaw's two dispatch lists (the paper profile scores any other category 0).
PAPER_MCQ_CATEGORIES = ("trajectory_description", "relative_distance", "relative_direction_categorical_ordinal")
PAPER_NUMERICAL_CATEGORIES = (
    "absolute_speed",
    "absolute_displacement",
    "absolute_distance",
    "object_3d_localization",
    "depth_aware_counting",
    "trajectory_length",
)
#: Categories whose zero ground truth is scored against a threshold (metres per second, metres), both profiles.
ZERO_THRESHOLDS: dict[str, float] = {"absolute_speed": 0.30, "absolute_displacement": 0.30, "trajectory_length": 2.0}
#: The benchmark's three tiers (VLMEvalKit's OSI-Bench task list): our coarser ``category``.
TIER = {
    "relative_distance": "relational",
    "relative_direction_categorical": "relational",
    "relative_direction_categorical_cardinal": "relational",
    "relative_direction_categorical_ordinal": "relational",
    "trajectory_description": "relational",
    "object_3d_localization": "static_metric",
    "absolute_distance": "static_metric",
    "depth_aware_counting": "static_metric",
    "relative_direction_angular": "static_metric",
    "absolute_displacement": "dynamic_metric",
    "absolute_speed": "dynamic_metric",
    "trajectory_length": "dynamic_metric",
}
ANSWER_TYPES = ("mcq", "numerical")

OFFICIAL_SOURCES = (
    Source(
        "harmlessSR/OpenBench",
        "VLMEvalKit/vlmeval/dataset/OSIBench/osibench.py",
        "2300b0f4b89edf9717a69e98d04020b004ce018d",
        "OSIBench.evaluate",
    ),
    Source(
        "harmlessSR/OpenBench",
        "VLMEvalKit/vlmeval/dataset/OSIBench/utils.py",
        "2300b0f4b89edf9717a69e98d04020b004ce018d",
        "extraction and MRA",
    ),
)
PAPER_SOURCES = (Source.spatialclaw("osibench.py"), Source.spatialclaw("scoring.py"))

INSTRUCTION_MC = "Reply with the letter of the correct option only."
INSTRUCTION_NA = "Reply with a single number only, without units or any other words."
_TAGS = "Objects named by a number in the question carry that number as a tag drawn next to them in the video. "


def _video_file(root: Path, row: dict[str, Any]) -> Path:
    """The row's mp4: ``file_name`` (or ``<video id>.mp4``) at the root, else under ``video/`` or ``videos/``; the
    first that exists, or the root path when none does (``check`` reports it missing)."""
    name = row.get("file_name")
    if not name:
        vid = row.get("video") if row.get("video") is not None else row.get("video_id")
        if vid is None or not str(vid).strip():
            raise ValueError("no file_name, video or video_id field")
        name = f"{vid}.mp4"
    name = str(name)
    candidates = [root / name, root / "video" / name, root / "videos" / name]
    return next((p for p in candidates if p.is_file()), candidates[0])


def _sample(root: Path, row: dict[str, Any]) -> Sample:
    """One ``data.parquet`` row -> a Sample. Raises ValueError naming the bad field."""
    for k in ("index", "category", "question_type", "question", "answer"):
        v = row.get(k)
        if v is None or (isinstance(v, str) and not v.strip()):
            raise ValueError(f"field {k!r} is missing or empty")
    answer_type = str(row["question_type"])
    if answer_type not in ANSWER_TYPES:
        raise ValueError(f"question_type {answer_type!r} is neither 'mcq' nor 'numerical'")
    category = str(row["category"])
    options = row.get("options")
    choices: list[str] | None = None
    if answer_type == "mcq":
        if not options:
            raise ValueError("an mcq row needs options")
        choices = [str(o) for o in options if o is not None]
    video = _video_file(root, row)
    raw_answer = row["answer"]
    answer: str | float | int = raw_answer if isinstance(raw_answer, (str, int, float)) else str(raw_answer)
    tags = "" if category == "trajectory_description" else _TAGS
    length = to_float(row.get("video_length"))
    return Sample(
        benchmark="osibench",
        source_id=str(row["index"]),
        question=str(row["question"]),
        inputs=[{"kind": "video", "path": str(video)}],
        answer=answer,
        choices=choices,
        question_type=category,
        category=TIER.get(category),
        instruction=tags + (INSTRUCTION_MC if answer_type == "mcq" else INSTRUCTION_NA),
        media=[video],
        extra={
            "answer_type": answer_type,
            "video": video.stem,
            "video_length": None if length is None or length != length else length,
        },
    )


def load(root: Path, ctx: LoadContext) -> Loaded:
    """Read ``<root>/data.parquet`` in its published order."""
    path = BENCHMARKS[0].require(root, "data.parquet")
    rows = RowCollector("index")
    for i, row in enumerate(read_parquet(path)):
        rows.add(f"data.parquet row {i}", None if row.get("index") is None else str(row["index"]), _sample, root, row)
    return rows.loaded()


# ---------------------------------------------------------------------------------------------------------------
# official: harmlessSR/OpenBench VLMEvalKit/vlmeval/dataset/OSIBench/{utils,osibench}.py

_OFF_ANSWER_IS = re.compile(r"[\(\[A-Z]\s*答案是?[:：]?\s*'?\"?([A-Z])'?\"?", re.IGNORECASE)
_OFF_BETWEEN = re.compile(r"[\[\(\s,.]([A-Z])[\]\)\s,.]")
_OFF_LEADING = re.compile(r"\s*([A-Z])")
_OFF_NUMBER = re.compile(r"[+-]?\d+(?:\.\d+)?")


def official_option(text: str) -> str | None:
    """``extract_option_from_prediction``: a letter after "答案(是)" (any case, kept as written), else the first
    upper-case letter with ``[ ( space , .`` before it and ``] ) space , .`` after it in ``" " + text + " "``, else an
    upper-case letter at the start (after spaces), else None.

    ``"(B)"``, ``"B."``, ``"B)"``, ``" B"`` -> ``B``; ``"I think B"`` -> ``I`` (the pronoun comes first);
    ``"Bridge"`` -> ``B``; ``"\\boxed{B}"``, ``"b"``, ``""`` -> None.
    """
    m = _OFF_ANSWER_IS.search(text)
    if m:
        return m.group(1)
    m = _OFF_BETWEEN.search(f" {text} ")
    if m:
        return m.group(1)
    m = _OFF_LEADING.match(text)
    return m.group(1) if m else None


def official_number(text: str) -> float | None:
    """``extract_number_from_prediction``: commas removed, then the **last** ``[+-]?\\d+(\\.\\d+)?`` as a float.

    ``"1,200"`` -> 1200; ``"2.5m"`` -> 2.5; ``"3 to 4"`` -> 4; ``".5"`` -> 5; ``"1e3"`` -> 3; ``"four"`` -> None.
    """
    found = _OFF_NUMBER.findall(text.replace(",", ""))
    return float(found[-1]) if found else None


def mra(pred: float, gt: float, zero_threshold: float | None = None) -> float:
    """MRA as both OSI-Bench scorers compute it: the share of the 10 thresholds ``np.linspace(.5, .95, 10)`` with
    ``|pred - gt| / |gt| <= 1 - t`` (float64, no slack).

    A ground truth of 0: without ``zero_threshold``, 1 for a prediction of exactly 0, else 0; with it, 1 for any
    prediction below the threshold (negative ones too), else the MRA against the threshold as ground truth. A NaN or
    infinite prediction scores 0.
    """
    if gt == 0:
        if zero_threshold is None:
            return 1.0 if pred == 0 else 0.0
        if pred < zero_threshold:
            return 1.0
        gt = zero_threshold
    return abs_mra(pred, gt)


class OsiOfficial(Scoring):
    """The authors' VLMEvalKit ``OSIBench.evaluate``: per-row score by ``question_type``, overall = mean over rows."""

    name = "official"
    sources = OFFICIAL_SOURCES
    description = "last number + zero-aware MRA; regex letter; mean over samples"

    def score(self, sample: Sample, prediction: str | None) -> float | None:
        if sample.answer is None:
            return None
        text = "" if prediction is None else str(prediction)
        kind = sample.extra.get("answer_type")
        if kind == "numerical":
            pred = official_number(text)
            gt = to_float(sample.answer)
            if pred is None or gt is None:
                return 0.0
            return mra(pred, gt, ZERO_THRESHOLDS.get(sample.question_type or ""))
        if kind == "mcq":
            return 1.0 if official_option(text) == str(sample.answer) else 0.0
        return 0.0


# ---------------------------------------------------------------------------------------------------------------
# paper: NVlabs/SpatialClaw spatial_agent/evals/osibench.py

_BOXED_NUMBER = re.compile(r"\\boxed{\s*([+-]?\d+\.?\d*)\s*}")
_FIRST_NUMBER = re.compile(r"[+-]?\d+\.?\d*")


def paper_options(choices: Sequence[str] | None) -> dict[str, str]:
    """SpatialClaw's ``_parse_options``: ``"A. text"``/``"A) text"`` -> ``{"A": "text"}`` (each option stripped first);
    an option without a letter takes the letter of its position."""
    return options_by_letter([str(o).strip() for o in choices or ()], by_position=True)


def paper_letter(prediction: str, choices: Sequence[str] | None) -> str:
    """SpatialClaw's ``_extract_mc_answer``: boxed letter, ``X.``/``(X)``/``X:`` anywhere (any case), a one-letter first
    token, a prediction equal to an option's text, else the first token."""
    p = prediction.strip()
    if not p:
        return ""
    first = vsi_first_token(p)
    return (
        boxed_letter(p, "A-Da-d")
        or marked_letter(p)
        or one_letter(first)
        or option_text_letter(p, paper_options(choices)).upper()
        or first
    )


def paper_number(prediction: str) -> float | None:
    """SpatialClaw's ``_extract_numerical_answer``: a boxed number, else the **first** ``[+-]?\\d+\\.?\\d*`` (so
    ``"1,200"`` -> 1), else ``float`` of the first token (``"inf"``, ``"nan"``), else None."""
    p = prediction.strip()
    if not p:
        return None
    m = _BOXED_NUMBER.search(p)
    if m:
        return to_float(m.group(1))
    m = _FIRST_NUMBER.search(p)
    if m:
        return to_float(m.group(0))
    return to_float(vsi_first_token(p))


class OsiPaper(Scoring):
    """SpatialClaw's ``OSIBench.evaluate_single`` / ``evaluate`` (overall = mean over samples)."""

    name = "paper"
    sources = PAPER_SOURCES
    description = "boxed/pattern/first-token letter; first number + zero-aware MRA; mean over samples"

    def score(self, sample: Sample, prediction: str | None) -> float | None:
        if sample.answer is None:
            return None
        pred = (prediction or "").strip()
        cat = sample.question_type or ""
        if cat in PAPER_MCQ_CATEGORIES:
            gt = str(sample.answer).strip().upper()
            return 1.0 if paper_letter(pred, sample.choices).upper() == gt else 0.0
        if cat in PAPER_NUMERICAL_CATEGORIES:
            p = paper_number(pred)
            g = to_float(str(sample.answer).strip())
            if p is None or g is None:
                return 0.0
            return mra(p, g, ZERO_THRESHOLDS.get(cat))
        return 0.0


BENCHMARKS = (
    Benchmark(
        after_download="for z in videos_part*.zip; do unzip $z; done",
        name="osibench",
        title="OSI-Bench",
        hf_repo="HarmlessSR07/OSI-Bench",
        category="Video & 4D",
        layout="data.parquet (index, category, question_type mcq|numerical, question, options, answer, file_name, "
        "video_length); <video>.mp4 unzipped from videos_part1..4.zip",
        load=load,
        scorings={"official": OsiOfficial(), "paper": OsiPaper()},
        published_count=8766,
    ),
)
