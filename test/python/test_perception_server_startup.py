"""Perception server core (spatial_perception), real uvicorn processes started with ``python -m spatial_perception``:
start-up (the READY line, refusing to start), /health, the bearer token, body-size limits, and a clean exit on
SIGTERM.

Shared fixtures and helpers: perception_server_helpers.py.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import httpx
import perception_server_helpers
import pytest
from perception_helpers import (
    ECHO_ARGS,
    perception_server_factory,  # noqa: F401  (pytest fixture)
    raw_http,
    server_env,
)
from perception_server_helpers import queue_len, seg_body, wait_for

server = perception_server_helpers.server  # the module-scoped echo server (perception_server_helpers.py)


# --------------------------------------------------------------------------------------------------
# start-up, health, auth, limits
# --------------------------------------------------------------------------------------------------


def test_ready_line_names_the_bound_port(server):
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", server.url)
    assert server.port > 0
    assert server.stdout_lines[0] == f"SPATIAL_PERCEPTION_READY {server.url}"
    assert httpx.get(server.url + "/health").status_code == 200


def test_health_shape(server):
    h = server.health()
    assert set(h) == {"status", "version", "backends", "device", "queue", "cache", "uptime_s"}
    assert h["status"] == "ok" and isinstance(h["version"], str) and h["uptime_s"] >= 0
    by_name = {b["name"]: b for b in h["backends"]}
    assert list(by_name) == ["echo", "echo2", "echo_unavailable", "missing"]
    for b in h["backends"]:
        assert set(b) == {"name", "capabilities", "device", "version", "available", "reason"}
    assert by_name["echo"]["available"] is True and by_name["echo"]["reason"] is None
    assert "reconstruct" in by_name["echo"]["capabilities"] and by_name["echo"]["device"] == "cpu"
    assert by_name["echo2"]["device"] == "test:1" and "text" not in by_name["echo2"]["capabilities"]
    assert by_name["echo_unavailable"]["available"] is False
    assert "never runs" in by_name["echo_unavailable"]["reason"]
    assert by_name["missing"]["available"] is False and "ModuleNotFoundError" in by_name["missing"]["reason"]
    assert set(h["queue"]) == {"cpu", "test:1"}
    assert set(h["cache"]) == {"entries", "bytes", "max_bytes", "hits", "misses", "evictions"}
    assert h["cache"]["max_bytes"] == 2048 * 1024 * 1024
    assert h["device"] == "test:1"


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong-token"}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer"}],
)
def test_every_route_but_health_needs_the_token(server, headers):
    for method, path in [
        ("GET", "/openapi.json"),
        ("GET", "/v1/backends"),
        ("GET", f"/v1/artifacts/{'0' * 32}"),
        ("GET", f"/v1/artifacts/{'0' * 32}/depth.npy"),
        ("POST", "/v1/reconstruct"),
        ("POST", "/v1/segment/image"),
        ("POST", "/v1/segment/video"),
    ]:
        r = httpx.request(method, server.url + path, headers=headers, content=b"\x80")
        assert r.status_code == 401, (method, path, r.text)
        body = r.json()
        assert body["code"] == "unauthorized" and "Authorization: Bearer" in body["fix"]
    assert httpx.get(server.url + "/health", headers=headers).status_code == 200


def test_backends_route_lists_what_health_lists(server):
    status, body = server.get_json("/v1/backends")
    assert status == 200 and body == server.health()["backends"]


def test_unknown_route_is_a_json_404(server):
    status, body = server.get_json("/v1/nothing-here")
    assert status == 404 and body["code"] == "not_found"


def test_content_length_over_the_cap_is_refused_before_reading(server):
    req = (
        f"POST /v1/reconstruct HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {server.token}\r\n"
        f"Content-Type: application/msgpack\r\nContent-Length: {5 * 1024 * 1024}\r\n\r\n"
    )
    status, body = raw_http(server, req.encode())  # the body is never sent: the answer must not wait for it
    err = json.loads(body)
    assert status == 413 and err["code"] == "too_large"
    assert "--max-body-mb 1" in err["error"] and "max-body-mb" in err["fix"]


def test_streamed_body_over_the_cap_is_refused(server):
    size = 1024 * 1024 + 1  # one byte over --max-body-mb 1; sent as a chunk without its end marker
    req = (
        f"POST /v1/reconstruct HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {server.token}\r\n"
        f"Content-Type: application/msgpack\r\nTransfer-Encoding: chunked\r\n\r\n{size:x}\r\n"
    ).encode() + b"\0" * size
    status, body = raw_http(server, req)
    assert status == 413 and json.loads(body)["code"] == "too_large"


def test_refuses_to_start_without_a_token():
    env = {k: v for k, v in server_env().items() if k != "SPATIAL_PERCEPTION_TOKEN"}
    r = subprocess.run(
        [sys.executable, "-m", "spatial_perception", "--port", "0", "--backends", "echo", *ECHO_ARGS],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2 and r.stdout == ""
    assert "token is required" in r.stderr and "SPATIAL_PERCEPTION_TOKEN" in r.stderr


def test_refuses_unknown_backend_names_at_start():
    r = subprocess.run(
        [sys.executable, "-m", "spatial_perception", "--port", "0", "--backends", "echo,nope", *ECHO_ARGS],
        env=server_env(SPATIAL_PERCEPTION_TOKEN="t"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2 and "READY" not in r.stdout
    assert "unknown backend 'nope'" in r.stderr and "rgbd" in r.stderr


# --------------------------------------------------------------------------------------------------
# shutdown
# --------------------------------------------------------------------------------------------------


@pytest.mark.skipif(os.name == "nt", reason="SIGTERM is POSIX")
def test_sigterm_cancels_jobs_and_exits_cleanly(perception_server_factory):  # noqa: F811
    srv = perception_server_factory("echo")
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(srv.post, "/v1/segment/image", seg_body(sleep_s=60))
        wait_for(lambda: queue_len(srv) == 1, what="the job running")
        srv.proc.terminate()
        assert srv.proc.wait(timeout=20) == 0
        status, body = pending.result(timeout=20)
    assert status == 503 and body["code"] == "cancelled" and "shutting down" in body["error"]
    assert srv.stdout_lines == [f"SPATIAL_PERCEPTION_READY {srv.url}"]  # nothing else ever reached stdout
    log = srv.stderr()
    assert "Application shutdown complete" in log and "Traceback" not in log
