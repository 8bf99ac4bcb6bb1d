# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
Message buffers reused across frames: only when nothing holds them, and never visibly.

A reused buffer is rewritten by the next frame, so the proofs here are about what
could still see the old bytes: any Python holder (an output, a message, a view)
keeps the buffer from being reused, and rclpy's publish keeps no holder at all and
hands the middleware a copy, so a buffer rewritten right after ``publish()``
returns still reaches the subscriber as it was published.
"""

from dataclasses import dataclass, field
import time

from depth_node import buffers
from depth_node.buffers import ReusableBuffer, row_bands
from depth_node.msgfill import byte_view, new_message, set_data
import numpy as np
import pytest


def test_a_buffer_nobody_holds_is_handed_out_again():
    slot = ReusableBuffer()
    first = slot.take(64)
    address = first.buffer_info()[0]
    byte_view(first, np.uint8, (64,))[:] = 7
    del first
    again = slot.take(64)
    assert again.buffer_info()[0] == address and (slot.reused, slot.made) == (1, 1)
    assert again.tobytes() == b'\x07' * 64  # the caller writes every byte: nothing is cleared
    other = slot.take(32)  # another size: a new, zero-filled buffer
    assert len(other) == 32 and other.tobytes() == bytes(32) and slot.made == 2


@dataclass
class RosbagsLike:
    """A rosbags-style message: its data is a numpy view of the buffer."""

    data: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint8))


def holders():
    """Return the ways something may still hold a frame's buffer after the frame."""
    def message(buf):
        sensor_msgs = pytest.importorskip('sensor_msgs.msg')
        msg = new_message(sensor_msgs.PointCloud2, height=1, width=4)
        set_data(msg, buf)
        assert msg.data is buf
        return msg

    def rosbags(buf):
        msg = new_message(RosbagsLike)
        set_data(msg, buf)
        return msg

    return {
        'the buffer': lambda buf: buf,
        'a numpy view': lambda buf: byte_view(buf, np.float32, (4, 4))[1:],
        'a memoryview': memoryview,
        'a list (an output)': lambda buf: [buf],
        'an rclpy message': message,
        'a rosbags message': rosbags,
    }


@pytest.mark.parametrize('holder', list(holders()))
def test_a_buffer_something_holds_is_never_rewritten(holder):
    slot = ReusableBuffer()
    buf = slot.take(64)
    byte_view(buf, np.uint8, (64,))[:] = np.arange(64, dtype=np.uint8)
    held = holders()[holder](buf)
    del buf
    fresh = slot.take(64)
    byte_view(fresh, np.uint8, (64,))[:] = 255  # what the next frame does to its buffer
    kept = held if not isinstance(held, list) else held[0]
    data = getattr(kept, 'data', kept)
    assert bytes(memoryview(data).cast('B'))[:4] != b'\xff' * 4
    assert slot.reused == 0 and slot.made == 2
    address = fresh.buffer_info()[0]
    del held, kept, data, fresh
    assert slot.take(64).buffer_info()[0] == address  # nothing holds the second one: reused
    assert slot.reused == 1


def test_reuse_can_be_switched_off():
    slot = ReusableBuffer(reuse=False)
    for _ in range(3):
        slot.take(16)  # dropped at once: reusable, but reuse is off
    assert (slot.reused, slot.made) == (0, 3)


def test_row_bands_cover_every_row_once(monkeypatch):
    monkeypatch.setattr(buffers, 'BAND_PIXELS', 100)
    bands = list(row_bands(29, 37))  # 2 rows a band, 15 bands, the last one short
    assert bands[0] == (0, 2) and bands[-1] == (28, 29) and len(bands) == 15
    assert [r for a, b in bands for r in range(a, b)] == list(range(29))
    assert list(row_bands(5, 1000)) == [(r, r + 1) for r in range(5)]  # at least one row


def test_published_buffer_may_be_rewritten_once_publish_returns(ros_context):
    """Publishing keeps no reference and sends a copy (rclpy): the reuse is invisible."""
    sensor_msgs = pytest.importorskip('sensor_msgs.msg')
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    PointCloud2, PointField = sensor_msgs.PointCloud2, sensor_msgs.PointField
    qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
    node = rclpy.create_node('buffers_test', context=ros_context)
    received = []
    pub = node.create_publisher(PointCloud2, 'cloud', qos)
    node.create_subscription(PointCloud2, 'cloud', received.append, qos)
    executor = SingleThreadedExecutor(context=ros_context)
    executor.add_node(node)
    slot = ReusableBuffer()
    height, width = 48, 64
    sent = []
    try:
        deadline = time.monotonic() + 10.0
        while pub.get_subscription_count() == 0 and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.05)
        for frame in range(3):
            buf = slot.take(height * width * 16)
            values = np.random.default_rng(frame).normal(size=(height, width, 4))
            byte_view(buf, np.float32, (height, width, 4))[...] = values
            sent.append(buf.tobytes())
            msg = new_message(
                PointCloud2, height=height, width=width, is_bigendian=False, point_step=16,
                row_step=16 * width, is_dense=False,
                fields=[PointField(name=n, offset=4 * i, datatype=7, count=1)
                        for i, n in enumerate(('x', 'y', 'z', 'rgb'))])
            set_data(msg, buf)
            pub.publish(msg)
            del msg, buf  # the frame is over: the next take() may rewrite the same memory
        assert slot.reused == 2 and slot.made == 1  # one buffer for all three frames
        byte_view(slot.take(height * width * 16), np.uint8, (-1,))[:] = 0  # and it is rewritten
        while len(received) < 3 and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.05)
        assert [m.data.tobytes() for m in received] == sent
    finally:
        executor.shutdown()
        node.destroy_node()


def test_slots_keep_one_buffer_per_size_and_forget_the_least_recently_used():
    """Cameras of several sizes share one object: a slot each, reused in turn."""
    shared = ReusableBuffer(slots=2)
    addresses = {}
    for size in (64, 32, 64, 32):
        buf = shared.take(size)
        addresses.setdefault(size, buf.buffer_info()[0])
        assert buf.buffer_info()[0] == addresses[size]
        del buf
    assert (shared.made, shared.reused, shared.nbytes) == (2, 2, 96)
    shared.take(16)  # a third size: the least recently used buffer (64 bytes) is forgotten
    assert shared.nbytes == 48 and shared.made == 3
    assert shared.take(32).buffer_info()[0] == addresses[32]
    with pytest.raises(ValueError, match='at least one slot'):
        ReusableBuffer(slots=0)
