"""A randomly initialised tiny SAM 3 checkpoint (no weights can be downloaded here), for the sam3 backend's tests
and for end-to-end tests that need a real ``sam3`` perception server.

The checkpoint uses the same transformers classes as the real ``facebook/sam3`` (``Sam3VideoConfig`` holding a
``Sam3Config`` detector and a ``Sam3TrackerVideoConfig`` tracker; 56 px input, 14 px patches, small widths), saved
with ``save_pretrained`` next to a CLIP tokenizer built in memory (a byte-level BPE vocabulary of single
characters, no merges) and a ``preprocessor_config.json``; the backend loads it through its real loading path.
Its outputs are meaningless; a text prompt with threshold 0 gives :data:`NUM_QUERIES` masks.

    python test/python/sam3_tiny.py OUT_DIR     # write the checkpoint (seed 0), print OUT_DIR
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
import transformers
from perception_helpers import normalising_processor_config

IMAGE_SIZE, PATCH = 56, 14
NUM_QUERIES = 8


def tiny_config() -> transformers.Sam3VideoConfig:
    """A SAM 3 video config with the real structure and tiny sizes (~4 M parameters)."""
    n = IMAGE_SIZE // PATCH
    width = 128  # FPN / DETR / tracker width; must exceed the tracker's 64-channel memory (transformers splits it)
    vit = {
        "model_type": "sam3_vit_model",
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "image_size": IMAGE_SIZE,
        "patch_size": PATCH,
        "window_size": 2,
        "global_attn_indexes": [1],
        "pretrain_image_size": IMAGE_SIZE,
    }
    vision = {
        "model_type": "sam3_vision_model",
        "backbone_config": vit,
        "fpn_hidden_size": width,
        "backbone_feature_sizes": [[4 * n, 4 * n], [2 * n, 2 * n], [n, n]],
    }
    text = {
        "model_type": "clip_text_model",
        "vocab_size": 100,
        "hidden_size": 32,
        "intermediate_size": 64,
        "projection_dim": width,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "max_position_embeddings": 32,
        "bos_token_id": 0,
        "eos_token_id": 1,
        "pad_token_id": 1,
    }
    small = {"hidden_size": width, "num_attention_heads": 2, "intermediate_size": 64}
    detector = {
        "model_type": "sam3",
        "vision_config": vision,
        "text_config": text,
        "geometry_encoder_config": {**small, "num_layers": 1},
        "detr_encoder_config": {**small, "num_layers": 1},
        "detr_decoder_config": {**small, "num_layers": 1, "num_queries": NUM_QUERIES},
        "mask_decoder_config": {"hidden_size": width, "num_attention_heads": 2},
    }
    tracker = {
        "model_type": "sam3_tracker_video",
        "vision_config": vision,
        "image_size": IMAGE_SIZE,
        "prompt_encoder_config": {"hidden_size": width, "image_size": IMAGE_SIZE, "patch_size": PATCH},
        "mask_decoder_config": {
            "hidden_size": width,
            "mlp_dim": 64,
            "num_attention_heads": 2,
            "iou_head_hidden_dim": 32,
        },
        "memory_attention_hidden_size": width,
        "memory_attention_num_layers": 1,
        "memory_attention_feed_forward_hidden_size": 64,
        "memory_encoder_hidden_size": width,
        "memory_encoder_output_channels": 64,  # transformers hard-codes 64 in the memory cross-attention
        "mask_downsampler_embed_dim": width,
        "memory_fuser_embed_dim": width,
        "memory_fuser_intermediate_dim": 64,
        "num_maskmem": 3,
        "max_object_pointers_in_encoder": 4,
    }
    return transformers.Sam3VideoConfig(
        detector_config=detector,
        tracker_config=tracker,
        low_res_mask_size=4 * n,
        new_det_thresh=0.0,  # random scores are ~0.25: let every detection above the prompt threshold start a track
        hotstart_delay=2,
        hotstart_unmatch_thresh=2,
        hotstart_dup_thresh=2,
    )


def tiny_tokenizer() -> transformers.CLIPTokenizer:
    """A CLIP tokenizer (byte-level BPE) over lowercase letters and digits, with no merges: one token per char."""
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for ch in "abcdefghijklmnopqrstuvwxyz0123456789":
        vocab[ch] = len(vocab)
        vocab[ch + "</w>"] = len(vocab)
    return transformers.CLIPTokenizer(vocab=vocab, merges=[])


def write_checkpoint(root: Path, seed: int = 0) -> transformers.Sam3VideoModel:
    """Write the tiny checkpoint into ``root`` (created if missing); returns the model it holds."""
    root.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    model = transformers.Sam3VideoModel(tiny_config()).eval()
    model.save_pretrained(root)
    tiny_tokenizer().save_pretrained(root)
    # What Sam3ImageProcessor.save_pretrained writes (the class itself needs torchvision, absent here).
    (root / "preprocessor_config.json").write_text(
        json.dumps(normalising_processor_config("Sam3ImageProcessor", IMAGE_SIZE))
    )
    return model


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python test/python/sam3_tiny.py OUT_DIR")
    write_checkpoint(Path(sys.argv[1]))
    print(sys.argv[1])
