# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""Depth Anything V2 metric: our torch pre/post-processing against transformers' own."""

from depth_node.errors import ModelLoadError, UnsupportedModelError
from depth_node.models import load_model
from depth_node.models.depth_anything import focal_at
import numpy as np
from PIL import Image as PILImage
import pytest
import torch

# One uint8 level after ImageNet normalisation is 1 / 255 / 0.225 = 0.0174.
LEVEL = 1.0 / 255.0 / 0.225


def textured(h, w, seed=0):
    """Make a smooth but textured test image (random noise resamples too harshly)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (max(h // 8, 2), max(w // 8, 2), 3), dtype=np.uint8)
    return np.asarray(PILImage.fromarray(small).resize((w, h), PILImage.BILINEAR))


def reference_processor(path):
    from transformers import DPTImageProcessorPil
    return DPTImageProcessorPil.from_pretrained(path)


@pytest.mark.parametrize('hw', [(480, 640), (720, 1280), (240, 320), (257, 333), (600, 400)])
def test_preprocess_matches_transformers_pil_processor(tiny_da_model, tiny_da_dir, hw):
    img = textured(*hw)
    ref = reference_processor(tiny_da_dir)(images=img, return_tensors='pt')['pixel_values']
    ours, ctx = tiny_da_model.preprocess(tiny_da_model.upload(img))
    assert tuple(ours.shape) == tuple(ref.shape)
    diff = (ours.float() - ref).abs()
    # Tolerance: PIL resamples in fixed point; we round float results to the same
    # uint8 levels, so differences are at most a level at a few pixels.
    assert diff.max().item() <= 1.01 * LEVEL
    assert diff.mean().item() < 0.3 * LEVEL
    assert ctx['net_size'] == tuple(ref.shape[-2:])


def test_postprocess_matches_transformers(tiny_da_model, tiny_da_dir):
    img = textured(480, 640)
    proc = reference_processor(tiny_da_dir)
    pixel_values, ctx = tiny_da_model.preprocess(tiny_da_model.upload(img))
    with torch.inference_mode():
        outputs = tiny_da_model.forward(pixel_values)
    ref = proc.post_process_depth_estimation(outputs, target_sizes=[(480, 640)])
    ours = tiny_da_model.postprocess(outputs, ctx, focal=None)
    torch.testing.assert_close(ours, ref[0]['predicted_depth'], rtol=1e-5, atol=1e-5)


def test_predict_matches_transformers_end_to_end(tiny_da_model, tiny_da_dir):
    from transformers import AutoModelForDepthEstimation
    img = textured(360, 480, seed=3)
    proc = reference_processor(tiny_da_dir)
    net = AutoModelForDepthEstimation.from_pretrained(tiny_da_dir).eval()
    with torch.inference_mode():
        ref = proc.post_process_depth_estimation(
            net(**proc(images=img, return_tensors='pt')), target_sizes=[(360, 480)])
    ref = ref[0]['predicted_depth'].numpy()
    ours = tiny_da_model.predict(img, focal=None)
    assert ours.shape == (360, 480) and ours.dtype == np.float32
    assert ref.std() > 0.05, 'the tiny model must give an image-dependent output'
    # Inputs differ by at most one uint8 level (see above); the random network
    # amplifies that a little, so compare robustly rather than pixel by pixel.
    assert np.median(np.abs(ours - ref)) < 0.05 * ref.std()
    assert np.corrcoef(ours.ravel(), ref.ravel())[0, 1] > 0.999


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


def test_focal_scaling_uses_reference_at_network_resolution(tiny_da_model):
    img = textured(480, 640)
    raw = tiny_da_model.predict(img, focal=None)
    # 640x480 -> 686x518 at the network input
    f_net = focal_at((500.0, 500.0), (480, 640), (518, 686))
    assert f_net == pytest.approx(0.5 * (500 * 686 / 640 + 500 * 518 / 480))
    scaled = tiny_da_model.predict(img, focal=(500.0, 500.0))
    np.testing.assert_allclose(scaled, raw * f_net / tiny_da_model.reference_focal, rtol=1e-5,
                               atol=1e-5)
    try:
        tiny_da_model.reference_focal = f_net
        np.testing.assert_allclose(tiny_da_model.predict(img, focal=(500.0, 500.0)), raw,
                                   rtol=1e-5)
    finally:
        tiny_da_model.reference_focal = 0.0


def test_indoor_and_outdoor_reference_focals(tmp_path):
    from depth_node.testing.tiny_models import make_depth_anything
    outdoor = load_model(make_depth_anything(tmp_path / 'out', max_depth=80), 'cpu')
    assert outdoor.default_reference_focal == pytest.approx(1003.3)
    indoor = load_model(make_depth_anything(tmp_path / 'in', max_depth=20), 'cpu')
    assert indoor.default_reference_focal == pytest.approx(596.1)


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
