# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
The one frame path: an image and its camera_info in, depth and message payloads out.

Without rclpy. :class:`FrameProcessor` is what the node, ``depth_node_run``,
``depth_node_eval`` and ``depth_node_bench`` all call, so they cannot disagree:

1. decode (raw ``sensor_msgs/Image`` fields or a ``CompressedImage``),
2. the camera of the camera_info, cached per calibration (intrinsics, size
   check, undistortion maps when ``rectify``), with change events,
3. metric depth from the model (focal scaling with the camera's focal), or,
   when the model estimates its own camera (Depth Pro's field of view) and the
   camera_info is unusable or not used for the scale, depth for the estimated
   camera, which is then also the camera of the cloud and of depth/camera_info,
4. the payloads: the depth image (32FC1 or 16UC1) and the cloud.

Errors are typed (:mod:`depth_node.errors`); the caller drops the frame.
"""

from dataclasses import dataclass, field
import time
from typing import List, Optional, Sequence

import numpy as np

from .camera import Camera, CameraCache, CameraInfoFields, pinhole_camera_info
from .compressed import decode_compressed
from .conversions import depth_to_image_fields, image_to_array
from .errors import BadCameraInfoError, InvalidDepthError, NoCameraInfoError
from .geometry import check_camera, check_image_size, CloudBuilder, CloudData, Intrinsics
from .stream import Event, StreamMonitor

#: Timing keys of the model's own stages (upload to download).
MODEL_STAGES = ('upload', 'preprocess', 'network', 'postprocess')


@dataclass
class OutputOptions:
    """What to produce for a frame (the node's parameters of the same names)."""

    focal_scaling: bool = True
    #: Undistort with the camera_info first (the node's ``input_rectified`` false).
    rectify: bool = False
    depth_encoding: str = '32FC1'
    publish_points: bool = True
    points_rgb: bool = True
    points_stride: int = 1
    points_organized: bool = True
    min_depth: float = 0.0
    max_depth: float = 0.0

    @classmethod
    def from_parameters(cls, cfg: dict) -> 'OutputOptions':
        """Return the options of the node's parameter values (``cfg``: name -> value)."""
        return cls(
            focal_scaling=bool(cfg['focal_scaling']), rectify=not cfg['input_rectified'],
            depth_encoding=str(cfg['depth_encoding']),
            publish_points=bool(cfg['publish_points']), points_rgb=bool(cfg['points.rgb']),
            points_stride=int(cfg['points.stride']),
            points_organized=bool(cfg['points.organized']),
            min_depth=float(cfg['min_depth']), max_depth=float(cfg['max_depth']))


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


@dataclass
class FrameOutput:
    """Depth in metres, the camera it is for, and the encoded payloads of the outputs."""

    #: The image the depth is for (rectified when undistorted), and its channel order.
    pixels: np.ndarray
    rgb_order: Sequence[int]
    #: Metric depth, ``H x W`` float32, NaN (or +Inf for "too far") where invalid.
    depth: np.ndarray
    #: The camera of ``depth`` and of the cloud, and the fields of depth/camera_info.
    intrinsics: Intrinsics
    camera_info: CameraInfoFields
    depth_encoding: str
    depth_step: int
    depth_data: object
    cloud: Optional[CloudData]
    #: Milliseconds per stage (decode, rectify, model stages, depth_msg, cloud_msg).
    timings: dict
    #: Stream changes noticed with this frame, for the log.
    events: List[Event] = field(default_factory=list)

    @property
    def model_ms(self) -> float:
        """Return the model's time for this frame: upload, preprocess, network, postprocess."""
        return sum(self.timings.get(k, 0.0) for k in MODEL_STAGES)


def describe_camera(intr: Intrinsics) -> str:
    """Return a short text of intrinsics for logs."""
    return (f'{intr.width}x{intr.height} fx {intr.fx:.1f} fy {intr.fy:.1f} '
            f'cx {intr.cx:.1f} cy {intr.cy:.1f}')


class FrameProcessor:
    """Runs a :class:`~depth_node.models.DepthModel` on frames, one after another."""

    def __init__(self, model):
        self.model = model
        self.cameras = CameraCache()
        self.monitor = StreamMonitor()
        self.clouds = CloudBuilder()
        #: Whether the latest frame used the model's own camera estimate.
        self.camera_estimated = False

    def reset(self) -> None:
        """Forget cameras and stream state (lifecycle cleanup, a new input)."""
        self.cameras.clear()
        self.monitor = StreamMonitor()
        self.camera_estimated = False

    # ------------------------------------------------------------------ entry points
    def process(self, msg, info, opts: OutputOptions) -> FrameOutput:
        """Process one Image/CompressedImage message with its camera_info (None: none yet)."""
        t0 = time.perf_counter()
        decoded = decode_image(msg)
        timings = {'decode': (time.perf_counter() - t0) * 1000.0}
        return self.process_pixels(decoded.pixels, decoded.rgb_order, info, opts,
                                   encoding=decoded.encoding,
                                   frame_id=str(msg.header.frame_id), timings=timings)

    def process_pixels(self, pixels: np.ndarray, rgb_order: Sequence[int], info,
                       opts: OutputOptions, *, encoding: str = 'rgb8', frame_id: str = '',
                       timings: Optional[dict] = None) -> FrameOutput:
        """Process one decoded image (``H x W x C`` uint8) with its camera_info."""
        timings = {} if timings is None else timings
        height, width = pixels.shape[:2]
        if info is None:
            self.monitor.waiting_for_info()
            raise NoCameraInfoError('no camera_info received yet')
        events = self.monitor.frame(width, height, encoding, frame_id)
        try:
            cam = self._camera(info, opts, width, height, events)
        except BadCameraInfoError as exc:
            if not self.model.estimates_camera:
                raise
            return self._process_estimated(pixels, rgb_order, opts, timings, events, str(exc))
        if cam.undistorter is not None:
            t0 = time.perf_counter()
            pixels = cam.undistorter.rectify(pixels)
            timings['rectify'] = (time.perf_counter() - t0) * 1000.0
        intr = cam.intrinsics
        focal = (intr.fx, intr.fy) if opts.focal_scaling else None
        depth = self.model.predict(pixels, rgb_order, focal=focal, timings=timings)
        if self.model.focal_estimated:
            # Depth for the network's own camera (no focal given): back-project with it.
            intr = self._estimated_camera(width, height)
            info_fields = pinhole_camera_info(intr)
            self._note_estimated(events, 'focal_scaling is off')
        else:
            info_fields = cam.output_info
            self._note_camera_info(events)
        if cam.undistorter is not None:
            depth = np.where(cam.undistorter.valid, depth, np.float32(np.nan))
        return self.encode(pixels, rgb_order, depth, intr, info_fields, opts, timings, events)

    # ------------------------------------------------------------------ steps
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

    def _estimated_camera(self, width: int, height: int) -> Intrinsics:
        intr = self.model.estimated_intrinsics(width, height)
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

    def _process_estimated(self, pixels, rgb_order, opts: OutputOptions, timings: dict,
                           events: List[Event], reason: str) -> FrameOutput:
        """Serve a frame whose camera_info is unusable from the model's own camera."""
        height, width = pixels.shape[:2]
        depth = self.model.predict(pixels, rgb_order, focal=None, timings=timings)
        intr = self._estimated_camera(width, height)
        self._note_estimated(events, f'camera_info unusable ({reason})')
        return self.encode(pixels, rgb_order, depth, intr, pinhole_camera_info(intr), opts,
                           timings, events)

    def encode(self, pixels, rgb_order, depth: np.ndarray, intr: Intrinsics,
               info_fields: CameraInfoFields, opts: OutputOptions, timings: dict,
               events: Optional[List[Event]] = None) -> FrameOutput:
        """Encode depth and cloud payloads of a predicted depth map (the last stage)."""
        if not _has_finite(depth):
            raise InvalidDepthError(
                f'{self.model.family} produced no finite depth for this frame (numerical '
                'overflow? try precision:=fp32)')
        t0 = time.perf_counter()
        encoding, step, data = depth_to_image_fields(depth, opts.depth_encoding)
        t1 = time.perf_counter()
        timings['depth_msg'] = (t1 - t0) * 1000.0
        cloud = None
        if opts.publish_points:
            cloud = self.clouds.build(depth, intr, pixels if opts.points_rgb else None,
                                      rgb_order=rgb_order, stride=opts.points_stride,
                                      organized=opts.points_organized,
                                      min_depth=opts.min_depth, max_depth=opts.max_depth)
            timings['cloud_msg'] = (time.perf_counter() - t1) * 1000.0
        return FrameOutput(pixels, rgb_order, depth, intr, info_fields, encoding, step, data,
                           cloud, timings, events or [])


def _has_finite(depth: np.ndarray) -> bool:
    """Whether ``depth`` holds any number (+Inf, "too far", counts): a sparse look first."""
    return bool((~np.isnan(depth[::16, ::16])).any() or (~np.isnan(depth)).any())
