import os
import subprocess
import sys
import time

CHILD = "import time; from spatial_common import parent_watch; assert parent_watch.start(); time.sleep(60)"


def test_process_stops_when_its_host_dies():
    host = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD],
        env={**os.environ, "SPATIALCLAW_PARENT_PID": str(host.pid)},
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(1.5)
        assert child.poll() is None, "the watcher must not stop the process while the host lives"
        host.kill()
        host.wait()
        child.wait(timeout=10)
        assert child.returncode != 0  # ended by SIGTERM
        assert "host process" in child.stderr.read()
    finally:
        for p in (host, child):
            if p.poll() is None:
                p.kill()


def test_stops_even_when_stderr_is_a_broken_pipe():
    """The host usually reads the server's stderr through a pipe, which dies with it."""
    host = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    read_end, write_end = os.pipe()
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD], env={**os.environ, "SPATIALCLAW_PARENT_PID": str(host.pid)}, stderr=write_end
    )
    os.close(write_end)
    os.close(read_end)  # nobody reads stderr any more: writes raise BrokenPipeError
    try:
        time.sleep(1.0)
        host.kill()
        host.wait()
        child.wait(timeout=10)
        assert child.returncode != 0
    finally:
        for p in (host, child):
            if p.poll() is None:
                p.kill()


def test_no_watch_without_a_parent_pid():
    out = subprocess.run(
        [sys.executable, "-c", "from spatial_common import parent_watch; print(parent_watch.start())"],
        env={k: v for k, v in os.environ.items() if k != "SPATIALCLAW_PARENT_PID"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "False"
