# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""Device-side depth and cloud payloads against the numpy reference, byte for byte."""

import itertools

from depth_node.conversions import depth_to_image_fields
from depth_node.device_cloud import (depth_image_fields, DeviceCloudBuilder, download_bytes,
                                     to_device_image)
from depth_node.geometry import CloudBuilder, Intrinsics
import numpy as np
import pytest
import torch

DEVICES = ['cpu'] + (['cuda'] if torch.cuda.is_available() else [])

#: Channel layouts of the input image: (channels, rgb_order) for rgb8, bgr8, rgba8, bgra8, mono8.
LAYOUTS = {'rgb8': (3, (0, 1, 2)), 'bgr8': (3, (2, 1, 0)), 'rgba8': (4, (0, 1, 2)),
           'bgra8': (4, (2, 1, 0)), 'mono8': (1, (0, 0, 0))}


def awkward_depth(height, width, seed=0):
    """Return depth with NaN, zero, negative, tiny, huge and in-range values."""
    rng = np.random.default_rng(seed)
    depth = rng.uniform(0.05, 30.0, (height, width)).astype(np.float32)
    flat = depth.reshape(-1)
    picks = rng.choice(flat.size, size=flat.size // 3, replace=False)
    specials = np.array([np.nan, 0.0, -1.0, 1e-7, 70.0, 0.5, 10.0, 65.5355, 65.5365, np.inf,
                         -np.inf],
                        np.float32)
    flat[picks] = specials[rng.integers(0, specials.size, picks.size)]
    return depth


def camera(height, width):
    return Intrinsics(width, height, 0.9 * width, 0.95 * width, width / 2.0 - 0.3,
                      height / 2.0 + 0.7)


@pytest.mark.parametrize('device', DEVICES)
@pytest.mark.parametrize('encoding', ['32FC1', '16UC1'])
def test_depth_payload_is_bit_identical(device, encoding):
    depth = awkward_depth(37, 53)
    ref = depth_to_image_fields(depth, encoding)
    got = depth_image_fields(torch.from_numpy(depth).to(device), encoding)
    assert got[:2] == ref[:2]
    assert got[2].typecode == 'B'
    assert got[2].tobytes() == ref[2].tobytes()


OPTIONS = list(itertools.product(
    [True, False],                      # organized
    [1, 2, 3],                          # stride
    [(0.0, 0.0), (0.5, 0.0), (0.0, 12.0), (1.0, 10.0), (-2.0, 0.0)],  # min, max depth
    [None] + list(LAYOUTS),             # colour layout (None: no rgb field)
))


@pytest.mark.parametrize('device', DEVICES)
@pytest.mark.parametrize('organized,stride,limits,layout', OPTIONS)
def test_cloud_matches_cloud_builder(device, organized, stride, limits, layout):
    height, width = 23, 31
    depth = awkward_depth(height, width, seed=stride)
    intr = camera(height, width)
    rng = np.random.default_rng(1)
    rgb, order, rgb_dev = None, (0, 1, 2), None
    if layout is not None:
        channels, order = LAYOUTS[layout]
        rgb = rng.integers(0, 256, (height, width, channels), dtype=np.uint8)
        rgb_dev = to_device_image(rgb, device)
    opts = dict(rgb_order=order, stride=stride, organized=organized,
                min_depth=limits[0], max_depth=limits[1])
    ref = CloudBuilder().build(depth, intr, rgb, **opts)
    got = DeviceCloudBuilder(device).build(torch.from_numpy(depth).to(device), intr, rgb_dev,
                                           **opts)
    assert (got.height, got.width, got.point_step, got.row_step, got.is_dense) == (
        ref.height, ref.width, ref.point_step, ref.row_step, ref.is_dense)
    assert list(got.fields) == list(ref.fields)
    assert got.data.typecode == 'B'
    assert len(got.data) == len(ref.data)
    # One IEEE multiplication per coordinate and NaN by selection: the same bytes.
    assert got.data.tobytes() == ref.data.tobytes()


def test_cloud_from_a_device_image_view():
    """The uploaded 1 x 3 x H x W image (already RGB) packs through a permuted view."""
    height, width = 12, 18
    depth = awkward_depth(height, width)
    intr = camera(height, width)
    bgr = np.random.default_rng(2).integers(0, 256, (height, width, 3), dtype=np.uint8)
    chw = torch.from_numpy(bgr[:, :, ::-1].copy()).permute(2, 0, 1)  # RGB planes
    ref = CloudBuilder().build(depth, intr, bgr, rgb_order=(2, 1, 0))
    got = DeviceCloudBuilder().build(torch.from_numpy(depth), intr, chw.permute(1, 2, 0))
    assert got.data.tobytes() == ref.data.tobytes()


def test_rays_are_cached_per_camera_and_stride():
    builder = DeviceCloudBuilder()
    intr = camera(10, 12)
    first = builder.rays(intr, 1)
    assert builder.rays(intr, 1)[0] is first[0]
    assert builder.rays(intr, 2)[0].shape == (1, 6)
    assert builder.rays(camera(10, 14), 1)[0].shape == (1, 14)


def test_dense_cloud_with_no_valid_point_is_empty():
    depth = np.full((5, 7), np.nan, np.float32)
    got = DeviceCloudBuilder().build(torch.from_numpy(depth), camera(5, 7), organized=False)
    assert (got.height, got.width, len(got.data), got.is_dense) == (1, 0, 0, True)


def test_download_bytes_is_one_array_of_the_tensor_bytes():
    t = torch.arange(12, dtype=torch.float32).reshape(3, 4)[:, ::2]  # not contiguous
    buf = download_bytes(t)
    assert buf.typecode == 'B'
    assert buf.tobytes() == np.ascontiguousarray(t.numpy()).tobytes()
