# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""FrameQueue (stamp pairing, rate limit, newest frame wins) and StreamMonitor, without rclpy."""

from types import SimpleNamespace

from depth_node.pairing import FrameQueue, INFO_WAIT_S, input_qos_policy
from depth_node.stream import StreamMonitor


def msg(sec, nanosec=0, **fields):
    stamp = SimpleNamespace(sec=sec, nanosec=nanosec)
    return SimpleNamespace(header=SimpleNamespace(stamp=stamp, frame_id='cam'), **fields)


class Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


def opened(rate=0.0, **kwargs):
    clock = Clock()
    queue = FrameQueue(rate, clock=clock, **kwargs)
    queue.open()
    return queue, clock


def test_closed_queue_accepts_nothing_and_open_hands_out_the_newest():
    queue, clock = opened()
    queue.close()
    assert queue.put_image(msg(1)) == (False, False, None)
    assert queue.poll(clock()) == 0.5
    queue.open()
    assert queue.put_image(msg(1))[:2] == (True, False)
    assert queue.put_image(msg(2))[:2] == (True, True)  # the waiting one is superseded
    queue.put_info(msg(2, tag='info2'))
    frame = queue.poll(clock())
    assert frame.image.header.stamp.sec == 2 and frame.paired and frame.info.tag == 'info2'
    assert queue.poll(clock()) == 0.5  # nothing waits


def test_waits_briefly_for_the_camera_info_of_the_same_stamp():
    queue, clock = opened()
    queue.put_info(msg(1, tag='old'))
    queue.put_image(msg(2))
    # The camera has been sending stamped pairs (none unpaired yet): wait for info 2.
    assert queue.poll(clock()) == 0.01
    clock.t += INFO_WAIT_S / 2
    queue.put_info(msg(2, tag='new'))
    frame = queue.poll(clock())
    assert frame.paired and frame.info.tag == 'new'


def test_static_camera_info_is_used_after_the_wait_and_never_delays_again():
    queue, clock = opened()
    queue.put_info(msg(1, tag='static'))
    queue.put_image(msg(2))
    assert queue.poll(clock()) == 0.01
    clock.t += INFO_WAIT_S * 1.01
    frame = queue.poll(clock())
    assert not frame.paired and frame.info.tag == 'static'
    queue.put_image(msg(3))  # the stream is not stamped pairs: no more waiting
    frame = queue.poll(clock())
    assert not frame.paired and frame.image.header.stamp.sec == 3


def test_no_camera_info_yet_hands_out_the_frame_without_one_after_the_wait():
    queue, clock = opened()
    queue.put_image(msg(1))
    assert queue.poll(clock()) == 0.01
    clock.t += INFO_WAIT_S * 1.01
    frame = queue.poll(clock())
    assert frame.info is None and not frame.paired


def test_rate_limit_and_rate_change():
    queue, clock = opened(rate=10.0)
    queue.put_info(msg(1))
    queue.put_image(msg(1))
    assert queue.poll(clock()).image.header.stamp.sec == 1
    queue.put_info(msg(2))
    queue.put_image(msg(2))
    wait = queue.poll(clock())
    assert abs(wait - 0.1) < 1e-9  # due 1/rate after the last one
    clock.t += 0.1
    assert queue.poll(clock()).image.header.stamp.sec == 2
    queue.put_info(msg(3))
    queue.put_image(msg(3))
    queue.rate = 0.0  # a rate change applies at once
    assert queue.poll(clock()).image.header.stamp.sec == 3


def test_stamps_going_back_forget_the_old_stream_and_say_so():
    queue, clock = opened()
    for sec in (5, 6, 7):
        queue.put_info(msg(sec, tag=f'loop1-{sec}'))
    queue.put_image(msg(7))
    queue.poll(clock())
    accepted, _, event = queue.put_image(msg(1))
    assert accepted and event.kind == 'stamp_backwards' and '7.000 s -> 1.000 s' in event.text
    queue.put_info(msg(1, tag='loop2-1'))
    frame = queue.poll(clock())
    assert frame.paired and frame.info.tag == 'loop2-1'


def test_after_a_bag_loop_the_first_image_waits_for_its_own_camera_info():
    """The loop's image may come before its camera_info: the old stream's is not used."""
    queue, clock = opened()
    queue.put_info(msg(9, tag='old stream'))
    queue.put_image(msg(9))
    queue.poll(clock())
    queue.put_image(msg(1))  # the loop starts; its camera_info is still on its way
    assert queue.poll(clock()) == 0.01
    queue.put_info(msg(1, tag='loop'))
    frame = queue.poll(clock())
    assert frame.paired and frame.info.tag == 'loop'
    queue.put_image(msg(2))  # the next image of a stream without stamped pairs: no wait
    queue.put_info(msg(2, tag='loop 2'))
    assert queue.poll(clock()).info.tag == 'loop 2'


def test_camera_info_stopping_and_resuming_are_events():
    queue, clock = opened(info_stale_s=2.0, info_topic='/cam/camera_info')
    queue.put_info(msg(1))
    queue.put_image(msg(1))
    assert not queue.poll(clock()).events
    clock.t += 3.0
    queue.put_image(msg(2))
    assert queue.poll(clock()) == 0.01  # the camera sent stamped pairs: wait a little
    clock.t += INFO_WAIT_S * 1.01
    frame = queue.poll(clock())
    assert [e.kind for e in frame.events] == ['camera_info_stopped']
    assert 'no camera_info on /cam/camera_info for 3.1 s' in frame.events[0].text
    queue.put_image(msg(3))
    assert not queue.poll(clock()).events  # said once (and no more waiting: not paired)
    event = queue.put_info(msg(4))
    assert event.kind == 'camera_info_resumed'


def test_stream_monitor_reports_each_change_once():
    monitor = StreamMonitor()
    assert monitor.frame(64, 48, 'rgb8', 'cam') == []
    monitor.waiting_for_info()
    monitor.waiting_for_info()
    events = monitor.frame(32, 24, 'bgr8', 'cam2')
    assert [e.kind for e in events] == ['camera_info_late', 'resolution', 'encoding', 'frame_id']
    assert '2 frame(s) dropped' in events[0].text and '64x48 -> 32x24' in events[1].text
    assert monitor.frame(32, 24, 'bgr8', 'cam2') == []


def test_input_qos_policy_matches_reliability_and_durability():
    """(reliable, transient_local) from the publishers: (best_effort, transient_local) each."""
    assert input_qos_policy('auto', []) is None  # wait for a publisher
    assert input_qos_policy('auto', [(False, False)]) == (True, False)
    assert input_qos_policy('auto', [(False, False), (True, False)]) == (False, False)
    assert input_qos_policy('auto', [(False, True)]) == (True, True)  # a latched camera_info
    assert input_qos_policy('auto', [(False, True), (False, False)]) == (True, False)
    assert input_qos_policy('reliable', []) == (True, False)
    assert input_qos_policy('best_effort', [(False, True)]) == (False, True)
