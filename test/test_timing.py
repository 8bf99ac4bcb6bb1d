# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""Stage timing: wall time always, device and host time and profiler ranges on request."""

from depth_node import timing
from depth_node.timing import is_cuda, stage, StageTimes
import pytest
import torch


class FakeEvent:
    """Stands in for torch.cuda.Event: 'records' a clock value, elapsed_time in ms."""

    clock = [0.0]

    def __init__(self):
        self.at = None
        self.synchronized = False

    def record(self):
        FakeEvent.clock[0] += 1.0
        self.at = FakeEvent.clock[0]

    def synchronize(self):
        self.synchronized = True

    def elapsed_time(self, end):
        return (end.at - self.at) * 2.5


def test_plain_dict_gets_wall_milliseconds_and_none_is_untimed():
    timings = {}
    with stage(timings, 'network'):
        torch.ones(10).sum()
    with stage(timings, 'network'):
        pass
    assert set(timings) == {'network'} and timings['network'] >= 0.0
    with stage(None, 'network'):
        pass


def test_cuda_stages_record_device_and_host_time(monkeypatch):
    waits = []
    monkeypatch.setattr(timing, '_synchronize', waits.append)
    times = StageTimes(event=FakeEvent)
    for name in ('upload', 'network', 'network'):
        with stage(times, name, 'cuda:0'):
            pass
    assert waits == ['cuda:0'] * 6  # before and after each stage
    assert set(times) == set(times.host) == {'upload', 'network'}
    assert times.device_ms() == {'upload': 2.5, 'network': 5.0}
    assert times.host['network'] <= times['network']


def test_cpu_stages_of_stage_times_have_no_device_time():
    times = StageTimes(event=FakeEvent)
    with stage(times, 'network', torch.device('cpu')):
        pass
    assert 'network' in times and times.device_ms() == {} and times.host == {}


def test_ranges_show_up_in_the_torch_profiler():
    from torch.profiler import profile, ProfilerActivity
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        with stage(StageTimes(ranges=True), 'preprocess'):
            torch.ones(4) + 1
    assert 'depth_node.preprocess' in {e.key for e in prof.key_averages()}


@pytest.mark.parametrize('device,expected', [
    (None, False), ('cpu', False), ('cuda', True), ('cuda:1', True),
    (torch.device('cpu'), False), (torch.device('cuda', 0), True)])
def test_is_cuda(device, expected):
    assert is_cuda(device) is expected
