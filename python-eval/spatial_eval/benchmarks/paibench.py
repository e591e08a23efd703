"""PAI-Bench-U (Zhou et al. 2025, "PAI-Bench: A Comprehensive Benchmark For Physical AI", video understanding track),
Hugging Face ``shi-labs/physical-ai-bench-understanding``: 1214 multiple-choice questions about 927 videos.

Layout (``<data root>/paibench/``)::

    data/test-00000-of-00001.parquet   the 1214 rows (every data/test-*.parquet shard, in name order)
    videos/<subset>/<name>.mp4         927 videos in 7 subsets

Row fields: ``question``, ``index2ans`` (``{"A": text, "B": text, "C": text|null, "D": text|null}``), ``answer``
(the letter), ``video_path`` (relative to the dataset root, ``videos/...``), ``category`` (2: embodied reasoning,
common sense) and ``subcategory`` (16). There is no id field: the official id is the row number (0-based, over the
shards in order), as SpatialClaw numbers them. The choices are ``"<letter>. <text>"`` for each non-null entry, in letter
order, as the official prompt lists them.

Scoring:

* ``official`` follows the PAI-Bench authors' lmms-eval fork (Leymore/lmms-eval, branch ``pai-bench``, task
  ``pai_reason``, ``lmms_eval/tasks/pai-reason/utils.py`` at d56ac95b), the evaluation the benchmark's README points
  to: the prediction is stripped, the phrases "The best answer is", "The correct answer is", "The answer is", "The
  answer", "The best option is", "The correct option is", "Best answer:", "Best option:" are removed, more than 10
  words without any of ``A``-``E`` is "Unknown", else the **first upper-case A-E anywhere** is the answer, compared
  with the published answer. Overall = correct / total; per_task = accuracy per ``subcategory.split(":")[0]``.
* ``paper`` follows SpatialClaw ``spatial_agent/evals/paibench.py`` at b062f829: a lone A-D inside double, then
  single backticks, ``\\boxed{X}``, ``X.``/``(X)``/``X:`` (any case), a lone upper-case A-D not followed by a word,
  the prediction without punctuation and spaces being one letter A-D (any case); compared with the answer stripped
  and upper-cased. Overall = correct / total; per_task = accuracy per subcategory.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from spatial_eval.extract import (
    backtick_letter,
    bare_letter,
    boxed_letter,
    first_choice_char,
    lone_letter,
    marked_letter,
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

OFFICIAL_SOURCES = (
    Source(
        "Leymore/lmms-eval",
        "lmms_eval/tasks/pai-reason/utils.py",
        "d56ac95bff62b86cebefb7e43ac6f3c262a9ed07",
        "branch pai-bench, task pai_reason",
    ),
)
PAPER_SOURCES = (Source.spatialclaw("paibench.py"),)

INSTRUCTION = "Reply with the letter of the correct option only."
LETTERS = ("A", "B", "C", "D")


def _options(value: Any) -> dict[str, str]:
    """``index2ans`` (a struct read as a dict, or a map read as key/value pairs) -> letter -> text, nulls dropped,
    in letter order."""
    if isinstance(value, dict):
        pairs = list(value.items())
    elif isinstance(value, (list, tuple)):
        pairs = [tuple(p) for p in value]
    else:
        raise ValueError("index2ans is not a mapping")
    return {str(k): str(v) for k, v in sorted(pairs) if v is not None}


def _sample(root: Path, i: int, row: dict[str, Any]) -> Sample:
    """Row ``i`` -> a Sample. Raises ValueError naming the bad field."""
    for k in ("question", "index2ans", "answer", "video_path", "category", "subcategory"):
        v = row.get(k)
        if v is None or (isinstance(v, str) and not v.strip()):
            raise ValueError(f"field {k!r} is missing or empty")
    options = _options(row["index2ans"])
    if not options:
        raise ValueError("index2ans has no options")
    video = root / str(row["video_path"])
    return Sample(
        benchmark="paibench",
        source_id=str(i),
        question=str(row["question"]).strip(),
        inputs=[{"kind": "video", "path": str(video)}],
        answer=str(row["answer"]),
        choices=[f"{k}. {v}" for k, v in options.items()],
        question_type=str(row["subcategory"]).strip(),
        category=str(row["category"]).strip(),
        instruction=INSTRUCTION,
        media=[video],
        extra={"subcategory": str(row["subcategory"]), "category": str(row["category"])},
    )


def load(root: Path, ctx: LoadContext) -> Loaded:
    """Read ``<root>/data/test-*.parquet`` in name order; the id of a row is its number over the shards."""
    files = sorted((root / "data").glob("test-*.parquet"))
    if not files:
        raise BENCHMARKS[0].missing(root, "data/test-*.parquet")
    rows = RowCollector()  # ids are row numbers: never a duplicate
    i = 0
    for f in files:
        for row in read_parquet(f):
            rows.add(f"data/{f.name} row {i}", str(i), _sample, root, i, row)
            i += 1
    return rows.loaded()


# ---------------------------------------------------------------------------------------------------------------
# official: Leymore/lmms-eval (pai-bench) lmms_eval/tasks/pai-reason/utils.py

_A_TO_E = re.compile(r"[ABCDE]")


def official_letter(response: str) -> str:
    """``parse_multi_choice_response``: strip, remove the answer phrases (every occurrence, in their order), then
    ``"Unknown"`` for more than 10 words without an upper-case A-E, else the first upper-case A-E anywhere, else
    ``"Unknown"`` (no random fallback, despite the docstring).

    ``"(B)"``, ``"B."``, ``"B)"``, ``" B"``, ``"\\boxed{B}"``, ``"I think B"``, ``"The answer is B"`` -> ``B``;
    ``"Answer: C"`` -> ``A`` (the A of "Answer"); ``"Driving slowly, B"`` -> ``D``; ``"b"``, ``""`` -> Unknown.
    """
    return first_choice_char(remove_phrases(response), _A_TO_E) or "Unknown"


class PaiOfficial(Scoring):
    """``pai_reason_process_results`` / ``pai_reason_aggregate_results``: accuracy over all samples."""

    name = "official"
    sources = OFFICIAL_SOURCES
    description = "first upper-case A-E after removing answer phrases; accuracy over samples"

    def score(self, sample: Sample, prediction: str | None) -> float | None:
        if sample.answer is None:
            return None
        return 1.0 if official_letter("" if prediction is None else str(prediction)) == sample.answer else 0.0

    def aggregate(self, items: Sequence[Scored]) -> Aggregate:
        """Overall = correct / total; per_task = accuracy per subcategory cut at its first ``:`` (the released
        aggregation's key); per-category accuracies are the by_category block of results.json."""
        return mean_over_samples(items, lambda s: str(s.sample.extra.get("subcategory", "")).split(":")[0])


# ---------------------------------------------------------------------------------------------------------------
# paper: NVlabs/SpatialClaw spatial_agent/evals/paibench.py


def paper_letter(prediction: str) -> str:
    """SpatialClaw's ``PAIBench.extract_answer`` (the MMSI-Bench chain): a lone upper-case A-D inside double, then
    single backticks; ``\\boxed{X}`` (any case); ``X.``/``(X)``/``X:`` (any case); an upper-case A-D standing alone and
    not followed by a space and a letter; the prediction without punctuation and spaces being one letter A-D (any
    case); else ``""``.

    ``"b"`` -> ``B``; ``"Answer: C"`` -> ``C``; ``"A car turns left"`` -> ``""`` (the A is followed by a word).
    """
    p = prediction.strip()
    if not p:
        return ""
    return backtick_letter(p) or boxed_letter(p, "A-D", re.I) or marked_letter(p) or lone_letter(p) or bare_letter(p)


class PaiPaper(Scoring):
    """SpatialClaw's ``PAIBench.evaluate``: accuracy over all samples."""

    name = "paper"
    sources = PAPER_SOURCES
    description = "backticks/boxed/pattern/lone-letter extraction; accuracy over samples"

    def score(self, sample: Sample, prediction: str | None) -> float | None:
        if sample.answer is None:
            return None
        return 1.0 if paper_letter(prediction or "") == str(sample.answer).strip().upper() else 0.0

    def aggregate(self, items: Sequence[Scored]) -> Aggregate:
        """Overall = correct / total; per_task = accuracy per subcategory (as written, stripped)."""
        return mean_over_samples(items, lambda s: s.sample.question_type or "")


BENCHMARKS = (
    Benchmark(
        name="paibench",
        title="PAI-Bench",
        hf_repo="shi-labs/physical-ai-bench-understanding",
        category="Video & 4D",
        layout="data/test-*.parquet (question, index2ans, answer, video_path, category, subcategory); "
        "videos/<subset>/*.mp4",
        load=load,
        scorings={"official": PaiOfficial(), "paper": PaiPaper()},
        published_count=1214,
    ),
)
