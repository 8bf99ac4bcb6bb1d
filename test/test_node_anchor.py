# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
Anchoring to a range sensor (issue 21), the node's part, through the installed executable.

The node (own process, real logger) subscribes ``anchor/depth`` and
``anchor/points``; the test publishes images, camera_info and anchors over
RELIABLE topics. The anchored output must be the one frame path's
(:class:`~depth_node.frame.FrameProcessor` in this process with the same
anchor) byte for byte, the diagnostics must say what was applied, bad anchors
must give their line and leave the output on the network's scale, and without
anchors the correction is held for ``anchor.hold_time`` of image stamps, then
dropped with one line.
"""

from depth_node.anchor import AnchorInput
from depth_node.conversions import image_fields_to_depth
from depth_node.frame import FrameProcessor, OutputOptions
from depth_node.params import PARAMETERS
from depth_node.testing.blackbox import (camera_info, node_executable, NodeProcess, RELIABLE,
                                         rgb_image, RosPeer)
from depth_node.testing.ros_harness import make_fast_checkpoint
from depth_node.testing.tiny_models import textured_image
import numpy as np
import pytest
import rclpy
from sensor_msgs.msg import Image, PointCloud2, PointField

pytestmark = pytest.mark.skipif(node_executable() is None,
                                reason='the depth_node executable is not installed')

W, H, F = 64, 48, 60.0
FRAME_ID = 'cam_color_optical_frame'
HOLD_S = 0.5


@pytest.fixture(scope='module')
def context(ros_domain_id):
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=ros_domain_id)
    yield context
    rclpy.try_shutdown(context=context)


def anchor_image(depth: np.ndarray, stamp, frame_id=FRAME_ID) -> Image:
    """Return a 32FC1 anchor/depth Image of ``depth`` as it is (metres; 0, NaN: none)."""
    msg = Image(encoding='32FC1', height=depth.shape[0], width=depth.shape[1],
                step=4 * depth.shape[1])
    msg.header.stamp.sec, msg.header.stamp.nanosec = stamp
    msg.header.frame_id = frame_id
    msg.data = depth.astype('<f4').tobytes()
    return msg


def anchor_cloud(points: np.ndarray, stamp, frame_id=FRAME_ID) -> PointCloud2:
    """Return an anchor/points cloud of ``N x 3`` float32 points."""
    msg = PointCloud2(height=1, width=len(points), point_step=12, row_step=12 * len(points),
                      is_dense=True)
    msg.fields = [PointField(name=n, offset=4 * i, datatype=PointField.FLOAT32, count=1)
                  for i, n in enumerate('xyz')]
    msg.header.stamp.sec, msg.header.stamp.nanosec = stamp
    msg.header.frame_id = frame_id
    msg.data = points.astype(np.float32).tobytes()
    return msg


def test_the_node_anchors_to_depth_and_points_like_the_frame_path(
        context, ros_domain_id, tiny_da_dir, tmp_path):
    from depth_node.models import load_model
    checkpoint = make_fast_checkpoint(tiny_da_dir, tmp_path / 'ckpt')
    proc = NodeProcess(['-r', '__ns:=/anchored', '-p', f'model:={checkpoint}', '-p',
                        'device:=cpu', '-p', 'rate:=0.0', '-p', 'diagnostics_period:=0.2',
                        '-p', 'anchor.depth:=true', '-p', 'anchor.points:=true',
                        '-p', f'anchor.hold_time:={HOLD_S}'], ros_domain_id).start()
    peer = RosPeer(context, '/anchored')
    depth_pub = peer.create_publisher(Image, 'anchor/depth', RELIABLE)
    points_pub = peer.create_publisher(PointCloud2, 'anchor/points', RELIABLE)
    model = load_model(checkpoint, 'cpu', 'fp32')
    reference = FrameProcessor(model)
    defaults = {p.name: p.default for p in PARAMETERS}
    opts = OutputOptions.from_parameters({**defaults, 'anchor.depth': True,
                                          'anchor.points': True,
                                          'anchor.hold_time': HOLD_S})
    rgb = textured_image(H, W, seed=2)
    try:
        peer.wait_for(lambda: (peer.connected() and peer.diag is not None
                               and depth_pub.get_subscription_count() > 0
                               and points_pub.get_subscription_count() > 0)
                      or not proc.alive(), 120.0, 'the node and its anchor subscriptions')
        assert proc.alive(), proc.tail()
        unanchored = model.predict(rgb, focal=(F, F))
        # A sparse anchor at 1.7 x the prediction (every 4th pixel, the rest no measurement).
        sparse = np.full((H, W), np.nan, np.float32)
        sparse[::4, ::4] = 1.7 * unanchored[::4, ::4]
        clock = {'ns': 10 ** 9}

        def frame(anchor=None, cloud=None, expect=None, step_s=0.2):
            clock['ns'] += int(step_s * 1e9)  # image stamps 0.2 s apart
            stamp = divmod(clock['ns'], 10 ** 9)
            if anchor is not None:
                depth_pub.publish(anchor_image(anchor, stamp))
            if cloud is not None:
                points_pub.publish(anchor_cloud(cloud, stamp))
            image = rgb_image(W, H, rgb, stamp=stamp, frame_id=FRAME_ID)
            info = camera_info(W, H, F, F, (W - 1) / 2, (H - 1) / 2, stamp=stamp,
                               frame_id=FRAME_ID)
            peer.publish(image, info)
            depth_msg, _, cloud_msg = peer.wait_outputs(stamp, 60.0)
            if expect is not None:
                # The one frame path, fed as the node is fed (the same anchors, in order).
                anchors = [a for a in expect if a is not None]
                want = reference.process(image, info, opts, anchor=anchors)
                assert bytes(depth_msg.data) == bytes(want.depth_data)
                assert bytes(cloud_msg.data) == bytes(want.cloud.data)
            return image_fields_to_depth(depth_msg)

        mark = proc.mark()
        stamp = divmod(clock['ns'] + int(0.2e9), 10 ** 9)
        got = frame(sparse, expect=[AnchorInput('depth', anchor_image(sparse, stamp))])
        ok = np.isfinite(unanchored)
        np.testing.assert_allclose(got[ok], 1.7 * unanchored[ok], rtol=1e-4)
        proc.wait_line(r'anchored to anchor/depth: scale 1\.7 \(192 of 192 anchors agree\)', 20.0,
                       mark)
        diag = peer.next_diag()
        assert diag['anchor.state'] == 'anchored' and diag['anchor.scale'] == '1.7000'
        # A cloud in the optical frame: the prediction's own points at 0.8 x.
        v, u = np.mgrid[2:H:5, 3:W:5]
        z = 0.8 * unanchored[v, u]
        points = np.stack([(u - (W - 1) / 2) * z / F, (v - (H - 1) / 2) * z / F, z], -1)
        points = points.reshape(-1, 3)
        cloud = anchor_cloud(points, divmod(clock['ns'] + int(0.2e9), 10 ** 9))
        got = frame(cloud=points, expect=[AnchorInput('points', cloud)])
        np.testing.assert_allclose(got[ok], 0.8 * unanchored[ok], rtol=2e-3)
        # Bad anchors: one line each, the held correction stays (within hold_time).
        mark = proc.mark()
        got = frame(np.zeros((H, W), np.float32))
        proc.wait_line(r'anchor/depth has no measurement \(every pixel 0\)', 20.0, mark)
        np.testing.assert_allclose(got[ok], 0.8 * unanchored[ok], rtol=2e-3)
        # A cloud in another frame: without tf2_ros (not installable here) one line.
        mark = proc.mark()
        clock['ns'] -= int(0.2e9)  # the bad depth was 0.2 s ago: still within hold_time
        points_pub.publish(anchor_cloud(points, divmod(clock['ns'] + int(0.2e9), 10 ** 9),
                                        frame_id='lidar'))
        got = frame()
        proc.wait_line(r"anchor/points is in frame 'lidar' but the image in "
                       rf"'{FRAME_ID}': without tf2_ros a cloud must be in the image's optical "
                       'frame', 20.0, mark)
        np.testing.assert_allclose(got[ok], 0.8 * unanchored[ok], rtol=2e-3)
        # No anchors: held until hold_time of image stamps, then the network's scale.
        mark = proc.mark()
        got = frame()  # 0.4 s after the last good fit (two frames ago): held
        np.testing.assert_allclose(got[ok], 0.8 * unanchored[ok], rtol=2e-3)
        got = frame(step_s=1.0)  # beyond anchor.hold_time
        np.testing.assert_allclose(got[ok], unanchored[ok], rtol=1e-5)
        proc.wait_line(r"no usable anchor for .* \(anchor\.hold_time 0\.5 s\): depth on the "
                       r"network's own scale", 20.0, mark)
        assert peer.next_diag()['anchor.state'] == 'network'
        assert not proc.tracebacks(), proc.tail()
    finally:
        peer.close()
        proc.stop()
