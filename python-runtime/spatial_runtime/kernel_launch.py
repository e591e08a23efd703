"""Start an IPython kernel with memory and CPU limits (docs/kernel-protocol.md, "Processes").

Usage (the host's kernelspec ``argv``, or inside the sandbox after :mod:`spatial_runtime.sandbox_launch`)::

    python -m spatial_runtime.kernel_launch --mem-bytes N --cpu-seconds S [--max-procs P] [--max-file-bytes F]
        [--drop-uid U] -f {connection_file} [ipykernel args]

``--mem-bytes`` sets ``RLIMIT_AS`` (address space, bytes) and ``--cpu-seconds`` sets ``RLIMIT_CPU`` (CPU
time, seconds), both soft and hard, with :func:`resource.setrlimit`; 0 means unlimited. Over the memory
limit, allocations fail (NumPy raises ``MemoryError``) and the kernel survives; over the CPU limit the
kernel receives ``SIGXCPU`` and exits. ``--max-procs`` sets ``RLIMIT_NPROC`` (processes and threads of the kernel's
uid: a fork bomb stops there) and ``--max-file-bytes`` ``RLIMIT_FSIZE`` (the largest file a cell can write; over it
the write fails with ``OSError: [Errno 27] File too large``, ``SIGXFSZ`` being ignored). ``--drop-uid U`` (a root
host's sandbox only) makes the process uid and gid ``U`` with no supplementary groups, after the limits and before
ipykernel starts: no capability survives it. A limit above the current hard limit cannot be raised by an
unprivileged process: it is clamped to the hard limit with a warning on stderr. On Windows (no
:mod:`resource`) the limits are skipped with a warning. ipykernel then starts in this same process with
the remaining arguments.
"""

from __future__ import annotations

import argparse
import atexit
import os
import sys
from collections.abc import Sequence


def _warn(message: str) -> None:
    print(f"spatialclaw kernel_launch: {message}", file=sys.stderr, flush=True)


def _set_limit(resource_id: int, name: str, value: int) -> int:
    """Set soft and hard ``resource_id`` to ``value`` (0 = unlimited), clamped to the hard limit.

    Returns:
        The limit now in force (``resource.RLIM_INFINITY`` for unlimited).
    """
    import resource

    infinity = resource.RLIM_INFINITY
    want = infinity if value == 0 else value
    _soft, hard = resource.getrlimit(resource_id)
    if hard != infinity and (want == infinity or want > hard):
        asked = "unlimited" if want == infinity else str(want)
        _warn(f"{name} {asked} is above the hard limit {hard}; using {hard}")
        want = hard
    try:
        resource.setrlimit(resource_id, (want, want))
    except (ValueError, OSError) as err:
        _warn(f"could not set {name} to {want}: {err}; leaving it as it is")
        return resource.getrlimit(resource_id)[0]
    return want


def apply_limits(mem_bytes: int, cpu_seconds: int, max_procs: int = 0, max_file_bytes: int = 0) -> None:
    """Apply ``RLIMIT_AS`` = ``mem_bytes``, ``RLIMIT_CPU`` = ``cpu_seconds``, ``RLIMIT_NPROC`` = ``max_procs`` and
    ``RLIMIT_FSIZE`` = ``max_file_bytes`` to this process (0 = unlimited, i.e. left as it is for the last two).

    Raises:
        ValueError: for a negative value.
    """
    if min(mem_bytes, cpu_seconds, max_procs, max_file_bytes) < 0:
        raise ValueError(
            f"limits must be >= 0 (0 = unlimited), got mem_bytes={mem_bytes} cpu_seconds={cpu_seconds} "
            f"max_procs={max_procs} max_file_bytes={max_file_bytes}"
        )
    try:
        import resource
    except ImportError:
        if mem_bytes or cpu_seconds or max_procs or max_file_bytes:
            _warn("resource limits are not supported on this platform; running without them")
        return
    _set_limit(resource.RLIMIT_AS, "RLIMIT_AS", mem_bytes)
    _set_limit(resource.RLIMIT_CPU, "RLIMIT_CPU", cpu_seconds)
    if max_procs:
        _set_limit(resource.RLIMIT_NPROC, "RLIMIT_NPROC", max_procs)
    if max_file_bytes:
        import signal

        # Over RLIMIT_FSIZE a write raises OSError (EFBIG) instead of killing the kernel with SIGXFSZ.
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        _set_limit(resource.RLIMIT_FSIZE, "RLIMIT_FSIZE", max_file_bytes)


def drop_privileges(uid: int) -> None:
    """Become ``uid`` (and gid ``uid``) with no supplementary groups, for good (real, effective and saved ids).

    Only a root process can; the sandbox calls it as root inside bwrap's namespaces, where it is the last step before
    ipykernel. Raises:
        PermissionError: when this process may not change its ids (not root).
    """
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    if os.getuid() != uid or os.geteuid() != uid:
        raise PermissionError(f"could not drop to uid {uid}")


def parse_args(argv: Sequence[str]) -> tuple[argparse.Namespace, list[str]]:
    """Split ``argv`` into this launcher's options and the arguments left for ipykernel."""
    parser = argparse.ArgumentParser(
        prog="python -m spatial_runtime.kernel_launch",
        description="Start an IPython kernel under RLIMIT_AS / RLIMIT_CPU limits. Other arguments go to ipykernel.",
        allow_abbrev=False,
    )
    parser.add_argument("--mem-bytes", type=int, default=0, help="address-space limit in bytes (0 = unlimited)")
    parser.add_argument("--cpu-seconds", type=int, default=0, help="CPU-time limit in seconds (0 = unlimited)")
    parser.add_argument("--max-procs", type=int, default=0, help="RLIMIT_NPROC: processes and threads (0 = as is)")
    parser.add_argument("--max-file-bytes", type=int, default=0, help="RLIMIT_FSIZE: largest file written (0 = as is)")
    parser.add_argument("--drop-uid", type=int, default=None, help="become this uid/gid before ipykernel (root only)")
    return parser.parse_known_args(list(argv))


def main(argv: Sequence[str] | None = None) -> None:
    """Apply the limits, then run ipykernel in this process with the remaining arguments."""
    args, rest = parse_args(sys.argv[1:] if argv is None else argv)
    apply_limits(args.mem_bytes, args.cpu_seconds, args.max_procs, args.max_file_bytes)
    if args.drop_uid is not None:
        drop_privileges(args.drop_uid)
    # As ipykernel_launcher does: drop the working directory from sys.path while ipykernel loads;
    # IPython's InteractiveShellApp.init_path puts it back for user code.
    if sys.path and sys.path[0] in ("", os.getcwd()):
        del sys.path[0]
    from ipykernel.kernelapp import launch_new_instance

    sys.argv = [sys.argv[0], *rest]
    launch_new_instance(argv=rest)
    exit_now()


def exit_now() -> None:
    """End the process once the kernel has shut down: run the exit handlers, flush, and skip the interpreter's
    finalisation (tearing down NumPy, SciPy, matplotlib, ... module by module). That teardown cost a batch of 8
    kernels shutting down together 1.7 s on 2 cores, after every handler had run; nothing in it is needed.
    """
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # a closed pipe: nothing left to say
            pass
    os._exit(0)


if __name__ == "__main__":
    main()
