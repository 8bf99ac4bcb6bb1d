# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""Parameter validation (params.py) and per-kind log throttling (diagnostics.LogThrottle)."""

from depth_node.diagnostics import LogThrottle, problem_kind
from depth_node.errors import ParameterValueError
from depth_node.params import (check_parameter, check_parameters, descriptor, PARAMETERS,
                               PARAMETERS_BY_NAME)
import pytest


@pytest.mark.parametrize('name, value, expected', [
    ('rate', 5, 5.0), ('rate', 2.5, 2.5), ('max_depth', 0, 0.0), ('points.stride', 3, 3),
    ('publish_points', False, False), ('device', 'cuda:1', 'cuda:1'),
    ('depth_encoding', '16UC1', '16UC1'), ('use_sim_time', 'anything', 'anything'),
])
def test_accepted_values(name, value, expected):
    got = check_parameter(name, value)
    assert got == expected and type(got) is type(expected)


@pytest.mark.parametrize('name, value, message', [
    ('rate', -1.0, r'rate must be within \[0, 1000\]; got -1.0'),
    ('rate', 'fast', "rate must be a number; got 'fast'"),
    ('rate', True, 'rate must be a number; got True'),
    ('rate', float('nan'), 'rate must be finite'),
    ('points.stride', 2.5, r'points.stride must be an integer \(a whole number\); got 2.5'),
    ('points.stride', 0, r'points.stride must be within \[1, 64\]'),
    ('publish_points', 1, 'publish_points must be true or false; got 1'),
    ('model', 5, 'model must be a string; got 5'),
    ('device', 'gpu', "device must be one of 'auto', 'cpu', 'cuda', 'cuda:N'; got 'gpu'"),
    ('depth_encoding', '32fc1', "depth_encoding must be one of '32FC1', '16UC1'"),
])
def test_refused_values_say_what_to_pass(name, value, message):
    with pytest.raises(ParameterValueError, match=message):
        check_parameter(name, value)


def test_min_depth_above_max_depth_is_refused_but_max_zero_means_no_limit():
    defaults = {p.name: p.default for p in PARAMETERS}
    check_parameters({**defaults, 'min_depth': 5.0, 'max_depth': 0.0})
    check_parameters({**defaults, 'min_depth': 1.0, 'max_depth': 5.0})
    with pytest.raises(ParameterValueError, match='min_depth .5 m. is larger than max_depth'):
        check_parameters({**defaults, 'min_depth': 5.0, 'max_depth': 1.0})


def test_descriptors_are_dynamically_typed_with_ranges_and_read_only():
    rate = descriptor(PARAMETERS_BY_NAME['rate'])
    assert rate.dynamic_typing and rate.floating_point_range[0].to_value == 1000.0
    assert descriptor(PARAMETERS_BY_NAME['model']).read_only
    assert descriptor(PARAMETERS_BY_NAME['device']).additional_constraints.startswith('one of')
    assert descriptor(PARAMETERS_BY_NAME['points.stride']).integer_range[0].from_value == 1


def test_log_throttle_is_per_kind_and_counts_what_it_held_back():
    now = [0.0]
    throttle = LogThrottle(5.0, clock=lambda: now[0])
    bad_image = problem_kind('bad_image', 'dropped frame: image 640x480 has 3 bytes')
    assert throttle.allow(bad_image) == 0
    assert throttle.allow(problem_kind('bad_image', 'dropped frame: image 32x24 has 5 bytes')) \
        is None  # the same problem with other numbers
    assert throttle.allow(problem_kind('bad_camera_info', 'camera_info is for 32x24')) == 0
    assert throttle.allow(problem_kind('bad_image', "compressed image format 'x' carries "
                                                    'depth')) == 0  # another problem
    now[0] = 5.0
    assert throttle.allow(bad_image) == 1  # one held back since the last line
    assert throttle.allow(bad_image) is None
