"""The static safety policy (spatial_runtime.safety): escapes that must be denied, agent cells that must
pass, the CLI and the --serve protocol of docs/kernel-protocol.md."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from spatial_runtime import safety
from spatial_runtime.safety import POLICY, POLICY_VERSION, Violation, check
from spatial_runtime.safety.checker import walk_by_type

DOCS = Path(__file__).resolve().parents[2] / "docs" / "safety-policy.md"

# (id, code, expected rule, expected 1-based line of that violation)
ESCAPES = [
    # import
    ("import-os", "import os", "import", 1),
    ("import-subprocess", "x = 1\nimport subprocess", "import", 2),
    ("from-os-system", "from os import system\nsystem('ls')", "import", 1),
    ("import-os-path", "import os.path as osp", "import", 1),
    ("from-subprocess-popen", "from subprocess import Popen", "import", 1),
    ("import-socket", "import socket\ns = socket.socket()", "import", 1),
    ("import-shutil", "import shutil\nshutil.rmtree('/')", "import", 1),
    ("import-ctypes", "import ctypes", "import", 1),
    ("import-pickle", "import pickle as pk", "import", 1),
    ("import-importlib", "import importlib\nm = importlib.import_module('o' + 's')", "import", 1),
    ("import-sys", "import sys\nsys.modules['os']", "import", 1),
    ("from-pathlib", "from pathlib import Path", "import", 1),
    ("import-numpy-ctypeslib", "import numpy.ctypeslib", "import", 1),
    ("from-numpy-ctypeslib", "from numpy import ctypeslib", "import", 1),
    ("from-scipy-io", "from scipy import io as sio", "import", 1),
    ("import-builtins", "import builtins", "import", 1),
    ("import-urllib", "import urllib.request", "import", 1),
    ("from-http-client", "from http.client import HTTPConnection", "import", 1),
    ("import-requests", "import requests", "import", 1),
    ("import-threading", "import threading", "import", 1),
    ("import-multiprocessing", "import multiprocessing.pool", "import", 1),
    ("import-types", "import types", "import", 1),
    ("import-signal", "import signal", "import", 1),
    ("import-ipython", "from IPython import get_ipython", "import", 1),
    ("import-session", "import spatial_runtime.session as s", "import", 1),
    ("star-import", "from numpy import *\nsave('x.npy', a)", "import", 1),
    ("from-matplotlib-os", "from matplotlib import os", "import", 1),
    ("import-in-function", "def f():\n    import os\n    return os", "import", 2),
    # builtin
    ("open", "x = 1\ndata = open('/etc/passwd').read()", "builtin", 2),
    ("exec", "exec('import os')", "builtin", 1),
    ("eval", "eval('1 + 1')", "builtin", 1),
    ("compile", "code = compile('x', 'f', 'exec')", "builtin", 1),
    ("dunder-import-call", "__import__('os').system('ls')", "builtin", 1),
    ("dunder-import-alias", "o = __import__", "builtin", 1),
    ("map-exec", "list(map(exec, ['print(1)']))", "builtin", 1),
    ("lambda-default", "g = lambda f=open: f('x')", "builtin", 1),
    ("def-default", "def g(x, run=eval):\n    return run(x)", "builtin", 1),
    ("globals", "globals()['__builtins__']", "builtin", 1),
    ("locals", "b = locals()", "builtin", 1),
    ("vars", "v = vars()", "builtin", 1),
    ("breakpoint", "breakpoint()", "builtin", 1),
    ("input", "name = input('?')", "builtin", 1),
    ("decorator-exec", "@exec\ndef f():\n    pass", "builtin", 1),
    ("comprehension-open", "x = 1\n\nfs = [open for _ in range(1)]", "builtin", 3),
    # dunder-name
    ("builtins-name", "b = __builtins__", "dunder-name", 1),
    ("spatialclaw-name", "__spatialclaw__.bridge", "dunder-name", 1),
    ("loader-name", "__loader__", "dunder-name", 1),
    ("spec-name", "s = __spec__", "dunder-name", 1),
    ("class-cell", "class A:\n    def f(self):\n        return __class__", "dunder-name", 3),
    ("assign-builtins", "__builtins__ = {}", "dunder-name", 1),
    # dunder-attribute
    ("subclasses-chain", "().__class__.__bases__[0].__subclasses__()", "dunder-attribute", 1),
    ("mro-comprehension", "[x for x in ().__class__.__mro__]", "dunder-attribute", 1),
    ("type-subclasses", "type(x).__subclasses__()", "dunder-attribute", 1),
    ("show-globals", "x = 1\nshow.__globals__['__builtins__']", "dunder-attribute", 2),
    ("code-object", "def f():\n    pass\nc = f.__code__", "dunder-attribute", 3),
    ("dict-attr", "d = np.__dict__", "dunder-attribute", 1),
    ("print-self", "print.__self__.open('x')", "dunder-attribute", 1),
    ("getattr-dunder", "getattr(x, '__class__')", "dunder-attribute", 1),
    ("getattribute", "object.__getattribute__(np, 'save')", "dunder-attribute", 1),
    ("attrgetter-dunder", "import operator\nop = operator.attrgetter('__class__.__mro__')", "dunder-attribute", 2),
    ("format-string", "s = '{0.__class__.__mro__}'.format(x)", "dunder-attribute", 1),
    ("formatter-template", "import string\ns = string.Formatter().format('{0.__globals__}', f)", "dunder-attribute", 2),
    ("match-class", "match ():\n    case object(__class__=c):\n        pass", "dunder-attribute", 2),
    ("traceback", "try:\n    1 / 0\nexcept Exception as e:\n    t = e.__traceback__", "dunder-attribute", 4),
    ("tools-builtins", "tools.Geometry.__builtins__", "dunder-attribute", 1),
    ("wrapped", "f = show.__wrapped__", "dunder-attribute", 1),
    # introspection
    ("generator-frame", "g = (i for i in [])\nfr = g.gi_frame.f_back", "introspection", 2),
    ("tb-frame", "def h(tb):\n    return tb.tb_frame.f_globals", "introspection", 2),
    # dynamic-attribute
    ("getattr-variable", "name = 'sa' + 've'\ngetattr(np, name)('x', a)", "dynamic-attribute", 2),
    ("getattr-concat", "getattr(np, 'sa' + 've')", "dynamic-attribute", 1),
    ("setattr-variable", "setattr(obj, key, value)", "dynamic-attribute", 1),
    ("delattr-fstring", "delattr(obj, f'{k}')", "dynamic-attribute", 1),
    ("getattr-as-value", "g = getattr", "dynamic-attribute", 1),
    ("reduce-getattr", "functools.reduce(getattr, ['a', 'b'], x)", "dynamic-attribute", 1),
    ("attrgetter-variable", "from operator import attrgetter\nf = attrgetter(name)", "dynamic-attribute", 2),
    ("aliased-attrgetter", "op.attrgetter(name)(x)", "dynamic-attribute", 1),
    ("getattr-starred", "getattr(*args)", "dynamic-attribute", 1),
    # file-io
    ("np-save", "np.save('x.npy', a)", "file-io", 1),
    ("alias-save", "import numpy as n\nn.save('x.npy', a)", "file-io", 2),
    ("from-numpy-save", "from numpy import save", "file-io", 1),
    ("save-reference", "f = np.save", "file-io", 1),
    ("getattr-save", "getattr(np, 'save')('x.npy', a)", "file-io", 1),
    ("rebinding-save", "m = np\nm.savez_compressed('x', a=a)", "file-io", 2),
    ("np-load", "a = np.load('x.npy', allow_pickle=True)", "file-io", 1),
    ("load-reference", "px = frame.load\nf = np.load", "file-io", 1),
    ("np-loadtxt", "a = np.loadtxt('x.txt')", "file-io", 1),
    ("np-fromfile", "a = np.fromfile('x.bin')", "file-io", 1),
    ("tofile", "a.tofile('x.bin')", "file-io", 1),
    ("memmap", "m = np.memmap('x', mode='w+', shape=(3,))", "file-io", 1),
    ("plt-savefig", "plt.plot([1, 2])\nplt.savefig('x.png')", "file-io", 2),
    ("fig-savefig", "fig, ax = plt.subplots()\nfig.savefig('/tmp/x.png')", "file-io", 2),
    ("to-csv", "df.to_csv('x.csv')", "file-io", 1),
    ("pd-read-csv", "df = pd.read_csv('x.csv')", "file-io", 1),
    ("image-open", "from PIL import Image\nimg = Image.open('x.png')", "file-io", 2),
    ("pil-save", "Image.fromarray(a).save('x.png')", "file-io", 1),
    ("cv2-imread", "img = cv2.imread('x.png')", "file-io", 1),
    ("cv2-imwrite", "cv2.imwrite('x.png', a)", "file-io", 1),
    ("cv2-videocapture", "cap = cv2.VideoCapture(0)", "file-io", 1),
    ("cv2-videowriter", "w = cv2.VideoWriter('x.mp4', 0, 30, (64, 64))", "file-io", 1),
    ("torch-load", "m = torch.load('m.pt')", "file-io", 1),
    ("torch-save-buffer-trick", "torch.save(io.BytesIO(), '/tmp/x')", "file-io", 1),
    ("json-dump", "json.dump(d, fh)", "file-io", 1),
    ("json-load", "d = json.load(fh)", "file-io", 1),
    ("nx-write", "nx.write_gml(G, 'g.gml')", "file-io", 1),
    ("tools-nx-read", "G = tools.Graph.nx.read_edgelist('/etc/passwd')", "file-io", 1),
    ("path-read-text", "text = sample.root.read_text()", "file-io", 1),
    ("path-unlink", "p.unlink()", "file-io", 1),
    ("io-open", "import io\nf = io.open('x')", "file-io", 2),
    ("load-rgbd", "from spatial_runtime import load_rgbd_sample", "file-io", 1),
    # module-attribute
    ("scipy-io", "m = scipy.io.loadmat('x.mat')", "module-attribute", 1),
    ("matplotlib-os", "import matplotlib\nmatplotlib.os.system('ls')", "module-attribute", 2),
    ("plt-os", "plt.os.remove('x')", "module-attribute", 1),
    ("ndarray-ctypes", "ptr = a.ctypes.data", "module-attribute", 1),
    ("open-memmap", "np.lib.format.open_memmap('x')", "module-attribute", 1),
    ("spatial-runtime-session", "import spatial_runtime\nspatial_runtime.session.prepare('{}')", "module-attribute", 2),
    ("getattr-os", "getattr(mpl, 'os').system('ls')", "module-attribute", 1),
    # kernel
    ("get-ipython", "get_ipython().system('ls')", "kernel", 1),
    ("exit", "exit()", "kernel", 1),
    ("quit", "x = 1\nquit", "kernel", 2),
    # string-exec
    ("sympify", "import sympy\ne = sympy.sympify('__import__(\"os\")')", "string-exec", 2),
    # syntax (IPython escapes are not Python)
    ("shell-escape", "x = 1\n!ls -la", "syntax", 2),
    ("line-magic", "%env", "syntax", 1),
    ("cell-magic", "%%bash\nls", "syntax", 1),
    ("help-suffix", "np.save?", "syntax", 1),
]

LEGIT = [
    "import numpy as np\nd = float(np.linalg.norm(np.array([1.0, 2.0, 2.0])))\nprint(d)",
    "from scipy.spatial import cKDTree\ntree = cKDTree(points)\ndist, idx = tree.query(points[:5], k=2)",
    "from scipy.spatial.transform import Rotation\nR = Rotation.from_quat([0, 0, 0, 1]).as_matrix()",
    "import math\nangle = math.degrees(math.atan2(1.0, 1.0))\nprint(f'{angle:.1f} deg')",
    "from collections import Counter\nc = Counter(['chair', 'chair', 'table'])\nprint(c.most_common(1))",
    "counts = collections.Counter(labels)\nReturnAnswer(counts['chair'])",
    "import itertools\nfor a, b in itertools.combinations(range(4), 2):\n    print(a, b)",
    "class Obj:\n    def __init__(self, name, xyz):\n        self.name = name\n        self.xyz = xyz\n\n"
    "    def __repr__(self):\n        return f'Obj({self.name})'\n\nchair = Obj('chair', (1, 2, 3))",
    "class Labelled(dict):\n    def __init__(self, **kw):\n        super().__init__(**kw)\n        self.tag = 'x'",
    "sizes = [f.shape for f in InputImages]\nprint(len(InputImages), sizes[:3])",
    "for i, frame in enumerate(InputImages[:4]):\n    show(frame, label=f'frame {i}')",
    "fig, ax = plt.subplots(1, 2, figsize=(8, 4))\nax[0].imshow(InputImages[0])\nax[1].plot([0, 1], [1, 0])\n"
    "ax[1].set_title('path')\nplt.tight_layout()\nplt.show()",
    "d = tools.Geometry.distance([0, 0, 0], [1, 2, 2])\nReturnAnswer(round(d, 1))",
    "from tools import Geometry, Mask\nc = Geometry.centroid(points)\na = Mask.area(mask)",
    "import tools\nsg = tools.Graph.SceneGraph()\nsg.add_object('chair', [1, 0, 2])",
    "import io\nbuf = io.BytesIO()\nfig, ax = plt.subplots()\nfig.savefig(buf, format='png')\n"
    "print(len(buf.getvalue()))",
    "from io import BytesIO\nfrom PIL import Image\nimg = Image.open(BytesIO(png_bytes))\nshow(img)",
    "img = Image.fromarray(InputImages[0])\nbuf = io.BytesIO()\nimg.save(buf, format='PNG')",
    "name = 'table'\nmsg = f'{name}: {3.14159:.2f} m'\nprint(msg)",
    "try:\n    v = 1 / 0\nexcept ZeroDivisionError as e:\n    print(f'failed: {e}')\n    v = float('nan')",
    "from dataclasses import dataclass, field\n\n@dataclass\nclass Box:\n    lo: tuple\n    hi: tuple\n"
    "    tags: list = field(default_factory=list)\n\n    def __post_init__(self):\n        self.size = 1",
    "import json\ns = json.dumps({'a': 1})\nd = json.loads(s)",
    "if __name__ == '__main__':\n    print('running in the kernel')",
    "print(type(points).__name__, np.__version__)",
    "depth = InputImages.depth[0]\nvalid = np.isfinite(depth) & (depth > 0)\nmed = float(np.median(depth[valid]))",
    "pts = point_map[mask]\npts = pts[np.isfinite(pts).all(axis=1)]\nlo, hi = np.percentile(pts, [2, 98], axis=0)",
    "from scipy import ndimage\nlab, n = ndimage.label(mask)\nsizes = ndimage.sum(mask, lab, range(1, n + 1))",
    "import scipy.signal\nsmooth = scipy.signal.medfilt(np.asarray(track), 5)",
    "from scipy.optimize import least_squares\nres = least_squares(lambda p: p - 1.0, x0=[0.0])\nprint(res.x)",
    "gray = cv2.cvtColor(InputImages[0], cv2.COLOR_RGB2GRAY)\nedges = cv2.Canny(gray, 50, 150)\nshow(edges)",
    "import networkx as nx\nG = nx.Graph()\nG.add_edge('a', 'b', weight=1.5)\npath = nx.shortest_path(G, 'a', 'b')",
    "answer = vlm.ask([InputImages[0]], 'Which object is closest to the door?')\nprint(answer)",
    "pts = vlm.locate(InputImages[3], 'red chair')\nprint(pts)",
    "frames = sorted(range(10), key=lambda i: -i)\nbest = max(frames, key=lambda i: i % 3)",
    "value = getattr(frame, 'depth', None)\nif hasattr(frame, 'pose'):\n    setattr(result, 'pose', frame.pose)",
    "from operator import itemgetter, attrgetter\nobjs.sort(key=attrgetter('distance'))\nfirst = itemgetter(0)(objs)",
    "text = '{:.2f} m between {} and {}'.format(d, 'a', 'b')\nshape = '{0.shape}'.format(points)",
    "match obj:\n    case {'label': label, 'xyz': xyz}:\n        print(label, xyz)\n    case _:\n        pass",
    "while (n := len(queue)) > 0:\n    queue.pop()",
    "with np.errstate(divide='ignore', invalid='ignore'):\n    ratio = a / b",
    "import re\npat = re.compile(r'(\\d+) chairs')\nm = pat.search('3 chairs')",
    "from functools import lru_cache\n\n@lru_cache(maxsize=None)\ndef fib(n):\n"
    "    return n if n < 2 else fib(n - 1) + fib(n - 2)",
    "import statistics, heapq, random\nrandom.seed(0)\nprint(statistics.mean([1, 2]), heapq.nsmallest(1, [3, 1]))",
    "class Slot:\n    __slots__ = ('x', 'y')\n\n    def __init__(self):\n        self.x = self.y = 0",
    "arr = np.zeros((4, 4), dtype=np.float32)\nview = memoryview(arr)\nprint(view.nbytes)",
    "help(tools.Geometry.distance)\nprint(dir(tools))",
    "T = sample_pose @ np.linalg.inv(other_pose)\nR, t = T[:3, :3], T[:3, 3]\nprint(np.round(t, 3))",
    "df = pd.DataFrame({'a': [1, 2]})\nprint(df.to_dict(), df.to_numpy().sum())",
    "load = 3\nsave_count = 1\nprint(load + save_count)",
    "overlay = tools.Draw.overlay_mask(InputImages[0], mask, color='red', alpha=0.4)\nshow(overlay, label='mask')",
    "frame = InputImages[0].copy()\npx = frame.load()\npx[0, 0] = (255, 0, 0)\nshow(frame)",
    "async def fetch():\n    return 1\n\nresult = await fetch()",
]


@pytest.mark.parametrize(("code", "rule", "line"), [c[1:] for c in ESCAPES], ids=[c[0] for c in ESCAPES])
def test_escape_attempts_are_denied(code, rule, line):
    violations = check(code)
    assert violations, f"not denied:\n{code}"
    matching = [v for v in violations if v.rule == rule]
    assert matching, f"expected rule {rule!r}, got {[(v.rule, v.message) for v in violations]}"
    assert line in [v.line for v in matching], f"expected line {line}, got {[(v.line, v.col) for v in matching]}"
    for v in violations:
        assert v.message and v.line >= 1 and v.col >= 0


@pytest.mark.parametrize("code", LEGIT, ids=[f"cell{i:02d}" for i in range(len(LEGIT))])
def test_legitimate_cells_pass(code):
    assert check(code) == [], "\n".join(f"{v.line}:{v.col} {v.rule}: {v.message}" for v in check(code))


def test_counts_of_cases():
    assert len(ESCAPES) >= 40 and len({c[0] for c in ESCAPES}) == len(ESCAPES)
    assert len(LEGIT) >= 40 and len(set(LEGIT)) == len(LEGIT)


def test_positions_are_exact():
    # Attributes are reported at the attribute name; names and imports at their start.
    [v] = check("import numpy as n\nn.save('x.npy', a)")
    assert v == Violation("file-io", v.message, 2, 2) and "(n.save)" in v.message
    [v] = check("x = 1\ny = [open for _ in range(1)]")
    assert (v.rule, v.line, v.col) == ("builtin", 2, 5)
    chain = check("().__class__.__bases__[0].__subclasses__()")
    assert [(v.line, v.col) for v in chain] == [(1, 3), (1, 13), (1, 26)]
    [v] = check("y = (np\n     .load('x'))")
    assert (v.rule, v.line, v.col) == ("file-io", 2, 6)
    [v] = check("if True:\n    import os")
    assert (v.rule, v.line, v.col) == ("import", 2, 4)


def test_messages_say_what_and_what_to_do():
    [v] = check("np.save('x.npy', a)")
    assert v.message.startswith("file I/O is not allowed (np.save)")
    assert "InputImages" in v.message and "show()" in v.message
    [v] = check("import subprocess")
    assert "'subprocess'" in v.message and "pre-imported" in v.message
    [v] = check("getattr(x, name)")
    assert "constant" in v.message


def test_syntax_errors_are_one_violation_with_position_and_hint():
    [v] = check("x = 1\nif x\n    pass")
    assert v.rule == "syntax" and v.line == 2 and v.message.startswith("syntax error:")
    [v] = check("a = 1\n!rm -rf /")
    assert (v.rule, v.line) == ("syntax", 2) and "shell escapes" in v.message
    [v] = check("%timeit np.ones(3)")
    assert "IPython magics" in v.message
    [v] = check("x = 1\0")
    assert v.rule == "syntax"
    [v] = check("x = " + "(" * 300 + ")" * 300)
    assert v.rule == "syntax"


def test_violations_are_sorted_and_deduplicated():
    vs = check("import os\nx = eval('1')\nnp.save('a', x)\nimport sys")
    assert [(v.rule, v.line) for v in vs] == [("import", 1), ("builtin", 2), ("file-io", 3), ("import", 4)]


def test_non_string_code_is_a_type_error():
    with pytest.raises(TypeError, match="code must be a str"):
        check(b"import os")


def test_fast_walk_sees_every_node_the_rules_need():
    import ast
    import dataclasses
    import json as json_module

    sources = [
        Path(ast.__file__).read_text(),
        Path(dataclasses.__file__).read_text(),
        Path(json_module.__file__).read_text(),
    ]
    sources.append("match p:\n    case {'k': [1, *rest]} | Point(x=0, y=_) as q if f(q.a):\n        g(**{k: v})")
    wanted = (ast.Name, ast.Attribute, ast.Call, ast.Import, ast.ImportFrom, ast.Assign, ast.MatchClass)
    for src in sources:
        tree = ast.parse(src)
        by_type = walk_by_type(tree)
        slow = {id(n) for n in ast.walk(tree) if isinstance(n, wanted)}
        fast = {id(n) for t in wanted for n in by_type.get(t, ())}
        assert fast == slow


def test_pathological_cells_do_not_crash_the_checker():
    [v] = check("x = a" + ".b" * 800 + ".save")
    assert v.rule == "file-io"
    [v] = check("x = a" + ".b" * 5000)  # deeper than the parser accepts
    assert v.rule == "syntax"


def test_policy_is_versioned_and_documented():
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}\.\d+", POLICY_VERSION) and POLICY.version == POLICY_VERSION
    doc = DOCS.read_text()
    assert f"`{POLICY_VERSION}`" in doc
    for rule in POLICY.rules:
        assert f"### `{rule}`" in doc, f"rule {rule} is not documented"
    tables = {
        "denied_modules": POLICY.denied_modules,
        "module_attributes": POLICY.module_attributes,
        "denied_builtins": POLICY.denied_builtins,
        "kernel_names": POLICY.kernel_names,
        "allowed_dunder_names": POLICY.allowed_dunder_names,
        "allowed_dunder_attributes": POLICY.allowed_dunder_attributes,
        "introspection_attributes": POLICY.introspection_attributes,
        "file_io_attributes": POLICY.file_io_attributes,
        "buffer_keywords": POLICY.buffer_keywords,
        "string_exec_attributes": POLICY.string_exec_attributes,
    }
    for table, names in tables.items():
        missing = [n for n in names if not re.search(rf"(?<![\w.]){re.escape(n)}(?![\w])", doc)]
        assert not missing, f"{table}: {missing} not in docs/safety-policy.md"
    # Every rule a violation can carry is in the table (and the other way round is covered above).
    seen = {c[2] for c in ESCAPES}
    assert seen == set(POLICY.rules), seen ^ set(POLICY.rules)


def _run(*args, **kw):
    return subprocess.run([sys.executable, "-m", "spatial_runtime.safety", *args], capture_output=True, text=True, **kw)


def test_cli_exit_codes_and_json(tmp_path):
    good = tmp_path / "good.py"
    good.write_text("import numpy as np\nprint(np.ones(3).sum())\n")
    r = _run(str(good))
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"policy": POLICY_VERSION, "violations": []}

    bad = tmp_path / "bad.py"
    bad.write_text("x = 1\nimport os\nos.system('ls')\n")
    r = _run(str(bad))
    assert r.returncode == 1
    out = json.loads(r.stdout)
    assert out["policy"] == POLICY_VERSION
    assert [(v["rule"], v["line"], v["col"]) for v in out["violations"]] == [("import", 2, 0)]
    assert set(out["violations"][0]) == {"rule", "message", "line", "col"}

    r = _run(str(tmp_path / "missing.py"))
    assert r.returncode == 2 and "missing.py" in r.stderr and "no such file" in r.stderr
    r = _run()
    assert r.returncode == 2 and "FILE" in r.stderr


def test_cli_prints_the_policy():
    r = _run("--policy")
    assert r.returncode == 0
    data = json.loads(r.stdout)
    assert data["version"] == POLICY_VERSION
    assert [rule["id"] for rule in data["rules"]] == list(POLICY.rules)
    assert "os" in data["denied_modules"]


def test_serve_answers_line_by_line():
    proc = subprocess.Popen(
        [sys.executable, "-m", "spatial_runtime.safety", "--serve"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:

        def ask(line: str) -> dict:
            proc.stdin.write(line + "\n")
            proc.stdin.flush()
            return json.loads(proc.stdout.readline())  # blocks unless the server flushes each answer

        a = ask(json.dumps({"id": "c1", "code": "import os"}))
        assert a["id"] == "c1" and a["policy"] == POLICY_VERSION
        assert [v["rule"] for v in a["violations"]] == ["import"]
        b = ask(json.dumps({"id": "c2", "code": "d = np.linalg.norm([3, 4])\nReturnAnswer(d)"}))
        assert b == {"id": "c2", "policy": POLICY_VERSION, "violations": []}
        c = ask("this is not json")
        assert c["id"] is None and "malformed request" in c["error"]
        d = ask(json.dumps({"id": 7, "code": "x"}))
        assert d["id"] is None and "id" in d["error"]
        e = ask(json.dumps({"id": "c5"}))
        assert e["id"] == "c5" and "code" in e["error"]
        f = ask(json.dumps(["id", "code"]))
        assert f["id"] is None and "error" in f
        g = ask(json.dumps({"id": "c7", "code": "x = 1\n!ls"}))
        assert [(v["rule"], v["line"]) for v in g["violations"]] == [("syntax", 2)]
        h = ask(json.dumps({"id": "ünï", "code": "s = 'café'\nprint(s)"}))
        assert h == {"id": "ünï", "policy": POLICY_VERSION, "violations": []}
        out, err = proc.communicate("\n", timeout=30)  # EOF ends the server; blank lines get no answer
        assert proc.returncode == 0 and out == "", err
    finally:
        if proc.poll() is None:
            proc.kill()


def test_serve_function_survives_internal_errors(monkeypatch):
    answers = []

    def boom(code):
        raise RuntimeError("bug")

    monkeypatch.setattr(safety, "report", boom)
    safety.serve([b'{"id": "x", "code": "1"}'], answers.append)
    assert json.loads(answers[0]) == {"id": "x", "error": "internal error in the safety check: RuntimeError: bug"}
