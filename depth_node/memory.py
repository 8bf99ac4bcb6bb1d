# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
Process memory without rclpy: resident size, and giving freed memory back after a large frame.

glibc keeps freed heap memory of large buffers for reuse, so one 4000x3000 frame
among 640x480 ones would leave the process hundreds of MB larger for good.
:class:`LargeFrameTrim` calls ``malloc_trim`` once after a frame much larger
than the one before, and once after the next much smaller one (when the
middleware has let go of the large messages). What the middleware keeps on
purpose (Fast DDS's history buffers) is not the node's to free (doc/operations.md,
Operations).
"""

import ctypes
import ctypes.util
import gc
import os
import resource
import sys
from typing import Callable, Optional

_PAGE = os.sysconf('SC_PAGE_SIZE') if hasattr(os, 'sysconf') else 4096

#: A frame this many times larger or smaller than the one before trims the heap.
TRIM_RATIO = 2.0


def rss_bytes() -> int:
    """Return the resident set size of this process in bytes (peak RSS where /proc is absent)."""
    try:
        with open('/proc/self/statm', 'rb') as f:
            return int(f.read().split()[1]) * _PAGE
    except (OSError, IndexError, ValueError):
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return int(peak) * (1 if sys.platform == 'darwin' else 1024)


def malloc_trim() -> Optional[Callable[[int], int]]:
    """Return glibc's ``malloc_trim`` (freed heap memory back to the OS), or None elsewhere."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6')
        return libc.malloc_trim
    except (OSError, AttributeError):
        return None


class LargeFrameTrim:
    """Trim the heap when the frame size jumps by :data:`TRIM_RATIO` either way."""

    def __init__(self, trim: Optional[Callable[[int], int]] = None):
        self.trim = trim if trim is not None else malloc_trim()
        self._last = 0
        #: How often the heap was trimmed (for tests and diagnostics).
        self.trims = 0

    def frame_done(self, size: int) -> bool:
        """Note a finished frame of ``size`` bytes; trim when it jumped; return whether it did."""
        previous, self._last = self._last, int(size)
        if not previous or not (size > TRIM_RATIO * previous or previous > TRIM_RATIO * size):
            return False
        gc.collect()
        if self.trim is not None:
            self.trim(0)
        self.trims += 1
        return True
