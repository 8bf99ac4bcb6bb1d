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
so they add up to the frame time.

Examples::

    depth_node_bench --model depth-anything/Depth-Anything-V2-Metric-Indoor-Small-hf
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

from .. import messages
from ..camera import pinhole_camera_info
from ..conversions import bytes_of
from ..geometry import Intrinsics
from ..params import DEFAULT_MODEL

#: Stages in the order of the table: (key, label).
STAGES = (
    ('decode', 'decode (Image fields -> pixels)'),
    ('upload', 'upload (host -> device, uint8)'),
    ('preprocess', 'preprocess (resize, normalise)'),
    ('network', 'network'),
    ('postprocess', 'postprocess (+ download)'),
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

#: Horizontal field of view of the synthetic camera, degrees.
SYNTHETIC_HFOV_DEG = 70.0


def build_parser() -> argparse.ArgumentParser:
    """Return the command-line parser."""
    parser = argparse.ArgumentParser(
        prog='depth_node_bench',
        description='Time depth_node per frame and per stage on synthetic frames, without '
                    'ROS. Prints a table and a final JSON line.')
    parser.add_argument('--model', default=DEFAULT_MODEL,
                        help='Hugging Face id or local checkpoint directory '
                             '(default: %(default)s)')
    parser.add_argument('--device', default='auto', help="'auto', 'cpu', 'cuda' or 'cuda:N'")
    parser.add_argument('--precision', default='auto', help="'auto', 'fp32', 'fp16' or 'bf16'")
    parser.add_argument('--width', type=int, default=1280, help='frame width in pixels')
    parser.add_argument('--height', type=int, default=720, help='frame height in pixels')
    parser.add_argument('--batch', type=int, default=1,
                        help='frames per forward pass (default 1, what the node does: it runs '
                             'the newest frame alone); stage times are then per batch')
    parser.add_argument('--frames', type=int, default=50,
                        help='timed iterations (of --batch frames each)')
    parser.add_argument('--warmup', type=int, default=5,
                        help='untimed frames first (the first one includes torch.compile)')
    parser.add_argument('--cloud', action=argparse.BooleanOptionalAction, default=True,
                        help='build the point cloud (publish_points)')
    parser.add_argument('--rgb', action=argparse.BooleanOptionalAction, default=True,
                        help='packed rgb field in the cloud (points.rgb)')
    parser.add_argument('--stride', type=int, default=1, help='points.stride')
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
                           step=width * 3, data=bytes_of(pixels))


def fill_ros_messages(out, types: messages.MessageTypes, timings: dict) -> None:
    """Build the Image, CameraInfo and PointCloud2 messages as the node does, timing each."""
    header = messages.header(types, 0, 'camera')
    t0 = time.perf_counter()
    messages.depth_image(types, header, out)
    t1 = time.perf_counter()
    messages.camera_info(types, header, out.camera_info)
    t2 = time.perf_counter()
    timings['ros_depth_msg'] = (t1 - t0) * 1000.0
    timings['ros_info_msg'] = (t2 - t1) * 1000.0
    if out.cloud is not None:
        messages.point_cloud(types, header, out.cloud)
        timings['ros_cloud_msg'] = (time.perf_counter() - t2) * 1000.0
    if out.scan is not None:
        t3 = time.perf_counter()
        messages.laser_scan(types, header, out.scan)
        timings['ros_scan_msg'] = (time.perf_counter() - t3) * 1000.0
    if out.colored is not None:
        t4 = time.perf_counter()
        messages.colored_image(types, header, out.colored)
        timings['ros_colored_msg'] = (time.perf_counter() - t4) * 1000.0


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

    notes = ['batch 1 is what the node does (it runs the newest frame alone)'
             if args.batch == 1 else
             f'batch {args.batch}: one forward pass per {args.batch} frames; every stage time '
             'is per batch (payload and message rows summed over its frames); fps counts frames',
             'stage times are synchronised with the device; postprocess includes the '
             'single device -> host copy of the depth map']
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

    from ..frame import FrameProcessor, OutputOptions
    from ..models import load_model

    t0 = time.perf_counter()
    model = load_model(args.model, args.device, args.precision, compile_net=args.compile,
                       flip_tta=args.flip_tta)
    load_s = time.perf_counter() - t0
    if args.flip_tta and not model.flip_tta:
        notes.append(f'flip TTA requested but {model.family} has none: off')
    processor = FrameProcessor(model)
    intr = synthetic_intrinsics(args.width, args.height)
    info = pinhole_camera_info(intr)
    frames = synthetic_frames(args.width, args.height)
    images = [image_message(f) for f in frames]
    opts = OutputOptions(focal_scaling=args.focal_scaling, depth_encoding=args.encoding,
                         publish_points=args.cloud, points_rgb=args.rgb,
                         points_stride=args.stride, decimation=args.decimation,
                         edge_filter=args.edge_filter, scan=args.scan, colored=args.colored)
    if args.scan or args.colored:
        notes.append('the node builds the scan only with publish_scan and depth/colored only '
                     'while it has subscribers (--no-scan, --no-colored leave them out here)')
    types = ros_message_types()
    if types is None:
        notes.append('sensor_msgs is not importable: the ROS message fill rows are skipped')
    rgb = (0, 1, 2)

    focal = (intr.fx, intr.fy) if args.focal_scaling else None

    def step(i: int) -> dict:
        """Run batch ``i`` (``args.batch`` frames) as the node would; return its timings."""
        t = time.perf_counter()
        if args.batch == 1:
            out = processor.process(images[i % len(images)], info, opts)
            timings = out.timings
            outputs = [out]
        else:
            batch = [frames[(i * args.batch + k) % len(frames)] for k in range(args.batch)]
            timings = {}
            depths = model.predict_batch(batch, rgb, focal, timings)
            outputs = []
            for pixels, depth in zip(batch, depths):
                frame_timings: Dict[str, float] = {}
                outputs.append(processor.encode(pixels, rgb, depth, intr, info, opts,
                                                frame_timings))
                for key, value in frame_timings.items():
                    timings[key] = timings.get(key, 0.0) + value
        if types is not None:
            for out in outputs:
                fill_timings: Dict[str, float] = {}
                fill_ros_messages(out, types, fill_timings)
                for key, value in fill_timings.items():
                    timings[key] = timings.get(key, 0.0) + value
        timings['total'] = (time.perf_counter() - t) * 1000.0
        return timings

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
    loop_start = time.perf_counter()
    for i in range(args.frames):
        for key, value in step(i).items():
            samples.setdefault(key, []).append(value)
    loop_s = time.perf_counter() - loop_start

    stages = {key: percentile_summary(samples[key]) for key, _ in STAGES if samples.get(key)}
    report = {
        'model': args.model,
        'family': model.family,
        'device': str(model.device),
        'machine': device_description(model.device),
        'precision': str(model.dtype).replace('torch.', ''),
        'width': args.width,
        'height': args.height,
        'batch': args.batch,
        'frames': args.frames,
        'warmup': args.warmup,
        'cloud': bool(args.cloud),
        'decimation': args.decimation,
        'edge_filter': bool(args.edge_filter),
        'scan': bool(args.scan),
        'colored': bool(args.colored),
        'compile': bool(args.compile),
        'flip_tta': bool(model.flip_tta),
        'focal_scaling': bool(args.focal_scaling),
        'stages': stages,
        'fps': round(args.frames * args.batch / loop_s, 3) if loop_s > 0 else None,
        'load_s': round(load_s, 3),
        'warmup_first_frame_s': round(warmup_first_s, 3),
        'warmup_s': round(warmup_s, 3),
        'peak_gpu_memory_mib': None,
        'peak_gpu_reserved_mib': None,
        'peak_host_rss_mib': round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        'ros_messages': types is not None,
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


def format_table(report: dict) -> str:
    """Return the human-readable table of a report."""
    lines = [
        f"depth_node_bench: {report['model']} ({report['family']})",
        f"machine: {report['machine']}",
        f"device {report['device']}, precision {report['precision']}, "
        f"{report['width']}x{report['height']}, batch {report['batch']}, "
        f"{report['frames']} {'batches' if report['batch'] > 1 else 'frames'} after "
        f"{report['warmup']} warm-up, "
        f"cloud {'on' if report['cloud'] else 'off'}, "
        f"decimation {report['decimation']}, "
        f"edge filter {'on' if report['edge_filter'] else 'off'}, "
        f"scan {'on' if report['scan'] else 'off'}, "
        f"colored {'on' if report['colored'] else 'off'}, "
        f"compile {'on' if report['compile'] else 'off'}, "
        f"flip TTA {'on' if report['flip_tta'] else 'off'}",
        '',
        f"{'stage':<34}{'median ms':>12}{'p90 ms':>12}",
        '-' * 58,
    ]
    for key, label in STAGES:
        stat = report['stages'].get(key)
        if stat is None:
            why = 'no sensor_msgs' if key.startswith('ros_') and not report['ros_messages'] \
                else 'off'
            lines.append(f'{label:<34}{"-":>12}{"-":>12}  ({why})')
            continue
        if key == 'total':
            lines.append('-' * 58)
            if report['batch'] > 1:
                label = 'total per batch'
        lines.append(f"{label:<34}{stat['median_ms']:>12.2f}{stat['p90_ms']:>12.2f}")
    gpu = report['peak_gpu_memory_mib']
    lines += [
        '',
        f"frames per second: {report['fps']:.2f}",
        f"peak GPU memory: {f'{gpu:.0f} MiB allocated' if gpu is not None else 'n/a (CPU)'}"
        + (f", {report['peak_gpu_reserved_mib']:.0f} MiB reserved" if gpu is not None else ''),
        f"peak host memory (max RSS): {report['peak_host_rss_mib']:.0f} MiB",
        f"load {report['load_s']:.2f} s, first warm-up frame {report['warmup_first_frame_s']:.2f}"
        f" s, warm-up total {report['warmup_s']:.2f} s",
    ]
    lines += [f'note: {n}' for n in report['notes']]
    return '\n'.join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the benchmark; return the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.batch > 1 and args.flip_tta:
        parser.error('--batch > 1 cannot be combined with --flip-tta (it doubles the batch)')
    for name in ('width', 'height', 'frames', 'stride', 'batch', 'decimation'):
        if getattr(args, name) < 1:
            parser.error(f'--{name} must be at least 1')
    if args.warmup < 0 or args.threads < 0:
        parser.error('--warmup and --threads must not be negative')
    from transformers.utils import logging as hf_logging

    from ..errors import DepthNodeError
    hf_logging.disable_progress_bar()  # no weight-loading bars between the tables
    try:
        report = run(args)
    except DepthNodeError as exc:
        print(f'depth_node_bench: {exc}', file=sys.stderr)
        return 1
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
