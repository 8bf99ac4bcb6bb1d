# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
One-command GPU check: frames/s, p50/p95 latency and GPU memory per lifecycle state.

Run as ``tools/gpu_check.sh`` (or ``python -m depth_node.offline.gpu_check``). For
Depth Anything V2 Small (metric indoor head) at 640x480 and 1280x720 and Depth
Pro at its 1536x1536 network input, in fp32, fp16 and fp16 + ``torch.compile``,
with the point cloud on and off, it times the node's frame path (upload,
preprocess, network, postprocess, depth and cloud payloads built on the GPU and
downloaded once each, message fills where sensor_msgs is importable) on
synthetic frames, and checks once per model that the payloads built on the
device equal the numpy ones byte for byte.

No weights are downloaded (the GPU machines have no internet either): each
architecture is built at its REAL size from the hub checkpoint's configuration
(depth-anything/Depth-Anything-V2-Metric-Indoor-Small-hf, apple/DepthPro-hf)
with RANDOM weights, saved to a temporary directory and loaded through the
node's own loader. Speed and memory match the real checkpoints; the depth
values are noise. ``--quick`` swaps in tiny architectures and frames so the
whole script runs in seconds on a CPU (the test suite does that).

Memory per lifecycle state replays what the node does in each transition:
configure = ``load_model(..., warmup=(640, 480))``; active = frames streaming
(peak while processing); cleanup = references dropped, ``gc.collect()`` and
``torch.cuda.empty_cache()``.
"""

import argparse
import gc
import json
import os
import platform
import sys
import tempfile
import time
from typing import Callable, Dict, Optional, Sequence

import numpy as np

#: The precision modes timed, in order: (label, precision, compile).
MODES = {'fp32': ('fp32', False), 'fp16': ('fp16', False), 'fp16+compile': ('fp16', True)}

#: What the output says about the weights, on every run.
WEIGHTS_NOTE = ('RANDOM weights in REAL-size architectures built from the hub configs '
                '(no downloads): speed and memory are those of the real checkpoints, the depth '
                'values are noise')

#: ... and in --quick mode.
QUICK_NOTE = ('--quick: TINY architectures with random weights and tiny frames, a smoke run '
              'of the script; the figures say nothing about real speed')

IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]


def _save_processor(path: str, processor: dict) -> None:
    with open(os.path.join(path, 'preprocessor_config.json'), 'w', encoding='utf-8') as f:
        json.dump(processor, f, indent=2)


def depth_anything_v2_small_config(quick: bool = False):
    """
    Return the DepthAnythingConfig of Depth-Anything-V2-Metric-Indoor-Small-hf (or a tiny one).

    DINOv2 ViT-S/14 backbone (384 wide, 12 layers, 6 heads, features of layers 3,
    6, 9, 12), DPT neck 48/96/192/384, fusion 64, head 32, metric head of 20 m.
    """
    from transformers import DepthAnythingConfig, Dinov2Config
    if quick:
        backbone = Dinov2Config(image_size=518, patch_size=14, hidden_size=32, num_hidden_layers=4,
                                num_attention_heads=2, intermediate_size=64,
                                out_indices=[1, 2, 3, 4], reshape_hidden_states=False)
        sizes = dict(reassemble_hidden_size=32, neck_hidden_sizes=[8, 16, 32, 32],
                     fusion_hidden_size=16, head_hidden_size=8)
    else:
        backbone = Dinov2Config(image_size=518, patch_size=14, hidden_size=384,
                                num_hidden_layers=12, num_attention_heads=6, mlp_ratio=4,
                                out_indices=[3, 6, 9, 12], reshape_hidden_states=False)
        sizes = dict(reassemble_hidden_size=384, neck_hidden_sizes=[48, 96, 192, 384],
                     fusion_hidden_size=64, head_hidden_size=32)
    return DepthAnythingConfig(backbone_config=backbone, depth_estimation_type='metric',
                               max_depth=20, **sizes)


def depth_pro_config(quick: bool = False):
    """
    Return the DepthProConfig of apple/DepthPro-hf (or a tiny one).

    Three DINOv2 ViT-L/16 encoders at 384 (1024 wide, 24 layers, 16 heads: image,
    patches, field of view), fusion 256, hooks 11 and 5, patches of 384 from a
    1536 x 1536 input at scales 0.25 / 0.5 / 1.
    """
    from transformers import DepthProConfig
    if quick:
        encoder = {'model_type': 'dinov2', 'num_hidden_layers': 2, 'hidden_size': 16,
                   'num_attention_heads': 1, 'patch_size': 16, 'intermediate_size': 32}
        return DepthProConfig(
            patch_size=32, fusion_hidden_size=16, intermediate_hook_ids=[1, 0],
            intermediate_feature_dims=[8, 8], scaled_images_ratios=[0.25, 0.5, 1.0],
            scaled_images_overlap_ratios=[0.0, 0.5, 0.25], scaled_images_feature_dims=[16, 16, 8],
            use_fov_model=True, image_model_config=dict(encoder),
            patch_model_config=dict(encoder), fov_model_config=dict(encoder))
    encoder = {'model_type': 'dinov2', 'hidden_size': 1024, 'num_hidden_layers': 24,
               'num_attention_heads': 16, 'patch_size': 16, 'image_size': 384,
               'mlp_ratio': 4, 'layerscale_value': 1.0, 'qkv_bias': True}
    return DepthProConfig(
        patch_size=384, fusion_hidden_size=256, intermediate_hook_ids=[11, 5],
        intermediate_feature_dims=[256, 256], scaled_images_ratios=[0.25, 0.5, 1.0],
        scaled_images_overlap_ratios=[0.0, 0.5, 0.25],
        scaled_images_feature_dims=[1024, 1024, 512], use_fov_model=True,
        image_model_config=dict(encoder), patch_model_config=dict(encoder),
        fov_model_config=dict(encoder))


def make_depth_anything_v2_small(path: str, quick: bool = False, device: str = 'cpu') -> str:
    """
    Save a Depth Anything V2 Small metric (indoor, 20 m) checkpoint with random weights.

    Real size: DINOv2 ViT-S/14 backbone (384 wide, 12 layers, 6 heads, features of
    layers 3, 6, 9, 12), DPT neck 48/96/192/384, fusion 64, head 32; about 24.8 M
    parameters, as depth-anything/Depth-Anything-V2-Metric-Indoor-Small-hf. The
    processor is that checkpoint's (518, keep aspect, multiple of 14, bicubic).
    """
    import torch
    from transformers import DepthAnythingForDepthEstimation
    config = depth_anything_v2_small_config(quick)
    torch.manual_seed(0)
    with torch.device(device):
        model = DepthAnythingForDepthEstimation(config).eval()
    model.save_pretrained(path)
    _save_processor(path, {
        'image_processor_type': 'DPTImageProcessor', 'do_resize': True,
        'size': {'height': 56, 'width': 56} if quick else {'height': 518, 'width': 518},
        'keep_aspect_ratio': True,
        'ensure_multiple_of': 14, 'resample': 3, 'do_pad': False, 'do_rescale': True,
        'rescale_factor': 1 / 255, 'do_normalize': True, 'image_mean': IMAGENET_MEAN,
        'image_std': IMAGENET_STD})
    return path


def make_depth_pro(path: str, quick: bool = False, device: str = 'cpu') -> str:
    """
    Save a Depth Pro checkpoint (with its field-of-view head) with random weights.

    Real size: three DINOv2 ViT-L/16 encoders at 384 (1024 wide, 24 layers, 16
    heads; image, patch and field of view), fusion 256, hooks 11 and 5, about
    952 M parameters, as apple/DepthPro-hf; network input 1536 x 1536. Stored in
    fp16 (as the hub checkpoint) to halve the temporary file.
    """
    import torch
    from transformers import DepthProForDepthEstimation
    config = depth_pro_config(quick)
    side = 128 if quick else 1536
    torch.manual_seed(0)
    with torch.device(device):
        model = DepthProForDepthEstimation(config).eval()
    if not quick:
        model = model.half()
    model.save_pretrained(path)
    _save_processor(path, {
        'image_processor_type': 'DepthProImageProcessor', 'do_resize': True,
        'size': {'height': side, 'width': side}, 'resample': 2, 'do_rescale': True,
        'rescale_factor': 1 / 255, 'do_normalize': True, 'image_mean': [0.5, 0.5, 0.5],
        'image_std': [0.5, 0.5, 0.5]})
    del model
    return path


def cases(quick: bool, depth_pro_frame=(1920, 1080)):
    """Return ``[(label, maker, width, height)]``: what is timed, in order of importance."""
    if quick:
        return [('Depth Anything V2 Small (tiny)', make_depth_anything_v2_small, 64, 48),
                ('Depth Anything V2 Small (tiny)', make_depth_anything_v2_small, 128, 72),
                ('Depth Pro (tiny, net 128)', make_depth_pro, 160, 120)]
    return [('Depth Anything V2 Small', make_depth_anything_v2_small, 640, 480),
            ('Depth Anything V2 Small', make_depth_anything_v2_small, 1280, 720),
            ('Depth Pro (net 1536x1536)', make_depth_pro) + tuple(depth_pro_frame)]


class GpuMemory:
    """Reads allocated / reserved / device-wide used memory in MiB (None on the CPU)."""

    def __init__(self, device):
        import torch
        self.torch = torch
        self.device = torch.device(device)
        self.cuda = self.device.type == 'cuda'

    def sync(self) -> None:
        """Wait for the device."""
        if self.cuda:
            self.torch.cuda.synchronize(self.device)

    def reset_peak(self) -> None:
        """Start a new peak measurement."""
        if self.cuda:
            self.sync()
            self.torch.cuda.reset_peak_memory_stats(self.device)

    def read(self, peak: bool = False) -> Dict[str, Optional[float]]:
        """Return allocated, reserved and device-used MiB (``peak``: peak allocated/reserved)."""
        if not self.cuda:
            return {'allocated_mib': None, 'reserved_mib': None, 'device_used_mib': None}
        cuda = self.torch.cuda
        self.sync()
        free, total = cuda.mem_get_info(self.device)
        mib = 2.0 ** 20
        alloc = cuda.max_memory_allocated if peak else cuda.memory_allocated
        reserved = cuda.max_memory_reserved if peak else cuda.memory_reserved
        return {'allocated_mib': round(alloc(self.device) / mib, 1),
                'reserved_mib': round(reserved(self.device) / mib, 1),
                'device_used_mib': round((total - free) / mib, 1)}


def frame_function(model, width: int, height: int, cloud: bool) -> Callable[[int], None]:
    """
    Return ``step(i)``: frame ``i`` through the node's frame path and message fills.

    Synthetic textured frames and a 70 degree pinhole camera, as depth_node_bench.
    """
    from ..camera import pinhole_camera_info
    from ..frame import FrameProcessor, OutputOptions
    from .bench import synthetic_frames, synthetic_intrinsics
    frames = synthetic_frames(width, height)
    info = pinhole_camera_info(synthetic_intrinsics(width, height))
    processor = FrameProcessor(model)
    opts = OutputOptions(publish_points=cloud)
    fill = _message_fill()

    def step(i: int) -> None:
        out = processor.process_pixels(frames[i % len(frames)], (0, 1, 2), info, opts)
        if fill is not None:
            fill(out)
    return step


def payload_identity(model, width: int, height: int) -> dict:
    """
    Return whether payloads built on the model's device equal the numpy ones, for one frame.

    One prediction, encoded both ways (``FrameProcessor.encode`` with the device
    tensor and with its download): depth image (32FC1, 16UC1) and cloud
    (organized and dense, xyz + rgb) compared byte for byte, so model
    nondeterminism cannot hide or fake a difference.
    """
    import torch

    from ..camera import pinhole_camera_info
    from ..device_payloads import DeviceDepth
    from ..frame import FrameProcessor, OutputOptions
    from .bench import synthetic_frames, synthetic_intrinsics
    pixels = synthetic_frames(width, height, count=1)[0]
    intr = synthetic_intrinsics(width, height)
    info = pinhole_camera_info(intr)
    depth, image = model.predict(pixels, (0, 1, 2), focal=(intr.fx, intr.fy), on_device=True)
    host_depth = depth.detach().to('cpu', torch.float32).numpy()
    checks = {}
    for organized, encoding in ((True, '32FC1'), (False, '16UC1')):
        opts = OutputOptions(points_organized=organized, depth_encoding=encoding)
        host = FrameProcessor(model, device_payloads=False).encode(
            pixels, (0, 1, 2), host_depth, intr, info, opts, {})
        dev = FrameProcessor(model, device_payloads=True).encode(
            pixels, (0, 1, 2), DeviceDepth(depth, image), intr, info, opts, {})
        name = 'organized' if organized else 'dense'
        checks[f'depth {encoding}'] = _same_bytes(host.depth_data, dev.depth_data)
        checks[f'cloud {name}'] = _same_bytes(host.cloud.data, dev.cloud.data)
    return {'model': getattr(model, 'model_id', ''), 'width': width, 'height': height,
            'checks': checks, 'identical': all(checks.values())}


def _same_bytes(a, b) -> bool:
    return len(a) == len(b) and np.array_equal(np.frombuffer(a, np.uint8),
                                               np.frombuffer(b, np.uint8))


def _message_fill():
    """Return a function building the node's Image and PointCloud2, or None (no ROS)."""
    from .. import messages
    try:
        types = messages.rclpy_types()
    except ImportError:
        return None

    def fill(out) -> None:
        header = messages.header(types, 0, 'camera')
        messages.depth_image(types, header, out)
        if out.cloud is not None:
            messages.point_cloud(types, header, out.cloud)
    return fill


def time_frames(step: Callable[[int], None], memory: GpuMemory, frames: int,
                warmup: int) -> dict:
    """Warm up, then time ``frames`` calls of ``step``; return fps, p50/p95 and peak memory."""
    t0 = time.perf_counter()
    for i in range(warmup):
        step(i)
        if i == 0:
            memory.sync()
            first_s = time.perf_counter() - t0
    memory.reset_peak()
    latencies = []
    start = time.perf_counter()
    for i in range(frames):
        t = time.perf_counter()
        step(i)
        latencies.append((time.perf_counter() - t) * 1000.0)
    memory.sync()
    loop_s = time.perf_counter() - start
    lat = np.asarray(latencies)
    return {'fps': round(frames / loop_s, 2) if loop_s > 0 else None,
            'p50_ms': round(float(np.percentile(lat, 50)), 2),
            'p95_ms': round(float(np.percentile(lat, 95)), 2),
            'first_frame_s': round(first_s, 2) if warmup else None,
            'peak': memory.read(peak=True)}


def run_checks(args, out=sys.stdout) -> dict:
    """Build the checkpoints, time every case and mode, measure memory; return the report."""
    import torch
    import transformers

    from ..models import load_model, resolve_device
    device = resolve_device(args.device)
    memory = GpuMemory(device)
    if args.warmup is None:
        args.warmup = 1 if args.quick else 5
    started = time.monotonic()
    weights = QUICK_NOTE if args.quick else WEIGHTS_NOTE
    report = {'device': str(device), 'machine': _machine(device), 'weights': weights,
              'torch': torch.__version__, 'transformers': transformers.__version__,
              'python': platform.python_version(), 'quick': bool(args.quick),
              'frames': args.frames, 'warmup': args.warmup, 'results': [], 'lifecycle': [],
              'payload_identity': [], 'skipped': []}
    _say(out, f'depth_node GPU check on {report["machine"]}')
    _say(out, f'note: {weights}')
    if device.type != 'cuda':
        _say(out, 'note: no CUDA device: CPU figures, not GPU ones')
    report['message_fills'] = _message_fill() is not None
    if not report['message_fills']:
        _say(out, 'note: sensor_msgs is not importable: frames end with the payloads, '
                  'without the (zero-copy, ~0.02 ms) message fills')
    modes = [m for m in (args.modes or ('fp32' if device.type == 'cpu' else ','.join(MODES)))
             .split(',') if m]
    report['modes'] = modes
    built: Dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix='depth_node_gpu_check_') as tmp:
        for label, maker, width, height in cases(args.quick, args.depth_pro_frame):
            if args.only and not any(key in label.lower() for key in args.only):
                continue
            if label not in built:
                t = time.perf_counter()
                built[label] = maker(os.path.join(tmp, maker.__name__), quick=args.quick,
                                     device=str(device) if device.type == 'cuda' else 'cpu')
                gc.collect()
                _say(out, f'built {label} in {time.perf_counter() - t:.1f} s')
            path = built[label]
            for mode in modes:
                precision, compile_net = MODES[mode]
                if time.monotonic() - started > args.budget_s:
                    report['skipped'].append(f'{label} {width}x{height} {mode}: time budget')
                    continue
                model = load_model(path, str(device), precision, compile_net=compile_net)
                if mode == modes[0]:
                    check = payload_identity(model, width, height)
                    check.update(model=label, mode=mode)
                    report['payload_identity'].append(check)
                    _say(out, f"payloads on the device == numpy ({label} {width}x{height} "
                              f"{mode}): {'yes' if check['identical'] else 'NO'} "
                              f"{check['checks']}")
                frames = args.frames or (3 if args.quick else 20 if 'Pro' in label else 50)
                for cloud in (True, False):
                    res = time_frames(frame_function(model, width, height, cloud), memory,
                                      frames, args.warmup)
                    row = {'model': label, 'width': width, 'height': height, 'mode': mode,
                           'cloud': cloud, 'frames': frames, **res}
                    report['results'].append(row)
                    _say(out, _row_text(row))
                del model
                _free(memory)
        if not args.no_lifecycle:
            for label, path in built.items():
                report['lifecycle'].append(lifecycle_memory(label, path, device, memory, args))
                for state in report['lifecycle'][-1]['states']:
                    _say(out, f"memory {label} [{state['state']}]: {_mem_text(state)}")
    report['elapsed_s'] = round(time.monotonic() - started, 1)
    for note in report['skipped']:
        _say(out, f'skipped: {note}')
    return report


def lifecycle_memory(label: str, path: str, device, memory: GpuMemory, args) -> dict:
    """Replay the node's transitions with the default precision; read memory in each state."""
    from ..models import load_model
    _free(memory)
    states = [{'state': 'unconfigured (process, CUDA context)', **memory.read()}]
    model = load_model(path, str(device), 'auto', warmup=(640, 480))  # on_configure
    states.append({'state': 'inactive (configured: weights loaded, warmed up)', **memory.read()})
    width, height = (640, 480) if 'Anything' in label else args.depth_pro_frame
    if args.quick:
        width, height = 64, 48
    step = frame_function(model, width, height, cloud=True)
    memory.reset_peak()
    for i in range(max(args.warmup, 1) + 2):
        step(i)
    states.append({'state': f'active (streaming {width}x{height}, cloud on): peak',
                   **memory.read(peak=True)})
    states.append({'state': 'active (between frames)', **memory.read()})
    del model, step
    _free(memory)  # on_cleanup: references dropped, gc.collect(), empty_cache()
    states.append({'state': 'unconfigured again (after cleanup)', **memory.read()})
    return {'model': label, 'precision': 'auto', 'states': states}


def _free(memory: GpuMemory) -> None:
    gc.collect()
    if memory.cuda:
        memory.torch.cuda.empty_cache()


def _machine(device) -> str:
    import torch
    if device.type == 'cuda':
        props = torch.cuda.get_device_properties(device)
        return f'{props.name} ({props.total_memory / 2 ** 30:.0f} GiB), {os.cpu_count()} CPUs'
    return f'CPU {platform.processor() or platform.machine()}, {os.cpu_count()} cores'


def _row_text(row: dict) -> str:
    peak = row['peak']['allocated_mib']
    return (f"{row['model']:<30} {row['width']}x{row['height']:<5} {row['mode']:<13} "
            f"cloud {'on ' if row['cloud'] else 'off'}  {row['fps']:>8.2f} fps  "
            f"p50 {row['p50_ms']:>8.2f} ms  p95 {row['p95_ms']:>8.2f} ms  "
            f"first {row['first_frame_s']} s  peak "
            f"{f'{peak:.0f} MiB' if peak is not None else 'n/a'}")


def _mem_text(state: dict) -> str:
    if state['allocated_mib'] is None:
        return 'n/a (CPU)'
    return (f"allocated {state['allocated_mib']:.0f} MiB, reserved {state['reserved_mib']:.0f} "
            f"MiB, device used {state['device_used_mib']:.0f} MiB")


def _say(out, text: str) -> None:
    print(text, file=out)
    out.flush()


def _size(text: str):
    width, _, height = text.lower().partition('x')
    return int(width), int(height)


def build_parser() -> argparse.ArgumentParser:
    """Return the command-line parser."""
    parser = argparse.ArgumentParser(
        prog='gpu_check', description='Time depth_node on a GPU for the standard cases '
        '(random weights, real-size architectures; nothing is downloaded).')
    parser.add_argument('--device', default='auto', help="'auto', 'cuda', 'cuda:N' or 'cpu'")
    parser.add_argument('--quick', action='store_true',
                        help='tiny architectures and frames: a seconds-long smoke run (CPU)')
    parser.add_argument('--modes', default=None,
                        help=f"comma-separated subset of {','.join(MODES)} (default: all on "
                             'CUDA, fp32 on the CPU)')
    parser.add_argument('--only', action='append', default=[],
                        help="only cases whose model name contains this ('anything', 'pro')")
    parser.add_argument('--frames', type=int, default=None,
                        help='timed frames per case (default 50, Depth Pro 20; quick 3)')
    parser.add_argument('--warmup', type=int, default=None,
                        help='untimed frames first (default 5; quick 1)')
    parser.add_argument('--depth-pro-frame', type=_size, default=(1920, 1080),
                        help='camera frame size for Depth Pro (default 1920x1080)')
    parser.add_argument('--budget-s', type=float, default=480.0,
                        help='skip the remaining cases after this many seconds (default 480)')
    parser.add_argument('--no-lifecycle', action='store_true',
                        help='skip the memory-per-lifecycle-state replay')
    parser.add_argument('--json', metavar='PATH', help='also write the JSON report here')
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the check; print one line per case, then the JSON report; return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    unknown = [m for m in (args.modes or '').split(',') if m and m not in MODES]
    if unknown:
        parser.error(f'unknown mode(s) {unknown}; choose from {list(MODES)}')
    args.only = [o.lower() for o in args.only]
    if (args.frames is not None and args.frames < 1) or (args.warmup or 0) < 0:
        parser.error('--frames must be at least 1 and --warmup not negative')
    from transformers.utils import logging as hf_logging
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    report = run_checks(args)
    line = json.dumps(report, sort_keys=True)
    if args.json:
        with open(args.json, 'w', encoding='utf-8') as f:
            f.write(json.dumps(report, indent=2, sort_keys=True) + '\n')
    print(line)
    return 0


if __name__ == '__main__':
    sys.exit(main())
