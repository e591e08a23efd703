"""Static policy check for model-written cells: a guard-rail, **not a sandbox**.

Before the host sends a model-written cell to its kernel it asks this module (``--serve`` mode, see
docs/kernel-protocol.md, "Safety check") whether the cell breaks the policy below. The check parses the
cell with Python's own :mod:`ast` and looks at names, imports and attribute paths; it never runs the
code. It stops the common ways a model wanders off task or damages the machine (spawning shells,
deleting or writing files, opening sockets, reaching the interpreter's internals, re-running source
strings), but a static check of a dynamic language can always be outwitted by a determined program.
It is one layer, not the boundary. The other layers are set by the host (docs/security.md):

* the kernel process runs with an address-space cap (``RLIMIT_AS``, default 16 GiB) and a CPU-time cap
  (``RLIMIT_CPU``), both set (soft and hard) with ``setrlimit`` by ``spatial_runtime.kernel_launch``;
* its working directory is a per-session scratch directory;
* it runs with the user's own rights, so anything the user can do, an escaped program can do. Run
  untrusted models on a machine or container you are willing to lose.

The check is **per cell and stateless**: it knows the names the kernel pre-imports (``np``, ``plt``,
``scipy``, ``tools``, ...) and the imports and simple aliases made in the same cell, but not aliases made
in earlier cells. Because of that, the attribute names of the file-I/O and module-escape rules are
denied on *any* receiver, not only on the modules that define them.

Rules, decisions and their reasons are documented one by one in docs/safety-policy.md; the tables live
in :data:`POLICY` and change together with :data:`POLICY_VERSION`.

Usage::

    check(code) -> list[Violation]
    python -m spatial_runtime.safety FILE      # prints {"policy", "violations"}; exit 1 if any, 0 if none, 2 on usage
    python -m spatial_runtime.safety --serve   # JSON lines {"id", "code"} in, {"id", "policy", "violations"} out
    python -m spatial_runtime.safety --policy  # the policy tables as JSON
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterable

from spatial_runtime.safety.checker import check
from spatial_runtime.safety.policy import POLICY, POLICY_VERSION, Policy, Rule, Violation

__all__ = ["POLICY", "POLICY_VERSION", "Policy", "Rule", "Violation", "check", "main", "report", "serve"]


def report(code: str) -> dict[str, object]:
    """``{"policy": POLICY_VERSION, "violations": [...]}`` for one cell, as printed by the CLI."""
    return {"policy": POLICY_VERSION, "violations": [v.to_dict() for v in check(code)]}


def serve(lines: Iterable[bytes], write: Callable[[str], None]) -> None:
    """Answer JSON-line requests ``{"id": str, "code": str}`` with ``{"id", "policy", "violations"}``.

    A request whose ``id`` is not a string, or a line that is not a JSON object, gets
    ``{"id": null, "error": str}``; a request with a string ``id`` but no string ``code`` gets
    ``{"id": <id>, "error": str}``. Blank lines are ignored. ``write`` is called once per answer with one
    line of ASCII JSON (ending in a newline).
    """
    for raw in lines:
        if not raw.strip():
            continue
        req_id = None
        try:
            req = json.loads(raw.decode("utf-8"))
            if not isinstance(req, dict):
                raise ValueError('a request must be a JSON object {"id": str, "code": str}')
            if not isinstance(req.get("id"), str):
                raise ValueError('"id" must be a string')
            req_id = req["id"]
            if not isinstance(req.get("code"), str):
                raise ValueError('"code" must be a string')
            answer: dict[str, object] = {"id": req_id, **report(req["code"])}
        except (ValueError, UnicodeDecodeError) as e:
            answer = {"id": req_id, "error": f"malformed request: {e}"}
        except Exception as e:  # a bug in the checker must not take the serving process down
            answer = {"id": req_id, "error": f"internal error in the safety check: {type(e).__name__}: {e}"}
        write(json.dumps(answer) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m spatial_runtime.safety",
        description=f"Check a model-written cell against the SpatialClaw safety policy {POLICY_VERSION}.",
    )
    parser.add_argument("file", nargs="?", help="a Python file to check")
    parser.add_argument("--serve", action="store_true", help="answer JSON-line requests on stdin until EOF")
    parser.add_argument("--policy", action="store_true", help="print the policy tables as JSON and exit")
    args = parser.parse_args(argv)
    if args.policy:
        print(json.dumps(POLICY.to_json(), indent=1))
        return 0
    if args.serve:

        def write(line: str) -> None:
            sys.stdout.write(line)
            sys.stdout.flush()

        serve(iter(sys.stdin.buffer.readline, b""), write)
        return 0
    if not args.file:
        parser.print_usage(sys.stderr)
        print("error: give a FILE to check, --serve or --policy", file=sys.stderr)
        return 2
    try:
        with open(args.file, encoding="utf-8") as fh:
            code = fh.read()
    except FileNotFoundError:
        print(f"error: {args.file}: no such file", file=sys.stderr)
        return 2
    except (OSError, UnicodeDecodeError) as e:
        print(f"error: {args.file}: cannot read it as UTF-8 text ({e})", file=sys.stderr)
        return 2
    result = report(code)
    print(json.dumps(result))
    return 1 if result["violations"] else 0
