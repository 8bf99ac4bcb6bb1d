# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
In-process ROS 2 test harness: the real DepthNode plus a fixture publisher/subscriber.

Both nodes spin on one executor in a background thread of a private rclpy
Context; tests publish Image + CameraInfo and wait on events with timeouts.
"""

import json
import os
import shutil
import threading
import time

import cv2
import numpy as np
from rclpy.executors import MultiThreadedExecutor, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2

RELIABLE = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10,
                      reliability=ReliabilityPolicy.RELIABLE)


def make_image(rgb: np.ndarray, stamp=(1, 0), frame_id='cam_optical', encoding='rgb8'):
    """Build an Image message from an RGB array (converted to ``encoding``)."""
    msg = Image()
    msg.header.stamp.sec, msg.header.stamp.nanosec = stamp
    msg.header.frame_id = frame_id
    arr = {'rgb8': rgb, 'bgr8': rgb[..., ::-1], 'mono8': rgb[..., :1],
           'rgba8': np.concatenate([rgb, np.full(rgb.shape[:2] + (1,), 255, np.uint8)], 2),
           'bgra8': np.concatenate([rgb[..., ::-1],
                                    np.full(rgb.shape[:2] + (1,), 255, np.uint8)], 2)
           }[encoding]
    arr = np.ascontiguousarray(arr)
    msg.height, msg.width = arr.shape[:2]
    msg.encoding = encoding
    msg.step = arr.shape[1] * arr.shape[2]
    msg.data = arr.tobytes()
    return msg


def make_compressed(rgb: np.ndarray, stamp=(1, 0), frame_id='cam_optical', fmt='jpeg',
                    quality=95):
    """Build a CompressedImage as image_transport's compressed plugin does (BGR inside)."""
    msg = CompressedImage()
    msg.header.stamp.sec, msg.header.stamp.nanosec = stamp
    msg.header.frame_id = frame_id
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if fmt == 'jpeg' else []
    ok, buf = cv2.imencode('.jpg' if fmt == 'jpeg' else '.png',
                           np.ascontiguousarray(rgb[..., ::-1]), params)
    assert ok
    msg.format = f'rgb8; {fmt} compressed bgr8'
    msg.data = buf.tobytes()
    return msg


def make_fast_checkpoint(src_dir, dst_dir, size=56) -> str:
    """
    Copy a tiny checkpoint with a small network input (``size`` px) for fast node tests.

    The architecture and weights are the tiny model's; only the preprocessor's
    resize target shrinks, so one inference takes milliseconds on a CPU.
    """
    os.makedirs(dst_dir, exist_ok=True)
    for name in os.listdir(src_dir):
        shutil.copy(os.path.join(src_dir, name), os.path.join(dst_dir, name))
    path = os.path.join(dst_dir, 'preprocessor_config.json')
    with open(path, encoding='utf-8') as f:
        config = json.load(f)
    config['size'] = {'height': size, 'width': size}
    with open(path, 'w', encoding='utf-8') as f:
        json.dump(config, f)
    return str(dst_dir)


class LogRecorder:
    """
    Record what a node logs (level, text) instead of logging it.

    Install with ``LogRecorder.attach(node)``; ``lines(level)`` returns the texts.
    Calls are not forwarded: rclpy ties severity and throttling to the calling
    line, and every call would come from this one.
    """

    def __init__(self):
        self.records = []
        self._lock = threading.Lock()

    @classmethod
    def attach(cls, node):
        """Make ``node.get_logger()`` return a recorder; return it."""
        recorder = cls()
        node.get_logger = lambda: recorder
        return recorder

    def _log(self, level, text, **kwargs):
        with self._lock:
            self.records.append((level, str(text)))
        return True

    def debug(self, text, **kwargs):
        return self._log('debug', text, **kwargs)

    def info(self, text, **kwargs):
        return self._log('info', text, **kwargs)

    def warning(self, text, **kwargs):
        return self._log('warning', text, **kwargs)

    warn = warning

    def error(self, text, **kwargs):
        return self._log('error', text, **kwargs)

    def lines(self, level=None, contains=''):
        """Return the logged texts (of ``level``, containing ``contains``)."""
        with self._lock:
            return [t for lv, t in self.records
                    if (level is None or lv == level) and contains in t]


def make_info(width, height, fx=500.0, fy=500.0, cx=None, cy=None, stamp=(1, 0),
              frame_id='cam_optical', use_p=True):
    """Build a CameraInfo message of a rectified pinhole camera."""
    cx = (width - 1) / 2.0 if cx is None else cx
    cy = (height - 1) / 2.0 if cy is None else cy
    msg = CameraInfo()
    msg.header.stamp.sec, msg.header.stamp.nanosec = stamp
    msg.header.frame_id = frame_id
    msg.width, msg.height = width, height
    msg.distortion_model = 'plumb_bob'
    msg.d = [0.0] * 5
    msg.k = [fx, 0.0, cx, 0.0, fy, cy, 0.0, 0.0, 1.0]
    msg.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    msg.p = [fx, 0.0, cx, 0.0, 0.0, fy, cy, 0.0, 0.0, 0.0, 1.0, 0.0] if use_p else [0.0] * 12
    return msg


class Harness:
    """DepthNode + a fixture node publishing inputs and collecting outputs."""

    def __init__(self, context, params: dict, *, pub_qos=RELIABLE, namespace='',
                 outputs=True, wait_ready=True, compressed=False, single_threaded=True):
        """
        Start the node and the fixture.

        ``outputs`` False leaves the outputs without subscribers (see
        :meth:`subscribe_outputs`); ``wait_ready`` False does not wait for the
        node to subscribe (lifecycle tests); ``compressed`` publishes
        CompressedImage on ``image/compressed`` instead of Image on ``image``;
        ``single_threaded`` (default) spins on a SingleThreadedExecutor, as
        ``rclpy.spin`` does: rclpy's MultiThreadedExecutor keeps a core busy in
        Python and, on a 2-core machine, starves the node's inference thread.
        """
        from depth_node.node import DepthNode
        self.context = context
        self.io = Node('fixture', context=context, namespace=namespace)
        if compressed:
            self.image_pub = self.io.create_publisher(CompressedImage, 'image/compressed',
                                                      pub_qos)
        else:
            self.image_pub = self.io.create_publisher(Image, 'image', pub_qos)
        self.info_pub = self.io.create_publisher(CameraInfo, 'camera_info', pub_qos)
        self.cond = threading.Condition()
        self.depths, self.infos, self.clouds = [], [], []
        self.output_subs = []
        if outputs:
            self.subscribe_outputs()
        overrides = [Parameter(k, value=v) for k, v in params.items()]
        self.node = DepthNode(context=context, parameter_overrides=overrides,
                              namespace=namespace)
        if single_threaded:
            self.executor = SingleThreadedExecutor(context=context)
        else:
            self.executor = MultiThreadedExecutor(num_threads=2, context=context)
        self.executor.add_node(self.io)
        self.executor.add_node(self.node)
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)
        self.thread.start()
        if wait_ready:
            self.wait_ready()

    def wait_ready(self, timeout=10.0):
        """Wait until the node subscribes to the inputs and its outputs are discovered."""
        self.wait_for(lambda: self.node.image_sub is not None and self.node.info_sub is not None
                      and self.image_pub.get_subscription_count() > 0
                      and self.io.count_publishers('depth/image') > 0, timeout,
                      'node subscribed and outputs matched')

    def subscribe_outputs(self):
        """Subscribe the fixture to depth/image, depth/camera_info and points."""
        self.output_subs = [
            self.io.create_subscription(Image, 'depth/image', self._store(self.depths),
                                        RELIABLE),
            self.io.create_subscription(CameraInfo, 'depth/camera_info',
                                        self._store(self.infos), RELIABLE),
            self.io.create_subscription(PointCloud2, 'points', self._store(self.clouds),
                                        RELIABLE),
        ]

    def unsubscribe_outputs(self):
        """Destroy the fixture's output subscriptions."""
        for sub in self.output_subs:
            self.io.destroy_subscription(sub)
        self.output_subs = []

    def _store(self, bucket):
        def callback(msg):
            with self.cond:
                bucket.append(msg)
                self.cond.notify_all()
        return callback

    def wait_for(self, predicate, timeout=10.0, what='condition'):
        """Wait until ``predicate()`` holds; raise AssertionError on timeout."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while not predicate():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f'timed out waiting for {what}')
                self.cond.wait(min(remaining, 0.05))

    def publish(self, image, info=None):
        """Publish camera_info (if given) then the image."""
        if info is not None:
            self.info_pub.publish(info)
        self.image_pub.publish(image)

    def process(self, image, info=None, timeout=20.0):
        """Publish one frame and wait for its depth, camera_info and (if enabled) cloud."""
        stamp = (image.header.stamp.sec, image.header.stamp.nanosec)

        def arrived(bucket):
            return any((m.header.stamp.sec, m.header.stamp.nanosec) == stamp for m in bucket)
        want_cloud = self.node.get_parameter('publish_points').value
        self.publish(image, info)
        self.wait_for(lambda: arrived(self.depths) and arrived(self.infos)
                      and (arrived(self.clouds) or not want_cloud), timeout,
                      f'outputs of frame {stamp}')

        def pick(bucket):
            return [m for m in bucket
                    if (m.header.stamp.sec, m.header.stamp.nanosec) == stamp][-1]
        return pick(self.depths), pick(self.infos), (pick(self.clouds) if want_cloud else None)

    def close(self):
        """Stop spinning, then destroy both nodes."""
        self.executor.shutdown()
        self.thread.join(timeout=5.0)
        self.node.destroy_node()
        self.io.destroy_node()
