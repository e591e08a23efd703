"""OmniSpatial (Jia et al. 2025), Hugging Face ``qizekun/OmniSpatial``: 1533 four-way multiple-choice questions over
1387 images, in 4 task types (Dynamic_Reasoning, Spatial_Interaction, Complex_Logic, Perspective_Taking) and 10
sub-task types.

Layout (``<data root>/omnispatial/``): the Hub snapshot holds ``OmniSpatial-test.zip`` (plus the larger train/full
zips); the test zip unzipped in place gives ``OmniSpatial-test/data.json`` and
``OmniSpatial-test/<task_type>/<image id>.png``, which is what SpatialClaw reads. The official README instead unzips
so that ``data.json`` and the ``<task_type>/`` folders sit directly in the dataset folder; both are accepted
(``OmniSpatial-test/`` first). ``data.json`` is a list of ``{"id": "15_1", "question", "options": [4 strings],
"answer": <index 0-3>, "task_type", "sub_task_type"}``; the image is ``<task_type>/<id before "_">.png`` (several
questions share an image). Ids repeat across task types, so the sample id is ``<task_type>_<sub_task_type>_<id>``
(SpatialClaw's).

Scoring:

* ``official`` follows qizekun/OmniSpatial ``api_eval.py`` at 208bac25 with its default ``--eval_type re``: the
  *last* ``Answer\\s*:\\s*([A-D])\\b`` match (case-insensitive), else ``"A"``; correct when that letter equals the
  upper-case ground-truth letter, compared as matched, so ``answer: b`` is wrong and a reply without the pattern
  (a blank one included) counts as ``A``. Overall = correct / (n + 1e-6), likewise per task type and per sub-task.
  The README averages 5 repeated runs; one prediction per question is one run.
* ``paper`` follows SpatialClaw ``spatial_agent/evals/omnispatial.py`` at b062f829: an empty reply is ``A``; else the
  last ``Answer: X`` (upper-cased); else the base heuristics (``\\boxed{X}``, the first ``X.``/``X:``/``X)``, a lone
  letter) when they give A-D; else the first character when it is A-D; else ``A``. Overall = correct / n.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from spatial_eval.extract import base_answer
from spatial_eval.files import letter, read_json
from spatial_eval.types import Aggregate, Benchmark, LoadContext, Loaded, RowCollector, Sample, Scored, Scoring, Source

NAME = "omnispatial"
SPLIT_DIR = "OmniSpatial-test"
TASKS: dict[str, tuple[str, ...]] = {
    "Dynamic_Reasoning": ("Manipulation", "Motion_Analysis"),
    "Spatial_Interaction": ("Traffic_Analysis", "Localization", "Geospatial_Strategy"),
    "Complex_Logic": ("Pattern_Recognition", "Geometric_Reasoning"),
    "Perspective_Taking": ("Egocentric", "Allocentric", "Hypothetical"),
}
"""The official ``blank_stats`` hierarchy: task type -> sub-task types, in the order the official report prints."""
EPS = 1e-6
"""The official report divides by ``len + 1e-6``."""

OFFICIAL_SOURCES = (
    Source(
        "qizekun/OmniSpatial", "api_eval.py", "208bac258d8671c6857b3be2834997936ba7fc51", "--eval_type re (default)"
    ),
)
PAPER_SOURCES = (Source.spatialclaw("omnispatial.py"), Source.spatialclaw("base.py"))

INSTRUCTION = "End your reply with a line of the form 'Answer: X', where X is the letter of the correct option."


# ---------------------------------------------------------------------------------------------------------------
# Loading


def _sample(folder: Path, row: dict[str, Any]) -> Sample:
    """One data.json entry -> a Sample. Raises ValueError naming the bad field."""
    for k in ("id", "question", "task_type", "sub_task_type"):
        if not isinstance(row.get(k), str) or not row[k].strip():
            raise ValueError(f"field {k!r} is missing or not a non-empty string")
    options = row.get("options")
    if not isinstance(options, list) or len(options) < 2:
        raise ValueError("field 'options' must be a list of at least 2 options")
    answer = row.get("answer")
    if isinstance(answer, bool) or not isinstance(answer, int) or not 0 <= answer < len(options):
        raise ValueError(f"field 'answer' must be an option index 0..{len(options) - 1}, got {answer!r}")
    raw_id, task, sub = row["id"], row["task_type"], row["sub_task_type"]
    image = (folder / task / f"{raw_id.split('_')[0]}.png").resolve()
    return Sample(
        benchmark=NAME,
        source_id=f"{task}_{sub}_{raw_id}",
        question=row["question"],
        inputs=[{"kind": "images", "path": str(image)}],
        answer=letter(answer),
        choices=[f"{letter(i)}. {o}" for i, o in enumerate(options)],
        question_type=sub,
        category=task,
        instruction=INSTRUCTION,
        media=[image],
        extra={"id": raw_id, "task_type": task, "sub_task_type": sub, "answer_index": answer},
    )


def load(root: Path, ctx: LoadContext) -> Loaded:
    """Read ``<root>/OmniSpatial-test/data.json`` (else ``<root>/data.json``). Raises DatasetMissing."""
    for folder in (root / SPLIT_DIR, root):
        if (folder / "data.json").is_file():
            break
    else:
        zipped = " (OmniSpatial-test.zip is there: unzip it in place)" if (root / f"{SPLIT_DIR}.zip").exists() else ""
        raise BENCHMARKS[0].missing(root, f"{SPLIT_DIR}/data.json{zipped}")
    data = read_json(folder / "data.json")
    if not isinstance(data, list):
        raise ValueError(f"{folder / 'data.json'}: expected a list of questions")
    rows = RowCollector()
    for i, row in enumerate(data):
        where = f"data.json item {i}"
        if not isinstance(row, dict):
            rows.problem(where, "not an object")
            continue
        rows.add(where, str(row.get("id")) if row.get("id") is not None else None, _sample, folder, row)
    return rows.loaded()


# ---------------------------------------------------------------------------------------------------------------
# Official: api_eval.py, eval_type "re"

_ANSWER = re.compile(r"Answer\s*:\s*([A-D])\b", re.IGNORECASE)


def official_letter(prediction: str | None) -> str:
    """The letter the official ``re`` evaluation reads: the last ``Answer: X`` match as written (``a``-``d`` stay
    lower case), else ``"A"``. ``None`` (no reply) reads as a blank reply."""
    found = _ANSWER.findall(prediction or "")
    return found[-1] if found else "A"


def _report(items: Sequence[Scored], eps: float) -> tuple[float | None, dict[str, float], int]:
    """Overall and per task type / sub-task (``Task`` and ``Task/Sub``) means of the scored items, each divided by
    ``n + eps``; only groups with samples are reported."""
    scored = [s for s in items if s.score is not None]
    if not scored:
        return None, {}, 0
    tasks: dict[str, list[float]] = {}
    subs: dict[str, list[float]] = {}
    for s in scored:
        task = str(s.sample.extra.get("task_type", s.sample.category))
        sub = str(s.sample.extra.get("sub_task_type", s.sample.question_type))
        tasks.setdefault(task, []).append(float(s.score))  # type: ignore[arg-type]
        subs.setdefault(f"{task}/{sub}", []).append(float(s.score))  # type: ignore[arg-type]
    per = {k: sum(v) / (len(v) + eps) for k, v in {**tasks, **subs}.items()}
    overall = sum(float(s.score) for s in scored) / (len(scored) + eps)  # type: ignore[arg-type]
    return overall, dict(sorted(per.items())), len(scored)


class OmniSpatialOfficial(Scoring):
    """qizekun/OmniSpatial ``api_eval.py`` (``process_info`` with ``eval_type == "re"`` and the final report)."""

    name = "official"
    sources = OFFICIAL_SOURCES
    description = "OmniSpatial re: last 'Answer: X' (case kept), else A; correct/(n+1e-6)"

    def score(self, sample: Sample, prediction: str | None) -> float | None:
        if sample.answer is None:
            return None
        return 1.0 if official_letter(prediction) == str(sample.answer).upper() else 0.0

    def aggregate(self, items: Sequence[Scored]) -> Aggregate:
        overall, per, n = _report(items, EPS)
        notes = ["the official README averages 5 repeated runs; this is one run"] if n else []
        return Aggregate(overall, per, len(items), n, notes)


# ---------------------------------------------------------------------------------------------------------------
# Paper: SpatialClaw OmniSpatialBench (+ BaseBenchmark.extract_answer)


def paper_letter(prediction: str | None) -> str:
    """SpatialClaw ``OmniSpatialBench.extract_answer``.

    ``""``/None -> ``A``; last ``Answer: x`` -> ``X``; base heuristics (:func:`~spatial_eval.extract.base_answer`:
    ``"it is left."`` gives ``T``) when they give A-D; the first character when it is A-D (a whitespace-only reply
    gives ``""`` here, because ``"" in "ABCD"`` is true); else ``A``."""
    if not prediction:
        return "A"
    found = _ANSWER.findall(prediction)
    if found:
        return found[-1].upper()
    base = base_answer(prediction)
    if len(base) == 1 and base in "ABCD":
        return base
    first = prediction.strip().upper()[:1]
    if first in "ABCD":
        return first
    return "A"


class OmniSpatialPaper(Scoring):
    """SpatialClaw ``OmniSpatialBench``: ``evaluate_single`` (base class) and ``evaluate``."""

    name = "paper"
    sources = PAPER_SOURCES
    description = "SpatialClaw: Answer: X, base heuristics, first character, fallback A; correct/n"

    def score(self, sample: Sample, prediction: str | None) -> float | None:
        if sample.answer is None:
            return None
        pred = paper_letter(prediction)
        return 1.0 if (pred and pred == str(sample.answer).upper()) else 0.0

    def aggregate(self, items: Sequence[Scored]) -> Aggregate:
        overall, per, n = _report(items, 0.0)
        return Aggregate(overall, per, len(items), n)


_SCORINGS = {"official": OmniSpatialOfficial(), "paper": OmniSpatialPaper()}

BENCHMARKS = (
    Benchmark(
        download_include=("OmniSpatial-test.zip",),
        after_download="unzip OmniSpatial-test.zip",
        name=NAME,
        title="OmniSpatial",
        hf_repo="qizekun/OmniSpatial",
        category="Single-image",
        layout=(
            "OmniSpatial-test/data.json [id, question, options, answer (index), task_type, sub_task_type] + "
            "OmniSpatial-test/<task_type>/<id before _>.png (OmniSpatial-test.zip unzipped)"
        ),
        load=load,
        scorings=_SCORINGS,
        published_count=1533,
    ),
)
