# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
Message-sized buffers kept across frames, and the row bands the payloads are written in.

Without rclpy. Two things make the host payloads cost what copying their bytes
costs:

- **Reuse of a buffer nobody holds.** A fresh ``array.array('B')`` for
  ``msg.data`` is zero-filled page by page (a 4K cloud: 133 MB, about 60 ms
  here, and as long again to give back), although every byte of it is then
  written. :class:`ReusableBuffer` hands the previous frame's buffer out again
  instead, but only when the reference count proves that nothing but the slot
  holds it: no :class:`~depth_node.outputs.FrameOutput`, no message, no numpy
  view or memoryview of it is left anywhere in the process. Publishing does not
  keep one: rclpy converts the message into its C struct, copying ``data``, and
  the middleware serialises from that during ``publish()`` (rclpy has no
  intra-process or loaned messages), so once the caller has dropped the frame's
  messages and outputs the memory is provably free. A caller that keeps them
  (a list of outputs, a message queued for a bag) keeps a reference, and the
  next frame gets a fresh buffer. Where the count cannot prove it (no
  ``sys.getrefcount``, or a free-threaded build), buffers are never reused.
- **Row bands.** Each payload is computed in bands of about
  :data:`BAND_PIXELS` pixels, so the temporaries (masks, products, channel
  planes) stay in the CPU cache and only the input and the message bytes
  travel through memory (:func:`row_bands`); masked copies are branch-free
  (:func:`copy_where`).
"""

import array
import sys
from typing import Iterator, Optional, Tuple

import cv2
import numpy as np

from .msgfill import byte_buffer

#: Pixels per row band: the temporaries of a band (a few float32 planes) fit in L2.
BAND_PIXELS = 32768


class _Slot:
    __slots__ = ('value',)

    def __init__(self):
        self.value = None


def _unshared_count() -> Optional[int]:
    """
    Return what ``sys.getrefcount`` says of an object only an attribute holds, or None.

    Measured with the expression :meth:`ReusableBuffer.take` uses, so whatever the
    interpreter counts (the argument, borrowed references) is the same. None:
    the count proves nothing here (no ``sys.getrefcount``, or no GIL).
    """
    getrefcount = getattr(sys, 'getrefcount', None)
    if getrefcount is None or not getattr(sys, '_is_gil_enabled', lambda: True)():
        return None
    slot = _Slot()
    slot.value = array.array('B')
    return getrefcount(slot.value)


_UNSHARED = _unshared_count()


class ReusableBuffer:
    """
    ``msg.data`` buffers of a payload, handed out again while nothing else holds them.

    :meth:`take` returns a kept buffer of the size asked for whose reference
    count shows that only this object holds it (see the module docstring);
    otherwise a new zero-filled one, which it then keeps, forgetting the least
    recently used one beyond ``slots`` (a forgotten buffer goes when its last
    holder drops it). The caller must write every byte of what it takes: a
    reused buffer still holds an earlier frame.

    One slot serves one camera. Several cameras may share one object with a
    slot each (the node does): a frame's buffer is free again once the frame is
    published, so cameras of the same size then take turns with one buffer
    instead of keeping one each.
    """

    def __init__(self, reuse: bool = True, slots: int = 1):
        if int(slots) < 1:
            raise ValueError(f'a ReusableBuffer needs at least one slot; got {slots}')
        #: The kept buffers, least recently used first.
        self._slots = [_Slot() for _ in range(int(slots))]
        #: Whether buffers may be reused at all (False: always a new one).
        self.reuse = bool(reuse) and _UNSHARED is not None
        #: How many buffers :meth:`take` reused and how many it made (for tests, the bench).
        self.reused = 0
        self.made = 0

    def take(self, nbytes: int) -> array.array:
        """Return an ``array.array('B')`` of ``nbytes`` bytes that nothing else holds."""
        nbytes = int(nbytes)
        slots = self._slots
        if self.reuse:
            for i, slot in enumerate(slots):
                if (slot.value is not None and len(slot.value) == nbytes
                        and sys.getrefcount(slot.value) <= _UNSHARED):
                    slots.append(slots.pop(i))
                    self.reused += 1
                    return slot.value
        # The least recently used slot makes room: an unheld old buffer goes back first.
        slot = slots.pop(next((i for i, s in enumerate(slots) if s.value is None), 0))
        slot.value = None
        slot.value = byte_buffer(nbytes)
        slots.append(slot)
        self.made += 1
        return slot.value

    def release(self) -> None:
        """Forget the kept buffers (their memory goes back once nothing else holds them)."""
        for slot in self._slots:
            slot.value = None

    @property
    def nbytes(self) -> int:
        """Return the size of the kept buffers together (0: none)."""
        return sum(len(slot.value) for slot in self._slots if slot.value is not None)


class MessageBuffers:
    """
    The reused ``msg.data`` buffers of a frame's payloads: the depth image's and the cloud's.

    A frame processor makes its own (one slot each); the node makes one for all
    its cameras (a slot per camera) and hands it to every camera's processor,
    so cameras of one size share their buffers (:class:`ReusableBuffer`).
    """

    def __init__(self, cameras: int = 1):
        #: The depth image's ``msg.data`` (depth/image or depth/image_raw).
        self.depth = ReusableBuffer(slots=cameras)
        #: The organized cloud's ``msg.data`` (points).
        self.cloud = ReusableBuffer(slots=cameras)


def take(buffer: Optional[ReusableBuffer], nbytes: int) -> array.array:
    """Return the buffer's ``nbytes`` bytes to write, or new zero-filled ones (``buffer`` None)."""
    return byte_buffer(nbytes) if buffer is None else buffer.take(nbytes)


def copy_where(src: np.ndarray, where: np.ndarray, dst: np.ndarray) -> None:
    """
    Copy ``src`` into ``dst`` where the bool array ``where`` is True (``np.copyto(where=)``).

    ``cv2.copyTo`` with the mask's bytes: branch-free, so a scattered mask (flying
    pixels) costs what a full one does, where numpy's masked copy is up to 15x
    slower. ``dst`` must be C-contiguous (it is written in place).
    """
    if cv2.copyTo(src, where.view(np.uint8), dst) is not dst:  # OpenCV made a new array
        raise RuntimeError('cv2.copyTo did not write into its destination')


def band_rows(width: int, pixels: Optional[int] = None) -> int:
    """Return the rows of one band of an image ``width`` pixels wide (at least 1)."""
    pixels = BAND_PIXELS if pixels is None else pixels
    return max(1, int(pixels) // max(int(width), 1))


def row_bands(height: int, width: int,
              pixels: Optional[int] = None) -> Iterator[Tuple[int, int]]:
    """Yield ``(first, end)`` rows of consecutive bands covering ``height`` rows."""
    rows = band_rows(width, pixels)
    for first in range(0, int(height), rows):
        yield first, min(first + rows, int(height))
