"""Writing a run's export (``spatialclaw export``, the workbench's ``exportRun``; docs/export.md).

The host builds one row per finished sample from its triage index (shared/export.ts ``ExportRow``,
electron/services/runs/sample-index.ts) and sends the rows here as JSON Lines on stdin
(``python -m spatial_eval export --format F --out FILE``). This module checks each row has exactly
:data:`COLUMNS` and writes:

* ``jsonl``: one JSON object per line, the row as received (lists stay lists; ``answer`` and
  ``ground_truth`` keep their recorded type, string or number);
* ``parquet``: the pyarrow table of :data:`SCHEMA` (lists as ``list<string>``; ``answer`` and
  ``ground_truth`` as text, so the column has one type);
* ``csv``: the same table through pandas, with every list joined by ``"; "``.

Every format is written to a temporary file next to the target and renamed over it, so a reader
never sees half a file.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pyarrow as pa
from spatial_common.atomic import fsync_dir
from spatial_common.contract import SCHEMAS

FORMATS = ("csv", "parquet", "jsonl")


def _arrow_type(prop: dict[str, Any]) -> pa.DataType:
    """The Arrow type of one ``ExportRow`` property of the generated JSON Schema (a string or a number: text)."""
    if "$ref" in prop:  # an enum such as Termination
        return pa.string()
    t = prop.get("type")
    kinds = [t] if isinstance(t, str) else list(t) if t else [k.get("type") for k in prop["anyOf"]]
    kinds = [k for k in kinds if k != "null"]
    if kinds == ["array"]:
        return pa.list_(pa.string())
    if len(kinds) > 1:  # answer, ground_truth: recorded as a string or a number
        return pa.string()
    return {"string": pa.string(), "number": pa.float64(), "integer": pa.int64(), "boolean": pa.bool_()}[kinds[0]]


#: The columns in file order and their Parquet types, from the one definition of a row: shared/export.ts
#: ``ExportRowSchema``, generated into ``spatial_common.contract.SCHEMAS["ExportRow"]`` (``npm run contracts``).
SCHEMA = pa.schema([(k, _arrow_type(v)) for k, v in SCHEMAS["ExportRow"]["properties"].items()])
COLUMNS: list[str] = SCHEMA.names
#: Columns holding lists of strings.
LIST_COLUMNS: list[str] = [f.name for f in SCHEMA if pa.types.is_list(f.type)]
#: Columns recorded as a string or a number, written as text in CSV and Parquet.
MIXED_COLUMNS = ("answer", "ground_truth")
#: What CSV joins list items with.
CSV_LIST_SEPARATOR = "; "


def read_rows(lines: Iterable[str]) -> list[dict[str, Any]]:
    """Rows from JSON Lines (blank lines skipped), each checked to have exactly :data:`COLUMNS`.

    Raises:
        ValueError: naming the line of a row that is not a JSON object, or the columns it lacks or has extra.
    """
    rows: list[dict[str, Any]] = []
    expected = set(COLUMNS)
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise ValueError(f"export row {i}: not valid JSON ({e.msg})") from e
        if not isinstance(row, dict):
            raise ValueError(f"export row {i}: not a JSON object")
        keys = set(row)
        if keys != expected:
            problems = []
            if expected - keys:
                problems.append(f"missing columns {sorted(expected - keys)}")
            if keys - expected:
                problems.append(f"unknown columns {sorted(keys - expected)}")
            raise ValueError(
                f"export row {i} ({row.get('id', '?')}): {'; '.join(problems)} (the columns are shared/export.ts "
                "ExportRowSchema and spatial_eval.export.SCHEMA: keep them equal)"
            )
        rows.append(row)
    return rows


def _text(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def to_table(rows: list[dict[str, Any]]) -> pa.Table:
    """The rows as a pyarrow table of :data:`SCHEMA` (``answer`` and ``ground_truth`` as text).

    Raises:
        ValueError: a value does not fit its column's type (message names the column).
    """
    columns: dict[str, list[Any]] = {c: [r[c] for r in rows] for c in COLUMNS}
    for c in MIXED_COLUMNS:
        columns[c] = [_text(v) for v in columns[c]]
    arrays = []
    for field in SCHEMA:
        try:
            arrays.append(pa.array(columns[field.name], type=field.type))
        except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
            raise ValueError(f"export column {field.name}: a value is not {field.type} ({e})") from e
    return pa.Table.from_arrays(arrays, schema=SCHEMA)


def _write_csv(table: pa.Table, path: Path) -> None:
    import pandas as pd

    df = table.to_pandas(types_mapper=pd.ArrowDtype)
    for c in LIST_COLUMNS:
        df[c] = [CSV_LIST_SEPARATOR.join(v) if v is not None else "" for v in table.column(c).to_pylist()]
    df.to_csv(path, index=False)


def write_export(rows: list[dict[str, Any]], fmt: str, out: str | os.PathLike[str]) -> Path:
    """Write the rows (as :func:`read_rows` returns them) to ``out`` in ``fmt`` (csv, parquet, jsonl), atomically.

    Returns:
        The absolute path written.

    Raises:
        ValueError: an unknown format, or a value that does not fit its column.
        OSError: the folder of ``out`` is missing or not writable (no temporary file is left behind).
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}: use one of {', '.join(FORMATS)}")
    target = Path(out).resolve()
    if not target.parent.is_dir():
        raise FileNotFoundError(f"{target.parent} does not exist: create it, or pass --out in an existing folder")
    table = None if fmt == "jsonl" else to_table(rows)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    try:
        if fmt == "jsonl":
            with open(tmp, "w", encoding="utf-8") as f:
                for r in rows:
                    f.write(json.dumps({c: r[c] for c in COLUMNS}, ensure_ascii=False) + "\n")
        elif fmt == "parquet":
            import pyarrow.parquet as pq

            pq.write_table(table, tmp)
        else:
            _write_csv(table, tmp)  # type: ignore[arg-type]
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    fsync_dir(target.parent)
    return target
