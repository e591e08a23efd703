"""Video-MME-v2 (Fu et al. 2026), Hugging Face ``MME-Benchmarks/Video-MME-v2``: 800 videos with 4 questions each
(3,200 questions, options A-H), scored per group of 4 with a non-linear group score.

Layout (``<data root>/videommev2/``)::

    test.parquet               the 3,200 rows, 4 consecutive rows per video (one group)
    videos/001.zip ... 040.zip the 800 videos as published; unzipped they give videos/<video_id>.mp4 (001.mp4 ...)
    subtitle.zip               word-level JSONL subtitles per video (not used)

Row fields read: ``video_id`` ("001"), ``question_id``, ``question``, ``options`` (one string, ``"A. ...\\nB. ..."``),
``answer`` (the letter), ``group_type`` (``relevance`` | ``logic``), ``group_structure`` (``"[1,2,3,4]"``,
``"[1,[2,3],4]"`` or ``"[[1,2],3,4]"`` for logic groups), ``level`` (1-3), ``second_head`` and ``third_head`` (the
capability labels). ``level``, ``second_head`` and ``third_head`` are set on the last question of a group; the
released code reads all group metadata from that row, and so does this loader (every sample of a group carries it).

Grouping: rows ``4k .. 4k+3`` of the file are group ``k`` (the released code groups by position, not by video).

* relevance group: ``c`` = the sum of the 4 per-question scores; 0 / 6.25 / 25 / 56.25 / 100 for c = 0..4 (any
  other sum: 0), and a linear score ``25 c``.
* logic group: the length of the run of "true" scores from question 1; ``[1,2,3,4]`` scores like relevance;
  ``[1,[2,3],4]``: 0 / 100/12 / 400/12 / 700/12 / 100, and a run of exactly 1 counts as 2 when question 3 is right;
  ``[[1,2],3,4]``: 0 / 10 / 20 / 50 / 100, and a run of 0 counts as 1 when question 2 is right.

Overall = the mean group score / 100; per_task: ``relevance_score``, ``relevance_linear_score``, ``logic_score``,
``level_<n>``, ``second_head/<label>``, ``third_head/<label>`` (group means / 100) and ``simple_accuracy``.

* ``official`` follows MME-Benchmarks/Video-MME-v2 ``evaluation/test_video_mme_v2.py`` at b24176a1: after a round
  trip through a TSV file read by pandas (a response spelled like a missing value, e.g. ``NA`` or ``N/A``, becomes
  ``nan``), some answer phrases are deleted and the first capital A-H anywhere is the answer. A response without one
  scores **-1**, and that -1 goes into the group arithmetic as it is: it lowers a relevance sum, and it is truthy, so
  it continues a logic run like a correct answer.
* ``paper`` follows SpatialClaw ``spatial_agent/evals/videommev2.py`` at b062f829: the same phrases, then
  ``\\boxed{X}`` (A-H), then the first capital A-H; no TSV round trip; a -1 counts as 0 in the groups.

Only groups with all 4 questions in the scored set are scored (a group cut by ``--subsample`` is left out, with a
note); ``--limit`` in multiples of 4 keeps whole groups, as the published order is group by group.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from spatial_eval.extract import LMMS_ANSWER_PHRASES, boxed_letter, first_choice_char, remove_phrases
from spatial_eval.files import read_parquet
from spatial_eval.types import Aggregate, Benchmark, LoadContext, Loaded, RowCollector, Sample, Scored, Scoring, Source

OFFICIAL_SOURCES = (
    Source(
        "MME-Benchmarks/Video-MME-v2",
        "evaluation/test_video_mme_v2.py",
        "b24176a14506c48a9f3e156d9f20068db6c4782b",
        "extract_characters_regex_v2, cal_relevance, cal_logic, get_final_rating, evaluate",
    ),
)
PAPER_SOURCES = (Source.spatialclaw("videommev2.py"),)

INSTRUCTION = "Reply with the letter (A to H) of the best option only."
SETTINGS: dict[str, Any] = {"video_max_fps": 1}
_FPS = 1
GROUP_SIZE = 4

STRUCTURES: dict[str, list[Any]] = {
    "chain": [1, 2, 3, 4],
    "fork_middle": [1, [2, 3], 4],
    "fork_first": [[1, 2], 3, 4],
}
"""The three logic ``group_structure`` values the released ``cal_logic`` knows (any other raises there)."""

_NEEDED = ("video_id", "question_id", "question", "options", "answer", "group_type")


def parse_structure(text: Any) -> list[Any] | None:
    """``ast.literal_eval`` of a ``group_structure`` string, or None when it is not one of :data:`STRUCTURES`."""
    try:
        value = ast.literal_eval(str(text))
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None
    return value if value in STRUCTURES.values() else None


def _level(value: Any) -> str | None:
    """``level`` as the released code reads it (``int(level)``), as a string; None when absent or not a number."""
    if value is None or str(value) in ("None", "nan", ""):
        return None
    try:
        return str(int(float(value)))
    except (TypeError, ValueError):
        return None


def _label(value: Any) -> str | None:
    return None if value is None or str(value) in ("None", "nan", "") else str(value)


def split_options(options: Any) -> list[str]:
    """The published options (one ``"A. ...\\nB. ..."`` string, or a list) as a list of non-blank lines."""
    if isinstance(options, str):
        return [line.strip() for line in options.split("\n") if line.strip()]
    return [str(o).strip() for o in options if str(o).strip()]


def _video_index(videos: Path) -> dict[str, Path]:
    """Stem -> path of every mp4 under ``videos/`` (so videos unzipped into sub-folders are found too)."""
    if not videos.is_dir():
        return {}
    return {p.stem: p for p in sorted(videos.rglob("*.mp4"), key=lambda p: (len(p.parts), str(p)))[::-1]}


def _video(videos: Path, index: dict[str, Path], video_id: str) -> Path:
    direct = videos / f"{video_id}.mp4"
    if direct.exists():
        return direct
    return index.get(video_id, direct)


def _check_row(row: dict[str, Any]) -> None:
    """Raise ValueError naming the first bad field of a row."""
    for k in _NEEDED:
        v = row.get(k)
        if v is None or (isinstance(v, str) and not v.strip()):
            raise ValueError(f"field {k!r} is missing or empty")
    gt = str(row["group_type"])
    if gt not in ("relevance", "logic"):
        raise ValueError(f"unknown group_type {gt!r} (relevance or logic)")
    if gt == "logic" and parse_structure(row.get("group_structure")) is None:
        raise ValueError(f"logic group_structure {row.get('group_structure')!r} is none of {list(STRUCTURES.values())}")
    if not split_options(row["options"]):
        raise ValueError("field 'options' has no option")


def _sample(rows: list[dict[str, Any]], i: int, videos: Path, index: dict[str, Path]) -> Sample:
    """Row ``i`` -> a Sample, its group metadata from the group's last row. Raises ValueError naming the bad field."""
    row = rows[i]
    _check_row(row)
    group = i // GROUP_SIZE
    last = rows[min(group * GROUP_SIZE + GROUP_SIZE - 1, len(rows) - 1)]
    vid = str(row["video_id"]).strip()
    video = _video(videos, index, vid)
    second, third = _label(last.get("second_head")), _label(last.get("third_head"))
    return Sample(
        benchmark="videommev2",
        source_id=str(row["question_id"]).strip(),
        question=str(row["question"]),
        inputs=[{"kind": "video", "path": str(video), "max_fps": _FPS}],
        answer=str(row["answer"]).strip(),
        choices=split_options(row["options"]),
        question_type=third or str(last.get("group_type") or row["group_type"]),
        category=second,
        instruction=INSTRUCTION,
        media=[video],
        extra={
            "video_id": vid,
            "group": group,
            "position": i % GROUP_SIZE,
            "group_type": str(last.get("group_type")),
            "group_structure": str(last.get("group_structure")),
            "level": _level(last.get("level")),
            "second_head": second,
            "third_head": third,
        },
    )


def load(root: Path, ctx: LoadContext) -> Loaded:
    """Read ``test.parquet``; group ``k`` = rows ``4k..4k+3``, its metadata from the group's last row."""
    path = BENCHMARKS[0].require(root, "test.parquet")
    rows = read_parquet(path)
    videos = root / "videos"
    index = _video_index(videos)
    collected = RowCollector("question_id")
    if len(rows) % GROUP_SIZE:
        short = f"{len(rows)} rows is not a multiple of {GROUP_SIZE}: the last group is short"
        collected.problem("test.parquet", short)
    for i, row in enumerate(rows):
        qid = str(row.get("question_id")) if row.get("question_id") is not None else None
        collected.add(f"test.parquet row {i}", qid, _sample, rows, i, videos, index)
    return collected.loaded()


# ---------------------------------------------------------------------------------------------------------------
# Group scores (cal_relevance, cal_logic): the same in both scorings.

_QUAD_16 = {0: 0.0, 1: 100.0 / 16, 2: 100.0 * 4 / 16, 3: 100.0 * 9 / 16, 4: 100.0}
_MAPS = {
    "chain": _QUAD_16,
    "fork_middle": {0: 0.0, 1: 100.0 / 12, 2: 100.0 * 4 / 12, 3: 100.0 * 7 / 12, 4: 100.0},
    "fork_first": {0: 0.0, 1: 100.0 / 10, 2: 100.0 * 2 / 10, 3: 100.0 * 5 / 10, 4: 100.0},
}


def relevance_score(scores: Sequence[int]) -> tuple[float, float]:
    """(non-linear, linear) score of a relevance group, 0..100, from its 4 per-question scores (1, 0 or -1): the sum
    ``c`` of the scores picks 0 / 6.25 / 25 / 56.25 / 100 (a sum outside 0..4 scores 0); linear = ``25 c``."""
    c = int(sum(scores))
    return _QUAD_16.get(c, 0.0), c * 25.0


def logic_score(scores: Sequence[int], structure: Any) -> float | None:
    """Score 0..100 of a logic group from its 4 per-question scores, or None for an unknown ``group_structure``.

    The run length is the number of leading truthy scores (so a -1 continues the run, as in the released code); for
    ``[1,[2,3],4]`` a run of exactly 1 becomes 2 when question 3 is truthy; for ``[[1,2],3,4]`` a run of 0 becomes 1
    when question 2 is truthy.
    """
    parsed = parse_structure(structure)
    if parsed is None:
        return None
    kind = next(k for k, v in STRUCTURES.items() if v == parsed)
    run = 0
    for v in scores:
        if not v:
            break
        run += 1
    if kind == "fork_middle" and run == 1 and scores[2]:
        run = 2
    elif kind == "fork_first" and run == 0 and scores[1]:
        run = 1
    return _MAPS[kind].get(run, 0.0)


def grouped_aggregate(items: Sequence[Scored], raw: Callable[[Scored], int], *, clamp: bool) -> Aggregate:
    """The released ``get_final_rating`` over the complete groups in ``items``; ``raw`` gives each sample's 1 / 0 /
    -1 and ``clamp`` turns -1 into 0 first (SpatialClaw). Group score means are divided by 100."""
    raws = [raw(s) for s in items]
    valid = [r for r in raws if r >= 0]
    groups: dict[int, dict[int, tuple[Scored, int]]] = {}
    for s, r in zip(items, raws, strict=True):
        groups.setdefault(int(s.sample.extra.get("group", -1)), {})[int(s.sample.extra.get("position", -1))] = (s, r)
    rating: dict[str, list[float]] = {"relevance_score": [], "relevance_linear_score": [], "logic_score": []}
    levels: dict[str, list[float]] = {}
    second: dict[str, list[float]] = {}
    third: dict[str, list[float]] = {}
    total: list[float] = []
    incomplete = unknown = 0
    counted = 0
    for g in sorted(groups):
        members = groups[g]
        if sorted(members) != list(range(GROUP_SIZE)):
            incomplete += 1
            continue
        scores = [members[p][1] for p in range(GROUP_SIZE)]
        if clamp:
            scores = [max(v, 0) for v in scores]
        meta = members[GROUP_SIZE - 1][0].sample.extra
        kind = meta.get("group_type")
        logic = logic_score(scores, meta.get("group_structure")) if kind == "logic" else None
        if kind == "relevance":
            exp, linear = relevance_score(scores)
            rating["relevance_score"].append(exp)
            rating["relevance_linear_score"].append(linear)
        elif logic is not None:
            exp = logic
            rating["logic_score"].append(exp)
        else:
            unknown += 1
            continue
        counted += GROUP_SIZE
        total.append(exp)
        if meta.get("level") is not None:
            levels.setdefault(f"level_{meta['level']}", []).append(exp)
        if meta.get("second_head") is not None:
            second.setdefault(str(meta["second_head"]), []).append(exp)
        if meta.get("third_head") is not None:
            third.setdefault(str(meta["third_head"]), []).append(exp)

    def mean(v: list[float]) -> float:
        return sum(v) / len(v) / 100.0

    per: dict[str, float] = {k: mean(v) for k, v in rating.items() if v}
    per.update({k: mean(levels[k]) for k in sorted(levels)})
    per.update({f"second_head/{k}": mean(second[k]) for k in sorted(second)})
    per.update({f"third_head/{k}": mean(third[k]) for k in sorted(third)})
    if valid:
        per["simple_accuracy"] = sum(valid) / len(valid)
    notes: list[str] = []
    if incomplete:
        notes.append(f"{incomplete} groups without all 4 questions in this run: left out of the grouped score")
    if unknown:
        notes.append(f"{unknown} groups with an unknown group_type or group_structure: left out")
    empty = [k for k, v in rating.items() if not v]
    if total and empty:
        notes.append(f"no group for {', '.join(empty)} in this run (the released code would print 0.0)")
    failed = len(raws) - len(valid)
    if failed:
        how = "counted as 0" if clamp else "kept as -1 in the group arithmetic (truthy in logic runs), as released"
        notes.append(f"{failed} responses without a capital A-H: {how}; simple_accuracy leaves them out")
    overall = sum(total) / len(total) / 100.0 if total else None
    return Aggregate(overall, per, len(items), counted, notes)


# ---------------------------------------------------------------------------------------------------------------
# official: evaluation/test_video_mme_v2.py

_PHRASES = ("Final Answer:", *LMMS_ANSWER_PHRASES, "Answer:", "Option:")
_AH = re.compile(r"[A-H]")

PANDAS_NA = frozenset(
    {
        "",
        "#N/A",
        "#N/A N/A",
        "#NA",
        "-1.#IND",
        "-1.#QNAN",
        "-NaN",
        "-nan",
        "1.#IND",
        "1.#QNAN",
        "<NA>",
        "N/A",
        "NA",
        "NULL",
        "NaN",
        "None",
        "n/a",
        "nan",
        "null",
    }
)
"""The strings ``pandas.read_csv`` reads as a missing value by default (pandas ``STR_NA_VALUES``): the released script
writes the responses to a TSV and reads them back, so such a response becomes ``str(nan)`` = ``"nan"``."""


def official_letter(prediction: str | None) -> str:
    """The released pipeline's letter: None -> ``""``; a pandas missing-value spelling -> ``"nan"``; then
    ``extract_characters_regex_v2`` (phrases deleted, first capital A-H; ``""`` when none)."""
    text = "" if prediction is None else prediction
    if text in PANDAS_NA:
        text = "nan"
    return first_choice_char(remove_phrases(text, _PHRASES), _AH) or ""


def official_raw(sample: Sample, prediction: str | None) -> int:
    """The released per-question score: 1 right, 0 wrong, -1 no letter."""
    got = official_letter(prediction)
    if not got:
        return -1
    return int(got == str(sample.answer))


class VideoMmeV2Official(Scoring):
    """``test_video_mme_v2.py`` ``evaluate`` + ``get_final_rating``: per-sample 1/0 (no letter: 0 here, -1 in the
    groups), grouped non-linear score over complete groups."""

    name = "official"
    sources = OFFICIAL_SOURCES
    description = "first capital A-H; grouped non-linear score (relevance / logic), -1 kept in the groups"

    def score(self, sample: Sample, prediction: str | None) -> float | None:
        if sample.answer is None:
            return None
        return 1.0 if official_raw(sample, prediction) == 1 else 0.0

    def aggregate(self, items: Sequence[Scored]) -> Aggregate:
        return grouped_aggregate(items, lambda s: official_raw(s.sample, s.prediction), clamp=False)


# ---------------------------------------------------------------------------------------------------------------
# paper: SpatialClaw spatial_agent/evals/videommev2.py


def paper_letter(prediction: str | None) -> str:
    """SpatialClaw's ``_extract_answer_letter``: phrases deleted, then ``\\boxed{X}`` (A-H), then the first capital
    A-H (``""`` when none, or for a blank response)."""
    if not prediction:
        return ""
    s = remove_phrases(prediction, _PHRASES)
    return boxed_letter(s, "A-H", style="tight") or first_choice_char(s, _AH) or ""


def paper_raw(sample: Sample, prediction: str | None) -> int:
    got = paper_letter(prediction)
    if not got:
        return -1
    return int(got == str(sample.answer).strip().upper())


class VideoMmeV2Paper(Scoring):
    """SpatialClaw's ``VideoMMEv2Bench.evaluate``: the same groups with a -1 counted as 0."""

    name = "paper"
    sources = PAPER_SOURCES
    description = "boxed, then first capital A-H; grouped non-linear score with -1 counted as 0"

    def score(self, sample: Sample, prediction: str | None) -> float | None:
        if sample.answer is None:
            return None
        return 1.0 if paper_raw(sample, prediction) == 1 else 0.0

    def aggregate(self, items: Sequence[Scored]) -> Aggregate:
        return grouped_aggregate(items, lambda s: paper_raw(s.sample, s.prediction), clamp=True)


BENCHMARKS = (
    Benchmark(
        unit=lambda s: str(s.extra["group"]),
        name="videommev2",
        title="Video-MME-v2",
        hf_repo="MME-Benchmarks/Video-MME-v2",
        category="General video",
        layout="test.parquet (video_id, question_id, question, options, answer, group_type, group_structure, level, "
        "second_head, third_head; 4 rows per group); videos/<video_id>.mp4 from videos/*.zip",
        load=load,
        scorings={"official": VideoMmeV2Official(), "paper": VideoMmeV2Paper()},
        published_count=3200,
        settings=dict(SETTINGS),
    ),
)
