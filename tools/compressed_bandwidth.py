# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
Bytes per frame of depth_node's inputs and outputs, raw and compressed; the encoders' cost.

    .venv/bin/python tools/compressed_bandwidth.py            # README's bandwidth table
    .venv/bin/python tools/compressed_bandwidth.py --speed    # ms per frame of the encoders

Frames: the bundled sample (``depth_node/sample``, 8 rendered frames) and, where
``--data`` (default ``../shared/data`` beside the repository) has them, the
real NYU Depth v2 (3), ICL-NUIM (5) and TUM (1) RGB-D frames, all 640x480.
1280x720 frames are each frame's centre 640x360 scaled by 2 (bicubic), so
they hold no more detail than the 640x480 ones (a real 720p camera's JPEG is
larger).

Depth: what a network publishes. With ``ai-edge-litert`` and FastDepth (the
real metric network of ``../shared/models``, int8 TFLite, 224x224 output)
present, its prediction of the frame resized to the frame with bicubic
interpolation (as the node resizes its network's output); else, or with
``--depth gt``, the frames' ground truth (sensor or rendered depth, with
holes). Every output is built by the node's own frame path
(``FrameProcessor.encode``: decimation, edge filter, depth image, cloud, scan,
colourised depth) and every message serialised as ROS 2 CDR (``rosbags``):
the sizes are what DDS carries per frame, headers included. The table shows
the median over the frames; MB/s are at 10 Hz (MB = 10^6 bytes).

``--speed`` times the encoders of ``depth_node.compressed_depth`` on the CPU
thread that calls them (``time.thread_time``, median, interleaved) at
640x480, 1280x720 and 1920x1080: PNG levels 0-9, RVL, 16UC1, JPEG.
"""

import argparse
from pathlib import Path
import sys
import time
from types import SimpleNamespace

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from depth_node import messages  # noqa: E402, I100
from depth_node.camera import pinhole_camera_info  # noqa: E402
from depth_node.compressed_depth import (  # noqa: E402
    CompressedDepthEncoder, CompressedDepthOptions, DEFAULT_JPEG_QUALITY, DEFAULT_PNG_LEVEL,
    encode_jpeg, quantize_inverse_depth)
from depth_node.conversions import depth_to_image_fields  # noqa: E402
from depth_node.frame import FrameProcessor, OutputOptions  # noqa: E402
from depth_node.geometry import Intrinsics  # noqa: E402
from depth_node.offline.bag import bag_typestore  # noqa: E402

SAMPLE = REPO / 'depth_node' / 'sample'
#: Frames of ../shared/data: (colour, depth, depth units per metre, fx, fy, cx, cy).
SHARED_FRAMES = [
    *[(f'rgbd/nyu/rgb/rgb_{i:05d}.jpg', f'rgbd/nyu/depth/sync_depth_{i:05d}.png', 1000.0,
       518.8579, 519.46961, 325.58245, 253.73617) for i in (0, 50, 100)],
    *[(f'rgbd/icl_nuim/color/{i:05d}.jpg', f'rgbd/icl_nuim/depth/{i:05d}.png', 1000.0,
       525.0, 525.0, 319.5, 239.5) for i in range(5)],
    ('rgbd/tum/TUM_color.png', 'rgbd/tum/TUM_depth.png', 5000.0, 525.0, 525.0, 319.5, 239.5),
]
#: image_transport's compressed plugin default JPEG quality (the robot's image/compressed).
INPUT_JPEG_QUALITY = 95
#: depth_quantization values compared (upstream's default 100 and range 1..150).
Z0S = (20.0, 30.0, 50.0, 100.0, 150.0)


def load_frames(data: Path):
    """Return [(name, rgb, ground-truth metres, Intrinsics)] of the sample and shared frames."""
    frames = []
    for i in range(8):
        bgr = cv2.imread(str(SAMPLE / f'frame_{i:03d}.jpg'))
        gt = cv2.imread(str(SAMPLE / f'depth_{i:03d}.png'), cv2.IMREAD_UNCHANGED) / 1000.0
        intr = Intrinsics(640, 480, 525.0, 525.0, 319.5, 239.5)
        frames.append((f'sample/{i}', bgr[:, :, ::-1], gt, intr))
    for rgb_name, depth_name, scale, fx, fy, cx, cy in SHARED_FRAMES:
        if not (data / rgb_name).is_file():
            continue
        bgr = cv2.imread(str(data / rgb_name))
        gt = cv2.imread(str(data / depth_name), cv2.IMREAD_UNCHANGED) / scale
        h, w = gt.shape
        frames.append((rgb_name, bgr[:, :, ::-1], gt, Intrinsics(w, h, fx, fy, cx, cy)))
    return [(n, np.ascontiguousarray(rgb), np.where(gt > 0, gt, np.nan).astype(np.float32),
             intr) for n, rgb, gt, intr in frames]


def to_720p(rgb, depth, intr: Intrinsics):
    """Return the centre 640x360 of a 640x480 frame scaled to 1280x720, and its camera."""
    top = (rgb.shape[0] - 360) // 2
    rgb = cv2.resize(np.ascontiguousarray(rgb[top:top + 360]), (1280, 720),
                     interpolation=cv2.INTER_CUBIC)
    depth = cv2.resize(np.ascontiguousarray(depth[top:top + 360]), (1280, 720),
                       interpolation=cv2.INTER_NEAREST)
    return rgb, depth, Intrinsics(1280, 720, intr.fx * 2, intr.fy * 2, (intr.cx + 0.5) * 2 - 0.5,
                                  (intr.cy - top + 0.5) * 2 - 0.5)


class FastDepth:
    """FastDepth (int8 TFLite) on a frame, resized to the frame as the node resizes."""

    def __init__(self, path: Path):
        from ai_edge_litert.interpreter import Interpreter
        self.interpreter = Interpreter(model_path=str(path))
        self.interpreter.allocate_tensors()
        self.inp = self.interpreter.get_input_details()[0]
        self.out = self.interpreter.get_output_details()[0]
        self.scale = float(self.out['quantization'][0]) or 0.0717

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        """Return metres at the frame's size."""
        x = cv2.resize(rgb, (224, 224), interpolation=cv2.INTER_AREA)
        self.interpreter.set_tensor(self.inp['index'], x[None].astype(np.uint8))
        self.interpreter.invoke()
        depth = self.interpreter.get_tensor(self.out['index'])[0, :, :, 0]
        depth = depth.astype(np.float32) * np.float32(self.scale)
        depth = cv2.resize(depth, (rgb.shape[1], rgb.shape[0]), interpolation=cv2.INTER_CUBIC)
        return np.where(depth > 0, depth, np.nan).astype(np.float32)


def sizes(rgb, depth, intr: Intrinsics, decimation: int, store, types) -> dict:
    """Return {payload: CDR bytes} of one frame's input and outputs."""
    processor = FrameProcessor(SimpleNamespace(family='fastdepth'), device_payloads=False)
    opts = dict(decimation=decimation, scan=True, colored=True)
    header = messages.header(types, 1_700_000_000_123_456_789, 'camera_color_optical_frame')
    out = {}

    def size(name, msg, msgtype):
        out[name] = len(store.serialize_cdr(msg, msgtype))

    h, w = rgb.shape[:2]
    size('image (rgb8)', messages.image(types, header, h, w, 'rgb8', w * 3, rgb),
         'sensor_msgs/msg/Image')
    ok, jpeg = cv2.imencode('.jpg', np.ascontiguousarray(rgb[:, :, ::-1]),
                            [cv2.IMWRITE_JPEG_QUALITY, INPUT_JPEG_QUALITY])
    size(f'image/compressed (JPEG {INPUT_JPEG_QUALITY})', types.CompressedImage(
        header=header, format='rgb8; jpeg compressed bgr8', data=jpeg.ravel()),
        'sensor_msgs/msg/CompressedImage')
    size('camera_info', messages.camera_info(types, header, pinhole_camera_info(intr)),
         'sensor_msgs/msg/CameraInfo')
    results = {}
    for encoding in ('32FC1', '16UC1'):
        results[encoding] = processor.encode(
            rgb, (0, 1, 2), depth, intr, pinhole_camera_info(intr),
            OutputOptions(depth_encoding=encoding, **opts), {})
    for encoding, frame in results.items():
        size(f'depth/image ({encoding})', messages.depth_image(types, header, frame),
             'sensor_msgs/msg/Image')
        for method in ('png', 'rvl'):
            encoder = CompressedDepthEncoder(CompressedDepthOptions(format=method))
            size(f'depth/image/compressedDepth ({encoding}, {method})',
                 messages.compressed_image(types, header, encoder.encode_output(frame)),
                 'sensor_msgs/msg/CompressedImage')
    frame = results['32FC1']
    size('depth/colored (bgr8)', messages.colored_image(types, header, frame.colored),
         'sensor_msgs/msg/Image')
    size(f'depth/colored/compressed (JPEG {DEFAULT_JPEG_QUALITY})',
         messages.compressed_image(types, header, encode_jpeg(frame.colored)),
         'sensor_msgs/msg/CompressedImage')
    size('points (xyz + rgb, organized)', messages.point_cloud(types, header, frame.cloud),
         'sensor_msgs/msg/PointCloud2')
    size('scan', messages.laser_scan(types, header, frame.scan), 'sensor_msgs/msg/LaserScan')
    return out


def bandwidth(args) -> None:
    """Print the bandwidth table (Markdown) of the frames."""
    data = Path(args.data)
    frames = load_frames(data)
    if args.frames:
        frames = frames[:args.frames]
    model_path = data.parent / 'models' / 'fastdepth_nyu_int8_224.tflite'
    predict = None
    if args.depth == 'network':
        try:
            predict = FastDepth(model_path)
        except (ImportError, ValueError, OSError) as exc:
            print(f'FastDepth unavailable ({exc}); using ground truth depth', file=sys.stderr)
    store = bag_typestore()
    types = messages.rosbags_types(store)
    names = sorted({n for n, *_ in frames})
    shared = sum(not n.startswith('sample/') for n in names)
    print(f'{len(frames)} frames ({len(frames) - shared} bundled sample, {shared} from {data}); '
          f"depth: {'FastDepth prediction' if predict else 'ground truth'}; "
          f'compressedDepth PNG level {DEFAULT_PNG_LEVEL}; output_decimation '
          f'{args.decimation}; median bytes per frame, MB/s at 10 Hz\n')
    table, by_z0 = {}, {}
    for name, rgb, gt, intr in frames:
        for label, (frgb, fgt, fintr) in (('640x480', (rgb, gt, intr)),
                                          ('1280x720', to_720p(rgb, gt, intr))):
            depth = predict(frgb) if predict else fgt
            for payload, n in sizes(frgb, depth, fintr, args.decimation, store,
                                    types).items():
                table.setdefault(payload, {}).setdefault(label, []).append(n)
            _, step, data = depth_to_image_fields(depth, '32FC1')
            for z0 in Z0S:
                enc = CompressedDepthEncoder(CompressedDepthOptions(depth_quantization=z0))
                n = len(enc.encode('32FC1', depth.shape[0], depth.shape[1], data, step))
                by_z0.setdefault(z0, {}).setdefault(label, []).append(n)
    print('| payload | 640x480 bytes | MB/s | 1280x720 bytes | MB/s |')
    print('|---|---:|---:|---:|---:|')
    for payload, by_size in table.items():
        cells = []
        for label in ('640x480', '1280x720'):
            n = float(np.median(by_size[label]))
            cells += [f'{n:,.0f}', f'{n * 10 / 1e6:.2f}']
        print(f"| {payload} | {' | '.join(cells)} |")
    print('\n32FC1 compressedDepth (png) by depth_quantization z0: median bytes per frame '
          '(compressedDepth data), nearest depth carried, half a step (the largest error) at '
          '1, 5, 10, 20 m\n')
    print('| depth_quantization | 640x480 bytes | 1280x720 bytes | nearest | 1 m | 5 m '
          '| 10 m | 20 m |')
    print('|---:|---:|---:|---:|---:|---:|---:|---:|')
    for z0, by_size in by_z0.items():
        quant = CompressedDepthOptions(depth_quantization=z0).quantization
        errors = ' | '.join(_metres(quant.step_at(d) / 2) for d in (1.0, 5.0, 10.0, 20.0))
        print(f"| {z0:g} | {np.median(by_size['640x480']):,.0f} | "
              f"{np.median(by_size['1280x720']):,.0f} | {_metres(quant.near_limit)} | "
              f'{errors} |')


def _metres(value: float) -> str:
    return f'{value * 1000:.2g} mm' if value < 0.1 else f'{value:.2g} m'


def _default_strategy_png(data32, h, w, level):
    """Quantise and PNG-encode with zlib's default strategy (upstream's encoder), to compare."""
    q = quantize_inverse_depth(np.frombuffer(data32, '<f4').reshape(h, w),
                               CompressedDepthOptions().quantization)
    ok, stream = cv2.imencode('.png', q, [cv2.IMWRITE_PNG_COMPRESSION, level])
    return SimpleNamespace(data=stream)


def speed(args) -> None:
    """Print ms per frame and kB of the encoders (median CPU time of the calling thread)."""
    data = Path(args.data)
    frames = load_frames(data)
    predict = None
    if args.depth == 'network':
        try:
            predict = FastDepth(data.parent / 'models' / 'fastdepth_nyu_int8_224.tflite')
        except (ImportError, ValueError, OSError):
            predict = None
    name, rgb, gt, _ = frames[min(3, len(frames) - 1)]
    base = predict(rgb) if predict else gt
    print(f"{name}: {'FastDepth prediction' if predict else 'ground truth'} resized (bicubic) "
          f'to each size; ms per frame (median of {args.repeat}, thread CPU time) | kB\n')
    resolutions = {'640x480': (640, 480), '1280x720': (1280, 720), '1920x1080': (1920, 1080)}
    rows = {}
    for label, (w, h) in resolutions.items():
        depth = cv2.resize(base, (w, h), interpolation=cv2.INTER_CUBIC)
        color = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_CUBIC)[:, :, ::-1]
        _, step, data32 = depth_to_image_fields(depth, '32FC1')
        _, step16, data16 = depth_to_image_fields(depth, '16UC1')
        quant = CompressedDepthOptions().quantization
        jobs = {'32FC1 quantisation only': lambda: SimpleNamespace(
            data=quantize_inverse_depth(np.frombuffer(data32, '<f4').reshape(h, w), quant))}
        for level in range(10):
            enc = CompressedDepthEncoder(CompressedDepthOptions(png_level=level))
            jobs[f'32FC1 png level {level}'] = (
                lambda e=enc: e.encode('32FC1', h, w, data32, step))
        for level in (1, 3):
            jobs[f'32FC1 png level {level}, zlib default strategy'] = (
                lambda lv=level: _default_strategy_png(data32, h, w, lv))
        rvl = CompressedDepthEncoder(CompressedDepthOptions(format='rvl'))
        png = CompressedDepthEncoder()
        jobs['32FC1 rvl'] = lambda: rvl.encode('32FC1', h, w, data32, step)
        jobs['16UC1 png level 1'] = lambda: png.encode('16UC1', h, w, data16, step16)
        jobs['16UC1 rvl'] = lambda: rvl.encode('16UC1', h, w, data16, step16)
        jobs[f'JPEG {DEFAULT_JPEG_QUALITY} (depth/colored)'] = lambda: encode_jpeg(color)
        times = {k: [] for k in jobs}
        result = {}
        for _ in range(args.repeat):  # interleaved: each round runs every encoder once
            for k, job in jobs.items():
                if len(times[k]) >= 3 and ('level 9' in k or 'level 8' in k):
                    continue  # seconds per frame at 1080p
                t0 = time.thread_time()
                result[k] = job()
                times[k].append(time.thread_time() - t0)
        for k in jobs:
            size = len(memoryview(result[k].data).cast('B'))
            rows.setdefault(k, []).append(f'{np.median(times[k]) * 1e3:.1f} | {size / 1e3:.0f}')
    header = ['encoder'] + [f'{s} ms | kB' for s in resolutions]
    print('| ' + ' | '.join(header) + ' |')
    print('|---' + '|---:|---:' * len(resolutions) + '|')
    for k, cells in rows.items():
        print(f"| {k} | {' | '.join(cells)} |")


def main(argv=None) -> int:
    """Entry point."""
    p = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    p.add_argument('--data', default=str(REPO.parent / 'shared' / 'data'),
                   help='the shared RGB-D data folder (default: %(default)s)')
    p.add_argument('--depth', choices=('network', 'gt'), default='network',
                   help='depth to encode: FastDepth prediction or ground truth')
    p.add_argument('--decimation', type=int, default=1, help='output_decimation')
    p.add_argument('--frames', type=int, default=0, help='use the first N frames only')
    p.add_argument('--speed', action='store_true', help='time the encoders instead')
    p.add_argument('--repeat', type=int, default=15, help='rounds of --speed')
    args = p.parse_args(argv)
    (speed if args.speed else bandwidth)(args)
    return 0


if __name__ == '__main__':
    sys.exit(main())
