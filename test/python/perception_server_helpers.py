"""Fixtures and helpers shared by the perception server core tests (test_perception_server_*.py): request bodies
for the ``echo`` diagnostics backends (test/python/perception_testing/echo.py) and a module-scoped ``server``.

Bind the fixture into a test module as session_helpers.dict_session is bound (plain helpers are imported)::

    import perception_server_helpers
    from perception_server_helpers import recon_body, seg_body

    server = perception_server_helpers.server

Each module that binds ``server`` starts its own server process (module scope): ``echo``, ``echo2``,
``echo_unavailable`` and a ``missing`` backend that fails to load, with ``--max-body-mb 1 --max-frames 4``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from perception_helpers import ServerHandle, png_bytes, start_server

H, W = 24, 32
MISSING = "missing=spatial_perception.backends._not_there:Nope"
RECORD_KEYS = {"id", "kind", "backend", "created", "frame_indices", "shapes", "summary", "params"}


@pytest.fixture(scope="module")
def server():
    handle = start_server(
        "echo,echo2,echo_unavailable,missing",
        ("--max-body-mb", "1", "--max-frames", "4"),
        env={"SPATIAL_PERCEPTION_EXTRA_BACKENDS": MISSING},  # the environment variable still maps backends in
    )
    yield handle
    handle.stop()


# --------------------------------------------------------------------------------------------------
# request bodies, waiting
# --------------------------------------------------------------------------------------------------


def new_tag() -> str:
    return uuid.uuid4().hex[:10]


def images(n: int, seed: int = 0, h: int = H, w: int = W) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for _ in range(n)]


def recon_body(n: int = 2, seed: int = 0, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "backend": "echo",
        "frames": [png_bytes(im) for im in images(n, seed)],
        "frame_indices": [10 * (i + 1) for i in range(n)],
        "params": {"tag": new_tag()},
    }
    body.update(fields)
    return body


def seg_body(backend: str = "echo", **params: Any) -> dict[str, Any]:
    return {
        "backend": backend,
        "image": png_bytes(images(1, seed=7)[0]),
        "prompt": {"type": "box", "box": [2, 2, 10, 10]},
        "params": {"tag": new_tag(), **params},
    }


def video_body(n: int = 3, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "backend": "echo",
        "frames": [png_bytes(im) for im in images(n, seed=3)],
        "frame_indices": [10 * (i + 1) for i in range(n)],
        "prompt_frame_index": 20,
        "prompt": {"type": "points", "points": [[5, 5], [20, 10]], "labels": [1, 0]},
        "params": {"tag": new_tag()},
    }
    body.update(fields)
    return body


def wait_for(pred: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def queue_len(server: ServerHandle, device: str = "cpu") -> int:
    return server.health()["queue"].get(device, 0)
