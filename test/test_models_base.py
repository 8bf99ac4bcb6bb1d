# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
The resizes shared by the families: ``resize_depth`` (final) and ``resize_image`` (input).

On the CPU it is ``cv2.resize`` (several times faster than torch's CPU kernels), on
CUDA ``torch.nn.functional.interpolate``; both must give the same map. The
reference here is torch's ``interpolate(..., align_corners=False)``, as
transformers' ``post_process_depth_estimation`` and ml-depth-pro call it.
"""

from depth_node.models.base import rescaled, resize_depth, resize_image
import numpy as np
import pytest
import torch
import torch.nn.functional as F

#: Largest |cv2 - torch| allowed, relative to the map's largest value.
RELATIVE_BOUND = 5e-5


def depth_map(h, w, seed=0):
    """Return a depth-like map: smooth slopes, a 5 m step edge and sensor-like noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    depth = 2.0 + np.sin(xx / 37.0) + 0.5 * np.cos(yy / 23.0) + 5.0 * (xx > w / 2)
    return (depth + rng.normal(0.0, 0.05, depth.shape)).astype(np.float32)


def torch_reference(depth, size, mode):
    return F.interpolate(depth[None, None], size=size, mode=mode, align_corners=False)[0, 0]


@pytest.mark.parametrize('mode', ['bicubic', 'bilinear'])
@pytest.mark.parametrize('net,image', [((518, 686), (480, 640)), ((518, 924), (720, 1280)),
                                       ((518, 924), (1080, 1920)), ((384, 512), (572, 746)),
                                       ((518, 924), (360, 640)), ((128, 128), (97, 333))])
def test_cpu_resize_agrees_with_torch(mode, net, image):
    depth = torch.from_numpy(depth_map(*net))
    ours = resize_depth(depth, image, mode)
    ref = torch_reference(depth, image, mode)
    assert ours.shape == image and ours.dtype == torch.float32 and ours.device.type == 'cpu'
    assert (ours - ref).abs().max().item() <= RELATIVE_BOUND * ref.abs().max().item()


def test_same_size_is_returned_as_is():
    depth = torch.from_numpy(depth_map(30, 40))
    assert resize_depth(depth, (30, 40)) is depth


def test_views_and_half_precision_are_resized_too():
    full = torch.from_numpy(depth_map(60, 80))
    view = full[::2, 1::2]  # not contiguous
    np.testing.assert_allclose(resize_depth(view, (45, 50)).numpy(),
                               torch_reference(view.contiguous(), (45, 50), 'bicubic').numpy(),
                               rtol=RELATIVE_BOUND)
    half = resize_depth(full.half(), (90, 120))
    assert half.dtype == torch.float32
    ref = torch_reference(full.half().float(), (90, 120), 'bicubic')
    assert (half - ref).abs().max().item() <= RELATIVE_BOUND * ref.abs().max().item()


def test_other_devices_use_torch(monkeypatch):
    import cv2

    def no_cv2(*args, **kwargs):
        raise AssertionError('cv2.resize must only see CPU tensors')
    monkeypatch.setattr(cv2, 'resize', no_cv2)
    meta = torch.empty((10, 20), device='meta')
    out = resize_depth(meta, (30, 40))
    assert out.device.type == 'meta' and tuple(out.shape) == (30, 40)


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA GPU')
def test_cuda_resize_agrees_with_cpu():
    depth = torch.from_numpy(depth_map(518, 924))
    cpu = resize_depth(depth, (720, 1280))
    cuda = resize_depth(depth.cuda(), (720, 1280))
    assert cuda.device.type == 'cuda'
    assert (cuda.cpu() - cpu).abs().max().item() <= RELATIVE_BOUND * cpu.abs().max().item()


@pytest.mark.parametrize('image,net', [((480, 640), (518, 686)), ((360, 640), (518, 924)),
                                       ((1080, 1920), (518, 924)), ((61, 47), (518, 518))])
def test_cpu_image_resize_agrees_with_torch(image, net):
    # What runs on CUDA (torch bicubic, no antialias) against what runs on the CPU (OpenCV),
    # on uniform noise in 0..1, the worst case: float rounding only.
    gen = torch.Generator().manual_seed(0)
    x = torch.rand((1, 3) + image, generator=gen)
    ours = resize_image(x, net, 'bicubic')
    ref = F.interpolate(x, size=net, mode='bicubic', align_corners=False)
    assert ours.shape == ref.shape and ours.device.type == 'cpu'
    assert (ours - ref).abs().max().item() <= 2.5e-4
    meta = resize_image(torch.empty((1, 3) + image, device='meta'), net)
    assert meta.device.type == 'meta' and tuple(meta.shape) == (1, 3) + net


@pytest.mark.parametrize('factor', [1.0 / 255.0, 1.0 / 127.5, 0.017, None])
def test_rescaled_equals_torch_bit_for_bit(factor):
    """The CPU's one-pass rescale gives torch's ``image.float() * factor`` exactly."""
    every = torch.arange(256, dtype=torch.uint8).repeat(3).reshape(1, 3, 16, 16)
    pixels = torch.from_numpy(np.random.default_rng(1).integers(
        0, 256, (37, 53, 3), dtype=np.uint8)).permute(2, 0, 1).unsqueeze(0)  # an upload
    for image in (every, pixels, pixels[:, [2, 1, 0]]):  # NCHW, channels last, reordered
        ref = image.float() if factor is None else image.float() * factor
        ours = rescaled(image, factor)
        assert ours.dtype == torch.float32 and ours.shape == ref.shape
        assert torch.equal(ours.contiguous().view(torch.int32), ref.contiguous().view(torch.int32))
        # cv2.resize reads it without a copy (channels last): what resize_image needs.
        assert ours[0].permute(1, 2, 0).is_contiguous()


@pytest.mark.parametrize('family', ['depth_anything', 'zoedepth'])
def test_preprocessing_is_unchanged_by_the_one_pass_rescale(tmp_path, monkeypatch, family):
    """Network inputs with the CPU rescale equal those of torch's two passes, bit for bit."""
    from depth_node.models import depth_anything, load_model, zoedepth
    from depth_node.testing.tiny_models import make_depth_anything, make_zoedepth, textured_image
    module = depth_anything if family == 'depth_anything' else zoedepth
    maker = make_depth_anything if family == 'depth_anything' else make_zoedepth
    model = load_model(maker(tmp_path), 'cpu')

    def torch_route(image, factor):
        x = image.float()
        return x if factor is None else x * float(factor)
    for shape, order in (((96, 128), (0, 1, 2)), ((73, 191), (2, 1, 0))):
        with torch.inference_mode():
            image = model.upload(textured_image(*shape, seed=2), order)
            ours, ctx = model.preprocess(image)
            with monkeypatch.context() as patch:
                patch.setattr(module, 'rescaled', torch_route)
                ref, ref_ctx = model.preprocess(image)
        assert ctx == ref_ctx and torch.equal(ours, ref)
