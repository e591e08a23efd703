"""Perception server core (spatial_perception), real uvicorn processes started with ``python -m spatial_perception``:
the job queue. One job at a time per device in arrival order, devices side by side, jobs of disconnected clients
dropped or cancelled, timeouts of running and queued jobs.

Scheduling is observed through the ``echo`` diagnostics backends (test/python/perception_testing/echo.py): their
``info`` reports which jobs started, which saw their cancel event and how many ran at once. Tests assert
orders and counts (from ``info`` and ``/health``), never durations.

Shared fixtures and helpers: perception_server_helpers.py.
"""

from __future__ import annotations

import socket
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import msgpack
import perception_server_helpers
from perception_helpers import ServerHandle
from perception_server_helpers import new_tag, queue_len, seg_body, wait_for

server = perception_server_helpers.server  # the module-scoped echo server (perception_server_helpers.py)


# --------------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------------


def raw_post(server: ServerHandle, route: str, body: dict[str, Any]) -> bytes:
    data = msgpack.packb(body, use_bin_type=True)
    head = (
        f"POST {route} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {server.token}\r\n"
        f"Content-Type: application/msgpack\r\nContent-Length: {len(data)}\r\n\r\n"
    )
    return head.encode() + data


def open_and_send(server: ServerHandle, request: bytes) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    sock.sendall(request)
    return sock


def echo_info(server: ServerHandle) -> dict[str, Any]:
    """Run a quick echo job on the cpu queue and return its info (the backend's bookkeeping so far)."""
    status, reply = server.post("/v1/segment/image", seg_body())
    assert status == 200, reply
    return reply["info"]


# --------------------------------------------------------------------------------------------------
# job queue
# --------------------------------------------------------------------------------------------------


def test_one_job_at_a_time_per_device_in_arrival_order(server):
    tags = [new_tag() for _ in range(3)]
    sleeps = [1.0, 0.2, 0.2]
    with ThreadPoolExecutor(3) as pool:
        futures = []
        for i, (tag, sleep_s) in enumerate(zip(tags, sleeps, strict=True)):
            body = {**seg_body(), "params": {"tag": tag, "sleep_s": sleep_s}}
            futures.append(pool.submit(server.post, "/v1/segment/image", body))
            wait_for(lambda n=i + 1: queue_len(server) == n, what=f"{i + 1} jobs in the cpu queue")
        replies = [f.result(timeout=60) for f in futures]
    assert [s for s, _ in replies] == [200, 200, 200]
    infos = [r["info"] for _, r in replies]
    assert infos[-1]["started"][-3:] == tags  # first in, first out
    assert all(info["max_concurrent"] == 1 for info in infos)
    for earlier, later in zip(infos, infos[1:], strict=False):
        assert later["start_t"] >= earlier["end_t"]  # one after the other
    assert replies[2][1]["queue_ms"] > 0
    assert queue_len(server) == 0


def test_different_devices_run_side_by_side(server):
    with ThreadPoolExecutor(2) as pool:
        a = pool.submit(server.post, "/v1/segment/image", seg_body("echo", sleep_s=1.5))
        b = pool.submit(server.post, "/v1/segment/image", seg_body("echo2", sleep_s=1.5))
        wait_for(lambda: server.health()["queue"] == {"cpu": 1, "test:1": 1}, what="both devices busy")
        (sa, ra), (sb, rb) = a.result(timeout=60), b.result(timeout=60)
    assert sa == sb == 200
    assert max(ra["info"]["max_concurrent_all"], rb["info"]["max_concurrent_all"]) >= 2
    assert ra["info"]["max_concurrent"] == 1 and rb["info"]["max_concurrent"] == 1


def test_queued_job_of_a_disconnected_client_is_dropped(server):
    running, dropped = new_tag(), new_tag()
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(server.post, "/v1/segment/image", {**seg_body(), "params": {"tag": running, "sleep_s": 2}})
        wait_for(lambda: queue_len(server) == 1, what="the first job running")
        sock = open_and_send(server, raw_post(server, "/v1/segment/image", {**seg_body(), "params": {"tag": dropped}}))
        wait_for(lambda: queue_len(server) == 2, what="the second job queued")
        sock.close()
        wait_for(lambda: queue_len(server) == 1, what="the dropped job leaving the queue")
        assert not first.done()  # it left the queue at the disconnect, not when the first job ended
        status, _ = first.result(timeout=60)
    assert status == 200
    info = echo_info(server)
    assert running in info["started"] and dropped not in info["started"]
    assert "abandoned (dropped)" in server.stderr()


def test_running_job_of_a_disconnected_client_is_cancelled(server):
    tag = new_tag()
    sock = open_and_send(
        server, raw_post(server, "/v1/segment/image", {**seg_body(), "params": {"tag": tag, "sleep_s": 60}})
    )
    try:
        wait_for(lambda: queue_len(server) == 1, what="the job running")
    finally:
        sock.close()
    wait_for(lambda: queue_len(server) == 0, what="the cancelled job leaving the device")
    info = echo_info(server)
    assert tag in info["started"] and tag in info["cancelled"]


def test_timeout_of_a_running_job(server):
    tag = new_tag()
    status, body = server.post(
        "/v1/segment/image", {**seg_body(), "params": {"tag": tag, "sleep_s": 60, "timeout_s": 0.5}}
    )
    assert status == 504 and body["code"] == "timeout"
    assert "did not finish within 0.5 s" in body["error"] and "cancelled" in body["error"]
    assert "timeout_s" in body["fix"]
    wait_for(lambda: queue_len(server) == 0, what="the timed-out job leaving the device")
    assert tag in echo_info(server)["cancelled"]


def test_timeout_of_a_queued_job(server):
    running, waiting = new_tag(), new_tag()
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(server.post, "/v1/segment/image", {**seg_body(), "params": {"tag": running, "sleep_s": 2}})
        wait_for(lambda: queue_len(server) == 1, what="the first job running")
        status, body = server.post("/v1/segment/image", {**seg_body(), "params": {"tag": waiting, "timeout_s": 0.3}})
        assert status == 504 and "it was dropped" in body["error"]
        assert first.result(timeout=60)[0] == 200
    assert waiting not in echo_info(server)["started"]
