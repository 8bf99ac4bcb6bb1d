# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
The camera a frame is processed for: intrinsics, undistortion maps, output camera_info.

Without rclpy. :class:`CameraInfoFields` holds the calibration fields of a
``sensor_msgs/CameraInfo`` (everything but the header) as plain values; it is
what the offline tools read from camera files and what every output
camera_info is built from (:mod:`depth_node.messages`).
:class:`CameraCache` turns a CameraInfo into a :class:`Camera`
once per change of its calibration fields (size, distortion, K, R, P, binning,
ROI; never the header), so intrinsics, undistortion maps and, downstream, the
rays of :class:`~depth_node.geometry.CloudBuilder` are rebuilt only when the
camera really changes.

Rectification follows image_geometry's ``PinholeCameraModel.rectifyImage``:
``cv2.initUndistortRectifyMap(K, D, R, P)`` then ``cv2.remap``; the result is
the image of the rectified camera, whose intrinsics are P's and whose
distortion is zero. ``plumb_bob`` and ``rational_polynomial`` use OpenCV's
standard model, ``equidistant`` its fisheye model.
"""

from dataclasses import dataclass, field, replace
from typing import Optional, Sequence, Tuple

import cv2
import numpy as np

from .errors import BadCameraInfoError
from .geometry import Intrinsics, intrinsics_from_camera_info

#: distortion_model values OpenCV's standard (Brown-Conrady) model covers.
STANDARD_MODELS = ('plumb_bob', 'rational_polynomial')
#: distortion_model of the fisheye (Kannala-Brandt) model.
FISHEYE_MODEL = 'equidistant'

_IDENTITY = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)


@dataclass(frozen=True)
class RegionOfInterest:
    """The ``roi`` of a CameraInfo (all zero = the full image)."""

    x_offset: int = 0
    y_offset: int = 0
    height: int = 0
    width: int = 0
    do_rectify: bool = False


@dataclass(frozen=True)
class CameraInfoFields:
    """
    The calibration fields of a ``sensor_msgs/CameraInfo``, without the header.

    Attribute names are the message's, so the core reads this and a real
    message the same way (:func:`~depth_node.geometry.intrinsics_from_camera_info`).
    """

    width: int
    height: int
    distortion_model: str
    d: Tuple[float, ...]
    k: Tuple[float, ...]
    r: Tuple[float, ...]
    p: Tuple[float, ...]
    binning_x: int = 0
    binning_y: int = 0
    roi: RegionOfInterest = field(default_factory=RegionOfInterest)

    @classmethod
    def of(cls, info) -> 'CameraInfoFields':
        """Return the fields of a CameraInfo message (or of any object with its attributes)."""
        if isinstance(info, cls):
            return info
        roi = getattr(info, 'roi', None)
        return cls(int(info.width), int(info.height), str(info.distortion_model),
                   _floats(info.d), _floats(info.k), _floats(info.r), _floats(info.p),
                   int(getattr(info, 'binning_x', 0)), int(getattr(info, 'binning_y', 0)),
                   RegionOfInterest() if roi is None else RegionOfInterest(
                       int(roi.x_offset), int(roi.y_offset), int(roi.height), int(roi.width),
                       bool(roi.do_rectify)))


def _floats(values) -> Tuple[float, ...]:
    return tuple(float(v) for v in values)


def camera_info_fields(width: int, height: int, k: Sequence[float],
                       p: Optional[Sequence[float]] = None, d: Sequence[float] = (),
                       r: Optional[Sequence[float]] = None,
                       distortion_model: str = 'plumb_bob') -> CameraInfoFields:
    """Return CameraInfo fields from a camera matrix (``P`` from ``K`` when not given)."""
    k = _floats(k)
    if p is None:
        p = (k[0], k[1], k[2], 0.0, k[3], k[4], k[5], 0.0, k[6], k[7], k[8], 0.0)
    return CameraInfoFields(int(width), int(height), str(distortion_model), _floats(d), k,
                            _IDENTITY if r is None else _floats(r), _floats(p))


def pinhole_camera_info(intr: Intrinsics) -> CameraInfoFields:
    """Return the CameraInfo fields of a distortion-free (rectified) pinhole camera."""
    return camera_info_fields(intr.width, intr.height, intr.k(), intr.p(), d=(0.0,) * 5)


def decimated_camera_info_fields(fields: CameraInfoFields, n: int) -> CameraInfoFields:
    """
    Return the CameraInfo fields of every ``n``-th pixel of the image ``fields`` describe.

    As image_proc's resize with scale ``1 / n``: K's and P's fx, fy, cx, cy (and P's
    Tx) times ``1 / n``, width, height and the ROI's size and offset divided by ``n``
    (integer division: resize's truncation without its floating-point rounding);
    D, R, binning and the distortion model unchanged (distortion acts on
    normalised coordinates). Where the ROI's offset is not a multiple of ``n`` the
    remainder is folded into cx and cy: ``cx' = x_offset // n + (cx - x_offset) / n``
    (resize would leave the principal point ``(x_offset mod n) / n`` px off the
    image; cx is the same as ``cx / n`` without an ROI). So image_geometry, which
    reads ``(cx - x_offset) / binning_x``, gets ``(cx - x_offset) / (binning_x n)``:
    pixel u of the result sees the ray of pixel ``n u`` of the input, as
    :func:`~depth_node.geometry.decimate` takes it, and the result describes the
    same camera as :meth:`~depth_node.geometry.Intrinsics.decimated`.
    """
    n = int(n)
    if n < 1:
        raise ValueError(f'decimation must be >= 1; got {n}')
    if n == 1:
        return fields
    roi = fields.roi
    # The ROI's offset counts where intrinsics_from_camera_info uses it (a real sub-window).
    used = roi.width > 0 and roi.height > 0 and (roi.width, roi.height) != (
        fields.width, fields.height)
    ox, oy = (roi.x_offset, roi.y_offset) if used else (0, 0)
    k = list(fields.k)
    p = list(fields.p)
    for values, (ix, iy) in ((k, (2, 5)), (p, (2, 6))):
        values[ix] = ox // n + (values[ix] - ox) / n
        values[iy] = oy // n + (values[iy] - oy) / n
    for i in (0, 4):  # K's fx, fy
        k[i] /= n
    for i in (0, 3, 5):  # P's fx, Tx, fy
        p[i] /= n
    return replace(
        fields, width=fields.width // n, height=fields.height // n, k=tuple(k), p=tuple(p),
        roi=RegionOfInterest(roi.x_offset // n, roi.y_offset // n, roi.height // n,
                             roi.width // n, roi.do_rectify))


def has_distortion(info) -> bool:
    """Whether a CameraInfo has any non-zero distortion coefficient."""
    return any(float(v) != 0.0 for v in info.d)


class Undistorter:
    """Undistortion maps of one distorted camera, computed once, applied per frame."""

    def __init__(self, info):
        width, height = int(info.width), int(info.height)
        model = str(info.distortion_model)
        if int(info.binning_x) > 1 or int(info.binning_y) > 1 or (
                int(info.roi.width) > 0 and (int(info.roi.width), int(info.roi.height))
                != (width, height)):
            raise BadCameraInfoError(
                'undistorting binned or ROI images is not supported; rectify upstream '
                '(image_proc) and set input_rectified:=true')
        k = np.array(info.k, dtype=np.float64).reshape(3, 3)
        p = np.array(info.p, dtype=np.float64).reshape(3, 4)
        r = np.array(info.r, dtype=np.float64).reshape(3, 3)
        if not r.any():
            r = np.eye(3)
        if not p.any():  # no rectified camera given: keep K's
            p = np.hstack([k, np.zeros((3, 1))])
        d = np.array(info.d, dtype=np.float64)
        if not np.isfinite(d).all() or not np.isfinite(k).all() or not np.isfinite(p).all():
            raise BadCameraInfoError('camera_info D, K or P has non-finite values')
        if k[0, 0] <= 0.0 or k[1, 1] <= 0.0:
            raise BadCameraInfoError(
                f'camera_info K has no focal length (fx={k[0, 0]}, fy={k[1, 1]}): '
                'uncalibrated camera')
        new_k = p[:, :3]
        size = (width, height)
        if model in STANDARD_MODELS:
            self.map1, self.map2 = cv2.initUndistortRectifyMap(
                k, d, r, new_k, size, cv2.CV_16SC2)
        elif model == FISHEYE_MODEL:
            if d.size < 4:
                raise BadCameraInfoError(
                    f"camera_info 'equidistant' needs 4 coefficients, has {d.size}")
            self.map1, self.map2 = cv2.fisheye.initUndistortRectifyMap(
                k, d[:4], r, new_k, size, cv2.CV_16SC2)
        else:
            raise BadCameraInfoError(
                f"cannot undistort distortion_model '{model}': supported are "
                f"{', '.join(STANDARD_MODELS + (FISHEYE_MODEL,))}; rectify upstream (image_proc) "
                'and set input_rectified:=true')
        # Pixels whose source lies (partly) outside the distorted image carry no data.
        full = np.full((height, width), 255, np.uint8)
        self.valid = cv2.remap(full, self.map1, self.map2, cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=0) == 255
        #: CameraInfo fields of the rectified camera (distortion zero, K from P, R identity).
        self.info = camera_info_fields(width, height, new_k.ravel(), p.ravel(), d=(0.0,) * 5)

    def rectify(self, pixels: np.ndarray) -> np.ndarray:
        """Return the rectified ``H x W x C`` uint8 image of a distorted one."""
        src = np.ascontiguousarray(pixels)
        out = cv2.remap(src, self.map1, self.map2, cv2.INTER_LINEAR,
                        borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        return out.reshape(pixels.shape)


@dataclass
class Camera:
    """What processing one frame needs from its CameraInfo, derived once per camera."""

    key: CameraInfoFields
    intrinsics: Intrinsics
    undistorter: Optional[Undistorter]
    #: Distortion is present but ignored because the input is declared rectified.
    distortion_ignored: bool

    #: CameraInfo fields of depth/camera_info: the input's, or the rectified camera's.
    output_info: CameraInfoFields


class CameraCache:
    """
    The :class:`Camera` of the latest CameraInfo, rebuilt only when its calibration changes.

    ``builds`` counts rebuilds (for logs and tests); ``changed`` tells whether the
    last :meth:`get` rebuilt.
    """

    def __init__(self):
        self._camera: Optional[Camera] = None
        self._rectify: Optional[bool] = None
        self.builds = 0
        self.changed = False

    @property
    def camera(self) -> Optional[Camera]:
        """Return the current Camera, or None before the first :meth:`get`."""
        return self._camera

    def get(self, info, rectify: bool) -> Camera:
        """Return the Camera of ``info``; ``rectify`` undistorts when D is non-zero."""
        key = CameraInfoFields.of(info)
        cam = self._camera
        if cam is not None and cam.key == key and self._rectify == rectify:
            self.changed = False
            return cam
        distorted = has_distortion(info)
        undistorter = Undistorter(info) if (rectify and distorted) else None
        intr = intrinsics_from_camera_info(info)
        output = undistorter.info if undistorter is not None else key
        self._camera = Camera(key, intr, undistorter, distorted and not rectify, output)
        self._rectify = rectify
        self.builds += 1
        self.changed = True
        return self._camera

    def clear(self) -> None:
        """Forget the current camera (e.g. at lifecycle cleanup)."""
        self._camera = None
        self._rectify = None
