"""The types every benchmark module shares: a sample, a loaded dataset, a scoring and a benchmark.

A benchmark module (``spatial_eval.benchmarks.<name>``) defines one or more :class:`Benchmark` values: how to read
the published snapshot at ``<data root>/<data_dir>`` into :class:`Sample` values, and how to score predictions
(``official``: the benchmark's released evaluation; ``paper``: SpatialClaw's own evaluation). The registry
(:mod:`spatial_eval.registry`) collects them; the CLI (:mod:`spatial_eval.cli`) and the host use only these types.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

ScoringName = Literal["official", "paper"]
SCORINGS: tuple[ScoringName, ...] = ("official", "paper")

_ID_BAD = re.compile(r"[^A-Za-z0-9_.-]+")


def sample_id(benchmark: str, source_id: str) -> str:
    """The run's sample id for a benchmark row: ``<benchmark>-<source id>`` with every run of characters outside
    ``[A-Za-z0-9_.-]`` replaced by ``_`` (SampleSpec's id rule), cut to 128 characters.

    The official id stays in :attr:`Sample.source_id`; predictions files use that one.
    """
    return f"{benchmark}-{_ID_BAD.sub('_', source_id)}"[:128]


SPATIALCLAW_COMMIT = "b062f82962549391a02cc70e022641c1f4d8ac2b"
"""The NVlabs/SpatialClaw commit every ``paper`` scoring follows."""


@dataclass(frozen=True)
class Source:
    """A file of released evaluation code a scorer follows: repository, path and commit (40 hex digits)."""

    repo: str
    path: str
    commit: str
    note: str = ""

    def cite(self) -> str:
        return f"{self.repo}@{self.commit[:12]}:{self.path}" + (f" ({self.note})" if self.note else "")

    @classmethod
    def spatialclaw(cls, file: str, note: str = "") -> Source:
        """SpatialClaw's ``spatial_agent/evals/<file>`` at :data:`SPATIALCLAW_COMMIT`."""
        return cls("NVlabs/SpatialClaw", f"spatial_agent/evals/{file}", SPATIALCLAW_COMMIT, note)


@dataclass
class Sample:
    """One benchmark question, ready for the agent and for scoring.

    Attributes:
        benchmark: the benchmark's name (``vsibench``).
        source_id: the benchmark's own id of the row, as a string (VSI-Bench ``id``; BLINK ``idx``).
        question: the question text as published (without the options).
        inputs: InputSpec dicts (``shared/contracts/kernel.ts``) with absolute paths: ``{"kind": "video",
            "path": ..., "max_fps": ...}`` or ``{"kind": "images", "path": ...}``. Several entries bind several
            videos or images (``InputImages_1`` ... in the kernel).
        answer: the ground truth as the scorer reads it (an option letter, a number, a word), or None.
        choices: the options as published, e.g. ``["A. chair", "B. table"]``; None for open questions.
        question_type: the benchmark's finest task label (VSI-Bench ``question_type``; BLINK subtask).
        category: a coarser label when the benchmark has one, else None.
        instruction: how to format the answer, in our own words, shown after the question; None: none needed.
        media: every file the sample needs (checked by ``datasets check``).
        extra: benchmark-specific fields the scorer needs (group ids, metric names, settings).
    """

    benchmark: str
    source_id: str
    question: str
    inputs: list[dict[str, Any]]
    answer: str | float | int | None
    choices: list[str] | None = None
    question_type: str | None = None
    category: str | None = None
    instruction: str | None = None
    media: list[Path] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return sample_id(self.benchmark, self.source_id)

    def spec(self) -> dict[str, Any]:
        """The SampleSpec (``shared/run.ts``) the host runs: JSON-ready, validated by the CLI."""
        out: dict[str, Any] = {
            "id": self.id,
            "question": self.question,
            "inputs": self.inputs,
            "benchmark": self.benchmark,
            "source_id": self.source_id,
        }
        if self.choices is not None:
            out["choices"] = list(self.choices)
        if self.answer is not None:
            out["answer"] = self.answer
        if self.question_type is not None:
            out["question_type"] = self.question_type
        if self.category is not None:
            out["category"] = self.category
        if self.instruction:
            out["instruction"] = self.instruction
        return out


@dataclass(frozen=True)
class RowProblem:
    """A row that could not become a sample (bad field, missing media): an error for that row only."""

    where: str  # "test.jsonl:17" or "row 17"
    message: str
    source_id: str | None = None


@dataclass
class Loaded:
    """A benchmark read from disk: its samples (in the published order) and the rows that failed."""

    samples: list[Sample]
    problems: list[RowProblem] = field(default_factory=list)


class RowCollector:
    """Samples read one row at a time, in order: a row whose sample cannot be built (one of ``errors`` raised) becomes
    a :class:`RowProblem` with the error's message, a sample whose source id came before becomes a ``duplicate
    <id_name> <id>`` problem; :meth:`loaded` is the result."""

    def __init__(self, id_name: str = "id", errors: tuple[type[BaseException], ...] = (ValueError, TypeError)) -> None:
        self.id_name = id_name
        self.errors = errors
        self.samples: list[Sample] = []
        self.problems: list[RowProblem] = []
        self.seen: set[str] = set()

    def add(self, where: str, source_id: str | None, build: Callable[..., Sample], *args: Any) -> None:
        """``build(*args)`` for the row at ``where`` (``source_id``: its id, for a problem; None when unknown)."""
        try:
            s = build(*args)
        except self.errors as e:
            self.problems.append(RowProblem(where, str(e), source_id))
            return
        if s.source_id in self.seen:
            self.problems.append(RowProblem(where, f"duplicate {self.id_name} {s.source_id}", s.source_id))
            return
        self.seen.add(s.source_id)
        self.samples.append(s)

    def problem(self, where: str, message: str, source_id: str | None = None) -> None:
        self.problems.append(RowProblem(where, message, source_id))

    def loaded(self) -> Loaded:
        return Loaded(self.samples, self.problems)


class DatasetMissing(Exception):
    """The benchmark's files are not where they should be. The message names the path and the download command."""


@dataclass
class Scored:
    """A sample with the prediction it got and that prediction's per-sample score (None: unscored)."""

    sample: Sample
    prediction: str | None
    score: float | None


@dataclass
class Aggregate:
    """A benchmark's result under one scoring.

    Attributes:
        overall: 0..1 as the scoring's released code computes it, or None when nothing is scored.
        per_task: the intermediate scores that code reports (task name -> 0..1), e.g. VSI-Bench's 8 tasks.
        n: samples given; scored: samples with a score (unscored ones are excluded, never counted as 0).
        notes: anything a reader must know (a task missing from the run, unscored metrics).
    """

    overall: float | None
    per_task: dict[str, float] = field(default_factory=dict)
    n: int = 0
    scored: int = 0
    notes: list[str] = field(default_factory=list)


class Scoring:
    """How one benchmark is scored under one profile (``official`` or ``paper``).

    Subclasses set :attr:`name` and :attr:`sources` and implement :meth:`score`; :meth:`aggregate` defaults to the
    mean over scored samples. ``score`` must never raise on any prediction text (blank, None, garbage): a
    prediction it cannot read gets what the released code gives it, usually 0; None where the released code leaves
    it out of the denominator (Video-MME's unanswered responses) or cannot score it at all (judge-only metrics).
    """

    name: ScoringName = "official"
    sources: tuple[Source, ...] = ()
    description: str = ""

    def score(self, sample: Sample, prediction: str | None) -> float | None:  # pragma: no cover - abstract
        raise NotImplementedError

    def aggregate(self, items: Sequence[Scored]) -> Aggregate:
        return mean_over_samples(items)


def question_type_of(s: Scored) -> str:
    """The default group of a scored sample: its question type, ``(none)`` when it has none."""
    return s.sample.question_type or "(none)"


def group_scores(items: Iterable[Scored], *keys: Callable[[Scored], str | None]) -> dict[str, list[float]]:
    """The scores (``float``) of the scored items, in item order, under the group each of ``keys`` gives (default: the
    question type, :func:`question_type_of`; a key that gives None leaves the item out of that grouping); the groups
    in the order they first occur."""
    groups: dict[str, list[float]] = {}
    for s in items:
        if s.score is None:
            continue
        for key in keys or (question_type_of,):
            k = key(s)
            if k is not None:
                groups.setdefault(k, []).append(float(s.score))
    return groups


def mean(values: Sequence[float]) -> float:
    """``sum(values) / len(values)``, summed in the order given."""
    return sum(values) / len(values)


def means(groups: Mapping[str, Sequence[float]], order: Sequence[str] = ()) -> dict[str, float]:
    """The mean of each group: the groups named in ``order`` first, in that order, then the others by name."""
    rank = {k: i for i, k in enumerate(order)}
    return {k: mean(v) for k, v in sorted(groups.items(), key=lambda kv: (rank.get(kv[0], len(rank)), kv[0]))}


def group_means(
    items: Iterable[Scored], *keys: Callable[[Scored], str | None], order: Sequence[str] = ()
) -> dict[str, float]:
    """:func:`means` of :func:`group_scores` (``order``: the groups reported first, the others by name)."""
    return means(group_scores(items, *keys), order)


def sample_mean(items: Iterable[Scored]) -> float | None:
    """The mean of the scored items' scores, in item order; None when nothing is scored."""
    scores = [float(s.score) for s in items if s.score is not None]
    return (sum(scores) / len(scores)) if scores else None


def mean_over_samples(
    items: Sequence[Scored], *keys: Callable[[Scored], str | None], order: Sequence[str] = ()
) -> Aggregate:
    """Overall = the mean of the per-sample scores (unscored ones left out); per_task = the mean per group of ``keys``
    (default: per question type, :func:`question_type_of`), the groups named in ``order`` first, the others by name."""
    return Aggregate(
        overall=sample_mean(items),
        per_task=group_means(items, *keys, order=order),
        n=len(items),
        scored=sum(1 for s in items if s.score is not None),
    )


def mean_of_group_means(items: Sequence[Scored], key: Callable[[Scored], str]) -> Aggregate:
    """Overall = the unweighted mean over groups (``key``) of the mean score in each group (a macro average)."""
    groups = group_scores(items, key)
    per_task = means(groups)
    return Aggregate(
        overall=(sum(per_task.values()) / len(per_task)) if per_task else None,
        per_task=per_task,
        n=len(items),
        scored=sum(len(v) for v in groups.values()),
    )


@dataclass(frozen=True)
class LoadContext:
    """What a loader may use besides its folder: a writable cache for media embedded in the snapshot (parquet
    image bytes are written there once, as files the kernel can read)."""

    cache_dir: Path


@dataclass(frozen=True)
class Benchmark:
    """One benchmark: where its snapshot lives, how to read it, how to score it.

    Attributes:
        name: the key used everywhere (``--benchmark vsibench``), also the paper-results key.
        title: the name people use (``VSI-Bench``).
        hf_repo: the Hugging Face dataset the snapshot comes from.
        data_dir: the folder under ``--data-root`` (usually ``name``; VSI-Bench-U shares ``vsibench``).
        category: the paper's grouping (``Single-image``, ``Multi-view``, ``Video``...).
        published_count: the number of questions of the full published split, or None when it varies.
        layout: one line on the files read (shown by ``datasets list`` and the docs).
        load: reads ``<root>/<data_dir>`` into :class:`Loaded`; raises :class:`DatasetMissing` when the
            annotation files are absent.
        scorings: ``official`` and ``paper``.
        settings: per-benchmark agent settings recorded with each sample (``video_max_fps``, ``num_key_frames``).
    """

    name: str
    title: str
    hf_repo: str
    category: str
    layout: str
    load: Callable[[Path, LoadContext], Loaded]
    scorings: dict[str, Scoring]
    data_dir: str = ""
    published_count: int | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    required: tuple[str, ...] = ()
    unit: Callable[[Sample], str] | None = None
    """For a benchmark scored in groups (Video-MME-v2's 4 questions per video): the group of a sample. Bootstrap
    intervals resample whole groups, and ``--limit`` / ``--subsample`` take whole groups; None: single samples."""
    download_include: tuple[str, ...] = ()
    """``--include`` patterns of the download (only the files the evaluation reads, e.g. the test zip)."""
    after_download: str = ""
    """What to do once downloaded, e.g. ``unzip OmniSpatial-test.zip`` (said after the download command)."""

    @property
    def folder(self) -> str:
        return self.data_dir or self.name

    def download_command(self, data_root: Path | str = "DATA_ROOT") -> str:
        """The command to fetch the snapshot on a connected machine (``hf`` is huggingface_hub's CLI)."""
        include = "".join(f" --include '{p}'" for p in self.download_include)
        return f"hf download {self.hf_repo} --repo-type dataset{include} --local-dir {Path(data_root) / self.folder}"

    def require(self, root: Path, name: str) -> Path:
        """``root / name`` when it is a file; otherwise raises :meth:`missing` naming ``name``."""
        path = root / name
        if not path.is_file():
            raise self.missing(root, name)
        return path

    def missing(self, root: Path, what: str) -> DatasetMissing:
        """A :class:`DatasetMissing` naming ``what`` under ``root`` and the download command."""
        then = f", then run `{self.after_download}` in that folder" if self.after_download else ""
        return DatasetMissing(
            f"{self.name}: {what} not found under {root}. Download the {self.title} snapshot on a connected machine "
            f"with `{self.download_command(root.parent)}`{then}, and copy the folder here (or pass --data-root DIR, "
            f"the folder holding {self.folder}/)."
        )


def first_existing(root: Path, names: Iterable[str]) -> Path | None:
    """The first of ``names`` (relative to ``root``) that exists, or None."""
    for n in names:
        p = root / n
        if p.exists():
            return p
    return None
