# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
Depth Anything V2 metric: our torch processing against the reference implementation.

The reference is DepthAnything/Depth-Anything-V2: ``DepthAnythingV2.image2tensor``
(and the metric fine-tuning datasets, ``metric_depth/dataset/hypersim.py``,
``vkitti2.py``) resize the float image (0..1) with
``Resize(518, 518, keep_aspect_ratio=True, ensure_multiple_of=14,
resize_method='lower_bound')`` and ``cv2.INTER_CUBIC``, then normalise with the
ImageNet mean and std. Its size rule and that pipeline are re-stated below from
the reference code (numpy + OpenCV, no depth_node code). The final resize of
the prediction is compared with transformers' ``post_process_depth_estimation``,
which the node follows there.
"""

import json
import shutil

import cv2
from depth_node.errors import ModelLoadError, ParameterValueError, UnsupportedModelError
from depth_node.models import load_model
from depth_node.models.depth_anything import focal_at, network_size, REFERENCE_FOCALS
import numpy as np
from PIL import Image as PILImage
import pytest
import torch

MEAN = np.array([0.485, 0.456, 0.406])
STD = np.array([0.229, 0.224, 0.225])

#: Our torch bicubic and OpenCV's INTER_CUBIC use the same kernel (a = -0.75), the same
#: half-pixel centres and replicated edges; they differ only in float rounding (OpenCV keeps
#: its coefficients in float32): at most 2.1e-4 of full scale (0.05 of a uint8 level) on
#: uniform noise at 1080p, 1e-5 on smooth images. Bound in 0..1 units, before normalising.
RESIZE_ATOL = 2.5e-4


def textured(h, w, seed=0):
    """Make a smooth but textured test image (random noise resamples too harshly)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (max(h // 8, 2), max(w // 8, 2), 3), dtype=np.uint8)
    return np.asarray(PILImage.fromarray(small).resize((w, h), PILImage.BILINEAR))


def reference_size(width, height, input_size=518, multiple=14):
    """``Resize.get_size`` of the reference, lower_bound with keep_aspect_ratio; (w, h)."""
    scale_h, scale_w = input_size / height, input_size / width
    if scale_w > scale_h:
        scale_h = scale_w
    else:
        scale_w = scale_h

    def constrain(x, min_val):
        y = (np.round(x / multiple) * multiple).astype(int)
        if y < min_val:
            y = (np.ceil(x / multiple) * multiple).astype(int)
        return int(y)
    return constrain(scale_w * width, input_size), constrain(scale_h * height, input_size)


def reference_image2tensor(rgb, input_size=518):
    """Preprocess an RGB uint8 image as the reference does: ``1 x 3 x h x w`` float32."""
    h, w = rgb.shape[:2]
    image = rgb / 255.0
    image = cv2.resize(image, reference_size(w, h, input_size), interpolation=cv2.INTER_CUBIC)
    image = (image - MEAN) / STD
    chw = np.ascontiguousarray(image.transpose(2, 0, 1)).astype(np.float32)
    return torch.from_numpy(chw)[None]


def reference_processor(path):
    from transformers import DPTImageProcessorPil
    return DPTImageProcessorPil.from_pretrained(path)


# 640x360 is the case of the issue: transformers' processor would run it at 518x294.
SIZES = [(360, 640), (480, 640), (240, 424), (400, 640), (240, 320), (384, 512), (720, 1280),
         (1080, 1920), (768, 1024), (375, 1242), (257, 333), (600, 400), (60, 80), (2000, 100)]


@pytest.mark.parametrize('hw', SIZES)
def test_network_size_is_the_reference_lower_bound(tiny_da_model, hw):
    h, w = hw
    ref_w, ref_h = reference_size(w, h)
    assert network_size(h, w) == (ref_h, ref_w)
    assert tiny_da_model.net_size(h, w) == (ref_h, ref_w)
    assert min(ref_h, ref_w) >= 518 and ref_h % 14 == 0 and ref_w % 14 == 0


def test_wide_and_small_images_run_at_training_resolution(tiny_da_model):
    # The issue's figures: 640x360 at 924x518, not 518x294 (transformers' "closest to 1").
    assert tiny_da_model.net_size(360, 640) == (518, 924)
    assert tiny_da_model.net_size(240, 320) == (518, 686)
    _, ctx = tiny_da_model.preprocess(tiny_da_model.upload(textured(360, 640)))
    assert ctx['net_size'] == (518, 924)
    from transformers import DPTImageProcessorPil
    closest = DPTImageProcessorPil(size={'height': 518, 'width': 518}, keep_aspect_ratio=True,
                                   ensure_multiple_of=14)
    pixels = closest(images=textured(360, 640), return_tensors='pt')['pixel_values']
    assert tuple(pixels.shape[-2:]) == (294, 518)


@pytest.mark.parametrize('hw,noise', [((360, 640), False), ((480, 640), False),
                                      ((720, 1280), False), ((257, 333), False),
                                      ((1080, 1920), True), ((240, 320), True)])
def test_preprocess_matches_reference_image2tensor(tiny_da_model, hw, noise):
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, hw + (3,), dtype=np.uint8) if noise else textured(*hw)
    ref = reference_image2tensor(img)
    ours, ctx = tiny_da_model.preprocess(tiny_da_model.upload(img))
    assert tuple(ours.shape) == tuple(ref.shape)
    assert ctx['net_size'] == tuple(ref.shape[-2:])
    std = torch.tensor(STD, dtype=torch.float32).view(1, 3, 1, 1)
    diff = ((ours.float() - ref) * std).abs()
    assert diff.max().item() <= RESIZE_ATOL
    # The uint8 PIL path this replaced differed by a whole level on ~18 % of the pixels.
    assert (diff > 0.5 / 255.0).sum().item() == 0


def test_processor_size_is_respected(tiny_da_dir, tmp_path):
    # A checkpoint whose preprocessor_config asks for 56 px runs at lower_bound(56).
    path = tmp_path / 'da56'
    shutil.copytree(tiny_da_dir, path)
    config_path = path / 'preprocessor_config.json'
    config = json.loads(config_path.read_text())
    config['size'] = {'height': 56, 'width': 56}
    config_path.write_text(json.dumps(config))
    model = load_model(str(path), 'cpu', 'fp32')
    for h, w in [(360, 640), (480, 640), (100, 30)]:
        ref_w, ref_h = reference_size(w, h, input_size=56)
        assert model.net_size(h, w) == (ref_h, ref_w)
    img = textured(360, 640)
    ours, ctx = model.preprocess(model.upload(img))
    assert ctx['net_size'] == (56, 98)
    ref = reference_image2tensor(img, input_size=56)
    std = torch.tensor(STD, dtype=torch.float32).view(1, 3, 1, 1)
    assert ((ours - ref) * std).abs().max().item() <= RESIZE_ATOL
    depth = model.predict(img, focal=(500.0, 500.0))
    assert depth.shape == (360, 640) and np.isfinite(depth).all()


def test_postprocess_matches_transformers(tiny_da_model, tiny_da_dir):
    img = textured(480, 640)
    proc = reference_processor(tiny_da_dir)
    pixel_values, ctx = tiny_da_model.preprocess(tiny_da_model.upload(img))
    with torch.inference_mode():
        outputs = tiny_da_model.forward(pixel_values)
    ref = proc.post_process_depth_estimation(outputs, target_sizes=[(480, 640)])
    ours = tiny_da_model.postprocess(outputs, ctx, focal=None)
    torch.testing.assert_close(ours, ref[0]['predicted_depth'], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('hw', [(360, 480), (360, 640)])
def test_predict_matches_the_reference_end_to_end(tiny_da_model, tiny_da_dir, hw):
    from transformers import AutoModelForDepthEstimation
    img = textured(*hw, seed=3)
    proc = reference_processor(tiny_da_dir)
    net = AutoModelForDepthEstimation.from_pretrained(tiny_da_dir).eval()
    with torch.inference_mode():
        outputs = net(pixel_values=reference_image2tensor(img))
        ref = proc.post_process_depth_estimation(outputs, target_sizes=[hw])
    ref = ref[0]['predicted_depth'].numpy()
    ours = tiny_da_model.predict(img, focal=None)
    assert ours.shape == hw and ours.dtype == np.float32
    assert ref.std() > 0.05, 'the tiny model must give an image-dependent output'
    # Inputs agree to float rounding (see RESIZE_ATOL), so the outputs do too.
    np.testing.assert_allclose(ours, ref, rtol=1e-3, atol=1e-3 * float(np.abs(ref).max()))


def test_bgr_and_mono_are_converted_on_device(tiny_da_model):
    img = textured(120, 160)
    rgb = tiny_da_model.predict(img)
    bgr = tiny_da_model.predict(np.ascontiguousarray(img[..., ::-1]), rgb_order=(2, 1, 0))
    np.testing.assert_allclose(rgb, bgr, rtol=1e-6)
    mono = tiny_da_model.upload(img[..., :1], (0, 0, 0))
    assert mono.shape == (1, 3, 120, 160)


def test_doubling_focal_doubles_depth(tiny_da_model):
    img = textured(480, 640)
    d1 = tiny_da_model.predict(img, focal=(525.0, 525.0))
    d2 = tiny_da_model.predict(img, focal=(1050.0, 1050.0))
    np.testing.assert_allclose(d2, 2.0 * d1, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('hw', [(480, 640), (360, 640)])
def test_focal_scaling_uses_reference_at_network_resolution(tiny_da_model, hw):
    h, w = hw
    img = textured(h, w)
    raw = tiny_da_model.predict(img, focal=None)
    ref_w, ref_h = reference_size(w, h)   # 640x480 -> 686x518, 640x360 -> 924x518
    f_net = focal_at((500.0, 500.0), hw, (ref_h, ref_w))
    assert f_net == pytest.approx(0.5 * (500 * ref_w / w + 500 * ref_h / h))
    scaled = tiny_da_model.predict(img, focal=(500.0, 500.0))
    np.testing.assert_allclose(scaled, raw * f_net / tiny_da_model.reference_focal, rtol=1e-5,
                               atol=1e-5)
    try:
        tiny_da_model.reference_focal = f_net
        np.testing.assert_allclose(tiny_da_model.predict(img, focal=(500.0, 500.0)), raw,
                                   rtol=1e-5)
    finally:
        tiny_da_model.reference_focal = 0.0


@pytest.mark.parametrize('width,height,f,expected', [
    (1024, 768, 886.81, 596.1),     # Hypersim: 60 deg HFOV, 512 / tan(30 deg)
    (1242, 375, 725.0087, 1003.3),  # Virtual KITTI 2 intrinsic.txt
])
def test_training_focals_follow_the_reference_training_resize(width, height, f, expected):
    # The training transform is the same lower_bound resize; the focal scales with it.
    net_w, net_h = reference_size(width, height)
    f_train = 0.5 * (f * net_w / width + f * net_h / height)
    assert f_train == pytest.approx(expected, abs=0.05)
    assert expected in REFERENCE_FOCALS.values()
    assert network_size(height, width) == (net_h, net_w)


def test_indoor_and_outdoor_reference_focals(tmp_path):
    from depth_node.testing.tiny_models import make_depth_anything
    outdoor = load_model(make_depth_anything(tmp_path / 'out', max_depth=80), 'cpu')
    assert outdoor.default_reference_focal == pytest.approx(1003.3)
    indoor = load_model(make_depth_anything(tmp_path / 'in', max_depth=20), 'cpu')
    assert indoor.default_reference_focal == pytest.approx(596.1)


def test_other_max_depth_needs_reference_focal(tmp_path):
    from depth_node.testing.tiny_models import make_depth_anything
    path = make_depth_anything(tmp_path / 'm10', max_depth=10)
    with pytest.raises(ModelLoadError, match='max_depth 10 m') as info:
        load_model(path, 'cpu')
    text = str(info.value)
    assert 'reference_focal:=' in text and '--fit-scale' in text and '\n' not in text
    model = load_model(path, 'cpu', 'fp32', reference_focal=450.0)
    assert model.reference_focal == 450.0 and model.default_reference_focal is None
    img = textured(240, 320)
    raw = model.predict(img, focal=None)
    f_net = focal_at((300.0, 300.0), (240, 320), model.net_size(240, 320))
    np.testing.assert_allclose(model.predict(img, focal=(300.0, 300.0)), raw * f_net / 450.0,
                               rtol=1e-5, atol=1e-6)
    # Cleared at run time (ros2 param set reference_focal 0): frames are refused, not
    # silently scaled with some other head's focal.
    model.reference_focal = 0.0
    with pytest.raises(ParameterValueError, match='reference_focal > 0'):
        model.predict(img, focal=(300.0, 300.0))
    np.testing.assert_array_equal(model.predict(img, focal=None), raw)


def test_relative_checkpoint_is_refused(tmp_path):
    from depth_node.testing.tiny_models import make_depth_anything
    path = make_depth_anything(tmp_path / 'rel', metric=False)
    with pytest.raises(UnsupportedModelError, match='relative-depth'):
        load_model(path, 'cpu')


def test_not_a_depth_model_is_refused(tmp_path):
    from transformers import Dinov2Config, Dinov2Model
    Dinov2Model(Dinov2Config(hidden_size=8, num_hidden_layers=1, num_attention_heads=1,
                             intermediate_size=8)).save_pretrained(str(tmp_path))
    with pytest.raises(UnsupportedModelError, match="'dinov2' model, not a supported"):
        load_model(str(tmp_path), 'cpu')


@pytest.mark.parametrize('model,match', [
    ('/no/such/dir', 'does not exist'),
    ('nobody/no-such-model', 'unreachable'),
    ('', 'no model given'),
])
def test_load_failures_are_one_line(model, match):
    with pytest.raises(ModelLoadError, match=match) as info:
        load_model(model, 'cpu')
    assert '\n' not in str(info.value)


def test_cuda_without_gpu_is_one_clear_line():
    if torch.cuda.is_available():
        pytest.skip('a GPU is present')
    with pytest.raises(ModelLoadError, match='no CUDA GPU'):
        load_model('unused', 'cuda')
