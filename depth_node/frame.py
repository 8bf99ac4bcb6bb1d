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
4. the outputs, in small steps: decimation to 1/N (``output_decimation``), the
   edge (flying-pixel) filter, the depth image (32FC1 or 16UC1; filtered only
   when asked), the cloud and the scan of the filtered depth, and the
   colourised depth (only when asked: the node asks while ``depth/colored``
   has subscribers).

Errors are typed (:mod:`depth_node.errors`); the caller drops the frame.
"""

from dataclasses import dataclass, field
import time
from typing import List, Optional, Sequence

import numpy as np

from .camera import (Camera, CameraCache, CameraInfoFields, decimated_camera_info_fields,
                     pinhole_camera_info)
from .compressed import decode_compressed
from .conversions import depth_to_image_fields, image_to_array
from .errors import BadCameraInfoError, BadImageError, InvalidDepthError, NoCameraInfoError
from .filters import DEFAULT_MIN_ANGLE, EdgeFilter
from .geometry import (check_camera, check_image_size, CloudBuilder, CloudData, decimate,
                       Intrinsics)
from .scan import DEFAULT_RANGE_MAX, DEFAULT_RANGE_MIN, ScanBuilder, ScanData
from .stream import Event, StreamMonitor
from .visualize import colorize_depth_bgr

#: Timing keys of the model's own stages (upload to download).
MODEL_STAGES = ('upload', 'preprocess', 'network', 'postprocess')
#: Smallest image side and largest aspect ratio a frame may have: a depth network resizes
#: the image to a few hundred pixels a side, which a 3 x 10000 strip cannot give.
MIN_SIDE = 16
MAX_ASPECT = 10.0


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
    #: Outputs for every Nth pixel in u and v (``output_decimation``).
    decimation: int = 1
    #: Flying pixels invalid in the cloud and the scan (``edge_filter.*``) ...
    edge_filter: bool = True
    edge_min_angle: float = DEFAULT_MIN_ANGLE
    #: ... and in the depth image too.
    edge_filter_depth: bool = False
    #: The LaserScan (``publish_scan``, ``scan.*``).
    scan: bool = False
    scan_height: int = 1
    scan_range_min: float = DEFAULT_RANGE_MIN
    scan_range_max: float = DEFAULT_RANGE_MAX
    #: The colourised depth (``depth/colored``; ``colored.*``, 0 = automatic).
    colored: bool = False
    colored_min_depth: float = 0.0
    colored_max_depth: float = 0.0

    @classmethod
    def from_parameters(cls, cfg: dict, colored: bool = False) -> 'OutputOptions':
        """
        Return the options of the node's parameter values (``cfg``: name -> value).

        ``colored`` is no parameter: the node asks for the colourised depth only
        while ``depth/colored`` has subscribers.
        """
        return cls(
            focal_scaling=bool(cfg['focal_scaling']), rectify=not cfg['input_rectified'],
            depth_encoding=str(cfg['depth_encoding']),
            publish_points=bool(cfg['publish_points']), points_rgb=bool(cfg['points.rgb']),
            points_stride=int(cfg['points.stride']),
            points_organized=bool(cfg['points.organized']),
            min_depth=float(cfg['min_depth']), max_depth=float(cfg['max_depth']),
            decimation=int(cfg['output_decimation']),
            edge_filter=bool(cfg['edge_filter.enabled']),
            edge_min_angle=float(cfg['edge_filter.min_angle']),
            edge_filter_depth=bool(cfg['edge_filter.apply_to_depth']),
            scan=bool(cfg['publish_scan']), scan_height=int(cfg['scan.height']),
            scan_range_min=float(cfg['scan.range_min']),
            scan_range_max=float(cfg['scan.range_max']),
            colored=bool(colored), colored_min_depth=float(cfg['colored.min_depth']),
            colored_max_depth=float(cfg['colored.max_depth']))


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

    #: The image the depth is for (rectified when undistorted, decimated with the
    #: outputs), and its channel order.
    pixels: np.ndarray
    rgb_order: Sequence[int]
    #: Metric depth as published, ``H x W`` float32, NaN (or +Inf for "too far") where
    #: invalid (flying pixels too with ``edge_filter_depth``).
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
    #: The LaserScan fields (``OutputOptions.scan``), in the camera's body frame.
    scan: Optional[ScanData] = None
    #: ``H x W x 3`` bgr8 colourised depth (``OutputOptions.colored``).
    colored: Optional[np.ndarray] = None
    #: How many pixels the edge filter flagged (None: it did not run).
    flying_pixels: Optional[int] = None

    @property
    def model_ms(self) -> float:
        """Return the model's time for this frame: upload, preprocess, network, postprocess."""
        return sum(self.timings.get(k, 0.0) for k in MODEL_STAGES)


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


class FrameProcessor:
    """Runs a :class:`~depth_node.models.DepthModel` on frames, one after another."""

    def __init__(self, model):
        self.model = model
        self.cameras = CameraCache()
        self.monitor = StreamMonitor()
        self.clouds = CloudBuilder()
        self.edges = EdgeFilter()
        self.scans = ScanBuilder()
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
        check_image_shape(width, height)
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
            # Depth for the network's own camera (no focal given): back-project with it
            # (the valid calibration keeps what the estimate lacks: the principal point).
            intr = self._estimated_camera(width, height, intr)
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
        """
        Return the outputs of a predicted depth map (the last stage).

        Decimate, flag flying pixels, then encode the depth image (as predicted
        unless ``opts.edge_filter_depth``), the cloud and the scan of the filtered
        depth, and the colourised depth of the published one.
        """
        if not _has_finite(depth):
            raise InvalidDepthError(
                f'{self.model.family} produced no finite depth for this frame (numerical '
                'overflow? try precision:=fp32)')
        pixels, depth, intr, info_fields = decimate_outputs(
            pixels, depth, intr, info_fields, opts.decimation, timings)
        published, depth, flying = self._edge_filter(depth, intr, opts, timings)
        t0 = time.perf_counter()
        encoding, step, data = depth_to_image_fields(published, opts.depth_encoding)
        t1 = time.perf_counter()
        timings['depth_msg'] = (t1 - t0) * 1000.0
        cloud = None
        if opts.publish_points:
            cloud = self.clouds.build(depth, intr, pixels if opts.points_rgb else None,
                                      rgb_order=rgb_order, stride=opts.points_stride,
                                      organized=opts.points_organized,
                                      min_depth=opts.min_depth, max_depth=opts.max_depth)
            timings['cloud_msg'] = (time.perf_counter() - t1) * 1000.0
        return FrameOutput(pixels, rgb_order, published, intr, info_fields, encoding, step,
                           data, cloud, timings, events or [],
                           scan=self._scan(depth, intr, opts, timings),
                           colored=_colored(published, opts, timings), flying_pixels=flying)

    def _edge_filter(self, depth: np.ndarray, intr: Intrinsics, opts: OutputOptions,
                     timings: dict):
        """
        Return ``(published depth, depth for the cloud and scan, flying pixel count)``.

        The filter runs only where its result is used: a cloud, a scan, or the
        depth image with ``edge_filter_depth``.
        """
        if not opts.edge_filter or not (
                opts.publish_points or opts.scan or opts.edge_filter_depth):
            return depth, depth, None
        t0 = time.perf_counter()
        self.edges.min_angle = float(opts.edge_min_angle)
        mask = self.edges.mask(depth, intr)
        flying = int(np.count_nonzero(mask))
        clean = depth
        if flying:
            clean = depth.copy()
            np.copyto(clean, np.float32(np.nan), where=mask)
        timings['edge_filter'] = (time.perf_counter() - t0) * 1000.0
        return (clean if opts.edge_filter_depth else depth), clean, flying

    def _scan(self, depth: np.ndarray, intr: Intrinsics, opts: OutputOptions,
              timings: dict) -> Optional[ScanData]:
        """Return the LaserScan of ``depth`` when asked (None for images narrower than 2)."""
        if not opts.scan or intr.width < 2:
            return None
        t0 = time.perf_counter()
        scan = self.scans.build(depth, intr, height=opts.scan_height,
                                range_min=opts.scan_range_min, range_max=opts.scan_range_max)
        timings['scan'] = (time.perf_counter() - t0) * 1000.0
        return scan


def decimate_outputs(pixels: np.ndarray, depth: np.ndarray, intr: Intrinsics,
                     info_fields: CameraInfoFields, n: int, timings: dict):
    """
    Return ``(pixels, depth, intrinsics, camera_info fields)`` for every ``n``-th pixel.

    Views, no copies (:func:`~depth_node.geometry.decimate`); the camera as
    image_proc's resize by ``1 / n`` describes it. Raises BadImageError when not
    one pixel would be left.
    """
    if n <= 1:
        return pixels, depth, intr, info_fields
    height, width = depth.shape
    if width < n or height < n:
        raise BadImageError(
            f'output_decimation {n} leaves no pixel of a {width}x{height} image')
    t0 = time.perf_counter()
    out = (decimate(pixels, n), decimate(depth, n), intr.decimated(n),
           decimated_camera_info_fields(info_fields, n))
    timings['decimate'] = (time.perf_counter() - t0) * 1000.0
    return out


def _colored(depth: np.ndarray, opts: OutputOptions, timings: dict) -> Optional[np.ndarray]:
    """Return the bgr8 colourised ``depth`` when asked, else None."""
    if not opts.colored:
        return None
    t0 = time.perf_counter()
    colored = colorize_depth_bgr(depth, opts.colored_min_depth, opts.colored_max_depth)
    timings['colored'] = (time.perf_counter() - t0) * 1000.0
    return colored


def _has_finite(depth: np.ndarray) -> bool:
    """Whether ``depth`` holds any number (+Inf, "too far", counts): a sparse look first."""
    return bool((~np.isnan(depth[::16, ::16])).any() or (~np.isnan(depth)).any())
