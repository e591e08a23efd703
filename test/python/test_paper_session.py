"""The paper profile in the kernel session (docs/paper-parity.md rows 2, 9, 10, 18.7): key frames, variable
summaries without values, rolling back or keeping a failed cell's new variables, and clearing the namespace after a
timeout; the profile reaches the kernel in PrepareConfig.profile. A plain dict stands in for IPython's namespace.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import session_helpers
from spatial_runtime import context, display, keyframes, session, summary, summary_facts, vlm, vlm_paper

dict_session = session_helpers.dict_session

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
VIDEO = FIXTURES / "video_bedroom" / "bedroom.mp4"  # 960x540, 30 fps, 200 frames
ROOM = FIXTURES / "rgbd_room"  # 5 frames
PAPER = dataclasses.asdict(context.KernelProfile.named("paper"))


@pytest.fixture
def ns(dict_session):
    return dict_session


@pytest.fixture
def published(monkeypatch):
    bundles: list[dict] = []
    monkeypatch.setattr(display, "_publish", bundles.append)
    return bundles


def _prepare(tmp_path, inputs, **extra):
    config = {"scratch_dir": str(tmp_path / "scratch"), "inputs": inputs, "bridge": None, "perception": None, **extra}
    return session.prepare(json.dumps(config))


def _paper(tmp_path, inputs):
    return _prepare(tmp_path, inputs, max_long_edge=768, resize="paper_grid", profile=PAPER)


def _video(**spec):
    return {"kind": "video", "path": str(VIDEO), "all_frames": True, **spec}


def _meta(bundles):
    return [b[display.IMAGE_MIME] for b in bundles]


# --------------------------------------------------------------------------------------------------
# Key frames (row 2)
# --------------------------------------------------------------------------------------------------


def test_paper_key_frame_positions_round_half_to_even():
    assert keyframes.paper_positions(10, 5) == [0, 2, 4, 7, 9]  # 4.5 -> 4 (a Math.round port gives 5)
    picks = keyframes.paper_positions(200, 32)
    assert picks[:5] == [0, 6, 13, 19, 26] and picks[-5:] == [173, 180, 186, 193, 199]
    assert keyframes.paper_positions(3, 32) == [0, 1, 2]
    assert keyframes.paper_positions(7, 1) == [0]
    assert keyframes.paper_positions(0, 32) == []


def test_paper_key_frames_of_a_video(ns, tmp_path, published):
    _paper(tmp_path, [_video()])
    assert session.key_frames(32, 1024, selection="paper") == 32
    meta = _meta(published)
    assert all((m["width"], m["height"]) == (768, 432) for m in meta)
    assert [m["frame"]["frame_index"] for m in meta][:5] == [0, 6, 13, 19, 26]
    assert meta[1]["label"] == "InputImages[6] frame 6"
    assert meta[-1]["frame"] == {"input": "InputImages", "position": 199, "frame_index": 199}
    assert [m["index"] for m in meta] == list(range(32))


def test_paper_key_frames_over_the_whole_list_or_per_input(ns, tmp_path, published):
    _paper(tmp_path, [_video(max_fps=1), {"kind": "rgbd_sample", "path": str(ROOM)}])  # 7 frames + 5 frames
    assert session.key_frames(4, 1024, selection="paper") == 4  # over the 12 frames together
    whole = [(m["frame"]["input"], m["frame"]["position"]) for m in _meta(published)]
    assert whole == [("InputImages_1", 0), ("InputImages_1", 4), ("InputImages_2", 0), ("InputImages_2", 4)]
    assert _meta(published)[1]["frame"]["frame_index"] == 120  # absolute video frame of position 4 at 1 fps
    published.clear()
    assert session.key_frames(4, 1024, selection="paper", per_input=True) == 8
    per = [(m["frame"]["input"], m["frame"]["position"]) for m in _meta(published)]
    assert per == [("InputImages_1", p) for p in (0, 2, 4, 6)] + [("InputImages_2", p) for p in (0, 1, 3, 4)]


def test_default_key_frames_are_unchanged(ns, tmp_path, published):
    _prepare(tmp_path, [{"kind": "rgbd_sample", "path": str(ROOM)}])
    assert session.key_frames(3, 64) == 3
    assert [m["label"] for m in _meta(published)] == ["frame 0", "frame 2", "frame 4"]
    assert all("frame" not in m for m in _meta(published))
    with pytest.raises(ValueError, match="selection"):
        session.key_frames(3, 64, selection="random")


# --------------------------------------------------------------------------------------------------
# Variable summaries without values (row 9)
# --------------------------------------------------------------------------------------------------


def test_paper_summaries_have_no_values_and_ignore_value_changes(ns, tmp_path):
    _paper(tmp_path, [])
    assert context.current().profile.variable_values is False
    ns["a"] = 3
    assert [v["line"] for v in session.after_cell().variables] == ["a: int"]
    ns["a"] = 4
    ns["d"] = {f"k{i}": i for i in range(7)}
    ns["m"] = np.zeros((1000, 500))
    out = session.after_cell()
    lines = {v["name"]: v["line"] for v in out.variables}
    assert lines == {
        "d": "d: dict, len=7, keys=['k0', 'k1', 'k2', 'k3', 'k4']...",
        "m": "m: ndarray, shape=(1000, 500), dtype=float64, size=4.0MB",
    }
    assert not any("= 4" in line for line in lines.values())
    m = next(v for v in out.variables if v["name"] == "m")
    assert (m["shape"], m["dtype"], m["size_mb"]) == ([1000, 500], "float64", 4.0)  # decimal MB
    assert out._repr_json_()["large"] == []
    ns["m"][0, 0] = 1.0  # an in-place edit: same facts
    ns["m2"] = ns["m"][:10]  # 40 kB: no size shown
    assert [v["line"] for v in session.after_cell().variables] == ["m2: ndarray, shape=(10, 500), dtype=float64"]


def test_paper_name_rules_and_large_variables():
    t = summary.VariableTracker(values=False)
    ns = {"json": json, "f": lambda: 1, "Box": dataclasses.make_dataclass("Box", ["x"]), "_hidden": 1}
    ns["frames"] = type("Frames", (), {"frame_indices": list(range(10, 20))})()
    ns["few"] = type("Few", (), {"frame_indices": [3, 4]})()
    ns["big"] = np.broadcast_to(np.zeros(1), (70_000_000,))  # 560 MB by nbytes, no memory
    lines = {v["name"]: v["line"] for v in t.changes(ns)}
    assert lines == {
        "json": "json: module",
        "Box": "Box: type",
        "frames": "frames: Frames, frames=[10..19] (10 frames)",
        "few": "few: Few, frames=[3, 4]",
        "big": "big: ndarray, shape=(70000000,), dtype=float64, size=560.0MB",
    }
    assert t.large == [{"name": "big", "size_mb": 560.0}]
    assert summary_facts.large({"x": {"size_mb": 500.0}}) == []  # over 500, not at 500


def test_the_default_profile_keeps_values(ns, tmp_path):
    _prepare(tmp_path, [])
    ns["a"] = 3
    out = session.after_cell()
    assert [v["line"] for v in out.variables] == ["a: int = 3"] and "large" not in out._repr_json_()
    ns["a"] = 4
    assert [v["line"] for v in session.after_cell().variables] == ["a: int = 4"]


# --------------------------------------------------------------------------------------------------
# After a failed cell (row 10) and after a timeout (18.7)
# --------------------------------------------------------------------------------------------------


def test_rollback_deletes_only_the_names_the_failed_cell_created(ns, tmp_path):
    _paper(tmp_path, [{"kind": "rgbd_sample", "path": str(ROOM)}])
    ns["kept"] = 1
    session.after_cell()
    # A failed cell: after_cell is not evaluated, so the snapshot is the one before it.
    ns["kept"] = [1, 2]
    ns["new_a"], ns["new_b"] = 2, np.ones(3)
    ns["helper"] = lambda x: x  # callables are not variables in the paper's rules: not rolled back
    assert session.rollback_new_variables() == ["new_a", "new_b"]
    assert "new_a" not in ns and "new_b" not in ns and "helper" in ns and "InputImages" in ns
    assert [v["name"] for v in session.after_cell().variables] == ["kept"]  # the change is reported later
    assert session.rollback_new_variables() == []


def test_new_variables_reports_the_survivors_and_takes_them_in(ns, tmp_path):
    _paper(tmp_path, [])
    ns["old"] = 1
    session.after_cell()
    ns["old"] = "changed type"
    ns["a"] = 1
    out = session.new_variables()
    assert [v["line"] for v in out.variables] == ["a: int"]
    assert out._repr_json_()["large"] == []
    assert session.after_cell().variables == []  # both are in the snapshot now


def test_a_rollback_after_new_variables_still_deletes_them(ns, tmp_path):
    _paper(tmp_path, [])
    ns["old"] = 1
    session.after_cell()
    ns["old"], ns["a"], ns["b"] = "changed type", 1, 2  # a failed cell
    assert [v["name"] for v in session.new_variables().variables] == ["a", "b"]  # what the cell created...
    assert session.rollback_new_variables() == ["a", "b"]  # ...is what a full rollback deletes
    assert [v["name"] for v in session.after_cell().variables] == ["old"]  # the change is still reported


def test_reset_namespace_keeps_the_session(ns, tmp_path, published):
    _paper(tmp_path, [{"kind": "rgbd_sample", "path": str(ROOM)}])
    images = ns["InputImages"]
    ns["x"] = 1
    display.show(np.zeros((4, 4), np.uint8))
    session.reset_namespace()
    assert "x" not in ns and ns["InputImages"] is images and isinstance(ns["vlm"], vlm_paper.PaperVLM)
    assert context.current().profile.name == "paper" and session.after_cell().variables == []
    display.show(np.zeros((4, 4), np.uint8))
    assert [m["index"] for m in _meta(published)] == [0, 1]  # the image index goes on


def test_the_profile_binds_its_vlm_until_reset(ns, tmp_path):
    _paper(tmp_path, [])
    assert isinstance(ns["vlm"], vlm_paper.PaperVLM)
    with pytest.raises(AttributeError, match="use vlm.locate"):
        ns["vlm"].ask(None, "q")
    session.reset()
    assert ns["vlm"] is vlm.vlm and context.current().profile == context.KernelProfile()
    _prepare(tmp_path, [])
    assert ns["vlm"] is vlm.vlm


def test_a_bad_profile_is_refused(ns, tmp_path):
    with pytest.raises(ValueError, match="'profile' must be a KernelProfile"):
        _prepare(tmp_path, [], profile={"name": "paper"})
    with pytest.raises(ValueError, match="'resize' must be"):
        _prepare(tmp_path, [], resize="square")


def test_rollback_undoes_only_the_look_about_the_same_cell():
    """Survivors a new_only look kept for cell 1 stay when cell 2 fails and is rolled back (the kernel's execution
    count tells the cells apart); a look about cell 2 itself is undone by cell 2's rollback."""
    t = summary.VariableTracker(values=False)
    ns: dict = {"a": 1}
    t.baseline(ns)
    ns["e"] = 2  # cell 1 fails after creating e; its survivors are read
    assert [v["name"] for v in t.changes(ns, new_only=True, cell=1)] == ["e"]
    ns["g"] = 3  # cell 2 fails after creating g, and is rolled back
    assert t.roll_back(ns, cell=2) == ["g"] and set(ns) == {"a", "e"}
    ns["h"] = 4  # cell 3: read, then rolled back: both about cell 3
    t.changes(ns, new_only=True, cell=3)
    assert t.roll_back(ns, cell=3) == ["h"] and set(ns) == {"a", "e"}
