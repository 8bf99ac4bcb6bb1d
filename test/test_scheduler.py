# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""BatchScheduler: the due frames of several cameras, one per camera, fair; without rclpy."""

import threading
from types import SimpleNamespace

from depth_node.scheduler import BatchScheduler


def msg(sec, nanosec=0):
    stamp = SimpleNamespace(sec=sec, nanosec=nanosec)
    return SimpleNamespace(header=SimpleNamespace(stamp=stamp, frame_id='cam'))


class Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


def cameras(rates, max_batch=0):
    clock = Clock()
    scheduler = BatchScheduler(max_batch, clock=clock)
    queues = {}
    for name, rate in rates.items():
        queues[name] = scheduler.queue(name, rate=rate)
        queues[name].open()
        queues[name].put_info(msg(0))
    return scheduler, queues, clock


def feed(queue, sec):
    queue.put_info(msg(sec))
    queue.put_image(msg(sec))


def test_every_camera_with_a_frame_due_is_in_one_batch():
    scheduler, queues, clock = cameras({'front': 0.0, 'rear': 0.0, 'left': 0.0})
    feed(queues['front'], 1)
    feed(queues['rear'], 1)
    frames, wait = scheduler.poll(clock())
    assert sorted(key for key, _ in frames) == ['front', 'rear'] and wait == 0.0
    assert all(frame.paired for _, frame in frames)
    # Busy cameras are not due again until their frame is done.
    feed(queues['front'], 2)
    assert scheduler.poll(clock())[0] == []
    queues['front'].done()
    assert [key for key, _ in scheduler.poll(clock())[0]] == ['front']


def serve(rates, steps, max_batch):
    """Feed every camera a frame at 30 Hz for ``steps`` frames; return the served keys."""
    scheduler, queues, clock = cameras(rates, max_batch=max_batch)
    served = []
    for step in range(steps):
        clock.t += 1 / 30
        for queue in queues.values():
            feed(queue, step + 1)
        frames, _ = scheduler.poll(clock())
        for key, _ in frames:
            served.append(key)
            queues[key].done()
    return served


def test_a_fast_camera_cannot_starve_a_slow_one():
    # One frame per batch: the 5 Hz camera still gets every frame its rate allows, as
    # when it is alone, and the 30 Hz camera every other slot.
    alone = serve({'slow': 5.0}, 60, max_batch=1).count('slow')
    served = serve({'fast': 0.0, 'slow': 5.0}, 60, max_batch=1)
    assert alone >= 9 and served.count('slow') == alone
    assert served.count('fast') == 60 - alone


def test_max_batch_serves_the_cameras_waiting_longest_first():
    scheduler, queues, clock = cameras({'a': 0.0, 'b': 0.0, 'c': 0.0}, max_batch=2)
    order = []
    for step in range(6):
        for queue in queues.values():
            feed(queue, step + 1)
        clock.t += 0.01
        frames, _ = scheduler.poll(clock())
        assert len(frames) == 2
        for key, _ in frames:
            order.append(key)
            queues[key].done()
    assert {order.count(name) for name in 'abc'} == {4}  # round robin


def test_nothing_due_says_how_long_to_wait():
    scheduler, queues, clock = cameras({'a': 2.0})
    feed(queues['a'], 1)
    frames, _ = scheduler.poll(clock())
    queues['a'].done()
    feed(queues['a'], 2)
    frames, wait = scheduler.poll(clock())
    assert frames == [] and abs(wait - 0.5) < 1e-9  # 2 Hz: the next frame in 0.5 s


def test_take_blocks_until_a_frame_and_stop_releases_it():
    scheduler = BatchScheduler()
    queue = scheduler.queue('cam')
    queue.open()
    got = []
    worker = threading.Thread(target=lambda: got.append(scheduler.take()))
    worker.start()
    queue.put_info(msg(1))
    queue.put_image(msg(1))
    worker.join(5.0)
    assert got and [key for key, _ in got[0]] == ['cam'] and got[0][0][1].paired
    assert not queue.wait_idle(0.0)  # taken, not done
    queue.done()
    assert queue.wait_idle(0.0)
    worker = threading.Thread(target=lambda: got.append(scheduler.take()))
    worker.start()
    scheduler.stop()
    worker.join(5.0)
    assert not worker.is_alive() and got[-1] is None
