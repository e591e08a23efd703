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
import ast
import json
import string
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, fields
from types import MappingProxyType

POLICY_VERSION = "2026-11-21.1"


@dataclass(frozen=True)
class Violation:
    """One policy violation in a cell.

    Attributes:
        rule: the rule id (a key of ``POLICY.rules``), or ``"syntax"`` when the cell does not parse.
        message: what was denied and what to do instead, written for the model that wrote the cell.
        line: 1-based line number in the cell (``ast`` convention).
        col: 0-based column offset in that line (``ast`` convention).
    """

    rule: str
    message: str
    line: int
    col: int

    def to_dict(self) -> dict[str, str | int]:
        return asdict(self)


@dataclass(frozen=True)
class Rule:
    """One rule of the policy: its id, what it denies and the fix offered in every message."""

    id: str
    denies: str
    fix: str


def _rules(*rules: Rule) -> Mapping[str, Rule]:
    return MappingProxyType({r.id: r for r in rules})


@dataclass(frozen=True)
class Policy:
    """The versioned policy tables. docs/safety-policy.md documents every field."""

    version: str
    rules: Mapping[str, Rule]
    # import: modules denied together with all their submodules (prefix match on the dotted name).
    denied_modules: frozenset[str]
    # module-attribute: attribute names that reach a denied module from an allowed one (``matplotlib.os``).
    module_attributes: frozenset[str]
    # builtin: built-in functions denied by name, wherever the name is used (call or reference).
    denied_builtins: frozenset[str]
    # kernel: names that control the kernel process itself.
    kernel_names: frozenset[str]
    # dunder-name: dunder names (``__x__``) that may be used; all others are denied.
    allowed_dunder_names: frozenset[str]
    # dunder-attribute: dunder attributes that may be accessed; all others are denied.
    allowed_dunder_attributes: frozenset[str]
    # introspection: frame, code and traceback attributes that lead back to globals and builtins.
    introspection_attributes: frozenset[str]
    # dynamic-attribute: built-ins and (operator) functions that take an attribute name as a string; the
    # functions are matched by name on any receiver, since `operator` may have been aliased in an earlier cell.
    dynamic_attribute_builtins: frozenset[str]
    dynamic_attribute_functions: frozenset[str]
    # file-io: attribute names, and name prefixes (pandas/networkx/open3d read_*, write_*), denied on any receiver.
    file_io_attributes: frozenset[str]
    file_io_prefixes: tuple[str, ...]
    # file-io exception: in-memory buffers and the calls that may target them.
    buffer_constructors: frozenset[str]
    buffer_methods: frozenset[str]
    buffer_keywords: frozenset[str]
    # string-exec: attributes that run a source string.
    string_exec_attributes: frozenset[str]
    # names the kernel pre-imports (session.init) and conventional aliases, for resolving attribute paths.
    default_aliases: Mapping[str, str]

    def to_json(self) -> dict[str, object]:
        """The whole policy as JSON-ready data (sets become sorted lists), as printed by ``--policy``."""
        out: dict[str, object] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name == "rules":
                v = [asdict(r) for r in v.values()]
            elif isinstance(v, frozenset):
                v = sorted(v)
            elif isinstance(v, Mapping):
                v = dict(v)
            elif isinstance(v, tuple):
                v = list(v)
            out[f.name] = v
        return out


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_DEFAULT_ALIASES = MappingProxyType(
    {
        "np": "numpy",
        "numpy": "numpy",
        "scipy": "scipy",
        "plt": "matplotlib.pyplot",
        "matplotlib": "matplotlib",
        "mpl": "matplotlib",
        "math": "math",
        "collections": "collections",
        "itertools": "itertools",
        "functools": "functools",
        "operator": "operator",
        "json": "json",
        "io": "io",
        "cv2": "cv2",
        "PIL": "PIL",
        "Image": "PIL.Image",
        "pd": "pandas",
        "pandas": "pandas",
        "torch": "torch",
        "nx": "networkx",
        "networkx": "networkx",
        "tools": "spatial_runtime.tools",
        "spatial_runtime": "spatial_runtime",
    }
)

POLICY = Policy(
    version=POLICY_VERSION,
    rules=_rules(
        Rule(
            "syntax",
            "cells that are not plain Python 3 (including IPython magics `%x`, shell escapes `!cmd`, `x?` help)",
            "write plain Python; the kernel has no shell access",
        ),
        Rule(
            "import",
            "importing modules that reach the operating system, the network, the interpreter internals, "
            "serialisation or the kernel (and star imports)",
            "use the pre-imported np, scipy, math, collections, itertools, functools, plt and tools",
        ),
        Rule(
            "module-attribute",
            "reaching a denied module through an attribute of an allowed one (e.g. matplotlib.os, scipy.io)",
            "use the pre-imported np, scipy, math, collections, itertools, functools, plt and tools",
        ),
        Rule(
            "builtin",
            "built-ins that run source strings, open files, expose namespaces or wait for input",
            "write the code directly; the inputs are already loaded as InputImages",
        ),
        Rule(
            "kernel",
            "names that control the kernel process (get_ipython, exit, quit)",
            "end the task with ReturnAnswer(...); the host manages the kernel",
        ),
        Rule(
            "dunder-name",
            "dunder names other than __name__, __doc__, __slots__ and __all__ (e.g. __builtins__, __spatialclaw__)",
            "use ordinary variables; define special methods with `def __init__(self, ...)` in a class",
        ),
        Rule(
            "dunder-attribute",
            "dunder attributes outside a small allow-list (e.g. __class__, __subclasses__, __globals__, __dict__)",
            "use type(x), isinstance(x, T) or dir(x) instead; super().__init__(...) and x.__name__ stay allowed",
        ),
        Rule(
            "introspection",
            "frame, code and traceback internals (f_globals, tb_frame, gi_frame, co_code, ...)",
            "catch exceptions with try/except and print the message instead",
        ),
        Rule(
            "dynamic-attribute",
            "getattr/setattr/delattr (and operator.attrgetter/methodcaller) with a name that is not a constant "
            "string, or passed around as a value",
            "write the attribute directly (obj.name) or getattr(obj, 'name') with a constant string",
        ),
        Rule(
            "file-io",
            "reading or writing files (np.save/load, savefig, to_csv, pd.read_*, Image.open/.save, cv2.imread/"
            "imwrite/VideoCapture, scipy.io, torch.save/load, json.dump/load, Path.read_text, ...)",
            "the inputs are already loaded as InputImages; keep results in variables, use show() to display "
            "images and ReturnAnswer() to answer",
        ),
        Rule(
            "string-exec",
            "library functions that evaluate a source string (sympy.sympify, parse_expr)",
            "build the expression with code (e.g. sympy.Symbol) instead of a string",
        ),
    ),
    denied_modules=(
        # operating system, processes, files
        _words(
            "os posix nt posixpath ntpath subprocess shutil pathlib tempfile glob fcntl resource pty tty termios signal"
            " mmap pwd grp getpass platform sysconfig site fileinput filecmp linecache zipfile tarfile gzip bz2 lzma"
            " _io _posixsubprocess _signal faulthandler"
        )
        # interpreter internals, dynamic code, concurrency
        | _words(
            "sys builtins __builtin__ importlib imp pkgutil zipimport runpy code codeop ctypes _ctypes cffi gc inspect"
            " types trace bdb pdb cProfile profile timeit doctest tracemalloc _thread threading multiprocessing"
            " concurrent asyncio selectors select copyreg"
        )
        # serialisation of arbitrary objects
        | _words("pickle _pickle cPickle dill cloudpickle joblib shelve marshal dbm sqlite3")
        # network
        | _words(
            "socket socketserver ssl http urllib urllib3 requests httpx aiohttp ftplib smtplib poplib imaplib nntplib"
            " telnetlib xmlrpc webbrowser"
        )
        # packaging
        | _words("pip ensurepip venv distutils setuptools")
        # the kernel and the host side
        | _words(
            "IPython ipykernel jupyter_client jupyter_core jupyter_server zmq tornado spatial_runtime.session"
            " spatial_runtime.kernel_launch spatial_runtime.server_launch spatial_runtime.safety spatial_runtime.rgbd"
            " spatial_runtime.inputs"
        )
        # submodules of allowed libraries that only do file I/O, FFI or downloads
        | _words(
            "numpy.ctypeslib numpy.f2py numpy.distutils numpy.lib.npyio numpy.lib.format scipy.io scipy.datasets"
            " skimage.io imageio open3d.io h5py torch.hub torch.utils.cpp_extension matplotlib.image pandas.io"
        )
    ),
    module_attributes=_words(
        "os sys subprocess shutil socket ctypes ctypeslib importlib builtins pickle marshal pty posix gc inspect"
        " multiprocessing pathlib runpy tempfile threading f2py LowLevelCallable io"
    ),
    denied_builtins=_words("open exec eval compile __import__ globals locals vars breakpoint input"),
    kernel_names=_words("get_ipython exit quit"),
    allowed_dunder_names=_words("__name__ __doc__ __slots__ __all__"),
    allowed_dunder_attributes=_words(
        "__init__ __post_init__ __name__ __qualname__ __doc__ __version__ __repr__ __str__ __format__ __len__"
        " __iter__ __next__ __contains__ __getitem__ __setitem__ __eq__ __ne__ __lt__ __le__ __gt__ __ge__ __hash__"
        " __bool__ __enter__ __exit__ __add__ __sub__ __mul__ __truediv__ __neg__ __abs__ __array__"
    ),
    introspection_attributes=_words(
        "f_globals f_locals f_builtins f_back f_code f_trace tb_frame tb_next gi_frame gi_code gi_yieldfrom cr_frame"
        " cr_code cr_await ag_frame ag_code co_code co_consts co_names func_globals func_code"
    ),
    dynamic_attribute_builtins=frozenset({"getattr", "setattr", "delattr"}),
    dynamic_attribute_functions=frozenset({"attrgetter", "methodcaller"}),
    file_io_attributes=(
        # numpy
        _words(
            "save savez savez_compressed savetxt load loadtxt genfromtxt fromfile fromregex tofile memmap open_memmap"
            " DataSource dump unsafe_load"
        )
        # matplotlib, PIL, OpenCV, imageio
        | _words(
            "savefig imsave imread imwrite imreadmulti imwritemulti imreadanimation VideoCapture VideoWriter"
            " FileStorage readOpticalFlow writeOpticalFlow open"
        )
        # pandas
        | _words(
            "to_csv to_pickle to_parquet to_json to_hdf to_excel to_feather to_sql to_stata to_orc to_clipboard to_xml"
            " read_csv read_pickle read_parquet read_json read_hdf read_excel read_feather read_sql read_table"
            " read_fwf read_html read_xml read_orc read_stata read_sas read_spss read_clipboard"
        )
        # scipy.io
        | _words("loadmat savemat whosmat mmread mmwrite")
        # pathlib-like objects, io
        | _words(
            "read_text write_text read_bytes write_bytes unlink rmdir iterdir rglob symlink_to hardlink_to chmod touch"
            " FileIO open_code"
        )
        # spatial_runtime's own loader (the host loads the inputs)
        | _words("load_rgbd_sample")
    ),
    file_io_prefixes=("read_", "write_"),
    buffer_constructors=frozenset({"io.BytesIO", "io.StringIO"}),
    buffer_methods=frozenset({"save", "savefig", "open"}),
    buffer_keywords=frozenset(
        {"format", "dpi", "bbox_inches", "pad_inches", "quality", "optimize", "transparent", "facecolor"}
    ),
    string_exec_attributes=frozenset({"sympify", "parse_expr"}),
    default_aliases=_DEFAULT_ALIASES,
)


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


def _walk(tree: ast.AST) -> dict[type, list[ast.AST]]:
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
        self.by_type = _walk(tree)
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


if __name__ == "__main__":
    sys.exit(main())
