"""show / plt.show capture / ReturnAnswer, with the bundles captured by replacing display._publish."""

import base64
import io
import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402
from spatial_runtime import display  # noqa: E402
from spatial_runtime.display import ANSWER_MIME, IMAGE_MIME, AnswerError, ReturnAnswer, show  # noqa: E402


@pytest.fixture
def published(monkeypatch):
    bundles = []
    monkeypatch.setattr(display, "_publish", bundles.append)
    display.reset_counter()
    display.set_max_long_edge(display.DEFAULT_MAX_LONG_EDGE)
    yield bundles
    display.set_max_long_edge(display.DEFAULT_MAX_LONG_EDGE)
    plt.close("all")


def _png(bundle) -> Image.Image:
    img = Image.open(io.BytesIO(base64.b64decode(bundle["image/png"])))
    img.load()
    return img


def test_show_uint8_rgb_publishes_one_bundle(published):
    rgb = np.zeros((4, 5, 3), np.uint8)
    rgb[1, 2] = (255, 10, 20)
    assert show(rgb, label="x") is None
    assert len(published) == 1
    bundle = published[0]
    assert set(bundle) == {"image/png", IMAGE_MIME}
    assert bundle[IMAGE_MIME] == {"label": "x", "index": 0, "width": 5, "height": 4, "source": "show"}
    img = _png(bundle)
    assert img.size == (5, 4) and img.mode == "RGB"
    np.testing.assert_array_equal(np.asarray(img), rgb)


@pytest.mark.parametrize(
    ("array", "mode"),
    [
        (np.full((6, 7), 128, np.uint8), "L"),
        (np.full((6, 7, 1), 128, np.uint8), "L"),
        (np.full((6, 7, 4), 200, np.uint8), "RGBA"),
    ],
)
def test_show_accepts_gray_and_rgba(published, array, mode):
    show(array)
    img = _png(published[0])
    assert img.mode == mode and img.size == (7, 6)
    assert published[0][IMAGE_MIME]["label"] is None


def test_show_converts_bool_masks_and_unit_floats(published):
    mask = np.zeros((3, 4), bool)
    mask[0, 0] = True
    show(mask)
    np.testing.assert_array_equal(np.asarray(_png(published[0]))[0, :2], [255, 0])

    f = np.array([[0.0, 0.5, 1.0, np.nan]], np.float32)
    show(f)
    np.testing.assert_array_equal(np.asarray(_png(published[1]))[0], [0, 128, 255, 0])


@pytest.mark.parametrize(
    ("value", "error", "pattern"),
    [
        (np.zeros((4, 5), np.float32) + 3.0, ValueError, r"values in \[3, 3\].*\[0, 1\]"),
        (np.zeros((4, 5), np.int16), TypeError, r"dtype int16 \(shape \(4, 5\)\).*uint8"),
        (np.zeros((4, 5, 2), np.uint8), ValueError, r"shape \(4, 5, 2\).*\(H, W, 3\)"),
        (np.zeros((2, 4, 5, 3), np.uint8), ValueError, r"shape \(2, 4, 5, 3\)"),
        (np.zeros((0, 5), np.uint8), ValueError, r"empty array"),
        ("picture.png", TypeError, r"type str.*PIL image"),
        ({"a": 1}, TypeError, r"type dict"),
        (Image.new("F", (3, 2), 7.0), ValueError, r"float32 array of shape \(2, 3\)"),
    ],
)
def test_show_rejects_what_it_cannot_draw(published, value, error, pattern):
    with pytest.raises(error, match=pattern):
        show(value)
    assert published == []


def test_show_without_images_is_an_error(published):
    with pytest.raises(ValueError, match="at least one image"):
        show()


def test_show_validates_everything_before_publishing(published):
    with pytest.raises(TypeError):
        show([np.zeros((2, 2), np.uint8), "nope"])
    assert published == []


def test_nested_lists_labels_and_running_index(published):
    a = np.zeros((2, 3), np.uint8)
    show([a, (a, [a])], label="pair")
    assert [b[IMAGE_MIME]["label"] for b in published] == ["pair (1/3)", "pair (2/3)", "pair (3/3)"]
    assert [b[IMAGE_MIME]["index"] for b in published] == [0, 1, 2]
    show(a)
    assert published[-1][IMAGE_MIME]["index"] == 3
    display.reset_counter()
    show(a)
    assert published[-1][IMAGE_MIME]["index"] == 0


def test_pil_images_and_frame_labels(published):
    frame = Image.new("RGB", (8, 6), (1, 2, 3))
    frame.frame_index = 42  # what input Frames carry
    show(frame)
    show(Image.new("P", (3, 3)), Image.new("1", (3, 3)), Image.new("CMYK", (3, 3)))
    assert published[0][IMAGE_MIME]["label"] == "frame 42"
    assert _png(published[0]).getpixel((0, 0)) == (1, 2, 3)
    assert [_png(b).mode for b in published[1:]] == ["RGB", "L", "RGB"]
    with pytest.raises(TypeError, match="dtype uint16"):
        show(Image.new("I;16", (3, 3)))  # 16-bit depth must be normalised first


def test_frame_collections_are_shown_frame_by_frame(published):
    class Collection:
        frame_indices = [10, 20]

        def __iter__(self):
            for i in self.frame_indices:
                im = Image.new("RGB", (4, 4))
                im.frame_index = i
                yield im

    show(Collection())
    assert [b[IMAGE_MIME]["label"] for b in published] == ["frame 10", "frame 20"]


def test_large_images_are_downscaled_for_transport(published):
    big = np.zeros((3000, 1500, 3), np.uint8)
    show(big)
    meta = published[0][IMAGE_MIME]
    assert (meta["width"], meta["height"]) == (512, 1024)
    assert _png(published[0]).size == (512, 1024)
    assert big.shape == (3000, 1500, 3)

    display.set_max_long_edge(100)
    show(np.zeros((50, 400), np.uint8))
    assert (published[1][IMAGE_MIME]["width"], published[1][IMAGE_MIME]["height"]) == (100, 12)

    display.set_max_long_edge(None)
    show(big)
    assert published[2][IMAGE_MIME]["width"] == 1500
    with pytest.raises(ValueError, match="positive int"):
        display.set_max_long_edge(0)


def test_show_renders_figures_and_closes_them(published):
    fig, ax = plt.subplots(figsize=(2, 1), dpi=50)
    ax.plot([0, 1], [1, 0])
    show(fig, label="curve")
    meta = published[0][IMAGE_MIME]
    assert meta["source"] == "show" and meta["label"] == "curve"
    assert 50 < meta["width"] <= 150 and 25 < meta["height"] <= 100  # 100x50 px plus the tight bbox's labels
    assert plt.get_fignums() == []


def test_plt_show_publishes_every_open_figure_once(published):
    display.install_plt_hook()
    display.install_plt_hook()  # idempotent
    assert matplotlib.get_backend().lower() == "agg"
    plt.figure(label="first")
    plt.plot([1, 2])
    plt.figure()
    plt.imshow(np.random.default_rng(0).random((5, 5)))
    plt.show()
    assert [b[IMAGE_MIME]["source"] for b in published] == ["plt", "plt"]
    assert [b[IMAGE_MIME]["label"] for b in published] == ["first", None]
    assert [b[IMAGE_MIME]["index"] for b in published] == [0, 1]
    assert plt.get_fignums() == []
    plt.show()
    assert len(published) == 2


@pytest.mark.parametrize(
    ("answer", "expected", "kind"),
    [
        ("  B ", "B", "str"),
        (3, 3, "int"),
        (2.5, 2.5, "float"),
        (np.int64(7), 7, "int"),
        (np.float32(0.25), 0.25, "float"),
        (np.array(1.5), 1.5, "float"),
        (np.str_("left"), "left", "str"),
    ],
)
def test_return_answer_payload(published, answer, expected, kind):
    assert ReturnAnswer(answer) is None
    (bundle,) = published
    assert set(bundle) == {ANSWER_MIME, "text/plain"}
    assert bundle[ANSWER_MIME] == {"answer": expected, "type": kind}
    assert type(bundle[ANSWER_MIME]["answer"]) is type(expected)
    assert bundle["text/plain"] == f"Answer submitted: {expected!r}"


def test_return_answer_can_be_called_again(published):
    ReturnAnswer("A")
    ReturnAnswer("C")
    assert [b[ANSWER_MIME]["answer"] for b in published] == ["A", "C"]


@pytest.mark.parametrize(
    ("answer", "pattern"),
    [
        ([1, 2], r"got list\. For multiple choice, return the option letter, e\.g\. ReturnAnswer\('B'\)"),
        (None, r"got None"),
        ("", r"got an empty string"),
        ("   ", r"got an empty string"),
        (math.nan, r"got float nan\. The answer must be a finite number"),
        (math.inf, r"got float inf\."),
        (np.float64("nan"), r"got float nan\."),
        (True, r"got bool \(True\).*yes/no"),
        (np.bool_(False), r"got bool"),
        (1 + 2j, r"got complex"),
        (np.zeros(3), r"got ndarray of shape \(3,\)"),
    ],
)
def test_return_answer_rejects_bad_values(published, answer, pattern):
    with pytest.raises(AnswerError, match=r"ReturnAnswer expects a non-empty str, an int or a float; " + pattern):
        ReturnAnswer(answer)
    assert published == []


def test_answer_error_is_both_type_and_value_error():
    assert issubclass(AnswerError, TypeError) and issubclass(AnswerError, ValueError)
