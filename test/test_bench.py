# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""Smoke tests of depth_node_bench: it runs on CPU with tiny models and reports numbers."""

import json

from depth_node.offline import bench
import documentation
import pytest
import torch

STAGE_KEYS = ('upload', 'preprocess', 'network', 'postprocess', 'depth_msg', 'total')


def run_main(capsys, *argv):
    """Run ``bench.main``; return the report of the final stdout line and the full stdout."""
    assert bench.main(list(argv)) == 0
    out = capsys.readouterr().out
    return json.loads(out.strip().splitlines()[-1]), out


def test_bench_reports_every_stage(capsys, tmp_path, tiny_da_dir):
    path = tmp_path / 'bench.json'
    threads = torch.get_num_threads()
    report, out = run_main(capsys, '--model', tiny_da_dir, '--device', 'cpu', '--width', '160',
                           '--height', '120', '--frames', '3', '--warmup', '1', '--threads',
                           '1', '--json', str(path))
    assert torch.get_num_threads() == threads, 'main() must restore the thread count'
    assert 'torch threads 1' in report['machine']
    assert json.loads(path.read_text()) == report
    for key in ('model', 'family', 'device', 'machine', 'precision', 'width', 'height',
                'cameras', 'frames', 'warmup', 'cloud', 'compile', 'flip_tta', 'stages', 'fps',
                'load_s', 'warmup_first_frame_s', 'warmup_s', 'peak_gpu_memory_mib',
                'peak_host_rss_mib', 'ros_messages', 'torch', 'transformers', 'notes'):
        assert key in report, key
    assert (report['width'], report['height'], report['cameras']) == (160, 120, 1)
    assert report['multicamera'] is None and report['private_memory_mib'] > 0
    assert report['device'] == 'cpu' and report['precision'] == 'float32'
    assert report['cloud'] is True and report['family'] == 'depth_anything_v2_metric'
    assert (report['decimation'], report['edge_filter'], report['scan'],
            report['colored']) == (1, True, True, True)
    keys = STAGE_KEYS + ('cloud_msg', 'edge_filter', 'scan', 'colored')
    if report['ros_messages']:
        keys += ('ros_depth_msg', 'ros_cloud_msg', 'ros_scan_msg', 'ros_colored_msg')
    assert 'decimate' not in report['stages']  # output_decimation 1
    for key in keys:
        stat = report['stages'][key]
        assert stat['median_ms'] > 0 and stat['p90_ms'] >= stat['median_ms'], key
    assert report['fps'] > 0 and report['load_s'] > 0 and report['peak_host_rss_mib'] > 0
    assert report['peak_gpu_memory_mib'] is None  # CPU
    assert 'frames per second' in out and 'network' in out


@pytest.mark.parametrize('family', ['zoedepth', 'depth_pro'])
def test_bench_runs_every_family_without_cloud(capsys, tmp_path, family):
    from depth_node.testing.tiny_models import make_depth_pro, make_zoedepth
    path = make_zoedepth(tmp_path) if family == 'zoedepth' else make_depth_pro(tmp_path)
    report, out = run_main(capsys, '--model', path, '--device', 'cpu', '--width', '96',
                           '--height', '64', '--frames', '2', '--warmup', '0', '--no-cloud',
                           '--flip-tta')
    assert report['family'] == family and report['cloud'] is False
    assert report['flip_tta'] is (family == 'zoedepth')
    assert 'cloud_msg' not in report['stages'] and 'ros_cloud_msg' not in report['stages']
    assert all(report['stages'][k]['median_ms'] > 0 for k in STAGE_KEYS)
    assert 'point cloud payload' in out and '(off)' in out


def test_bench_navigation_stages_follow_the_options(capsys, tiny_da_dir):
    report, out = run_main(capsys, '--model', tiny_da_dir, '--device', 'cpu', '--width', '96',
                           '--height', '64', '--frames', '2', '--warmup', '0',
                           '--decimation', '2', '--no-scan', '--no-colored',
                           '--no-edge-filter')
    stages = report['stages']
    assert stages['decimate']['median_ms'] > 0 and report['decimation'] == 2
    for key in ('edge_filter', 'scan', 'colored', 'ros_scan_msg', 'ros_colored_msg'):
        assert key not in stages, key
    assert 'edge filter (flying pixels)' in out and 'LaserScan ranges' in out


def test_bench_cameras_batched_and_one_at_a_time(capsys, tiny_da_dir):
    report, out = run_main(capsys, '--model', tiny_da_dir, '--device', 'cpu', '--width', '96',
                           '--height', '64', '--frames', '4', '--warmup', '1', '--cameras', '3')
    assert report['cameras'] == 3 and report['fps'] > 0
    multi = report['multicamera']
    for mode in ('batched', 'sequential'):
        latency = multi[mode]['latency_p50_ms_per_camera']
        assert multi[mode]['fps'] > 0 and len(latency) == 3
        # Each camera is served after the one before it in the step.
        assert latency == sorted(latency), latency
    assert multi['batched_over_sequential_fps'] == pytest.approx(
        multi['batched']['fps'] / multi['sequential']['fps'], rel=1e-2)
    assert 'per step' in out and 'total per step' in out
    assert 'one at a time (max_batch 1)' in out and 'batched / one at a time:' in out


@pytest.mark.parametrize('family', ['depth_anything', 'zoedepth-nk', 'depth_pro'])
def test_predict_batch_equals_one_at_a_time(tmp_path, family):
    from depth_node.models import load_model
    from depth_node.outputs import PredictRequest
    from depth_node.testing.tiny_models import (make_depth_anything, make_depth_pro, make_zoedepth,
                                                textured_image)
    import numpy as np
    path = {'depth_anything': lambda: make_depth_anything(tmp_path),
            'zoedepth-nk': lambda: make_zoedepth(tmp_path, heads='nyu-kitti'),
            'depth_pro': lambda: make_depth_pro(tmp_path)}[family]()
    model = load_model(path, 'cpu')
    images = [textured_image(60, 80, seed=s) for s in range(3)]
    requests = [PredictRequest(image, focal=(70.0, 70.0)) for image in images]
    batched = [depth for _, depth in model.predict_many(requests)]
    for image, depth in zip(images, batched):
        np.testing.assert_allclose(depth, model.predict(image, focal=(70.0, 70.0)), rtol=1e-3)


def test_bench_load_error_is_one_line(capsys):
    # Could not start: exit status 2 and one error: line, as every console script (README).
    assert bench.main(['--model', '/no/such/dir', '--device', 'cpu']) == 2
    err = capsys.readouterr().err
    assert 'does not exist' in err and len(err.strip().splitlines()) == 1
    assert err.startswith('depth_node_bench: error: ')


@pytest.mark.parametrize('tool', ['torch', 'python'])
def test_bench_profile_summarises_where_the_time_goes(capsys, tiny_da_dir, tool):
    argv = ['--model', tiny_da_dir, '--device', 'cpu', '--width', '96', '--height', '64',
            '--frames', '2', '--warmup', '0', '--profile-frames', '2', '--profile']
    report, out = run_main(capsys, *(argv + ([] if tool == 'torch' else ['python'])))
    profile = report['profile']
    assert profile['frames'] == 2 and profile['top']
    assert all(row['cpu_ms'] >= 0 and row['calls_per_frame'] > 0 for row in profile['top'])
    if tool == 'torch':
        assert profile['tool'] == 'torch.profiler'
        names = {row['name'] for row in profile['stages']}
        assert {'depth_node.network', 'depth_node.preprocess'} <= names
        assert any(row['name'].startswith('aten::') for row in profile['top'])
    else:
        assert profile['tool'] == 'cProfile' and 'cumulative_ms' in profile['top'][0]
    assert f"profile: {profile['tool']}" in out


def test_bench_device_payloads_on_the_cpu(capsys, tiny_da_dir):
    report, out = run_main(capsys, '--model', tiny_da_dir, '--device', 'cpu', '--width', '96',
                           '--height', '64', '--frames', '2', '--warmup', '0',
                           '--payloads', 'device')
    assert report['payloads'] == 'device' and report['profile'] is None
    assert report['stages']['cloud_msg']['median_ms'] > 0
    assert 'payloads on the device' in out
    assert 'device_median_ms' not in report['stages']['network']  # CPU: no CUDA events


def test_table_shows_device_and_host_columns_when_measured():
    stages = {key: {'median_ms': 2.0, 'p90_ms': 3.0} for key, _ in bench.STAGES}
    stages['network'].update(device_median_ms=1.5, host_median_ms=0.25)
    report = {'model': 'm', 'family': 'f', 'machine': 'GPU', 'device': 'cuda:0',
              'precision': 'float16', 'width': 640, 'height': 480, 'cameras': 1, 'frames': 3,
              'warmup': 1, 'cloud': True, 'compile': False, 'flip_tta': False,
              'decimation': 1, 'edge_filter': True, 'scan': False, 'colored': False,
              'payloads': 'device', 'stages': stages, 'ros_messages': True, 'fps': 100.0,
              'peak_gpu_memory_mib': 10.0, 'peak_gpu_reserved_mib': 20.0,
              'peak_host_rss_mib': 100.0, 'load_s': 1.0, 'warmup_first_frame_s': 1.0,
              'warmup_s': 1.0, 'notes': [], 'profile': None}
    table = bench.format_table(report)
    assert 'device ms' in table and 'host ms' in table
    network = next(line for line in table.splitlines() if line.startswith('network'))
    assert network.split()[-2:] == ['1.50', '0.25']


CALIBRATION_KEYS = ('package_ms', 'package_no_filter_ms', 'minimal_ms', 'floor_ms',
                    'package_over_minimal', 'package_over_floor',
                    'package_no_filter_over_minimal', 'package_no_filter_over_floor',
                    'minimal_over_floor')


def test_bench_calibrates_against_the_minimal_reference_and_the_copy_floor(capsys, tiny_da_dir):
    report, out = run_main(capsys, '--model', tiny_da_dir, '--device', 'cpu', '--width', '96',
                           '--height', '64', '--frames', '2', '--warmup', '0',
                           '--sizes', '96x64,160x120', '--calibration-rounds', '3')
    cal = report['calibration']
    assert cal['clock'] == 'time.thread_time' and cal['rounds'] == 3
    assert len(cal['load_average']['start']) == 3 and len(report['load_average']['end']) == 3
    assert [r['size'] for r in cal['sizes']] == ['96x64', '160x120']
    for r in cal['sizes']:
        for key in CALIBRATION_KEYS:
            assert r[key] >= 0, key
        assert r['package_ms'] > 0 and r['minimal_ms'] > 0 and r['floor_ms'] > 0
        assert -1.0 <= r['edge_filter_share'] <= 1.0  # a median of noisy differences
        # The paired ratio is a median of per-round ratios: near the ratio of the medians.
        assert 0.2 < r['package_over_minimal'] / (r['package_ms'] / r['minimal_ms']) < 5
        assert {'edge_filter', 'depth_msg', 'cloud_msg', 'scan'} <= set(r['stages_ms'])
        assert {'preprocess', 'network', 'cloud_msg'} <= set(r['frame_stages_ms'])
        assert r['buffers_reused']['cloud'] > 0 and r['buffers_reused']['depth'] > 0
    for key in ('package', 'minimal', 'floor', 'frame.preprocess', 'payload.cloud_msg'):
        assert set(cal['fit'][key]) == {'ms_per_mp', 'intercept_ms', 'r2'}, key
    assert 'calibration: 3 interleaved rounds' in out and 'pkg/min' in out
    assert 'ms per megapixel' in out and 'load average (1/5/15 min)' in out


def test_bench_calibrates_at_its_own_size_by_default_and_can_skip_it(capsys, tiny_da_dir):
    argv = ['--model', tiny_da_dir, '--device', 'cpu', '--width', '64', '--height', '48',
            '--frames', '1', '--warmup', '0']
    report, _ = run_main(capsys, *(argv + ['--calibration-rounds', '2']))
    assert [r['size'] for r in report['calibration']['sizes']] == ['64x48']
    assert report['calibration']['fit'] == {}  # one size: no line to fit
    report, out = run_main(capsys, *(argv + ['--calibration-rounds', '0']))
    assert report['calibration'] is None and 'calibration:' not in out


@pytest.mark.parametrize('sizes', ['640', '640x', 'x480', '0x480', '640x480,abc'])
def test_bench_refuses_bad_sizes(capsys, sizes):
    with pytest.raises(SystemExit):
        bench.main(['--sizes', sizes])
    assert 'WIDTHxHEIGHT' in capsys.readouterr().err


def test_sizes_readme_are_the_four_of_the_performance_tables():
    from depth_node.offline.baseline import parse_sizes
    assert parse_sizes('readme') == [(640, 480), (1280, 720), (1920, 1080), (3840, 2160)]
    assert parse_sizes(' 64x48 ,32X24') == [(64, 48), (32, 24)]


def test_minimal_reference_writes_the_bytes_of_the_package_cloud():
    """The reference does the same work: on a fully valid depth map, the same cloud bytes."""
    from depth_node.geometry import CloudBuilder
    from depth_node.offline.baseline import CopyFloor, MinimalReference
    import numpy as np
    intr = bench.synthetic_intrinsics(48, 32)
    rng = np.random.default_rng(0)
    depth = rng.uniform(0.5, 5.0, (32, 48)).astype(np.float32)
    for order in ((0, 1, 2), (2, 1, 0)):
        pixels = rng.integers(0, 256, (32, 48, 3), dtype=np.uint8)
        cloud, image = MinimalReference(intr, pixels, order).run(depth)
        package = CloudBuilder().build(depth, intr, pixels, rgb_order=order)
        assert cloud.tobytes() == package.data.tobytes() and image.tobytes() == depth.tobytes()
    floor = CopyFloor(48, 32)
    floor._src[0][0, 0, 0] = 5.0
    floor.run()
    assert floor._dst[0][0, 0, 0] == 5.0 and floor._dst[1].shape == (32, 48)


def test_linear_fit_of_a_line_and_of_one_size():
    from depth_node.offline.baseline import linear_fit
    fit = linear_fit([0.3, 0.9, 2.1, 8.3], [0.5 + 3.0 * x for x in (0.3, 0.9, 2.1, 8.3)])
    assert fit == {'ms_per_mp': 3.0, 'intercept_ms': 0.5, 'r2': 1.0}
    assert linear_fit([0.3], [1.0]) is None and linear_fit([0.3, 0.3], [1.0, 2.0]) is None


def test_readme_documents_every_calibration_key(tiny_da_dir):
    """doc/performance.md names each JSON key of the calibration (issue 19)."""
    from depth_node.models import load_model
    from depth_node.offline.baseline import calibrate
    from depth_node.outputs import OutputOptions
    readme = documentation.text()  # README and the guides under doc/
    section = readme.split('\n## Performance', 1)[1].split('\n## ', 1)[0]
    cal = calibrate(load_model(tiny_da_dir, 'cpu'), [(32, 24), (48, 32)], OutputOptions(scan=True),
                    1)
    keys = set(cal) | {'load_average'} | set(cal['sizes'][0]) | set(cal['fit']['package'])
    keys |= set(cal['sizes'][0]['stages_ms']) | {'frame.<stage>', 'payload.<stage>'}
    for key in sorted(keys):
        name = key.split('.')[-1] if key.startswith(('frame.', 'payload.')) else key
        if name.endswith('_wall_ms'):
            name = '*_wall_ms'
        if name.startswith('ros_'):
            name = 'ros_*_msg'
        spelled = (f'`{name}`', f'.{name}`', f'.{name}[]`', f'`{key}`', f', `.{name}`')
        assert any(text in section for text in spelled), key
