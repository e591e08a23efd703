"""A stand-in for the host's VLM bridge (docs/kernel-protocol.md, "VLM bridge"), shared by the ``vlm`` tests.

``with fake_bridge(answer) as bridge:`` serves ``POST`` requests on 127.0.0.1; ``answer(path, body)`` returns
``(status, payload)`` (payload None sends a body that is not JSON) and ``bridge.requests`` records
``(path, headers, body)`` of every request.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Answer = Callable[[str, dict[str, Any]], tuple[int, Any]]


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 - http.server's handler name
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append((self.path, dict(self.headers), body))
        status, payload = self.server.answer(self.path, body)
        data = b"bad gateway" if payload is None else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


class FakeBridge:
    """A running stand-in: ``url`` (no trailing slash) and ``requests``."""

    def __init__(self, answer: Answer) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.requests = []
        self._server.answer = answer
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def requests(self) -> list[tuple[str, dict[str, str], dict[str, Any]]]:
        return self._server.requests

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@contextmanager
def fake_bridge(answer: Answer) -> Iterator[FakeBridge]:
    """A :class:`FakeBridge` for the ``with`` block."""
    bridge = FakeBridge(answer)
    try:
        yield bridge
    finally:
        bridge.close()
