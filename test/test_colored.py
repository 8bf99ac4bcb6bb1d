# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""The per-frame colourised depth (``depth/colored``, bgr8) against ``colorize_depth``."""

from depth_node.testing import synthetic
from depth_node.visualize import colorize_depth, colorize_depth_bgr, depth_range
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


def test_auto_range_samples_the_frame(depth):
    vmin, vmax = depth_range(depth[2::4, 2::4])
    np.testing.assert_array_equal(colorize_depth_bgr(depth), colorize_depth_bgr(depth, vmin, vmax))
    # One bound fixed, the other automatic.
    np.testing.assert_array_equal(colorize_depth_bgr(depth, 0.0, 8.0),
                                  colorize_depth_bgr(depth, vmin, 8.0))
    # The sampled range is close to the full one.
    full = depth_range(depth)
    assert vmin == pytest.approx(full[0], rel=0.05) and vmax == pytest.approx(full[1], rel=0.05)


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
