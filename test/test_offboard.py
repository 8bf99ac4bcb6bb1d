# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
The robot-to-server recipe (issue 18) with the installed ``depth_node`` as the server.

Two processes, as on a robot and its GPU server: this test is the robot (it
publishes JPEG ``image/compressed`` and ``camera_info`` and takes back what a
robot uses over the link); the server is ``depth_node`` with the recipe's
parameter file (``config/offboard_server.yaml``, doc/offboard.md): compressed
input, ``output_decimation: 2``, no cloud, the scan, and the compressed outputs.
``depth/image/compressedDepth`` is decoded with a port of
compressed_depth_image_transport's own decoder (test/upstream_compressed_depth.py), not
with ours.
"""

from pathlib import Path
import threading
import time

import cv2
from depth_node.conversions import image_fields_to_depth
from depth_node.testing.blackbox import camera_info, node_executable, NodeProcess, RELIABLE
from depth_node.testing.feeder import make_compressed
from depth_node.testing.ros_harness import make_fast_checkpoint
from depth_node.testing.tiny_models import textured_image
import numpy as np
import pytest
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, LaserScan, PointCloud2
from upstream_compressed_depth import upstream_decode

pytestmark = pytest.mark.skipif(node_executable() is None,
                                reason='the depth_node executable is not installed')

W, H, F = 96, 64, 80.0
FRAME_ID = 'robot_camera_optical_frame'
#: The server's parameters: the recipe's own file (doc/offboard.md), as a user runs it.
RECIPE = Path(__file__).resolve().parents[1] / 'config' / 'offboard_server.yaml'
SERVER = ['--params-file', str(RECIPE), '-p', 'rate:=0.0']


class Robot(Node):
    """Publishes the camera compressed; keeps what comes back, by topic and stamp."""

    TOPICS = (('depth/image/compressedDepth', CompressedImage), ('depth/image', Image),
              ('depth/camera_info', CameraInfo), ('scan', LaserScan),
              ('depth/colored/compressed', CompressedImage))

    def __init__(self, context, namespace):
        super().__init__('robot', context=context, namespace=namespace)
        self.cond = threading.Condition()
        self.got = {topic: {} for topic, _ in self.TOPICS}
        self.points = []
        self.create_subscription(PointCloud2, 'points', self.points.append, RELIABLE)
        self.image_pub = self.create_publisher(CompressedImage, 'image/compressed', RELIABLE)
        self.info_pub = self.create_publisher(CameraInfo, 'camera_info', RELIABLE)
        for topic, msg_type in self.TOPICS:
            self.create_subscription(msg_type, topic, self._keeper(topic), RELIABLE)
        self.spinner = SingleThreadedExecutor(context=context)
        self.spinner.add_node(self)
        self.thread = threading.Thread(target=self.spinner.spin, daemon=True)
        self.thread.start()

    def _keeper(self, topic):
        def keep(msg):
            with self.cond:
                self.got[topic][(msg.header.stamp.sec, msg.header.stamp.nanosec)] = msg
                self.cond.notify_all()
        return keep

    def wait(self, predicate, timeout, what):
        deadline = time.monotonic() + timeout
        with self.cond:
            while not predicate():  # also graph changes, which notify nobody: poll
                if time.monotonic() > deadline:
                    raise AssertionError(f'timed out waiting for {what}')
                self.cond.wait(0.05)

    def close(self):
        self.spinner.shutdown(timeout_sec=5.0)
        self.thread.join(timeout=5.0)
        self.destroy_node()


@pytest.fixture(scope='module')
def context(ros_domain_id):
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=ros_domain_id)
    yield context
    rclpy.try_shutdown(context=context)


def test_robot_to_server_outputs_arrive_compressed_and_decode_upstream(
        context, ros_domain_id, tiny_da_dir, tmp_path):
    checkpoint = make_fast_checkpoint(tiny_da_dir, tmp_path / 'ckpt')
    server = NodeProcess(['-r', '__ns:=/robot1', '-p', f'model:={checkpoint}',
                          '-p', 'device:=cpu'] + SERVER, ros_domain_id).start()
    robot = Robot(context, '/robot1')
    try:
        robot.wait(lambda: robot.image_pub.get_subscription_count() > 0
                   and all(robot.count_publishers(f'/robot1/{t}') > 0 for t, _ in Robot.TOPICS)
                   or not server.alive(), 120.0, 'the server')
        assert server.alive(), server.tail()
        rgb = textured_image(H, W, seed=4)
        stamps = [(5 + k, 0) for k in range(3)]
        for stamp in stamps:  # one at a time: the server serves the newest frame
            robot.info_pub.publish(camera_info(W, H, F, F, (W - 1) / 2, (H - 1) / 2,
                                               stamp=stamp, frame_id=FRAME_ID))
            robot.image_pub.publish(make_compressed(rgb, stamp=stamp, frame_id=FRAME_ID))
            robot.wait(lambda s=stamp: all(s in robot.got[t] for t, _ in Robot.TOPICS), 60.0,
                       f'the outputs of {stamp}')
        try:
            robot.wait(lambda: all(s in robot.got[t] for s in stamps for t, _ in Robot.TOPICS),
                       60.0, 'every output of every frame')
        except AssertionError as exc:
            got = {t: sorted(v) for t, v in robot.got.items()}
            raise AssertionError(f'{exc}: got {got}; server:\n{server.tail()}') from None
        a = 100.0 * (100.0 + 1.0)  # upstream's A = z0 (z0 + 1), depth_quantization 100
        for stamp in stamps:
            raw = image_fields_to_depth(robot.got['depth/image'][stamp])
            assert raw.shape == (H // 2, W // 2)  # output_decimation 2
            compressed = robot.got['depth/image/compressedDepth'][stamp]
            assert compressed.header.frame_id == FRAME_ID
            assert compressed.format == '32FC1; compressedDepth png'
            encoding, depth = upstream_decode(compressed.format, bytes(compressed.data))
            assert encoding == '32FC1' and depth.shape == raw.shape
            ok = np.isfinite(raw)
            assert ok.any() and np.array_equal(np.isfinite(depth), ok)
            step = raw[ok].astype(np.float64) ** 2 / a
            assert np.all(np.abs(depth[ok] - raw[ok]) <= 0.5 * step + 1e-6)
            assert len(compressed.data) < raw.nbytes
            info = robot.got['depth/camera_info'][stamp]
            assert (info.width, info.height) == (W // 2, H // 2) and info.k[0] == F / 2
            scan = robot.got['scan'][stamp]
            assert scan.header.frame_id == 'robot_camera_frame' and len(scan.ranges) == W // 2
            jpeg = robot.got['depth/colored/compressed'][stamp]
            colored = cv2.imdecode(np.frombuffer(bytes(jpeg.data), np.uint8), cv2.IMREAD_COLOR)
            assert colored.shape == (H // 2, W // 2, 3)
        assert not robot.points  # publish_points off: no cloud crosses the link
        assert not server.tracebacks(), server.tail()
    finally:
        robot.close()
        server.stop()
