# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""Tests of the demo: message helpers, and a full run of the real node on a tiny model."""

import importlib
import importlib.util
import json

from depth_node.offline.ply import read_ply
import numpy as np
from PIL import Image as PILImage
import yaml

demo = importlib.import_module('depth_node.offline.demo')


def test_camera_info_from_sample_yaml():
    _, info = demo.load_sample(demo.SAMPLE_DIR)
    data = yaml.safe_load((demo.SAMPLE_DIR / 'camera_info.yaml').read_text())
    assert (info.width, info.height) == (640, 480)
    assert list(info.k) == [525.0, 0.0, 319.5, 0.0, 525.0, 239.5, 0.0, 0.0, 1.0]
    assert list(info.p) == [float(v) for v in data['projection_matrix']['data']]
    assert list(info.r) == [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    assert list(info.d) == [0.0] * 5
    assert info.distortion_model == 'plumb_bob'


def test_image_msg_is_rgb8():
    from builtin_interfaces.msg import Time
    rgb = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    msg = demo.image_msg(rgb, Time(sec=5, nanosec=7))
    assert (msg.height, msg.width, msg.step, msg.encoding) == (2, 3, 9, 'rgb8')
    assert msg.header.frame_id == 'camera_color_optical_frame'
    assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == (5, 7)
    assert bytes(msg.data) == rgb.tobytes()


def test_cloud_arrays_unpacks_pcl_rgb():
    from sensor_msgs.msg import PointCloud2, PointField
    xyz = np.array([[1.0, 2.0, 3.0], [np.nan, np.nan, np.nan]], np.float32)
    packed = np.array([0x00FF8001, 0x00010203], np.uint32).view(np.float32)
    data = np.empty(2, dtype=[('x', '<f4'), ('y', '<f4'), ('z', '<f4'), ('pad', '<f4'),
                              ('rgb', '<f4')])
    for i, name in enumerate('xyz'):
        data[name] = xyz[:, i]
    data['rgb'] = packed
    msg = PointCloud2()
    msg.height, msg.width = 1, 2
    msg.fields = [PointField(name=n, offset=o, datatype=PointField.FLOAT32, count=1)
                  for n, o in (('x', 0), ('y', 4), ('z', 8), ('rgb', 16))]
    msg.point_step, msg.row_step = 20, 40
    msg.data = data.tobytes()
    got_xyz, got_rgb = demo.cloud_arrays(msg)
    np.testing.assert_array_equal(got_xyz, xyz)
    np.testing.assert_array_equal(got_rgb, [[255, 128, 1], [1, 2, 3]])


def test_demo_bad_model_exits_2_with_one_line(tmp_path, capsys, monkeypatch, ros_domain_id):
    monkeypatch.setenv('ROS_DOMAIN_ID', str(ros_domain_id))
    status = demo.main(['--model', str(tmp_path / 'no_such_model'), '--out',
                        str(tmp_path / 'out'), '--timeout', '10'])
    captured = capsys.readouterr()
    assert status == 2
    assert captured.out == ''
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('depth_node demo: ')
    assert 'Traceback' not in captured.err


def test_demo_runs_node_on_tiny_model(tiny_da_dir, tmp_path, capsys, monkeypatch,
                                      ros_domain_id):
    monkeypatch.setenv('ROS_DOMAIN_ID', str(ros_domain_id))
    out = tmp_path / 'demo_out'
    status = demo.main(['--model', str(tiny_da_dir), '--out', str(out), '--frames', '3',
                        '--device', 'cpu', '--timeout', '60'])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    lines = captured.out.strip().splitlines()
    assert len(lines) == 1, captured.out
    assert lines[0].startswith('depth_node demo: 3/3 frames, model ')
    assert 'device cpu' in lines[0] and '(3 PNG, 1 PLY, latencies.json)' in lines[0]

    for i in range(3):
        png = PILImage.open(out / f'frame_{i:03d}_side_by_side.png')
        assert png.size == (2 * 640, 480) and png.mode == 'RGB'
    # Never named like depth_node_run's 16-bit depth PNGs (depth_node_eval --predictions).
    assert not list(out.glob('*_depth.png'))
    assert sorted(p.name for p in out.glob('*.ply')) == ['frame_002.ply']

    report = json.loads((out / 'latencies.json').read_text())
    assert report['frames_received'] == 3
    assert len(report['frames']) == 3
    stamps = set()
    for i, frame in enumerate(report['frames']):
        assert frame['index'] == i and frame['received'] is True
        assert frame['latency_ms'] > 0
        assert 0 < frame['depth_min_m'] <= frame['depth_max_m']
        stamps.add((frame['stamp']['sec'], frame['stamp']['nanosec']))
    assert len(stamps) == 3
    assert report['median_latency_ms'] > 0

    xyz, rgb = read_ply(out / 'frame_002.ply')
    assert len(xyz) > 1000
    assert np.all(np.isfinite(xyz)) and np.all(xyz[:, 2] > 0)
    assert rgb is not None and rgb.shape == xyz.shape
    assert report['frames'][2]['ply_points'] == len(xyz)
