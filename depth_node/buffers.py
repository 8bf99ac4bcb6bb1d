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
    One ``msg.data`` buffer of a payload, handed out again while nothing else holds it.

    :meth:`take` returns the previous buffer when it has the size asked for and
    its reference count shows that only this slot holds it (see the module
    docstring); otherwise a new zero-filled one, which the slot then keeps (the
    previous one goes when its last holder drops it). The caller must write
    every byte of what it takes: a reused buffer still holds the last frame.
    """

    def __init__(self, reuse: bool = True):
        self._slot = _Slot()
        #: Whether buffers may be reused at all (False: always a new one).
        self.reuse = bool(reuse) and _UNSHARED is not None
        #: How many buffers :meth:`take` reused and how many it made (for tests, the bench).
        self.reused = 0
        self.made = 0

    def take(self, nbytes: int) -> array.array:
        """Return an ``array.array('B')`` of ``nbytes`` bytes that nothing else holds."""
        nbytes = int(nbytes)
        slot = self._slot
        if (self.reuse and slot.value is not None and len(slot.value) == nbytes
                and sys.getrefcount(slot.value) <= _UNSHARED):
            self.reused += 1
            return slot.value
        slot.value = None  # an unheld old buffer goes back before the new one is made
        slot.value = byte_buffer(nbytes)
        self.made += 1
        return slot.value

    def release(self) -> None:
        """Forget the kept buffer (its memory goes back once nothing else holds it)."""
        self._slot.value = None

    @property
    def nbytes(self) -> int:
        """Return the size of the kept buffer (0: none)."""
        return 0 if self._slot.value is None else len(self._slot.value)


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
