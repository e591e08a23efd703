"""The top-down view of the paper's ``Reconstruction.render_bev`` (profile ``paper``, ``reconstruct_extras``;
docs/paper-parity.md row 16): an 800 x 800 matplotlib figure of a gravity-aligned reconstruction seen from above.

Plot axes: the reference camera's viewing direction, projected onto the floor (the XZ plane), points up; its
image-right direction points right; metres. Drawn on a light grey background (no point cloud):

* objects (from masks): per frame the mask, eroded by 3 px when at least 10 % of it survives, keeps its points
  with confidence above ``conf_threshold``; an object with fewer than 4 points is skipped; outliers beyond 3 MADs
  (per plot axis) are dropped. An object whose per-frame median positions lie further apart than 0.15 x the
  diagonal of its extent is MOVING: a red-to-blue path of those positions with an arrowhead, a start dot and
  ``label -> direction``; otherwise a minimum-area box with its label, in tab10 colours;
* cameras: for a video, the camera path as a green-to-yellow dashed line with a start dot and an arrowhead; for
  several images, a small blue wedge per camera labelled with its frame index; the reference camera as a red
  60-degree wedge labelled ``Camera <position>``;
* square limits around everything with 15 % padding, equal aspect, axis titles, a legend and the words FORWARD,
  BEHIND, LEFT and RIGHT at the edges.

Figures are made with matplotlib's object API on an Agg canvas (never pyplot), so they neither appear in nor
disturb the kernel's ``plt`` figures.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import cv2
import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from matplotlib.colors import LinearSegmentedColormap
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Polygon
from numpy.typing import NDArray
from PIL import Image
from scipy import ndimage

__all__ = ["SIZE_PX", "Bev", "draw"]

SIZE_PX = 800
ERODE_PX, KEEP_AFTER_ERODE, MAD_K, MOVING_RATIO = 3, 0.1, 3.0, 0.15
REF_COLOR, CAMERA_COLOR = "#cc2222", "#3366cc"
_OBJECT_CMAP = "tab10"
_PATH = LinearSegmentedColormap.from_list("bev_path", ["red", "blue"])
_EGO = LinearSegmentedColormap.from_list("bev_ego", ["#22cc22", "#cccc22"])
_ERODE = ndimage.iterate_structure(ndimage.generate_binary_structure(2, 1), ERODE_PX)


@dataclass
class Bev:
    """A drawn top-down view: the figure and its axes, and the plot axes in the world (``right``, ``forward``:
    unit XZ vectors)."""

    figure: Figure
    axes: Any
    right: NDArray[np.float64]
    forward: NDArray[np.float64]

    def plot_xy(self, xyz: Any) -> tuple[float, float]:
        """Plot coordinates (metres right, metres forward) of a world point."""
        p = np.asarray(xyz, np.float64)
        xz = np.array([p[0], p[2]])
        return float(xz @ self.right), float(xz @ self.forward)

    def pixel(self, xyz: Any) -> tuple[float, float]:
        """(column, row) of a world point in :meth:`image`."""
        self.figure.canvas.draw()
        x, y = self.axes.transData.transform(self.plot_xy(xyz))
        return float(x), float(self.figure.bbox.height - y)

    def image(self) -> Image.Image:
        """The figure as an RGB PIL image (800 x 800)."""
        self.figure.canvas.draw()
        rgba = np.asarray(self.figure.canvas.buffer_rgba())
        return Image.fromarray(np.ascontiguousarray(rgba[..., :3]))


def _plot_axes(extrinsic: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(right, forward) unit XZ vectors of a camera: its viewing direction on the floor, and that turned so that
    it agrees with the camera's image-right axis (x); forward is (0, 1) for a camera looking straight down."""
    f = np.array([extrinsic[0, 2], extrinsic[2, 2]], np.float64)
    length = float(np.linalg.norm(f))
    forward = f / length if length > 1e-6 else np.array([0.0, 1.0])
    return np.array([-forward[1], forward[0]]), forward


def _mad_keep(uv: NDArray[np.float64]) -> NDArray[np.bool_]:
    """Points within MAD_K median absolute deviations of the median on both axes (all, for 10 points or fewer)."""
    keep = np.ones(len(uv), bool)
    if len(uv) <= 10:
        return keep
    for col in uv.T:
        med = np.median(col)
        mad = np.median(np.abs(col - med))
        if mad > 1e-8:
            keep &= np.abs(col - med) <= MAD_K * mad
    return keep


def _mask_rows(masks: Any, labels: Any, frame_indices: list[int]) -> tuple[dict[int, NDArray[np.bool_]], list[str]]:
    """Reconstruction position -> (K, H, W) masks of that frame, and the K labels.

    A ``PerFrameMask`` is matched by absolute frame index (frames of the reconstruction it lacks have no masks);
    a raw (T, K, H, W) array by position (its row t is the reconstruction's t-th frame).
    """
    if hasattr(masks, "masks") and hasattr(masks, "frame_indices"):
        arr = np.asarray(masks.masks, bool)
        row = {int(f): t for t, f in enumerate(masks.frame_indices)}
        rows = {p: arr[row[f]] for p, f in enumerate(frame_indices) if f in row}
        names = list(masks.labels) if labels is None else [str(x) for x in labels]
    else:
        arr = np.asarray(masks).astype(bool)
        if arr.ndim != 4:
            raise ValueError(f"masks must be a PerFrameMask or a (T, K, H, W) array, got shape {arr.shape}")
        rows = {p: arr[p] for p in range(min(len(arr), len(frame_indices)))}
        names = [f"obj_{k}" for k in range(arr.shape[1])] if labels is None else [str(x) for x in labels]
    k = arr.shape[1]
    names = (names + [f"obj_{j}" for j in range(len(names), k)])[:k]
    return rows, names


def _object_points(mask: NDArray[np.bool_], points: NDArray, confidence: NDArray, conf: float) -> NDArray:
    """The (M, 3) points of one mask in one frame (module docstring: erosion, confidence, finite)."""
    h, w = points.shape[:2]
    if mask.shape != (h, w):
        mask = cv2.resize(mask.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST).astype(bool)
    eroded = ndimage.binary_erosion(mask, structure=_ERODE)
    if eroded.sum() >= KEEP_AFTER_ERODE * mask.sum():
        mask = eroded
    keep = mask & (confidence > conf) & np.isfinite(points).all(axis=-1)
    return points[keep]


def _centroids(per_frame: list[tuple[int, NDArray]]) -> list[tuple[int, NDArray]]:
    """(position, median (u, v)) of the frames with at least 10 points (4 after the MAD filter)."""
    out = []
    for t, uv in per_frame:
        if len(uv) < 10:
            continue
        kept = uv[_mad_keep(uv)]
        if len(kept) >= 4:
            out.append((t, np.median(kept, axis=0)))
    return out


def _direction(step: NDArray[np.float64]) -> str:
    du, dv = float(step[0]), float(step[1])
    words = []
    if abs(dv) > 0.3 * abs(du):
        words.append("forward" if dv > 0 else "backward")
    if abs(du) > 0.3 * abs(dv):
        words.append("right" if du > 0 else "left")
    return "+".join(words) or "stationary"


def _draw_path(ax: Any, path: list[tuple[int, NDArray]], n_frames: int, label: str) -> None:
    ts = np.array([t for t, _ in path], np.float64) / max(n_frames - 1, 1)
    pts = np.array([uv for _, uv in path])
    lines = LineCollection(np.stack([pts[:-1], pts[1:]], axis=1), cmap=_PATH, linewidths=3.5, zorder=7)
    lines.set_array((ts[:-1] + ts[1:]) / 2)
    lines.set_clim(0, 1)
    ax.add_collection(lines)
    arrow = {"arrowstyle": "-|>", "color": _PATH(float(ts[-1])), "lw": 3.5, "mutation_scale": 30}
    ax.annotate("", xy=tuple(pts[-1]), xytext=tuple(pts[-2]), arrowprops=arrow, zorder=8)
    ax.plot(*pts[0], "o", color=_PATH(float(ts[0])), markersize=8, zorder=8)
    mid = len(pts) // 2
    box = {"facecolor": _PATH(float(ts[mid])), "alpha": 0.8, "boxstyle": "round,pad=0.2"}
    text = f" {label} \u2192 {_direction(pts[-1] - pts[0])}"
    ax.text(*pts[mid], text, fontsize=9, color="white", fontweight="bold", va="center", zorder=9, bbox=box)


def _draw_box(ax: Any, uv: NDArray[np.float64], color: Any, label: str) -> None:
    corners = cv2.boxPoints(cv2.minAreaRect(uv.astype(np.float32))).astype(np.float64)
    ax.add_patch(Polygon(corners, closed=True, fill=False, edgecolor=color, linewidth=2, zorder=5))
    top = corners[int(np.argmax(corners[:, 1]))]
    box = {"facecolor": color, "alpha": 0.7, "boxstyle": "round,pad=0.15"}
    ax.text(*top, f" {label}", fontsize=9, color="white", fontweight="bold", va="bottom", zorder=6, bbox=box)


def _draw_objects(ax: Any, bev: Bev, rec: Any, masks: Any, labels: Any, conf: float) -> None:
    rows, names = _mask_rows(masks, labels, rec.frame_indices)
    points, confidence = rec.points.array, rec.confidence.array
    cmap = matplotlib.colormaps[_OBJECT_CMAP]
    axes = np.stack([bev.right, bev.forward], axis=1)
    for k, name in enumerate(names):
        per_frame = []
        for t in sorted(rows):
            pts = _object_points(rows[t][k], points[t], confidence[t], conf)
            per_frame.append((t, np.column_stack([pts[:, 0], pts[:, 2]]).astype(np.float64) @ axes))
        uv = np.concatenate([p for _, p in per_frame]) if per_frame else np.zeros((0, 2))
        if len(uv) < 4:
            continue
        uv = uv[_mad_keep(uv)]
        if len(uv) < 4:
            continue
        centres = _centroids(per_frame)
        diagonal = float(np.linalg.norm(uv.max(axis=0) - uv.min(axis=0)))
        spread = 0.0
        if len(centres) >= 2:
            c = np.array([m for _, m in centres])
            spread = float(np.max(np.linalg.norm(c[:, None] - c[None], axis=-1)))
        if len(rows) > 1 and diagonal > 1e-8 and spread > MOVING_RATIO * diagonal:
            _draw_path(ax, centres, len(points), name)
        else:
            _draw_box(ax, uv, cmap(k % 10), name)


def _wedge(ax: Any, uv: NDArray, heading: NDArray, length: float, color: str, label: str, ref: bool) -> None:
    """A camera seen from above: a 60-degree wedge from its centre ``uv`` opening along ``heading``."""
    side = np.array([heading[1], -heading[0]]) * length * math.tan(math.radians(30.0))
    tip = uv + heading * length
    ax.add_patch(
        Polygon(
            [uv, tip - side, tip + side],
            closed=True,
            facecolor=color,
            edgecolor="white",
            linewidth=1.6 if ref else 1.1,
            alpha=0.92 if ref else 0.82,
            zorder=11 if ref else 9,
        )
    )
    ax.plot(*uv, "o", color=color, markersize=6 if ref else 4, markeredgecolor="white", zorder=12 if ref else 10)
    if label:
        offset = (-heading * 16 - 2).astype(int)
        ax.annotate(
            label,
            xy=tuple(uv),
            xytext=tuple(int(v) for v in offset),
            textcoords="offset points",
            fontsize=13 if ref else 11,
            fontweight="bold",
            color=color,
            ha="center",
            va="center",
            zorder=13,
            bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "none", "boxstyle": "round,pad=0.25"},
        )


def _heading(extrinsic: NDArray[np.float64], axes: NDArray[np.float64]) -> NDArray[np.float64]:
    h = np.array([extrinsic[0, 2], extrinsic[2, 2]]) @ axes
    length = float(np.linalg.norm(h))
    return h / length if length > 1e-9 else np.array([0.0, 1.0])


def _draw_cameras(ax: Any, cams: NDArray, E: NDArray, axes: NDArray, ref: int, span: float, how: dict) -> None:
    """The camera path (video) or a wedge per camera (images), then the reference camera's red wedge."""
    if how["ego"] and how["video"] and len(cams) >= 2:
        t = np.linspace(0.0, 1.0, len(cams))
        lines = LineCollection(np.stack([cams[:-1], cams[1:]], axis=1), cmap=_EGO, linewidths=2.5, zorder=4)
        lines.set_linestyle("--")
        lines.set_array((t[:-1] + t[1:]) / 2)
        lines.set_clim(0, 1)
        ax.add_collection(lines)
        ax.plot(*cams[0], "o", color="#22cc22", markersize=6, markeredgecolor="white", zorder=11, label="Ego start")
        arrow = {"arrowstyle": "-|>", "color": "#cccc22", "lw": 2.5, "mutation_scale": 20}
        ax.annotate("", xy=tuple(cams[-1]), xytext=tuple(cams[-2]), arrowprops=arrow, zorder=5)
    elif how["ego"] and not how["video"] and len(cams) > 1:
        for i, uv in enumerate(cams):
            if i != ref:
                _wedge(ax, uv, _heading(E[i], axes), 0.07 * span, CAMERA_COLOR, str(how["frames"][i]), False)
        ax.add_line(Line2D([np.nan], [np.nan], marker="^", color=CAMERA_COLOR, linestyle="None", label="Cameras"))
    name = f"Camera {ref}"
    _wedge(ax, cams[ref], _heading(E[ref], axes), 0.10 * span, REF_COLOR, name, True)
    ax.add_line(Line2D([np.nan], [np.nan], marker="^", color=REF_COLOR, markersize=12, linestyle="None", label=name))


def _span(ax: Any, cams: NDArray) -> tuple[float, float, float, float, float]:
    """(u_min, u_max, v_min, v_max, span) of the cameras and everything drawn so far (span >= 1 m)."""
    us, vs = list(cams[:, 0]), list(cams[:, 1])
    lim = ax.dataLim
    if np.isfinite([lim.x0, lim.x1, lim.y0, lim.y1]).all():
        us += [lim.x0, lim.x1]
        vs += [lim.y0, lim.y1]
    span = max(max(us) - min(us), max(vs) - min(vs), 1.0)
    return min(us), max(us), min(vs), max(vs), span


def draw(
    rec: Any,
    masks: Any = None,
    labels: Any = None,
    conf_threshold: float = 0.1,
    ref_frame: int = 0,
    ego_trajectory: bool = True,
    is_video: bool = True,
) -> Bev:
    """Draw the top-down view of a reconstruction (module docstring).

    Args:
        rec: a ``Reconstruction`` (``points``, ``confidence``, ``extrinsics``, ``frame_indices``).
        masks: a ``PerFrameMask`` (matched by frame index) or a (T, K, H, W) array (matched by position), or None.
        labels: object labels (default: the masks' labels, else ``obj_<k>``).
        conf_threshold: points need a confidence above this.
        ref_frame: the reference camera: an absolute frame index of ``rec``, else a position (clamped).
        ego_trajectory: draw the camera path (video) or the other cameras (images).
        is_video: the frames are a video's (a path) rather than separate images (wedges).
    """
    fi = list(rec.frame_indices)
    E = np.asarray(rec.extrinsics.array, np.float64)
    ref = fi.index(ref_frame) if ref_frame in fi else max(0, min(int(ref_frame), len(fi) - 1))
    right, forward = _plot_axes(E[ref])
    fig = Figure(figsize=(SIZE_PX / 100, SIZE_PX / 100), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.set_facecolor("#f0f0f0")
    bev = Bev(fig, ax, right, forward)
    axes = np.stack([right, forward], axis=1)
    if masks is not None:
        _draw_objects(ax, bev, rec, masks, labels, float(conf_threshold))
    cams = E[:, [0, 2], 3] @ axes
    span = _span(ax, cams)[4]
    how = {"ego": bool(ego_trajectory), "video": bool(is_video), "frames": fi}
    _draw_cameras(ax, cams, E, axes, ref, span, how)
    u0, u1, v0, v1, span = _span(ax, cams)
    half = span / 2 + 0.15 * span
    ax.set_xlim((u0 + u1) / 2 - half, (u0 + u1) / 2 + half)
    ax.set_ylim((v0 + v1) / 2 - half, (v0 + v1) / 2 + half)
    ax.set_aspect("equal")
    ax.set_xlabel("\u2190 Left \u00b7\u00b7\u00b7 Right \u2192 (m)")
    ax.set_ylabel(f"Camera {ref} forward \u2192 (m)")
    ax.set_title("Bird's-eye view (top-down)")
    ax.grid(True, alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper right", fontsize=8)
    style = {"fontsize": 14, "fontweight": "bold", "color": "#333333", "zorder": 20, "transform": ax.transAxes}
    style["bbox"] = {"facecolor": "white", "alpha": 0.85, "edgecolor": "#999999", "boxstyle": "round,pad=0.3"}
    ax.text(0.5, 0.98, "FORWARD (away from camera)", ha="center", va="top", **style)
    ax.text(0.5, 0.02, "BEHIND (toward camera)", ha="center", va="bottom", **style)
    ax.text(0.02, 0.5, "LEFT", ha="left", va="center", **style)
    ax.text(0.98, 0.5, "RIGHT", ha="right", va="center", **style)
    fig.tight_layout()
    return bev
