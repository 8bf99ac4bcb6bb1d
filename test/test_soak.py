# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
A test-suite-sized soak: thousands of tiny frames faster than the node can process them.

Memory must stay flat after a warm-up (RSS growth bounded and reported), no
backlog may build (once the last frame is sent, only the frame in progress and
the last one come out; the newest frame wins), and every received frame must be
accounted for: published or dropped for a reason. Behaviour, not speed: how many
frames a loaded machine publishes is the benchmark's business. The long soak for
a GPU machine is ``tools/soak_gpu.py``.
"""

import importlib.util
import json
import os
from pathlib import Path
import time

from depth_node.testing.ros_harness import Harness, make_image, make_info
from depth_node.testing.soak import MemoryTracker, rss_bytes
import numpy as np
import pytest

#: Frames sent; DEPTH_NODE_SOAK_FRAMES makes a longer soak on a workstation.
FRAMES = int(os.environ.get('DEPTH_NODE_SOAK_FRAMES', '2500'))
WARMUP = 500
PUBLISH_HZ = 500.0
W, H = 32, 24
#: RSS growth allowed from the end of the warm-up to the end (MB).
MAX_GROWTH_MB = 10.0


def test_memory_tracker_summary():
    tracker = MemoryTracker(warmup_frames=100)
    for i, rss in enumerate([50e6, 80e6, 81e6, 81e6, 82e6]):
        tracker.sample(i * 100, rss=int(rss))
    s = tracker.summary()
    assert (s.rss_start_mb, s.rss_end_mb, s.growth_mb) == (80.0, 82.0, 2.0)
    assert s.rss_max_mb == 82.0 and s.slope_mb_per_1000_frames == pytest.approx(6.0)
    assert '+2.0 MB' in s.line()
    assert rss_bytes() > 1e6


def test_soak_flat_memory_no_backlog(ros_context, fast_da_dir, capsys):
    h = Harness(ros_context, {'model': fast_da_dir, 'device': 'cpu', 'rate': 0.0,
                              'input_qos': 'reliable'}, single_threaded=True)
    camera = h.camera
    try:
        rng = np.random.default_rng(0)
        images = [rng.integers(0, 255, (H, W, 3), dtype=np.uint8) for _ in range(8)]
        h.info_pub.publish(make_info(W, H, 40.0, 40.0, stamp=(0, 0)))
        h.process(make_image(images[0], stamp=(0, 1)))
        tracker = MemoryTracker(warmup_frames=WARMUP)
        period = 1.0 / PUBLISH_HZ
        start = time.monotonic()
        for i in range(1, FRAMES + 1):
            due = start + i * period
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            h.image_pub.publish(make_image(images[i % 8], stamp=(1 + i // 1000, i % 1000)))
            if i % 250 == 0:
                with h.cond:  # the fixture keeps what it receives: keep only the newest
                    for bucket in (h.depths, h.infos, h.clouds):
                        del bucket[:-3]
                tracker.sample(i)
                if os.environ.get('DEPTH_NODE_SOAK_VERBOSE'):
                    with capsys.disabled():
                        print(f'{i} {rss_bytes() / 1e6:.1f} MB', flush=True)
        sent_at = time.monotonic()
        published_when_sent = camera.frames.published
        last = (1 + FRAMES // 1000, FRAMES % 1000)
        h.wait_for(lambda: any((m.header.stamp.sec, m.header.stamp.nanosec) == last
                               for m in h.depths[-3:]), 60.0, 'the last frame')
        lag = time.monotonic() - sent_at
        elapsed = sent_at - start
        h.wait_for(lambda: camera.queue.wait_idle(0.0) and not camera.queue.has_pending, 30.0,
                   'worker idle')
        summary = tracker.summary()
        frames = camera.frames
        accounted = frames.published + sum(frames.drops.values())
        with capsys.disabled():
            print(f'\nsoak: {FRAMES} frames {W}x{H} sent at {FRAMES / elapsed:.0f} Hz, '
                  f'{frames.received} received, {frames.published} published '
                  f'({frames.published / elapsed:.0f} Hz), drops {dict(frames.drops)}, '
                  f'last frame out {lag * 1000:.0f} ms after sending; {summary.line()}')
        # Behaviour, not speed (a loaded machine publishes fewer frames; speed is the
        # benchmark's): faster than processing, the newest frame wins, older ones are
        # dropped, not queued ...
        assert frames.drops['superseded'] > 0 and frames.published < frames.received
        # ... so once the last frame is sent, at most the frame in progress and the last
        # one come out: no backlog.
        after = frames.published - published_when_sent
        assert after <= 2, f'backlog: {after} frames published after the last was sent'
        assert h.depths[-1].header.stamp.sec == last[0]
        assert h.depths[-1].header.stamp.nanosec == last[1]
        assert frames.received == accounted, (frames.received, dict(frames.drops))
        assert set(frames.drops) == {'superseded'}, dict(frames.drops)
        assert summary.growth_mb < MAX_GROWTH_MB, summary.line()
    finally:
        h.close()


def test_gpu_soak_script_runs_briefly(fast_da_dir, ros_domain_id, monkeypatch, capsys):
    """tools/soak_gpu.py, a few seconds on the CPU, so the long soak does not rot."""
    path = Path(__file__).resolve().parents[1] / 'tools' / 'soak_gpu.py'
    spec = importlib.util.spec_from_file_location('soak_gpu', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setenv('ROS_DOMAIN_ID', str(ros_domain_id))
    code = module.main(['--model', fast_da_dir, '--device', 'cpu', '--seconds', '3',
                        '--rate-in', '20', '--width', '64', '--height', '48',
                        '--sample-s', '0.5', '--warmup-s', '1', '--states'])
    summary = json.loads(capsys.readouterr().out)
    assert code == 0 and summary['ok'], summary
    assert summary['published'] > 10 and summary['last_frame_lag_s'] < 2.0
    assert summary['diagnostics']['state'] == 'active'
    assert set(summary['gpu_memory_by_state']) >= {'unconfigured', 'inactive',
                                                   'after cleanup'}
