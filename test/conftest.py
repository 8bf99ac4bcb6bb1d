# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""Shared fixtures: tiny checkpoints, a private ROS domain, sample images."""

import os

import pytest

# Never reach for the Hugging Face Hub from tests, and keep DDS traffic on this host.
os.environ.setdefault('HF_HUB_OFFLINE', '1')
os.environ.setdefault('TRANSFORMERS_OFFLINE', '1')
os.environ.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
os.environ.setdefault('ROS_LOCALHOST_ONLY', '1')


@pytest.fixture(scope='session')
def tiny_da_dir(tmp_path_factory):
    """Build a tiny metric Depth Anything checkpoint (indoor head, max_depth 20)."""
    from depth_node.testing.tiny_models import make_depth_anything
    return make_depth_anything(tmp_path_factory.mktemp('tiny_da'))


@pytest.fixture(scope='session')
def fast_da_dir(tiny_da_dir, tmp_path_factory):
    """Build the tiny checkpoint with a 56 px network input (one inference takes ms)."""
    from depth_node.testing.ros_harness import make_fast_checkpoint
    return make_fast_checkpoint(tiny_da_dir, tmp_path_factory.mktemp('fast_da'))


@pytest.fixture(scope='session')
def da126_dir(tiny_da_dir, tmp_path_factory):
    """Build the tiny checkpoint with a 126 px network input instead of 518 (10x faster)."""
    from depth_node.testing.ros_harness import make_fast_checkpoint
    return make_fast_checkpoint(tiny_da_dir, tmp_path_factory.mktemp('tiny_da_126'), size=126)


@pytest.fixture(scope='session')
def da126_model(da126_dir):
    """Load the 126 px tiny checkpoint on the CPU in fp32."""
    from depth_node.models import load_model
    return load_model(da126_dir, 'cpu', 'fp32')


@pytest.fixture(scope='session')
def tiny_da_model(tiny_da_dir):
    """Load the tiny checkpoint on the CPU in fp32."""
    from depth_node.models import load_model
    return load_model(tiny_da_dir, 'cpu', 'fp32')


@pytest.fixture(scope='session')
def ros_domain_id():
    """Pick a ROS domain id private to this test session."""
    return 100 + os.getpid() % 100


@pytest.fixture
def ros_context(ros_domain_id):
    """Initialise an rclpy Context on the private domain; shut it down afterwards."""
    rclpy = pytest.importorskip('rclpy')
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=ros_domain_id)
    yield context
    rclpy.try_shutdown(context=context)


@pytest.fixture(scope='module')
def peer_context(ros_domain_id):
    """
    Initialise an rclpy Context on the private domain for a module's test peers.

    For tests that run the installed node as its own process and talk to it from
    this one (one context per module: making one costs a DDS participant).
    """
    rclpy = pytest.importorskip('rclpy')
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=ros_domain_id)
    yield context
    rclpy.try_shutdown(context=context)
