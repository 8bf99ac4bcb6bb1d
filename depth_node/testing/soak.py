# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
Soak accounting without rclpy: process memory over time and its growth.

Used by the test-suite soak (``test/test_soak.py``) and the long GPU soak
(``tools/soak_gpu.py``). Memory is sampled against the number of frames
processed; growth is measured from the end of a warm-up (allocator pools,
caches and DDS buffers fill up first) to the end, and as a least-squares slope
per 1000 frames over the rest.
"""

from dataclasses import dataclass
from typing import List, Optional, Tuple

from ..memory import rss_bytes


@dataclass
class MemorySummary:
    """Memory growth over a soak, in MB (10^6 bytes)."""

    frames: int
    samples: int
    warmup_frames: int
    rss_start_mb: float
    rss_end_mb: float
    rss_max_mb: float
    growth_mb: float
    slope_mb_per_1000_frames: float
    gpu_start_mb: Optional[float] = None
    gpu_end_mb: Optional[float] = None
    gpu_growth_mb: Optional[float] = None

    def line(self) -> str:
        """Return a one-line human summary."""
        text = (f'{self.frames} frames: RSS {self.rss_start_mb:.1f} -> {self.rss_end_mb:.1f} MB '
                f'after {self.warmup_frames} warm-up frames (growth {self.growth_mb:+.1f} MB, '
                f'slope {self.slope_mb_per_1000_frames:+.2f} MB/1000 frames, '
                f'max {self.rss_max_mb:.1f} MB)')
        if self.gpu_growth_mb is not None:
            text += (f', GPU allocated {self.gpu_start_mb:.1f} -> {self.gpu_end_mb:.1f} MB '
                     f'({self.gpu_growth_mb:+.1f} MB)')
        return text


class MemoryTracker:
    """Memory samples against frame counts; :meth:`summary` after the run."""

    def __init__(self, warmup_frames: int = 0):
        self.warmup_frames = int(warmup_frames)
        self._samples: List[Tuple[int, int, Optional[int]]] = []

    def sample(self, frames: int, rss: Optional[int] = None,
               gpu_bytes: Optional[int] = None) -> None:
        """Record memory after ``frames`` frames (RSS of this process when not given)."""
        self._samples.append((int(frames), rss_bytes() if rss is None else int(rss),
                              gpu_bytes))

    def summary(self) -> MemorySummary:
        """Return growth after the warm-up; uses every sample when none is past it."""
        if not self._samples:
            raise ValueError('no memory samples')
        steady = [s for s in self._samples if s[0] >= self.warmup_frames] or self._samples
        first, last = steady[0], steady[-1]
        mb = 1e-6
        slope = _slope([s[0] for s in steady], [s[1] * mb for s in steady]) * 1000.0
        gpu = [s for s in steady if s[2] is not None]
        summary = MemorySummary(
            frames=last[0], samples=len(self._samples), warmup_frames=self.warmup_frames,
            rss_start_mb=first[1] * mb, rss_end_mb=last[1] * mb,
            rss_max_mb=max(s[1] for s in self._samples) * mb,
            growth_mb=(last[1] - first[1]) * mb, slope_mb_per_1000_frames=slope)
        if gpu:
            summary.gpu_start_mb = gpu[0][2] * mb
            summary.gpu_end_mb = gpu[-1][2] * mb
            summary.gpu_growth_mb = (gpu[-1][2] - gpu[0][2]) * mb
        return summary


def _slope(xs: List[float], ys: List[float]) -> float:
    """Least-squares slope of ys over xs (0 with fewer than two distinct xs)."""
    n = len(xs)
    if n < 2:
        return 0.0
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return 0.0
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx
