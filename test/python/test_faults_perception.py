"""Fault injection for the perception server (issue 17, "Faults that still lose work or hang"), real
``python -m spatial_perception`` processes:

* each server gets an artifact folder of its own, private (mode 0700): two servers started the same way no longer
  share ``<tmp>/perception-artifacts`` (world-readable), where one served and evicted the other's artifacts;
* a PNG bomb (a few hundred KB, 16000 × 16000 pixels) is rejected from its header with 413 ``too_large`` naming the
  limit and the flag that raises it, without the server's memory growing; so is a request whose images together
  are over the per-request limit.
"""

from __future__ import annotations

import io
import os
import stat
import zlib
from pathlib import Path

import httpx
import numpy as np
import pytest
from perception_helpers import png_bytes, start_server
from perception_server_helpers import images, new_tag, recon_body, seg_body


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _peak_rss_mib(pid: int) -> float:
    """The process's peak resident memory (VmHWM), MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM in /proc/<pid>/status")


def png_bomb(width: int = 16000, height: int = 16000) -> bytes:
    """A valid grey PNG of ``width`` × ``height`` black pixels, a few hundred KB (zlib of zero rows)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return len(data).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")

    ihdr = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 0, 0, 0, 0])  # 8-bit grey
    comp = zlib.compressobj(9)
    row = b"\x00" * (width + 1)  # filter byte + pixels
    raw = io.BytesIO()
    for _ in range(height):
        raw.write(comp.compress(row))
    raw.write(comp.flush())
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", raw.getvalue()) + chunk(b"IEND", b"")


@pytest.fixture(scope="module")
def bomb() -> bytes:
    data = png_bomb()
    assert len(data) < 1_000_000
    return data


# --------------------------------------------------------------------------------------------------
# artifact folders
# --------------------------------------------------------------------------------------------------


@pytest.mark.skipif(os.name != "posix", reason="folder modes are POSIX")
def test_each_server_gets_its_own_private_artifact_folder(tmp_path):
    # No --artifact-dir (the empty value keeps the test helper from adding one): the server picks its default
    # folder under $TMPDIR, here a test folder.
    env = {"TMPDIR": str(tmp_path)}
    a = start_server("echo", ("--artifact-dir", ""), env=env)
    b = start_server("echo", ("--artifact-dir", ""), env=env)
    try:
        ra, rb = [s.post("/v1/reconstruct", recon_body(2, params={"tag": "same"})) for s in (a, b)]
        assert ra[0] == 200 and rb[0] == 200, (ra, rb)
        id_a, id_b = ra[1]["artifact"]["id"], rb[1]["artifact"]["id"]
        assert not (tmp_path / "perception-artifacts").exists()  # the shared folder of old
        parent = tmp_path / f"perception-artifacts-{os.getuid()}"
        assert _mode(parent) == 0o700
        folders = sorted(p for p in parent.iterdir() if p.is_dir())
        assert len(folders) == 2, folders  # one per server
        for folder in folders:
            assert _mode(folder) == 0o700
        owner = {aid: next(f for f in folders if (f / aid).is_dir()) for aid in (id_a, id_b)}
        assert owner[id_a] != owner[id_b]
        # A server does not serve the other's artifact.
        r = httpx.get(f"{a.url}/v1/artifacts/{id_b}", headers=a.headers)
        assert r.status_code == 404, r.text
        r = httpx.get(f"{b.url}/v1/artifacts/{id_b}", headers=b.headers)
        assert r.status_code == 200, r.text
    finally:
        a.stop()
    assert not owner[id_a].exists()  # removed when its server stopped
    assert (owner[id_b] / id_b).is_dir()  # the other server's artifacts are untouched
    b.stop()


@pytest.mark.skipif(os.name != "posix", reason="folder modes are POSIX")
def test_a_given_artifact_folder_is_made_private(tmp_path):
    adir = tmp_path / "given"
    adir.mkdir(mode=0o755)
    adir.chmod(0o755)
    s = start_server("echo", artifact_dir=adir)
    try:
        assert _mode(adir) == 0o700
    finally:
        s.stop()
    assert adir.is_dir()  # a given folder is kept (artifacts survive restarts)


# --------------------------------------------------------------------------------------------------
# pixel limits
# --------------------------------------------------------------------------------------------------


def test_png_bomb_is_rejected_from_its_header_without_memory_growth(bomb):
    s = start_server("echo")
    try:
        ok = s.post("/v1/segment/image", seg_body())
        assert ok[0] == 200, ok
        before = _peak_rss_mib(s.proc.pid)
        status, body = s.post("/v1/segment/image", {**seg_body(), "image": bomb})
        assert status == 413, body
        assert body["code"] == "too_large"
        assert "16000×16000" in body["error"] and "50 megapixels per image" in body["error"]
        assert "--max-image-mp" in body["fix"]
        status, body = s.post("/v1/reconstruct", recon_body(2, frames=[png_bytes(images(1)[0]), bomb]))
        assert status == 413 and "frames[1]" in body["error"], body
        assert _peak_rss_mib(s.proc.pid) - before < 150  # decoding it would take 256 MB (grey), 768 MB (RGB)
        assert s.proc.poll() is None
    finally:
        s.stop()


def test_pixel_limits_are_configurable_per_image_and_per_request():
    frame = png_bytes(np.zeros((1000, 1000, 3), np.uint8))  # 1 MP each
    s = start_server("echo", ("--max-image-mp", "0.5", "--max-request-mp", "2", "--max-frames", "8"))
    try:
        status, body = s.post("/v1/reconstruct", recon_body(1, frames=[frame], frame_indices=[0]))
        assert status == 413 and "0.5 megapixels per image" in body["error"] and "now 0.5" in body["fix"], body
    finally:
        s.stop()
    s = start_server("echo", ("--max-image-mp", "2", "--max-request-mp", "2.5", "--max-frames", "8"))
    try:
        params = {"tag": new_tag()}
        status, body = s.post("/v1/reconstruct", recon_body(2, frames=[frame] * 2, frame_indices=[0, 1], params=params))
        assert status == 200, body
        status, body = s.post("/v1/reconstruct", recon_body(3, frames=[frame] * 3, frame_indices=[0, 1, 2]))
        assert status == 413, body
        assert "more than 2.5 megapixels together" in body["error"] and "frames[2]" in body["error"]
        assert "--max-request-mp" in body["fix"]
    finally:
        s.stop()
