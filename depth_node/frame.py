# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
The one frame path: an image and its camera_info in, depth and message payloads out.

Without rclpy. :class:`FrameProcessor` is what the node, ``depth_node_run``,
``depth_node_eval`` and ``depth_node_bench`` all call, so they cannot disagree.
One processor serves one camera (its camera cache and stream state); several
processors may share one model. A frame goes through three steps:

1. :meth:`FrameProcessor.prepare`: decode (raw ``sensor_msgs/Image`` fields or a
   ``CompressedImage``), the camera of the camera_info, cached per calibration
   (intrinsics, size check, undistortion maps when ``rectify``), with change
   events, and undistortion; the result is a :class:`PreparedFrame` holding the
   model's :class:`~depth_node.outputs.PredictRequest` (focal scaling with
   the camera's focal, or none when the model estimates its own camera: Depth
   Pro's field of view, used when the camera_info is unusable or not used for
   the scale; that camera is then also the camera of the cloud and of
   depth/camera_info);
2. the model, for one frame or for a batch of frames of several cameras
   (:func:`process_batch`: one network pass per group of equal network input,
   :meth:`~depth_node.models.base.DepthModel.predict_many`);
3. :meth:`FrameProcessor.finish`: the outputs, built on the host
   (:class:`~depth_node.payloads.HostPayloads`) or, on CUDA, on the device
   (:class:`~depth_node.device_payloads.DevicePayloads`).

:meth:`FrameProcessor.process` is the three in a row. Errors are typed
(:mod:`depth_node.errors`); the caller drops the frame.
"""

import contextlib
from dataclasses import dataclass
import time
from typing import Iterator, List, Optional, Sequence, Tuple

import numpy as np

from .anchor import AnchorInput, anchors_of, AnchorStage
from .buffers import MessageBuffers
from .camera import Camera, CameraCache, CameraInfoFields, pinhole_camera_info
from .compressed import decode_compressed
from .conversions import image_to_array
from .correction import Correction
from .device_payloads import DeviceDepth, DevicePayloads
from .errors import BadCameraInfoError, BadImageError, NoCameraInfoError
from .geometry import check_camera, check_image_size, Intrinsics
from .outputs import FrameOutput, MODEL_STAGES, OutputOptions, PredictRequest
from .payloads import HostPayloads
from .stream import Event, StreamMonitor
from .temporal import TemporalStabilizer
from .timing import stage

__all__ = ['FrameOutput', 'FrameProcessor', 'MODEL_STAGES', 'OutputOptions', 'PreparedFrame',
           'process_batch']

#: Smallest image side and largest aspect ratio a frame may have: a depth network resizes
#: the image to a few hundred pixels a side, which a 3 x 10000 strip cannot give.
MIN_SIDE = 16
MAX_ASPECT = 10.0


@dataclass
class Decoded:
    """A decoded image: ``H x W x C`` uint8 pixels, the channels of red, green, blue."""

    pixels: np.ndarray
    rgb_order: Sequence[int]
    encoding: str


def decode_image(msg) -> Decoded:
    """Decode an Image or a CompressedImage (anything with a ``format`` field) message."""
    if hasattr(msg, 'format'):
        pixels, order, encoding = decode_compressed(msg)
        return Decoded(pixels, order, encoding)
    pixels, order = image_to_array(msg)
    return Decoded(pixels, order, str(msg.encoding))


def check_image_shape(width: int, height: int) -> None:
    """Raise BadImageError for an image too small or too elongated for a depth network."""
    if min(width, height) < MIN_SIDE or max(width, height) > MAX_ASPECT * min(width, height):
        raise BadImageError(
            f'image of {width}x{height} pixels cannot be run through a depth network: sides '
            f'must be at least {MIN_SIDE} px and the aspect ratio at most {MAX_ASPECT:g}:1')


def describe_camera(intr: Intrinsics) -> str:
    """Return a short text of intrinsics for logs."""
    return (f'{intr.width}x{intr.height} fx {intr.fx:.1f} fy {intr.fy:.1f} '
            f'cx {intr.cx:.1f} cy {intr.cy:.1f}')


def first_frame_text(intr: Intrinsics, opts: 'OutputOptions',
                     reference_focal: Optional[float]) -> str:
    """Return the log line of the first frame served: the camera and how it is used."""
    return (f'first frame {describe_camera(intr)}, focal scaling '
            f'{"on" if opts.focal_scaling else "off"}'
            + (f', reference focal {reference_focal:.1f} px' if reference_focal else '')
            + (', undistorted here' if opts.rectify else '')
            + (f', outputs at 1/{opts.decimation}' if opts.decimation > 1 else ''))


@dataclass
class PreparedFrame:
    """A frame ready for the model: its (rectified) pixels, camera and request."""

    pixels: np.ndarray
    rgb_order: Sequence[int]
    opts: OutputOptions
    timings: dict
    events: List[Event]
    #: The camera of the camera_info; None: the model estimates its own (``reason``).
    camera: Optional[Camera]
    request: PredictRequest
    #: Why the camera_info is not used (only when ``camera`` is None).
    reason: str = ''
    #: The image's frame_id and stamp (ns; None: none, e.g. a single image).
    frame_id: str = ''
    stamp_ns: Optional[int] = None
    #: The anchors paired with this image (``anchor/depth``, ``anchor/points``).
    anchors: Tuple[AnchorInput, ...] = ()

    @property
    def width(self) -> int:
        """Return the image width in pixels."""
        return int(self.pixels.shape[1])

    @property
    def height(self) -> int:
        """Return the image height in pixels."""
        return int(self.pixels.shape[0])


class FrameProcessor:
    """Runs frames of one camera through a :class:`~depth_node.models.DepthModel`."""

    def __init__(self, model, *, device_payloads: Optional[bool] = None,
                 buffers: Optional[MessageBuffers] = None):
        self.model = model
        self.cameras = CameraCache()
        self.monitor = StreamMonitor()
        #: ``buffers``: message buffers shared with other cameras' processors (default: own).
        self.payloads = HostPayloads(model.family, buffers)
        #: Build the payloads on the model's device (default: when it is a CUDA device).
        self.device_payloads = (_model_on_cuda(model) if device_payloads is None
                                else bool(device_payloads))
        self._device = DevicePayloads(self.payloads)
        #: Temporal stabilisation of the scale (``temporal.*``), this camera's stream.
        self.temporal = TemporalStabilizer()
        #: Makes each frame's ``timings`` (depth_node_bench sets a timing.StageTimes).
        self.new_timings = dict
        #: Whether the latest frame used the model's own camera estimate.
        self.camera_estimated = False
        #: Anchoring to a range sensor (depth_node.anchor): this camera's fit and hold state.
        self.anchoring = AnchorStage()

    @property
    def clouds(self):
        """Return the host cloud builder (its rays are kept while the camera stays)."""
        return self.payloads.clouds

    def reset(self) -> None:
        """Forget cameras and stream state (lifecycle cleanup, a new input)."""
        self.cameras.clear()
        self.monitor = StreamMonitor()
        self.camera_estimated = False
        self.anchoring.reset()
        self.temporal.clear()

    # ------------------------------------------------------------------ entry points
    def process(self, msg, info, opts: OutputOptions, *, stamp_ns: Optional[int] = None,
                anchor=None) -> FrameOutput:
        """
        Process one Image/CompressedImage message with its camera_info (None: none yet).

        ``anchor``: the anchor message(s) paired with the image
        (:class:`~depth_node.anchor.AnchorInput`, several or None); ``stamp_ns``
        defaults to the message's stamp.
        """
        return self.run(self.prepare(msg, info, opts, stamp_ns=stamp_ns, anchor=anchor))

    def process_pixels(self, pixels: np.ndarray, rgb_order: Sequence[int], info,
                       opts: OutputOptions, *, encoding: str = 'rgb8', frame_id: str = '',
                       timings: Optional[dict] = None, stamp_ns: Optional[int] = None,
                       anchor=None) -> FrameOutput:
        """Process one decoded image (``H x W x C`` uint8) with its camera_info."""
        return self.run(self.prepare_pixels(pixels, rgb_order, info, opts, encoding=encoding,
                                            frame_id=frame_id, timings=timings,
                                            stamp_ns=stamp_ns, anchor=anchor))

    def run(self, prepared: PreparedFrame) -> FrameOutput:
        """Run a prepared frame through the model alone, then :meth:`finish` it."""
        for _, result in self.model.predict_many([prepared.request]):
            return self.finish(prepared, result)

    # ------------------------------------------------------------------ step 1
    def prepare(self, msg, info, opts: OutputOptions, *, stamp_ns: Optional[int] = None,
                anchor=None) -> PreparedFrame:
        """Decode a message and prepare it with its camera_info (None: none yet)."""
        timings = self.new_timings()
        with stage(timings, 'decode'):
            decoded = decode_image(msg)
        if stamp_ns is None:
            stamp = msg.header.stamp
            stamp_ns = int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)
        return self.prepare_pixels(decoded.pixels, decoded.rgb_order, info, opts,
                                   encoding=decoded.encoding,
                                   frame_id=str(msg.header.frame_id), timings=timings,
                                   stamp_ns=stamp_ns, anchor=anchor)

    def prepare_pixels(self, pixels: np.ndarray, rgb_order: Sequence[int], info,
                       opts: OutputOptions, *, encoding: str = 'rgb8', frame_id: str = '',
                       timings: Optional[dict] = None, stamp_ns: Optional[int] = None,
                       anchor=None) -> PreparedFrame:
        """
        Check the image and its camera, undistort; return the frame ready for the model.

        ``stamp_ns`` is the image stamp (nanoseconds) for temporal stabilisation
        (None: frames are taken as 1/30 s apart, no gap or stamp checks).

        Raises NoCameraInfoError (no camera_info yet), BadImageError and
        BadCameraInfoError (the frame cannot be used). The frame's stream events
        are in the error's ``events`` when it is raised after they were noticed,
        so a dropped frame's events are logged too.
        """
        timings = self.new_timings() if timings is None else timings
        stream = {'frame_id': frame_id, 'stamp_ns': stamp_ns, 'anchors': anchors_of(anchor)}
        height, width = pixels.shape[:2]
        check_image_shape(width, height)
        if info is None:
            self.monitor.waiting_for_info()
            raise NoCameraInfoError('no camera_info received yet')
        events = self.monitor.frame(width, height, encoding, frame_id)
        try:
            cam = self._camera(info, opts, width, height, events)
        except BadCameraInfoError as exc:
            if not self.model.estimates_camera:
                exc.events = events
                raise
            return PreparedFrame(pixels, rgb_order, opts, timings, events, None,
                                 self._request(pixels, rgb_order, None, opts, timings),
                                 reason=str(exc), **stream)
        if cam.undistorter is not None:
            t0 = time.perf_counter()
            pixels = cam.undistorter.rectify(pixels)
            timings['rectify'] = (time.perf_counter() - t0) * 1000.0
        intr = cam.intrinsics
        focal = (intr.fx, intr.fy) if opts.focal_scaling else None
        return PreparedFrame(pixels, rgb_order, opts, timings, events, cam,
                             self._request(pixels, rgb_order, focal, opts, timings), **stream)

    def _request(self, pixels, rgb_order, focal, opts: OutputOptions,
                 timings: dict) -> PredictRequest:
        on_device = self.device_payloads and self._device.supports(opts)
        return PredictRequest(pixels, rgb_order, focal, reference_focal=opts.reference_focal,
                              on_device=on_device, timings=timings)

    # ------------------------------------------------------------------ step 3
    def finish(self, prepared: PreparedFrame, result) -> FrameOutput:
        """
        Return the outputs of a prepared frame from the model's result for it.

        ``result`` is what the model gave for ``prepared.request`` (a host depth
        map, a device ``(depth, image)`` pair) or the exception it raised, which is
        raised here. Call it right after the model's result for this frame: a
        model that estimates its own camera keeps that estimate for its latest frame.
        """
        if isinstance(result, BaseException):
            raise result
        depth = DeviceDepth(*result) if isinstance(result, tuple) else result
        opts, events, timings = prepared.opts, prepared.events, prepared.timings
        width, height = prepared.width, prepared.height
        cam = prepared.camera
        if cam is None:
            intr = self._estimated_camera(width, height)
            self._note_estimated(events, f'camera_info unusable ({prepared.reason})')
            info_fields = pinhole_camera_info(intr)
        elif self.model.focal_estimated:
            # Depth for the network's own camera (no focal given): back-project with it
            # (the valid calibration keeps what the estimate lacks: the principal point).
            intr = self._estimated_camera(width, height, cam.intrinsics)
            info_fields = pinhole_camera_info(intr)
            self._note_estimated(events, 'focal_scaling is off')
        else:
            intr = cam.intrinsics
            info_fields = cam.output_info
            self._note_camera_info(events)
        if cam is not None and cam.undistorter is not None:
            depth = self._device.mask(depth, cam.undistorter.valid)
        # Anchoring to a range sensor, at full resolution (None: no anchor in use).
        with stage(timings, 'anchor') if opts.anchor_depth or opts.anchor_points else _NO_STAGE:
            fitted = self.anchoring.fit(depth, intr, prepared)
            if not opts.temporal.enabled:
                depth = _corrected(depth, fitted)
        # Temporal stabilisation (temporal.*): the fitted correction smoothed, else one
        # estimated from the image, and the per-pixel filter.
        if opts.temporal.enabled:
            values = _values(depth)
            with stage(timings, 'temporal', getattr(values, 'device', None)):
                fitted = self.temporal.correction(
                    values, None if cam is None else cam.intrinsics, prepared.stamp_ns,
                    opts.temporal, events, fitted)
                depth = self._correct(depth, fitted)
        else:
            self.temporal.clear()
        out = self.encode(prepared.pixels, prepared.rgb_order, depth, intr, info_fields, opts,
                          timings, events)
        out.correction = fitted
        out.anchor = self.anchoring.report
        out.temporal = self.temporal.last if opts.temporal.enabled else None
        return out

    def encode(self, pixels, rgb_order, depth, intr: Intrinsics,
               info_fields: CameraInfoFields, opts: OutputOptions, timings: dict,
               events: Optional[List[Event]] = None) -> FrameOutput:
        """
        Return the outputs of a predicted depth map (the last stage).

        A host depth map is encoded by :class:`~depth_node.payloads.HostPayloads`,
        a :class:`~depth_node.device_payloads.DeviceDepth` on its device.
        """
        if isinstance(depth, DeviceDepth):
            return self._device.encode(pixels, rgb_order, depth, intr, info_fields, opts,
                                       timings, events)
        return self.payloads.encode(pixels, rgb_order, depth, intr, info_fields, opts,
                                    timings, events)

    # ------------------------------------------------------------------ steps
    def _correct(self, depth, correction: Correction):
        """Return ``depth`` (host or :class:`DeviceDepth`) corrected and stabilised."""
        if isinstance(depth, DeviceDepth):
            return DeviceDepth(self.temporal.apply(depth.depth, correction), depth.image)
        return self.temporal.apply(depth, correction)

    def _camera(self, info, opts: OutputOptions, width: int, height: int,
                events: List[Event]) -> Camera:
        previous = self.cameras.camera
        cam = self.cameras.get(info, rectify=opts.rectify)
        check_image_size(cam.intrinsics, width, height)
        if self.cameras.changed:
            if previous is not None and previous.key != cam.key:
                events.append(Event(
                    'intrinsics', 'info',
                    f'camera changed: {describe_camera(previous.intrinsics)} -> '
                    f'{describe_camera(cam.intrinsics)}; rays and undistortion maps rebuilt'))
            if cam.distortion_ignored:
                events.append(Event(
                    'distortion_ignored', 'info',
                    f'camera_info has non-zero distortion ({info.distortion_model}) but the '
                    'input is declared rectified: the image is used as it is (undistort it '
                    'here with input_rectified:=false, or --rectify offline)'))
        return cam

    def _estimated_camera(self, width: int, height: int,
                          camera: Optional[Intrinsics] = None) -> Intrinsics:
        intr = self.model.estimated_intrinsics(width, height, camera=camera)
        if intr is None:
            raise BadCameraInfoError(f'{self.model.family} estimated no camera for this frame')
        check_camera(intr.fx, intr.fy, intr.cx, intr.cy, width, height,
                     f'the camera {self.model.family} estimated')
        return intr

    def _note_estimated(self, events: List[Event], reason: str) -> None:
        if not self.camera_estimated:
            self.camera_estimated = True
            events.append(Event(
                'camera_estimated', 'warning',
                f'{reason}: {self.model.family} uses its own estimated field of view for the '
                'scale, the cloud and depth/camera_info'))

    def _note_camera_info(self, events: List[Event]) -> None:
        if self.camera_estimated:
            self.camera_estimated = False
            events.append(Event('camera_info_usable', 'info',
                                'camera_info used again for the scale and the cloud'))


def process_batch(model, frames: Sequence[Tuple['FrameProcessor', PreparedFrame]],
                  max_batch: int = 0) -> Iterator[Tuple[int, object]]:
    """
    Yield ``(index, FrameOutput or exception)`` for prepared frames of several cameras.

    One model serves them all: frames whose network inputs match run as one
    batch (at most ``max_batch``; 0 = no limit), each with its own focal length
    and reference focal, and each is finished by its own camera's processor
    right after its own post-processing. One frame's failure is its own.
    """
    requests = [prepared.request for _, prepared in frames]
    for index, result in model.predict_many(requests, max_batch):
        processor, prepared = frames[index]
        try:
            yield index, processor.finish(prepared, result)
        except Exception as exc:  # noqa: B902 - the frame's own failure, for its camera
            yield index, exc


_NO_STAGE = contextlib.nullcontext()


def _corrected(depth, correction: Optional[Correction]):
    """Return ``depth`` (a host array or a DeviceDepth) with ``correction`` applied."""
    if correction is None or correction.is_identity:
        return depth
    if isinstance(depth, DeviceDepth):
        return DeviceDepth(correction.apply(depth.depth), depth.image)
    return correction.apply(depth)


def _values(depth):
    """Return the depth map itself (the tensor or array of a :class:`DeviceDepth`)."""
    return depth.depth if isinstance(depth, DeviceDepth) else depth


def _model_on_cuda(model) -> bool:
    return getattr(getattr(model, 'device', None), 'type', None) == 'cuda'
