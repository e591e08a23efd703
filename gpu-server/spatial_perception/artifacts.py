"""Artifact store on disk: ``<root>/<id>/manifest.json`` plus one ``<root>/<id>/<name>.npy`` per array.

Ids are 32 lowercase hex digits (``uuid4().hex``); array names are ``[A-Za-z0-9_]`` words listed in the
manifest. Both are checked before any path is built, so request paths can never leave ``<root>``.

The manifest is written last, atomically and durably (:func:`spatial_common.atomic.write_json_atomic`: temp
file, fsync, rename, folder fsync): a directory without one is an interrupted write, removed by
:meth:`ArtifactStore.scan`. Manifest layout::

    {"record": ArtifactRecord, "arrays": {name: {"shape", "dtype", "bytes"}}, "info": map,
     "cache_key": str, "nbytes": int}
"""

from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, BinaryIO

from spatial_common.atomic import write_json_atomic

from spatial_perception.errors import BadRequest, NotFound

Buffer = bytes | bytearray | memoryview
ID_RE = re.compile(r"[0-9a-f]{32}")
NAME_RE = re.compile(r"[A-Za-z0-9_]{1,64}")
MANIFEST = "manifest.json"


def make_private_dir(path: Path) -> None:
    """Create ``path`` (and missing parents) as a folder only this user can enter (mode 0700), or make an existing
    one so: artifacts are the inputs' geometry and masks, and other users must not list or read them.

    Raises:
        PermissionError: when ``path`` belongs to another user (naming it and the fix).
    """
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if os.name != "posix":  # pragma: no cover - modes are POSIX
        return
    st = path.stat()
    if st.st_uid != os.getuid():
        raise PermissionError(
            f"the artifact directory {path} belongs to another user (uid {st.st_uid}); pass --artifact-dir with a "
            "folder of your own"
        )
    if st.st_mode & 0o077:
        path.chmod(0o700)


def new_id() -> str:
    """A fresh artifact id (32 hex digits)."""
    return uuid.uuid4().hex


def check_id(artifact_id: str) -> str:
    """Return ``artifact_id`` if it is 32 lowercase hex digits (dashes of a UUID are removed).

    Raises:
        BadRequest: for anything else (this also stops path traversal through the id).
    """
    aid = artifact_id.replace("-", "").lower() if len(artifact_id) == 36 else artifact_id
    if not ID_RE.fullmatch(aid):
        raise BadRequest(
            f"{artifact_id[:80]!r} is not an artifact id (32 hex digits)",
            fix="use the 'id' of the artifact record a compute route returned",
        )
    return aid


class ArtifactStore:
    """Writes, reads and deletes artifacts under ``root`` (created if missing)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve()
        make_private_dir(self.root)

    def _dir(self, artifact_id: str) -> Path:
        return self.root / check_id(artifact_id)

    def write(self, artifact_id: str, manifest: Mapping[str, Any], npy: Mapping[str, Sequence[Buffer]]) -> None:
        """Write the ``.npy`` files then the manifest of a new artifact.

        Args:
            artifact_id: a :func:`new_id`.
            manifest: the manifest map (JSON-serialisable).
            npy: ``{name: [parts]}``; a file is its parts concatenated (e.g. header and data of
                :func:`spatial_perception.codec.npy_parts`).
        """
        d = self._dir(artifact_id)
        d.mkdir(parents=True, exist_ok=True)
        for name, parts in npy.items():
            if not NAME_RE.fullmatch(name):
                raise ValueError(f"bad array name {name!r}")
            with (d / f"{name}.npy").open("wb") as f:
                for part in parts:
                    f.write(part)
        write_json_atomic(d / MANIFEST, manifest)

    def read_manifest(self, artifact_id: str) -> dict[str, Any]:
        """The manifest of an artifact.

        Raises:
            BadRequest: a malformed id. NotFound: no such artifact on disk.
        """
        path = self._dir(artifact_id) / MANIFEST
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise NotFound(f"artifact {artifact_id} is not on this server", fix="run the tool again") from exc

    def array_path(self, artifact_id: str, name: str, names: Iterable[str]) -> Path:
        """Path of one array file; ``name`` must be one of ``names`` (the manifest's arrays).

        Raises:
            NotFound: ``name`` is not an array of this artifact.
        """
        allowed = sorted(names)
        if name not in allowed or not NAME_RE.fullmatch(name):
            raise NotFound(
                f"artifact {artifact_id} has no array {name[:80]!r}; it has {', '.join(allowed)}",
                fix="request one of the listed names, as <name>.npy",
            )
        d = self._dir(artifact_id)
        path = d / f"{name}.npy"
        if path.resolve().parent != d:  # belt and braces: never leave the root
            raise NotFound(f"artifact {artifact_id} has no array {name[:80]!r}", fix=None)
        return path

    def open_array(self, artifact_id: str, name: str, names: Iterable[str]) -> BinaryIO:
        """Open one array file for streaming (binary, caller closes).

        Raises:
            NotFound: unknown name, or the file is gone.
        """
        path = self.array_path(artifact_id, name, names)
        try:
            return path.open("rb")
        except FileNotFoundError as exc:
            raise NotFound(f"artifact {artifact_id} is gone from disk", fix="run the tool again") from exc

    def read_arrays(self, artifact_id: str, names: Iterable[str]) -> dict[str, bytes]:
        """``{name: .npy bytes}`` of an artifact. Raises FileNotFoundError when a file is missing."""
        d = self._dir(artifact_id)
        return {name: (d / f"{name}.npy").read_bytes() for name in names}

    def delete(self, artifact_id: str) -> None:
        """Remove an artifact's directory (missing is fine)."""
        shutil.rmtree(self._dir(artifact_id), ignore_errors=True)

    def scan(self) -> list[dict[str, Any]]:
        """Manifests of the artifacts already on disk, oldest first; interrupted writes are removed.

        Only directories named like artifact ids are looked at (anything else under ``root`` is left alone).
        """
        found: list[tuple[float, dict[str, Any]]] = []
        for d in self.root.iterdir():
            if not d.is_dir() or not ID_RE.fullmatch(d.name):
                continue
            path = d / MANIFEST
            try:
                manifest = json.loads(path.read_text(encoding="utf-8"))
                ok = isinstance(manifest, dict) and {"record", "arrays", "cache_key", "nbytes"} <= set(manifest)
                ok = ok and isinstance(manifest["record"], dict) and manifest["record"].get("id") == d.name
                ok = ok and isinstance(manifest["arrays"], dict) and isinstance(manifest["nbytes"], int)
                ok = ok and all((d / f"{name}.npy").is_file() for name in manifest["arrays"])
                mtime = path.stat().st_mtime
            except (OSError, ValueError, TypeError):
                ok = False
            if ok:
                found.append((mtime, manifest))
            else:
                shutil.rmtree(d, ignore_errors=True)
        found.sort(key=lambda t: t[0])
        return [m for _, m in found]
