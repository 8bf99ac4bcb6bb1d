# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
ZoeDepth: our torch pre/post-processing against transformers' own, flip TTA, NK routing.

The reference preprocessing is transformers' ``ZoeDepthImageProcessorPil``, run
as is. Its ``post_process_depth_estimation`` is also run as is, except for one
call: it resizes with ``torchvision.transforms.v2.functional.resize``, and
torchvision is not installable here. That one function is replaced by its
documented behaviour for float tensors (``interpolate(..., align_corners=False,
antialias=antialias)``); everything else (flip averaging, padding arithmetic,
unpadding, the resize to the target size) is the library's code.
"""

from depth_node.errors import UnsupportedModelError
from depth_node.models import load_model
from depth_node.models.zoedepth import (focal_at_network, head_domains, network_geometry,
                                        reference_focal_for, TRAINING_CAMERAS)
import numpy as np
import pytest
import torch
import torch.nn.functional as F

#: The processor config of Intel/zoedepth-nyu, -kitti and -nyu-kitti on the hub.
HUB_PROCESSOR = {'do_pad': True, 'do_resize': True, 'size': {'height': 384, 'width': 512},
                 'keep_aspect_ratio': True, 'ensure_multiple_of': 32, 'resample': 2}

# Tolerance: preprocessing is float arithmetic in the same order as the processor (rescale,
# reflect pad, bilinear align_corners resize, normalise), so it agrees to float32 rounding.
PIXEL_ATOL = 1e-5


class TorchvisionResize:
    """``torchvision.transforms.v2.functional`` as the post-processing uses it (float tensors)."""

    class InterpolationMode:
        BICUBIC = 'bicubic'

    @staticmethod
    def resize(image, size, interpolation, antialias):
        return F.interpolate(image.unsqueeze(0), size=list(size), mode=interpolation,
                             align_corners=False, antialias=antialias)[0]


@pytest.fixture
def reference_post(monkeypatch):
    """Return transformers' post-processing function for a checkpoint directory."""
    from transformers import ZoeDepthImageProcessorPil
    from transformers.models.zoedepth import image_processing_pil_zoedepth as module
    monkeypatch.setattr(module, 'tvF', TorchvisionResize, raising=False)

    def post(path, outputs, size, outputs_flipped=None):
        proc = ZoeDepthImageProcessorPil.from_pretrained(path)
        return proc.post_process_depth_estimation(
            outputs, source_sizes=[size], target_sizes=[size],
            outputs_flipped=outputs_flipped)[0]['predicted_depth']
    return post


@pytest.fixture(scope='module')
def zoe_dirs(tmp_path_factory):
    """Tiny checkpoints shaped like the three hub models."""
    from depth_node.testing.tiny_models import make_zoedepth
    root = tmp_path_factory.mktemp('tiny_zoe')
    return {heads: make_zoedepth(root / heads, heads=heads)
            for heads in ('nyu', 'kitti', 'nyu-kitti')}


@pytest.fixture(scope='module')
def zoe_nyu(zoe_dirs):
    return load_model(zoe_dirs['nyu'], 'cpu', 'fp32')


def textured(h, w, seed=0):
    from depth_node.testing.tiny_models import textured_image
    return textured_image(h, w, seed)


@pytest.mark.parametrize('hw', [(480, 640), (720, 1280), (257, 333), (600, 400), (64, 48)])
def test_preprocess_matches_transformers_pil_processor(zoe_nyu, zoe_dirs, hw):
    from transformers import ZoeDepthImageProcessorPil
    img = textured(*hw)
    proc = ZoeDepthImageProcessorPil.from_pretrained(zoe_dirs['nyu'])
    ref = proc(images=img, return_tensors='pt')['pixel_values']
    ours, ctx = zoe_nyu.preprocess(zoe_nyu.upload(img))
    assert tuple(ours.shape) == tuple(ref.shape)
    assert ctx['net_size'] == tuple(ref.shape[-2:])
    torch.testing.assert_close(ours, ref, rtol=0, atol=PIXEL_ATOL)


def test_network_size_matches_transformers_for_hub_config():
    from transformers.models.zoedepth.image_processing_pil_zoedepth import \
        get_resize_output_image_size
    for h, w in [(480, 640), (720, 1280), (352, 1216), (376, 1241), (1080, 1920), (300, 301)]:
        pad, padded, net = network_geometry(h, w, HUB_PROCESSOR)
        assert pad == (int(np.sqrt(h / 2) * 3), int(np.sqrt(w / 2) * 3))
        expected = get_resize_output_image_size(
            np.zeros((3,) + padded, np.float32), (384, 512), True, 32, 'channels_first')
        assert tuple(int(v) for v in expected) == net


def test_hub_reference_focals():
    # NYU 640x480 -> padded 746x572 -> 512x384: 518.86 * 512/746, 519.47 * 384/572.
    assert network_geometry(480, 640, HUB_PROCESSOR) == ((46, 53), (572, 746), (384, 512))
    assert reference_focal_for('nyu', HUB_PROCESSOR) == pytest.approx(352.42, abs=0.01)
    # KITTI crop 1216x352 -> padded 1362x430 -> 1216x384: 715.09 * 384/430 (both axes).
    assert network_geometry(352, 1216, HUB_PROCESSOR) == ((39, 73), (430, 1362), (384, 1216))
    assert reference_focal_for('kitti', HUB_PROCESSOR) == pytest.approx(638.51, abs=0.01)


def test_postprocess_matches_transformers(zoe_nyu, zoe_dirs, reference_post):
    img = textured(480, 640)
    pixel_values, ctx = zoe_nyu.preprocess(zoe_nyu.upload(img))
    with torch.inference_mode():
        outputs = zoe_nyu.forward(pixel_values)
        ref = reference_post(zoe_dirs['nyu'], outputs, (480, 640))
        ours = zoe_nyu.postprocess(outputs, ctx, focal=None)
    assert ours.shape == (480, 640)
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-5)


def test_predict_matches_transformers_end_to_end(zoe_nyu, zoe_dirs, reference_post):
    from transformers import AutoModelForDepthEstimation, ZoeDepthImageProcessorPil
    img = textured(360, 480, seed=3)
    proc = ZoeDepthImageProcessorPil.from_pretrained(zoe_dirs['nyu'])
    net = AutoModelForDepthEstimation.from_pretrained(zoe_dirs['nyu']).eval()
    with torch.inference_mode():
        outputs = net(**proc(images=img, return_tensors='pt'))
    ref = reference_post(zoe_dirs['nyu'], outputs, (360, 480)).numpy()
    ours = zoe_nyu.predict(img, focal=None)
    assert ours.shape == (360, 480) and ours.dtype == np.float32
    assert ref.std() > 0.01 * ref.mean(), 'the tiny model must give an image-dependent output'
    np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-5)


def test_flip_tta_matches_transformers(zoe_dirs, reference_post):
    model = load_model(zoe_dirs['nyu'], 'cpu', 'fp32', flip_tta=True)
    assert model.flip_tta
    img = textured(240, 320, seed=5)
    pixel_values, ctx = model.preprocess(model.upload(img))
    with torch.inference_mode():
        both = model.forward(pixel_values)
        assert both.predicted_depth.shape[0] == 2
        ours = model.postprocess(both, ctx, focal=None)
        # transformers: a second, separate forward pass on the mirrored input.
        plain = model.net(pixel_values=pixel_values)
        mirrored = model.net(pixel_values=torch.flip(pixel_values, dims=[-1]))
        ref = reference_post(zoe_dirs['nyu'], plain, (240, 320), outputs_flipped=mirrored)
        no_tta = reference_post(zoe_dirs['nyu'], plain, (240, 320))
    torch.testing.assert_close(ours, ref, rtol=1e-4, atol=1e-5)
    assert not torch.allclose(ours, no_tta, rtol=1e-3), 'TTA must change the result'


def test_flip_tta_is_mirror_symmetric(zoe_dirs):
    model = load_model(zoe_dirs['nyu'], 'cpu', 'fp32', flip_tta=True)
    img = textured(120, 160, seed=7)
    depth = model.predict(img)
    mirrored = model.predict(np.ascontiguousarray(img[:, ::-1]))
    np.testing.assert_allclose(mirrored, depth[:, ::-1], rtol=1e-4, atol=1e-5)


def test_flip_tta_is_ignored_by_families_without_it(tiny_da_dir):
    model = load_model(tiny_da_dir, 'cpu', 'fp32', flip_tta=True)
    assert not model.supports_flip_tta and not model.flip_tta


def test_head_domains(zoe_dirs):
    from transformers import AutoConfig
    domains = {k: head_domains(AutoConfig.from_pretrained(v)) for k, v in zoe_dirs.items()}
    # Intel/zoedepth-kitti as converted: one normed head named nyu with 10 m -> KITTI.
    assert domains == {'nyu': ('nyu',), 'kitti': ('kitti',), 'nyu-kitti': ('nyu', 'kitti')}


@pytest.mark.parametrize('domain,kind', [('nyu', 'nyu'), ('kitti', 'kitti')])
def test_training_camera_is_not_rescaled(zoe_dirs, domain, kind):
    # An image of the head's own training camera, at its size, keeps its prediction.
    cam = TRAINING_CAMERAS[domain]
    model = load_model(zoe_dirs[kind], 'cpu', 'fp32')
    img = textured(cam.height, cam.width)
    raw = model.predict(img, focal=None)
    assert model.last_domain == domain
    scaled = model.predict(img, focal=(cam.fx, cam.fy))
    np.testing.assert_allclose(scaled, raw, rtol=1e-5, atol=1e-6)


def test_doubling_focal_doubles_depth(zoe_nyu):
    img = textured(240, 320)
    d1 = zoe_nyu.predict(img, focal=(300.0, 300.0))
    d2 = zoe_nyu.predict(img, focal=(600.0, 600.0))
    np.testing.assert_allclose(d2, 2.0 * d1, rtol=1e-5, atol=1e-6)


def test_reference_focal_override(zoe_nyu):
    img = textured(240, 320)
    raw = zoe_nyu.predict(img, focal=None)
    f_net = focal_at_network((300.0, 300.0), 240, 320, zoe_nyu.processor)
    try:
        zoe_nyu.reference_focal = f_net
        np.testing.assert_allclose(zoe_nyu.predict(img, focal=(300.0, 300.0)), raw, rtol=1e-5)
    finally:
        zoe_nyu.reference_focal = 0.0


@pytest.mark.parametrize('head', [0, 1])
def test_nk_router_picks_the_head_and_its_reference_focal(zoe_dirs, reference_post, head):
    model = load_model(zoe_dirs['nyu-kitti'], 'cpu', 'fp32')
    classifier = model.net.metric_head.mlp_classifier.linear2
    with torch.no_grad():
        classifier.weight.zero_()
        classifier.bias.copy_(torch.tensor([5.0, -5.0] if head == 0 else [-5.0, 5.0]))
    img = textured(240, 320, seed=2)
    pixel_values, ctx = model.preprocess(model.upload(img))
    with torch.inference_mode():
        outputs = model.forward(pixel_values)
        assert model.route(outputs) == head
        ref = reference_post(zoe_dirs['nyu-kitti'], outputs, (240, 320))
        raw = model.postprocess(outputs, ctx, focal=None)
        scaled = model.postprocess(outputs, ctx, focal=(300.0, 300.0))
    domain = ('nyu', 'kitti')[head]
    assert model.last_domain == domain
    assert model.reference_focal == pytest.approx(reference_focal_for(domain, model.processor))
    torch.testing.assert_close(raw, ref, rtol=1e-5, atol=1e-5)
    factor = focal_at_network((300.0, 300.0), 240, 320, model.processor) / \
        reference_focal_for(domain, model.processor)
    torch.testing.assert_close(scaled, raw * factor, rtol=1e-5, atol=1e-5)
    assert 'router' in model.describe()


def test_every_checkpoint_kind_predicts(zoe_dirs):
    for kind, path in zoe_dirs.items():
        model = load_model(path, 'cpu', warmup=(64, 48))
        depth = model.predict(textured(96, 128), focal=(100.0, 100.0))
        assert depth.shape == (96, 128) and np.isfinite(depth).all() and (depth > 0).all(), kind


def test_relative_dpt_checkpoint_is_refused(tmp_path):
    # ZoeDepth builds on DPT/MiDaS; DPT checkpoints (Intel/dpt-large, ...) are relative.
    from transformers import DPTConfig, DPTForDepthEstimation
    config = DPTConfig(hidden_size=32, num_hidden_layers=4, num_attention_heads=2,
                       intermediate_size=64, image_size=64, patch_size=16,
                       neck_hidden_sizes=[8, 16, 32, 32], fusion_hidden_size=16,
                       backbone_out_indices=[0, 1, 2, 3])
    DPTForDepthEstimation(config).save_pretrained(str(tmp_path))
    with pytest.raises(UnsupportedModelError, match=r'\(dpt\) predicts relative depth') as info:
        load_model(str(tmp_path), 'cpu')
    assert 'model:=' in str(info.value) and '\n' not in str(info.value)
