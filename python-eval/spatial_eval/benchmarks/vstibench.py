"""VSTI-Bench (Fan et al. 2025, "VLM-3R", Video Spatio-Temporal Intelligence benchmark), Hugging Face
``Journey9ni/vstibench``: 6042 questions about ScanNet validation videos (camera-object distances, camera
displacement and movement, object-object relative positions), as the SpatialClaw paper used them.

Layout (``<data root>/vstibench/``)::

    test.json                              a JSON list of the 6042 rows
    ScanNet/videos/val/<scene_name>.mp4    the videos (each row's ``video_path``, relative to the root)

Row fields: ``id`` (int, the official id), ``question_type`` (7 multiple-choice types, 2 numeric ones), ``question``,
``options`` (``["A. ...", ...]`` for multiple choice, null for numeric), ``mc_answer`` (the letter, null for numeric),
``ground_truth`` (the option text, or the number), ``video_path``, and ``dataset``/``scene_name``/``frame_indices``
(generation metadata). Questions name moments as "frame X of N": X (1-based) among N frames the benchmark sampled
evenly over the whole video. The video is bound whole; the instruction explains how X maps to the bound frames.

Scoring:

* ``official`` follows VLM-3R's lmms-eval task (VITA-Group/VLM-3R ``thinking-in-space/lmms_eval/tasks/vstibench/
  utils.py`` at 6dd1264c, the VSI-Bench code with VSTI's types): the prediction's text before the first ``' '``,
  trailing ``.`` removed; multiple choice is a case-insensitive match with ``mc_answer``; numeric is ``float()`` of that
  token (anything else scores 0) and MRA over ``np.linspace(.5, .95, 10)`` with ``abs(p-g)/g <= 1-t``. Types are
  decided by ``question_type``. Aggregation: the mean per question type; overall = the mean of the type means.
* ``paper`` follows SpatialClaw ``spatial_agent/evals/vstibench.py`` at b062f829: the same extraction and MRA, but a
  row is multiple choice when it has ``options`` (not by its type), its letter is ``mc_answer`` (or ``""``), and a
  ground truth of 0 scores 0. Aggregation as official.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from spatial_eval.extract import vsi_first_token
from spatial_eval.files import read_json
from spatial_eval.metrics import to_float, vsi_mra
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
)

MCA_TYPES = (
    "obj_obj_relative_pos_nf",
    "obj_obj_relative_pos_ud",
    "obj_obj_relative_pos_lr",
    "camera_obj_rel_dist_v1",
    "camera_obj_rel_dist_v2",
    "camera_obj_rel_dist_v3",
    "camera_movement_direction",
)
#: The released code also lists ``camera_obj_dist_change``; the published test set has no such row.
NA_TYPES = ("camera_obj_abs_dist", "camera_displacement", "camera_obj_dist_change")
PUBLISHED_TYPES = 9
CATEGORY = {
    "camera_obj_abs_dist": "camera_object_absolute_distance",
    "camera_obj_dist_change": "camera_object_absolute_distance",
    "camera_displacement": "camera_displacement",
    "camera_movement_direction": "camera_movement",
    "obj_obj_relative_pos_nf": "object_object_relative_position",
    "obj_obj_relative_pos_ud": "object_object_relative_position",
    "obj_obj_relative_pos_lr": "object_object_relative_position",
    "camera_obj_rel_dist_v1": "camera_object_relative_distance",
    "camera_obj_rel_dist_v2": "camera_object_relative_distance",
    "camera_obj_rel_dist_v3": "camera_object_relative_distance",
}

OFFICIAL_SOURCES = (
    Source(
        "VITA-Group/VLM-3R",
        "thinking-in-space/lmms_eval/tasks/vstibench/utils.py",
        "6dd1264c8789e615fa9b4449cd4ba5c66cc81c0f",
    ),
)
PAPER_SOURCES = (Source.spatialclaw("vstibench.py"),)

FRAME_NOTE = (
    'The question names moments as "frame X of N" (or "between frame A and frame B of N"): the benchmark sampled N '
    "frames evenly over the whole video and X counts them from 1. X is not a position in the bound frames. Frame X "
    "lies about (X-1)/(N-1) of the way through the video, near absolute frame round((X-1)/(N-1) * "
    "(Metadata.total_frames - 1)): use the bound frame whose frame_index is closest to it, and for a range the bound "
    "frames whose frame_index lies between its two ends."
)
INSTRUCTION_MC = FRAME_NOTE + " Reply with the letter of the correct option only."
INSTRUCTION_NA = FRAME_NOTE + " Reply with one number in meters, written as digits (e.g. 1.7), with no unit or words."


def _sample(root: Path, row: dict[str, Any]) -> Sample:
    """One ``test.json`` entry -> a Sample. Raises ValueError naming the bad field."""
    if not isinstance(row, dict):
        raise ValueError("not a JSON object")
    for k in ("id", "question_type", "question", "video_path"):
        v = row.get(k)
        if v is None or (isinstance(v, str) and not v.strip()):
            raise ValueError(f"field {k!r} is missing or empty")
    qtype = str(row["question_type"])
    options = row.get("options")
    if qtype in MCA_TYPES:
        if not options or not row.get("mc_answer"):
            raise ValueError(f"a {qtype} row needs options and mc_answer")
        answer: str | float | int = str(row["mc_answer"])
        choices: list[str] | None = [str(o) for o in options]
    elif qtype in NA_TYPES:
        gt = row.get("ground_truth")
        if gt is None or (isinstance(gt, str) and not gt.strip()):
            raise ValueError("field 'ground_truth' is missing or empty")
        answer = gt if isinstance(gt, (str, int, float)) else str(gt)
        choices = None
    else:
        raise ValueError(f"unknown question_type {qtype!r}")
    video = root / str(row["video_path"])
    return Sample(
        benchmark="vstibench",
        source_id=str(row["id"]),
        question=str(row["question"]),
        inputs=[{"kind": "video", "path": str(video)}],
        answer=answer,
        choices=choices,
        question_type=qtype,
        category=CATEGORY.get(qtype),
        instruction=INSTRUCTION_MC if choices else INSTRUCTION_NA,
        media=[video],
        extra={
            "ground_truth": row.get("ground_truth"),
            "mc_answer": row.get("mc_answer"),
            # SpatialClaw decides multiple choice by the presence of options, not by the type.
            "paper_mc": options is not None,
            "scene_name": row.get("scene_name") or video.stem,
        },
    )


def load(root: Path, ctx: LoadContext) -> Loaded:
    """Read ``<root>/test.json`` in its published order."""
    path = BENCHMARKS[0].require(root, "test.json")
    rows = read_json(path)
    if not isinstance(rows, list):
        raise ValueError(f"{path}: expected a JSON list of questions")
    collected = RowCollector()
    for i, row in enumerate(rows):
        sid = row.get("id") if isinstance(row, dict) else None
        collected.add(f"test.json item {i}", None if sid is None else str(sid), _sample, root, row)
    return collected.loaded()


def _type_means(items: Sequence[Scored]) -> Aggregate:
    """Mean per question type, overall = the mean of those (both profiles); a note when types are missing."""
    agg = mean_of_group_means(items, lambda s: s.sample.question_type or "")
    present = len(agg.per_task)
    if 0 < present < PUBLISHED_TYPES:
        agg.notes.append(f"{present} of {PUBLISHED_TYPES} question types present: the overall is the mean over those")
    return agg


class VstiOfficial(Scoring):
    """VLM-3R ``vsibench_process_results`` / ``vsibench_aggregate_results`` for the ``vstibench`` task."""

    name = "official"
    sources = OFFICIAL_SOURCES
    description = "first token; letter match or MRA (/g); mean of question-type means"

    def score(self, sample: Sample, prediction: str | None) -> float | None:
        if sample.answer is None:
            return None
        token = vsi_first_token("" if prediction is None else str(prediction))
        if sample.question_type in MCA_TYPES:
            return 1.0 if token.lower() == str(sample.extra.get("mc_answer", sample.answer)).lower() else 0.0
        # A zero ground truth makes the released code raise ZeroDivisionError; VSTI-Bench has none (0.2 m minimum),
        # vsi_mra scores it 1 for a prediction of exactly 0, else 0.
        return vsi_mra(to_float(token), to_float(sample.extra.get("ground_truth", sample.answer)))

    def aggregate(self, items: Sequence[Scored]) -> Aggregate:
        return _type_means(items)


class VstiPaper(Scoring):
    """SpatialClaw's ``VSTIBench.evaluate_single`` / ``evaluate``."""

    name = "paper"
    sources = PAPER_SOURCES
    description = "first token; letter match (rows with options) or MRA (/g, g=0 scores 0); mean of type means"

    def score(self, sample: Sample, prediction: str | None) -> float | None:
        if sample.answer is None:
            return None
        extracted = vsi_first_token(prediction) if prediction else ""
        if sample.extra.get("paper_mc", sample.choices is not None):
            gt = str(sample.extra.get("mc_answer") or "")
            return 1.0 if extracted.upper() == gt.upper() else 0.0
        p = to_float(extracted)
        g = to_float(str(sample.extra.get("ground_truth", sample.answer)))
        if p is None or g is None or g == 0:
            return 0.0
        return vsi_mra(p, g)

    def aggregate(self, items: Sequence[Scored]) -> Aggregate:
        return _type_means(items)


BENCHMARKS = (
    Benchmark(
        name="vstibench",
        title="VSTI-Bench",
        hf_repo="Journey9ni/vstibench",
        category="Video & 4D",
        layout="test.json (id, question_type, question, options, mc_answer, ground_truth, video_path); "
        "ScanNet/videos/val/<scene>.mp4",
        load=load,
        scorings={"official": VstiOfficial(), "paper": VstiPaper()},
        published_count=6042,
    ),
)
