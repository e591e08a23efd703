"""Helpers to test the perception server (``spatial_perception``) as a real process.

Start a server with :func:`start_server` (it runs ``python -m spatial_perception --port 0`` with a fresh
token in the environment and a temporary artifact directory, and waits for the READY line)::

    from perception_helpers import start_server, png_bytes, npy_bytes

    server = start_server("rgbd")                 # -> ServerHandle
    try:
        status, reply = server.post("/v1/reconstruct", {"backend": "rgbd", "frames": [...], ...})
        depth = load_npy(reply["arrays"]["depth"])
    finally:
        server.stop()

or use it as a context manager (``with start_server("rgbd") as server: ...``), or request the
:func:`perception_server_factory` fixture (import it into the test module), which stops every server it
started at teardown::

    from perception_helpers import perception_server_factory  # noqa: F401  (pytest fixture)

    def test_x(perception_server_factory):
        server = perception_server_factory("rgbd,classical")

The ``echo`` diagnostics backends (``echo``, ``echo2``, ``echo_unavailable``; see
``test/python/perception_testing/echo.py``) are always mapped in with ``--extra-backend`` (:data:`ECHO_ARGS`),
with this folder on the server's ``PYTHONPATH`` (:func:`server_env`), so ``start_server("rgbd,echo")`` works too.
"""

from __future__ import annotations

import io
import os
import queue
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import httpx
import msgpack
import numpy as np
import pytest

READY_RE = re.compile(r"^SPATIAL_PERCEPTION_READY (http://\S+:(\d+))$")
TEST_DIR = Path(__file__).resolve().parent
"""``test/python``: holds :mod:`perception_testing`, which server processes import (:func:`server_env`)."""
ECHO_BACKENDS = {
    "echo": "perception_testing.echo:EchoBackend",
    "echo2": "perception_testing.echo:EchoSegmentBackend",
    "echo_unavailable": "perception_testing.echo:UnavailableEchoBackend",
}
"""The diagnostics backends: name -> ``module:Class``."""
ECHO_ARGS = tuple(arg for name, target in ECHO_BACKENDS.items() for arg in ("--extra-backend", f"{name}={target}"))
"""``python -m spatial_perception`` flags that map in :data:`ECHO_BACKENDS` (:func:`start_server` adds them)."""


def server_env(base: Mapping[str, str] | None = None, **overrides: str) -> dict[str, str]:
    """An environment for a server process: ``base`` (default ``os.environ``) with :data:`TEST_DIR` first on
    ``PYTHONPATH`` (so ``perception_testing`` imports) and ``overrides`` applied."""
    env = dict(os.environ if base is None else base)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(TEST_DIR), env.get("PYTHONPATH", "")) if p)
    env.update(overrides)
    return env


# --------------------------------------------------------------------------------------------------
# encoding helpers
# --------------------------------------------------------------------------------------------------


def png_bytes(rgb: np.ndarray) -> bytes:
    """PNG bytes of an (H, W, 3) uint8 RGB image."""
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(rgb[..., ::-1]))
    assert ok
    return buf.tobytes()


def jpeg_bytes(rgb: np.ndarray, quality: int = 95) -> bytes:
    """JPEG bytes of an (H, W, 3) uint8 RGB image."""
    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(rgb[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return buf.tobytes()


def npy_bytes(arr: np.ndarray) -> bytes:
    """``.npy`` bytes of an array (what the server expects for depth/intrinsics/poses)."""
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return buf.getvalue()


def load_npy(data: bytes) -> np.ndarray:
    """Decode ``.npy`` bytes from a response."""
    return np.load(io.BytesIO(data), allow_pickle=False)


# --------------------------------------------------------------------------------------------------
# server process
# --------------------------------------------------------------------------------------------------


@dataclass
class ServerHandle:
    """A running ``python -m spatial_perception`` process.

    Attributes:
        url: base URL from the READY line, e.g. ``http://127.0.0.1:43123``.
        token: its bearer token.
        proc: the process (stdout is read by a background thread into ``stdout_lines``).
        artifact_dir: the ``--artifact-dir`` it uses.
        stderr_path: file receiving its stderr (logs); see :meth:`stderr`.
        stdout_lines: every stdout line so far (the READY line should be the only one).
    """

    url: str
    token: str
    proc: subprocess.Popen[str]
    artifact_dir: Path
    stderr_path: Path
    stdout_lines: list[str] = field(default_factory=list)
    _cleanup: list[Callable[[], None]] = field(default_factory=list, repr=False)

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    @property
    def headers(self) -> dict[str, str]:
        """``Authorization`` header for this server."""
        return {"Authorization": f"Bearer {self.token}"}

    def client(self, timeout: float = 60.0) -> httpx.Client:
        """An httpx client with the base URL and the token (close it, or use ``with``)."""
        return httpx.Client(base_url=self.url, headers=self.headers, timeout=timeout)

    def get_json(self, path: str, auth: bool = True, timeout: float = 30.0) -> tuple[int, Any]:
        """GET ``path``; returns (status, decoded JSON)."""
        r = httpx.get(self.url + path, headers=self.headers if auth else {}, timeout=timeout)
        return r.status_code, r.json()

    def health(self) -> dict[str, Any]:
        status, body = self.get_json("/health", auth=False)
        assert status == 200, body
        return body

    def post(self, route: str, body: Mapping[str, Any], timeout: float = 120.0) -> tuple[int, dict[str, Any]]:
        """POST a msgpack body to a compute route; returns (status, decoded msgpack or JSON error)."""
        r = httpx.post(
            self.url + route,
            content=msgpack.packb(dict(body), use_bin_type=True),
            headers={**self.headers, "Content-Type": "application/msgpack"},
            timeout=timeout,
        )
        return r.status_code, decode_response(r)

    def stderr(self) -> str:
        """Everything the server wrote to stderr so far."""
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM (then SIGKILL after ``timeout`` s), wait, and remove temporary files; returns the exit status."""
        if self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM on POSIX
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        while self._cleanup:
            self._cleanup.pop()()
        return self.proc.returncode

    def __enter__(self) -> ServerHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def decode_response(r: httpx.Response) -> dict[str, Any]:
    """msgpack body of a compute route's success, or the JSON error map."""
    if r.headers.get("content-type", "").startswith("application/msgpack"):
        return msgpack.unpackb(r.content, raw=False)
    try:
        return r.json()
    except ValueError:
        return {"error": r.text, "code": None, "fix": None}


def start_server(
    backends: str,
    extra_args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    *,
    token: str | None = None,
    artifact_dir: str | os.PathLike[str] | None = None,
    ready_timeout: float = 120.0,
) -> ServerHandle:
    """Start ``python -m spatial_perception --port 0 --backends BACKENDS`` and wait for its READY line.

    Args:
        backends: the ``--backends`` value, e.g. ``"rgbd,classical"`` (``echo`` backends are always mapped in).
        extra_args: more CLI flags, e.g. ``("--max-frames", "4")`` (after :data:`ECHO_ARGS`).
        env: extra environment variables (override the defaults of :func:`server_env`; the token travels as
            ``SPATIAL_PERCEPTION_TOKEN``, never in argv).
        token: the token (default: random).
        artifact_dir: ``--artifact-dir`` (default: a temporary directory removed by ``stop()``).
        ready_timeout: seconds to wait for READY.

    Returns:
        A :class:`ServerHandle`; call ``stop()`` (or use it as a context manager).

    Raises:
        RuntimeError: the process exited or did not print READY in time (with its stderr).
    """
    token = token or secrets.token_hex(24)
    cleanup: list[Callable[[], None]] = []
    if artifact_dir is None:
        tmp = Path(tempfile.mkdtemp(prefix="perception-test-"))
        cleanup.append(lambda: shutil.rmtree(tmp, ignore_errors=True))
        adir = tmp / "artifacts"
    else:
        adir = Path(artifact_dir)
    err_fd, err_name = tempfile.mkstemp(prefix="perception-stderr-", suffix=".log")
    stderr_path = Path(err_name)
    cleanup.insert(0, lambda: stderr_path.unlink(missing_ok=True))
    full_env = server_env(SPATIAL_PERCEPTION_TOKEN=token)
    full_env.update(env or {})
    args = [sys.executable, "-m", "spatial_perception", "--port", "0", "--backends", backends, *ECHO_ARGS]
    if "--artifact-dir" not in extra_args:
        args += ["--artifact-dir", str(adir)]
    args += list(extra_args)
    with os.fdopen(err_fd, "wb") as err:
        proc = subprocess.Popen(
            args, stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL, env=full_env, text=True
        )
    lines: list[str] = []
    seen: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            seen.put(line.rstrip("\n"))
        seen.put(None)

    threading.Thread(target=pump, daemon=True).start()
    handle = ServerHandle(
        url="", token=token, proc=proc, artifact_dir=adir, stderr_path=stderr_path, stdout_lines=lines
    )
    handle._cleanup = cleanup
    deadline = time.monotonic() + ready_timeout
    while True:
        try:
            line = seen.get(timeout=max(0.01, deadline - time.monotonic()))
        except queue.Empty:
            line = None
            timed_out = True
        else:
            timed_out = False
        if line is not None:
            m = READY_RE.match(line)
            if m:
                handle.url = m.group(1)
                return handle
            continue
        log = handle.stderr()
        handle.stop()
        why = "did not print READY in time" if timed_out else f"exited with status {proc.returncode}"
        raise RuntimeError(f"perception server {why}; stderr:\n{log[-4000:]}")


@pytest.fixture
def perception_server_factory() -> Iterator[Callable[..., ServerHandle]]:
    """Fixture: a :func:`start_server` that stops every server it started when the test ends."""
    started: list[ServerHandle] = []

    def factory(backends: str, extra_args: Sequence[str] = (), env: Mapping[str, str] | None = None, **kw: Any):
        handle = start_server(backends, extra_args, env, **kw)
        started.append(handle)
        return handle

    yield factory
    for handle in started:
        handle.stop()


def raw_http(handle: ServerHandle, request: bytes, timeout: float = 30.0) -> tuple[int, bytes]:
    """Send raw request bytes on a new socket; returns (status, response body). For malformed/odd requests."""
    with socket.create_connection(("127.0.0.1", handle.port), timeout=timeout) as s:
        s.sendall(request)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, body


def video_frames(path: Path | str, count: int) -> list[np.ndarray]:
    """The first ``count`` frames of a video as (H, W, 3) uint8 RGB arrays, decoded with PyAV (skips without it)."""
    import pytest

    av = pytest.importorskip("av")
    frames: list[np.ndarray] = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            frames.append(frame.to_ndarray(format="rgb24"))
            if len(frames) == count:
                break
    return frames


def normalising_processor_config(processor_type: str, size: int) -> dict[str, Any]:
    """What a transformers image processor with resize to (size, size), rescale by 1/255 and normalisation to [-1, 1]
    writes with ``save_pretrained`` (``preprocessor_config.json``): for tiny test checkpoints whose processor class
    needs torchvision, which does not load with this environment's CPU torch."""
    return {
        "image_processor_type": processor_type,
        "do_resize": True,
        "size": {"height": size, "width": size},
        "resample": 2,
        "do_rescale": True,
        "rescale_factor": 1 / 255,
        "do_normalize": True,
        "image_mean": [0.5, 0.5, 0.5],
        "image_std": [0.5, 0.5, 0.5],
    }
