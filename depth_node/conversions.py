# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
sensor_msgs fields <-> numpy, without rclpy.

Functions take any object with the message's attributes (a real
``sensor_msgs.msg.Image`` or a ``types.SimpleNamespace`` in tests) and raise
:class:`~depth_node.errors.BadImageError` for input that cannot be used.
Reading is zero-copy where the layout allows (``np.frombuffer``); writing makes
exactly one copy into an ``array.array('B')``, the type rclpy stores without
conversion.
"""

from typing import Optional, Tuple

import numpy as np

from .buffers import band_rows, copy_where, ReusableBuffer, row_bands, take
from .errors import BadImageError

#: Colour encodings accepted on the image topic: channels and RGB channel order.
COLOR_ENCODINGS = {
    'rgb8': (3, (0, 1, 2)),
    'bgr8': (3, (2, 1, 0)),
    'rgba8': (4, (0, 1, 2)),
    'bgra8': (4, (2, 1, 0)),
    'mono8': (1, (0, 0, 0)),
}

#: Encodings that carry depth or other non-colour data (REP 118 and friends).
DEPTH_LIKE_ENCODINGS = ('16UC1', '32FC1', 'mono16', '16SC1', '32SC1', '64FC1')


def image_to_array(msg) -> Tuple[np.ndarray, Tuple[int, int, int]]:
    """
    Return ``(pixels, rgb_order)`` for an Image message.

    ``pixels`` is an ``H x W x C`` uint8 view of ``msg.data`` (row padding given
    by ``step`` is skipped without copying); ``rgb_order`` gives the channel
    indices of red, green and blue, so BGR and mono are turned into RGB later,
    on the inference device.
    """
    encoding = str(msg.encoding)
    if encoding not in COLOR_ENCODINGS:
        if encoding in DEPTH_LIKE_ENCODINGS:
            raise BadImageError(
                f"image encoding '{encoding}' is a depth/16-bit encoding; depth_node needs a "
                f"colour image ({', '.join(COLOR_ENCODINGS)})")
        raise BadImageError(
            f"unsupported image encoding '{encoding}'; supported: {', '.join(COLOR_ENCODINGS)}")
    channels, order = COLOR_ENCODINGS[encoding]
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if height <= 0 or width <= 0:
        raise BadImageError(f'empty image ({width}x{height})')
    row_bytes = width * channels
    if step < row_bytes:
        raise BadImageError(
            f'image step {step} is smaller than one row ({width} px x {channels} B = {row_bytes})')
    data = msg.data
    size = len(data)
    needed = step * (height - 1) + row_bytes
    if size < needed:
        raise BadImageError(
            f'image data has {size} bytes, {width}x{height} {encoding} with step {step} '
            f'needs {step * height}')
    buf = np.frombuffer(data, dtype=np.uint8)
    pixels = np.lib.stride_tricks.as_strided(
        buf, shape=(height, width, channels), strides=(step, channels, 1), writeable=False)
    return pixels, order


def rgb_from_array(pixels: np.ndarray, order: Tuple[int, int, int]) -> np.ndarray:
    """Return a contiguous ``H x W x 3`` RGB uint8 copy of ``pixels`` (for CPU-side users)."""
    if tuple(order) == (0, 1, 2) and pixels.shape[2] == 3:
        return np.ascontiguousarray(pixels)
    return np.ascontiguousarray(pixels[:, :, list(order)])


def depth_to_image_fields(depth: np.ndarray, encoding: str = '32FC1',
                          buffer: Optional[ReusableBuffer] = None):
    """
    Encode a metric depth map (float metres, NaN/<=0 invalid) as REP 118 image fields.

    Returns ``(encoding, step, data)``: ``32FC1`` keeps metres with NaN for
    invalid pixels; ``16UC1`` stores millimetres with 0 for invalid (and for
    depth beyond 65.535 m, which 16 bits cannot hold). Little-endian, as every
    ROS platform is. ``data`` is ``buffer``'s when given (reused while nothing
    holds the previous frame's, :class:`~depth_node.buffers.ReusableBuffer`),
    else a new one; every byte of it is written, band by band.
    """
    depth = np.asarray(depth, dtype=np.float32)
    if depth.ndim != 2:
        raise ValueError(f'depth must be H x W, got shape {depth.shape}')
    height, width = depth.shape
    if encoding not in ('32FC1', '16UC1'):
        raise ValueError(f"depth encoding must be '32FC1' or '16UC1', got {encoding!r}")
    size = 4 if encoding == '32FC1' else 2
    # Written straight into the message's buffer: no temporary, no second copy.
    data = take(buffer, depth.size * size)
    out = np.frombuffer(data, dtype='<f4' if size == 4 else '<u2').reshape(depth.shape)
    rows = band_rows(width)
    mask = np.empty((rows, width), dtype=bool)
    mm = np.empty((rows, width), dtype=np.float32) if size == 2 else None
    with np.errstate(invalid='ignore'):
        for first, end in row_bands(height, width):
            z, o, m = depth[first:end], out[first:end], mask[:end - first]
            if size == 4:
                np.greater(z, 0, out=m)
                o.fill(np.float32(np.nan))
                copy_where(z, m, o)
                continue
            t = mm[:end - first]
            np.multiply(z, 1000.0, out=t)
            np.rint(t, out=t)
            np.greater(t, 0, out=m)
            m &= t <= 65535
            o[...] = 0
            np.copyto(o, t, casting='unsafe', where=m)
    return encoding, width * size, data


#: Largest depth a 16UC1 image can carry, metres (65535 mm).
MAX_16UC1_DEPTH = 65.535


def millimetres(depth: np.ndarray):
    """
    Return ``(mm, valid)`` of float metres as 16UC1 carries them.

    ``mm`` is the depth in whole millimetres (float32, rounded half to even);
    ``valid`` is True where that is 1..65535, the pixels a 16UC1 image holds a
    depth for. Everything else (NaN, +-inf, <= 0.5 mm, beyond 65.535 m) is 0
    there: no depth (REP 118).
    """
    with np.errstate(invalid='ignore', over='ignore'):
        mm = np.rint(np.asarray(depth, dtype=np.float32) * 1000.0)
        return mm, (mm > 0) & (mm <= 65535)


def image_fields_to_depth(msg) -> np.ndarray:
    """
    Decode a 32FC1 (metres) or 16UC1 (millimetres) depth image into float32 metres.

    Invalid pixels become NaN; used by tests and the offline tools.
    """
    encoding = str(msg.encoding)
    dtypes = {'32FC1': np.float32, '16UC1': np.uint16}
    if encoding not in dtypes:
        raise BadImageError(f"not a depth encoding: '{encoding}'")
    dtype = np.dtype(dtypes[encoding]).newbyteorder('>' if msg.is_bigendian else '<')
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    buf = np.frombuffer(msg.data, dtype=np.uint8)
    rows = buf[:step * height].reshape(height, step)[:, :width * dtype.itemsize]
    values = np.ascontiguousarray(rows).view(dtype).reshape(height, width)
    if encoding == '16UC1':
        out = values.astype(np.float32) / 1000.0
        out[values == 0] = np.nan
        return out
    out = values.astype(np.float32)
    out[~(out > 0)] = np.nan
    return out


#: sensor_msgs/PointField datatypes used here.
POINTFIELD_FLOAT32 = 7
_POINTFIELD_DTYPES = {1: 'i1', 2: 'u1', 3: 'i2', 4: 'u2', 5: 'i4', 6: 'u4', 7: 'f4', 8: 'f8'}


def cloud_to_structured(msg) -> np.ndarray:
    """
    View a PointCloud2's data as a structured numpy array of shape ``(height, width)``.

    Zero-copy (``np.frombuffer``); honours ``point_step``, ``row_step`` and
    ``is_bigendian``. Fields of ``count`` 1 only, which is what clouds use.
    """
    endian = '>' if msg.is_bigendian else '<'
    dtype = np.dtype({
        'names': [f.name for f in msg.fields],
        'formats': [endian + _POINTFIELD_DTYPES[f.datatype] for f in msg.fields],
        'offsets': [f.offset for f in msg.fields],
        'itemsize': msg.point_step,
    })
    buf = np.frombuffer(msg.data, dtype=np.uint8)
    height, width = int(msg.height), int(msg.width)
    rows = buf[:msg.row_step * height].reshape(height, msg.row_step)
    return np.ascontiguousarray(rows[:, :width * msg.point_step]).view(dtype).reshape(
        height, width)


def unpack_rgb(packed: np.ndarray) -> np.ndarray:
    """Unpack PCL's rgb float32 (bytes of uint32 0x00RRGGBB) into ``N x 3`` uint8."""
    value = np.ascontiguousarray(packed, dtype=np.float32).view(np.uint32)
    return np.stack([(value >> 16) & 0xFF, (value >> 8) & 0xFF, value & 0xFF],
                    axis=-1).astype(np.uint8)
