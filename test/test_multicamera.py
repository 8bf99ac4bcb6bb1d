# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
Several cameras, one model (issue 17), through the installed ``depth_node`` executable.

Each node runs as its own process with the real rclpy logger, on this
session's private domain; the test process is one RELIABLE peer per camera
(:class:`~depth_node.testing.blackbox.RosPeer` under ``<namespace>/<camera>``).
Three cameras of different sizes and intrinsics share one process; a
single-camera node fed the same frames is the reference for their outputs.
"""

import signal
import time

from depth_node.conversions import image_fields_to_depth
from depth_node.testing.blackbox import (camera_info, node_executable, NodeProcess, rgb_image,
                                         RosPeer)
from depth_node.testing.tiny_models import textured_image
import numpy as np
import pytest
from rclpy.parameter import Parameter

pytestmark = pytest.mark.skipif(node_executable() is None,
                                reason='the depth_node executable is not installed')

#: name -> (width, height, fx, frame_id): front and side of one size with their own focal
#: (one network pass for both, a batch of two), rear of another aspect ratio (its own pass).
CAMERAS = {
    'front': (64, 48, 60.0, 'front_color_optical_frame'),
    'rear': (80, 48, 75.0, 'rear_color_optical_frame'),
    'side': (64, 48, 40.0, 'side_color_optical_frame'),
}


class Camera:
    """One camera's frames and its peer (publisher of its inputs, collector of its outputs)."""

    def __init__(self, context, namespace, name, width, height, fx, frame_id, seed):
        self.name, self.width, self.height, self.fx = name, width, height, fx
        self.frame_id = frame_id
        self.rgb = textured_image(height, width, seed=seed)
        self.peer = RosPeer(context, namespace, camera=name)

    def image(self, stamp, rgb=None):
        return rgb_image(self.width, self.height, self.rgb if rgb is None else rgb,
                         stamp=stamp, frame_id=self.frame_id)

    def info(self, stamp):
        return camera_info(self.width, self.height, self.fx, self.fx, (self.width - 1) / 2,
                           (self.height - 1) / 2, stamp=stamp, frame_id=self.frame_id)

    def send(self, stamp, rgb=None):
        self.peer.publish(self.image(stamp, rgb), self.info(stamp))

    def outputs(self, stamp, timeout=60.0):
        return self.peer.wait_outputs(stamp, timeout)

    def frame(self, stamp):
        """Send a good frame and return its depth, camera_info and cloud."""
        self.send(stamp)
        return self.outputs(stamp)


def start(namespace, domain_id, args):
    return NodeProcess(['-r', f'__ns:={namespace}', '-p', 'device:=cpu', '-p', 'rate:=0.0',
                        '-p', 'diagnostics_period:=0.2'] + args, domain_id).start()


def cameras_arg(names):
    return f"cameras:=[{', '.join(names)}]"


def wait_serving(proc, peers, timeout=120.0):
    for peer in peers:
        peer.wait_for(lambda p=peer: (p.connected() and p.diag is not None) or not proc.alive(),
                      timeout, f'{peer.namespace}/{peer.camera} to be served')
        assert proc.alive(), f'depth_node exited:\n{proc.tail()}'


def same_outputs(got, want):
    """Assert two frames' depth, camera_info and cloud are the same bytes and fields."""
    depth, info, cloud = got
    ref_depth, ref_info, ref_cloud = want
    for name in ('height', 'width', 'encoding', 'is_bigendian', 'step'):
        assert getattr(depth, name) == getattr(ref_depth, name), name
    assert bytes(depth.data) == bytes(ref_depth.data)
    for name in ('height', 'width', 'distortion_model', 'd', 'k', 'r', 'p', 'binning_x',
                 'binning_y'):
        assert list(np.ravel(getattr(info, name))) == list(np.ravel(getattr(ref_info, name)))
    assert (info.roi.x_offset, info.roi.y_offset, info.roi.width, info.roi.height) == (
        ref_info.roi.x_offset, ref_info.roi.y_offset, ref_info.roi.width, ref_info.roi.height)
    for name in ('height', 'width', 'point_step', 'row_step', 'is_dense'):
        assert getattr(cloud, name) == getattr(ref_cloud, name), name
    assert [(f.name, f.offset, f.datatype) for f in cloud.fields] == [
        (f.name, f.offset, f.datatype) for f in ref_cloud.fields]
    assert bytes(cloud.data) == bytes(ref_cloud.data)


def test_three_cameras_equal_single_camera_nodes_and_never_cross(
        peer_context, ros_domain_id, fast_da_dir):
    names = list(CAMERAS)
    proc = start('/mc_three', ros_domain_id,
                 ['-p', f'model:={fast_da_dir}', '-p', cameras_arg(names)])
    ref = start('/mc_ref', ros_domain_id, ['-p', f'model:={fast_da_dir}'])
    cams = [Camera(peer_context, '/mc_three', name, *spec, seed=i)
            for i, (name, spec) in enumerate(CAMERAS.items())]
    ref_peer = RosPeer(peer_context, '/mc_ref')
    try:
        wait_serving(proc, [c.peer for c in cams])
        wait_serving(ref, [ref_peer])
        line = proc.wait_line(r'ready: .* 3 cameras: front /mc_three/front/image \(raw, '
                              r'rectified\), rear /mc_three/rear/image')
        assert 'side /mc_three/side/image' in line
        for k in range(3):
            stamp = (10 + k, 0)  # the same stamp on every camera: outputs must not mix
            for cam in cams:
                cam.send(stamp)
            for cam in cams:
                got = cam.outputs(stamp)
                for msg in got:
                    assert msg.header.frame_id == cam.frame_id
                    assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == stamp
                assert (got[0].width, got[0].height) == (cam.width, cam.height)
                assert (got[1].width, got[1].height) == (cam.width, cam.height)
                assert got[1].k[0] == cam.fx
                assert (got[2].height, got[2].width) == (cam.height, cam.width)
                ref_stamp = (100 * (k + 1) + names.index(cam.name), 0)
                ref_peer.publish(cam.image(ref_stamp), cam.info(ref_stamp))
                want = ref_peer.wait_outputs(ref_stamp, 60.0)
                same_outputs(got, want)
        # One status per camera, each counting its own frames.
        for cam in cams:
            diag = cam.peer.next_diag()
            assert diag['frames_published'] == '3' and diag['frames_dropped'] == '0', diag
            assert diag['input_size'] == f'{cam.width}x{cam.height}'
        assert not proc.tracebacks() and not ref.tracebacks()
    finally:
        for cam in cams:
            cam.peer.close()
        ref_peer.close()
        proc.stop()
        ref.stop()


def test_same_size_cameras_share_one_batch_each_with_its_own_focal(
        peer_context, ros_domain_id, fast_da_dir):
    proc = start('/mc_batch', ros_domain_id,
                 ['-p', f'model:={fast_da_dir}', '-p', cameras_arg(['left', 'right'])])
    left = Camera(peer_context, '/mc_batch', 'left', 64, 48, 60.0, 'left_optical', seed=5)
    right = Camera(peer_context, '/mc_batch', 'right', 64, 48, 90.0, 'right_optical', seed=5)
    try:
        wait_serving(proc, [left.peer, right.peer])
        batched = 0
        for k in range(8):  # both due at once: one network pass of two
            stamp = (20 + k, 0)
            left.send(stamp)
            right.send(stamp)
            depth_l = image_fields_to_depth(left.outputs(stamp)[0])
            depth_r = image_fields_to_depth(right.outputs(stamp)[0])
            # The same image, focal 90 vs 60: Depth Anything's metric depth scales with f.
            np.testing.assert_allclose(depth_r, depth_l * 1.5, rtol=1e-4)
            batched = max(batched, int(left.peer.next_diag()['batch_size']))
        assert batched == 2, 'the two cameras never shared a network pass'
        # One frame at a time (max_batch 1): each camera alone, as a single-camera node.
        assert left.peer.set_one('max_batch', 1).successful
        for k in range(3):
            stamp = (40 + k, 0)
            left.send(stamp)
            right.send(stamp)
            left.outputs(stamp)
            right.outputs(stamp)
        assert left.peer.next_diag()['batch_size'] == '1'
        assert right.peer.next_diag()['batch_size'] == '1'
        assert not proc.tracebacks()
    finally:
        left.peer.close()
        right.peer.close()
        proc.stop()


def test_a_silent_and_a_hostile_camera_leave_the_other_alone(
        peer_context, ros_domain_id, fast_da_dir):
    names = list(CAMERAS)
    proc = start('/mc_hostile', ros_domain_id,
                 ['-p', f'model:={fast_da_dir}', '-p', cameras_arg(names)])
    front, rear, side = (Camera(peer_context, '/mc_hostile', name, *spec, seed=i)
                         for i, (name, spec) in enumerate(CAMERAS.items()))
    try:
        wait_serving(proc, [front.peer, rear.peer, side.peer])
        mark = proc.mark()
        for k in range(12):
            stamp = (30 + k, 0)
            front.send(stamp)
            # rear: garbage in turns; side: silent.
            bad = rear.image(stamp)
            if k % 3 == 0:
                bad.encoding = '32FC1'
                rear.peer.publish(bad, rear.info(stamp))
            elif k % 3 == 1:
                rear.peer.publish(bad, camera_info(999, 777, 75.0, 75.0, 400.0, 300.0,
                                                   stamp=stamp, frame_id=rear.frame_id))
            else:
                bad.data = bytes(bad.data)[:100]
                rear.peer.publish(bad, rear.info(stamp))
            front.outputs(stamp)  # every front frame is served
        front_diag = front.peer.next_diag()
        assert front_diag['frames_published'] == '12', front_diag
        assert front_diag['frames_dropped'] == '0', front_diag
        rear.peer.wait_for(lambda: int(rear.peer.diag['frames_dropped']) >= 12, 20.0,
                           'rear drops')
        rear_diag = rear.peer.next_diag()
        assert rear_diag['frames_published'] == '0'
        # Each bad frame is dropped for its fault, or superseded by the next one when the
        # worker was busy (a loaded machine): nothing else, and each fault seen.
        drops = {reason: int(rear_diag.get(f'dropped.{reason}', 0))
                 for reason in ('bad_image', 'bad_camera_info', 'superseded')}
        assert sum(drops.values()) == int(rear_diag['frames_dropped']) >= 12, rear_diag
        assert drops['bad_image'] >= 4 and drops['bad_camera_info'] >= 2, drops
        side_diag = side.peer.next_diag()
        assert side_diag['frames_received'] == '0'
        assert side_diag['_message'] == 'no images received on /mc_hostile/side/image'
        # Every line about the hostile camera names it, and none is about the others.
        lines = proc.since(mark)
        dropped = [line for line in lines if 'dropped frame' in line]
        assert dropped and all('[rear] dropped frame' in line for line in dropped), dropped
        # The good cameras work on: rear recovers with a good frame.
        rear.send((99, 0))
        rear.outputs((99, 0))
        assert not proc.tracebacks()
    finally:
        for cam in (front, rear, side):
            cam.peer.close()
        proc.stop()


def test_a_camera_parameter_changes_only_that_camera(peer_context, ros_domain_id, fast_da_dir,
                                                     tmp_path):
    params = tmp_path / 'cameras.yaml'
    params.write_text('\n'.join([
        '/**:', '  ros__parameters:', f'    model: "{fast_da_dir}"',
        '    cameras: [front, rear]', '    front:', '      output_decimation: 2',
        '    rear:', '      scan:', '        frame_id: rear_link', '      rat: 3.0', '']))
    proc = start('/mc_params', ros_domain_id, ['--params-file', str(params)])
    front = Camera(peer_context, '/mc_params', 'front', *CAMERAS['front'], seed=1)
    rear = Camera(peer_context, '/mc_params', 'rear', *CAMERAS['rear'], seed=2)
    try:
        wait_serving(proc, [front.peer, rear.peer])
        # A misspelt camera parameter is named, with the closest one.
        proc.wait_line(r"\[WARN\].*parameter 'rear\.rat' is not a parameter of this node: "
                       r"ignored; did you mean 'rear\.rate'\?")
        assert front.peer.get_node_parameter('front.output_decimation') == 2
        depth, info, _ = front.frame((1, 0))
        assert (depth.width, depth.height) == (32, 24) and info.k[0] == 30.0
        depth, info, _ = rear.frame((1, 0))
        assert (depth.width, depth.height) == (80, 48)
        # At run time: rear's decimation, and front's falls back to nothing else.
        result = rear.peer.set_one('rear.output_decimation', 4)
        assert result.successful, result.reason
        refused = rear.peer.set_one('rear.output_decimation', 0)
        assert not refused.successful and 'output_decimation' in refused.reason
        result = rear.peer.set_one('rear.min_depth', 50.0, Parameter.Type.DOUBLE)
        assert result.successful  # max_depth 0 = no limit: fine
        refused = rear.peer.set_one('rear.max_depth', 10.0)
        assert not refused.successful and refused.reason.startswith('camera rear: min_depth')
        assert rear.peer.set_one('rear.min_depth', 0.0).successful
        depth, _, _ = rear.frame((2, 0))
        assert (depth.width, depth.height) == (20, 12)
        depth, _, _ = front.frame((2, 0))
        assert (depth.width, depth.height) == (32, 24)
        # A global value changes every camera that has none of its own.
        assert front.peer.set_one('output_decimation', 8).successful
        depth, _, _ = front.frame((3, 0))
        assert (depth.width, depth.height) == (32, 24)  # front keeps its own 2
        assert not proc.tracebacks()
    finally:
        front.peer.close()
        rear.peer.close()
        proc.stop()


def test_bad_cameras_parameter_is_one_error_line(ros_domain_id, fast_da_dir):
    for value, message in (('cameras:=[front, front]', 'cameras: front listed more than once'),
                           ('cameras:=[scan]', "cameras: 'scan' is the name of a group"),
                           ('cameras:=[1cam]', "cameras: '1cam' is not a camera name")):
        proc = start('/mc_bad', ros_domain_id, ['-p', f'model:={fast_da_dir}', '-p', value])
        try:
            assert proc.wait_exit(60.0) == 2, proc.tail()
            errors = [line for line in proc.lines if 'error' in line]
            assert len(errors) == 1 and message in errors[0], proc.tail()
            assert not proc.tracebacks()
        finally:
            proc.stop()


def test_shutdown_under_load_is_clean(peer_context, ros_domain_id, fast_da_dir):
    names = list(CAMERAS)
    proc = start('/mc_load', ros_domain_id,
                 ['-p', f'model:={fast_da_dir}', '-p', cameras_arg(names)])
    cams = [Camera(peer_context, '/mc_load', name, *spec, seed=i)
            for i, (name, spec) in enumerate(CAMERAS.items())]
    try:
        wait_serving(proc, [c.peer for c in cams])
        end = time.monotonic() + 3.0
        k = 0
        while time.monotonic() < end:
            k += 1
            for cam in cams:
                cam.send((200 + k, 0))
            time.sleep(0.01)
        for cam in cams:
            cam.peer.wait_for(lambda c=cam: len(c.peer.depths) > 0, 30.0, 'outputs under load')
        proc.signal(signal.SIGINT)
        assert proc.wait_exit(10.0) == 0, proc.tail()
        assert not proc.tracebacks(), proc.tail()
    finally:
        for cam in cams:
            cam.peer.close()
        proc.stop()


def test_lifecycle_transitions_apply_to_every_camera(peer_context, ros_domain_id, fast_da_dir):
    from lifecycle_msgs.msg import Transition
    proc = start('/mc_life', ros_domain_id,
                 ['-p', f'model:={fast_da_dir}', '-p', cameras_arg(['front', 'rear'])])
    front = Camera(peer_context, '/mc_life', 'front', *CAMERAS['front'], seed=1)
    rear = Camera(peer_context, '/mc_life', 'rear', *CAMERAS['rear'], seed=2)
    try:
        wait_serving(proc, [front.peer, rear.peer])
        assert front.peer.change_state(Transition.TRANSITION_DEACTIVATE)
        for cam in (front, rear):
            cam.peer.wait_for(lambda c=cam: c.peer.image_pub.get_subscription_count() == 0,
                              20.0, f'{cam.name} unsubscribed')
            assert cam.peer.next_diag()['state'] == 'inactive'
        assert front.peer.change_state(Transition.TRANSITION_ACTIVATE)
        for k, cam in enumerate((front, rear)):
            cam.peer.wait_for(lambda c=cam: c.peer.image_pub.get_subscription_count() > 0,
                              20.0, f'{cam.name} subscribed again')
            cam.frame((50 + k, 0))
        assert not proc.tracebacks()
    finally:
        front.peer.close()
        rear.peer.close()
        proc.stop()
