# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
Tiny randomly initialised checkpoints built from transformers configs.

They are saved with ``save_pretrained`` and loaded back through the same code
path as real checkpoints (``depth_node.models.load_model``); no weights are
downloaded.
"""

import torch

IMAGENET = dict(image_mean=[0.485, 0.456, 0.406], image_std=[0.229, 0.224, 0.225])


def _perturb(model, seed: int, std: float = 0.12) -> None:
    """Randomise every weight so the output depends on the image (not a constant)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=gen) * std)


def make_depth_anything(path, *, max_depth: int = 20, metric: bool = True,
                        seed: int = 0) -> str:
    """Save a tiny Depth Anything (V2-style metric head) checkpoint into ``path``."""
    from transformers import (DepthAnythingConfig, DepthAnythingForDepthEstimation,
                              Dinov2Config, DPTImageProcessorPil)
    backbone = Dinov2Config(
        image_size=518, patch_size=14, hidden_size=32, num_hidden_layers=4,
        num_attention_heads=2, intermediate_size=64, out_indices=[1, 2, 3, 4],
        reshape_hidden_states=False)
    config = DepthAnythingConfig(
        backbone_config=backbone, reassemble_hidden_size=32, neck_hidden_sizes=[8, 16, 32, 32],
        fusion_hidden_size=16, head_hidden_size=8,
        depth_estimation_type='metric' if metric else 'relative', max_depth=max_depth)
    torch.manual_seed(seed)
    model = DepthAnythingForDepthEstimation(config).eval()
    _perturb(model, seed)
    model.save_pretrained(str(path))
    DPTImageProcessorPil(
        size={'height': 518, 'width': 518}, keep_aspect_ratio=True, ensure_multiple_of=14,
        resample=3, do_pad=False, **IMAGENET).save_pretrained(str(path))
    return str(path)
