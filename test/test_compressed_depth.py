# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
depth/image/compressedDepth and depth/colored/compressed, checked against upstream's decoder.

``upstream_decode`` (test/upstream_compressed_depth.py) is a Python port of
compressed_depth_image_transport's own decode path, written from its C++
source, not derived from depth_node's encoder; ``upstream_compress_rvl`` ports
its RVL encoder, to compare RVL streams byte for byte.
"""

import os
from pathlib import Path
import struct
from types import SimpleNamespace

import cv2
from depth_node import messages
from depth_node.compressed_depth import (CompressedDepthEncoder, CompressedDepthOptions,
                                         decode_compressed_depth, encode_jpeg)
from depth_node.conversions import depth_to_image_fields
from depth_node.errors import BadImageError, ParameterValueError
from depth_node.geometry import Intrinsics
from depth_node.msgfill import keeps_reference
from depth_node.offline.bag import bag_typestore
from depth_node.visualize import colorize_depth_bgr
import numpy as np
import pytest
from upstream_compressed_depth import upstream_compress_rvl, upstream_decode

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get('DEPTH_NODE_SHARED', REPO.parent / 'shared'))
SAMPLE = REPO / 'depth_node' / 'sample'

# --------------------------------------------------------------------------------------------

H, W = 48, 64


def output_of(depth, encoding='32FC1'):
    """Return a FrameOutput-like object carrying ``depth``'s depth/image payload."""
    enc, step, data = depth_to_image_fields(depth, encoding)
    intr = Intrinsics(depth.shape[1], depth.shape[0], 50.0, 50.0, 0.0, 0.0)
    return SimpleNamespace(depth=depth, intrinsics=intr, depth_encoding=enc, depth_step=step,
                           depth_data=data)


def scene():
    """Return a 32FC1 depth map with every kind of pixel the node publishes and a few more."""
    rng = np.random.default_rng(18)
    depth = np.exp(rng.uniform(np.log(0.2), np.log(99.0), (H, W))).astype(np.float32)
    depth[:, :8] = np.linspace(0.16, 3.0, H * 8, dtype=np.float32).reshape(H, 8)
    depth[0, :6] = [np.nan, np.inf, 0.05, 0.1, 150.0, 100.0]  # NaN, sky, near, far
    depth[1, :4] = [99.99, 0.15, 0.16, 12.345]
    depth[2, 10:20] = np.nan
    depth[3, 10:20] = np.inf
    return depth


def invalid_after_round_trip(depth, quant_max):
    """Pixels the codec carries as "no depth": NaN, +inf, <= 0 and at or beyond depth_max."""
    with np.errstate(invalid='ignore'):
        return ~((depth > 0) & (depth < quant_max))


@pytest.mark.parametrize('method', ['png', 'rvl'])
def test_32fc1_round_trip_through_upstream_decoder(method):
    depth = scene()
    encoder = CompressedDepthEncoder(CompressedDepthOptions(format=method))
    payload = encoder.encode_output(output_of(depth))
    assert payload.format == f'32FC1; compressedDepth {method}'
    decoded = upstream_decode(payload.format, payload.data)
    assert decoded is not None
    encoding, out = decoded
    assert encoding == '32FC1' and out.shape == (H, W) and out.dtype == np.float32
    fmt_enum, a, b = struct.unpack('<iff', bytes(payload.data[:12]))
    assert fmt_enum == 0  # INV_DEPTH
    assert (a, b) == (10100.0, -100.0)  # z0 (z0 + 1), 1 - A / depth_max for 100, 100 m
    near = a / (65535.0 - b)
    assert near == pytest.approx(0.15388, abs=1e-5)
    nan = invalid_after_round_trip(depth, 100.0)
    np.testing.assert_array_equal(np.isnan(out), nan)
    assert np.isnan(out[0, :2]).all() and np.isnan(out[0, 4:6]).all()  # NaN, +inf, far
    assert np.isnan(out[3, 10:20]).all()  # +inf sky: NaN (the codec has one "no depth")
    # Nearer than the codec reaches: the near limit, never a wrong far depth.
    np.testing.assert_allclose(out[0, 2:4], near, rtol=1e-6)
    np.testing.assert_allclose(out[1, 1], near, rtol=1e-6)
    # Everything else within half a quantisation step, rounded (not truncated).
    carried = ~nan & (depth >= near)
    error = np.abs(a / out[carried].astype(np.float64) - a / depth[carried])
    assert error.max() <= 0.5 + 1e-2
    assert error.mean() == pytest.approx(0.25, abs=0.05)
    d = depth[carried].astype(np.float64)
    assert (np.abs(out[carried] - d) <= d * d / (2 * a) * 1.03 + 1e-6).all()


@pytest.mark.parametrize('method', ['png', 'rvl'])
def test_16uc1_round_trip_is_lossless(method):
    depth = scene()
    out = output_of(depth, '16UC1')
    mm = np.frombuffer(out.depth_data, '<u2').reshape(H, W)
    payload = CompressedDepthEncoder(CompressedDepthOptions(format=method)).encode_output(out)
    assert payload.format == f'16UC1; compressedDepth {method}'
    encoding, image = upstream_decode(payload.format, payload.data)
    assert encoding == '16UC1' and image.dtype == np.uint16
    np.testing.assert_array_equal(image, mm)
    assert (mm > 0).sum() > 0.9 * mm.size
    # depth_max cuts as upstream's encoder does: millimetres above it become 0.
    cut = CompressedDepthEncoder(CompressedDepthOptions(format=method, depth_max=5.0))
    _, image = upstream_decode(*(lambda p: (p.format, p.data))(cut.encode_output(out)))
    np.testing.assert_array_equal(image, np.where(mm > 5000, 0, mm))


def test_quantisation_parameters_change_the_range():
    depth = scene()
    opts = CompressedDepthOptions(depth_max=10.0, depth_quantization=50.0)
    payload = CompressedDepthEncoder(opts).encode_output(output_of(depth))
    _, out = upstream_decode(payload.format, payload.data)
    a, b = 50.0 * 51.0, 1.0 - 50.0 * 51.0 / 10.0
    header = struct.unpack('<ff', bytes(payload.data[4:12]))
    assert header == (pytest.approx(a), pytest.approx(b))
    np.testing.assert_array_equal(np.isnan(out), invalid_after_round_trip(depth, 10.0))
    assert opts.quantization.near_limit == pytest.approx(a / (65535 - b), rel=1e-6)
    carried = ~np.isnan(out) & (depth > opts.quantization.near_limit)
    assert np.abs(a / out[carried] - a / depth[carried]).max() <= 0.5 + 1e-2


def test_message_sizes():
    """Header + stream, nothing else; a smooth depth map compresses well, noise does not."""
    yy, xx = np.mgrid[0:240, 0:320].astype(np.float32)
    smooth = (1.0 + 0.01 * xx + 0.005 * yy).astype(np.float32)
    for method in ('png', 'rvl'):
        enc = CompressedDepthEncoder(CompressedDepthOptions(format=method))
        payload = enc.encode_output(output_of(smooth))
        raw = smooth.size * 4
        assert len(payload) == len(payload.data) and len(payload) < raw / 3
        stream = bytes(payload.data[12:])
        if method == 'png':
            assert stream[:8] == b'\x89PNG\r\n\x1a\n'
            png = cv2.imdecode(np.frombuffer(stream, np.uint8), cv2.IMREAD_UNCHANGED)
            assert png.shape == (240, 320) and png.dtype == np.uint16
        else:
            assert struct.unpack('<II', stream[:8]) == (320, 240) and len(stream) % 4 == 0
    noise = np.random.default_rng(0).uniform(0.5, 5.0, (240, 320)).astype(np.float32)
    payload = CompressedDepthEncoder().encode_output(output_of(noise))
    assert len(payload) > noise.size * 1.5  # 16-bit noise: PNG cannot do much


@pytest.mark.parametrize('pixels', [
    np.array([[0, 0, 5, 6, 7, 0, 0, 0, 65535, 1, 0]], np.uint16),  # zeros first, wrap deltas
    np.array([[9, 9, 9, 0, 3]], np.uint16),  # non-zero first
    np.zeros((3, 5), np.uint16),  # all zero
    np.full((2, 7), 1234, np.uint16),  # no zero
    np.random.default_rng(3).integers(0, 3000, (17, 23)).astype(np.uint16),
], ids=['zeros-first', 'nonzero-first', 'all-zero', 'no-zero', 'random'])
def test_rvl_stream_is_upstreams_byte_for_byte(pixels):
    from depth_node.compressed_depth import rvl_encode
    assert rvl_encode(pixels) == upstream_compress_rvl(pixels)
    data = bytes(12) + struct.pack('<II', pixels.shape[1], pixels.shape[0]) + rvl_encode(pixels)
    _, image = upstream_decode('16UC1; compressedDepth rvl', data)
    np.testing.assert_array_equal(image, pixels)


def test_rvl_of_a_mostly_invalid_frame_passes_upstreams_check():
    """Long zero runs compress below upstream's 5 pixels per byte limit: padded to pass it."""
    depth = np.full((120, 160), np.nan, np.float32)
    depth[60, 80] = 2.0
    payload = CompressedDepthEncoder(CompressedDepthOptions(format='rvl')).encode_output(
        output_of(depth))
    assert 5 * (len(payload) - 12) >= depth.size
    _, out = upstream_decode(payload.format, payload.data)
    assert np.isnan(out).sum() == depth.size - 1
    assert out[60, 80] == pytest.approx(2.0, rel=1e-3)


def test_step_padding_and_16uc1_with_big_depth_max():
    """A payload with row padding is read row by row; 16UC1 keeps 65.535 m at depth_max 100."""
    mm = np.random.default_rng(5).integers(1, 65536, (6, 5)).astype(np.uint16)
    padded = np.zeros((6, 8), np.uint16)
    padded[:, :5] = mm
    payload = CompressedDepthEncoder().encode('16UC1', 6, 5, padded.tobytes(), step=16)
    np.testing.assert_array_equal(upstream_decode(payload.format, payload.data)[1], mm)


def test_core_decoder_agrees_and_reads_every_release():
    """decode_compressed_depth (the offline tools') gives upstream's result; Humble's too."""
    depth = scene()
    for method in ('png', 'rvl'):
        payload = CompressedDepthEncoder(CompressedDepthOptions(format=method)).encode_output(
            output_of(depth))
        ours = decode_compressed_depth(payload.format, payload.data)
        _, theirs = upstream_decode(payload.format, payload.data)
        assert ours.encoding == '32FC1'
        np.testing.assert_array_equal(ours.metres(), theirs)
    png = CompressedDepthEncoder().encode_output(output_of(depth))
    humble = '32FC1; compressedDepth'  # what Humble's and Iron's encoders write
    np.testing.assert_array_equal(decode_compressed_depth(humble, png.data).metres(),
                                  upstream_decode(humble, png.data)[1])
    mm = CompressedDepthEncoder().encode_output(output_of(depth, '16UC1'))
    decoded = decode_compressed_depth(mm.format, mm.data)
    assert decoded.encoding == '16UC1'
    expect = np.frombuffer(output_of(depth, '16UC1').depth_data, '<u2').reshape(H, W)
    np.testing.assert_array_equal(decoded.image, expect)
    np.testing.assert_array_equal(np.isnan(decoded.metres()), expect == 0)


@pytest.mark.parametrize('fmt, data, reason', [
    ('32FC1; compressedDepth png', bytes(12), 'holds no image'),
    ('32FC1; compressedDepth png', bytes(12) + b'not a png', 'PNG'),
    ('32FC1; compressedDepth jpeg', bytes(40), 'unsupported compressedDepth format'),
    ('rgb8; compressedDepth png', bytes(40), 'not 32FC1 or 16UC1'),
    ('16UC1; compressedDepth rvl', bytes(12) + struct.pack('<II', 4000, 3000) + bytes(8),
     'malformed RVL'),
    ('16UC1; compressedDepth rvl', bytes(12) + struct.pack('<II', 4, 4) + b'\xff' * 4,
     'RVL'),
], ids=['empty', 'garbage-png', 'jpeg', 'colour', 'huge-rvl', 'corrupt-rvl'])
def test_core_decoder_refuses_bad_messages(fmt, data, reason):
    with pytest.raises(BadImageError, match=reason):
        decode_compressed_depth(fmt, data)


def test_options_are_checked():
    with pytest.raises(ParameterValueError, match="'png', 'rvl'"):
        CompressedDepthOptions(format='jpeg')
    with pytest.raises(ParameterValueError, match='png_level'):
        CompressedDepthOptions(png_level=10)
    with pytest.raises(BadImageError, match='32FC1 or 16UC1'):
        CompressedDepthEncoder().encode('bgr8', 2, 2, bytes(12))
    with pytest.raises(BadImageError, match='does not hold'):
        CompressedDepthEncoder().encode('32FC1', 4, 4, bytes(12))


# ------------------------------------------------------------------ JPEG colourised depth

def test_colored_jpeg_decodes_to_the_colourised_depth():
    depth = cv2.imread(str(SAMPLE / 'depth_003.png'), cv2.IMREAD_UNCHANGED) / 1000.0
    colored = colorize_depth_bgr(np.where(depth > 0, depth, np.nan).astype(np.float32), 0, 0)
    psnr = {}
    for quality in (80, 95):
        payload = encode_jpeg(colored, quality)
        assert payload.format == 'bgr8; jpeg compressed bgr8'  # compressed_image_transport's
        assert bytes(payload.data[:2]) == b'\xff\xd8'
        decoded = cv2.imdecode(np.frombuffer(payload.data, np.uint8), cv2.IMREAD_COLOR)
        assert decoded.shape == colored.shape
        error = decoded.astype(np.float64) - colored
        psnr[quality] = 10 * np.log10(255.0 ** 2 / np.mean(error ** 2))
        assert np.abs(error).mean() < 1.5
        assert len(payload) < colored.nbytes / 20
    assert 35.0 < psnr[80] < psnr[95]


# ------------------------------------------------------------------ message builders

def test_rclpy_compressed_image_keeps_the_payload():
    from rclpy.serialization import deserialize_message, serialize_message
    types = messages.rclpy_types()
    payload = CompressedDepthEncoder().encode_output(output_of(scene()))
    header = messages.header(types, 7_000_000_003, 'cam_optical')
    msg = messages.compressed_image(types, header, payload)
    assert keeps_reference(msg, payload.data)
    assert msg.format == '32FC1; compressedDepth png'
    back = deserialize_message(serialize_message(msg), type(msg))
    assert (back.header.stamp.sec, back.header.stamp.nanosec) == (7, 3)
    assert back.header.frame_id == 'cam_optical' and bytes(back.data) == bytes(payload.data)
    _, out = upstream_decode(back.format, bytes(back.data))
    assert out.shape == (H, W)


def test_rosbags_compressed_image_round_trip():
    store = bag_typestore()
    types = messages.rosbags_types(store)
    payload = encode_jpeg(colorize_depth_bgr(scene(), 0.2, 20.0))
    msg = messages.compressed_image(types, messages.header(types, 5, 'cam'), payload)
    raw = store.serialize_cdr(msg, 'sensor_msgs/msg/CompressedImage')
    back = store.deserialize_cdr(raw, 'sensor_msgs/msg/CompressedImage')
    assert back.format == payload.format and back.data.tobytes() == bytes(payload.data)


# ------------------------------------------------------------------ real frames

def real_depth_maps():
    """Return (name, metres) of the bundled sample and the shared RGB-D frames present."""
    maps = [('sample/depth_003', cv2.imread(str(SAMPLE / 'depth_003.png'),
                                            cv2.IMREAD_UNCHANGED) / 1000.0)]
    for name in ('nyu/depth/sync_depth_00000.png', 'icl_nuim/depth/00000.png'):
        path = SHARED / 'data' / 'rgbd' / name
        if path.is_file():
            maps.append((name, cv2.imread(str(path), cv2.IMREAD_UNCHANGED) / 1000.0))
    return [(n, np.where(d > 0, d, np.nan).astype(np.float32)) for n, d in maps]


@pytest.mark.parametrize('method', ['png', 'rvl'])
def test_real_depth_round_trip_and_size(method):
    maps = real_depth_maps()
    if len(maps) == 1:
        print(f'{SHARED}/data is absent: only the bundled sample')
    encoder = CompressedDepthEncoder(CompressedDepthOptions(format=method))
    for name, depth in maps:
        for encoding in ('32FC1', '16UC1'):
            out = output_of(depth, encoding)
            payload = encoder.encode_output(out)
            raw = len(out.depth_data)
            assert len(payload) < raw / 2, (name, encoding, len(payload), raw)
            enc, image = upstream_decode(payload.format, payload.data)
            assert enc == encoding and image.shape == depth.shape
            if encoding == '16UC1':
                np.testing.assert_array_equal(image, np.frombuffer(out.depth_data, '<u2')
                                              .reshape(depth.shape))
                continue
            np.testing.assert_array_equal(np.isnan(image), np.isnan(depth))
            d = depth[~np.isnan(depth)].astype(np.float64)
            error = np.abs(image[~np.isnan(depth)] - d)
            assert (error <= d * d / (2 * 10100.0) * 1.03 + 1e-6).all()  # half a step


def test_defaults_are_the_node_parameters():
    from depth_node.compressed_depth import DEFAULT_JPEG_QUALITY
    from depth_node.params import check_parameter, PARAMETERS_BY_NAME
    cfg = {name: spec.default for name, spec in PARAMETERS_BY_NAME.items()}
    assert CompressedDepthOptions.from_parameters(cfg) == CompressedDepthOptions()
    assert cfg['depth.colored.compressed.jpeg_quality'] == DEFAULT_JPEG_QUALITY
    assert cfg['depth.image.compressedDepth.format'] == 'png'  # the one every release decodes
    assert check_parameter('depth.image.compressedDepth.format', 'rvl') == 'rvl'
    with pytest.raises(ParameterValueError, match="'png', 'rvl'"):
        check_parameter('depth.image.compressedDepth.format', 'zstd')
    with pytest.raises(ParameterValueError, match=r'within \[0, 9\]'):
        check_parameter('depth.image.compressedDepth.png_level', 10)


def test_bandwidth_tool_measures_the_payloads(tmp_path, capsys):
    """tools/compressed_bandwidth.py (doc/offboard.md's table) on a bundled frame: no rot."""
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        'compressed_bandwidth', REPO / 'tools' / 'compressed_bandwidth.py')
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    assert tool.main(['--data', str(tmp_path), '--depth', 'gt', '--frames', '1']) == 0
    rows = {}
    for line in capsys.readouterr().out.splitlines():
        cells = [c.strip() for c in line.strip('|').split('|')]
        if len(cells) == 5 and cells[1].replace(',', '').isdigit():
            rows[cells[0]] = [int(cells[1].replace(',', '')), int(cells[3].replace(',', ''))]
    assert rows['depth/image (32FC1)'] == [640 * 480 * 4 + 72, 1280 * 720 * 4 + 72]
    assert rows['points (xyz + rgb, organized)'][0] > 640 * 480 * 16
    for size in (0, 1):
        assert rows['depth/image/compressedDepth (32FC1, png)'][size] < (
            rows['depth/image (32FC1)'][size] / 4)
        assert rows['depth/colored/compressed (JPEG 80)'][size] < (
            rows['depth/colored (bgr8)'][size] / 10)
    assert tool.main(['--data', str(tmp_path), '--depth', 'gt', '--speed', '--repeat', '1']) == 0
    assert '| 32FC1 png level 1 |' in capsys.readouterr().out


@pytest.mark.parametrize('device_payloads', [False, True], ids=['host', 'device-path'])
def test_encoder_takes_the_frame_path_output(tiny_da_model, device_payloads):
    """encode_output on a real FrameOutput (host and device-payload stages, here on the CPU)."""
    from depth_node.camera import pinhole_camera_info
    from depth_node.frame import FrameProcessor, OutputOptions
    from depth_node.testing.synthetic import render, sample_trajectory
    intr = Intrinsics(96, 72, 80.0, 80.0, 47.5, 35.5)
    rgb, _ = render(96, 72, 80.0, 80.0, 47.5, 35.5, sample_trajectory(1)[0])
    processor = FrameProcessor(tiny_da_model, device_payloads=device_payloads)
    out = processor.process_pixels(rgb, (0, 1, 2), pinhole_camera_info(intr),
                                   OutputOptions(decimation=2, publish_points=False))
    payload = CompressedDepthEncoder().encode_output(out)
    encoding, depth = upstream_decode(payload.format, payload.data)
    published = np.frombuffer(out.depth_data, '<f4').reshape(36, 48)
    assert encoding == '32FC1' and depth.shape == (36, 48)
    valid = np.isfinite(published)
    assert valid.all()
    assert np.abs(10100.0 / depth - 10100.0 / published).max() <= 0.51
