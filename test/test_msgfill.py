# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""Zero-copy message payloads: same serialized bytes, same memory, and they publish."""

import array
from dataclasses import dataclass, field
import time

from depth_node.msgfill import (as_byte_array, byte_buffer, byte_view, has_check_fields,
                                is_rclpy_message, keeps_reference, new_message, set_data)
import numpy as np
import pytest

sensor_msgs = pytest.importorskip('sensor_msgs.msg')
serialization = pytest.importorskip('rclpy.serialization')
Image, PointCloud2, PointField = sensor_msgs.Image, sensor_msgs.PointCloud2, sensor_msgs.PointField


def cloud_payload(height=30, width=40, seed=0):
    buf = byte_buffer(height * width * 16)
    view = byte_view(buf, np.float32, (height, width, 4))
    view[...] = np.random.default_rng(seed).normal(size=view.shape).astype(np.float32)
    view[3, 5, :3] = np.nan
    return buf


def cloud_fields(height, width):
    return dict(height=height, width=width, is_bigendian=False, point_step=16,
                row_step=16 * width, is_dense=False,
                fields=[PointField(name=n, offset=4 * i, datatype=7, count=1)
                        for i, n in enumerate(('x', 'y', 'z', 'rgb'))])


def plain_cloud(buf, height, width):
    """Build the message the way rclpy's default (copying) setters do."""
    msg = PointCloud2()
    for name, value in cloud_fields(height, width).items():
        setattr(msg, name, value)
    msg.data = buf.tobytes()
    return msg


def test_byte_view_writes_into_the_buffer():
    buf = byte_buffer(16)
    byte_view(buf, np.float32, (2, 2))[1, 1] = 1.0
    assert buf.tobytes()[12:] == np.float32(1.0).tobytes()


def test_cloud_is_kept_by_reference():
    buf = cloud_payload()
    msg = new_message(PointCloud2, **cloud_fields(30, 40))
    set_data(msg, buf)
    assert msg.data is buf
    assert keeps_reference(msg, buf)
    assert msg.data.buffer_info()[0] == buf.buffer_info()[0]


def test_image_is_kept_by_reference():
    depth = np.linspace(0.5, 5.0, 48 * 64, dtype=np.float32).reshape(48, 64)
    buf = as_byte_array(depth)
    msg = new_message(Image, height=48, width=64, encoding='32FC1', is_bigendian=0, step=256)
    set_data(msg, buf)
    assert msg.data is buf


@pytest.mark.skipif(not has_check_fields(PointCloud2), reason='Humble: no check_fields flag')
def test_default_setter_copies_on_jazzy_and_later(monkeypatch):
    """The reason for new_message: a plain message's setter copies (ROS_PYTHON_CHECK_FIELDS)."""
    buf = cloud_payload()
    msg = PointCloud2(check_fields=False)
    msg.data = buf
    assert msg.data is not buf and msg.data == buf
    assert not keeps_reference(msg, buf)


def test_serialized_bytes_equal_the_copying_route():
    buf = cloud_payload(seed=3)
    fast = new_message(PointCloud2, **cloud_fields(30, 40))
    set_data(fast, buf)
    wire = serialization.serialize_message(fast)
    reference = serialization.serialize_message(plain_cloud(buf, 30, 40))
    # CDR alignment padding is not zeroed by the serializer, so whole buffers may differ in
    # those bytes; the layout, the payload bytes and every decoded field are the same.
    assert len(wire) == len(reference)
    n = len(buf)
    assert wire[-1 - n:-1] == reference[-1 - n:-1] == buf.tobytes()  # data, then is_dense
    back = serialization.deserialize_message(wire, PointCloud2)
    assert back == serialization.deserialize_message(reference, PointCloud2)
    assert back.data.tobytes() == buf.tobytes()
    assert (back.height, back.width, back.row_step) == (30, 40, 640)


def test_image_round_trips_byte_identically():
    depth = np.random.default_rng(4).uniform(0.1, 9.0, (31, 17)).astype(np.float32)
    depth[0, 0] = np.nan
    msg = new_message(Image, height=31, width=17, encoding='32FC1', is_bigendian=0, step=68)
    set_data(msg, as_byte_array(depth))
    back = serialization.deserialize_message(serialization.serialize_message(msg), Image)
    assert back.data.tobytes() == depth.tobytes()
    assert back.encoding == '32FC1' and back.step == 68


def test_as_byte_array_accepts_buffers_and_keeps_arrays():
    buf = byte_buffer(8)
    assert as_byte_array(buf) is buf
    values = np.arange(6, dtype='<u2').reshape(2, 3)
    for source in (values, values.tobytes(), bytearray(values.tobytes()), memoryview(values),
                   array.array('H', values.reshape(-1).tolist())):
        out = as_byte_array(source)
        assert out.typecode == 'B' and out.tobytes() == values.tobytes()
    assert as_byte_array(values[:, ::2]).tobytes() == values[:, ::2].tobytes()
    with pytest.raises(ValueError):
        as_byte_array(memoryview(values.reshape(-1))[::2])


def test_constructor_data_is_refused():
    with pytest.raises(TypeError, match='set_data'):
        new_message(Image, data=byte_buffer(4))


class HumbleLikeMessage:
    """Stand-in for a Humble generated class: no check_fields, array.array kept as is."""

    __slots__ = ['_data', '_height']

    def __init__(self, **kwargs):
        assert all('_' + key in self.__slots__ for key in kwargs)
        self._height = kwargs.get('height', 0)
        self._data = array.array('B')

    @classmethod
    def get_fields_and_field_types(cls):
        return {'data': 'sequence<uint8>', 'height': 'uint32'}

    @property
    def data(self):
        return self._data

    @data.setter
    def data(self, value):
        if isinstance(value, array.array):
            assert value.typecode == 'B'
            self._data = value
            return
        self._data = array.array('B', value)


def test_humble_route_needs_no_check_fields():
    assert is_rclpy_message(HumbleLikeMessage) and not has_check_fields(HumbleLikeMessage)
    msg = new_message(HumbleLikeMessage, height=3)  # would assert on a check_fields keyword
    buf = byte_buffer(12)
    set_data(msg, buf)
    assert msg.data is buf


@dataclass
class RosbagsLikeImage:
    """Stand-in for a rosbags message class: a dataclass whose data is a numpy uint8 array."""

    height: int = 0
    data: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint8))


def test_rosbags_classes_get_a_numpy_view():
    assert not is_rclpy_message(RosbagsLikeImage)
    buf = byte_buffer(24)
    msg = new_message(RosbagsLikeImage, height=2)
    set_data(msg, buf)
    assert msg.data.dtype == np.uint8 and msg.data.size == 24
    assert keeps_reference(msg, buf)


def test_zero_copy_messages_publish(ros_context):
    """A subscriber receives exactly the payload of a zero-copy message and of raw bytes."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    qos = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
    node = rclpy.create_node('msgfill_test', context=ros_context)
    received = []
    pub = node.create_publisher(PointCloud2, 'cloud', qos)
    node.create_subscription(PointCloud2, 'cloud', received.append, qos)
    executor = SingleThreadedExecutor(context=ros_context)
    executor.add_node(node)
    try:
        buf = cloud_payload(seed=5)
        msg = new_message(PointCloud2, **cloud_fields(30, 40))
        set_data(msg, buf)
        deadline = time.monotonic() + 10.0
        while pub.get_subscription_count() == 0 and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.05)
        pub.publish(msg)
        pub.publish(serialization.serialize_message(msg))  # pre-serialised: also accepted
        while len(received) < 2 and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.05)
        assert len(received) == 2
        for got in received:
            assert got.data.tobytes() == buf.tobytes()
            assert (got.height, got.width, got.point_step) == (30, 40, 16)
    finally:
        executor.shutdown()
        node.destroy_node()
