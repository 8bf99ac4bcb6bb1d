# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
In-process ROS 2 test harness: the real DepthNode beside a :class:`~.feeder.Feeder`.

Both nodes spin on one executor in a background thread of a private rclpy
Context; tests publish Image + CameraInfo and wait on events with timeouts. The
node's log lines are read from ``/rosout`` (:class:`~.feeder.RosoutRecorder`),
i.e. from the real rclpy logger.
"""

import itertools
import json
import os
import shutil
import threading

from rclpy.executors import MultiThreadedExecutor, SingleThreadedExecutor
from rclpy.parameter import Parameter

from .feeder import Feeder, make_compressed, make_image, make_info, RELIABLE, RosoutRecorder

__all__ = ['Harness', 'make_compressed', 'make_fast_checkpoint', 'make_image', 'make_info',
           'RELIABLE']


def make_fast_checkpoint(src_dir, dst_dir, size=56) -> str:
    """
    Copy a tiny checkpoint with a small network input (``size`` px) for fast node tests.

    The architecture and weights are the tiny model's; only the preprocessor's
    resize target shrinks, so one inference takes milliseconds on a CPU.
    """
    os.makedirs(dst_dir, exist_ok=True)
    for name in os.listdir(src_dir):
        shutil.copy(os.path.join(src_dir, name), os.path.join(dst_dir, name))
    path = os.path.join(dst_dir, 'preprocessor_config.json')
    with open(path, encoding='utf-8') as f:
        config = json.load(f)
    config['size'] = {'height': size, 'width': size}
    with open(path, 'w', encoding='utf-8') as f:
        json.dump(config, f)
    return str(dst_dir)


_NODE_NUMBERS = itertools.count(1)


class Harness:
    """DepthNode + a Feeder publishing inputs and collecting outputs, on one executor."""

    def __init__(self, context, params: dict, *, pub_qos=RELIABLE, namespace='',
                 outputs=True, wait_ready=True, compressed=False, single_threaded=True,
                 node_name=None):
        """
        Start the node and the feeder.

        ``outputs`` False leaves the outputs without subscribers (see
        ``feeder.subscribe_outputs``); ``wait_ready`` False does not wait for the
        node to subscribe (lifecycle tests); ``compressed`` publishes
        CompressedImage on ``image/compressed`` instead of Image on ``image``;
        ``single_threaded`` (default) spins on a SingleThreadedExecutor, as
        ``rclpy.spin`` does: rclpy's MultiThreadedExecutor keeps a core busy in
        Python and, on a 2-core machine, starves the node's inference thread.

        Each harness names its node ``depth_node_<n>`` unless ``node_name`` is
        given: rcl keeps one /rosout publisher per logger name in a process, and
        when an earlier node of the same name is finalised (rclpy does that once
        nothing uses its handle, possibly during a later test) the lines of the
        new node stop reaching /rosout.
        """
        from depth_node.node import DepthNode
        node_name = node_name or f'depth_node_{next(_NODE_NUMBERS)}'
        self.context = context
        self.io = Feeder('fixture', context=context, namespace=namespace, pub_qos=pub_qos,
                         compressed=compressed, outputs=outputs)
        self.log = RosoutRecorder(self.io, f'{namespace.strip("/")}.{node_name}'.lstrip('.'))
        overrides = [Parameter(k, value=v) for k, v in params.items()]
        self.node = DepthNode(node_name, context=context, parameter_overrides=overrides,
                              namespace=namespace)
        if single_threaded:
            self.executor = SingleThreadedExecutor(context=context)
        else:
            self.executor = MultiThreadedExecutor(num_threads=2, context=context)
        self.executor.add_node(self.io)
        self.executor.add_node(self.node)
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)
        self.thread.start()
        if wait_ready:
            self.wait_ready()

    @property
    def camera(self):
        """Return the node's first (or only) camera pipeline."""
        return self.node.pipelines[0]

    # The feeder's buckets and helpers, under the names tests use.
    @property
    def depths(self):
        """Return the depth images received so far."""
        return self.io.depths

    @property
    def infos(self):
        """Return the depth camera_infos received so far."""
        return self.io.infos

    @property
    def clouds(self):
        """Return the point clouds received so far."""
        return self.io.clouds

    @property
    def cond(self):
        """Return the feeder's condition (notified on every output)."""
        return self.io.cond

    @property
    def image_pub(self):
        """Return the feeder's image publisher."""
        return self.io.image_pub

    @property
    def info_pub(self):
        """Return the feeder's camera_info publisher."""
        return self.io.info_pub

    def wait_ready(self, timeout=10.0):
        """Wait until the node subscribes to every camera's inputs and its outputs are seen."""
        self.wait_for(lambda: all(p.subscribed for p in self.node.pipelines)
                      and self.io.image_pub.get_subscription_count() > 0
                      and self.io.count_publishers('depth/image') > 0, timeout,
                      'node subscribed and outputs matched')

    def subscribe_outputs(self):
        """Subscribe the feeder to the outputs."""
        self.io.subscribe_outputs()

    def unsubscribe_outputs(self):
        """Destroy the feeder's output subscriptions."""
        self.io.unsubscribe_outputs()

    def wait_for(self, predicate, timeout=10.0, what='condition'):
        """Wait until ``predicate()`` holds; raise AssertionError on timeout."""
        try:
            self.io.wait_for(predicate, timeout, what)
        except TimeoutError as exc:
            raise AssertionError(str(exc)) from None

    def publish(self, image, info=None):
        """Publish camera_info (if given) then the image."""
        self.io.publish(image, info)

    def process(self, image, info=None, timeout=20.0):
        """Publish one frame and wait for its depth, camera_info and (if enabled) cloud."""
        want_cloud = self.node.get_parameter('publish_points').value
        try:
            return self.io.process(image, info, timeout, want_cloud)
        except TimeoutError as exc:
            raise AssertionError(str(exc)) from None

    def close(self):
        """Stop spinning, then destroy both nodes."""
        self.executor.shutdown()
        self.thread.join(timeout=5.0)
        self.node.destroy_node()
        self.io.destroy_node()
