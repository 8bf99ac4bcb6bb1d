# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
The inference core shared by every model family.

A :class:`DepthModel` wraps one transformers depth network and runs the whole
path on the inference device: the uint8 image is uploaded once (pinned memory
and a non-blocking copy on CUDA), resized and normalised there as the
checkpoint's ``preprocessor_config.json`` says, run through the network under
``torch.inference_mode``, brought to metric scale with the camera intrinsics,
upsampled to the input size and downloaded once as float32 metres.

Families subclass it and implement :meth:`preprocess` and :meth:`postprocess`.
"""

import contextlib
import math
import time
from typing import Dict, List, Optional, Sequence, Tuple
import warnings

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from ..geometry import Intrinsics

#: PIL resampling codes used in preprocessor configs -> torch interpolation modes.
RESAMPLE_MODES = {0: 'nearest', 1: 'bilinear', 2: 'bilinear', 3: 'bicubic', 4: 'bilinear',
                  5: 'bicubic'}

#: torch interpolation modes -> the OpenCV flags that compute the same thing on the CPU.
CV2_MODES = {'bicubic': cv2.INTER_CUBIC, 'bilinear': cv2.INTER_LINEAR}

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

Focal = Optional[Tuple[float, float]]


def resize_depth(depth: torch.Tensor, size: Tuple[int, int],
                 mode: str = 'bicubic') -> torch.Tensor:
    """
    Resize an ``h x w`` float depth map to ``size`` = ``(H, W)``, half-pixel centres.

    The one final resize of every family: ``F.interpolate(..., align_corners=False)``
    (no antialiasing) on CUDA and other devices; on the CPU ``cv2.resize`` with
    ``INTER_CUBIC`` / ``INTER_LINEAR``, the same kernels (cubic a = -0.75, edge
    pixels replicated) at a fraction of torch's CPU cost. Both agree to within
    5e-5 of the map's largest value (tested).
    """
    size = (int(size[0]), int(size[1]))
    if tuple(depth.shape[-2:]) == size:
        return depth
    if depth.device.type == 'cpu' and mode in CV2_MODES:
        src = np.ascontiguousarray(depth.detach().to(torch.float32).numpy())
        out = cv2.resize(src, (size[1], size[0]), interpolation=CV2_MODES[mode])
        return torch.from_numpy(out.reshape(size))
    out = F.interpolate(depth[None, None].float(), size=size, mode=mode,
                        align_corners=False if mode in CV2_MODES else None)
    return out[0, 0]


def resize_image(x: torch.Tensor, size: Tuple[int, int], mode: str = 'bicubic') -> torch.Tensor:
    """
    Resize a float ``1 x C x H x W`` image to ``size`` = ``(h, w)``, half-pixel centres.

    ``F.interpolate(..., align_corners=False)`` without antialiasing, as
    :func:`resize_depth`; on the CPU through ``cv2.resize`` (channels last),
    which is what the Depth Anything V2 reference itself calls and several
    times faster than torch's CPU kernel.
    """
    size = (int(size[0]), int(size[1]))
    if tuple(x.shape[-2:]) == size:
        return x
    if x.device.type == 'cpu' and mode in CV2_MODES and x.shape[0] == 1:
        src = np.ascontiguousarray(x[0].detach().permute(1, 2, 0).to(torch.float32).numpy())
        out = cv2.resize(src, (size[1], size[0]), interpolation=CV2_MODES[mode])
        return torch.from_numpy(out.reshape(size + (-1,))).permute(2, 0, 1).unsqueeze(0)
    return F.interpolate(x.float(), size=size, mode=mode,
                         align_corners=False if mode in CV2_MODES else None)


def constrain_to_multiple_of(value: float, multiple: float) -> int:
    """Round to the nearest multiple (half to even, as the processors do), never below 0."""
    x = int(round(value / multiple) * multiple)
    if x < 0:
        x = int(math.ceil(value / multiple) * multiple)
    return x


def keep_aspect_size(height: int, width: int, target: Tuple[int, int], keep_aspect_ratio: bool,
                     multiple: float) -> Tuple[int, int]:
    """
    Return the resized size the DPT-style processors (DPT, Depth Anything, ZoeDepth) compute.

    With ``keep_aspect_ratio`` the scale closest to 1 of the two is used for both sides
    (scale as little as possible); each side is then rounded to a multiple of ``multiple``.
    """
    scale_h = target[0] / height
    scale_w = target[1] / width
    if keep_aspect_ratio:
        if abs(1 - scale_w) < abs(1 - scale_h):
            scale_h = scale_w
        else:
            scale_w = scale_h
    return (constrain_to_multiple_of(scale_h * height, multiple),
            constrain_to_multiple_of(scale_w * width, multiple))


def _batch_item(outputs, index: int):
    """Return the model outputs of batch item ``index`` (every tensor sliced, batch of 1)."""
    fields = {key: (value[index:index + 1] if torch.is_tensor(value) else value)
              for key, value in outputs.items()}
    return type(outputs)(**fields)


class DepthModel:
    """One loaded metric depth network with its preprocessing and postprocessing."""

    #: Family name shown in logs, README and the benchmark.
    family = 'base'
    #: Whether the family implements horizontal-flip test-time augmentation (``flip_tta``).
    supports_flip_tta = False

    def __init__(self, net: torch.nn.Module, processor: dict, *, model_id: str,
                 device: torch.device, dtype: torch.dtype, compile_net: bool = False):
        self.net = net
        self.processor = dict(processor)
        self.model_id = model_id
        self.device = device
        self.dtype = dtype
        self.config = net.config
        self._reference_focal_override = 0.0
        #: Flip test-time augmentation; honoured only where ``supports_flip_tta``.
        self.flip_tta = False
        self._forward = torch.compile(net) if compile_net else net
        self._pinned: Dict[Tuple[int, ...], torch.Tensor] = {}
        mean = self.processor.get('image_mean', IMAGENET_MEAN)
        std = self.processor.get('image_std', IMAGENET_STD)
        self._mean = torch.tensor(mean, dtype=torch.float32, device=device).view(1, 3, 1, 1)
        self._std = torch.tensor(std, dtype=torch.float32, device=device).view(1, 3, 1, 1)

    # ------------------------------------------------------------------ focal
    @property
    def default_reference_focal(self) -> Optional[float]:
        """Return the training focal in pixels at the network input, or None (Depth Pro)."""
        return None

    @property
    def reference_focal(self) -> Optional[float]:
        """Return the reference focal in use: the override when set (> 0), else the default."""
        if self._reference_focal_override > 0.0:
            return self._reference_focal_override
        return self.default_reference_focal

    @reference_focal.setter
    def reference_focal(self, value: float) -> None:
        self._reference_focal_override = float(value or 0.0)

    def check_scale(self) -> None:
        """Raise ModelLoadError if the metric scale cannot be set (called after loading)."""

    # ------------------------------------------------------------------ own camera estimate
    @property
    def estimates_camera(self) -> bool:
        """Whether the network estimates its own camera (Depth Pro's field-of-view head)."""
        return False

    @property
    def focal_estimated(self) -> bool:
        """Whether the latest prediction's scale came from the network's own camera estimate."""
        return False

    def estimated_intrinsics(self, width: int, height: int,
                             camera: Optional[Intrinsics] = None) -> Optional[Intrinsics]:
        """
        Return the camera the network estimated for the latest frame, or None.

        When :attr:`focal_estimated`, the latest depth belongs to this camera: the
        cloud must be back-projected, and depth/camera_info published, with it.
        ``camera`` is a valid calibration that was not used for the scale; a
        family may keep what its estimate does not cover (principal point).
        """
        return None

    # ------------------------------------------------------------------ stages
    def upload(self, pixels: np.ndarray, rgb_order: Sequence[int] = (0, 1, 2)) -> torch.Tensor:
        """
        Copy an ``H x W x C`` uint8 image to the device as a ``1 x 3 x H x W`` uint8 tensor.

        On CUDA the bytes go through a reused pinned buffer and a non-blocking
        copy; channel reordering (BGR, mono) happens on the device.
        """
        h, w, c = pixels.shape
        if self.device.type == 'cuda':
            key = (h, w, c)
            host = self._pinned.get(key)
            if host is None:
                self._pinned.clear()
                host = torch.empty((h, w, c), dtype=torch.uint8, pin_memory=True)
                self._pinned[key] = host
            host.numpy()[...] = pixels
            dev = host.to(self.device, non_blocking=True)
        else:
            with warnings.catch_warnings():
                # Message buffers are read-only; the tensor is only read, never written.
                warnings.simplefilter('ignore', UserWarning)
                dev = torch.from_numpy(np.ascontiguousarray(pixels))
        x = dev.permute(2, 0, 1).unsqueeze(0)
        order = list(rgb_order)
        if order != [0, 1, 2] or c != 3:
            x = x[:, order]
        return x

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """Rescale 0..255 to 0..1 and normalise with the checkpoint's mean and std."""
        p = self.processor
        if p.get('do_rescale', True):
            x = x * float(p.get('rescale_factor', 1.0 / 255.0))
        if p.get('do_normalize', True):
            x = (x - self._mean) / self._std
        return x

    def preprocess(self, image: torch.Tensor) -> Tuple[torch.Tensor, dict]:
        """Turn the uploaded uint8 image into ``pixel_values``; return them and a context."""
        raise NotImplementedError

    def forward(self, pixel_values: torch.Tensor):
        """Run the network."""
        return self._forward(pixel_values=pixel_values)

    def postprocess(self, outputs, ctx: dict, focal: Focal) -> torch.Tensor:
        """Return metric depth (``H x W`` float32, input size) on the device."""
        raise NotImplementedError

    @staticmethod
    def download(depth: torch.Tensor) -> np.ndarray:
        """Copy the depth map to the host once, as contiguous float32."""
        return np.ascontiguousarray(depth.detach().to('cpu', torch.float32).numpy())

    # ------------------------------------------------------------------ API
    def _sync(self) -> None:
        if self.device.type == 'cuda':
            torch.cuda.synchronize(self.device)

    @contextlib.contextmanager
    def _stage(self, timings: Optional[dict], name: str):
        if timings is None:
            yield
            return
        self._sync()
        t0 = time.perf_counter()
        yield
        self._sync()
        timings[name] = timings.get(name, 0.0) + (time.perf_counter() - t0) * 1000.0

    def predict(self, pixels: np.ndarray, rgb_order: Sequence[int] = (0, 1, 2),
                focal: Focal = None, timings: Optional[dict] = None) -> np.ndarray:
        """
        Metric depth in metres (``H x W`` float32) for one ``H x W x C`` uint8 image.

        ``focal`` is ``(fx, fy)`` of the image in pixels, or None to skip the
        intrinsics (no focal scaling; Depth Pro then uses its own field of view).
        ``timings``, when given, receives per-stage milliseconds (device-synchronised).
        """
        with torch.inference_mode():
            with self._stage(timings, 'upload'):
                image = self.upload(pixels, rgb_order)
            with self._stage(timings, 'preprocess'):
                pixel_values, ctx = self.preprocess(image)
            with self._stage(timings, 'network'):
                outputs = self.forward(pixel_values)
            with self._stage(timings, 'postprocess'):
                depth = self.postprocess(outputs, ctx, focal)
                out = self.download(depth)
        return out

    def predict_batch(self, images: Sequence[np.ndarray], rgb_order: Sequence[int] = (0, 1, 2),
                      focal: Focal = None, timings: Optional[dict] = None) -> List[np.ndarray]:
        """
        Return the depth of several same-size images run through one forward pass.

        For throughput measurements (``depth_node_bench --batch N``); the node runs
        the newest frame alone. Each image is post-processed on its own slice of
        the outputs (its own ZoeDepth route, Depth Pro field of view). Not with
        flip TTA, which already doubles the batch.
        """
        if len(images) == 1:
            return [self.predict(images[0], rgb_order, focal, timings)]
        if self.flip_tta:
            raise ValueError('flip_tta runs one image at a time; use batch 1')
        with torch.inference_mode():
            with self._stage(timings, 'upload'):
                uploaded = [self.upload(p, rgb_order) for p in images]
            with self._stage(timings, 'preprocess'):
                prepared = [self.preprocess(x) for x in uploaded]
                pixel_values = torch.cat([p for p, _ in prepared])
            with self._stage(timings, 'network'):
                outputs = self.forward(pixel_values)
            with self._stage(timings, 'postprocess'):
                depths = [self.download(self.postprocess(_batch_item(outputs, i), ctx, focal))
                          for i, (_, ctx) in enumerate(prepared)]
        return depths

    def warmup(self, width: int = 640, height: int = 480) -> None:
        """Run one inference on a grey frame so the first real frame is not slow."""
        self.predict(np.full((height, width, 3), 127, np.uint8), focal=None)

    def describe(self) -> str:
        """One line for the start-up log."""
        ref = self.reference_focal
        ref_text = f'{ref:.1f} px' if ref else 'from intrinsics (fx)'
        return (f'model {self.model_id} ({self.family}), device {self.device}, '
                f'precision {str(self.dtype).replace("torch.", "")}, reference focal {ref_text}')
