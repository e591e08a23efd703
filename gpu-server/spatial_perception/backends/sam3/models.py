"""SAM 3 models of the sam3 backend (see :mod:`spatial_perception.backends.sam3`): availability checks, lazy
loading from the local checkpoint, the tokenizer, the image pre-processing, mask upsampling and inference
sessions. Nothing is ever downloaded: ``HF_HUB_OFFLINE=1`` is set when this module is imported.
"""

from __future__ import annotations

import json
import math
import os
import threading
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from spatial_perception.backends.base import Backend, default_torch_device, has_module
from spatial_perception.errors import BackendUnavailable, Cancelled

# Never reach the Hugging Face Hub from the perception server (also keeps transformers' optional hub kernels off).
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

ENV_CHECKPOINT = "SPATIAL_PERCEPTION_SAM3_CHECKPOINT"
INSTALL_FIX = "pip install -r gpu-server/requirements-gpu.txt"
CHECKPOINT_FIX = (
    f"pass --sam3-checkpoint DIR or set {ENV_CHECKPOINT}=DIR: a local copy of the Hugging Face 'facebook/sam3' "
    "repository (config.json, model.safetensors, tokenizer.json or vocab.json+merges.txt, tokenizer_config.json, "
    "preprocessor_config.json); weights are never downloaded by the server"
)
TEXT_MAX_TOKENS = 32  # SAM 3's text encoder context (the transformers processor pads to 32)
DTYPES = ("float32", "bfloat16", "float16")
_MODEL_CLASSES = {"detector": "Sam3Model", "tracker": "Sam3TrackerVideoModel", "video": "Sam3VideoModel"}


def cancelled() -> Cancelled:
    """The error a route raises when the server set its cancel event."""
    return Cancelled("segmentation cancelled by the server (client gone or timeout)")


def logit(p: float) -> float:
    """log(p / (1 - p)): a probability threshold on the scale of mask logits (p in (0, 1))."""
    return math.log(p / (1.0 - p))


class Sam3Models(Backend):
    """Base of :class:`~spatial_perception.backends.sam3.SAM3Backend`: the checkpoint, device, dtype and models.

    Args:
        checkpoint: local checkpoint directory; default: env ``SPATIAL_PERCEPTION_SAM3_CHECKPOINT``.
        device: torch device string; default ``"cuda"`` when torch sees a GPU, else ``"cpu"``.
        dtype: ``"float32"`` (default), ``"bfloat16"`` or ``"float16"`` for the weights and activations.

    Raises:
        ValueError: an unknown ``dtype``.
    """

    def __init__(self, checkpoint: str | None = None, device: str | None = None, dtype: str | None = None) -> None:
        self.checkpoint = checkpoint or os.environ.get(ENV_CHECKPOINT) or None
        if dtype is not None and dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
        self.dtype = dtype or "float32"
        self.device = device or default_torch_device()
        self._lock = threading.Lock()
        self._models: dict[str, Any] = {}
        self._tokenizer: Any = None
        self._preprocess_cfg: dict[str, Any] | None = None
        self._load_error: str | None = None

    # ----------------------------------------------------------------------------------------------------------
    # Availability and loading

    def available(self) -> tuple[bool, str | None]:
        """Check the dependencies and the checkpoint directory without loading anything (cheap; no network)."""
        if not (has_module("torch") and has_module("transformers")):
            return False, f"sam3 needs torch and transformers (with SAM 3): {INSTALL_FIX}"
        if not has_module("transformers.models.sam3_video"):
            return False, f"the installed transformers has no SAM 3 models (transformers >= 5 needed): {INSTALL_FIX}"
        if self._load_error is not None:
            return False, self._load_error
        if not self.checkpoint:
            return False, f"no SAM 3 checkpoint configured: {CHECKPOINT_FIX}"
        root = Path(self.checkpoint)
        if not root.is_dir():
            return False, f"SAM 3 checkpoint directory {root} does not exist: {CHECKPOINT_FIX}"
        if not (root / "config.json").is_file():
            return False, f"{root} has no config.json, so it is not a transformers SAM 3 checkpoint: {CHECKPOINT_FIX}"
        weights = list(root.glob("*.safetensors")) + list(root.glob("pytorch_model*.bin"))
        if not weights:
            return False, f"{root} has config.json but no weights (*.safetensors): {CHECKPOINT_FIX}"
        return True, None

    def _require_available(self) -> None:
        ok, reason = self.available()
        if not ok:
            raise BackendUnavailable(reason or "sam3 is unavailable", fix=CHECKPOINT_FIX)

    def _torch_dtype(self) -> Any:
        import torch

        return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[self.dtype]

    def _model(self, kind: str) -> Any:
        """The model for ``kind`` ("detector" | "tracker" | "video"), loaded on first use.

        Raises:
            BackendUnavailable: dependencies or checkpoint missing, or the checkpoint does not load completely.
        """
        with self._lock:
            if kind in self._models:
                return self._models[kind]
            self._require_available()
            import transformers

            cls_name = _MODEL_CLASSES[kind]
            cls = getattr(transformers, cls_name)
            try:
                model, info = cls.from_pretrained(
                    self.checkpoint, local_files_only=True, dtype=self._torch_dtype(), output_loading_info=True
                )
            except Exception as exc:
                raise BackendUnavailable(
                    f"could not load {cls_name} from {self.checkpoint}: {type(exc).__name__}: {exc}",
                    fix=CHECKPOINT_FIX,
                ) from exc
            missing = sorted(info.get("missing_keys") or [])
            if missing:
                self._load_error = (
                    f"{self.checkpoint} lacks {len(missing)} weights of {cls_name} (e.g. {', '.join(missing[:3])}); "
                    "it is not a complete transformers SAM 3 checkpoint"
                )
                raise BackendUnavailable(self._load_error, fix=CHECKPOINT_FIX)
            model.to(self.device).eval()
            self._models[kind] = model
            return model

    def _tokenize(self, text: str) -> tuple[Any, Any]:
        """Token ids and attention mask, both (1, 32) int64 on the device (the text truncated to 32 tokens)."""
        with self._lock:
            if self._tokenizer is None:
                from transformers import AutoTokenizer

                try:
                    self._tokenizer = AutoTokenizer.from_pretrained(self.checkpoint, local_files_only=True)
                except Exception as exc:
                    raise BackendUnavailable(
                        f"could not load the SAM 3 tokenizer from {self.checkpoint}: {type(exc).__name__}: {exc}",
                        fix=CHECKPOINT_FIX,
                    ) from exc
            tok = self._tokenizer
        enc = tok([text], padding="max_length", max_length=TEXT_MAX_TOKENS, truncation=True, return_tensors="pt")
        return enc["input_ids"].to(self.device), enc["attention_mask"].to(self.device)

    def _preprocessing(self) -> dict[str, Any]:
        """``rescale_factor``, ``image_mean``, ``image_std`` from ``preprocessor_config.json`` (SAM 3 defaults)."""
        if self._preprocess_cfg is None:
            cfg: dict[str, Any] = {"rescale_factor": 1.0 / 255.0, "image_mean": [0.5] * 3, "image_std": [0.5] * 3}
            root = Path(self.checkpoint or ".")
            for fname, sub in (("preprocessor_config.json", None), ("processor_config.json", "image_processor")):
                path = root / fname
                if not path.is_file():
                    continue
                try:
                    data = json.loads(path.read_text())
                except (OSError, json.JSONDecodeError) as exc:
                    raise BackendUnavailable(f"{path}: unreadable ({exc})", fix=CHECKPOINT_FIX) from exc
                if sub is not None:
                    data = data.get(sub) or {}
                for key in cfg:
                    if key in data and data[key] is not None:
                        cfg[key] = data[key]
                if data.get("do_rescale") is False:
                    cfg["rescale_factor"] = 1.0
                if data.get("do_normalize") is False:
                    cfg["image_mean"], cfg["image_std"] = [0.0] * 3, [1.0] * 3
                break
            self._preprocess_cfg = cfg
        return self._preprocess_cfg

    # ----------------------------------------------------------------------------------------------------------
    # Pre- and post-processing

    def _pixels(self, frames: list[NDArray[np.uint8]], size: int, cancel: threading.Event | None = None) -> Any:
        """Model input (T, 3, S, S) in the model dtype on the device: resize, rescale, normalise (module docstring)."""
        import torch
        import torch.nn.functional as F

        cfg = self._preprocessing()
        mean = torch.tensor(cfg["image_mean"], dtype=torch.float32, device=self.device).view(3, 1, 1)
        std = torch.tensor(cfg["image_std"], dtype=torch.float32, device=self.device).view(3, 1, 1)
        out = torch.empty((len(frames), 3, size, size), dtype=self._torch_dtype(), device=self.device)
        for i, frame in enumerate(frames):
            if cancel is not None and cancel.is_set():
                raise cancelled()
            x = torch.from_numpy(np.ascontiguousarray(frame)).to(self.device).permute(2, 0, 1)[None].float()
            x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)[0]
            out[i] = ((x * float(cfg["rescale_factor"]) - mean) / std).to(out.dtype)
        return out

    @staticmethod
    def _upsample(logits: Any, hw: tuple[int, int]) -> Any:
        """(K, h, w) mask logits or probabilities -> (K, H, W) float32, bilinear, ``align_corners=False``."""
        import torch.nn.functional as F

        if logits.shape[0] == 0:
            return logits.float().new_zeros((0, *hw))
        return F.interpolate(logits[:, None].float(), size=hw, mode="bilinear", align_corners=False)[:, 0]

    def _session(self, session_class: Any, pixels: Any, hw: tuple[int, int]) -> Any:
        """A transformers video inference session over ``pixels`` (T, 3, S, S) of frames ``hw`` = (H, W), with
        inference, state and video storage on the backend's device."""
        return session_class(
            video=pixels,
            video_height=hw[0],
            video_width=hw[1],
            inference_device=self.device,
            inference_state_device=self.device,
            video_storage_device=self.device,
            dtype=self._torch_dtype(),
        )
