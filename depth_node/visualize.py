# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
Depth maps as colour images, without matplotlib.

The colormap is Turbo (Anton Mikhailov, Copyright 2019 Google LLC,
Apache-2.0), perceptually smoother than jet: 33 control points of its published
256-entry table, linearly interpolated (within 3/255 of the full table). Near
is red, far is blue; invalid pixels (NaN, infinite, zero or negative) are black.
"""

import math
from pathlib import Path
import sys
from typing import Optional, Sequence, Tuple, Union

import cv2
import numpy as np
from PIL import Image

# Every 8th entry (0, 8, ..., 128, 135, ..., 247, 255) of the 256-entry Turbo table, RGB.
_TURBO_POINTS = np.array([
    [48, 18, 59], [57, 42, 115], [64, 64, 162], [68, 86, 199], [70, 107, 227],
    [70, 128, 246], [66, 148, 255], [55, 168, 250], [40, 188, 235], [28, 205, 216],
    [24, 221, 194], [31, 233, 175], [50, 242, 152], [78, 249, 125], [109, 254, 98],
    [139, 255, 75], [164, 252, 60], [183, 247, 53], [203, 237, 52], [221, 224, 55],
    [236, 209, 58], [247, 193, 58], [253, 174, 53], [254, 153, 44], [251, 129, 34],
    [245, 105, 24], [236, 83, 15], [225, 65, 9], [210, 49, 5], [193, 35, 2],
    [172, 23, 1], [149, 13, 1], [122, 4, 3],
], dtype=np.float64) / 255.0
_TURBO_X = np.round(np.linspace(0.0, 255.0, len(_TURBO_POINTS))) / 255.0

#: Percentiles of the valid depths used as the colour range when none is given.
ROBUST_PERCENTILES = (2.0, 98.0)


def turbo(x: np.ndarray) -> np.ndarray:
    """Return Turbo colours (float RGB in [0, 1], shape ``x.shape + (3,)``) for ``x`` in [0, 1]."""
    x = np.clip(np.asarray(x, dtype=np.float64), 0.0, 1.0)
    return np.stack([np.interp(x, _TURBO_X, _TURBO_POINTS[:, c]) for c in range(3)], axis=-1)


_TURBO_LUT = np.round(turbo(np.linspace(0.0, 1.0, 256)) * 255.0).astype(np.uint8)


def depth_range(depth_m: np.ndarray,
                percentiles: Tuple[float, float] = ROBUST_PERCENTILES) -> Tuple[float, float]:
    """
    Return a robust ``(vmin, vmax)`` of the valid depths: the given percentiles.

    The percentiles of every finite, positive pixel, exactly as ``np.percentile``
    (linear interpolation) computes them (:func:`valid_percentiles`). Returns
    ``(0.0, 1.0)`` when no pixel is valid, and widens an empty range slightly so
    it can be divided by.
    """
    values = valid_percentiles(depth_m, percentiles)
    if values is None:
        return 0.0, 1.0
    vmin, vmax = values
    if vmax <= vmin:
        vmin, vmax = vmin * 0.99, vmax * 1.01 + 1e-6
    return vmin, vmax


#: Up to this many pixels ``np.percentile`` itself is the fastest way.
_SMALL = 1 << 16
#: Float32 whose upper 16 bits are 0 .. 0x7F7F: +0, the positive finite numbers.
_FINITE_BINS = 0x7F80


def valid_percentiles(depth_m: np.ndarray,
                      percentiles: Sequence[float]) -> Optional[Tuple[float, ...]]:
    """
    Return ``np.percentile`` (linear) of the finite, positive pixels of ``depth_m``, or None.

    Exact at every size. Large float32 maps avoid sorting: the positive finite
    float32 values order as their bit patterns, so a histogram of the upper 16
    bits (OpenCV, one pass) finds, for each order statistic needed, the one bin
    that holds it, and only that bin's pixels are partitioned. About as cheap as
    the percentiles of a 1-in-16 sample of the pixels were.
    """
    depth = np.asarray(depth_m)
    if depth.dtype != np.float32 or depth.ndim != 2 or depth.size <= _SMALL or (
            sys.byteorder != 'little'):
        values = np.asarray(depth, dtype=np.float64)
        values = values[np.isfinite(values) & (values > 0)]
        if values.size == 0:
            return None
        return tuple(float(v) for v in np.percentile(values, percentiles))
    z = np.ascontiguousarray(depth)
    height, width = z.shape
    high = cv2.extractChannel(z.view(np.uint16).reshape(height, width, 2), 1)
    if z.size < 1 << 24:  # calcHist counts in float32: exact below 2^24
        hist = cv2.calcHist([high], [0], None, [_FINITE_BINS], [0, _FINITE_BINS])
        hist = hist.ravel().astype(np.int64)
    else:
        hist = np.bincount(high.ravel(), minlength=1 << 16)[:_FINITE_BINS].astype(np.int64)
    bins = {}

    def values_in(b: int) -> np.ndarray:
        if b not in bins:
            points = cv2.findNonZero(cv2.compare(high, b, cv2.CMP_EQ)).reshape(-1, 2)
            found = z[points[:, 1], points[:, 0]]
            bins[b] = found[found > 0] if b == 0 else found  # bin 0 holds +0 too
        return bins[b]

    if hist[0]:
        hist[0] = values_in(0).size
    cum = np.cumsum(hist)
    n = int(cum[-1])
    if n == 0:
        return None

    def order_statistic(rank: int) -> float:
        b = int(np.searchsorted(cum, rank, side='right'))
        found = values_in(b)
        k = rank - (int(cum[b - 1]) if b else 0)
        return float(np.partition(found, k)[k])

    out = []
    for p in percentiles:
        # numpy's 'linear' method: virtual index (n - 1) q, neighbours, _lerp.
        virtual = (n - 1) * (float(p) / 100.0)
        below = min(int(math.floor(virtual)), n - 1)
        a = order_statistic(below)
        b = order_statistic(min(below + 1, n - 1))
        t = virtual - below
        diff = b - a
        out.append(b - diff * (1.0 - t) if t >= 0.5 else a + diff * t)
    return tuple(out)


def colorize_depth(depth_m: np.ndarray, vmin: Optional[float] = None,
                   vmax: Optional[float] = None) -> np.ndarray:
    """
    Colour a metric depth map: ``H x W`` float metres to ``H x W x 3`` uint8 RGB.

    Depths between ``vmin`` (red) and ``vmax`` (blue) span the Turbo colormap
    and values outside are clamped; missing bounds come from the 2nd and 98th
    percentiles of the valid depths. NaN, infinite and non-positive pixels are
    black.
    """
    depth = np.asarray(depth_m, dtype=np.float32)
    if depth.ndim != 2:
        raise ValueError(f'depth must be H x W, got shape {depth.shape}')
    if vmin is None or vmax is None:
        auto_min, auto_max = depth_range(depth)
        vmin = auto_min if vmin is None else vmin
        vmax = auto_max if vmax is None else vmax
    if not vmax > vmin:
        raise ValueError(f'vmax ({vmax}) must be greater than vmin ({vmin})')
    valid = np.isfinite(depth) & (depth > 0)
    with np.errstate(invalid='ignore'):
        x = (vmax - depth) / (vmax - vmin)
    index = np.round(np.clip(np.where(valid, x, 0.0), 0.0, 1.0) * 255.0).astype(np.intp)
    rgb = _TURBO_LUT[index]
    rgb[~valid] = 0
    return rgb


def side_by_side(rgb: np.ndarray, depth_rgb: np.ndarray) -> np.ndarray:
    """
    Place two ``H x W x 3`` uint8 images next to each other (input left, depth right).

    If the heights differ, ``depth_rgb`` is resized (nearest neighbour, aspect
    kept) to the height of ``rgb``.
    """
    left = _as_rgb(rgb)
    right = _as_rgb(depth_rgb)
    if right.shape[0] != left.shape[0]:
        height = left.shape[0]
        width = max(1, round(right.shape[1] * height / right.shape[0]))
        rows = (np.arange(height) * right.shape[0] // height)
        cols = (np.arange(width) * right.shape[1] // width)
        right = right[rows[:, None], cols[None, :]]
    return np.concatenate([left, right], axis=1)


def save_png(path: Union[str, Path], rgb: np.ndarray) -> None:
    """Write an ``H x W x 3`` (or ``H x W`` grey) uint8 image as PNG."""
    image = np.ascontiguousarray(rgb)
    if image.dtype != np.uint8 or image.ndim not in (2, 3):
        raise ValueError(f'expected an H x W (x 3) uint8 image, got {image.dtype} '
                         f'{image.shape}')
    Image.fromarray(image).save(str(path), format='PNG')


def _as_rgb(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise ValueError(f'expected a uint8 image, got {image.dtype}')
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f'expected an H x W x 3 image, got shape {image.shape}')
    return image


#: Turbo in BGR order (sensor_msgs ``bgr8``) with a 257th entry, black, for invalid pixels.
_TURBO_LUT_BGR = np.concatenate([_TURBO_LUT[:, ::-1], np.zeros((1, 3), np.uint8)])


def colorize_depth_bgr(depth_m: np.ndarray, vmin: float = 0.0, vmax: float = 0.0) -> np.ndarray:
    """
    Colour a metric depth map for people: ``H x W`` metres to ``H x W x 3`` uint8 BGR.

    The per-frame version of :func:`colorize_depth` for the node's ``depth/colored``
    topic (``bgr8``): the same Turbo colours (near red, far blue, invalid black)
    for the same range, in BGR order. ``vmin``/``vmax`` > 0 fix the range (metres);
    0 takes that bound from the 2nd/98th percentile of all valid depths of the
    frame (:func:`depth_range`, exact). Only two fixed bounds with ``vmax <= vmin``
    are refused (ValueError).
    """
    depth = np.asarray(depth_m, dtype=np.float32)
    if depth.ndim != 2:
        raise ValueError(f'depth must be H x W, got shape {depth.shape}')
    fixed_min, fixed_max = vmin > 0.0, vmax > 0.0
    if not (fixed_min and fixed_max):
        auto_min, auto_max = depth_range(depth)
        vmin = vmin if fixed_min else auto_min
        vmax = vmax if fixed_max else auto_max
        # One bound fixed beyond the frame's other one: a narrow range at the fixed one.
        if fixed_min and not vmax > vmin:
            vmax = vmin * 1.01 + 1e-6
        elif fixed_max and not vmax > vmin:
            vmin = vmax * 0.99
    if not vmax > vmin:
        raise ValueError(f'vmax ({vmax}) must be greater than vmin ({vmin})')
    with np.errstate(invalid='ignore'):
        x = np.subtract(np.float32(vmax), depth)
        np.divide(x, np.float32(vmax - vmin), out=x)
        np.clip(x, 0.0, 1.0, out=x)
        np.multiply(x, np.float32(255.0), out=x)
        np.round(x, out=x)
        index = x.astype(np.uint16)
        # NaN, infinite and non-positive depths are black (the LUT's last entry).
        index[~(np.isfinite(depth) & (depth > 0.0))] = 256
    return np.take(_TURBO_LUT_BGR, index, axis=0)
