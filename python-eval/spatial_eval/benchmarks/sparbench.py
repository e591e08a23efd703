"""SPAR-Bench (Zhang et al. 2025, "From Flatland to Space"), Hugging Face ``jasonzhango/SPAR-Bench``: 20 spatial
tasks over ScanNet / ScanNet++ / Structured3D views, single-view and multi-view. The README says 7,207 questions; the
dataset card's ``dataset_info`` (written from the uploaded parquet) says 7,211 rows, which is what we expect on disk.

Layout (``<data root>/sparbench/``)::

    data/test-0000N-of-0000M.parquet     the rows, images embedded (read in file-name order)

Row fields: ``id`` (int), ``img_type`` (``single_view`` | ``multi_view``), ``format_type`` (``select`` | ``fill``),
``task`` (20 task names, our ``question_type``), ``source`` (the scene dataset), ``image`` (a list of Hugging Face
``Image`` cells ``{"bytes", "path"}``: one per view), ``question`` (the options, when there are any, are part of this
text: there is no separate options field, so ``choices`` is None), ``answer`` (a letter for the 11 multiple-choice
tasks, a number for the 8 depth/distance tasks, ``action:value`` pairs such as ``move_right:0.5,rotate_left:20`` for
``view_change_infer``). ``category`` is the README's cognitive level (Low / Middle / High). Images are written once
into the cache folder (``files.embedded_image``), one images input per view.

Scoring:

* ``official`` follows the SPAR authors' lmms-eval task, LogosRoboticsGroup/SPAR
  ``lmms-eval/lmms_eval/tasks/sparbench/utils.py`` at 1cc04758 (unchanged since 54465ac9; EvolvingLMMs-Lab/lmms-eval's
  ``sparbench/utils.py`` has the same logic). Multiple choice is ``exact_match`` on the raw prediction, lowercased:
  equal, or the prediction is a substring of the letter (so a blank prediction counts as correct), or its first
  character equals the letter (so ``"Because ..."`` is correct for ``B``). Numeric takes the first number
  (``(?<!\\^)\\d+\\.\\d+|(?<!\\^)\\d+``; the *last* one for the four ``*_mv`` depth/distance tasks, and -1 when
  there is none), MRA over ``np.linspace(.5, .95, 10)`` with ``abs((p-g)/g) <= 1-t`` (``abs(p-g)`` when g is 0).
  ``view_change_infer`` splits the prediction on ``,`` and ``:`` (any malformed pair scores 0), takes right-left,
  up-down, forward-backward, rotate right-left and rotate up-down, and averages the MRA of the 5 axes with the
  arguments swapped (the error is divided by the *prediction*). Aggregation: the mean per task; overall = the mean of
  the task means; the Low / Middle / High levels, where the key-splitting quirk leaves ``view_change_infer`` out of
  Middle.
* ``paper`` follows SpatialClaw ``spatial_agent/evals/sparbench.py`` at b062f829: multiple choice extracts a letter
  (``\\boxed{X}``, then ``(X)`` / ``X.`` / ``X:`` / ``X)`` anywhere, then the only A-D letter, then a leading A-D)
  and uses the same lenient match except that a blank prediction scores 0; numeric as official but no number
  scores 0; ``view_change_infer`` parses ``move_*`` and ``turn_*`` keys (spaces removed, bad pairs skipped) and
  divides by the ground truth; overall = the mean of the task means.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from spatial_eval.extract import boxed_letter, one_letter, only_letter, punct_letter
from spatial_eval.files import embedded_image, images_inputs
from spatial_eval.metrics import mra_share, to_float
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
    group_means,
    group_scores,
    means,
)

NAME = "sparbench"

MC_TASKS = (
    "obj_spatial_relation_oo",
    "obj_spatial_relation_oc_mv",
    "obj_spatial_relation_oo_mv",
    "spatial_imagination_oc",
    "spatial_imagination_oo",
    "spatial_imagination_oc_mv",
    "spatial_imagination_oo_mv",
    "position_matching",
    "camera_motion_infer",
    "distance_infer_center_oo",
    "distance_infer_center_oo_mv",
)
NA_TASKS = (
    "depth_prediction_oc",
    "depth_prediction_oo",
    "distance_prediction_oc",
    "distance_prediction_oo",
    "depth_prediction_oc_mv",
    "depth_prediction_oo_mv",
    "distance_prediction_oo_mv",
    "distance_prediction_oc_mv",
)
MV_NA_TASKS = (
    "depth_prediction_oc_mv",
    "depth_prediction_oo_mv",
    "distance_prediction_oc_mv",
    "distance_prediction_oo_mv",
)
VCI_TASK = "view_change_infer"
TASKS = MC_TASKS + NA_TASKS + (VCI_TASK,)

LEVELS: dict[str, tuple[str, ...]] = {
    "Low": NA_TASKS,
    "Middle": (VCI_TASK, "position_matching", "camera_motion_infer"),
    "High": tuple(t for t in MC_TASKS if t not in ("position_matching", "camera_motion_infer")),
}
LEVEL_OF = {t: level for level, tasks in LEVELS.items() for t in tasks}

OFFICIAL_SOURCES = (
    Source(
        "LogosRoboticsGroup/SPAR",
        "lmms-eval/lmms_eval/tasks/sparbench/utils.py",
        "1cc04758d90dccec81cce5f710eca31240ff62b7",
        "the authors' lmms-eval task; unchanged since 54465ac9",
    ),
    Source(
        "EvolvingLMMs-Lab/lmms-eval",
        "lmms_eval/tasks/sparbench/utils.py",
        "1741440d9ac6c14e6c97c67f05065994f976c3ad",
        "same scoring logic upstream",
    ),
)
PAPER_SOURCES = (Source.spatialclaw("sparbench.py"),)

INSTRUCTION_MC = "Reply with the letter of the correct option only."
INSTRUCTION_NA = "Reply with a single number only (no units)."
INSTRUCTION_VCI = (
    "Reply only with the camera motion as comma-separated action:value pairs, using the action names of the question "
    "and no spaces (for example move_right:0.5,move_forward:1.2)."
)

_FIELDS = ("id", "task", "question", "answer", "image")


# ---- loading ----------------------------------------------------------------------------------------------------


def _iter_rows(path: Path) -> Iterator[dict[str, Any]]:
    """The rows of one parquet file, a batch at a time (the image bytes make whole files large)."""
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
        for batch in pf.iter_batches(batch_size=64):
            yield from batch.to_pylist()
    except Exception as e:  # pyarrow raises ArrowInvalid / OSError for a broken file
        raise ValueError(f"{path}: not a readable parquet file ({e})") from e


def _instruction(task: str) -> str:
    if task in NA_TASKS:
        return INSTRUCTION_NA
    if task == VCI_TASK:
        return INSTRUCTION_VCI
    return INSTRUCTION_MC


def _sample(row: dict[str, Any], cache_dir: Path) -> Sample:
    """One row -> a Sample (its embedded images written to ``cache_dir``). Raises ValueError naming the bad field."""
    for k in _FIELDS:
        v = row.get(k)
        if v is None or (isinstance(v, str) and not v.strip()):
            raise ValueError(f"field {k!r} is missing or empty")
    task = str(row["task"])
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}")
    cells = row["image"]
    if isinstance(cells, dict) or not isinstance(cells, (list, tuple)):
        cells = [cells]
    paths: list[Path] = []
    for j, cell in enumerate(cells):
        p = embedded_image(cell, cache_dir)
        if p is None:
            raise ValueError(f"image {j} has no bytes")
        paths.append(p)
    if not paths:
        raise ValueError("field 'image' has no images")
    return Sample(
        benchmark=NAME,
        source_id=str(row["id"]),
        question=str(row["question"]),
        inputs=images_inputs(list(paths)),
        answer=str(row["answer"]).strip(),
        choices=None,
        question_type=task,
        category=LEVEL_OF[task],
        instruction=_instruction(task),
        media=paths,
        extra={
            "img_type": str(row.get("img_type") or ""),
            "format_type": str(row.get("format_type") or ""),
            "source": str(row.get("source") or ""),
        },
    )


def load(root: Path, ctx: LoadContext) -> Loaded:
    """Every ``data/*.parquet`` in file-name order (SpatialClaw's order: sorted files, rows concatenated)."""
    data = root / "data"
    files = sorted(data.glob("*.parquet")) if data.is_dir() else []
    if not files:
        raise BENCHMARKS[0].missing(root, "data/test-*.parquet")
    rows = RowCollector(errors=(ValueError, TypeError, KeyError, OSError))
    for f in files:
        for i, row in enumerate(_iter_rows(f)):
            sid = None if row.get("id") is None else str(row.get("id"))
            rows.add(f"{f.name} row {i}", sid, _sample, row, ctx.cache_dir)
    return rows.loaded()


# ---- shared arithmetic ------------------------------------------------------------------------------------------

_NUMBER = re.compile(r"(?<!\^)\d+\.\d+|(?<!\^)\d+")


def spar_mra(pred: float, target: float) -> float:
    """SPAR's ``mean_relative_accuracy``: the share of the 10 thresholds t with ``abs_dist_norm(pred, target) <=
    1 - t``, where ``abs_dist_norm`` is ``abs((pred - target) / target)``, or ``abs(pred - target)`` when target is
    0 (an absolute error then); the 10 thresholds as both codes build them. A NaN error passes no threshold."""
    return mra_share(abs(pred - target) if target == 0.0 else abs((pred - target) / target))


def numbers(text: str) -> list[float]:
    """Every number of ``text`` by SPAR's pattern (``\\d+\\.\\d+`` or ``\\d+``, not right after ``^``; no sign)."""
    return [float(n) for n in _NUMBER.findall(text)]


# ---- official: the SPAR lmms-eval task ---------------------------------------------------------------------------


def official_exact_match(pred: str, target: str) -> float:
    """SPAR's ``exact_match``: lowercased equality, else ``pred in target`` (true for a blank prediction), else the
    prediction's first character equals the whole target."""
    p, t = pred.lower(), target.lower()
    if p == t or p in t:
        return 1.0
    return 1.0 if p[0] == t else 0.0


def _parse_pairs_strict(text: str) -> dict[str, float]:
    """SPAR's ``parse_instruction``: ``text.split(",")``, each piece ``key:value`` with exactly one ``:``, keys kept as
    written (a space after a comma stays in the key), values ``float()``. Raises ValueError for any bad piece."""
    out: dict[str, float] = {}
    for item in text.split(","):
        parts = item.split(":")
        if len(parts) != 2:
            raise ValueError(f"not a key:value pair: {item!r}")
        out[parts[0]] = float(parts[1])
    return out


_OFFICIAL_AXES = (
    ("move_right", "move_left"),
    ("move_up", "move_down"),
    ("move_forward", "move_backward"),
    ("rotate_right", "rotate_left"),
    ("rotate_up", "rotate_down"),
)


def official_vci(pred: str, answer: str) -> float:
    """SPAR's ``compute_vci_metric``: per axis, positive minus negative key (missing keys 0); the MRA of each axis is
    ``mean_relative_accuracy(gt, answer)``, i.e. the error is normalised by the *prediction*; the mean of the 5.
    Any parse failure scores 0 (the released ``try``/``except``)."""
    try:
        p = _parse_pairs_strict(pred)
        g = _parse_pairs_strict(answer)
    except ValueError:
        return 0.0
    scores = []
    for pos, neg in _OFFICIAL_AXES:
        pv = p.get(pos, 0) - p.get(neg, 0)
        gv = g.get(pos, 0) - g.get(neg, 0)
        scores.append(spar_mra(gv, pv))
    return float(np.mean(scores))


class SparOfficial(Scoring):
    """The SPAR authors' lmms-eval ``sparbench_process_results`` and ``sparbench_aggregate_results``."""

    name = "official"
    sources = OFFICIAL_SOURCES
    description = "SPAR lmms-eval task: lenient exact match, MRA, VCI; overall = mean of the 20 task means"

    def score(self, sample: Sample, prediction: str | None) -> float | None:
        if sample.answer is None:
            return None
        pred = prediction or ""  # lmms-eval always passes a string; a missing prediction is read as blank
        gt = str(sample.answer)
        task = sample.question_type
        if task in MC_TASKS:
            return official_exact_match(pred, gt)
        if task in NA_TASKS:
            found = numbers(pred)
            if task in MV_NA_TASKS:
                value: float | None = found[-1] if found else -1.0
            else:
                value = found[0] if found else None  # IndexError in the released code -> the except -> 0
            target = to_float(gt)
            if value is None or target is None:  # a None target raises TypeError there -> 0
                return 0.0
            return spar_mra(value, target)
        if task == VCI_TASK:
            return official_vci(pred, gt)
        return None

    def aggregate(self, items: Sequence[Scored]) -> Aggregate:
        by_task = group_scores(items, lambda s: s.sample.question_type or None)
        if not by_task:
            return Aggregate(None, {}, len(items), 0)
        per = means(by_task)
        overall = sum(per.values()) / len(per)
        notes: list[str] = []
        levels: dict[str, float] = {}
        for level, tasks in LEVELS.items():
            # The released code finds a task's level from its output key minus the last "_" part, so
            # "view_change_infer_vci_metric" becomes "view_change_infer_vci" and is in no level.
            vals = [per[t] for t in tasks if t in per and t != VCI_TASK]
            if vals:
                levels[level] = float(np.mean(vals))
            else:
                notes.append(f"level {level}: no task present (the released np.mean of nothing is NaN); left out")
        if VCI_TASK in per:
            notes.append("view_change_infer counts in the overall but not in the Middle level (released key quirk)")
        blanks = sum(1 for s in items if s.sample.question_type in MC_TASKS and not (s.prediction or ""))
        if blanks:
            notes.append(f"{blanks} blank multiple-choice predictions scored 1 (released exact_match: '' in target)")
        if len(per) < len(TASKS):
            notes.append(f"{len(per)} of {len(TASKS)} tasks present: the overall is the mean over those")
        return Aggregate(overall, {**per, **levels}, len(items), sum(len(v) for v in by_task.values()), notes)


# ---- paper: SpatialClaw -----------------------------------------------------------------------------------------


def paper_mc_letter(prediction: str) -> str:
    """SpatialClaw's ``SPARBench._extract_mca``: ``\\boxed{X}``; the first ``X`` followed by ``.``, ``:`` or ``)``
    (optionally in parentheses) anywhere; the only A-D letter of the text; a leading A-D; else the stripped text."""
    if not prediction:
        return ""
    p = prediction.strip()
    return (
        boxed_letter(p, "A-Da-d", style="tight")
        or punct_letter(p, "A-Da-d")
        or only_letter(p, "A-Da-d", "ABCD")
        or one_letter(p[:1])
        or p
    )


def paper_exact_match(pred: str, target: str) -> float:
    """SpatialClaw's ``_exact_match``: stripped and lowercased; blank -> 0; equal, ``pred in target`` or
    ``pred[0] == target`` -> 1."""
    p, t = pred.strip().lower(), target.strip().lower()
    if not p:
        return 0.0
    return 1.0 if (p == t or p in t or p[0] == t) else 0.0


_PAPER_AXES = (
    ("move_right", "move_left"),
    ("move_up", "move_down"),
    ("move_forward", "move_backward"),
    ("turn_right", "turn_left"),
    ("turn_up", "turn_down"),
)


def _parse_pairs_lenient(text: str) -> dict[str, float]:
    """SpatialClaw's ``_parse_vci``: spaces removed, pieces without ``:`` or with a non-number value skipped."""
    out: dict[str, float] = {}
    for pair in text.replace(" ", "").split(","):
        if ":" not in pair:
            continue
        key, val = pair.split(":", 1)
        try:
            out[key] = float(val)
        except ValueError:
            continue
    return out


def paper_vci(pred: str, answer: str) -> float:
    """SpatialClaw's ``_vci_metric``: per axis (move right/up/forward, turn right/up: positive minus negative key),
    MRA of prediction against ground truth, the mean of the 5. Keys it does not know (``rotate_*``) count as 0 on
    both sides, so those axes score 1."""
    p = _parse_pairs_lenient(pred)
    g = _parse_pairs_lenient(answer)
    scores = [
        spar_mra(p.get(pos, 0.0) - p.get(neg, 0.0), g.get(pos, 0.0) - g.get(neg, 0.0)) for pos, neg in _PAPER_AXES
    ]
    return float(np.mean(scores))


class SparPaper(Scoring):
    """SpatialClaw's ``SPARBench.evaluate_single`` / ``evaluate``."""

    name = "paper"
    sources = PAPER_SOURCES
    description = "SpatialClaw sparbench.py: overall = mean of the task means"

    def score(self, sample: Sample, prediction: str | None) -> float | None:
        if sample.answer is None:
            return None
        pred = (prediction or "").strip()
        gt = str(sample.answer).strip()
        task = sample.question_type
        if task in NA_TASKS:
            found = numbers(pred)
            if not found:
                return 0.0
            value = found[-1] if task in MV_NA_TASKS else found[0]
            target = to_float(gt)
            return spar_mra(value, 0.0 if target is None else target)
        if task == VCI_TASK:
            return paper_vci(pred, gt)
        return paper_exact_match(paper_mc_letter(pred), gt)  # MC tasks and any unknown task

    def aggregate(self, items: Sequence[Scored]) -> Aggregate:
        per = group_means(items)
        if not per:
            return Aggregate(None, {}, len(items), 0)
        levels = {}
        notes: list[str] = []
        for level, tasks in LEVELS.items():
            vals = [per[t] for t in tasks if t in per]
            if vals:
                levels[level] = float(np.mean(vals))
            else:
                notes.append(f"level {level}: no task present (the original reports 0 for it); left out")
        scored = sum(1 for s in items if s.score is not None)
        return Aggregate(sum(per.values()) / len(per), {**per, **levels}, len(items), scored, notes)


BENCHMARKS = (
    Benchmark(
        name=NAME,
        title="SPAR-Bench",
        hf_repo="jasonzhango/SPAR-Bench",
        category="Multi-view",
        layout="data/test-*.parquet (id, img_type, format_type, task, source, image[] embedded, question, answer)",
        load=load,
        scorings={"official": SparOfficial(), "paper": SparPaper()},
        published_count=7211,
    ),
)
