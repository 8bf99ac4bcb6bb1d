# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
Black-box hostile test of the installed ``depth_node`` executable (issue 8).

The node runs as its own process, with the real rclpy logger, on this
session's private ROS domain (localhost only), with a tiny fast checkpoint and
parameters from ``--ros-args -p`` and ``--params-file``. The test process
publishes over RELIABLE topics and checks what users see: the outputs, the log
lines (by content) and the process staying up. After every bad input a good
frame must give the depth of the same tiny model run in-process and the cloud
of that depth back-projected with the frame's intrinsics; no traceback may
ever reach the log.

One node process serves most cases (``main``); separate processes only for
start-up cases (parameters, lifecycle, broken checkpoints), the compressed
transport and Depth Pro. A case that kills the main process fails, and the next
case gets a fresh process.
"""

import os
from pathlib import Path
import re
import signal
import threading
import time

from depth_node.testing.blackbox import (camera_info, check_cloud, check_depth, Intr,
                                         node_executable, NodeProcess, rgb_image, RosPeer, Session)
from depth_node.testing.ros_harness import make_fast_checkpoint
from depth_node.testing.tiny_models import textured_image
import numpy as np
import pytest
import rclpy
from rclpy.parameter import Parameter
from sensor_msgs.msg import CameraInfo, Image

pytestmark = pytest.mark.skipif(node_executable() is None,
                                reason='the depth_node executable is not installed')

#: The node's throttle of repeated lines of one kind (seconds), plus a margin.
THROTTLE_S = 5.0 + 0.5


# --------------------------------------------------------------------------- fixtures

@pytest.fixture(scope='module')
def bb_context(ros_domain_id):
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=ros_domain_id)
    yield context
    rclpy.try_shutdown(context=context)


@pytest.fixture(scope='module')
def reference(fast_da_dir):
    from depth_node.models import load_model
    return load_model(fast_da_dir, 'cpu', 'fp32')


def write_params(path, **values) -> str:
    """Write a ROS 2 parameter file for every node (``/**``); return its path."""
    lines = ['/**:', '  ros__parameters:']
    for name, value in values.items():
        lines.append(f'    {name}: {value}')
    path.write_text('\n'.join(lines) + '\n')
    return str(path)


@pytest.fixture(scope='module')
def main(bb_context, ros_domain_id, fast_da_dir, reference, tmp_path_factory):
    """Start the shared node: floats from a params file, the rest on the command line."""
    params = write_params(tmp_path_factory.mktemp('bb_main') / 'params.yaml',
                          model=f'"{fast_da_dir}"', rate=0.0, diagnostics_period=0.1)
    session = Session(bb_context, ros_domain_id, '/bb_main',
                      ['--params-file', params, '-p', 'device:=cpu'], reference=reference)
    session.start()
    yield session
    session.close()


@pytest.fixture
def bb(main):
    """Return the main session, restarted if an earlier case killed it."""
    main.ensure_running()
    return main


#: Kinds of problem -> a regular expression matching every log line of that kind. The node
#: may throttle lines of one kind (README: "one clear, throttled log line"), so a case needs
#: its own line only when no line of its kind was printed within the throttle period.
KINDS = {
    'encoding': r'dropped frame: .*encoding',
    'step': r'dropped frame: .*\bstep\b',
    'data-size': r'dropped frame: .*\b(bytes|data)\b',
    'empty': r'dropped frame: .*\bempty\b',
    'image-size': r'dropped frame: .*(\d+ ?x ?\d+|pixels|\bpx\b|aspect)',
    'focal': r'dropped frame: .*(focal|\bfx\b)',
    'non-finite': r'dropped frame: .*(?i:nan|finite)',
    'info-size': r'dropped frame: camera_info is for',
    'info-no-size': r'dropped frame: .*\bsize\b',
    'undistort-model': r'cannot undistort',
    'undistort-binning': r'binned or ROI',
    'undistort-coefficients': r'coefficients',
    'decode': r'decode',
    'compressed-depth': r'compressedDepth|carries depth',
    '16bit': r'16-bit|uint16',
    'frame_id': r'frame_id changed',
    'stamp': r'stamp went backwards',
}
_STAMP = re.compile(r'^\[[A-Z]+\] \[(\d+(?:\.\d+)?)\]')


def quiet(session, kind: str) -> bool:
    """
    Whether no line of ``kind`` was printed within the throttle period before this case.

    Judged from the log's own timestamps against the time the case started
    (:meth:`Session.begin`, also called by ``feed``): then the node must print this
    case's line.
    """
    regex = re.compile(KINDS[kind])
    start, upto = session.case_start, session.case_mark
    for line in reversed(session.proc.since(0)[:upto]):
        if regex.search(line):
            found = _STAMP.match(line)
            return found is not None and start - float(found.group(1)) > THROTTLE_S
    return True


def expect_drop_line(session, mark, kind, pattern, delta, reasons=('bad_image',)):
    """
    Check a bad frame was dropped for one of ``reasons`` (never as an unexplained ``error``).

    When the node had printed no line of ``kind`` lately (:func:`quiet`), a line
    matching ``pattern`` must say what was wrong.
    """
    assert delta.get('dropped.error', 0) == 0, (
        f'dropped as an unexpected error {delta}:\n{session.proc.tail(mark)}')
    assert sum(delta.get(f'dropped.{r}', 0) for r in reasons) >= 1, (
        f'expected a drop for {reasons}, counters changed by {delta}:\n'
        + session.proc.tail(mark))
    if quiet(session, kind):
        session.proc.wait_line(pattern, 5.0, session.case_mark)


# --------------------------------------------------------------------------- README

README = Path(__file__).resolve().parents[1] / 'README.md'

#: Every line of README's Troubleshooting table (by its start) -> the test that makes the
#: node print it; the pattern is README's own text, so README and the log cannot drift apart.
TROUBLESHOOTING = {
    "parameter 'rat' is not a parameter of this node":
        'test_node_fixes.py::test_misspelt_parameters_are_named_with_the_closest_one',
    "error: cameras: 'scan' is the name of a group":
        'test_multicamera.py::test_bad_cameras_parameter_is_one_error_line',
    'cameras: front listed more than once':
        'test_multicamera.py::test_bad_cameras_parameter_is_one_error_line',
    "cameras: '1cam' is not a camera name":
        'test_multicamera.py::test_bad_cameras_parameter_is_one_error_line',
    'anchored to anchor/depth': 'test_node_anchor.py::'
        'test_the_node_anchors_to_depth_and_points_like_the_frame_path',
    'no usable anchor for': 'test_node_anchor.py::'
        'test_the_node_anchors_to_depth_and_points_like_the_frame_path',
    'anchor/depth has no measurement': 'test_node_anchor.py::'
        'test_the_node_anchors_to_depth_and_points_like_the_frame_path',
    "anchor/points is in frame 'lidar'": 'test_node_anchor.py::'
        'test_the_node_anchors_to_depth_and_points_like_the_frame_path',
    'temporal stabilisation starts again:':
        'test_node_temporal.py::test_the_node_stabilises_like_the_frame_path',
    'no camera_info received yet': 'test_integers_for_double_parameters_at_start',
    "input_qos 'auto': waiting for a publisher": 'test_waiting_for_a_publisher',
    'dropped frame: image encoding': 'test_any_encoding_is_dropped_with_a_line_or_served',
    'dropped frame: camera_info is for': 'test_camera_info_oddities',
    'dropped frame: camera_info K has no focal length': 'test_camera_info_oddities',
    'dropped frame: camera_info P focal length': 'test_absurd_focal_length_gets_a_line',
    'dropped frame: image of': 'test_extreme_image_sizes_are_served_or_dropped_with_a_line',
    'error: .../model.safetensors is corrupt': 'test_bad_start_ends_in_one_line',
    'preprocessor_config.json has an unusable size': 'test_bad_start_ends_in_one_line',
    'autostart is false': 'test_autostart_false_says_how_to_go_on',
    '4000x3000 frame: its messages take': 'test_large_frame_leaves_no_lasting_memory',
    'error: cannot fetch': 'test_start_with_an_unusable_model_ends_in_one_line',
    "error: '...' is a relative-depth": 'test_start_with_an_unusable_model_ends_in_one_line',
    "error: device 'cuda' requested": 'test_start_with_an_unusable_model_ends_in_one_line',
    'no subscriber on': 'test_subscribers_coming_and_going',
    'dropped frame: CUDA out of memory': None,  # needs a GPU that runs out of memory
    'image size changed': 'test_two_cameras_of_different_sizes_on_one_topic_are_said_once',
    'image stamp went backwards': 'test_bag_loop_after_a_size_change',
    'no camera_info on /camera_info for': 'test_camera_info_pausing_then_coming_back',
    'camera_info has non-zero distortion': 'test_camera_info_oddities',
    'dropped frame: cannot undistort': 'test_undistortion_oddities',
    'undistorting binned or ROI': 'test_undistortion_oddities',
    'dropped frame: cannot decode the compressed': 'test_compressed_oddities',
    'compressed image format': 'test_compressed_oddities',
    'camera_info unusable': 'test_depth_pro_falls_back_to_its_field_of_view',
    'configure failed': 'test_configure_failure_says_why',
    'publish_scan: no scan': 'test_scan_without_a_body_frame_says_how_to_name_it',
    'error: --params-file ...: no such file':
        'test_bad_ros_arguments_end_in_one_line_and_status_2',
    "error: --params-file ...: 'ros_parameters'":
        'test_bad_ros_arguments_end_in_one_line_and_status_2',
    'error: -p rate: no value': 'test_bad_ros_arguments_end_in_one_line_and_status_2',
    'error: -r image: no target': 'test_bad_ros_arguments_end_in_one_line_and_status_2',
    'error: unknown ROS argument': 'test_bad_ros_arguments_end_in_one_line_and_status_2',
}


def troubleshooting_lines():
    """Return the log lines (backquoted) of README's Troubleshooting table, in order."""
    section = README.read_text(encoding='utf-8').split('\n## Troubleshooting', 1)[1]
    section = section.split('\n## ', 1)[0]
    lines = []
    for row in section.splitlines():
        if row.startswith('| `'):
            lines += re.findall(r'`([^`]+)`', row.split(' | ')[0])
    return lines


def as_pattern(text: str) -> str:
    """
    Turn a README log line into a regular expression for the node's output.

    ``...`` stands for anything, numbers are examples (any number matches), and
    topics may carry a namespace (``/camera_info`` matches ``/ns/camera_info``).
    """
    special = re.compile(r'\.\.\.|\d+(?:\.\d+)?|(?<= )/camera_info|(?<= )/image')
    out, pos = [], 0
    for m in special.finditer(text):
        out.append(re.escape(text[pos:m.start()]))
        token = m.group()
        out.append('.*?' if token == '...' else r'\S*' + token if token.startswith('/')
                   else r'\d+(?:\.\d+)?')
        pos = m.end()
    out.append(re.escape(text[pos:]))
    return ''.join(out)


def trouble(start: str) -> str:
    """Return the pattern of README's Troubleshooting line that starts with ``start``."""
    assert start in TROUBLESHOOTING, start
    found = [t for t in troubleshooting_lines() if t.startswith(start)]
    assert len(found) == 1, f"README's Troubleshooting has {len(found)} lines starting {start!r}"
    return as_pattern(found[0])


def _test_exists(test: str) -> bool:
    """Whether ``test`` is a test here or, as ``file.py::name``, in another test module."""
    if '::' not in test:
        return test in globals()
    module, name = test.split('::')
    path = Path(__file__).with_name(module)
    return path.is_file() and f'def {name}(' in path.read_text(encoding='utf-8')


def test_every_troubleshooting_line_is_exercised():
    """Each README Troubleshooting line is printed by some test here (CUDA OOM needs a GPU)."""
    lines = troubleshooting_lines()
    assert lines
    for text in lines:
        owners = [start for start in TROUBLESHOOTING if text.startswith(start)]
        assert len(owners) == 1, f'README line {text!r} has no test here (TROUBLESHOOTING)'
    for start, test in TROUBLESHOOTING.items():
        assert any(t.startswith(start) for t in lines), f'{start!r} is gone from README'
        assert test is None or _test_exists(test), test
    assert re.fullmatch(as_pattern('no camera_info on /camera_info for 2.1 s; using the last'),
                        'no camera_info on /ns/camera_info for 12.0 s; using the last')


# --------------------------------------------------------------------------- good input

@pytest.mark.parametrize('encoding', ['rgb8', 'bgr8', 'rgba8', 'bgra8', 'mono8'])
def test_every_colour_encoding_gives_the_reference_depth_and_cloud(bb, encoding):
    mark = bb.begin()
    bb.good_frame(mark, encoding=encoding)


def test_valid_field_variants_are_served(bb):
    """Row padding, odd steps, trailing bytes and is_bigendian on 8-bit data are all valid."""
    mark = bb.begin()
    variants = [dict(pad=5), dict(pad=1, encoding='mono8'), dict(pad=64, encoding='bgra8'),
                dict(trailing=100), dict(bigendian=1)]
    for v in variants:
        stamp = bb.stamp()
        msg = rgb_image(bb.W, bb.H, bb.rgb, stamp=stamp, frame_id=bb.FRAME_ID,
                        encoding=v.get('encoding', 'rgb8'), pad=v.get('pad', 0))
        if 'trailing' in v:
            msg.data = bytes(msg.data) + bytes(v['trailing'])
        msg.is_bigendian = v.get('bigendian', 0)
        bb.peer.publish(msg, bb.good_info(stamp))
        depth, info, cloud = bb.outputs(stamp)
        bb.check_frame(depth, info, cloud, stamp, bb.rgb, bb.intr, frame_id=bb.FRAME_ID,
                       mono=v.get('encoding') == 'mono8')
    bb.good_frame(mark)


# --------------------------------------------------------------------------- bad images

def raw_image(width, height, encoding, step, data, stamp, frame_id='camera_color_optical_frame',
              bigendian=0):
    msg = Image()
    msg.header.stamp.sec, msg.header.stamp.nanosec = stamp
    msg.header.frame_id = frame_id
    msg.width, msg.height, msg.encoding, msg.step = width, height, encoding, step
    msg.is_bigendian = bigendian
    msg.data = bytes(data)
    return msg


#: Encodings a driver can produce that are not colour images (sensor_msgs image_encodings).
DEPTH_ENCODINGS = [('16UC1', 2), ('32FC1', 4), ('mono16', 2), ('16SC1', 2), ('32SC1', 4),
                   ('64FC1', 8)]
OTHER_ENCODINGS = [
    ('rgb16', 6), ('rgba16', 8), ('bgr16', 6), ('bgra16', 8), ('8UC1', 1), ('8UC2', 2),
    ('8UC3', 3), ('8UC4', 4), ('8SC3', 3), ('16UC3', 6), ('32FC3', 12), ('64FC4', 32),
    ('bayer_rggb8', 1), ('bayer_bggr8', 1), ('bayer_gbrg8', 1), ('bayer_grbg8', 1),
    ('bayer_rggb16', 2), ('yuv422', 2), ('uyvy', 2), ('yuyv', 2), ('yuv422_yuy2', 2),
    ('nv21', 1), ('nv24', 1), ('RGB8', 3), ('rgb8 ', 3), ('', 3), ('jpeg', 1),
    ('\u00e9t\u00e9', 3), ('x' * 300, 3)]
#: Encodings a node might reasonably accept as colour (OpenCV's 8UC3 is BGR): either is fine.
MAYBE_COLOUR = ('8UC1', '8UC3', '8UC4', 'RGB8', 'rgb8 ')


@pytest.mark.parametrize('encoding,size', DEPTH_ENCODINGS + OTHER_ENCODINGS,
                         ids=[e[:20] or 'empty' for e, _ in DEPTH_ENCODINGS + OTHER_ENCODINGS])
def test_any_encoding_is_dropped_with_a_line_or_served(bb, encoding, size):
    mark = bb.begin()
    stamp = bb.stamp()
    rng = np.random.default_rng(len(encoding))
    data = rng.integers(0, 256, bb.W * bb.H * size, dtype=np.uint8)
    msg = raw_image(bb.W, bb.H, encoding, bb.W * size, data, stamp, bigendian=size % 2)
    delta = bb.feed(msg, bb.good_info(stamp))
    if encoding in MAYBE_COLOUR and delta.get('frames_published'):
        pass
    else:
        named = (re.escape(encoding) if encoding.strip()
                 else r"encoding ''|empty encoding|no encoding")
        if encoding == '16UC1':
            named = trouble('dropped frame: image encoding')
        expect_drop_line(bb, mark, 'encoding', named[:60] if encoding != '16UC1' else named,
                         delta)
    bb.good_frame(mark)


BAD_FIELDS = {
    # name: (width, height, step, data bytes, kind, pattern)
    'step_short': (64, 48, 64 * 3 - 1, 64 * 48 * 3, 'step', r'step'),
    'step_zero': (64, 48, 0, 64 * 48 * 3, 'step', r'step'),
    'data_short': (64, 48, 64 * 3, 64 * 48 * 3 - 10, 'data-size', r'bytes|data'),
    'data_empty': (64, 48, 64 * 3, 0, 'data-size', r'bytes|data|empty'),
    'width_zero': (0, 48, 0, 0, 'empty', r'empty|0x48'),
    'height_zero': (64, 0, 64 * 3, 0, 'empty', r'empty|64x0'),
    'huge_no_data': (2 ** 32 - 1, 2 ** 32 - 1, 2 ** 32 - 1, 64, 'data-size', r'bytes|data'),
    'huge_step': (64, 48, 2 ** 32 - 1, 64 * 48 * 3, 'data-size', r'bytes|data'),
}


@pytest.mark.parametrize('name', list(BAD_FIELDS))
def test_inconsistent_image_fields_are_dropped_with_a_line(bb, name):
    width, height, step, nbytes, kind, pattern = BAD_FIELDS[name]
    mark = bb.begin()
    stamp = bb.stamp()
    msg = raw_image(width, height, 'rgb8', step, bytes(nbytes), stamp)
    info = camera_info(max(width, 1) if width < 2 ** 20 else 64,
                       max(height, 1) if height < 2 ** 20 else 48, 60.0, 60.0, 31.5, 23.5,
                       stamp=stamp, frame_id=bb.FRAME_ID)
    delta = bb.feed(msg, info)
    expect_drop_line(bb, mark, kind, pattern, delta, ('bad_image', 'bad_camera_info'))
    bb.good_frame(mark)


@pytest.mark.parametrize('width,height', [(1, 1), (2, 2), (1, 48), (64, 1), (3, 10000),
                                          (10000, 3)])
def test_extreme_image_sizes_are_served_or_dropped_with_a_line(bb, width, height):
    """Issue 8 item 6: a 3x10000 image was dropped with a raw torch message."""
    mark = bb.begin()
    stamp = bb.stamp()
    rgb = textured_image(height, width, seed=width)
    intr = Intr(width, height, 60.0, 60.0, (width - 1) / 2, (height - 1) / 2)
    info = camera_info(width, height, intr.fx, intr.fy, intr.cx, intr.cy, stamp=stamp,
                       frame_id=bb.FRAME_ID)
    msg = rgb_image(width, height, rgb, stamp=stamp, frame_id=bb.FRAME_ID)
    delta = bb.feed(msg, info)
    if delta.get('frames_published'):
        depth, out_info, cloud = bb.outputs(stamp)
        bb.check_frame(depth, out_info, cloud, stamp, rgb, intr, frame_id=bb.FRAME_ID)
    else:
        assert not [line for line in bb.proc.since(mark) if 'RuntimeError' in line
                    or 'torch' in line], bb.proc.tail(mark)
        expect_drop_line(bb, mark, 'image-size', trouble('dropped frame: image of'), delta)
    bb.good_frame(mark)


# --------------------------------------------------------------------------- camera_info

def info_msg(width, height, *, k=None, p=None, d=(0.0,) * 5, model='plumb_bob', binning=(0, 0),
             roi=(0, 0, 0, 0), r=(1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)):
    msg = CameraInfo()
    msg.width, msg.height = width, height
    msg.distortion_model = model
    msg.d = [float(v) for v in d]
    msg.k = [float(v) for v in (k if k is not None else [0.0] * 9)]
    msg.r = [float(v) for v in r]
    msg.p = [float(v) for v in (p if p is not None else [0.0] * 12)]
    msg.binning_x, msg.binning_y = binning
    msg.roi.x_offset, msg.roi.y_offset, msg.roi.width, msg.roi.height = roi
    return msg


def kp(fx, fy, cx, cy):
    """Return ``(K, P)`` of a rectified pinhole camera."""
    return ([fx, 0, cx, 0, fy, cy, 0, 0, 1], [fx, 0, cx, 0, 0, fy, cy, 0, 0, 0, 1, 0])


K, P = kp(60.0, 60.0, 31.5, 23.5)
NAN = float('nan')
INF = float('inf')

#: camera_info cases for the 64x48 good image: served with the given intrinsics of the
#: image as published (binning and ROI applied), or dropped with a line (kind, pattern).
INFO_CASES = {
    'p_all_zero_uses_k': (info_msg(64, 48, k=kp(75.0, 70.0, 30.0, 20.0)[0]),
                          Intr(64, 48, 75.0, 70.0, 30.0, 20.0)),
    'k_nan_p_valid': (info_msg(64, 48, k=[NAN] * 9, p=P), Intr(64, 48, 60, 60, 31.5, 23.5)),
    'binning_2x2': (info_msg(128, 96, binning=(2, 2), **dict(zip('kp', kp(120, 120, 63.5,
                                                                          47.5)))),
                    Intr(64, 48, 60.0, 60.0, 31.75, 23.75)),
    'binning_4x2': (info_msg(256, 96, binning=(4, 2), **dict(zip('kp', kp(240, 120, 127.5,
                                                                          47.5)))),
                    Intr(64, 48, 60.0, 60.0, 31.875, 23.75)),
    'roi': (info_msg(128, 96, roi=(32, 16, 64, 48), **dict(zip('kp', kp(60, 60, 63.5, 47.5)))),
            Intr(64, 48, 60.0, 60.0, 31.5, 31.5)),
    'roi_and_binning': (info_msg(256, 192, binning=(2, 2), roi=(64, 32, 128, 96),
                                 **dict(zip('kp', kp(120, 120, 127.5, 95.5)))),
                        Intr(64, 48, 60.0, 60.0, 31.75, 31.75)),
    'r_all_zero': (info_msg(64, 48, k=K, p=P, r=[0.0] * 9), Intr(64, 48, 60, 60, 31.5, 23.5)),
    'plumb_bob_distortion_ignored': (info_msg(64, 48, k=K, p=P, d=[0.1, 0.01, 0, 0, 0]),
                                     Intr(64, 48, 60, 60, 31.5, 23.5)),
    'unknown_distortion_model': (info_msg(64, 48, k=K, p=P, model='fancy_lens', d=[0.1] * 7),
                                 Intr(64, 48, 60, 60, 31.5, 23.5)),
    'd_nan': (info_msg(64, 48, k=K, p=P, d=[NAN] * 5), Intr(64, 48, 60, 60, 31.5, 23.5)),
    'd_empty': (info_msg(64, 48, k=K, p=P, d=[]), Intr(64, 48, 60, 60, 31.5, 23.5)),
    'all_zero': (info_msg(64, 48), ('focal',
                                    'dropped frame: camera_info K has no focal length')),
    'p_nan': (info_msg(64, 48, k=K, p=[NAN] + P[1:]), ('non-finite', r'(?i)nan|finite')),
    'p_inf': (info_msg(64, 48, k=K, p=[INF] + P[1:]), ('non-finite', r'(?i)inf|finite')),
    'negative_fx': (info_msg(64, 48, **dict(zip('kp', kp(-60, 60, 31.5, 23.5)))),
                    ('focal', r'-60')),
    'size_mismatch': (info_msg(128, 96, **dict(zip('kp', kp(60, 60, 63.5, 47.5)))),
                      ('info-size', 'dropped frame: camera_info is for')),
    'size_zero': (info_msg(0, 0, k=K, p=P), ('info-no-size', r'0x0|size')),
}


@pytest.mark.parametrize('name', list(INFO_CASES))
def test_camera_info_oddities(bb, name):
    info, expect = INFO_CASES[name]
    mark = bb.begin()
    stamp = bb.stamp()
    info.header.stamp.sec, info.header.stamp.nanosec = stamp
    info.header.frame_id = bb.FRAME_ID
    delta = bb.feed(bb.good_image(stamp), info)
    if isinstance(expect, Intr):
        assert delta.get('frames_published') == 1, (delta, bb.proc.tail(mark))
        depth, out_info, cloud = bb.outputs(stamp)
        bb.check_frame(depth, out_info, cloud, stamp, bb.rgb, expect, frame_id=bb.FRAME_ID)
        assert np.array_equal(out_info.k, info.k, equal_nan=True), out_info.k
        if name == 'plumb_bob_distortion_ignored':
            bb.proc.wait_line(trouble('camera_info has non-zero distortion'), 5.0, mark)
    else:
        kind, pattern = expect
        if pattern.startswith('dropped frame: '):
            pattern = trouble(pattern)
        expect_drop_line(bb, mark, kind, pattern, delta, ('bad_camera_info',))
    bb.good_frame(mark)


@pytest.mark.parametrize('name,fx', [('absurd_large', 1e300), ('absurd_small', 1e-300),
                                     ('huge', 1e12)])
def test_absurd_focal_length_gets_a_line(bb, name, fx):
    """Issue 8 item 6: fx = 1e300 gave an all-NaN depth and no line."""
    mark = bb.begin()
    stamp = bb.stamp()
    info = camera_info(64, 48, fx, fx, 31.5, 23.5, stamp=stamp, frame_id=bb.FRAME_ID)
    delta = bb.feed(bb.good_image(stamp), info)
    assert delta.get('dropped.error', 0) == 0, bb.proc.tail(mark)
    if delta.get('frames_published'):
        depth, _, _ = bb.outputs(stamp)
        values = check_depth.__globals__['image_fields_to_depth'](depth)
        assert not np.isinf(values).any(), 'infinite depth published (REP 117: NaN or finite)'
    if quiet(bb, 'focal'):
        bb.proc.wait_line(trouble('dropped frame: camera_info P focal length'), 5.0, mark)
    bb.good_frame(mark)


def rectified(rgb, info):
    """Return the image of the rectified camera and its valid mask, as image_geometry does."""
    import cv2
    w, h = info.width, info.height
    k = np.array(info.k, np.float64).reshape(3, 3)
    p = np.array(info.p, np.float64).reshape(3, 4)[:, :3]
    r = np.array(info.r, np.float64).reshape(3, 3)
    d = np.array(info.d, np.float64)
    if info.distortion_model == 'equidistant':
        maps = cv2.fisheye.initUndistortRectifyMap(k, d[:4], r, p, (w, h), cv2.CV_16SC2)
    else:
        maps = cv2.initUndistortRectifyMap(k, d, r, p, (w, h), cv2.CV_16SC2)
    out = cv2.remap(np.ascontiguousarray(rgb), *maps, cv2.INTER_LINEAR,
                    borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    valid = cv2.remap(np.full((h, w), 255, np.uint8), *maps, cv2.INTER_LINEAR,
                      borderMode=cv2.BORDER_CONSTANT, borderValue=0) == 255
    return out, valid


UNDISTORT_CASES = {
    'plumb_bob': (info_msg(64, 48, k=K, p=P, d=[-0.2, 0.05, 0.001, -0.001, 0.0]), None),
    'rational_polynomial': (info_msg(64, 48, k=K, p=P, model='rational_polynomial',
                                     d=[-0.2, 0.05, 0, 0, 0, 0.01, 0, 0]), None),
    'equidistant': (info_msg(64, 48, k=K, p=P, model='equidistant', d=[0.05, 0.01, 0, 0]),
                    None),
    'unknown_model': (info_msg(64, 48, k=K, p=P, model='fancy_lens', d=[0.1] * 5),
                      ('undistort-model', 'dropped frame: cannot undistort')),
    'binned': (info_msg(128, 96, binning=(2, 2), d=[-0.2, 0.05, 0, 0, 0],
                        **dict(zip('kp', kp(120, 120, 63.5, 47.5)))),
               ('undistort-binning', 'undistorting binned or ROI')),
    'equidistant_short': (info_msg(64, 48, k=K, p=P, model='equidistant', d=[0.05, 0.01]),
                          ('undistort-coefficients', r'equidistant.*coefficients')),
    'd_nan': (info_msg(64, 48, k=K, p=P, d=[NAN, 0, 0, 0, 0]),
              ('non-finite', r'(?i)nan|finite')),
}


def test_undistortion_oddities(bb):
    """input_rectified false: distorted cameras undistorted here, or dropped with a line."""
    mark = bb.begin()
    assert bb.peer.set_one('input_rectified', False).successful
    try:
        for name, (info, problem) in UNDISTORT_CASES.items():
            stamp = bb.stamp()
            info.header.stamp.sec, info.header.stamp.nanosec = stamp
            info.header.frame_id = bb.FRAME_ID
            delta = bb.feed(bb.good_image(stamp), info)
            if problem is None:
                assert delta.get('frames_published') == 1, (name, delta, bb.proc.tail(mark))
                depth, out_info, cloud = bb.outputs(stamp, mark=mark)
                assert list(out_info.d) == [0.0] * len(out_info.d), name
                assert list(out_info.k) == list(K) and list(out_info.p) == list(P), name
                pixels, valid = rectified(bb.rgb, info)
                expected = np.where(valid, bb.expected(pixels, 60.0, 60.0), np.nan)
                values = check_depth(depth, expected)
                check_cloud(cloud, values, bb.intr, pixels)
            else:
                kind, pattern = problem
                if pattern.startswith(('dropped frame: ', 'undistorting')):
                    pattern = trouble(pattern)
                expect_drop_line(bb, mark, kind, pattern, delta, ('bad_camera_info',))
    finally:
        assert bb.peer.set_one('input_rectified', True).successful
    bb.good_frame(mark)


# --------------------------------------------------------------------------- stamps, frame_id

STAMPS = {'zero': (0, 0), 'one_ns': (0, 1), 'far_future': (2 ** 31 - 1, 999_999_999),
          'negative': (-2 ** 31, 0), 'nanosec_overflow': (7, 2 ** 32 - 1)}


@pytest.mark.parametrize('name', list(STAMPS))
def test_odd_stamps_are_served_with_the_header_verbatim(bb, name):
    """Issue 8 item 1: stamps going back logged a WARN where an INFO had been: crash."""
    stamp = STAMPS[name]
    mark = bb.begin()
    with bb.peer.cond:
        for bucket in bb.peer.outputs.values():
            bucket.pop(stamp, None)
    bb.peer.publish(bb.good_image(stamp), bb.good_info(stamp))
    depth, info, cloud = bb.outputs(stamp)
    bb.check_frame(depth, info, cloud, stamp, bb.rgb, bb.intr, frame_id=bb.FRAME_ID)
    bb.good_frame(mark)


def test_equal_stamps_each_frame_is_accounted(bb):
    mark = bb.begin()
    stamp = bb.stamp()
    for _ in range(3):
        delta = bb.feed(bb.good_image(stamp), bb.good_info(stamp))
        assert delta.get('dropped.error', 0) == 0 and (
            delta.get('frames_published') or delta.get('frames_dropped')), delta
    bb.good_frame(mark)


@pytest.mark.parametrize('frame_id', ['', 'k' * 10000, 'kamera_\u00fc\u6f22', '/a/b c'])
def test_odd_frame_ids_are_kept_verbatim(bb, frame_id):
    mark = bb.begin()
    stamp = bb.stamp()
    bb.peer.publish(bb.good_image(stamp, frame_id=frame_id), bb.good_info(stamp, frame_id))
    depth, info, cloud = bb.outputs(stamp)
    bb.check_frame(depth, info, cloud, stamp, bb.rgb, bb.intr, frame_id=frame_id)
    if quiet(bb, 'frame_id'):
        bb.proc.wait_line(r'frame_id changed', 5.0, mark)
    bb.good_frame(mark)


def change_lines(session, mark, what):
    return session.proc.matching(what, mark)


def test_frame_id_changing_every_frame_is_said_once(bb):
    """Issue 8 item 5: a frame_id changing every frame printed one line per frame."""
    mark = bb.begin()
    for i in range(12):
        stamp = bb.stamp()
        frame_id = f'cam_{i}'
        bb.peer.publish(bb.good_image(stamp, frame_id=frame_id), bb.good_info(stamp, frame_id))
        depth, info, cloud = bb.outputs(stamp)
        assert depth.header.frame_id == frame_id and cloud.header.frame_id == frame_id
    lines = change_lines(bb, mark, r'frame_id')
    assert len(lines) <= 2, '\n'.join(lines)
    if quiet(bb, 'frame_id'):  # else the node still throttles an earlier change line
        assert lines, 'no line for a changed frame_id'
    bb.good_frame(mark)


def test_two_cameras_of_different_sizes_on_one_topic_are_said_once(bb):
    """Issue 8 item 5: two publishers of different sizes printed a 'changed' line per frame."""
    mark = bb.begin()
    second = bb.peer.create_publisher(Image, 'image', 10)
    small = textured_image(24, 32, seed=9)
    small_intr = Intr(32, 24, 30.0, 30.0, 15.5, 11.5)
    try:
        bb.peer.wait_for(lambda: second.get_subscription_count() > 0, 10.0, 'second camera')
        for i in range(12):
            stamp = bb.stamp()
            if i % 2:
                bb.peer.info_pub.publish(camera_info(32, 24, 30.0, 30.0, 15.5, 11.5,
                                                     stamp=stamp, frame_id=bb.FRAME_ID))
                second.publish(rgb_image(32, 24, small, stamp=stamp, frame_id=bb.FRAME_ID))
                rgb, intr = small, small_intr
            else:
                bb.peer.publish(bb.good_image(stamp), bb.good_info(stamp))
                rgb, intr = bb.rgb, bb.intr
            depth, info, cloud = bb.outputs(stamp)
            bb.check_frame(depth, info, cloud, stamp, rgb, intr, frame_id=bb.FRAME_ID)
    finally:
        bb.peer.destroy_publisher(second)
    bb.proc.wait_line(trouble('image size changed'), 5.0, mark)
    for what in (r'size changed', r'camera changed'):
        lines = change_lines(bb, mark, what)
        assert len(lines) <= 2, '\n'.join(lines)
    bb.good_frame(mark)


class Streamer:
    """Publish the good frame (image + camera_info) at ``hz`` from a thread until stopped."""

    def __init__(self, session, hz: float = 150.0, with_info: bool = True):
        self.session, self.period, self.with_info = session, 1.0 / hz, with_info
        self.sent = 0
        self.last = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=10.0)

    def _run(self):
        s = self.session
        image = s.good_image((0, 0))
        info = s.good_info((0, 0))
        next_due = time.monotonic()
        while not self._stop.is_set():
            stamp = s.stamp()
            image.header.stamp.sec, image.header.stamp.nanosec = stamp
            if self.with_info:
                info.header.stamp.sec, info.header.stamp.nanosec = stamp
                s.peer.info_pub.publish(info)
            s.peer.image_pub.publish(image)
            self.sent += 1
            self.last = stamp
            next_due += self.period
            self._stop.wait(max(0.0, next_due - time.monotonic()))

    def wait_new_output(self, predicate=None, timeout=20.0, what='a new output'):
        """Wait for a depth output sent after this call (and matching ``predicate``)."""
        peer = self.session.peer
        start = self.last or (0, 0)

        def arrived():
            return any(stamp > start and kind == 'depth'
                       and (predicate is None or predicate(peer.outputs['depth'][stamp]))
                       for kind, stamp in peer.arrivals[-64:]
                       if stamp in peer.outputs['depth'])
        peer.wait_for(arrived, timeout, what)


def test_camera_info_pausing_then_coming_back(bb):
    """Issue 8 item 1: 'camera_info stopped' (WARN) after an INFO line killed the node."""
    mark = bb.begin()
    bb.good_frame(mark)
    with Streamer(bb, hz=30.0, with_info=False):
        bb.proc.wait_line(trouble('no camera_info on /camera_info for'), 15.0, mark)
        bb.healthy(mark)
    with Streamer(bb, hz=30.0) as stream:
        bb.proc.wait_line(r'camera_info .*again', 10.0, mark)
        stream.wait_new_output()
    bb.good_frame(mark)


@pytest.mark.parametrize('order', ['info_first', 'image_first'])
def test_bag_loop_after_a_size_change(bb, order):
    """
    Issue 8 item 1: an INFO 'size changed' then a WARN 'stamp went backwards': crash.

    The first frame of the loop comes with its own camera_info, before or after the
    image (two topics: either order happens); it must be served with that one, not
    with the last camera_info of the old stream.
    """
    mark = bb.begin()
    small = textured_image(24, 32, seed=4)
    intr = Intr(32, 24, 30.0, 30.0, 15.5, 11.5)
    stamp = bb.stamp()
    bb.peer.publish(rgb_image(32, 24, small, stamp=stamp, frame_id=bb.FRAME_ID),
                    camera_info(32, 24, 30.0, 30.0, 15.5, 11.5, stamp=stamp,
                                frame_id=bb.FRAME_ID))
    depth, info, cloud = bb.outputs(stamp, mark=mark)
    bb.check_frame(depth, info, cloud, stamp, small, intr, frame_id=bb.FRAME_ID)
    loop = (stamp[0] - 500, 0)
    if order == 'info_first':
        bb.peer.publish(bb.good_image(loop), bb.good_info(loop))
    else:
        bb.peer.publish(bb.good_image(loop))
        bb.peer.publish(info=bb.good_info(loop))
    depth, info, cloud = bb.outputs(loop, mark=mark)
    bb.check_frame(depth, info, cloud, loop, bb.rgb, bb.intr, frame_id=bb.FRAME_ID)
    if quiet(bb, 'stamp'):
        bb.proc.wait_line(trouble('image stamp went backwards'), 5.0, mark)
    bb.good_frame(mark)


def test_stamps_all_zero(bb):
    """Issue 8 item 1: a camera that leaves every stamp zero."""
    mark = bb.begin()
    for _ in range(4):
        delta = bb.feed(bb.good_image((0, 0)), bb.good_info((0, 0)))
        assert delta.get('dropped.error', 0) == 0 and delta.get('frames_published') == 1, (
            delta, bb.proc.tail(mark))
    bb.healthy(mark)
    bb.good_frame(mark)


# --------------------------------------------------------------------------- run-time changes

DEFAULTS = {'rate': 0.0, 'depth_encoding': '32FC1', 'publish_points': True, 'points.rgb': True,
            'points.stride': 1, 'points.organized': True, 'min_depth': 0.0, 'max_depth': 0.0,
            'reference_focal': 0.0, 'focal_scaling': True, 'input_rectified': True}

#: Values every path (YAML, command line, set_parameters) must refuse, with a reason naming
#: the parameter: (name, value, forced wire type or None).
REFUSED = [
    ('depth_encoding', 'mono8', None), ('depth_encoding', '', None), ('rate', -1.0, None),
    ('rate', 1e9, None), ('rate', float('nan'), None), ('rate', 'fast', None),
    ('rate', True, None), ('points.stride', 0, None), ('points.stride', 65, None),
    ('points.stride', 2.5, None), ('min_depth', -1.0, None), ('max_depth', float('inf'), None),
    ('reference_focal', -5.0, None), ('model', 'other', None), ('device', 'cuda', None),
    ('diagnostics_period', 5.0, None), ('input_transport', 'compressed', None),
]


def test_parameter_changes_while_frames_stream(bb):
    """Run-time changes at 150 Hz input; issue 8 items 2 and 6 (integers, min > max)."""
    mark = bb.begin()
    peer = bb.peer
    failures = []
    with Streamer(bb, hz=150.0) as stream:
        stream.wait_new_output()

        def set_ok(name, value, type_=None):
            result = peer.set_one(name, value, type_)
            if not result.successful:
                failures.append(f'{name}={value!r} refused: {result.reason!r}')
            return result

        set_ok('depth_encoding', '16UC1')
        stream.wait_new_output(lambda m: m.encoding == '16UC1', what='a 16UC1 depth image')
        set_ok('points.stride', 4)
        stream.wait_new_output(lambda m: True)
        peer.wait_for(lambda: any(m.width == 16 for m in list(peer.outputs['points'].values())),
                      20.0, 'a cloud of stride 4')
        for name, value in [('points.organized', False), ('points.rgb', False),
                            ('min_depth', 0.5), ('max_depth', 50.0), ('reference_focal', 300.0),
                            ('focal_scaling', False), ('input_rectified', False),
                            ('publish_points', False), ('rate', 5.0)]:
            set_ok(name, value)
        stream.wait_new_output()
        # Integers for double parameters (issue 8 item 2): what users type.
        for name, value in [('rate', 5), ('min_depth', 0), ('max_depth', 40),
                            ('reference_focal', 250), ('rate', 0)]:
            result = set_ok(name, value, Parameter.Type.INTEGER)
            if result.successful:
                assert peer.get_node_parameter(name) == value
        # min_depth above max_depth would empty the cloud (issue 8 item 6).
        peer.set_one('max_depth', 2.0)
        result = peer.set_one('min_depth', 3.0)
        if result.successful:
            failures.append('min_depth 3.0 > max_depth 2.0 accepted')
        else:
            assert 'min_depth' in result.reason and 'max_depth' in result.reason, result.reason
        # set_parameters applies each parameter on its own: whatever is accepted, the
        # node must never end up with min_depth above max_depth.
        peer.set_node_parameters([Parameter('max_depth', value=1.0),
                                  Parameter('min_depth', value=1.5)])
        low, high = peer.get_node_parameter('min_depth'), peer.get_node_parameter('max_depth')
        if high and low > high:
            failures.append(f'min_depth {low} > max_depth {high} after one set_parameters')
        for name, value, type_ in REFUSED:
            before = peer.get_node_parameter(name)
            result = peer.set_one(name, value, type_)
            if result.successful:
                failures.append(f'{name}={value!r} accepted')
                continue
            if name not in result.reason or 'Wrong parameter type' in result.reason:
                failures.append(f'{name}={value!r}: reason does not say what is wrong: '
                                f'{result.reason!r}')
            assert peer.get_node_parameter(name) == before
        result = peer.set_one('depth_encoding', 'mono8')
        assert result.reason == "depth_encoding must be one of '32FC1', '16UC1'; got 'mono8'"
        results = peer.set_node_parameters([Parameter(k, value=v) for k, v in DEFAULTS.items()])
        assert all(r.successful for r in results), [r.reason for r in results]
        stream.wait_new_output(lambda m: m.encoding == '32FC1', what='32FC1 again')
        bb.healthy(mark)
    bb.good_frame(mark)
    assert not failures, '\n'.join(failures)


def test_subscribers_coming_and_going(bb):
    mark = bb.begin()
    peer = bb.peer
    with Streamer(bb, hz=100.0) as stream:
        stream.wait_new_output()
        peer.unsubscribe_outputs()
        bb.proc.wait_line(trouble('no subscriber on'), 10.0, mark)
        before = peer.settled_counters()
        peer.wait_for(lambda: peer.counters().get('dropped.idle', 0)
                      > before.get('dropped.idle', 0), 10.0, 'frames dropped as idle')
        for _ in range(10):
            peer.subscribe_outputs()
            peer.unsubscribe_outputs()
        from rclpy.qos import qos_profile_sensor_data
        got = []
        sub = peer.create_subscription(Image, 'depth/image', got.append,
                                       qos_profile_sensor_data)
        peer.wait_for(lambda: len(got) > 3, 20.0, 'depth images on a best-effort subscriber')
        peer.destroy_subscription(sub)
        peer.subscribe_outputs()
        stream.wait_new_output()
        bb.healthy(mark)
    bb.good_frame(mark)


def test_large_frame_leaves_no_lasting_memory(bb):
    """
    Issue 8 item 6: a 4000x3000 frame left the process 300 MB larger afterwards.

    What the node allocates for the frame goes back to the OS; what stays is Fast DDS's
    history buffers at the size of the largest message per topic (doc/operations.md):
    at most the frame's image, depth and cloud messages, and a second such frame adds
    nothing (no leak, no pile-up).
    """
    mark = bb.begin()
    width, height = 4000, 3000
    middleware = (width * height * (3 + 4 + 16)) / 1e6  # image, 32FC1 depth, xyz+rgb cloud
    bb.peer.unsubscribe_outputs()
    bb.peer.subscribe_outputs(points=False)  # the test process need not hold 192 MB clouds
    try:
        for _ in range(3):
            bb.good_frame(mark, points=False)
        rss = [bb.proc.rss_mb()]
        for _ in range(2):
            rgb = np.broadcast_to(bb.rgb[:1, :1], (height, width, 3))
            stamp = bb.stamp()
            info = camera_info(width, height, 3000.0, 3000.0, 1999.5, 1499.5, stamp=stamp,
                               frame_id=bb.FRAME_ID)
            bb.peer.publish(rgb_image(width, height, np.ascontiguousarray(rgb), stamp=stamp,
                                      frame_id=bb.FRAME_ID), info)
            depth, out_info, _ = bb.outputs(stamp, 120.0, points=False, mark=mark)
            assert (depth.width, depth.height) == (width, height)
            del depth, out_info
            with bb.peer.cond:
                for bucket in bb.peer.outputs.values():
                    bucket.clear()
            for _ in range(3):
                bb.good_frame(mark, points=False)
            rss.append(bb.proc.rss_mb())
    finally:
        bb.peer.unsubscribe_outputs()
        bb.peer.subscribe_outputs()
    bb.good_frame(mark)
    bb.proc.wait_line(trouble('4000x3000 frame: its messages take'), 5.0, mark)
    first, second = rss[1] - rss[0], rss[2] - rss[1]
    assert first < middleware + 40.0, (
        f'RSS {rss} MB: +{first:.0f} MB after one 4000x3000 frame (Fast DDS keeps '
        f'{middleware:.0f} MB of message buffers)')
    assert second < 30.0, f'RSS {rss} MB: a second 4000x3000 frame added {second:.0f} MB'


def test_sigterm_under_load_stops_cleanly(bb):
    """The last case of the shared node: SIGTERM while frames stream at 100 Hz."""
    mark = bb.begin()
    with Streamer(bb, hz=100.0) as stream:
        stream.wait_new_output()
        bb.proc.signal(signal.SIGTERM)
        code = bb.proc.wait_exit(15.0)
    assert code == 0, f'exit status {code}:\n{bb.proc.tail(mark)}'
    assert not bb.proc.tracebacks(0), bb.proc.tail(0, 80)


# --------------------------------------------------------------------------- start-up

def one_error_line(proc, pattern, timeout=120.0):
    """Check the process exits non-zero with one error line matching ``pattern``, no traceback."""
    started = re.compile(r'\bready: |waiting for a publisher|subscribed to ')
    deadline = time.monotonic() + timeout
    with proc.cond:  # fail at once when the node starts serving instead of refusing
        while proc.alive() and time.monotonic() < deadline:
            if any(started.search(line) for line in proc.lines):
                break
            proc.cond.wait(0.1)
    code = proc.wait_exit(0.1 if proc.alive() else 10.0)
    out = proc.since(0)
    assert code not in (0, None), f'exit status {code}:\n' + '\n'.join(out[-30:])
    assert not proc.tracebacks(0), '\n'.join(out[-60:])
    errors = [line for line in out if re.search(r'(?i)error', line)]
    assert len(errors) == 1, '\n'.join(out[-30:])
    assert re.search(pattern, errors[0]), errors[0]
    return errors[0]


MODE_LINE = re.escape("depth_encoding must be one of '32FC1', '16UC1'; got 'mono8'")


def damage_weights(src, dst):
    make_fast_checkpoint(src, dst)
    path = os.path.join(dst, 'model.safetensors')
    with open(path, 'rb') as f:
        data = f.read()
    with open(path, 'wb') as f:
        f.write(data[:len(data) // 2])
    return str(dst)


def damage_size(src, dst):
    make_fast_checkpoint(src, dst, size=-56)
    return str(dst)


@pytest.fixture(scope='module')
def startup(ros_domain_id, fast_da_dir, tiny_da_dir, tmp_path_factory):
    """Start every start-up case at once (each is a short process, most of them fail)."""
    from depth_node.testing.tiny_models import make_depth_anything
    import torch
    tmp = tmp_path_factory.mktemp('bb_startup')
    truncated = damage_weights(tiny_da_dir, tmp / 'truncated')
    bad_size = damage_size(tiny_da_dir, tmp / 'bad_size')
    relative = make_depth_anything(tmp / 'relative', metric=False)
    model = ['-p', f'model:={fast_da_dir}', '-p', 'device:=cpu']
    cases = {
        'waiting': (model, None),
        'configure_failed': (['-p', f'model:={truncated}', '-p', 'device:=cpu',
                              '-p', 'autostart:=false'], None),
        'hub_offline': (['-p', 'model:=depth-anything/Depth-Anything-V2-Metric-Indoor-Small-hf'],
                        trouble('error: cannot fetch')),
        'relative': (['-p', f'model:={relative}', '-p', 'device:=cpu'],
                     trouble("error: '...' is a relative-depth")),
        'cli_choice': (model + ['-p', 'depth_encoding:=mono8'], MODE_LINE),
        'yaml_choice': (model + ['--params-file', write_params(
            tmp / 'choice.yaml', depth_encoding='"mono8"')], MODE_LINE),
        # README, Parameters: as set_parameters says it (rclpy's declared range).
        'cli_out_of_range': (model + ['-p', 'rate:=-1.0'], re.escape(
            'error: invalid parameter rate: Parameter rate out of range Min: 0.0, Max: 1000.0, '
            'value: -1.0')),
        'yaml_min_above_max': (model + ['--params-file', write_params(
            tmp / 'minmax.yaml', min_depth=3.0, max_depth=2.0)],
            r'min_depth.*max_depth|max_depth.*min_depth'),
        'truncated_weights': (['-p', f'model:={truncated}', '-p', 'device:=cpu'],
                              f'^(?=.*{re.escape(truncated)}).*'
                              + trouble('error: .../model.safetensors is corrupt')),
        'bad_processor_size': (['-p', f'model:={bad_size}', '-p', 'device:=cpu'],
                               f'^(?=.*{re.escape(bad_size)}).*'
                               + trouble('preprocessor_config.json has an unusable size')),
    }
    if not torch.cuda.is_available():
        cases['no_cuda'] = (model[:2] + ['-p', 'device:=cuda'],
                            trouble("error: device 'cuda' requested"))
    procs = {}
    for name, (args, pattern) in cases.items():
        procs[name] = (NodeProcess(['-r', f'__ns:=/bb_{name}'] + args, ros_domain_id).start(),
                       pattern)
    yield procs
    for proc, _ in procs.values():
        proc.stop()


@pytest.mark.parametrize('name', ['cli_choice', 'yaml_choice', 'cli_out_of_range',
                                  'yaml_min_above_max', 'truncated_weights',
                                  'bad_processor_size'])
def test_bad_start_ends_in_one_line(startup, name):
    """Issue 8 items 4 and 6, and README: "validated the same way from YAML, the command line"."""
    proc, pattern = startup[name]
    one_error_line(proc, pattern)


@pytest.mark.parametrize('name', ['hub_offline', 'relative', 'no_cuda'])
def test_start_with_an_unusable_model_ends_in_one_line(startup, name):
    if name not in startup:
        pytest.skip('a CUDA GPU is visible')
    proc, pattern = startup[name]
    one_error_line(proc, pattern)


def test_waiting_for_a_publisher(startup):
    proc, _ = startup['waiting']
    proc.wait_line(trouble("input_qos 'auto': waiting for a publisher"), 90.0)
    proc.signal(signal.SIGINT)
    assert proc.wait_exit(15.0) == 0 and not proc.tracebacks(), proc.tail()


def test_configure_failure_says_why(startup, bb_context):
    """Issue 8 item 4 through the lifecycle: 'configure failed' said no more."""
    from lifecycle_msgs.msg import Transition
    proc, _ = startup['configure_failed']
    peer = RosPeer(bb_context, '/bb_configure_failed')
    try:
        assert peer.get_state(90.0) == 'unconfigured', proc.tail()
        assert not peer.change_state(Transition.TRANSITION_CONFIGURE)
        line = proc.wait_line(trouble('configure failed'), 10.0)
        assert re.search(r'model\.safetensors.*(corrupt|truncated)', line), line
        assert peer.get_state() == 'unconfigured'
        assert not proc.tracebacks(), proc.tail()
        proc.signal(signal.SIGINT)
        assert proc.wait_exit(15.0) == 0, proc.tail()
    finally:
        peer.close()


@pytest.fixture(scope='module')
def bad_ros_args(ros_domain_id, tmp_path_factory):
    """Start one process per ROS-argument mistake of issue 16 item 11, all at once."""
    tmp = tmp_path_factory.mktemp('bb_ros_args')
    misspelt = tmp / 'misspelt.yaml'
    misspelt.write_text('/**:\n  ros_parameters:\n    rate: 5.0\n')
    cases = {
        'missing_params_file': (['--params-file', str(tmp / 'missing.yaml')],
                                trouble('error: --params-file ...: no such file')),
        'misspelt_ros_parameters': (['--params-file', str(misspelt)],
                                    trouble("error: --params-file ...: 'ros_parameters'")),
        'param_without_value': (['-p', 'rate'], trouble('error: -p rate: no value')),
        'remap_without_target': (['-r', 'image'], trouble('error: -r image: no target')),
        'unknown_argument': (['-x'], trouble('error: unknown ROS argument')),
    }
    procs = {name: (NodeProcess(['-r', f'__ns:=/bb_{name}'] + args, ros_domain_id).start(),
                    pattern) for name, (args, pattern) in cases.items()}
    yield procs
    for proc, _ in procs.values():
        proc.stop()


@pytest.mark.parametrize('name', ['missing_params_file', 'misspelt_ros_parameters',
                                  'param_without_value', 'remap_without_target',
                                  'unknown_argument'])
def test_bad_ros_arguments_end_in_one_line_and_status_2(bad_ros_args, name):
    """Issue 16 item 11: each ended in rcl's traceback and exit status 1."""
    proc, pattern = bad_ros_args[name]
    one_error_line(proc, pattern)
    assert proc.wait_exit(10.0) == 2, proc.tail()


def test_offline_start_fails_fast_in_node_terms(ros_domain_id, tmp_path):
    """
    Issue 16 item 10: without HF_HUB_OFFLINE the node retried the Hub for 30 s.

    The Hub's host refuses at once here (the discard port on localhost), as on a
    machine whose DNS fails at once; the cache is empty.
    """
    env = {'HF_HUB_OFFLINE': '0', 'TRANSFORMERS_OFFLINE': '0',
           'HF_ENDPOINT': 'http://127.0.0.1:9', 'HF_HOME': str(tmp_path),
           'HF_HUB_CACHE': str(tmp_path / 'hub'), 'HTTPS_PROXY': '', 'https_proxy': '',
           'ALL_PROXY': '', 'all_proxy': ''}
    t0 = time.monotonic()
    proc = NodeProcess(['-r', '__ns:=/bb_unreachable'], ros_domain_id, env=env).start()
    try:
        line = one_error_line(proc, trouble('error: cannot fetch'), timeout=90.0)
        elapsed = time.monotonic() - t0
        assert proc.wait_exit(10.0) == 2, proc.tail()
    finally:
        proc.stop()
    assert "the Hugging Face Hub is unreachable (127.0.0.1: " in line, line
    assert 'in the local cache; pass -p model:=<a local checkpoint directory' in line, line
    assert elapsed < 20.0, f'{elapsed:.1f} s: {line}'


@pytest.fixture(scope='module')
def ints(bb_context, ros_domain_id, fast_da_dir, reference, tmp_path_factory):
    """Whole numbers for double parameters, from the command line and from YAML."""
    params = write_params(tmp_path_factory.mktemp('bb_ints') / 'ints.yaml',
                          model=f'"{fast_da_dir}"', device='cpu', max_depth=5, min_depth=0,
                          reference_focal=0, diagnostics_period=1)
    session = Session(bb_context, ros_domain_id, '/bb_ints',
                      ['--params-file', params, '-p', 'rate:=5', '-p', 'publish_scan:=true'],
                      reference=reference)
    yield session
    session.close()


def test_integers_for_double_parameters_at_start(ints):
    """Issue 8 item 2: ``-p rate:=5`` or ``max_depth: 5`` in YAML ended in a traceback."""
    ints.start()
    assert ints.peer.get_node_parameter('rate') == 5
    assert ints.peer.get_node_parameter('max_depth') == 5
    stamp = ints.stamp()
    ints.peer.image_pub.publish(ints.good_image(stamp))  # before any camera_info
    ints.proc.wait_line(trouble('no camera_info received yet'), 10.0)
    ints.good_frame(0, max_depth=5.0)


def test_scan_without_a_body_frame_says_how_to_name_it(ints):
    ints.ensure_running()
    mark = ints.begin()
    stamp = ints.stamp()
    ints.peer.publish(ints.good_image(stamp, frame_id='camera'),
                      ints.good_info(stamp, frame_id='camera'))
    ints.outputs(stamp, mark=mark)
    ints.proc.wait_line(trouble('publish_scan: no scan'), 5.0, mark)
    ints.good_frame(mark, max_depth=5.0)


def test_sigint_under_load_stops_cleanly(ints):
    ints.ensure_running()
    with Streamer(ints, hz=100.0) as stream:
        stream.wait_new_output()
        ints.proc.signal(signal.SIGINT)
        code = ints.proc.wait_exit(15.0)
    assert code == 0 and not ints.proc.tracebacks(), ints.proc.tail()


@pytest.fixture(scope='module')
def lifecycle(bb_context, ros_domain_id, fast_da_dir, reference):
    """Start with autostart false, after a camera latched its camera_info (transient local)."""
    session = Session(bb_context, ros_domain_id, '/bb_life',
                      ['-p', f'model:={fast_da_dir}', '-p', 'device:=cpu', '-p', 'rate:=0.0',
                       '-p', 'autostart:=false', '-p', 'diagnostics_period:=0.1'],
                      reference=reference, latched_info=True)
    session.peer.info_pub.publish(session.good_info((1, 0)))
    session.start(wait=False)
    yield session
    session.close()


def test_autostart_false_says_how_to_go_on(lifecycle):
    """Issue 8 item 7: ``-p autostart:=false`` printed nothing."""
    assert lifecycle.peer.get_state(90.0) == 'unconfigured'  # the node is constructed
    line = lifecycle.proc.wait_line(trouble('autostart is false'), 5.0)
    assert re.search(r'ros2 lifecycle set|configure', line), line
    lifecycle.healthy()


def test_latched_camera_info_is_received(lifecycle):
    """Issue 8 item 3: camera_info published once, transient local, before the node started."""
    from lifecycle_msgs.msg import Transition
    s = lifecycle
    assert s.peer.change_state(Transition.TRANSITION_CONFIGURE), s.proc.tail()
    assert s.peer.change_state(Transition.TRANSITION_ACTIVATE), s.proc.tail()
    s.peer.wait_connected(30.0)
    for _ in range(2):
        stamp = s.stamp()
        s.peer.image_pub.publish(s.good_image(stamp))
        depth, info, cloud = s.outputs(stamp)
        s.check_frame(depth, info, cloud, stamp, s.rgb, s.intr, frame_id=s.FRAME_ID)
    s.healthy()


def test_lifecycle_cycle_then_sigint_under_load(lifecycle):
    from lifecycle_msgs.msg import Transition
    s = lifecycle
    mark = s.begin()
    if s.peer.get_state() != 'active':
        pytest.skip('the node did not get active (see test_latched_camera_info_is_received)')
    assert s.peer.change_state(Transition.TRANSITION_DEACTIVATE)
    assert s.peer.change_state(Transition.TRANSITION_ACTIVATE)
    s.peer.wait_connected(30.0)
    s.good_frame(mark)
    with Streamer(s, hz=100.0) as stream:
        stream.wait_new_output()
        s.proc.signal(signal.SIGINT)
        code = s.proc.wait_exit(15.0)
    assert code == 0 and not s.proc.tracebacks(), s.proc.tail(mark)


# --------------------------------------------------------------------------- compressed

@pytest.fixture(scope='module')
def comp(bb_context, ros_domain_id, fast_da_dir, reference):
    session = Session(bb_context, ros_domain_id, '/bb_comp',
                      ['-p', f'model:={fast_da_dir}', '-p', 'device:=cpu', '-p', 'rate:=0.0',
                       '-p', 'input_transport:=compressed', '-p', 'diagnostics_period:=0.1'],
                      reference=reference, compressed=True)
    session.start()
    yield session
    session.close()


def encoded(ext, array, params=()):
    import cv2
    ok, buf = cv2.imencode(ext, array, list(params))
    assert ok
    return buf.tobytes()


def png_bomb():
    """Return a PNG whose header claims 100000 x 100000 pixels (and holds one row)."""
    import struct
    import zlib
    png = encoded('.png', np.zeros((1, 1, 3), np.uint8))
    ihdr = struct.pack('>IIBBBBB', 100000, 100000, 8, 2, 0, 0, 0)
    chunk = b'IHDR' + ihdr
    return (png[:8] + struct.pack('>I', 13) + chunk
            + struct.pack('>I', zlib.crc32(chunk) & 0xffffffff) + png[33:])


def compressed_cases(rgb):
    bgr = np.ascontiguousarray(rgb[..., ::-1])
    jpeg = encoded('.jpg', bgr)
    rng = np.random.default_rng(5)
    import io

    from PIL import Image as PILImage
    la = io.BytesIO()
    PILImage.fromarray(np.dstack([rgb[..., 0], rgb[..., 1]]), 'LA').save(la, 'PNG')
    return {
        # name: (format, data, kind of problem + pattern when dropped, or None: serve)
        'corrupt_jpeg': ('jpeg', b'\xff\xd8\xff\xe0' + rng.bytes(3000),
                         ('decode', trouble('dropped frame: cannot decode the compressed'))),
        'compressed_depth': ('16UC1; compressedDepth png', b'\x00' * 12
                             + encoded('.png', np.full((48, 64), 1000, np.uint16)),
                             ('compressed-depth', trouble('compressed image format'))),
        'empty': ('rgb8; jpeg compressed bgr8', b'', ('empty', r'empty')),
        'png_16bit': ('rgb8; png compressed bgr8',
                      encoded('.png', np.full((48, 64, 3), 1000, np.uint16)),
                      ('16bit', r'16-bit|uint16')),
        'png_bomb': ('rgb8; png compressed bgr8', png_bomb(), ('decode', r'decode|large')),
        'truncated_jpeg': ('rgb8; jpeg compressed bgr8', jpeg[:len(jpeg) * 2 // 3], None),
        'png_labelled_jpeg': ('rgb8; jpeg compressed bgr8', encoded('.png', bgr), None),
        'format_empty': ('', encoded('.png', bgr), None),
        'gray_alpha_png': ('rgba8; png compressed rgba8', la.getvalue(), None),
        'mono_png': ('mono8; png compressed mono8', encoded('.png', rgb[..., 1]), None),
        'bgra_png': ('bgra8; png compressed bgra8',
                     encoded('.png', np.dstack([bgr, np.full((48, 64), 9, np.uint8)])), None),
        'tiff': ('rgb8; tiff compressed bgr8', encoded('.tiff', bgr), None),
        'bmp': ('bmp', encoded('.bmp', bgr), None),
    }


COMPRESSED = ['corrupt_jpeg', 'compressed_depth', 'empty', 'png_16bit', 'png_bomb',
              'truncated_jpeg', 'png_labelled_jpeg', 'format_empty', 'gray_alpha_png',
              'mono_png', 'bgra_png', 'tiff', 'bmp']


@pytest.mark.parametrize('name', COMPRESSED)
def test_compressed_oddities(comp, name):
    """Issue 8 item 5: compressedDepth right after a corrupt JPEG got no line."""
    import cv2
    from sensor_msgs.msg import CompressedImage
    comp.ensure_running()
    fmt, data, problem = compressed_cases(comp.rgb)[name]
    mark = comp.begin()
    stamp = comp.stamp()
    msg = CompressedImage()
    msg.header.stamp.sec, msg.header.stamp.nanosec = stamp
    msg.header.frame_id = comp.FRAME_ID
    msg.format, msg.data = fmt, data
    delta = comp.feed(msg, comp.good_info(stamp))
    if problem is not None:
        expect_drop_line(comp, mark, problem[0], problem[1], delta)
    elif delta.get('frames_published'):
        decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        depth, info, cloud = comp.outputs(stamp)
        comp.check_frame(depth, info, cloud, stamp, np.ascontiguousarray(decoded[..., ::-1]),
                         comp.intr, frame_id=comp.FRAME_ID)
    else:
        expect_drop_line(comp, mark, 'decode', r'decode', delta)
    comp.good_frame(mark)


def test_compressed_sigint_under_load(comp):
    comp.ensure_running()
    mark = comp.begin()
    with Streamer(comp, hz=100.0) as stream:
        stream.wait_new_output()
        comp.proc.signal(signal.SIGINT)
        code = comp.proc.wait_exit(15.0)
    assert code == 0 and not comp.proc.tracebacks(mark), comp.proc.tail(mark)


# --------------------------------------------------------------------------- Depth Pro

@pytest.fixture(scope='module')
def depth_pros(bb_context, ros_domain_id, tmp_path_factory):
    """
    Start two Depth Pro nodes together, with field-of-view heads that estimate 55° and 200°.

    200° gives a negative focal length.
    """
    from depth_node.models import load_model
    from depth_node.testing.tiny_models import make_depth_pro
    sessions = {}
    for name, fov in (('plausible', 55.0), ('negative', 200.0)):
        path = make_depth_pro(tmp_path_factory.mktemp(f'bb_dp_{name}'), fov_deg=fov)
        sessions[name] = Session(bb_context, ros_domain_id, f'/bb_dp_{name}',
                                 ['-p', f'model:={path}', '-p', 'device:=cpu',
                                  '-p', 'rate:=0.0', '-p', 'diagnostics_period:=0.1'],
                                 reference=load_model(path, 'cpu', 'fp32'))
        sessions[name].start(wait=False)
    for session in sessions.values():
        session.start_wait()
    yield sessions
    for session in sessions.values():
        session.close()


def uncalibrated(session, stamp):
    info = camera_info(64, 48, 0.0, 0.0, 0.0, 0.0, stamp=stamp, frame_id=session.FRAME_ID)
    info.k = [0.0] * 9
    return info


def test_depth_pro_falls_back_to_its_field_of_view(depth_pros):
    s = depth_pros['plausible']
    mark = s.begin()
    s.good_frame(mark)
    stamp = s.stamp()
    s.peer.publish(s.good_image(stamp), uncalibrated(s, stamp))
    depth, info, cloud = s.outputs(stamp, mark=mark)
    s.proc.wait_line(trouble('camera_info unusable'), 5.0, mark)
    fx = info.k[0]
    assert np.isfinite(fx) and fx > 0 and info.k[4] == fx, list(info.k)
    expected = s.reference.predict(s.rgb, (0, 1, 2), focal=None)
    values = check_depth(depth, expected)
    check_cloud(cloud, values, Intr(64, 48, fx, fx, info.k[2], info.k[5]), s.rgb)
    s.good_frame(mark)


def test_depth_pro_never_publishes_a_negative_estimated_focal(depth_pros):
    """Issue 8 item 6: the field-of-view fallback published a negative estimated fx."""
    s = depth_pros['negative']
    mark = s.begin()
    s.good_frame(mark)
    stamp = s.stamp()
    delta = s.feed(s.good_image(stamp), uncalibrated(s, stamp))
    assert delta.get('dropped.error', 0) == 0, s.proc.tail(mark)
    if delta.get('frames_published'):
        depth, out_info, cloud = s.outputs(stamp)
        fx, fy = out_info.k[0], out_info.k[4]
        assert np.isfinite([fx, fy]).all() and fx > 0 and fy > 0, list(out_info.k)
        values = check_depth.__globals__['image_fields_to_depth'](depth)
        assert (values[np.isfinite(values)] > 0).all()
    else:
        s.proc.wait_line(r'field of view', 5.0, mark)
    s.good_frame(mark)
