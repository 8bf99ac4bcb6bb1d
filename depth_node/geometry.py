# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
Camera intrinsics, rays and point-cloud packing, without rclpy.

Conventions: REP 103 optical frame (x right, y down, z forward) and REP 118
depth (metres along the optical axis, z). A pixel (u, v) at depth z is the point
``x = (u - cx) z / fx, y = (v - cy) z / fy, z``. Invalid points are NaN (REP 117).
"""

import array
from dataclasses import dataclass
import math
from typing import Optional, Sequence, Tuple

import cv2
import numpy as np

from .buffers import band_rows, copy_where, ReusableBuffer, row_bands
from .conversions import POINTFIELD_FLOAT32, unpack_rgb
from .errors import BadCameraInfoError
from .msgfill import byte_buffer, byte_view


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole intrinsics of an image of ``width`` x ``height`` pixels."""

    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float

    def scaled(self, width: int, height: int) -> 'Intrinsics':
        """
        Return the intrinsics of the same camera resampled to ``width`` x ``height``.

        Pixel centres are kept aligned (the convention of ``cv2.resize`` and of
        ``align_corners=False`` interpolation): ``c' = (c + 0.5) s - 0.5``.
        """
        if (width, height) == (self.width, self.height):
            return self
        sx, sy = width / self.width, height / self.height
        return Intrinsics(width, height, self.fx * sx, self.fy * sy,
                          (self.cx + 0.5) * sx - 0.5, (self.cy + 0.5) * sy - 0.5)

    def decimated(self, n: int) -> 'Intrinsics':
        """
        Return the intrinsics of every ``n``-th pixel in u and v (pixels 0, n, 2n, ...).

        As image_proc's crop_decimate (nearest neighbour: output size
        ``width // n`` x ``height // n``, binning multiplied by ``n``, which
        image_geometry turns into ``fx / n``, ``cx / n``) and resize with scale
        ``1 / n`` (``fx * scale``, ``cx * scale``) do: pixel u' of the output is
        pixel ``n u'`` of the input, so ``cx' = cx / n`` exactly.
        """
        n = int(n)
        if n < 1:
            raise ValueError(f'decimation must be >= 1; got {n}')
        if n == 1:
            return self
        return Intrinsics(self.width // n, self.height // n, self.fx / n, self.fy / n,
                          self.cx / n, self.cy / n)

    def k(self) -> Tuple[float, ...]:
        """Row-major 3x3 camera matrix."""
        return (self.fx, 0.0, self.cx, 0.0, self.fy, self.cy, 0.0, 0.0, 1.0)

    def p(self) -> Tuple[float, ...]:
        """Row-major 3x4 projection matrix of this (rectified, monocular) camera."""
        return (self.fx, 0.0, self.cx, 0.0, 0.0, self.fy, self.cy, 0.0, 0.0, 0.0, 1.0, 0.0)


def intrinsics_from_camera_info(msg) -> Intrinsics:
    """
    Intrinsics of the image described by a CameraInfo message.

    Uses P (the rectified camera, as depth_image_proc and image_geometry do) and
    falls back to K only where P is all zero; applies binning and ROI so the
    result describes the image as published. Raises BadCameraInfoError for
    uncalibrated or non-finite values.
    """
    width, height = int(msg.width), int(msg.height)
    p = [float(v) for v in msg.p]
    k = [float(v) for v in msg.k]
    if any(v != 0.0 for v in p):
        fx, fy, cx, cy = p[0], p[5], p[2], p[6]
        source = 'P'
    else:
        fx, fy, cx, cy = k[0], k[4], k[2], k[5]
        source = 'K'
    if width <= 0 or height <= 0:
        raise BadCameraInfoError(f'camera_info has no image size ({width}x{height})')
    check_camera(fx, fy, cx, cy, width, height, f'camera_info {source}')
    bx = max(int(getattr(msg, 'binning_x', 0)), 1)
    by = max(int(getattr(msg, 'binning_y', 0)), 1)
    roi = getattr(msg, 'roi', None)
    ox = oy = 0
    if roi is not None and int(roi.width) > 0 and int(roi.height) > 0 and (
            int(roi.width), int(roi.height)) != (width, height):
        ox, oy = int(roi.x_offset), int(roi.y_offset)
        if ox + int(roi.width) > width or oy + int(roi.height) > height:
            raise BadCameraInfoError(
                f'camera_info roi {int(roi.width)}x{int(roi.height)} at ({ox}, {oy}) lies '
                f'outside the {width}x{height} sensor')
        width, height = int(roi.width), int(roi.height)
    if bx > width or by > height:
        raise BadCameraInfoError(
            f'camera_info binning {bx}x{by} leaves no pixel of a {width}x{height} image')
    if bx > 1 or by > 1 or ox or oy or (width, height) != (int(msg.width), int(msg.height)):
        return Intrinsics(width // bx, height // by, fx / bx, fy / by,
                          (cx - ox) / bx, (cy - oy) / by)
    return Intrinsics(width, height, fx, fy, cx, cy)


#: Plausible focal lengths, in multiples of the image's larger side: from a field of view of
#: about 179 degrees (0.005) to one of about 0.006 degrees (10000).
FOCAL_RANGE = (0.005, 10000.0)


def check_camera(fx: float, fy: float, cx: float, cy: float, width: int, height: int,
                 source: str = 'camera') -> None:
    """
    Raise BadCameraInfoError unless the intrinsics describe a plausible pinhole camera.

    Focal lengths must be finite, positive and within :data:`FOCAL_RANGE` times the
    image's larger side; the principal point must be finite and within one image
    size of the image (a crop may move it out of the image, not to infinity).
    """
    values = (fx, fy, cx, cy)
    if not all(math.isfinite(v) for v in values):
        raise BadCameraInfoError(f'{source} has non-finite values (fx, fy, cx, cy) = {values}')
    if fx <= 0.0 or fy <= 0.0:
        raise BadCameraInfoError(
            f'{source} has no focal length (fx={fx}, fy={fy}): uncalibrated camera')
    side = max(int(width), int(height), 1)
    low, high = FOCAL_RANGE[0] * side, FOCAL_RANGE[1] * side
    if not (low <= fx <= high and low <= fy <= high):
        raise BadCameraInfoError(
            f'{source} focal length fx={fx:g}, fy={fy:g} px is implausible for a '
            f'{width}x{height} image (expected {low:g} to {high:g} px)')
    if not (-width <= cx <= 2 * width and -height <= cy <= 2 * height):
        raise BadCameraInfoError(
            f'{source} principal point ({cx:g}, {cy:g}) lies far outside the {width}x{height} '
            'image')


def check_image_size(intr: Intrinsics, width: int, height: int) -> None:
    """Raise BadCameraInfoError if ``intr`` describes another resolution than the image."""
    if (intr.width, intr.height) != (width, height):
        raise BadCameraInfoError(
            f'camera_info is for {intr.width}x{intr.height} but the image is {width}x{height}')


class RayGrid:
    """
    Per-pixel ray directions ``((u - cx)/fx, (v - cy)/fy)`` for one camera and stride.

    Computed once per camera; back-projection is then two multiplications per
    pixel. ``points(z)`` returns an ``H' x W' x 3`` float32 array.
    """

    def __init__(self, intr: Intrinsics, stride: int = 1):
        self.intrinsics = intr
        self.stride = int(stride)
        u = np.arange(0, intr.width, self.stride, dtype=np.float64)
        v = np.arange(0, intr.height, self.stride, dtype=np.float64)
        self.x = ((u - intr.cx) / intr.fx).astype(np.float32)[None, :]
        self.y = ((v - intr.cy) / intr.fy).astype(np.float32)[:, None]
        self.shape = (v.size, u.size)
        self._flat: Optional[Tuple[np.ndarray, np.ndarray]] = None

    def flat(self) -> Tuple[np.ndarray, np.ndarray]:
        """Return the x and y ray factors of every grid point, flattened (made on first use)."""
        if self._flat is None:
            self._flat = tuple(np.ascontiguousarray(np.broadcast_to(r, self.shape)).reshape(-1)
                               for r in (self.x, self.y))
        return self._flat

    def matches(self, intr: Intrinsics, stride: int) -> bool:
        """Whether this grid was built for ``intr`` and ``stride``."""
        return self.intrinsics == intr and self.stride == int(stride)

    def points_into(self, out: np.ndarray, z: np.ndarray) -> np.ndarray:
        """Write x, y, z of depth ``z`` (already strided) into ``out[..., :3]``."""
        np.multiply(self.x, z, out=out[..., 0])
        np.multiply(self.y, z, out=out[..., 1])
        out[..., 2] = z
        return out


def backproject(depth: np.ndarray, intr: Intrinsics) -> np.ndarray:
    """Back-project a full-resolution depth map to ``H x W x 3`` float32 points."""
    return RayGrid(intr).points_into(np.empty(depth.shape + (3,), np.float32), depth)


@dataclass
class CloudData:
    """Everything a sensor_msgs/PointCloud2 needs besides the header."""

    height: int
    width: int
    fields: Sequence[Tuple[str, int, int, int]]  # (name, offset, datatype, count)
    point_step: int
    row_step: int
    data: object  # array.array('B')
    is_dense: bool


def cloud_points(cloud: CloudData) -> Tuple[np.ndarray, Optional[np.ndarray]]:
    """Return ``(xyz N x 3 float32, rgb N x 3 uint8 or None)`` of a cloud payload."""
    nf = cloud.point_step // 4
    values = np.frombuffer(cloud.data, dtype='<f4').reshape(-1, nf)
    names = [f[0] for f in cloud.fields]
    rgb = unpack_rgb(values[:, names.index('rgb')]) if 'rgb' in names else None
    return values[:, :3], rgb


class CloudBuilder:
    """
    Builds PointCloud2 data from depth maps, reusing rays while the camera is unchanged.

    The organized cloud is written into a :class:`~depth_node.buffers.ReusableBuffer`:
    the previous frame's ``msg.data`` again once nothing holds it any more.
    """

    def __init__(self, buffer: Optional[ReusableBuffer] = None):
        self._grid: Optional[RayGrid] = None
        #: The organized cloud's ``msg.data``, reused across frames while nothing holds it
        #: (its own, or one shared with other cameras' builders).
        self.buffer = buffer if buffer is not None else ReusableBuffer()

    def grid(self, intr: Intrinsics, stride: int) -> RayGrid:
        """Return the cached RayGrid for ``intr`` and ``stride``, rebuilding it on change."""
        if self._grid is None or not self._grid.matches(intr, stride):
            self._grid = RayGrid(intr, stride)
        return self._grid

    def build(self, depth: np.ndarray, intr: Intrinsics, rgb: Optional[np.ndarray] = None, *,
              rgb_order: Sequence[int] = (0, 1, 2), stride: int = 1, organized: bool = True,
              min_depth: float = 0.0, max_depth: float = 0.0,
              invalid: Optional[np.ndarray] = None) -> CloudData:
        """
        Back-project ``depth`` (metres, NaN/<=0 invalid, +inf too far) into cloud data.

        ``rgb`` (``H x W x C`` uint8 whose red, green and blue channels are
        ``rgb_order``, so BGR, RGBA and mono need no copy) adds a packed rgb field. Points outside
        ``[min_depth, max_depth]`` (``max_depth`` 0 = no limit) are invalid: NaN in
        an organized cloud, left out of a dense one. So are the pixels where the
        ``H x W`` bool mask ``invalid`` is True (the edge filter's flying pixels).
        """
        grid = self.grid(intr, stride)
        s = grid.stride
        z = depth[::s, ::s] if s > 1 else depth
        if rgb is not None and s > 1:
            rgb = rgb[::s, ::s]
        if invalid is not None and s > 1:
            invalid = invalid[::s, ::s]
        nf = 4 if rgb is not None else 3
        names = ('x', 'y', 'z', 'rgb')[:nf]
        fields = [(name, 4 * i, POINTFIELD_FLOAT32, 1) for i, name in enumerate(names)]
        point_step = 4 * nf
        if organized:
            height, width = grid.shape
            data = self.buffer.take(height * width * point_step)
            _organized_into(byte_view(data, np.float32, grid.shape + (nf,)), grid, z, rgb,
                            rgb_order, invalid, min_depth, max_depth)
            return CloudData(height, width, fields, point_step, point_step * width,
                             data, is_dense=False)
        # Dense: gather the valid points by flat index (one pass each), no boolean
        # indexing of 2-D arrays and no organized intermediate.
        valid = np.empty(z.shape, dtype=bool)
        with np.errstate(invalid='ignore'):
            for first, end in row_bands(*z.shape):
                _valid_into(valid[first:end], z[first:end], min_depth, max_depth,
                            None if invalid is None else invalid[first:end])
        index = np.flatnonzero(valid)
        data, out = _message_buffer((index.size, nf))
        zv = np.take(z, index)
        rx, ry = grid.flat()
        np.multiply(rx.take(index), zv, out=out[:, 0])
        np.multiply(ry.take(index), zv, out=out[:, 1])
        out[:, 2] = zv
        if rgb is not None:
            out.view('<u4')[:, 3] = packed_rgb(rgb, rgb_order).reshape(-1).take(index)
        return CloudData(1, index.size, fields, point_step, point_step * index.size,
                         data, is_dense=True)


def _valid_into(valid: np.ndarray, z: np.ndarray, min_depth: float, max_depth: float,
                invalid: Optional[np.ndarray]) -> None:
    """
    Write into ``valid`` where ``z`` is a point: within the limits, finite, not ``invalid``.

    Call it under ``np.errstate(invalid='ignore')`` (NaN compares False, quietly).
    """
    np.greater(z, max(min_depth, 0.0), out=valid)
    # +inf ("too far", REP 117) is never a point, with or without a limit.
    valid &= z <= max_depth if max_depth > 0.0 else z < np.inf
    if invalid is not None:
        np.greater(valid, invalid, out=valid)  # & ~invalid


def _organized_into(out: np.ndarray, grid: RayGrid, z: np.ndarray, rgb: Optional[np.ndarray],
                    rgb_order: Sequence[int], invalid: Optional[np.ndarray], min_depth: float,
                    max_depth: float) -> None:
    """
    Write every byte of the organized cloud ``out`` (``H x W x nf`` float32), band by band.

    Per band the planes x, y, z (NaN where invalid; NaN depth propagates to x
    and y through the multiplication) and the packed rgb are computed in small
    contiguous arrays, then interleaved into ``out`` by ``cv2.merge``: no
    strided numpy writes into the 16-byte points.
    """
    height, width = z.shape
    rows = band_rows(width)
    valid = np.empty((rows, width), dtype=bool)
    planes = np.empty((3, rows, width), dtype=np.float32)
    raw = None if rgb is None else np.empty((rows, width, 4), dtype=np.uint8)
    nan = np.float32(np.nan)
    with np.errstate(invalid='ignore'):  # NaN compares False, quietly
        for first, end in row_bands(height, width):
            k = end - first
            zb, v = z[first:end], valid[:k]
            x, y, zz = planes[0, :k], planes[1, :k], planes[2, :k]
            _valid_into(v, zb, min_depth, max_depth,
                        None if invalid is None else invalid[first:end])
            zz.fill(nan)
            copy_where(zb, v, zz)
            np.multiply(grid.x, zz, out=x)
            np.multiply(grid.y[first:end], zz, out=y)
            band = out[first:end]
            channels = [x, y, zz]
            if raw is not None:
                channels.append(_packed_rgb_into(raw[:k], rgb[first:end], rgb_order))
            if cv2.merge(channels, band) is not band:  # OpenCV made a new array: never here
                raise RuntimeError('cv2.merge did not write into the cloud buffer')


#: OpenCV conversions that put (channels, red/green/blue order) into bytes B, G, R, A.
_TO_BGRA = {
    (3, (0, 1, 2)): cv2.COLOR_RGB2BGRA,
    (3, (2, 1, 0)): cv2.COLOR_BGR2BGRA,
    (4, (0, 1, 2)): cv2.COLOR_RGBA2BGRA,
    (1, (0, 0, 0)): cv2.COLOR_GRAY2BGRA,
}


def _packed_rgb_into(raw: np.ndarray, pixels: np.ndarray,
                     rgb_order: Sequence[int]) -> np.ndarray:
    """
    Write PCL's packed rgb of ``pixels`` into ``raw`` (``k x W x 4`` uint8); return it as float32.

    Little-endian uint32 ``0x00RRGGBB`` is the bytes B, G, R, 0: OpenCV's
    conversion to BGRA for the usual encodings (then the alpha byte cleared),
    ``cv2.mixChannels`` for any other channel order.
    """
    pixels = _cv_image(pixels)
    channels = pixels.shape[2]
    order = tuple(int(c) for c in rgb_order)
    code = _TO_BGRA.get((channels, order))
    if code is not None:
        if cv2.cvtColor(pixels, code, raw) is not raw:
            raise RuntimeError('cv2.cvtColor did not write into its destination')
    elif channels == 4 and order == (2, 1, 0):
        np.copyto(raw, pixels)
    else:
        red, green, blue = order
        # A negative source index fills zero: the fourth byte.
        cv2.mixChannels([pixels], [raw], [blue, 0, green, 1, red, 2, -1, 3])
        return raw.view(np.float32)[..., 0]
    packed = raw.view(np.uint32)[..., 0]
    np.bitwise_and(packed, np.uint32(0x00FFFFFF), out=packed)
    return raw.view(np.float32)[..., 0]


def _cv_image(pixels: np.ndarray) -> np.ndarray:
    """Return ``pixels`` as OpenCV takes them: itself, or a copy where pixels are not packed."""
    if pixels.strides[-1] == 1 and pixels.strides[-2] == pixels.shape[-1]:
        return pixels
    return np.ascontiguousarray(pixels)


def packed_rgb(pixels: np.ndarray, rgb_order: Sequence[int]) -> np.ndarray:
    """Return PCL's packed rgb (uint32 ``0x00RRGGBB``, little-endian) of every pixel."""
    packed = np.empty(pixels.shape[:2], dtype='<u4')
    _packed_rgb_into(packed.view(np.uint8).reshape(pixels.shape[:2] + (4,)), pixels, rgb_order)
    return packed


def _message_buffer(shape) -> Tuple[array.array, np.ndarray]:
    """
    Return a new ``array.array('B')`` for ``msg.data`` and a float32 view of it in ``shape``.

    The cloud is written straight into the message's own buffer: no second copy.
    """
    data = byte_buffer(4 * int(np.prod(shape)))
    return data, byte_view(data, np.float32, shape)


def decimate(image: np.ndarray, n: int) -> np.ndarray:
    """
    Return every ``n``-th pixel of ``image`` in u and v, as image_proc's crop_decimate.

    A view (no copy) of ``height // n`` x ``width // n`` pixels: rows and columns
    0, n, 2n, ...; trailing pixels that do not fill a whole step are dropped.
    Nearest-neighbour on purpose: averaging would mix depths across edges.
    """
    n = int(n)
    if n < 1:
        raise ValueError(f'decimation must be >= 1; got {n}')
    if n == 1:
        return image
    height, width = image.shape[:2]
    return image[:height // n * n:n, :width // n * n:n]
