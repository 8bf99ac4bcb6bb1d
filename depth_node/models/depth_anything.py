# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""Depth Anything V2 metric checkpoints (``model_type: depth_anything``, metric head)."""

from typing import Optional, Tuple

import torch
import torch.nn.functional as F

from .base import DepthModel, Focal, keep_aspect_size, resize_like_pil

#: Training focal length in pixels at the network input (mean of fx and fy), by the
#: head's max_depth. 20 m heads were fine-tuned on Hypersim only (1024x768, f 886.81 px),
#: 80 m heads on Virtual KITTI 2 only (1242x375, f 725.0087 px); training resized the
#: short side to 518 (multiple of 14): Hypersim 686x518 -> (594.09 + 598.13) / 2,
#: VKITTI2 1722x518 -> (1005.21 + 1001.48) / 2. Sources in README, Models.
REFERENCE_FOCALS = {
    20.0: 596.1,
    80.0: 1003.3,
}


def focal_at(focal: Tuple[float, float], in_size: Tuple[int, int],
             net_size: Tuple[int, int]) -> float:
    """Mean focal length of the camera at the network input resolution."""
    fx, fy = focal
    (h, w), (nh, nw) = in_size, net_size
    return 0.5 * (fx * nw / w + fy * nh / h)


class DepthAnythingModel(DepthModel):
    """Depth Anything V2 metric: DPT-style resize (multiple of 14), sigmoid x max_depth head."""

    family = 'depth_anything_v2_metric'

    @property
    def default_reference_focal(self) -> Optional[float]:
        """Training focal by the checkpoint's ``max_depth`` (20 indoor, 80 outdoor)."""
        return REFERENCE_FOCALS.get(float(self.config.max_depth), REFERENCE_FOCALS[20.0])

    def preprocess(self, image: torch.Tensor):
        """Resize (keep aspect, multiple of 14, PIL bicubic), rescale and normalise."""
        p = self.processor
        h, w = image.shape[-2:]
        x = image.float()
        if p.get('do_resize', True):
            size = p.get('size', {'height': 518, 'width': 518})
            new_size = keep_aspect_size(h, w, (size['height'], size['width']),
                                        p.get('keep_aspect_ratio', False),
                                        int(p.get('ensure_multiple_of', 1)))
            x = resize_like_pil(x, new_size, p.get('resample', 3))
        x = self.normalize(x)
        return x.to(self.dtype), {'in_size': (int(h), int(w)), 'net_size': tuple(x.shape[-2:])}

    def postprocess(self, outputs, ctx: dict, focal: Focal) -> torch.Tensor:
        """Scale by f_camera / f_train at the network input, then upsample (bicubic)."""
        depth = outputs.predicted_depth.float()
        ref = self.reference_focal
        if focal is not None and ref:
            depth = depth * (focal_at(focal, ctx['in_size'], ctx['net_size']) / ref)
        depth = F.interpolate(depth.unsqueeze(1), size=ctx['in_size'], mode='bicubic',
                              align_corners=False)
        return depth[0, 0]
