# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
The navigation steps of the one frame path (FrameProcessor.encode), without ROS.

A stand-in model returns the rendered sample room's depth blurred across object edges as
a network blurs it, so the frame has flying pixels; each step is checked against the
pure modules it calls (decimate, EdgeFilter, ScanBuilder, colorize_depth_bgr) and an
independent back-projection.
"""

from dataclasses import replace

import cv2
from depth_node.camera import camera_info_fields, pinhole_camera_info
from depth_node.conversions import cloud_to_structured, image_fields_to_depth
from depth_node.errors import BadImageError
from depth_node.filters import EdgeFilter
from depth_node.frame import FrameProcessor, OutputOptions
from depth_node.geometry import Intrinsics
from depth_node.params import PARAMETERS
from depth_node.scan import ScanBuilder
from depth_node.testing import synthetic
from depth_node.testing.tiny_models import predictions_of
from depth_node.visualize import colorize_depth_bgr
import numpy as np
import pytest

CAMERA = synthetic.SAMPLE_CAMERA
INTR = Intrinsics(**CAMERA)


class BlurredRoom:
    """A model stand-in: predicts the sample room's depth, blurred (sigma 2 px)."""

    family = 'blurred_room'
    estimates_camera = False
    focal_estimated = False
    reference_focal = 0.0

    def __init__(self):
        rgb, depth = synthetic.render(**CAMERA, pose=synthetic.sample_trajectory(8)[2])
        self.rgb = rgb
        self.depth = cv2.GaussianBlur(depth, (0, 0), 2.0).astype(np.float32)

    def predict_many(self, requests, max_batch=0):
        return predictions_of(lambda *args, **kwargs: self.depth.copy())(requests)


@pytest.fixture(scope='module')
def model():
    return BlurredRoom()


def process(model, **options):
    return FrameProcessor(model).process_pixels(model.rgb, (0, 1, 2), pinhole_camera_info(INTR),
                                                OutputOptions(**options),
                                                frame_id='camera_optical_frame')


def structured_points(out):
    """Return the cloud of a FrameOutput as ``H x W x 3`` float32."""
    from types import SimpleNamespace
    msg = SimpleNamespace(height=out.cloud.height, width=out.cloud.width,
                          fields=[SimpleNamespace(name=n, offset=o, datatype=t, count=c)
                                  for n, o, t, c in out.cloud.fields],
                          point_step=out.cloud.point_step, row_step=out.cloud.row_step,
                          data=bytes(out.cloud.data), is_bigendian=False)
    cloud = cloud_to_structured(msg)
    return np.stack([cloud['x'], cloud['y'], cloud['z']], -1)


def reference_points(depth, fields):
    """Back-project ``depth`` with K of the CameraInfo ``fields``: X = z K^-1 [u v 1]."""
    kinv = np.linalg.inv(np.array(fields.k).reshape(3, 3))
    height, width = depth.shape
    v, u = np.mgrid[0:height, 0:width]
    rays = kinv @ np.stack([u.ravel(), v.ravel(), np.ones(u.size)])
    return (rays * depth.ravel()).T.reshape(height, width, 3)


def test_defaults_are_the_node_parameters():
    defaults = {p.name: p.default for p in PARAMETERS}
    # reference_focal: the node passes its value (0 = the checkpoint's own) with every
    # frame; the options' own default None leaves the loaded model's setting (offline tools).
    assert OutputOptions.from_parameters(defaults) == OutputOptions(reference_focal=0.0)
    opts = OutputOptions.from_parameters(defaults, colored=True)
    assert opts.colored and opts.edge_filter and not opts.edge_filter_depth and not opts.scan


def test_edge_filter_changes_the_cloud_not_the_depth(model):
    out = process(model)
    mask = EdgeFilter().mask(model.depth, INTR)
    assert 0.01 < mask.mean() < 0.2  # the blurred edges have flying pixels
    assert out.flying_pixels == int(mask.sum())
    # depth/image is the prediction as it is ...
    np.testing.assert_array_equal(out.depth, model.depth)
    np.testing.assert_array_equal(image_fields_to_depth(_image(out)), model.depth)
    # ... the cloud has the flying pixels invalid, everything else back-projected.
    points = structured_points(out)
    assert np.isnan(points[mask]).all()
    ref = reference_points(model.depth, out.camera_info)
    np.testing.assert_allclose(points[~mask], ref[~mask], rtol=1e-5, atol=1e-6)
    # Off: the cloud is the whole depth.
    off = process(model, edge_filter=False)
    assert off.flying_pixels is None and 'edge_filter' not in off.timings
    assert np.isfinite(structured_points(off)).all()


def test_apply_to_depth_filters_the_depth_image_too(model):
    out = process(model, edge_filter_depth=True, depth_encoding='16UC1')
    mask = EdgeFilter().mask(model.depth, INTR)
    assert np.isnan(out.depth[mask]).all()
    np.testing.assert_array_equal(out.depth[~mask], model.depth[~mask])
    millimetres = np.frombuffer(out.depth_data, '<u2').reshape(out.depth.shape)
    assert (millimetres[mask] == 0).all() and (millimetres[~mask] > 0).all()


def test_filter_runs_only_where_its_result_is_used(model):
    out = process(model, publish_points=False)
    assert out.flying_pixels is None and 'edge_filter' not in out.timings
    assert out.cloud is None and out.scan is None and out.colored is None


def test_scan_is_the_scan_of_the_filtered_depth(model):
    out = process(model, scan=True, scan_height=5, scan_range_max=4.0, publish_points=False)
    ref = ScanBuilder().build(EdgeFilter().apply(model.depth, INTR), INTR, height=5,
                              range_min=0.45, range_max=4.0)
    assert out.scan is not None and 'scan' in out.timings
    np.testing.assert_array_equal(out.scan.ranges, ref.ranges)
    assert (out.scan.angle_min, out.scan.angle_max, out.scan.angle_increment) == (
        ref.angle_min, ref.angle_max, ref.angle_increment)
    unfiltered = process(model, scan=True, scan_height=5, scan_range_max=4.0,
                         edge_filter=False)
    np.testing.assert_array_equal(
        unfiltered.scan.ranges,
        ScanBuilder().build(model.depth, INTR, height=5, range_max=4.0).ranges)


@pytest.mark.parametrize('values,expected', [
    ({}, 0.1),  # the defaults: 1 / rate at rate 10 Hz
    ({'rate': 4.0}, 0.25), ({'rate': 0.0}, 0.0),  # rate 0: no fixed period
    ({'rate': 4.0, 'scan.scan_time': 0.033}, 0.033),  # set: as depthimage_to_laserscan's
])
def test_scan_time_is_the_parameter_or_the_period_of_the_rate(model, values, expected):
    cfg = {p.name: p.default for p in PARAMETERS}
    cfg.update(values)
    opts = replace(OutputOptions.from_parameters(cfg), scan=True, publish_points=False)
    assert opts.scan_time == pytest.approx(expected)
    out = FrameProcessor(model).process_pixels(model.rgb, (0, 1, 2), pinhole_camera_info(INTR),
                                               opts, frame_id='camera_optical_frame')
    assert out.scan.scan_time == pytest.approx(expected) and out.scan.time_increment == 0.0


def test_scan_in_16uc1_mode_has_no_ranges_the_depth_image_lacks(model):
    """Pixels depth/image carries as 0 in 16UC1 (here beyond 65.535 m) are no ranges."""
    far = BlurredRoom()
    far.depth[:, 320:] *= np.float32(30.0)  # the right half 30-150 m: beyond 16 bits
    opts = dict(scan=True, scan_height=5, scan_range_max=1000.0, publish_points=False)
    out = process(far, depth_encoding='16UC1', **opts)
    millimetres = np.frombuffer(out.depth_data, '<u2').reshape(out.depth.shape)
    assert (millimetres[:, 320:] == 0).mean() > 0.5
    assert np.nanmax(out.scan.ranges) <= 65.536 and np.isfinite(out.scan.ranges).any()
    assert np.nanmax(process(far, **opts).scan.ranges) > 65.536  # 32FC1 carries them


def test_colored_only_when_asked_and_of_the_published_depth(model):
    assert process(model).colored is None
    out = process(model, colored=True, colored_min_depth=0.5, colored_max_depth=6.0)
    np.testing.assert_array_equal(out.colored, colorize_depth_bgr(model.depth, 0.5, 6.0))
    filtered = process(model, colored=True, edge_filter_depth=True)
    np.testing.assert_array_equal(filtered.colored, colorize_depth_bgr(filtered.depth))
    # One bound fixed beyond the frame's depths: still a picture, not an error.
    far = process(model, colored=True, colored_min_depth=900.0)
    assert far.colored.shape == model.depth.shape + (3,)


@pytest.mark.parametrize('n', [2, 3, 5])
def test_decimation_gives_every_nth_pixel_and_its_camera(model, n):
    out = process(model, decimation=n, scan=True, colored=True)
    height, width = 480 // n, 640 // n
    small = model.depth[::n, ::n][:height, :width]
    assert out.depth.shape == (height, width) and out.pixels.shape == (height, width, 3)
    np.testing.assert_array_equal(out.pixels, model.rgb[::n, ::n][:height, :width])
    assert out.intrinsics == INTR.decimated(n)
    info = out.camera_info
    assert (info.width, info.height) == (width, height)
    assert info.k == pytest.approx((INTR.fx / n, 0, INTR.cx / n, 0, INTR.fy / n, INTR.cy / n,
                                    0, 0, 1), rel=1e-12)
    assert info.p[0] == pytest.approx(INTR.fx / n) and info.p[2] == pytest.approx(INTR.cx / n)
    np.testing.assert_array_equal(out.depth, small)
    # The edge filter, cloud, scan and colours are those of the decimated depth.
    mask = EdgeFilter().mask(np.ascontiguousarray(small), out.intrinsics)
    points = structured_points(out)
    assert (out.cloud.height, out.cloud.width) == (height, width)
    assert np.isnan(points[mask]).all()
    ref = reference_points(small, info)
    np.testing.assert_allclose(points[~mask], ref[~mask], rtol=1e-5, atol=1e-6)
    clean = np.where(mask, np.float32(np.nan), small)
    np.testing.assert_array_equal(out.scan.ranges,
                                  ScanBuilder().build(clean, out.intrinsics).ranges)
    assert out.scan.ranges.size == width
    assert out.colored.shape == (height, width, 3)
    assert 'decimate' in out.timings


def test_decimation_keeps_the_input_camera_info_fields(model):
    fields = replace(camera_info_fields(640, 480, INTR.k(), d=(0.1, 0.0, 0.0, 0.0, 0.0)),
                     binning_x=1, binning_y=1)
    processor = FrameProcessor(model)
    out = processor.encode(model.rgb, (0, 1, 2), model.depth, INTR, fields,
                           OutputOptions(decimation=4), {})
    assert out.camera_info.d == fields.d and out.camera_info.distortion_model == 'plumb_bob'
    assert out.camera_info.r == fields.r
    assert (out.camera_info.binning_x, out.camera_info.binning_y) == (1, 1)


def test_decimation_larger_than_the_image_is_a_bad_image(model):
    tiny = model.depth[:3, :5]
    intr = Intrinsics(5, 3, 5.0, 5.0, 2.0, 1.0)
    with pytest.raises(BadImageError, match='output_decimation 4'):
        FrameProcessor(model).encode(model.rgb[:3, :5], (0, 1, 2), tiny, intr,
                                     pinhole_camera_info(intr), OutputOptions(decimation=4), {})


def test_one_pixel_wide_output_has_no_scan(model):
    depth = model.depth[:, :1]
    intr = Intrinsics(1, 480, 525.0, 525.0, 0.0, 239.5)
    out = FrameProcessor(model).encode(model.rgb[:, :1], (0, 1, 2), depth, intr,
                                       pinhole_camera_info(intr), OutputOptions(scan=True), {})
    assert out.scan is None and out.depth.shape == (480, 1)


def _image(out):
    from types import SimpleNamespace
    height, width = out.depth.shape
    return SimpleNamespace(encoding=out.depth_encoding, height=height, width=width,
                           step=out.depth_step, data=bytes(out.depth_data), is_bigendian=0)
