"""MMSI-Bench (Yang et al. 2025, "A Benchmark for Multi-Image Spatial Intelligence"), Hugging Face
``RunsenXu/MMSI-Bench``: 1000 four-way multiple-choice questions, each over two or more real images.

Layout (``<data root>/mmsi/``, the Hugging Face snapshot)::

    MMSI_Bench.parquet      the 1000 rows

Row fields: ``id`` (int), ``images`` (list of encoded JPEG bytes, raw ``binary`` cells, written to the cache),
``question_type`` (11 types, e.g. ``Positional Relationship (Cam.–Obj.)``, ``Motion (Cam.)``, ``Attribute (Meas.)``,
``MSR``), ``question`` (the question with its options in the text: ``... Options: A: ..., B: ..., C: ..., D: ...``),
``answer`` (one letter A-D), ``thought`` (the annotated reasoning, not shown), ``mean_normed_duration_seconds``,
``difficulty``. Category = the question type's group: Positional Relationship, Motion, Attribute or MSR.

Scoring:

* ``official`` follows MMSI-Bench's own evaluator, ``vlmeval/dataset/mmsi_bench.py`` (``MMSIBenchDataset.evaluate``,
  the non-circular ``MMSI_Bench`` set) at InternRobotics/MMSI-Bench 5de2f3d2: the text inside the first
  ````...```` is kept, then the text inside the first ```...```, then the first upper-case ``A``-``D`` standing alone
  and not followed by a space and a letter (``\\b[A-D]\\b(?!\\s[a-zA-Z])``); no match scores 0 (so ``b``, ``"A chair"``
  and ``"The answer is C because..."`` score 0). Correct when that letter equals the answer (case-insensitive).
  Overall = correct / total; per_task = accuracy per question type.
* ``paper`` follows SpatialClaw ``spatial_agent/evals/mmsi.py`` at b062f829: a letter inside ````...```` or ```...```,
  else ``\\boxed{X}``, else ``X.`` / ``(X)`` / ``X:`` anywhere (any case), else the same standalone-letter rule, else a
  prediction that is one letter once punctuation and spaces are removed. Overall = correct / total.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from spatial_eval.extract import (
    DOUBLE_TICKS,
    SINGLE_TICKS,
    backtick_letter,
    bare_letter,
    boxed_letter,
    lone_letter,
    marked_letter,
)
from spatial_eval.files import embedded_image, images_inputs, read_parquet
from spatial_eval.types import Benchmark, LoadContext, Loaded, RowCollector, Sample, Scoring, Source

NAME = "mmsi"
FILE = "MMSI_Bench.parquet"
SUBSETS = ("Positional Relationship", "Motion", "Attribute", "MSR")

OFFICIAL_SOURCES = (
    Source(
        "InternRobotics/MMSI-Bench",
        "vlmeval/dataset/mmsi_bench.py",
        "5de2f3d2eb0159dbcc76790074029aa400143603",
        note="MMSIBenchDataset.evaluate and extract_single_choice_with_word_boundary",
    ),
)
PAPER_SOURCES = (Source.spatialclaw("mmsi.py"),)

INSTRUCTION = "Answer with only the letter of the correct option (A, B, C or D)."


def subset(question_type: str) -> str:
    """The question type's group (MMSI-Bench's four subsets), by its prefix; anything else is ``MSR``."""
    for s in SUBSETS[:3]:
        if question_type.startswith(s.split()[0]):
            return s
    return "MSR"


def _sample(ctx: LoadContext, row: dict[str, Any]) -> Sample:
    """One parquet row -> a Sample. Raises ValueError naming the bad field."""
    for k in ("id", "question_type", "question", "answer"):
        v = row.get(k)
        if v is None or (isinstance(v, str) and not v.strip()):
            raise ValueError(f"field {k!r} is missing or empty")
    images: list[Path] = []
    for n, cell in enumerate(row.get("images") or []):
        path = embedded_image(cell, ctx.cache_dir)
        if path is None:
            raise ValueError(f"image {n} is empty")
        images.append(path)
    if not images:
        raise ValueError("the row has no images")
    qtype = str(row["question_type"])
    return Sample(
        benchmark=NAME,
        source_id=str(row["id"]),
        question=str(row["question"]),
        inputs=images_inputs(list(images)),
        answer=str(row["answer"]),
        choices=None,  # the options are part of the published question text
        question_type=qtype,
        category=subset(qtype),
        instruction=INSTRUCTION,
        media=images,
        extra={"difficulty": row.get("difficulty"), "num_images": len(images)},
    )


def load(root: Path, ctx: LoadContext) -> Loaded:
    """``MMSI_Bench.parquet``, rows in file order (the original loader's order)."""
    path = BENCHMARKS[0].require(root, FILE)
    rows = RowCollector(errors=(ValueError, TypeError, OSError))
    for i, row in enumerate(read_parquet(path)):
        rows.add(f"{FILE} row {i}", None if row.get("id") is None else str(row.get("id")), _sample, ctx, row)
    return rows.loaded()


# ---------------------------------------------------------------------------------------------------------------


def official_letter(prediction: str | None) -> str | None:
    """MMSI-Bench's ``extract_single_choice_with_word_boundary``: narrow to the first ````...````, then to the first
    ```...```, then take the first lone upper-case A-D not followed by a space and a letter (:func:`lone_letter`);
    None when there is none."""
    if prediction is None:
        return None
    text = str(prediction)
    for ticks in (DOUBLE_TICKS, SINGLE_TICKS):
        m = ticks.search(text)
        if m:
            text = m.group(1)
    return lone_letter(text) or None


class MmsiOfficial(Scoring):
    """MMSI-Bench ``MMSIBenchDataset.evaluate`` (non-circular): regex letter extraction; correct / total."""

    name = "official"
    sources = OFFICIAL_SOURCES
    description = "first lone capital A-D (after narrowing to backticks); mean over samples"

    def score(self, sample: Sample, prediction: str | None) -> float | None:
        if sample.answer is None:
            return None
        letter = official_letter(prediction)
        if letter is None:
            return 0.0
        # The evaluator compares the lower-cased answer with the first character of the lower-cased extraction (its
        # other branches, "(x", "option x", "the answer is x", cannot fire on a one-letter extraction).
        answer = str(sample.answer).lower().replace("\n", " ").strip()
        return 1.0 if answer == letter.lower()[0] else 0.0


def paper_letter(prediction: str | None) -> str:
    """SpatialClaw's ``MMSIBench.extract_answer``: the answer letter (upper case) or ``""``. In order: a lone A-D in
    backticks, ``\\boxed{X}`` (A-D, any case), ``X.``/``(X)``/``X:`` (any case), the lone-letter rule, a bare letter."""
    if not prediction:
        return ""
    text = str(prediction).strip()
    return (
        backtick_letter(text)
        or boxed_letter(text, "A-D", re.I)
        or marked_letter(text)
        or lone_letter(text)
        or bare_letter(text)
    )


class MmsiPaper(Scoring):
    """SpatialClaw's ``MMSIBench.evaluate`` (per-sample: ``BaseBenchmark.evaluate_single`` with MMSI's extractor)."""

    name = "paper"
    sources = PAPER_SOURCES
    description = "backticks, boxed, X./(X)/X:, lone letter, bare letter; mean over samples"

    def score(self, sample: Sample, prediction: str | None) -> float | None:
        if sample.answer is None:
            return None
        pred = paper_letter(prediction)
        return 1.0 if pred and pred == str(sample.answer).strip().upper() else 0.0


BENCHMARKS = (
    Benchmark(
        name=NAME,
        title="MMSI-Bench",
        hf_repo="RunsenXu/MMSI-Bench",
        category="Multi-view",
        layout="MMSI_Bench.parquet: id, images (embedded JPEG bytes), question_type, question (options in the "
        "text), answer, thought, difficulty",
        load=load,
        scorings={"official": MmsiOfficial(), "paper": MmsiPaper()},
        published_count=1000,
    ),
)
