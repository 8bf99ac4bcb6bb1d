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

The test is geometric, per pair of adjacent pixels. Back-project both pixels and
take the segment between the two points: on a real surface it crosses the line
of sight at a clear angle; inside a blurred edge it runs almost along the line of
sight, because the depth changes much faster than the pixel spacing. A segment
within ``min_angle`` of the line of sight is a *discontinuity*. A pixel is
invalid when both of its segments along its row, or both along its column, are
discontinuities: it lies inside a depth ramp. The last pixel of a real surface
next to a ramp keeps one good segment and stays.

In numbers: for two horizontal neighbours at depths ``z0`` (pixel u) and ``z1``
(pixel u + 1), with ``a = (u - cx) / fx``, ``b = (v - cy) / fy`` and
``R = 1 + a^2 + b^2``, the segment is a discontinuity when the relative depth
jump ``q = (z1 - z0) / z1`` leaves the interval::

    -a / (R fx)  +-  sqrt(1 + b^2) cot(min_angle) / (R fx)

(for vertical neighbours swap a and b, fx and fy). At the optical centre this is
simply ``|z1 - z0| / z1 > cot(min_angle) / fx``: with fx = 525 px and the default
10 degrees, a jump of more than 1.08 % between adjacent pixels. Because the
bound scales with the focal length, the filter behaves the same at any image
resolution (a blur over N network pixels stays the same angle after resizing).

Surfaces that the camera really sees within ``min_angle`` of edge-on (a floor
far away, a wall along the line of sight) fail the same test and are removed
too: their depth is the least reliable anyway. The thresholds are computed once
per camera; a frame costs about ten vectorised array operations (numpy, or
torch on the inference device with :meth:`EdgeFilter.mask_torch`).
"""

import math
from typing import Dict, Optional, Tuple

import numpy as np

from .geometry import Intrinsics

#: Default smallest angle (degrees) between a surface and the line of sight that is kept.
DEFAULT_MIN_ANGLE = 10.0


class EdgeThresholds:
    """
    Per-pixel bounds of the relative depth jump for one camera and angle.

    ``h_mid``/``h_half`` (``H x (W-1)``) bound the jump from pixel (v, u) to
    (v, u + 1); ``v_mid``/``v_half`` (``(H-1) x W``) from (v, u) to (v + 1, u).
    A pair is a discontinuity where ``|q - mid| > half`` with
    ``q = (z_next - z) / z_next``.
    """

    def __init__(self, intr: Intrinsics, min_angle_deg: float):
        if not 0.0 < min_angle_deg < 90.0:
            raise ValueError(f'min_angle must be within (0, 90) degrees; got {min_angle_deg}')
        self.intrinsics = intr
        self.min_angle = float(min_angle_deg)
        cot = 1.0 / math.tan(math.radians(min_angle_deg))
        a = (np.arange(intr.width, dtype=np.float64) - intr.cx) / intr.fx
        b = (np.arange(intr.height, dtype=np.float64) - intr.cy) / intr.fy
        # Horizontal pairs: the ray of the left pixel of each pair.
        ah, bh = a[None, :-1], b[:, None]
        r2 = 1.0 + ah * ah + bh * bh
        self.h_mid = (-ah / (r2 * intr.fx)).astype(np.float32)
        self.h_half = (np.sqrt(1.0 + bh * bh) * cot / (r2 * intr.fx)).astype(np.float32)
        # Vertical pairs: the ray of the upper pixel; a and b swap roles.
        av, bv = a[None, :], b[:-1, None]
        r2 = 1.0 + av * av + bv * bv
        self.v_mid = (-bv / (r2 * intr.fy)).astype(np.float32)
        self.v_half = (np.sqrt(1.0 + av * av) * cot / (r2 * intr.fy)).astype(np.float32)
        self._torch: Dict[object, Tuple[object, ...]] = {}

    def matches(self, intr: Intrinsics, min_angle_deg: float) -> bool:
        """Whether these thresholds were computed for ``intr`` and ``min_angle_deg``."""
        return self.intrinsics == intr and self.min_angle == float(min_angle_deg)

    def torch_tensors(self, device) -> Tuple[object, ...]:
        """Return ``(h_mid, h_half, v_mid, v_half)`` as float32 tensors on ``device`` (cached)."""
        import torch

        key = str(device)
        if key not in self._torch:
            self._torch[key] = tuple(
                torch.from_numpy(t).to(device)
                for t in (self.h_mid, self.h_half, self.v_mid, self.v_half))
        return self._torch[key]


class EdgeFilter:
    """
    Flags flying pixels (depth discontinuities) of depth maps; see the module docstring.

    Thresholds are cached for the last camera and angle, so calling :meth:`mask`
    on every frame of one camera costs only the per-frame arithmetic.
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

        ``depth`` is float32 metres (REP 117: NaN invalid) of the image ``intr``
        describes. Pairs with an invalid pixel (NaN) are never discontinuities,
        so an invalid pixel does not spread.
        """
        z = np.asarray(depth, dtype=np.float32)
        if z.shape != (intr.height, intr.width):
            raise ValueError(f'depth is {z.shape[1]}x{z.shape[0]} but the camera is '
                             f'{intr.width}x{intr.height}')
        t = self.thresholds(intr)
        out = np.zeros(z.shape, dtype=bool)
        with np.errstate(invalid='ignore', divide='ignore'):
            h = _discontinuities(z[:, 1:], z[:, :-1], t.h_mid, t.h_half)
            out[:, 1:-1] = h[:, :-1] & h[:, 1:]
            v = _discontinuities(z[1:, :], z[:-1, :], t.v_mid, t.v_half)
            out[1:-1, :] |= v[:-1] & v[1:]
        return out

    def apply(self, depth: np.ndarray, intr: Intrinsics) -> np.ndarray:
        """Return a float32 copy of ``depth`` with its flying pixels set to NaN."""
        z = np.array(depth, dtype=np.float32, copy=True)
        z[self.mask(z, intr)] = np.nan
        return z

    def mask_torch(self, depth, intr: Intrinsics):
        """
        Return :meth:`mask` of an ``H x W`` float32 torch tensor, computed on its device.

        The same arithmetic in the same order as the numpy version (IEEE float32),
        so both give the same mask.
        """
        import torch

        if tuple(depth.shape) != (intr.height, intr.width):
            raise ValueError(f'depth is {depth.shape[1]}x{depth.shape[0]} but the camera is '
                             f'{intr.width}x{intr.height}')
        z = depth.to(torch.float32)
        h_mid, h_half, v_mid, v_half = self.thresholds(intr).torch_tensors(z.device)
        out = torch.zeros(z.shape, dtype=torch.bool, device=z.device)
        h = ((z[:, 1:] - z[:, :-1]) / z[:, 1:] - h_mid).abs() > h_half
        out[:, 1:-1] = h[:, :-1] & h[:, 1:]
        v = ((z[1:, :] - z[:-1, :]) / z[1:, :] - v_mid).abs() > v_half
        out[1:-1, :] |= v[:-1] & v[1:]
        return out


def _discontinuities(z_next: np.ndarray, z: np.ndarray, mid: np.ndarray,
                     half: np.ndarray) -> np.ndarray:
    """Return ``|(z_next - z) / z_next - mid| > half``, with one temporary array."""
    q = np.subtract(z_next, z)
    np.divide(q, z_next, out=q)
    np.subtract(q, mid, out=q)
    np.abs(q, out=q)
    return np.greater(q, half)
