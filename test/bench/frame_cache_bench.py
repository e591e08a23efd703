"""Benchmark of the persistent video frame cache (spatial_runtime.inputs.frame_cache) on bedroom.mp4.

Run: ``.venv/bin/python test/bench/frame_cache_bench.py [--runs 7]``. For each case, bind the video and access
every bound frame (``np.asarray`` of each), in one process, with the runs of the three variants interleaved so
that they share the machine's noise:

* ``cold``: no frame cache (today's path: header, probe decode, decode on access);
* ``fill``: an empty cache (the first kernel: decodes as ``cold`` and writes each bound frame as a PNG);
* ``warm``: the cache filled by ``fill`` (a later kernel: reads meta.json and the PNGs, no PyAV).

It also times the parts of a cold bind that a warm one skips: opening the container header, and the probe decode.
The PNGs are in the OS page cache in ``warm`` (as they are for the next kernel on the same machine). Prints p50/p90
in milliseconds and the ratio cold / warm of the p50s (and of each run's pair).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np
from spatial_runtime.inputs import frame_cache, load_inputs

VIDEO = Path(__file__).resolve().parents[1] / "fixtures" / "video_bedroom" / "bedroom.mp4"

CASES = {
    "16 frames, native 960x540 (default profile)": ({"num_frames": 16}, None, "long_edge"),
    "all frames at max_fps 2, paper_grid 768 (paper profile)": ({"all_frames": True, "max_fps": 2}, 768, "paper_grid"),
}


def bind_and_access(spec: dict, max_long_edge: int | None, resize: str) -> tuple[float, int, int]:
    """Seconds to bind the video and read every bound frame; (seconds, frames, frames decoded by PyAV)."""
    t = time.perf_counter()
    images = load_inputs([{"kind": "video", "path": str(VIDEO), **spec}], max_long_edge, resize)["InputImages"]
    for frame in images:
        np.asarray(frame)
    return time.perf_counter() - t, len(images), images._source.frames_decoded


def pct(values: list[float], q: float) -> float:
    """The q-quantile (0..1) of values, linear between order statistics."""
    s = sorted(values)
    k = (len(s) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def header_and_probe_ms(runs: int) -> tuple[list[float], list[float]]:
    header, probe = [], []
    for _ in range(runs):
        t = time.perf_counter()
        with av.open(str(VIDEO)) as c:
            s = c.streams.video[0]
            _ = (s.frames, s.average_rate, s.duration)
        header.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        with av.open(str(VIDEO)) as c:
            next(c.decode(c.streams.video[0]))
        probe.append((time.perf_counter() - t) * 1000)
    return header, probe


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=7, help="measured runs per variant (after one warm-up), >= 5")
    args = ap.parse_args()
    print(f"python {sys.version.split()[0]}, PyAV {av.__version__}, {VIDEO.name}, {args.runs} runs per variant")
    print()
    print("| case | variant | frames | PyAV frames decoded | p50 ms | p90 ms |")
    print("|---|---|---|---|---|---|")
    ratios = {}
    with tempfile.TemporaryDirectory(prefix="frame-cache-bench-") as tmp:
        for c, (name, (spec, edge, resize)) in enumerate(CASES.items()):
            times: dict[str, list[float]] = {"cold": [], "fill": [], "warm": []}
            facts: dict[str, tuple[int, int]] = {}
            for run in range(args.runs + 1):  # run 0 is a warm-up
                root = Path(tmp) / f"case{c}-run{run}"
                for variant, cache in (("cold", None), ("fill", root), ("warm", root)):
                    frame_cache.set_active(None if cache is None else frame_cache.FrameCache(cache))
                    seconds, n, decoded = bind_and_access(spec, edge, resize)
                    if run:
                        times[variant].append(seconds * 1000)
                        facts[variant] = (n, decoded)
            frame_cache.set_active(None)
            for variant, ms in times.items():
                n, decoded = facts[variant]
                print(f"| {name} | {variant} | {n} | {decoded} | {pct(ms, 0.5):.1f} | {pct(ms, 0.9):.1f} |")
            pairs = [a / b for a, b in zip(times["cold"], times["warm"], strict=True)]
            ratios[name] = (
                pct(times["cold"], 0.5) / pct(times["warm"], 0.5),
                pct(times["fill"], 0.5) / pct(times["cold"], 0.5),
                min(pairs),
                max(pairs),
            )
    print()
    for name, (speedup, fill_cost, lo, hi) in ratios.items():
        print(
            f"- {name}: cold / warm (p50) = {speedup:.1f}x (per-run pairs {lo:.1f}x to {hi:.1f}x); "
            f"fill / cold (p50) = {fill_cost:.2f}"
        )
    header, probe = header_and_probe_ms(args.runs)
    print(
        f"- skipped by a warm bind: container header {pct(header, 0.5):.1f} / {pct(header, 0.9):.1f} ms, "
        f"probe decode {pct(probe, 0.5):.1f} / {pct(probe, 0.9):.1f} ms (p50 / p90)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
