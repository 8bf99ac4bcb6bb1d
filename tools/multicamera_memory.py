#!/usr/bin/env python3
# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
Memory of N cameras in one depth_node process against N single-camera processes.

Starts the installed ``depth_node`` (tiny Depth Anything checkpoint unless
``--model``) on a private ROS domain, feeds every camera 1280x720 rgb8 frames
with camera_info at ``--rate`` Hz over RELIABLE topics for ``--seconds``, then
reads each process's private memory (``Private_Clean + Private_Dirty`` of
``/proc/<pid>/smaps_rollup``: what the process alone holds) and PSS. Every
configuration runs ``--repeat`` times, interleaved (glibc keeps a process's
freed buffers, and how much it keeps varies from run to run by tens of MiB);
the cameras have their own calibrations. Prints each run, the medians,
the memory per extra camera from the medians, the least-squares slope over the
one-process configurations, and a JSON line::

    .venv/bin/python tools/multicamera_memory.py --cameras 1 2 4
"""

import argparse
import json
import os
from pathlib import Path
import statistics
import sys
import tempfile
import time

from depth_node.testing.blackbox import camera_info, NodeProcess, rgb_image, RosPeer
from depth_node.testing.tiny_models import make_depth_anything, textured_image
import numpy as np
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


def summary(runs: list) -> dict:
    """Return the medians of one configuration's runs, with the range of private memory."""
    private = [r['private_mib'] for r in runs]
    row = {key: runs[0][key] for key in ('cameras', 'processes', 'layout')}
    for key in ('private_mib', 'pss_mib', 'rss_mib'):
        row[key] = round(statistics.median(r[key] for r in runs), 1)
    row['private_mib_runs'] = private
    return row


def main(argv=None) -> int:
    """Measure and print the table and a JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--cameras', type=int, nargs='+', default=[1, 2, 4])
    parser.add_argument('--model', help='checkpoint directory (default: the tiny DA model)')
    parser.add_argument('--width', type=int, default=1280)
    parser.add_argument('--height', type=int, default=720)
    parser.add_argument('--rate', type=float, default=10.0, help='Hz per camera')
    parser.add_argument('--seconds', type=float, default=10.0, help='feeding time per run')
    parser.add_argument('--repeat', type=int, default=3,
                        help='runs of every configuration, interleaved; medians are reported')
    parser.add_argument('--domain', type=int, default=150 + os.getpid() % 50)
    args = parser.parse_args(argv)
    if 1 not in args.cameras or args.repeat < 1:
        parser.error('--cameras must include 1 (the reference) and --repeat be at least 1')
    model = args.model or make_depth_anything(Path(tempfile.mkdtemp(prefix='tiny_da_')))
    os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=args.domain)
    load_start = os.getloadavg()
    configs = [(count, one_process) for count in args.cameras
               for one_process in ((True,) if count == 1 else (True, False))]
    runs = {config: [] for config in configs}
    try:
        for repeat in range(args.repeat):
            for count, one_process in configs:
                result = dict(measure(context, args.domain, model, count, one_process, args),
                              layout='one process' if one_process else 'one per camera')
                runs[(count, one_process)].append(result)
                print(f"run {repeat + 1}: {count} camera(s), {result['layout']:<15}"
                      f" private {result['private_mib']:8.1f} MiB"
                      f"  PSS {result['pss_mib']:8.1f} MiB", flush=True)
    finally:
        rclpy.try_shutdown(context=context)
    rows = [summary(runs[config]) for config in configs]
    single = rows[0]
    one = [r for r in rows if r['layout'] == 'one process']
    for row in one[1:]:
        row['private_mib_per_extra_camera'] = round(
            (row['private_mib'] - single['private_mib']) / (row['cameras'] - 1), 1)
    fit = None
    if len(one) > 1:  # least squares over the one-process medians: MiB per camera
        fit = round(float(np.polyfit([r['cameras'] for r in one],
                                     [r['private_mib'] for r in one], 1)[0]), 1)
    print('medians of', args.repeat, 'runs:')
    for row in rows:
        extra = row.get('private_mib_per_extra_camera')
        print(f"{row['cameras']} camera(s), {row['layout']:<15} private "
              f"{row['private_mib']:8.1f} MiB (runs {row['private_mib_runs']})"
              + (f', {extra:.1f} MiB per extra camera' if extra is not None else ''))
    if fit is not None:
        print(f'one process, private memory per camera (least-squares slope): {fit:.1f} MiB')
    print(json.dumps({'load_average': {'start': load_start, 'end': os.getloadavg()},
                      'width': args.width, 'height': args.height, 'rate_hz': args.rate,
                      'repeat': args.repeat, 'private_mib_per_camera_fit': fit,
                      'rows': rows}))
    return 0


if __name__ == '__main__':
    sys.exit(main())
