"""``python -m spatial_perception``: run the perception server (docs/perception-api.md, "Start").

    python -m spatial_perception --host 127.0.0.1 --port 0 --token T --backends rgbd,classical,oracle \\
        [--artifact-dir DIR] [--cache-mb 2048] [--max-body-mb 512] [--timeout-s 600] [--max-frames 64]

Once the socket is bound and serving, exactly one line goes to stdout::

    SPATIAL_PERCEPTION_READY http://127.0.0.1:PORT

(``--port 0`` picks a free port; the line has the real one.) Everything else — logs, and anything a backend
prints, even from C code — goes to stderr: file descriptor 1 is pointed at stderr at start-up and the
READY line is written to a saved copy of the original stdout.

The token comes from ``--token`` or, preferably (argv is visible in ``ps``), the environment variable
``SPATIAL_PERCEPTION_TOKEN``; without one the server refuses to start (exit status 2). SIGTERM shuts down
gracefully (running jobs are cancelled, queued ones fail with 503) and exits with status 0.

``SPATIAL_PERCEPTION_EXTRA_BACKENDS="name=module:Class,..."`` adds backends outside the registry (the test
suite uses it for the ``echo`` diagnostics backends of :mod:`spatial_perception.backends.echo`).
"""

from __future__ import annotations

import argparse
import copy
import ipaddress
import logging
import logging.config
import os
import signal
import sys
from typing import IO, Any

import uvicorn
import uvicorn.config

from spatial_common import parent_watch
from spatial_perception.app import ServerConfig, create_app

TOKEN_ENV = "SPATIAL_PERCEPTION_TOKEN"
EXTRA_BACKENDS_ENV = "SPATIAL_PERCEPTION_EXTRA_BACKENDS"
READY = "SPATIAL_PERCEPTION_READY"
GRACEFUL_SHUTDOWN_S = 10.0

log = logging.getLogger("spatial_perception")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m spatial_perception", description="SpatialClaw perception server")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=0, help="port to bind; 0 picks a free one (default 0)")
    p.add_argument("--token", default=None, help=f"bearer token (prefer the {TOKEN_ENV} environment variable)")
    p.add_argument("--backends", default="rgbd,classical,oracle", help="comma-separated backend names")
    p.add_argument("--artifact-dir", default=None, help="artifact directory (default: <tmp>/perception-artifacts)")
    p.add_argument("--cache-mb", type=float, default=2048, help="cache size in MiB of array bytes (default 2048)")
    p.add_argument("--max-body-mb", type=float, default=512, help="request body cap in MiB (default 512)")
    p.add_argument("--timeout-s", type=float, default=600, help="default request timeout in seconds (default 600)")
    p.add_argument("--max-frames", type=int, default=64, help="default params.max_frames of reconstruct (64)")
    p.add_argument("--oracle-root", default=None, help="folder of spatialclaw-oracle/1 annotation sets (oracle)")
    p.add_argument("--sam3-checkpoint", default=None, help="local SAM 3 checkpoint directory (sam3 backend)")
    p.add_argument("--da3-checkpoint", default=None, help="local Depth Anything 3 checkpoint directory (da3 backend)")
    args = p.parse_args(argv)
    for flag in ("cache_mb", "max_body_mb", "timeout_s"):
        if getattr(args, flag) <= 0 and not (flag == "cache_mb" and args.cache_mb == 0):
            p.error(f"--{flag.replace('_', '-')} must be > 0")
    if args.max_frames < 1:
        p.error("--max-frames must be >= 1")
    return args


def parse_extra_backends(text: str) -> dict[str, tuple[str, str]]:
    """Parse ``"name=module:Class,..."`` into ``{name: (module, Class)}``.

    Raises:
        ValueError: an entry without ``=`` or ``:``.
    """
    out: dict[str, tuple[str, str]] = {}
    for item in filter(None, (s.strip() for s in text.split(","))):
        name, eq, target = item.partition("=")
        module, colon, cls = target.partition(":")
        if not (eq and colon and name.strip() and module.strip() and cls.strip()):
            raise ValueError(f"{EXTRA_BACKENDS_ENV}: {item!r} is not name=module:Class")
        out[name.strip()] = (module.strip(), cls.strip())
    return out


def _log_config() -> dict[str, Any]:
    """uvicorn's logging config with the access log moved to stderr, plus the ``spatial_perception`` logger."""
    cfg = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    cfg["handlers"]["access"]["stream"] = "ext://sys.stderr"
    cfg["loggers"]["spatial_perception"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    return cfg


def _stdout_to_stderr() -> IO[str]:
    """Point fd 1 at stderr and return a text stream on the original stdout (for the READY line only)."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    return os.fdopen(saved, "w", encoding="utf-8")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class ReadyServer(uvicorn.Server):
    """uvicorn.Server that announces readiness after start-up and cancels jobs when shutdown begins."""

    def __init__(self, config: uvicorn.Config, url: str, ready_stream: IO[str]) -> None:
        super().__init__(config)
        self.url = url
        self.ready_stream = ready_stream

    async def startup(self, sockets: list[Any] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started and not self.should_exit:
            self.ready_stream.write(f"{READY} {self.url}\n")
            self.ready_stream.flush()

    async def shutdown(self, sockets: list[Any] | None = None) -> None:
        self.config.app.state.perception.begin_shutdown()
        await super().shutdown(sockets=sockets)


def _exit_on(code: int) -> Any:
    def handler(signum: int, frame: Any) -> None:
        raise SystemExit(code)

    return handler


def _watch_parent() -> None:
    """When a local host started this server (SPATIALCLAW_PARENT_PID), stop when that host is gone.

    A standalone server on a GPU box has no parent pid and is not watched.
    """
    parent_watch.start()


def main(argv: list[str] | None = None) -> int:
    """Run the server until SIGTERM/SIGINT; returns the process exit status."""
    args = parse_args(argv)
    _watch_parent()
    token = (args.token or os.environ.get(TOKEN_ENV) or "").strip()
    if not token:
        print(
            f"spatial_perception: a token is required. Set the {TOKEN_ENV} environment variable "
            "(preferred: argv is visible to other users) or pass --token.",
            file=sys.stderr,
        )
        return 2
    try:
        extra = parse_extra_backends(os.environ.get(EXTRA_BACKENDS_ENV, ""))
    except ValueError as exc:
        print(f"spatial_perception: {exc}", file=sys.stderr)
        return 2

    ready_stream = _stdout_to_stderr()
    logging.config.dictConfig(_log_config())
    if not _is_loopback(args.host):
        log.warning("binding %s: the server is reachable from other machines (the token is its only guard)", args.host)

    config = ServerConfig(
        token=token,
        backends=[b.strip() for b in args.backends.split(",") if b.strip()],
        artifact_dir=args.artifact_dir,
        cache_mb=args.cache_mb,
        max_body_mb=args.max_body_mb,
        timeout_s=args.timeout_s,
        max_frames=args.max_frames,
        extra_registry=extra,
        backend_options={
            name: opts
            for name, opts in (
                ("oracle", {"root": args.oracle_root}),
                ("sam3", {"checkpoint": args.sam3_checkpoint}),
                ("da3", {"checkpoint": args.da3_checkpoint}),
            )
            if any(v is not None for v in opts.values())
        },
    )
    try:
        app = create_app(config)
    except ValueError as exc:
        log.error("%s", exc)
        return 2

    uconfig = uvicorn.Config(
        app,
        host=args.host,
        port=args.port,
        log_config=None,
        lifespan="on",
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        server_header=False,
    )
    sock = uconfig.bind_socket()
    port = sock.getsockname()[1]
    host = f"[{args.host}]" if ":" in args.host else args.host
    server = ReadyServer(uconfig, f"http://{host}:{port}", ready_stream)
    # uvicorn handles SIGTERM/SIGINT while serving, then re-raises the signal once it has shut down;
    # these handlers turn that (or a signal just before serving) into a clean exit.
    signal.signal(signal.SIGTERM, _exit_on(0))
    signal.signal(signal.SIGINT, _exit_on(130))
    try:
        server.run(sockets=[sock])
    except SystemExit as exc:
        return int(exc.code or 0)
    finally:
        sock.close()
    return 0 if server.started else 1


if __name__ == "__main__":
    sys.exit(main())
