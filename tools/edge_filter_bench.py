#!/usr/bin/env python3
# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
Time the edge filter and the colour range against their previous versions.

Usage::

    PYTHONPATH=$PWD .venv/bin/python tools/edge_filter_bench.py [--rounds 30] [--json]

Per image size (640x480 to 3840x2160, fx = 0.82 x width, 525 at 640x480) the depth map
is a wall with boxes in front of it, blurred as a network blurs it, with 0.3 % noise.
Interleaved in every round, in shuffled order:

* ``new``: :meth:`depth_node.filters.EdgeFilter.mask` (OpenCV, two divisions and four
  comparisons per pixel);
* ``old``: the filter as it was before issue 16 (numpy, per-pixel mid/half bounds,
  several passes), kept below as the reference of the speed-up;
* ``minimal``: the unavoidable work of a frame's payloads (issue 19): back-projection
  with precomputed rays into a contiguous xyz + rgb buffer (16 B per point) plus the
  depth image's bytes.

and, for ``depth/colored``'s automatic range (issue 16 item 3):

* ``range``: :func:`depth_node.visualize.depth_range` of the whole frame (exact);
* ``sampled``: the percentiles of every 4th pixel in u and v, as it was before;
* ``colored``: :func:`depth_node.visualize.colorize_depth_bgr` with a fixed range, the
  rest of the colouring, for scale.

Prints the median milliseconds, milliseconds per megapixel, the median of the paired
ratios old / new and new / minimal (range / sampled), and the load average before and
after (the machine is shared: compare ratios, quote the load). Nothing is asserted.
"""

import argparse
import json
import math
import os
import random
import statistics
import sys
import time

import cv2
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
from depth_node.filters import EdgeFilter  # noqa: E402, I100
from depth_node.geometry import Intrinsics  # noqa: E402
from depth_node.visualize import colorize_depth_bgr, depth_range  # noqa: E402

SIZES = ((640, 480), (1280, 720), (1920, 1080), (3840, 2160))


class OldEdgeFilter:
    """The edge filter before issue 16 (adjacent pixels, per-pixel mid/half, numpy)."""

    def __init__(self, intr: Intrinsics, min_angle: float = 10.0):
        cot = 1.0 / math.tan(math.radians(min_angle))
        a = (np.arange(intr.width, dtype=np.float64) - intr.cx) / intr.fx
        b = (np.arange(intr.height, dtype=np.float64) - intr.cy) / intr.fy
        ah, bh = a[None, :-1], b[:, None]
        r2 = 1.0 + ah * ah + bh * bh
        self.h_mid = (-ah / (r2 * intr.fx)).astype(np.float32)
        self.h_half = (np.sqrt(1.0 + bh * bh) * cot / (r2 * intr.fx)).astype(np.float32)
        av, bv = a[None, :], b[:-1, None]
        r2 = 1.0 + av * av + bv * bv
        self.v_mid = (-bv / (r2 * intr.fy)).astype(np.float32)
        self.v_half = (np.sqrt(1.0 + av * av) * cot / (r2 * intr.fy)).astype(np.float32)

    def mask(self, z: np.ndarray) -> np.ndarray:
        out = np.zeros(z.shape, dtype=bool)
        with np.errstate(invalid='ignore', divide='ignore'):
            h = _discontinuities(z[:, 1:], z[:, :-1], self.h_mid, self.h_half)
            out[:, 1:-1] = h[:, :-1] & h[:, 1:]
            v = _discontinuities(z[1:, :], z[:-1, :], self.v_mid, self.v_half)
            out[1:-1, :] |= v[:-1] & v[1:]
        return out


def _discontinuities(z_next, z, mid, half):
    q = np.subtract(z_next, z)
    np.divide(q, z_next, out=q)
    np.subtract(q, mid, out=q)
    np.abs(q, out=q)
    return np.greater(q, half)


class Minimal:
    """Back-projection into a contiguous xyz + rgb buffer and the depth bytes (issue 19)."""

    def __init__(self, intr: Intrinsics):
        u = (np.arange(intr.width, dtype=np.float32) - np.float32(intr.cx)) / np.float32(intr.fx)
        v = (np.arange(intr.height, dtype=np.float32) - np.float32(intr.cy)) / np.float32(intr.fy)
        self.rx, self.ry = u[None, :], v[:, None]
        self.rgb = np.zeros((intr.height, intr.width, 4), np.uint8)

    def run(self, z: np.ndarray):
        cloud = np.empty(z.shape + (4,), np.float32)
        np.multiply(self.rx, z, out=cloud[..., 0])
        np.multiply(self.ry, z, out=cloud[..., 1])
        cloud[..., 2] = z
        cloud.view(np.uint8).reshape(z.shape + (16,))[..., 12:16] = self.rgb
        depth_bytes = bytearray(z.nbytes)
        np.frombuffer(depth_bytes, np.float32).reshape(z.shape)[:] = z
        return cloud, depth_bytes


def scene(width: int, height: int, focal: float) -> np.ndarray:
    """Return a blurred, noisy wall at 3 m with boxes at 1-2 m in front of it."""
    rng = np.random.default_rng(0)
    depth = np.full((height, width), 3.0, np.float32)
    for _ in range(12):
        w, h = int(rng.integers(width // 16, width // 4)), int(rng.integers(height // 16,
                                                                            height // 3))
        x, y = int(rng.integers(0, width - w)), int(rng.integers(0, height - h))
        depth[y:y + h, x:x + w] = rng.uniform(1.0, 2.0)
    depth = cv2.GaussianBlur(depth, (0, 0), 2.0 * width / 640)
    return (depth * (1.0 + 0.003 * rng.standard_normal(depth.shape))).astype(np.float32)


def sampled_range(z: np.ndarray):
    """The automatic colour range before issue 16: every 4th pixel in u and v."""
    sample = z[2::4, 2::4].astype(np.float64)
    return np.percentile(sample[np.isfinite(sample) & (sample > 0)], (2.0, 98.0))


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1000.0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--rounds', type=int, default=30, help='timed rounds per size')
    p.add_argument('--sizes', default=','.join(f'{w}x{h}' for w, h in SIZES),
                   help='comma-separated WxH (default: %(default)s)')
    p.add_argument('--threads', type=int, default=0,
                   help="OpenCV's thread count (cv2.setNumThreads); 0 = its default")
    p.add_argument('--json', action='store_true', help='print one JSON object instead')
    args = p.parse_args(argv)
    if args.threads > 0:
        cv2.setNumThreads(args.threads)
    load_before = os.getloadavg()
    results = []
    for text in args.sizes.split(','):
        width, height = (int(v) for v in text.split('x'))
        focal = 525.0 if width == 640 else 0.82 * width
        intr = Intrinsics(width, height, focal, focal, (width - 1) / 2.0, (height - 1) / 2.0)
        z = scene(width, height, focal)
        new, old, minimal = EdgeFilter(), OldEdgeFilter(intr), Minimal(intr)
        runs = {'new': lambda: new.mask(z, intr), 'old': lambda: old.mask(z),
                'minimal': lambda: minimal.run(z), 'range': lambda: depth_range(z),
                'sampled': lambda: sampled_range(z),
                'colored': lambda: colorize_depth_bgr(z, 0.5, 6.0)}
        for fn in runs.values():  # warm caches, thresholds and scratch buffers
            fn()
        times = {name: [] for name in runs}
        order = list(runs)
        for _ in range(args.rounds):
            random.shuffle(order)
            for name in order:
                times[name].append(timed(runs[name]))
        megapixels = width * height / 1e6
        row = {'size': text, 'flagged': float(new.mask(z, intr).mean())}
        for name, values in times.items():
            row[f'{name}_ms'] = statistics.median(values)
            row[f'{name}_ms_per_mp'] = row[f'{name}_ms'] / megapixels
        row['old_over_new'] = statistics.median(o / n for o, n in zip(times['old'], times['new']))
        row['new_over_minimal'] = statistics.median(
            n / m for n, m in zip(times['new'], times['minimal']))
        row['range_over_sampled'] = statistics.median(
            r / s for r, s in zip(times['range'], times['sampled']))
        results.append(row)
    load_after = os.getloadavg()
    if args.json:
        print(json.dumps({'load_before': load_before, 'load_after': load_after,
                          'rounds': args.rounds, 'opencv_threads': cv2.getNumThreads(),
                          'sizes': results}, indent=1))
        return 0
    print(f'load average before: {" ".join(f"{v:.2f}" for v in load_before)}; '
          f'OpenCV threads: {cv2.getNumThreads()}')
    print(f'{"size":>10} {"new ms":>8} {"ms/MP":>6} {"old ms":>8} {"ms/MP":>6} '
          f'{"old/new":>7} {"minimal ms":>10} {"new/minimal":>11} {"flagged":>7}')
    for r in results:
        print(f'{r["size"]:>10} {r["new_ms"]:8.2f} {r["new_ms_per_mp"]:6.2f} {r["old_ms"]:8.2f} '
              f'{r["old_ms_per_mp"]:6.2f} {r["old_over_new"]:7.2f} {r["minimal_ms"]:10.2f} '
              f'{r["new_over_minimal"]:11.3f} {r["flagged"]:7.3f}')
    print(f'{"size":>10} {"range ms":>8} {"sampled ms":>10} {"range/sampled":>13} '
          f'{"colouring ms":>12}')
    for r in results:
        print(f'{r["size"]:>10} {r["range_ms"]:8.2f} {r["sampled_ms"]:10.2f} '
              f'{r["range_over_sampled"]:13.2f} {r["colored_ms"]:12.2f}')
    print(f'load average after: {" ".join(f"{v:.2f}" for v in load_after)}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
