"""BLINK (Fu et al. 2024, "Multimodal Large Language Models Can See but Not Perceive"), Hugging Face
``BLINK-Benchmark/BLINK``: 14 visual-perception subtasks; the paper (and SpatialClaw) use the ``val`` split, 1901
multiple-choice questions with 2-4 options (the test split's answers are hidden).

Layout (``<data root>/blink/``, the Hugging Face snapshot: one folder per subtask)::

    Art_Style/val-00000-of-00001.parquet        (and test-00000-of-00001.parquet, not read)
    Counting/val-00000-of-00001.parquet
    ... 14 folders: Art_Style, Counting, Forensic_Detection, Functional_Correspondence, IQ_Test, Jigsaw,
        Multi-view_Reasoning, Object_Localization, Relative_Depth, Relative_Reflectance, Semantic_Correspondence,
        Spatial_Relation, Visual_Correspondence, Visual_Similarity

Row fields: ``idx`` (``val_Counting_1``), ``question``, ``sub_task``, ``image_1`` .. ``image_4`` (the Hugging Face
``Image`` struct ``{"bytes", "path"}`` or null; written to the cache), ``choices`` (list of option texts, no letters),
``answer`` (``"(A)"``), ``prompt`` (question plus ``(A) ...`` options, as BLINK prompts models), ``explanation``.
Samples come subtask by subtask in the order above, rows in file order (SpatialClaw's loader order). ``choices`` are
given as ``"(A) text"``, the lettering of BLINK's own ``prompt``.

Scoring:

* ``official`` follows BLINK's own code at zeyofu/BLINK_Benchmark 2d6a779b: ``eval/test_benchmark.py``
  ``analyze_answer`` turns a response into a choice (``A``-``E`` -> ``(A)``; ``(A)``-``(E)`` as is; else the one
  ``(X)`` among the valid choices that appears as a whitespace-separated token, preferring the last paragraph) and
  ``eval/evaluate.py`` counts a sample correct when that choice equals the answer exactly; overall = the unweighted
  mean over the 14 subtask accuracies. Responses those rules cannot decide go, in the released code, to a GPT-3.5
  matcher (``eval/multiple_choice.py``) that cannot be run here; instead they are decided by lmms-eval's deterministic
  BLINK rule (EvolvingLMMs-Lab/lmms-eval 205d72d2 ``lmms_eval/tasks/blink/utils.py`` ``_extract_answer_letter``): the
  stripped response must start with optional ``(`` / whitespace and then a letter, any case; that letter, upper-cased,
  is compared with the answer without its parentheses (no letter: wrong). So ``b``, ``B.`` and ``" B"`` are right for
  ``(B)``, ``\\boxed{B}`` and ``Answer: B`` are wrong, and, a quirk of that rule, ``Because ...`` reads as ``B``.
  Every sample with a ground truth is scored; Aggregate.notes counts the responses decided by the fallback. A blank
  response scores 0 (BLINK's matcher is told to answer ``(Z)`` then, lmms-eval finds no letter); a missing one scores
  0 (the released code fails on it and keeps no prediction).
* ``paper`` follows SpatialClaw ``spatial_agent/evals/blink.py`` at b062f829: case-insensitive letter, ``(X)``, the
  last ``\\boxed{X}``, a single ``(X)`` token (whole text, then last paragraph), the last ``(X)`` anywhere, "answer/
  choice/option (is) X", a leading letter, else ``(Z)``; the macro mean over the subtasks present.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from spatial_eval.extract import boxed_letter
from spatial_eval.files import embedded_image, images_inputs, letter, read_parquet
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
    mean_of_group_means,
    question_type_of,
)

NAME = "blink"
SPLIT = "val"
SUBTASKS = (
    "Art_Style",
    "Counting",
    "Forensic_Detection",
    "Functional_Correspondence",
    "IQ_Test",
    "Jigsaw",
    "Multi-view_Reasoning",
    "Object_Localization",
    "Relative_Depth",
    "Relative_Reflectance",
    "Semantic_Correspondence",
    "Spatial_Relation",
    "Visual_Correspondence",
    "Visual_Similarity",
)
IMAGE_COLUMNS = ("image_1", "image_2", "image_3", "image_4")
BLINK_COMMIT = "2d6a779be4aa1ad0d38d7aa539bcb43b6dd81592"
LMMS_EVAL_COMMIT = "205d72d282862e28d71ddafe417f184373fa9f37"

OFFICIAL_SOURCES = (
    Source("zeyofu/BLINK_Benchmark", "eval/test_benchmark.py", BLINK_COMMIT, note="analyze_answer"),
    Source("zeyofu/BLINK_Benchmark", "eval/evaluate.py", BLINK_COMMIT, note="eval_prediction: mean over 14 subtasks"),
    Source(
        "zeyofu/BLINK_Benchmark",
        "eval/multiple_choice.py",
        BLINK_COMMIT,
        note="GPT-3.5 choice matcher: not run; lmms-eval's rule used instead",
    ),
    Source(
        "EvolvingLMMs-Lab/lmms-eval",
        "lmms_eval/tasks/blink/utils.py",
        LMMS_EVAL_COMMIT,
        note="used where analyze_answer defers to the GPT-3.5 matcher",
    ),
)
PAPER_SOURCES = (Source.spatialclaw("blink.py"), Source.spatialclaw("base.py", note="evaluate_single"))

INSTRUCTION = "Answer with the letter of the correct option in parentheses, e.g. (A)."


def _sample(ctx: LoadContext, subtask: str, row: dict[str, Any]) -> Sample:
    """One parquet row -> a Sample. Raises ValueError naming the bad field."""
    for k in ("idx", "question", "answer"):
        v = row.get(k)
        if v is None or (isinstance(v, str) and not v.strip()):
            raise ValueError(f"field {k!r} is missing or empty")
    raw = row.get("choices")
    if raw is None or len(list(raw)) == 0:
        raise ValueError("field 'choices' is missing or empty")
    choices = [str(c) for c in raw]
    images: list[Path] = []
    for col in IMAGE_COLUMNS:
        path = embedded_image(row.get(col), ctx.cache_dir)
        if path is not None:
            images.append(path)
    if not images:
        raise ValueError("the row has no images (image_1 .. image_4 are all empty)")
    return Sample(
        benchmark=NAME,
        source_id=str(row["idx"]),
        question=str(row["question"]),
        inputs=images_inputs(list(images)),
        answer=str(row["answer"]),
        choices=[f"({letter(i)}) {c}" for i, c in enumerate(choices)],
        question_type=subtask,
        category=None,
        instruction=INSTRUCTION,
        media=images,
        extra={"sub_task": row.get("sub_task"), "options": choices, "n_choices": len(choices)},
    )


def load(root: Path, ctx: LoadContext) -> Loaded:
    """The ``val`` parquet files of the 14 subtask folders, in SpatialClaw's subtask order. A missing subtask folder
    is skipped (as the original does); with none present the dataset is missing."""
    rows = RowCollector("idx", errors=(ValueError, TypeError, OSError))
    found = 0
    for subtask in SUBTASKS:
        folder = root / subtask
        files = sorted(f for f in folder.glob("*.parquet") if f.name.startswith(SPLIT)) if folder.is_dir() else []
        if not files:
            continue
        found += 1
        for f in files:
            for i, row in enumerate(read_parquet(f)):
                sid = None if row.get("idx") is None else str(row.get("idx"))
                rows.add(f"{subtask}/{f.name} row {i}", sid, _sample, ctx, subtask, row)
    if not found:
        raise BENCHMARKS[0].missing(root, "the subtask folders (Art_Style/val-00000-of-00001.parquet, ...)")
    return rows.loaded()


# ---------------------------------------------------------------------------------------------------------------

_LETTERS = ("A", "B", "C", "D", "E")
_PAREN = tuple(f"({x})" for x in _LETTERS)


class NeedsJudge:
    """Marker: BLINK's rules cannot decide; the released code would ask its GPT-3.5 matcher (here: lmms-eval's
    rule decides instead, see :func:`lmms_eval_letter`)."""


NEEDS_JUDGE = NeedsJudge()


def official_choice(response: str | None, n_choices: int) -> str | None | NeedsJudge:
    """BLINK's ``analyze_answer``: the extracted choice (``"(B)"``), None when the released code keeps no prediction
    (a missing response raises inside its try and returns None), or :data:`NEEDS_JUDGE`.

    ``n_choices`` limits the valid ``(X)`` tokens to the sample's options; the bare-letter and ``(X)`` whole-response
    rules accept A-E regardless, exactly as released.
    """
    if response is None:
        return None
    valid = set(_PAREN[:n_choices])
    tokens = valid & set(response.split())
    tokens_last = valid & set(response.split("\n\n")[-1].split())
    if response in _LETTERS:
        return f"({response})"
    if response in _PAREN:
        return response
    if (len(tokens) != 1 and len(tokens_last) != 1) or len(tokens) < 1:
        return NEEDS_JUDGE
    return next(iter(tokens_last if len(tokens_last) == 1 else tokens))


# lmms-eval's pattern, applied with re.match (anchored at the start only): the trailing ``[\)\.\s]*`` never makes a
# match fail, so any response whose first non-"(" non-space character is a letter yields that letter.
_LMMS_LETTER = re.compile(r"[\(\s]*([A-Z])[\)\.\s]*", re.IGNORECASE)


def lmms_eval_letter(response: str) -> str:
    """lmms-eval's BLINK extractor (``_extract_answer_letter``): the leading letter of the stripped response, after
    any ``(`` and whitespace, upper-cased; ``""`` when the response does not start that way."""
    found = _LMMS_LETTER.match(response.strip())
    return found.group(1).upper() if found else ""


def uses_fallback(response: str | None, n_choices: int) -> bool:
    """Whether the official scoring decides ``response`` by lmms-eval's rule: a non-blank response that BLINK's
    ``analyze_answer`` would hand to its GPT-3.5 matcher."""
    if response is None or not response.strip():
        return False
    return isinstance(official_choice(response, n_choices), NeedsJudge)


def _n_choices(sample: Sample) -> int:
    return int(sample.extra.get("n_choices") or len(sample.choices or ()))


class BlinkOfficial(Scoring):
    """BLINK ``analyze_answer`` + ``eval_prediction``; where ``analyze_answer`` defers to the GPT-3.5 matcher (not
    run), lmms-eval's deterministic leading-letter rule decides instead. Every sample with an answer is scored."""

    name = "official"
    sources = OFFICIAL_SOURCES
    description = (
        "BLINK's rule-based choice extraction, exact match, macro mean over subtasks; "
        "lmms-eval's leading-letter rule where BLINK would ask GPT-3.5"
    )

    def score(self, sample: Sample, prediction: str | None) -> float | None:
        if sample.answer is None:
            return None
        if prediction is None or not prediction.strip():
            # Missing: analyze_answer fails inside its try and keeps no prediction. Blank: the matcher is told to
            # answer (Z) when no option is selected, and lmms-eval's rule finds no letter. Either way a miss.
            return 0.0
        answer = str(sample.answer)
        choice = official_choice(prediction, _n_choices(sample))
        if isinstance(choice, NeedsJudge):
            got = lmms_eval_letter(prediction)
            return 1.0 if got and got == answer.strip("()") else 0.0
        return 1.0 if choice == answer else 0.0

    def aggregate(self, items: Sequence[Scored]) -> Aggregate:
        agg = _macro(items)
        fallback = sum(
            1 for s in items if s.sample.answer is not None and uses_fallback(s.prediction, _n_choices(s.sample))
        )
        if fallback:
            agg.notes.append(
                f"{fallback} responses scored by lmms-eval's leading-letter rule (lmms_eval/tasks/blink/utils.py "
                "_extract_answer_letter) where BLINK's analyze_answer defers to its GPT-3.5 matcher "
                "(eval/multiple_choice.py, not run)"
            )
        return agg


_PAREN_RE = re.compile(r"\(([A-E])\)")
_PHRASE = re.compile(r"(?:answer|choice|option)\s+(?:is\s+)?([A-E])\b", re.I)


def paper_choice(prediction: str | None) -> str:
    """SpatialClaw's ``BLINKBench.extract_answer``: ``"(X)"``, or ``"(Z)"`` when nothing is found."""
    if not prediction:
        return "(Z)"
    text = prediction.strip()
    if not text:
        return "(Z)"
    if text.upper() in _LETTERS:
        return f"({text.upper()})"
    if text.upper() in _PAREN:
        return text.upper()
    boxed = boxed_letter(text, "A-Ea-e", style="tight", last=True)
    if boxed:
        return f"({boxed})"
    for part in (text, text.split("\n\n")[-1]):
        hits = set(part.split()) & set(_PAREN)
        if len(hits) == 1:
            return hits.pop()
    found = _PAREN_RE.findall(text)
    if found:
        return f"({found[-1]})"
    m = _PHRASE.search(text)
    if m:
        return f"({m.group(1).upper()})"
    if text[0].upper() in "ABCDE" and (len(text) == 1 or not text[1].isalpha()):
        return f"({text[0].upper()})"
    return "(Z)"


def paper_ground_truth(answer: str) -> str:
    """SpatialClaw's ground-truth form: stripped, wrapped in parentheses when it is not already, upper-cased."""
    gt = answer.strip()
    if gt and gt[0] != "(":
        gt = f"({gt.upper()})"
    return gt.upper()


class BlinkPaper(Scoring):
    """SpatialClaw's ``BLINKBench.evaluate``: its extractor, exact match, macro mean over the subtasks present."""

    name = "paper"
    sources = PAPER_SOURCES
    description = "boxed / (X) / letter / phrase extraction, (Z) fallback; macro mean over subtasks present"

    def score(self, sample: Sample, prediction: str | None) -> float | None:
        if sample.answer is None:
            return None
        return 1.0 if paper_choice(prediction) == paper_ground_truth(str(sample.answer)) else 0.0

    def aggregate(self, items: Sequence[Scored]) -> Aggregate:
        return _macro(items)


def _macro(items: Sequence[Scored]) -> Aggregate:
    """Overall = the unweighted mean of the per-subtask accuracies (scored samples only)."""
    agg = mean_of_group_means(items, question_type_of)
    if agg.per_task and len(agg.per_task) < len(SUBTASKS):
        agg.notes.append(f"{len(agg.per_task)} of {len(SUBTASKS)} subtasks scored: the overall is the mean over those")
    return agg


BENCHMARKS = (
    Benchmark(
        name=NAME,
        title="BLINK",
        hf_repo="BLINK-Benchmark/BLINK",
        category="General spatial",
        layout="<Subtask>/val-00000-of-00001.parquet for 14 subtasks: idx, question, sub_task, image_1..image_4 "
        "(embedded), choices, answer ('(A)'), prompt, explanation",
        load=load,
        scorings={"official": BlinkOfficial(), "paper": BlinkPaper()},
        published_count=1901,
    ),
)
