# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""Image and depth encodings without rclpy."""

from types import SimpleNamespace

from depth_node import buffers
from depth_node.buffers import ReusableBuffer
from depth_node.conversions import (cloud_to_structured, depth_to_image_fields,
                                    image_fields_to_depth, image_to_array, rgb_from_array,
                                    unpack_rgb)
from depth_node.errors import BadImageError
import numpy as np
import pytest


def make_image(rgb: np.ndarray, encoding: str, pad: int = 0):
    """Build a SimpleNamespace Image in ``encoding`` from an RGB array, rows padded."""
    conv = {
        'rgb8': lambda a: a,
        'bgr8': lambda a: a[..., ::-1],
        'rgba8': lambda a: np.concatenate([a, np.full(a.shape[:2] + (1,), 255, np.uint8)], 2),
        'bgra8': lambda a: np.concatenate(
            [a[..., ::-1], np.full(a.shape[:2] + (1,), 255, np.uint8)], 2),
        'mono8': lambda a: a[..., :1],
    }[encoding]
    arr = np.ascontiguousarray(conv(rgb))
    h, w, c = arr.shape
    rows = np.zeros((h, w * c + pad), np.uint8)
    rows[:, :w * c] = arr.reshape(h, -1)
    return SimpleNamespace(encoding=encoding, height=h, width=w, step=w * c + pad,
                           is_bigendian=0, data=rows.tobytes())


@pytest.mark.parametrize('encoding', ['rgb8', 'bgr8', 'rgba8', 'bgra8', 'mono8'])
@pytest.mark.parametrize('pad', [0, 3])
def test_color_encodings_give_rgb(encoding, pad):
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)
    pixels, order = image_to_array(make_image(rgb, encoding, pad))
    out = rgb_from_array(pixels, order)
    expected = np.repeat(rgb[..., :1], 3, axis=2) if encoding == 'mono8' else rgb
    np.testing.assert_array_equal(out, expected)


def test_rgb8_is_zero_copy():
    rgb = np.zeros((4, 6, 3), np.uint8)
    msg = make_image(rgb, 'rgb8')
    pixels, _ = image_to_array(msg)
    assert not pixels.flags.owndata


@pytest.mark.parametrize('field,value,match', [
    ('encoding', '32FC1', 'depth'),
    ('encoding', '16UC1', 'depth'),
    ('encoding', 'yuv422', 'unsupported'),
    ('encoding', 'bayer_rggb8', 'unsupported'),
    ('step', 10, 'smaller than one row'),
    ('data', b'\x00' * 20, 'needs'),
    ('height', 0, 'empty'),
    ('width', 0, 'empty'),
])
def test_bad_images_raise(field, value, match):
    msg = make_image(np.zeros((4, 6, 3), np.uint8), 'rgb8')
    setattr(msg, field, value)
    with pytest.raises(BadImageError, match=match):
        image_to_array(msg)


def test_depth_32fc1_round_trip_with_nan():
    depth = np.array([[1.5, 0.0], [np.nan, 70.25]], np.float32)
    enc, step, data = depth_to_image_fields(depth, '32FC1')
    assert (enc, step, len(data)) == ('32FC1', 8, 16)
    back = image_fields_to_depth(SimpleNamespace(encoding=enc, height=2, width=2, step=step,
                                                 is_bigendian=0, data=data))
    assert back[0, 0] == 1.5 and back[1, 1] == 70.25
    assert np.isnan(back[0, 1]) and np.isnan(back[1, 0])


def test_depth_16uc1_millimetres_zero_invalid():
    depth = np.array([[1.2344, 0.0], [np.nan, 70.0]], np.float32)
    enc, step, data = depth_to_image_fields(depth, '16UC1')
    raw = np.frombuffer(data, '<u2').reshape(2, 2)
    # 1234 mm; invalid and beyond 65.535 m both become 0 (REP 118)
    np.testing.assert_array_equal(raw, [[1234, 0], [0, 0]])
    assert step == 4 and enc == '16UC1'


@pytest.mark.parametrize('encoding', ['32FC1', '16UC1'])
@pytest.mark.parametrize('layout', ['contiguous', 'strided', 'float64'])
def test_depth_payload_bytes_equal_the_plain_computation(encoding, layout):
    """The payload written in place equals ``np.where(...).astype(...)`` bit for bit."""
    rng = np.random.default_rng(4)
    depth = rng.uniform(-1.0, 80.0, (23, 31)).astype(np.float32)
    depth[rng.random(depth.shape) < 0.1] = np.nan
    depth[3, 3], depth[4, 4], depth[5, 5] = np.inf, -np.inf, -np.float32(np.nan)
    depth[6, 6], depth[7, 7], depth[8, 8] = 0.0004, 0.0005, 65.5355
    if layout == 'strided':
        depth = np.repeat(depth, 2, axis=1)[:, ::2]
    elif layout == 'float64':
        depth = depth.astype(np.float64)
    d32 = np.asarray(depth, np.float32)
    with np.errstate(invalid='ignore'):
        if encoding == '32FC1':
            expected = np.where(d32 > 0, d32, np.float32(np.nan)).astype('<f4')
        else:
            mm = np.rint(d32 * 1000.0)
            expected = np.where((mm > 0) & (mm <= 65535), mm, 0).astype('<u2')
    enc, step, data = depth_to_image_fields(depth, encoding)
    assert enc == encoding and step == expected.strides[0]
    assert data.tobytes() == expected.tobytes()


@pytest.mark.parametrize('encoding', ['32FC1', '16UC1'])
def test_depth_payload_in_bands_and_a_reused_buffer_equals_the_plain_computation(
        encoding, monkeypatch):
    """Frames written band by band into one reused buffer: each equals its plain bytes."""
    monkeypatch.setattr(buffers, 'BAND_PIXELS', 70)  # bands of 2 rows and a short last one
    slot = ReusableBuffer()
    for frame in range(3):
        rng = np.random.default_rng(20 + frame)
        depth = rng.uniform(-1.0, 80.0, (23, 31)).astype(np.float32)
        depth[rng.random(depth.shape) < 0.3 * frame] = np.nan  # more holes each frame
        depth[frame, frame] = -np.float32(np.nan)
        with np.errstate(invalid='ignore'):
            if encoding == '32FC1':
                expected = np.where(depth > 0, depth, np.float32(np.nan)).astype('<f4')
            else:
                mm = np.rint(depth * 1000.0)
                expected = np.where((mm > 0) & (mm <= 65535), mm, 0).astype('<u2')
        _, _, data = depth_to_image_fields(depth, encoding, slot)
        assert data.tobytes() == expected.tobytes()
        del data
    assert (slot.reused, slot.made) == (2, 1)


def test_empty_depth_gives_an_empty_payload():
    for encoding in ('32FC1', '16UC1'):
        assert len(depth_to_image_fields(np.zeros((0, 4), np.float32), encoding)[2]) == 0


def test_infinite_depth_is_too_far_in_32fc1_and_invalid_in_16uc1():
    """REP 117: +inf (e.g. Depth Anything 3's sky) stays +inf in 32FC1; 16UC1 has only 0."""
    depth = np.array([[np.inf, 2.0], [-np.inf, np.nan]], np.float32)
    enc, step, data = depth_to_image_fields(depth, '32FC1')
    raw = np.frombuffer(data, '<f4').reshape(2, 2)
    assert np.isposinf(raw[0, 0]) and raw[0, 1] == 2.0 and np.isnan(raw[1]).all()
    back = image_fields_to_depth(SimpleNamespace(encoding=enc, height=2, width=2, step=step,
                                                 is_bigendian=0, data=data))
    assert np.isposinf(back[0, 0]) and np.isnan(back[1]).all()
    enc, step, data = depth_to_image_fields(depth, '16UC1')
    np.testing.assert_array_equal(np.frombuffer(data, '<u2').reshape(2, 2), [[0, 2000], [0, 0]])


def test_cloud_structured_view_and_rgb_unpack():
    from depth_node.geometry import CloudBuilder, Intrinsics
    intr = Intrinsics(4, 3, 2.0, 2.0, 1.5, 1.0)
    depth = np.full((3, 4), 2.0, np.float32)
    rgb = np.arange(36, dtype=np.uint8).reshape(3, 4, 3)
    cloud = CloudBuilder().build(depth, intr, rgb)
    msg = SimpleNamespace(
        fields=[SimpleNamespace(name=n, offset=o, datatype=t, count=c) for n, o, t, c in
                cloud.fields],
        height=cloud.height, width=cloud.width, point_step=cloud.point_step,
        row_step=cloud.row_step, data=cloud.data, is_bigendian=False)
    arr = cloud_to_structured(msg)
    assert arr.shape == (3, 4)
    np.testing.assert_array_equal(unpack_rgb(arr['rgb'].ravel()), rgb.reshape(-1, 3))
