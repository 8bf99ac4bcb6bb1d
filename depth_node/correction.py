# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
A global correction of a predicted depth map: scale in depth, optionally a shift in inverse depth.

Without rclpy. The stages that put the network's depth on a better metric scale
(anchoring to a range sensor, :mod:`depth_node.anchor`; temporal stabilisation,
:mod:`depth_node.temporal`) each produce a :class:`Correction`; the frame path
applies the final one once, to the depth that every output (depth image, cloud,
scan, colourised depth) is built from.

The model: corrected inverse depth = ``inverse / scale + shift``, that is
``depth' = scale * depth / (1 + shift * scale * depth)``; ``shift`` is in 1/m.
With ``shift == 0`` (the default) it is a plain scale, ``depth' = scale *
depth``. NaN stays NaN (invalid), +inf stays +inf (REP 117 "too far", Depth
Anything 3's sky); a pixel whose corrected inverse depth is not positive
(possible only with a negative shift) becomes NaN: the correction has no depth
for it.
"""

from dataclasses import dataclass
import math

import numpy as np


@dataclass(frozen=True)
class Correction:
    """``depth' = scale * depth / (1 + shift * scale * depth)`` (identity: 1, 0)."""

    scale: float = 1.0
    #: Inverse-depth shift in 1/m (0: a pure scale).
    shift: float = 0.0

    def __post_init__(self):
        if not (math.isfinite(self.scale) and self.scale > 0.0):
            raise ValueError(f'a correction scale must be finite and positive; got {self.scale}')
        if not math.isfinite(self.shift):
            raise ValueError(f'a correction shift must be finite; got {self.shift}')

    @property
    def is_identity(self) -> bool:
        """Whether applying it changes nothing."""
        return self.scale == 1.0 and self.shift == 0.0

    def apply(self, depth):
        """
        Return the corrected ``depth`` (a float32 numpy array or a torch tensor), a new array.

        The identity returns ``depth`` itself (no copy).
        """
        if self.is_identity:
            return depth
        if isinstance(depth, np.ndarray):
            return self._apply_numpy(depth)
        return self._apply_torch(depth)

    def _apply_numpy(self, depth: np.ndarray) -> np.ndarray:
        scale = np.float32(self.scale)
        out = np.multiply(depth, scale, dtype=np.float32)
        if self.shift == 0.0:
            return out
        with np.errstate(divide='ignore', invalid='ignore', over='ignore'):
            denominator = np.float32(1.0) + np.float32(self.shift) * out
            corrected = out / denominator
        finite = np.isfinite(out)
        bad = finite & ~(denominator > 0.0)
        np.copyto(out, corrected, where=finite & ~bad)
        np.copyto(out, np.float32(np.nan), where=bad)
        return out

    def _apply_torch(self, depth):
        import torch
        out = depth.to(torch.float32) * self.scale
        if self.shift == 0.0:
            return out
        denominator = 1.0 + self.shift * out
        finite = torch.isfinite(out)
        bad = finite & ~(denominator > 0.0)
        corrected = torch.where(finite, out / denominator, out)
        return torch.where(bad, torch.full_like(out, float('nan')), corrected)


IDENTITY = Correction()
