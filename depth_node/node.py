# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
The rclpy node: parameters, topics, threading and logging over the ROS-free core.

Callbacks only store the newest image (and camera_info by stamp); a worker
thread takes the newest frame, runs the network, and publishes
``depth/image``, ``depth/camera_info`` and ``points`` with the image's header.
Older frames are dropped, so a slow GPU never builds a backlog.
"""

import collections
import sys
import threading
import time
from typing import Optional

from rcl_interfaces.msg import (FloatingPointRange, IntegerRange, ParameterDescriptor,
                                ParameterType, SetParametersResult)
import rclpy
import rclpy.executors
from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image, PointCloud2, PointField

from .conversions import image_to_array
from .errors import BadCameraInfoError, BadImageError, DepthNodeError, ModelLoadError
from .geometry import check_image_size, intrinsics_from_camera_info
from .models import load_model
from .params import check_parameter, PARAMETERS
from .pipeline import DepthPipeline, OutputOptions

_PARAM_TYPES = {
    'string': ParameterType.PARAMETER_STRING,
    'double': ParameterType.PARAMETER_DOUBLE,
    'integer': ParameterType.PARAMETER_INTEGER,
    'bool': ParameterType.PARAMETER_BOOL,
}

#: How many camera_info messages are kept for pairing by stamp.
CAMERA_INFO_HISTORY = 30
#: How long a frame may wait for the camera_info of its own stamp before the latest is used.
INFO_WAIT_S = 0.1
#: Seconds between repeated warnings of the same kind.
THROTTLE_S = 5.0


def descriptor_for(spec) -> ParameterDescriptor:
    """Build the ParameterDescriptor (type, description, range, read-only) of one entry."""
    desc = ParameterDescriptor(
        name=spec.name, type=_PARAM_TYPES[spec.type], description=spec.description,
        read_only=spec.read_only)
    if spec.choices:
        desc.additional_constraints = 'one of: ' + ', '.join(spec.choices)
    if spec.range is not None and spec.type == 'double':
        desc.floating_point_range = [FloatingPointRange(
            from_value=float(spec.range[0]), to_value=float(spec.range[1]), step=0.0)]
    if spec.range is not None and spec.type == 'integer':
        desc.integer_range = [IntegerRange(
            from_value=int(spec.range[0]), to_value=int(spec.range[1]), step=1)]
    return desc


def _stamp_key(header):
    return (int(header.stamp.sec), int(header.stamp.nanosec))


class DepthNode(Node):
    """Metric depth, camera info and point cloud from a monocular RGB camera."""

    def __init__(self, node_name: str = 'depth_node', **kwargs):
        super().__init__(node_name, **kwargs)
        for spec in PARAMETERS:
            self.declare_parameter(spec.name, spec.default, descriptor_for(spec))
        self._cfg = {spec.name: self.get_parameter(spec.name).value for spec in PARAMETERS}
        for name, value in self._cfg.items():
            try:
                check_parameter(name, value)
            except DepthNodeError as exc:
                raise ModelLoadError(f'invalid parameter: {exc}') from None
        self.add_on_set_parameters_callback(self._on_set_parameters)

        self._silence_libraries()
        self.model = load_model(
            self._cfg['model'], self._cfg['device'], self._cfg['precision'],
            compile_net=self._cfg['compile'], reference_focal=self._cfg['reference_focal'],
            warmup=(640, 480))
        self.pipeline = DepthPipeline(self.model)
        self.get_logger().info('loaded ' + self.model.describe())

        out_qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                             reliability=ReliabilityPolicy.RELIABLE)
        self.depth_pub = self.create_publisher(Image, 'depth/image', out_qos)
        self.info_pub = self.create_publisher(CameraInfo, 'depth/camera_info', out_qos)
        self.points_pub = self.create_publisher(PointCloud2, 'points', out_qos)

        self.stats = collections.Counter()
        self.drops = collections.Counter()
        self._cond = threading.Condition()
        self._pending: Optional[Image] = None
        self._pending_since: Optional[float] = None
        self._paired_by_stamp = True
        self._infos = collections.OrderedDict()
        self._latest_info: Optional[CameraInfo] = None
        self._stop = False
        self._next_due = 0.0
        self._first_frame_logged = False

        self.image_sub = None
        self.info_sub = None
        self._subscribe_timer = None
        self._image_topic = self.resolve_topic_name('image')
        self._info_topic = self.resolve_topic_name('camera_info')
        self._try_subscribe()
        if self.image_sub is None or self.info_sub is None:
            self._subscribe_timer = self.create_timer(0.2, self._try_subscribe)

        self._worker = threading.Thread(target=self._work, name='depth_node_worker', daemon=True)
        self._worker.start()

    # ---------------------------------------------------------------- set-up
    @staticmethod
    def _silence_libraries() -> None:
        try:
            from transformers.utils import logging as hf_logging
            hf_logging.set_verbosity_error()
            hf_logging.disable_progress_bar()
        except ImportError:  # pragma: no cover - transformers is a dependency
            pass

    def _input_qos(self, topic: str) -> Optional[QoSProfile]:
        """
        Subscription QoS for ``topic``: keep-last 1 with the requested reliability.

        ``auto`` matches the publishers (best effort if any publisher is best
        effort, as image_pipeline does) and waits (returns None) while there is
        no publisher.
        """
        mode = self._cfg['input_qos']
        if mode == 'auto':
            infos = self.get_publishers_info_by_topic(topic)
            if not infos:
                return None
            best_effort = any(i.qos_profile.reliability == ReliabilityPolicy.BEST_EFFORT
                              for i in infos)
            reliability = ReliabilityPolicy.BEST_EFFORT if best_effort \
                else ReliabilityPolicy.RELIABLE
        else:
            reliability = ReliabilityPolicy.RELIABLE if mode == 'reliable' \
                else ReliabilityPolicy.BEST_EFFORT
        return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1, reliability=reliability)

    def _try_subscribe(self) -> None:
        if self.image_sub is None:
            qos = self._input_qos(self._image_topic)
            if qos is not None:
                self.image_sub = self.create_subscription(Image, 'image', self._on_image, qos)
                self.get_logger().info(
                    f'subscribed to {self._image_topic} ({qos.reliability.name.lower()})')
        if self.info_sub is None:
            qos = self._input_qos(self._info_topic)
            if qos is not None:
                qos.depth = CAMERA_INFO_HISTORY
                self.info_sub = self.create_subscription(
                    CameraInfo, 'camera_info', self._on_camera_info, qos)
                self.get_logger().info(
                    f'subscribed to {self._info_topic} ({qos.reliability.name.lower()})')
        if self.image_sub is not None and self.info_sub is not None:
            if self._subscribe_timer is not None:
                self._subscribe_timer.cancel()
        else:
            missing = [t for t, s in ((self._image_topic, self.image_sub),
                                      (self._info_topic, self.info_sub)) if s is None]
            self.get_logger().info(
                f"input_qos 'auto': waiting for a publisher on {', '.join(missing)}",
                throttle_duration_sec=THROTTLE_S)

    def _on_set_parameters(self, params) -> SetParametersResult:
        updates = {}
        for p in params:
            try:
                updates[p.name] = check_parameter(p.name, p.value)
            except DepthNodeError as exc:
                return SetParametersResult(successful=False, reason=str(exc))
        with self._cond:
            self._cfg.update(updates)
            if 'reference_focal' in updates:
                self.model.reference_focal = updates['reference_focal']
            if 'rate' in updates:
                self._next_due = 0.0
            self._cond.notify_all()
        return SetParametersResult(successful=True)

    # ---------------------------------------------------------------- callbacks
    def _on_image(self, msg: Image) -> None:
        with self._cond:
            if self._pending is not None:
                self.drops['superseded'] += 1
            self._pending = msg
            self.stats['received'] += 1
            self._cond.notify()

    def _on_camera_info(self, msg: CameraInfo) -> None:
        with self._cond:
            self._infos[_stamp_key(msg.header)] = msg
            while len(self._infos) > CAMERA_INFO_HISTORY:
                self._infos.popitem(last=False)
            self._latest_info = msg
            self._cond.notify()

    # ---------------------------------------------------------------- worker
    def _take_frame(self):
        """Block until a frame is due; return (image, camera_info, cfg) or None at shutdown."""
        with self._cond:
            while not self._stop:
                if self._pending is None:
                    self._cond.wait(0.5)
                    continue
                rate = float(self._cfg['rate'])
                now = time.monotonic()
                if rate > 0.0 and now < self._next_due:
                    self._cond.wait(self._next_due - now)
                    continue
                key = _stamp_key(self._pending.header)
                if key not in self._infos and self._info_may_come(key, now):
                    self._cond.wait(0.01)
                    continue
                msg, self._pending = self._pending, None
                self._pending_since = None
                self._paired_by_stamp = key in self._infos
                info = self._infos.get(key, self._latest_info)
                self._next_due = now + 1.0 / rate if rate > 0.0 else 0.0
                return msg, info, dict(self._cfg)
        return None

    def _info_may_come(self, key, now: float) -> bool:
        """
        Whether to wait briefly for the camera_info stamped ``key`` (sent beside the image).

        Only while none has arrived yet, or while the camera has been sending
        camera_info with the images' stamps; a stream with one static
        camera_info is never delayed.
        """
        if self._pending_since is None:
            self._pending_since = now
        if now - self._pending_since >= INFO_WAIT_S:
            return False
        latest = self._latest_info
        if latest is None:
            return True
        return self._paired_by_stamp and _stamp_key(latest.header) < key

    def _work(self) -> None:
        while True:
            item = self._take_frame()
            if item is None:
                return
            msg, info, cfg = item
            try:
                self._process(msg, info, cfg)
            except BadImageError as exc:
                self._drop('bad_image', f'dropped frame: {exc}')
            except BadCameraInfoError as exc:
                self._drop('bad_camera_info', f'dropped frame: {exc}')
            except Exception as exc:  # noqa: B902 - the worker must survive any frame
                self._drop('error', f'dropped frame: {type(exc).__name__}: {exc}')

    def _drop(self, reason: str, text: str) -> None:
        self.drops[reason] += 1
        self.get_logger().warning(text, throttle_duration_sec=THROTTLE_S)

    def _process(self, msg: Image, info: Optional[CameraInfo], cfg: dict) -> None:
        pixels, order = image_to_array(msg)
        if info is None:
            self.drops['no_camera_info'] += 1
            self.get_logger().warning(
                f'no camera_info received yet on {self._info_topic}; waiting for it '
                '(frames are dropped until it arrives)', throttle_duration_sec=THROTTLE_S)
            return
        intr = intrinsics_from_camera_info(info)
        check_image_size(intr, pixels.shape[1], pixels.shape[0])
        if not self._first_frame_logged:
            self._first_frame_logged = True
            ref = self.model.reference_focal
            self.get_logger().info(
                f'first frame {intr.width}x{intr.height} {msg.encoding}, fx {intr.fx:.1f} '
                f'fy {intr.fy:.1f}, focal scaling {"on" if cfg["focal_scaling"] else "off"}'
                + (f', reference focal {ref:.1f} px' if ref else ''))
        opts = OutputOptions(
            focal_scaling=cfg['focal_scaling'], depth_encoding=cfg['depth_encoding'],
            publish_points=cfg['publish_points'], points_rgb=cfg['points.rgb'],
            points_stride=cfg['points.stride'], points_organized=cfg['points.organized'],
            min_depth=cfg['min_depth'], max_depth=cfg['max_depth'])
        t0 = time.perf_counter()
        result = self.pipeline.process(pixels, order, intr, opts)
        self._publish(msg, info, result)
        self.stats['published'] += 1
        self.last_latency_ms = (time.perf_counter() - t0) * 1000.0
        self.last_timings = result.timings

    def _publish(self, msg: Image, info: CameraInfo, result) -> None:
        depth = Image()
        depth.header = msg.header
        depth.height, depth.width = result.depth.shape
        depth.encoding = result.depth_encoding
        depth.is_bigendian = 0
        depth.step = result.depth_step
        depth.data = result.depth_data
        out_info = CameraInfo()
        for field in ('height', 'width', 'distortion_model', 'd', 'k', 'r', 'p',
                      'binning_x', 'binning_y', 'roi'):
            setattr(out_info, field, getattr(info, field))
        out_info.header = msg.header
        self.depth_pub.publish(depth)
        self.info_pub.publish(out_info)
        cloud = result.cloud
        if cloud is not None:
            pc = PointCloud2()
            pc.header = msg.header
            pc.height, pc.width = cloud.height, cloud.width
            pc.fields = [PointField(name=n, offset=o, datatype=t, count=c)
                         for n, o, t, c in cloud.fields]
            pc.is_bigendian = False
            pc.point_step, pc.row_step = cloud.point_step, cloud.row_step
            pc.data = cloud.data
            pc.is_dense = cloud.is_dense
            self.points_pub.publish(pc)

    # ---------------------------------------------------------------- shutdown
    def destroy_node(self):
        """Stop and join the worker, then destroy the node."""
        cond = getattr(self, '_cond', None)  # absent when the constructor failed
        if cond is not None:
            with cond:
                self._stop = True
                cond.notify_all()
        worker = getattr(self, '_worker', None)
        if worker is not None and worker.is_alive() and threading.current_thread() is not worker:
            worker.join(timeout=5.0)
        return super().destroy_node()


def main(args=None) -> int:
    """Entry point of the ``depth_node`` executable."""
    rclpy.init(args=args)
    node = None
    try:
        node = DepthNode()
        rclpy.spin(node)
    except ModelLoadError as exc:
        print(f'[depth_node] error: {exc}', file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    except rclpy.executors.ExternalShutdownException:
        pass
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == '__main__':
    sys.exit(main())
