"""Perception server pieces without a server process: the app in process (FastAPI's TestClient), the backend
listing of ``python -m spatial_perception --list-backends``, and the table-driven request and result checks.

The ``echo`` diagnostics backends come from ``test/python/perception_testing/echo.py`` (on ``sys.path`` here,
on ``PYTHONPATH`` for server processes: :func:`perception_helpers.server_env`).
"""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import msgpack
import numpy as np
import pytest
from perception_helpers import ECHO_ARGS, ECHO_BACKENDS, png_bytes, server_env
from spatial_perception.app import create_app
from spatial_perception.backends import REGISTRY
from spatial_perception.backends.base import MaskResult, Reconstruction
from spatial_perception.config import ServerConfig
from spatial_perception.errors import BackendResultError, BadRequest
from spatial_perception.requests import RETURNABLE, ROUTES, parse_return, parse_segment_image
from spatial_perception.validation import ARRAY_SETS, add_server_arrays, check_masks, check_reconstruction

with warnings.catch_warnings():  # starlette 1.x: its TestClient will move from httpx to httpx2 (works the same here)
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
TOKEN = "in-process-token"
BACKEND_KEYS = {"name", "capabilities", "device", "version", "available", "reason"}
ECHO_REGISTRY = {name: tuple(target.split(":")) for name, target in ECHO_BACKENDS.items()}


@pytest.fixture
def client(tmp_path: Path):
    config = ServerConfig(
        token=TOKEN, backends=["echo", "echo2"], artifact_dir=tmp_path / "artifacts", extra_registry=ECHO_REGISTRY
    )
    with TestClient(create_app(config), headers={"Authorization": f"Bearer {TOKEN}"}) as c:
        yield c


def _post(client: TestClient, route: str, body: dict):
    return client.post(
        route, content=msgpack.packb(body, use_bin_type=True), headers={"Content-Type": "application/msgpack"}
    )


def _seg_body(**params) -> dict:
    image = np.random.default_rng(1).integers(0, 256, (24, 32, 3), dtype=np.uint8)
    return {"backend": "echo", "image": png_bytes(image), "prompt": {"type": "text", "text": "mug"}, "params": params}


# --------------------------------------------------------------------------------------------------
# the app in process
# --------------------------------------------------------------------------------------------------


def test_app_state_and_the_error_forms(client: TestClient):
    state = client.app.state.perception
    assert [s["name"] for s in state.backends_json()] == ["echo", "echo2"]
    r = client.get("/v1/backends", headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert r.json() == {
        "error": "wrong token",
        "code": "unauthorized",
        "fix": "send the header 'Authorization: Bearer <token>' with the token the server was started with",
    }
    r = client.get("/v1/reconstruct")
    assert r.status_code == 405 and r.json()["code"] == "bad_request" and "docs/perception-api.md" in r.json()["fix"]
    r = _post(client, "/v1/segment/image", _seg_body(fail="value_error"))
    assert r.status_code == 500
    body = r.json()
    assert body["code"] == "backend_error" and body["fix"] is None
    assert body["error"].startswith("ValueError: echo was asked to fail") and "Traceback" not in r.text
    r = _post(client, "/v1/segment/image", _seg_body(fail="bad_request"))
    assert r.status_code == 400 and r.json()["code"] == "bad_request"


def test_openapi_only_for_authenticated_clients(client: TestClient):
    r = client.get("/openapi.json", headers={"Authorization": ""})
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert r.json()["code"] == "unauthorized"
    spec = client.get("/openapi.json").json()
    assert spec["info"]["title"] == "spatial_perception"
    paths = set(spec["paths"])
    assert {"/health", "/v1/backends", "/v1/reconstruct", "/v1/segment/image", "/v1/segment/video"} <= paths
    assert "application/msgpack" in spec["paths"]["/v1/reconstruct"]["post"]["requestBody"]["content"]
    assert "HTTPBearer" in spec["components"]["securitySchemes"]
    for page in ("/docs", "/redoc"):
        assert client.get(page).status_code == 404


def test_mask_labels_in_the_record_the_info_and_the_artifact_route(client: TestClient):
    r = _post(client, "/v1/segment/image", _seg_body())
    assert r.status_code == 200, r.text
    reply = msgpack.unpackb(r.content, raw=False)
    record = reply["artifact"]
    assert record["labels"] == ["mug"] and reply["info"]["labels"] == ["mug"]
    manifest = client.get(f"/v1/artifacts/{record['id']}").json()
    assert manifest == {**record, "arrays": manifest["arrays"], "info": reply["info"]}
    on_disk = json.loads((client.app.state.perception.store.root / record["id"] / "manifest.json").read_text())
    assert on_disk["record"]["labels"] == ["mug"] and on_disk["info"]["labels"] == ["mug"]


def test_artifacts_written_before_records_had_labels_get_them_back(tmp_path: Path):
    adir = tmp_path / "artifacts"
    config = ServerConfig(token=TOKEN, backends=["echo"], artifact_dir=adir, extra_registry=ECHO_REGISTRY)
    with TestClient(create_app(config), headers={"Authorization": f"Bearer {TOKEN}"}) as c:
        aid = msgpack.unpackb(_post(c, "/v1/segment/image", _seg_body()).content, raw=False)["artifact"]["id"]
    path = adir / aid / "manifest.json"
    manifest = json.loads(path.read_text())
    del manifest["record"]["labels"]  # the layout of an older server
    path.write_text(json.dumps(manifest))
    with TestClient(create_app(config), headers={"Authorization": f"Bearer {TOKEN}"}) as c:
        assert c.get(f"/v1/artifacts/{aid}").json()["labels"] == ["mug"]


# --------------------------------------------------------------------------------------------------
# --list-backends
# --------------------------------------------------------------------------------------------------


def _list(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in server_env().items() if k not in ("SPATIAL_PERCEPTION_TOKEN", "SPATIALCLAW_PARENT_PID")}
    cmd = [sys.executable, "-m", "spatial_perception", "--list-backends", *args]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)


def test_list_backends_json_is_what_health_lists():
    r = _list("--json", *ECHO_ARGS, "--oracle-root", str(FIXTURES))
    assert r.returncode == 0, r.stderr
    listed = json.loads(r.stdout)  # nothing but the listing on stdout
    assert [b["name"] for b in listed] == [*REGISTRY, *ECHO_BACKENDS]
    assert all(set(b) == BACKEND_KEYS for b in listed)
    by_name = {b["name"]: b for b in listed}
    assert by_name["rgbd"] == {
        "name": "rgbd",
        "capabilities": ["reconstruct"],
        "device": "cpu",
        "version": "1",
        "available": True,
        "reason": None,
    }
    assert by_name["oracle"]["available"] is True  # --oracle-root applies
    assert by_name["echo_unavailable"]["available"] is False and "never runs" in by_name["echo_unavailable"]["reason"]
    # The same objects as /health of a server with these backends.
    config = ServerConfig(token=TOKEN, backends=["rgbd", "echo2"], extra_registry=ECHO_REGISTRY)
    with TestClient(create_app(config)) as c:
        health = c.get("/health").json()["backends"]
    assert health == [by_name["rgbd"], by_name["echo2"]]


def test_list_backends_text_and_reasons():
    r = _list()
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    names = [line.split()[0] for line in lines if not line.startswith(" ")]
    assert names == list(REGISTRY)
    oracle = lines.index(next(line for line in lines if line.startswith("oracle")))
    assert "unavailable" in lines[oracle] and "--oracle-root" in lines[oracle + 1]
    assert _list("--extra-backend", "broken").returncode == 2
    assert (
        "--json goes with --list-backends"
        in subprocess.run(
            [sys.executable, "-m", "spatial_perception", "--json"], capture_output=True, text=True, timeout=60
        ).stderr
    )


# --------------------------------------------------------------------------------------------------
# the tables: ROUTES, RETURNABLE, ARRAY_SETS
# --------------------------------------------------------------------------------------------------


def test_route_fields_and_returnable_arrays_come_from_the_tables():
    assert set(ROUTES) == set(RETURNABLE) == {"reconstruct", "segment_image", "segment_video"}
    assert RETURNABLE["reconstruct"] == frozenset(ARRAY_SETS["reconstruction"]) and "valid" in RETURNABLE["reconstruct"]
    assert parse_return(["masks"], "segment_video") == frozenset({"masks"})
    with pytest.raises(BadRequest, match=r"unknown arrays \['points'\]"):
        parse_return(["points"], "segment_image")
    with pytest.raises(BadRequest, match="unknown field") as err:
        parse_segment_image({**_seg_body(), "frames": []})
    assert ", ".join(ROUTES["segment_image"]["fields"]) in err.value.message


def _recon(n: int = 2, h: int = 3, w: int = 4, **changes) -> Reconstruction:
    arrays = {
        "frame_indices": np.arange(n),
        "depth": np.ones((n, h, w)),
        "confidence": np.ones((n, h, w)),
        "points": np.zeros((n, h, w, 3)),
        "extrinsics": np.tile(np.eye(4), (n, 1, 1)),
        "intrinsics": np.tile(np.eye(3), (n, 1, 1)),
        "colors": np.zeros((n, h, w, 3), np.int64),
    }
    return Reconstruction(**{**arrays, **changes})


def test_result_checks_follow_array_sets():
    rec = _recon()
    rec.points[1, 0, 0] = np.nan
    arrays = add_server_arrays("reconstruction", check_reconstruction("x", rec, 2))
    assert list(arrays) == list(ARRAY_SETS["reconstruction"])
    assert {n: str(a.dtype) for n, a in arrays.items()} == {
        n: s["dtype"] for n, s in ARRAY_SETS["reconstruction"].items()
    }
    assert arrays["valid"].sum() == 2 * 3 * 4 - 1
    with pytest.raises(BackendResultError, match=r"returned depth of shape \(3, 3, 4\), expected \(2, \?, \?\)"):
        check_reconstruction("x", _recon(n=3), 2)
    with pytest.raises(BackendResultError, match=r"returned points of shape \(2, 3, 5, 3\), expected \(2, 3, 4, 3\)"):
        check_reconstruction("x", _recon(points=np.zeros((2, 3, 5, 3))), 2)
    with pytest.raises(BackendResultError, match="not a numpy array"):
        check_reconstruction("x", _recon(colors=[1, 2]), 2)
    masks = MaskResult(np.zeros((1, 2, 3, 4), bool), np.ones((1, 2)), np.array([7]), ["a", "b"])
    assert {n: a.shape for n, a in check_masks("x", masks, 1).items()} == {
        "masks": (1, 2, 3, 4),
        "scores": (1, 2),
        "frame_indices": (1,),
    }
    with pytest.raises(BackendResultError, match="2 masks per frame but 1 labels"):
        check_masks("x", MaskResult(masks.masks, masks.scores, masks.frame_indices, ["a"]), None)
