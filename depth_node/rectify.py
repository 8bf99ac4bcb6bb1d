# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
The camera a frame is processed for: intrinsics, undistortion maps, output camera_info.

Without rclpy. :class:`CameraCache` turns a CameraInfo into a :class:`Camera`
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

from dataclasses import dataclass
from typing import Optional, Tuple

import cv2
import numpy as np

from .errors import BadCameraInfoError
from .geometry import Intrinsics, intrinsics_from_camera_info

#: distortion_model values OpenCV's standard (Brown-Conrady) model covers.
STANDARD_MODELS = ('plumb_bob', 'rational_polynomial')
#: distortion_model of the fisheye (Kannala-Brandt) model.
FISHEYE_MODEL = 'equidistant'

_IDENTITY = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)


def has_distortion(info) -> bool:
    """Whether a CameraInfo has any non-zero distortion coefficient."""
    return any(float(v) != 0.0 for v in info.d)


def calibration_key(info) -> tuple:
    """Return the fields of a CameraInfo that define the camera (not the header)."""
    roi = info.roi
    return (int(info.width), int(info.height), str(info.distortion_model),
            tuple(float(v) for v in info.d), tuple(float(v) for v in info.k),
            tuple(float(v) for v in info.r), tuple(float(v) for v in info.p),
            int(info.binning_x), int(info.binning_y),
            (int(roi.x_offset), int(roi.y_offset), int(roi.width), int(roi.height),
             bool(roi.do_rectify)))


@dataclass(frozen=True)
class RectifiedInfo:
    """CameraInfo fields of the rectified camera (distortion zero, K from P, R identity)."""

    width: int
    height: int
    distortion_model: str
    d: Tuple[float, ...]
    k: Tuple[float, ...]
    r: Tuple[float, ...]
    p: Tuple[float, ...]


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
        self.info = RectifiedInfo(
            width, height, 'plumb_bob', (0.0,) * 5,
            tuple(float(v) for v in new_k.ravel()), _IDENTITY,
            tuple(float(v) for v in p.ravel()))

    def rectify(self, pixels: np.ndarray) -> np.ndarray:
        """Return the rectified ``H x W x C`` uint8 image of a distorted one."""
        src = np.ascontiguousarray(pixels)
        out = cv2.remap(src, self.map1, self.map2, cv2.INTER_LINEAR,
                        borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        return out.reshape(pixels.shape)


@dataclass
class Camera:
    """What processing one frame needs from its CameraInfo, derived once per camera."""

    key: tuple
    intrinsics: Intrinsics
    undistorter: Optional[Undistorter]
    #: Distortion is present but ignored because the input is declared rectified.
    distortion_ignored: bool

    def output_fields(self, info) -> dict:
        """Return the CameraInfo fields of depth/camera_info for this camera (no header)."""
        if self.undistorter is None:
            return {name: getattr(info, name) for name in (
                'height', 'width', 'distortion_model', 'd', 'k', 'r', 'p', 'binning_x',
                'binning_y', 'roi')}
        rect = self.undistorter.info
        return {'height': rect.height, 'width': rect.width,
                'distortion_model': rect.distortion_model, 'd': list(rect.d),
                'k': list(rect.k), 'r': list(rect.r), 'p': list(rect.p)}


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
        key = calibration_key(info)
        cam = self._camera
        if cam is not None and cam.key == key and self._rectify == rectify:
            self.changed = False
            return cam
        distorted = has_distortion(info)
        undistorter = Undistorter(info) if (rectify and distorted) else None
        intr = intrinsics_from_camera_info(info)
        self._camera = Camera(key, intr, undistorter, distorted and not rectify)
        self._rectify = rectify
        self.builds += 1
        self.changed = True
        return self._camera

    def clear(self) -> None:
        """Forget the current camera (e.g. at lifecycle cleanup)."""
        self._camera = None
        self._rectify = None
