# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
ZoeDepth checkpoints (``model_type: zoedepth``): Intel/zoedepth-nyu, -kitti, -nyu-kitti.

The processing follows the checkpoint's ``preprocessor_config.json`` and
transformers' ``ZoeDepthImageProcessor``, in torch on the inference device:
rescale to 0..1, reflect-pad by ``int(sqrt(side / 2) * 3)`` pixels on each side
(against boundary artefacts), resize keeping the aspect ratio to a multiple of
32 (bilinear, ``align_corners=True``), normalise with mean = std = 0.5. After
the network the prediction is resized (bicubic) to the padded input size and
the padding is cut off again, as ``post_process_depth_estimation`` does.

Flip test-time augmentation (off by default; it doubles the network cost)
runs the image and its mirror image as one batch of two and averages the
mirrored prediction back in, like ``post_process_depth_estimation(...,
outputs_flipped=...)``.

The NYU+KITTI model routes to its indoor (``nyu``, 10 m) or outdoor (``kitti``,
80 m) head. The network votes once per forward pass (``argmax`` of the domain
logits summed over the batch); ZoeDepth's own inference runs one image per pass,
so here every image is routed by its own logits: images a batch vote sent to
another head than their own are run again on their own head (with flip TTA the
image and its mirror image are routed separately too, as ZoeDepth's
``infer_with_flip_aug`` runs them). Each prediction is scaled with the
reference focal of the head that produced it.
"""

from dataclasses import dataclass
import math
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F

from .base import DepthModel, Focal, keep_aspect_size, rescaled, resize_depth

#: The hub processors (all three checkpoints) use 32; the transformers class default of
#: 1/32 is not a usable value, so a config without the key gets the hub's.
DEFAULT_MULTIPLE = 32

#: Reflect padding per side is ``int(sqrt(side / 2) * PADDING_FACTOR)`` pixels
#: (ZoeDepth ``depth_model.py::_infer_with_pad_aug``, transformers' processor).
PADDING_FACTOR = 3


@dataclass(frozen=True)
class TrainingCamera:
    """The camera of a training set: image size and focal lengths in pixels."""

    width: int
    height: int
    fx: float
    fy: float
    source: str


#: Training cameras of the two heads. NYU Depth v2: the Kinect RGB camera of the NYU
#: toolbox (640x480, fx 518.8579, fy 519.4696). KITTI: the 1216x352 bottom-centre crop
#: ZoeDepth trains and evaluates on (``do_kb_crop``), at the mean training focal of the
#: Eigen split, 715.0873 px (BTS, whose data loader ZoeDepth's derives from).
TRAINING_CAMERAS: Dict[str, TrainingCamera] = {
    'nyu': TrainingCamera(640, 480, 518.8579, 519.4696,
                          'NYU Depth v2 Kinect RGB, 640x480 (NYU toolbox)'),
    'kitti': TrainingCamera(1216, 352, 715.0873, 715.0873,
                            'KITTI Eigen split, 1216x352 crop, mean focal (BTS)'),
}


def padding_for(height: int, width: int, do_pad: bool = True) -> Tuple[int, int]:
    """Return the reflect padding ``(pad_h, pad_w)`` added on each side of the image."""
    if not do_pad:
        return 0, 0
    return (int(math.sqrt(height / 2) * PADDING_FACTOR),
            int(math.sqrt(width / 2) * PADDING_FACTOR))


def network_geometry(height: int, width: int, processor: dict):
    """
    Return ``(pad, padded_size, net_size)`` of an ``height`` x ``width`` image.

    ``pad`` is ``(pad_h, pad_w)`` per side, ``padded_size`` the padded image's
    ``(h, w)`` and ``net_size`` the ``(h, w)`` the network sees.
    """
    p = processor
    pad = padding_for(height, width, p.get('do_pad', True))
    padded = (height + 2 * pad[0], width + 2 * pad[1])
    if not p.get('do_resize', True):
        return pad, padded, padded
    size = p.get('size') or {'height': 384, 'width': 512}
    net = keep_aspect_size(padded[0], padded[1], (size['height'], size['width']),
                           p.get('keep_aspect_ratio', True),
                           p.get('ensure_multiple_of') or DEFAULT_MULTIPLE)
    return pad, padded, net


def focal_at_network(focal: Tuple[float, float], height: int, width: int,
                     processor: dict) -> float:
    """
    Return the mean focal length in pixels of a camera at the network input.

    The padding adds pixels but no focal length, so ``fx_net = fx * net_w / padded_w``
    (and likewise for y).
    """
    _, (ph, pw), (nh, nw) = network_geometry(height, width, processor)
    return 0.5 * (focal[0] * nw / pw + focal[1] * nh / ph)


def reference_focal_for(domain: str, processor: dict) -> float:
    """Return the training camera of ``domain`` ('nyu' or 'kitti') at the network input."""
    cam = TRAINING_CAMERAS[domain]
    return focal_at_network((cam.fx, cam.fy), cam.height, cam.width, processor)


def head_domains(config) -> Tuple[str, ...]:
    """
    Return the training domain ('nyu' or 'kitti') of each metric head, in router order.

    Heads named ``kitti`` or with a depth range beyond 20 m are outdoor. A single
    *normed* head is the converted ZoeD_K (Intel/zoedepth-kitti: trained on KITTI,
    although its head is named ``nyu`` with 10 m, as transformers' conversion wrote it).
    """
    bins = list(getattr(config, 'bin_configurations', None) or [{}])
    domains = []
    for conf in bins:
        outdoor = conf.get('name') == 'kitti' or float(conf.get('max_depth', 10.0)) > 20.0
        domains.append('kitti' if outdoor else 'nyu')
    if len(bins) == 1 and getattr(config, 'bin_centers_type', '') == 'normed':
        domains = ['kitti']
    return tuple(domains)


class ZoeDepthModel(DepthModel):
    """ZoeDepth: padded, aspect-keeping input; metric bins; optional flip TTA; NK routing."""

    family = 'zoedepth'
    supports_flip_tta = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.head_names = tuple(str(c.get('name', f'head{i}')) for i, c in enumerate(
            getattr(self.config, 'bin_configurations', None) or [{}]))
        self.head_domains = head_domains(self.config)
        #: Domain of the head used for the latest frame ('nyu' or 'kitti').
        self.last_domain = self.head_domains[0]

    # ------------------------------------------------------------------ focal
    @property
    def default_reference_focal(self) -> Optional[float]:
        """Return the training focal at the network input of the latest frame's head."""
        return reference_focal_for(self.last_domain, self.processor)

    @property
    def routed(self) -> bool:
        """Whether the checkpoint routes between several heads (NYU+KITTI)."""
        return len(self.head_domains) > 1

    # ------------------------------------------------------------------ stages
    def preprocess(self, image: torch.Tensor):
        """Rescale, reflect-pad, resize (bilinear, align_corners) and normalise."""
        p = self.processor
        h, w = (int(v) for v in image.shape[-2:])
        pad, padded, net = network_geometry(h, w, p)
        x = rescaled(image, float(p.get('rescale_factor', 1.0 / 255.0))
                     if p.get('do_rescale', True) else None)
        if pad != (0, 0):
            x = F.pad(x, (pad[1], pad[1], pad[0], pad[0]), mode='reflect')
        if tuple(x.shape[-2:]) != tuple(net):
            mode = 'bicubic' if int(p.get('resample', 2)) == 3 else 'bilinear'
            x = F.interpolate(x, size=net, mode=mode, align_corners=True)
        if p.get('do_normalize', True):
            x = (x - self._mean) / self._std
        ctx = {'in_size': (h, w), 'pad': pad, 'padded_size': padded, 'net_size': tuple(net)}
        return x.to(self.dtype), ctx

    def forward(self, pixel_values: torch.Tensor):
        """
        Run the network, every image on the head its own router logits choose.

        With flip TTA the image and its mirror image run as one batch. When the
        batch's single vote overrules some images' own choice, those images run
        again, grouped by their own head (each group's summed logits then pick
        the head every member picks), and their depth replaces the batch's.
        """
        if self.flip_tta:
            pixel_values = torch.cat([pixel_values, torch.flip(pixel_values, dims=[-1])])
        outputs = self._forward(pixel_values=pixel_values)
        if not self.routed or pixel_values.shape[0] < 2:
            return outputs
        vote = self.route(outputs)
        own = self.item_routes(outputs)
        overruled = [i for i, head in enumerate(own) if head != vote]
        if not overruled:
            return outputs
        depth = outputs.predicted_depth.clone()
        for head in sorted({own[i] for i in overruled}):
            group = [i for i in overruled if own[i] == head]
            index = torch.tensor(group, device=pixel_values.device)
            depth[index] = self._forward(pixel_values=pixel_values[index]).predicted_depth
        fields = dict(outputs.items())
        fields['predicted_depth'] = depth
        return type(outputs)(**fields)

    def route(self, outputs) -> int:
        """Return the head the network's one vote over the batch picks (0: single head)."""
        logits = getattr(outputs, 'domain_logits', None)
        if logits is None or not self.routed:
            return 0
        # As ZoeDepthMultipleMetricDepthEstimationHeads: one vote over the whole batch.
        return int(torch.argmax(logits.float().sum(dim=0)).item())

    def item_routes(self, outputs) -> List[int]:
        """Return the head each image of the batch picks by its own logits."""
        logits = getattr(outputs, 'domain_logits', None)
        if logits is None or not self.routed:
            return [0] * int(outputs.predicted_depth.shape[0])
        return [int(v) for v in torch.argmax(logits.float(), dim=-1).tolist()]

    def postprocess(self, outputs, ctx: dict, focal: Focal) -> torch.Tensor:
        """Scale each prediction by its head's focal ratio, average the flip, resize, unpad."""
        depth = outputs.predicted_depth.float()
        routes = self.item_routes(outputs)
        domains = [self.head_domains[r] for r in routes]
        if focal is not None:
            h, w = ctx['in_size']
            f_camera = focal_at_network(focal, h, w, self.processor)
            override = self._reference_focal_override
            factors = [f_camera / (override if override > 0.0
                                   else reference_focal_for(d, self.processor))
                       for d in domains]
            if len(set(factors)) == 1:
                depth = depth * factors[0]
            else:
                depth = depth * torch.tensor(factors, device=depth.device).view(-1, 1, 1)
        if self.flip_tta and depth.shape[0] == 2:
            depth = 0.5 * (depth[:1] + torch.flip(depth[1:], dims=[-1]))
        self.last_domain = domains[0]
        (pad_h, pad_w), padded = ctx['pad'], ctx['padded_size']
        depth = resize_depth(depth[0], padded, 'bicubic')
        h, w = ctx['in_size']
        return depth[pad_h:pad_h + h, pad_w:pad_w + w]

    def describe(self) -> str:
        """Return one line for the start-up log, with the heads and their reference focals."""
        heads = ', '.join(
            f'{dom.upper()} head' + ('' if name == dom else f" (named '{name}')")
            + f' reference focal {reference_focal_for(dom, self.processor):.1f} px'
            for name, dom in zip(self.head_names, self.head_domains))
        override = self._reference_focal_override
        ref = f'reference focal {override:.1f} px (override)' if override > 0 else heads
        return (f'model {self.model_id} ({self.family}), device {self.device}, precision '
                f'{str(self.dtype).replace("torch.", "")}, {ref}'
                + (', router picks the head per frame' if self.routed else '')
                + f', flip TTA {"on" if self.flip_tta else "off"}')
