# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""Process memory: the resident size, and trimming the heap when the frame size jumps."""

from depth_node.memory import LargeFrameTrim, malloc_trim, rss_bytes
import numpy as np


def test_trims_after_a_large_frame_and_after_the_next_small_one_only():
    calls = []
    trim = LargeFrameTrim(trim=lambda pad: calls.append(pad) or 1)
    small, large = 640 * 480 * 3, 4000 * 3000 * 3
    assert [trim.frame_done(s) for s in (small, small, large, large, small, small)] == [
        False, False, True, False, True, False]
    assert calls == [0, 0] and trim.trims == 2
    assert not trim.frame_done(int(small * 1.5))  # a modest change is no reason


def test_malloc_trim_gives_freed_heap_memory_back():
    trim = malloc_trim()
    assert trim is not None  # glibc (Linux), where the node runs
    blocks = [np.ones(100_000, np.uint8) for _ in range(1000)]  # ~100 MB on the heap
    top = blocks.pop()  # still in use above the rest: glibc cannot shrink the heap by itself
    del blocks
    freed = rss_bytes()
    trim(0)
    assert rss_bytes() < freed - 50e6, 'malloc_trim returned nothing'
    del top
