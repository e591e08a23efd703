"""The taint verdict of a kernel reset (spatial_runtime.reset_guard), without Jupyter."""

from __future__ import annotations

import math
import os
import sys

import numpy as np
import pytest
from spatial_runtime import reset_guard


@pytest.fixture
def fp():
    return reset_guard.take()


def _compare(fp: reset_guard.Fingerprint) -> list[str]:
    """reset_guard.compare, ignoring the variable pytest itself changes between a test's phases."""
    fp.environ.pop("PYTEST_CURRENT_TEST", None)
    if "PYTEST_CURRENT_TEST" in os.environ:
        fp.environ["PYTEST_CURRENT_TEST"] = os.environ["PYTEST_CURRENT_TEST"]
    return reset_guard.compare(fp)


def test_clean_interpreter_is_not_tainted(fp):
    assert _compare(fp) == []


def test_rebound_attribute_of_a_loaded_module_taints(fp, monkeypatch):
    monkeypatch.setattr(math, "pi", 3)
    monkeypatch.setattr(np.linalg, "norm", len)
    reasons = _compare(fp)
    assert "math.pi was rebound" in reasons
    assert "numpy.linalg.norm was rebound" in reasons


def test_added_and_deleted_attributes_taint_but_lazy_submodules_do_not(fp, monkeypatch):
    monkeypatch.setattr(math, "leak", 1, raising=False)
    monkeypatch.delattr(math, "tau")
    reasons = _compare(fp)
    assert "math.leak was added" in reasons
    assert "math.tau was deleted" in reasons
    monkeypatch.undo()
    fake = type(sys)("math.sub")
    monkeypatch.setattr(math, "sub", fake, raising=False)
    assert _compare(fp) == []


def test_environment_and_working_directory_taint(fp, monkeypatch, tmp_path):
    monkeypatch.setenv("SPATIALCLAW_LEAK", "1")
    monkeypatch.chdir(tmp_path)
    reasons = _compare(fp)
    assert "environment variables changed: SPATIALCLAW_LEAK" in reasons
    assert any(r.startswith("working directory is") for r in reasons)


def test_new_modules_taint_unless_allowed(fp, monkeypatch):
    monkeypatch.setitem(sys.modules, "leaky_module", type(sys)("leaky_module"))
    monkeypatch.setitem(sys.modules, "encodings.fake_codec", type(sys)("encodings.fake_codec"))
    assert _compare(fp) == ["modules imported since warm-up: leaky_module"]


def test_adopt_watches_allowed_new_modules(fp, monkeypatch):
    mod = type(sys)("encodings.fake_codec")
    mod.value = 1
    monkeypatch.setitem(sys.modules, "encodings.fake_codec", mod)
    adopted = reset_guard.adopt(fp)
    assert _compare(adopted) == []
    monkeypatch.setattr(mod, "value", 2)
    assert _compare(adopted) == ["encodings.fake_codec.value was rebound"]


def test_restore_puts_back_numpy_options_and_warning_filters(fp):
    import warnings

    old_err = np.geterr()
    filters = list(warnings.filters)
    try:
        np.seterr(all="ignore")
        warnings.simplefilter("ignore")
        reset_guard.restore()
        assert np.geterr() == old_err
        assert warnings.filters == filters
    finally:
        np.seterr(**old_err)
        warnings.filters[:] = filters


def test_environ_snapshot_is_a_copy(fp):
    assert fp.environ is not os.environ
    assert fp.environ.get("PATH") == os.environ.get("PATH")
