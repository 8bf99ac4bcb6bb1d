# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
Output decimation: image, intrinsics and CameraInfo fields as image_proc makes them.

image_proc (ros-perception/image_pipeline) has two ways to shrink an image with its
camera_info, and both are written out here as the reference:

* ``crop_decimate.cpp`` (nearest neighbour): output ``width / N`` x ``height / N``
  (integer division), pixel ``(x, y)`` copied from ``(N x, N y)``; the CameraInfo keeps
  K and P and multiplies ``binning_x``/``binning_y`` by N, which image_geometry (and
  ``intrinsics_from_camera_info``) turn into ``fx / N``, ``cx / N``.
* ``resize.cpp`` with ``use_scale`` and ``scale = 1 / N``: K's and P's fx, cx, fy, cy and
  P's Tx multiplied by the scale, width, height and ROI multiplied and truncated.
"""

from dataclasses import asdict
from types import SimpleNamespace

from depth_node.camera import CameraInfoFields, decimated_camera_info_fields, RegionOfInterest
from depth_node.geometry import backproject, decimate, Intrinsics, intrinsics_from_camera_info
from depth_node.testing import synthetic
import numpy as np
import pytest


class Roi:
    """Stand-in for sensor_msgs/RegionOfInterest (keyword constructor, attributes)."""

    def __init__(self, x_offset=0, y_offset=0, height=0, width=0, do_rectify=False):
        self.x_offset, self.y_offset = x_offset, y_offset
        self.height, self.width, self.do_rectify = height, width, do_rectify


def info_fields(width=641, height=481, fx=525.3, fy=523.9, cx=318.7, cy=241.2, tx=-12.5,
                binning=(0, 0), roi=None):
    """Return the CameraInfoFields of a calibrated camera (D non-zero, P with a Tx)."""
    return CameraInfoFields(
        width, height, 'plumb_bob', (0.1, -0.2, 0.001, 0.002, 0.05),
        (fx, 0.0, cx, 0.0, fy, cy, 0.0, 0.0, 1.0),
        (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0),
        (fx, 0.0, cx, tx, 0.0, fy, cy, 0.0, 0.0, 0.0, 1.0, 0.0),
        binning[0], binning[1], roi or RegionOfInterest())


def as_dict(fields):
    """Return a CameraInfoFields as the dict the image_proc references below work on."""
    out = asdict(fields)
    out['roi'] = Roi(**out['roi'])
    return out


def image_proc_resize(fields, scale):
    """image_proc's ResizeNode::imageCb with use_scale: the CameraInfo part."""
    out = as_dict(fields)
    out['height'] = int(out['height'] * scale)
    out['width'] = int(out['width'] * scale)
    k, p = list(out['k']), list(out['p'])
    for i in (0, 2, 4, 5):
        k[i] = k[i] * scale
    for i in (0, 2, 3, 5, 6):
        p[i] = p[i] * scale
    out['k'], out['p'] = k, p
    roi = out['roi']
    out['roi'] = Roi(int(roi.x_offset * scale), int(roi.y_offset * scale),
                     int(roi.height * scale), int(roi.width * scale), roi.do_rectify)
    return out


def image_proc_crop_decimate(fields, n):
    """image_proc's CropDecimateNode::imageCb without crop: the CameraInfo part."""
    out = as_dict(fields)
    bx, by = max(out['binning_x'], 1), max(out['binning_y'], 1)
    out['binning_x'], out['binning_y'] = bx * n, by * n
    return out


def as_msg(fields):
    return SimpleNamespace(**(fields if isinstance(fields, dict) else as_dict(fields)))


@pytest.mark.parametrize('n', [1, 2, 3, 4, 7])
def test_decimated_intrinsics_match_both_image_proc_nodes(n):
    fields = info_fields()
    intr = intrinsics_from_camera_info(as_msg(fields))
    ours = intr.decimated(n)
    assert (ours.width, ours.height) == (641 // n, 481 // n)
    for reference in (intrinsics_from_camera_info(as_msg(image_proc_resize(fields, 1.0 / n))),
                      intrinsics_from_camera_info(as_msg(image_proc_crop_decimate(fields, n)))):
        assert (reference.width, reference.height) == (ours.width, ours.height)
        for name in ('fx', 'fy', 'cx', 'cy'):
            assert getattr(ours, name) == pytest.approx(getattr(reference, name), rel=1e-12)


@pytest.mark.parametrize('n', [2, 4, 8])
def test_camera_info_fields_are_image_proc_resize(n):
    """With ROI offsets that are multiples of N, image_proc's resize is exact: the same."""
    roi = RegionOfInterest(x_offset=40, y_offset=24, width=400, height=300, do_rectify=True)
    fields = info_fields(width=640, height=480, roi=roi, binning=(0, 0))
    ours = as_dict(decimated_camera_info_fields(fields, n))
    reference = image_proc_resize(fields, 1.0 / n)
    for name in ('width', 'height', 'distortion_model', 'binning_x', 'binning_y'):
        assert ours[name] == reference[name], name
    for name in ('d', 'r'):
        assert list(ours[name]) == list(reference[name]), name
    np.testing.assert_allclose(ours['k'], reference['k'], rtol=1e-12)
    np.testing.assert_allclose(ours['p'], reference['p'], rtol=1e-12)
    assert vars(ours['roi']) == vars(reference['roi'])
    assert fields.k[0] == 525.3 and fields.roi is roi  # the input is left alone


def image_geometry_model(msg):
    """
    image_geometry's ``PinholeCameraModel.fromCameraInfo``: K and P of the image as published.

    vision_opencv ``image_geometry/cameramodels.py``: an all-zero ROI is the full image;
    otherwise cx, cy lose the ROI offset, then fx, fy, cx, cy are divided by the binning
    (0 counts as 1). Returns ``(K, P)`` as 3x3 and 3x4 float arrays.
    """
    k = np.array(msg.k, dtype=np.float64).reshape(3, 3)
    p = np.array(msg.p, dtype=np.float64).reshape(3, 4)
    bx, by = max(1, msg.binning_x), max(1, msg.binning_y)
    roi = msg.roi
    ox, oy = roi.x_offset, roi.y_offset  # an all-zero ROI subtracts nothing either
    for m in (k, p):
        m[0, 0] /= bx
        m[1, 1] /= by
        m[0, 2] = (m[0, 2] - ox) / bx
        m[1, 2] = (m[1, 2] - oy) / by
    return k, p


def ray(matrix, u, v):
    """image_geometry's ``projectPixelTo3dRay`` (not normalised): ((u - cx) / fx, ...)."""
    return np.stack([(u - matrix[0, 2]) / matrix[0, 0], (v - matrix[1, 2]) / matrix[1, 1]])


@pytest.mark.parametrize('n', [1, 2, 3, 4, 5, 7, 16])
@pytest.mark.parametrize('binning', [(0, 0), (2, 2), (1, 3)])
@pytest.mark.parametrize('offset', [(0, 0), (1, 2), (3, 5), (37, 13), (45, 30)])
def test_decimated_pixels_see_the_rays_of_the_pixels_they_came_from(n, binning, offset):
    """
    Pixel (u', v') of the output is pixel (n u', n v') of the input image: the same ray.

    Both camera_infos are read the way image_geometry reads them (ROI offset, then
    binning); the K and P rays must agree, for ROI offsets that are not multiples of N
    too (image_proc's resize truncates the offset and is off there by (offset mod N) / N
    px of the output image).
    """
    roi = RegionOfInterest(x_offset=offset[0], y_offset=offset[1], width=480, height=360,
                           do_rectify=True) if offset != (0, 0) else RegionOfInterest()
    fields = info_fields(width=641, height=481, binning=binning, roi=roi)
    small = decimated_camera_info_fields(fields, n)
    k_in, p_in = image_geometry_model(as_msg(fields))
    k_out, p_out = image_geometry_model(as_msg(small))
    image = intrinsics_from_camera_info(as_msg(fields))
    out = intrinsics_from_camera_info(as_msg(small))
    assert (out.width, out.height) == (image.width // n, image.height // n)
    v, u = np.mgrid[0:out.height:7, 0:out.width:5].astype(np.float64)
    for m_in, m_out in ((k_in, k_out), (p_in, p_out)):
        np.testing.assert_allclose(ray(m_out, u, v), ray(m_in, n * u, n * v),
                                   rtol=0, atol=1e-12)
    assert p_out[0, 3] == pytest.approx(p_in[0, 3] / n, rel=1e-15)  # Tx (stereo baseline)
    # The intrinsics the cloud is built with describe the same camera.
    for name, index in (('fx', (0, 0)), ('fy', (1, 1)), ('cx', (0, 2)), ('cy', (1, 2))):
        assert getattr(image.decimated(n), name) == pytest.approx(p_out[index], rel=1e-12)


@pytest.mark.parametrize('n', [1, 2, 3, 5])
@pytest.mark.parametrize('binning', [(0, 0), (2, 2)])
def test_published_fields_describe_the_decimated_image(n, binning):
    fields = info_fields(binning=binning)
    intr = intrinsics_from_camera_info(as_msg(fields))
    published = intrinsics_from_camera_info(as_msg(decimated_camera_info_fields(fields, n)))
    expected = intr.decimated(n)
    assert (published.width, published.height) == (expected.width, expected.height)
    for name in ('fx', 'fy', 'cx', 'cy'):
        assert getattr(published, name) == pytest.approx(getattr(expected, name), rel=1e-12)


def test_decimated_depth_back_projects_to_the_same_points():
    """Pixel (u', v') of the output is pixel (n u', n v') of the input: same 3D point."""
    camera = synthetic.SAMPLE_CAMERA
    intr = Intrinsics(**camera)
    _, depth = synthetic.render(**camera, pose=synthetic.sample_trajectory(8)[2])
    for n in (2, 3, 4):
        small = decimate(depth, n)
        small_intr = intr.decimated(n)
        assert small.shape == (small_intr.height, small_intr.width) == (480 // n, 640 // n)
        points = backproject(np.ascontiguousarray(small), small_intr)
        full = backproject(depth, intr)[::n, ::n][:small.shape[0], :small.shape[1]]
        np.testing.assert_allclose(points, full, rtol=1e-5, atol=1e-6)


def test_decimate_is_a_view_of_whole_steps():
    image = np.arange(7 * 10 * 3, dtype=np.uint8).reshape(7, 10, 3)
    small = decimate(image, 3)
    assert small.shape == (2, 3, 3)
    assert np.shares_memory(small, image)
    np.testing.assert_array_equal(small, image[[0, 3]][:, [0, 3, 6]])
    assert decimate(image, 1) is image


@pytest.mark.parametrize('n', [0, -2])
def test_bad_factor_is_refused(n):
    intr = Intrinsics(64, 48, 60.0, 60.0, 31.5, 23.5)
    with pytest.raises(ValueError):
        intr.decimated(n)
    with pytest.raises(ValueError):
        decimate(np.zeros((4, 4)), n)
    with pytest.raises(ValueError):
        decimated_camera_info_fields(info_fields(), n)


def test_fields_of_a_message_decimate_like_the_message():
    msg = pytest.importorskip('sensor_msgs.msg')
    info = msg.CameraInfo(width=640, height=480, k=[500.0, 0, 320, 0, 500, 240, 0, 0, 1],
                          p=[500.0, 0, 320, 0, 0, 500, 240, 0, 0, 0, 1, 0])
    info.roi = msg.RegionOfInterest(x_offset=8, y_offset=4, width=320, height=240,
                                    do_rectify=True)
    out = decimated_camera_info_fields(CameraInfoFields.of(info), 2)
    assert (out.width, out.height, out.k[0], out.p[2]) == (320, 240, 250.0, 160.0)
    assert out.roi == RegionOfInterest(4, 2, 120, 160, True)
    assert decimated_camera_info_fields(out, 1) is out
