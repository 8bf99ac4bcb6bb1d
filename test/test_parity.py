# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
One frame path: depth_node_run and the node publish byte-identical payloads.

The same frames (with the same camera_info) go once through the node, over real
topics, and once through ``depth_node_run`` from a rosbag2 into a new rosbag2;
depth image, depth camera_info and point cloud must be equal to the byte. The
Depth Pro case has an uncalibrated camera_info (K and P zero): both must fall
back to the network's own field of view and publish the same estimated camera.
"""

from depth_node import messages
from depth_node.camera import camera_info_fields, CameraInfoFields, pinhole_camera_info
from depth_node.geometry import Intrinsics
from depth_node.msgfill import as_byte_array
from depth_node.offline.bag import bag_typestore
from depth_node.offline.run import main as run_main
from depth_node.testing.ros_harness import Harness
from depth_node.testing.tiny_models import make_depth_pro, textured_image
import numpy as np
import pytest
from rosbags.rosbag2 import Reader, StoragePlugin, Writer

W, H = 64, 48
T0 = 1_700_000_000 * 10**9
CALIBRATED = pinhole_camera_info(Intrinsics(W, H, 60.0, 62.0, 31.0, 24.5))
UNCALIBRATED = camera_info_fields(W, H, (0.0,) * 9, p=(0.0,) * 12, d=(0.0,) * 5)


@pytest.fixture(scope='module')
def depth_pro_dir(tmp_path_factory):
    return make_depth_pro(tmp_path_factory.mktemp('tiny_dp'))


def frames(n=2):
    return [textured_image(H, W, seed=10 + i) for i in range(n)]


def write_bag(path, rgbs, info: CameraInfoFields):
    """Write /cam/image_raw (bgr8) and /cam/camera_info with the message builders."""
    store = bag_typestore()
    types = messages.rosbags_types(store)
    with Writer(path, version=9, storage_plugin=StoragePlugin.SQLITE3) as writer:
        image_conn = writer.add_connection('/cam/image_raw', 'sensor_msgs/msg/Image',
                                           typestore=store)
        info_conn = writer.add_connection('/cam/camera_info', 'sensor_msgs/msg/CameraInfo',
                                          typestore=store)
        for i, rgb in enumerate(rgbs):
            t = T0 + i * 100_000_000
            header = messages.header(types, t, 'cam_optical')
            bgr = np.ascontiguousarray(rgb[:, :, ::-1])
            image = messages.image(types, header, H, W, 'bgr8', W * 3, bgr.data)
            writer.write(image_conn, t, store.serialize_cdr(image, 'sensor_msgs/msg/Image'))
            writer.write(info_conn, t + 1, store.serialize_cdr(
                messages.camera_info(types, header, info), 'sensor_msgs/msg/CameraInfo'))


def read_outputs(path):
    """Return {stamp_ns: {topic suffix: message}} of depth_node_run's output bag."""
    store = bag_typestore()
    out = {}
    with Reader(path) as reader:
        for conn, _, raw in reader.messages():
            if conn.topic in ('/cam/depth/image', '/cam/depth/camera_info', '/cam/points'):
                msg = store.deserialize_cdr(raw, conn.msgtype)
                stamp = msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec
                out.setdefault(stamp, {})[conn.topic.split('/cam/')[1]] = msg
    return out


def node_outputs(context, model_dir, rgbs, info: CameraInfoFields):
    """Publish the frames to the node over real topics; return its outputs by stamp."""
    types = messages.rclpy_types()
    h = Harness(context, {'model': model_dir, 'device': 'cpu', 'rate': 0.0})
    try:
        out = {}
        for i, rgb in enumerate(rgbs):
            t = T0 + i * 100_000_000
            header = messages.header(types, t, 'cam_optical')
            bgr = np.ascontiguousarray(rgb[:, :, ::-1])
            image = messages.image(types, header, H, W, 'bgr8', W * 3,
                                   as_byte_array(bgr))
            depth, cam, cloud = h.process(image, messages.camera_info(types, header, info))
            out[t] = {'depth/image': depth, 'depth/camera_info': cam, 'points': cloud}
        return out
    finally:
        h.close()


def assert_same(node, offline):
    assert sorted(node) == sorted(offline) and node
    for stamp in node:
        a, b = node[stamp], offline[stamp]
        for name in ('depth/image', 'points'):
            assert bytes(a[name].data) == b[name].data.tobytes(), (stamp, name)
            for field in ('height', 'width', 'step' if name == 'depth/image' else 'row_step'):
                assert getattr(a[name], field) == getattr(b[name], field), (stamp, name, field)
        assert a['depth/image'].encoding == b['depth/image'].encoding
        assert a['depth/image'].header.frame_id == b['depth/image'].header.frame_id
        ia, ib = a['depth/camera_info'], b['depth/camera_info']
        assert CameraInfoFields.of(ia) == CameraInfoFields.of(ib), stamp


def run_offline(tmp_path, model_dir, rgbs, info):
    src, dst = tmp_path / 'in', tmp_path / 'out'
    write_bag(src, rgbs, info)
    assert run_main([str(src), '--model', model_dir, '--device', 'cpu', '--out-bag', str(dst),
                     '--no-progress']) == 0
    return read_outputs(dst)


def test_run_and_node_publish_identical_payloads(ros_context, fast_da_dir, tmp_path):
    rgbs = frames()
    offline = run_offline(tmp_path, fast_da_dir, rgbs, CALIBRATED)
    node = node_outputs(ros_context, fast_da_dir, rgbs, CALIBRATED)
    assert_same(node, offline)
    first = next(iter(node.values()))
    assert CameraInfoFields.of(first['depth/camera_info']) == CALIBRATED


def test_depth_pro_fallback_is_the_same_offline_and_in_the_node(ros_context, depth_pro_dir,
                                                                tmp_path, capsys):
    rgbs = frames()
    offline = run_offline(tmp_path, depth_pro_dir, rgbs, UNCALIBRATED)
    assert 'own estimated field of view' in capsys.readouterr().err
    node = node_outputs(ros_context, depth_pro_dir, rgbs, UNCALIBRATED)
    assert_same(node, offline)
    info = CameraInfoFields.of(next(iter(node.values()))['depth/camera_info'])
    # The estimated pinhole camera: fx = fy > 0, principal point at the centre.
    assert info.k[0] == info.k[4] > 0 and info.k[2] == (W - 1) / 2 and info.k[5] == (H - 1) / 2
