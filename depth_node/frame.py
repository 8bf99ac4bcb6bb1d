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
   has subscribers). On CUDA (:class:`DevicePayloads`) decimation, the edge
   filter, the depth image and the cloud run on the device from the depth
   tensor (:mod:`depth_node.device_cloud`) and each payload is downloaded once,
   ready for ``msg.data``; a host depth map is downloaded only for the scan, the
   colourised depth, or when something reads :attr:`FrameOutput.depth`.

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
from .params import scan_period
from .scan import DEFAULT_RANGE_MAX, DEFAULT_RANGE_MIN, ScanBuilder, ScanData
from .stream import Event, StreamMonitor
from .timing import stage
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
    #: LaserScan.scan_time in seconds (``scan.scan_time``, or the period of ``rate``).
    scan_time: float = 0.1
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
            scan_range_max=float(cfg['scan.range_max']), scan_time=scan_period(cfg),
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


def first_frame_text(intr: Intrinsics, opts: 'OutputOptions',
                     reference_focal: Optional[float]) -> str:
    """Return the log line of the first frame served: the camera and how it is used."""
    return (f'first frame {describe_camera(intr)}, focal scaling '
            f'{"on" if opts.focal_scaling else "off"}'
            + (f', reference focal {reference_focal:.1f} px' if reference_focal else '')
            + (', undistorted here' if opts.rectify else '')
            + (f', outputs at 1/{opts.decimation}' if opts.decimation > 1 else ''))


class FrameProcessor:
    """Runs a :class:`~depth_node.models.DepthModel` on frames, one after another."""

    def __init__(self, model, *, device_payloads: Optional[bool] = None):
        self.model = model
        self.cameras = CameraCache()
        self.monitor = StreamMonitor()
        self.clouds = CloudBuilder()
        self.edges = EdgeFilter()
        self.scans = ScanBuilder()
        #: Build the payloads on the model's device (default: when it is a CUDA device).
        self.device_payloads = (_model_on_cuda(model) if device_payloads is None
                                else bool(device_payloads))
        self._device = DevicePayloads(self)
        #: Makes each frame's ``timings`` (depth_node_bench sets a timing.StageTimes).
        self.new_timings = dict
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
        timings = self.new_timings()
        with stage(timings, 'decode'):
            decoded = decode_image(msg)
        return self.process_pixels(decoded.pixels, decoded.rgb_order, info, opts,
                                   encoding=decoded.encoding,
                                   frame_id=str(msg.header.frame_id), timings=timings)

    def process_pixels(self, pixels: np.ndarray, rgb_order: Sequence[int], info,
                       opts: OutputOptions, *, encoding: str = 'rgb8', frame_id: str = '',
                       timings: Optional[dict] = None) -> FrameOutput:
        """Process one decoded image (``H x W x C`` uint8) with its camera_info."""
        timings = self.new_timings() if timings is None else timings
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
        depth = self._predict(pixels, rgb_order, focal, timings, opts)
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
            depth = self._device.mask(depth, cam.undistorter.valid)
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

    def _predict(self, pixels, rgb_order, focal, timings: dict, opts: OutputOptions):
        """Run the model: a host depth map, or a :class:`DeviceDepth` for device payloads."""
        if self.device_payloads and self._device.supports(opts):
            depth, image = self.model.predict(pixels, rgb_order, focal=focal, timings=timings,
                                              on_device=True)
            return DeviceDepth(depth, image)
        return self.model.predict(pixels, rgb_order, focal=focal, timings=timings)

    def _process_estimated(self, pixels, rgb_order, opts: OutputOptions, timings: dict,
                           events: List[Event], reason: str) -> FrameOutput:
        """Serve a frame whose camera_info is unusable from the model's own camera."""
        height, width = pixels.shape[:2]
        depth = self._predict(pixels, rgb_order, None, timings, opts)
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
        depth, and the colourised depth of the published one. A
        :class:`DeviceDepth` is encoded on its device (:class:`DevicePayloads`).
        """
        if isinstance(depth, DeviceDepth):
            return self._device.encode(pixels, rgb_order, depth, intr, info_fields, opts,
                                       timings, events)
        if not _has_finite(depth):
            raise InvalidDepthError(
                f'{self.model.family} produced no finite depth for this frame (numerical '
                'overflow? try precision:=fp32)')
        pixels, depth, intr, info_fields = decimate_outputs(
            pixels, depth, intr, info_fields, opts.decimation, timings)
        flying = self._edge_filter(depth, intr, opts, timings)
        published = _without(depth, flying) if opts.edge_filter_depth else depth
        t0 = time.perf_counter()
        encoding, step, data = depth_to_image_fields(published, opts.depth_encoding)
        t1 = time.perf_counter()
        timings['depth_msg'] = (t1 - t0) * 1000.0
        cloud = None
        if opts.publish_points:
            cloud = self.clouds.build(depth, intr, pixels if opts.points_rgb else None,
                                      rgb_order=rgb_order, stride=opts.points_stride,
                                      organized=opts.points_organized,
                                      min_depth=opts.min_depth, max_depth=opts.max_depth,
                                      invalid=flying)
            timings['cloud_msg'] = (time.perf_counter() - t1) * 1000.0
        scan = None
        if opts.scan:
            scan = self._scan(published if opts.edge_filter_depth else _without(depth, flying),
                              intr, opts, timings)
        return FrameOutput(pixels, rgb_order, published, intr, info_fields, encoding, step,
                           data, cloud, timings, events or [], scan=scan,
                           colored=_colored(published, opts, timings),
                           flying_pixels=None if flying is None else int(
                               np.count_nonzero(flying)))

    def _edge_filter(self, depth: np.ndarray, intr: Intrinsics, opts: OutputOptions,
                     timings: dict) -> Optional[np.ndarray]:
        """
        Return the flying pixels of ``depth`` (a bool mask), or None when not needed.

        The filter runs only where its result is used: a cloud, a scan, or the
        depth image with ``edge_filter_depth``. The cloud takes the mask as it is;
        a copy without the flying pixels is made only for the scan and the depth
        image (:func:`_without`).
        """
        if not opts.edge_filter or not (
                opts.publish_points or opts.scan or opts.edge_filter_depth):
            return None
        t0 = time.perf_counter()
        self.edges.min_angle = float(opts.edge_min_angle)
        mask = self.edges.mask(depth, intr)
        timings['edge_filter'] = (time.perf_counter() - t0) * 1000.0
        return mask

    def _scan(self, depth: np.ndarray, intr: Intrinsics, opts: OutputOptions,
              timings: dict) -> Optional[ScanData]:
        """Return the LaserScan of ``depth`` when asked (None for images narrower than 2)."""
        if not opts.scan or intr.width < 2:
            return None
        t0 = time.perf_counter()
        scan = self.scans.build(depth, intr, height=opts.scan_height,
                                range_min=opts.scan_range_min, range_max=opts.scan_range_max,
                                scan_time=opts.scan_time, depth_encoding=opts.depth_encoding)
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


def _model_on_cuda(model) -> bool:
    return getattr(getattr(model, 'device', None), 'type', None) == 'cuda'


@dataclass
class DeviceDepth:
    """A predicted depth map still on the inference device, with the image it came from."""

    #: ``H x W`` metres (a torch tensor on the device; a numpy array is accepted too).
    depth: object
    #: The uploaded ``1 x 3 x H x W`` uint8 RGB image on the device, or None.
    image: object = None


class DeviceFrameOutput(FrameOutput):
    """A :class:`FrameOutput` whose ``depth`` is downloaded from the device on first use."""

    @property
    def depth(self) -> np.ndarray:
        """Return the host depth map (``H x W`` float32), downloading it once."""
        if self._host_depth is None:
            self._host_depth = _to_host(self._device_depth)
        return self._host_depth

    @depth.setter
    def depth(self, value) -> None:
        self._device_depth = value
        self._host_depth = value if isinstance(value, np.ndarray) else None

    @property
    def device_depth(self):
        """Return the depth map as it came from the model (a device tensor)."""
        return self._device_depth


def _to_host(depth) -> np.ndarray:
    if isinstance(depth, np.ndarray):
        return np.ascontiguousarray(depth, dtype=np.float32)
    return np.ascontiguousarray(depth.detach().to('cpu', dtype=_torch().float32).numpy())


def _torch():
    import torch
    return torch


class DevicePayloads:
    """
    The last stage on the model's device (``FrameProcessor.device_payloads``).

    The same steps and outputs as :meth:`FrameProcessor.encode` on the host
    (depth payload bit for bit, cloud equal to
    :class:`~depth_node.geometry.CloudBuilder`'s, the same flying pixels), run
    where the depth already is: decimation (views), the edge filter
    (:meth:`~depth_node.filters.EdgeFilter.mask_torch`), the depth image and the
    cloud (:mod:`depth_node.device_cloud`), one download per payload. The scan
    and the colourised depth are built on the host from one download of the
    depth they need, only when asked.
    """

    def __init__(self, processor: 'FrameProcessor'):
        self.processor = processor
        self._clouds = None
        self._mask_key = None
        self._mask = None

    @staticmethod
    def supports(opts: OutputOptions) -> bool:
        """Whether every output ``opts`` ask for can be built on the device."""
        return opts.depth_encoding in ('32FC1', '16UC1')

    def mask(self, depth, valid: np.ndarray):
        """Return ``depth`` with NaN where ``valid`` (the undistortion's valid area) is False."""
        if not isinstance(depth, DeviceDepth):
            return np.where(valid, depth, np.float32(np.nan))
        torch = _torch()
        tensor = depth.depth
        if not torch.is_tensor(tensor):
            return DeviceDepth(np.where(valid, tensor, np.float32(np.nan)), depth.image)
        if self._mask_key is not valid or self._mask.device != tensor.device:
            self._mask = torch.from_numpy(np.ascontiguousarray(valid)).to(tensor.device)
            self._mask_key = valid
        nan = torch.tensor(float('nan'), dtype=tensor.dtype, device=tensor.device)
        return DeviceDepth(torch.where(self._mask, tensor, nan), depth.image)

    def encode(self, pixels, rgb_order, dev: DeviceDepth, intr: Intrinsics,
               info_fields: CameraInfoFields, opts: OutputOptions, timings: dict,
               events: Optional[List[Event]]) -> FrameOutput:
        """Return the frame's outputs, built on the device from ``dev``."""
        from .device_cloud import depth_image_fields, DeviceCloudBuilder
        torch = _torch()
        depth = dev.depth
        if not torch.is_tensor(depth):
            depth = torch.from_numpy(np.ascontiguousarray(depth))
        depth = depth.to(torch.float32)
        device = depth.device
        if not bool((~torch.isnan(depth)).any()):
            raise InvalidDepthError(
                f'{self.processor.model.family} produced no finite depth for this frame '
                '(numerical overflow? try precision:=fp32)')
        rgb, order = None, rgb_order
        if opts.publish_points and opts.points_rgb:
            rgb, order = self._device_image(dev.image, pixels, rgb_order, device)
        n = opts.decimation
        pixels, depth, intr, info_fields = decimate_outputs(
            pixels, depth, intr, info_fields, n, timings)
        if rgb is not None and n > 1:
            rgb = decimate(rgb, n)
        published, clean, flying = self._edge_filter(depth, intr, opts, timings)
        with stage(timings, 'depth_msg', device):
            encoding, step, data = depth_image_fields(published, opts.depth_encoding)
        cloud = None
        if opts.publish_points:
            with stage(timings, 'cloud_msg', device):
                if self._clouds is None or self._clouds.device != device:
                    self._clouds = DeviceCloudBuilder(device)
                cloud = self._clouds.build(clean, intr, rgb, rgb_order=order,
                                           stride=opts.points_stride,
                                           organized=opts.points_organized,
                                           min_depth=opts.min_depth, max_depth=opts.max_depth)
        host = _HostDepths(published, clean)
        scan = self.processor._scan(host.clean(), intr, opts, timings) if opts.scan else None
        colored = _colored(host.published(), opts, timings) if opts.colored else None
        out = DeviceFrameOutput(pixels, rgb_order, published, intr, info_fields, encoding,
                                step, data, cloud, timings, events or [], scan=scan,
                                colored=colored, flying_pixels=flying)
        out._host_depth = host.published_if_downloaded()
        return out

    def _edge_filter(self, depth, intr: Intrinsics, opts: OutputOptions, timings: dict):
        """Return ``(published, for the cloud and scan, flying count)`` as the host stage."""
        if not opts.edge_filter or not (
                opts.publish_points or opts.scan or opts.edge_filter_depth):
            return depth, depth, None
        torch = _torch()
        with stage(timings, 'edge_filter', depth.device):
            edges = self.processor.edges
            edges.min_angle = float(opts.edge_min_angle)
            mask = edges.mask_torch(depth, intr)
            flying = int(torch.count_nonzero(mask))
            clean = depth
            if flying:
                nan = torch.tensor(float('nan'), dtype=depth.dtype, device=depth.device)
                clean = torch.where(mask, nan, depth)
        return (clean if opts.edge_filter_depth else depth), clean, flying

    @staticmethod
    def _device_image(image, pixels, rgb_order, device):
        """Return ``(H x W x C uint8 tensor, rgb order)``: the model's upload when it fits."""
        from .device_cloud import to_device_image
        height, width = pixels.shape[:2]
        # Models that resize on the host upload a smaller image (or a wrapper of one).
        if _torch().is_tensor(image) and tuple(image.shape) == (1, 3, height, width) and (
                image.device == device and image.dtype == _torch().uint8):
            return image[0].permute(1, 2, 0), (0, 1, 2)
        return to_device_image(pixels, device), rgb_order


class _HostDepths:
    """Host copies of the published and the filtered depth, each downloaded on first use."""

    def __init__(self, published, clean):
        self._tensors = {'published': published, 'clean': clean}
        self._host = {}

    def _get(self, key: str) -> np.ndarray:
        tensor = self._tensors[key]
        for name, other in self._tensors.items():  # the same tensor: one download
            if other is tensor and name in self._host:
                return self._host[name]
        if key not in self._host:
            self._host[key] = _to_host(tensor)
        return self._host[key]

    def published(self) -> np.ndarray:
        """Return the published depth on the host."""
        return self._get('published')

    def clean(self) -> np.ndarray:
        """Return the filtered depth (for the scan) on the host."""
        return self._get('clean')

    def published_if_downloaded(self) -> Optional[np.ndarray]:
        """Return the host published depth if it was downloaded, else None."""
        if 'published' in self._host:
            return self._host['published']
        if self._tensors['clean'] is self._tensors['published']:
            return self._host.get('clean')
        return None


def _without(depth: np.ndarray, invalid: Optional[np.ndarray]) -> np.ndarray:
    """Return ``depth`` with the ``invalid`` pixels NaN (a copy; ``depth`` itself if none)."""
    if invalid is None or not invalid.any():
        return depth
    clean = depth.copy()
    np.copyto(clean, np.float32(np.nan), where=invalid)
    return clean


def _has_finite(depth: np.ndarray) -> bool:
    """Whether ``depth`` holds any number (+Inf, "too far", counts): a sparse look first."""
    return bool((~np.isnan(depth[::16, ::16])).any() or (~np.isnan(depth)).any())
