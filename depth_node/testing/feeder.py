# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
A camera stand-in for depth_node: publishes frames, collects the outputs, records the log.

One :class:`Feeder` node serves the tests, ``depth_node_demo`` and
``tools/soak_gpu.py``: it publishes ``sensor_msgs/Image`` (or
``CompressedImage``) and ``CameraInfo`` with RELIABLE QoS (a best-effort
subscriber in another process receives no large image with default Fast DDS
settings), subscribes to ``depth/image`` (and ``depth/image_raw``),
``depth/camera_info`` and ``points`` and keeps what arrives by stamp.
:class:`RosoutRecorder` collects a node's log lines from ``/rosout``, so tests read
what the real rclpy logger wrote.
"""

import threading
import time
from typing import Callable, Dict, List, Optional, Tuple

import cv2
import numpy as np
from rcl_interfaces.msg import Log
from rclpy.event_handler import PublisherEventCallbacks, SubscriptionEventCallbacks
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2

from .. import messages
from ..geometry import Intrinsics
from ..msgfill import as_byte_array

RELIABLE = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10,
                      reliability=ReliabilityPolicy.RELIABLE)

#: rcl_interfaces/Log levels by name.
LOG_LEVELS = {name: int.from_bytes(value, 'little') if isinstance(value, bytes) else int(value)
              for name, value in (('debug', Log.DEBUG), ('info', Log.INFO),
                                  ('warning', Log.WARN), ('error', Log.ERROR),
                                  ('fatal', Log.FATAL))}

StampKey = Tuple[int, int]


def stamp_key(stamp) -> StampKey:
    """Return ``(sec, nanosec)`` of a builtin_interfaces/Time."""
    return int(stamp.sec), int(stamp.nanosec)


# --------------------------------------------------------------------------- messages

def make_image(rgb: np.ndarray, stamp=(1, 0), frame_id='cam_optical',
               encoding='rgb8') -> Image:
    """Build an Image message from an ``H x W x 3`` RGB array (converted to ``encoding``)."""
    msg = Image()
    msg.header.stamp.sec, msg.header.stamp.nanosec = stamp
    msg.header.frame_id = frame_id
    alpha = np.full(rgb.shape[:2] + (1,), 255, np.uint8)
    arr = {'rgb8': rgb, 'bgr8': rgb[..., ::-1], 'mono8': rgb[..., :1],
           'rgba8': np.concatenate([rgb, alpha], 2),
           'bgra8': np.concatenate([rgb[..., ::-1], alpha], 2)}[encoding]
    arr = np.ascontiguousarray(arr)
    msg.height, msg.width = arr.shape[:2]
    msg.encoding = encoding
    msg.step = arr.shape[1] * arr.shape[2]
    msg.data = as_byte_array(arr)
    return msg


def make_compressed(rgb: np.ndarray, stamp=(1, 0), frame_id='cam_optical', fmt='jpeg',
                    quality=95) -> CompressedImage:
    """Build a CompressedImage as image_transport's compressed plugin does (BGR inside)."""
    msg = CompressedImage()
    msg.header.stamp.sec, msg.header.stamp.nanosec = stamp
    msg.header.frame_id = frame_id
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if fmt == 'jpeg' else []
    ok, buf = cv2.imencode('.jpg' if fmt == 'jpeg' else '.png',
                           np.ascontiguousarray(rgb[..., ::-1]), params)
    if not ok:
        raise ValueError(f'OpenCV cannot encode {fmt}')
    msg.format = f'rgb8; {fmt} compressed bgr8'
    msg.data = buf.tobytes()
    return msg


def make_info(width, height, fx=500.0, fy=500.0, cx=None, cy=None, stamp=(1, 0),
              frame_id='cam_optical', use_p=True) -> CameraInfo:
    """Build a CameraInfo message of a rectified pinhole camera (P zero unless ``use_p``)."""
    from depth_node.camera import pinhole_camera_info
    cx = (width - 1) / 2.0 if cx is None else cx
    cy = (height - 1) / 2.0 if cy is None else cy
    types = messages.rclpy_types()
    header = types.Header(frame_id=frame_id)
    header.stamp.sec, header.stamp.nanosec = stamp
    msg = messages.camera_info(types, header, pinhole_camera_info(
        Intrinsics(width, height, fx, fy, cx, cy)))
    if not use_p:
        msg.p = [0.0] * 12
    return msg


# --------------------------------------------------------------------------- the node

class Feeder(Node):
    """
    Publishes frames + camera_info and collects the depth node's outputs by stamp.

    Outputs are kept in arrival order (``depths``, ``infos``, ``clouds``), by stamp
    (``outputs[kind][stamp]`` with kind ``depth``, ``info`` or ``points``) and as
    ``arrivals`` (kind, stamp) and ``arrival[(kind, stamp)]`` (perf_counter time),
    the last ``keep`` of each kind.
    """

    OUTPUTS = ('depth', 'info', 'points')

    def __init__(self, name: str = 'depth_node_feeder', *, compressed: bool = False,
                 pub_qos: QoSProfile = RELIABLE, info_qos: Optional[QoSProfile] = None,
                 outputs: bool = True, keep: int = 100, **kwargs):
        super().__init__(name, **kwargs)
        self.cond = threading.Condition()
        self.keep = keep
        self.depths: List[Image] = []
        self.infos: List[CameraInfo] = []
        self.clouds: List[PointCloud2] = []
        self.outputs: Dict[str, Dict[StampKey, object]] = {k: {} for k in self.OUTPUTS}
        self.arrivals: List[Tuple[str, StampKey]] = []
        self.arrival: Dict[Tuple[str, StampKey], float] = {}
        events = PublisherEventCallbacks(matched=self._notify)
        if compressed:
            self.image_pub = self.create_publisher(CompressedImage, 'image/compressed',
                                                   pub_qos, event_callbacks=events)
        else:
            self.image_pub = self.create_publisher(Image, 'image', pub_qos,
                                                   event_callbacks=events)
        self.info_pub = self.create_publisher(CameraInfo, 'camera_info', info_qos or pub_qos,
                                              event_callbacks=events)
        self.output_subs = []
        if outputs:
            self.subscribe_outputs()

    # ---------------------------------------------------------------- outputs
    def subscribe_outputs(self, points: bool = True) -> None:
        """Subscribe to depth/image and depth/image_raw, depth/camera_info (and points)."""
        events = SubscriptionEventCallbacks(matched=self._notify)
        # The depth image is on depth/image (32FC1) or depth/image_raw (16UC1), REP 118.
        topics = [(Image, 'depth/image', 'depth', self.depths),
                  (Image, 'depth/image_raw', 'depth', self.depths),
                  (CameraInfo, 'depth/camera_info', 'info', self.infos)]
        if points:
            topics.append((PointCloud2, 'points', 'points', self.clouds))
        self.output_subs = [
            self.create_subscription(msg_type, topic, self.collector(kind, bucket), RELIABLE,
                                     event_callbacks=events)
            for msg_type, topic, kind, bucket in topics]

    def unsubscribe_outputs(self) -> None:
        """Destroy the output subscriptions."""
        for sub in self.output_subs:
            self.destroy_subscription(sub)
        self.output_subs = []

    def _notify(self, _info=None) -> None:
        with self.cond:
            self.cond.notify_all()

    def collector(self, kind: str, bucket: list) -> Callable:
        """Return a callback that keeps messages (in ``bucket`` and by stamp) and their arrival."""
        def callback(msg):
            now = time.perf_counter()
            stamp = stamp_key(msg.header.stamp)
            with self.cond:
                bucket.append(msg)
                del bucket[:-self.keep]
                by_stamp = self.outputs.setdefault(kind, {})
                by_stamp[stamp] = msg
                while len(by_stamp) > self.keep:
                    del by_stamp[next(iter(by_stamp))]
                self.arrivals.append((kind, stamp))
                del self.arrivals[:-4 * self.keep]
                self.arrival[(kind, stamp)] = now
                if len(self.arrival) > 8 * self.keep:
                    for key in list(self.arrival)[:len(self.arrival) - 4 * self.keep]:
                        del self.arrival[key]
                self.cond.notify_all()
        return callback

    def connected(self) -> bool:
        """Whether the depth node listens to both inputs and the outputs reach this node."""
        return (self.image_pub.get_subscription_count() > 0
                and self.info_pub.get_subscription_count() > 0
                and all(s.get_publisher_count() > 0 for s in self.output_subs))

    # ---------------------------------------------------------------- waiting
    def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0,
                 what: str = 'condition') -> None:
        """Wait until ``predicate()`` holds; raise TimeoutError naming ``what``."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while not predicate():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f'timed out after {timeout:g} s waiting for {what}')
                self.cond.wait(min(remaining, 0.05))

    def outputs_of(self, stamp: StampKey, want_cloud: bool = True):
        """Return ``(depth, info, cloud)`` received with ``stamp`` (None where missing)."""
        stamp = tuple(stamp)
        with self.cond:
            return (self.outputs['depth'].get(stamp), self.outputs['info'].get(stamp),
                    self.outputs['points'].get(stamp) if want_cloud else None)

    def publish(self, image=None, info=None) -> Optional[float]:
        """Publish camera_info (if given), then the image (if given); return its send time."""
        if info is not None:
            self.info_pub.publish(info)
        if image is None:
            return None
        sent = time.perf_counter()
        self.image_pub.publish(image)
        return sent

    def process(self, image, info=None, timeout: float = 20.0, want_cloud: bool = True):
        """Publish one frame and wait for its depth, camera_info and (if wanted) cloud."""
        stamp = stamp_key(image.header.stamp)
        self.publish(image, info)

        def arrived():
            depth, out_info, cloud = self.outputs_of(stamp, want_cloud)
            return depth is not None and out_info is not None and (
                cloud is not None or not want_cloud)
        self.wait_for(arrived, timeout, f'outputs of frame {stamp}')
        return self.outputs_of(stamp, want_cloud)


class RosoutRecorder:
    """Collect the ``/rosout`` lines of one logger name (what the real rclpy logger wrote)."""

    def __init__(self, node: Node, logger_name: str):
        self.logger_name = logger_name.lstrip('/').replace('/', '.')
        self.cond = threading.Condition()
        self.records: List[Tuple[int, str]] = []
        qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1000,
                         reliability=ReliabilityPolicy.RELIABLE,
                         durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self.sub = node.create_subscription(Log, '/rosout', self._on_log, qos)

    def _on_log(self, msg: Log) -> None:
        if msg.name.endswith(self.logger_name):
            level = msg.level[0] if isinstance(msg.level, bytes) else int(msg.level)
            with self.cond:
                self.records.append((level, str(msg.msg)))
                self.cond.notify_all()

    def lines(self, level: Optional[str] = None, contains: str = '') -> List[str]:
        """Return the logged texts (of ``level``: debug, info, warning, error) containing text."""
        want = None if level is None else LOG_LEVELS[level]
        with self.cond:
            return [t for lv, t in self.records if (want is None or lv == want)
                    and contains in t]

    def wait_line(self, level: Optional[str], contains: str, timeout: float = 10.0) -> str:
        """Wait for a line (of ``level``) containing ``contains``; return it."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                found = self.lines(level, contains)
                if found:
                    return found[-1]
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(
                        f'no {level or "any"} log line containing {contains!r} within '
                        f'{timeout:g} s; got: {[t for _, t in self.records][-10:]}')
                self.cond.wait(min(remaining, 0.05))
