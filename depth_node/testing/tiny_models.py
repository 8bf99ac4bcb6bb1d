# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
Tiny randomly initialised checkpoints built from transformers configs.

They are saved with ``save_pretrained`` and loaded back through the same code
path as real checkpoints (``depth_node.models.load_model``); no weights are
downloaded.
"""

import json
import os

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


def make_zoedepth(path, *, heads: str = 'nyu', seed: int = 0,
                  size=(96, 128)) -> str:
    """
    Save a tiny ZoeDepth checkpoint into ``path``.

    ``heads`` is ``'nyu'`` (like Intel/zoedepth-nyu: one softplus head, 10 m),
    ``'kitti'`` (like Intel/zoedepth-kitti as converted: one *normed* head named
    nyu, 10 m) or ``'nyu-kitti'`` (two heads, 10 m and 80 m, and the router).
    The processor is the hub one (keep aspect, multiple of 32, reflect padding,
    bilinear, mean = std = 0.5) at a smaller ``size`` (height, width).
    """
    from transformers import (BeitConfig, ZoeDepthConfig, ZoeDepthForDepthEstimation,
                              ZoeDepthImageProcessorPil)
    backbone = BeitConfig(
        image_size=64, patch_size=16, hidden_size=32, num_hidden_layers=4,
        num_attention_heads=2, intermediate_size=64, use_relative_position_bias=True,
        reshape_hidden_states=False, out_features=['stage1', 'stage2', 'stage3', 'stage4'])
    bins = [{'name': 'nyu', 'n_bins': 8, 'min_depth': 1e-3, 'max_depth': 10.0}]
    extra = {}
    if heads == 'nyu-kitti':
        bins.append({'name': 'kitti', 'n_bins': 8, 'min_depth': 1e-3, 'max_depth': 80.0})
        # The router's MLP takes 128 features and the patch transformer has 4 layers (fixed).
        extra = dict(num_patch_transformer_layers=4, patch_transformer_hidden_size=128,
                     patch_transformer_intermediate_size=64,
                     patch_transformer_num_attention_heads=2)
    config = ZoeDepthConfig(
        backbone_config=backbone, neck_hidden_sizes=[8, 16, 32, 32], fusion_hidden_size=16,
        num_relative_features=8, bottleneck_features=16, num_attractors=[4, 2, 2, 1],
        bin_embedding_dim=8, bin_centers_type='normed' if heads == 'kitti' else 'softplus',
        bin_configurations=bins, **extra)
    torch.manual_seed(seed)
    model = ZoeDepthForDepthEstimation(config).eval()
    _perturb(model, seed, std=0.2)
    model.save_pretrained(str(path))
    ZoeDepthImageProcessorPil(
        size={'height': size[0], 'width': size[1]}, keep_aspect_ratio=True,
        ensure_multiple_of=32, do_pad=True, resample=2, image_mean=[0.5, 0.5, 0.5],
        image_std=[0.5, 0.5, 0.5]).save_pretrained(str(path))
    return str(path)


def make_depth_pro(path, *, use_fov_model: bool = True, fov_deg: float = 55.0,
                   seed: int = 0) -> str:
    """
    Save a tiny Depth Pro checkpoint (three DINOv2 encoders, FOV head) into ``path``.

    Shaped like apple/DepthPro-hf at a quarter of the patch size: scales 0.25/0.5/1
    of a 128 x 128 input (the hub model: 1536 x 1536), canonical inverse depth at
    the input size. The FOV head's last bias is set so it predicts about
    ``fov_deg`` degrees. The processor config is written as JSON, because
    DepthProImageProcessor needs torchvision.
    """
    from transformers import DepthProConfig, DepthProForDepthEstimation
    encoder = {'model_type': 'dinov2', 'num_hidden_layers': 2, 'hidden_size': 16,
               'num_attention_heads': 1, 'patch_size': 16, 'intermediate_size': 32}
    config = DepthProConfig(
        patch_size=32, fusion_hidden_size=16, intermediate_hook_ids=[1, 0],
        intermediate_feature_dims=[8, 8], scaled_images_ratios=[0.25, 0.5, 1.0],
        scaled_images_overlap_ratios=[0.0, 0.5, 0.25], scaled_images_feature_dims=[16, 16, 8],
        use_fov_model=use_fov_model, image_model_config=dict(encoder),
        patch_model_config=dict(encoder), fov_model_config=dict(encoder))
    torch.manual_seed(seed)
    model = DepthProForDepthEstimation(config).eval()
    _perturb(model, seed, std=0.05)
    with torch.no_grad():
        # Keep the canonical inverse depth positive and of order 1 (the head ends in
        # conv + ReLU over ReLU features: non-negative weights and a positive bias) ...
        last = model.head.layers[-2]
        last.weight.abs_().mul_(0.003)
        last.bias.fill_(1.0)
        if use_fov_model:
            # ... and the field of view plausible (the FOV head ends in a plain conv).
            model.fov_model.head.layers[-1].bias.fill_(fov_deg)
    model.save_pretrained(str(path))
    processor = {
        'image_processor_type': 'DepthProImageProcessor', 'do_resize': True,
        'size': {'height': 128, 'width': 128}, 'resample': 2, 'do_rescale': True,
        'rescale_factor': 1 / 255, 'do_normalize': True, 'image_mean': [0.5, 0.5, 0.5],
        'image_std': [0.5, 0.5, 0.5]}
    with open(os.path.join(str(path), 'preprocessor_config.json'), 'w') as f:
        json.dump(processor, f, indent=2)
    return str(path)


def textured_image(height: int, width: int, seed: int = 0):
    """Return a smooth but textured ``H x W x 3`` uint8 test image (noise resamples harshly)."""
    import numpy as np
    from PIL import Image as PILImage
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (max(height // 8, 2), max(width // 8, 2), 3), dtype=np.uint8)
    return np.asarray(PILImage.fromarray(small).resize((width, height), PILImage.BILINEAR))


if __name__ == '__main__':
    # python test/tiny_models.py DIR [depth_anything|zoedepth|depth_pro]: a tiny random
    # checkpoint for trying the tools offline (make demo MODEL=DIR); its depth is noise.
    import sys
    makers = {'depth_anything': make_depth_anything, 'zoedepth': make_zoedepth,
              'depth_pro': make_depth_pro}
    if len(sys.argv) not in (2, 3) or (len(sys.argv) == 3 and sys.argv[2] not in makers):
        sys.exit(f'usage: {sys.argv[0]} DIR [{"|".join(makers)}]')
    print(makers[sys.argv[2] if len(sys.argv) == 3 else 'depth_anything'](sys.argv[1]))
