# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
Edge (flying-pixel) filter for monocular depth, without rclpy.

A monocular network blurs depth across object boundaries: between the edge of a
foreground object and the background behind it the prediction passes through
intermediate depths over a few pixels. Back-projected, those pixels form a veil
of points hanging in the air between the two surfaces, which a costmap marks as
phantom obstacles. Depth cameras have the same artefact at edges (mixed pixels)
and their drivers remove it with veil/shadow filters; this is the same idea.

The test is geometric. Take a pixel p and the pixels ``s`` columns to its left
and right (the *span*, see below), back-project the three and look at the two
segments, left pixel to p and p to right pixel. On a real surface a segment
crosses the line of sight at a clear angle; inside a blurred edge it runs almost
along the line of sight, because the depth changes much faster than the pixel
position. A segment within ``min_angle`` of the line of sight (of its first
pixel) is a *discontinuity*: *rising* where the depth grows along it, *falling*
where it shrinks. A pixel is *flying* when both of its segments along its row
rise, or both fall, or the same along its column: it lies inside a depth ramp.
The last pixel of a real surface next to a ramp keeps one good segment and
stays; a pixel nearer or farther than both neighbours (sensor noise, a pole one
span wide) is no ramp and stays too.

In numbers: for a pixel (u, v) at depth ``z0`` and the pixel (u + s, v) at ``z1``,
with ``a = (u - cx) / fx``, ``b = (v - cy) / fy``, ``R = 1 + a^2 + b^2`` and
``d = s / fx``, the segment is a discontinuity when the relative jump
``q = (z1 - z0) / z1`` leaves the interval::

    -a d / R  +-  sqrt(1 + b^2) cot(min_angle) d / R

(rising above it, falling below it; for columns swap a and b, fx and fy). At the
optical centre this is simply ``|z1 - z0| / z1 > s cot(min_angle) / fx``. The
filter compares the ratio ``z0 / z1 = 1 - q`` with the two bounds it implies
(:class:`EdgeThresholds`), computed once per camera.

The span ``s = ceil(f / SPAN_FOCAL)`` (``f`` = fx for rows, fy for columns) grows
with the focal length, so that the two pixels always lie at least 1/300 rad
(0.19 degrees) apart in the view: 2 pixels at 640x480 with fx = 525, 4 at
1280x720 with fx = 1050, 6 at 1920x1080, 11 at 3840x2160. The angle test itself
does not depend on the span, so the filter behaves the same at any resolution (a
blur over N network pixels stays the same angle after resizing), while the depth
jump it judges grows with the span and i.i.d. sensor noise of a given relative
size (0.3 % per pixel) stays well below it at any resolution. Pixels closer than
``s`` to the left or right image border are judged in their column only, and
likewise at the top and bottom.

Invalid and far pixels: a pair with a NaN (invalid) pixel is never a
discontinuity, so an invalid pixel does not spread. A +inf pixel (REP 117: too
far, Depth Anything 3's sky) is infinitely far: the segment to it runs along its
line of sight, a discontinuity rising towards it, on whichever side of p it is.
So a pixel between the sky and a nearer pixel of a ramp is flying whether the
sky is left, right, above or below it, and a pixel between the sky and a surface
stays. A +inf pixel itself is never flying (its two segments rise into it and
fall out of it); it is no point anyway.

Surfaces that the camera really sees within ``min_angle`` of edge-on (a floor
far away, a wall along the line of sight) fail the same test and are removed
too: their depth is the least reliable anyway. A frame costs two divisions and
four comparisons per pixel (OpenCV, in bands of rows whose intermediates stay in
the CPU cache), or the same operations in torch on the inference device with
:meth:`EdgeFilter.mask_torch`: IEEE float32 throughout, so both give the same mask.
"""

import math
import threading
from typing import Dict, Optional, Tuple

import cv2
import numpy as np

from .geometry import Intrinsics

#: Default smallest angle (degrees) between a surface and the line of sight that is kept.
DEFAULT_MIN_ANGLE = 10.0
#: Pixels of focal length per pixel of span: the span is ``ceil(f / SPAN_FOCAL)`` pixels.
SPAN_FOCAL = 300.0
#: Pixels per band of rows the numpy/OpenCV mask works on (intermediates stay in cache).
BLOCK_PIXELS = 1 << 17


#: Per-thread scratch buffers of the numpy/OpenCV mask (one band of rows), for every filter.
_SCRATCH = threading.local()


def span_for(focal: float) -> int:
    """Return the span (pixels between the compared pixels) for a focal length in pixels."""
    return max(1, int(math.ceil(float(focal) / SPAN_FOCAL - 1e-9)))


def _bounds(a: np.ndarray, b: np.ndarray, d: float, cot: float) -> Tuple[np.ndarray, ...]:
    """
    Return ``(low, high)`` float32 bounds of ``z0 / z1`` for rays ``(a, b, 1)`` (broadcast).

    ``a`` runs along the pair, ``b`` across it, ``d`` is the pair's ray offset
    (span / focal). ``z0 / z1 < low`` rises, ``> high`` falls.
    """
    r2 = 1.0 + a * a + b * b
    mid = -a * d / r2
    half = np.sqrt(1.0 + b * b) * cot * d / r2
    return (1.0 - mid - half).astype(np.float32), (1.0 - mid + half).astype(np.float32)


class EdgeThresholds:
    """
    Per-pixel bounds of the depth ratio of a pair for one camera and angle.

    Rows: the pair (v, u), (v, u + ``span_x``) for the ``H x (W - span_x)``
    arrays ``h_low``/``h_high``; columns: (v, u), (v + ``span_y``, u) for the
    ``(H - span_y) x W`` arrays ``v_low``/``v_high``. With ``r = z(first) / z(second)``
    the pair rises where ``r < low`` and falls where ``r > high``.
    """

    def __init__(self, intr: Intrinsics, min_angle_deg: float):
        if not 0.0 < min_angle_deg < 90.0:
            raise ValueError(f'min_angle must be within (0, 90) degrees; got {min_angle_deg}')
        self.intrinsics = intr
        self.min_angle = float(min_angle_deg)
        self.span_x = span_for(intr.fx)
        self.span_y = span_for(intr.fy)
        cot = 1.0 / math.tan(math.radians(min_angle_deg))
        a = (np.arange(intr.width, dtype=np.float64) - intr.cx) / intr.fx
        b = (np.arange(intr.height, dtype=np.float64) - intr.cy) / intr.fy
        sx, sy = self.span_x, self.span_y
        # Rows: the ray of the first pixel of each pair; columns: a and b swap roles.
        self.h_low, self.h_high = _bounds(a[None, :max(intr.width - sx, 0)], b[:, None],
                                          sx / intr.fx, cot)
        self.v_low, self.v_high = _bounds(b[:max(intr.height - sy, 0), None], a[None, :],
                                          sy / intr.fy, cot)
        self._torch: Dict[object, Tuple[object, ...]] = {}

    def matches(self, intr: Intrinsics, min_angle_deg: float) -> bool:
        """Whether these thresholds were computed for ``intr`` and ``min_angle_deg``."""
        return self.intrinsics == intr and self.min_angle == float(min_angle_deg)

    def torch_tensors(self, device) -> Tuple[object, ...]:
        """Return ``(h_low, h_high, v_low, v_high)`` as float32 tensors on ``device`` (cached)."""
        import torch

        key = str(device)
        if key not in self._torch:
            self._torch[key] = tuple(
                torch.from_numpy(t).to(device)
                for t in (self.h_low, self.h_high, self.v_low, self.v_high))
        return self._torch[key]


class EdgeFilter:
    """
    Flags flying pixels (depth ramps) of depth maps; see the module docstring.

    Thresholds are cached for the last camera and angle, and small scratch buffers
    (one band of rows) per thread, shared by every filter of the process (a thread
    runs one filter at a time: the node's cameras, one after the other), so calling
    :meth:`mask` on every frame of one camera costs only the per-frame arithmetic.
    """

    def __init__(self, min_angle_deg: float = DEFAULT_MIN_ANGLE):
        self.min_angle = float(min_angle_deg)
        self._thresholds: Optional[EdgeThresholds] = None

    def thresholds(self, intr: Intrinsics) -> EdgeThresholds:
        """Return the thresholds for ``intr`` and the current angle, recomputing on change."""
        cached = self._thresholds
        if cached is None or not cached.matches(intr, self.min_angle):
            cached = self._thresholds = EdgeThresholds(intr, self.min_angle)
        return cached

    def mask(self, depth: np.ndarray, intr: Intrinsics) -> np.ndarray:
        """
        Return an ``H x W`` bool array, True where a pixel of ``depth`` is a flying pixel.

        ``depth`` is float32 metres of the image ``intr`` describes (REP 117:
        NaN invalid, +inf too far; see the module docstring for both).
        """
        z = np.ascontiguousarray(depth, dtype=np.float32)
        if z.shape != (intr.height, intr.width):
            raise ValueError(f'depth is {z.shape[1]}x{z.shape[0]} but the camera is '
                             f'{intr.width}x{intr.height}')
        t = self.thresholds(intr)
        height, width = z.shape
        sx, sy = t.span_x, t.span_y
        out = np.zeros(z.shape, dtype=np.uint8)
        # Bands of rows small enough for the intermediates to stay in the CPU cache.
        rows = max(1, BLOCK_PIXELS // width)
        ratio, rise, fall, both = self._buffers(rows + sy, width)
        for first in range(0, height, rows):
            last = min(height, first + rows)
            if width > 2 * sx:
                self._pairs(z[first:last, :-sx], z[first:last, sx:], t.h_low[first:last],
                            t.h_high[first:last], ratio, rise, fall)
                n = last - first
                up, down = (x[:n * (width - sx)].reshape(n, width - sx) for x in (rise, fall))
                inner = out[first:last, sx:width - sx]
                tmp = both[:n * (width - 2 * sx)].reshape(n, width - 2 * sx)
                cv2.bitwise_and(up[:, :-sx], up[:, sx:], dst=inner)
                cv2.bitwise_and(down[:, :-sx], down[:, sx:], dst=tmp)
                cv2.bitwise_or(inner, tmp, dst=inner)
            # Column pairs (v, v + sy) for the pixels v of this band that have both.
            top, bottom = max(first, sy), min(last, height - sy)
            if bottom > top:
                self._pairs(z[top - sy:bottom], z[top:bottom + sy], t.v_low[top - sy:bottom],
                            t.v_high[top - sy:bottom], ratio, rise, fall)
                n = bottom - top + sy
                up, down = (x[:n * width].reshape(n, width) for x in (rise, fall))
                inner = out[top:bottom]
                tmp = both[:(bottom - top) * width].reshape(bottom - top, width)
                cv2.bitwise_and(up[:-sy], up[sy:], dst=tmp)
                cv2.bitwise_or(inner, tmp, dst=inner)
                cv2.bitwise_and(down[:-sy], down[sy:], dst=tmp)
                cv2.bitwise_or(inner, tmp, dst=inner)
        cv2.bitwise_and(out, 1, dst=out)  # OpenCV's 255 -> 1: a valid numpy bool
        return out.view(bool)

    @staticmethod
    def _pairs(first, second, low, high, ratio, rise, fall) -> None:
        """Write ``first / second`` and where it rises (< low) and falls (> high), flat."""
        shape = first.shape
        n = shape[0] * shape[1]
        r, up, down = (x[:n].reshape(shape) for x in (ratio, rise, fall))
        cv2.divide(first, second, dst=r)
        cv2.compare(r, low, cv2.CMP_LT, dst=up)
        cv2.compare(r, high, cv2.CMP_GT, dst=down)

    def _buffers(self, rows: int, width: int) -> Tuple[np.ndarray, ...]:
        """Return this thread's flat scratch buffers (ratio, rise, fall, both), a band or more."""
        scratch = _SCRATCH
        size = rows * width
        if getattr(scratch, 'size', 0) < size:  # cameras of other sizes: the largest band
            scratch.buffers = (np.empty(size, np.float32), np.empty(size, np.uint8),
                               np.empty(size, np.uint8), np.empty(size, np.uint8))
            scratch.size = size
        return scratch.buffers

    def apply(self, depth: np.ndarray, intr: Intrinsics) -> np.ndarray:
        """Return a float32 copy of ``depth`` with its flying pixels set to NaN."""
        z = np.array(depth, dtype=np.float32, copy=True)
        z[self.mask(z, intr)] = np.nan
        return z

    def mask_torch(self, depth, intr: Intrinsics):
        """
        Return :meth:`mask` of an ``H x W`` float32 torch tensor, computed on its device.

        The same IEEE float32 division and comparisons as the numpy version, so
        both give the same mask.
        """
        import torch

        if tuple(depth.shape) != (intr.height, intr.width):
            raise ValueError(f'depth is {depth.shape[1]}x{depth.shape[0]} but the camera is '
                             f'{intr.width}x{intr.height}')
        z = depth.to(torch.float32)
        t = self.thresholds(intr)
        h_low, h_high, v_low, v_high = t.torch_tensors(z.device)
        height, width = z.shape
        sx, sy = t.span_x, t.span_y
        out = torch.zeros(z.shape, dtype=torch.bool, device=z.device)
        if width > 2 * sx:
            r = z[:, :-sx] / z[:, sx:]
            up, down = r < h_low, r > h_high
            out[:, sx:width - sx] = (up[:, :-sx] & up[:, sx:]) | (down[:, :-sx] & down[:, sx:])
        if height > 2 * sy:
            r = z[:-sy] / z[sy:]
            up, down = r < v_low, r > v_high
            out[sy:height - sy] |= (up[:-sy] & up[sy:]) | (down[:-sy] & down[sy:])
        return out
