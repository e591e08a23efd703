"""ERQA (Gemini Robotics team 2025, "Embodied Reasoning Question Answer"), Hugging Face ``FlagEval/ERQA``: 400
four-way multiple-choice questions about robotics scenes, each with one or more images (112 multi-image questions).

Layout (``<data root>/erqa/``, the Hugging Face snapshot)::

    data/test-00000-of-00001.parquet      the 400 rows (every ``data/*.parquet`` is read, in name order)

Row fields: ``question_id`` (string, e.g. ``ERQA_1``), ``question`` (the question with its options written in the
text, ``... Choices: A. ... B. ... Please answer directly with only the letter of the correct option and nothing
else.``), ``question_type`` (8 types: Action Reasoning, Multi-view Reasoning, Other, Pointing, Spatial Reasoning,
State Estimation, Task Reasoning, Trajectory Reasoning), ``answer`` (one letter A-D), ``visual_indices`` (list of int:
the character position in ``question`` where each image belongs; all 0 = every image before the text), ``images``
(list of the Hugging Face ``Image`` struct ``{"bytes", "path"}``; the bytes are written to the cache). The GitHub
release's ``data/erqa.tfrecord`` holds the same rows; it is not read here.

Scoring:

* ``official`` follows ERQA's ``eval_harness.py`` (github.com/embodiedreasoning/ERQA): a response is correct when
  ``response.replace(".", "").strip().lower() == answer.strip().lower()``; nothing else is extracted, so ``"B."``,
  ``" b "`` score but ``"(B)"``, ``"B)"``, ``"\\boxed{B}"`` and ``"Answer: B"`` do not. Overall = correct / total
  (a mean over samples); the harness also reports single-image (exactly 1 image) and multi-image accuracy and the
  accuracy per question type. That repository could not be read from here: the rule is the line SpatialClaw's
  ``erqa.py`` quotes from it ("eval_harness.py line 548"), which two other copies of the harness quote identically
  (see docs/benchmarks-eval/erqa.md).
* ``paper`` follows SpatialClaw ``spatial_agent/evals/erqa.py`` at b062f829: the same normalisation, but a blank
  prediction never matches; single-image means at most one image.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from spatial_eval.files import embedded_image, images_inputs, read_parquet
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

NAME = "erqa"
QUESTION_TYPES = (
    "Action Reasoning",
    "Multi-view Reasoning",
    "Other",
    "Pointing",
    "Spatial Reasoning",
    "State Estimation",
    "Task Reasoning",
    "Trajectory Reasoning",
)

OFFICIAL_SOURCES = (
    Source.spatialclaw(
        "erqa.py",
        note="quotes embodiedreasoning/ERQA eval_harness.py, whose code could not be read here: "
        'response.replace(".", "").strip().lower() == answer.strip().lower()',
    ),
    Source(
        "flageval-baai/FlagEvalMM",
        "tasks/erqa/process.py",
        "fef27ec696c532d12f0db389bcbbf79eab0e4c41",
        note="FlagEval/ERQA parquet fields",
    ),
)
PAPER_SOURCES = (Source.spatialclaw("erqa.py"),)

INSTRUCTION = "Answer with only the letter of the correct option (A, B, C or D) and nothing else."


def interleave(question: str, visual_indices: Sequence[int], n_images: int) -> str:
    """The question with ``<image N>`` markers (N = 1-based input number) where ``visual_indices`` place the images.

    Only the first ``n_images`` indices count (the harness zips images with indices). With no indices, or all of them
    0, the images precede the whole text and the question is returned unchanged. Otherwise images are placed in order
    of their character position (positions past the end go at the end); an index of 0 puts its image first.
    """
    used = [int(v) for v in list(visual_indices)[:n_images]]
    if not used or all(v == 0 for v in used):
        return question
    order = sorted(range(len(used)), key=lambda i: used[i])
    parts: list[str] = []
    last = 0
    for i in order:
        pos = min(max(used[i], 0), len(question))
        if pos > last:
            parts.append(question[last:pos])
            last = pos
        parts.append(f"<image {i + 1}>")
    parts.append(question[last:])
    return "".join(parts)


def _sample(root: Path, ctx: LoadContext, index: int, row: dict[str, Any]) -> Sample:
    """One parquet row -> a Sample. Raises ValueError naming the bad field."""
    question = row.get("question")
    if not isinstance(question, str) or not question.strip():
        raise ValueError("field 'question' is missing or empty")
    answer = row.get("answer")
    if answer is None or not str(answer).strip():
        raise ValueError("field 'answer' is missing or empty")
    qid = row.get("question_id")
    source_id = str(qid) if qid is not None and str(qid).strip() else f"erqa_{index:04d}"
    qtype = row.get("question_type")
    qtype = str(qtype) if qtype is not None and str(qtype).strip() else "Unknown"
    images: list[Path] = []
    for k, cell in enumerate(row.get("images") or []):
        path = embedded_image(cell, ctx.cache_dir, base=root)
        if path is None:
            continue  # an empty image cell is skipped, as the released loaders do
        if not path.exists():
            raise ValueError(f"image {k} has no bytes and its path {path} does not exist")
        images.append(path)
    if not images:
        raise ValueError("the row has no images")
    visual = [int(v) for v in (row.get("visual_indices") or [])]
    return Sample(
        benchmark=NAME,
        source_id=source_id,
        question=interleave(question, visual, len(images)),
        inputs=images_inputs(list(images)),
        answer=str(answer),
        choices=None,  # the options are part of the published question text
        question_type=qtype,
        category=None,
        instruction=INSTRUCTION,
        media=images,
        extra={"num_images": len(images), "visual_indices": visual, "published_question": question},
    )


def load(root: Path, ctx: LoadContext) -> Loaded:
    """Every ``data/*.parquet`` (name order), rows in file order (the original loader's order)."""
    files = sorted((root / "data").glob("*.parquet")) if (root / "data").is_dir() else []
    if not files:
        raise BENCHMARKS[0].missing(root, "data/test-00000-of-00001.parquet (the parquet of FlagEval/ERQA)")
    rows = RowCollector("question_id", errors=(ValueError, TypeError, OSError))
    index = 0
    for f in files:
        for i, row in enumerate(read_parquet(f)):
            sid = str(row.get("question_id")) if row.get("question_id") else None
            rows.add(f"data/{f.name} row {i}", sid, _sample, root, ctx, index, row)
            index += 1
    return rows.loaded()


# ---------------------------------------------------------------------------------------------------------------


def normalise(text: str | None) -> str:
    """The harness's normalisation of a response: every ``.`` removed, then stripped and lower-cased."""
    return (text or "").replace(".", "").strip().lower()


def _aggregate(items: Sequence[Scored], single: Any) -> Aggregate:
    """Overall = mean over scored samples; per_task = accuracy per question type, plus ``single-image`` and
    ``multi-image`` (``single(n_images)`` decides which)."""
    return mean_over_samples(
        items,
        lambda s: s.sample.question_type or "Unknown",
        lambda s: (
            "single-image" if single(int(s.sample.extra.get("num_images", len(s.sample.inputs)))) else "multi-image"
        ),
    )


class ErqaOfficial(Scoring):
    """ERQA ``eval_harness.py``: exact match after removing dots, stripping and lower-casing; correct / total."""

    name = "official"
    sources = OFFICIAL_SOURCES
    description = "exact match of the response with '.' removed, stripped, lower-cased; mean over samples"

    def score(self, sample: Sample, prediction: str | None) -> float | None:
        if sample.answer is None:
            return None
        # A missing prediction is a blank response. (The harness leaves out examples whose API call failed; a run
        # has no such case: a sample without an answer is a wrong answer.)
        return 1.0 if normalise(prediction) == str(sample.answer).strip().lower() else 0.0

    def aggregate(self, items: Sequence[Scored]) -> Aggregate:
        # The harness counts a question as single-image when it has exactly one image.
        return _aggregate(items, lambda n: n == 1)


class ErqaPaper(Scoring):
    """SpatialClaw's ``ERQABench.evaluate_single`` / ``evaluate``."""

    name = "paper"
    sources = PAPER_SOURCES
    description = "as official, but a blank prediction never matches; single-image = at most one image"

    def score(self, sample: Sample, prediction: str | None) -> float | None:
        if sample.answer is None:
            return None
        pred = normalise(prediction) if prediction else ""
        return 1.0 if pred and pred == str(sample.answer).strip().lower() else 0.0

    def aggregate(self, items: Sequence[Scored]) -> Aggregate:
        return _aggregate(items, lambda n: n <= 1)


BENCHMARKS = (
    Benchmark(
        name=NAME,
        title="ERQA",
        hf_repo="FlagEval/ERQA",
        category="Single-image",
        layout="data/test-*.parquet: question_id, question (options in the text), question_type, answer, "
        "visual_indices, images (embedded, 1-16 per row)",
        load=load,
        scorings={"official": ErqaOfficial(), "paper": ErqaPaper()},
        published_count=400,
    ),
)
