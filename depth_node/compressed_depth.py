# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
Compressed depth outputs: image_transport's ``compressedDepth`` and JPEG colourised depth.

Without rclpy. :class:`CompressedDepthEncoder` turns the payload of
``depth/image`` (32FC1 metres or 16UC1 millimetres, as the node publishes it)
into the ``format`` and ``data`` of a sensor_msgs/CompressedImage in the wire
format of compressed_depth_image_transport (ros-perception/image_transport_plugins,
``codec.cpp``), so that its subscriber plugin, ``republish``, rqt and rosbag2
tools decode it. :func:`encode_jpeg` does the same for ``depth/colored`` with
compressed_image_transport's format. :func:`decode_compressed_depth` reads
such messages back (the offline tools use it).

The wire format (``data`` = a 12-byte ``ConfigHeader`` + the image stream):

- ``format``: ``'<encoding>; compressedDepth png'`` or ``'...; compressedDepth rvl'``
  as Jazzy and later write (4.0.0 and later). Humble and Iron (2.x, 3.x) write
  ``'<encoding>; compressedDepth'`` and decode PNG only; their decoder reads the
  encoding before ``;`` and ignores the rest, so the ``png`` form decodes on
  every release and RVL needs Jazzy or later.
- ``ConfigHeader``: int32 ``format`` (0 = ``INV_DEPTH``), float32
  ``depthParam[2]``, native (little-endian) byte order, no padding.
- 32FC1: inverse depth quantised to uint16, ``q = A / depth + B`` with
  ``A = z0 (z0 + 1)``, ``B = 1 - A / depth_max`` (``z0`` =
  ``depth_quantization``), ``depthParam = (A, B)``; the decoder computes
  ``depth = A / (q - B)`` and NaN for ``q = 0``. 16UC1: the millimetres as
  they are (``depthParam`` unused; zero here).
- Stream: a 16-bit greyscale PNG (here with zlib's RLE strategy, which
  upstream does not set; decoders do not care), or RVL (Wilson 2017): 8
  bytes of uint32 ``cols``, ``rows`` then 32-bit little-endian words of 4-bit
  variable-length codes (3 data bits + a continuation bit, most significant
  nibble first): per run a count of zeros, a count of non-zeros, then each
  non-zero value as the zigzag code of its difference to the previous one.

What the round trip does with a 32FC1 pixel (``depth_max`` 100 m and ``z0`` 100
by default: ``A`` = 10100, ``B`` = -100):

- ``near_limit <= depth < depth_max``: the depth within half a quantisation
  step (``|A / decoded - A / depth| <= 0.5``, i.e. ``depth^2 / (2 A)`` metres:
  0.05 mm at 1 m, 5 mm at 10 m, 0.2 m at 64 m). Upstream's encoder truncates
  (the decoded depth is up to a whole step *farther*); this one rounds.
- ``0 < depth < near_limit`` (``A / (65535 - B)`` = 0.154 m by default): the
  near limit itself, the nearest depth the codec can carry. Upstream's encoder
  converts the out-of-range float to uint16 (undefined in C++; it wraps on
  x86), so such pixels come back at an arbitrary depth there.
- ``depth >= depth_max``, ``+inf`` (REP 117 "too far", Depth Anything 3's sky),
  ``NaN``, ``<= 0``: ``q = 0``, decoded as NaN, as upstream's encoder does: the
  codec has a single "no depth" value, so REP 117's +inf becomes NaN.

16UC1 is lossless (PNG and RVL); millimetres above ``depth_max`` become 0 as
upstream's encoder does (its ``depth_max * 1000`` overflows uint16 above 65.535
m; here the cut is clamped to 65535, so the default cuts nothing).
"""

import array
from dataclasses import dataclass
import math
import struct
from typing import Optional, Tuple

import cv2
import numpy as np

from .errors import BadImageError, ParameterValueError

#: ``format`` suffixes of compressed_depth_image_transport.
TRANSPORT = 'compressedDepth'
FORMAT_CHOICES = ('png', 'rvl')
#: ``ConfigHeader``: int32 compression format (``INV_DEPTH`` = 0) + float32 depthParam[2].
CONFIG_HEADER = struct.Struct('<iff')
INV_DEPTH = 0
#: The ``format`` of compressed_image_transport's JPEG of a bgr8 image.
JPEG_FORMAT = 'bgr8; jpeg compressed bgr8'

#: The defaults of the node's parameters (depth_node/params.py, checked by the tests).
DEFAULT_PNG_LEVEL = 1
DEFAULT_DEPTH_MAX = 100.0
DEFAULT_DEPTH_QUANTIZATION = 100.0
DEFAULT_JPEG_QUALITY = 80
#: zlib's run-length strategy: on a network's depth (smooth, every value different) it
#: compresses smaller than the default strategy at any level, and faster (doc/offboard.md,
#: Compressed outputs); any PNG decoder reads it.
PNG_STRATEGY = cv2.IMWRITE_PNG_STRATEGY_RLE

_BYTES_PER_PIXEL = {'32FC1': 4, '16UC1': 2}
#: Upstream's decoder takes an RVL image of more pixels than 5 per byte of its stream
#: (the 8-byte size included) for corrupt data.
RVL_PIXELS_PER_BYTE = 5


# --------------------------------------------------------------------------- options

@dataclass(frozen=True)
class CompressedDepthOptions:
    """How ``depth/image/compressedDepth`` is encoded (upstream's parameters of the same names)."""

    format: str = 'png'
    png_level: int = DEFAULT_PNG_LEVEL
    #: Metres: 32FC1 depth at or beyond this is NaN after the round trip (16UC1: 0).
    depth_max: float = DEFAULT_DEPTH_MAX
    #: ``z0`` of the inverse-depth quantisation (32FC1): larger = finer steps, farther
    #: near limit.
    depth_quantization: float = DEFAULT_DEPTH_QUANTIZATION

    def __post_init__(self):
        """Raise ParameterValueError for values the codec cannot use."""
        if self.format not in FORMAT_CHOICES:
            raise ParameterValueError(
                f"compressedDepth format must be one of {', '.join(map(repr, FORMAT_CHOICES))}; "
                f'got {self.format!r}')
        if not 0 <= int(self.png_level) <= 9:
            raise ParameterValueError(f'png_level must be within 0..9; got {self.png_level!r}')
        for name in ('depth_max', 'depth_quantization'):
            value = float(getattr(self, name))
            if not (math.isfinite(value) and value > 0.0):
                raise ParameterValueError(f'{name} must be a positive number; got {value!r}')

    @classmethod
    def from_parameters(cls, cfg: dict, prefix: str = 'depth.image.compressedDepth.'):
        """Return the options of the node's parameter values (``cfg``: name -> value)."""
        return cls(format=str(cfg[prefix + 'format']), png_level=int(cfg[prefix + 'png_level']),
                   depth_max=float(cfg[prefix + 'depth_max']),
                   depth_quantization=float(cfg[prefix + 'depth_quantization']))

    @property
    def quantization(self) -> 'Quantization':
        """Return the 32FC1 quantisation of these options."""
        return Quantization.of(self.depth_max, self.depth_quantization)


@dataclass(frozen=True)
class Quantization:
    """The inverse-depth quantisation of 32FC1: ``q = A / depth + B``, ``depth = A / (q - B)``."""

    a: float
    b: float
    depth_max: float

    @classmethod
    def of(cls, depth_max: float, depth_quantization: float) -> 'Quantization':
        """Return ``A``, ``B`` as upstream computes them (in float32) for the header."""
        z0 = np.float32(depth_quantization)
        a = z0 * (z0 + np.float32(1.0))
        b = np.float32(1.0) - a / np.float32(depth_max)
        return cls(float(a), float(b), float(np.float32(depth_max)))

    @property
    def near_limit(self) -> float:
        """Return the nearest depth the codec carries (metres, ``q`` = 65535)."""
        return float(np.float32(self.a) / (np.float32(65535.0) - np.float32(self.b)))

    def step_at(self, depth: float) -> float:
        """Return the quantisation step (metres) at ``depth``: about ``depth^2 / A``."""
        return float(depth) ** 2 / self.a


# --------------------------------------------------------------------------- payloads

@dataclass
class CompressedPayload:
    """The ``format`` and ``data`` of one sensor_msgs/CompressedImage."""

    format: str
    #: ``array.array('B')``, handed to the message without a copy (:mod:`depth_node.msgfill`).
    data: array.array

    def __len__(self) -> int:
        """Return the size of ``data`` in bytes."""
        return len(self.data)


def _pixels(data, height: int, width: int, step: Optional[int], dtype: str) -> np.ndarray:
    """Return an ``H x W`` little-endian view of an image payload (row padding skipped)."""
    itemsize = np.dtype(dtype).itemsize
    step = width * itemsize if step is None else int(step)
    buf = np.frombuffer(data, dtype=np.uint8)
    if height <= 0 or width <= 0 or step < width * itemsize or buf.size < step * height:
        raise BadImageError(
            f'depth payload of {buf.size} bytes does not hold {width}x{height} pixels of '
            f'{itemsize} bytes with step {step}')
    if step == width * itemsize:
        return buf[:step * height].view(dtype).reshape(height, width)
    rows = buf[:step * height].reshape(height, step)[:, :width * itemsize]
    return np.ascontiguousarray(rows).view(dtype).reshape(height, width)


def quantize_inverse_depth(depth: np.ndarray, quant: Quantization) -> np.ndarray:
    """
    Return the uint16 inverse-depth image of a 32FC1 depth map (metres).

    ``round(A / depth + B)`` clamped to 1..65535 for ``0 < depth < depth_max``
    (so a depth nearer than the near limit is the near limit), 0 elsewhere
    (NaN, +inf, beyond ``depth_max``, ``<= 0``).
    """
    depth = np.asarray(depth, dtype=np.float32)
    out = np.zeros(depth.shape, np.uint16)
    with np.errstate(divide='ignore', invalid='ignore', over='ignore'):
        inv = np.divide(np.float32(quant.a), depth)
        inv += np.float32(quant.b) + np.float32(0.5)
        np.clip(inv, 1.0, 65535.0, out=inv)
        valid = depth < np.float32(quant.depth_max)
        valid &= depth > 0
    np.copyto(out, inv, casting='unsafe', where=valid)  # truncating x + 0.5: rounding
    return out


def dequantize_inverse_depth(q: np.ndarray, a: float, b: float) -> np.ndarray:
    """Return the depth (metres, NaN for 0) of an inverse-depth image, as the decoder does."""
    q = np.asarray(q)
    with np.errstate(divide='ignore', invalid='ignore'):
        depth = np.float32(a) / (q.astype(np.float32) - np.float32(b))
    depth[q == 0] = np.nan
    return depth


def _png(image: np.ndarray, level: int) -> np.ndarray:
    ok, stream = cv2.imencode('.png', image, [cv2.IMWRITE_PNG_COMPRESSION, int(level),
                                              cv2.IMWRITE_PNG_STRATEGY, PNG_STRATEGY])
    if not ok:
        raise BadImageError(f'OpenCV could not PNG-encode a {image.shape} {image.dtype} image')
    return stream


def _message_data(header: bytes, stream) -> array.array:
    """Return ``header + stream`` in one ``array.array('B')`` (one copy of the stream)."""
    data = array.array('B', header)
    data.frombytes(memoryview(stream).cast('B'))
    return data


class CompressedDepthEncoder:
    """
    Encode depth payloads as compressed_depth_image_transport messages, one call per frame.

    The node keeps one per camera and calls :meth:`encode_output` for each frame
    while ``depth/image/compressedDepth`` has subscribers; ``options`` may be
    replaced between frames (parameters change at run time).
    """

    def __init__(self, options: Optional[CompressedDepthOptions] = None):
        self.options = options or CompressedDepthOptions()

    def encode_output(self, output) -> CompressedPayload:
        """Return the compressedDepth payload of a :class:`~depth_node.frame.FrameOutput`."""
        intr = output.intrinsics
        return self.encode(output.depth_encoding, intr.height, intr.width, output.depth_data,
                           output.depth_step)

    def encode(self, encoding: str, height: int, width: int, data,
               step: Optional[int] = None) -> CompressedPayload:
        """
        Return the compressedDepth ``format`` and ``data`` of a little-endian depth image.

        ``encoding`` is ``32FC1`` (metres) or ``16UC1`` (millimetres), ``data``
        the image bytes (``step`` per row, default ``width`` pixels). Raises
        BadImageError for other encodings and payloads too short for the size.
        """
        opts = self.options
        if encoding not in _BYTES_PER_PIXEL:
            raise BadImageError(
                f"compressedDepth carries 32FC1 or 16UC1 depth images, not '{encoding}'")
        if encoding == '32FC1':
            quant = opts.quantization
            image = quantize_inverse_depth(_pixels(data, height, width, step, '<f4'), quant)
            header = CONFIG_HEADER.pack(INV_DEPTH, quant.a, quant.b)
        else:
            image = _pixels(data, height, width, step, '<u2')
            cut = min(int(opts.depth_max * 1000.0), 65535)
            if cut < 65535 and bool((image > cut).any()):
                image = np.where(image > cut, np.uint16(0), image)
            header = CONFIG_HEADER.pack(INV_DEPTH, 0.0, 0.0)
        if opts.format == 'rvl':
            stream = rvl_image(image)
        else:
            stream = _png(np.ascontiguousarray(image), opts.png_level)
        return CompressedPayload(f'{encoding}; {TRANSPORT} {opts.format}',
                                 _message_data(header, stream))


def encode_jpeg(bgr: np.ndarray, quality: int = DEFAULT_JPEG_QUALITY) -> CompressedPayload:
    """Return the JPEG CompressedImage payload of a bgr8 image (``depth/colored/compressed``)."""
    bgr = np.ascontiguousarray(bgr, dtype=np.uint8)
    if bgr.ndim != 3 or bgr.shape[2] != 3:
        raise BadImageError(f'JPEG output needs an H x W x 3 bgr8 image, got {bgr.shape}')
    ok, stream = cv2.imencode('.jpg', bgr, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise BadImageError(f'OpenCV could not JPEG-encode a {bgr.shape} image')
    return CompressedPayload(JPEG_FORMAT, _message_data(b'', stream))


# --------------------------------------------------------------------------- RVL

def _vle_nibbles(values: np.ndarray) -> np.ndarray:
    """Return the 4-bit codes of non-negative ``values``: 3 bits each, low bits first."""
    values = values.astype(np.uint32, copy=False)
    counts = np.ones(values.size, np.uint8)
    limit, top = 8, int(values.max()) if values.size else 0
    while limit <= top:
        counts += values >= limit
        limit <<= 3
    first = (values & np.uint32(7)).astype(np.uint8)
    more = counts > 1
    first |= more.view(np.uint8) << 3
    if not more.any():
        return first
    starts = np.cumsum(counts, dtype=np.int64)
    out = np.empty(int(starts[-1]), np.uint8)
    starts -= counts
    out[starts] = first
    j, longer = 1, np.flatnonzero(more)
    while longer.size:
        code = ((values[longer] >> np.uint32(3 * j)) & np.uint32(7)).astype(np.uint8)
        more = counts[longer] > j + 1
        code |= more.view(np.uint8) << 3
        out[starts[longer] + j] = code
        longer = longer[more]
        j += 1
    return out


def rvl_encode(pixels: np.ndarray) -> bytes:
    """
    Return the RVL stream of uint16 ``pixels`` (flattened, row-major), without the size.

    The stream of compressed_depth_image_transport's ``RvlCodec::CompressRVL``:
    32-bit little-endian words, each holding 8 nibbles, the first in the most
    significant bits; the last word is padded with zero nibbles.
    """
    x = np.ascontiguousarray(pixels, dtype=np.uint16).ravel()
    if x.size == 0:
        return b''
    nonzero = x != 0
    change = np.flatnonzero(nonzero[1:] != nonzero[:-1]) + 1
    lengths = np.diff(np.concatenate(([0], change, [x.size])))
    if nonzero[0]:
        lengths = np.concatenate(([0], lengths))  # every pair starts with a zero count
    if lengths.size % 2:
        lengths = np.concatenate((lengths, [0]))  # trailing zeros: no non-zeros after them
    zeros, runs = lengths[0::2], lengths[1::2]
    values = x.take(np.flatnonzero(nonzero)).astype(np.int32)
    delta = np.diff(values, prepend=np.int32(0))
    zigzag = (delta << 1) ^ (delta >> 31)  # as upstream: int32 arithmetic shift
    # Tokens: per pair its zero count, its non-zero count, then its values.
    tokens = np.empty(2 * zeros.size + values.size, np.uint32)
    heads = 2 * np.arange(zeros.size) + np.concatenate(([0], np.cumsum(runs)[:-1]))
    tokens[heads] = zeros
    tokens[heads + 1] = runs
    pair = np.repeat(np.arange(1, zeros.size + 1), runs)
    tokens[np.arange(values.size) + 2 * pair] = zigzag.view(np.uint32)
    nibbles = _vle_nibbles(tokens)
    pad = (-nibbles.size) % 8
    if pad:
        nibbles = np.concatenate((nibbles, np.zeros(pad, np.uint8)))
    pairs = (nibbles[0::2] << 4) | nibbles[1::2]
    return pairs.reshape(-1, 4)[:, ::-1].tobytes()


def rvl_image(image: np.ndarray) -> bytes:
    """
    Return the RVL image stream: uint32 cols, rows, then :func:`rvl_encode`.

    Upstream's decoder refuses a stream of fewer bytes than a fifth of the
    pixels as corrupt, which a frame of mostly invalid depth (long zero runs)
    can be: such a stream is padded with zero words, which the decoder never
    reads (it stops after the last pixel).
    """
    rows, cols = image.shape
    stream = struct.pack('<II', cols, rows) + rvl_encode(image)
    short = -(-rows * cols // RVL_PIXELS_PER_BYTE) - len(stream)
    if short > 0:
        stream += bytes(4 * -(-short // 4))
    return stream


def rvl_decode(stream, num_pixels: int) -> np.ndarray:
    """
    Return ``num_pixels`` uint16 values of an RVL stream (``RvlCodec::DecompressRVL``).

    Raises BadImageError where the stream ends early or its runs do not add up
    to ``num_pixels`` (upstream's decoder would read or write past its buffers).
    """
    raw = np.frombuffer(stream, dtype=np.uint8)
    raw = raw[:raw.size - raw.size % 4]
    pairs = raw.reshape(-1, 4)[:, ::-1].ravel()
    nibbles = np.empty(pairs.size * 2, np.int64)
    nibbles[0::2] = pairs >> 4
    nibbles[1::2] = pairs & 15
    last = np.flatnonzero((nibbles & 8) == 0)
    if last.size == 0:
        raise BadImageError('RVL stream holds no complete value')
    starts = np.concatenate(([0], last[:-1] + 1))
    if int((last - starts).max()) > 10:
        raise BadImageError('RVL stream has a value longer than 32 bits (corrupt data)')
    nibbles = nibbles[:int(last[-1]) + 1]
    offset = np.arange(nibbles.size) - np.repeat(starts, last - starts + 1)
    tokens = np.add.reduceat((nibbles & 7) << (3 * offset), starts)
    seq = tokens.tolist()
    out_runs = []  # (first pixel, first token, count) of each run of non-zero values
    pos, pixel = 0, 0
    while pixel < num_pixels:
        if pos + 1 >= len(seq):
            raise BadImageError(f'RVL stream ends after {pixel} of {num_pixels} pixels')
        zeros, count = seq[pos], seq[pos + 1]
        pos += 2
        pixel += zeros
        if pixel + count > num_pixels or pos + count > len(seq):
            raise BadImageError(
                f'RVL runs do not fit the image ({pixel + count} of {num_pixels} pixels)')
        if count:
            out_runs.append((pixel, pos, count))
        pixel += count
        pos += count
    if pixel != num_pixels:
        raise BadImageError(f'RVL runs cover {pixel} pixels, the image has {num_pixels}')
    out = np.zeros(num_pixels, np.uint16)
    if out_runs:
        first, tok, count = (np.array(v, np.int64) for v in zip(*out_runs))
        total = int(count.sum())
        within = np.arange(total) - np.repeat(np.cumsum(count) - count, count)
        code = tokens[np.repeat(tok, count) + within]
        delta = (code >> 1) ^ -(code & 1)
        out[np.repeat(first, count) + within] = np.cumsum(delta) & 0xFFFF
    return out


# --------------------------------------------------------------------------- decoding

@dataclass
class DecodedDepth:
    """A compressedDepth message decoded: the image as the subscriber plugin returns it."""

    encoding: str
    #: ``H x W`` float32 metres (32FC1, NaN invalid) or uint16 millimetres (16UC1, 0 invalid).
    image: np.ndarray

    def metres(self) -> np.ndarray:
        """Return the depth as float32 metres with NaN where invalid."""
        if self.encoding == '16UC1':
            depth = self.image.astype(np.float32) / np.float32(1000.0)
            depth[self.image == 0] = np.nan
            return depth
        return self.image


def compression_of(fmt: str) -> Tuple[str, str]:
    """Return ``(encoding, 'png'|'rvl')`` of a compressedDepth ``format`` string, as upstream."""
    fmt = str(fmt)
    encoding, sep, rest = fmt.partition(';')
    if not sep:
        return encoding, 'png'
    if f'{TRANSPORT} png' in rest:
        return encoding, 'png'
    if f'{TRANSPORT} rvl' in rest:
        return encoding, 'rvl'
    if TRANSPORT in rest and f'{TRANSPORT} ' not in rest:
        return encoding, 'png'
    raise BadImageError(f"unsupported compressedDepth format '{fmt}'")


def decode_compressed_depth(fmt: str, data) -> DecodedDepth:
    """
    Decode the ``format`` and ``data`` of a compressedDepth CompressedImage.

    Accepts what every release of compressed_depth_image_transport writes
    (``'32FC1; compressedDepth'``, ``'...; compressedDepth png'``, ``'...
    rvl'``). Raises BadImageError for anything that does not decode.
    """
    encoding, method = compression_of(fmt)
    encoding = encoding.strip()
    if encoding not in _BYTES_PER_PIXEL:
        raise BadImageError(f"compressedDepth image of encoding '{encoding}': not 32FC1 or 16UC1")
    raw = np.frombuffer(data, dtype=np.uint8)
    if raw.size <= CONFIG_HEADER.size:
        raise BadImageError(f'compressedDepth data of {raw.size} bytes holds no image')
    _, a, b = CONFIG_HEADER.unpack(raw[:CONFIG_HEADER.size].tobytes())
    stream = raw[CONFIG_HEADER.size:]
    if method == 'rvl':
        if stream.size < 8:
            raise BadImageError('RVL image without its size')
        cols, rows = struct.unpack('<II', stream[:8].tobytes())
        pixels = rows * cols
        if rows == 0 or cols == 0 or pixels > min(2**31 - 1, stream.size * RVL_PIXELS_PER_BYTE):
            raise BadImageError(f'malformed RVL image: it reports {cols}x{rows} pixels '
                                f'in {stream.size} bytes')
        image = rvl_decode(stream[8:], pixels).reshape(rows, cols)
    else:
        try:
            image = cv2.imdecode(stream, cv2.IMREAD_UNCHANGED)
        except cv2.error as exc:
            raise BadImageError(f'compressedDepth PNG does not decode: {exc}') from None
        if image is None or image.dtype != np.uint16 or image.ndim != 2:
            raise BadImageError('compressedDepth data is not a 16-bit greyscale PNG')
    if encoding == '32FC1':
        return DecodedDepth(encoding, dequantize_inverse_depth(image, a, b))
    return DecodedDepth(encoding, image)
