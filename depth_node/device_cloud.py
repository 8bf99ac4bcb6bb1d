# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
Depth image and point-cloud payloads built on the inference device (torch).

The same results as :class:`depth_node.geometry.CloudBuilder` and
:func:`depth_node.conversions.depth_to_image_fields`, byte for byte, but
computed where the depth map already is: back-projection, range limits, NaN
for invalid points, packed rgb and (for dense clouds) compaction all run on the
device, and each payload comes back to the host as ONE download straight into
the ``array.array('B')`` that becomes ``msg.data`` (see :mod:`depth_node.msgfill`).

Bit-identity: the rays are the CPU grid's float32 values (computed once in
float64 by :class:`~depth_node.geometry.RayGrid`, then uploaded), and each
coordinate is one IEEE float32 multiplication ``ray * z``, which every device
rounds the same way; thresholds are compared in float32 as numpy does.
"""

import array
from typing import Optional, Sequence, Tuple

import numpy as np
import torch

from .conversions import POINTFIELD_FLOAT32
from .geometry import CloudData, Intrinsics, RayGrid
from .msgfill import byte_buffer

#: Little-endian layout of the packed rgb float: bytes B, G, R, 0 (0x00RRGGBB).
_RGB_BYTES = (14, 13, 12)  # byte offsets of red, green, blue in a 16-byte xyz+rgb point


def download_bytes(tensor: torch.Tensor) -> array.array:
    """
    Copy a contiguous tensor's bytes into a new ``array.array('B')`` in one transfer.

    The device -> host copy writes straight into the array's memory (no
    intermediate host tensor); on the CPU it is one ``memcpy``.
    """
    flat = tensor.detach().contiguous().view(-1).view(torch.uint8)
    buf = byte_buffer(flat.numel())
    if flat.numel():
        torch.frombuffer(buf, dtype=torch.uint8).copy_(flat)
    return buf


def depth_payload(depth: torch.Tensor, encoding: str = '32FC1') -> torch.Tensor:
    """
    Return the REP 118 depth image bytes of ``depth`` (``H x W`` metres) on its device.

    ``32FC1``: float32 metres, NaN for invalid (``<= 0`` or NaN); ``16UC1``:
    millimetres rounded half to even, 0 for invalid and beyond 65.535 m. Same
    bytes as :func:`~depth_node.conversions.depth_to_image_fields`.
    """
    if depth.dim() != 2:
        raise ValueError(f'depth must be H x W, got shape {tuple(depth.shape)}')
    depth = depth.to(torch.float32)
    if encoding == '32FC1':
        nan = torch.tensor(float('nan'), dtype=torch.float32, device=depth.device)
        return torch.where(depth > 0, depth, nan)
    if encoding == '16UC1':
        mm = torch.round(depth * 1000.0)
        valid = (mm > 0) & (mm <= 65535)
        mm = torch.where(valid, mm, torch.zeros((), dtype=torch.float32, device=depth.device))
        # The low two bytes of each little-endian int32 are the uint16 value.
        return mm.to(torch.int32).view(torch.uint8).view(depth.shape + (4,))[..., :2]
    raise ValueError(f"depth encoding must be '32FC1' or '16UC1', got {encoding!r}")


def depth_image_fields(depth: torch.Tensor, encoding: str = '32FC1'):
    """Return ``(encoding, step, data)`` like ``depth_to_image_fields``, computed on the device."""
    payload = depth_payload(depth, encoding)
    width = int(depth.shape[1])
    step = width * (4 if encoding == '32FC1' else 2)
    return encoding, step, download_bytes(payload)


class DeviceCloudBuilder:
    """
    :class:`~depth_node.geometry.CloudBuilder` on a torch device: one buffer per cloud.

    ``pack`` returns the cloud's bytes as a device tensor; ``build`` also
    downloads them into ``msg.data``'s array and returns a
    :class:`~depth_node.geometry.CloudData` equal to the CPU builder's.
    Rays are cached per camera and stride (on the device).
    """

    def __init__(self, device='cpu'):
        self.device = torch.device(device)
        self._key: Optional[Tuple[Intrinsics, int]] = None
        self._rays: Optional[Tuple[torch.Tensor, torch.Tensor]] = None
        self._shape: Tuple[int, int] = (0, 0)

    def rays(self, intr: Intrinsics, stride: int) -> Tuple[torch.Tensor, torch.Tensor]:
        """Return ``(x, y)`` ray factors (``1 x W'`` and ``H' x 1`` float32) on the device."""
        key = (intr, int(stride))
        if self._key != key:
            grid = RayGrid(intr, stride)
            self._rays = (torch.from_numpy(grid.x).to(self.device),
                          torch.from_numpy(grid.y).to(self.device))
            self._shape = grid.shape
            self._key = key
        return self._rays

    def pack(self, depth: torch.Tensor, intr: Intrinsics, rgb: Optional[torch.Tensor] = None,
             *, rgb_order: Sequence[int] = (0, 1, 2), stride: int = 1, organized: bool = True,
             min_depth: float = 0.0, max_depth: float = 0.0):
        """
        Back-project and pack on the device; return ``(fields, point_step, height, width, bytes)``.

        ``depth`` is ``H x W`` metres (NaN/<=0 invalid) and ``rgb`` an
        ``H x W x C`` uint8 tensor whose red, green and blue channels are
        ``rgb_order`` (a permuted view of a ``3 x H x W`` image works too), both
        on the builder's device. The options mean what they mean for
        :meth:`~depth_node.geometry.CloudBuilder.build`.
        """
        rx, ry = self.rays(intr, stride)
        s = int(stride)
        z = depth[::s, ::s] if s > 1 else depth
        z = z.to(torch.float32)
        if rgb is not None and s > 1:
            rgb = rgb[::s, ::s]
        valid = z > max(float(min_depth), 0.0)
        # +inf ("too far", REP 117) is never a point, with or without a limit.
        valid &= z <= float(max_depth) if max_depth > 0.0 else z < float('inf')
        nf = 4 if rgb is not None else 3
        names = ('x', 'y', 'z', 'rgb')[:nf]
        fields = [(name, 4 * i, POINTFIELD_FLOAT32, 1) for i, name in enumerate(names)]
        point_step = 4 * nf
        if organized:
            height, width = self._shape
            nan = torch.tensor(float('nan'), dtype=torch.float32, device=z.device)
            out = torch.empty((height, width, point_step), dtype=torch.uint8, device=z.device)
            xyz = out.view(torch.float32)
            # NaN written by selection, not produced by arithmetic: a GPU's NaN * x is
            # 0x7fffffff where the CPU keeps the operand's 0x7fc00000.
            torch.where(valid, rx * z, nan, out=xyz[..., 0])
            torch.where(valid, ry * z, nan, out=xyz[..., 1])
            torch.where(valid, z, nan, out=xyz[..., 2])
            if rgb is not None:
                _pack_rgb(out, rgb, rgb_order)
            return fields, point_step, height, width, out
        zv = z[valid]
        count = int(zv.numel())
        out = torch.empty((count, point_step), dtype=torch.uint8, device=z.device)
        xyz = out.view(torch.float32)
        torch.mul(rx.expand(self._shape)[valid], zv, out=xyz[:, 0])
        torch.mul(ry.expand(self._shape)[valid], zv, out=xyz[:, 1])
        xyz[:, 2] = zv
        if rgb is not None:
            _pack_rgb(out, rgb[valid], rgb_order)
        return fields, point_step, 1, count, out

    def build(self, depth: torch.Tensor, intr: Intrinsics, rgb: Optional[torch.Tensor] = None,
              **options) -> CloudData:
        """Return the :class:`~depth_node.geometry.CloudData` of :meth:`pack`, downloaded once."""
        organized = options.get('organized', True)
        fields, point_step, height, width, out = self.pack(depth, intr, rgb, **options)
        return CloudData(height, width, fields, point_step, point_step * width,
                         download_bytes(out), is_dense=not organized)


def _pack_rgb(out: torch.Tensor, pixels: torch.Tensor, rgb_order: Sequence[int]) -> None:
    """Write packed rgb bytes (B, G, R, 0) into bytes 12..15 of each 16-byte point."""
    for offset, channel in zip(_RGB_BYTES, rgb_order):
        out[..., offset] = pixels[..., channel]
    out[..., 15] = 0


def to_device_image(pixels: np.ndarray, device) -> torch.Tensor:
    """Upload an ``H x W x C`` uint8 image (for tests and callers without one on the device)."""
    return torch.from_numpy(np.ascontiguousarray(pixels)).to(device)
