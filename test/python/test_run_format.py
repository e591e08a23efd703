"""The run record (docs/run-format.md) as Python users read it: json, jq and pandas.

A real run is written by the TypeScript store (test/helpers/run-writer-child.ts, 4 samples), then read
back with the recipes the document gives. Every record must validate against the run record contract
(shared/run.ts, generated into ``spatial_common.contract``), and the fields come from that contract.
"""

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from spatial_common.contract import DEFINITIONS, validate

ROOT = Path(__file__).resolve().parents[2]
CHILD = ROOT / "test" / "helpers" / "run-writer-child.ts"
SAMPLES = 4


def _fields(definition: str) -> tuple[set[str], set[str]]:
    """(all, required) property names of a named schema of the run record contract (shared/run.ts)."""
    d = DEFINITIONS[definition]
    return set(d["properties"]), set(d.get("required", []))


RUN_FIELDS, _ = _fields("RunInfo")
RESULT_ALL, RESULT_FIELDS = _fields("SampleResult")  # `choices` only on multiple-choice samples
BENCHMARK_ONLY = {"scoring", "benchmark", "source_id", "category"}  # only on samples of `spatialclaw eval`
REDACTED_ONLY = {"redactions"}  # only on samples whose files needed a secret redacted (docs/security.md)
# event type -> (required, all) fields besides t, step and type
EVENT_FIELDS = {
    b["properties"]["type"]["const"]: (
        set(b["required"]) - {"t", "step", "type"},
        set(b["properties"]) - {"t", "step", "type"},
    )
    for b in DEFINITIONS["RunEvent"]["oneOf"]
}


def read_jsonl(path: Path) -> list[dict]:
    """The documented reader: complete lines only (a torn last line, left by a crash, is skipped)."""
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1
    return [json.loads(line) for line in data[:end].decode("utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    node = shutil.which("node")
    if node is None or not (ROOT / "node_modules" / "tsx").is_dir():
        pytest.skip("needs node and node_modules/tsx (npm ci) to write a run with the real store")
    run = tmp_path_factory.mktemp("runs") / "run"
    args = [node, "--import", "tsx", str(CHILD), str(run), "--samples", str(SAMPLES), "--concurrency", "2"]
    proc = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.rstrip().endswith("MARK done")
    return run


def test_layout_and_run_json(run_dir: Path):
    assert sorted(p.name for p in run_dir.iterdir()) == ["run.json", "samples", "samples.jsonl"]
    info = validate("RunInfo", json.loads((run_dir / "run.json").read_text()))
    assert set(info) == RUN_FIELDS
    assert info["format"] == "spatialclaw-run/1"
    assert info["status"] == "finished"
    assert info["total_samples"] == SAMPLES
    assert sorted(p.name for p in (run_dir / "samples").iterdir()) == [f"s{i:03d}" for i in range(SAMPLES)]


def test_samples_jsonl_with_json(run_dir: Path):
    rows = read_jsonl(run_dir / "samples.jsonl")
    assert sorted(r["id"] for r in rows) == [f"s{i:03d}" for i in range(SAMPLES)]
    for r in rows:
        validate("SampleResult", r)
        assert set(r) - {"choices"} == RESULT_FIELDS
        assert RESULT_ALL - RESULT_FIELDS == {"choices"} | BENCHMARK_ONLY | REDACTED_ONLY
        assert ("choices" in r) == (r["question_type"] == "object_rel_direction_easy")
        assert set(r["usage"]) >= {"prompt_tokens", "completion_tokens"}
        assert r["termination"] == "answered"
        assert 0 <= r["score"] <= 1


def test_events_jsonl_with_json(run_dir: Path):
    for sample in sorted((run_dir / "samples").iterdir()):
        events = read_jsonl(sample / "events.jsonl")
        types = [e["type"] for e in events]
        assert types[0] == "sample_start" and types.count("sample_start") == 1
        assert types[-1] == "termination"
        for e in events:
            validate("RunEvent", e)
            required, known = EVENT_FIELDS[e["type"]]
            assert required <= set(e) - {"t", "step", "type"} <= known, e["type"]
        cells = [e for e in events if e["type"] == "cell"]
        images = [e for e in events if e["type"] == "image"]
        assert cells and images
        for c in cells:
            for im in c["result"]["images"]:
                assert "png" not in im
                assert (sample / im["path"]).read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
        assert [im["path"] for c in cells for im in c["result"]["images"]] == [e["path"] for e in images]
        assert images[0]["path"] == "images/step001_1.png"


def test_torn_last_line_is_skipped(run_dir: Path, tmp_path: Path):
    f = tmp_path / "samples.jsonl"
    f.write_bytes((run_dir / "samples.jsonl").read_bytes() + b'{"id": "s9", "quest')
    assert len(read_jsonl(f)) == SAMPLES


def test_jq(run_dir: Path):
    jq = shutil.which("jq")
    if jq is None:
        pytest.skip("jq is not installed")

    def run(*args: str) -> str:
        return subprocess.run([jq, *args], capture_output=True, text=True, check=True).stdout

    samples = str(run_dir / "samples.jsonl")
    assert run("-r", ".id", samples).split() == [r["id"] for r in read_jsonl(run_dir / "samples.jsonl")]
    mean = float(run("-s", "map(.score) | add / length", samples))
    assert mean == pytest.approx((1 + 0.9) / 2)
    by_type = json.loads(run("-s", "group_by(.question_type) | map({(.[0].question_type): length}) | add", samples))
    assert by_type == {"object_abs_distance": 2, "object_rel_direction_easy": 2}
    events = str(run_dir / "samples" / "s001" / "events.jsonl")
    assert run("-c", 'select(.type == "image") | .path', events).split() == [
        '"images/step001_1.png"',
        '"images/step001_2.png"',
    ]
    assert run("-r", 'select(.type == "cell") | .result.status', events).split() == ["ok"]


def test_pandas(run_dir: Path):
    pd = pytest.importorskip(
        "pandas", reason="pandas is not in python-runtime/requirements.txt; `pip install pandas` to run this check"
    )
    df = pd.read_json(run_dir / "samples.jsonl", lines=True)
    assert len(df) == SAMPLES
    assert set(df.columns) == RESULT_FIELDS | {"choices"}
    assert df.groupby("question_type")["score"].mean().to_dict() == pytest.approx(
        {"object_abs_distance": 0.9, "object_rel_direction_easy": 1.0}
    )
    usage = pd.json_normalize(df["usage"].tolist())
    assert {"prompt_tokens", "completion_tokens"} <= set(usage.columns)
    ev = pd.read_json(run_dir / "samples" / "s000" / "events.jsonl", lines=True)
    assert {"t", "step", "type"} <= set(ev.columns)
    assert ev["type"].iloc[0] == "sample_start" and ev["type"].iloc[-1] == "termination"
