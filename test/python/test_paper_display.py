"""show() and image labels under the paper profile (docs/paper-parity.md row 18.5): labels from the call's source
text, the figure-title rule, the "Visualization of ..." band over each image; the default profile unchanged.

The bundles are captured by replacing ``display._publish``; cells are run as IPython runs them, compiled under a
file name whose source is registered in :mod:`linecache`.
"""

from __future__ import annotations

import base64
import io
import itertools
import json
import linecache
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import session_helpers  # noqa: E402
from PIL import Image  # noqa: E402
from spatial_runtime import context, display, session, show_labels  # noqa: E402
from spatial_runtime.display import IMAGE_MIME, show  # noqa: E402

dict_session = session_helpers.dict_session

VIDEO = Path(__file__).resolve().parents[1] / "fixtures" / "video_bedroom" / "bedroom.mp4"  # 960x540, 200 frames
PAPER = context.KernelProfile.named("paper")
_cell_numbers = itertools.count(1)


@pytest.fixture
def published(monkeypatch):
    bundles: list[dict] = []
    monkeypatch.setattr(display, "_publish", bundles.append)
    display.reset_counter()
    yield bundles
    plt.close("all")


@pytest.fixture
def paper(published):
    context.clear()
    context.update(profile=PAPER)
    yield published
    context.clear()


def _png(bundle: dict) -> Image.Image:
    img = Image.open(io.BytesIO(base64.b64decode(bundle["image/png"])))
    img.load()
    return img


def _labels(bundles: list[dict]) -> list[str | None]:
    return [b[IMAGE_MIME]["label"] for b in bundles]


def _frame(width: int = 768, height: int = 432, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


def _run_cell(source: str, ns: dict) -> None:
    """Run ``source`` the way IPython runs a cell: compiled under a name whose lines are in linecache."""
    name = f"<test-cell-{next(_cell_numbers)}>"
    linecache.cache[name] = (len(source), None, source.splitlines(keepends=True), name)
    try:
        exec(compile(source, name, "exec"), ns)
    finally:
        linecache.cache.pop(name, None)


def _assert_banded(bundle: dict, original: Image.Image, band: int = show_labels.MIN_BAND) -> np.ndarray:
    """The PNG is ``original`` under a white band of ``band`` px with dark text in it; returns the band's pixels."""
    img = _png(bundle)
    meta = bundle[IMAGE_MIME]
    assert (meta["width"], meta["height"]) == img.size == (original.width, original.height + band)
    pixels = np.asarray(img)
    np.testing.assert_array_equal(pixels[band:], np.asarray(original))
    strip = pixels[:band]
    assert (strip[:3] == 255).all()  # the top rows are white
    assert strip.min() < 100  # text was written
    return strip


# --------------------------------------------------------------------------------------------------
# Labels from the call's source
# --------------------------------------------------------------------------------------------------


def test_an_unlabelled_show_is_labelled_with_its_first_argument_and_banded(paper):
    frame = _frame()
    show(frame)
    assert _labels(paper) == ["frame"]
    _assert_banded(paper[0], frame)
    assert paper[0][IMAGE_MIME]["source"] == "show" and paper[0][IMAGE_MIME]["index"] == 0


def test_several_images_are_numbered_after_the_first_argument(paper):
    a, b = _frame(seed=1), _frame(seed=2)
    show(
        a,
        b,
    )
    assert _labels(paper) == ["a (1/2)", "a (2/2)"]
    _assert_banded(paper[0], a)
    _assert_banded(paper[1], b)
    show([a, b], label="pair")
    show(a, label="")  # an empty label counts as none, as in the original
    assert _labels(paper)[2:] == ["pair (1/2)", "pair (2/2)", "a"]


def test_labels_come_from_the_position_of_the_running_call(paper):
    ns = {"show": show, "frames": [_frame(8, 6, seed=i) for i in range(3)]}
    cell = (
        "for i in range(2):\n"
        "    show(frames[i])\n"
        "def look(x):\n"
        "    show(x[-1])\n"
        "look(frames); show(frames[0],\n"
        "                   frames[1])\n"
        "[show(f) for f in frames[:1]]\n"
        "show(np_like  :=  frames[2])\n"
    )
    _run_cell(cell, ns)
    assert _labels(paper) == [
        "frames[i]",
        "frames[i]",  # the pairing rule alone would label the loop's second image generically
        "x[-1]",
        "frames[0] (1/2)",
        "frames[0] (2/2)",
        "f",
        "np_like := frames[2]",  # whitespace runs collapsed
    ]


def test_without_positions_the_kth_show_call_of_the_cell_is_used(paper, monkeypatch):
    monkeypatch.setattr(show_labels, "_instruction_span", lambda frame: None)
    ns = {"show": show, "a": _frame(8, 6), "b": _frame(8, 6), "c": _frame(8, 6)}
    _run_cell("show(a)\nshow(b, label='given')\nshow(c)\n", ns)
    assert _labels(paper) == ["a", "given", "c"]
    paper.clear()
    _run_cell("for im in (a, b):\n    show(im)\n", ns)
    assert _labels(paper) == ["im", display.GENERIC_LABEL]  # one show( in the tree, two calls run


def test_a_generic_label_when_the_source_is_unknown(paper):
    ns = {"show": show, "a": _frame(200, 6)}
    exec(compile("show(a)", "<string>", "exec"), ns)  # noqa: S102 - no source in linecache
    assert _labels(paper) == [display.GENERIC_LABEL]
    _assert_banded(paper[0], ns["a"])


def test_the_first_video_frame_shown_under_paper(dict_session, tmp_path, published):
    config = {
        "scratch_dir": str(tmp_path / "scratch"),
        "inputs": [{"kind": "video", "path": str(VIDEO), "all_frames": True}],
        "bridge": None,
        "perception": None,
        "max_long_edge": 768,
        "resize": "paper_grid",
        "profile": {**PAPER.__dict__},
    }
    session.prepare(json.dumps(config))
    dict_session["show"] = show
    _run_cell("show(InputImages[3])\nshow(InputImages[10], InputImages[11])\n", dict_session)
    assert _labels(published) == ["InputImages[3]", "InputImages[10] (1/2)", "InputImages[10] (2/2)"]
    frame = dict_session["InputImages"][3]
    assert frame.size == (768, 432)
    _assert_banded(published[0], frame.convert("RGB"))
    meta = published[0][IMAGE_MIME]
    assert meta["width"] == 768 and meta["height"] >= 464


# --------------------------------------------------------------------------------------------------
# plt.show()
# --------------------------------------------------------------------------------------------------


def _figure(dpi: int = 200) -> plt.Figure:
    fig = plt.figure(figsize=(4, 3), dpi=dpi)
    fig.add_subplot(1, 2, 1).plot([0, 1], [1, 0])
    fig.add_subplot(1, 2, 2).plot([0, 1], [0, 1])
    return fig


def test_plt_show_labels_figures_by_their_title_at_100_dpi(paper):
    display.install_plt_hook()
    first = _figure()
    first.axes[1].set_title("depth profile")  # the first *non-empty* axes title
    first.suptitle("the whole figure")
    expected = display.to_pil(first, 100)
    assert expected.width < 4 * 200 * 0.75  # rendered at 100 dpi, not the figure's 200
    second = _figure()
    second.suptitle("only a suptitle")
    _figure()
    plt.show()
    assert _labels(paper) == ["depth profile", "only a suptitle", show_labels.FIGURE_LABEL]
    assert {b[IMAGE_MIME]["source"] for b in paper} == {"plt"}
    _assert_banded(paper[0], expected)
    assert plt.get_fignums() == []


def test_show_renders_a_figure_at_100_dpi_under_paper(paper):
    fig = _figure()
    expected = display.to_pil(fig, 100)
    show(fig)
    assert _labels(paper) == ["fig"]
    _assert_banded(paper[0], expected)


# --------------------------------------------------------------------------------------------------
# The band
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["L", "LA", "RGB", "RGBA"])
def test_the_band_keeps_the_mode_and_the_pixels(mode):
    img = _frame(200, 20).convert(mode)
    out = show_labels.add_band(img, "Visualization of x")
    assert out.mode == mode and out.size == (200, 20 + show_labels.MIN_BAND)
    np.testing.assert_array_equal(np.asarray(out)[show_labels.MIN_BAND :], np.asarray(img))
    white = np.asarray(Image.new(mode, (1, 1), "white"))[0, 0]
    np.testing.assert_array_equal(np.asarray(out)[0, 0], white)


def test_a_long_label_wraps_and_the_band_grows(paper):
    narrow = _frame(120, 40)
    show(narrow, label="a long label that cannot fit on one line of a narrow image")
    band = paper[0][IMAGE_MIME]["height"] - 40
    assert band > 2 * show_labels.MIN_BAND
    strip = _assert_banded(paper[0], narrow, band)
    rows_with_text = np.flatnonzero((strip < 100).any(axis=(1, 2)))
    assert rows_with_text.min() > 0 and rows_with_text.max() < band - 1


def test_the_band_is_drawn_before_the_transport_downscale(paper):
    big = _frame(2048, 1024)
    show(big)
    meta = paper[0][IMAGE_MIME]
    assert (meta["width"], meta["height"]) == _png(paper[0]).size == (1024, (1024 + show_labels.MIN_BAND) // 2)


def test_a_missing_font_falls_back_to_pils_default_with_a_note(monkeypatch, capsys):
    # (PIL looks a missing file's base name up in the system's font folders: use a name that is nowhere)
    monkeypatch.setattr(show_labels, "FONT_PATH", Path("/nonexistent/NoSuchFont.ttf"))
    monkeypatch.setattr(show_labels, "_bundled_font", lambda: None)
    show_labels._font.cache_clear()
    try:
        out = show_labels.add_band(_frame(200, 10), "Visualization of x")
    finally:
        show_labels._font.cache_clear()
    assert "spatialclaw: /nonexistent/NoSuchFont.ttf not found" in capsys.readouterr().err
    assert out.height >= 10 + show_labels.MIN_BAND and (np.asarray(out)[:2] == 255).all()


# --------------------------------------------------------------------------------------------------
# The default profile is unchanged
# --------------------------------------------------------------------------------------------------


def test_the_default_profile_sends_unmarked_images_with_todays_labels(published):
    context.clear()
    frame = _frame()
    a, b = _frame(8, 6), _frame(8, 6, seed=3)
    show(frame)
    show(a, b)
    show(a, b, label="pair")
    assert _labels(published) == [None, None, None, "pair (1/2)", "pair (2/2)"]
    img = _png(published[0])
    assert img.size == (768, 432) and published[0][IMAGE_MIME]["height"] == 432
    np.testing.assert_array_equal(np.asarray(img), np.asarray(frame))
    display.install_plt_hook()
    fig = _figure(dpi=150)
    fig.axes[0].set_title("ignored by default")
    fig.set_label("by label")
    expected = display.to_pil(fig)  # at the figure's own dpi
    plt.show()
    assert _labels(published)[-1] == "by label"
    np.testing.assert_array_equal(np.asarray(_png(published[-1])), np.asarray(expected))
