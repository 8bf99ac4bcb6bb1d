# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
Operations: compressed input, camera restarts, CUDA out-of-memory, idle, device choice.

The node runs in-process (depth_node/testing/ros_harness.py); its log lines are read
from /rosout with a tiny checkpoint whose
network input is 56 px, so each inference takes milliseconds.
"""

import time

from depth_node.compressed import decode_compressed
from depth_node.conversions import image_fields_to_depth
from depth_node.errors import BadImageError, ModelLoadError
from depth_node.testing.ros_harness import Harness, make_compressed, make_image, make_info
import numpy as np
import pytest
import torch

W, H = 64, 48


def scene(seed=0, width=W, height=H):
    """Make a smooth, textured RGB test image."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (height // 8, width // 8, 3), dtype=np.uint8)
    return np.kron(small, np.ones((8, 8, 1), np.uint8))


def stamp_of(msg):
    return (msg.header.stamp.sec, msg.header.stamp.nanosec)


@pytest.fixture
def harness(ros_context, fast_da_dir):
    h = Harness(ros_context, {'model': fast_da_dir, 'device': 'cpu', 'rate': 0.0})
    yield h
    h.close()


# --- compressed input ----------------------------------------------------------------------

def test_decode_compressed_formats():
    rgb = scene(1)
    pixels, order, encoding = decode_compressed(make_compressed(rgb, fmt='png'))
    assert encoding == 'bgr8' and order == (2, 1, 0)
    np.testing.assert_array_equal(pixels[..., ::-1], rgb)
    pixels, _, _ = decode_compressed(make_compressed(rgb, fmt='jpeg', quality=95))
    assert pixels.shape == (H, W, 3)
    assert np.abs(pixels[..., ::-1].astype(int) - rgb).mean() < 8
    bad = make_compressed(rgb)
    bad.data = b'not an image'
    with pytest.raises(BadImageError, match='not a valid JPEG or PNG'):
        decode_compressed(bad)
    depth = make_compressed(rgb, fmt='png')
    depth.format = '16UC1; compressedDepth png'
    with pytest.raises(BadImageError, match='carries depth'):
        decode_compressed(depth)


def test_compressed_input(ros_context, fast_da_dir):
    h = Harness(ros_context, {'model': fast_da_dir, 'device': 'cpu', 'rate': 0.0,
                              'input_transport': 'compressed'}, compressed=True)
    try:
        assert h.camera.image_sub.topic_name == '/image/compressed'
        rgb = scene(2)
        info = make_info(W, H, 80.0, 80.0, stamp=(1, 0))
        depth_msg, info_msg, cloud = h.process(make_compressed(rgb, (1, 0), fmt='png'), info)
        assert (depth_msg.width, depth_msg.height) == (W, H) and cloud.width == W
        expected = h.node.model.predict(rgb, focal=(80.0, 80.0))  # PNG is lossless
        np.testing.assert_allclose(image_fields_to_depth(depth_msg), expected, rtol=1e-6)
        depth_jpeg, _, _ = h.process(make_compressed(rgb, (2, 0)),
                                     make_info(W, H, 80.0, 80.0, stamp=(2, 0)))
        assert (depth_jpeg.width, depth_jpeg.height) == (W, H)
        corrupt = make_compressed(rgb, (3, 0))
        corrupt.data = bytes(corrupt.data[:40])
        h.publish(corrupt, make_info(W, H, stamp=(3, 0)))
        h.wait_for(lambda: h.camera.drops['bad_image'] == 1, 10.0, 'corrupt JPEG dropped')
        h.process(make_compressed(rgb, (4, 0)), make_info(W, H, stamp=(4, 0)))
    finally:
        h.close()


# --- camera restarts -----------------------------------------------------------------------

def test_camera_restarts_are_handled_without_restarting(ros_context, fast_da_dir,
                                                        monkeypatch):
    h = Harness(ros_context, {'model': fast_da_dir, 'device': 'cpu', 'rate': 0.0,
                              'input_qos': 'reliable'})
    camera = h.camera
    log = h.log
    try:
        # camera_info arriving late: frames are dropped, then served with one line
        h.image_pub.publish(make_image(scene(0), stamp=(1, 0)))
        h.wait_for(lambda: camera.drops['no_camera_info'] == 1, 10.0, 'no camera_info drop')
        h.process(make_image(scene(0), stamp=(2, 0)), make_info(W, H, stamp=(2, 0)))
        log.wait_line('info', 'camera_info arrived: serving (1 frame(s)')
        builds = camera.processor.cameras.builds
        grid = camera.processor.clouds._grid

        # same camera, new frame: nothing is rebuilt
        h.process(make_image(scene(1), stamp=(3, 0)), make_info(W, H, stamp=(3, 0)))
        assert camera.processor.cameras.builds == builds and camera.processor.clouds._grid is grid

        # resolution changes mid-stream (the camera restarts at 32x24)
        d, i, c = h.process(make_image(scene(2, 32, 24), stamp=(4, 0)),
                            make_info(32, 24, 250.0, 250.0, stamp=(4, 0)))
        assert (d.width, d.height, i.width, c.width, c.height) == (32, 24, 32, 32, 24)
        assert camera.events['resolution'] == 1 and camera.events['intrinsics'] == 1
        log.wait_line('info', 'image size changed 64x48 -> 32x24')
        assert camera.processor.cameras.builds == builds + 1
        assert camera.processor.clouds._grid is not grid
        # a frame whose camera_info is still the old size is dropped with a clear line
        h.image_pub.publish(make_image(scene(2), stamp=(5, 0)))
        h.wait_for(lambda: camera.drops['bad_camera_info'] == 1, 10.0, 'size mismatch drop')
        log.wait_line('warning', 'camera_info is for 32x24 but the image is 64x48')

        # intrinsics change at the same size (zoom, recalibration)
        _, i, _ = h.process(make_image(scene(2), stamp=(6, 0)),
                            make_info(W, H, 300.0, 300.0, stamp=(6, 0)))
        assert i.k[0] == 300.0 and camera.events['intrinsics'] == 2
        log.wait_line('info', 'camera changed:')

        # frame_id changes
        d, _, _ = h.process(make_image(scene(3), stamp=(7, 0), frame_id='cam2_optical'),
                            make_info(W, H, 300.0, 300.0, stamp=(7, 0), frame_id='cam2_optical'))
        assert d.header.frame_id == 'cam2_optical' and camera.events['frame_id'] == 1
        log.wait_line('info', "frame_id changed 'cam_optical' -> 'cam2_optical'")

        # timestamps go backwards (bag loop): served, with one line
        d, i, _ = h.process(make_image(scene(4), stamp=(1, 500)),
                            make_info(W, H, 300.0, 300.0, stamp=(1, 500)))
        assert stamp_of(d) == (1, 500) and stamp_of(i) == (1, 500)
        assert camera.events['stamp_backwards'] == 1
        log.wait_line('warning', 'image stamp went backwards (7.000 s -> 1.000 s)')
        d, _, _ = h.process(make_image(scene(4), stamp=(2, 500)),
                            make_info(W, H, 300.0, 300.0, stamp=(2, 500)))
        assert camera.events['stamp_backwards'] == 1

        # camera_info stops: the last one is used, with a warning; then it comes back
        monkeypatch.setattr(camera.queue, 'info_stale_s', 0.3)
        time.sleep(0.4)
        d, i, _ = h.process(make_image(scene(5), stamp=(3, 500)))
        assert i.k[0] == 300.0 and camera.events['camera_info_stopped'] == 1
        log.wait_line('warning', 'no camera_info on /camera_info for')
        h.process(make_image(scene(5), stamp=(4, 500)), make_info(W, H, 300.0, 300.0,
                                                                  stamp=(4, 500)))
        assert camera.events['camera_info_resumed'] == 1
        log.wait_line('info', 'camera_info received again after')
        assert camera.drops['error'] == 0
    finally:
        h.close()


# --- device faults -------------------------------------------------------------------------

def test_cuda_out_of_memory_drops_the_frame_frees_the_cache_and_goes_on(harness,
                                                                        monkeypatch):
    node = harness.node
    camera = harness.camera
    freed = []
    monkeypatch.setattr(torch.cuda, 'empty_cache', lambda: freed.append(1))
    real_predict = node.model.predict_many
    calls = []

    def predict_many(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise torch.cuda.OutOfMemoryError('CUDA out of memory. Tried to allocate 2.00 GiB')
        return real_predict(*args, **kwargs)
    node.model.predict_many = predict_many
    rgb = scene(6)
    harness.publish(make_image(rgb, stamp=(1, 0)), make_info(W, H, stamp=(1, 0)))
    harness.wait_for(lambda: camera.drops['cuda_oom'] == 1, 10.0, 'OOM drop')
    assert freed and not harness.depths
    harness.log.wait_line('warning', 'CUDA out of memory; freed the CUDA cache and going on')
    depth, _, _ = harness.process(make_image(rgb, stamp=(2, 0)), make_info(W, H, stamp=(2, 0)))
    assert depth.width == W and camera.drops['error'] == 0


@pytest.mark.skipif(torch.cuda.is_available(), reason='needs a machine without a GPU')
def test_cuda_without_gpu_fails_at_start_and_auto_falls_back(ros_context, fast_da_dir):
    from depth_node.node import DepthNode
    from rclpy.parameter import Parameter
    with pytest.raises(ModelLoadError, match="device 'cuda' requested but no CUDA GPU"):
        DepthNode(context=ros_context, parameter_overrides=[
            Parameter('model', value=fast_da_dir), Parameter('device', value='cuda')])
    h = Harness(ros_context, {'model': fast_da_dir, 'device': 'auto', 'rate': 0.0})
    try:
        assert h.node.model.device.type == 'cpu'
        h.process(make_image(scene(7), stamp=(1, 0)), make_info(W, H, stamp=(1, 0)))
    finally:
        h.close()


# --- idle when nobody listens --------------------------------------------------------------

def test_no_inference_without_subscribers_and_resume_within_one_frame(ros_context,
                                                                      fast_da_dir):
    h = Harness(ros_context, {'model': fast_da_dir, 'device': 'cpu', 'rate': 0.0},
                outputs=False)
    node = h.node
    camera = h.camera
    log = h.log
    calls = []
    real_predict = node.model.predict_many
    node.model.predict_many = lambda *a, **k: (calls.append(1), real_predict(*a, **k))[1]
    try:
        rgb = scene(8)
        for i in range(3):
            h.publish(make_image(rgb, stamp=(1 + i, 0)), make_info(W, H, stamp=(1 + i, 0)))
            h.wait_for(lambda i=i: camera.drops['idle'] == i + 1, 10.0, 'idle drop')
        assert not calls
        log.wait_line('info', 'idle, no inference until one subscribes')
        assert len(log.lines('info', 'idle, no inference until one subscribes')) == 1

        h.subscribe_outputs()
        h.wait_for(lambda: camera.depth_pub.get_subscription_count() > 0
                   and camera.info_pub.get_subscription_count() > 0
                   and camera.points_pub.get_subscription_count() > 0, 10.0, 'subscribers')
        depth, _, _ = h.process(make_image(rgb, stamp=(10, 0)),
                                make_info(W, H, stamp=(10, 0)))  # the very next frame
        assert depth.width == W and len(calls) == 1
        log.wait_line('info', 'resuming inference')
        assert camera.drops['idle'] == 3
    finally:
        h.close()
