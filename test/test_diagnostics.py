# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""Diagnostics: rates, drops, latency percentiles, levels, and /diagnostics from the node."""

import math

from depth_node.diagnostics import (assess, DROP_REASONS, ERROR, FrameStats, KEYS, LatencyWindow,
                                    network_input_text, OK, percentile, values, WARN)
from depth_node.testing.ros_harness import Harness, make_image, make_info
from diagnostic_msgs.msg import DiagnosticArray
import numpy as np
import pytest
from rclpy.lifecycle import TransitionCallbackReturn


def test_percentiles_match_numpy():
    rng = np.random.default_rng(0)
    data = list(rng.normal(50, 10, 101))
    for q in (0, 50, 95, 100):
        assert percentile(data, q) == pytest.approx(np.percentile(data, q))
    assert math.isnan(percentile([], 50))


def test_latency_window_forgets_old_samples():
    window = LatencyWindow(window_s=5.0)
    for i in range(10):
        window.add(100.0 + i, now=float(i))
    p50, p95 = window.percentiles(now=9.0)
    assert p50 == pytest.approx(np.percentile(range(104, 110), 50))  # samples 4 .. 9
    assert math.isnan(window.percentiles(now=100.0)[0])


def test_report_rates_and_period_drops():
    stats = FrameStats()
    stats.report(now=0.0)
    for _ in range(20):
        stats.count_received()
    for _ in range(10):
        stats.count_published(network_ms=20.0, end_to_end_ms=50.0, now=1.0)
    for _ in range(8):
        stats.count_drop('superseded')
    stats.count_drop('bad_image')
    stats.count_drop('bad_image')
    r = stats.report(now=2.0)
    assert r.input_rate == 10.0 and r.output_rate == 5.0
    assert r.period_drops == {'superseded': 8, 'bad_image': 2}
    assert r.network_ms == (20.0, 20.0) and r.end_to_end_ms == (50.0, 50.0)
    r2 = stats.report(now=3.0)
    assert r2.period_received == 0 and r2.received == 20 and r2.drops['bad_image'] == 2


def _report(received=10, published=10, **drops):
    stats = FrameStats()
    stats.report(now=0.0)
    for _ in range(received):
        stats.count_received()
    for _ in range(published):
        stats.count_published(10.0, 20.0, now=0.5)
    for reason, n in drops.items():
        for _ in range(n):
            stats.count_drop(reason)
    return stats.report(now=1.0)


@pytest.mark.parametrize('state,report,level,text', [
    ('unconfigured', _report(), ERROR, 'no model loaded'),
    ('inactive', _report(), WARN, 'inactive'),
    ('active', _report(0, 0), WARN, 'no images received'),
    ('active', _report(10, 0, bad_image=10), ERROR, 'every frame dropped: bad_image 10'),
    ('active', _report(10, 0, cuda_oom=10), ERROR, 'cuda_oom'),
    ('active', _report(10, 0, no_camera_info=10), WARN, 'waiting for camera_info'),
    ('active', _report(10, 0, idle=10), OK, 'idle'),
    ('active', _report(10, 8, bad_camera_info=2), WARN, 'dropping frames: bad_camera_info 2'),
    ('active', _report(20, 10, superseded=10), OK, 'publishing at 10.0 Hz'),
])
def test_assess_levels(state, report, level, text):
    got_level, message = assess(state, report)
    assert got_level == level and text in message, message


def test_values_carry_every_key_in_order():
    pairs = values(_report(10, 5, superseded=5), {'state': 'active', 'device': 'cpu'})
    assert [k for k, _ in pairs] == list(KEYS)
    d = dict(pairs)
    assert d['device'] == 'cpu' and d['model'] == 'n/a'
    assert d['frames_received'] == '10' and d['dropped.superseded'] == '5'
    assert all(f'dropped.{r}' in d for r in DROP_REASONS)
    assert d['network_latency_p50_ms'] == '10.0'


def test_network_input_text():
    assert network_input_text({'size': {'height': 518, 'width': 518},
                               'keep_aspect_ratio': True, 'ensure_multiple_of': 14}) == \
        '518x518 (keep aspect, multiple of 14)'
    assert network_input_text({'size': {'shortest_edge': 384}}) == 'shortest edge 384'
    assert network_input_text({'do_resize': False}) == 'image size (no resize)'


# --- the node ------------------------------------------------------------------------------

W, H = 64, 48


def test_node_publishes_diagnostics(ros_context, fast_da_dir):
    h = Harness(ros_context, {'model': fast_da_dir, 'device': 'cpu', 'rate': 0.0,
                              'diagnostics_period': 0.25})
    arrays = []
    h.io.create_subscription(DiagnosticArray, '/diagnostics', h.io.collector('diag', arrays), 10)
    try:
        rgb = np.random.default_rng(0).integers(0, 255, (H, W, 3), dtype=np.uint8)
        for i in range(5):
            h.process(make_image(rgb, stamp=(10 + i, 0)), make_info(W, H, stamp=(10 + i, 0)))
        bad = make_image(rgb, stamp=(20, 0), encoding='rgb8')
        bad.encoding = 'yuv422'
        h.publish(bad)
        h.wait_for(lambda: h.camera.drops['bad_image'] == 1, 10.0, 'bad image drop')

        def latest():
            mine = [s for a in arrays for s in a.status if 'depth_node' in s.name]
            return mine[-1] if mine else None

        def ready():
            s = latest()
            return s is not None and dict((v.key, v.value) for v in s.values).get(
                'dropped.bad_image') == '1'
        h.wait_for(ready, 5.0, 'diagnostics with the drop')
        status = latest()
        d = {v.key: v.value for v in status.values}
        assert [v.key for v in status.values] == list(KEYS)
        assert status.name == f'{h.node.get_name()}: metric depth' and status.hardware_id == 'cpu'
        assert d['state'] == 'active' and d['device'] == 'cpu' and d['precision'] == 'float32'
        assert d['model'] == fast_da_dir
        assert int(d['frames_published']) == 5 and int(d['frames_received']) == 6
        assert d['input_size'] == f'{W}x{H}' and d['output_subscribers'] == '3'
        for key in ('network_latency_p50_ms', 'network_latency_p95_ms',
                    'end_to_end_latency_p50_ms', 'end_to_end_latency_p95_ms'):
            assert float(d[key]) > 0.0, key
        assert float(d['network_latency_p50_ms']) <= float(d['end_to_end_latency_p50_ms'])
        assert float(d['memory_rss_mb']) > 10.0
        assert status.level in (bytes([OK]), bytes([WARN]))
        # a quiet period: no images -> WARN
        h.wait_for(lambda: latest().message.startswith('no images'), 5.0, 'no-image warning')
        assert latest().level == bytes([WARN])
    finally:
        h.close()


def test_start_line_and_unconfigured_error(ros_context, fast_da_dir):
    h = Harness(ros_context, {'model': fast_da_dir, 'device': 'cpu', 'autostart': False,
                              'diagnostics_period': 0.2}, wait_ready=False)
    try:
        status = h.node.diagnostic_statuses()[0]
        assert status.level == bytes([ERROR]) and 'unconfigured' in status.message
        assert h.node.trigger_configure() == TransitionCallbackReturn.SUCCESS
        line = [h.log.wait_line('info', 'ready:')]
        assert len(line) == 1
        for part in (f'model {fast_da_dir}', 'device cpu', 'precision float32',
                     'network input 56x56', 'reference focal 596.1 px'):
            assert part in line[0], (part, line[0])
        assert h.node.diagnostic_statuses()[0].level == bytes([WARN])  # inactive
    finally:
        h.close()
