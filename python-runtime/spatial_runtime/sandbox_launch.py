"""Start an agent kernel inside a bubblewrap sandbox (docs/security.md).

Usage (the host's kernelspec ``argv`` when the sandbox is on; ``spatialclaw`` writes it)::

    python -m spatial_runtime.sandbox_launch --root DIR [--bwrap PATH] [--uid 65534] -- \\
        <kernel_launch options> -f {connection_file}

Runs on the host, outside the sandbox, as the Jupyter server's user, then replaces itself (``execv``) with
``bwrap`` so that the Jupyter server's kernel process *is* the sandbox: killing it kills the kernel
(``--die-with-parent``), and a shutdown request ends both.

What the kernel sees (everything else of the host's file system is absent):

============================  ======  ==========================================================================
path in the sandbox           mode    what
============================  ======  ==========================================================================
``/usr``, ``/bin``, ``/lib*``  ro      the OS's programs and shared libraries (``/bin`` etc. as on merged-/usr
                                       Debian)
``/etc/ld.so.cache`` …        ro      the few files of ``/etc`` the loader and the C library need (no passwd,
                                       no keys, no host names)
the interpreter's prefix      ro      ``sys.base_prefix`` (e.g. a pyenv Python) and the venv (``sys.prefix``)
the runtime's packages        ro      ``spatial_runtime`` and ``spatial_common`` (editable installs: their
                                       folders)
``/inputs``                   ro      ``<root>/<kernel id>/inputs``: the host links (or copies) each sample's
                                       inputs here before ``prepare``
``/host``                     ro      ``<root>/<kernel id>/host``: the Unix sockets of the host's bridge
                                       (model calls, perception calls)
``/scratch``                  rw      ``<root>/<kernel id>/scratch``: the kernel's working folder and ``HOME``
``/tmp``                      rw      ``<root>/<kernel id>/tmp``
the Jupyter runtime folder    rw      ``<root>/<kernel id>/rt`` mounted at the real runtime folder: the
                                       connection file and the kernel's IPC (Unix) sockets
``/proc``, ``/dev``           --      a fresh ``proc`` of the sandbox's own PID namespace, a minimal ``/dev``
============================  ======  ==========================================================================

Namespaces: network (only a loopback with nothing on it), PID, IPC, UTS and cgroup (where the kernel allows)
are new; the mount namespace is new (``bwrap``'s own root). The kernel talks to the Jupyter server over
``transport: ipc`` sockets only, so it needs no network. The Jupyter server connects to
``<runtime>/kernel-<id>-ipc-<n>``: this launcher makes each of those a symlink to the socket the kernel
creates in its own ``rt`` folder, so the server reaches it and the kernel sees no other kernel's files.

User: when the host runs as root, the kernel drops to ``--uid`` (default 65534, ``nobody``) inside the sandbox
before any model code runs (``kernel_launch --drop-uid``); the per-kernel folders are given to that uid. When the
host runs unprivileged, ``bwrap`` runs in a new user namespace and the kernel keeps the host user's uid (it holds
no capabilities either way). Environment: cleared (``--clearenv``) and set to the short list of
:func:`sandbox_env`. ``bwrap`` sets ``PR_SET_NO_NEW_PRIVS``; resource limits (memory, CPU time, processes,
file size) are applied by :mod:`spatial_runtime.kernel_launch` inside.

Errors: a missing ``bwrap`` or a connection file that is not ``kernel-<id>.json`` exits 2 with a message naming the
fix on stderr (which the Jupyter server logs and the host shows as the kernel's start failure).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

#: The uid (and gid) a root host runs kernels as: ``nobody`` on Debian and most Linux systems.
NOBODY = 65534

#: Files of ``/etc`` the sandbox gets, read-only, where they exist.
ETC_FILES = ("ld.so.cache", "ld.so.conf", "localtime", "nsswitch.conf", "host.conf")

#: The connection file jupyter_server writes for each kernel: ``kernel-<id>.json``.
CONNECTION_NAME = re.compile(r"^kernel-([A-Za-z0-9-]+)\.json$")

#: In the kernel's folder: the names in its tmp folder that are the sandbox's mount points (JSON), kept by the host.
TMP_KEEP = "tmp-keep.json"

#: Per-kernel folders under ``<root>/<kernel id>/`` and where the sandbox sees them (None: at the runtime folder).
FOLDERS = {"scratch": "/scratch", "tmp": "/tmp", "inputs": "/inputs", "host": "/host", "frames": "/frames", "rt": None}


def _fail(message: str) -> None:
    print(f"spatialclaw sandbox_launch: {message}", file=sys.stderr, flush=True)
    raise SystemExit(2)


def sandbox_env(allowed: dict[str, str]) -> dict[str, str]:
    """The kernel's environment inside the sandbox.

    Args:
        allowed: the variables the Jupyter server gave this kernel (already an allow-list, server_launch).
    Returns:
        ``PATH`` (the venv's ``bin`` and the OS's), ``HOME``/``TMPDIR``/``MPLCONFIGDIR`` in the sandbox's writable
        folders, ``USER``, ``LANG``, the frame cache at ``/frames``, the thread settings the host passed
        (``OMP_NUM_THREADS`` …), ``JPY_*`` (jupyter_client's), ``PYTHON*`` settings, and ``SPATIALCLAW_*`` settings
        that are not paths of the host. Nothing else of the host's environment.
    """
    env = {
        "PATH": f"{Path(sys.prefix) / 'bin'}:/usr/local/bin:/usr/bin:/bin",
        "HOME": "/scratch",
        "TMPDIR": "/tmp",
        "MPLCONFIGDIR": "/scratch/.config/matplotlib",
        "USER": "sandbox",
        "LOGNAME": "sandbox",
        "LANG": allowed.get("LANG", "C.UTF-8"),
        "SPATIALCLAW_KERNEL_SANDBOX": "bwrap",
        "SPATIALCLAW_FRAME_CACHE": "/frames",
        "MPLBACKEND": "Agg",
    }
    host_paths = {"SPATIALCLAW_FRAME_CACHE", "SPATIALCLAW_DATA_DIR", "SPATIALCLAW_HOME"}
    for key, value in allowed.items():
        keep = (
            # Not JPY_PARENT_PID: in the sandbox's PID namespace the kernel's parent is bwrap's init (pid 1), and
            # ipykernel would take that for a dead parent. bwrap's --die-with-parent ends the kernel with its parent.
            (key.startswith("JPY_") and key != "JPY_PARENT_PID")
            or key.endswith("_NUM_THREADS")
            or key in ("PYTHONUNBUFFERED", "PYTHONHASHSEED", "PYDEVD_DISABLE_FILE_VALIDATION", "TZ", "LC_ALL")
            or (key.startswith("SPATIALCLAW_") and key not in host_paths and not key.endswith(("_DIR", "_PATH")))
        )
        if keep and key not in env:
            env[key] = value
    return env


def _package_dir(name: str) -> str | None:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return str(Path(next(iter(spec.submodule_search_locations))).resolve())


def read_only_paths() -> list[str]:
    """Host paths the sandbox mounts read-only at the same place: the interpreter, the venv, the runtime's packages.

    Returns absolute, existing, de-duplicated paths, none inside another.
    """
    wanted = [sys.base_prefix, sys.prefix, os.path.realpath(sys.base_prefix), os.path.realpath(sys.executable)]
    for pkg in ("spatial_runtime", "spatial_common"):
        found = _package_dir(pkg)
        if found:
            wanted.append(found)
    out: list[str] = []
    for p in sorted({os.path.abspath(w) for w in wanted if w and os.path.exists(w)}, key=len):
        if p.startswith(("/usr/", "/bin/", "/lib")) or p == "/usr":
            continue  # the OS part is mounted whole
        if os.path.isfile(p):
            p = os.path.dirname(p)
        if not any(p == q or p.startswith(q + os.sep) for q in out):
            out.append(p)
    return out


def prepare_folders(root: Path, kernel_id: str, connection_file: Path, uid: int | None) -> Path:
    """Create ``<root>/<kernel_id>/{scratch,tmp,inputs,host,frames,rt}``, copy the connection file into ``rt`` and
    point the server's IPC socket paths at ``rt``. Idempotent (a restarted kernel reuses its folders).

    Args:
        root: the sandbox root of this Jupyter server (created by the host, 0700).
        kernel_id: from ``kernel-<id>.json``.
        connection_file: the server's connection file for the kernel.
        uid: the uid that owns the writable folders (the kernel's, when the host is root), or None.
    Returns:
        The kernel's folder.
    """
    kdir = root / kernel_id
    kdir.mkdir(mode=0o700, exist_ok=True)
    for name in FOLDERS:
        (kdir / name).mkdir(mode=0o755 if name in ("inputs", "host") else 0o700, exist_ok=True)
    info = json.loads(connection_file.read_text())
    if info.get("transport") != "ipc":
        _fail(
            f"{connection_file} uses transport {info.get('transport')!r}; a sandboxed kernel has no network and needs "
            "the Jupyter server started with --KernelManager.transport=ipc (spatialclaw does this; a hand-started "
            "server needs the same option)"
        )
    rt = kdir / "rt"
    shutil.copyfile(connection_file, rt / connection_file.name)
    os.chmod(rt / connection_file.name, 0o600)
    ip = info["ip"]
    if os.path.dirname(ip) != str(connection_file.parent):
        _fail(f"the IPC socket prefix {ip!r} is not in the connection file's folder {connection_file.parent}")
    for key in ("shell_port", "iopub_port", "stdin_port", "control_port", "hb_port"):
        link = Path(f"{ip}-{info[key]}")
        target = rt / link.name
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(target)
    # Mount points the sandbox makes inside its /tmp (for paths under the host's /tmp): the host, which empties the
    # kernel's tmp folder between samples, must leave them (removing one would detach the mount in the sandbox).
    under_tmp = [*read_only_paths(), str(connection_file.parent)]
    keep = sorted({Path(p).relative_to("/tmp").parts[0] for p in under_tmp if p.startswith("/tmp/")})
    (kdir / TMP_KEEP).write_text(json.dumps(keep))
    seeded = seed_font_cache(kdir / "scratch")
    if uid is not None:
        owned = [kdir, *(kdir / n for n in FOLDERS if n not in ("inputs", "host")), rt / connection_file.name, *seeded]
        for path in owned:
            os.chown(path, uid, uid)
    return kdir


def seed_font_cache(scratch: Path) -> list[Path]:
    """Copy the host's matplotlib font list (``fontlist-*.json``) into the kernel's ``MPLCONFIGDIR``, so that its first
    ``import matplotlib`` does not scan the system's fonts again (about 0.1 s per kernel start on the CI machine).

    Returns:
        The folders and files created (for ``chown``); nothing when the host has no font list yet.
    """
    homes = [
        os.environ.get("MPLCONFIGDIR"),
        os.path.expanduser("~/.cache/matplotlib"),
        os.path.expanduser("~/.config/matplotlib"),
    ]
    for home in filter(None, homes):
        found = sorted(Path(home).glob("fontlist-*.json")) if os.path.isdir(home) else []
        if found:
            target = scratch / ".config" / "matplotlib"
            target.mkdir(parents=True, exist_ok=True)
            made = [scratch / ".config", target]
            for f in found:
                shutil.copyfile(f, target / f.name)
                made.append(target / f.name)
            return made
    return []


def bwrap_argv(
    bwrap: str,
    kdir: Path,
    runtime_dir: Path,
    kernel_argv: Sequence[str],
    env: dict[str, str],
    *,
    as_root: bool,
    uid: int,
) -> list[str]:
    """The ``bwrap`` command line that runs ``kernel_argv`` in the sandbox described in the module docstring."""
    argv = [
        bwrap,
        "--die-with-parent",
        "--new-session",
        "--unshare-pid",
        "--unshare-net",
        "--unshare-ipc",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--hostname",
        "sandbox",
        "--clearenv",
    ]
    if not as_root:
        # An unprivileged host user needs a user namespace to mount; inside it the kernel is uid `uid`, outside the
        # host user (no capabilities anywhere).
        argv += ["--unshare-user", "--uid", str(uid), "--gid", str(uid)]
    argv += ["--ro-bind", "/usr", "/usr"]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        p = Path("/") / name
        if p.is_symlink():
            argv += ["--symlink", os.readlink(p), f"/{name}"]
        elif p.is_dir():
            argv += ["--ro-bind", str(p), f"/{name}"]
    argv += ["--perms", "0755", "--dir", "/etc"]
    for name in ETC_FILES:
        p = Path("/etc") / name
        if p.exists():
            argv += ["--ro-bind", str(p.resolve()), str(p)]
    made: set[str] = {"/", "/usr", "/etc"}

    def parents(path: str) -> list[str]:
        out: list[str] = []
        for parent in reversed(Path(path).parents):
            s = str(parent)
            if s not in made:
                made.add(s)
                out += ["--perms", "0755", "--dir", s]
        return out

    # The private /tmp first: the interpreter, the venv or the runtime folder may lie under the host's /tmp (a checkout
    # in a temporary folder, $TMPDIR/scw-*), and their mounts must go on top of it, not be hidden by it.
    argv += ["--bind", str(kdir / "tmp"), "/tmp"]
    made.add("/tmp")
    for path in read_only_paths():
        argv += [*parents(path), "--ro-bind", path, path]
        made.add(path)
    argv += ["--proc", "/proc", "--dev", "/dev"]
    for name, inside in FOLDERS.items():
        if name == "tmp":
            continue
        target = inside or str(runtime_dir)
        mode = "--ro-bind" if name in ("inputs", "host") else "--bind"
        argv += [*parents(target), mode, str(kdir / name), target]
        made.add(target)
    for key, value in env.items():
        argv += ["--setenv", key, value]
    argv += ["--chdir", "/scratch", "--", *kernel_argv]
    return argv


def parse_args(argv: Sequence[str]) -> tuple[argparse.Namespace, list[str]]:
    """Split ``argv`` at ``--``: this launcher's options, then kernel_launch's arguments."""
    parser = argparse.ArgumentParser(prog="python -m spatial_runtime.sandbox_launch", allow_abbrev=False)
    parser.add_argument("--root", required=True, help="this Jupyter server's sandbox root (per-kernel folders go here)")
    parser.add_argument("--bwrap", default="bwrap", help="the bubblewrap executable")
    parser.add_argument("--uid", type=int, default=NOBODY, help="uid/gid the kernel runs as (a root host drops to it)")
    args = list(argv)
    if "--" not in args:
        parser.error("give the kernel_launch arguments after --")
    cut = args.index("--")
    return parser.parse_args(args[:cut]), args[cut + 1 :]


def main(argv: Sequence[str] | None = None) -> None:
    """Prepare the kernel's folders, then ``execv`` bwrap running ``python -m spatial_runtime.kernel_launch``."""
    args, rest = parse_args(sys.argv[1:] if argv is None else argv)
    if "-f" not in rest or rest.index("-f") == len(rest) - 1:
        _fail("no -f {connection_file} among the kernel arguments")
    connection_file = Path(rest[rest.index("-f") + 1]).resolve()
    match = CONNECTION_NAME.match(connection_file.name)
    if not match:
        _fail(f"connection file {connection_file.name!r} is not kernel-<id>.json as jupyter_server names it")
    bwrap = shutil.which(args.bwrap)
    if bwrap is None:
        _fail(
            f"bubblewrap ({args.bwrap!r}) is not installed or not on PATH: install it (Debian/Ubuntu: apt install "
            "bubblewrap; Fedora: dnf install bubblewrap), or start without the sandbox (--no-sandbox) knowing that "
            "model code then runs with your rights (docs/security.md)"
        )
    as_root = os.geteuid() == 0
    kdir = prepare_folders(Path(args.root), match.group(1), connection_file, args.uid if as_root else None)
    inner = [sys.executable, "-m", "spatial_runtime.kernel_launch"]
    if as_root:
        inner += ["--drop-uid", str(args.uid)]
    argv_out = bwrap_argv(
        bwrap,
        kdir,
        connection_file.parent,
        [*inner, *rest],
        sandbox_env(dict(os.environ)),
        as_root=as_root,
        uid=args.uid,
    )
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(bwrap, argv_out)


if __name__ == "__main__":
    main()
