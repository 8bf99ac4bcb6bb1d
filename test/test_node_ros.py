# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""The real rclpy node in-process: topics, geometry, stamps, encodings, rate, bad input."""

import subprocess
import sys
import time

from depth_node.conversions import cloud_to_structured, image_fields_to_depth, unpack_rgb
from depth_node.testing.ros_harness import Harness, make_image, make_info
import numpy as np
import pytest
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy

W, H = 160, 120


def scene(seed=0):
    """Make a smooth, textured RGB test image."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (H // 8, W // 8, 3), dtype=np.uint8)
    return np.kron(small, np.ones((8, 8, 1), np.uint8))


@pytest.fixture
def harness(ros_context, tiny_da_dir):
    h = Harness(ros_context, {'model': tiny_da_dir, 'device': 'cpu', 'rate': 0.0})
    yield h
    h.close()


def stamp_of(msg):
    return (msg.header.stamp.sec, msg.header.stamp.nanosec)


def test_outputs_keep_header_and_describe_the_depth_image(harness):
    # The cloud is compared with the depth pixel for pixel: no flying pixels removed.
    harness.node.set_parameters([_param('edge_filter.enabled', False)])
    rgb = scene()
    img = make_image(rgb, stamp=(5, 123), frame_id='camera_color_optical_frame')
    info = make_info(W, H, fx=200.0, fy=210.0, cx=80.5, cy=60.25, stamp=(5, 123),
                     frame_id='camera_color_optical_frame')
    depth_msg, info_msg, cloud_msg = harness.process(img, info)
    for msg in (depth_msg, info_msg, cloud_msg):
        assert stamp_of(msg) == (5, 123)
        assert msg.header.frame_id == 'camera_color_optical_frame'
    assert (depth_msg.encoding, depth_msg.width, depth_msg.height) == ('32FC1', W, H)
    assert depth_msg.step == W * 4
    assert (info_msg.width, info_msg.height) == (W, H)
    assert list(info_msg.k) == list(info.k) and list(info_msg.p) == list(info.p)

    depth = image_fields_to_depth(depth_msg)
    expected = harness.node.model.predict(rgb, focal=(200.0, 210.0))
    np.testing.assert_allclose(depth, np.where(expected > 0, expected, np.nan), rtol=1e-6)

    cloud = cloud_to_structured(cloud_msg)
    assert (cloud_msg.height, cloud_msg.width, cloud_msg.is_dense) == (H, W, False)
    assert [f.name for f in cloud_msg.fields] == ['x', 'y', 'z', 'rgb']
    # independent back-projection: X = z K^-1 [u v 1]
    kinv = np.linalg.inv(np.array(info.k).reshape(3, 3))
    v, u = np.mgrid[0:H, 0:W]
    rays = kinv @ np.stack([u.ravel(), v.ravel(), np.ones(u.size)])
    ref = (rays * depth.ravel()).T.reshape(H, W, 3)
    got = np.stack([cloud['x'], cloud['y'], cloud['z']], -1)
    valid = np.isfinite(depth)
    np.testing.assert_allclose(got[valid], ref[valid], rtol=1e-5, atol=1e-5)
    assert np.isnan(got[~valid]).all()
    np.testing.assert_array_equal(unpack_rgb(cloud['rgb'].ravel()), rgb.reshape(-1, 3))


def test_doubling_focal_doubles_depth_and_scaling_can_be_off(harness):
    rgb = scene(1)
    d1, _, _ = harness.process(make_image(rgb, stamp=(1, 0)), make_info(W, H, 150, 150,
                                                                        stamp=(1, 0)))
    d2, _, _ = harness.process(make_image(rgb, stamp=(2, 0)), make_info(W, H, 300, 300,
                                                                        stamp=(2, 0)))
    z1, z2 = image_fields_to_depth(d1), image_fields_to_depth(d2)
    ok = np.isfinite(z1) & np.isfinite(z2)
    np.testing.assert_allclose(z2[ok], 2.0 * z1[ok], rtol=1e-5)

    harness.node.set_parameters([_param('focal_scaling', False)])
    d3, _, _ = harness.process(make_image(rgb, stamp=(3, 0)), make_info(W, H, 300, 300,
                                                                        stamp=(3, 0)))
    raw = harness.node.model.predict(rgb, focal=None)
    z3 = image_fields_to_depth(d3)
    np.testing.assert_allclose(z3[np.isfinite(z3)], raw[np.isfinite(z3)], rtol=1e-6)


def _param(name, value):
    from rclpy.parameter import Parameter
    return Parameter(name, value=value)


def test_camera_info_is_paired_by_stamp(harness):
    rgb = scene(2)
    harness.info_pub.publish(make_info(W, H, 100, 100, stamp=(7, 0)))
    harness.info_pub.publish(make_info(W, H, 400, 400, stamp=(8, 0)))
    time.sleep(0.2)
    d7, i7, _ = harness.process(make_image(rgb, stamp=(7, 0)))
    assert i7.k[0] == 100.0
    d9, i9, _ = harness.process(make_image(rgb, stamp=(9, 0)))  # no info: the latest one
    assert i9.k[0] == 400.0
    z7, z9 = image_fields_to_depth(d7), image_fields_to_depth(d9)
    ok = np.isfinite(z7) & np.isfinite(z9)
    np.testing.assert_allclose(z9[ok], 4.0 * z7[ok], rtol=1e-5)


def test_16uc1_millimetres_and_cloud_options_at_run_time(harness):
    rgb = scene(3)
    info = make_info(W, H, 200, 200, stamp=(1, 0))
    d32, _, _ = harness.process(make_image(rgb, stamp=(1, 0)), info)
    res = harness.node.set_parameters([
        _param('depth_encoding', '16UC1'), _param('points.stride', 4),
        _param('points.rgb', False), _param('points.organized', True)])
    assert all(r.successful for r in res)
    info2 = make_info(W, H, 200, 200, stamp=(2, 0))
    d16, _, cloud = harness.process(make_image(rgb, stamp=(2, 0)), info2)
    assert d16.encoding == '16UC1' and d16.step == W * 2
    mm = np.frombuffer(d16.data, '<u2').reshape(H, W)
    z = image_fields_to_depth(d32)
    np.testing.assert_allclose(mm[np.isfinite(z)], np.rint(z[np.isfinite(z)] * 1000), atol=1)
    assert (cloud.height, cloud.width) == (H // 4, W // 4)
    assert [f.name for f in cloud.fields] == ['x', 'y', 'z']

    harness.node.set_parameters([_param('points.organized', False), _param('points.stride', 1),
                                 _param('max_depth', float(np.nanmedian(z)))])
    _, _, dense = harness.process(make_image(rgb, stamp=(3, 0)),
                                  make_info(W, H, 200, 200, stamp=(3, 0)))
    pts = cloud_to_structured(dense)
    assert dense.height == 1 and dense.is_dense
    assert np.isfinite(pts['z']).all() and pts['z'].max() <= np.nanmedian(z) + 1e-6


def test_invalid_parameter_values_are_rejected(harness):
    for name, value in [('depth_encoding', 'mono8'), ('rate', -1.0), ('points.stride', 0)]:
        result = harness.node.set_parameters([_param(name, value)])[0]
        assert not result.successful
    res = harness.node.set_parameters([_param('model', 'other')])[0]
    assert not res.successful  # read-only


def test_newest_frame_wins_and_no_backlog(harness):
    rgb = scene(4)
    info = make_info(W, H, 200, 200, stamp=(0, 0))
    harness.info_pub.publish(info)
    stamps = [(100 + i, 0) for i in range(15)]
    for s in stamps:
        harness.image_pub.publish(make_image(rgb, stamp=s))
    harness.wait_for(lambda: any(stamp_of(m) == stamps[-1] for m in harness.depths), 20.0,
                     'the newest frame')
    time.sleep(0.3)
    got = [stamp_of(m) for m in harness.depths if stamp_of(m) in stamps]
    assert got[-1] == stamps[-1]
    # older frames are dropped (by the keep-last-1 queue or the worker's slot), not queued
    assert len(got) < len(stamps)


def test_rate_limits_output_and_changes_at_run_time(harness):
    rgb = scene(5)
    harness.info_pub.publish(make_info(W, H, 200, 200, stamp=(0, 0)))
    assert harness.node.set_parameters([_param('rate', 2.0)])[0].successful

    def run(seconds, first):
        start_count = len(harness.depths)
        t0 = time.monotonic()
        i = 0
        while time.monotonic() - t0 < seconds:
            harness.image_pub.publish(make_image(rgb, stamp=(first + i, 0)))
            i += 1
            time.sleep(1 / 30)
        time.sleep(0.5)
        return len(harness.depths) - start_count
    slow = run(2.0, 1000)
    assert 2 <= slow <= 6, f'rate 2 Hz over 2 s gave {slow} outputs'
    harness.node.set_parameters([_param('rate', 10.0)])
    fast = run(2.0, 2000)
    assert fast > slow + 4, f'rate 10 Hz over 2 s gave {fast} outputs (2 Hz gave {slow})'


BAD_INPUTS = [
    ('depth encoding', lambda img, info: setattr(img, 'encoding', '32FC1'), 'bad_image'),
    ('unknown encoding', lambda img, info: setattr(img, 'encoding', 'yuv422'), 'bad_image'),
    ('short data', lambda img, info: setattr(img, 'data', bytes(img.data[:100])), 'bad_image'),
    ('step below row', lambda img, info: setattr(img, 'step', 10), 'bad_image'),
    ('0x0 image', lambda img, info: (setattr(img, 'height', 0), setattr(img, 'width', 0),
                                     setattr(img, 'data', b'')), 'bad_image'),
    ('zero K', lambda img, info: (setattr(info, 'k', [0.0] * 9), setattr(info, 'p', [0.0] * 12)),
     'bad_camera_info'),
    ('NaN K', lambda img, info: (setattr(info, 'k', [float('nan')] + [0.0] * 8),
                                 setattr(info, 'p', [0.0] * 12)), 'bad_camera_info'),
    ('other resolution', lambda img, info: (setattr(info, 'width', 320),
                                            setattr(info, 'height', 240)), 'bad_camera_info'),
]


@pytest.mark.parametrize('label,spoil,reason', BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_bad_input_is_dropped_and_the_node_goes_on(harness, label, spoil, reason):
    rgb = scene(6)
    img = make_image(rgb, stamp=(50, 0))
    info = make_info(W, H, 200, 200, stamp=(50, 0))
    spoil(img, info)
    before = harness.camera.drops[reason]
    harness.publish(img, info)
    harness.wait_for(lambda: harness.camera.drops[reason] > before, 10.0, f'drop of {label}')
    assert not any(stamp_of(m) == (50, 0) for m in harness.depths)
    depth, _, _ = harness.process(make_image(rgb, stamp=(51, 0)),
                                  make_info(W, H, 200, 200, stamp=(51, 0)))
    assert depth.width == W


def test_missing_camera_info_waits_then_serves(ros_context, tiny_da_dir):
    h = Harness(ros_context, {'model': tiny_da_dir, 'device': 'cpu', 'rate': 0.0,
                              'input_qos': 'reliable'})
    try:
        h.image_pub.publish(make_image(scene(7), stamp=(60, 0)))
        h.wait_for(lambda: h.camera.drops['no_camera_info'] > 0, 10.0, 'no camera_info drop')
        assert not h.depths
        depth, _, _ = h.process(make_image(scene(7), stamp=(61, 0)),
                                make_info(W, H, 200, 200, stamp=(61, 0)))
        assert depth.height == H
    finally:
        h.close()


def test_best_effort_publisher_auto_qos_and_namespace(ros_context, tiny_da_dir):
    best_effort = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=5,
                             reliability=ReliabilityPolicy.BEST_EFFORT)
    h = Harness(ros_context, {'model': tiny_da_dir, 'device': 'cpu', 'rate': 0.0},
                pub_qos=best_effort, namespace='front_cam')
    try:
        assert h.camera.image_sub.qos_profile.reliability == ReliabilityPolicy.BEST_EFFORT
        assert h.camera.image_sub.topic_name == '/front_cam/image'
        assert h.camera.depth_pub.topic_name == '/front_cam/depth/image'
        depth, _, _ = h.process(make_image(scene(8), stamp=(70, 0)),
                                make_info(W, H, 200, 200, stamp=(70, 0)))
        assert depth.width == W
    finally:
        h.close()


def test_model_load_failure_is_one_line_without_traceback():
    proc = subprocess.run(
        [sys.executable, '-m', 'depth_node.node', '--ros-args', '-p', 'model:=/no/such/dir'],
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2  # cannot start: the exit-code convention of every tool
    assert 'Traceback' not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if 'error' in ln.lower()]
    assert len(lines) == 1 and 'does not exist' in lines[0]
