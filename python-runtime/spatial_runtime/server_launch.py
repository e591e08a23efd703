"""Run jupyter_server with TCP_NODELAY on kernel websockets (docs/kernel-protocol.md, "Processes").

Usage::

    python -m spatial_runtime.server_launch <jupyter_server args>

Why: tornado turns Nagle's algorithm back on (``set_nodelay(False)``) when an HTTP response finishes,
including the ``101 Switching Protocols`` of a websocket upgrade. Small kernel messages then wait for
delayed ACKs and a ``1+1`` round trip takes ~44 ms instead of ~4 ms.

How: tornado's ``WebSocketProtocol13._accept_connection`` finishes the 101 response, detaches the
stream from the HTTP connection (``handler._detach_stream()``) and only then calls ``handler.open()``;
from that point the websocket protocol owns the stream and nothing resets the flag. So wrapping
``KernelWebsocketHandler.open`` to call ``self.set_nodelay(True)`` first sets it for the life of the
connection. The server logs ``spatialclaw: TCP_NODELAY on kernel websockets`` on stderr at startup and, at
debug level, the flag read back from each kernel websocket's socket.

``SPATIALCLAW_NODELAY=0`` in the environment leaves jupyter_server unpatched (the benchmark's baseline).
If the handler class cannot be found (jupyter_server moved it), a warning is printed and the server runs
unpatched.
"""

from __future__ import annotations

import functools
import os
import socket
import sys
from collections.abc import Sequence
from typing import Any

_MARK = "_spatialclaw_nodelay"


def _say(message: str) -> None:
    print(f"spatialclaw: {message}", file=sys.stderr, flush=True)


def _socket_nodelay(handler: Any) -> int | None:
    try:
        sock = handler.ws_connection.stream.socket
        return int(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
    except Exception:
        return None


def patch_kernel_websocket() -> bool:
    """Wrap ``KernelWebsocketHandler.open`` to set TCP_NODELAY on the websocket's stream. Idempotent.

    Returns:
        True if the handler is patched, False if the class could not be found (a warning is printed).
    """
    try:
        from jupyter_server.services.kernels.websocket import KernelWebsocketHandler
    except ImportError as err:
        _say(f"WARNING: cannot patch kernel websockets for TCP_NODELAY ({err}); running unpatched")
        return False
    original = getattr(KernelWebsocketHandler, "open", None)
    if original is None:
        _say("WARNING: KernelWebsocketHandler.open not found; running without TCP_NODELAY")
        return False
    if getattr(original, _MARK, False):
        return True

    @functools.wraps(original)
    def open_with_nodelay(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            self.set_nodelay(True)
            kernel_id = kwargs.get("kernel_id", args[0] if args else "?")
            self.log.debug("spatialclaw: TCP_NODELAY=%s on kernel websocket %s", _socket_nodelay(self), kernel_id)
        except Exception as err:  # never break the connection over an optimisation
            self.log.warning("spatialclaw: could not set TCP_NODELAY on a kernel websocket: %s", err)
        return original(self, *args, **kwargs)

    setattr(open_with_nodelay, _MARK, True)
    KernelWebsocketHandler.open = open_with_nodelay
    return True


def main(argv: Sequence[str] | None = None) -> None:
    """Patch (unless ``SPATIALCLAW_NODELAY=0``) and run ``ServerApp.launch_instance`` with ``argv``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if os.environ.get("SPATIALCLAW_NODELAY", "").strip() == "0":
        _say("TCP_NODELAY patch disabled (SPATIALCLAW_NODELAY=0)")
    elif patch_kernel_websocket():
        _say("TCP_NODELAY on kernel websockets")
    from jupyter_server.serverapp import ServerApp
    from spatial_common import parent_watch

    parent_watch.start()  # a host that dies (even by SIGKILL) takes its server and kernels with it
    ServerApp.launch_instance(argv=args)


if __name__ == "__main__":
    main()
