# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
Start-up of the entry points as a new user meets it (issue 16 items 10 and 11).

Offline, every tool fails within seconds (not after the Hub downloader's 30 s of
retries) with one ``error:`` line in its own option syntax and exit status 2; a
model already in the local Hugging Face cache still loads, also while the Hub is
unreachable; the loading line comes before the weights; the libraries draw no
progress bars into output that is not a terminal. The ROS-argument checks are
compared with what rcl itself accepts and refuses. The node's own process is
tested in ``test_blackbox.py``.
"""

import os
from pathlib import Path
import shutil
import subprocess
import sys
import time

from depth_node.params import DEFAULT_MODEL
import pytest

SAMPLE = Path(__file__).resolve().parents[1] / 'depth_node' / 'sample'
NYU = Path(__file__).resolve().parents[2] / 'shared' / 'data' / 'rgbd' / 'nyu'
#: A start that fails "fast": the tools import torch in-process already; the Hub's
#: downloader took 23-35 s of retries here before it gave up.
FAST_S = 12.0


def one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    assert 'Traceback' not in text
    return lines[0]


def fake_cache(cache: Path, repo_id: str, files_from: str, names=None) -> None:
    """Lay out ``files_from``'s files as huggingface_hub caches a downloaded repo."""
    repo = cache / ('models--' + repo_id.replace('/', '--'))
    snapshot = repo / 'snapshots' / ('0' * 40)
    snapshot.mkdir(parents=True)
    (repo / 'refs').mkdir()
    (repo / 'refs' / 'main').write_text('0' * 40)
    for name in names or os.listdir(files_from):
        shutil.copy(os.path.join(files_from, name), snapshot / name)


@pytest.fixture
def hub(monkeypatch, tmp_path):
    """
    Return an empty Hub cache; offline mode off and the Hub's host refusing connections.

    The discard port on localhost refuses at once, like a machine without a
    network whose DNS fails at once (the Hub downloader still retried for 30 s).
    """
    import huggingface_hub.constants as constants
    cache = tmp_path / 'hub'
    cache.mkdir()
    monkeypatch.setattr(constants, 'HF_HUB_OFFLINE', False)
    monkeypatch.setattr(constants, 'ENDPOINT', 'http://127.0.0.1:9')
    monkeypatch.setattr(constants, 'HF_HUB_CACHE', str(cache))
    for name in ('HTTPS_PROXY', 'https_proxy', 'ALL_PROXY', 'all_proxy'):
        monkeypatch.delenv(name, raising=False)
    return cache


def tool_main(prog):
    from depth_node.offline import bench, eval as evaluate, run
    return {'depth_node_run': run.main, 'depth_node_eval': evaluate.main,
            'depth_node_bench': bench.main}[prog]


TOOL_ARGS = {
    'depth_node_run': [str(SAMPLE), '--out', 'OUT', '--no-progress'],
    'depth_node_eval': [str(SAMPLE), '--no-progress', '--fx', '525'],
    'depth_node_bench': ['--frames', '1', '--warmup', '0', '--width', '64', '--height', '48'],
}


@pytest.mark.parametrize('prog', sorted(TOOL_ARGS))
def test_offline_tools_fail_fast_in_their_own_terms(prog, hub, tmp_path, capsys):
    """Issue 16 item 10: 35 s of retry warnings, then node syntax (and bench: exit 1)."""
    argv = [str(tmp_path / 'out') if a == 'OUT' else a for a in TOOL_ARGS[prog]]
    t0 = time.monotonic()
    status = tool_main(prog)(argv + ['--device', 'cpu'])
    elapsed = time.monotonic() - t0
    captured = capsys.readouterr()
    line = one_line(captured.err)
    assert status == 2, captured
    assert line.startswith(f"{prog}: error: cannot fetch '{DEFAULT_MODEL}': the Hugging Face "
                           'Hub is unreachable (127.0.0.1: '), line
    assert 'not in the local cache; pass --model <a local checkpoint directory' in line, line
    assert 'model:=' not in line
    assert elapsed < FAST_S, f'{elapsed:.1f} s'


def test_bench_cannot_start_is_an_error_line_and_status_2(tmp_path, capsys):
    from depth_node.offline import bench
    status = bench.main(['--model', str(tmp_path / 'missing'), '--device', 'cpu'])
    line = one_line(capsys.readouterr().err)
    assert status == 2
    assert line.startswith('depth_node_bench: error: model directory '), line
    assert 'pass --model <Hugging Face id' in line and 'model:=' not in line, line


def test_cached_model_loads_with_hub_offline_mode(hub, tiny_da_dir, monkeypatch):
    """A model once downloaded loads with HF_HUB_OFFLINE=1, saying what it loads first."""
    import huggingface_hub.constants as constants
    from depth_node.models import load_model
    fake_cache(hub, DEFAULT_MODEL, tiny_da_dir)
    monkeypatch.setattr(constants, 'HF_HUB_OFFLINE', True)
    said = []
    model = load_model(DEFAULT_MODEL, 'cpu', 'fp32', announce=said.append)
    assert said == [f'loading {DEFAULT_MODEL} on cpu...']
    assert model.family == 'depth_anything_v2_metric' and model.model_id == DEFAULT_MODEL


def test_cached_model_loads_at_once_while_the_hub_is_unreachable(
        hub, tiny_da_dir, tmp_path, capsys):
    """Without HF_HUB_OFFLINE the downloader retried for 25 s before it used the cache."""
    from depth_node.offline import run
    fake_cache(hub, DEFAULT_MODEL, tiny_da_dir)
    t0 = time.monotonic()
    status = run.main([str(SAMPLE), '--device', 'cpu', '--max-frames', '1', '--no-progress',
                       '--no-color', '--out', str(tmp_path / 'out')])
    elapsed = time.monotonic() - t0
    captured = capsys.readouterr()
    assert status == 0, captured.err
    assert f'depth_node_run: loading {DEFAULT_MODEL} on cpu...' in captured.err.splitlines()
    assert f'model {DEFAULT_MODEL} (depth_anything_v2_metric)' in captured.out
    assert (tmp_path / 'out' / 'frame_000_depth.png').is_file()
    assert elapsed < FAST_S, f'{elapsed:.1f} s'


def test_a_partial_download_is_not_a_cached_model(hub, tiny_da_dir, capsys):
    """config.json without the weights (an interrupted first download) cannot load offline."""
    from depth_node.offline import eval as evaluate
    fake_cache(hub, DEFAULT_MODEL, tiny_da_dir, names=['config.json'])
    t0 = time.monotonic()
    status = evaluate.main([str(SAMPLE), '--fx', '525', '--device', 'cpu', '--no-progress'])
    line = one_line(capsys.readouterr().err)
    assert status == 2 and 'the Hugging Face Hub is unreachable' in line, line
    assert time.monotonic() - t0 < FAST_S


def test_loading_line_comes_before_the_weights(tiny_da_dir, monkeypatch):
    import transformers
    from depth_node.models import load_model
    events = []
    real = transformers.AutoModelForDepthEstimation.from_pretrained

    def from_pretrained(*args, **kwargs):
        events.append('weights')
        return real(*args, **kwargs)
    monkeypatch.setattr(transformers.AutoModelForDepthEstimation, 'from_pretrained',
                        from_pretrained)
    load_model(tiny_da_dir, 'cpu', 'fp32', announce=events.append)
    assert events == [f'loading {tiny_da_dir} on cpu...', 'weights']


def test_quick_failures_say_nothing_about_loading(tmp_path):
    """A model that cannot load in milliseconds gets its error line alone, no loading line."""
    from depth_node.errors import ModelLoadError
    from depth_node.models import check_model, load_model
    said = []
    with pytest.raises(ModelLoadError, match='does not exist'):
        load_model(str(tmp_path / 'missing'), 'cpu', announce=said.append)
    with pytest.raises(ModelLoadError, match='does not exist'):
        check_model(str(tmp_path / 'missing'), 'cpu')
    assert said == []


def test_first_use_says_it_downloads():
    import torch
    from depth_node.hub import HubAccess
    from depth_node.models.loader import loading_text
    first = HubAccess(hub=True, cached=False, offline=None)
    assert first.download and not first.local_only
    assert loading_text('org/m', torch.device('cpu'), first) == (
        'loading org/m on cpu (first use: downloading it from the Hugging Face Hub)...')
    cached_offline = HubAccess(hub=True, cached=True, offline='HF_HUB_OFFLINE is set')
    assert cached_offline.local_only and not cached_offline.download
    assert loading_text('org/m', torch.device('cpu'), cached_offline) == 'loading org/m on cpu...'


def test_tools_draw_no_library_bars_when_not_on_a_terminal(tiny_da_dir, tmp_path):
    """Draw no 'Loading weights: 100%|###|' of transformers into a log or a pipe."""
    exe = Path(sys.executable).parent / 'depth_node_run'
    if not os.access(exe, os.X_OK):
        pytest.skip('the depth_node_run executable is not installed')
    env = dict(os.environ, HF_HUB_OFFLINE='1')
    proc = subprocess.run([str(exe), str(SAMPLE), '--model', tiny_da_dir, '--device', 'cpu',
                           '--max-frames', '1', '--out', str(tmp_path / 'o'), '--no-color'],
                          capture_output=True, text=True, timeout=300, env=env,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.splitlines() == [f'depth_node_run: loading {tiny_da_dir} on cpu...']
    assert '%|' not in proc.stdout + proc.stderr


def test_download_bars_only_on_a_terminal():
    from depth_node.offline.cli import library_progress
    from huggingface_hub.utils import are_progress_bars_disabled, enable_progress_bars
    try:
        library_progress(terminal=True)
        assert not are_progress_bars_disabled()
        library_progress(terminal=False)
        assert are_progress_bars_disabled()
    finally:
        enable_progress_bars()


def test_demo_and_hub_id_rules(monkeypatch, tmp_path):
    """The demo's offline check is the core's (one check, depth_node.hub)."""
    from depth_node import hub
    from depth_node.offline import demo
    assert demo.hub_unreachable is hub.hub_unreachable
    assert hub.is_hub_id('org/name') and hub.is_hub_id('bert-base-uncased')
    assert not hub.is_hub_id(str(tmp_path)) and not hub.is_hub_id('./org/name')
    assert not hub.is_hub_id('a/b/c') and not hub.is_hub_id('~/models/x')
    # A bare name is a hub id unless such a directory exists: say both when it is neither.
    assert "cache (nor a directory here); pass" in hub.unreachable_text('tiny_da', 'offline')
    assert "cache; pass" in hub.unreachable_text('org/name', 'offline')


# --------------------------------------------------------------------------- ROS arguments

def write(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


def rcl_refuses(argv) -> bool:
    """Whether rcl itself refuses ``argv`` (a fresh context each time)."""
    rclpy = pytest.importorskip('rclpy')
    context = rclpy.Context()
    try:
        rclpy.init(args=argv, context=context)
    except Exception:  # noqa: B902 - RCLError, UnknownROSArgsError
        return True
    rclpy.try_shutdown(context=context)
    return False


def test_ros_argument_checks_agree_with_rcl(tmp_path):
    """Every case we refuse before rclpy.init, rcl refuses too; every one rcl takes, we take."""
    from depth_node.startup import explain_ros_args, ros_args_problem
    good = write(tmp_path / 'good.yaml', '/**:\n  ros__parameters:\n    rate: 5.0\n')
    nested = write(tmp_path / 'nested.yaml',
                   '/ns:\n  depth_node:\n    ros__parameters:\n      edge_filter:\n'
                   '        enabled: false\n')
    misspelt = write(tmp_path / 'misspelt.yaml', '/**:\n  ros_parameters:\n    rate: 5.0\n')
    loose = write(tmp_path / 'loose.yaml', '/**:\n  rate: 5.0\n')
    config = str(Path(__file__).resolve().parents[1] / 'config' / 'depth_node.yaml')
    refused = {
        ('--params-file', str(tmp_path / 'missing.yaml')):
            f'--params-file {tmp_path / "missing.yaml"}: no such file',
        ('--params-file', misspelt):
            f"--params-file {misspelt}: 'ros_parameters' (line 2) is not 'ros__parameters' "
            "(two underscores): rcl reads a node's parameters only under ros__parameters",
        ('--params-file', loose):
            f"--params-file {loose}: 'rate' (line 2) has a value outside any ros__parameters "
            "block; write '<node name>:' then '  ros__parameters:' then the parameters "
            "(e.g. '/**:')",
        ('-p', 'rate'): '-p rate: no value; write -p rate:=<value>',
        ('-p', 'rate:='): '-p rate:=: no value; write -p rate:=<value>',
        ('-r', 'image'): '-r image: no target; write -r image:=<new name>',
        ('--remap', 'image:='): '--remap image:=: no target; write --remap image:=<new name>',
        ('-p',): '-p needs name:=<value>',
    }
    accepted = [('--params-file', good), ('--params-file', nested), ('--params-file', config),
                ('-p', 'rate:=5'), ('-r', 'image:=/camera/image_raw', '-p', 'model:=/m'),
                ('--log-level', 'warn', '--disable-rosout-logs')]
    for args, text in refused.items():
        argv = ['depth_node', '--ros-args', *args]
        assert ros_args_problem(argv) == text, args
        assert explain_ros_args(argv, 'rcl text') == text, args
        assert rcl_refuses(argv), args
    for args in accepted:
        argv = ['depth_node', '--ros-args', *args]
        assert ros_args_problem(argv) is None, args
        assert not rcl_refuses(argv), args
    # What the arguments do not explain: rcl's own text, without its C source locations.
    argv = ['depth_node', '--ros-args', '--log-level', 'bogus']
    assert ros_args_problem(argv) is None and rcl_refuses(argv)
    assert explain_ros_args(argv, "failed to initialize rcl: Couldn't parse log level: "
                            "'--log-level bogus'. Error: Argument does not use a valid severity "
                            'level, at /project/src/rcl/arguments.c:1860, at /x/arguments.c:441'
                            ) == ("cannot start ROS: Couldn't parse log level: '--log-level "
                                  "bogus'. Error: Argument does not use a valid severity level")
    assert explain_ros_args(['x', '--ros-args', '-x'], "['-x']") == (
        'unknown ROS argument -x (see the ROS 2 command-line arguments)')


def test_advice_in_each_entry_points_terms():
    from depth_node.offline.cli import error_text
    from depth_node.startup import in_terms, NODE_TERMS
    text = ("cannot fetch 'org/m': ...; pass model:=<a dir (config.json)>; pass device:=cpu or "
            'device:=auto; try precision:=fp32) or focal_scaling:=false')
    assert in_terms(text, NODE_TERMS) == (
        "cannot fetch 'org/m': ...; pass -p model:=<a dir (config.json)>; pass -p device:=cpu "
        'or -p device:=auto; try -p precision:=fp32) or -p focal_scaling:=false')
    assert error_text(text) == (
        "cannot fetch 'org/m': ...; pass --model <a dir (config.json)>; pass --device cpu or "
        '--device auto; try --precision fp32) or --no-focal-scaling')
    assert in_terms('--ros-args -p reference_focal:=574.7', NODE_TERMS) == (
        '--ros-args -p reference_focal:=574.7')
