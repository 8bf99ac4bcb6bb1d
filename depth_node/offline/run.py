# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
``depth_node_run``: the node's inference on files and rosbag2, without a ROS graph.

Input: an image, a folder of images, a video, or a rosbag2 (sqlite3 or MCAP)
with an image and a camera_info topic. Output: a 16-bit depth PNG
(millimetres, 0 = invalid) and a colourised PNG per frame, PLY point clouds
(optionally every Nth frame), and/or a new rosbag2 holding the input topics
plus ``depth/image`` (``depth/image_raw`` in 16UC1, REP 118; or
``depth/image/compressedDepth``), ``depth/camera_info`` and ``points`` (and, when
asked, ``scan`` and ``depth/colored``) for playback into RViz. Every frame goes
through :class:`~depth_node.frame.FrameProcessor` with the node's options
(the same parameter names and checks, :func:`node_parameters`) and the
messages are built by :mod:`depth_node.messages`, so depth, scaling, camera,
decimation, edge filter, points and scan are exactly what the node publishes.
Anchoring to a range sensor takes a folder of depth files (``--anchor-depth``)
or a bag's anchor topics (``--anchor-depth-topic``, ``--anchor-points-topic``),
paired with the images as the node pairs its ``anchor/*`` subscriptions.
"""

import argparse
import collections
from pathlib import Path
import sys
import time
from typing import List, Optional

import cv2
import numpy as np
from tqdm import tqdm

from .anchors import ANCHOR_TYPES, AnchorFolder, BagAnchors, RunAnchors
from .bag import BagWriter, require_rosbags
from .cameras import CameraSpec, find_intrinsics_file, read_intrinsics_file
from .cli import (add_model_arguments, announcer, cli_main, error_text, EXIT_FAILED, EXIT_OK,
                  OfflineInputError)
from .datasets import depth_png_array
from .ply import write_ply
from .sequence import add_temporal_arguments, temporal_parameters
from .sources import BagSource, expand_inputs, ImageFilesSource, VideoSource
from .. import messages
from ..camera import CameraInfoFields
from ..compressed_depth import CompressedDepthEncoder, CompressedDepthOptions
from ..conversions import rgb_from_array
from ..errors import DepthNodeError
from ..frame import FrameProcessor, OutputOptions
from ..geometry import cloud_points
from ..models import load_model
from ..params import (check_parameter, check_parameters, COMPRESSED_DEPTH_FORMAT_CHOICES,
                      DEPTH_ENCODING_CHOICES, PARAMETERS_BY_NAME)
from ..scan import scan_frame_id
from ..stream import Event
from ..visualize import colorize_depth, save_png, side_by_side

PROG = 'depth_node_run'


def build_parser() -> argparse.ArgumentParser:
    """Return the command-line parser of ``depth_node_run``."""
    p = argparse.ArgumentParser(
        prog=PROG,
        description='Run depth_node on an image, a folder of images, a video or a rosbag2 '
                    'and write depth PNGs, PLY clouds and/or a new rosbag2 (no ROS needed).')
    p.add_argument('input', help='image file, folder of images, video file, or rosbag2 '
                                 '(folder with metadata.yaml, or its .db3/.mcap file)')
    g = p.add_argument_group('camera (images and videos; bags use their camera_info topic)')
    g.add_argument('--camera-info', metavar='YAML',
                   help='camera_info YAML (ROS camera_calibration format) or Open3D intrinsics '
                        'JSON; default: camera_info.yaml in an image folder')
    g.add_argument('--fx', type=float, help='focal length in pixels (overrides the file)')
    g.add_argument('--fy', type=float, help='default: fx')
    g.add_argument('--cx', type=float, help='principal point x (default: image centre)')
    g.add_argument('--cy', type=float, help='principal point y (default: image centre)')
    g.add_argument('--frame-id', default='camera_optical_frame',
                   help='header frame_id for images and videos (default: %(default)s)')
    g.add_argument('--rectify', action='store_true',
                   help="undistort the images with the camera_info (D, K, R, P) first and "
                        "output for the rectified camera (the node's input_rectified:=false); "
                        'default: images are taken as rectified')
    g.add_argument('--fps', type=float, default=10.0,
                   help='frame rate of an image folder, for stamps in an output bag '
                        '(default: %(default)s)')
    g = p.add_argument_group('rosbag2 input')
    g.add_argument('--image-topic', help='image topic (sensor_msgs/Image or CompressedImage); '
                                         'default: the only colour image topic')
    g.add_argument('--camera-info-topic', help="default: 'camera_info' beside the image topic, "
                                               'or the only CameraInfo topic')
    g = p.add_argument_group('frames')
    g.add_argument('--every', type=int, default=1, metavar='N',
                   help='process every Nth image (default: %(default)s)')
    g.add_argument('--max-frames', type=int, default=0, metavar='N',
                   help='stop after N processed frames (0 = all)')
    g.add_argument('--no-progress', action='store_true', help='no progress bar')
    g = p.add_argument_group('model (as the node parameters)')
    add_model_arguments(g, "px at network input; 0 = the checkpoint's (see depth_node_eval "
                           '--fit-scale)')
    g = p.add_argument_group('file outputs')
    g.add_argument('--out', metavar='DIR', help='folder for <name>_depth.png (16-bit mm), '
                                                '<name>_color.png and <name>.ply')
    g.add_argument('--no-color', action='store_true', help='no colourised PNG')
    g.add_argument('--side-by-side', action='store_true',
                   help='colourised PNG shows the input image left of the depth')
    g.add_argument('--color-range', type=float, nargs=2, metavar=('MIN', 'MAX'),
                   help='fixed colour range in metres (default: 2nd-98th percentile per frame)')
    g.add_argument('--npy', action='store_true', help='also write <name>_depth.npy (float32 m)')
    g.add_argument('--ply-every', type=int, default=0, metavar='N',
                   help='write <name>.ply for every Nth processed frame (0 = none)')
    g = p.add_argument_group('rosbag2 output')
    g.add_argument('--out-bag', metavar='PATH', help='new rosbag2 folder to write')
    g.add_argument('--bag-storage', choices=('mcap', 'sqlite3'), default='mcap',
                   help='storage plugin of the output bag (default: %(default)s)')
    g.add_argument('--namespace', default=None,
                   help='namespace of the output topics (default: that of the image topic; '
                        "'/camera' for images and videos)")
    g.add_argument('--depth-encoding', choices=DEPTH_ENCODING_CHOICES, default='32FC1',
                   help='encoding of the depth image in the bag: 32FC1 on depth/image, 16UC1 '
                        'on depth/image_raw (REP 118; default: %(default)s)')
    g.add_argument('--no-points', action='store_true', help='no points topic in the bag')
    g.add_argument('--compressed-depth', action='store_true',
                   help='write <namespace>/depth/image/compressedDepth (sensor_msgs/'
                        "CompressedImage, compressed_depth_image_transport's format) instead "
                        'of the raw depth/image')
    g.add_argument('--raw-depth', action='store_true',
                   help='with --compressed-depth: write the raw depth/image too')
    g.add_argument('--compressed-depth-format', choices=COMPRESSED_DEPTH_FORMAT_CHOICES,
                   default='png', help='depth.image.compressedDepth.format (default: '
                                       '%(default)s; rvl needs Jazzy or later to decode)')
    g.add_argument('--png-level', type=int, default=1,
                   help='depth.image.compressedDepth.png_level (default: %(default)s)')
    g.add_argument('--compressed-depth-max', type=float, default=100.0, metavar='M',
                   help='depth.image.compressedDepth.depth_max, m (default: %(default)s)')
    g.add_argument('--compressed-depth-quantization', type=float, default=100.0, metavar='Z0',
                   help='depth.image.compressedDepth.depth_quantization (default: '
                        '%(default)s)')
    g = p.add_argument_group('points (PLY and the points topic, as the node parameters)')
    g.add_argument('--points-stride', type=int, default=1, help='keep every Nth pixel')
    g.add_argument('--no-points-rgb', action='store_true', help='no colour in the points')
    g.add_argument('--points-dense', action='store_true',
                   help='dense cloud of valid points (default: organized H x W with NaN)')
    g.add_argument('--min-depth', type=float, default=0.0, help='m, nearer points dropped')
    g.add_argument('--max-depth', type=float, default=0.0,
                   help='m, farther points dropped (0 = no limit)')
    g = p.add_argument_group('navigation outputs (as the node parameters)')
    g.add_argument('--output-decimation', type=int, default=1, metavar='N',
                   help='depth, camera_info, points, scan and colours for every Nth pixel '
                        '(output_decimation; default: %(default)s)')
    g.add_argument('--no-edge-filter', action='store_true',
                   help='keep flying pixels in the points and the scan (edge_filter.enabled)')
    g.add_argument('--edge-min-angle', type=float, default=10.0, metavar='DEG',
                   help='edge_filter.min_angle (default: %(default)s)')
    g.add_argument('--edge-filter-depth', action='store_true',
                   help='also remove flying pixels from the depth (edge_filter.apply_to_depth)')
    g.add_argument('--scan', action='store_true',
                   help='write a sensor_msgs/LaserScan on <namespace>/scan into --out-bag '
                        '(publish_scan)')
    g.add_argument('--scan-frame-id', default='',
                   help="frame of the scan (scan.frame_id; default: the image frame with "
                        "'_optical_frame' replaced by '_frame')")
    g.add_argument('--scan-height', type=int, default=1, help='scan.height (rows around cy)')
    g.add_argument('--scan-range-min', type=float, default=0.45, help='scan.range_min, m')
    g.add_argument('--scan-range-max', type=float, default=10.0, help='scan.range_max, m')
    g.add_argument('--colored', action='store_true',
                   help='write the bgr8 colourised depth on <namespace>/depth/colored into '
                        '--out-bag (the node\'s depth/colored; range: --color-range)')
    g = p.add_argument_group(
        'anchoring to a range sensor (as the node parameters anchor.*; doc/anchoring.md)')
    g.add_argument('--anchor-depth', metavar='DIR',
                   help="the node's anchor/depth from a folder: one depth file per image, "
                        'matched by name (<name>.png or <name>_depth.png 16-bit, <name>.npy '
                        'metres; or the same last number); 0 or NaN = no measurement')
    g.add_argument('--anchor-depth-scale', type=float, default=1000.0, metavar='UNITS',
                   help='PNG units per metre of --anchor-depth (default: %(default)s = mm)')
    g.add_argument('--anchor-depth-topic', metavar='TOPIC',
                   help='rosbag2 input: sensor_msgs/Image topic (32FC1 m, 16UC1 mm) to anchor to')
    g.add_argument('--anchor-points-topic', metavar='TOPIC',
                   help="rosbag2 input: sensor_msgs/PointCloud2 topic (in the image's optical "
                        'frame) to anchor to')
    for name, metavar in (('stamp_tolerance', 'S'), ('hold_time', 'S'),
                          ('min_inliers', 'N'), ('max_correction', 'FACTOR')):
        spec = PARAMETERS_BY_NAME[f'anchor.{name}']
        g.add_argument(f"--anchor-{name.replace('_', '-')}", metavar=metavar,
                       type=int if spec.type == 'integer' else float, default=spec.default,
                       help=f'anchor.{name} (default: %(default)s)')
    add_temporal_arguments(p)
    return p


def _namespace(value: Optional[str], default: str) -> str:
    value = default if value is None else value
    value = value.strip().strip('/')
    return '/' + value if value else ''


def open_source(args, start_ns: int):
    """Return the frame source for ``args.input`` and a one-line description of it."""
    kind, target = expand_inputs(args.input)
    every, limit = args.every, args.max_frames
    if kind == 'bag':
        source = BagSource(target, image_topic=args.image_topic,
                           info_topic=args.camera_info_topic, every=every, limit=limit)
        return source, (f'rosbag2 {source.path}: {source.image_topic} ({source.image_count} '
                        f'images), {source.info_topic}')
    info_path = args.camera_info
    if info_path is None and kind == 'images':
        found = find_intrinsics_file(Path(args.input) if Path(args.input).is_dir()
                                     else Path(args.input).parent)
        info_path = str(found) if found else None
    camera = CameraSpec(read_intrinsics_file(info_path) if info_path else None,
                        args.fx, args.fy, args.cx, args.cy)
    if not camera.is_set():
        raise OfflineInputError(
            'no camera intrinsics: pass --camera-info <camera_info.yaml> or --fx (and '
            'optionally --fy --cx --cy); depth scaling and points need them')
    where = f'intrinsics from {info_path}' if info_path and args.fx is None else 'intrinsics ' \
        'from flags'
    if kind == 'video':
        source = VideoSource(target, camera, every=every, limit=limit, start_ns=start_ns,
                             frame_id=args.frame_id)
        return source, f'video {target} ({source.count} frames, {source.fps:g} fps), {where}'
    source = ImageFilesSource(target, camera, every=every, limit=limit, fps=args.fps,
                              start_ns=start_ns, frame_id=args.frame_id)
    return source, f'{len(target)} image(s) in {Path(args.input)}, {where}'


class FileOutput:
    """Per-frame files: 16-bit depth PNG, colourised PNG, optional .npy and PLY."""

    def __init__(self, folder: Path, args):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.args = args
        self.counts = {'depth PNG': 0, 'colour PNG': 0, 'npy': 0, 'PLY': 0}

    def write(self, name: str, out, ply: bool) -> None:
        """Write the files of one frame (a :class:`~depth_node.frame.FrameOutput`)."""
        args = self.args
        depth = out.depth
        if out.depth_encoding == '16UC1':
            png = np.frombuffer(out.depth_data, dtype='<u2').reshape(depth.shape)
        else:
            png = depth_png_array(depth)
        cv2.imwrite(str(self.folder / f'{name}_depth.png'), png)
        self.counts['depth PNG'] += 1
        if args.npy:
            np.save(self.folder / f'{name}_depth.npy', np.where(depth > 0, depth, np.nan)
                    .astype(np.float32))
            self.counts['npy'] += 1
        if not args.no_color:
            vmin, vmax = args.color_range if args.color_range else (None, None)
            color = colorize_depth(depth, vmin, vmax)
            if args.side_by_side:
                color = side_by_side(rgb_from_array(out.pixels, out.rgb_order), color)
            save_png(self.folder / f'{name}_color.png', color)
            self.counts['colour PNG'] += 1
        if ply and out.cloud is not None:
            xyz, rgb = cloud_points(out.cloud)
            write_ply(self.folder / f'{name}.ply', xyz, rgb,
                      comment=f'depth_node_run {name}')
            self.counts['PLY'] += 1

    def summary(self) -> str:
        """Return what was written, in one line."""
        parts = [f'{n} {k}' for k, n in self.counts.items() if n]
        return f"{self.folder}: {', '.join(parts) or 'nothing'}"


class BagOutput:
    """A new rosbag2: the input topics (copied, or made from images) plus the node's outputs."""

    def __init__(self, path: Path, args, source):
        self.args = args
        self.from_bag = isinstance(source, BagSource)
        ns = self.namespace(args, source)
        self.writer = BagWriter(path, args.bag_storage)
        self.types = messages.rosbags_types(self.writer.typestore)
        self.image_topic = f'{ns}/image_raw'
        self.info_topic = f'{ns}/camera_info'
        self.depth_topic = f'{ns}/{messages.depth_image_topic(args.depth_encoding)}'
        self.depth_info_topic = f'{ns}/depth/camera_info'
        self.points_topic = f'{ns}/points'
        self.scan_topic = f'{ns}/scan'
        self.colored_topic = f'{ns}/depth/colored'
        self.compressed_topic = f'{self.depth_topic}/compressedDepth'
        self.compressor = (CompressedDepthEncoder(compressed_depth_options(args))
                           if args.compressed_depth else None)
        self.raw_depth = not args.compressed_depth or args.raw_depth

    @staticmethod
    def namespace(args, source) -> str:
        """Return the output namespace; raise if the input bag already has those topics."""
        from_bag = isinstance(source, BagSource)
        default = source.image_topic.rstrip('/').rsplit('/', 1)[0] if from_bag else '/camera'
        ns = _namespace(args.namespace, default)
        if from_bag:
            outputs = {f'{ns}/{messages.depth_image_topic(args.depth_encoding)}',
                       f'{ns}/depth/camera_info', f'{ns}/points'}
            if args.scan:
                outputs.add(f'{ns}/scan')
            if args.colored:
                outputs.add(f'{ns}/depth/colored')
            if args.compressed_depth:
                outputs.add(f'{ns}/{messages.depth_image_topic(args.depth_encoding)}'
                            '/compressedDepth')
            clash = sorted(outputs & {c.topic for c in source.connections})
            if clash:
                raise OfflineInputError(
                    f"the input bag already has {', '.join(clash)}; pass --namespace to put "
                    'the outputs elsewhere')
        return ns

    def copy(self, raw) -> None:
        """Copy one input bag message."""
        self.writer.write_raw(raw)

    def write(self, frame, info, out, log_ns: int, scan_frame: Optional[str] = None) -> None:
        """
        Write the outputs of one frame (and its input).

        ``info`` is the input camera_info and ``out`` the frame's
        :class:`~depth_node.frame.FrameOutput`; for image and video inputs the
        input image and camera_info are written too. The scan goes out in
        ``scan_frame``.
        """
        types = self.types
        header = messages.header(types, frame.stamp_ns, frame.frame_id)
        if not self.from_bag:
            decoded = frame.image()
            pixels, order = decoded.pixels, decoded.rgb_order
            h, w, c = pixels.shape
            encoding = {(3, (0, 1, 2)): 'rgb8', (3, (2, 1, 0)): 'bgr8'}.get(
                (c, tuple(order)), None)
            data = np.ascontiguousarray(pixels)
            if encoding is None:
                encoding, data = 'rgb8', rgb_from_array(pixels, order)
            self.writer.write(self.image_topic, 'sensor_msgs/msg/Image', log_ns,
                              messages.image(types, header, h, w, encoding, w * 3, data.data))
            self.writer.write(self.info_topic, 'sensor_msgs/msg/CameraInfo', log_ns,
                              messages.camera_info(types, header, CameraInfoFields.of(info)))
        if self.raw_depth:
            self.writer.write(self.depth_topic, 'sensor_msgs/msg/Image', log_ns,
                              messages.depth_image(types, header, out))
        if self.compressor is not None:
            self.writer.write(self.compressed_topic, 'sensor_msgs/msg/CompressedImage', log_ns,
                              messages.compressed_image(types, header,
                                                        self.compressor.encode_output(out)))
        self.writer.write(self.depth_info_topic, 'sensor_msgs/msg/CameraInfo', log_ns,
                          messages.camera_info(types, header, out.camera_info))
        if out.cloud is not None:
            self.writer.write(self.points_topic, 'sensor_msgs/msg/PointCloud2', log_ns,
                              messages.point_cloud(types, header, out.cloud))
        if out.scan is not None and scan_frame is not None:
            self.writer.write(self.scan_topic, 'sensor_msgs/msg/LaserScan', log_ns,
                              messages.laser_scan(
                                  types, messages.header(types, frame.stamp_ns, scan_frame),
                                  out.scan))
        if out.colored is not None:
            self.writer.write(self.colored_topic, 'sensor_msgs/msg/Image', log_ns,
                              messages.colored_image(types, header, out.colored))

    def close(self) -> None:
        """Finish the bag."""
        self.writer.close()

    def summary(self) -> str:
        """Return the topics written, in one line."""
        new = [t for t in (self.depth_topic, self.compressed_topic, self.depth_info_topic,
                           self.points_topic, self.scan_topic, self.colored_topic)
               if t in self.writer.counts]
        others = len(self.writer.counts) - len(new)
        counts = ', '.join(f'{t} ({self.writer.counts[t]})' for t in new)
        return f'{self.writer.path} ({self.args.bag_storage}): {counts} + {others} input topic(s)'


def run(args) -> int:
    """Run the pipeline over the input as ``args`` says; return the exit status."""
    if not args.out and not args.out_bag:
        raise OfflineInputError('nothing to write: pass --out DIR and/or --out-bag PATH')
    if args.every < 1 or args.points_stride < 1 or args.ply_every < 0 or args.max_frames < 0:
        raise OfflineInputError('--every and --points-stride must be >= 1, --ply-every and '
                                '--max-frames >= 0')
    if (args.scan or args.colored or args.compressed_depth) and not args.out_bag:
        raise OfflineInputError('--scan, --colored and --compressed-depth write topics of '
                                '--out-bag; pass one')
    if args.raw_depth and not args.compressed_depth:
        raise OfflineInputError('--raw-depth keeps depth/image beside --compressed-depth; '
                                'without it depth/image is written anyway')
    output_options(args, True, bool(args.out_bag))  # parameter errors before the model loads
    if args.out_bag:
        require_rosbags()
        if Path(args.out_bag).exists():
            raise OfflineInputError(f'{args.out_bag} exists already; rosbag2 output must be new')
    start_ns = time.time_ns()
    source, description = open_source(args, start_ns)
    anchors = None
    try:
        if args.out_bag:
            BagOutput.namespace(args, source)
        anchors = open_anchors(args, source)
        return _run(args, source, description, anchors)
    finally:
        if anchors is not None:
            anchors.close()
        source.close()


def open_anchors(args, source) -> Optional[RunAnchors]:
    """Return the anchors of the command line for ``source`` (None: no anchoring)."""
    topics = [t for t in (args.anchor_depth_topic, args.anchor_points_topic) if t]
    if topics and not isinstance(source, BagSource):
        raise OfflineInputError('--anchor-depth-topic and --anchor-points-topic take a rosbag2 '
                                'input; for images and videos pass --anchor-depth DIR')
    if not topics and not args.anchor_depth:
        return None
    folder = AnchorFolder(args.anchor_depth, args.anchor_depth_scale) if args.anchor_depth \
        else None
    bags = []
    try:
        for topic, kind in ((args.anchor_depth_topic, 'depth'),
                            (args.anchor_points_topic, 'points')):
            if topic:
                bag = BagAnchors(source.path, topic, args.anchor_stamp_tolerance)
                bags.append(bag)
                if bag.kind != kind:
                    raise OfflineInputError(
                        f"{topic} is {ANCHOR_TYPES[bag.kind]}: pass it as "
                        f"--anchor-{bag.kind}-topic")
    except Exception:
        for bag in bags:
            bag.close()
        raise
    return RunAnchors(folder, tuple(bags))


def node_parameters(args, ply: bool, bag: bool) -> dict:
    """
    Return the node's parameters (name -> value) of the command line, checked as the node does.

    ``ply``: this frame's cloud is written to a PLY; ``bag``: an output bag is
    written. Raises ParameterValueError for values the node would refuse.
    """
    color_range = args.color_range if (args.colored and args.color_range) else (0.0, 0.0)
    cfg = {
        'focal_scaling': not args.no_focal_scaling, 'reference_focal': args.reference_focal,
        'input_rectified': not args.rectify,
        'depth_encoding': args.depth_encoding,
        'publish_points': bool(ply or (bag and not args.no_points)),
        'points.rgb': not args.no_points_rgb, 'points.stride': args.points_stride,
        'points.organized': not args.points_dense,
        'min_depth': args.min_depth, 'max_depth': args.max_depth,
        'output_decimation': args.output_decimation,
        'edge_filter.enabled': not args.no_edge_filter,
        'edge_filter.min_angle': args.edge_min_angle,
        'edge_filter.apply_to_depth': bool(args.edge_filter_depth),
        'publish_scan': bool(bag and args.scan), 'scan.frame_id': args.scan_frame_id,
        'scan.height': args.scan_height, 'scan.range_min': args.scan_range_min,
        'scan.range_max': args.scan_range_max,
        'colored.min_depth': color_range[0], 'colored.max_depth': color_range[1],
        'depth.image.compressedDepth.format': args.compressed_depth_format,
        'depth.image.compressedDepth.png_level': args.png_level,
        'depth.image.compressedDepth.depth_max': args.compressed_depth_max,
        'depth.image.compressedDepth.depth_quantization': args.compressed_depth_quantization,
        'anchor.depth': bool(args.anchor_depth or args.anchor_depth_topic),
        'anchor.points': bool(args.anchor_points_topic),
        'anchor.stamp_tolerance': args.anchor_stamp_tolerance,
        'anchor.hold_time': args.anchor_hold_time,
        'anchor.min_inliers': args.anchor_min_inliers,
        'anchor.max_correction': args.anchor_max_correction,
        **temporal_parameters(args),
    }
    cfg = {name: check_parameter(name, value) for name, value in cfg.items()}
    check_parameters(cfg)
    return cfg


def compressed_depth_options(args) -> CompressedDepthOptions:
    """Return the compressedDepth options of the command line (the node's parameters)."""
    return CompressedDepthOptions.from_parameters(node_parameters(args, False, True))


def output_options(args, ply: bool, bag: bool) -> OutputOptions:
    """Return the frame options of the command line (the node's parameters)."""
    return OutputOptions.from_parameters(node_parameters(args, ply, bag),
                                         colored=bool(bag and args.colored))


def _run(args, source, description: str, anchors: Optional[RunAnchors] = None) -> int:
    model = load_model(args.model, args.device, args.precision,
                       reference_focal=args.reference_focal, mask_sky=not args.keep_sky,
                       announce=announcer(PROG))
    processor = FrameProcessor(model)
    print(f'{PROG}: {description}')
    print(f'{PROG}: {model.describe()}')
    files = FileOutput(Path(args.out), args) if args.out else None
    bag = BagOutput(Path(args.out_bag), args, source) if args.out_bag else None
    noted = set()
    scan_warned = set()
    drops: dict = {}
    anchor_states: collections.Counter = collections.Counter()
    processed = 0
    t0 = time.perf_counter()
    progress = tqdm(total=len(source), unit='frame', desc=PROG, file=sys.stderr,
                    disable=True if args.no_progress else None, dynamic_ncols=True)
    try:
        for raw, frame in source:
            if raw is not None and bag is not None:
                bag.copy(raw)
            if frame is None:
                continue
            ply = bool(files and args.ply_every and processed % args.ply_every == 0)
            opts = output_options(args, ply, bag is not None)
            scan_frame = scan_frame_id(args.scan_frame_id, frame.frame_id) if opts.scan else None
            if opts.scan and scan_frame is None and frame.frame_id not in scan_warned:
                scan_warned.add(frame.frame_id)
                progress.write(f"{PROG}: warning: no scan for frames in '{frame.frame_id}': "
                               "not an '_optical_frame', so its body frame cannot be named; "
                               'pass --scan-frame-id', file=sys.stderr)
            opts.scan = scan_frame is not None
            try:
                anchor, anchor_events = anchors.for_frame(frame) if anchors else ([], [])
            except DepthNodeError as exc:  # an unreadable anchor file: the frame goes on
                anchor, anchor_events = [], [Event('anchor_invalid', 'warning', str(exc))]
            for event in anchor_events:
                if event.kind not in noted:
                    noted.add(event.kind)
                    progress.write(f'{PROG}: note: {event.text}', file=sys.stderr)
            try:
                decoded = frame.image()
                info = frame.camera_info()
                out = processor.process_pixels(
                    decoded.pixels, decoded.rgb_order, info, opts, encoding=decoded.encoding,
                    frame_id=frame.frame_id, stamp_ns=frame.stamp_ns, anchor=anchor)
            except DepthNodeError as exc:
                reason = type(exc).__name__
                if reason not in drops:
                    progress.write(f'{PROG}: warning: dropped {frame.name}: {error_text(exc)}',
                                   file=sys.stderr)
                drops[reason] = drops.get(reason, 0) + 1
                progress.update(1)
                continue
            for event in out.events:
                if event.kind not in noted:
                    noted.add(event.kind)
                    progress.write(f'{PROG}: note: {event.text}', file=sys.stderr)
            if anchors is not None:
                anchor_states[out.anchor.state] += 1
            if files is not None:
                files.write(frame.name, out, ply)
            if bag is not None:
                bag.write(frame, info, out, raw.timestamp if raw is not None else frame.stamp_ns,
                          scan_frame)
            processed += 1
            progress.update(1)
    finally:
        progress.close()
        if bag is not None:
            bag.close()
    elapsed = time.perf_counter() - t0
    rate = processed / elapsed if elapsed > 0 else 0.0
    print(f'{PROG}: {processed} frame(s) in {elapsed:.1f} s ({rate:.2f} frames/s)')
    for output in (files, bag):
        if output is not None:
            print(f'{PROG}: wrote {output.summary()}')
    if anchors is not None:
        print(f"{PROG}: anchoring: {anchor_states['anchored']} frame(s) anchored, "
              f"{anchor_states['held']} on a held correction, {anchor_states['network']} on the "
              "network's own scale")
        if anchors.folder is not None and anchors.folder.missing:
            print(f'{PROG}: {len(anchors.folder.missing)} frame(s) had no anchor file in '
                  f'{anchors.folder.folder}', file=sys.stderr)
    if drops:
        text = ', '.join(f'{n} {reason}' for reason, n in drops.items())
        print(f'{PROG}: dropped {sum(drops.values())} frame(s): {text}', file=sys.stderr)
    return EXIT_OK if processed else EXIT_FAILED


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point of ``depth_node_run``."""
    return cli_main(PROG, build_parser(), run, argv)


if __name__ == '__main__':
    sys.exit(main())
