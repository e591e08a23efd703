"""Real media for the replicas: frames of the bundled real bedroom video (SAM 2, Apache-2.0) and the real Kinect
colour frames (test/fixtures/rgbd_room), as encoded images and short H.264 mp4 files made with ffmpeg."""

from __future__ import annotations

import io
import subprocess
from functools import cache
from pathlib import Path

import av
import numpy as np
from PIL import Image

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
VIDEO = FIXTURES / "video_bedroom" / "bedroom.mp4"


@cache
def _frames() -> tuple[np.ndarray, ...]:
    """Every 20th frame of the real bedroom video (10 frames, 960x540 RGB uint8)."""
    out = []
    with av.open(str(VIDEO)) as c:
        for i, f in enumerate(c.decode(video=0)):
            if i % 20 == 0:
                out.append(f.to_ndarray(format="rgb24"))
    return tuple(out)


def frame(i: int, size: tuple[int, int] | None = (320, 180)) -> Image.Image:
    """Real frame ``i`` (mod 10) as a PIL image, resized to ``size`` (None: native 960x540)."""
    img = Image.fromarray(_frames()[i % len(_frames())])
    return img.resize(size) if size else img


def image_bytes(i: int, fmt: str = "PNG", size: tuple[int, int] | None = (320, 180)) -> bytes:
    """Real frame ``i`` encoded as PNG or JPEG."""
    buf = io.BytesIO()
    frame(i, size).save(buf, format=fmt)
    return buf.getvalue()


def write_image(path: Path, i: int, size: tuple[int, int] | None = (320, 180)) -> Path:
    """Real frame ``i`` saved at ``path`` (format from the suffix)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    frame(i, size).save(path)
    return path


def write_video(
    path: Path, *, seconds: float = 2.0, fps: int = 10, size: tuple[int, int] = (160, 90), start: int = 0
) -> Path:
    """A short H.264 mp4 cut from the real bedroom video by ffmpeg (``seconds`` long, ``fps``, ``size``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            "ffmpeg",
            "-loglevel",
            "error",
            "-y",
            "-ss",
            f"{start / 30:.3f}",
            "-i",
            str(VIDEO),
            "-t",
            f"{seconds}",
            "-vf",
            f"fps={fps},scale={size[0]}:{size[1]}",
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
            "-an",
            str(path),
        ],
        check=True,
    )
    return path
