# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
What anchoring costs per frame on the host, next to the rest of the frame's payload work.

A 1280x720 frame (depth_node's host path: depth image and organized cloud, the node's
defaults) and anchors of the usual sensors: a registered depth camera (640x360 16UC1,
every pixel measured), a LiDAR projected into the image (1280x720 32FC1, 3 % of the
pixels) and LiDAR clouds (30 000 and 130 000 points in the optical frame). Each is timed
through ``AnchorStage.update`` (reading the message, the fit, the held state) plus
applying the correction, interleaved with the payload stage
(``HostPayloads.encode``) in every round; the best of ``--rounds`` is printed, with
the ratio to the payload stage.

Usage, from the repository root::

    python3 tools/anchor_bench.py --rounds 30
"""

import argparse
import sys
import time
from types import SimpleNamespace

from depth_node.anchor import AnchorInput, AnchorStage
from depth_node.camera import pinhole_camera_info
from depth_node.geometry import Intrinsics
from depth_node.outputs import OutputOptions
from depth_node.payloads import HostPayloads
import numpy as np

W, H = 1280, 720
INTR = Intrinsics(W, H, 910.0, 910.0, 639.5, 359.5)


def _header():
    return SimpleNamespace(stamp=SimpleNamespace(sec=1, nanosec=0), frame_id='cam')


def image_anchor(values: np.ndarray, encoding: str) -> AnchorInput:
    """Return an anchor/depth message holding ``values``."""
    h, w = values.shape
    return AnchorInput('depth', SimpleNamespace(
        header=_header(), height=h, width=w, encoding=encoding, is_bigendian=0,
        step=w * values.dtype.itemsize, data=values.tobytes()))


def cloud_anchor(xyz: np.ndarray) -> AnchorInput:
    """Return an anchor/points message (x, y, z float32) of ``N x 3`` points."""
    fields = [SimpleNamespace(name=n, offset=4 * i, datatype=7, count=1)
              for i, n in enumerate('xyz')]
    return AnchorInput('points', SimpleNamespace(
        header=_header(), height=1, width=len(xyz), fields=fields, is_bigendian=0,
        point_step=12, row_step=12 * len(xyz), data=xyz.astype('<f4').tobytes()))


def main(argv=None) -> int:
    """Print the best per-frame milliseconds of each case and its ratio to the payloads."""
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0].strip())
    p.add_argument('--rounds', type=int, default=30)
    args = p.parse_args(argv)
    rng = np.random.default_rng(0)
    v, u = np.mgrid[0:H, 0:W]
    depth = (1.0 + 4.0 * v / H + np.sin(u / 50.0) ** 2).astype(np.float32)
    truth = depth * 1.3
    small = truth[1::2, 1::2]
    lidar = np.where(rng.random((H, W)) < 0.03, truth, 0.0).astype(np.float32)

    def cloud(n):
        uu, vv = rng.integers(0, W, n), rng.integers(0, H, n)
        z = truth[vv, uu]
        return np.column_stack([(uu - INTR.cx) / INTR.fx * z, (vv - INTR.cy) / INTR.fy * z, z])

    cases = {
        'depth camera 640x360 16UC1, dense': image_anchor(
            np.rint(small * 1000).astype(np.uint16), '16UC1'),
        'LiDAR in the image 1280x720 32FC1, 3 %': image_anchor(lidar, '32FC1'),
        'LiDAR cloud, 30000 points': cloud_anchor(cloud(30000)),
        'LiDAR cloud, 130000 points': cloud_anchor(cloud(130000)),
    }
    opts = OutputOptions(anchor_depth=True, anchor_points=True)
    payloads = HostPayloads()
    info = pinhole_camera_info(INTR)
    pixels = np.zeros((H, W, 3), np.uint8)
    best = {name: float('inf') for name in ['payloads'] + list(cases)}
    for _ in range(args.rounds):
        t0 = time.perf_counter()
        payloads.encode(pixels, (0, 1, 2), depth, INTR, info, opts, {})
        best['payloads'] = min(best['payloads'], time.perf_counter() - t0)
        for name, anchor in cases.items():
            stage = AnchorStage()
            t0 = time.perf_counter()
            correction = stage.update(depth, INTR, opts, [anchor], 10**9, 'cam', [])
            correction.apply(depth)
            best[name] = min(best[name], time.perf_counter() - t0)
    base = best['payloads']
    print(f"{'1280x720 frame, host':<48}{'ms':>8}{'x payloads':>12}")
    for name, seconds in best.items():
        label = 'payload stage (depth image + cloud)' if name == 'payloads' else \
            f'anchoring: {name}'
        print(f'{label:<48}{seconds * 1e3:>8.2f}{seconds / base:>12.2f}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
