# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
Depth Anything V2 metric checkpoints (``model_type: depth_anything``, metric head).

Preprocessing follows the reference implementation (``DepthAnythingV2.image2tensor``
and the metric fine-tuning datasets in DepthAnything/Depth-Anything-V2
``metric_depth/``), in torch on the inference device: rescale to 0..1, resize
so that both sides are at least the processor's size (518) and multiples of 14
(``Resize(keep_aspect_ratio=True, ensure_multiple_of=14,
resize_method='lower_bound')``) with bicubic interpolation on the float image
(``cv2.INTER_CUBIC``: OpenCV itself on the CPU; on CUDA torch's bicubic
without antialiasing, the same a = -0.75 kernel and edge handling), then
normalise. transformers'
``DPTImageProcessor`` instead scales as little as possible (640x360 -> 518x294
instead of 924x518) and resizes uint8 PIL images with antialiasing.

The final resize of the prediction to the image size is transformers' (bicubic,
half-pixel centres); the reference ``infer_image`` uses bilinear with
``align_corners=True``, a sub-pixel resampling difference, not a scale one.
"""

import math
from typing import Optional, Tuple

import torch
from transformers.modeling_outputs import DepthEstimatorOutput

from .base import DepthModel, Focal, RESAMPLE_MODES, rescaled, resize_depth, resize_image
from ..errors import ModelLoadError, ParameterValueError

#: Training focal length in pixels at the network input (mean of fx and fy), by the
#: head's max_depth. 20 m heads were fine-tuned on Hypersim only (1024x768, f 886.81 px),
#: 80 m heads on Virtual KITTI 2 only (1242x375, f 725.0087 px); training resized with
#: ``lower_bound`` to multiples of 14: Hypersim 686x518 -> (594.09 + 598.13) / 2,
#: VKITTI2 1722x518 -> (1005.21 + 1001.48) / 2. Sources in doc/models.md.
REFERENCE_FOCALS = {
    20.0: 596.1,
    80.0: 1003.3,
}

#: The network input size of the reference (``infer_image(input_size=518)``, training).
DEFAULT_INPUT_SIZE = 518
PATCH_MULTIPLE = 14


def _multiple_at_least(value: float, multiple: int, minimum: int) -> int:
    """Round to the nearest multiple (half to even); round up if that is below ``minimum``."""
    rounded = int(round(value / multiple) * multiple)
    if rounded < minimum:
        rounded = int(math.ceil(value / multiple) * multiple)
    return rounded


def network_size(height: int, width: int, target: Tuple[int, int] = (518, 518),
                 keep_aspect_ratio: bool = True, multiple: int = PATCH_MULTIPLE
                 ) -> Tuple[int, int]:
    """
    Return the ``(h, w)`` the network sees for an ``height`` x ``width`` image.

    The reference's ``lower_bound`` resize: with ``keep_aspect_ratio`` both
    sides are scaled by the larger of ``target / side``, so each is at least
    its target; each side is then a multiple of ``multiple``, rounded to the
    nearest one unless that falls below the target.
    """
    scale_h = target[0] / height
    scale_w = target[1] / width
    if keep_aspect_ratio:
        scale_h = scale_w = max(scale_h, scale_w)
    return (_multiple_at_least(scale_h * height, multiple, target[0]),
            _multiple_at_least(scale_w * width, multiple, target[1]))


def focal_at(focal: Tuple[float, float], in_size: Tuple[int, int],
             net_size: Tuple[int, int]) -> float:
    """Mean focal length of the camera at the network input resolution."""
    fx, fy = focal
    (h, w), (nh, nw) = in_size, net_size
    return 0.5 * (fx * nw / w + fy * nh / h)


class DepthAnythingModel(DepthModel):
    """Depth Anything V2 metric: lower-bound resize (x14, bicubic), sigmoid x max_depth head."""

    family = 'depth_anything_v2_metric'

    def __init__(self, net: torch.nn.Module, processor: dict, **kwargs):
        super().__init__(net, processor, **kwargs)
        compiled = torch.compile if kwargs.get('compile_net') else (lambda module: module)
        self._encoder = compiled(_Encoder(net))
        self._decoder = compiled(_Decoder(net))

    def forward(self, pixel_values: torch.Tensor) -> DepthEstimatorOutput:
        """
        Run the network: the encoder on the whole batch, the decoder one image at a time.

        The same operations as transformers' ``DepthAnythingForDepthEstimation``
        for one image. The ViT encoder works on patch tokens, where a batch of
        cameras costs little memory and batching pays; the DPT decoder (neck and
        head) works at up to the network input's full resolution, where one
        image's activations are the largest buffers of a frame (about 70 MiB at
        924x518 with the tiny test model, several times that with the real
        ones). Decoding the images one by one keeps that peak at one image's
        however many cameras share the batch (doc/several_cameras.md).
        """
        features = self._encoder(pixel_values)
        height, width = pixel_values.shape[-2:]
        depths = [self._decoder([f[i:i + 1] for f in features], height, width)
                  for i in range(pixel_values.shape[0])]
        return DepthEstimatorOutput(predicted_depth=depths[0] if len(depths) == 1
                                    else torch.cat(depths))

    @property
    def max_depth(self) -> float:
        """Return the head's depth range in metres (``config.max_depth``)."""
        return float(getattr(self.config, 'max_depth', 0.0) or 0.0)

    @property
    def default_reference_focal(self) -> Optional[float]:
        """Return the training focal by ``max_depth`` (20 indoor, 80 outdoor); None if unknown."""
        return REFERENCE_FOCALS.get(self.max_depth)

    def check_scale(self) -> None:
        """Refuse a head of unknown training camera unless ``reference_focal`` is set."""
        if self.reference_focal:
            return
        known = ', '.join(f'max_depth {d:g} m: {f} px' for d, f in REFERENCE_FOCALS.items())
        raise ModelLoadError(
            f"'{self.model_id}' is a Depth Anything V2 metric head with max_depth "
            f'{self.max_depth:g} m, whose training camera is unknown ({known}), so its metric '
            'scale cannot be set; pass reference_focal:=<its training focal in px at the '
            'network input> (depth_node_eval --fit-scale measures one)')

    def net_size(self, height: int, width: int) -> Tuple[int, int]:
        """Return the network input ``(h, w)`` for an image (the processor's size, x14)."""
        p = self.processor
        if not p.get('do_resize', True):
            return int(height), int(width)
        size = p.get('size') or {}
        target = (int(size.get('height', DEFAULT_INPUT_SIZE)),
                  int(size.get('width', DEFAULT_INPUT_SIZE)))
        return network_size(int(height), int(width), target,
                            bool(p.get('keep_aspect_ratio', True)),
                            int(p.get('ensure_multiple_of') or 1))

    def preprocess(self, image: torch.Tensor):
        """Rescale to 0..1, resize (lower bound, x14, bicubic on floats), normalise."""
        p = self.processor
        h, w = (int(v) for v in image.shape[-2:])
        x = rescaled(image, float(p.get('rescale_factor', 1.0 / 255.0))
                     if p.get('do_rescale', True) else None)
        net = self.net_size(h, w)
        x = resize_image(x, net, RESAMPLE_MODES.get(int(p.get('resample', 3)), 'bicubic'))
        if p.get('do_normalize', True):
            x = (x - self._mean) / self._std
        return x.to(self.dtype), {'in_size': (h, w), 'net_size': net}

    def postprocess(self, outputs, ctx: dict, focal: Focal) -> torch.Tensor:
        """Scale by f_camera / f_train at the network input, then resize (bicubic)."""
        depth = outputs.predicted_depth.float()[0]
        if focal is not None:
            ref = self.reference_focal
            if not ref:
                raise ParameterValueError(
                    f'{self.model_id} (max_depth {self.max_depth:g} m) has no known training '
                    'focal: set reference_focal > 0 or focal_scaling:=false')
            depth = depth * (focal_at(focal, ctx['in_size'], ctx['net_size']) / ref)
        return resize_depth(depth, ctx['in_size'], 'bicubic')


class _Encoder(torch.nn.Module):
    """The ViT backbone of a Depth Anything network: images in, the neck's feature maps out."""

    def __init__(self, net: torch.nn.Module):
        super().__init__()
        self.backbone = net.backbone

    def forward(self, pixel_values: torch.Tensor):
        """Return the backbone's feature maps (one ``B x tokens x C`` tensor per stage)."""
        return self.backbone.forward_with_filtered_kwargs(pixel_values).feature_maps


class _Decoder(torch.nn.Module):
    """The DPT neck and head of a Depth Anything network: encoder features in, depth out."""

    def __init__(self, net: torch.nn.Module):
        super().__init__()
        self.neck = net.neck
        self.head = net.head
        self.patch_size = int(net.config.patch_size)

    def forward(self, features, height: int, width: int) -> torch.Tensor:
        """Return the predicted depth (``B x h x w``) of a ``height x width`` network input."""
        patch_height, patch_width = height // self.patch_size, width // self.patch_size
        return self.head(self.neck(features, patch_height, patch_width),
                         patch_height, patch_width)
