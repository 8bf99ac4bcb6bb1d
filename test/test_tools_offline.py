# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""Offline tools on a machine without rosbags or without the Hub: one line each (issue 8)."""

import importlib
import sys

import pytest


def hide_rosbags(monkeypatch):
    """Make ``import rosbags...`` fail as it does where rosbags is not installed."""
    for name in [n for n in sys.modules if n == 'rosbags' or n.startswith('rosbags.')]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, 'rosbags', None)


def one_line(text):
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    assert 'Traceback' not in text
    return lines[0]


def test_run_out_bag_without_rosbags_says_how_to_install(monkeypatch, tmp_path, capsys,
                                                         tiny_da_dir):
    from depth_node.offline import run
    from depth_node.offline.demo import SAMPLE_DIR
    hide_rosbags(monkeypatch)
    status = run.main([str(SAMPLE_DIR), '--model', tiny_da_dir, '--device', 'cpu',
                       '--out-bag', str(tmp_path / 'out_bag'), '--no-progress'])
    line = one_line(capsys.readouterr().err)
    assert status == 2
    assert line.startswith('depth_node_run: error: ') and "the Python package 'rosbags'" in line
    assert 'pip install rosbags' in line and 'python3-rosbags-pip' in line


def test_run_bag_input_without_rosbags_says_how_to_install(monkeypatch, tmp_path, capsys):
    from depth_node.offline import run
    bag = tmp_path / 'recording'
    bag.mkdir()
    (bag / 'metadata.yaml').write_text('rosbag2_bagfile_information: {}\n')
    hide_rosbags(monkeypatch)
    status = run.main([str(bag), '--out', str(tmp_path / 'out'), '--no-progress'])
    line = one_line(capsys.readouterr().err)
    assert status == 2 and "needs the Python package 'rosbags'" in line, line
    assert 'pip install rosbags' in line and 'python3-rosbags-pip' in line


def test_package_xml_declares_rosbags():
    from pathlib import Path
    import xml.etree.ElementTree as ET
    root = ET.parse(Path(__file__).resolve().parents[1] / 'package.xml').getroot()
    assert 'python3-rosbags-pip' in [e.text for e in root.iter('exec_depend')]


@pytest.fixture
def demo():
    return importlib.import_module('depth_node.offline.demo')


def test_make_demo_offline_fails_at_once_in_make_terms(demo, monkeypatch, tmp_path, capsys):
    """Offline, `make demo` said nothing for ~46 s, then suggested ROS `model:=` syntax."""
    monkeypatch.setenv('HF_HUB_OFFLINE', '1')
    monkeypatch.setenv(demo.VIA_MAKE_ENV, '1')
    status = demo.main(['--model', 'depth-anything/Depth-Anything-V2-Metric-Indoor-Small-hf',
                        '--out', str(tmp_path / 'out')])
    line = one_line(capsys.readouterr().err)
    assert status == 2
    assert 'make demo MODEL=' in line and 'depth_node.testing.tiny_models' in line, line
    assert 'model:=' not in line


def test_demo_sees_an_unreachable_hub_without_retrying(demo, monkeypatch, tmp_path):
    import huggingface_hub.constants as constants
    monkeypatch.setattr(constants, 'HF_HUB_OFFLINE', False)
    monkeypatch.setattr(constants, 'HF_HUB_CACHE', str(tmp_path / 'hub'))
    for name in ('HTTPS_PROXY', 'https_proxy', 'ALL_PROXY', 'all_proxy'):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(constants, 'ENDPOINT', 'http://127.0.0.1:9')  # discard port: refused
    reason = demo.hub_unreachable('some-org/not-in-the-cache')
    assert reason is not None and reason.startswith('127.0.0.1'), reason
    # A bare name that is no directory is a hub id too (the loader would ask the Hub).
    assert demo.hub_unreachable('no-slash-local-name').startswith('127.0.0.1')
    assert demo.hub_unreachable(str(tmp_path)) is None


def test_demo_model_errors_use_the_demo_options(demo, monkeypatch, tmp_path, capsys,
                                                ros_domain_id):
    monkeypatch.setenv('ROS_DOMAIN_ID', str(ros_domain_id))
    monkeypatch.delenv(demo.VIA_MAKE_ENV, raising=False)
    status = demo.main(['--model', str(tmp_path / 'missing'), '--out', str(tmp_path / 'o')])
    line = one_line(capsys.readouterr().err)
    assert status == 2 and '--model <' in line and 'model:=' not in line, line
