# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
The rclpy node: parameters, topics, lifecycle, threading and logging over the ROS-free core.

Callbacks only store (:class:`~depth_node.pairing.FrameQueue`: the newest
image, camera_info by stamp); a worker thread takes the newest frame when it is
due, runs it through :class:`~depth_node.frame.FrameProcessor` and publishes
``depth/image``, ``depth/camera_info`` and ``points`` with the image's header,
``scan`` (with ``publish_scan``) in the camera's body frame, and
``depth/colored``, computed only while it has subscribers.
Older frames are dropped, so a slow GPU never builds a backlog, and no
inference runs while nobody subscribes to an output.

The node is a ROS 2 managed (lifecycle) node: configure loads the weights,
activate subscribes, deactivate stops inference, cleanup frees the model.
With ``autostart`` (default) it configures and activates itself at start.
Health goes to ``/diagnostics`` once a period.

Logging: every line goes through one of three methods, one per severity (rclpy
refuses two severities from one call site), and repeated lines are throttled
per kind of problem (:class:`~depth_node.diagnostics.LogThrottle`).
"""

import collections
import gc
import os
import sys
import threading
import time
from typing import Optional

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import SetParametersResult
import rclpy
from rclpy.exceptions import ParameterException
import rclpy.executors
from rclpy.lifecycle import LifecycleNode, TransitionCallbackReturn
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.qos_overriding_options import QoSOverridingOptions
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, LaserScan, PointCloud2
import torch

from . import messages
from .diagnostics import (assess, FrameStats, LogThrottle, network_input_text, problem_kind,
                          status_info, values)
from .errors import (BadCameraInfoError, BadImageError, DepthNodeError, InvalidDepthError,
                     ModelLoadError, NoCameraInfoError, ParameterValueError)
from .frame import first_frame_text, FrameProcessor, OutputOptions
from .memory import LargeFrameTrim, rss_bytes
from .models import load_model
from .pairing import CAMERA_INFO_HISTORY, FrameQueue, input_qos_policy, stamp_ns
from .params import check_parameter, check_parameters, descriptor, PARAMETERS
from .scan import scan_frame_id, unknown_frame_text
from .startup import explain_ros_args, in_terms, NODE_TERMS, ros_args_problem

#: Seconds between lines of the same kind (a problem, a stream change).
THROTTLE_S = 5.0
#: How long deactivate waits for the frame in progress.
DEACTIVATE_WAIT_S = 10.0
#: How long destroy_node (Ctrl-C, SIGTERM) waits for the frame in progress.
JOIN_TIMEOUT_S = 1.0
#: Seconds between checks of the input publishers' QoS (to match new or restarted ones).
QOS_CHECK_S = 1.0
#: Outputs: (attribute, message type, topic); scan_pub only with publish_scan. With no
#: subscriber on any of them no inference runs.
OUTPUTS = (('depth_pub', Image, 'depth/image'), ('info_pub', CameraInfo, 'depth/camera_info'),
           ('points_pub', PointCloud2, 'points'), ('scan_pub', LaserScan, 'scan'),
           ('colored_pub', Image, 'depth/colored'))
OUTPUT_TOPICS = tuple(topic for _, _, topic in OUTPUTS)

_SUCCESS = TransitionCallbackReturn.SUCCESS
_FAILURE = TransitionCallbackReturn.FAILURE
_CUDA_OOM = getattr(torch.cuda, 'OutOfMemoryError', None) or type('NoCudaOom', (Exception,), {})

#: Dropped-frame reasons of the core's typed errors.
_DROP_REASONS = ((NoCameraInfoError, 'no_camera_info'), (BadImageError, 'bad_image'),
                 (BadCameraInfoError, 'bad_camera_info'), (InvalidDepthError, 'bad_depth'))


class DepthNode(LifecycleNode):
    """Metric depth, camera info and point cloud from a monocular RGB camera."""

    def __init__(self, node_name: str = 'depth_node', **kwargs):
        super().__init__(node_name, **kwargs)
        try:
            self._cfg = self._declare_parameters()
        except DepthNodeError:
            self.destroy_node()
            raise
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self._silence_libraries()

        self.model = None
        self.processor: Optional[FrameProcessor] = None
        self.depth_pub = self.info_pub = self.points_pub = None
        self.scan_pub = self.colored_pub = None
        self._scan_frame_warned: Optional[str] = None
        self.image_sub = self.info_sub = None
        self._sub_qos = {}
        self._qos_timer = None
        self._state = 'unconfigured'
        self._autostarting = False
        self._load_error: Optional[str] = None
        self._stopping = False
        self._memory = LargeFrameTrim()
        self._largest_messages = 0

        self.frames = FrameStats()
        self.drops = self.frames.drops  # Counter of dropped frames by reason
        self.events = collections.Counter()  # stream changes (camera restarts) by kind
        self.last_latency_ms: Optional[float] = None
        self.last_timings: Optional[dict] = None
        self._throttle = LogThrottle(THROTTLE_S)
        self._first_frame_logged = False
        self._idle = False

        compressed = self._cfg['input_transport'] == 'compressed'
        self._image_type = CompressedImage if compressed else Image
        base = self.resolve_topic_name('image')
        self._image_topic = base.rstrip('/') + '/compressed' if compressed else base
        self._info_topic = self.resolve_topic_name('camera_info')
        self.queue = FrameQueue(self._cfg['rate'], info_topic=self._info_topic)
        self._types = messages.rclpy_types()

        self._diag_pub = None
        if self._cfg['diagnostics_period'] > 0.0:
            self._diag_pub = self.create_publisher(
                DiagnosticArray, '/diagnostics',
                QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10,
                           reliability=ReliabilityPolicy.RELIABLE))
            self.create_timer(self._cfg['diagnostics_period'], self.publish_diagnostics)

        if self._cfg['autostart']:
            self._autostart()
        else:
            self._info(f"autostart is false: waiting unconfigured; run 'ros2 lifecycle set "
                       f"{self.get_fully_qualified_name()} configure' (loads the model), then "
                       "'... activate'")
        self._worker = threading.Thread(target=self._work, name='depth_node_worker', daemon=True)
        self._worker.start()

    # ---------------------------------------------------------------- logging
    def _info(self, text: str) -> None:
        self.get_logger().info(text)

    def _warn(self, text: str) -> None:
        self.get_logger().warning(text)

    def _error(self, text: str) -> None:
        self.get_logger().error(text)

    def _throttled(self, key, level: str, text: str) -> None:
        """Log ``text`` unless a line of ``key`` went out less than THROTTLE_S ago."""
        suppressed = self._throttle.allow(key)
        if suppressed is None:
            return
        if suppressed:
            text += f' ({suppressed} more like this in the last {THROTTLE_S:g} s)'
        if level == 'warning':
            self._warn(text)
        else:
            self._info(text)

    def _log_events(self, events) -> None:
        for event in events:
            self.events[event.kind] += 1
            self._throttled(('event', event.kind), event.level, event.text)

    # ---------------------------------------------------------------- parameters
    def _declare_parameters(self) -> dict:
        """Declare every parameter, validate the values; raise ParameterValueError."""
        cfg = {}
        for spec in PARAMETERS:
            try:
                value = self.declare_parameter(spec.name, spec.default, descriptor(spec)).value
            except ParameterException as exc:
                # rclpy's own check (a declared range): its reason, as set_parameters says it.
                reason = str(exc.args[0] if exc.args else exc).split('Reason: ', 1)[-1]
                reason = reason[:-len(f': {spec.name}')] if reason.endswith(
                    f': {spec.name}') else reason
                raise ParameterValueError(f'invalid parameter {spec.name}: {reason}') from None
            cfg[spec.name] = check_parameter(spec.name, value)
            if spec.type == 'double' and isinstance(value, int):
                # A whole number for a double (-p rate:=5): store it as the double it is.
                self.set_parameters([Parameter(spec.name, Parameter.Type.DOUBLE, cfg[spec.name])])
        check_parameters(cfg)
        return cfg

    def _on_set_parameters(self, params) -> SetParametersResult:
        updates = {}
        try:
            for p in params:
                updates[p.name] = check_parameter(p.name, p.value)
            check_parameters({**self._cfg, **updates})
        except DepthNodeError as exc:
            return SetParametersResult(successful=False, reason=str(exc))
        self._cfg.update({k: v for k, v in updates.items() if k in self._cfg})
        if 'reference_focal' in updates and self.model is not None:
            self.model.reference_focal = updates['reference_focal']
        if 'mask_sky' in updates and hasattr(self.model, 'mask_sky'):
            self.model.mask_sky = updates['mask_sky']
        if 'rate' in updates:
            self.queue.rate = updates['rate']
        return SetParametersResult(successful=True)

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

    # ---------------------------------------------------------------- subscriptions
    def _input_qos(self, topic: str) -> Optional[QoSProfile]:
        """Return the QoS to subscribe ``topic`` with (pairing.input_qos_policy), or None."""
        offered = [(i.qos_profile.reliability == ReliabilityPolicy.BEST_EFFORT,
                    i.qos_profile.durability == DurabilityPolicy.TRANSIENT_LOCAL)
                   for i in self.get_publishers_info_by_topic(topic)]
        policy = input_qos_policy(self._cfg['input_qos'], offered)
        if policy is None:
            return None
        reliable, latched = policy
        return QoSProfile(
            history=HistoryPolicy.KEEP_LAST,
            depth=CAMERA_INFO_HISTORY if topic == self._info_topic else 1,
            reliability=ReliabilityPolicy.RELIABLE if reliable else ReliabilityPolicy.BEST_EFFORT,
            durability=DurabilityPolicy.TRANSIENT_LOCAL if latched else DurabilityPolicy.VOLATILE)

    def _check_subscriptions(self) -> None:
        """Subscribe to the inputs, or re-subscribe where the publishers' QoS changed."""
        if self._state != 'active' or not self.context.ok():
            return
        waiting = []
        for attr, topic, msg_type, callback in (
                ('image_sub', self._image_topic, self._image_type, self._on_image),
                ('info_sub', self._info_topic, CameraInfo, self._on_camera_info)):
            qos = self._input_qos(topic)
            if qos is None:
                if getattr(self, attr) is None:
                    waiting.append(topic)
                continue
            old = self._sub_qos.get(attr)
            if old is not None and (old.reliability, old.durability) == (
                    qos.reliability, qos.durability):
                continue
            if getattr(self, attr) is not None:
                self.destroy_subscription(getattr(self, attr))
            setattr(self, attr, self.create_subscription(msg_type, topic, callback, qos))
            self._sub_qos[attr] = qos
            self._info(f'subscribed to {topic} ({qos.reliability.name.lower()}, '
                       f'{qos.durability.name.lower()})')
        if waiting:
            self._throttled(('waiting_publisher',), 'info',
                            f"input_qos 'auto': waiting for a publisher on {', '.join(waiting)}")

    def _unsubscribe(self) -> None:
        if self._qos_timer is not None:
            self.destroy_timer(self._qos_timer)
            self._qos_timer = None
        for name in ('image_sub', 'info_sub'):
            sub = getattr(self, name)
            if sub is not None:
                self.destroy_subscription(sub)
                setattr(self, name, None)
        self._sub_qos = {}

    # ---------------------------------------------------------------- lifecycle
    def on_configure(self, state) -> TransitionCallbackReturn:
        """Load the weights and create the publishers; FAILURE if the model cannot load."""
        self._load_error = None
        cfg = self._cfg
        try:
            model = load_model(
                cfg['model'], cfg['device'], cfg['precision'], compile_net=cfg['compile'],
                reference_focal=cfg['reference_focal'], flip_tta=cfg['flip_tta'],
                mask_sky=cfg['mask_sky'], warmup=(640, 480))
        except ModelLoadError as exc:
            self._load_error = str(exc)
            if not self._autostarting:  # autostart: main() prints the one error line
                self._error(f'configure failed: {exc}')
            return _FAILURE
        if cfg['flip_tta'] and not model.supports_flip_tta:
            self._warn(f'flip_tta is only used by ZoeDepth; ignored for {model.family}')
        self.model = model
        self.processor = FrameProcessor(model)
        self._first_frame_logged = False
        out_qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                             reliability=ReliabilityPolicy.RELIABLE)
        for attr, msg_type, topic in OUTPUTS:
            if attr != 'scan_pub' or cfg['publish_scan']:
                setattr(self, attr, self.create_lifecycle_publisher(
                    msg_type, topic, out_qos,
                    qos_overriding_options=QoSOverridingOptions.with_default_policies()))
        self._state = 'inactive'
        self._info(
            f'ready: {model.describe()}, network input {network_input_text(model.processor)}, '
            f'input {self._image_topic} ({cfg["input_transport"]}'
            f'{", rectified" if cfg["input_rectified"] else ", undistorted here"})')
        return super().on_configure(state)

    def on_activate(self, state) -> TransitionCallbackReturn:
        """Subscribe to the camera and start publishing."""
        result = super().on_activate(state)  # enables the lifecycle publishers
        self._idle = False
        self._state = 'active'
        self.queue.open()
        self._check_subscriptions()
        self._qos_timer = self.create_timer(QOS_CHECK_S, self._check_subscriptions)
        if not self._autostarting:
            self._info('activated: processing frames')
        return result

    def on_deactivate(self, state) -> TransitionCallbackReturn:
        """Unsubscribe, drop the waiting frame and wait for the one in progress."""
        self._stop_processing()
        self._state = 'inactive'
        self._info('deactivated: no inference until activated again')
        return super().on_deactivate(state)

    def on_cleanup(self, state) -> TransitionCallbackReturn:
        """Destroy the publishers and free the model and its GPU memory."""
        self._release()
        self._state = 'unconfigured'
        self._info('cleaned up: model unloaded')
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
        if self.queue.close():
            self.frames.count_drop('idle')
        self.queue.wait_idle(DEACTIVATE_WAIT_S)

    def _release(self) -> None:
        for name, _, _ in OUTPUTS:
            pub = getattr(self, name)
            if pub is not None:
                self.destroy_lifecycle_publisher(pub)
                setattr(self, name, None)
        self._scan_frame_warned = None
        device = getattr(self.model, 'device', None)
        self.processor = None
        self.model = None
        self.queue.reset_infos()
        gc.collect()
        if device is not None and device.type == 'cuda':
            torch.cuda.empty_cache()

    @property
    def lifecycle_state(self) -> str:
        """Return the lifecycle state: unconfigured, inactive, active or finalized."""
        return self._state

    # ---------------------------------------------------------------- callbacks
    def _on_image(self, msg) -> None:
        accepted, superseded, event = self.queue.put_image(msg)
        if not accepted:
            return
        self.frames.count_received()
        if superseded:
            self.frames.count_drop('superseded')
        if event is not None:
            self._log_events([event])

    def _on_camera_info(self, msg: CameraInfo) -> None:
        event = self.queue.put_info(msg)
        if event is not None:
            self._log_events([event])

    # ---------------------------------------------------------------- worker
    def _work(self) -> None:
        while True:
            frame = self.queue.take()
            if frame is None:
                return
            size = len(frame.image.data)
            try:
                self._log_events(frame.events)
                self._process(frame.image, frame.info, dict(self._cfg))
            except _CUDA_OOM:
                gc.collect()
                torch.cuda.empty_cache()  # a no-op where CUDA was never initialised
                self._drop('cuda_oom', 'dropped frame: CUDA out of memory; freed the CUDA '
                           'cache and going on (try a smaller model, precision:=fp16 or a '
                           'smaller image)')
            except DepthNodeError as exc:
                reason = next((r for t, r in _DROP_REASONS if isinstance(exc, t)), 'error')
                self._drop(reason, self._drop_text(reason, exc))
            except Exception as exc:  # noqa: B902 - the worker must survive any frame
                if not self._stopping:
                    self._drop('error', f'dropped frame: {type(exc).__name__}: {exc}')
            finally:
                frame = None
                self.queue.done()
            self._memory.frame_done(size)

    def _drop_text(self, reason: str, exc: Exception) -> str:
        if reason == 'no_camera_info':
            return (f'no camera_info received yet on {self._info_topic}; waiting for it '
                    '(frames are dropped until it arrives)')
        return f'dropped frame: {exc}'

    def _drop(self, reason: str, text: str) -> None:
        self.frames.count_drop(reason)
        self._throttled(problem_kind(reason, text), 'warning', text)

    def _subscribers(self, cfg: dict) -> int:
        """Return how many subscriptions the outputs have (points only when published)."""
        pubs = [self.depth_pub, self.info_pub, self.scan_pub, self.colored_pub]
        if cfg['publish_points']:
            pubs.append(self.points_pub)
        return sum(p.get_subscription_count() for p in pubs if p is not None)

    def _colored_wanted(self) -> bool:
        """Whether depth/colored has subscribers (it is computed only then)."""
        pub = self.colored_pub
        return pub is not None and pub.get_subscription_count() > 0

    def _scan_frame(self, cfg: dict, image_frame_id: str) -> Optional[str]:
        """
        Return the frame of this frame's scan, or None: no scan (publish_scan off, or unknown).

        An image frame without an ``_optical`` suffix and no ``scan.frame_id`` is
        said once per image frame.
        """
        if self.scan_pub is None:
            return None
        frame = scan_frame_id(cfg['scan.frame_id'], image_frame_id)
        if frame is None and self._scan_frame_warned != image_frame_id:
            self._scan_frame_warned = image_frame_id
            self._warn(unknown_frame_text(image_frame_id))
        return frame

    def _process(self, msg, info: Optional[CameraInfo], cfg: dict) -> None:
        processor = self.processor
        if processor is None:
            return
        if self._subscribers(cfg) == 0:
            self.frames.count_drop('idle')
            if not self._idle:
                self._idle = True
                self._info(f"no subscriber on {', '.join(OUTPUT_TOPICS)}: idle, no inference "
                           'until one subscribes')
            return
        if self._idle:
            self._idle = False
            self._info('an output has a subscriber: resuming inference')
        t0 = time.perf_counter()
        opts = OutputOptions.from_parameters(cfg, colored=self._colored_wanted())
        scan_frame = self._scan_frame(cfg, str(msg.header.frame_id))
        opts.scan = scan_frame is not None
        out = processor.process(msg, info, opts)
        self._log_events(out.events)
        if not self._first_frame_logged:
            self._first_frame_logged = True
            self._info(first_frame_text(out.intrinsics, opts, self.model.reference_focal))
        self._publish(msg.header, out, t0, scan_frame)
        self._note_message_size(len(msg.data) + len(out.depth_data)
                                + (len(out.cloud.data) if out.cloud is not None else 0), out)

    def _note_message_size(self, size: int, out) -> None:
        """Say once per new maximum that the middleware keeps buffers of this size."""
        previous, self._largest_messages = self._largest_messages, max(
            self._largest_messages, size)
        if previous and size > 2 * previous:
            self._info(
                f'{out.intrinsics.width}x{out.intrinsics.height} frame: its messages take '
                f'{size / 1e6:.0f} MB; the middleware (Fast DDS) keeps its buffers at the '
                'largest message each topic carried, so the process stays that much larger '
                'after this frame; the node returns its own memory (README, Operations)')

    def _publish(self, header, out, t0: float, scan_frame: Optional[str] = None) -> None:
        """Publish the outputs of one frame, then count it (``t0``: start)."""
        types = self._types
        self.depth_pub.publish(messages.depth_image(types, header, out))
        self.info_pub.publish(messages.camera_info(types, header, out.camera_info))
        if out.cloud is not None:
            self.points_pub.publish(messages.point_cloud(types, header, out.cloud))
        if out.scan is not None and scan_frame is not None and self.scan_pub is not None:
            scan_header = types.Header(stamp=header.stamp, frame_id=scan_frame)
            self.scan_pub.publish(messages.laser_scan(types, scan_header, out.scan))
        if out.colored is not None and self.colored_pub is not None:
            self.colored_pub.publish(messages.colored_image(types, header, out.colored))
        end_to_end_ms = (self.get_clock().now().nanoseconds - stamp_ns(header)) * 1e-6
        self.frames.count_published(out.model_ms, end_to_end_ms, time.monotonic())
        self.last_latency_ms = (time.perf_counter() - t0) * 1000.0
        self.last_timings = out.timings

    # ---------------------------------------------------------------- diagnostics
    def diagnostic_status(self) -> DiagnosticStatus:
        """Return the node's DiagnosticStatus for the period since the previous call."""
        report = self.frames.report(time.monotonic())
        level, message = assess(self._state, report, self._image_topic, self._info_topic)
        processor = self.processor
        cam = processor.cameras.camera if processor is not None else None
        info = status_info(
            self._state, self._cfg, self.model,
            input_size=f'{cam.intrinsics.width}x{cam.intrinsics.height}' if cam else None,
            subscribers=self._subscribers(self._cfg) if self.depth_pub is not None else None,
            rss=rss_bytes())
        return DiagnosticStatus(
            level=bytes([level]), message=message, hardware_id=str(info.get('device', '')),
            name=f'{self.get_fully_qualified_name().lstrip("/")}: metric depth',
            values=[KeyValue(key=k, value=v) for k, v in values(report, info)])

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
        self._stopping = True
        queue = getattr(self, 'queue', None)  # absent when the constructor failed early
        if queue is not None:
            queue.stop()
        worker = getattr(self, '_worker', None)
        if worker is not None and worker.is_alive() and threading.current_thread() is not worker:
            worker.join(timeout=JOIN_TIMEOUT_S)
        self.processor = None
        self.model = None
        return super().destroy_node()


def run(args=None) -> int:
    """
    Run the node until Ctrl-C, SIGTERM or shutdown; return the exit status.

    rclpy's signal handlers shut the context down on SIGINT and SIGTERM; spin
    then returns (ExternalShutdownException, or KeyboardInterrupt on older
    distros), the worker is joined and the node destroyed. ROS arguments that
    rcl refuses, and a model or parameter that cannot be used, end the process
    with one ``error:`` line (in the command line's terms: ``-p model:=...``)
    and status 2.
    """
    argv = list(sys.argv if args is None else args)
    problem = ros_args_problem(argv)  # before rcl logs a line of its own and raises
    if problem is not None:
        print(f'[depth_node] error: {problem}', file=sys.stderr)
        return 2
    try:
        rclpy.init(args=args)
    except Exception as exc:  # noqa: B902 - rcl's RCLError, UnknownROSArgsError (per distro)
        print(f'[depth_node] error: {explain_ros_args(argv, str(exc))}', file=sys.stderr)
        return 2
    node = None
    try:
        node = DepthNode()
        rclpy.spin(node)
    except DepthNodeError as exc:
        print(f'[depth_node] error: {in_terms(str(exc), NODE_TERMS)}', file=sys.stderr)
        return 2
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
