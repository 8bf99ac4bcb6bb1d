# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
Anchoring the metric scale to a sparse range sensor: anchors, the robust fit, hold and fallback.

Without rclpy. A robot's range sensor (a depth camera registered to the image, a
ToF, a LiDAR) is right where it measures; the network's depth is dense. Per
frame, the anchors that fall on the image give one global
:class:`~depth_node.correction.Correction` of the prediction, which the frame
path applies to everything downstream (depth image, cloud, scan).

Inputs (:class:`AnchorInput`, one per message):

* ``anchor/depth``, a ``sensor_msgs/Image`` (32FC1 metres or 16UC1 millimetres;
  0, NaN, +-inf and, in 16UC1, 65535 mean "no measurement") in the image's
  optical frame, at any resolution of the same field of view (the image
  resampled by one factor, sizes rounded either way): the anchor pixel
  ``(ua, va)`` is the image pixel nearest to ``u = (ua + 0.5) W / wa - 0.5``,
  ``v = (va + 0.5) H / ha - 0.5`` (half-way: the higher one), pixel centres
  aligned as :meth:`~depth_node.geometry.Intrinsics.scaled` and
  ``cv2.resize`` have them;
* ``anchor/points``, a ``sensor_msgs/PointCloud2`` with float x, y, z in the
  image's optical frame (or in another frame, with the 4x4 transform the node
  looked up with tf2): each point projects to the pixel nearest to
  ``(fx x / z + cx, fy y / z + cy)``; points behind the camera, outside the image
  or not finite are dropped.

The fit (:func:`fit_scale`): one scale ``s``, the one that minimises the mean
absolute relative error ``|s p - a| / a`` of the prediction ``p`` at the
anchors ``a`` (a weighted median of the ratios ``a / p`` with weights ``p / a``;
doc/anchoring.md has the measurements that chose it over the plain median,
an IRLS and a shift in inverse depth). Anchors off the fit by more than a
factor of :data:`INLIER_FACTOR` are outliers and the scale is fitted again
without them. A fit is refused when fewer than ``min_inliers`` anchors agree
with it, when fewer than :data:`MIN_INLIER_FRACTION` of them do (the anchor and
the prediction do not describe the same scene), or when the scale is beyond
``max_correction`` either way (the anchor disagrees with the prediction).

:class:`AnchorStage` is the per-camera state: the last good correction is kept
for ``hold_time`` seconds of image stamps when anchors are missing, stale,
too sparse or refused, then the network's own scale is used; each switch is
one :class:`~depth_node.stream.Event`. :class:`AnchorBuffer` pairs anchors with
images by stamp for the node's subscriptions (and ``depth_node_run``'s bags).
Bad anchor input raises :class:`~depth_node.errors.BadAnchorError` inside the
stage, which turns it into an event: a bad anchor never drops a frame and
never changes the output.
"""

from dataclasses import dataclass, field, replace
import math
import threading
import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .correction import Correction
from .errors import BadAnchorError
from .geometry import Intrinsics
from .stream import Event

#: The anchor inputs and their topics.
ANCHOR_TOPICS = {'depth': 'anchor/depth', 'points': 'anchor/points'}
#: Encodings of ``anchor/depth`` (REP 118).
ANCHOR_ENCODINGS = ('32FC1', '16UC1')
#: Metres: a measured range beyond this is absurd (units? a broken driver).
MAX_RANGE = 1000.0
#: Metres: points nearer to the image plane than this are behind or on the camera.
MIN_Z = 1e-3
#: At most this many anchors per frame enter the fit (every k-th in raster order beyond).
MAX_SAMPLES = 4096
#: An anchor within this factor of the fitted correction is an inlier.
INLIER_FACTOR = 2.0
#: A fit needs at least this fraction of its anchors as inliers.
MIN_INLIER_FRACTION = 0.5
#: Seconds: anchor stamps this far (and 10 stamp tolerances) from the image's are "far off".
FAR_STAMP_S = 1.0
#: Stage states: no anchoring, anchored this frame, a held correction, the network's scale.
STATES = ('off', 'anchored', 'held', 'network')
#: Diagnostic keys of :meth:`AnchorStage.diagnostics`, in order.
DIAGNOSTIC_KEYS = ('anchor.state', 'anchor.scale', 'anchor.inliers', 'anchor.anchors',
                   'anchor.age_s', 'anchor.refused')

_FIELD_DTYPES = {1: 'i1', 2: 'u1', 3: 'i2', 4: 'u2', 5: 'i4', 6: 'u4', 7: 'f4', 8: 'f8'}


def _stamp_ns(header) -> int:
    return int(header.stamp.sec) * 1_000_000_000 + int(header.stamp.nanosec)


@dataclass(frozen=True)
class AnchorInput:
    """
    One anchor message for one frame, as the node (or an offline tool) received it.

    ``msg`` holds the fields of a ``sensor_msgs/Image`` (``kind`` ``'depth'``) or
    ``sensor_msgs/PointCloud2`` (``'points'``): an rclpy or rosbags message or
    any object with those attributes. ``transform`` (4x4, row-major) maps the
    cloud's frame to the image's optical frame when they differ (the node's tf2
    lookup at the cloud's stamp); ``transform_error`` says why there is none.
    """

    kind: str
    msg: object
    transform: Optional[np.ndarray] = None
    transform_error: str = ''

    def __post_init__(self):
        if self.kind not in ANCHOR_TOPICS:
            raise ValueError(f"anchor kind must be one of {', '.join(ANCHOR_TOPICS)}; got "
                             f'{self.kind!r}')

    @property
    def topic(self) -> str:
        """Return the topic the anchor came on (``anchor/depth`` or ``anchor/points``)."""
        return ANCHOR_TOPICS[self.kind]

    @property
    def stamp_ns(self) -> int:
        """Return the stamp of the message's header in nanoseconds."""
        return _stamp_ns(self.msg.header)

    @property
    def frame_id(self) -> str:
        """Return the frame of the message's header."""
        return str(self.msg.header.frame_id)

    def with_transform(self, matrix) -> 'AnchorInput':
        """Return this anchor with the 4x4 transform from its frame to the image's."""
        return replace(self, transform=check_transform(matrix), transform_error='')

    def with_transform_error(self, text: str) -> 'AnchorInput':
        """Return this anchor marked as having no transform to the image's frame (``text``)."""
        return replace(self, transform=None, transform_error=str(text))


@dataclass
class AnchorSamples:
    """Anchors on the image: flat pixel indices (``v * W + u``) and measured depth (m)."""

    index: np.ndarray
    depth: np.ndarray


def needs_transform(anchor: AnchorInput, image_frame_id: str) -> bool:
    """Whether ``anchor`` is a cloud in another frame than the image's (tf2 lookup needed)."""
    return (anchor.kind == 'points' and bool(anchor.frame_id) and bool(image_frame_id)
            and anchor.frame_id != image_frame_id)


def check_transform(matrix) -> np.ndarray:
    """Return ``matrix`` as a float64 4x4 rigid transform; raise BadAnchorError otherwise."""
    m = np.asarray(matrix, dtype=np.float64)
    if m.shape != (4, 4) or not np.all(np.isfinite(m)):
        raise BadAnchorError(f'a cloud transform must be a finite 4x4 matrix; got shape '
                             f'{m.shape}', 'anchor_frame')
    if not np.allclose(m[3], (0.0, 0.0, 0.0, 1.0)) or not np.allclose(
            m[:3, :3] @ m[:3, :3].T, np.eye(3), atol=1e-6):
        raise BadAnchorError('a cloud transform must be rigid (a rotation and a translation)',
                             'anchor_frame')
    return m


def transform_matrix(translation: Sequence[float], rotation: Sequence[float]) -> np.ndarray:
    """
    Return the 4x4 matrix of a translation ``(x, y, z)`` and a quaternion ``(x, y, z, w)``.

    The fields of a ``geometry_msgs/Transform`` (tf2's ``lookup_transform(image
    frame, cloud frame, stamp)``): it maps points of the cloud's frame into the
    image's. The quaternion is normalised.
    """
    x, y, z, w = (float(v) for v in rotation)
    norm = math.sqrt(x * x + y * y + z * z + w * w)
    if not (norm > 0.0 and math.isfinite(norm)):
        raise BadAnchorError(f'a transform rotation must be a non-zero quaternion; got '
                             f'{tuple(rotation)}', 'anchor_frame')
    x, y, z, w = x / norm, y / norm, z / norm, w / norm
    m = np.eye(4)
    m[:3, :3] = (
        (1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)),
        (2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)),
        (2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)))
    m[:3, 3] = [float(v) for v in translation]
    return check_transform(m)


def transform_points(points: np.ndarray, matrix) -> np.ndarray:
    """Return ``N x 3`` points mapped by a 4x4 transform (``p' = R p + t``), float64."""
    m = check_transform(matrix)
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    return pts @ m[:3, :3].T + m[:3, 3]


# ---------------------------------------------------------------------------- anchor/depth

def _bytes(data, topic: str) -> np.ndarray:
    """Return a message's ``data`` as a uint8 array without copying (BadAnchorError if not)."""
    try:
        return np.frombuffer(data, dtype=np.uint8)
    except (TypeError, ValueError) as exc:
        raise BadAnchorError(f'{topic} data is not a byte buffer ({type(data).__name__}: '
                             f'{exc})') from None


def _image_values(msg, topic: str) -> Tuple[np.ndarray, str]:
    """Return the ``ha x wa`` values of a 32FC1/16UC1 image message and its encoding."""
    encoding = str(msg.encoding)
    if encoding not in ANCHOR_ENCODINGS:
        raise BadAnchorError(
            f"{topic} encoding '{encoding}' is not a depth encoding: 32FC1 (metres) or 16UC1 "
            '(millimetres), as REP 118')
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if height <= 0 or width <= 0:
        raise BadAnchorError(f'{topic} is empty ({width}x{height})')
    itemsize = 4 if encoding == '32FC1' else 2
    row = width * itemsize
    if step < row:
        raise BadAnchorError(
            f'{topic} step {step} is smaller than one row ({width} px x {itemsize} B = {row})')
    buf = _bytes(msg.data, topic)
    needed = step * (height - 1) + row
    if buf.size < needed:
        raise BadAnchorError(
            f'{topic} data has {buf.size} bytes, {width}x{height} {encoding} with step {step} '
            f'needs {step * height}')
    dtype = np.dtype('f4' if itemsize == 4 else 'u2').newbyteorder(
        '>' if msg.is_bigendian else '<')
    if step == row:
        values = buf[:height * row].view(dtype).reshape(height, width)
    else:
        rows = np.lib.stride_tricks.as_strided(buf, shape=(height, row), strides=(step, 1))
        values = np.ascontiguousarray(rows).view(dtype).reshape(height, width)
    return values, encoding


def depth_anchor_samples(msg, width: int, height: int,
                         topic: str = ANCHOR_TOPICS['depth']) -> AnchorSamples:
    """
    Return the anchors of a depth image (``anchor/depth``) on a ``width`` x ``height`` image.

    Raises BadAnchorError for another encoding, a size that is not the image's
    field of view resampled, truncated data, no measurement at all, and
    negative or absurd (> :data:`MAX_RANGE`) ranges.
    """
    values, encoding = _image_values(msg, topic)
    ha, wa = values.shape
    if not same_field_of_view(wa, ha, width, height):
        raise BadAnchorError(
            f'{topic} is {wa}x{ha} but the image {width}x{height}: not the image\'s field of '
            f'view at another resolution (factors {width / wa:.3g} in u, {height / ha:.3g} in '
            'v); register the depth to this camera first')
    flat = values.reshape(-1)
    if encoding == '16UC1':
        valid = (flat != 0) & (flat != 65535)
        index = np.flatnonzero(valid)
        if index.size == 0:
            raise BadAnchorError(f'{topic} has no measurement (every pixel 0 or 65535)')
        index = _every_kth(index)
        z = flat[index].astype(np.float64) * 1e-3
    else:
        with np.errstate(invalid='ignore'):
            finite = np.isfinite(flat)
            valid = finite & (flat != 0.0)
        index = np.flatnonzero(valid)
        if index.size == 0:
            nan = int(np.count_nonzero(~finite))
            what = ('every pixel NaN' if nan == flat.size and np.all(np.isnan(flat))
                    else 'every pixel 0' if nan == 0 else 'only 0, NaN and inf')
            raise BadAnchorError(f'{topic} has no measurement ({what})')
        values_valid = flat[index]
        negative = int(np.count_nonzero(values_valid < 0.0))
        absurd = int(np.count_nonzero(values_valid > MAX_RANGE))
        if negative or absurd:
            worst = float(values_valid.min() if negative else values_valid.max())
            raise BadAnchorError(
                f'{topic} has {negative + absurd} {"negative" if negative else "absurd"} '
                f'range(s) (e.g. {worst:g} m; valid: 0 < z <= {MAX_RANGE:g} m, 0 or NaN = none): '
                'refused (units? a signed disparity?)')
        index = _every_kth(index)
        z = flat[index].astype(np.float64)
    va, ua = np.divmod(index, wa)
    u = _nearest((ua + 0.5) * (width / wa) - 0.5, width)
    v = _nearest((va + 0.5) * (height / ha) - 0.5, height)
    return AnchorSamples(v * width + u, z)


def same_field_of_view(wa: int, ha: int, width: int, height: int) -> bool:
    """
    Whether a ``wa`` x ``ha`` grid is a ``width`` x ``height`` image resampled by one factor.

    True when one factor ``f`` gives both sizes within a pixel (``|width / f - wa|
    <= 1`` and the same for the height): each size rounded or truncated either
    way, as resizing an image by a factor does.
    """
    def factors(size: int, n: int) -> Tuple[float, float]:
        return size / (n + 1.0), (size / (n - 1.0) if n > 1 else math.inf)

    (a, b), (c, d) = factors(width, wa), factors(height, ha)
    return max(a, c) <= min(b, d)


def _nearest(coord: np.ndarray, size: int) -> np.ndarray:
    return np.clip(np.floor(coord + 0.5), 0, size - 1).astype(np.int64)


def _every_kth(index: np.ndarray) -> np.ndarray:
    """Return at most :data:`MAX_SAMPLES` of ``index``: every k-th, deterministically."""
    if index.size <= MAX_SAMPLES:
        return index
    return index[::-(-index.size // MAX_SAMPLES)]


# --------------------------------------------------------------------------- anchor/points

def cloud_xyz(msg, topic: str = ANCHOR_TOPICS['points']) -> np.ndarray:
    """
    Return the ``N x 3`` float64 x, y, z of a PointCloud2 message (every point, NaN kept).

    Honours ``point_step``, ``row_step``, ``is_bigendian`` and each field's
    datatype. Raises BadAnchorError for missing fields or truncated data.
    """
    fields = {str(f.name): f for f in msg.fields}
    missing = [n for n in 'xyz' if n not in fields]
    if missing:
        raise BadAnchorError(
            f"{topic} has no {', '.join(missing)} field (fields: "
            f"{', '.join(fields) or 'none'}): not a cloud of points")
    height, width = int(msg.height), int(msg.width)
    point_step, row_step = int(msg.point_step), int(msg.row_step)
    if height * width == 0:
        raise BadAnchorError(f'{topic} has no points ({width}x{height})')
    buf = _bytes(msg.data, topic)
    endian = '>' if msg.is_bigendian else '<'
    out = np.empty((height * width, 3), dtype=np.float64)
    for i, name in enumerate('xyz'):
        f = fields[name]
        code = _FIELD_DTYPES.get(int(f.datatype))
        if code is None:
            raise BadAnchorError(f'{topic} field {name} has unknown datatype {int(f.datatype)}')
        dtype = np.dtype(endian + code)
        offset = int(f.offset)
        end = (height - 1) * row_step + (width - 1) * point_step + offset + dtype.itemsize
        if offset < 0 or offset + dtype.itemsize > point_step or row_step < width * point_step:
            raise BadAnchorError(
                f'{topic} layout is inconsistent (field {name} at offset {offset}, point_step '
                f'{point_step}, row_step {row_step}, width {width})')
        if buf.size < end:
            raise BadAnchorError(
                f'{topic} data has {buf.size} bytes, {width}x{height} points of {point_step} B '
                f'with row_step {row_step} need {row_step * height}')
        view = np.ndarray((height, width), dtype=dtype, buffer=buf, offset=offset,
                          strides=(row_step, point_step))
        out[:, i] = view.reshape(-1)
    return out


def points_anchor_samples(points: np.ndarray, intr: Intrinsics,
                          topic: str = ANCHOR_TOPICS['points']) -> AnchorSamples:
    """
    Return the anchors of ``N x 3`` points in the image's optical frame (``intr``'s camera).

    Non-finite points, points behind the camera (z <= :data:`MIN_Z`) and points
    outside the image are dropped; a point farther than :data:`MAX_RANGE` makes
    the whole cloud refused (BadAnchorError), as does a cloud without a point
    in front of the camera.
    """
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    x, y, z = (np.ascontiguousarray(pts[:, i]) for i in range(3))
    with np.errstate(invalid='ignore', over='ignore'):
        finite = np.isfinite(x) & np.isfinite(y) & np.isfinite(z)
        if not finite.any():
            raise BadAnchorError(f'{topic} has no finite point')
        far = finite & (x * x + y * y + z * z > MAX_RANGE * MAX_RANGE)
        if far.any():
            worst = float(np.abs(pts[np.flatnonzero(far)]).max())
            raise BadAnchorError(
                f'{topic} has {int(np.count_nonzero(far))} point(s) beyond {MAX_RANGE:g} m '
                f'(e.g. {worst:g}): refused (millimetres instead of metres?)')
        front = np.flatnonzero(finite & (z > MIN_Z))
    if front.size == 0:
        raise BadAnchorError(f'{topic} has no point in front of the camera (z > 0 in the '
                             'optical frame: x right, y down, z forward)')
    x, y, z = x.take(front), y.take(front), z.take(front)
    u = np.floor(intr.fx * x / z + intr.cx + 0.5)
    v = np.floor(intr.fy * y / z + intr.cy + 0.5)
    index = np.flatnonzero((u >= 0) & (u < intr.width) & (v >= 0) & (v < intr.height))
    if index.size == 0:
        raise BadAnchorError(f'{topic} has no point inside the {intr.width}x{intr.height} image')
    index = _every_kth(index)
    return AnchorSamples(v.take(index).astype(np.int64) * intr.width
                         + u.take(index).astype(np.int64), z.take(index))


def anchor_samples(anchor: AnchorInput, image_frame_id: str, width: int, height: int,
                   intr: Optional[Intrinsics]) -> AnchorSamples:
    """
    Return the anchors of one anchor message on the frame's image (BadAnchorError if unusable).

    The anchor must be in the image's frame (``''`` on either side counts as the
    same); a cloud in another frame needs its :attr:`AnchorInput.transform`.
    """
    topic = anchor.topic
    frame = anchor.frame_id
    same = not frame or not image_frame_id or frame == image_frame_id
    if anchor.kind == 'depth':
        if not same:
            raise BadAnchorError(
                f"{topic} is in frame '{frame}' but the image in '{image_frame_id}': a depth "
                'anchor must be registered to the image (depth_image_proc register)',
                'anchor_frame')
        return depth_anchor_samples(anchor.msg, width, height, topic)
    if intr is None:
        raise BadAnchorError(f'{topic} needs the camera intrinsics to project the cloud',
                             'anchor_frame')
    if not same and anchor.transform is None:
        if anchor.transform_error:
            raise BadAnchorError(
                f"{topic} is in frame '{frame}' with no transform to '{image_frame_id}': "
                f'{anchor.transform_error}', 'anchor_frame')
        raise BadAnchorError(
            f"{topic} is in frame '{frame}' but the image in '{image_frame_id}': without "
            "tf2_ros a cloud must be in the image's optical frame", 'anchor_frame')
    xyz = cloud_xyz(anchor.msg, topic)
    if not same:
        xyz = transform_points(xyz, anchor.transform)
    return points_anchor_samples(xyz, intr, topic)


# ---------------------------------------------------------------------------- the fit

@dataclass(frozen=True)
class AnchorFit:
    """A fitted correction and its support: anchors with a prediction, inliers among them."""

    correction: Correction
    anchors: int
    inliers: int


def weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    """Return the lower weighted median of ``values`` (positive ``weights``)."""
    order = np.argsort(values, kind='stable')
    cumulative = np.cumsum(weights[order])
    k = int(np.searchsorted(cumulative, 0.5 * cumulative[-1]))
    return float(values[order][min(k, values.size - 1)])


def relative_error_scale(pred: np.ndarray, anchor: np.ndarray) -> float:
    """
    Return the scale ``s`` minimising ``sum |s pred - anchor| / anchor`` over the anchors.

    ``sum (pred / anchor) |s - anchor / pred|`` is minimal at the weighted median
    of the ratios ``anchor / pred`` with weights ``pred / anchor``: the mean
    absolute relative error (AbsRel) at the anchors, as robust as a median (half
    the anchors may be wrong).
    """
    return weighted_median(anchor / pred, pred / anchor)


def fit_scale(pred: np.ndarray, anchor: np.ndarray, *, min_inliers: int,
              max_correction: float, topic: str = 'the anchor') -> AnchorFit:
    """
    Return the robust scale of ``pred`` (the prediction at the anchors) to ``anchor`` (metres).

    Pairs without a finite positive prediction are left out. Raises
    BadAnchorError (kind ``anchor_fit``) when the fit is refused: too sparse,
    too few inliers, or a correction beyond ``max_correction`` either way.
    """
    pred = np.asarray(pred, dtype=np.float64)
    anchor = np.asarray(anchor, dtype=np.float64)
    with np.errstate(invalid='ignore'):
        ok = np.isfinite(pred) & (pred > 0.0) & np.isfinite(anchor) & (anchor > 0.0)
    p, a = pred[ok], anchor[ok]
    n = int(p.size)
    if n < max(int(min_inliers), 1):
        raise BadAnchorError(
            f'{topic}: only {n} anchor(s) fall on predicted pixels (anchor.min_inliers '
            f'{int(min_inliers)}): too sparse, not used', 'anchor_fit')
    scale = relative_error_scale(p, a)
    limit = math.log(INLIER_FACTOR)
    inliers = np.abs(np.log(scale * p / a)) < limit
    if np.any(inliers) and not np.all(inliers):
        scale = relative_error_scale(p[inliers], a[inliers])
        inliers = np.abs(np.log(scale * p / a)) < limit
    count = int(np.count_nonzero(inliers))
    if not (1.0 / max_correction <= scale <= max_correction):
        factor = scale if scale >= 1.0 else 1.0 / scale
        raise BadAnchorError(
            f'{topic} disagrees with the prediction by {factor:.3g}x (scale {scale:.4g}; '
            f'anchor.max_correction {max_correction:g}): refused (units? another camera?)',
            'anchor_fit')
    if count < int(min_inliers):
        raise BadAnchorError(
            f'{topic}: {count} of {n} anchors agree with the fit within a factor of '
            f'{INLIER_FACTOR:g} (anchor.min_inliers {int(min_inliers)}): too few, not used',
            'anchor_fit')
    if count < MIN_INLIER_FRACTION * n:
        raise BadAnchorError(
            f'{topic}: only {count} of {n} anchors agree with the fit within a factor of '
            f'{INLIER_FACTOR:g}: the anchor and the prediction do not describe the same scene '
            '(registration? frame? a broken sensor?), not used', 'anchor_fit')
    return AnchorFit(Correction(scale=scale), n, count)


def gather(depth, index: np.ndarray) -> np.ndarray:
    """
    Return the depth at flat pixel indices, float32 on the host.

    ``depth`` is a host ``H x W`` array, a torch tensor on any device, or a
    :class:`~depth_node.device_payloads.DeviceDepth`: only the indexed values are
    downloaded.
    """
    depth = getattr(depth, 'depth', depth)  # a DeviceDepth's tensor
    if isinstance(depth, np.ndarray):
        return np.asarray(depth, dtype=np.float32).reshape(-1).take(index)
    import torch
    flat = depth.reshape(-1)
    picked = flat[torch.from_numpy(np.ascontiguousarray(index)).to(flat.device)]
    return picked.to('cpu', dtype=torch.float32).numpy()


# ---------------------------------------------------------------------------- per camera

@dataclass(frozen=True)
class AnchorReport:
    """What the anchoring stage did with a frame (``FrameOutput.anchor``)."""

    #: One of :data:`STATES`.
    state: str = 'off'
    #: The correction applied (None: the network's own scale).
    correction: Optional[Correction] = None
    #: Anchors with a prediction, and inliers among them, of the fit in use.
    anchors: int = 0
    inliers: int = 0
    #: Seconds from the anchor of the correction in use to this frame (None: none).
    age_s: Optional[float] = None
    #: Topics the correction in use was fitted to.
    topics: Tuple[str, ...] = ()


@dataclass
class _Good:
    fit: AnchorFit
    time_s: float  # the frame's time when it was fitted
    anchor_s: float  # the anchor's time
    topics: Tuple[str, ...] = field(default_factory=tuple)


class AnchorStage:
    """
    The anchoring stage of one camera (owned by its FrameProcessor).

    Times are the frames' stamps (so the node and the offline tools hold the
    same frames), or ``clock()`` seconds for frames without one.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self.report = AnchorReport()
        #: Anchors refused since start (bad input or a refused fit).
        self.refused = 0
        self._good: Optional[_Good] = None
        self._state = 'off'

    def reset(self) -> None:
        """Forget the held correction (a new input, lifecycle cleanup)."""
        self._good = None
        self._state = 'off'
        self.report = AnchorReport()

    def fit(self, depth, intr: Optional[Intrinsics], prepared) -> Optional[Correction]:
        """Return the anchoring correction of a prepared frame (None: none in use)."""
        return self.update(depth, intr, prepared.opts, prepared.anchors, prepared.stamp_ns,
                           prepared.frame_id, prepared.events, prepared.width,
                           prepared.height)

    def update(self, depth, intr: Optional[Intrinsics], opts, anchors: Sequence[AnchorInput],
               stamp_ns: Optional[int], frame_id: str, events: List[Event],
               width: Optional[int] = None, height: Optional[int] = None
               ) -> Optional[Correction]:
        """
        Fit this frame's anchors to ``depth``; return the correction to apply, or None.

        ``opts`` carries ``anchor_depth``/``anchor_points`` (which inputs are on),
        ``anchor_hold_time``, ``anchor_min_inliers`` and ``anchor_max_correction``.
        Refused anchors and the switches between anchored and the network's
        scale are appended to ``events``.
        """
        enabled = {k for k, on in (('depth', opts.anchor_depth), ('points', opts.anchor_points))
                   if on}
        if not enabled:
            self._state = 'off'
            self.report = AnchorReport()
            return None
        if width is None or height is None:
            height, width = _shape(depth)
        now = stamp_ns * 1e-9 if stamp_ns is not None else self.clock()
        good = self._good
        if good is not None and now < good.time_s:
            good = self._good = None  # time went back (bag loop, restart): nothing to hold
        fit, topics, anchor_s = self._fit(depth, intr, opts, anchors, enabled, frame_id,
                                          width, height, events)
        if stamp_ns is None or anchor_s is None:
            anchor_s = now  # no stamps to compare: the anchor is as old as the frame
        if fit is not None:
            if self._state not in ('anchored', 'held'):
                events.append(Event(
                    'anchor_acquired', 'info',
                    f"anchored to {', '.join(topics)}: scale {fit.correction.scale:.4g} "
                    f'({fit.inliers} of {fit.anchors} anchors agree)'))
            self._good = _Good(fit, now, anchor_s, topics)
            return self._use('anchored', self._good, now)
        hold = float(opts.anchor_hold_time)
        if good is not None and now - good.time_s <= hold:
            return self._use('held', good, now)
        if self._state in ('anchored', 'held'):
            last = f'{now - good.time_s:.1f} s' if good is not None else 'a while'
            events.append(Event(
                'anchor_lost', 'warning',
                f'no usable anchor for {last} (anchor.hold_time {hold:g} s): depth on the '
                "network's own scale until an anchor fits again"))
        self._good = None
        self._state = 'network'
        self.report = AnchorReport('network')
        return None

    def _use(self, state: str, good: _Good, now: float) -> Correction:
        self._state = state
        self.report = AnchorReport(state, good.fit.correction, good.fit.anchors,
                                   good.fit.inliers, max(now - good.anchor_s, 0.0), good.topics)
        return good.fit.correction

    def _fit(self, depth, intr, opts, anchors, enabled, frame_id, width, height, events):
        indices, depths, topics, stamps = [], [], [], []
        for anchor in anchors or ():
            if anchor.kind not in enabled:
                continue
            try:
                samples = anchor_samples(anchor, frame_id, width, height, intr)
            except BadAnchorError as exc:
                self.refused += 1
                events.append(Event(exc.kind, 'warning', str(exc)))
                continue
            except (AttributeError, TypeError, ValueError) as exc:  # not the message type
                self.refused += 1
                events.append(Event('anchor_invalid', 'warning',
                                    f'{anchor.topic}: unusable message ({type(exc).__name__}: '
                                    f'{exc})'))
                continue
            indices.append(samples.index)
            depths.append(samples.depth)
            topics.append(anchor.topic)
            stamps.append(anchor.stamp_ns)
        if not indices:
            return None, (), None
        index = np.concatenate(indices)
        measured = np.concatenate(depths)
        try:
            fit = fit_scale(gather(depth, index), measured,
                            min_inliers=int(opts.anchor_min_inliers),
                            max_correction=float(opts.anchor_max_correction),
                            topic=' + '.join(topics))
        except BadAnchorError as exc:
            self.refused += 1
            events.append(Event(exc.kind, 'warning', str(exc)))
            return None, (), None
        return fit, tuple(topics), max(stamps) * 1e-9

    def diagnostics(self) -> List[Tuple[str, str]]:
        """Return the status values of anchoring (:data:`DIAGNOSTIC_KEYS`, ``n/a`` if none)."""
        r = self.report
        has = r.correction is not None
        return [
            ('anchor.state', r.state),
            ('anchor.scale', f'{r.correction.scale:.4f}' if has else 'n/a'),
            ('anchor.inliers', str(r.inliers) if has else 'n/a'),
            ('anchor.anchors', str(r.anchors) if has else 'n/a'),
            ('anchor.age_s', f'{r.age_s:.3f}' if has and r.age_s is not None else 'n/a'),
            ('anchor.refused', str(self.refused)),
        ]


def _shape(depth) -> Tuple[int, int]:
    depth = getattr(depth, 'depth', depth)
    return int(depth.shape[-2]), int(depth.shape[-1])


# ---------------------------------------------------------------------------- pairing

class AnchorBuffer:
    """
    Recent anchors of one topic, paired with images by stamp; thread-safe.

    The node's anchor subscription calls :meth:`put`, its worker :meth:`match`
    with each image's stamp (``depth_node_run`` does the same with a bag's
    messages). The anchor nearest in stamp within ``tolerance_s`` is the one.
    """

    def __init__(self, kind: str, tolerance_s: float = 0.1, history: int = 10):
        if kind not in ANCHOR_TOPICS:
            raise ValueError(f'anchor kind must be one of {", ".join(ANCHOR_TOPICS)}')
        self.kind = kind
        self.topic = ANCHOR_TOPICS[kind]
        self.tolerance_s = float(tolerance_s)
        self.history = max(int(history), 1)
        self._lock = threading.Lock()
        self._items: Dict[int, object] = {}
        self._latest: Optional[int] = None

    def clear(self) -> None:
        """Forget every anchor."""
        with self._lock:
            self._items = {}
            self._latest = None

    def put(self, msg) -> None:
        """Store one anchor message (by its header stamp; an older stamp clears the history)."""
        stamp = _stamp_ns(msg.header)
        with self._lock:
            if self._latest is not None and stamp < self._latest:
                self._items = {}  # stamps went back: a new stream
            self._items[stamp] = msg
            self._latest = stamp
            while len(self._items) > self.history:
                del self._items[next(iter(self._items))]

    def match(self, stamp_ns: int) -> Tuple[Optional[AnchorInput], Optional[Event]]:
        """
        Return ``(anchor, event)`` for an image stamped ``stamp_ns``.

        The anchor is the one nearest in stamp within the tolerance, else None;
        ``event`` (``anchor_stamp``) says when every stored anchor is far off
        the image (more than :data:`FAR_STAMP_S` and ten tolerances: clocks not
        synchronised, ``use_sim_time`` on one side only).
        """
        with self._lock:
            if not self._items:
                return None, None
            stamp = min(self._items, key=lambda s: (abs(s - stamp_ns), -s))
            msg = self._items[stamp]
        offset = (stamp - int(stamp_ns)) * 1e-9
        if abs(offset) <= self.tolerance_s:
            return AnchorInput(self.kind, msg), None
        if abs(offset) > max(FAR_STAMP_S, 10.0 * self.tolerance_s):
            return None, Event(
                'anchor_stamp', 'warning',
                f'{self.topic} stamps are {offset:+.3f} s off the image\'s (nearest anchor '
                f'{stamp * 1e-9:.3f} s, image {int(stamp_ns) * 1e-9:.3f} s; '
                f'anchor.stamp_tolerance {self.tolerance_s:g} s): not paired (are both '
                'clocks the same? use_sim_time?)')
        return None, None


def anchors_of(anchor) -> Tuple[AnchorInput, ...]:
    """Return ``anchor`` (None, one AnchorInput or several) as a tuple."""
    if anchor is None:
        return ()
    if isinstance(anchor, AnchorInput):
        return (anchor,)
    return tuple(anchor)
