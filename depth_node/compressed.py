# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
sensor_msgs/CompressedImage (JPEG or PNG, image_transport's ``compressed``) -> numpy.

Without rclpy. image_transport's compressed plugin encodes colour images as
BGR (``format`` e.g. ``'rgb8; jpeg compressed bgr8'``) and OpenCV decodes any
colour JPEG/PNG to BGR, so the channel order is known from the channel count.
"""

from typing import Tuple

import cv2
import numpy as np

from .errors import BadImageError

#: Channel order (indices of red, green, blue) of OpenCV's decoded images by channel count.
_ORDERS = {1: (0, 0, 0), 3: (2, 1, 0), 4: (2, 1, 0)}
_ENCODINGS = {1: 'mono8', 3: 'bgr8', 4: 'bgra8'}


def decode_compressed(msg) -> Tuple[np.ndarray, Tuple[int, int, int], str]:
    """
    Return ``(pixels, rgb_order, encoding)`` of a CompressedImage message.

    ``pixels`` is an ``H x W x C`` uint8 array; ``encoding`` names the decoded
    layout (``bgr8``, ``bgra8`` or ``mono8``). Raises BadImageError for depth
    formats (``compressedDepth``, 16-bit PNG) and undecodable data.
    """
    fmt = str(msg.format)
    if 'compresseddepth' in fmt.lower().replace(' ', ''):
        raise BadImageError(
            f"compressed image format '{fmt}' carries depth; depth_node needs a colour "
            'image (remap image to the colour stream)')
    data = np.frombuffer(msg.data, dtype=np.uint8)
    if data.size == 0:
        raise BadImageError(f"empty compressed image (format '{fmt}')")
    try:
        pixels = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    except cv2.error as exc:  # e.g. a header claiming more pixels than OpenCV allows
        reason = (exc.err or str(exc)).strip().splitlines()[0]
        raise BadImageError(
            f"cannot decode the compressed image (format '{fmt}', {data.size} bytes): "
            f'{reason}') from None
    if pixels is None:
        raise BadImageError(
            f"cannot decode the compressed image (format '{fmt}', {data.size} bytes): "
            'not a valid JPEG or PNG')
    if pixels.dtype != np.uint8:
        raise BadImageError(
            f"compressed image (format '{fmt}') decodes to {pixels.dtype}: a 16-bit/depth "
            'image; depth_node needs an 8-bit colour image')
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    channels = pixels.shape[2]
    if channels not in _ORDERS:
        raise BadImageError(f'compressed image has {channels} channels; expected 1, 3 or 4')
    return pixels, _ORDERS[channels], _ENCODINGS[channels]
