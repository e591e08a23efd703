"""kernel_launch (rlimits, then ipykernel in the same process) and server_launch (TCP_NODELAY patch)."""

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

import pytest
from jupyter_client import KernelManager
from jupyter_client.kernelspec import KernelSpecManager

resource = pytest.importorskip("resource", reason="rlimits are POSIX-only; Windows skips them by design")

MEM = 2 * 1024**3


# --------------------------------------------------------------------------------------------------
# kernel_launch
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def limited_kernel(tmp_path_factory):
    kernels = tmp_path_factory.mktemp("kernels")
    spec_dir = kernels / "spatialclaw"
    spec_dir.mkdir()
    argv = [sys.executable, "-m", "spatial_runtime.kernel_launch", "--mem-bytes", str(MEM), "--cpu-seconds", "0"]
    spec = {"argv": [*argv, "-f", "{connection_file}"], "display_name": "SpatialClaw test", "language": "python"}
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    ksm = KernelSpecManager(kernel_dirs=[str(kernels)], ensure_native_kernel=False)
    km = KernelManager(kernel_name="spatialclaw", kernel_spec_manager=ksm)
    km.start_kernel()
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=60)
        yield km, kc
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def _run(kc, code):
    out = []
    reply = kc.execute_interactive(code, output_hook=out.append, timeout=60)
    stdout = "".join(m["content"]["text"] for m in out if m["msg_type"] == "stream")
    return reply["content"], stdout


def test_kernel_runs_under_the_memory_limit(limited_kernel):
    km, kc = limited_kernel
    hard_cpu_before = resource.getrlimit(resource.RLIMIT_CPU)[1]
    reply, out = _run(kc, "import resource, os\nprint(resource.getrlimit(resource.RLIMIT_AS), os.getpid())")
    assert reply["status"] == "ok"
    limits, pid = out.rsplit(" ", 1)
    assert limits == f"({MEM}, {MEM})"
    if hard_cpu_before == resource.RLIM_INFINITY:
        _, cpu = _run(kc, "print(resource.getrlimit(resource.RLIMIT_CPU) == (resource.RLIM_INFINITY,) * 2)")
        assert cpu.strip() == "True"

    # 4 GiB of float64 is over the 2 GiB address-space limit: NumPy raises, the kernel survives.
    reply, _ = _run(kc, "import numpy as np\na = np.ones(2**29)")
    assert reply["status"] == "error" and reply["ename"] == "MemoryError"
    reply, out = _run(kc, "b = np.ones(2**20)\nprint(int(b.sum()), os.getpid())")
    assert reply["status"] == "ok"
    assert out.split() == ["1048576", pid.strip()]
    assert km.is_alive()


def _python(code, timeout=60):
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=timeout
    )


def test_limits_above_the_hard_limit_are_clamped_with_a_warning():
    r = _python(
        """
        import resource
        from spatial_runtime.kernel_launch import apply_limits
        resource.setrlimit(resource.RLIMIT_CPU, (1000, 1000))
        apply_limits(0, 0)  # unlimited CPU cannot be restored once the hard limit is 1000 s
        unlimited_as = resource.getrlimit(resource.RLIMIT_AS)[0] == resource.RLIM_INFINITY
        print(resource.getrlimit(resource.RLIMIT_CPU), unlimited_as)
        """
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "(1000, 1000) True"
    assert "RLIMIT_CPU unlimited is above the hard limit 1000; using 1000" in r.stderr


def test_cpu_limit_stops_a_runaway_process():
    r = _python(
        """
        from spatial_runtime.kernel_launch import apply_limits
        apply_limits(0, 1)
        while True:
            pass
        """,
        timeout=30,
    )
    # Soft and hard limits are equal, so Linux sends SIGKILL at the limit (SIGXCPU elsewhere).
    assert r.returncode in (-signal.SIGKILL, -signal.SIGXCPU)


def test_launcher_arguments_split():
    from spatial_runtime.kernel_launch import parse_args

    args, rest = parse_args(["--mem-bytes", "10", "-f", "/tmp/k.json", "--cpu-seconds=3", "--debug"])
    assert (args.mem_bytes, args.cpu_seconds) == (10, 3)
    assert rest == ["-f", "/tmp/k.json", "--debug"]
    with pytest.raises(ValueError, match=">= 0"):
        from spatial_runtime.kernel_launch import apply_limits

        apply_limits(-1, 0)


# --------------------------------------------------------------------------------------------------
# server_launch
# --------------------------------------------------------------------------------------------------


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, tmp: Path, nodelay: str | None):
        self.token = "test-token-123"
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = tmp / "server.log"
        env = dict(os.environ)
        env.update(
            JUPYTER_TOKEN=self.token,
            JUPYTER_CONFIG_DIR=str(tmp / "config"),
            JUPYTER_RUNTIME_DIR=str(tmp / "runtime"),
            JUPYTER_DATA_DIR=str(tmp / "data"),
        )
        env.pop("SPATIALCLAW_NODELAY", None)
        if nodelay is not None:
            env["SPATIALCLAW_NODELAY"] = nodelay
        args = [
            sys.executable,
            "-m",
            "spatial_runtime.server_launch",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0",
            "--ServerApp.open_browser=False",
            "--ServerApp.log_level=DEBUG",
            f"--ServerApp.root_dir={tmp}",
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            args.append("--allow-root")
        self._log_file = open(self.log, "w")  # closed in stop()
        self.proc = subprocess.Popen(
            args,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def request(self, method, path, body=None):
        req = urllib.request.Request(
            self.base + path,
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=30) as resp:
            raw = resp.read()
            return json.loads(raw) if raw else None

    def wait_ready(self, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited: {self.log.read_text()}")
            try:
                return self.request("GET", "/api/status")
            except OSError:
                time.sleep(0.2)
        raise AssertionError(f"server not ready: {self.log.read_text()}")

    def wait_log(self, text, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log.read_text():
                return True
            time.sleep(0.1)
        return False

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()  # jupyter_server shuts its kernels down on SIGTERM
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self._log_file.close()


@pytest.fixture
def start_server(tmp_path):
    servers = []

    def start(nodelay=None):
        d = tmp_path / f"server{len(servers)}"
        d.mkdir()
        server = Server(d, nodelay)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


async def _open_kernel_websocket(server, kernel_id):
    from tornado.httpclient import HTTPRequest
    from tornado.websocket import websocket_connect

    url = f"ws://127.0.0.1:{server.port}/api/kernels/{kernel_id}/channels"
    ws = await websocket_connect(HTTPRequest(url, headers={"Authorization": f"token {server.token}"}))
    ws.close()


def test_server_sets_nodelay_on_kernel_websockets(start_server):
    server = start_server()
    assert "started" in server.wait_ready()
    assert server.wait_log("spatialclaw: TCP_NODELAY on kernel websockets", timeout=1)
    kernel = server.request("POST", "/api/kernels", {"name": "python3"})
    try:
        asyncio.run(_open_kernel_websocket(server, kernel["id"]))
        # Read back from the websocket's own socket after the patched open() set it.
        assert server.wait_log(f"spatialclaw: TCP_NODELAY=1 on kernel websocket {kernel['id']}")
    finally:
        server.request("DELETE", f"/api/kernels/{kernel['id']}")


def test_nodelay_patch_can_be_disabled(start_server):
    server = start_server(nodelay="0")
    server.wait_ready()
    log = server.log.read_text()
    assert "spatialclaw: TCP_NODELAY patch disabled (SPATIALCLAW_NODELAY=0)" in log
    assert "spatialclaw: TCP_NODELAY on kernel websockets" not in log


def test_patch_is_idempotent_and_marks_the_handler():
    r = _python(
        """
        from jupyter_server.services.kernels.websocket import KernelWebsocketHandler
        from spatial_runtime.server_launch import patch_kernel_websocket
        original = KernelWebsocketHandler.open
        assert patch_kernel_websocket() and patch_kernel_websocket()
        patched = KernelWebsocketHandler.open
        assert patched is not original and patched.__wrapped__ is original
        print("ok")
        """
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "ok"


def test_server_start_skips_the_slow_optional_iri_checker():
    # jsonschema's optional `iri` format checker (rfc3987_syntax) builds a grammar at import: the launcher keeps it
    # out, and jupyter_server, its event schemas and a format-checked validation still work without it.
    r = _python(
        """
        import sys
        from spatial_runtime.server_launch import skip_slow_optional_imports
        assert skip_slow_optional_imports() == ["rfc3987_syntax"]
        import jupyter_server.serverapp
        from jupyter_events import EventLogger
        from jupyter_server import DEFAULT_EVENTS_SCHEMA_PATH
        assert sys.modules["rfc3987_syntax"] is None
        logger = EventLogger()
        schemas = sorted(DEFAULT_EVENTS_SCHEMA_PATH.glob("*/v1.yaml"))
        assert schemas, "jupyter_server ships event schemas"
        for s in schemas:
            logger.register_event_schema(s)
        import jsonschema
        checker = jsonschema.Draft7Validator.FORMAT_CHECKER
        assert "iri" not in checker.checkers and "date-time" in checker.checkers
        print(len(schemas))
        """
    )
    assert r.returncode == 0, r.stderr
    assert int(r.stdout.strip()) >= 1


def test_slow_optional_imports_can_be_kept():
    r = _python(
        """
        import os, sys
        os.environ["SPATIALCLAW_FAST_SERVER_START"] = "0"
        from spatial_runtime.server_launch import skip_slow_optional_imports
        assert skip_slow_optional_imports() == []
        import jsonschema._format
        assert sys.modules.get("rfc3987_syntax") is not None
        print("ok")
        """
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "ok"
