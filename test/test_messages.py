# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""The message builders: large payloads handed over without a copy, same bytes on the wire."""

from types import SimpleNamespace

from depth_node import messages
from depth_node.camera import pinhole_camera_info
from depth_node.conversions import depth_to_image_fields
from depth_node.geometry import CloudBuilder, Intrinsics
from depth_node.msgfill import keeps_reference
from depth_node.offline.bag import bag_typestore
import numpy as np
import pytest
from rclpy.serialization import deserialize_message, serialize_message

INTR = Intrinsics(40, 30, 50.0, 52.0, 19.5, 14.5)


def frame_output(encoding='32FC1', organized=True, rgb=True):
    """Return a FrameOutput-like object with real payloads (depth with holes, rgb cloud)."""
    rng = np.random.default_rng(1)
    depth = rng.uniform(0.5, 6.0, (30, 40)).astype(np.float32)
    depth[3, 4] = np.nan
    depth[5, 6] = 0.0
    pixels = rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)
    enc, step, data = depth_to_image_fields(depth, encoding)
    cloud = CloudBuilder().build(depth, INTR, pixels if rgb else None, organized=organized)
    return SimpleNamespace(depth=depth, intrinsics=INTR, depth_encoding=enc, depth_step=step,
                           depth_data=data, cloud=cloud,
                           camera_info=pinhole_camera_info(INTR))


def same_on_the_wire(wire: bytes, msg) -> bool:
    """Whether serialised ``wire`` carries ``msg`` (compared decoded: CDR padding is not set)."""
    return deserialize_message(bytes(wire), type(msg)) == msg


def copying_cloud(types, header, cloud):
    """Build the PointCloud2 the plain way: constructor and setters copy the bytes."""
    return types.PointCloud2(
        header=header, height=cloud.height, width=cloud.width,
        fields=[types.PointField(name=n, offset=o, datatype=t, count=c)
                for n, o, t, c in cloud.fields],
        is_bigendian=False, point_step=cloud.point_step, row_step=cloud.row_step,
        data=cloud.data.tobytes(), is_dense=cloud.is_dense)


@pytest.mark.parametrize('encoding', ['32FC1', '16UC1'])
def test_rclpy_depth_image_keeps_the_payload(encoding):
    types = messages.rclpy_types()
    out = frame_output(encoding)
    msg = messages.depth_image(types, messages.header(types, 12_000_000_001, 'cam'), out)
    assert msg.data is out.depth_data and keeps_reference(msg, out.depth_data)
    assert (msg.height, msg.width, msg.step, msg.encoding) == (30, 40, out.depth_step, encoding)
    assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == (12, 1)
    plain = types.Image(header=msg.header, height=30, width=40, encoding=encoding,
                        is_bigendian=0, step=out.depth_step, data=out.depth_data.tobytes())
    assert plain == msg and same_on_the_wire(serialize_message(msg), plain)


@pytest.mark.parametrize('organized', [True, False])
def test_rclpy_point_cloud_keeps_the_payload(organized):
    types = messages.rclpy_types()
    out = frame_output(organized=organized)
    header = messages.header(types, 5, 'cam')
    msg = messages.point_cloud(types, header, out.cloud)
    assert msg.data is out.cloud.data
    assert msg.is_dense is (not organized)
    plain = copying_cloud(types, header, out.cloud)
    assert plain == msg and same_on_the_wire(serialize_message(msg), plain)


def test_rclpy_input_image_from_any_buffer():
    """messages.image takes an array.array as it is, and copies other buffers once."""
    types = messages.rclpy_types()
    pixels = np.arange(6 * 4 * 3, dtype=np.uint8).reshape(6, 4, 3)
    header = messages.header(types, 0, 'cam')
    msg = messages.image(types, header, 6, 4, 'rgb8', 12, pixels.data)
    assert msg.data.tobytes() == pixels.tobytes()
    again = messages.image(types, header, 6, 4, 'rgb8', 12, msg.data)
    assert again.data is msg.data


@pytest.mark.parametrize('encoding', ['32FC1', '16UC1'])
def test_rosbags_messages_view_the_payload_and_serialize_as_rclpy(encoding):
    typestore = bag_typestore()
    ros, bag = messages.rclpy_types(), messages.rosbags_types(typestore)
    out = frame_output(encoding)
    for build, msgtype in ((messages.depth_image, 'sensor_msgs/msg/Image'),
                           (lambda t, h, o: messages.point_cloud(t, h, o.cloud),
                            'sensor_msgs/msg/PointCloud2')):
        bag_msg = build(bag, messages.header(bag, 7, 'cam'), out)
        payload = out.depth_data if msgtype.endswith('Image') else out.cloud.data
        assert keeps_reference(bag_msg, payload)
        ros_msg = build(ros, messages.header(ros, 7, 'cam'), out)
        assert same_on_the_wire(typestore.serialize_cdr(bag_msg, msgtype), ros_msg)


def test_rosbags_input_image_from_a_numpy_buffer():
    typestore = bag_typestore()
    types = messages.rosbags_types(typestore)
    pixels = np.arange(6 * 4 * 3, dtype=np.uint8).reshape(6, 4, 3)
    msg = messages.image(types, messages.header(types, 0, 'cam'), 6, 4, 'rgb8', 12, pixels.data)
    assert keeps_reference(msg, pixels)
    ros = messages.rclpy_types()
    ros_msg = messages.image(ros, messages.header(ros, 0, 'cam'), 6, 4, 'rgb8', 12, pixels.data)
    assert same_on_the_wire(typestore.serialize_cdr(msg, 'sensor_msgs/msg/Image'), ros_msg)


def test_depth_image_topics_follow_rep_118():
    """REP 118: float metres on ``image``, 16-bit millimetres on ``image_raw``."""
    assert messages.depth_image_topic('32FC1') == 'depth/image'
    assert messages.depth_image_topic('16UC1') == 'depth/image_raw'
    for encoding in ('32FC1', '16UC1'):
        assert depth_to_image_fields(np.ones((2, 2), np.float32), encoding)[0] == encoding
    with pytest.raises(ValueError, match="'mono16'"):
        messages.depth_image_topic('mono16')
