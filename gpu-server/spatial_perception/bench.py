"""Perception benchmark (``npm run bench:perception`` / ``python -m spatial_perception.bench``).

Measures, against real server processes on loopback:

* Reconstruct of a real RGB-D sample (default: the bundled 5 Kinect frames) with the rgbd backend:
  server compute time (``compute_ms`` in the response) against the client's end-to-end time
  (PNG/npy encoding + HTTP + msgpack/npy decoding). Target: transport overhead ≤ 15 %. Run on a
  server started with ``--cache-mb 0`` so every request computes.
* Binary payload throughput on loopback: downloading the reconstruction's ``points`` array
  (``GET /v1/artifacts/{id}/points.npy``) and the whole msgpack response. Target: ≥ 300 MB/s.
* Latency of a cache hit (a second server with the cache on, same request repeated).

Prints a markdown table with p50/p90 for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import secrets
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import cv2
import httpx
import msgpack
import numpy as np
from spatial_common.poses import read_tum_poses

ROOT = Path(__file__).resolve().parents[2]


def _npy(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(a), allow_pickle=False)
    return buf.getvalue()


def load_sample(folder: Path) -> dict:
    """Read a spatialclaw-rgbd/1 sample folder into request fields (docs/data-formats.md).

    Raises:
        spatial_common.poses.PoseFileError: a malformed poses file, or not one pose per frame.
    """
    m = json.loads((folder / "sample.json").read_text())
    frames, depth = [], []
    for cf, df in zip(m["color"], m["depth"], strict=True):
        ok, png = cv2.imencode(".png", cv2.imread(str(folder / cf), cv2.IMREAD_COLOR))
        if not ok:
            raise RuntimeError(f"could not encode {folder / cf}")
        frames.append(png.tobytes())
        depth.append(cv2.imread(str(folder / df), cv2.IMREAD_UNCHANGED).astype(np.float32) / float(m["depth_scale"]))
    i = m["intrinsics"]
    K = np.array([[i["fx"], 0, i["cx"]], [0, i["fy"], i["cy"]], [0, 0, 1]], dtype=np.float64)
    n = len(frames)
    poses = read_tum_poses(folder / m["poses"]["file"], expected=n)  # (N, 4, 4) camera-to-world
    return {
        "backend": "rgbd",
        "frames": frames,
        "frame_indices": m.get("frame_indices", list(range(n))),
        "depth": _npy(np.stack(depth)),
        "intrinsics": _npy(np.repeat(K[None], n, axis=0)),
        "poses": _npy(poses),
        "params": {},
        # What tools.Reconstruct asks for: points and colours stay in the artifact (the kernel lifts points itself).
        "return": ["depth", "confidence", "valid", "extrinsics", "intrinsics", "frame_indices"],
    }


@contextmanager
def server(backends: str, cache_mb: int):
    token = secrets.token_hex(16)
    env = {**os.environ, "SPATIAL_PERCEPTION_TOKEN": token, "PYTHONUNBUFFERED": "1"}
    args = [sys.executable, "-m", "spatial_perception", "--port", "0", "--backends", backends]
    args += ["--cache-mb", str(cache_mb)]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True)
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        if not line.startswith("SPATIAL_PERCEPTION_READY "):
            raise RuntimeError(f"perception server did not start (got {line!r})")
        url = line.split()[1]
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=600) as client:
            yield client
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def pct(xs: list[float], p: float) -> float:
    return float(np.percentile(np.asarray(xs), p, method="nearest"))


def reconstruct(client: httpx.Client, body: dict) -> tuple[float, dict, int]:
    """One request, timed end to end including encoding the body and decoding every array."""
    t = time.perf_counter()
    payload = msgpack.packb(body, use_bin_type=True)
    r = client.post("/v1/reconstruct", content=payload, headers={"Content-Type": "application/msgpack"})
    if r.status_code != 200:
        raise RuntimeError(f"reconstruct failed: HTTP {r.status_code} {r.text[:300]}")
    out = msgpack.unpackb(r.content, raw=False)
    out["decoded"] = {k: np.load(io.BytesIO(v), allow_pickle=False) for k, v in out["arrays"].items()}
    return (time.perf_counter() - t) * 1000, out, len(payload) + len(r.content)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sample", type=Path, default=ROOT / "test" / "fixtures" / "rgbd_room")
    ap.add_argument("--iterations", type=int, default=15)
    args = ap.parse_args(argv)
    body = load_sample(args.sample)
    rows: list[tuple[str, list[float], str]] = []

    with server("rgbd", cache_mb=0) as c:
        reconstruct(c, body)  # warm-up
        e2e, compute, handling, mb_s, sizes = [], [], [], [], []
        artifact_id = ""
        for _ in range(args.iterations):
            ms, out, nbytes = reconstruct(c, body)
            assert out["cache"] == "miss", "the compute server must not cache"
            e2e.append(ms)
            compute.append(float(out["compute_ms"]))
            handling.append(float(out["server_ms"]))
            sizes.append(nbytes)
            artifact_id = out["artifact"]["id"]
        overhead = [(a - b) / a * 100 for a, b in zip(e2e, compute, strict=True)]
        transport = [(a - b) / a * 100 for a, b in zip(e2e, handling, strict=True)]
        rows += [
            ("Reconstruct 5 RGB-D frames: end-to-end client time (ms)", e2e, ""),
            ("Reconstruct 5 RGB-D frames: backend compute_ms", compute, ""),
            ("Reconstruct 5 RGB-D frames: server_ms (read, hash, decode, compute, store)", handling, ""),
            ("transport overhead (e2e − server_ms) / e2e (%)", transport, "≤ 15 %"),
            ("all non-compute overhead (e2e − compute_ms) / e2e (%)", overhead, ""),
        ]
        for _ in range(args.iterations):
            t = time.perf_counter()
            r = c.get(f"/v1/artifacts/{artifact_id}/points.npy")
            dt = time.perf_counter() - t
            arr = np.load(io.BytesIO(r.content), allow_pickle=False)
            mb_s.append(arr.nbytes / 2**20 / dt)
        name = f"artifact download throughput, points.npy {arr.nbytes / 2**20:.1f} MiB (MiB/s)"
        rows.append((name, mb_s, "≥ 300 MB/s"))
        transfer = [n / 2**20 / ((a - b) / 1000) for n, a, b in zip(sizes, e2e, handling, strict=True)]
        name = f"reconstruct request+response {np.median(sizes) / 2**20:.1f} MiB over (e2e − server_ms) (MiB/s)"
        rows.append((name, transfer, ""))

    with server("rgbd", cache_mb=1024) as c:
        reconstruct(c, body)
        hits = []
        for _ in range(args.iterations):
            ms, out, _ = reconstruct(c, body)
            assert out["cache"] == "hit"
            hits.append(ms)
        rows.append(("cache hit, end-to-end incl. decoding all arrays (ms)", hits, ""))

    print(f"{time.strftime('%Y-%m-%d')}, {os.cpu_count()} CPUs, n={args.iterations}\n")
    print("| measure | p50 | p90 | target |\n|---|---|---|---|")
    for name, xs, target in rows:
        print(f"| {name} | {pct(xs, 50):.1f} | {pct(xs, 90):.1f} | {target} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
