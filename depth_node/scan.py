# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
A sensor_msgs/LaserScan from a depth image, without rclpy.

The semantics of depthimage_to_laserscan (ros-perception, ``DepthImageToLaserScan``):

* A band of ``height`` rows around the optical centre: rows
  ``int(cy - height / 2)`` to that plus ``height - 1``. Rows outside the image
  are left out; a band entirely above or below the image has no rows, and
  gives NaN everywhere (depthimage_to_laserscan refuses such bands).
* Angles from the camera model: ``angle_max`` is the angle between the ray of
  pixel (0, cy) and the optical axis, ``angle_min`` minus the angle of pixel
  (W - 1, cy); ``W`` bins of ``angle_increment = (angle_max - angle_min) / (W - 1)``
  (float32, as the message carries them). Column u falls into bin
  ``int((-atan((u - cx) / fx) - angle_min) / angle_increment)``; bin 0 is the
  rightmost column (angles grow counter-clockwise, to the left).
* The range of a pixel is its distance in the horizontal plane of the camera,
  ``hypot(x, z)`` with ``x = (u - cx) z / fx``; each bin keeps the nearest range
  within ``[range_min, range_max]``.

Where a bin has no range within the limits this module follows REP 117 instead of
leaving NaN: ``+inf`` when everything seen in it is beyond ``range_max`` (free
space: Nav2's obstacle layer with ``inf_is_valid: true`` clears along it), ``-inf``
when something is closer than ``range_min`` (never cleared), and NaN only where
no pixel of the band has a valid depth (or no column falls into the bin: near
the centre, bins are narrower than pixels, as in depthimage_to_laserscan).

A pixel is valid as the published depth image says: finite and > 0 in 32FC1
(+inf counts as too far, REP 117); with ``depth_encoding='16UC1'`` only where
the 16UC1 image carries a depth (1..65535 mm,
:func:`~depth_node.conversions.millimetres`), so depth beyond 65.535 m and +inf,
both 0 there, count as no depth, as depthimage_to_laserscan reading that image
would count them. ``scan_time`` is what the caller gives (the node's
``scan.scan_time``, or the period of its ``rate``); ``time_increment`` is 0
(every column is seen at once).

Frame: a LaserScan lies in the x-y plane of its frame, x forward and angles about
z (REP 103 body axes: x forward, y left, z up), so it cannot be in a camera's
optical frame (z forward, x right, y down). Ranges and angles here are those of
the non-optical frame at the same origin, rotated from the optical one by
:data:`OPTICAL_IN_BODY_RPY`; :func:`body_frame_id` names it after the optical
frame as camera drivers do (``camera_color_optical_frame`` ->
``camera_color_frame``).
"""

from dataclasses import dataclass
import math
from typing import Optional, Tuple

import numpy as np

from .conversions import millimetres
from .geometry import Intrinsics

#: Roll, pitch, yaw (radians) of a REP 103 optical frame in its body frame (x forward, z up).
OPTICAL_IN_BODY_RPY = (-math.pi / 2.0, 0.0, -math.pi / 2.0)
#: The same rotation as a quaternion (x, y, z, w).
OPTICAL_IN_BODY_QUATERNION = (-0.5, 0.5, -0.5, 0.5)

#: depthimage_to_laserscan's defaults.
DEFAULT_RANGE_MIN = 0.45
DEFAULT_RANGE_MAX = 10.0


def body_frame_id(optical_frame_id: str) -> Optional[str]:
    """
    Return the non-optical frame that goes with a REP 103 optical frame, or None.

    ``<name>_optical_frame`` -> ``<name>_frame`` (RealSense, ZED, Orbbec, OpenNI:
    ``camera_color_optical_frame`` -> ``camera_color_frame``) and
    ``<name>_optical`` -> ``<name>``. Any other name cannot be derived (None).
    """
    name = optical_frame_id.lstrip('/')
    for suffix, replacement in (('_optical_frame', '_frame'), ('_optical', '')):
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[:-len(suffix)] + replacement
    return None


def scan_frame_id(configured: str, image_frame_id: str) -> Optional[str]:
    """
    Return the frame of a scan of images in ``image_frame_id``, or None when unknown.

    ``configured`` (the ``scan.frame_id`` parameter) when set, else
    :func:`body_frame_id` of the image's optical frame.
    """
    configured = str(configured).strip()
    return configured if configured else body_frame_id(str(image_frame_id))


def unknown_frame_text(image_frame_id: str) -> str:
    """Return the log line for images whose frame gives no scan frame (said once per frame)."""
    return (f"publish_scan: no scan, its frame is unknown: the image frame '{image_frame_id}' "
            "does not end in '_optical_frame' or '_optical', so its body frame (x forward, z "
            'up) cannot be named; set scan.frame_id to the frame at the camera with x along '
            'the optical axis')


@dataclass
class ScanData:
    """The fields of a sensor_msgs/LaserScan besides the header."""

    angle_min: float
    angle_max: float
    angle_increment: float
    time_increment: float
    scan_time: float
    range_min: float
    range_max: float
    ranges: np.ndarray  # float32, one per bin


class _ScanGeometry:
    """Angles, bins and per-column constants of one camera (computed once)."""

    def __init__(self, intr: Intrinsics):
        self.intrinsics = intr
        width = intr.width
        if width < 2:
            raise ValueError(f'a scan needs an image at least 2 pixels wide; got {width}')
        # Angles between the rays of pixels (0, cy), (W - 1, cy) and the optical axis,
        # as image_geometry rays and an arc cosine give them.
        angle_max = _angle_to_axis((0.0 - intr.cx) / intr.fx)
        angle_min = -_angle_to_axis((width - 1.0 - intr.cx) / intr.fx)
        # The message carries float32: bins are computed from what it carries.
        self.angle_min = np.float32(angle_min)
        self.angle_max = np.float32(angle_max)
        self.angle_increment = np.float32(
            (self.angle_max - self.angle_min) / np.float32(width - 1))
        # Column offsets and 1 / fx in float32, as depthimage_to_laserscan has them.
        self.du = np.arange(width, dtype=np.float32) - np.float32(intr.cx)
        self.inv_fx = np.float32(1.0 / intr.fx)
        theta = -np.arctan2(self.du.astype(np.float64) * float(self.inv_fx), 1.0)
        index = np.trunc((theta - float(self.angle_min)) / float(self.angle_increment))
        self.bins = np.clip(index, 0, width - 1).astype(np.intp)
        # Columns grouped by bin for the reduceat calls (bins fall as u grows).
        self.order = np.argsort(self.bins, kind='stable')
        sorted_bins = self.bins[self.order]
        self.starts = np.flatnonzero(np.r_[True, sorted_bins[1:] != sorted_bins[:-1]])
        self.present = sorted_bins[self.starts]
        self.size = width

    def rows(self, height: int) -> Tuple[int, int]:
        """
        Return the first and one-past-last row of a band of ``height`` rows, clipped.

        The band ``int(cy - height / 2)`` .. that + ``height - 1`` clipped to the
        image's rows; an empty range (first == last) when none of it is inside.
        """
        rows = self.intrinsics.height
        first = int(self.intrinsics.cy - height / 2.0)
        start = min(max(first, 0), rows)
        return start, min(max(first + int(height), start), rows)


def _angle_to_axis(a: float) -> float:
    """Return the angle between the ray ``(a, 0, 1)`` and the optical axis ``(0, 0, 1)``."""
    return math.acos(1.0 / math.sqrt(a * a + 1.0))


class ScanBuilder:
    """Turns depth images into LaserScan fields, reusing the geometry while the camera stays."""

    def __init__(self):
        self._geometry: Optional[_ScanGeometry] = None

    def geometry(self, intr: Intrinsics) -> _ScanGeometry:
        """Return the cached geometry of ``intr``, rebuilding it on change."""
        if self._geometry is None or self._geometry.intrinsics != intr:
            self._geometry = _ScanGeometry(intr)
        return self._geometry

    def build(self, depth: np.ndarray, intr: Intrinsics, *, height: int = 1,
              range_min: float = DEFAULT_RANGE_MIN, range_max: float = DEFAULT_RANGE_MAX,
              scan_time: float = 0.0, invalid: Optional[np.ndarray] = None,
              depth_encoding: str = '32FC1') -> ScanData:
        """
        Return the scan of ``depth`` (``H x W`` metres, NaN or <= 0 invalid).

        ``height`` rows around cy feed each column (see the module docstring for
        bins, ranges, the +inf / -inf / NaN rules and ``depth_encoding``: in 16UC1 only
        what the 16UC1 image carries). Pixels where the ``H x W``
        bool mask ``invalid`` is True (the edge filter's flying pixels) count as
        NaN; only the band's rows of it are read.
        """
        if depth.shape[:2] != (intr.height, intr.width):
            raise ValueError(f'depth is {depth.shape[1]}x{depth.shape[0]} but the camera is '
                             f'{intr.width}x{intr.height}')
        if height < 1:
            raise ValueError(f'scan height must be >= 1 row; got {height}')
        if not 0.0 <= range_min < range_max:
            raise ValueError(f'need 0 <= range_min < range_max; got {range_min}, {range_max}')
        if depth_encoding not in ('32FC1', '16UC1'):
            raise ValueError(f"depth encoding must be '32FC1' or '16UC1', got {depth_encoding!r}")
        geo = self.geometry(intr)
        first, last = geo.rows(height)
        z = np.asarray(depth[first:last], dtype=np.float32)
        if invalid is not None:
            z = np.where(invalid[first:last], np.float32(np.nan), z)
        if depth_encoding == '16UC1':
            # Only what the 16UC1 image carries: its 0 (no depth) is no depth here either.
            z = np.where(millimetres(z)[1], z, np.float32(np.nan))
        low, high = np.float32(range_min), np.float32(range_max)
        with np.errstate(invalid='ignore', over='ignore'):
            # x = (u - cx) z / fx in float32, the range hypot(x, z) in float64, stored float32.
            x = (geo.du * z) * geo.inv_fx
            r = np.hypot(x.astype(np.float64), z.astype(np.float64)).astype(np.float32)
            valid = np.isfinite(r) & (z > 0.0)
            within = valid & (r >= low) & (r <= high)
            nearest = np.where(within, r, np.float32(np.inf)).min(axis=0, initial=np.inf)
            # REP 117 depth: +inf = nothing within range, -inf = too close.
            too_close = ((valid & (r < low)) | (z == -np.inf)).any(axis=0)
            too_far = ((valid & (r > high)) | (z == np.inf)).any(axis=0)
        order, starts = geo.order, geo.starts
        per_bin = np.minimum.reduceat(nearest[order], starts)
        close_bin = np.logical_or.reduceat(too_close[order], starts)
        far_bin = np.logical_or.reduceat(too_far[order], starts)
        values = np.where(np.isfinite(per_bin), per_bin,
                          np.where(close_bin, -np.inf, np.where(far_bin, np.inf, np.nan)))
        ranges = np.full(geo.size, np.nan, dtype=np.float32)
        ranges[geo.present] = values
        return ScanData(
            angle_min=float(geo.angle_min), angle_max=float(geo.angle_max),
            angle_increment=float(geo.angle_increment), time_increment=0.0,
            scan_time=float(scan_time), range_min=float(range_min),
            range_max=float(range_max), ranges=ranges)
