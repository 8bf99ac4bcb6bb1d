# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
The rclpy node: parameters, topics, lifecycle, threading and logging over the ROS-free core.

Callbacks only store the newest image (and camera_info by stamp); a worker
thread takes the newest frame, runs the network, and publishes
``depth/image``, ``depth/camera_info`` and ``points`` with the image's header.
Older frames are dropped, so a slow GPU never builds a backlog, and no
inference runs while nobody subscribes to an output.

The node is a ROS 2 managed (lifecycle) node: configure loads the weights,
activate subscribes, deactivate stops inference, cleanup frees the model.
With ``autostart`` (default) it configures and activates itself at start.
Health goes to ``/diagnostics`` once a period.
"""

import collections
import gc
import os
import sys
import threading
import time
from typing import Optional

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import (FloatingPointRange, IntegerRange, ParameterDescriptor,
                                ParameterType, SetParametersResult)
import rclpy
import rclpy.executors
from rclpy.lifecycle import LifecycleNode, TransitionCallbackReturn
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.qos_overriding_options import QoSOverridingOptions
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2, PointField
import torch

from .compressed import decode_compressed
from .conversions import image_to_array
from .diagnostics import assess, FrameStats, network_input_text, values
from .errors import BadCameraInfoError, BadImageError, DepthNodeError, ModelLoadError
from .geometry import check_image_size
from .models import load_model
from .params import check_parameter, PARAMETERS, PARAMETERS_BY_NAME
from .pipeline import DepthPipeline, OutputOptions
from .rectify import CameraCache
from .soak import rss_bytes
from .stream import StreamMonitor

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
#: Seconds without camera_info (while images come) before a warning; the last one is used.
CAMERA_INFO_STALE_S = 2.0
#: Seconds between repeated warnings of the same kind.
THROTTLE_S = 5.0
#: How long deactivate waits for the frame in progress.
DEACTIVATE_WAIT_S = 10.0
#: How long destroy_node (Ctrl-C, SIGTERM) waits for the frame in progress.
JOIN_TIMEOUT_S = 1.0
#: Output topics; with no subscriber on any of them no inference runs.
OUTPUT_TOPICS = ('depth/image', 'depth/camera_info', 'points')

_SUCCESS = TransitionCallbackReturn.SUCCESS
_FAILURE = TransitionCallbackReturn.FAILURE
_CUDA_OOM = getattr(torch.cuda, 'OutOfMemoryError', None) or type('NoCudaOom', (Exception,), {})


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


def output_options(cfg: dict) -> OutputOptions:
    """Return the pipeline's output options from the node's parameter values."""
    return OutputOptions(
        focal_scaling=cfg['focal_scaling'], depth_encoding=cfg['depth_encoding'],
        publish_points=cfg['publish_points'], points_rgb=cfg['points.rgb'],
        points_stride=cfg['points.stride'], points_organized=cfg['points.organized'],
        min_depth=cfg['min_depth'], max_depth=cfg['max_depth'])


def _stamp_key(header):
    return (int(header.stamp.sec), int(header.stamp.nanosec))


def _stamp_ns(header) -> int:
    return int(header.stamp.sec) * 1_000_000_000 + int(header.stamp.nanosec)


class DepthNode(LifecycleNode):
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
                self.destroy_node()
                raise ModelLoadError(f'invalid parameter: {exc}') from None
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self._silence_libraries()

        self.model = None
        self.pipeline: Optional[DepthPipeline] = None
        self.depth_pub = self.info_pub = self.points_pub = None
        self.image_sub = None
        self.info_sub = None
        self._subscribe_timer = None
        self._state = 'unconfigured'
        self._active = False
        self._autostarting = False
        self._load_error: Optional[str] = None

        self.frames = FrameStats()
        self.drops = self.frames.drops  # Counter of dropped frames by reason
        self.events = collections.Counter()  # stream changes (camera restarts) by kind
        self.last_latency_ms: Optional[float] = None
        self.last_timings: Optional[dict] = None
        self._cond = threading.Condition()
        self._pending = None
        self._pending_since: Optional[float] = None
        self._paired_by_stamp = True
        self._infos = {}
        self._latest_info: Optional[CameraInfo] = None
        self._busy = False
        self._stop = False
        self._next_due = 0.0
        self._first_frame_logged = False
        self._idle = False
        self._distortion_noted = False
        self._cameras = CameraCache()
        self._monitor = StreamMonitor(CAMERA_INFO_STALE_S)

        compressed = self._cfg['input_transport'] == 'compressed'
        self._image_type = CompressedImage if compressed else Image
        base = self.resolve_topic_name('image')
        self._image_topic = base.rstrip('/') + '/compressed' if compressed else base
        self._info_topic = self.resolve_topic_name('camera_info')

        self._diag_pub = None
        self._diag_timer = None
        if self._cfg['diagnostics_period'] > 0.0:
            self._diag_pub = self.create_publisher(
                DiagnosticArray, '/diagnostics',
                QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10,
                           reliability=ReliabilityPolicy.RELIABLE))
            self._diag_timer = self.create_timer(
                self._cfg['diagnostics_period'], self.publish_diagnostics)

        if self._cfg['autostart']:
            self._autostart()
        self._worker = threading.Thread(target=self._work, name='depth_node_worker', daemon=True)
        self._worker.start()

    # ---------------------------------------------------------------- set-up
    @staticmethod
    def _silence_libraries() -> None:
        """Keep weight-loading bars and hub retry warnings out of the node's log."""
        try:
            from huggingface_hub.utils import logging as hub_logging
            from transformers.utils import logging as hf_logging
            hf_logging.set_verbosity_error()
            hf_logging.disable_progress_bar()
            hub_logging.set_verbosity_error()
        except ImportError:  # pragma: no cover - transformers is a dependency
            pass

    def _autostart(self) -> None:
        """Configure and activate from the constructor; raise ModelLoadError on failure."""
        self._autostarting = True
        try:
            if self.trigger_configure() != _SUCCESS:
                error = self._load_error or 'configure failed'
                self.destroy_node()
                raise ModelLoadError(error)
            self.trigger_activate()
        finally:
            self._autostarting = False

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
        if not self._active or not self.context.ok():
            return
        if self.image_sub is None:
            qos = self._input_qos(self._image_topic)
            if qos is not None:
                self.image_sub = self.create_subscription(
                    self._image_type, self._image_topic, self._on_image, qos)
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
                self.destroy_timer(self._subscribe_timer)
                self._subscribe_timer = None
        else:
            if self._subscribe_timer is None:
                self._subscribe_timer = self.create_timer(0.2, self._try_subscribe)
            missing = [t for t, s in ((self._image_topic, self.image_sub),
                                      (self._info_topic, self.info_sub)) if s is None]
            self.get_logger().info(
                f"input_qos 'auto': waiting for a publisher on {', '.join(missing)}",
                throttle_duration_sec=THROTTLE_S)

    def _unsubscribe(self) -> None:
        if self._subscribe_timer is not None:
            self.destroy_timer(self._subscribe_timer)
            self._subscribe_timer = None
        for name in ('image_sub', 'info_sub'):
            sub = getattr(self, name)
            if sub is not None:
                self.destroy_subscription(sub)
                setattr(self, name, None)

    def _on_set_parameters(self, params) -> SetParametersResult:
        updates = {}
        for p in params:
            if p.name not in PARAMETERS_BY_NAME:
                continue  # qos_overrides.* and other built-in parameters
            try:
                updates[p.name] = check_parameter(p.name, p.value)
            except DepthNodeError as exc:
                return SetParametersResult(successful=False, reason=str(exc))
        with self._cond:
            self._cfg.update(updates)
            if 'reference_focal' in updates and self.model is not None:
                self.model.reference_focal = updates['reference_focal']
            if 'rate' in updates:
                self._next_due = 0.0
            self._cond.notify_all()
        return SetParametersResult(successful=True)

    # ---------------------------------------------------------------- lifecycle
    def on_configure(self, state) -> TransitionCallbackReturn:
        """Load the weights and create the publishers; FAILURE if the model cannot load."""
        self._load_error = None
        try:
            model = load_model(
                self._cfg['model'], self._cfg['device'], self._cfg['precision'],
                compile_net=self._cfg['compile'], reference_focal=self._cfg['reference_focal'],
                flip_tta=self._cfg['flip_tta'], warmup=(640, 480))
        except ModelLoadError as exc:
            self._load_error = str(exc)
            if not self._autostarting:  # autostart: main() prints the one error line
                self.get_logger().error(f'configure failed: {exc}')
            return _FAILURE
        if self._cfg['flip_tta'] and not model.supports_flip_tta:
            self.get_logger().warning(
                f'flip_tta is only used by ZoeDepth; ignored for {model.family}')
        self.model = model
        self.pipeline = DepthPipeline(model)
        self._fov_fallback_noted = False
        self._cameras.clear()
        self._first_frame_logged = False
        out_qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                             reliability=ReliabilityPolicy.RELIABLE)
        overrides = QoSOverridingOptions.with_default_policies()
        self.depth_pub = self.create_lifecycle_publisher(
            Image, 'depth/image', out_qos, qos_overriding_options=overrides)
        self.info_pub = self.create_lifecycle_publisher(
            CameraInfo, 'depth/camera_info', out_qos, qos_overriding_options=overrides)
        self.points_pub = self.create_lifecycle_publisher(
            PointCloud2, 'points', out_qos, qos_overriding_options=overrides)
        self._state = 'inactive'
        self.get_logger().info(
            f'ready: {model.describe()}, network input {network_input_text(model.processor)}, '
            f'input {self._image_topic} ({self._cfg["input_transport"]}'
            f'{", rectified" if self._cfg["input_rectified"] else ", undistorted here"})')
        return super().on_configure(state)

    def on_activate(self, state) -> TransitionCallbackReturn:
        """Subscribe to the camera and start publishing."""
        result = super().on_activate(state)  # enables the lifecycle publishers
        with self._cond:
            self._active = True
            self._next_due = 0.0
            self._idle = False
        self._try_subscribe()
        self._state = 'active'
        if not self._autostarting:
            self.get_logger().info('activated: processing frames')
        return result

    def on_deactivate(self, state) -> TransitionCallbackReturn:
        """Unsubscribe, drop the waiting frame and wait for the one in progress."""
        self._stop_processing()
        self._state = 'inactive'
        self.get_logger().info('deactivated: no inference until activated again')
        return super().on_deactivate(state)

    def on_cleanup(self, state) -> TransitionCallbackReturn:
        """Destroy the publishers and free the model and its GPU memory."""
        self._release()
        self._state = 'unconfigured'
        self.get_logger().info('cleaned up: model unloaded')
        return super().on_cleanup(state)

    def on_shutdown(self, state) -> TransitionCallbackReturn:
        """Stop processing and free everything, from whichever state."""
        self._stop_processing()
        self._release()
        self._state = 'finalized'
        return super().on_shutdown(state)

    def on_error(self, state) -> TransitionCallbackReturn:
        """Free everything and go back to unconfigured."""
        self._stop_processing()
        self._release()
        self._state = 'unconfigured'
        return super().on_error(state)

    def _stop_processing(self) -> None:
        self._unsubscribe()
        with self._cond:
            self._active = False
            if self._pending is not None:
                self._pending = None
                self.frames.count_drop('idle')
            deadline = time.monotonic() + DEACTIVATE_WAIT_S
            while self._busy and time.monotonic() < deadline:
                self._cond.wait(0.05)

    def _release(self) -> None:
        for name in ('depth_pub', 'info_pub', 'points_pub'):
            pub = getattr(self, name)
            if pub is not None:
                self.destroy_lifecycle_publisher(pub)
                setattr(self, name, None)
        device = getattr(self.model, 'device', None)
        self.pipeline = None
        self.model = None
        self._cameras.clear()
        gc.collect()
        if device is not None and device.type == 'cuda':
            torch.cuda.empty_cache()

    @property
    def lifecycle_state(self) -> str:
        """Return the lifecycle state: unconfigured, inactive, active or finalized."""
        return self._state

    # ---------------------------------------------------------------- callbacks
    def _on_image(self, msg) -> None:
        with self._cond:
            if not self._active:
                return
            event = self._monitor.stamp(_stamp_ns(msg.header))
            if event is not None:
                key = _stamp_key(msg.header)
                self._infos = {k: v for k, v in self._infos.items() if k <= key}
            if self._pending is not None:
                self.frames.count_drop('superseded')
            self._pending = msg
            self.frames.count_received()
            self._cond.notify()
        if event is not None:
            self._log_event(event)

    def _on_camera_info(self, msg: CameraInfo) -> None:
        with self._cond:
            key = _stamp_key(msg.header)
            latest = self._latest_info
            if latest is not None and key < _stamp_key(latest.header):
                # Stamps went back (bag loop, camera restart): forget the old stream's infos.
                self._infos = {}
            self._infos[key] = msg
            while len(self._infos) > CAMERA_INFO_HISTORY:
                del self._infos[next(iter(self._infos))]
            self._latest_info = msg
            event = self._monitor.camera_info_received(time.monotonic())
            self._cond.notify()
        if event is not None:
            self._log_event(event)

    # ---------------------------------------------------------------- worker
    def _take_frame(self):
        """Block until a frame is due; return (image, camera_info, paired, cfg) or None."""
        with self._cond:
            while not self._stop:
                if self._pending is None or not self._active:
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
                paired = key in self._infos
                self._paired_by_stamp = paired
                info = self._infos.get(key, self._latest_info)
                self._next_due = now + 1.0 / rate if rate > 0.0 else 0.0
                self._busy = True
                return msg, info, paired, dict(self._cfg)
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
            try:
                self._process(*item)
            except BadImageError as exc:
                self._drop('bad_image', f'dropped frame: {exc}')
            except BadCameraInfoError as exc:
                self._drop('bad_camera_info', f'dropped frame: {exc}')
            except _CUDA_OOM:
                gc.collect()
                torch.cuda.empty_cache()  # a no-op where CUDA was never initialised
                self._drop('cuda_oom', 'dropped frame: CUDA out of memory; freed the CUDA '
                           'cache and going on (try a smaller model, precision:=fp16 or a '
                           'smaller image)')
            except Exception as exc:  # noqa: B902 - the worker must survive any frame
                if not self._stop:
                    self._drop('error', f'dropped frame: {type(exc).__name__}: {exc}')
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def _drop(self, reason: str, text: str) -> None:
        self.frames.count_drop(reason)
        self.get_logger().warning(text, throttle_duration_sec=THROTTLE_S)

    def _log_event(self, event) -> None:
        self.events[event.kind] += 1
        log = self.get_logger()
        (log.warning if event.level == 'warning' else log.info)(event.text)

    def _subscribers(self, cfg: dict) -> int:
        """Return how many subscriptions the outputs have (points only when published)."""
        pubs = [self.depth_pub, self.info_pub]
        if cfg['publish_points']:
            pubs.append(self.points_pub)
        return sum(p.get_subscription_count() for p in pubs if p is not None)

    def _process(self, msg, info: Optional[CameraInfo], paired: bool, cfg: dict) -> None:
        if self._subscribers(cfg) == 0:
            self.frames.count_drop('idle')
            if not self._idle:
                self._idle = True
                self.get_logger().info(
                    f"no subscriber on {', '.join(OUTPUT_TOPICS)}: idle, no inference until "
                    'one subscribes')
            return
        if self._idle:
            self._idle = False
            self.get_logger().info('an output has a subscriber: resuming inference')
        if isinstance(msg, CompressedImage):
            pixels, order, encoding = decode_compressed(msg)
        else:
            pixels, order = image_to_array(msg)
            encoding = str(msg.encoding)
        height, width = pixels.shape[:2]
        if info is None:
            with self._cond:
                self._monitor.waiting_for_info()
            self.frames.count_drop('no_camera_info')
            self.get_logger().warning(
                f'no camera_info received yet on {self._info_topic}; waiting for it '
                '(frames are dropped until it arrives)', throttle_duration_sec=THROTTLE_S)
            return
        with self._cond:
            events = self._monitor.frame(width, height, encoding, msg.header.frame_id,
                                         time.monotonic(), paired, self._info_topic)
        for event in events:
            self._log_event(event)
        try:
            cam = self._cameras.get(info, rectify=not cfg['input_rectified'])
            check_image_size(cam.intrinsics, width, height)
        except BadCameraInfoError as exc:
            if not getattr(self.model, 'has_fov_head', False):
                raise
            self._process_with_estimated_focal(msg, pixels, order, cfg, exc)
            return
        intr = cam.intrinsics
        if self._cameras.changed:
            text = (f'{intr.width}x{intr.height} fx {intr.fx:.1f} fy {intr.fy:.1f} '
                    f'cx {intr.cx:.1f} cy {intr.cy:.1f}'
                    + (f' (undistorted, {info.distortion_model})' if cam.undistorter else ''))
            with self._cond:
                event = self._monitor.camera(text)
            if event is not None:
                self._log_event(event)
            if cam.distortion_ignored and not self._distortion_noted:
                self._distortion_noted = True
                self.get_logger().info(
                    f'camera_info has non-zero distortion ({info.distortion_model}) but '
                    'input_rectified is true: the image is used as it is; set '
                    'input_rectified:=false to undistort it here')
        if not self._first_frame_logged:
            self._first_frame_logged = True
            ref = self.model.reference_focal
            self.get_logger().info(
                f'first frame {intr.width}x{intr.height} {encoding}, fx {intr.fx:.1f} '
                f'fy {intr.fy:.1f}, focal scaling {"on" if cfg["focal_scaling"] else "off"}'
                + (f', reference focal {ref:.1f} px' if ref else '')
                + (', undistorted here' if cam.undistorter else ''))
        opts = output_options(cfg)
        t0 = time.perf_counter()
        _, result = self.pipeline.process_camera(pixels, order, cam, opts)
        self._publish(msg.header, cam.output_fields(info), result, t0)

    def _process_with_estimated_focal(self, msg, pixels, order, cfg: dict, exc) -> None:
        """
        Serve a frame whose camera_info is unusable from Depth Pro's own field of view.

        Depth, cloud and depth/camera_info then use the estimated pinhole camera
        (fx = fy from the field of view, principal point at the centre); said once.
        """
        height, width = pixels.shape[:2]
        if not self._fov_fallback_noted:
            self._fov_fallback_noted = True
            self.get_logger().warning(
                f'camera_info unusable ({exc}); Depth Pro falls back to its own estimated '
                'field of view for the scale, the cloud and depth/camera_info')
        opts = output_options(cfg)
        timings = {}
        t0 = time.perf_counter()
        depth = self.pipeline.depth(pixels, order, None, False, timings)
        intr = self.model.estimated_intrinsics(width, height)
        result = self.pipeline.encode(depth, pixels, order, intr, opts, timings)
        fields = {'height': height, 'width': width, 'distortion_model': 'plumb_bob',
                  'd': [0.0] * 5, 'k': list(intr.k()),
                  'r': [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0], 'p': list(intr.p())}
        self._publish(msg.header, fields, result, t0)

    def _publish(self, header, info_fields: dict, result, t0: float) -> None:
        """Publish depth, camera_info and cloud of one frame, then count it (``t0``: start)."""
        depth = Image()
        depth.header = header
        depth.height, depth.width = result.depth.shape
        depth.encoding = result.depth_encoding
        depth.is_bigendian = 0
        depth.step = result.depth_step
        depth.data = result.depth_data
        out_info = CameraInfo()
        for name, value in info_fields.items():
            setattr(out_info, name, value)
        out_info.header = header
        self.depth_pub.publish(depth)
        self.info_pub.publish(out_info)
        cloud = result.cloud
        if cloud is not None:
            pc = PointCloud2()
            pc.header = header
            pc.height, pc.width = cloud.height, cloud.width
            pc.fields = [PointField(name=n, offset=o, datatype=t, count=c)
                         for n, o, t, c in cloud.fields]
            pc.is_bigendian = False
            pc.point_step, pc.row_step = cloud.point_step, cloud.row_step
            pc.data = cloud.data
            pc.is_dense = cloud.is_dense
            self.points_pub.publish(pc)
        end_to_end_ms = (self.get_clock().now().nanoseconds - _stamp_ns(header)) * 1e-6
        self.frames.count_published(result.model_ms, end_to_end_ms, time.monotonic())
        self.last_latency_ms = (time.perf_counter() - t0) * 1000.0
        self.last_timings = result.timings

    # ---------------------------------------------------------------- diagnostics
    def diagnostic_status(self) -> DiagnosticStatus:
        """Return the node's DiagnosticStatus for the period since the previous call."""
        report = self.frames.report(time.monotonic())
        level, message = assess(self._state, report, self._image_topic, self._info_topic)
        model = self.model
        cfg = self._cfg
        info = {'state': self._state, 'input_transport': cfg['input_transport'],
                'rate_limit_hz': f"{cfg['rate']:g}", 'memory_rss_mb': f'{rss_bytes() / 1e6:.1f}'}
        if model is not None:
            ref = model.reference_focal
            info.update({
                'model': model.model_id, 'model_family': model.family,
                'device': str(model.device),
                'precision': str(model.dtype).replace('torch.', ''),
                'reference_focal_px': f'{ref:.1f}' if ref else 'camera fx',
                'network_input': network_input_text(model.processor)})
            if model.device.type == 'cuda':
                info['gpu_memory_allocated_mb'] = \
                    f'{torch.cuda.memory_allocated(model.device) / 1e6:.1f}'
                info['gpu_memory_reserved_mb'] = \
                    f'{torch.cuda.memory_reserved(model.device) / 1e6:.1f}'
        else:
            info.update({'model': cfg['model'], 'device': cfg['device'],
                         'precision': cfg['precision']})
        cam = self._cameras.camera
        if cam is not None:
            info['input_size'] = f'{cam.intrinsics.width}x{cam.intrinsics.height}'
        if self.depth_pub is not None:
            info['output_subscribers'] = str(self._subscribers(cfg))
        status = DiagnosticStatus()
        status.level = bytes([level])
        status.name = f'{self.get_fully_qualified_name().lstrip("/")}: metric depth'
        status.message = message
        status.hardware_id = str(info.get('device', ''))
        status.values = [KeyValue(key=k, value=v) for k, v in values(report, info)]
        return status

    def publish_diagnostics(self) -> None:
        """Publish one DiagnosticArray on /diagnostics (the timer's callback)."""
        if self._diag_pub is None or not self.context.ok():
            return
        array = DiagnosticArray()
        array.header.stamp = self.get_clock().now().to_msg()
        array.status = [self.diagnostic_status()]
        self._diag_pub.publish(array)

    # ---------------------------------------------------------------- shutdown
    def destroy_node(self):
        """Stop and join the worker, free the model, then destroy the node."""
        cond = getattr(self, '_cond', None)  # absent when the constructor failed early
        if cond is not None:
            with cond:
                self._stop = True
                self._active = False
                cond.notify_all()
        worker = getattr(self, '_worker', None)
        if worker is not None and worker.is_alive() and threading.current_thread() is not worker:
            worker.join(timeout=JOIN_TIMEOUT_S)
        self.pipeline = None
        self.model = None
        return super().destroy_node()


def run(args=None) -> int:
    """
    Run the node until Ctrl-C, SIGTERM or shutdown; return the exit status.

    rclpy's signal handlers shut the context down on SIGINT and SIGTERM; spin
    then returns (ExternalShutdownException, or KeyboardInterrupt on older
    distros), the worker is joined and the node destroyed.
    """
    rclpy.init(args=args)
    node = None
    try:
        node = DepthNode()
        rclpy.spin(node)
    except ModelLoadError as exc:
        print(f'[depth_node] error: {exc}', file=sys.stderr)
        return 1
    except (KeyboardInterrupt, rclpy.executors.ExternalShutdownException):
        pass
    except Exception:  # noqa: B902 - a callback racing the shutdown is not an error
        if rclpy.ok():
            raise
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    return 0


def main(args=None) -> int:
    """
    Entry point of the ``depth_node`` executable: run, then end the process at once.

    The node has stopped cleanly when :func:`run` returns (worker joined, node
    destroyed, rclpy shut down); the interpreter's own teardown of torch and
    transformers would take another second or more, so the process ends here.
    """
    code = run(args)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == '__main__':
    sys.exit(main())
