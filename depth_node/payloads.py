# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
The last stage of the frame path on the host: a depth map in, the payloads of every output out.

Without rclpy. :class:`HostPayloads` decimates to 1/N (``output_decimation``),
flags flying pixels (the edge filter), and encodes the depth image (32FC1 or
16UC1; filtered only when asked), the cloud and the scan of the filtered
depth, and the colourised depth (only when asked). Its builders keep what
depends only on the camera (rays, scan bins, filter thresholds) between frames,
and the depth image and organized cloud buffers, which the next frame writes
again once nothing holds them (:mod:`depth_node.buffers`; the node's cameras
share theirs).
The same stage on the inference device is :mod:`depth_node.device_payloads`.
"""

from typing import List, Optional

import numpy as np

from .buffers import MessageBuffers
from .camera import CameraInfoFields, decimated_camera_info_fields
from .conversions import depth_to_image_fields
from .errors import BadImageError, InvalidDepthError
from .filters import EdgeFilter
from .geometry import CloudBuilder, decimate, Intrinsics
from .outputs import FrameOutput, OutputOptions
from .scan import ScanBuilder, ScanData
from .stream import Event
from .timing import stage
from .visualize import colorize_depth_bgr


class HostPayloads:
    """Decimation, edge filter, depth image, cloud, scan and colourised depth on the host."""

    def __init__(self, family: str = 'the model', buffers: Optional[MessageBuffers] = None):
        #: Named in the line of a frame without finite depth.
        self.family = family
        buffers = buffers if buffers is not None else MessageBuffers()
        self.clouds = CloudBuilder(buffers.cloud)
        self.edges = EdgeFilter()
        self.scans = ScanBuilder()
        #: The depth image's ``msg.data``, reused across frames while nothing holds it.
        self.depth_buffer = buffers.depth

    def encode(self, pixels, rgb_order, depth: np.ndarray, intr: Intrinsics,
               info_fields: CameraInfoFields, opts: OutputOptions, timings: dict,
               events: Optional[List[Event]] = None) -> FrameOutput:
        """
        Return the outputs of a predicted host depth map.

        Decimate, flag flying pixels, then encode the depth image (as predicted
        unless ``opts.edge_filter_depth``), the cloud and the scan of the filtered
        depth, and the colourised depth of the published one.
        """
        if not _has_finite(depth):
            raise InvalidDepthError(
                f'{self.family} produced no finite depth for this frame (numerical '
                'overflow? try precision:=fp32)')
        pixels, depth, intr, info_fields = decimate_outputs(
            pixels, depth, intr, info_fields, opts.decimation, timings)
        flying = self.edge_filter(depth, intr, opts, timings)
        published = _without(depth, flying) if opts.edge_filter_depth else depth
        with stage(timings, 'depth_msg'):
            encoding, step, data = depth_to_image_fields(published, opts.depth_encoding,
                                                         self.depth_buffer)
        cloud = None
        if opts.publish_points:
            with stage(timings, 'cloud_msg'):
                cloud = self.clouds.build(depth, intr, pixels if opts.points_rgb else None,
                                          rgb_order=rgb_order, stride=opts.points_stride,
                                          organized=opts.points_organized,
                                          min_depth=opts.min_depth, max_depth=opts.max_depth,
                                          invalid=flying)
        scan = self.scan(depth, intr, opts, timings, invalid=flying) if opts.scan else None
        return FrameOutput(pixels, rgb_order, published, intr, info_fields, encoding, step,
                           data, cloud, timings, events or [], scan=scan,
                           colored=colored(published, opts, timings),
                           flying_pixels=None if flying is None else int(
                               np.count_nonzero(flying)))

    def edge_filter(self, depth: np.ndarray, intr: Intrinsics, opts: OutputOptions,
                    timings: dict) -> Optional[np.ndarray]:
        """
        Return the flying pixels of ``depth`` (a bool mask), or None when not needed.

        The filter runs only where its result is used: a cloud, a scan, or the
        depth image with ``edge_filter_depth``. The cloud and the scan take the
        mask as it is (the scan reads only its row band); a copy without the
        flying pixels is made only for the depth image with ``edge_filter_depth``
        (:func:`_without`).
        """
        if not opts.edge_filter or not (
                opts.publish_points or opts.scan or opts.edge_filter_depth):
            return None
        with stage(timings, 'edge_filter'):
            self.edges.min_angle = float(opts.edge_min_angle)
            mask = self.edges.mask(depth, intr)
        return mask

    def scan(self, depth: np.ndarray, intr: Intrinsics, opts: OutputOptions,
             timings: dict, invalid: Optional[np.ndarray] = None) -> Optional[ScanData]:
        """
        Return the LaserScan of ``depth`` when asked (None for images narrower than 2).

        ``invalid`` (the flying pixels) are left out: only the scan's row band of
        the mask is read, the depth map is not copied.
        """
        if not opts.scan or intr.width < 2:
            return None
        with stage(timings, 'scan'):
            return self.scans.build(depth, intr, height=opts.scan_height,
                                    range_min=opts.scan_range_min,
                                    range_max=opts.scan_range_max, invalid=invalid,
                                    scan_time=opts.scan_time,
                                    depth_encoding=opts.depth_encoding)


def decimate_outputs(pixels: np.ndarray, depth, intr: Intrinsics,
                     info_fields: CameraInfoFields, n: int, timings: dict):
    """
    Return ``(pixels, depth, intrinsics, camera_info fields)`` for every ``n``-th pixel.

    Views, no copies (:func:`~depth_node.geometry.decimate`; ``depth`` may be a
    device tensor); the camera as image_proc's resize by ``1 / n`` describes it.
    Raises BadImageError when not one pixel would be left.
    """
    if n <= 1:
        return pixels, depth, intr, info_fields
    height, width = depth.shape
    if width < n or height < n:
        raise BadImageError(
            f'output_decimation {n} leaves no pixel of a {width}x{height} image')
    with stage(timings, 'decimate'):
        return (decimate(pixels, n), decimate(depth, n), intr.decimated(n),
                decimated_camera_info_fields(info_fields, n))


def colored(depth: np.ndarray, opts: OutputOptions, timings: dict) -> Optional[np.ndarray]:
    """Return the bgr8 colourised ``depth`` when asked, else None."""
    if not opts.colored:
        return None
    with stage(timings, 'colored'):
        return colorize_depth_bgr(depth, opts.colored_min_depth, opts.colored_max_depth)


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
