"""SpatialTree-Bench (Li et al. 2025, "SpatialTree: How Spatial Abilities Branch Out in MLLMs"), Hugging Face
``LongfeiLi/SpatialTree-Bench``: 6,300 questions over a four-level capability tree (L1 perception, L2 mental
mapping, L3 mental simulation, L4 agentic competence), on images or videos.

Layout (``<data root>/spatialtree/``)::

    annotations_plain.parquet     the 6,300 rows
    images/<name>.jpg ...          image media (paths in the ``image`` column, relative to the folder)
    videos/<name>.mp4 ...          video media (paths in the ``video`` column)

Row fields: ``session_id`` (the id), ``question``, ``question_type`` (``multiple-choice``, ``open`` or ``judge``),
``option`` (list of option strings, null for open questions), ``answer`` (a letter, a number, yes/no, JSON, or a
base64 PNG mask), ``hint`` (``""`` or a JSON object the metric needs: uncertainties, poses, a cognitive map, a judge
prompt), ``video`` / ``image`` (lists of relative paths; a row with a video is shown the video only, as both
evaluations do), ``video_info`` (per video, ``frame_index``: the frames the benchmark samples), ``extra_info`` (a
JSON object: ``spatree0`` level, ``spatree1`` ability, ``spatree2`` sub-ability, ``metricfunc``, ``pe_style``).

Scoring:

* ``official`` follows lmms-eval ``lmms_eval/tasks/spatialtreebench/utils.py`` and ``metrics/rule_metrics.py`` at
  714f4fed (the task the SpatialTree authors contributed; its hierarchy is ``spatree_hierarchy.json``). Per row the
  ``metricfunc`` picks the metric: ``multichoiceeval`` (a chain of phrase patterns, then ``(X)``, ``X ``, ``X.``
  and option-text candidates, else a random option, scored here as its expected value 1/#options),
  ``meanrelativeacc`` (first number after removing commas, MRA over 10 thresholds; also used for ``open`` rows
  tagged ``multichoiceeval``), ``judge`` (whichever of "yes"/"no" occurs last), ``gravityeval`` (Gaussian scores of
  roll, pitch, vfov), ``affmask`` (mask value at the predicted point), ``manipulateeval`` and ``agenticnaveval``
  (trajectory scores of a JSON action plan). Any error scores 0. ``gpteval`` (an LLM judge) and ``cogmapeval``
  (MindCube's cognitive-map similarity) are not computed here: those rows are unscored and excluded (notes say so).
  Aggregation: mean per leaf ability (the deepest ``spatreeN`` tag), then the weighted tree of
  ``spatree_hierarchy.json`` up to the root; a leaf with no rows in the run counts 0, as in the released code; a
  leaf whose rows are all unscored is left out of its parent's weighted mean.
* ``paper`` follows SpatialClaw ``spatial_agent/evals/spatialtree.py`` at b062f829: ``gpteval``, ``cogmapeval``,
  ``affmask``, ``manipulateeval``, ``agenticnaveval``, ``gravityeval`` rows are unscored; multiple choice by
  ``\\boxed{X}`` / ``X.`` / ``(X)`` / ``X:`` / a one-letter first token; ``meanrelativeacc`` by the first number
  (or number word) with MRA over ``|gt|``; judge by the last of yes/no; anything else numeric MRA or exact text.
  Overall = mean over scored rows.
"""

from __future__ import annotations

import ast
import base64
import io
import json
import math
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from spatial_eval.extract import boxed_letter, first_token_letter, marked_letter, number_text
from spatial_eval.files import embedded_image, images_inputs, read_parquet
from spatial_eval.metrics import abs_mra, vsi_mra
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
    mean_over_samples,
)

NAME = "spatialtree"
ANNOTATIONS = "annotations_plain.parquet"

OFFICIAL_SOURCES = (
    Source(
        "EvolvingLMMs-Lab/lmms-eval",
        "lmms_eval/tasks/spatialtreebench/utils.py",
        "714f4fed7fc3eefcf46cf2fc2ef57c3e81955ef5",
        "process_results, aggregate_results; unchanged at 75571cfe",
    ),
    Source(
        "EvolvingLMMs-Lab/lmms-eval",
        "lmms_eval/tasks/spatialtreebench/metrics/rule_metrics.py",
        "714f4fed7fc3eefcf46cf2fc2ef57c3e81955ef5",
        "per-metricfunc scores",
    ),
    Source(
        "EvolvingLMMs-Lab/lmms-eval",
        "lmms_eval/tasks/spatialtreebench/spatree_hierarchy.json",
        "714f4fed7fc3eefcf46cf2fc2ef57c3e81955ef5",
        "tree weights",
    ),
)
PAPER_SOURCES = (Source.spatialclaw("spatialtree.py"),)

UNSCORED_OFFICIAL = ("gpteval", "cogmapeval")
"""Metrics of the released code not computed here (an LLM judge; MindCube's cognitive-map graph similarity)."""
UNSCORED_PAPER = ("gpteval", "cogmapeval", "affmask", "manipulateeval", "agenticnaveval", "gravityeval")
"""Metrics SpatialClaw's evaluation leaves unscored."""

HIERARCHY: dict[str, Any] = {
    "L1": (
        0.25,
        {
            "Geometry": (0.5, {"Distance": 0.65, "Shape": 0.1, "Size": 0.25}),
            "Localization": (0.2, {"3D Detection": 0.65, "3D Grounding": 0.35}),
            "Motion": (0.05, {"Allo": 0.5, "Ego": 0.5}),
            "Orientation": (0.1, {"Gravity": 0.4, "Object Orientation": 0.6}),
            "Relation": (0.15, {"Correspondence": 0.5, "Relative Direction": 0.5}),
        },
    ),
    "L2": (
        0.25,
        {
            "Memory": (1, {"Cognitive Map": 0.7, "Memory Retrieval": 0.3}),
            "Underst.": (
                1,
                {
                    "Affordance": 0.25,
                    "Motion Understanding": 0.25,
                    "Perspective Taking": 0.05,
                    "Relation Understanding": 0.35,
                    "Spatial Caption": 0.1,
                },
            ),
        },
    ),
    "L3": (
        0.25,
        {
            "Caus. Reas.": (0.65, {"Dynamics": 0.3, "Geometry Puzzles": 0.55, "Relation": 0.15}),
            "Seq. Plan.": (0.35, {"Operation": 0.6, "Route": 0.4}),
        },
    ),
    "L4": (
        0.25,
        {
            "Goal-Driven Execution": (0.5, {"Agentic Navigation": 0.5, "Robotic Arm": 0.5}),
            "Open-world Exploration": (0.5, {"Knowledge Acquisition": 0.7, "Self-Goaling": 0.3}),
        },
    ),
}
"""``spatree_hierarchy.json`` (root ``SpaTree``, no weight): level -> (weight, ability -> (weight, leaf -> weight)).
A row's leaf (its deepest ``spatreeN`` tag) matches a tree leaf whose name, spaces removed, equals it."""

INSTRUCTIONS = {
    "multiple-choice": "Reply with the letter of the correct option only (e.g. B).",
    "number": "Reply with a single number only (no units).",
    "judge": "Reply with Yes or No only.",
    "gravityeval": (
        'Reply with a JSON object {"roll": number, "pitch": number, "vfov": number} giving the values the question '
        "asks for."
    ),
    "affmask": "Reply with the point as normalized image coordinates [x, y] (each between 0 and 1, origin top-left).",
    "plan": "Reply with the action plan as a JSON object in a ```json block, in the format the question describes.",
    "cogmapeval": "Give the cognitive map as JSON if the question asks for one, then the letter of the correct option.",
    "gpteval": "Reply with a short description.",
}

_LONG_ANSWER = 1000
"""Answers longer than this (base64 masks) stay in ``extra["answer_full"]``; the sample shows a placeholder."""


# --- loading ---------------------------------------------------------------------------------------------------


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    if hasattr(value, "tolist"):
        return list(value.tolist())
    return [value]


def _media(value: Any, root: Path, ctx: LoadContext) -> Path | None:
    """A media entry of the ``video``/``image`` column: a path relative to the folder (or absolute), or an embedded
    image (``{"bytes": ...}``) written into the cache."""
    if isinstance(value, str):
        if not value.strip():
            return None
        p = Path(value)
        return p if p.is_absolute() else root / value
    return embedded_image(value, ctx.cache_dir, base=root)


def leaf_of(tags: dict[str, Any]) -> str | None:
    """The leaf ability of a row, as lmms-eval's aggregation takes it: the value of the highest-numbered
    ``spatreeN`` key (None when that value is empty)."""
    keys = [k for k in tags if re.fullmatch(r"spatree\d+", k)]
    if not keys:
        return None
    value = tags[max(keys, key=lambda k: int(k[len("spatree") :]))]
    return str(value) if value else None


def _instruction(fmt: str, metric: str) -> str:
    if metric in ("gravityeval", "affmask", "cogmapeval", "gpteval"):
        return INSTRUCTIONS[metric]
    if metric in ("manipulateeval", "agenticnaveval"):
        return INSTRUCTIONS["plan"]
    if fmt == "judge" or metric == "judge":
        return INSTRUCTIONS["judge"]
    if fmt == "multiple-choice":
        return INSTRUCTIONS["multiple-choice"]
    return INSTRUCTIONS["number"]


def _sample(row: dict[str, Any], root: Path, ctx: LoadContext) -> Sample:
    """One parquet row -> a Sample. Raises ValueError naming the bad field."""
    sid = row.get("session_id")
    if sid is None or not str(sid).strip():
        raise ValueError("field 'session_id' is missing or empty")
    question = row.get("question")
    if not isinstance(question, str) or not question.strip():
        raise ValueError("field 'question' is missing or empty")
    raw_info = row.get("extra_info")
    if isinstance(raw_info, str):
        try:
            info = json.loads(raw_info) if raw_info.strip() else {}
        except json.JSONDecodeError as e:
            raise ValueError(f"field 'extra_info' is not valid JSON ({e.msg})") from e
    else:
        info = raw_info or {}
    if not isinstance(info, dict):
        raise ValueError("field 'extra_info' is not a JSON object")
    fmt = str(row.get("question_type") or "open")
    metric = str(info.get("metricfunc") or "")
    videos = [p for v in _as_list(row.get("video")) if v and (p := _media(v, root, ctx)) is not None]
    images = [p for v in _as_list(row.get("image")) if v and (p := _media(v, root, ctx)) is not None]
    if videos:
        inputs: list[dict[str, Any]] = [{"kind": "video", "path": str(videos[0])}]
        media = [videos[0]]
    else:
        inputs = images_inputs(list(images))
        media = images
    if not inputs:
        raise ValueError("the row has neither a video nor an image")
    option_raw = _as_list(row.get("option"))
    choices = [str(c) for c in option_raw if c is not None]
    answer_raw = row.get("answer")
    answer = None if answer_raw is None else str(answer_raw)
    extra: dict[str, Any] = {
        "metricfunc": metric,
        "format": fmt,
        "hint": "" if row.get("hint") is None else str(row.get("hint")),
        "option_raw": [None if c is None else str(c) for c in option_raw],
        "spatree": {k: v for k, v in info.items() if re.fullmatch(r"spatree\d+", k)},
        "leaf": leaf_of(info),
    }
    if answer is not None and len(answer) > _LONG_ANSWER:
        extra["answer_full"] = answer
        answer = f"({metric or 'long'} answer: {len(answer)} characters, kept for scoring)"
    vinfo = _as_list(row.get("video_info"))
    if videos and vinfo and isinstance(vinfo[0], dict) and vinfo[0].get("frame_index") is not None:
        extra["frame_index"] = [int(i) for i in _as_list(vinfo[0]["frame_index"])]
    level = info.get("spatree0")
    path = "/".join(str(info[k]) for k in ("spatree0", "spatree1", "spatree2") if info.get(k))
    return Sample(
        benchmark=NAME,
        source_id=str(sid),
        question=question,
        inputs=inputs,
        answer=answer,
        choices=choices or None,
        question_type=path or fmt,
        category=str(level) if level else None,
        instruction=_instruction(fmt, metric),
        media=media,
        extra=extra,
    )


def load(root: Path, ctx: LoadContext) -> Loaded:
    """Read ``<data root>/spatialtree/annotations_plain.parquet`` in file order."""
    path = BENCHMARKS[0].require(root, ANNOTATIONS)
    rows = RowCollector("session_id")
    for i, row in enumerate(read_parquet(path)):
        sid = row.get("session_id")
        rows.add(f"{ANNOTATIONS} row {i}", None if sid is None else str(sid), _sample, row, root, ctx)
    return rows.loaded()


# --- official metrics: lmms-eval metrics/rule_metrics.py ----------------------------------------------------

_MC_PHRASES = tuple(
    re.compile(p)
    for p in (
        r"The correct option is ([A-Z])",
        r"The answer is ([A-Z])",
        r"The correct answer is ([A-Z])",
        r"Option ([A-Z]) is correct",
        r"The right choice is ([A-Z])",
        r"Thus, the answer is ([A-Z])",
        r"Therefore, the correct option is ([A-Z])",
        r"The answer should be ([A-Z])",
        r"Hence, the correct answer is ([A-Z])",
        r"The correct choice is ([A-Z])",
        r"Accordingly, the answer is ([A-Z])",
        # two adjacent literals in the released list join into this one pattern
        r"Consequently, the correct option is ([A-Z])The correct option is ([A-Z])",
        r"Answer: ([A-Z])",
        r"Answer ([A-Z])",
        r"Choice ([A-Z])",
        r"Select ([A-Z])",
        r"([A-Z]) is correct",
        r"([A-Z]) is the answer",
        r"([A-Z]) is the correct option",
        r"Correct: ([A-Z])",
        r"Right: ([A-Z])",
        r"<\|begin_of_box\|>([A-Z])<\|end_of_box\|>",
    )
)
"""The released pattern list in order (its four repeated entries, which can never fire first, left out)."""


def official_mc_choice(response: str, options: Sequence[Any]) -> str | None:
    """lmms-eval's ``parse_multi_choice_response``: the option letter read from ``response``, or None where the
    released code picks a random option (no candidate found).

    Order: the first of the phrase patterns that matches with a valid letter; the only letter occurring anywhere
    after the last ``"Answer:"``; then, with ``, . ! ? ; : '`` stripped from both ends and a space added at each end:
    letters written ``(X)``; else letters followed by a space; else letters followed by ``.``; else (more than five
    words) options whose text occurs in the response. Several candidates: the one occurring last.
    """
    letters = [chr(ord("A") + i) for i in range(len(options))]
    index2ans = dict(zip(letters, options, strict=True))
    for pat in _MC_PHRASES:
        m = pat.search(response)
        if m and m.group(1) in letters:
            return m.group(1)
    pos = response.rfind("Answer:")
    if pos != -1:
        tail = response[pos + len("Answer:") :].strip()
        hits = [c for c in letters if c in tail]
        if len(hits) == 1:
            return hits[0]
    for ch in (",", ".", "!", "?", ";", ":", "'"):
        response = response.strip(ch)
    response = " " + response + " "
    by_index = True
    bracketed = False
    candidates = [c for c in letters if f"({c})" in response]
    if candidates:
        bracketed = True
    if not candidates:
        candidates = [c for c in letters if f"{c} " in response]
    if not candidates:
        candidates = [c for c in letters if f"{c}." in response]
    if not candidates and len(response.split()) > 5:
        candidates = [c for c in letters if index2ans[c].lower() in response.lower()]
        by_index = not candidates
    if not candidates:
        return None
    if len(candidates) == 1:
        return candidates[0]
    if by_index:
        starts = [response.rfind(f"({c})" if bracketed else f" {c} ") for c in candidates]
    else:
        starts = [response.lower().rfind(index2ans[c].lower()) for c in candidates]
    return candidates[int(np.argmax(starts))]


def _multichoiceeval(response: str, answer: str, info: dict[str, Any]) -> float:
    options = info["option"]
    letters = [chr(ord("A") + i) for i in range(len(options))]
    picked = official_mc_choice(response, options)
    if picked is None:
        # random.choice(all_choices): scored as its expected value; an empty option list raises (-> 0)
        if not letters:
            raise IndexError("no options")
        return (1.0 / len(letters)) if answer in letters else 0.0
    return 1.0 if picked == answer else 0.0


_NUMBER = re.compile(r"-?\d+\.?\d*")


def official_number(response: str) -> str:
    """lmms-eval's ``find_number``: the first ``-?\\d+\\.?\\d*`` after removing every comma (``"1,200"`` ->
    ``"1200"``), or ``""``. The released code also strips coordinate pairs like ``(x, y)`` first, but those patterns
    need a comma, which is already gone, so they never apply."""
    m = _NUMBER.search(response.replace(",", ""))
    return m.group() if m else ""


def _meanrelativeacc(response: str, answer: str, info: dict[str, Any]) -> float:  # noqa: ARG001
    pred = float(official_number(response))  # "" raises ValueError -> 0
    gt = float(answer)
    if gt == 0:
        raise ZeroDivisionError("float division by zero")  # abs(pred - gt) / gt in the released code
    return vsi_mra(pred, gt)


def official_yes_no(text: str) -> str:
    """lmms-eval's ``parse_last_yes_no``: ``"yes"`` or ``"no"``, whichever occurs last as a substring of the
    lowercased text (``"not"``, ``"know"`` count as no), ``"other"`` when neither occurs."""
    if not text:
        return "other"
    low = text.lower()
    y, n = low.rfind("yes"), low.rfind("no")
    if y == -1 and n == -1:
        return "other"
    return "yes" if y > n else "no"


def _judge(response: str, answer: str, info: dict[str, Any]) -> float:  # noqa: ARG001
    return 1.0 if answer.lower() == official_yes_no(response) else 0.0


_ROLL = re.compile(r"[\"']?roll[\"']?\s*[:=]\s*(-?\d+\.?\d*)", re.I)
_PITCH = re.compile(r"[\"']?pitch[\"']?\s*[:=]\s*(-?\d+\.?\d*)", re.I)
_VFOV = re.compile(r"[\"']?vfov[\"']?\s*[:=]\s*(-?\d+\.?\d*)", re.I)
_TRAILING_COMMA = re.compile(r",\s*([}\]])")


def _gravityeval(response: str, answer: str, info: dict[str, Any]) -> float:
    m = re.search(r"```json\n(.*?)\n```", response, re.S) or re.search(r"```\n(.*?)\n```", response, re.S)
    if m:
        text = m.group(1)
    else:
        start, end = response.find("{"), response.rfind("}")
        if start != -1 and end != -1 and start < end:
            text = response[start : end + 1]
        else:
            r, p, v = _ROLL.search(response), _PITCH.search(response), _VFOV.search(response)
            if r and p and v:
                text = f'{{"roll": {r.group(1)}, "pitch": {p.group(1)}, "vfov": {v.group(1)}}}'
            else:
                text = response
    try:
        pred = json.loads(text)
    except json.JSONDecodeError:
        try:
            pred = json.loads(_TRAILING_COMMA.sub(r"\1", text))
        except json.JSONDecodeError:
            return 0.0
    gt = json.loads(answer)
    values = (pred.get("roll"), pred.get("pitch"), pred.get("vfov"))
    if any(v is None for v in values):
        return 0.0
    total = 0.0
    for key, value in zip(("roll", "pitch", "vfov"), values, strict=True):
        diff = abs(value - gt[key])
        unc = 1 * info[f"{key}_unc"]
        s = np.exp(-(diff**2) / (2 * (unc**2))) if unc > 0 else 0
        total += max(0, min(s, 1))
    return float(total / 3.0)


_POINT_PATTERNS = (
    (re.compile(r"(?i)x\s*[:=]\s*([-+]?\d+(?:\.\d+)?)\D+?y\s*[:=]\s*([-+]?\d+(?:\.\d+)?)"), "xy"),
    (re.compile(r"(?i)y\s*[:=]\s*([-+]?\d+(?:\.\d+)?)\D+?x\s*[:=]\s*([-+]?\d+(?:\.\d+)?)"), "yx"),
    (re.compile(r"\(\s*([-+]?\d+(?:\.\d+)?)\s*,\s*([-+]?\d+(?:\.\d+)?)\s*\)"), "xy"),
    (re.compile(r"\[\s*([-+]?\d+(?:\.\d+)?)\s*,\s*([-+]?\d+(?:\.\d+)?)\s*\]"), "xy"),
    (re.compile(r"([-+]?\d+(?:\.\d+)?)\s*,\s*([-+]?\d+(?:\.\d+)?)"), "xy"),
)


def official_point(text: str) -> tuple[float, float] | None:
    """lmms-eval's ``extract_last_point``: of every ``x=.. y=..``, ``y=.. x=..``, ``(x, y)``, ``[x, y]`` or ``x, y``
    match, the one ending last (earlier patterns win ties), as (x, y)."""
    best: tuple[int, float, float] | None = None
    s = text.strip()
    for regex, order in _POINT_PATTERNS:
        for m in regex.finditer(s):
            a, b = float(m.group(1)), float(m.group(2))
            x, y = (a, b) if order == "xy" else (b, a)
            if best is None or m.end() > best[0]:
                best = (m.end(), x, y)
    return None if best is None else (best[1], best[2])


def _decode_mask(value: str) -> np.ndarray | None:
    """A base64 image (``data:...;base64,`` prefix allowed) as a uint8 grayscale array, or None (the released code
    decodes with OpenCV's IMREAD_GRAYSCALE; Pillow's ``L`` conversion is the same for grayscale masks)."""
    if not value:
        return None
    b64 = value.split("base64,", 1)[-1] if "base64," in value else value
    try:
        data = base64.b64decode(b64, validate=False)
    except Exception:  # noqa: BLE001 - binascii.Error and friends, as the released code catches everything
        try:
            data = base64.b64decode(b64 + "===")
        except Exception:  # noqa: BLE001
            return None
    if not data:
        raise ValueError("empty mask buffer")  # cv2.imdecode raises on an empty buffer
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as im:
            return np.asarray(im.convert("L"))
    except Exception:  # noqa: BLE001 - cv2.imdecode returns None for undecodable bytes
        return None


def _affmask(response: str, answer: str, info: dict[str, Any]) -> float:  # noqa: ARG001
    point = official_point(response)
    if point is None:
        return 0.0
    x, y = point
    mask = _decode_mask(answer)
    if mask is None or mask.size == 0:
        return 0.0
    h, w = mask.shape[:2]
    if 0.0 <= x <= 1.0 and 0.0 <= y <= 1.0:
        col, row = int(round(x * (w - 1))), int(round(y * (h - 1)))
    else:
        col, row = int(round(x)), int(round(y))
    col, row = max(0, min(w - 1, col)), max(0, min(h - 1, row))
    return float(min(1.0, max(0.0, float(mask[row, col]) / 255.0)))


_SYMBOLS = {
    "W": "Dolly In",
    "S": "Dolly Out",
    "A": "Truck Left",
    "D": "Truck Right",
    "space": "Pedestal Up",
    "shift": "Pedestal Down",
    "←": "Pan Left",
    "→": "Pan Right",
    "↑": "Tilt Up",
    "↓": "Tilt Down",
    "↺": "Roll CCW",
    "↻": "Roll CW",
    "STOP": "Stay",
}


def _parse_plan(response: str) -> dict[str, Any]:
    """The JSON object of an action plan (```json block, ``` block, outermost braces, or the whole text; trailing
    commas forgiven; Python literals accepted). Raises ValueError when none is a dict."""
    m = re.search(r"```json\s*(.*?)\s*```", response, re.S) or re.search(r"```\s*(.*?)\s*```", response, re.S)
    if m:
        text = m.group(1)
    else:
        start, end = response.find("{"), response.rfind("}")
        text = response[start : end + 1] if start != -1 and end != -1 and end > start else response
    plan: Any = None
    try:
        plan = json.loads(text)
    except json.JSONDecodeError:
        try:
            plan = json.loads(_TRAILING_COMMA.sub(r"\1", text))
        except json.JSONDecodeError:
            try:
                plan = ast.literal_eval(text)
            except (ValueError, SyntaxError):
                pass
    if not isinstance(plan, dict):
        raise ValueError("the plan is not a JSON object")
    return plan


_MOTIONS: dict[str, tuple[bool, int, int]] = {
    # action -> (rotation?, axis, sign): translations x right, y down, z forward; rotations yaw, pitch, roll
    "Dolly In": (False, 2, 1),
    "Dolly Out": (False, 2, -1),
    "Truck Right": (False, 0, 1),
    "Truck Left": (False, 0, -1),
    "Pedestal Up": (False, 1, -1),
    "Pedestal Down": (False, 1, 1),
    "Pan Right": (True, 0, 1),
    "Pan Left": (True, 0, -1),
    "Tilt Up": (True, 1, 1),
    "Tilt Down": (True, 1, -1),
    "Roll CW": (True, 2, 1),
    "Roll CCW": (True, 2, -1),
}
"""The symbolic camera actions of SpatialTree's trajectory tasks, as the released ``rule_metrics.py`` applies them."""


def _apply_actions(pose: np.ndarray, actions: Any, steps: Any, t_step: Any, r_step: Any) -> np.ndarray:
    """One segment of symbolic actions applied to ``pose`` (7: x, y, z, qx, qy, qz, qw): translations summed in
    the pose's frame as written (x right, y down, z forward), then a ``zyx`` Euler rotation (yaw, pitch, roll)
    composed on the left; returns the new 7-vector with a unit quaternion."""
    from scipy.spatial.transform import Rotation

    pos = pose[:3]
    rot = Rotation.from_quat(pose[3:])
    move = [0.0, 0.0, 0.0]  # dx, dy, dz (metres)
    turn = [0.0, 0.0, 0.0]  # yaw, pitch, roll (radians)
    for j, symbol in enumerate(actions):
        action = _SYMBOLS.get(symbol)
        if not action or action not in _MOTIONS:
            continue
        n = steps[j] if j < len(steps) else 1
        rotation, axis, sign = _MOTIONS[action]
        if rotation:
            turn[axis] += sign * r_step * n
        else:
            move[axis] += sign * t_step * n
    new_rot = Rotation.from_euler("zyx", turn) * rot
    out = np.zeros(7)
    out[:3] = pos + np.array(move)
    quat = new_rot.as_quat()
    out[3:] = quat / (np.linalg.norm(quat) + 1e-12)
    return out


def _segment_keys(info: dict[str, Any]) -> list[str]:
    return sorted([k for k in info if "->" in k], key=lambda k: int(k.split("->")[0]))


def _step_sizes(segment: dict[str, Any]) -> tuple[Any, Any]:
    return segment.get("translation_step_size", 0.02), segment.get("rotation_step_size", np.deg2rad(0.5))


def _final_scores(pred_final: np.ndarray, gt_final: np.ndarray, initial: np.ndarray) -> tuple[float, float, float]:
    """(direction, position, rotation) scores of a final pose against the ground-truth final pose."""
    from scipy.spatial.transform import Rotation

    gt_vec, pred_vec = gt_final[:3] - initial[:3], pred_final[:3] - initial[:3]
    n_gt, n_pred = np.linalg.norm(gt_vec), np.linalg.norm(pred_vec)
    direction = 0.0
    if n_gt < 1e-6 and n_pred < 1e-6:
        direction = 1.0
    elif n_gt > 1e-6 and n_pred > 1e-6:
        direction = max(0, np.dot(gt_vec, pred_vec) / (n_gt * n_pred))
    position = np.exp(-13.863 * np.linalg.norm(pred_final[:3] - gt_final[:3]))
    err = (Rotation.from_quat(pred_final[3:]).inv() * Rotation.from_quat(gt_final[3:])).magnitude()
    rotation = np.exp(-0.0154 * (np.rad2deg(err) / 5.0) ** 2)
    return float(direction), float(position), float(rotation)


def _check_rotations(poses: np.ndarray) -> None:
    """The released code inspects the first steps' rotations (the result is unused); a bad quaternion raises."""
    from scipy.spatial.transform import Rotation

    for i in range(1, min(5, len(poses))):
        (Rotation.from_quat(poses[i - 1][3:]).inv() * Rotation.from_quat(poses[i][3:])).magnitude()


def _manipulateeval(response: str, answer: str, info: dict[str, Any]) -> float:  # noqa: ARG001
    """``manipulateeval``: each predicted segment (plan keys ordered by their first number) applied in turn from
    the first optimal pose; the final pose scored against the optimal pose after as many segments; penalties x0.7
    (ground truth moved > 0.1 m, prediction < 0.03 m) and x0.5 (ground truth rotated > 5 deg in total, prediction
    <= 2 deg)."""
    from scipy.spatial.transform import Rotation

    try:
        plan = _parse_plan(response)
    except (ValueError, SyntaxError):
        return 0.0
    optimal = np.array(info["optimal_rel_pose"])
    initial = optimal[0]
    keys = _segment_keys(info)
    try:
        pred_keys = sorted(plan.keys(), key=lambda k: int(re.search(r"\d+", k).group()))  # type: ignore[union-attr]
    except (AttributeError, ValueError):
        pred_keys = sorted(plan.keys())
    poses = [initial.copy()]
    current = initial.copy()
    for i, key in enumerate(pred_keys):
        if i >= len(keys):
            break
        t_step, r_step = _step_sizes(info[keys[i]])
        segment = plan[key]
        if not isinstance(segment, dict):
            continue
        current = _apply_actions(current, segment.get("actions", []), segment.get("step_nums", []), t_step, r_step)
        poses.append(current)
    predicted = np.array(poses)
    n_segments = len(predicted) - 1
    gt_final = optimal[: n_segments + 1][-1]
    pred_final = predicted[-1]
    _check_rotations(optimal)
    direction, position, rotation = _final_scores(pred_final, gt_final, initial)
    penalty = 1.0
    gt_move = np.linalg.norm(gt_final[:3] - initial[:3])
    pred_move = np.linalg.norm(pred_final[:3] - initial[:3])
    if gt_move > 0.1 and pred_move < 0.03:
        penalty *= 0.7
    gt_rotates = False
    if len(optimal) > 1:
        total = sum(
            (Rotation.from_quat(optimal[i - 1][3:]).inv() * Rotation.from_quat(optimal[i][3:])).magnitude()
            for i in range(1, len(optimal))
        )
        gt_rotates = total > np.deg2rad(5)
    pred_rotates = False
    if len(predicted) > 1:
        total = sum(
            (Rotation.from_quat(predicted[i - 1][3:]).inv() * Rotation.from_quat(predicted[i][3:])).magnitude()
            for i in range(1, len(predicted))
        )
        pred_rotates = total > np.deg2rad(2)
    if gt_rotates and not pred_rotates:
        penalty *= 0.5
    final = (0.4 * direction + 0.35 * position + 0.25 * rotation) * penalty
    return float(max(0.0, min(1.0, final)))


def _agenticnaveval(response: str, answer: str, info: dict[str, Any]) -> float:  # noqa: ARG001
    """``agenticnaveval``: one action segment (the plan's ``actions``/``step_nums``, step sizes of the last
    ``i->j`` segment) applied from the second-to-last optimal pose. Quirk kept: the released code takes the length
    of that single 7-vector pose as the trajectory length, so the target is ``optimal[:7][-1]``."""
    try:
        plan = _parse_plan(response)
    except (ValueError, SyntaxError):
        return 0.0
    optimal = np.array(info["optimal_rel_pose"])
    initial = optimal[-2]
    keys = _segment_keys(info)
    t_step, r_step = _step_sizes(info[keys[-1]])
    predicted = _apply_actions(initial.copy(), plan.get("actions", []), plan.get("step_nums", []), t_step, r_step)
    n_segments = len(predicted) - 1
    gt_final = optimal[: n_segments + 1][-1]
    _check_rotations(optimal)
    direction, position, rotation = _final_scores(predicted, gt_final, initial)
    final = 0.4 * direction + 0.35 * position + 0.25 * rotation
    return float(max(0.0, min(1.0, final)))


OFFICIAL_METRICS: dict[str, Callable[[str, str, dict[str, Any]], float]] = {
    "gravityeval": _gravityeval,
    "multichoiceeval": _multichoiceeval,
    "meanrelativeacc": _meanrelativeacc,
    "judge": _judge,
    "affmask": _affmask,
    "manipulateeval": _manipulateeval,
    "agenticnaveval": _agenticnaveval,
}


def _answer(sample: Sample) -> str:
    full = sample.extra.get("answer_full")
    return str(full if full is not None else sample.answer)


class SpatialTreeOfficial(Scoring):
    """lmms-eval ``spatialtreebench_process_results`` per row and ``spatialtreebench_aggregate_results`` (the
    weighted capability tree)."""

    name = "official"
    sources = OFFICIAL_SOURCES
    description = "metricfunc-specific rule metrics; weighted tree of leaf means (spatree_hierarchy.json)"

    def score(self, sample: Sample, prediction: str | None) -> float | None:
        if sample.answer is None:
            return None
        metric = str(sample.extra.get("metricfunc") or "")
        if metric in UNSCORED_OFFICIAL:
            return None
        fn = OFFICIAL_METRICS.get(metric)
        if fn is None:
            return 0.0  # "No metric function found": the released code scores 0
        response = prediction if isinstance(prediction, str) else ""
        fmt = sample.extra.get("format")
        try:
            hint = sample.extra.get("hint", "")
            info = json.loads(hint) if hint != "" else {}
            if metric == "multichoiceeval" and fmt != "open":
                info.update({"option": sample.extra.get("option_raw", [])})
            elif metric == "multichoiceeval" and fmt == "open":
                fn = _meanrelativeacc
            value = float(fn(response, _answer(sample), info))
        except Exception:  # noqa: BLE001 - the released code scores any metric error 0
            return 0.0
        return value if math.isfinite(value) else 0.0

    def aggregate(self, items: Sequence[Scored]) -> Aggregate:
        return tree_aggregate(items)


def tree_leaves() -> list[str]:
    """The 27 leaf abilities of the hierarchy, in tree order."""
    return [leaf for _, abilities in HIERARCHY.values() for _, leaves in abilities.values() for leaf in leaves]


def tree_aggregate(items: Sequence[Scored]) -> Aggregate:
    """The weighted capability tree: leaf = mean score of its rows; node = sum(w * child) / sum(w) over children;
    overall = the root. A leaf with no rows counts 0 (released code); a leaf whose rows are all unscored is left
    out (with its weight) of its parent, and so is a node whose children are all left out.

    ``per_task`` holds every node's score by path (``L1``, ``L1/Geometry``, ``L1/Geometry/Distance``, ...).
    """
    leaf_scores: dict[str, list[float]] = {}
    unscored_leaves: set[str] = set()
    for s in items:
        leaf = s.sample.extra.get("leaf")
        if not leaf:
            continue
        if s.score is None:
            unscored_leaves.add(str(leaf))
        else:
            leaf_scores.setdefault(str(leaf), []).append(float(s.score))
    means = {k: float(np.mean(v)) for k, v in leaf_scores.items()}
    per_task: dict[str, float] = {}
    zero_leaves: list[str] = []
    excluded: list[str] = []

    def weighted(children: list[tuple[float, float | None]]) -> float | None:
        kept = [(w, v) for w, v in children if v is not None]
        if not kept:
            return None
        total = sum(w for w, _ in kept)
        return sum(w * v for w, v in kept) / total if total > 0 else 0.0

    levels: list[tuple[float, float | None]] = []
    for level, (lw, abilities) in HIERARCHY.items():
        ability_scores: list[tuple[float, float | None]] = []
        for ability, (aw, leaves) in abilities.items():
            leaf_list: list[tuple[float, float | None]] = []
            for leaf, w in leaves.items():
                key = leaf.replace(" ", "")
                path = f"{level}/{ability}/{leaf}"
                if key in means:
                    value: float | None = means[key]
                elif key in unscored_leaves:
                    value = None
                    excluded.append(path)
                else:
                    value = 0.0
                    zero_leaves.append(path)
                if value is not None:
                    per_task[path] = value
                leaf_list.append((w, value))
            a = weighted(leaf_list)
            if a is not None:
                per_task[f"{level}/{ability}"] = a
            ability_scores.append((aw, a))
        lv = weighted(ability_scores)
        if lv is not None:
            per_task[level] = lv
        levels.append((lw, lv))
    scored = sum(1 for s in items if s.score is not None)
    overall = weighted(levels) if scored else None
    notes: list[str] = []
    n_unscored = sum(1 for s in items if s.score is None)
    if n_unscored:
        kinds = sorted({str(s.sample.extra.get("metricfunc")) for s in items if s.score is None})
        notes.append(f"{n_unscored} rows unscored ({', '.join(kinds)}: not computed here) and excluded")
    if excluded:
        notes.append(f"leaves with only unscored rows left out of the weighted tree: {', '.join(excluded)}")
    if zero_leaves and scored:
        notes.append(
            f"{len(zero_leaves)} of {len(tree_leaves())} leaves have no rows in this run and count 0, as in the "
            "released aggregation"
        )
    outside = sorted(set(means) - {leaf.replace(" ", "") for leaf in tree_leaves()})
    if outside:
        notes.append(f"leaf tags not in the hierarchy (not counted): {', '.join(outside)}")
    return Aggregate(overall=overall, per_task=per_task, n=len(items), scored=scored, notes=notes)


# --- paper: SpatialClaw spatial_agent/evals/spatialtree.py -----------------------------------------------------

_PAPER_METRIC_KIND = {
    "meanrelativeacc": "mra",
    "meanrelativeacc2": "mra",
    "accuracy": "accuracy",
    "exact_match": "accuracy",
    "angulardifference": "mra",
    "l2distance": "mra",
    "successrate": "accuracy",
}


def paper_number(prediction: str) -> str | None:
    """SpatialClaw's ``_fuzzy_matching_num``: the digit of the first number word (checked in the order one ... ten,
    zero, as whole words) found, else the first unsigned ``\\d+(\\.\\d+)?``, else None."""
    return number_text(prediction)


def paper_mc_letter(prediction: str) -> str:
    """SpatialClaw's ``_extract_mc_answer``: ``\\boxed{x}``; the first ``X.``, ``(X)``, ``X:`` (A-K, any case);
    a first token that is one letter (optionally with a period); else the stripped prediction."""
    if not prediction:
        return ""
    p = prediction.strip()
    marked = boxed_letter(p, "A-Za-z") or marked_letter(p, "A-K")
    if marked:
        return marked
    token = first_token_letter(p, "A-Za-z") or p.strip()
    return token.upper() if len(token) == 1 and token.isalpha() else token


def _to_float(text: str | None) -> float | None:
    try:
        return float(text)  # type: ignore[arg-type]
    except (ValueError, TypeError):
        return None


class SpatialTreePaper(Scoring):
    """SpatialClaw's ``SpatialTreeBench._score_sample`` / ``evaluate``."""

    name = "paper"
    sources = PAPER_SOURCES
    description = "MC letter / MRA over |gt| / last yes-no; six metricfuncs unscored; mean over scored rows"

    def score(self, sample: Sample, prediction: str | None) -> float | None:
        if sample.answer is None:
            return None
        metric = str(sample.extra.get("metricfunc") or "")
        if metric in UNSCORED_PAPER:
            return None
        kind = _PAPER_METRIC_KIND.get(metric, "accuracy")
        fmt = sample.extra.get("format")
        pred = (prediction or "").strip()
        answer = _answer(sample)
        if fmt == "multiple-choice":
            return 1.0 if paper_mc_letter(pred) == answer.strip().upper() else 0.0
        if kind == "mra":
            p = _to_float(paper_number(pred)) if pred else None
            g = _to_float(answer)
            return abs_mra(p, g) if p is not None and g is not None and g != 0 else 0.0
        if fmt == "judge":
            low = pred.lower()
            y, n = low.rfind("yes"), low.rfind("no")
            said = "yes" if y > n else "no" if n > y else low
            return 1.0 if said == answer.strip().lower() else 0.0
        # fallback (e.g. an open row tagged multichoiceeval): numeric MRA when both parse, else exact text
        p = _to_float(paper_number(pred)) if pred else None
        g = _to_float(answer)
        if p is not None and g is not None and g != 0:
            return abs_mra(p, g)
        return 1.0 if pred.lower() == answer.strip().lower() else 0.0

    def aggregate(self, items: Sequence[Scored]) -> Aggregate:
        """Overall = mean over scored rows; per_task = the mean per level (``spatree0``) and per ``level/ability``."""
        agg = mean_over_samples(items, _paper_level, lambda s: f"{_paper_level(s)}/{_tags(s).get('spatree1', '')}")
        unscored = len(items) - agg.scored
        if unscored:
            kinds = sorted({str(s.sample.extra.get("metricfunc")) for s in items if s.score is None})
            agg.notes.append(
                f"{unscored} rows unscored ({', '.join(kinds)}) and excluded, as SpatialClaw's evaluation does it"
            )
        return agg


def _tags(s: Scored) -> dict[str, Any]:
    return s.sample.extra.get("spatree", {})


def _paper_level(s: Scored) -> str:
    return str(_tags(s).get("spatree0", ""))


BENCHMARKS = (
    Benchmark(
        name=NAME,
        title="SpatialTree-Bench",
        hf_repo="LongfeiLi/SpatialTree-Bench",
        category="General spatial",
        layout=(
            "annotations_plain.parquet (session_id, question, question_type, option, answer, hint, video, "
            "video_info, image, extra_info{spatree0-2, metricfunc}) + images/, videos/"
        ),
        load=load,
        scorings={"official": SpatialTreeOfficial(), "paper": SpatialTreePaper()},
        published_count=6300,
    ),
)
