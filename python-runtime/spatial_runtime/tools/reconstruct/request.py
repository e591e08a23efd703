"""``tools.Reconstruct.Reconstruct``: send frames to the perception server's ``POST /v1/reconstruct`` and decode
the answer into a :class:`~spatial_runtime.tools.reconstruct.result.Reconstruction`.

What is sent for N frames of H x W pixels: the frames as PNG, and (when known) their depth (N, H, W) float32
metres, intrinsics (N, 3, 3) pixels and camera-to-world poses (N, 4, 4) as ``.npy`` bytes
(docs/perception-api.md). Depth, intrinsics and poses come from the arguments, else from the input frames
(``frame.depth``, ``frame.pose``) and their input's ``Metadata``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from spatial_common.geometry import backproject
from spatial_common.reconstruct_options import no_depth_advice

from spatial_runtime import perception
from spatial_runtime.perception import PerceptionError
from spatial_runtime.tools._common import (
    FrameBatch,
    artifact_url,
    bad_argument,
    cache_status,
    collect_frames,
    fmt_indices,
    is_collection,
    metadata_of,
    publish_artifact,
    text_field,
)
from spatial_runtime.tools.reconstruct import paper
from spatial_runtime.tools.reconstruct.result import Reconstruction

__all__ = ["COMPACT_RETURN", "MAX_FRAMES", "Reconstruct", "lift_points"]

MAX_FRAMES = 64
"""Most frames one ``Reconstruct`` call sends (``max_frames=`` overrides it per call)."""

COMPACT_RETURN = ("depth", "confidence", "valid", "extrinsics", "intrinsics", "frame_indices")
"""The arrays ``Reconstruct`` asks the server to send back (points and colours stay in the artifact)."""


def _from_frames(batch: FrameBatch, attr: str, what: str, fix: str) -> list[Any] | None:
    """Every frame's ``attr`` (``"depth"`` or ``"pose"``), or None when no frame has one.

    Raises:
        ToolError: some frames have it and others do not (``what`` starts the message, ``fix`` ends it).
    """
    values = [getattr(item, attr, None) for item in batch.items]
    have = [fi for fi, x in zip(batch.frame_indices, values, strict=True) if x is not None]
    if not have:
        return None
    if len(have) != len(values):
        without = [fi for fi, x in zip(batch.frame_indices, values, strict=True) if x is None]
        raise bad_argument(
            f"{what} missing for frames [{fmt_indices(without)}] but present for [{fmt_indices(have)}]: {fix}"
        )
    return values


def _gather_depth(batch: FrameBatch, depth: Any) -> NDArray[np.float32] | None:
    n, (w, h) = len(batch), batch.size
    if depth is False:
        return None
    if depth is not None:
        if isinstance(depth, (list, tuple)):
            if len(depth) != n:
                raise bad_argument(f"depth= has {len(depth)} maps for {n} frames: pass one (H, W) depth map per frame")
            depth = np.stack([np.asarray(d, dtype=np.float32) for d in depth]) if n else np.zeros((0, h, w))
        d = np.asarray(depth, dtype=np.float32)
        if d.ndim == 2 and n == 1:
            d = d[None]
        if d.shape != (n, h, w):
            raise bad_argument(f"depth= must have shape (N, H, W) = ({n}, {h}, {w}) in metres, got {d.shape}")
    else:
        per = _from_frames(
            batch,
            "depth",
            "depth is",
            "pass frames of one RGB-D input, depth= for every frame, or depth=False to reconstruct from colour only",
        )
        if per is None:
            return None
        maps = []
        for fi, x in zip(batch.frame_indices, per, strict=True):
            arr = np.asarray(x, dtype=np.float32)
            if arr.shape != (h, w):
                raise bad_argument(f"the depth of frame {fi} is {arr.shape} (H, W) but the frame is ({h}, {w})")
            maps.append(arr)
        d = np.stack(maps)
    d = np.array(d, dtype=np.float32, copy=True)
    if np.isinf(d).any():
        raise bad_argument("depth contains inf values: depth must be finite metres (0 or NaN marks invalid pixels)")
    d[np.isnan(d)] = 0.0
    if (d < 0).any():
        fi = batch.frame_indices[int(np.argwhere(d < 0)[0][0])]
        raise bad_argument(f"depth of frame {fi} has negative values: depth is metres along the camera z axis, >= 0")
    empty = [fi for fi, plane in zip(batch.frame_indices, d, strict=True) if not (plane > 0).any()]
    if empty:
        raise bad_argument(
            f"depth of frames [{fmt_indices(empty)}] is all 0/NaN (no valid pixel): drop those frames, or pass "
            f"depth=False to estimate depth from colour (backend='da3' or 'mono'; {no_depth_advice()})"
        )
    return d


def _intrinsics_matrix(value: Any, n: int) -> NDArray[np.float64]:
    if isinstance(value, Mapping):
        try:
            K = np.array(
                [[value["fx"], 0.0, value["cx"]], [0.0, value["fy"], value["cy"]], [0.0, 0.0, 1.0]], dtype=np.float64
            )
        except KeyError as err:
            raise bad_argument(f"intrinsics= dict needs fx, fy, cx, cy (pixels); missing {err}") from None
    else:
        K = np.asarray(value, dtype=np.float64)
    if K.shape == (3, 3):
        K = np.broadcast_to(K, (n, 3, 3))
    if K.shape != (n, 3, 3):
        raise bad_argument(f"intrinsics= must be a (3, 3) K, an ({n}, 3, 3) stack or {{fx, fy, cx, cy}}, got {K.shape}")
    if not np.isfinite(K).all() or (K[:, 0, 0] <= 0).any() or (K[:, 1, 1] <= 0).any():
        raise bad_argument("intrinsics= must be finite with fx > 0 and fy > 0 (pixels)")
    return np.array(K, dtype=np.float64)


def _gather_intrinsics(batch: FrameBatch, intrinsics: Any, metadata: Any) -> NDArray[np.float64] | None:
    if intrinsics is not None:
        return _intrinsics_matrix(intrinsics, len(batch))
    meta = metadata if metadata is not None else metadata_of(batch.source)
    if meta is None or getattr(meta, "intrinsics", None) is None:
        return None
    size = getattr(meta, "image_size", None)
    if size is not None and tuple(size) != tuple(batch.size):
        if metadata is not None:
            raise bad_argument(
                f"metadata= describes {size[0]}x{size[1]} frames but the frames are {batch.size[0]}x{batch.size[1]}: "
                "pass intrinsics= scaled to the frames"
            )
        return None
    return _intrinsics_matrix(meta.intrinsics, len(batch))


def _gather_poses(batch: FrameBatch, poses: Any) -> NDArray[np.float64] | None:
    n = len(batch)
    if poses is False:
        return None
    if poses is not None:
        P = np.asarray(poses, dtype=np.float64)
        if P.shape == (4, 4) and n == 1:
            P = P[None]
        if P.shape != (n, 4, 4):
            raise bad_argument(f"poses= must be ({n}, 4, 4) camera-to-world matrices, got {P.shape}")
    else:
        per = _from_frames(
            batch,
            "pose",
            "poses are",
            "pass frames of one input, poses= for every frame, or poses=False to estimate the cameras",
        )
        if per is None:
            return None
        P = np.stack([np.asarray(x, dtype=np.float64) for x in per])
    if not np.isfinite(P).all():
        raise bad_argument("poses contain NaN/inf: pass finite (4, 4) camera-to-world matrices, or poses=False")
    return np.array(P, dtype=np.float64)


def _choose_backend(backend: str | None, has_depth: bool) -> str:
    if backend is not None:
        if not isinstance(backend, str) or not backend:
            raise bad_argument(f"backend= must be a backend name such as 'rgbd' or 'da3', got {backend!r}")
        return backend
    configured = perception.default_backend("reconstruct")
    if configured and configured != "auto":
        return configured
    if has_depth:
        return "rgbd"
    return _rgb_only_backend()


_RGB_ONLY: dict[str, str] = {}


def _rgb_only_backend() -> str:
    """For frames without depth: ``"da3"`` where the server has it available, else ``"mono"`` where that is
    available, else ``"da3"`` (whose error then names the real options). Asked once per server URL (``/health``)."""
    config = perception.get_config()
    key = config.url if config else ""
    if key not in _RGB_ONLY:
        choice = "da3"
        try:
            answer = perception.health(timeout=10).get("backends", [])
            listed = {b.get("name"): b for b in answer if isinstance(b, dict)}
        except Exception:  # unreachable: the reconstruct call reports it
            listed = {}
        if not listed.get("da3", {}).get("available") and listed.get("mono", {}).get("available"):
            choice = "mono"
        _RGB_ONLY[key] = choice
    return _RGB_ONLY[key]


def _summary(rec: Reconstruction) -> str:
    w, h = rec.image_size
    fi = rec.frame_indices
    al = rec.alignment
    world = f"gravity-aligned ({al.get('method', '?')})" if al else "not gravity-aligned"
    span = f"{fi[0]}..{fi[-1]}" if len(fi) > 1 else str(fi[0])
    return f"{len(fi)} frames [{span}] {w}x{h}, backend {rec.backend}, {world}"


def Reconstruct(  # noqa: N802 - the agent-facing name is fixed by the API
    frames: Any,
    frame_indices: ArrayLike | None = None,
    *,
    backend: str | None = None,
    depth: Any = None,
    intrinsics: Any = None,
    poses: Any = None,
    metadata: Any = None,
    align_gravity: bool = True,
    max_frames: int | None = None,
    params: dict[str, Any] | None = None,
    timeout: float | None = None,
) -> Reconstruction:
    """Reconstruct frames in 3-D (metric depth, world point maps and cameras) on the perception server.

    Sources: RGB-D odometry over the given metric depth (backend ``"rgbd"``), or Depth Anything 3 from colour
    alone (``"da3"``). One call publishes one artifact record (``display_data``) for the host's 3-D viewer.

    Args:
        frames: ``InputImages`` or a slice of it (e.g. ``InputImages[::4]``), a list of input frames (their
            ``.frame_index`` is used), or PIL images / (H, W, 3) uint8 arrays together with ``frame_indices``.
            All frames must have one size; at most ``max_frames``.
        frame_indices: absolute frame indices, one per frame; only needed for images that are not input frames.
        backend: ``"rgbd"``, ``"da3"``, ``"mono"``, ...; default: the session's configured reconstruct backend, else
            ``"rgbd"`` when the frames carry depth, otherwise ``"da3"``, or ``"mono"`` where the server has mono
            available and not da3.
        depth: None: the frames' ``.depth`` (RGB-D inputs); an (N, H, W) float32 array (or list of (H, W)) in
            metres (0/NaN = invalid); False: send no depth.
        intrinsics: None: the frames' ``Metadata`` intrinsics when known; else a (3, 3) K, an (N, 3, 3) stack or
            ``{"fx", "fy", "cx", "cy"}``, pixels of the frames as given.
        poses: None: the frames' ``.pose`` (camera-to-world); an (N, 4, 4) array; False: let the backend
            estimate the cameras.
        metadata: the ``Metadata`` of the frames' input, if the frames are not an ``InputImages`` bound in
            this session (only its intrinsics are used).
        align_gravity: gravity-align the world frame (+Y up, floor at Y = 0, first camera looking toward -Z).
        max_frames: most frames allowed in this call (default :data:`MAX_FRAMES`, 64); also sent to the server.
        params: extra backend parameters, e.g. ``{"conf_threshold": 0.2}`` (docs/perception-api.md, "Params").
        timeout: seconds the server may spend on this job (default: the server's limit, 600 s by default).

    Returns:
        :class:`Reconstruction` keyed by the absolute frame indices; when the session's profile asks for the
        paper's extras, a :class:`~spatial_runtime.tools.reconstruct.paper.PaperReconstruction` gravity-aligned by
        the paper's rule instead of the server's (docs/paper-parity.md row 16).

    Raises:
        ToolError: (a ValueError) empty frames, frames of different sizes, too many frames, depth for only some
            frames, depth that is inf/negative or all 0/NaN in a frame, missing intrinsics for metric depth,
            malformed intrinsics/poses, or a 4xx answer from the server (its message and fix included).
        PerceptionUnavailable: no perception server in this session, or it is not reachable.
        PerceptionError: a server-side failure (5xx) or a timeout.
    """
    perception.require_config("tools.Reconstruct")
    limit = MAX_FRAMES if max_frames is None else int(max_frames)
    if limit < 1:
        raise bad_argument(f"max_frames must be >= 1, got {max_frames}")
    # Count first, so that too many video frames are refused before they are decoded.
    countable = isinstance(frames, (list, tuple)) or is_collection(frames)
    n = len(frames) if countable else 1
    if n <= limit:
        batch = collect_frames(frames, frame_indices, what="frames")
        n = len(batch)
    if n > limit:
        step = math.ceil(n / limit)
        raise bad_argument(
            f"Reconstruct got {n} frames but at most {limit} are allowed per call: subsample them, e.g. "
            f"tools.Reconstruct.Reconstruct(InputImages[::{step}]) ({math.ceil(n / step)} frames), or pass "
            "max_frames= (slower; the server's --max-frames must allow it)"
        )
    d = _gather_depth(batch, depth)
    K = _gather_intrinsics(batch, intrinsics, metadata)
    P = _gather_poses(batch, poses)
    name = _choose_backend(backend, d is not None)
    if name == "rgbd" and d is None:
        raise bad_argument(
            "backend 'rgbd' needs metric depth (measured; it cannot estimate depth), but these frames have none: "
            "pass frames of an RGB-D input or depth= (metres); or use backend='da3' or backend='mono' (depth "
            f"estimated from colour): {no_depth_advice()}"
        )
    if d is not None and K is None and name == "rgbd":
        raise bad_argument(
            "backend 'rgbd' needs the camera intrinsics to lift depth to 3-D, and none are known for these frames: "
            "pass intrinsics=Metadata.K (or {'fx', 'fy', 'cx', 'cy'} in pixels of these frames) or metadata=Metadata"
        )
    extras = paper.extras_active()  # the paper's gravity rule runs here, on an unaligned reconstruction
    req_params: dict[str, Any] = {"align_gravity": bool(align_gravity) and not extras}
    if max_frames is not None:
        req_params["max_frames"] = limit
    if params:
        if not isinstance(params, Mapping):
            raise bad_argument(f"params= must be a dict of backend parameters, got {type(params).__name__}")
        req_params.update(params)
    body = {
        "backend": name,
        "frames": batch.png(),
        "frame_indices": list(batch.frame_indices),
        "depth": None if d is None else perception.encode_npy(d),
        "intrinsics": None if K is None else perception.encode_npy(K),
        "poses": None if P is None else perception.encode_npy(P),
        "params": req_params,
        # Points and colours stay in the artifact (for the 3D viewer): the kernel lifts points from depth,
        # intrinsics and extrinsics itself and already has the frames, which halves the bytes on the wire.
        "return": list(COMPACT_RETURN),
    }
    reply = perception.post("/v1/reconstruct", body, tool="tools.Reconstruct", timeout=timeout)
    rec = _from_reply(reply, batch, name)
    if extras:
        rec = paper.finish(rec, batch, bool(align_gravity))
    artifact = reply["artifact"]
    summary = text_field(artifact, "summary")
    if extras and rec.alignment:  # the artifact keeps the server's frame; the kernel's result is aligned
        summary = f"{summary or _summary(rec)}; aligned to gravity in the kernel: {rec.alignment.get('method')}"
    publish_artifact(
        tool="Reconstruct",
        kind="reconstruction",
        artifact_id=rec.artifact_id,
        url=rec.url,
        summary=summary or _summary(rec),
        frame_indices=rec.frame_indices,
        shapes=_shapes(artifact, reply["arrays"]),
        cache=cache_status(reply),
    )
    return rec


def _shapes(artifact: dict[str, Any], arrays: dict[str, np.ndarray]) -> dict[str, list[int]]:
    shapes = artifact.get("shapes")
    if isinstance(shapes, dict) and shapes:
        return {str(k): [int(x) for x in v] for k, v in shapes.items()}
    return {k: list(v.shape) for k, v in arrays.items()}


def lift_points(
    depth: np.ndarray, intrinsics: np.ndarray, extrinsics: np.ndarray, valid: np.ndarray
) -> NDArray[np.float32]:
    """World points from depth, as the server defines them (docs/perception-api.md).

    Args:
        depth: (N, H, W) depth in metres along each camera's z axis.
        intrinsics: (N, 3, 3) pinhole K in pixels (skew ``K[0, 1]`` honoured).
        extrinsics: (N, 4, 4) camera-to-world, OpenCV camera axes.
        valid: (N, H, W) bool, the pixels that have a point (the server's ``valid`` array).

    Returns:
        (N, H, W, 3) float32 world points in metres (:func:`spatial_common.geometry.backproject`); NaN where
        ``valid`` is false or the depth is not a positive finite number.
    """
    return backproject(depth, intrinsics, extrinsics, valid=valid)


def _from_reply(reply: dict[str, Any], batch: FrameBatch, backend: str) -> Reconstruction:
    arrays = dict(reply["arrays"])
    if "points" not in arrays and {"valid", "depth", "intrinsics", "extrinsics"} <= arrays.keys():
        try:
            arrays["points"] = lift_points(arrays["depth"], arrays["intrinsics"], arrays["extrinsics"], arrays["valid"])
        except ValueError as err:
            raise _inconsistent(err) from None
    missing = [k for k in ("depth", "confidence", "points", "extrinsics", "intrinsics") if k not in arrays]
    if missing:
        raise PerceptionError(
            f"the perception server's reconstruction lacks {', '.join(missing)}; is the server up to date?",
            code="bad_reply",
        )
    indices = arrays.get("frame_indices")
    fi = batch.frame_indices if indices is None else [int(i) for i in np.asarray(indices).reshape(-1)]
    colors = arrays.get("colors")
    if colors is None and len(fi) == len(batch) and list(fi) == list(batch.frame_indices):
        colors = np.stack(batch.images)
    artifact = reply["artifact"]
    artifact_id = text_field(artifact, "id")
    try:
        return Reconstruction(
            fi,
            arrays["depth"],
            arrays["confidence"],
            arrays["points"],
            arrays["extrinsics"],
            arrays["intrinsics"],
            colors,
            info=reply.get("info") or {},
            artifact_id=artifact_id,
            url=artifact_url(reply.get("url"), artifact_id),
            backend=str(artifact.get("backend") or backend),
        )
    except ValueError as err:
        raise _inconsistent(err) from None


def _inconsistent(err: ValueError) -> PerceptionError:
    return PerceptionError(f"the perception server sent an inconsistent reconstruction: {err}", code="bad_reply")
