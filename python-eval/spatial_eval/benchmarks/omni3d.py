"""Omni3D-Bench (Marsili et al. 2025, "Visual Agentic AI for Spatial Reasoning with a Dynamic API", VADAR), Hugging
Face ``dmarsili/Omni3D-Bench``: 501 open questions (the README says 500) about 201 single indoor images from Omni3D,
answered with a float (ratios, lengths), an int (counts) or a string (yes/no, or an object name).

Layout (``<data root>/omni3d/``), either of:

* ``annotations.json`` + ``images/<image_filename>``: the content of ``omni3d-bench.zip`` unzipped in place, as
  VADAR's ``evaluate.py`` and SpatialClaw's loader read it. ``annotations.json`` is ``{"questions": [...]}`` with
  ``image_index``, ``question_index``, ``image_filename``, ``question``, ``answer_type`` (``int`` | ``float`` |
  ``str``) and ``answer`` (typed as its answer_type).
* ``data/train-00000-of-00001.parquet`` (any ``data/train-*.parquet``): the same 501 rows as the Hub's ``train``
  split, columns ``image_index``, ``q_index``, ``question``, ``answer_type``, ``answer`` and ``image`` (the Hugging
  Face Image struct, written once into the cache).

``annotations.json`` wins when both are present (it is what the original reads). One image per question.

Scoring:

* ``official`` follows VADAR ``engine/engine.py`` ``Engine.write_summarized_results`` at 56018ebc: the prediction
  text is used whole (VADAR scores the return value of a program; there is no answer extraction). ``int``: Python
  ``int(pred)`` equal to the ground truth (``"3.0"``, ``"3 chairs"`` score 0). ``str``: ground truth ``== pred.lower()``
  (no strip, the ground truth is not lowercased). ``float``: for each threshold in (0.5, 0.45, ..., 0.05), a hit when
  ``float(pred)`` parses and ``abs(gt - pred) / gt < t`` (signed ``gt``); the per-sample score is hits / 10. Four
  reported numbers: numeric (count) accuracy, numeric (other) MRA, yes/no accuracy (str ground truth ``yes`` or
  ``no``), multi-choice accuracy (other str). VADAR prints no total; its README table's "Total" is the mean weighted
  by those four counts (it reproduces every same-run row of RESULTS.md to 0.05 points with 70/270/75/86), which is
  the mean of the per-sample scores and what the same authors' VALOR ``eval/eval.py`` computes.
* ``paper`` follows SpatialClaw ``spatial_agent/evals/omni3d.py`` at b062f829: the answer is the content of
  ``\\boxed{...}`` when present, then the whole text if it parses as a float (after stripping ``.``), else the last
  number in it, else the lowercased text without quotes. ``float``: relative error ``|p-g|/|g|`` (``|p|`` when g = 0);
  the per-sample score is ``rel < 0.1``, but the overall uses the float MRA over the same ten thresholds. ``int``:
  ``int(round(float(p))) == int(g)``. ``str``: case-insensitive exact match after strip. Overall = (float MRA * n_float
  + int accuracy * n_int + str accuracy * n_str) / n.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from spatial_eval.files import embedded_image, read_json, read_parquet
from spatial_eval.types import Aggregate, Benchmark, LoadContext, Loaded, RowCollector, Sample, Scored, Scoring, Source

NAME = "omni3d"
ANSWER_TYPES = ("float", "int", "str")
THRESHOLDS = (0.5, 0.45, 0.40, 0.35, 0.3, 0.25, 0.2, 0.15, 0.1, 0.05)
"""VADAR's (and SpatialClaw's) MRA thresholds, in this order, as written: a strict ``rel < t`` per threshold."""

# VADAR's four reported numbers (RESULTS.md column names).
COUNT, OTHER, YES_NO, MULTI = "numeric (count)", "numeric (other)", "yes/no", "multi-choice"

OFFICIAL_SOURCES = (
    Source(
        "damianomarsili/VADAR",
        "engine/engine.py",
        "56018ebc2ecf7a430fc94e64e80e2768b0931739",
        "Engine.write_summarized_results",
    ),
    Source(
        "damianomarsili/VALOR",
        "eval/eval.py",
        "250a2740eafa89b49870a31f623aea1edd54f8b5",
        "eval_omni3d_bench: the total as the count-weighted mean",
    ),
)
PAPER_SOURCES = (Source.spatialclaw("omni3d.py"),)

INSTRUCTIONS = {
    "float": "Reply with a single number only, without units or explanation.",
    "int": "Reply with a single whole number only, without explanation.",
    "str": "Reply with a single word or short phrase only (for example yes, no, or the object's name).",
}


def vadar_group(answer_type: str, answer: Any) -> str | None:
    """The VADAR result class of a row: ``numeric (count)``, ``numeric (other)``, ``yes/no``, ``multi-choice``, or
    None for an answer_type VADAR does not score (its if/elif chain skips it)."""
    if answer_type == "int":
        return COUNT
    if answer_type == "float":
        return OTHER
    if answer_type == "str":
        return YES_NO if str(answer) in ("yes", "no") else MULTI
    return None


# ---------------------------------------------------------------------------------------------------------------
# Loading


def _check_answer(answer_type: str, answer: Any) -> None:
    """Raise ValueError when the ground truth cannot be read as its answer_type (VADAR would crash on it)."""
    if answer is None or (isinstance(answer, str) and not answer.strip()):
        raise ValueError("field 'answer' is missing or empty")
    if answer_type == "float":
        v = float(answer)
        if not math.isfinite(v):
            raise ValueError(f"float answer {answer!r} is not finite")
    elif answer_type == "int":
        v = float(answer)
        if not v.is_integer():
            raise ValueError(f"int answer {answer!r} is not a whole number")


def _sample(row: dict[str, Any], qid_key: str, image: Path, image_name: str) -> Sample:
    """One row -> a Sample. Raises ValueError naming the bad field."""
    for k in (qid_key, "question", "answer_type"):
        if row.get(k) is None or (isinstance(row[k], str) and not row[k].strip()):
            raise ValueError(f"field {k!r} is missing or empty")
    answer_type = str(row["answer_type"]).strip()
    answer = row.get("answer")
    try:
        _check_answer(answer_type, answer)
    except (TypeError, ValueError) as e:
        raise ValueError(f"answer {answer!r} does not fit answer_type {answer_type!r}: {e}") from None
    group = vadar_group(answer_type, answer)
    return Sample(
        benchmark=NAME,
        source_id=str(row[qid_key]),
        question=str(row["question"]),
        inputs=[{"kind": "images", "path": str(image)}],
        answer=answer,
        choices=None,
        question_type=group or answer_type,
        category=answer_type,
        instruction=INSTRUCTIONS.get(answer_type, INSTRUCTIONS["str"]),
        media=[image],
        extra={
            "answer_type": answer_type,
            "group": group,
            "image_index": None if row.get("image_index") is None else str(row["image_index"]),
            "image_filename": image_name,
        },
    )


def _from_annotations(root: Path, path: Path) -> Loaded:
    data = read_json(path)
    questions = data.get("questions") if isinstance(data, dict) else None
    if not isinstance(questions, list):
        raise ValueError(f"{path}: expected an object with a 'questions' list")
    rows = RowCollector("question_index")
    for i, row in enumerate(questions):
        where = f"annotations.json question {i}"
        if not isinstance(row, dict):
            rows.problem(where, "not an object")
            continue
        sid = None if row.get("question_index") is None else str(row["question_index"])
        name = row.get("image_filename")
        if not isinstance(name, str) or not name.strip():
            rows.problem(where, "field 'image_filename' is missing or empty", sid)
            continue
        rows.add(where, sid, _sample, row, "question_index", (root / "images" / name).resolve(), name)
    return rows.loaded()


def _parquet_sample(row: dict[str, Any], ctx: LoadContext) -> Sample:
    image = embedded_image(row.get("image"), ctx.cache_dir)
    if image is None:
        raise ValueError("field 'image' holds no image bytes")
    return _sample(row, "q_index", image, image.name)


def _from_parquet(files: list[Path], ctx: LoadContext) -> Loaded:
    rows = RowCollector("q_index", errors=(ValueError, TypeError, OSError))
    for f in files:
        for i, row in enumerate(read_parquet(f)):
            sid = None if row.get("q_index") is None else str(row["q_index"])
            rows.add(f"{f.name} row {i}", sid, _parquet_sample, row, ctx)
    return rows.loaded()


def load(root: Path, ctx: LoadContext) -> Loaded:
    """Read ``<root>/annotations.json`` (+ ``images/``), else ``<root>/data/train-*.parquet``. Raises DatasetMissing."""
    ann = root / "annotations.json"
    if ann.is_file():
        return _from_annotations(root, ann)
    shards = sorted((root / "data").glob("train-*.parquet")) if (root / "data").is_dir() else []
    if shards:
        return _from_parquet(shards, ctx)
    hint = " (omni3d-bench.zip is there: unzip it in place)" if (root / "omni3d-bench.zip").exists() else ""
    raise BENCHMARKS[0].missing(root, f"annotations.json or data/train-*.parquet{hint}")


# ---------------------------------------------------------------------------------------------------------------
# Official: VADAR engine.write_summarized_results


def _text(prediction: str | None) -> str:
    return "" if prediction is None else str(prediction)


def _whole(gt: str) -> int:
    """VADAR's ``int(gt)``; a ground truth written as ``3.0`` (which would raise there) is read as 3."""
    try:
        return int(gt)
    except ValueError:
        return int(float(gt))


def official_score(answer_type: str, answer: Any, prediction: str | None) -> float | None:
    """VADAR's per-question credit: 1/0 for int and str, hits/10 for float; None for an unscored answer_type.

    ``prediction`` is the whole text (VADAR's CSV ``prediction`` cell, ``str()`` of the program's return value)."""
    pred = _text(prediction)
    gt = str(answer)  # VADAR reads the ground truth back from its CSV, as str(answer)
    if answer_type == "int":
        try:
            p = int(pred)  # Python int(): " 3 " and "+3" parse; "3.0", "3 chairs", "1,200", "four" do not
        except Exception:  # noqa: BLE001 - VADAR's bare except: the question counts, unanswered
            return 0.0
        return 1.0 if p == _whole(gt) else 0.0
    if answer_type == "str":
        return 1.0 if gt == pred.lower() else 0.0
    if answer_type == "float":
        try:
            p = float(pred)
        except Exception:  # noqa: BLE001 - every threshold's try fails the same way: no hit
            return 0.0
        g = float(gt)
        if g == 0:
            # VADAR divides by gt and raises ZeroDivisionError here (no such row is published): exact match only.
            return 1.0 if p == 0 else 0.0
        rel = abs(g - p) / g  # signed gt, as written: a negative gt makes every threshold a hit
        return sum(1 for t in THRESHOLDS if rel < t) / len(THRESHOLDS)
    return None


class Omni3dOfficial(Scoring):
    """VADAR ``write_summarized_results``: four class scores; overall weighted by class counts."""

    name = "official"
    sources = OFFICIAL_SOURCES
    description = "VADAR: raw prediction, int()/float()/lower() exact, float MRA over 0.50..0.05 (rel < t)"

    def score(self, sample: Sample, prediction: str | None) -> float | None:
        if sample.answer is None:
            return None
        return official_score(str(sample.extra.get("answer_type")), sample.answer, prediction)

    def aggregate(self, items: Sequence[Scored]) -> Aggregate:
        groups: dict[str, list[float]] = {}
        unscored = 0
        for s in items:
            group = s.sample.extra.get("group")
            if s.score is None or group is None:
                unscored += 1
                continue
            groups.setdefault(group, []).append(float(s.score))
        per = {g: sum(v) / len(v) for g, v in groups.items()}
        n_scored = sum(len(v) for v in groups.values())
        notes: list[str] = []
        if unscored:
            notes.append(f"{unscored} samples with an answer_type VADAR does not score: excluded")
        absent = [g for g in (COUNT, OTHER, YES_NO, MULTI) if g not in per]
        if per and absent:
            notes.append(f"{', '.join(absent)} absent from the run: reported as None by VADAR, left out")
        if not n_scored:
            return Aggregate(None, {}, len(items), 0, notes)
        overall = sum(sum(v) for v in groups.values()) / n_scored
        return Aggregate(overall, dict(sorted(per.items())), len(items), n_scored, notes)


# ---------------------------------------------------------------------------------------------------------------
# Paper: SpatialClaw Omni3DBench

_BOXED = re.compile(r"\\boxed\{([^}]+)\}")
_NUMBER = re.compile(r"-?\d+\.?\d*")


def paper_extract(prediction: str | None) -> str:
    """SpatialClaw's ``Omni3DBench.extract_answer``.

    ``"\\boxed{2.5}"`` -> ``"2.5"``; ``"2.5m"`` -> ``"2.5"`` (last number); ``"1,200"`` -> ``"200"`` (the last of
    ``1`` and ``200``); ``"3."`` -> ``"3"``; ``"four"`` -> ``"four"``; ``" 'Yes' "`` -> ``"yes"``; blank -> ``""``."""
    if not prediction:
        return ""
    text = prediction.strip()
    m = _BOXED.search(text)
    if m:
        text = m.group(1).strip()
    numbers = _NUMBER.findall(text)
    if numbers:
        clean = text.strip().strip(".")
        try:
            float(clean)
            return clean
        except ValueError:
            pass
        return numbers[-1]
    return text.strip().strip("\"'").lower()


def paper_relative_error(pred: str, answer: Any) -> float | None:
    """``|p - g| / |g|`` (``|p|`` when g = 0), or None when either does not parse (``_float_relative_error``)."""
    try:
        p = float(pred)
        g = float(answer)
    except (ValueError, TypeError):
        return None
    if g == 0:
        return abs(p)
    return abs(p - g) / abs(g)


def paper_int_match(pred: str, answer: Any) -> bool:
    """``int(round(float(p))) == int(g)``; False when either does not parse. ``round`` is Python's (half to even).

    (The original only catches ValueError/TypeError, so ``"inf"`` would raise OverflowError there; here it is False.)"""
    try:
        return int(round(float(pred))) == int(answer)
    except (ValueError, TypeError, OverflowError):
        return False


def paper_str_match(pred: str, answer: Any) -> bool:
    return pred.strip().lower() == str(answer).strip().lower()


class Omni3dPaper(Scoring):
    """SpatialClaw ``Omni3DBench.evaluate_single`` (per sample) and ``evaluate`` (overall)."""

    name = "paper"
    sources = PAPER_SOURCES
    description = "SpatialClaw: boxed/number extraction; float rel < 0.1 per sample, float MRA in the overall"

    def score(self, sample: Sample, prediction: str | None) -> float | None:
        if sample.answer is None:
            return None
        pred = paper_extract(prediction)
        at = sample.extra.get("answer_type")
        if at == "float":
            rel = paper_relative_error(pred, sample.answer)
            return 1.0 if (rel is not None and rel < 0.1) else 0.0
        if at == "int":
            return 1.0 if paper_int_match(pred, sample.answer) else 0.0
        return 1.0 if paper_str_match(pred, sample.answer) else 0.0

    def aggregate(self, items: Sequence[Scored]) -> Aggregate:
        errors: list[float | None] = []
        n_int = ok_int = n_str = ok_str = 0
        for s in items:
            if s.sample.answer is None:
                continue
            pred = paper_extract(s.prediction)
            at = s.sample.extra.get("answer_type")
            if at == "float":
                errors.append(paper_relative_error(pred, s.sample.answer))
            elif at == "int":
                n_int += 1
                ok_int += paper_int_match(pred, s.sample.answer)
            else:
                n_str += 1
                ok_str += paper_str_match(pred, s.sample.answer)
        n_float = len(errors)
        total = n_float + n_int + n_str
        if not total:
            return Aggregate(None, {}, len(items), 0)
        per: dict[str, float] = {}
        mra = 0.0
        if n_float:
            mra = sum(sum(1 for e in errors if e is not None and e < t) / n_float for t in THRESHOLDS) / len(THRESHOLDS)
            per["float"] = mra
        if n_int:
            per["int"] = ok_int / n_int
        if n_str:
            per["str"] = ok_str / n_str
        overall = (mra * n_float + per.get("int", 0.0) * n_int + per.get("str", 0.0) * n_str) / total
        notes = []
        if n_float:
            notes.append("float samples score rel_err < 0.1 each, but the overall uses their MRA (0.50..0.05)")
        return Aggregate(overall, per, len(items), total, notes)


_SCORINGS = {"official": Omni3dOfficial(), "paper": Omni3dPaper()}

BENCHMARKS = (
    Benchmark(
        after_download="unzip omni3d-bench.zip",
        name=NAME,
        title="Omni3D-Bench",
        hf_repo="dmarsili/Omni3D-Bench",
        category="Single-image",
        layout=(
            "annotations.json {questions: [image_index, question_index, image_filename, question, answer_type, answer]}"
            " + images/<image_filename> (omni3d-bench.zip unzipped), or data/train-*.parquet (image_index, q_index,"
            " question, answer_type, answer, image)"
        ),
        load=load,
        scorings=_SCORINGS,
        published_count=501,
    ),
)
