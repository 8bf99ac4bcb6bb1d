# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""Intrinsics, rays and cloud packing against an independent back-projection."""

from types import SimpleNamespace

from depth_node.errors import BadCameraInfoError
from depth_node.geometry import (backproject, check_image_size, CloudBuilder, Intrinsics,
                                 intrinsics_from_camera_info)
import numpy as np
import pytest


def camera_info(width=640, height=480, k=None, p=None, binning=(0, 0), roi=None):
    k = k if k is not None else [500.0, 0, 320, 0, 510.0, 240, 0, 0, 1]
    p = p if p is not None else [0.0] * 12
    roi = roi or SimpleNamespace(x_offset=0, y_offset=0, width=0, height=0, do_rectify=False)
    return SimpleNamespace(width=width, height=height, k=k, p=p, binning_x=binning[0],
                           binning_y=binning[1], roi=roi)


def test_p_is_preferred_over_k():
    info = camera_info(p=[400.0, 0, 300, 0, 0, 410.0, 200, 0, 0, 0, 1, 0])
    intr = intrinsics_from_camera_info(info)
    assert (intr.fx, intr.fy, intr.cx, intr.cy) == (400.0, 410.0, 300.0, 200.0)


def test_k_used_when_p_is_zero():
    intr = intrinsics_from_camera_info(camera_info())
    assert (intr.fx, intr.fy, intr.cx, intr.cy) == (500.0, 510.0, 320.0, 240.0)


def test_binning_and_roi():
    info = camera_info(binning=(2, 2))
    intr = intrinsics_from_camera_info(info)
    assert (intr.width, intr.height, intr.fx, intr.cx) == (320, 240, 250.0, 160.0)
    roi = SimpleNamespace(x_offset=100, y_offset=50, width=200, height=100, do_rectify=False)
    intr = intrinsics_from_camera_info(camera_info(roi=roi))
    assert (intr.width, intr.height, intr.cx, intr.cy) == (200, 100, 220.0, 190.0)


@pytest.mark.parametrize('k', [
    [0.0, 0, 320, 0, 0.0, 240, 0, 0, 1],
    [float('nan'), 0, 320, 0, 500, 240, 0, 0, 1],
    [500.0, 0, float('inf'), 0, 500, 240, 0, 0, 1],
    [-500.0, 0, 320, 0, 500, 240, 0, 0, 1],
])
def test_unusable_k_raises(k):
    with pytest.raises(BadCameraInfoError):
        intrinsics_from_camera_info(camera_info(k=k))


def test_size_mismatch_raises():
    intr = intrinsics_from_camera_info(camera_info())
    check_image_size(intr, 640, 480)
    with pytest.raises(BadCameraInfoError, match='640x480 but the image is 320x240'):
        check_image_size(intr, 320, 240)


def test_scaled_keeps_pixel_centres():
    intr = Intrinsics(640, 480, 500.0, 500.0, 319.5, 239.5)
    half = intr.scaled(320, 240)
    assert (half.fx, half.cx, half.cy) == (250.0, 159.5, 119.5)


def independent_points(depth, intr):
    """X = z K^-1 [u v 1]^T with an explicit matrix inverse."""
    k = np.array(intr.k(), np.float64).reshape(3, 3)
    v, u = np.mgrid[0:depth.shape[0], 0:depth.shape[1]]
    pix = np.stack([u, v, np.ones_like(u)], -1).reshape(-1, 3).T
    rays = np.linalg.inv(k) @ pix
    return (rays * depth.reshape(1, -1)).T.reshape(depth.shape + (3,))


def test_backprojection_matches_matrix_inverse():
    rng = np.random.default_rng(0)
    intr = Intrinsics(40, 30, 35.0, 37.0, 19.2, 14.7)
    depth = rng.uniform(0.5, 8.0, (30, 40)).astype(np.float32)
    np.testing.assert_allclose(backproject(depth, intr), independent_points(depth, intr),
                               rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('stride', [1, 3])
def test_organized_cloud_geometry_and_invalid(stride):
    rng = np.random.default_rng(2)
    intr = Intrinsics(40, 30, 35.0, 37.0, 19.2, 14.7)
    depth = rng.uniform(0.5, 8.0, (30, 40)).astype(np.float32)
    depth[0, 0] = np.nan
    depth[3, 3] = 0.0
    depth[6, 6] = 9.5
    cloud = CloudBuilder().build(depth, intr, None, stride=stride, max_depth=9.0)
    assert cloud.is_dense is False
    pts = np.frombuffer(cloud.data, np.float32).reshape(cloud.height, cloud.width, 3)
    ref = independent_points(depth, intr)[::stride, ::stride]
    sub = depth[::stride, ::stride]
    valid = (sub > 0) & (sub <= 9.0)
    assert pts.shape == ref.shape
    np.testing.assert_allclose(pts[valid], ref[valid], rtol=1e-5, atol=1e-5)
    assert np.isnan(pts[~valid]).all()
    assert cloud.row_step == cloud.point_step * cloud.width


def test_dense_cloud_keeps_only_valid_points_in_range():
    intr = Intrinsics(4, 2, 2.0, 2.0, 1.5, 0.5)
    depth = np.array([[1.0, 2.0, 3.0, np.nan], [0.2, 5.0, 0.0, 4.0]], np.float32)
    rgb = np.arange(24, dtype=np.uint8).reshape(2, 4, 3)
    cloud = CloudBuilder().build(depth, intr, rgb, organized=False, min_depth=0.5,
                                 max_depth=4.5)
    assert (cloud.height, cloud.is_dense) == (1, True)
    pts = np.frombuffer(cloud.data, np.float32).reshape(-1, 4)
    assert sorted(pts[:, 2].tolist()) == [1.0, 2.0, 3.0, 4.0]


@pytest.mark.parametrize('organized', [True, False])
@pytest.mark.parametrize('max_depth', [0.0, 100.0])
def test_infinite_depth_is_never_a_point(organized, max_depth):
    """+inf ("too far", e.g. Depth Anything 3's sky) is left out, also without a max_depth."""
    intr = Intrinsics(3, 2, 2.0, 2.0, 1.0, 0.5)
    depth = np.array([[1.0, np.inf, 2.0], [np.inf, 3.0, -np.inf]], np.float32)
    cloud = CloudBuilder().build(depth, intr, None, organized=organized, max_depth=max_depth)
    pts = np.frombuffer(cloud.data, np.float32).reshape(-1, 3)
    if organized:
        pts = pts.reshape(2, 3, 3)
        assert np.isnan(pts[np.isinf(depth)]).all()
        pts = pts[np.isfinite(depth)]
    assert np.isfinite(pts).all()
    assert sorted(pts[:, 2].tolist()) == [1.0, 2.0, 3.0]


def test_rays_rebuilt_only_when_camera_changes():
    builder = CloudBuilder()
    a = Intrinsics(8, 6, 5.0, 5.0, 4.0, 3.0)
    g1 = builder.grid(a, 1)
    assert builder.grid(Intrinsics(8, 6, 5.0, 5.0, 4.0, 3.0), 1) is g1
    assert builder.grid(a, 2) is not g1


@pytest.mark.parametrize('organized', [True, False])
def test_cloud_colour_of_bgra_and_mono_without_a_copy(organized):
    from depth_node.conversions import unpack_rgb
    rng = np.random.default_rng(3)
    intr = Intrinsics(8, 6, 5.0, 5.0, 4.0, 3.0)
    depth = rng.uniform(0.5, 4.0, (6, 8)).astype(np.float32)
    rgb = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
    bgra = np.concatenate([rgb[..., ::-1], np.full((6, 8, 1), 255, np.uint8)], axis=2)
    builder = CloudBuilder()
    for pixels, order, expected in ((bgra, (2, 1, 0), rgb),
                                    (rgb[..., :1], (0, 0, 0), np.repeat(rgb[..., :1], 3, 2))):
        cloud = builder.build(depth, intr, pixels, rgb_order=order, organized=organized)
        packed = np.frombuffer(cloud.data, np.float32).reshape(-1, 4)[:, 3]
        np.testing.assert_array_equal(unpack_rgb(packed), expected.reshape(-1, 3))
