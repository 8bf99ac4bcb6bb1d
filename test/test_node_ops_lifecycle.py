# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
The managed (lifecycle) node and clean shutdown on Ctrl-C and SIGTERM.

Lifecycle: configure loads the weights, activate subscribes, deactivate stops
inference, cleanup frees the model; both through ``trigger_*`` and through the
``change_state`` service that ``ros2 lifecycle set`` calls.
"""

import os
import signal
import subprocess
import sys
import threading
import time
import weakref

from depth_node.testing.feeder import Feeder
from depth_node.testing.ros_harness import Harness, make_image, make_info
from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState, GetState
import numpy as np
from rclpy.lifecycle import TransitionCallbackReturn

W, H = 64, 48
SUCCESS = TransitionCallbackReturn.SUCCESS


def _frame(stamp):
    rgb = np.random.default_rng(stamp[0]).integers(0, 255, (H, W, 3), dtype=np.uint8)
    return make_image(rgb, stamp=stamp), make_info(W, H, stamp=stamp)


def _call(h, client, request, timeout=10.0):
    assert client.wait_for_service(timeout_sec=timeout)
    future = client.call_async(request)
    h.wait_for(future.done, timeout, f'{client.srv_name} response')
    return future.result()


def test_lifecycle_transitions(ros_context, fast_da_dir):
    h = Harness(ros_context, {'model': fast_da_dir, 'device': 'cpu', 'rate': 0.0,
                              'autostart': False}, wait_ready=False)
    node = h.node
    camera = h.camera
    try:
        assert node.lifecycle_state == 'unconfigured'
        assert node.model is None and camera.depth_pub is None and camera.image_sub is None
        name = node.get_fully_qualified_name()
        get_state = h.io.create_client(GetState, f'{name}/get_state')
        change = h.io.create_client(ChangeState, f'{name}/change_state')

        # configure through the service, as `ros2 lifecycle set /depth_node configure`
        request = ChangeState.Request()
        request.transition.id = Transition.TRANSITION_CONFIGURE
        assert _call(h, change, request).success
        assert _call(h, get_state, GetState.Request()).current_state.label == 'inactive'
        assert node.model is not None and camera.image_sub is None
        h.wait_for(lambda: h.io.count_publishers('depth/image') > 0, 10.0, 'publishers')

        # activate: subscriptions and outputs
        assert node.trigger_activate() == SUCCESS
        h.wait_ready()
        h.process(*_frame((1, 0)))

        # deactivate: no subscriptions, no inference
        calls = []
        real_predict = node.model.predict_many
        node.model.predict_many = lambda *a, **k: (calls.append(1), real_predict(*a, **k))[1]
        assert node.trigger_deactivate() == SUCCESS
        assert node.lifecycle_state == 'inactive' and camera.image_sub is None
        h.publish(*_frame((2, 0)))
        time.sleep(0.3)
        assert not calls and len(h.depths) == 1

        # activate again: served
        assert node.trigger_activate() == SUCCESS
        h.wait_ready()
        h.process(*_frame((3, 0)))
        assert len(calls) == 1

        # deactivate + cleanup: the model is freed
        model_ref = weakref.ref(node.model)
        real_predict = None  # the test's wrapper no longer holds the model
        assert node.trigger_deactivate() == SUCCESS
        assert node.trigger_cleanup() == SUCCESS
        assert node.lifecycle_state == 'unconfigured'
        assert node.model is None and camera.processor is None and camera.depth_pub is None
        assert model_ref() is None, 'the model is still referenced after cleanup'

        # configure + activate again, then shut down from active
        assert node.trigger_configure() == SUCCESS and node.trigger_activate() == SUCCESS
        h.wait_ready()
        h.process(*_frame((4, 0)))
        assert node.trigger_shutdown() == SUCCESS
        assert node.lifecycle_state == 'finalized' and node.model is None
    finally:
        h.close()


def test_configure_fails_when_the_weights_cannot_load(ros_context, tmp_path):
    h = Harness(ros_context, {'model': str(tmp_path / 'missing'), 'device': 'cpu',
                              'autostart': False}, wait_ready=False)
    try:
        assert h.node.trigger_configure() == TransitionCallbackReturn.FAILURE
        assert h.node.lifecycle_state == 'unconfigured' and h.node.model is None
        h.log.wait_line('error', 'configure failed')
        errors = h.log.lines('error')
        assert len(errors) == 1 and 'does not exist' in errors[0], errors
    finally:
        h.close()


# --- Ctrl-C and SIGTERM --------------------------------------------------------------------

def _stream(feeder, stop):
    """Publish frames to the feeder's namespace at 20 Hz until ``stop`` is set."""
    i = 0
    while not stop.wait(0.05):
        i += 1
        feeder.publish(*_frame((i, 0)))


def _start_node(namespace, domain_id, model_dir):
    """Start ``python -m depth_node.node`` in ``namespace``; collect its stderr lines."""
    proc = subprocess.Popen(
        [sys.executable, '-m', 'depth_node.node', '--ros-args', '-p', f'model:={model_dir}',
         '-p', 'device:=cpu', '-p', 'rate:=0.0', '-r', f'__ns:=/{namespace}'],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        env=dict(os.environ, ROS_DOMAIN_ID=str(domain_id)))
    lines = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stderr), daemon=True)
    reader.start()
    return proc, lines, reader


def test_sigint_and_sigterm_stop_within_2_s_without_traceback(ros_context, ros_domain_id,
                                                              fast_da_dir):
    """SIGINT while waiting for a camera (auto QoS timer), SIGTERM while processing."""
    from rclpy.executors import SingleThreadedExecutor
    waiting = _start_node('waiting', ros_domain_id, fast_da_dir)
    busy = _start_node('busy', ros_domain_id, fast_da_dir)
    feeder = Feeder('feeder', context=ros_context, namespace='busy', outputs=False)
    feeder.subscribe_outputs(points=False)
    stop = threading.Event()
    streamer = threading.Thread(target=_stream, args=(feeder, stop), daemon=True)
    executor = SingleThreadedExecutor(context=ros_context)
    executor.add_node(feeder)
    streamer.start()
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    try:
        deadline = time.monotonic() + 60.0
        while len(feeder.depths) < 3 or not any('waiting for a publisher' in ln
                                                for ln in waiting[1]):
            assert time.monotonic() < deadline, 'the nodes did not start'
            assert waiting[0].poll() is None and busy[0].poll() is None, 'a node exited'
            time.sleep(0.05)
        for sig, (proc, lines, reader) in ((signal.SIGINT, waiting), (signal.SIGTERM, busy)):
            start = time.monotonic()
            proc.send_signal(sig)  # the busy node gets it while frames keep coming
            try:
                proc.wait(timeout=10.0)
            except subprocess.TimeoutExpired:
                proc.kill()
                raise
            elapsed = time.monotonic() - start
            reader.join(timeout=5.0)
            stderr = ''.join(lines)
            assert elapsed < 2.0, f'{sig.name}: exit took {elapsed:.2f} s'
            assert proc.returncode == 0, f'{sig.name}: rc {proc.returncode}\n{stderr}'
            assert 'Traceback' not in stderr, stderr
            ready = [ln for ln in lines if 'ready: model' in ln]
            assert len(ready) == 1 and 'device cpu' in ready[0] and 'network input' in ready[0]
    finally:
        stop.set()
        for proc, _, _ in (waiting, busy):
            if proc.poll() is None:
                proc.kill()
        executor.shutdown()
        spinner.join(timeout=5.0)
        feeder.destroy_node()
