"""ViewSpatial-Bench (Li et al. 2025), Hugging Face ``lidingm/ViewSpatial-Bench``: 5712 multiple-choice questions on
spatial localization from the camera's or a person's perspective, over ScanNet v2 val frames and MS-COCO val2017
images, in 5 question types.

Layout (``<data root>/viewspatial/``)::

    ViewSpatial-Bench.json                         the 5712 questions (a JSON list)
    scannetv2_val/scene<id>/original_images/<n>.jpg   from scannetv2_val.zip, unzipped in place
    val2017/<coco id>.jpg                          from val2017.zip, unzipped in place

Entry fields: ``question_type`` (e.g. ``Camera perspective - Relative Direction``), ``image_path`` (a list: one image,
or 2-32 ScanNet frames for ``Person perspective - Scene Simulation Relative Direction``; each prefixed with
``ViewSpatial-Bench/``, which is removed, the rest resolved against the folder), ``question``, ``answer``
(``"A. right"``) and ``choices`` (one string, ``"A. right\\nB. front-up\\nC. back-left\\nD. front"``; 173 questions
have only A and B). The sample id is the entry's position in the list (the official ``ID`` and SpatialClaw's id).
Several images bind several ``images`` inputs, in the published order.

Scoring:

* ``official`` follows ZJU-REAL/ViewSpatial-Bench ``evaluate.py`` at 2e85a5e4: only the last line of the reply
  (``split("\\n")[-1]``) is read; its first standalone letter A-D, case-insensitive (``\\b([A-D])\\b`` with
  IGNORECASE, so the word ``a`` counts as A), must equal the same extraction from the ground truth. Overall =
  correct / total; also per question type.
* ``paper`` follows SpatialClaw ``spatial_agent/evals/viewspatial.py`` at b062f829: ``\\boxed{X}``, then
  ``<answer>X</answer>``, then the last answer marker (``final answer``, ``answer is``, ``answer`` ... then a letter),
  then the last ``(X)`` / ``X.`` / ``X:``, then a lone A-D letter once the rest is removed, then the last standalone
  capital A-D in the last 400 characters; compared with the ground truth's leading letter. Overall = correct / total.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from spatial_eval.extract import boxed_letter, only_letter, pattern_letter
from spatial_eval.files import images_inputs, read_json
from spatial_eval.types import Benchmark, LoadContext, Loaded, RowCollector, Sample, Scoring, Source

NAME = "viewspatial"
ANNOTATIONS = "ViewSpatial-Bench.json"
PREFIX = "ViewSpatial-Bench/"
QUESTION_TYPES = (
    "Camera perspective - Relative Direction",
    "Camera perspective - Object View Orientation",
    "Person perspective - Relative Direction",
    "Person perspective - Object View Orientation",
    "Person perspective - Scene Simulation Relative Direction",
)

OFFICIAL_SOURCES = (
    Source("ZJU-REAL/ViewSpatial-Bench", "evaluate.py", "2e85a5e41a29e7919b1d326d8aba316661579983", "evaluate_vlm"),
)
PAPER_SOURCES = (Source.spatialclaw("viewspatial.py"),)

INSTRUCTION = "Put the letter of the correct option alone on the last line of your reply."

_GT = re.compile(r"\s*\(?([A-Da-d])\b")


def gt_letter(answer: Any) -> str:
    """The ground truth's leading option letter (``"A. right"`` -> ``A``), or ``""`` (SpatialClaw ``_gt_letter``)."""
    m = _GT.match(str(answer or ""))
    return m.group(1).upper() if m else ""


def resolve_image(root: Path, rel: str) -> Path:
    """A published ``image_path`` entry as an absolute path: leading ``.``/``/`` characters and the
    ``ViewSpatial-Bench/`` prefix removed, then joined to the dataset folder (as SpatialClaw resolves it)."""
    p = rel.lstrip("./")
    if p.startswith(PREFIX):
        p = p[len(PREFIX) :]
    return (root / p).resolve()


# ---------------------------------------------------------------------------------------------------------------
# Loading


def _sample(root: Path, index: int, row: dict[str, Any]) -> Sample:
    """One entry -> a Sample. Raises ValueError naming the bad field."""
    for k in ("question_type", "question", "answer", "choices"):
        if not isinstance(row.get(k), str) or not row[k].strip():
            raise ValueError(f"field {k!r} is missing or not a non-empty string")
    paths = row.get("image_path")
    if not isinstance(paths, list) or not paths or not all(isinstance(p, str) and p.strip() for p in paths):
        raise ValueError("field 'image_path' must be a non-empty list of paths")
    if not gt_letter(row["answer"]):
        raise ValueError(f"answer {row['answer']!r} does not start with an option letter A-D")
    choices = [c.strip() for c in row["choices"].split("\n") if c.strip()]
    images = [resolve_image(root, p) for p in paths]
    qtype = row["question_type"].strip()
    return Sample(
        benchmark=NAME,
        source_id=str(index),
        question=row["question"],
        inputs=images_inputs(list(images)),
        answer=row["answer"],
        choices=choices,
        question_type=qtype,
        category=qtype.split(" - ")[0],
        instruction=INSTRUCTION,
        media=images,
        extra={"choices_text": row["choices"], "answer_letter": gt_letter(row["answer"])},
    )


def load(root: Path, ctx: LoadContext) -> Loaded:
    """Read ``<root>/ViewSpatial-Bench.json``. Raises DatasetMissing. Missing images are left to ``check``."""
    path = BENCHMARKS[0].require(root, ANNOTATIONS)
    data = read_json(path)
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a list of questions")
    rows = RowCollector()  # ids are positions: never repeated
    for i, row in enumerate(data):
        where = f"{ANNOTATIONS} item {i}"
        if not isinstance(row, dict):
            rows.problem(where, "not an object", str(i))
            continue
        rows.add(where, str(i), _sample, root, i, row)
    return rows.loaded()


# ---------------------------------------------------------------------------------------------------------------
# Official: evaluate.py

_OPTION = re.compile(r"\b([A-D])\b", re.IGNORECASE)


def official_option(text: str | None) -> str | None:
    """``extract_option``: the first standalone A-D letter, any case, upper-cased; None when there is none."""
    m = _OPTION.search(text or "")
    return m.group(1).upper() if m else None


def official_letter(prediction: str | None) -> str | None:
    """What the official evaluation reads from a reply: ``extract_option`` of its last line (``split("\\n")[-1]``),
    so ``"B\\n"`` reads nothing and ``"It is a chair"`` reads ``A``."""
    return official_option((prediction or "").split("\n")[-1])


class ViewSpatialOfficial(Scoring):
    """ZJU-REAL/ViewSpatial-Bench ``evaluate_vlm``: last line, first A-D word; correct / total and per type."""

    name = "official"
    sources = OFFICIAL_SOURCES
    description = "ViewSpatial-Bench: first \\b[A-D]\\b (any case) of the last line; correct/total"

    def score(self, sample: Sample, prediction: str | None) -> float | None:
        if sample.answer is None:
            return None
        return 1.0 if official_letter(prediction) == official_option(str(sample.answer)) else 0.0


# ---------------------------------------------------------------------------------------------------------------
# Paper: SpatialClaw ViewSpatialBench

_P_TAG = re.compile(r"<answer>\s*\(?\s*([A-Da-d])\s*[\.\)]?\s*</answer>", re.IGNORECASE | re.DOTALL)
_P_MARKER = re.compile(
    r"(?:final\s+answer|correct\s+answer|answer\s+is|the\s+answer|best\s+answer|best\s+option|correct\s+option|"
    r"correct\s+choice|answer)\b\s*[:\-=]?\s*\*{0,2}\(?\s*([A-Da-d])\b",
    re.IGNORECASE,
)
_P_OPTIONS = (re.compile(r"\(([A-Da-d])\)"), re.compile(r"\b([A-Da-d])\."), re.compile(r"\b([A-Da-d]):"))
_P_CAPITAL = re.compile(r"\b([A-D])\b")


def paper_letter(prediction: str | None) -> str:
    """SpatialClaw ``ViewSpatialBench.extract_answer``: the option letter A-D, or ``""``."""
    if not prediction:
        return ""
    text = str(prediction).strip()
    return (
        boxed_letter(text, "A-Da-d", style="wrapped")
        or pattern_letter(text, (_P_TAG,))
        or pattern_letter(text, (_P_MARKER,), last=True)
        or pattern_letter(text, _P_OPTIONS, last=True)
        or only_letter(text, "A-Da-d", "ABCD")
        or pattern_letter(text[-400:], (_P_CAPITAL,), last=True)
    )


class ViewSpatialPaper(Scoring):
    """SpatialClaw ``ViewSpatialBench.evaluate_single`` / ``evaluate``."""

    name = "paper"
    sources = PAPER_SOURCES
    description = "SpatialClaw: boxed, <answer>, answer markers, (X)/X./X:, lone letter, last capital; correct/total"

    def score(self, sample: Sample, prediction: str | None) -> float | None:
        if sample.answer is None:
            return None
        pred = paper_letter(prediction)
        return 1.0 if (pred and pred == gt_letter(sample.answer)) else 0.0


_SCORINGS = {"official": ViewSpatialOfficial(), "paper": ViewSpatialPaper()}

BENCHMARKS = (
    Benchmark(
        after_download="unzip scannetv2_val.zip && unzip val2017.zip",
        name=NAME,
        title="ViewSpatial-Bench",
        hf_repo="lidingm/ViewSpatial-Bench",
        category="General spatial",
        layout=(
            "ViewSpatial-Bench.json [question_type, image_path (list), question, answer, choices] + "
            "scannetv2_val/scene*/original_images/*.jpg and val2017/*.jpg (the two zips unzipped)"
        ),
        load=load,
        scorings=_SCORINGS,
        published_count=5712,
    ),
)
