# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
Apple Depth Pro (``model_type: depth_pro``, apple/DepthPro-hf).

Preprocessing as transformers' ``DepthProImageProcessor``, in torch on the
device: rescale to 0..1 and normalise (mean = std = 0.5) first, then resize to
the fixed network input (1536 x 1536 for the hub model; the aspect ratio is not
kept), bilinear without antialiasing.

The network predicts a canonical inverse depth and, with its FOV head, the
horizontal field of view. Depth Pro's metric depth is
``depth = f_px / (W * canonical_inverse_depth)`` with ``W`` the width of the
image given to it and ``f_px`` its horizontal focal length in pixels
(``DepthPro.infer`` in apple/ml-depth-pro). transformers'
``post_process_depth_estimation`` always takes ``f_px`` from the estimated field
of view; here the camera's ``fx`` is used whenever it is given and valid (so
depth is proportional to the fx it is given), and the estimate only otherwise.

Depth computed from the estimate (``focal_estimated``) belongs to the
estimated camera, :meth:`DepthProModel.estimated_intrinsics` (``fx`` = the
estimated focal), which the frame path uses for back-projection and
depth/camera_info; an implausible estimate (a field of view outside
``PLAUSIBLE_FOV_DEG``, NaN) is refused with a BadCameraInfoError instead of
turning into depth.
"""

import math
from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F

from .base import DepthModel, Focal, resize_depth
from ..errors import BadCameraInfoError
from ..geometry import Intrinsics

#: Clamp of the inverse depth before inverting, as transformers and ml-depth-pro do.
INVERSE_DEPTH_RANGE = (1e-4, 1e4)

#: Estimated horizontal fields of view (degrees) accepted as a camera: 2 deg is a long
#: telephoto lens (fx = 28.6 W), 170 deg beyond any rectified pinhole image (fx = 0.044 W).
PLAUSIBLE_FOV_DEG = (2.0, 170.0)

#: Where f_px came from for the latest frame.
FOCAL_FROM_CAMERA = 'camera_info'
FOCAL_FROM_FOV = 'estimated_fov'


def focal_from_fov(fov_deg: torch.Tensor, width: int) -> torch.Tensor:
    """Return the horizontal focal length in pixels of a ``width``-pixel image with this HFOV."""
    return 0.5 * width / torch.tan(0.5 * torch.deg2rad(fov_deg))


def usable_focal(focal: Focal) -> Optional[float]:
    """Return ``fx`` if ``focal`` holds a finite, positive fx, else None."""
    if focal is None:
        return None
    fx = float(focal[0])
    return fx if math.isfinite(fx) and fx > 0.0 else None


class DepthProModel(DepthModel):
    """Depth Pro: square fixed-size input, canonical inverse depth, own field of view."""

    family = 'depth_pro'

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        #: ``FOCAL_FROM_CAMERA`` or ``FOCAL_FROM_FOV``: the f_px used for the latest frame.
        self.last_focal_source: Optional[str] = None
        self._last_focal_px = None
        self._last_fov = None

    @property
    def has_fov_head(self) -> bool:
        """Whether the checkpoint estimates its field of view (apple/DepthPro-hf does)."""
        return getattr(self.net, 'fov_model', None) is not None

    @property
    def estimates_camera(self) -> bool:
        """Whether a camera can be estimated: with the field-of-view head."""
        return self.has_fov_head

    @property
    def focal_estimated(self) -> bool:
        """Whether the latest f_px came from the estimated field of view."""
        return self.last_focal_source == FOCAL_FROM_FOV

    @property
    def last_focal_px(self) -> Optional[float]:
        """Return the f_px (pixels, input resolution) used for the latest frame."""
        value = self._last_focal_px
        return float(value) if value is not None else None

    @property
    def last_fov_deg(self) -> Optional[float]:
        """Return the horizontal field of view (degrees) the network estimated last."""
        value = self._last_fov
        return float(value) if value is not None else None

    def check_estimate(self) -> float:
        """
        Return the latest estimated field of view in degrees if it is plausible.

        Raise BadCameraInfoError when there is none (no FOV head) or it is NaN or
        outside ``PLAUSIBLE_FOV_DEG`` (a focal length that would be negative,
        infinite or absurd for the image).
        """
        if self._last_fov is None:
            raise BadCameraInfoError(
                f'{self.model_id} has no field-of-view head, so Depth Pro needs the camera '
                'focal length (a calibrated camera_info) for metric depth')
        fov = float(self._last_fov)
        low, high = PLAUSIBLE_FOV_DEG
        if not low <= fov <= high:  # also False for NaN
            raise BadCameraInfoError(
                f"Depth Pro's estimated field of view is {fov:.4g} deg, outside the plausible "
                f'{low:g}..{high:g} deg, so it gives no usable focal length; give a calibrated '
                'camera_info with focal_scaling:=true')
        return fov

    def estimated_intrinsics(self, width: int, height: int,
                             camera: Optional[Intrinsics] = None) -> Optional[Intrinsics]:
        """
        Return the pinhole camera of the latest estimated field of view, or None.

        ``fx`` is the estimated focal length of a ``width``-pixel image. With a
        ``camera`` (a valid camera_info not used for the scale) its principal point
        and pixel aspect (``fy / fx``) are kept; without one ``fy = fx`` and the
        principal point is the image centre. None without an estimate (no FOV
        head); BadCameraInfoError for an implausible one (``check_estimate``).
        """
        if self._last_fov is None:
            return None
        fov = self.check_estimate()
        f = float(focal_from_fov(torch.tensor(fov, dtype=torch.float64), int(width)))
        if camera is not None and camera.width == width and camera.height == height:
            return Intrinsics(int(width), int(height), f, f * camera.fy / camera.fx,
                              camera.cx, camera.cy)
        return Intrinsics(int(width), int(height), f, f, (width - 1) / 2.0, (height - 1) / 2.0)

    # ------------------------------------------------------------------ stages
    def preprocess(self, image: torch.Tensor):
        """Rescale and normalise, then resize to the network size (bilinear, no antialias)."""
        p = self.processor
        h, w = (int(v) for v in image.shape[-2:])
        x = self.normalize(image.float())
        if p.get('do_resize', True):
            size = p.get('size') or {'height': 1536, 'width': 1536}
            net = (int(size['height']), int(size['width']))
            if tuple(x.shape[-2:]) != net:
                mode = 'bicubic' if int(p.get('resample', 2)) == 3 else 'bilinear'
                x = F.interpolate(x, size=net, mode=mode, align_corners=False, antialias=False)
        return x.to(self.dtype), {'in_size': (h, w), 'net_size': tuple(x.shape[-2:])}

    def postprocess(self, outputs, ctx: dict, focal: Focal) -> torch.Tensor:
        """
        Return ``f_px / (W * canonical_inverse_depth)``, resized to the input size.

        ``f_px`` is the camera's fx when usable, else the one of the estimated
        field of view; without either a BadCameraInfoError is raised.
        """
        h, w = ctx['in_size']
        inverse = outputs.predicted_depth.float()[:1]
        fov = getattr(outputs, 'field_of_view', None)
        self._last_fov = fov[0].float() if fov is not None else None
        fx = usable_focal(focal)
        self.last_focal_source = None
        self._last_focal_px = None
        if fx is not None:
            f_px = fx
            self.last_focal_source = FOCAL_FROM_CAMERA
        else:
            self.check_estimate()
            f_px = focal_from_fov(self._last_fov, w)
            self.last_focal_source = FOCAL_FROM_FOV
        self._last_focal_px = f_px
        scaled = inverse[0] * (w / f_px)
        mode = 'bicubic' if int(self.processor.get('resample', 2)) == 3 else 'bilinear'
        scaled = resize_depth(scaled, (h, w), mode)
        return 1.0 / torch.clamp(scaled, *INVERSE_DEPTH_RANGE)

    def warmup(self, width: int = 640, height: int = 480) -> None:
        """Run one inference on a grey frame (with a nominal focal, works without FOV head)."""
        self.predict(np.full((height, width, 3), 127, np.uint8), focal=(float(width),) * 2)

    def describe(self) -> str:
        """Return one line for the start-up log."""
        fov = 'estimated field of view as fallback' if self.has_fov_head else 'no FOV head'
        return (f'model {self.model_id} ({self.family}), device {self.device}, precision '
                f'{str(self.dtype).replace("torch.", "")}, f_px from camera_info fx ({fov})')
