# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
The navigation outputs through the real rclpy node: scan, depth/colored, decimation, filter.

Each output is checked against an independent computation from what the node published
(depth/image and depth/camera_info), with the pure modules: ScanBuilder, EdgeFilter,
colorize_depth_bgr, and a back-projection through the published K.
"""

import cv2
from depth_node.conversions import cloud_to_structured, image_fields_to_depth
from depth_node.filters import EdgeFilter
from depth_node.geometry import intrinsics_from_camera_info
from depth_node.scan import ScanBuilder
from depth_node.testing.feeder import stamp_key
from depth_node.testing.ros_harness import Harness, make_image, make_info, RELIABLE
from depth_node.testing.tiny_models import predictions_of
from depth_node.visualize import colorize_depth_bgr
import numpy as np
import pytest
from rclpy.parameter import Parameter
from sensor_msgs.msg import Image, LaserScan

W, H = 160, 120
FRAME = 'camera_color_optical_frame'


def scene(seed=0):
    """Make a smooth, textured RGB test image."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (H // 8, W // 8, 3), dtype=np.uint8)
    return np.kron(small, np.ones((8, 8, 1), np.uint8))


def blurred_step(pixels, rgb_order=(0, 1, 2), focal=None, timings=None):
    """Stand-in prediction: 1 m on the left, 3 m on the right, blurred across the edge."""
    height, width = pixels.shape[:2]
    depth = np.full((height, width), 3.0, np.float32)
    depth[:, :width // 2] = 1.0
    return cv2.GaussianBlur(depth, (0, 0), 2.0)


class Collector:
    """Messages of one extra output topic, collected by the harness's feeder node."""

    def __init__(self, harness, msg_type, topic):
        self.harness = harness
        self.messages = []
        self.sub = harness.io.create_subscription(
            msg_type, topic, harness.io.collector(topic, self.messages), RELIABLE)

    def wait(self, stamp, timeout=20.0):
        """Return the message of ``stamp`` once it has arrived."""
        found = []

        def arrived():
            found[:] = [m for m in self.messages if stamp_key(m.header.stamp) == stamp]
            return bool(found)
        self.harness.wait_for(arrived, timeout, f'{self.sub.topic_name} of frame {stamp}')
        return found[-1]

    def close(self):
        self.harness.io.destroy_subscription(self.sub)


def frame(stamp, frame_id=FRAME, fx=200.0, seed=0):
    return (make_image(scene(seed), stamp=stamp, frame_id=frame_id),
            make_info(W, H, fx=fx, fy=fx, stamp=stamp, frame_id=frame_id))


def set_params(harness, **values):
    results = harness.node.set_parameters(
        [Parameter(name.replace('__', '.'), value=v) for name, v in values.items()])
    assert all(r.successful for r in results), [r.reason for r in results]


def next_timings(harness, image, info):
    """Process one frame; return its depth, camera_info, cloud and the node's stage timings."""
    previous = harness.camera.last_timings
    outputs = harness.process(image, info)
    harness.wait_for(lambda: harness.camera.last_timings is not previous, 10.0, 'timings')
    return outputs + (harness.camera.last_timings,)


@pytest.fixture
def scan_harness(ros_context, tiny_da_dir):
    h = Harness(ros_context, {'model': tiny_da_dir, 'device': 'cpu', 'rate': 0.0,
                              'publish_scan': True, 'scan.height': 3, 'scan.range_max': 30.0})
    yield h
    h.close()


def test_scan_is_the_scan_of_the_published_depth(scan_harness):
    h = scan_harness
    scans = Collector(h, LaserScan, 'scan')
    h.wait_for(lambda: h.camera.scan_pub.get_subscription_count() > 0, 10.0, 'scan subscriber')
    h.node.model.predict_many = predictions_of(blurred_step)  # a frame with flying pixels
    for stamp, apply_to_depth in (((2, 0), True), ((3, 0), False)):
        set_params(h, edge_filter__apply_to_depth=apply_to_depth)
        depth_msg, info_msg, _ = h.process(*frame(stamp))
        scan = scans.wait(stamp)
        assert scan.header.frame_id == 'camera_color_frame'  # x forward, z up
        depth = image_fields_to_depth(depth_msg)
        intr = intrinsics_from_camera_info(info_msg)
        predicted = blurred_step(depth[..., None])
        flying = EdgeFilter().mask(predicted, intr)
        assert flying.any()
        # The published depth is filtered only with apply_to_depth; the scan always is.
        if apply_to_depth:
            assert np.isnan(depth[flying]).all()
            np.testing.assert_array_equal(depth[~flying], predicted[~flying])
            clean = depth  # the scan of the published depth as it is
        else:
            np.testing.assert_array_equal(depth, predicted)
            clean = np.where(EdgeFilter().mask(depth, intr), np.float32(np.nan), depth)
        ref = ScanBuilder().build(clean, intr, height=3, range_min=0.45, range_max=30.0)
        np.testing.assert_array_equal(np.asarray(scan.ranges, np.float32), ref.ranges)
        assert (scan.angle_min, scan.angle_max, scan.angle_increment) == pytest.approx(
            (ref.angle_min, ref.angle_max, ref.angle_increment), rel=1e-7)
        assert (scan.range_min, scan.range_max) == pytest.approx((0.45, 30.0))
    # The same with the real (tiny) network.
    del h.node.model.predict_many
    depth_msg, info_msg, _ = h.process(*frame((4, 0), seed=3))
    depth = image_fields_to_depth(depth_msg)
    intr = intrinsics_from_camera_info(info_msg)
    ref = ScanBuilder().build(EdgeFilter().apply(depth, intr), intr, height=3, range_max=30.0)
    np.testing.assert_array_equal(np.asarray(scans.wait((4, 0)).ranges, np.float32), ref.ranges)
    scans.close()


def test_scan_frame_that_cannot_be_named_is_said_once(scan_harness):
    h = scan_harness
    scans = Collector(h, LaserScan, 'scan')
    h.wait_for(lambda: h.camera.scan_pub.get_subscription_count() > 0, 10.0, 'scan subscriber')
    for sec in (5, 6):
        h.process(*frame((sec, 0), frame_id='webcam'))
    h.log.wait_line('warning', "image frame 'webcam'")
    assert len(h.log.lines('warning', 'scan.frame_id')) == 1
    assert not scans.messages
    set_params(h, scan__frame_id='webcam_link')
    h.process(*frame((7, 0), frame_id='webcam'))
    assert scans.wait((7, 0)).header.frame_id == 'webcam_link'
    scans.close()


def test_colored_is_computed_only_while_subscribed(ros_context, tiny_da_dir):
    h = Harness(ros_context, {'model': tiny_da_dir, 'device': 'cpu', 'rate': 0.0})
    try:
        assert h.camera.scan_pub is None  # publish_scan is off by default
        *_, timings = next_timings(h, *frame((1, 0)))
        assert 'colored' not in timings
        colored = Collector(h, Image, 'depth/colored')
        h.wait_for(lambda: h.camera.colored_pub.get_subscription_count() > 0, 10.0, 'subscriber')
        depth_msg, _, _, timings = next_timings(h, *frame((2, 0), seed=1))
        assert 'colored' in timings
        msg = colored.wait((2, 0))
        assert (msg.encoding, msg.width, msg.height, msg.step) == ('bgr8', W, H, 3 * W)
        assert msg.header.frame_id == FRAME
        expected = colorize_depth_bgr(image_fields_to_depth(depth_msg))
        np.testing.assert_array_equal(np.frombuffer(msg.data, np.uint8).reshape(H, W, 3),
                                      expected)
        # A fixed range, changed at run time.
        set_params(h, colored__min_depth=0.5, colored__max_depth=4.0)
        depth_msg, *_ = h.process(*frame((3, 0), seed=2))
        np.testing.assert_array_equal(
            np.frombuffer(colored.wait((3, 0)).data, np.uint8).reshape(H, W, 3),
            colorize_depth_bgr(image_fields_to_depth(depth_msg), 0.5, 4.0))
        colored.close()
        h.wait_for(lambda: h.camera.colored_pub.get_subscription_count() == 0, 10.0, 'gone')
        *_, timings = next_timings(h, *frame((4, 0)))
        assert 'colored' not in timings
    finally:
        h.close()


def test_scan_or_colored_alone_keeps_the_node_working(ros_context, tiny_da_dir):
    h = Harness(ros_context, {'model': tiny_da_dir, 'device': 'cpu', 'rate': 0.0,
                              'publish_scan': True}, outputs=False)
    try:
        image, info = frame((1, 0))
        h.publish(image, info)
        h.log.wait_line('info', 'idle, no inference')
        for msg_type, topic, pub in ((LaserScan, 'scan', 'scan_pub'),
                                     (Image, 'depth/colored', 'colored_pub')):
            collector = Collector(h, msg_type, topic)
            h.wait_for(lambda: getattr(h.camera, pub).get_subscription_count() > 0, 10.0, topic)
            stamp = (2 if topic == 'scan' else 3, 0)
            h.publish(*frame(stamp))
            collector.wait(stamp)
            collector.close()
            h.wait_for(lambda: getattr(h.camera, pub).get_subscription_count() == 0, 10.0, topic)
    finally:
        h.close()


def test_decimation_publishes_every_nth_pixel_with_its_camera(ros_context, tiny_da_dir):
    h = Harness(ros_context, {'model': tiny_da_dir, 'device': 'cpu', 'rate': 0.0,
                              'output_decimation': 2})
    try:
        image, info = frame((1, 0), fx=200.0)
        full = h.node.model.predict(scene(0), focal=(200.0, 200.0))
        depth_msg, info_msg, cloud_msg = h.process(image, info)
        assert (depth_msg.width, depth_msg.height) == (W // 2, H // 2)
        assert (info_msg.width, info_msg.height) == (W // 2, H // 2)
        assert (cloud_msg.width, cloud_msg.height) == (W // 2, H // 2)
        cx, cy = (W - 1) / 2.0, (H - 1) / 2.0
        assert list(info_msg.k) == pytest.approx([100.0, 0, cx / 2, 0, 100.0, cy / 2, 0, 0, 1])
        assert list(info_msg.p) == pytest.approx(
            [100.0, 0, cx / 2, 0, 0, 100.0, cy / 2, 0, 0, 0, 1, 0])
        depth = image_fields_to_depth(depth_msg)
        np.testing.assert_allclose(depth, full[::2, ::2], rtol=1e-6)
        # The cloud back-projects the published depth through the published K.
        intr = intrinsics_from_camera_info(info_msg)
        flying = EdgeFilter().mask(depth, intr)
        kinv = np.linalg.inv(np.array(info_msg.k).reshape(3, 3))
        v, u = np.mgrid[0:H // 2, 0:W // 2]
        rays = kinv @ np.stack([u.ravel(), v.ravel(), np.ones(u.size)])
        ref = (rays * depth.ravel()).T.reshape(H // 2, W // 2, 3)
        cloud = cloud_to_structured(cloud_msg)
        got = np.stack([cloud['x'], cloud['y'], cloud['z']], -1)
        keep = np.isfinite(depth) & ~flying
        np.testing.assert_allclose(got[keep], ref[keep], rtol=1e-5, atol=1e-5)
        assert np.isnan(got[~keep]).all()
        # Back to full size at run time.
        set_params(h, output_decimation=1)
        depth_msg, info_msg, _ = h.process(*frame((2, 0)))
        assert (depth_msg.width, info_msg.width, info_msg.k[0]) == (W, W, 200.0)
    finally:
        h.close()


def test_edge_filter_changes_the_cloud_not_the_depth_unless_asked(ros_context, tiny_da_dir):
    h = Harness(ros_context, {'model': tiny_da_dir, 'device': 'cpu', 'rate': 0.0})
    try:
        h.node.model.predict_many = predictions_of(blurred_step)
        image, info = frame((1, 0))
        expected = blurred_step(scene(0))
        depth_msg, info_msg, cloud_msg = h.process(image, info)
        depth = image_fields_to_depth(depth_msg)
        np.testing.assert_array_equal(depth, expected)  # the depth as predicted
        flying = EdgeFilter().mask(expected, intrinsics_from_camera_info(info_msg))
        assert 0 < flying.sum() < 0.2 * flying.size
        z = cloud_to_structured(cloud_msg)['z']
        assert np.isnan(z[flying]).all()
        np.testing.assert_array_equal(z[~flying], expected[~flying])
        # Off: every pixel in the cloud.
        set_params(h, edge_filter__enabled=False)
        _, _, cloud_msg = h.process(*frame((2, 0)))
        np.testing.assert_array_equal(cloud_to_structured(cloud_msg)['z'], expected)
        # apply_to_depth: the depth image loses the flying pixels too.
        set_params(h, edge_filter__enabled=True, edge_filter__apply_to_depth=True)
        depth_msg, _, _ = h.process(*frame((3, 0)))
        depth = image_fields_to_depth(depth_msg)
        assert np.isnan(depth[flying]).all()
        np.testing.assert_array_equal(depth[~flying], expected[~flying])
    finally:
        h.close()


def test_navigation_parameters_are_checked(ros_context, tiny_da_dir):
    h = Harness(ros_context, {'model': tiny_da_dir, 'device': 'cpu', 'rate': 0.0})
    try:
        for name, value in (('scan.range_min', 20.0), ('output_decimation', 0),
                            ('edge_filter.min_angle', 80.0), ('colored.min_depth', 5.0)):
            extra = [Parameter('colored.max_depth', value=2.0)] if name.startswith('colored') \
                else []
            result = h.node.set_parameters_atomically([Parameter(name, value=value)] + extra)
            assert not result.successful, name
        assert not h.node.set_parameters([Parameter('publish_scan', value=True)])[0].successful
    finally:
        h.close()
