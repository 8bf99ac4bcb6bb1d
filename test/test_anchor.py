# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
Anchoring the metric scale to a sparse range sensor (depth_node.anchor) and its frame path.

Geometry is checked against independent computations: OpenCV's centre-aligned
nearest-neighbour resize (``INTER_NEAREST_EXACT``) for the pixel grid of an
anchor depth image, ``cv2.projectPoints`` for clouds, ``cv2.Rodrigues`` for
transforms, a brute-force minimisation for the fit. Every bad anchor input of
issue 21 gets its line and leaves the output exactly as without it.
"""

from fractions import Fraction
from types import SimpleNamespace

import cv2
from depth_node.anchor import (AnchorBuffer, AnchorInput, AnchorStage, cloud_xyz,
                               depth_anchor_samples, DIAGNOSTIC_KEYS, fit_scale, needs_transform,
                               points_anchor_samples, relative_error_scale, transform_matrix,
                               transform_points)
from depth_node.camera import pinhole_camera_info
from depth_node.errors import BadAnchorError
from depth_node.frame import FrameProcessor, OutputOptions
from depth_node.geometry import Intrinsics
from depth_node.testing.tiny_models import textured_image
import numpy as np
import pytest
import torch

W, H = 64, 48
INTR = Intrinsics(W, H, 50.0, 52.0, 31.7, 23.2)
T0 = 1_700_000_000 * 10**9
FRAME = 'cam_optical'
#: The device stage runs on the CPU everywhere and on CUDA where there is one.
DEVICES = ['cpu'] + (['cuda'] if torch.cuda.is_available() else [])


def header(stamp_ns=T0, frame_id=FRAME):
    return SimpleNamespace(stamp=SimpleNamespace(sec=stamp_ns // 10**9,
                                                 nanosec=stamp_ns % 10**9), frame_id=frame_id)


def depth_msg(values, encoding='32FC1', stamp_ns=T0, frame_id=FRAME, big=False, pad=0):
    """Return the fields of a depth Image message holding ``values`` (rows padded by ``pad``)."""
    dtype = {'32FC1': 'f4', '16UC1': 'u2'}.get(encoding, 'u1')
    arr = np.asarray(values).astype(('>' if big else '<') + dtype)
    h, w = arr.shape
    row = arr.reshape(h, -1).view(np.uint8).reshape(h, -1)
    data = np.zeros((h, row.shape[1] + pad), np.uint8)
    data[:, :row.shape[1]] = row
    return SimpleNamespace(header=header(stamp_ns, frame_id), height=h, width=w,
                           encoding=encoding, is_bigendian=int(big), step=data.shape[1],
                           data=data.tobytes())


def cloud_msg(xyz, stamp_ns=T0, frame_id=FRAME, dtype='<f4', point_step=None, big=False):
    """Return the fields of an unorganized PointCloud2 with x, y, z of ``dtype`` (+ padding)."""
    xyz = np.asarray(xyz, np.float64).reshape(-1, 3)
    dt = np.dtype(dtype).newbyteorder('>' if big else '<')
    size = dt.itemsize
    point_step = point_step or 3 * size + 4
    buf = np.zeros((xyz.shape[0], point_step), np.uint8)
    for i in range(3):
        buf[:, i * size:(i + 1) * size] = xyz[:, i].astype(dt).view(np.uint8).reshape(-1, size)
    datatype = {4: 7, 8: 8}[size]
    fields = [SimpleNamespace(name=n, offset=i * size, datatype=datatype, count=1)
              for i, n in enumerate('xyz')]
    fields.append(SimpleNamespace(name='intensity', offset=3 * size, datatype=7, count=1))
    return SimpleNamespace(header=header(stamp_ns, frame_id), height=1, width=xyz.shape[0],
                           fields=fields, is_bigendian=int(big), point_step=point_step,
                           row_step=point_step * xyz.shape[0], data=buf.tobytes(),
                           is_dense=False)


def opts(**kw):
    base = dict(anchor_depth=True, anchor_points=True, anchor_hold_time=1.0,
                anchor_min_inliers=8, anchor_max_correction=8.0, publish_points=True,
                scan=True, scan_range_max=50.0)
    base.update(kw)
    return OutputOptions(**base)


class FixedModel:
    """A model whose prediction is a fixed depth map (the network's own scale)."""

    family = 'fixed'
    estimates_camera = False
    focal_estimated = False

    def __init__(self, depth, device='cpu'):
        self.depth = depth
        self.device = torch.device(device)

    def predict_many(self, requests, max_batch=0):
        for index, request in enumerate(requests):
            if not request.on_device:
                yield index, self.depth.copy()
                continue
            image = torch.from_numpy(np.array(request.pixels)).permute(2, 0, 1)[None]
            yield index, (torch.from_numpy(self.depth.copy()).to(self.device),
                          image.to(self.device))


def scene_depth():
    """Return a smooth H x W depth map (1.5 .. 6 m) with a few holes."""
    v, u = np.mgrid[0:H, 0:W].astype(np.float32)
    depth = 1.5 + 3.0 * (v / H) + 1.5 * np.sin(u / 9.0) ** 2
    depth[3, 5] = np.nan
    return depth.astype(np.float32)


# ------------------------------------------------------------------ anchor/depth geometry

@pytest.mark.parametrize('size', [(W, H), (W // 2, H // 2), (W * 2, H * 2), (48, 36),
                                  (W // 2, H // 2 + 1)])
def test_depth_anchor_pixels_follow_opencv_centre_aligned_nearest(size):
    """Anchor pixel (ua, va) is the image pixel OpenCV's INTER_NEAREST_EXACT picks."""
    wa, ha = size
    rng = np.random.default_rng(1)
    anchor = np.where(rng.random((ha, wa)) < 0.3, rng.uniform(0.5, 9.0, (ha, wa)), 0.0)
    samples = depth_anchor_samples(depth_msg(anchor), W, H)
    # Independent: resize the image's own pixel index to the anchor grid.
    index = np.arange(W * H, dtype=np.float32).reshape(H, W)
    expected = cv2.resize(index, (wa, ha), interpolation=cv2.INTER_NEAREST_EXACT)
    valid = anchor > 0
    va, ua = np.nonzero(valid)
    got_v, got_u = np.divmod(samples.index, W)
    # Where an anchor pixel's centre falls exactly between two image pixels (OpenCV's fixed
    # point picks the lower, we round half up), either is the nearest.
    tie_u = [(Fraction(2 * a + 1, 2) * Fraction(W, wa) - Fraction(1, 2)).denominator == 2
             for a in ua]
    tie_v = [(Fraction(2 * a + 1, 2) * Fraction(H, ha) - Fraction(1, 2)).denominator == 2
             for a in va]
    ref_v, ref_u = np.divmod(expected[valid].astype(np.int64), W)
    assert np.all(np.where(tie_u, np.isin(got_u - ref_u, (0, 1)), got_u == ref_u))
    assert np.all(np.where(tie_v, np.isin(got_v - ref_v, (0, 1)), got_v == ref_v))
    np.testing.assert_allclose(samples.depth, anchor[valid].astype(np.float32))


def test_16uc1_millimetres_big_endian_and_padded_rows():
    mm = np.zeros((H, W), np.uint16)
    mm[10, 20], mm[30, 40], mm[5, 5] = 1234, 65535, 0
    mm[40, 1] = 800
    samples = depth_anchor_samples(depth_msg(mm, '16UC1', big=True, pad=6), W, H)
    np.testing.assert_array_equal(samples.index, [10 * W + 20, 40 * W + 1])  # 65535: none
    np.testing.assert_allclose(samples.depth, [1.234, 0.8])


def test_dense_anchors_are_thinned_deterministically():
    big = np.full((480, 640), 2.0, np.float32)
    samples = depth_anchor_samples(depth_msg(big), 640, 480)
    assert 2048 < samples.index.size <= 4096
    again = depth_anchor_samples(depth_msg(big), 640, 480)
    np.testing.assert_array_equal(samples.index, again.index)


# ------------------------------------------------------------------ anchor/points geometry

def test_cloud_points_project_as_opencv_projects_them():
    rng = np.random.default_rng(2)
    pts = np.column_stack([rng.uniform(-3, 3, 400), rng.uniform(-2, 2, 400),
                           rng.uniform(-1, 8, 400)])
    pts[0] = (np.nan, 0, 1)
    samples = points_anchor_samples(cloud_xyz(cloud_msg(pts)), INTR)
    k = np.array(INTR.k()).reshape(3, 3)
    front = np.all(np.isfinite(pts), axis=1) & (pts[:, 2] > 1e-3)
    uv, _ = cv2.projectPoints(pts[front].astype(np.float64), np.zeros(3), np.zeros(3), k,
                              np.zeros(5))
    u, v = np.floor(uv[:, 0, 0] + 0.5), np.floor(uv[:, 0, 1] + 0.5)
    inside = (u >= 0) & (u < W) & (v >= 0) & (v < H)
    np.testing.assert_array_equal(samples.index, (v * W + u)[inside].astype(np.int64))
    np.testing.assert_allclose(samples.depth, pts[front][inside, 2].astype(np.float32),
                               rtol=1e-6)
    assert 0 < samples.index.size < 400


@pytest.mark.parametrize('dtype,big', [('<f4', False), ('<f8', False), ('<f4', True)])
def test_cloud_fields_by_datatype_offset_and_endianness(dtype, big):
    pts = np.array([[0.5, -0.25, 2.0], [1.0, 2.0, 3.0]])
    np.testing.assert_allclose(cloud_xyz(cloud_msg(pts, dtype=dtype, big=big)), pts,
                               rtol=1e-6)


def test_transform_matches_rodrigues_and_moves_a_lidar_cloud_into_the_camera():
    axis = np.array([0.3, -0.5, 0.8]) / np.linalg.norm([0.3, -0.5, 0.8])
    angle = 0.7
    q = (*(axis * np.sin(angle / 2)), np.cos(angle / 2))
    m = transform_matrix((0.1, -0.2, 0.3), q)
    rot, _ = cv2.Rodrigues(axis * angle)
    np.testing.assert_allclose(m[:3, :3], rot, atol=1e-12)
    pts = np.array([[1.0, 2.0, 3.0]])
    np.testing.assert_allclose(transform_points(pts, m), pts @ rot.T + [0.1, -0.2, 0.3])
    # A LiDAR (REP 103 body frame: x forward, z up) 0.2 m above the camera. The usual
    # camera_link -> optical rotation (rpy -pi/2, 0, -pi/2) maps optical to body axes; its
    # inverse with the LiDAR's origin in the optical frame (0, -0.2, 0: up is -y) maps the
    # LiDAR's points into the optical frame.
    to_optical = lidar_to_optical()
    np.testing.assert_allclose(transform_points([[4.0, 0.0, 0.0], [0.0, 1.0, 1.0]], to_optical),
                               [[0.0, -0.2, 4.0], [-1.0, -1.2, 0.0]], atol=1e-12)


def lidar_to_optical():
    """Return the 4x4 transform of a LiDAR 0.2 m above the camera into its optical frame."""
    optical_in_body = transform_matrix((0.0, 0.0, 0.0), (-0.5, 0.5, -0.5, 0.5))
    m = np.linalg.inv(optical_in_body)
    m[:3, 3] = (0.0, -0.2, 0.0)
    return m


# ------------------------------------------------------------------ the fit

def test_relative_error_scale_is_the_minimiser_of_the_anchors_absrel():
    rng = np.random.default_rng(3)
    pred = rng.uniform(0.5, 10.0, 301)
    anchor = pred * 1.3 * np.exp(rng.normal(0, 0.2, 301))
    grid = np.linspace(0.5, 3.0, 250001)  # brute force, 1e-5 steps
    cost = [np.abs(s * pred - anchor).dot(1 / anchor) for s in grid]
    best = grid[int(np.argmin(cost))]
    assert relative_error_scale(pred, anchor) == pytest.approx(best, abs=2e-5)


def test_fit_recovers_a_planted_scale_with_40_percent_outliers():
    rng = np.random.default_rng(4)
    pred = rng.uniform(0.5, 10.0, 200)
    anchor = pred * 1.37 * np.exp(rng.normal(0, 0.01, 200))
    wild = rng.random(200) < 0.4
    anchor[wild] = rng.uniform(0.2, 50.0, int(wild.sum()))
    fit = fit_scale(pred, anchor, min_inliers=8, max_correction=8.0)
    assert fit.correction.scale == pytest.approx(1.37, rel=0.01)
    assert fit.correction.shift == 0.0
    assert fit.anchors == 200 and 110 <= fit.inliers <= 150


def test_fit_refusals_name_their_reason():
    pred = np.linspace(1.0, 5.0, 40)
    with pytest.raises(BadAnchorError, match=r'only 5 anchor\(s\) fall on predicted pixels'):
        fit_scale(pred[:5], pred[:5], min_inliers=8, max_correction=8.0)
    with pytest.raises(BadAnchorError, match=r'disagrees with the prediction by 10x') as info:
        fit_scale(pred, 10.0 * pred, min_inliers=8, max_correction=8.0)
    assert info.value.kind == 'anchor_fit'
    with pytest.raises(BadAnchorError, match=r'disagrees with the prediction by 10x'):
        fit_scale(pred, 0.1 * pred, min_inliers=8, max_correction=8.0)
    rng = np.random.default_rng(5)
    with pytest.raises(BadAnchorError, match='do not describe the same scene'):
        fit_scale(rng.uniform(0.3, 30, 400), rng.uniform(0.3, 30, 400), min_inliers=8,
                  max_correction=100.0)
    nan_pred = pred.copy()
    nan_pred[5:] = np.nan  # anchors where the network has no depth do not count
    with pytest.raises(BadAnchorError, match='only 5 anchor'):
        fit_scale(nan_pred, pred, min_inliers=8, max_correction=8.0)


# ------------------------------------------------------------------ the frame path

def planted(depth, scale, fraction=0.1, seed=6):
    """Return a sparse anchor image: ``scale`` x ``depth`` at a fraction of the pixels."""
    rng = np.random.default_rng(seed)
    out = np.where(rng.random(depth.shape) < fraction, depth * scale, 0.0)
    return np.nan_to_num(out).astype(np.float32)


def test_anchored_depth_cloud_and_scan_are_the_corrected_ones():
    depth = scene_depth()
    model = FixedModel(depth)
    info = pinhole_camera_info(INTR)
    pixels = textured_image(H, W, seed=1)
    o = opts(scan_height=5, edge_filter=False)
    raw = FrameProcessor(model).process_pixels(
        pixels, (0, 1, 2), info, opts(scan_height=5, edge_filter=False, anchor_depth=False,
                                      anchor_points=False), frame_id=FRAME, stamp_ns=T0)
    anchor = AnchorInput('depth', depth_msg(planted(depth, 1.37)))
    out = FrameProcessor(model).process_pixels(pixels, (0, 1, 2), info, o, frame_id=FRAME,
                                               stamp_ns=T0, anchor=anchor)
    scale = out.correction.scale
    assert scale == pytest.approx(1.37, rel=1e-6)
    assert out.anchor.state == 'anchored' and out.anchor.inliers == out.anchor.anchors > 200
    # Every output is built from the corrected depth: float32(depth * scale).
    expected = (depth * np.float32(scale)).astype(np.float32)
    np.testing.assert_array_equal(out.depth, expected)
    xyz = np.frombuffer(out.cloud.data, '<f4').reshape(H, W, -1)[..., :3]
    np.testing.assert_allclose(xyz[..., 2], expected, rtol=1e-6, equal_nan=True)
    ok = np.isfinite(raw.scan.ranges) & np.isfinite(out.scan.ranges)
    assert ok.sum() > W // 2
    np.testing.assert_allclose(out.scan.ranges[ok], raw.scan.ranges[ok] * scale, rtol=1e-5)
    assert [e.kind for e in out.events] == ['anchor_acquired']
    assert 'anchored to anchor/depth: scale 1.37' in out.events[0].text
    assert 'anchor' in out.timings and 'anchor' not in raw.timings


@pytest.mark.parametrize('device', DEVICES)
def test_the_device_stage_anchors_as_the_host_stage(device):
    depth = scene_depth()
    model = FixedModel(depth, device)
    info = pinhole_camera_info(INTR)
    pixels = textured_image(H, W, seed=2)
    rng = np.random.default_rng(7)
    pts = np.column_stack([rng.uniform(-2, 2, 300), rng.uniform(-1.5, 1.5, 300),
                           rng.uniform(1.0, 6.0, 300)])
    anchors = [AnchorInput('depth', depth_msg(planted(depth, 0.8))),
               AnchorInput('points', cloud_msg(pts))]
    outs = [FrameProcessor(model, device_payloads=dev).process_pixels(
        pixels, (0, 1, 2), info, opts(), frame_id=FRAME, stamp_ns=T0, anchor=anchors)
        for dev in (False, True)]
    host, dev = outs
    assert host.correction == dev.correction and host.anchor == dev.anchor
    assert bytes(dev.depth_data) == bytes(host.depth_data)
    assert bytes(dev.cloud.data) == bytes(host.cloud.data)
    assert host.anchor.topics == ('anchor/depth', 'anchor/points')


BAD_ANCHORS = {
    'rgb8 encoding': (lambda d: depth_msg(np.zeros((H, W * 3)), 'rgb8'),
                      'anchor_invalid', "encoding 'rgb8' is not a depth encoding"),
    'wrong size': (lambda d: depth_msg(planted(np.ones((40, 40)), 2.0)),
                   'anchor_invalid', "40x40 but the image 64x48: not the image's field of view"),
    'truncated': (lambda d: SimpleNamespace(**{**vars(depth_msg(planted(d, 2.0))),
                                               'data': b'\0' * 100}),
                  'anchor_invalid', 'data has 100 bytes'),
    'all zero': (lambda d: depth_msg(np.zeros((H, W))), 'anchor_invalid',
                 'no measurement (every pixel 0)'),
    'all NaN': (lambda d: depth_msg(np.full((H, W), np.nan)), 'anchor_invalid',
                'no measurement (every pixel NaN)'),
    'negative': (lambda d: depth_msg(planted(d, 1.0) - 0.5 * (planted(d, 1.0) > 0)
                                     - 3.0 * (planted(d, 1.0, seed=9) > 0)),
                 'anchor_invalid', 'negative range'),
    'absurd': (lambda d: depth_msg(planted(d, 1000.0)), 'anchor_invalid', 'absurd range'),
    '10x': (lambda d: depth_msg(planted(d, 10.0)), 'anchor_fit',
            'disagrees with the prediction by 10x'),
    'too sparse': (lambda d: depth_msg(planted(d, 1.2, fraction=0.001)), 'anchor_fit',
                   'too sparse'),
    'other frame': (lambda d: depth_msg(planted(d, 2.0), frame_id='depth_optical'),
                    'anchor_frame', "in frame 'depth_optical' but the image in 'cam_optical'"),
}


@pytest.mark.parametrize('case', sorted(BAD_ANCHORS))
def test_a_bad_depth_anchor_gets_one_line_and_changes_nothing(case):
    make, kind, text = BAD_ANCHORS[case]
    depth = scene_depth()
    model = FixedModel(depth)
    info = pinhole_camera_info(INTR)
    pixels = textured_image(H, W, seed=3)
    processor = FrameProcessor(model)
    plain = processor.process_pixels(pixels, (0, 1, 2), info, opts(), frame_id=FRAME,
                                     stamp_ns=T0)
    out = processor.process_pixels(pixels, (0, 1, 2), info, opts(), frame_id=FRAME,
                                   stamp_ns=T0 + 10**8,
                                   anchor=AnchorInput('depth', make(depth)))
    assert [(e.kind, e.level) for e in out.events] == [(kind, 'warning')]
    assert text in out.events[0].text
    assert out.correction is None and out.anchor.state == 'network'
    assert bytes(out.depth_data) == bytes(plain.depth_data)
    assert bytes(out.cloud.data) == bytes(plain.cloud.data)
    assert processor.anchoring.refused == 1


def test_a_bad_anchor_keeps_the_held_correction():
    depth = scene_depth()
    processor = FrameProcessor(FixedModel(depth))
    info = pinhole_camera_info(INTR)
    pixels = textured_image(H, W, seed=4)
    good = processor.process_pixels(pixels, (0, 1, 2), info, opts(), frame_id=FRAME,
                                    stamp_ns=T0, anchor=AnchorInput(
                                        'depth', depth_msg(planted(depth, 1.5))))
    bad = processor.process_pixels(pixels, (0, 1, 2), info, opts(), frame_id=FRAME,
                                   stamp_ns=T0 + 10**8, anchor=AnchorInput(
                                       'depth', depth_msg(planted(depth, 15.0))))
    assert bad.anchor.state == 'held' and bad.correction == good.correction
    assert bytes(bad.depth_data) == bytes(good.depth_data)
    assert [e.kind for e in bad.events] == ['anchor_fit']


BAD_CLOUDS = {
    'no xyz': (lambda m: SimpleNamespace(**{**vars(m), 'fields': m.fields[3:]}),
               'anchor_invalid', 'has no x, y, z field'),
    'behind': (lambda m: cloud_msg(-cloud_xyz(m)), 'anchor_invalid', 'no point in front'),
    'millimetres': (lambda m: cloud_msg(cloud_xyz(m) * 1000.0), 'anchor_invalid',
                    'beyond 1000 m'),
    'all NaN': (lambda m: cloud_msg(cloud_xyz(m) * np.nan), 'anchor_invalid',
                'no finite point'),
    'lidar frame, no tf2': (lambda m: cloud_msg(cloud_xyz(m), frame_id='lidar'),
                            'anchor_frame', 'without tf2_ros a cloud must be in'),
    'unknown frame': (lambda m: AnchorInput('points', cloud_msg(cloud_xyz(m), frame_id='x'))
                      .with_transform_error('"x" passed to lookupTransform does not exist'),
                      'anchor_frame', "in frame 'x' with no transform to 'cam_optical'"),
    'short data': (lambda m: SimpleNamespace(**{**vars(m), 'data': m.data[:40]}),
                   'anchor_invalid', 'data has 40 bytes'),
    'not a cloud': (lambda m: SimpleNamespace(header=m.header, encoding='32FC1'),
                    'anchor_invalid', "anchor/points: unusable message (AttributeError"),
    'data not bytes': (lambda m: SimpleNamespace(**{**vars(m), 'data': 3.5}),
                       'anchor_invalid', 'data is not a byte buffer (float'),
}


@pytest.mark.parametrize('case', sorted(BAD_CLOUDS))
def test_a_bad_cloud_gets_one_line_and_changes_nothing(case):
    make, kind, text = BAD_CLOUDS[case]
    depth = scene_depth()
    processor = FrameProcessor(FixedModel(depth))
    info = pinhole_camera_info(INTR)
    pixels = textured_image(H, W, seed=5)
    rng = np.random.default_rng(8)
    pts = np.column_stack([rng.uniform(-2, 2, 200), rng.uniform(-1.5, 1.5, 200),
                           rng.uniform(1.0, 6.0, 200)])
    plain = processor.process_pixels(pixels, (0, 1, 2), info, opts(), frame_id=FRAME)
    bad = make(cloud_msg(pts))
    anchor = bad if isinstance(bad, AnchorInput) else AnchorInput('points', bad)
    out = processor.process_pixels(pixels, (0, 1, 2), info, opts(), frame_id=FRAME,
                                   anchor=anchor)
    assert [(e.kind, e.level) for e in out.events] == [(kind, 'warning')]
    assert text in out.events[0].text
    assert bytes(out.depth_data) == bytes(plain.depth_data)


def test_a_cloud_in_the_lidar_frame_is_used_with_its_transform():
    depth = scene_depth()
    processor = FrameProcessor(FixedModel(depth))
    info = pinhole_camera_info(INTR)
    rng = np.random.default_rng(9)
    u, v = rng.integers(0, W, 300), rng.integers(0, H, 300)
    z = depth[v, u] * 2.0
    ok = np.isfinite(z)
    cam = np.column_stack([(u - INTR.cx) / INTR.fx * z, (v - INTR.cy) / INTR.fy * z, z])[ok]
    to_optical = lidar_to_optical()
    lidar = transform_points(cam, np.linalg.inv(to_optical))
    anchor = AnchorInput('points', cloud_msg(lidar, frame_id='lidar'))
    assert needs_transform(anchor, FRAME) and not needs_transform(anchor, 'lidar')
    out = processor.process_pixels(textured_image(H, W), (0, 1, 2), info, opts(),
                                   frame_id=FRAME, anchor=anchor.with_transform(to_optical))
    assert out.correction.scale == pytest.approx(2.0, rel=1e-5)
    assert out.anchor.inliers == ok.sum()


def test_anchoring_off_ignores_anchors():
    depth = scene_depth()
    processor = FrameProcessor(FixedModel(depth))
    anchor = AnchorInput('depth', depth_msg(planted(depth, 2.0)))
    out = processor.process_pixels(textured_image(H, W), (0, 1, 2), pinhole_camera_info(INTR),
                                   opts(anchor_depth=False, anchor_points=False), anchor=anchor)
    assert out.correction is None and out.anchor.state == 'off' and not out.events
    np.testing.assert_array_equal(out.depth, depth)


# ------------------------------------------------------------------ hold and fallback

def test_hold_then_fall_back_then_recover_by_image_stamps():
    depth = scene_depth()
    stage = AnchorStage(clock=lambda: pytest.fail('stamps, not the clock'))
    anchor = AnchorInput('depth', depth_msg(planted(depth, 1.5)))
    o = opts(anchor_hold_time=1.0)

    def frame(t, with_anchor):
        events = []
        corr = stage.update(depth, INTR, o, [anchor] if with_anchor else [], T0 + int(t * 1e9),
                            FRAME, events)
        return corr, stage.report, [e.kind for e in events]

    corr, report, kinds = frame(0.0, True)
    assert report.state == 'anchored' and kinds == ['anchor_acquired']
    assert report.age_s == pytest.approx(0.0)
    for t in (0.5, 1.0):
        held, report, kinds = frame(t, False)
        assert held == corr and report.state == 'held' and not kinds
        assert report.age_s == pytest.approx(t)
    none, report, kinds = frame(1.1, False)
    assert none is None and report.state == 'network' and kinds == ['anchor_lost']
    assert frame(1.2, False)[2] == []  # one line each way
    again, report, kinds = frame(2.0, True)
    assert again == corr and kinds == ['anchor_acquired']
    # Stamps going back (a bag loop): nothing is held across the jump.
    frame(3.0, True)
    none, report, kinds = frame(0.5, False)
    assert none is None and kinds == ['anchor_lost']


def test_frames_without_stamps_hold_by_the_injected_clock():
    depth = scene_depth()
    now = [100.0]
    stage = AnchorStage(clock=lambda: now[0])
    anchor = AnchorInput('depth', depth_msg(planted(depth, 1.5)))
    o = opts(anchor_hold_time=0.5)
    assert stage.update(depth, INTR, o, [anchor], None, FRAME, []) is not None
    now[0] = 100.4
    assert stage.update(depth, INTR, o, [], None, FRAME, []) is not None
    now[0] = 100.6
    assert stage.update(depth, INTR, o, [], None, FRAME, []) is None


def test_diagnostics():
    depth = scene_depth()
    stage = AnchorStage()
    o = opts()
    assert dict(stage.diagnostics())['anchor.state'] == 'off'
    stage.update(depth, INTR, o, [AnchorInput('depth', depth_msg(planted(depth, 1.25)))],
                 T0, FRAME, [])
    stage.update(depth, INTR, o, [AnchorInput('depth', depth_msg(np.zeros((H, W))))],
                 T0 + 250_000_000, FRAME, [])
    values = stage.diagnostics()
    assert tuple(k for k, _ in values) == DIAGNOSTIC_KEYS
    d = dict(values)
    n = int(np.count_nonzero(planted(depth, 1.25)))
    assert d == {'anchor.state': 'held', 'anchor.scale': '1.2500', 'anchor.inliers': str(n),
                 'anchor.anchors': str(n), 'anchor.age_s': '0.250', 'anchor.refused': '1'}
    stage.update(depth, INTR, o, [], T0 + 2 * 10**9, FRAME, [])
    assert dict(stage.diagnostics())['anchor.scale'] == 'n/a'


# ------------------------------------------------------------------ pairing by stamp

def test_buffer_pairs_the_nearest_stamp_within_the_tolerance():
    buf = AnchorBuffer('points', tolerance_s=0.05, history=3)
    assert buf.match(T0) == (None, None)
    for dt in (0, 100, 200, 300):  # ms; the first is pushed out of a history of 3
        buf.put(cloud_msg([[0, 0, 1.0 + dt]], stamp_ns=T0 + dt * 10**6))
    anchor, event = buf.match(T0 + 190 * 10**6)
    assert anchor.kind == 'points' and anchor.stamp_ns == T0 + 200 * 10**6 and event is None
    assert buf.match(T0 + 250 * 10**6 + 1)[0].stamp_ns == T0 + 300 * 10**6
    assert buf.match(T0 + 150 * 10**6)[0].stamp_ns == T0 + 200 * 10**6  # a tie: the newer
    assert buf.match(T0 + 149 * 10**6)[0].stamp_ns == T0 + 100 * 10**6
    assert buf.match(T0 + 40 * 10**6) == (None, None)  # T0 was pushed out; 60 ms to 100
    anchor, event = buf.match(T0 + 3600 * 10**9)
    assert anchor is None and event.kind == 'anchor_stamp'
    assert 'anchor/points stamps are -3599.700 s off' in event.text
    buf.put(cloud_msg([[0, 0, 1.0]], stamp_ns=T0 - 10**9))  # stamps back: a new stream
    assert buf.match(T0 + 300 * 10**6)[0] is None
    assert buf.match(T0 - 10**9)[0].stamp_ns == T0 - 10**9


def test_the_node_pieces_with_rclpy_messages():
    """Real sensor_msgs messages through the buffer and the frame path, as the node wires them."""
    sensor_msgs = pytest.importorskip('sensor_msgs.msg')
    from builtin_interfaces.msg import Time
    from std_msgs.msg import Header
    depth = scene_depth()
    mm = np.rint(planted(depth, 1.6) * 1000).astype(np.uint16)
    hdr = Header(stamp=Time(sec=T0 // 10**9, nanosec=10), frame_id=FRAME)
    msg = sensor_msgs.Image(header=hdr, height=H, width=W, encoding='16UC1', is_bigendian=0,
                            step=W * 2, data=mm.tobytes())
    buf = AnchorBuffer('depth', tolerance_s=0.1)
    buf.put(msg)
    anchor, event = buf.match(T0 + 30_000_000)
    assert event is None
    out = FrameProcessor(FixedModel(depth)).process_pixels(
        textured_image(H, W), (0, 1, 2), pinhole_camera_info(INTR), opts(), frame_id=FRAME,
        stamp_ns=T0 + 30_000_000, anchor=anchor)
    assert out.correction.scale == pytest.approx(1.6, rel=2e-3)
    assert out.anchor.age_s == pytest.approx(0.03, abs=1e-6)
