# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
Tiny randomly initialised checkpoints built from transformers configs.

They are saved with ``save_pretrained`` and loaded back through the same code
path as real checkpoints (``depth_node.models.load_model``); no weights are
downloaded. Depth Anything 3 is written in its official (non-transformers) file
format instead, as on the hub.
"""

import json
import math
import os

import torch
import torch.nn.functional as F

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


def make_depth_anything_3(path, *, model_name: str = 'da3metric-large', sky: str = 'none',
                          seed: int = 0, large: bool = False) -> str:
    """
    Save a random Depth Anything 3 checkpoint in the official hub format into ``path``.

    Like depth-anything/DA3METRIC-LARGE: ``config.json`` naming the preset (plus its
    ``config`` section) and ``model.safetensors`` with the official wrapper's keys
    (``model.backbone.pretrained...``, ``model.head...``). The backbone is a 4-layer
    32-wide ViT/14; ``embed_dim``, ``depth`` and ``num_heads`` in ``net`` set that
    size (the official package, which fixes the size by preset name, ignores them).
    ``large``: the real DA3METRIC-LARGE architecture instead (ViT-L, 334 M parameters,
    1.3 GB), for benchmarks. Canonical depth is about 2 (exp of a random map around
    log 2). ``sky``: ``'none'`` (sky head below the 0.3 threshold everywhere),
    ``'all'`` (above everywhere) or ``'some'`` (a random part of the image).
    """
    from safetensors.torch import save_file
    from depth_node.models.da3_net import DepthAnything3Net
    from depth_node.models.depth_anything_3 import _net_config, MONO_LARGE
    net_args = dict(MONO_LARGE['net'])
    head_args = dict(MONO_LARGE['head'])
    if not large:
        net_args.update(name='vits', out_layers=[0, 1, 2, 3], embed_dim=32, depth=4,
                        num_heads=2)
        head_args.update(dim_in=32, features=16, out_channels=[8, 16, 32, 32])
    torch.manual_seed(seed)
    net = DepthAnything3Net(_net_config({'net': net_args, 'head': head_args}, str(path)))
    net.eval()
    _perturb(net, seed, std=0.05)
    # Calibrate the two last 1x1 convolutions on a reference image: log canonical depth
    # log(2) +- 0.3, and the sky activation above 0.3 on the highest-scoring 30 %.
    scratch = net.head.scratch
    feature = {}
    hook = scratch.output_conv2[0].register_forward_pre_hook(
        lambda module, args: feature.update(x=args[0]))
    ref = torch.tensor(textured_image(140, 182, seed=99)).permute(2, 0, 1)[None].float()
    with torch.no_grad():
        net((ref / 255.0 - 0.45) / 0.225)
        hook.remove()
        for conv, target in ((scratch.output_conv2, 'depth'), (scratch.sky_output_conv2, sky)):
            hidden = conv[1](conv[0](feature['x']))
            last = conv[2]
            value = F.conv2d(hidden, last.weight)
            scale = 1.0 / float(value.std().clamp_min(1e-6))
            if target == 'depth':
                last.weight.mul_(0.3 * scale)
                last.bias.fill_(math.log(2.0) - 0.3 * scale * float(value.mean()))
            elif target == 'some':
                last.weight.mul_(scale)
                last.bias.fill_(0.3 - scale * float(value.flatten().quantile(0.7)))
            else:
                last.weight.zero_()
                last.bias.fill_(-5.0 if target == 'none' else 5.0)
    os.makedirs(str(path), exist_ok=True)
    state = {f'model.{k}': v.contiguous() for k, v in net.state_dict().items()}
    save_file(state, os.path.join(str(path), 'model.safetensors'))
    config = {'model_name': model_name, 'config': {
        '__object__': {'path': 'depth_anything_3.model.da3', 'name': 'DepthAnything3Net',
                       'args': 'as_params'},
        'net': {'__object__': {'path': 'depth_anything_3.model.dinov2.dinov2', 'name': 'DinoV2',
                               'args': 'as_params'}, **net_args},
        'head': {'__object__': {'path': 'depth_anything_3.model.dpt', 'name': 'DPT',
                                'args': 'as_params'}, **head_args}}}
    with open(os.path.join(str(path), 'config.json'), 'w') as f:
        json.dump(config, f, indent=2)
    return str(path)


def textured_image(height: int, width: int, seed: int = 0):
    """Return a smooth but textured ``H x W x 3`` uint8 test image (noise resamples harshly)."""
    import numpy as np
    from PIL import Image as PILImage
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (max(height // 8, 2), max(width // 8, 2), 3), dtype=np.uint8)
    return np.asarray(PILImage.fromarray(small).resize((width, height), PILImage.BILINEAR))


if __name__ == '__main__':
    # python -m depth_node.testing.tiny_models DIR [depth_anything|zoedepth|depth_pro|
    # depth_anything_3]: a tiny random checkpoint for trying the tools offline (make demo
    # MODEL=DIR); its depth is noise. depth_anything_3_large: DA3METRIC-LARGE's real
    # architecture with random weights (benchmarks).
    import sys
    makers = {'depth_anything': make_depth_anything, 'zoedepth': make_zoedepth,
              'depth_pro': make_depth_pro, 'depth_anything_3': make_depth_anything_3,
              'depth_anything_3_large': lambda p: make_depth_anything_3(p, large=True)}
    if len(sys.argv) not in (2, 3) or (len(sys.argv) == 3 and sys.argv[2] not in makers):
        sys.exit(f'usage: {sys.argv[0]} DIR [{"|".join(makers)}]')
    print(makers[sys.argv[2] if len(sys.argv) == 3 else 'depth_anything'](sys.argv[1]))


def predictions_of(depth_of):
    """
    Return a stand-in for ``DepthModel.predict_many`` whose depth is ``depth_of``'s.

    ``depth_of(pixels, rgb_order, focal=..., timings=...)`` returns the ``H x W``
    metres of one image; tests put the result in place of a model's
    ``predict_many`` to feed the frame path a known depth (a plane, a step with
    flying pixels). An exception it raises is that image's result, as the real
    ``predict_many`` reports it.
    """
    def predict_many(requests, max_batch=0):
        for index, request in enumerate(requests):
            try:
                result = depth_of(request.pixels, request.rgb_order, focal=request.focal,
                                  timings=request.timings)
            except Exception as exc:  # noqa: B902 - reported as the item's result
                result = exc
            yield index, result
    return predict_many
