# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
Depth predictions recorded in a rosbag2, for ``depth_node_eval --predictions BAG``.

A bag of ``depth_node_run --out-bag`` holds each frame's prediction on
``<ns>/depth/image`` (Image, 32FC1 or 16UC1) or, with ``--compressed-depth``,
``<ns>/depth/image/compressedDepth`` (CompressedImage in
compressed_depth_image_transport's format, decoded by
:func:`depth_node.compressed_depth.decode_compressed_depth` as that
transport's subscriber decodes it), beside the frame's input image with the
same stamp. A dataset sample finds its prediction through that image: the
sample's RGB pixels are those of one image in the bag (``depth_node_run``
writes image files into the bag as they are read), and that image's stamp is
the prediction's. A bag without colour images is matched in order, and only
when it holds one prediction per sample.
"""

import hashlib
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np

from .bag import bag_typestore, require_rosbags
from .cli import OfflineInputError
from .sources import bag_folder, IMAGE_TYPES
from ..compressed_depth import decode_compressed_depth
from ..conversions import image_fields_to_depth, rgb_from_array
from ..errors import DepthNodeError
from ..frame import decode_image

#: Topic names of depth predictions, raw first (preferred when a bag has both).
DEPTH_SUFFIXES = ('/depth/image', '/depth/image/compressedDepth')


def pixels_key(rgb: np.ndarray) -> str:
    """Return a digest of an ``H x W x 3`` RGB image's size and pixels."""
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    return hashlib.sha1(repr(rgb.shape).encode() + rgb.tobytes()).hexdigest()


class BagPredictor:
    """Predictions stored in a rosbag2 (raw or compressedDepth), matched to samples by image."""

    def __init__(self, path, topic: Optional[str] = None, count: Optional[int] = None):
        require_rosbags()
        from rosbags.rosbag2 import Reader
        self.path = bag_folder(path)
        self.typestore = bag_typestore()
        try:
            reader = Reader(self.path)
            reader.open()
        except Exception as exc:  # noqa: B902 - rosbags raises several unrelated types
            raise OfflineInputError(f'cannot open rosbag2 {self.path}: {exc}') from None
        try:
            connections = list(reader.connections)
            self.topic = self._pick_topic(connections, topic)
            depth = [c for c in connections if c.topic == self.topic]
            images = [c for c in connections if c.msgtype in IMAGE_TYPES
                      and 'depth' not in c.topic.lower()]
            #: stamp -> (msgtype, serialised message), decoded when a sample asks.
            self.depth: Dict[Tuple[int, int], Tuple[str, bytes]] = {}
            self.stamps: Dict[str, Tuple[int, int]] = {}
            for conn, _, raw in reader.messages(connections=depth + images):
                msg = self.typestore.deserialize_cdr(raw, conn.msgtype)
                stamp = (int(msg.header.stamp.sec), int(msg.header.stamp.nanosec))
                if conn.topic == self.topic:
                    self.depth.setdefault(stamp, (conn.msgtype, bytes(raw)))
                else:
                    self._add_image(msg, stamp)
        finally:
            reader.close()
        if not self.depth:
            raise OfflineInputError(f'{self.path}: no messages on {self.topic}')
        self.order: List[Tuple[int, int]] = sorted(self.depth)
        self.by_image = bool(self.stamps)
        if not self.by_image and count is not None and count != len(self.order):
            raise OfflineInputError(
                f'{self.path} holds {len(self.order)} predictions and no input images to '
                f'match them by, for {count} samples: pass the bag of depth_node_run on '
                "this dataset's images")
        self._next = 0

    @staticmethod
    def _pick_topic(connections, topic: Optional[str]) -> str:
        found = sorted({c.topic for c in connections
                        if c.msgtype in IMAGE_TYPES and c.topic.endswith(DEPTH_SUFFIXES)})
        if topic:
            if topic not in {c.topic for c in connections if c.msgtype in IMAGE_TYPES}:
                raise OfflineInputError(
                    f"no image topic '{topic}' in the bag; depth topics: "
                    f"{', '.join(found) or 'none'}")
            return topic
        raw = [t for t in found if t.endswith(DEPTH_SUFFIXES[0])]
        if len(found) == 1 or (len(raw) == 1 and all(
                t in (raw[0], raw[0] + '/compressedDepth') for t in found)):
            return raw[0] if raw else found[0]
        raise OfflineInputError(
            f"{'no' if not found else 'several'} depth prediction topics in the bag "
            f"({', '.join(found) or 'expected <ns>/depth/image or .../compressedDepth'}); "
            'pass --prediction-topic')

    def _add_image(self, msg, stamp) -> None:
        try:
            decoded = decode_image(msg)
        except DepthNodeError:
            return
        if decoded.pixels.shape[2] >= 3:
            self.stamps.setdefault(pixels_key(rgb_from_array(decoded.pixels,
                                                             decoded.rgb_order)), stamp)

    def __call__(self, sample, rgb: np.ndarray, info) -> np.ndarray:
        """Return the prediction (metres, NaN invalid) recorded for ``sample``'s image."""
        if self.by_image:
            stamp = self.stamps.get(pixels_key(rgb))
            if stamp is None:
                raise OfflineInputError(
                    f'{sample.name}: its image is not in {self.path} (the bag holds the '
                    'predictions of other images)')
            if stamp not in self.depth:
                raise OfflineInputError(
                    f'{sample.name}: {self.path} has its image but no prediction on '
                    f'{self.topic} (stamp {stamp[0]}.{stamp[1]:09d})')
        else:
            stamp = self.order[min(self._next, len(self.order) - 1)]
            self._next += 1
        msgtype, raw = self.depth[stamp]
        msg = self.typestore.deserialize_cdr(raw, msgtype)
        try:
            if hasattr(msg, 'format'):
                return decode_compressed_depth(msg.format, msg.data).metres()
            return image_fields_to_depth(msg)
        except DepthNodeError as exc:
            raise OfflineInputError(
                f'{sample.name}: the prediction on {self.topic} does not decode: {exc}') from None

    def describe(self) -> str:
        """Return where the predictions come from, in a few words."""
        how = 'by image' if self.by_image else 'in order'
        return f'predictions on {self.topic} in {Path(self.path)} ({len(self.order)}, ' \
               f'matched {how})'
