"""The safety policy's tables (:data:`POLICY`, versioned by :data:`POLICY_VERSION`) and its result type.

docs/safety-policy.md documents every rule, decision and reason; the tables change together with the version.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from types import MappingProxyType

__all__ = ["POLICY", "POLICY_VERSION", "Policy", "Rule", "Violation"]

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
