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


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="VmRSS is Linux's; elsewhere psutil or getrusage")
def test_resident_mib_is_vmrss_and_follows_memory_held_and_released():
    with open("/proc/self/status") as f:
        vmrss_kb = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
    before = reset_guard.resident_mib()
    assert isinstance(before, float)
    assert abs(before - vmrss_kb / 1024) < 16  # the same measure (pages may come and go in between)
    held = np.ones(32 * 2**20)  # 256 MiB, every page touched
    grown = reset_guard.resident_mib()
    assert grown is not None and grown - before > 200
    del held
    reset_guard.release_free_memory()
    shrunk = reset_guard.resident_mib()
    assert shrunk is not None and grown - shrunk > 200


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="malloc_trim is glibc's")
def test_release_free_memory_hands_freed_small_allocations_back():
    import gc

    if reset_guard._malloc_trim is None:
        pytest.skip("no glibc malloc_trim (musl)")
    reset_guard.release_free_memory()
    base = reset_guard.resident_mib()
    # Many small blocks live in the C heap, not in their own mmap: freeing them keeps the pages resident.
    blocks = [np.ones(1000) for _ in range(40_000)]  # ~320 MiB in 8 kB blocks
    grown = reset_guard.resident_mib()
    del blocks
    gc.collect()
    assert reset_guard.release_free_memory() is True
    trimmed = reset_guard.resident_mib()
    assert base is not None and grown is not None and trimmed is not None
    assert grown - base > 250
    assert trimmed - base < 64
