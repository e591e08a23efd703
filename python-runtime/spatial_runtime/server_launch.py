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

Start-up: :func:`skip_slow_optional_imports` keeps ``rfc3987_syntax`` from being imported. jsonschema imports it,
when installed, only to check the ``iri`` / ``iri-reference`` string formats; it builds a Lark grammar at import time,
about 0.9 s of the server's ~1.45 s start on this project's 2-core CI machine (``python -X importtime``). No schema
of jupyter_server, jupyter_events or jupyter_client uses those formats, so nothing the server validates changes.
``SPATIALCLAW_FAST_SERVER_START=0`` imports it as usual.

Kernel environment: jupyter_client starts each kernel with a copy of the server's ``os.environ``, which holds the
server's ``JUPYTER_TOKEN``. :func:`restrict_kernel_env` makes it an allow-list instead: a kernel gets only the
variables named in ``SPATIALCLAW_KERNEL_ENV`` (comma-separated; the host computes it,
electron/services/jupyter/server.ts ``kernelEnvNames``) plus jupyter_client's own ``JPY_*``. Without that variable
(a server started by hand) kernels get the server's environment without ``JUPYTER_TOKEN`` and without any
variable whose name looks secret (``*KEY*``, ``*TOKEN*``, ``*SECRET*``, ``*PASSWORD*``, ``*CREDENTIAL*``). The server
prints ``spatialclaw: kernel environment restricted`` on stderr at startup.
"""

from __future__ import annotations

import functools
import os
import re
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


#: The variable listing, comma-separated, the names of the variables kernels get.
KERNEL_ENV_VAR = "SPATIALCLAW_KERNEL_ENV"
_SECRET_NAME = re.compile(r"(KEY|TOKEN|SECRET|PASSW(OR)?D|CREDENTIAL)", re.IGNORECASE)


def kernel_env(env: dict[str, str], allowed: str | None) -> dict[str, str]:
    """The environment a kernel gets out of ``env`` (the server's, with jupyter_client's additions).

    Args:
        env: the environment jupyter_client built for the kernel.
        allowed: the value of ``SPATIALCLAW_KERNEL_ENV`` (comma-separated names), or None when unset.

    Returns:
        ``env`` restricted to the names in ``allowed`` and ``JPY_*``; with ``allowed`` None, ``env`` without
        ``JUPYTER_TOKEN`` and without secret-looking names.
    """
    if allowed is None:
        return {k: v for k, v in env.items() if k != "JUPYTER_TOKEN" and not _SECRET_NAME.search(k)}
    names = {n for n in allowed.split(",") if n}
    return {k: v for k, v in env.items() if k in names or k.startswith("JPY_")}


def restrict_kernel_env() -> bool:
    """Wrap jupyter_client's ``KernelProvisionerBase._finalize_env`` (the documented last step that shapes a kernel's
    environment before launch) to apply :func:`kernel_env`. Idempotent.

    Returns:
        True when patched, False when the provisioner class could not be found (a warning is printed; kernels
        then inherit the server's environment, token included).
    """
    try:
        from jupyter_client.provisioning.provisioner_base import KernelProvisionerBase
    except ImportError as err:
        _say(f"WARNING: cannot restrict the kernels' environment ({err}); kernels inherit the server's")
        return False
    original = KernelProvisionerBase._finalize_env
    if getattr(original, _MARK, False):
        return True
    allowed = os.environ.get(KERNEL_ENV_VAR)

    @functools.wraps(original)
    def finalize_env(self: Any, env: dict[str, str]) -> None:
        original(self, env)
        kept = kernel_env(env, allowed)
        env.clear()
        env.update(kept)

    setattr(finalize_env, _MARK, True)
    KernelProvisionerBase._finalize_env = finalize_env  # type: ignore[method-assign]
    return True


#: Optional imports of jupyter_server's dependencies that cost start-up time and serve nothing the server uses.
SLOW_OPTIONAL_IMPORTS: tuple[str, ...] = ("rfc3987_syntax",)


def skip_slow_optional_imports() -> list[str]:
    """Make :data:`SLOW_OPTIONAL_IMPORTS` raise ImportError when imported (a ``None`` entry in ``sys.modules``).

    Their importers treat them as optional (``with suppress(ImportError)`` in ``jsonschema._format``). Modules
    already imported are left alone. Does nothing when ``SPATIALCLAW_FAST_SERVER_START=0``.

    Returns:
        The module names now blocked.
    """
    if os.environ.get("SPATIALCLAW_FAST_SERVER_START", "").strip() == "0":
        return []
    blocked = []
    for name in SLOW_OPTIONAL_IMPORTS:
        if name not in sys.modules:
            sys.modules[name] = None  # type: ignore[assignment]  # the import system's "not importable" marker
            blocked.append(name)
    return blocked


def main(argv: Sequence[str] | None = None) -> None:
    """Patch (unless ``SPATIALCLAW_NODELAY=0``) and run ``ServerApp.launch_instance`` with ``argv``."""
    args = list(sys.argv[1:] if argv is None else argv)
    skip_slow_optional_imports()  # before anything imports jsonschema
    if os.environ.get("SPATIALCLAW_NODELAY", "").strip() == "0":
        _say("TCP_NODELAY patch disabled (SPATIALCLAW_NODELAY=0)")
    elif patch_kernel_websocket():
        _say("TCP_NODELAY on kernel websockets")
    if restrict_kernel_env():
        _say("kernel environment restricted")
    from jupyter_server.serverapp import ServerApp
    from spatial_common import parent_watch

    parent_watch.start()  # a host that dies (even by SIGKILL) takes its server and kernels with it
    ServerApp.launch_instance(argv=args)


if __name__ == "__main__":
    main()
