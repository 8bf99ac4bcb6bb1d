# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""tools/gpu_check.sh in --quick mode on the CPU, and the real-size configurations."""

import io
import json
import os
from pathlib import Path
import subprocess
import sys
from types import SimpleNamespace

from depth_node.offline import gpu_check
import pytest
import torch

REPO = Path(__file__).resolve().parents[1]


def test_real_size_architectures_match_the_hub_models():
    """Parameter counts of the random-weight stand-ins (built on the meta device: no memory)."""
    from transformers import DepthAnythingForDepthEstimation, DepthProForDepthEstimation
    with torch.device('meta'):
        da = DepthAnythingForDepthEstimation(gpu_check.depth_anything_v2_small_config())
        pro = DepthProForDepthEstimation(gpu_check.depth_pro_config())
    # ViT-S Depth Anything V2: 24.8 M; Depth Pro (three ViT-L/16 encoders + fusion): 952 M.
    assert round(sum(p.numel() for p in da.parameters()) / 1e6, 1) == 24.8
    assert round(sum(p.numel() for p in pro.parameters()) / 1e6) == 952
    assert da.config.max_depth == 20 and da.config.depth_estimation_type == 'metric'
    assert pro.config.use_fov_model


def test_quick_run_reports_every_case_and_state(tmp_path):
    args = gpu_check.build_parser().parse_args(
        ['--quick', '--device', 'cpu', '--modes', 'fp32', '--frames', '2'])
    args.only = []
    out = io.StringIO()
    report = gpu_check.run_checks(args, out)
    text = out.getvalue()
    assert 'TINY architectures with random weights' in text
    assert 'CPU figures, not GPU ones' in text
    rows = report['results']
    assert [(r['width'], r['cloud']) for r in rows] == [
        (64, True), (64, False), (128, True), (128, False), (160, True), (160, False)]
    for row in rows:
        assert row['fps'] > 0 and 0 < row['p50_ms'] <= row['p95_ms']
        assert row['mode'] == 'fp32' and row['frames'] == 2
    identity = report['payload_identity']
    assert [(c['model'], c['width']) for c in identity] == [
        (r['model'], r['width']) for r in rows if r['cloud']]
    assert all(c['identical'] for c in identity), identity
    assert set(identity[0]['checks']) == {'depth 32FC1', 'depth 16UC1', 'cloud organized',
                                          'cloud dense'}
    assert 'payloads on the device == numpy' in text
    assert len(report['lifecycle']) == 2
    states = [s['state'] for s in report['lifecycle'][0]['states']]
    assert states[0].startswith('unconfigured') and states[-1].startswith('unconfigured again')
    assert any(s.startswith('inactive') for s in states)
    assert report['skipped'] == []


def test_budget_skips_the_rest_and_says_so():
    args = SimpleNamespace(device='cpu', quick=True, modes='fp32', only=['pro'], frames=1,
                           warmup=0, depth_pro_frame=(1920, 1080), budget_s=-1.0,
                           no_lifecycle=True)
    out = io.StringIO()
    report = gpu_check.run_checks(args, out)
    assert report['results'] == []
    assert report['skipped'] == ['Depth Pro (tiny, net 128) 160x120 fp32: time budget']
    assert 'skipped: Depth Pro' in out.getvalue()


def test_script_runs_in_quick_mode(tmp_path):
    """The one command, as a user runs it: one line per case, then the JSON report."""
    json_path = tmp_path / 'report.json'
    env = dict(os.environ, CUDA_VISIBLE_DEVICES='')
    proc = subprocess.run(
        ['sh', str(REPO / 'tools' / 'gpu_check.sh'), '--quick', '--only', 'anything',
         '--frames', '1', '--no-lifecycle', '--json', str(json_path)],
        capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.strip().splitlines()
    assert sum('fps' in line and 'p95' in line for line in lines[:-1]) == 4
    report = json.loads(lines[-1])
    assert report == json.loads(json_path.read_text())
    assert report['device'] == 'cpu' and report['modes'] == ['fp32']


def test_unknown_mode_is_refused(capsys):
    with pytest.raises(SystemExit):
        gpu_check.main(['--quick', '--modes', 'fp8'])
    assert 'unknown mode' in capsys.readouterr().err


def test_runs_without_the_venv_python_too():
    """The GPU machines have python3 with torch but not our venv: the script falls back."""
    script = (REPO / 'tools' / 'gpu_check.sh').read_text()
    assert '.venv/bin/python' in script and 'python3' in script
    assert sys.executable  # the test itself runs in the venv
