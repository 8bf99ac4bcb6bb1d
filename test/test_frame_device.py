# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
The payload stage on the model's device gives the host stage's outputs.

On CUDA, FrameProcessor builds the depth image and the cloud from the depth
tensor where the model left it (depth_node.device_cloud) and downloads one
buffer each. The same code runs on the CPU when ``device_payloads=True``, which
is how these tests check it here: same payload bytes as the numpy stage, and
the host depth map downloaded only when read.
"""

from depth_node.camera import camera_info_fields, pinhole_camera_info
from depth_node.device_payloads import DeviceFrameOutput
from depth_node.errors import InvalidDepthError
from depth_node.frame import FrameProcessor, OutputOptions
from depth_node.geometry import Intrinsics
from depth_node.testing.tiny_models import textured_image
import numpy as np
import pytest
import torch

#: The device stage runs on the CPU everywhere and on CUDA where there is one.
DEVICES = ['cpu'] + (['cuda'] if torch.cuda.is_available() else [])
W, H = 48, 36
INTR = Intrinsics(W, H, 40.0, 42.0, 23.1, 17.6)


class FakeModel:
    """A model returning a fixed depth map with holes, zeros, far and negative values."""

    family = 'fake'
    estimates_camera = False
    focal_estimated = False

    def __init__(self, depth=None, device='cpu'):
        self.device = torch.device(device)
        rng = np.random.default_rng(5)
        if depth is None:
            depth = rng.uniform(0.2, 70.0, (H, W)).astype(np.float32)
            depth[rng.random((H, W)) < 0.1] = np.nan
            depth[1, :] = 0.0
            depth[:, 2] = -3.0
            depth[4, 4] = np.inf
        self.depth = depth
        self.calls = []

    def predict_many(self, requests, max_batch=0):
        for index, request in enumerate(requests):
            self.calls.append(request.on_device)
            if not request.on_device:
                yield index, self.depth.copy()
                continue
            image = torch.from_numpy(np.array(request.pixels)).to(self.device)
            image = image.permute(2, 0, 1)[None][:, list(request.rgb_order)]
            yield index, (torch.from_numpy(self.depth.copy()).to(self.device), image)


def assert_same_outputs(host, dev):
    assert isinstance(dev, DeviceFrameOutput)
    assert (dev.depth_encoding, dev.depth_step) == (host.depth_encoding, host.depth_step)
    assert dev.depth_data.tobytes() == host.depth_data.tobytes()
    assert (dev.cloud is None) == (host.cloud is None)
    if host.cloud is not None:
        for name in ('height', 'width', 'fields', 'point_step', 'row_step', 'is_dense'):
            assert getattr(dev.cloud, name) == getattr(host.cloud, name), name
        assert dev.cloud.data.tobytes() == host.cloud.data.tobytes()
    assert dev.intrinsics == host.intrinsics and dev.camera_info == host.camera_info
    assert dev.flying_pixels == host.flying_pixels
    assert (dev.scan is None) == (host.scan is None)
    if host.scan is not None:
        assert dev.scan.ranges.tobytes() == host.scan.ranges.tobytes()
        assert dev.scan.angle_min == host.scan.angle_min
    assert (dev.colored is None) == (host.colored is None)
    if host.colored is not None:
        np.testing.assert_array_equal(dev.colored, host.colored)
    np.testing.assert_array_equal(dev.pixels, host.pixels)
    np.testing.assert_array_equal(dev.depth, host.depth)


@pytest.mark.parametrize('encoding', ['32FC1', '16UC1'])
@pytest.mark.parametrize('organized', [True, False])
@pytest.mark.parametrize('rgb', [True, False])
@pytest.mark.parametrize('stride,limits', [(1, (0.0, 0.0)), (3, (0.5, 30.0))])
@pytest.mark.parametrize('order', ['rgb8', 'bgr8'])
@pytest.mark.parametrize('device', DEVICES)
def test_device_payloads_equal_the_host_payloads(encoding, organized, rgb, stride, limits,
                                                 order, device):
    opts = OutputOptions(depth_encoding=encoding, points_rgb=rgb, points_stride=stride,
                         points_organized=organized, min_depth=limits[0],
                         max_depth=limits[1])
    pixels = textured_image(H, W, seed=2)
    rgb_order = (0, 1, 2)
    if order == 'bgr8':
        pixels, rgb_order = np.ascontiguousarray(pixels[..., ::-1]), (2, 1, 0)
    info = pinhole_camera_info(INTR)
    model = FakeModel(device=device)
    host = FrameProcessor(model, device_payloads=False).process_pixels(
        pixels, rgb_order, info, opts)
    dev = FrameProcessor(model, device_payloads=True).process_pixels(
        pixels, rgb_order, info, opts)
    assert model.calls == [False, True]
    assert_same_outputs(host, dev)
    assert set(dev.timings) >= {'depth_msg', 'cloud_msg'}


@pytest.mark.parametrize('decimation', [1, 2, 3])
@pytest.mark.parametrize('edges', ['off', 'cloud', 'depth'])
@pytest.mark.parametrize('organized', [True, False])
@pytest.mark.parametrize('device', DEVICES)
def test_navigation_steps_on_the_device_equal_the_host(decimation, edges, organized, device):
    """Decimation, the edge filter, the scan and the colourised depth as on the host."""
    opts = OutputOptions(decimation=decimation, edge_filter=edges != 'off',
                         edge_filter_depth=edges == 'depth', scan=True, scan_height=3,
                         colored=True, points_organized=organized, max_depth=40.0)
    pixels = textured_image(H, W, seed=3)
    info = pinhole_camera_info(INTR)
    depth = np.full((H, W), 4.0, np.float32)
    depth[:, W // 2:] = 1.5  # a step: flying pixels once blurred
    depth[:, W // 2 - 2:W // 2 + 2] = np.linspace(4.0, 1.5, 4, dtype=np.float32)
    depth[5, 5] = np.nan
    depth += np.random.default_rng(1).uniform(0, 0.01, depth.shape).astype(np.float32)
    model = FakeModel(depth, device=device)
    host = FrameProcessor(model, device_payloads=False).process_pixels(
        pixels, (0, 1, 2), info, opts)
    dev = FrameProcessor(model, device_payloads=True).process_pixels(
        pixels, (0, 1, 2), info, opts)
    assert_same_outputs(host, dev)
    if edges != 'off':
        assert dev.flying_pixels > 0
    assert set(dev.timings) >= {'depth_msg', 'cloud_msg', 'scan', 'colored'}


def test_tiny_network_through_both_stages(tiny_da_model):
    """A real model's predict(on_device=True) feeds the device stage; results match."""
    pixels = textured_image(H, W, seed=4)
    info = pinhole_camera_info(INTR)
    opts = OutputOptions()
    host = FrameProcessor(tiny_da_model).process_pixels(pixels, (0, 1, 2), info, opts)
    dev = FrameProcessor(tiny_da_model, device_payloads=True).process_pixels(
        pixels, (0, 1, 2), info, opts)
    assert_same_outputs(host, dev)
    assert set(dev.timings) >= {'upload', 'preprocess', 'network', 'postprocess'}


def test_predict_on_device_returns_depth_and_the_uploaded_rgb(tiny_da_model):
    pixels = textured_image(H, W, seed=6)
    bgr = np.ascontiguousarray(pixels[..., ::-1])
    depth, image = tiny_da_model.predict(bgr, (2, 1, 0), focal=(40.0, 42.0), on_device=True)
    assert torch.is_tensor(depth) and tuple(depth.shape) == (H, W)
    assert tuple(image.shape) == (1, 3, H, W) and image.dtype == torch.uint8
    np.testing.assert_array_equal(image[0].permute(1, 2, 0).numpy(), pixels)
    np.testing.assert_array_equal(
        depth.float().numpy(), tiny_da_model.predict(bgr, (2, 1, 0), focal=(40.0, 42.0)))


def test_host_depth_is_downloaded_only_when_read():
    out = FrameProcessor(FakeModel(), device_payloads=True).process_pixels(
        textured_image(H, W), (0, 1, 2), pinhole_camera_info(INTR), OutputOptions())
    assert out._host_depth is None and torch.is_tensor(out.device_depth)
    first = out.depth
    assert isinstance(first, np.ndarray) and first.dtype == np.float32
    assert out.depth is first


def test_undistortion_mask_applies_on_the_device():
    k = (INTR.fx, 0.0, INTR.cx, 0.0, INTR.fy, INTR.cy, 0.0, 0.0, 1.0)
    info = camera_info_fields(W, H, k, d=(0.3, 0.1, 0.0, 0.0, 0.0))
    opts = OutputOptions(rectify=True)
    model = FakeModel()
    pixels = textured_image(H, W, seed=8)
    host = FrameProcessor(model).process_pixels(pixels, (0, 1, 2), info, opts)
    dev_processor = FrameProcessor(model, device_payloads=True)
    for _ in range(2):  # the mask is uploaded once and reused
        dev = dev_processor.process_pixels(pixels, (0, 1, 2), info, opts)
        assert_same_outputs(host, dev)
    assert np.isnan(dev.depth).sum() > np.isnan(model.depth).sum()


def test_no_finite_depth_is_an_error_on_the_device_too():
    model = FakeModel(np.full((H, W), np.nan, np.float32))
    with pytest.raises(InvalidDepthError):
        FrameProcessor(model, device_payloads=True).process_pixels(
            textured_image(H, W), (0, 1, 2), pinhole_camera_info(INTR), OutputOptions())


def test_device_payloads_default_to_cuda_models_only():
    assert FrameProcessor(FakeModel()).device_payloads is False
    model = FakeModel()
    model.device = torch.device('cuda', 0)  # never used: only the default is read
    assert FrameProcessor(model).device_payloads is True
