# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
Anchors for the offline tools: a simulated sparse sensor, a folder of depth files, a bag topic.

No rclpy. Each gives :class:`~depth_node.anchor.AnchorInput` messages, the
input the node's ``anchor/depth`` and ``anchor/points`` subscriptions give the
frame path, so ``depth_node_run``, ``depth_node_eval`` and the node fit the
same anchors with the same code:

* :class:`SimulatedSensor` (``depth_node_eval --anchor-points N``): N pixels
  drawn from the ground truth, with a stated noise model, as a sparse 32FC1
  depth image;
* :class:`AnchorFolder` (``--anchor-depth DIR``): one depth file per image,
  matched by name: a 16-bit PNG in millimetres becomes the 16UC1 image a
  depth camera would publish (other PNG scales and ``.npy`` metres 32FC1);
* :class:`BagAnchors` (``depth_node_run --anchor-depth-topic``,
  ``--anchor-points-topic``): a bag's anchor topic, paired with each image by
  stamp with the node's :class:`~depth_node.anchor.AnchorBuffer`.
"""

from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Dict, List, Optional, Tuple
import zlib

import cv2
import numpy as np

from .bag import bag_typestore, require_rosbags
from .cli import OfflineInputError
from .datasets import pairing_key, read_depth
from .metrics import Protocol
from .sources import list_files
from ..anchor import AnchorBuffer, AnchorInput, needs_transform
from ..stream import Event

#: Message types of the two anchor inputs.
ANCHOR_TYPES = {'depth': 'sensor_msgs/msg/Image', 'points': 'sensor_msgs/msg/PointCloud2'}
#: Depth file suffixes of an anchor folder.
ANCHOR_SUFFIXES = ('.png', '.npy', '.tif', '.tiff')


def _header(stamp_ns: int, frame_id: str) -> SimpleNamespace:
    stamp_ns = int(stamp_ns)
    return SimpleNamespace(
        stamp=SimpleNamespace(sec=stamp_ns // 1_000_000_000, nanosec=stamp_ns % 1_000_000_000),
        frame_id=str(frame_id))


def depth_anchor(depth: np.ndarray, *, frame_id: str = '', stamp_ns: int = 0) -> AnchorInput:
    """Return a depth map in metres (NaN or 0 = none) as a 32FC1 ``anchor/depth`` message."""
    return _image_anchor(np.ascontiguousarray(depth, dtype='<f4'), '32FC1', frame_id, stamp_ns)


def millimetre_anchor(mm: np.ndarray, *, frame_id: str = '', stamp_ns: int = 0) -> AnchorInput:
    """Return a uint16 millimetre map (0 = none) as a 16UC1 ``anchor/depth`` message."""
    return _image_anchor(np.ascontiguousarray(mm, dtype='<u2'), '16UC1', frame_id, stamp_ns)


def _image_anchor(values: np.ndarray, encoding: str, frame_id: str,
                  stamp_ns: int) -> AnchorInput:
    """Return little-endian ``values`` as the fields of an ``anchor/depth`` Image."""
    height, width = values.shape
    msg = SimpleNamespace(header=_header(stamp_ns, frame_id), height=height, width=width,
                          encoding=encoding, is_bigendian=0, step=width * values.itemsize,
                          data=values.tobytes())
    return AnchorInput('depth', msg)


@dataclass(frozen=True)
class SimulatedSensor:
    """
    A sparse range sensor simulated from ground truth (``depth_node_eval --anchor-points``).

    ``count`` pixels are drawn without replacement, uniformly among the pixels
    whose ground truth lies in the protocol's depth range (the whole image, not
    only the evaluation crop), with a generator seeded by ``seed`` and the image
    name. Each measures ``z = gt * exp(noise * n)``, ``n ~ N(0, 1)`` (relative
    noise); a fraction ``outliers`` of them instead measures ``gt * U(0.3, 3)``
    (gross errors: multipath, mixed pixels at edges, glass).
    """

    count: int
    noise: float = 0.02
    outliers: float = 0.05
    seed: int = 0

    def describe(self) -> str:
        """Return the sensor in words, for the report."""
        return (f'{self.count} anchors per image drawn from the ground truth (relative noise '
                f'{self.noise:g}, {self.outliers:.0%} outliers, seed {self.seed})')

    def depth(self, gt: np.ndarray, protocol: Protocol, name: str) -> np.ndarray:
        """Return the sparse anchors (metres, NaN elsewhere) of one ground-truth map."""
        gt = np.asarray(gt, dtype=np.float64)
        with np.errstate(invalid='ignore'):
            valid = np.isfinite(gt) & (gt > protocol.min_depth)
            if protocol.max_depth > 0:
                valid &= gt < protocol.max_depth
        index = np.flatnonzero(valid)
        rng = np.random.default_rng((int(self.seed), zlib.crc32(name.encode('utf-8'))))
        pick = np.sort(rng.choice(index, size=min(int(self.count), index.size), replace=False))
        true = gt.reshape(-1)[pick]
        z = true * np.exp(self.noise * rng.standard_normal(pick.size))
        wild = rng.random(pick.size) < self.outliers
        z[wild] = true[wild] * rng.uniform(0.3, 3.0, int(np.count_nonzero(wild)))
        out = np.full(gt.size, np.nan, np.float32)
        out[pick] = z
        return out.reshape(gt.shape)

    def anchor(self, gt: np.ndarray, protocol: Protocol, name: str, *, frame_id: str = '',
               stamp_ns: int = 0) -> AnchorInput:
        """Return the simulated sensor's ``anchor/depth`` message of one image."""
        return depth_anchor(self.depth(gt, protocol, name), frame_id=frame_id,
                            stamp_ns=stamp_ns)


class AnchorFolder:
    """
    One anchor depth file per image (``--anchor-depth DIR``), matched by name.

    ``<name>.png``, ``<name>_depth.png``, ``<name>.npy`` ... first, else the
    file whose name ends in the same number (``rgb_00050`` <->
    ``sync_depth_00050``). 16-bit PNGs hold ``depth_scale`` units per metre
    (1000: millimetres, published as 16UC1 as a depth camera does; else 32FC1
    metres); ``.npy`` holds metres.
    """

    def __init__(self, folder, depth_scale: float = 1000.0):
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise OfflineInputError(f'anchor folder {self.folder} does not exist')
        if not depth_scale > 0:
            raise OfflineInputError(f'--anchor-depth-scale must be > 0; got {depth_scale}')
        self.depth_scale = float(depth_scale)
        files = list_files(self.folder, ANCHOR_SUFFIXES)
        if not files:
            raise OfflineInputError(
                f"anchor folder {self.folder} holds no depth files ({', '.join(ANCHOR_SUFFIXES)})")
        self._by_stem = {p.stem: p for p in files}
        self._by_key: Dict[str, Path] = {}
        for p in files:
            self._by_key.setdefault(pairing_key(p), p)
        self.missing: List[str] = []

    def path(self, name: str) -> Optional[Path]:
        """Return the anchor file of image ``name``, or None."""
        for stem in (name, f'{name}_depth'):
            if stem in self._by_stem:
                return self._by_stem[stem]
        return self._by_key.get(pairing_key(Path(name)))

    def anchor(self, name: str, *, frame_id: str = '', stamp_ns: int = 0
               ) -> Optional[AnchorInput]:
        """Return the ``anchor/depth`` message of image ``name`` (None: no file; noted)."""
        path = self.path(name)
        if path is None:
            self.missing.append(name)
            return None
        try:
            if path.suffix.lower() == '.png' and self.depth_scale == 1000.0:
                raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
                if raw is not None and raw.ndim == 2 and raw.dtype == np.uint16:
                    return millimetre_anchor(raw, frame_id=frame_id, stamp_ns=stamp_ns)
            depth = read_depth(path, self.depth_scale)
        except (OSError, ValueError, cv2.error) as exc:
            raise OfflineInputError(f'cannot read anchor file {path}: {exc}') from None
        return depth_anchor(depth, frame_id=frame_id, stamp_ns=stamp_ns)


class BagAnchors:
    """
    An anchor topic of a rosbag2, read alongside the images and paired by stamp.

    A second reader walks the topic in log order, just ahead of the images: for
    an image stamped t it reads the anchors up to the first one stamped after
    ``t + tolerance_s`` into the node's :class:`~depth_node.anchor.AnchorBuffer`
    and takes that buffer's match, so a bag pairs as the node pairs live.
    """

    def __init__(self, path, topic: str, tolerance_s: float):
        require_rosbags()
        from rosbags.rosbag2 import Reader
        self.reader = Reader(Path(path))
        self.reader.open()
        conns = [c for c in self.reader.connections if c.topic == topic]
        if not conns:
            topics = sorted({c.topic for c in self.reader.connections
                             if c.msgtype in ANCHOR_TYPES.values()})
            self.reader.close()
            raise OfflineInputError(
                f"the bag has no topic '{topic}'; Image and PointCloud2 topics: "
                f"{', '.join(topics) or 'none'}")
        kinds = {k for k, t in ANCHOR_TYPES.items() if any(c.msgtype == t for c in conns)}
        if len(kinds) != 1:
            self.reader.close()
            raise OfflineInputError(
                f"anchor topic '{topic}' is {conns[0].msgtype}: it must be sensor_msgs/Image "
                '(anchor/depth) or sensor_msgs/PointCloud2 (anchor/points)')
        self.kind = kinds.pop()
        self.topic = topic
        self.typestore = bag_typestore()
        self.tolerance_ns = int(round(float(tolerance_s) * 1e9))
        self.buffer = AnchorBuffer(self.kind, tolerance_s, history=256)
        self._messages = self.reader.messages(connections=conns)
        self._last: Optional[int] = None
        self._done = False

    def match(self, stamp_ns: int) -> Tuple[Optional[AnchorInput], Optional[Event]]:
        """Return the anchor paired with an image stamped ``stamp_ns`` (and a stamp event)."""
        while not self._done and (self._last is None
                                  or self._last <= int(stamp_ns) + self.tolerance_ns):
            try:
                conn, _, raw = next(self._messages)
            except StopIteration:
                self._done = True
                break
            msg = self.typestore.deserialize_cdr(raw, conn.msgtype)
            self.buffer.put(msg)
            self._last = int(msg.header.stamp.sec) * 1_000_000_000 + int(
                msg.header.stamp.nanosec)
        return self.buffer.match(stamp_ns)

    def close(self) -> None:
        """Close the second reader."""
        self.reader.close()


class RunAnchors:
    """
    The anchors of ``depth_node_run``: a folder of depth files and/or a bag's anchor topics.

    :meth:`for_frame` returns each frame's anchor messages and the stamp events
    of the pairing. A cloud in another frame than the image's is marked as
    having no transform (the offline tools read no ``/tf``).
    """

    def __init__(self, folder: Optional[AnchorFolder] = None,
                 topics: Tuple[BagAnchors, ...] = ()):
        self.folder = folder
        self.topics = tuple(topics)

    def for_frame(self, frame) -> Tuple[List[AnchorInput], List[Event]]:
        """Return ``(anchors, events)`` of one :class:`~depth_node.offline.sources.Frame`."""
        anchors, events = [], []
        if self.folder is not None:
            anchor = self.folder.anchor(frame.name, frame_id=frame.frame_id,
                                        stamp_ns=frame.stamp_ns)
            if anchor is not None:
                anchors.append(anchor)
        for topic in self.topics:
            anchor, event = topic.match(frame.stamp_ns)
            if event is not None:
                events.append(event)
            if anchor is not None:
                if needs_transform(anchor, frame.frame_id):
                    anchor = anchor.with_transform_error(
                        "depth_node_run reads no /tf; record the cloud in the image's optical "
                        'frame')
                anchors.append(anchor)
        return anchors, events

    def close(self) -> None:
        """Close the bag readers."""
        for topic in self.topics:
            topic.close()
