"""Perception server core (spatial_perception), real uvicorn processes started with ``python -m spatial_perception``:
the result cache and the artifact store. Cache hits, single-flight (identical requests arriving while one computes
wait for it), the /v1/artifacts routes (and paths that must not escape the store), eviction, restoring the cache
after a restart, ``--cache-mb 0``.

Shared fixtures and helpers: perception_server_helpers.py.
"""

from __future__ import annotations

import json
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import msgpack
import numpy as np
import perception_server_helpers
from perception_helpers import (
    ServerHandle,
    load_npy,
    npy_bytes,
    perception_server_factory,  # noqa: F401  (pytest fixture)
    raw_http,
)
from perception_server_helpers import RECORD_KEYS, new_tag, queue_len, recon_body, seg_body, wait_for

server = perception_server_helpers.server  # the module-scoped echo server (perception_server_helpers.py)


# --------------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------------


def raw_get(server: ServerHandle, path: str) -> tuple[int, bytes]:
    req = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {server.token}\r\nConnection: close\r\n\r\n"
    return raw_http(server, req.encode())


def while_first_runs(
    server: ServerHandle, route: str, first: dict[str, Any], others: list[dict[str, Any]]
) -> list[tuple[int, dict[str, Any]]]:
    """POST ``first``; once its job is in the cpu queue, POST ``others`` at once; the answers in that order."""
    assert queue_len(server) == 0
    with ThreadPoolExecutor(1 + len(others)) as pool:
        lead = pool.submit(server.post, route, first)
        wait_for(lambda: queue_len(server) == 1, what="the first request's job in the cpu queue")
        rest = [pool.submit(server.post, route, body) for body in others]
        return [f.result(timeout=60) for f in [lead, *rest]]


def echo_started(server: ServerHandle) -> list[str]:
    """The tags of every echo job started so far (a quick probe job on the cpu queue reports them)."""
    status, reply = server.post("/v1/segment/image", seg_body())
    assert status == 200, reply
    return reply["info"]["started"]


# --------------------------------------------------------------------------------------------------
# cache, artifacts
# --------------------------------------------------------------------------------------------------


def test_identical_request_is_a_cache_hit(server):
    tag = new_tag()
    body = recon_body(2, seed=11, params={"tag": tag})
    before = server.health()["cache"]
    status, first = server.post("/v1/reconstruct", body)
    assert status == 200 and first["cache"] == "miss"
    # same inputs, params spelled differently (key order, the default written out): the same key
    status, second = server.post("/v1/reconstruct", {**body, "params": {"align_gravity": True, "tag": tag}})
    assert status == 200 and second["cache"] == "hit"
    after = server.health()["cache"]
    assert after["hits"] == before["hits"] + 1
    assert after["misses"] == before["misses"] + 1
    assert after["entries"] == before["entries"] + 1
    assert second["compute_ms"] == 0 and second["queue_ms"] == 0
    assert second["artifact"] == first["artifact"] and second["info"] == first["info"]
    assert second["arrays"] == first["arrays"]
    # any other input byte changes the key
    status, third = server.post("/v1/reconstruct", {**body, "frame_indices": [11, 20]})
    assert status == 200 and third["cache"] == "miss"
    assert server.health()["cache"]["misses"] == before["misses"] + 2


def test_identical_requests_arriving_while_one_computes_wait_for_it(server):
    tag = new_tag()
    body = recon_body(2, seed=21, params={"tag": tag, "sleep_s": 1.5})
    before = server.health()["cache"]
    # three more identical requests while the first computes; one asks for fewer arrays ("return" is not in the key)
    replies = while_first_runs(server, "/v1/reconstruct", body, [body, body, {**body, "return": ["depth", "valid"]}])
    after = server.health()["cache"]
    assert [s for s, _ in replies] == [200, 200, 200, 200]
    assert [r["cache"] for _, r in replies] == ["miss", "hit", "hit", "hit"]
    first = replies[0][1]
    assert first["compute_ms"] > 0
    for _, r in replies[1:]:
        assert r["compute_ms"] == 0 and r["queue_ms"] > 0  # not computed: they waited for the first's job
        assert r["artifact"] == first["artifact"] and r["info"] == first["info"]
    assert replies[1][1]["arrays"] == replies[2][1]["arrays"] == first["arrays"]
    assert replies[3][1]["arrays"] == {n: first["arrays"][n] for n in ("depth", "valid")}
    assert after["hits"] == before["hits"] + 3 and after["misses"] == before["misses"] + 1
    assert after["entries"] == before["entries"] + 1
    assert echo_started(server).count(tag) == 1  # one backend call for four requests
    assert queue_len(server) == 0
    # later: an ordinary cache hit
    status, again = server.post("/v1/reconstruct", body)
    assert status == 200 and again["cache"] == "hit" and again["queue_ms"] == 0
    assert again["artifact"]["id"] == first["artifact"]["id"]


def test_waiters_get_the_error_of_a_failed_computation(server):
    tag = new_tag()
    body = seg_body(tag=tag, sleep_s=1.0, fail="value_error")
    replies = while_first_runs(server, "/v1/segment/image", body, [body, body])
    assert [s for s, _ in replies] == [500, 500, 500]
    assert all(r["code"] == "backend_error" and r["error"] == replies[0][1]["error"] for _, r in replies)
    assert "echo was asked to fail" in replies[0][1]["error"]
    assert echo_started(server).count(tag) == 1  # the same inputs are not computed again to fail again


def test_a_computation_given_up_by_its_request_is_taken_over_by_a_waiter(server):
    tag = new_tag()
    body = seg_body(tag=tag, sleep_s=1.5)
    # timeout_s is not in the cache key: the first gives up after 0.5 s, the two waiters have 30 s each
    patient = {**body, "params": {**body["params"], "timeout_s": 30}}
    first = {**body, "params": {**body["params"], "timeout_s": 0.5}}
    replies = while_first_runs(server, "/v1/segment/image", first, [patient, patient])
    assert replies[0][0] == 504 and replies[0][1]["code"] == "timeout"
    assert [s for s, _ in replies[1:]] == [200, 200]
    # one waiter computed again, the other waited for that
    assert sorted(r["cache"] for _, r in replies[1:]) == ["hit", "miss"]
    assert replies[1][1]["artifact"]["id"] == replies[2][1]["artifact"]["id"]
    info = replies[1][1]["info"]
    assert info["cancelled"].count(tag) == 1  # the first job was cancelled when its request gave up
    assert echo_started(server).count(tag) == 2


def test_a_computation_whose_client_left_is_taken_over_by_a_waiter(server):
    tag = new_tag()
    body = seg_body(tag=tag, sleep_s=1.0)
    data = msgpack.packb(body, use_bin_type=True)
    head = (
        f"POST /v1/segment/image HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {server.token}\r\n"
        f"Content-Type: application/msgpack\r\nContent-Length: {len(data)}\r\n\r\n"
    )
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    sock.sendall(head.encode() + data)
    wait_for(lambda: queue_len(server) == 1, what="the first request's job in the cpu queue")
    with ThreadPoolExecutor(1) as pool:
        waiter = pool.submit(server.post, "/v1/segment/image", body)
        time.sleep(0.3)  # the waiter joins the first computation (were it late, it would compute all the same)
        sock.close()
        status, reply = waiter.result(timeout=60)
    assert status == 200 and reply["cache"] == "miss"  # computed for it: the first job was cancelled
    assert reply["info"]["cancelled"].count(tag) == 1
    assert echo_started(server).count(tag) == 2


def test_a_waiter_keeps_its_own_timeout(server):
    tag = new_tag()
    body = seg_body(tag=tag, sleep_s=1.5)
    hasty = {**body, "params": {**body["params"], "timeout_s": 0.3}}
    replies = while_first_runs(server, "/v1/segment/image", body, [hasty])
    assert replies[0][0] == 200 and replies[0][1]["cache"] == "miss"
    status, err = replies[1]
    assert status == 504 and err["code"] == "timeout"
    assert "waited for an identical request" in err["error"] and "timeout_s" in err["fix"]
    assert echo_started(server).count(tag) == 1  # the waiter never queued a job of its own


def test_artifact_routes_round_trip_the_response_arrays(server):
    status, reply = server.post("/v1/reconstruct", recon_body(2, seed=13))
    assert status == 200
    aid = reply["artifact"]["id"]
    status, manifest = server.get_json(f"/v1/artifacts/{aid}")
    assert status == 200
    assert set(manifest) == RECORD_KEYS | {"arrays", "info"}
    assert {k: manifest[k] for k in RECORD_KEYS} == reply["artifact"]
    assert manifest["info"] == reply["info"] and manifest["info"]["alignment"]["method"] == "identity"
    assert set(manifest["arrays"]) == set(reply["arrays"])
    with server.client() as client:
        for name, data in reply["arrays"].items():
            arr = load_npy(data)
            assert manifest["arrays"][name] == {"shape": list(arr.shape), "dtype": str(arr.dtype), "bytes": arr.nbytes}
            r = client.get(f"/v1/artifacts/{aid}/{name}.npy")
            assert r.status_code == 200 and r.headers["content-type"] == "application/octet-stream"
            assert r.content == data
            np.testing.assert_array_equal(load_npy(r.content), arr)
    on_disk = sorted(p.name for p in (server.artifact_dir / aid).iterdir())
    assert on_disk == sorted(["manifest.json", *(f"{n}.npy" for n in reply["arrays"])])


def test_artifact_paths_cannot_escape_the_store(server):
    status, reply = server.post("/v1/segment/image", seg_body())
    assert status == 200
    aid = reply["artifact"]["id"]
    secret = npy_bytes(np.arange(7919))
    (server.artifact_dir.parent / "secret.npy").write_bytes(secret)
    (server.artifact_dir / aid / "secret.npy").write_bytes(secret)  # on disk but not in the manifest
    attempts = [
        f"/v1/artifacts/{aid}/..%2F..%2Fsecret.npy",
        f"/v1/artifacts/{aid}/../../secret.npy",
        f"/v1/artifacts/{aid}/%2e%2e%2f%2e%2e%2fsecret.npy",
        "/v1/artifacts/..%2Fsecret",
        "/v1/artifacts/../secret.npy",
        "/v1/artifacts/%2e%2e/secret.npy",
        f"/v1/artifacts/{aid}/secret.npy",
        f"/v1/artifacts/{aid}/manifest.npy",
        f"/v1/artifacts/{aid}/%2e%2e.npy",
        f"/v1/artifacts/{'g' * 32}",
        f"/v1/artifacts/{'0' * 32}/masks.npy",
    ]
    for path in attempts:
        status, body = raw_get(server, path)
        assert status in (400, 404), (path, status)
        assert secret not in body and b"NUMPY" not in body, path
    status, body = raw_get(server, f"/v1/artifacts/{aid}/secret.npy")
    err = json.loads(body)
    assert err["code"] == "not_found" and "has no array 'secret'" in err["error"]
    status, body = raw_get(server, f"/v1/artifacts/{'g' * 32}")
    assert status == 400 and "is not an artifact id" in json.loads(body)["error"]
    status, body = raw_get(server, f"/v1/artifacts/{'0' * 32}")
    assert status == 404 and json.loads(body)["code"] == "not_found"


def test_eviction_deletes_files_and_a_restart_restores_the_cache(perception_server_factory, tmp_path):  # noqa: F811
    adir = tmp_path / "artifacts"
    # 20 KiB: less than one 2-frame echo reconstruction (about 36 KB); the newest one is always kept
    first = perception_server_factory("echo", ("--cache-mb", "0.02"), artifact_dir=adir)
    _, a = first.post("/v1/reconstruct", recon_body(2, seed=1))
    body_b = recon_body(2, seed=2)
    _, b = first.post("/v1/reconstruct", body_b)
    aid, bid = a["artifact"]["id"], b["artifact"]["id"]
    stats = first.health()["cache"]
    assert stats["entries"] == 1 and stats["evictions"] == 1 and stats["bytes"] > stats["max_bytes"]
    status, err = first.get_json(f"/v1/artifacts/{aid}")
    assert status == 404 and "evicted from the cache; run the tool again" in err["error"]
    assert not (adir / aid).exists() and (adir / bid / "manifest.json").is_file()
    assert first.get_json(f"/v1/artifacts/{bid}")[0] == 200
    assert first.stop() == 0
    partial = adir / ("ab" * 16)  # an interrupted write (no manifest): removed at start-up
    partial.mkdir()
    (partial / "depth.npy").write_bytes(b"x")
    (adir / "not-an-artifact").mkdir()  # anything not named like an artifact id is left alone

    second = perception_server_factory("echo", ("--cache-mb", "0.02"), artifact_dir=adir)
    assert not partial.exists() and (adir / "not-an-artifact").is_dir()
    status, manifest = second.get_json(f"/v1/artifacts/{bid}")
    assert status == 200 and manifest["id"] == bid and manifest["info"] == b["info"]
    status, again = second.post("/v1/reconstruct", body_b)
    assert status == 200 and again["cache"] == "hit" and again["artifact"]["id"] == bid
    assert again["arrays"] == b["arrays"]


def test_cache_mb_0_computes_every_time_and_keeps_the_newest_artifact(perception_server_factory):  # noqa: F811
    srv = perception_server_factory("echo", ("--cache-mb", "0"))
    body = recon_body(1, seed=4)
    replies = [srv.post("/v1/reconstruct", body)[1] for _ in range(2)]
    assert [r["cache"] for r in replies] == ["miss", "miss"]
    assert replies[1]["info"]["calls"] == 2  # the backend ran twice
    stats = srv.health()["cache"]
    assert stats["hits"] == 0 and stats["entries"] == 1 and stats["max_bytes"] == 0
    newest, older = replies[1]["artifact"]["id"], replies[0]["artifact"]["id"]
    assert srv.get_json(f"/v1/artifacts/{newest}")[0] == 200
    assert srv.get_json(f"/v1/artifacts/{older}")[0] == 404
