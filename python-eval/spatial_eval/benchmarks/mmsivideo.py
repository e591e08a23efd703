"""MMSI-Video-Bench (Lin, Xu et al. 2025), Hugging Face ``rbler/MMSI-Video-Bench``: 1106 human-written
multiple-choice questions on 1278 video clips, answered from frames pre-extracted at each clip's base rate, some
with reference images.

Layout (``<data root>/mmsivideo/``, after unzipping ``frames.zip``, ``ref_images.zip`` and ``videos.zip``)::

    mmsivideo.json        a JSON list, one object per question, in the published order
    frames/<path>         the frames named in ``frames_list`` ("{timestamp}_frame_{interval}_{n}.jpg")
    ref_images/<path>     the reference images named in ``ref_images``
    videos/<path>         the clips named in ``video_list`` (not needed: the frames are the input)

Row fields read: ``id`` (``question_0051``), ``type`` (13 task names such as ``(Cross-Video) Memoery Update``, typo
as published), ``ori_question`` (the question; one ``<image>`` tag per reference image), ``options`` (a list),
``ground_truth`` (the option letter), ``frames_list`` (one list of frame paths per video), ``video_list``
(``path``, ``start``, ``end``, ``base_fps`` per video), ``ref_images`` (paths), ``hint``; the prompt fields
``system_prompt``, ``task_prompt``, ``user_prompt``, ``format_prompt`` are kept in ``extra``.

Inputs: one ``images`` entry per video (the frames, in ``frames_list`` order: the frames' own folder when it holds
exactly those frames, else a folder of links written once under the cache), then one ``images`` entry per reference
image; ``extra["reference_inputs"]`` lists the positions of the reference-image inputs. In the question each
``<image>`` tag becomes ``[reference image N]`` (when the counts agree, as SpatialClaw does).

Scoring:

* ``official`` follows InternRobotics/MMSI-Video-Bench ``evaluation.py`` at b8da92ce: ``<answer>`` tags removed; a
  reply containing ``no answer`` is unanswered; else the text after the first ``boxed{`` up to ``}``; else, for the
  first of ``"answer":``, ``answer is``, ``answer:``, ``"Answer":``, ``Answer is``, ``Answer:`` found, the text after
  its last occurrence up to the first ``,`` then ``.``; else the text before the first ``.``. The piece loses spaces,
  quotes, newlines and colons and must then be one of ``A``-``F`` (case-sensitive) and equal the published
  ``ground_truth``; anything else scores 0. Overall = mean over all questions; per_task = mean per ``type``.
* ``paper`` follows SpatialClaw ``spatial_agent/evals/mmsivideo.py`` (``evaluate``) with the shared
  ``BaseBenchmark.extract_answer`` of ``spatial_agent/evals/base.py`` at b062f829: ``\\boxed{X}``, else the first
  letter followed by ``.``, ``:`` or ``)`` anywhere (``Answer: B`` gives ``R``), else the only letter of the reply,
  else the reply itself; correct when that equals ``ground_truth.strip().upper()``. Overall = correct / total;
  per_task = accuracy per ``type``.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from spatial_eval.extract import base_answer
from spatial_eval.files import letter, read_json
from spatial_eval.types import Aggregate, Benchmark, LoadContext, Loaded, RowCollector, Sample, Scored, Scoring, Source

NAME = "mmsivideo"
ANNOTATIONS = "mmsivideo.json"

MAIN_TYPES: tuple[str, ...] = (
    "(Cross-Video) Memoery Update",
    "(Cross-Video) Multi-View Integration",
    "Planning",
    "Prediction",
    "(Motion Understanding) Camera Motion",
    "(Motion Understanding) Instance Motion",
    "(Motion Understanding) Interactive Motion",
    "(Spatial Construction) Instance-Instance Spatial Relationship",
    "(Spatial Construction) Instance-Scene Spatial Relationship",
    "(Spatial Construction) Scene-Scene Spatial Relationship",
    "(Spatial Construction) Instance/Scene Attribute",
    "(Spatial Construction) Camera-Instance Spatial Relationship",
    "(Spatial Construction) Camera-Scene Spatial Relationship",
)
"""The 13 task types of the main bench, in the order ``evaluation.py`` prints them (``Memoery`` as published)."""

OFFICIAL_LETTERS = ("A", "B", "C", "D", "E", "F")

OFFICIAL_SOURCES = (
    Source(
        "InternRobotics/MMSI-Video-Bench",
        "evaluation.py",
        "b8da92ce534767430cf19f362e47e3073d1d185a",
        "extract_answer and the main-bench loop",
    ),
)
PAPER_SOURCES = (Source.spatialclaw("mmsivideo.py"), Source.spatialclaw("base.py", "BaseBenchmark.extract_answer"))

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pnm", ".gif"})
"""The suffixes the kernel's ``images`` input lists in a folder (spatial_runtime.inputs.common)."""

_OPTION_MARK = re.compile(r"^\s*\(?[A-Fa-f]\s*[.):]")
_ID_BAD = re.compile(r"[^A-Za-z0-9_.-]+")


def category_of(qtype: str) -> str:
    """The major category of a task type: the parenthesised prefix (``(Motion Understanding) Camera Motion`` ->
    ``Motion Understanding``), else the type itself (``Planning``, ``Prediction``)."""
    m = re.match(r"\(([^)]*)\)", qtype.strip())
    return m.group(1).strip() if m else qtype.strip()


def natural_key(name: str) -> list[Any]:
    """The kernel's order of a folder of images: digit runs compare as numbers, the rest case-insensitively."""
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", name)]


def _folder_images(folder: Path) -> list[Path]:
    return sorted(
        (
            p
            for p in folder.iterdir()
            if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES
        ),
        key=lambda p: natural_key(p.name),
    )


def frames_input(frames: list[Path], link_dir: Path) -> Path:
    """The path to bind for one video's frames (``images`` input) so that the kernel sees exactly ``frames`` in order.

    One frame: the file. All frames in one folder that holds exactly them (in the kernel's natural name order): that
    folder. A folder not on disk (frames not downloaded): that folder, so ``check`` reports the missing frames.
    Otherwise: ``link_dir``, filled once with links ``00000.jpg``, ``00001.jpg``... to the frames (copies where links
    are not allowed).
    """
    if len(frames) == 1:
        return frames[0]
    parents = {f.parent for f in frames}
    if len(parents) == 1:
        folder = next(iter(parents))
        if not folder.exists():
            return folder
        if folder.is_dir() and _folder_images(folder) == frames:
            return folder
    link_dir.mkdir(parents=True, exist_ok=True)
    for i, f in enumerate(frames):
        link = link_dir / f"{i:05d}{f.suffix.lower() or '.jpg'}"
        if link.is_symlink() or link.exists():
            continue
        try:
            os.symlink(f, link)
        except FileExistsError:  # another process made it meanwhile
            continue
        except OSError:
            if f.exists():
                shutil.copyfile(f, link)
    return link_dir


def _str_list(value: Any, field: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"field {field!r} must be a list of strings")
    return list(value)


def _choices(options: Sequence[Any]) -> list[str]:
    """The options as the agent sees them: kept when they already start with their letter (``A. ...``), else given
    one (``A. <text>``, as SpatialClaw's prompt does)."""
    out = []
    for i, o in enumerate(options):
        text = str(o)
        out.append(text if _OPTION_MARK.match(text) else f"{letter(i)}. {text}")
    return out


def _instruction(n_videos: int, n_refs: int) -> str:
    if n_videos == 1:
        parts = ["Input 1 holds the video's frames in time order."]
    else:
        parts = [f"Inputs 1-{n_videos} are the {n_videos} videos, each as its frames in time order."]
    if n_refs == 1:
        parts.append(f"Input {n_videos + 1} is reference image 1.")
    elif n_refs > 1:
        parts.append(f"Inputs {n_videos + 1}-{n_videos + n_refs} are reference images 1-{n_refs}, in that order.")
    parts.append("Reply with the letter of the correct option only.")
    return " ".join(parts)


def _sample(root: Path, cache: Path, item: Any) -> Sample:
    """One question -> a Sample. Raises ValueError naming the bad field."""
    if not isinstance(item, dict):
        raise ValueError("the row is not a JSON object")
    for k in ("id", "type", "ground_truth"):
        if item.get(k) is None or not str(item[k]).strip():
            raise ValueError(f"field {k!r} is missing or empty")
    sid = str(item["id"])
    qtype = str(item["type"])
    question = item.get("ori_question")
    if not isinstance(question, str) or not question.strip():
        raise ValueError("field 'ori_question' is missing or empty")
    groups = item.get("frames_list")
    if not isinstance(groups, list) or not groups:
        raise ValueError("field 'frames_list' must be a non-empty list of frame lists")
    frame_groups: list[list[Path]] = []
    for k, g in enumerate(groups):
        names = _str_list(g, f"frames_list[{k}]")
        if not names:
            raise ValueError(f"frames_list[{k}] is empty")
        frame_groups.append([root / "frames" / n for n in names])
    refs = [root / "ref_images" / p for p in _str_list(item.get("ref_images"), "ref_images")]
    options = item.get("options")
    if options is not None and not isinstance(options, (list, tuple)):
        raise ValueError("field 'options' must be a list")
    options = list(options or [])
    video_list = item.get("video_list") or []
    if not isinstance(video_list, list):
        raise ValueError("field 'video_list' must be a list")

    tags = question.count("<image>")
    if refs and tags == len(refs):
        for n in range(1, len(refs) + 1):
            question = question.replace("<image>", f"[reference image {n}]", 1)

    safe = _ID_BAD.sub("_", sid)
    inputs: list[dict[str, Any]] = []
    for k, frames in enumerate(frame_groups):
        path = frames_input(frames, cache / "frames" / safe / f"video_{k + 1}")
        inputs.append({"kind": "images", "path": str(path)})
    reference_inputs = list(range(len(inputs), len(inputs) + len(refs)))
    inputs += [{"kind": "images", "path": str(p)} for p in refs]

    return Sample(
        benchmark=NAME,
        source_id=sid,
        question=question,
        inputs=inputs,
        answer=str(item["ground_truth"]),
        choices=_choices(options) if options else None,
        question_type=qtype,
        category=category_of(qtype),
        instruction=_instruction(len(frame_groups), len(refs)),
        media=[f for g in frame_groups for f in g] + refs,
        extra={
            "num_videos": len(frame_groups),
            "video_inputs": list(range(len(frame_groups))),
            "reference_inputs": reference_inputs,
            "reference_images": [str(p) for p in refs],
            "reference_tags": tags,
            "frames_per_video": [len(g) for g in frame_groups],
            "video_list": video_list,
            "options": options,
            "hint": item.get("hint"),
            "prompts": {k: item.get(k) for k in ("system_prompt", "task_prompt", "user_prompt", "format_prompt")},
        },
    )


def _row_sample(root: Path, cache: Path, item: Any) -> Sample:
    """:func:`_sample`, with a failure to write the frame links under the cache as a ValueError that says so."""
    try:
        return _sample(root, cache, item)
    except (ValueError, TypeError, KeyError, AttributeError):
        raise
    except OSError as e:
        raise ValueError(f"cannot prepare the frames: {e}") from e


def load(root: Path, ctx: LoadContext) -> Loaded:
    """Read ``mmsivideo.json`` in its published order. Raises DatasetMissing when it is absent."""
    path = BENCHMARKS[0].require(root, ANNOTATIONS)
    data = read_json(path)
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a JSON list of questions, got {type(data).__name__}")
    rows = RowCollector(errors=(ValueError, TypeError, KeyError, AttributeError))
    for i, item in enumerate(data):
        sid = str(item.get("id")) if isinstance(item, dict) and item.get("id") is not None else None
        rows.add(f"{ANNOTATIONS}[{i}]", sid, _row_sample, root, ctx.cache_dir, item)
    return rows.loaded()


# ---------------------------------------------------------------------------------------------------------------


def _clear_words(text: str) -> str:
    """``evaluation.py``'s ``clear_words``: spaces, double and single quotes, newlines and colons removed."""
    return text.replace(" ", "").replace('"', "").replace("'", "").replace("\n", "").replace(":", "")


_ANSWER_WORDS = ('"answer":', "answer is", "answer:", '"Answer":', "Answer is", "Answer:")


def official_extract(response: str | None) -> str | None:
    """``evaluation.py``'s ``extract_answer``: the answer piece of a reply, ``"O"`` when it finds none.

    None for a None reply: the released code calls ``.replace`` on it, raises, and its ``except`` scores 0.
    """
    if response is None:
        return None
    response = response.replace("<answer>", "").replace("</answer>", "")
    if "no answer" in response:
        return "O"
    if "boxed{" in response:
        return _clear_words(response.split("boxed{")[1].split("}")[0])
    for word in _ANSWER_WORDS:
        if word in response:
            piece = response.split(word)[-1]
            return _clear_words(piece.split(",")[0].split(".")[0])
    first = _clear_words(response.split(".")[0])
    return first if first in OFFICIAL_LETTERS else "O"


class MmsiVideoOfficial(Scoring):
    """InternRobotics/MMSI-Video-Bench ``evaluation.py`` (main bench): exact letter match, mean over questions."""

    name = "official"
    sources = OFFICIAL_SOURCES
    description = "evaluation.py extract_answer; A-F only; overall = mean over questions"

    def score(self, sample: Sample, prediction: str | None) -> float | None:
        if sample.answer is None:
            return None
        pred = official_extract(prediction)
        # The released loop asserts the piece is one of A-F (a failed assert scores 0), then compares it with the
        # ground truth as published (no stripping or case folding).
        if pred is None or pred not in OFFICIAL_LETTERS:
            return 0.0
        return 1.0 if pred == sample.answer else 0.0

    def aggregate(self, items: Sequence[Scored]) -> Aggregate:
        return _micro(items, official=True)


class MmsiVideoPaper(Scoring):
    """SpatialClaw ``MMSIVideoBench.evaluate``: the shared letter extraction, correct / total."""

    name = "paper"
    sources = PAPER_SOURCES
    description = "SpatialClaw BaseBenchmark.extract_answer; overall = correct / total"

    def score(self, sample: Sample, prediction: str | None) -> float | None:
        if sample.answer is None:
            return None
        return 1.0 if base_answer(prediction) == str(sample.answer).strip().upper() else 0.0

    def aggregate(self, items: Sequence[Scored]) -> Aggregate:
        return _micro(items, official=False)


def _micro(items: Sequence[Scored], *, official: bool) -> Aggregate:
    """Overall = mean over scored questions; per_task = mean per ``type`` (both scorings)."""
    scored = [s for s in items if s.score is not None]
    by_type: dict[str, list[float]] = {}
    for s in scored:
        by_type.setdefault(s.sample.question_type or "(none)", []).append(float(s.score))  # type: ignore[arg-type]
    notes: list[str] = []
    if official and scored:
        absent = [t for t in MAIN_TYPES if t not in by_type]
        if absent:
            notes.append(
                f"{len(absent)} of the 13 task types absent from the run (the released script's per-type printout "
                "would fail on them); overall is the mean over the questions present"
            )
    order = {t: i for i, t in enumerate(MAIN_TYPES)}
    per_task = {
        t: sum(v) / len(v) for t, v in sorted(by_type.items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0]))
    }
    return Aggregate(
        overall=(sum(float(s.score) for s in scored) / len(scored)) if scored else None,  # type: ignore[arg-type]
        per_task=per_task,
        n=len(items),
        scored=len(scored),
        notes=notes,
    )


BENCHMARKS = (
    Benchmark(
        name=NAME,
        title="MMSI-Video-Bench",
        hf_repo="rbler/MMSI-Video-Bench",
        category="Video & 4D",
        layout=(
            "mmsivideo.json (id, type, ori_question, options, ground_truth, frames_list, video_list, ref_images); "
            "frames/ and ref_images/ from frames.zip and ref_images.zip"
        ),
        load=load,
        scorings={"official": MmsiVideoOfficial(), "paper": MmsiVideoPaper()},
        published_count=1106,
        settings={"num_key_frames": 64},
    ),
)
