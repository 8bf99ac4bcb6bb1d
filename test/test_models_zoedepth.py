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
from depth_node.outputs import PredictRequest
import documentation
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


def independent_reference_focal(domain, processor_dir):
    """Return a head's training camera through reflect padding and transformers' resize."""
    width, height, fx, fy = {'nyu': (640, 480, 518.8579, 519.4696),
                             'kitti': (1216, 352, 715.0873, 715.0873)}[domain]
    return independent_focal_at_network(fx, fy, height, width, processor_dir)


def independent_focal_at_network(fx, fy, height, width, processor_dir):
    """Mean focal at the network input of the processor in ``processor_dir`` (padded path)."""
    from transformers import ZoeDepthImageProcessorPil
    from transformers.models.zoedepth.image_processing_pil_zoedepth import \
        get_resize_output_image_size
    proc = ZoeDepthImageProcessorPil.from_pretrained(processor_dir)
    ph = height + 2 * int(np.sqrt(height / 2) * 3)
    pw = width + 2 * int(np.sqrt(width / 2) * 3)
    nh, nw = get_resize_output_image_size(
        np.zeros((3, ph, pw), np.float32), (proc.size['height'], proc.size['width']),
        proc.keep_aspect_ratio, proc.ensure_multiple_of, 'channels_first')
    return 0.5 * (fx * nw / pw + fy * nh / ph)


def steer_router(model, pixel_values):
    """
    Set the router's last layer so that ``pixel_values[0]`` picks head 0, ``[1]`` head 1.

    The logits come from one hidden unit of the classifier, the one whose value differs
    most between the two inputs, thresholded half-way; nothing else changes.
    """
    linear2 = model.net.metric_head.mlp_classifier.linear2
    hidden = []
    hook = linear2.register_forward_hook(lambda m, args, out: hidden.append(args[0][0].clone()))
    try:
        with torch.inference_mode():
            for x in pixel_values:
                model.net(pixel_values=x)
    finally:
        hook.remove()
    a, b = hidden
    j = int(torch.argmax((a - b).abs()))
    gain = 20.0 / float((a[j] - b[j]).abs())
    sign = 1.0 if a[j] > b[j] else -1.0
    middle = float(0.5 * (a[j] + b[j]))
    with torch.no_grad():
        linear2.weight.zero_()
        linear2.weight[0, j] = sign * gain
        linear2.weight[1, j] = -sign * gain
        linear2.bias.copy_(torch.tensor([-sign * gain * middle, sign * gain * middle]))


def test_nk_batch_routes_every_image_to_its_own_head(zoe_dirs, reference_post):
    from transformers import AutoModelForDepthEstimation, ZoeDepthImageProcessorPil
    path = zoe_dirs['nyu-kitti']
    model = load_model(path, 'cpu', 'fp32')
    images = [textured(240, 320, seed=11), textured(240, 320, seed=12)]
    steer_router(model, [model.preprocess(model.upload(img))[0] for img in images])
    focal = (300.0, 300.0)
    batched = [depth for _, depth in model.predict_many(
        [PredictRequest(image, focal=focal) for image in images + [images[0]]])]
    # The reference: ZoeDepth runs one image per forward pass, so each routes alone;
    # transformers' processor, network and post-processing, with the routed head's focal.
    net = AutoModelForDepthEstimation.from_pretrained(path).eval()
    net.load_state_dict(model.net.state_dict())
    proc = ZoeDepthImageProcessorPil.from_pretrained(path)
    f_camera = independent_focal_at_network(300.0, 300.0, 240, 320, path)
    for image, depth, head in zip(images + [images[0]], batched, (0, 1, 0)):
        with torch.inference_mode():
            outputs = net(**proc(images=image, return_tensors='pt'))
        assert int(torch.argmax(outputs.domain_logits[0])) == head
        domain = ('nyu', 'kitti')[head]
        ref = reference_post(path, outputs, (240, 320)).numpy()
        ref = ref * f_camera / independent_reference_focal(domain, path)
        # A batch and a single image take slightly different float paths in the network.
        np.testing.assert_allclose(depth, ref, rtol=1e-3, atol=1e-5)
        np.testing.assert_allclose(model.predict(image, focal=focal), depth, rtol=1e-3,
                                   atol=1e-5)
        assert model.last_domain == domain
    # One vote over the batch would have sent one of the two to the other's head.
    pixel_values = torch.cat([model.preprocess(model.upload(img))[0] for img in images])
    with torch.inference_mode():
        joint = model.net(pixel_values=pixel_values)
    assert model.item_routes(joint) == [0, 1]


def test_flip_tta_routes_the_mirror_image_on_its_own(zoe_dirs, reference_post):
    path = zoe_dirs['nyu-kitti']
    model = load_model(path, 'cpu', 'fp32', flip_tta=True)
    img = textured(240, 320, seed=13)
    pixel_values, ctx = model.preprocess(model.upload(img))
    mirrored_values = torch.flip(pixel_values, dims=[-1])
    steer_router(model, [pixel_values, mirrored_values])
    with torch.inference_mode():
        ours = model.postprocess(model.forward(pixel_values), ctx, focal=None)
        # ZoeDepth's infer_with_flip_aug: two separate passes, each routed alone.
        plain = model.net(pixel_values=pixel_values)
        mirrored = model.net(pixel_values=mirrored_values)
        assert int(torch.argmax(plain.domain_logits[0])) == 0
        assert int(torch.argmax(mirrored.domain_logits[0])) == 1
        ref = reference_post(path, plain, (240, 320), outputs_flipped=mirrored)
    torch.testing.assert_close(ours, ref, rtol=1e-4, atol=1e-5)
    assert model.last_domain == 'nyu'
    # With focal scaling each prediction takes its own head's reference focal.
    f_camera = independent_focal_at_network(300.0, 300.0, 240, 320, path)
    with torch.inference_mode():
        scaled = model.postprocess(model.forward(pixel_values), ctx, focal=(300.0, 300.0))
        ref = reference_post(path, plain, (240, 320)) * f_camera / \
            independent_reference_focal('nyu', path)
        ref_m = reference_post(path, mirrored, (240, 320)) * f_camera / \
            independent_reference_focal('kitti', path)
    expected = 0.5 * (ref + torch.flip(ref_m, dims=[-1]))
    # (post-processing the mirrored pass alone and flipping back = flipping before resizing)
    torch.testing.assert_close(scaled, expected, rtol=1e-4, atol=1e-5)


def test_readme_states_the_training_geometry():
    # ZoeDepth's train and eval configs (zoedepth/models/*/config_*.json, utils/config.py)
    # resize the whole image to img_size without keeping the aspect ratio and without
    # padding: NYU 640x480 and KITTI crops 1216x352 -> 512x384 (ZoeD_N, ZoeD_NK), KITTI
    # -> 768x384 (ZoeD_K, config_version kitti). evaluate.py runs model(images), unpadded.
    readme = documentation.text()  # README and the guides under doc/
    nyu = TRAINING_CAMERAS['nyu']
    kitti = TRAINING_CAMERAS['kitti']
    nyu_fx, nyu_fy = nyu.fx * 512 / 640, nyu.fy * 384 / 480
    nk_fx, k_fy = kitti.fx * 512 / 1216, kitti.fy * 384 / 352
    zk_fx = kitti.fx * 768 / 1216
    figures = {
        'nyu': (nyu_fx, nyu_fy, 0.5 * (nyu_fx + nyu_fy)),
        'nk': (nk_fx, k_fy, 0.5 * (nk_fx + k_fy)),
        'k': (zk_fx, k_fy, 0.5 * (zk_fx + k_fy)),
    }
    for fx, fy, mean in figures.values():
        for value in (fx, fy, mean):
            assert f'{value:.1f}' in readme, value
    padded_nyu = reference_focal_for('nyu', HUB_PROCESSOR)
    assert f'{padded_nyu:.1f}' in readme
    assert f'{figures["nyu"][2] / padded_nyu:.2f}' == '1.18'
    assert '1.18' in readme and '--fit-scale' in readme
