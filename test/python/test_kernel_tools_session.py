"""tools.Reconstruct and tools.SAM3 (python-runtime) in the session: session.prepare configures the perception
client and session.reset forgets it, the tools namespaces are documented, and a real IPython kernel runs
prepare -> tool call -> display_data against the in-process fake server.

Shared fixtures, helpers and the fake server: kernel_tools_helpers.py.
"""

from __future__ import annotations

import json
import os

import kernel_tools_helpers
import pytest
import session_helpers
from kernel_tools_helpers import ROOM, unnpy
from spatial_runtime import perception, session
from spatial_runtime.display import ARTIFACT_MIME
from spatial_runtime.tools import SAM3, Reconstruct

dict_session = session_helpers.dict_session  # the fixture, shared with the other session tests
_clean_state = kernel_tools_helpers._clean_state  # autouse: no state leaks between tests, display bundles captured
fake = kernel_tools_helpers.fake


# --------------------------------------------------------------------------------------------------
# prepare / reset
# --------------------------------------------------------------------------------------------------


def test_prepare_configures_perception_and_reset_forgets_it(dict_session, tmp_path):
    base = {"scratch_dir": str(tmp_path / "s"), "inputs": [], "bridge": None}
    session.prepare(json.dumps({**base, "perception": {"url": "http://127.0.0.1:5/", "token": "tok-secret-1"}}))
    cfg = perception.get_config()
    assert cfg.url == "http://127.0.0.1:5" and cfg.token == "tok-secret-1" and cfg.backends == {}
    assert "tok-secret-1" not in repr(cfg)  # the token is not shown
    assert "tok-secret-1" not in json.dumps(dict(os.environ))  # memory only
    session.prepare(
        {
            **base,
            "perception": {"url": "http://h:1", "token": "t", "backends": {"reconstruct": "rgbd", "segment": "sam3"}},
        }
    )
    assert perception.get_config().backends == {"reconstruct": "rgbd", "segment": "sam3"}
    assert perception.default_backend("segment") == "sam3"
    session.prepare(base)  # no "perception" key: not configured
    assert not perception.is_configured()
    session.prepare({**base, "perception": {"url": "http://h:1", "token": "t"}})
    assert dict_session["tools"].Reconstruct is Reconstruct and dict_session["tools"].SAM3 is SAM3
    session.reset()
    assert not perception.is_configured()
    for bad in (
        {"url": "h:1", "token": "t"},
        {"url": "http://h:1"},
        {"url": "http://h:1", "token": "t", "backends": {"depth": "x"}},
        {"url": "http://h:1", "token": "t", "backends": {"segment": 3}},
        "http://h:1",
    ):
        with pytest.raises(ValueError, match="'perception' must be null or"):
            session.prepare({**base, "perception": bad})


def test_tools_namespaces_are_documented():
    import spatial_runtime.tools as tools

    assert tools.Reconstruct is Reconstruct and tools.SAM3 is SAM3
    for ns in (Reconstruct, SAM3):
        assert ns.__doc__ and ns.__all__
        for name in ns.__all__:
            obj = getattr(ns, name)
            assert obj.__doc__ and len(obj.__doc__.strip()) > 20, f"{ns.__name__}.{name} needs a docstring"
    for fn in (Reconstruct.Reconstruct, *(getattr(SAM3, n) for n in SAM3.__all__ if n.startswith("segment_"))):
        doc = fn.__doc__
        assert "Args:" in doc and "Returns:" in doc and "Raises:" in doc and "{" not in doc.replace('{"', "")


# --------------------------------------------------------------------------------------------------
# Through a real IPython kernel: prepare -> tool call -> display_data
# --------------------------------------------------------------------------------------------------


def test_tools_in_a_real_kernel(fake, tmp_path):
    from jupyter_client.manager import start_new_kernel

    km, kc = start_new_kernel(kernel_name="python3", startup_timeout=60, cwd=str(tmp_path))
    try:

        def run(code):
            messages = []
            reply = kc.execute_interactive(code, output_hook=messages.append, timeout=60)
            displays = [m["content"]["data"] for m in messages if m["msg_type"] == "display_data"]
            return reply["content"], displays

        reply, _ = run("import spatial_runtime.session as _s; _s.init()")
        assert reply["status"] == "ok"
        config = {
            "scratch_dir": str(tmp_path / "scratch"),
            "inputs": [{"kind": "rgbd_sample", "path": str(ROOM)}],
            "bridge": None,
            "perception": {"url": fake.url, "token": "tok", "backends": {"segment": "classical"}},
        }
        reply, _ = run(f"_s.prepare({json.dumps(json.dumps(config))})")
        assert reply["status"] == "ok"
        reply, displays = run(
            "rec = tools.Reconstruct.Reconstruct(InputImages[:2])\n"
            "m = tools.SAM3.segment_image_by_box(InputImages[1], [10, 10, 100, 100])\n"
            "assert rec.frame_indices == [0, 1] and m.get_masked_points(rec, 1, 0).shape == (6, 3)"
        )
        assert reply["status"] == "ok", reply
        records = [d[ARTIFACT_MIME] for d in displays if ARTIFACT_MIME in d]
        assert [(r["tool"], r["kind"]) for r in records] == [("Reconstruct", "reconstruction"), ("SAM3", "masks")]
        assert records[0]["id"] == "rec1" and records[0]["url"] == fake.url + "/v1/artifacts/rec1"
        assert records[1]["frame_indices"] == [1] and all("text/plain" in d for d in displays)
        assert fake.requests[0][1]["backend"] == "rgbd" and fake.requests[1][1]["backend"] == "classical"
        assert unnpy(fake.requests[0][1]["intrinsics"])[0, 0, 0] == 518.0  # Metadata of the bound input
        run("_s.reset()")
        reply, _ = run("tools.SAM3.segment_image_by_box(np.zeros((4, 4, 3), np.uint8), [0, 0, 2, 2])")
        assert reply["status"] == "error" and reply["ename"] == "PerceptionUnavailable"
        assert "no perception server is configured" in reply["evalue"]
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
