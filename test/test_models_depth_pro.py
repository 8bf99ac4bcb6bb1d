# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
Depth Pro: our torch pre/post-processing against transformers', and the focal semantics.

transformers 5.23 has only ``DepthProImageProcessor``, whose module imports
torchvision at the top, and torchvision is not installable here. So:

* post-processing: the library's own ``post_process_depth_estimation`` is taken
  from its source file and executed unchanged (it uses only torch, and the
  values of torchvision's interpolation-mode enum, given here as strings);
* preprocessing: compared with a re-statement of the processor's documented
  steps (``_preprocess``: rescale and normalise first, then
  ``resize(..., antialias=False)``, i.e. ``interpolate(bilinear,
  align_corners=False, antialias=False)`` on float tensors).
"""

import ast
import importlib
import math
from pathlib import Path
from types import SimpleNamespace

from depth_node.errors import BadCameraInfoError
from depth_node.models import load_model, resolve_dtype
from depth_node.models.depth_pro import FOCAL_FROM_CAMERA, FOCAL_FROM_FOV, focal_from_fov
import numpy as np
import pytest
import torch
import torch.nn.functional as F


def textured(h, w, seed=0):
    from depth_node.testing.tiny_models import textured_image
    return textured_image(h, w, seed)


def library_post_process():
    """Return transformers' DepthPro ``post_process_depth_estimation``, from its source."""
    import transformers
    from transformers.image_utils import PILImageResampling
    from transformers.utils import TensorType
    path = (Path(transformers.__file__).parent / 'models' / 'depth_pro'
            / 'image_processing_depth_pro.py')
    tree = ast.parse(path.read_text(encoding='utf-8'))
    cls = next(n for n in tree.body
               if isinstance(n, ast.ClassDef) and n.name == 'DepthProImageProcessor')
    func = next(n for n in cls.body if isinstance(n, ast.FunctionDef)
                and n.name == 'post_process_depth_estimation')
    # transformers.image_utils.pil_torch_interpolation_mapping maps PIL codes to torchvision's
    # InterpolationMode enum (empty without torchvision); the function reads only .value.
    modes = {PILImageResampling.NEAREST: 'nearest-exact', PILImageResampling.BILINEAR: 'bilinear',
             PILImageResampling.BICUBIC: 'bicubic'}
    namespace = {'torch': torch, 'TensorType': TensorType,
                 'pil_torch_interpolation_mapping': {
                     k: SimpleNamespace(value=v) for k, v in modes.items()}}
    exec(compile(ast.Module(body=[func], type_ignores=[]), str(path), 'exec'), namespace)
    return namespace['post_process_depth_estimation']


class ProcessorConfig:
    """``self`` for the library function: it reads only ``resample``."""

    def __init__(self, processor: dict):
        self.resample = processor.get('resample', 2)


@pytest.fixture(scope='module')
def dp_dir(tmp_path_factory):
    from depth_node.testing.tiny_models import make_depth_pro
    return make_depth_pro(tmp_path_factory.mktemp('tiny_dp'))


@pytest.fixture(scope='module')
def dp_model(dp_dir):
    return load_model(dp_dir, 'cpu', 'fp32')


def test_reference_processor_needs_torchvision():
    # Why preprocessing is compared with a re-statement below.
    try:
        import torchvision  # noqa: F401
        pytest.skip('torchvision is installed')
    except ImportError:
        pass
    with pytest.raises(ImportError, match='torchvision'):
        importlib.import_module('transformers.models.depth_pro.image_processing_depth_pro')


@pytest.mark.parametrize('hw', [(480, 640), (720, 1280), (257, 333), (1600, 1200)])
def test_preprocess_matches_processor_steps(dp_model, hw):
    img = textured(*hw)
    # DepthProImageProcessor._preprocess: rescale_and_normalize, then resize without
    # antialias (torchvision's resize on float tensors: interpolate, align_corners=False).
    x = torch.from_numpy(np.array(img)).permute(2, 0, 1).unsqueeze(0).float()
    x = (x / 255.0 - 0.5) / 0.5
    ref = F.interpolate(x, size=(128, 128), mode='bilinear', align_corners=False,
                        antialias=False)
    ours, ctx = dp_model.preprocess(dp_model.upload(img))
    assert ctx['in_size'] == hw and ctx['net_size'] == (128, 128)
    torch.testing.assert_close(ours, ref, rtol=0, atol=1e-5)


def test_postprocess_without_focal_matches_transformers(dp_model):
    img = textured(480, 640)
    post = library_post_process()
    pixel_values, ctx = dp_model.preprocess(dp_model.upload(img))
    with torch.inference_mode():
        outputs = dp_model.forward(pixel_values)
        ref = post(ProcessorConfig(dp_model.processor), outputs, target_sizes=[(480, 640)])[0]
        ours = dp_model.postprocess(outputs, ctx, focal=None)
    assert dp_model.last_focal_source == FOCAL_FROM_FOV
    assert ours.shape == (480, 640)
    torch.testing.assert_close(ours, ref['predicted_depth'], rtol=1e-5, atol=1e-6)
    assert dp_model.last_focal_px == pytest.approx(float(ref['focal_length']), rel=1e-6)
    assert dp_model.last_fov_deg == pytest.approx(float(ref['field_of_view']), rel=1e-6)


def test_predict_matches_transformers_end_to_end(dp_model, dp_dir):
    from transformers import AutoModelForDepthEstimation
    img = textured(360, 480, seed=3)
    net = AutoModelForDepthEstimation.from_pretrained(dp_dir).eval()
    x = torch.from_numpy(np.array(img)).permute(2, 0, 1).unsqueeze(0).float()
    x = F.interpolate((x / 255.0 - 0.5) / 0.5, size=(128, 128), mode='bilinear',
                      align_corners=False, antialias=False)
    with torch.inference_mode():
        ref = library_post_process()(ProcessorConfig(dp_model.processor), net(pixel_values=x),
                                     target_sizes=[(360, 480)])[0]['predicted_depth'].numpy()
    ours = dp_model.predict(img, focal=None)
    assert ours.shape == (360, 480) and ours.dtype == np.float32
    assert ref.std() > 0.01 * ref.mean(), 'the tiny model must give an image-dependent output'
    np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-6)


def test_camera_focal_replaces_the_estimate(dp_model):
    # depth = f_px / (W * canonical inverse depth): with the camera's fx instead of the
    # estimated focal, depth scales by fx / f_estimated, pixel for pixel.
    img = textured(240, 320, seed=1)
    estimated = dp_model.predict(img, focal=None)
    f_est = dp_model.last_focal_px
    assert f_est == pytest.approx(160.0 / math.tan(math.radians(dp_model.last_fov_deg) / 2))
    camera = dp_model.predict(img, focal=(250.0, 999.0))
    assert dp_model.last_focal_source == FOCAL_FROM_CAMERA
    assert dp_model.last_focal_px == 250.0
    np.testing.assert_allclose(camera, estimated * 250.0 / f_est, rtol=1e-5)


def test_depth_is_proportional_to_fx_only(dp_model):
    img = textured(240, 320, seed=2)
    d1 = dp_model.predict(img, focal=(300.0, 300.0))
    d2 = dp_model.predict(img, focal=(600.0, 300.0))
    d3 = dp_model.predict(img, focal=(300.0, 600.0))
    np.testing.assert_allclose(d2, 2.0 * d1, rtol=1e-5)
    np.testing.assert_allclose(d3, d1, rtol=1e-6)


def test_formula_of_ml_depth_pro(dp_model):
    # apple/ml-depth-pro DepthPro.infer: inverse_depth = canonical * (W / f_px), resized
    # to (H, W) bilinearly, depth = 1 / clamp(inverse_depth, 1e-4, 1e4).
    img = textured(200, 300, seed=4)
    pixel_values, ctx = dp_model.preprocess(dp_model.upload(img))
    with torch.inference_mode():
        canonical = dp_model.forward(pixel_values).predicted_depth.float()
    inverse = F.interpolate((canonical * (300 / 280.0)).unsqueeze(1), size=(200, 300),
                            mode='bilinear', align_corners=False)[0, 0]
    expected = (1.0 / inverse.clamp(1e-4, 1e4)).numpy()
    np.testing.assert_allclose(dp_model.predict(img, focal=(280.0, 280.0)), expected, rtol=1e-5)


@pytest.mark.parametrize('focal', [(0.0, 500.0), (-1.0, 500.0), (float('nan'), 1.0),
                                   (float('inf'), 1.0)])
def test_unusable_focal_falls_back_to_the_estimate(dp_model, focal):
    img = textured(120, 160)
    estimated = dp_model.predict(img, focal=None)
    np.testing.assert_array_equal(dp_model.predict(img, focal=focal), estimated)
    assert dp_model.last_focal_source == FOCAL_FROM_FOV


def test_estimated_intrinsics_for_unusable_camera_info(dp_model):
    depth = dp_model.predict(textured(120, 160), focal=None)
    intr = dp_model.estimated_intrinsics(160, 120)
    assert (intr.width, intr.height, intr.cx, intr.cy) == (160, 120, 79.5, 59.5)
    assert intr.fx == intr.fy == pytest.approx(dp_model.last_focal_px)
    # The depth is consistent with the camera it is published with.
    np.testing.assert_allclose(dp_model.predict(textured(120, 160), focal=(intr.fx, intr.fy)),
                               depth, rtol=1e-5)


def test_checkpoint_without_fov_head_needs_intrinsics(tmp_path):
    from depth_node.testing.tiny_models import make_depth_pro
    model = load_model(make_depth_pro(tmp_path, use_fov_model=False), 'cpu',
                       warmup=(64, 48))
    assert not model.has_fov_head
    img = textured(96, 128)
    depth = model.predict(img, focal=(100.0, 100.0))
    assert np.isfinite(depth).all() and (depth > 0).all()
    with pytest.raises(BadCameraInfoError, match='needs the camera focal length'):
        model.predict(img, focal=None)
    assert model.estimated_intrinsics(128, 96) is None


def test_focal_from_fov():
    assert float(focal_from_fov(torch.tensor(90.0), 640)) == pytest.approx(320.0)
    assert float(focal_from_fov(torch.tensor(60.0), 1024)) == pytest.approx(886.81, abs=0.01)


def test_auto_precision_is_fp16_on_cuda_for_every_family():
    cuda = torch.device('cuda')
    for family in ('depth_anything', 'zoedepth', 'depth_pro'):
        assert resolve_dtype('auto', cuda, family) == torch.float16
        assert resolve_dtype('auto', torch.device('cpu'), family) == torch.float32
    assert resolve_dtype('bf16', cuda, 'depth_pro') == torch.bfloat16


def test_estimated_camera_is_the_one_the_depth_was_computed_with(dp_model):
    from depth_node.geometry import Intrinsics
    img = textured(120, 160, seed=6)
    camera = Intrinsics(160, 120, 150.0, 156.0, 70.0, 62.0)
    # The camera's fx gave the scale: depth belongs to the camera.
    dp_model.predict(img, focal=(camera.fx, camera.fy))
    assert not dp_model.focal_estimated
    # focal_scaling:=false: the estimate gave the scale (ml-depth-pro DepthPro.infer with
    # f_px=None: f_px = 0.5 W / tan(fov / 2)); the camera keeps its principal point and
    # pixel aspect, fx becomes that f_px.
    depth = dp_model.predict(img, focal=None)
    assert dp_model.focal_estimated
    f_px = 0.5 * 160 / math.tan(0.5 * math.radians(dp_model.last_fov_deg))
    intr = dp_model.estimated_intrinsics(160, 120, camera)
    assert intr.fx == pytest.approx(f_px, rel=1e-6)
    assert intr.fy == pytest.approx(f_px * 156.0 / 150.0, rel=1e-6)
    assert (intr.cx, intr.cy, intr.width, intr.height) == (70.0, 62.0, 160, 120)
    np.testing.assert_allclose(dp_model.predict(img, focal=(intr.fx, intr.fy)), depth,
                               rtol=1e-5)
    # Without a camera, or with one of another size (unusable camera_info): square
    # pixels, principal point at the centre.
    dp_model.predict(img, focal=None)
    for other in (None, Intrinsics(320, 240, 300.0, 300.0, 160.0, 120.0)):
        alone = dp_model.estimated_intrinsics(160, 120, other)
        assert (alone.fx, alone.cx, alone.cy) == (pytest.approx(f_px, rel=1e-6), 79.5, 59.5)
        assert alone.fy == alone.fx


@pytest.mark.parametrize('fov', [-20.0, 0.0, 0.5, 175.0, 200.0, float('nan')])
def test_implausible_field_of_view_is_refused(tmp_path, fov):
    from depth_node.testing.tiny_models import make_depth_pro
    model = load_model(make_depth_pro(tmp_path, fov_deg=fov), 'cpu', 'fp32')
    img = textured(96, 128)
    with pytest.raises(BadCameraInfoError, match='estimated field of view') as info:
        model.predict(img, focal=None)
    assert '\n' not in str(info.value) and 'camera_info' in str(info.value)
    assert model.last_focal_source is None
    with pytest.raises(BadCameraInfoError, match='estimated field of view'):
        model.estimated_intrinsics(128, 96)
    # A calibrated camera still works: the estimate is not used then.
    depth = model.predict(img, focal=(100.0, 100.0))
    assert np.isfinite(depth).all() and model.last_focal_source == FOCAL_FROM_CAMERA


def test_frame_path_back_projects_with_the_focal_of_the_depth(dp_model):
    """focal_scaling false with a valid camera_info, through the one frame path."""
    from depth_node.camera import pinhole_camera_info
    from depth_node.frame import FrameProcessor, OutputOptions
    from depth_node.geometry import Intrinsics
    w, h = 96, 72
    camera = Intrinsics(w, h, 80.0, 84.0, 44.0, 40.0)  # off-centre, non-square pixels
    img = textured(h, w, seed=8)
    out = FrameProcessor(dp_model).process_pixels(
        img, (0, 1, 2), pinhole_camera_info(camera),
        OutputOptions(focal_scaling=False, edge_filter=False))
    f_px = 0.5 * w / math.tan(0.5 * math.radians(dp_model.last_fov_deg))
    intr = out.intrinsics
    assert intr.fx == pytest.approx(f_px, rel=1e-6)
    assert intr.fy == pytest.approx(f_px * 84.0 / 80.0, rel=1e-6)
    assert (intr.cx, intr.cy) == (44.0, 40.0)
    assert out.camera_info == pinhole_camera_info(intr)
    assert [e.kind for e in out.events] == ['camera_estimated']
    # The depth is the one computed with that focal (ml-depth-pro: f_px / (W x inverse)) ...
    np.testing.assert_allclose(out.depth, dp_model.predict(img, focal=(f_px, f_px)),
                               rtol=1e-5)
    # ... and the cloud is back-projected with it: X = (u - cx) Z / fx, Y = (v - cy) Z / fy.
    xyz = np.frombuffer(out.cloud.data, np.float32).reshape(h, w, -1)[..., :3]
    u = np.arange(w, dtype=np.float64)[None, :]
    v = np.arange(h, dtype=np.float64)[:, None]
    z = out.depth.astype(np.float64)
    np.testing.assert_allclose(xyz[..., 0], (u - 44.0) * z / f_px, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(xyz[..., 1], (v - 40.0) * z / (f_px * 84.0 / 80.0), rtol=1e-5,
                               atol=1e-6)
    np.testing.assert_allclose(xyz[..., 2], z, rtol=1e-6)


def test_frame_path_refuses_an_implausible_field_of_view(tmp_path):
    from depth_node.camera import camera_info_fields, pinhole_camera_info
    from depth_node.frame import FrameProcessor, OutputOptions
    from depth_node.geometry import Intrinsics
    from depth_node.testing.tiny_models import make_depth_pro
    model = load_model(make_depth_pro(tmp_path, fov_deg=200.0), 'cpu', 'fp32')
    img = textured(48, 64)
    valid = pinhole_camera_info(Intrinsics(64, 48, 60.0, 60.0, 31.5, 23.5))
    uncalibrated = camera_info_fields(64, 48, (0.0,) * 9, p=(0.0,) * 12)
    for info, focal_scaling in ((valid, False), (uncalibrated, True)):
        with pytest.raises(BadCameraInfoError, match='estimated field of view is 2'):
            FrameProcessor(model).process_pixels(img, (0, 1, 2), info,
                                                 OutputOptions(focal_scaling=focal_scaling))
    out = FrameProcessor(model).process_pixels(img, (0, 1, 2), valid, OutputOptions())
    assert out.intrinsics.fx == 60.0 and np.isfinite(out.depth).all()
