"""The cross-language contracts, on the Python side.

The source of truth is the zod schemas in ``shared/contracts/`` (TypeScript); ``npm run contracts`` generates
:mod:`spatial_common.contract._generated` and ``schemas.json`` from them; CI fails when they are stale. Here:

* the generated data: ``MIME_IMAGE``, ``MIME_ANSWER``, ``MIME_ARTIFACT`` (display bundle MIME types);
  ``ARTIFACT_KINDS``; ``ARRAY_SETS`` (kind -> array name -> dtype, axes, unit, doc); ``ROUTES`` (perception
  routes with their request fields) and ``ERROR_CODES``, from ``_generated.py``; ``SCHEMAS`` (name -> draft-07
  JSON Schema) and ``DEFINITIONS`` (every named schema once), from the generated ``schemas.json``;
* :func:`validate`, which checks a value against one of ``SCHEMAS`` (fastjsonschema, compiled once per name);
* :func:`array_spec` / :func:`check_array`, which check a numpy array against its ``ARRAY_SETS`` entry.

Bytes fields of msgpack bodies (``"x-msgpack": "bin"`` in the schemas) are not typed by JSON Schema; their
callers check them.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from spatial_common.contract._generated import (
    ARRAY_SETS,
    ARTIFACT_KINDS,
    ERROR_CODES,
    KERNEL_PROFILES,
    MIME_ANSWER,
    MIME_ARTIFACT,
    MIME_IMAGE,
    ROUTES,
)

_BUNDLE = json.loads((Path(__file__).parent / "schemas.json").read_text(encoding="utf-8"))
SCHEMAS: dict[str, dict[str, Any]] = _BUNDLE["contracts"]
"""Contract name -> its draft-07 JSON Schema (generated schemas.json); its refs point into DEFINITIONS."""
DEFINITIONS: dict[str, dict[str, Any]] = _BUNDLE["definitions"]
"""Every named schema of the contracts (zod ``.meta({ id })``), once."""

__all__ = [
    "ARRAY_SETS",
    "ARTIFACT_KINDS",
    "DEFINITIONS",
    "ERROR_CODES",
    "KERNEL_PROFILES",
    "MIME_ANSWER",
    "MIME_ARTIFACT",
    "MIME_IMAGE",
    "ROUTES",
    "SCHEMAS",
    "ContractError",
    "array_spec",
    "check_array",
    "compile_validators",
    "returnable",
    "validate",
]


class ContractError(ValueError):
    """A value that breaks a contract. The message names the contract, the field path and the rule."""


@functools.cache
def _validator(name: str) -> Callable[[Any], Any]:
    import fastjsonschema

    if name not in SCHEMAS:
        raise KeyError(f"no contract called {name!r}; known: {', '.join(sorted(SCHEMAS))}")
    return fastjsonschema.compile(
        {"$schema": "http://json-schema.org/draft-07/schema#", **SCHEMAS[name], "definitions": DEFINITIONS}
    )


def compile_validators(*names: str) -> None:
    """Compile the validators of ``names`` now (a few ms each), e.g. during a kernel's warm-up, not per request.

    Raises:
        KeyError: an unknown contract name.
    """
    for name in names:
        _validator(name)


def validate(name: str, value: Any) -> Any:
    """Check ``value`` against the contract ``name`` (a key of ``SCHEMAS``) and return it unchanged.

    Raises:
        ContractError: naming the contract and the first field that breaks it, e.g.
            ``ArtifactRecord: data.frame_indices[0] must be bigger than or equal to 0``.
        KeyError: an unknown contract name.
    """
    import fastjsonschema

    check = _validator(name)
    try:
        check(value)
    except fastjsonschema.JsonSchemaValueException as err:
        raise ContractError(f"{name}: {err.message}") from None
    return value


def array_spec(kind: str, name: str) -> Mapping[str, Any]:
    """The ``ARRAY_SETS`` entry of array ``name`` of artifact kind ``kind``.

    Raises:
        KeyError: an unknown kind or array name (the message lists the known ones).
    """
    arrays = ARRAY_SETS.get(kind)
    if arrays is None:
        raise KeyError(f"no artifact kind {kind!r}; known: {', '.join(ARTIFACT_KINDS)}")
    if name not in arrays:
        raise KeyError(f"artifact kind {kind!r} has no array {name!r}; it has {', '.join(arrays)}")
    return arrays[name]


def returnable(route: str) -> frozenset[str]:
    """The array names a compute route's answer can carry (``return``): every array of its artifact kind."""
    return frozenset(ARRAY_SETS[ROUTES[route]["artifact"]])


def check_array(kind: str, name: str, shape: tuple[int, ...], dtype: str, sizes: dict[str, int]) -> str | None:
    """Check one array's shape and dtype against the contract; returns what is wrong, or None.

    Args:
        kind: artifact kind (``reconstruction`` or ``masks``).
        name: array name.
        shape: the array's shape.
        dtype: the array's dtype name (``str(arr.dtype)``).
        sizes: the sizes bound so far for the letter axes (``N``, ``H``, ...); letters seen for the first time
            are bound here (the dict is updated), so checking the arrays of one artifact in turn also checks
            that they agree with each other.
    """
    spec = array_spec(kind, name)
    axes = spec["axes"]
    want = "(" + ", ".join(axes) + ")"
    if len(shape) != len(axes):
        return f"{name} has shape {tuple(shape)}, expected {want}"
    for axis, n in zip(axes, shape, strict=True):
        if axis.isdigit():
            if n != int(axis):
                return f"{name} has shape {tuple(shape)}, expected {want}"
        elif sizes.setdefault(axis, n) != n:
            return f"{name} has shape {tuple(shape)}, expected {want} with {axis} = {sizes[axis]}"
    if dtype != spec["dtype"]:
        return f"{name} has dtype {dtype}, expected {spec['dtype']}"
    return None
