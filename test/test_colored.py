# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""The per-frame colourised depth (``depth/colored``, bgr8) against ``colorize_depth``."""

from depth_node.testing import synthetic
from depth_node.visualize import (colorize_depth, colorize_depth_bgr, depth_range,
                                  valid_percentiles)
import numpy as np
import pytest


@pytest.fixture(scope='module')
def depth():
    _, depth = synthetic.render(**synthetic.SAMPLE_CAMERA,
                                pose=synthetic.sample_trajectory(8)[4])
    depth[::7, ::5] = np.nan
    depth[0, :10] = 0.0
    depth[1, :5] = np.inf
    depth[2, :5] = -1.0
    return depth


def test_fixed_range_is_colorize_depth_in_bgr_order(depth):
    bgr = colorize_depth_bgr(depth, 0.5, 6.0)
    assert bgr.dtype == np.uint8 and bgr.shape == depth.shape + (3,)
    assert bgr.flags['C_CONTIGUOUS']
    np.testing.assert_array_equal(bgr, colorize_depth(depth, 0.5, 6.0)[..., ::-1])


def test_invalid_pixels_are_black_and_near_is_red(depth):
    bgr = colorize_depth_bgr(depth, 1.0, 5.0)
    invalid = ~(np.isfinite(depth) & (depth > 0))
    assert (bgr[invalid] == 0).all()
    near = colorize_depth_bgr(np.full((2, 2), 0.5, np.float32), 1.0, 5.0)[0, 0]
    far = colorize_depth_bgr(np.full((2, 2), 9.0, np.float32), 1.0, 5.0)[0, 0]
    assert near[2] > near[0]  # red > blue
    assert far[0] > far[2]  # blue > red


def percentiles(depth, ps=(2.0, 98.0)):
    """Return the reference: numpy's percentiles of every finite, positive pixel (float64)."""
    values = depth.astype(np.float64)
    return tuple(np.percentile(values[np.isfinite(values) & (values > 0)], ps))


def test_auto_range_is_the_percentiles_of_the_whole_frame(depth):
    vmin, vmax = percentiles(depth)
    assert depth_range(depth) == (vmin, vmax)
    np.testing.assert_array_equal(colorize_depth_bgr(depth), colorize_depth_bgr(depth, vmin, vmax))
    # One bound fixed, the other automatic.
    np.testing.assert_array_equal(colorize_depth_bgr(depth, 0.0, 8.0),
                                  colorize_depth_bgr(depth, vmin, 8.0))
    np.testing.assert_array_equal(colorize_depth_bgr(depth, 1.5, 0.0),
                                  colorize_depth_bgr(depth, 1.5, vmax))


@pytest.mark.parametrize('shape', [(7, 10), (30, 40), (255, 257), (481, 641), (720, 1280)])
def test_auto_range_is_exact_at_every_output_size(shape):
    """A 10x7 output (output_decimation 16 of 160x112) up to 720p: exactly the percentiles."""
    rng = np.random.default_rng(shape[0])
    depth = np.exp(rng.normal(1.0, 0.6, shape)).astype(np.float32)
    depth[rng.random(shape) < 0.1] = np.nan
    depth[0, :3] = (0.0, np.inf, -1.0)
    assert depth_range(depth) == percentiles(depth)
    vmin, vmax = percentiles(depth)
    np.testing.assert_array_equal(colorize_depth_bgr(depth), colorize_depth_bgr(depth, vmin, vmax))


def test_auto_range_of_a_decimated_view():
    rng = np.random.default_rng(9)
    full = np.exp(rng.normal(1.0, 0.6, (112, 160))).astype(np.float32)
    small = full[::16, ::16]  # what output_decimation 16 publishes: a 10x7 view
    assert small.shape == (7, 10)
    vmin, vmax = percentiles(small)
    np.testing.assert_array_equal(colorize_depth_bgr(small), colorize_depth_bgr(small, vmin, vmax))


def test_a_regular_pattern_does_not_fool_the_auto_range():
    """Every 4th pixel in u and v far away: a sample of every 4th pixel would see only those."""
    depth = np.linspace(1.0, 3.0, 720 * 1280, dtype=np.float32).reshape(720, 1280)
    depth[2::4, 2::4] = 9.0
    vmin, vmax = percentiles(depth)
    assert vmin < 1.1 and depth_range(depth) == (vmin, vmax)
    np.testing.assert_array_equal(colorize_depth_bgr(depth), colorize_depth_bgr(depth, vmin, vmax))


@pytest.mark.parametrize('ps', [(2.0, 98.0), (0.0, 100.0), (50.0,), (0.01, 99.99)])
def test_valid_percentiles_equal_numpy_on_large_maps_with_odd_values(ps):
    """The histogram path (large float32 maps): zeros, -0, denormals, infinities, NaN."""
    rng = np.random.default_rng(2)
    depth = rng.exponential(3.0, (300, 400)).astype(np.float32)
    depth[::7] = 0.0
    depth[1::7] = -0.0
    depth[2::7, ::3] = np.float32(1e-42)  # denormal, but > 0: valid
    depth[3::7, ::5] = np.inf
    depth[4::7, ::2] = np.nan
    depth[5::7, ::4] = -2.0
    depth[6, :10] = np.finfo(np.float32).max
    assert valid_percentiles(depth, ps) == percentiles(depth, ps)
    flat = np.full((300, 400), 2.5, np.float32)
    assert valid_percentiles(flat, ps) == (2.5,) * len(ps)
    assert valid_percentiles(np.full((300, 400), np.nan, np.float32), ps) is None


def test_one_fixed_bound_beyond_the_frame_clamps(depth):
    valid = np.isfinite(depth) & (depth > 0)
    near = colorize_depth_bgr(np.full((1, 1), 0.1, np.float32), 1.0, 5.0)[0, 0]
    far = colorize_depth_bgr(np.full((1, 1), 9.0, np.float32), 1.0, 5.0)[0, 0]
    # Red from 900 m on: everything is nearer, all red; blue up to 1 cm: all blue.
    assert (colorize_depth_bgr(depth, 900.0, 0.0)[valid] == near).all()
    assert (colorize_depth_bgr(depth, 0.0, 0.01)[valid] == far).all()


def test_all_invalid_frame_is_black():
    bgr = colorize_depth_bgr(np.full((4, 6), np.nan, np.float32))
    assert bgr.shape == (4, 6, 3) and not bgr.any()


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match='H x W'):
        colorize_depth_bgr(np.zeros((2, 2, 2), np.float32))
    with pytest.raises(ValueError, match='greater'):
        colorize_depth_bgr(np.ones((2, 2), np.float32), 5.0, 2.0)
