"""Reading published snapshots: parquet (pyarrow), JSON, JSON Lines, and media embedded in parquet rows.

Every reader raises an error that names the file; a row-level problem is the caller's to turn into a
:class:`~spatial_eval.types.RowProblem`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def read_parquet(path: Path | str, columns: list[str] | None = None) -> list[dict[str, Any]]:
    """Rows of a parquet file (or of every ``*.parquet`` in a folder, in name order) as dicts, via pyarrow.

    Raises:
        FileNotFoundError: no such file, or a folder without parquet files.
        ValueError: the file is not parquet (message names it).
    """
    import pyarrow.parquet as pq

    p = Path(path)
    files = sorted(p.glob("*.parquet")) if p.is_dir() else [p]
    if not files or not files[0].exists():
        raise FileNotFoundError(f"no parquet file at {p}")
    rows: list[dict[str, Any]] = []
    for f in files:
        try:
            rows.extend(pq.read_table(f, columns=columns).to_pylist())
        except Exception as e:  # pyarrow raises ArrowInvalid / OSError for a broken file
            raise ValueError(f"{f}: not a readable parquet file ({e})") from e
    return rows


def read_json(path: Path | str) -> Any:
    """A JSON file. Raises ValueError naming the file and the position of a syntax error."""
    p = Path(path)
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ValueError(f"{p}: not valid JSON ({e})") from e


def iter_jsonl(path: Path | str) -> Iterator[tuple[int, Any | ValueError]]:
    """(line number, object) for each non-blank line; a line that is not JSON yields a ValueError instead, so one
    bad line is an error for that row only."""
    p = Path(path)
    with p.open(encoding="utf-8") as f:
        for i, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                yield i, json.loads(line)
            except json.JSONDecodeError as e:
                yield i, ValueError(f"{p.name}:{i}: not valid JSON ({e.msg})")


_MAGIC = {b"\x89PNG": ".png", b"\xff\xd8\xff": ".jpg", b"GIF8": ".gif", b"RIFF": ".webp", b"BM": ".bmp"}


def image_suffix(data: bytes) -> str:
    """The file suffix for encoded image bytes, from their magic number (default ``.png``)."""
    for magic, suffix in _MAGIC.items():
        if data.startswith(magic):
            return suffix
    return ".png"


def embedded_image(value: Any, cache_dir: Path, *, base: Path | None = None) -> Path | None:
    """A file for an image stored in a parquet cell (the Hugging Face ``Image`` feature: ``{"bytes": ..., "path":
    ...}``, or raw bytes), written once into ``cache_dir`` under the sha256 of its bytes. A cell that only holds a
    path is resolved against ``base``. None for an empty cell.
    """
    if value is None:
        return None
    data: bytes | None = None
    rel: str | None = None
    if isinstance(value, (bytes, bytearray)):
        data = bytes(value)
    elif isinstance(value, dict):
        data = value.get("bytes")
        rel = value.get("path")
    elif isinstance(value, str):
        rel = value
    if data:
        digest = hashlib.sha256(data).hexdigest()[:24]
        out = cache_dir / f"{digest}{image_suffix(data)}"
        if not out.exists():
            cache_dir.mkdir(parents=True, exist_ok=True)
            tmp = out.with_suffix(out.suffix + ".part")
            tmp.write_bytes(data)
            tmp.replace(out)
        return out
    if rel and base is not None:
        return (base / rel).resolve()
    return None


def letter(i: int) -> str:
    """The option letter of position ``i`` (0 -> ``A``)."""
    return chr(65 + i)


def images_inputs(paths: list[Path]) -> list[dict[str, Any]]:
    """The InputSpecs of a sample's images, bound as ONE ``InputImages`` in this order (as the paper binds a
    multi-image sample): ``[{"kind": "images", "path": first}]`` for one image, with ``"files": [...]`` for several;
    [] for none."""
    if not paths:
        return []
    spec: dict[str, Any] = {"kind": "images", "path": str(paths[0])}
    if len(paths) > 1:
        spec["files"] = [str(p) for p in paths]
    return [spec]
