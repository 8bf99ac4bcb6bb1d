# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""Intrinsics, rays and cloud packing against an independent back-projection."""

from types import SimpleNamespace

from depth_node import buffers
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


def reference_cloud(depth, intr, rgb, rgb_order, stride, organized, min_depth, max_depth):
    """Return the cloud bytes computed the plain way (boolean indexing), for comparison."""
    s = stride
    fx, fy, cx, cy = intr.fx, intr.fy, intr.cx, intr.cy
    rx = ((np.arange(0, intr.width, s, dtype=np.float64) - cx) / fx).astype(np.float32)
    ry = ((np.arange(0, intr.height, s, dtype=np.float64) - cy) / fy).astype(np.float32)
    rx, ry = np.broadcast_arrays(rx[None, :], ry[:, None])
    z = depth[::s, ::s]
    with np.errstate(invalid='ignore'):
        valid = z > max(min_depth, 0.0)
        valid &= z <= max_depth if max_depth > 0.0 else z < np.inf
    if not organized:
        rx, ry, z = rx[valid], ry[valid], z[valid]
    else:
        z = np.where(valid, z, np.float32(np.nan))
    nf = 3 if rgb is None else 4
    out = np.zeros(z.shape + (nf,), np.float32)
    out[..., 0] = rx * z
    out[..., 1] = ry * z
    out[..., 2] = z
    if rgb is not None:
        pix = rgb[::s, ::s]
        if not organized:
            pix = pix[valid]
        red, green, blue = rgb_order
        r, g, b = (pix[..., c].astype(np.uint32) for c in (red, green, blue))
        packed = (r << 16) | (g << 8) | b
        out[..., 3] = packed.astype('<u4').view(np.float32)
    return out.tobytes()


def padded(pixels, pad=5):
    """Return a view of ``pixels`` whose rows are ``pad`` bytes apart more (an Image step)."""
    h, w, c = pixels.shape
    buf = np.zeros((h, w * c + pad), np.uint8)
    buf[:, :w * c] = pixels.reshape(h, w * c)
    return np.lib.stride_tricks.as_strided(buf, (h, w, c), (w * c + pad, c, 1))


COLOURS = [None, 'rgb', 'bgr', 'rgba', 'bgra', 'mono', 'padded', 'gbr']


def colour_input(rgb, colour):
    """Return ``(pixels, rgb_order)`` of ``rgb`` in one of the layouts a cloud takes."""
    return {
        None: (None, (0, 1, 2)), 'rgb': (rgb, (0, 1, 2)),
        'bgr': (np.ascontiguousarray(rgb[..., ::-1]), (2, 1, 0)),
        'rgba': (np.concatenate([rgb, rgb[..., 1:2]], 2), (0, 1, 2)),
        'bgra': (np.concatenate([rgb[..., ::-1], rgb[..., :1]], 2), (2, 1, 0)),
        'mono': (rgb[..., 1:2], (0, 0, 0)), 'padded': (padded(rgb), (0, 1, 2)),
        # An order no OpenCV conversion has: the channels are g, b, r.
        'gbr': (np.ascontiguousarray(rgb[..., [1, 2, 0]]), (2, 0, 1))}[colour]


@pytest.mark.parametrize('organized', [True, False])
@pytest.mark.parametrize('stride', [1, 2, 3])
@pytest.mark.parametrize('colour', COLOURS)
@pytest.mark.parametrize('limits', [(0.0, 0.0), (0.6, 4.5)])
@pytest.mark.parametrize('band', [None, 100])
def test_cloud_bytes_equal_the_plain_computation(organized, stride, colour, limits, band,
                                                 monkeypatch):
    """
    The fast paths write exactly the plain bytes, in one band or in many.

    ``band`` 100 pixels: bands of 2 or 3 rows (and a short last one), as a large image has.
    """
    if band is not None:
        monkeypatch.setattr(buffers, 'BAND_PIXELS', band)
    rng = np.random.default_rng(stride)
    intr = Intrinsics(37, 29, 31.0, 33.0, 17.3, 15.1)
    depth = rng.uniform(0.1, 6.0, (29, 37)).astype(np.float32)
    depth[rng.random(depth.shape) < 0.2] = np.nan
    depth[2, :] = 0.0
    depth[:, 5] = -1.0
    depth[7, 7] = np.inf
    depth[8, 8] = -np.float32(np.nan)
    rgb = rng.integers(0, 256, (29, 37, 3), dtype=np.uint8)
    pixels, order = colour_input(rgb, colour)
    builder = CloudBuilder()
    for _ in range(2):  # the second frame reuses the cached rays
        cloud = builder.build(depth, intr, pixels, rgb_order=order, stride=stride,
                              organized=organized, min_depth=limits[0], max_depth=limits[1])
        expected = reference_cloud(depth, intr, pixels, order, stride, organized, *limits)
        assert cloud.data.tobytes() == expected
        assert cloud.row_step == cloud.point_step * cloud.width
        assert cloud.height * cloud.row_step == len(cloud.data)


def test_dense_cloud_without_valid_points_is_empty():
    intr = Intrinsics(6, 4, 5.0, 5.0, 3.0, 2.0)
    depth = np.full((4, 6), np.nan, np.float32)
    rgb = np.zeros((4, 6, 3), np.uint8)
    for pixels in (None, rgb):
        cloud = CloudBuilder().build(depth, intr, pixels, organized=False)
        assert (cloud.height, cloud.width, len(cloud.data), cloud.is_dense) == (1, 0, 0, True)


@pytest.mark.parametrize('organized', [True, False])
@pytest.mark.parametrize('stride', [1, 2])
def test_an_invalid_mask_leaves_out_exactly_those_pixels(organized, stride):
    """build(invalid=mask) writes the bytes of the depth with the masked pixels NaN."""
    rng = np.random.default_rng(7)
    intr = Intrinsics(37, 29, 31.0, 33.0, 17.3, 15.1)
    depth = rng.uniform(0.1, 6.0, (29, 37)).astype(np.float32)
    rgb = rng.integers(0, 256, (29, 37, 3), dtype=np.uint8)
    mask = rng.random(depth.shape) < 0.3
    masked = np.where(mask, np.float32(np.nan), depth)
    cloud = CloudBuilder().build(depth, intr, rgb, stride=stride, organized=organized,
                                 invalid=mask)
    assert cloud.data.tobytes() == reference_cloud(masked, intr, rgb, (0, 1, 2), stride,
                                                   organized, 0.0, 0.0)


@pytest.mark.parametrize('colour', [None, 'rgb'])
def test_a_reused_cloud_buffer_holds_only_the_new_frame(colour, monkeypatch):
    """Frames with different holes written into one buffer: each equals its plain bytes."""
    monkeypatch.setattr(buffers, 'BAND_PIXELS', 100)
    intr = Intrinsics(37, 29, 31.0, 33.0, 17.3, 15.1)
    builder = CloudBuilder()
    address = None
    for frame in range(4):
        rng = np.random.default_rng(10 + frame)
        depth = rng.uniform(0.1, 6.0, (29, 37)).astype(np.float32)
        depth[rng.random(depth.shape) < 0.1 * frame] = np.nan  # more holes each frame
        mask = rng.random(depth.shape) < 0.2
        pixels, order = colour_input(rng.integers(0, 256, (29, 37, 3), dtype=np.uint8), colour)
        cloud = builder.build(depth, intr, pixels, rgb_order=order, invalid=mask)
        masked = np.where(mask, np.float32(np.nan), depth)
        assert cloud.data.tobytes() == reference_cloud(masked, intr, pixels, order, 1, True,
                                                       0.0, 0.0)
        address = address or cloud.data.buffer_info()[0]
        assert cloud.data.buffer_info()[0] == address  # the same memory every frame
        del cloud
    assert builder.buffer.reused == 3 and builder.buffer.made == 1


def test_a_cloud_still_held_keeps_its_bytes():
    intr = Intrinsics(8, 6, 5.0, 5.0, 4.0, 3.0)
    builder = CloudBuilder()
    first = builder.build(np.full((6, 8), 2.0, np.float32), intr)
    before = first.data.tobytes()
    second = builder.build(np.full((6, 8), 3.0, np.float32), intr)
    assert first.data.tobytes() == before and second.data is not first.data
    assert builder.buffer.reused == 0
