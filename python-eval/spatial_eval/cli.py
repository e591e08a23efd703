"""``python -m spatial_eval``: the benchmark side of ``spatialclaw datasets|eval|score``.

Commands (each prints JSON with ``--json`` or JSON Lines where noted, and a readable text otherwise):

* ``list [--data-root D] [--json]``: every benchmark, its published size, and whether its data is present and complete.
* ``check NAME --data-root D [--json] [--no-open]``: every row and every media file; exit 1 when anything is wrong.
* ``load --benchmark SPEC --data-root D [--limit N | --subsample N --seed S]``: JSON Lines on stdout, one
  ``{"type": "sample", "spec": SampleSpec}`` per sample, ``{"type": "problem", ...}`` per bad row and
  ``{"type": "benchmark", ...}`` per benchmark (its settings and counts).
* ``score --benchmark NAME --data-root D --predictions FILE [--scoring S] [--json]``: lines
  ``{"id": <official id>, "prediction": "<text>"}``; prints ``{"benchmark", "scoring", "n", "per_task", "overall"}``.
* ``score-run RUN [--scoring S] [--data-root D] [--json]``: scores a run folder and writes ``RUN/results.json``.
* ``serve-scorer --benchmark SPEC --data-root D --scoring S``: reads ``{"id", "answer"}`` lines on stdin and writes
  ``{"id", "score"}`` lines (the host's live per-sample score).
* ``compare-many RUN RUN [RUN...] [--resamples N]``: the workbench's comparison (``compareRuns``) as JSON, the first
  run the baseline (spatial_eval/compare.py ``compare_many``); a refusal prints ``error:`` and ``fix:`` lines.
* ``export --format csv|parquet|jsonl --out FILE``: reads export rows (shared/export.ts ``ExportRow``) as JSON Lines
  on stdin, writes FILE (spatial_eval/export.py) and prints ``{"path", "rows"}``.

Exit codes: 0 ok, 1 problems found (check) or nothing to score, 2 bad arguments or missing data.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from spatial_common.run_journals import sample_journals

from spatial_eval.registry import benchmarks, get, resolve_names, unavailable
from spatial_eval.results import build_results, format_table, prediction_text, score_samples
from spatial_eval.types import SCORINGS, Benchmark, DatasetMissing, LoadContext, Loaded, Sample


def default_cache_dir(data_root: Path) -> Path:
    """Where media embedded in parquet files are written: ``<data root>/.spatialclaw-cache``."""
    return data_root / ".spatialclaw-cache"


def load_benchmark(bench: Benchmark, data_root: Path, cache_dir: Path | None = None) -> Loaded:
    """Read one benchmark from ``<data_root>/<bench.folder>``. Raises :class:`DatasetMissing`."""
    root = (data_root / bench.folder).resolve()
    if not root.is_dir():
        raise bench.missing(root, "the folder")
    cache = (cache_dir or default_cache_dir(data_root)) / bench.folder
    return bench.load(root, LoadContext(cache_dir=cache))


def select(
    samples: list[Sample],
    limit: int | None,
    subsample: int | None,
    seed: int,
    unit: Callable[[Sample], str] | None = None,
) -> list[Sample]:
    """``--limit N``: the first N in published order. ``--subsample N``: ``random.Random(seed).shuffle`` of the
    published order, then the first N (the original's ``--subsample``: seed 42, shuffle, first N).

    A benchmark scored in groups (``unit``) is selected in whole groups: the groups in published order (``--limit``)
    or shuffled the same way (``--subsample``), taken until at least N samples are in (so N is rounded up).
    """
    if unit is None:
        if subsample is not None:
            order = list(samples)
            random.Random(seed).shuffle(order)
            return order[:subsample]
        return samples[:limit] if limit else samples
    n = subsample if subsample is not None else limit
    if not n:
        return samples
    groups: dict[str, list[Sample]] = {}
    for s in samples:
        groups.setdefault(unit(s), []).append(s)
    keys = list(groups)
    if subsample is not None:
        random.Random(seed).shuffle(keys)
    out: list[Sample] = []
    for k in keys:
        if len(out) >= n:
            break
        out.extend(groups[k])
    return out


def _media_problem(path: Path, open_files: bool) -> str | None:
    if not path.exists():
        return f"missing file {path}"
    if not open_files:
        return None
    suffix = path.suffix.lower()
    try:
        if suffix in (".mp4", ".mkv", ".webm", ".avi", ".mov"):
            import av

            with av.open(str(path)) as c:
                if not c.streams.video:
                    return f"{path}: no video stream"
        elif suffix in (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp"):
            from PIL import Image

            with Image.open(path) as im:
                im.verify()
    except Exception as e:  # noqa: BLE001 - any decoder error is a problem with that file
        return f"{path}: cannot be decoded ({type(e).__name__}: {e})"
    return None


def _validate_spec(sample: Sample) -> str | None:
    from spatial_common.contract import ContractError, validate

    try:
        validate("SampleSpec", sample.spec())
    except ContractError as e:
        return str(e)
    return None


def status(bench: Benchmark, data_root: Path | None, *, open_files: bool = False) -> dict[str, Any]:
    """What ``datasets list`` shows for one benchmark (``check`` with ``open_files``)."""
    out: dict[str, Any] = {
        "name": bench.name,
        "title": bench.title,
        "hf_repo": bench.hf_repo,
        "category": bench.category,
        "folder": bench.folder,
        "published_count": bench.published_count,
        "layout": bench.layout,
        "settings": bench.settings,
        "scorings": {k: [s.cite() for s in v.sources] for k, v in bench.scorings.items()},
        "download": bench.download_command(data_root or "DATA_ROOT"),
    }
    if data_root is None:
        return {**out, "state": "unknown"}
    try:
        loaded = load_benchmark(bench, data_root)
    except DatasetMissing as e:
        return {**out, "state": "missing", "message": str(e)}
    except Exception as e:  # noqa: BLE001 - a broken snapshot is reported, not raised
        return {**out, "state": "broken", "message": f"{type(e).__name__}: {e}"}
    problems = [{"where": p.where, "source_id": p.source_id, "message": p.message} for p in loaded.problems]
    missing_media: list[str] = []
    checked: set[Path] = set()
    for s in loaded.samples:
        bad = _validate_spec(s)
        if bad:
            problems.append({"where": s.id, "source_id": s.source_id, "message": bad})
        for m in s.media:
            if m in checked:
                continue
            checked.add(m)
            why = _media_problem(m, open_files)
            if why:
                missing_media.append(str(m))
                problems.append({"where": s.id, "source_id": s.source_id, "message": why})
    if problems:
        state = "incomplete"
    elif bench.published_count is not None and len(loaded.samples) != bench.published_count:
        state = "partial"  # readable, but not the published size (a subset or a replica)
    else:
        state = "complete"
    return {
        **out,
        "state": state,
        "samples": len(loaded.samples),
        "media_files": len(checked),
        "missing_media": missing_media[:20],
        "missing_media_count": len(missing_media),
        "problems": problems[:200],
        "problem_count": len(problems),
    }


def _cmd_list(a: argparse.Namespace) -> int:
    root = Path(a.data_root).resolve() if a.data_root else None
    rows = [status(b, root) for b in benchmarks().values()]
    rows += [{"name": n, "state": "unavailable", "message": why} for n, why in unavailable().items()]
    if a.json:
        print(json.dumps({"data_root": str(root) if root else None, "benchmarks": rows}, indent=1))
        return 0
    print(f"data root: {root if root else '(none given: pass --data-root DIR)'}")
    for r in rows:
        n = r.get("samples")
        count = f"{n}/{r.get('published_count') or '?'}" if n is not None else f"-/{r.get('published_count') or '?'}"
        print(f"  {r['name']:<18} {r.get('title', ''):<20} {count:>12}  {r['state']}")
        if r["state"] in ("missing", "broken"):
            print(f"      {r['message']}")
        elif r["state"] == "incomplete":
            if r.get("missing_media_count"):
                print(f"      {r['missing_media_count']} media files missing, e.g. {r['missing_media'][0]}")
                print(f"      download: {r['download']}")
            for p in r.get("problems", [])[:3]:
                print(f"      {p['where']}: {p['message']}")
    return 0


def _cmd_check(a: argparse.Namespace) -> int:
    bench = get(a.name)
    root = Path(a.data_root).resolve()
    r = status(bench, root, open_files=not a.no_open)
    if a.json:
        print(json.dumps(r, indent=1))
    else:
        print(f"{bench.name} ({bench.title}) at {root / bench.folder}: {r['state']}")
        if "samples" in r:
            print(
                f"  {r['samples']} samples (published: {bench.published_count or '?'}), {r['media_files']} media files"
            )
        if r.get("message"):
            print(f"  {r['message']}")
        for p in r.get("problems", []):
            print(f"  {p['where']}: {p['message']}")
        if r.get("problem_count", 0) > len(r.get("problems", [])):
            print(f"  ... and {r['problem_count'] - len(r['problems'])} more")
        if r.get("missing_media_count"):
            print(f"  fetch the media with: {r['download']}")
    if r["state"] == "partial":
        print(f"  note: {r['samples']} rows, but the published {bench.name} has {bench.published_count}")
    return 0 if r["state"] in ("complete", "partial") else (2 if r["state"] in ("missing", "broken") else 1)


def _emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")


def _cmd_load(a: argparse.Namespace) -> int:
    root = Path(a.data_root).resolve()
    cache = Path(a.cache_dir).resolve() if a.cache_dir else None
    names = resolve_names(a.benchmark)
    loads: dict[str, Loaded] = {}
    missing: list[str] = []
    for name in names:
        try:
            loads[name] = load_benchmark(get(name), root, cache)
        except DatasetMissing as e:
            missing.append(str(e))
    if missing:
        present = [n for n in names if n in loads]
        raise DatasetMissing(
            f"{len(missing)} of {len(names)} benchmarks have no data under {root}:\n  "
            + "\n  ".join(missing)
            + (f"\nto run only those present: --benchmark {','.join(present)}" if present else "")
        )
    for name in names:
        bench = get(name)
        loaded = loads[name]
        chosen = select(loaded.samples, a.limit, a.subsample, a.seed, bench.unit)
        _emit(
            {
                "type": "benchmark",
                "name": name,
                "title": bench.title,
                "total": len(loaded.samples),
                "selected": len(chosen),
                "problems": len(loaded.problems),
                "settings": bench.settings,
            }
        )
        for p in loaded.problems:
            _emit(
                {"type": "problem", "benchmark": name, "where": p.where, "source_id": p.source_id, "message": p.message}
            )
        for s in chosen:
            _emit({"type": "sample", "spec": s.spec()})
    return 0


def read_predictions(path: Path) -> dict[str, str | None]:
    """``{"id": <official id>, "prediction": <text>}`` lines -> official id (as a string) -> prediction text.

    Raises ValueError naming the file and line of a bad line or a duplicate id."""
    out: dict[str, str | None] = {}
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}:{i}: not valid JSON ({e.msg})") from e
        if not isinstance(row, dict) or "id" not in row or "prediction" not in row:
            raise ValueError(f'{path}:{i}: each line needs "id" (the official id) and "prediction" (text)')
        key = str(row["id"])
        if key in out:
            raise ValueError(f"{path}:{i}: duplicate id {key}")
        out[key] = prediction_text(row["prediction"])
    return out


def _cmd_score(a: argparse.Namespace) -> int:
    bench = get(a.benchmark)
    root = Path(a.data_root).resolve()
    loaded = load_benchmark(bench, root)
    preds = read_predictions(Path(a.predictions))
    by_source = {s.source_id: s for s in loaded.samples}
    unknown = [k for k in preds if k not in by_source]
    if unknown:
        print(
            f"{len(unknown)} prediction ids are not {bench.name} ids, e.g. {unknown[:3]}; ids are the official "
            f"ids as published (first {bench.name} ids: {[s.source_id for s in loaded.samples[:3]]})",
            file=sys.stderr,
        )
        return 2
    samples = [by_source[k] for k in preds]
    if not samples:
        print(f"{a.predictions} has no predictions", file=sys.stderr)
        return 1
    scored = score_samples(samples, {by_source[k].id: v for k, v in preds.items()}, a.scoring)
    agg = bench.scorings[a.scoring].aggregate(scored)
    if a.json:
        print(
            json.dumps(
                {
                    "benchmark": bench.name,
                    "scoring": a.scoring,
                    "n": agg.n,
                    "scored": agg.scored,
                    "per_task": agg.per_task,
                    "overall": agg.overall,
                    "notes": agg.notes,
                }
            )
        )
        return 0
    results = build_results(scored, a.scoring, n_resamples=a.resamples)
    print(format_table(results))
    return 0


def run_samples(run_dir: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """run.json and the finished samples (samples.jsonl, or the union of a sharded run's journals; the last line per
    id wins) of a run folder."""
    info = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    rows: dict[str, dict[str, Any]] = {}
    for sj in sample_journals(run_dir):
        for line in sj.read_text(encoding="utf-8").splitlines():
            if line.strip():
                try:
                    r = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a torn last line after a crash: that sample is not finished
                rows[r["id"]] = r
    return info, list(rows.values())


def score_run(run_dir: Path, scoring: str, data_root: Path | None, n_resamples: int) -> dict[str, Any]:
    """Score a run folder's finished samples; returns results.json's content (not written)."""
    info, rows = run_samples(run_dir)
    cfg = info.get("config", {})
    names = cfg.get("benchmarks") or sorted({r["benchmark"] for r in rows if r.get("benchmark")})
    if not names:
        raise ValueError(f"{run_dir} is not a benchmark run (run.json has no config.benchmarks); use spatialclaw eval")
    root = data_root or (Path(cfg["data_root"]) if cfg.get("data_root") else None)
    if root is None:
        raise ValueError(f"{run_dir}: no data root recorded; pass --data-root DIR")
    samples: dict[str, Sample] = {}
    for name in names:
        for s in load_benchmark(get(name), root).samples:
            samples[s.id] = s
    preds: dict[str, str | None] = {}
    missing: list[str] = []
    for r in rows:
        if r["id"] not in samples:
            missing.append(r["id"])
            continue
        preds[r["id"]] = prediction_text(r.get("answer"))
    # The benchmark's order, not the order samples finished in: the bootstrap intervals are then the same for a run
    # made with any concurrency or number of shards (the journals' order differs between them).
    chosen = [s for s in samples.values() if s.id in preds]
    results = build_results(
        score_samples(chosen, preds, scoring),  # type: ignore[arg-type]
        scoring,  # type: ignore[arg-type]
        n_resamples=n_resamples,
        run={
            "dir": str(run_dir),
            "finished_samples": len(rows),
            "total_samples": info.get("total_samples"),
            "status": info.get("status"),
        },
    )
    if missing:
        results["unmatched_samples"] = missing[:50]
    return results


def _cmd_score_run(a: argparse.Namespace) -> int:
    run_dir = Path(a.run).resolve()
    results = score_run(run_dir, a.scoring, Path(a.data_root).resolve() if a.data_root else None, a.resamples)
    from spatial_common.atomic import write_json_atomic

    out = run_dir / ("results.json" if a.scoring == "official" else f"results.{a.scoring}.json")
    write_json_atomic(out, results)
    if a.json:
        print(json.dumps(results))
    else:
        print(format_table(results))
        print(f"written to {out}")
    return 0


def _cmd_serve_scorer(a: argparse.Namespace) -> int:
    root = Path(a.data_root).resolve()
    samples: dict[str, Sample] = {}
    for name in resolve_names(a.benchmark):
        for s in load_benchmark(get(name), root).samples:
            samples[s.id] = s
    sys.stdout.write(json.dumps({"ready": True, "samples": len(samples)}) + "\n")
    sys.stdout.flush()
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            req = json.loads(line)
            s = samples.get(req["id"])
            if s is None:
                out = {"id": req.get("id"), "score": None, "error": f"unknown sample id {req.get('id')!r}"}
            else:
                score = get(s.benchmark).scorings[a.scoring].score(s, prediction_text(req.get("answer")))
                out = {"id": s.id, "score": score}
        except Exception as e:  # noqa: BLE001 - one bad request must not end the scorer
            out = {"id": None, "score": None, "error": f"{type(e).__name__}: {e}"}
        sys.stdout.write(json.dumps(out) + "\n")
        sys.stdout.flush()
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m spatial_eval", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("list", help="every benchmark and whether its data is present")
    c.add_argument("--data-root")
    c.add_argument("--json", action="store_true")
    c.set_defaults(fn=_cmd_list)
    c = sub.add_parser("check", help="validate every row and media file of one benchmark")
    c.add_argument("name")
    c.add_argument("--data-root", required=True)
    c.add_argument("--json", action="store_true")
    c.add_argument("--no-open", action="store_true", help="only check that media files exist, do not decode them")
    c.set_defaults(fn=_cmd_check)
    c = sub.add_parser("load", help="samples as JSON Lines")
    c.add_argument("--benchmark", required=True)
    c.add_argument("--data-root", required=True)
    c.add_argument("--cache-dir")
    g = c.add_mutually_exclusive_group()
    g.add_argument("--limit", type=int)
    g.add_argument("--subsample", type=int)
    c.add_argument("--seed", type=int, default=42)
    c.set_defaults(fn=_cmd_load)
    c = sub.add_parser("score", help="score a predictions file")
    c.add_argument("--benchmark", required=True)
    c.add_argument("--data-root", required=True)
    c.add_argument("--predictions", required=True)
    c.add_argument("--scoring", choices=SCORINGS, default="official")
    c.add_argument("--json", action="store_true")
    c.add_argument("--resamples", type=int, default=1000)
    c.set_defaults(fn=_cmd_score)
    c = sub.add_parser("score-run", help="score a run folder and write results.json")
    c.add_argument("run")
    c.add_argument("--scoring", choices=SCORINGS, default="official")
    c.add_argument("--data-root")
    c.add_argument("--json", action="store_true")
    c.add_argument("--resamples", type=int, default=1000)
    c.set_defaults(fn=_cmd_score_run)
    c = sub.add_parser("compare", help="compare two run folders sample by sample (flips, McNemar, paired bootstrap)")
    c.add_argument("run_a")
    c.add_argument("run_b")
    c.add_argument("--json", action="store_true")
    c.add_argument("--resamples", type=int, default=9999)
    c.set_defaults(fn=_cmd_compare)
    c = sub.add_parser("compare-many", help="compare 2-6 run folders against the first, with a per-sample table (JSON)")
    c.add_argument("runs", nargs="+")
    c.add_argument("--resamples", type=int, default=9999)
    c.set_defaults(fn=_cmd_compare_many)
    c = sub.add_parser("serve-scorer", help="score answers read from stdin (JSON Lines)")
    c.add_argument("--benchmark", required=True)
    c.add_argument("--data-root", required=True)
    c.add_argument("--scoring", choices=SCORINGS, default="official")
    c.set_defaults(fn=_cmd_serve_scorer)
    c = sub.add_parser("export", help="write export rows read from stdin (JSON Lines) as csv, parquet or jsonl")
    c.add_argument("--format", required=True, choices=("csv", "parquet", "jsonl"))
    c.add_argument("--out", required=True)
    c.set_defaults(fn=_cmd_export)
    return p


def _cmd_export(a: argparse.Namespace) -> int:
    from spatial_eval.export import read_rows, write_export

    rows = read_rows(sys.stdin)
    path = write_export(rows, a.format, a.out)
    print(json.dumps({"path": str(path), "rows": len(rows)}))
    return 0


def _cmd_compare_many(a: argparse.Namespace) -> int:
    from spatial_eval.compare import CompareError, compare_many

    try:
        c = compare_many(a.runs, n_resamples=a.resamples)
    except CompareError as e:
        print(f"error: {e}\nfix: {e.fix}", file=sys.stderr)
        return 2
    print(json.dumps(c))
    return 0


def _cmd_compare(a: argparse.Namespace) -> int:
    from spatial_eval.compare import compare_runs, format_comparison

    c = compare_runs(a.run_a, a.run_b, n_resamples=a.resamples)
    print(json.dumps(c) if a.json else format_comparison(c))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    a = parser().parse_args(argv)
    try:
        return int(a.fn(a))
    except (DatasetMissing, KeyError, ValueError, FileNotFoundError) as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
        print(f"error: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
