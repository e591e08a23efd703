"""MindCube (Yin et al. 2025, "Spatial Mental Modeling from Limited Views"), Hugging Face ``MLL-Lab/MindCube``:
multiple-choice questions (A-E) about 2-4 views of one scene.

Layout (``<data root>/mindcube/``, the published ``data.zip`` unzipped in place)::

    data/raw/MindCube.jsonl              the full question set (21,154 rows)
    data/raw/MindCube_tinybench.jsonl    the 1,050-row evaluation subset (the MindCube paper's numbers)
    data/raw/MindCube_train.jsonl        training rows (not read)
    data/other_all_image/{among,around,rotation,translation}/<group>/<view>.{jpg,png}

The question file is chosen as SpatialClaw's loader does: in ``.``, then ``raw/``, then ``data/raw/``, the first of
``MindCube.jsonl`` and ``MindCube_tinybench.jsonl`` that exists. Image paths are relative to the folder that holds
``other_all_image/`` (``.`` or ``data/``).

Row fields: ``id`` (e.g. ``among_group002_q0_1_1``; its setting comes from the id), ``category`` (list of tags),
``type`` (e.g. ``0_frame``, ``three_view``), ``meta_info``, ``question`` (the options are written inline:
``"... A. Directly left B. Diagonally forward and right ..."``), ``images`` (relative paths), ``gt_answer`` (letter).

Scoring:

* ``official`` follows mll-lab-nu/MindCube ``src/evaluation/evaluator.py`` (``BasicEvaluator``; the default
  ``CogMapEvaluator`` scores answers the same way) with ``src/evaluation/core/extractors.py`` and
  ``core/base_metrics.py`` at 6d8fd9ac: the answer letter is the *last* ``X.`` (X in A-E, uppercase, no word
  boundary) anywhere in the text; else patterns inside an ``<Answer>`` tag; else a list of phrasing patterns; else the
  first standalone A-E of the last line that has one. Exact, case-sensitive comparison with ``gt_answer``; rows
  without ``gt_answer`` are skipped. Setting from the id (around, rotation, translation, among, other);
  overall = correct / total over every setting but ``translation`` (reported per setting, left out of the overall).
* ``paper`` follows SpatialClaw ``spatial_agent/evals/mindcube.py`` at b062f829 (``MindCubeBench.evaluate``):
  ``\\boxed{X}``, else the last ``X.`` at a word boundary, else an ``<Answer>``/``<answer>`` tag, else phrasing
  patterns, else the last standalone A-E; compared with ``gt_answer`` stripped and uppercased. ``translation`` rows
  are skipped entirely (not scored); overall = correct / total.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from spatial_eval.extract import boxed_letter, pattern_letter
from spatial_eval.files import images_inputs, iter_jsonl
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
    group_scores,
    mean,
)

NAME = "mindcube"
SETTINGS = ("around", "rotation", "translation", "among", "other")
"""MindCube's settings, in the order its evaluation reports them."""
EXCLUDED_FROM_OVERALL = ("translation",)

OFFICIAL_SOURCES = (
    Source(
        "mll-lab-nu/MindCube",
        "src/evaluation/evaluator.py",
        "6d8fd9acdf5b80769373a21cdbfcf068ab356e0f",
        "BasicEvaluator; extract_answer and get_setting_from_id in src/evaluation/core/extractors.py",
    ),
    Source(
        "mll-lab-nu/MindCube",
        "src/evaluation/core/base_metrics.py",
        "6d8fd9acdf5b80769373a21cdbfcf068ab356e0f",
        "translation excluded from the overall",
    ),
)
PAPER_SOURCES = (Source.spatialclaw("mindcube.py"),)

INSTRUCTION = 'Reply with the one correct option, written as its letter, a period and its text (e.g. "B. behind").'

_QUESTION_FILES = ("MindCube.jsonl", "MindCube_tinybench.jsonl")
_SEARCH_DIRS = (".", "raw", "data/raw")


def setting_of(source_id: str | None) -> str:
    """The MindCube setting of a question id (the first of around, rotation, translation, among found in the
    lowercased id, else ``other``), as both evaluations derive it."""
    sid = str(source_id or "").lower()
    for name in ("around", "rotation", "translation", "among"):
        if name in sid:
            return name
    return "other"


def question_file(root: Path) -> Path | None:
    """The question file SpatialClaw's loader reads: for each of ``.``, ``raw``, ``data/raw`` in turn, the first of
    ``MindCube.jsonl``, ``MindCube_tinybench.jsonl`` that exists there."""
    for d in _SEARCH_DIRS:
        for name in _QUESTION_FILES:
            p = root / d / name
            if p.is_file():
                return p
    return None


def image_base(root: Path) -> Path:
    """The folder image paths are relative to: the one of ``root`` and ``root/data`` holding ``other_all_image/``."""
    for d in (root, root / "data"):
        if (d / "other_all_image").is_dir():
            return d
    return root


def _sample(row: Any, base: Path) -> Sample:
    """One JSONL row -> a Sample. Raises ValueError naming the bad field."""
    if not isinstance(row, dict):
        raise ValueError("the line is not a JSON object")
    sid = row.get("id")
    if sid is None or not str(sid).strip():
        raise ValueError("field 'id' is missing or empty")
    question = row.get("question")
    if not isinstance(question, str) or not question.strip():
        raise ValueError("field 'question' is missing or empty")
    images = row.get("images")
    if not isinstance(images, list) or not images or not all(isinstance(i, str) and i for i in images):
        raise ValueError("field 'images' must be a non-empty list of paths")
    paths = [Path(i) if Path(i).is_absolute() else (base / i) for i in images]
    gt = row.get("gt_answer")
    answer = str(gt).strip() if gt is not None and str(gt).strip() else None
    category = row.get("category")
    return Sample(
        benchmark=NAME,
        source_id=str(sid),
        question=question,
        inputs=images_inputs(list(paths)),
        answer=str(gt) if answer is not None else None,
        choices=None,  # MindCube writes its options inside the question text
        question_type=setting_of(str(sid)),
        category=None,
        instruction=INSTRUCTION,
        media=paths,
        extra={
            "type": row.get("type"),
            "tags": list(category) if isinstance(category, list) else category,
        },
    )


def load(root: Path, ctx: LoadContext) -> Loaded:  # noqa: ARG001 - MindCube has no embedded media
    """Read ``<data root>/mindcube`` (see the module docstring) in file order."""
    path = question_file(root)
    if path is None:
        hint = " (unzip the downloaded data.zip in this folder first)" if (root / "data.zip").exists() else ""
        raise BENCHMARKS[0].missing(root, f"data/raw/MindCube.jsonl or data/raw/MindCube_tinybench.jsonl{hint}")
    base = image_base(root)
    rows = RowCollector()
    for line, row in iter_jsonl(path):
        where = f"{path.name}:{line}"
        if isinstance(row, ValueError):
            rows.problem(where, str(row))
            continue
        sid = row.get("id") if isinstance(row, dict) else None
        rows.add(where, None if sid is None else str(sid), _sample, row, base)
    return rows.loaded()


# --- official: mll-lab-nu/MindCube src/evaluation/core/extractors.py -------------------------------------------

_OFF_LETTER_DOT = re.compile(r"([A-E])\.")
_OFF_TAG = re.compile(r"<Answer>(.*?)(?:<|$)", re.S)
_OFF_TAG_PATTERNS = tuple(
    re.compile(p)
    for p in (
        r"[Mm]y answer is ([A-E])",
        r"[Mm]y answer is ([A-E])\.",
        r"[Tt]he answer is ([A-E])",
        r"(?:Answer: )?([A-E])\.",
        r"\b([A-E])\b",
    )
)
_OFF_PATTERNS = tuple(
    re.compile(p)
    for p in (
        r"(?:Answer: )?([A-E])\. [A-Za-z0-9 \-\(\)\'\",]+(?=(?:\n|$|\.|\"))",
        r"(?:Answer: )?([A-E])\. [A-Za-z0-9 \-\(\)\'\"]+",
        r"(?:^|\n)(?:Answer: )?([A-E])(?:\.|$|\s)",
        r"[\*\"]([A-E])[\*\"]",
        r"\bAnswer:?\s*([A-E])\b",
        r"[Mm]y answer is ([A-E])",
        r"[Mm]y answer is ([A-E])\.",
        r"answer is ([A-E])",
    )
)
_OFF_LINE_FULL = re.compile(r"([A-E])\. [A-Za-z0-9 \-\(\)\'\",]+")
_OFF_STANDALONE = re.compile(r"\b([A-E])\b")


def official_letter(text: str | None) -> str | None:
    """MindCube's ``extract_answer``: the answer letter A-E, or None.

    In priority order: the last ``X.`` anywhere (so ``"NONE."`` reads as ``E``); inside ``<Answer>...`` (up to the
    next ``<``) the last match of the first matching of five patterns; the last match of the first matching of
    eight phrasing patterns over the whole text; the last line with ``X. words``; the first standalone A-E of the
    last line that has one. Lowercase letters are never read.
    """
    if not text:
        return None
    tag = _OFF_TAG.search(text)
    found = (
        pattern_letter(text, (_OFF_LETTER_DOT,), last=True)
        or (pattern_letter(tag.group(1), _OFF_TAG_PATTERNS, last=True) if tag else "")
        or pattern_letter(text, _OFF_PATTERNS, last=True)
    )
    if found:
        return found
    lines = text.split("\n")
    line_hits = [m.group(1) for line in lines if (m := _OFF_LINE_FULL.search(line))]
    if line_hits:
        return line_hits[-1]
    for line in reversed(lines):
        m = _OFF_STANDALONE.search(line)
        if m:
            return m.group(1)
    return None


class MindCubeOfficial(Scoring):
    """MindCube's released evaluation (``BasicEvaluator.evaluate``): exact letter match per row; the overall leaves
    the ``translation`` setting out."""

    name = "official"
    sources = OFFICIAL_SOURCES
    description = "last 'X.' letter (MindCube extract_answer), exact match; overall excludes translation"

    def score(self, sample: Sample, prediction: str | None) -> float | None:
        if not sample.answer:
            return None  # the released evaluation skips rows without gt_answer
        letter = official_letter(prediction)
        return 1.0 if letter is not None and letter == str(sample.answer) else 0.0

    def aggregate(self, items: Sequence[Scored]) -> Aggregate:
        return _aggregate(items, "official")


# --- paper: SpatialClaw spatial_agent/evals/mindcube.py -------------------------------------------------------

_PAPER_DOT = re.compile(r"\b([A-E])\.")
_PAPER_TAGS = tuple(re.compile(f"<{t}>(.*?)</{t}>", re.S) for t in ("Answer", "answer"))
_PAPER_TAG_INNER = (re.compile(r"\b([A-E])\."), re.compile(r"\b([A-E])\b"))
_PAPER_TEXT = tuple(
    re.compile(p)
    for p in (
        r"[Mm]y answer is ([A-E])",
        r"[Tt]he answer is ([A-E])",
        r"(?:Answer|answer):\s*([A-E])",
        r"\b([A-E])\s*[:.]\s*[A-Z]",
    )
)
_PAPER_STANDALONE = re.compile(r"\b([A-E])\b")


def paper_letter(text: str | None) -> str:
    """SpatialClaw's ``MindCubeBench.extract_answer``: ``\\boxed{X}`` (any case), the last ``X.`` at a word
    boundary, an ``<Answer>``/``<answer>`` tag, phrasing patterns (last match), the last standalone A-E; ``""`` when
    none applies."""
    if not text:
        return ""
    p = str(text).strip()
    found = boxed_letter(p, "A-E", re.I) or pattern_letter(p, (_PAPER_DOT,), last=True)
    if found:
        return found
    for tag in _PAPER_TAGS:
        tm = tag.search(p)
        if tm:
            found = pattern_letter(tm.group(1), _PAPER_TAG_INNER, last=True)
            if found:
                return found
    return pattern_letter(p, _PAPER_TEXT, last=True) or pattern_letter(p, (_PAPER_STANDALONE,), last=True)


class MindCubePaper(Scoring):
    """SpatialClaw's ``MindCubeBench.evaluate``: translation rows are skipped; overall = correct / total."""

    name = "paper"
    sources = PAPER_SOURCES
    description = "boxed / last 'X.' / tag / phrase / last letter; translation skipped; correct / total"

    def score(self, sample: Sample, prediction: str | None) -> float | None:
        if not sample.answer or sample.question_type in EXCLUDED_FROM_OVERALL:
            return None
        return 1.0 if paper_letter(prediction) == str(sample.answer).strip().upper() else 0.0

    def aggregate(self, items: Sequence[Scored]) -> Aggregate:
        return _aggregate(items, "paper")


def _aggregate(items: Sequence[Scored], scoring: str) -> Aggregate:
    """Per setting: mean score; overall: correct / total over the scored rows outside ``translation``."""
    by_setting = group_scores(items, lambda s: s.sample.question_type or "other")
    per_task = {k: mean(v) for k, v in sorted(by_setting.items(), key=lambda kv: _order(kv[0]))}
    counted = [x for k, v in by_setting.items() if k not in EXCLUDED_FROM_OVERALL for x in v]
    notes: list[str] = []
    n_translation = sum(1 for s in items if s.sample.question_type == "translation")
    if n_translation:
        if scoring == "official":
            notes.append(
                f"{n_translation} translation rows are scored per setting but left out of the overall "
                "(MindCube's evaluation excludes translation)"
            )
        else:
            notes.append(f"{n_translation} translation rows are not scored (SpatialClaw's evaluation skips them)")
    unanswered = sum(1 for s in items if not s.sample.answer)
    if unanswered:
        notes.append(f"{unanswered} rows without gt_answer are skipped")
    return Aggregate(
        overall=(sum(counted) / len(counted)) if counted else None,
        per_task=per_task,
        n=len(items),
        scored=sum(len(v) for v in by_setting.values()),
        notes=notes,
    )


def _order(setting: str) -> int:
    return SETTINGS.index(setting) if setting in SETTINGS else len(SETTINGS)


BENCHMARKS = (
    Benchmark(
        name=NAME,
        title="MindCube",
        hf_repo="MLL-Lab/MindCube",
        category="Multi-view",
        layout=(
            "data.zip unzipped: data/raw/MindCube.jsonl (else MindCube_tinybench.jsonl; id, category, type, "
            "meta_info, question with inline options, images, gt_answer) + data/other_all_image/<setting>/..."
        ),
        load=load,
        scorings={"official": MindCubeOfficial(), "paper": MindCubePaper()},
        published_count=21154,
    ),
)
