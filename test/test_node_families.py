# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""Every model family end to end through the node: depth, camera_info and points."""

from depth_node.conversions import cloud_to_structured, image_fields_to_depth
from depth_node.testing.ros_harness import Harness, make_image, make_info
from depth_node.testing.tiny_models import (make_depth_anything_3, make_depth_pro, make_zoedepth,
                                            textured_image)
import numpy as np
import pytest
from rclpy.parameter import Parameter

W, H = 96, 72


@pytest.fixture(scope='module')
def family_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp('families')
    return {
        'zoedepth-nk': make_zoedepth(root / 'zoe', heads='nyu-kitti'),
        'depth-pro': make_depth_pro(root / 'pro'),
        'da3': make_depth_anything_3(root / 'da3'),
        'da3-sky': make_depth_anything_3(root / 'da3-sky', sky='some'),
    }


@pytest.mark.parametrize('name', ['zoedepth-nk', 'depth-pro', 'da3'])
def test_family_runs_in_the_node(ros_context, family_dirs, name):
    # The cloud is compared with the depth pixel for pixel: no flying pixels removed.
    h = Harness(ros_context, {'model': family_dirs[name], 'device': 'cpu', 'rate': 0.0,
                              'flip_tta': name.startswith('zoedepth'),
                              'edge_filter.enabled': False})
    try:
        rgb = textured_image(H, W, seed=1)
        depth_msg, info_msg, cloud_msg = h.process(
            make_image(rgb, stamp=(3, 0)), make_info(W, H, 80.0, 80.0, stamp=(3, 0)))
        depth = image_fields_to_depth(depth_msg)
        assert depth.shape == (H, W) and np.isfinite(depth).mean() > 0.9
        assert list(info_msg.k) == [80.0, 0.0, (W - 1) / 2, 0.0, 80.0, (H - 1) / 2, 0, 0, 1]
        cloud = cloud_to_structured(cloud_msg)
        ok = np.isfinite(depth)
        np.testing.assert_allclose(cloud['z'][ok], depth[ok], rtol=1e-6)
        # focal scaling through the node: doubling fx and fy doubles the depth
        d2, _, _ = h.process(make_image(rgb, stamp=(4, 0)),
                             make_info(W, H, 160.0, 160.0, stamp=(4, 0)))
        z2 = image_fields_to_depth(d2)
        ok &= np.isfinite(z2)
        np.testing.assert_allclose(z2[ok], 2.0 * depth[ok], rtol=1e-4)
    finally:
        h.close()


def test_depth_pro_falls_back_to_its_field_of_view(ros_context, family_dirs):
    h = Harness(ros_context, {'model': family_dirs['depth-pro'], 'device': 'cpu',
                              'rate': 0.0})
    try:
        rgb = textured_image(H, W, seed=2)
        info = make_info(W, H, stamp=(5, 0), use_p=False)
        info.k = [0.0] * 9  # uncalibrated
        depth_msg, info_msg, cloud_msg = h.process(make_image(rgb, stamp=(5, 0)), info)
        model = h.node.model
        assert model.last_focal_source == 'estimated_fov'
        f = model.last_focal_px
        assert f > 0 and info_msg.k[0] == pytest.approx(f) and info_msg.k[4] == pytest.approx(f)
        assert list(info_msg.d) == [0.0] * 5
        depth = image_fields_to_depth(depth_msg)
        expected = model.predict(rgb, focal=(f, f))
        ok = np.isfinite(depth)
        np.testing.assert_allclose(depth[ok], expected[ok], rtol=1e-4)
        assert h.camera.drops['bad_camera_info'] == 0
        assert cloud_msg.width == W
    finally:
        h.close()


def test_depth_anything_3_sky_is_too_far_in_the_node(ros_context, family_dirs):
    """Sky: +inf in 32FC1 (REP 117), 0 in 16UC1, no points; mask_sky:=false keeps depth."""
    h = Harness(ros_context, {'model': family_dirs['da3-sky'], 'device': 'cpu', 'rate': 0.0,
                              'edge_filter.enabled': False})  # every non-sky point kept
    try:
        rgb = textured_image(H, W, seed=3)
        depth_msg, _, cloud_msg = h.process(make_image(rgb, stamp=(6, 0)),
                                            make_info(W, H, 80.0, 80.0, stamp=(6, 0)))
        depth = image_fields_to_depth(depth_msg)
        expected = h.node.model.predict(rgb, focal=(80.0, 80.0))
        sky = np.isposinf(expected)
        assert 0.05 < sky.mean() < 0.95
        np.testing.assert_array_equal(np.isposinf(depth), sky)
        np.testing.assert_allclose(depth[~sky], expected[~sky], rtol=1e-5)
        cloud = cloud_to_structured(cloud_msg)
        assert np.isnan(cloud['z'][sky]).all() and np.isfinite(cloud['x'][~sky]).all()

        h.node.set_parameters([Parameter('depth_encoding', value='16UC1')])
        d16, _, _ = h.process(make_image(rgb, stamp=(7, 0)),
                              make_info(W, H, 80.0, 80.0, stamp=(7, 0)))
        raw = np.frombuffer(bytes(d16.data), '<u2').reshape(H, W)
        assert (raw[sky] == 0).all() and (raw[~sky] > 0).all()

        h.node.set_parameters([Parameter('mask_sky', value=False),
                               Parameter('depth_encoding', value='32FC1')])
        kept, _, _ = h.process(make_image(rgb, stamp=(8, 0)),
                               make_info(W, H, 80.0, 80.0, stamp=(8, 0)))
        assert np.isfinite(image_fields_to_depth(kept)).all()
    finally:
        h.close()
