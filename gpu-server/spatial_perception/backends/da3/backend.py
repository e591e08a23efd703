"""The da3 backend (see :mod:`spatial_perception.backends.da3`): availability, the local checkpoint, the device,
loading the model once, and the reconstruct route (model call, then post-processing).

Device: ``device=`` / env ``SPATIAL_PERCEPTION_DA3_DEVICE`` (``"cpu"``, ``"cuda"``, ``"cuda:N"``); default
``"cuda"`` when torch sees a GPU, else ``"cpu"``. On CPU the package runs as is (its forward uses CPU autocast
with float16, checked with torch 2.13), slowly: ``info.notes`` and the server log say so.

Nothing is downloaded: ``HF_HUB_OFFLINE=1`` is set when this module is imported.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Any

from spatial_common.reconstruct_options import DA3_CHECKPOINT, DA3_PACKAGE, rgb_video_options

from spatial_perception.backends.base import (
    Backend,
    Reconstruction,
    ReconstructRequest,
    default_torch_device,
    has_module,
)
from spatial_perception.backends.da3.model import run_model
from spatial_perception.backends.da3.params import parse_params, validate_request
from spatial_perception.backends.da3.postprocess import cancelled, postprocess
from spatial_perception.errors import BackendUnavailable

os.environ["HF_HUB_OFFLINE"] = "1"
log = logging.getLogger("spatial_perception")

PACKAGE = "depth_anything_3"
ENV_CHECKPOINT = "SPATIAL_PERCEPTION_DA3_CHECKPOINT"
ENV_DEVICE = "SPATIAL_PERCEPTION_DA3_DEVICE"
PACKAGE_FIX = (
    f"install {DA3_PACKAGE} into this server's Python (with CUDA torch on a GPU machine; on CPU it runs, slowly), "
    "then restart the server"
)
CHECKPOINT_FIX = (
    f"pass --da3-checkpoint DIR or set {ENV_CHECKPOINT}=DIR: {DA3_CHECKPOINT}, a local copy of a Hugging Face "
    "depth-anything/DA3* repository; weights are never downloaded"
)
CPU_NOTE = "da3 ran on the CPU: correct but slow (a GPU is one to two orders of magnitude faster)"
HF_CACHE_PREFERENCE = (  # most capable first; any other depth-anything repository after these
    "DA3NESTED-GIANT-LARGE-1.1",
    "DA3NESTED-GIANT-LARGE",
    "DA3-GIANT-1.1",
    "DA3-GIANT",
    "DA3-LARGE-1.1",
    "DA3-LARGE",
    "DA3-BASE",
    "DA3-SMALL",
)


def hf_cache_dir() -> Path:
    """The local Hugging Face hub cache: ``HF_HUB_CACHE``, else ``$HF_HOME/hub``, else ``~/.cache/huggingface/hub``."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]) / "hub"
    return Path.home() / ".cache" / "huggingface" / "hub"


def find_cached_checkpoint(cache: Path | None = None) -> Path | None:
    """The snapshot directory of a cached ``depth-anything/*`` model with a ``config.json`` (preference order in
    :data:`HF_CACHE_PREFERENCE`, then alphabetical), or None."""
    cache = cache or hf_cache_dir()
    if not cache.is_dir():
        return None
    repos = {p.name[len("models--depth-anything--") :].upper(): p for p in cache.glob("models--depth-anything--*")}
    order = [n for n in HF_CACHE_PREFERENCE if n in repos] + sorted(n for n in repos if n not in HF_CACHE_PREFERENCE)
    for name in order:
        snapshots = sorted((repos[name] / "snapshots").glob("*"), key=lambda p: p.stat().st_mtime, reverse=True)
        for snap in snapshots:
            if (snap / "config.json").is_file():
                return snap
    return None


class DA3Backend(Backend):
    """Depth Anything 3 reconstruction (module docstring).

    Args:
        checkpoint: local checkpoint directory; default: env ``SPATIAL_PERCEPTION_DA3_CHECKPOINT``, else the local
            Hugging Face cache.
        device: torch device string (``"cpu"``, ``"cuda"``, ``"cuda:N"``); default: env
            ``SPATIAL_PERCEPTION_DA3_DEVICE``, else ``"cuda"`` when torch sees a GPU, else ``"cpu"`` (slow).
    """

    name = "da3"
    version = "1"
    capabilities = frozenset({"reconstruct"})

    def __init__(self, checkpoint: str | None = None, device: str | None = None) -> None:
        self.checkpoint = checkpoint or os.environ.get(ENV_CHECKPOINT) or None
        self.device = device or os.environ.get(ENV_DEVICE) or default_torch_device()
        self._lock = threading.Lock()
        self._model: Any = None
        self._load_error: str | None = None

    def checkpoint_dir(self) -> Path | None:
        """The configured checkpoint directory, else a cached one, else None."""
        if self.checkpoint:
            return Path(self.checkpoint)
        return find_cached_checkpoint()

    def available(self) -> tuple[bool, str | None]:
        """Check the package, torch and the checkpoint files without importing or loading the model."""
        if not has_module(PACKAGE):
            return False, (
                f"the Depth Anything 3 package ({PACKAGE}) is not installed in this server's Python, so da3 cannot "
                f"run here; to reconstruct frames without depth: {rgb_video_options()}"
            )
        if not has_module("torch"):
            return False, "torch is not installed: pip install -r gpu-server/requirements-gpu.txt"
        if str(self.device).startswith("cuda") and not _cuda_available():
            return False, (
                f"da3 is set to run on {self.device} but torch sees no CUDA GPU here: unset {ENV_DEVICE} to run "
                f"on the CPU (slow), or to reconstruct frames without depth: {rgb_video_options(exclude=['da3-cpu'])}"
            )
        if self._load_error is not None:
            return False, self._load_error
        root = self.checkpoint_dir()
        if root is None:
            return False, f"no DA3 checkpoint configured and none in the Hugging Face cache {hf_cache_dir()}: " + (
                CHECKPOINT_FIX
            )
        if not root.is_dir():
            return False, f"DA3 checkpoint directory {root} does not exist: {CHECKPOINT_FIX}"
        if not (root / "config.json").is_file():
            return False, f"{root} has no config.json: {CHECKPOINT_FIX}"
        if not any(root.glob("*.safetensors")) and not any(root.glob("*.bin")):
            return False, f"{root} has no weights (*.safetensors): {CHECKPOINT_FIX}"
        return True, None

    def _load(self) -> Any:
        """The model, loaded on first use (once). Raises BackendUnavailable (and remembers a load failure)."""
        with self._lock:
            if self._model is not None:
                return self._model
            self._require_available()
            root = self.checkpoint_dir()
            try:
                from depth_anything_3.api import DepthAnything3

                model = DepthAnything3.from_pretrained(str(root), local_files_only=True)
                model = model.to(self.device)
                model.eval()
            except Exception as exc:
                self._load_error = f"could not load Depth Anything 3 from {root}: {type(exc).__name__}: {exc}"
                raise BackendUnavailable(self._load_error, fix=CHECKPOINT_FIX) from exc
            if str(self.device) == "cpu":
                log.warning("%s (checkpoint %s)", CPU_NOTE, root)
            self._model = model
            return model

    def reconstruct(self, req: ReconstructRequest, cancel: threading.Event) -> Reconstruction:
        """Reconstruct the request's frames with DA3 (module docstring).

        Raises:
            BackendUnavailable: package, torch or checkpoint missing, or the checkpoint does not load.
            BadRequest: malformed frames/depth/intrinsics/poses or params; a monocular checkpoint without the
                cameras it needs.
            Cancelled: ``cancel`` was set (checked before and after the model and between frames).
        """
        params = parse_params(req.params)
        frames, indices, depth, K, poses = validate_request(req)
        self._require_available()
        if cancel.is_set():
            raise cancelled()
        model = self._load()
        raw = run_model(model, frames, intrinsics=K, poses=poses, process_res=params["process_res"])
        if cancel.is_set():
            raise cancelled()
        recon = postprocess(
            raw,
            [f.shape[:2] for f in frames],
            frames,
            indices,
            params,
            metric_depth=depth,
            intrinsics=K,
            poses=poses,
            cancel=cancel,
        )
        recon.info["device"] = str(self.device)
        if str(self.device) == "cpu":
            recon.info.setdefault("notes", []).append(CPU_NOTE)
        recon.info["checkpoint"] = str(self.checkpoint_dir())
        return recon

    def _require_available(self) -> None:
        """Raises BackendUnavailable with the reason of :meth:`available` when the backend cannot run."""
        ok, reason = self.available()
        if not ok:
            if not has_module(PACKAGE):
                fix = f"{PACKAGE_FIX}; or {rgb_video_options(['da3-cpu'])}"
            elif str(self.device).startswith("cuda") and not _cuda_available():
                fix = f"unset {ENV_DEVICE} (da3 then runs on the CPU, slowly) or run the server on a GPU machine"
            else:
                fix = CHECKPOINT_FIX
            raise BackendUnavailable(reason or "da3 is unavailable", fix=fix)


def _cuda_available() -> bool:
    """Whether torch sees a CUDA GPU (False for a broken torch install)."""
    try:
        import torch

        return bool(torch.cuda.is_available())
    except Exception:
        return False
