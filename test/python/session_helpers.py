"""A test fixture shared by the session tests: ``session.init`` on a plain dict instead of an IPython kernel.

Import it into a test module (``from session_helpers import dict_session``) to use it there.
"""

from __future__ import annotations

import sys

import pytest
from spatial_runtime import context, session


@pytest.fixture
def dict_session(monkeypatch, tmp_path):
    """session.init on a plain dict (yielded), in ``tmp_path``; everything session touches (its module state, the
    session context, the working directory, ``sys.modules["tools"]``) is restored afterwards."""
    monkeypatch.setattr(session, "_namespace_override", None)
    monkeypatch.setattr(session, "_initialized_for", None)
    monkeypatch.setattr(session, "_start_dir", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    saved_tools = sys.modules.get("tools")
    context.clear()
    ns: dict = {}
    session.init(ns)
    yield ns
    context.clear()
    if saved_tools is None:
        sys.modules.pop("tools", None)
    else:
        sys.modules["tools"] = saved_tools
