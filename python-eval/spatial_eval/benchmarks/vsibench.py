"""VSI-Bench (Yang et al. 2024, "Thinking in Space"), Hugging Face ``nyu-visionx/VSI-Bench``: 5130 questions about
288 indoor videos, and VSI-Bench-U (``vsibench_debiased``), the 2362-question debiased split the SpatialClaw paper
reports.

Layout (``<data root>/vsibench/``)::

    test.jsonl | test.parquet | test-*.parquet | data/test-*.parquet   the 5130 rows (any of these forms)
    test_debiased.parquet | test_debiased.jsonl                      the 2362 debiased rows
    arkitscenes/<scene_name>.mp4, scannet/<scene_name>.mp4, scannetpp/<scene_name>.mp4

Row fields (official): ``id`` (int), ``dataset`` (arkitscenes | scannet | scannetpp), ``scene_name``,
``question_type`` (10 types), ``question``, ``options`` (``["A. ...", ...]`` for the 6 multiple-choice types, null
for the 4 numeric ones), ``ground_truth`` (the option letter, or a number as a string). The video is bound whole
(frame indices are absolute indices of the mp4).

Scoring:

* ``official`` follows thinking-in-space ``lmms_eval/tasks/vsibench/utils.py`` at e6a72f39 (the same functions as
  lmms-eval's ``vsibench/utils.py``): the prediction's text before the first ``' '``, trailing ``.`` removed; multiple
  choice is a case-insensitive exact match with the letter; numeric is ``float()`` of that token (anything Python's
  ``float`` rejects scores 0) and MRA over ``np.linspace(.5, .95, 10)`` with ``abs(p-g)/g <= 1-t``. Aggregation: the
  mean per question type; the three ``object_rel_direction_*`` means are summed and divided by 3 (a subset missing
  from the run counts as 0, as in the released code); overall = mean of the remaining task scores (8 on the full set).
* ``paper`` follows SpatialClaw ``spatial_agent/evals/vsibench.py`` at b062f829: multiple choice first tries
  ``\\boxed{X}``, then ``X.`` / ``(X)`` / ``X:`` anywhere (A–D, any case), then a one-letter first token, then the
  option text; numeric as official but the denominator is ``|g|``; the direction subsets present are averaged (a
  missing one is left out); overall = mean of the task scores.
"""

from __future__ import annotations

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
from spatial_eval.files import iter_jsonl, read_parquet
from spatial_eval.metrics import abs_mra, to_float, vsi_mra
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

MC_TYPES = (
    "object_rel_direction_easy",
    "object_rel_direction_medium",
    "object_rel_direction_hard",
    "object_rel_distance",
    "route_planning",
    "obj_appearance_order",
)
NA_TYPES = ("object_abs_distance", "object_counting", "object_size_estimation", "room_size_estimation")
DIRECTION = ("object_rel_direction_easy", "object_rel_direction_medium", "object_rel_direction_hard")
CATEGORY = {
    "object_counting": "configurational",
    "object_rel_distance": "configurational",
    "object_rel_direction_easy": "configurational",
    "object_rel_direction_medium": "configurational",
    "object_rel_direction_hard": "configurational",
    "route_planning": "configurational",
    "object_size_estimation": "measurement",
    "object_abs_distance": "measurement",
    "room_size_estimation": "measurement",
    "obj_appearance_order": "spatiotemporal",
}
DATASETS = ("arkitscenes", "scannet", "scannetpp")

OFFICIAL_SOURCES = (
    Source(
        "vision-x-nyu/thinking-in-space",
        "lmms_eval/tasks/vsibench/utils.py",
        "e6a72f397d7abf3608bb51f5edcb74753f87d234",
    ),
    Source(
        "EvolvingLMMs-Lab/lmms-eval", "lmms_eval/tasks/vsibench/utils.py", "78ef58a00254d39154cca752ab414eba4ff99373"
    ),
)
PAPER_SOURCES = (Source.spatialclaw("vsibench.py"),)

INSTRUCTION_MC = "Reply with the letter of the correct option only."
INSTRUCTION_NA = "Reply with a single number only (no units)."

_FULL = ("test.jsonl", "test.parquet", "test-00000-of-00001.parquet", "data")
_DEBIASED = ("test_debiased.parquet", "test_debiased.jsonl", "test_debiased-00000-of-00001.parquet")


def _rows(path: Path) -> list[tuple[str, Any]]:
    """(where, row or ValueError) for a JSON Lines or parquet file (or a folder of parquet shards)."""
    if path.suffix == ".jsonl":
        return [(f"{path.name}:{i}", row) for i, row in iter_jsonl(path)]
    if path.is_dir():
        files = sorted(path.glob("test-*.parquet"))
        if not files:
            raise FileNotFoundError(f"no test-*.parquet in {path}")
        rows = [r for f in files for r in read_parquet(f)]
    else:
        rows = read_parquet(path)
    return [(f"{path.name} row {i}", r) for i, r in enumerate(rows)]


def _sample(bench: str, root: Path, row: dict[str, Any]) -> Sample:
    """One row -> a Sample. Raises ValueError naming the bad field."""
    for k in ("id", "dataset", "scene_name", "question_type", "question", "ground_truth"):
        if row.get(k) is None or (isinstance(row[k], str) and not row[k].strip() and k != "question"):
            raise ValueError(f"field {k!r} is missing or empty")
    qtype = str(row["question_type"])
    if qtype not in MC_TYPES and qtype not in NA_TYPES:
        raise ValueError(f"unknown question_type {qtype!r}")
    options = row.get("options")
    if qtype in MC_TYPES:
        if options is None or len(list(options)) == 0:
            raise ValueError(f"a {qtype} row needs options")
        options = [str(o) for o in options]
    else:
        options = None
    dataset = str(row["dataset"])
    video = root / dataset / f"{row['scene_name']}.mp4"
    return Sample(
        benchmark=bench,
        source_id=str(row["id"]),
        question=str(row["question"]),
        inputs=[{"kind": "video", "path": str(video)}],
        answer=str(row["ground_truth"]).strip(),
        choices=options,
        question_type=qtype,
        category=CATEGORY[qtype],
        instruction=INSTRUCTION_MC if options else INSTRUCTION_NA,
        media=[video],
        extra={"dataset": dataset, "scene_name": str(row["scene_name"])},
    )


def _loader(bench: str, names: Sequence[str], what: str):
    def load(root: Path, ctx: LoadContext) -> Loaded:
        path = next((root / n for n in names if (root / n).exists()), None)
        if path is None:
            b = BENCHMARKS[0] if bench == "vsibench" else BENCHMARKS[1]
            raise b.missing(root, f"{what} (one of {', '.join(names)})")
        rows = RowCollector()
        for where, row in _rows(path):
            if isinstance(row, ValueError):
                rows.problem(where, str(row))
            else:
                rows.add(where, str(row.get("id")) if isinstance(row, dict) else None, _sample, bench, root, row)
        return rows.loaded()

    return load


# ---------------------------------------------------------------------------------------------------------------


class VsiOfficial(Scoring):
    """thinking-in-space / lmms-eval ``vsibench_process_results`` and ``vsibench_aggregate_results``."""

    name = "official"
    sources = OFFICIAL_SOURCES

    def score(self, sample: Sample, prediction: str | None) -> float | None:
        if sample.answer is None:
            return None
        token = vsi_first_token(prediction or "")
        if sample.question_type in MC_TYPES:
            return 1.0 if token.lower() == str(sample.answer).lower() else 0.0
        return vsi_mra(to_float(token), to_float(sample.answer))

    def aggregate(self, items: Sequence[Scored]) -> Aggregate:
        by_type = group_scores(items, _typed)
        per = {t: mean(v) for t, v in by_type.items()}
        notes: list[str] = []
        missing_dir = [t for t in DIRECTION if t not in per]
        if any(t in per for t in DIRECTION) or missing_dir:
            if missing_dir and len(missing_dir) < 3:
                notes.append(f"{', '.join(missing_dir)} absent: counted as 0 in object_rel_direction (released code)")
            per["object_rel_direction"] = sum(per.pop(t, 0.0) for t in DIRECTION) / 3.0
        scored = sum(len(v) for v in by_type.values())
        if not by_type:
            return Aggregate(None, {}, len(items), 0, notes)
        tasks = len(per)
        if tasks < 8:
            notes.append(f"{tasks} of 8 tasks present: the overall is the mean over those")
        return Aggregate(sum(per.values()) / tasks, dict(sorted(per.items())), len(items), scored, notes)


def _typed(s: Scored) -> str | None:
    """The question type of a sample that has one (both aggregations leave the others out)."""
    return s.sample.question_type or None


def paper_mc_letter(prediction: str, choices: Sequence[str] | None) -> str:
    """SpatialClaw's ``_extract_mc_answer``: boxed letter, ``X.``/``(X)``/``X:``, one-letter first token, option text,
    else the first token."""
    p = prediction.strip()
    if not p:
        return ""
    first = vsi_first_token(p)
    return (
        boxed_letter(p, "A-Da-d")
        or marked_letter(p)
        or one_letter(first)
        or option_text_letter(p, options_by_letter(choices))
        or first
    )


class VsiPaper(Scoring):
    """SpatialClaw's ``VSIBench.evaluate_single`` / ``evaluate``."""

    name = "paper"
    sources = PAPER_SOURCES

    def score(self, sample: Sample, prediction: str | None) -> float | None:
        if sample.answer is None:
            return None
        pred = (prediction or "").strip()
        if sample.question_type in MC_TYPES:
            return 1.0 if paper_mc_letter(pred, sample.choices).lower() == str(sample.answer).strip().lower() else 0.0
        p = to_float(vsi_first_token(pred)) if pred else None
        g = to_float(sample.answer)
        if p is None or g is None or g == 0:
            return 0.0
        return abs_mra(p, g)

    def aggregate(self, items: Sequence[Scored]) -> Aggregate:
        by_type = group_scores(items, _typed)
        per = {t: mean(v) for t, v in by_type.items()}
        present = [per.pop(t) for t in DIRECTION if t in per]
        if present:
            per["object_rel_direction"] = sum(present) / len(present)
        if not per:
            return Aggregate(None, {}, len(items), 0)
        return Aggregate(
            sum(per.values()) / len(per), dict(sorted(per.items())), len(items), sum(len(v) for v in by_type.values())
        )


_SCORINGS = {"official": VsiOfficial(), "paper": VsiPaper()}
_LAYOUT = (
    "{dataset}/{scene_name}.mp4 videos; questions in test.jsonl or parquet "
    "(id, dataset, scene_name, question_type, question, options, ground_truth)"
)

BENCHMARKS = (
    Benchmark(
        name="vsibench",
        title="VSI-Bench",
        hf_repo="nyu-visionx/VSI-Bench",
        category="Video & 4D",
        layout=_LAYOUT,
        load=_loader("vsibench", _FULL, "the question file"),
        scorings=_SCORINGS,
        published_count=5130,
    ),
    Benchmark(
        name="vsibench_debiased",
        title="VSI-Bench-U",
        hf_repo="nyu-visionx/VSI-Bench",
        category="Video & 4D",
        layout=_LAYOUT.replace("test.jsonl", "test_debiased.parquet"),
        load=_loader("vsibench_debiased", _DEBIASED, "the debiased question file"),
        scorings=_SCORINGS,
        data_dir="vsibench",
        published_count=2362,
    ),
)
