# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""Lens distortion: undistortion maps, the rectified camera, and the node's geometry path."""

import cv2
from depth_node.camera import CameraCache, has_distortion, Undistorter
from depth_node.conversions import cloud_to_structured, image_fields_to_depth
from depth_node.errors import BadCameraInfoError
from depth_node.testing import synthetic
from depth_node.testing.ros_harness import Harness, make_image, make_info
from depth_node.testing.tiny_models import predictions_of
import numpy as np
import pytest
from rclpy.parameter import Parameter

W, H = 160, 120
#: The rectified camera (P) and the real, distorted one (K, D).
P = dict(fx=100.0, fy=100.0, cx=79.5, cy=59.5)
K = dict(fx=112.0, fy=111.0, cx=81.0, cy=58.0)
D = [-0.28, 0.09, 0.002, -0.001, 0.0]
SUPER = 3  # supersampling of the reference render


def distorted_info(stamp=(1, 0), d=D, model='plumb_bob'):
    """Return the CameraInfo of the distorted camera (K, D) rectified to P."""
    info = make_info(W, H, stamp=stamp, **P)
    info.k = [K['fx'], 0.0, K['cx'], 0.0, K['fy'], K['cy'], 0.0, 0.0, 1.0]
    info.d = list(d)
    info.distortion_model = model
    return info


def _k_matrix():
    return np.array([[K['fx'], 0, K['cx']], [0, K['fy'], K['cy']], [0, 0, 1]])


@pytest.fixture(scope='module')
def scene_images():
    """
    Render the rectified view and make the distorted camera's image of the same scene.

    The scene is rendered SUPER times finer and low-passed; the distorted image
    samples it where each distorted pixel's ray meets the rectified image
    (``cv2.undistortPoints``), and the reference samples it on the rectified grid.
    """
    pose = synthetic.sample_trajectory(3)[1]
    s = SUPER
    fine, _ = synthetic.render(W * s, H * s, P['fx'] * s, P['fy'] * s,
                               (P['cx'] + 0.5) * s - 0.5, (P['cy'] + 0.5) * s - 0.5, pose)
    fine = cv2.GaussianBlur(fine, (0, 0), s * 0.5)
    u, v = np.meshgrid(np.arange(W, dtype=np.float64), np.arange(H, dtype=np.float64))
    pts = np.stack([u.ravel(), v.ravel()], -1)[:, None, :]
    ray = cv2.undistortPoints(pts, _k_matrix(), np.array(D)).reshape(H, W, 2)

    def sample(x, y):
        mx = ((x + 0.5) * s - 0.5).astype(np.float32)
        my = ((y + 0.5) * s - 0.5).astype(np.float32)
        return cv2.remap(fine, mx, my, cv2.INTER_LINEAR)
    distorted = sample(ray[..., 0] * P['fx'] + P['cx'], ray[..., 1] * P['fy'] + P['cy'])
    reference = sample(u, v)
    return distorted, reference


def test_undistorted_image_matches_the_pinhole_render(scene_images):
    distorted, reference = scene_images
    undistorter = Undistorter(distorted_info())
    out = undistorter.rectify(distorted)
    assert out.shape == distorted.shape and out.dtype == np.uint8
    valid = undistorter.valid
    assert 0.95 < valid.mean() < 1.0  # the corners of the rectified view see nothing
    before = np.abs(distorted.astype(int) - reference).max(-1)[valid]
    after = np.abs(out.astype(int) - reference).max(-1)[valid]
    assert before.mean() > 15.0  # the distortion is strong enough to matter
    assert after.mean() < 4.0 and np.percentile(after, 95) < 12.0, (
        f'mean {after.mean():.1f}, p95 {np.percentile(after, 95):.1f}')


def test_rectified_camera_info_has_zero_distortion_and_p_intrinsics():
    info = distorted_info()
    undistorter = Undistorter(info)
    rect = undistorter.info
    assert rect.d == (0.0,) * 5 and rect.distortion_model == 'plumb_bob'
    assert rect.k == (P['fx'], 0.0, P['cx'], 0.0, P['fy'], P['cy'], 0.0, 0.0, 1.0)
    assert rect.p == tuple(float(x) for x in info.p)
    assert rect.r == (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
    assert (rect.width, rect.height) == (W, H)


def test_channels_are_kept_through_rectification():
    undistorter = Undistorter(distorted_info())
    for channels in (1, 3, 4):
        img = np.full((H, W, channels), 200, np.uint8)
        out = undistorter.rectify(img)
        assert out.shape == (H, W, channels)
        assert (out[undistorter.valid] == 200).all()


def test_fisheye_and_unsupported_models():
    fisheye = distorted_info(d=[0.1, -0.02, 0.003, 0.0], model='equidistant')
    undistorter = Undistorter(fisheye)
    assert undistorter.map1.shape[:2] == (H, W)
    with pytest.raises(BadCameraInfoError, match="distortion_model 'weird'"):
        Undistorter(distorted_info(model='weird'))
    binned = distorted_info()
    binned.binning_x = 2
    with pytest.raises(BadCameraInfoError, match='binned or ROI'):
        Undistorter(binned)


def test_camera_cache_rebuilds_only_when_the_calibration_changes():
    cache = CameraCache()
    a = cache.get(distorted_info(stamp=(1, 0)), rectify=True)
    b = cache.get(distorted_info(stamp=(2, 0)), rectify=True)  # new header only
    assert a is b and cache.builds == 1 and not cache.changed
    assert a.undistorter is not None and a.intrinsics.fx == P['fx']
    c = cache.get(distorted_info(d=[-0.1, 0.0, 0.0, 0.0, 0.0]), rectify=True)
    assert c is not a and cache.builds == 2 and cache.changed
    d = cache.get(distorted_info(d=[-0.1, 0.0, 0.0, 0.0, 0.0]), rectify=False)
    assert d.undistorter is None and d.distortion_ignored and cache.builds == 3
    pinhole = make_info(W, H, **P)
    assert not has_distortion(pinhole)
    e = cache.get(pinhole, rectify=True)  # nothing to undistort
    assert e.undistorter is None and not e.distortion_ignored
    fields = e.output_info
    assert list(fields.k) == list(pinhole.k) and list(fields.d) == list(pinhole.d)


# --- the node ------------------------------------------------------------------------------

PLANE_NORMAL = np.array([0.1, -0.25, -1.0]) / np.linalg.norm([0.1, -0.25, -1.0])
PLANE_D = -2.0  # n . X = d: a wall about 2 m ahead, tilted


def test_node_undistorts_and_publishes_for_the_rectified_camera(ros_context, fast_da_dir,
                                                                scene_images):
    distorted, reference = scene_images
    h = Harness(ros_context, {'model': fast_da_dir, 'device': 'cpu', 'rate': 0.0,
                              'input_rectified': False})
    try:
        seen = []
        truth = synthetic.render_plane(W, H, P['fx'], P['fy'], P['cx'], P['cy'],
                                       PLANE_NORMAL, PLANE_D)
        assert np.isfinite(truth).all()

        def plane_depth(pixels, rgb_order=(0, 1, 2), focal=None, timings=None):
            seen.append(np.array(pixels))
            return truth.copy()
        h.node.model.predict_many = predictions_of(plane_depth)
        info = distorted_info(stamp=(3, 0))
        depth_msg, info_msg, cloud_msg = h.process(make_image(distorted, stamp=(3, 0)), info)

        # the network saw the rectified image
        valid = Undistorter(info).valid
        err = np.abs(seen[-1].astype(int) - reference).max(-1)[valid]
        assert err.mean() < 4.0
        # camera_info of the rectified camera
        assert list(info_msg.d) == [0.0] * 5 and info_msg.distortion_model == 'plumb_bob'
        assert list(info_msg.k) == [P['fx'], 0.0, P['cx'], 0.0, P['fy'], P['cy'], 0, 0, 1]
        assert list(info_msg.p) == list(info.p)
        # depth: the plane where the rectified image has data, NaN where it has none
        depth = image_fields_to_depth(depth_msg)
        np.testing.assert_allclose(depth[valid], truth[valid], rtol=1e-6)
        assert np.isnan(depth[~valid]).all()
        # cloud back-projected with P's intrinsics: every point on the plane
        cloud = cloud_to_structured(cloud_msg)
        xyz = np.stack([cloud['x'], cloud['y'], cloud['z']], -1)[valid].astype(np.float64)
        residual = xyz @ PLANE_NORMAL - PLANE_D
        assert np.abs(residual).max() < 1e-4
        assert np.isnan(cloud['z'][~valid]).all()

        # input_rectified back to true at run time: the image is used as it comes
        assert h.node.set_parameters([Parameter('input_rectified', value=True)])[0].successful
        _, info2, _ = h.process(make_image(distorted, stamp=(4, 0)), distorted_info((4, 0)))
        assert list(info2.d) == D and list(info2.k) == list(distorted_info().k)
        np.testing.assert_array_equal(seen[-1], distorted)
    finally:
        h.close()
