"""SPBench (Li et al. 2025, "SpatialLadder"), Hugging Face ``hongxingli/SPBench``: 1328 spatial-perception questions
about ScanNet validation scenes in two subsets, SPBench-SI (1009 single-image questions) and SPBench-MV (319
questions over 8 views each).

Layout (``<data root>/spbench/``, as the snapshot is downloaded and its image archives unpacked)::

    SPBench-SI.parquet, SPBench-MV.parquet           the questions (no embedded images)
    SPBench-SI-images.zip, SPBench-MV-images.zip     the ScanNet frames, as published
    SPBench-SI-images/<scene_name>/<frame>.jpg       the archives unpacked (``unzip SPBench-SI-images.zip``)
    SPBench-MV-images/<scene_name>/<frame>.jpg

SpatialClaw's loader instead expects the frames flat, ``<scene_name>/<frame>.jpg``; that form is read too. A frame
found in neither folder is taken from the zip archive (its member ``.../<scene_name>/<frame>``) and written once into
the cache folder, so an archive left packed still works.

Row fields (both parquets): ``id`` (int, 1-based within each subset, so SI and MV ids overlap), ``dataset``
(``scannet``), ``scene_name``, ``question_type`` (``object_rel_direction``, ``object_rel_distance``: multiple choice;
``object_abs_distance``, ``object_size_estimation``, ``object_counting``: numeric), ``question``, ``ground_truth``
(the option letter or a number, as a string), ``options`` (``["A. left", ...]`` or null), ``images`` (frame file
names: 1 for SI, 8 for MV). Our source id is ``SI_<id>`` / ``MV_<id>`` (SpatialClaw's sample id); ``category`` is
the subset, ``SPBench-SI`` or ``SPBench-MV``.

Scoring:

* ``official`` follows SpatialLadder ``eval_spld/evaluator.py`` + ``eval_spld/data_utils/vsi_utils.py`` +
  ``eval_spld/data_utils/vsibench.py`` (``vsibench_eval``, run per subset) at 87320bea (the evaluation code is
  unchanged since 62bab46a). With the released default ``prompt_type="thinking"``, a prediction containing
  ``<answer>`` is first cut to the text inside ``<answer>...</answer>`` (``"None"`` when that tag is not closed).
  Multiple choice: ``"Answer:"`` removed, then the first ``' '``-separated token, if it is one capital ``A``-``D``
  with an optional ``.``, gives the letter; otherwise the whole stripped text is compared; a case-insensitive
  equality with the ground truth. Numeric: the first number word of a fixed list that occurs as a whole word
  (``one`` ... ``ninety``, ``zero``, and also ``a``/``an`` meaning 1), else the first ``\\d+(\\.\\d+)?``; ``float``
  of that; MRA over ``np.linspace(.5, .95, 10)`` with ``abs(p-g)/g <= 1-t``. Aggregation (per subset): the mean per
  question type; when ``object_rel_direction`` is absent the released code adds it as 0; the subset's overall is the
  mean of those task scores. SpatialLadder reports SPBench-SI and SPBench-MV separately; our overall is the
  unweighted mean of the two subset overalls (an Aggregate note says so).
* ``paper`` follows SpatialClaw ``spatial_agent/evals/spbench.py`` at b062f829: multiple choice tries
  ``\\boxed{X}``, then ``X.`` / ``(X)`` / ``X:`` anywhere (case-insensitive), then a one-letter first token, then the
  option text; numeric takes the first of ``one`` ... ``ten``, ``zero`` as a whole word, else the first number, and
  scores 0 when the ground truth is 0; the overall is the mean over question types pooled across both subsets.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from spatial_eval.extract import (
    ONE_TO_TEN,
    boxed_letter,
    first_token_letter,
    marked_letter,
    number_text,
    one_letter,
    option_text_letter,
    options_by_letter,
)
from spatial_eval.files import images_inputs, read_parquet
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
    group_means,
    group_scores,
    mean,
    question_type_of,
)

NAME = "spbench"
SUBSETS: tuple[tuple[str, str], ...] = (("SI", "SPBench-SI"), ("MV", "SPBench-MV"))
"""(short name used in source ids, published name used for files and categories), in the original's load order."""

# The released type lists (SpatialLadder vsi_utils.py); SPBench uses a subset of them.
MC_TYPES = (
    "object_rel_direction_easy",
    "object_rel_direction_medium",
    "object_rel_direction_hard",
    "object_rel_direction",
    "object_rel_distance",
    "route_planning",
    "obj_appearance_order",
)
NA_TYPES = ("object_abs_distance", "object_counting", "object_size_estimation", "room_size_estimation")
DIRECTION_PARTS = ("object_rel_direction_easy", "object_rel_direction_medium", "object_rel_direction_hard")

# SpatialClaw's spbench.py lists (room_size, route_planning and appearance order absent: those score 0 there).
PAPER_MC_TYPES = (
    "object_rel_direction_easy",
    "object_rel_direction_medium",
    "object_rel_direction_hard",
    "object_rel_direction",
    "object_rel_distance",
)
PAPER_NA_TYPES = NA_TYPES

OFFICIAL_SOURCES = (
    Source(
        "ZJU-REAL/SpatialLadder",
        "eval_spld/data_utils/vsi_utils.py",
        "87320beab061023e44153e253062614d859d7544",
        "extraction and MRA; unchanged since 62bab46a",
    ),
    Source(
        "ZJU-REAL/SpatialLadder",
        "eval_spld/data_utils/vsibench.py",
        "87320beab061023e44153e253062614d859d7544",
        "vsibench_eval / vsibench_aggregate_results, run once per subset",
    ),
    Source(
        "ZJU-REAL/SpatialLadder",
        "eval_spld/utils.py",
        "87320beab061023e44153e253062614d859d7544",
        "extract_answer_text (thinking mode, the run_eval.sh default)",
    ),
)
PAPER_SOURCES = (Source.spatialclaw("spbench.py"),)

INSTRUCTION_MC = "Reply with the letter of the correct option only."
INSTRUCTION_NA = "Reply with a single number only (no units)."

_FIELDS = ("id", "scene_name", "question_type", "question", "ground_truth", "images")


# ---- loading ----------------------------------------------------------------------------------------------------


class _Frames:
    """Finds a subset's frame files: the unpacked archive folder, SpatialClaw's flat layout, or the zip itself."""

    def __init__(self, root: Path, published: str, cache_dir: Path) -> None:
        self.root = root
        self.folder = root / f"{published}-images"
        self.archive = root / f"{published}-images.zip"
        self.cache = cache_dir / f"{published}-images"
        self._members: dict[str, str] | None = None

    def _zip_members(self) -> dict[str, str]:
        """``<scene>/<frame>`` -> member name, for every file in the archive (read once)."""
        if self._members is None:
            self._members = {}
            if self.archive.is_file():
                try:
                    with zipfile.ZipFile(self.archive) as z:
                        for name in z.namelist():
                            parts = name.rstrip("/").split("/")
                            if len(parts) >= 2 and not name.endswith("/"):
                                self._members.setdefault(f"{parts[-2]}/{parts[-1]}", name)
                except (OSError, zipfile.BadZipFile):
                    self._members = {}
        return self._members

    def path(self, scene: str, frame: str) -> Path:
        """The frame's file (absolute). When it exists nowhere, the unpacked-archive path (``check`` reports it)."""
        for candidate in (self.folder / scene / frame, self.root / scene / frame, self.cache / scene / frame):
            if candidate.is_file():
                return candidate
        member = self._zip_members().get(f"{scene}/{frame}")
        if member is not None:
            out = self.cache / scene / frame
            out.parent.mkdir(parents=True, exist_ok=True)
            tmp = out.with_name(out.name + ".part")
            with zipfile.ZipFile(self.archive) as z:
                tmp.write_bytes(z.read(member))
            tmp.replace(out)
            return out
        return self.folder / scene / frame


def _as_list(value: Any) -> list[Any] | None:
    if value is None:
        return None
    if hasattr(value, "tolist"):
        value = value.tolist()
    return list(value) if isinstance(value, (list, tuple)) else None


def _sample(short: str, published: str, row: dict[str, Any], frames: _Frames) -> Sample:
    """One parquet row -> a Sample. Raises ValueError naming the bad field."""
    for k in _FIELDS:
        v = row.get(k)
        if v is None or (isinstance(v, str) and not v.strip() and k != "question"):
            raise ValueError(f"field {k!r} is missing or empty")
    qtype = str(row["question_type"])
    if qtype not in MC_TYPES and qtype not in NA_TYPES:
        raise ValueError(f"unknown question_type {qtype!r}")
    options = _as_list(row.get("options"))
    if qtype in MC_TYPES:
        if not options:
            raise ValueError(f"a {qtype} row needs options")
        choices: list[str] | None = [str(o) for o in options]
    else:
        choices = None
    images = _as_list(row["images"])
    if not images:
        raise ValueError("field 'images' has no frame names")
    scene = str(row["scene_name"])
    paths = [frames.path(scene, str(name)) for name in images]
    return Sample(
        benchmark=NAME,
        source_id=f"{short}_{row['id']}",
        question=str(row["question"]),
        inputs=images_inputs(list(paths)),
        answer=str(row["ground_truth"]).strip(),
        choices=choices,
        question_type=qtype,
        category=published,
        instruction=INSTRUCTION_MC if choices else INSTRUCTION_NA,
        media=paths,
        extra={"subset": short, "scene_name": scene, "dataset": str(row.get("dataset") or "")},
    )


def load(root: Path, ctx: LoadContext) -> Loaded:
    """SPBench-SI then SPBench-MV, each in parquet order (SpatialClaw's order). A subset whose parquet is absent is
    a problem; both absent raises DatasetMissing."""
    present = [(s, p) for s, p in SUBSETS if (root / f"{p}.parquet").is_file()]
    if not present:
        raise BENCHMARKS[0].missing(root, "SPBench-SI.parquet and SPBench-MV.parquet")
    rows = RowCollector(errors=(ValueError, TypeError, KeyError))
    for short, published in SUBSETS:
        path = root / f"{published}.parquet"
        if (short, published) not in present:
            rows.problem(path.name, f"{path.name} is missing: the {published} questions are not loaded")
            continue
        frames = _Frames(root, published, ctx.cache_dir)
        for i, row in enumerate(read_parquet(path)):
            sid = f"{short}_{row.get('id')}" if row.get("id") is not None else None
            rows.add(f"{path.name} row {i}", sid, _sample, short, published, row, frames)
    return rows.loaded()


# ---- official: SpatialLadder ------------------------------------------------------------------------------------

_ANSWER_TAG = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)
# Dictionary order matters: the first word (in this order) found anywhere wins, so "a"/"an" come last.
_LADDER_WORDS: tuple[tuple[str, str], ...] = (
    *ONE_TO_TEN,
    ("eleven", "11"),
    ("twelve", "12"),
    ("thirteen", "13"),
    ("fourteen", "14"),
    ("fifteen", "15"),
    ("sixteen", "16"),
    ("seventeen", "17"),
    ("eighteen", "18"),
    ("nineteen", "19"),
    ("twenty", "20"),
    ("thirty", "30"),
    ("forty", "40"),
    ("fifty", "50"),
    ("sixty", "60"),
    ("seventy", "70"),
    ("eighty", "80"),
    ("ninety", "90"),
    ("zero", "0"),
    ("a", "1"),
    ("an", "1"),
)


def ladder_answer_text(prediction: str | None) -> str:
    """The text SpatialLadder scores in its default thinking mode: the inside of ``<answer>...</answer>`` (stripped)
    when the prediction contains ``<answer>``, ``"None"`` when that tag is never closed, else the prediction."""
    text = prediction or ""
    if "<answer>" in text:
        m = _ANSWER_TAG.search(text)
        return m.group(1).strip() if m else "None"
    return text


def ladder_mc(text: str) -> str:
    """SpatialLadder's ``fuzzy_matching``: the first ``' '`` token, stripped, when it is ``A``-``D`` (capital) with an
    optional ``.`` gives that letter; otherwise the whole text, stripped."""
    return first_token_letter(text, "A-D") or text.strip()


def ladder_number(text: str) -> float | None:
    """SpatialLadder's ``fuzzy_matching_num`` then ``to_float``: a whole-word number word (first in the released
    dictionary's order), else the first ``\\d+(\\.\\d+)?``; None when there is neither."""
    found = number_text(text, _LADDER_WORDS)
    return None if found is None else to_float(found)


class SpbenchOfficial(Scoring):
    """SpatialLadder's ``vsibench_eval`` (``vsibench_process_results`` + ``vsibench_aggregate_results``), run once per
    subset as ``evaluator.py`` does for ``SPBench-SI`` and ``SPBench-MV``; the two subset overalls are averaged."""

    name = "official"
    sources = OFFICIAL_SOURCES
    description = "SpatialLadder eval_spld (per subset), overall = mean of the SI and MV overalls"

    def score(self, sample: Sample, prediction: str | None) -> float | None:
        if sample.answer is None:
            return None
        text = ladder_answer_text(prediction)
        gt = str(sample.answer)
        if sample.question_type in MC_TYPES:
            return 1.0 if ladder_mc(text.replace("Answer:", "")).lower() == gt.lower() else 0.0
        # A ground truth of 0 raises ZeroDivisionError in the released code (no SPBench row has one); vsi_mra scores
        # it 1 for a prediction of exactly 0, else 0.
        return vsi_mra(ladder_number(text), to_float(gt))

    def aggregate(self, items: Sequence[Scored]) -> Aggregate:
        notes: list[str] = []
        per_task: dict[str, float] = {}
        overalls: dict[str, float] = {}
        scored = 0
        for _short, published in SUBSETS:
            by_type = group_scores((s for s in items if s.sample.category == published), _typed)
            if not by_type:
                continue
            scored += sum(len(v) for v in by_type.values())
            output = {t: mean(v) for t, v in by_type.items()}
            if "object_rel_direction" not in output:
                # sum([pop(easy), pop(medium), pop(hard)]) / 3, and 0 when any pop fails (those before it are lost)
                parts: list[float] = []
                for k in DIRECTION_PARTS:
                    if k not in output:
                        break
                    parts.append(output.pop(k))
                complete = len(parts) == len(DIRECTION_PARTS)
                output["object_rel_direction"] = sum(parts) / 3.0 if complete else 0.0
                if not complete:
                    notes.append(
                        f"{published}: no object_rel_direction questions; counted as a task scoring 0 (released code)"
                    )
            overalls[published] = sum(output.values()) / len(output)
            for t, v in sorted(output.items()):
                per_task[f"{published}/{t}"] = v
            per_task[published] = overalls[published]
        if not overalls:
            return Aggregate(None, {}, len(items), 0, notes)
        if len(overalls) == 2:
            notes.append("SpatialLadder reports SPBench-SI and SPBench-MV separately; overall = their unweighted mean")
        else:
            only = next(iter(overalls))
            notes.append(f"only {only} present: overall = its overall alone")
        overall = sum(overalls.values()) / len(overalls)
        return Aggregate(overall, per_task, len(items), scored, notes)


# ---- paper: SpatialClaw -----------------------------------------------------------------------------------------


def _typed(s: Scored) -> str | None:
    return s.sample.question_type or None


def paper_mc_letter(prediction: str, choices: Sequence[str] | None) -> str:
    """SpatialClaw's ``SPBench._extract_mc_answer`` on an already stripped prediction: ``\\boxed{X}``,
    ``X.``/``(X)``/``X:``, the first token (``_fuzzy_matching_mc``: a one-letter token, else the whole text) when it
    is one letter A-D, the option text, else that first token."""
    p = prediction.strip()
    if not p:
        return ""
    first = first_token_letter(p) or p.strip()
    return (
        boxed_letter(p, "A-Da-d")
        or marked_letter(p)
        or one_letter(first)
        or option_text_letter(p, options_by_letter(choices)).upper()
        or first
    )


def paper_number(text: str) -> float | None:
    """SpatialClaw's ``_fuzzy_matching_num`` then ``_to_float``: ``one`` ... ``ten`` or ``zero`` as a whole word
    (first in that order), else the first ``\\d+(\\.\\d+)?``."""
    found = number_text(text)
    return None if found is None else to_float(found)


class SpbenchPaper(Scoring):
    """SpatialClaw's ``SPBench.evaluate_single`` / ``evaluate``."""

    name = "paper"
    sources = PAPER_SOURCES
    description = "SpatialClaw spbench.py: overall = mean over question types pooled across SI and MV"

    def score(self, sample: Sample, prediction: str | None) -> float | None:
        if sample.answer is None:
            return None
        pred = (prediction or "").strip()
        gt = str(sample.answer).strip()
        if sample.question_type in PAPER_MC_TYPES:
            return 1.0 if paper_mc_letter(pred, sample.choices).lower() == gt.upper().lower() else 0.0
        if sample.question_type in PAPER_NA_TYPES:
            p = paper_number(pred) if pred else None
            g = to_float(gt)
            if p is None or g is None or g == 0:
                return 0.0
            return vsi_mra(p, g)
        return 0.0

    def aggregate(self, items: Sequence[Scored]) -> Aggregate:
        per = group_means(items, question_type_of)
        if not per:
            return Aggregate(None, {}, len(items), 0)
        overall = sum(per.values()) / len(per)
        per_task = {**per, **group_means(items, lambda s: s.sample.category or "(none)")}
        notes = ["per-subset entries (SPBench-SI, SPBench-MV) are sample means, reported beside the task means"]
        return Aggregate(overall, per_task, len(items), sum(1 for s in items if s.score is not None), notes)


BENCHMARKS = (
    Benchmark(
        name=NAME,
        title="SPBench",
        hf_repo="hongxingli/SPBench",
        category="Single-image",
        layout=(
            "SPBench-SI.parquet + SPBench-MV.parquet (id, dataset, scene_name, question_type, question, ground_truth, "
            "options, images); frames in SPBench-{SI,MV}-images/<scene_name>/<frame>.jpg (or the .zip archives)"
        ),
        load=load,
        scorings={"official": SpbenchOfficial(), "paper": SpbenchPaper()},
        published_count=1328,
    ),
)
