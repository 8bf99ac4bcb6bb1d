# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
Depth Anything 3 metric: our network, pre-processing and scaling against the official package.

The reference is the official ``depth-anything-3`` wheel (ByteDance-Seed/Depth-Anything-3,
pinned in the Makefile), installed with ``--no-deps`` plus the light packages its model
modules import (addict, omegaconf, einops; imageio for the input processor). Only its
model modules, ``utils.alignment`` and ``utils.io.input_processor`` are used, never
``api.py`` (which pulls the export stack). The input processor imports torchvision at
import time for three transforms; torchvision is not installable here, so while that
module is imported (and only then) ``torchvision.transforms`` is a stub providing
``ToTensor`` (HWC uint8 -> CHW float / 255, as torchvision's) and ``Normalize``
(``(x - mean) / std`` per channel, as torchvision's); ``CenterCrop``, used only for
batches of mixed sizes, raises. The stub is removed from ``sys.modules`` right after,
so nothing else sees a torchvision.

The weights are those of a tiny random checkpoint in the official file format
(``tiny_models.make_depth_anything_3``), loaded strictly into both networks.
"""

import importlib
import json
import os
import sys
import types

from depth_node.errors import ModelLoadError, UnsupportedModelError
from depth_node.models import load_model
from depth_node.models.da3_net import Block
from depth_node.models.depth_anything_3 import (CANONICAL_FOCAL, network_size, PROCESS_RES,
                                                resize_for_network, SKY_THRESHOLD)
from depth_node.outputs import PredictRequest
from depth_node.testing.tiny_models import make_depth_anything_3, textured_image
import numpy as np
import pytest
import torch
import torch.nn.functional as F

#: (height, width) of the test images: landscape, portrait, square, enlarged, exactly the
#: network size, odd sizes, and a very wide strip.
SIZES = [(480, 640), (720, 1280), (1280, 720), (200, 300), (378, 504), (1000, 1000),
         (257, 333), (90, 1500)]


def _stub_torchvision():
    """Return a minimal ``torchvision`` with the two transforms the input processor uses."""
    def to_tensor(pic):
        array = np.asarray(pic)
        return torch.from_numpy(array.copy()).permute(2, 0, 1).contiguous().float().div(255)

    class Normalize:
        def __init__(self, mean, std):
            self.mean = torch.tensor(mean).view(-1, 1, 1)
            self.std = torch.tensor(std).view(-1, 1, 1)

        def __call__(self, x):
            return (x - self.mean) / self.std

    class CenterCrop:
        def __init__(self, *args):
            raise AssertionError('CenterCrop (mixed-size batches) is not part of these tests')

    transforms = types.ModuleType('torchvision.transforms')
    transforms.ToTensor = lambda: to_tensor
    transforms.Normalize = Normalize
    transforms.CenterCrop = CenterCrop
    package = types.ModuleType('torchvision')
    package.transforms = transforms
    return {'torchvision': package, 'torchvision.transforms': transforms}


@pytest.fixture(scope='module')
def official():
    """Import the official modules, or skip when the package is not installed."""
    try:
        da3 = importlib.import_module('depth_anything_3.model.da3')
        dpt = importlib.import_module('depth_anything_3.model.dpt')
        dinov2 = importlib.import_module('depth_anything_3.model.dinov2.dinov2')
        vit = importlib.import_module('depth_anything_3.model.dinov2.vision_transformer')
        alignment = importlib.import_module('depth_anything_3.utils.alignment')
        cfg = importlib.import_module('depth_anything_3.cfg')
        registry = importlib.import_module('depth_anything_3.registry')
    except ImportError as exc:
        pytest.skip(f'official depth-anything-3 package not importable ({exc}); `make` '
                    'installs it (pip install addict omegaconf einops imageio, then pip '
                    'install --no-deps depth-anything-3==0.1.1)')
    stubs = {} if importlib.util.find_spec('torchvision') else _stub_torchvision()
    saved = {name: sys.modules.get(name) for name in stubs}
    sys.modules.update(stubs)
    try:
        processor = importlib.import_module('depth_anything_3.utils.io.input_processor')
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module
    return types.SimpleNamespace(da3=da3, dpt=dpt, dinov2=dinov2, vit=vit,
                                 alignment=alignment, cfg=cfg, registry=registry,
                                 processor=processor.InputProcessor())


@pytest.fixture(scope='module')
def tiny_dir(tmp_path_factory):
    return make_depth_anything_3(tmp_path_factory.mktemp('da3') / 'some', sky='some')


@pytest.fixture(scope='module')
def tiny(tiny_dir):
    model = load_model(tiny_dir, 'cpu', 'fp32')
    yield model
    model.mask_sky = True
    model.reference_focal = 0.0


@pytest.fixture(scope='module')
def official_net(official, tiny_dir):
    """Build the official DepthAnything3Net at the tiny size with the tiny checkpoint's weights."""
    with open(os.path.join(tiny_dir, 'config.json')) as f:
        config = json.load(f)['config']
    net_args = {k: v for k, v in config['net'].items() if k != '__object__'}
    backbone = official.dinov2.DinoV2(**net_args)  # the vits preset; replaced at the tiny size
    backbone.pretrained = official.vit.DinoVisionTransformer(
        img_size=518, patch_size=14, embed_dim=32, depth=4, num_heads=2, mlp_ratio=4,
        ffn_layer='mlp', alt_start=-1, qknorm_start=-1, rope_start=-1, cat_token=False)
    head = official.dpt.DPT(**{k: v for k, v in config['head'].items() if k != '__object__'})
    net = official.da3.DepthAnything3Net(backbone, head).eval()
    from safetensors.torch import load_file
    state = load_file(os.path.join(tiny_dir, 'model.safetensors'))
    net.load_state_dict({k[len('model.'):]: v for k, v in state.items()}, strict=True)
    return net


def _official_preprocess(official, img, fx=500.0, fy=450.0):
    h, w = img.shape[:2]
    k = np.array([[fx, 0, w / 2], [0, fy, h / 2], [0, 0, 1]], np.float32)
    x, _, ks = official.processor([img], None, [k], PROCESS_RES, 'upper_bound_resize',
                                  sequential=True)
    return x, ks  # 1 x 3 x h x w, 1 x 3 x 3


# ------------------------------------------------------------------ architecture
def test_real_size_layout_is_the_official_da3metric_large(official, monkeypatch):
    """All 406 tensors of the official da3metric-large network, by name and shape."""
    from depth_node.models.da3_net import DepthAnything3Net
    from depth_node.models.depth_anything_3 import _net_config, MONO_LARGE
    linspace = torch.linspace
    # Build on the meta device (no 1.3 GB allocation); the official ViT calls .item() on
    # a linspace of drop-path rates, so that one is made on the CPU.
    monkeypatch.setattr(torch, 'linspace', lambda *a, **k: linspace(*a, **{**k, 'device': 'cpu'}))
    with torch.device('meta'):
        theirs = official.cfg.create_object(
            official.cfg.load_config(official.registry.MODEL_REGISTRY['da3metric-large']))
        ours = DepthAnything3Net(_net_config(MONO_LARGE, 'da3metric-large'))
    a, b = theirs.state_dict(), ours.state_dict()
    assert len(a) == 406 and set(a) == set(b)
    assert all(a[k].shape == b[k].shape for k in a)
    assert sum(v.numel() for v in b.values()) == 334_171_394


def test_official_random_state_dict_loads_through_our_loader(official, tmp_path):
    """A state dict written from the official modules (official key names) loads strictly."""
    from safetensors.torch import save_file
    config = json.load(open(os.path.join(make_depth_anything_3(tmp_path / 'a'),
                                         'config.json')))
    net_args = {k: v for k, v in config['config']['net'].items() if k != '__object__'}
    backbone = official.dinov2.DinoV2(**net_args)
    backbone.pretrained = official.vit.DinoVisionTransformer(
        img_size=518, patch_size=14, embed_dim=32, depth=4, num_heads=2, ffn_layer='mlp',
        alt_start=-1, qknorm_start=-1, rope_start=-1, cat_token=False)
    head = official.dpt.DPT(**{k: v for k, v in config['config']['head'].items()
                               if k != '__object__'})
    net = official.da3.DepthAnything3Net(backbone, head)
    # What PyTorchModelHubMixin writes for the DepthAnything3 wrapper (network at `.model`).
    save_file({f'model.{k}': v.contiguous() for k, v in net.state_dict().items()},
              str(tmp_path / 'a' / 'model.safetensors'))
    model = load_model(str(tmp_path / 'a'), 'cpu', 'fp32')
    x = torch.randn(1, 3, 56, 84)
    with torch.inference_mode():
        ours = model.forward(x)['predicted_depth']
        feats, _ = net.backbone(x[:, None], cam_token=None, export_feat_layers=[])
        theirs = net.head(feats, 56, 84, patch_start_idx=0)['depth'][:, 0]
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize('hw', [(378, 504), (504, 378), (504, 504), (518, 518), (28, 504),
                                (140, 98)])
def test_network_matches_official(official_net, tiny, hw):
    """
    Same input, same weights: raw depth and sky of a batch of two equal to float precision.

    The reference runs each image alone: ours decodes a batch image by image, so its
    head's numerics are those of one image, not the official head's on the batch.
    """
    x = torch.randn(2, 3, *hw, generator=torch.Generator().manual_seed(hw[0]))
    with torch.inference_mode():
        ours = tiny.forward(x)
        theirs = {'depth': [], 'sky': []}
        for i in range(2):
            feats, _ = official_net.backbone(x[i:i + 1, None], cam_token=None,
                                             export_feat_layers=[])
            out = official_net.head(feats, hw[0], hw[1], patch_start_idx=0)
            for key in theirs:
                theirs[key].append(out[key][:, 0])
    torch.testing.assert_close(ours['predicted_depth'], torch.cat(theirs['depth']),
                               rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(ours['sky'], torch.cat(theirs['sky']), rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------ pre-processing
@pytest.mark.parametrize('hw', SIZES)
def test_preprocessing_matches_official_input_processor(official, tiny, hw):
    img = textured_image(*hw, seed=sum(hw))
    theirs, _ = _official_preprocess(official, img)
    ours, ctx = tiny.preprocess(tiny.upload(img))
    assert ours.shape == theirs.shape
    assert ctx['net_size'] == network_size(*hw) == tuple(theirs.shape[-2:])
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-6)


def test_network_size_rule():
    assert network_size(480, 640) == (378, 504)
    assert network_size(720, 1280) == (280, 504)   # 283.5 -> 284 -> nearest multiple 280
    assert network_size(200, 300) == (336, 504)    # enlarged
    assert network_size(378, 504) == (378, 504)    # unchanged
    assert network_size(2, 1500) == (14, 504)      # never below one patch


@pytest.mark.parametrize('hw', [(300, 400), (720, 1280), (257, 333), (90, 1500)])
def test_bgr_rgba_and_mono_give_the_rgb_input(tiny, hw):
    img = textured_image(*hw, seed=5)
    rgb, _ = tiny.preprocess(tiny.upload(img))
    bgr, _ = tiny.preprocess(tiny.upload(np.ascontiguousarray(img[..., ::-1]), (2, 1, 0)))
    rgba = np.concatenate([img, np.full(img.shape[:2] + (1,), 255, np.uint8)], axis=2)
    rgba, _ = tiny.preprocess(tiny.upload(rgba, (0, 1, 2)))
    torch.testing.assert_close(bgr, rgb, rtol=0, atol=0)
    torch.testing.assert_close(rgba, rgb, rtol=0, atol=0)
    grey = np.ascontiguousarray(img[..., 1:2])
    mono, _ = tiny.preprocess(tiny.upload(grey, (0, 0, 0)))
    grey3, _ = tiny.preprocess(tiny.upload(np.repeat(grey, 3, axis=2)))
    torch.testing.assert_close(mono, grey3, rtol=0, atol=0)


def test_read_only_strided_message_buffer_is_accepted(tiny):
    img = textured_image(120, 160, seed=6)
    padded = np.zeros((120, 170, 3), np.uint8)
    padded[:, :160] = img
    view = padded[:, :160]
    view.flags.writeable = False
    np.testing.assert_array_equal(resize_for_network(view), resize_for_network(img))


# ------------------------------------------------------------------ scaling and sky
@pytest.mark.parametrize('hw', SIZES)
def test_metric_depth_matches_official_scaling(official, official_net, tiny, hw):
    """
    Official processor + network + apply_metric_scaling, upsampled as we do, equals predict().

    The focal given to ``apply_metric_scaling`` is the official processor's K, i.e. the
    camera's fx, fy rescaled to the network input; ours comes from the camera's own
    (fx, fy). Sky masking off: this compares the scaled prediction everywhere.
    """
    fx, fy = 500.0, 450.0
    img = textured_image(*hw, seed=sum(hw) + 1)
    x, ks = _official_preprocess(official, img, fx, fy)
    with torch.inference_mode():
        feats, _ = official_net.backbone(x[None], cam_token=None, export_feat_layers=[])
        depth = official_net.head(feats, *x.shape[-2:], patch_start_idx=0)['depth']
        metric = official.alignment.apply_metric_scaling(depth, ks[None])
    expected = F.interpolate(metric, size=hw, mode='bilinear', align_corners=False)[0, 0]
    tiny.mask_sky = False
    try:
        ours = tiny.predict(img, focal=(fx, fy))
    finally:
        tiny.mask_sky = True
    np.testing.assert_allclose(ours, expected.numpy(), rtol=1e-5, atol=1e-6)
    # The focal it used is the camera's at the network input.
    net_h, net_w = x.shape[-2:]
    f_net = 0.5 * (fx * net_w / hw[1] + fy * net_h / hw[0])
    assert float(ks[0, 0, 0] + ks[0, 1, 1]) / 2 == pytest.approx(f_net, rel=1e-6)


def test_sky_is_infinite_where_the_official_forward_overwrites_it(official, official_net, tiny):
    """At the network size: +inf exactly on the official sky mask, official depth elsewhere."""
    img = textured_image(378, 504, seed=11)
    x, ks = _official_preprocess(official, img, 400.0, 400.0)
    with torch.inference_mode():
        out = official_net(x[None])
        sky = ~official.alignment.compute_sky_mask(out.sky, threshold=SKY_THRESHOLD)[0, 0]
        metric = official.alignment.apply_metric_scaling(out.depth, ks[None])[0, 0]
    assert 0.05 < sky.float().mean() < 0.95, 'the test model must have sky and ground'
    ours = torch.from_numpy(tiny.predict(img, focal=(400.0, 400.0)))
    assert torch.equal(torch.isinf(ours), sky.bool())
    assert torch.all(ours[sky] > 0)
    torch.testing.assert_close(ours[~sky], metric[~sky], rtol=1e-5, atol=1e-6)


def test_sky_fill_before_upsampling_is_the_official_99th_percentile(official, official_net, tiny):
    """
    The official forward (sky filled), its scaling, then our upsampling and +inf: predict().

    A 280 x 1008 image runs at 140 x 504 (70,560 pixels): below the 100,000 pixels from
    which the official code estimates the percentile from a random sample, so its fill is
    exact there. The pixels beside the sky, which blend with the fill when upsampled,
    must agree too.
    """
    img = textured_image(280, 1008, seed=31)
    x, ks = _official_preprocess(official, img, 600.0, 600.0)
    assert tuple(x.shape[-2:]) == (140, 504)
    with torch.inference_mode():
        out = official_net(x[None])
        metric = official.alignment.apply_metric_scaling(out.depth, ks[None])
    up = F.interpolate(metric, size=(280, 1008), mode='bilinear', align_corners=False)[0, 0]
    sky = F.interpolate(out.sky, size=(280, 1008), mode='bilinear', align_corners=False)[0, 0]
    expected = up.masked_fill(sky >= SKY_THRESHOLD, float('inf'))
    ours = torch.from_numpy(tiny.predict(img, focal=(600.0, 600.0)))
    finite = torch.isfinite(expected)
    assert 0.05 < (~finite).float().mean() < 0.95, 'the test model must have sky and ground'
    assert torch.equal(torch.isfinite(ours), finite)
    torch.testing.assert_close(ours[finite], expected[finite], rtol=1e-5, atol=1e-6)
    # The fill shows beside the sky: the farthest non-sky depth instead would move pixels.
    with torch.inference_mode():
        feats, _ = official_net.backbone(x[:, None], cam_token=None, export_feat_layers=[])
        head = official_net.head(feats, 140, 504, patch_start_idx=0)
        is_sky = head['sky'] >= SKY_THRESHOLD
        farthest = torch.where(is_sky, head['depth'][~is_sky].max(), head['depth'])
        other = F.interpolate(official.alignment.apply_metric_scaling(farthest, ks[None]),
                              size=(280, 1008), mode='bilinear', align_corners=False)[0, 0]
    assert (other[finite] - expected[finite]).abs().max() > 1e-3 * expected[finite].max()


def test_sky_mask_follows_the_upsampled_sky_activation(tiny):
    img = textured_image(480, 640, seed=12)
    with torch.inference_mode():
        x, ctx = tiny.preprocess(tiny.upload(img))
        out = tiny.forward(x)
        depth = tiny.postprocess(out, ctx, focal=None)
        sky = F.interpolate(out['sky'][:, None], size=(480, 640), mode='bilinear',
                            align_corners=False)[0, 0]
    assert torch.equal(torch.isinf(depth), sky >= SKY_THRESHOLD)
    assert 0.05 < torch.isinf(depth).float().mean() < 0.95
    assert torch.all(depth[torch.isfinite(depth)] > 0)
    assert not torch.isnan(depth).any()


@pytest.mark.parametrize('count,filled', [(0, False), (10, False), (11, True)])
def test_sky_fill_needs_more_than_ten_pixels_of_each(count, filled):
    """The official rule: no fill with 10 or fewer sky (or non-sky) pixels."""
    from depth_node.models.depth_anything_3 import fill_sky
    depth = torch.arange(1.0, 201.0).reshape(1, 10, 20)
    is_sky = torch.zeros_like(depth, dtype=torch.bool)
    is_sky.view(-1)[:count] = True
    out = fill_sky(depth, is_sky)
    rest = depth[~is_sky]
    expected = torch.quantile(rest, 0.99) if filled else None
    if filled:
        assert torch.all(out[is_sky] == expected) and torch.equal(out[~is_sky], rest)
    else:
        assert torch.equal(out, depth)
    # The same rule for the other side: here only ``count`` pixels are not sky.
    assert torch.equal(fill_sky(depth, ~is_sky), depth) == (not filled)


def test_mask_sky_false_keeps_the_prediction(tiny):
    img = textured_image(480, 640, seed=13)
    tiny.mask_sky = False
    try:
        kept = tiny.predict(img)
    finally:
        tiny.mask_sky = True
    masked = tiny.predict(img)
    assert np.isfinite(kept).all() and np.isinf(masked).any()


def test_doubling_focal_doubles_depth_and_canonical_without_focal(tiny):
    img = textured_image(480, 640, seed=14)
    raw = tiny.predict(img, focal=None)
    d1 = tiny.predict(img, focal=(525.0, 525.0))
    d2 = tiny.predict(img, focal=(1050.0, 1050.0))
    finite = np.isfinite(d1)
    assert finite.mean() > 0.05
    np.testing.assert_array_equal(np.isinf(d2), ~finite)
    np.testing.assert_allclose(d2[finite], 2.0 * d1[finite], rtol=1e-5)
    f_net = 0.5 * (525.0 * 504 / 640 + 525.0 * 378 / 480)
    np.testing.assert_allclose(d1[finite], raw[finite] * f_net / CANONICAL_FOCAL, rtol=1e-5)


def test_reference_focal_replaces_the_canonical_300(tiny):
    img = textured_image(480, 640, seed=15)
    assert tiny.default_reference_focal == CANONICAL_FOCAL
    base = tiny.predict(img, focal=(600.0, 600.0))
    try:
        tiny.reference_focal = 150.0
        doubled = tiny.predict(img, focal=(600.0, 600.0))
    finally:
        tiny.reference_focal = 0.0
    ok = np.isfinite(base)
    np.testing.assert_allclose(doubled[ok], 2.0 * base[ok], rtol=1e-5)


def test_batch_equals_single_frames(tiny):
    imgs = [textured_image(240, 320, seed=s) for s in (20, 21)]
    batch = [depth for _, depth in tiny.predict_many(
        [PredictRequest(img, focal=(300.0, 300.0)) for img in imgs])]
    for img, got in zip(imgs, batch):
        np.testing.assert_allclose(got, tiny.predict(img, focal=(300.0, 300.0)), rtol=1e-4,
                                   atol=1e-5)


# ------------------------------------------------------------------ reduced precision
REDUCED = {'bf16': torch.bfloat16, 'fp16': torch.float16}


@pytest.mark.parametrize('precision', sorted(REDUCED))
def test_reduced_precision_keeps_normalisation_and_residuals_in_float32(tiny_dir, precision):
    """As under the official autocast: LayerNorms and the residual stream float32."""
    model = load_model(tiny_dir, 'cpu', precision)
    net = model.net
    seen = []

    def check(module, args, output):
        seen.append((type(module).__name__, args[0].dtype, output.dtype))

    hooks = [m.register_forward_hook(check) for m in net.modules()
             if isinstance(m, (torch.nn.LayerNorm, Block))]
    try:
        depth = model.predict(textured_image(120, 160, seed=7), focal=(150.0, 150.0))
    finally:
        for hook in hooks:
            hook.remove()
    assert {name for name, _, _ in seen} == {'LayerNorm', 'Block'}
    assert all(a == o == torch.float32 for _, a, o in seen), seen
    linears = [m for m in net.backbone.modules() if isinstance(m, (torch.nn.Linear,
                                                                   torch.nn.Conv2d))]
    assert linears and all(m.weight.dtype == REDUCED[precision] for m in linears)
    assert all(p.dtype == torch.float32 for p in net.head.parameters())
    assert np.isfinite(depth).any()


@pytest.mark.parametrize('precision', sorted(REDUCED))
def test_reduced_precision_is_the_official_autocast(official_net, tiny_dir, tiny, precision):
    """
    Ours in fp16 / bf16 against the official network under torch.autocast (its api.py).

    Both are compared with fp32: the reduced-precision error is that of the official
    path (same operations in the same precision), and small.
    """
    dtype = REDUCED[precision]
    model = load_model(tiny_dir, 'cpu', precision)
    x = torch.randn(1, 3, 140, 182, generator=torch.Generator().manual_seed(8))
    with torch.inference_mode():
        ours = model.forward(x.to(dtype))
        full = tiny.forward(x)
        with torch.autocast(device_type='cpu', dtype=dtype):
            feats, _ = official_net.backbone(x[:, None], cam_token=None, export_feat_layers=[])
        with torch.autocast(device_type='cpu', enabled=False):
            theirs = official_net.head([[f.float() for f in feat] for feat in feats], 140, 182,
                                       patch_start_idx=0)
    for key, their_key in (('predicted_depth', 'depth'), ('sky', 'sky')):
        got, official_value = ours[key], theirs[their_key][:, 0]
        assert got.dtype == torch.float32
        eps = torch.finfo(dtype).eps  # rounding of one operation in that precision
        torch.testing.assert_close(got, official_value, rtol=4 * eps, atol=4 * eps)
        reference = full[key]
        ours_error = (got - reference).abs().max()
        official_error = (official_value - reference).abs().max()
        assert ours_error <= 1.5 * official_error + 1e-6, (key, ours_error, official_error)


def test_fp16_survives_a_residual_stream_beyond_its_range(tiny_dir):
    """
    Residuals beyond 65504 (fp16's largest number) stay finite, as with fp32.

    Large layer scales make the residual stream of the tiny ViT reach about 80,000, as the
    deep blocks of large ViTs do; fp16 LayerNorms and residuals would turn that into NaN.
    """
    results = {}
    for precision in ('fp32', 'fp16'):
        model = load_model(tiny_dir, 'cpu', precision)
        model.mask_sky = False  # compare the depth everywhere
        blocks = model.net.backbone.pretrained.blocks
        with torch.no_grad():
            for block in blocks:
                block.ls1.gamma.mul_(30000.0)
                block.ls2.gamma.mul_(30000.0)
        largest = []
        hook = blocks[-1].register_forward_hook(
            lambda module, args, output: largest.append(float(output.abs().max())))
        try:
            results[precision] = model.predict(textured_image(140, 182, seed=9))
        finally:
            hook.remove()
        assert largest[0] > 65504.0
    assert np.isfinite(results['fp32']).all() and np.isfinite(results['fp16']).all()
    np.testing.assert_allclose(results['fp16'], results['fp32'], rtol=1e-2)


# ------------------------------------------------------------------ loading
def test_loads_through_load_model_and_says_what_it_is(tiny, tiny_dir):
    assert type(tiny).__name__ == 'DepthAnything3Model'
    assert tiny.family == 'depth_anything_3_metric'
    assert 'sky as +inf' in tiny.describe()
    assert not tiny.supports_flip_tta


def test_all_sky_checkpoint_gives_only_infinity(tmp_path):
    model = load_model(make_depth_anything_3(tmp_path / 'sky', sky='all'), 'cpu')
    depth = model.predict(textured_image(120, 160), focal=(100.0, 100.0))
    assert np.isposinf(depth).all()


@pytest.mark.parametrize('name,match', [
    ('da3mono-large', 'relative-depth Depth Anything 3'),
    ('da3-large', 'any-view Depth Anything 3'),
    ('da3-giant-1.1', 'any-view Depth Anything 3'),
    ('da3nested-giant-large', 'nested any-view'),
])
def test_non_metric_da3_checkpoints_are_refused(tmp_path, name, match):
    path = make_depth_anything_3(tmp_path / name, model_name=name)
    with pytest.raises(UnsupportedModelError, match=match) as info:
        load_model(path, 'cpu')
    assert 'DA3METRIC-LARGE' in str(info.value) and '\n' not in str(info.value)


def _edit_config(path, edit):
    config_file = os.path.join(path, 'config.json')
    with open(config_file) as f:
        config = json.load(f)
    edit(config)
    with open(config_file, 'w') as f:
        json.dump(config, f)


@pytest.mark.parametrize('edit,match', [
    (lambda c: c['config']['net'].update(cat_token=True), 'cat_token'),
    (lambda c: c['config']['net'].update(alt_start=2), 'alt_start'),
    (lambda c: c['config']['head']['__object__'].update(name='DualDPT'), 'DualDPT'),
    (lambda c: c['config'].update(cam_dec={'dim_in': 64}), 'cam_dec'),
    (lambda c: c['config']['head'].update(features=8), 'do not fit'),
])
def test_unsupported_variants_fail_in_one_line(tmp_path, edit, match):
    path = make_depth_anything_3(tmp_path / 'v')
    _edit_config(path, edit)
    with pytest.raises(ModelLoadError, match=match) as info:
        load_model(path, 'cpu')
    assert '\n' not in str(info.value)


def test_config_without_a_config_section_uses_the_preset(tmp_path):
    """``{"model_name": "da3metric-large"}`` alone means the ViT-L preset (weights must fit)."""
    path = make_depth_anything_3(tmp_path / 'p')
    _edit_config(path, lambda c: c.pop('config'))
    with pytest.raises(ModelLoadError, match='do not fit the da3metric-large network'):
        load_model(path, 'cpu')


def test_missing_or_foreign_weights_fail_in_one_line(tmp_path):
    from safetensors.torch import save_file
    path = make_depth_anything_3(tmp_path / 'w')
    os.remove(os.path.join(path, 'model.safetensors'))
    with pytest.raises(ModelLoadError, match='has no model.safetensors'):
        load_model(path, 'cpu')
    save_file({'backbone.x': torch.zeros(1)}, os.path.join(path, 'model.safetensors'))
    with pytest.raises(ModelLoadError, match="keys under 'model.'"):
        load_model(path, 'cpu')
    with open(os.path.join(path, 'model.safetensors'), 'wb') as f:
        f.write(b'not safetensors')
    with pytest.raises(ModelLoadError, match='cannot read the weights') as info:
        load_model(path, 'cpu')
    assert '\n' not in str(info.value)


def _fake_hub_cache(root, repo_id, files_from):
    """Lay out ``files_from``'s files as huggingface_hub caches a downloaded repo."""
    import shutil
    repo = root / ('models--' + repo_id.replace('/', '--'))
    snapshot = repo / 'snapshots' / ('0' * 40)
    snapshot.mkdir(parents=True)
    (repo / 'refs').mkdir()
    (repo / 'refs' / 'main').write_text('0' * 40)
    for name in ('config.json', 'model.safetensors'):
        shutil.copy(os.path.join(files_from, name), snapshot / name)


def test_hub_id_loads_from_the_cache_offline(tmp_path, monkeypatch, tiny_dir):
    import huggingface_hub.constants
    monkeypatch.setattr(huggingface_hub.constants, 'HF_HUB_CACHE', str(tmp_path / 'hub'))
    monkeypatch.setattr(huggingface_hub.constants, 'HF_HUB_OFFLINE', True)
    _fake_hub_cache(tmp_path / 'hub', 'depth-anything/DA3METRIC-LARGE', tiny_dir)
    model = load_model('depth-anything/DA3METRIC-LARGE', 'cpu')
    assert model.family == 'depth_anything_3_metric'
    assert model.predict(textured_image(60, 80), focal=(70.0, 70.0)).shape == (60, 80)
    with pytest.raises(ModelLoadError, match='unreachable') as info:
        load_model('depth-anything/DA3MONO-LARGE', 'cpu')  # not cached
    assert '\n' not in str(info.value)
