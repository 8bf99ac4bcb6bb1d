# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
Issue 16 items 6, 9, 12 and 13 through the installed ``depth_node`` executable.

A latched camera_info beside a volatile publisher of the same topic; a QoS
override of one output that must not leak to the others; misspelt parameter
names named at start with the closest known one; the ``image size changed``
line of a frame that is dropped because its camera_info lags.
"""

from depth_node.testing.blackbox import (camera_info, node_executable, NodeProcess, RELIABLE,
                                         rgb_image, RosPeer)
from depth_node.testing.ros_harness import make_fast_checkpoint
from depth_node.testing.tiny_models import textured_image
import pytest
import rclpy
from rclpy.qos import ReliabilityPolicy
from sensor_msgs.msg import CameraInfo

pytestmark = pytest.mark.skipif(node_executable() is None,
                                reason='the depth_node executable is not installed')

W, H, F = 64, 48, 60.0
FRAME_ID = 'cam_color_optical_frame'


@pytest.fixture(scope='module')
def fx_context(ros_domain_id):
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=ros_domain_id)
    yield context
    rclpy.try_shutdown(context=context)


@pytest.fixture(scope='module')
def checkpoint(tiny_da_dir, tmp_path_factory):
    return make_fast_checkpoint(tiny_da_dir, tmp_path_factory.mktemp('fix_ckpt'))


def start(namespace, domain_id, checkpoint, *args):
    return NodeProcess(['-r', f'__ns:={namespace}', '-p', f'model:={checkpoint}',
                        '-p', 'device:=cpu', '-p', 'rate:=0.0', '-p', 'diagnostics_period:=0.2']
                       + list(args), domain_id).start()


def image(stamp, width=W, height=H, seed=1):
    return rgb_image(width, height, textured_image(height, width, seed=seed), stamp=stamp,
                     frame_id=FRAME_ID)


def info(stamp, width=W, height=H):
    return camera_info(width, height, F, F, (width - 1) / 2, (height - 1) / 2, stamp=stamp,
                       frame_id=FRAME_ID)


def test_latched_camera_info_beside_a_volatile_publisher_is_received(fx_context,
                                                                     ros_domain_id, checkpoint):
    peer = RosPeer(fx_context, '/fx_latched', latched_info=True)
    volatile = peer.create_publisher(CameraInfo, 'camera_info', RELIABLE)
    peer.info_pub.publish(info((1, 0)))  # latched: the only calibration there will be
    proc = start('/fx_latched', ros_domain_id, checkpoint)
    try:
        peer.wait_for(lambda: (peer.connected() and peer.diag is not None)
                      or not proc.alive(), 120.0, 'the node to serve')
        assert volatile.get_subscription_count() >= 1
        for sec in (2, 3):
            peer.image_pub.publish(image((sec, 0)))
            depth, out_info, _ = peer.wait_outputs((sec, 0), 30.0)
            assert out_info.k[0] == F and depth.width == W
        assert proc.matching('subscribed to /fx_latched/camera_info .*transient_local')
        assert not proc.tracebacks()
    finally:
        peer.close()
        proc.stop()


def test_a_qos_override_of_one_output_leaves_the_others_alone(fx_context, ros_domain_id,
                                                              checkpoint):
    proc = start('/fx_qos', ros_domain_id, checkpoint, '-p', 'publish_scan:=true',
                 '-p', 'qos_overrides./fx_qos/points.publisher.reliability:=best_effort')
    peer = RosPeer(fx_context, '/fx_qos')
    try:
        peer.wait_for(lambda: (peer.connected() and peer.diag is not None)
                      or not proc.alive(), 120.0, 'the node to serve')
        reliability = {}
        for topic in ('depth/image', 'depth/camera_info', 'points', 'scan', 'depth/colored'):
            infos = peer.get_publishers_info_by_topic(f'/fx_qos/{topic}')
            assert len(infos) == 1, topic
            reliability[topic] = infos[0].qos_profile.reliability
        assert reliability.pop('points') == ReliabilityPolicy.BEST_EFFORT
        assert set(reliability.values()) == {ReliabilityPolicy.RELIABLE}, reliability
        assert not proc.tracebacks()
    finally:
        peer.close()
        proc.stop()


def test_misspelt_parameters_are_named_with_the_closest_one(ros_domain_id, checkpoint,
                                                            tmp_path):
    params = tmp_path / 'typos.yaml'
    params.write_text('/**:\n  ros__parameters:\n    output_decimaton: 2\n'
                      '    edge_filter:\n      enable: false\n    points:\n      stride: 2\n')
    proc = start('/fx_typos', ros_domain_id, checkpoint, '-p', 'rat:=5.0',
                 '--params-file', str(params))
    try:
        proc.wait_line(r'ready: ', 120.0)
        warnings = proc.matching(r'\[WARN\].*is not a parameter of this node')
        expected = {"parameter 'rat' is not a parameter of this node: ignored; did you mean "
                    "'rate'?",
                    "parameter 'output_decimaton' is not a parameter of this node: ignored; "
                    "did you mean 'output_decimation'?",
                    "parameter 'edge_filter.enable' is not a parameter of this node: ignored; "
                    "did you mean 'edge_filter.enabled'?"}
        assert {line.split(': ', 1)[1] for line in warnings} == expected, warnings
        assert not proc.matching('points.stride')  # a real parameter is not named
        assert not proc.tracebacks()
    finally:
        proc.stop()


def test_size_change_line_of_a_frame_dropped_for_a_lagging_camera_info(fx_context,
                                                                       ros_domain_id,
                                                                       checkpoint):
    proc = start('/fx_resize', ros_domain_id, checkpoint)
    peer = RosPeer(fx_context, '/fx_resize')
    try:
        peer.wait_for(lambda: (peer.connected() and peer.diag is not None)
                      or not proc.alive(), 120.0, 'the node to serve')
        peer.publish(image((1, 0)), info((1, 0)))
        peer.wait_outputs((1, 0), 30.0)
        mark = proc.mark()
        # The camera switches to 80x60; its camera_info still says 64x48 for a moment.
        peer.publish(image((2, 0), 80, 60), info((2, 0)))
        proc.wait_line(r'image size changed 64x48 -> 80x60', 30.0, mark)
        proc.wait_line(r'dropped frame: camera_info is for 64x48', 30.0, mark)
        peer.publish(image((3, 0), 80, 60), info((3, 0), 80, 60))
        depth, _, _ = peer.wait_outputs((3, 0), 30.0)
        assert (depth.width, depth.height) == (80, 60)
        assert not proc.tracebacks()
    finally:
        peer.close()
        proc.stop()
