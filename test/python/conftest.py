from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.fixture(scope="session")
def room_dir() -> Path:
    """The bundled real RGB-D sample (5 Kinect frames with camera-to-world poses)."""
    return FIXTURES / "rgbd_room"
