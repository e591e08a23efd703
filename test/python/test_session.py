"""session.init / prepare / after_cell / reset in a REAL IPython kernel, and the VLM bridge client.

The kernel is started with jupyter_client from this virtual environment and driven with execute
requests, exactly as the host drives it (docs/kernel-protocol.md).
"""

import ast
import base64
import importlib.util
import io
import json
import time
from pathlib import Path

import numpy as np
import pytest
from bridge_helpers import fake_bridge
from jupyter_client.manager import start_new_kernel
from PIL import Image
from spatial_runtime import vlm as vlm_module

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
IMAGE_MIME = "application/vnd.spatialclaw.image+json"
ANSWER_MIME = "application/vnd.spatialclaw.answer+json"
AFTER_CELL = {"spatialclaw": "__import__('spatial_runtime.session', fromlist=['_']).after_cell()"}
SESSION = "__import__('spatial_runtime.session', fromlist=['_'])"


class Result:
    def __init__(self, reply, messages):
        self.reply = reply
        self.status = reply["status"]
        self.messages = [(m["msg_type"], m["content"]) for m in messages]
        self.displays = [c for t, c in self.messages if t == "display_data"]
        self.results = [c for t, c in self.messages if t == "execute_result"]
        self.stdout = "".join(c["text"] for t, c in self.messages if t == "stream" and c["name"] == "stdout")
        self.stderr = "".join(c["text"] for t, c in self.messages if t == "stream" and c["name"] == "stderr")
        self.ename = reply.get("ename")
        self.evalue = reply.get("evalue")

    @property
    def variables(self):
        expr = self.reply["user_expressions"]["spatialclaw"]
        assert expr["status"] == "ok", expr
        return expr["data"]["application/json"]["variables"]


class Kernel:
    def __init__(self, km, kc):
        self.km = km
        self.kc = kc

    def run(self, code, user_expressions=None, timeout=60):
        messages = []
        reply = self.kc.execute_interactive(
            code, user_expressions=user_expressions or {}, output_hook=messages.append, timeout=timeout
        )
        return Result(reply["content"], messages)

    def ok(self, code, **kw):
        r = self.run(code, **kw)
        assert r.status == "ok", (r.ename, r.evalue, r.stderr)
        return r

    def value(self, expr):
        """Evaluate ``expr`` in the kernel (through user_expressions) and return it via JSON."""
        r = self.ok("", user_expressions={"v": f"__import__('json').dumps({expr})"})
        out = r.reply["user_expressions"]["v"]
        assert out["status"] == "ok", out
        return json.loads(ast.literal_eval(out["data"]["text/plain"]))

    def after(self, code):
        return self.ok(code, user_expressions=AFTER_CELL).variables


@pytest.fixture(scope="module")
def start_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("kernel_cwd")


@pytest.fixture(scope="module")
def kernel(start_dir):
    km, kc = start_new_kernel(kernel_name="python3", startup_timeout=60, cwd=str(start_dir))
    k = Kernel(km, kc)
    try:
        k.ok("import spatial_runtime.session as _s; _s.init()")
        yield k
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


@pytest.fixture
def k(kernel):
    """The module's kernel, reset to its just-initialised state (as the pool does between sessions)."""
    kernel.ok(f"{SESSION}.reset()")
    kernel.ok("pass", user_expressions=AFTER_CELL)
    return kernel


def prepare_code(config):
    return f"{SESSION}.prepare({json.dumps(json.dumps(config))})"


# --------------------------------------------------------------------------------------------------
# init
# --------------------------------------------------------------------------------------------------


def test_preimported_names_work(k):
    checks = k.value(
        "{"
        "'np': np.zeros(3).tolist(),"
        "'kdtree': int(scipy.spatial.cKDTree(np.zeros((2, 3))).n),"
        "'ndimage': int(scipy.ndimage.label(np.eye(3))[1]),"
        "'optimize': callable(scipy.optimize.least_squares),"
        "'signal': callable(scipy.signal.find_peaks),"
        "'math': math.isclose(math.pi, 3.14159, rel_tol=1e-5),"
        "'collections': collections.Counter('aab')['a'],"
        "'itertools': list(itertools.islice(itertools.count(), 3)),"
        "'functools': functools.reduce(lambda a, b: a + b, [1, 2, 3]),"
        "'backend': plt.get_backend().lower(),"
        "'show': show.__module__, 'answer': ReturnAnswer.__module__,"
        "'vlm': [callable(vlm.ask), callable(vlm.locate), callable(vlm.to_pixels)],"
        "'tools': 'tools' in globals()"
        "}"
    )
    assert checks == {
        "np": [0.0, 0.0, 0.0],
        "kdtree": 2,
        "ndimage": 3,
        "optimize": True,
        "signal": True,
        "math": True,
        "collections": 2,
        "itertools": [0, 1, 2],
        "functools": 6,
        "backend": "agg",
        "show": "spatial_runtime.display",
        "answer": "spatial_runtime.display",
        "vlm": [True, True, True],
        "tools": importlib.util.find_spec("spatial_runtime.tools") is not None,
    }


def test_tools_is_importable_once_it_exists(k):
    if importlib.util.find_spec("spatial_runtime.tools") is None:
        # Not written yet: init skips it and the kernel has no `tools`.
        assert k.value("'tools' in globals() or 'tools' in __import__('sys').modules") is False
    else:
        assert k.value("__import__('sys').modules['tools'] is __import__('spatial_runtime.tools').tools") is True
        k.ok("import tools as _t\nassert _t is tools\nfrom tools import Geometry")


def test_init_is_idempotent(k):
    before = k.value("[id(np), id(show), id(plt.show)]")
    r = k.ok("import spatial_runtime.session as _s2; _s2.init(); _s2.init()", user_expressions=AFTER_CELL)
    assert r.displays == [] and r.stdout == "" and r.variables == []
    assert k.value("[id(np), id(show), id(plt.show)]") == before


# --------------------------------------------------------------------------------------------------
# show / plt / ReturnAnswer through iopub
# --------------------------------------------------------------------------------------------------


def test_show_publishes_one_display_data(k):
    r = k.ok('show(np.zeros((4, 5, 3), np.uint8), label="x")')
    assert len(r.displays) == 1
    data = r.displays[0]["data"]
    assert set(data) == {"image/png", IMAGE_MIME}
    assert data[IMAGE_MIME] == {"label": "x", "index": 0, "width": 5, "height": 4, "source": "show"}
    assert Image.open(io.BytesIO(base64.b64decode(data["image/png"]))).size == (5, 4)
    assert r.results == [] and r.stdout == ""
    r = k.ok("show(np.zeros((2, 2), np.uint8), np.ones((3, 3), bool))")
    assert [d["data"][IMAGE_MIME]["index"] for d in r.displays] == [1, 2]


def test_plt_show_publishes_exactly_one_image(k):
    r = k.ok("plt.plot([1, 2]); plt.show()")
    assert len(r.displays) == 1, [list(d["data"]) for d in r.displays]
    meta = r.displays[0]["data"][IMAGE_MIME]
    assert meta["source"] == "plt" and meta["index"] == 0 and meta["label"] is None
    assert set(r.displays[0]["data"]) == {"image/png", IMAGE_MIME}
    assert k.value("plt.get_fignums()") == []
    # A figure left open is not sent by ipykernel's inline backend at the end of the cell.
    r = k.ok("fig = plt.figure(); plt.plot([3, 4])")
    assert r.displays == []
    r = k.ok("fig.gca().set_title('t'); x = 1")
    assert r.displays == []
    r = k.ok("plt.show()")
    assert len(r.displays) == 1 and r.displays[0]["data"][IMAGE_MIME]["index"] == 1


def test_return_answer(k):
    r = k.ok("ReturnAnswer('B')")
    assert [d["data"] for d in r.displays] == [
        {ANSWER_MIME: {"answer": "B", "type": "str"}, "text/plain": "Answer submitted: 'B'"}
    ]
    r = k.ok("ReturnAnswer(np.float32(2.5)); ReturnAnswer(np.int64(3))")
    assert [d["data"][ANSWER_MIME] for d in r.displays] == [
        {"answer": 2.5, "type": "float"},
        {"answer": 3, "type": "int"},
    ]
    r = k.run("ReturnAnswer([1, 2])")
    assert r.status == "error" and r.ename == "AnswerError"
    assert "got list" in r.evalue and "ReturnAnswer('B')" in r.evalue
    assert r.displays == []


# --------------------------------------------------------------------------------------------------
# after_cell
# --------------------------------------------------------------------------------------------------


def test_after_cell_reports_new_and_changed_variables_only(k):
    v = k.after("a = 1\nb = np.zeros((480, 640), np.float32)")
    assert v == [
        {
            "name": "a",
            "type": "int",
            "shape": None,
            "dtype": None,
            "len": None,
            "frames": None,
            "size_mb": None,
            "line": "a: int = 1",
        },
        {
            "name": "b",
            "type": "ndarray",
            "shape": [480, 640],
            "dtype": "float32",
            "len": None,
            "frames": None,
            "size_mb": 1.17,
            "line": "b: ndarray float32 (480, 640) 1.2 MB",
        },
    ]
    assert [x["line"] for x in k.after("a = a + 1")] == ["a: int = 2"]
    assert [x["name"] for x in k.after("b[0, 0] = 5")] == ["b"]
    assert [x["name"] for x in k.after("c = 'x'\n_hidden = 3\nimport os\nfrom math import sqrt")] == ["c"]
    assert k.after("pass") == []
    assert k.after("lst = []")[0]["len"] == 0
    assert k.after("lst.append(1)")[0]["len"] == 1
    assert [x["line"] for x in k.after("def area(w, h):\n    return w * h")] == ["area: function area(w, h)"]
    assert k.after("np = np\nshow = show") == []


def test_changes_made_by_a_failing_cell_are_reported_by_the_next_one(k):
    r = k.run("d = 1\n1 / 0", user_expressions=AFTER_CELL)
    assert r.status == "error"  # ipykernel evaluates user_expressions only after a successful cell
    assert [x["name"] for x in k.after("pass")] == ["d"]


# --------------------------------------------------------------------------------------------------
# reset
# --------------------------------------------------------------------------------------------------


def test_reset_reports_the_resident_memory_it_leaves(k):
    def reset():  # as the host runs it (a cell printing the verdict; user_expressions run outside IPython's builtins)
        return json.loads(k.ok(f"print(__import__('json').dumps({SESSION}.reset()))").stdout)

    idle = reset()  # (earlier tests in this module's kernel may have tainted it: only the memory is checked)
    assert isinstance(idle["rss_mib"], float) and idle["rss_mib"] > 50
    # 256 MiB bound to a name: the reset deletes it and hands the memory back.
    k.ok("big = np.ones(32 * 2**20)")
    freed = reset()
    assert freed["rss_mib"] - idle["rss_mib"] < 64
    # 256 MiB reachable from `sys` (kernel machinery the taint guard does not watch): kept, and it shows.
    k.ok("import sys\nsys.kept_past_reset = np.ones(32 * 2**20)")
    try:
        kept = reset()
        assert not any("kept_past_reset" in r for r in kept["reasons"]), kept
        assert kept["rss_mib"] - idle["rss_mib"] > 200
    finally:
        k.ok("import sys\ndel sys.kept_past_reset")


def test_reset_clears_the_namespace_but_keeps_the_kernel(k, start_dir, tmp_path):
    pid = k.value("__import__('os').getpid()")
    config = {"scratch_dir": str(tmp_path / "s"), "inputs": [], "max_long_edge": None, "bridge": None}
    k.ok(prepare_code(config))
    k.ok("x = 5\nimport os\nfig = plt.figure()\nshow(np.zeros((2, 2), np.uint8))\nIn = 'oops'\nx")
    k.ok(f"{SESSION}.reset()")
    state = k.value(
        "{'x': 'x' in globals(), 'os': 'os' in globals(), 'fig': 'fig' in globals(),"
        "'ipython': [n for n in ('In', 'Out', '_ih', '_oh', 'get_ipython', 'exit', 'quit', '__builtins__', '__name__')"
        "            if n not in globals()],"
        "'In': isinstance(In, list), 'figs': plt.get_fignums(), 'np': float(np.ones(2).sum()),"
        "'cwd': __import__('os').getcwd(), 'pid': __import__('os').getpid(), 'vlm': vlm.available,"
        "'old_code': any('x = 5' in line for line in In)}"
    )
    assert state == {
        "x": False,
        "os": False,
        "fig": False,
        "ipython": [],
        "In": True,
        "figs": [],
        "np": 2.0,
        "cwd": str(start_dir),
        "pid": pid,
        "vlm": False,
        "old_code": False,
    }
    r = k.ok("show(np.zeros((2, 2), np.uint8))", user_expressions=AFTER_CELL)
    assert r.displays[0]["data"][IMAGE_MIME]["index"] == 0
    assert r.variables == []


# --------------------------------------------------------------------------------------------------
# prepare
# --------------------------------------------------------------------------------------------------


def test_prepare_without_inputs(k, tmp_path):
    scratch = tmp_path / "scratch" / "deep"
    k.ok("show(np.zeros((2, 2), np.uint8))")
    config = {
        "scratch_dir": str(scratch),
        "inputs": [],
        "max_long_edge": 512,
        "bridge": {"url": "http://127.0.0.1:9", "token": "t"},
    }
    r = k.ok(prepare_code(config), user_expressions=AFTER_CELL)
    assert r.variables == []
    assert scratch.is_dir()
    assert k.value("[__import__('os').getcwd(), vlm.available]") == [str(scratch), True]
    r = k.ok("show(np.zeros((2, 2), np.uint8))")
    assert r.displays[0]["data"][IMAGE_MIME]["index"] == 0
    config["bridge"] = None
    k.ok(prepare_code(config))
    assert k.value("vlm.available") is False


def test_prepare_binds_one_input_as_given_names(k, tmp_path):
    config = {
        "scratch_dir": str(tmp_path),
        "inputs": [{"kind": "rgbd_sample", "path": str(FIXTURES / "rgbd_room")}],
        "max_long_edge": None,
        "bridge": None,
    }
    k.ok("before = 1", user_expressions=AFTER_CELL)
    r = k.ok(prepare_code(config), user_expressions=AFTER_CELL)
    assert r.variables == []  # the inputs are given, not new variables
    text = r.results[0]["data"]["text/plain"]
    assert text.splitlines()[0].startswith("InputImages = InputImages(5 frames")
    assert text.splitlines()[1].startswith("Metadata = Metadata(rgbd_sample")
    assert len(text.splitlines()) == 2
    assert k.value("[type(InputImages).__name__, len(InputImages), type(Metadata).__name__]") == [
        "InputImages",
        5,
        "Metadata",
    ]
    assert k.after("pass") == []
    v = k.after("f = InputImages[2]")
    assert [(x["name"], x["type"], x["frames"]) for x in v] == [("f", "Frame", [2, 2])]
    r = k.ok("show(InputImages[0])")
    assert r.displays[0]["data"][IMAGE_MIME] == {
        "label": "frame 0",
        "index": 0,
        "width": 640,
        "height": 480,
        "source": "show",
    }


def test_prepare_binds_several_inputs_with_numbers(k, tmp_path):
    video = {"kind": "video", "path": str(FIXTURES / "video_bedroom" / "bedroom.mp4"), "num_frames": 4}
    sample = {"kind": "rgbd_sample", "path": str(FIXTURES / "rgbd_room")}
    config = {"scratch_dir": str(tmp_path), "inputs": [video, sample], "max_long_edge": 320, "bridge": None}
    r = k.ok(prepare_code(config), user_expressions=AFTER_CELL)
    assert r.variables == []
    got = k.value(
        "[sorted(n for n in globals() if n.startswith(('InputImages', 'Metadata'))),"
        " len(InputImages_1), len(InputImages_2), InputImages_1.frame_indices[-1], max(InputImages_1[0].size)]"
    )
    assert got == [["InputImages_1", "InputImages_2", "Metadata_1", "Metadata_2"], 4, 5, 199, 320]
    v = k.after("clip = InputImages_1[1:]")
    assert [(x["name"], x["len"], x["frames"]) for x in v] == [("clip", 3, [66, 199])]
    # A later prepare replaces the previous inputs.
    config["inputs"] = [video]
    k.ok(prepare_code(config))
    assert k.value("sorted(n for n in globals() if n.startswith(('InputImages', 'Metadata')))") == [
        "InputImages",
        "Metadata",
    ]


def test_prepare_errors(k, tmp_path):
    missing = str(tmp_path / "nope.mp4")
    config = {"scratch_dir": str(tmp_path), "inputs": [{"kind": "video", "path": missing}], "bridge": None}
    r = k.run(prepare_code(config))
    assert r.status == "error" and r.ename == "InputError" and missing in r.evalue
    r = k.run(f"{SESSION}.prepare('not json')")
    assert r.status == "error" and r.ename == "ValueError" and "JSON" in r.evalue
    r = k.run(f"{SESSION}.prepare('{{\"inputs\": []}}')")
    assert r.status == "error" and "scratch_dir" in r.evalue


# --------------------------------------------------------------------------------------------------
# VLM bridge
# --------------------------------------------------------------------------------------------------


def _answer(path, body):
    if body.get("question") == "slow":
        time.sleep(2)
    if body.get("question") == "fail" or body.get("target") == "fail":
        return 500, {"error": "model quota exceeded"}
    if body.get("question") == "plain":
        return 502, None
    if path == "/vlm/ask":
        return 200, {"text": "a chair"}
    if path == "/vlm/locate":
        return 200, {"points": [[500, 250], [1000, 0]], "text": "found"}
    return 404, {"error": f"no route {path}"}


@pytest.fixture
def bridge():
    with fake_bridge(_answer) as server:
        try:
            yield server, server.url
        finally:
            vlm_module.clear()


def _decode(b64):
    return Image.open(io.BytesIO(base64.b64decode(b64)))


def test_vlm_through_the_kernel(k, bridge, tmp_path):
    server, url = bridge
    config = {
        "scratch_dir": str(tmp_path),
        "inputs": [],
        "max_long_edge": None,
        "bridge": {"url": url, "token": "secret-token"},
    }
    k.ok(prepare_code(config))
    k.ok("img = np.zeros((4, 6, 3), np.uint8)\nanswer = vlm.ask(img, 'what is this?')")
    assert k.value("answer") == "a chair"
    path, headers, body = server.requests[-1]
    assert path == "/vlm/ask"
    assert headers["Authorization"] == "Bearer secret-token"
    assert headers["Content-Type"] == "application/json"
    assert body["question"] == "what is this?" and len(body["images"]) == 1
    assert _decode(body["images"][0]).size == (6, 4)

    k.ok("pts = vlm.locate([img, img], 'the chair')")
    assert k.value("[pts, pts.text, vlm.to_pixels(pts, img)]") == [
        [[500.0, 250.0], [1000.0, 0.0]],
        "found",
        [[2.5, 0.5], [5.5, -0.5]],
    ]
    path, _, body = server.requests[-1]
    assert path == "/vlm/locate" and body["target"] == "the chair" and len(body["images"]) == 2

    r = k.run("vlm.ask(img, 'fail')")
    assert r.status == "error" and r.ename == "VLMError" and r.evalue == "model quota exceeded"
    # The token lives in memory only.
    assert k.value("any('secret-token' in v for v in __import__('os').environ.values())") is False

    k.ok(f"{SESSION}.reset()")
    r = k.run("vlm.ask(np.zeros((2, 2), np.uint8), 'what?')")
    assert r.status == "error" and r.ename == "VLMError"
    assert r.evalue == "vlm is not available in this session: the host did not configure a model bridge"


def test_vlm_client_in_process(bridge):
    server, url = bridge
    frame = Image.new("RGB", (20, 10))
    with pytest.raises(vlm_module.VLMError, match="not available in this session"):
        vlm_module.vlm.ask(frame, "q")
    vlm_module.configure(url + "/", "tok")
    assert vlm_module.vlm.available
    assert vlm_module.vlm.ask(None, "text only") == "a chair"
    assert server.requests[-1][2]["images"] == []
    pts = vlm_module.vlm.locate(frame, "x")
    assert pts == [(500.0, 250.0), (1000.0, 0.0)] and all(isinstance(p, tuple) for p in pts)
    # Pixel-centre convention (docs/conventions.md): 0-1000 spans edge to edge, minus half a pixel.
    assert vlm_module.to_pixels(pts, frame) == [(9.5, 2.0), (19.5, -0.5)]

    with pytest.raises(vlm_module.VLMError, match="^model quota exceeded$") as err:
        vlm_module.locate(frame, "fail")
    assert err.value.status == 500 and isinstance(err.value, RuntimeError)
    with pytest.raises(vlm_module.VLMError, match="bad gateway") as err:
        vlm_module.ask(frame, "plain")
    assert err.value.status == 502
    with pytest.raises(vlm_module.VLMError, match=r"did not answer /vlm/ask within 0.3 s"):
        vlm_module.ask(frame, "slow", timeout=0.3)
    with pytest.raises(ValueError, match="question"):
        vlm_module.ask(frame, "  ")
    with pytest.raises(ValueError, match="at least one image"):
        vlm_module.locate([], "x")
    with pytest.raises(TypeError, match="cannot show"):
        vlm_module.ask("frame.png", "q")
    assert "tok" not in repr(vlm_module.vlm)

    vlm_module.configure("http://127.0.0.1:9", "tok")  # discard port: nothing listens
    with pytest.raises(vlm_module.VLMError, match="cannot reach the model bridge"):
        vlm_module.ask(frame, "q", timeout=5)
    vlm_module.clear()
    assert not vlm_module.is_configured()


@pytest.mark.parametrize(
    ("image_or_size", "expected"),
    [
        ((200, 100), [(19.5, 49.5), (199.5, 99.5)]),
        (np.zeros((100, 200, 3), np.uint8), [(19.5, 49.5), (199.5, 99.5)]),
        (np.zeros((100, 200)), [(19.5, 49.5), (199.5, 99.5)]),
        (Image.new("L", (200, 100)), [(19.5, 49.5), (199.5, 99.5)]),
    ],
)
def test_to_pixels(image_or_size, expected):
    assert vlm_module.to_pixels([(100, 500), (1000, 1000)], image_or_size) == expected


def test_to_pixels_edge_cases():
    assert vlm_module.to_pixels((500, 500), (10, 20)) == [(4.5, 9.5)]
    assert vlm_module.to_pixels([], (10, 20)) == []
    with pytest.raises(ValueError, match=r"shape \(1, 3\)"):
        vlm_module.to_pixels([(1, 2, 3)], (10, 20))
    with pytest.raises(TypeError, match="width, height"):
        vlm_module.to_pixels([(1, 2)], "image.png")
