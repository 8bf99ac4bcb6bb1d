# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""Tests of the depth colormap, the side-by-side image and the PLY writer/reader."""

from depth_node.offline.ply import read_ply, write_ply
from depth_node.visualize import colorize_depth, depth_range, save_png, side_by_side, turbo
import numpy as np
from PIL import Image
import pytest


def test_colorize_shape_dtype_and_invalid_black():
    depth = np.linspace(0.5, 8.0, 48 * 64, dtype=np.float32).reshape(48, 64)
    depth[0, 0] = np.nan
    depth[0, 1] = 0.0
    depth[0, 2] = -1.0
    depth[0, 3] = np.inf
    rgb = colorize_depth(depth)
    assert rgb.shape == (48, 64, 3)
    assert rgb.dtype == np.uint8
    np.testing.assert_array_equal(rgb[0, :4], 0)
    # Valid pixels are never black (Turbo's darkest colour is a dark blue).
    assert np.all(rgb[1:].max(axis=-1) > 0)


def test_colorize_near_red_far_blue_and_clamped():
    depth = np.array([[1.0, 5.0, 0.2, 50.0]], dtype=np.float32)
    rgb = colorize_depth(depth, vmin=1.0, vmax=5.0).astype(int)
    near, far = rgb[0, 0], rgb[0, 1]
    assert near[0] > near[2]  # red end
    assert far[2] > far[0]  # blue end
    # Out-of-range depths take the end colours.
    np.testing.assert_array_equal(rgb[0, 2], near)
    np.testing.assert_array_equal(rgb[0, 3], far)


def test_colorize_robust_range_ignores_outliers():
    rng = np.random.default_rng(0)
    depth = rng.uniform(1.0, 3.0, (100, 100)).astype(np.float32)
    depth[0, :10] = 1000.0  # 0.1 % of the pixels
    vmin, vmax = depth_range(depth)
    assert 1.0 <= vmin < 1.1 and 2.9 < vmax <= 3.0
    assert colorize_depth(depth)[50:].astype(int).std() > 30


def test_colorize_all_invalid_or_constant():
    assert colorize_depth(np.full((4, 5), np.nan, np.float32)).max() == 0
    rgb = colorize_depth(np.full((4, 5), 2.0, np.float32))
    assert rgb.shape == (4, 5, 3) and rgb.max() > 0
    with pytest.raises(ValueError):
        colorize_depth(np.ones((2, 2, 2), np.float32))
    with pytest.raises(ValueError):
        colorize_depth(np.ones((2, 2), np.float32), vmin=3.0, vmax=1.0)


def test_turbo_matches_opencv_table():
    cv2 = pytest.importorskip('cv2')
    reference = cv2.applyColorMap(np.arange(256, dtype=np.uint8)[:, None],
                                  cv2.COLORMAP_TURBO)[:, 0, ::-1].astype(int)
    ours = np.round(turbo(np.arange(256) / 255.0) * 255.0).astype(int)
    assert np.abs(ours - reference).max() <= 4


def test_side_by_side_and_save_png(tmp_path):
    rgb = np.full((30, 40, 3), 200, np.uint8)
    depth_rgb = np.zeros((30, 40, 3), np.uint8)
    both = side_by_side(rgb, depth_rgb)
    assert both.shape == (30, 80, 3) and both.dtype == np.uint8
    np.testing.assert_array_equal(both[:, :40], rgb)
    # A half-resolution depth image is scaled up to the input's height.
    assert side_by_side(rgb, depth_rgb[::2, ::2]).shape == (30, 80, 3)
    path = tmp_path / 'pair.png'
    save_png(path, both)
    np.testing.assert_array_equal(np.asarray(Image.open(path)), both)
    with pytest.raises(ValueError):
        side_by_side(rgb.astype(np.float32), depth_rgb)


def test_ply_round_trip_with_colour(tmp_path):
    rng = np.random.default_rng(1)
    xyz = rng.normal(size=(500, 3)).astype(np.float32)
    rgb = rng.integers(0, 256, size=(500, 3), dtype=np.uint8)
    path = tmp_path / 'cloud.ply'
    assert write_ply(path, xyz, rgb) == 500
    header = path.read_bytes().split(b'end_header\n')[0].decode()
    assert 'format binary_little_endian 1.0' in header
    assert 'element vertex 500' in header
    assert 'property uchar red' in header
    got_xyz, got_rgb = read_ply(path)
    assert got_xyz.dtype == np.float32 and got_rgb.dtype == np.uint8
    np.testing.assert_array_equal(got_xyz, xyz)
    np.testing.assert_array_equal(got_rgb, rgb)


def test_ply_round_trip_without_colour(tmp_path):
    xyz = np.arange(30, dtype=np.float32).reshape(10, 3)
    path = tmp_path / 'plain.ply'
    assert write_ply(path, xyz) == 10
    assert b'red' not in path.read_bytes().split(b'end_header')[0]
    got_xyz, got_rgb = read_ply(path)
    np.testing.assert_array_equal(got_xyz, xyz)
    assert got_rgb is None
    # The file is header + exactly 10 x 12 bytes.
    assert path.stat().st_size == len(path.read_bytes().split(b'end_header\n')[0]) + 11 + 120


def test_ply_drops_nan_points_and_keeps_colours_aligned(tmp_path):
    # An organized 2 x 3 cloud with invalid points, as the node publishes.
    xyz = np.arange(18, dtype=np.float32).reshape(2, 3, 3)
    xyz[0, 1, 2] = np.nan
    xyz[1, 2] = np.nan
    rgb = np.arange(18, dtype=np.uint8).reshape(2, 3, 3)
    path = tmp_path / 'organized.ply'
    assert write_ply(path, xyz, rgb) == 4
    got_xyz, got_rgb = read_ply(path)
    keep = [0, 2, 3, 4]
    np.testing.assert_array_equal(got_xyz, xyz.reshape(-1, 3)[keep])
    np.testing.assert_array_equal(got_rgb, rgb.reshape(-1, 3)[keep])
    assert write_ply(tmp_path / 'empty.ply', np.full((3, 3), np.nan, np.float32)) == 0
    assert read_ply(tmp_path / 'empty.ply')[0].shape == (0, 3)


def test_ply_rejects_bad_input(tmp_path):
    with pytest.raises(ValueError):
        write_ply(tmp_path / 'a.ply', np.zeros((4, 2), np.float32))
    with pytest.raises(ValueError):
        write_ply(tmp_path / 'b.ply', np.zeros((4, 3), np.float32), np.zeros((3, 3), np.uint8))
    with pytest.raises(ValueError):
        write_ply(tmp_path / 'c.ply', np.zeros((4, 3), np.float32), np.zeros((4, 3)))
    bad = tmp_path / 'bad.ply'
    bad.write_bytes(b'not a ply\n')
    with pytest.raises(ValueError):
        read_ply(bad)


def test_read_ascii_ply(tmp_path):
    path = tmp_path / 'ascii.ply'
    path.write_text('ply\nformat ascii 1.0\nelement vertex 2\nproperty float x\n'
                    'property float y\nproperty float z\nproperty uchar red\n'
                    'property uchar green\nproperty uchar blue\nend_header\n'
                    '1 2 3 10 20 30\n4 5 6 40 50 60\n')
    xyz, rgb = read_ply(path)
    np.testing.assert_array_equal(xyz, [[1, 2, 3], [4, 5, 6]])
    np.testing.assert_array_equal(rgb, [[10, 20, 30], [40, 50, 60]])
