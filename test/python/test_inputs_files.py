"""The ``images`` input with ``files``: the images of one multi-image sample bound as one InputImages, in the given
order (how the paper binds MMSI-Bench, BLINK or MindCube samples)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from spatial_runtime.inputs.common import InputError
from spatial_runtime.inputs.load import load_inputs

COLOR = Path(__file__).resolve().parents[1] / "fixtures" / "rgbd_room" / "color"


def test_files_bind_one_input_in_the_given_order() -> None:
    files = [COLOR / "3.png", COLOR / "1.png", COLOR / "5.png"]
    out = load_inputs([{"kind": "images", "path": str(files[0]), "files": [str(f) for f in files]}])
    images, meta = out["InputImages"], out["Metadata"]
    assert "InputImages_1" not in out
    assert len(images) == 3
    assert [f.frame_index for f in images] == [0, 1, 2]
    for frame, path in zip(images, files, strict=True):
        with Image.open(path) as want:
            assert np.array_equal(np.asarray(frame.convert("RGB")), np.asarray(want.convert("RGB")))
    assert meta.kind == "images"


def test_several_inputs_are_numbered_but_one_files_input_is_not() -> None:
    out = load_inputs(
        [{"kind": "images", "path": str(COLOR / "1.png")}, {"kind": "images", "path": str(COLOR / "2.png")}]
    )
    assert "InputImages_1" in out and "InputImages_2" in out


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ([], "'files' must be a non-empty list"),
        ("a.png", "'files' must be a non-empty list"),
        ([str(COLOR / "1.png"), str(COLOR / "nope.png")], "nope.png: image not found; check the 'files' list"),
        ([str(COLOR)], "expected an image file in the 'files' list"),
    ],
)
def test_bad_files_are_named(files: object, message: str) -> None:
    with pytest.raises(InputError, match=message):
        load_inputs([{"kind": "images", "path": str(COLOR / "1.png"), "files": files}])
