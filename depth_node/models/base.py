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

import math
from typing import Dict, Iterator, Optional, Sequence, Tuple
import warnings

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from ..geometry import Intrinsics
from ..outputs import PredictRequest
from ..timing import stage

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


def rescaled(image: torch.Tensor, factor: Optional[float]) -> torch.Tensor:
    """
    Return the uploaded uint8 ``1 x C x H x W`` image as float32 times ``factor`` (None: as is).

    Bit for bit ``image.float() * factor`` (each value ``float32(u) * float32(factor)``,
    tested on all 256 values); on the CPU one numpy pass into a new channels-last
    buffer, the layout ``cv2.resize`` reads (:func:`resize_image`), instead of
    torch's two passes (4K: 80 -> 40 ms of CPU time). Elsewhere it is torch's.
    """
    if image.device.type != 'cpu' or image.dtype != torch.uint8 or image.shape[0] != 1:
        x = image.float()
        return x if factor is None else x * float(factor)
    hwc = image[0].permute(1, 2, 0).numpy()
    out = np.empty(hwc.shape, dtype=np.float32)
    if factor is None:
        np.copyto(out, hwc)
    else:
        np.multiply(hwc, np.float32(factor), out=out)
    return torch.from_numpy(out).permute(2, 0, 1).unsqueeze(0)


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


def _batches(prepared, max_batch: int):
    """
    Return the prepared items grouped by network input (shape, dtype), in request order.

    Each group is split into chunks of at most ``max_batch`` items (0 = no limit).
    """
    groups = {}
    for item in prepared:
        pixel_values = item[2]
        groups.setdefault((tuple(pixel_values.shape[1:]), pixel_values.dtype), []).append(item)
    size = int(max_batch)
    out = []
    for items in groups.values():
        step = size if size > 0 else len(items)
        out.extend(items[i:i + step] for i in range(0, len(items), step))
    return out


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

    def _stage(self, timings: Optional[dict], name: str):
        # Synchronised wall time; device and host times for depth_node_bench (timing.py).
        return stage(timings, name, self.device)

    def predict(self, pixels: np.ndarray, rgb_order: Sequence[int] = (0, 1, 2),
                focal: Focal = None, timings: Optional[dict] = None, *,
                on_device: bool = False) -> np.ndarray:
        """
        Metric depth in metres (``H x W`` float32) for one ``H x W x C`` uint8 image.

        ``focal`` is ``(fx, fy)`` of the image in pixels, or None to skip the
        intrinsics (no focal scaling; Depth Pro then uses its own field of view).
        ``timings``, when given, receives per-stage milliseconds (device-synchronised).
        ``on_device``: return ``(depth, image)`` still on the device instead (the
        ``H x W`` depth tensor and the uploaded ``1 x 3 x H x W`` uint8 RGB image),
        so the payloads are built there (:mod:`depth_node.device_cloud`).
        A batch of one of :meth:`predict_many`.
        """
        request = PredictRequest(pixels, rgb_order, focal, timings=timings,
                                 on_device=on_device)
        for _, result in self.predict_many([request]):
            if isinstance(result, BaseException):
                raise result
            return result

    def predict_many(self, requests: Sequence[PredictRequest], max_batch: int = 0
                     ) -> Iterator[Tuple[int, object]]:
        """
        Yield ``(index, result)`` for each request, the network run once per batch.

        Requests whose network inputs have the same shape run as one batch (at
        most ``max_batch`` items; 0 = no limit; one at a time with flip TTA,
        which already doubles the batch); each item is then post-processed on its
        own slice of the outputs, with its own focal length and reference focal
        (its own ZoeDepth route, Depth Pro field of view). A result is what
        :meth:`predict` returns for the request, or the exception that request
        raised: one bad item never fails the others, a failed batch (CUDA out of
        memory) fails its own items. Results come in batch order, each right
        after its own post-processing, outside inference mode: state the model
        keeps of "the latest frame" (:attr:`focal_estimated`,
        :meth:`estimated_intrinsics`) is that item's while the caller handles it.
        Network time is the batch's, in each item's ``timings``.
        """
        prepared = []
        for index, request in enumerate(requests):
            try:
                with torch.inference_mode():
                    with self._stage(request.timings, 'upload'):
                        image = self.upload(request.pixels, request.rgb_order)
                    with self._stage(request.timings, 'preprocess'):
                        pixel_values, ctx = self.preprocess(image)
            except Exception as exc:  # noqa: B902 - the item's own failure, reported
                yield index, exc
                continue
            prepared.append([index, image, pixel_values, ctx])
        pixel_values = image = None  # only the items hold them (a batch drops its inputs)
        for batch in _batches(prepared, 1 if self.flip_tta else max_batch):
            yield from self._run_batch(batch, requests)

    def _run_batch(self, batch, requests) -> Iterator[Tuple[int, object]]:
        """Run one batch through the network, then post-process and yield item by item."""
        # The network stage is timed into the first item's timings (a StageTimes in
        # depth_node_bench records its device time there) and copied to the others.
        timings = next((requests[item[0]].timings for item in batch
                        if requests[item[0]].timings is not None), None)
        try:
            with torch.inference_mode():
                with self._stage(timings, 'network'):
                    pixel_values = (batch[0][2] if len(batch) == 1
                                    else torch.cat([item[2] for item in batch]))
                    for item in batch:  # the batch holds the only copy while the net runs
                        item[2] = None
                    outputs = self.forward(pixel_values)
                    del pixel_values
        except Exception as exc:  # noqa: B902 - every item of the batch fails with it
            for index, *_ in batch:
                yield index, exc
            return
        for position, (index, image, _, ctx) in enumerate(batch):
            request = requests[index]
            if request.timings is not None:
                if request.timings is not timings:
                    request.timings['network'] = timings.get('network', 0.0)
                if len(batch) > 1:
                    request.timings['batch'] = len(batch)
            item = outputs if len(batch) == 1 else _batch_item(outputs, position)
            try:
                result = self._postprocess_item(item, ctx, request, image)
            except Exception as exc:  # noqa: B902 - the item's own failure, reported
                result = exc
            yield index, result

    def _postprocess_item(self, outputs, ctx: dict, request: PredictRequest, image):
        override = self._reference_focal_override
        if request.reference_focal is not None:
            self._reference_focal_override = float(request.reference_focal or 0.0)
        try:
            with torch.inference_mode():
                with self._stage(request.timings, 'postprocess'):
                    depth = self.postprocess(outputs, ctx, request.focal)
                    if request.on_device:
                        return depth, image
                    return self.download(depth)
        finally:
            self._reference_focal_override = override

    def warmup(self, width: int = 640, height: int = 480) -> None:
        """Run one inference on a grey frame so the first real frame is not slow."""
        self.predict(np.full((height, width, 3), 127, np.uint8), focal=None)

    def describe(self) -> str:
        """One line for the start-up log."""
        ref = self.reference_focal
        ref_text = f'{ref:.1f} px' if ref else 'from intrinsics (fx)'
        return (f'model {self.model_id} ({self.family}), device {self.device}, '
                f'precision {str(self.dtype).replace("torch.", "")}, reference focal {ref_text}')
