# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
One camera of the node: its subscriptions, queue, frame processor, publishers and health.

The rclpy layer (STYLE.md, section 9). A :class:`CameraPipeline` lives under
its camera's relative namespace: ``<camera>/image`` (or ``image/compressed``)
and ``<camera>/camera_info`` in, ``<camera>/depth/image``, ``depth/camera_info``,
``points``, ``scan`` and ``depth/colored`` out; the camera of a node without
``cameras`` has no prefix (``image`` in, ``depth/image`` out). The node hosts
one pipeline per camera and one worker that runs the due frames of all of
them through the one model (:class:`~depth_node.scheduler.BatchScheduler`,
:func:`~depth_node.frame.process_batch`); everything here is per camera: the
parameter values (the global ones with the camera's own on top), the stamp
pairing, the camera cache, the frame accounting and diagnostics, and log
throttling. Log lines of a named camera start with ``[<camera>]``.
"""

import collections
import time
from typing import Callable, Dict, List, Optional

from diagnostic_msgs.msg import DiagnosticStatus, KeyValue
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.qos_overriding_options import QoSOverridingOptions
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, LaserScan, PointCloud2

from . import messages
from .anchor import ANCHOR_TOPICS, AnchorBuffer, needs_transform
from .buffers import MessageBuffers
from .compressed_depth import CompressedDepthEncoder, CompressedDepthOptions, encode_jpeg
from .diagnostics import assess, FrameStats, LogThrottle, problem_kind, status_info, values
from .errors import (BadCameraInfoError, BadImageError, DepthNodeError, InvalidDepthError,
                     NoCameraInfoError)
from .frame import first_frame_text, FrameProcessor, OutputOptions, PreparedFrame
from .memory import rss_bytes
from .pairing import CAMERA_INFO_HISTORY, input_qos_policy, stamp_ns
from .params import camera_config
from .scan import scan_frame_id, unknown_frame_text

#: Seconds between lines of the same kind (a problem, a stream change), per camera.
THROTTLE_S = 5.0
#: Outputs: (attribute, message type, topic under the camera); scan_pub only with
#: publish_scan. With no subscriber on any of them the camera runs no inference. The depth
#: image goes on depth/image in 32FC1 and on depth/image_raw in 16UC1 (REP 118,
#: messages.depth_image_topic), its compressedDepth below it; the compressed ones
#: (image_transport's names) are encoded only while subscribed.
OUTPUTS = (('depth_pub', Image, 'depth/image'), ('depth_raw_pub', Image, 'depth/image_raw'),
           ('info_pub', CameraInfo, 'depth/camera_info'),
           ('points_pub', PointCloud2, 'points'), ('scan_pub', LaserScan, 'scan'),
           ('colored_pub', Image, 'depth/colored'),
           ('compressed_depth_pub', CompressedImage, 'depth/image/compressedDepth'),
           ('compressed_depth_raw_pub', CompressedImage, 'depth/image_raw/compressedDepth'),
           ('compressed_colored_pub', CompressedImage, 'depth/colored/compressed'))

#: Dropped-frame reasons of the core's typed errors.
_DROP_REASONS = ((NoCameraInfoError, 'no_camera_info'), (BadImageError, 'bad_image'),
                 (BadCameraInfoError, 'bad_camera_info'), (InvalidDepthError, 'bad_depth'))


class CameraPipeline:
    """Everything of one camera between its topics and the shared model."""

    def __init__(self, node, name: str, cfg: dict, own: Dict[str, object], scheduler):
        """
        Set the camera up on ``node`` (subscribed and publishing only after configure/activate).

        ``name``: the camera's name ('' for the node without ``cameras``);
        ``cfg``: the global parameter values; ``own``: the camera's own ones.
        """
        self.node = node
        self.name = name
        self.prefix = f'{name}/' if name else ''
        self.own = dict(own)
        self.cfg = camera_config(cfg, self.own)
        compressed = self.cfg['input_transport'] == 'compressed'
        self.image_type = CompressedImage if compressed else Image
        base = node.resolve_topic_name(self.prefix + 'image')
        self.image_topic = base.rstrip('/') + '/compressed' if compressed else base
        self.info_topic = node.resolve_topic_name(self.prefix + 'camera_info')
        self.queue = scheduler.queue(name, rate=self.cfg['rate'], info_topic=self.info_topic)
        self.processor: Optional[FrameProcessor] = None
        self.depth_pub = self.depth_raw_pub = self.info_pub = self.points_pub = None
        self.scan_pub = self.colored_pub = None
        self.compressed_depth_pub = self.compressed_depth_raw_pub = None
        self.compressed_colored_pub = None
        self.depth_encoder = CompressedDepthEncoder(CompressedDepthOptions.from_parameters(
            self.cfg))
        self.image_sub = None
        #: camera_info subscriptions by durability (a latched and a volatile publisher of
        #: the same topic need one each).
        self.info_subs: Dict[str, object] = {}
        self._sub_qos: Dict[str, tuple] = {}
        #: Anchors to a range sensor (``anchor.depth``, ``anchor.points``), paired by stamp.
        self.anchors = {kind: AnchorBuffer(kind, self.cfg['anchor.stamp_tolerance'])
                        for kind in ANCHOR_TOPICS if self.cfg[f'anchor.{kind}']}
        self.anchor_subs: Dict[str, object] = {}
        self.frames = FrameStats()
        self.drops = self.frames.drops  # Counter of dropped frames by reason
        self.events = collections.Counter()  # stream changes (camera restarts) by kind
        self.last_latency_ms: Optional[float] = None
        self.last_timings: Optional[dict] = None
        self._throttle = LogThrottle(THROTTLE_S)
        self._scan_frame_warned: Optional[str] = None
        self._first_frame_logged = False
        self._idle = False
        self._largest_messages = 0

    # ---------------------------------------------------------------- logging
    def _text(self, text: str) -> str:
        return f'[{self.name}] {text}' if self.name else text

    def info(self, text: str) -> None:
        """Log an info line of this camera."""
        self.node._info(self._text(text))

    def warn(self, text: str) -> None:
        """Log a warning of this camera."""
        self.node._warn(self._text(text))

    def throttled(self, key, level: str, text: str) -> None:
        """Log ``text`` unless a line of ``key`` went out less than THROTTLE_S ago."""
        suppressed = self._throttle.allow(key)
        if suppressed is None:
            return
        if suppressed:
            text += f' ({suppressed} more like this in the last {THROTTLE_S:g} s)'
        if level == 'warning':
            self.warn(text)
        else:
            self.info(text)

    def log_events(self, events) -> None:
        """Count and log (throttled per kind) stream events."""
        for event in events:
            self.events[event.kind] += 1
            self.throttled(('event', event.kind), event.level, event.text)

    # ---------------------------------------------------------------- parameters
    @property
    def label(self) -> str:
        """Return how the camera is named in node-wide lines (its name, or its image topic)."""
        return self.name or self.image_topic

    def update(self, cfg: dict, own: Dict[str, object]) -> None:
        """Take new parameter values (the global ones, the camera's own ones)."""
        self.own = dict(own)
        self.cfg = camera_config(cfg, self.own)
        self.depth_encoder.options = CompressedDepthOptions.from_parameters(self.cfg)
        for buffer in self.anchors.values():
            buffer.tolerance_s = self.cfg['anchor.stamp_tolerance']
        if self.queue.rate != self.cfg['rate']:
            self.queue.rate = self.cfg['rate']

    # ---------------------------------------------------------------- lifecycle
    def configure(self, model, buffers: Optional[MessageBuffers] = None) -> None:
        """
        Make the frame processor and the publishers (lifecycle configure).

        ``buffers``: the node's message buffers, shared by its cameras.
        """
        self.processor = FrameProcessor(model, buffers=buffers)
        self._first_frame_logged = False
        for attr, msg_type, topic in OUTPUTS:
            if attr != 'scan_pub' or self.cfg['publish_scan']:
                # One profile per publisher: rclpy's QoS overrides change it in place.
                qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                                 reliability=ReliabilityPolicy.RELIABLE)
                setattr(self, attr, self.node.create_lifecycle_publisher(
                    msg_type, self.prefix + topic, qos,
                    qos_overriding_options=QoSOverridingOptions.with_default_policies()))

    def activate(self) -> None:
        """Accept frames and subscribe to the camera (lifecycle activate)."""
        self._idle = False
        self.queue.open()
        self.check_subscriptions()

    def stop(self) -> bool:
        """Unsubscribe and drop the waiting frame; return whether one was dropped."""
        self.unsubscribe()
        dropped = self.queue.close()
        if dropped:
            self.frames.count_drop('idle')
        return dropped

    def release(self) -> None:
        """Destroy the publishers and forget the processor and camera_infos (cleanup)."""
        for attr, _, _ in OUTPUTS:
            pub = getattr(self, attr)
            if pub is not None:
                self.node.destroy_lifecycle_publisher(pub)
                setattr(self, attr, None)
        self._scan_frame_warned = None
        self.processor = None
        self.queue.reset_infos()
        for buffer in self.anchors.values():
            buffer.clear()

    # ---------------------------------------------------------------- subscriptions
    def _offered(self, topic: str) -> List[tuple]:
        return [(i.qos_profile.reliability == ReliabilityPolicy.BEST_EFFORT,
                 i.qos_profile.durability == DurabilityPolicy.TRANSIENT_LOCAL)
                for i in self.node.get_publishers_info_by_topic(topic)]

    def _qos(self, reliable: bool, latched: bool, depth: int) -> QoSProfile:
        return QoSProfile(
            history=HistoryPolicy.KEEP_LAST, depth=depth,
            reliability=ReliabilityPolicy.RELIABLE if reliable else ReliabilityPolicy.BEST_EFFORT,
            durability=DurabilityPolicy.TRANSIENT_LOCAL if latched else DurabilityPolicy.VOLATILE)

    def check_subscriptions(self) -> List[str]:
        """
        Subscribe to the inputs, or re-subscribe where the publishers' QoS changed.

        Return the topics still waiting for a publisher (``input_qos: auto``).
        The image: transient local only when every publisher offers it. The
        camera_info: one subscription per durability its publishers offer, so a
        driver's latched camera_info is received beside a volatile publisher of
        the same topic (camera_infos are kept by stamp: receiving one twice is harmless).
        """
        waiting = []
        mode = self.cfg['input_qos']
        offered = self._offered(self.image_topic)
        policy = input_qos_policy(mode, offered)
        if policy is None:
            if self.image_sub is None:
                waiting.append(self.image_topic)
        elif self._sub_qos.get('image') != policy:
            if self.image_sub is not None:
                self.node.destroy_subscription(self.image_sub)
            qos = self._qos(policy[0], policy[1], 1)
            self.image_sub = self.node.create_subscription(
                self.image_type, self.image_topic, self._on_image, qos)
            self._sub_qos['image'] = policy
            self._said_subscribed(self.image_topic, qos)
        self._check_anchor_subscriptions(mode)
        offered = self._offered(self.info_topic)
        policy = input_qos_policy(mode, offered)
        if policy is None:
            if not self.info_subs:
                waiting.append(self.info_topic)
            return waiting
        reliable = policy[0]
        durabilities = {'transient_local' if latched else 'volatile' for _, latched in offered}
        if not durabilities:
            durabilities = {'volatile'}
        for durability in ('volatile', 'transient_local'):
            wanted = (reliable, durability) if durability in durabilities else None
            if self._sub_qos.get(durability) == wanted:
                continue
            sub = self.info_subs.pop(durability, None)
            if sub is not None:
                self.node.destroy_subscription(sub)
            self._sub_qos[durability] = wanted
            if wanted is None:
                continue
            qos = self._qos(reliable, durability == 'transient_local', CAMERA_INFO_HISTORY)
            self.info_subs[durability] = self.node.create_subscription(
                CameraInfo, self.info_topic, self._on_camera_info, qos)
            self._said_subscribed(self.info_topic, qos)
        return waiting

    def _check_anchor_subscriptions(self, mode: str) -> None:
        """Subscribe the enabled anchor topics (keep the last few: paired by stamp)."""
        for kind in self.anchors:
            topic = self.node.resolve_topic_name(self.prefix + ANCHOR_TOPICS[kind])
            policy = input_qos_policy(mode, self._offered(topic))
            if policy is None or self._sub_qos.get(kind) == policy:
                continue
            sub = self.anchor_subs.pop(kind, None)
            if sub is not None:
                self.node.destroy_subscription(sub)
            qos = self._qos(policy[0], policy[1], self.anchors[kind].history)
            self.anchor_subs[kind] = self.node.create_subscription(
                PointCloud2 if kind == 'points' else Image, topic, self.anchors[kind].put, qos)
            self._sub_qos[kind] = policy
            self._said_subscribed(topic, qos)

    def _said_subscribed(self, topic: str, qos: QoSProfile) -> None:
        self.node._info(f'subscribed to {topic} ({qos.reliability.name.lower()}, '
                        f'{qos.durability.name.lower()})')

    @property
    def subscribed(self) -> bool:
        """Whether the image and camera_info subscriptions exist."""
        return self.image_sub is not None and bool(self.info_subs)

    def unsubscribe(self) -> None:
        """Destroy the input subscriptions."""
        if self.image_sub is not None:
            self.node.destroy_subscription(self.image_sub)
            self.image_sub = None
        for sub in list(self.info_subs.values()) + list(self.anchor_subs.values()):
            self.node.destroy_subscription(sub)
        self.info_subs = {}
        self.anchor_subs = {}
        self._sub_qos = {}

    # ---------------------------------------------------------------- callbacks
    def _on_image(self, msg) -> None:
        accepted, superseded, event = self.queue.put_image(msg)
        if not accepted:
            return
        self.frames.count_received()
        if superseded:
            self.frames.count_drop('superseded')
        if event is not None:
            self.log_events([event])

    def _on_camera_info(self, msg: CameraInfo) -> None:
        event = self.queue.put_info(msg)
        if event is not None:
            self.log_events([event])

    # ---------------------------------------------------------------- frames
    def subscriber_count(self) -> int:
        """Return how many subscriptions the outputs have (points only when published)."""
        pubs = [self.depth_pub, self.depth_raw_pub, self.info_pub, self.scan_pub,
                self.colored_pub, self.compressed_depth_pub, self.compressed_depth_raw_pub,
                self.compressed_colored_pub]
        if self.cfg['publish_points']:
            pubs.append(self.points_pub)
        return sum(p.get_subscription_count() for p in pubs if p is not None)

    def _colored_wanted(self) -> bool:
        return _subscribed(self.colored_pub) or _subscribed(self.compressed_colored_pub)

    def _scan_frame(self, image_frame_id: str) -> Optional[str]:
        """
        Return the frame of this frame's scan, or None: no scan (publish_scan off, or unknown).

        An image frame without an ``_optical`` suffix and no ``scan.frame_id`` is
        said once per image frame.
        """
        if self.scan_pub is None:
            return None
        frame = scan_frame_id(self.cfg['scan.frame_id'], image_frame_id)
        if frame is None and self._scan_frame_warned != image_frame_id:
            self._scan_frame_warned = image_frame_id
            self.warn(unknown_frame_text(image_frame_id))
        return frame

    def prepare(self, frame) -> Optional['Pending']:
        """
        Return the frame ready for the model, or None (nobody listens, or it was dropped).

        Logs the frame's stream events (also when it is dropped) and counts drops.
        """
        self.log_events(frame.events)
        processor = self.processor
        if processor is None:
            return None
        if self.subscriber_count() == 0:
            self.frames.count_drop('idle')
            if not self._idle:
                self._idle = True
                topics = ', '.join(self.prefix + topic for _, _, topic in OUTPUTS)
                self.info(f'no subscriber on {topics}: idle, no inference until one subscribes')
            return None
        if self._idle:
            self._idle = False
            self.info('an output has a subscriber: resuming inference')
        t0 = time.perf_counter()
        opts = OutputOptions.from_parameters(self.cfg, colored=self._colored_wanted())
        scan_frame = self._scan_frame(str(frame.image.header.frame_id))
        opts.scan = scan_frame is not None
        try:
            prepared = processor.prepare(frame.image, frame.info, opts,
                                         anchor=self._anchors_for(frame.image.header))
        except Exception as exc:  # noqa: B902 - dropped with a line, the worker goes on
            self.fail(exc)
            return None
        return Pending(frame.image, prepared, scan_frame, t0, len(frame.image.data))

    def _anchors_for(self, header) -> list:
        """
        Return the anchors paired with an image (by stamp), each cloud in the image's frame.

        A cloud in another frame is transformed with tf2 at the cloud's stamp where
        tf2_ros is importable (the node's optional transform buffer); without it,
        or when the lookup fails, the frame path says so in one line.
        """
        anchors = []
        image_frame = str(header.frame_id)
        for buffer in self.anchors.values():
            anchor, event = buffer.match(stamp_ns(header))
            if event is not None:
                self.log_events([event])
            if anchor is None:
                continue
            if needs_transform(anchor, image_frame):
                anchor = self.node.transform_anchor(anchor, image_frame)
            anchors.append(anchor)
        return anchors

    def fail(self, exc: BaseException, cuda_oom: Optional[type] = None) -> None:
        """Drop the frame that raised ``exc``, with its stream events and one line."""
        self.log_events(getattr(exc, 'events', ()))
        if cuda_oom is not None and isinstance(exc, cuda_oom):
            self.drop('cuda_oom', 'dropped frame: CUDA out of memory; freed the CUDA cache and '
                      'going on (try a smaller model, precision:=fp16 or a smaller image)')
        elif isinstance(exc, DepthNodeError):
            reason = next((r for t, r in _DROP_REASONS if isinstance(exc, t)), 'error')
            self.drop(reason, self._drop_text(reason, exc))
        elif not self.node.stopping:
            self.drop('error', f'dropped frame: {type(exc).__name__}: {exc}')

    def _drop_text(self, reason: str, exc: BaseException) -> str:
        if reason == 'no_camera_info':
            return (f'no camera_info received yet on {self.info_topic}; waiting for it '
                    '(frames are dropped until it arrives)')
        return f'dropped frame: {exc}'

    def drop(self, reason: str, text: str) -> None:
        """Count a dropped frame and log ``text`` (throttled per kind)."""
        self.frames.count_drop(reason)
        self.throttled(problem_kind(reason, text), 'warning', text)

    def publish(self, pending: 'Pending', out) -> None:
        """Publish the outputs of one frame with the image's header, then count it."""
        self.log_events(out.events)
        header = pending.image.header
        if not self._first_frame_logged:
            self._first_frame_logged = True
            self.info(first_frame_text(out.intrinsics, pending.prepared.opts,
                                       self.reference_focal()))
        types = self.node.message_types
        raw = out.depth_encoding == '16UC1'  # REP 118: depth/image_raw
        (self.depth_raw_pub if raw else self.depth_pub).publish(
            messages.depth_image(types, header, out))
        self.info_pub.publish(messages.camera_info(types, header, out.camera_info))
        if out.cloud is not None:
            self.points_pub.publish(messages.point_cloud(types, header, out.cloud))
        if out.scan is not None and pending.scan_frame is not None and self.scan_pub is not None:
            scan_header = types.Header(stamp=header.stamp, frame_id=pending.scan_frame)
            self.scan_pub.publish(messages.laser_scan(types, scan_header, out.scan))
        if out.colored is not None:
            if _subscribed(self.colored_pub):
                self.colored_pub.publish(messages.colored_image(types, header, out.colored))
            if _subscribed(self.compressed_colored_pub):
                payload = encode_jpeg(out.colored, self.cfg['depth.colored.compressed.'
                                                            'jpeg_quality'])
                self.compressed_colored_pub.publish(
                    messages.compressed_image(types, header, payload))
        compressed = self.compressed_depth_raw_pub if raw else self.compressed_depth_pub
        if _subscribed(compressed):
            compressed.publish(messages.compressed_image(
                types, header, self.depth_encoder.encode_output(out)))
        end_to_end_ms = (self.node.get_clock().now().nanoseconds - stamp_ns(header)) * 1e-6
        self.frames.count_published(out.model_ms, end_to_end_ms, time.monotonic())
        self.last_latency_ms = (time.perf_counter() - pending.t0) * 1000.0
        self.last_timings = out.timings
        self._note_message_size(pending.size + len(out.depth_data)
                                + (len(out.cloud.data) if out.cloud is not None else 0), out)

    def reference_focal(self) -> Optional[float]:
        """Return this camera's reference focal: its parameter, else the checkpoint's."""
        model = self.processor.model if self.processor is not None else None
        if self.cfg['reference_focal'] > 0.0:
            return self.cfg['reference_focal']
        return getattr(model, 'default_reference_focal', None)

    def _note_message_size(self, size: int, out) -> None:
        """Say once per new maximum that the middleware keeps buffers of this size."""
        previous, self._largest_messages = self._largest_messages, max(
            self._largest_messages, size)
        if previous and size > 2 * previous:
            self.info(
                f'{out.intrinsics.width}x{out.intrinsics.height} frame: its messages take '
                f'{size / 1e6:.0f} MB; the middleware (Fast DDS) keeps its buffers at the '
                'largest message each topic carried, so the process stays that much larger '
                'after this frame; the node returns its own memory (doc/operations.md)')

    # ---------------------------------------------------------------- diagnostics
    def diagnostic_status(self, state: str, model, name: str,
                          rss: Callable[[], int] = rss_bytes) -> DiagnosticStatus:
        """Return this camera's DiagnosticStatus for the period since the previous call."""
        report = self.frames.report(time.monotonic())
        level, message = assess(state, report, self.image_topic, self.info_topic)
        processor = self.processor
        cam = processor.cameras.camera if processor is not None else None
        info = status_info(
            state, self.cfg, model,
            input_size=f'{cam.intrinsics.width}x{cam.intrinsics.height}' if cam else None,
            subscribers=self.subscriber_count() if self.depth_pub is not None else None,
            rss=rss())
        if model is not None:
            ref = self.reference_focal()
            info['reference_focal_px'] = f'{ref:.1f}' if ref else 'camera fx'
        if self.last_timings is not None:
            info['batch_size'] = str(int(self.last_timings.get('batch', 1)))
        pairs = values(report, info)
        if processor is not None and self.anchors:
            pairs += processor.anchoring.diagnostics()
        if processor is not None and self.cfg['temporal.enabled']:
            pairs += processor.temporal.diagnostics()
        return DiagnosticStatus(
            level=bytes([level]), message=message, hardware_id=str(info.get('device', '')),
            name=name, values=[KeyValue(key=k, value=v) for k, v in pairs])


def _subscribed(pub) -> bool:
    return pub is not None and pub.get_subscription_count() > 0


class Pending:
    """A frame of one camera on its way through the model: the image and its preparation."""

    __slots__ = ('image', 'prepared', 'scan_frame', 't0', 'size')

    def __init__(self, image, prepared: PreparedFrame, scan_frame: Optional[str], t0: float,
                 size: int):
        self.image = image
        self.prepared = prepared
        self.scan_frame = scan_frame
        self.t0 = t0
        self.size = size
