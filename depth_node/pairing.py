# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
Newest image with its camera_info, handed to one worker at the output rate.

Without rclpy (the shape of image_pipeline camera_calibration's ``BufferQueue``
plus its consumer thread). One queue per camera. The subscription callbacks call :meth:`FrameQueue.
put_image` and :meth:`FrameQueue.put_info`, which only store: the newest image
in a one-slot buffer (an older one still waiting is superseded) and the recent
camera_infos by stamp. A frame is due when the ``rate`` limit allows and its
image is paired with the camera_info of its own stamp: it waits up to
``info_wait_s`` for it while the camera sends stamped pairs (or before any
camera_info came), else uses the latest. The decision is a pure function of the
state and a time (:meth:`FrameQueue.due_in`, then :meth:`FrameQueue.pop`;
:meth:`FrameQueue.poll` is both), so it is unit-tested without threads; the one
worker of all cameras takes due frames through
:class:`~depth_node.scheduler.BatchScheduler`, whose condition every queue shares.

Timing changes of the stream come back as :class:`~depth_node.stream.Event`:
stamps going backwards (bag loop, camera restart: the old camera_infos are
forgotten), camera_info stopping while images go on, and resuming.
"""

from dataclasses import dataclass, field
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

from .stream import Event

#: How many camera_info messages are kept for pairing by stamp.
CAMERA_INFO_HISTORY = 30
#: How long a frame may wait for the camera_info of its own stamp before the latest is used.
INFO_WAIT_S = 0.1
#: Seconds without camera_info (while images come) before a warning; the last one is used.
CAMERA_INFO_STALE_S = 2.0

StampKey = Tuple[int, int]


def stamp_key(header) -> StampKey:
    """Return ``(sec, nanosec)`` of a header's stamp, the pairing key."""
    return (int(header.stamp.sec), int(header.stamp.nanosec))


def stamp_ns(header) -> int:
    """Return a header's stamp in nanoseconds."""
    return int(header.stamp.sec) * 1_000_000_000 + int(header.stamp.nanosec)


def input_qos_policy(mode: str, offered: Sequence[Tuple[bool, bool]]
                     ) -> Optional[Tuple[bool, bool]]:
    """
    Return ``(reliable, transient_local)`` to subscribe an input with, or None to wait.

    ``offered`` holds ``(best_effort, transient_local)`` of each publisher of the
    topic. Reliability: ``mode`` (``input_qos``), where ``auto`` matches the
    publishers (best effort if any is, as image_pipeline does) and waits while
    there is none. Durability: transient local when every publisher offers it (a
    driver latching its camera_info; a transient-local subscription would not
    match a volatile publisher), else volatile.
    """
    if mode == 'auto':
        if not offered:
            return None
        reliable = not any(best_effort for best_effort, _ in offered)
    else:
        reliable = mode == 'reliable'
    latched = bool(offered) and all(transient_local for _, transient_local in offered)
    return reliable, latched


def _stamp_text(key: StampKey) -> str:
    return f'{key[0] + key[1] * 1e-9:.3f} s'


@dataclass
class Frame:
    """One image handed to the worker, with the camera_info paired to it (None: none yet)."""

    image: Any
    info: Optional[Any]
    #: Whether ``info`` carries the image's own stamp (else it is the latest one).
    paired: bool
    #: Stream events noticed when the frame was taken (camera_info stopped).
    events: List[Event] = field(default_factory=list)


class FrameQueue:
    """One-slot newest-image buffer plus camera_info history; thread-safe."""

    def __init__(self, rate: float = 0.0, *, history: int = CAMERA_INFO_HISTORY,
                 info_wait_s: float = INFO_WAIT_S, info_stale_s: float = CAMERA_INFO_STALE_S,
                 clock: Callable[[], float] = time.monotonic, info_topic: str = 'camera_info',
                 cond: Optional[threading.Condition] = None):
        self.info_topic = info_topic
        self.history = int(history)
        self.info_wait_s = float(info_wait_s)
        self.info_stale_s = float(info_stale_s)
        self.clock = clock
        #: Shared with the scheduler of all cameras (and their other queues).
        self.cond = cond if cond is not None else threading.Condition()
        self._rate = float(rate)
        self._open = False
        self._busy = False
        self._pending = None
        self._pending_since: Optional[float] = None
        self._next_due = 0.0
        self._infos: Dict[StampKey, Any] = {}
        self._latest_info = None
        self._last_stamp: Optional[StampKey] = None
        self._paired_by_stamp = True
        self._restarted = False
        self._last_info_time: Optional[float] = None
        self._info_stale = False

    # ------------------------------------------------------------------ control
    @property
    def rate(self) -> float:
        """Return the output rate limit in Hz (0 = every frame)."""
        return self._rate

    @rate.setter
    def rate(self, value: float) -> None:
        with self.cond:
            self._rate = float(value)
            self._next_due = 0.0
            self.cond.notify_all()

    @property
    def has_pending(self) -> bool:
        """Whether an image waits to be taken."""
        return self._pending is not None

    def open(self) -> None:
        """Accept images and hand them out (lifecycle activate)."""
        with self.cond:
            self._open = True
            self._next_due = 0.0
            self.cond.notify_all()

    def close(self) -> bool:
        """Stop accepting images and drop the waiting one; return whether one was dropped."""
        with self.cond:
            self._open = False
            dropped, self._pending = self._pending is not None, None
            self._pending_since = None
            self.cond.notify_all()
            return dropped

    def reset_infos(self) -> None:
        """Forget every camera_info (lifecycle cleanup)."""
        with self.cond:
            self._infos = {}
            self._latest_info = None
            self._last_info_time = None
            self._info_stale = False

    # ------------------------------------------------------------------ callbacks
    def put_image(self, msg) -> Tuple[bool, bool, Optional[Event]]:
        """
        Store the newest image; return ``(accepted, superseded, event)``.

        Images are not accepted while the queue is closed. ``superseded`` tells
        whether a waiting image was replaced; ``event`` is a ``stamp_backwards``
        event when this stamp is older than the previous one (then the
        camera_infos of the old stream are forgotten).
        """
        key = stamp_key(msg.header)
        with self.cond:
            if not self._open:
                return False, False, None
            event = None
            previous, self._last_stamp = self._last_stamp, key
            if previous is not None and key < previous:
                event = Event('stamp_backwards', 'warning',
                              f'image stamp went backwards ({_stamp_text(previous)} -> '
                              f'{_stamp_text(key)}): bag loop or camera restart; camera_info '
                              'history cleared, going on')
                self._infos = {k: v for k, v in self._infos.items() if k <= key}
                self._restarted = True
            superseded = self._pending is not None
            self._pending = msg
            if not superseded:
                self._pending_since = None
            self.cond.notify_all()
            return True, superseded, event

    def put_info(self, msg) -> Optional[Event]:
        """Store a camera_info by stamp; return a ``camera_info_resumed`` event after a gap."""
        key = stamp_key(msg.header)
        now = self.clock()
        with self.cond:
            latest = self._latest_info
            if latest is not None and key < stamp_key(latest.header):
                self._infos = {}  # stamps went back: forget the old stream's infos
            self._infos[key] = msg
            while len(self._infos) > self.history:
                del self._infos[next(iter(self._infos))]
            self._latest_info = msg
            gap = None if self._last_info_time is None else now - self._last_info_time
            self._last_info_time = now
            event = None
            if self._info_stale:
                self._info_stale = False
                event = Event('camera_info_resumed', 'info',
                              f'camera_info received again after {gap:.1f} s')
            self.cond.notify_all()
            return event

    # ------------------------------------------------------------------ worker
    def due_in(self, now: float) -> float:
        """
        Return 0.0 when a frame is due at time ``now``, else the seconds to wait.

        Call with :attr:`cond` held. Nothing waiting (or the queue closed) gives
        0.5 s: a new image notifies the condition anyway.
        """
        if self._pending is None or not self._open:
            return 0.5
        if self._rate > 0.0 and now < self._next_due:
            return self._next_due - now
        key = stamp_key(self._pending.header)
        if key not in self._infos and self._info_may_come(key, now):
            return 0.01
        return 0.0

    def pop(self, now: float) -> Frame:
        """
        Take the due frame (after :meth:`due_in` returned 0) and mark the queue busy.

        Call with :attr:`cond` held; :meth:`done` ends the frame.
        """
        key = stamp_key(self._pending.header)
        msg, self._pending = self._pending, None
        self._pending_since = None
        paired = key in self._infos
        self._paired_by_stamp = paired
        self._restarted = False
        info = self._infos.get(key, self._latest_info)
        self._next_due = now + 1.0 / self._rate if self._rate > 0.0 else 0.0
        self._busy = True
        events = []
        if (not paired and not self._info_stale and self._last_info_time is not None
                and now - self._last_info_time > self.info_stale_s):
            self._info_stale = True
            events.append(Event('camera_info_stopped', 'warning',
                                f'no camera_info on {self.info_topic} for '
                                f'{now - self._last_info_time:.1f} s; using the last one'))
        return Frame(msg, info, paired, events)

    def poll(self, now: float) -> Union[Frame, float]:
        """Return the frame due at ``now`` (:meth:`pop`), else the seconds to wait."""
        wait = self.due_in(now)
        return self.pop(now) if wait == 0.0 else wait

    def _info_may_come(self, key: StampKey, now: float) -> bool:
        """
        Whether to wait briefly for the camera_info stamped ``key`` (sent beside the image).

        Only while none has arrived yet, while the camera has been sending
        camera_info with the images' stamps, or for the first image after the stamps
        went back (the latest camera_info is the old stream's: the new one may be on
        its way, on its own topic); a stream with one static camera_info is never
        delayed.
        """
        if self._pending_since is None:
            self._pending_since = now
        if now - self._pending_since >= self.info_wait_s:
            return False
        latest = self._latest_info
        if latest is None or self._restarted:
            return True
        return self._paired_by_stamp and stamp_key(latest.header) < key

    @property
    def busy(self) -> bool:
        """Whether a frame taken from this queue is still being processed."""
        return self._busy

    def done(self) -> None:
        """Mark the frame taken by :meth:`pop` as finished."""
        with self.cond:
            self._busy = False
            self.cond.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no frame is in progress; return False on timeout."""
        deadline = self.clock() + timeout
        with self.cond:
            while self._busy:
                remaining = deadline - self.clock()
                if remaining <= 0.0:
                    return False
                self.cond.wait(min(remaining, 0.05))
            return True
