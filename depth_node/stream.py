# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
Camera restarts seen in the frames: what changed in the stream, as log-ready events.

Without rclpy. A camera driver that restarts, a reconfigured camera or a bag
played in a loop shows up as a new image size or encoding, another frame_id or
new intrinsics (:class:`StreamMonitor`, fed by the frame processor), or as
timestamps that jump backwards and camera_info that is late, stops or resumes
(:class:`~depth_node.pairing.FrameQueue`). Each is returned once as an
:class:`Event` (kind, level, text); the node logs it (throttled per kind) and
counts it. Nothing here resets the node: processing goes on with the new input.
"""

from dataclasses import dataclass
from typing import List, Optional, Tuple

#: Event kinds, as counted in the node's ``events`` counter.
EVENT_KINDS = ('resolution', 'encoding', 'frame_id', 'stamp_backwards', 'intrinsics',
               'camera_info_late', 'camera_info_stopped', 'camera_info_resumed',
               'distortion_ignored', 'camera_estimated', 'camera_info_usable',
               # anchoring (depth_node.anchor): refused anchors, then acquired / lost
               'anchor_invalid', 'anchor_frame', 'anchor_stamp', 'anchor_fit',
               'anchor_acquired', 'anchor_lost',
               # temporal stabilisation (depth_node.temporal): starts again
               'temporal_reset')


@dataclass(frozen=True)
class Event:
    """One change in the input stream: ``kind`` (EVENT_KINDS), log ``level`` and ``text``."""

    kind: str
    level: str  # 'info' | 'warning'
    text: str


class StreamMonitor:
    """Remember the last frame's size, encoding and frame_id; report changes."""

    def __init__(self):
        self._size: Optional[Tuple[int, int]] = None
        self._encoding: Optional[str] = None
        self._frame_id: Optional[str] = None
        self._waiting_frames = 0

    def waiting_for_info(self) -> None:
        """Count a frame dropped because no camera_info has arrived yet."""
        self._waiting_frames += 1

    def frame(self, width: int, height: int, encoding: str, frame_id: str) -> List[Event]:
        """Return the events of a frame about to be processed with some camera_info."""
        events = []
        if self._waiting_frames:
            events.append(Event('camera_info_late', 'info',
                                f'camera_info arrived: serving ({self._waiting_frames} '
                                'frame(s) dropped while waiting)'))
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
        return events
