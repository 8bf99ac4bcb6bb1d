#!/usr/bin/env python3
# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
Memory of N cameras in one depth_node process against N single-camera processes.

Starts the installed ``depth_node`` (tiny Depth Anything checkpoint unless
``--model``) on a private ROS domain, feeds every camera 1280x720 rgb8 frames
with camera_info at ``--rate`` Hz over RELIABLE topics for ``--seconds``, then
reads each process's private memory (``Private_Clean + Private_Dirty`` of
``/proc/<pid>/smaps_rollup``: what the process alone holds) and PSS. Prints one
table row per configuration and a JSON line::

    .venv/bin/python tools/multicamera_memory.py --cameras 1 2 4
"""

import argparse
import json
import os
from pathlib import Path
import sys
import tempfile
import time

from depth_node.testing.blackbox import camera_info, NodeProcess, rgb_image, RosPeer
from depth_node.testing.tiny_models import make_depth_anything, textured_image
import rclpy


def smaps(pid: int) -> dict:
    """Return the private and proportional memory of a process in MiB."""
    values = {}
    with open(f'/proc/{pid}/smaps_rollup', encoding='ascii') as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 2 and parts[0].endswith(':') and parts[1].isdigit():
                values[parts[0][:-1]] = int(parts[1]) / 1024.0
    return {'private_mib': values.get('Private_Clean', 0.0) + values.get('Private_Dirty', 0.0),
            'pss_mib': values.get('Pss', 0.0), 'rss_mib': values.get('Rss', 0.0)}


def feed(context, procs, namespaces, names, args) -> None:
    """Feed every camera of every process; wait for its outputs to flow."""
    peers = [RosPeer(context, ns, camera=name) for ns, cams in zip(namespaces, names)
             for name in cams]
    try:
        for peer in peers:
            peer.wait_for(lambda p=peer: p.connected() and p.diag is not None, 180.0,
                          f'{peer.namespace}/{peer.camera} served')
        rgb = textured_image(args.height, args.width, seed=1)
        period = 1.0 / args.rate
        end = time.monotonic() + args.seconds
        k = 0
        while time.monotonic() < end:
            k += 1
            t0 = time.monotonic()
            for i, peer in enumerate(peers):
                stamp = (k, 0)
                frame = f'{peer.camera or "camera"}_optical_frame'
                # Each camera its own calibration, as real ones have: nothing per camera
                # is shared by equal intrinsics.
                peer.publish(rgb_image(args.width, args.height, rgb, stamp=stamp,
                                       frame_id=frame),
                             camera_info(args.width, args.height, 900.0 + i, 900.0 + i,
                                         (args.width - 1) / 2 + i, (args.height - 1) / 2 - i,
                                         stamp=stamp, frame_id=frame))
            time.sleep(max(0.0, period - (time.monotonic() - t0)))
        for peer in peers:
            assert len(peer.depths) > 0, f'{peer.namespace}/{peer.camera}: no output'
        for proc in procs:
            assert proc.alive(), proc.tail()
    finally:
        for peer in peers:
            peer.close()


def measure(context, domain_id, model, count, one_process, args) -> dict:
    """Return the memory of ``count`` cameras, in one process or one process each."""
    names = [f'cam{i}' for i in range(count)]
    if one_process:
        groups = [names]
    else:
        groups = [[name] for name in names]
    procs, namespaces = [], []
    for i, cams in enumerate(groups):
        ns = f'/mem{count}{"one" if one_process else "sep"}{i}'
        namespaces.append(ns)
        procs.append(NodeProcess(
            ['-r', f'__ns:={ns}', '-p', f'model:={model}', '-p', 'device:=cpu',
             '-p', f'rate:={args.rate}', '-p', f"cameras:=[{', '.join(cams)}]",
             '-p', 'diagnostics_period:=0.5'], domain_id).start())
    try:
        feed(context, procs, namespaces, groups, args)
        memory = [smaps(p.pid) for p in procs]
    finally:
        for proc in procs:
            proc.stop()
    return {'cameras': count, 'processes': len(procs),
            'private_mib': round(sum(m['private_mib'] for m in memory), 1),
            'pss_mib': round(sum(m['pss_mib'] for m in memory), 1),
            'rss_mib': round(sum(m['rss_mib'] for m in memory), 1)}


def main(argv=None) -> int:
    """Measure and print the table and a JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--cameras', type=int, nargs='+', default=[1, 2, 4])
    parser.add_argument('--model', help='checkpoint directory (default: the tiny DA model)')
    parser.add_argument('--width', type=int, default=1280)
    parser.add_argument('--height', type=int, default=720)
    parser.add_argument('--rate', type=float, default=10.0, help='Hz per camera')
    parser.add_argument('--seconds', type=float, default=10.0, help='feeding time per run')
    parser.add_argument('--domain', type=int, default=150 + os.getpid() % 50)
    args = parser.parse_args(argv)
    model = args.model or make_depth_anything(Path(tempfile.mkdtemp(prefix='tiny_da_')))
    os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=args.domain)
    rows = []
    try:
        for count in args.cameras:
            for one_process in ((True,) if count == 1 else (True, False)):
                rows.append(dict(measure(context, args.domain, model, count, one_process, args),
                                 layout='one process' if one_process else 'one per camera'))
                print(f"{rows[-1]['cameras']} camera(s), {rows[-1]['layout']:<15}"
                      f" private {rows[-1]['private_mib']:8.1f} MiB"
                      f"  PSS {rows[-1]['pss_mib']:8.1f} MiB", flush=True)
    finally:
        rclpy.try_shutdown(context=context)
    single = next(r for r in rows if r['cameras'] == 1)
    for row in rows:
        if row['layout'] == 'one process' and row['cameras'] > 1:
            row['private_mib_per_extra_camera'] = round(
                (row['private_mib'] - single['private_mib']) / (row['cameras'] - 1), 1)
    print(json.dumps({'load_average': os.getloadavg(), 'width': args.width,
                      'height': args.height, 'rate_hz': args.rate, 'rows': rows}))
    return 0


if __name__ == '__main__':
    sys.exit(main())
