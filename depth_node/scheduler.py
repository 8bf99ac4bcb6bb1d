# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
One worker for every camera: the due frames of all cameras, as one fair batch.

Without rclpy. The shape of an inference server's dynamic batcher (Triton's
``dynamic_batching``) with no queue delay: :meth:`BatchScheduler.take` blocks
until at least one camera has a frame due (its rate limit allows, its
camera_info has come or may not come; :meth:`~depth_node.pairing.FrameQueue.
due_in`) and returns, at once, the newest frame of every camera that has one
due: never waiting for a fuller batch, at most one frame per camera, so a
30 Hz camera cannot starve a 5 Hz one. With ``max_batch`` cameras due at most,
those served longest ago go first (round robin). Every queue shares the
scheduler's condition, so an image arriving on any camera wakes the worker.
"""

import threading
import time
from typing import Callable, Dict, Hashable, List, Optional, Tuple

from .pairing import Frame, FrameQueue


class BatchScheduler:
    """Hands the due frames of several :class:`FrameQueue` objects to one worker."""

    def __init__(self, max_batch: int = 0, clock: Callable[[], float] = time.monotonic):
        #: Most frames per batch (0: every camera with a frame due).
        self.max_batch = int(max_batch)
        self.clock = clock
        self.cond = threading.Condition()
        self._queues: Dict[Hashable, FrameQueue] = {}
        #: When each camera was served last, as a count of frames served (round robin).
        self._served: Dict[Hashable, int] = {}
        self._count = 0
        self._stopped = False

    def queue(self, key: Hashable, **kwargs) -> FrameQueue:
        """Return a new FrameQueue for camera ``key`` (FrameQueue's arguments) on this worker."""
        queue = FrameQueue(clock=self.clock, cond=self.cond, **kwargs)
        with self.cond:
            self._queues[key] = queue
            self._served[key] = -1
        return queue

    @property
    def queues(self) -> Dict[Hashable, FrameQueue]:
        """Return the queues by camera key."""
        return dict(self._queues)

    def poll(self, now: float) -> Tuple[List[Tuple[Hashable, Frame]], float]:
        """
        Return ``(frames, wait)``: the frames due at ``now`` by camera, else seconds to wait.

        Call with :attr:`cond` held (``take`` does). Taken frames mark their
        queues busy until :meth:`~depth_node.pairing.FrameQueue.done`.
        """
        waits = {key: queue.due_in(now) for key, queue in self._queues.items()
                 if not queue.busy}
        due = sorted((key for key, wait in waits.items() if wait == 0.0),
                     key=lambda key: self._served[key])
        if self.max_batch > 0:
            due = due[:self.max_batch]
        if not due:
            return [], min(waits.values(), default=0.5)
        frames = []
        for key in due:
            frames.append((key, self._queues[key].pop(now)))
            self._count += 1
            self._served[key] = self._count
        return frames, 0.0

    def take(self) -> Optional[List[Tuple[Hashable, Frame]]]:
        """Block until a frame is due on some camera; return the batch, or None once stopped."""
        with self.cond:
            while not self._stopped:
                frames, wait = self.poll(self.clock())
                if frames:
                    return frames
                self.cond.wait(wait)
            return None

    def stop(self) -> None:
        """Stop for good: :meth:`take` returns None from now on."""
        with self.cond:
            self._stopped = True
            for queue in self._queues.values():
                queue.close()
            self.cond.notify_all()
