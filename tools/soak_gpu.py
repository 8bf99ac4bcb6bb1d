# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
Long soak of the real node, for a GPU machine: memory, GPU memory, rates, backlog.

Runs :class:`depth_node.node.DepthNode` in-process (``rclpy.spin``'s
single-threaded executor) next to the tests' feeder node
(:class:`depth_node.testing.feeder.Feeder`) that publishes rendered frames
(:mod:`depth_node.testing.synthetic`) with their camera_info at ``--rate-in`` Hz for
``--minutes``, and a sink subscribed to every output. Every ``--sample-s``
seconds it records the process RSS, CUDA memory and the node's counters;
at the end it prints one JSON summary and exits 1 when RSS or GPU memory grew
by more than the limits after the warm-up, when frames were lost to faults,
or when a backlog built up (the last frame must come out within 2 s).

``--states`` first measures the GPU memory of each lifecycle state
(unconfigured, inactive, active, after cleanup), the numbers of README's
lifecycle table.

Usage, from the repository root (ROS 2 and the package installed)::

    python3 tools/soak_gpu.py --model depth-anything/Depth-Anything-V2-Metric-Indoor-Small-hf \\
        --device cuda --minutes 60 --width 1280 --height 720 --rate-in 30 --states
"""

import argparse
import json
import os
import sys
import threading
import time

#: Seconds the last frame may take to come out after it was sent (no backlog).
MAX_LAG_S = 2.0


def parse_args(argv):
    """Parse the command line."""
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--model', default='depth-anything/Depth-Anything-V2-Metric-Indoor-Small-hf',
                   help='HF model id or local checkpoint directory')
    p.add_argument('--device', default='auto', help='auto, cpu, cuda or cuda:N')
    p.add_argument('--precision', default='auto', help='auto, fp32, fp16 or bf16')
    p.add_argument('--minutes', type=float, default=30.0, help='soak duration')
    p.add_argument('--seconds', type=float, default=0.0,
                   help='soak duration in seconds (overrides --minutes when > 0)')
    p.add_argument('--rate-in', type=float, default=30.0, help='camera rate, Hz')
    p.add_argument('--rate', type=float, default=0.0,
                   help="the node's rate parameter (0 = every frame it can)")
    p.add_argument('--width', type=int, default=640)
    p.add_argument('--height', type=int, default=480)
    p.add_argument('--sample-s', type=float, default=10.0, help='seconds between samples')
    p.add_argument('--warmup-s', type=float, default=60.0,
                   help='growth is measured from this many seconds in')
    p.add_argument('--max-growth-mb', type=float, default=50.0,
                   help='largest acceptable RSS growth after the warm-up, MB')
    p.add_argument('--max-gpu-growth-mb', type=float, default=20.0,
                   help='largest acceptable growth of CUDA allocated memory, MB')
    p.add_argument('--states', action='store_true',
                   help='first measure GPU memory in each lifecycle state')
    p.add_argument('--out', default='', help='also write the JSON summary to this file')
    return p.parse_args(argv)


def _cuda_mb(device):
    import torch
    if device is None or getattr(device, 'type', '') != 'cuda':
        return None
    torch.cuda.synchronize(device)
    return {'allocated_mb': torch.cuda.memory_allocated(device) / 1e6,
            'reserved_mb': torch.cuda.memory_reserved(device) / 1e6,
            'max_allocated_mb': torch.cuda.max_memory_allocated(device) / 1e6}


def _frames(width, height, n=8):
    """Render ``n`` frames of the sample trajectory at ``width`` x ``height``."""
    from depth_node.testing import synthetic
    f = 525.0 * width / 640.0
    cx, cy = (width - 1) / 2.0, (height - 1) / 2.0
    rgbs = [synthetic.render(width, height, f, f, cx, cy, pose)[0]
            for pose in synthetic.sample_trajectory(n)]
    return rgbs, (f, cx, cy)


def measure_states(args, context):
    """Return CUDA memory in each lifecycle state (configure, activate, deactivate, cleanup)."""
    import torch
    from rclpy.parameter import Parameter

    from depth_node.node import DepthNode
    node = DepthNode('depth_node_states', context=context, parameter_overrides=[
        Parameter('model', value=args.model), Parameter('device', value=args.device),
        Parameter('precision', value=args.precision), Parameter('autostart', value=False)])
    try:
        device = torch.device('cuda') if torch.cuda.is_available() else None
        table = {'unconfigured': _cuda_mb(device)}
        node.trigger_configure()
        device = node.model.device
        table['inactive'] = _cuda_mb(device)
        node.trigger_activate()
        table['active (idle)'] = _cuda_mb(device)
        rgbs, (f, _, _) = _frames(args.width, args.height, 1)
        for _ in range(5):
            node.model.predict(rgbs[0], focal=(f, f))
        table[f'active ({args.width}x{args.height} frames)'] = _cuda_mb(device)
        node.trigger_deactivate()
        node.trigger_cleanup()
        table['after cleanup'] = _cuda_mb(device)
        return table
    finally:
        node.destroy_node()


def soak(args, context):
    """Run the soak; return the summary dict."""
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.parameter import Parameter

    from depth_node.memory import rss_bytes
    from depth_node.node import DepthNode
    from depth_node.testing.feeder import Feeder, make_image, make_info
    from depth_node.testing.soak import MemoryTracker

    rgbs, (f, cx, cy) = _frames(args.width, args.height)
    node = DepthNode(context=context, parameter_overrides=[
        Parameter('model', value=args.model), Parameter('device', value=args.device),
        Parameter('precision', value=args.precision), Parameter('rate', value=args.rate),
        Parameter('input_qos', value='reliable')])
    feeder = Feeder('soak_feeder', context=context)
    feeder.keep = 2
    got = {'status': None}

    def on_diag(msg):
        for status in msg.status:
            if 'depth_node' in status.name:
                got['status'] = status
    feeder.create_subscription(DiagnosticArray, '/diagnostics', on_diag, 10)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    executor.add_node(feeder)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    try:
        camera = node.pipelines[0]
        feeder.wait_for(lambda: feeder.connected() and camera.image_sub is not None, 30.0,
                        'the node to subscribe')
        duration = args.seconds if args.seconds > 0 else args.minutes * 60.0
        device = node.model.device
        tracker = MemoryTracker(warmup_frames=int(args.warmup_s * args.rate_in))
        samples = []
        frame_id = 'camera_color_optical_frame'
        images = [make_image(rgb, frame_id=frame_id) for rgb in rgbs]
        info = make_info(args.width, args.height, f, f, cx, cy, frame_id=frame_id)
        start = time.monotonic()
        next_sample = start
        sent = 0
        last = None
        while time.monotonic() - start < duration:
            due = start + sent / args.rate_in
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            msg = images[sent % len(images)]
            msg.header.stamp = info.header.stamp = feeder.get_clock().now().to_msg()
            last = (msg.header.stamp.sec, msg.header.stamp.nanosec)
            feeder.publish(msg, info)
            sent += 1
            if time.monotonic() >= next_sample:
                next_sample += args.sample_s
                cuda = _cuda_mb(device)
                tracker.sample(sent, rss_bytes(),
                               int(cuda['allocated_mb'] * 1e6) if cuda else None)
                samples.append({'t_s': round(time.monotonic() - start, 1), 'sent': sent,
                                'published': node.pipelines[0].frames.published,
                                'rss_mb': round(rss_bytes() / 1e6, 1), 'cuda': cuda})
                print(json.dumps(samples[-1]), file=sys.stderr, flush=True)
        sent_at = time.perf_counter()
        lag = None
        try:
            feeder.wait_for(lambda: ('depth', last) in feeder.arrival, 10.0, 'the last frame')
            lag = feeder.arrival[('depth', last)] - sent_at
        except TimeoutError:
            pass
        time.sleep(max(1.5, node.get_parameter('diagnostics_period').value * 1.5))
        memory = tracker.summary()
        drops = dict(node.pipelines[0].frames.drops)
        status = got['status']
        diag = {kv.key: kv.value for kv in status.values} if status is not None else {}
        faults = {k: v for k, v in drops.items() if k not in ('superseded', 'idle')}
        ok = (lag is not None and lag < MAX_LAG_S and not faults
              and memory.growth_mb < args.max_growth_mb
              and (memory.gpu_growth_mb is None
                   or memory.gpu_growth_mb < args.max_gpu_growth_mb))
        elapsed = time.monotonic() - start
        return {
            'ok': ok, 'model': args.model, 'device': str(device),
            'size': f'{args.width}x{args.height}', 'seconds': round(elapsed, 1),
            'sent': sent, 'received': node.pipelines[0].frames.received,
            'published': node.pipelines[0].frames.published, 'drops': drops,
            'rate_in_hz': round(sent / elapsed, 2),
            'rate_out_hz': round(node.pipelines[0].frames.published / elapsed, 2),
            'last_frame_lag_s': None if lag is None else round(max(lag, 0.0), 3),
            'memory': memory.__dict__, 'memory_line': memory.line(),
            'diagnostics': diag, 'samples': samples,
        }
    finally:
        executor.shutdown()
        spinner.join(timeout=5.0)
        node.destroy_node()
        feeder.destroy_node()


def main(argv=None) -> int:
    """Run the soak; print the JSON summary; return 0 when memory stayed flat."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    import rclpy
    os.environ.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        summary = {}
        if args.states:
            summary['gpu_memory_by_state'] = measure_states(args, context)
        summary.update(soak(args, context))
    finally:
        rclpy.try_shutdown(context=context)
    text = json.dumps(summary, indent=2, default=str)
    print(text)
    if args.out:
        with open(args.out, 'w', encoding='utf-8') as f:
            f.write(text + '\n')
    print(('PASS: ' if summary['ok'] else 'FAIL: ') + summary['memory_line'], file=sys.stderr)
    return 0 if summary['ok'] else 1


if __name__ == '__main__':
    sys.exit(main())
