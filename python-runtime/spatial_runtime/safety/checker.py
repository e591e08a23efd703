"""The static check itself: parse a cell with :mod:`ast`, resolve names, imports and attribute paths, and report
what :data:`~spatial_runtime.safety.policy.POLICY` denies. The code is never run.
"""

from __future__ import annotations

import ast
import string

from spatial_runtime.safety.policy import POLICY, Violation

__all__ = ["check", "walk_by_type"]


_MAX_PATH = 32
# Dunder names that may not even be assigned (the kernel's own bookkeeping).
_PROTECTED_NAMES = frozenset({"__builtins__", "__spatialclaw__", "__loader__", "__spec__", "__import__"})


def _is_dunder(name: str) -> bool:
    return len(name) > 4 and name.startswith("__") and name.endswith("__")


# Fields that never hold child nodes (identifiers, numbers, flags), and those holding nodes no rule looks at
# (expression contexts, operators).
_LEAF_FIELDS = frozenset(
    "ctx op ops id attr name names module level asname arg kind type_comment conversion is_async simple rest"
    " kwd_attrs tag".split()
)
_CHILD_FIELDS: dict[type, tuple[str, ...]] = {}


def walk_by_type(tree: ast.AST) -> dict[type, list[ast.AST]]:
    """All nodes of ``tree`` grouped by type. Faster than :func:`ast.walk` because it skips leaf fields."""
    by_type: dict[type, list[ast.AST]] = {}
    stack: list = [tree]
    pop, push, extend = stack.pop, stack.append, stack.extend
    child_fields = _CHILD_FIELDS
    while stack:
        node = pop()
        if node is None:  # optional fields and holes in lists (dict keys of `**x`, kw_defaults)
            continue
        t = type(node)
        group = by_type.get(t)
        if group is None:
            by_type[t] = group = []
        group.append(node)
        fields = child_fields.get(t)
        if fields is None:
            leaf = t is ast.Constant or t is ast.MatchSingleton
            fields = child_fields[t] = () if leaf else tuple(f for f in t._fields if f not in _LEAF_FIELDS)
        for f in fields:
            v = getattr(node, f, None)
            if type(v) is list:
                extend(v)
            else:
                push(v)
    return by_type


def _source(node: ast.AST, limit: int = 60) -> str:
    try:
        text = ast.unparse(node)
    except RecursionError:  # ast.unparse recurses; a pathological chain still gets a message
        return f"….{node.attr}" if isinstance(node, ast.Attribute) else "…"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _message(rule: str, what: str) -> str:
    return f"{what}; {POLICY.rules[rule].fix}"


class _Checker:
    """One pass over a parsed cell. Aliases are collected first, so their order in the cell does not matter."""

    def __init__(self, tree: ast.AST) -> None:
        self.by_type = walk_by_type(tree)
        self.aliases: dict[str, str] = dict(POLICY.default_aliases)
        self.buffers: set[str] = set()
        self.out: list[Violation] = []
        self.seen: set[tuple[str, int, int]] = set()
        # Nodes that are the function of a call handled by a call rule: not reported again as a reference.
        self.handled: set[int] = set()

    # -- reporting -------------------------------------------------------------------------------------
    def add(self, rule: str, what: str, node: ast.AST) -> None:
        if isinstance(node, ast.Attribute) and node.end_lineno is not None and node.end_col_offset is not None:
            # Point at the attribute name itself: in `a.b.c` each attribute gets its own column.
            line, col = node.end_lineno, node.end_col_offset - len(node.attr)
        else:
            line, col = getattr(node, "lineno", 1), getattr(node, "col_offset", 0)
        key = (rule, line, col)
        if key not in self.seen:
            self.seen.add(key)
            self.out.append(Violation(rule, _message(rule, what), line, col))

    # -- name resolution -------------------------------------------------------------------------------
    def qualname(self, node: ast.AST) -> str | None:
        """Dotted name of an attribute path whose root is a known alias, e.g. ``n.lib.format`` -> numpy.lib.format.

        ``getattr(x, "name")`` with a constant name resolves like ``x.name``. Paths longer than
        ``_MAX_PATH`` components are not resolved (the per-attribute rules still apply to them).
        """
        parts: list[str] = []
        while len(parts) <= _MAX_PATH:
            if isinstance(node, ast.Attribute):
                parts.append(node.attr)
                node = node.value
            elif isinstance(node, ast.Call) and (name := self._constant_getattr(node)) is not None:
                parts.append(name)
                node = node.args[0]
            else:
                break
        if len(parts) > _MAX_PATH or not isinstance(node, ast.Name) or node.id not in self.aliases:
            return None
        return ".".join([self.aliases[node.id], *reversed(parts)])

    def _constant_getattr(self, call: ast.Call) -> str | None:
        f = call.func
        if (
            isinstance(f, ast.Name)
            and f.id == "getattr"
            and len(call.args) >= 2
            and isinstance(call.args[1], ast.Constant)
            and isinstance(call.args[1].value, str)
        ):
            return call.args[1].value
        return None

    def nodes(self, *types: type) -> list:
        return [n for t in types for n in self.by_type.get(t, ())]

    def collect_aliases(self) -> None:
        for node in self.nodes(ast.Import):
            for a in node.names:
                if a.asname:
                    self.aliases[a.asname] = a.name
                else:
                    root = a.name.split(".")[0]
                    self.aliases[root] = root
        for node in self.nodes(ast.ImportFrom):
            if node.module and not node.level:
                for a in node.names:
                    if a.name != "*":
                        self.aliases[a.asname or a.name] = f"{node.module}.{a.name}"
        # Simple re-bindings: `n = np`, `pl = plt.cm`, `buf = io.BytesIO()`.
        for node in self.nodes(ast.Assign):
            if len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                target, value = node.targets[0].id, node.value
                if isinstance(value, ast.Call):
                    if self.qualname(value.func) in POLICY.buffer_constructors:
                        self.buffers.add(target)
                    continue
                q = self.qualname(value)
                if q is not None and target not in self.aliases:
                    self.aliases[target] = q

    # -- module rules ----------------------------------------------------------------------------------
    @staticmethod
    def denied_module(dotted: str) -> str | None:
        """The denied module that ``dotted`` is, or lies inside of (prefix match on dotted components)."""
        parts = dotted.split(".")
        for i in range(1, len(parts) + 1):
            prefix = ".".join(parts[:i])
            if prefix in POLICY.denied_modules:
                return prefix
        return None

    def check_import(self, node: ast.Import | ast.ImportFrom) -> None:
        if isinstance(node, ast.Import):
            for a in node.names:
                bad = self.denied_module(a.name)
                if bad:
                    self.add("import", f"importing {a.name!r} is not allowed (module {bad!r} is denied)", node)
            return
        module = "." * node.level + (node.module or "")
        bad = self.denied_module(node.module or "") if not node.level else None
        if bad:
            self.add("import", f"importing from {module!r} is not allowed (module {bad!r} is denied)", node)
            return
        for a in node.names:
            if a.name == "*":
                self.add("import", f"`from {module} import *` is not allowed: import the names you use", node)
                continue
            full = f"{node.module}.{a.name}" if node.module and not node.level else a.name
            bad = self.denied_module(full) if not node.level else None
            if bad:
                self.add("import", f"importing {full!r} is not allowed (module {bad!r} is denied)", node)
            elif a.name in POLICY.module_attributes:
                self.add("import", f"importing {full!r} is not allowed (it is the denied module {a.name!r})", node)
            else:
                self.check_attribute_name(a.name, full, node, imported=True)

    # -- attribute rules -------------------------------------------------------------------------------
    def check_attribute_name(
        self, attr: str, full: str | None, node: ast.AST, imported: bool = False, src: str | ast.AST | None = None
    ) -> None:
        """Apply the attribute rules to ``attr``.

        ``full`` is the resolved dotted path when known; ``src`` (text, or a node unparsed only when a rule
        fires) names the code in the message.
        """
        rule, what = self.attribute_rule(attr, full, imported)
        if rule is None:
            return
        if isinstance(src, ast.AST):
            src = _source(src)
        self.add(rule, what.format(shown=src or full or f"<object>.{attr}"), node)

    def attribute_rule(self, attr: str, full: str | None, imported: bool) -> tuple[str | None, str]:
        if _is_dunder(attr):
            if attr in POLICY.allowed_dunder_attributes:
                return None, ""
            return "dunder-attribute", f"access to {attr!r} is not allowed ({{shown}})"
        if attr in POLICY.introspection_attributes:
            return "introspection", f"access to the interpreter internal {attr!r} is not allowed ({{shown}})"
        if full is not None and not imported:
            bad = self.denied_module(full)
            if bad:
                if bad != full:  # reported once, where the path enters the denied module (`scipy.io` in `scipy.io.x`)
                    return None, ""
                return "module-attribute", f"{{shown}} reaches the denied module {bad!r}"
        if attr in POLICY.module_attributes:
            return "module-attribute", f"{{shown}} reaches the denied module {attr!r}"
        if attr in POLICY.string_exec_attributes:
            return "string-exec", "{shown} evaluates a source string and is not allowed"
        if attr in POLICY.file_io_attributes or attr.startswith(POLICY.file_io_prefixes):
            return "file-io", "file I/O is not allowed ({shown})"
        return None, ""

    def check_attribute(self, node: ast.Attribute) -> None:
        if id(node) in self.handled:
            return
        if node.attr in POLICY.dynamic_attribute_functions:
            self.add("dynamic-attribute", f"{node.attr} may only be called directly with constant names", node)
            return
        self.check_attribute_name(node.attr, self.qualname(node), node, src=node)

    # -- names -----------------------------------------------------------------------------------------
    def check_name(self, node: ast.Name) -> None:
        name = node.id
        if isinstance(node.ctx, ast.Store):
            if name in POLICY.denied_builtins or name in _PROTECTED_NAMES:
                rule = "dunder-name" if _is_dunder(name) else "builtin"
                self.add(rule, f"{name!r} is a protected name; pick another variable name", node)
            return
        if id(node) in self.handled:
            return
        if name in POLICY.denied_builtins:
            self.add("builtin", f"the built-in {name}() is not allowed", node)
        elif name in POLICY.kernel_names:
            self.add("kernel", f"{name} is not allowed: it controls the kernel process", node)
        elif _is_dunder(name) and name not in POLICY.allowed_dunder_names:
            self.add("dunder-name", f"the name {name!r} is not allowed", node)
        elif name in POLICY.dynamic_attribute_builtins:
            self.add("dynamic-attribute", f"{name} may only be called directly with a constant attribute name", node)
        elif name in POLICY.dynamic_attribute_functions:
            self.add("dynamic-attribute", f"{name} may only be called directly with constant names", node)

    # -- calls -----------------------------------------------------------------------------------------
    def check_call(self, node: ast.Call) -> None:
        f = node.func
        if isinstance(f, ast.Name) and f.id in POLICY.dynamic_attribute_builtins:
            self.handled.add(id(f))
            self.check_dynamic_builtin(node, f.id)
            return
        fname = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None
        if fname in POLICY.dynamic_attribute_functions:
            self.handled.add(id(f))
            self.check_attrgetter(node, fname)
            return
        if isinstance(f, ast.Attribute) and f.attr in POLICY.buffer_methods and self.targets_buffer(node):
            self.handled.add(id(f))
            return
        if isinstance(f, ast.Attribute) and f.attr == "load" and not node.args and not node.keywords:
            # PIL's img.load() (pixel access) takes no argument; np/torch/json/pickle .load need a file.
            self.handled.add(id(f))
            return
        if isinstance(f, ast.Attribute) and f.attr in ("format", "format_map", "vformat"):
            if isinstance(f.value, ast.Constant) and isinstance(f.value.value, str):
                self.check_format_string(f.value.value, f.value)
            # string.Formatter().format("{0.__class__}", x): the template is the first argument.
            if node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                self.check_format_string(node.args[0].value, node.args[0])

    def targets_buffer(self, node: ast.Call) -> bool:
        """True for ``x.save(buf, format=...)`` / ``Image.open(buf)`` whose only positional argument is an
        in-memory buffer (``io.BytesIO()`` or a name bound to one in this cell)."""
        if len(node.args) != 1 or any(k.arg not in POLICY.buffer_keywords for k in node.keywords):
            return False
        arg = node.args[0]
        if isinstance(arg, ast.Name):
            return arg.id in self.buffers
        return isinstance(arg, ast.Call) and self.qualname(arg.func) in POLICY.buffer_constructors

    def check_dynamic_builtin(self, node: ast.Call, name: str) -> None:
        if len(node.args) < 2 or any(isinstance(a, ast.Starred) for a in node.args[:2]):
            self.add("dynamic-attribute", f"{name}() needs an object and a constant attribute name", node)
            return
        attr = node.args[1]
        if not (isinstance(attr, ast.Constant) and isinstance(attr.value, str)):
            self.add(
                "dynamic-attribute",
                f"{name}() with a computed attribute name is not allowed (only constant strings are checked)",
                node,
            )
            return
        base = self.qualname(node.args[0])
        self.check_attribute_name(attr.value, f"{base}.{attr.value}" if base else None, node, src=node)

    def check_attrgetter(self, node: ast.Call, q: str) -> None:
        args = node.args[:1] if q == "methodcaller" else node.args
        if not args or (node.keywords and q == "attrgetter"):
            self.add("dynamic-attribute", f"{q}() needs constant attribute names", node)
            return
        for a in args:
            if not (isinstance(a, ast.Constant) and isinstance(a.value, str)):
                self.add("dynamic-attribute", f"{q}() with a computed attribute name is not allowed", node)
                return
            for part in a.value.split("."):
                self.check_attribute_name(part, None, node, src=node)

    def check_format_string(self, text: str, node: ast.AST) -> None:
        """``"{0.__class__}".format(x)`` walks attributes: apply the attribute rules to the field names."""
        try:
            fields = list(string.Formatter().parse(text))
        except ValueError:
            return
        for _, field, spec, _ in fields:
            if field:
                for part in field.replace("[", ".").replace("]", ".").split(".")[1:]:
                    if part and part.isidentifier():
                        self.check_attribute_name(part, None, node, src=f"format field {{{field}}}")
            if spec and "{" in spec:
                self.check_format_string(spec, node)

    def check_match_class(self, node: ast.MatchClass) -> None:
        # `case object(__class__=c)` reads the attribute __class__.
        for attr in node.kwd_attrs:
            self.check_attribute_name(attr, None, node, src=f"class pattern {attr}=...")

    def run(self) -> list[Violation]:
        self.collect_aliases()
        # Calls first, so that the function node of a call handled by a call rule is not reported twice.
        for node in self.nodes(ast.Call):
            self.check_call(node)
        for node in self.nodes(ast.Name):
            self.check_name(node)
        for node in self.nodes(ast.Attribute):
            self.check_attribute(node)
        for node in self.nodes(ast.Import, ast.ImportFrom):
            self.check_import(node)
        for node in self.nodes(ast.MatchClass):
            self.check_match_class(node)
        return sorted(self.out, key=lambda v: (v.line, v.col, v.rule))


def _syntax_violation(code: str, err: SyntaxError | ValueError) -> Violation:
    if isinstance(err, SyntaxError):
        line = err.lineno or 1
        col = max((err.offset or 1) - 1, 0)
        msg = err.msg
    else:  # e.g. "source code string cannot contain null bytes"
        line, col, msg = 1, 0, str(err)
    lines = code.splitlines()
    text = lines[line - 1].strip() if 0 < line <= len(lines) else ""
    hint = "fix the syntax and send the whole cell again"
    if text.startswith(("%", "!")):
        hint = (
            "IPython magics (%x) and shell escapes (!cmd) are not available: cells are plain Python, "
            "and there is no shell access"
        )
    elif text.startswith("?") or text.endswith("?"):
        hint = "`x?` help syntax is not available: cells are plain Python; print(x.__doc__) or help(x) instead"
    return Violation("syntax", f"syntax error: {msg}; {hint}", line, col)


def check(code: str) -> list[Violation]:
    """Check one cell against :data:`POLICY`.

    Args:
        code: the cell's Python source (plain Python 3; top-level ``await`` parses, as in IPython).

    Returns:
        The violations, sorted by (line, col); empty when the cell may run. A cell that does not parse
        gives exactly one violation with rule ``"syntax"`` at the position the parser reports.
    """
    if not isinstance(code, str):
        raise TypeError(f"code must be a str, got {type(code).__name__}")
    try:
        tree = compile(code, "<cell>", "exec", ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, dont_inherit=True)
    except (SyntaxError, ValueError) as e:
        return [_syntax_violation(code, e)]
    except (RecursionError, MemoryError):
        return [Violation("syntax", "the cell is too deeply nested to check; split it into simpler statements", 1, 0)]
    try:
        return _Checker(tree).run()
    except RecursionError:
        return [Violation("syntax", "the cell is too deeply nested to check; split it into simpler statements", 1, 0)]
