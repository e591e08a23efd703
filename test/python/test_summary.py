"""VariableTracker: what counts as new/changed, what is left out, and the VariableSummary dicts."""

import collections
import json
import math

import numpy as np
import pytest
from PIL import Image
from spatial_runtime.summary import MAX_LINE, VariableTracker, summarize

KEYS = {"name", "type", "shape", "dtype", "len", "frames", "size_mb", "line"}


def names(summaries):
    return [s["name"] for s in summaries]


class Frames:
    """A frame collection as the inputs bind it: len + absolute frame indices + declared frame size."""

    size = (640, 480)

    def __init__(self, indices):
        self.frame_indices = list(indices)

    def __len__(self):
        return len(self.frame_indices)

    def __iter__(self):
        raise AssertionError("the tracker must not iterate (decode) a frame collection")


@pytest.fixture
def tracker():
    return VariableTracker(ignore={"np", "show"})


def test_reports_new_then_nothing(tracker):
    ns = {"a": 1, "b": np.zeros(3)}
    assert names(tracker.changes(ns)) == ["a", "b"]
    assert tracker.changes(ns) == []


@pytest.mark.parametrize(("before", "after"), [(1, 2), (1.5, 2.5), ("ab", "abc"), (10**30, 10**30 + 1)])
def test_rebinding_scalars_to_new_values(tracker, before, after):
    ns = {"x": before}
    tracker.changes(ns)
    ns["x"] = ns["x"] + after - before if not isinstance(before, str) else after
    assert names(tracker.changes(ns)) == ["x"]


def test_equal_immutable_values_are_unchanged(tracker):
    ns = {"s": "chair", "f": 2.0, "n": math.nan}
    tracker.changes(ns)
    ns.update(s="cha" + "ir", f=4.0 / 2.0, n=float("nan"))
    assert tracker.changes(ns) == []


def test_container_mutations(tracker):
    ns = {"lst": [1, 2], "d": {"a": 1}, "st": {1}, "t": (1, 2)}
    tracker.changes(ns)
    ns["lst"].append(3)
    assert names(tracker.changes(ns)) == ["lst"]
    ns["lst"][0] = 100
    assert names(tracker.changes(ns)) == ["lst"]
    ns["d"]["b"] = 2
    assert names(tracker.changes(ns)) == ["d"]
    ns["d"]["a"] = 5
    assert names(tracker.changes(ns)) == ["d"]
    ns["st"].add(2)
    assert names(tracker.changes(ns)) == ["st"]
    assert tracker.changes(ns) == []


def test_long_list_edits_at_both_ends(tracker):
    ns = {"lst": list(range(10_000))}
    tracker.changes(ns)
    ns["lst"][-1] = -1
    assert names(tracker.changes(ns)) == ["lst"]
    ns["lst"][0] = -1
    assert names(tracker.changes(ns)) == ["lst"]


def test_array_in_place_edits(tracker):
    small = np.zeros((4, 4), np.float32)
    big = np.zeros((2000, 2000), np.float32)  # 16 MB: fingerprinted from a 64 KiB sample
    ns = {"small": small, "big": big, "view": big[:, ::2]}
    tracker.changes(ns)
    small[3, 3] = 1
    assert names(tracker.changes(ns)) == ["small"]
    big += 1
    assert sorted(names(tracker.changes(ns))) == ["big", "view"]
    big[0, 0] = 7  # the first element is always sampled
    assert "big" in names(tracker.changes(ns))
    ns["small"] = small.copy()  # same data, new object
    assert names(tracker.changes(ns)) == ["small"]
    ns["small"] = ns["small"].reshape(16)
    assert names(tracker.changes(ns)) == ["small"]
    assert tracker.changes(ns) == []


def test_left_out_names(tracker):
    ns = {
        "_private": 1,
        "np": np,  # ignored name
        "show": print,  # ignored name
        "collections": collections,  # module
        "sqrt": math.sqrt,  # imported builtin
        "Counter": collections.Counter,  # imported class
        "ufunc": np.sqrt,  # imported ufunc
        "In": [],
        "Out": {},
        "exit": None,
        "quit": None,
        "get_ipython": lambda: None,
        "kept": 1,
    }
    assert names(tracker.changes(ns)) == ["kept"]
    tracker.ignore.add("kept")
    ns["kept"] = 2
    assert tracker.changes(ns) == []


def test_functions_and_classes_defined_in_the_session_are_reported(tracker):
    ns = {"__name__": "__main__"}
    exec("def area(w, h=1):\n    return w * h\n\nclass Box:\n    pass\n", ns)
    out = {s["name"]: s for s in tracker.changes(ns)}
    assert set(out) == {"area", "Box"}
    assert out["area"]["line"] == "area: function area(w, h=1)"
    assert out["Box"]["line"] == "Box: class Box"


def test_baseline_and_forget(tracker):
    ns = {"given": np.ones(3), "other": 1}
    tracker.baseline(ns)
    assert tracker.changes(ns) == []
    ns["new"] = 2
    assert names(tracker.changes(ns)) == ["new"]
    del ns["new"]
    assert tracker.changes(ns) == []
    ns["new"] = 2
    assert names(tracker.changes(ns)) == ["new"]
    tracker.forget()
    assert names(tracker.changes(ns)) == ["given", "other", "new"]


def test_array_summary_matches_the_contract():
    s = summarize("depth", np.zeros((480, 640), np.float32))
    assert s == {
        "name": "depth",
        "type": "ndarray",
        "shape": [480, 640],
        "dtype": "float32",
        "len": None,
        "frames": None,
        "size_mb": 1.17,
        "line": "depth: ndarray float32 (480, 640) 1.2 MB",
    }


def test_small_arrays_show_their_values():
    s = summarize("v", np.array([0.5, 1.25, 2.0]))
    assert s["line"] == "v: ndarray float64 (3,) [0.5 , 1.25, 2.  ] 24 B"
    assert s["size_mb"] == 0.0


@pytest.mark.parametrize(
    ("name", "value", "line"),
    [
        ("d", 2.3456, "d: float = 2.3456"),
        ("d", 0.1 + 0.2, "d: float = 0.3"),
        ("z", 0.0, "z: float = 0.0"),
        ("n", 42, "n: int = 42"),
        ("ok", True, "ok: bool = True"),
        ("m", np.float32(1.5), "m: float32 = 1.5"),
        ("k", np.int64(3), "k: int64 = 3"),
        ("nothing", None, "nothing: NoneType = None"),
        ("name", "chair near the window", "name: str len=21 'chair near the window'"),
        ("pts", [(1, 2), (3, 4), (5, 6)], "pts: list len=3 [(1, 2), (3, 4), (5, 6)]"),
        ("arrs", [np.zeros(2), np.zeros(3)], "arrs: list len=2 of ndarray 40 B"),
        ("cfg", {"a": 1, "b": 2}, "cfg: dict len=2 keys ['a', 'b']"),
    ],
)
def test_summary_lines(name, value, line):
    s = summarize(name, value)
    assert s["line"] == line
    assert set(s) == KEYS


def test_long_strings_are_cut_inside_the_quotes():
    s = summarize("caption", "chair near the window " * 20)
    assert s["len"] == 440
    assert s["line"] == "caption: str len=440 'chair near the window chair near the win…'"


def test_sizes():
    assert summarize("a", [np.zeros((1024, 1024), np.uint8)] * 2)["size_mb"] == 2.0
    img = Image.new("RGB", (1024, 512))
    s = summarize("img", img)
    assert s["size_mb"] == 1.5 and s["shape"] == [512, 1024, 3]
    assert s["line"] == "img: Image RGB 1024x512 1.5 MB"
    many = [np.zeros(1024, np.uint8)] * 1000  # summed over a bounded prefix, scaled to the length
    assert summarize("many", many)["size_mb"] == round(1000 * 1024 / 2**20, 2)
    assert summarize("x", 3)["size_mb"] is None


def test_frame_collections_and_single_frames(tracker):
    frames = Frames(range(0, 200, 13))
    s = summarize("frames", frames)
    assert s["frames"] == [0, 195] and s["len"] == 16
    assert s["line"] == "frames: Frames len=16 frames 0..195 14.1 MB"
    assert s["size_mb"] == round(16 * 640 * 480 * 3 / 2**20, 2)

    frame = Image.new("RGB", (8, 6))
    frame.frame_index = 12
    s = summarize("f", frame)
    assert s["frames"] == [12, 12]
    assert s["line"] == "f: Image RGB 8x6 frame 12 144 B"

    ns = {"frames": frames}
    tracker.changes(ns)
    frames.frame_indices.append(300)
    assert names(tracker.changes(ns)) == ["frames"]


class Nasty:
    def __repr__(self):
        raise RuntimeError("no repr")

    def __len__(self):
        raise RuntimeError("no len")

    def __eq__(self, other):
        raise RuntimeError("no eq")

    __hash__ = None


class Weird:
    def __getattr__(self, name):
        raise RuntimeError(name)


def test_never_raises(tracker):
    ns = {"nasty": Nasty(), "weird": Weird(), "nested": [Nasty()]}
    out = {s["name"]: s for s in tracker.changes(ns)}
    assert out["nasty"]["line"] == "nasty: Nasty <unrepresentable>"
    assert set(out) == {"nasty", "weird", "nested"}
    assert tracker.changes(ns) == []
    json.dumps(list(out.values()))


def test_lines_are_bounded():
    long_name = "x" * 300
    values = [
        np.zeros((3,) * 8),
        "y" * 10_000,
        {f"key{i}": i for i in range(1000)},
        list(range(10_000)),
        type("T", (), {"__repr__": lambda self: "z" * 5000})(),
    ]
    for v in values:
        for name in ("v", long_name):
            s = summarize(name, v)
            assert len(s["line"]) <= MAX_LINE
            assert "\n" not in s["line"]
            json.dumps(s)


def test_summaries_are_json_ready(tracker):
    ns = {
        "a": np.zeros((2, 3), np.int16),
        "b": np.float64(1.0),
        "c": [1, "two", 3.0],
        "frames": Frames([5, 9]),
        "img": Image.new("L", (4, 4)),
    }
    out = tracker.changes(ns)
    assert all(set(s) == KEYS for s in out)
    assert json.loads(json.dumps(out)) == out
