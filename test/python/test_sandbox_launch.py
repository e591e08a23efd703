"""spatial_runtime.sandbox_launch: the host half of a sandboxed kernel (docs/security.md, "The kernel sandbox").

The end-to-end checks (escape cells against a real sandboxed kernel) are in test/integration/sandbox-escape.test.ts;
here: the environment allow-list, the bwrap command line, and the per-kernel folders with the IPC socket links.
"""

import json
import os

import pytest
from spatial_runtime import sandbox_launch as sl


def test_sandbox_env_keeps_only_the_short_list():
    host = {
        "OPENAI_API_KEY": "sk-x",
        "JUPYTER_TOKEN": "t",
        "HOME": "/root",
        "JPY_PARENT_PID": "123",
        "JPY_SESSION_NAME": "s",
        "OMP_NUM_THREADS": "2",
        "SPATIALCLAW_FRAME_CACHE": "/root/.cache/frames",
        "SPATIALCLAW_FRAME_CACHE_MAX_MB": "100",
        "SSH_AUTH_SOCK": "/tmp/ssh.sock",
        "LANG": "en_US.UTF-8",
    }
    env = sl.sandbox_env(host)
    assert env["HOME"] == "/scratch" and env["TMPDIR"] == "/tmp"
    assert env["SPATIALCLAW_FRAME_CACHE"] == "/frames"  # the kernel's own cache, not the host's folder
    assert env["OMP_NUM_THREADS"] == "2" and env["JPY_SESSION_NAME"] == "s" and env["LANG"] == "en_US.UTF-8"
    assert env["SPATIALCLAW_FRAME_CACHE_MAX_MB"] == "100"
    # JPY_PARENT_PID would make ipykernel take bwrap's init (pid 1) for a dead parent.
    for gone in ("OPENAI_API_KEY", "JUPYTER_TOKEN", "JPY_PARENT_PID", "SSH_AUTH_SOCK"):
        assert gone not in env


def _connection(tmp_path, transport="ipc"):
    rt = tmp_path / "rt"
    rt.mkdir()
    cf = rt / "kernel-0a1b-2c.json"
    ports = {"shell_port": 1, "iopub_port": 2, "stdin_port": 3, "control_port": 4, "hb_port": 5}
    cf.write_text(json.dumps({"transport": transport, "ip": str(rt / "kernel-0a1b-2c-ipc"), "key": "k", **ports}))
    return rt, cf


def test_prepare_folders_links_each_ipc_socket_into_the_kernels_own_folder(tmp_path):
    rt, cf = _connection(tmp_path)
    root = tmp_path / "k"
    root.mkdir()
    kdir = sl.prepare_folders(root, "0a1b-2c", cf, None)
    assert sorted(p.name for p in kdir.iterdir()) == sorted([*sl.FOLDERS, sl.TMP_KEEP])
    assert json.loads((kdir / "rt" / cf.name).read_text())["key"] == "k"
    assert oct((kdir / "rt" / cf.name).stat().st_mode & 0o777) == "0o600"
    for n in range(1, 6):
        link = rt / f"kernel-0a1b-2c-ipc-{n}"
        assert link.is_symlink() and os.readlink(link) == str(kdir / "rt" / link.name)
    # The runtime folder lies under /tmp here: its first component is a mount point the host must not remove.
    assert rt.parts[1] != "tmp" or rt.relative_to("/tmp").parts[0] in json.loads((kdir / sl.TMP_KEEP).read_text())
    # Idempotent: a restarted kernel reuses its folders and links.
    assert sl.prepare_folders(root, "0a1b-2c", cf, None) == kdir


def test_prepare_folders_refuses_a_tcp_kernel(tmp_path, capsys):
    _rt, cf = _connection(tmp_path, transport="tcp")
    (tmp_path / "k").mkdir()
    with pytest.raises(SystemExit) as exc:
        sl.prepare_folders(tmp_path / "k", "0a1b-2c", cf, None)
    assert exc.value.code == 2
    assert "--KernelManager.transport=ipc" in capsys.readouterr().err


def test_bwrap_argv_has_no_network_and_only_read_only_host_paths(tmp_path):
    kdir = tmp_path / "k" / "id"
    argv = sl.bwrap_argv(
        "/usr/bin/bwrap", kdir, tmp_path / "rt", ["python", "-m", "x"], {"A": "1"}, as_root=True, uid=65534
    )
    for flag in ("--unshare-net", "--unshare-pid", "--unshare-ipc", "--die-with-parent", "--new-session", "--clearenv"):
        assert flag in argv
    assert "--unshare-user" not in argv  # a root host drops to the uid inside instead
    binds = [(argv[i], argv[i + 1], argv[i + 2]) for i, a in enumerate(argv) if a in ("--bind", "--ro-bind")]
    writable = {dst for kind, _src, dst in binds if kind == "--bind"}
    assert writable == {"/scratch", "/tmp", "/frames", str(tmp_path / "rt")}
    assert ("--ro-bind", str(kdir / "inputs"), "/inputs") in binds
    assert ("--ro-bind", str(kdir / "host"), "/host") in binds
    # Nothing of the user's home or the data is mounted; the interpreter and the runtime are, read-only.
    ro = {dst for kind, _src, dst in binds if kind == "--ro-bind"}
    assert any(p.endswith("spatial_runtime") for p in ro)
    assert argv[-4:] == ["--", "python", "-m", "x"]
    # The private /tmp is mounted before anything that may lie under the host's /tmp (a checkout in a temporary folder,
    # the runtime folder), so those mounts go on top of it instead of being hidden by it.
    tmp_at = argv.index("/tmp", argv.index(str(kdir / "tmp")))
    assert all(argv.index(dst) > tmp_at for _kind, _src, dst in binds if dst.startswith("/tmp/"))
    assert any(dst.startswith("/tmp/") for _kind, _src, dst in binds)  # (tmp_path is under /tmp: checked above)
    assert argv[argv.index("--setenv") + 1 : argv.index("--setenv") + 3] == ["A", "1"]
    unpriv = sl.bwrap_argv("/usr/bin/bwrap", kdir, tmp_path / "rt", ["p"], {}, as_root=False, uid=65534)
    at = unpriv.index("--unshare-user")
    assert unpriv[at : at + 5] == ["--unshare-user", "--uid", "65534", "--gid", "65534"]


def test_a_missing_bwrap_names_the_package_and_the_opt_out(tmp_path, capsys, monkeypatch):
    _rt, cf = _connection(tmp_path)
    monkeypatch.setattr("sys.argv", ["x", "--root", str(tmp_path), "--bwrap", "no-such-bwrap", "--", "-f", str(cf)])
    with pytest.raises(SystemExit):
        sl.main()
    err = capsys.readouterr().err
    assert "apt install bubblewrap" in err and "--no-sandbox" in err
