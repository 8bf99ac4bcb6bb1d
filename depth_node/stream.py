# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
Camera restarts seen from the topics: what changed in the stream, as log-ready events.

Without rclpy. A camera driver that restarts, a reconfigured camera or a bag
played in a loop shows up as a new image size or encoding, another frame_id,
new intrinsics, timestamps that jump backwards, or camera_info that is late or
stops. :class:`StreamMonitor` notices each once and returns an :class:`Event`
(kind, level, text); the node logs it and counts it. Nothing here resets the
node: processing goes on with the new input.
"""

from dataclasses import dataclass
from typing import List, Optional, Tuple

#: Event kinds, as counted in the node's ``events`` counter.
EVENT_KINDS = ('resolution', 'encoding', 'frame_id', 'stamp_backwards', 'intrinsics',
               'camera_info_late', 'camera_info_stopped', 'camera_info_resumed')


@dataclass(frozen=True)
class Event:
    """One change in the input stream: ``kind`` (EVENT_KINDS), log ``level`` and ``text``."""

    kind: str
    level: str  # 'info' | 'warning'
    text: str


def _stamp_text(ns: int) -> str:
    return f'{ns * 1e-9:.3f} s'


class StreamMonitor:
    """Remember the last frame's size, encoding, frame_id, stamp and camera; report changes."""

    def __init__(self, info_stale_s: float = 2.0):
        self.info_stale_s = float(info_stale_s)
        self._size: Optional[Tuple[int, int]] = None
        self._encoding: Optional[str] = None
        self._frame_id: Optional[str] = None
        self._stamp: Optional[int] = None
        self._camera: Optional[str] = None
        self._waiting_frames = 0
        self._last_info_time: Optional[float] = None
        self._info_stale = False

    # ------------------------------------------------------------ on every received frame
    def stamp(self, stamp_ns: int) -> Optional[Event]:
        """Return an event when an image stamp is older than the previous one."""
        previous, self._stamp = self._stamp, int(stamp_ns)
        if previous is not None and stamp_ns < previous:
            return Event('stamp_backwards', 'warning',
                         f'image stamp went backwards ({_stamp_text(previous)} -> '
                         f'{_stamp_text(stamp_ns)}): bag loop or camera restart; camera_info '
                         'history cleared, going on')
        return None

    def camera_info_received(self, now: float) -> Optional[Event]:
        """Note a camera_info arrival at monotonic ``now``; an event when it had stopped."""
        gap = None if self._last_info_time is None else now - self._last_info_time
        self._last_info_time = now
        if self._info_stale:
            self._info_stale = False
            return Event('camera_info_resumed', 'info',
                         f'camera_info received again after {gap:.1f} s')
        return None

    # ------------------------------------------------------------ in the worker, per frame
    def waiting_for_info(self) -> None:
        """Count a frame dropped because no camera_info has arrived yet."""
        self._waiting_frames += 1

    def frame(self, width: int, height: int, encoding: str, frame_id: str, now: float,
              paired: bool, info_topic: str = 'camera_info') -> List[Event]:
        """Return the events of a frame about to be processed with some camera_info."""
        events = []
        if self._waiting_frames:
            events.append(Event('camera_info_late', 'info',
                                f'camera_info arrived on {info_topic}: serving '
                                f'({self._waiting_frames} frame(s) dropped while waiting)'))
            self._waiting_frames = 0
        size = (int(width), int(height))
        if self._size is not None and size != self._size:
            events.append(Event('resolution', 'info',
                                f'image size changed {self._size[0]}x{self._size[1]} -> '
                                f'{size[0]}x{size[1]} (camera restart or reconfiguration); '
                                'going on with the new size'))
        self._size = size
        if self._encoding is not None and encoding != self._encoding:
            events.append(Event('encoding', 'info',
                                f'image encoding changed {self._encoding} -> {encoding}'))
        self._encoding = encoding
        if self._frame_id is not None and frame_id != self._frame_id:
            events.append(Event('frame_id', 'info',
                                f"image frame_id changed '{self._frame_id}' -> '{frame_id}'; "
                                'outputs keep the input header'))
        self._frame_id = frame_id
        if (not paired and not self._info_stale and self._last_info_time is not None
                and now - self._last_info_time > self.info_stale_s):
            self._info_stale = True
            events.append(Event('camera_info_stopped', 'warning',
                                f'no camera_info on {info_topic} for '
                                f'{now - self._last_info_time:.1f} s; using the last one'))
        return events

    def camera(self, description: str) -> Optional[Event]:
        """Return an event when the camera changes; ``description`` names its intrinsics."""
        previous, self._camera = self._camera, description
        if previous is not None and description != previous:
            return Event('intrinsics', 'info',
                         f'camera changed: {previous} -> {description}; rays and '
                         'undistortion maps rebuilt')
        return None
