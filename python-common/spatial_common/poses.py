"""TUM pose files: one camera-to-world pose per line, ``[timestamp] tx ty tz qx qy qz qw``.

The format of the TUM RGB-D benchmark (Sturm et al., IROS 2012, "File Formats"): translation in metres, then a
unit quaternion in scalar-last (Hamilton) order as :meth:`scipy.spatial.transform.Rotation.from_quat` takes it;
an optional leading timestamp column is ignored; blank lines and lines starting with ``#`` are skipped. The one
parser used by the kernel inputs, the RGB-D sample loader, the oracle backend and the perception benchmark.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from scipy.spatial.transform import Rotation


class PoseFileError(ValueError):
    """A TUM pose file that cannot be read; the message names the file, the line and the fix."""


def pose_from_tum(tx: float, ty: float, tz: float, qx: float, qy: float, qz: float, qw: float) -> NDArray[np.float64]:
    """(4, 4) float64 camera-to-world matrix of one TUM pose (the quaternion is normalised)."""
    T = np.eye(4)
    T[:3, :3] = Rotation.from_quat([qx, qy, qz, qw]).as_matrix()
    T[:3, 3] = [tx, ty, tz]
    return T


def parse_tum_poses(text: str, source: str = "poses") -> NDArray[np.float64]:
    """Parse the text of a TUM pose file.

    Args:
        text: the file's text.
        source: how to name the file in errors (usually its path).

    Returns:
        (N, 4, 4) float64 camera-to-world poses, one per pose line, in file order (N may be 0).

    Raises:
        PoseFileError: a line without 7 (or 8, with a timestamp) numbers, a value that is not a finite number,
            or a zero quaternion; the message is ``"<source>:<line>: ..."``.
    """
    rows: list[NDArray[np.float64]] = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) == 8:  # a leading timestamp column, ignored
            parts = parts[1:]
        if len(parts) != 7:
            raise PoseFileError(
                f"{source}:{lineno}: expected 7 numbers 'tx ty tz qx qy qz qw' (camera-to-world, TUM order, "
                f"optionally after a timestamp), got {len(parts)}; fix this line"
            )
        try:
            values = [float(x) for x in parts]
        except ValueError as err:
            raise PoseFileError(
                f"{source}:{lineno}: not a number ({err}); each line is 'tx ty tz qx qy qz qw'"
            ) from None
        if not all(math.isfinite(x) for x in values) or math.hypot(*values[3:]) < 1e-12:
            raise PoseFileError(f"{source}:{lineno}: poses need finite numbers and a non-zero quaternion 'qx qy qz qw'")
        rows.append(pose_from_tum(*values))
    return np.stack(rows) if rows else np.zeros((0, 4, 4))


def read_tum_poses(path: str | Path, expected: int | None = None) -> NDArray[np.float64]:
    """Read a TUM pose file.

    Args:
        path: the file.
        expected: the number of frames the poses belong to; when given, the file must hold exactly that many.

    Returns:
        (N, 4, 4) float64 camera-to-world poses.

    Raises:
        PoseFileError: unreadable file, a malformed line (see :func:`parse_tum_poses`), or not ``expected`` poses.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise PoseFileError(f"{p}: cannot read the poses file ({err})") from None
    poses = parse_tum_poses(text, str(p))
    if expected is not None and len(poses) != expected:
        raise PoseFileError(
            f"{p}: {len(poses)} poses for {expected} frames; the poses file needs exactly one line per frame, "
            "in frame order"
        )
    return poses
