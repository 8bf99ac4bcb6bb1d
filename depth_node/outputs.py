# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
What a frame is processed for and what comes out: options, the model request, the outputs.

:class:`OutputOptions` (what to produce), :class:`PredictRequest` (one image for
the model), :class:`FrameOutput` (depth and payloads). Without rclpy; shared by
the frame path (:mod:`depth_node.frame`) and both
payload stages (:mod:`depth_node.payloads` on the host,
:mod:`depth_node.device_payloads` on the inference device).
"""

from dataclasses import dataclass, field
from typing import List, Optional, Sequence, Tuple

import numpy as np

from .anchor import AnchorReport
from .camera import CameraInfoFields
from .correction import Correction
from .filters import DEFAULT_MIN_ANGLE
from .geometry import CloudData, Intrinsics
from .params import scan_period
from .scan import DEFAULT_RANGE_MAX, DEFAULT_RANGE_MIN, ScanData
from .stream import Event
from .temporal import TemporalOptions, TemporalResult

#: Timing keys of the model's own stages (upload to download).
MODEL_STAGES = ('upload', 'preprocess', 'network', 'postprocess')


@dataclass
class PredictRequest:
    """One image for the model (:meth:`~depth_node.models.base.DepthModel.predict_many`)."""

    pixels: np.ndarray
    rgb_order: Sequence[int] = (0, 1, 2)
    #: ``(fx, fy)`` of the image in pixels, or None (no focal scaling).
    focal: Optional[Tuple[float, float]] = None
    #: This image's reference focal (px at the network input); None = the model's own.
    reference_focal: Optional[float] = None
    #: Return ``(depth, image)`` on the device (see ``DepthModel.predict``).
    on_device: bool = False
    #: Receives this image's per-stage milliseconds, when given.
    timings: Optional[dict] = None


@dataclass
class OutputOptions:
    """What to produce for a frame (the node's parameters of the same names)."""

    focal_scaling: bool = True
    #: Reference focal of this camera (px at the network input, 0 = the checkpoint's own);
    #: None = the model's own setting (the offline tools set it when loading).
    reference_focal: Optional[float] = None
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
    #: Anchoring to a range sensor (``anchor.*``; depth_node.anchor): the inputs on, the
    #: hold of the last good correction (s), the least inliers of a fit and the largest
    #: correction either way.
    anchor_depth: bool = False
    anchor_points: bool = False
    anchor_hold_time: float = 1.0
    anchor_min_inliers: int = 8
    anchor_max_correction: float = 8.0
    #: Temporal stabilisation of the scale (``temporal.*``).
    temporal: TemporalOptions = field(default_factory=TemporalOptions)

    @classmethod
    def from_parameters(cls, cfg: dict, colored: bool = False) -> 'OutputOptions':
        """
        Return the options of the node's parameter values (``cfg``: name -> value).

        ``colored`` is no parameter: the node asks for the colourised depth only
        while ``depth/colored`` has subscribers.
        """
        return cls(
            focal_scaling=bool(cfg['focal_scaling']),
            reference_focal=float(cfg['reference_focal']), rectify=not cfg['input_rectified'],
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
            colored_max_depth=float(cfg['colored.max_depth']),
            anchor_depth=bool(cfg['anchor.depth']), anchor_points=bool(cfg['anchor.points']),
            anchor_hold_time=float(cfg['anchor.hold_time']),
            anchor_min_inliers=int(cfg['anchor.min_inliers']),
            anchor_max_correction=float(cfg['anchor.max_correction']),
            temporal=temporal_options(cfg))


def temporal_options(cfg: dict) -> TemporalOptions:
    """Return the ``temporal.*`` parameter values (``cfg``: name -> value) as options."""
    return TemporalOptions(
        enabled=bool(cfg['temporal.enabled']), gate=float(cfg['temporal.gate']),
        step=float(cfg['temporal.step']), time_constant=float(cfg['temporal.time_constant']),
        min_fraction=float(cfg['temporal.min_fraction']),
        max_gap=float(cfg['temporal.max_gap']),
        pixel_weight=float(cfg['temporal.pixel_weight']))


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
    #: The correction applied to the depth before the outputs (None: the network's scale).
    correction: Optional[Correction] = None
    #: What anchoring did (state, scale, inliers, anchor age; depth_node.anchor).
    anchor: Optional[AnchorReport] = None
    #: What temporal stabilisation did to this frame (None: ``temporal.enabled`` off).
    temporal: Optional[TemporalResult] = None

    @property
    def model_ms(self) -> float:
        """Return the model's time for this frame: upload, preprocess, network, postprocess."""
        return sum(self.timings.get(k, 0.0) for k in MODEL_STAGES)
