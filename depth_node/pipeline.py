# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
One frame through the whole ROS-free path: image -> metric depth -> message payloads.

The node, the benchmark and the offline tools all call this, so there is one
copy of the preprocessing, scaling and point code.
"""

from dataclasses import dataclass
import time
from typing import Optional, Sequence, Tuple

import numpy as np

from .conversions import depth_to_image_fields
from .geometry import CloudBuilder, CloudData, Intrinsics
from .models.base import DepthModel


@dataclass
class OutputOptions:
    """What to produce besides the depth map (mirrors the node's parameters)."""

    focal_scaling: bool = True
    depth_encoding: str = '32FC1'
    publish_points: bool = True
    points_rgb: bool = True
    points_stride: int = 1
    points_organized: bool = True
    min_depth: float = 0.0
    max_depth: float = 0.0


#: Timing keys of the model's own stages (upload to download).
MODEL_STAGES = ('upload', 'preprocess', 'network', 'postprocess')


@dataclass
class FrameResult:
    """Depth in metres plus the encoded payloads of the output messages."""

    depth: np.ndarray
    depth_encoding: str
    depth_step: int
    depth_data: object
    cloud: Optional[CloudData]
    timings: dict

    @property
    def model_ms(self) -> float:
        """Return the model's time for this frame: upload, preprocess, network, postprocess."""
        return sum(self.timings.get(k, 0.0) for k in MODEL_STAGES)


class DepthPipeline:
    """Runs a :class:`DepthModel` on frames and encodes depth image and cloud payloads."""

    def __init__(self, model: DepthModel):
        self.model = model
        self.clouds = CloudBuilder()

    def depth(self, pixels: np.ndarray, rgb_order: Sequence[int], intr: Optional[Intrinsics],
              focal_scaling: bool = True, timings: Optional[dict] = None) -> np.ndarray:
        """Metric depth for one image; ``intr`` None or ``focal_scaling`` False skips scaling."""
        focal = (intr.fx, intr.fy) if (intr is not None and focal_scaling) else None
        return self.model.predict(pixels, rgb_order, focal=focal, timings=timings)

    def encode(self, depth: np.ndarray, pixels: np.ndarray, rgb_order: Sequence[int],
               intr: Intrinsics, opts: OutputOptions, timings: dict) -> FrameResult:
        """Encode the depth image and (optionally) the cloud payloads, timing each."""
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
        return FrameResult(depth, encoding, step, data, cloud, timings)

    def process_camera(self, pixels: np.ndarray, rgb_order: Sequence[int], cam,
                       opts: OutputOptions) -> Tuple[np.ndarray, FrameResult]:
        """
        Return ``(pixels used, result)`` of one frame of a :class:`~depth_node.rectify.Camera`.

        With an undistorter the image is rectified first (timed as ``rectify``) and
        pixels without source data are invalid (NaN) in depth and points. This is
        the node's frame path; the offline tools call it too.
        """
        timings: dict = {}
        if cam.undistorter is not None:
            t0 = time.perf_counter()
            pixels = cam.undistorter.rectify(pixels)
            timings['rectify'] = (time.perf_counter() - t0) * 1000.0
        depth = self.depth(pixels, rgb_order, cam.intrinsics, opts.focal_scaling, timings)
        if cam.undistorter is not None:
            depth = np.where(cam.undistorter.valid, depth, np.float32(np.nan))
        return pixels, self.encode(depth, pixels, rgb_order, cam.intrinsics, opts, timings)

    def process(self, pixels: np.ndarray, rgb_order: Sequence[int], intr: Intrinsics,
                opts: OutputOptions) -> FrameResult:
        """Depth and payloads for one frame, with per-stage timings in milliseconds."""
        timings: dict = {}
        depth = self.depth(pixels, rgb_order, intr, opts.focal_scaling, timings)
        return self.encode(depth, pixels, rgb_order, intr, opts, timings)
