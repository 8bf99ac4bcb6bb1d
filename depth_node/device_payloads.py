# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
The last stage of the frame path on the inference device (CUDA): payloads built where the depth is.

Without rclpy. When the model runs on CUDA the frame path keeps the predicted
depth on the device (:class:`DeviceDepth`), and :class:`DevicePayloads` does
what :class:`~depth_node.payloads.HostPayloads` does on the host: decimation,
the edge filter, the depth image and the cloud (:mod:`depth_node.device_cloud`),
each payload downloaded once, ready for ``msg.data``; a host depth map is
downloaded only for the scan, the colourised depth, or when something reads
:attr:`DeviceFrameOutput.depth`.
"""

from dataclasses import dataclass
from typing import List, Optional

import numpy as np

from .camera import CameraInfoFields
from .errors import InvalidDepthError
from .geometry import decimate, Intrinsics
from .outputs import FrameOutput, OutputOptions
from .payloads import colored, decimate_outputs, HostPayloads
from .stream import Event
from .timing import stage


@dataclass
class DeviceDepth:
    """A predicted depth map still on the inference device, with the image it came from."""

    #: ``H x W`` metres (a torch tensor on the device; a numpy array is accepted too).
    depth: object
    #: The uploaded ``1 x 3 x H x W`` uint8 RGB image on the device, or None.
    image: object = None


class DeviceFrameOutput(FrameOutput):
    """A :class:`FrameOutput` whose ``depth`` is downloaded from the device on first use."""

    @property
    def depth(self) -> np.ndarray:
        """Return the host depth map (``H x W`` float32), downloading it once."""
        if self._host_depth is None:
            self._host_depth = _to_host(self._device_depth)
        return self._host_depth

    @depth.setter
    def depth(self, value) -> None:
        self._device_depth = value
        self._host_depth = value if isinstance(value, np.ndarray) else None

    @property
    def device_depth(self):
        """Return the depth map as it came from the model (a device tensor)."""
        return self._device_depth


def _to_host(depth) -> np.ndarray:
    if isinstance(depth, np.ndarray):
        return np.ascontiguousarray(depth, dtype=np.float32)
    return np.ascontiguousarray(depth.detach().to('cpu', dtype=_torch().float32).numpy())


def _torch():
    import torch
    return torch


class DevicePayloads:
    """
    The last stage on the model's device (``FrameProcessor.device_payloads``).

    The same steps and outputs as :meth:`~depth_node.payloads.HostPayloads.encode`
    (depth payload bit for bit, cloud equal to
    :class:`~depth_node.geometry.CloudBuilder`'s, the same flying pixels), run
    where the depth already is: decimation (views), the edge filter
    (:meth:`~depth_node.filters.EdgeFilter.mask_torch`), the depth image and the
    cloud (:mod:`depth_node.device_cloud`), one download per payload. The scan
    and the colourised depth are built on the host from one download of the
    depth they need, only when asked.
    """

    def __init__(self, host: HostPayloads):
        #: The host stage: its edge filter (thresholds), scan builder and family name.
        self.host = host
        self._clouds = None
        self._mask_key = None
        self._mask = None

    @staticmethod
    def supports(opts: OutputOptions) -> bool:
        """Whether every output ``opts`` ask for can be built on the device."""
        return opts.depth_encoding in ('32FC1', '16UC1')

    def mask(self, depth, valid: np.ndarray):
        """Return ``depth`` with NaN where ``valid`` (the undistortion's valid area) is False."""
        if not isinstance(depth, DeviceDepth):
            return np.where(valid, depth, np.float32(np.nan))
        torch = _torch()
        tensor = depth.depth
        if not torch.is_tensor(tensor):
            return DeviceDepth(np.where(valid, tensor, np.float32(np.nan)), depth.image)
        if self._mask_key is not valid or self._mask.device != tensor.device:
            self._mask = torch.from_numpy(np.ascontiguousarray(valid)).to(tensor.device)
            self._mask_key = valid
        nan = torch.tensor(float('nan'), dtype=tensor.dtype, device=tensor.device)
        return DeviceDepth(torch.where(self._mask, tensor, nan), depth.image)

    def encode(self, pixels, rgb_order, dev: DeviceDepth, intr: Intrinsics,
               info_fields: CameraInfoFields, opts: OutputOptions, timings: dict,
               events: Optional[List[Event]]) -> FrameOutput:
        """Return the frame's outputs, built on the device from ``dev``."""
        from .device_cloud import depth_image_fields, DeviceCloudBuilder
        torch = _torch()
        depth = dev.depth
        if not torch.is_tensor(depth):
            depth = torch.from_numpy(np.ascontiguousarray(depth))
        depth = depth.to(torch.float32)
        device = depth.device
        if not bool((~torch.isnan(depth)).any()):
            raise InvalidDepthError(
                f'{self.host.family} produced no finite depth for this frame '
                '(numerical overflow? try precision:=fp32)')
        rgb, order = None, rgb_order
        if opts.publish_points and opts.points_rgb:
            rgb, order = self._device_image(dev.image, pixels, rgb_order, device)
        n = opts.decimation
        pixels, depth, intr, info_fields = decimate_outputs(
            pixels, depth, intr, info_fields, n, timings)
        if rgb is not None and n > 1:
            rgb = decimate(rgb, n)
        published, clean, flying = self._edge_filter(depth, intr, opts, timings)
        with stage(timings, 'depth_msg', device):
            encoding, step, data = depth_image_fields(published, opts.depth_encoding)
        cloud = None
        if opts.publish_points:
            with stage(timings, 'cloud_msg', device):
                if self._clouds is None or self._clouds.device != device:
                    self._clouds = DeviceCloudBuilder(device)
                cloud = self._clouds.build(clean, intr, rgb, rgb_order=order,
                                           stride=opts.points_stride,
                                           organized=opts.points_organized,
                                           min_depth=opts.min_depth, max_depth=opts.max_depth)
        host = _HostDepths(published, clean)
        scan = self.host.scan(host.clean(), intr, opts, timings) if opts.scan else None
        image = colored(host.published(), opts, timings) if opts.colored else None
        out = DeviceFrameOutput(pixels, rgb_order, published, intr, info_fields, encoding,
                                step, data, cloud, timings, events or [], scan=scan,
                                colored=image, flying_pixels=flying)
        out._host_depth = host.published_if_downloaded()
        return out

    def _edge_filter(self, depth, intr: Intrinsics, opts: OutputOptions, timings: dict):
        """Return ``(published, for the cloud and scan, flying count)`` as the host stage."""
        if not opts.edge_filter or not (
                opts.publish_points or opts.scan or opts.edge_filter_depth):
            return depth, depth, None
        torch = _torch()
        with stage(timings, 'edge_filter', depth.device):
            edges = self.host.edges
            edges.min_angle = float(opts.edge_min_angle)
            mask = edges.mask_torch(depth, intr)
            flying = int(torch.count_nonzero(mask))
            clean = depth
            if flying:
                nan = torch.tensor(float('nan'), dtype=depth.dtype, device=depth.device)
                clean = torch.where(mask, nan, depth)
        return (clean if opts.edge_filter_depth else depth), clean, flying

    @staticmethod
    def _device_image(image, pixels, rgb_order, device):
        """Return ``(H x W x C uint8 tensor, rgb order)``: the model's upload when it fits."""
        from .device_cloud import to_device_image
        height, width = pixels.shape[:2]
        # Models that resize on the host upload a smaller image (or a wrapper of one).
        if _torch().is_tensor(image) and tuple(image.shape) == (1, 3, height, width) and (
                image.device == device and image.dtype == _torch().uint8):
            return image[0].permute(1, 2, 0), (0, 1, 2)
        return to_device_image(pixels, device), rgb_order


class _HostDepths:
    """Host copies of the published and the filtered depth, each downloaded on first use."""

    def __init__(self, published, clean):
        self._tensors = {'published': published, 'clean': clean}
        self._host = {}

    def _get(self, key: str) -> np.ndarray:
        tensor = self._tensors[key]
        for name, other in self._tensors.items():  # the same tensor: one download
            if other is tensor and name in self._host:
                return self._host[name]
        if key not in self._host:
            self._host[key] = _to_host(tensor)
        return self._host[key]

    def published(self) -> np.ndarray:
        """Return the published depth on the host."""
        return self._get('published')

    def clean(self) -> np.ndarray:
        """Return the filtered depth (for the scan) on the host."""
        return self._get('clean')

    def published_if_downloaded(self) -> Optional[np.ndarray]:
        """Return the host published depth if it was downloaded, else None."""
        if 'published' in self._host:
            return self._host['published']
        if self._tensors['clean'] is self._tensors['published']:
            return self._host.get('clean')
        return None
