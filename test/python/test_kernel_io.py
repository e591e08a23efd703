"""spatial_runtime.kernel_io without a kernel: the per-cell head/tail cap of a stream and the stdin that refuses.

The real kernel path (a 3 MB print, input(), help(), sys.stdin) is test/integration/faults-kernel.test.ts.
"""

from __future__ import annotations

import io

import pytest
from spatial_runtime.kernel_io import CappedStream, NoStdin, NoStdinError, drop_marker


def test_output_within_head_and_tail_is_whole_and_in_order():
    inner = io.StringIO()
    s = CappedStream(inner, head=5, tail=5)
    s.write("abc")
    s.write("defg")  # "abcde" passes, "fg" is held
    assert inner.getvalue() == "abcde"
    assert s.end_cell() == 0
    assert inner.getvalue() == "abcdefg"


def test_head_and_tail_are_kept_and_the_drop_is_counted():
    inner = io.StringIO()
    s = CappedStream(inner, head=4, tail=6)
    text = "HEAD" + "x" * 1000 + "-TAIL\n"
    for i in range(0, len(text), 7):  # many small writes
        s.write(text[i : i + 7])
    s.write("later\n")
    assert s.end_cell() == 1000 + len("-TAIL\n")
    assert inner.getvalue() == "HEAD" + drop_marker(1000 + len("-TAIL\n")) + "later\n"
    # The next cell starts a new budget.
    s.write("next")
    assert inner.getvalue().endswith("later\nnext")


def test_one_huge_write_keeps_its_end():
    inner = io.StringIO()
    s = CappedStream(inner, head=3, tail=3)
    s.write("abc" + "y" * 3_000_000 + "xyz")
    assert s.end_cell() == 3_000_000
    assert inner.getvalue() == "abc\n… [3,000,000 characters dropped] …\nxyz"


def test_stdin_refuses_every_read():
    stdin = NoStdin()
    for read in (stdin.read, stdin.readline, stdin.readlines):
        with pytest.raises(NoStdinError, match="this kernel has no stdin"):
            read()
