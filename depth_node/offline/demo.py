# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
Run depth_node on the bundled sample stream and save what it publishes.

``depth_node_demo`` (or ``python3 -m depth_node.offline.demo``) starts the real
:class:`~depth_node.node.DepthNode` in-process, next to a small node that plays
the sample frames (``depth_node/sample``) as ``sensor_msgs/Image`` (rgb8) and
``CameraInfo`` on ``image`` and ``camera_info``, one frame at a time. For each
frame it waits for ``depth/image``, ``depth/camera_info`` and ``points`` with
the frame's stamp (the player is :class:`~depth_node.testing.feeder.Feeder`, the
tests' camera stand-in), then writes into ``--out``:

* ``frame_NNN_side_by_side.png``: the input next to its colourised depth (named
  apart from ``depth_node_run``'s 16-bit depth PNGs, ``<name>_depth.png``),
* ``frame_NNN.ply``: the point cloud of the last frame,
* ``latencies.json``: per frame, publish-to-depth latency and the model's
  own per-stage timings,

and prints one summary line. Both nodes run in a private rclpy context on a
single-threaded executor; ``ROS_DOMAIN_ID`` is left as it is. ROS arguments
(``--ros-args ...``) are passed on to rclpy.

Exit status: 0 when every frame came back, 1 when some did not, 2 when the
model cannot be loaded (or the arguments are wrong).
"""

import argparse
import json
import os
from pathlib import Path
import statistics
import sys
import threading
import time
from typing import List, Optional, Tuple

import numpy as np
from PIL import Image as PILImage
import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.logging import get_logger_level, LoggingSeverity, set_logger_level
from rclpy.parameter import Parameter
from rclpy.utilities import remove_ros_args

from .cameras import read_camera_info_yaml
from .cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from .ply import write_ply
from .. import messages
from ..conversions import cloud_to_structured, image_fields_to_depth, unpack_rgb
from ..errors import DepthNodeError
from ..hub import hub_unreachable, unreachable_text
from ..params import DEFAULT_MODEL
from ..startup import explain_ros_args, in_terms, ros_args_problem
from ..testing.feeder import Feeder, make_image, stamp_key
from ..visualize import colorize_depth, depth_range, save_png, side_by_side

#: The bundled sample stream (frames, ground-truth depth, camera_info.yaml).
SAMPLE_DIR = Path(__file__).resolve().parent.parent / 'sample'
#: frame_id of the published images (REP 103 optical frame of a colour camera).
FRAME_ID = 'camera_color_optical_frame'
#: Name of the depth node started by the demo (also its logger's name).
NODE_NAME = 'depth_node'
#: How many times a frame the node dropped (e.g. camera_info not there yet) is sent again.
MAX_RESENDS = 2
#: Set by `make demo`: say what to do in make's terms (MODEL=..., the tiny checkpoint recipe).
VIA_MAKE_ENV = 'DEPTH_NODE_DEMO_VIA_MAKE'


def parse_args(argv: List[str]) -> argparse.Namespace:
    """Parse the demo's own (non-ROS) command-line arguments."""
    parser = argparse.ArgumentParser(
        prog='depth_node_demo',
        description='Run depth_node on the bundled sample frames and save colourised depth, '
                    'a point cloud and latencies.')
    parser.add_argument('--model', default=DEFAULT_MODEL,
                        help='Hugging Face model id or local checkpoint directory '
                             '(default: %(default)s)')
    parser.add_argument('--out', type=Path, default=Path('demo_out'),
                        help='output folder (default: %(default)s)')
    parser.add_argument('--device', default='auto',
                        help='inference device: auto, cpu, cuda or cuda:N (default: auto)')
    parser.add_argument('--frames', type=_positive_int, default=None,
                        help='number of sample frames to send (default: all)')
    parser.add_argument('--rate', type=_non_negative_float, default=0.0,
                        help='publishing rate in Hz; 0 sends each frame as soon as the '
                             'previous one came back (default: 0)')
    parser.add_argument('--timeout', type=_positive_float, default=60.0,
                        help='seconds to wait for the node to connect and for each frame '
                             '(default: %(default)s)')
    parser.add_argument('--sample', type=Path, default=SAMPLE_DIR,
                        help='folder with frame_NNN.jpg and camera_info.yaml '
                             '(default: the bundled sample)')
    parser.add_argument('--verbose', action='store_true',
                        help="show the depth node's info log lines")
    return parser.parse_args(argv)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f'must be at least 1, got {text}')
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f'must be greater than 0, got {text}')
    return value


def _non_negative_float(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f'must be 0 or more, got {text}')
    return value


# --------------------------------------------------------------------------- model check

def _via_make() -> bool:
    return os.environ.get(VIA_MAKE_ENV, '') not in ('', '0')


def model_hint() -> str:
    """Return what to pass instead of an unusable model, in the terms of how the demo runs."""
    local = ('a local checkpoint directory (config.json, model.safetensors, '
             'preprocessor_config.json)')
    if _via_make():
        return (f'run `make demo MODEL=<{local}>`, or try the whole path with a tiny random '
                'checkpoint: `.venv/bin/python -m depth_node.testing.tiny_models /tmp/tiny_da '
                '&& make demo MODEL=/tmp/tiny_da`')
    return f'pass --model <{local}>'


def _in_demo_terms(text: str) -> str:
    """Turn the core's ``model:=...`` advice into the demo's own terms."""
    if 'unreachable' in text and '; pass ' in text:
        return text.split('; pass ')[0] + '; ' + model_hint()
    return in_terms(text, {'model': 'MODEL=' if _via_make() else '--model ',
                           'device': '--device '})


# --------------------------------------------------------------------------- messages

def image_msg(rgb: np.ndarray, stamp, frame_id: str = FRAME_ID):
    """Return an rgb8 Image message of an ``H x W x 3`` uint8 array."""
    msg = make_image(rgb, frame_id=frame_id)
    msg.header.stamp = stamp
    return msg


def cloud_arrays(msg) -> Tuple[np.ndarray, Optional[np.ndarray]]:
    """
    Return ``(xyz float32 N x 3, rgb uint8 N x 3 or None)`` of a PointCloud2.

    The data is viewed with ``np.frombuffer`` through a structured dtype built
    from ``msg.fields``; an ``rgb`` float32 field is unpacked as PCL packs it
    (the float's bytes are the uint32 ``0x00RRGGBB``). Invalid (NaN) points
    are kept; :func:`depth_node.offline.ply.write_ply` drops them.
    """
    points = cloud_to_structured(msg).reshape(-1)
    names = points.dtype.names or ()
    if not all(n in names for n in 'xyz'):
        raise ValueError(f'point cloud has no x/y/z fields (fields: {", ".join(names)})')
    xyz = np.stack([points[n].astype(np.float32) for n in 'xyz'], axis=1)
    rgb = unpack_rgb(points['rgb']) if 'rgb' in names else None
    return xyz, rgb


# --------------------------------------------------------------------------- main

def load_sample(folder: Path):
    """Return the sorted ``frame_*.jpg`` paths and the camera_info fields of a sample folder."""
    frames = sorted(Path(folder).glob('frame_*.jpg'))
    info_path = Path(folder) / 'camera_info.yaml'
    if not frames or not info_path.is_file():
        raise FileNotFoundError(
            f'{folder} has no frame_*.jpg or no camera_info.yaml (see tools/make_sample.py)')
    return frames, read_camera_info_yaml(info_path)


def _ground_truth(folder: Path, index: int) -> Optional[np.ndarray]:
    path = Path(folder) / f'depth_{index:03d}.png'
    if not path.is_file():
        return None
    mm = np.asarray(PILImage.open(path)).astype(np.float32)
    return np.where(mm > 0, mm / 1000.0, np.nan).astype(np.float32)


def _abs_rel(depth: np.ndarray, truth: Optional[np.ndarray]) -> Optional[float]:
    if truth is None or truth.shape != depth.shape:
        return None
    valid = np.isfinite(depth) & np.isfinite(truth) & (truth > 0)
    if not np.any(valid):
        return None
    return float(np.mean(np.abs(depth[valid] - truth[valid]) / truth[valid]))


def _drop_total(node) -> int:
    """Frames the node has dropped so far (its ``drops`` counter), 0 if it has none."""
    drops = getattr(node, 'drops', None)
    if drops is None:
        return 0
    for _ in range(3):
        try:
            return int(sum(list(drops.values())))
        except RuntimeError:  # the worker added a key while we iterated; read again
            continue
    return 0


def _spin(executor) -> None:
    try:
        executor.spin()
    except ExternalShutdownException:
        pass


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point of ``depth_node_demo``; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(remove_ros_args(['depth_node_demo'] + argv)[1:])
    try:
        frames, camera_info = load_sample(args.sample)
    except (FileNotFoundError, DepthNodeError) as exc:
        print(f'depth_node demo: error: bad sample folder: {exc}', file=sys.stderr)
        return EXIT_USAGE
    frames = frames[:args.frames] if args.frames else frames
    # Before torch is imported: an offline machine hears it at once (the loader checks again).
    offline = hub_unreachable(str(args.model))
    if offline is not None:
        print('depth_node demo: error: '
              + _in_demo_terms(unreachable_text(str(args.model), offline)), file=sys.stderr)
        return EXIT_USAGE

    # Imported here: torch and transformers take seconds to import, --help should not.
    from ..models import check_model
    from ..node import DepthNode
    try:
        loading = check_model(str(args.model), str(args.device))
    except DepthNodeError as exc:
        print(f'depth_node demo: error: {_in_demo_terms(str(exc))}', file=sys.stderr)
        return EXIT_USAGE
    print(f'depth_node demo: {loading}', file=sys.stderr, flush=True)

    context = rclpy.Context()
    ros_argv = ['depth_node_demo'] + argv
    problem = ros_args_problem(ros_argv)
    try:
        if problem is None:
            rclpy.init(args=ros_argv, context=context)
    except Exception as exc:  # noqa: B902 - rcl's RCLError, UnknownROSArgsError (per distro)
        problem = explain_ros_args(ros_argv, str(exc))
    if problem is not None:
        print(f'depth_node demo: error: {problem}', file=sys.stderr)
        return EXIT_USAGE
    previous_level = get_logger_level(NODE_NAME)
    if not args.verbose:
        set_logger_level(NODE_NAME, LoggingSeverity.WARN)
    nodes = []
    executor = None
    spinner = None
    try:
        try:
            depth_node = DepthNode(
                NODE_NAME, context=context, parameter_overrides=[
                    Parameter('model', value=str(args.model)),
                    Parameter('device', value=str(args.device)),
                    # Process every frame; the demo itself paces the frames (--rate).
                    Parameter('rate', value=0.0),
                ])
        except DepthNodeError as exc:
            print(f'depth_node demo: error: {_in_demo_terms(str(exc))}', file=sys.stderr)
            return EXIT_USAGE
        nodes.append(depth_node)
        player = Feeder('depth_node_demo_player', context=context)
        nodes.append(player)
        executor = SingleThreadedExecutor(context=context)
        for node in nodes:
            executor.add_node(node)
        spinner = threading.Thread(target=_spin, args=(executor,), name='demo_executor',
                                   daemon=True)
        spinner.start()
        records = _run_frames(args, frames, camera_info, depth_node, player)
        device = str(getattr(getattr(depth_node, 'model', None), 'device', args.device))
    finally:
        if executor is not None:
            executor.shutdown(timeout_sec=5.0)
        for node in reversed(nodes):
            node.destroy_node()
        rclpy.try_shutdown(context=context)
        if spinner is not None:
            spinner.join(timeout=5.0)
        set_logger_level(NODE_NAME, previous_level)
    return _write_outputs(args, records, device)


def _run_frames(args, frames: List[Path], camera_info, depth_node,
                player: Feeder) -> List[dict]:
    """Send the frames one by one and collect the node's outputs for each."""
    records = [{'index': i, 'image': p.name, 'received': False} for i, p in enumerate(frames)]
    try:
        player.wait_for(player.connected, args.timeout, 'the depth node to connect')
    except TimeoutError:
        print(f'depth_node demo: the depth node did not connect within {args.timeout:g} s',
              file=sys.stderr)
        return records
    types = messages.rclpy_types()
    pacing = threading.Event()  # never set: waited on only to pace frames to --rate
    start = time.monotonic()
    previous_timings = getattr(depth_node, 'last_timings', None)
    for record, path in zip(records, frames):
        if args.rate > 0:
            pacing.wait(max(0.0, start + record['index'] / args.rate - time.monotonic()))
        rgb = np.asarray(PILImage.open(path).convert('RGB'))
        record['rgb'] = rgb
        stamp = player.get_clock().now().to_msg()
        key = stamp_key(stamp)
        record['stamp'] = {'sec': key[0], 'nanosec': key[1]}
        info = messages.camera_info(types, types.Header(stamp=stamp, frame_id=FRAME_ID),
                                    camera_info)
        deadline = time.monotonic() + args.timeout
        outputs = (None, None, None)
        for attempt in range(1 + MAX_RESENDS):
            drops = _drop_total(depth_node)
            sent = player.publish(image_msg(rgb, stamp), info)
            record['attempts'] = attempt + 1
            try:
                player.wait_for(lambda d=drops: all(m is not None for m in player.outputs_of(
                    key)) or _drop_total(depth_node) > d, max(0.0, deadline - time.monotonic()),
                    'outputs')
            except TimeoutError:
                pass
            outputs = player.outputs_of(key)
            if all(m is not None for m in outputs) or time.monotonic() >= deadline:
                break
        depth_msg, _, points_msg = outputs
        if depth_msg is None or points_msg is None or outputs[1] is None:
            continue
        t_depth = player.arrival[('depth', key)]
        t_points = player.arrival[('points', key)]
        record.update(received=True, latency_ms=(t_depth - sent) * 1000.0,
                      points_latency_ms=(t_points - sent) * 1000.0,
                      depth=image_fields_to_depth(depth_msg), cloud=points_msg)
        # The node's own timing of this frame, when it has already recorded it.
        timings = getattr(depth_node, 'last_timings', None)
        if timings is not None and timings is not previous_timings:
            previous_timings = timings
            record['node_process_ms'] = getattr(depth_node, 'last_latency_ms', None)
            record['model_timings_ms'] = dict(timings)
    return records


def _write_outputs(args, records: List[dict], device: str) -> int:
    """Write PNGs, the last frame's PLY and latencies.json; print the summary line."""
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    received = [r for r in records if r['received']]
    valid = [r['depth'][np.isfinite(r['depth']) & (r['depth'] > 0)] for r in received]
    valid = np.concatenate(valid) if valid else np.empty(0, np.float32)
    vmin, vmax = depth_range(valid[None, :]) if valid.size else (0.0, 1.0)
    n_png = n_ply = 0
    for r in received:
        depth = r['depth']
        save_png(out / f"frame_{r['index']:03d}_side_by_side.png",
                 side_by_side(r['rgb'], colorize_depth(depth, vmin, vmax)))
        n_png += 1
        finite = depth[np.isfinite(depth) & (depth > 0)]
        r['depth_min_m'] = float(finite.min()) if finite.size else None
        r['depth_max_m'] = float(finite.max()) if finite.size else None
        r['abs_rel'] = _abs_rel(depth, _ground_truth(args.sample, r['index']))
    if received:
        last = received[-1]
        xyz, rgb = cloud_arrays(last['cloud'])
        last['ply_points'] = write_ply(out / f"frame_{last['index']:03d}.ply", xyz, rgb)
        n_ply = 1
    latencies = [r['latency_ms'] for r in received]
    median = statistics.median(latencies) if latencies else None
    keep = ('index', 'image', 'stamp', 'received', 'attempts', 'latency_ms',
            'points_latency_ms', 'node_process_ms', 'model_timings_ms', 'depth_min_m',
            'depth_max_m', 'abs_rel', 'ply_points')
    report = {
        'model': str(args.model),
        'device': device,
        'sample': str(args.sample),
        'frames_sent': len(records),
        'frames_received': len(received),
        'median_latency_ms': median,
        'latency': 'publish of the image to arrival of depth/image, milliseconds',
        'abs_rel': 'mean |depth - ground truth| / ground truth over valid pixels',
        'frames': [{k: r[k] for k in keep if k in r} for r in records],
    }
    (out / 'latencies.json').write_text(json.dumps(report, indent=2) + '\n')

    latency_text = f'{median:.0f} ms' if median is not None else 'n/a'
    depth_text = (f'{float(valid.min()):.2f}-{float(valid.max()):.2f} m' if valid.size
                  else 'n/a')
    print(f'depth_node demo: {len(received)}/{len(records)} frames, model {args.model}, '
          f'device {device}, median latency {latency_text}, depth {depth_text}, '
          f'wrote {out}/ ({n_png} PNG, {n_ply} PLY, latencies.json)')
    return EXIT_OK if len(received) == len(records) else EXIT_FAILED


if __name__ == '__main__':
    sys.exit(main())
