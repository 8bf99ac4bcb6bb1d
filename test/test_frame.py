# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""The one frame path (FrameProcessor) without ROS: decoding, cameras, events, fallbacks."""

import dataclasses
from types import SimpleNamespace

from depth_node.camera import camera_info_fields, pinhole_camera_info
from depth_node.errors import (BadCameraInfoError, BadImageError, InvalidDepthError,
                               NoCameraInfoError)
from depth_node.frame import FrameProcessor, OutputOptions
from depth_node.geometry import Intrinsics
from depth_node.models import load_model
from depth_node.msgfill import as_byte_array
from depth_node.testing.feeder import make_compressed
from depth_node.testing.tiny_models import make_depth_pro, predictions_of, textured_image
import numpy as np
import pytest

W, H = 64, 48
CAMERA = Intrinsics(W, H, 60.0, 60.0, 31.5, 23.5)
INFO = pinhole_camera_info(CAMERA)
OPTS = OutputOptions(edge_filter=False)  # clouds compared point by point with the depth


def image_msg(rgb, encoding='rgb8', frame_id='cam'):
    stamp = SimpleNamespace(sec=1, nanosec=0)
    return SimpleNamespace(header=SimpleNamespace(stamp=stamp, frame_id=frame_id),
                           height=rgb.shape[0], width=rgb.shape[1], encoding=encoding,
                           is_bigendian=0, step=rgb.shape[1] * rgb.shape[2],
                           data=as_byte_array(rgb))


@pytest.fixture(scope='module')
def da_model(fast_da_dir):
    return load_model(fast_da_dir, 'cpu', 'fp32')


@pytest.fixture(scope='module')
def dp_model(tmp_path_factory):
    return load_model(make_depth_pro(tmp_path_factory.mktemp('dp')), 'cpu', 'fp32')


def test_message_and_pixels_give_the_same_output(da_model):
    rgb = textured_image(H, W, 1)
    processor = FrameProcessor(da_model)
    a = processor.process(image_msg(rgb), INFO, OPTS)
    b = processor.process_pixels(rgb, (0, 1, 2), INFO, OPTS)
    bgr = processor.process(image_msg(np.ascontiguousarray(rgb[..., ::-1]), 'bgr8'), INFO, OPTS)
    assert bytes(a.depth_data) == bytes(b.depth_data) == bytes(bgr.depth_data)
    assert bytes(a.cloud.data) == bytes(b.cloud.data)
    assert a.camera_info == INFO and a.intrinsics == CAMERA and 'decode' in a.timings
    np.testing.assert_array_equal(a.depth, da_model.predict(rgb, focal=(60.0, 60.0)))


def test_compressed_messages_are_decoded_by_their_format(da_model):
    rgb = textured_image(H, W, 2)
    out = FrameProcessor(da_model).process(make_compressed(rgb, fmt='png'), INFO, OPTS)
    np.testing.assert_array_equal(out.depth, da_model.predict(rgb, focal=(60.0, 60.0)))
    bad = make_compressed(rgb)
    bad.data = b'\xff\xd8 not a jpeg'
    with pytest.raises(BadImageError, match='not a valid JPEG or PNG'):
        FrameProcessor(da_model).process(bad, INFO, OPTS)


def test_events_of_the_stream(da_model):
    rgb = textured_image(H, W, 3)
    processor = FrameProcessor(da_model)
    with pytest.raises(NoCameraInfoError):
        processor.process_pixels(rgb, (0, 1, 2), None, OPTS)
    first = processor.process_pixels(rgb, (0, 1, 2), INFO, OPTS, frame_id='cam')
    assert [e.kind for e in first.events] == ['camera_info_late']
    same = processor.process_pixels(rgb, (0, 1, 2), INFO, OPTS, frame_id='cam')
    assert same.events == [] and processor.cameras.builds == 1
    zoom = pinhole_camera_info(dataclasses.replace(CAMERA, fx=90.0, fy=90.0))
    out = processor.process_pixels(rgb, (0, 1, 2), zoom, OPTS, frame_id='cam2')
    assert [e.kind for e in out.events] == ['frame_id', 'intrinsics']
    assert 'fx 60.0 fy 60.0' in out.events[1].text and 'fx 90.0' in out.events[1].text
    distorted = camera_info_fields(W, H, CAMERA.k(), CAMERA.p(), d=(0.1, 0, 0, 0, 0))
    out = processor.process_pixels(rgb, (0, 1, 2), distorted, OPTS, frame_id='cam2')
    assert [e.kind for e in out.events] == ['intrinsics', 'distortion_ignored']
    out = processor.process_pixels(rgb, (0, 1, 2), distorted, OPTS, frame_id='cam2')
    assert out.events == []  # said once per camera


@pytest.mark.parametrize('info, message', [
    (pinhole_camera_info(Intrinsics(32, 24, 30.0, 30.0, 15.5, 11.5)),
     'camera_info is for 32x24 but the image is 64x48'),
    (pinhole_camera_info(Intrinsics(W, H, 1e300, 1e300, 31.5, 23.5)), 'implausible'),
    (pinhole_camera_info(Intrinsics(W, H, -60.0, 60.0, 31.5, 23.5)), 'no focal length'),
    (pinhole_camera_info(Intrinsics(W, H, 60.0, 60.0, 1e9, 23.5)), 'far outside'),
    (camera_info_fields(W, H, (float('nan'),) * 9, p=(0.0,) * 12), 'non-finite'),
    (dataclasses.replace(INFO, binning_x=100), 'leaves no pixel'),
])
def test_unusable_camera_info_is_a_clear_error(da_model, info, message):
    rgb = textured_image(H, W, 4)
    with pytest.raises(BadCameraInfoError, match=message):
        FrameProcessor(da_model).process_pixels(rgb, (0, 1, 2), info, OPTS)


@pytest.mark.parametrize('width, height', [(3, 10000), (10000, 3), (8, 8), (1000, 90)])
def test_images_a_network_cannot_take_are_refused_with_a_line(da_model, width, height):
    rgb = np.zeros((height, width, 3), np.uint8)
    info = pinhole_camera_info(Intrinsics(width, height, 500.0, 500.0, width / 2, height / 2))
    with pytest.raises(BadImageError, match=f'image of {width}x{height} pixels cannot be run'):
        FrameProcessor(da_model).process_pixels(rgb, (0, 1, 2), info, OPTS)


def test_roi_outside_the_sensor_is_refused(da_model):
    from depth_node.camera import RegionOfInterest
    info = dataclasses.replace(pinhole_camera_info(Intrinsics(640, 480, 500, 500, 320, 240)),
                               roi=RegionOfInterest(620, 0, H, W, False))
    with pytest.raises(BadCameraInfoError, match='lies outside the 640x480 sensor'):
        FrameProcessor(da_model).process_pixels(textured_image(H, W), (0, 1, 2), info, OPTS)


def test_no_finite_depth_is_a_clear_error(da_model, monkeypatch):
    processor = FrameProcessor(da_model)
    monkeypatch.setattr(da_model, 'predict_many', predictions_of(
        lambda *a, **k: np.full((H, W), np.nan, np.float32)))
    with pytest.raises(InvalidDepthError, match='no finite depth'):
        processor.process_pixels(textured_image(H, W), (0, 1, 2), INFO, OPTS)


def test_depth_pro_uses_its_own_camera_when_camera_info_is_unusable(dp_model):
    rgb = textured_image(H, W, 5)
    processor = FrameProcessor(dp_model)
    uncalibrated = camera_info_fields(W, H, (0.0,) * 9, p=(0.0,) * 12)
    out = processor.process_pixels(rgb, (0, 1, 2), uncalibrated, OPTS)
    est = dp_model.estimated_intrinsics(W, H)
    assert out.intrinsics == est and out.camera_info == pinhole_camera_info(est)
    assert [e.kind for e in out.events] == ['camera_estimated']
    assert 'camera_info unusable' in out.events[0].text
    again = processor.process_pixels(rgb, (0, 1, 2), uncalibrated, OPTS)
    assert again.events == []
    back = processor.process_pixels(rgb, (0, 1, 2), INFO, OPTS)
    assert [e.kind for e in back.events] == ['camera_info_usable'] and back.camera_info == INFO
    # The cloud is back-projected with the camera the depth was computed for.
    xyz = np.frombuffer(out.cloud.data, np.float32).reshape(H, W, 4)[..., :3]
    u = np.arange(W, dtype=np.float32)
    np.testing.assert_allclose(xyz[..., 0], (u - est.cx) / est.fx * out.depth, rtol=1e-5,
                               atol=1e-6)


def test_depth_pro_without_focal_scaling_publishes_the_camera_of_its_depth(dp_model):
    """focal_scaling false: depth from the estimated field of view, and so is the cloud."""
    rgb = textured_image(H, W, 6)
    out = FrameProcessor(dp_model).process_pixels(
        rgb, (0, 1, 2), INFO, dataclasses.replace(OPTS, focal_scaling=False))
    est = dp_model.estimated_intrinsics(W, H)
    assert out.intrinsics == est != CAMERA
    assert [e.kind for e in out.events] == ['camera_estimated']
    assert 'focal_scaling is off' in out.events[0].text


def test_an_implausible_estimated_camera_is_refused(dp_model, monkeypatch):
    monkeypatch.setattr(dp_model, 'estimated_intrinsics',
                        lambda w, h, camera=None: Intrinsics(w, h, -5.0, -5.0, (w - 1) / 2,
                                                             (h - 1) / 2))
    uncalibrated = camera_info_fields(W, H, (0.0,) * 9, p=(0.0,) * 12)
    with pytest.raises(BadCameraInfoError, match='the camera depth_pro estimated has no focal'):
        FrameProcessor(dp_model).process_pixels(textured_image(H, W), (0, 1, 2), uncalibrated,
                                                OPTS)


def test_payload_buffers_are_reused_only_once_the_outputs_are_dropped(da_model):
    """
    The next frame rewrites the depth and cloud buffers only when nothing holds them.

    An output kept (as the offline tools keep theirs) keeps its bytes; once a frame's
    outputs are gone the next frame writes into the same memory, and its messages are
    byte for byte those of a processor that never reused anything.
    """
    opts = OutputOptions(scan=True)
    images = [textured_image(H, W, seed) for seed in (3, 4, 5)]
    processor = FrameProcessor(da_model)
    first = processor.process_pixels(images[0], (0, 1, 2), INFO, opts)
    kept = (bytes(first.depth_data), bytes(first.cloud.data))
    second = processor.process_pixels(images[1], (0, 1, 2), INFO, opts)
    assert (bytes(first.depth_data), bytes(first.cloud.data)) == kept
    assert second.cloud.data is not first.cloud.data
    assert second.depth_data is not first.depth_data
    addresses = (second.depth_data.buffer_info()[0], second.cloud.data.buffer_info()[0])
    del first, second
    third = processor.process_pixels(images[2], (0, 1, 2), INFO, opts)
    assert (third.depth_data.buffer_info()[0], third.cloud.data.buffer_info()[0]) == addresses
    payloads = processor.payloads
    assert payloads.depth_buffer.reused == 1 and payloads.clouds.buffer.reused == 1
    fresh = FrameProcessor(da_model)
    fresh.payloads.depth_buffer.reuse = fresh.payloads.clouds.buffer.reuse = False
    expected = fresh.process_pixels(images[2], (0, 1, 2), INFO, opts)
    assert bytes(third.depth_data) == bytes(expected.depth_data)
    assert bytes(third.cloud.data) == bytes(expected.cloud.data)
    np.testing.assert_array_equal(third.scan.ranges, expected.scan.ranges)


def test_cameras_of_one_size_share_their_buffers_and_batch_as_if_alone(da_model):
    """
    Three cameras of one size in one batch, with their own calibrations, as the node runs them.

    Each frame is published (its bytes read) and dropped before the next one is
    finished, as the node's worker does: the three take turns with one depth and one
    cloud buffer. Every output is byte for byte that of its camera's frame run alone
    (the decoder runs one image at a time, so a batch changes no numerics).
    """
    from depth_node.buffers import MessageBuffers
    from depth_node.frame import process_batch
    shared = MessageBuffers(3)
    processors = [FrameProcessor(da_model, buffers=shared) for _ in range(3)]
    infos = [pinhole_camera_info(Intrinsics(W, H, 60.0 + k, 58.0 - k, 31.5 + k, 23.5 - k))
             for k in range(3)]
    opts = OutputOptions(scan=True)
    alone = []
    for k in range(3):
        out = FrameProcessor(da_model).process_pixels(textured_image(H, W, 10 + k), (0, 1, 2),
                                                      infos[k], opts)
        alone.append((bytes(out.depth_data), bytes(out.cloud.data), out.scan.ranges.tobytes()))
    for step in range(2):
        prepared = [(p, p.prepare_pixels(textured_image(H, W, 10 + k), (0, 1, 2), infos[k],
                                         opts)) for k, p in enumerate(processors)]
        published = {}
        for index, out in process_batch(da_model, prepared):
            assert not isinstance(out, BaseException), out
            assert out.timings.get('batch') == 3
            published[index] = (bytes(out.depth_data), bytes(out.cloud.data),
                                out.scan.ranges.tobytes())
            out = None
        assert [published[k] for k in range(3)] == alone, step
    assert (shared.depth.made, shared.cloud.made) == (1, 1)
    assert (shared.depth.reused, shared.cloud.reused) == (5, 5)
