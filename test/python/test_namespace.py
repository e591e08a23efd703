"""The kernel namespace contract (spatial_runtime.namespace): session.init + prepare bind exactly its names, each
from its source; the tool reference shows them; the session's context records what prepare bound."""

from __future__ import annotations

import importlib
import json
import sys
import types
from pathlib import Path

import pytest
import session_helpers
from spatial_runtime import apidoc, context, display, namespace, session
from spatial_runtime.inputs import InputImages, Metadata
from spatial_runtime.safety import POLICY

dict_session = session_helpers.dict_session  # the fixture, shared with the other session tests

ROOM = Path(__file__).resolve().parents[1] / "fixtures" / "rgbd_room"
IMAGE = Path(__file__).resolve().parents[1] / "fixtures" / "tum_rgbd_frame" / "TUM_color.png"


@pytest.fixture
def ns(dict_session):
    return dict_session


def _user_names(ns: dict) -> set[str]:
    return {name for name in ns if not name.startswith("__")}


def _prepare(tmp_path, inputs):
    config = {"scratch_dir": str(tmp_path / "scratch"), "inputs": inputs, "bridge": None, "perception": None}
    return session.prepare(json.dumps(config))


def test_init_binds_exactly_the_preloaded_names_from_their_sources(ns):
    assert _user_names(ns) == set(namespace.PRELOADED_NAMES)
    assert session.PREIMPORTED == namespace.PRELOADED_NAMES
    for entry in namespace.PRELOADED:
        module, _, attribute = entry.source.partition(":")
        expected = importlib.import_module(module)
        if attribute:
            expected = getattr(expected, attribute)
        assert ns[entry.name] is expected, entry.name
        if entry.type.startswith(("module ", "package ")):
            assert isinstance(ns[entry.name], types.ModuleType) and ns[entry.name].__name__ == entry.type.split()[1]
        elif entry.type == "function":
            assert isinstance(ns[entry.name], types.FunctionType)
    assert sys.modules["tools"] is ns["tools"]


def test_prepare_binds_the_input_names_of_the_table(ns, tmp_path):
    one = {"kind": "rgbd_sample", "path": str(ROOM)}
    _prepare(tmp_path, [one])
    assert _user_names(ns) == set(namespace.PRELOADED_NAMES) | {"InputImages", "Metadata"}
    assert [e.name for e in namespace.INPUTS] == ["InputImages", "Metadata"]
    assert isinstance(ns["InputImages"], InputImages) and isinstance(ns["Metadata"], Metadata)
    assert ns["InputImages"].metadata is ns["Metadata"]
    [bound] = context.current().inputs
    assert (bound.name, bound.metadata_name) == ("InputImages", "Metadata")
    assert bound.images is ns["InputImages"] and bound.metadata is ns["Metadata"]

    # Several inputs: numbered names, and those of the previous prepare are gone.
    _prepare(tmp_path, [one, {"kind": "images", "path": str(IMAGE)}])
    numbered = {"InputImages_1", "Metadata_1", "InputImages_2", "Metadata_2"}
    assert _user_names(ns) == set(namespace.PRELOADED_NAMES) | numbered
    assert [(b.name, b.metadata_name) for b in context.current().inputs] == namespace.input_names(2)
    assert ns["InputImages_2"].metadata is ns["Metadata_2"] and ns["Metadata_2"].kind == "images"

    _prepare(tmp_path, [])
    assert _user_names(ns) == set(namespace.PRELOADED_NAMES) and context.current().inputs == ()
    session.reset()
    assert _user_names(ns) == set(namespace.PRELOADED_NAMES) and context.current() == context.SessionContext()


def test_input_names():
    assert namespace.input_names(0) == []
    assert namespace.input_names(1) == [("InputImages", "Metadata")]
    assert namespace.input_names(3)[2] == ("InputImages_3", "Metadata_3")
    with pytest.raises(ValueError, match="count must be >= 0"):
        namespace.input_names(-1)


def test_key_frames_come_from_the_bound_inputs(ns, tmp_path, monkeypatch):
    published: list[dict] = []
    monkeypatch.setattr(display, "_publish", published.append)
    assert session.key_frames(4) == 0  # nothing bound
    _prepare(tmp_path, [{"kind": "rgbd_sample", "path": str(ROOM)}, {"kind": "images", "path": str(IMAGE)}])
    assert session.key_frames(4, max_long_edge=64) == 3  # 2 frames of the 5-frame sample, the 1 image
    labels = [b[display.IMAGE_MIME]["label"] for b in published]
    assert labels == ["input 1 frame 0", "input 1 frame 4", "input 2 frame 0"]
    assert [b[display.IMAGE_MIME]["index"] for b in published] == [0, 1, 2]
    assert max(b[display.IMAGE_MIME]["width"] for b in published) == 64


def test_the_tool_reference_lists_every_preloaded_name():
    text = apidoc.render()
    assert text.startswith("## Pre-loaded names\n")
    section = text.split("## Names in the kernel")[0]
    for entry in (*namespace.PRELOADED, *namespace.INPUTS):
        assert f"- `{entry.name}` ({entry.type}): {entry.text}" in section


def test_the_safety_policy_resolves_every_preloaded_module():
    for entry in namespace.PRELOADED:
        module, _, attribute = entry.source.partition(":")
        if not attribute:
            assert POLICY.default_aliases.get(entry.name) == module, entry.name
