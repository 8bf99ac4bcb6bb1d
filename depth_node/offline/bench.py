# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
``depth_node_bench``: time the node's per-frame path without ROS, on synthetic frames.

Runs exactly what the node runs for each frame (``FrameProcessor.process`` on
an Image message: decode, upload, preprocessing, network, postprocessing with
the single download, output decimation, edge filter, depth image and
point-cloud payload encoding, LaserScan and colourised depth), then builds the
``sensor_msgs`` Image, CameraInfo, PointCloud2 and LaserScan messages the way
the node does (:mod:`depth_node.messages`), when sensor_msgs is importable.
Prints a table of per-stage median and p90 milliseconds, frames per second and
peak memory, then the same as one JSON line (also written to ``--json PATH``).

Batch size is 1: the node always runs the newest frame alone (older ones are
dropped), so that is what is measured. Stage times are device-synchronised,
so they add up to the frame time. On CUDA each stage also gets its **device**
time (CUDA events: what the GPU spent in it) and its **host** time (what the
CPU spent before waiting for the GPU), see :mod:`depth_node.timing`; the payload
stages then run on the GPU too (``--payloads``). ``--profile`` adds a
``torch.profiler`` table of the operators (``--profile python``: cProfile's
top Python functions) over a few extra frames.

Examples::

    depth_node_bench --model depth-anything/Depth-Anything-V2-Metric-Indoor-Small-hf
    depth_node_bench --device cuda --precision fp16 --profile
    python -m depth_node.offline.bench --model /path/to/checkpoint --device cpu --frames 10
"""

import argparse
import json
import math
import os
import platform
import resource
import sys
import time
from typing import Dict, List, Optional, Sequence

import numpy as np

from .baseline import calibrate, format_calibration, load_average, parse_sizes
from .cli import (announcer, error_text, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_USAGE,
                  library_progress)
from .. import messages
from ..camera import pinhole_camera_info
from ..geometry import Intrinsics
from ..msgfill import as_byte_array
from ..params import DEFAULT_MODEL
from ..timing import stage, StageTimes

#: Stages in the order of the table: (key, label).
STAGES = (
    ('decode', 'decode (Image fields -> pixels)'),
    ('upload', 'upload (host -> device, uint8)'),
    ('preprocess', 'preprocess (resize, normalise)'),
    ('network', 'network'),
    ('postprocess', 'postprocess'),
    ('decimate', 'output decimation'),
    ('edge_filter', 'edge filter (flying pixels)'),
    ('depth_msg', 'depth image payload'),
    ('cloud_msg', 'point cloud payload'),
    ('scan', 'LaserScan ranges'),
    ('colored', 'colourised depth (bgr8)'),
    ('ros_depth_msg', 'sensor_msgs/Image fill'),
    ('ros_info_msg', 'sensor_msgs/CameraInfo fill'),
    ('ros_cloud_msg', 'sensor_msgs/PointCloud2 fill'),
    ('ros_scan_msg', 'sensor_msgs/LaserScan fill'),
    ('ros_colored_msg', 'depth/colored Image fill'),
    ('total', 'total per frame'),
)

PROG = 'depth_node_bench'

#: Horizontal field of view of the synthetic camera, degrees.
SYNTHETIC_HFOV_DEG = 70.0


def build_parser() -> argparse.ArgumentParser:
    """Return the command-line parser."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description='Time depth_node per frame and per stage on synthetic frames, without '
                    'ROS. Prints a table and a final JSON line.')
    parser.add_argument('--model', default=DEFAULT_MODEL,
                        help='Hugging Face id or local checkpoint directory '
                             '(default: %(default)s)')
    parser.add_argument('--device', default='auto', help="'auto', 'cpu', 'cuda' or 'cuda:N'")
    parser.add_argument('--precision', default='auto', help="'auto', 'fp32', 'fp16' or 'bf16'")
    parser.add_argument('--width', type=int, default=1280, help='frame width in pixels')
    parser.add_argument('--height', type=int, default=720, help='frame height in pixels')
    parser.add_argument('--cameras', type=int, default=1,
                        help='cameras of this size served by one model, as the node with '
                             'cameras: N does: one frame per camera per step, one network pass '
                             'for all (stage times are then per step, summed over its frames); '
                             'with N > 1 the same frames also run one at a time (max_batch 1), '
                             'interleaved, for fps and latency per camera both ways')
    parser.add_argument('--frames', type=int, default=50,
                        help='timed iterations (of --cameras frames each)')
    parser.add_argument('--warmup', type=int, default=5,
                        help='untimed frames first (the first one includes torch.compile)')
    parser.add_argument('--cloud', action=argparse.BooleanOptionalAction, default=True,
                        help='build the point cloud (publish_points)')
    parser.add_argument('--rgb', action=argparse.BooleanOptionalAction, default=True,
                        help='packed rgb field in the cloud (points.rgb)')
    parser.add_argument('--stride', type=int, default=1, help='points.stride')
    parser.add_argument('--organized', action=argparse.BooleanOptionalAction, default=True,
                        help='organized cloud with NaN for invalid points (points.organized); '
                             '--no-organized: only the valid points')
    parser.add_argument('--encoding', default='32FC1', choices=('32FC1', '16UC1'),
                        help='depth image encoding (depth_encoding)')
    parser.add_argument('--decimation', type=int, default=1,
                        help='outputs for every Nth pixel (output_decimation)')
    parser.add_argument('--edge-filter', action=argparse.BooleanOptionalAction, default=True,
                        help='flying-pixel filter for cloud and scan (edge_filter.enabled)')
    parser.add_argument('--scan', action=argparse.BooleanOptionalAction, default=True,
                        help='build the LaserScan (publish_scan; the node default is off)')
    parser.add_argument('--colored', action=argparse.BooleanOptionalAction, default=True,
                        help='build depth/colored (the node does while it has subscribers)')
    parser.add_argument('--compile', action='store_true', help='torch.compile the network')
    parser.add_argument('--flip-tta', action='store_true',
                        help='flip test-time augmentation (ZoeDepth only)')
    parser.add_argument('--no-focal-scaling', dest='focal_scaling', action='store_false',
                        help='skip focal scaling (Depth Pro: use its estimated field of view)')
    parser.add_argument('--threads', type=int, default=0,
                        help='torch CPU threads (torch.set_num_threads); 0 = torch default')
    parser.add_argument('--payloads', default='auto', choices=('auto', 'host', 'device'),
                        help='where the depth image and cloud payloads are built: on the '
                             "model's device ('device'), in numpy ('host'), or as the node "
                             "does ('auto': on the device on CUDA)")
    parser.add_argument('--profile', nargs='?', const='torch', choices=('torch', 'python'),
                        help='after the timed frames, profile a few more: torch.profiler '
                             "operators per stage ('torch', the default), or cProfile's top "
                             "Python functions ('python')")
    parser.add_argument('--profile-frames', type=int, default=5,
                        help='frames run under --profile (default %(default)s)')
    parser.add_argument('--sizes', metavar='WxH,...',
                        help='frame sizes of the calibration (default: --width x --height; '
                             "'readme': 640x480,1280x720,1920x1080,3840x2160)")
    parser.add_argument('--calibration-rounds', type=int, default=10,
                        help='interleaved rounds of the calibration: the payloads against the '
                             'minimal reference and the copy floor of the same sizes, one '
                             'whole frame per size each round (default %(default)s; 0: none)')
    parser.add_argument('--json', metavar='PATH', help='also write the JSON report here')
    return parser


def synthetic_frames(width: int, height: int, count: int = 4, seed: int = 0) -> List[np.ndarray]:
    """Return ``count`` smooth, textured ``H x W x 3`` uint8 frames (distinct contents)."""
    from PIL import Image as PILImage
    rng = np.random.default_rng(seed)
    frames = []
    for _ in range(count):
        small = rng.integers(0, 256, (max(height // 16, 2), max(width // 16, 2), 3),
                             dtype=np.uint8)
        image = PILImage.fromarray(small).resize((width, height), PILImage.BILINEAR)
        frames.append(np.ascontiguousarray(np.asarray(image)))
    return frames


def synthetic_intrinsics(width: int, height: int,
                         hfov_deg: float = SYNTHETIC_HFOV_DEG) -> Intrinsics:
    """Return a pinhole camera of ``hfov_deg`` horizontal field of view, square pixels."""
    f = 0.5 * width / math.tan(math.radians(hfov_deg) / 2.0)
    return Intrinsics(width, height, f, f, (width - 1) / 2.0, (height - 1) / 2.0)


def ros_message_types() -> Optional[messages.MessageTypes]:
    """Return rclpy's message classes, or None where sensor_msgs is not importable."""
    try:
        return messages.rclpy_types()
    except ImportError:
        return None


def image_message(pixels: np.ndarray, stamp_ns: int = 0, frame_id: str = 'camera'):
    """Return an rgb8 Image-like message of ``pixels`` (sensor_msgs fields, no rclpy)."""
    from types import SimpleNamespace
    height, width = pixels.shape[:2]
    stamp = SimpleNamespace(sec=stamp_ns // 1_000_000_000, nanosec=stamp_ns % 1_000_000_000)
    return SimpleNamespace(header=SimpleNamespace(stamp=stamp, frame_id=frame_id),
                           height=height, width=width, encoding='rgb8', is_bigendian=0,
                           step=width * 3, data=as_byte_array(pixels))


def fill_ros_messages(out, types: messages.MessageTypes, timings: dict) -> None:
    """Build the Image, CameraInfo and PointCloud2 messages as the node does, timing each."""
    header = messages.header(types, 0, 'camera')
    with stage(timings, 'ros_depth_msg'):
        messages.depth_image(types, header, out)
    with stage(timings, 'ros_info_msg'):
        messages.camera_info(types, header, out.camera_info)
    if out.cloud is not None:
        with stage(timings, 'ros_cloud_msg'):
            messages.point_cloud(types, header, out.cloud)
    if out.scan is not None:
        with stage(timings, 'ros_scan_msg'):
            messages.laser_scan(types, header, out.scan)
    if out.colored is not None:
        with stage(timings, 'ros_colored_msg'):
            messages.colored_image(types, header, out.colored)


def _summed_timings(items: Sequence[dict]) -> dict:
    """
    Return the timings of a batch: each stage summed over its frames, the shared ones once.

    The network stage (and the batch size) is the batch's, the same in every
    frame's timings; the first frame's timings object (a StageTimes on CUDA)
    takes the others' device events and host times too.
    """
    total = items[0]
    for other in items[1:]:
        for key, value in other.items():
            if key not in ('network', 'batch'):
                total[key] = total.get(key, 0.0) + value
        if isinstance(total, StageTimes) and isinstance(other, StageTimes):
            for name, pairs in other._events.items():
                for start, end in pairs:
                    if name != 'network':
                        total.add_events(name, start, end)
            for name, value in other.host.items():
                if name != 'network':
                    total.host[name] = total.host.get(name, 0.0) + value
    return total


def _multicamera(args, batched_s: float, sequential_s: float,
                 latencies: Dict[int, List[List[float]]]) -> dict:
    """Return fps over all cameras and latency per camera, batched and one at a time."""
    def mode(seconds, steps):
        per_camera = [percentile_summary([step[k] for step in steps])['median_ms']
                      for k in range(args.cameras)]
        return {'fps': round(args.frames * args.cameras / seconds, 3) if seconds > 0 else None,
                'latency_p50_ms_per_camera': [round(v, 3) for v in per_camera]}
    # The warm-up steps are not timed: keep the timed ones (the last ``frames`` of each).
    batched = mode(batched_s, latencies[0][-args.frames:])
    sequential = mode(sequential_s, latencies[1][-args.frames:])
    speedup = (batched['fps'] / sequential['fps']
               if batched['fps'] and sequential['fps'] else None)
    return {'cameras': args.cameras, 'batched': batched, 'sequential': sequential,
            'batched_over_sequential_fps': round(speedup, 3) if speedup else None}


def format_multicamera(multi: Optional[dict]) -> List[str]:
    """Return the table lines of the batched vs one-at-a-time comparison."""
    if not multi:
        return []
    lines = ['', f"{multi['cameras']} cameras, one model{'':<13}{'fps':>10}"
             f"{'latency p50 ms per camera':>30}"]
    for key, label in (('batched', 'batched (max_batch 0)'),
                       ('sequential', 'one at a time (max_batch 1)')):
        mode = multi[key]
        per_camera = ' '.join(f'{v:.1f}' for v in mode['latency_p50_ms_per_camera'])
        lines.append(f"{label:<34}{mode['fps']:>10.2f}  {per_camera:>28}")
    lines.append(f"batched / one at a time: {multi['batched_over_sequential_fps']:.2f}x fps")
    return lines


def private_memory_mib() -> Optional[float]:
    """Return this process's private memory (Private_Clean + Private_Dirty) in MiB, Linux."""
    try:
        with open('/proc/self/smaps_rollup', encoding='ascii') as f:
            kib = sum(int(line.split()[1]) for line in f
                      if line.startswith(('Private_Clean:', 'Private_Dirty:')))
    except (OSError, ValueError):
        return None
    return round(kib / 1024.0, 1)


def percentile_summary(values: Sequence[float]) -> Dict[str, float]:
    """Return median and p90 (linear interpolation) of ``values`` in milliseconds."""
    data = np.asarray(values, dtype=np.float64)
    return {'median_ms': round(float(np.percentile(data, 50)), 3),
            'p90_ms': round(float(np.percentile(data, 90)), 3)}


def cpu_name() -> str:
    """Return the CPU model name (Linux /proc/cpuinfo) or the platform's processor string."""
    try:
        with open('/proc/cpuinfo', encoding='utf-8') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_description(device) -> str:
    """Return a human-readable description of the machine that ran the network."""
    import torch
    if device.type == 'cuda':
        props = torch.cuda.get_device_properties(device)
        return f'{props.name} ({props.total_memory / 2 ** 30:.0f} GiB), CPU {cpu_name()}'
    return f'CPU {cpu_name()}, {os.cpu_count()} cores, torch threads {torch.get_num_threads()}'


def run(args) -> dict:
    """Load the model, warm up, time ``args.frames`` frames; return the report."""
    import torch

    notes = ['one camera: the node runs its newest frame alone'
             if args.cameras == 1 else
             f'{args.cameras} cameras: one forward pass per step of {args.cameras} frames (one '
             'per camera, as the node batches them); every stage time is per step (payload and '
             'message rows summed over its frames); fps counts frames',
             'stage times are synchronised with the device']
    threads = torch.get_num_threads()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    try:
        return _measure(args, notes)
    finally:
        torch.set_num_threads(threads)


def _measure(args, notes: List[str]) -> dict:
    import torch
    import transformers

    from ..frame import FrameProcessor, OutputOptions, process_batch
    from ..models import load_model

    load_start = load_average()
    t0 = time.perf_counter()
    model = load_model(args.model, args.device, args.precision, compile_net=args.compile,
                       flip_tta=args.flip_tta, announce=announcer(PROG))
    load_s = time.perf_counter() - t0
    if args.flip_tta and not model.flip_tta:
        notes.append(f'flip TTA requested but {model.family} has none: off')
    device_payloads = {'auto': None, 'host': False, 'device': True}[args.payloads]
    processor = FrameProcessor(model, device_payloads=device_payloads)
    cuda = model.device.type == 'cuda'
    if cuda:
        processor.new_timings = StageTimes
        notes.append('device ms: GPU time between CUDA events around the stage; host ms: CPU '
                     'time in the stage before waiting for the GPU (launches, Python, numpy, '
                     'and waits the stage makes itself, such as downloads)')
    notes.append('payloads built on the device, one download each (postprocess has no depth '
                 'download; the depth image and cloud rows include theirs)'
                 if processor.device_payloads else
                 'payloads built in numpy on the host; postprocess includes the single device '
                 '-> host copy of the depth map')
    intr = synthetic_intrinsics(args.width, args.height)
    info = pinhole_camera_info(intr)
    frames = synthetic_frames(args.width, args.height)
    images = [image_message(f) for f in frames]
    opts = OutputOptions(focal_scaling=args.focal_scaling, depth_encoding=args.encoding,
                         publish_points=args.cloud, points_rgb=args.rgb,
                         points_stride=args.stride, points_organized=args.organized,
                         decimation=args.decimation,
                         edge_filter=args.edge_filter, scan=args.scan, colored=args.colored)
    if args.scan or args.colored:
        notes.append('the node builds the scan only with publish_scan and depth/colored only '
                     'while it has subscribers (--no-scan, --no-colored leave them out here)')
    types = ros_message_types()
    if types is None:
        notes.append('sensor_msgs is not importable: the ROS message fill rows are skipped')
    # One processor per camera, as the node has.
    processors = [processor] + [
        FrameProcessor(model, device_payloads=device_payloads) for _ in range(args.cameras - 1)]
    for extra in processors[1:]:
        extra.new_timings = processor.new_timings
    latencies: Dict[int, List[List[float]]] = {0: [], 1: []}

    def step(i: int, max_batch: int = 0) -> dict:
        """Run step ``i`` (a frame per camera) as the node would; return its timings."""
        t = time.perf_counter()
        prepared = [(p, p.prepare(images[(i * args.cameras + k) % len(images)], info, opts))
                    for k, p in enumerate(processors)]
        outputs, ready = [], []
        for _, out in process_batch(model, prepared, max_batch):
            if isinstance(out, BaseException):
                raise out
            outputs.append(out)
            ready.append((time.perf_counter() - t) * 1000.0)
        latencies[max_batch].append(ready)
        timings = _summed_timings([out.timings for out in outputs])
        if types is not None:
            for out in outputs:
                fill_timings: Dict[str, float] = {}
                fill_ros_messages(out, types, fill_timings)
                for key, value in fill_timings.items():
                    timings[key] = timings.get(key, 0.0) + value
        timings['total'] = (time.perf_counter() - t) * 1000.0
        return timings

    def record(timings: dict) -> None:
        for key, value in timings.items():
            samples.setdefault(key, []).append(value)
        if isinstance(timings, StageTimes):
            for key, value in timings.device_ms().items():
                device_samples.setdefault(key, []).append(value)
            for key, value in timings.host.items():
                host_samples.setdefault(key, []).append(value)

    warmup_first_s = warmup_s = 0.0
    for i in range(args.warmup):
        t = time.perf_counter()
        step(i)
        elapsed = time.perf_counter() - t
        warmup_first_s = elapsed if i == 0 else warmup_first_s
        warmup_s += elapsed
    if model.device.type == 'cuda':
        torch.cuda.synchronize(model.device)
        torch.cuda.reset_peak_memory_stats(model.device)

    samples: Dict[str, List[float]] = {key: [] for key, _ in STAGES}
    device_samples: Dict[str, List[float]] = {}
    host_samples: Dict[str, List[float]] = {}
    results = []
    loop_s = sequential_s = 0.0
    for i in range(args.frames):
        # With several cameras the one-at-a-time run of the same frames is interleaved
        # (order alternating), so both see the same machine load.
        for max_batch in ((0,) if args.cameras == 1 else ((0, 1) if i % 2 else (1, 0))):
            t = time.perf_counter()
            timings = step(i, max_batch)
            if max_batch == 0:
                loop_s += time.perf_counter() - t
                results.append(timings)
            else:
                sequential_s += time.perf_counter() - t
    for timings in results:  # device times are read after the loop: no extra waits in it
        record(timings)

    stages = {key: percentile_summary(samples[key]) for key, _ in STAGES if samples.get(key)}
    for key, stat in stages.items():
        if device_samples.get(key):
            stat['device_median_ms'] = percentile_summary(device_samples[key])['median_ms']
            stat['host_median_ms'] = percentile_summary(host_samples[key])['median_ms']
    calibration = None
    if args.calibration_rounds > 0:
        sizes = parse_sizes(args.sizes) if args.sizes else [(args.width, args.height)]
        calibration = calibrate(model, sizes, opts, args.calibration_rounds,
                                device_payloads=device_payloads, types=types)
    profile = None
    if args.profile:
        profile = profile_frames(step, args.profile, args.profile_frames, cuda, processor)
    report = {
        'model': args.model,
        'family': model.family,
        'device': str(model.device),
        'machine': device_description(model.device),
        'precision': str(model.dtype).replace('torch.', ''),
        'width': args.width,
        'height': args.height,
        'cameras': args.cameras,
        'frames': args.frames,
        'warmup': args.warmup,
        'cloud': bool(args.cloud),
        'organized': bool(args.organized),
        'decimation': args.decimation,
        'edge_filter': bool(args.edge_filter),
        'scan': bool(args.scan),
        'colored': bool(args.colored),
        'compile': bool(args.compile),
        'flip_tta': bool(model.flip_tta),
        'focal_scaling': bool(args.focal_scaling),
        'stages': stages,
        'fps': round(args.frames * args.cameras / loop_s, 3) if loop_s > 0 else None,
        'multicamera': (_multicamera(args, loop_s, sequential_s, latencies)
                        if args.cameras > 1 else None),
        'private_memory_mib': private_memory_mib(),
        'load_s': round(load_s, 3),
        'warmup_first_frame_s': round(warmup_first_s, 3),
        'warmup_s': round(warmup_s, 3),
        'peak_gpu_memory_mib': None,
        'peak_gpu_reserved_mib': None,
        'peak_host_rss_mib': round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        'ros_messages': types is not None,
        'payloads': 'device' if processor.device_payloads else 'host',
        'profile': profile,
        'calibration': calibration,
        'load_average': {'start': load_start, 'end': load_average()},
        'torch': torch.__version__,
        'transformers': transformers.__version__,
        'python': platform.python_version(),
        'notes': notes,
    }
    if model.device.type == 'cuda':
        report['peak_gpu_memory_mib'] = round(
            torch.cuda.max_memory_allocated(model.device) / 2 ** 20, 1)
        report['peak_gpu_reserved_mib'] = round(
            torch.cuda.max_memory_reserved(model.device) / 2 ** 20, 1)
    return report


#: Rows of the --profile summary.
PROFILE_ROWS = 15


def profile_frames(step, tool: str, frames: int, cuda: bool, processor) -> dict:
    """
    Run ``frames`` more frames under a profiler; return its summary (ms per frame).

    ``tool`` 'torch': ``torch.profiler`` (CPU, and CUDA kernels on a GPU), each
    stage marked as a ``depth_node.<stage>`` range; rows are operators and
    stages by self device time on CUDA, self CPU time otherwise. 'python' (or
    when torch.profiler is unavailable): cProfile's top functions by own time.
    """
    frames = max(int(frames), 1)
    if tool == 'torch':
        try:
            from torch.profiler import profile, ProfilerActivity
        except ImportError:
            tool = 'python'
    if tool == 'python':
        return _cprofile(step, frames)
    import torch
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    previous = processor.new_timings
    processor.new_timings = lambda: StageTimes(ranges=True)
    try:
        with profile(activities=activities) as prof:
            for i in range(frames):
                step(i)
            if cuda:
                torch.cuda.synchronize()
    finally:
        processor.new_timings = previous
    events = list(prof.key_averages())
    sort = 'self_device_time_total' if cuda else 'self_cpu_time_total'

    def row(e, inclusive=False) -> dict:
        cpu = e.cpu_time_total if inclusive else e.self_cpu_time_total
        dev = getattr(e, 'device_time_total' if inclusive else 'self_device_time_total', 0.0)
        return {'name': e.key, 'calls_per_frame': round(e.count / frames, 2),
                'cpu_ms': round(cpu / 1000.0 / frames, 3),
                'device_ms': round(dev / 1000.0 / frames, 3) if cuda else None}
    stages = [row(e, inclusive=True) for e in events if e.key.startswith('depth_node.')]
    ops = [e for e in events if not e.key.startswith('depth_node.')]
    ops.sort(key=lambda e: getattr(e, sort, 0.0), reverse=True)
    return {'tool': 'torch.profiler', 'frames': frames,
            'sorted_by': 'self device time' if cuda else 'self CPU time',
            'stages': stages, 'top': [row(e) for e in ops[:PROFILE_ROWS]]}


def _cprofile(step, frames: int) -> dict:
    """Return cProfile's top functions (own time) over ``frames`` frames."""
    import cProfile
    import pstats
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        for i in range(frames):
            step(i)
    finally:
        profiler.disable()
    stats = pstats.Stats(profiler).stats
    rows = sorted(stats.items(), key=lambda item: item[1][2], reverse=True)[:PROFILE_ROWS]
    top = []
    for (path, line, name), (_, calls, own, cumulative, _) in rows:
        where = name if path == '~' else f'{os.path.basename(path)}:{line}({name})'
        top.append({'name': where, 'calls_per_frame': round(calls / frames, 2),
                    'cpu_ms': round(own * 1000.0 / frames, 3),
                    'cumulative_ms': round(cumulative * 1000.0 / frames, 3)})
    return {'tool': 'cProfile', 'frames': frames, 'sorted_by': 'own time', 'stages': [],
            'top': top}


def format_profile(profile: dict) -> List[str]:
    """Return the lines of the --profile summary."""
    lines = ['', f"profile: {profile['tool']}, {profile['frames']} frames, ms per frame, "
                 f"top {len(profile['top'])} by {profile['sorted_by']}"]
    device = any(r.get('device_ms') is not None for r in profile['top'] + profile['stages'])
    extra = 'device ms' if device else ('cumul. ms' if profile['tool'] == 'cProfile' else '')
    head = f"{'name':<58}{'calls':>8}{'cpu ms':>10}" + (f'{extra:>11}' if extra else '')
    for title, rows in (('stages (inclusive)', profile['stages']), ('top', profile['top'])):
        if not rows:
            continue
        lines += [f'{title}:', head, '-' * len(head)]
        for r in rows:
            value = r.get('device_ms') if device else r.get('cumulative_ms')
            tail = f'{value:>11.3f}' if value is not None else ''
            name = r['name'] if len(r['name']) <= 57 else r['name'][:54] + '...'
            lines.append(f"{name:<58}{r['calls_per_frame']:>8g}{r['cpu_ms']:>10.3f}{tail}")
    return lines


def format_table(report: dict) -> str:
    """Return the human-readable table of a report."""
    cloud = ('organized' if report.get('organized', True) else 'dense') if report['cloud'] \
        else 'off'
    lines = [
        f"depth_node_bench: {report['model']} ({report['family']})",
        f"machine: {report['machine']}",
        f"device {report['device']}, precision {report['precision']}, "
        f"{report['width']}x{report['height']}, cameras {report['cameras']}, "
        f"{report['frames']} {'steps' if report['cameras'] > 1 else 'frames'} after "
        f"{report['warmup']} warm-up, "
        f"cloud {cloud}, "
        f"decimation {report['decimation']}, "
        f"edge filter {'on' if report['edge_filter'] else 'off'}, "
        f"scan {'on' if report['scan'] else 'off'}, "
        f"colored {'on' if report['colored'] else 'off'}, "
        f"compile {'on' if report['compile'] else 'off'}, "
        f"flip TTA {'on' if report['flip_tta'] else 'off'}, "
        f"payloads on the {report['payloads']}",
        '',
    ]
    split = any('device_median_ms' in stat for stat in report['stages'].values())
    width = 82 if split else 58
    lines += [f"{'stage':<34}{'median ms':>12}{'p90 ms':>12}"
              + (f"{'device ms':>12}{'host ms':>12}" if split else ''), '-' * width]
    for key, label in STAGES:
        stat = report['stages'].get(key)
        if stat is None:
            why = 'no sensor_msgs' if key.startswith('ros_') and not report['ros_messages'] \
                else 'off'
            lines.append(f'{label:<34}{"-":>12}{"-":>12}  ({why})')
            continue
        if key == 'total':
            lines.append('-' * width)
            if report['cameras'] > 1:
                label = 'total per step'
        line = f"{label:<34}{stat['median_ms']:>12.2f}{stat['p90_ms']:>12.2f}"
        if 'device_median_ms' in stat:
            line += f"{stat['device_median_ms']:>12.2f}{stat['host_median_ms']:>12.2f}"
        lines.append(line)
    gpu = report['peak_gpu_memory_mib']
    lines += [
        '',
        f"frames per second: {report['fps']:.2f}",
        f"peak GPU memory: {f'{gpu:.0f} MiB allocated' if gpu is not None else 'n/a (CPU)'}"
        + (f", {report['peak_gpu_reserved_mib']:.0f} MiB reserved" if gpu is not None else ''),
        f"peak host memory (max RSS): {report['peak_host_rss_mib']:.0f} MiB"
        + (f", private memory {report['private_memory_mib']:.0f} MiB"
           if report.get('private_memory_mib') else ''),
        f"load {report['load_s']:.2f} s, first warm-up frame {report['warmup_first_frame_s']:.2f}"
        f" s, warm-up total {report['warmup_s']:.2f} s",
    ]
    lines += format_multicamera(report.get('multicamera'))
    load = report.get('load_average') or {}
    if load.get('start'):
        lines.append('load average (1/5/15 min): '
                     + ' -> '.join('/'.join(f'{v:.2f}' for v in load[k])
                                   for k in ('start', 'end') if load.get(k)))
    lines += [f'note: {n}' for n in report['notes']]
    if report.get('calibration'):
        lines += format_calibration(report['calibration'])
    if report.get('profile'):
        lines += format_profile(report['profile'])
    return '\n'.join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the benchmark; return the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    for name in ('width', 'height', 'frames', 'stride', 'cameras', 'profile_frames',
                 'decimation'):
        if getattr(args, name) < 1:
            parser.error(f'--{name} must be at least 1')
    if args.warmup < 0 or args.threads < 0 or args.calibration_rounds < 0:
        parser.error('--warmup, --threads and --calibration-rounds must not be negative')
    if args.sizes:
        try:
            parse_sizes(args.sizes)
        except ValueError as exc:
            parser.error(f'--sizes: {exc}')
    from ..errors import DepthNodeError, ModelLoadError, ParameterValueError
    library_progress()  # no weight-loading bars between the tables
    try:
        report = run(args)
    except (ModelLoadError, ParameterValueError) as exc:
        print(f'{PROG}: error: {error_text(exc)}', file=sys.stderr)
        return EXIT_USAGE
    except DepthNodeError as exc:  # the model loaded but failed on the frames
        print(f'{PROG}: error: {error_text(exc)}', file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    print(format_table(report))
    line = json.dumps(report, sort_keys=True)
    if args.json:
        with open(args.json, 'w', encoding='utf-8') as f:
            f.write(json.dumps(report, indent=2, sort_keys=True) + '\n')
    print(line)
    sys.stdout.flush()
    return 0


if __name__ == '__main__':
    sys.exit(main())
