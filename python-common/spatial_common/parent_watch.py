"""Stop this process when the host that started it is gone (even if the host was SIGKILLed).

Used by the Jupyter server launcher (spatial_runtime.server_launch) and the perception server.
The host passes its pid in ``SPATIALCLAW_PARENT_PID``. A daemon thread checks every second whether that
process still exists and, once it does not, sends this process SIGTERM, so the Jupyter or perception
server shuts down cleanly (and takes its kernels with it). Detached servers simply get no pid.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def start(env_var: str = "SPATIALCLAW_PARENT_PID", interval_s: float = 1.0) -> bool:
    """Start watching the pid in ``env_var``; returns whether a watch was started."""
    raw = os.environ.get(env_var, "").strip()
    if not raw.isdigit() or int(raw) <= 1:
        return False
    parent = int(raw)

    def watch() -> None:
        while _alive(parent):
            time.sleep(interval_s)
        try:
            # stderr is often a pipe to the dead host: writing may fail, and must not stop the shutdown.
            print(f"spatialclaw: host process {parent} is gone; shutting down", file=sys.stderr, flush=True)
        except (OSError, ValueError):
            pass
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
    return True
