"""``python -m spatial_perception``: run the perception server (docs/perception-api.md, "Start").

    python -m spatial_perception --host 127.0.0.1 --port 0 --token T --backends rgbd,classical,oracle \\
        [--artifact-dir DIR] [--cache-mb 2048] [--max-body-mb 512] [--timeout-s 600] [--max-frames 64] \\
        [--sam3-checkpoint DIR] [--da3-checkpoint DIR] [--mono-checkpoint DIR] [--extra-backend NAME=module:Class ...]
    python -m spatial_perception --list-backends [--json] [--extra-backend ...] [--oracle-root DIR ...]

Once the socket is bound and serving, exactly one line goes to stdout::

    SPATIAL_PERCEPTION_READY http://127.0.0.1:PORT

(``--port 0`` picks a free port; the line has the real one.) Everything else — logs, and anything a backend
prints, even from C code — goes to stderr: file descriptor 1 is pointed at stderr at start-up and the
READY line is written to a saved copy of the original stdout.

The token comes from ``--token`` or, preferably (argv is visible in ``ps``), the environment variable
``SPATIAL_PERCEPTION_TOKEN``; without one the server refuses to start (exit status 2). SIGTERM shuts down
gracefully (running jobs are cancelled, queued ones fail with 503) and exits with status 0.

``--extra-backend NAME=module:Class`` (repeatable) and the environment variable
``SPATIAL_PERCEPTION_EXTRA_BACKENDS="name=module:Class,..."`` add backends outside the registry; the module must
be importable (e.g. through ``PYTHONPATH``: the test suite adds ``test/python`` for its ``echo`` diagnostics
backends, ``perception_testing.echo``). Name them in ``--backends`` to load them.

``--list-backends`` prints every backend of the registry plus the extra ones, each as ``/health`` lists it
(name, capabilities, device, version, available, reason; one line each, or a JSON list with ``--json``), and
exits without starting a server or needing a token. Backend options (``--oracle-root``, checkpoints) apply.
"""

from __future__ import annotations

import argparse
import copy
import ipaddress
import json
import logging
import logging.config
import os
import signal
import sys
from typing import IO, Any

import uvicorn
import uvicorn.config
from spatial_common import parent_watch

from spatial_perception.app import create_app
from spatial_perception.backends import REGISTRY
from spatial_perception.config import BackendSlot, ServerConfig, load_backends

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
    p.add_argument(
        "--artifact-dir",
        default=None,
        help="artifact directory, made private (mode 0700); default: one of this server's own, "
        "<tmp>/perception-artifacts-<uid>/<id>",
    )
    p.add_argument("--cache-mb", type=float, default=2048, help="cache size in MiB of array bytes (default 2048)")
    p.add_argument("--max-body-mb", type=float, default=512, help="request body cap in MiB (default 512)")
    p.add_argument(
        "--max-image-mp",
        type=float,
        default=50,
        help="most megapixels per image, checked from the header before decoding (default 50; 0: no limit)",
    )
    p.add_argument(
        "--max-request-mp",
        type=float,
        default=200,
        help="most megapixels of all images of one request together (default 200; 0: no limit)",
    )
    p.add_argument("--timeout-s", type=float, default=600, help="default request timeout in seconds (default 600)")
    p.add_argument("--max-frames", type=int, default=64, help="default params.max_frames of reconstruct (64)")
    p.add_argument("--oracle-root", default=None, help="folder of spatialclaw-oracle/1 annotation sets (oracle)")
    p.add_argument("--sam3-checkpoint", default=None, help="local SAM 3 checkpoint directory (sam3 backend)")
    p.add_argument("--da3-checkpoint", default=None, help="local Depth Anything 3 checkpoint directory (da3 backend)")
    p.add_argument(
        "--mono-checkpoint",
        default=None,
        help="local metric depth checkpoint directory, Depth Pro or metric Depth Anything V2 (mono backend)",
    )
    p.add_argument(
        "--extra-backend",
        action="append",
        default=[],
        metavar="NAME=module:Class",
        help="a backend outside the registry (repeatable); the module must be importable (PYTHONPATH)",
    )
    p.add_argument(
        "--list-backends",
        action="store_true",
        help="print every backend (registry and extra ones) with availability, reason, capabilities and device, "
        "then exit without starting a server",
    )
    p.add_argument("--json", action="store_true", help="with --list-backends: print a JSON list as /health has it")
    args = p.parse_args(argv)
    for flag in ("cache_mb", "max_body_mb", "timeout_s"):
        if getattr(args, flag) <= 0 and not (flag == "cache_mb" and args.cache_mb == 0):
            p.error(f"--{flag.replace('_', '-')} must be > 0")
    for flag in ("max_image_mp", "max_request_mp"):
        if getattr(args, flag) < 0:
            p.error(f"--{flag.replace('_', '-')} must be >= 0 (0: no limit)")
    if args.max_frames < 1:
        p.error("--max-frames must be >= 1")
    if args.json and not args.list_backends:
        p.error("--json goes with --list-backends")
    return args


def parse_extra_backends(text: str, source: str = EXTRA_BACKENDS_ENV) -> dict[str, tuple[str, str]]:
    """Parse ``"name=module:Class,..."`` into ``{name: (module, Class)}``.

    Args:
        text: comma-separated entries.
        source: where the text came from, for the error message.

    Raises:
        ValueError: an entry without ``=`` or ``:``.
    """
    out: dict[str, tuple[str, str]] = {}
    for item in filter(None, (s.strip() for s in text.split(","))):
        name, eq, target = item.partition("=")
        module, colon, cls = target.partition(":")
        if not (eq and colon and name.strip() and module.strip() and cls.strip()):
            raise ValueError(f"{source}: {item!r} is not name=module:Class")
        out[name.strip()] = (module.strip(), cls.strip())
    return out


def extra_registry(args: argparse.Namespace) -> dict[str, tuple[str, str]]:
    """The extra backends of the environment variable, then of ``--extra-backend`` (which wins on a name).

    Raises:
        ValueError: a malformed entry.
    """
    extra = parse_extra_backends(os.environ.get(EXTRA_BACKENDS_ENV, ""))
    for item in args.extra_backend:
        extra.update(parse_extra_backends(item, "--extra-backend"))
    return extra


def backend_options(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """Constructor options per backend from the CLI flags (only those that were given)."""
    return {
        name: opts
        for name, opts in (
            ("oracle", {"root": args.oracle_root}),
            ("sam3", {"checkpoint": args.sam3_checkpoint}),
            ("da3", {"checkpoint": args.da3_checkpoint}),
            ("mono", {"checkpoint": args.mono_checkpoint}),
        )
        if any(v is not None for v in opts.values())
    }


def list_backends(args: argparse.Namespace, extra: dict[str, tuple[str, str]], out: IO[str]) -> int:
    """Print every registry and extra backend as ``/health`` lists it (text lines, or JSON with ``--json``)."""
    logging.getLogger("spatial_perception").setLevel(logging.ERROR)  # the reasons are in the listing
    slots = load_backends([*REGISTRY, *extra], extra, backend_options(args))
    if args.json:
        out.write(json.dumps([slot.to_json() for slot in slots.values()], indent=2) + "\n")
    else:
        out.writelines(_backend_line(slot) + "\n" for slot in slots.values())
    out.flush()
    return 0


def _backend_line(slot: BackendSlot) -> str:
    state = "available" if slot.available else "unavailable"
    caps = ",".join(slot.capabilities) or "-"
    line = f"{slot.name:<12} {state:<11} {slot.device:<8} {caps}"
    return line if slot.reason is None else f"{line}\n    {slot.reason}"


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
    """Run the server until SIGTERM/SIGINT (or list the backends); returns the process exit status."""
    args = parse_args(argv)
    try:
        extra = extra_registry(args)
    except ValueError as exc:
        print(f"spatial_perception: {exc}", file=sys.stderr)
        return 2
    if args.list_backends:  # anything a backend prints while loading goes to stderr, the listing to stdout
        return list_backends(args, extra, _stdout_to_stderr())
    _watch_parent()
    token = (args.token or os.environ.get(TOKEN_ENV) or "").strip()
    if not token:
        print(
            f"spatial_perception: a token is required. Set the {TOKEN_ENV} environment variable "
            "(preferred: argv is visible to other users) or pass --token.",
            file=sys.stderr,
        )
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
        max_image_mp=args.max_image_mp,
        max_request_mp=args.max_request_mp,
        extra_registry=extra,
        backend_options=backend_options(args),
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
