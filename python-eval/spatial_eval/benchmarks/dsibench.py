"""DSI-Bench (Zhang et al. 2025, "DSI-Bench: A Benchmark for Dynamic Spatial Intelligence"), Hugging Face
``Viglong/DSI-Bench``: 1,769 multiple-choice questions about object and camera motion in short videos, each rendered
under 4 augmentations (``std``, ``reverse``, ``hflip``, ``reverse_hflip``) with its own ground truth, 7,076 samples.

Layout (``<data root>/dsibench/``, revision 7e3be50 of the dataset)::

    metadatas/std.csv, reverse.csv, hflip.csv, reverse_hflip.csv   1,769 rows each, row-aligned across the four
    metadatas/metadata_4aug.csv                                     the four concatenated (+ ``aug``; not read)
    videos/<aug>/<relative_path>                                    e.g. videos/hflip/CameraBench/xxx.mp4

CSV columns: ``cate`` (0-5, the motion category), ``relative_path`` (under ``videos/<aug>/``), ``video_type`` (0/1),
``question``, ``options`` (one string, ``"A: ...; B: ...; C: ...; D: ..."``), ``GT`` (the letter), ``others``.
There is no id column: a sample is ``<aug>__row_<6-digit row>`` as SpatialClaw names it, and the row number is the
base question shared by the four augmentations. Samples come augmentation by augmentation (std, reverse, hflip,
reverse_hflip), each in file order, as the original loader reads them.

Scoring:

* ``official`` follows SpatialVision/dsibench ``evaluate.py`` at af90adcd, Method 1 (sample-wise): the model's
  ``final_answer``, stripped, is compared by its **first character** with ``GT`` (case-sensitive). The released
  inference (``qwen_inference_code.py``) fills ``final_answer`` from ``<answer>X</answer>`` (A-D, any case,
  upper-cased); here a prediction carrying that tag is reduced to its letter the same way and any other prediction
  is taken as the final answer itself (the released inference would retry and finally store ``E``). Overall = mean over
  all samples; per_task: accuracy per category, per augmentation (Method 3) and ``group_wise_n3`` (Method 2: a base
  question counts when at least 3 of its 4 augmentations are right; only base questions with all 4 present).
* ``paper`` follows SpatialClaw ``spatial_agent/evals/dsibench.py`` at b062f829: a letter from ``\\boxed{}``, else
  the last "answer/option"-style marker, else the last standalone letter in the final 400 characters, else a leading
  A-D; compared with ``GT``; overall = correct/total, with per-category and per-augmentation accuracy.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Sequence
from pathlib import Path

from spatial_eval.extract import boxed_letter, one_letter, pattern_letter
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
    sample_mean,
)

AUGS = ("std", "reverse", "hflip", "reverse_hflip")
"""The augmentations in the order both the released evaluate.py and SpatialClaw's loader read them."""

CATEGORIES = (
    "Obj:static cam",
    "Obj:moving cam",
    "Cam:static scene",
    "Cam:dynamic scene",
    "Obj-Cam distance",
    "Obj-Cam orientation",
)
"""``cate`` 0-5 -> its name (evaluate.py ``CATE_NAMES``)."""

OFFICIAL_SOURCES = (
    Source("SpatialVision/dsibench", "evaluate.py", "af90adcd760f2757f8b8dbd869ae9a821f725513", "Method 1-3"),
    Source(
        "SpatialVision/dsibench",
        "qwen_inference_code.py",
        "af90adcd760f2757f8b8dbd869ae9a821f725513",
        "<answer>X</answer> extraction",
    ),
)
PAPER_SOURCES = (Source.spatialclaw("dsibench.py"),)

INSTRUCTION = "Reply with the letter (A, B, C or D) of the correct option only."

_NEEDED = ("cate", "relative_path", "question", "options", "GT")


def category_name(cate: int) -> str:
    """The released name of category ``cate``, or ``cate_<n>`` outside 0-5 (as SpatialClaw names it)."""
    return CATEGORIES[cate] if 0 <= cate < len(CATEGORIES) else f"cate_{cate}"


_OPTION_START = re.compile(r"(?:^|;)\s*([A-D])\s*[:.)]\s*")


def split_options(text: str) -> list[str]:
    """``"A: left; B: right"`` -> ``["A: left", "B: right"]``: a new option starts at a letter A-D followed by ``:``,
    ``.`` or ``)`` at the start of the string or after a ``;``. A string that does not split into A, B, C... in order
    is returned whole as one option."""
    starts = list(_OPTION_START.finditer(text))
    letters = [m.group(1) for m in starts]
    if not starts or letters != [chr(65 + i) for i in range(len(letters))]:
        return [text.strip()]
    out = []
    for i, m in enumerate(starts):
        end = starts[i + 1].start() if i + 1 < len(starts) else len(text)
        body = text[m.end() : end].strip().rstrip(";").strip()
        out.append(f"{m.group(1)}: {body}")
    return out


def _read_csv(path: Path) -> list[dict[str, str]]:
    """Rows of one metadata CSV (header row, quoted fields), every value a string."""
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def _sample(root: Path, aug: str, index: int, row: dict[str, str]) -> Sample:
    """One CSV row -> a Sample. Raises ValueError naming the bad field."""
    for k in _NEEDED:
        if row.get(k) is None or not str(row[k]).strip():
            raise ValueError(f"field {k!r} is missing or empty")
    try:
        cate = int(float(row["cate"]))
    except ValueError as e:
        raise ValueError(f"cate {row['cate']!r} is not a number") from e
    gt = row["GT"].strip()
    rel = row["relative_path"].strip()
    video = root / "videos" / aug / rel
    base = f"row_{index:06d}"
    return Sample(
        benchmark="dsibench",
        source_id=f"{aug}__{base}",
        question=row["question"].strip(),
        inputs=[{"kind": "video", "path": str(video)}],
        answer=gt,
        choices=split_options(row["options"]),
        question_type=category_name(cate),
        category=None,
        instruction=INSTRUCTION,
        media=[video],
        extra={
            "aug": aug,
            "base_id": base,
            "cate": cate,
            "relative_path": rel,
            "video_type": (row.get("video_type") or "").strip(),
            "options_text": row["options"],
        },
    )


def load(root: Path, ctx: LoadContext) -> Loaded:
    """Read ``metadatas/<aug>.csv`` for the four augmentations (std, reverse, hflip, reverse_hflip)."""
    meta = root / "metadatas"
    missing = [a for a in AUGS if not (meta / f"{a}.csv").is_file()]
    if missing:
        raise BENCHMARKS[0].missing(root, ", ".join(f"metadatas/{a}.csv" for a in missing))
    collected = RowCollector(errors=(ValueError, TypeError, AttributeError))  # ids <aug>__row_<n>: never repeated
    for aug in AUGS:
        path = meta / f"{aug}.csv"
        try:
            rows = _read_csv(path)
        except (OSError, UnicodeDecodeError, csv.Error) as e:
            collected.problem(f"metadatas/{aug}.csv", f"cannot be read: {e}")
            continue
        for i, row in enumerate(rows):
            collected.add(f"metadatas/{aug}.csv row {i}", f"{aug}__row_{i:06d}", _sample, root, aug, i, row)
    return collected.loaded()


# ---------------------------------------------------------------------------------------------------------------
# official: SpatialVision/dsibench

_TAG = re.compile(r"<answer>\s*([A-D])\s*</answer>", re.IGNORECASE)


def official_final_answer(prediction: str | None) -> str:
    """What the released pipeline would store as ``final_answer``: the letter of ``<answer>X</answer>`` (upper-cased),
    else (our deviation, see the module docstring) the prediction itself; None -> ``""``."""
    text = prediction or ""
    m = _TAG.search(text)
    return m.group(1).upper() if m else text


def official_letter(prediction: str | None) -> str:
    """evaluate.py's ``pred_letter``: the first character of the stripped final answer (``""`` when blank)."""
    s = official_final_answer(prediction).strip()
    return s[0] if s else ""


def _breakdown(items: Sequence[Scored]) -> tuple[float | None, dict[str, float], int]:
    """(mean over scored samples, per category and per ``aug/<name>`` means, number scored)."""
    per = group_means(items, lambda s: category_name(int(s.sample.extra.get("cate", -1))), order=CATEGORIES)
    by_aug = group_means(items, lambda s: str(s.sample.extra.get("aug")), order=AUGS)
    per.update({f"aug/{a}": v for a, v in by_aug.items() if a in AUGS})
    return sample_mean(items), per, sum(1 for s in items if s.score is not None)


class DsiOfficial(Scoring):
    """SpatialVision/dsibench ``evaluate.py``: sample-wise accuracy (Method 1) with the first-character comparison,
    per-augmentation accuracy (Method 3) and group-wise n>=3 accuracy (Method 2) in per_task."""

    name = "official"
    sources = OFFICIAL_SOURCES
    description = "first character of the final answer == GT; mean over all samples (Method 1)"

    def score(self, sample: Sample, prediction: str | None) -> float | None:
        if sample.answer is None:
            return None
        return 1.0 if official_letter(prediction) == str(sample.answer).strip() else 0.0

    def aggregate(self, items: Sequence[Scored]) -> Aggregate:
        overall, per, scored = _breakdown(items)
        notes: list[str] = []
        groups: dict[str, dict[str, float]] = {}
        for s in items:
            if s.score is not None:
                groups.setdefault(str(s.sample.extra.get("base_id")), {})[str(s.sample.extra.get("aug"))] = s.score
        complete = [g for g in groups.values() if all(a in g for a in AUGS)]
        if complete:
            per["group_wise_n3"] = sum(1.0 for g in complete if sum(g[a] for a in AUGS) >= 3) / len(complete)
        if len(complete) < len(groups):
            notes.append(
                f"group_wise_n3 over the {len(complete)} base questions with all 4 augmentations in this run "
                f"({len(groups) - len(complete)} left out)"
            )
        return Aggregate(overall, per, len(items), scored, notes)


# ---------------------------------------------------------------------------------------------------------------
# paper: SpatialClaw spatial_agent/evals/dsibench.py

_P_MARKER = re.compile(
    r"(?:final\s+answer|correct\s+answer|answer\s+is|the\s+answer|best\s+answer|best\s+option|correct\s+option"
    r"|correct\s+choice|answer|option)\b\s*[:\-=]?\s*\*{0,2}\(?\s*([A-Da-d])\b",
    re.IGNORECASE,
)
_P_TAIL = re.compile(r"(?:^|[\s*(\n])([A-Da-d])(?:[.):]|\s*\n|\s*\*\*|$)")


def paper_letter(prediction: str | None) -> str:
    """SpatialClaw's ``_extract_letter``: ``\\boxed{X}``; else the last marker ("final answer", "answer is",
    "option"... then an optional ``:``/``-``/``=``, ``**`` and ``(``) followed by a letter; else the last letter A-D
    standing alone (after a space, ``*``, ``(`` or the start; before ``.``/``)``/``:``, a newline, ``**`` or the end)
    in the last 400 characters; else a leading A-D. Upper case; ``""`` when none."""
    if not prediction:
        return ""
    s = prediction.strip()
    return (
        boxed_letter(s, "A-Da-d", style="wrapped")
        or pattern_letter(s, (_P_MARKER,), last=True)
        or pattern_letter(s[-400:], (_P_TAIL,), last=True)
        or one_letter(s[:1])
    )


class DsiPaper(Scoring):
    """SpatialClaw's ``DSIBench.evaluate_single`` / ``evaluate``: correct/total with per-category and
    per-augmentation accuracy."""

    name = "paper"
    sources = PAPER_SOURCES
    description = "SpatialClaw's CoT-aware letter extraction; correct/total"

    def score(self, sample: Sample, prediction: str | None) -> float | None:
        if sample.answer is None:
            return None
        got = paper_letter(prediction)
        return 1.0 if got and got == str(sample.answer).strip().upper() else 0.0

    def aggregate(self, items: Sequence[Scored]) -> Aggregate:
        overall, per, scored = _breakdown(items)
        return Aggregate(overall, per, len(items), scored)


BENCHMARKS = (
    Benchmark(
        name="dsibench",
        title="DSI-Bench",
        hf_repo="Viglong/DSI-Bench",
        category="Video & 4D",
        layout="metadatas/{std,reverse,hflip,reverse_hflip}.csv (cate, relative_path, video_type, question, options, "
        "GT, others); videos/<aug>/<relative_path> mp4",
        load=load,
        scorings={"official": DsiOfficial(), "paper": DsiPaper()},
        published_count=7076,
        settings={},
    ),
)
